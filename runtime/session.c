/*
** session.c -- a context: the KV cache, the forward graphs, evaluation.
**
** The KV cache is host memory owned by the session and bound as a STATE
** tensor into every graph, so the prompt graph and the one-token graph share
** it; a CPU uses it in place, a GPU keeps its own copy for every graph
** (slm_graph_keep_state_on_device), so only the logits cross the bus. Graphs are built per (batch size, attention span) and kept in a small
** cache: the attention span n_kv grows in steps of KV_STEP rows, so decoding
** replans once per KV_STEP tokens rather than at every token, and the mask
** hides the rows past the current position. Models whose layers differ in
** attention span (gemma2: a sliding window on every other layer) get a
** second mask with the window; the others get one, windowed if the model
** slides everywhere.
**
** An eval that fails leaves the session as it was: n_past and the logits
** are those before the call (rows the failed step wrote into the cache lie
** past n_past, hidden by the mask, and are written again by the next eval),
** so the application can try again. The one exception is a cache kept on a
** device that was lost: its contents are gone, and the session starts
** again from an empty context, saying so.
**
** A session is used by one thread at a time; sessions of one model on
** several threads share only the model (read-only) and the runtime, whose
** shared parts lock themselves (runtime_internal.h).
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"
#include "model_internal.h"

#define KV_STEP 64u
#define MAX_GRAPHS 4
#define DEFAULT_CTX 4096u
#define DEFAULT_BATCH 64u

typedef struct forward {
    slm_graph_builder_t *g;       /* NULL: free slot */
    slm__build_t b;
    slm_tensor_t **caches;        /* (2 * n_layer): the b.k_cache, b.v_cache arrays */
    uint64_t last_used;
} forward_t;

struct slm_session {
    slm_model_t *m;
    uint32_t n_ctx, n_batch, n_past;
    size_t k_row, v_row;          /* floats per cache row (one position) */
    float *k_cache;               /* (n_layer, n_ctx, n_head_kv * head_dim) */
    float *v_cache;               /* (n_layer, n_ctx, n_head_kv * head_dim_v) */
    forward_t graphs[MAX_GRAPHS];
    uint64_t clock;
    int32_t *positions;           /* (n_batch) scratch */
    float *mask;                  /* (n_ctx * n_batch) scratch */
    float *mask_swa;              /* the same for the windowed mask; NULL
                                     unless hparams.swa_pattern > 0 */
    float *logits;                /* (n_vocab) */
    bool has_logits;
    uint32_t devices_gen;         /* rt->devices_gen when the graphs were
                                     last checked for lost state */
};

/* ------------------------------------------------------------ lifecycle */

slm_status_t slm_session_create(slm_model_t *m, const slm_session_opts_t *opts,
                                slm_session_t **out)
{
    if (!out)
        return slm__error(SLM_ERR_INVALID_ARG, "slm_session_create: out is NULL");
    *out = NULL;
    if (!m)
        return slm__error(SLM_ERR_INVALID_ARG, "slm_session_create: model is NULL");
    slm_session_opts_t o = SLM_SESSION_OPTS_INIT;
    if (opts) {
        if (opts->struct_size == 0 || opts->struct_size > sizeof o)
            return slm__error(SLM_ERR_INVALID_ARG, "slm_session_create: struct_size %u unknown",
                              opts->struct_size);
        memcpy(&o, opts, opts->struct_size);
    }
    const slm__hparams_t *hp = &m->hp;
    uint32_t n_ctx = o.n_ctx ? o.n_ctx : DEFAULT_CTX;
    if (hp->n_ctx_train && n_ctx > hp->n_ctx_train)
        n_ctx = hp->n_ctx_train;
    uint32_t n_batch = o.n_batch ? o.n_batch : DEFAULT_BATCH;
    if (n_batch > n_ctx)
        n_batch = n_ctx;

    slm_session_t *s = calloc(1, sizeof *s);
    if (!s)
        return slm__error(SLM_ERR_NO_MEMORY, "session: out of memory");
    s->m = m;
    s->n_ctx = n_ctx;
    s->n_batch = n_batch;
    s->k_row = (size_t)hp->n_head_kv * hp->head_dim;
    s->v_row = (size_t)hp->n_head_kv * hp->head_dim_v;
    size_t cells = (size_t)hp->n_layer * n_ctx;
    s->k_cache = calloc(cells, s->k_row * sizeof(float));
    s->v_cache = calloc(cells, s->v_row * sizeof(float));
    s->positions = malloc(n_batch * sizeof *s->positions);
    s->mask = malloc((size_t)n_ctx * n_batch * sizeof *s->mask);
    if (hp->swa_pattern)
        s->mask_swa = malloc((size_t)n_ctx * n_batch * sizeof *s->mask_swa);
    s->logits = malloc(hp->n_vocab * sizeof *s->logits);
    if (!s->k_cache || !s->v_cache || !s->positions || !s->mask || !s->logits ||
        (hp->swa_pattern && !s->mask_swa)) {
        size_t mib = (cells * (s->k_row + s->v_row) * sizeof(float)) >> 20;
        slm_session_destroy(s);
        return slm__error(SLM_ERR_NO_MEMORY, "session: out of memory for a %u-token KV cache (%zu MiB)",
                          n_ctx, mib);
    }
    s->devices_gen = atomic_load(&m->rt->devices_gen);
    pthread_mutex_lock(&m->rt->lock);
    m->n_sessions++;
    pthread_mutex_unlock(&m->rt->lock);
    *out = s;
    return SLM_OK;
}

static void forward_free(forward_t *f)
{
    slm_graph_destroy(f->g);
    free(f->caches);
    memset(f, 0, sizeof *f);
}

void slm_session_destroy(slm_session_t *s)
{
    if (!s)
        return;
    for (int i = 0; i < MAX_GRAPHS; i++)
        forward_free(&s->graphs[i]);
    if (s->k_cache && s->v_cache && s->positions && s->mask && s->logits &&
        (!s->m->hp.swa_pattern || s->mask_swa)) {
        pthread_mutex_lock(&s->m->rt->lock);
        s->m->n_sessions--;
        pthread_mutex_unlock(&s->m->rt->lock);
    }
    free(s->k_cache);
    free(s->v_cache);
    free(s->positions);
    free(s->mask);
    free(s->mask_swa);
    free(s->logits);
    free(s);
}

const slm_model_t *slm__session_model(const slm_session_t *s)
{
    return s->m;
}

uint32_t slm_session_n_ctx(const slm_session_t *s)
{
    return s->n_ctx;
}

uint32_t slm_session_n_past(const slm_session_t *s)
{
    return s->n_past;
}

void slm_session_reset(slm_session_t *s)
{
    s->n_past = 0;
    s->has_logits = false;
}

const float *slm_session_logits(const slm_session_t *s)
{
    return s->has_logits ? s->logits : NULL;
}

/* --------------------------------------------------------------- graphs */

static slm_status_t leaf(slm__build_t *b, slm_dtype_t dt, int64_t ne0, int64_t ne1,
                         uint32_t flags, const char *name, slm_tensor_t **out)
{
    int64_t ne[2] = { ne0, ne1 };
    return slm_graph_tensor(b->g, dt, 2, ne, flags, name, out);
}

static slm_status_t forward_build(slm_session_t *s, forward_t *f, uint32_t n_tokens,
                                  uint32_t n_kv)
{
    const slm__hparams_t *hp = &s->m->hp;
    slm__build_t *b = &f->b;
    memset(b, 0, sizeof *b);
    f->caches = calloc(2 * (size_t)hp->n_layer, sizeof *f->caches);
    if (!f->caches)
        return slm__error(SLM_ERR_NO_MEMORY, "session: out of memory");
    slm_status_t st = slm_graph_create(s->m->rt, &f->g);
    if (st != SLM_OK)
        return st;
    b->g = f->g;
    b->model = s->m;
    b->n_tokens = n_tokens;
    b->n_kv = n_kv;
    b->n_ctx = s->n_ctx;
    b->k_cache = f->caches;
    b->v_cache = f->caches + hp->n_layer;
    if ((st = leaf(b, SLM_DTYPE_I32, n_tokens, 1, SLM_TENSOR_INPUT, "tokens", &b->tokens)) ||
        (st = leaf(b, SLM_DTYPE_I32, n_tokens, 1, SLM_TENSOR_INPUT, "positions", &b->positions)) ||
        (st = leaf(b, SLM_DTYPE_F32, n_kv, n_tokens, SLM_TENSOR_INPUT, "kq_mask", &b->mask)) ||
        (hp->swa_pattern &&
         (st = leaf(b, SLM_DTYPE_F32, n_kv, n_tokens, SLM_TENSOR_INPUT, "kq_mask_swa", &b->mask_swa))))
        return st;
    for (uint32_t il = 0; il < hp->n_layer; il++) {
        char name[32];
        float *k = s->k_cache + (size_t)il * s->n_ctx * s->k_row;
        float *v = s->v_cache + (size_t)il * s->n_ctx * s->v_row;
        snprintf(name, sizeof name, "cache_k.%u", il);
        if ((st = leaf(b, SLM_DTYPE_F32, (int64_t)s->k_row, s->n_ctx, SLM_TENSOR_STATE, name,
                       &b->k_cache[il])) ||
            (st = slm_graph_bind_host(b->g, b->k_cache[il], k, s->n_ctx * s->k_row * sizeof *k)) ||
            (st = slm_graph_keep_state_on_device(b->g, b->k_cache[il])))
            return st;
        snprintf(name, sizeof name, "cache_v.%u", il);
        if ((st = leaf(b, SLM_DTYPE_F32, (int64_t)s->v_row, s->n_ctx, SLM_TENSOR_STATE, name,
                       &b->v_cache[il])) ||
            (st = slm_graph_bind_host(b->g, b->v_cache[il], v, s->n_ctx * s->v_row * sizeof *v)) ||
            (st = slm_graph_keep_state_on_device(b->g, b->v_cache[il])))
            return st;
    }
    if ((st = s->m->arch->build(b)) != SLM_OK)
        return st;
    return slm_graph_set_output(b->g, b->logits);
}

/* The graph for this shape: cached, or built in the least recently used slot. */
static slm_status_t forward_get(slm_session_t *s, uint32_t n_tokens, uint32_t n_kv,
                                forward_t **out)
{
    forward_t *victim = &s->graphs[0];
    for (int i = 0; i < MAX_GRAPHS; i++) {
        forward_t *f = &s->graphs[i];
        if (f->g && f->b.n_tokens == n_tokens && f->b.n_kv == n_kv) {
            f->last_used = ++s->clock;
            *out = f;
            return SLM_OK;
        }
        if (!f->g || (victim->g && f->last_used < victim->last_used))
            victim = f;
    }
    forward_free(victim);
    slm_status_t st = forward_build(s, victim, n_tokens, n_kv);
    if (st != SLM_OK) {
        forward_free(victim);
        return st;
    }
    victim->last_used = ++s->clock;
    *out = victim;
    return SLM_OK;
}

/* ------------------------------------------------------------- evaluate */

/* Token t (at position n_past + t) sees cache rows up to its own position,
** and with a sliding window `swa` (0: none) only the last swa of them. */
static void fill_mask(const slm_session_t *s, float *mask, uint32_t swa,
                      uint32_t n_tokens, uint32_t n_kv)
{
    for (uint32_t t = 0; t < n_tokens; t++) {
        const uint32_t pos = s->n_past + t;
        float *row = mask + (size_t)t * n_kv;
        for (uint32_t j = 0; j < n_kv; j++) {
            bool visible = j <= pos && (swa == 0 || pos - j < swa);
            row[j] = visible ? 0.0f : -INFINITY;
        }
    }
}

/* The graph for the next n tokens, its inputs given. */
static slm_status_t prepare_batch(slm_session_t *s, const int32_t *tokens, uint32_t n,
                                  forward_t **out)
{
    const slm__hparams_t *hp = &s->m->hp;
    uint32_t n_kv = (s->n_past + n + KV_STEP - 1) / KV_STEP * KV_STEP;
    if (n_kv > s->n_ctx)
        n_kv = s->n_ctx;
    forward_t *f;
    slm_status_t st = forward_get(s, n, n_kv, &f);
    if (st != SLM_OK)
        return st;
    for (uint32_t t = 0; t < n; t++)
        s->positions[t] = (int32_t)(s->n_past + t);
    /* With a layer pattern the plain mask is the full causal one. */
    fill_mask(s, s->mask, hp->swa_pattern ? 0 : hp->n_swa, n, n_kv);
    if (hp->swa_pattern)
        fill_mask(s, s->mask_swa, hp->n_swa, n, n_kv);
    slm__build_t *b = &f->b;
    const size_t mask_bytes = (size_t)n * n_kv * sizeof(float);
    if ((st = slm_graph_set_data(f->g, b->tokens, tokens, n * sizeof *tokens)) ||
        (st = slm_graph_set_data(f->g, b->positions, s->positions, n * sizeof(int32_t))) ||
        (st = slm_graph_set_data(f->g, b->mask, s->mask, mask_bytes)) ||
        (b->mask_swa && (st = slm_graph_set_data(f->g, b->mask_swa, s->mask_swa, mask_bytes))))
        return st;
    *out = f;
    return SLM_OK;
}

/* Run the next n tokens; only the last batch of an eval (`last`) reads its
** logits, so that a failure in any batch leaves the previous ones. */
static slm_status_t eval_batch(slm_session_t *s, const int32_t *tokens, uint32_t n,
                               bool last)
{
    forward_t *f;
    slm_status_t st = prepare_batch(s, tokens, n, &f);
    if (st != SLM_OK)
        return st;
    slm__build_t *b = &f->b;
    if ((st = slm_graph_run(f->g)) ||
        (last && (st = slm_graph_read(f->g, b->logits, s->logits,
                                      s->m->hp.n_vocab * sizeof(float)))))
        return st;
    s->n_past += n;
    if (last)
        s->has_logits = true;
    return SLM_OK;
}

/* Whether a graph kept the cache on a device since lost. Checked again
** only when a device was lost since the last look. */
static bool cache_lost(slm_session_t *s)
{
    uint32_t gen = atomic_load(&s->m->rt->devices_gen);
    if (gen == s->devices_gen)
        return false;
    bool lost = false;
    for (int i = 0; i < MAX_GRAPHS && !lost; i++)
        lost = s->graphs[i].g && slm__graph_state_lost(s->graphs[i].g);
    s->devices_gen = gen;
    return lost;
}

/* The cache is gone with its device: start again from an empty context,
** with graphs planned anew on the devices left. */
static slm_status_t forget_lost_cache(slm_session_t *s, slm_status_t st)
{
    for (int i = 0; i < MAX_GRAPHS; i++)
        forward_free(&s->graphs[i]);
    uint32_t n_past = s->n_past;
    s->n_past = 0;
    s->has_logits = false;
    return slm__error(st == SLM_OK ? SLM_ERR_DEVICE_LOST : st, "%s%sthe KV cache "
                      "was kept on a device that was lost: the session's %u "
                      "tokens are forgotten (n_past is 0); evaluate them again",
                      st == SLM_OK ? "" : slm_last_error(), st == SLM_OK ? "" : "; ",
                      n_past);
}

slm_status_t slm_session_eval(slm_session_t *s, const int32_t *tokens, uint32_t n)
{
    if (!s || (!tokens && n))
        return slm__error(SLM_ERR_INVALID_ARG, "slm_session_eval: %s is NULL",
                          s ? "tokens" : "session");
    if (n > s->n_ctx - s->n_past)
        return slm__error(SLM_ERR_CONTEXT_FULL,
                          "context full: %u tokens in a %u-token context, %u more do not fit",
                          s->n_past, s->n_ctx, n);
    const uint32_t n_vocab = s->m->hp.n_vocab;
    for (uint32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || (uint32_t)tokens[i] >= n_vocab)
            return slm__error(SLM_ERR_INVALID_ARG, "token %u of %u: id %d is outside the vocabulary (0..%u)",
                              i, n, tokens[i], n_vocab - 1);
    if (cache_lost(s)) {
        /* An empty context loses nothing: plan again and go on. */
        const bool had_tokens = s->n_past > 0;
        slm_status_t st = forget_lost_cache(s, SLM_OK);
        if (had_tokens)
            return st;
    }
    const uint32_t n_past = s->n_past;
    for (uint32_t done = 0; done < n;) {
        uint32_t chunk = n - done < s->n_batch ? n - done : s->n_batch;
        slm_status_t st = eval_batch(s, tokens + done, chunk, done + chunk == n);
        if (st != SLM_OK) {
            s->n_past = n_past;
            return cache_lost(s) ? forget_lost_cache(s, st) : st;
        }
        done += chunk;
    }
    return SLM_OK;
}

/* ------------------------------------------------------------ placement */

/* Count nodes per (device, op), devices in rank order, into out. */
static slm_status_t count_placement(const slm_runtime_t *rt, const slm_graph_builder_t *g,
                                    const uint32_t *node_dev, slm_placement_t *out,
                                    uint32_t cap, uint32_t *n_out)
{
    uint32_t n_nodes = slm_graph_node_count(g), n = 0;
    for (uint32_t d = 0; d < rt->n_devices; d++)
        for (int op = 0; op < SLM_OP_COUNT; op++) {
            uint32_t count = 0;
            for (uint32_t i = 0; i < n_nodes; i++)
                count += node_dev[i] == d && g->nodes[i].op == (slm_op_t)op;
            if (!count)
                continue;
            if (n < cap)
                out[n] = (slm_placement_t){ rt->devices[d]->id, (slm_op_t)op, count };
            n++;
        }
    *n_out = n;
    if (n > cap)
        return slm__error(SLM_ERR_INVALID_ARG, "slm_model_placement: %u entries needed, cap is %u",
                          n, cap);
    return SLM_OK;
}

slm_status_t slm_model_placement_batch(slm_model_t *m, uint32_t n_tokens,
                                       slm_placement_t *out, uint32_t cap,
                                       uint32_t *n_out)
{
    if (!m || !n_out || (!out && cap))
        return slm__error(SLM_ERR_INVALID_ARG, "slm_model_placement: %s is NULL",
                          !m ? "model" : !n_out ? "n_out" : "out");
    *n_out = 0;
    if (n_tokens == 0)
        return slm__error(SLM_ERR_INVALID_ARG, "slm_model_placement_batch: n_tokens is 0");
    /* A forward pass of n_tokens over an empty cache just large enough:
    ** the graph's ops and dtypes are those of every such pass, only the
    ** attention span differs. */
    uint32_t n_ctx = (n_tokens + KV_STEP - 1) / KV_STEP * KV_STEP;
    const uint32_t train = m->hp.n_ctx_train;
    if (train && n_tokens > train)
        return slm__error(SLM_ERR_INVALID_ARG, "slm_model_placement_batch: %u tokens do "
                          "not fit the model's %u-token context", n_tokens, train);
    slm_session_opts_t o = SLM_SESSION_OPTS_INIT;
    o.n_ctx = n_ctx;
    o.n_batch = n_tokens;
    slm_session_t *s = NULL;
    slm_status_t st = slm_session_create(m, &o, &s);
    if (st != SLM_OK)
        return st;
    int32_t *tokens = calloc(n_tokens, sizeof *tokens); /* token 0, n times */
    forward_t *f = NULL;
    uint32_t *node_dev = NULL;
    st = tokens ? prepare_batch(s, tokens, n_tokens, &f)
                : slm__error(SLM_ERR_NO_MEMORY, "slm_model_placement: out of memory");
    if (st == SLM_OK) {
        uint32_t n_nodes = slm_graph_node_count(f->g);
        node_dev = malloc((n_nodes ? n_nodes : 1) * sizeof *node_dev);
        st = node_dev ? slm__graph_place_only(f->g, node_dev)
                      : slm__error(SLM_ERR_NO_MEMORY, "slm_model_placement: out of memory");
    }
    if (st == SLM_OK)
        st = count_placement(m->rt, f->g, node_dev, out, cap, n_out);
    free(node_dev);
    free(tokens);
    slm_session_destroy(s);
    return st;
}

slm_status_t slm_model_placement(slm_model_t *m, slm_placement_t *out, uint32_t cap,
                                 uint32_t *n_out)
{
    return slm_model_placement_batch(m, 1, out, cap, n_out);
}
