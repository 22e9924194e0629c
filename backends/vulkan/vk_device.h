/*
** vk_device.h -- what the plugin's own files share beyond vk_internal.h:
** the loader's function tables, the physical-device query that probe and
** device_open agree on, the device object, and buffers and pipelines.
**
**   vk_plugin.c    entry point, descriptor, host messages, supports_node
**   vk_loader.c    libvulkan.so.1, the instance and its function table
**   vk_probe.c     which physical devices are usable, and probe
**   vk_device.c    device_open/close, queue, arenas (args ring, scratch,
**                  descriptor pools), the status word
**   vk_buffer.c    memory types, buffers, staging transfers
**   vk_pipeline.c  the shared layout and pipelines by shader name
**   vk_graph.c     graph_compute, vk_dispatch and the node helpers
**   vk_ops.c       every op but the matmul family
*/
#ifndef SLM_VK_DEVICE_H
#define SLM_VK_DEVICE_H

#include "vk_internal.h"

/* ------------------------------------------------------- function tables */

/* Looked up with vkGetInstanceProcAddr(NULL, ...). */
#define VK_GLOBAL_FNS(X)              \
    X(vkEnumerateInstanceVersion)     \
    X(vkCreateInstance)

#define VK_INSTANCE_FNS(X)                      \
    X(vkDestroyInstance)                        \
    X(vkEnumeratePhysicalDevices)               \
    X(vkGetPhysicalDeviceProperties)            \
    X(vkGetPhysicalDeviceProperties2)           \
    X(vkGetPhysicalDeviceFeatures2)             \
    X(vkGetPhysicalDeviceMemoryProperties)      \
    X(vkGetPhysicalDeviceQueueFamilyProperties) \
    X(vkCreateDevice)                           \
    X(vkGetDeviceProcAddr)

#define VK_DEVICE_FNS(X)              \
    X(vkDestroyDevice)                \
    X(vkGetDeviceQueue)               \
    X(vkDeviceWaitIdle)               \
    X(vkCreateCommandPool)            \
    X(vkDestroyCommandPool)           \
    X(vkAllocateCommandBuffers)       \
    X(vkBeginCommandBuffer)           \
    X(vkEndCommandBuffer)             \
    X(vkQueueSubmit)                  \
    X(vkCreateFence)                  \
    X(vkDestroyFence)                 \
    X(vkWaitForFences)                \
    X(vkResetFences)                  \
    X(vkCreateBuffer)                 \
    X(vkDestroyBuffer)                \
    X(vkGetBufferMemoryRequirements)  \
    X(vkAllocateMemory)               \
    X(vkFreeMemory)                   \
    X(vkBindBufferMemory)             \
    X(vkMapMemory)                    \
    X(vkUnmapMemory)                  \
    X(vkCreateShaderModule)           \
    X(vkDestroyShaderModule)          \
    X(vkCreateComputePipelines)       \
    X(vkDestroyPipeline)              \
    X(vkCreatePipelineCache)          \
    X(vkDestroyPipelineCache)         \
    X(vkCreatePipelineLayout)         \
    X(vkDestroyPipelineLayout)        \
    X(vkCreateDescriptorSetLayout)    \
    X(vkDestroyDescriptorSetLayout)   \
    X(vkCreateDescriptorPool)         \
    X(vkDestroyDescriptorPool)        \
    X(vkResetDescriptorPool)          \
    X(vkAllocateDescriptorSets)       \
    X(vkUpdateDescriptorSets)         \
    X(vkCmdBindPipeline)              \
    X(vkCmdBindDescriptorSets)        \
    X(vkCmdPushConstants)             \
    X(vkCmdDispatch)                  \
    X(vkCmdPipelineBarrier)           \
    X(vkCmdCopyBuffer)

#define VK_DECLARE_FN(name) PFN_##name name;

/* ----------------------------------------------------------- vk_loader.c */

/* The loader library and one instance, with the instance's functions. */
typedef struct vk_instance {
    void *lib;                         /* dlopen handle of libvulkan.so.1 */
    VkInstance instance;
    uint32_t api_version;              /* what the instance was created for */
    PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr;
    VK_INSTANCE_FNS(VK_DECLARE_FN)
} vk_instance;

/* Open the loader and create an instance. SLM_OK with inst->instance left
** VK_NULL_HANDLE when this machine has no usable Vulkan (no loader, no
** driver, a 1.0-only loader): the reason is logged at debug level. Other
** failures set an error. Release with vk_instance_close. */
slm_status_t vk_instance_open(vk_instance *inst);

/* Destroy the instance and unload the library. Zeroed input: a no-op. */
void vk_instance_close(vk_instance *inst);

/* "VK_ERROR_OUT_OF_DEVICE_MEMORY"; a number for results it does not know.
** The string is static or in `buf` (at least 16 bytes). */
const char *vk_result_name(VkResult r, char *buf);

/* ------------------------------------------------------------ vk_probe.c */

/* What one physical device offers, queried once. */
typedef struct vk_physical {
    VkPhysicalDevice handle;
    VkPhysicalDeviceProperties props;
    VkPhysicalDeviceDriverProperties driver;
    VkPhysicalDeviceSubgroupProperties subgroup;
    VkPhysicalDeviceMaintenance3Properties maint3;
    VkPhysicalDeviceMemoryProperties mem;
    VkPhysicalDeviceFeatures2 f10;
    VkPhysicalDeviceVulkan11Features f11;
    VkPhysicalDeviceVulkan12Features f12;
    VkPhysicalDeviceVulkan13Features f13;   /* zero below Vulkan 1.3 */
    uint32_t queue_family;                  /* one with compute */
    vk_caps caps;                           /* what device_open enables */
} vk_physical;

/* The usable physical devices of the instance, in enumeration order:
** probe reports them and device_open's index counts them. Devices lacking
** what the shaders need are skipped, with a log line when log_skipped.
** *n = 0 with SLM_OK where the driver reports it has no device. */
slm_status_t vk_usable_devices(const vk_instance *inst, bool log_skipped,
                               vk_physical *out, uint32_t cap, uint32_t *n);

/* The probe slot. */
slm_status_t vk_probe(slm_device_info_t *infos, uint32_t capacity,
                      uint32_t *n_out);

/* ------------------------------------------------------------ vk_device.c */

/* A list of same-purpose chunks that grows while a graph is recorded and
** is rewound (not freed) when the next one starts. */
typedef struct vk_arena {
    vk_buffer **chunks;    /* each allocated alone: its address is kept */
    uint32_t n_chunks;
    uint32_t cur;          /* chunk being filled */
    VkDeviceSize used;     /* bytes used in chunks[cur] */
} vk_arena;

typedef struct vk_pipeline_entry {
    char name[64];
    VkPipeline pipeline;
} vk_pipeline_entry;

struct vk_device {
    vk_instance inst;
    vk_physical phys;
    VkDevice dev;
    VK_DEVICE_FNS(VK_DECLARE_FN)
    VkQueue queue;
    VkCommandPool cmd_pool;
    VkCommandBuffer cmd;           /* the graph being recorded */
    VkCommandBuffer xfer;          /* one-shot staging copies */
    VkFence fence;

    /* vk_pipeline.c */
    VkPipelineCache pipeline_cache;
    VkDescriptorSetLayout set_layout;
    VkPipelineLayout pipeline_layout;
    vk_pipeline_entry *pipelines;
    uint32_t n_pipelines, cap_pipelines;

    /* per graph: rewound by vk_device_begin_graph */
    VkDescriptorPool *pools;
    uint32_t n_pools, cur_pool, pool_used;
    vk_arena args;                 /* host-visible vk_args records */
    vk_arena scratch;              /* device-local, vk_scratch */
    uint32_t args_stride;          /* sizeof(vk_args) rounded to the
                                      uniform offset alignment */
    uint32_t cur_node;             /* node being recorded (push constant) */

    /* host-visible, coherent: {flag, node, id, 0}, the first out-of-range
    ** id a shader met in the last graph (common.glsl report_bad_id) */
    vk_buffer status;

    vk_buffer staging;             /* host-visible, grows up to a bound */
};

slm_status_t vk_device_open(uint32_t index, const slm_device_open_opts_t *opts,
                            void **out_device);
void vk_device_close(void *device);

/* Rewind the per-graph arenas and clear the status word. */
void vk_device_begin_graph(vk_device *d);

/* Room for one vk_args record: its buffer and byte offset. */
slm_status_t vk_device_args_slot(vk_device *d, vk_buffer **buf,
                                 uint32_t *offset);

/* A descriptor set of the shared layout, valid until the next graph. */
slm_status_t vk_device_descriptor_set(vk_device *d, VkDescriptorSet *out);

/* ------------------------------------------------------------ vk_buffer.c */

/* Which memory a buffer of the device gets. */
typedef enum vk_memory_kind {
    VK_MEMORY_DEVICE,      /* device-local, mapped when also host-visible */
    VK_MEMORY_HOST         /* host-visible and coherent (staging, args) */
} vk_memory_kind;

/* Create a buffer of `size` bytes usable as storage, uniform and transfer
** source/destination. `what` names it in error messages. */
slm_status_t vk_buffer_create(vk_device *d, VkDeviceSize size,
                              vk_memory_kind kind, const char *what,
                              vk_buffer *out);
void vk_buffer_destroy(vk_device *d, vk_buffer *b);

/* The buffer slots of the descriptor. */
slm_status_t vk_buffer_alloc(void *device, size_t size, slm_buffer_usage_t usage,
                             void **out_buffer, void **out_base);
void vk_buffer_free(void *device, void *buffer);
slm_status_t vk_buffer_write(void *device, void *buffer, size_t offset,
                             const void *src, size_t size);
slm_status_t vk_buffer_read(void *device, void *buffer, size_t offset,
                            void *dst, size_t size);

/* Submit the command buffer and wait for it (the device's fence). `what`
** names the work in error messages. */
slm_status_t vk_submit_and_wait(vk_device *d, VkCommandBuffer cmd,
                                const char *what);

/* ---------------------------------------------------------- vk_pipeline.c */

/* The descriptor set layout and pipeline layout every shader shares. */
slm_status_t vk_pipeline_layout_create(vk_device *d);

/* The pipeline of an embedded shader, built on first use. */
slm_status_t vk_pipeline_get(vk_device *d, const char *name, VkPipeline *out);

/* Destroy the pipelines, the cache and the layouts. */
void vk_pipelines_destroy(vk_device *d);

/* The SPIR-V of shader `name` (a name from a shaders/ *.list file) and its
** size in bytes, or NULL. Generated at build time (vk_shaders.c). */
const uint32_t *vk_shader_code(const char *name, size_t *n_bytes);

/* ------------------------------------------------------------- vk_graph.c */

bool vk_supports_node(void *device, const slm_node_t *node);
slm_status_t vk_graph_compute(void *device, const slm_graph_t *graph);

#endif /* SLM_VK_DEVICE_H */
