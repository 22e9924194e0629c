/*
** test_faults.c -- a device that fails: allocations, runs, or for good.
**
** stories260K (Q8_0) runs on the test device `fault` (tests/plugins/
** fault_plugin.c: a copy of the scalar reference behind calls that fail as
** its slm.ini keys say), forced first, with the reference `cpu` beside it.
** The reference alone gives, once, the prompt's logits, twelve greedy
** tokens with the logits after each, and the greedy text. Every scenario
** then evaluates the same tokens one step at a time and must give the same
** logits, bit for bit (the fault device is the reference): a failed step
** must report its status and the plugin's message, leave the session as it
** was (n_past and logits), and work when tried again; with `fallback = on`
** no step fails at all. `fault_remote` is the same device with memory the
** host cannot address, so that weights and the KV cache are device copies.
** The ASan build checks that nothing leaks on any of these paths.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "slm/slm.h"

#define CPU_PLUGIN SLM_BACKEND_BUILD_DIR "/libslm-backend-cpu.so"
#define MODEL SLM_TEST_SOURCE_DIR "/../../shared/models/gguf/stories260K-q8_0.gguf"
#define PROMPT "Once upon a time"

enum { STEPS = 12, MAX_PROMPT = 32 };

/* ---------------------------------------------------------------- reference */

typedef struct reference {
    int32_t tokens[MAX_PROMPT + STEPS]; /* the prompt, then the greedy tokens */
    uint32_t n_prompt;
    uint32_t n_vocab;
    float *logits;                /* (STEPS + 1, n_vocab): after the prompt,
                                     then after each greedy token */
    char text[2048];              /* slm_generate's greedy text, STEPS tokens */
} reference;

static reference ref;

typedef struct logbook {
    int fallbacks;                /* "running the graph again without" */
    int lost;                     /* "device lost" warnings */
} logbook;

static void on_log(void *user, int level, const char *msg)
{
    logbook *lb = user;
    (void)level;
    if (lb && strstr(msg, "running the graph again without"))
        lb->fallbacks++;
    if (lb && strstr(msg, "device lost ("))
        lb->lost++;
}

/* A runtime with the reference and `plugin` (NULL: none) forced first, and
** `ini` as its slm.ini. */
static slm_runtime_t *open_runtime(const char *plugin, const char *ini, logbook *lb)
{
    char path[] = "/tmp/slm-test-faults-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, ini, strlen(ini)), (ssize_t)strlen(ini));
    close(fd);
    char file[256];
    snprintf(file, sizeof file, SLM_TEST_PLUGIN_DIR "/lib%s.so", plugin ? plugin : "");
    const char *paths[2] = { CPU_PLUGIN, file };
    slm_runtime_opts_t o = SLM_RUNTIME_OPTS_INIT;
    o.flags = SLM_RUNTIME_NO_DEFAULT_PLUGINS;
    o.config_path = path;
    o.plugin_paths = paths;
    o.n_plugin_paths = plugin ? 2 : 1;
    o.backends = plugin;
    o.log = on_log;
    o.log_user = lb;
    slm_runtime_t *rt = NULL;
    slm_status_t st = slm_runtime_create(&o, &rt);
    unlink(path);
    if (st != SLM_OK)
        fail_msg("runtime with %s: %s", plugin ? plugin : "cpu", slm_last_error());
    return rt;
}

static slm_model_t *open_model(slm_runtime_t *rt)
{
    slm_model_t *m = NULL;
    if (slm_model_open(rt, MODEL, NULL, &m) != SLM_OK)
        fail_msg("%s", slm_last_error());
    return m;
}

static int32_t argmax(const float *x, uint32_t n)
{
    uint32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return (int32_t)best;
}

static bool append_text(void *user, int32_t token, const char *text, size_t len)
{
    char *buf = user;
    size_t used = strlen(buf);
    (void)token;
    if (used + len < sizeof ref.text)
        memcpy(buf + used, text, len), buf[used + len] = '\0';
    return true;
}

static slm_status_t generate(slm_session_t *s, char *text)
{
    slm_generate_opts_t o = SLM_GENERATE_OPTS_INIT;
    o.max_tokens = STEPS;
    o.sampling.temperature = 0.0f;
    o.on_token = append_text;
    o.user = text;
    text[0] = '\0';
    return slm_generate(s, PROMPT, &o, NULL);
}

static int make_reference(void **state)
{
    (void)state;
    slm_runtime_t *rt = open_runtime(NULL, "", NULL);
    slm_model_t *m = open_model(rt);
    ref.n_vocab = slm_model_info(m)->n_vocab;
    ref.logits = malloc((STEPS + 1) * (size_t)ref.n_vocab * sizeof(float));
    assert_non_null(ref.logits);
    assert_int_equal(slm_tokenize(m, PROMPT, strlen(PROMPT), true, ref.tokens,
                                  MAX_PROMPT, &ref.n_prompt), SLM_OK);
    slm_session_t *s = NULL;
    assert_int_equal(slm_session_create(m, NULL, &s), SLM_OK);
    for (uint32_t k = 0; k <= STEPS; k++) {
        const int32_t *tok = k ? &ref.tokens[ref.n_prompt + k - 1] : ref.tokens;
        assert_int_equal(slm_session_eval(s, tok, k ? 1 : ref.n_prompt), SLM_OK);
        float *out = ref.logits + (size_t)k * ref.n_vocab;
        memcpy(out, slm_session_logits(s), ref.n_vocab * sizeof(float));
        if (k < STEPS)
            ref.tokens[ref.n_prompt + k] = argmax(out, ref.n_vocab);
    }
    slm_session_reset(s);
    assert_int_equal(generate(s, ref.text), SLM_OK);
    assert_true(strlen(ref.text) > 10);
    slm_session_destroy(s);
    slm_model_close(m);
    slm_runtime_destroy(rt);
    return 0;
}

static int free_reference(void **state)
{
    (void)state;
    free(ref.logits);
    return 0;
}

/* ----------------------------------------------------------------- driving */

static void assert_contains(const char *text, const char *part)
{
    if (!strstr(text, part))
        fail_msg("message \"%s\" should contain \"%s\"", text, part);
}

static void assert_logits(const slm_session_t *s, uint32_t step)
{
    const float *got = slm_session_logits(s);
    assert_non_null(got);
    if (memcmp(got, ref.logits + (size_t)step * ref.n_vocab,
               ref.n_vocab * sizeof(float)) != 0)
        fail_msg("step %u: logits differ from the reference's", step);
}

/* What one scenario expects of its failing step. */
typedef struct expect {
    uint32_t step;                /* the step that fails; > STEPS: none */
    slm_status_t status;
    const char *message;          /* part of slm_last_error() */
    bool forgets;                 /* the session's context was lost with it */
} expect;

#define NO_FAILURE { STEPS + 1, SLM_OK, NULL, false }

/*
** Evaluate the reference's prompt and tokens one step at a time on a new
** session of rt, checking every step's logits. The step `e` names must fail
** as it says and leave the session as it was (or, `forgets`, empty), and
** then work when tried again (after the lost tokens, evaluated again).
*/
static void drive(slm_runtime_t *rt, const expect *e)
{
    slm_model_t *m = open_model(rt);
    slm_session_t *s = NULL;
    assert_int_equal(slm_session_create(m, NULL, &s), SLM_OK);
    for (uint32_t k = 0; k <= STEPS; k++) {
        const int32_t *tok = k ? &ref.tokens[ref.n_prompt + k - 1] : ref.tokens;
        uint32_t n = k ? 1 : ref.n_prompt;
        uint32_t n_past = slm_session_n_past(s);
        slm_status_t st = slm_session_eval(s, tok, n);
        if (k == e->step) {
            assert_int_equal(st, e->status);
            assert_contains(slm_last_error(), e->message);
            if (e->forgets) {
                assert_int_equal(slm_session_n_past(s), 0);
                assert_null(slm_session_logits(s));
                /* Everything before this step, then the step. */
                assert_int_equal(slm_session_eval(s, ref.tokens, n_past), SLM_OK);
            } else {
                assert_int_equal(slm_session_n_past(s), n_past);
                if (k)
                    assert_logits(s, k - 1);
                else
                    assert_null(slm_session_logits(s));
            }
            st = slm_session_eval(s, tok, n);
        }
        if (st != SLM_OK)
            fail_msg("step %u: %s", k, slm_last_error());
        assert_logits(s, k);
    }
    slm_session_destroy(s);
    slm_model_close(m);
}

/* ---------------------------------------------------------------- scenarios */

/* Without faults the fault device runs everything, exactly as the reference. */
static void test_clean_run_matches(void **state)
{
    (void)state;
    const expect e = NO_FAILURE;
    slm_runtime_t *rt = open_runtime("fault", "", NULL);
    slm_model_t *m = open_model(rt);
    slm_placement_t p[64];
    uint32_t n = 0;
    assert_int_equal(slm_model_placement(m, p, 64, &n), SLM_OK);
    for (uint32_t i = 0; i < n; i++)
        assert_string_equal(p[i].device, "fault:0");
    slm_model_close(m);
    drive(rt, &e);
    slm_runtime_destroy(rt);

    rt = open_runtime("fault_remote", "", NULL);
    drive(rt, &e);
    slm_runtime_destroy(rt);
}

/* graph_compute call 4 (the prompt is call 1) fails once: the step reports
** it, the session is unchanged, the same step then works. */
static void test_compute_fails_once(void **state)
{
    (void)state;
    const expect e = { 3, SLM_ERR_DEVICE, "fault:0: graph_compute failed: fault: "
                       "simulated failure of graph_compute call 4", false };
    slm_runtime_t *rt = open_runtime("fault", "[backend.fault]\nfail_compute = 4\n", NULL);
    drive(rt, &e);
    slm_runtime_destroy(rt);

    const expect r = { 3, SLM_ERR_DEVICE, "fault_remote:0: graph_compute failed",
                       false };
    rt = open_runtime("fault_remote", "[backend.fault_remote]\nfail_compute = 4\n", NULL);
    drive(rt, &r);
    slm_runtime_destroy(rt);
}

/* A prompt in batches of 2 tokens whose second batch fails: the first
** batch's tokens are not counted either, and the retry gives the
** reference's logits. */
static void test_failed_batch_rolls_back(void **state)
{
    (void)state;
    assert_true(ref.n_prompt > 2);
    slm_runtime_t *rt = open_runtime("fault", "[backend.fault]\nfail_compute = 2\n", NULL);
    slm_model_t *m = open_model(rt);
    slm_session_opts_t so = SLM_SESSION_OPTS_INIT;
    so.n_batch = 2;
    slm_session_t *s = NULL;
    assert_int_equal(slm_session_create(m, &so, &s), SLM_OK);
    assert_int_equal(slm_session_eval(s, ref.tokens, ref.n_prompt), SLM_ERR_DEVICE);
    assert_int_equal(slm_session_n_past(s), 0);
    assert_null(slm_session_logits(s));
    assert_int_equal(slm_session_eval(s, ref.tokens, ref.n_prompt), SLM_OK);
    assert_int_equal(slm_session_n_past(s), ref.n_prompt);
    const float *got = slm_session_logits(s);
    for (uint32_t i = 0; i < ref.n_vocab; i++)
        assert_float_equal(got[i], ref.logits[i], 1e-4f);
    slm_session_destroy(s);
    slm_model_close(m);
    slm_runtime_destroy(rt);
}

/* slm_generate stops with the failure; after a reset the next generation
** gives the reference's text. */
static void test_generate_after_failure(void **state)
{
    (void)state;
    slm_runtime_t *rt = open_runtime("fault", "[backend.fault]\nfail_compute = 3\n", NULL);
    slm_model_t *m = open_model(rt);
    slm_session_t *s = NULL;
    assert_int_equal(slm_session_create(m, NULL, &s), SLM_OK);
    char text[sizeof ref.text];
    assert_int_equal(generate(s, text), SLM_ERR_DEVICE);
    assert_contains(slm_last_error(), "simulated failure of graph_compute call 3");
    assert_int_equal(slm_session_n_past(s), ref.n_prompt + 1);
    slm_session_reset(s);
    assert_int_equal(generate(s, text), SLM_OK);
    assert_string_equal(text, ref.text);
    slm_session_destroy(s);
    slm_model_close(m);
    slm_runtime_destroy(rt);
}

/* With fallback on, the failed step runs again on the reference at once. */
static void test_compute_fails_with_fallback(void **state)
{
    (void)state;
    const expect e = NO_FAILURE;
    logbook lb = { 0, 0 };
    slm_runtime_t *rt = open_runtime("fault", "[runtime]\nfallback = on\n"
                                     "[backend.fault]\nfail_compute = 4\n", &lb);
    drive(rt, &e);
    slm_runtime_destroy(rt);
    assert_int_equal(lb.fallbacks, 1);

    /* The KV cache lives on the device: the run on the reference reads it
    ** back, and the device's copy is written again before its next run. */
    memset(&lb, 0, sizeof lb);
    rt = open_runtime("fault_remote", "[runtime]\nfallback = on\n"
                      "[backend.fault_remote]\nfail_compute = 2\n", &lb);
    drive(rt, &e);
    slm_runtime_destroy(rt);
    assert_int_equal(lb.fallbacks, 1);
}

/* The device is full: without fallback the error names device, call and
** size; with it, the model goes to the reference. */
static void test_alloc_fails(void **state)
{
    (void)state;
    slm_runtime_t *rt = open_runtime("fault", "[backend.fault]\nfail_alloc = 1\n", NULL);
    slm_model_t *m = open_model(rt);
    slm_session_t *s = NULL;
    assert_int_equal(slm_session_create(m, NULL, &s), SLM_OK);
    for (int attempt = 0; attempt < 2; attempt++) {
        assert_int_equal(slm_session_eval(s, ref.tokens, ref.n_prompt), SLM_ERR_NO_MEMORY);
        assert_contains(slm_last_error(), "fault:0: buffer_alloc(");
        assert_contains(slm_last_error(), "bytes) failed: fault: simulated out of "
                        "device memory");
        assert_int_equal(slm_session_n_past(s), 0);
    }
    slm_session_destroy(s);
    slm_model_close(m);
    slm_runtime_destroy(rt);

    const expect e = NO_FAILURE;
    logbook lb = { 0, 0 };
    rt = open_runtime("fault", "[runtime]\nfallback = on\n"
                      "[backend.fault]\nfail_alloc = 1\n", &lb);
    drive(rt, &e);
    slm_runtime_destroy(rt);
    assert_true(lb.fallbacks >= 1);
    /* The plan made without the device is kept: one fallback per graph
    ** shape (the prompt's and the one-token graph), not one per step. */
    assert_true(lb.fallbacks <= 2);

    /* Weights uploaded before the device filled up are given back. */
    memset(&lb, 0, sizeof lb);
    rt = open_runtime("fault_remote", "[runtime]\nfallback = on\n"
                      "[backend.fault_remote]\nfail_alloc = 12\n", &lb);
    drive(rt, &e);
    slm_runtime_destroy(rt);
    assert_true(lb.fallbacks >= 1);
}

/* The device reports itself lost at graph_compute call 3: that step fails
** with SLM_ERR_DEVICE_LOST; the cache was in host memory, so the session
** keeps its context and the next try runs on the reference. */
static void test_device_lost(void **state)
{
    (void)state;
    const expect e = { 2, SLM_ERR_DEVICE_LOST, "fault:0: graph_compute failed: "
                       "fault: device lost (simulated reset in graph_compute call 3)",
                       false };
    logbook lb = { 0, 0 };
    slm_runtime_t *rt = open_runtime("fault", "[backend.fault]\nlose_at = 3\n", &lb);
    drive(rt, &e);
    assert_int_equal(lb.lost, 1);
    /* Placement leaves the lost device out from now on. */
    slm_model_t *m = open_model(rt);
    slm_placement_t p[64];
    uint32_t n = 0;
    assert_int_equal(slm_model_placement(m, p, 64, &n), SLM_OK);
    for (uint32_t i = 0; i < n; i++)
        assert_string_equal(p[i].device, "cpu:0");
    slm_model_close(m);
    slm_runtime_destroy(rt);

    const expect none = NO_FAILURE;
    rt = open_runtime("fault", "[runtime]\nfallback = on\n"
                      "[backend.fault]\nlose_at = 3\n", NULL);
    drive(rt, &none);
    slm_runtime_destroy(rt);
}

/* The KV cache was on the lost device: the session says its context is
** gone and starts empty; evaluated again, the tokens give the same logits.
** Fallback cannot save that state, so it fails the same way. */
static void test_device_lost_with_cache(void **state)
{
    (void)state;
    const expect e = { 4, SLM_ERR_DEVICE_LOST, "the KV cache was kept on a device "
                       "that was lost: the session's", true };
    for (int fallback = 0; fallback < 2; fallback++) {
        char ini[128];
        snprintf(ini, sizeof ini, "[runtime]\nfallback = %s\n"
                 "[backend.fault_remote]\nlose_at = 5\n", fallback ? "on" : "off");
        slm_runtime_t *rt = open_runtime("fault_remote", ini, NULL);
        drive(rt, &e);
        slm_runtime_destroy(rt);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean_run_matches),
        cmocka_unit_test(test_compute_fails_once),
        cmocka_unit_test(test_failed_batch_rolls_back),
        cmocka_unit_test(test_generate_after_failure),
        cmocka_unit_test(test_compute_fails_with_fallback),
        cmocka_unit_test(test_alloc_fails),
        cmocka_unit_test(test_device_lost),
        cmocka_unit_test(test_device_lost_with_cache),
    };
    return cmocka_run_group_tests(tests, make_reference, free_reference);
}
