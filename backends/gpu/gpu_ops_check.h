/*
** gpu_ops_check.h -- which nodes of the ops that are not matmuls a GPU-style
** backend (Vulkan, OpenCL) can run: the ops' definitions in slm/graph.h
** (dtypes, shapes, broadcasting) for any strides, plus what kernels that
** address tensors with 32-bit offsets need. Shared by the plugins as
** source, as backends/cpu/cpu_check.c is by the CPU ones: no plugin links
** another.
*/
#ifndef SLM_GPU_OPS_CHECK_H
#define SLM_GPU_OPS_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slm/graph.h"

/* What a backend's kernels need beyond the ops' definitions. */
typedef struct gpu_ops_limits {
    /* Bytes block-quantised data is loaded in (2: 16-bit words, 1: bytes);
    ** strides and offsets must be multiples of it. */
    size_t quant_unit;
    /* ARGSORT/TOP_K sort rows padded to a power of two in scratch memory
    ** (else exactly the rows' elements); either way 8 bytes per key must
    ** stay addressable in 32 bits. */
    bool sort_pads_rows;
} gpu_ops_limits;

/* SLM_OP_BIT of every op gpu_ops_supports may accept. */
uint64_t gpu_ops_op_mask(void);

/* Whether a device with these limits runs the node: a pure function of
** the node's fields. */
bool gpu_ops_supports(const slm_node_t *node, const gpu_ops_limits *lim);

/* The unit kernels load t in: its element, or lim->quant_unit for blocks. */
size_t gpu_ops_unit(const slm_tensor_t *t, const gpu_ops_limits *lim);

#endif /* SLM_GPU_OPS_CHECK_H */
