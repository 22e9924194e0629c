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

#include "../gpu/gpu_node.h"
#include "cl_device.h"

/* ------------------------------------------------------------- nodes */

bool cl_supports_node(void *device, const slm_node_t *node)
{
    const cl_dev *d = device;
    if (!d || !node || !node->dst || (unsigned)node->op >= SLM_OP_COUNT ||
        !gpu_node_fits_32bit(node))
        return false;
    return gpu_is_matmul_family(node->op) ? cl_matmul_supports(d, node) : cl_ops_supports(d, node);
}

bool cl_args_from_node(const slm_node_t *node, cl_args *args)
{
    const slm_tensor_t *x = gpu_args_from_node(node, args);
    if (x)
        cl_error(SLM_ERR_INVALID_ARG, "%s: tensor '%s' does not fit 32-bit addressing "
                 "(offset %zu)", slm_op_name(node->op), x->name, x->offset);
    return x == NULL;
}

void cl_node_bufs(const slm_node_t *node, cl_buf *bufs[4])
{
    bufs[0] = cl_tensor_buf(node->dst);
    for (int s = 0; s < 3; s++)
        bufs[s + 1] = node->src[s] ? cl_tensor_buf(node->src[s]) : NULL;
}

/* ------------------------------------------------------------- graphs */

static uint64_t buffer_size(const void *buffer)
{
    return (uint64_t)((const cl_buf *)buffer)->size;
}

/* Whether node `index` may run: supported, and every tensor inside a
** buffer of this plugin. The error names node, op and tensor. */
static slm_status_t check_node(cl_dev *d, const slm_node_t *node, uint32_t index)
{
    if (!cl_supports_node(d, node))
        return cl_error(SLM_ERR_INVALID_ARG, "node %u (%s): not a node the opencl device "
                        "runs (dtypes, shapes or strides)", index,
                        node ? slm_op_name(node->op) : "?");
    const slm_tensor_t *x = gpu_node_outside(node, buffer_size);
    if (x)
        return cl_error(SLM_ERR_INVALID_ARG, "node %u (%s): tensor '%s' (offset %zu, "
                        "%" PRIu64 " bytes) is not inside its buffer", index,
                        slm_op_name(node->op), x->name, x->offset, gpu_tensor_extent(x));
    return SLM_OK;
}

/* The error for the out-of-range id a kernel reported in node `index`. */
static slm_status_t bad_id(const slm_graph_t *graph, uint32_t index, int32_t id)
{
    char msg[256];
    gpu_bad_id_message(graph, index, id, msg, sizeof msg);
    return cl_error(SLM_ERR_INVALID_ARG, "%s", msg);
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
        st = gpu_is_matmul_family(node->op) ? cl_matmul_enqueue(d, node)
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
