/*
** simd_ops.c -- every op of slm/graph.h except the matmuls, vectorised and
** split across the device's threads.
**
** Compiled once per plugin with its target flags (simd_vec.h picks 16, 8
** or, on AArch64, 4 lanes). An op computes one chunk of its node: a range
** of rows, or, for element-wise ops on fewer rows than chunks (a single
** token's activations), a range of columns of a row. Rows whose elements are
** packed (nb[0] == element size) take the vector path; any other view goes
** through a scalar path that addresses every element through nb, as the
** reference does, or through a packed copy in the thread's scratch.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "simd_internal.h"
#include "simd_vec.h"

/* ---------------------------------------------------------- addressing */

static inline char *at(const slm_tensor_t *t, int64_t i0, int64_t i1,
                       int64_t i2, int64_t i3)
{
    return (char *)t->data + (size_t)i0 * t->nb[0] + (size_t)i1 * t->nb[1] +
           (size_t)i2 * t->nb[2] + (size_t)i3 * t->nb[3];
}

/* Row r of the tensor's rows in ne order: [:, i1, i2, i3]. */
static inline void row_index(const slm_tensor_t *t, int64_t r, int64_t *i1,
                             int64_t *i2, int64_t *i3)
{
    *i1 = r % t->ne[1];
    r /= t->ne[1];
    *i2 = r % t->ne[2];
    *i3 = r / t->ne[2];
}

static inline char *row_at(const slm_tensor_t *t, int64_t r)
{
    int64_t i1, i2, i3;
    row_index(t, r, &i1, &i2, &i3);
    return at(t, 0, i1, i2, i3);
}

static inline bool packed_f32(const slm_tensor_t *t)
{
    return t->nb[0] == sizeof(float);
}

static inline float ld(const char *p)
{
    float v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void st(char *p, float v)
{
    memcpy(p, &v, sizeof v);
}

static inline int32_t ld_i32(const char *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* ------------------------------------------------------- work splitting */

/* Element-wise ops: chunk `part` of `parts` as (row range) x (column
** range). With at least as many rows as chunks a chunk is whole rows;
** otherwise every row is cut into `parts` column ranges on vector
** boundaries. */
typedef struct Span {
    int64_t u0, u1; /* units [u0, u1) */
    int64_t pieces; /* column pieces per row */
} Span;

static Span span_of(int64_t rows, int64_t n0, int64_t part, int64_t parts)
{
    Span s;
    s.pieces = rows >= parts || n0 < 2 * VL ? 1 : parts;
    simd_split(rows * s.pieces, part, parts, &s.u0, &s.u1);
    return s;
}

static void span_unit(const Span *s, int64_t u, int64_t n0, int64_t *row,
                      int64_t *lo, int64_t *hi)
{
    int64_t p = u % s->pieces;
    *row = u / s->pieces;
    *lo = p == 0 ? 0 : (n0 * p / s->pieces) & ~(int64_t)(VL - 1);
    *hi = p + 1 == s->pieces ? n0 : (n0 * (p + 1) / s->pieces) & ~(int64_t)(VL - 1);
}

/* ------------------------------------------------------- row conversion */

/* n elements from src (dtype sd, stride sb) to dst (dtype dd, stride db);
** F32/F16/BF16 in any combination, rounding as cpu_store does. */
static void convert_row(slm_dtype_t sd, const char *src, size_t sb,
                        slm_dtype_t dd, char *dst, size_t db, int64_t n)
{
    size_t ss = slm_dtype_block_bytes(sd), ds = slm_dtype_block_bytes(dd);
    if (sb == ss && db == ds) {
        if (sd == dd) {
            memcpy(dst, src, (size_t)n * ss);
            return;
        }
        int64_t i = 0;
        if (sd == SLM_DTYPE_F32 && dd == SLM_DTYPE_F16) {
            for (; i + VL <= n; i += VL)
                vf_store_f16((uint16_t *)dst + i, vf_load((const float *)src + i));
        } else if (sd == SLM_DTYPE_F32 && dd == SLM_DTYPE_BF16) {
            for (; i + VL <= n; i += VL)
                vf_store_bf16((uint16_t *)dst + i, vf_load((const float *)src + i));
        } else if (sd == SLM_DTYPE_F16 && dd == SLM_DTYPE_F32) {
            for (; i + VL <= n; i += VL)
                vf_store((float *)dst + i, vf_from_f16((const uint16_t *)src + i));
        } else if (sd == SLM_DTYPE_BF16 && dd == SLM_DTYPE_F32) {
            for (; i + VL <= n; i += VL)
                vf_store((float *)dst + i, vf_from_bf16((const uint16_t *)src + i));
        }
        for (; i < n; i++)
            cpu_store(dd, dst + (size_t)i * ds, cpu_load(sd, src + (size_t)i * ss));
        return;
    }
    if (sd == dd) {
        for (int64_t i = 0; i < n; i++)
            memcpy(dst + (size_t)i * db, src + (size_t)i * sb, ss);
        return;
    }
    for (int64_t i = 0; i < n; i++)
        cpu_store(dd, dst + (size_t)i * db, cpu_load(sd, src + (size_t)i * sb));
}

/* ------------------------------------------------------------ GET_ROWS */

static void op_get_rows(SimdCtx *c, const slm_node_t *node, int64_t part, int64_t parts, int tid)
{
    const slm_tensor_t *table = node->src[0], *ids = node->src[1];
    const slm_tensor_t *dst = node->dst;
    int64_t E = table->ne[0], R = table->ne[1];
    int64_t n = ids->ne[0], B2 = ids->ne[1];
    float *tmp = (float *)simd_thread_scratch(c, tid);
    int64_t lo, hi;
    simd_split(slm_tensor_nelements(ids), part, parts, &lo, &hi);
    for (int64_t r = lo; r < hi; r++) {
        int64_t j = r % n, b2 = (r / n) % B2, b3 = r / (n * B2);
        int32_t id = ld_i32(at(ids, j, b2, b3, 0));
        if (id < 0 || id >= R) {
            simd_fail(c, node, "row id %d is out of range [0, %lld)", id,
                      (long long)R);
            continue;
        }
        const char *src = at(table, 0, id, b2, b3);
        char *out = at(dst, 0, j, b2, b3);
        if (!slm_dtype_is_quantized(table->dtype)) {
            convert_row(table->dtype, src, table->nb[0], SLM_DTYPE_F32, out,
                        dst->nb[0], E);
        } else if (packed_f32(dst)) {
            cpu_dequantize_row(table->dtype, src, table->nb[0], E, (float *)out);
        } else {
            cpu_dequantize_row(table->dtype, src, table->nb[0], E, tmp);
            convert_row(SLM_DTYPE_F32, (const char *)tmp, sizeof(float),
                        SLM_DTYPE_F32, out, dst->nb[0], E);
        }
    }
}

/* ------------------------------------------------------------ RMS_NORM */

static float sum_sq(const float *x, int64_t n)
{
    vf a0 = vf_zero(), a1 = vf_zero();
    int64_t i = 0;
    for (; i + 2 * VL <= n; i += 2 * VL) {
        vf v0 = vf_load(x + i), v1 = vf_load(x + i + VL);
        a0 = vf_fma(v0, v0, a0);
        a1 = vf_fma(v1, v1, a1);
    }
    for (; i < n; i += VL) {
        vf v = i + VL <= n ? vf_load(x + i) : vf_loadm(x + i, vf_tail(n - i));
        a0 = vf_fma(v, v, a0);
    }
    return vf_hsum(vf_add(a0, a1));
}

static void scale_row(float *y, const float *x, int64_t n, float s)
{
    vf vs = vf_set1(s);
    int64_t i = 0;
    for (; i + VL <= n; i += VL)
        vf_store(y + i, vf_mul(vf_load(x + i), vs));
    if (i < n) {
        vmask m = vf_tail(n - i);
        vf_storem(y + i, vf_mul(vf_loadm(x + i, m), vs), m);
    }
}

static void op_rms_norm(SimdCtx *c, const slm_node_t *node, int64_t part, int64_t parts, int tid)
{
    const slm_tensor_t *x = node->src[0], *dst = node->dst;
    int64_t n = x->ne[0];
    double eps = node->fparams[0];
    float *tmp = (float *)simd_thread_scratch(c, tid);
    int64_t lo, hi;
    simd_split(slm_tensor_nrows(x), part, parts, &lo, &hi);
    for (int64_t r = lo; r < hi; r++) {
        const char *src = row_at(x, r);
        char *out = row_at(dst, r);
        const float *xs = (const float *)src;
        if (!packed_f32(x)) {
            convert_row(SLM_DTYPE_F32, src, x->nb[0], SLM_DTYPE_F32,
                        (char *)tmp, sizeof(float), n);
            xs = tmp;
        }
        float s = (float)(1.0 / sqrt((double)sum_sq(xs, n) / (double)n + eps));
        if (packed_f32(dst)) {
            scale_row((float *)out, xs, n, s);
        } else {
            for (int64_t i = 0; i < n; i++)
                st(out + (size_t)i * dst->nb[0], xs[i] * s);
        }
    }
}

/* ------------------------------------------------------ ADD, MUL, DIV */

static inline vf binop_v(slm_op_t op, vf a, vf b)
{
    return op == SLM_OP_ADD ? vf_add(a, b) : op == SLM_OP_MUL ? vf_mul(a, b)
                                                              : vf_div(a, b);
}

static inline float binop_s(slm_op_t op, float a, float b)
{
    return op == SLM_OP_ADD ? a + b : op == SLM_OP_MUL ? a * b : a / b;
}

static void op_binary(SimdCtx *c, const slm_node_t *node, int64_t part, int64_t parts, int tid)
{
    (void)c, (void)tid;
    const slm_tensor_t *a = node->src[0], *b = node->src[1], *dst = node->dst;
    slm_op_t op = node->op;
    int64_t n0 = a->ne[0], bn0 = b->ne[0];
    bool packed = packed_f32(a) && packed_f32(b) && packed_f32(dst);
    Span sp = span_of(slm_tensor_nrows(a), n0, part, parts);
    for (int64_t u = sp.u0; u < sp.u1; u++) {
        int64_t r, lo, hi, i1, i2, i3;
        span_unit(&sp, u, n0, &r, &lo, &hi);
        row_index(a, r, &i1, &i2, &i3);
        const char *pa = at(a, 0, i1, i2, i3);
        const char *pb = at(b, 0, i1 % b->ne[1], i2 % b->ne[2], i3 % b->ne[3]);
        char *pd = at(dst, 0, i1, i2, i3);
        if (packed && (bn0 == n0 || bn0 == 1)) {
            const float *fa = (const float *)pa, *fb = (const float *)pb;
            float *fd = (float *)pd;
            int64_t i = lo;
            if (bn0 == n0) {
                for (; i + VL <= hi; i += VL)
                    vf_store(fd + i, binop_v(op, vf_load(fa + i), vf_load(fb + i)));
                if (i < hi) {
                    vmask m = vf_tail(hi - i);
                    vf_storem(fd + i, binop_v(op, vf_loadm(fa + i, m),
                                              vf_loadm(fb + i, m)), m);
                }
            } else {
                vf vb = vf_set1(fb[0]);
                for (; i + VL <= hi; i += VL)
                    vf_store(fd + i, binop_v(op, vf_load(fa + i), vb));
                if (i < hi) {
                    vmask m = vf_tail(hi - i);
                    vf_storem(fd + i, binop_v(op, vf_loadm(fa + i, m), vb), m);
                }
            }
            continue;
        }
        for (int64_t i = lo; i < hi; i++)
            st(pd + (size_t)i * dst->nb[0],
               binop_s(op, ld(pa + (size_t)i * a->nb[0]),
                       ld(pb + (size_t)(i % bn0) * b->nb[0])));
    }
}

/* ------------------------------------------------------- unary and GLU */

static inline float gelu_s(float x)
{
    const float k = 0.79788456080286535588f;
    return x / (1.0f + expf(-2.0f * k * (x + 0.044715f * x * x * x)));
}

static inline float silu_s(float x) { return x / (1.0f + expf(-x)); }

static inline vf unary_v(slm_op_t op, vf x, vf scale, vf bias)
{
    switch (op) {
    case SLM_OP_SCALE: return vf_fma(x, scale, bias);
    case SLM_OP_SILU: return vf_silu(x);
    case SLM_OP_GELU: return vf_gelu(x);
    default: return vf_tanh(x);
    }
}

static inline float unary_s(slm_op_t op, float x, float scale, float bias)
{
    switch (op) {
    case SLM_OP_SCALE: return fmaf(x, scale, bias);
    case SLM_OP_SILU: return silu_s(x);
    case SLM_OP_GELU: return gelu_s(x);
    default: return tanhf(x);
    }
}

/* SCALE, SILU, GELU, TANH */
static void op_unary(SimdCtx *c, const slm_node_t *node, int64_t part, int64_t parts, int tid)
{
    (void)c, (void)tid;
    const slm_tensor_t *x = node->src[0], *dst = node->dst;
    slm_op_t op = node->op;
    float scale = node->fparams[0], bias = node->fparams[1];
    vf vs = vf_set1(scale), vb = vf_set1(bias);
    int64_t n0 = x->ne[0];
    bool packed = packed_f32(x) && packed_f32(dst);
    Span sp = span_of(slm_tensor_nrows(x), n0, part, parts);
    for (int64_t u = sp.u0; u < sp.u1; u++) {
        int64_t r, lo, hi;
        span_unit(&sp, u, n0, &r, &lo, &hi);
        const char *px = row_at(x, r);
        char *pd = row_at(dst, r);
        if (packed) {
            const float *fx = (const float *)px;
            float *fd = (float *)pd;
            int64_t i = lo;
            for (; i + VL <= hi; i += VL)
                vf_store(fd + i, unary_v(op, vf_load(fx + i), vs, vb));
            if (i < hi) {
                vmask m = vf_tail(hi - i);
                vf_storem(fd + i, unary_v(op, vf_loadm(fx + i, m), vs, vb), m);
            }
            continue;
        }
        for (int64_t i = lo; i < hi; i++)
            st(pd + (size_t)i * dst->nb[0],
               unary_s(op, ld(px + (size_t)i * x->nb[0]), scale, bias));
    }
}

/* SWIGLU, GEGLU: act(gate) * up */
static void op_glu(SimdCtx *c, const slm_node_t *node, int64_t part, int64_t parts, int tid)
{
    (void)c, (void)tid;
    const slm_tensor_t *g = node->src[0], *up = node->src[1], *dst = node->dst;
    bool swi = node->op == SLM_OP_SWIGLU;
    int64_t n0 = g->ne[0];
    bool packed = packed_f32(g) && packed_f32(up) && packed_f32(dst);
    Span sp = span_of(slm_tensor_nrows(g), n0, part, parts);
    for (int64_t u = sp.u0; u < sp.u1; u++) {
        int64_t r, lo, hi;
        span_unit(&sp, u, n0, &r, &lo, &hi);
        const char *pg = row_at(g, r), *pu = row_at(up, r);
        char *pd = row_at(dst, r);
        if (packed) {
            const float *fg = (const float *)pg, *fu = (const float *)pu;
            float *fd = (float *)pd;
            int64_t i = lo;
            for (; i + VL <= hi; i += VL) {
                vf a = vf_load(fg + i);
                a = swi ? vf_silu(a) : vf_gelu(a);
                vf_store(fd + i, vf_mul(a, vf_load(fu + i)));
            }
            if (i < hi) {
                vmask m = vf_tail(hi - i);
                vf a = vf_loadm(fg + i, m);
                a = swi ? vf_silu(a) : vf_gelu(a);
                vf_storem(fd + i, vf_mul(a, vf_loadm(fu + i, m)), m);
            }
            continue;
        }
        for (int64_t i = lo; i < hi; i++) {
            float a = ld(pg + (size_t)i * g->nb[0]);
            a = swi ? silu_s(a) : gelu_s(a);
            st(pd + (size_t)i * dst->nb[0], a * ld(pu + (size_t)i * up->nb[0]));
        }
    }
}

/* ---------------------------------------------------------------- ROPE */

/* c(beta) of graph.h's YaRN ramp, as the reference computes it. */
static double yarn_corr_dim(int n_dims, int n_ctx_orig, double beta,
                            double freq_base)
{
    const double pi = 3.14159265358979323846;
    return n_dims * log(n_ctx_orig / (beta * 2.0 * pi)) / (2.0 * log(freq_base));
}

/*
** Rows are (token, head) pairs; a thread computes the rotation of every
** pair k once per token it meets (in double, as the reference, rounded to
** float once) and applies it to all that token's heads in its share.
*/
static void op_rope(SimdCtx *c, const slm_node_t *node, int64_t part, int64_t parts, int tid)
{
    const slm_tensor_t *x = node->src[0], *pos = node->src[1];
    const slm_tensor_t *ff = node->src[2], *dst = node->dst;
    int n_dims = node->iparams[0];
    bool neox = node->iparams[1] == SLM_ROPE_NEOX;
    double freq_base = node->fparams[0], freq_scale = node->fparams[1];
    double ext_factor = node->fparams[2], attn_factor = node->fparams[3];
    int64_t half = n_dims / 2, D = x->ne[0], H = x->ne[1];

    double ramp_lo = 0.0, ramp_hi = 0.0, mscale = attn_factor;
    if (ext_factor != 0.0) {
        int n_ctx_orig = node->iparams[2];
        ramp_lo = fmax(0.0, floor(yarn_corr_dim(n_dims, n_ctx_orig,
                                                node->fparams[4], freq_base)));
        ramp_hi = fmin(n_dims - 1, ceil(yarn_corr_dim(n_dims, n_ctx_orig,
                                                      node->fparams[5], freq_base)));
        mscale = attn_factor * (1.0 + 0.1 * log(1.0 / freq_scale));
    }

    /* scratch: inverse frequencies (double), cos and sin (float) */
    double *inv_freq = (double *)simd_thread_scratch(c, tid);
    float *cs = (float *)(inv_freq + half), *sn = cs + half;
    for (int64_t k = 0; k < half; k++) {
        inv_freq[k] = pow(freq_base, -2.0 * (double)k / n_dims);
        if (ff)
            inv_freq[k] /= (double)ld(at(ff, k, 0, 0, 0));
    }

    int64_t lo, hi, cur_t = -1;
    simd_split(x->ne[2] * H, part, parts, &lo, &hi);
    for (int64_t r = lo; r < hi; r++) {
        int64_t t = r / H, h = r % H;
        if (t != cur_t) {
            double p = ld_i32(at(pos, t, 0, 0, 0));
            for (int64_t k = 0; k < half; k++) {
                double te = p * inv_freq[k], ti = freq_scale * te;
                double theta = ti;
                if (ext_factor != 0.0) {
                    double y = ((double)k - ramp_lo) / fmax(0.001, ramp_hi - ramp_lo);
                    double mix = (1.0 - fmin(1.0, fmax(0.0, y))) * ext_factor;
                    theta = ti * (1.0 - mix) + te * mix;
                }
                cs[k] = (float)(cos(theta) * mscale);
                sn[k] = (float)(sin(theta) * mscale);
            }
            cur_t = t;
        }
        const char *src = at(x, 0, h, t, 0);
        char *out = at(dst, 0, h, t, 0);
        if (packed_f32(x) && packed_f32(dst)) {
            const float *xs = (const float *)src;
            float *ys = (float *)out;
            if (neox) {
                for (int64_t k = 0; k < half; k++) {
                    float a = xs[k], b = xs[k + half];
                    ys[k] = a * cs[k] - b * sn[k];
                    ys[k + half] = a * sn[k] + b * cs[k];
                }
            } else {
                for (int64_t k = 0; k < half; k++) {
                    float a = xs[2 * k], b = xs[2 * k + 1];
                    ys[2 * k] = a * cs[k] - b * sn[k];
                    ys[2 * k + 1] = a * sn[k] + b * cs[k];
                }
            }
            if (D > n_dims && out != src)
                memmove(ys + n_dims, xs + n_dims, (size_t)(D - n_dims) * sizeof(float));
            continue;
        }
        size_t xb = x->nb[0], db = dst->nb[0];
        for (int64_t k = 0; k < half; k++) {
            int64_t ia = neox ? k : 2 * k, ib = neox ? k + half : 2 * k + 1;
            float a = ld(src + (size_t)ia * xb), b = ld(src + (size_t)ib * xb);
            st(out + (size_t)ia * db, a * cs[k] - b * sn[k]);
            st(out + (size_t)ib * db, a * sn[k] + b * cs[k]);
        }
        for (int64_t i = n_dims; i < D; i++)
            st(out + (size_t)i * db, ld(src + (size_t)i * xb));
    }
}

/* ------------------------------------------------------------- SOFTMAX */

static void op_softmax(SimdCtx *c, const slm_node_t *node, int64_t part, int64_t parts, int tid)
{
    const slm_tensor_t *x = node->src[0], *mask = node->src[1];
    const slm_tensor_t *dst = node->dst;
    float scale = node->fparams[0], cap = node->fparams[1];
    bool causal = node->iparams[0] != 0;
    int64_t offset = node->iparams[1], window = node->iparams[2];
    int64_t C = x->ne[0], R = x->ne[1];
    float *z = (float *)simd_thread_scratch(c, tid);

    int64_t lo, hi;
    simd_split(slm_tensor_nrows(x), part, parts, &lo, &hi);
    for (int64_t row = lo; row < hi; row++) {
        int64_t r = row % R;
        const char *src = row_at(x, row);
        const char *mrow = mask ? at(mask, 0, r, 0, 0) : NULL;
        /* z = scaled (and capped) logits plus the mask */
        if (packed_f32(x) && (!mask || packed_f32(mask))) {
            const float *xs = (const float *)src, *ms = (const float *)mrow;
            vf vs = vf_set1(cap > 0.0f ? scale / cap : scale), vc = vf_set1(cap);
            for (int64_t i = 0; i < C; i += VL) {
                vmask m = vf_tail(C - i < VL ? C - i : VL);
                vf v = vf_mul(vf_loadm(xs + i, m), vs);
                if (cap > 0.0f)
                    v = vf_mul(vc, vf_tanh(v));
                if (ms)
                    v = vf_add(v, vf_loadm(ms + i, m));
                vf_storem(z + i, v, m);
            }
        } else {
            for (int64_t i = 0; i < C; i++) {
                float v = ld(src + (size_t)i * x->nb[0]);
                v = cap > 0.0f ? cap * tanhf(v * scale / cap) : v * scale;
                if (mrow)
                    v += ld(mrow + (size_t)i * mask->nb[0]);
                z[i] = v;
            }
        }
        if (causal) {
            /* keys after the query, and (with a window) too far before it */
            int64_t q = r + offset;
            for (int64_t i = q + 1 < 0 ? 0 : q + 1; i < C; i++)
                z[i] = -INFINITY;
            if (window > 0)
                for (int64_t i = 0; i <= q - window && i < C; i++)
                    z[i] = -INFINITY;
        }
        vf vmax = vf_set1(-INFINITY);
        for (int64_t i = 0; i < C; i += VL) {
            vmask m = vf_tail(C - i < VL ? C - i : VL);
            vmax = vf_max(vmax, vf_loadm_or(z + i, m, vf_set1(-INFINITY)));
        }
        float mx = vf_hmax(vmax);
        char *out = row_at(dst, row);
        if (mx == -INFINITY) { /* every key masked: attend to nothing */
            for (int64_t i = 0; i < C; i++)
                st(out + (size_t)i * dst->nb[0], 0.0f);
            continue;
        }
        vf vm = vf_set1(mx), sum = vf_zero();
        for (int64_t i = 0; i < C; i += VL) {
            vmask m = vf_tail(C - i < VL ? C - i : VL);
            /* masked-off lanes loaded 0, whose exp must not count */
            vf e = vf_keep(vf_exp(vf_sub(vf_loadm(z + i, m), vm)), m);
            sum = vf_add(sum, e);
            vf_storem(z + i, e, m);
        }
        float inv = 1.0f / vf_hsum(sum);
        if (packed_f32(dst)) {
            scale_row((float *)out, z, C, inv);
        } else {
            for (int64_t i = 0; i < C; i++)
                st(out + (size_t)i * dst->nb[0], z[i] * inv);
        }
    }
}

/* ---------------------------------------------------------------- COPY */

/* Elements in ne order from src to dst, each with its own shape: rows map
** one to one when ne[0] agrees (the usual case: a view made contiguous, a
** KV-cache write); otherwise element by element from flat indices. */
static void op_copy(SimdCtx *c, const slm_node_t *node, int64_t part, int64_t parts, int tid)
{
    (void)c, (void)tid;
    const slm_tensor_t *src = node->src[0], *dst = node->dst;
    int64_t lo, hi;
    if (slm_dtype_is_quantized(src->dtype)) {
        size_t row_bytes = slm_tensor_row_bytes(src);
        simd_split(slm_tensor_nrows(src), part, parts, &lo, &hi);
        for (int64_t r = lo; r < hi; r++)
            memcpy(row_at(dst, r), row_at(src, r), row_bytes);
        return;
    }
    if (src->dtype == dst->dtype && slm_tensor_is_contiguous(src) &&
        slm_tensor_is_contiguous(dst)) {
        size_t bytes = (size_t)slm_tensor_nelements(src) * slm_dtype_block_bytes(src->dtype);
        int64_t b0, b1;
        simd_split((int64_t)(bytes / 64), part, parts, &b0, &b1);
        size_t from = (size_t)b0 * 64, to = part + 1 == parts ? bytes : (size_t)b1 * 64;
        if (to > from)
            memcpy((char *)dst->data + from, (const char *)src->data + from, to - from);
        return;
    }
    if (src->ne[0] == dst->ne[0]) {
        simd_split(slm_tensor_nrows(src), part, parts, &lo, &hi);
        for (int64_t r = lo; r < hi; r++)
            convert_row(src->dtype, row_at(src, r), src->nb[0], dst->dtype,
                        row_at(dst, r), dst->nb[0], src->ne[0]);
        return;
    }
    simd_split(slm_tensor_nelements(src), part, parts, &lo, &hi);
    int64_t s[4], d[4], f = lo;
    for (int k = 0; k < 4; k++) {
        s[k] = f % src->ne[k];
        f /= src->ne[k];
    }
    f = lo;
    for (int k = 0; k < 4; k++) {
        d[k] = f % dst->ne[k];
        f /= dst->ne[k];
    }
    bool same = src->dtype == dst->dtype;
    size_t size = slm_dtype_block_bytes(src->dtype);
    for (int64_t e = lo; e < hi; e++) {
        const char *from = at(src, s[0], s[1], s[2], s[3]);
        char *to = at(dst, d[0], d[1], d[2], d[3]);
        if (same)
            memcpy(to, from, size);
        else
            cpu_store(dst->dtype, to, cpu_load(src->dtype, from));
        for (int k = 0; k < 4 && ++s[k] == src->ne[k]; k++)
            s[k] = 0;
        for (int k = 0; k < 4 && ++d[k] == dst->ne[k]; k++)
            d[k] = 0;
    }
}

/* ------------------------------------------------------------ SET_ROWS */

/* Each thread owns the destination rows r with r % nth == ith and walks
** all source rows in order, so a row named twice ends with the last
** source row, as in the reference, whatever the thread count. */
static void op_set_rows(SimdCtx *c, const slm_node_t *node, int64_t part, int64_t parts, int tid)
{
    (void)tid;
    const slm_tensor_t *rows = node->src[0], *ids = node->src[1];
    const slm_tensor_t *dst = node->dst;
    int64_t R = dst->ne[1], n = ids->ne[0], B2 = ids->ne[1];
    int64_t total = slm_tensor_nelements(ids);
    for (int64_t r = 0; r < total; r++) {
        int64_t j = r % n, b2 = (r / n) % B2, b3 = r / (n * B2);
        int32_t id = ld_i32(at(ids, j, b2, b3, 0));
        if (id < 0 || id >= R) {
            if (part == 0)
                simd_fail(c, node, "row id %d is out of range [0, %lld)", id,
                          (long long)R);
            continue;
        }
        if (id % parts != part)
            continue;
        convert_row(SLM_DTYPE_F32, at(rows, 0, j, b2, b3), rows->nb[0],
                    dst->dtype, at(dst, 0, id, b2, b3), dst->nb[0], rows->ne[0]);
    }
}

/* ----------------------------------------------------- ARGSORT, TOP_K */

static inline bool before(const float *key, int32_t a, int32_t b, bool desc)
{
    return desc ? key[a] > key[b] : key[a] < key[b];
}

/* Stable bottom-up merge sort of idx[0 .. n) by key, with tmp[0 .. n). */
static void merge_sort(int32_t *idx, int32_t *tmp, int64_t n, const float *key,
                       bool desc)
{
    int32_t *from = idx, *to = tmp;
    for (int64_t w = 1; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n;
            int64_t hi = lo + 2 * w < n ? lo + 2 * w : n;
            int64_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi)
                to[o++] = before(key, from[j], from[i], desc) ? from[j++] : from[i++];
            while (i < mid)
                to[o++] = from[i++];
            while (j < hi)
                to[o++] = from[j++];
        }
        int32_t *t = from;
        from = to;
        to = t;
    }
    if (from != idx)
        memcpy(idx, from, (size_t)n * sizeof *idx);
}

static void op_sort(SimdCtx *c, const slm_node_t *node, int64_t part, int64_t parts, int tid)
{
    const slm_tensor_t *x = node->src[0], *dst = node->dst;
    int64_t n = x->ne[0], n_out = dst->ne[0];
    bool desc = node->op == SLM_OP_TOP_K || node->iparams[0] == SLM_SORT_DESC;
    float *key = (float *)simd_thread_scratch(c, tid);
    int32_t *idx = (int32_t *)(key + n), *tmp = idx + n;
    int64_t lo, hi;
    simd_split(slm_tensor_nrows(x), part, parts, &lo, &hi);
    for (int64_t r = lo; r < hi; r++) {
        const char *src = row_at(x, r);
        for (int64_t i = 0; i < n; i++)
            key[i] = ld(src + (size_t)i * x->nb[0]);
        char *out = row_at(dst, r);
        if (node->op == SLM_OP_TOP_K && n_out <= 16) {
            /* Selection: keep the best n_out seen so far in order; a later
            ** index goes after every kept one it does not beat. */
            int64_t k = 0;
            for (int64_t i = 0; i < n; i++) {
                if (k == n_out && !before(key, (int32_t)i, idx[k - 1], true))
                    continue;
                int64_t p = k < n_out ? k++ : n_out - 1;
                while (p > 0 && before(key, (int32_t)i, idx[p - 1], true)) {
                    idx[p] = idx[p - 1];
                    p--;
                }
                idx[p] = (int32_t)i;
            }
        } else {
            for (int64_t i = 0; i < n; i++)
                idx[i] = (int32_t)i;
            merge_sort(idx, tmp, n, key, desc);
        }
        for (int64_t i = 0; i < n_out; i++)
            memcpy(out + (size_t)i * dst->nb[0], &idx[i], sizeof(int32_t));
    }
}

/* ------------------------------------------------------------ SUM_ROWS */

static void op_sum_rows(SimdCtx *c, const slm_node_t *node, int64_t part, int64_t parts, int tid)
{
    (void)c, (void)tid;
    const slm_tensor_t *x = node->src[0], *dst = node->dst;
    int64_t n = x->ne[0];
    int64_t lo, hi;
    simd_split(slm_tensor_nrows(x), part, parts, &lo, &hi);
    for (int64_t r = lo; r < hi; r++) {
        const char *src = row_at(x, r);
        /* In double, as the reference: a row sum can cancel to near 0. */
        double sum = 0.0;
        if (packed_f32(x)) {
            const float *xs = (const float *)src;
            int64_t i = 0;
            for (; i + VL <= n; i += VL) {
                double part = 0.0;
                float lanes[VL];
                vf_store(lanes, vf_load(xs + i));
                for (int l = 0; l < VL; l++)
                    part += lanes[l];
                sum += part;
            }
            for (; i < n; i++)
                sum += xs[i];
        } else {
            for (int64_t i = 0; i < n; i++)
                sum += ld(src + (size_t)i * x->nb[0]);
        }
        st(row_at(dst, r), (float)sum);
    }
}

/* ------------------------------------------------------------ planning */

static int64_t max_ne0(const slm_node_t *node)
{
    int64_t m = node->dst->ne[0];
    for (int s = 0; s < SLM_MAX_SRC; s++)
        if (node->src[s] && node->src[s]->ne[0] > m)
            m = node->src[s]->ne[0];
    return m;
}

SimdScratch simd_node_scratch(const SimdKernels *kern, const slm_node_t *node)
{
    if (node->op == SLM_OP_MUL_MAT || node->op == SLM_OP_MUL_MAT_ID)
        return simd_matmul_scratch(kern, node);
    SimdScratch s = {0, 0};
    size_t row = (size_t)max_ne0(node) * sizeof(float) + 64;
    switch (node->op) {
    case SLM_OP_ROPE:
        s.per_thread = (size_t)node->iparams[0] * (sizeof(double) + sizeof(float)) + 64;
        break;
    case SLM_OP_ARGSORT:
    case SLM_OP_TOP_K:
        s.per_thread = (size_t)node->src[0]->ne[0] * 12 + 64;
        break;
    default:
        s.per_thread = row;
        break;
    }
    return s;
}

/* Below these sizes a node is done by thread 0 alone: sharing it would
** cost more in synchronisation than it saves. */
#define PAR_ELEMS (INT64_C(1) << 14)  /* elements written */
#define PAR_HEAVY (INT64_C(1) << 11)  /* elements of exp/sin-heavy ops */

/* Chunks per thread: a few, so that a thread that starts late or runs slow
** leaves its share to the others. */
#define CHUNKS_PER_THREAD 4

SimdPlan simd_node_plan(const SimdKernels *kern, const slm_node_t *node,
                        uint32_t nth)
{
    if (node->op == SLM_OP_MUL_MAT || node->op == SLM_OP_MUL_MAT_ID)
        return simd_matmul_plan(kern, node, nth);
    const slm_tensor_t *d = node->dst;
    int64_t n = slm_tensor_nelements(d), rows = slm_tensor_nrows(d);
    int64_t cut = rows * (d->ne[0] / (2 * VL) + 1); /* rows cut in pieces */
    bool big;
    int64_t units = rows; /* what the op's chunks are made of */
    switch (node->op) {
    case SLM_OP_SOFTMAX:
    case SLM_OP_ROPE:
        big = n >= PAR_HEAVY;
        break;
    case SLM_OP_SILU:
    case SLM_OP_GELU:
    case SLM_OP_TANH:
    case SLM_OP_SWIGLU:
    case SLM_OP_GEGLU:
        big = n >= PAR_HEAVY;
        units = cut;
        break;
    case SLM_OP_ADD:
    case SLM_OP_MUL:
    case SLM_OP_DIV:
    case SLM_OP_SCALE:
        big = n >= PAR_ELEMS;
        units = cut;
        break;
    case SLM_OP_SET_ROWS:
        big = slm_tensor_nelements(node->src[0]) >= PAR_ELEMS;
        units = d->ne[1];
        break;
    case SLM_OP_GET_ROWS:
        big = n >= PAR_ELEMS;
        units = slm_tensor_nelements(node->src[1]);
        break;
    case SLM_OP_ARGSORT:
    case SLM_OP_TOP_K:
        big = slm_tensor_nelements(node->src[0]) >= PAR_HEAVY;
        units = slm_tensor_nrows(node->src[0]);
        break;
    case SLM_OP_COPY:
        big = n >= PAR_ELEMS;
        units = slm_dtype_is_quantized(d->dtype) ? rows : n / 64 + 1;
        break;
    default:
        big = n >= PAR_ELEMS;
        break;
    }
    SimdPlan p = {1, true, {1, 1}, (double)n};
    if (!big || nth < 2 || units < 2)
        return p;
    int64_t chunks = (int64_t)nth * CHUNKS_PER_THREAD;
    p.main_only = false;
    p.chunks[0] = (uint32_t)(units < chunks ? units : chunks);
    return p;
}

/* ------------------------------------------------------------ dispatch */

void simd_compute_node(SimdCtx *c, const slm_node_t *node, int phase,
                       int64_t part, int64_t parts, int tid)
{
    switch (node->op) {
    case SLM_OP_GET_ROWS: op_get_rows(c, node, part, parts, tid); break;
    case SLM_OP_RMS_NORM: op_rms_norm(c, node, part, parts, tid); break;
    case SLM_OP_MUL_MAT: simd_mul_mat(c, node, phase, part, parts, tid); break;
    case SLM_OP_ADD:
    case SLM_OP_MUL:
    case SLM_OP_DIV: op_binary(c, node, part, parts, tid); break;
    case SLM_OP_SCALE:
    case SLM_OP_SILU:
    case SLM_OP_GELU:
    case SLM_OP_TANH: op_unary(c, node, part, parts, tid); break;
    case SLM_OP_ROPE: op_rope(c, node, part, parts, tid); break;
    case SLM_OP_SOFTMAX: op_softmax(c, node, part, parts, tid); break;
    case SLM_OP_SWIGLU:
    case SLM_OP_GEGLU: op_glu(c, node, part, parts, tid); break;
    case SLM_OP_COPY: op_copy(c, node, part, parts, tid); break;
    case SLM_OP_SET_ROWS: op_set_rows(c, node, part, parts, tid); break;
    case SLM_OP_ARGSORT:
    case SLM_OP_TOP_K: op_sort(c, node, part, parts, tid); break;
    case SLM_OP_MUL_MAT_ID: simd_mul_mat_id(c, node, phase, part, parts, tid); break;
    case SLM_OP_SUM_ROWS: op_sum_rows(c, node, part, parts, tid); break;
    default: break; /* check_node let no other op through */
    }
}
