/*
** blocks.h -- pieces of transformer graphs shared by the architectures, and
** the checks at load that go with them.
**
** Every graph function appends nodes to b->g and returns the result tensor,
** or NULL with the error set. A NULL argument gives NULL without a new
** error, so a builder can chain calls and check once at the end.
*/
#ifndef SLM_BLOCKS_H
#define SLM_BLOCKS_H

#include <stddef.h>

#include "arch.h"

/* ------------------------------------------------------------- loading */

/*
** The hyperparameters every transformer family writes under the same keys
** (ARCH.embedding_length, ARCH.attention.head_count, ARCH.rope.*, ...),
** with the defaults llama.cpp applies when a key is absent: head size
** n_embd / n_head unless attention.key_length / value_length say otherwise,
** RoPE over the whole head in SLM_ROPE_NORMAL mode, kq_scale
** 1 / sqrt(head_dim), no soft-capping, no sliding window pattern. An
** architecture calls it first, then adjusts what differs.
*/
slm_status_t slm__load_hparams(struct slm_model *m, slm__hparams_t *hp);

/* hp->n_vocab from token_embd.weight, and the checks of token_embd,
** output_norm and the optional output head (absent: tied to token_embd)
** and output.bias. */
slm_status_t slm__check_embeddings(struct slm_model *m, slm__hparams_t *hp);

/* A tensor of every layer: "blk.N." + suffix, with n_dims dims ne. */
typedef struct slm__tensor_spec {
    const char *suffix;
    int n_dims;
    int64_t ne[3];
} slm__tensor_spec_t;

/* Check layer il's tensors of the table (all required). */
slm_status_t slm__check_layer_tensors(struct slm_model *m, int il,
                                      const slm__tensor_spec_t *t, size_t n);

/*
** Layer il's attention tensors: attn_norm, the projections and attn_output.
** The projections are attn_q/attn_k/attn_v, or one attn_qkv of width
** q + 2 kv when the file has it; `fused` says which one a file lacking both
** is reported as missing.
*/
slm_status_t slm__check_attention(struct slm_model *m, const slm__hparams_t *hp,
                                  int il, bool fused);

/* The feed-forward layouts. */
typedef enum slm__ffn_kind {
    SLM__FFN_GATED,   /* ffn_gate, ffn_up [n_embd, n_ff], ffn_down */
    SLM__FFN_FUSED,   /* ffn_up [n_embd, 2 n_ff]: gate half then up half */
    SLM__FFN_MOE      /* ffn_gate_inp router and stacked *_exps experts */
} slm__ffn_kind_t;

/* Layer il's ffn_norm and feed-forward tensors of the given layout. */
slm_status_t slm__check_ffn(struct slm_model *m, const slm__hparams_t *hp,
                            int il, slm__ffn_kind_t kind);

/* --------------------------------------------------------------- graphs */

/* One op with up to two sources (NULL for none). */
slm_tensor_t *slm__op(slm__build_t *b, slm_op_t op, slm_tensor_t *a,
                      slm_tensor_t *c, const slm_op_params_t *p);

/* A view of `src` with `n_dims` dims `ne`, strides `nb`, at `offset`. */
slm_tensor_t *slm__view(slm__build_t *b, slm_tensor_t *src, int n_dims,
                        const int64_t *ne, const size_t *nb, size_t offset);

/* The same F32 data seen with another shape (src must be contiguous). */
slm_tensor_t *slm__reshape(slm__build_t *b, slm_tensor_t *src, int64_t ne0,
                           int64_t ne1, int64_t ne2);

/* x * s. */
slm_tensor_t *slm__scale(slm__build_t *b, slm_tensor_t *x, float s);

/* rms_norm(x) * weight, weight named `name` (NULL: no weight). */
slm_tensor_t *slm__rms_norm(slm__build_t *b, slm_tensor_t *x, const char *name);

/* Layer il's RMS norm with weight "blk.il." + suffix. */
slm_tensor_t *slm__layer_norm(slm__build_t *b, int il, slm_tensor_t *x,
                              const char *suffix);

/* W x for the weight named `name`. */
slm_tensor_t *slm__linear(slm__build_t *b, const char *name, slm_tensor_t *x);

/* The token embeddings of b->tokens: (n_embd, T). */
slm_tensor_t *slm__embed(slm__build_t *b);

/* RoPE of x (head_dim, heads, n_tokens) at b->positions, per the hparams,
** with per-pair frequency divisors `factors` (F32 (n_rot / 2), or NULL). */
slm_tensor_t *slm__rope(slm__build_t *b, slm_tensor_t *x, slm_tensor_t *factors);

/*
** Causal self-attention of layer `il` over the KV cache: q, k, v are
** (head_dim, n_head, T), (head_dim, n_head_kv, T), (head_dim_v * n_head_kv, T)
** with RoPE already applied to q and k; q and v may be strided views, k is
** contiguous (as RoPE's result is). Writes k and v into
** the cache rows of b->positions and returns (head_dim_v * n_head, T), before
** the output projection. The logits are scaled by hp->kq_scale, soft-capped
** by hp->attn_softcap, and masked by b->mask_swa on the layers that slide
** (hp->swa_pattern), else by b->mask.
*/
slm_tensor_t *slm__attention(slm__build_t *b, int il, slm_tensor_t *q,
                             slm_tensor_t *k, slm_tensor_t *v);

/*
** The whole attention sublayer of layer il on normed input h (n_embd, T):
** q, k, v projections (separate, or split from attn_qkv when the file has
** it), RoPE with `rope_factors` (or NULL), slm__attention, attn_output.
*/
slm_tensor_t *slm__self_attention(slm__build_t *b, int il, slm_tensor_t *h,
                                  slm_tensor_t *rope_factors);

/* down(act(gate x) * up x) of layer il, act the GLU op `glu` (SLM_OP_SWIGLU,
** SLM_OP_GEGLU), gate and up separate tensors (SLM__FFN_GATED). */
slm_tensor_t *slm__ffn_gated(slm__build_t *b, int il, slm_tensor_t *x, slm_op_t glu);

/* The same with gate and up fused in ffn_up, gate rows first
** (SLM__FFN_FUSED). */
slm_tensor_t *slm__ffn_fused(slm__build_t *b, int il, slm_tensor_t *x, slm_op_t glu);

/*
** Mixture of experts (Mixtral): the router ffn_gate_inp gives each token a
** softmax over hp->n_expert experts; the hp->n_expert_used most probable
** ones run (ffn_gate_exps, ffn_up_exps, ffn_down_exps with SwiGLU, through
** MUL_MAT_ID so each expert's tokens are multiplied together), and their
** outputs are summed with the chosen probabilities renormalised to sum to 1.
*/
slm_tensor_t *slm__ffn_moe(slm__build_t *b, int il, slm_tensor_t *x);

/*
** The head: the last token's column of x, output_norm, the output
** projection (output.weight, or token_embd.weight when tied) plus
** output.bias when present, and hp->final_softcap. Sets b->logits and
** returns SLM_OK, or the error of the first failed step.
*/
slm_status_t slm__output(slm__build_t *b, slm_tensor_t *x);

/* The last token's column of x (n_embd, T) as (n_embd, 1). */
slm_tensor_t *slm__last_token(slm__build_t *b, slm_tensor_t *x);

/* snprintf into a static-size name buffer: "blk.3.attn_q.weight". */
const char *slm__layer_name(char *buf, size_t n, int il, const char *suffix);

#endif /* SLM_BLOCKS_H */
