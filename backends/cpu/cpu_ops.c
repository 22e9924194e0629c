/*
** cpu_ops.c -- the ops of slm/graph.h, one function each, in the order of
** the header's table.
**
** Every tensor is addressed through its nb strides, sources and destination
** alike, so any view (permuted, sliced, padded) works without a copy. Loops
** run over the four indices in ne order with i0 fastest. Arithmetic is done
** in double and rounded to float once when stored; sums (norms, softmax
** denominators, F32/F16/BF16 dot products) accumulate in double. The one
** exception is MUL_MAT with quantised weights, whose float arithmetic graph.h
** fixes step by step (cpu_quant.c). cpu_check_node has already checked
** dtypes and shapes; what is left to check here is data: ids.
*/
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_internal.h"

/* ---------------------------------------------------------- addressing */

/* Address of element [i0, i1, i2, i3] (of block i0 for a block type). */
static char *at(const slm_tensor_t *t, int64_t i0, int64_t i1, int64_t i2,
                int64_t i3)
{
    return (char *)t->data + (size_t)i0 * t->nb[0] + (size_t)i1 * t->nb[1] +
           (size_t)i2 * t->nb[2] + (size_t)i3 * t->nb[3];
}

/* An element of an F32/F16/BF16 tensor. */
static double get(const slm_tensor_t *t, int64_t i0, int64_t i1, int64_t i2,
                  int64_t i3)
{
    return cpu_load(t->dtype, at(t, i0, i1, i2, i3));
}

static void set(const slm_tensor_t *t, int64_t i0, int64_t i1, int64_t i2,
                int64_t i3, double v)
{
    cpu_store(t->dtype, at(t, i0, i1, i2, i3), (float)v);
}

static int32_t get_i32(const slm_tensor_t *t, int64_t i0, int64_t i1,
                       int64_t i2, int64_t i3)
{
    int32_t v;
    memcpy(&v, at(t, i0, i1, i2, i3), sizeof v);
    return v;
}

static void set_i32(const slm_tensor_t *t, int64_t i0, int64_t i1, int64_t i2,
                    int64_t i3, int32_t v)
{
    memcpy(at(t, i0, i1, i2, i3), &v, sizeof v);
}

/* Row [:, i1, i2, i3] of any dtype but I32, as ne[0] floats. */
static void get_row(const slm_tensor_t *t, int64_t i1, int64_t i2, int64_t i3,
                    float *out)
{
    cpu_dequantize_row(t->dtype, at(t, 0, i1, i2, i3), t->nb[0], t->ne[0], out);
}

static slm_status_t no_memory(const slm_node_t *node, uint32_t index,
                              size_t bytes)
{
    return cpu_error(SLM_ERR_NO_MEMORY,
                     "node %u (%s): cannot allocate %zu bytes of scratch",
                     index, slm_op_name(node->op), bytes);
}

static slm_status_t bad_id(const slm_node_t *node, uint32_t index,
                           const char *what, int32_t id, int64_t limit)
{
    return cpu_error(SLM_ERR_INVALID_ARG,
                     "node %u (%s): %s %d is out of range [0, %lld)", index,
                     slm_op_name(node->op), what, id, (long long)limit);
}

/* ------------------------------------------------------------ GET_ROWS */

/* dst[:, j, b2, b3] = src0[:, ids[j, b2, b3], b2, b3], dequantised. */
static slm_status_t op_get_rows(const slm_node_t *node, uint32_t index)
{
    const slm_tensor_t *table = node->src[0], *ids = node->src[1];
    const slm_tensor_t *dst = node->dst;
    int64_t E = table->ne[0], R = table->ne[1];

    float *row = malloc((size_t)E * sizeof *row);
    if (!row)
        return no_memory(node, index, (size_t)E * sizeof *row);
    for (int64_t b3 = 0; b3 < ids->ne[2]; b3++)
        for (int64_t b2 = 0; b2 < ids->ne[1]; b2++)
            for (int64_t j = 0; j < ids->ne[0]; j++) {
                int32_t r = get_i32(ids, j, b2, b3, 0);
                if (r < 0 || r >= R) {
                    free(row);
                    return bad_id(node, index, "row id", r, R);
                }
                get_row(table, r, b2, b3, row);
                for (int64_t e = 0; e < E; e++)
                    set(dst, e, j, b2, b3, row[e]);
            }
    free(row);
    return SLM_OK;
}

/* ------------------------------------------------------------ RMS_NORM */

/* y = x / sqrt(mean(x^2) + eps), per row. */
static slm_status_t op_rms_norm(const slm_node_t *node)
{
    const slm_tensor_t *x = node->src[0], *dst = node->dst;
    double eps = node->fparams[0];
    int64_t n = x->ne[0];
    for (int64_t i3 = 0; i3 < x->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < x->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < x->ne[1]; i1++) {
                double sum_sq = 0.0;
                for (int64_t i0 = 0; i0 < n; i0++) {
                    double v = get(x, i0, i1, i2, i3);
                    sum_sq += v * v;
                }
                double scale = 1.0 / sqrt(sum_sq / (double)n + eps);
                for (int64_t i0 = 0; i0 < n; i0++)
                    set(dst, i0, i1, i2, i3, get(x, i0, i1, i2, i3) * scale);
            }
    return SLM_OK;
}

/* ------------------------------------------------------------- MUL_MAT */

/* Scratch of MUL_MAT and MUL_MAT_ID: one src1 row as floats, and as what
** the weights are multiplied with (cpu_prepare_act_row). */
typedef struct ActRow {
    float *x;
    void *act;
} ActRow;

static slm_status_t act_row_alloc(ActRow *r, const slm_node_t *node,
                                  uint32_t index, slm_dtype_t wtype, int64_t K)
{
    size_t x_bytes = (size_t)K * sizeof(float);
    size_t act_bytes = cpu_act_row_bytes(wtype, K);
    r->x = malloc(x_bytes);
    r->act = malloc(act_bytes);
    if (!r->x || !r->act) {
        free(r->x);
        free(r->act);
        return no_memory(node, index, x_bytes + act_bytes);
    }
    return SLM_OK;
}

static void act_row_free(ActRow *r)
{
    free(r->x);
    free(r->act);
}

/* Row [:, i1, i2, i3] of src1 made ready for weights of dtype wtype. */
static void act_row_load(ActRow *r, const slm_tensor_t *x, slm_dtype_t wtype,
                         int64_t i1, int64_t i2, int64_t i3)
{
    get_row(x, i1, i2, i3, r->x);
    cpu_prepare_act_row(wtype, r->x, x->ne[0], r->act);
}

/* dst[n, m, a, b] = dot(w[:, n, a / (A / A0), b / (B / B0)], x[:, m, a, b]),
** the dot product of graph.h for w's dtype (activations quantised for
** quantised weights). Consecutive groups of A / A0 activation matrices share
** one weight matrix (grouped-query attention: several query heads per KV
** head). Each activation row is prepared once for all N weight rows. */
static slm_status_t op_mul_mat(const slm_node_t *node, uint32_t index)
{
    const slm_tensor_t *w = node->src[0], *x = node->src[1];
    const slm_tensor_t *dst = node->dst;
    int64_t K = w->ne[0], N = w->ne[1], M = x->ne[1];
    int64_t A = x->ne[2], B = x->ne[3];
    int64_t group_a = A / w->ne[2], group_b = B / w->ne[3];

    ActRow row;
    slm_status_t st = act_row_alloc(&row, node, index, w->dtype, K);
    if (st != SLM_OK)
        return st;
    for (int64_t b = 0; b < B; b++)
        for (int64_t a = 0; a < A; a++)
            for (int64_t m = 0; m < M; m++) {
                act_row_load(&row, x, w->dtype, m, a, b);
                for (int64_t n = 0; n < N; n++) {
                    const char *w_row = at(w, 0, n, a / group_a, b / group_b);
                    set(dst, n, m, a, b,
                        cpu_dot_row(w->dtype, w_row, w->nb[0], row.act, K));
                }
            }
    act_row_free(&row);
    return SLM_OK;
}

/* ------------------------------------------------------ ADD, MUL, DIV */

/* dst = src0 (+ * /) src1, src1 repeated over src0 (index modulo its ne). */
static slm_status_t op_binary(const slm_node_t *node)
{
    const slm_tensor_t *a = node->src[0], *b = node->src[1];
    const slm_tensor_t *dst = node->dst;
    for (int64_t i3 = 0; i3 < a->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < a->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < a->ne[1]; i1++)
                for (int64_t i0 = 0; i0 < a->ne[0]; i0++) {
                    double va = get(a, i0, i1, i2, i3);
                    double vb = get(b, i0 % b->ne[0], i1 % b->ne[1],
                                    i2 % b->ne[2], i3 % b->ne[3]);
                    double y = node->op == SLM_OP_ADD   ? va + vb
                               : node->op == SLM_OP_MUL ? va * vb
                                                        : va / vb;
                    set(dst, i0, i1, i2, i3, y);
                }
    return SLM_OK;
}

/* ------------------------------------------------ elementwise unary ops */

static double silu(double x) { return x / (1.0 + exp(-x)); }

/* The tanh approximation of GELU, the form GGUF models are trained with. */
static double gelu(double x)
{
    const double sqrt_2_over_pi = 0.79788456080286535588;
    return 0.5 * x * (1.0 + tanh(sqrt_2_over_pi * (x + 0.044715 * x * x * x)));
}

/* SCALE, SILU, GELU, TANH: y = f(x) element by element. */
static slm_status_t op_unary(const slm_node_t *node)
{
    const slm_tensor_t *x = node->src[0], *dst = node->dst;
    double scale = node->fparams[0], bias = node->fparams[1];
    for (int64_t i3 = 0; i3 < x->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < x->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < x->ne[1]; i1++)
                for (int64_t i0 = 0; i0 < x->ne[0]; i0++) {
                    double v = get(x, i0, i1, i2, i3), y;
                    switch (node->op) {
                    case SLM_OP_SCALE: y = v * scale + bias; break;
                    case SLM_OP_SILU: y = silu(v); break;
                    case SLM_OP_GELU: y = gelu(v); break;
                    default: y = tanh(v); break; /* SLM_OP_TANH */
                    }
                    set(dst, i0, i1, i2, i3, y);
                }
    return SLM_OK;
}

/* SWIGLU, GEGLU: dst = act(gate) * up. */
static slm_status_t op_glu(const slm_node_t *node)
{
    const slm_tensor_t *gate = node->src[0], *up = node->src[1];
    const slm_tensor_t *dst = node->dst;
    for (int64_t i3 = 0; i3 < gate->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < gate->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < gate->ne[1]; i1++)
                for (int64_t i0 = 0; i0 < gate->ne[0]; i0++) {
                    double g = get(gate, i0, i1, i2, i3);
                    double u = get(up, i0, i1, i2, i3);
                    double act = node->op == SLM_OP_SWIGLU ? silu(g) : gelu(g);
                    set(dst, i0, i1, i2, i3, act * u);
                }
    return SLM_OK;
}

/* ---------------------------------------------------------------- ROPE */

typedef struct Rope {
    int n_dims;
    bool neox;
    double freq_base, freq_scale, ext_factor, attn_factor;
    double ramp_lo, ramp_hi; /* YaRN: pairs below lo extrapolate, above hi
                                interpolate, a linear ramp in between */
    const slm_tensor_t *freq_factors; /* [n_dims / 2] or NULL */
} Rope;

/* c(beta) of graph.h: the pair index k whose wavelength, 2 pi *
** freq_base^(2k / n_dims), fits `beta` times into the original context. */
static double yarn_corr_dim(int n_dims, int n_ctx_orig, double beta,
                            double freq_base)
{
    const double pi = 3.14159265358979323846;
    return n_dims * log(n_ctx_orig / (beta * 2.0 * pi)) / (2.0 * log(freq_base));
}

/* Angle and magnitude of pair k at position p:
** (a, b) -> (a cos - b sin, a sin + b cos), both already multiplied by m. */
static void rope_rotation(const Rope *r, double p, int64_t k, double *cos_m,
                          double *sin_m)
{
    double te = p * pow(r->freq_base, -2.0 * (double)k / r->n_dims);
    if (r->freq_factors)
        te /= get(r->freq_factors, k, 0, 0, 0);
    double ti = r->freq_scale * te;
    double theta = ti, m = r->attn_factor;
    if (r->ext_factor != 0.0) {
        double y = ((double)k - r->ramp_lo) / fmax(0.001, r->ramp_hi - r->ramp_lo);
        double ramp = 1.0 - fmin(1.0, fmax(0.0, y));
        double mix = ramp * r->ext_factor;
        theta = ti * (1.0 - mix) + te * mix;
        m = r->attn_factor * (1.0 + 0.1 * log(1.0 / r->freq_scale));
    }
    *cos_m = cos(theta) * m;
    *sin_m = sin(theta) * m;
}

/* src0 [D, H, T, 1], positions [T]. NORMAL rotates (x[2k], x[2k+1]), NEOX
** (x[k], x[k + n_dims/2]); dimensions past n_dims are copied. */
static slm_status_t op_rope(const slm_node_t *node)
{
    const slm_tensor_t *x = node->src[0], *pos = node->src[1];
    const slm_tensor_t *dst = node->dst;
    Rope r = {
        .n_dims = node->iparams[0],
        .neox = node->iparams[1] == SLM_ROPE_NEOX,
        .freq_base = node->fparams[0],
        .freq_scale = node->fparams[1],
        .ext_factor = node->fparams[2],
        .attn_factor = node->fparams[3],
        .freq_factors = node->src[2],
    };
    if (r.ext_factor != 0.0) {
        int n_ctx_orig = node->iparams[2];
        double beta_fast = node->fparams[4], beta_slow = node->fparams[5];
        r.ramp_lo = fmax(0.0, floor(yarn_corr_dim(r.n_dims, n_ctx_orig,
                                                  beta_fast, r.freq_base)));
        r.ramp_hi = fmin(r.n_dims - 1, ceil(yarn_corr_dim(r.n_dims, n_ctx_orig,
                                                         beta_slow, r.freq_base)));
    }
    int64_t half = r.n_dims / 2;
    for (int64_t t = 0; t < x->ne[2]; t++) {
        double p = get_i32(pos, t, 0, 0, 0);
        for (int64_t h = 0; h < x->ne[1]; h++) {
            for (int64_t k = 0; k < half; k++) {
                int64_t ia = r.neox ? k : 2 * k;
                int64_t ib = r.neox ? k + half : 2 * k + 1;
                double c, s;
                rope_rotation(&r, p, k, &c, &s);
                double a = get(x, ia, h, t, 0), b = get(x, ib, h, t, 0);
                set(dst, ia, h, t, 0, a * c - b * s);
                set(dst, ib, h, t, 0, a * s + b * c);
            }
            for (int64_t i0 = r.n_dims; i0 < x->ne[0]; i0++)
                set(dst, i0, h, t, 0, get(x, i0, h, t, 0));
        }
    }
    return SLM_OK;
}

/* ------------------------------------------------------------- SOFTMAX */

/* src0 [C, R, H, B]: keys, query rows, heads. Per row:
** z = cap ? cap * tanh(x * scale / cap) : x * scale, plus the mask, with
** keys hidden by the causal (and sliding-window) rule set to -inf. */
static slm_status_t op_softmax(const slm_node_t *node, uint32_t index)
{
    const slm_tensor_t *x = node->src[0], *mask = node->src[1];
    const slm_tensor_t *dst = node->dst;
    double scale = node->fparams[0], cap = node->fparams[1];
    bool causal = node->iparams[0] != 0;
    int64_t offset = node->iparams[1], window = node->iparams[2];
    int64_t C = x->ne[0];

    double *z = malloc((size_t)C * sizeof *z);
    if (!z)
        return no_memory(node, index, (size_t)C * sizeof *z);
    for (int64_t b = 0; b < x->ne[3]; b++)
        for (int64_t h = 0; h < x->ne[2]; h++)
            for (int64_t r = 0; r < x->ne[1]; r++) {
                double max = -INFINITY;
                for (int64_t c = 0; c < C; c++) {
                    double v = get(x, c, r, h, b);
                    v = cap > 0.0 ? cap * tanh(v * scale / cap) : v * scale;
                    if (mask)
                        v += get(mask, c, r, 0, 0);
                    /* r + offset is the query's own position among keys. */
                    int64_t q = r + offset;
                    if (causal && (c > q || (window > 0 && q - c >= window)))
                        v = -INFINITY;
                    z[c] = v;
                    if (v > max)
                        max = v;
                }
                if (max == -INFINITY) { /* every key masked: attend nothing */
                    for (int64_t c = 0; c < C; c++)
                        set(dst, c, r, h, b, 0.0);
                    continue;
                }
                double sum = 0.0;
                for (int64_t c = 0; c < C; c++) {
                    z[c] = exp(z[c] - max);
                    sum += z[c];
                }
                for (int64_t c = 0; c < C; c++)
                    set(dst, c, r, h, b, z[c] / sum);
            }
    free(z);
    return SLM_OK;
}

/* ---------------------------------------------------------------- COPY */

/* Step a 4-D index to the next element in ne order (i0 fastest). */
static void next_index(int64_t idx[4], const int64_t ne[4])
{
    for (int d = 0; d < 4; d++) {
        if (++idx[d] < ne[d])
            return;
        idx[d] = 0;
    }
}

/* Elements are read from src0 and written to dst in ne order, each with its
** own shape and strides: this makes views contiguous and reshapes. */
static slm_status_t op_copy(const slm_node_t *node)
{
    const slm_tensor_t *src = node->src[0], *dst = node->dst;
    int64_t d[4] = {0, 0, 0, 0}; /* dst index of the current element */

    if (slm_dtype_is_quantized(src->dtype)) {
        /* Equal ne[0]: whole rows of blocks map one to one, in order. */
        size_t row_bytes = slm_tensor_row_bytes(src);
        int64_t dst_rows[4] = {1, dst->ne[1], dst->ne[2], dst->ne[3]};
        for (int64_t i3 = 0; i3 < src->ne[3]; i3++)
            for (int64_t i2 = 0; i2 < src->ne[2]; i2++)
                for (int64_t i1 = 0; i1 < src->ne[1]; i1++) {
                    memcpy(at(dst, 0, d[1], d[2], d[3]), at(src, 0, i1, i2, i3),
                           row_bytes);
                    next_index(d, dst_rows);
                }
        return SLM_OK;
    }

    /* Same dtype: copy the bits, so that NaN payloads survive too. */
    bool same = src->dtype == dst->dtype;
    size_t size = slm_dtype_block_bytes(src->dtype);
    for (int64_t i3 = 0; i3 < src->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < src->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < src->ne[1]; i1++)
                for (int64_t i0 = 0; i0 < src->ne[0]; i0++) {
                    char *to = at(dst, d[0], d[1], d[2], d[3]);
                    const char *from = at(src, i0, i1, i2, i3);
                    if (same)
                        memcpy(to, from, size);
                    else
                        cpu_store(dst->dtype, to, cpu_load(src->dtype, from));
                    next_index(d, dst->ne);
                }
    return SLM_OK;
}

/* ------------------------------------------------------------ SET_ROWS */

/* dst[:, ids[j, b2, b3], b2, b3] = src0[:, j, b2, b3], converted. */
static slm_status_t op_set_rows(const slm_node_t *node, uint32_t index)
{
    const slm_tensor_t *rows = node->src[0], *ids = node->src[1];
    const slm_tensor_t *dst = node->dst;
    int64_t R = dst->ne[1];
    for (int64_t b3 = 0; b3 < ids->ne[2]; b3++)
        for (int64_t b2 = 0; b2 < ids->ne[1]; b2++)
            for (int64_t j = 0; j < ids->ne[0]; j++) {
                int32_t r = get_i32(ids, j, b2, b3, 0);
                if (r < 0 || r >= R)
                    return bad_id(node, index, "row id", r, R);
                for (int64_t e = 0; e < rows->ne[0]; e++)
                    set(dst, e, r, b2, b3, get(rows, e, j, b2, b3));
            }
    return SLM_OK;
}

/* ----------------------------------------------------- ARGSORT, TOP_K */

/* True when idx a must come before idx b. Strict, so equal keys never swap. */
static bool sorts_before(const float *key, int32_t a, int32_t b, bool desc)
{
    return desc ? key[a] > key[b] : key[a] < key[b];
}

/* Merge sort of idx[0 .. n) by key[idx], using tmp[0 .. n). It is stable:
** ties keep their order, so the lower index comes first. (qsort is neither
** stable nor safe with the inconsistent comparisons NaN would give.) */
static void merge_sort(int32_t *idx, int32_t *tmp, int64_t n, const float *key,
                       bool desc)
{
    if (n < 2)
        return;
    int64_t half = n / 2;
    merge_sort(idx, tmp, half, key, desc);
    merge_sort(idx + half, tmp, n - half, key, desc);
    int64_t i = 0, j = half, o = 0;
    while (i < half && j < n)
        tmp[o++] = sorts_before(key, idx[j], idx[i], desc) ? idx[j++] : idx[i++];
    while (i < half)
        tmp[o++] = idx[i++];
    while (j < n)
        tmp[o++] = idx[j++];
    memcpy(idx, tmp, (size_t)n * sizeof *idx);
}

/* ARGSORT writes the whole sorted order; TOP_K its first k of the
** descending order. */
static slm_status_t op_sort(const slm_node_t *node, uint32_t index)
{
    const slm_tensor_t *x = node->src[0], *dst = node->dst;
    int64_t n = x->ne[0];
    bool desc = node->op == SLM_OP_TOP_K || node->iparams[0] == SLM_SORT_DESC;
    int64_t n_out = dst->ne[0];

    float *key = malloc((size_t)n * sizeof *key);
    int32_t *idx = malloc((size_t)n * sizeof *idx);
    int32_t *tmp = malloc((size_t)n * sizeof *tmp);
    if (!key || !idx || !tmp) {
        free(key);
        free(idx);
        free(tmp);
        return no_memory(node, index, (size_t)n * 12);
    }
    for (int64_t i3 = 0; i3 < x->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < x->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < x->ne[1]; i1++) {
                for (int64_t i = 0; i < n; i++) {
                    key[i] = (float)get(x, i, i1, i2, i3);
                    idx[i] = (int32_t)i;
                }
                merge_sort(idx, tmp, n, key, desc);
                for (int64_t i = 0; i < n_out; i++)
                    set_i32(dst, i, i1, i2, i3, idx[i]);
            }
    free(key);
    free(idx);
    free(tmp);
    return SLM_OK;
}

/* ---------------------------------------------------------- MUL_MAT_ID */

/* src0 [K, N, X] experts, src1 [K, U1, T], ids [U, T] -> dst [N, U, T]:
** token t's u-th chosen expert ids[u, t] applied to src1[:, u % U1, t], with
** MUL_MAT's dot product. */
static slm_status_t op_mul_mat_id(const slm_node_t *node, uint32_t index)
{
    const slm_tensor_t *w = node->src[0], *x = node->src[1];
    const slm_tensor_t *ids = node->src[2], *dst = node->dst;
    int64_t K = w->ne[0], N = w->ne[1], X = w->ne[2];
    int64_t U = ids->ne[0], T = ids->ne[1], U1 = x->ne[1];

    ActRow row;
    slm_status_t st = act_row_alloc(&row, node, index, w->dtype, K);
    if (st != SLM_OK)
        return st;
    for (int64_t t = 0; t < T; t++)
        for (int64_t u = 0; u < U; u++) {
            int32_t e = get_i32(ids, u, t, 0, 0);
            if (e < 0 || e >= X) {
                act_row_free(&row);
                return bad_id(node, index, "expert id", e, X);
            }
            act_row_load(&row, x, w->dtype, u % U1, t, 0);
            for (int64_t n = 0; n < N; n++) {
                const char *w_row = at(w, 0, n, e, 0);
                set(dst, n, u, t, 0,
                    cpu_dot_row(w->dtype, w_row, w->nb[0], row.act, K));
            }
        }
    act_row_free(&row);
    return SLM_OK;
}

/* ------------------------------------------------------------ SUM_ROWS */

static slm_status_t op_sum_rows(const slm_node_t *node)
{
    const slm_tensor_t *x = node->src[0], *dst = node->dst;
    for (int64_t i3 = 0; i3 < x->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < x->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < x->ne[1]; i1++) {
                double sum = 0.0;
                for (int64_t i0 = 0; i0 < x->ne[0]; i0++)
                    sum += get(x, i0, i1, i2, i3);
                set(dst, 0, i1, i2, i3, sum);
            }
    return SLM_OK;
}

/* ------------------------------------------------------------ dispatch */

slm_status_t cpu_compute_node(const slm_node_t *node, uint32_t index)
{
    switch (node->op) {
    case SLM_OP_GET_ROWS: return op_get_rows(node, index);
    case SLM_OP_RMS_NORM: return op_rms_norm(node);
    case SLM_OP_MUL_MAT: return op_mul_mat(node, index);
    case SLM_OP_ADD:
    case SLM_OP_MUL:
    case SLM_OP_DIV: return op_binary(node);
    case SLM_OP_SCALE:
    case SLM_OP_SILU:
    case SLM_OP_GELU:
    case SLM_OP_TANH: return op_unary(node);
    case SLM_OP_ROPE: return op_rope(node);
    case SLM_OP_SOFTMAX: return op_softmax(node, index);
    case SLM_OP_SWIGLU:
    case SLM_OP_GEGLU: return op_glu(node);
    case SLM_OP_COPY: return op_copy(node);
    case SLM_OP_SET_ROWS: return op_set_rows(node, index);
    case SLM_OP_ARGSORT:
    case SLM_OP_TOP_K: return op_sort(node, index);
    case SLM_OP_MUL_MAT_ID: return op_mul_mat_id(node, index);
    case SLM_OP_SUM_ROWS: return op_sum_rows(node);
    default:
        return cpu_error(SLM_ERR_UNSUPPORTED, "node %u: unknown op %d", index,
                         (int)node->op);
    }
}
