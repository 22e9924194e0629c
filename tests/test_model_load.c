/*
** test_model_load.c -- slm_model_open on small llama files written here.
**
** A tiny valid llama (16 wide, 2 layers, 2 heads sharing 1 KV head, ff 32,
** an 8-token SentencePiece vocabulary, random F32 weights) must load, report
** itself, tokenize and run. Then each way a file can be wrong is the same
** model with one thing changed, and must fail with the right status and a
** message naming the file and the key or tensor at fault. Every failing
** open must release what it took (the suite also runs under LeakSanitizer).
*/
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <slm/slm.h>

#include "gguf_writer.h"

/* ------------------------------------------------------------------ setup */

typedef struct fixture {
    slm_runtime_t *rt;
    char dir[256];        /* a fresh temporary folder for the files */
    char path[320];       /* the file the current case writes */
} fixture_t;

static int setup(void **state)
{
    static const char *const plugins[] = { SLM_BACKEND_BUILD_DIR "/libslm-backend-cpu.so" };
    fixture_t *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    slm_runtime_opts_t o = SLM_RUNTIME_OPTS_INIT;
    o.flags = SLM_RUNTIME_NO_DEFAULT_PLUGINS | SLM_RUNTIME_NO_DEFAULT_CONFIG;
    o.plugin_paths = plugins;
    o.n_plugin_paths = 1;
    if (slm_runtime_create(&o, &f->rt) != SLM_OK) {
        fprintf(stderr, "runtime: %s\n", slm_last_error());
        free(f);
        return -1;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%s/slm-model-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(f->dir)) {
        fprintf(stderr, "mkdtemp %s: %s\n", f->dir, strerror(errno));
        slm_runtime_destroy(f->rt);
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/model.gguf", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    unlink(f->path);
    rmdir(f->dir);
    slm_runtime_destroy(f->rt);
    free(f);
    return 0;
}

/* ------------------------------------------------------- the tiny model */

typedef struct tiny {
    uint32_t n_embd, n_layer, n_head, n_head_kv, n_ff;
} tiny_t;

#define TINY_DEFAULT { 16, 2, 2, 1, 32 }
#define N_VOCAB 8

static const char *const vocab[N_VOCAB] = {
    "<unk>", "<s>", "</s>", "\xe2\x96\x81", "a", "b", "\xe2\x96\x81" "a", "\xe2\x96\x81" "b",
};

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

/* A weight of `n` floats in -0.25..0.25 (norm weights: all 1). */
static gw_tensor_t *weight(gguf_writer_t *w, uint64_t *seed, const char *name,
                           uint32_t n_dims, int64_t ne0, int64_t ne1)
{
    int64_t ne[2] = { ne0, ne1 };
    size_t n = (size_t)(ne0 * (n_dims > 1 ? ne1 : 1));
    float *v = malloc(n * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; i++)
        v[i] = n_dims == 1 ? 1.0f
                           : (float)((double)(next_rand(seed) >> 11) / 9007199254740992.0 - 0.5) * 0.5f;
    gw_tensor_t *t = gw_tensor(w, name, GW_F32, n_dims, ne, v, n * sizeof *v);
    free(v);
    return t;
}

static gguf_writer_t *tiny_model(const tiny_t *s)
{
    gguf_writer_t *w = gw_create();
    gw_kv_str(w, "general.architecture", "llama");
    gw_kv_str(w, "general.name", "tiny");
    gw_kv_u32(w, "llama.context_length", 64);
    gw_kv_u32(w, "llama.embedding_length", s->n_embd);
    gw_kv_u32(w, "llama.block_count", s->n_layer);
    gw_kv_u32(w, "llama.feed_forward_length", s->n_ff);
    gw_kv_u32(w, "llama.attention.head_count", s->n_head);
    gw_kv_u32(w, "llama.attention.head_count_kv", s->n_head_kv);
    gw_kv_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    gw_kv_str(w, "tokenizer.ggml.model", "llama");
    gw_kv_array_str(w, "tokenizer.ggml.tokens", vocab, N_VOCAB);
    const float scores[N_VOCAB] = { 0, 0, 0, -1.0f, -2.0f, -3.0f, -0.5f, -0.6f };
    gw_kv_array(w, "tokenizer.ggml.scores", GW_FLOAT32, scores, N_VOCAB);
    const int32_t types[N_VOCAB] = { 2, 3, 3, 1, 1, 1, 1, 1 };
    gw_kv_array(w, "tokenizer.ggml.token_type", GW_INT32, types, N_VOCAB);
    gw_kv_u32(w, "tokenizer.ggml.bos_token_id", 1);
    gw_kv_u32(w, "tokenizer.ggml.eos_token_id", 2);
    gw_kv_u32(w, "tokenizer.ggml.unknown_token_id", 0);

    uint64_t seed = 0x7157u;
    const int64_t e = s->n_embd, hd = s->n_embd / s->n_head;
    const int64_t q = s->n_head * hd, kv = s->n_head_kv * hd, ff = s->n_ff;
    weight(w, &seed, "token_embd.weight", 2, e, N_VOCAB);
    weight(w, &seed, "output_norm.weight", 1, e, 1);
    weight(w, &seed, "output.weight", 2, e, N_VOCAB);
    for (uint32_t il = 0; il < s->n_layer; il++) {
        const struct { const char *suffix; uint32_t n; int64_t ne0, ne1; } t[] = {
            { "attn_norm.weight", 1, e, 1 }, { "attn_q.weight", 2, e, q },
            { "attn_k.weight", 2, e, kv },   { "attn_v.weight", 2, e, kv },
            { "attn_output.weight", 2, q, e }, { "ffn_norm.weight", 1, e, 1 },
            { "ffn_gate.weight", 2, e, ff }, { "ffn_up.weight", 2, e, ff },
            { "ffn_down.weight", 2, ff, e },
        };
        for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%u.%s", il, t[i].suffix);
            weight(w, &seed, name, t[i].n, t[i].ne0, t[i].ne1);
        }
    }
    return w;
}

/* Write w (destroying it) as the fixture's file. */
static const char *write_model(fixture_t *f, gguf_writer_t *w)
{
    if (gw_write_file(w, f->path) != 0)
        fail_msg("%s: %s", f->path, strerror(errno));
    gw_destroy(w);
    return f->path;
}

static uint64_t params_of(const gguf_writer_t *w)
{
    uint64_t n = 0;
    for (size_t i = 0; i < w->n_tensors; i++) {
        uint64_t p = 1;
        for (uint32_t d = 0; d < w->tensors[i]->n_dims; d++)
            p *= w->tensors[i]->ne[d];
        n += p;
    }
    return n;
}

/* Require status `want` and a message naming `file` and `what`. */
static void expect_error(slm_status_t st, slm_status_t want, const char *file,
                         const char *what)
{
    if (st != want)
        fail_msg("status %s, expected %s (message: %s)", slm_status_name(st),
                 slm_status_name(want), slm_last_error());
    const char *msg = slm_last_error();
    if (!strstr(msg, file) || (what && !strstr(msg, what)))
        fail_msg("message \"%s\" should name '%s' and '%s'", msg, file, what ? what : "");
}

/* Open f->path expecting failure; *out must stay NULL. */
static slm_status_t open_fails(fixture_t *f)
{
    slm_model_t *m = (slm_model_t *)f;
    slm_status_t st = slm_model_open(f->rt, f->path, NULL, &m);
    if (st == SLM_OK) {
        slm_model_close(m);
        fail_msg("%s opened but should not have", f->path);
    }
    assert_null(m);
    return st;
}

/* ------------------------------------------------------- a good model */

typedef struct progress_log {
    float v[16];
    int n;
    int cancel_at;        /* call index that returns false; -1: never */
} progress_log_t;

static bool on_progress(void *user, float done)
{
    progress_log_t *p = user;
    assert_true(p->n < 16);
    p->v[p->n] = done;
    return p->n++ != p->cancel_at;
}

static void test_open_and_run(void **state)
{
    fixture_t *f = *state;
    gguf_writer_t *w = tiny_model(&(tiny_t)TINY_DEFAULT);
    uint64_t n_params = params_of(w);
    write_model(f, w);

    progress_log_t log = { .n = 0, .cancel_at = -1 };
    slm_model_opts_t o = SLM_MODEL_OPTS_INIT;
    o.progress = on_progress;
    o.progress_user = &log;
    slm_model_t *m = NULL;
    if (slm_model_open(f->rt, f->path, &o, &m) != SLM_OK)
        fail_msg("open: %s", slm_last_error());
    assert_true(log.n >= 1);
    for (int i = 1; i < log.n; i++)
        assert_true(log.v[i] > log.v[i - 1]);
    assert_true(log.v[0] >= 0.0f);
    assert_true(log.v[log.n - 1] == 1.0f);

    const slm_model_info_t *mi = slm_model_info(m);
    assert_string_equal(mi->path, f->path);
    assert_string_equal(mi->arch, "llama");
    assert_string_equal(mi->name, "tiny");
    assert_int_equal(mi->n_vocab, N_VOCAB);
    assert_int_equal(mi->n_ctx_train, 64);
    assert_int_equal(mi->n_embd, 16);
    assert_int_equal(mi->n_layer, 2);
    assert_int_equal(mi->n_head, 2);
    assert_int_equal(mi->n_head_kv, 1);
    assert_int_equal(mi->n_ff, 32);
    assert_int_equal(mi->n_expert, 0);
    assert_int_equal(mi->n_params, n_params);
    assert_int_equal(mi->n_bytes, n_params * 4);
    assert_int_equal(mi->bos, 1);
    assert_int_equal(mi->eos, 2);
    assert_true(slm_model_load_ms(m) >= 0.0);

    /* " a" and " b" merge into one piece each; BOS goes first. */
    int32_t ids[8];
    uint32_t n = 0;
    assert_int_equal(slm_tokenize(m, "a b", 3, true, ids, 8, &n), SLM_OK);
    assert_int_equal(n, 3);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], 6);
    assert_int_equal(ids[2], 7);
    assert_int_equal(slm_tokenize(m, "a b", 3, false, ids, 8, &n), SLM_OK);
    assert_int_equal(n, 2);
    const char *text;
    size_t len;
    assert_int_equal(slm_token_text(m, 7, &text, &len), SLM_OK);
    assert_int_equal(len, 2);
    assert_memory_equal(text, " b", 2);
    assert_int_equal(slm_token_text(m, N_VOCAB, &text, &len), SLM_ERR_INVALID_ARG);

    slm_session_t *s = NULL;
    assert_int_equal(slm_session_create(m, NULL, &s), SLM_OK);
    assert_int_equal(slm_session_n_ctx(s), 64);
    assert_null(slm_session_logits(s));
    const int32_t prompt[] = { 1, 6, 7, 4 };
    if (slm_session_eval(s, prompt, 4) != SLM_OK)
        fail_msg("eval: %s", slm_last_error());
    const float *logits = slm_session_logits(s);
    assert_non_null(logits);
    float spread = 0.0f;
    for (int i = 0; i < N_VOCAB; i++) {
        assert_true(isfinite(logits[i]));
        spread += fabsf(logits[i] - logits[0]);
    }
    assert_true(spread > 0.0f);   /* random weights give distinct logits */
    assert_int_equal(slm_session_eval(s, &prompt[3], 1), SLM_OK);
    assert_int_equal(slm_session_n_past(s), 5);
    for (int i = 0; i < N_VOCAB; i++)
        assert_true(isfinite(slm_session_logits(s)[i]));

    slm_session_reset(s);
    slm_generate_opts_t go = SLM_GENERATE_OPTS_INIT;
    go.max_tokens = 6;
    go.sampling.temperature = 0.0f;
    slm_generate_result_t r;
    assert_int_equal(slm_generate(s, "a", &go, &r), SLM_OK);
    assert_true(r.n_generated >= 1 && r.n_generated <= 6);
    slm_session_destroy(s);
    slm_model_close(m);
    slm_model_close(NULL);
}

static void test_cancel(void **state)
{
    fixture_t *f = *state;
    write_model(f, tiny_model(&(tiny_t)TINY_DEFAULT));
    /* How many times a full load reports. */
    progress_log_t log = { .n = 0, .cancel_at = -1 };
    slm_model_opts_t o = SLM_MODEL_OPTS_INIT;
    o.progress = on_progress;
    o.progress_user = &log;
    slm_model_t *m = NULL;
    assert_int_equal(slm_model_open(f->rt, f->path, &o, &m), SLM_OK);
    slm_model_close(m);
    int calls = log.n;
    /* Cancelling at any of them fails cleanly, the last one included. */
    for (int at = 0; at < calls; at++) {
        log = (progress_log_t){ .n = 0, .cancel_at = at };
        m = (slm_model_t *)f;
        expect_error(slm_model_open(f->rt, f->path, &o, &m), SLM_ERR_CANCELLED, f->path, "cancel");
        assert_null(m);
        assert_int_equal(log.n, at + 1);   /* no calls after the refusal */
    }
}

static void test_bad_arguments(void **state)
{
    fixture_t *f = *state;
    write_model(f, tiny_model(&(tiny_t)TINY_DEFAULT));
    slm_model_t *m = NULL;
    assert_int_equal(slm_model_open(f->rt, NULL, NULL, &m), SLM_ERR_INVALID_ARG);
    assert_int_equal(slm_model_open(NULL, f->path, NULL, &m), SLM_ERR_INVALID_ARG);
    assert_int_equal(slm_model_open(f->rt, f->path, NULL, NULL), SLM_ERR_INVALID_ARG);
    slm_model_opts_t o = SLM_MODEL_OPTS_INIT;
    o.struct_size = 4;
    assert_int_equal(slm_model_open(f->rt, f->path, &o, &m), SLM_ERR_INVALID_ARG);
    assert_null(m);
}

/* ------------------------------------------------------ files that fail */

static void test_not_model_files(void **state)
{
    fixture_t *f = *state;
    slm_model_t *m = (slm_model_t *)f;
    const char *missing = "/nonexistent/dir/model.gguf";
    expect_error(slm_model_open(f->rt, missing, NULL, &m), SLM_ERR_IO, missing, NULL);
    assert_null(m);
    expect_error(slm_model_open(f->rt, f->dir, NULL, &m), SLM_ERR_IO, f->dir, "directory");

    FILE *fp = fopen(f->path, "wb");
    assert_non_null(fp);
    fclose(fp);
    expect_error(open_fails(f), SLM_ERR_FORMAT, f->path, "empty");

    fp = fopen(f->path, "wb");
    assert_non_null(fp);
    fputs("# A README\n\nThis is text, not a model.\n", fp);
    fclose(fp);
    expect_error(open_fails(f), SLM_ERR_FORMAT, f->path, "not a GGUF file");

    /* A model cut short inside its weights. */
    gguf_writer_t *w = tiny_model(&(tiny_t)TINY_DEFAULT);
    size_t n;
    free(gw_build(w, &n));
    w->truncate = n - 100;
    write_model(f, w);
    expect_error(open_fails(f), SLM_ERR_FORMAT, f->path, "past the end");
}

/* One change to the tiny model and what it must cause. */
typedef struct bad_case {
    const char *name;
    void (*change)(gguf_writer_t *w);
    slm_status_t status;
    const char *what;     /* in the message, besides the path */
} bad_case_t;

static void set_str(gguf_writer_t *w, const char *key, const char *v)
{
    gw_kv_remove(w, key);
    gw_kv_str(w, key, v);
}

static void set_u32(gguf_writer_t *w, const char *key, uint32_t v)
{
    gw_kv_remove(w, key);
    gw_kv_u32(w, key, v);
}

static void arch_foo(gguf_writer_t *w) { set_str(w, "general.architecture", "foo"); }
static void arch_missing(gguf_writer_t *w) { gw_kv_remove(w, "general.architecture"); }
static void arch_empty(gguf_writer_t *w) { set_str(w, "general.architecture", ""); }
static void arch_number(gguf_writer_t *w)
{
    gw_kv_remove(w, "general.architecture");
    gw_kv_u32(w, "general.architecture", 1);
}
static void no_ff(gguf_writer_t *w) { gw_kv_remove(w, "llama.feed_forward_length"); }
static void no_embd(gguf_writer_t *w) { gw_kv_remove(w, "llama.embedding_length"); }
static void layers_str(gguf_writer_t *w) { set_str(w, "llama.block_count", "2"); }
static void eps_nan(gguf_writer_t *w)
{
    gw_kv_remove(w, "llama.attention.layer_norm_rms_epsilon");
    gw_kv_f32(w, "llama.attention.layer_norm_rms_epsilon", NAN);
}
static void no_ffn_up(gguf_writer_t *w) { gw_tensor_remove(w, "blk.1.ffn_up.weight"); }
static void no_embd_tensor(gguf_writer_t *w) { gw_tensor_remove(w, "token_embd.weight"); }
static void no_output_norm(gguf_writer_t *w) { gw_tensor_remove(w, "output_norm.weight"); }
static void k_shape(gguf_writer_t *w)
{
    gw_tensor_remove(w, "blk.0.attn_k.weight");
    gw_tensor(w, "blk.0.attn_k.weight", GW_F32, 2, (int64_t[]){ 16, 16 }, NULL, 16 * 16 * 4);
}
static void norm_2d(gguf_writer_t *w)
{
    gw_tensor_remove(w, "blk.1.attn_norm.weight");
    gw_tensor(w, "blk.1.attn_norm.weight", GW_F32, 2, (int64_t[]){ 16, 2 }, NULL, 32 * 4);
}
static void up_f64(gguf_writer_t *w)
{
    gw_tensor_remove(w, "blk.0.ffn_up.weight");
    gw_tensor(w, "blk.0.ffn_up.weight", GW_F64, 2, (int64_t[]){ 16, 32 }, NULL, 16 * 32 * 8);
}
static void heads_3_2(gguf_writer_t *w)
{
    set_u32(w, "llama.attention.head_count", 3);
    set_u32(w, "llama.attention.head_count_kv", 2);
}
static void heads_kv_0(gguf_writer_t *w) { set_u32(w, "llama.attention.head_count_kv", 0); }
static void heads_0(gguf_writer_t *w) { set_u32(w, "llama.attention.head_count", 0); }
static void tok_gpt2(gguf_writer_t *w) { set_str(w, "tokenizer.ggml.model", "gpt2"); }
static void tok_unknown(gguf_writer_t *w) { set_str(w, "tokenizer.ggml.model", "nonesuch"); }
static void tok_missing(gguf_writer_t *w) { gw_kv_remove(w, "tokenizer.ggml.model"); }
static void tok_no_tokens(gguf_writer_t *w) { gw_kv_remove(w, "tokenizer.ggml.tokens"); }
static void tok_nine(gguf_writer_t *w)
{
    const char *nine[N_VOCAB + 1];
    memcpy(nine, vocab, sizeof vocab);
    nine[N_VOCAB] = "c";
    gw_kv_remove(w, "tokenizer.ggml.tokens");
    gw_kv_remove(w, "tokenizer.ggml.scores");
    gw_kv_remove(w, "tokenizer.ggml.token_type");
    gw_kv_array_str(w, "tokenizer.ggml.tokens", nine, N_VOCAB + 1);
}
static void tok_scores_short(gguf_writer_t *w)
{
    gw_kv_remove(w, "tokenizer.ggml.scores");
    gw_kv_array(w, "tokenizer.ggml.scores", GW_FLOAT32, (float[]){ 0, 0, 0 }, 3);
}
static void bos_out_of_range(gguf_writer_t *w) { set_u32(w, "tokenizer.ggml.bos_token_id", N_VOCAB); }
static void moe(gguf_writer_t *w)
{
    gw_kv_u32(w, "llama.expert_count", 4);
    gw_kv_u32(w, "llama.expert_used_count", 2);
}
static void rope_yarn(gguf_writer_t *w) { gw_kv_str(w, "llama.rope.scaling.type", "yarn"); }

static const bad_case_t bad_cases[] = {
    { "unknown architecture", arch_foo, SLM_ERR_UNSUPPORTED, "architecture 'foo' is not supported" },
    { "no architecture", arch_missing, SLM_ERR_FORMAT, "key 'general.architecture' is missing" },
    { "empty architecture", arch_empty, SLM_ERR_FORMAT, "general.architecture" },
    { "architecture not a string", arch_number, SLM_ERR_FORMAT, "'general.architecture': type uint32" },
    { "no feed_forward_length", no_ff, SLM_ERR_FORMAT, "key 'llama.feed_forward_length' is missing" },
    { "no embedding_length", no_embd, SLM_ERR_FORMAT, "key 'llama.embedding_length' is missing" },
    { "block_count a string", layers_str, SLM_ERR_FORMAT, "'llama.block_count': type string" },
    { "epsilon NaN", eps_nan, SLM_ERR_FORMAT, "llama.attention.layer_norm_rms_epsilon" },
    { "missing tensor", no_ffn_up, SLM_ERR_FORMAT, "tensor 'blk.1.ffn_up.weight' is missing" },
    { "missing token_embd", no_embd_tensor, SLM_ERR_FORMAT, "'token_embd.weight' is missing" },
    { "missing output_norm", no_output_norm, SLM_ERR_FORMAT, "'output_norm.weight' is missing" },
    { "wrong shape", k_shape, SLM_ERR_FORMAT,
      "tensor 'blk.0.attn_k.weight' has shape [16, 16], expected [16, 8]" },
    { "norm made 2-D", norm_2d, SLM_ERR_FORMAT, "tensor 'blk.1.attn_norm.weight' has shape [16, 2], expected [16]" },
    { "unsupported type", up_f64, SLM_ERR_UNSUPPORTED, "tensor 'blk.0.ffn_up.weight' has type f64" },
    { "heads 3 / kv 2", heads_3_2, SLM_ERR_FORMAT, "head_count 3 is not a multiple of head_count_kv 2" },
    { "kv heads 0", heads_kv_0, SLM_ERR_FORMAT, "head_count_kv 0" },
    { "heads 0", heads_0, SLM_ERR_FORMAT, "head_count" },
    { "unknown tokenizer", tok_unknown, SLM_ERR_UNSUPPORTED, "tokenizer model 'nonesuch' is not supported" },
    { "no tokenizer", tok_missing, SLM_ERR_FORMAT, "'tokenizer.ggml.model' is missing" },
    { "no tokens", tok_no_tokens, SLM_ERR_FORMAT, "'tokenizer.ggml.tokens' is missing" },
    { "9 tokens, 8 rows", tok_nine, SLM_ERR_FORMAT, "the tokenizer has 9 tokens but token_embd.weight has 8 rows" },
    { "3 scores for 8 tokens", tok_scores_short, SLM_ERR_FORMAT, "tokenizer.ggml.scores" },
    { "bos out of range", bos_out_of_range, SLM_ERR_FORMAT, "tokenizer.ggml.bos_token_id" },
    { "rope scaling yarn", rope_yarn, SLM_ERR_UNSUPPORTED, "llama.rope.scaling.type" },
};

static void test_bad_models(void **state)
{
    fixture_t *f = *state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const bad_case_t *c = &bad_cases[i];
        gguf_writer_t *w = tiny_model(&(tiny_t)TINY_DEFAULT);
        c->change(w);
        write_model(f, w);
        slm_model_t *m = NULL;
        slm_status_t st = slm_model_open(f->rt, f->path, NULL, &m);
        slm_model_close(m);
        if (st != c->status || !strstr(slm_last_error(), f->path) ||
            !strstr(slm_last_error(), c->what))
            fail_msg("%s: got %s \"%s\", expected %s naming '%s'", c->name, slm_status_name(st),
                     slm_last_error(), slm_status_name(c->status), c->what);
    }
}

/* Mixture-of-experts llama files are refused, by name, while slm cannot run
** them; once it can, this dense model with expert_count set must still
** fail, naming the first expert tensor it lacks. */
static void test_moe_refused(void **state)
{
    fixture_t *f = *state;
    gguf_writer_t *w = tiny_model(&(tiny_t)TINY_DEFAULT);
    moe(w);
    write_model(f, w);
    slm_status_t st = open_fails(f);
    if (st == SLM_ERR_UNSUPPORTED) {
        expect_error(st, SLM_ERR_UNSUPPORTED, f->path, "llama.expert_count");
    } else {
        expect_error(st, SLM_ERR_FORMAT, f->path, "' is missing");
        assert_non_null(strstr(slm_last_error(), "blk.0.ffn_"));
    }
}

/* A tokenizer slm may or may not implement: without its merges the tiny
** vocabulary is refused either way, by name. */
static void test_gpt2_tokenizer(void **state)
{
    fixture_t *f = *state;
    gguf_writer_t *w = tiny_model(&(tiny_t)TINY_DEFAULT);
    tok_gpt2(w);
    write_model(f, w);
    slm_status_t st = open_fails(f);
    assert_true(st == SLM_ERR_UNSUPPORTED || st == SLM_ERR_FORMAT);
    expect_error(st, st, f->path, "tokenizer");
}

/* A tensor type GGUF defines but slm cannot compute, with a valid size:
** q5_K needs rows of 256, so this model is 256 wide. */
static void test_q5_k_refused(void **state)
{
    fixture_t *f = *state;
    gguf_writer_t *w = tiny_model(&(tiny_t){ 256, 1, 2, 1, 32 });
    gw_tensor_remove(w, "blk.0.attn_q.weight");
    gw_tensor(w, "blk.0.attn_q.weight", GW_Q5_K, 2, (int64_t[]){ 256, 256 }, NULL, 256 * 176);
    write_model(f, w);
    expect_error(open_fails(f), SLM_ERR_UNSUPPORTED, f->path,
                 "tensor 'blk.0.attn_q.weight' has type q5_K");
}

/* Keys read under the architecture's prefix while loading are really read:
** linear RoPE scaling loads, an unknown scaling type is refused above. */
static void test_rope_scaling_linear(void **state)
{
    fixture_t *f = *state;
    gguf_writer_t *w = tiny_model(&(tiny_t)TINY_DEFAULT);
    gw_kv_str(w, "llama.rope.scaling.type", "linear");
    gw_kv_f32(w, "llama.rope.scaling.factor", 2.0f);
    write_model(f, w);
    slm_model_t *m = NULL;
    if (slm_model_open(f->rt, f->path, NULL, &m) != SLM_OK)
        fail_msg("open: %s", slm_last_error());
    slm_model_close(m);
}

/* Seeded mutations of the metadata and tensor infos of the tiny model:
** opening must succeed or fail cleanly, and a model that opens must run. */
static void test_mutated_models(void **state)
{
    fixture_t *f = *state;
    gguf_writer_t *w = tiny_model(&(tiny_t)TINY_DEFAULT);
    size_t n;
    uint8_t *orig = gw_build(w, &n);
    size_t header = w->data_offset;   /* mutate only what precedes the data */
    gw_destroy(w);
    uint8_t *buf = malloc(n);
    assert_non_null(buf);
    uint64_t seed = 0xfeedbeefull;
    unsigned ok = 0, refused = 0;
    for (int iter = 0; iter < 1500; iter++) {
        memcpy(buf, orig, n);
        int edits = 1 + (int)(next_rand(&seed) % 3);
        for (int e = 0; e < edits; e++) {
            uint64_t r = next_rand(&seed);
            size_t at = (size_t)(next_rand(&seed) % header);
            if (r % 3 == 0)
                buf[at] ^= (uint8_t)(1u << (r >> 8) % 8);
            else if (r % 3 == 1)
                buf[at] = (uint8_t)(r >> 8);
            else if (at + 4 <= header)
                gw_put_u32(buf + at, (uint32_t)(r >> 32) % 64);
        }
        FILE *fp = fopen(f->path, "wb");
        assert_non_null(fp);
        assert_int_equal(fwrite(buf, 1, n, fp), n);
        fclose(fp);
        slm_model_t *m = NULL;
        slm_status_t st = slm_model_open(f->rt, f->path, NULL, &m);
        if (st == SLM_OK) {
            ok++;
            slm_session_t *s = NULL;
            if (slm_session_create(m, NULL, &s) == SLM_OK) {
                int32_t tok = slm_model_info(m)->n_vocab > 1 ? 1 : 0;
                (void)slm_session_eval(s, &tok, 1);
                slm_session_destroy(s);
            }
            slm_model_close(m);
        } else if (st == SLM_ERR_FORMAT || st == SLM_ERR_UNSUPPORTED) {
            refused++;
            if (!strstr(slm_last_error(), f->path))
                fail_msg("iteration %d: message does not name the file: %s", iter, slm_last_error());
        } else {
            fail_msg("iteration %d: status %s: %s", iter, slm_status_name(st), slm_last_error());
        }
    }
    print_message("mutated models: %u opened, %u refused\n", ok, refused);
    assert_true(ok > 10 && refused > 10);
    free(buf);
    free(orig);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_and_run),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_not_model_files),
        cmocka_unit_test(test_bad_models),
        cmocka_unit_test(test_moe_refused),
        cmocka_unit_test(test_gpt2_tokenizer),
        cmocka_unit_test(test_q5_k_refused),
        cmocka_unit_test(test_rope_scaling_linear),
        cmocka_unit_test(test_mutated_models),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
