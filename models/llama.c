/*
** llama.c -- architecture "llama": Llama 1/2/3, TinyLlama, Mistral, and the
** llama2.c TinyStories checkpoints.
**
** Per layer: x += Wo attn(rope(Wq n(x)), rope(Wk n(x)), Wv n(x)) with
** grouped-query attention over the KV cache, then x += ffn_swiglu(n(x)),
** n = RMS norm with a learned weight. A final norm and the output head (or
** the token embedding, when the file ties them) give the logits.
*/
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "blocks.h"
#include "gguf_reader.h"
#include "runtime_internal.h"

/* Hyperparameters with the defaults llama files rely on when a key is absent. */
static slm_status_t load_hparams(struct slm_model *m, slm__hparams_t *hp)
{
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
    const char *file = slm_model_info(m)->path;
    if (hp->n_head == 0 || hp->n_head_kv == 0 || hp->n_head % hp->n_head_kv)
        return slm__error(SLM_ERR_FORMAT, "%s: llama.attention.head_count %u is not a multiple of head_count_kv %u",
                          file, hp->n_head, hp->n_head_kv);
    hp->head_dim = hp->n_embd / hp->n_head;
    if ((st = slm__hp_u32(m, "attention.key_length", false, &hp->head_dim)))
        return st;
    hp->head_dim_v = hp->head_dim;
    hp->n_rot = hp->head_dim;
    if ((st = slm__hp_u32(m, "attention.value_length", false, &hp->head_dim_v)) ||
        (st = slm__hp_u32(m, "rope.dimension_count", false, &hp->n_rot)))
        return st;
    if (hp->head_dim == 0 || hp->head_dim_v == 0 || hp->n_rot > hp->head_dim || hp->n_rot % 2)
        return slm__error(SLM_ERR_FORMAT, "%s: head size %u / rope dimensions %u do not fit together",
                          file, hp->head_dim, hp->n_rot);
    if (hp->n_expert)
        return slm__error(SLM_ERR_UNSUPPORTED, "%s: llama.expert_count = %u: mixture-of-experts models are not supported yet",
                          file, hp->n_expert);

    hp->rope_mode = SLM_ROPE_NORMAL;
    hp->rope_freq_scale = 1.0f;
    hp->rope_attn_factor = 1.0f;
    float factor = 0.0f;
    if ((st = slm__hp_f32(m, "rope.scaling.factor", false, &factor)))
        return st;
    const slm__gguf_t *g = slm__model_gguf(m);
    slm__gguf_str_t type = { "none", 4 };
    char key[96];
    snprintf(key, sizeof key, "%s.rope.scaling.type", slm_model_info(m)->arch);
    if ((st = slm__gguf_get_str(g, key, &type)) && st != SLM_ERR_NOT_FOUND)
        return st;
    if (slm__gguf_str_eq(type, "linear")) {
        if (factor > 0.0f)
            hp->rope_freq_scale = 1.0f / factor;
    } else if (!slm__gguf_str_eq(type, "none")) {
        return slm__error(SLM_ERR_UNSUPPORTED, "%s: %s = '%.*s': only 'none' and 'linear' are supported",
                          file, key, (int)type.len, type.ptr);
    }
    hp->n_ctx_orig = hp->n_ctx_train;
    return SLM_OK;
}

static slm_status_t check_layer(struct slm_model *m, const slm__hparams_t *hp, int il)
{
    const int64_t e = hp->n_embd, q = (int64_t)hp->n_head * hp->head_dim;
    const int64_t kv = (int64_t)hp->n_head_kv * hp->head_dim;
    const int64_t vv = (int64_t)hp->n_head_kv * hp->head_dim_v;
    const int64_t o = (int64_t)hp->n_head * hp->head_dim_v, ff = hp->n_ff;
    const struct { const char *suffix; int n; int64_t ne[2]; } t[] = {
        { "attn_norm.weight", 1, { e } },
        { "attn_q.weight", 2, { e, q } },
        { "attn_k.weight", 2, { e, kv } },
        { "attn_v.weight", 2, { e, vv } },
        { "attn_output.weight", 2, { o, e } },
        { "ffn_norm.weight", 1, { e } },
        { "ffn_gate.weight", 2, { e, ff } },
        { "ffn_up.weight", 2, { e, ff } },
        { "ffn_down.weight", 2, { ff, e } },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char name[64];
        slm_status_t st = slm__check_tensor(m, slm__layer_name(name, sizeof name, il, t[i].suffix),
                                            t[i].n, t[i].ne, true, NULL);
        if (st != SLM_OK)
            return st;
    }
    return SLM_OK;
}

static slm_status_t llama_load(struct slm_model *m, slm__hparams_t *hp)
{
    slm_status_t st = load_hparams(m, hp);
    if (st != SLM_OK)
        return st;
    const slm__gguf_tensor_t *emb = slm__gguf_tensor(slm__model_gguf(m), "token_embd.weight");
    if (!emb)
        return slm__error(SLM_ERR_FORMAT, "%s: tensor 'token_embd.weight' is missing (architecture llama)",
                          slm_model_info(m)->path);
    if (emb->ne[1] > INT32_MAX)
        return slm__error(SLM_ERR_FORMAT, "%s: tensor 'token_embd.weight': %lld rows is too many",
                          slm_model_info(m)->path, (long long)emb->ne[1]);
    hp->n_vocab = (uint32_t)emb->ne[1];
    int64_t embd[2] = { hp->n_embd, hp->n_vocab };
    if ((st = slm__check_tensor(m, "token_embd.weight", 2, embd, true, NULL)) ||
        (st = slm__check_tensor(m, "output_norm.weight", 1, embd, true, NULL)) ||
        (st = slm__check_tensor(m, "output.weight", 2, embd, false, NULL)))
        return st;
    for (uint32_t il = 0; il < hp->n_layer; il++)
        if ((st = check_layer(m, hp, (int)il)) != SLM_OK)
            return st;
    return SLM_OK;
}

static slm_status_t llama_build(slm__build_t *b)
{
    const slm__hparams_t *hp = slm__model_hparams(b->model);
    const int64_t T = b->n_tokens;
    const float kq_scale = 1.0f / sqrtf((float)hp->head_dim);

    slm_tensor_t *x = slm__op(b, SLM_OP_GET_ROWS, slm__weight(b, "token_embd.weight"),
                              b->tokens, NULL);
    for (int il = 0; il < (int)hp->n_layer && x; il++) {
        char name[64];
        slm_tensor_t *h = slm__rms_norm(b, x, slm__layer_name(name, sizeof name, il, "attn_norm.weight"));
        slm_tensor_t *q = slm__linear(b, slm__layer_name(name, sizeof name, il, "attn_q.weight"), h);
        slm_tensor_t *k = slm__linear(b, slm__layer_name(name, sizeof name, il, "attn_k.weight"), h);
        slm_tensor_t *v = slm__linear(b, slm__layer_name(name, sizeof name, il, "attn_v.weight"), h);
        q = slm__rope(b, slm__reshape(b, q, hp->head_dim, hp->n_head, T));
        k = slm__rope(b, slm__reshape(b, k, hp->head_dim, hp->n_head_kv, T));
        slm_tensor_t *a = k && v ? slm__attention(b, il, q, k, v, kq_scale) : NULL;
        a = slm__linear(b, slm__layer_name(name, sizeof name, il, "attn_output.weight"), a);
        x = a ? slm__op(b, SLM_OP_ADD, x, a, NULL) : NULL;

        h = slm__rms_norm(b, x, slm__layer_name(name, sizeof name, il, "ffn_norm.weight"));
        slm_tensor_t *f = slm__ffn_swiglu(b, il, h);
        x = f ? slm__op(b, SLM_OP_ADD, x, f, NULL) : NULL;
    }
    x = slm__rms_norm(b, slm__last_token(b, x), "output_norm.weight");
    const char *head = slm__has_tensor(b->model, "output.weight") ? "output.weight"
                                                                   : "token_embd.weight";
    b->logits = slm__linear(b, head, x);
    return b->logits ? SLM_OK : SLM_ERR_GRAPH;
}

const slm__arch_t slm__arch_llama = {
    .name = "llama",
    .load = llama_load,
    .build = llama_build,
};
