/*
** sampler.h -- choosing the next token from logits (slm_sampling_t).
*/
#ifndef SLM_SAMPLER_H
#define SLM_SAMPLER_H

#include <stdint.h>

#include "slm/slm.h"

typedef struct slm__sampler slm__sampler_t;

/* A sampler over a vocabulary of n_vocab tokens with parameters `p` (copied;
** NULL: SLM_SAMPLING_INIT). Caller owns *out; release with
** slm__sampler_destroy. Errors: SLM_ERR_INVALID_ARG naming the parameter. */
slm_status_t slm__sampler_create(const slm_sampling_t *p, uint32_t n_vocab,
                                 slm__sampler_t **out);

/* NULL is a no-op. */
void slm__sampler_destroy(slm__sampler_t *s);

/* Choose a token from `logits` (n_vocab values, not modified). */
int32_t slm__sampler_sample(slm__sampler_t *s, const float *logits);

/* Record a token of the context (prompt or generated) for the repetition
** penalty. */
void slm__sampler_accept(slm__sampler_t *s, int32_t token);

/* Forget the recorded context and restart the generator from the seed. */
void slm__sampler_reset(slm__sampler_t *s);

#endif /* SLM_SAMPLER_H */
