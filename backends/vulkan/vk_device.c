/*
** vk_device.c -- opening and closing a device, and the memory a graph
** records into.
**
** A device holds one compute queue, one command buffer for graphs and one
** for staging copies, and three per-graph arenas rewound at the start of
** each graph: descriptor pools, a host-visible ring of vk_args records (the
** uniform bound with a dynamic offset) and device-local scratch. Each grows
** by adding a chunk (twice the last) when a graph needs more, so after the
** first runs of a model nothing is allocated per graph.
*/
#include <stdlib.h>
#include <string.h>

#include "vk_device.h"

#define VK_SETS_PER_POOL 256
#define VK_ARGS_FIRST_CHUNK ((VkDeviceSize)64 << 10)
#define VK_SCRATCH_FIRST_CHUNK ((VkDeviceSize)4 << 20)
#define VK_SCRATCH_ALIGN 256

const vk_caps *vk_device_caps(const vk_device *d)
{
    return &d->phys.caps;
}

/* -------------------------------------------------------------- arenas */

/* Take `bytes` at an `align`ed offset from the arena; a new chunk when the
** current one is full. The vk_buffer stays at its address until close. */
static slm_status_t arena_take(vk_device *d, vk_arena *a, VkDeviceSize bytes,
                               VkDeviceSize align, vk_memory_kind kind,
                               VkDeviceSize first, const char *what,
                               vk_buffer **buf, VkDeviceSize *offset)
{
    if (a->n_chunks) {
        VkDeviceSize o = (a->used + align - 1) / align * align;
        if (o + bytes <= a->chunks[a->cur]->size) {
            a->used = o + bytes;
            *buf = a->chunks[a->cur];
            *offset = o;
            return SLM_OK;
        }
        /* A later chunk large enough moves up to be the next one. */
        for (uint32_t i = a->cur + 1; i < a->n_chunks; i++)
            if (a->chunks[i]->size >= bytes) {
                vk_buffer *t = a->chunks[a->cur + 1];
                a->chunks[a->cur + 1] = a->chunks[i];
                a->chunks[i] = t;
                a->cur++;
                a->used = bytes;
                *buf = a->chunks[a->cur];
                *offset = 0;
                return SLM_OK;
            }
    }
    VkDeviceSize size = a->n_chunks ? a->chunks[a->n_chunks - 1]->size * 2 : first;
    if (size < bytes)
        size = bytes;
    if (size > UINT32_MAX)
        return vk_error(SLM_ERR_NO_MEMORY, "%s: %llu bytes is more than a shader can "
                        "address", what, (unsigned long long)size);
    vk_buffer **chunks = realloc(a->chunks, (a->n_chunks + 1) * sizeof *chunks);
    if (!chunks)
        return vk_error(SLM_ERR_NO_MEMORY, "%s: out of host memory", what);
    a->chunks = chunks;
    vk_buffer *b = calloc(1, sizeof *b);
    if (!b)
        return vk_error(SLM_ERR_NO_MEMORY, "%s: out of host memory", what);
    slm_status_t st = vk_buffer_create(d, size, kind, what, b);
    if (st != SLM_OK) {
        free(b);
        return st;
    }
    /* The new chunk becomes the next one; whatever was there goes last. */
    uint32_t at = a->n_chunks ? a->cur + 1 : 0;
    a->chunks[a->n_chunks++] = b;
    if (at != a->n_chunks - 1) {
        a->chunks[a->n_chunks - 1] = a->chunks[at];
        a->chunks[at] = b;
    }
    a->cur = at;
    a->used = bytes;
    *buf = b;
    *offset = 0;
    return SLM_OK;
}

static void arena_destroy(vk_device *d, vk_arena *a)
{
    for (uint32_t i = 0; i < a->n_chunks; i++) {
        vk_buffer_destroy(d, a->chunks[i]);
        free(a->chunks[i]);
    }
    free(a->chunks);
    memset(a, 0, sizeof *a);
}

slm_status_t vk_device_args_slot(vk_device *d, vk_buffer **buf, uint32_t *offset)
{
    VkDeviceSize o = 0;
    slm_status_t st = arena_take(d, &d->args, sizeof(vk_args), d->args_stride,
                                 VK_MEMORY_HOST, VK_ARGS_FIRST_CHUNK,
                                 "argument ring", buf, &o);
    *offset = (uint32_t)o;
    return st;
}

slm_status_t vk_scratch(vk_device *d, size_t bytes, vk_buffer **buf, uint32_t *offset)
{
    VkDeviceSize o = 0;
    slm_status_t st = arena_take(d, &d->scratch, bytes ? bytes : 1, VK_SCRATCH_ALIGN,
                                 VK_MEMORY_DEVICE, VK_SCRATCH_FIRST_CHUNK,
                                 "scratch memory", buf, &o);
    *offset = (uint32_t)o;
    return st;
}

slm_status_t vk_device_descriptor_set(vk_device *d, VkDescriptorSet *out)
{
    char rb[16];
    if (d->n_pools == 0 || d->pool_used == VK_SETS_PER_POOL) {
        uint32_t next = d->n_pools ? d->cur_pool + 1 : 0;
        if (next == d->n_pools) {
            VkDescriptorPool *pools = realloc(d->pools, (d->n_pools + 1) * sizeof *pools);
            if (!pools)
                return vk_error(SLM_ERR_NO_MEMORY, "descriptor pools: out of host memory");
            d->pools = pools;
            VkDescriptorPoolSize sizes[] = {
                {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 5 * VK_SETS_PER_POOL},
                {VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER_DYNAMIC, VK_SETS_PER_POOL},
            };
            VkDescriptorPoolCreateInfo pci = {
                .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                .maxSets = VK_SETS_PER_POOL,
                .poolSizeCount = 2,
                .pPoolSizes = sizes,
            };
            VkResult r = d->vkCreateDescriptorPool(d->dev, &pci, NULL, &d->pools[d->n_pools]);
            if (r != VK_SUCCESS)
                return vk_error(SLM_ERR_NO_MEMORY, "vkCreateDescriptorPool(%u sets): %s",
                                VK_SETS_PER_POOL, vk_result_name(r, rb));
            d->n_pools++;
        }
        d->cur_pool = next;
        d->pool_used = 0;
    }
    VkDescriptorSetAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
        .descriptorPool = d->pools[d->cur_pool],
        .descriptorSetCount = 1,
        .pSetLayouts = &d->set_layout,
    };
    VkResult r = d->vkAllocateDescriptorSets(d->dev, &ai, out);
    if (r != VK_SUCCESS)
        return vk_error(SLM_ERR_NO_MEMORY, "vkAllocateDescriptorSets: %s",
                        vk_result_name(r, rb));
    d->pool_used++;
    return SLM_OK;
}

void vk_device_begin_graph(vk_device *d)
{
    for (uint32_t i = 0; i < d->n_pools && i <= d->cur_pool; i++)
        d->vkResetDescriptorPool(d->dev, d->pools[i], 0);
    d->cur_pool = 0;
    d->pool_used = 0;
    d->args.cur = 0;
    d->args.used = 0;
    d->scratch.cur = 0;
    d->scratch.used = 0;
    d->cur_node = 0;
    memset(d->status.mapped, 0, 16);
}

/* ---------------------------------------------------------- open/close */

/* The device functions, or the name of the first one missing. */
static const char *load_device_fns(vk_device *d)
{
#define LOAD_DEVICE(name)                                                    \
    d->name = (PFN_##name)d->inst.vkGetDeviceProcAddr(d->dev, #name);        \
    if (!d->name)                                                            \
        return #name;
    VK_DEVICE_FNS(LOAD_DEVICE)
#undef LOAD_DEVICE
    return NULL;
}

/* Create the logical device with every optional feature the shaders may
** use where the physical device has it (vk_caps says which). */
static slm_status_t create_device(vk_device *d)
{
    const vk_physical *p = &d->phys;
    const vk_caps *c = &p->caps;
    VkPhysicalDeviceVulkan13Features f13 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES,
        .shaderIntegerDotProduct = c->int_dot,
        .subgroupSizeControl = p->f13.subgroupSizeControl,
        .computeFullSubgroups = p->f13.computeFullSubgroups,
    };
    VkPhysicalDeviceVulkan12Features f12 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
        .pNext = p->f13.sType ? &f13 : NULL,
        .shaderFloat16 = c->fp16,
        .shaderInt8 = c->int8,
        .storageBuffer8BitAccess = c->storage8,
        .uniformAndStorageBuffer8BitAccess = p->f12.uniformAndStorageBuffer8BitAccess,
    };
    VkPhysicalDeviceVulkan11Features f11 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
        .pNext = &f12,
        .storageBuffer16BitAccess = c->storage16,
        .uniformAndStorageBuffer16BitAccess = p->f11.uniformAndStorageBuffer16BitAccess,
    };
    VkPhysicalDeviceFeatures2 f10 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
        .pNext = &f11,
        .features = {
            .shaderFloat64 = c->fp64,
            .shaderInt64 = c->int64,
            .shaderInt16 = p->f10.features.shaderInt16,
        },
    };
    float priority = 1.0f;
    VkDeviceQueueCreateInfo qci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
        .queueFamilyIndex = p->queue_family,
        .queueCount = 1,
        .pQueuePriorities = &priority,
    };
    VkDeviceCreateInfo dci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
        .pNext = &f10,
        .queueCreateInfoCount = 1,
        .pQueueCreateInfos = &qci,
    };
    char rb[16];
    VkResult r = d->inst.vkCreateDevice(p->handle, &dci, NULL, &d->dev);
    if (r != VK_SUCCESS) {
        d->dev = VK_NULL_HANDLE;
        return vk_error(SLM_ERR_DEVICE, "vkCreateDevice(%s): %s", p->props.deviceName,
                        vk_result_name(r, rb));
    }
    const char *missing = load_device_fns(d);
    if (missing) {
        PFN_vkDestroyDevice destroy =
            (PFN_vkDestroyDevice)d->inst.vkGetDeviceProcAddr(d->dev, "vkDestroyDevice");
        if (destroy)
            destroy(d->dev, NULL);
        d->dev = VK_NULL_HANDLE;
        return vk_error(SLM_ERR_DEVICE, "device_open(%s): the driver lacks %s",
                        p->props.deviceName, missing);
    }
    d->vkGetDeviceQueue(d->dev, p->queue_family, 0, &d->queue);
    return SLM_OK;
}

/* Command pool, the two command buffers and the fence. */
static slm_status_t create_commands(vk_device *d)
{
    char rb[16];
    VkCommandPoolCreateInfo pci = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
        .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
        .queueFamilyIndex = d->phys.queue_family,
    };
    VkResult r = d->vkCreateCommandPool(d->dev, &pci, NULL, &d->cmd_pool);
    if (r != VK_SUCCESS)
        return vk_error(SLM_ERR_DEVICE, "vkCreateCommandPool: %s", vk_result_name(r, rb));
    VkCommandBuffer cmds[2];
    VkCommandBufferAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = d->cmd_pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = 2,
    };
    r = d->vkAllocateCommandBuffers(d->dev, &ai, cmds);
    if (r != VK_SUCCESS)
        return vk_error(SLM_ERR_DEVICE, "vkAllocateCommandBuffers: %s", vk_result_name(r, rb));
    d->cmd = cmds[0];
    d->xfer = cmds[1];
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    r = d->vkCreateFence(d->dev, &fci, NULL, &d->fence);
    if (r != VK_SUCCESS)
        return vk_error(SLM_ERR_DEVICE, "vkCreateFence: %s", vk_result_name(r, rb));
    return SLM_OK;
}

slm_status_t vk_device_open(uint32_t index, const slm_device_open_opts_t *opts,
                            void **out_device)
{
    (void)opts; /* n_threads is for CPU devices */
    if (!out_device)
        return vk_error(SLM_ERR_INVALID_ARG, "device_open: no output handle");
    vk_device *d = calloc(1, sizeof *d);
    if (!d)
        return vk_error(SLM_ERR_NO_MEMORY, "device_open: out of host memory");
    slm_status_t st = vk_instance_open(&d->inst);
    if (st == SLM_OK && !d->inst.instance)
        st = vk_error(SLM_ERR_NO_DEVICE, "device_open(%u): Vulkan is not available", index);
    vk_physical phys[SLM_MAX_DEVICES_PER_PLUGIN];
    uint32_t n = 0;
    if (st == SLM_OK)
        st = vk_usable_devices(&d->inst, false, phys, SLM_MAX_DEVICES_PER_PLUGIN, &n);
    if (st == SLM_OK && index >= n)
        st = vk_error(SLM_ERR_INVALID_ARG, "device_open(%u): the vulkan backend has %u "
                      "device(s)", index, n);
    if (st == SLM_OK) {
        d->phys = phys[index];
        st = create_device(d);
    }
    if (st == SLM_OK)
        st = create_commands(d);
    if (st == SLM_OK)
        st = vk_pipeline_layout_create(d);
    if (st == SLM_OK)
        st = vk_buffer_create(d, 16, VK_MEMORY_HOST, "status word", &d->status);
    if (st != SLM_OK) {
        vk_device_close(d);
        return st;
    }
    VkDeviceSize align = d->phys.props.limits.minUniformBufferOffsetAlignment;
    if (align < 16)
        align = 16;
    d->args_stride = (uint32_t)((sizeof(vk_args) + align - 1) / align * align);
    vk_log(SLM_LOG_DEBUG, "vulkan: opened %s (queue family %u)",
           d->phys.props.deviceName, d->phys.queue_family);
    *out_device = d;
    return SLM_OK;
}

void vk_device_close(void *device)
{
    vk_device *d = device;
    if (!d)
        return;
    if (d->dev) {
        d->vkDeviceWaitIdle(d->dev);
        vk_buffer_destroy(d, &d->status);
        vk_buffer_destroy(d, &d->staging);
        arena_destroy(d, &d->args);
        arena_destroy(d, &d->scratch);
        for (uint32_t i = 0; i < d->n_pools; i++)
            d->vkDestroyDescriptorPool(d->dev, d->pools[i], NULL);
        vk_pipelines_destroy(d);
        if (d->fence)
            d->vkDestroyFence(d->dev, d->fence, NULL);
        if (d->cmd_pool)
            d->vkDestroyCommandPool(d->dev, d->cmd_pool, NULL);
        d->vkDestroyDevice(d->dev, NULL);
    }
    free(d->pools);
    vk_instance_close(&d->inst);
    free(d);
}
