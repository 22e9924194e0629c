/*
** simd_matmul.c -- MUL_MAT and MUL_MAT_ID: the driver that splits the work
** across threads, the activation formats, and the kernels every variant
** shares (F32/F16/BF16 weights at the variant's width, written against
** simd_vec.h). Q8_0, Q4_0, Q4_K and Q6_K kernels come from the variant
** (SimdKernels): the x86 plugins share simd_kquant_x86.c for the K-quants.
**
** First the activations (src1, F32) are converted into what the weight
** dtype's kernel reads: packed floats (rounded to F16 or BF16 for such
** weights), Q8_0-style blocks or Q8_K blocks, quantised exactly as graph.h
** defines it. Several rows are converted in a phase of their own, shared
** out in chunks; a single row (decode) is converted by each thread for
** itself, which needs no wait. Then the weight rows, in groups of four, are
** cut into chunks; a chunk walks its rows in blocks against every
** activation column, so a block of weights is read from memory once
** however many tokens the batch has.
*/
#include <math.h>
#include <string.h>

#include "simd_internal.h"
#include "simd_vec.h"

/* ------------------------------------------------------------- helpers */

static inline float f16_at(const void *p)
{
    uint16_t h;
    memcpy(&h, p, sizeof h);
    return sf_from_f16(h);
}

static inline void st(char *p, float v)
{
    memcpy(p, &v, sizeof v);
}

static inline char *at(const slm_tensor_t *t, int64_t i0, int64_t i1,
                       int64_t i2, int64_t i3)
{
    return (char *)t->data + (size_t)i0 * t->nb[0] + (size_t)i1 * t->nb[1] +
           (size_t)i2 * t->nb[2] + (size_t)i3 * t->nb[3];
}

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* ------------------------------------------------------ Q8_K activations */

/* The Q8_K activation quantisation of graph.h, bit for bit: the element
** of largest magnitude (the first, on ties) maps to -127, so iscale = -127
** / max keeps its sign; q = min(127, x * iscale rounded to nearest even);
** d = 1 / iscale. A block holding an infinity or NaN gets a NaN scale and
** zero quants. */
static void quantize_q8_K(const float *x, int64_t K, BlockQ8K *y)
{
    for (int64_t b = 0; b < K / SLM_QK_K; b++, x += SLM_QK_K) {
        vf vmax = vf_zero(), fin = vf_zero();
        for (int i = 0; i < SLM_QK_K; i += VL) {
            vf v = vf_load(x + i);
            vmax = vf_max(vmax, vf_abs(v));
            fin = vf_add(fin, vf_sub(v, v)); /* NaN if any is not finite */
        }
        float amax = vf_hmax(vmax), nf = vf_hsum(fin);
        /* graph.h: a block whose -127 / max overflows is a zero block */
        if (amax == 0.0f || nf != nf || !isfinite(127.0f / amax)) {
            memset(&y[b], 0, sizeof y[b]);
            if (nf != nf)
                y[b].d = NAN;
            continue;
        }
        float max = 0.0f;
        for (int i = 0; i < SLM_QK_K; i++)
            if (fabsf(x[i]) == amax) {
                max = x[i];
                break;
            }
        float iscale = -127.0f / max;
        int32_t q[SLM_QK_K];
        vf vs = vf_set1(iscale);
        for (int i = 0; i < SLM_QK_K; i += VL) {
            vf_store_i32(q + i, vf_round(vf_mul(vf_load(x + i), vs)));
        }
        for (int g = 0; g < SLM_QK_K / 16; g++) {
            int sum = 0;
            for (int i = 16 * g; i < 16 * g + 16; i++) {
                int v = q[i] > 127 ? 127 : q[i];
                y[b].qs[i] = (int8_t)v;
                sum += v;
            }
            y[b].bsums[g] = (int16_t)sum;
        }
        y[b].d = 1.0f / iscale;
    }
}

/* ---------------------------------------------------- float weights */

/* Tile sizes: rows x columns of accumulators (16 of 32 zmm, 8 of 16 ymm). */
#if VL == 16
#define FRT 4
#else
#define FRT 2
#endif
#define FCT 4

SIMD_INLINE vf wload(slm_dtype_t t, const char *p, int64_t i)
{
    switch (t) {
    case SLM_DTYPE_F16: return vf_from_f16((const uint16_t *)p + i);
    case SLM_DTYPE_BF16: return vf_from_bf16((const uint16_t *)p + i);
    default: return vf_load((const float *)p + i);
    }
}

#if VL != 16 /* AVX2 has no masked 16-bit loads: tails go one by one */
static inline float wscalar(slm_dtype_t t, const char *p, int64_t i)
{
    switch (t) {
    case SLM_DTYPE_F16: return f16_at((const uint16_t *)p + i);
    case SLM_DTYPE_BF16: {
        uint16_t h;
        memcpy(&h, (const uint16_t *)p + i, sizeof h);
        return slm_bf16_to_f32(h);
    }
    default: {
        float v;
        memcpy(&v, (const float *)p + i, sizeof v);
        return v;
    }
    }
}
#endif

/* R weight rows from r, C columns from c0: plain FMA over K. */
SIMD_INLINE void ftile(const SimdMat *m, int64_t r, int c0, const int R,
                       const int C, const slm_dtype_t t)
{
    vf acc[FRT][FCT];
    const char *w[FRT];
    const float *x[FCT];
    for (int i = 0; i < R; i++) {
        w[i] = m->w + (size_t)(r + i) * m->w_stride;
        for (int j = 0; j < C; j++)
            acc[i][j] = vf_zero();
    }
    for (int j = 0; j < C; j++)
        x[j] = (const float *)m->x[c0 + j];
    int64_t K = m->K, k = 0;
    for (; k + VL <= K; k += VL) {
        vf wv[FRT];
        for (int i = 0; i < R; i++)
            wv[i] = wload(t, w[i], k);
        for (int j = 0; j < C; j++) {
            vf xv = vf_load(x[j] + k);
            for (int i = 0; i < R; i++)
                acc[i][j] = vf_fma(wv[i], xv, acc[i][j]);
        }
    }
    float tail[FRT][FCT];
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++)
            tail[i][j] = 0.0f;
    if (k < K) {
#if VL == 16
        vmask mk = vf_tail(K - k);
        vf wv[FRT];
        for (int i = 0; i < R; i++)
            wv[i] = t == SLM_DTYPE_F16   ? vf_from_f16m((const uint16_t *)w[i] + k, mk)
                    : t == SLM_DTYPE_BF16 ? vf_from_bf16m((const uint16_t *)w[i] + k, mk)
                                          : vf_loadm((const float *)w[i] + k, mk);
        for (int j = 0; j < C; j++) {
            vf xv = vf_loadm(x[j] + k, mk);
            for (int i = 0; i < R; i++)
                acc[i][j] = vf_fma(wv[i], xv, acc[i][j]);
        }
#else
        for (; k < K; k++)
            for (int i = 0; i < R; i++) {
                float wk = wscalar(t, w[i], k);
                for (int j = 0; j < C; j++)
                    tail[i][j] += wk * x[j][k];
            }
#endif
    }
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++)
            st(m->y[c0 + j] + (size_t)(r + i) * m->y_step,
               vf_hsum(acc[i][j]) + tail[i][j]);
}

typedef void (*TileFn)(const SimdMat *m, int64_t r, int c0);

#define FTILE(T, name, R, C)                                         \
    static void name##_##R##x##C(const SimdMat *m, int64_t r, int c0) \
    {                                                                \
        ftile(m, r, c0, R, C, T);                                    \
    }
#define FTILE_ROW(T, name, R) \
    FTILE(T, name, R, 1) FTILE(T, name, R, 2) FTILE(T, name, R, 3) FTILE(T, name, R, 4)
#define FTILE_ROW_PTRS(name, R) {name##_##R##x1, name##_##R##x2, name##_##R##x3, name##_##R##x4}

#if FRT == 4
#define FTILES(T, name)                                                     \
    FTILE_ROW(T, name, 1) FTILE_ROW(T, name, 2) FTILE_ROW(T, name, 3)       \
    FTILE_ROW(T, name, 4)                                                   \
    static const TileFn name##_tiles[FRT][FCT] = {                          \
        FTILE_ROW_PTRS(name, 1), FTILE_ROW_PTRS(name, 2),                   \
        FTILE_ROW_PTRS(name, 3), FTILE_ROW_PTRS(name, 4)};
#else
#define FTILES(T, name)                                                     \
    FTILE_ROW(T, name, 1) FTILE_ROW(T, name, 2)                             \
    static const TileFn name##_tiles[FRT][FCT] = {                          \
        FTILE_ROW_PTRS(name, 1), FTILE_ROW_PTRS(name, 2)};
#endif

FTILES(SLM_DTYPE_F32, tile_f32)
FTILES(SLM_DTYPE_F16, tile_f16)
FTILES(SLM_DTYPE_BF16, tile_bf16)

static void run_tiles(const SimdMat *m, int64_t r0, int64_t r1,
                      const TileFn tiles[][FCT], int rt)
{
    if (m->n_cols == 1)
        rt = 1;
    for (int64_t r = r0; r < r1; r += rt) {
        int R = (int)min64(rt, r1 - r);
        for (int c = 0; c < m->n_cols; c += FCT) {
            int C = (int)min64(FCT, m->n_cols - c);
            tiles[R - 1][C - 1](m, r, c);
        }
    }
}

static void mat_f32(const SimdMat *m, int64_t r0, int64_t r1)
{
    run_tiles(m, r0, r1, tile_f32_tiles, FRT);
}

static void mat_f16(const SimdMat *m, int64_t r0, int64_t r1)
{
    run_tiles(m, r0, r1, tile_f16_tiles, FRT);
}

static void mat_bf16(const SimdMat *m, int64_t r0, int64_t r1)
{
    run_tiles(m, r0, r1, tile_bf16_tiles, FRT);
}

/* -------------------------------------------------------------- plans */

enum {
    PATH_KERNEL,     /* a kernel over packed weight rows */
    PATH_TRANSPOSED, /* F32 weight with ne[1] innermost (V^T of the cache) */
    PATH_GATHER      /* any other float view: each row made packed first */
};

typedef struct MatPlan {
    int path;
    SimdActFormat fmt;
    size_t x_bytes;   /* bytes of one converted activation row */
    SimdMatFn fn;     /* PATH_KERNEL; f32 for PATH_GATHER */
} MatPlan;

static MatPlan plan_for(const SimdKernels *kern, const slm_tensor_t *w)
{
    MatPlan p = {PATH_KERNEL, SIMD_ACT_F32, 0, NULL};
    int64_t K = w->ne[0];
    size_t elem = slm_dtype_block_bytes(w->dtype);
    switch (w->dtype) {
    case SLM_DTYPE_Q8_0:
    case SLM_DTYPE_Q4_0:
        p.fmt = SIMD_ACT_Q8;
        p.x_bytes = kern->q8_row_bytes(K);
        p.fn = w->dtype == SLM_DTYPE_Q8_0 ? kern->mat_q8_0 : kern->mat_q4_0;
        return p;
    case SLM_DTYPE_Q4_K:
    case SLM_DTYPE_Q6_K:
        p.fmt = SIMD_ACT_Q8K;
        p.x_bytes = simd_align64((size_t)(K / SLM_QK_K) * sizeof(BlockQ8K));
        p.fn = w->dtype == SLM_DTYPE_Q4_K ? kern->mat_q4_K : kern->mat_q6_K;
        return p;
    default:
        break;
    }
    p.x_bytes = simd_align64((size_t)K * sizeof(float));
    if (w->nb[0] == elem) {
        p.fn = w->dtype == SLM_DTYPE_F16 ? mat_f16 : w->dtype == SLM_DTYPE_BF16 ? mat_bf16
                                                                              : mat_f32;
        return p;
    }
    p.fn = mat_f32;
    p.path = w->dtype == SLM_DTYPE_F32 && w->nb[1] == elem ? PATH_TRANSPOSED : PATH_GATHER;
    return p;
}

/* Whether the activations can be read in place: packed F32 rows meeting
** F32 weights (F16 and BF16 weights meet activations rounded to their own
** type, as llama.cpp computes them). */
static bool x_in_place(const MatPlan *p, const slm_tensor_t *w, const slm_tensor_t *x)
{
    return p->fmt == SIMD_ACT_F32 && w->dtype == SLM_DTYPE_F32 &&
           x->nb[0] == sizeof(float);
}

/* n floats rounded to F16 or BF16 and back, in place. */
static void round_floats(float *x, int64_t n, slm_dtype_t t)
{
    int64_t i = 0;
    if (t == SLM_DTYPE_F16) {
        for (; i + VL <= n; i += VL)
            vf_store(x + i, vf_round_f16(vf_load(x + i)));
        for (; i < n; i++)
            x[i] = slm_f16_to_f32(slm_f32_to_f16(x[i]));
    } else {
        for (; i < n; i++)
            x[i] = slm_bf16_to_f32(slm_f32_to_bf16(x[i]));
    }
}

/* Convert one activation row (K floats at src, stride sb) into out. tmp
** holds K floats when the row is not packed. */
static void convert_x(const SimdCtx *c, const MatPlan *p, const char *src,
                      size_t sb, int64_t K, slm_dtype_t wtype, void *out,
                      float *tmp)
{
    const float *x = (const float *)src;
    if (sb != sizeof(float)) {
        float *dst = p->fmt == SIMD_ACT_F32 ? (float *)out : tmp;
        for (int64_t i = 0; i < K; i++)
            memcpy(&dst[i], src + (size_t)i * sb, sizeof(float));
        x = dst;
    }
    switch (p->fmt) {
    case SIMD_ACT_Q8: c->kern->quantize_q8(x, K, out, wtype); break;
    case SIMD_ACT_Q8K: quantize_q8_K(x, K, (BlockQ8K *)out); break;
    default:
        if (x != out)
            memcpy(out, x, (size_t)K * sizeof(float));
        if (wtype == SLM_DTYPE_F16 || wtype == SLM_DTYPE_BF16)
            round_floats((float *)out, K, wtype);
        break;
    }
}

/* Weight rows [r0, r1) of the matrix in `m` (all its columns). The gather
** path makes each weight row packed in tmp first. */
static void run_rows(const MatPlan *p, const SimdMat *m, const slm_tensor_t *w,
                     int64_t r0, int64_t r1, float *tmp)
{
    if (p->path != PATH_GATHER) {
        p->fn(m, r0, r1);
        return;
    }
    SimdMat one = *m;
    one.w = (const char *)tmp;
    one.w_stride = 0;
    for (int64_t r = r0; r < r1; r++) {
        cpu_dequantize_row(w->dtype, m->w + (size_t)r * m->w_stride, w->nb[0],
                           m->K, tmp);
        for (int j = 0; j < m->n_cols; j++)
            one.y[j] = m->y[j] + (size_t)r * m->y_step;
        p->fn(&one, 0, 1);
    }
}

/* Rows of weights kept hot while every column chunk passes over them, and
** the rows a chunk of work is made of (a multiple of every kernel's tile). */
#define ROW_BLOCK 16
#define ROW_GROUP 4

/* Whether src1 is converted in a phase of its own, shared by all threads:
** several rows that cannot be read in place. One row (decode) is
** converted by each thread for itself, which needs no wait. */
static bool shared_conversion(const MatPlan *p, const slm_tensor_t *w,
                              const slm_tensor_t *x)
{
    return slm_tensor_nrows(x) > 1 && !x_in_place(p, w, x);
}

/* ---------------------------------------------------------------- planning */

SimdScratch simd_matmul_scratch(const SimdKernels *kern, const slm_node_t *node)
{
    const slm_tensor_t *w = node->src[0], *x = node->src[1];
    MatPlan p = plan_for(kern, w);
    int64_t K = w->ne[0];
    SimdScratch s;
    /* own conversion of a single row, a packed copy of a strided row, and
    ** the gather path's weight row */
    s.per_thread = p.x_bytes + 2 * simd_align64((size_t)K * sizeof(float)) + 128;
    int64_t rows = slm_tensor_nrows(x);
    if (node->op == SLM_OP_MUL_MAT_ID) {
        const slm_tensor_t *ids = node->src[2];
        size_t lists = simd_align64((size_t)(w->ne[2] + 1) * sizeof(int32_t) * 2 +
                                    (size_t)slm_tensor_nelements(ids) * sizeof(int32_t));
        s.shared = lists + (x_in_place(&p, w, x) ? 0 : (size_t)rows * p.x_bytes);
    } else {
        s.shared = shared_conversion(&p, w, x) ? (size_t)rows * p.x_bytes : 0;
    }
    return s;
}

/* Below this many multiply-adds a matmul is done by thread 0 alone. */
#define PAR_MACS (INT64_C(1) << 16)
#define CHUNKS_PER_THREAD 4

static uint32_t chunks_for(int64_t units, uint32_t nth)
{
    int64_t c = (int64_t)nth * CHUNKS_PER_THREAD;
    return (uint32_t)(units < 1 ? 1 : units < c ? units : c);
}

SimdPlan simd_matmul_plan(const SimdKernels *kern, const slm_node_t *node,
                          uint32_t nth)
{
    const slm_tensor_t *w = node->src[0], *x = node->src[1];
    MatPlan p = plan_for(kern, w);
    int64_t K = w->ne[0], N = w->ne[1];
    SimdPlan plan = {1, true, {1, 1}, 0.0};
    if (node->op == SLM_OP_MUL_MAT_ID) {
        const slm_tensor_t *ids = node->src[2];
        plan.phases = 2; /* group the tokens by expert first */
        plan.work = (double)N * (double)K * (double)slm_tensor_nelements(ids);
        if (nth < 2 || N * K * slm_tensor_nelements(ids) < PAR_MACS)
            return plan;
        plan.main_only = false;
        plan.chunks[0] = chunks_for(x_in_place(&p, w, x) ? 1 : slm_tensor_nrows(x), nth);
        plan.chunks[1] = chunks_for(w->ne[2] * ((N + ROW_GROUP - 1) / ROW_GROUP), nth);
        return plan;
    }
    int64_t mats = x->ne[2] * x->ne[3], rows = slm_tensor_nrows(x);
    bool two = p.path != PATH_TRANSPOSED && shared_conversion(&p, w, x);
    plan.phases = two ? 2 : 1;
    plan.work = (double)N * (double)K * (double)rows;
    if (nth < 2 || N * K * rows < PAR_MACS)
        return plan;
    plan.main_only = false;
    if (p.path == PATH_TRANSPOSED) {
        plan.chunks[0] = chunks_for(rows, nth);
        return plan;
    }
    if (two)
        plan.chunks[0] = chunks_for(rows, nth);
    plan.chunks[plan.phases - 1] = chunks_for(mats * ((N + ROW_GROUP - 1) / ROW_GROUP), nth);
    return plan;
}

/* ---------------------------------------------------------------- MUL_MAT */

/* dst[n, m, a, b] = sum_k src0[k, n, a / ga, b / gb] * src1[k, m, a, b]
** with the F32 weight stored transposed (nb[1] == 4): each output column is
** a sum of weight rows along k, scaled by the activations. */
static void mul_mat_transposed(const slm_node_t *node, int64_t part, int64_t parts)
{
    const slm_tensor_t *w = node->src[0], *x = node->src[1], *dst = node->dst;
    int64_t K = w->ne[0], N = w->ne[1], M = x->ne[1], A = x->ne[2];
    int64_t ga = A / w->ne[2], gb = x->ne[3] / w->ne[3];
    int64_t lo, hi;
    simd_split(slm_tensor_nrows(x), part, parts, &lo, &hi);
    for (int64_t u = lo; u < hi; u++) {
        int64_t m = u % M, a = (u / M) % A, b = u / (M * A);
        const char *wm = at(w, 0, 0, a / ga, b / gb);
        const char *xc = at(x, 0, m, a, b);
        char *yc = at(dst, 0, m, a, b);
        for (int64_t n0 = 0; n0 < N; n0 += 4 * VL) {
            int64_t nn = min64(4 * VL, N - n0);
            vf acc[4] = {vf_zero(), vf_zero(), vf_zero(), vf_zero()};
            for (int64_t k = 0; k < K; k++) {
                float xk;
                memcpy(&xk, xc + (size_t)k * x->nb[0], sizeof xk);
                vf xv = vf_set1(xk);
                const float *wk = (const float *)(wm + (size_t)k * w->nb[0]) + n0;
                for (int v = 0; v < 4; v++) {
                    int64_t left = nn - v * VL;
                    if (left >= VL)
                        acc[v] = vf_fma(vf_load(wk + v * VL), xv, acc[v]);
                    else if (left > 0)
                        acc[v] = vf_fma(vf_loadm(wk + v * VL, vf_tail(left)), xv, acc[v]);
                }
            }
            float out[4 * VL];
            for (int v = 0; v < 4; v++)
                vf_store(out + v * VL, acc[v]);
            for (int64_t n = 0; n < nn; n++)
                st(yc + (size_t)(n0 + n) * dst->nb[0], out[n]);
        }
    }
}

/* Weight rows [r0, r1) of one matrix against its columns x(j) -> y(j),
** walked in row blocks when the columns take several kernel calls. */
static void mat_rows(const MatPlan *p, SimdMat *mat, const slm_tensor_t *w,
                     int64_t r0, int64_t r1, int64_t n_cols,
                     const void *(*x_of)(const void *ctx, int64_t j),
                     char *(*y_of)(const void *ctx, int64_t j), const void *ctx,
                     float *tmp_w)
{
    int64_t step = n_cols <= SIMD_MAX_COLS ? r1 - r0 : ROW_BLOCK;
    for (int64_t rb = r0; rb < r1; rb += step) {
        int64_t re = min64(r1, rb + step);
        for (int64_t j0 = 0; j0 < n_cols; j0 += SIMD_MAX_COLS) {
            mat->n_cols = (int)min64(SIMD_MAX_COLS, n_cols - j0);
            for (int j = 0; j < mat->n_cols; j++) {
                mat->x[j] = x_of(ctx, j0 + j);
                mat->y[j] = y_of(ctx, j0 + j);
            }
            run_rows(p, mat, w, rb, re, tmp_w);
        }
    }
}

/* Columns of one MUL_MAT matrix (a, b). */
typedef struct MatCols {
    const slm_tensor_t *x, *dst;
    const char *conv;    /* converted rows, or NULL: src1 in place */
    size_t x_bytes;
    int64_t first;       /* converted row of column 0 */
    int64_t a, b;
} MatCols;

static const void *mat_x(const void *ctx, int64_t j)
{
    const MatCols *mc = ctx;
    if (mc->conv)
        return mc->conv + (size_t)(mc->first + j) * mc->x_bytes;
    return at(mc->x, 0, j, mc->a, mc->b);
}

static char *mat_y(const void *ctx, int64_t j)
{
    const MatCols *mc = ctx;
    return at(mc->dst, 0, j, mc->a, mc->b);
}

/* This thread's own conversion of the single activation row, made once
** per node and run whatever number of chunks the thread takes. */
static const char *own_row(SimdCtx *c, const MatPlan *p, const slm_node_t *node,
                           int tid)
{
    const slm_tensor_t *w = node->src[0], *x = node->src[1];
    char *mine = simd_thread_scratch(c, tid);
    SimdThreadState *ts = &c->tstate[tid];
    if (ts->converted != node || ts->run != c->run) {
        float *tmp_x = (float *)(mine + p->x_bytes);
        convert_x(c, p, (const char *)x->data, x->nb[0], w->ne[0], w->dtype, mine, tmp_x);
        ts->converted = node;
        ts->run = c->run;
    }
    return mine;
}

void simd_mul_mat(SimdCtx *c, const slm_node_t *node, int phase, int64_t part,
                  int64_t parts, int tid)
{
    const slm_tensor_t *w = node->src[0], *x = node->src[1], *dst = node->dst;
    MatPlan p = plan_for(c->kern, w);
    if (p.path == PATH_TRANSPOSED) {
        mul_mat_transposed(node, part, parts);
        return;
    }
    int64_t K = w->ne[0], N = w->ne[1], M = x->ne[1], A = x->ne[2], B = x->ne[3];
    int64_t ga = A / w->ne[2], gb = B / w->ne[3];
    char *mine = simd_thread_scratch(c, tid);
    float *tmp_x = (float *)(mine + p.x_bytes);
    float *tmp_w = (float *)((char *)tmp_x + simd_align64((size_t)K * sizeof(float)));
    bool shared = shared_conversion(&p, w, x);

    if (shared && phase == 0) { /* activations in the kernel's format */
        int64_t lo, hi;
        simd_split(slm_tensor_nrows(x), part, parts, &lo, &hi);
        for (int64_t i = lo; i < hi; i++) {
            int64_t m = i % M, a = (i / M) % A, b = i / (M * A);
            convert_x(c, &p, at(x, 0, m, a, b), x->nb[0], K, w->dtype,
                      c->shared + (size_t)i * p.x_bytes, tmp_x);
        }
        return;
    }
    MatCols mc = {x, dst, NULL, p.x_bytes, 0, 0, 0};
    if (shared)
        mc.conv = c->shared;
    else if (!x_in_place(&p, w, x))
        mc.conv = own_row(c, &p, node, tid);

    /* groups of ROW_GROUP weight rows over all (a, b) matrices */
    int64_t G = (N + ROW_GROUP - 1) / ROW_GROUP, lo, hi;
    simd_split(A * B * G, part, parts, &lo, &hi);
    SimdMat mat;
    mat.K = K;
    mat.w_stride = w->nb[1];
    mat.y_step = dst->nb[0];
    while (lo < hi) {
        int64_t mi = lo / G, g0 = lo % G, g1 = min64(G, g0 + (hi - lo));
        mc.a = mi % A;
        mc.b = mi / A;
        mc.first = M * mi;
        mat.w = at(w, 0, 0, mc.a / ga, mc.b / gb);
        mat_rows(&p, &mat, w, g0 * ROW_GROUP, min64(N, g1 * ROW_GROUP), M, mat_x,
                 mat_y, &mc, tmp_w);
        lo += g1 - g0;
    }
}

/* ------------------------------------------------------------- MUL_MAT_ID */

/* Columns of one expert: the (u, t) items that chose it. */
typedef struct IdCols {
    const slm_tensor_t *x, *dst;
    const char *conv;
    size_t x_bytes;
    const int32_t *items; /* u + U * t */
    int64_t U, U1;
} IdCols;

static const void *id_x(const void *ctx, int64_t j)
{
    const IdCols *ic = ctx;
    int64_t item = ic->items[j], u = item % ic->U, t = item / ic->U;
    if (ic->conv)
        return ic->conv + (size_t)((u % ic->U1) + ic->U1 * t) * ic->x_bytes;
    return at(ic->x, 0, u % ic->U1, t, 0);
}

static char *id_y(const void *ctx, int64_t j)
{
    const IdCols *ic = ctx;
    int64_t item = ic->items[j];
    return at(ic->dst, 0, item % ic->U, item / ic->U, 0);
}

/*
** Phase 0 groups the tokens by expert (chunk 0: a counting sort of the ids,
** which also catches bad ones) while every chunk converts its share of the
** activation rows; phase 1 splits every active expert's weight rows like a
** MUL_MAT over the columns that chose it.
*/
void simd_mul_mat_id(SimdCtx *c, const slm_node_t *node, int phase,
                     int64_t part, int64_t parts, int tid)
{
    const slm_tensor_t *w = node->src[0], *x = node->src[1];
    const slm_tensor_t *ids = node->src[2], *dst = node->dst;
    MatPlan p = plan_for(c->kern, w);
    if (p.path == PATH_TRANSPOSED)
        p.path = PATH_GATHER;
    int64_t K = w->ne[0], N = w->ne[1], X = w->ne[2];
    int64_t U = ids->ne[0], T = ids->ne[1], U1 = x->ne[1];

    int32_t *count = (int32_t *)c->shared;      /* X + 1 */
    int32_t *start = count + X + 1;             /* X + 1 */
    int32_t *items = start + X + 1;             /* U * T: u + U * t */
    char *conv = c->shared + simd_align64((size_t)(X + 1) * sizeof(int32_t) * 2 +
                                          (size_t)(U * T) * sizeof(int32_t));
    char *mine = simd_thread_scratch(c, tid);
    float *tmp_x = (float *)(mine + p.x_bytes);
    float *tmp_w = (float *)((char *)tmp_x + simd_align64((size_t)K * sizeof(float)));
    bool in_place = x_in_place(&p, w, x);

    if (phase == 0) {
        if (part == 0) {
            memset(count, 0, (size_t)(X + 1) * sizeof *count);
            for (int64_t t = 0; t < T; t++)
                for (int64_t u = 0; u < U; u++) {
                    int32_t e;
                    memcpy(&e, at(ids, u, t, 0, 0), sizeof e);
                    if (e < 0 || e >= X) {
                        simd_fail(c, node, "expert id %d is out of range [0, %lld)", e,
                                  (long long)X);
                        for (int64_t n = 0; n < N; n++)
                            st(at(dst, n, u, t, 0), 0.0f);
                        continue;
                    }
                    count[e]++;
                }
            start[0] = 0;
            for (int64_t e = 0; e < X; e++)
                start[e + 1] = start[e] + count[e];
            memset(count, 0, (size_t)X * sizeof *count);
            for (int64_t t = 0; t < T; t++)
                for (int64_t u = 0; u < U; u++) {
                    int32_t e;
                    memcpy(&e, at(ids, u, t, 0, 0), sizeof e);
                    if (e >= 0 && e < X)
                        items[start[e] + count[e]++] = (int32_t)(u + U * t);
                }
        }
        if (!in_place) {
            int64_t lo, hi;
            simd_split(U1 * T, part, parts, &lo, &hi);
            for (int64_t i = lo; i < hi; i++)
                convert_x(c, &p, at(x, 0, i % U1, i / U1, 0), x->nb[0], K, w->dtype,
                          conv + (size_t)i * p.x_bytes, tmp_x);
        }
        return;
    }

    /* units: (active expert, group of ROW_GROUP weight rows), expert order */
    int64_t G = (N + ROW_GROUP - 1) / ROW_GROUP, active = 0;
    for (int64_t e = 0; e < X; e++)
        active += start[e + 1] > start[e];
    int64_t lo, hi;
    simd_split(active * G, part, parts, &lo, &hi);
    SimdMat mat;
    mat.K = K;
    mat.w_stride = w->nb[1];
    mat.y_step = dst->nb[0];
    IdCols ic = {x, dst, in_place ? NULL : conv, p.x_bytes, NULL, U, U1};
    int64_t unit = 0; /* first unit of expert e */
    for (int64_t e = 0; e < X && unit < hi; e++) {
        int64_t n_items = start[e + 1] - start[e];
        if (n_items == 0)
            continue;
        int64_t g0 = lo > unit ? lo - unit : 0, g1 = min64(G, hi - unit);
        unit += G;
        if (g0 >= g1)
            continue;
        mat.w = at(w, 0, 0, e, 0);
        ic.items = items + start[e];
        mat_rows(&p, &mat, w, g0 * ROW_GROUP, min64(N, g1 * ROW_GROUP), n_items, id_x,
                 id_y, &ic, tmp_w);
    }
}
