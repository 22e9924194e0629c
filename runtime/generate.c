/*
** generate.c -- prompt in, streamed text out.
**
** Text reaches the callback only when it can no longer turn out to be the
** start of a stop string: the tail that could is held back until the next
** token settles it, so a stop string is never shown, even in part.
*/
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"
#include "sampler.h"

typedef struct out_text {
    char *buf;                    /* generated text not yet passed on */
    size_t len, cap;
} out_text_t;

static slm_status_t text_append(out_text_t *o, const char *p, size_t n)
{
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap < o->len + n + 1)
            cap *= 2;
        char *buf = realloc(o->buf, cap);
        if (!buf)
            return slm__error(SLM_ERR_NO_MEMORY, "generate: out of memory");
        o->buf = buf;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, p, n);
    o->len += n;
    o->buf[o->len] = '\0';
    return SLM_OK;
}

/* Where the first complete stop string starts in o, or o->len if none. */
static size_t find_stop(const out_text_t *o, const slm_generate_opts_t *opts)
{
    size_t first = o->len;
    for (uint32_t i = 0; i < opts->n_stop; i++) {
        const char *hit = opts->stop[i] && opts->stop[i][0] ? strstr(o->buf, opts->stop[i]) : NULL;
        if (hit && (size_t)(hit - o->buf) < first)
            first = (size_t)(hit - o->buf);
    }
    return first;
}

/* Bytes at the end of o that are a proper prefix of some stop string. */
static size_t stop_prefix_len(const out_text_t *o, const slm_generate_opts_t *opts)
{
    size_t keep = 0;
    for (uint32_t i = 0; i < opts->n_stop; i++) {
        const char *st = opts->stop[i];
        size_t sl = st ? strlen(st) : 0;
        for (size_t k = sl ? sl - 1 : 0; k > keep; k--)
            if (k <= o->len && !memcmp(o->buf + o->len - k, st, k)) {
                keep = k;
                break;
            }
    }
    return keep;
}

/* Pass on the first n bytes of o. */
static bool emit(out_text_t *o, size_t n, int32_t token, const slm_generate_opts_t *opts)
{
    bool go_on = true;
    if (opts->on_token)
        go_on = opts->on_token(opts->user, token, o->buf ? o->buf : "", n);
    memmove(o->buf, o->buf + n, o->len - n);
    o->len -= n;
    if (o->buf)
        o->buf[o->len] = '\0';
    return go_on;
}

static slm_status_t eval_prompt(slm_session_t *s, const slm_model_t *m, const char *prompt,
                                slm__sampler_t *smp, uint32_t *n_prompt)
{
    unsigned flags = slm__tok_default_flags(m->tok) & ~(unsigned)SLM__ENC_ADD_EOS;
    if (slm_session_n_past(s) > 0)
        flags &= ~(unsigned)SLM__ENC_ADD_BOS;
    int32_t *ids = NULL;
    size_t n = 0;
    slm_status_t st = slm__tok_encode_alloc(m->tok, prompt, prompt ? strlen(prompt) : 0, flags,
                                            &ids, &n);
    if (st == SLM_OK && n == 0 && !slm_session_logits(s))
        st = slm__error(SLM_ERR_INVALID_ARG, "generate: empty prompt and empty session: nothing to continue");
    if (st == SLM_OK && n > UINT32_MAX)
        st = slm__error(SLM_ERR_INVALID_ARG, "generate: prompt too long");
    if (st == SLM_OK)
        st = slm_session_eval(s, ids, (uint32_t)n);
    if (st == SLM_OK)
        for (size_t i = 0; i < n; i++)
            slm__sampler_accept(smp, ids[i]);
    free(ids);
    *n_prompt = (uint32_t)n;
    return st;
}

static void finish_timings(slm_generate_result_t *r, double t0, double t_prompt,
                           double t_first, double t_end)
{
    r->prompt_ms = t_prompt - t0;
    r->first_token_ms = r->n_generated ? t_first - t0 : 0.0;
    r->generate_ms = r->n_generated ? t_end - t_first : 0.0;
    r->prompt_tps = r->prompt_ms > 0 ? r->n_prompt * 1e3 / r->prompt_ms : 0.0;
    r->generate_tps = r->generate_ms > 0 && r->n_generated > 1
                          ? (r->n_generated - 1) * 1e3 / r->generate_ms : 0.0;
}

slm_status_t slm_generate(slm_session_t *s, const char *prompt,
                          const slm_generate_opts_t *opts_in,
                          slm_generate_result_t *result)
{
    if (!s)
        return slm__error(SLM_ERR_INVALID_ARG, "slm_generate: session is NULL");
    slm_generate_opts_t opts = SLM_GENERATE_OPTS_INIT;
    if (opts_in) {
        if (opts_in->struct_size == 0 || opts_in->struct_size > sizeof opts)
            return slm__error(SLM_ERR_INVALID_ARG, "slm_generate: struct_size %u unknown",
                              opts_in->struct_size);
        memcpy(&opts, opts_in, opts_in->struct_size);
    }
    const slm_model_t *m = slm__session_model(s);
    slm_generate_result_t r;
    memset(&r, 0, sizeof r);
    slm__sampler_t *smp = NULL;
    slm__tok_stream_t stream;
    memset(&stream, 0, sizeof stream);
    out_text_t text = { 0 };
    double t0 = slm__now_ms(), t_prompt = t0, t_first = t0;

    slm_status_t st = slm__sampler_create(&opts.sampling, m->hp.n_vocab, &smp);
    if (st == SLM_OK)
        st = slm__tok_stream_init(&stream, m->tok, slm_session_n_past(s) ? SLM__DEC_CONTINUE : 0);
    if (st == SLM_OK)
        st = eval_prompt(s, m, prompt, smp, &r.n_prompt);
    t_prompt = t_first = slm__now_ms();

    r.stop = SLM_STOP_MAX_TOKENS;
    bool stopped = false;
    while (st == SLM_OK && !stopped) {
        if (opts.max_tokens && r.n_generated == opts.max_tokens)
            break;
        int32_t tok = slm__sampler_sample(smp, slm_session_logits(s));
        slm__sampler_accept(smp, tok);
        if (r.n_generated++ == 0)
            t_first = slm__now_ms();
        if (slm__tok_is_eog(m->tok, tok)) {
            r.stop = SLM_STOP_EOS;
            break;
        }
        const char *piece;
        size_t n;
        if ((st = slm__tok_stream_feed(&stream, tok, &piece, &n)) ||
            (st = text_append(&text, piece, n)))
            break;
        size_t cut = find_stop(&text, &opts);
        if (cut < text.len) {
            emit(&text, cut, tok, &opts);
            r.stop = SLM_STOP_STRING;
            stopped = true;
            break;
        }
        if (!emit(&text, text.len - stop_prefix_len(&text, &opts), tok, &opts)) {
            r.stop = SLM_STOP_CALLBACK;
            break;
        }
        if (slm_session_n_past(s) == slm_session_n_ctx(s)) {
            r.stop = SLM_STOP_CONTEXT_FULL;
            break;
        }
        st = slm_session_eval(s, &tok, 1);
    }
    if (st == SLM_OK && !stopped && r.stop != SLM_STOP_CALLBACK) {
        /* Whatever was held back for a stop string that never came. */
        const char *rest;
        size_t n;
        slm__tok_stream_flush(&stream, &rest, &n);
        st = text_append(&text, rest, n);
        if (st == SLM_OK && text.len)
            emit(&text, text.len, -1, &opts);
    }
    finish_timings(&r, t0, t_prompt, t_first, slm__now_ms());
    if (result)
        *result = r;
    free(text.buf);
    slm__tok_stream_free(&stream);
    slm__sampler_destroy(smp);
    return st;
}
