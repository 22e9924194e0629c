/*
** cl_buffer.c -- device buffers and the transfers between them and the host.
**
** Every tensor lives in a cl_mem of CL_MEM_READ_WRITE, written and read with
** blocking transfers on the device's queue, which also orders them after
** the graphs enqueued before. The host never gets a pointer into a buffer,
** even where the device shares host memory (PoCL): the device does not
** claim SLM_DEVICE_FLAG_HOST_MEMORY.
*/
#include <stdlib.h>
#include <string.h>

#include "cl_device.h"

/* Kernels may read whole 32-bit words of a tensor's last bytes: every
** buffer gets a little slack. */
#define CL_BUFFER_ROUND 16

slm_status_t cl_buf_create(cl_dev *d, size_t size, const char *what, cl_buf *out)
{
    char eb[32];
    memset(out, 0, sizeof *out);
    size_t rounded = (size + CL_BUFFER_ROUND - 1) / CL_BUFFER_ROUND * CL_BUFFER_ROUND;
    cl_int err = CL_SUCCESS;
    out->mem = d->lib.clCreateBuffer(d->ctx, CL_MEM_READ_WRITE, rounded, NULL, &err);
    if (err != CL_SUCCESS) {
        out->mem = NULL;
        return cl_error(err == CL_MEM_OBJECT_ALLOCATION_FAILURE ||
                                err == CL_OUT_OF_RESOURCES || err == CL_OUT_OF_HOST_MEMORY ||
                                err == CL_INVALID_BUFFER_SIZE
                            ? SLM_ERR_NO_MEMORY : SLM_ERR_DEVICE,
                        "clCreateBuffer(%zu bytes, %s): %s", size, what,
                        cl_error_name(err, eb));
    }
    out->size = size;
    return SLM_OK;
}

void cl_buf_destroy(cl_dev *d, cl_buf *b)
{
    if (b->mem)
        d->lib.clReleaseMemObject(b->mem);
    memset(b, 0, sizeof *b);
}

/* ---------------------------------------------------------------- slots */

slm_status_t cl_buffer_alloc(void *device, size_t size, slm_buffer_usage_t usage,
                             void **out_buffer, void **out_base)
{
    (void)usage; /* one layout for everything: the GGUF bytes */
    cl_dev *d = device;
    if (!d || !out_buffer || size == 0)
        return cl_error(SLM_ERR_INVALID_ARG, "buffer_alloc(%zu bytes): bad arguments", size);
    if (out_base)
        *out_base = NULL;
    /* Kernels address bytes with 32-bit offsets; the driver bounds one
    ** allocation (PoCL reports 1 GiB without enforcing it: still kept, so
    ** that what passes here also passes on a driver that does). */
    struct { uint64_t limit; const char *what; } limits[] = {
        {UINT32_MAX, "the 4 GiB - 1 a kernel can address"},
        {d->info.max_alloc, "CL_DEVICE_MAX_MEM_ALLOC_SIZE"},
    };
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++)
        if (limits[i].limit && (uint64_t)size > limits[i].limit)
            return cl_error(SLM_ERR_NO_MEMORY,
                            "buffer_alloc(%zu bytes): more than %s (%llu bytes)",
                            size, limits[i].what, (unsigned long long)limits[i].limit);
    cl_buf *b = calloc(1, sizeof *b);
    if (!b)
        return cl_error(SLM_ERR_NO_MEMORY, "buffer_alloc(%zu bytes): out of host memory",
                        size);
    slm_status_t st = cl_buf_create(d, size, "buffer_alloc", b);
    if (st != SLM_OK) {
        free(b);
        return st;
    }
    *out_buffer = b;
    return SLM_OK;
}

void cl_buffer_free(void *device, void *buffer)
{
    if (!device || !buffer)
        return;
    cl_buf_destroy(device, buffer);
    free(buffer);
}

/* Checks shared by buffer_write and buffer_read. */
static slm_status_t check_range(const cl_dev *d, const cl_buf *b, size_t offset,
                                const void *host, size_t size, const char *slot)
{
    if (!d || !b || (!host && size > 0))
        return cl_error(SLM_ERR_INVALID_ARG, "%s: bad arguments", slot);
    if (offset > b->size || size > b->size - offset)
        return cl_error(SLM_ERR_INVALID_ARG,
                        "%s(offset %zu, %zu bytes): outside the buffer of %zu bytes",
                        slot, offset, size, b->size);
    return SLM_OK;
}

slm_status_t cl_buffer_write(void *device, void *buffer, size_t offset,
                             const void *src, size_t size)
{
    cl_dev *d = device;
    cl_buf *b = buffer;
    slm_status_t st = check_range(d, b, offset, src, size, "buffer_write");
    if (st != SLM_OK || size == 0)
        return st;
    char eb[32];
    cl_int err = d->lib.clEnqueueWriteBuffer(d->queue, b->mem, CL_TRUE, offset, size, src,
                                             0, NULL, NULL);
    if (err != CL_SUCCESS)
        return cl_error(SLM_ERR_DEVICE, "clEnqueueWriteBuffer(offset %zu, %zu bytes): %s",
                        offset, size, cl_error_name(err, eb));
    return SLM_OK;
}

slm_status_t cl_buffer_read(void *device, void *buffer, size_t offset, void *dst,
                            size_t size)
{
    cl_dev *d = device;
    cl_buf *b = buffer;
    slm_status_t st = check_range(d, b, offset, dst, size, "buffer_read");
    if (st != SLM_OK || size == 0)
        return st;
    char eb[32];
    cl_int err = d->lib.clEnqueueReadBuffer(d->queue, b->mem, CL_TRUE, offset, size, dst,
                                            0, NULL, NULL);
    if (err != CL_SUCCESS)
        return cl_error(SLM_ERR_DEVICE, "clEnqueueReadBuffer(offset %zu, %zu bytes): %s",
                        offset, size, cl_error_name(err, eb));
    return SLM_OK;
}
