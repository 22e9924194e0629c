/*
** llama.c -- architecture "llama": Llama 1/2/3, TinyLlama, Mistral, the
** llama2.c TinyStories checkpoints, and Mixtral-style mixtures of experts
** (llama.expert_count > 0).
**
** Per layer: x += Wo attn(rope(Wq n(x)), rope(Wk n(x)), Wv n(x)) with
** grouped-query attention over the KV cache, then x += ffn(n(x)), where ffn
** is SwiGLU, or for MoE files the router's top experts' SwiGLUs weighted by
** their renormalised probabilities; n = RMS norm with a learned weight. A
** final norm and the output head (or the token embedding, when the file ties
** them) give the logits.
*/
#include "blocks.h"

static slm_status_t llama_load(struct slm_model *m, slm__hparams_t *hp)
{
    slm_status_t st;
    if ((st = slm__load_hparams(m, hp)) || (st = slm__check_embeddings(m, hp)))
        return st;
    const slm__ffn_kind_t ffn = hp->n_expert ? SLM__FFN_MOE : SLM__FFN_GATED;
    for (uint32_t il = 0; il < hp->n_layer; il++)
        if ((st = slm__check_attention(m, hp, (int)il, false)) ||
            (st = slm__check_ffn(m, hp, (int)il, ffn)))
            return st;
    return SLM_OK;
}

static slm_status_t llama_build(slm__build_t *b)
{
    const slm__hparams_t *hp = slm__model_hparams(b->model);
    slm_tensor_t *x = slm__embed(b);
    for (int il = 0; il < (int)hp->n_layer && x; il++) {
        slm_tensor_t *h = slm__layer_norm(b, il, x, "attn_norm.weight");
        slm_tensor_t *a = slm__self_attention(b, il, h, NULL);
        x = a ? slm__op(b, SLM_OP_ADD, x, a, NULL) : NULL;

        h = slm__layer_norm(b, il, x, "ffn_norm.weight");
        slm_tensor_t *f = hp->n_expert ? slm__ffn_moe(b, il, h)
                                       : slm__ffn_gated(b, il, h, SLM_OP_SWIGLU);
        x = f ? slm__op(b, SLM_OP_ADD, x, f, NULL) : NULL;
    }
    return slm__output(b, x);
}

const slm__arch_t slm__arch_llama = {
    .name = "llama",
    .load = llama_load,
    .build = llama_build,
};
