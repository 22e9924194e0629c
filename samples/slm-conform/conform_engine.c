/*
** conform_engine.c -- the conformance engine of conform_engine.h: plugins,
** the bounds table, twin tensors in both backends (with a host shadow where
** the device's memory is not host-addressable), the comparison, and the
** groups of checks.
**
** Plain C11 and POSIX (dlopen), no test framework: it is compiled into
** slm-conform, into a cmocka test on the build machine and into a bare
** driver for targets that lack cmocka. A failed comparison is recorded and
** reported, and the group goes on; only a broken harness (a plugin call
** that must not fail, memory) abandons the rest of a group.
*/
#include <dlfcn.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conform_engine.h"

#define EXACT CONFORM_EXACT

#define MAX_TENSORS 4096
#define MAX_PLUGINS 32
#define MAX_RUNS 64

/* ----------------------------------------------------------------- bounds */

#define FLOATS (SLM_DTYPE_BIT(SLM_DTYPE_F32) | SLM_DTYPE_BIT(SLM_DTYPE_F16) | \
                SLM_DTYPE_BIT(SLM_DTYPE_BF16))
#define QUANTS (SLM_DTYPE_BIT(SLM_DTYPE_Q4_0) | SLM_DTYPE_BIT(SLM_DTYPE_Q8_0) | \
                SLM_DTYPE_BIT(SLM_DTYPE_Q4_K) | SLM_DTYPE_BIT(SLM_DTYPE_Q6_K))
#define ANY (~UINT64_C(0))

/* The one table of bounds; conform_engine.h says why each is what it is.
** The first row that matches an op and dtype applies. */
#define F32_ SLM_DTYPE_BIT(SLM_DTYPE_F32)
#define F16_ SLM_DTYPE_BIT(SLM_DTYPE_F16)
#define BF16_ SLM_DTYPE_BIT(SLM_DTYPE_BF16)
static const ConformBound bounds[] = {
    /* op                  dtypes  strict  approx  npu */
    {SLM_OP_ADD,           ANY,    1e-10,  1e-10,  1e-10},
    {SLM_OP_MUL,           ANY,    1e-10,  1e-10,  1e-10},
    {SLM_OP_DIV,           ANY,    1e-10,  1e-10,  1e-10},
    {SLM_OP_SCALE,         ANY,    1e-10,  1e-10,  1e-10},
    {SLM_OP_RMS_NORM,      ANY,    1e-10,  1e-10,  1e-10},
    {SLM_OP_SUM_ROWS,      ANY,    1e-10,  1e-10,  1e-10},
    {SLM_OP_SILU,          ANY,    1e-10,  1e-5,   1e-5},
    {SLM_OP_GELU,          ANY,    1e-10,  1e-5,   1e-5},
    {SLM_OP_TANH,          ANY,    1e-10,  1e-5,   1e-5},
    {SLM_OP_SWIGLU,        ANY,    1e-10,  1e-5,   1e-5},
    {SLM_OP_GEGLU,         ANY,    1e-10,  1e-5,   1e-5},
    {SLM_OP_SOFTMAX,       ANY,    1e-6,   1e-5,   1e-5},
    {SLM_OP_ROPE,          ANY,    1e-6,   1e-5,   1e-5},
    {SLM_OP_MUL_MAT,       F32_,   1e-10,  1e-10,  5e-6},
    {SLM_OP_MUL_MAT,       F16_,   1e-10,  1e-10,  2e-6},
    {SLM_OP_MUL_MAT,       BF16_,  1e-10,  1e-10,  1e-4},
    {SLM_OP_MUL_MAT,       QUANTS, 1e-9,   1e-9,   2e-3},
    {SLM_OP_MUL_MAT_ID,    F32_,   1e-10,  1e-10,  5e-6},
    {SLM_OP_MUL_MAT_ID,    F16_,   1e-10,  1e-10,  2e-6},
    {SLM_OP_MUL_MAT_ID,    BF16_,  1e-10,  1e-10,  1e-4},
    {SLM_OP_MUL_MAT_ID,    QUANTS, 1e-9,   1e-9,   2e-3},
    {CONFORM_CHAIN,        QUANTS, 5e-4,   5e-4,   4e-3},
    {SLM_OP_GET_ROWS,      ANY,    EXACT,  EXACT,  EXACT},
    {SLM_OP_SET_ROWS,      ANY,    EXACT,  EXACT,  EXACT},
    {SLM_OP_COPY,          ANY,    EXACT,  EXACT,  EXACT},
    {SLM_OP_ARGSORT,       ANY,    EXACT,  EXACT,  EXACT},
    {SLM_OP_TOP_K,         ANY,    EXACT,  EXACT,  EXACT},
};

int conform_bounds(const ConformBound **out)
{
    *out = bounds;
    return (int)(sizeof bounds / sizeof bounds[0]);
}

/* ---------------------------------------------------------------- plugins */

typedef struct Plugin {
    char spec[512];        /* as the run names it */
    char path[512];        /* the file loaded */
    slm_host_t host;       /* its own, so that its log lines name it */
    void *so;
    const slm_backend_t *be;
    void *dev;             /* the device open now, or NULL */
    uint32_t n_devices;
    slm_device_info_t infos[SLM_MAX_DEVICES_PER_PLUGIN];
} Plugin;

typedef struct Env {
    ConformOptions opts;
    char error[512];       /* the last set_error of any plugin */
    char log[256];         /* the last log line of a plugin under test */
    Plugin ref;
    Plugin plugins[MAX_PLUGINS];
    int n_plugins;
    int run_plugin[MAX_RUNS];
    char run_names[MAX_RUNS][96];
    bool noted[MAX_RUNS];  /* its device_open log line was reported */
    Plugin *cur;           /* the plugin under test, device open */
    int run;               /* its run; -1 between devices */
    int32_t threads;       /* its device's thread count; -1: no device */
    const char *off_key;   /* the run's key set to "off" */
    ConformColumn column;  /* the bounds the run is held to */
    bool host_memory;      /* the device's buffers are host-addressable */
    bool contract;         /* the group checks the in-tree contract only */
    uint64_t rng;
    const char *group;
    jmp_buf *abandon;      /* where a broken harness goes */
} Env;

static Env env = {.run = -1, .threads = -1};

static ConformResult *results;
static int n_results, cap_results;

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (env.opts.report)
        env.opts.report(line);
}

/* The result for `key` on the current run and thread count. */
static ConformResult *result_for(const char *key)
{
    for (int i = 0; i < n_results; i++)
        if (results[i].run == env.run && results[i].threads == env.threads &&
            strcmp(results[i].key, key) == 0)
            return &results[i];
    /* Out of memory for one more result: count in a scratch entry rather
    ** than lose the harness. */
    static ConformResult overflow;
    if (n_results == cap_results) {
        int cap = cap_results ? 2 * cap_results : 256;
        ConformResult *v = realloc(results, (size_t)cap * sizeof *v);
        if (!v)
            return &overflow;
        results = v;
        cap_results = cap;
    }
    ConformResult *r = &results[n_results++];
    memset(r, 0, sizeof *r);
    snprintf(r->key, sizeof r->key, "%s", key);
    r->op = SLM_OP_NONE;
    r->run = env.run;
    r->threads = env.threads;
    r->bound = CONFORM_NO_BOUND;
    r->worst = -1.0;
    return r;
}

static const char *where(void)
{
    static char buf[160];
    if (env.run < 0)
        return "harness";
    if (env.threads < 0)
        return conform_run_name(env.run);
    if (env.threads == 0)
        snprintf(buf, sizeof buf, "%s, default threads", conform_run_name(env.run));
    else
        snprintf(buf, sizeof buf, "%s, %d thread%s", conform_run_name(env.run),
                 (int)env.threads, env.threads == 1 ? "" : "s");
    return buf;
}

static void vfail(const char *key, const char *fmt, va_list ap)
{
    char msg[768];
    vsnprintf(msg, sizeof msg, fmt, ap);
    ConformResult *r = result_for(key);
    r->failed++;
    if (!r->first_failure[0]) { /* the first words say what and where */
        size_t n = strnlen(msg, sizeof r->first_failure - 1);
        memcpy(r->first_failure, msg, n);
        r->first_failure[n] = '\0';
    }
    report("FAIL %s (%s): %s", key, where(), msg);
}

/* A failure within the check under way (counted by begin). */
static void fail(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(key, fmt, ap);
    va_end(ap);
}

/* The harness itself failed: report, count a failure of the group, and
** leave the group. */
static void abandon(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void abandon(const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char key[48];
    snprintf(key, sizeof key, "%s (harness)", env.group);
    result_for(key)->checks++;
    fail(key, "%s; the rest of the group is skipped", msg);
    longjmp(*env.abandon, 1);
}

#define REQUIRE(c)                                                            \
    do {                                                                      \
        if (!(c))                                                             \
            abandon("%s:%d: %s", __FILE__, __LINE__, #c);                     \
    } while (0)

#define REQUIRE_OK(call)                                                      \
    do {                                                                      \
        slm_status_t st_ = (call);                                            \
        if (st_ != SLM_OK)                                                    \
            abandon("%s:%d: %s returned %d: %s", __FILE__, __LINE__, #call,   \
                    (int)st_, env.error);                                     \
    } while (0)

/* A check of `op` on a src0 of dtype `dt` starts, held to `bound`. */
static void begin(const char *key, slm_op_t op, slm_dtype_t dt, double bound)
{
    ConformResult *r = result_for(key);
    r->op = op;
    r->dtype = dt;
    r->bound = bound;
    r->checks++;
}

/* One whole check that needs no comparison. */
static bool expect(const char *key, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool expect(const char *key, bool ok, const char *fmt, ...)
{
    begin(key, SLM_OP_NONE, SLM_DTYPE_F32, CONFORM_NO_BOUND);
    if (ok)
        return true;
    va_list ap;
    va_start(ap, fmt);
    vfail(key, fmt, ap);
    va_end(ap);
    return false;
}

/* The bound of `op` on keys of dtype `dt` in the current run's column. */
static double bound_of(int op, slm_dtype_t dt)
{
    for (size_t i = 0; i < sizeof bounds / sizeof bounds[0]; i++)
        if (bounds[i].op == op && (bounds[i].dtypes & SLM_DTYPE_BIT(dt)))
            return env.column == CONFORM_NPU ? bounds[i].npu
                 : env.column == CONFORM_APPROX ? bounds[i].approx : bounds[i].strict;
    abandon("no bound for %s %s", op == CONFORM_CHAIN ? "chain" : slm_op_name((slm_op_t)op),
            slm_dtype_name(dt));
}

static void host_set_error(void *ctx, const char *msg)
{
    (void)ctx;
    snprintf(env.error, sizeof env.error, "%s", msg ? msg : "");
}

static void host_log(void *ctx, int level, const char *msg)
{
    const Plugin *p = ctx;
    if (p == &env.ref)
        return;
    snprintf(env.log, sizeof env.log, "%s", msg ? msg : "");
    if (env.opts.log)
        env.opts.log(p->be ? p->be->name : p->path, level, env.log);
}

static const char *host_config_get(void *ctx, const char *key)
{
    const Plugin *p = ctx;
    if (p == &env.ref || !key)
        return NULL;
    if (env.off_key && strcmp(key, env.off_key) == 0)
        return "off";
    size_t nlen = p->be && p->be->name ? strlen(p->be->name) : 0, klen = strlen(key);
    for (int i = 0; nlen && i < env.opts.n_config; i++) {
        const char *s = env.opts.config[i];
        if (strncmp(s, p->be->name, nlen) == 0 && s[nlen] == '.' &&
            strncmp(s + nlen + 1, key, klen) == 0 && s[nlen + 1 + klen] == '=')
            return s + nlen + 2 + klen;
    }
    return NULL;
}

/* The first required slot of `be` that is NULL, or NULL. */
static const char *missing_slot(const slm_backend_t *be)
{
#define SLOT(s) if (!be->s) return #s;
    SLOT(probe) SLOT(device_open) SLOT(device_close) SLOT(buffer_alloc) SLOT(buffer_free)
    SLOT(buffer_write) SLOT(buffer_read) SLOT(supports_node) SLOT(graph_compute)
#undef SLOT
    return NULL;
}

/* Load, check, initialise and probe one plugin, named as a run names it;
** the reason, naming the file, on failure. The descriptor is checked as
** the runtime's loader checks it before any slot is called, so that a
** broken plugin is refused instead of crashing the engine. */
static const char *load_plugin(Plugin *p, const char *spec)
{
    static char why[2048]; /* a path, a plugin's message and words */
    bool by_name = strchr(spec, '/') == NULL;
    snprintf(p->spec, sizeof p->spec, "%s", spec);
    if (by_name)
        snprintf(p->path, sizeof p->path, "%s/libslm-backend-%s.so", env.opts.backend_dir, spec);
    else
        snprintf(p->path, sizeof p->path, "%s", spec);
    p->host = (slm_host_t){
        .abi_major = SLM_BACKEND_ABI_MAJOR,
        .abi_minor = SLM_BACKEND_ABI_MINOR,
        .struct_size = sizeof(slm_host_t),
        .ctx = p,
        .log = host_log,
        .set_error = host_set_error,
        .config_get = host_config_get,
    };
    p->so = dlopen(p->path, RTLD_NOW | RTLD_LOCAL);
    if (!p->so) {
        snprintf(why, sizeof why, "%s", dlerror());
        return why;
    }
    const char *path = p->path;
    void *sym = dlsym(p->so, SLM_PLUGIN_ENTRY_NAME);
    if (!sym) {
        snprintf(why, sizeof why, "%s: no " SLM_PLUGIN_ENTRY_NAME
                 " symbol: not an slm backend plugin", path);
        return why;
    }
    slm_plugin_init_fn init;
    memcpy(&init, &sym, sizeof init); /* object to function pointer */
    env.error[0] = '\0';
    const slm_backend_t *be = NULL;
    slm_status_t st = init(&p->host, &be);
    if (st != SLM_OK || !be) {
        snprintf(why, sizeof why, "%s: " SLM_PLUGIN_ENTRY_NAME " failed (%d): %s", path,
                 (int)st, env.error[0] ? env.error : "no descriptor");
        return why;
    }
    const char *slot = NULL;
    if (be->abi_major != SLM_BACKEND_ABI_MAJOR || be->abi_minor > SLM_BACKEND_ABI_MINOR)
        snprintf(why, sizeof why, "%s: built for plugin ABI %u.%u; this host has %u.%u", path,
                 (unsigned)be->abi_major, (unsigned)be->abi_minor, (unsigned)SLM_BACKEND_ABI_MAJOR,
                 (unsigned)SLM_BACKEND_ABI_MINOR);
    else if (be->struct_size < SLM_BACKEND_SIZE_1_0)
        snprintf(why, sizeof why, "%s: descriptor struct_size %u is smaller than ABI 1.0's %zu",
                 path, (unsigned)be->struct_size, (size_t)SLM_BACKEND_SIZE_1_0);
    else if (!be->name || !be->name[0])
        snprintf(why, sizeof why, "%s: descriptor has no name", path);
    else if ((slot = missing_slot(be)) != NULL)
        snprintf(why, sizeof why, "%s: required slot %s is NULL", path, slot);
    else if (by_name && strcmp(be->name, spec) != 0)
        snprintf(why, sizeof why, "%s: descriptor is named '%.64s', not '%s'", path, be->name,
                 spec);
    else
        why[0] = '\0';
    if (why[0])
        return why;
    p->be = be;
    memset(p->infos, 0, sizeof p->infos);
    for (int i = 0; i < SLM_MAX_DEVICES_PER_PLUGIN; i++)
        p->infos[i].struct_size = sizeof p->infos[i];
    env.error[0] = '\0';
    p->n_devices = 0;
    st = be->probe(p->infos, SLM_MAX_DEVICES_PER_PLUGIN, &p->n_devices);
    if (st != SLM_OK) {
        snprintf(why, sizeof why, "%s: probe failed (%d): %s", path, (int)st, env.error);
        return why;
    }
    if (p->n_devices > SLM_MAX_DEVICES_PER_PLUGIN)
        p->n_devices = SLM_MAX_DEVICES_PER_PLUGIN;
    for (uint32_t i = 0; i < p->n_devices; i++) { /* strings end inside their arrays */
        slm_device_info_t *d = &p->infos[i];
        d->name[sizeof d->name - 1] = d->vendor[sizeof d->vendor - 1] = '\0';
        d->driver[sizeof d->driver - 1] = d->features[sizeof d->features - 1] = '\0';
    }
    return NULL;
}

/* Whether the space-separated list has `word`. */
static bool has_word(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; (p = strstr(p, word)) != NULL; p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return true;
    return false;
}

int conform_setup(const ConformOptions *opts)
{
    conform_teardown();
    memset(&env, 0, sizeof env);
    env.run = -1;
    env.threads = -1;
    n_results = 0;
    env.opts = *opts;
    if (opts->n_runs < 1 || opts->n_runs > MAX_RUNS || opts->n_threads < 1) {
        report("conform: %d runs (1 to %d) and %d thread counts", opts->n_runs, MAX_RUNS,
               opts->n_threads);
        return -1;
    }
    const char *why = load_plugin(&env.ref, "cpu");
    if (!why && (env.ref.n_devices < 1 || !(env.ref.infos[0].flags & SLM_DEVICE_FLAG_HOST_MEMORY)))
        why = "the reference cpu has no device with host memory";
    if (!why && env.ref.be->device_open(0, NULL, &env.ref.dev) != SLM_OK)
        why = env.error;
    for (int r = 0; r < opts->n_runs && !why; r++) {
        const ConformRun *run = &opts->runs[r];
        int p = 0;
        while (p < env.n_plugins && strcmp(env.plugins[p].spec, run->plugin) != 0)
            p++;
        if (p == env.n_plugins) {
            if (p == MAX_PLUGINS) {
                why = "too many plugins";
                break;
            }
            why = load_plugin(&env.plugins[p], run->plugin);
            env.n_plugins++;
        }
        env.run_plugin[r] = p;
        const Plugin *pl = &env.plugins[p];
        if (why)
            break;
        int n = snprintf(env.run_names[r], sizeof env.run_names[r], "%s:%u", pl->be->name,
                         (unsigned)run->device);
        if (run->off_key && n > 0 && (size_t)n < sizeof env.run_names[r])
            snprintf(env.run_names[r] + n, sizeof env.run_names[r] - (size_t)n, " %s=off",
                     run->off_key);
        if (run->device >= pl->n_devices)
            report("note: %s: no such device on this machine (%u found); its conformance "
                   "is skipped", conform_run_name(r), (unsigned)pl->n_devices);
        else if (run->only_with && !has_word(pl->infos[run->device].features, run->only_with))
            report("note: %s: this device has no %s; the run is skipped", conform_run_name(r),
                   run->only_with);
    }
    if (why) {
        report("conform: %s", why);
        conform_teardown();
        return -1;
    }
    return 0;
}

void conform_teardown(void)
{
    if (env.ref.dev)
        env.ref.be->device_close(env.ref.dev);
    if (env.ref.so)
        dlclose(env.ref.so);
    for (int p = 0; p < env.n_plugins; p++)
        if (env.plugins[p].so)
            dlclose(env.plugins[p].so);
    memset(&env.ref, 0, sizeof env.ref);
    env.n_plugins = 0;
}

const slm_device_info_t *conform_device(int r)
{
    if (r < 0 || r >= env.opts.n_runs || env.run_plugin[r] >= env.n_plugins)
        return NULL;
    const ConformRun *run = &env.opts.runs[r];
    const Plugin *p = &env.plugins[env.run_plugin[r]];
    if (!p->be || run->device >= p->n_devices)
        return NULL;
    const slm_device_info_t *d = &p->infos[run->device];
    return run->only_with && !has_word(d->features, run->only_with) ? NULL : d;
}

ConformColumn conform_column(int r)
{
    ConformColumn c = env.opts.runs[r].column;
    if (c != CONFORM_AUTO)
        return c;
    /* A CPU plugin: a CPU device computing in host memory, natively. */
    const slm_device_info_t *d = conform_device(r);
    bool cpu = d && d->kind == SLM_DEVICE_CPU && (d->flags & SLM_DEVICE_FLAG_HOST_MEMORY) &&
               !(d->flags & SLM_DEVICE_FLAG_EMULATED);
    if (d && d->kind == SLM_DEVICE_NPU)
        return CONFORM_NPU;
    return cpu || !d ? CONFORM_STRICT : CONFORM_APPROX;
}

const char *conform_column_name(ConformColumn c)
{
    switch (c) {
    case CONFORM_STRICT: return "strict";
    case CONFORM_APPROX: return "approx";
    case CONFORM_NPU: return "npu";
    default: return "auto";
    }
}

const char *conform_run_name(int r)
{
    return r >= 0 && r < env.opts.n_runs && env.run_names[r][0] ? env.run_names[r]
                                                                 : env.opts.runs[r].plugin;
}

const char *conform_run_path(int r)
{
    return env.plugins[env.run_plugin[r]].path;
}

int conform_results(const ConformResult **out)
{
    *out = results;
    return n_results;
}

/* Open run r's device with n threads; false when the device is absent, or
** the group checks the in-tree contract and the run is another plugin. */
static bool open_run(int r, uint32_t n)
{
    const ConformRun *run = &env.opts.runs[r];
    const slm_device_info_t *info = conform_device(r);
    if (!info || (env.contract && !run->label))
        return false;
    Plugin *p = &env.plugins[env.run_plugin[r]];
    env.run = r;
    env.threads = (int32_t)n;
    env.off_key = run->off_key;
    env.column = conform_column(r);
    env.host_memory = (info->flags & SLM_DEVICE_FLAG_HOST_MEMORY) != 0;
    env.log[0] = '\0';
    env.error[0] = '\0';
    slm_device_open_opts_t o = {.struct_size = sizeof o, .n_threads = n};
    REQUIRE_OK(p->be->device_open(run->device, &o, &p->dev));
    env.cur = p;
    if (!env.noted[r] && env.log[0]) { /* which kernels it picked */
        report("note: %s: %s", conform_run_name(r), env.log);
        env.noted[r] = true;
    }
    env.rng = 0x9E3779B97F4A7C15ull ^ (uint64_t)(r * 131 + (int)n);
    return true;
}

static void close_run(void);

/* Run the body once per (run, thread count) whose device is present. */
#define FOR_EACH_DEVICE(...)                                                  \
    for (int r_ = 0; r_ < env.opts.n_runs; r_++)                              \
        for (int t_ = 0; t_ < env.opts.n_threads; t_++) {                     \
            if (!open_run(r_, env.opts.threads[t_]))                          \
                continue;                                                     \
            __VA_ARGS__;                                                      \
            close_run();                                                      \
        }

/* xorshift64 */
static uint32_t rnd(void)
{
    env.rng ^= env.rng << 13;
    env.rng ^= env.rng >> 7;
    env.rng ^= env.rng << 17;
    return (uint32_t)(env.rng >> 32);
}

static double frand(void) { return rnd() / 4294967295.0 * 2.0 - 1.0; }

/* ---------------------------------------------------------------- tensors */

/* The same tensor in both backends: same shape, strides and bytes. */
typedef struct Twin {
    slm_tensor_t r;        /* in the reference's buffer */
    slm_tensor_t s;        /* in the device's buffer, as the device sees it */
    /* s as the engine reads and writes it: data in the device's memory, or
    ** in the shadow when the host cannot address that */
    slm_tensor_t h;
    size_t size;           /* buffer bytes */
    unsigned char *shadow; /* host copy of the device's buffer, or NULL */
} Twin;

static Twin *twins[MAX_TENSORS];
static int n_twins;

static void close_run(void)
{
    for (int i = 0; i < n_twins; i++) {
        env.ref.be->buffer_free(env.ref.dev, twins[i]->r.buffer);
        env.cur->be->buffer_free(env.cur->dev, twins[i]->s.buffer);
        free(twins[i]->shadow);
        free(twins[i]);
    }
    n_twins = 0;
    env.cur->be->device_close(env.cur->dev);
    env.cur->dev = NULL;
    env.cur = NULL;
    env.run = -1;
    env.threads = -1;
    env.off_key = NULL;
}

/* Byte 0 of the buffer of x, as the engine addresses it. */
static unsigned char *base_of(const slm_tensor_t *x)
{
    return (unsigned char *)x->data - x->offset;
}

static const int ID[4] = {0, 1, 2, 3};
static const int T01[4] = {1, 0, 2, 3};
static const int T12[4] = {0, 2, 1, 3};

/* A tensor [n0, n1, n2, n3] whose dimension perm[0] is innermost in
** memory, then perm[1], ...; each dimension has `pad` slots of slack and
** the data starts `pad` units in. The buffer starts as 0xCD bytes. */
static Twin *layout(slm_dtype_t dt, int64_t n0, int64_t n1, int64_t n2, int64_t n3,
                    const int perm[4], int64_t pad)
{
    REQUIRE(n_twins < MAX_TENSORS);
    Twin *tw = calloc(1, sizeof *tw);
    REQUIRE(tw != NULL);
    twins[n_twins++] = tw;
    slm_tensor_t *x = &tw->r;
    int64_t be = slm_dtype_block_elems(dt);
    size_t unit = slm_dtype_block_bytes(dt);
    int64_t count[4] = {n0 / be, n1, n2, n3};
    x->dtype = dt;
    x->ne[0] = n0, x->ne[1] = n1, x->ne[2] = n2, x->ne[3] = n3;
    size_t stride = unit;
    for (int k = 0; k < 4; k++) {
        x->nb[perm[k]] = stride;
        stride *= (size_t)(count[perm[k]] + pad);
    }
    x->offset = (size_t)pad * unit;
    tw->size = x->offset + stride;
    snprintf(x->name, sizeof x->name, "t%d", n_twins - 1);
    tw->s = tw->r;
    void *base;
    REQUIRE_OK(env.ref.be->buffer_alloc(env.ref.dev, tw->size, SLM_BUFFER_ACTIVATIONS,
                                        &tw->r.buffer, &base));
    REQUIRE(base != NULL);
    memset(base, 0xCD, tw->size);
    tw->r.data = (char *)base + x->offset;
    base = NULL;
    REQUIRE_OK(env.cur->be->buffer_alloc(env.cur->dev, tw->size, SLM_BUFFER_ACTIVATIONS,
                                         &tw->s.buffer, &base));
    if (env.host_memory) {
        if (!base)
            abandon("buffer_alloc(%zu bytes) gave no host address, though the device has "
                    "SLM_DEVICE_FLAG_HOST_MEMORY", tw->size);
        tw->s.data = (char *)base + x->offset;
        tw->h = tw->s;
    } else {
        /* graph.h: data is NULL in a buffer the host cannot address */
        tw->shadow = malloc(tw->size);
        REQUIRE(tw->shadow != NULL);
        tw->h = tw->s;
        tw->h.data = tw->shadow + x->offset;
    }
    memset(base_of(&tw->h), 0xCD, tw->size);
    return tw;
}

static Twin *tensor(slm_dtype_t dt, int64_t n0, int64_t n1, int64_t n2, int64_t n3)
{
    return layout(dt, n0, n1, n2, n3, ID, 0);
}

/* Mark a matmul's weight as the runtime marks a model's: SLM_TENSOR_WEIGHT
** (constant model data; NPU plugins claim only such matmuls). The
** attention cases' K and V are a cache, not weights, and stay unmarked. */
static Twin *weight(Twin *t)
{
    t->r.flags |= SLM_TENSOR_WEIGHT;
    t->s.flags |= SLM_TENSOR_WEIGHT;
    t->h.flags |= SLM_TENSOR_WEIGHT;
    return t;
}

/* The twin whose device tensor is s (every device tensor is one's). */
static Twin *twin_of(const slm_tensor_t *s)
{
    return (Twin *)((char *)s - offsetof(Twin, s));
}

static char *addr(const slm_tensor_t *x, int64_t i0, int64_t i1, int64_t i2, int64_t i3)
{
    return (char *)x->data + i0 * (int64_t)x->nb[0] + i1 * (int64_t)x->nb[1] +
           i2 * (int64_t)x->nb[2] + i3 * (int64_t)x->nb[3];
}

/* The device copy takes the reference's bytes, padding included. */
static void sync_twin(Twin *t)
{
    memcpy(base_of(&t->h), base_of(&t->r), t->size);
}
#define FOR4(x)                                        \
    for (int64_t i3 = 0; i3 < (x)->ne[3]; i3++)        \
        for (int64_t i2 = 0; i2 < (x)->ne[2]; i2++)    \
            for (int64_t i1 = 0; i1 < (x)->ne[1]; i1++) \
                for (int64_t i0 = 0; i0 < (x)->ne[0]; i0++)

static double getf(const slm_tensor_t *x, int64_t i0, int64_t i1, int64_t i2, int64_t i3)
{
    const char *p = addr(x, i0, i1, i2, i3);
    uint16_t h;
    float f;
    switch (x->dtype) {
    case SLM_DTYPE_F32: memcpy(&f, p, 4); return f;
    case SLM_DTYPE_F16: memcpy(&h, p, 2); return slm_f16_to_f32(h);
    case SLM_DTYPE_BF16: memcpy(&h, p, 2); return slm_bf16_to_f32(h);
    default: abandon("getf on %s", slm_dtype_name(x->dtype));
    }
}

static void setf(const slm_tensor_t *x, int64_t i0, int64_t i1, int64_t i2, int64_t i3,
                 double v)
{
    char *p = addr(x, i0, i1, i2, i3);
    float f = (float)v;
    uint16_t h;
    switch (x->dtype) {
    case SLM_DTYPE_F32: memcpy(p, &f, 4); break;
    case SLM_DTYPE_F16: h = slm_f32_to_f16(f); memcpy(p, &h, 2); break;
    case SLM_DTYPE_BF16: h = slm_f32_to_bf16(f); memcpy(p, &h, 2); break;
    default: abandon("setf on %s", slm_dtype_name(x->dtype));
    }
}

/* Uniform in [lo, hi]; for a block type, random blocks with sane scales. */
static Twin *fill(Twin *t, double lo, double hi)
{
    slm_tensor_t *x = &t->r;
    if (!slm_dtype_is_quantized(x->dtype)) {
        FOR4(x) setf(x, i0, i1, i2, i3, lo + (hi - lo) * (frand() + 1.0) / 2.0);
        sync_twin(t);
        return t;
    }
    size_t bytes = slm_dtype_block_bytes(x->dtype);
    int64_t blocks = x->ne[0] / slm_dtype_block_elems(x->dtype);
    for (int64_t i3 = 0; i3 < x->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < x->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < x->ne[1]; i1++)
                for (int64_t b = 0; b < blocks; b++) {
                    uint8_t *p = (uint8_t *)addr(x, b, i1, i2, i3);
                    for (size_t k = 0; k < bytes; k++)
                        p[k] = (uint8_t)rnd();
                    /* every quant pattern is valid; scales must be finite */
                    uint16_t d = slm_f32_to_f16((float)(0.01 + 0.05 * (frand() + 1.0)));
                    uint16_t dm = slm_f32_to_f16((float)(0.005 + 0.01 * (frand() + 1.0)));
                    switch (x->dtype) {
                    case SLM_DTYPE_Q4_K:
                        memcpy(p, &d, 2);
                        memcpy(p + 2, &dm, 2);
                        break;
                    case SLM_DTYPE_Q6_K:
                        memcpy(p + 208, &d, 2);
                        break;
                    default:
                        memcpy(p, &d, 2);
                        break;
                    }
                }
    sync_twin(t);
    return t;
}

/* Distinct-enough ids in [0, n) (random, repeats allowed when `repeats`). */
static Twin *fill_ids(Twin *t, int64_t n, bool repeats)
{
    slm_tensor_t *x = &t->r;
    int64_t k = 0, count = x->ne[0] * x->ne[1] * x->ne[2] * x->ne[3];
    int64_t start = rnd() % n;
    REQUIRE(repeats || count <= n);
    FOR4(x) {
        int32_t id = (int32_t)(repeats ? rnd() % n : (start + k * 7) % n);
        memcpy(addr(x, i0, i1, i2, i3), &id, 4);
        k++;
    }
    sync_twin(t);
    return t;
}

/* ---------------------------------------------------------------- running */

typedef struct Spec {
    slm_op_t op;
    Twin *dst;
    Twin *src[SLM_MAX_SRC];
    int32_t ip[SLM_MAX_PARAMS];
    float fp[SLM_MAX_PARAMS];
} Spec;

static slm_node_t node_of(const Spec *sp, bool device)
{
    slm_node_t n;
    memset(&n, 0, sizeof n);
    n.op = sp->op;
    n.dst = device ? &sp->dst->s : &sp->dst->r;
    for (int i = 0; i < SLM_MAX_SRC; i++)
        n.src[i] = sp->src[i] ? (device ? &sp->src[i]->s : &sp->src[i]->r) : NULL;
    memcpy(n.iparams, sp->ip, sizeof n.iparams);
    memcpy(n.fparams, sp->fp, sizeof n.fparams);
    return n;
}

/* Results are kept per op and the dtypes that select its code: the
** weight's for matmuls and GET_ROWS, source and destination for COPY and
** SET_ROWS. */
static void key_of(const Spec *sp, char *key, size_t cap)
{
    const char *op = slm_op_name(sp->op);
    const slm_tensor_t *s0 = &sp->src[0]->r, *d = &sp->dst->r;
    switch (sp->op) {
    case SLM_OP_MUL_MAT:
    case SLM_OP_MUL_MAT_ID:
    case SLM_OP_GET_ROWS:
        snprintf(key, cap, "%s %s", op, slm_dtype_name(s0->dtype));
        break;
    case SLM_OP_COPY:
    case SLM_OP_SET_ROWS:
        snprintf(key, cap, "%s %s->%s", op, slm_dtype_name(s0->dtype), slm_dtype_name(d->dtype));
        break;
    default:
        snprintf(key, cap, "%s", op);
        break;
    }
}

/* Mark the bytes of every element (block) of x in `mask`. */
static void mark_elements(const slm_tensor_t *x, uint8_t *mask)
{
    const char *base = (const char *)x->data - x->offset;
    size_t size = slm_dtype_block_bytes(x->dtype);
    int64_t blocks = x->ne[0] / slm_dtype_block_elems(x->dtype);
    for (int64_t i3 = 0; i3 < x->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < x->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < x->ne[1]; i1++)
                for (int64_t b = 0; b < blocks; b++)
                    memset(mask + (addr(x, b, i1, i2, i3) - base), 1, size);
}

/* supports_node of `be` as the runtime asks it: the node's tensors have no
** buffer yet (backend.h), so the answer cannot depend on where they live. */
static bool asks_supports(const slm_backend_t *be, void *dev, const slm_node_t *node)
{
    slm_tensor_t t[1 + SLM_MAX_SRC];
    slm_node_t n = *node;
    for (int i = 0; i <= SLM_MAX_SRC; i++) {
        const slm_tensor_t *x = i == 0 ? node->dst : node->src[i - 1];
        if (!x)
            continue;
        t[i] = *x;
        t[i].buffer = NULL;
        t[i].data = NULL;
        t[i].offset = 0;
        if (i == 0)
            n.dst = &t[0];
        else
            n.src[i - 1] = &t[i];
    }
    return be->supports_node(dev, &n);
}

/* Whether the device takes every node; a refusal is recorded under key (a
** failure when the run requires full coverage). */
static bool accepted(const char *key, const char *what, const slm_node_t *sn, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        if (asks_supports(env.cur->be, env.cur->dev, &sn[i]))
            continue;
        result_for(key)->refused++;
        if (env.opts.runs[env.run].full_coverage)
            fail(key, "%s: supports_node refused %s, which the reference runs", what,
                 slm_op_name(sn[i].op));
        return false;
    }
    return true;
}

/* Upload every tensor of a node to a device without host memory. */
static slm_status_t upload(const slm_node_t *node)
{
    for (int i = 0; i <= SLM_MAX_SRC; i++) {
        const slm_tensor_t *x = i == 0 ? node->dst : node->src[i - 1];
        if (!x)
            continue;
        Twin *tw = twin_of(x);
        slm_status_t st = env.cur->be->buffer_write(env.cur->dev, tw->s.buffer, 0, tw->shadow,
                                                    tw->size);
        if (st != SLM_OK)
            return st;
    }
    return SLM_OK;
}

/* Run the nodes on the device under test as the runtime would: inputs
** uploaded where the host cannot address its memory, the graph computed
** and synchronised, destinations downloaded. *step names what failed. */
static slm_status_t device_compute(slm_node_t *sn, uint32_t n, const char **step)
{
    const slm_backend_t *be = env.cur->be;
    slm_status_t st = SLM_OK;
    *step = "buffer_write";
    for (uint32_t i = 0; i < n && st == SLM_OK && !env.host_memory; i++)
        st = upload(&sn[i]);
    if (st != SLM_OK)
        return st;
    slm_graph_t g = {n, sn};
    *step = "graph_compute";
    st = be->graph_compute(env.cur->dev, &g);
    if (st == SLM_OK && be->synchronize) {
        *step = "synchronize";
        st = be->synchronize(env.cur->dev);
    }
    *step = "buffer_read";
    for (uint32_t i = 0; i < n && st == SLM_OK && !env.host_memory; i++) {
        Twin *tw = twin_of(sn[i].dst);
        st = be->buffer_read(env.cur->dev, tw->s.buffer, 0, tw->shadow, tw->size);
    }
    return st;
}

/* Both backends run the nodes; false (a failure of the check under key)
** when the device fails. */
static bool compute_both(const char *key, slm_node_t *rn, slm_node_t *sn, uint32_t n)
{
    slm_graph_t g = {n, rn};
    env.error[0] = '\0';
    REQUIRE_OK(env.ref.be->graph_compute(env.ref.dev, &g));
    const char *step;
    slm_status_t st = device_compute(sn, n, &step);
    if (st != SLM_OK)
        fail(key, "%s (%s) failed (%d): %s", step, slm_op_name(sn[0].op), (int)st, env.error);
    return st == SLM_OK;
}

/* Why dst of both backends differ, or NULL: exact (tol < 0) or within
** nmse <= tol; bytes that are no element's must agree exactly. Equal
** infinities agree; a NaN fails unless `nan_ok` and the reference has a NaN
** at the same element. Such elements are left out of the nmse. *nmse gets
** the error (-1 when compared exactly). */
static const char *differ(const Twin *t, double tol, bool nan_ok, double *nmse_out)
{
    static char why[512];
    const uint8_t *rb = base_of(&t->r), *sb = base_of(&t->h);
    *nmse_out = -1.0;
    if (tol < 0) {
        for (size_t i = 0; i < t->size; i++)
            if (rb[i] != sb[i]) {
                snprintf(why, sizeof why, "byte %zu of %zu differs: %02x, reference %02x", i,
                         t->size, sb[i], rb[i]);
                return why;
            }
        return NULL;
    }
    uint8_t *mask = calloc(t->size, 1);
    REQUIRE(mask != NULL);
    mark_elements(&t->r, mask);
    for (size_t i = 0; i < t->size; i++)
        if (!mask[i] && rb[i] != sb[i]) {
            free(mask);
            snprintf(why, sizeof why, "byte %zu outside the elements was written", i);
            return why;
        }
    free(mask);
    double num = 0.0, den = 0.0;
    const slm_tensor_t *r = &t->r, *s = &t->h;
    FOR4(r) {
        double a = getf(r, i0, i1, i2, i3), b = getf(s, i0, i1, i2, i3);
        /* An NPU does not quantise activations: where the reference's NaN
        ** block scale gives NaN, its sum with an infinity may be one. */
        if ((isinf(a) && a == b) || (nan_ok && isnan(a) && isnan(b)) ||
            (nan_ok && env.column == CONFORM_NPU && isnan(a) && isinf(b)))
            continue;
        if (isnan(b) || isnan(a)) {
            snprintf(why, sizeof why, "NaN at [%lld, %lld, %lld, %lld]: %g, reference %g",
                     (long long)i0, (long long)i1, (long long)i2, (long long)i3, b, a);
            return why;
        }
        num += (a - b) * (a - b);
        den += a * a;
    }
    double nmse = den > 0.0 ? num / den : num;
    *nmse_out = nmse;
    if (nmse <= tol)
        return NULL;
    double worst = -1.0, got = 0.0, want = 0.0;
    int64_t wi[4] = {0, 0, 0, 0};
    FOR4(r) {
        double a = getf(r, i0, i1, i2, i3), b = getf(s, i0, i1, i2, i3);
        if (fabs(a - b) > worst) {
            worst = fabs(a - b), got = b, want = a;
            wi[0] = i0, wi[1] = i1, wi[2] = i2, wi[3] = i3;
        }
    }
    snprintf(why, sizeof why,
             "nmse %.3g above %.3g; worst at [%lld, %lld, %lld, %lld]: %.6g, reference %.6g",
             nmse, tol, (long long)wi[0], (long long)wi[1], (long long)wi[2], (long long)wi[3],
             got, want);
    return why;
}

/* Compare dst within the check under way, naming the case `what` on
** failure. */
static void compare(const char *key, const char *what, const Twin *t, double tol, bool nan_ok)
{
    double nmse;
    const char *why = differ(t, tol, nan_ok, &nmse);
    ConformResult *r = result_for(key);
    if (nmse > r->worst)
        r->worst = nmse;
    if (why)
        fail(key, "%s: %s", what, why);
}

/* The reference runs the node; else the test itself is wrong. */
static void reference_runs(const char *what, const slm_node_t *rn)
{
    if (!asks_supports(env.ref.be, env.ref.dev, rn))
        abandon("%s: the reference refuses the test's node", what);
}

/* Run one spec's node on both backends, where the device takes it, and
** compare its destination within the bound of its op and dtype. */
static void check_spec(const char *what, const Spec *sp, bool nan_ok)
{
    char key[48];
    key_of(sp, key, sizeof key);
    double bound = bound_of(sp->op, sp->src[0]->r.dtype);
    slm_node_t rn = node_of(sp, false), sn = node_of(sp, true);
    reference_runs(what, &rn);
    begin(key, sp->op, sp->src[0]->r.dtype, bound);
    if (!accepted(key, what, &sn, 1) || !compute_both(key, &rn, &sn, 1))
        return;
    compare(key, what, sp->dst, bound, nan_ok);
}

static void check(const char *what, const Spec *sp)
{
    check_spec(what, sp, false);
}

/* ------------------------------------------------------ probe, devices */

/* Buffers of an open device: bytes written come back, at 0 and within;
** a host address exactly when the device says its memory has one. The
** in-tree contract adds alignment, a refused read past the end and
** wrapped host memory. */
static void check_buffers(const slm_backend_t *be, void *dev, bool host, bool contract)
{
    void *buf = NULL, *base = NULL;
    env.error[0] = '\0';
    slm_status_t st = be->buffer_alloc(dev, 100, SLM_BUFFER_WEIGHTS, &buf, &base);
    if (!expect("buffers", st == SLM_OK, "buffer_alloc(100 bytes) failed (%d): %s", (int)st,
                env.error))
        return;
    expect("buffers", host == (base != NULL),
           host ? "buffer_alloc gave no host address, though the device has "
                  "SLM_DEVICE_FLAG_HOST_MEMORY"
                : "buffer_alloc gave a host address, but the device lacks "
                  "SLM_DEVICE_FLAG_HOST_MEMORY");
    char in[100], out[100];
    for (int i = 0; i < 100; i++)
        in[i] = (char)(i * 7 + 1);
    memset(out, 0, sizeof out);
    bool ok = be->buffer_write(dev, buf, 0, in, 100) == SLM_OK &&
              be->buffer_read(dev, buf, 0, out, 100) == SLM_OK;
    expect("buffers", ok && memcmp(in, out, 100) == 0, "bytes written do not read back");
    memset(out, 0, sizeof out);
    ok = be->buffer_write(dev, buf, 37, in, 50) == SLM_OK &&
         be->buffer_read(dev, buf, 30, out, 70) == SLM_OK;
    expect("buffers", ok && memcmp(out, in + 30, 7) == 0 && memcmp(out + 7, in, 50) == 0 &&
                          memcmp(out + 57, in + 87, 13) == 0,
           "a write at offset 37 does not read back in place");
    if (contract) {
        expect("buffers", ((uintptr_t)base & 63) == 0,
               "buffer at %p is not 64-byte aligned", base);
        expect("buffers", be->buffer_read(dev, buf, 50, out, 51) != SLM_OK,
               "read past the end succeeded");
        void *wrapped = NULL;
        ok = be->buffer_from_host_ptr &&
             be->buffer_from_host_ptr(dev, in, sizeof in, &wrapped) == SLM_OK &&
             be->buffer_read(dev, wrapped, 10, out, 5) == SLM_OK;
        expect("buffers", ok && memcmp(in + 10, out, 5) == 0, "wrapped host memory reads wrong");
        be->buffer_free(dev, wrapped);
    }
    be->buffer_free(dev, buf);
    be->buffer_free(dev, NULL);
}

/* What the descriptor and probe say, and a device's buffers and empty
** graph; for the in-tree plugins also the facts they share with the
** reference. */
static void group_probe(void)
{
    for (int r = 0; r < env.opts.n_runs; r++) {
        const Plugin *p = &env.plugins[env.run_plugin[r]];
        const slm_backend_t *be = p->be;
        const ConformRun *run = &env.opts.runs[r];
        env.run = r;
        env.threads = -1;
        expect("descriptor", be->description && strlen(be->description) > 0 &&
                                 !strchr(be->description, '\n'),
               "description '%s'", be->description ? be->description : "(null)");
        if (run->label) {
            expect("descriptor", be->abi_major == SLM_BACKEND_ABI_MAJOR &&
                                     be->abi_minor == SLM_BACKEND_ABI_MINOR &&
                                     be->struct_size == sizeof(slm_backend_t),
                   "ABI %u.%u, struct_size %u", (unsigned)be->abi_major,
                   (unsigned)be->abi_minor, (unsigned)be->struct_size);
            expect("descriptor", be->buffer_from_host_ptr != NULL, "no buffer_from_host_ptr");
        }
        const slm_device_info_t *d = conform_device(r);
        if (!d) {
            env.run = -1;
            continue;
        }
        expect("probe", d->name[0] != '\0', "the device has no name");
        if (run->label) {
            size_t nl = strlen(d->name), ll = strlen(run->label);
            expect("probe", d->kind == SLM_DEVICE_CPU && d->flags == SLM_DEVICE_FLAG_HOST_MEMORY,
                   "kind %d, flags 0x%x", (int)d->kind, (unsigned)d->flags);
            expect("probe", nl > ll && strcmp(d->name + nl - ll, run->label) == 0,
                   "name '%s' does not end with '%s'", d->name, run->label);
            expect("probe", strlen(d->vendor) > 0, "no vendor");
            expect("probe", strstr(d->features, run->features) != NULL,
                   "features '%s' lack '%s'", d->features, run->features);
            expect("probe", d->max_threads >= 1 && d->peak_gflops > 0.0 && d->memory_total > 0,
                   "max_threads %u, peak %g GFLOP/s, memory %llu", (unsigned)d->max_threads,
                   d->peak_gflops, (unsigned long long)d->memory_total);
            expect("probe", d->dtypes == env.ref.infos[0].dtypes &&
                                d->ops == env.ref.infos[0].ops,
                   "dtypes 0x%llx, ops 0x%llx; reference 0x%llx, 0x%llx",
                   (unsigned long long)d->dtypes, (unsigned long long)d->ops,
                   (unsigned long long)env.ref.infos[0].dtypes,
                   (unsigned long long)env.ref.infos[0].ops);
        }

        /* A device handle with the default thread count, its buffers and
        ** an empty graph; in-tree: a second handle at once, a bad index. */
        void *a = NULL, *b = NULL, *c = NULL;
        env.error[0] = '\0';
        slm_status_t st = be->device_open(run->device, NULL, &a);
        if (!expect("devices", st == SLM_OK, "device_open(%u) failed (%d): %s",
                    (unsigned)run->device, (int)st, env.error)) {
            env.run = -1;
            continue;
        }
        check_buffers(be, a, (d->flags & SLM_DEVICE_FLAG_HOST_MEMORY) != 0, run->label != NULL);
        slm_graph_t empty = {0, NULL};
        expect("devices", be->graph_compute(a, &empty) == SLM_OK, "empty graph failed");
        if (run->label) {
            slm_device_open_opts_t o = {.struct_size = sizeof o, .n_threads = 2};
            if (expect("devices", be->device_open(run->device, &o, &b) == SLM_OK,
                       "a second device_open failed: %s", env.error)) {
                expect("devices", be->graph_compute(b, &empty) == SLM_OK,
                       "empty graph failed on the second handle");
                be->device_close(b);
            }
            expect("devices", be->device_open(p->n_devices, NULL, &c) != SLM_OK && c == NULL,
                   "device_open(%u) succeeded", (unsigned)p->n_devices);
        }
        be->device_close(a);
        env.run = -1;
    }
}

static void group_supports_node(void)
{
    FOR_EACH_DEVICE({
        if (env.threads != (int32_t)env.opts.threads[0])
            goto next;
        Twin *a = tensor(SLM_DTYPE_F32, 64, 4, 1, 1);
        Twin *b = tensor(SLM_DTYPE_F32, 64, 1, 1, 1);
        Twin *odd = tensor(SLM_DTYPE_F32, 63, 4, 1, 1);
        Twin *w8 = weight(tensor(SLM_DTYPE_Q8_0, 64, 8, 1, 1));
        Twin *wk = weight(tensor(SLM_DTYPE_Q4_K, 256, 8, 1, 1));
        Twin *x256 = tensor(SLM_DTYPE_F32, 256, 3, 1, 1);
        Twin *ids = tensor(SLM_DTYPE_I32, 3, 1, 1, 1);
        Twin *out = tensor(SLM_DTYPE_F32, 8, 4, 1, 1);
        Twin *i32 = tensor(SLM_DTYPE_I32, 64, 4, 1, 1);
        const Spec specs[] = {
            {SLM_OP_ADD, a, {a, b}, {0}, {0}},
            {SLM_OP_ADD, a, {a, odd}, {0}, {0}},
            {SLM_OP_ADD, a, {b, a}, {0}, {0}},
            {SLM_OP_MUL_MAT, out, {w8, a}, {0}, {0}},
            {SLM_OP_MUL_MAT, out, {wk, a}, {0}, {0}},
            {SLM_OP_MUL_MAT, out, {w8, odd}, {0}, {0}},
            {SLM_OP_MUL_MAT, tensor(SLM_DTYPE_F32, 8, 3, 1, 1), {wk, x256}, {0}, {0}},
            {SLM_OP_MUL_MAT, out, {i32, a}, {0}, {0}},
            {SLM_OP_SILU, a, {a, b}, {0}, {0}},
            {SLM_OP_SILU, i32, {a}, {0}, {0}},
            {SLM_OP_GET_ROWS, tensor(SLM_DTYPE_F32, 64, 3, 1, 1), {a, ids}, {0}, {0}},
            {SLM_OP_GET_ROWS, tensor(SLM_DTYPE_F32, 64, 3, 1, 1), {a, a}, {0}, {0}},
            {SLM_OP_ROPE, a, {a, ids}, {64, 0}, {10000, 1}},
            {SLM_OP_ROPE, a, {a, ids}, {63, 0}, {10000, 1}},
            {SLM_OP_SOFTMAX, a, {a}, {0}, {1}},
            {SLM_OP_TOP_K, tensor(SLM_DTYPE_I32, 2, 4, 1, 1), {a}, {2}, {0}},
            {SLM_OP_TOP_K, tensor(SLM_DTYPE_I32, 2, 4, 1, 1), {a}, {0}, {0}},
            {SLM_OP_COPY, tensor(SLM_DTYPE_F16, 256, 1, 1, 1), {a}, {0}, {0}},
            {SLM_OP_COPY, tensor(SLM_DTYPE_F16, 255, 1, 1, 1), {a}, {0}, {0}},
            {(slm_op_t)99, a, {a}, {0}, {0}},
        };
        for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
            slm_node_t rn = node_of(&specs[i], false), sn = node_of(&specs[i], true);
            bool r = asks_supports(env.ref.be, env.ref.dev, &rn);
            bool s = asks_supports(env.cur->be, env.cur->dev, &sn);
            expect("supports_node", r == s, "node %zu: supports_node %d, reference %d", i, s, r);
        }
    next:;
    });
}

/* ------------------------------------------------------ element-wise */

static void group_binary(void)
{
    static const slm_op_t ops[] = {SLM_OP_ADD, SLM_OP_MUL, SLM_OP_DIV};
    FOR_EACH_DEVICE({
        for (size_t o = 0; o < 3; o++) {
            slm_op_t op = ops[o];
            const char *name = slm_op_name(op);
            /* shapes of src0 and of the broadcast src1 */
            static const int64_t cases[][8] = {
                {7, 3, 2, 1, 7, 3, 2, 1},     {64, 5, 1, 1, 64, 1, 1, 1},
                {33, 4, 3, 2, 1, 4, 1, 2},    {4096, 5, 1, 1, 4096, 5, 1, 1},
                {5000, 1, 1, 1, 5000, 1, 1, 1}, {20, 6, 1, 1, 10, 3, 1, 1},
                {3000, 8, 1, 1, 1, 8, 1, 1},
            };
            for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
                const int64_t *s = cases[k];
                Twin *a = fill(tensor(SLM_DTYPE_F32, s[0], s[1], s[2], s[3]), -1, 1);
                Twin *b = fill(tensor(SLM_DTYPE_F32, s[4], s[5], s[6], s[7]),
                               op == SLM_OP_DIV ? 0.5 : -1, 1);
                Twin *d = tensor(SLM_DTYPE_F32, s[0], s[1], s[2], s[3]);
                check(name, &(Spec){op, d, {a, b}, {0}, {0}});
            }
            /* views: transposed source, padded destination */
            Twin *a = fill(layout(SLM_DTYPE_F32, 19, 6, 2, 1, T01, 1), -1, 1);
            Twin *b = fill(layout(SLM_DTYPE_F32, 19, 1, 2, 1, T12, 2), 0.5, 1);
            Twin *d = layout(SLM_DTYPE_F32, 19, 6, 2, 1, ID, 3);
            check(name, &(Spec){op, d, {a, b}, {0}, {0}});
        }
    });
}

static void group_unary_and_glu(void)
{
    static const slm_op_t unary[] = {SLM_OP_SCALE, SLM_OP_SILU, SLM_OP_GELU, SLM_OP_TANH};
    static const int64_t shapes[][4] = {
        {1, 1, 1, 1}, {17, 3, 1, 1}, {64, 2, 3, 1}, {5632, 1, 1, 1}, {300, 40, 1, 1},
    };
    FOR_EACH_DEVICE({
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            const int64_t *n = shapes[s];
            for (size_t o = 0; o < 4; o++) {
                Twin *x = fill(tensor(SLM_DTYPE_F32, n[0], n[1], n[2], n[3]), -6, 6);
                Twin *d = tensor(SLM_DTYPE_F32, n[0], n[1], n[2], n[3]);
                check(slm_op_name(unary[o]),
                      &(Spec){unary[o], d, {x}, {0}, {0.37f, -0.25f}});
            }
            for (int g = 0; g < 2; g++) {
                slm_op_t op = g ? SLM_OP_GEGLU : SLM_OP_SWIGLU;
                Twin *x = fill(tensor(SLM_DTYPE_F32, n[0], n[1], n[2], n[3]), -5, 5);
                Twin *u = fill(tensor(SLM_DTYPE_F32, n[0], n[1], n[2], n[3]), -2, 2);
                Twin *d = tensor(SLM_DTYPE_F32, n[0], n[1], n[2], n[3]);
                check(slm_op_name(op), &(Spec){op, d, {x, u}, {0}, {0}});
            }
        }
        /* views */
        for (size_t o = 0; o < 4; o++) {
            Twin *x = fill(layout(SLM_DTYPE_F32, 23, 5, 2, 1, T01, 1), -6, 6);
            Twin *d = layout(SLM_DTYPE_F32, 23, 5, 2, 1, T12, 2);
            check(slm_op_name(unary[o]), &(Spec){unary[o], d, {x}, {0}, {2.0f, 1.0f}});
        }
        Twin *x = fill(layout(SLM_DTYPE_F32, 23, 5, 1, 1, T01, 0), -5, 5);
        Twin *u = fill(layout(SLM_DTYPE_F32, 23, 5, 1, 1, ID, 3), -2, 2);
        Twin *d = layout(SLM_DTYPE_F32, 23, 5, 1, 1, T01, 1);
        check("SWIGLU view", &(Spec){SLM_OP_SWIGLU, d, {x, u}, {0}, {0}});
    });
}

static void group_rows_ops(void) /* RMS_NORM, SUM_ROWS */
{
    static const int64_t shapes[][4] = {
        {1, 1, 1, 1}, {7, 3, 1, 1}, {64, 5, 2, 1}, {2048, 1, 1, 1}, {256, 130, 1, 1},
    };
    FOR_EACH_DEVICE({
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            const int64_t *n = shapes[s];
            Twin *x = fill(tensor(SLM_DTYPE_F32, n[0], n[1], n[2], n[3]), -3, 3);
            Twin *d = tensor(SLM_DTYPE_F32, n[0], n[1], n[2], n[3]);
            check("RMS_NORM", &(Spec){SLM_OP_RMS_NORM, d, {x}, {0}, {1e-5f}});
            Twin *sum = tensor(SLM_DTYPE_F32, 1, n[1], n[2], n[3]);
            check("SUM_ROWS", &(Spec){SLM_OP_SUM_ROWS, sum, {x}, {0}, {0}});
        }
        Twin *x = fill(layout(SLM_DTYPE_F32, 37, 4, 3, 1, T01, 1), -3, 3);
        Twin *d = layout(SLM_DTYPE_F32, 37, 4, 3, 1, T12, 1);
        check("RMS_NORM view", &(Spec){SLM_OP_RMS_NORM, d, {x}, {0}, {1e-6f}});
        Twin *sum = layout(SLM_DTYPE_F32, 1, 4, 3, 1, T12, 2);
        check("SUM_ROWS view", &(Spec){SLM_OP_SUM_ROWS, sum, {x}, {0}, {0}});
    });
}

/* ------------------------------------------------------ softmax, rope */

static void group_softmax(void)
{
    FOR_EACH_DEVICE({
        /* C, R, H, B, mask, causal, offset, window, cap */
        static const int64_t cases[][9] = {
            {1, 1, 1, 1, 0, 0, 0, 0, 0},     {37, 5, 3, 1, 1, 0, 0, 0, 0},
            {37, 5, 3, 1, 0, 1, 32, 0, 0},   {16, 16, 4, 1, 1, 1, 0, 4, 0},
            {100, 7, 2, 2, 1, 1, 93, 0, 1},  {512, 8, 8, 1, 1, 1, 504, 0, 0},
            {9, 4, 2, 1, 0, 1, -6, 0, 0},
        };
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            const int64_t *c = cases[k];
            Twin *x = fill(tensor(SLM_DTYPE_F32, c[0], c[1], c[2], c[3]), -8, 8);
            Twin *m = c[4] ? fill(tensor(SLM_DTYPE_F32, c[0], c[1] + 1, 1, 1), -2, 0) : NULL;
            Twin *d = tensor(SLM_DTYPE_F32, c[0], c[1], c[2], c[3]);
            Spec sp = {SLM_OP_SOFTMAX, d, {x, m}, {(int32_t)c[5], (int32_t)c[6], (int32_t)c[7]},
                       {0.125f, c[8] ? 5.0f : 0.0f}};
            check("SOFTMAX", &sp);
        }
        Twin *x = fill(layout(SLM_DTYPE_F32, 29, 6, 2, 1, T01, 1), -4, 4);
        Twin *m = fill(layout(SLM_DTYPE_F32, 29, 6, 1, 1, T01, 2), -1, 0);
        Twin *d = layout(SLM_DTYPE_F32, 29, 6, 2, 1, T12, 1);
        check("SOFTMAX view", &(Spec){SLM_OP_SOFTMAX, d, {x, m}, {1, 20, 0}, {0.5f, 0}});
    });
}

static void group_rope(void)
{
    FOR_EACH_DEVICE({
        /* D, H, T, n_dims, mode, freq factors, yarn */
        static const int64_t cases[][7] = {
            {8, 2, 3, 8, SLM_ROPE_NORMAL, 0, 0},  {64, 4, 5, 64, SLM_ROPE_NEOX, 0, 0},
            {64, 4, 5, 32, SLM_ROPE_NORMAL, 1, 0}, {128, 8, 9, 128, SLM_ROPE_NEOX, 1, 1},
            {80, 32, 7, 64, SLM_ROPE_NEOX, 0, 1},
        };
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            const int64_t *c = cases[k];
            Twin *x = fill(tensor(SLM_DTYPE_F32, c[0], c[1], c[2], 1), -1, 1);
            Twin *pos = tensor(SLM_DTYPE_I32, c[2], 1, 1, 1);
            for (int64_t t = 0; t < c[2]; t++) {
                int32_t p = (int32_t)(rnd() % 3000);
                memcpy(addr(&pos->r, t, 0, 0, 0), &p, 4);
            }
            sync_twin(pos);
            Twin *ff = c[5] ? fill(tensor(SLM_DTYPE_F32, c[3] / 2, 1, 1, 1), 1, 8) : NULL;
            Twin *d = tensor(SLM_DTYPE_F32, c[0], c[1], c[2], 1);
            Spec sp = {SLM_OP_ROPE, d, {x, pos, ff}, {(int32_t)c[3], (int32_t)c[4], 4096},
                       {10000.0f, c[6] ? 0.25f : 1.0f, c[6] ? 1.0f : 0.0f, 1.0f, 32.0f, 1.0f}};
            check("ROPE", &sp);
        }
        Twin *x = fill(layout(SLM_DTYPE_F32, 16, 3, 4, 1, T12, 1), -1, 1);
        Twin *pos = fill_ids(tensor(SLM_DTYPE_I32, 4, 1, 1, 1), 100, true);
        Twin *d = layout(SLM_DTYPE_F32, 16, 3, 4, 1, T01, 0);
        check("ROPE view", &(Spec){SLM_OP_ROPE, d, {x, pos}, {12, SLM_ROPE_NORMAL},
                                   {500.0f, 1.0f, 0, 1.0f}});
    });
}

/* ------------------------------------------------ rows, copies, sorts */

static const slm_dtype_t weight_types[] = {
    SLM_DTYPE_F32,  SLM_DTYPE_F16,  SLM_DTYPE_BF16,
    SLM_DTYPE_Q8_0, SLM_DTYPE_Q4_0, SLM_DTYPE_Q4_K, SLM_DTYPE_Q6_K,
};
#define N_WEIGHT_TYPES (sizeof weight_types / sizeof weight_types[0])

static void group_get_set_rows(void)
{
    FOR_EACH_DEVICE({
        for (size_t t = 0; t < N_WEIGHT_TYPES; t++) {
            slm_dtype_t dt = weight_types[t];
            Twin *table = fill(tensor(dt, 512, 10, 2, 1), -1, 1);
            Twin *ids = fill_ids(tensor(SLM_DTYPE_I32, 7, 2, 1, 1), 10, true);
            Twin *d = tensor(SLM_DTYPE_F32, 512, 7, 2, 1);
            check("GET_ROWS", &(Spec){SLM_OP_GET_ROWS, d, {table, ids}, {0}, {0}});
        }
        Twin *table = fill(layout(SLM_DTYPE_F16, 33, 9, 1, 1, T01, 1), -1, 1);
        Twin *ids = fill_ids(tensor(SLM_DTYPE_I32, 40, 1, 1, 1), 9, true);
        Twin *d = layout(SLM_DTYPE_F32, 33, 40, 1, 1, T01, 2);
        check("GET_ROWS view", &(Spec){SLM_OP_GET_ROWS, d, {table, ids}, {0}, {0}});

        static const slm_dtype_t dsts[] = {SLM_DTYPE_F32, SLM_DTYPE_F16, SLM_DTYPE_BF16};
        for (size_t k = 0; k < 3; k++) {
            Twin *cache = fill(tensor(dsts[k], 67, 50, 2, 1), -1, 1);
            Twin *rows = fill(tensor(SLM_DTYPE_F32, 67, 6, 2, 1), -100, 100);
            Twin *at = fill_ids(tensor(SLM_DTYPE_I32, 6, 2, 1, 1), 50, true);
            check("SET_ROWS", &(Spec){SLM_OP_SET_ROWS, cache, {rows, at}, {0}, {0}});
            Twin *big = fill(tensor(dsts[k], 2048, 40, 1, 1), -1, 1);
            Twin *many = fill(tensor(SLM_DTYPE_F32, 2048, 16, 1, 1), -1, 1);
            Twin *at2 = fill_ids(tensor(SLM_DTYPE_I32, 16, 1, 1, 1), 40, true);
            check("SET_ROWS big", &(Spec){SLM_OP_SET_ROWS, big, {many, at2}, {0}, {0}});
            Twin *vcache = fill(layout(dsts[k], 12, 30, 1, 1, T01, 1), -1, 1);
            Twin *vrows = fill(layout(SLM_DTYPE_F32, 12, 5, 1, 1, T01, 1), -1, 1);
            Twin *at3 = fill_ids(tensor(SLM_DTYPE_I32, 5, 1, 1, 1), 30, false);
            check("SET_ROWS view", &(Spec){SLM_OP_SET_ROWS, vcache, {vrows, at3}, {0}, {0}});
        }
    });
}

static void group_copy(void)
{
    static const slm_dtype_t fl[] = {SLM_DTYPE_F32, SLM_DTYPE_F16, SLM_DTYPE_BF16};
    FOR_EACH_DEVICE({
        for (size_t a = 0; a < 3; a++)
            for (size_t b = 0; b < 3; b++) {
                Twin *s = fill(tensor(fl[a], 61, 7, 3, 1), -70000, 70000);
                Twin *d = fill(tensor(fl[b], 61, 7, 3, 1), 0, 0);
                check("COPY", &(Spec){SLM_OP_COPY, d, {s}, {0}, {0}});
                Twin *sv = fill(layout(fl[a], 13, 5, 4, 1, T12, 1), -2, 2);
                Twin *dv = fill(layout(fl[b], 13, 5, 4, 1, T01, 2), 0, 0);
                check("COPY view", &(Spec){SLM_OP_COPY, dv, {sv}, {0}, {0}});
                Twin *r = fill(layout(fl[a], 6, 10, 3, 1, T01, 1), -2, 2);
                Twin *dr = fill(tensor(fl[b], 20, 9, 1, 1), 0, 0);
                check("COPY reshape", &(Spec){SLM_OP_COPY, dr, {r}, {0}, {0}});
            }
        Twin *big = fill(tensor(SLM_DTYPE_F32, 4096, 9, 1, 1), -1, 1);
        Twin *bigd = tensor(SLM_DTYPE_F32, 4096, 9, 1, 1);
        check("COPY big", &(Spec){SLM_OP_COPY, bigd, {big}, {0}, {0}});
        for (size_t t = 3; t < N_WEIGHT_TYPES; t++) {
            Twin *q = fill(layout(weight_types[t], 256, 4, 3, 1, T12, 1), -1, 1);
            Twin *qd = fill(tensor(weight_types[t], 256, 12, 1, 1), -1, 1);
            check("COPY blocks", &(Spec){SLM_OP_COPY, qd, {q}, {0}, {0}});
        }
    });
}

static void group_sort(void)
{
    FOR_EACH_DEVICE({
        static const int64_t shapes[][2] = {{1, 1}, {8, 5}, {37, 3}, {128, 40}, {1000, 2}};
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int64_t n = shapes[s][0], rows = shapes[s][1];
            Twin *x = fill(tensor(SLM_DTYPE_F32, n, rows, 1, 1), -1, 1);
            /* ties: values on a coarse grid */
            FOR4(&x->r) setf(&x->r, i0, i1, i2, i3, floor(getf(&x->r, i0, i1, i2, i3) * 4) / 4);
            sync_twin(x);
            for (int o = 0; o < 2; o++) {
                Twin *d = tensor(SLM_DTYPE_I32, n, rows, 1, 1);
                check("ARGSORT", &(Spec){SLM_OP_ARGSORT, d, {x}, {o}, {0}});
            }
            int64_t ks[] = {1, n < 2 ? 1 : 2, n < 8 ? n : 8, n < 20 ? n : 20, n};
            for (size_t k = 0; k < 5; k++) {
                Twin *d = tensor(SLM_DTYPE_I32, ks[k], rows, 1, 1);
                check("TOP_K", &(Spec){SLM_OP_TOP_K, d, {x}, {(int32_t)ks[k]}, {0}});
            }
        }
        Twin *x = fill(layout(SLM_DTYPE_F32, 11, 6, 1, 1, T01, 1), -1, 1);
        Twin *d = layout(SLM_DTYPE_I32, 3, 6, 1, 1, T01, 1);
        check("TOP_K view", &(Spec){SLM_OP_TOP_K, d, {x}, {3}, {0}});
    });
}

/* ------------------------------------------------------------- matmuls */

static void group_mul_mat(void)
{
    /* K (a multiple of 256 for the K-quants), N, M, A, B, A0, B0 */
    static const int64_t cases[][7] = {
        {256, 1, 16, 1, 1, 1, 1},   {256, 17, 1, 1, 1, 1, 1},   {512, 64, 1, 1, 1, 1, 1},
        {256, 5, 3, 1, 1, 1, 1},    {256, 64, 8, 1, 1, 1, 1},   {768, 33, 37, 1, 1, 1, 1},
        {256, 9, 4, 4, 2, 2, 1},    {512, 300, 2, 1, 1, 1, 1},  {256, 20, 70, 1, 1, 1, 1},
    };
    FOR_EACH_DEVICE({
        for (size_t t = 0; t < N_WEIGHT_TYPES; t++) {
            slm_dtype_t dt = weight_types[t];
            for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
                const int64_t *c = cases[k];
                Twin *w = weight(fill(tensor(dt, c[0], c[1], c[5], c[6]), -1, 1));
                Twin *x = fill(tensor(SLM_DTYPE_F32, c[0], c[2], c[3], c[4]), -1, 1);
                Twin *d = tensor(SLM_DTYPE_F32, c[1], c[2], c[3], c[4]);
                char what[64];
                snprintf(what, sizeof what, "MUL_MAT %s [%lld x %lld x %lld]",
                         slm_dtype_name(dt), (long long)c[0], (long long)c[1], (long long)c[2]);
                check(what, &(Spec){SLM_OP_MUL_MAT, d, {w, x}, {0}, {0}});
            }
            /* K not a multiple of 256: odd block counts, and whole groups
            ** of 8 or 16 blocks (the decode kernels' step) with a rest */
            if (slm_dtype_block_elems(dt) <= 32) {
                static const int64_t odd[][3] = {{32, 7, 1},   {96, 13, 5},  {224, 66, 9},
                                                 {288, 6, 1},  {544, 9, 1},  {1056, 5, 3},
                                                 {1120, 40, 1}};
                for (size_t k = 0; k < sizeof odd / sizeof odd[0]; k++) {
                    Twin *w = weight(fill(tensor(dt, odd[k][0], odd[k][1], 1, 1), -1, 1));
                    Twin *x = fill(tensor(SLM_DTYPE_F32, odd[k][0], odd[k][2], 1, 1), -1, 1);
                    Twin *d = tensor(SLM_DTYPE_F32, odd[k][1], odd[k][2], 1, 1);
                    check("MUL_MAT odd K", &(Spec){SLM_OP_MUL_MAT, d, {w, x}, {0}, {0}});
                }
            }
            /* strided activations and a padded destination */
            Twin *w = weight(fill(layout(dt, 256, 12, 2, 1, T12, 1), -1, 1));
            Twin *x = fill(layout(SLM_DTYPE_F32, 256, 3, 4, 1, T12, 1), -1, 1);
            Twin *d = layout(SLM_DTYPE_F32, 12, 3, 4, 1, T01, 2);
            check("MUL_MAT view", &(Spec){SLM_OP_MUL_MAT, d, {w, x}, {0}, {0}});
            Twin *xt = fill(layout(SLM_DTYPE_F32, 256, 5, 1, 1, T01, 0), -1, 1);
            Twin *w1 = weight(fill(tensor(dt, 256, 40, 1, 1), -1, 1));
            Twin *dt1 = tensor(SLM_DTYPE_F32, 40, 5, 1, 1);
            check("MUL_MAT transposed x", &(Spec){SLM_OP_MUL_MAT, dt1, {w1, xt}, {0}, {0}});
        }
        /* attention over an F32 cache: K^T Q with small heads, and V^T
        ** (the weight with ne[1] innermost) times the probabilities */
        static const int64_t att[][4] = {{8, 7, 1, 8}, {64, 33, 5, 4}, {64, 200, 1, 32}, {16, 9, 9, 2}};
        for (size_t k = 0; k < sizeof att / sizeof att[0]; k++) {
            int64_t hd = att[k][0], n_kv = att[k][1], T = att[k][2], nh = att[k][3];
            int64_t nkv = nh > 1 ? nh / 2 : 1;
            Twin *keys = fill(layout(SLM_DTYPE_F32, hd, n_kv, nkv, 1, T12, 0), -1, 1);
            Twin *q = fill(layout(SLM_DTYPE_F32, hd, T, nh, 1, T12, 0), -1, 1);
            Twin *kq = tensor(SLM_DTYPE_F32, n_kv, T, nh, 1);
            check("MUL_MAT K^T Q", &(Spec){SLM_OP_MUL_MAT, kq, {keys, q}, {0}, {0}});
            Twin *vt = fill(layout(SLM_DTYPE_F32, n_kv, hd, nkv, 1, T01, 0), -1, 1);
            Twin *p = fill(tensor(SLM_DTYPE_F32, n_kv, T, nh, 1), 0, 1);
            Twin *o = tensor(SLM_DTYPE_F32, hd, T, nh, 1);
            check("MUL_MAT V^T P", &(Spec){SLM_OP_MUL_MAT, o, {vt, p}, {0}, {0}});
            Twin *vh = fill(layout(SLM_DTYPE_F16, n_kv, hd, nkv, 1, T01, 1), -1, 1);
            Twin *oh = tensor(SLM_DTYPE_F32, hd, T, nh, 1);
            check("MUL_MAT F16 V^T P", &(Spec){SLM_OP_MUL_MAT, oh, {vh, p}, {0}, {0}});
        }
    });
}

static void group_mul_mat_id(void)
{
    /* K, N, X experts, U chosen, T tokens, U1 */
    static const int64_t cases[][6] = {
        {256, 16, 4, 2, 1, 1}, {256, 16, 4, 2, 5, 2}, {512, 64, 8, 2, 7, 1},
        {256, 40, 3, 3, 40, 3},
    };
    FOR_EACH_DEVICE({
        for (size_t t = 0; t < N_WEIGHT_TYPES; t++) {
            slm_dtype_t dt = weight_types[t];
            for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
                const int64_t *c = cases[k];
                Twin *w = weight(fill(tensor(dt, c[0], c[1], c[2], 1), -1, 1));
                Twin *x = fill(tensor(SLM_DTYPE_F32, c[0], c[5], c[4], 1), -1, 1);
                Twin *ids = fill_ids(tensor(SLM_DTYPE_I32, c[3], c[4], 1, 1), c[2], true);
                Twin *d = tensor(SLM_DTYPE_F32, c[1], c[3], c[4], 1);
                char what[64];
                snprintf(what, sizeof what, "MUL_MAT_ID %s case %zu", slm_dtype_name(dt), k);
                check(what, &(Spec){SLM_OP_MUL_MAT_ID, d, {w, x, ids}, {0}, {0}});
            }
        }
        Twin *w = weight(fill(layout(SLM_DTYPE_F32, 64, 6, 3, 1, T01, 1), -1, 1));
        Twin *x = fill(layout(SLM_DTYPE_F32, 64, 2, 4, 1, T01, 1), -1, 1);
        Twin *ids = fill_ids(tensor(SLM_DTYPE_I32, 2, 4, 1, 1), 3, true);
        Twin *d = tensor(SLM_DTYPE_F32, 6, 2, 4, 1);
        check("MUL_MAT_ID views", &(Spec){SLM_OP_MUL_MAT_ID, d, {w, x, ids}, {0}, {0}});
    });
}

/* An infinity or NaN among the activations makes the quantised block's
** scale NaN (graph.h): the outputs of that column are NaN in both, the
** other columns within the matmul's bound. */
static void group_mul_mat_non_finite(void)
{
    FOR_EACH_DEVICE({
        for (size_t t = 0; t < N_WEIGHT_TYPES; t++) {
            slm_dtype_t dt = weight_types[t];
            char what[48];
            snprintf(what, sizeof what, "MUL_MAT %s non-finite", slm_dtype_name(dt));
            for (int64_t M = 1; M <= 3; M += 2) {
                Twin *w = weight(fill(tensor(dt, 512, 9, 1, 1), -1, 1));
                Twin *x = fill(tensor(SLM_DTYPE_F32, 512, M, 1, 1), -1, 1);
                setf(&x->r, 300, M - 1, 0, 0, M == 1 ? INFINITY : NAN);
                sync_twin(x);
                Twin *d = tensor(SLM_DTYPE_F32, 9, M, 1, 1);
                check_spec(what, &(Spec){SLM_OP_MUL_MAT, d, {w, x}, {0}, {0}}, true);
            }
        }
    });
}

/* ------------------------------------------------------ graphs, errors */

/* A chain of nodes of mixed sizes, some run on every thread and some on
** one: the plan and its barriers must leave every result where the next
** node expects it. */
static void group_graph_chain(void)
{
    FOR_EACH_DEVICE({
        for (int64_t T = 1; T <= 9; T += 8) {
            Twin *x = fill(tensor(SLM_DTYPE_F32, 256, T, 1, 1), -1, 1);
            Twin *w1 = weight(fill(tensor(SLM_DTYPE_Q8_0, 256, 512, 1, 1), -1, 1));
            Twin *w2 = weight(fill(tensor(SLM_DTYPE_Q4_0, 512, 256, 1, 1), -1, 1));
            Twin *wn = fill(tensor(SLM_DTYPE_F32, 256, 1, 1, 1), 0.5, 1.5);
            Twin *n1 = tensor(SLM_DTYPE_F32, 256, T, 1, 1);
            Twin *n2 = tensor(SLM_DTYPE_F32, 256, T, 1, 1);
            Twin *h = tensor(SLM_DTYPE_F32, 512, T, 1, 1);
            Twin *a = tensor(SLM_DTYPE_F32, 512, T, 1, 1);
            Twin *o = tensor(SLM_DTYPE_F32, 256, T, 1, 1);
            Twin *r = tensor(SLM_DTYPE_F32, 256, T, 1, 1);
            Twin *s = tensor(SLM_DTYPE_F32, 256, T, 1, 1);
            const Spec sp[] = {
                {SLM_OP_RMS_NORM, n1, {x}, {0}, {1e-5f}},
                {SLM_OP_MUL, n2, {n1, wn}, {0}, {0}},
                {SLM_OP_MUL_MAT, h, {w1, n2}, {0}, {0}},
                {SLM_OP_SILU, a, {h}, {0}, {0}},
                {SLM_OP_MUL_MAT, o, {w2, a}, {0}, {0}},
                {SLM_OP_ADD, r, {o, x}, {0}, {0}},
                {SLM_OP_SCALE, s, {r}, {0}, {0.5f, 0.0f}},
            };
            enum { N = sizeof sp / sizeof sp[0] };
            slm_node_t rn[N], sn[N];
            for (int i = 0; i < N; i++) {
                rn[i] = node_of(&sp[i], false);
                sn[i] = node_of(&sp[i], true);
                reference_runs("graph chain", &rn[i]);
            }
            double bound = bound_of(CONFORM_CHAIN, SLM_DTYPE_Q4_0);
            begin("graph chain", SLM_OP_NONE, SLM_DTYPE_Q4_0, bound);
            if (!accepted("graph chain", "graph chain", sn, N) ||
                !compute_both("graph chain", rn, sn, N))
                continue;
            compare("graph chain", "graph chain", s, bound, false);
            compare("graph chain", "graph chain (rms)", n1,
                    bound_of(SLM_OP_RMS_NORM, SLM_DTYPE_F32), false);
        }
    });
}

/* Bad ids fail the graph with a message naming the node, on any thread
** count, without hanging or touching memory out of bounds; the device
** stays usable. */
static void group_bad_ids(void)
{
    FOR_EACH_DEVICE({
        Twin *table = fill(tensor(SLM_DTYPE_F32, 64, 10, 1, 1), -1, 1);
        Twin *ids = tensor(SLM_DTYPE_I32, 3, 1, 1, 1);
        int32_t bad[3] = {1, 10, 2};
        memcpy(ids->h.data, bad, sizeof bad);
        Twin *rows = tensor(SLM_DTYPE_F32, 64, 3, 1, 1);
        Twin *x = fill(tensor(SLM_DTYPE_F32, 64, 3, 1, 1), -1, 1);
        Twin *big = fill(tensor(SLM_DTYPE_F32, 64, 4096, 1, 1), -1, 1);
        Twin *bigo = tensor(SLM_DTYPE_F32, 64, 4096, 1, 1);
        const Spec sp[] = {
            {SLM_OP_SILU, bigo, {big}, {0}, {0}},
            {SLM_OP_GET_ROWS, rows, {table, ids}, {0}, {0}},
            {SLM_OP_ADD, x, {rows, x}, {0}, {0}},
            {SLM_OP_SILU, bigo, {big}, {0}, {0}},
        };
        slm_node_t sn[4];
        for (int i = 0; i < 4; i++)
            sn[i] = node_of(&sp[i], true);
        const char *step;
        env.error[0] = '\0';
        slm_status_t st = device_compute(sn, 4, &step);
        expect("bad ids", st == SLM_ERR_INVALID_ARG && strstr(env.error, "node 1") &&
                              strstr(env.error, "10"),
               "row id 10 of 10: status %d, message '%s'", (int)st, env.error);

        Twin *w = weight(fill(tensor(SLM_DTYPE_Q8_0, 64, 8, 3, 1), -1, 1));
        Twin *xe = fill(tensor(SLM_DTYPE_F32, 64, 1, 2, 1), -1, 1);
        Twin *eids = tensor(SLM_DTYPE_I32, 2, 2, 1, 1);
        int32_t ebad[4] = {0, 2, -1, 1};
        memcpy(eids->h.data, ebad, sizeof ebad);
        Twin *eo = tensor(SLM_DTYPE_F32, 8, 2, 2, 1);
        slm_node_t e = node_of(&(Spec){SLM_OP_MUL_MAT_ID, eo, {w, xe, eids}, {0}, {0}}, true);
        st = device_compute(&e, 1, &step);
        expect("bad ids", st == SLM_ERR_INVALID_ARG && strstr(env.error, "expert id -1"),
               "expert id -1: status %d, message '%s'", (int)st, env.error);

        /* A node the reference refuses is refused before anything runs. */
        slm_node_t nope = node_of(&(Spec){SLM_OP_ADD, x, {x, table}, {0}, {0}}, true);
        st = device_compute(&nope, 1, &step);
        expect("bad ids", st == SLM_ERR_INVALID_ARG, "invalid node: status %d", (int)st);

        /* and the device still computes */
        fill_ids(ids, 10, true);
        check("GET_ROWS after errors", &sp[1]);
    });
}

/* --------------------------------------------------------------- groups */

typedef struct Group {
    const char *name;
    void (*run)(void);
    /* Checks of the in-tree contract (supports_node answers and error
    ** messages as the reference's): only runs with a label take them. */
    bool contract;
} Group;

static const Group groups[] = {
    {"probe", group_probe, false},
    {"supports_node", group_supports_node, true},
    {"binary", group_binary, false},
    {"unary_and_glu", group_unary_and_glu, false},
    {"rows_ops", group_rows_ops, false},
    {"softmax", group_softmax, false},
    {"rope", group_rope, false},
    {"get_set_rows", group_get_set_rows, false},
    {"copy", group_copy, false},
    {"sort", group_sort, false},
    {"mul_mat", group_mul_mat, false},
    {"mul_mat_id", group_mul_mat_id, false},
    {"mul_mat_non_finite", group_mul_mat_non_finite, false},
    {"graph_chain", group_graph_chain, false},
    {"bad_ids", group_bad_ids, true},
};

#define N_GROUPS ((int)(sizeof groups / sizeof groups[0]))

int conform_n_groups(void)
{
    return N_GROUPS;
}

const char *conform_group(int i)
{
    return i >= 0 && i < N_GROUPS ? groups[i].name : NULL;
}

static int failures(void)
{
    int n = 0;
    for (int i = 0; i < n_results; i++)
        n += results[i].failed;
    return n;
}

/* Run a group; a broken harness lands back here, closing what it left
** open. */
static void run_guarded(void (*volatile run)(void))
{
    jmp_buf jb;
    env.abandon = &jb;
    if (setjmp(jb) == 0)
        run();
    else if (env.cur)
        close_run();
    env.abandon = NULL;
    env.run = -1;
    env.threads = -1;
}

int conform_run_group(const char *name)
{
    int g = 0;
    while (g < N_GROUPS && strcmp(groups[g].name, name) != 0)
        g++;
    if (g == N_GROUPS)
        return -1;
    int before = failures();
    env.group = groups[g].name;
    env.contract = groups[g].contract;
    run_guarded(groups[g].run);
    return failures() - before;
}
