/*
** vk_ops.c -- every op of slm/graph.h but MUL_MAT, MUL_MAT_ID and
** GET_ROWS, as dispatches of the shaders in shaders/ops.list.
**
** supports_node (../gpu/gpu_ops_check.c, shared with the OpenCL backend)
** accepts exactly what the reference backend defines for
** these ops (dtypes, shapes, broadcasting), for any strides, plus what
** 32-bit addressing needs: every tensor under 2^31 elements and strides
** that are multiples of the element size. Shapes of work:
**   element-wise ops, COPY, SET_ROWS  a workgroup per chunk of 1024
**                      consecutive elements of a row, after merging the
**                      rows that are contiguous in every tensor; short rows
**                      share a workgroup (one team of invocations each);
**   RMS_NORM, SUM_ROWS, SOFTMAX  a team per row, reductions in shared
**                      memory; ROPE a workgroup per row;
**   ARGSORT, TOP_K     a bitonic sort of chunks of up to 1024 keys in shared
**                      memory, then merge passes through scratch; TOP_K
**                      keeps only k entries of each run.
** Large grids are folded into y and z (ops_common.glsl).
*/
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../gpu/gpu_ops_check.h"
#include "vk_device.h"

#define VK_OPS_WG 128       /* WG of eltwise, copy, set_rows, reduce, softmax */
#define VK_OPS_ITER 8       /* ITER of eltwise, copy, set_rows */
#define VK_OPS_CHUNK (VK_OPS_WG * VK_OPS_ITER)
#define VK_SORT_SMALL 128   /* keys sort_chunk_small sorts at once */
#define VK_SORT_CHUNK 1024  /* keys sort_chunk sorts at once */
#define VK_MERGE_WG 128     /* WG of sort_merge.comp */

/* ----------------------------------------------------------- supports */

/* Shaders load blocks in 16-bit words (every block size is even), and the
** merge passes sort exactly the rows' keys. */
static const gpu_ops_limits vk_limits = {.quant_unit = 2, .sort_pads_rows = false};

uint64_t vk_ops_op_mask(void)
{
    return gpu_ops_op_mask();
}

bool vk_ops_supports(const vk_device *d, const slm_node_t *node)
{
    (void)d; /* every usable device runs all of these (vk_probe.c) */
    return gpu_ops_supports(node, &vk_limits);
}

/* ------------------------------------------------------------ helpers */

/* Dispatch `groups` workgroups of `shader`, folded into x, y and z. */
static slm_status_t dispatch_groups(vk_device *d, const char *shader, vk_buffer *const bufs[4],
                                    vk_args *a, uint64_t groups)
{
    const uint32_t *mx = vk_device_caps(d)->max_wg_count;
    if (groups == 0)
        return SLM_OK;
    uint32_t gx = groups < mx[0] ? (uint32_t)groups : mx[0];
    uint64_t rest = (groups + gx - 1) / gx;
    uint32_t gy = rest < mx[1] ? (uint32_t)rest : mx[1];
    uint64_t gz = (rest + gy - 1) / gy;
    if (groups > UINT32_MAX || gz > mx[2])
        return vk_error(SLM_ERR_UNSUPPORTED, "%s: %llu workgroups exceed the device's limits",
                        shader, (unsigned long long)groups);
    a->u[5] = (uint32_t)groups;
    a->u[6] = gx;
    a->u[7] = gy;
    return vk_dispatch(d, shader, bufs, a, gx, gy, (uint32_t)gz);
}

/* Args and buffers of a node, with every tensor's offset a multiple of the
** unit its shader loads it in (strides were checked by supports_node). */
static slm_status_t prepare(const slm_node_t *node, vk_args *a, vk_buffer *bufs[4])
{
    if (!vk_args_from_node(node, a))
        return SLM_ERR_INVALID_ARG;
    vk_node_buffers(node, bufs);
    for (int t = 0; t < 4; t++) {
        const slm_tensor_t *x = t == 0 ? node->dst : node->src[t - 1];
        if (x && x->offset % gpu_ops_unit(x, &vk_limits) != 0)
            return vk_error(SLM_ERR_UNSUPPORTED, "%s: tensor '%s' at offset %zu is not "
                            "aligned to its %zu-byte elements", slm_op_name(node->op),
                            x->name, x->offset, gpu_ops_unit(x, &vk_limits));
    }
    return SLM_OK;
}

static uint64_t rows_of(const vk_args *a, int t)
{
    return (uint64_t)a->ne[t][1] * a->ne[t][2] * a->ne[t][3];
}

/* Merge dimension 1 into 0 while each tensor in `mask` (bit t) has dst's
** extents in both and is contiguous across them, so that short rows still
** fill a workgroup. */
static void merge_rows(vk_args *a, unsigned mask)
{
    for (int iter = 0; iter < 3 && rows_of(a, 0) > 1; iter++) {
        for (int t = 0; t < 4; t++) {
            if (!(mask & (1u << t)))
                continue;
            if (a->ne[t][0] != a->ne[0][0] || a->ne[t][1] != a->ne[0][1])
                return;
            if (a->ne[t][1] > 1 && a->nb[t][1] != (uint64_t)a->ne[t][0] * a->nb[t][0])
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

static uint32_t next_pow2(uint32_t n)
{
    uint32_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

/* Chunks of the rows of tensor t's shape: u[0] = chunks per row, u[2] =
** rows, u[3] = team size (ops_common.glsl). With `teams`, rows shorter
** than a workgroup's chunk share a workgroup, one team each; else a
** workgroup takes one chunk of VK_OPS_CHUNK elements. */
static slm_status_t dispatch_chunks(vk_device *d, const char *shader, vk_buffer *bufs[4],
                                    vk_args *a, int t, bool teams)
{
    uint32_t ne0 = a->ne[t][0];
    uint32_t team = VK_OPS_WG;
    if (teams && ne0 < VK_OPS_CHUNK)
        team = next_pow2((ne0 + VK_OPS_ITER - 1) / VK_OPS_ITER);
    uint32_t per_team = team * VK_OPS_ITER;
    uint32_t chunks = (ne0 + per_team - 1) / per_team;
    uint64_t units = (uint64_t)chunks * rows_of(a, t);
    uint32_t per_group = VK_OPS_WG / team;
    a->u[0] = chunks;
    a->u[2] = (uint32_t)rows_of(a, t);
    a->u[3] = team;
    return dispatch_groups(d, shader, bufs, a, (units + per_group - 1) / per_group);
}

/* One team per row of tensor t, about four elements per invocation:
** u[2] = rows, u[3] = team size. */
static slm_status_t dispatch_rows(vk_device *d, const char *shader, vk_buffer *bufs[4],
                                  vk_args *a, int t)
{
    uint32_t team = next_pow2((a->ne[t][0] + 3) / 4);
    if (team > VK_OPS_WG)
        team = VK_OPS_WG;
    uint32_t per_group = VK_OPS_WG / team;
    uint64_t rows = rows_of(a, t);
    a->u[2] = (uint32_t)rows;
    a->u[3] = team;
    return dispatch_groups(d, shader, bufs, a, (rows + per_group - 1) / per_group);
}

static const char *float_name(slm_dtype_t t)
{
    return t == SLM_DTYPE_F32 ? "f32" : t == SLM_DTYPE_F16 ? "f16" : "bf16";
}

static uint32_t float_bits(double v)
{
    float f = (float)v;
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* --------------------------------------------------------------- ops */

static slm_status_t rec_eltwise(vk_device *d, const slm_node_t *node)
{
    vk_args a;
    vk_buffer *bufs[4];
    slm_status_t st = prepare(node, &a, bufs);
    if (st != SLM_OK)
        return st;
    const char *shader;
    switch (node->op) {
    case SLM_OP_ADD: shader = "add"; break;
    case SLM_OP_MUL: shader = "mul"; break;
    case SLM_OP_DIV: shader = "div"; break;
    case SLM_OP_SCALE: shader = "scale"; break;
    case SLM_OP_SILU: shader = "silu"; break;
    case SLM_OP_GELU: shader = "gelu"; break;
    case SLM_OP_TANH: shader = "tanh"; break;
    case SLM_OP_SWIGLU: shader = "swiglu"; break;
    default: shader = "geglu"; break;
    }
    merge_rows(&a, node->src[1] ? 0x7u : 0x3u);
    return dispatch_chunks(d, shader, bufs, &a, 0, true);
}

static slm_status_t rec_per_row(vk_device *d, const slm_node_t *node, const char *shader)
{
    vk_args a;
    vk_buffer *bufs[4];
    slm_status_t st = prepare(node, &a, bufs);
    if (st != SLM_OK)
        return st;
    a.u[0] = node->src[1] != NULL; /* SOFTMAX: a mask */
    return dispatch_rows(d, shader, bufs, &a, 1);
}

/* c(beta) of graph.h's YaRN ramp. */
static double yarn_corr_dim(int n_dims, int n_ctx_orig, double beta, double freq_base)
{
    const double pi = 3.14159265358979323846;
    return n_dims * log(n_ctx_orig / (beta * 2.0 * pi)) / (2.0 * log(freq_base));
}

static slm_status_t rec_rope(vk_device *d, const slm_node_t *node)
{
    vk_args a;
    vk_buffer *bufs[4];
    slm_status_t st = prepare(node, &a, bufs);
    if (st != SLM_OK)
        return st;
    int n_dims = node->iparams[0];
    double freq_base = node->fparams[0], freq_scale = node->fparams[1];
    a.u[0] = node->src[2] != NULL;
    a.u[1] = float_bits(log2(freq_base));
    if (node->fparams[2] != 0.0f) {
        int n_ctx_orig = node->iparams[2];
        a.u[2] = float_bits(fmax(0.0, floor(yarn_corr_dim(n_dims, n_ctx_orig,
                                                          node->fparams[4], freq_base))));
        a.u[3] = float_bits(fmin(n_dims - 1, ceil(yarn_corr_dim(n_dims, n_ctx_orig,
                                                               node->fparams[5], freq_base))));
        a.u[4] = float_bits(node->fparams[3] * (1.0 + 0.1 * log(1.0 / freq_scale)));
    }
    double theta_scale = pow(freq_base, -2.0 / n_dims);
    memcpy(&a.ip[6], &theta_scale, sizeof theta_scale);
    bool neox = node->iparams[1] == SLM_ROPE_NEOX;
    const char *shader = vk_device_caps(d)->fp64 ? (neox ? "rope_neox_f64" : "rope_normal_f64")
                                                 : (neox ? "rope_neox" : "rope_normal");
    return dispatch_groups(d, shader, bufs, &a, rows_of(&a, 1));
}

static slm_status_t rec_copy(vk_device *d, const slm_node_t *node)
{
    vk_args a;
    vk_buffer *bufs[4];
    slm_status_t st = prepare(node, &a, bufs);
    if (st != SLM_OK)
        return st;
    const slm_tensor_t *src = node->src[0], *dst = node->dst;
    slm_dtype_t st_src = src->dtype, st_dst = dst->dtype;
    if (slm_dtype_is_quantized(src->dtype)) {
        /* Rows of blocks map one to one: copy them as raw words, 32-bit
        ** where every offset and stride allows, else 16-bit. */
        size_t row = slm_tensor_row_bytes(src);
        uint32_t unit = 4;
        for (int t = 0; t < 2; t++)
            for (int i = 0; i < 4; i++)
                if (a.off[t] % 4 || a.nb[t][i] % 4 || row % 4)
                    unit = 2;
        for (int t = 0; t < 2; t++) {
            a.ne[t][0] = (uint32_t)(row / unit);
            a.nb[t][0] = unit;
        }
        st_src = st_dst = unit == 4 ? SLM_DTYPE_F32 : SLM_DTYPE_F16;
    }
    char shader[48];
    if (memcmp(a.ne[0], a.ne[1], sizeof a.ne[0]) == 0) {
        snprintf(shader, sizeof shader, "copy_%s_%s", float_name(st_src), float_name(st_dst));
        merge_rows(&a, 0x3u);
        return dispatch_chunks(d, shader, bufs, &a, 0, true);
    }
    snprintf(shader, sizeof shader, "copy_reshape_%s_%s", float_name(st_src),
             float_name(st_dst));
    uint64_t total = (uint64_t)a.ne[0][0] * rows_of(&a, 0);
    a.u[0] = (uint32_t)total;
    return dispatch_groups(d, shader, bufs, &a, (total + VK_OPS_CHUNK - 1) / VK_OPS_CHUNK);
}

static slm_status_t rec_set_rows(vk_device *d, const slm_node_t *node)
{
    vk_args a;
    vk_buffer *bufs[4];
    slm_status_t st = prepare(node, &a, bufs);
    if (st != SLM_OK)
        return st;
    char shader[32];
    snprintf(shader, sizeof shader, "set_rows_%s", float_name(node->dst->dtype));
    return dispatch_chunks(d, shader, bufs, &a, 1, false);
}

/* Describe scratch run region `off` as tensor t of a sort: `n` entries of
** 8 bytes per row, `rows` rows (sort_common.glsl). */
static void scratch_tensor(vk_args *a, int t, uint32_t off, uint32_t n, uint32_t rows)
{
    a->off[t] = off;
    a->ne[t][0] = n, a->ne[t][1] = rows, a->ne[t][2] = 1, a->ne[t][3] = 1;
    a->nb[t][0] = 8, a->nb[t][1] = n * 8, a->nb[t][2] = 0, a->nb[t][3] = 0;
}

/* ARGSORT and TOP_K: sorted chunks, then merge passes that double the runs
** until one run covers the row; both keep `keep` entries of each run. */
static slm_status_t rec_sort(vk_device *d, const slm_node_t *node)
{
    vk_args a;
    vk_buffer *bufs[4];
    slm_status_t st = prepare(node, &a, bufs);
    if (st != SLM_OK)
        return st;
    uint32_t n = a.ne[1][0], keep = a.ne[0][0];
    uint32_t rows = (uint32_t)rows_of(&a, 1);
    bool desc = node->op == SLM_OP_TOP_K || node->iparams[0] == SLM_SORT_DESC;
    bool small = n <= VK_SORT_SMALL;
    uint32_t C = n <= VK_SORT_CHUNK ? next_pow2(n) : VK_SORT_CHUNK;
    uint32_t chunks = (n + C - 1) / C;
    const char *chunk_shader = small ? "sort_chunk_small" : "sort_chunk";
    a.u[0] = C;
    a.u[1] = chunks;
    a.u[4] = desc;
    if (chunks == 1) {
        a.u[2] = keep;
        a.u[3] = 1;
        return dispatch_groups(d, chunk_shader, bufs, &a, rows);
    }

    vk_buffer *run_buf[2];
    uint32_t run_off[2];
    for (int i = 0; i < 2; i++)
        if ((st = vk_scratch(d, (size_t)n * rows * 8, &run_buf[i], &run_off[i])) != SLM_OK)
            return st;
    vk_args c = a;
    c.u[2] = keep < C ? keep : C;
    c.u[3] = 0;
    scratch_tensor(&c, 0, run_off[0], n, rows);
    vk_buffer *cb[4] = {run_buf[0], bufs[1], NULL, NULL};
    if ((st = dispatch_groups(d, chunk_shader, cb, &c, (uint64_t)chunks * rows)) != SLM_OK)
        return st;

    int in = 0;
    for (uint32_t L = C; L < n; L *= 2, in ^= 1) {
        bool final_pass = (uint64_t)L * 2 >= n;
        vk_args m = a;
        memset(m.u, 0, sizeof m.u);
        m.u[0] = L, m.u[1] = n, m.u[2] = keep, m.u[3] = final_pass, m.u[4] = desc;
        scratch_tensor(&m, 1, run_off[in], n, rows);
        if (!final_pass)
            scratch_tensor(&m, 0, run_off[in ^ 1], n, rows);
        vk_buffer *mb[4] = {final_pass ? bufs[0] : run_buf[in ^ 1], run_buf[in], NULL, NULL};
        uint64_t groups = (uint64_t)rows * ((n + VK_MERGE_WG - 1) / VK_MERGE_WG);
        if ((st = dispatch_groups(d, "sort_merge", mb, &m, groups)) != SLM_OK)
            return st;
    }
    return SLM_OK;
}

slm_status_t vk_ops_record(vk_device *d, const slm_node_t *node)
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
    case SLM_OP_GEGLU: return rec_eltwise(d, node);
    case SLM_OP_RMS_NORM: return rec_per_row(d, node, "rms_norm");
    case SLM_OP_SUM_ROWS: return rec_per_row(d, node, "sum_rows");
    case SLM_OP_SOFTMAX: return rec_per_row(d, node, "softmax");
    case SLM_OP_ROPE: return rec_rope(d, node);
    case SLM_OP_COPY: return rec_copy(d, node);
    case SLM_OP_SET_ROWS: return rec_set_rows(d, node);
    case SLM_OP_ARGSORT:
    case SLM_OP_TOP_K: return rec_sort(d, node);
    default:
        return vk_error(SLM_ERR_UNSUPPORTED, "vulkan: op %s is not in vk_ops",
                        slm_op_name(node->op));
    }
}
