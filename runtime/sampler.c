/*
** sampler.c -- repetition penalty, greedy, top-k, top-p, min-p, temperature.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime_internal.h"
#include "sampler.h"

typedef struct candidate {
    int32_t id;
    float logit;
    float p;
} candidate_t;

struct slm__sampler {
    slm_sampling_t p;
    uint32_t n_vocab;
    uint64_t rng;
    candidate_t *cand;        /* (n_vocab) scratch */
    float *logits;            /* (n_vocab) penalised copy */
    int32_t *history;         /* ring of the last repeat_last_n tokens */
    uint32_t n_history, history_pos;
};

/* splitmix64: small, fast, and every seed (0 included) gives a good stream. */
static uint64_t next_u64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1) with 53 random bits. */
static double next_unit(uint64_t *state)
{
    return (double)(next_u64(state) >> 11) * (1.0 / 9007199254740992.0);
}

slm_status_t slm__sampler_create(const slm_sampling_t *p, uint32_t n_vocab,
                                 slm__sampler_t **out)
{
    static const slm_sampling_t defaults = SLM_SAMPLING_INIT;
    *out = NULL;
    slm_sampling_t params = defaults;
    if (p) {
        if (p->struct_size == 0 || p->struct_size > sizeof params)
            return slm__error(SLM_ERR_INVALID_ARG, "sampling: struct_size %u is not one this library knows",
                              p->struct_size);
        memcpy(&params, p, p->struct_size);
        params.struct_size = sizeof params;
    }
    if (n_vocab == 0)
        return slm__error(SLM_ERR_INVALID_ARG, "sampling: empty vocabulary");
    if (!(params.temperature == params.temperature))
        return slm__error(SLM_ERR_INVALID_ARG, "sampling: temperature is NaN");
    if (!(params.top_p >= 0.0f))
        return slm__error(SLM_ERR_INVALID_ARG, "sampling: top_p %g must be >= 0", params.top_p);
    if (!(params.min_p <= 1.0f))
        return slm__error(SLM_ERR_INVALID_ARG, "sampling: min_p %g must be <= 1", params.min_p);
    if (!(params.repeat_penalty > 0.0f))
        return slm__error(SLM_ERR_INVALID_ARG, "sampling: repeat_penalty %g must be > 0",
                          params.repeat_penalty);
    if (params.repeat_last_n < 0)
        return slm__error(SLM_ERR_INVALID_ARG, "sampling: repeat_last_n %d must be >= 0",
                          params.repeat_last_n);

    slm__sampler_t *s = calloc(1, sizeof *s);
    if (!s)
        return slm__error(SLM_ERR_NO_MEMORY, "sampling: out of memory");
    s->p = params;
    s->n_vocab = n_vocab;
    s->cand = malloc(n_vocab * sizeof *s->cand);
    s->logits = malloc(n_vocab * sizeof *s->logits);
    s->history = malloc(((size_t)params.repeat_last_n + 1) * sizeof *s->history);
    if (!s->cand || !s->logits || !s->history) {
        slm__sampler_destroy(s);
        return slm__error(SLM_ERR_NO_MEMORY, "sampling: out of memory");
    }
    slm__sampler_reset(s);
    *out = s;
    return SLM_OK;
}

void slm__sampler_destroy(slm__sampler_t *s)
{
    if (!s)
        return;
    free(s->cand);
    free(s->logits);
    free(s->history);
    free(s);
}

void slm__sampler_reset(slm__sampler_t *s)
{
    s->rng = s->p.seed;
    s->n_history = 0;
    s->history_pos = 0;
}

void slm__sampler_accept(slm__sampler_t *s, int32_t token)
{
    uint32_t cap = (uint32_t)s->p.repeat_last_n;
    if (cap == 0)
        return;
    s->history[s->history_pos] = token;
    s->history_pos = (s->history_pos + 1) % cap;
    if (s->n_history < cap)
        s->n_history++;
}

/* Each distinct recent token is penalised once, however often it recurs. */
static void apply_penalty(slm__sampler_t *s)
{
    float pen = s->p.repeat_penalty;
    if (pen == 1.0f)
        return;
    for (uint32_t i = 0; i < s->n_history; i++) {
        int32_t t = s->history[i];
        if (t < 0 || (uint32_t)t >= s->n_vocab)
            continue;
        bool seen = false;
        for (uint32_t j = 0; j < i && !seen; j++)
            seen = s->history[j] == t;
        if (seen)
            continue;
        float *l = &s->logits[t];
        *l = *l > 0.0f ? *l / pen : *l * pen;
    }
}

static int32_t argmax(const float *v, uint32_t n)
{
    uint32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return (int32_t)best;
}

/* Descending logit, then ascending id, so that the order is total and the
** result never depends on the sort algorithm. */
static int by_logit_desc(const void *a, const void *b)
{
    const candidate_t *x = a, *y = b;
    if (x->logit != y->logit)
        return x->logit < y->logit ? 1 : -1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Softmax of cand[0..n-1].logit / temp into .p (cand sorted, best first). */
static void softmax(candidate_t *cand, uint32_t n, float temp)
{
    double max = cand[0].logit, sum = 0.0;
    for (uint32_t i = 0; i < n; i++) {
        double e = exp(((double)cand[i].logit - max) / temp);
        cand[i].p = (float)e;
        sum += e;
    }
    for (uint32_t i = 0; i < n; i++)
        cand[i].p = (float)(cand[i].p / sum);
}

int32_t slm__sampler_sample(slm__sampler_t *s, const float *logits)
{
    uint32_t n = s->n_vocab;
    memcpy(s->logits, logits, n * sizeof *logits);
    apply_penalty(s);
    if (s->p.temperature <= 0.0f)
        return argmax(s->logits, n);

    candidate_t *c = s->cand;
    for (uint32_t i = 0; i < n; i++)
        c[i] = (candidate_t){ (int32_t)i, s->logits[i], 0.0f };
    qsort(c, n, sizeof *c, by_logit_desc);
    if (s->p.top_k > 0 && (uint32_t)s->p.top_k < n)
        n = (uint32_t)s->p.top_k;

    /* top-p and min-p look at the distribution before temperature. */
    softmax(c, n, 1.0f);
    if (s->p.top_p < 1.0f) {
        double mass = 0.0;
        uint32_t keep = n;
        for (uint32_t i = 0; i < n; i++) {
            mass += c[i].p;
            if (mass >= s->p.top_p) {
                keep = i + 1;
                break;
            }
        }
        n = keep;
    }
    if (s->p.min_p > 0.0f) {
        float floor_p = s->p.min_p * c[0].p;
        uint32_t keep = 1;
        while (keep < n && c[keep].p >= floor_p)
            keep++;
        n = keep;
    }

    softmax(c, n, s->p.temperature);
    double r = next_unit(&s->rng), acc = 0.0;
    for (uint32_t i = 0; i < n; i++) {
        acc += c[i].p;
        if (r < acc)
            return c[i].id;
    }
    return c[n - 1].id; /* rounding left r just above the total */
}
