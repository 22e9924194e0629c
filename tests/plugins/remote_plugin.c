/*
** remote_plugin.c -- a test backend whose memory the host cannot address.
**
** It stands for a discrete GPU: one device of kind GPU without
** SLM_DEVICE_FLAG_HOST_MEMORY. Buffers are private malloc'd memory behind an
** opaque handle (buffer_alloc returns no base, there is no
** buffer_from_host_ptr), so bytes move only through buffer_write and
** buffer_read. It runs a few ops, contiguous only, with plain float loops:
** MUL_MAT (F32 or Q8_0 weights, F32 activations, which slm/graph.h has
** quantised to Q8_0 for Q8_0 weights), ADD, MUL, SILU. Every
** buffer_write is logged at DEBUG ("remote: write N bytes") so that tests
** can count uploads.
**
** Build options:
**   REMOTE_NAME="x"        descriptor name (default "remote")
**   REMOTE_FAIL_AFTER=n    buffer_alloc fails after n successful allocations
**   REMOTE_COPY            also runs COPY between contiguous F32 tensors, so
**                          that a graph can write a STATE tensor on a device
**                          without host memory
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slm/backend.h"

#ifndef REMOTE_NAME
#define REMOTE_NAME "remote"
#endif

static const slm_host_t *host;

typedef struct remote_buffer {
    size_t size;
    unsigned char *mem;
} remote_buffer;

typedef struct remote_device {
    unsigned n_allocs;
} remote_device;

static slm_status_t fail(slm_status_t st, const char *msg)
{
    host->set_error(host->ctx, msg);
    return st;
}

/* ------------------------------------------------------------------ device */

static slm_status_t remote_probe(slm_device_info_t *infos, uint32_t capacity,
                                 uint32_t *n_out)
{
    *n_out = 0;
    if (capacity < 1)
        return SLM_OK;
    slm_device_info_t *info = &infos[0];
    info->kind = SLM_DEVICE_GPU;
    info->flags = 0;
    snprintf(info->name, sizeof info->name, "simulated remote accelerator");
    snprintf(info->vendor, sizeof info->vendor, "slm tests");
    info->memory_total = (uint64_t)1 << 30;
    info->dtypes = SLM_DTYPE_BIT(SLM_DTYPE_F32) | SLM_DTYPE_BIT(SLM_DTYPE_Q8_0);
    info->ops = SLM_OP_BIT(SLM_OP_MUL_MAT) | SLM_OP_BIT(SLM_OP_ADD) |
                SLM_OP_BIT(SLM_OP_MUL) | SLM_OP_BIT(SLM_OP_SILU);
#ifdef REMOTE_COPY
    info->ops |= SLM_OP_BIT(SLM_OP_COPY);
#endif
    info->peak_gflops = 1000.0;
    info->memory_gbps = 500.0;
    *n_out = 1;
    return SLM_OK;
}

static slm_status_t remote_open(uint32_t index, const slm_device_open_opts_t *opts,
                                void **out)
{
    (void)opts;
    if (index != 0)
        return fail(SLM_ERR_INVALID_ARG, "remote: no such device");
    remote_device *d = calloc(1, sizeof *d);
    if (!d)
        return fail(SLM_ERR_NO_MEMORY, "remote: out of memory");
    *out = d;
    return SLM_OK;
}

static void remote_close(void *device)
{
    free(device);
}

/* ----------------------------------------------------------------- buffers */

static slm_status_t remote_alloc(void *device, size_t size,
                                 slm_buffer_usage_t usage, void **out_buffer,
                                 void **out_base)
{
    remote_device *d = device;
    (void)usage;
    *out_buffer = NULL;
    *out_base = NULL;
#ifdef REMOTE_FAIL_AFTER
    if (d->n_allocs >= REMOTE_FAIL_AFTER)
        return fail(SLM_ERR_NO_MEMORY, "simulated out of device memory");
#endif
    remote_buffer *b = malloc(sizeof *b);
    unsigned char *mem = malloc(size);
    if (!b || !mem) {
        free(b);
        free(mem);
        return fail(SLM_ERR_NO_MEMORY, "remote: out of memory");
    }
    b->size = size;
    b->mem = mem;
    d->n_allocs++;
    *out_buffer = b;
    return SLM_OK;
}

static void remote_free(void *device, void *buffer)
{
    remote_buffer *b = buffer;
    (void)device;
    if (b)
        free(b->mem);
    free(b);
}

static slm_status_t remote_write(void *device, void *buffer, size_t offset,
                                 const void *src, size_t size)
{
    remote_buffer *b = buffer;
    (void)device;
    if (offset > b->size || size > b->size - offset)
        return fail(SLM_ERR_INVALID_ARG, "remote: write past the buffer");
    memcpy(b->mem + offset, src, size);
    char msg[64];
    snprintf(msg, sizeof msg, "remote: write %zu bytes", size);
    host->log(host->ctx, SLM_LOG_DEBUG, msg);
    return SLM_OK;
}

static slm_status_t remote_read(void *device, void *buffer, size_t offset,
                                void *dst, size_t size)
{
    remote_buffer *b = buffer;
    (void)device;
    if (offset > b->size || size > b->size - offset)
        return fail(SLM_ERR_INVALID_ARG, "remote: read past the buffer");
    memcpy(dst, b->mem + offset, size);
    return SLM_OK;
}

/* --------------------------------------------------------------------- ops */

static bool is_f32(const slm_tensor_t *t)
{
    return t && t->dtype == SLM_DTYPE_F32 && slm_tensor_is_contiguous(t);
}

static bool remote_supports(void *device, const slm_node_t *node)
{
    (void)device;
    const slm_tensor_t *a = node->src[0], *b = node->src[1];
    if (!is_f32(node->dst) || !a || !slm_tensor_is_contiguous(a))
        return false;
    switch (node->op) {
    case SLM_OP_MUL_MAT:
        return (a->dtype == SLM_DTYPE_F32 || a->dtype == SLM_DTYPE_Q8_0) &&
               is_f32(b) && !node->src[2];
    case SLM_OP_ADD: case SLM_OP_MUL:
        return is_f32(a) && is_f32(b) && !node->src[2];
    case SLM_OP_SILU:
        return is_f32(a) && !b;
#ifdef REMOTE_COPY
    case SLM_OP_COPY:
        return is_f32(a) && !b;
#endif
    default:
        return false;
    }
}

static void *at(const slm_tensor_t *t)
{
    return ((remote_buffer *)t->buffer)->mem + t->offset;
}

/* Q8_0 weights meet their activations quantised to Q8_0 (slm/graph.h,
** MUL_MAT): per 32, d = amax / 127, q = roundf(x / d) with the float d,
** and d kept as f16. */
static void quantize_q8_0(const float *x, int64_t k, slm_block_q8_0 *out)
{
    for (int64_t i = 0; i < k / SLM_QK8_0; i++) {
        const float *v = x + i * SLM_QK8_0;
        float amax = 0.0f;
        for (int j = 0; j < SLM_QK8_0; j++)
            amax = fmaxf(amax, fabsf(v[j]));
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        out[i].d = slm_f32_to_f16(d);
        for (int j = 0; j < SLM_QK8_0; j++)
            out[i].qs[j] = (int8_t)roundf(v[j] * id);
    }
}

/* Weight row w (K elements of w's dtype) against activation row x, or, for
** Q8_0 weights, its blocks xq. */
static float dot(const slm_tensor_t *w, const unsigned char *row,
                 const float *x, const slm_block_q8_0 *xq)
{
    int64_t k = w->ne[0];
    float acc = 0.0f;
    if (w->dtype == SLM_DTYPE_F32) {
        const float *wf = (const float *)row;
        for (int64_t i = 0; i < k; i++)
            acc += wf[i] * x[i];
        return acc;
    }
    const slm_block_q8_0 *blk = (const slm_block_q8_0 *)row;
    for (int64_t i = 0; i < k / SLM_QK8_0; i++) {
        int sum = 0;
        for (int j = 0; j < SLM_QK8_0; j++)
            sum += blk[i].qs[j] * xq[i].qs[j];
        acc += (float)sum * (slm_f16_to_f32(blk[i].d) * slm_f16_to_f32(xq[i].d));
    }
    return acc;
}

static slm_status_t mul_mat(const slm_node_t *node)
{
    const slm_tensor_t *w = node->src[0], *x = node->src[1], *y = node->dst;
    int64_t K = w->ne[0], N = w->ne[1];
    slm_block_q8_0 *xq = malloc((size_t)(K / SLM_QK8_0 + 1) * sizeof *xq);
    if (!xq)
        return fail(SLM_ERR_NO_MEMORY, "remote: out of memory");
    const unsigned char *wb = at(w);
    const float *xb = at(x);
    float *yb = at(y);
    for (int64_t b = 0; b < x->ne[3]; b++)
        for (int64_t a = 0; a < x->ne[2]; a++) {
            int64_t wa = a / (x->ne[2] / w->ne[2]), wbi = b / (x->ne[3] / w->ne[3]);
            for (int64_t m = 0; m < x->ne[1]; m++) {
                const float *xr = xb + ((b * x->ne[2] + a) * x->ne[1] + m) * K;
                if (w->dtype == SLM_DTYPE_Q8_0)
                    quantize_q8_0(xr, K, xq);
                for (int64_t n = 0; n < N; n++) {
                    const unsigned char *row =
                        wb + n * w->nb[1] + wa * w->nb[2] + wbi * w->nb[3];
                    yb[((b * y->ne[2] + a) * y->ne[1] + m) * N + n] =
                        dot(w, row, xr, xq);
                }
            }
        }
    free(xq);
    return SLM_OK;
}

static void binary(const slm_node_t *node)
{
    const slm_tensor_t *a = node->src[0], *b = node->src[1];
    const float *pa = at(a), *pb = at(b);
    float *py = at(node->dst);
    int64_t i = 0;
    for (int64_t i3 = 0; i3 < a->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < a->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < a->ne[1]; i1++)
                for (int64_t i0 = 0; i0 < a->ne[0]; i0++, i++) {
                    int64_t j = (((i3 % b->ne[3]) * b->ne[2] + i2 % b->ne[2]) *
                                     b->ne[1] + i1 % b->ne[1]) * b->ne[0] +
                                i0 % b->ne[0];
                    py[i] = node->op == SLM_OP_ADD ? pa[i] + pb[j] : pa[i] * pb[j];
                }
}

static slm_status_t remote_compute(void *device, const slm_graph_t *graph)
{
    (void)device;
    for (uint32_t i = 0; i < graph->n_nodes; i++) {
        const slm_node_t *node = &graph->nodes[i];
        if (!remote_supports(NULL, node))
            return fail(SLM_ERR_UNSUPPORTED, "remote: node not supported");
        if (node->op == SLM_OP_MUL_MAT) {
            slm_status_t st = mul_mat(node);
            if (st != SLM_OK)
                return st;
        } else if (node->op == SLM_OP_COPY) {
            memcpy(at(node->dst), at(node->src[0]),
                   (size_t)slm_tensor_nelements(node->dst) * sizeof(float));
        } else if (node->op == SLM_OP_SILU) {
            const float *x = at(node->src[0]);
            float *y = at(node->dst);
            for (int64_t k = 0; k < slm_tensor_nelements(node->dst); k++)
                y[k] = x[k] / (1.0f + expf(-x[k]));
        } else {
            binary(node);
        }
    }
    return SLM_OK;
}

/* -------------------------------------------------------------------- entry */

static const slm_backend_t remote_backend = {
    .abi_major = SLM_BACKEND_ABI_MAJOR,
    .abi_minor = SLM_BACKEND_ABI_MINOR,
    .struct_size = sizeof(slm_backend_t),
    .name = REMOTE_NAME,
    .version = "1.0.0",
    .description = "test device with private memory",
    .probe = remote_probe,
    .device_open = remote_open,
    .device_close = remote_close,
    .buffer_alloc = remote_alloc,
    .buffer_free = remote_free,
    .buffer_write = remote_write,
    .buffer_read = remote_read,
    .supports_node = remote_supports,
    .graph_compute = remote_compute,
};

SLM_PLUGIN_EXPORT slm_status_t slm_plugin_init(const slm_host_t *h,
                                               const slm_backend_t **out)
{
    if (h->abi_major != SLM_BACKEND_ABI_MAJOR) {
        h->set_error(h->ctx, "remote: host ABI major differs");
        return SLM_ERR_ABI;
    }
    host = h;
    *out = &remote_backend;
    return SLM_OK;
}
