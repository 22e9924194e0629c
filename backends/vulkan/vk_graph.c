/*
** vk_graph.c -- running a graph: one command buffer per graph_compute.
**
** Every node is checked before anything is recorded (supports_node, and
** every tensor inside its buffer), so a graph either runs whole or fails
** without touching the device. The op families record their dispatches
** through vk_dispatch, each behind a compute-to-compute barrier; the graph
** is submitted once and waited for. Ids that turn out out of range are
** caught by the shaders (common.glsl report_bad_id) and reported here after
** the wait, naming the node.
*/
#include <inttypes.h>
#include <string.h>

#include "../gpu/gpu_node.h"
#include "vk_device.h"

/* ------------------------------------------------------------- nodes */

bool vk_supports_node(void *device, const slm_node_t *node)
{
    const vk_device *d = device;
    if (!d || !node || !node->dst || (unsigned)node->op >= SLM_OP_COUNT ||
        !gpu_node_fits_32bit(node))
        return false;
    return gpu_is_matmul_family(node->op) ? vk_matmul_supports(d, node) : vk_ops_supports(d, node);
}

bool vk_args_from_node(const slm_node_t *node, vk_args *args)
{
    const slm_tensor_t *x = gpu_args_from_node(node, args);
    if (x)
        vk_error(SLM_ERR_INVALID_ARG, "%s: tensor '%s' does not fit 32-bit addressing "
                 "(offset %zu)", slm_op_name(node->op), x->name, x->offset);
    return x == NULL;
}

void vk_node_buffers(const slm_node_t *node, vk_buffer *bufs[4])
{
    bufs[0] = vk_tensor_buffer(node->dst);
    for (int s = 0; s < 3; s++)
        bufs[s + 1] = node->src[s] ? vk_tensor_buffer(node->src[s]) : NULL;
}

/* ---------------------------------------------------------- dispatch */

/* Order this dispatch after everything recorded or submitted before it:
** shader writes of earlier nodes and staging copies into buffers. */
static void barrier(vk_device *d)
{
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT,
    };
    d->vkCmdPipelineBarrier(d->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT |
                                        VK_PIPELINE_STAGE_TRANSFER_BIT,
                            VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0, NULL, 0,
                            NULL);
}

slm_status_t vk_dispatch(vk_device *d, const char *shader, vk_buffer *const bufs[4],
                         const vk_args *args, uint32_t gx, uint32_t gy, uint32_t gz)
{
    const uint32_t *max = d->phys.caps.max_wg_count;
    if (gx < 1 || gy < 1 || gz < 1 || gx > max[0] || gy > max[1] || gz > max[2])
        return vk_error(SLM_ERR_INTERNAL, "%s: %u x %u x %u workgroups exceed the device's "
                        "%u x %u x %u", shader, gx, gy, gz, max[0], max[1], max[2]);
    VkPipeline pipeline;
    slm_status_t st = vk_pipeline_get(d, shader, &pipeline);
    vk_buffer *ring = NULL;
    uint32_t ring_off = 0;
    if (st == SLM_OK)
        st = vk_device_args_slot(d, &ring, &ring_off);
    VkDescriptorSet set = VK_NULL_HANDLE;
    if (st == SLM_OK)
        st = vk_device_descriptor_set(d, &set);
    if (st != SLM_OK)
        return st;
    memcpy((char *)ring->mapped + ring_off, args, sizeof *args);

    VkDescriptorBufferInfo info[6];
    VkWriteDescriptorSet w[6];
    for (uint32_t i = 0; i < 6; i++) {
        const vk_buffer *b = i < 4 ? (bufs[i] ? bufs[i] : bufs[0]) : i == 4 ? ring : &d->status;
        info[i] = (VkDescriptorBufferInfo){
            .buffer = b->buf,
            .offset = 0,
            .range = i == 4 ? sizeof(vk_args) : VK_WHOLE_SIZE,
        };
        w[i] = (VkWriteDescriptorSet){
            .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
            .dstSet = set,
            .dstBinding = i,
            .descriptorCount = 1,
            .descriptorType = i == 4 ? VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER_DYNAMIC
                                     : VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .pBufferInfo = &info[i],
        };
    }
    d->vkUpdateDescriptorSets(d->dev, 6, w, 0, NULL);

    barrier(d);
    d->vkCmdBindPipeline(d->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline);
    d->vkCmdBindDescriptorSets(d->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, d->pipeline_layout, 0,
                               1, &set, 1, &ring_off);
    d->vkCmdPushConstants(d->cmd, d->pipeline_layout, VK_SHADER_STAGE_COMPUTE_BIT, 0,
                          sizeof d->cur_node, &d->cur_node);
    d->vkCmdDispatch(d->cmd, gx, gy, gz);
    return SLM_OK;
}

/* ------------------------------------------------------------- graphs */

static uint64_t buffer_size(const void *buffer)
{
    return (uint64_t)((const vk_buffer *)buffer)->size;
}

/* Whether node `index` may run: supported, and every tensor inside a
** buffer of this plugin. The error names node, op and tensor. */
static slm_status_t check_node(vk_device *d, const slm_node_t *node, uint32_t index)
{
    if (!vk_supports_node(d, node))
        return vk_error(SLM_ERR_INVALID_ARG, "node %u (%s): not a node the vulkan device "
                        "runs (dtypes, shapes or strides)", index,
                        node ? slm_op_name(node->op) : "?");
    const slm_tensor_t *x = gpu_node_outside(node, buffer_size);
    if (x)
        return vk_error(SLM_ERR_INVALID_ARG, "node %u (%s): tensor '%s' (offset %zu, "
                        "%" PRIu64 " bytes) is not inside its buffer", index,
                        slm_op_name(node->op), x->name, x->offset, gpu_tensor_extent(x));
    return SLM_OK;
}

/* The error for the out-of-range id a shader reported in node `index`. */
static slm_status_t bad_id(const slm_graph_t *graph, uint32_t index, int32_t id)
{
    char msg[256];
    gpu_bad_id_message(graph, index, id, msg, sizeof msg);
    return vk_error(SLM_ERR_INVALID_ARG, "%s", msg);
}

/* Record every node into d->cmd. */
static slm_status_t record(vk_device *d, const slm_graph_t *graph)
{
    char rb[16];
    VkCommandBufferBeginInfo bi = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
        .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
    };
    VkResult r = d->vkBeginCommandBuffer(d->cmd, &bi);
    if (r != VK_SUCCESS)
        return vk_error(SLM_ERR_DEVICE, "vkBeginCommandBuffer(graph): %s",
                        vk_result_name(r, rb));
    slm_status_t st = SLM_OK;
    for (uint32_t i = 0; i < graph->n_nodes && st == SLM_OK; i++) {
        const slm_node_t *node = &graph->nodes[i];
        d->cur_node = i;
        st = gpu_is_matmul_family(node->op) ? vk_matmul_record(d, node)
                                        : vk_ops_record(d, node);
    }
    /* The host reads mapped buffers and the status word after the wait;
    ** staging copies read the results later. */
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_TRANSFER_READ_BIT,
    };
    d->vkCmdPipelineBarrier(d->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                            VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT, 0,
                            1, &mb, 0, NULL, 0, NULL);
    r = d->vkEndCommandBuffer(d->cmd);
    if (st == SLM_OK && r != VK_SUCCESS)
        st = vk_error(r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY
                          ? SLM_ERR_NO_MEMORY : SLM_ERR_DEVICE,
                      "vkEndCommandBuffer(graph of %u nodes): %s", graph->n_nodes,
                      vk_result_name(r, rb));
    return st;
}

slm_status_t vk_graph_compute(void *device, const slm_graph_t *graph)
{
    vk_device *d = device;
    if (!d || !graph || (graph->n_nodes > 0 && !graph->nodes))
        return vk_error(SLM_ERR_INVALID_ARG, "graph_compute: no graph");
    for (uint32_t i = 0; i < graph->n_nodes; i++) {
        slm_status_t st = check_node(d, &graph->nodes[i], i);
        if (st != SLM_OK)
            return st;
    }
    if (graph->n_nodes == 0)
        return SLM_OK;
    vk_device_begin_graph(d);
    slm_status_t st = record(d, graph);
    if (st == SLM_OK)
        st = vk_submit_and_wait(d, d->cmd, "graph");
    if (st != SLM_OK)
        return st;
    const volatile uint32_t *status = d->status.mapped;
    if (status[0])
        return bad_id(graph, status[1], (int32_t)status[2]);
    return SLM_OK;
}
