/*
** gpu_ops_check.c -- see gpu_ops_check.h.
*/
#include <string.h>

#include "gpu_ops_check.h"

static const slm_op_t my_ops[] = {
    SLM_OP_RMS_NORM, SLM_OP_ADD,    SLM_OP_MUL,      SLM_OP_DIV,    SLM_OP_SCALE,
    SLM_OP_ROPE,     SLM_OP_SOFTMAX, SLM_OP_SILU,    SLM_OP_GELU,   SLM_OP_TANH,
    SLM_OP_SWIGLU,   SLM_OP_GEGLU,  SLM_OP_COPY,     SLM_OP_SET_ROWS, SLM_OP_ARGSORT,
    SLM_OP_TOP_K,    SLM_OP_SUM_ROWS,
};

uint64_t gpu_ops_op_mask(void)
{
    uint64_t mask = 0;
    for (size_t i = 0; i < sizeof my_ops / sizeof my_ops[0]; i++)
        mask |= SLM_OP_BIT(my_ops[i]);
    return mask;
}

/* Sources each op takes: `required` first slots set, `optional` more may be. */
static const struct {
    int required, optional;
} arity[SLM_OP_COUNT] = {
    [SLM_OP_RMS_NORM] = {1, 0}, [SLM_OP_ADD] = {2, 0},     [SLM_OP_MUL] = {2, 0},
    [SLM_OP_DIV] = {2, 0},      [SLM_OP_SCALE] = {1, 0},   [SLM_OP_ROPE] = {2, 1},
    [SLM_OP_SOFTMAX] = {1, 1},  [SLM_OP_SILU] = {1, 0},    [SLM_OP_GELU] = {1, 0},
    [SLM_OP_TANH] = {1, 0},     [SLM_OP_SWIGLU] = {2, 0},  [SLM_OP_GEGLU] = {2, 0},
    [SLM_OP_COPY] = {1, 0},     [SLM_OP_SET_ROWS] = {2, 0}, [SLM_OP_ARGSORT] = {1, 0},
    [SLM_OP_TOP_K] = {1, 0},    [SLM_OP_SUM_ROWS] = {1, 0},
};

static bool is_f32(const slm_tensor_t *t) { return t->dtype == SLM_DTYPE_F32; }
static bool is_i32(const slm_tensor_t *t) { return t->dtype == SLM_DTYPE_I32; }

static bool is_float(const slm_tensor_t *t)
{
    return t->dtype == SLM_DTYPE_F32 || t->dtype == SLM_DTYPE_F16 ||
           t->dtype == SLM_DTYPE_BF16;
}

size_t gpu_ops_unit(const slm_tensor_t *t, const gpu_ops_limits *lim)
{
    return slm_dtype_is_quantized(t->dtype) ? lim->quant_unit : slm_dtype_block_bytes(t->dtype);
}

static uint64_t next_pow2(uint64_t n)
{
    uint64_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

/* Known dtype, positive extents, whole blocks per row, blocks packed along
** the row, under 2^31 elements, strides in whole units. */
static bool is_well_formed(const slm_tensor_t *t, const gpu_ops_limits *lim)
{
    int64_t be = slm_dtype_block_elems(t->dtype);
    if (be == 0 || t->ne[0] % be != 0)
        return false;
    if (be > 1 && t->nb[0] != slm_dtype_block_bytes(t->dtype))
        return false;
    for (int d = 0; d < SLM_MAX_DIMS; d++)
        if (t->ne[d] < 1 || t->nb[d] % gpu_ops_unit(t, lim) != 0)
            return false;
    return slm_tensor_nelements(t) <= INT32_MAX;
}

static bool same_shape(const slm_tensor_t *a, const slm_tensor_t *b)
{
    return memcmp(a->ne, b->ne, sizeof a->ne) == 0;
}

static bool has_shape(const slm_tensor_t *t, int64_t n0, int64_t n1, int64_t n2,
                      int64_t n3)
{
    return t->ne[0] == n0 && t->ne[1] == n1 && t->ne[2] == n2 && t->ne[3] == n3;
}

static bool divides(const slm_tensor_t *b, const slm_tensor_t *a)
{
    for (int d = 0; d < SLM_MAX_DIMS; d++)
        if (a->ne[d] % b->ne[d] != 0)
            return false;
    return true;
}

static bool supports_rope(const slm_node_t *node)
{
    const slm_tensor_t *x = node->src[0], *pos = node->src[1], *ff = node->src[2];
    int32_t n_dims = node->iparams[0], mode = node->iparams[1];
    float freq_base = node->fparams[0], freq_scale = node->fparams[1];
    if (!is_f32(x) || x->ne[3] != 1 || !is_i32(pos) || !has_shape(pos, x->ne[2], 1, 1, 1))
        return false;
    if (!is_f32(node->dst) || !same_shape(node->dst, x))
        return false;
    if (n_dims <= 0 || n_dims % 2 != 0 || n_dims > x->ne[0])
        return false;
    if (mode != SLM_ROPE_NORMAL && mode != SLM_ROPE_NEOX)
        return false;
    if (ff && (!is_f32(ff) || !has_shape(ff, n_dims / 2, 1, 1, 1)))
        return false;
    if (!(freq_base > 0.0f))
        return false;
    if (node->fparams[2] != 0.0f &&
        (!(freq_scale > 0.0f) || freq_base == 1.0f || node->iparams[2] <= 0 ||
         !(node->fparams[4] > 0.0f) || !(node->fparams[5] > 0.0f)))
        return false;
    return true;
}

static bool supports_sort(const slm_node_t *node, const gpu_ops_limits *lim)
{
    const slm_tensor_t *x = node->src[0], *dst = node->dst;
    if (!is_f32(x) || !is_i32(dst))
        return false;
    uint64_t row = lim->sort_pads_rows ? next_pow2((uint64_t)x->ne[0]) : (uint64_t)x->ne[0];
    if (row * (uint64_t)slm_tensor_nrows(x) * 8 > INT32_MAX)
        return false;
    if (node->op == SLM_OP_ARGSORT)
        return (node->iparams[0] == SLM_SORT_ASC || node->iparams[0] == SLM_SORT_DESC) &&
               same_shape(dst, x);
    int32_t k = node->iparams[0];
    return k >= 1 && k <= x->ne[0] && has_shape(dst, k, x->ne[1], x->ne[2], x->ne[3]);
}

bool gpu_ops_supports(const slm_node_t *node, const gpu_ops_limits *lim)
{
    if (!node || (unsigned)node->op >= SLM_OP_COUNT || !(gpu_ops_op_mask() & SLM_OP_BIT(node->op)))
        return false;
    if (!node->dst || !is_well_formed(node->dst, lim))
        return false;
    for (int s = 0; s < SLM_MAX_SRC; s++) {
        const slm_tensor_t *t = node->src[s];
        bool required = s < arity[node->op].required;
        bool allowed = s < arity[node->op].required + arity[node->op].optional;
        if ((!t && required) || (t && !allowed) || (t && !is_well_formed(t, lim)))
            return false;
    }
    const slm_tensor_t *s0 = node->src[0], *s1 = node->src[1], *dst = node->dst;
    switch (node->op) {
    case SLM_OP_ADD:
    case SLM_OP_MUL:
    case SLM_OP_DIV:
        return is_f32(s0) && is_f32(s1) && divides(s1, s0) && is_f32(dst) &&
               same_shape(dst, s0);
    case SLM_OP_SWIGLU:
    case SLM_OP_GEGLU:
        return is_f32(s0) && is_f32(s1) && same_shape(s1, s0) && is_f32(dst) &&
               same_shape(dst, s0);
    case SLM_OP_RMS_NORM:
    case SLM_OP_SCALE:
    case SLM_OP_SILU:
    case SLM_OP_GELU:
    case SLM_OP_TANH:
        return is_f32(s0) && is_f32(dst) && same_shape(dst, s0);
    case SLM_OP_SUM_ROWS:
        return is_f32(s0) && is_f32(dst) && has_shape(dst, 1, s0->ne[1], s0->ne[2], s0->ne[3]);
    case SLM_OP_SOFTMAX:
        return is_f32(s0) && is_f32(dst) && same_shape(dst, s0) &&
               (!s1 || (is_f32(s1) && s1->ne[0] == s0->ne[0] && s1->ne[1] >= s0->ne[1] &&
                        s1->ne[2] == 1 && s1->ne[3] == 1));
    case SLM_OP_ROPE:
        return supports_rope(node);
    case SLM_OP_COPY:
        if (slm_tensor_nelements(s0) != slm_tensor_nelements(dst))
            return false;
        return (is_float(s0) && is_float(dst)) ||
               (slm_dtype_is_quantized(s0->dtype) && s0->dtype == dst->dtype &&
                s0->ne[0] == dst->ne[0]);
    case SLM_OP_SET_ROWS:
        return is_float(dst) && is_i32(s1) && s1->ne[1] == dst->ne[2] &&
               s1->ne[2] == dst->ne[3] && s1->ne[3] == 1 && is_f32(s0) &&
               has_shape(s0, dst->ne[0], s1->ne[0], dst->ne[2], dst->ne[3]);
    case SLM_OP_ARGSORT:
    case SLM_OP_TOP_K:
        return supports_sort(node, lim);
    default:
        return false;
    }
}

