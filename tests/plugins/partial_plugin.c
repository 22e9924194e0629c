/*
** partial_plugin.c -- a small device for slm-conform's own tests: it runs a
** few ops exactly as slm/graph.h defines them, refuses the rest, and comes
** in variants that put its memory out of the host's reach or get one op
** slightly wrong.
**
** It runs, on contiguous tensors only: ADD and MUL (F32, src1 broadcast),
** SILU, and MUL_MAT with F32 or Q8_0 weights (F32 activations, quantised to
** Q8_0 for Q8_0 weights as graph.h says, non-finite blocks included). It
** declares SCALE in info.ops but refuses every SCALE node, so that the
** conformance table shows a declared op the device never takes.
**
** Build options:
**   PARTIAL_NAME="x"      descriptor name (default "partial")
**   PARTIAL_REMOTE        memory the host cannot address (a GPU without
**                         SLM_DEVICE_FLAG_HOST_MEMORY): buffer_alloc gives
**                         no base and bytes move only through buffer_write
**                         and buffer_read, which device_close counts in a
**                         log line ("N writes, M reads")
**   PARTIAL_SKEW_ADD      ADD is off by a relative 1e-4
**   PARTIAL_SKEW_QUANT    one activation quant of every Q8_0 matmul is off
**                         by one (element 0 of row 0)
**   PARTIAL_NPU           a device of kind NPU computing as one does: only
**                         MUL_MAT whose weight is SLM_TENSOR_WEIGHT, with
**                         activations and F32 weights rounded to F16, Q8_0
**                         weights dequantised (no Q8_0 activations), sums
**                         in float and outputs rounded to F16
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slm/backend.h"

#ifndef PARTIAL_NAME
#define PARTIAL_NAME "partial"
#endif

static const slm_host_t *host;

typedef struct Buffer {
    size_t size;
    unsigned char *mem;
} Buffer;

typedef struct Device {
    unsigned long writes, reads;
} Device;

static slm_status_t fail(slm_status_t st, const char *msg)
{
    host->set_error(host->ctx, msg);
    return st;
}

/* ---------------------------------------------------------------- devices */

static slm_status_t partial_probe(slm_device_info_t *infos, uint32_t capacity,
                                  uint32_t *n_out)
{
    *n_out = 0;
    if (capacity < 1)
        return SLM_OK;
    slm_device_info_t *info = &infos[0];
#if defined(PARTIAL_NPU)
    info->kind = SLM_DEVICE_NPU;
    info->flags = SLM_DEVICE_FLAG_HOST_MEMORY;
#elif defined(PARTIAL_REMOTE)
    info->kind = SLM_DEVICE_GPU;
    info->flags = 0;
#else
    info->kind = SLM_DEVICE_CPU;
    info->flags = SLM_DEVICE_FLAG_HOST_MEMORY;
#endif
    snprintf(info->name, sizeof info->name, "%s test device", PARTIAL_NAME);
    snprintf(info->vendor, sizeof info->vendor, "slm tests");
    info->memory_total = (uint64_t)1 << 30;
    info->dtypes = SLM_DTYPE_BIT(SLM_DTYPE_F32) | SLM_DTYPE_BIT(SLM_DTYPE_Q8_0);
    info->ops = SLM_OP_BIT(SLM_OP_ADD) | SLM_OP_BIT(SLM_OP_MUL) | SLM_OP_BIT(SLM_OP_SILU) |
                SLM_OP_BIT(SLM_OP_MUL_MAT) | SLM_OP_BIT(SLM_OP_SCALE);
    *n_out = 1;
    return SLM_OK;
}

static slm_status_t partial_open(uint32_t index, const slm_device_open_opts_t *opts,
                                 void **out)
{
    (void)opts;
    *out = NULL;
    if (index != 0)
        return fail(SLM_ERR_INVALID_ARG, PARTIAL_NAME ": no such device");
    Device *d = calloc(1, sizeof *d);
    if (!d)
        return fail(SLM_ERR_NO_MEMORY, PARTIAL_NAME ": out of memory");
    *out = d;
    return SLM_OK;
}

static void partial_close(void *device)
{
    Device *d = device;
#ifdef PARTIAL_REMOTE
    char msg[96];
    snprintf(msg, sizeof msg, "%lu writes, %lu reads", d->writes, d->reads);
    host->log(host->ctx, SLM_LOG_INFO, msg);
#endif
    free(d);
}

/* ---------------------------------------------------------------- buffers */

static slm_status_t partial_alloc(void *device, size_t size, slm_buffer_usage_t usage,
                                  void **out_buffer, void **out_base)
{
    (void)device, (void)usage;
    *out_buffer = NULL;
    *out_base = NULL;
    Buffer *b = malloc(sizeof *b);
    unsigned char *mem = malloc(size);
    if (!b || !mem) {
        free(b);
        free(mem);
        return fail(SLM_ERR_NO_MEMORY, PARTIAL_NAME ": out of memory");
    }
    b->size = size;
    b->mem = mem;
    *out_buffer = b;
#ifndef PARTIAL_REMOTE
    *out_base = mem;
#endif
    return SLM_OK;
}

static void partial_free(void *device, void *buffer)
{
    Buffer *b = buffer;
    (void)device;
    if (b)
        free(b->mem);
    free(b);
}

static slm_status_t partial_write(void *device, void *buffer, size_t offset, const void *src,
                                  size_t size)
{
    Buffer *b = buffer;
    if (offset > b->size || size > b->size - offset)
        return fail(SLM_ERR_INVALID_ARG, PARTIAL_NAME ": write past the buffer");
    memcpy(b->mem + offset, src, size);
    ((Device *)device)->writes++;
    return SLM_OK;
}

static slm_status_t partial_read(void *device, void *buffer, size_t offset, void *dst,
                                 size_t size)
{
    Buffer *b = buffer;
    if (offset > b->size || size > b->size - offset)
        return fail(SLM_ERR_INVALID_ARG, PARTIAL_NAME ": read past the buffer");
    memcpy(dst, b->mem + offset, size);
    ((Device *)device)->reads++;
    return SLM_OK;
}

/* -------------------------------------------------------------------- ops */

static bool dense(const slm_tensor_t *t, slm_dtype_t dt)
{
    return t && t->dtype == dt && slm_tensor_is_contiguous(t);
}

/* b's shape divides a's in every dimension. */
static bool divides(const slm_tensor_t *a, const slm_tensor_t *b)
{
    for (int i = 0; i < SLM_MAX_DIMS; i++)
        if (b->ne[i] < 1 || a->ne[i] % b->ne[i] != 0)
            return false;
    return true;
}

static bool same_shape(const slm_tensor_t *a, const slm_tensor_t *b)
{
    return memcmp(a->ne, b->ne, sizeof a->ne) == 0;
}

static bool partial_supports(void *device, const slm_node_t *node)
{
    (void)device;
    const slm_tensor_t *a = node->src[0], *b = node->src[1], *y = node->dst;
    if (!dense(y, SLM_DTYPE_F32) || !a || node->src[2] || node->src[3])
        return false;
#ifdef PARTIAL_NPU
    if (node->op != SLM_OP_MUL_MAT || !(a->flags & SLM_TENSOR_WEIGHT))
        return false;
#endif
    switch (node->op) {
    case SLM_OP_ADD:
    case SLM_OP_MUL:
        return dense(a, SLM_DTYPE_F32) && dense(b, SLM_DTYPE_F32) && same_shape(a, y) &&
               divides(a, b);
    case SLM_OP_SILU:
        return dense(a, SLM_DTYPE_F32) && !b && same_shape(a, y);
    case SLM_OP_MUL_MAT:
        return (dense(a, SLM_DTYPE_F32) || dense(a, SLM_DTYPE_Q8_0)) &&
               dense(b, SLM_DTYPE_F32) && a->ne[0] == b->ne[0] &&
               a->ne[0] % SLM_QK8_0 == 0 && a->ne[2] > 0 && a->ne[3] > 0 &&
               b->ne[2] % a->ne[2] == 0 && b->ne[3] % a->ne[3] == 0 && y->ne[0] == a->ne[1] &&
               y->ne[1] == b->ne[1] && y->ne[2] == b->ne[2] && y->ne[3] == b->ne[3];
    default: /* SCALE is declared, never taken */
        return false;
    }
}

static void *at(const slm_tensor_t *t)
{
    return ((Buffer *)t->buffer)->mem + t->offset;
}

/* graph.h, MUL_MAT, Q8_0: per block of 32, d = amax / 127, q = roundf(x *
** (1 / d)) with 1 / d from the float d, d kept as f16; a block with an
** infinity or NaN gets a NaN scale and zero quants. */
static void quantize_q8_0(const float *x, int64_t k, slm_block_q8_0 *out)
{
    for (int64_t i = 0; i < k / SLM_QK8_0; i++) {
        const float *v = x + i * SLM_QK8_0;
        float amax = 0.0f;
        bool finite = true;
        for (int j = 0; j < SLM_QK8_0; j++) {
            finite = finite && isfinite(v[j]);
            amax = fmaxf(amax, fabsf(v[j]));
        }
        if (!finite) {
            out[i].d = slm_f32_to_f16(NAN);
            memset(out[i].qs, 0, sizeof out[i].qs);
            continue;
        }
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        out[i].d = slm_f32_to_f16(d);
        for (int j = 0; j < SLM_QK8_0; j++)
            out[i].qs[j] = (int8_t)roundf(v[j] * id);
    }
}

#ifdef PARTIAL_NPU
static float f16(float v)
{
    return slm_f16_to_f32(slm_f32_to_f16(v));
}

/* An NPU's dot: F16 operands (Q8_0 weights dequantised), a float sum, an
** F16 result. */
static float dot_row_npu(const slm_tensor_t *w, const unsigned char *row, const float *x)
{
    float acc = 0.0f;
    for (int64_t i = 0; i < w->ne[0]; i++) {
        float wi;
        if (w->dtype == SLM_DTYPE_F32) {
            memcpy(&wi, row + 4 * i, 4);
            wi = f16(wi);
        } else {
            slm_block_q8_0 blk;
            memcpy(&blk, row + (size_t)(i / SLM_QK8_0) * sizeof blk, sizeof blk);
            wi = slm_f16_to_f32(blk.d) * (float)blk.qs[i % SLM_QK8_0];
        }
        acc += wi * f16(x[i]);
    }
    return f16(acc);
}
#endif

static float dot_row(const slm_tensor_t *w, const unsigned char *row, const float *x,
                     const slm_block_q8_0 *xq)
{
#ifdef PARTIAL_NPU
    (void)xq;
    return dot_row_npu(w, row, x);
#endif
    if (w->dtype == SLM_DTYPE_F32) {
        const float *wf = (const float *)row;
        double acc = 0.0;
        for (int64_t i = 0; i < w->ne[0]; i++)
            acc += (double)wf[i] * x[i];
        return (float)acc;
    }
    const slm_block_q8_0 *blk = (const slm_block_q8_0 *)row;
    float acc = 0.0f;
    for (int64_t i = 0; i < w->ne[0] / SLM_QK8_0; i++) {
        int32_t sum = 0;
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
    slm_block_q8_0 *xq = malloc((size_t)(K / SLM_QK8_0) * sizeof *xq);
    if (!xq)
        return fail(SLM_ERR_NO_MEMORY, PARTIAL_NAME ": out of memory");
    const unsigned char *wb = at(w);
    const float *xb = at(x);
    float *yb = at(y);
    for (int64_t b = 0; b < x->ne[3]; b++)
        for (int64_t a = 0; a < x->ne[2]; a++) {
            int64_t wa = a / (x->ne[2] / w->ne[2]), wbi = b / (x->ne[3] / w->ne[3]);
            for (int64_t m = 0; m < x->ne[1]; m++) {
                const float *xr = xb + ((b * x->ne[2] + a) * x->ne[1] + m) * K;
                if (w->dtype == SLM_DTYPE_Q8_0) {
                    quantize_q8_0(xr, K, xq);
#ifdef PARTIAL_SKEW_QUANT
                    if (a == 0 && b == 0 && m == 0)
                        xq[0].qs[0] = (int8_t)(xq[0].qs[0] < 127 ? xq[0].qs[0] + 1 : 126);
#endif
                }
                for (int64_t n = 0; n < N; n++) {
                    const unsigned char *row = wb + n * w->nb[1] + wa * w->nb[2] +
                                               wbi * w->nb[3];
                    yb[((b * y->ne[2] + a) * y->ne[1] + m) * N + n] = dot_row(w, row, xr, xq);
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
                    int64_t j = (((i3 % b->ne[3]) * b->ne[2] + i2 % b->ne[2]) * b->ne[1] +
                                 i1 % b->ne[1]) * b->ne[0] + i0 % b->ne[0];
                    if (node->op == SLM_OP_MUL)
                        py[i] = pa[i] * pb[j];
                    else
#ifdef PARTIAL_SKEW_ADD
                        py[i] = (pa[i] + pb[j]) * 1.0001f;
#else
                        py[i] = pa[i] + pb[j];
#endif
                }
}

static slm_status_t partial_compute(void *device, const slm_graph_t *graph)
{
    (void)device;
    for (uint32_t i = 0; i < graph->n_nodes; i++) {
        const slm_node_t *node = &graph->nodes[i];
        if (!partial_supports(NULL, node))
            return fail(SLM_ERR_UNSUPPORTED, PARTIAL_NAME ": node not supported");
        if (node->op == SLM_OP_MUL_MAT) {
            slm_status_t st = mul_mat(node);
            if (st != SLM_OK)
                return st;
        } else if (node->op == SLM_OP_SILU) {
            const float *x = at(node->src[0]);
            float *y = at(node->dst);
            for (int64_t k = 0; k < slm_tensor_nelements(node->dst); k++)
                y[k] = (float)(x[k] / (1.0 + exp(-(double)x[k])));
        } else {
            binary(node);
        }
    }
    return SLM_OK;
}

/* ------------------------------------------------------------------ entry */

static const slm_backend_t partial_backend = {
    .abi_major = SLM_BACKEND_ABI_MAJOR,
    .abi_minor = SLM_BACKEND_ABI_MINOR,
    .struct_size = sizeof(slm_backend_t),
    .name = PARTIAL_NAME,
    .version = "1.0.0",
    .description = "test device running a few ops",
    .probe = partial_probe,
    .device_open = partial_open,
    .device_close = partial_close,
    .buffer_alloc = partial_alloc,
    .buffer_free = partial_free,
    .buffer_write = partial_write,
    .buffer_read = partial_read,
    .supports_node = partial_supports,
    .graph_compute = partial_compute,
};

SLM_PLUGIN_EXPORT slm_status_t slm_plugin_init(const slm_host_t *h, const slm_backend_t **out)
{
    if (h->abi_major != SLM_BACKEND_ABI_MAJOR) {
        h->set_error(h->ctx, PARTIAL_NAME ": host ABI major differs");
        return SLM_ERR_ABI;
    }
    host = h;
    *out = &partial_backend;
    return SLM_OK;
}
