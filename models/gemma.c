/*
** gemma.c -- architectures "gemma" (Gemma 1) and "gemma2" (Gemma 2).
**
** Gemma is llama-shaped with: token embeddings scaled by sqrt(n_embd), a
** GeGLU feed-forward, NEOX RoPE, a head size given by attention.key_length
** rather than n_embd / n_head, and the output head tied to the embeddings.
** Gemma 2 adds a second RMS norm after attention and after the
** feed-forward (before each residual add), soft-capping of the attention
** logits and of the final logits (c * tanh(x / c)), and a sliding window on
** every other layer (the even ones; the odd ones see the whole context).
*/
#include <math.h>

#include "blocks.h"
#include "runtime_internal.h"

static slm_status_t load(struct slm_model *m, slm__hparams_t *hp, bool v2)
{
    slm_status_t st;
    if ((st = slm__load_hparams(m, hp)) || (st = slm__check_embeddings(m, hp)))
        return st;
    hp->rope_mode = SLM_ROPE_NEOX;
    if (v2) {
        /* Gemma 2's published values stand in for absent keys. */
        hp->n_swa = 4096;
        hp->swa_pattern = 2;
        hp->attn_softcap = 50.0f;
        hp->final_softcap = 30.0f;
        if ((st = slm__hp_u32(m, "attention.sliding_window", false, &hp->n_swa)) ||
            (st = slm__hp_f32(m, "attn_logit_softcapping", false, &hp->attn_softcap)) ||
            (st = slm__hp_f32(m, "final_logit_softcapping", false, &hp->final_softcap)))
            return st;
        if (hp->attn_softcap < 0.0f || hp->final_softcap < 0.0f)
            return slm__error(SLM_ERR_FORMAT, "%s: gemma2 soft-capping values must not be negative",
                              slm_model_info(m)->path);
        /* Queries are scaled by query_pre_attn_scalar^-1/2, which GGUF files
        ** do not carry: it is the head size, except in the 27B model (46
        ** layers), where it is n_embd / n_head. */
        if (hp->n_layer == 46)
            hp->kq_scale = 1.0f / sqrtf((float)(hp->n_embd / hp->n_head));
    }
    for (uint32_t il = 0; il < hp->n_layer; il++) {
        if ((st = slm__check_attention(m, hp, (int)il, false)) ||
            (st = slm__check_ffn(m, hp, (int)il, SLM__FFN_GATED)))
            return st;
        const slm__tensor_spec_t post[] = {
            { "post_attention_norm.weight", 1, { hp->n_embd } },
            { "post_ffw_norm.weight", 1, { hp->n_embd } },
        };
        if (v2 && (st = slm__check_layer_tensors(m, (int)il, post, 2)))
            return st;
    }
    return SLM_OK;
}

static slm_status_t gemma_load(struct slm_model *m, slm__hparams_t *hp)
{
    return load(m, hp, false);
}

static slm_status_t gemma2_load(struct slm_model *m, slm__hparams_t *hp)
{
    return load(m, hp, true);
}

static slm_status_t build(slm__build_t *b, bool v2)
{
    const slm__hparams_t *hp = slm__model_hparams(b->model);
    slm_tensor_t *x = slm__scale(b, slm__embed(b), sqrtf((float)hp->n_embd));
    for (int il = 0; il < (int)hp->n_layer && x; il++) {
        slm_tensor_t *h = slm__layer_norm(b, il, x, "attn_norm.weight");
        slm_tensor_t *a = slm__self_attention(b, il, h, NULL);
        if (v2)
            a = slm__layer_norm(b, il, a, "post_attention_norm.weight");
        x = a ? slm__op(b, SLM_OP_ADD, x, a, NULL) : NULL;

        h = slm__layer_norm(b, il, x, "ffn_norm.weight");
        slm_tensor_t *f = slm__ffn_gated(b, il, h, SLM_OP_GEGLU);
        if (v2)
            f = slm__layer_norm(b, il, f, "post_ffw_norm.weight");
        x = f ? slm__op(b, SLM_OP_ADD, x, f, NULL) : NULL;
    }
    return slm__output(b, x);
}

static slm_status_t gemma_build(slm__build_t *b)
{
    return build(b, false);
}

static slm_status_t gemma2_build(slm__build_t *b)
{
    return build(b, true);
}

const slm__arch_t slm__arch_gemma = {
    .name = "gemma",
    .load = gemma_load,
    .build = gemma_build,
};

const slm__arch_t slm__arch_gemma2 = {
    .name = "gemma2",
    .load = gemma2_load,
    .build = gemma2_build,
};
