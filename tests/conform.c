/*
** conform.c -- the conformance engine of conform.h: plugins, twin tensors
** in both backends, the comparison, and the groups of checks.
**
** Plain C11 and POSIX (dlopen), no test framework: it is compiled into a
** cmocka test on the build machine and into a bare driver for targets
** that lack cmocka. A failed comparison is recorded and reported, and the
** group goes on; only a broken harness (a plugin call that must not fail,
** memory) abandons the rest of a group.
*/
#include <dlfcn.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conform.h"

#define TOL_F32 1e-10
#define TOL_TRANS 1e-6
#define TOL_QUANT 1e-9
#define TOL_CHAIN 5e-4
#define EXACT (-1.0)

#define MAX_TENSORS 4096
#define MAX_PLUGINS 8
#define MAX_RUNS 8
#define MAX_RESULTS 1024

/* ---------------------------------------------------------------- plugins */

typedef struct Plugin {
    const char *name;
    void *so;
    const slm_backend_t *be;
    void *dev;
    uint32_t n_devices;
    slm_device_info_t info;
} Plugin;

typedef struct Env {
    ConformOptions opts;
    slm_host_t host;
    char error[512];
    char log[256];         /* the plugin's last log line */
    Plugin ref;
    Plugin plugins[MAX_PLUGINS];
    int n_plugins;
    int run_plugin[MAX_RUNS];
    bool noted[MAX_RUNS];  /* its device_open log line was reported */
    Plugin *cur;           /* the plugin under test, device open */
    int run;               /* its run; -1 between devices */
    uint32_t threads;      /* its device's thread count */
    const char *off_key;   /* the run's key set to "off" */
    uint64_t rng;
    const char *group;
    jmp_buf *abandon;      /* where a broken harness goes */
} Env;

static Env env = {.run = -1};

static ConformResult results[MAX_RESULTS];
static int n_results;

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
    static ConformResult overflow; /* MAX_RESULTS is far above what runs */
    if (n_results == MAX_RESULTS)
        return &overflow;
    ConformResult *r = &results[n_results++];
    memset(r, 0, sizeof *r);
    snprintf(r->key, sizeof r->key, "%s", key);
    r->run = env.run;
    r->threads = env.threads;
    r->worst = -1.0;
    return r;
}

static const char *where(void)
{
    static char buf[96];
    if (env.run < 0)
        return "harness";
    if (env.threads == 0)
        return conform_run_name(env.run);
    snprintf(buf, sizeof buf, "%s, %u thread%s", conform_run_name(env.run), env.threads,
             env.threads == 1 ? "" : "s");
    return buf;
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
    report("FAIL %s (%s): %s; the rest of the group is skipped", env.group, where(), msg);
    char key[48];
    snprintf(key, sizeof key, "%s (harness)", env.group);
    ConformResult *r = result_for(key);
    r->checks++;
    r->failed++;
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

static void vfail(const char *key, const char *fmt, va_list ap)
{
    char msg[768];
    vsnprintf(msg, sizeof msg, fmt, ap);
    result_for(key)->failed++;
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

/* A check starts. */
static void begin(const char *key)
{
    result_for(key)->checks++;
}

/* One whole check that needs no comparison. */
static bool expect(const char *key, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool expect(const char *key, bool ok, const char *fmt, ...)
{
    begin(key);
    if (ok)
        return true;
    va_list ap;
    va_start(ap, fmt);
    vfail(key, fmt, ap);
    va_end(ap);
    return false;
}

static void host_set_error(void *ctx, const char *msg)
{
    (void)ctx;
    snprintf(env.error, sizeof env.error, "%s", msg);
}

static void host_log(void *ctx, int level, const char *msg)
{
    (void)ctx, (void)level;
    snprintf(env.log, sizeof env.log, "%s", msg);
}

static const char *host_config_get(void *ctx, const char *key)
{
    (void)ctx;
    return env.off_key && strcmp(key, env.off_key) == 0 ? "off" : NULL;
}

/* Load, initialise and probe one plugin; the reason on failure. */
static const char *load_plugin(Plugin *p, const char *name)
{
    static char why[768];
    char path[512];
    snprintf(path, sizeof path, "%s/libslm-backend-%s.so", env.opts.backend_dir, name);
    p->name = name;
    p->so = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!p->so) {
        snprintf(why, sizeof why, "dlopen %s: %s", path, dlerror());
        return why;
    }
    slm_plugin_init_fn init = (slm_plugin_init_fn)(uintptr_t)dlsym(p->so, SLM_PLUGIN_ENTRY_NAME);
    if (!init || init(&env.host, &p->be) != SLM_OK || strcmp(p->be->name, name) != 0) {
        snprintf(why, sizeof why, "%.300s: no %s, or it failed (%.300s)", path,
                 SLM_PLUGIN_ENTRY_NAME, env.error);
        return why;
    }
    slm_device_info_t infos[SLM_MAX_DEVICES_PER_PLUGIN];
    memset(infos, 0, sizeof infos);
    for (int i = 0; i < SLM_MAX_DEVICES_PER_PLUGIN; i++)
        infos[i].struct_size = sizeof infos[i];
    if (p->be->probe(infos, SLM_MAX_DEVICES_PER_PLUGIN, &p->n_devices) != SLM_OK ||
        p->n_devices > 1) {
        snprintf(why, sizeof why, "%s: probe failed or found %u devices (%s)", name,
                 (unsigned)p->n_devices, env.error);
        return why;
    }
    memset(&p->info, 0, sizeof p->info);
    if (p->n_devices == 1)
        p->info = infos[0];
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
    memset(&env, 0, sizeof env);
    env.run = -1;
    n_results = 0;
    env.opts = *opts;
    env.host = (slm_host_t){
        .abi_major = SLM_BACKEND_ABI_MAJOR,
        .abi_minor = SLM_BACKEND_ABI_MINOR,
        .struct_size = sizeof(slm_host_t),
        .ctx = &env,
        .log = host_log,
        .set_error = host_set_error,
        .config_get = host_config_get,
    };
    if (opts->n_runs < 1 || opts->n_runs > MAX_RUNS || opts->n_threads < 1) {
        report("conform: %d runs and %d thread counts", opts->n_runs, opts->n_threads);
        return -1;
    }
    const char *why = load_plugin(&env.ref, "cpu");
    if (!why && env.ref.be->device_open(0, NULL, &env.ref.dev) != SLM_OK)
        why = env.error;
    for (int r = 0; r < opts->n_runs && !why; r++) {
        int p = 0;
        while (p < env.n_plugins && strcmp(env.plugins[p].name, opts->runs[r].plugin) != 0)
            p++;
        if (p == env.n_plugins) {
            if (p == MAX_PLUGINS) {
                why = "too many plugins";
                break;
            }
            why = load_plugin(&env.plugins[p], opts->runs[r].plugin);
            env.n_plugins++;
            if (!why && env.plugins[p].n_devices == 0)
                report("note: %s reports no device on this CPU; its conformance is skipped",
                       opts->runs[r].plugin);
        }
        env.run_plugin[r] = p;
        const char *need = opts->runs[r].only_with;
        if (!why && env.plugins[p].n_devices && need &&
            !has_word(env.plugins[p].info.features, need))
            report("note: %s: this CPU has no %s; the run is skipped", conform_run_name(r),
                   need);
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
    if (r < 0 || r >= env.opts.n_runs)
        return NULL;
    const Plugin *p = &env.plugins[env.run_plugin[r]];
    return p->n_devices ? &p->info : NULL;
}

const char *conform_run_name(int r)
{
    static char buf[MAX_RUNS][64];
    const ConformRun *run = &env.opts.runs[r];
    if (run->off_key)
        snprintf(buf[r], sizeof buf[r], "%s %s=off", run->plugin, run->off_key);
    else
        snprintf(buf[r], sizeof buf[r], "%s", run->plugin);
    return buf[r];
}

int conform_results(const ConformResult **out)
{
    *out = results;
    return n_results;
}

/* Open run r's device with n threads; false when the CPU lacks it or the
** feature the run is about. */
static bool open_run(int r, uint32_t n)
{
    Plugin *p = &env.plugins[env.run_plugin[r]];
    const char *need = env.opts.runs[r].only_with;
    if (p->n_devices == 0 || (need && !has_word(p->info.features, need)))
        return false;
    env.run = r;
    env.threads = n;
    env.off_key = env.opts.runs[r].off_key;
    env.log[0] = '\0';
    slm_device_open_opts_t o = {.struct_size = sizeof o, .n_threads = n};
    REQUIRE_OK(p->be->device_open(0, &o, &p->dev));
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
    slm_tensor_t r, s;
    size_t size; /* buffer bytes */
} Twin;

static Twin *twins[MAX_TENSORS];
static int n_twins;

static void close_run(void)
{
    for (int i = 0; i < n_twins; i++) {
        env.ref.be->buffer_free(env.ref.dev, twins[i]->r.buffer);
        env.cur->be->buffer_free(env.cur->dev, twins[i]->s.buffer);
        free(twins[i]);
    }
    n_twins = 0;
    env.cur->be->device_close(env.cur->dev);
    env.cur->dev = NULL;
    env.cur = NULL;
    env.run = -1;
    env.threads = 0;
    env.off_key = NULL;
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
    tw->r.buffer = tw->s.buffer = NULL;
    void *base;
    REQUIRE_OK(env.ref.be->buffer_alloc(env.ref.dev, tw->size, SLM_BUFFER_ACTIVATIONS,
                                        &tw->r.buffer, &base));
    memset(base, 0xCD, tw->size);
    tw->r.data = (char *)base + x->offset;
    REQUIRE_OK(env.cur->be->buffer_alloc(env.cur->dev, tw->size, SLM_BUFFER_ACTIVATIONS,
                                         &tw->s.buffer, &base));
    memset(base, 0xCD, tw->size);
    tw->s.data = (char *)base + x->offset;
    return tw;
}

static Twin *tensor(slm_dtype_t dt, int64_t n0, int64_t n1, int64_t n2, int64_t n3)
{
    return layout(dt, n0, n1, n2, n3, ID, 0);
}

static char *addr(const slm_tensor_t *x, int64_t i0, int64_t i1, int64_t i2, int64_t i3)
{
    return (char *)x->data + i0 * (int64_t)x->nb[0] + i1 * (int64_t)x->nb[1] +
           i2 * (int64_t)x->nb[2] + i3 * (int64_t)x->nb[3];
}

/* The simd copy takes the reference's bytes, padding included. */
static void sync_twin(Twin *t)
{
    memcpy((char *)t->s.data - t->s.offset, (char *)t->r.data - t->r.offset, t->size);
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

static slm_node_t node_of(const Spec *sp, bool simd)
{
    slm_node_t n;
    memset(&n, 0, sizeof n);
    n.op = sp->op;
    n.dst = simd ? &sp->dst->s : &sp->dst->r;
    for (int i = 0; i < SLM_MAX_SRC; i++)
        n.src[i] = sp->src[i] ? (simd ? &sp->src[i]->s : &sp->src[i]->r) : NULL;
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

/* Both backends run the nodes; false (a failure of the check under key)
** when the plugin refuses. */
static bool compute_both(const char *key, slm_node_t *rn, slm_node_t *sn, uint32_t n)
{
    slm_graph_t g = {n, rn};
    env.error[0] = '\0';
    REQUIRE_OK(env.ref.be->graph_compute(env.ref.dev, &g));
    g.nodes = sn;
    slm_status_t st = env.cur->be->graph_compute(env.cur->dev, &g);
    if (st != SLM_OK)
        fail(key, "%s failed (%d): %s", slm_op_name(sn[0].op), (int)st, env.error);
    return st == SLM_OK;
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

/* Why dst of both backends differ, or NULL: exact (tol < 0) or within
** nmse <= tol; bytes that are no element's must agree exactly. *nmse gets
** the error (-1 when compared exactly). */
static const char *differ(const Twin *t, double tol, double *nmse_out)
{
    static char why[512];
    const uint8_t *rb = (const uint8_t *)t->r.data - t->r.offset;
    const uint8_t *sb = (const uint8_t *)t->s.data - t->s.offset;
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
    const slm_tensor_t *r = &t->r, *s = &t->s;
    FOR4(r) {
        double a = getf(r, i0, i1, i2, i3), b = getf(s, i0, i1, i2, i3);
        if (isnan(b) || isnan(a)) {
            snprintf(why, sizeof why, "NaN at [%lld, %lld, %lld, %lld]", (long long)i0,
                     (long long)i1, (long long)i2, (long long)i3);
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
static void compare(const char *key, const char *what, const Twin *t, double tol)
{
    double nmse;
    const char *why = differ(t, tol, &nmse);
    ConformResult *r = result_for(key);
    if (nmse > r->worst)
        r->worst = nmse;
    if (tol < 0)
        r->exact++;
    if (why)
        fail(key, "%s: %s", what, why);
}

/* Run one node on both backends and compare its destination. */
static void check(const char *what, const Spec *sp, double tol)
{
    char key[48];
    key_of(sp, key, sizeof key);
    slm_node_t rn = node_of(sp, false), sn = node_of(sp, true);
    if (!env.ref.be->supports_node(env.ref.dev, &rn))
        abandon("%s: the reference refuses the test's node", what);
    begin(key);
    if (!env.cur->be->supports_node(env.cur->dev, &sn)) {
        fail(key, "%s: supports_node refused a node the reference runs", what);
        return;
    }
    if (!compute_both(key, &rn, &sn, 1))
        return;
    compare(key, what, sp->dst, tol);
}

/* ------------------------------------------------------ probe, devices */

static void group_probe(void)
{
    for (int r = 0; r < env.opts.n_runs; r++) {
        const Plugin *p = &env.plugins[env.run_plugin[r]];
        const slm_backend_t *be = p->be;
        const ConformRun *run = &env.opts.runs[r];
        env.run = r;
        env.threads = 0;
        expect("descriptor", be->abi_major == SLM_BACKEND_ABI_MAJOR &&
                                 be->abi_minor == SLM_BACKEND_ABI_MINOR &&
                                 be->struct_size == sizeof(slm_backend_t),
               "ABI %u.%u, struct_size %u", (unsigned)be->abi_major, (unsigned)be->abi_minor,
               (unsigned)be->struct_size);
        expect("descriptor", be->description && strlen(be->description) > 0 &&
                                 !strchr(be->description, '\n'),
               "description '%s'", be->description ? be->description : "(null)");
        expect("descriptor", be->buffer_from_host_ptr != NULL, "no buffer_from_host_ptr");
        if (p->n_devices == 0) {
            env.run = -1;
            continue;
        }
        const slm_device_info_t *d = &p->info;
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
        expect("probe", d->dtypes == env.ref.info.dtypes && d->ops == env.ref.info.ops,
               "dtypes 0x%llx, ops 0x%llx; reference 0x%llx, 0x%llx",
               (unsigned long long)d->dtypes, (unsigned long long)d->ops,
               (unsigned long long)env.ref.info.dtypes, (unsigned long long)env.ref.info.ops);

        /* Device handles: default thread count, a second device, bad index;
        ** buffers: write, read back, wrap host memory. */
        void *a = NULL, *b = NULL, *c = NULL;
        REQUIRE_OK(be->device_open(0, NULL, &a));
        slm_device_open_opts_t o = {.struct_size = sizeof o, .n_threads = 2};
        REQUIRE_OK(be->device_open(0, &o, &b));
        expect("devices", be->device_open(1, NULL, &c) != SLM_OK && c == NULL,
               "device_open(1) succeeded");
        void *buf, *base;
        REQUIRE_OK(be->buffer_alloc(a, 100, SLM_BUFFER_WEIGHTS, &buf, &base));
        expect("buffers", ((uintptr_t)base & 63) == 0, "buffer at %p is not 64-byte aligned",
               base);
        char in[100], out[100];
        for (int i = 0; i < 100; i++)
            in[i] = (char)i;
        REQUIRE_OK(be->buffer_write(a, buf, 0, in, 100));
        REQUIRE_OK(be->buffer_read(a, buf, 0, out, 100));
        expect("buffers", memcmp(in, out, 100) == 0, "read back differs");
        expect("buffers", be->buffer_read(a, buf, 50, out, 51) != SLM_OK,
               "read past the end succeeded");
        be->buffer_free(a, buf);
        void *wrapped;
        REQUIRE_OK(be->buffer_from_host_ptr(a, in, sizeof in, &wrapped));
        REQUIRE_OK(be->buffer_read(a, wrapped, 10, out, 5));
        expect("buffers", memcmp(in + 10, out, 5) == 0, "wrapped host memory reads wrong");
        be->buffer_free(a, wrapped);
        be->buffer_free(a, NULL);
        slm_graph_t empty = {0, NULL};
        expect("devices", be->graph_compute(b, &empty) == SLM_OK, "empty graph failed");
        be->device_close(a);
        be->device_close(b);
        env.run = -1;
    }
}

/* supports_node says exactly what the reference says, valid or not. */
static void group_supports_node(void)
{
    FOR_EACH_DEVICE({
        if (env.threads != env.opts.threads[0])
            goto next;
        Twin *a = tensor(SLM_DTYPE_F32, 64, 4, 1, 1);
        Twin *b = tensor(SLM_DTYPE_F32, 64, 1, 1, 1);
        Twin *odd = tensor(SLM_DTYPE_F32, 63, 4, 1, 1);
        Twin *w8 = tensor(SLM_DTYPE_Q8_0, 64, 8, 1, 1);
        Twin *wk = tensor(SLM_DTYPE_Q4_K, 256, 8, 1, 1);
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
            bool r = env.ref.be->supports_node(env.ref.dev, &rn);
            bool s = env.cur->be->supports_node(env.cur->dev, &sn);
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
                check(name, &(Spec){op, d, {a, b}, {0}, {0}}, TOL_F32);
            }
            /* views: transposed source, padded destination */
            Twin *a = fill(layout(SLM_DTYPE_F32, 19, 6, 2, 1, T01, 1), -1, 1);
            Twin *b = fill(layout(SLM_DTYPE_F32, 19, 1, 2, 1, T12, 2), 0.5, 1);
            Twin *d = layout(SLM_DTYPE_F32, 19, 6, 2, 1, ID, 3);
            check(name, &(Spec){op, d, {a, b}, {0}, {0}}, TOL_F32);
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
                      &(Spec){unary[o], d, {x}, {0}, {0.37f, -0.25f}}, TOL_F32);
            }
            for (int g = 0; g < 2; g++) {
                slm_op_t op = g ? SLM_OP_GEGLU : SLM_OP_SWIGLU;
                Twin *x = fill(tensor(SLM_DTYPE_F32, n[0], n[1], n[2], n[3]), -5, 5);
                Twin *u = fill(tensor(SLM_DTYPE_F32, n[0], n[1], n[2], n[3]), -2, 2);
                Twin *d = tensor(SLM_DTYPE_F32, n[0], n[1], n[2], n[3]);
                check(slm_op_name(op), &(Spec){op, d, {x, u}, {0}, {0}}, TOL_F32);
            }
        }
        /* views */
        for (size_t o = 0; o < 4; o++) {
            Twin *x = fill(layout(SLM_DTYPE_F32, 23, 5, 2, 1, T01, 1), -6, 6);
            Twin *d = layout(SLM_DTYPE_F32, 23, 5, 2, 1, T12, 2);
            check(slm_op_name(unary[o]), &(Spec){unary[o], d, {x}, {0}, {2.0f, 1.0f}}, TOL_F32);
        }
        Twin *x = fill(layout(SLM_DTYPE_F32, 23, 5, 1, 1, T01, 0), -5, 5);
        Twin *u = fill(layout(SLM_DTYPE_F32, 23, 5, 1, 1, ID, 3), -2, 2);
        Twin *d = layout(SLM_DTYPE_F32, 23, 5, 1, 1, T01, 1);
        check("SWIGLU view", &(Spec){SLM_OP_SWIGLU, d, {x, u}, {0}, {0}}, TOL_F32);
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
            check("RMS_NORM", &(Spec){SLM_OP_RMS_NORM, d, {x}, {0}, {1e-5f}}, TOL_F32);
            Twin *sum = tensor(SLM_DTYPE_F32, 1, n[1], n[2], n[3]);
            check("SUM_ROWS", &(Spec){SLM_OP_SUM_ROWS, sum, {x}, {0}, {0}}, TOL_F32);
        }
        Twin *x = fill(layout(SLM_DTYPE_F32, 37, 4, 3, 1, T01, 1), -3, 3);
        Twin *d = layout(SLM_DTYPE_F32, 37, 4, 3, 1, T12, 1);
        check("RMS_NORM view", &(Spec){SLM_OP_RMS_NORM, d, {x}, {0}, {1e-6f}}, TOL_F32);
        Twin *sum = layout(SLM_DTYPE_F32, 1, 4, 3, 1, T12, 2);
        check("SUM_ROWS view", &(Spec){SLM_OP_SUM_ROWS, sum, {x}, {0}, {0}}, TOL_F32);
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
            check("SOFTMAX", &sp, TOL_TRANS);
        }
        Twin *x = fill(layout(SLM_DTYPE_F32, 29, 6, 2, 1, T01, 1), -4, 4);
        Twin *m = fill(layout(SLM_DTYPE_F32, 29, 6, 1, 1, T01, 2), -1, 0);
        Twin *d = layout(SLM_DTYPE_F32, 29, 6, 2, 1, T12, 1);
        check("SOFTMAX view", &(Spec){SLM_OP_SOFTMAX, d, {x, m}, {1, 20, 0}, {0.5f, 0}}, TOL_TRANS);
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
            check("ROPE", &sp, TOL_TRANS);
        }
        Twin *x = fill(layout(SLM_DTYPE_F32, 16, 3, 4, 1, T12, 1), -1, 1);
        Twin *pos = fill_ids(tensor(SLM_DTYPE_I32, 4, 1, 1, 1), 100, true);
        Twin *d = layout(SLM_DTYPE_F32, 16, 3, 4, 1, T01, 0);
        check("ROPE view", &(Spec){SLM_OP_ROPE, d, {x, pos}, {12, SLM_ROPE_NORMAL},
                                   {500.0f, 1.0f, 0, 1.0f}}, TOL_TRANS);
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
            check("GET_ROWS", &(Spec){SLM_OP_GET_ROWS, d, {table, ids}, {0}, {0}}, EXACT);
        }
        Twin *table = fill(layout(SLM_DTYPE_F16, 33, 9, 1, 1, T01, 1), -1, 1);
        Twin *ids = fill_ids(tensor(SLM_DTYPE_I32, 40, 1, 1, 1), 9, true);
        Twin *d = layout(SLM_DTYPE_F32, 33, 40, 1, 1, T01, 2);
        check("GET_ROWS view", &(Spec){SLM_OP_GET_ROWS, d, {table, ids}, {0}, {0}}, EXACT);

        static const slm_dtype_t dsts[] = {SLM_DTYPE_F32, SLM_DTYPE_F16, SLM_DTYPE_BF16};
        for (size_t k = 0; k < 3; k++) {
            Twin *cache = fill(tensor(dsts[k], 67, 50, 2, 1), -1, 1);
            Twin *rows = fill(tensor(SLM_DTYPE_F32, 67, 6, 2, 1), -100, 100);
            Twin *at = fill_ids(tensor(SLM_DTYPE_I32, 6, 2, 1, 1), 50, true);
            check("SET_ROWS", &(Spec){SLM_OP_SET_ROWS, cache, {rows, at}, {0}, {0}}, EXACT);
            Twin *big = fill(tensor(dsts[k], 2048, 40, 1, 1), -1, 1);
            Twin *many = fill(tensor(SLM_DTYPE_F32, 2048, 16, 1, 1), -1, 1);
            Twin *at2 = fill_ids(tensor(SLM_DTYPE_I32, 16, 1, 1, 1), 40, true);
            check("SET_ROWS big", &(Spec){SLM_OP_SET_ROWS, big, {many, at2}, {0}, {0}}, EXACT);
            Twin *vcache = fill(layout(dsts[k], 12, 30, 1, 1, T01, 1), -1, 1);
            Twin *vrows = fill(layout(SLM_DTYPE_F32, 12, 5, 1, 1, T01, 1), -1, 1);
            Twin *at3 = fill_ids(tensor(SLM_DTYPE_I32, 5, 1, 1, 1), 30, false);
            check("SET_ROWS view", &(Spec){SLM_OP_SET_ROWS, vcache, {vrows, at3}, {0}, {0}}, EXACT);
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
                check("COPY", &(Spec){SLM_OP_COPY, d, {s}, {0}, {0}}, EXACT);
                Twin *sv = fill(layout(fl[a], 13, 5, 4, 1, T12, 1), -2, 2);
                Twin *dv = fill(layout(fl[b], 13, 5, 4, 1, T01, 2), 0, 0);
                check("COPY view", &(Spec){SLM_OP_COPY, dv, {sv}, {0}, {0}}, EXACT);
                Twin *r = fill(layout(fl[a], 6, 10, 3, 1, T01, 1), -2, 2);
                Twin *dr = fill(tensor(fl[b], 20, 9, 1, 1), 0, 0);
                check("COPY reshape", &(Spec){SLM_OP_COPY, dr, {r}, {0}, {0}}, EXACT);
            }
        Twin *big = fill(tensor(SLM_DTYPE_F32, 4096, 9, 1, 1), -1, 1);
        Twin *bigd = tensor(SLM_DTYPE_F32, 4096, 9, 1, 1);
        check("COPY big", &(Spec){SLM_OP_COPY, bigd, {big}, {0}, {0}}, EXACT);
        for (size_t t = 3; t < N_WEIGHT_TYPES; t++) {
            Twin *q = fill(layout(weight_types[t], 256, 4, 3, 1, T12, 1), -1, 1);
            Twin *qd = fill(tensor(weight_types[t], 256, 12, 1, 1), -1, 1);
            check("COPY blocks", &(Spec){SLM_OP_COPY, qd, {q}, {0}, {0}}, EXACT);
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
                check("ARGSORT", &(Spec){SLM_OP_ARGSORT, d, {x}, {o}, {0}}, EXACT);
            }
            int64_t ks[] = {1, n < 2 ? 1 : 2, n < 8 ? n : 8, n < 20 ? n : 20, n};
            for (size_t k = 0; k < 5; k++) {
                Twin *d = tensor(SLM_DTYPE_I32, ks[k], rows, 1, 1);
                check("TOP_K", &(Spec){SLM_OP_TOP_K, d, {x}, {(int32_t)ks[k]}, {0}}, EXACT);
            }
        }
        Twin *x = fill(layout(SLM_DTYPE_F32, 11, 6, 1, 1, T01, 1), -1, 1);
        Twin *d = layout(SLM_DTYPE_I32, 3, 6, 1, 1, T01, 1);
        check("TOP_K view", &(Spec){SLM_OP_TOP_K, d, {x}, {3}, {0}}, EXACT);
    });
}

/* ------------------------------------------------------------- matmuls */

static double tol_for(slm_dtype_t t)
{
    return slm_dtype_is_quantized(t) ? TOL_QUANT : TOL_F32;
}

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
                Twin *w = fill(tensor(dt, c[0], c[1], c[5], c[6]), -1, 1);
                Twin *x = fill(tensor(SLM_DTYPE_F32, c[0], c[2], c[3], c[4]), -1, 1);
                Twin *d = tensor(SLM_DTYPE_F32, c[1], c[2], c[3], c[4]);
                char what[64];
                snprintf(what, sizeof what, "MUL_MAT %s [%lld x %lld x %lld]",
                         slm_dtype_name(dt), (long long)c[0], (long long)c[1], (long long)c[2]);
                check(what, &(Spec){SLM_OP_MUL_MAT, d, {w, x}, {0}, {0}}, tol_for(dt));
            }
            /* K not a multiple of 256: odd block counts, and whole groups
            ** of 8 or 16 blocks (the decode kernels' step) with a rest */
            if (slm_dtype_block_elems(dt) <= 32) {
                static const int64_t odd[][3] = {{32, 7, 1},   {96, 13, 5},  {224, 66, 9},
                                                 {288, 6, 1},  {544, 9, 1},  {1056, 5, 3},
                                                 {1120, 40, 1}};
                for (size_t k = 0; k < sizeof odd / sizeof odd[0]; k++) {
                    Twin *w = fill(tensor(dt, odd[k][0], odd[k][1], 1, 1), -1, 1);
                    Twin *x = fill(tensor(SLM_DTYPE_F32, odd[k][0], odd[k][2], 1, 1), -1, 1);
                    Twin *d = tensor(SLM_DTYPE_F32, odd[k][1], odd[k][2], 1, 1);
                    check("MUL_MAT odd K", &(Spec){SLM_OP_MUL_MAT, d, {w, x}, {0}, {0}},
                          tol_for(dt));
                }
            }
            /* strided activations and a padded destination */
            Twin *w = fill(layout(dt, 256, 12, 2, 1, T12, 1), -1, 1);
            Twin *x = fill(layout(SLM_DTYPE_F32, 256, 3, 4, 1, T12, 1), -1, 1);
            Twin *d = layout(SLM_DTYPE_F32, 12, 3, 4, 1, T01, 2);
            check("MUL_MAT view", &(Spec){SLM_OP_MUL_MAT, d, {w, x}, {0}, {0}}, tol_for(dt));
            Twin *xt = fill(layout(SLM_DTYPE_F32, 256, 5, 1, 1, T01, 0), -1, 1);
            Twin *w1 = fill(tensor(dt, 256, 40, 1, 1), -1, 1);
            Twin *dt1 = tensor(SLM_DTYPE_F32, 40, 5, 1, 1);
            check("MUL_MAT transposed x", &(Spec){SLM_OP_MUL_MAT, dt1, {w1, xt}, {0}, {0}},
                  tol_for(dt));
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
            check("MUL_MAT K^T Q", &(Spec){SLM_OP_MUL_MAT, kq, {keys, q}, {0}, {0}}, TOL_F32);
            Twin *vt = fill(layout(SLM_DTYPE_F32, n_kv, hd, nkv, 1, T01, 0), -1, 1);
            Twin *p = fill(tensor(SLM_DTYPE_F32, n_kv, T, nh, 1), 0, 1);
            Twin *o = tensor(SLM_DTYPE_F32, hd, T, nh, 1);
            check("MUL_MAT V^T P", &(Spec){SLM_OP_MUL_MAT, o, {vt, p}, {0}, {0}}, TOL_F32);
            Twin *vh = fill(layout(SLM_DTYPE_F16, n_kv, hd, nkv, 1, T01, 1), -1, 1);
            Twin *oh = tensor(SLM_DTYPE_F32, hd, T, nh, 1);
            check("MUL_MAT F16 V^T P", &(Spec){SLM_OP_MUL_MAT, oh, {vh, p}, {0}, {0}}, TOL_F32);
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
                Twin *w = fill(tensor(dt, c[0], c[1], c[2], 1), -1, 1);
                Twin *x = fill(tensor(SLM_DTYPE_F32, c[0], c[5], c[4], 1), -1, 1);
                Twin *ids = fill_ids(tensor(SLM_DTYPE_I32, c[3], c[4], 1, 1), c[2], true);
                Twin *d = tensor(SLM_DTYPE_F32, c[1], c[3], c[4], 1);
                char what[64];
                snprintf(what, sizeof what, "MUL_MAT_ID %s case %zu", slm_dtype_name(dt), k);
                check(what, &(Spec){SLM_OP_MUL_MAT_ID, d, {w, x, ids}, {0}, {0}}, tol_for(dt));
            }
        }
        Twin *w = fill(layout(SLM_DTYPE_F32, 64, 6, 3, 1, T01, 1), -1, 1);
        Twin *x = fill(layout(SLM_DTYPE_F32, 64, 2, 4, 1, T01, 1), -1, 1);
        Twin *ids = fill_ids(tensor(SLM_DTYPE_I32, 2, 4, 1, 1), 3, true);
        Twin *d = tensor(SLM_DTYPE_F32, 6, 2, 4, 1);
        check("MUL_MAT_ID views", &(Spec){SLM_OP_MUL_MAT_ID, d, {w, x, ids}, {0}, {0}}, TOL_F32);
    });
}

/* An infinity or NaN among the activations makes the quantised block's
** scale NaN (graph.h): the outputs of that column are NaN in both, the
** other columns unchanged. */
static void group_mul_mat_non_finite(void)
{
    FOR_EACH_DEVICE({
        for (size_t t = 0; t < N_WEIGHT_TYPES; t++) {
            slm_dtype_t dt = weight_types[t];
            char key[48];
            snprintf(key, sizeof key, "MUL_MAT %s non-finite", slm_dtype_name(dt));
            for (int64_t M = 1; M <= 3; M += 2) {
                Twin *w = fill(tensor(dt, 512, 9, 1, 1), -1, 1);
                Twin *x = fill(tensor(SLM_DTYPE_F32, 512, M, 1, 1), -1, 1);
                setf(&x->r, 300, M - 1, 0, 0, M == 1 ? INFINITY : NAN);
                sync_twin(x);
                Twin *d = tensor(SLM_DTYPE_F32, 9, M, 1, 1);
                Spec sp = {SLM_OP_MUL_MAT, d, {w, x}, {0}, {0}};
                slm_node_t rn = node_of(&sp, false), sn = node_of(&sp, true);
                begin(key);
                if (!compute_both(key, &rn, &sn, 1))
                    continue;
                char why[160] = "";
                FOR4(&d->r) {
                    double a = getf(&d->r, i0, i1, i2, i3), b = getf(&d->s, i0, i1, i2, i3);
                    if (!why[0] && (isnan(a) != isnan(b) ||
                                    (!isnan(a) && fabs(a - b) > 1e-4 * fmax(1, fabs(a)))))
                        snprintf(why, sizeof why, "[%lld, %lld] %g, reference %g",
                                 (long long)i0, (long long)i1, b, a);
                }
                if (why[0])
                    fail(key, "%s", why);
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
            Twin *w1 = fill(tensor(SLM_DTYPE_Q8_0, 256, 512, 1, 1), -1, 1);
            Twin *w2 = fill(tensor(SLM_DTYPE_Q4_0, 512, 256, 1, 1), -1, 1);
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
            }
            begin("graph chain");
            if (!compute_both("graph chain", rn, sn, N))
                continue;
            compare("graph chain", "graph chain", s, TOL_CHAIN);
            compare("graph chain", "graph chain (rms)", n1, TOL_F32);
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
        memcpy(ids->s.data, bad, sizeof bad);
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
        slm_graph_t g = {4, sn};
        env.error[0] = '\0';
        slm_status_t st = env.cur->be->graph_compute(env.cur->dev, &g);
        expect("bad ids", st == SLM_ERR_INVALID_ARG && strstr(env.error, "node 1") &&
                              strstr(env.error, "10"),
               "row id 10 of 10: status %d, message '%s'", (int)st, env.error);

        Twin *w = fill(tensor(SLM_DTYPE_Q8_0, 64, 8, 3, 1), -1, 1);
        Twin *xe = fill(tensor(SLM_DTYPE_F32, 64, 1, 2, 1), -1, 1);
        Twin *eids = tensor(SLM_DTYPE_I32, 2, 2, 1, 1);
        int32_t ebad[4] = {0, 2, -1, 1};
        memcpy(eids->s.data, ebad, sizeof ebad);
        Twin *eo = tensor(SLM_DTYPE_F32, 8, 2, 2, 1);
        slm_node_t e = node_of(&(Spec){SLM_OP_MUL_MAT_ID, eo, {w, xe, eids}, {0}, {0}}, true);
        g = (slm_graph_t){1, &e};
        st = env.cur->be->graph_compute(env.cur->dev, &g);
        expect("bad ids", st == SLM_ERR_INVALID_ARG && strstr(env.error, "expert id -1"),
               "expert id -1: status %d, message '%s'", (int)st, env.error);

        /* A node the reference refuses is refused before anything runs. */
        slm_node_t nope = node_of(&(Spec){SLM_OP_ADD, x, {x, table}, {0}, {0}}, true);
        g = (slm_graph_t){1, &nope};
        st = env.cur->be->graph_compute(env.cur->dev, &g);
        expect("bad ids", st == SLM_ERR_INVALID_ARG, "invalid node: status %d", (int)st);

        /* and the device still computes */
        fill_ids(ids, 10, true);
        check("GET_ROWS after errors", &sp[1], EXACT);
    });
}

/* --------------------------------------------------------------- groups */

typedef struct Group {
    const char *name;
    void (*run)(void);
} Group;

static const Group groups[] = {
    {"probe", group_probe},
    {"supports_node", group_supports_node},
    {"binary", group_binary},
    {"unary_and_glu", group_unary_and_glu},
    {"rows_ops", group_rows_ops},
    {"softmax", group_softmax},
    {"rope", group_rope},
    {"get_set_rows", group_get_set_rows},
    {"copy", group_copy},
    {"sort", group_sort},
    {"mul_mat", group_mul_mat},
    {"mul_mat_id", group_mul_mat_id},
    {"mul_mat_non_finite", group_mul_mat_non_finite},
    {"graph_chain", group_graph_chain},
    {"bad_ids", group_bad_ids},
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
    env.threads = 0;
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
    run_guarded(groups[g].run);
    return failures() - before;
}
