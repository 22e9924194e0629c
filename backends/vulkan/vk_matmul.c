/*
** vk_matmul.c -- MUL_MAT, MUL_MAT_ID and GET_ROWS: the ops that read
** block-quantised data (shaders/matmul.list names their pipelines).
**
** A matrix product takes one or two dispatches:
**   1. Unless the weight is F32, quant_* turns every src1 row, whatever its
**      strides, into a dense row in scratch of what graph.h multiplies the
**      weight with: Q8_0 blocks (Q4_0, Q8_0 weights), Q8_K blocks (Q4_K,
**      Q6_K) or floats rounded to F16/BF16. The quantisers follow graph.h
**      bit for bit (exact divisions, explicit ties; see quant.glsl), so the
**      results differ from the reference only in the order of float sums.
**      Doing it once per node keeps it out of the N-fold inner loop.
**   2. mul_mat_* computes tiles of the output: RPW weight rows by NC
**      columns per workgroup, each weight block loaded once for the NC
**      columns. M == 1 (decode) uses a one-column tile and MUL_MAT_ID one
**      column per (expert slot, token) pair.
** GET_ROWS is one dispatch that dequantises with the reference's own float
** operations, so it is bit-exact.
**
** Every workgroup count is folded into x, y and z within maxComputeWork-
** GroupCount; the shaders rebuild the linear index and drop the excess.
*/
#include <stdint.h>
#include <stdio.h>

#include "vk_internal.h"

#include "../gpu/gpu_matmul_check.h"

/* ------------------------------------------------------------ geometry */

/* The tiles of the mul_mat variants; shaders/matmul.list passes the same
** values as NC and RPW. */
#define VEC_RPW 8u  /* decode: rows per workgroup, one column */
#define MAT_RPW 4u  /* prompt: rows per workgroup ... */
#define MAT_NC 4u   /* ... by columns per workgroup */
#define ID_RPW 8u   /* MUL_MAT_ID: rows per workgroup, one column */

/* Invocations per workgroup of quant_* and get_rows_* (local_size_x). */
#define LINEAR_WG 64u

/* Scratch bytes per unit of the prepared activations (quant_layout.glsl:
** 10 words per Q8_0 block, 73 per Q8_K block, a float per F16/BF16 value). */
#define Q8_0_ACT_BYTES 40u
#define Q8_K_ACT_BYTES 292u

/* ------------------------------------------------------------ dtypes */

/* How MUL_MAT meets a weight dtype. */
typedef struct WeightKind {
    slm_dtype_t dtype;
    const char *name;       /* pipeline name suffix */
    const char *prep;       /* activation pipeline, NULL: src1 read as is */
    uint32_t prep_elems;    /* src1 elements per prepared unit */
    uint32_t prep_bytes;    /* scratch bytes per prepared unit */
    bool exact_div;         /* prep has _f64 and _int variants */
} WeightKind;

static const WeightKind weight_kinds[] = {
    {SLM_DTYPE_F32, "f32", NULL, 1, 4, false},
    {SLM_DTYPE_F16, "f16", "quant_f16", 1, 4, false},
    {SLM_DTYPE_BF16, "bf16", "quant_bf16", 1, 4, false},
    {SLM_DTYPE_Q4_0, "q4_0", "quant_q8_0", SLM_QK8_0, Q8_0_ACT_BYTES, true},
    {SLM_DTYPE_Q8_0, "q8_0", "quant_q8_0", SLM_QK8_0, Q8_0_ACT_BYTES, true},
    {SLM_DTYPE_Q4_K, "q4_k", "quant_q8_k", SLM_QK_K, Q8_K_ACT_BYTES, true},
    {SLM_DTYPE_Q6_K, "q6_k", "quant_q8_k", SLM_QK_K, Q8_K_ACT_BYTES, true},
};

static const WeightKind *weight_kind(slm_dtype_t dtype)
{
    for (size_t i = 0; i < sizeof weight_kinds / sizeof weight_kinds[0]; i++)
        if (weight_kinds[i].dtype == dtype)
            return &weight_kinds[i];
    return NULL;
}

uint64_t vk_matmul_op_mask(void)
{
    return SLM_OP_BIT(SLM_OP_GET_ROWS) | SLM_OP_BIT(SLM_OP_MUL_MAT) |
           SLM_OP_BIT(SLM_OP_MUL_MAT_ID);
}

uint64_t vk_matmul_dtype_mask(void)
{
    uint64_t mask = SLM_DTYPE_BIT(SLM_DTYPE_I32); /* ids */
    for (size_t i = 0; i < sizeof weight_kinds / sizeof weight_kinds[0]; i++)
        mask |= SLM_DTYPE_BIT(weight_kinds[i].dtype);
    return mask;
}

/* ------------------------------------------------------------ checks */

/* Fold `total` workgroups into g[0..2] within the device's limits, keeping
** the linear index the shaders rebuild within 32 bits. */
static bool fold_grid(const vk_caps *caps, uint64_t total, uint32_t g[3])
{
    if (total == 0 || total > UINT32_MAX / 2)
        return false;
    uint64_t gx = total < caps->max_wg_count[0] ? total : caps->max_wg_count[0];
    uint64_t rest = (total + gx - 1) / gx;
    uint64_t gy = rest < caps->max_wg_count[1] ? rest : caps->max_wg_count[1];
    uint64_t gz = (rest + gy - 1) / gy;
    if (gz > caps->max_wg_count[2] || gx * gy * gz > UINT32_MAX)
        return false;
    g[0] = (uint32_t)gx;
    g[1] = (uint32_t)gy;
    g[2] = (uint32_t)gz;
    return true;
}

/* What a matrix product dispatches, worked out from shapes alone, so that
** supports and record agree. */
typedef struct MatPlan {
    const WeightKind *kind;
    uint64_t act_rows;      /* src1 rows prepared */
    uint64_t prep_units;    /* prepared units per row */
    uint64_t scratch_bytes; /* 0 without a prep dispatch */
    uint32_t units;         /* weight units (blocks, or elements) per row */
    uint32_t row_tiles, col_tiles;
    uint32_t prep_grid[3], dot_grid[3];
    uint64_t dot_wgs;
    const char *variant;    /* "vec", "mat" or NULL for MUL_MAT_ID */
} MatPlan;

static bool plan_mat(const vk_caps *caps, const slm_node_t *node, MatPlan *p)
{
    const slm_tensor_t *w = node->src[0], *x = node->src[1];
    bool id = node->op == SLM_OP_MUL_MAT_ID;
    p->kind = weight_kind(w->dtype);
    if (!p->kind)
        return false;
    int64_t K = w->ne[0], N = w->ne[1];
    p->act_rows = (uint64_t)(x->ne[1] * x->ne[2] * x->ne[3]);
    p->units = (uint32_t)(K / slm_dtype_block_elems(w->dtype));
    p->prep_units = (uint64_t)K / p->kind->prep_elems;
    p->scratch_bytes = 0;
    if (p->kind->prep) {
        uint64_t total = p->act_rows * p->prep_units;
        p->scratch_bytes = total * p->kind->prep_bytes;
        if (p->scratch_bytes > UINT32_MAX / 2 ||
            !fold_grid(caps, (total + LINEAR_WG - 1) / LINEAR_WG, p->prep_grid))
            return false;
    }
    uint64_t cols, mats = 1;
    uint32_t rpw;
    if (id) {
        const slm_tensor_t *ids = node->src[2];
        p->variant = NULL;
        rpw = ID_RPW;
        cols = (uint64_t)(ids->ne[0] * ids->ne[1]);
    } else {
        bool vec = x->ne[1] == 1;
        p->variant = vec ? "vec" : "mat";
        rpw = vec ? VEC_RPW : MAT_RPW;
        cols = ((uint64_t)x->ne[1] + (vec ? 1 : MAT_NC) - 1) / (vec ? 1 : MAT_NC);
        mats = (uint64_t)(x->ne[2] * x->ne[3]);
    }
    p->row_tiles = (uint32_t)(((uint64_t)N + rpw - 1) / rpw);
    if (cols > UINT32_MAX)
        return false;
    p->col_tiles = (uint32_t)cols;
    p->dot_wgs = (uint64_t)p->row_tiles * cols * mats;
    return fold_grid(caps, p->dot_wgs, p->dot_grid);
}

/* MUL_MAT and MUL_MAT_ID: the shared rules, then a plan that fits. */
static bool mat_ok(const vk_caps *caps, const slm_node_t *node)
{
    MatPlan plan;
    return gpu_matmul_shape_ok(node) && plan_mat(caps, node, &plan);
}

/* GET_ROWS work: units (blocks, or elements) per row, and the grid. */
static bool plan_rows(const vk_caps *caps, const slm_node_t *node,
                      uint32_t *units, uint32_t *total, uint32_t grid[3])
{
    const slm_tensor_t *table = node->src[0], *ids = node->src[1];
    uint64_t per_row = (uint64_t)(table->ne[0] / slm_dtype_block_elems(table->dtype));
    uint64_t all = per_row * (uint64_t)(ids->ne[0] * ids->ne[1] * ids->ne[2]);
    if (all > UINT32_MAX / 2)
        return false;
    *units = (uint32_t)per_row;
    *total = (uint32_t)all;
    return fold_grid(caps, (all + LINEAR_WG - 1) / LINEAR_WG, grid);
}

static bool get_rows_ok(const vk_caps *caps, const slm_node_t *node)
{
    uint32_t units, total, grid[3];
    return gpu_matmul_shape_ok(node) && weight_kind(node->src[0]->dtype) &&
           plan_rows(caps, node, &units, &total, grid);
}

bool vk_matmul_supports(const vk_device *d, const slm_node_t *node)
{
    const vk_caps *caps = vk_device_caps(d);
    if (!node || !node->dst)
        return false;
    switch (node->op) {
    case SLM_OP_MUL_MAT:
    case SLM_OP_MUL_MAT_ID: return mat_ok(caps, node);
    case SLM_OP_GET_ROWS: return get_rows_ok(caps, node);
    default: return false;
    }
}

/* ------------------------------------------------------------ record */

static slm_status_t check_offsets(const slm_node_t *node)
{
    const slm_tensor_t *t = gpu_matmul_misaligned(node);
    if (!t)
        return SLM_OK;
    return vk_error(SLM_ERR_UNSUPPORTED, "%s: tensor '%s' at byte offset %zu is not aligned "
                    "to its %zu-byte elements", slm_op_name(node->op), t->name, t->offset,
                    slm_dtype_block_bytes(t->dtype));
}

static slm_status_t record_mat(vk_device *d, const slm_node_t *node)
{
    const vk_caps *caps = vk_device_caps(d);
    const slm_tensor_t *w = node->src[0], *x = node->src[1];
    bool id = node->op == SLM_OP_MUL_MAT_ID;
    MatPlan p;
    if (!plan_mat(caps, node, &p))
        return vk_error(SLM_ERR_UNSUPPORTED, "%s: shape out of the kernels' range",
                        slm_op_name(node->op));
    slm_status_t st = check_offsets(node);
    if (st != SLM_OK)
        return st;
    vk_args args;
    if (!vk_args_from_node(node, &args))
        return SLM_ERR_INVALID_ARG;
    vk_buffer *bufs[4];
    vk_node_buffers(node, bufs);

    if (p.kind->prep) {
        vk_buffer *scratch;
        uint32_t off;
        st = vk_scratch(d, (size_t)p.scratch_bytes, &scratch, &off);
        if (st != SLM_OK)
            return st;
        vk_args prep = args;
        prep.u[0] = off;
        prep.u[1] = (uint32_t)p.prep_units;
        prep.u[2] = (uint32_t)(p.act_rows * p.prep_units);
        char name[48];
        snprintf(name, sizeof name, "%s%s", p.kind->prep,
                 !p.kind->exact_div ? "" : caps->fp64 ? "_f64" : "_int");
        vk_buffer *pbufs[4] = {scratch, NULL, bufs[2], NULL};
        st = vk_dispatch(d, name, pbufs, &prep, p.prep_grid[0], p.prep_grid[1],
                         p.prep_grid[2]);
        if (st != SLM_OK)
            return st;
        /* The dot kernels now read the dense rows in scratch instead of
        ** src1: rows of row_bytes, src1's rows in ne order. */
        uint32_t row_bytes = (uint32_t)(p.prep_units * p.kind->prep_bytes);
        args.off[2] = off;
        args.nb[2][0] = 4;
        args.nb[2][1] = row_bytes;
        args.nb[2][2] = row_bytes * (uint32_t)x->ne[1];
        args.nb[2][3] = row_bytes * (uint32_t)(x->ne[1] * x->ne[2]);
        bufs[2] = scratch;
    }

    args.u[0] = p.row_tiles;
    args.u[1] = p.col_tiles;
    args.u[2] = (uint32_t)p.dot_wgs;
    args.u[3] = id ? 1u : (uint32_t)(x->ne[2] / w->ne[2]);
    args.u[4] = id ? 1u : (uint32_t)(x->ne[3] / w->ne[3]);
    args.u[5] = p.units;
    char name[48];
    if (id)
        snprintf(name, sizeof name, "mul_mat_id_%s", p.kind->name);
    else
        snprintf(name, sizeof name, "mul_mat_%s_%s", p.kind->name, p.variant);
    return vk_dispatch(d, name, bufs, &args, p.dot_grid[0], p.dot_grid[1],
                       p.dot_grid[2]);
}

static slm_status_t record_rows(vk_device *d, const slm_node_t *node)
{
    const WeightKind *kind = weight_kind(node->src[0]->dtype);
    uint32_t units, total, grid[3];
    if (!kind || !plan_rows(vk_device_caps(d), node, &units, &total, grid))
        return vk_error(SLM_ERR_UNSUPPORTED, "GET_ROWS: shape out of the "
                        "kernel's range");
    slm_status_t st = check_offsets(node);
    if (st != SLM_OK)
        return st;
    vk_args args;
    if (!vk_args_from_node(node, &args))
        return SLM_ERR_INVALID_ARG;
    args.u[0] = units;
    args.u[1] = total;
    vk_buffer *bufs[4];
    vk_node_buffers(node, bufs);
    char name[32];
    snprintf(name, sizeof name, "get_rows_%s", kind->name);
    return vk_dispatch(d, name, bufs, &args, grid[0], grid[1], grid[2]);
}

slm_status_t vk_matmul_record(vk_device *d, const slm_node_t *node)
{
    switch (node->op) {
    case SLM_OP_MUL_MAT:
    case SLM_OP_MUL_MAT_ID:
        return record_mat(d, node);
    case SLM_OP_GET_ROWS:
        return record_rows(d, node);
    default:
        return vk_error(SLM_ERR_UNSUPPORTED, "vk_matmul: op %s is not mine",
                        slm_op_name(node->op));
    }
}
