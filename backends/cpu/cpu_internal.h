/*
** cpu_internal.h -- what the files of the scalar reference backend share.
**
** Nothing here leaves the plugin: its objects are built with hidden
** visibility and only slm_plugin_init carries SLM_PLUGIN_EXPORT.
**
**   cpu_backend.c  entry point, probe, devices, buffers, the graph loop
**   cpu_check.c    which nodes are valid (supports_node, graph_compute)
**   cpu_ops.c      one function per op
**   cpu_quant.c    element formats: F16/BF16 loads and stores, dequantisation
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

#endif /* SLM_CPU_INTERNAL_H */
