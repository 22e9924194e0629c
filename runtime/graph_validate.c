/*
** graph_validate.c -- the rules of slm/graph.h, checked.
**
** The builder checks each op as it is appended, and the scheduler checks the
** whole graph again before any plugin sees it: the application holds
** writable pointers to its tensors, so what was valid at slm_graph_op time
** is not trusted at run time. Both go through slm__node_check.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"

/* ---------------------------------------------------------------- geometry */

void slm__tensor_label(const slm_tensor_t *t, const char *role, char *buf,
                       size_t size)
{
    if (t && t->name[0])
        snprintf(buf, size, "%s '%.*s'", role, SLM_MAX_NAME - 1, t->name);
    else
        snprintf(buf, size, "%s", role);
}

static bool mul_size(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return false;
    *out = a * b;
    return true;
}

size_t slm__compact_bytes(slm_dtype_t dtype, const int64_t ne[SLM_MAX_DIMS])
{
    int64_t be = slm_dtype_block_elems(dtype);
    if (be <= 0 || ne[0] <= 0 || ne[0] % be != 0)
        return 0;
    size_t bytes = (size_t)(ne[0] / be) * slm_dtype_block_bytes(dtype);
    int64_t elems = ne[0];
    for (int i = 1; i < SLM_MAX_DIMS; i++) {
        if (ne[i] <= 0 || !mul_size(bytes, (size_t)ne[i], &bytes))
            return 0;
        if (elems > INT64_MAX / ne[i])
            return 0;
        elems *= ne[i];
    }
    /* Offsets are added to sizes everywhere; keep clear of the top. */
    return bytes <= (size_t)PTRDIFF_MAX ? bytes : 0;
}

bool slm__nelements_fit(const int64_t ne[SLM_MAX_DIMS])
{
    int64_t n = 1;
    for (int i = 0; i < SLM_MAX_DIMS; i++) {
        if (ne[i] <= 0 || ne[i] > INT64_MAX / n)
            return false;
        n *= ne[i];
    }
    return true;
}

size_t slm__tensor_extent(const slm_tensor_t *t)
{
    int64_t be = slm_dtype_block_elems(t->dtype);
    if (be <= 0)
        return SIZE_MAX;
    size_t last = 0;
    for (int i = 0; i < SLM_MAX_DIMS; i++) {
        int64_t n = i == 0 ? t->ne[0] / be : t->ne[i];
        size_t step;
        if (n <= 0 || !mul_size((size_t)(n - 1), t->nb[i], &step) ||
            last > SIZE_MAX - step)
            return SIZE_MAX;
        last += step;
    }
    size_t bb = slm_dtype_block_bytes(t->dtype);
    return last > SIZE_MAX - bb ? SIZE_MAX : last + bb;
}

/* ---------------------------------------------------------------- op rules */

/* What one check knows; labels are "src1 'x'" or "dst". */
typedef struct op_ctx {
    slm_op_t op;
    bool in_place;                            /* writes into the given dst */
    const slm_tensor_t *t[SLM_MAX_SRC + 1];   /* src0..3, then dst */
    char lab[SLM_MAX_SRC + 1][SLM_MAX_NAME + 16];
} op_ctx;

enum { DST = SLM_MAX_SRC };

#define F32_MASK SLM_DTYPE_BIT(SLM_DTYPE_F32)
#define I32_MASK SLM_DTYPE_BIT(SLM_DTYPE_I32)
#define FLOAT_MASK (SLM_DTYPE_BIT(SLM_DTYPE_F32) | SLM_DTYPE_BIT(SLM_DTYPE_F16) | \
                    SLM_DTYPE_BIT(SLM_DTYPE_BF16))

static slm_status_t bad(const op_ctx *c, const char *fmt, ...) SLM__PRINTF(2, 3);

static slm_status_t bad(const op_ctx *c, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return slm__error(SLM_ERR_GRAPH, "%s: %s", slm_op_name(c->op), msg);
}

/* Sources 0..req-1 present, req..req+opt-1 optional, the rest absent. */
static slm_status_t arity(const op_ctx *c, int req, int opt)
{
    for (int k = 0; k < SLM_MAX_SRC; k++) {
        if (k < req && !c->t[k])
            return bad(c, "src%d is missing (takes %d source%s)", k, req,
                       req == 1 ? "" : "s");
        if (k >= req + opt && c->t[k])
            return bad(c, "src%d given but the op takes at most %d source%s",
                       k, req + opt, req + opt == 1 ? "" : "s");
    }
    return SLM_OK;
}

static slm_status_t want_dtype(const op_ctx *c, int k, uint64_t mask,
                               const char *expected)
{
    slm_dtype_t dt = c->t[k]->dtype;
    if ((unsigned)dt < 64 && (mask & SLM_DTYPE_BIT(dt)))
        return SLM_OK;
    return bad(c, "%s dtype %s, expected %s", c->lab[k], slm_dtype_name(dt),
               expected);
}

static slm_status_t want_eq(const op_ctx *c, int a, int da, int b, int db)
{
    if (c->t[a]->ne[da] == c->t[b]->ne[db])
        return SLM_OK;
    return bad(c, "%s ne[%d]=%lld != %s ne[%d]=%lld", c->lab[a], da,
               (long long)c->t[a]->ne[da], c->lab[b], db,
               (long long)c->t[b]->ne[db]);
}

static slm_status_t want_val(const op_ctx *c, int a, int d, int64_t v)
{
    if (c->t[a]->ne[d] == v)
        return SLM_OK;
    return bad(c, "%s ne[%d]=%lld, expected %lld", c->lab[a], d,
               (long long)c->t[a]->ne[d], (long long)v);
}

/* t[small] broadcasts over t[big] in dimension d. */
static slm_status_t want_div(const op_ctx *c, int small, int big, int d)
{
    if (c->t[big]->ne[d] % c->t[small]->ne[d] == 0)
        return SLM_OK;
    return bad(c, "%s ne[%d]=%lld does not divide %s ne[%d]=%lld",
               c->lab[small], d, (long long)c->t[small]->ne[d], c->lab[big],
               d, (long long)c->t[big]->ne[d]);
}

static slm_status_t want_same_shape(const op_ctx *c, int a, int b)
{
    for (int d = 0; d < SLM_MAX_DIMS; d++) {
        slm_status_t st = want_eq(c, a, d, b, d);
        if (st != SLM_OK)
            return st;
    }
    return SLM_OK;
}

#define TRY(x) do { slm_status_t st_ = (x); if (st_ != SLM_OK) return st_; } while (0)

static void same_shape_out(const slm_tensor_t *t, int64_t ne[SLM_MAX_DIMS])
{
    memcpy(ne, t->ne, sizeof t->ne);
}

static slm_status_t check_get_rows(const op_ctx *c, int64_t ne[SLM_MAX_DIMS])
{
    TRY(arity(c, 2, 0));
    TRY(want_dtype(c, 1, I32_MASK, "i32"));
    TRY(want_eq(c, 1, 1, 0, 2));
    TRY(want_eq(c, 1, 2, 0, 3));
    TRY(want_val(c, 1, 3, 1));
    ne[0] = c->t[0]->ne[0];
    ne[1] = c->t[1]->ne[0];
    ne[2] = c->t[0]->ne[2];
    ne[3] = c->t[0]->ne[3];
    return SLM_OK;
}

static slm_status_t check_mul_mat(const op_ctx *c, int64_t ne[SLM_MAX_DIMS])
{
    TRY(arity(c, 2, 0));
    TRY(want_dtype(c, 1, F32_MASK, "f32"));
    TRY(want_eq(c, 1, 0, 0, 0));
    TRY(want_div(c, 0, 1, 2));
    TRY(want_div(c, 0, 1, 3));
    ne[0] = c->t[0]->ne[1];
    ne[1] = c->t[1]->ne[1];
    ne[2] = c->t[1]->ne[2];
    ne[3] = c->t[1]->ne[3];
    return SLM_OK;
}

static slm_status_t check_binary(const op_ctx *c, int64_t ne[SLM_MAX_DIMS])
{
    TRY(arity(c, 2, 0));
    TRY(want_dtype(c, 0, F32_MASK, "f32"));
    TRY(want_dtype(c, 1, F32_MASK, "f32"));
    for (int d = 0; d < SLM_MAX_DIMS; d++)
        TRY(want_div(c, 1, 0, d));
    same_shape_out(c->t[0], ne);
    return SLM_OK;
}

static slm_status_t check_unary(const op_ctx *c, int64_t ne[SLM_MAX_DIMS])
{
    TRY(arity(c, 1, 0));
    TRY(want_dtype(c, 0, F32_MASK, "f32"));
    same_shape_out(c->t[0], ne);
    return SLM_OK;
}

static slm_status_t check_gated(const op_ctx *c, int64_t ne[SLM_MAX_DIMS])
{
    TRY(arity(c, 2, 0));
    TRY(want_dtype(c, 0, F32_MASK, "f32"));
    TRY(want_dtype(c, 1, F32_MASK, "f32"));
    TRY(want_same_shape(c, 1, 0));
    same_shape_out(c->t[0], ne);
    return SLM_OK;
}

static slm_status_t check_rope(const op_ctx *c, const int32_t *ip,
                               const float *fp, int64_t ne[SLM_MAX_DIMS])
{
    TRY(arity(c, 2, 1));
    TRY(want_dtype(c, 0, F32_MASK, "f32"));
    TRY(want_dtype(c, 1, I32_MASK, "i32"));
    TRY(want_val(c, 0, 3, 1));
    TRY(want_eq(c, 1, 0, 0, 2));
    for (int d = 1; d < SLM_MAX_DIMS; d++)
        TRY(want_val(c, 1, d, 1));
    int64_t head = c->t[0]->ne[0];
    if (ip[0] < 2 || ip[0] % 2 != 0 || ip[0] > head)
        return bad(c, "n_dims (i[0])=%d must be even and in [2, %lld]", ip[0],
                   (long long)head);
    if (ip[1] != SLM_ROPE_NORMAL && ip[1] != SLM_ROPE_NEOX)
        return bad(c, "mode (i[1])=%d is neither SLM_ROPE_NORMAL (0) nor "
                   "SLM_ROPE_NEOX (2)", ip[1]);
    if (!(fp[0] > 0.0f))
        return bad(c, "freq_base (f[0])=%g must be > 0", (double)fp[0]);
    if (c->t[2]) {
        TRY(want_dtype(c, 2, F32_MASK, "f32"));
        TRY(want_val(c, 2, 0, ip[0] / 2));
        for (int d = 1; d < SLM_MAX_DIMS; d++)
            TRY(want_val(c, 2, d, 1));
    }
    same_shape_out(c->t[0], ne);
    return SLM_OK;
}

static slm_status_t check_softmax(const op_ctx *c, const int32_t *ip,
                                  const float *fp, int64_t ne[SLM_MAX_DIMS])
{
    TRY(arity(c, 1, 1));
    TRY(want_dtype(c, 0, F32_MASK, "f32"));
    if (c->t[1]) {
        TRY(want_dtype(c, 1, F32_MASK, "f32"));
        TRY(want_eq(c, 1, 0, 0, 0));
        if (c->t[1]->ne[1] < c->t[0]->ne[1])
            return bad(c, "%s ne[1]=%lld < %s ne[1]=%lld (one mask row per "
                       "query)", c->lab[1], (long long)c->t[1]->ne[1],
                       c->lab[0], (long long)c->t[0]->ne[1]);
        TRY(want_val(c, 1, 2, 1));
        TRY(want_val(c, 1, 3, 1));
    }
    if (ip[2] < 0)
        return bad(c, "sliding window (i[2])=%d must be >= 0", ip[2]);
    if (fp[1] < 0.0f)
        return bad(c, "soft-cap (f[1])=%g must be >= 0", (double)fp[1]);
    same_shape_out(c->t[0], ne);
    return SLM_OK;
}

/* COPY without a dst: a dense F32 tensor of src0's shape. */
static slm_status_t check_copy_new(const op_ctx *c, int64_t ne[SLM_MAX_DIMS])
{
    TRY(arity(c, 1, 0));
    TRY(want_dtype(c, 0, FLOAT_MASK, "f32, f16 or bf16"));
    same_shape_out(c->t[0], ne);
    return SLM_OK;
}

static slm_status_t check_copy(const op_ctx *c)
{
    TRY(arity(c, 1, 0));
    slm_dtype_t a = c->t[0]->dtype, b = c->t[DST]->dtype;
    if (slm_dtype_is_quantized(a) || slm_dtype_is_quantized(b)) {
        if (a != b)
            return bad(c, "%s dtype %s and %s dtype %s: quantised copies "
                       "need the same dtype", c->lab[0], slm_dtype_name(a),
                       c->lab[DST], slm_dtype_name(b));
        TRY(want_eq(c, DST, 0, 0, 0));
    } else {
        TRY(want_dtype(c, 0, FLOAT_MASK, "f32, f16 or bf16"));
        TRY(want_dtype(c, DST, FLOAT_MASK, "f32, f16 or bf16"));
    }
    int64_t na = slm_tensor_nelements(c->t[0]);
    int64_t nb = slm_tensor_nelements(c->t[DST]);
    if (na != nb)
        return bad(c, "%s has %lld elements, %s has %lld", c->lab[DST],
                   (long long)nb, c->lab[0], (long long)na);
    return SLM_OK;
}

static slm_status_t check_set_rows(const op_ctx *c)
{
    TRY(arity(c, 2, 0));
    TRY(want_dtype(c, DST, FLOAT_MASK, "f32, f16 or bf16"));
    TRY(want_dtype(c, 0, F32_MASK, "f32"));
    TRY(want_dtype(c, 1, I32_MASK, "i32"));
    TRY(want_eq(c, 0, 0, DST, 0));
    TRY(want_eq(c, 1, 0, 0, 1));
    TRY(want_eq(c, 0, 2, DST, 2));
    TRY(want_eq(c, 0, 3, DST, 3));
    TRY(want_eq(c, 1, 1, DST, 2));
    TRY(want_eq(c, 1, 2, DST, 3));
    TRY(want_val(c, 1, 3, 1));
    return SLM_OK;
}

static slm_status_t check_sort(const op_ctx *c, const int32_t *ip,
                               int64_t ne[SLM_MAX_DIMS])
{
    TRY(arity(c, 1, 0));
    TRY(want_dtype(c, 0, F32_MASK, "f32"));
    same_shape_out(c->t[0], ne);
    if (c->op == SLM_OP_ARGSORT) {
        if (ip[0] != SLM_SORT_ASC && ip[0] != SLM_SORT_DESC)
            return bad(c, "order (i[0])=%d is neither SLM_SORT_ASC (0) nor "
                       "SLM_SORT_DESC (1)", ip[0]);
        return SLM_OK;
    }
    if (ip[0] < 1 || ip[0] > c->t[0]->ne[0])
        return bad(c, "k (i[0])=%d must be in [1, %lld]", ip[0],
                   (long long)c->t[0]->ne[0]);
    ne[0] = ip[0];
    return SLM_OK;
}

static slm_status_t check_mul_mat_id(const op_ctx *c, int64_t ne[SLM_MAX_DIMS])
{
    TRY(arity(c, 3, 0));
    TRY(want_dtype(c, 1, F32_MASK, "f32"));
    TRY(want_dtype(c, 2, I32_MASK, "i32"));
    TRY(want_val(c, 0, 3, 1));
    TRY(want_eq(c, 1, 0, 0, 0));
    TRY(want_val(c, 1, 3, 1));
    TRY(want_val(c, 2, 2, 1));
    TRY(want_val(c, 2, 3, 1));
    TRY(want_eq(c, 1, 2, 2, 1));
    if (c->t[1]->ne[1] != 1)
        TRY(want_eq(c, 1, 1, 2, 0));
    ne[0] = c->t[0]->ne[1];
    ne[1] = c->t[2]->ne[0];
    ne[2] = c->t[2]->ne[1];
    ne[3] = 1;
    return SLM_OK;
}

static slm_status_t check_sum_rows(const op_ctx *c, int64_t ne[SLM_MAX_DIMS])
{
    TRY(check_unary(c, ne));
    ne[0] = 1;
    return SLM_OK;
}

static slm_dtype_t result_dtype(slm_op_t op)
{
    return op == SLM_OP_ARGSORT || op == SLM_OP_TOP_K ? SLM_DTYPE_I32
                                                      : SLM_DTYPE_F32;
}

/* The op table itself. t[DST] is the given destination of COPY/SET_ROWS. */
static slm_status_t op_check(op_ctx *c, const int32_t *ip, const float *fp,
                             slm_dtype_t *out_dtype, int64_t ne[SLM_MAX_DIMS])
{
    if (c->op == SLM_OP_SET_ROWS && !c->in_place)
        return bad(c, "needs a destination tensor (dst)");
    if (!slm__op_takes_dst(c->op) && c->in_place)
        return bad(c, "dst must be NULL: the runtime creates the result");
    *out_dtype = result_dtype(c->op);
    switch (c->op) {
    case SLM_OP_GET_ROWS: return check_get_rows(c, ne);
    case SLM_OP_RMS_NORM: return check_unary(c, ne);
    case SLM_OP_MUL_MAT: return check_mul_mat(c, ne);
    case SLM_OP_ADD: case SLM_OP_MUL: case SLM_OP_DIV:
        return check_binary(c, ne);
    case SLM_OP_SCALE: case SLM_OP_SILU: case SLM_OP_GELU: case SLM_OP_TANH:
        return check_unary(c, ne);
    case SLM_OP_ROPE: return check_rope(c, ip, fp, ne);
    case SLM_OP_SOFTMAX: return check_softmax(c, ip, fp, ne);
    case SLM_OP_SWIGLU: case SLM_OP_GEGLU: return check_gated(c, ne);
    case SLM_OP_ARGSORT: case SLM_OP_TOP_K: return check_sort(c, ip, ne);
    case SLM_OP_MUL_MAT_ID: return check_mul_mat_id(c, ne);
    case SLM_OP_SUM_ROWS: return check_sum_rows(c, ne);
    case SLM_OP_COPY:
        if (!c->in_place)
            return check_copy_new(c, ne);
        *out_dtype = c->t[DST]->dtype;
        same_shape_out(c->t[DST], ne);
        return check_copy(c);
    case SLM_OP_SET_ROWS:
        *out_dtype = c->t[DST]->dtype;
        same_shape_out(c->t[DST], ne);
        return check_set_rows(c);
    default:
        return slm__error(SLM_ERR_GRAPH, "unknown op %d", (int)c->op);
    }
}

/* ------------------------------------------------------------------- nodes */

/* A tensor of g whose own fields are sane. */
static slm_status_t check_tensor(const slm_graph_builder_t *g,
                                 const slm_tensor_t *t, const char *lab)
{
    const slm__tensor_t *r = slm__tensor_of(g, t);
    if (!r)
        return slm__error(SLM_ERR_GRAPH, "%s is not a tensor of this graph", lab);
    int64_t be = slm_dtype_block_elems(t->dtype);
    if (be <= 0)
        return slm__error(SLM_ERR_GRAPH, "%s: unknown dtype %d", lab,
                          (int)t->dtype);
    for (int d = 0; d < SLM_MAX_DIMS; d++)
        if (t->ne[d] <= 0)
            return slm__error(SLM_ERR_GRAPH, "%s: ne[%d]=%lld must be >= 1",
                              lab, d, (long long)t->ne[d]);
    if (t->ne[0] % be != 0)
        return slm__error(SLM_ERR_GRAPH, "%s: ne[0]=%lld is not a multiple "
                          "of the %s block (%lld)", lab, (long long)t->ne[0],
                          slm_dtype_name(t->dtype), (long long)be);
    if (!slm__nelements_fit(t->ne))
        return slm__error(SLM_ERR_GRAPH, "%s: %lld x %lld x %lld x %lld "
                          "is too large: the element count overflows", lab,
                          (long long)t->ne[0], (long long)t->ne[1],
                          (long long)t->ne[2], (long long)t->ne[3]);
    if (slm_dtype_is_quantized(t->dtype) &&
        t->nb[0] != slm_dtype_block_bytes(t->dtype))
        return slm__error(SLM_ERR_GRAPH, "%s: nb[0]=%zu, expected the %s block "
                          "size %zu", lab, t->nb[0], slm_dtype_name(t->dtype),
                          slm_dtype_block_bytes(t->dtype));
    const slm__tensor_t *root = slm__tensor_at(g, r->root);
    if (r->root == r->index) {
        if (slm__compact_bytes(t->dtype, t->ne) != r->nbytes ||
            !slm_tensor_is_contiguous(t))
            return slm__error(SLM_ERR_GRAPH, "%s: shape or strides changed "
                              "after the tensor was created", lab);
        return SLM_OK;
    }
    size_t ext = slm__tensor_extent(t);
    if (ext == SIZE_MAX || r->view_offset > root->nbytes ||
        ext > root->nbytes - r->view_offset) {
        char rl[SLM_MAX_NAME + 16];
        slm__tensor_label(&root->pub, "its root", rl, sizeof rl);
        return slm__error(SLM_ERR_GRAPH, "%s: view addresses bytes [%zu, %zu) "
                          "outside %s (%zu bytes)", lab, r->view_offset,
                          ext == SIZE_MAX ? SIZE_MAX : r->view_offset + ext,
                          rl, root->nbytes);
    }
    return SLM_OK;
}

static slm_status_t check_node_tensors(const slm_graph_builder_t *g,
                                       op_ctx *c, uint32_t index)
{
    for (int k = 0; k <= DST; k++) {
        if (!c->t[k])
            continue;
        TRY(check_tensor(g, c->t[k], c->lab[k]));
        const slm__tensor_t *r = slm__tensor_of(g, c->t[k]);
        const slm__tensor_t *root = slm__tensor_at(g, r->root);
        bool defined_here = k == DST && !c->in_place;
        if (!defined_here && root->producer >= (int32_t)index)
            return bad(c, "%s is the result of node %d, which comes later",
                       c->lab[k], root->producer);
        if (k == DST && c->in_place &&
            (root->pub.flags & SLM_TENSOR_WEIGHT))
            return bad(c, "%s writes into WEIGHT tensor%s%s%s, which never "
                       "changes", c->lab[DST], root->pub.name[0] ? " '" : "",
                       root->pub.name, root->pub.name[0] ? "'" : "");
    }
    return SLM_OK;
}

bool slm__node_in_place(const slm_graph_builder_t *g, const slm_node_t *node,
                        uint32_t index)
{
    if (!slm__op_takes_dst(node->op) || !node->dst)
        return false;
    const slm__tensor_t *d = slm__tensor_of(g, node->dst);
    return !d || d->producer != (int32_t)index;
}

slm_status_t slm__node_check(const slm_graph_builder_t *g,
                             const slm_node_t *node, uint32_t index,
                             slm_dtype_t *out_dtype,
                             int64_t out_ne[SLM_MAX_DIMS])
{
    op_ctx c;
    c.op = node->op;
    for (int k = 0; k < SLM_MAX_SRC; k++) {
        c.t[k] = node->src[k];
        char role[8];
        snprintf(role, sizeof role, "src%d", k);
        slm__tensor_label(c.t[k], role, c.lab[k], sizeof c.lab[k]);
    }
    bool in_place = slm__node_in_place(g, node, index);
    c.in_place = in_place;
    c.t[DST] = in_place ? node->dst : NULL;
    slm__tensor_label(node->dst, "dst", c.lab[DST], sizeof c.lab[DST]);
    if ((unsigned)node->op == SLM_OP_NONE || (unsigned)node->op >= SLM_OP_COUNT)
        return slm__error(SLM_ERR_GRAPH, "unknown op %d", (int)node->op);
    TRY(check_node_tensors(g, &c, index));
    TRY(op_check(&c, node->iparams, node->fparams, out_dtype, out_ne));
    if (in_place || !node->dst)
        return SLM_OK;
    /* A result whose fields were edited no longer matches its node. */
    c.t[DST] = node->dst;
    TRY(check_tensor(g, node->dst, c.lab[DST]));
    const slm__tensor_t *d = slm__tensor_of(g, node->dst);
    if (d->producer != (int32_t)index || node->dst->dtype != *out_dtype ||
        memcmp(node->dst->ne, out_ne, sizeof node->dst->ne) != 0)
        return bad(&c, "%s no longer has the dtype and shape of the node's "
                   "result", c.lab[DST]);
    return SLM_OK;
}

/* ------------------------------------------------------------------- graph */

static slm_status_t check_leaf_data(const slm_graph_builder_t *g,
                                    const slm_node_t *node, uint32_t index,
                                    const bool *written)
{
    for (int k = 0; k < SLM_MAX_SRC; k++) {
        if (!node->src[k])
            continue;
        const slm__tensor_t *r = slm__tensor_of(g, node->src[k]);
        const slm__tensor_t *root = slm__tensor_at(g, r->root);
        if (root->producer >= 0 || written[root->index] ||
            slm__tensor_host_data(root) || (root->pub.flags & SLM_TENSOR_STATE))
            continue;
        char lab[SLM_MAX_NAME + 16];
        if (root->pub.name[0])
            slm__tensor_label(&root->pub, "leaf", lab, sizeof lab);
        else
            snprintf(lab, sizeof lab, "leaf #%u", root->index);
        return slm__error(SLM_ERR_GRAPH, "node %u (%s): src%d reads %s, which "
                          "has no data: give it data with slm_graph_set_data "
                          "or slm_graph_bind_host, or make it STATE", index,
                          slm_op_name(node->op), k, lab);
    }
    return SLM_OK;
}

slm_status_t slm__graph_validate(const slm_graph_builder_t *g)
{
    for (uint32_t i = 0; i < g->n_tensors; i++) {
        const slm__tensor_t *r = slm__tensor_at(g, i);
        char lab[SLM_MAX_NAME + 16];
        if (r->pub.name[0])
            slm__tensor_label(&r->pub, "tensor", lab, sizeof lab);
        else
            snprintf(lab, sizeof lab, "tensor #%u", i);
        TRY(check_tensor(g, &r->pub, lab));
    }
    bool *written = calloc(g->n_tensors ? g->n_tensors : 1, sizeof *written);
    if (!written)
        return slm__error(SLM_ERR_NO_MEMORY, "graph check: out of memory");
    slm_status_t st = SLM_OK;
    for (uint32_t i = 0; i < g->n_nodes && st == SLM_OK; i++) {
        const slm_node_t *node = &g->nodes[i];
        slm_dtype_t dt;
        int64_t ne[SLM_MAX_DIMS];
        st = slm__node_check(g, node, i, &dt, ne);
        if (st != SLM_OK) {
            st = slm__error(st, "node %u: %s", i, slm_last_error());
            break;
        }
        st = check_leaf_data(g, node, i, written);
        if (slm__node_in_place(g, node, i))
            written[slm__tensor_of(g, node->dst)->root] = true;
    }
    free(written);
    return st;
}
