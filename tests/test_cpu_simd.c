/*
** test_cpu_simd.c -- the x86 SIMD backends (cpu-avx2, cpu-avx512) against
** the scalar reference backend, both driven through their descriptors as
** the runtime drives them: dlopen, slm_plugin_init, probe, device_open,
** buffers, supports_node, graph_compute.
**
** Every op runs on random inputs, for several shapes (odd sizes, one row
** and many, sizes that make the node run on every thread) and views (padded
** and permuted strides), on each variant this CPU supports, with 1, 2 and 3
** threads. Both backends get byte-identical inputs; their outputs are
** compared with the normalised mean squared error
**     nmse = sum((simd - ref)^2) / sum(ref^2)
** within the tolerance of the op (NaN never passes):
**
**   element-wise F32 ops, norms, row sums, F32/F16/BF16 matmuls  1e-10
**   matmuls with quantised weights                               1e-9
**   SOFTMAX, ROPE (vector exp, float rotations)                  1e-6
**   a chain of nodes ending in quantised matmuls                 5e-4
**   GET_ROWS, SET_ROWS, COPY, ARGSORT, TOP_K                     exact
**
** Quantised matmuls quantise their activations (graph.h), and both
** backends must do it bit for bit, so on equal inputs only the order of
** the float sums differs. In a chain the inputs of a matmul already differ
** in the last bits, which may move a quant by one: hence the wider bound.
**
** Beyond the elements, every other byte of a destination buffer must be
** what the reference left there (both start from the same bytes).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dlfcn.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slm/backend.h"

#define TOL_F32 1e-10
#define TOL_TRANS 1e-6
#define TOL_QUANT 1e-9
#define TOL_CHAIN 5e-4
#define EXACT (-1.0)

#define MAX_TENSORS 4096

/* ---------------------------------------------------------------- plugins */

typedef struct Plugin {
    void *so;
    const slm_backend_t *be;
    void *dev;
    uint32_t n_devices;
    slm_device_info_t info;
} Plugin;

typedef struct Env {
    slm_host_t host;
    char error[512];
    Plugin ref;
    Plugin simd[2];      /* cpu-avx2, cpu-avx512 */
    Plugin *cur;         /* the variant under test */
    uint32_t threads;    /* its device's thread count */
    bool no_vnni;        /* config: cpu-avx512 without its VNNI kernels */
    uint64_t rng;
} Env;

static Env env;

static const char *const variant_names[2] = {"cpu-avx2", "cpu-avx512"};
static const uint32_t thread_counts[] = {1, 2, 3};

/* What runs: cpu-avx2; cpu-avx512; cpu-avx512 with vnni = off, which picks
** the kernels of CPUs without VNNI (the same on a CPU that lacks it). */
enum { N_RUNS = 3 };
static const int run_plugin[N_RUNS] = {0, 1, 1};
static const bool run_no_vnni[N_RUNS] = {false, false, true};

static void host_set_error(void *ctx, const char *msg)
{
    (void)ctx;
    snprintf(env.error, sizeof env.error, "%s", msg);
}

static void host_log(void *ctx, int level, const char *msg)
{
    (void)ctx, (void)level, (void)msg;
}

static const char *host_config_get(void *ctx, const char *key)
{
    (void)ctx;
    return env.no_vnni && strcmp(key, "vnni") == 0 ? "off" : NULL;
}

static void load_plugin(Plugin *p, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/libslm-backend-%s.so", SLM_BACKEND_BUILD_DIR, name);
    p->so = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!p->so)
        fail_msg("dlopen %s: %s", path, dlerror());
    slm_plugin_init_fn init = (slm_plugin_init_fn)(uintptr_t)dlsym(p->so, SLM_PLUGIN_ENTRY_NAME);
    assert_non_null(init);
    assert_int_equal(init(&env.host, &p->be), SLM_OK);
    assert_string_equal(p->be->name, name);
    memset(&p->info, 0, sizeof p->info);
    slm_device_info_t infos[SLM_MAX_DEVICES_PER_PLUGIN];
    memset(infos, 0, sizeof infos);
    for (int i = 0; i < SLM_MAX_DEVICES_PER_PLUGIN; i++)
        infos[i].struct_size = sizeof infos[i];
    assert_int_equal(p->be->probe(infos, SLM_MAX_DEVICES_PER_PLUGIN, &p->n_devices), SLM_OK);
    assert_true(p->n_devices <= 1);
    if (p->n_devices == 1)
        p->info = infos[0];
}

static int group_setup(void **state)
{
    (void)state;
    memset(&env, 0, sizeof env);
    env.host = (slm_host_t){
        .abi_major = SLM_BACKEND_ABI_MAJOR,
        .abi_minor = SLM_BACKEND_ABI_MINOR,
        .struct_size = sizeof(slm_host_t),
        .ctx = &env,
        .log = host_log,
        .set_error = host_set_error,
        .config_get = host_config_get,
    };
    load_plugin(&env.ref, "cpu");
    assert_int_equal(env.ref.be->device_open(0, NULL, &env.ref.dev), SLM_OK);
    for (int v = 0; v < 2; v++) {
        load_plugin(&env.simd[v], variant_names[v]);
        if (env.simd[v].n_devices == 0)
            print_message("note: %s reports no device on this CPU; its "
                          "conformance is skipped\n", variant_names[v]);
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    env.ref.be->device_close(env.ref.dev);
    dlclose(env.ref.so);
    for (int v = 0; v < 2; v++)
        dlclose(env.simd[v].so);
    return 0;
}

/* Open run r's variant with n threads; false when the CPU lacks it. */
static bool open_variant(int r, uint32_t n)
{
    Plugin *p = &env.simd[run_plugin[r]];
    if (p->n_devices == 0)
        return false;
    env.no_vnni = run_no_vnni[r];
    slm_device_open_opts_t o = {.struct_size = sizeof o, .n_threads = n};
    if (p->be->device_open(0, &o, &p->dev) != SLM_OK)
        fail_msg("%s: device_open(%u threads): %s", p->be->name, n, env.error);
    env.cur = p;
    env.threads = n;
    env.rng = 0x9E3779B97F4A7C15ull ^ (uint64_t)(r * 131 + (int)n);
    return true;
}

static void close_variant(void);

/* Run body once per (run, thread count) this CPU supports. */
#define FOR_EACH_DEVICE(...)                                                  \
    for (int v_ = 0; v_ < N_RUNS; v_++)                                       \
        for (size_t t_ = 0; t_ < sizeof thread_counts / sizeof *thread_counts; t_++) { \
            if (!open_variant(v_, thread_counts[t_]))                         \
                continue;                                                     \
            __VA_ARGS__;                                                      \
            close_variant();                                                  \
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

static void close_variant(void)
{
    for (int i = 0; i < n_twins; i++) {
        env.ref.be->buffer_free(env.ref.dev, twins[i]->r.buffer);
        env.cur->be->buffer_free(env.cur->dev, twins[i]->s.buffer);
        free(twins[i]);
    }
    n_twins = 0;
    env.cur->be->device_close(env.cur->dev);
    env.cur->dev = NULL;
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
    assert_true(n_twins < MAX_TENSORS);
    Twin *tw = calloc(1, sizeof *tw);
    assert_non_null(tw);
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
    snprintf(x->name, sizeof x->name, "t%d", n_twins);
    tw->s = tw->r;
    void *base;
    assert_int_equal(env.ref.be->buffer_alloc(env.ref.dev, tw->size, SLM_BUFFER_ACTIVATIONS,
                                              &tw->r.buffer, &base), SLM_OK);
    memset(base, 0xCD, tw->size);
    tw->r.data = (char *)base + x->offset;
    assert_int_equal(env.cur->be->buffer_alloc(env.cur->dev, tw->size, SLM_BUFFER_ACTIVATIONS,
                                               &tw->s.buffer, &base), SLM_OK);
    memset(base, 0xCD, tw->size);
    tw->s.data = (char *)base + x->offset;
    twins[n_twins++] = tw;
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
    default: fail_msg("getf on %s", slm_dtype_name(x->dtype)); return 0;
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
    default: fail_msg("setf on %s", slm_dtype_name(x->dtype));
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
    FOR4(x) {
        int32_t id = (int32_t)(repeats ? rnd() % n : (start + k * 7) % n);
        assert_true(repeats || count <= n);
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

static const char *where(void)
{
    static char buf[64];
    snprintf(buf, sizeof buf, "%s%s, %u thread%s", env.cur->be->name,
             env.no_vnni ? " without VNNI" : "", env.threads, env.threads == 1 ? "" : "s");
    return buf;
}

static void compute_both(slm_node_t *rn, slm_node_t *sn, uint32_t n)
{
    slm_graph_t g = {n, rn};
    env.error[0] = '\0';
    if (env.ref.be->graph_compute(env.ref.dev, &g) != SLM_OK)
        fail_msg("reference %s failed: %s", slm_op_name(rn[0].op), env.error);
    g.nodes = sn;
    if (env.cur->be->graph_compute(env.cur->dev, &g) != SLM_OK)
        fail_msg("%s: %s failed: %s", where(), slm_op_name(sn[0].op), env.error);
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

/* dst of both backends: exact (tol < 0) or within nmse <= tol; bytes that
** are no element's must agree exactly. */
static void compare(const char *what, const Twin *t, double tol)
{
    const uint8_t *rb = (const uint8_t *)t->r.data - t->r.offset;
    const uint8_t *sb = (const uint8_t *)t->s.data - t->s.offset;
    if (tol < 0) {
        for (size_t i = 0; i < t->size; i++)
            if (rb[i] != sb[i])
                fail_msg("%s (%s): byte %zu of %zu differs: %02x, reference %02x",
                         what, where(), i, t->size, sb[i], rb[i]);
        return;
    }
    uint8_t *mask = calloc(t->size, 1);
    assert_non_null(mask);
    mark_elements(&t->r, mask);
    for (size_t i = 0; i < t->size; i++)
        if (!mask[i] && rb[i] != sb[i])
            fail_msg("%s (%s): byte %zu outside the elements was written", what, where(), i);
    free(mask);
    double num = 0.0, den = 0.0;
    const slm_tensor_t *r = &t->r, *s = &t->s;
    FOR4(r) {
        double a = getf(r, i0, i1, i2, i3), b = getf(s, i0, i1, i2, i3);
        if (isnan(b) || isnan(a))
            fail_msg("%s (%s): NaN at [%lld, %lld, %lld, %lld]", what, where(),
                     (long long)i0, (long long)i1, (long long)i2, (long long)i3);
        num += (a - b) * (a - b);
        den += a * a;
    }
    double nmse = den > 0.0 ? num / den : num;
    if (!(nmse <= tol)) {
        double worst = -1.0, got = 0.0, want = 0.0;
        int64_t wi[4] = {0, 0, 0, 0};
        FOR4(r) {
            double a = getf(r, i0, i1, i2, i3), b = getf(s, i0, i1, i2, i3);
            if (fabs(a - b) > worst) {
                worst = fabs(a - b), got = b, want = a;
                wi[0] = i0, wi[1] = i1, wi[2] = i2, wi[3] = i3;
            }
        }
        fail_msg("%s (%s): nmse %.3g above %.3g; worst at [%lld, %lld, %lld, %lld]: "
                 "%.6g, reference %.6g", what, where(), nmse, tol, (long long)wi[0],
                 (long long)wi[1], (long long)wi[2], (long long)wi[3], got, want);
    }
}

/* Run one node on both backends and compare its destination. */
static void check(const char *what, const Spec *sp, double tol)
{
    slm_node_t rn = node_of(sp, false), sn = node_of(sp, true);
    bool ref_ok = env.ref.be->supports_node(env.ref.dev, &rn);
    bool simd_ok = env.cur->be->supports_node(env.cur->dev, &sn);
    if (!ref_ok)
        fail_msg("%s: the reference refuses the test's node", what);
    if (!simd_ok)
        fail_msg("%s (%s): supports_node refused a node the reference runs", what, where());
    compute_both(&rn, &sn, 1);
    compare(what, sp->dst, tol);
}

/* ------------------------------------------------------ probe, devices */

static void test_probe_and_descriptor(void **state)
{
    (void)state;
    int present = 0;
    for (int v = 0; v < 2; v++) {
        Plugin *p = &env.simd[v];
        const slm_backend_t *be = p->be;
        assert_int_equal(be->abi_major, SLM_BACKEND_ABI_MAJOR);
        assert_int_equal(be->abi_minor, SLM_BACKEND_ABI_MINOR);
        assert_int_equal(be->struct_size, sizeof(slm_backend_t));
        assert_true(strlen(be->description) > 0 && !strchr(be->description, '\n'));
        assert_non_null(be->buffer_from_host_ptr);
        if (p->n_devices == 0) {
            print_message("note: %s: no device on this CPU\n", variant_names[v]);
            continue;
        }
        present++;
        const slm_device_info_t *d = &p->info;
        assert_int_equal(d->kind, SLM_DEVICE_CPU);
        assert_int_equal(d->flags, SLM_DEVICE_FLAG_HOST_MEMORY);
        const char *label = v == 0 ? " (AVX2)" : " (AVX-512)";
        size_t nl = strlen(d->name), ll = strlen(label);
        assert_true(nl > ll && strcmp(d->name + nl - ll, label) == 0);
        assert_true(strlen(d->vendor) > 0);
        assert_non_null(strstr(d->features, v == 0 ? "avx2 fma f16c" : "avx512f avx512bw avx512vl"));
        assert_true(d->max_threads >= 1);
        assert_true(d->peak_gflops > 0.0);
        assert_true(d->memory_total > 0);
        assert_int_equal(d->dtypes, env.ref.info.dtypes);
        assert_int_equal(d->ops, env.ref.info.ops);
    }
    if (env.simd[0].n_devices && env.simd[1].n_devices)
        assert_true(env.simd[1].info.peak_gflops > env.simd[0].info.peak_gflops);
    /* An AVX-512 CPU has AVX2: where the wide variant runs, so does the other. */
    if (env.simd[1].n_devices)
        assert_int_equal(env.simd[0].n_devices, 1);
    if (present == 0)
        print_message("note: no SIMD variant runs on this CPU\n");

    /* Device handles: default thread count, a second device, bad index. */
    for (int v = 0; v < 2; v++) {
        Plugin *p = &env.simd[v];
        if (!p->n_devices)
            continue;
        void *a = NULL, *b = NULL;
        assert_int_equal(p->be->device_open(0, NULL, &a), SLM_OK);
        slm_device_open_opts_t o = {.struct_size = sizeof o, .n_threads = 2};
        assert_int_equal(p->be->device_open(0, &o, &b), SLM_OK);
        void *c = NULL;
        assert_int_not_equal(p->be->device_open(1, NULL, &c), SLM_OK);
        assert_null(c);
        /* buffers: write, read back, wrap host memory */
        void *buf, *base;
        assert_int_equal(p->be->buffer_alloc(a, 100, SLM_BUFFER_WEIGHTS, &buf, &base), SLM_OK);
        assert_true(((uintptr_t)base & 63) == 0);
        char in[100], out[100];
        for (int i = 0; i < 100; i++)
            in[i] = (char)i;
        assert_int_equal(p->be->buffer_write(a, buf, 0, in, 100), SLM_OK);
        assert_int_equal(p->be->buffer_read(a, buf, 0, out, 100), SLM_OK);
        assert_memory_equal(in, out, 100);
        assert_int_not_equal(p->be->buffer_read(a, buf, 50, out, 51), SLM_OK);
        p->be->buffer_free(a, buf);
        void *wrapped;
        assert_int_equal(p->be->buffer_from_host_ptr(a, in, sizeof in, &wrapped), SLM_OK);
        assert_int_equal(p->be->buffer_read(a, wrapped, 10, out, 5), SLM_OK);
        assert_memory_equal(in + 10, out, 5);
        p->be->buffer_free(a, wrapped);
        p->be->buffer_free(a, NULL);
        slm_graph_t empty = {0, NULL};
        assert_int_equal(p->be->graph_compute(b, &empty), SLM_OK);
        p->be->device_close(a);
        p->be->device_close(b);
    }
}

/* supports_node says exactly what the reference says, valid or not. */
static void test_supports_node_matches_reference(void **state)
{
    (void)state;
    FOR_EACH_DEVICE({
        if (env.threads != 1)
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
            if (r != s)
                fail_msg("%s: node %zu: supports_node %d, reference %d", where(), i, s, r);
        }
    next:;
    });
}

/* ------------------------------------------------------ element-wise */

static void test_binary(void **state)
{
    (void)state;
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

static void test_unary_and_glu(void **state)
{
    (void)state;
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

static void test_rows_ops(void **state) /* RMS_NORM, SUM_ROWS */
{
    (void)state;
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

static void test_softmax(void **state)
{
    (void)state;
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

static void test_rope(void **state)
{
    (void)state;
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

static void test_get_set_rows(void **state)
{
    (void)state;
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

static void test_copy(void **state)
{
    (void)state;
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

static void test_sort(void **state)
{
    (void)state;
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

static void test_mul_mat(void **state)
{
    (void)state;
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

static void test_mul_mat_id(void **state)
{
    (void)state;
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
static void test_mul_mat_non_finite(void **state)
{
    (void)state;
    FOR_EACH_DEVICE({
        for (size_t t = 0; t < N_WEIGHT_TYPES; t++) {
            slm_dtype_t dt = weight_types[t];
            for (int64_t M = 1; M <= 3; M += 2) {
                Twin *w = fill(tensor(dt, 512, 9, 1, 1), -1, 1);
                Twin *x = fill(tensor(SLM_DTYPE_F32, 512, M, 1, 1), -1, 1);
                setf(&x->r, 300, M - 1, 0, 0, M == 1 ? INFINITY : NAN);
                sync_twin(x);
                Twin *d = tensor(SLM_DTYPE_F32, 9, M, 1, 1);
                Spec sp = {SLM_OP_MUL_MAT, d, {w, x}, {0}, {0}};
                slm_node_t rn = node_of(&sp, false), sn = node_of(&sp, true);
                compute_both(&rn, &sn, 1);
                FOR4(&d->r) {
                    double a = getf(&d->r, i0, i1, i2, i3), b = getf(&d->s, i0, i1, i2, i3);
                    if (isnan(a) != isnan(b) || (!isnan(a) && fabs(a - b) > 1e-4 * fmax(1, fabs(a))))
                        fail_msg("MUL_MAT %s non-finite (%s): [%lld, %lld] %g, reference %g",
                                 slm_dtype_name(dt), where(), (long long)i0, (long long)i1, b, a);
                }
            }
        }
    });
}

/* ------------------------------------------------------ graphs, errors */

/* A chain of nodes of mixed sizes, some run on every thread and some on
** one: the plan and its barriers must leave every result where the next
** node expects it. */
static void test_graph_chain(void **state)
{
    (void)state;
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
            compute_both(rn, sn, N);
            compare("graph chain", s, TOL_CHAIN);
            compare("graph chain (rms)", n1, TOL_F32);
        }
    });
}

/* Bad ids fail the graph with a message naming the node, on any thread
** count, without hanging or touching memory out of bounds; the device
** stays usable. */
static void test_bad_ids(void **state)
{
    (void)state;
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
        assert_int_equal(env.cur->be->graph_compute(env.cur->dev, &g), SLM_ERR_INVALID_ARG);
        assert_non_null(strstr(env.error, "node 1"));
        assert_non_null(strstr(env.error, "10"));

        Twin *w = fill(tensor(SLM_DTYPE_Q8_0, 64, 8, 3, 1), -1, 1);
        Twin *xe = fill(tensor(SLM_DTYPE_F32, 64, 1, 2, 1), -1, 1);
        Twin *eids = tensor(SLM_DTYPE_I32, 2, 2, 1, 1);
        int32_t ebad[4] = {0, 2, -1, 1};
        memcpy(eids->s.data, ebad, sizeof ebad);
        Twin *eo = tensor(SLM_DTYPE_F32, 8, 2, 2, 1);
        slm_node_t e = node_of(&(Spec){SLM_OP_MUL_MAT_ID, eo, {w, xe, eids}, {0}, {0}}, true);
        g = (slm_graph_t){1, &e};
        assert_int_equal(env.cur->be->graph_compute(env.cur->dev, &g), SLM_ERR_INVALID_ARG);
        assert_non_null(strstr(env.error, "expert id -1"));

        /* A node the reference refuses is refused before anything runs. */
        slm_node_t nope = node_of(&(Spec){SLM_OP_ADD, x, {x, table}, {0}, {0}}, true);
        g = (slm_graph_t){1, &nope};
        assert_int_equal(env.cur->be->graph_compute(env.cur->dev, &g), SLM_ERR_INVALID_ARG);

        /* and the device still computes */
        fill_ids(ids, 10, true);
        check("GET_ROWS after errors", &sp[1], EXACT);
    });
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe_and_descriptor),
        cmocka_unit_test(test_supports_node_matches_reference),
        cmocka_unit_test(test_binary),
        cmocka_unit_test(test_unary_and_glu),
        cmocka_unit_test(test_rows_ops),
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_rope),
        cmocka_unit_test(test_get_set_rows),
        cmocka_unit_test(test_copy),
        cmocka_unit_test(test_sort),
        cmocka_unit_test(test_mul_mat),
        cmocka_unit_test(test_mul_mat_id),
        cmocka_unit_test(test_mul_mat_non_finite),
        cmocka_unit_test(test_graph_chain),
        cmocka_unit_test(test_bad_ids),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
