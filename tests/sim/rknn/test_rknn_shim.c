/*
** test_rknn_shim.c -- the npu-rknn plugin driven directly through its
** descriptor, as the runtime drives it, against the simulated librknnrt.so
** (or none): what it claims, what it computes, what it logs, how it fails.
**
**   test_rknn_shim PLUGIN CASE [-c key=value ...] [ARG ...]
**
** -c key=value sets a key of the plugin's [backend.npu-rknn] config. Cases:
**   probe SUBSTR...   one NPU device whose features hold every SUBSTR
**   nodevice SUBSTR   no device, and a logged reason holding SUBSTR
**   matmul            every weight type, several shapes (padding, M tiles),
**                     against a double reference; nodes it must refuse;
**                     a conversion logged once per weight; a rewritten
**                     weight buffer converted again; nothing left in the
**                     runtime after the buffers are freed
**   ksplit            K = 12288 (Q4_0) and 10250 (F32): cut into slices of at
**                     most 10240, partial products added
**   fault SUBSTR      the first matmul fails with SLM_ERR_DEVICE and an
**                     error holding SUBSTR
**   badconfig SUBSTR  probe refuses the config with SLM_ERR_CONFIG and an
**                     error holding SUBSTR
** The sim's counters are read through dlsym (sim_rknn.h) when it is loaded.
*/
#include <dlfcn.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <slm/backend.h>

#include "sim_rknn.h"

static int failures;

#define CHECK(cond, ...)                                                     \
    do {                                                                     \
        if (!(cond)) {                                                       \
            failures++;                                                      \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);  \
            fprintf(stderr, __VA_ARGS__);                                    \
            fputc('\n', stderr);                                             \
        }                                                                    \
    } while (0)

/* ------------------------------------------------------------------ host */

static char logbuf[1 << 16];
static size_t loglen;
static char last_error[1024];
static const char *config[16][2];
static int n_config;

static void host_log(void *ctx, int level, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "[plugin %d] %s\n", level, msg);
    int n = snprintf(logbuf + loglen, sizeof logbuf - loglen, "%s\n", msg);
    if (n > 0 && (size_t)n < sizeof logbuf - loglen)
        loglen += (size_t)n;
}

static void host_set_error(void *ctx, const char *msg)
{
    (void)ctx;
    snprintf(last_error, sizeof last_error, "%s", msg);
}

static const char *host_config_get(void *ctx, const char *key)
{
    (void)ctx;
    for (int i = 0; i < n_config; i++)
        if (strcmp(config[i][0], key) == 0)
            return config[i][1];
    return NULL;
}

static const slm_host_t host = {
    .abi_major = SLM_BACKEND_ABI_MAJOR,
    .abi_minor = SLM_BACKEND_ABI_MINOR,
    .struct_size = sizeof(slm_host_t),
    .log = host_log,
    .set_error = host_set_error,
    .config_get = host_config_get,
};

static int log_count(const char *needle)
{
    int n = 0;
    for (const char *p = logbuf; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static const slm_backend_t *be;
static void *dev;

/* The runtime, held open by the test too, so that its counters outlive
** the plugin's dlclose; NULL where none is found. */
static void *runtime_so;

static sim_rknn_stats_t sim_stats(void)
{
    sim_rknn_stats_t s;
    memset(&s, 0, sizeof s);
    void *p = runtime_so ? dlsym(runtime_so, "sim_rknn_stats") : NULL;
    if (p) {
        sim_rknn_stats_fn fn;
        memcpy(&fn, &p, sizeof fn);
        fn(&s);
    }
    return s;
}

/* --------------------------------------------------------------- tensors */

typedef struct Tensor {
    slm_tensor_t t;
    void *buf;
    unsigned char *base;
    size_t size;
} Tensor;

static uint64_t rng = 0x2545F4914F6CDD1Dull;

static float frand(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((rng >> 11) * 0x1p-53) * 2.0f - 1.0f;
}

static void tensor_init(Tensor *x, slm_dtype_t dt, int64_t n0, int64_t n1, int64_t n2,
                        uint32_t flags, const char *name)
{
    memset(x, 0, sizeof *x);
    slm_tensor_t *t = &x->t;
    t->dtype = dt;
    t->flags = flags;
    t->ne[0] = n0, t->ne[1] = n1, t->ne[2] = n2, t->ne[3] = 1;
    t->nb[0] = slm_dtype_block_bytes(dt);
    t->nb[1] = slm_tensor_row_bytes(t);
    t->nb[2] = t->nb[1] * (size_t)n1;
    t->nb[3] = t->nb[2] * (size_t)n2;
    snprintf(t->name, sizeof t->name, "%s", name);
    x->size = t->nb[3] + 64;
    t->offset = 64; /* not at the buffer's start */
    void *base = NULL;
    slm_status_t st = be->buffer_alloc(dev, x->size, flags & SLM_TENSOR_WEIGHT
                                       ? SLM_BUFFER_WEIGHTS : SLM_BUFFER_ACTIVATIONS,
                                       &x->buf, &base);
    if (st != SLM_OK || !base) {
        fprintf(stderr, "buffer_alloc failed: %s\n", last_error);
        exit(1);
    }
    x->base = base;
    t->buffer = x->buf;
    t->data = x->base + t->offset;
}

static void tensor_free(Tensor *x)
{
    be->buffer_free(dev, x->buf);
}

/* Random weights of any type: blocks of valid scales and random quants. */
static void fill_weights(Tensor *w)
{
    slm_tensor_t *t = &w->t;
    unsigned char *p = t->data;
    size_t bytes = t->nb[1] * (size_t)t->ne[1];
    for (size_t i = 0; i < bytes; i++)
        p[i] = (unsigned char)(frand() * 127.0f + 128.0f);
    int64_t nblocks = (int64_t)(bytes / slm_dtype_block_bytes(t->dtype));
    for (int64_t b = 0; b < nblocks; b++) {
        unsigned char *blk = p + (size_t)b * slm_dtype_block_bytes(t->dtype);
        slm_f16_t d = slm_f32_to_f16(0.01f + 0.02f * fabsf(frand()));
        switch (t->dtype) {
        case SLM_DTYPE_F32: {
            float v = frand();
            memcpy(blk, &v, 4);
            break;
        }
        case SLM_DTYPE_F16: {
            slm_f16_t v = slm_f32_to_f16(frand());
            memcpy(blk, &v, 2);
            break;
        }
        case SLM_DTYPE_Q4_0:
        case SLM_DTYPE_Q8_0:
            memcpy(blk, &d, 2);
            break;
        case SLM_DTYPE_Q4_K:
            memcpy(blk, &d, 2);
            d = slm_f32_to_f16(0.005f);
            memcpy(blk + 2, &d, 2);
            break;
        case SLM_DTYPE_Q6_K:
            d = slm_f32_to_f16(0.002f);
            memcpy(blk + 208, &d, 2);
            break;
        default:
            break;
        }
    }
}

/* The weight row r as float, dequantised by the test's own reading of
** graph.h (independent of npu_weights.c). */
static void weight_row(const slm_tensor_t *t, int64_t r, float *out)
{
    const unsigned char *row = (const unsigned char *)t->data + (size_t)r * t->nb[1];
    int64_t K = t->ne[0];
    for (int64_t b = 0; b < K / slm_dtype_block_elems(t->dtype); b++) {
        const unsigned char *blk = row + (size_t)b * slm_dtype_block_bytes(t->dtype);
        float *o = out + b * slm_dtype_block_elems(t->dtype);
        slm_f16_t h;
        switch (t->dtype) {
        case SLM_DTYPE_F32:
            memcpy(o, blk, 4);
            break;
        case SLM_DTYPE_F16:
            memcpy(&h, blk, 2);
            o[0] = slm_f16_to_f32(h);
            break;
        case SLM_DTYPE_Q4_0:
            memcpy(&h, blk, 2);
            for (int j = 0; j < 32; j++)
                o[j] = slm_f16_to_f32(h) * (float)(((blk[2 + j % 16] >> (4 * (j / 16))) & 0xF) - 8);
            break;
        case SLM_DTYPE_Q8_0:
            memcpy(&h, blk, 2);
            for (int j = 0; j < 32; j++)
                o[j] = slm_f16_to_f32(h) * (float)(int8_t)blk[2 + j];
            break;
        case SLM_DTYPE_Q4_K: {
            slm_f16_t hd, hm;
            memcpy(&hd, blk, 2);
            memcpy(&hm, blk + 2, 2);
            const unsigned char *sc = blk + 4, *qs = blk + 16;
            for (int s = 0; s < 8; s++) {
                int scl, mn;
                if (s < 4) {
                    scl = sc[s] & 63, mn = sc[s + 4] & 63;
                } else {
                    scl = (sc[s + 4] & 0xF) | ((sc[s - 4] >> 6) << 4);
                    mn = (sc[s + 4] >> 4) | ((sc[s] >> 6) << 4);
                }
                for (int l = 0; l < 32; l++) {
                    int q = (qs[32 * (s / 2) + l] >> (4 * (s % 2))) & 0xF;
                    o[32 * s + l] = slm_f16_to_f32(hd) * (float)scl * (float)q -
                                    slm_f16_to_f32(hm) * (float)mn;
                }
            }
            break;
        }
        case SLM_DTYPE_Q6_K: {
            memcpy(&h, blk + 208, 2);
            const unsigned char *ql = blk, *qh = blk + 128;
            const int8_t *scales = (const int8_t *)(blk + 192);
            for (int half = 0; half < 2; half++)
                for (int l = 0; l < 32; l++) {
                    const unsigned char *L = ql + 64 * half, *H = qh + 32 * half;
                    int q[4] = {(L[l] & 0xF) | (((H[l] >> 0) & 3) << 4),
                                (L[l + 32] & 0xF) | (((H[l] >> 2) & 3) << 4),
                                (L[l] >> 4) | (((H[l] >> 4) & 3) << 4),
                                (L[l + 32] >> 4) | (((H[l] >> 6) & 3) << 4)};
                    for (int j = 0; j < 4; j++) {
                        int e = l + 32 * j;
                        o[128 * half + e] = slm_f16_to_f32(h) *
                                            (float)scales[8 * half + e / 16] * (float)(q[j] - 32);
                    }
                }
            break;
        }
        default:
            break;
        }
    }
}

/* ---------------------------------------------------------------- matmul */

static slm_node_t matmul_node(Tensor *w, Tensor *x, Tensor *y)
{
    slm_node_t n;
    memset(&n, 0, sizeof n);
    n.op = SLM_OP_MUL_MAT;
    n.src[0] = &w->t;
    n.src[1] = &x->t;
    n.dst = &y->t;
    return n;
}

/* x as MUL_MAT's definition hands it to a weight of type t (graph.h):
** Q8_0 blocks for Q4_0/Q8_0, Q8_K blocks for the K-quants, BF16 for BF16;
** then rounded to F16, as the NPU takes it. */
static void npu_activations(slm_dtype_t t, const float *x, double *out, int64_t K)
{
    float v[256];
    for (int64_t b = 0; b < K; b += 256) {
        int64_t n = K - b < 256 ? K - b : 256;
        memcpy(v, x + b, sizeof(float) * (size_t)n);
        if (t == SLM_DTYPE_Q4_0 || t == SLM_DTYPE_Q8_0) {
            for (int64_t g = 0; g < n; g += 32) {
                float amax = 0;
                for (int j = 0; j < 32; j++)
                    amax = fmaxf(amax, fabsf(v[g + j]));
                float d = amax / 127.0f, id = d >= 1e-37f ? 1.0f / d : 0.0f;
                float dh = slm_f16_to_f32(slm_f32_to_f16(d));
                for (int j = 0; j < 32; j++)
                    v[g + j] = roundf(v[g + j] * id) * dh;
            }
        } else if (t == SLM_DTYPE_Q4_K || t == SLM_DTYPE_Q6_K) {
            float mx = 0;
            for (int j = 0; j < 256; j++)
                if (fabsf(v[j]) > fabsf(mx))
                    mx = v[j];
            float iscale = mx != 0 ? -127.0f / mx : 0;
            for (int j = 0; j < 256; j++)
                v[j] = iscale != 0 ? fminf(127.0f, rintf(iscale * v[j])) * (1.0f / iscale) : 0;
        } else if (t == SLM_DTYPE_BF16) {
            for (int j = 0; j < n; j++)
                v[j] = slm_bf16_to_f32(slm_f32_to_bf16(v[j]));
        }
        for (int j = 0; j < n; j++)
            out[b + j] = slm_f16_to_f32(slm_f32_to_f16(v[j]));
    }
}

/* Run y = w x on the device and compare with sum_k w[k] * a[k] in double,
** a the activations as npu_activations gives them. The bound: `rel` of sum |w x|, per element. Returns the nmse of
** the result against the exact F32-activation product, for the report. */
static double check_matmul(Tensor *w, int64_t M, double rel, const char *what)
{
    int64_t K = w->t.ne[0], N = w->t.ne[1];
    Tensor x, y;
    tensor_init(&x, SLM_DTYPE_F32, K, M, 1, SLM_TENSOR_INPUT, "x");
    tensor_init(&y, SLM_DTYPE_F32, N, M, 1, 0, "y");
    float *xv = x.t.data;
    for (int64_t i = 0; i < K * M; i++)
        xv[i] = frand() * 2.0f;
    slm_node_t node = matmul_node(w, &x, &y);
    CHECK(be->supports_node(dev, &node), "%s: M=%lld refused", what, (long long)M);
    slm_graph_t g = {1, &node};
    last_error[0] = '\0';
    slm_status_t st = be->graph_compute(dev, &g);
    CHECK(st == SLM_OK, "%s: graph_compute %d: %s", what, (int)st, last_error);
    float *row = malloc(sizeof(float) * (size_t)K);
    double *act = malloc(sizeof(double) * (size_t)(K * M));
    for (int64_t m = 0; m < M; m++)
        npu_activations(w->t.dtype, xv + m * K, act + m * K, K);
    double worst = 0, err2 = 0, ref2 = 0;
    const float *yv = y.t.data;
    for (int64_t n = 0; n < N && st == SLM_OK; n++) {
        weight_row(&w->t, n, row);
        for (int64_t m = 0; m < M; m++) {
            double want = 0, mag = 0, exact = 0;
            for (int64_t k = 0; k < K; k++) {
                double xk = act[m * K + k];
                want += (double)row[k] * xk;
                exact += (double)row[k] * (double)xv[m * K + k];
                mag += fabs((double)row[k] * xk);
            }
            double got = yv[m * N + n];
            double e = fabs(got - want) / (mag + 1e-30);
            if (!(e <= worst))
                worst = e;
            err2 += (got - exact) * (got - exact);
            ref2 += exact * exact;
        }
    }
    free(row);
    free(act);
    CHECK(worst <= rel, "%s: K=%lld N=%lld M=%lld: worst error %.3g of sum|wx| (bound %.3g)",
          what, (long long)K, (long long)N, (long long)M, worst, rel);
    tensor_free(&x);
    tensor_free(&y);
    double nmse = ref2 > 0 ? err2 / ref2 : 0;
    printf("  %-28s K=%-5lld N=%-4lld M=%-4lld worst %.2e  nmse vs f32 activations %.2e\n",
           what, (long long)K, (long long)N, (long long)M, worst, nmse);
    return nmse;
}

/* The bound for a weight format: lossless formats and F16 leave only F32
** summation; requantised ones their own quantisation error. */
static double bound_for(slm_dtype_t dt, const char *weights)
{
    bool q4 = dt == SLM_DTYPE_Q4_0, q8 = dt == SLM_DTYPE_Q8_0;
    if (!weights || strcmp(weights, "auto") == 0 || strcmp(weights, "f16") == 0)
        return (q4 || q8) && !(weights && strcmp(weights, "f16") == 0) ? 1e-5 : 2e-3;
    if (strcmp(weights, "int4") == 0)
        return q4 ? 1e-5 : 0.12;
    return q8 ? 1e-5 : 1.5e-2; /* int8 */
}

static const char *config_value(const char *key)
{
    return host_config_get(NULL, key);
}

static void case_matmul(void)
{
    static const slm_dtype_t types[] = {SLM_DTYPE_F32, SLM_DTYPE_F16, SLM_DTYPE_BF16,
                                        SLM_DTYPE_Q4_0, SLM_DTYPE_Q8_0, SLM_DTYPE_Q4_K,
                                        SLM_DTYPE_Q6_K};
    const char *weights = config_value("weights");
    const char *mb = config_value("min_batch");
    int64_t min_batch = mb ? atoll(mb) : 32;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        slm_dtype_t dt = types[i];
        if (dt == SLM_DTYPE_BF16)
            continue; /* the test's reference has no BF16 reader */
        bool kq = slm_dtype_block_elems(dt) == 256;
        /* K, N: N padded to 64; K of plain types padded to 32 */
        const int64_t shapes[][2] = {{kq ? 256 : 64, 33}, {kq ? 512 : 96, 70},
                                     {kq ? 256 : 37, 5}};
        for (int s = 0; s < 3; s++) {
            if (s == 2 && slm_dtype_is_quantized(dt))
                continue; /* K = 37: plain types only */
            char name[48];
            snprintf(name, sizeof name, "blk.%d.w_%s", s, slm_dtype_name(dt));
            Tensor w;
            tensor_init(&w, dt, shapes[s][0], shapes[s][1], 1, SLM_TENSOR_WEIGHT, name);
            fill_weights(&w);
            double rel = bound_for(dt, weights);
            if (dt == SLM_DTYPE_F32 || dt == SLM_DTYPE_F16)
                rel = weights && strcmp(weights, "int8") == 0 && shapes[s][0] % 32 == 0 ? 1.5e-2
                    : weights && strcmp(weights, "int4") == 0 && shapes[s][0] % 32 == 0 ? 0.12
                    : dt == SLM_DTYPE_F16 ? 1e-5 : 2e-3;
            char what[64];
            snprintf(what, sizeof what, "MUL_MAT %s", slm_dtype_name(dt));
            int64_t Ms[] = {min_batch, 37, 300};
            for (int j = 0; j < 3; j++)
                if (Ms[j] >= min_batch)
                    check_matmul(&w, Ms[j], rel, what);
            /* converted once, however many runs */
            CHECK(log_count(name) == 1, "%s: %d conversion lines", name, log_count(name));
            tensor_free(&w);
        }
    }
    if (!weights || strcmp(weights, "auto") == 0) {
        CHECK(log_count("q4_0 64x33 -> int4/32 lossless") == 1, "Q4_0 not lossless int4:\n%s",
              logbuf);
        CHECK(log_count("q8_0 64x33 -> int8/32 lossless") == 1, "Q8_0 not lossless int8");
        CHECK(log_count("f32 37x5 -> f16 nmse") == 1, "F32 not as f16 with its error");
    }

    /* nodes it must refuse */
    Tensor w, w3, x, x1, y, y1;
    tensor_init(&w, SLM_DTYPE_Q4_0, 64, 16, 1, SLM_TENSOR_WEIGHT, "w");
    fill_weights(&w);
    tensor_init(&w3, SLM_DTYPE_F32, 64, 16, 2, SLM_TENSOR_WEIGHT, "w3");
    tensor_init(&x, SLM_DTYPE_F32, 64, 40, 1, 0, "x");
    tensor_init(&y, SLM_DTYPE_F32, 16, 40, 1, 0, "y");
    tensor_init(&x1, SLM_DTYPE_F32, 64, 1, 1, 0, "x1");
    tensor_init(&y1, SLM_DTYPE_F32, 16, 1, 1, 0, "y1");
    slm_node_t n = matmul_node(&w, &x, &y);
    CHECK(be->supports_node(dev, &n), "plain prompt matmul refused");
    n = matmul_node(&w, &x1, &y1);
    CHECK(be->supports_node(dev, &n) == (min_batch <= 1), "decode row: min_batch %lld",
          (long long)min_batch);
    n = matmul_node(&w, &x, &y);
    w.t.flags = 0;
    CHECK(!be->supports_node(dev, &n), "a matrix that is no weight (KV cache) taken");
    w.t.flags = SLM_TENSOR_WEIGHT;
    n = matmul_node(&w3, &x, &y);
    CHECK(!be->supports_node(dev, &n), "a 3-D weight taken");
    n = matmul_node(&w, &x, &y);
    x.t.nb[1] *= 2;
    x.t.ne[1] /= 2;
    y.t.ne[1] /= 2;
    CHECK(!be->supports_node(dev, &n), "strided activations taken");
    x.t.nb[1] /= 2;
    x.t.ne[1] *= 2;
    y.t.ne[1] *= 2;
    n.op = SLM_OP_MUL_MAT_ID;
    CHECK(!be->supports_node(dev, &n), "MUL_MAT_ID taken");

    /* a weight buffer rewritten: converted again from the new bytes */
    float *xv = x.t.data;
    for (int i = 0; i < 64 * 40; i++)
        xv[i] = 1.0f;
    n = matmul_node(&w, &x, &y);
    slm_graph_t g = {1, &n};
    CHECK(be->graph_compute(dev, &g) == SLM_OK, "run: %s", last_error);
    float before = ((float *)y.t.data)[0];
    unsigned char blk[18] = {0};
    slm_f16_t d = slm_f32_to_f16(1.0f);
    memcpy(blk, &d, 2);
    memset(blk + 2, 0x99, 16); /* every quant 9 - 8 = 1 */
    for (int b = 0; b < 2; b++)
        CHECK(be->buffer_write(dev, w.buf, w.t.offset + (size_t)b * 18, blk, 18) == SLM_OK,
              "buffer_write");
    CHECK(be->graph_compute(dev, &g) == SLM_OK, "run: %s", last_error);
    float after = ((float *)y.t.data)[0];
    CHECK(after == 64.0f && before != after, "row 0 after rewriting: %g (before %g)", after,
          before);
    CHECK(log_count("w q4_0 64x16") == 2, "rewritten weight not converted again");
    tensor_free(&w);
    tensor_free(&w3);
    tensor_free(&x);
    tensor_free(&y);
    tensor_free(&x1);
    tensor_free(&y1);
}

static void case_ksplit(void)
{
    sim_rknn_stats_t s0 = sim_stats();
    Tensor w;
    tensor_init(&w, SLM_DTYPE_Q4_0, 12288, 20, 1, SLM_TENSOR_WEIGHT, "big.q4_0");
    fill_weights(&w);
    check_matmul(&w, 40, 1e-5, "MUL_MAT q4_0 K split");
    tensor_free(&w);
    tensor_init(&w, SLM_DTYPE_F32, 10250, 20, 1, SLM_TENSOR_WEIGHT, "big.f32");
    fill_weights(&w);
    check_matmul(&w, 40, 2e-3, "MUL_MAT f32 K split+pad");
    tensor_free(&w);
    sim_rknn_stats_t s = sim_stats();
    CHECK(s.max_k == 10240, "largest K the runtime saw: %d", s.max_k);
    CHECK(s.runs - s0.runs == 4, "%llu runs for two matmuls of two slices",
          (unsigned long long)(s.runs - s0.runs));
    CHECK(s.rejects == s0.rejects, "the runtime refused a context: %s", s.last_reject);
    CHECK(log_count("(K split in slices of 10240)") == 2, "split not logged");
}

static void case_fault(const char *expect)
{
    Tensor w;
    tensor_init(&w, SLM_DTYPE_Q8_0, 64, 16, 1, SLM_TENSOR_WEIGHT, "blk.0.attn_q.weight");
    fill_weights(&w);
    Tensor x, y;
    tensor_init(&x, SLM_DTYPE_F32, 64, 40, 1, 0, "x");
    tensor_init(&y, SLM_DTYPE_F32, 16, 40, 1, 0, "y");
    memset(x.t.data, 0, 64 * 40 * 4);
    slm_node_t n = matmul_node(&w, &x, &y);
    slm_graph_t g = {1, &n};
    slm_status_t st = be->graph_compute(dev, &g);
    CHECK(st == SLM_ERR_DEVICE, "status %d", (int)st);
    CHECK(strstr(last_error, expect) && strstr(last_error, "blk.0.attn_q.weight"),
          "error \"%s\" lacks \"%s\" or the weight's name", last_error, expect);
    printf("  error: %s\n", last_error);
    tensor_free(&w);
    tensor_free(&x);
    tensor_free(&y);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_rknn_shim PLUGIN CASE [-c key=value ...] [ARG ...]\n");
        return 2;
    }
    const char *cas = argv[2];
    const char *args[8];
    int n_args = 0;
    for (int i = 3; i < argc; i++) {
        char *eq = i + 1 < argc && strcmp(argv[i], "-c") == 0 ? strchr(argv[i + 1], '=') : NULL;
        if (eq && n_config < 16) {
            *eq = '\0';
            config[n_config][0] = argv[++i];
            config[n_config++][1] = eq + 1;
        } else if (n_args < 8) {
            args[n_args++] = argv[i];
        }
    }
    runtime_so = dlopen("librknnrt.so", RTLD_NOW | RTLD_LOCAL);
    void *so = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!so) {
        fprintf(stderr, "%s\n", dlerror());
        return 1;
    }
    void *sym = dlsym(so, SLM_PLUGIN_ENTRY_NAME);
    slm_plugin_init_fn init;
    memcpy(&init, &sym, sizeof init);
    if (!sym || init(&host, &be) != SLM_OK) {
        fprintf(stderr, "plugin init failed: %s\n", last_error);
        return 1;
    }
    CHECK(strcmp(be->name, "npu-rknn") == 0, "name %s", be->name);
    slm_device_info_t infos[SLM_MAX_DEVICES_PER_PLUGIN];
    memset(infos, 0, sizeof infos);
    for (int i = 0; i < SLM_MAX_DEVICES_PER_PLUGIN; i++)
        infos[i].struct_size = sizeof infos[i];
    uint32_t n = 99;
    slm_status_t st = be->probe(infos, SLM_MAX_DEVICES_PER_PLUGIN, &n);
    if (strcmp(cas, "badconfig") == 0) {
        CHECK(st == SLM_ERR_CONFIG && n == 0, "probe %d, %u devices", (int)st, n);
        CHECK(n_args == 1 && strstr(last_error, args[0]), "error \"%s\"", last_error);
        printf("  error: %s\n", last_error);
        goto done;
    }
    CHECK(st == SLM_OK, "probe %d: %s", (int)st, last_error);
    if (strcmp(cas, "nodevice") == 0) {
        CHECK(n == 0, "%u devices", n);
        CHECK(n_args == 1 && strstr(logbuf, args[0]), "no reason with \"%s\" logged:\n%s",
              n_args ? args[0] : "", logbuf);
        printf("  reason: %s", logbuf);
        goto done;
    }
    CHECK(n == 1, "%u devices; log:\n%s", n, logbuf);
    if (n != 1)
        goto done;
    printf("  device: %s | %s | %s\n", infos[0].name, infos[0].driver, infos[0].features);
    CHECK(infos[0].kind == SLM_DEVICE_NPU && (infos[0].flags & SLM_DEVICE_FLAG_HOST_MEMORY),
          "kind %d flags %x", (int)infos[0].kind, (unsigned)infos[0].flags);
    CHECK(infos[0].ops == SLM_OP_BIT(SLM_OP_MUL_MAT), "ops %llx",
          (unsigned long long)infos[0].ops);
    if (strcmp(cas, "probe") == 0) {
        for (int i = 0; i < n_args; i++)
            CHECK(strstr(infos[0].features, args[i]), "features \"%s\" lack \"%s\"",
                  infos[0].features, args[i]);
        goto done;
    }
    st = be->device_open(0, NULL, &dev);
    CHECK(st == SLM_OK, "device_open %d: %s", (int)st, last_error);
    if (st != SLM_OK)
        goto done;
    if (strcmp(cas, "matmul") == 0)
        case_matmul();
    else if (strcmp(cas, "ksplit") == 0)
        case_ksplit();
    else if (strcmp(cas, "fault") == 0 && n_args == 1)
        case_fault(args[0]);
    else
        CHECK(0, "unknown case %s", cas);
    be->device_close(dev);
    sim_rknn_stats_t s = sim_stats();
    CHECK(s.live_ctx == 0 && s.live_mem == 0, "left in the runtime: %llu contexts, %llu "
          "memories", (unsigned long long)s.live_ctx, (unsigned long long)s.live_mem);
    printf("  runtime: %llu contexts compiled, %llu runs, %llu syncs to / %llu from the NPU\n",
           (unsigned long long)s.creates, (unsigned long long)s.runs,
           (unsigned long long)s.syncs_to, (unsigned long long)s.syncs_from);
done:
    dlclose(so);
    if (runtime_so)
        dlclose(runtime_so);
    if (failures) {
        fprintf(stderr, "test_rknn_shim %s: %d failure(s)\n", cas, failures);
        return 1;
    }
    printf("test_rknn_shim %s: ok\n", cas);
    return 0;
}
