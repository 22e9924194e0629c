/*
** template_backend.c -- a complete, minimal slm backend plugin to copy.
**
** One device with memory of its own, which the host cannot address: buffers
** are opaque handles and bytes move only through buffer_write and
** buffer_read, as with a discrete GPU or an NPU. Here that memory is malloc'd
** and the ops are plain loops; a real plugin calls its driver in the same
** places (each one is marked "driver:"). It runs ADD, MUL (with broadcast)
** and RMS_NORM on F32, on any strides; the runtime runs every other node on
** another device.
**
** Rename the plugin in TEMPLATE_NAME and in the build files, then see
** README.md. The rules every plugin keeps are at the top of slm/backend.h.
*/
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <slm/backend.h>

#define TEMPLATE_NAME "template"

/* Set by slm_plugin_init before any other call; read-only afterwards, so
** every thread may use it. */
static const slm_host_t *g_host;

/* Sets the host's error message for the status about to be returned. */
static slm_status_t fail(slm_status_t status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static slm_status_t fail(slm_status_t status, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    g_host->set_error(g_host->ctx, msg);
    return status;
}

/* ------------------------------------------------------------------ types */

typedef struct template_buffer {
    size_t size;
    unsigned char *mem;        /* driver: a device allocation */
} template_buffer;

typedef struct template_device {
    uint32_t n_buffers;        /* live buffers, checked at close */
} template_device;

/* ---------------------------------------------------------------- devices */

/* Cheap and side-effect free: a real plugin asks its driver what is there,
** and answers "no device" (SLM_OK, *n_out = 0) when the driver is absent. */
static slm_status_t template_probe(slm_device_info_t *infos, uint32_t capacity,
                                   uint32_t *n_out)
{
    *n_out = 0;
    if (capacity < 1)
        return SLM_OK;
    slm_device_info_t *info = &infos[0];
    info->kind = SLM_DEVICE_OTHER;
    info->flags = 0;           /* no SLM_DEVICE_FLAG_HOST_MEMORY: own memory */
    snprintf(info->name, sizeof info->name, "template device");
    snprintf(info->vendor, sizeof info->vendor, "slm template");
    info->memory_total = (uint64_t)1 << 30;
    info->dtypes = SLM_DTYPE_BIT(SLM_DTYPE_F32);
    info->ops = SLM_OP_BIT(SLM_OP_ADD) | SLM_OP_BIT(SLM_OP_MUL) |
                SLM_OP_BIT(SLM_OP_RMS_NORM);
    *n_out = 1;
    return SLM_OK;
}

static slm_status_t template_device_open(uint32_t index,
                                         const slm_device_open_opts_t *opts,
                                         void **out_device)
{
    (void)opts;
    if (index != 0)
        return fail(SLM_ERR_INVALID_ARG, "template: no device %u", (unsigned)index);
    template_device *d = calloc(1, sizeof *d);
    if (!d)
        return fail(SLM_ERR_NO_MEMORY, "template: out of host memory");
    *out_device = d;
    return SLM_OK;
}

static void template_device_close(void *device)
{
    template_device *d = device;
    if (d->n_buffers) {
        char msg[96];
        snprintf(msg, sizeof msg, "template: closed with %u buffers live",
                 (unsigned)d->n_buffers);
        g_host->log(g_host->ctx, SLM_LOG_WARN, msg);
    }
    free(d);
}

/* ---------------------------------------------------------------- buffers */

static slm_status_t template_buffer_alloc(void *device, size_t size,
                                          slm_buffer_usage_t usage,
                                          void **out_buffer, void **out_base)
{
    template_device *d = device;
    (void)usage;
    *out_buffer = NULL;
    *out_base = NULL;          /* the host cannot address this memory */
    template_buffer *b = malloc(sizeof *b);
    unsigned char *mem = malloc(size);
    if (!b || !mem) {
        free(b);
        free(mem);
        return fail(SLM_ERR_NO_MEMORY, "template: buffer_alloc(%zu bytes): out of memory",
                    size);
    }
    b->size = size;
    b->mem = mem;
    d->n_buffers++;
    *out_buffer = b;
    return SLM_OK;
}

static void template_buffer_free(void *device, void *buffer)
{
    template_device *d = device;
    template_buffer *b = buffer;
    if (!b)
        return;
    free(b->mem);
    free(b);
    d->n_buffers--;
}

/* The host checks offset + size against the buffer before calling. */
static slm_status_t template_buffer_write(void *device, void *buffer, size_t offset,
                                          const void *src, size_t size)
{
    template_buffer *b = buffer;
    (void)device;
    memcpy(b->mem + offset, src, size);    /* driver: upload */
    return SLM_OK;
}

static slm_status_t template_buffer_read(void *device, void *buffer, size_t offset,
                                         void *dst, size_t size)
{
    template_buffer *b = buffer;
    (void)device;
    memcpy(dst, b->mem + offset, size);    /* driver: download */
    return SLM_OK;
}

/* -------------------------------------------------------------------- ops */

static bool is_f32(const slm_tensor_t *t)
{
    return t && t->dtype == SLM_DTYPE_F32;
}

static bool same_shape(const slm_tensor_t *a, const slm_tensor_t *b)
{
    for (int d = 0; d < SLM_MAX_DIMS; d++)
        if (a->ne[d] != b->ne[d])
            return false;
    return true;
}

/* b broadcasts over a: each of b's dimensions divides a's. */
static bool divides(const slm_tensor_t *b, const slm_tensor_t *a)
{
    for (int d = 0; d < SLM_MAX_DIMS; d++)
        if (b->ne[d] <= 0 || a->ne[d] % b->ne[d] != 0)
            return false;
    return true;
}

/* Decided from the node's fields alone (its tensors have no buffer yet).
** The runtime has validated the graph; these checks make the claim exact
** for what the kernels below do, so a later op-table change cannot slip an
** unsupported case through. */
static bool template_supports_node(void *device, const slm_node_t *node)
{
    (void)device;
    const slm_tensor_t *a = node->src[0], *b = node->src[1], *y = node->dst;
    if (!is_f32(y) || !is_f32(a) || !same_shape(a, y) || node->src[2])
        return false;
    switch (node->op) {
    case SLM_OP_ADD:
    case SLM_OP_MUL:
        return is_f32(b) && divides(b, a);
    case SLM_OP_RMS_NORM:
        return !b;
    default:
        return false;
    }
}

/* Element (i0, i1, i2, i3) of a tensor, by its strides: views work too. */
static float *elem(const slm_tensor_t *t, int64_t i0, int64_t i1, int64_t i2, int64_t i3)
{
    unsigned char *base = ((template_buffer *)t->buffer)->mem + t->offset;
    return (float *)(base + (size_t)i0 * t->nb[0] + (size_t)i1 * t->nb[1] +
                     (size_t)i2 * t->nb[2] + (size_t)i3 * t->nb[3]);
}

static void binary(const slm_node_t *node)
{
    const slm_tensor_t *a = node->src[0], *b = node->src[1], *y = node->dst;
    for (int64_t i3 = 0; i3 < y->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < y->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < y->ne[1]; i1++)
                for (int64_t i0 = 0; i0 < y->ne[0]; i0++) {
                    float x = *elem(a, i0, i1, i2, i3);
                    float z = *elem(b, i0 % b->ne[0], i1 % b->ne[1],
                                    i2 % b->ne[2], i3 % b->ne[3]);
                    *elem(y, i0, i1, i2, i3) = node->op == SLM_OP_ADD ? x + z : x * z;
                }
}

/* y = x / sqrt(mean(x^2) + eps) per row; the sum is in double so that long
** rows stay within slm-conform's bounds. */
static void rms_norm(const slm_node_t *node)
{
    const slm_tensor_t *x = node->src[0], *y = node->dst;
    float eps = node->fparams[0];
    for (int64_t i3 = 0; i3 < y->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < y->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < y->ne[1]; i1++) {
                double sum = 0.0;
                for (int64_t i0 = 0; i0 < x->ne[0]; i0++) {
                    double v = *elem(x, i0, i1, i2, i3);
                    sum += v * v;
                }
                float scale = 1.0f / sqrtf((float)(sum / (double)x->ne[0]) + eps);
                for (int64_t i0 = 0; i0 < y->ne[0]; i0++)
                    *elem(y, i0, i1, i2, i3) = *elem(x, i0, i1, i2, i3) * scale;
            }
}

/* driver: a real plugin records the nodes into one submission here. */
static slm_status_t template_graph_compute(void *device, const slm_graph_t *graph)
{
    (void)device;
    for (uint32_t i = 0; i < graph->n_nodes; i++) {
        const slm_node_t *node = &graph->nodes[i];
        switch (node->op) {
        case SLM_OP_ADD:
        case SLM_OP_MUL:
            binary(node);
            break;
        case SLM_OP_RMS_NORM:
            rms_norm(node);
            break;
        default:
            return fail(SLM_ERR_UNSUPPORTED, "template: node %u: op %s not supported",
                        (unsigned)i, slm_op_name(node->op));
        }
    }
    return SLM_OK;
}

/* ------------------------------------------------------------- descriptor */

/* Serves ABI 1.0 and says so explicitly (not SLM_BACKEND_ABI_MINOR and
** sizeof): rebuilt against a newer slm, the plugin still loads into every
** 1.x host. Raise both only when using a slot of a later minor. */
static const slm_backend_t template_backend = {
    .abi_major = SLM_BACKEND_ABI_MAJOR,
    .abi_minor = 0,
    .struct_size = SLM_BACKEND_SIZE_1_0,
    .name = TEMPLATE_NAME,
    .version = "0.1.0",
    .description = "template backend: ADD, MUL, RMS_NORM on F32 in device memory",
    .probe = template_probe,
    .device_open = template_device_open,
    .device_close = template_device_close,
    .buffer_alloc = template_buffer_alloc,
    .buffer_free = template_buffer_free,
    .buffer_write = template_buffer_write,
    .buffer_read = template_buffer_read,
    .supports_node = template_supports_node,
    .graph_compute = template_graph_compute,
    /* No synchronize (compute is synchronous), no buffer_from_host_ptr (the
    ** host cannot address device memory), no plans, no node_cost. */
};

SLM_PLUGIN_EXPORT slm_status_t slm_plugin_init(const slm_host_t *host,
                                               const slm_backend_t **out)
{
    slm_status_t st = slm_plugin_check_host(host, out, "template");
    if (st != SLM_OK)
        return st;
    g_host = host;
    *out = &template_backend;
    return SLM_OK;
}
