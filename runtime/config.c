/*
** config.c -- slm.ini: finding it, reading it with inih, checking it.
**
** inih hands its callback no line numbers and only returns the line of the
** first error. Every message here must name a line, so the text is fed to
** ini_parse_stream through a reader that counts lines: the handler then
** knows the line of the key it is looking at, and [backend.NAME] keys keep
** theirs for the check made once the plugin is loaded.
*/
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <ini.h>

#include "runtime_internal.h"

#define CONFIG_MAX_BYTES (1u << 20)
#define THREADS_MAX 4096u

/* The [runtime] keys:
**   plugin_path  ':'-separated plugin files or folders, relative to the file
**   backends     ','-separated devices to put first, in that order
**   deny         ','-separated devices never to use
**   threads      CPU worker threads, 0 = each device's default
**   log_level    error | warn | info | debug
**   fallback     on | off (default): a graph a device fails is run again
**                without that device (see README, Configuration)
**   isolate_probe on (default) | off: probe each plugin in a child process
**                first (see README, How plugins are found) */
enum { KEY_PLUGIN_PATH, KEY_BACKENDS, KEY_DENY, KEY_THREADS, KEY_LOG_LEVEL,
       KEY_FALLBACK, KEY_ISOLATE_PROBE, N_KEYS };

static const char *const RUNTIME_KEYS[N_KEYS] = {
    "plugin_path", "backends", "deny", "threads", "log_level", "fallback",
    "isolate_probe"
};
#define KNOWN_KEYS "plugin_path, backends, deny, threads, log_level, fallback, " \
                   "isolate_probe"
#define KNOWN_SECTIONS "[runtime], [backend.NAME]"
#define NAME_RULE "1 to 31 of a-z 0-9 _ -"

static const char *const LOG_LEVELS[] = { "error", "warn", "info", "debug" };

typedef struct parser {
    slm__config_t *c;
    const char *name;             /* the file as messages name it */
    const char *dir;              /* its folder, for relative plugin_path */
    const char *text;             /* whole text */
    const char *pos;              /* next line for the reader */
    int line;                     /* line last handed to inih */
    int key_line[N_KEYS];         /* where each [runtime] key was set */
    int err_line;                 /* first error found here; 0: none */
    slm_status_t err_status;
    char err[768];
} parser_t;

/* ---------------------------------------------------------------- helpers */

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '\f' ||
           ch == '\v';
}

bool slm__config_name_ok(const char *name, size_t len)
{
    if (len == 0 || len > 31)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

void slm__config_list_free(char **items, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        free(items[i]);
    free(items);
}

slm_status_t slm__config_split(const char *s, char sep, char ***out_items,
                               uint32_t *out_n)
{
    *out_items = NULL;
    *out_n = 0;
    while (is_blank(*s))
        s++;
    if (!*s)
        return SLM_OK;
    uint32_t cap = 1;
    for (const char *q = s; *q; q++)
        cap += *q == sep;
    char **items = calloc(cap, sizeof *items);
    if (!items)
        return slm__error(SLM_ERR_NO_MEMORY, "out of memory reading a list");
    uint32_t n = 0;
    for (const char *q = s;;) {
        const char *end = strchr(q, sep);
        const char *stop = end ? end : q + strlen(q);
        const char *b = q, *e = stop;
        while (b < e && is_blank(*b))
            b++;
        while (e > b && is_blank(e[-1]))
            e--;
        if (b == e) {
            slm__config_list_free(items, n);
            return SLM_ERR_CONFIG;
        }
        items[n] = strndup(b, (size_t)(e - b));
        if (!items[n]) {
            slm__config_list_free(items, n);
            return slm__error(SLM_ERR_NO_MEMORY, "out of memory reading a list");
        }
        n++;
        if (!end)
            break;
        q = end + 1;
    }
    *out_items = items;
    *out_n = n;
    return SLM_OK;
}

bool slm__config_parse_selector(const char *s, char out_name[32], int *out_index)
{
    const char *colon = strchr(s, ':');
    size_t len = colon ? (size_t)(colon - s) : strlen(s);
    if (!slm__config_name_ok(s, len))
        return false;
    int index = -1;
    if (colon) {
        const char *d = colon + 1;
        if (!*d)
            return false;
        index = 0;
        for (; *d; d++) {
            if (*d < '0' || *d > '9')
                return false;
            index = index * 10 + (*d - '0');
            if (index >= SLM_MAX_DEVICES_PER_PLUGIN)
                return false;
        }
    }
    memcpy(out_name, s, len);
    out_name[len] = '\0';
    *out_index = index;
    return true;
}

/* ---------------------------------------------------------------- parsing */

/* Record the first error; the "FILE:LINE: " prefix is added at the end.
** Returns 0, inih's "error" answer, so that handlers can return it. */
static int fail_at(parser_t *p, int line, slm_status_t status,
                   const char *fmt, ...) SLM__PRINTF(4, 5);

static int fail_at(parser_t *p, int line, slm_status_t status,
                   const char *fmt, ...)
{
    if (p->err_line)
        return 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, sizeof p->err, fmt, ap);
    va_end(ap);
    p->err_line = line;
    p->err_status = status;
    return 0;
}

#define FAIL(p, ...) fail_at((p), (p)->line, SLM_ERR_CONFIG, __VA_ARGS__)
#define FAIL_NOMEM(p) fail_at((p), (p)->line, SLM_ERR_NO_MEMORY, "out of memory")

typedef enum { SECTION_NONE, SECTION_BAD, SECTION_RUNTIME, SECTION_BACKEND } section_kind_t;

static section_kind_t section_kind(parser_t *p, const char *section, size_t len)
{
    static const char prefix[] = "backend.";
    const size_t plen = sizeof prefix - 1;
    if (len == 7 && memcmp(section, "runtime", 7) == 0)
        return SECTION_RUNTIME;
    if (len > plen && memcmp(section, prefix, plen) == 0) {
        if (slm__config_name_ok(section + plen, len - plen))
            return SECTION_BACKEND;
        FAIL(p, "section [%.*s]: '%.*s' is not a backend name (" NAME_RULE ")",
             (int)len, section, (int)(len - plen), section + plen);
        return SECTION_BAD;
    }
    FAIL(p, "unknown section [%.*s] (known: " KNOWN_SECTIONS ")", (int)len,
         section);
    return SECTION_BAD;
}

/* One line per call. Leading blanks are dropped: inih would read an
** indented line as the continuation of the previous value, and slm.ini has
** no multi-line values, so indentation is only indentation. Section headers
** are checked here because inih calls the handler for keys only, and an
** empty [gpu] section is as wrong as a full one. */
static char *read_line(char *str, int num, void *stream)
{
    parser_t *p = stream;
    if (!*p->pos)
        return NULL;
    const char *start = p->pos;
    const char *nl = strchr(start, '\n');
    size_t len = nl ? (size_t)(nl - start) + 1 : strlen(start);
    p->pos = start + len;
    p->line++;
    if (p->line == 1 && len >= 3 && memcmp(start, "\xEF\xBB\xBF", 3) == 0) {
        start += 3;
        len -= 3;
    }
    while (len > 0 && (*start == ' ' || *start == '\t')) {
        start++;
        len--;
    }
    if (len + 1 > (size_t)num) {
        fail_at(p, p->line, SLM_ERR_CONFIG, "line longer than %d characters",
                num - 2);
        snprintf(str, (size_t)num, "\n");
        return str;
    }
    memcpy(str, start, len);
    str[len] = '\0';
    if (str[0] == '[') {
        const char *close = strchr(str, ']');
        if (close)
            section_kind(p, str + 1, (size_t)(close - str - 1));
    }
    return str;
}

static bool is_relative(const char *path)
{
    return path[0] != '/';
}

static int set_list(parser_t *p, int key, const char *value, char sep,
                    char ***items, uint32_t *n)
{
    slm_status_t st = slm__config_split(value, sep, items, n);
    if (st == SLM_ERR_CONFIG)
        return FAIL(p, "[runtime] %s = '%s': empty item in the '%c'-separated "
                    "list", RUNTIME_KEYS[key], value, sep);
    if (st != SLM_OK)
        return FAIL_NOMEM(p);
    if (key == KEY_PLUGIN_PATH) {
        for (uint32_t i = 0; p->dir && i < *n; i++) {
            if (!is_relative((*items)[i]))
                continue;
            char *abs = NULL;
            if (asprintf(&abs, "%s/%s", p->dir, (*items)[i]) < 0)
                return FAIL_NOMEM(p);
            free((*items)[i]);
            (*items)[i] = abs;
        }
        return 1;
    }
    for (uint32_t i = 0; i < *n; i++) {
        char name[32];
        int index;
        if (!slm__config_parse_selector((*items)[i], name, &index))
            return FAIL(p, "[runtime] %s = '%s': item '%s' is not a backend "
                        "name or name:index (" NAME_RULE ", index below %d)",
                        RUNTIME_KEYS[key], value, (*items)[i],
                        SLM_MAX_DEVICES_PER_PLUGIN);
    }
    return 1;
}

static int runtime_key(parser_t *p, const char *key, const char *value)
{
    int k = 0;
    while (k < N_KEYS && strcmp(key, RUNTIME_KEYS[k]) != 0)
        k++;
    if (k == N_KEYS)
        return FAIL(p, "[runtime] key '%s': unknown key (known: " KNOWN_KEYS ")",
                    key);
    if (p->key_line[k])
        return FAIL(p, "[runtime] key '%s': duplicate key (first set on line %d)",
                    key, p->key_line[k]);
    p->key_line[k] = p->line;

    slm__config_t *c = p->c;
    switch (k) {
    case KEY_PLUGIN_PATH:
        return set_list(p, k, value, ':', &c->plugin_path, &c->n_plugin_path);
    case KEY_BACKENDS:
        return set_list(p, k, value, ',', &c->backends, &c->n_backends);
    case KEY_DENY:
        return set_list(p, k, value, ',', &c->deny, &c->n_deny);
    case KEY_THREADS: {
        unsigned long v = 0;
        const char *d = value;
        for (; *d >= '0' && *d <= '9'; d++) {
            v = v * 10 + (unsigned long)(*d - '0');
            if (v > THREADS_MAX)
                break;
        }
        if (d == value || (*d && !(*d >= '0' && *d <= '9')))
            return FAIL(p, "[runtime] threads = '%s': not a non-negative integer",
                        value);
        if (v > THREADS_MAX)
            return FAIL(p, "[runtime] threads = '%s': out of range (0 to %u)",
                        value, THREADS_MAX);
        c->threads = (uint32_t)v;
        c->has_threads = true;
        return 1;
    }
    case KEY_FALLBACK:
        if (strcmp(value, "on") != 0 && strcmp(value, "off") != 0)
            return FAIL(p, "[runtime] fallback = '%s': not on or off", value);
        c->fallback = strcmp(value, "on") == 0;
        return 1;
    case KEY_ISOLATE_PROBE:
        if (strcmp(value, "on") != 0 && strcmp(value, "off") != 0)
            return FAIL(p, "[runtime] isolate_probe = '%s': not on or off", value);
        c->no_isolation = strcmp(value, "off") == 0;
        return 1;
    default: /* KEY_LOG_LEVEL */
        for (int l = 0; l < (int)(sizeof LOG_LEVELS / sizeof *LOG_LEVELS); l++) {
            if (strcmp(value, LOG_LEVELS[l]) == 0) {
                c->log_level = l;
                c->has_log_level = true;
                return 1;
            }
        }
        return FAIL(p, "[runtime] log_level = '%s': not one of error, warn, "
                    "info, debug", value);
    }
}

static int backend_key(parser_t *p, const char *backend, const char *key,
                       const char *value)
{
    slm__config_t *c = p->c;
    for (uint32_t i = 0; i < c->n_entries; i++) {
        const slm__config_entry_t *e = &c->entries[i];
        if (strcmp(e->backend, backend) == 0 && strcmp(e->key, key) == 0)
            return FAIL(p, "[backend.%s] key '%s': duplicate key (first set on "
                        "line %d)", backend, key, e->line);
    }
    slm__config_entry_t *v = realloc(c->entries, (c->n_entries + 1) * sizeof *v);
    if (!v)
        return FAIL_NOMEM(p);
    c->entries = v;
    slm__config_entry_t *e = &v[c->n_entries];
    e->backend = strdup(backend);
    e->key = strdup(key);
    e->value = strdup(value);
    e->line = p->line;
    c->n_entries++; /* counted even when partly filled, so that free sees it */
    if (!e->backend || !e->key || !e->value)
        return FAIL_NOMEM(p);
    return 1;
}

static int on_key(void *user, const char *section, const char *key,
                  const char *value)
{
    parser_t *p = user;
    if (p->err_line)
        return 1; /* the first error is the one reported */
    if (!section[0])
        return FAIL(p, "key '%s' outside any section (known: " KNOWN_SECTIONS ")",
                    key);
    switch (section_kind(p, section, strlen(section))) {
    case SECTION_RUNTIME:
        return runtime_key(p, key, value);
    case SECTION_BACKEND:
        return backend_key(p, section + strlen("backend."), key, value);
    default:
        return 0;
    }
}

/* The text of line `line` (1-based), trimmed, for a syntax error. */
static void line_text(const char *text, int line, char *buf, size_t n)
{
    for (int l = 1; l < line && text; l++) {
        text = strchr(text, '\n');
        if (text)
            text++;
    }
    buf[0] = '\0';
    if (!text)
        return;
    while (*text == ' ' || *text == '\t')
        text++;
    size_t len = strcspn(text, "\r\n");
    if (len > 60)
        len = 60;
    snprintf(buf, n, "%.*s", (int)len, text);
}

static slm_status_t parse(const char *text, const char *name, const char *dir,
                          slm__config_t *out)
{
    memset(out, 0, sizeof *out);
    parser_t p;
    memset(&p, 0, sizeof p);
    p.c = out;
    p.name = name;
    p.dir = dir;
    p.text = p.pos = text;

    int ret = ini_parse_stream(read_line, &p, on_key, &p);
    slm_status_t st = SLM_OK;
    if (ret == -2) {
        st = slm__error(SLM_ERR_NO_MEMORY, "%s: out of memory", name);
    } else if (ret > 0 && (!p.err_line || ret < p.err_line)) {
        char shown[64];
        line_text(text, ret, shown, sizeof shown);
        st = slm__error(SLM_ERR_CONFIG,
                        "%s:%d: syntax error in '%s': expected '[section]' or "
                        "'key = value'", name, ret, shown);
    } else if (p.err_line) {
        st = slm__error(p.err_status, "%s:%d: %s", name, p.err_line, p.err);
    } else if (ret != 0) {
        st = slm__error(SLM_ERR_CONFIG, "%s: cannot parse (inih error %d)", name,
                        ret);
    }
    if (st == SLM_OK) {
        out->path = strdup(name);
        if (!out->path)
            st = slm__error(SLM_ERR_NO_MEMORY, "%s: out of memory", name);
    }
    if (st != SLM_OK)
        slm__config_free(out);
    return st;
}

/* ------------------------------------------------------------------- API */

slm_status_t slm__config_load_string(const char *text, const char *name,
                                     slm__config_t *out)
{
    if (!name)
        name = "<string>";
    if (!text) {
        memset(out, 0, sizeof *out);
        return slm__error(SLM_ERR_INVALID_ARG, "%s: no config text", name);
    }
    return parse(text, name, NULL, out);
}

slm_status_t slm__config_load(const char *path, slm__config_t *out)
{
    memset(out, 0, sizeof *out);
    if (!path)
        return SLM_OK;
    FILE *f = fopen(path, "rb");
    if (!f)
        return slm__error(SLM_ERR_CONFIG, "%s: cannot open config file: %s",
                          path, strerror(errno));
    char *text = malloc(CONFIG_MAX_BYTES + 1);
    if (!text) {
        fclose(f);
        return slm__error(SLM_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    size_t n = fread(text, 1, CONFIG_MAX_BYTES + 1, f);
    int read_errno = ferror(f) ? errno : 0;
    fclose(f);
    slm_status_t st = SLM_OK;
    if (read_errno)
        st = slm__error(SLM_ERR_CONFIG, "%s: cannot read config file: %s", path,
                        strerror(read_errno));
    else if (n > CONFIG_MAX_BYTES)
        st = slm__error(SLM_ERR_CONFIG, "%s: larger than %u bytes: not a config "
                        "file", path, CONFIG_MAX_BYTES);
    else if (memchr(text, '\0', n))
        st = slm__error(SLM_ERR_CONFIG, "%s: contains a NUL byte: not a text "
                        "file", path);
    if (st != SLM_OK) {
        free(text);
        return st;
    }
    text[n] = '\0';

    /* A relative plugin_path is relative to the file that names it, as a
    ** path in /etc/slm/slm.ini cannot mean the application's working folder. */
    char *dir = NULL;
    const char *slash = strrchr(path, '/');
    if (slash) {
        dir = strndup(path, slash == path ? 1 : (size_t)(slash - path));
        if (!dir) {
            free(text);
            return slm__error(SLM_ERR_NO_MEMORY, "%s: out of memory", path);
        }
    }
    st = parse(text, path, dir, out);
    free(dir);
    free(text);
    return st;
}

void slm__config_free(slm__config_t *c)
{
    if (!c)
        return;
    free(c->path);
    slm__config_list_free(c->plugin_path, c->n_plugin_path);
    slm__config_list_free(c->backends, c->n_backends);
    slm__config_list_free(c->deny, c->n_deny);
    for (uint32_t i = 0; i < c->n_entries; i++) {
        free(c->entries[i].backend);
        free(c->entries[i].key);
        free(c->entries[i].value);
    }
    free(c->entries);
    memset(c, 0, sizeof *c);
}

/* ------------------------------------------------------------ finding it */

static slm_status_t must_exist(const char *path, const char *what,
                               char **out_path)
{
    struct stat sb;
    if (!path[0])
        return slm__error(SLM_ERR_CONFIG, "%s: empty path", what);
    if (stat(path, &sb) != 0)
        return slm__error(SLM_ERR_CONFIG, "%s %s: cannot open config file: %s",
                          what, path, strerror(errno));
    if (S_ISDIR(sb.st_mode))
        return slm__error(SLM_ERR_CONFIG, "%s %s: is a directory, not a config "
                          "file", what, path);
    *out_path = strdup(path);
    return *out_path ? SLM_OK
                     : slm__error(SLM_ERR_NO_MEMORY, "out of memory finding the config");
}

static bool is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && !S_ISDIR(sb.st_mode);
}

slm_status_t slm__config_find(const char *explicit_path, bool search,
                              char **out_path)
{
    *out_path = NULL;
    if (explicit_path)
        return must_exist(explicit_path, "config", out_path);
    if (!search)
        return SLM_OK;
    const char *env = getenv("SLM_CONFIG");
    if (env && env[0])
        return must_exist(env, "SLM_CONFIG", out_path);

    char *user = NULL;
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    int w = 0;
    if (xdg && xdg[0])
        w = asprintf(&user, "%s/slm/slm.ini", xdg);
    else if (home && home[0])
        w = asprintf(&user, "%s/.config/slm/slm.ini", home);
    if (w < 0)
        return slm__error(SLM_ERR_NO_MEMORY, "out of memory finding the config");

    const char *places[] = { "slm.ini", user, "/etc/slm/slm.ini" };
    slm_status_t st = SLM_OK;
    for (size_t i = 0; i < sizeof places / sizeof *places; i++) {
        if (places[i] && is_file(places[i])) {
            *out_path = strdup(places[i]);
            if (!*out_path)
                st = slm__error(SLM_ERR_NO_MEMORY, "out of memory finding the config");
            break;
        }
    }
    free(user);
    return st;
}

/* ----------------------------------------------------- backend sections */

slm_status_t slm__config_check_backend(const slm__config_t *c,
                                       const char *name,
                                       const slm_config_key_t *keys,
                                       uint32_t n_keys)
{
    for (uint32_t i = 0; i < c->n_entries; i++) {
        const slm__config_entry_t *e = &c->entries[i];
        if (strcmp(e->backend, name) != 0)
            continue;
        bool known = false;
        for (uint32_t k = 0; k < n_keys && !known; k++)
            known = keys[k].name && strcmp(keys[k].name, e->key) == 0;
        if (known)
            continue;

        char list[512];
        size_t used = 0;
        list[0] = '\0';
        for (uint32_t k = 0; k < n_keys && used < sizeof list; k++) {
            if (!keys[k].name)
                continue;
            int wr = snprintf(list + used, sizeof list - used, "%s%s",
                              used ? ", " : "", keys[k].name);
            if (wr < 0)
                break;
            used += (size_t)wr;
        }
        const char *file = c->path ? c->path : "config";
        if (!list[0])
            return slm__error(SLM_ERR_CONFIG,
                              "%s:%d: [backend.%s] key '%s': unknown key (plugin "
                              "'%s' accepts no keys)",
                              file, e->line, name, e->key, name);
        return slm__error(SLM_ERR_CONFIG,
                          "%s:%d: [backend.%s] key '%s': unknown key (known: %s)",
                          file, e->line, name, e->key, list);
    }
    return SLM_OK;
}

const char *slm__config_backend_get(const slm__config_t *c, const char *name,
                                    const char *key)
{
    for (uint32_t i = 0; i < c->n_entries; i++) {
        const slm__config_entry_t *e = &c->entries[i];
        if (strcmp(e->backend, name) == 0 && strcmp(e->key, key) == 0)
            return e->value;
    }
    return NULL;
}
