/*
** gpu_matmul_check.c -- see gpu_matmul_check.h.
*/
#include "gpu_matmul_check.h"

bool gpu_tensor_addressable(const slm_tensor_t *t)
{
    int64_t be = slm_dtype_block_elems(t->dtype);
    size_t unit = slm_dtype_block_bytes(t->dtype);
    if (be == 0 || t->ne[0] % be != 0 || (be > 1 && t->nb[0] != unit))
        return false;
    size_t align = be > 1 ? 1 : unit;
    uint64_t end = unit;
    for (int i = 0; i < SLM_MAX_DIMS; i++) {
        if (t->ne[i] < 1 || t->ne[i] > UINT32_MAX || t->nb[i] > UINT32_MAX ||
            t->nb[i] % align != 0)
            return false;
        int64_t n = i == 0 ? t->ne[0] / be : t->ne[i];
        end += (uint64_t)(n - 1) * t->nb[i];
        if (end > UINT32_MAX)
            return false;
    }
    return true;
}

static bool has_shape(const slm_tensor_t *t, int64_t n0, int64_t n1, int64_t n2, int64_t n3)
{
    return t->ne[0] == n0 && t->ne[1] == n1 && t->ne[2] == n2 && t->ne[3] == n3;
}

/* Every present source and dst addressable; sources past the first
** `used` absent. */
static bool operands_ok(const slm_node_t *node, int used)
{
    if (!node->dst || !gpu_tensor_addressable(node->dst))
        return false;
    for (int s = 0; s < SLM_MAX_SRC; s++)
        if (s < used ? !node->src[s] || !gpu_tensor_addressable(node->src[s]) : node->src[s] != NULL)
            return false;
    return true;
}

/* dst[n, m, a, b] = dot(w row n of matrix (a, b) / ratios, x row m of
** matrix (a, b)): grouped-query attention shares a weight matrix. */
static bool mul_mat_ok(const slm_node_t *node)
{
    const slm_tensor_t *w = node->src[0], *x = node->src[1], *dst = node->dst;
    return operands_ok(node, 2) && x->dtype == SLM_DTYPE_F32 && dst->dtype == SLM_DTYPE_F32 &&
           x->ne[0] == w->ne[0] && x->ne[2] % w->ne[2] == 0 && x->ne[3] % w->ne[3] == 0 &&
           has_shape(dst, w->ne[1], x->ne[1], x->ne[2], x->ne[3]);
}

/* dst[n, u, t] = dot(expert ids[u, t]'s row n, x row (u % U1, t)). */
static bool mul_mat_id_ok(const slm_node_t *node)
{
    const slm_tensor_t *w = node->src[0], *x = node->src[1];
    const slm_tensor_t *ids = node->src[2], *dst = node->dst;
    return operands_ok(node, 3) && w->ne[3] == 1 && ids->dtype == SLM_DTYPE_I32 &&
           ids->ne[2] == 1 && ids->ne[3] == 1 && x->dtype == SLM_DTYPE_F32 &&
           x->ne[0] == w->ne[0] && x->ne[2] == ids->ne[1] && x->ne[3] == 1 &&
           (x->ne[1] == 1 || x->ne[1] == ids->ne[0]) && dst->dtype == SLM_DTYPE_F32 &&
           has_shape(dst, w->ne[1], ids->ne[0], ids->ne[1], 1);
}

/* dst row (i, a, b) = table row ids[i, a, b] of matrix (a, b), as F32. */
static bool get_rows_ok(const slm_node_t *node)
{
    const slm_tensor_t *table = node->src[0], *ids = node->src[1], *dst = node->dst;
    return operands_ok(node, 2) && ids->dtype == SLM_DTYPE_I32 &&
           ids->ne[1] == table->ne[2] && ids->ne[2] == table->ne[3] && ids->ne[3] == 1 &&
           dst->dtype == SLM_DTYPE_F32 &&
           has_shape(dst, table->ne[0], ids->ne[0], table->ne[2], table->ne[3]);
}

bool gpu_matmul_shape_ok(const slm_node_t *node)
{
    if (!node)
        return false;
    switch (node->op) {
    case SLM_OP_MUL_MAT: return mul_mat_ok(node);
    case SLM_OP_MUL_MAT_ID: return mul_mat_id_ok(node);
    case SLM_OP_GET_ROWS: return get_rows_ok(node);
    default: return false;
    }
}

const slm_tensor_t *gpu_matmul_misaligned(const slm_node_t *node)
{
    for (int s = -1; s < SLM_MAX_SRC; s++) {
        const slm_tensor_t *t = s < 0 ? node->dst : node->src[s];
        if (t && !slm_dtype_is_quantized(t->dtype) &&
            t->offset % slm_dtype_block_bytes(t->dtype) != 0)
            return t;
    }
    return NULL;
}
