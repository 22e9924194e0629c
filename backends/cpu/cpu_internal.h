/*
** cpu_internal.h -- what the files of the scalar reference backend share.
**
** Nothing here leaves the plugin: its objects are built with hidden
** visibility and only slm_plugin_init carries SLM_PLUGIN_EXPORT.
**
**   cpu_backend.c  entry point, probe, devices, buffers, the graph loop
**   cpu_check.c    which nodes are valid (supports_node, graph_compute)
**   cpu_ops.c      one function per op
**   cpu_quant.c    element formats: F16/BF16 loads and stores, dequantisation,
**                  activation quantisation and the dot products of MUL_MAT
*/
#ifndef SLM_CPU_INTERNAL_H
#define SLM_CPU_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "slm/backend.h"
#include "slm/graph.h"

#if defined(__GNUC__)
#define CPU_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CPU_PRINTF(f, a)
#endif

/* ------------------------------------------------------- cpu_backend.c */

/* Give the host the formatted message (host->set_error) and return status,
** so that a failure reads: return cpu_error(SLM_ERR_..., "...", ...). */
slm_status_t cpu_error(slm_status_t status, const char *fmt, ...)
    CPU_PRINTF(2, 3);

/* --------------------------------------------------------- cpu_check.c */

/* NULL when the node is one this backend runs (an op of graph.h with the
** dtypes and shapes its table allows), else a static string saying why not.
** Looks only at the node's fields, never at tensor data. */
const char *cpu_check_node(const slm_node_t *node);

/* ----------------------------------------------------------- cpu_ops.c */

/* Run one node that cpu_check_node accepted and whose tensors all lie in
** their buffers. `index` is the node's position in its graph, for messages.
** Fails only on bad ids in the data or when scratch memory runs out. */
slm_status_t cpu_compute_node(const slm_node_t *node, uint32_t index);

/* --------------------------------------------------------- cpu_quant.c */

/* One element of an F32, F16 or BF16 tensor at address p (any alignment). */
float cpu_load(slm_dtype_t dtype, const void *p);
void cpu_store(slm_dtype_t dtype, void *p, float v);

/* Turn one row of n elements into floats. For F32/F16/BF16 element i is at
** row + i * nb0; for the block types block b is at row + b * nb0 and n is a
** multiple of the block's element count. */
void cpu_dequantize_row(slm_dtype_t dtype, const void *row, size_t nb0,
                        int64_t n, float *out);

/*
** Activation quantisation for MUL_MAT and MUL_MAT_ID (slm/graph.h defines the
** arithmetic): a weight of a quantised dtype is multiplied not with the F32
** activations themselves but with their Q8_0 (for Q4_0, Q8_0 weights) or
** Q8_K (for Q4_K, Q6_K weights) blocks; F16 and BF16 weights meet
** activations rounded to their own type.
*/

/* Q8_K: 256 activations x[j] = d * qs[j]; bsums[g] = sum of qs[16g .. 16g+15].
** d is a float and may be negative. Only ever an intermediate of MUL_MAT,
** never a tensor dtype, so it is declared here and not in graph.h. */
typedef struct cpu_block_q8_K {
    float d;                       /* scale */
    int8_t qs[SLM_QK_K];           /* quants */
    int16_t bsums[SLM_QK_K / 16];  /* sums of 16 quants, for the Q4_K mins */
} cpu_block_q8_K;

/* Quantise n floats (a multiple of 32, resp. 256) to n / 32 Q8_0 blocks,
** resp. n / 256 Q8_K blocks, as MUL_MAT does to each src1 row. */
void cpu_quantize_row_q8_0(const float *x, int64_t n, slm_block_q8_0 *out);
void cpu_quantize_row_q8_K(const float *x, int64_t n, cpu_block_q8_K *out);

/* Bytes that cpu_prepare_act_row writes for a row of n activations meeting
** weights of dtype `wtype`. */
size_t cpu_act_row_bytes(slm_dtype_t wtype, int64_t n);

/* Turn one F32 src1 row of n elements into what weights of dtype `wtype`
** are multiplied with: Q8_0 or Q8_K blocks, or (F32, F16, BF16) n floats
** rounded to wtype. act must hold cpu_act_row_bytes(wtype, n) bytes,
** aligned as malloc aligns. */
void cpu_prepare_act_row(slm_dtype_t wtype, const float *x, int64_t n,
                         void *act);

/* The MUL_MAT dot product of one weight row of dtype `wtype` and n elements
** (element, or block, i at w_row + i * nb0) with a row that
** cpu_prepare_act_row made for the same wtype and n. */
double cpu_dot_row(slm_dtype_t wtype, const void *w_row, size_t nb0,
                   const void *act, int64_t n);

/* ---------------------------------------------------------------- buffers */

/* A buffer in host memory (cpu_buffer.c): the slots of every CPU backend. */
typedef struct CpuBuffer {
    char *base;  /* host address of byte 0 */
    size_t size; /* bytes */
    bool owned;  /* allocated here, or host memory wrapped in place */
} CpuBuffer;

slm_status_t cpu_buffer_alloc(void *device, size_t size, slm_buffer_usage_t usage,
                              void **out_buffer, void **out_base);
slm_status_t cpu_buffer_from_host_ptr(void *device, void *ptr, size_t size,
                                      void **out_buffer);
void cpu_buffer_free(void *device, void *buffer);
slm_status_t cpu_buffer_write(void *device, void *buffer, size_t offset,
                              const void *src, size_t size);
slm_status_t cpu_buffer_read(void *device, void *buffer, size_t offset,
                             void *dst, size_t size);

/* Whether every byte the tensor's ne and nb can reach lies in its CpuBuffer,
** and data agrees with buffer and offset. */
bool cpu_tensor_in_buffer(const slm_tensor_t *t);

/* Whether node `index` may run: a known op, valid as cpu_check_node says,
** every tensor inside its buffer. The error names node, op and tensor. */
slm_status_t cpu_check_runnable(const slm_node_t *node, uint32_t index);

#endif /* SLM_CPU_INTERNAL_H */
