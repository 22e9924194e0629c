/*
** test_model_load.c -- slm_model_open on small llama files written here.
**
** The tiny llama of gguf_writer.h (16 wide, 2 layers, 2 heads sharing 1 KV
** head, ff 32, an 8-token SentencePiece vocabulary, random F32 weights)
** must load, report itself, tokenize and run, and loading must be
** cancellable at every step. Files with one thing wrong are the hostile
** corpus (tests/hostile/, one ctest case each); here are those whose
** outcome depends on what slm supports, and a seeded mutation loop. Every
** failing open must release what it took (the suite also runs under
** LeakSanitizer).
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

#define N_VOCAB GW_TINY_VOCAB

/* xorshift64*: the mutations are the same on every run. */
static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
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
    gguf_writer_t *w = gw_tiny_llama(&(gw_tiny_t)GW_TINY_DEFAULT);
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
    write_model(f, gw_tiny_llama(&(gw_tiny_t)GW_TINY_DEFAULT));
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
    write_model(f, gw_tiny_llama(&(gw_tiny_t)GW_TINY_DEFAULT));
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

/* Paths that are no file; files that are wrong are the hostile corpus. */
static void test_not_files(void **state)
{
    fixture_t *f = *state;
    slm_model_t *m = (slm_model_t *)f;
    const char *missing = "/nonexistent/dir/model.gguf";
    expect_error(slm_model_open(f->rt, missing, NULL, &m), SLM_ERR_IO, missing, NULL);
    assert_null(m);
    expect_error(slm_model_open(f->rt, f->dir, NULL, &m), SLM_ERR_IO, f->dir, "directory");
}

/* Mixture-of-experts llama files are refused, by name, while slm cannot run
** them; once it can, this dense model with expert_count set must still
** fail, naming the first expert tensor it lacks. */
static void test_moe_refused(void **state)
{
    fixture_t *f = *state;
    gguf_writer_t *w = gw_tiny_llama(&(gw_tiny_t)GW_TINY_DEFAULT);
    gw_kv_u32(w, "llama.expert_count", 4);
    gw_kv_u32(w, "llama.expert_used_count", 2);
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
    gguf_writer_t *w = gw_tiny_llama(&(gw_tiny_t)GW_TINY_DEFAULT);
    gw_kv_remove(w, "tokenizer.ggml.model");
    gw_kv_str(w, "tokenizer.ggml.model", "gpt2");
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
    gguf_writer_t *w = gw_tiny_llama(&(gw_tiny_t){ 256, 1, 2, 1, 32 });
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
    gguf_writer_t *w = gw_tiny_llama(&(gw_tiny_t)GW_TINY_DEFAULT);
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
    gguf_writer_t *w = gw_tiny_llama(&(gw_tiny_t)GW_TINY_DEFAULT);
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
        cmocka_unit_test(test_not_files),
        cmocka_unit_test(test_moe_refused),
        cmocka_unit_test(test_gpt2_tokenizer),
        cmocka_unit_test(test_q5_k_refused),
        cmocka_unit_test(test_rope_scaling_linear),
        cmocka_unit_test(test_mutated_models),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
