/*
** gpu_matmul_check.h -- the rules of MUL_MAT, MUL_MAT_ID and GET_ROWS that
** the GPU-style backends' kernels (Vulkan, OpenCL) share: slm/graph.h's
** definitions restricted to F32 activations and outputs and I32 ids, with
** every tensor readable through 32-bit byte offsets. What each backend adds
** is its own: which weight dtypes it has kernels for, and whether the work
** fits its grid (its plan). Shared by the plugins as source.
*/
#ifndef SLM_GPU_MATMUL_CHECK_H
#define SLM_GPU_MATMUL_CHECK_H

#include <stdbool.h>

#include "slm/graph.h"

/* Whether kernels that address bytes in 32 bits, load F32/F16/BF16/I32
** elements aligned to their size and read block types bytewise (blocks
** packed along the row) can read t: a known dtype, whole blocks, sizes and
** strides that fit 32 bits, strides of the element's alignment, and every
** byte within 2^32 of the first. */
bool gpu_tensor_addressable(const slm_tensor_t *t);

/* Whether the node (MUL_MAT, MUL_MAT_ID or GET_ROWS) has the sources,
** dtypes and shapes the shared kernels take, every tensor addressable.
** False for any other op. The weight's dtype is the caller's to check. */
bool gpu_matmul_shape_ok(const slm_node_t *node);

/* Byte offsets are only known when the node runs: the first tensor (dst,
** then the sources) of a plain dtype whose offset is not a multiple of its
** element size, which the aligned loads need; NULL when there is none. */
const slm_tensor_t *gpu_matmul_misaligned(const slm_node_t *node);

#endif /* SLM_GPU_MATMUL_CHECK_H */
