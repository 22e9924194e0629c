/*
** test_graph.c -- building graphs, their checks, and running them on the
** scalar CPU backend alone.
*/
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "slm/slm.h"

/* ----------------------------------------------------------------- helpers */

#define CPU_PLUGIN SLM_BACKEND_BUILD_DIR "/libslm-backend-cpu.so"

/* Log lines of the current test. */
static char log_lines[256][256];
static int n_log_lines;

static void capture_log(void *user, int level, const char *msg)
{
    (void)user;
    (void)level;
    if (n_log_lines < 256)
        snprintf(log_lines[n_log_lines++], sizeof log_lines[0], "%s", msg);
}

/* A runtime with the cpu plugin only (or no plugin at all). */
static slm_runtime_t *make_runtime(bool with_cpu)
{
    static const char *const paths[] = { CPU_PLUGIN };
    slm_runtime_opts_t opts = SLM_RUNTIME_OPTS_INIT;
    opts.flags = SLM_RUNTIME_NO_DEFAULT_PLUGINS | SLM_RUNTIME_NO_DEFAULT_CONFIG;
    opts.plugin_paths = with_cpu ? paths : NULL;
    opts.n_plugin_paths = with_cpu ? 1 : 0;
    opts.log_level = SLM_LOG_DEBUG;
    opts.log = capture_log;
    n_log_lines = 0;
    slm_runtime_t *rt = NULL;
    assert_int_equal(slm_runtime_create(&opts, &rt), SLM_OK);
    if (with_cpu)
        assert_true(slm_runtime_device_count(rt) >= 1);
    return rt;
}

static slm_tensor_t *leaf(slm_graph_builder_t *g, slm_dtype_t dt, int64_t n0,
                          int64_t n1, int64_t n2, int64_t n3, uint32_t flags,
                          const char *name)
{
    int64_t ne[4] = { n0, n1, n2, n3 };
    slm_tensor_t *t = NULL;
    assert_int_equal(slm_graph_tensor(g, dt, 4, ne, flags, name, &t), SLM_OK);
    return t;
}

static slm_tensor_t *op(slm_graph_builder_t *g, slm_op_t o, slm_tensor_t *a,
                        slm_tensor_t *b, slm_tensor_t *c,
                        const slm_op_params_t *p)
{
    slm_tensor_t *src[3] = { a, b, c };
    int n = c ? 3 : b ? 2 : 1;
    slm_tensor_t *out = NULL;
    slm_status_t st = slm_graph_op(g, o, src, n, p, NULL, &out);
    if (st != SLM_OK)
        fail_msg("%s: %s", slm_op_name(o), slm_last_error());
    return out;
}

/* Expect the op to fail with SLM_ERR_GRAPH and exactly `msg`. */
static void op_fails(slm_graph_builder_t *g, slm_op_t o, slm_tensor_t *a,
                     slm_tensor_t *b, slm_tensor_t *c, const slm_op_params_t *p,
                     slm_tensor_t *dst, const char *msg)
{
    slm_tensor_t *src[3] = { a, b, c };
    int n = c ? 3 : b ? 2 : 1;
    slm_tensor_t *out = (slm_tensor_t *)1;
    assert_int_equal(slm_graph_op(g, o, src, n, p, dst, &out), SLM_ERR_GRAPH);
    assert_null(out);
    assert_string_equal(slm_last_error(), msg);
}

static void expect_shape(const slm_tensor_t *t, slm_dtype_t dt, int64_t n0,
                         int64_t n1, int64_t n2, int64_t n3)
{
    assert_non_null(t);
    assert_int_equal(t->dtype, dt);
    assert_int_equal(t->ne[0], n0);
    assert_int_equal(t->ne[1], n1);
    assert_int_equal(t->ne[2], n2);
    assert_int_equal(t->ne[3], n3);
    assert_true(slm_tensor_is_contiguous(t));
    assert_null(t->buffer);
    assert_null(t->data);
}

/* The "activations arena A bytes for D bytes" line of the last plan. */
static bool arena_line(size_t *arena, size_t *demand)
{
    for (int i = n_log_lines - 1; i >= 0; i--) {
        const char *s = strstr(log_lines[i], "activations arena ");
        if (s && sscanf(s, "activations arena %zu bytes for %zu bytes", arena,
                        demand) == 2)
            return true;
    }
    return false;
}

static int count_lines(const char *needle)
{
    int n = 0;
    for (int i = 0; i < n_log_lines; i++)
        n += strstr(log_lines[i], needle) != NULL;
    return n;
}

/* ------------------------------------------------------- shape inference */

static void test_shapes_every_op(void **state)
{
    (void)state;
    slm_runtime_t *rt = make_runtime(false);
    slm_graph_builder_t *g;
    assert_int_equal(slm_graph_create(rt, &g), SLM_OK);

    slm_tensor_t *emb = leaf(g, SLM_DTYPE_Q8_0, 64, 10, 1, 1, SLM_TENSOR_WEIGHT, "emb");
    slm_tensor_t *ids = leaf(g, SLM_DTYPE_I32, 5, 1, 1, 1, SLM_TENSOR_INPUT, "ids");
    slm_tensor_t *x = op(g, SLM_OP_GET_ROWS, emb, ids, NULL, NULL);
    expect_shape(x, SLM_DTYPE_F32, 64, 5, 1, 1);

    slm_op_params_t eps = { .f = { 1e-5f } };
    expect_shape(op(g, SLM_OP_RMS_NORM, x, NULL, NULL, &eps), SLM_DTYPE_F32, 64, 5, 1, 1);

    slm_tensor_t *w = leaf(g, SLM_DTYPE_F16, 64, 32, 2, 1, SLM_TENSOR_WEIGHT, "w");
    slm_tensor_t *a = leaf(g, SLM_DTYPE_F32, 64, 7, 6, 3, SLM_TENSOR_INPUT, "a");
    expect_shape(op(g, SLM_OP_MUL_MAT, w, a, NULL, NULL), SLM_DTYPE_F32, 32, 7, 6, 3);

    slm_tensor_t *bias = leaf(g, SLM_DTYPE_F32, 64, 1, 6, 1, SLM_TENSOR_WEIGHT, "bias");
    expect_shape(op(g, SLM_OP_ADD, a, bias, NULL, NULL), SLM_DTYPE_F32, 64, 7, 6, 3);
    expect_shape(op(g, SLM_OP_MUL, a, bias, NULL, NULL), SLM_DTYPE_F32, 64, 7, 6, 3);
    expect_shape(op(g, SLM_OP_DIV, a, a, NULL, NULL), SLM_DTYPE_F32, 64, 7, 6, 3);
    slm_op_params_t sc = { .f = { 2.0f, 1.0f } };
    expect_shape(op(g, SLM_OP_SCALE, a, NULL, NULL, &sc), SLM_DTYPE_F32, 64, 7, 6, 3);

    slm_tensor_t *q = leaf(g, SLM_DTYPE_F32, 16, 4, 5, 1, SLM_TENSOR_INPUT, "q");
    slm_tensor_t *pos = leaf(g, SLM_DTYPE_I32, 5, 1, 1, 1, SLM_TENSOR_INPUT, "pos");
    slm_tensor_t *ff = leaf(g, SLM_DTYPE_F32, 4, 1, 1, 1, SLM_TENSOR_WEIGHT, "ff");
    slm_op_params_t rp = { .i = { 8, SLM_ROPE_NEOX }, .f = { 10000.0f, 1.0f, 0, 1.0f } };
    expect_shape(op(g, SLM_OP_ROPE, q, pos, NULL, &rp), SLM_DTYPE_F32, 16, 4, 5, 1);
    expect_shape(op(g, SLM_OP_ROPE, q, pos, ff, &rp), SLM_DTYPE_F32, 16, 4, 5, 1);

    slm_tensor_t *kq = leaf(g, SLM_DTYPE_F32, 9, 5, 4, 1, SLM_TENSOR_INPUT, "kq");
    slm_tensor_t *mask = leaf(g, SLM_DTYPE_F32, 9, 8, 1, 1, SLM_TENSOR_INPUT, "mask");
    slm_op_params_t smp = { .i = { 1, 4 }, .f = { 0.125f } };
    expect_shape(op(g, SLM_OP_SOFTMAX, kq, NULL, NULL, &smp), SLM_DTYPE_F32, 9, 5, 4, 1);
    expect_shape(op(g, SLM_OP_SOFTMAX, kq, mask, NULL, &smp), SLM_DTYPE_F32, 9, 5, 4, 1);

    expect_shape(op(g, SLM_OP_SILU, a, NULL, NULL, NULL), SLM_DTYPE_F32, 64, 7, 6, 3);
    expect_shape(op(g, SLM_OP_GELU, a, NULL, NULL, NULL), SLM_DTYPE_F32, 64, 7, 6, 3);
    expect_shape(op(g, SLM_OP_TANH, a, NULL, NULL, NULL), SLM_DTYPE_F32, 64, 7, 6, 3);
    expect_shape(op(g, SLM_OP_SWIGLU, a, a, NULL, NULL), SLM_DTYPE_F32, 64, 7, 6, 3);
    expect_shape(op(g, SLM_OP_GEGLU, a, a, NULL, NULL), SLM_DTYPE_F32, 64, 7, 6, 3);

    /* COPY and SET_ROWS write into the given dst and hand it back. */
    slm_tensor_t *cache = leaf(g, SLM_DTYPE_F16, 64, 12, 1, 1, SLM_TENSOR_STATE, "cache");
    slm_tensor_t *src2[2] = { x, ids };
    slm_tensor_t *out = NULL;
    assert_int_equal(slm_graph_op(g, SLM_OP_SET_ROWS, src2, 2, NULL, cache, &out), SLM_OK);
    assert_ptr_equal(out, cache);
    slm_tensor_t *flat = leaf(g, SLM_DTYPE_BF16, 320, 1, 1, 1, 0, "flat");
    assert_int_equal(slm_graph_op(g, SLM_OP_COPY, &x, 1, NULL, flat, &out), SLM_OK);
    assert_ptr_equal(out, flat);
    /* COPY without dst: a dense F32 tensor of the source's shape. */
    int64_t tne[2] = { 5, 64 };
    size_t tnb[2] = { x->nb[1], x->nb[0] };
    slm_tensor_t *xt;
    assert_int_equal(slm_graph_view(g, x, 2, tne, tnb, 0, "xt", &xt), SLM_OK);
    expect_shape(op(g, SLM_OP_COPY, xt, NULL, NULL, NULL), SLM_DTYPE_F32, 5, 64, 1, 1);

    slm_op_params_t desc = { .i = { SLM_SORT_DESC } };
    expect_shape(op(g, SLM_OP_ARGSORT, a, NULL, NULL, &desc), SLM_DTYPE_I32, 64, 7, 6, 3);
    slm_op_params_t k3 = { .i = { 3 } };
    expect_shape(op(g, SLM_OP_TOP_K, a, NULL, NULL, &k3), SLM_DTYPE_I32, 3, 7, 6, 3);

    slm_tensor_t *experts = leaf(g, SLM_DTYPE_Q4_0, 64, 24, 8, 1, SLM_TENSOR_WEIGHT, "experts");
    slm_tensor_t *xs = leaf(g, SLM_DTYPE_F32, 64, 1, 5, 1, SLM_TENSOR_INPUT, "xs");
    slm_tensor_t *sel = leaf(g, SLM_DTYPE_I32, 2, 5, 1, 1, SLM_TENSOR_INPUT, "sel");
    expect_shape(op(g, SLM_OP_MUL_MAT_ID, experts, xs, sel, NULL), SLM_DTYPE_F32, 24, 2, 5, 1);
    expect_shape(op(g, SLM_OP_SUM_ROWS, a, NULL, NULL, NULL), SLM_DTYPE_F32, 1, 7, 6, 3);

    assert_int_equal(slm_graph_node_count(g), 23);
    assert_null(slm_graph_node_device(g, 0));
    slm_graph_destroy(g);
    slm_runtime_destroy(rt);
}

/* ------------------------------------------------------------------ errors */

static void test_tensor_errors(void **state)
{
    (void)state;
    slm_runtime_t *rt = make_runtime(false);
    slm_graph_builder_t *g;
    assert_int_equal(slm_graph_create(rt, &g), SLM_OK);
    slm_tensor_t *t = NULL;
    int64_t ne[4] = { 64, 2, 1, 1 };
    assert_int_equal(slm_graph_tensor(g, (slm_dtype_t)3, 2, ne, 0, "x", &t),
                     SLM_ERR_INVALID_ARG);
    assert_non_null(strstr(slm_last_error(), "unknown dtype 3"));
    assert_int_equal(slm_graph_tensor(g, SLM_DTYPE_F32, 5, ne, 0, "x", &t),
                     SLM_ERR_INVALID_ARG);
    int64_t zero[2] = { 4, 0 };
    assert_int_equal(slm_graph_tensor(g, SLM_DTYPE_F32, 2, zero, 0, "x", &t),
                     SLM_ERR_INVALID_ARG);
    assert_non_null(strstr(slm_last_error(), "ne[1]=0"));
    int64_t odd[1] = { 33 };
    assert_int_equal(slm_graph_tensor(g, SLM_DTYPE_Q8_0, 1, odd, 0, "x", &t),
                     SLM_ERR_INVALID_ARG);
    assert_non_null(strstr(slm_last_error(), "ne[0]=33 is not a multiple of the q8_0 block size 32"));
    int64_t huge[4] = { INT64_C(1) << 40, INT64_C(1) << 30, 1, 1 };
    assert_int_equal(slm_graph_tensor(g, SLM_DTYPE_F32, 2, huge, 0, "x", &t),
                     SLM_ERR_INVALID_ARG);
    assert_non_null(strstr(slm_last_error(), "too large"));
    assert_int_equal(slm_graph_tensor(g, SLM_DTYPE_F32, 2, ne,
                                      SLM_TENSOR_WEIGHT | SLM_TENSOR_STATE, "x", &t),
                     SLM_ERR_INVALID_ARG);
    assert_null(t);

    /* set_data checks the exact size and refuses non-leaves. */
    slm_tensor_t *x = leaf(g, SLM_DTYPE_F32, 4, 2, 1, 1, SLM_TENSOR_INPUT, "x");
    float buf[8] = { 0 };
    assert_int_equal(slm_graph_set_data(g, x, buf, 7 * sizeof(float)), SLM_ERR_INVALID_ARG);
    assert_non_null(strstr(slm_last_error(), "'x' holds 32 bytes, got 28"));
    slm_tensor_t *y = op(g, SLM_OP_SILU, x, NULL, NULL, NULL);
    assert_int_equal(slm_graph_set_data(g, y, buf, sizeof buf), SLM_ERR_INVALID_ARG);
    assert_non_null(strstr(slm_last_error(), "result of node 0"));
    slm_tensor_t foreign = *x;
    assert_int_equal(slm_graph_set_output(g, &foreign), SLM_ERR_INVALID_ARG);
    slm_graph_destroy(g);
    slm_runtime_destroy(rt);
}

static void test_op_errors(void **state)
{
    (void)state;
    slm_runtime_t *rt = make_runtime(false);
    slm_graph_builder_t *g;
    assert_int_equal(slm_graph_create(rt, &g), SLM_OK);
    slm_tensor_t *w = leaf(g, SLM_DTYPE_F32, 64, 8, 1, 1, SLM_TENSOR_WEIGHT, NULL);
    slm_tensor_t *x = leaf(g, SLM_DTYPE_F32, 63, 2, 1, 1, SLM_TENSOR_INPUT, NULL);
    op_fails(g, SLM_OP_MUL_MAT, w, x, NULL, NULL, NULL,
             "MUL_MAT: src1 ne[0]=63 != src0 ne[0]=64");
    slm_tensor_t *wn = leaf(g, SLM_DTYPE_Q8_0, 64, 8, 1, 1, SLM_TENSOR_WEIGHT, "wq");
    slm_tensor_t *xn = leaf(g, SLM_DTYPE_F32, 63, 2, 1, 1, SLM_TENSOR_INPUT, "x");
    op_fails(g, SLM_OP_MUL_MAT, wn, xn, NULL, NULL, NULL,
             "MUL_MAT: src1 'x' ne[0]=63 != src0 'wq' ne[0]=64");

    /* wrong dtype */
    slm_tensor_t *q = leaf(g, SLM_DTYPE_F32, 16, 2, 3, 1, SLM_TENSOR_INPUT, "q");
    slm_tensor_t *fpos = leaf(g, SLM_DTYPE_F32, 3, 1, 1, 1, SLM_TENSOR_INPUT, "pos");
    slm_op_params_t rp = { .i = { 16, 0 }, .f = { 10000.0f, 1.0f, 0, 1.0f } };
    op_fails(g, SLM_OP_ROPE, q, fpos, NULL, &rp, NULL,
             "ROPE: src1 'pos' dtype f32, expected i32");
    op_fails(g, SLM_OP_RMS_NORM, wn, NULL, NULL, NULL, NULL,
             "RMS_NORM: src0 'wq' dtype q8_0, expected f32");

    /* bad broadcast */
    slm_tensor_t *a = leaf(g, SLM_DTYPE_F32, 8, 4, 1, 1, SLM_TENSOR_INPUT, "a");
    slm_tensor_t *b = leaf(g, SLM_DTYPE_F32, 8, 3, 1, 1, SLM_TENSOR_INPUT, "b");
    op_fails(g, SLM_OP_ADD, a, b, NULL, NULL, NULL,
             "ADD: src1 'b' ne[1]=3 does not divide src0 'a' ne[1]=4");
    op_fails(g, SLM_OP_SWIGLU, a, b, NULL, NULL, NULL,
             "SWIGLU: src1 'b' ne[1]=3 != src0 'a' ne[1]=4");

    /* sources: missing, extra, and a dst where the op makes its own */
    op_fails(g, SLM_OP_ADD, a, NULL, NULL, NULL, NULL,
             "ADD: src1 is missing (takes 2 sources)");
    op_fails(g, SLM_OP_SILU, a, a, NULL, NULL, NULL,
             "SILU: src1 given but the op takes at most 1 source");
    op_fails(g, SLM_OP_SILU, a, NULL, NULL, NULL, b,
             "SILU: dst must be NULL: the runtime creates the result");

    /* SET_ROWS into a non-float dst, and into a weight */
    slm_tensor_t *rows = leaf(g, SLM_DTYPE_F32, 64, 2, 1, 1, SLM_TENSOR_INPUT, "rows");
    slm_tensor_t *ids = leaf(g, SLM_DTYPE_I32, 2, 1, 1, 1, SLM_TENSOR_INPUT, "ids");
    slm_tensor_t *qcache = leaf(g, SLM_DTYPE_Q8_0, 64, 8, 1, 1, SLM_TENSOR_STATE, "qcache");
    op_fails(g, SLM_OP_SET_ROWS, rows, ids, NULL, NULL, qcache,
             "SET_ROWS: dst 'qcache' dtype q8_0, expected f32, f16 or bf16");
    op_fails(g, SLM_OP_SET_ROWS, rows, ids, NULL, NULL, w,
             "SET_ROWS: dst writes into WEIGHT tensor, which never changes");
    op_fails(g, SLM_OP_SET_ROWS, rows, ids, NULL, NULL, NULL,
             "SET_ROWS: needs a destination tensor (dst)");
    op_fails(g, SLM_OP_COPY, rows, NULL, NULL, NULL, a,
             "COPY: dst 'a' has 32 elements, src0 'rows' has 128");

    /* params */
    slm_tensor_t *pos = leaf(g, SLM_DTYPE_I32, 3, 1, 1, 1, SLM_TENSOR_INPUT, "p");
    slm_op_params_t odd = { .i = { 7, 0 }, .f = { 10000.0f } };
    op_fails(g, SLM_OP_ROPE, q, pos, NULL, &odd, NULL,
             "ROPE: n_dims (i[0])=7 must be even and in [2, 16]");
    slm_op_params_t k0 = { .i = { 0 } };
    op_fails(g, SLM_OP_TOP_K, a, NULL, NULL, &k0, NULL,
             "TOP_K: k (i[0])=0 must be in [1, 8]");
    slm_tensor_t *none = NULL;
    assert_int_equal(slm_graph_op(g, (slm_op_t)99, &a, 1, NULL, NULL, &none), SLM_ERR_GRAPH);

    /* views outside their source */
    int64_t vne[2] = { 8, 2 };
    size_t vnb[2] = { 4, 32 };
    slm_tensor_t *v = NULL;
    assert_int_equal(slm_graph_view(g, a, 2, vne, vnb, 64, "v", &v), SLM_OK);
    assert_ptr_equal(v->view_src, a);
    assert_int_equal(slm_graph_view(g, a, 2, vne, vnb, 68, "v2", &v), SLM_ERR_INVALID_ARG);
    assert_null(v);
    assert_non_null(strstr(slm_last_error(), "src 'a'"));
    size_t wide[2] = { 4, 64 }; /* rows 0 and 2: past the 4 rows of a at offset 96 */
    assert_int_equal(slm_graph_view(g, a, 2, vne, wide, 96, "v3", &v), SLM_ERR_INVALID_ARG);
    /* a view of a view is bounded by its own source, not only the root */
    int64_t one[1] = { 8 };
    size_t nb1[1] = { 4 };
    assert_int_equal(slm_graph_view(g, a, 1, one, nb1, 0, "row0", &v), SLM_OK);
    slm_tensor_t *vv = NULL;
    assert_int_equal(slm_graph_view(g, v, 1, one, nb1, 4, "past", &vv), SLM_ERR_INVALID_ARG);
    int64_t half[1] = { 4 };
    assert_int_equal(slm_graph_view(g, v, 1, half, nb1, 16, "tail", &vv), SLM_OK);
    size_t qnb[2] = { 2, 34 };
    int64_t qne[2] = { 64, 1 };
    assert_int_equal(slm_graph_view(g, wn, 2, qne, qnb, 0, "q", &vv), SLM_ERR_INVALID_ARG);
    assert_non_null(strstr(slm_last_error(), "block size 34"));

    slm_graph_destroy(g);
    slm_runtime_destroy(rt);
}

/* A leaf read without data fails the run, naming the tensor; no device is
** needed for that: the check comes before placement. */
static void test_missing_data(void **state)
{
    (void)state;
    slm_runtime_t *rt = make_runtime(false);
    slm_graph_builder_t *g;
    assert_int_equal(slm_graph_create(rt, &g), SLM_OK);
    slm_tensor_t *a = leaf(g, SLM_DTYPE_F32, 4, 1, 1, 1, SLM_TENSOR_INPUT, "a");
    slm_tensor_t *bias = leaf(g, SLM_DTYPE_F32, 4, 1, 1, 1, SLM_TENSOR_WEIGHT, "bias");
    float v[4] = { 1, 2, 3, 4 };
    assert_int_equal(slm_graph_set_data(g, a, v, sizeof v), SLM_OK);
    op(g, SLM_OP_ADD, a, bias, NULL, NULL);
    assert_int_equal(slm_graph_run(g), SLM_ERR_GRAPH);
    assert_string_equal(slm_last_error(),
                        "node 0 (ADD): src1 reads leaf 'bias', which has no data: "
                        "give it data with slm_graph_set_data or "
                        "slm_graph_bind_host, or make it STATE");
    assert_null(slm_graph_node_device(g, 0));
    /* With data but no device at all, placement fails naming the node. */
    assert_int_equal(slm_graph_set_data(g, bias, v, sizeof v), SLM_OK);
    assert_int_equal(slm_graph_run(g), SLM_ERR_NO_DEVICE);
    assert_non_null(strstr(slm_last_error(), "node 0 (ADD): no device supports it"));
    float out[4];
    assert_int_equal(slm_graph_read(g, a, out, sizeof out), SLM_ERR_INVALID_ARG);
    assert_non_null(strstr(slm_last_error(), "has not run"));
    slm_graph_destroy(g);
    slm_runtime_destroy(rt);
}

/* ------------------------------------------------------------ cpu: running */

/* y = silu(W x + b), with x [4, 3], W [4 -> 2], b [2]. */
static void reference(const float *w, const float *x, const float *b, float *y)
{
    for (int m = 0; m < 3; m++)
        for (int n = 0; n < 2; n++) {
            double acc = b[n];
            for (int k = 0; k < 4; k++)
                acc += (double)w[n * 4 + k] * x[m * 4 + k];
            y[m * 2 + n] = (float)(acc / (1.0 + exp(-acc)));
        }
}

static void expect_close(const float *got, const float *want, int n)
{
    for (int i = 0; i < n; i++)
        if (fabsf(got[i] - want[i]) > 1e-5f * fmaxf(1.0f, fabsf(want[i])))
            fail_msg("element %d: got %.8g, want %.8g", i, (double)got[i],
                     (double)want[i]);
}

static void test_run_on_cpu(void **state)
{
    (void)state;
    slm_runtime_t *rt = make_runtime(true);
    slm_graph_builder_t *g;
    assert_int_equal(slm_graph_create(rt, &g), SLM_OK);
    slm_tensor_t *x = leaf(g, SLM_DTYPE_F32, 4, 3, 1, 1, SLM_TENSOR_INPUT, "x");
    slm_tensor_t *w = leaf(g, SLM_DTYPE_F32, 4, 2, 1, 1, SLM_TENSOR_WEIGHT, "w");
    slm_tensor_t *b = leaf(g, SLM_DTYPE_F32, 2, 1, 1, 1, SLM_TENSOR_WEIGHT, "b");
    float wv[8] = { 0.5f, -1, 2, 0.25f, 1, 1, -0.5f, 3 };
    float bv[2] = { 0.1f, -0.2f };
    float xv[12];
    for (int i = 0; i < 12; i++)
        xv[i] = 0.1f * (float)(i - 5);
    assert_int_equal(slm_graph_bind_host(g, w, wv, sizeof wv), SLM_OK);
    assert_int_equal(slm_graph_set_data(g, b, bv, sizeof bv), SLM_OK);
    assert_int_equal(slm_graph_set_data(g, x, xv, sizeof xv), SLM_OK);
    slm_tensor_t *y = op(g, SLM_OP_SILU,
                         op(g, SLM_OP_ADD, op(g, SLM_OP_MUL_MAT, w, x, NULL, NULL),
                            b, NULL, NULL), NULL, NULL, NULL);
    assert_int_equal(slm_graph_set_output(g, y), SLM_OK);
    assert_int_equal(slm_graph_run(g), SLM_OK);
    for (uint32_t i = 0; i < slm_graph_node_count(g); i++)
        assert_string_equal(slm_graph_node_device(g, i), "cpu:0");
    assert_null(slm_graph_node_device(g, 3));
    float got[6], want[6];
    assert_int_equal(slm_graph_read(g, y, got, sizeof got), SLM_OK);
    reference(wv, xv, bv, want);
    expect_close(got, want, 6);

    /* A transposed view comes out in ne order: yt[m, n] = y[n, m]. */
    int64_t tne[2] = { 3, 2 };
    size_t tnb[2] = { y->nb[1], y->nb[0] };
    slm_tensor_t *yt;
    assert_int_equal(slm_graph_view(g, y, 2, tne, tnb, 0, "yt", &yt), SLM_OK);
    float t[6];
    assert_int_equal(slm_graph_read(g, yt, t, sizeof t), SLM_OK);
    for (int m = 0; m < 3; m++)
        for (int n = 0; n < 2; n++)
            assert_true(t[n * 3 + m] == got[m * 2 + n]);

    /* The view is a new tensor: the next run replans, the one after not. */
    int plans = count_lines("activations arena");
    assert_int_equal(slm_graph_run(g), SLM_OK);
    assert_int_equal(count_lines("activations arena"), plans + 1);
    plans++;

    /* New input, same plan. */
    for (int i = 0; i < 12; i++)
        xv[i] = 0.3f * (float)(i % 5) - 0.4f;
    assert_int_equal(slm_graph_set_data(g, x, xv, sizeof xv), SLM_OK);
    assert_int_equal(slm_graph_run(g), SLM_OK);
    assert_int_equal(count_lines("activations arena"), plans);
    assert_int_equal(slm_graph_read(g, y, got, sizeof got), SLM_OK);
    reference(wv, xv, bv, want);
    expect_close(got, want, 6);
    /* leaves read back as given */
    float xr[12];
    assert_int_equal(slm_graph_read(g, x, xr, sizeof xr), SLM_OK);
    assert_memory_equal(xr, xv, sizeof xv);
    assert_int_equal(slm_graph_read(g, y, got, 5 * sizeof(float)), SLM_ERR_INVALID_ARG);
    slm_graph_destroy(g);
    slm_runtime_destroy(rt);
}

/* Intermediates are not readable: their memory is reused. */
static void test_intermediate_not_kept(void **state)
{
    (void)state;
    slm_runtime_t *rt = make_runtime(true);
    slm_graph_builder_t *g;
    assert_int_equal(slm_graph_create(rt, &g), SLM_OK);
    slm_tensor_t *x = leaf(g, SLM_DTYPE_F32, 8, 1, 1, 1, SLM_TENSOR_INPUT, "x");
    float xv[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    assert_int_equal(slm_graph_set_data(g, x, xv, sizeof xv), SLM_OK);
    slm_tensor_t *h = op(g, SLM_OP_SILU, x, NULL, NULL, NULL);
    slm_tensor_t *y = op(g, SLM_OP_TANH, h, NULL, NULL, NULL);
    assert_int_equal(slm_graph_set_output(g, y), SLM_OK);
    assert_int_equal(slm_graph_run(g), SLM_OK);
    float out[8];
    assert_int_equal(slm_graph_read(g, h, out, sizeof out), SLM_ERR_INVALID_ARG);
    assert_non_null(strstr(slm_last_error(), "intermediate"));
    assert_int_equal(slm_graph_read(g, y, out, sizeof out), SLM_OK);
    for (int i = 0; i < 8; i++)
        assert_true(fabsf(out[i] - tanhf(xv[i] / (1 + expf(-xv[i])))) < 1e-6f);
    slm_graph_destroy(g);
    slm_runtime_destroy(rt);
}

/* A chain of ops needs two live intermediates at a time, not all of them. */
static void test_memory_reuse(void **state)
{
    (void)state;
    slm_runtime_t *rt = make_runtime(true);
    slm_graph_builder_t *g;
    assert_int_equal(slm_graph_create(rt, &g), SLM_OK);
    enum { N = 256, CHAIN = 10 };
    slm_tensor_t *x = leaf(g, SLM_DTYPE_F32, N, 1, 1, 1, SLM_TENSOR_INPUT, "x");
    float xv[N];
    for (int i = 0; i < N; i++)
        xv[i] = (float)i / N;
    assert_int_equal(slm_graph_set_data(g, x, xv, sizeof xv), SLM_OK);
    slm_tensor_t *t = x;
    slm_op_params_t p = { .f = { 1.0f, 1.0f } }; /* y = x + 1 */
    for (int i = 0; i < CHAIN; i++)
        t = op(g, SLM_OP_SCALE, t, NULL, NULL, &p);
    assert_int_equal(slm_graph_set_output(g, t), SLM_OK);
    assert_int_equal(slm_graph_run(g), SLM_OK);
    size_t arena = 0, demand = 0;
    assert_true(arena_line(&arena, &demand));
    assert_int_equal(demand, (size_t)CHAIN * N * sizeof(float));
    assert_true(arena <= 2 * N * sizeof(float));
    float out[N];
    assert_int_equal(slm_graph_read(g, t, out, sizeof out), SLM_OK);
    for (int i = 0; i < N; i++)
        assert_true(fabsf(out[i] - (xv[i] + CHAIN)) < 1e-5f);
    slm_graph_destroy(g);
    slm_runtime_destroy(rt);
}

/* Adding to a graph that ran replans it; STATE survives the replan. */
static void test_replan_after_change(void **state)
{
    (void)state;
    slm_runtime_t *rt = make_runtime(true);
    slm_graph_builder_t *g;
    assert_int_equal(slm_graph_create(rt, &g), SLM_OK);
    slm_tensor_t *x = leaf(g, SLM_DTYPE_F32, 4, 2, 1, 1, SLM_TENSOR_INPUT, "x");
    slm_tensor_t *ids = leaf(g, SLM_DTYPE_I32, 2, 1, 1, 1, SLM_TENSOR_INPUT, "ids");
    slm_tensor_t *st = leaf(g, SLM_DTYPE_F32, 4, 6, 1, 1, SLM_TENSOR_STATE, "st");
    float xv[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    int32_t iv[2] = { 1, 4 };
    assert_int_equal(slm_graph_set_data(g, x, xv, sizeof xv), SLM_OK);
    assert_int_equal(slm_graph_set_data(g, ids, iv, sizeof iv), SLM_OK);
    slm_tensor_t *src[2] = { x, ids };
    assert_int_equal(slm_graph_op(g, SLM_OP_SET_ROWS, src, 2, NULL, st, NULL), SLM_OK);
    assert_int_equal(slm_graph_run(g), SLM_OK);
    int plans = count_lines("activations arena") + count_lines("nodes 0..");
    assert_int_equal(slm_graph_run(g), SLM_OK);
    assert_int_equal(count_lines("activations arena") + count_lines("nodes 0.."), plans);

    /* a new node: sum of the state's rows */
    slm_tensor_t *sum = op(g, SLM_OP_SUM_ROWS, st, NULL, NULL, NULL);
    assert_int_equal(slm_graph_set_output(g, sum), SLM_OK);
    assert_null(slm_graph_node_device(g, 1)); /* not run yet */
    float out[6];
    assert_int_equal(slm_graph_read(g, sum, out, sizeof out), SLM_ERR_INVALID_ARG);
    /* new ids write other rows; rows 1 and 4 were kept across the replan */
    int32_t iv2[2] = { 0, 5 };
    assert_int_equal(slm_graph_set_data(g, ids, iv2, sizeof iv2), SLM_OK);
    assert_int_equal(slm_graph_run(g), SLM_OK);
    assert_true(count_lines("nodes 0..") > 1);
    assert_string_equal(slm_graph_node_device(g, 1), "cpu:0");
    assert_int_equal(slm_graph_read(g, sum, out, sizeof out), SLM_OK);
    const float want[6] = { 10, 10, 0, 0, 26, 26 };
    for (int i = 0; i < 6; i++)
        assert_true(out[i] == want[i]);
    float sv[24];
    assert_int_equal(slm_graph_read(g, st, sv, sizeof sv), SLM_OK);
    assert_true(sv[4] == 1 && sv[23] == 8 && sv[8] == 0);
    slm_graph_destroy(g);
    slm_runtime_destroy(rt);
}

/* Bound STATE memory is the state: two graphs share it. */
static void test_bound_state_shared(void **state)
{
    (void)state;
    slm_runtime_t *rt = make_runtime(true);
    float cache[4 * 3] = { 0 };
    slm_graph_builder_t *g1, *g2;
    assert_int_equal(slm_graph_create(rt, &g1), SLM_OK);
    assert_int_equal(slm_graph_create(rt, &g2), SLM_OK);

    slm_tensor_t *c1 = leaf(g1, SLM_DTYPE_F32, 4, 3, 1, 1, SLM_TENSOR_STATE, "cache");
    assert_int_equal(slm_graph_bind_host(g1, c1, cache, sizeof cache), SLM_OK);
    slm_tensor_t *row = leaf(g1, SLM_DTYPE_F32, 4, 1, 1, 1, SLM_TENSOR_INPUT, "row");
    slm_tensor_t *id = leaf(g1, SLM_DTYPE_I32, 1, 1, 1, 1, SLM_TENSOR_INPUT, "id");
    float rv[4] = { 1, 2, 3, 4 };
    int32_t iv = 2;
    assert_int_equal(slm_graph_set_data(g1, row, rv, sizeof rv), SLM_OK);
    assert_int_equal(slm_graph_set_data(g1, id, &iv, sizeof iv), SLM_OK);
    slm_tensor_t *src[2] = { row, id };
    assert_int_equal(slm_graph_op(g1, SLM_OP_SET_ROWS, src, 2, NULL, c1, NULL), SLM_OK);

    slm_tensor_t *c2 = leaf(g2, SLM_DTYPE_F32, 4, 3, 1, 1, SLM_TENSOR_STATE, "cache");
    assert_int_equal(slm_graph_bind_host(g2, c2, cache, sizeof cache), SLM_OK);
    slm_tensor_t *sum = op(g2, SLM_OP_SUM_ROWS, c2, NULL, NULL, NULL);
    assert_int_equal(slm_graph_set_output(g2, sum), SLM_OK);

    assert_int_equal(slm_graph_run(g1), SLM_OK);
    assert_true(cache[8] == 1 && cache[11] == 4);
    assert_int_equal(slm_graph_run(g2), SLM_OK);
    float out[3];
    assert_int_equal(slm_graph_read(g2, sum, out, sizeof out), SLM_OK);
    assert_true(out[0] == 0 && out[1] == 0 && out[2] == 10);
    slm_graph_destroy(g1);
    slm_graph_destroy(g2);
    slm_runtime_destroy(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shapes_every_op),
        cmocka_unit_test(test_tensor_errors),
        cmocka_unit_test(test_op_errors),
        cmocka_unit_test(test_missing_data),
        cmocka_unit_test(test_run_on_cpu),
        cmocka_unit_test(test_intermediate_not_kept),
        cmocka_unit_test(test_memory_reuse),
        cmocka_unit_test(test_replan_after_change),
        cmocka_unit_test(test_bound_state_shared),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
