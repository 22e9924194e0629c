/*
** test_threads.c -- sessions of one model generating at once on threads.
**
** One model, THREADS sessions, each on its own thread with its own prompt,
** created and run at the same moment (a barrier) and generating greedily
** twice in a row (the second continues the first's context). Every thread's
** tokens and text must equal what the same prompt gives when the sessions
** run one after the other on one thread. Models: stories260K-f32 and the
** mixture of experts synth-mixtral-s1-q4_0 on the best in-tree CPU
** backend (sessions take turns on the device, the rest runs in parallel),
** and stories260K-q8_0 on the test device fault_remote, whose memory the
** host cannot address: the four sessions share one upload of the weights
** through the runtime's table of device copies, and each KV cache is a
** device copy. Built with ThreadSanitizer (the `tsan` preset) this checks
** the runtime's locking (slm/slm.h, THREADS).
*/
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "slm/slm.h"

#define GGUF SLM_TEST_SOURCE_DIR "/../../shared/models/gguf/"

enum { THREADS = 4, TOKENS = 16, ROUNDS = 2 };

static const char *const prompts[THREADS] = {
    "Once upon a time", "The little dog", "Tom and Lily went", "One day, a bird",
};

/* What one session generated over its rounds. */
typedef struct output {
    int32_t tokens[ROUNDS * TOKENS];
    uint32_t n_tokens;
    char text[4096];
    size_t len;
} output;

static bool collect(void *user, int32_t token, const char *text, size_t len)
{
    output *o = user;
    if (token >= 0 && o->n_tokens < ROUNDS * TOKENS)
        o->tokens[o->n_tokens++] = token;
    if (o->len + len < sizeof o->text) {
        memcpy(o->text + o->len, text, len);
        o->len += len;
        o->text[o->len] = '\0';
    }
    return true;
}

/* One session's work: its own status and message, as the last error is
** per thread. */
typedef struct job {
    slm_model_t *m;
    const char *prompt;
    pthread_barrier_t *start;     /* NULL: run at once */
    output out;
    slm_status_t status;
    char error[512];
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    if (j->start)
        pthread_barrier_wait(j->start);
    slm_session_opts_t so = SLM_SESSION_OPTS_INIT;
    so.n_ctx = 128;
    slm_session_t *s = NULL;
    j->status = slm_session_create(j->m, &so, &s);
    slm_generate_opts_t go = SLM_GENERATE_OPTS_INIT;
    go.max_tokens = TOKENS;
    go.sampling.temperature = 0.0f;
    go.on_token = collect;
    go.user = &j->out;
    for (int r = 0; r < ROUNDS && j->status == SLM_OK; r++)
        j->status = slm_generate(s, r ? " and then" : j->prompt, &go, NULL);
    if (j->status != SLM_OK)
        snprintf(j->error, sizeof j->error, "%s", slm_last_error());
    slm_session_destroy(s);
    return NULL;
}

static void check_job(const job *j, const char *what)
{
    if (j->status != SLM_OK)
        fail_msg("%s, \"%s\": %s", what, j->prompt, j->error);
}

/* The model's outputs one session after another, then all at once. */
static void run_model(slm_runtime_t *rt, const char *file)
{
    slm_model_t *m = NULL;
    if (slm_model_open(rt, file, NULL, &m) != SLM_OK)
        fail_msg("%s", slm_last_error());
    job *alone = calloc(THREADS, sizeof *alone);
    job *together = calloc(THREADS, sizeof *together);
    assert_non_null(alone);
    assert_non_null(together);
    for (int t = 0; t < THREADS; t++) {
        alone[t] = (job){ .m = m, .prompt = prompts[t] };
        run_job(&alone[t]);
        check_job(&alone[t], "one thread");
        assert_true(alone[t].out.n_tokens > 0);
    }

    pthread_barrier_t start;
    assert_int_equal(pthread_barrier_init(&start, NULL, THREADS), 0);
    pthread_t tid[THREADS];
    for (int t = 0; t < THREADS; t++) {
        together[t] = (job){ .m = m, .prompt = prompts[t], .start = &start };
        assert_int_equal(pthread_create(&tid[t], NULL, run_job, &together[t]), 0);
    }
    for (int t = 0; t < THREADS; t++)
        assert_int_equal(pthread_join(tid[t], NULL), 0);
    pthread_barrier_destroy(&start);

    for (int t = 0; t < THREADS; t++) {
        check_job(&together[t], "threads");
        const output *a = &alone[t].out, *b = &together[t].out;
        assert_int_equal(b->n_tokens, a->n_tokens);
        assert_memory_equal(b->tokens, a->tokens, a->n_tokens * sizeof a->tokens[0]);
        assert_string_equal(b->text, a->text);
    }
    free(alone);
    free(together);
    slm_model_close(m);
}

/* A runtime with the reference and `extra` plugins, `backends` forced. */
static slm_runtime_t *runtime_with(const char *const *extra, uint32_t n_extra,
                                   const char *backends)
{
    const char *paths[8] = { SLM_BACKEND_BUILD_DIR "/libslm-backend-cpu.so" };
    for (uint32_t i = 0; i < n_extra; i++)
        paths[1 + i] = extra[i];
    slm_runtime_opts_t o = SLM_RUNTIME_OPTS_INIT;
    o.flags = SLM_RUNTIME_NO_DEFAULT_PLUGINS | SLM_RUNTIME_NO_DEFAULT_CONFIG;
    o.plugin_paths = paths;
    o.n_plugin_paths = 1 + n_extra;
    o.backends = backends;
    o.n_threads = 2;
    slm_runtime_t *rt = NULL;
    if (slm_runtime_create(&o, &rt) != SLM_OK)
        fail_msg("%s", slm_last_error());
    return rt;
}

/* The best in-tree CPU backend this machine runs (a SIMD plugin whose
** instructions the CPU lacks has no device and is passed over). */
static void test_cpu(void **state)
{
    (void)state;
    static const char *const simd[] = {
#if defined(__aarch64__)
        SLM_BACKEND_BUILD_DIR "/libslm-backend-cpu-neon.so",
#else
        SLM_BACKEND_BUILD_DIR "/libslm-backend-cpu-avx2.so",
        SLM_BACKEND_BUILD_DIR "/libslm-backend-cpu-avx512.so",
#endif
    };
    slm_runtime_t *rt = runtime_with(simd, sizeof simd / sizeof simd[0], NULL);
    run_model(rt, GGUF "stories260K-f32.gguf");
    run_model(rt, GGUF "synth-mixtral-s1-q4_0.gguf");
    slm_runtime_destroy(rt);
}

/* A device without host-addressable memory: shared weight uploads. */
static void test_private_memory(void **state)
{
    (void)state;
    static const char *const fault[] = { SLM_TEST_PLUGIN_DIR "/libfault_remote.so" };
    slm_runtime_t *rt = runtime_with(fault, 1, "fault_remote");
    run_model(rt, GGUF "stories260K-q8_0.gguf");
    slm_runtime_destroy(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu),
        cmocka_unit_test(test_private_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
