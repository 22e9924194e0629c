/*
** cpu_buffer.c -- buffers in host memory, for every CPU backend.
**
** The reference and the SIMD backends keep tensors in plain host memory in
** the GGUF layout, so they share these slots and the check that a tensor
** lies inside its buffer.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_internal.h"

/* Room for the widest vector a later backend may load from a buffer it
** shares with this one; the reference itself needs no alignment. */
#define CPU_BUFFER_ALIGN 64

slm_status_t cpu_buffer_alloc(void *device, size_t size,
                              slm_buffer_usage_t usage,
                              void **out_buffer, void **out_base)
{
    (void)usage; /* one layout for everything: the GGUF bytes */
    if (!device || !out_buffer || !out_base || size == 0)
        return cpu_error(SLM_ERR_INVALID_ARG,
                         "buffer_alloc(%zu bytes): bad arguments", size);
    if (size > SIZE_MAX - CPU_BUFFER_ALIGN)
        return cpu_error(SLM_ERR_NO_MEMORY, "buffer_alloc(%zu bytes): too large",
                         size);
    /* aligned_alloc wants a multiple of the alignment. */
    size_t rounded = (size + CPU_BUFFER_ALIGN - 1) / CPU_BUFFER_ALIGN * CPU_BUFFER_ALIGN;
    CpuBuffer *buf = calloc(1, sizeof *buf);
    char *base = aligned_alloc(CPU_BUFFER_ALIGN, rounded);
    if (!buf || !base) {
        free(buf);
        free(base);
        return cpu_error(SLM_ERR_NO_MEMORY,
                         "buffer_alloc(%zu bytes): out of memory", size);
    }
    buf->base = base;
    buf->size = size;
    buf->owned = true;
    *out_buffer = buf;
    *out_base = base;
    return SLM_OK;
}

slm_status_t cpu_buffer_from_host_ptr(void *device, void *ptr,
                                      size_t size, void **out_buffer)
{
    if (!device || !ptr || size == 0 || !out_buffer)
        return cpu_error(SLM_ERR_INVALID_ARG,
                         "buffer_from_host_ptr(%p, %zu bytes): bad arguments",
                         ptr, size);
    CpuBuffer *buf = calloc(1, sizeof *buf);
    if (!buf)
        return cpu_error(SLM_ERR_NO_MEMORY, "buffer_from_host_ptr: out of memory");
    buf->base = ptr;
    buf->size = size;
    buf->owned = false;
    *out_buffer = buf;
    return SLM_OK;
}

void cpu_buffer_free(void *device, void *buffer)
{
    (void)device;
    CpuBuffer *buf = buffer;
    if (!buf)
        return;
    if (buf->owned)
        free(buf->base);
    free(buf);
}

/* Nonzero when [offset, offset + size) lies inside the buffer. */
static bool in_buffer(const CpuBuffer *buf, size_t offset, size_t size)
{
    return offset <= buf->size && size <= buf->size - offset;
}

slm_status_t cpu_buffer_write(void *device, void *buffer, size_t offset,
                              const void *src, size_t size)
{
    const CpuBuffer *buf = buffer;
    if (!device || !buf || (!src && size > 0))
        return cpu_error(SLM_ERR_INVALID_ARG, "buffer_write: bad arguments");
    if (!in_buffer(buf, offset, size))
        return cpu_error(SLM_ERR_INVALID_ARG,
                         "buffer_write(offset %zu, %zu bytes): past the end of "
                         "a %zu-byte buffer", offset, size, buf->size);
    if (size > 0)
        memcpy(buf->base + offset, src, size);
    return SLM_OK;
}

slm_status_t cpu_buffer_read(void *device, void *buffer, size_t offset,
                             void *dst, size_t size)
{
    const CpuBuffer *buf = buffer;
    if (!device || !buf || (!dst && size > 0))
        return cpu_error(SLM_ERR_INVALID_ARG, "buffer_read: bad arguments");
    if (!in_buffer(buf, offset, size))
        return cpu_error(SLM_ERR_INVALID_ARG,
                         "buffer_read(offset %zu, %zu bytes): past the end of "
                         "a %zu-byte buffer", offset, size, buf->size);
    if (size > 0)
        memcpy(dst, buf->base + offset, size);
    return SLM_OK;
}

/* Whether every byte the tensor's ne and nb can reach lies in its buffer,
** and data agrees with buffer and offset. A wrong view would otherwise make
** the reference read or write out of bounds, which no test could trust. */
bool cpu_tensor_in_buffer(const slm_tensor_t *t)
{
    const CpuBuffer *buf = t->buffer;
    if (!buf || !t->data || t->offset > buf->size ||
        (char *)t->data != buf->base + t->offset)
        return false;
    size_t room = buf->size - t->offset;
    size_t end = slm_dtype_block_bytes(t->dtype); /* past the last byte */
    for (int d = 0; d < SLM_MAX_DIMS; d++) {
        /* Along ne[0] a block type steps from block to block. */
        int64_t n = d == 0 ? t->ne[0] / slm_dtype_block_elems(t->dtype) : t->ne[d];
        size_t steps = (size_t)(n - 1);
        if (steps > 0 && t->nb[d] > room / steps)
            return false;
        end += steps * t->nb[d];
        if (end > room)
            return false;
    }
    return true;
}

slm_status_t cpu_check_runnable(const slm_node_t *node, uint32_t index)
{
    if (node->op == SLM_OP_NONE || (unsigned)node->op >= SLM_OP_COUNT)
        return cpu_error(SLM_ERR_UNSUPPORTED, "node %u: unknown op %d", index,
                         (int)node->op);
    const char *op = slm_op_name(node->op);
    const char *why = cpu_check_node(node);
    if (why)
        return cpu_error(SLM_ERR_INVALID_ARG, "node %u (%s): %s", index, op, why);
    for (int s = -1; s < SLM_MAX_SRC; s++) {
        const slm_tensor_t *t = s < 0 ? node->dst : node->src[s];
        if (t && !cpu_tensor_in_buffer(t))
            return cpu_error(SLM_ERR_INVALID_ARG,
                             "node %u (%s): tensor '%s' (%s) does not lie in "
                             "its buffer (buffer, offset, data or strides)",
                             index, op, t->name, s < 0 ? "dst" : "a source");
    }
    return SLM_OK;
}
