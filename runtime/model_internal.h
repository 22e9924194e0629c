/*
** model_internal.h -- a loaded model, as the runtime's parts see it.
*/
#ifndef SLM_MODEL_INTERNAL_H
#define SLM_MODEL_INTERNAL_H

#include "arch.h"
#include "gguf_reader.h"
#include "runtime_internal.h"
#include "tokenizer.h"

struct slm_model {
    slm_runtime_t *rt;
    slm__gguf_t *gguf;            /* owned: the mapping the weights live in */
    slm__tokenizer_t *tok;        /* owned */
    const slm__arch_t *arch;
    slm__hparams_t hp;
    slm_model_info_t info;        /* strings point at the fields below */
    char arch_name[64];
    char name[128];
    double load_ms;
    uint32_t n_sessions;          /* open sessions; close refuses while > 0 */
};

/* The model a session runs. */
const slm_model_t *slm__session_model(const slm_session_t *s);

/* Milliseconds on a monotonic clock. */
double slm__now_ms(void);

#endif /* SLM_MODEL_INTERNAL_H */
