/*
** slm-conform -- what a vendor runs on a backend plugin before shipping it:
** every op its devices take, for every dtype, on random inputs of several
** shapes and views, against the scalar reference backend, within the
** bounds of one table (conform_engine.h). Prints a table per device (op x
** dtype: pass, FAIL with the worst error, unsupported), or one JSON
** document with --json.
**
** Plugins are vetted by libslm's own loader first, so a file the runtime
** would refuse is refused here with the same reason and never run.
*/
#include <dlfcn.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <slm/slm.h>

#include "conform_engine.h"

#define MAX_ARGS 64
#define MAX_THREADS 16

static void usage(FILE *f)
{
    fputs(
        "usage: slm-conform [options]\n"
        "\n"
        "Runs every op each device of a backend plugin takes (its supports_node\n"
        "decides), for every dtype, on random inputs of several shapes and views,\n"
        "against the scalar reference backend `cpu`, and prints per device one row\n"
        "per op and dtype: pass, FAIL with the worst error, or unsupported.\n"
        "\n"
        "options:\n"
        "  --plugin NAME|PATH  check this plugin (repeatable): NAME is\n"
        "                      libslm-backend-NAME.so in the backend folder; a path\n"
        "                      (with a '/' or ending in .so) is any plugin file.\n"
        "                      Default: every plugin in the backend folder but the\n"
        "                      reference\n"
        "  --backend-dir DIR   the backend folder, which holds the reference\n"
        "                      (default: slm/backends next to libslm)\n"
        "  --threads N,...     device thread counts to run each check with\n"
        "                      (default: the device's own; 0 is that too)\n"
        "  --group G           run only this group of checks (repeatable; --list)\n"
        "  --require-full      a node the device refuses is a failure, not\n"
        "                      \"unsupported\"\n"
        "  --column C          hold every device to the bounds of column C: strict,\n"
        "                      approx or npu (default: strict for CPU devices with\n"
        "                      host memory, npu for NPUs, which compute matmuls in\n"
        "                      F16 or int8, approx for GPUs and emulations, whose\n"
        "                      exp, sin and cos are approximations; --list shows\n"
        "                      the table)\n"
        "  --strict            the same as --column strict\n"
        "  --set NAME.KEY=VAL  give plugin NAME config key KEY (as [backend.NAME]\n"
        "                      KEY = VAL in slm.ini; repeatable)\n"
        "  --json              print the results as one JSON document\n"
        "  --list              print the groups and the bounds table, run nothing\n"
        "  -v, --verbose       the plugins' log lines to stderr\n"
        "  -h, --help          show this help\n"
        "\n"
        "Results go to stdout, failures and notes to stderr.\n"
        "exit status: 0 when every check passed, 1 when one failed, 2 on a usage\n"
        "error or a plugin that cannot be loaded (the message names the file).\n",
        f);
}

/* ------------------------------------------------------------- arguments */

typedef struct Args {
    const char *backend_dir;       /* NULL: next to libslm */
    const char *plugins[MAX_ARGS];
    int n_plugins;
    uint32_t threads[MAX_THREADS];
    int n_threads;
    const char *groups[MAX_ARGS];
    int n_groups;
    const char *sets[MAX_ARGS];    /* --set NAME.KEY=VALUE */
    int n_sets;
    bool json, list, require_full, verbose;
    ConformColumn column;          /* CONFORM_AUTO unless --column/--strict */
} Args;

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "slm-conform: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(slm-conform --help lists the options)\n");
    return 2;
}

/* "1,2,4" into a->threads; false on anything else. */
static bool parse_threads(const char *s, Args *a)
{
    a->n_threads = 0;
    while (*s) {
        char *end;
        unsigned long n = strtoul(s, &end, 10);
        if (end == s || n > 1024 || a->n_threads == MAX_THREADS || (*end && *end != ','))
            return false;
        a->threads[a->n_threads++] = (uint32_t)n;
        s = *end ? end + 1 : end;
    }
    return a->n_threads > 0;
}

static bool known_group(const char *g)
{
    for (int i = 0; conform_group(i); i++)
        if (strcmp(conform_group(i), g) == 0)
            return true;
    return false;
}

/* 0 when parsed; else the exit status (2, or -1 for --help). */
static int parse_args(int argc, char **argv, Args *a)
{
    a->threads[0] = 0;
    a->n_threads = 1;
    static const char *const with_value[] = {"--backend-dir", "--plugin", "--threads",
                                             "--group", "--column", "--set"};
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        bool more = i + 1 < argc;
        for (size_t k = 0; k < sizeof with_value / sizeof with_value[0] && !more; k++)
            if (strcmp(s, with_value[k]) == 0)
                return usage_error("%s needs a value", s);
        if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
            usage(stdout);
            return -1;
        } else if (strcmp(s, "--json") == 0) {
            a->json = true;
        } else if (strcmp(s, "--list") == 0) {
            a->list = true;
        } else if (strcmp(s, "--strict") == 0) {
            a->column = CONFORM_STRICT;
        } else if (strcmp(s, "--column") == 0) {
            const char *c = argv[++i];
            if (strcmp(c, "strict") == 0)
                a->column = CONFORM_STRICT;
            else if (strcmp(c, "approx") == 0)
                a->column = CONFORM_APPROX;
            else if (strcmp(c, "npu") == 0)
                a->column = CONFORM_NPU;
            else
                return usage_error("--column %s: expected strict, approx or npu", c);
        } else if (strcmp(s, "--set") == 0) {
            const char *v = argv[++i], *dot = strchr(v, '.'), *eq = strchr(v, '=');
            if (!dot || dot == v || !eq || eq < dot + 2 || eq[1] == '\0' ||
                memchr(v, '\n', strlen(v)))
                return usage_error("--set %s: expected NAME.KEY=VALUE", v);
            if (a->n_sets == MAX_ARGS)
                return usage_error("more than 64 settings: %s", v);
            a->sets[a->n_sets++] = v;
        } else if (strcmp(s, "--require-full") == 0) {
            a->require_full = true;
        } else if (strcmp(s, "-v") == 0 || strcmp(s, "--verbose") == 0) {
            a->verbose = true;
        } else if (strcmp(s, "--backend-dir") == 0) {
            a->backend_dir = argv[++i];
        } else if (strcmp(s, "--plugin") == 0) {
            if (a->n_plugins == MAX_ARGS)
                return usage_error("more than 64 plugins: %s", argv[i + 1]);
            a->plugins[a->n_plugins++] = argv[++i];
        } else if (strcmp(s, "--threads") == 0) {
            if (!parse_threads(argv[++i], a))
                return usage_error("--threads %s: give counts from 0 to 1024, like 1,2,4",
                                   argv[i]);
        } else if (strcmp(s, "--group") == 0) {
            if (!known_group(argv[i + 1]))
                return usage_error("no group of checks named '%s' (see --list)", argv[i + 1]);
            if (a->n_groups == MAX_ARGS)
                return usage_error("more than 64 groups: %s", argv[i + 1]);
            a->groups[a->n_groups++] = argv[++i];
        } else {
            return usage_error("unknown argument '%s'", s);
        }
    }
    return 0;
}

/* slm/backends next to libslm, as the runtime finds its own plugins:
** build/lib/slm/backends in a build tree, <libdir>/slm/backends when
** installed. Caller frees. */
static char *default_backend_dir(void)
{
    Dl_info info;
    if (!dladdr((void *)slm_runtime_create, &info) || !info.dli_fname)
        return NULL;
    char *real = realpath(info.dli_fname, NULL);
    if (!real)
        return NULL;
    char *slash = strrchr(real, '/');
    char *dir = NULL;
    if (slash) {
        *slash = '\0';
        size_t n = strlen(real) + sizeof "/" SLM_BACKEND_SUBDIR;
        dir = malloc(n);
        if (dir)
            snprintf(dir, n, "%s/%s", real, SLM_BACKEND_SUBDIR);
    }
    free(real);
    return dir;
}

/* ---------------------------------------------------------------- plugins */

/* A plugin that libslm's loader took, with what the engine needs. */
typedef struct Found {
    char *path;            /* real path, owned */
    char *name;            /* owned */
    uint32_t n_devices;
} Found;

/* A file the loader refused, with its reason. */
typedef struct Refused {
    char *path;            /* owned */
    char *reason;          /* owned */
} Refused;

typedef struct Plugins {
    Found found[MAX_ARGS];
    int n_found;
    Refused refused[MAX_ARGS];
    int n_refused;
} Plugins;

static void plugins_free(Plugins *p)
{
    for (int i = 0; i < p->n_found; i++) {
        free(p->found[i].path);
        free(p->found[i].name);
    }
    for (int i = 0; i < p->n_refused; i++) {
        free(p->refused[i].path);
        free(p->refused[i].reason);
    }
}

static void quiet_log(void *user, int level, const char *msg)
{
    (void)user, (void)level, (void)msg;
}

/* s as a JSON string literal on stdout. */
static void print_json_str(const char *s)
{
    putchar('"');
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\')
            printf("\\%c", *c);
        else if (*c < 0x20)
            printf("\\u%04x", *c);
        else
            putchar(*c);
    }
    putchar('"');
}

/* The --set settings as an slm.ini in a temporary file, so that the
** loader's probe sees the config the checks run with (and refuses a key
** the plugin does not declare). The path goes in buf; false on failure. */
static bool write_settings(const Args *a, char *buf, size_t cap)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(buf, cap, "%s/slm-conform-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(buf);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        if (fd >= 0)
            close(fd);
        fprintf(stderr, "slm-conform: cannot write the --set settings to %s\n", buf);
        return false;
    }
    for (int i = 0; i < a->n_sets; i++) {
        const char *v = a->sets[i], *dot = strchr(v, '.'), *eq = strchr(v, '=');
        fprintf(f, "[backend.%.*s]\n%.*s = %s\n", (int)(dot - v), v,
                (int)(eq - dot - 1), dot + 1, eq + 1);
    }
    return fclose(f) == 0;
}

/* Ask libslm's loader about `paths` (files or folders), with no config but
** the --set settings and no other plugins; collect what it took and report
** what it refused. `skip`: a real path not to check (the reference). 0, or
** 2 when no runtime could be created. */
static int find_plugins(const Args *a, const char *const *paths, uint32_t n,
                        const char *skip, Plugins *out)
{
    /* The runtime here only vets files; a forced device order of the
    ** environment must not make it fail. */
    unsetenv("SLM_BACKEND");
    slm_runtime_opts_t o = SLM_RUNTIME_OPTS_INIT;
    o.flags = SLM_RUNTIME_NO_DEFAULT_PLUGINS | SLM_RUNTIME_NO_DEFAULT_CONFIG;
    o.plugin_paths = paths;
    o.n_plugin_paths = n;
    o.log = quiet_log;
    char settings[512] = "";
    if (a->n_sets) {
        if (!write_settings(a, settings, sizeof settings))
            return 2;
        o.config_path = settings;
    }
    slm_runtime_t *rt;
    slm_status_t created = slm_runtime_create(&o, &rt);
    if (settings[0])
        remove(settings);
    if (created != SLM_OK) {
        fprintf(stderr, "slm-conform: %s\n", slm_last_error());
        return 2;
    }
    int st = 0;
    for (uint32_t i = 0; i < slm_runtime_plugin_count(rt); i++) {
        const slm_plugin_desc_t *d = slm_runtime_plugin(rt, i);
        if (d->state != SLM_PLUGIN_LOADED) {
            fprintf(stderr, "slm-conform: %s: refused: %s\n", d->path, d->reason);
            if (out->n_refused < MAX_ARGS) {
                Refused *r = &out->refused[out->n_refused++];
                r->path = strdup(d->path);
                r->reason = strdup(d->reason);
            }
            continue;
        }
        char *real = realpath(d->path, NULL);
        if (!real || (skip && strcmp(real, skip) == 0) || out->n_found == MAX_ARGS) {
            free(real);
            continue;
        }
        char *name = strdup(d->name);
        if (!name) {
            free(real);
            fprintf(stderr, "slm-conform: out of memory\n");
            st = 2;
            break;
        }
        Found *f = &out->found[out->n_found++];
        f->path = real;
        f->name = name;
        f->n_devices = d->n_devices;
    }
    slm_runtime_destroy(rt);
    return st;
}

/* ------------------------------------------------------------------ rows */

/* One row of a device's table: a key's results over every thread count. */
typedef struct Row {
    const ConformResult *first;  /* key, op, bound */
    int checks, refused, failed;
    double worst;
    const char *first_failure;
} Row;

typedef struct Tally {
    int pass, fail, unsupported, declared_refused, checks;
} Tally;

static const char *row_result(const Row *r)
{
    if (r->failed)
        return "FAIL";
    return r->checks > 0 && r->refused == r->checks ? "unsupported" : "pass";
}

/* The rows of run `run` (-1: the harness) in the order first seen. */
static int rows_of(int run, Row *rows, int cap)
{
    const ConformResult *res;
    int n = conform_results(&res), n_rows = 0;
    for (int i = 0; i < n; i++) {
        if (res[i].run != run)
            continue;
        int k = 0;
        while (k < n_rows && strcmp(rows[k].first->key, res[i].key) != 0)
            k++;
        if (k == n_rows) {
            if (n_rows == cap)
                continue;
            rows[n_rows++] = (Row){.first = &res[i], .worst = -1.0, .first_failure = ""};
        }
        Row *r = &rows[k];
        r->checks += res[i].checks;
        r->refused += res[i].refused;
        r->failed += res[i].failed;
        if (res[i].worst > r->worst)
            r->worst = res[i].worst;
        if (!r->first_failure[0])
            r->first_failure = res[i].first_failure;
    }
    return n_rows;
}

/* Whether the device claims the row's op and dtype in its info. */
static bool declared(const Row *r, const slm_device_info_t *d)
{
    return r->first->op != SLM_OP_NONE && d && (d->ops & SLM_OP_BIT(r->first->op)) &&
           (d->dtypes & SLM_DTYPE_BIT(r->first->dtype));
}

static void tally_row(Tally *t, const Row *r, const slm_device_info_t *d)
{
    const char *res = row_result(r);
    t->checks += r->checks;
    if (strcmp(res, "FAIL") == 0)
        t->fail++;
    else if (strcmp(res, "pass") == 0)
        t->pass++;
    else {
        t->unsupported++;
        t->declared_refused += declared(r, d);
    }
}

/* "1e-10", or "2.5e-06" where one digit would round the bound. */
static void num_bound(char *out, size_t n, double b)
{
    snprintf(out, n, "%.0e", b);
    if (strtod(out, NULL) != b)
        snprintf(out, n, "%.1e", b);
}

static void fmt_bound(char *out, size_t n, double b)
{
    if (b == CONFORM_EXACT)
        snprintf(out, n, "exact");
    else if (b == CONFORM_NO_BOUND)
        snprintf(out, n, "-");
    else
        num_bound(out, n, b);
}

static void fmt_worst(char *out, size_t n, const Row *r)
{
    if (r->worst >= 0 && isfinite(r->worst))
        snprintf(out, n, "%.2g", r->worst);
    else if (r->first->bound == CONFORM_EXACT && r->checks > r->refused)
        snprintf(out, n, "%s", r->failed ? "differs" : "identical");
    else
        snprintf(out, n, "-");
}

/* ------------------------------------------------------------------ text */

static void print_summary_counts(const Tally *t)
{
    printf("%d pass, %d FAIL, %d unsupported", t->pass, t->fail, t->unsupported);
    if (t->declared_refused)
        printf(" (%d declared in info.ops, every node refused)",
               t->declared_refused);
    printf("; %d checks\n", t->checks);
}

static void print_text_device(int r, const Row *rows, int n)
{
    const slm_device_info_t *d = conform_device(r);
    printf("\n%s  %s\n", conform_run_name(r), d->name);
    printf("  plugin  %s\n", conform_run_path(r));
    printf("  device  %s, %s; %s bounds\n", slm_device_kind_name(d->kind),
           d->flags & SLM_DEVICE_FLAG_HOST_MEMORY ? "host memory"
                                                  : "device memory (buffer_write/buffer_read)",
           conform_column_name(conform_column(r)));
    printf("  %-22s %-12s %7s  %-11s %s\n", "op / dtype", "result", "checks", "worst nmse",
           "bound");
    Tally t = {0};
    for (int i = 0; i < n; i++) {
        const Row *row = &rows[i];
        char checks[32], worst[32], bound[16];
        if (row->refused)
            snprintf(checks, sizeof checks, "%d/%d", row->checks - row->refused, row->checks);
        else
            snprintf(checks, sizeof checks, "%d", row->checks);
        fmt_worst(worst, sizeof worst, row);
        fmt_bound(bound, sizeof bound, row->first->bound);
        const char *res = row_result(row);
        bool note = strcmp(res, "unsupported") == 0 && declared(row, d);
        printf("  %-22s %-12s %7s  %-11s ", row->first->key, res, checks, worst);
        if (note)
            printf("%-6s  declared in info.ops\n", bound);
        else
            printf("%s\n", bound);
        tally_row(&t, row, d);
    }
    if (t.fail) {
        printf("  failures (the first of each row):\n");
        for (int i = 0; i < n; i++)
            if (rows[i].failed)
                printf("    %s: %s\n", rows[i].first->key, rows[i].first_failure);
    }
    printf("  %s: ", conform_run_name(r));
    print_summary_counts(&t);
}

/* ------------------------------------------------------------------ json */

static void print_json_number(double v)
{
    if (isfinite(v))
        printf("%.3g", v);
    else
        printf("null");
}

static void print_json_rows(const Row *rows, int n, const slm_device_info_t *d, Tally *t)
{
    printf("[");
    for (int i = 0; i < n; i++) {
        const Row *row = &rows[i];
        printf("%s\n      {\"key\": ", i ? "," : "");
        print_json_str(row->first->key);
        printf(", \"op\": ");
        if (row->first->op != SLM_OP_NONE)
            print_json_str(slm_op_name(row->first->op));
        else
            printf("null");
        printf(", \"result\": \"%s\", \"checks\": %d, \"refused\": %d, \"failed\": %d, "
               "\"worst_nmse\": ", row_result(row), row->checks, row->refused, row->failed);
        if (row->worst >= 0)
            print_json_number(row->worst);
        else
            printf("null");
        printf(", \"bound\": ");
        if (row->first->bound == CONFORM_EXACT)
            printf("\"exact\"");
        else if (row->first->bound == CONFORM_NO_BOUND)
            printf("null");
        else
            print_json_number(row->first->bound);
        printf(", \"declared\": %s, \"first_failure\": ", declared(row, d) ? "true" : "false");
        if (row->failed)
            print_json_str(row->first_failure);
        else
            printf("null");
        printf("}");
        tally_row(t, row, d);
    }
    printf("%s]", n ? "\n    " : "");
}

static void print_json_tally(const Tally *t)
{
    printf("\"pass\": %d, \"fail\": %d, \"unsupported\": %d, \"declared_but_refused\": %d, "
           "\"checks\": %d", t->pass, t->fail, t->unsupported, t->declared_refused, t->checks);
}

/* ------------------------------------------------------------------ list */

static void dtype_list(char *out, size_t n, uint64_t mask)
{
    static const slm_dtype_t all[] = {SLM_DTYPE_F32,  SLM_DTYPE_F16,  SLM_DTYPE_BF16,
                                      SLM_DTYPE_I32,  SLM_DTYPE_Q4_0, SLM_DTYPE_Q8_0,
                                      SLM_DTYPE_Q4_K, SLM_DTYPE_Q6_K};
    if (mask == ~UINT64_C(0)) {
        snprintf(out, n, "all");
        return;
    }
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (mask & SLM_DTYPE_BIT(all[i]) && len < n)
            len += (size_t)snprintf(out + len, n - len, "%s%s", len ? " " : "",
                                    slm_dtype_name(all[i]));
}

static const char *bound_op_name(int op)
{
    return op == CONFORM_CHAIN ? "graph chain" : slm_op_name((slm_op_t)op);
}

/* A bound in JSON: a number or "exact". */
static void print_json_bound(double b)
{
    if (b == CONFORM_EXACT)
        printf("\"exact\"");
    else {
        char num[32];
        num_bound(num, sizeof num, b);
        printf("%s", num);
    }
}

static int print_list(bool json)
{
    const ConformBound *b;
    int n = conform_bounds(&b);
    char dt[96], s[16], a[16], np[16];
    if (json) {
        printf("{\"groups\": [");
        for (int i = 0; conform_group(i); i++)
            printf("%s\"%s\"", i ? ", " : "", conform_group(i));
        printf("],\n \"bounds\": [");
        for (int i = 0; i < n; i++) {
            dtype_list(dt, sizeof dt, b[i].dtypes);
            printf("%s\n  {\"op\": \"%s\", \"dtypes\": \"%s\", ", i ? "," : "",
                   bound_op_name(b[i].op), dt);
            printf("\"strict\": ");
            print_json_bound(b[i].strict);
            printf(", \"approx\": ");
            print_json_bound(b[i].approx);
            printf(", \"npu\": ");
            print_json_bound(b[i].npu);
            printf("}");
        }
        printf("\n]}\n");
        return 0;
    }
    printf("groups of checks (--group):\n ");
    for (int i = 0; conform_group(i); i++)
        printf(" %s", conform_group(i));
    printf("\n\nbounds on nmse = sum((device - ref)^2) / sum(ref^2); exact: identical bytes\n"
           "(strict: CPU devices with host memory; npu: NPU devices; approx: the\n"
           "others; --column chooses one for every device)\n");
    printf("  %-12s %-20s %-7s %-7s %s\n", "op", "dtypes", "strict", "approx", "npu");
    for (int i = 0; i < n; i++) {
        dtype_list(dt, sizeof dt, b[i].dtypes);
        fmt_bound(s, sizeof s, b[i].strict);
        fmt_bound(a, sizeof a, b[i].approx);
        fmt_bound(np, sizeof np, b[i].npu);
        printf("  %-12s %-20s %-7s %-7s %s\n", bound_op_name(b[i].op), dt, s, a, np);
    }
    return 0;
}

/* ------------------------------------------------------------------ main */

static bool verbose;

static void report_line(const char *line)
{
    fprintf(stderr, "slm-conform: %s\n", line);
}

static void plugin_log(const char *plugin, int level, const char *msg)
{
    (void)level;
    if (verbose)
        fprintf(stderr, "slm-conform: [%s] %s\n", plugin, msg);
}

/* A plugin argument as a path: NAME is libslm-backend-NAME.so in dir. */
static char *plugin_path(const char *arg, const char *dir)
{
    size_t n = strlen(arg);
    bool is_path = strchr(arg, '/') || (n > 3 && strcmp(arg + n - 3, ".so") == 0);
    size_t cap = strlen(dir) + n + 32;
    char *p = malloc(cap);
    if (p && is_path)
        snprintf(p, cap, "%s", arg);
    else if (p)
        snprintf(p, cap, "%s/libslm-backend-%s.so", dir, arg);
    return p;
}

enum { MAX_ROWS = 256 };
static Row rows[MAX_ROWS];

/* The counts of every device's rows and of the harness's failures. */
static Tally tally_all(int n_runs)
{
    Tally all = {0};
    for (int r = -1; r < n_runs && n_runs > 0; r++) {
        int n = rows_of(r, rows, MAX_ROWS);
        for (int i = 0; i < n; i++)
            tally_row(&all, &rows[i], conform_device(r));
    }
    return all;
}

static void print_json(const Args *a, const char *reference, const Plugins *pl, int n_runs,
                       const Tally *all, int status)
{
    printf("{\"tool\": \"slm-conform\", \"reference\": ");
    print_json_str(reference);
    printf(", \"threads\": [");
    for (int t = 0; t < a->n_threads; t++)
        printf("%s%u", t ? ", " : "", (unsigned)a->threads[t]);
    printf("],\n \"devices\": [");
    for (int r = 0; r < n_runs; r++) {
        const slm_device_info_t *d = conform_device(r);
        int n = rows_of(r, rows, MAX_ROWS);
        Tally t = {0};
        printf("%s\n  {\"id\": ", r ? "," : "");
        print_json_str(conform_run_name(r));
        printf(", \"path\": ");
        print_json_str(conform_run_path(r));
        printf(", \"name\": ");
        print_json_str(d->name);
        printf(", \"kind\": \"%s\", \"host_memory\": %s, \"bounds\": \"%s\", "
               "\"full_coverage\": %s,\n    \"rows\": ",
               slm_device_kind_name(d->kind),
               d->flags & SLM_DEVICE_FLAG_HOST_MEMORY ? "true" : "false",
               conform_column_name(conform_column(r)),
               a->require_full ? "true" : "false");
        print_json_rows(rows, n, d, &t);
        printf(",\n    ");
        print_json_tally(&t);
        printf("}");
    }
    printf("],\n \"no_device\": [");
    int k = 0;
    for (int i = 0; i < pl->n_found; i++)
        if (pl->found[i].n_devices == 0) {
            printf("%s", k++ ? ", " : "");
            print_json_str(pl->found[i].path);
        }
    printf("],\n \"refused\": [");
    for (int i = 0; i < pl->n_refused; i++) {
        printf("%s{\"path\": ", i ? ", " : "");
        print_json_str(pl->refused[i].path ? pl->refused[i].path : "");
        printf(", \"reason\": ");
        print_json_str(pl->refused[i].reason ? pl->refused[i].reason : "");
        printf("}");
    }
    printf("],\n \"harness\": ");
    Tally h = {0};
    print_json_rows(rows, n_runs > 0 ? rows_of(-1, rows, MAX_ROWS) : 0, NULL, &h);
    printf(",\n ");
    print_json_tally(all);
    printf(", \"exit\": %d}\n", status);
}

static void print_text(const Args *a, const char *reference, const Plugins *pl, int n_runs,
                       const Tally *all)
{
    printf("slm-conform: reference %s; threads", reference);
    for (int t = 0; t < a->n_threads; t++)
        if (a->threads[t])
            printf(" %u", (unsigned)a->threads[t]);
        else
            printf(" default");
    printf("\n");
    for (int r = 0; r < n_runs; r++)
        print_text_device(r, rows, rows_of(r, rows, MAX_ROWS));
    int n_harness = n_runs > 0 ? rows_of(-1, rows, MAX_ROWS) : 0;
    for (int i = 0; i < n_harness; i++)
        printf("\nharness: %s: %s\n", rows[i].first->key, rows[i].first_failure);
    printf("\nslm-conform: %d device%s checked: ", n_runs, n_runs == 1 ? "" : "s");
    print_summary_counts(all);
    if (pl->n_refused)
        printf("slm-conform: %d plugin%s refused (see stderr)\n", pl->n_refused,
               pl->n_refused == 1 ? "" : "s");
}

/* Check every device of the plugins found and print the results; the exit
** status. */
static int run_checks(const Args *a, const char *dir, const char *reference,
                      const Plugins *pl)
{
    ConformRun runs[MAX_ARGS];
    int n_runs = 0;
    for (int i = 0; i < pl->n_found; i++) {
        if (pl->found[i].n_devices == 0)
            fprintf(stderr, "slm-conform: %s (%s): no device on this machine; nothing to "
                    "check\n", pl->found[i].name, pl->found[i].path);
        for (uint32_t d = 0; d < pl->found[i].n_devices && n_runs < MAX_ARGS; d++)
            runs[n_runs++] = (ConformRun){
                .plugin = pl->found[i].path,
                .device = d,
                .full_coverage = a->require_full,
                .column = a->column,
            };
    }
    if (n_runs > 0) {
        ConformOptions o = {
            .backend_dir = dir,
            .runs = runs,
            .n_runs = n_runs,
            .threads = a->threads,
            .n_threads = a->n_threads,
            .report = report_line,
            .log = plugin_log,
            .config = a->sets,
            .n_config = a->n_sets,
        };
        if (conform_setup(&o) != 0)
            return 2;
        for (int g = 0; g < (a->n_groups ? a->n_groups : conform_n_groups()); g++)
            conform_run_group(a->n_groups ? a->groups[g] : conform_group(g));
    }
    Tally all = tally_all(n_runs);
    int status = pl->n_refused ? 2 : all.fail ? 1 : 0;
    if (a->json)
        print_json(a, reference, pl, n_runs, &all, status);
    else
        print_text(a, reference, pl, n_runs, &all);
    if (n_runs > 0)
        conform_teardown();
    return status;
}

int main(int argc, char **argv)
{
    Args a = {0};
    int st = parse_args(argc, argv, &a);
    if (st != 0)
        return st < 0 ? 0 : st;
    if (a.list)
        return print_list(a.json);
    verbose = a.verbose;

    char *own_dir = a.backend_dir ? NULL : default_backend_dir();
    const char *dir = a.backend_dir ? a.backend_dir : own_dir;
    if (!dir) {
        fprintf(stderr, "slm-conform: cannot find the folder next to libslm; give "
                        "--backend-dir\n");
        return 2;
    }
    char ref_file[PATH_MAX + 64];
    snprintf(ref_file, sizeof ref_file, "%s/libslm-backend-cpu.so", dir);
    char *reference = realpath(ref_file, NULL);
    if (!reference) {
        fprintf(stderr, "slm-conform: %s: the reference backend is missing (--backend-dir "
                        "names the folder that holds it)\n", ref_file);
        free(own_dir);
        return 2;
    }

    const char *paths[MAX_ARGS];
    char *owned[MAX_ARGS];
    uint32_t n_paths = 0;
    st = 0;
    for (int i = 0; i < a.n_plugins; i++) {
        owned[i] = plugin_path(a.plugins[i], dir);
        if (!owned[i])
            st = 2;
        paths[n_paths++] = owned[i] ? owned[i] : "";
    }
    if (a.n_plugins == 0)
        paths[n_paths++] = dir;
    Plugins pl = {0};
    if (st == 0)
        st = find_plugins(&a, paths, n_paths, a.n_plugins ? NULL : reference, &pl);
    if (st == 0)
        st = run_checks(&a, dir, reference, &pl);
    plugins_free(&pl);
    for (int i = 0; i < a.n_plugins; i++)
        free(owned[i]);
    free(reference);
    free(own_dir);
    return st;
}
