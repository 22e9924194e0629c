/*
** cl_matmul.c -- MUL_MAT, MUL_MAT_ID and GET_ROWS: the ops that read
** block-quantised data (kernels/dequant.cl, quant.cl, mul_mat.cl,
** get_rows.cl).
**
** A matrix product is two enqueues:
**   1. quant_* turns every src1 row, whatever its strides, into a dense row
**      in scratch of what graph.h multiplies the weight with: Q8_0 blocks
**      (Q4_0, Q8_0 weights), Q8_K blocks (Q4_K, Q6_K), floats rounded to
**      F16/BF16, or the floats themselves for F32. The quantisers follow
**      graph.h bit for bit (correctly rounded divisions through fp64 where
**      the device has it, else integer long division), so results differ
**      from the reference only in the order of float sums. Doing it once
**      per node keeps it out of the N-fold inner loop.
**   2. mul_mat_* gives each work-item one weight row against one column
**      (_vec: decode, MUL_MAT_ID) or MM_NC columns (_mat: prompts, each
**      weight block unpacked once for all of them), the whole row walked
**      with 16-wide integer vectors: the shape PoCL runs fast. On a GPU
**      (cl_caps.row_lanes > 0) decode and MUL_MAT_ID give each row a
**      work-group of lanes instead (_wide), which read the row side by side
**      and add their partial sums in local memory or a subgroup.
** GET_ROWS is one enqueue that dequantises with the reference's own float
** operations, so it is bit-exact.
*/
#include <stdio.h>

#include "cl_internal.h"

#include "../gpu/gpu_matmul_check.h"

/* ------------------------------------------------------------ geometry */

#define MM_NC 4u       /* columns per work-item of mul_mat_*_mat (mul_mat.cl) */
#define ROW_WG 64u     /* work-group size along the weight rows */
#define LINEAR_WG 64u  /* work-group size of the quant_* enqueues */
#define PLAIN_CHUNK 16u /* floats per work-item of quant_f* and get_rows_f* */

/* Scratch bytes per act block (dequant.cl MM_Q8A_BYTES, MM_Q8KA_BYTES). */
#define Q8_0_ACT_BYTES 36u
#define Q8_K_ACT_BYTES 292u

/* ------------------------------------------------------------ dtypes */

/* How MUL_MAT meets a weight dtype. */
typedef struct WeightKind {
    slm_dtype_t dtype;
    const char *name;      /* kernel name suffix */
    const char *prep;      /* activation kernel (quant.cl) */
    bool exact_div;        /* prep has _f64 and _int variants */
    uint32_t act_elems;    /* src1 elements per act unit (0: floats) */
    uint32_t act_bytes;    /* scratch bytes per act unit */
} WeightKind;

static const WeightKind weight_kinds[] = {
    {SLM_DTYPE_F32, "f32", "quant_f32", false, 0, 4},
    {SLM_DTYPE_F16, "f16", "quant_f16", false, 0, 4},
    {SLM_DTYPE_BF16, "bf16", "quant_bf16", false, 0, 4},
    {SLM_DTYPE_Q4_0, "q4_0", "quant_q8_0", true, SLM_QK8_0, Q8_0_ACT_BYTES},
    {SLM_DTYPE_Q8_0, "q8_0", "quant_q8_0", true, SLM_QK8_0, Q8_0_ACT_BYTES},
    {SLM_DTYPE_Q4_K, "q4_k", "quant_q8_k", true, SLM_QK_K, Q8_K_ACT_BYTES},
    {SLM_DTYPE_Q6_K, "q6_k", "quant_q8_k", true, SLM_QK_K, Q8_K_ACT_BYTES},
};

#define N_KINDS (sizeof weight_kinds / sizeof weight_kinds[0])

static const WeightKind *weight_kind(slm_dtype_t dtype)
{
    for (size_t i = 0; i < N_KINDS; i++)
        if (weight_kinds[i].dtype == dtype)
            return &weight_kinds[i];
    return NULL;
}

uint64_t cl_matmul_op_mask(void)
{
    return SLM_OP_BIT(SLM_OP_GET_ROWS) | SLM_OP_BIT(SLM_OP_MUL_MAT) |
           SLM_OP_BIT(SLM_OP_MUL_MAT_ID);
}

uint64_t cl_matmul_dtype_mask(void)
{
    uint64_t mask = SLM_DTYPE_BIT(SLM_DTYPE_I32); /* ids */
    for (size_t i = 0; i < N_KINDS; i++)
        mask |= SLM_DTYPE_BIT(weight_kinds[i].dtype);
    return mask;
}

/* ------------------------------------------------------------ checks */

static uint64_t round_up(uint64_t n, uint64_t m)
{
    return (n + m - 1) / m * m;
}

/* What a matrix product enqueues, worked out from shapes alone, so that
** supports and enqueue agree. */
typedef struct MatPlan {
    const WeightKind *kind;
    uint32_t units;         /* weight units (blocks, or elements) per row */
    uint32_t act_units;     /* act units (blocks, or PLAIN_CHUNK floats) per row */
    uint32_t act_row_bytes; /* bytes of a prepared row in scratch */
    uint64_t act_rows;      /* src1 rows prepared */
    size_t prep_gws;
    size_t dot_gws[3];
    size_t dot_lws[3];
    const char *variant;    /* "vec", "mat", "wide", or "" for MUL_MAT_ID */
} MatPlan;

static bool plan_mat(const cl_dev *d, const slm_node_t *node, MatPlan *p)
{
    uint32_t lanes = cl_dev_caps(d)->row_lanes;
    const slm_tensor_t *w = node->src[0], *x = node->src[1];
    p->kind = weight_kind(w->dtype);
    if (!p->kind)
        return false;
    uint64_t K = (uint64_t)w->ne[0], N = (uint64_t)w->ne[1];
    p->units = (uint32_t)(K / (uint64_t)slm_dtype_block_elems(w->dtype));
    p->act_units = p->kind->act_elems ? (uint32_t)(K / p->kind->act_elems)
                                      : (uint32_t)((K + PLAIN_CHUNK - 1) / PLAIN_CHUNK);
    uint64_t row_bytes = p->kind->act_elems ? (uint64_t)p->act_units * p->kind->act_bytes
                                            : K * sizeof(float);
    p->act_rows = (uint64_t)(x->ne[1] * x->ne[2] * x->ne[3]);
    uint64_t total = p->act_rows * p->act_units;
    if (row_bytes * p->act_rows > UINT32_MAX / 2 || total > UINT32_MAX / 2)
        return false;
    p->act_row_bytes = (uint32_t)row_bytes;
    p->prep_gws = (size_t)round_up(total, LINEAR_WG);
    bool id = node->op == SLM_OP_MUL_MAT_ID, vec = !id && x->ne[1] == 1;
    bool wide = lanes && (id || vec);
    p->dot_gws[0] = wide ? (size_t)(N * lanes) : (size_t)round_up(N, ROW_WG);
    p->dot_lws[0] = wide ? lanes : ROW_WG;
    p->dot_lws[1] = p->dot_lws[2] = 1;
    if (id) {
        const slm_tensor_t *ids = node->src[2];
        p->variant = wide ? "_wide" : "";
        p->dot_gws[1] = (size_t)ids->ne[0];
        p->dot_gws[2] = (size_t)ids->ne[1];
    } else {
        p->variant = wide ? "_wide" : vec ? "_vec" : "_mat";
        p->dot_gws[1] = vec ? 1 : (size_t)round_up((uint64_t)x->ne[1], MM_NC) / MM_NC;
        p->dot_gws[2] = (size_t)(x->ne[2] * x->ne[3]);
    }
    /* the kernels' global ids are 32-bit */
    return p->dot_gws[0] <= UINT32_MAX && p->dot_gws[2] <= UINT32_MAX;
}

/* MUL_MAT and MUL_MAT_ID: the shared rules, then a plan that fits. */
static bool mat_ok(const cl_dev *d, const slm_node_t *node)
{
    MatPlan plan;
    return gpu_matmul_shape_ok(node) && plan_mat(d, node, &plan);
}

/* GET_ROWS: units (blocks, or PLAIN_CHUNK elements) per row. */
static uint32_t rows_units(const slm_tensor_t *table)
{
    int64_t be = slm_dtype_block_elems(table->dtype);
    int64_t per = be > 1 ? be : PLAIN_CHUNK;
    return (uint32_t)((table->ne[0] + per - 1) / per);
}

static bool get_rows_ok(const slm_node_t *node)
{
    const slm_tensor_t *table = node->src[0];
    return gpu_matmul_shape_ok(node) && weight_kind(table->dtype) &&
           (uint64_t)table->ne[2] * (uint64_t)table->ne[3] <= UINT32_MAX;
}

bool cl_matmul_supports(const cl_dev *d, const slm_node_t *node)
{
    if (!node || !node->dst)
        return false;
    switch (node->op) {
    case SLM_OP_MUL_MAT:
    case SLM_OP_MUL_MAT_ID: return mat_ok(d, node);
    case SLM_OP_GET_ROWS: return get_rows_ok(node);
    default: return false;
    }
}

/* ------------------------------------------------------------ enqueue */

static slm_status_t check_offsets(const slm_node_t *node)
{
    const slm_tensor_t *t = gpu_matmul_misaligned(node);
    if (!t)
        return SLM_OK;
    return cl_error(SLM_ERR_UNSUPPORTED, "%s: tensor '%s' at byte offset %zu is not aligned "
                    "to its %zu-byte elements", slm_op_name(node->op), t->name, t->offset,
                    slm_dtype_block_bytes(t->dtype));
}

static slm_status_t enqueue_mat(cl_dev *d, const slm_node_t *node)
{
    const slm_tensor_t *w = node->src[0], *x = node->src[1];
    bool id = node->op == SLM_OP_MUL_MAT_ID;
    MatPlan p;
    if (!plan_mat(d, node, &p))
        return cl_error(SLM_ERR_UNSUPPORTED, "%s: shape out of the kernels' range",
                        slm_op_name(node->op));
    slm_status_t st = check_offsets(node);
    if (st != SLM_OK)
        return st;
    cl_args args;
    if (!cl_args_from_node(node, &args))
        return SLM_ERR_INVALID_ARG;
    cl_buf *bufs[4];
    cl_node_bufs(node, bufs);

    cl_buf *scratch;
    uint32_t off;
    st = cl_scratch(d, (size_t)p.act_row_bytes * p.act_rows, &scratch, &off);
    if (st != SLM_OK)
        return st;
    cl_args prep = args;
    prep.u[0] = off;
    prep.u[1] = p.act_units;
    prep.u[2] = (uint32_t)(p.act_rows * p.act_units);
    char name[48];
    snprintf(name, sizeof name, "%s%s", p.kind->prep,
             !p.kind->exact_div ? "" : cl_dev_caps(d)->fp64 ? "_f64" : "_int");
    cl_buf *pbufs[4] = {scratch, NULL, bufs[2], NULL};
    size_t lws = LINEAR_WG;
    st = cl_enqueue(d, name, pbufs, &prep, 1, &p.prep_gws, &lws);
    if (st != SLM_OK)
        return st;

    /* The dot kernels read the dense rows in scratch instead of src1:
    ** src1's rows in ne order, act_row_bytes apart. */
    args.off[2] = off;
    args.nb[2][0] = 4;
    args.nb[2][1] = p.act_row_bytes;
    args.nb[2][2] = p.act_row_bytes * (uint32_t)x->ne[1];
    args.nb[2][3] = p.act_row_bytes * (uint32_t)(x->ne[1] * x->ne[2]);
    bufs[2] = scratch;
    args.u[0] = p.units;
    args.u[1] = id ? 1u : (uint32_t)(x->ne[2] / w->ne[2]);
    args.u[2] = id ? 1u : (uint32_t)(x->ne[3] / w->ne[3]);
    snprintf(name, sizeof name, "mul_mat_%s%s%s", id ? "id_" : "", p.kind->name, p.variant);
    return cl_enqueue(d, name, bufs, &args, 3, p.dot_gws, p.dot_lws);
}

static slm_status_t enqueue_rows(cl_dev *d, const slm_node_t *node)
{
    const slm_tensor_t *table = node->src[0], *ids = node->src[1];
    const WeightKind *kind = weight_kind(table->dtype);
    if (!kind)
        return cl_error(SLM_ERR_UNSUPPORTED, "GET_ROWS: dtype %s",
                        slm_dtype_name(table->dtype));
    slm_status_t st = check_offsets(node);
    if (st != SLM_OK)
        return st;
    cl_args args;
    if (!cl_args_from_node(node, &args))
        return SLM_ERR_INVALID_ARG;
    cl_buf *bufs[4];
    cl_node_bufs(node, bufs);
    const size_t gws[3] = {rows_units(table), (size_t)ids->ne[0],
                           (size_t)(table->ne[2] * table->ne[3])};
    char name[32];
    snprintf(name, sizeof name, "get_rows_%s", kind->name);
    return cl_enqueue(d, name, bufs, &args, 3, gws, NULL);
}

slm_status_t cl_matmul_enqueue(cl_dev *d, const slm_node_t *node)
{
    switch (node->op) {
    case SLM_OP_MUL_MAT:
    case SLM_OP_MUL_MAT_ID:
        return enqueue_mat(d, node);
    case SLM_OP_GET_ROWS:
        return enqueue_rows(d, node);
    default:
        return cl_error(SLM_ERR_UNSUPPORTED, "cl_matmul: op %s is not mine",
                        slm_op_name(node->op));
    }
}
