/*
** blocks.c -- the pieces of transformer graphs that architectures share.
*/
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "blocks.h"

/* ------------------------------------------------------------ basics */

slm_tensor_t *slm__op(slm__build_t *b, slm_op_t op, slm_tensor_t *a,
                      slm_tensor_t *c, const slm_op_params_t *p)
{
    if (!a)
        return NULL;
    slm_tensor_t *src[2] = { a, c };
    slm_tensor_t *out = NULL;
    if (slm_graph_op(b->g, op, src, c ? 2 : 1, p, NULL, &out) != SLM_OK)
        return NULL;
    return out;
}

slm_tensor_t *slm__view(slm__build_t *b, slm_tensor_t *src, int n_dims,
                        const int64_t *ne, const size_t *nb, size_t offset)
{
    if (!src)
        return NULL;
    slm_tensor_t *out = NULL;
    if (slm_graph_view(b->g, src, n_dims, ne, nb, offset, NULL, &out) != SLM_OK)
        return NULL;
    return out;
}

slm_tensor_t *slm__reshape(slm__build_t *b, slm_tensor_t *src, int64_t ne0,
                           int64_t ne1, int64_t ne2)
{
    if (!src)
        return NULL;
    int64_t ne[3] = { ne0, ne1, ne2 };
    size_t nb[3] = { 4, 4 * (size_t)ne0, 4 * (size_t)(ne0 * ne1) };
    return slm__view(b, src, 3, ne, nb, 0);
}

/* Columns [first, first + width) of the F32 matrix x (W, T), as a view. */
static slm_tensor_t *columns(slm__build_t *b, slm_tensor_t *x, int64_t first,
                             int64_t width)
{
    if (!x)
        return NULL;
    int64_t ne[2] = { width, x->ne[1] };
    size_t nb[2] = { sizeof(float), x->nb[1] };
    return slm__view(b, x, 2, ne, nb, (size_t)first * sizeof(float));
}

slm_tensor_t *slm__scale(slm__build_t *b, slm_tensor_t *x, float s)
{
    slm_op_params_t p = { .f = { s } };
    return slm__op(b, SLM_OP_SCALE, x, NULL, &p);
}

slm_tensor_t *slm__linear(slm__build_t *b, const char *name, slm_tensor_t *x)
{
    if (!x)
        return NULL;
    return slm__op(b, SLM_OP_MUL_MAT, slm__weight(b, name), x, NULL);
}

slm_tensor_t *slm__rms_norm(slm__build_t *b, slm_tensor_t *x, const char *name)
{
    const slm__hparams_t *hp = slm__model_hparams(b->model);
    slm_op_params_t p = { .f = { hp->norm_eps } };
    slm_tensor_t *y = slm__op(b, SLM_OP_RMS_NORM, x, NULL, &p);
    if (!name || !y)
        return y;
    return slm__op(b, SLM_OP_MUL, y, slm__weight(b, name), NULL);
}

slm_tensor_t *slm__layer_norm(slm__build_t *b, int il, slm_tensor_t *x,
                              const char *suffix)
{
    char name[64];
    return slm__rms_norm(b, x, slm__layer_name(name, sizeof name, il, suffix));
}

slm_tensor_t *slm__embed(slm__build_t *b)
{
    return slm__op(b, SLM_OP_GET_ROWS, slm__weight(b, "token_embd.weight"), b->tokens, NULL);
}

slm_tensor_t *slm__rope(slm__build_t *b, slm_tensor_t *x, slm_tensor_t *factors)
{
    const slm__hparams_t *hp = slm__model_hparams(b->model);
    if (!x)
        return NULL;
    slm_op_params_t p = {
        .i = { (int32_t)hp->n_rot, hp->rope_mode, (int32_t)hp->n_ctx_orig },
        .f = { hp->rope_base, hp->rope_freq_scale, hp->rope_ext_factor,
               hp->rope_attn_factor, hp->rope_beta_fast, hp->rope_beta_slow },
    };
    slm_tensor_t *src[3] = { x, b->positions, factors };
    slm_tensor_t *out = NULL;
    if (slm_graph_op(b->g, SLM_OP_ROPE, src, factors ? 3 : 2, &p, NULL, &out) != SLM_OK)
        return NULL;
    return out;
}

/* ------------------------------------------------------------ attention */

/* Write `rows` (width, T) into cache rows b->positions. */
static slm_tensor_t *cache_write(slm__build_t *b, slm_tensor_t *cache,
                                 slm_tensor_t *rows)
{
    if (!rows)
        return NULL;
    slm_tensor_t *src[2] = { rows, b->positions };
    slm_tensor_t *out = NULL;
    if (slm_graph_op(b->g, SLM_OP_SET_ROWS, src, 2, NULL, cache, &out) != SLM_OK)
        return NULL;
    return out;
}

/* Whether layer il attends through the sliding window mask. */
static bool layer_slides(const slm__hparams_t *hp, int il)
{
    return hp->swa_pattern && (uint32_t)il % hp->swa_pattern < hp->swa_pattern - 1;
}

slm_tensor_t *slm__attention(slm__build_t *b, int il, slm_tensor_t *q,
                             slm_tensor_t *k, slm_tensor_t *v)
{
    const slm__hparams_t *hp = slm__model_hparams(b->model);
    const int64_t hd = hp->head_dim, hdv = hp->head_dim_v;
    const int64_t nh = hp->n_head, nkv = hp->n_head_kv;
    const int64_t T = b->n_tokens, n_kv = b->n_kv;
    const size_t f = sizeof(float);
    const size_t k_row = (size_t)(hd * nkv) * f, v_row = (size_t)(hdv * nkv) * f;

    if (!q || !cache_write(b, b->k_cache[il], slm__reshape(b, k, hd * nkv, T, 1)) ||
        !cache_write(b, b->v_cache[il], v))
        return NULL;

    /* Keys of the first n_kv positions, head by head: (hd, n_kv, nkv). */
    int64_t k_ne[3] = { hd, n_kv, nkv };
    size_t k_nb[3] = { f, k_row, (size_t)hd * f };
    slm_tensor_t *keys = slm__view(b, b->k_cache[il], 3, k_ne, k_nb, 0);
    /* Queries token-major per head: (hd, T, nh), whatever q's strides. */
    int64_t q_ne[3] = { hd, T, nh };
    size_t q_nb[3] = { q->nb[0], q->nb[2], q->nb[1] };
    slm_tensor_t *queries = slm__view(b, q, 3, q_ne, q_nb, 0);

    slm_tensor_t *kq = slm__op(b, SLM_OP_MUL_MAT, keys, queries, NULL); /* (n_kv, T, nh) */
    slm_op_params_t sp = { .f = { hp->kq_scale, hp->attn_softcap } };
    slm_tensor_t *mask = layer_slides(hp, il) ? b->mask_swa : b->mask;
    slm_tensor_t *probs = slm__op(b, SLM_OP_SOFTMAX, kq, mask, &sp);

    /* Values transposed, positions innermost: (n_kv, hdv, nkv). */
    int64_t v_ne[3] = { n_kv, hdv, nkv };
    size_t v_nb[3] = { v_row, f, (size_t)hdv * f };
    slm_tensor_t *values_t = slm__view(b, b->v_cache[il], 3, v_ne, v_nb, 0);
    slm_tensor_t *out = slm__op(b, SLM_OP_MUL_MAT, values_t, probs, NULL); /* (hdv, T, nh) */

    /* Back to head-major per token, made dense: (hdv * nh, T). */
    int64_t o_ne[3] = { hdv, nh, T };
    size_t o_nb[3] = { f, (size_t)(hdv * T) * f, (size_t)hdv * f };
    slm_tensor_t *merged = slm__op(b, SLM_OP_COPY, slm__view(b, out, 3, o_ne, o_nb, 0), NULL, NULL);
    return slm__reshape(b, merged, hdv * nh, T, 1);
}

slm_tensor_t *slm__self_attention(slm__build_t *b, int il, slm_tensor_t *h,
                                  slm_tensor_t *rope_factors)
{
    const slm__hparams_t *hp = slm__model_hparams(b->model);
    const int64_t hd = hp->head_dim, hdv = hp->head_dim_v, T = b->n_tokens;
    const int64_t nh = hp->n_head, nkv = hp->n_head_kv;
    char name[64];
    slm_tensor_t *q, *k, *v;

    if (slm__has_tensor(b->model, slm__layer_name(name, sizeof name, il, "attn_qkv.weight"))) {
        /* One projection, rows q | k | v: split with views, no copies. */
        slm_tensor_t *qkv = slm__linear(b, name, h);
        if (!qkv)
            return NULL;
        const size_t f = sizeof(float), row = qkv->nb[1];
        int64_t q_ne[3] = { hd, nh, T }, k_ne[3] = { hd, nkv, T };
        size_t nb[3] = { f, (size_t)hd * f, row };
        q = slm__view(b, qkv, 3, q_ne, nb, 0);
        k = slm__view(b, qkv, 3, k_ne, nb, (size_t)(hd * nh) * f);
        v = columns(b, qkv, hd * (nh + nkv), hdv * nkv);
    } else {
        q = slm__linear(b, slm__layer_name(name, sizeof name, il, "attn_q.weight"), h);
        k = slm__linear(b, slm__layer_name(name, sizeof name, il, "attn_k.weight"), h);
        v = slm__linear(b, slm__layer_name(name, sizeof name, il, "attn_v.weight"), h);
        q = slm__reshape(b, q, hd, nh, T);
        k = slm__reshape(b, k, hd, nkv, T);
    }
    q = slm__rope(b, q, rope_factors);
    k = slm__rope(b, k, rope_factors);
    slm_tensor_t *a = k && v ? slm__attention(b, il, q, k, v) : NULL;
    return slm__linear(b, slm__layer_name(name, sizeof name, il, "attn_output.weight"), a);
}

/* --------------------------------------------------------- feed-forward */

slm_tensor_t *slm__ffn_gated(slm__build_t *b, int il, slm_tensor_t *x, slm_op_t glu)
{
    char name[64];
    slm_tensor_t *g = slm__linear(b, slm__layer_name(name, sizeof name, il, "ffn_gate.weight"), x);
    slm_tensor_t *u = slm__linear(b, slm__layer_name(name, sizeof name, il, "ffn_up.weight"), x);
    slm_tensor_t *a = g && u ? slm__op(b, glu, g, u, NULL) : NULL;
    return slm__linear(b, slm__layer_name(name, sizeof name, il, "ffn_down.weight"), a);
}

slm_tensor_t *slm__ffn_fused(slm__build_t *b, int il, slm_tensor_t *x, slm_op_t glu)
{
    const int64_t ff = slm__model_hparams(b->model)->n_ff;
    char name[64];
    slm_tensor_t *gu = slm__linear(b, slm__layer_name(name, sizeof name, il, "ffn_up.weight"), x);
    slm_tensor_t *g = columns(b, gu, 0, ff), *u = columns(b, gu, ff, ff);
    slm_tensor_t *a = g && u ? slm__op(b, glu, g, u, NULL) : NULL;
    return slm__linear(b, slm__layer_name(name, sizeof name, il, "ffn_down.weight"), a);
}

/* W_e x for each token's chosen experts: x (K, 1 or U, T), ids (U, T). */
static slm_tensor_t *experts_linear(slm__build_t *b, int il, const char *suffix,
                                    slm_tensor_t *x, slm_tensor_t *ids)
{
    char name[64];
    slm_tensor_t *w = slm__weight(b, slm__layer_name(name, sizeof name, il, suffix));
    if (!w || !x || !ids)
        return NULL;
    slm_tensor_t *src[3] = { w, x, ids };
    slm_tensor_t *out = NULL;
    if (slm_graph_op(b->g, SLM_OP_MUL_MAT_ID, src, 3, NULL, NULL, &out) != SLM_OK)
        return NULL;
    return out;
}

slm_tensor_t *slm__ffn_moe(slm__build_t *b, int il, slm_tensor_t *x)
{
    const slm__hparams_t *hp = slm__model_hparams(b->model);
    const int64_t E = hp->n_expert, K = hp->n_expert_used;
    const int64_t D = hp->n_embd, T = b->n_tokens;
    char name[64];

    /* Router: a softmax over the experts per token, (E, T). */
    slm_tensor_t *logits = slm__linear(b, slm__layer_name(name, sizeof name, il, "ffn_gate_inp.weight"), x);
    slm_op_params_t one = { .f = { 1.0f } };
    slm_tensor_t *probs = slm__op(b, SLM_OP_SOFTMAX, logits, NULL, &one);
    /* The K most probable experts of each token, (K, T). */
    slm_op_params_t topk = { .i = { (int32_t)K } };
    slm_tensor_t *ids = slm__op(b, SLM_OP_TOP_K, probs, NULL, &topk);

    /* Their probabilities: probs seen as one-element rows (1, E, T), so the
    ** batched GET_ROWS picks row ids[k, t] of token t's own matrix. */
    slm_tensor_t *w = slm__op(b, SLM_OP_GET_ROWS, slm__reshape(b, probs, 1, E, T), ids, NULL);
    /* Mixtral renormalises them over the chosen K to sum to 1. */
    w = slm__reshape(b, w, K, T, 1);
    w = slm__op(b, SLM_OP_DIV, w, slm__op(b, SLM_OP_SUM_ROWS, w, NULL, NULL), NULL);
    w = slm__reshape(b, w, 1, K, T);

    /* Each token's input once, shared by its K experts: (D, 1, T). */
    slm_tensor_t *x3 = slm__reshape(b, x, D, 1, T);
    slm_tensor_t *gate = experts_linear(b, il, "ffn_gate_exps.weight", x3, ids);
    slm_tensor_t *up = experts_linear(b, il, "ffn_up_exps.weight", x3, ids);
    slm_tensor_t *act = gate && up ? slm__op(b, SLM_OP_SWIGLU, gate, up, NULL) : NULL;
    slm_tensor_t *down = experts_linear(b, il, "ffn_down_exps.weight", act, ids); /* (D, K, T) */
    slm_tensor_t *weighted = w ? slm__op(b, SLM_OP_MUL, down, w, NULL) : NULL;
    if (!weighted)
        return NULL;

    /* Sum over the K experts, in order, as views (D, T) of expert k. */
    slm_tensor_t *sum = NULL;
    for (int64_t k = 0; k < K; k++) {
        int64_t ne[2] = { D, T };
        size_t nb[2] = { sizeof(float), weighted->nb[2] };
        slm_tensor_t *part = slm__view(b, weighted, 2, ne, nb, (size_t)k * weighted->nb[1]);
        sum = k == 0 ? part : slm__op(b, SLM_OP_ADD, sum, part, NULL);
        if (!sum)
            return NULL;
    }
    /* With one expert the "sum" is still a strided view: make it dense. */
    return K == 1 ? slm__op(b, SLM_OP_COPY, sum, NULL, NULL) : sum;
}

/* ----------------------------------------------------------------- head */

slm_tensor_t *slm__last_token(slm__build_t *b, slm_tensor_t *x)
{
    if (!x)
        return NULL;
    int64_t ne[2] = { x->ne[0], 1 };
    size_t nb[2] = { sizeof(float), x->nb[1] };
    return slm__view(b, x, 2, ne, nb, (size_t)(b->n_tokens - 1) * x->nb[1]);
}

slm_status_t slm__output(slm__build_t *b, slm_tensor_t *x)
{
    const slm__hparams_t *hp = slm__model_hparams(b->model);
    x = slm__rms_norm(b, slm__last_token(b, x), "output_norm.weight");
    const char *head = slm__has_tensor(b->model, "output.weight") ? "output.weight"
                                                                   : "token_embd.weight";
    slm_tensor_t *y = slm__linear(b, head, x);
    if (y && slm__has_tensor(b->model, "output.bias"))
        y = slm__op(b, SLM_OP_ADD, y, slm__weight(b, "output.bias"), NULL);
    if (hp->final_softcap > 0.0f) {
        /* Gemma 2: c * tanh(y / c) keeps every logit within (-c, c). */
        y = slm__scale(b, y, 1.0f / hp->final_softcap);
        y = slm__op(b, SLM_OP_TANH, y, NULL, NULL);
        y = slm__scale(b, y, hp->final_softcap);
    }
    b->logits = y;
    return y ? SLM_OK : SLM_ERR_GRAPH;
}

const char *slm__layer_name(char *buf, size_t n, int il, const char *suffix)
{
    snprintf(buf, n, "blk.%d.%s", il, suffix);
    return buf;
}
