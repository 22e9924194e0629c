/*
** fuzz_model.c -- slm_model_open_memory on arbitrary bytes, and a model
** that opens is run.
**
** Loading must check the hyperparameters and every tensor's shape against
** the architecture before any graph is built; this target holds it to that
** by building and running the forward pass of whatever loads: a session of
** 8 positions evaluates two tokens on the scalar CPU backend and the logits
** are read. Any file the loader accepts must run without a crash (a clean
** error from the run is allowed: a weight may hold NaNs).
*/
#include <string.h>

#include "fuzz.h"

static volatile float sink;

static void run(slm_model_t *m)
{
    const slm_model_info_t *info = slm_model_info(m);
    fz_check(info->n_vocab > 0 && info->n_layer > 0 && info->n_embd > 0, "info");
    int32_t ids[16];
    uint32_t n = 0;
    static const char text[] = "Once upon a time";
    if (slm_tokenize(m, text, sizeof text - 1, true, ids, 16, &n) != SLM_OK || n == 0) {
        ids[0] = 0;
        n = 1;
    }
    for (uint32_t i = 0; i < n; i++)
        fz_check(ids[i] >= 0 && (uint32_t)ids[i] < info->n_vocab, "token %d", ids[i]);
    if (n > 2)
        n = 2;
    slm_session_opts_t so = SLM_SESSION_OPTS_INIT;
    so.n_ctx = 8;
    so.n_batch = 2;
    slm_session_t *s = NULL;
    if (slm_session_create(m, &so, &s) != SLM_OK)
        return;
    if (slm_session_eval(s, ids, n) == SLM_OK) {
        const float *logits = slm_session_logits(s);
        fz_check(logits != NULL, "no logits after eval");
        sink += logits[0] + logits[info->n_vocab - 1];
    }
    slm_session_destroy(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    slm_runtime_t *rt = fz_runtime(true);
    static char not_null;
    slm_model_t *m = (slm_model_t *)(void *)&not_null;
    slm_status_t st = slm_model_open_memory(rt, data, size, "fuzz.gguf", NULL, &m);
    if (st != SLM_OK) {
        fz_check(m == NULL, "failed open left a model");
        fz_check(strstr(slm_last_error(), "fuzz.gguf") != NULL,
                 "message does not name the file: %s", slm_last_error());
        return 0;
    }
    run(m);
    slm_model_close(m);
    return 0;
}
