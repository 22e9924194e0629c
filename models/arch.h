/*
** arch.h -- what an architecture provides and what it may use.
**
** An architecture reads its hyperparameters from GGUF metadata, checks that
** every tensor it will use exists with the right shape and a type slm can
** compute, and builds the forward graph for a batch of tokens with the
** public graph API (slm/slm.h). To add one, see docs/adding-an-architecture.md.
*/
#ifndef SLM_ARCH_H
#define SLM_ARCH_H

#include <stdbool.h>
#include <stdint.h>

#include "slm/slm.h"

struct slm__gguf;

/* Hyperparameters, read once at load. */
typedef struct slm__hparams {
    uint32_t n_vocab;
    uint32_t n_ctx_train;
    uint32_t n_embd;
    uint32_t n_layer;
    uint32_t n_head;
    uint32_t n_head_kv;
    uint32_t head_dim;       /* per head, keys and queries */
    uint32_t head_dim_v;     /* per head, values */
    uint32_t n_ff;
    uint32_t n_rot;          /* dimensions RoPE rotates */
    int rope_mode;           /* SLM_ROPE_NORMAL or SLM_ROPE_NEOX */
    float rope_base;
    float rope_freq_scale;   /* 1 / linear scaling factor */
    float rope_ext_factor;   /* YaRN: 0 when off */
    float rope_attn_factor;
    float rope_beta_fast, rope_beta_slow;
    uint32_t n_ctx_orig;     /* context the RoPE was trained for (YaRN, and
                                which of phi3's rope factors apply) */
    float norm_eps;
    uint32_t n_swa;          /* sliding window, 0: none */
    uint32_t swa_pattern;    /* 0: n_swa applies to every layer; P > 0: layer
                                il slides iff il % P < P - 1, the others see
                                the whole context (gemma2: P = 2, even layers
                                slide) */
    float kq_scale;          /* multiplies q.k before the softmax */
    float attn_softcap;      /* > 0: attention logits -> c * tanh(logit / c) */
    float final_softcap;     /* > 0: output logits -> c * tanh(logit / c) */
    uint32_t n_expert, n_expert_used;  /* mixture of experts; 0: dense */
} slm__hparams_t;

/* One forward pass being built: inputs the session fills, state it keeps. */
typedef struct slm__build {
    slm_graph_builder_t *g;
    const struct slm_model *model;
    uint32_t n_tokens;       /* tokens in this batch */
    uint32_t n_kv;           /* cache rows attention looks at */
    uint32_t n_ctx;          /* cache rows in all */
    slm_tensor_t *tokens;    /* I32 (n_tokens) input */
    slm_tensor_t *positions; /* I32 (n_tokens) input: position of each token */
    slm_tensor_t *mask;      /* F32 (n_kv, n_tokens) input: 0 or -inf; causal,
                                and windowed by n_swa unless swa_pattern > 0 */
    slm_tensor_t *mask_swa;  /* swa_pattern > 0: the same with the n_swa
                                window, for the layers that slide; else NULL */
    slm_tensor_t **k_cache;  /* per layer, F32 (n_head_kv * head_dim, n_ctx) state */
    slm_tensor_t **v_cache;  /* per layer, F32 (n_head_kv * head_dim_v, n_ctx) state */
    slm_tensor_t *logits;    /* out: F32 (n_vocab, 1), for the batch's last token */
} slm__build_t;

typedef struct slm__arch {
    const char *name;        /* general.architecture */
    /* Read hyperparameters and check tensors; errors name file and field. */
    slm_status_t (*load)(struct slm_model *m, slm__hparams_t *hp);
    /* Append the forward pass to b->g and set b->logits. */
    slm_status_t (*build)(slm__build_t *b);
} slm__arch_t;

extern const slm__arch_t slm__arch_llama;
extern const slm__arch_t slm__arch_phi3;
extern const slm__arch_t slm__arch_gemma;
extern const slm__arch_t slm__arch_gemma2;

/* ------------------------------------------------- shared by architectures */

/* The model's GGUF file, and its general.architecture (usable in load,
** before slm_model_info is filled). */
const struct slm__gguf *slm__model_gguf(const struct slm_model *m);
const char *slm__model_arch_name(const struct slm_model *m);
const slm__hparams_t *slm__model_hparams(const struct slm_model *m);

/* Read `ARCH.suffix` as u32/f32 into *out; absent keys leave *out as is
** unless `required`, which is an SLM_ERR_FORMAT naming the key. */
slm_status_t slm__hp_u32(const struct slm_model *m, const char *suffix,
                         bool required, uint32_t *out);
slm_status_t slm__hp_f32(const struct slm_model *m, const char *suffix,
                         bool required, float *out);

/* Check that tensor `name` exists (unless !required: then *present says),
** has `n_dims` dimensions `ne`, and a type slm computes; errors name the
** tensor, expected and actual shape. */
slm_status_t slm__check_tensor(const struct slm_model *m, const char *name,
                               int n_dims, const int64_t *ne, bool required,
                               bool *present);

/* A leaf WEIGHT tensor in b->g for GGUF tensor `name`, using the mapped
** bytes in place. NULL (with the error set) when it fails. */
slm_tensor_t *slm__weight(slm__build_t *b, const char *name);

/* Whether the GGUF file has tensor `name`. */
bool slm__has_tensor(const struct slm_model *m, const char *name);

#endif /* SLM_ARCH_H */
