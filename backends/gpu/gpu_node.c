/*
** gpu_node.c -- see gpu_node.h.
*/
#include <stdio.h>
#include <string.h>

#include "gpu_node.h"

bool gpu_is_matmul_family(slm_op_t op)
{
    return op == SLM_OP_MUL_MAT || op == SLM_OP_MUL_MAT_ID || op == SLM_OP_GET_ROWS;
}

uint64_t gpu_tensor_extent(const slm_tensor_t *t)
{
    int64_t be = slm_dtype_block_elems(t->dtype);
    if (be <= 0)
        return UINT64_MAX;
    uint64_t end = slm_dtype_block_bytes(t->dtype);
    for (int i = 0; i < SLM_MAX_DIMS; i++) {
        int64_t n = i == 0 ? t->ne[0] / be : t->ne[i];
        if (n < 1)
            return UINT64_MAX;
        end += (uint64_t)(n - 1) * t->nb[i];
    }
    return end;
}

static bool fits_32bit(const slm_tensor_t *t)
{
    for (int i = 0; i < SLM_MAX_DIMS; i++)
        if (t->ne[i] < 1 || (uint64_t)t->ne[i] > UINT32_MAX || t->nb[i] > UINT32_MAX)
            return false;
    return gpu_tensor_extent(t) <= UINT32_MAX;
}

bool gpu_node_fits_32bit(const slm_node_t *node)
{
    if (!node->dst || !fits_32bit(node->dst))
        return false;
    for (int s = 0; s < SLM_MAX_SRC; s++)
        if (node->src[s] && !fits_32bit(node->src[s]))
            return false;
    return true;
}

const slm_tensor_t *gpu_node_outside(const slm_node_t *node,
                                     uint64_t (*buffer_size)(const void *buffer))
{
    for (int t = 0; t <= SLM_MAX_SRC; t++) {
        const slm_tensor_t *x = t == 0 ? node->dst : node->src[t - 1];
        if (!x)
            continue;
        uint64_t size = x->buffer ? buffer_size(x->buffer) : 0;
        uint64_t extent = gpu_tensor_extent(x);
        if (!x->buffer || x->offset > size || extent > size - x->offset)
            return x;
    }
    return NULL;
}

const slm_tensor_t *gpu_args_from_node(const slm_node_t *node, gpu_args *args)
{
    memset(args, 0, sizeof *args);
    for (int t = 0; t < 4; t++) {
        const slm_tensor_t *x = t == 0 ? node->dst : node->src[t - 1];
        if (!x)
            continue;
        if (x->offset > UINT32_MAX || !fits_32bit(x) ||
            gpu_tensor_extent(x) > UINT32_MAX - x->offset)
            return x;
        args->off[t] = (uint32_t)x->offset;
        for (int i = 0; i < 4; i++) {
            args->ne[t][i] = (uint32_t)x->ne[i];
            args->nb[t][i] = (uint32_t)x->nb[i];
        }
    }
    memcpy(args->ip, node->iparams, sizeof args->ip);
    memcpy(args->fp, node->fparams, sizeof args->fp);
    return NULL;
}

void gpu_bad_id_message(const slm_graph_t *g, uint32_t index, int32_t id, char *buf,
                        size_t cap)
{
    if (index >= g->n_nodes) {
        snprintf(buf, cap, "an id %d is out of range", id);
        return;
    }
    const slm_node_t *node = &g->nodes[index];
    const char *what = "row id";
    int64_t limit = 0;
    switch (node->op) {
    case SLM_OP_GET_ROWS: limit = node->src[0]->ne[1]; break;
    case SLM_OP_SET_ROWS: limit = node->dst->ne[1]; break;
    case SLM_OP_MUL_MAT_ID: what = "expert id"; limit = node->src[0]->ne[2]; break;
    default: what = "id"; break;
    }
    snprintf(buf, cap, "node %u (%s): %s %d is out of range [0, %lld)", index,
             slm_op_name(node->op), what, id, (long long)limit);
}
