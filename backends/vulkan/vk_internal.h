/*
** vk_internal.h -- what the parts of the Vulkan backend share.
**
** The plugin talks to the Vulkan loader only through function pointers it
** looks up at run time (libvulkan.so.1 is dlopened in probe and device_open,
** never linked), so a machine without the loader gets "no device", not a
** plugin that fails to load.
**
** One kernel launch is a dispatch of a compute pipeline built from one
** embedded SPIR-V module. Every pipeline has the same layout, set 0:
**   binding 0..3   storage buffers: dst, src0, src1, src2 (whole VkBuffers;
**                  an absent source is bound to dst's buffer)
**   binding 4      uniform buffer with dynamic offset: a vk_args record
**   binding 5      storage buffer: the graph's status words, where a shader
**                  reports an out-of-range id (common.glsl report_bad_id)
** plus a 4-byte push constant: the index of the node being recorded, which
** vk_dispatch sets, so that graph_compute can name the node of a report.
** Shaders reach the tensors through byte offsets and byte strides in
** vk_args, so any view the graph ABI allows can be addressed without
** rebinding. shaders/common.glsl declares the GLSL side of this contract.
**
** The graph loop (vk_graph.c) records every node of a graph into one command
** buffer, with a compute-to-compute memory barrier before each dispatch, and
** submits once. The ops are split by family: vk_ops.c (element-wise, norms,
** softmax, rope, copies, sorting) and vk_matmul.c (MUL_MAT, MUL_MAT_ID,
** GET_ROWS: everything that reads block-quantised data).
*/
#ifndef SLM_VK_INTERNAL_H
#define SLM_VK_INTERNAL_H

#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slm/backend.h"

#include "../gpu/gpu_node.h"

/* A device buffer. Tensors address it with 32-bit byte offsets, so a
** buffer is at most 4 GiB - 1 (buffer_alloc refuses more). */
typedef struct vk_buffer {
    VkBuffer buf;
    VkDeviceMemory mem;
    VkDeviceSize size;
    void *mapped;         /* host mapping when the memory is host-visible */
} vk_buffer;

/* The per-dispatch arguments (gpu_node.h), a std140 uniform block as
** shaders/common.glsl declares it; offsets are within each binding. */
typedef gpu_args vk_args;

/* What the op families may ask of the device they record for. */
typedef struct vk_caps {
    uint32_t subgroup_size;         /* 0 when subgroup ops are unusable */
    bool subgroup_arith;            /* subgroupAdd etc. in compute */
    bool fp16;                      /* shaderFloat16 */
    bool int8;                      /* shaderInt8 */
    bool fp64;                      /* shaderFloat64 */
    bool int64;                     /* shaderInt64 */
    bool storage8;                  /* storageBuffer8BitAccess */
    bool storage16;                 /* storageBuffer16BitAccess */
    uint32_t max_wg_invocations;    /* maxComputeWorkGroupInvocations */
    uint32_t max_wg_count[3];       /* maxComputeWorkGroupCount */
    uint32_t max_shared_bytes;      /* maxComputeSharedMemorySize */
    bool int_dot;                   /* shaderIntegerDotProduct (Vulkan 1.3):
                                       OpSDot etc. through spirv_intrinsics */
} vk_caps;

typedef struct vk_device vk_device; /* vk_device.c */

/* The device's capabilities. Owned by the device. */
const vk_caps *vk_device_caps(const vk_device *d);

/* The buffer behind a tensor handed to the plugin (tensor->buffer). */
static inline vk_buffer *vk_tensor_buffer(const slm_tensor_t *t)
{
    return (vk_buffer *)t->buffer;
}

/* Fill args from the node: offsets, shapes and strides of dst and its
** sources (absent ones zero), iparams and fparams; u[] zeroed. False (with
** host->set_error) when an offset or stride does not fit 32 bits. */
bool vk_args_from_node(const slm_node_t *node, vk_args *args);

/*
** Record one dispatch of the pipeline named `shader` (a name from a
** .list file in shaders/) with bindings 0..3 = bufs[0..3] (NULL entries get
** bufs[0]) and `args`, over gx * gy * gz workgroups (each at least 1 and
** within caps.max_wg_count). A memory barrier orders it after everything
** recorded before. Fails with a message naming the shader when the
** pipeline cannot be built or the recording resources are exhausted.
*/
slm_status_t vk_dispatch(vk_device *d, const char *shader,
                         vk_buffer *const bufs[4], const vk_args *args,
                         uint32_t gx, uint32_t gy, uint32_t gz);

/* The buffers of dst, src0, src1, src2 of a node, in dispatch order. */
void vk_node_buffers(const slm_node_t *node, vk_buffer *bufs[4]);

/*
** Device-local scratch memory for the graph being recorded: `bytes` bytes
** (aligned to 256) in *buf at byte *offset, valid until the graph's last
** dispatch has run. For intermediate data an op needs between two of its
** dispatches (quantised activations, partial sums).
*/
slm_status_t vk_scratch(vk_device *d, size_t bytes, vk_buffer **buf,
                        uint32_t *offset);

/* Report an error through the host: sets the message, returns status. */
slm_status_t vk_error(slm_status_t status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Log through the host at level SLM_LOG_*. */
void vk_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------ op families */

/* vk_ops.c: every op but MUL_MAT, MUL_MAT_ID and GET_ROWS. */
bool vk_ops_supports(const vk_device *d, const slm_node_t *node);
slm_status_t vk_ops_record(vk_device *d, const slm_node_t *node);

/* vk_matmul.c: MUL_MAT, MUL_MAT_ID and GET_ROWS. */
bool vk_matmul_supports(const vk_device *d, const slm_node_t *node);
slm_status_t vk_matmul_record(vk_device *d, const slm_node_t *node);

/* The ops and dtypes each family claims, for slm_device_info_t. */
uint64_t vk_ops_op_mask(void);
uint64_t vk_matmul_op_mask(void);
uint64_t vk_matmul_dtype_mask(void);

#endif /* SLM_VK_INTERNAL_H */
