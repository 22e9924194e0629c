/*
** cl_graph.c -- running a graph: every node enqueued on the one in-order
** queue, then one clFinish.
**
** Every node is checked before anything is enqueued (supports_node, and
** every tensor inside its buffer), so a graph either runs whole or fails
** without touching the device. Ids that turn out out of range are caught
** by the kernels (common.cl report_bad_id) and reported here after the
** wait, naming the node.
*/
#include <inttypes.h>
#include <string.h>

#include "cl_device.h"

/* ------------------------------------------------------------- nodes */

static bool is_matmul_family(slm_op_t op)
{
    return op == SLM_OP_MUL_MAT || op == SLM_OP_MUL_MAT_ID || op == SLM_OP_GET_ROWS;
}

/* Bytes from element [0,0,0,0] to one past the last byte the tensor's ne
** and nb reach. */
static uint64_t tensor_extent(const slm_tensor_t *t)
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

/* Kernels address with 32-bit byte offsets: every size, stride and the
** whole extent must fit. */
static bool fits_32bit(const slm_tensor_t *t)
{
    for (int i = 0; i < SLM_MAX_DIMS; i++)
        if (t->ne[i] < 1 || (uint64_t)t->ne[i] > UINT32_MAX || t->nb[i] > UINT32_MAX)
            return false;
    return tensor_extent(t) <= UINT32_MAX;
}

bool cl_supports_node(void *device, const slm_node_t *node)
{
    const cl_dev *d = device;
    if (!d || !node || !node->dst || (unsigned)node->op >= SLM_OP_COUNT ||
        !fits_32bit(node->dst))
        return false;
    for (int s = 0; s < SLM_MAX_SRC; s++)
        if (node->src[s] && !fits_32bit(node->src[s]))
            return false;
    return is_matmul_family(node->op) ? cl_matmul_supports(d, node)
                                      : cl_ops_supports(d, node);
}

bool cl_args_from_node(const slm_node_t *node, cl_args *args)
{
    memset(args, 0, sizeof *args);
    for (int t = 0; t < 4; t++) {
        const slm_tensor_t *x = t == 0 ? node->dst : node->src[t - 1];
        if (!x)
            continue;
        if (x->offset > UINT32_MAX || !fits_32bit(x) ||
            tensor_extent(x) > UINT32_MAX - x->offset) {
            cl_error(SLM_ERR_INVALID_ARG, "%s: tensor '%s' does not fit 32-bit "
                     "addressing (offset %zu)", slm_op_name(node->op), x->name, x->offset);
            return false;
        }
        args->off[t] = (uint32_t)x->offset;
        for (int i = 0; i < 4; i++) {
            args->ne[t][i] = (uint32_t)x->ne[i];
            args->nb[t][i] = (uint32_t)x->nb[i];
        }
    }
    memcpy(args->ip, node->iparams, sizeof args->ip);
    memcpy(args->fp, node->fparams, sizeof args->fp);
    return true;
}

void cl_node_bufs(const slm_node_t *node, cl_buf *bufs[4])
{
    bufs[0] = cl_tensor_buf(node->dst);
    for (int s = 0; s < 3; s++)
        bufs[s + 1] = node->src[s] ? cl_tensor_buf(node->src[s]) : NULL;
}

/* ------------------------------------------------------------- graphs */

/* Whether node `index` may run: supported, and every tensor inside a
** buffer of this plugin. The error names node, op and tensor. */
static slm_status_t check_node(cl_dev *d, const slm_node_t *node, uint32_t index)
{
    if (!cl_supports_node(d, node))
        return cl_error(SLM_ERR_INVALID_ARG, "node %u (%s): not a node the opencl device "
                        "runs (dtypes, shapes or strides)", index,
                        node ? slm_op_name(node->op) : "?");
    for (int t = 0; t <= SLM_MAX_SRC; t++) {
        const slm_tensor_t *x = t == 0 ? node->dst : node->src[t - 1];
        if (!x)
            continue;
        const cl_buf *b = cl_tensor_buf(x);
        uint64_t extent = tensor_extent(x);
        if (!b || x->offset > b->size || extent > b->size - x->offset)
            return cl_error(SLM_ERR_INVALID_ARG, "node %u (%s): tensor '%s' (offset %zu, "
                            "%" PRIu64 " bytes) is not inside its buffer", index,
                            slm_op_name(node->op), x->name, x->offset, extent);
    }
    return SLM_OK;
}

/* The error for the out-of-range id a kernel reported in node `index`. */
static slm_status_t bad_id(const slm_graph_t *graph, uint32_t index, int32_t id)
{
    if (index >= graph->n_nodes)
        return cl_error(SLM_ERR_INVALID_ARG, "an id %d is out of range", id);
    const slm_node_t *node = &graph->nodes[index];
    const char *what = "row id";
    int64_t limit = 0;
    switch (node->op) {
    case SLM_OP_GET_ROWS: limit = node->src[0]->ne[1]; break;
    case SLM_OP_SET_ROWS: limit = node->dst->ne[1]; break;
    case SLM_OP_MUL_MAT_ID: what = "expert id"; limit = node->src[0]->ne[2]; break;
    default: what = "id"; break;
    }
    return cl_error(SLM_ERR_INVALID_ARG, "node %u (%s): %s %d is out of range [0, %lld)",
                    index, slm_op_name(node->op), what, id, (long long)limit);
}

slm_status_t cl_graph_compute(void *device, const slm_graph_t *graph)
{
    cl_dev *d = device;
    if (!d || !graph || (graph->n_nodes > 0 && !graph->nodes))
        return cl_error(SLM_ERR_INVALID_ARG, "graph_compute: no graph");
    for (uint32_t i = 0; i < graph->n_nodes; i++) {
        slm_status_t st = check_node(d, &graph->nodes[i], i);
        if (st != SLM_OK)
            return st;
    }
    if (graph->n_nodes == 0)
        return SLM_OK;
    slm_status_t st = cl_device_begin_graph(d);
    for (uint32_t i = 0; i < graph->n_nodes && st == SLM_OK; i++) {
        const slm_node_t *node = &graph->nodes[i];
        d->cur_node = i;
        st = is_matmul_family(node->op) ? cl_matmul_enqueue(d, node)
                                        : cl_ops_enqueue(d, node);
    }
    /* Wait even after a failed enqueue: what was enqueued may still use
    ** the scratch the next graph rewinds. */
    char eb[32];
    cl_int err = d->lib.clFinish(d->queue);
    if (st != SLM_OK)
        return st;
    if (err != CL_SUCCESS)
        return cl_error(SLM_ERR_DEVICE, "clFinish(graph of %u nodes): %s", graph->n_nodes,
                        cl_error_name(err, eb));
    uint32_t status[4];
    st = cl_buffer_read(d, &d->status, 0, status, sizeof status);
    if (st != SLM_OK)
        return st;
    if (status[0]) {
        d->status_dirty = true;
        return bad_id(graph, status[1], (int32_t)status[2]);
    }
    return SLM_OK;
}
