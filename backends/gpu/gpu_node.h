/*
** gpu_node.h -- what the GPU-style backends (Vulkan, OpenCL) share about a
** node before it reaches a kernel: the argument record their kernels read,
** 32-bit addressing, and the message for an id a kernel found out of
** range. Compiled into each plugin as source.
*/
#ifndef SLM_GPU_NODE_H
#define SLM_GPU_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slm/graph.h"

/*
** The per-kernel arguments: only 32-bit members, so that a std140 uniform
** block (Vulkan) and an OpenCL C struct passed by value lay it out as C
** does. Tensor t is 0 = dst, 1..3 = src0..src2. off[t] is the byte offset
** of element [0,0,0,0] in its buffer, nb[t][i] byte strides, ne[t][i]
** sizes. ip/fp are the node's iparams/fparams; u[] is free for an op's own
** use (counts, a pass number, a scratch offset).
*/
typedef struct gpu_args {
    uint32_t off[4];
    uint32_t ne[4][4];
    uint32_t nb[4][4];
    int32_t ip[8];
    float fp[8];
    uint32_t u[8];
} gpu_args;

/* MUL_MAT, MUL_MAT_ID and GET_ROWS: the ops that read quantised blocks. */
bool gpu_is_matmul_family(slm_op_t op);

/* Bytes from element [0,0,0,0] to one past the last byte the tensor's ne
** and nb reach; UINT64_MAX for an unknown dtype or an empty dimension. */
uint64_t gpu_tensor_extent(const slm_tensor_t *t);

/* Every tensor of the node (dst and sources) addressable with 32-bit byte
** offsets from element 0: sizes, strides and extent. */
bool gpu_node_fits_32bit(const slm_node_t *node);

/* The first tensor of the node (dst, then the sources) that does not lie
** inside its buffer, whose size buffer_size gives (a NULL buffer is
** outside); NULL when every one is inside. */
const slm_tensor_t *gpu_node_outside(const slm_node_t *node,
                                     uint64_t (*buffer_size)(const void *buffer));

/* Fill args from the node (absent sources zero, u[] zeroed). NULL on
** success, else the tensor whose offset plus extent does not fit 32 bits. */
const slm_tensor_t *gpu_args_from_node(const slm_node_t *node, gpu_args *args);

/* "node 1 (SET_ROWS): row id 10 is out of range [0, 10)" for an id a kernel
** of node `index` of g reported, into buf. */
void gpu_bad_id_message(const slm_graph_t *g, uint32_t index, int32_t id, char *buf,
                        size_t cap);

#endif /* SLM_GPU_NODE_H */
