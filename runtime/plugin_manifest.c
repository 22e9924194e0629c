/*
** plugin_manifest.c -- backend manifests: small INI files a plugin package
** installs in a backends.d folder, so that the package needs no say in
** where libslm looks for .so files (the Vulkan loader's icd.d, in INI).
**
**   [backend]
**   name    = template               ; the descriptor's name (checked)
**   library = libslm-template.so     ; relative to this file's folder
**   abi     = 1.0                    ; plugin ABI major.minor built for
**   arch    = x86_64                 ; uname -m of the build
**
** library and abi are required. A manifest for another architecture or ABI
** major is refused before dlopen: loading it could only fail or crash.
** Folders are searched in the order of slm__manifests_find; inside a folder
** files are taken in name order, and a file name found in an earlier folder
** hides the same name later (a user's manifest overrides the system's).
*/
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <ini.h>

#include "runtime_internal.h"

#if defined(__x86_64__)
#define HOST_ARCH "x86_64"
#elif defined(__aarch64__)
#define HOST_ARCH "aarch64"
#elif defined(__i386__)
#define HOST_ARCH "i686"
#elif defined(__arm__)
#define HOST_ARCH "arm"
#elif defined(__riscv) && __riscv_xlen == 64
#define HOST_ARCH "riscv64"
#elif defined(__powerpc64__) && defined(__LITTLE_ENDIAN__)
#define HOST_ARCH "ppc64le"
#else
#define HOST_ARCH "unknown"
#endif

static slm_status_t no_memory(void)
{
    return slm__error(SLM_ERR_NO_MEMORY, "out of memory reading manifests");
}

/* ------------------------------------------------------------ one manifest */

typedef struct parse {
    slm__manifest_t *m;
    char dir[PATH_MAX];
    char err[200];
    bool has_abi;
} parse_t;

static int on_key(void *user, const char *section, const char *key,
                  const char *value)
{
    parse_t *p = user;
    slm__manifest_t *m = p->m;
    if (p->err[0])
        return 1;
    if (strcmp(section, "backend") != 0) {
        snprintf(p->err, sizeof p->err, "section [%s]: only [backend] is known",
                 section);
        return 1;
    }
    char **slot = NULL;
    if (strcmp(key, "library") == 0) {
        free(m->library);
        m->library = NULL;
        if (value[0] == '/')
            m->library = strdup(value);
        else if (asprintf(&m->library, "%s/%s", p->dir, value) < 0)
            m->library = NULL;
        if (!m->library)
            snprintf(p->err, sizeof p->err, "out of memory");
        return 1;
    } else if (strcmp(key, "name") == 0) {
        slot = &m->name;
    } else if (strcmp(key, "arch") == 0) {
        slot = &m->arch;
    } else if (strcmp(key, "abi") == 0) {
        unsigned major = 0, minor = 0;
        char tail;
        if (sscanf(value, "%u.%u%c", &major, &minor, &tail) != 2)
            snprintf(p->err, sizeof p->err, "abi = '%s': not MAJOR.MINOR", value);
        m->abi_major = major;
        m->abi_minor = minor;
        p->has_abi = true;
        return 1;
    } else {
        snprintf(p->err, sizeof p->err, "key '%s': unknown key (known: name, "
                 "library, abi, arch)", key);
        return 1;
    }
    free(*slot);
    *slot = strdup(value);
    if (!*slot)
        snprintf(p->err, sizeof p->err, "out of memory");
    return 1;
}

/* Read `file` into m; a manifest that cannot be used gets m->refusal. */
static slm_status_t read_manifest(const char *file, slm__manifest_t *m)
{
    memset(m, 0, sizeof *m);
    m->file = strdup(file);
    if (!m->file)
        return no_memory();
    parse_t p = { .m = m };
    snprintf(p.dir, sizeof p.dir, "%s", file);
    char *slash = strrchr(p.dir, '/');
    if (slash)
        *slash = '\0';
    int line = ini_parse(file, on_key, &p);
    char why[300] = "";
    if (line < 0)
        snprintf(why, sizeof why, "manifest cannot be read: %s", strerror(errno));
    else if (line > 0)
        snprintf(why, sizeof why, "manifest line %d: not INI", line);
    else if (p.err[0])
        snprintf(why, sizeof why, "manifest: %s", p.err);
    else if (!m->library)
        snprintf(why, sizeof why, "manifest names no library");
    else if (!p.has_abi)
        snprintf(why, sizeof why, "manifest gives no abi");
    else if (m->arch && strcmp(m->arch, HOST_ARCH) != 0)
        snprintf(why, sizeof why, "manifest is for arch %s; this host is %s",
                 m->arch, HOST_ARCH);
    else if (m->abi_major != SLM_BACKEND_ABI_MAJOR)
        snprintf(why, sizeof why, "manifest declares plugin ABI %u.%u; this "
                 "runtime has %d.%d and the major version must match",
                 m->abi_major, m->abi_minor, SLM_BACKEND_ABI_MAJOR,
                 SLM_BACKEND_ABI_MINOR);
    bool foreign = (m->arch && strcmp(m->arch, HOST_ARCH) != 0) ||
                   (p.has_abi && m->abi_major != SLM_BACKEND_ABI_MAJOR);
    m->refusal_status = foreign && !p.err[0] && line == 0 && m->library
                        ? SLM_ERR_ABI
                        : SLM_ERR_PLUGIN;
    if (why[0] && !(m->refusal = strdup(why)))
        return no_memory();
    return SLM_OK;
}

/* --------------------------------------------------------------- folders */

typedef struct list {
    slm__manifest_t *v;
    uint32_t n, cap;
} list_t;

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool has_ini_suffix(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && strcmp(name + n - 4, ".ini") == 0;
}

/* Whether a manifest of this file name came from an earlier folder. */
static bool hidden(const list_t *l, const char *name)
{
    for (uint32_t i = 0; i < l->n; i++) {
        const char *slash = strrchr(l->v[i].file, '/');
        if (strcmp(slash ? slash + 1 : l->v[i].file, name) == 0)
            return true;
    }
    return false;
}

static slm_status_t scan_folder(const slm_runtime_t *rt, list_t *l,
                                const char *dir, size_t len)
{
    char path[PATH_MAX];
    if (len == 0 || len >= sizeof path)
        return SLM_OK;
    memcpy(path, dir, len);
    path[len] = '\0';
    DIR *d = opendir(path);
    if (!d)
        return SLM_OK;
    char **names = NULL;
    size_t n = 0, cap = 0;
    slm_status_t st = SLM_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!has_ini_suffix(e->d_name))
            continue;
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 8;
            char **v = realloc(names, ncap * sizeof *v);
            if (!v) {
                st = no_memory();
                break;
            }
            names = v;
            cap = ncap;
        }
        if (!(names[n] = strdup(e->d_name))) {
            st = no_memory();
            break;
        }
        n++;
    }
    closedir(d);
    if (n > 0)
        qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n; i++) {
        if (st == SLM_OK && hidden(l, names[i])) {
            slm__log(rt, SLM_LOG_DEBUG, "manifest %s/%s: hidden by an earlier "
                     "one of that name", path, names[i]);
        } else if (st == SLM_OK) {
            if (l->n == l->cap) {
                uint32_t ncap = l->cap ? 2 * l->cap : 8;
                slm__manifest_t *v = realloc(l->v, ncap * sizeof *v);
                if (!v)
                    st = no_memory();
                else {
                    l->v = v;
                    l->cap = ncap;
                }
            }
            char *file = NULL;
            if (st == SLM_OK && asprintf(&file, "%s/%s", path, names[i]) < 0)
                st = no_memory();
            if (st == SLM_OK) {
                st = read_manifest(file, &l->v[l->n]);
                l->n++; /* counted even when failed, so that it is freed */
            }
            free(file);
        }
        free(names[i]);
    }
    free(names);
    return st;
}

/* Each item of the ':' list `dirs` joined with `suffix`. */
static slm_status_t scan_list(const slm_runtime_t *rt, list_t *l,
                              const char *dirs, const char *suffix)
{
    slm_status_t st = SLM_OK;
    while (st == SLM_OK && dirs && *dirs) {
        const char *end = strchr(dirs, ':');
        size_t len = end ? (size_t)(end - dirs) : strlen(dirs);
        char path[PATH_MAX];
        int w = snprintf(path, sizeof path, "%.*s%s", (int)len, dirs, suffix);
        if (len > 0 && w > 0 && (size_t)w < sizeof path)
            st = scan_folder(rt, l, path, (size_t)w);
        dirs = end ? end + 1 : NULL;
    }
    return st;
}

/* $NAME when set and not empty, else $HOME/fallback (NULL without HOME). */
static slm_status_t scan_xdg_home(const slm_runtime_t *rt, list_t *l,
                                  const char *name, const char *fallback)
{
    const char *v = secure_getenv(name);
    char path[PATH_MAX];
    if (v && v[0])
        snprintf(path, sizeof path, "%s/slm/backends.d", v);
    else if ((v = secure_getenv("HOME")) && v[0])
        snprintf(path, sizeof path, "%s/%s/slm/backends.d", v, fallback);
    else
        return SLM_OK;
    return scan_folder(rt, l, path, strlen(path));
}

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = secure_getenv(name);
    return v && v[0] ? v : dflt;
}

slm_status_t slm__manifests_find(const slm_runtime_t *rt,
                                 slm__manifest_t **out, uint32_t *n_out)
{
    list_t l = { 0 };
    slm_status_t st = scan_list(rt, &l, secure_getenv("SLM_BACKEND_MANIFESTS_ADD"), "");
    const char *only = secure_getenv("SLM_BACKEND_MANIFESTS");
    if (st == SLM_OK && only) {
        st = scan_list(rt, &l, only, "");
    } else if (st == SLM_OK) {
        if ((st = scan_xdg_home(rt, &l, "XDG_CONFIG_HOME", ".config")) == SLM_OK &&
            (st = scan_list(rt, &l, env_or("XDG_CONFIG_DIRS", "/etc/xdg"),
                            "/slm/backends.d")) == SLM_OK &&
            (st = scan_list(rt, &l, "/etc/slm/backends.d", "")) == SLM_OK &&
            (st = scan_xdg_home(rt, &l, "XDG_DATA_HOME", ".local/share")) == SLM_OK)
            st = scan_list(rt, &l, env_or("XDG_DATA_DIRS", "/usr/local/share:/usr/share"),
                           "/slm/backends.d");
    }
    if (st != SLM_OK) {
        slm__manifests_free(l.v, l.n);
        return st;
    }
    *out = l.v;
    *n_out = l.n;
    return SLM_OK;
}

void slm__manifests_free(slm__manifest_t *v, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        free(v[i].file);
        free(v[i].library);
        free(v[i].name);
        free(v[i].arch);
        free(v[i].refusal);
    }
    free(v);
}
