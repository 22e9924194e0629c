/*
** phi3.c -- architecture "phi3": Phi-3 and Phi-3.5 mini/medium, Phi-4.
**
** The llama layout with three differences: q, k and v come from one fused
** attn_qkv projection, gate and up from one fused ffn_up (gate rows first),
** and RoPE rotates the two halves of each head (NEOX) with, in the long-
** context files, per-frequency divisors: rope_factors_long when the session's
** context exceeds the original training context, rope_factors_short
** otherwise. The sliding window (phi3.attention.sliding_window) applies to
** every layer.
*/
#include "blocks.h"

static slm_status_t phi3_load(struct slm_model *m, slm__hparams_t *hp)
{
    slm_status_t st;
    if ((st = slm__load_hparams(m, hp)) || (st = slm__check_embeddings(m, hp)))
        return st;
    hp->rope_mode = SLM_ROPE_NEOX;
    /* One divisor per rotated pair, shared by every layer. */
    int64_t half[1] = { hp->n_rot / 2 };
    if ((st = slm__check_tensor(m, "rope_factors_long.weight", 1, half, false, NULL)) ||
        (st = slm__check_tensor(m, "rope_factors_short.weight", 1, half, false, NULL)))
        return st;
    const slm__ffn_kind_t ffn = hp->n_expert ? SLM__FFN_MOE : SLM__FFN_FUSED;
    for (uint32_t il = 0; il < hp->n_layer; il++)
        if ((st = slm__check_attention(m, hp, (int)il, true)) ||
            (st = slm__check_ffn(m, hp, (int)il, ffn)))
            return st;
    return SLM_OK;
}

static slm_status_t phi3_build(slm__build_t *b)
{
    const slm__hparams_t *hp = slm__model_hparams(b->model);
    const char *factors_name = b->n_ctx > hp->n_ctx_orig ? "rope_factors_long.weight"
                                                         : "rope_factors_short.weight";
    slm_tensor_t *factors = NULL;
    if (slm__has_tensor(b->model, factors_name) && !(factors = slm__weight(b, factors_name)))
        return SLM_ERR_GRAPH;

    slm_tensor_t *x = slm__embed(b);
    for (int il = 0; il < (int)hp->n_layer && x; il++) {
        slm_tensor_t *h = slm__layer_norm(b, il, x, "attn_norm.weight");
        slm_tensor_t *a = slm__self_attention(b, il, h, factors);
        x = a ? slm__op(b, SLM_OP_ADD, x, a, NULL) : NULL;

        h = slm__layer_norm(b, il, x, "ffn_norm.weight");
        slm_tensor_t *f = hp->n_expert ? slm__ffn_moe(b, il, h)
                                       : slm__ffn_fused(b, il, h, SLM_OP_SWIGLU);
        x = f ? slm__op(b, SLM_OP_ADD, x, f, NULL) : NULL;
    }
    return slm__output(b, x);
}

const slm__arch_t slm__arch_phi3 = {
    .name = "phi3",
    .load = phi3_load,
    .build = phi3_build,
};
