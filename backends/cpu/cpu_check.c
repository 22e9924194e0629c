/*
** cpu_check.c -- which nodes the scalar reference backend runs.
**
** The reference runs every op of slm/graph.h for exactly the dtypes and
** shapes its op table defines, and refuses everything else. supports_node
** asks cpu_check_node; graph_compute asks it again before running a node and
** passes its answer on as the error message, so the two can never disagree.
**
** Strides are not restricted: every op addresses its tensors through nb.
** The one layout rule is GGUF's: a quantised row is a run of whole blocks,
** so nb[0] of a block type is the size of a block.
*/
#include <stdbool.h>

#include "cpu_internal.h"

/* ------------------------------------------------------------- helpers */

static bool is_float(const slm_tensor_t *t)
{
    return t->dtype == SLM_DTYPE_F32 || t->dtype == SLM_DTYPE_F16 ||
           t->dtype == SLM_DTYPE_BF16;
}

static bool is_f32(const slm_tensor_t *t) { return t->dtype == SLM_DTYPE_F32; }
static bool is_i32(const slm_tensor_t *t) { return t->dtype == SLM_DTYPE_I32; }

/* A weight of MUL_MAT, MUL_MAT_ID or GET_ROWS: anything that dequantises. */
static bool is_weight(const slm_tensor_t *t)
{
    return t->dtype != SLM_DTYPE_I32 && slm_dtype_block_elems(t->dtype) > 0;
}

/* A tensor any op could take: a known dtype, positive extents, whole blocks
** per row and, for a block type, blocks packed along the row. */
static bool is_well_formed(const slm_tensor_t *t)
{
    int64_t be = slm_dtype_block_elems(t->dtype);
    if (be == 0)
        return false;
    for (int d = 0; d < SLM_MAX_DIMS; d++)
        if (t->ne[d] < 1)
            return false;
    if (t->ne[0] % be != 0)
        return false;
    if (be > 1 && t->nb[0] != slm_dtype_block_bytes(t->dtype))
        return false;
    return true;
}

static bool has_shape(const slm_tensor_t *t, int64_t n0, int64_t n1,
                      int64_t n2, int64_t n3)
{
    return t->ne[0] == n0 && t->ne[1] == n1 && t->ne[2] == n2 && t->ne[3] == n3;
}

static bool same_shape(const slm_tensor_t *a, const slm_tensor_t *b)
{
    return has_shape(a, b->ne[0], b->ne[1], b->ne[2], b->ne[3]);
}

/* "b divides a": b broadcasts over a, its index being a's modulo b.ne. */
static bool divides(const slm_tensor_t *b, const slm_tensor_t *a)
{
    for (int d = 0; d < SLM_MAX_DIMS; d++)
        if (a->ne[d] % b->ne[d] != 0)
            return false;
    return true;
}

/* Sources each op takes: the first `required` slots must be set, the next
** `optional` may be, and the rest must be NULL. */
static const struct {
    int required, optional;
} arity[SLM_OP_COUNT] = {
    [SLM_OP_GET_ROWS] = {2, 0},   [SLM_OP_RMS_NORM] = {1, 0},
    [SLM_OP_MUL_MAT] = {2, 0},    [SLM_OP_ADD] = {2, 0},
    [SLM_OP_MUL] = {2, 0},        [SLM_OP_SCALE] = {1, 0},
    [SLM_OP_ROPE] = {2, 1},       [SLM_OP_SOFTMAX] = {1, 1},
    [SLM_OP_SILU] = {1, 0},       [SLM_OP_GELU] = {1, 0},
    [SLM_OP_SWIGLU] = {2, 0},     [SLM_OP_GEGLU] = {2, 0},
    [SLM_OP_COPY] = {1, 0},       [SLM_OP_SET_ROWS] = {2, 0},
    [SLM_OP_ARGSORT] = {1, 0},    [SLM_OP_TOP_K] = {1, 0},
    [SLM_OP_MUL_MAT_ID] = {3, 0}, [SLM_OP_DIV] = {2, 0},
    [SLM_OP_TANH] = {1, 0},       [SLM_OP_SUM_ROWS] = {1, 0},
};

/* ------------------------------------------------------------ per op */

static const char *check_rope(const slm_node_t *node)
{
    const slm_tensor_t *x = node->src[0], *pos = node->src[1];
    const slm_tensor_t *ff = node->src[2], *dst = node->dst;
    int32_t n_dims = node->iparams[0], mode = node->iparams[1];
    int32_t n_ctx_orig = node->iparams[2];
    float freq_base = node->fparams[0], freq_scale = node->fparams[1];
    float ext_factor = node->fparams[2];
    float beta_fast = node->fparams[4], beta_slow = node->fparams[5];

    if (!is_f32(x) || x->ne[3] != 1)
        return "src0 must be F32 [D, H, T, 1]";
    if (!is_i32(pos) || !has_shape(pos, x->ne[2], 1, 1, 1))
        return "positions (src1) must be I32 [T]";
    if (!is_f32(dst) || !same_shape(dst, x))
        return "dst must be F32 of src0's shape";
    if (n_dims <= 0 || n_dims % 2 != 0 || n_dims > x->ne[0])
        return "n_dims (i[0]) must be even and in [2, D]";
    if (mode != SLM_ROPE_NORMAL && mode != SLM_ROPE_NEOX)
        return "mode (i[1]) must be SLM_ROPE_NORMAL or SLM_ROPE_NEOX";
    if (ff && (!is_f32(ff) || !has_shape(ff, n_dims / 2, 1, 1, 1)))
        return "frequency factors (src2) must be F32 [n_dims / 2]";
    /* Written so that NaN parameters fail too. */
    if (!(freq_base > 0.0f))
        return "freq_base (f[0]) must be positive";
    if (ext_factor != 0.0f) {
        /* YaRN takes ln(1 / freq_scale) and divides by ln(freq_base). */
        if (!(freq_scale > 0.0f) || freq_base == 1.0f || n_ctx_orig <= 0 ||
            !(beta_fast > 0.0f) || !(beta_slow > 0.0f))
            return "YaRN needs freq_scale > 0, freq_base != 1, "
                   "n_ctx_orig > 0 and positive betas";
    }
    return NULL;
}

static const char *check_softmax(const slm_node_t *node)
{
    const slm_tensor_t *x = node->src[0], *mask = node->src[1];
    const slm_tensor_t *dst = node->dst;
    if (!is_f32(x))
        return "src0 must be F32";
    if (mask && (!is_f32(mask) || mask->ne[0] != x->ne[0] ||
                 mask->ne[1] < x->ne[1] || mask->ne[2] != 1 || mask->ne[3] != 1))
        return "mask (src1) must be F32 [C, >= R, 1, 1]";
    if (!is_f32(dst) || !same_shape(dst, x))
        return "dst must be F32 of src0's shape";
    return NULL;
}

static const char *check_copy(const slm_node_t *node)
{
    const slm_tensor_t *src = node->src[0], *dst = node->dst;
    if (slm_tensor_nelements(src) != slm_tensor_nelements(dst))
        return "src0 and dst must have the same number of elements";
    if (is_float(src) && is_float(dst))
        return NULL;
    if (slm_dtype_is_quantized(src->dtype) && src->dtype == dst->dtype &&
        src->ne[0] == dst->ne[0])
        return NULL;
    return "copies F32/F16/BF16 to F32/F16/BF16, or one block type to "
           "itself with equal ne[0]";
}

static const char *check_rows_op(const slm_node_t *node)
{
    /* GET_ROWS: table [E, R, B2, B3] + ids [n, B2, B3] -> [E, n, B2, B3].
    ** SET_ROWS: the same with dst as the table and src0 as the rows. */
    bool get = node->op == SLM_OP_GET_ROWS;
    const slm_tensor_t *table = get ? node->src[0] : node->dst;
    const slm_tensor_t *rows = get ? node->dst : node->src[0];
    const slm_tensor_t *ids = node->src[1];
    if (get ? !is_weight(table) : !is_float(table))
        return get ? "src0 must not be I32" : "dst must be F32, F16 or BF16";
    if (!is_i32(ids) || ids->ne[1] != table->ne[2] ||
        ids->ne[2] != table->ne[3] || ids->ne[3] != 1)
        return "ids (src1) must be I32 [n, B2, B3]";
    if (!is_f32(rows) || !has_shape(rows, table->ne[0], ids->ne[0],
                                    table->ne[2], table->ne[3]))
        return get ? "dst must be F32 [E, n, B2, B3]"
                   : "src0 must be F32 [E, n, B2, B3]";
    return NULL;
}

static const char *check_mul_mat(const slm_node_t *node)
{
    const slm_tensor_t *w = node->src[0], *x = node->src[1], *dst = node->dst;
    if (!is_weight(w))
        return "weight (src0) must not be I32";
    if (!is_f32(x) || x->ne[0] != w->ne[0])
        return "src1 must be F32 with src0's ne[0]";
    if (x->ne[2] % w->ne[2] != 0 || x->ne[3] % w->ne[3] != 0)
        return "src0's ne[2] and ne[3] must divide src1's";
    if (!is_f32(dst) || !has_shape(dst, w->ne[1], x->ne[1], x->ne[2], x->ne[3]))
        return "dst must be F32 [N, M, A, B]";
    return NULL;
}

static const char *check_mul_mat_id(const slm_node_t *node)
{
    const slm_tensor_t *w = node->src[0], *x = node->src[1];
    const slm_tensor_t *ids = node->src[2], *dst = node->dst;
    if (!is_weight(w) || w->ne[3] != 1)
        return "experts (src0) must be [K, N, X] of a non-I32 dtype";
    if (!is_i32(ids) || ids->ne[2] != 1 || ids->ne[3] != 1)
        return "ids (src2) must be I32 [U, T]";
    if (!is_f32(x) || x->ne[0] != w->ne[0] || x->ne[2] != ids->ne[1] ||
        x->ne[3] != 1 || (x->ne[1] != 1 && x->ne[1] != ids->ne[0]))
        return "src1 must be F32 [K, U1, T] with U1 == 1 or U1 == U";
    if (!is_f32(dst) || !has_shape(dst, w->ne[1], ids->ne[0], ids->ne[1], 1))
        return "dst must be F32 [N, U, T]";
    return NULL;
}

static const char *check_sort(const slm_node_t *node)
{
    const slm_tensor_t *x = node->src[0], *dst = node->dst;
    if (!is_f32(x))
        return "src0 must be F32";
    if (x->ne[0] > INT32_MAX)
        return "rows longer than INT32_MAX cannot be indexed in I32";
    if (node->op == SLM_OP_ARGSORT) {
        if (node->iparams[0] != SLM_SORT_ASC && node->iparams[0] != SLM_SORT_DESC)
            return "order (i[0]) must be SLM_SORT_ASC or SLM_SORT_DESC";
        if (!is_i32(dst) || !same_shape(dst, x))
            return "dst must be I32 of src0's shape";
    } else {
        int32_t k = node->iparams[0];
        if (k < 1 || k > x->ne[0])
            return "k (i[0]) must be in [1, ne[0]]";
        if (!is_i32(dst) || !has_shape(dst, k, x->ne[1], x->ne[2], x->ne[3]))
            return "dst must be I32 [k, ne1, ne2, ne3]";
    }
    return NULL;
}

/* ---------------------------------------------------------------- node */

const char *cpu_check_node(const slm_node_t *node)
{
    if (!node)
        return "no node";
    if (node->op == SLM_OP_NONE || (unsigned)node->op >= SLM_OP_COUNT)
        return "unknown op";
    if (!node->dst || !is_well_formed(node->dst))
        return "dst is missing or malformed";
    for (int s = 0; s < SLM_MAX_SRC; s++) {
        const slm_tensor_t *t = node->src[s];
        bool required = s < arity[node->op].required;
        bool allowed = s < arity[node->op].required + arity[node->op].optional;
        if (!t && required)
            return "a required source is missing";
        if (t && !allowed)
            return "a source slot the op does not take is set";
        if (t && !is_well_formed(t))
            return "a source is malformed (dtype, extents or block stride)";
    }

    const slm_tensor_t *s0 = node->src[0], *s1 = node->src[1];
    const slm_tensor_t *dst = node->dst;
    switch (node->op) {
    case SLM_OP_GET_ROWS:
    case SLM_OP_SET_ROWS:
        return check_rows_op(node);
    case SLM_OP_MUL_MAT:
        return check_mul_mat(node);
    case SLM_OP_MUL_MAT_ID:
        return check_mul_mat_id(node);
    case SLM_OP_ROPE:
        return check_rope(node);
    case SLM_OP_SOFTMAX:
        return check_softmax(node);
    case SLM_OP_COPY:
        return check_copy(node);
    case SLM_OP_ARGSORT:
    case SLM_OP_TOP_K:
        return check_sort(node);
    case SLM_OP_ADD:
    case SLM_OP_MUL:
    case SLM_OP_DIV:
        if (!is_f32(s0) || !is_f32(s1) || !divides(s1, s0))
            return "src0 and src1 must be F32 with src1 dividing src0";
        if (!is_f32(dst) || !same_shape(dst, s0))
            return "dst must be F32 of src0's shape";
        return NULL;
    case SLM_OP_SWIGLU:
    case SLM_OP_GEGLU:
        if (!is_f32(s0) || !is_f32(s1) || !same_shape(s1, s0))
            return "gate (src0) and up (src1) must be F32 of one shape";
        if (!is_f32(dst) || !same_shape(dst, s0))
            return "dst must be F32 of src0's shape";
        return NULL;
    case SLM_OP_RMS_NORM:
    case SLM_OP_SCALE:
    case SLM_OP_SILU:
    case SLM_OP_GELU:
    case SLM_OP_TANH:
        if (!is_f32(s0) || !is_f32(dst) || !same_shape(dst, s0))
            return "src0 and dst must be F32 of one shape";
        return NULL;
    case SLM_OP_SUM_ROWS:
        if (!is_f32(s0) || !is_f32(dst) ||
            !has_shape(dst, 1, s0->ne[1], s0->ne[2], s0->ne[3]))
            return "src0 must be F32 and dst F32 [1, ne1, ne2, ne3]";
        return NULL;
    default:
        return "unknown op";
    }
}
