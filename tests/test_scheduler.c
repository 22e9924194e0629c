/*
** test_scheduler.c -- one graph over two devices.
**
** A small transformer block runs on {cpu, remote}, where remote is a test
** device whose memory the host cannot address and which runs only contiguous
** MUL_MAT, ADD, MUL and SILU, and on {cpu} alone. Both must agree; the block
** must really be split; weights must go up once; STATE must persist; a device
** running out of memory must fail the run cleanly.
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

#define CPU_PLUGIN SLM_BACKEND_BUILD_DIR "/libslm-backend-cpu.so"
#define REMOTE_PLUGIN SLM_TEST_PLUGIN_DIR "/libremote.so"
#define FAILING_PLUGIN SLM_TEST_PLUGIN_DIR "/libremote_failing.so"
#define COPY_PLUGIN SLM_TEST_PLUGIN_DIR "/libremote_copy.so"

/* Sizes of the block: embedding, heads, head dim, tokens, context, FFN. */
enum { E = 64, H = 2, D = 32, T = 4, CTX = 8, FF = 128, V = 16 };

/* ---------------------------------------------------------------- runtimes */

typedef struct counters {
    int remote_writes;           /* "remote: write N bytes" lines */
} counters;

static void count_log(void *user, int level, const char *msg)
{
    counters *c = user;
    (void)level;
    if (strstr(msg, "remote: write "))
        c->remote_writes++;
}

static slm_runtime_t *make_runtime(const char *second_plugin, const char *backends,
                                   counters *c)
{
    const char *paths[2] = { CPU_PLUGIN, second_plugin };
    slm_runtime_opts_t opts = SLM_RUNTIME_OPTS_INIT;
    opts.flags = SLM_RUNTIME_NO_DEFAULT_PLUGINS | SLM_RUNTIME_NO_DEFAULT_CONFIG;
    opts.plugin_paths = paths;
    opts.n_plugin_paths = second_plugin ? 2 : 1;
    opts.backends = backends;
    opts.log_level = SLM_LOG_DEBUG;
    opts.log = count_log;
    opts.log_user = c;
    slm_runtime_t *rt = NULL;
    assert_int_equal(slm_runtime_create(&opts, &rt), SLM_OK);
    assert_int_equal(slm_runtime_device_count(rt), second_plugin ? 2 : 1);
    return rt;
}

/* ------------------------------------------------------------------ model */

typedef struct weights {
    float tok_embd[V * E];
    float norm[E], ffn_norm[E];
    float wq[E * E], wv[E * E], w_up[FF * E];
    slm_block_q8_0 wk[E * E / 32], wo[E * E / 32], w_gate[FF * E / 32],
        w_down[E * FF / 32];
} weights;

static uint32_t rng = 12345;

static float frand(float scale)
{
    rng = rng * 1664525u + 1013904223u;
    return scale * ((float)(rng >> 8) / (float)(1u << 24) * 2.0f - 1.0f);
}

static void fill(float *x, int n, float scale)
{
    for (int i = 0; i < n; i++)
        x[i] = frand(scale);
}

static void quantize(slm_block_q8_0 *q, int n, float scale)
{
    for (int b = 0; b < n / 32; b++) {
        float x[32], amax = 0.0f;
        for (int j = 0; j < 32; j++) {
            x[j] = frand(scale);
            amax = fmaxf(amax, fabsf(x[j]));
        }
        float d = amax / 127.0f;
        q[b].d = slm_f32_to_f16(d);
        for (int j = 0; j < 32; j++)
            q[b].qs[j] = (int8_t)lrintf(d > 0 ? x[j] / d : 0.0f);
    }
}

static weights *make_weights(void)
{
    weights *w = calloc(1, sizeof *w);
    assert_non_null(w);
    rng = 12345;
    fill(w->tok_embd, V * E, 1.0f);
    for (int i = 0; i < E; i++) {
        w->norm[i] = 1.0f + frand(0.2f);
        w->ffn_norm[i] = 1.0f + frand(0.2f);
    }
    fill(w->wq, E * E, 0.2f);
    fill(w->wv, E * E, 0.2f);
    fill(w->w_up, FF * E, 0.2f);
    quantize(w->wk, E * E, 0.2f);
    quantize(w->wo, E * E, 0.2f);
    quantize(w->w_gate, FF * E, 0.2f);
    quantize(w->w_down, E * FF, 0.2f);
    return w;
}

typedef struct block {
    slm_graph_builder_t *g;
    slm_tensor_t *tokens, *pos, *mask;
    slm_tensor_t *k_cache, *v_cache;
    slm_tensor_t *out, *out_copy;
    slm_tensor_t *out_t;         /* out transposed: [T, E] */
} block;

static slm_tensor_t *leaf(slm_graph_builder_t *g, slm_dtype_t dt, int64_t n0,
                          int64_t n1, uint32_t flags, const char *name)
{
    int64_t ne[2] = { n0, n1 };
    slm_tensor_t *t = NULL;
    assert_int_equal(slm_graph_tensor(g, dt, 2, ne, flags, name, &t), SLM_OK);
    return t;
}

static slm_tensor_t *weight(slm_graph_builder_t *g, slm_dtype_t dt, int64_t n0,
                            int64_t n1, const char *name, const void *data,
                            size_t size)
{
    slm_tensor_t *t = leaf(g, dt, n0, n1, SLM_TENSOR_WEIGHT, name);
    assert_int_equal(slm_graph_bind_host(g, t, data, size), SLM_OK);
    return t;
}

static slm_tensor_t *op(slm_graph_builder_t *g, slm_op_t o, slm_tensor_t *a,
                        slm_tensor_t *b, const slm_op_params_t *p, const char *name)
{
    slm_tensor_t *src[2] = { a, b };
    slm_tensor_t *out = NULL;
    if (slm_graph_op(g, o, src, b ? 2 : 1, p, NULL, &out) != SLM_OK)
        fail_msg("%s: %s", slm_op_name(o), slm_last_error());
    snprintf(out->name, sizeof out->name, "%s", name);
    return out;
}

static slm_tensor_t *view(slm_graph_builder_t *g, slm_tensor_t *src, int64_t n0,
                          int64_t n1, int64_t n2, size_t nb0, size_t nb1,
                          size_t nb2)
{
    int64_t ne[3] = { n0, n1, n2 };
    size_t nb[3] = { nb0, nb1, nb2 };
    slm_tensor_t *v = NULL;
    assert_int_equal(slm_graph_view(g, src, 3, ne, nb, 0, NULL, &v), SLM_OK);
    return v;
}

static void set_rows(slm_graph_builder_t *g, slm_tensor_t *rows,
                     slm_tensor_t *ids, slm_tensor_t *dst)
{
    slm_tensor_t *src[2] = { rows, ids };
    assert_int_equal(slm_graph_op(g, SLM_OP_SET_ROWS, src, 2, NULL, dst, NULL), SLM_OK);
}

static slm_tensor_t *attention(block *b, slm_tensor_t *xw,
                               slm_tensor_t *const *wt)
{
    slm_graph_builder_t *g = b->g;
    const size_t f = sizeof(float);
    slm_tensor_t *q = op(g, SLM_OP_MUL_MAT, wt[0], xw, NULL, "q");
    slm_tensor_t *k = op(g, SLM_OP_MUL_MAT, wt[1], xw, NULL, "k");
    slm_tensor_t *v = op(g, SLM_OP_MUL_MAT, wt[2], xw, NULL, "v");
    slm_op_params_t rp = { .i = { D, SLM_ROPE_NEOX, 0 },
                           .f = { 10000.0f, 1.0f, 0.0f, 1.0f } };
    slm_tensor_t *qr = op(g, SLM_OP_ROPE, view(g, q, D, H, T, f, D * f, E * f),
                          b->pos, &rp, "q_rope");
    slm_tensor_t *kr = op(g, SLM_OP_ROPE, view(g, k, D, H, T, f, D * f, E * f),
                          b->pos, &rp, "k_rope");
    int64_t ne2[2] = { E, T };
    size_t nb2[2] = { f, E * f };
    slm_tensor_t *kr2 = NULL;
    assert_int_equal(slm_graph_view(g, kr, 2, ne2, nb2, 0, "k_rows", &kr2), SLM_OK);
    set_rows(g, kr2, b->pos, b->k_cache);
    set_rows(g, v, b->pos, b->v_cache);

    slm_tensor_t *keys = view(g, b->k_cache, D, CTX, H, f, E * f, D * f);
    slm_tensor_t *queries = view(g, qr, D, T, H, f, E * f, D * f);
    slm_tensor_t *kq = op(g, SLM_OP_MUL_MAT, keys, queries, NULL, "kq");
    slm_op_params_t sp = { .i = { 1, CTX - T }, .f = { 1.0f / sqrtf((float)D) } };
    slm_tensor_t *probs = op(g, SLM_OP_SOFTMAX, kq, b->mask, &sp, "probs");
    slm_tensor_t *values_t = view(g, b->v_cache, CTX, D, H, E * f, f, D * f);
    slm_tensor_t *att = op(g, SLM_OP_MUL_MAT, values_t, probs, NULL, "att");
    slm_tensor_t *merged = op(g, SLM_OP_COPY, view(g, att, D, H, T, f, D * T * f, D * f),
                              NULL, NULL, "merged");
    slm_tensor_t *m2 = NULL;
    assert_int_equal(slm_graph_view(g, merged, 2, ne2, nb2, 0, "merged2", &m2), SLM_OK);
    return op(g, SLM_OP_MUL_MAT, wt[3], m2, NULL, "attn_out");
}

static block build_block(slm_runtime_t *rt, const weights *w)
{
    block b;
    assert_int_equal(slm_graph_create(rt, &b.g), SLM_OK);
    slm_graph_builder_t *g = b.g;
    b.tokens = leaf(g, SLM_DTYPE_I32, T, 1, SLM_TENSOR_INPUT, "tokens");
    b.pos = leaf(g, SLM_DTYPE_I32, T, 1, SLM_TENSOR_INPUT, "pos");
    b.mask = leaf(g, SLM_DTYPE_F32, CTX, T, SLM_TENSOR_INPUT, "mask");
    b.k_cache = leaf(g, SLM_DTYPE_F32, E, CTX, SLM_TENSOR_STATE, "k_cache");
    b.v_cache = leaf(g, SLM_DTYPE_F32, E, CTX, SLM_TENSOR_STATE, "v_cache");
    b.out_copy = leaf(g, SLM_DTYPE_F32, E, T, SLM_TENSOR_OUTPUT, "out_copy");

    slm_tensor_t *emb = weight(g, SLM_DTYPE_F32, E, V, "tok_embd", w->tok_embd, sizeof w->tok_embd);
    slm_tensor_t *norm = weight(g, SLM_DTYPE_F32, E, 1, "norm", w->norm, sizeof w->norm);
    slm_tensor_t *fnorm = weight(g, SLM_DTYPE_F32, E, 1, "ffn_norm", w->ffn_norm, sizeof w->ffn_norm);
    slm_tensor_t *wt[4] = {
        weight(g, SLM_DTYPE_F32, E, E, "wq", w->wq, sizeof w->wq),
        weight(g, SLM_DTYPE_Q8_0, E, E, "wk", w->wk, sizeof w->wk),
        weight(g, SLM_DTYPE_F32, E, E, "wv", w->wv, sizeof w->wv),
        weight(g, SLM_DTYPE_Q8_0, E, E, "wo", w->wo, sizeof w->wo),
    };
    slm_tensor_t *gate = weight(g, SLM_DTYPE_Q8_0, E, FF, "w_gate", w->w_gate, sizeof w->w_gate);
    slm_tensor_t *up = weight(g, SLM_DTYPE_F32, E, FF, "w_up", w->w_up, sizeof w->w_up);
    slm_tensor_t *down = weight(g, SLM_DTYPE_Q8_0, FF, E, "w_down", w->w_down, sizeof w->w_down);

    slm_op_params_t eps = { .f = { 1e-5f } };
    slm_tensor_t *x = op(g, SLM_OP_GET_ROWS, emb, b.tokens, NULL, "x");
    slm_tensor_t *xn = op(g, SLM_OP_RMS_NORM, x, NULL, &eps, "x_norm");
    slm_tensor_t *xw = op(g, SLM_OP_MUL, xn, norm, NULL, "x_normed");
    slm_tensor_t *h = op(g, SLM_OP_ADD, attention(&b, xw, wt), x, NULL, "h");
    slm_tensor_t *hn = op(g, SLM_OP_RMS_NORM, h, NULL, &eps, "h_norm");
    slm_tensor_t *hw = op(g, SLM_OP_MUL, hn, fnorm, NULL, "h_normed");
    slm_tensor_t *gt = op(g, SLM_OP_MUL_MAT, gate, hw, NULL, "gate");
    slm_tensor_t *u = op(g, SLM_OP_MUL_MAT, up, hw, NULL, "up");
    slm_tensor_t *act = op(g, SLM_OP_MUL, op(g, SLM_OP_SILU, gt, NULL, NULL, "gate_silu"),
                           u, NULL, "act");
    slm_tensor_t *dn = op(g, SLM_OP_MUL_MAT, down, act, NULL, "down");
    b.out = op(g, SLM_OP_ADD, dn, h, NULL, "out");
    assert_int_equal(slm_graph_set_output(g, b.out), SLM_OK);
    b.out_t = view(g, b.out, T, E, 1, E * sizeof(float), sizeof(float),
                   (size_t)E * T * sizeof(float));
    slm_tensor_t *src[1] = { b.out };
    assert_int_equal(slm_graph_op(g, SLM_OP_COPY, src, 1, NULL, b.out_copy, NULL), SLM_OK);
    return b;
}

/* Tokens and positions first..first+T-1, with the mask they imply. */
static void set_step(block *b, int first)
{
    int32_t tok[T], pos[T];
    float mask[T * CTX];
    for (int r = 0; r < T; r++) {
        tok[r] = (first + 3 * r + 1) % V;
        pos[r] = first + r;
        for (int c = 0; c < CTX; c++)
            mask[r * CTX + c] = c <= pos[r] ? 0.0f : -INFINITY;
    }
    assert_int_equal(slm_graph_set_data(b->g, b->tokens, tok, sizeof tok), SLM_OK);
    assert_int_equal(slm_graph_set_data(b->g, b->pos, pos, sizeof pos), SLM_OK);
    assert_int_equal(slm_graph_set_data(b->g, b->mask, mask, sizeof mask), SLM_OK);
}

static void run(block *b)
{
    if (slm_graph_run(b->g) != SLM_OK)
        fail_msg("slm_graph_run: %s", slm_last_error());
}

static void read_f32(block *b, slm_tensor_t *t, float *out, size_t n)
{
    assert_int_equal(slm_graph_read(b->g, t, out, n * sizeof *out), SLM_OK);
}

static void expect_close(const float *got, const float *want, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        assert_true(isfinite(got[i]));
        if (fabsf(got[i] - want[i]) > 1e-5f * fmaxf(1.0f, fabsf(want[i])))
            fail_msg("element %zu: %.9g vs %.9g", i, (double)got[i],
                     (double)want[i]);
    }
}

/* ------------------------------------------------------------------- tests */

static void test_mixed_devices_agree(void **state)
{
    (void)state;
    weights *w = make_weights();
    counters ca = { 0 }, cb = { 0 };
    slm_runtime_t *ra = make_runtime(REMOTE_PLUGIN, NULL, &ca);
    slm_runtime_t *rb = make_runtime(NULL, NULL, &cb);
    block a = build_block(ra, w), b = build_block(rb, w);

    /* run 1: positions 0..3 */
    set_step(&a, 0);
    set_step(&b, 0);
    run(&a);
    int writes1 = ca.remote_writes;
    run(&b);
    assert_int_equal(cb.remote_writes, 0);

    bool on_remote = false, on_cpu = false;
    for (uint32_t i = 0; i < slm_graph_node_count(a.g); i++) {
        const char *id = slm_graph_node_device(a.g, i);
        assert_non_null(id);
        on_remote |= strcmp(id, "remote:0") == 0;
        on_cpu |= strcmp(id, "cpu:0") == 0;
        assert_string_equal(slm_graph_node_device(b.g, i), "cpu:0");
    }
    assert_true(on_remote && on_cpu);

    float oa[E * T], ob[E * T], oc[E * T];
    read_f32(&a, a.out, oa, E * T);
    read_f32(&b, b.out, ob, E * T);
    expect_close(oa, ob, E * T);
    read_f32(&a, a.out_copy, oc, E * T);
    assert_memory_equal(oc, oa, sizeof oa);
    /* a strided view of a tensor in remote's private memory */
    read_f32(&a, a.out_t, oc, E * T);
    for (int e = 0; e < E; e++)
        for (int t = 0; t < T; t++)
            assert_true(oc[e * T + t] == oa[t * E + e]);
    float ka1[E * CTX], kb[E * CTX];
    read_f32(&a, a.k_cache, ka1, E * CTX);
    read_f32(&b, b.k_cache, kb, E * CTX);
    expect_close(ka1, kb, E * CTX);
    for (int i = E * T; i < E * CTX; i++)
        assert_true(ka1[i] == 0.0f); /* rows not written yet: zero */

    /* run 2: positions 4..7 attend to the rows run 1 left in the cache */
    set_step(&a, T);
    set_step(&b, T);
    run(&a);
    int writes2 = ca.remote_writes - writes1;
    run(&b);
    read_f32(&a, a.out, oa, E * T);
    read_f32(&b, b.out, ob, E * T);
    expect_close(oa, ob, E * T);
    float ka2[E * CTX];
    read_f32(&a, a.k_cache, ka2, E * CTX);
    read_f32(&b, b.k_cache, kb, E * CTX);
    expect_close(ka2, kb, E * CTX);
    assert_memory_equal(ka2, ka1, E * T * sizeof(float));
    bool filled = false;
    for (int i = E * T; i < E * CTX; i++)
        filled |= ka2[i] != 0.0f;
    assert_true(filled);

    /* run 3, same inputs: only the copies of intermediates go to remote.
    ** The 9 weights remote uses were uploaded by run 1 alone. */
    int before = ca.remote_writes;
    run(&a);
    int writes3 = ca.remote_writes - before;
    assert_true(writes2 > 0);
    assert_int_equal(writes3, writes2);
    assert_int_equal(writes1 - writes2, 9);

    slm_graph_destroy(a.g);
    slm_graph_destroy(b.g);
    slm_runtime_destroy(ra);
    slm_runtime_destroy(rb);
    free(w);
}

/* Two graphs over the same bound weights share one upload per device: the
** second graph's first run writes only what a warm run writes. */
static void test_weights_shared_between_graphs(void **state)
{
    (void)state;
    weights *w = make_weights();
    counters c = { 0 };
    slm_runtime_t *rt = make_runtime(REMOTE_PLUGIN, NULL, &c);
    block first = build_block(rt, w);
    set_step(&first, 0);
    run(&first);
    int cold = c.remote_writes;
    run(&first);
    int warm = c.remote_writes - cold;

    block second = build_block(rt, w);
    set_step(&second, 0);
    int before = c.remote_writes;
    run(&second);
    assert_int_equal(c.remote_writes - before, warm);
    assert_int_equal(cold - warm, 9);

    /* The upload outlives the graph that made it. */
    slm_graph_destroy(first.g);
    before = c.remote_writes;
    run(&second);
    assert_int_equal(c.remote_writes - before, warm);
    slm_graph_destroy(second.g);
    slm_runtime_destroy(rt);
    free(w);
}

static void test_forced_cpu(void **state)
{
    (void)state;
    weights *w = make_weights();
    counters c = { 0 };
    slm_runtime_t *rt = make_runtime(REMOTE_PLUGIN, "cpu", &c);
    block b = build_block(rt, w);
    set_step(&b, 0);
    run(&b);
    for (uint32_t i = 0; i < slm_graph_node_count(b.g); i++)
        assert_string_equal(slm_graph_node_device(b.g, i), "cpu:0");
    assert_int_equal(c.remote_writes, 0);
    slm_graph_destroy(b.g);
    slm_runtime_destroy(rt);
    free(w);
}

static void test_device_out_of_memory(void **state)
{
    (void)state;
    weights *w = make_weights();
    counters c = { 0 };
    slm_runtime_t *rt = make_runtime(FAILING_PLUGIN, NULL, &c);
    block b = build_block(rt, w);
    set_step(&b, 0);
    for (int attempt = 0; attempt < 2; attempt++) {
        assert_int_equal(slm_graph_run(b.g), SLM_ERR_NO_MEMORY);
        assert_non_null(strstr(slm_last_error(), "remote_failing:0"));
        assert_non_null(strstr(slm_last_error(), "simulated out of device memory"));
        assert_null(slm_graph_node_device(b.g, 0));
    }
    float out[E * T];
    assert_int_equal(slm_graph_read(b.g, b.out, out, sizeof out), SLM_ERR_INVALID_ARG);
    slm_graph_destroy(b.g);
    slm_runtime_destroy(rt);
    free(w);
}

/* A node writing into a tensor must run where that tensor lives. */
static void test_in_place_write_needs_home(void **state)
{
    (void)state;
    counters c = { 0 };
    slm_runtime_t *rt = make_runtime(REMOTE_PLUGIN, NULL, &c);
    slm_graph_builder_t *g;
    assert_int_equal(slm_graph_create(rt, &g), SLM_OK);
    float av[E * T] = { 0 };
    slm_tensor_t *a = leaf(g, SLM_DTYPE_F32, E, T, SLM_TENSOR_INPUT, "a");
    assert_int_equal(slm_graph_set_data(g, a, av, sizeof av), SLM_OK);
    slm_tensor_t *y = op(g, SLM_OP_ADD, a, a, NULL, "y"); /* on remote */
    slm_tensor_t *src[1] = { a };
    assert_int_equal(slm_graph_op(g, SLM_OP_COPY, src, 1, NULL, y, NULL), SLM_OK);
    assert_int_equal(slm_graph_run(g), SLM_ERR_NO_DEVICE);
    assert_string_equal(slm_last_error(),
                        "node 1 (COPY -> 'y'): writes into tensor 'y', which "
                        "lives on remote:0 (written there by node 0), and "
                        "remote:0 cannot run this node");
    slm_graph_destroy(g);
    slm_runtime_destroy(rt);
}

/* Bound STATE memory is the state even on a device that cannot address it:
** copied in before each run and, when written, back out after. */
static void test_bound_state_on_private_memory(void **state)
{
    (void)state;
    counters c = { 0 };
    slm_runtime_t *rt = make_runtime(COPY_PLUGIN, NULL, &c);
    static float st[E * 2];
    memset(st, 0, sizeof st);
    float xv[E * 2];
    for (int i = 0; i < E * 2; i++)
        xv[i] = (float)i;

    slm_graph_builder_t *g1, *g2;
    assert_int_equal(slm_graph_create(rt, &g1), SLM_OK);
    slm_tensor_t *x = leaf(g1, SLM_DTYPE_F32, E, 2, SLM_TENSOR_INPUT, "x");
    assert_int_equal(slm_graph_set_data(g1, x, xv, sizeof xv), SLM_OK);
    slm_tensor_t *s1 = leaf(g1, SLM_DTYPE_F32, E, 2, SLM_TENSOR_STATE, "st");
    assert_int_equal(slm_graph_bind_host(g1, s1, st, sizeof st), SLM_OK);
    slm_tensor_t *src[1] = { op(g1, SLM_OP_ADD, x, x, NULL, "y") };
    assert_int_equal(slm_graph_op(g1, SLM_OP_COPY, src, 1, NULL, s1, NULL), SLM_OK);
    run(&(block){ .g = g1 });
    assert_string_equal(slm_graph_node_device(g1, 1), "remote_copy:0");
    for (int i = 0; i < E * 2; i++)
        assert_true(st[i] == 2.0f * (float)i);

    assert_int_equal(slm_graph_create(rt, &g2), SLM_OK);
    slm_tensor_t *s2 = leaf(g2, SLM_DTYPE_F32, E, 2, SLM_TENSOR_STATE, "st");
    assert_int_equal(slm_graph_bind_host(g2, s2, st, sizeof st), SLM_OK);
    slm_tensor_t *sq = op(g2, SLM_OP_MUL, s2, s2, NULL, "sq");
    assert_int_equal(slm_graph_set_output(g2, sq), SLM_OK);
    float out[E * 2];
    for (int pass = 0; pass < 2; pass++) {
        if (pass)
            st[5] = -3.0f; /* the application changes the state between runs */
        run(&(block){ .g = g2 });
        assert_string_equal(slm_graph_node_device(g2, 0), "remote_copy:0");
        assert_int_equal(slm_graph_read(g2, sq, out, sizeof out), SLM_OK);
        for (int i = 0; i < E * 2; i++)
            assert_true(out[i] == st[i] * st[i]);
    }
    assert_true(out[5] == 9.0f);
    slm_graph_destroy(g1);
    slm_graph_destroy(g2);
    slm_runtime_destroy(rt);
}

/* Resident state stays on the device: nothing goes back to the host after a
** run, a second graph binding the same memory shares the device copy without
** another upload, and sync or a new binding moves it across on request. */
static void test_resident_state_on_private_memory(void **state)
{
    (void)state;
    counters c = { 0 };
    slm_runtime_t *rt = make_runtime(COPY_PLUGIN, NULL, &c);
    static float st[E * 2];
    memset(st, 0, sizeof st);
    float xv[E * 2];
    for (int i = 0; i < E * 2; i++)
        xv[i] = (float)i;

    slm_graph_builder_t *g1, *g2;
    assert_int_equal(slm_graph_create(rt, &g1), SLM_OK);
    slm_tensor_t *x = leaf(g1, SLM_DTYPE_F32, E, 2, SLM_TENSOR_INPUT, "x");
    assert_int_equal(slm_graph_set_data(g1, x, xv, sizeof xv), SLM_OK);
    assert_int_equal(slm_graph_keep_state_on_device(g1, x), SLM_ERR_INVALID_ARG);
    assert_non_null(strstr(slm_last_error(), "'x' is not a STATE leaf"));
    slm_tensor_t *s1 = leaf(g1, SLM_DTYPE_F32, E, 2, SLM_TENSOR_STATE, "st");
    assert_int_equal(slm_graph_bind_host(g1, s1, st, sizeof st), SLM_OK);
    assert_int_equal(slm_graph_keep_state_on_device(g1, s1), SLM_OK);
    slm_tensor_t *src[1] = { op(g1, SLM_OP_ADD, x, x, NULL, "y") };
    assert_int_equal(slm_graph_op(g1, SLM_OP_COPY, src, 1, NULL, s1, NULL), SLM_OK);
    run(&(block){ .g = g1 });
    assert_string_equal(slm_graph_node_device(g1, 1), "remote_copy:0");
    for (int i = 0; i < E * 2; i++)
        assert_true(st[i] == 0.0f); /* still on the device */

    assert_int_equal(slm_graph_create(rt, &g2), SLM_OK);
    slm_tensor_t *s2 = leaf(g2, SLM_DTYPE_F32, E, 2, SLM_TENSOR_STATE, "st");
    assert_int_equal(slm_graph_bind_host(g2, s2, st, sizeof st), SLM_OK);
    assert_int_equal(slm_graph_keep_state_on_device(g2, s2), SLM_OK);
    slm_tensor_t *sq = op(g2, SLM_OP_MUL, s2, s2, NULL, "sq");
    assert_int_equal(slm_graph_set_output(g2, sq), SLM_OK);
    float out[E * 2];
    int writes = c.remote_writes;
    run(&(block){ .g = g2 });
    assert_int_equal(c.remote_writes, writes); /* the copy is shared */
    assert_int_equal(slm_graph_read(g2, sq, out, sizeof out), SLM_OK);
    for (int i = 0; i < E * 2; i++)
        assert_true(out[i] == 4.0f * (float)i * (float)i);

    assert_int_equal(slm_graph_sync_state(g2), SLM_OK);
    for (int i = 0; i < E * 2; i++)
        assert_true(st[i] == 2.0f * (float)i);

    st[5] = -3.0f; /* new contents reach the device when bound again */
    assert_int_equal(slm_graph_bind_host(g2, s2, st, sizeof st), SLM_OK);
    run(&(block){ .g = g2 });
    assert_int_equal(slm_graph_read(g2, sq, out, sizeof out), SLM_OK);
    assert_true(out[5] == 9.0f);
    assert_true(out[6] == 144.0f);

    /* g1 writes the state again; destroying the last graph that uses the
    ** copy brings the host memory up to date. */
    run(&(block){ .g = g1 });
    assert_true(st[5] == -3.0f);
    slm_graph_destroy(g2);
    slm_graph_destroy(g1);
    assert_true(st[5] == 10.0f);
    slm_runtime_destroy(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mixed_devices_agree),
        cmocka_unit_test(test_weights_shared_between_graphs),
        cmocka_unit_test(test_forced_cpu),
        cmocka_unit_test(test_device_out_of_memory),
        cmocka_unit_test(test_in_place_write_needs_home),
        cmocka_unit_test(test_bound_state_on_private_memory),
        cmocka_unit_test(test_resident_state_on_private_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
