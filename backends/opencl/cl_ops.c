/*
** cl_ops.c -- every op of slm/graph.h but MUL_MAT, MUL_MAT_ID and
** GET_ROWS, as enqueues of the kernels in kernels/ (eltwise.cl, reduce.cl,
** softmax.cl, rope.cl, copy.cl, set_rows.cl, sort.cl).
**
** supports_node accepts exactly what the reference backend defines for
** these ops (dtypes, shapes, broadcasting), for any strides, plus what
** 32-bit addressing needs: every tensor under 2^31 elements and strides
** that are multiples of the element size. Shapes of work:
**   element-wise ops, COPY, SET_ROWS  a work-item per OPS_VEC consecutive
**                      elements of a row, one vector load and store where
**                      the row is contiguous, after merging the rows that
**                      are contiguous in every tensor;
**   RMS_NORM, SUM_ROWS, SOFTMAX  a work-group per row, reductions in local
**                      memory;
**   ROPE               a work-item per pair of a token, for all its heads;
**   ARGSORT, TOP_K     a bitonic sort per row, in local memory up to 1024
**                      keys, else in scratch, one enqueue per step.
** Work-groups are small on CPU devices (PoCL runs a group's work-items one
** after another on one thread) and larger on GPUs.
*/
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../gpu/gpu_ops_check.h"
#include "cl_device.h"

#define CL_RED_WG_GPU 128   /* reductions: at most RED_WG_MAX (common.cl) */
#define CL_RED_WG_CPU 16
#define CL_SORT_LOCAL_MAX 1024 /* SORT_LOCAL_MAX of sort.cl */
#define CL_SORT_WG_GPU 256
#define CL_SORT_WG_CPU 16

/* ----------------------------------------------------------- supports */

/* Kernels load blocks byte by byte, and sort rows padded to a power of two. */
static const gpu_ops_limits cl_limits = {.quant_unit = 1, .sort_pads_rows = true};

uint64_t cl_ops_op_mask(void)
{
    return gpu_ops_op_mask();
}

bool cl_ops_supports(const cl_dev *d, const slm_node_t *node)
{
    (void)d; /* every usable device runs all of these (cl_probe.c) */
    return gpu_ops_supports(node, &cl_limits);
}

static uint32_t next_pow2(uint64_t n)
{
    uint64_t p = 1;
    while (p < n)
        p <<= 1;
    return p > UINT32_MAX ? UINT32_MAX : (uint32_t)p;
}

/* ------------------------------------------------------------ helpers */

/* Args and buffers of a node, with every tensor's offset a multiple of the
** unit its kernel loads it in (strides were checked by supports_node). */
static slm_status_t prepare(const slm_node_t *node, cl_args *a, cl_buf *bufs[4])
{
    if (!cl_args_from_node(node, a))
        return SLM_ERR_INVALID_ARG;
    cl_node_bufs(node, bufs);
    for (int t = 0; t < 4; t++) {
        const slm_tensor_t *x = t == 0 ? node->dst : node->src[t - 1];
        if (x && x->offset % gpu_ops_unit(x, &cl_limits) != 0)
            return cl_error(SLM_ERR_UNSUPPORTED, "%s: tensor '%s' at offset %zu is not "
                            "aligned to its %zu-byte elements", slm_op_name(node->op),
                            x->name, x->offset, gpu_ops_unit(x, &cl_limits));
    }
    return SLM_OK;
}

static uint64_t rows_of(const cl_args *a, int t)
{
    return (uint64_t)a->ne[t][1] * a->ne[t][2] * a->ne[t][3];
}

/* Merge dimension 1 into 0 while each tensor in `mask` (bit t) has dst's
** extents in both and is contiguous across them, so that short rows still
** make long runs of work. */
static void merge_rows(cl_args *a, unsigned mask)
{
    for (int iter = 0; iter < 3 && rows_of(a, 0) > 1; iter++) {
        for (int t = 0; t < 4; t++) {
            if (!(mask & (1u << t)))
                continue;
            if (a->ne[t][0] != a->ne[0][0] || a->ne[t][1] != a->ne[0][1])
                return;
            if (a->ne[t][1] > 1 && a->nb[t][1] != (uint64_t)a->ne[t][0] * a->nb[t][0])
                return;
            if ((uint64_t)a->ne[t][0] * a->ne[t][1] > INT32_MAX)
                return;
        }
        for (int t = 0; t < 4; t++) {
            if (!(mask & (1u << t)))
                continue;
            a->ne[t][0] *= a->ne[t][1];
            a->ne[t][1] = a->ne[t][2];
            a->ne[t][2] = a->ne[t][3];
            a->ne[t][3] = 1;
            a->nb[t][1] = a->nb[t][2];
            a->nb[t][2] = a->nb[t][3];
        }
    }
}

static size_t ceil_div(size_t n, size_t k)
{
    return (n + k - 1) / k;
}

/* The vector width of element-wise kernels: OPS_VEC of cl_device.c. */
static uint32_t ops_vec(const cl_dev *d)
{
    return cl_dev_caps(d)->emulated ? 16 : 4;
}

/* A power-of-two work-group for `n` items of work, at most `cap` and the
** device's limit. */
static size_t group_size(const cl_dev *d, uint64_t n, size_t cap)
{
    size_t max = cl_dev_caps(d)->max_wg_size;
    size_t wg = 1;
    while (wg < n && wg * 2 <= cap && wg * 2 <= max)
        wg *= 2;
    return wg;
}

static uint32_t float_bits(double v)
{
    float f = (float)v;
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static const char *float_name(slm_dtype_t t)
{
    return t == SLM_DTYPE_F32 ? "f32" : t == SLM_DTYPE_F16 ? "f16" : "bf16";
}

/* --------------------------------------------------------------- ops */

static slm_status_t enq_eltwise(cl_dev *d, const slm_node_t *node)
{
    cl_args a;
    cl_buf *bufs[4];
    slm_status_t st = prepare(node, &a, bufs);
    if (st != SLM_OK)
        return st;
    const char *kernel;
    switch (node->op) {
    case SLM_OP_ADD: kernel = "eltwise_add"; break;
    case SLM_OP_MUL: kernel = "eltwise_mul"; break;
    case SLM_OP_DIV: kernel = "eltwise_div"; break;
    case SLM_OP_SCALE: kernel = "eltwise_scale"; break;
    case SLM_OP_SILU: kernel = "eltwise_silu"; break;
    case SLM_OP_GELU: kernel = "eltwise_gelu"; break;
    case SLM_OP_TANH: kernel = "eltwise_tanh"; break;
    case SLM_OP_SWIGLU: kernel = "eltwise_swiglu"; break;
    default: kernel = "eltwise_geglu"; break;
    }
    bool binary = node->src[1] != NULL;
    merge_rows(&a, binary ? 0x7u : 0x3u);
    a.u[0] = a.nb[0][0] == 4 && a.nb[1][0] == 4;
    if (!binary)
        a.u[1] = 2; /* src1 is not read */
    else if (a.ne[2][0] == a.ne[0][0] && a.nb[2][0] == 4)
        a.u[1] = 1;
    else if (a.ne[2][0] == 1)
        a.u[1] = 2;
    size_t gws[2] = {ceil_div(a.ne[0][0], ops_vec(d)), rows_of(&a, 0)};
    return cl_enqueue(d, kernel, bufs, &a, 2, gws, NULL);
}

/* RMS_NORM, SUM_ROWS, SOFTMAX: a work-group per row of src0. */
static slm_status_t enq_per_row(cl_dev *d, const slm_node_t *node, const char *kernel)
{
    cl_args a;
    cl_buf *bufs[4];
    slm_status_t st = prepare(node, &a, bufs);
    if (st != SLM_OK)
        return st;
    const slm_tensor_t *mask = node->op == SLM_OP_SOFTMAX ? node->src[1] : NULL;
    if (node->op == SLM_OP_SOFTMAX) {
        a.u[0] = a.nb[0][0] == 4 && a.nb[1][0] == 4 && (!mask || a.nb[2][0] == 4);
        a.u[1] = mask != NULL;
    } else {
        a.u[0] = a.nb[1][0] == 4;
        a.u[1] = a.nb[0][0] == 4;
    }
    size_t cap = cl_dev_caps(d)->emulated ? CL_RED_WG_CPU : CL_RED_WG_GPU;
    size_t wg = group_size(d, ceil_div(a.ne[1][0], 4), cap);
    size_t gws[2] = {wg, rows_of(&a, 1)}, lws[2] = {wg, 1};
    return cl_enqueue(d, kernel, bufs, &a, 2, gws, lws);
}

/* c(beta) of graph.h's YaRN ramp. */
static double yarn_corr_dim(int n_dims, int n_ctx_orig, double beta, double freq_base)
{
    const double pi = 3.14159265358979323846;
    return n_dims * log(n_ctx_orig / (beta * 2.0 * pi)) / (2.0 * log(freq_base));
}

static slm_status_t enq_rope(cl_dev *d, const slm_node_t *node)
{
    cl_args a;
    cl_buf *bufs[4];
    slm_status_t st = prepare(node, &a, bufs);
    if (st != SLM_OK)
        return st;
    int n_dims = node->iparams[0];
    a.u[0] = node->src[2] != NULL;
    if (node->fparams[2] != 0.0f) {
        int n_ctx_orig = node->iparams[2];
        double freq_base = node->fparams[0];
        a.u[1] = float_bits(fmax(0.0, floor(yarn_corr_dim(n_dims, n_ctx_orig,
                                                          node->fparams[4], freq_base))));
        a.u[2] = float_bits(fmin(n_dims - 1, ceil(yarn_corr_dim(n_dims, n_ctx_orig,
                                                               node->fparams[5], freq_base))));
    }
    const char *kernel = node->iparams[1] == SLM_ROPE_NEOX ? "rope_neox" : "rope_normal";
    size_t gws[2] = {(size_t)(n_dims / 2) + (a.ne[1][0] - (uint32_t)n_dims), a.ne[1][2]};
    return cl_enqueue(d, kernel, bufs, &a, 2, gws, NULL);
}

static slm_status_t enq_copy(cl_dev *d, const slm_node_t *node)
{
    cl_args a;
    cl_buf *bufs[4];
    slm_status_t st = prepare(node, &a, bufs);
    if (st != SLM_OK)
        return st;
    const slm_tensor_t *src = node->src[0], *dst = node->dst;
    size_t unit = slm_dtype_block_bytes(src->dtype);
    bool same_shape = memcmp(a.ne[0], a.ne[1], sizeof a.ne[0]) == 0;
    if (src->dtype == dst->dtype && src->ne[0] == dst->ne[0] && src->nb[0] == unit &&
        dst->nb[0] == unit) {
        /* Whole rows of the same bytes, taken in order: quantised rows
        ** always are (supports_node), and plain ones where both rows are
        ** contiguous. */
        if (same_shape)
            merge_rows(&a, 0x3u);
        a.u[0] = (uint32_t)((uint64_t)a.ne[0][0] / (uint64_t)slm_dtype_block_elems(dst->dtype) *
                            unit);
        size_t gws[2] = {ceil_div(a.u[0], 16), rows_of(&a, 0)};
        return cl_enqueue(d, "copy_rows_raw", bufs, &a, 2, gws, NULL);
    }
    char kernel[48];
    if (same_shape) {
        snprintf(kernel, sizeof kernel, "copy_%s_%s", float_name(src->dtype),
                 float_name(dst->dtype));
        merge_rows(&a, 0x3u);
        size_t gws[2] = {ceil_div(a.ne[0][0], ops_vec(d)), rows_of(&a, 0)};
        return cl_enqueue(d, kernel, bufs, &a, 2, gws, NULL);
    }
    snprintf(kernel, sizeof kernel, "copy_reshape_%s_%s", float_name(src->dtype),
             float_name(dst->dtype));
    a.u[0] = (uint32_t)slm_tensor_nelements(dst);
    size_t gws[1] = {ceil_div(a.u[0], ops_vec(d))};
    return cl_enqueue(d, kernel, bufs, &a, 1, gws, NULL);
}

static slm_status_t enq_set_rows(cl_dev *d, const slm_node_t *node)
{
    cl_args a;
    cl_buf *bufs[4];
    slm_status_t st = prepare(node, &a, bufs);
    if (st != SLM_OK)
        return st;
    uint64_t n_ids = rows_of(&a, 1); /* src0 rows: one per id */
    cl_buf *skip;
    if ((st = cl_scratch(d, (size_t)n_ids * 4, &skip, &a.u[0])) != SLM_OK)
        return st;
    cl_buf *skip_bufs[4] = {skip, bufs[1], bufs[2], NULL};
    size_t gws_skip[1] = {n_ids};
    if ((st = cl_enqueue(d, "set_rows_skip", skip_bufs, &a, 1, gws_skip, NULL)) != SLM_OK)
        return st;
    char kernel[32];
    snprintf(kernel, sizeof kernel, "set_rows_%s", float_name(node->dst->dtype));
    cl_buf *set_bufs[4] = {bufs[0], bufs[1], bufs[2], skip};
    size_t gws[2] = {ceil_div(a.ne[1][0], ops_vec(d)), n_ids};
    return cl_enqueue(d, kernel, set_bufs, &a, 2, gws, NULL);
}

/* ARGSORT and TOP_K: rows padded to P keys, sorted in local memory when
** they fit, else in scratch one bitonic step per enqueue. */
static slm_status_t enq_sort(cl_dev *d, const slm_node_t *node)
{
    cl_args a;
    cl_buf *bufs[4];
    slm_status_t st = prepare(node, &a, bufs);
    if (st != SLM_OK)
        return st;
    uint32_t n = a.ne[1][0], P = next_pow2(n);
    size_t rows = rows_of(&a, 1);
    a.u[0] = P;
    a.u[2] = node->op == SLM_OP_TOP_K || node->iparams[0] == SLM_SORT_DESC;
    if (P <= CL_SORT_LOCAL_MAX) {
        size_t cap = cl_dev_caps(d)->emulated ? CL_SORT_WG_CPU : CL_SORT_WG_GPU;
        size_t wg = group_size(d, P / 2, cap);
        size_t gws[2] = {wg, rows}, lws[2] = {wg, 1};
        return cl_enqueue(d, "sort_local", bufs, &a, 2, gws, lws);
    }
    cl_buf *scratch;
    if ((st = cl_scratch(d, (size_t)P * rows * 8, &scratch, &a.u[3])) != SLM_OK)
        return st;
    cl_buf *sb[4] = {scratch, bufs[1], NULL, NULL};
    size_t gws_init[2] = {P, rows};
    if ((st = cl_enqueue(d, "sort_init", sb, &a, 2, gws_init, NULL)) != SLM_OK)
        return st;
    size_t gws_step[2] = {P / 2, rows};
    for (uint32_t size = 2; size <= P; size <<= 1)
        for (uint32_t stride = size / 2; stride > 0; stride >>= 1) {
            a.u[4] = size;
            a.u[5] = stride;
            if ((st = cl_enqueue(d, "sort_step", sb, &a, 2, gws_step, NULL)) != SLM_OK)
                return st;
        }
    cl_buf *fb[4] = {bufs[0], bufs[1], NULL, scratch};
    size_t gws_final[2] = {a.ne[0][0], rows};
    return cl_enqueue(d, "sort_final", fb, &a, 2, gws_final, NULL);
}

slm_status_t cl_ops_enqueue(cl_dev *d, const slm_node_t *node)
{
    switch (node->op) {
    case SLM_OP_ADD:
    case SLM_OP_MUL:
    case SLM_OP_DIV:
    case SLM_OP_SCALE:
    case SLM_OP_SILU:
    case SLM_OP_GELU:
    case SLM_OP_TANH:
    case SLM_OP_SWIGLU:
    case SLM_OP_GEGLU: return enq_eltwise(d, node);
    case SLM_OP_RMS_NORM: return enq_per_row(d, node, "rms_norm");
    case SLM_OP_SUM_ROWS: return enq_per_row(d, node, "sum_rows");
    case SLM_OP_SOFTMAX: return enq_per_row(d, node, "softmax");
    case SLM_OP_ROPE: return enq_rope(d, node);
    case SLM_OP_COPY: return enq_copy(d, node);
    case SLM_OP_SET_ROWS: return enq_set_rows(d, node);
    case SLM_OP_ARGSORT:
    case SLM_OP_TOP_K: return enq_sort(d, node);
    default:
        return cl_error(SLM_ERR_UNSUPPORTED, "opencl: op %s is not in cl_ops",
                        slm_op_name(node->op));
    }
}
