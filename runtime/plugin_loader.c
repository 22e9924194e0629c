/*
** plugin_loader.c -- finding backend plugins, loading, checking and probing
** them.
**
** Every candidate file ends up in rt->plugins, loaded, refused or skipped
** with a reason, so that slm-probe can show why a plugin the user expected is not in
** use. A refused plugin never fails runtime creation; only running out of
** memory and a config section the plugin rejects do.
*/
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime_internal.h"

/* ------------------------------------------------------------------ types */

/*
** A plugin as the loader keeps it. The descriptor's strings live in the
** plugin's own storage, which vanishes at dlclose, while a refused plugin is
** listed for the runtime's whole life: so the strings shown are copies.
*/
typedef struct plugin_rec {
    slm__plugin_t p;              /* first: rt->plugins points here */
    char name[64];
    char *version;                /* owned, NULL when none was read */
    char *description;            /* owned, NULL when none was read */
    char *manifest;               /* owned, NULL when not from a manifest */
    char manifest_name[64];       /* the manifest's `name`, "" if none */
} plugin_rec_t;

typedef struct candidate {
    char *path;                   /* owned */
    const char *origin;           /* static */
    int err;                      /* errno when the path does not exist */
    const slm__manifest_t *manifest; /* borrowed; NULL when not from one */
} candidate_t;

typedef struct candidates {
    candidate_t *v;
    uint32_t n, cap;
} candidates_t;

static const char *const ORIGIN_EXPLICIT = "explicit";
static const char *const ORIGIN_CONFIG = "config";
static const char *const ORIGIN_ENV = "SLM_PLUGIN_PATH";
static const char *const ORIGIN_MANIFEST = "manifest";
static const char *const ORIGIN_LIBDIR = "libslm folder";
static const char *const ORIGIN_INSTALL = "install folder";

static slm_status_t no_memory(void)
{
    return slm__error(SLM_ERR_NO_MEMORY, "out of memory while loading plugins");
}

/* ------------------------------------------------------------ candidates */

static slm_status_t cand_push(candidates_t *c, const char *path, size_t len,
                              const char *origin, int err)
{
    if (c->n == c->cap) {
        uint32_t cap = c->cap ? 2 * c->cap : 16;
        candidate_t *v = realloc(c->v, cap * sizeof *v);
        if (!v)
            return no_memory();
        c->v = v;
        c->cap = cap;
    }
    char *copy = strndup(path, len);
    if (!copy)
        return no_memory();
    c->v[c->n].path = copy;
    c->v[c->n].origin = origin;
    c->v[c->n].err = err;
    c->v[c->n].manifest = NULL;
    c->n++;
    return SLM_OK;
}

static void cand_free(candidates_t *c)
{
    for (uint32_t i = 0; i < c->n; i++)
        free(c->v[i].path);
    free(c->v);
    memset(c, 0, sizeof *c);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool has_so_suffix(const char *name)
{
    size_t n = strlen(name);
    return n > 3 && strcmp(name + n - 3, ".so") == 0;
}

/* The regular files of `dir` ending in ".so", sorted by name: readdir order
** differs between file systems and would make the rank of equal devices
** depend on the machine. */
static slm_status_t scan_dir(candidates_t *c, const char *dir,
                             const char *origin, bool named)
{
    DIR *d = opendir(dir);
    if (!d) {
        if (named)
            return cand_push(c, dir, strlen(dir), origin, errno);
        return SLM_OK;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    slm_status_t st = SLM_OK;
    const char *sep = dir[0] && dir[strlen(dir) - 1] == '/' ? "" : "/";
    struct dirent *e;
    while (st == SLM_OK && (e = readdir(d)) != NULL) {
        if (!has_so_suffix(e->d_name))
            continue;
        char *full = NULL;
        if (asprintf(&full, "%s%s%s", dir, sep, e->d_name) < 0) {
            st = no_memory();
            break;
        }
        struct stat sb;
        if (stat(full, &sb) != 0 || !S_ISREG(sb.st_mode)) {
            free(full);
            continue;
        }
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            char **v = realloc(names, ncap * sizeof *v);
            if (!v) {
                free(full);
                st = no_memory();
                break;
            }
            names = v;
            cap = ncap;
        }
        names[n++] = full;
    }
    closedir(d);
    if (st == SLM_OK && n > 0)
        qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n; i++) {
        if (st == SLM_OK)
            st = cand_push(c, names[i], strlen(names[i]), origin, 0);
        free(names[i]);
    }
    free(names);
    return st;
}

/* A file is one candidate, a folder its .so files. `named`: the user gave
** this path, so a missing one is listed as refused rather than skipped. */
static slm_status_t add_path(candidates_t *c, const char *path, size_t len,
                             const char *origin, bool named)
{
    char *p = strndup(path, len);
    if (!p)
        return no_memory();
    slm_status_t st = SLM_OK;
    struct stat sb;
    if (stat(p, &sb) != 0) {
        if (named)
            st = cand_push(c, p, len, origin, errno);
    } else if (S_ISDIR(sb.st_mode)) {
        st = scan_dir(c, p, origin, named);
    } else {
        st = cand_push(c, p, len, origin, 0);
    }
    free(p);
    return st;
}

/* The folder of the file that holds libslm's code, plus the backends subdir:
** where a build tree or an install puts the plugins shipped with libslm. */
static char *libslm_backend_dir(void)
{
    Dl_info info;
    if (!dladdr((void *)slm__plugins_load, &info) || !info.dli_fname)
        return NULL;
    char *real = realpath(info.dli_fname, NULL);
    if (!real)
        return NULL;
    char *slash = strrchr(real, '/');
    char *dir = NULL;
    if (slash) {
        *slash = '\0';
        if (asprintf(&dir, "%s/%s", real, SLM_BACKEND_SUBDIR) < 0)
            dir = NULL;
    }
    free(real);
    return dir;
}

/* One candidate per manifest, the library named whether it exists or not:
** the package that installed the manifest expects it to be used. */
static slm_status_t add_manifests(candidates_t *c, const slm__manifest_t *m,
                                  uint32_t n)
{
    slm_status_t st = SLM_OK;
    for (uint32_t i = 0; st == SLM_OK && i < n; i++) {
        const char *path = m[i].library ? m[i].library : m[i].file;
        struct stat sb;
        int err = m[i].refusal || stat(path, &sb) == 0 ? 0 : errno;
        st = cand_push(c, path, strlen(path), ORIGIN_MANIFEST, err);
        if (st == SLM_OK)
            c->v[c->n - 1].manifest = &m[i];
    }
    return st;
}

static slm_status_t gather(const slm_runtime_t *rt,
                           const slm_runtime_opts_t *opts,
                           const slm__manifest_t *manifests,
                           uint32_t n_manifests, candidates_t *c)
{
    slm_status_t st = SLM_OK;
    for (uint32_t i = 0; st == SLM_OK && i < opts->n_plugin_paths; i++) {
        const char *p = opts->plugin_paths[i];
        st = add_path(c, p, strlen(p), ORIGIN_EXPLICIT, true);
    }
    for (uint32_t i = 0; st == SLM_OK && i < rt->config.n_plugin_path; i++) {
        const char *p = rt->config.plugin_path[i];
        st = add_path(c, p, strlen(p), ORIGIN_CONFIG, true);
    }
    if (st != SLM_OK || (opts->flags & SLM_RUNTIME_NO_DEFAULT_PLUGINS))
        return st;

    /* Empty items of the variable are skipped, as in $PATH. */
    const char *env = getenv("SLM_PLUGIN_PATH");
    while (st == SLM_OK && env && *env) {
        const char *end = strchr(env, ':');
        size_t len = end ? (size_t)(end - env) : strlen(env);
        if (len > 0)
            st = add_path(c, env, len, ORIGIN_ENV, true);
        env = end ? end + 1 : NULL;
    }
    if (st == SLM_OK)
        st = add_manifests(c, manifests, n_manifests);
    if (st != SLM_OK)
        return st;

    char *dir = libslm_backend_dir();
    if (dir) {
        st = add_path(c, dir, strlen(dir), ORIGIN_LIBDIR, false);
        free(dir);
    }
    if (st == SLM_OK)
        st = add_path(c, SLM_INSTALL_BACKEND_DIR,
                      strlen(SLM_INSTALL_BACKEND_DIR), ORIGIN_INSTALL, false);
    return st;
}

/* ------------------------------------------------------------ host table */

static const char *plugin_label(const slm__plugin_t *p)
{
    if (p->desc.name && p->desc.name[0])
        return p->desc.name;
    const char *slash = strrchr(p->path, '/');
    return slash ? slash + 1 : p->path;
}

static void host_log(void *ctx, int level, const char *msg)
{
    slm__plugin_t *p = ctx;
    /* Before the level filter: the reason of "0 devices" is often an INFO
    ** or DEBUG line ("libfoo.so: cannot open shared object file"). */
    if (p->probing && msg && msg[0]) {
        snprintf(p->probe_said, sizeof p->probe_said, "%s", msg);
        for (char *c = p->probe_said; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f)
                *c = ' ';
    }
    if (level < SLM_LOG_ERROR)
        level = SLM_LOG_ERROR;
    if (level > SLM_LOG_DEBUG)
        level = SLM_LOG_DEBUG;
    /* Plugins often name themselves already ("opencl: opened ..."). */
    const char *label = plugin_label(p);
    size_t n = strlen(label);
    if (msg && strncmp(msg, label, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ')
        slm__log(p->rt, level, "%s", msg);
    else
        slm__log(p->rt, level, "%s: %s", label, msg ? msg : "");
}

static void host_set_error(void *ctx, const char *msg)
{
    (void)ctx;
    slm__plugin_error_set(msg);
}

static const char *host_config_get(void *ctx, const char *key)
{
    const slm__plugin_t *p = ctx;
    /* Before its keys were checked the plugin has no name we trust. */
    if (!p->be || !key)
        return NULL;
    return slm__config_backend_get(&p->rt->config, p->desc.name, key);
}

/* --------------------------------------------------------------- records */

static plugin_rec_t *rec_new(slm_runtime_t *rt, const candidate_t *cand)
{
    plugin_rec_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->p.path = strdup(cand->path);
    if (!r->p.path) {
        free(r);
        return NULL;
    }
    r->p.rt = rt;
    r->p.host.abi_major = SLM_BACKEND_ABI_MAJOR;
    r->p.host.abi_minor = SLM_BACKEND_ABI_MINOR;
    r->p.host.struct_size = sizeof(slm_host_t);
    r->p.host.ctx = &r->p;
    r->p.host.log = host_log;
    r->p.host.set_error = host_set_error;
    r->p.host.config_get = host_config_get;

    slm_plugin_desc_t *d = &r->p.desc;
    d->path = r->p.path;
    d->origin = cand->origin;
    d->state = SLM_PLUGIN_REFUSED;
    d->status = SLM_ERR_PLUGIN;
    d->reason = "";
    d->name = r->name;
    d->version = "";
    d->description = "";
    d->manifest = "";
    const slm__manifest_t *m = cand->manifest;
    if (m) {
        r->manifest = strdup(m->file);
        if (!r->manifest) {
            free(r->p.path);
            free(r);
            return NULL;
        }
        d->manifest = r->manifest;
        /* Shown until the descriptor gives its own. */
        if (m->name) {
            snprintf(r->name, sizeof r->name, "%s", m->name);
            snprintf(r->manifest_name, sizeof r->manifest_name, "%s", m->name);
        }
    }
    return r;
}

static void rec_free(plugin_rec_t *r)
{
    if (!r)
        return;
    if (r->p.dl)
        dlclose(r->p.dl);
    free(r->p.path);
    free(r->p.reason);
    free(r->version);
    free(r->description);
    free(r->manifest);
    free(r);
}

/* Mark the plugin refused, drop its code and log why. */
static slm_status_t refuse(plugin_rec_t *r, slm_status_t status,
                           const char *fmt, ...) SLM__PRINTF(3, 4);

static slm_status_t refuse(plugin_rec_t *r, slm_status_t status,
                           const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    slm__plugin_t *p = &r->p;
    if (p->dl) {
        dlclose(p->dl);
        p->dl = NULL;
    }
    p->be = NULL;
    p->n_devices = 0;
    free(p->reason);
    p->reason = strdup(msg);
    if (!p->reason)
        return no_memory();
    p->desc.state = SLM_PLUGIN_REFUSED;
    p->desc.status = status < 0 ? status : SLM_ERR_PLUGIN;
    p->desc.reason = p->reason;
    p->desc.n_devices = 0;
    slm__log(p->rt, SLM_LOG_INFO, "plugin %s (%s) refused: %s", p->path,
             p->desc.origin, msg);
    return SLM_OK;
}

/* ------------------------------------------------------------- selection */

/*
** $SLM_PLUGIN_SELECT: a ',' list of fnmatch globs over plugin names, "!glob"
** disabling. The last pattern that matches a name decides; a name no
** pattern matches is selected unless the list has a plain pattern, so
** "!vulkan" disables one plugin and "cpu*" keeps only the CPU ones. On
** success *why is the deciding pattern, or NULL when selected by default.
*/
static bool selected(const char *spec, const char *name, char *why, size_t n)
{
    bool any_plain = false, decided = false, sel = true;
    why[0] = '\0';
    while (spec && *spec) {
        const char *end = strchr(spec, ',');
        size_t len = end ? (size_t)(end - spec) : strlen(spec);
        char pat[128];
        while (len > 0 && (*spec == ' ' || *spec == '\t')) {
            spec++;
            len--;
        }
        while (len > 0 && (spec[len - 1] == ' ' || spec[len - 1] == '\t'))
            len--;
        if (len > 0 && len < sizeof pat) {
            memcpy(pat, spec, len);
            pat[len] = '\0';
            bool neg = pat[0] == '!';
            any_plain |= !neg;
            if (fnmatch(pat + neg, name, 0) == 0) {
                sel = !neg;
                decided = true;
                snprintf(why, n, "%s", pat);
            }
        }
        spec = end ? end + 1 : NULL;
    }
    return decided ? sel : !any_plain;
}

/* The name a file is selected by before it is loaded: the manifest's, else
** the file name without "lib", "slm-backend-" and ".so"
** (libslm-backend-cpu.so is "cpu"). */
static void stem(const char *path, char *out, size_t n)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (strncmp(base, "lib", 3) == 0)
        base += 3;
    if (strncmp(base, "slm-backend-", 12) == 0)
        base += 12;
    size_t len = strlen(base);
    if (has_so_suffix(base))
        len -= 3;
    snprintf(out, n, "%.*s", (int)len, base);
}

/* Mark the plugin skipped by $SLM_PLUGIN_SELECT and drop its code. False
** when it is selected. */
static bool skip_unselected(plugin_rec_t *r, const char *name)
{
    const char *spec = secure_getenv("SLM_PLUGIN_SELECT");
    char why[128];
    if (!spec || selected(spec, name, why, sizeof why))
        return false;
    slm__plugin_t *p = &r->p;
    if (p->dl) {
        dlclose(p->dl);
        p->dl = NULL;
    }
    p->be = NULL;
    p->n_devices = 0;
    free(p->reason);
    int w = why[0] ? asprintf(&p->reason, "not selected: SLM_PLUGIN_SELECT=%s, "
                              "pattern '%s' matches '%s'", spec, why, name)
                   : asprintf(&p->reason, "not selected: SLM_PLUGIN_SELECT=%s "
                              "has no pattern matching '%s'", spec, name);
    if (w < 0)
        p->reason = NULL;
    if (!r->name[0]) /* the listing shows the name it was judged by */
        snprintf(r->name, sizeof r->name, "%s", name);
    p->desc.state = SLM_PLUGIN_SKIPPED;
    p->desc.status = SLM_OK;
    p->desc.reason = p->reason ? p->reason : "not selected by SLM_PLUGIN_SELECT";
    p->desc.n_devices = 0;
    slm__log(p->rt, SLM_LOG_INFO, "plugin %s (%s) skipped: %s", p->path,
             p->desc.origin, p->desc.reason);
    return true;
}

/* Copy at most `max` bytes of a plugin string; NULL stays NULL. */
static slm_status_t copy_str(const char *s, size_t max, char **out)
{
    *out = NULL;
    if (!s)
        return SLM_OK;
    *out = strndup(s, max);
    return *out ? SLM_OK : no_memory();
}

/* ---------------------------------------------------------------- checks */

static const char *missing_required_slot(const slm_backend_t *be)
{
#define REQUIRED(slot) if (!be->slot) return #slot;
    REQUIRED(probe)
    REQUIRED(device_open)
    REQUIRED(device_close)
    REQUIRED(buffer_alloc)
    REQUIRED(buffer_free)
    REQUIRED(buffer_write)
    REQUIRED(buffer_read)
    REQUIRED(supports_node)
    REQUIRED(graph_compute)
#undef REQUIRED
    return NULL;
}

static const slm__plugin_t *loaded_named(const slm_runtime_t *rt,
                                         const char *name)
{
    for (uint32_t i = 0; i < rt->n_plugins; i++) {
        const slm__plugin_t *q = rt->plugins[i];
        if (q->desc.state == SLM_PLUGIN_LOADED && strcmp(q->desc.name, name) == 0)
            return q;
    }
    return NULL;
}

/* Read what the descriptor says about itself, as far as its layout is known
** to be 1.0's; then check it against the host. Returns SLM_OK with the
** plugin either accepted (r->p.be set) or refused. */
static slm_status_t check_descriptor(plugin_rec_t *r, const slm_backend_t *be)
{
    slm__plugin_t *p = &r->p;
    p->desc.abi_major = be->abi_major;
    p->desc.abi_minor = be->abi_minor;

    if (be->abi_major != SLM_BACKEND_ABI_MAJOR)
        return refuse(r, SLM_ERR_ABI,
                      "built for plugin ABI %u.%u; this runtime has %u.%u and "
                      "the major version must match",
                      be->abi_major, be->abi_minor, SLM_BACKEND_ABI_MAJOR,
                      SLM_BACKEND_ABI_MINOR);

    /* The 1.0 fields are where 1.0 put them in any minor; read the strings
    ** now so that even a refused plugin shows its name. */
    slm_status_t st = SLM_OK;
    if (be->struct_size >= offsetof(slm_backend_t, description) + sizeof(be->description)) {
        if (be->name)
            snprintf(r->name, sizeof r->name, "%s", be->name);
        if ((st = copy_str(be->version, 255, &r->version)) != SLM_OK ||
            (st = copy_str(be->description, 255, &r->description)) != SLM_OK)
            return st;
        p->desc.version = r->version ? r->version : "";
        p->desc.description = r->description ? r->description : "";
    }

    if (be->abi_minor > SLM_BACKEND_ABI_MINOR)
        return refuse(r, SLM_ERR_ABI,
                      "built for plugin ABI %u.%u, newer than this runtime's "
                      "%u.%u: the plugin must serve minor %u or libslm must be "
                      "updated",
                      be->abi_major, be->abi_minor, SLM_BACKEND_ABI_MAJOR,
                      SLM_BACKEND_ABI_MINOR, SLM_BACKEND_ABI_MINOR);
    if (be->struct_size < SLM_BACKEND_SIZE_1_0)
        return refuse(r, SLM_ERR_ABI,
                      "descriptor struct_size %u is smaller than the %zu bytes "
                      "of ABI %u.0",
                      be->struct_size, (size_t)SLM_BACKEND_SIZE_1_0,
                      SLM_BACKEND_ABI_MAJOR);
    if (!be->name)
        return refuse(r, SLM_ERR_PLUGIN, "descriptor has no name");
    size_t len = strnlen(be->name, 32);
    if (len == 0 || len > 31 || !slm__config_name_ok(be->name, len))
        return refuse(r, SLM_ERR_PLUGIN,
                      "name '%s' is not valid: use 1 to 31 of a-z 0-9 _ -",
                      r->name);

    const char *slot = missing_required_slot(be);
    if (slot)
        return refuse(r, SLM_ERR_PLUGIN, "required slot %s is NULL", slot);
    int n_plan = !!be->graph_plan_create + !!be->graph_plan_compute +
                 !!be->graph_plan_free;
    if (n_plan != 0 && n_plan != 3)
        return refuse(r, SLM_ERR_PLUGIN,
                      "graph_plan_create, graph_plan_compute and "
                      "graph_plan_free must be offered together or not at all");
    if (be->n_config_keys > 0 && !be->config_keys)
        return refuse(r, SLM_ERR_PLUGIN,
                      "declares %u config keys but config_keys is NULL",
                      be->n_config_keys);

    const slm__plugin_t *other = loaded_named(p->rt, r->name);
    if (other)
        return refuse(r, SLM_ERR_PLUGIN,
                      "a plugin named '%s' is already loaded from %s",
                      r->name, other->path);
    return SLM_OK;
}

/* The plugin's devices, with strings forced to end inside their arrays. */
static slm_status_t probe_devices(plugin_rec_t *r, const slm_backend_t *be)
{
    slm__plugin_t *p = &r->p;
    for (uint32_t i = 0; i < SLM_MAX_DEVICES_PER_PLUGIN; i++) {
        memset(&p->infos[i], 0, sizeof p->infos[i]);
        p->infos[i].struct_size = sizeof p->infos[i];
    }
    uint32_t n = 0;
    slm__plugin_error_clear();
    p->probe_said[0] = '\0';
    p->probing = true;
    slm_status_t st = be->probe(p->infos, SLM_MAX_DEVICES_PER_PLUGIN, &n);
    p->probing = false;
    if (st != SLM_OK) {
        const char *msg = slm__plugin_error_take();
        return refuse(r, st, "probe failed: %s", msg[0] ? msg : slm_strerror(st));
    }
    if (n > SLM_MAX_DEVICES_PER_PLUGIN) {
        slm__log(p->rt, SLM_LOG_WARN,
                 "%s: probe reported %u devices, more than the %d allowed; "
                 "using the first %d",
                 r->name, n, SLM_MAX_DEVICES_PER_PLUGIN, SLM_MAX_DEVICES_PER_PLUGIN);
        n = SLM_MAX_DEVICES_PER_PLUGIN;
    }
    for (uint32_t i = 0; i < n; i++) {
        slm_device_info_t *info = &p->infos[i];
        info->struct_size = sizeof *info;
        info->name[sizeof info->name - 1] = '\0';
        info->vendor[sizeof info->vendor - 1] = '\0';
        info->driver[sizeof info->driver - 1] = '\0';
        info->features[sizeof info->features - 1] = '\0';
    }
    p->n_devices = n;
    p->desc.n_devices = n;
    return SLM_OK;
}

/* dlerror() repeats the path, which the listing shows already. */
static const char *dl_reason(const char *path)
{
    const char *msg = dlerror();
    if (!msg)
        return "dlopen failed";
    size_t n = strlen(path);
    if (strncmp(msg, path, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ')
        return msg + n + 2;
    return msg;
}

/* Load one candidate into r. SLM_OK whether loaded or refused. `real`: the
** file's real path; `isolate`: probe it in a child process first, and keep
** it out of this process if the child does not come back well. */
static slm_status_t load_one(slm_runtime_t *rt, plugin_rec_t *r,
                             const char *real, bool isolate)
{
    slm__plugin_t *p = &r->p;

    if (isolate) {
        slm__scan_t scan;
        slm__plugin_scan(rt, real, &scan);
        if (scan.refused)
            return refuse(r, SLM_ERR_PLUGIN, "%s%s", scan.reason,
                          scan.cached ? " [cached: the file has not changed "
                                        "since]" : "");
    }

    dlerror();
    p->dl = dlopen(p->path, RTLD_NOW | RTLD_LOCAL);
    if (!p->dl)
        return refuse(r, SLM_ERR_PLUGIN, "%s", dl_reason(p->path));

    dlerror();
    void *sym = dlsym(p->dl, SLM_PLUGIN_ENTRY_NAME);
    if (!sym)
        return refuse(r, SLM_ERR_PLUGIN,
                      "no " SLM_PLUGIN_ENTRY_NAME " symbol: not an slm backend plugin");
    slm_plugin_init_fn entry;
    memcpy(&entry, &sym, sizeof entry); /* object to function pointer */

    const slm_backend_t *be = NULL;
    slm__plugin_error_clear();
    slm_status_t st = entry(&p->host, &be);
    if (st != SLM_OK) {
        const char *msg = slm__plugin_error_take();
        return refuse(r, st, SLM_PLUGIN_ENTRY_NAME " failed: %s",
                      msg[0] ? msg : slm_strerror(st));
    }
    if (!be)
        return refuse(r, SLM_ERR_PLUGIN,
                      SLM_PLUGIN_ENTRY_NAME " returned SLM_OK but no descriptor");

    st = check_descriptor(r, be);
    if (st != SLM_OK || p->reason)
        return st;
    if (r->manifest_name[0] && strcmp(r->manifest_name, r->name) != 0)
        return refuse(r, SLM_ERR_PLUGIN, "the manifest %s names '%s' but the "
                      "plugin calls itself '%s'", r->manifest,
                      r->manifest_name, r->name);
    /* Selected by file name, it may still be deselected by its own. */
    if (skip_unselected(r, r->name))
        return SLM_OK;

    /* A misspelt key is the user's mistake, not the plugin's: fail. */
    st = slm__config_check_backend(&rt->config, r->name, be->config_keys,
                                   be->n_config_keys);
    if (st != SLM_OK)
        return st;

    p->be = be;
    st = probe_devices(r, be);
    if (st != SLM_OK || p->reason)
        return st;

    p->desc.state = SLM_PLUGIN_LOADED;
    p->desc.status = SLM_OK;
    /* No device: what the plugin said last during probe is why (the
    ** convention of slm/backend.h's probe). */
    p->desc.reason = p->n_devices == 0 ? p->probe_said : "";
    slm__log(rt, SLM_LOG_INFO, "plugin %s %s loaded from %s (%s): %u device%s%s%s",
             r->name, p->desc.version, p->path, p->desc.origin, p->n_devices,
             p->n_devices == 1 ? "" : "s", p->desc.reason[0] ? ": " : "",
             p->desc.reason);
    return SLM_OK;
}

static slm_status_t append(slm_runtime_t *rt, plugin_rec_t *r)
{
    slm__plugin_t **v = realloc(rt->plugins, (rt->n_plugins + 1) * sizeof *v);
    if (!v)
        return no_memory();
    rt->plugins = v;
    rt->plugins[rt->n_plugins++] = &r->p;
    return SLM_OK;
}

/* ------------------------------------------------------------------- API */

slm_status_t slm__plugins_load(slm_runtime_t *rt, const slm_runtime_opts_t *opts)
{
    if (opts->n_plugin_paths > 0 && !opts->plugin_paths)
        return slm__error(SLM_ERR_INVALID_ARG,
                          "opts.plugin_paths is NULL but n_plugin_paths is %u",
                          opts->n_plugin_paths);
    for (uint32_t i = 0; i < opts->n_plugin_paths; i++)
        if (!opts->plugin_paths[i] || !opts->plugin_paths[i][0])
            return slm__error(SLM_ERR_INVALID_ARG,
                              "opts.plugin_paths[%u] is %s", i,
                              opts->plugin_paths[i] ? "empty" : "NULL");

    bool isolate = !(opts->flags & SLM_RUNTIME_NO_ISOLATION) &&
                   !rt->config.no_isolation;
    slm__manifest_t *manifests = NULL;
    uint32_t n_manifests = 0;
    slm_status_t st = SLM_OK;
    if (!(opts->flags & SLM_RUNTIME_NO_DEFAULT_PLUGINS))
        st = slm__manifests_find(rt, &manifests, &n_manifests);
    candidates_t c = { 0 };
    char **seen = NULL; /* realpaths of the files tried, to try each once */
    uint32_t n_seen = 0;
    if (st == SLM_OK)
        st = gather(rt, opts, manifests, n_manifests, &c);

    for (uint32_t i = 0; st == SLM_OK && i < c.n; i++) {
        const candidate_t *cand = &c.v[i];
        /* Refused on what the manifest says: the file is not opened, nor
        ** counted as tried, so that a usable copy found later still loads. */
        if (cand->manifest && cand->manifest->refusal) {
            plugin_rec_t *r = rec_new(rt, cand);
            if (!r) {
                st = no_memory();
                break;
            }
            st = refuse(r, cand->manifest->refusal_status, "%s (%s)",
                        cand->manifest->refusal,
                        cand->manifest->file);
            if (st == SLM_OK)
                st = append(rt, r);
            if (st != SLM_OK)
                rec_free(r);
            continue;
        }
        int err = cand->err;
        char *real = NULL;
        if (!err) {
            real = realpath(cand->path, NULL);
            if (!real)
                err = errno;
        }
        if (real) {
            bool dup = false;
            for (uint32_t j = 0; j < n_seen && !dup; j++)
                dup = strcmp(seen[j], real) == 0;
            if (dup) {
                slm__log(rt, SLM_LOG_DEBUG, "plugin %s (%s): already tried as %s",
                         cand->path, cand->origin, real);
                free(real);
                continue;
            }
            char **v = realloc(seen, (n_seen + 1) * sizeof *v);
            if (!v) {
                free(real);
                st = no_memory();
                break;
            }
            seen = v;
            seen[n_seen++] = real;
        }

        plugin_rec_t *r = rec_new(rt, cand);
        if (!r) {
            st = no_memory();
            break;
        }
        char name[64];
        if (r->manifest_name[0])
            snprintf(name, sizeof name, "%s", r->manifest_name);
        else
            stem(cand->path, name, sizeof name);
        if (err)
            st = refuse(r, err == ENOENT ? SLM_ERR_NOT_FOUND : SLM_ERR_PLUGIN,
                        "%s", err == ENOENT ? "no such file or directory"
                                            : strerror(err));
        else if (!skip_unselected(r, name))
            st = load_one(rt, r, real, isolate);
        if (st == SLM_OK)
            st = append(rt, r);
        if (st != SLM_OK)
            rec_free(r);
    }

    for (uint32_t i = 0; i < n_seen; i++)
        free(seen[i]);
    free(seen);
    cand_free(&c);
    slm__manifests_free(manifests, n_manifests);
    return st;
}

void slm__plugins_unload(slm_runtime_t *rt)
{
    for (uint32_t i = rt->n_plugins; i-- > 0;)
        rec_free((plugin_rec_t *)rt->plugins[i]);
    free(rt->plugins);
    rt->plugins = NULL;
    rt->n_plugins = 0;
}
