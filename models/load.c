/*
** load.c -- what the architectures share when a model loads: the
** hyperparameters every transformer family writes under the same keys, and
** the checks of the embedding, attention and feed-forward tensors.
*/
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "blocks.h"
#include "gguf_reader.h"
#include "runtime_internal.h"

/* ------------------------------------------------------- hyperparameters */

/* RoPE scaling: ARCH.rope.scaling.{type,factor,attn_factor,
** original_context_length}. */
static slm_status_t load_rope_scaling(struct slm_model *m, slm__hparams_t *hp)
{
    const char *file = slm_model_info(m)->path;
    float factor = 0.0f;
    slm_status_t st;
    if ((st = slm__hp_f32(m, "rope.scaling.factor", false, &factor)) ||
        (st = slm__hp_f32(m, "rope.scaling.attn_factor", false, &hp->rope_attn_factor)) ||
        (st = slm__hp_u32(m, "rope.scaling.original_context_length", false, &hp->n_ctx_orig)))
        return st;
    /* A file that gives a factor but no type means linear scaling, as
    ** llama.cpp reads it. */
    slm__gguf_str_t type = { "linear", 6 };
    char key[96];
    snprintf(key, sizeof key, "%s.rope.scaling.type", slm__model_arch_name(m));
    if ((st = slm__gguf_get_str(slm__model_gguf(m), key, &type)) && st != SLM_ERR_NOT_FOUND)
        return st;
    if (slm__gguf_str_eq(type, "linear")) {
        if (factor > 0.0f)
            hp->rope_freq_scale = 1.0f / factor;
    } else if (!slm__gguf_str_eq(type, "none")) {
        return slm__error(SLM_ERR_UNSUPPORTED, "%s: %s = '%.*s': only 'none' and 'linear' are supported",
                          file, key, (int)type.len, type.ptr);
    }
    if (!(hp->rope_attn_factor > 0.0f) || !(hp->rope_freq_scale > 0.0f) || !isfinite(hp->rope_freq_scale))
        return slm__error(SLM_ERR_FORMAT, "%s: %s.rope.scaling.factor / attn_factor must be positive",
                          file, slm__model_arch_name(m));
    return SLM_OK;
}

slm_status_t slm__load_hparams(struct slm_model *m, slm__hparams_t *hp)
{
    const char *file = slm_model_info(m)->path, *arch = slm__model_arch_name(m);
    slm_status_t st;
    if ((st = slm__hp_u32(m, "embedding_length", true, &hp->n_embd)) ||
        (st = slm__hp_u32(m, "block_count", true, &hp->n_layer)) ||
        (st = slm__hp_u32(m, "feed_forward_length", true, &hp->n_ff)) ||
        (st = slm__hp_u32(m, "attention.head_count", true, &hp->n_head)))
        return st;
    hp->n_ctx_train = 2048;
    hp->n_head_kv = hp->n_head;
    hp->norm_eps = 1e-5f;
    hp->rope_base = 10000.0f;
    if ((st = slm__hp_u32(m, "context_length", false, &hp->n_ctx_train)) ||
        (st = slm__hp_u32(m, "attention.head_count_kv", false, &hp->n_head_kv)) ||
        (st = slm__hp_f32(m, "attention.layer_norm_rms_epsilon", false, &hp->norm_eps)) ||
        (st = slm__hp_f32(m, "rope.freq_base", false, &hp->rope_base)) ||
        (st = slm__hp_u32(m, "attention.sliding_window", false, &hp->n_swa)) ||
        (st = slm__hp_u32(m, "expert_count", false, &hp->n_expert)) ||
        (st = slm__hp_u32(m, "expert_used_count", false, &hp->n_expert_used)))
        return st;
    if (hp->n_embd == 0 || hp->n_layer == 0 || hp->n_ff == 0)
        return slm__error(SLM_ERR_FORMAT, "%s: %s.embedding_length %u, block_count %u, feed_forward_length %u: "
                          "each must be at least 1", file, arch, hp->n_embd, hp->n_layer, hp->n_ff);
    if (hp->n_head == 0 || hp->n_head_kv == 0)
        return slm__error(SLM_ERR_FORMAT, "%s: %s.attention.head_count %u, head_count_kv %u: each must be at least 1",
                          file, arch, hp->n_head, hp->n_head_kv);
    if (hp->n_head % hp->n_head_kv)
        return slm__error(SLM_ERR_FORMAT, "%s: %s.attention.head_count %u is not a multiple of head_count_kv %u",
                          file, arch, hp->n_head, hp->n_head_kv);
    /* Without key_length the heads split the embedding: they must do so
    ** evenly, or the head size would be silently rounded down. */
    char key[96];
    snprintf(key, sizeof key, "%s.attention.key_length", arch);
    if (!slm__gguf_find(slm__model_gguf(m), key) && hp->n_embd % hp->n_head)
        return slm__error(SLM_ERR_FORMAT, "%s: %s.embedding_length %u is not a multiple of %s.attention.head_count %u",
                          file, arch, hp->n_embd, arch, hp->n_head);
    hp->head_dim = hp->n_embd / hp->n_head;
    if ((st = slm__hp_u32(m, "attention.key_length", false, &hp->head_dim)))
        return st;
    hp->head_dim_v = hp->head_dim;
    if ((st = slm__hp_u32(m, "attention.value_length", false, &hp->head_dim_v)))
        return st;
    if (hp->head_dim == 0 || hp->head_dim_v == 0)
        return slm__error(SLM_ERR_FORMAT, "%s: %s.attention.key_length %u, value_length %u: the head size must be at least 1",
                          file, arch, hp->head_dim, hp->head_dim_v);
    hp->n_rot = hp->head_dim;
    if ((st = slm__hp_u32(m, "rope.dimension_count", false, &hp->n_rot)))
        return st;
    if (hp->n_rot > hp->head_dim || hp->n_rot % 2)
        return slm__error(SLM_ERR_FORMAT, "%s: %s.rope.dimension_count %u must be even and at most the head size %u",
                          file, arch, hp->n_rot, hp->head_dim);
    if (hp->n_expert && (hp->n_expert_used == 0 || hp->n_expert_used > hp->n_expert))
        return slm__error(SLM_ERR_FORMAT, "%s: %s.expert_used_count = %u, expected 1 to %s.expert_count (%u)",
                          file, arch, hp->n_expert_used, arch, hp->n_expert);
    if (!hp->n_expert)
        hp->n_expert_used = 0;

    hp->rope_mode = SLM_ROPE_NORMAL;
    hp->rope_freq_scale = 1.0f;
    hp->rope_attn_factor = 1.0f;
    hp->n_ctx_orig = hp->n_ctx_train;
    if ((st = load_rope_scaling(m, hp)))
        return st;
    hp->kq_scale = 1.0f / sqrtf((float)hp->head_dim);
    return SLM_OK;
}

/* --------------------------------------------------------------- tensors */

slm_status_t slm__check_embeddings(struct slm_model *m, slm__hparams_t *hp)
{
    const char *file = slm_model_info(m)->path;
    const slm__gguf_tensor_t *emb = slm__gguf_tensor(slm__model_gguf(m), "token_embd.weight");
    if (!emb)
        return slm__error(SLM_ERR_FORMAT, "%s: tensor 'token_embd.weight' is missing (architecture %s)",
                          file, slm__model_arch_name(m));
    if (emb->ne[1] > INT32_MAX)
        return slm__error(SLM_ERR_FORMAT, "%s: tensor 'token_embd.weight': %lld rows is too many",
                          file, (long long)emb->ne[1]);
    hp->n_vocab = (uint32_t)emb->ne[1];
    int64_t embd[2] = { hp->n_embd, hp->n_vocab }, vocab[1] = { hp->n_vocab };
    slm_status_t st;
    if ((st = slm__check_tensor(m, "token_embd.weight", 2, embd, true, NULL)) ||
        (st = slm__check_tensor(m, "output_norm.weight", 1, embd, true, NULL)) ||
        (st = slm__check_tensor(m, "output.weight", 2, embd, false, NULL)) ||
        (st = slm__check_tensor(m, "output.bias", 1, vocab, false, NULL)))
        return st;
    return SLM_OK;
}

slm_status_t slm__check_layer_tensors(struct slm_model *m, int il,
                                      const slm__tensor_spec_t *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char name[64];
        slm_status_t st = slm__check_tensor(m, slm__layer_name(name, sizeof name, il, t[i].suffix),
                                            t[i].n_dims, t[i].ne, true, NULL);
        if (st != SLM_OK)
            return st;
    }
    return SLM_OK;
}

slm_status_t slm__check_attention(struct slm_model *m, const slm__hparams_t *hp,
                                  int il, bool fused)
{
    const int64_t e = hp->n_embd, q = (int64_t)hp->n_head * hp->head_dim;
    const int64_t kv = (int64_t)hp->n_head_kv * hp->head_dim;
    const int64_t vv = (int64_t)hp->n_head_kv * hp->head_dim_v;
    const int64_t o = (int64_t)hp->n_head * hp->head_dim_v;
    char qkv[64], sep[64];
    bool has_qkv = slm__has_tensor(m, slm__layer_name(qkv, sizeof qkv, il, "attn_qkv.weight"));
    bool has_sep = slm__has_tensor(m, slm__layer_name(sep, sizeof sep, il, "attn_q.weight"));
    const slm__tensor_spec_t common[] = {
        { "attn_norm.weight", 1, { e } },
        { "attn_output.weight", 2, { o, e } },
    };
    const slm__tensor_spec_t one[] = {
        { "attn_qkv.weight", 2, { e, q + kv + vv } },
    };
    const slm__tensor_spec_t three[] = {
        { "attn_q.weight", 2, { e, q } },
        { "attn_k.weight", 2, { e, kv } },
        { "attn_v.weight", 2, { e, vv } },
    };
    slm_status_t st = slm__check_layer_tensors(m, il, common, 2);
    if (st != SLM_OK)
        return st;
    /* Whichever the file has; if neither, the missing one named is the
    ** layout the architecture usually comes in. */
    if (has_qkv || (fused && !has_sep))
        return slm__check_layer_tensors(m, il, one, 1);
    return slm__check_layer_tensors(m, il, three, 3);
}

slm_status_t slm__check_ffn(struct slm_model *m, const slm__hparams_t *hp,
                            int il, slm__ffn_kind_t kind)
{
    const int64_t e = hp->n_embd, ff = hp->n_ff, x = hp->n_expert;
    const slm__tensor_spec_t gated[] = {
        { "ffn_norm.weight", 1, { e } },
        { "ffn_gate.weight", 2, { e, ff } },
        { "ffn_up.weight", 2, { e, ff } },
        { "ffn_down.weight", 2, { ff, e } },
    };
    const slm__tensor_spec_t fused[] = {
        { "ffn_norm.weight", 1, { e } },
        { "ffn_up.weight", 2, { e, 2 * ff } },
        { "ffn_down.weight", 2, { ff, e } },
    };
    const slm__tensor_spec_t moe[] = {
        { "ffn_norm.weight", 1, { e } },
        { "ffn_gate_inp.weight", 2, { e, x } },
        { "ffn_gate_exps.weight", 3, { e, ff, x } },
        { "ffn_up_exps.weight", 3, { e, ff, x } },
        { "ffn_down_exps.weight", 3, { ff, e, x } },
    };
    switch (kind) {
    case SLM__FFN_GATED: return slm__check_layer_tensors(m, il, gated, 4);
    case SLM__FFN_FUSED: return slm__check_layer_tensors(m, il, fused, 3);
    case SLM__FFN_MOE: return slm__check_layer_tensors(m, il, moe, 5);
    }
    return slm__error(SLM_ERR_INTERNAL, "unknown feed-forward layout %d", (int)kind);
}
