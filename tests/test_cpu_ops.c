/*
** test_cpu_ops.c -- the scalar reference backend, driven through its
** descriptor exactly as the runtime drives it: probe, device, buffers,
** supports_node, graph_compute, and every op of slm/graph.h.
**
** Each op is compared with a straightforward double-precision reference
** written here from the op table of graph.h, on random inputs in [-1, 1]
** from a seeded xorshift, for several shapes (odd sizes, batches) and for
** non-contiguous views (permuted strides, padded rows) of sources and of
** COPY/SET_ROWS destinations. Quantised weights are made by quantisers
** written here and the reference dequantises them with its own code, from the
** layout comments of graph.h. MUL_MAT and MUL_MAT_ID follow graph.h's dot
** product: the reference rounds activations to F16/BF16, or quantises them
** to Q8_0/Q8_K blocks with quantisers of its own, and sums the exact integer
** block products in double.
**
** Tolerances: f32 results must satisfy |got - want| <= 1e-5 * max(1, |want|)
** (absolute below 1, relative above); GET_ROWS, COPY, SET_ROWS, ARGSORT and
** TOP_K must be exact. NaN never passes. For MUL_MAT this is tight: using
** unrounded F32 activations instead moves results by ~1e-3 (F16) to ~1e-2
** (quantised weights).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slm/backend.h"

slm_status_t slm_plugin_init(const slm_host_t *host, const slm_backend_t **out);

#define TOL 1e-5
#define MAX_TENSORS 512

/* ---------------------------------------------------------------- harness */

/* A tensor of the test and the size of the buffer it owns alone. */
typedef struct TestTensor {
    slm_tensor_t t; /* first, so that a slm_tensor_t * converts back */
    size_t buffer_size;
} TestTensor;

typedef struct Fixture {
    slm_host_t host;
    char error[512]; /* last message given to set_error */
    int n_errors;
    const slm_backend_t *be;
    void *dev;
    TestTensor *tensors[MAX_TENSORS];
    int n_tensors;
    uint64_t rng;
} Fixture;

/* One test at a time: the fixture is static so that the plugin's kept host
** pointer never dangles between tests. */
static Fixture fx;

static void host_set_error(void *ctx, const char *msg)
{
    Fixture *f = ctx;
    snprintf(f->error, sizeof f->error, "%s", msg);
    f->n_errors++;
}

static void host_log(void *ctx, int level, const char *msg)
{
    (void)ctx, (void)level, (void)msg;
}

static const char *host_config_get(void *ctx, const char *key)
{
    (void)ctx, (void)key;
    return NULL;
}

static slm_host_t make_host(uint32_t major)
{
    return (slm_host_t){
        .abi_major = major,
        .abi_minor = SLM_BACKEND_ABI_MINOR,
        .struct_size = sizeof(slm_host_t),
        .ctx = &fx,
        .log = host_log,
        .set_error = host_set_error,
        .config_get = host_config_get,
    };
}

static int setup(void **state)
{
    (void)state;
    memset(&fx, 0, sizeof fx);
    fx.host = make_host(SLM_BACKEND_ABI_MAJOR);
    fx.rng = 0x9E3779B97F4A7C15ull;
    assert_int_equal(slm_plugin_init(&fx.host, &fx.be), SLM_OK);
    assert_int_equal(fx.be->device_open(0, NULL, &fx.dev), SLM_OK);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < fx.n_tensors; i++) {
        fx.be->buffer_free(fx.dev, fx.tensors[i]->t.buffer);
        free(fx.tensors[i]);
    }
    fx.be->device_close(fx.dev);
    fx.n_tensors = 0;
    return 0;
}

/* xorshift64 */
static uint32_t rnd(void)
{
    fx.rng ^= fx.rng << 13;
    fx.rng ^= fx.rng >> 7;
    fx.rng ^= fx.rng << 17;
    return (uint32_t)(fx.rng >> 32);
}

/* Uniform in [-1, 1]. */
static double frand(void) { return rnd() / 4294967295.0 * 2.0 - 1.0; }

/* ---------------------------------------------------------------- tensors */

/* Memory layouts: the dimension named first is innermost in memory. */
static const int ID[4] = {0, 1, 2, 3};
static const int T01[4] = {1, 0, 2, 3}; /* transposed: ne[1] innermost */
static const int T12[4] = {0, 2, 1, 3}; /* ne[1] and ne[2] swapped */
static const int T201[4] = {2, 0, 1, 3};

/* A tensor [n0, n1, n2, n3] in a buffer of its own. Dimension perm[0] is
** innermost in memory, then perm[1], ...; every dimension gets `pad` slots
** of slack and the data starts `pad` elements into the buffer, so pad > 0 or
** a non-identity perm give a non-contiguous view. Block types count ne[0] in
** blocks and keep their blocks packed (perm[0] == 0). The buffer starts
** filled with 0xCD bytes, so that writes outside the elements show. */
static slm_tensor_t *layout(slm_dtype_t dt, int64_t n0, int64_t n1, int64_t n2,
                            int64_t n3, const int perm[4], int64_t pad)
{
    assert_true(fx.n_tensors < MAX_TENSORS);
    TestTensor *tt = calloc(1, sizeof *tt);
    assert_non_null(tt);
    slm_tensor_t *x = &tt->t;
    int64_t be = slm_dtype_block_elems(dt);
    size_t unit = slm_dtype_block_bytes(dt);
    int64_t count[4] = {n0 / be, n1, n2, n3};
    if (be > 1)
        assert_int_equal(perm[0], 0);
    x->dtype = dt;
    x->ne[0] = n0, x->ne[1] = n1, x->ne[2] = n2, x->ne[3] = n3;
    size_t stride = unit;
    for (int k = 0; k < 4; k++) {
        x->nb[perm[k]] = stride;
        stride *= (size_t)(count[perm[k]] + pad);
    }
    x->offset = (size_t)pad * unit;
    tt->buffer_size = x->offset + stride;
    void *base;
    assert_int_equal(fx.be->buffer_alloc(fx.dev, tt->buffer_size,
                                         SLM_BUFFER_ACTIVATIONS, &x->buffer,
                                         &base), SLM_OK);
    assert_non_null(base);
    memset(base, 0xCD, tt->buffer_size);
    x->data = (char *)base + x->offset;
    snprintf(x->name, sizeof x->name, "t%d", fx.n_tensors);
    fx.tensors[fx.n_tensors++] = tt;
    return x;
}

static slm_tensor_t *tensor(slm_dtype_t dt, int64_t n0, int64_t n1,
                            int64_t n2, int64_t n3)
{
    return layout(dt, n0, n1, n2, n3, ID, 0);
}

static char *addr(const slm_tensor_t *x, int64_t i0, int64_t i1, int64_t i2,
                  int64_t i3)
{
    return (char *)x->data + i0 * (int64_t)x->nb[0] + i1 * (int64_t)x->nb[1] +
           i2 * (int64_t)x->nb[2] + i3 * (int64_t)x->nb[3];
}

static double getf(const slm_tensor_t *x, int64_t i0, int64_t i1, int64_t i2,
                   int64_t i3)
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

static void setf(const slm_tensor_t *x, int64_t i0, int64_t i1, int64_t i2,
                 int64_t i3, double v)
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

static int32_t geti(const slm_tensor_t *x, int64_t i0, int64_t i1, int64_t i2,
                    int64_t i3)
{
    int32_t v;
    memcpy(&v, addr(x, i0, i1, i2, i3), 4);
    return v;
}

static void seti(const slm_tensor_t *x, int64_t i0, int64_t i1, int64_t i2,
                 int64_t i3, int32_t v)
{
    memcpy(addr(x, i0, i1, i2, i3), &v, 4);
}

#define FOR4(x)                                        \
    for (int64_t i3 = 0; i3 < (x)->ne[3]; i3++)        \
        for (int64_t i2 = 0; i2 < (x)->ne[2]; i2++)    \
            for (int64_t i1 = 0; i1 < (x)->ne[1]; i1++) \
                for (int64_t i0 = 0; i0 < (x)->ne[0]; i0++)

/* Position of [i0, i1, i2, i3] in ne order. */
static int64_t flat(const slm_tensor_t *x, int64_t i0, int64_t i1, int64_t i2,
                    int64_t i3)
{
    return i0 + x->ne[0] * (i1 + x->ne[1] * (i2 + x->ne[2] * i3));
}

static void fill(const slm_tensor_t *x, double lo, double hi)
{
    FOR4(x) setf(x, i0, i1, i2, i3, lo + (hi - lo) * (frand() + 1.0) / 2.0);
}

static double *ref_alloc(const slm_tensor_t *x)
{
    double *r = calloc((size_t)slm_tensor_nelements(x), sizeof *r);
    assert_non_null(r);
    return r;
}

/* Every bit of the buffer that is not an element's is still 0xCD. */
static void expect_only_elements_written(const slm_tensor_t *x)
{
    const TestTensor *tt = (const TestTensor *)x;
    const uint8_t *base = (const uint8_t *)x->data - x->offset;
    uint8_t *mine = calloc(tt->buffer_size, 1);
    assert_non_null(mine);
    size_t size = slm_dtype_block_bytes(x->dtype);
    int64_t blocks = x->ne[0] / slm_dtype_block_elems(x->dtype);
    for (int64_t i3 = 0; i3 < x->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < x->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < x->ne[1]; i1++)
                for (int64_t b = 0; b < blocks; b++)
                    memset(mine + (addr(x, b, i1, i2, i3) - (const char *)base),
                           1, size);
    for (size_t i = 0; i < tt->buffer_size; i++)
        if (!mine[i] && base[i] != 0xCD)
            fail_msg("byte %zu outside the elements of %s was written", i,
                     x->name);
    free(mine);
}

/* ------------------------------------------------------------- running */

static slm_node_t mk(slm_op_t op, slm_tensor_t *dst, slm_tensor_t *s0,
                     slm_tensor_t *s1, slm_tensor_t *s2)
{
    return (slm_node_t){.op = op, .dst = dst, .src = {s0, s1, s2, NULL}};
}

static slm_status_t compute(slm_node_t *nodes, uint32_t n)
{
    slm_graph_t graph = {n, nodes};
    fx.error[0] = '\0';
    return fx.be->graph_compute(fx.dev, &graph);
}

static void run(slm_node_t *node)
{
    if (!fx.be->supports_node(fx.dev, node))
        fail_msg("supports_node refused a valid %s", slm_op_name(node->op));
    slm_status_t st = compute(node, 1);
    if (st != SLM_OK)
        fail_msg("%s failed with %d: %s", slm_op_name(node->op), st, fx.error);
}

static void check_close(const char *what, double got, double want, int64_t i0,
                        int64_t i1, int64_t i2, int64_t i3)
{
    if (!(fabs(got - want) <= TOL * fmax(1.0, fabs(want))))
        fail_msg("%s [%lld, %lld, %lld, %lld]: got %.9g, want %.9g", what,
                 (long long)i0, (long long)i1, (long long)i2, (long long)i3,
                 got, want);
}

/* dst against ref[] laid out in dst's ne order. */
static void check_all(const char *what, const slm_tensor_t *dst,
                      const double *ref)
{
    FOR4(dst) check_close(what, getf(dst, i0, i1, i2, i3),
                          ref[flat(dst, i0, i1, i2, i3)], i0, i1, i2, i3);
}

/* ------------------------------------------- quantisers of the test */

/* Written from the layout comments of graph.h, byte by byte, for building
** weights; their quality does not matter, only that the layout is right. */

static void put_f16(uint8_t *p, float v)
{
    uint16_t h = slm_f32_to_f16(v);
    p[0] = (uint8_t)(h & 0xFF);
    p[1] = (uint8_t)(h >> 8);
}

static double f16_at(const uint8_t *p)
{
    return slm_f16_to_f32((uint16_t)(p[0] | p[1] << 8));
}

static int clampi(long v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : (int)v;
}

static void quantize_q4_0(const float *x, uint8_t *b) /* 32 -> 18 bytes */
{
    float amax = 0;
    for (int j = 0; j < 32; j++)
        amax = fmaxf(amax, fabsf(x[j]));
    put_f16(b, amax / 7);
    double d = f16_at(b);
    memset(b + 2, 0, 16);
    for (int j = 0; j < 32; j++) {
        int q = d > 0 ? clampi(lrint(x[j] / d) + 8, 0, 15) : 8;
        b[2 + j % 16] |= (uint8_t)(q << (4 * (j / 16)));
    }
}

static void quantize_q8_0(const float *x, uint8_t *b) /* 32 -> 34 bytes */
{
    float amax = 0;
    for (int j = 0; j < 32; j++)
        amax = fmaxf(amax, fabsf(x[j]));
    put_f16(b, amax / 127);
    double d = f16_at(b);
    for (int j = 0; j < 32; j++)
        b[2 + j] = (uint8_t)(int8_t)(d > 0 ? clampi(lrint(x[j] / d), -128, 127) : 0);
}

static void quantize_q4_K(const float *x, uint8_t *b) /* 256 -> 144 bytes */
{
    double scale[8], min[8], max_scale = 0, max_min = 0;
    for (int s = 0; s < 8; s++) {
        double lo = 0, hi = 0;
        for (int l = 0; l < 32; l++) {
            lo = fmin(lo, x[32 * s + l]);
            hi = fmax(hi, x[32 * s + l]);
        }
        scale[s] = (hi - lo) / 15;
        min[s] = -lo;
        max_scale = fmax(max_scale, scale[s]);
        max_min = fmax(max_min, min[s]);
    }
    put_f16(b, (float)(max_scale / 63));
    put_f16(b + 2, (float)(max_min / 63));
    double d = f16_at(b), dmin = f16_at(b + 2);
    int sc[8], m[8];
    for (int s = 0; s < 8; s++) {
        sc[s] = d > 0 ? clampi(lrint(scale[s] / d), 0, 63) : 0;
        m[s] = dmin > 0 ? clampi(lrint(min[s] / dmin), 0, 63) : 0;
    }
    uint8_t *S = b + 4, *qs = b + 16;
    for (int t = 0; t < 4; t++) {
        S[t] = (uint8_t)(sc[t] | (sc[t + 4] >> 4) << 6);
        S[t + 4] = (uint8_t)(m[t] | (m[t + 4] >> 4) << 6);
        S[t + 8] = (uint8_t)((sc[t + 4] & 0xF) | (m[t + 4] & 0xF) << 4);
    }
    memset(qs, 0, 128);
    for (int e = 0; e < 256; e++) {
        int s = e / 32;
        double step = d * sc[s];
        int q = step > 0 ? clampi(lrint((x[e] + dmin * m[s]) / step), 0, 15) : 0;
        qs[32 * (e / 64) + e % 32] |= (uint8_t)(q << (4 * (s % 2)));
    }
}

static void quantize_q6_K(const float *x, uint8_t *b) /* 256 -> 210 bytes */
{
    memset(b, 0, 210);
    double scale[16], max_scale = 0;
    for (int s = 0; s < 16; s++) {
        double amax = 0;
        for (int l = 0; l < 16; l++)
            amax = fmax(amax, fabs(x[16 * s + l]));
        /* negative scales on odd sub-blocks, as GGUF files have them */
        scale[s] = (s % 2 ? -amax : amax) / 31;
        max_scale = fmax(max_scale, fabs(scale[s]));
    }
    put_f16(b + 208, (float)(max_scale / 127));
    double d = f16_at(b + 208);
    int sc[16];
    for (int s = 0; s < 16; s++) {
        sc[s] = d > 0 ? clampi(lrint(scale[s] / d), -128, 127) : 0;
        b[192 + s] = (uint8_t)(int8_t)sc[s];
    }
    for (int e = 0; e < 256; e++) {
        double step = d * sc[e / 16];
        int q = step != 0 ? clampi(lrint(x[e] / step), -32, 31) : 0;
        int u = q + 32, h = e / 128, i = e % 128, l = i % 32, g = i / 32;
        b[64 * h + l + 32 * (g % 2)] |= (uint8_t)((u & 0xF) << (4 * (g / 2)));
        b[128 + 32 * h + l] |= (uint8_t)((u >> 4) << (2 * g));
    }
}

/* ----------------------------------------- dequantisers of the test */

/* The integer parts of element j of one block, straight from the formulas
** of graph.h: its quant, and for the K-quants its sub-block scale (and min). */
static int quant_q4_0(const uint8_t *b, int j)
{
    return ((b[2 + j % 16] >> (4 * (j / 16))) & 0xF) - 8;
}

static int quant_q8_0(const uint8_t *b, int j)
{
    return (int8_t)b[2 + j];
}

static void parts_q4_K(const uint8_t *b, int j, int *sc, int *m, int *q)
{
    const uint8_t *S = b + 4, *qs = b + 16;
    int s = j / 32;
    if (s < 4) {
        *sc = S[s] & 63;
        *m = S[s + 4] & 63;
    } else {
        *sc = (S[s + 4] & 0xF) | ((S[s - 4] >> 6) << 4);
        *m = (S[s + 4] >> 4) | ((S[s] >> 6) << 4);
    }
    *q = (qs[32 * (j / 64) + j % 32] >> (4 * (s % 2))) & 0xF;
}

static void parts_q6_K(const uint8_t *b, int j, int *sc, int *q)
{
    int h = j / 128, i = j % 128, l = i % 32, g = i / 32;
    int lo = (b[64 * h + l + 32 * (g % 2)] >> (4 * (g / 2))) & 0xF;
    int hi = (b[128 + 32 * h + l] >> (2 * g)) & 3;
    *sc = (int8_t)b[192 + 8 * h + i / 16];
    *q = (lo | hi << 4) - 32;
}

/* Element j of one block as a value. */
static double ref_q4_0(const uint8_t *b, int j)
{
    return f16_at(b) * quant_q4_0(b, j);
}

static double ref_q8_0(const uint8_t *b, int j)
{
    return f16_at(b) * quant_q8_0(b, j);
}

static double ref_q4_K(const uint8_t *b, int j)
{
    int sc, m, q;
    parts_q4_K(b, j, &sc, &m, &q);
    return f16_at(b) * sc * q - f16_at(b + 2) * m;
}

static double ref_q6_K(const uint8_t *b, int j)
{
    int sc, q;
    parts_q6_K(b, j, &sc, &q);
    return f16_at(b + 208) * sc * q;
}

/* Random weights in [-1, 1] for a tensor of any dtype but I32. */
static void fill_weights(const slm_tensor_t *w)
{
    if (!slm_dtype_is_quantized(w->dtype)) {
        fill(w, -1, 1);
        return;
    }
    int64_t be = slm_dtype_block_elems(w->dtype);
    float vals[256];
    for (int64_t i3 = 0; i3 < w->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < w->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < w->ne[1]; i1++)
                for (int64_t b = 0; b < w->ne[0] / be; b++) {
                    for (int64_t j = 0; j < be; j++)
                        vals[j] = (float)frand();
                    uint8_t *p = (uint8_t *)addr(w, b, i1, i2, i3);
                    switch (w->dtype) {
                    case SLM_DTYPE_Q4_0: quantize_q4_0(vals, p); break;
                    case SLM_DTYPE_Q8_0: quantize_q8_0(vals, p); break;
                    case SLM_DTYPE_Q4_K: quantize_q4_K(vals, p); break;
                    case SLM_DTYPE_Q6_K: quantize_q6_K(vals, p); break;
                    default: fail();
                    }
                }
}

/* Element [i0, i1, i2, i3] of a weight of any dtype but I32, as the f32 that
** dequantisation must give. */
static double wget(const slm_tensor_t *w, int64_t i0, int64_t i1, int64_t i2,
                   int64_t i3)
{
    int64_t be = slm_dtype_block_elems(w->dtype);
    if (be == 1)
        return getf(w, i0, i1, i2, i3);
    const uint8_t *b = (const uint8_t *)addr(w, i0 / be, i1, i2, i3);
    int j = (int)(i0 % be);
    double v = 0;
    switch (w->dtype) {
    case SLM_DTYPE_Q4_0: v = ref_q4_0(b, j); break;
    case SLM_DTYPE_Q8_0: v = ref_q8_0(b, j); break;
    case SLM_DTYPE_Q4_K: v = ref_q4_K(b, j); break;
    case SLM_DTYPE_Q6_K: v = ref_q6_K(b, j); break;
    default: fail();
    }
    return (float)v;
}

/* ------------------------------------- MUL_MAT's dot product, by the test */

/* graph.h's activation quantisers, one block each, from its text: every step
** in float as it says, ties away from zero for Q8_0 (lroundf) and to even
** for Q8_K (lrintf in the default rounding mode). *da is the block scale. */
static void act_q8_0(const float *v, int8_t q[32], double *da)
{
    float amax = 0;
    for (int j = 0; j < 32; j++)
        amax = fmaxf(amax, fabsf(v[j]));
    float d = amax / 127;
    float id = d != 0 ? 1 / d : 0;
    for (int j = 0; j < 32; j++) {
        float t = v[j] * id;
        q[j] = (int8_t)lroundf(t);
    }
    *da = slm_f16_to_f32(slm_f32_to_f16(d));
}

static void act_q8_K(const float *v, int8_t q[256], double *da)
{
    float m = 0;
    for (int j = 0; j < 256; j++)
        if (fabsf(v[j]) > fabsf(m))
            m = v[j];
    if (m == 0) {
        memset(q, 0, 256);
        *da = 0;
        return;
    }
    float iscale = -127 / m;
    for (int j = 0; j < 256; j++) {
        float t = iscale * v[j];
        long r = lrintf(t);
        q[j] = (int8_t)(r > 127 ? 127 : r);
    }
    float d = 1 / iscale;
    *da = d;
}

/* An activation value as F16 or BF16 weights meet it. */
static double act_round(slm_dtype_t wt, float v)
{
    if (wt == SLM_DTYPE_F16)
        return slm_f16_to_f32(slm_f32_to_f16(v));
    if (wt == SLM_DTYPE_BF16)
        return slm_bf16_to_f32(slm_f32_to_bf16(v));
    return v;
}

/* dot(w[:, n, i2, i3], x) of graph.h's MUL_MAT for a weight of any dtype but
** I32; x holds K floats. Integer block sums are exact; the rest is double. */
static double ref_dot(const slm_tensor_t *w, int64_t n, int64_t i2,
                      int64_t i3, const float *x, int64_t K)
{
    double sum = 0;
    int8_t q[256];
    double da;
    switch (w->dtype) {
    case SLM_DTYPE_Q4_0:
    case SLM_DTYPE_Q8_0:
        for (int64_t i = 0; i < K / 32; i++) {
            const uint8_t *b = (const uint8_t *)addr(w, i, n, i2, i3);
            act_q8_0(x + 32 * i, q, &da);
            long s = 0;
            for (int j = 0; j < 32; j++)
                s += (w->dtype == SLM_DTYPE_Q4_0 ? quant_q4_0(b, j)
                                                 : quant_q8_0(b, j)) * q[j];
            sum += (double)s * f16_at(b) * da;
        }
        return sum;
    case SLM_DTYPE_Q4_K:
        for (int64_t i = 0; i < K / 256; i++) {
            const uint8_t *b = (const uint8_t *)addr(w, i, n, i2, i3);
            act_q8_K(x + 256 * i, q, &da);
            long s = 0, mins = 0;
            for (int j = 0; j < 256; j++) {
                int sc, m, qw;
                parts_q4_K(b, j, &sc, &m, &qw);
                s += (long)sc * qw * q[j];
                mins += (long)m * q[j];
            }
            sum += f16_at(b) * da * (double)s -
                   f16_at(b + 2) * da * (double)mins;
        }
        return sum;
    case SLM_DTYPE_Q6_K:
        for (int64_t i = 0; i < K / 256; i++) {
            const uint8_t *b = (const uint8_t *)addr(w, i, n, i2, i3);
            act_q8_K(x + 256 * i, q, &da);
            long s = 0;
            for (int j = 0; j < 256; j++) {
                int sc, qw;
                parts_q6_K(b, j, &sc, &qw);
                s += (long)sc * qw * q[j];
            }
            sum += f16_at(b + 208) * da * (double)s;
        }
        return sum;
    default:
        for (int64_t k = 0; k < K; k++)
            sum += getf(w, k, n, i2, i3) * act_round(w->dtype, x[k]);
        return sum;
    }
}

/* Row [:, i1, i2, i3] of an F32 tensor, into x[ne[0]]. */
static void row_of(const slm_tensor_t *t, int64_t i1, int64_t i2, int64_t i3,
                   float *x)
{
    for (int64_t k = 0; k < t->ne[0]; k++)
        x[k] = (float)getf(t, k, i1, i2, i3);
}

/* ---------------------------------------------------- probe, ABI, buffers */

static void test_descriptor_and_probe(void **state)
{
    (void)state;
    const slm_backend_t *be = fx.be;
    assert_int_equal(be->abi_major, SLM_BACKEND_ABI_MAJOR);
    assert_int_equal(be->abi_minor, SLM_BACKEND_ABI_MINOR);
    assert_int_equal(be->struct_size, sizeof(slm_backend_t));
    assert_string_equal(be->name, "cpu");
    assert_string_equal(be->version, "0.1.0");
    assert_true(strlen(be->description) > 0 && !strchr(be->description, '\n'));
    assert_non_null(be->buffer_from_host_ptr);
    assert_null(be->synchronize);
    assert_null(be->graph_plan_create);
    assert_null(be->graph_plan_compute);
    assert_null(be->graph_plan_free);
    assert_null(be->node_cost);

    slm_device_info_t infos[SLM_MAX_DEVICES_PER_PLUGIN];
    memset(infos, 0, sizeof infos);
    for (int i = 0; i < SLM_MAX_DEVICES_PER_PLUGIN; i++)
        infos[i].struct_size = sizeof infos[i];
    uint32_t n = 99;
    assert_int_equal(be->probe(infos, SLM_MAX_DEVICES_PER_PLUGIN, &n), SLM_OK);
    assert_int_equal(n, 1);
    const slm_device_info_t *d = &infos[0];
    assert_int_equal(d->struct_size, sizeof *d);
    assert_int_equal(d->kind, SLM_DEVICE_CPU);
    assert_int_equal(d->flags, SLM_DEVICE_FLAG_HOST_MEMORY | SLM_DEVICE_FLAG_REFERENCE);
    assert_true(strlen(d->name) > strlen(" (scalar reference)"));
    assert_non_null(strstr(d->name, " (scalar reference)"));
    assert_true(strlen(d->vendor) > 0);
    assert_string_equal(d->features, "scalar reference");
    assert_true(d->max_threads >= 1);
    assert_true(d->memory_total > 0);
    assert_true(d->memory_free <= d->memory_total);
    uint64_t dtypes = SLM_DTYPE_BIT(SLM_DTYPE_F32) | SLM_DTYPE_BIT(SLM_DTYPE_F16) |
                      SLM_DTYPE_BIT(SLM_DTYPE_BF16) | SLM_DTYPE_BIT(SLM_DTYPE_I32) |
                      SLM_DTYPE_BIT(SLM_DTYPE_Q4_0) | SLM_DTYPE_BIT(SLM_DTYPE_Q8_0) |
                      SLM_DTYPE_BIT(SLM_DTYPE_Q4_K) | SLM_DTYPE_BIT(SLM_DTYPE_Q6_K);
    assert_int_equal(d->dtypes, dtypes);
    uint64_t ops = 0;
    for (int op = 1; op < SLM_OP_COUNT; op++)
        ops |= SLM_OP_BIT(op);
    assert_int_equal(d->ops, ops);
    for (int i = 1; i < SLM_MAX_DEVICES_PER_PLUGIN; i++)
        assert_int_equal(infos[i].name[0], '\0'); /* untouched */

    /* Only device 0 opens. */
    void *dev2 = NULL;
    assert_int_equal(be->device_open(1, NULL, &dev2), SLM_ERR_INVALID_ARG);
    assert_true(strlen(fx.error) > 0);
    slm_device_open_opts_t opts = {.struct_size = sizeof opts, .n_threads = 4};
    assert_int_equal(be->device_open(0, &opts, &dev2), SLM_OK);
    be->device_close(dev2);
}

static void test_abi_mismatch(void **state)
{
    (void)state;
    slm_host_t wrong = make_host(SLM_BACKEND_ABI_MAJOR + 1);
    const slm_backend_t *be = NULL;
    fx.error[0] = '\0';
    assert_int_equal(slm_plugin_init(&wrong, &be), SLM_ERR_ABI);
    assert_null(be);
    assert_true(strlen(fx.error) > 0);
    wrong.abi_major = 0;
    assert_int_equal(slm_plugin_init(&wrong, &be), SLM_ERR_ABI);
}

static void test_buffers(void **state)
{
    (void)state;
    const slm_backend_t *be = fx.be;
    void *buf, *base;
    assert_int_equal(be->buffer_alloc(fx.dev, 100, SLM_BUFFER_IO, &buf, &base),
                     SLM_OK);
    assert_int_equal((uintptr_t)base % 64, 0);
    uint8_t in[100], out[100];
    for (int i = 0; i < 100; i++)
        in[i] = (uint8_t)(i * 7);
    assert_int_equal(be->buffer_write(fx.dev, buf, 0, in, 100), SLM_OK);
    assert_memory_equal(base, in, 100);
    memset(out, 0, sizeof out);
    assert_int_equal(be->buffer_read(fx.dev, buf, 10, out, 90), SLM_OK);
    assert_memory_equal(out, in + 10, 90);
    assert_int_equal(be->buffer_write(fx.dev, buf, 100, in, 0), SLM_OK);

    /* Out of range: an error with a message, nothing written. */
    fx.error[0] = '\0';
    assert_int_equal(be->buffer_write(fx.dev, buf, 90, in, 20), SLM_ERR_INVALID_ARG);
    assert_true(strlen(fx.error) > 0);
    fx.error[0] = '\0';
    assert_int_equal(be->buffer_read(fx.dev, buf, 101, out, 0), SLM_ERR_INVALID_ARG);
    assert_true(strlen(fx.error) > 0);
    assert_int_equal(be->buffer_write(fx.dev, buf, SIZE_MAX, in, 2),
                     SLM_ERR_INVALID_ARG);
    assert_int_equal(be->buffer_read(fx.dev, buf, 1, out, SIZE_MAX),
                     SLM_ERR_INVALID_ARG);
    assert_memory_equal(base, in, 100);
    be->buffer_free(fx.dev, buf);
    be->buffer_free(fx.dev, NULL);

    void *none = NULL;
    assert_int_equal(be->buffer_alloc(fx.dev, 0, SLM_BUFFER_IO, &none, &base),
                     SLM_ERR_INVALID_ARG);

    /* Wrapped host memory: no copy, and it outlives the buffer. */
    float host_mem[8] = {0};
    void *wrap;
    assert_int_equal(be->buffer_from_host_ptr(fx.dev, host_mem, sizeof host_mem,
                                              &wrap), SLM_OK);
    float v = 2.5f;
    assert_int_equal(be->buffer_write(fx.dev, wrap, 4 * sizeof v, &v, sizeof v),
                     SLM_OK);
    assert_true(host_mem[4] == 2.5f);
    host_mem[7] = -1.0f;
    assert_int_equal(be->buffer_read(fx.dev, wrap, 7 * sizeof v, &v, sizeof v),
                     SLM_OK);
    assert_true(v == -1.0f);
    assert_int_equal(be->buffer_write(fx.dev, wrap, 30, &v, sizeof v),
                     SLM_ERR_INVALID_ARG);
    be->buffer_free(fx.dev, wrap);
    host_mem[0] = 1.0f; /* still ours */
    assert_true(host_mem[0] == 1.0f);
}

/* Ops on wrapped host memory: a weight used in place. */
static void test_compute_on_wrapped_memory(void **state)
{
    (void)state;
    float w[6] = {1, 2, 3, 4, 5, 6}; /* [3, 2]: two rows */
    void *wbuf;
    assert_int_equal(fx.be->buffer_from_host_ptr(fx.dev, w, sizeof w, &wbuf),
                     SLM_OK);
    slm_tensor_t wt = {.dtype = SLM_DTYPE_F32, .ne = {3, 2, 1, 1},
                       .nb = {4, 12, 24, 24}, .buffer = wbuf, .data = w};
    slm_tensor_t *x = tensor(SLM_DTYPE_F32, 3, 1, 1, 1);
    slm_tensor_t *y = tensor(SLM_DTYPE_F32, 2, 1, 1, 1);
    setf(x, 0, 0, 0, 0, 1), setf(x, 1, 0, 0, 0, -1), setf(x, 2, 0, 0, 0, 0.5);
    slm_node_t n = mk(SLM_OP_MUL_MAT, y, &wt, x, NULL);
    run(&n);
    assert_true(getf(y, 0, 0, 0, 0) == 1 - 2 + 1.5);
    assert_true(getf(y, 1, 0, 0, 0) == 4 - 5 + 3);
    fx.be->buffer_free(fx.dev, wbuf);
}

/* ----------------------------------------------------------- GET_ROWS */

static void get_rows_case(slm_dtype_t dt, int64_t E, int64_t R, int64_t n,
                          int64_t B2, int64_t B3, bool strided)
{
    bool quant = slm_dtype_is_quantized(dt);
    slm_tensor_t *table = strided ? layout(dt, E, R, B2, B3, quant ? ID : T01, 1)
                                  : tensor(dt, E, R, B2, B3);
    slm_tensor_t *ids = strided ? layout(SLM_DTYPE_I32, n, B2, B3, 1, T01, 2)
                                : tensor(SLM_DTYPE_I32, n, B2, B3, 1);
    slm_tensor_t *dst = tensor(SLM_DTYPE_F32, E, n, B2, B3);
    fill_weights(table);
    FOR4(ids) seti(ids, i0, i1, i2, i3, (int32_t)(rnd() % R));
    seti(ids, n - 1, 0, 0, 0, (int32_t)(R - 1));
    slm_node_t node = mk(SLM_OP_GET_ROWS, dst, table, ids, NULL);
    run(&node);
    FOR4(dst) {
        double want = wget(table, i0, geti(ids, i1, i2, i3, 0), i2, i3);
        if (getf(dst, i0, i1, i2, i3) != want)
            fail_msg("GET_ROWS %s [%lld, %lld, %lld, %lld]: got %.9g, want %.9g",
                     slm_dtype_name(dt), (long long)i0, (long long)i1,
                     (long long)i2, (long long)i3, getf(dst, i0, i1, i2, i3), want);
    }
}

static void test_get_rows(void **state)
{
    (void)state;
    static const slm_dtype_t all[] = {SLM_DTYPE_F32,  SLM_DTYPE_F16,
                                      SLM_DTYPE_BF16, SLM_DTYPE_Q4_0,
                                      SLM_DTYPE_Q8_0, SLM_DTYPE_Q4_K,
                                      SLM_DTYPE_Q6_K};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        slm_dtype_t dt = all[i];
        int64_t be = slm_dtype_block_elems(dt);
        int64_t E = be == 1 ? 33 : 2 * be;
        get_rows_case(dt, E, 5, 4, 1, 1, false);
        get_rows_case(dt, E, 6, 3, 2, 2, true);
        get_rows_case(dt, be == 1 ? 1 : be, 1, 1, 1, 1, false);
    }
}

static void test_get_rows_bad_id(void **state)
{
    (void)state;
    slm_tensor_t *table = tensor(SLM_DTYPE_Q8_0, 32, 4, 1, 1);
    slm_tensor_t *ids = tensor(SLM_DTYPE_I32, 2, 1, 1, 1);
    slm_tensor_t *dst = tensor(SLM_DTYPE_F32, 32, 2, 1, 1);
    fill_weights(table);
    slm_node_t node = mk(SLM_OP_GET_ROWS, dst, table, ids, NULL);
    assert_true(fx.be->supports_node(fx.dev, &node)); /* data is not looked at */

    seti(ids, 0, 0, 0, 0, 1);
    seti(ids, 1, 0, 0, 0, 4);
    assert_int_equal(compute(&node, 1), SLM_ERR_INVALID_ARG);
    assert_non_null(strstr(fx.error, "GET_ROWS"));
    assert_non_null(strstr(fx.error, "4"));
    seti(ids, 1, 0, 0, 0, -1);
    assert_int_equal(compute(&node, 1), SLM_ERR_INVALID_ARG);
    assert_non_null(strstr(fx.error, "-1"));
    seti(ids, 1, 0, 0, 0, INT32_MAX);
    assert_int_equal(compute(&node, 1), SLM_ERR_INVALID_ARG);
}

/* ----------------------------------------------------------- RMS_NORM */

static void rms_norm_case(int64_t n0, int64_t n1, int64_t n2, int64_t n3,
                          const int perm[4], int64_t pad, float eps)
{
    slm_tensor_t *x = layout(SLM_DTYPE_F32, n0, n1, n2, n3, perm, pad);
    slm_tensor_t *y = tensor(SLM_DTYPE_F32, n0, n1, n2, n3);
    fill(x, -1, 1);
    slm_node_t node = mk(SLM_OP_RMS_NORM, y, x, NULL, NULL);
    node.fparams[0] = eps;
    run(&node);
    double *ref = ref_alloc(y);
    for (int64_t i3 = 0; i3 < n3; i3++)
        for (int64_t i2 = 0; i2 < n2; i2++)
            for (int64_t i1 = 0; i1 < n1; i1++) {
                double ss = 0;
                for (int64_t i0 = 0; i0 < n0; i0++)
                    ss += getf(x, i0, i1, i2, i3) * getf(x, i0, i1, i2, i3);
                double rms = sqrt(ss / n0 + eps);
                for (int64_t i0 = 0; i0 < n0; i0++)
                    ref[flat(y, i0, i1, i2, i3)] = getf(x, i0, i1, i2, i3) / rms;
            }
    check_all("RMS_NORM", y, ref);
    free(ref);
}

static void test_rms_norm(void **state)
{
    (void)state;
    rms_norm_case(64, 1, 1, 1, ID, 0, 1e-6f);
    rms_norm_case(7, 3, 2, 1, T01, 1, 1e-5f);
    rms_norm_case(33, 4, 1, 2, T201, 2, 1e-6f);
    rms_norm_case(1, 5, 1, 1, ID, 0, 1e-6f);
}

/* ------------------------------------------------------------- MUL_MAT */

static void mul_mat_case(slm_dtype_t wt, int64_t K, int64_t N, int64_t M,
                         int64_t A0, int64_t B0, int64_t A, int64_t B,
                         bool strided)
{
    bool quant = slm_dtype_is_quantized(wt);
    slm_tensor_t *w = strided ? layout(wt, K, N, A0, B0, quant ? ID : T01, 1)
                              : tensor(wt, K, N, A0, B0);
    slm_tensor_t *x = strided ? layout(SLM_DTYPE_F32, K, M, A, B, T201, 1)
                              : tensor(SLM_DTYPE_F32, K, M, A, B);
    slm_tensor_t *y = tensor(SLM_DTYPE_F32, N, M, A, B);
    fill_weights(w);
    fill(x, -1, 1);
    slm_node_t node = mk(SLM_OP_MUL_MAT, y, w, x, NULL);
    run(&node);
    double *ref = ref_alloc(y);
    float *xr = malloc((size_t)K * sizeof *xr);
    assert_non_null(xr);
    for (int64_t b = 0; b < B; b++)
        for (int64_t a = 0; a < A; a++)
            for (int64_t m = 0; m < M; m++) {
                row_of(x, m, a, b, xr);
                for (int64_t n = 0; n < N; n++)
                    ref[flat(y, n, m, a, b)] =
                        ref_dot(w, n, a / (A / A0), b / (B / B0), xr, K);
            }
    free(xr);
    char what[64];
    snprintf(what, sizeof what, "MUL_MAT %s K=%lld", slm_dtype_name(wt),
             (long long)K);
    check_all(what, y, ref);
    free(ref);
}

static void test_mul_mat_f32(void **state)
{
    (void)state;
    static const int64_t Ks[] = {1, 7, 33, 64, 96};
    for (size_t i = 0; i < sizeof Ks / sizeof Ks[0]; i++) {
        mul_mat_case(SLM_DTYPE_F32, Ks[i], 5, 1, 1, 1, 1, 1, false);
        mul_mat_case(SLM_DTYPE_F32, Ks[i], 3, 4, 1, 1, 1, 1, true);
        mul_mat_case(SLM_DTYPE_F32, Ks[i], 2, 3, 3, 2, 3, 2, false);
    }
}

static void test_mul_mat_broadcast(void **state)
{
    (void)state;
    /* Grouped-query attention: 8 query heads over 2 KV heads (A / A0 = 4),
    ** and one weight matrix for two batch entries (B0 = 1). */
    mul_mat_case(SLM_DTYPE_F32, 33, 4, 3, 2, 1, 8, 2, false);
    mul_mat_case(SLM_DTYPE_F32, 16, 5, 1, 2, 1, 8, 2, true);
    mul_mat_case(SLM_DTYPE_F16, 64, 3, 2, 1, 1, 4, 3, true);
    /* Groups along ne[3] too: B / B0 = 2, so b = 0, 1 share weight 0. */
    mul_mat_case(SLM_DTYPE_F32, 7, 3, 2, 2, 2, 4, 4, false);
    mul_mat_case(SLM_DTYPE_Q8_0, 32, 2, 1, 1, 3, 1, 6, true);
}

static void test_mul_mat_dtypes(void **state)
{
    (void)state;
    static const slm_dtype_t weights[] = {SLM_DTYPE_F16,  SLM_DTYPE_BF16,
                                          SLM_DTYPE_Q4_0, SLM_DTYPE_Q8_0,
                                          SLM_DTYPE_Q4_K, SLM_DTYPE_Q6_K};
    for (size_t i = 0; i < sizeof weights / sizeof weights[0]; i++) {
        slm_dtype_t wt = weights[i];
        int64_t be = slm_dtype_block_elems(wt);
        int64_t K1 = be == 1 ? 33 : be, K2 = be == 1 ? 96 : 2 * be;
        mul_mat_case(wt, K1, 3, 1, 1, 1, 1, 1, false);
        mul_mat_case(wt, K2, 4, 3, 1, 1, 2, 1, true);
        mul_mat_case(wt, K1, 2, 2, 2, 1, 4, 1, false);
    }
}

/* Activation blocks that are all zero (scale 0) next to ordinary ones, and
** activations far from [-1, 1]: the dot product still follows graph.h. */
static void test_mul_mat_activation_blocks(void **state)
{
    (void)state;
    static const slm_dtype_t weights[] = {SLM_DTYPE_Q4_0, SLM_DTYPE_Q8_0,
                                          SLM_DTYPE_Q4_K, SLM_DTYPE_Q6_K,
                                          SLM_DTYPE_F16, SLM_DTYPE_BF16};
    for (size_t i = 0; i < sizeof weights / sizeof weights[0]; i++) {
        slm_dtype_t wt = weights[i];
        int64_t be = slm_dtype_is_quantized(wt) ? slm_dtype_block_elems(wt)
                                                : 32;
        int64_t K = 3 * be, N = 3, M = 2;
        slm_tensor_t *w = tensor(wt, K, N, 1, 1);
        slm_tensor_t *x = tensor(SLM_DTYPE_F32, K, M, 1, 1);
        slm_tensor_t *y = tensor(SLM_DTYPE_F32, N, M, 1, 1);
        fill_weights(w);
        FOR4(x) {
            int64_t blk = i0 / be;
            double v = frand();
            /* block 0 zero, block 1 large, block 2 tiny */
            setf(x, i0, i1, i2, i3,
                 blk == 0 ? 0.0 : blk == 1 ? 300 * v : 1e-3 * v);
        }
        slm_node_t node = mk(SLM_OP_MUL_MAT, y, w, x, NULL);
        run(&node);
        float xr[768];
        for (int64_t m = 0; m < M; m++) {
            row_of(x, m, 0, 0, xr);
            for (int64_t n = 0; n < N; n++)
                check_close(slm_dtype_name(wt), getf(y, n, m, 0, 0),
                            ref_dot(w, n, 0, 0, xr, K), n, m, 0, 0);
        }
    }
}

/* ------------------------------------------------------ ADD, MUL, DIV */

static void binary_case(slm_op_t op, const int64_t a_ne[4],
                        const int64_t b_ne[4], bool strided)
{
    slm_tensor_t *a = strided ? layout(SLM_DTYPE_F32, a_ne[0], a_ne[1], a_ne[2],
                                       a_ne[3], T12, 1)
                              : tensor(SLM_DTYPE_F32, a_ne[0], a_ne[1], a_ne[2], a_ne[3]);
    slm_tensor_t *b = strided ? layout(SLM_DTYPE_F32, b_ne[0], b_ne[1], b_ne[2],
                                       b_ne[3], T01, 2)
                              : tensor(SLM_DTYPE_F32, b_ne[0], b_ne[1], b_ne[2], b_ne[3]);
    slm_tensor_t *y = tensor(SLM_DTYPE_F32, a_ne[0], a_ne[1], a_ne[2], a_ne[3]);
    fill(a, -1, 1);
    /* keep divisors away from 0: |b| in [0.5, 1] */
    FOR4(b) {
        double v = 0.5 + 0.5 * fabs(frand());
        setf(b, i0, i1, i2, i3, rnd() % 2 ? v : -v);
    }
    slm_node_t node = mk(op, y, a, b, NULL);
    run(&node);
    double *ref = ref_alloc(y);
    FOR4(y) {
        double va = getf(a, i0, i1, i2, i3);
        double vb = getf(b, i0 % b_ne[0], i1 % b_ne[1], i2 % b_ne[2], i3 % b_ne[3]);
        ref[flat(y, i0, i1, i2, i3)] = op == SLM_OP_ADD ? va + vb
                                       : op == SLM_OP_MUL ? va * vb : va / vb;
    }
    check_all(slm_op_name(op), y, ref);
    free(ref);
}

static void test_add_mul_div(void **state)
{
    (void)state;
    static const int64_t a_ne[4] = {7, 3, 2, 2};
    static const int64_t b_shapes[][4] = {
        {7, 3, 2, 2}, {7, 1, 1, 1}, {1, 3, 1, 2}, {1, 1, 1, 1}, {7, 1, 2, 1},
    };
    static const slm_op_t ops[] = {SLM_OP_ADD, SLM_OP_MUL, SLM_OP_DIV};
    for (size_t o = 0; o < 3; o++)
        for (size_t s = 0; s < sizeof b_shapes / sizeof b_shapes[0]; s++) {
            binary_case(ops[o], a_ne, b_shapes[s], false);
            binary_case(ops[o], a_ne, b_shapes[s], true);
        }
}

/* ------------------------------------------ SCALE and unary activations */

static double ref_silu(double x) { return x / (1 + exp(-x)); }
static double ref_gelu(double x)
{
    return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
}

static void unary_case(slm_op_t op, const int perm[4], int64_t pad)
{
    slm_tensor_t *x = layout(SLM_DTYPE_F32, 33, 3, 2, 1, perm, pad);
    slm_tensor_t *y = tensor(SLM_DTYPE_F32, 33, 3, 2, 1);
    fill(x, -4, 4);
    slm_node_t node = mk(op, y, x, NULL, NULL);
    node.fparams[0] = 0.75f;
    node.fparams[1] = -0.25f;
    run(&node);
    double *ref = ref_alloc(y);
    FOR4(y) {
        double v = getf(x, i0, i1, i2, i3), r;
        switch (op) {
        case SLM_OP_SCALE: r = v * 0.75 - 0.25; break;
        case SLM_OP_SILU: r = ref_silu(v); break;
        case SLM_OP_GELU: r = ref_gelu(v); break;
        default: r = tanh(v); break;
        }
        ref[flat(y, i0, i1, i2, i3)] = r;
    }
    check_all(slm_op_name(op), y, ref);
    free(ref);
}

static void test_scale_and_unary(void **state)
{
    (void)state;
    static const slm_op_t ops[] = {SLM_OP_SCALE, SLM_OP_SILU, SLM_OP_GELU,
                                   SLM_OP_TANH};
    for (size_t i = 0; i < 4; i++) {
        unary_case(ops[i], ID, 0);
        unary_case(ops[i], T201, 1);
    }
    /* Spot values, independent of any formula typed twice. */
    slm_tensor_t *x = tensor(SLM_DTYPE_F32, 3, 1, 1, 1);
    slm_tensor_t *y = tensor(SLM_DTYPE_F32, 3, 1, 1, 1);
    setf(x, 0, 0, 0, 0, 0), setf(x, 1, 0, 0, 0, 1), setf(x, 2, 0, 0, 0, -1);
    slm_node_t node = mk(SLM_OP_GELU, y, x, NULL, NULL);
    run(&node);
    check_close("gelu(0)", getf(y, 0, 0, 0, 0), 0, 0, 0, 0, 0);
    check_close("gelu(1)", getf(y, 1, 0, 0, 0), 0.8411919906082768, 1, 0, 0, 0);
    check_close("gelu(-1)", getf(y, 2, 0, 0, 0), -0.15880800939172324, 2, 0, 0, 0);
    node.op = SLM_OP_SILU;
    run(&node);
    check_close("silu(1)", getf(y, 1, 0, 0, 0), 0.7310585786300049, 1, 0, 0, 0);
}

static void glu_case(slm_op_t op, bool strided)
{
    slm_tensor_t *g = strided ? layout(SLM_DTYPE_F32, 17, 3, 2, 1, T01, 1)
                              : tensor(SLM_DTYPE_F32, 17, 3, 2, 1);
    slm_tensor_t *u = strided ? layout(SLM_DTYPE_F32, 17, 3, 2, 1, T12, 2)
                              : tensor(SLM_DTYPE_F32, 17, 3, 2, 1);
    slm_tensor_t *y = tensor(SLM_DTYPE_F32, 17, 3, 2, 1);
    fill(g, -3, 3);
    fill(u, -1, 1);
    slm_node_t node = mk(op, y, g, u, NULL);
    run(&node);
    double *ref = ref_alloc(y);
    FOR4(y) {
        double gv = getf(g, i0, i1, i2, i3), uv = getf(u, i0, i1, i2, i3);
        ref[flat(y, i0, i1, i2, i3)] =
            (op == SLM_OP_SWIGLU ? ref_silu(gv) : ref_gelu(gv)) * uv;
    }
    check_all(slm_op_name(op), y, ref);
    free(ref);
}

static void test_swiglu_geglu(void **state)
{
    (void)state;
    glu_case(SLM_OP_SWIGLU, false);
    glu_case(SLM_OP_SWIGLU, true);
    glu_case(SLM_OP_GEGLU, false);
    glu_case(SLM_OP_GEGLU, true);
}

/* ---------------------------------------------------------------- ROPE */

typedef struct RopeCase {
    int64_t D, H, T;
    int n_dims, mode, n_ctx_orig;
    double base, scale, ext, attn, beta_fast, beta_slow;
    bool freq_factors;
    const int *perm;
} RopeCase;

/* Pair k's angle at position p and its magnitude, as graph.h writes them. */
static double ref_rope_theta(const RopeCase *c, double p, int k, double ff,
                             double *mscale)
{
    double te = p * pow(c->base, -2.0 * k / c->n_dims) / ff;
    double ti = c->scale * te;
    if (c->ext == 0) {
        *mscale = c->attn;
        return ti;
    }
    double cf = c->n_dims * log(c->n_ctx_orig / (c->beta_fast * 2 * M_PI)) /
                (2 * log(c->base));
    double cs = c->n_dims * log(c->n_ctx_orig / (c->beta_slow * 2 * M_PI)) /
                (2 * log(c->base));
    double lo = fmax(0, floor(cf)), hi = fmin(c->n_dims - 1, ceil(cs));
    double y = (k - lo) / fmax(0.001, hi - lo);
    double r = (1 - fmin(1, fmax(0, y))) * c->ext;
    *mscale = c->attn * (1 + 0.1 * log(1 / c->scale));
    return ti * (1 - r) + te * r;
}

static void rope_case(const RopeCase *c)
{
    slm_tensor_t *x = layout(SLM_DTYPE_F32, c->D, c->H, c->T, 1, c->perm, 1);
    slm_tensor_t *pos = tensor(SLM_DTYPE_I32, c->T, 1, 1, 1);
    slm_tensor_t *ff = c->freq_factors
                           ? tensor(SLM_DTYPE_F32, c->n_dims / 2, 1, 1, 1) : NULL;
    slm_tensor_t *y = tensor(SLM_DTYPE_F32, c->D, c->H, c->T, 1);
    fill(x, -1, 1);
    for (int64_t t = 0; t < c->T; t++)
        seti(pos, t, 0, 0, 0, (int32_t)(rnd() % 100));
    seti(pos, 0, 0, 0, 0, 0);
    seti(pos, c->T - 1, 0, 0, 0, 4000);
    if (ff)
        fill(ff, 1, 4);
    slm_node_t node = mk(SLM_OP_ROPE, y, x, pos, ff);
    node.iparams[0] = c->n_dims;
    node.iparams[1] = c->mode;
    node.iparams[2] = c->n_ctx_orig;
    node.fparams[0] = (float)c->base;
    node.fparams[1] = (float)c->scale;
    node.fparams[2] = (float)c->ext;
    node.fparams[3] = (float)c->attn;
    node.fparams[4] = (float)c->beta_fast;
    node.fparams[5] = (float)c->beta_slow;
    run(&node);

    double *ref = ref_alloc(y);
    int half = c->n_dims / 2;
    for (int64_t t = 0; t < c->T; t++)
        for (int64_t h = 0; h < c->H; h++) {
            for (int64_t i = 0; i < c->D; i++) /* dims past n_dims: copied */
                ref[flat(y, i, h, t, 0)] = getf(x, i, h, t, 0);
            for (int k = 0; k < half; k++) {
                int ia = c->mode == SLM_ROPE_NEOX ? k : 2 * k;
                int ib = c->mode == SLM_ROPE_NEOX ? k + half : 2 * k + 1;
                double m, f = ff ? getf(ff, k, 0, 0, 0) : 1;
                double th = ref_rope_theta(c, geti(pos, t, 0, 0, 0), k, f, &m);
                double a = getf(x, ia, h, t, 0), b = getf(x, ib, h, t, 0);
                ref[flat(y, ia, h, t, 0)] = a * cos(th) * m - b * sin(th) * m;
                ref[flat(y, ib, h, t, 0)] = a * sin(th) * m + b * cos(th) * m;
            }
        }
    check_all(c->mode == SLM_ROPE_NEOX ? "ROPE neox" : "ROPE normal", y, ref);
    free(ref);
}

static void test_rope(void **state)
{
    (void)state;
    static const RopeCase cases[] = {
        /* D  H  T  n_dims mode          n_ctx base     scale ext attn bf  bs ff  perm */
        {8, 3, 4, 8, SLM_ROPE_NORMAL, 0, 10000, 1, 0, 1, 0, 0, false, ID},
        {16, 2, 5, 16, SLM_ROPE_NEOX, 0, 10000, 1, 0, 1, 0, 0, false, T12},
        {10, 2, 5, 6, SLM_ROPE_NEOX, 0, 10000, 1, 0, 1, 0, 0, false, ID},
        {9, 3, 3, 4, SLM_ROPE_NORMAL, 0, 500000, 0.5, 0, 0.9, 0, 0, false, T12},
        {8, 2, 3, 4, SLM_ROPE_NORMAL, 0, 10000, 1, 0, 1, 0, 0, true, ID},
        {16, 2, 4, 16, SLM_ROPE_NEOX, 0, 1e6, 1, 0, 1, 0, 0, true, T12},
        /* YaRN: for n_dims 16 and n_ctx_orig 64 the ramp runs from pair 0
        ** (pure extrapolation) to pair 3 (pure interpolation). */
        {16, 2, 4, 16, SLM_ROPE_NORMAL, 64, 10000, 0.25, 1, 1, 32, 1, false, ID},
        {20, 2, 4, 16, SLM_ROPE_NEOX, 64, 10000, 0.25, 1, 1, 32, 1, false, T12},
        {16, 3, 2, 12, SLM_ROPE_NEOX, 4096, 10000, 0.25, 0.5, 0.8, 32, 1, true, ID},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        rope_case(&cases[i]);
}

/* ------------------------------------------------------------- SOFTMAX */

typedef struct SoftmaxCase {
    double scale, cap;
    int causal, offset, window;
    bool mask;
    int64_t mask_rows;
} SoftmaxCase;

static void softmax_case(const SoftmaxCase *c, int64_t C, int64_t R, int64_t H,
                         int64_t B, const int perm[4])
{
    slm_tensor_t *x = layout(SLM_DTYPE_F32, C, R, H, B, perm, 1);
    slm_tensor_t *mask = c->mask ? layout(SLM_DTYPE_F32, C, c->mask_rows, 1, 1,
                                          T01, 1) : NULL;
    slm_tensor_t *y = tensor(SLM_DTYPE_F32, C, R, H, B);
    fill(x, -3, 3);
    if (mask) {
        fill(mask, -1, 1);
        setf(mask, 0, 0, 0, 0, -INFINITY);
        setf(mask, C - 1, R - 1, 0, 0, -INFINITY);
        for (int64_t k = 0; k < C; k++) /* row 1 masked entirely */
            setf(mask, k, 1 % R, 0, 0, -INFINITY);
    }
    slm_node_t node = mk(SLM_OP_SOFTMAX, y, x, mask, NULL);
    node.fparams[0] = (float)c->scale;
    node.fparams[1] = (float)c->cap;
    node.iparams[0] = c->causal;
    node.iparams[1] = c->offset;
    node.iparams[2] = c->window;
    run(&node);

    double *ref = ref_alloc(y), *z = calloc((size_t)C, sizeof *z);
    assert_non_null(z);
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t r = 0; r < R; r++) {
                double max = -INFINITY;
                for (int64_t k = 0; k < C; k++) {
                    double v = getf(x, k, r, h, b) * c->scale;
                    if (c->cap > 0)
                        v = c->cap * tanh(getf(x, k, r, h, b) * c->scale / c->cap);
                    if (mask)
                        v += getf(mask, k, r, 0, 0);
                    if (c->causal && k > r + c->offset)
                        v = -INFINITY;
                    if (c->causal && c->window > 0 && r + c->offset - k >= c->window)
                        v = -INFINITY;
                    z[k] = v;
                    max = fmax(max, v);
                }
                double sum = 0;
                for (int64_t k = 0; k < C; k++)
                    sum += max == -INFINITY ? 0 : exp(z[k] - max);
                for (int64_t k = 0; k < C; k++)
                    ref[flat(y, k, r, h, b)] =
                        max == -INFINITY ? 0 : exp(z[k] - max) / sum;
            }
    check_all("SOFTMAX", y, ref);
    free(z);
    free(ref);
}

static void test_softmax(void **state)
{
    (void)state;
    static const SoftmaxCase cases[] = {
        /* scale cap causal offset window mask mask_rows */
        {1.0, 0, 0, 0, 0, false, 0},
        {0.7, 0, 0, 0, 0, true, 6},   /* mask taller than R; a masked row */
        {0.7, 0, 1, 2, 0, false, 0},  /* causal, query 0 at key position 2 */
        {1.0, 0, 1, 3, 3, false, 0},  /* plus a sliding window of 3 */
        {2.0, 0.5, 0, 0, 0, false, 0},/* soft-cap */
        {1.0, 30, 1, 0, 2, true, 4},  /* everything at once */
        {1.0, 0, 1, -1, 0, false, 0}, /* row 0 sees no key: zeros */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        softmax_case(&cases[i], 7, 4, 3, 2, i % 2 ? T12 : ID);
        softmax_case(&cases[i], 33, 4, 1, 1, T01);
    }

    /* The fully masked row by hand. */
    slm_tensor_t *x = tensor(SLM_DTYPE_F32, 3, 2, 1, 1);
    slm_tensor_t *y = tensor(SLM_DTYPE_F32, 3, 2, 1, 1);
    fill(x, -1, 1);
    slm_node_t node = mk(SLM_OP_SOFTMAX, y, x, NULL, NULL);
    node.fparams[0] = 1;
    node.iparams[0] = 1;
    node.iparams[1] = -1;
    run(&node);
    for (int k = 0; k < 3; k++)
        assert_true(getf(y, k, 0, 0, 0) == 0.0);
    assert_true(getf(y, 0, 1, 0, 0) == 1.0);
    assert_true(getf(y, 1, 1, 0, 0) == 0.0 && getf(y, 2, 1, 0, 0) == 0.0);
}

/* ---------------------------------------------------------------- COPY */

/* The bits a value of src's dtype must have once stored in dtype `to`. */
static uint32_t converted_bits(double v, slm_dtype_t to)
{
    float f = (float)v;
    uint32_t bits;
    switch (to) {
    case SLM_DTYPE_F32: memcpy(&bits, &f, 4); return bits;
    case SLM_DTYPE_F16: return slm_f32_to_f16(f);
    default: return slm_f32_to_bf16(f);
    }
}

static uint32_t stored_bits(const slm_tensor_t *x, int64_t i0, int64_t i1,
                            int64_t i2, int64_t i3)
{
    uint32_t bits = 0;
    uint16_t h;
    if (x->dtype == SLM_DTYPE_F32) {
        memcpy(&bits, addr(x, i0, i1, i2, i3), 4);
    } else {
        memcpy(&h, addr(x, i0, i1, i2, i3), 2);
        bits = h;
    }
    return bits;
}

/* Indices of element k (ne order) of x. */
static void unflat(const slm_tensor_t *x, int64_t k, int64_t i[4])
{
    for (int d = 0; d < 4; d++) {
        i[d] = k % x->ne[d];
        k /= x->ne[d];
    }
}

static void copy_case(slm_dtype_t from, slm_dtype_t to, const int64_t src_ne[4],
                      const int src_perm[4], const int64_t dst_ne[4],
                      const int dst_perm[4], int64_t dst_pad)
{
    slm_tensor_t *src = layout(from, src_ne[0], src_ne[1], src_ne[2], src_ne[3],
                               src_perm, 1);
    slm_tensor_t *dst = layout(to, dst_ne[0], dst_ne[1], dst_ne[2], dst_ne[3],
                               dst_perm, dst_pad);
    /* full-precision values, so that narrowing has something to round */
    FOR4(src) setf(src, i0, i1, i2, i3, frand() * 3);
    slm_node_t node = mk(SLM_OP_COPY, dst, src, NULL, NULL);
    run(&node);
    int64_t n = slm_tensor_nelements(src);
    for (int64_t k = 0; k < n; k++) {
        int64_t s[4], d[4];
        unflat(src, k, s);
        unflat(dst, k, d);
        uint32_t want = from == to ? stored_bits(src, s[0], s[1], s[2], s[3])
                                   : converted_bits(getf(src, s[0], s[1], s[2], s[3]), to);
        uint32_t got = stored_bits(dst, d[0], d[1], d[2], d[3]);
        if (got != want)
            fail_msg("COPY %s -> %s element %lld: bits 0x%x, want 0x%x",
                     slm_dtype_name(from), slm_dtype_name(to), (long long)k,
                     got, want);
    }
    expect_only_elements_written(dst);
}

static void test_copy(void **state)
{
    (void)state;
    static const slm_dtype_t floats[] = {SLM_DTYPE_F32, SLM_DTYPE_F16,
                                         SLM_DTYPE_BF16};
    static const int64_t shape[4] = {5, 3, 2, 2};
    static const int64_t reshaped[4] = {6, 10, 1, 1};
    static const int64_t flat60[4] = {60, 1, 1, 1};
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++) {
            copy_case(floats[a], floats[b], shape, T201, shape, ID, 0);
            copy_case(floats[a], floats[b], shape, ID, shape, T12, 1);
            copy_case(floats[a], floats[b], shape, T201, reshaped, T01, 2);
            copy_case(floats[a], floats[b], shape, T12, flat60, ID, 3);
        }
    /* A NaN copied F16 -> F16 keeps its exact bits. */
    slm_tensor_t *src = tensor(SLM_DTYPE_F16, 2, 1, 1, 1);
    slm_tensor_t *dst = tensor(SLM_DTYPE_F16, 2, 1, 1, 1);
    uint16_t nans[2] = {0x7C01, 0xFD55};
    memcpy(src->data, nans, sizeof nans);
    slm_node_t node = mk(SLM_OP_COPY, dst, src, NULL, NULL);
    run(&node);
    assert_memory_equal(dst->data, nans, sizeof nans);
}

static void copy_quant_case(slm_dtype_t dt, int64_t E, const int64_t src_ne[3],
                            int64_t src_pad, const int64_t dst_ne[3],
                            int64_t dst_pad)
{
    slm_tensor_t *src = layout(dt, E, src_ne[0], src_ne[1], src_ne[2], ID, src_pad);
    slm_tensor_t *dst = layout(dt, E, dst_ne[0], dst_ne[1], dst_ne[2], ID, dst_pad);
    fill_weights(src);
    slm_node_t node = mk(SLM_OP_COPY, dst, src, NULL, NULL);
    run(&node);
    size_t row = slm_tensor_row_bytes(src);
    int64_t rows = slm_tensor_nrows(src);
    for (int64_t k = 0; k < rows; k++) {
        int64_t s[4], d[4];
        unflat(src, k * E, s);
        unflat(dst, k * E, d);
        assert_memory_equal(addr(dst, 0, d[1], d[2], d[3]),
                            addr(src, 0, s[1], s[2], s[3]), row);
    }
    expect_only_elements_written(dst);
}

static void test_copy_quantized(void **state)
{
    (void)state;
    static const int64_t a[3] = {3, 2, 1}, b[3] = {6, 1, 1}, c[3] = {2, 1, 3};
    copy_quant_case(SLM_DTYPE_Q8_0, 64, a, 0, b, 1);
    copy_quant_case(SLM_DTYPE_Q4_0, 96, a, 2, c, 0);
    copy_quant_case(SLM_DTYPE_Q4_K, 256, b, 1, a, 1);
    copy_quant_case(SLM_DTYPE_Q6_K, 512, c, 1, b, 2);
}

/* ------------------------------------------------------------ SET_ROWS */

static void set_rows_case(slm_dtype_t dt, int64_t E, int64_t R, int64_t n,
                          int64_t B2, int64_t B3)
{
    slm_tensor_t *dst = layout(dt, E, R, B2, B3, ID, 1); /* padded rows */
    slm_tensor_t *rows = layout(SLM_DTYPE_F32, E, n, B2, B3, T01, 1);
    slm_tensor_t *ids = layout(SLM_DTYPE_I32, n, B2, B3, 1, ID, 1);
    FOR4(rows) setf(rows, i0, i1, i2, i3, frand() * 2);
    /* distinct ids per (b2, b3): a shuffled prefix of 0..R-1 */
    for (int64_t b3 = 0; b3 < B3; b3++)
        for (int64_t b2 = 0; b2 < B2; b2++) {
            int32_t perm[64];
            for (int32_t r = 0; r < R; r++)
                perm[r] = r;
            for (int64_t r = R - 1; r > 0; r--) {
                int64_t s = rnd() % (r + 1);
                int32_t t = perm[r];
                perm[r] = perm[s], perm[s] = t;
            }
            for (int64_t j = 0; j < n; j++)
                seti(ids, j, b2, b3, 0, perm[j]);
        }
    slm_node_t node = mk(SLM_OP_SET_ROWS, dst, rows, ids, NULL);
    run(&node);

    for (int64_t b3 = 0; b3 < B3; b3++)
        for (int64_t b2 = 0; b2 < B2; b2++) {
            bool named[64] = {false};
            for (int64_t j = 0; j < n; j++) {
                int32_t r = geti(ids, j, b2, b3, 0);
                named[r] = true;
                for (int64_t e = 0; e < E; e++) {
                    uint32_t want = converted_bits(getf(rows, e, j, b2, b3), dt);
                    if (stored_bits(dst, e, r, b2, b3) != want)
                        fail_msg("SET_ROWS %s: row %d element %lld differs",
                                 slm_dtype_name(dt), r, (long long)e);
                }
            }
            for (int64_t r = 0; r < R; r++) /* untouched rows keep 0xCD */
                if (!named[r])
                    for (int64_t e = 0; e < E; e++)
                        assert_int_equal(*(uint8_t *)addr(dst, e, r, b2, b3), 0xCD);
        }
    expect_only_elements_written(dst);
}

static void test_set_rows(void **state)
{
    (void)state;
    set_rows_case(SLM_DTYPE_F16, 8, 10, 4, 2, 1);
    set_rows_case(SLM_DTYPE_F16, 33, 7, 7, 1, 2);
    set_rows_case(SLM_DTYPE_F32, 5, 6, 2, 2, 2);
    set_rows_case(SLM_DTYPE_BF16, 16, 9, 3, 1, 1);
    set_rows_case(SLM_DTYPE_F16, 1, 1, 1, 1, 1);
}

static void test_set_rows_bad_id(void **state)
{
    (void)state;
    slm_tensor_t *dst = tensor(SLM_DTYPE_F16, 4, 3, 1, 1);
    slm_tensor_t *rows = tensor(SLM_DTYPE_F32, 4, 1, 1, 1);
    slm_tensor_t *ids = tensor(SLM_DTYPE_I32, 1, 1, 1, 1);
    fill(rows, -1, 1);
    seti(ids, 0, 0, 0, 0, 3);
    slm_node_t node = mk(SLM_OP_SET_ROWS, dst, rows, ids, NULL);
    assert_int_equal(compute(&node, 1), SLM_ERR_INVALID_ARG);
    assert_non_null(strstr(fx.error, "SET_ROWS"));
    expect_only_elements_written(dst); /* and no element either */
    FOR4(dst) assert_int_equal(*(uint8_t *)addr(dst, i0, i1, i2, i3), 0xCD);
}

/* ----------------------------------------------------- ARGSORT, TOP_K */

/* Indices of row [.., i1, i2, i3] sorted by value, ties lower index first:
** an insertion sort that moves an element only past strictly worse ones. */
static void ref_sort(const slm_tensor_t *x, int64_t i1, int64_t i2, int64_t i3,
                     bool desc, int32_t *idx)
{
    int64_t n = x->ne[0];
    for (int64_t i = 0; i < n; i++) {
        double v = getf(x, i, i1, i2, i3);
        int64_t j = i;
        while (j > 0) {
            double u = getf(x, idx[j - 1], i1, i2, i3);
            if (desc ? u < v : u > v) {
                idx[j] = idx[j - 1];
                j--;
            } else {
                break;
            }
        }
        idx[j] = (int32_t)i;
    }
}

static void sort_case(slm_op_t op, int order_or_k, int64_t n, int64_t n1,
                      int64_t n2, const int perm[4])
{
    slm_tensor_t *x = layout(SLM_DTYPE_F32, n, n1, n2, 1, perm, 1);
    int64_t out = op == SLM_OP_TOP_K ? order_or_k : n;
    slm_tensor_t *y = tensor(SLM_DTYPE_I32, out, n1, n2, 1);
    /* few distinct values: many ties */
    FOR4(x) setf(x, i0, i1, i2, i3, (double)(rnd() % 5) / 2 - 1);
    slm_node_t node = mk(op, y, x, NULL, NULL);
    node.iparams[0] = order_or_k;
    run(&node);
    bool desc = op == SLM_OP_TOP_K || order_or_k == SLM_SORT_DESC;
    int32_t *idx = calloc((size_t)n, sizeof *idx);
    assert_non_null(idx);
    for (int64_t i2 = 0; i2 < n2; i2++)
        for (int64_t i1 = 0; i1 < n1; i1++) {
            ref_sort(x, i1, i2, 0, desc, idx);
            for (int64_t i = 0; i < out; i++)
                if (geti(y, i, i1, i2, 0) != idx[i])
                    fail_msg("%s n=%lld row %lld,%lld position %lld: %d, want %d",
                             slm_op_name(op), (long long)n, (long long)i1,
                             (long long)i2, (long long)i, geti(y, i, i1, i2, 0),
                             idx[i]);
        }
    free(idx);
}

static void test_argsort(void **state)
{
    (void)state;
    for (int order = SLM_SORT_ASC; order <= SLM_SORT_DESC; order++) {
        sort_case(SLM_OP_ARGSORT, order, 9, 4, 2, ID);
        sort_case(SLM_OP_ARGSORT, order, 33, 3, 1, T01);
        sort_case(SLM_OP_ARGSORT, order, 1, 2, 1, ID);
        sort_case(SLM_OP_ARGSORT, order, 128, 2, 2, T12);
    }
    /* By hand: [0.5, -1, 0.5, 2, -1] */
    slm_tensor_t *x = tensor(SLM_DTYPE_F32, 5, 1, 1, 1);
    slm_tensor_t *y = tensor(SLM_DTYPE_I32, 5, 1, 1, 1);
    static const float v[5] = {0.5f, -1, 0.5f, 2, -1};
    memcpy(x->data, v, sizeof v);
    slm_node_t node = mk(SLM_OP_ARGSORT, y, x, NULL, NULL);
    node.iparams[0] = SLM_SORT_ASC;
    run(&node);
    static const int32_t asc[5] = {1, 4, 0, 2, 3}, desc[5] = {3, 0, 2, 1, 4};
    assert_memory_equal(y->data, asc, sizeof asc);
    node.iparams[0] = SLM_SORT_DESC;
    run(&node);
    assert_memory_equal(y->data, desc, sizeof desc);
}

static void test_top_k(void **state)
{
    (void)state;
    sort_case(SLM_OP_TOP_K, 1, 9, 4, 2, ID);
    sort_case(SLM_OP_TOP_K, 3, 9, 4, 2, T01);
    sort_case(SLM_OP_TOP_K, 9, 9, 2, 1, ID);
    sort_case(SLM_OP_TOP_K, 2, 64, 5, 1, T12);
    sort_case(SLM_OP_TOP_K, 1, 1, 3, 1, ID);
}

/* ---------------------------------------------------------- MUL_MAT_ID */

static void mul_mat_id_case(slm_dtype_t wt, int64_t K, int64_t N, int64_t X,
                            int64_t U, int64_t U1, int64_t T, bool strided)
{
    bool quant = slm_dtype_is_quantized(wt);
    slm_tensor_t *w = strided ? layout(wt, K, N, X, 1, quant ? ID : T01, 1)
                              : tensor(wt, K, N, X, 1);
    slm_tensor_t *x = strided ? layout(SLM_DTYPE_F32, K, U1, T, 1, T12, 1)
                              : tensor(SLM_DTYPE_F32, K, U1, T, 1);
    slm_tensor_t *ids = strided ? layout(SLM_DTYPE_I32, U, T, 1, 1, T01, 1)
                                : tensor(SLM_DTYPE_I32, U, T, 1, 1);
    slm_tensor_t *y = tensor(SLM_DTYPE_F32, N, U, T, 1);
    fill_weights(w);
    fill(x, -1, 1);
    FOR4(ids) seti(ids, i0, i1, i2, i3, (int32_t)(rnd() % X));
    slm_node_t node = mk(SLM_OP_MUL_MAT_ID, y, w, x, ids);
    run(&node);
    double *ref = ref_alloc(y);
    float *xr = malloc((size_t)K * sizeof *xr);
    assert_non_null(xr);
    for (int64_t t = 0; t < T; t++)
        for (int64_t u = 0; u < U; u++) {
            int32_t e = geti(ids, u, t, 0, 0);
            row_of(x, u % U1, t, 0, xr);
            for (int64_t n = 0; n < N; n++)
                ref[flat(y, n, u, t, 0)] = ref_dot(w, n, e, 0, xr, K);
        }
    free(xr);
    char what[64];
    snprintf(what, sizeof what, "MUL_MAT_ID %s K=%lld", slm_dtype_name(wt),
             (long long)K);
    check_all(what, y, ref);
    free(ref);
}

static void test_mul_mat_id(void **state)
{
    (void)state;
    mul_mat_id_case(SLM_DTYPE_F32, 33, 5, 4, 2, 1, 3, false);  /* U1 == 1 */
    mul_mat_id_case(SLM_DTYPE_F32, 33, 5, 4, 2, 2, 3, true);   /* U1 == U */
    mul_mat_id_case(SLM_DTYPE_F16, 7, 3, 8, 3, 3, 1, true);
    mul_mat_id_case(SLM_DTYPE_BF16, 40, 3, 2, 2, 1, 2, false);
    mul_mat_id_case(SLM_DTYPE_Q4_0, 64, 4, 4, 2, 1, 2, true);
    mul_mat_id_case(SLM_DTYPE_Q8_0, 32, 3, 3, 2, 2, 4, false);
    mul_mat_id_case(SLM_DTYPE_Q4_K, 256, 2, 3, 2, 2, 2, true);
    mul_mat_id_case(SLM_DTYPE_Q6_K, 256, 2, 3, 2, 1, 2, false);
}

static void test_mul_mat_id_bad_id(void **state)
{
    (void)state;
    slm_tensor_t *w = tensor(SLM_DTYPE_F32, 4, 2, 3, 1);
    slm_tensor_t *x = tensor(SLM_DTYPE_F32, 4, 1, 1, 1);
    slm_tensor_t *ids = tensor(SLM_DTYPE_I32, 2, 1, 1, 1);
    slm_tensor_t *y = tensor(SLM_DTYPE_F32, 2, 2, 1, 1);
    fill(w, -1, 1);
    fill(x, -1, 1);
    seti(ids, 0, 0, 0, 0, 0);
    seti(ids, 1, 0, 0, 0, 3);
    slm_node_t node = mk(SLM_OP_MUL_MAT_ID, y, w, x, ids);
    assert_int_equal(compute(&node, 1), SLM_ERR_INVALID_ARG);
    assert_non_null(strstr(fx.error, "MUL_MAT_ID"));
}

/* ------------------------------------------------------------ SUM_ROWS */

static void test_sum_rows(void **state)
{
    (void)state;
    static const int64_t shapes[][4] = {{33, 3, 2, 2}, {1, 4, 1, 1}, {96, 1, 1, 1}};
    for (size_t s = 0; s < 3; s++) {
        const int64_t *ne = shapes[s];
        slm_tensor_t *x = layout(SLM_DTYPE_F32, ne[0], ne[1], ne[2], ne[3],
                                 s == 0 ? T201 : ID, 1);
        slm_tensor_t *y = tensor(SLM_DTYPE_F32, 1, ne[1], ne[2], ne[3]);
        fill(x, -1, 1);
        slm_node_t node = mk(SLM_OP_SUM_ROWS, y, x, NULL, NULL);
        run(&node);
        double *ref = ref_alloc(y);
        FOR4(x) ref[flat(y, 0, i1, i2, i3)] += getf(x, i0, i1, i2, i3);
        check_all("SUM_ROWS", y, ref);
        free(ref);
    }
}

/* ------------------------------------------------------ graphs of nodes */

/* Embedding lookup, norm, projection: each node reads the one before. */
static void test_chained_graph(void **state)
{
    (void)state;
    int64_t E = 64, V = 10, T = 3, N = 5;
    slm_tensor_t *emb = tensor(SLM_DTYPE_Q8_0, E, V, 1, 1);
    slm_tensor_t *tok = tensor(SLM_DTYPE_I32, T, 1, 1, 1);
    slm_tensor_t *h = tensor(SLM_DTYPE_F32, E, T, 1, 1);
    slm_tensor_t *hn = tensor(SLM_DTYPE_F32, E, T, 1, 1);
    slm_tensor_t *w2 = tensor(SLM_DTYPE_F16, E, N, 1, 1);
    slm_tensor_t *out = tensor(SLM_DTYPE_F32, N, T, 1, 1);
    fill_weights(emb);
    fill_weights(w2);
    seti(tok, 0, 0, 0, 0, 3), seti(tok, 1, 0, 0, 0, 9), seti(tok, 2, 0, 0, 0, 3);
    slm_node_t nodes[3] = {
        mk(SLM_OP_GET_ROWS, h, emb, tok, NULL),
        mk(SLM_OP_RMS_NORM, hn, h, NULL, NULL),
        mk(SLM_OP_MUL_MAT, out, w2, hn, NULL),
    };
    nodes[1].fparams[0] = 1e-5f;
    assert_int_equal(compute(nodes, 3), SLM_OK);
    for (int64_t t = 0; t < T; t++) {
        double row[64], ss = 0;
        for (int64_t e = 0; e < E; e++) {
            row[e] = wget(emb, e, geti(tok, t, 0, 0, 0), 0, 0);
            ss += row[e] * row[e];
        }
        double rms = sqrt(ss / E + 1e-5f);
        for (int64_t e = 0; e < E; e++)
            check_close("chained norm", getf(hn, e, t, 0, 0), row[e] / rms,
                        e, t, 0, 0);
        /* The projection rounds its input to F16; it is checked on the norm
        ** the graph computed, since an ulp off there may round otherwise. */
        float xr[64];
        row_of(hn, t, 0, 0, xr);
        for (int64_t n = 0; n < N; n++)
            check_close("chained", getf(out, n, t, 0, 0),
                        ref_dot(w2, n, 0, 0, xr, E), n, t, 0, 0);
    }
}

/* ------------------------------------------------------- refusals, errors */

static void test_unknown_op(void **state)
{
    (void)state;
    slm_tensor_t *x = tensor(SLM_DTYPE_F32, 4, 1, 1, 1);
    slm_tensor_t *y = tensor(SLM_DTYPE_F32, 4, 1, 1, 1);
    fill(x, -1, 1);
    slm_node_t nodes[2] = {mk(SLM_OP_SILU, y, x, NULL, NULL),
                           mk((slm_op_t)999, y, x, NULL, NULL)};
    assert_true(fx.be->supports_node(fx.dev, &nodes[0]));
    assert_false(fx.be->supports_node(fx.dev, &nodes[1]));
    assert_int_equal(compute(nodes, 2), SLM_ERR_UNSUPPORTED);
    assert_non_null(strstr(fx.error, "node 1"));
    assert_non_null(strstr(fx.error, "999"));
    nodes[1].op = SLM_OP_NONE;
    assert_false(fx.be->supports_node(fx.dev, &nodes[1]));
    assert_int_equal(compute(nodes, 2), SLM_ERR_UNSUPPORTED);
    nodes[1].op = SLM_OP_COUNT;
    assert_false(fx.be->supports_node(fx.dev, &nodes[1]));
    nodes[1].op = (slm_op_t)-3;
    assert_false(fx.be->supports_node(fx.dev, &nodes[1]));
    assert_int_equal(compute(nodes, 2), SLM_ERR_UNSUPPORTED);
    /* An empty graph is fine; a missing one is not. */
    assert_int_equal(compute(NULL, 0), SLM_OK);
    assert_int_equal(fx.be->graph_compute(fx.dev, NULL), SLM_ERR_INVALID_ARG);
}

static void expect_refused(slm_node_t *node, const char *why)
{
    if (fx.be->supports_node(fx.dev, node))
        fail_msg("supports_node accepted %s: %s", slm_op_name(node->op), why);
}

static void test_supports_node(void **state)
{
    (void)state;
    slm_tensor_t *w = tensor(SLM_DTYPE_F32, 8, 4, 1, 1);
    slm_tensor_t *wi = tensor(SLM_DTYPE_I32, 8, 4, 1, 1);
    slm_tensor_t *x = tensor(SLM_DTYPE_F32, 8, 3, 1, 1);
    slm_tensor_t *y = tensor(SLM_DTYPE_F32, 4, 3, 1, 1);
    slm_node_t n;

    n = mk(SLM_OP_MUL_MAT, y, w, x, NULL);
    assert_true(fx.be->supports_node(fx.dev, &n));
    n = mk(SLM_OP_MUL_MAT, y, wi, x, NULL);
    expect_refused(&n, "I32 weights");
    n = mk(SLM_OP_MUL_MAT, y, w, NULL, NULL);
    expect_refused(&n, "missing src1");
    n = mk(SLM_OP_MUL_MAT, NULL, w, x, NULL);
    expect_refused(&n, "missing dst");
    n = mk(SLM_OP_MUL_MAT, y, NULL, NULL, NULL);
    expect_refused(&n, "no sources");
    n = mk(SLM_OP_MUL_MAT, y, w, x, x);
    expect_refused(&n, "an extra source");
    n = mk(SLM_OP_MUL_MAT, x, w, x, NULL);
    expect_refused(&n, "dst of the wrong shape");
    assert_false(fx.be->supports_node(fx.dev, NULL));

    /* Every op with all sources NULL. */
    for (int op = 1; op < SLM_OP_COUNT; op++) {
        n = mk((slm_op_t)op, y, NULL, NULL, NULL);
        expect_refused(&n, "NULL sources");
    }

    slm_tensor_t *xf = tensor(SLM_DTYPE_F32, 8, 1, 1, 1);
    slm_tensor_t *ids_f = tensor(SLM_DTYPE_F32, 2, 1, 1, 1);
    slm_tensor_t *rows = tensor(SLM_DTYPE_F32, 8, 2, 1, 1);
    n = mk(SLM_OP_GET_ROWS, rows, w, ids_f, NULL);
    expect_refused(&n, "F32 ids");

    slm_tensor_t *b3 = tensor(SLM_DTYPE_F32, 3, 1, 1, 1);
    n = mk(SLM_OP_ADD, x, x, b3, NULL);
    expect_refused(&n, "src1 not dividing src0");
    n = mk(SLM_OP_ADD, x, x, xf, NULL);
    assert_true(fx.be->supports_node(fx.dev, &n));

    slm_tensor_t *pos = tensor(SLM_DTYPE_I32, 1, 1, 1, 1);
    slm_tensor_t *q = tensor(SLM_DTYPE_F32, 8, 2, 1, 1);
    slm_tensor_t *qo = tensor(SLM_DTYPE_F32, 8, 2, 1, 1);
    n = mk(SLM_OP_ROPE, qo, q, pos, NULL);
    n.iparams[0] = 8;
    n.fparams[0] = 10000;
    n.fparams[1] = 1;
    assert_true(fx.be->supports_node(fx.dev, &n));
    n.iparams[0] = 5;
    expect_refused(&n, "odd n_dims");
    n.iparams[0] = 10;
    expect_refused(&n, "n_dims > D");
    n.iparams[0] = 8;
    n.iparams[1] = 1;
    expect_refused(&n, "unknown rope mode");

    /* A quantised tensor whose blocks are not packed along the row. */
    slm_tensor_t *q8 = tensor(SLM_DTYPE_Q8_0, 64, 2, 1, 1);
    slm_tensor_t *q8b = tensor(SLM_DTYPE_Q8_0, 64, 2, 1, 1);
    slm_tensor_t *y2 = tensor(SLM_DTYPE_F32, 2, 1, 1, 1);
    slm_tensor_t *x64 = tensor(SLM_DTYPE_F32, 64, 1, 1, 1);
    n = mk(SLM_OP_MUL_MAT, y2, q8, x64, NULL);
    assert_true(fx.be->supports_node(fx.dev, &n));
    slm_tensor_t bad = *q8;
    bad.nb[0] = 36;
    n = mk(SLM_OP_MUL_MAT, y2, &bad, x64, NULL);
    expect_refused(&n, "quantised nb[0] != block size");
    bad = *q8;
    bad.ne[0] = 48;
    n = mk(SLM_OP_MUL_MAT, y2, &bad, x64, NULL);
    expect_refused(&n, "ne[0] not a multiple of the block");

    /* COPY rules */
    slm_tensor_t *f64 = tensor(SLM_DTYPE_F32, 64, 2, 1, 1);
    n = mk(SLM_OP_COPY, q8b, q8, NULL, NULL);
    assert_true(fx.be->supports_node(fx.dev, &n));
    n = mk(SLM_OP_COPY, q8b, f64, NULL, NULL);
    expect_refused(&n, "F32 -> Q8_0");
    slm_tensor_t *q8w = tensor(SLM_DTYPE_Q8_0, 128, 1, 1, 1);
    n = mk(SLM_OP_COPY, q8w, q8, NULL, NULL);
    expect_refused(&n, "quantised copy with another ne[0]");
    n = mk(SLM_OP_COPY, x, f64, NULL, NULL);
    expect_refused(&n, "different element counts");

    /* TOP_K k out of range, ARGSORT into F32 */
    slm_tensor_t *k3 = tensor(SLM_DTYPE_I32, 3, 3, 1, 1);
    n = mk(SLM_OP_TOP_K, k3, x, NULL, NULL);
    n.iparams[0] = 3;
    assert_true(fx.be->supports_node(fx.dev, &n));
    n.iparams[0] = 0;
    expect_refused(&n, "k = 0");
    n = mk(SLM_OP_ARGSORT, x, x, NULL, NULL);
    expect_refused(&n, "F32 argsort output");

    /* graph_compute refuses what supports_node refuses, naming the node. */
    n = mk(SLM_OP_MUL_MAT, y, wi, x, NULL);
    slm_node_t nodes[2] = {mk(SLM_OP_SILU, x, x, NULL, NULL), n};
    assert_int_equal(compute(nodes, 2), SLM_ERR_INVALID_ARG);
    assert_non_null(strstr(fx.error, "node 1"));
    assert_non_null(strstr(fx.error, "MUL_MAT"));
}

/* A view reaching past its buffer is an error, not an out-of-bounds read. */
static void test_tensor_outside_buffer(void **state)
{
    (void)state;
    slm_tensor_t *x = tensor(SLM_DTYPE_F32, 8, 2, 1, 1);
    slm_tensor_t *y = tensor(SLM_DTYPE_F32, 8, 2, 1, 1);
    slm_tensor_t big = *x;
    big.ne[1] = 3;
    slm_tensor_t *y3 = tensor(SLM_DTYPE_F32, 8, 3, 1, 1);
    slm_node_t n = mk(SLM_OP_SILU, y3, &big, NULL, NULL);
    assert_int_equal(compute(&n, 1), SLM_ERR_INVALID_ARG);
    assert_true(strlen(fx.error) > 0);

    slm_tensor_t moved = *x;
    moved.nb[1] = 1u << 20;
    n = mk(SLM_OP_SILU, y, &moved, NULL, NULL);
    assert_int_equal(compute(&n, 1), SLM_ERR_INVALID_ARG);

    slm_tensor_t off = *x;
    off.offset += 4;
    off.data = (char *)off.data + 4;
    n = mk(SLM_OP_SILU, y, &off, NULL, NULL);
    assert_int_equal(compute(&n, 1), SLM_ERR_INVALID_ARG);

    slm_tensor_t nodata = *x;
    nodata.data = NULL;
    n = mk(SLM_OP_SILU, y, &nodata, NULL, NULL);
    assert_int_equal(compute(&n, 1), SLM_ERR_INVALID_ARG);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_descriptor_and_probe),
        T(test_abi_mismatch),
        T(test_buffers),
        T(test_compute_on_wrapped_memory),
        T(test_get_rows),
        T(test_get_rows_bad_id),
        T(test_rms_norm),
        T(test_mul_mat_f32),
        T(test_mul_mat_broadcast),
        T(test_mul_mat_dtypes),
        T(test_mul_mat_activation_blocks),
        T(test_add_mul_div),
        T(test_scale_and_unary),
        T(test_swiglu_geglu),
        T(test_rope),
        T(test_softmax),
        T(test_copy),
        T(test_copy_quantized),
        T(test_set_rows),
        T(test_set_rows_bad_id),
        T(test_argsort),
        T(test_top_k),
        T(test_mul_mat_id),
        T(test_mul_mat_id_bad_id),
        T(test_sum_rows),
        T(test_chained_graph),
        T(test_unknown_op),
        T(test_supports_node),
        T(test_tensor_outside_buffer),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
