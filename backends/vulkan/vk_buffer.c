/*
** vk_buffer.c -- device buffers and the transfers between them and the host.
**
** Tensors live in device-local memory. Where that memory is also host-
** visible and coherent (integrated GPUs, lavapipe) a buffer is mapped for
** good and written and read with memcpy; elsewhere transfers go through a
** host-visible staging buffer of at most VK_STAGING_MAX bytes, one copy
** command per chunk. The host is never given a pointer into a buffer: the
** device does not claim SLM_DEVICE_FLAG_HOST_MEMORY, even when mapped.
*/
#include <stdlib.h>
#include <string.h>

#include "vk_device.h"

/* Bound on the staging buffer: larger transfers are chunked. */
#define VK_STAGING_MAX ((VkDeviceSize)64 << 20)

/* Shaders read whole 32-bit words, so every buffer gets a little slack. */
#define VK_BUFFER_ROUND 16

/* A memory type in `bits` with all of `want` and none of `avoid`, or -1. */
static int find_type(const VkPhysicalDeviceMemoryProperties *m, uint32_t bits,
                     VkMemoryPropertyFlags want, VkMemoryPropertyFlags avoid)
{
    for (uint32_t i = 0; i < m->memoryTypeCount; i++) {
        VkMemoryPropertyFlags f = m->memoryTypes[i].propertyFlags;
        if ((bits & (1u << i)) && (f & want) == want && !(f & avoid))
            return (int)i;
    }
    return -1;
}

/* Device buffers prefer memory the host cannot see (VRAM proper, read by
** the host only through staging), then device-local memory the host maps
** coherently; host buffers want coherent, preferably cached, memory. */
static int choose_type(const VkPhysicalDeviceMemoryProperties *m, uint32_t bits,
                       vk_memory_kind kind)
{
    const VkMemoryPropertyFlags local = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
    const VkMemoryPropertyFlags host = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                       VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    int t = -1;
    if (kind == VK_MEMORY_DEVICE) {
        t = find_type(m, bits, local, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT);
        if (t < 0)
            t = find_type(m, bits, local | host, 0);
        if (t < 0)
            t = find_type(m, bits, local, 0);
    }
    if (t < 0)
        t = find_type(m, bits, host | VK_MEMORY_PROPERTY_HOST_CACHED_BIT, 0);
    if (t < 0)
        t = find_type(m, bits, host, 0);
    return t;
}

slm_status_t vk_buffer_create(vk_device *d, VkDeviceSize size,
                              vk_memory_kind kind, const char *what,
                              vk_buffer *out)
{
    memset(out, 0, sizeof *out);
    char rb[16];
    VkDeviceSize rounded = (size + VK_BUFFER_ROUND - 1) / VK_BUFFER_ROUND * VK_BUFFER_ROUND;
    VkBufferCreateInfo bci = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = rounded,
        .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_UNIFORM_BUFFER_BIT |
                 VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
    };
    VkResult r = d->vkCreateBuffer(d->dev, &bci, NULL, &out->buf);
    if (r != VK_SUCCESS)
        return vk_error(r == VK_ERROR_OUT_OF_DEVICE_MEMORY ? SLM_ERR_NO_MEMORY : SLM_ERR_DEVICE,
                        "vkCreateBuffer(%llu bytes, %s): %s", (unsigned long long)size,
                        what, vk_result_name(r, rb));
    VkMemoryRequirements req;
    d->vkGetBufferMemoryRequirements(d->dev, out->buf, &req);
    int type = choose_type(&d->phys.mem, req.memoryTypeBits, kind);
    if (type < 0) {
        vk_buffer_destroy(d, out);
        return vk_error(SLM_ERR_DEVICE, "%s (%llu bytes): no suitable memory type", what,
                        (unsigned long long)size);
    }
    VkMemoryAllocateInfo mai = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
        .allocationSize = req.size,
        .memoryTypeIndex = (uint32_t)type,
    };
    r = d->vkAllocateMemory(d->dev, &mai, NULL, &out->mem);
    if (r != VK_SUCCESS) {
        out->mem = VK_NULL_HANDLE;
        vk_buffer_destroy(d, out);
        return vk_error(r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY
                            ? SLM_ERR_NO_MEMORY : SLM_ERR_DEVICE,
                        "vkAllocateMemory(%llu bytes, %s): %s",
                        (unsigned long long)req.size, what, vk_result_name(r, rb));
    }
    r = d->vkBindBufferMemory(d->dev, out->buf, out->mem, 0);
    if (r != VK_SUCCESS) {
        vk_buffer_destroy(d, out);
        return vk_error(SLM_ERR_DEVICE, "vkBindBufferMemory(%s): %s", what,
                        vk_result_name(r, rb));
    }
    VkMemoryPropertyFlags flags = d->phys.mem.memoryTypes[type].propertyFlags;
    const VkMemoryPropertyFlags coherent = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                           VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    if ((flags & coherent) == coherent) {
        r = d->vkMapMemory(d->dev, out->mem, 0, VK_WHOLE_SIZE, 0, &out->mapped);
        if (r != VK_SUCCESS) {
            out->mapped = NULL;
            vk_buffer_destroy(d, out);
            return vk_error(SLM_ERR_DEVICE, "vkMapMemory(%llu bytes, %s): %s",
                            (unsigned long long)req.size, what, vk_result_name(r, rb));
        }
    }
    out->size = size;
    return SLM_OK;
}

void vk_buffer_destroy(vk_device *d, vk_buffer *b)
{
    if (b->mapped)
        d->vkUnmapMemory(d->dev, b->mem);
    if (b->buf)
        d->vkDestroyBuffer(d->dev, b->buf, NULL);
    if (b->mem)
        d->vkFreeMemory(d->dev, b->mem, NULL);
    memset(b, 0, sizeof *b);
}

slm_status_t vk_submit_and_wait(vk_device *d, VkCommandBuffer cmd, const char *what)
{
    char rb[16];
    VkSubmitInfo si = {
        .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
        .commandBufferCount = 1,
        .pCommandBuffers = &cmd,
    };
    VkResult r = d->vkQueueSubmit(d->queue, 1, &si, d->fence);
    if (r == VK_SUCCESS) {
        r = d->vkWaitForFences(d->dev, 1, &d->fence, VK_TRUE, UINT64_MAX);
        VkResult rr = d->vkResetFences(d->dev, 1, &d->fence);
        if (r == VK_SUCCESS)
            r = rr;
        if (r != VK_SUCCESS)
            return vk_error(r == VK_ERROR_DEVICE_LOST ? SLM_ERR_DEVICE : SLM_ERR_INTERNAL,
                            "vkWaitForFences(%s): %s", what, vk_result_name(r, rb));
        return SLM_OK;
    }
    return vk_error(r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY
                        ? SLM_ERR_NO_MEMORY : SLM_ERR_DEVICE,
                    "vkQueueSubmit(%s): %s", what, vk_result_name(r, rb));
}

/* ------------------------------------------------------------ staging */

/* A staging buffer of at least `want` bytes (want <= VK_STAGING_MAX). */
static slm_status_t staging(vk_device *d, VkDeviceSize want)
{
    if (d->staging.buf && d->staging.size >= want)
        return SLM_OK;
    VkDeviceSize size = d->staging.size * 2 > want ? d->staging.size * 2 : want;
    if (size < ((VkDeviceSize)1 << 20))
        size = (VkDeviceSize)1 << 20;
    if (size > VK_STAGING_MAX)
        size = VK_STAGING_MAX;
    vk_buffer_destroy(d, &d->staging);
    return vk_buffer_create(d, size, VK_MEMORY_HOST, "staging buffer", &d->staging);
}

/* Copy `size` bytes between the staging buffer (at 0) and b (at offset) on
** the device; to_device says which way. Waits for the copy. */
static slm_status_t staged_copy(vk_device *d, vk_buffer *b, VkDeviceSize offset,
                                VkDeviceSize size, bool to_device)
{
    char rb[16];
    VkCommandBufferBeginInfo bi = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
        .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
    };
    VkResult r = d->vkBeginCommandBuffer(d->xfer, &bi);
    if (r != VK_SUCCESS)
        return vk_error(SLM_ERR_DEVICE, "vkBeginCommandBuffer(transfer): %s",
                        vk_result_name(r, rb));
    /* Earlier graphs wrote with shaders; the copy reads or overwrites. */
    VkMemoryBarrier before = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
    };
    d->vkCmdPipelineBarrier(d->xfer, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT |
                                         VK_PIPELINE_STAGE_TRANSFER_BIT,
                            VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &before, 0, NULL, 0, NULL);
    VkBufferCopy region = {
        .srcOffset = to_device ? 0 : offset,
        .dstOffset = to_device ? offset : 0,
        .size = size,
    };
    d->vkCmdCopyBuffer(d->xfer, to_device ? d->staging.buf : b->buf,
                       to_device ? b->buf : d->staging.buf, 1, &region);
    VkMemoryBarrier after = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_HOST_READ_BIT,
    };
    d->vkCmdPipelineBarrier(d->xfer, VK_PIPELINE_STAGE_TRANSFER_BIT,
                            VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &after, 0, NULL, 0, NULL);
    r = d->vkEndCommandBuffer(d->xfer);
    if (r != VK_SUCCESS)
        return vk_error(SLM_ERR_DEVICE, "vkEndCommandBuffer(transfer): %s",
                        vk_result_name(r, rb));
    return vk_submit_and_wait(d, d->xfer, to_device ? "buffer_write" : "buffer_read");
}

/* ---------------------------------------------------------------- slots */

slm_status_t vk_buffer_alloc(void *device, size_t size, slm_buffer_usage_t usage,
                             void **out_buffer, void **out_base)
{
    (void)usage; /* one layout for everything: the GGUF bytes */
    vk_device *d = device;
    if (!d || !out_buffer || size == 0)
        return vk_error(SLM_ERR_INVALID_ARG, "buffer_alloc(%zu bytes): bad arguments", size);
    if (out_base)
        *out_base = NULL;
    const VkPhysicalDeviceLimits *lim = &d->phys.props.limits;
    /* Shaders address bytes with 32-bit offsets, and bind whole buffers. */
    struct { uint64_t limit; const char *what; } limits[] = {
        {UINT32_MAX, "the 4 GiB - 1 a shader can address"},
        {d->phys.maint3.maxMemoryAllocationSize, "maxMemoryAllocationSize"},
        {lim->maxStorageBufferRange, "maxStorageBufferRange"},
    };
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++)
        if (limits[i].limit && (uint64_t)size > limits[i].limit)
            return vk_error(SLM_ERR_NO_MEMORY,
                            "buffer_alloc(%zu bytes): more than %s (%llu bytes)",
                            size, limits[i].what, (unsigned long long)limits[i].limit);
    vk_buffer *b = calloc(1, sizeof *b);
    if (!b)
        return vk_error(SLM_ERR_NO_MEMORY, "buffer_alloc(%zu bytes): out of host memory",
                        size);
    slm_status_t st = vk_buffer_create(d, size, VK_MEMORY_DEVICE, "buffer_alloc", b);
    if (st != SLM_OK) {
        free(b);
        return st;
    }
    *out_buffer = b;
    return SLM_OK;
}

void vk_buffer_free(void *device, void *buffer)
{
    if (!device || !buffer)
        return;
    vk_buffer_destroy(device, buffer);
    free(buffer);
}

/* Checks shared by buffer_write and buffer_read. */
static slm_status_t check_range(const vk_device *d, const vk_buffer *b, size_t offset,
                                const void *host, size_t size, const char *slot)
{
    if (!d || !b || (!host && size > 0))
        return vk_error(SLM_ERR_INVALID_ARG, "%s: bad arguments", slot);
    if (offset > b->size || size > b->size - offset)
        return vk_error(SLM_ERR_INVALID_ARG,
                        "%s(offset %zu, %zu bytes): outside the buffer of %llu bytes",
                        slot, offset, size, (unsigned long long)b->size);
    return SLM_OK;
}

slm_status_t vk_buffer_write(void *device, void *buffer, size_t offset,
                             const void *src, size_t size)
{
    vk_device *d = device;
    vk_buffer *b = buffer;
    slm_status_t st = check_range(d, b, offset, src, size, "buffer_write");
    if (st != SLM_OK || size == 0)
        return st;
    if (b->mapped) {
        memcpy((char *)b->mapped + offset, src, size);
        return SLM_OK;
    }
    for (size_t done = 0; done < size;) {
        size_t n = size - done < VK_STAGING_MAX ? size - done : (size_t)VK_STAGING_MAX;
        if ((st = staging(d, n)) != SLM_OK)
            return st;
        n = n < d->staging.size ? n : (size_t)d->staging.size;
        memcpy(d->staging.mapped, (const char *)src + done, n);
        if ((st = staged_copy(d, b, offset + done, n, true)) != SLM_OK)
            return st;
        done += n;
    }
    return SLM_OK;
}

slm_status_t vk_buffer_read(void *device, void *buffer, size_t offset,
                            void *dst, size_t size)
{
    vk_device *d = device;
    vk_buffer *b = buffer;
    slm_status_t st = check_range(d, b, offset, dst, size, "buffer_read");
    if (st != SLM_OK || size == 0)
        return st;
    if (b->mapped) {
        memcpy(dst, (const char *)b->mapped + offset, size);
        return SLM_OK;
    }
    for (size_t done = 0; done < size;) {
        size_t n = size - done < VK_STAGING_MAX ? size - done : (size_t)VK_STAGING_MAX;
        if ((st = staging(d, n)) != SLM_OK)
            return st;
        n = n < d->staging.size ? n : (size_t)d->staging.size;
        if ((st = staged_copy(d, b, offset + done, n, false)) != SLM_OK)
            return st;
        memcpy((char *)dst + done, d->staging.mapped, n);
        done += n;
    }
    return SLM_OK;
}
