/*
** blocks.h -- pieces of transformer graphs shared by the architectures.
**
** Every function appends nodes to b->g and returns the result tensor, or NULL
** with the error set. A NULL argument gives NULL without a new error, so a
** builder can chain calls and check once at the end.
*/
#ifndef SLM_BLOCKS_H
#define SLM_BLOCKS_H

#include "arch.h"

/* One op with up to two sources (NULL for none). */
slm_tensor_t *slm__op(slm__build_t *b, slm_op_t op, slm_tensor_t *a,
                      slm_tensor_t *c, const slm_op_params_t *p);

/* A view of `src` with `n_dims` dims `ne`, strides `nb`, at `offset`. */
slm_tensor_t *slm__view(slm__build_t *b, slm_tensor_t *src, int n_dims,
                        const int64_t *ne, const size_t *nb, size_t offset);

/* The same F32 data seen with another shape (src must be contiguous). */
slm_tensor_t *slm__reshape(slm__build_t *b, slm_tensor_t *src, int64_t ne0,
                           int64_t ne1, int64_t ne2);

/* rms_norm(x) * weight, weight named `name` (NULL: no weight). */
slm_tensor_t *slm__rms_norm(slm__build_t *b, slm_tensor_t *x, const char *name);

/* W x for the weight named `name`. */
slm_tensor_t *slm__linear(slm__build_t *b, const char *name, slm_tensor_t *x);

/* RoPE of x (head_dim, heads, n_tokens) at b->positions, per the hparams. */
slm_tensor_t *slm__rope(slm__build_t *b, slm_tensor_t *x);

/*
** Causal self-attention of layer `il` over the KV cache: q, k, v are
** (head_dim, n_head, T), (head_dim, n_head_kv, T), (head_dim_v * n_head_kv, T)
** with RoPE already applied to q and k. Writes k and v into the cache rows of
** b->positions and returns (head_dim_v * n_head, T), before the output
** projection. `kq_scale` multiplies the logits.
*/
slm_tensor_t *slm__attention(slm__build_t *b, int il, slm_tensor_t *q,
                             slm_tensor_t *k, slm_tensor_t *v, float kq_scale);

/* down(silu(gate x) * up x) with weights named by the three formats' layer. */
slm_tensor_t *slm__ffn_swiglu(slm__build_t *b, int il, slm_tensor_t *x);

/* The last token's column of x (n_embd, T) as (n_embd, 1). */
slm_tensor_t *slm__last_token(slm__build_t *b, slm_tensor_t *x);

/* snprintf into a static-size name buffer: "blk.3.attn_q.weight". */
const char *slm__layer_name(char *buf, size_t n, int il, const char *suffix);

#endif /* SLM_BLOCKS_H */
