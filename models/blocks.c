/*
** blocks.c -- the pieces of transformer graphs that architectures share.
*/
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "blocks.h"

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

slm_tensor_t *slm__rope(slm__build_t *b, slm_tensor_t *x)
{
    const slm__hparams_t *hp = slm__model_hparams(b->model);
    slm_op_params_t p = {
        .i = { (int32_t)hp->n_rot, hp->rope_mode, (int32_t)hp->n_ctx_orig },
        .f = { hp->rope_base, hp->rope_freq_scale, hp->rope_ext_factor,
               hp->rope_attn_factor, hp->rope_beta_fast, hp->rope_beta_slow },
    };
    return slm__op(b, SLM_OP_ROPE, x, b->positions, &p);
}

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

slm_tensor_t *slm__attention(slm__build_t *b, int il, slm_tensor_t *q,
                             slm_tensor_t *k, slm_tensor_t *v, float kq_scale)
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
    /* Queries token-major per head: (hd, T, nh). */
    int64_t q_ne[3] = { hd, T, nh };
    size_t q_nb[3] = { f, (size_t)(hd * nh) * f, (size_t)hd * f };
    slm_tensor_t *queries = slm__view(b, q, 3, q_ne, q_nb, 0);

    slm_tensor_t *kq = slm__op(b, SLM_OP_MUL_MAT, keys, queries, NULL); /* (n_kv, T, nh) */
    slm_op_params_t sp = { .f = { kq_scale } };
    slm_tensor_t *probs = slm__op(b, SLM_OP_SOFTMAX, kq, b->mask, &sp);

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

slm_tensor_t *slm__ffn_swiglu(slm__build_t *b, int il, slm_tensor_t *x)
{
    char gate[64], up[64], down[64];
    slm_tensor_t *g = slm__linear(b, slm__layer_name(gate, sizeof gate, il, "ffn_gate.weight"), x);
    slm_tensor_t *u = slm__linear(b, slm__layer_name(up, sizeof up, il, "ffn_up.weight"), x);
    slm_tensor_t *a = g && u ? slm__op(b, SLM_OP_SWIGLU, g, u, NULL) : NULL;
    return slm__linear(b, slm__layer_name(down, sizeof down, il, "ffn_down.weight"), a);
}

slm_tensor_t *slm__last_token(slm__build_t *b, slm_tensor_t *x)
{
    if (!x)
        return NULL;
    int64_t ne[2] = { x->ne[0], 1 };
    size_t nb[2] = { sizeof(float), x->nb[1] };
    return slm__view(b, x, 2, ne, nb, (size_t)(b->n_tokens - 1) * x->nb[1]);
}

const char *slm__layer_name(char *buf, size_t n, int il, const char *suffix)
{
    snprintf(buf, n, "blk.%d.%s", il, suffix);
    return buf;
}
