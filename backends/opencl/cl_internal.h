/*
** cl_internal.h -- what the parts of the OpenCL backend share.
**
** The plugin reaches OpenCL only through the ICD loader (libOpenCL.so.1),
** dlopened at run time and never linked, so a machine without it gets "no
** device", not a plugin that fails to load.
**
** Kernels are OpenCL C 1.2 in kernels/ *.cl, embedded in the .so at build
** time and built into one program per device: kernels/common.cl first (the
** contract below), then every other file in name order. The built program
** is cached under $XDG_CACHE_HOME/slm/ (cl_program_cache.c).
**
** Every kernel takes the same arguments:
**   0..3  global uchar *: the buffers of dst, src0, src1, src2 (an absent
**         source gets dst's buffer)
**   4     cl_args, by value
** and reaches tensors through byte offsets and byte strides in cl_args, so
** every view of the graph ABI is addressable without sub-buffers (whose
** offsets OpenCL restricts to CL_DEVICE_MEM_BASE_ADDR_ALIGN).
**
** The graph loop enqueues every node of a graph on the device's one
** in-order queue and waits once at the end. The ops are split by family:
** cl_ops.c (element-wise, norms, softmax, rope, copies, sorting) and
** cl_matmul.c (MUL_MAT, MUL_MAT_ID, GET_ROWS: everything that reads
** block-quantised data).
*/
#ifndef SLM_CL_INTERNAL_H
#define SLM_CL_INTERNAL_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slm/backend.h"

#include "../gpu/gpu_node.h"

/* A device buffer. Tensors address it with 32-bit byte offsets, so a
** buffer is at most 4 GiB - 1 (buffer_alloc refuses more). */
typedef struct cl_buf {
    cl_mem mem;
    size_t size;
} cl_buf;

/* The per-enqueue arguments (gpu_node.h), passed by value as the struct
** kernels/common.cl declares; offsets are within each buffer. */
typedef gpu_args cl_args;

/* What the op families may ask of the device they enqueue for. */
typedef struct cl_caps {
    bool fp16;                    /* cl_khr_fp16 arithmetic */
    bool fp64;                    /* cl_khr_fp64 */
    bool subgroups;               /* cl_khr_subgroups or cl_intel_subgroups */
    bool int_dot;                 /* cl_khr_integer_dot_product */
    bool emulated;                /* a CPU device (PoCL): prefer wide
                                     per-work-item vectors, few work-groups */
    uint32_t compute_units;
    size_t max_wg_size;           /* CL_DEVICE_MAX_WORK_GROUP_SIZE */
    uint64_t local_mem_bytes;     /* CL_DEVICE_LOCAL_MEM_SIZE */
    /* Lanes (work-items) per weight row of a matrix-vector product and of
    ** MUL_MAT_ID: 0 runs one work-item per row (mul_mat_*_vec), L > 0 a
    ** work-group of L per row (mul_mat_*_wide). Chosen at device_open. */
    uint32_t row_lanes;
} cl_caps;

typedef struct cl_dev cl_dev; /* cl_device.c */

/* The device's capabilities. Owned by the device. */
const cl_caps *cl_dev_caps(const cl_dev *d);

/* The buffer behind a tensor handed to the plugin (tensor->buffer). */
static inline cl_buf *cl_tensor_buf(const slm_tensor_t *t)
{
    return (cl_buf *)t->buffer;
}

/* Fill args from the node: offsets, shapes and strides of dst and its
** sources (absent ones zero), iparams and fparams; u[] zeroed. False (with
** host->set_error) when an offset or stride does not fit 32 bits. */
bool cl_args_from_node(const slm_node_t *node, cl_args *args);

/* The buffers of dst, src0, src1, src2 of a node, in argument order. */
void cl_node_bufs(const slm_node_t *node, cl_buf *bufs[4]);

/*
** Enqueue kernel `kernel` (a __kernel name from kernels/ *.cl) with
** arguments bufs[0..3] (NULL entries get bufs[0]) and *args over `dims`
** (1..3) dimensions of global size gws, local size lws (NULL: the
** driver's choice; else each gws[i] must be a multiple of lws[i]). Work
** enqueued earlier on the device finishes first (in-order queue). Fails
** with a message naming the kernel and the OpenCL error.
*/
slm_status_t cl_enqueue(cl_dev *d, const char *kernel, cl_buf *const bufs[4],
                        const cl_args *args, uint32_t dims, const size_t *gws,
                        const size_t *lws);

/*
** Device scratch memory for the graph being enqueued: `bytes` bytes
** (aligned to 256) in *buf at byte *offset, valid until the graph has
** finished. For data an op passes between two of its kernels (quantised
** activations, partial sums).
*/
slm_status_t cl_scratch(cl_dev *d, size_t bytes, cl_buf **buf, uint32_t *offset);

/* Report an error through the host: sets the message, returns status. */
slm_status_t cl_error(slm_status_t status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Log through the host at level SLM_LOG_*. */
void cl_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* CL_OUT_OF_RESOURCES style name of an OpenCL error code. Static string,
** or "OpenCL error N" written into buf (at least 32 bytes). */
const char *cl_error_name(cl_int err, char *buf);

/* ------------------------------------------------------ op families */

/* cl_ops.c: every op but MUL_MAT, MUL_MAT_ID and GET_ROWS. */
bool cl_ops_supports(const cl_dev *d, const slm_node_t *node);
slm_status_t cl_ops_enqueue(cl_dev *d, const slm_node_t *node);

/* cl_matmul.c: MUL_MAT, MUL_MAT_ID and GET_ROWS. */
bool cl_matmul_supports(const cl_dev *d, const slm_node_t *node);
slm_status_t cl_matmul_enqueue(cl_dev *d, const slm_node_t *node);

/* The ops and dtypes each family claims, for slm_device_info_t. */
uint64_t cl_ops_op_mask(void);
uint64_t cl_matmul_op_mask(void);
uint64_t cl_matmul_dtype_mask(void);

/* ----------------------------------------- appended by the ops side */

/*
** Ids out of range. A kernel that reads ids (GET_ROWS, SET_ROWS,
** MUL_MAT_ID) must not read or write outside a tensor for a bad id; it
** reports it instead. Declare it with KARGS_IDS (common.cl) in place of
** KARGS: two more arguments follow cl_args,
**   5  global volatile uint *status: the graph's status words
**      {flag, node, id, 0}
**   6  uint node: the index of the node being enqueued
** and on a bad id call report_bad_id(status, node, id) and skip the
** access. cl_enqueue sets both for every kernel declaring 7 arguments
** (CL_KERNEL_NUM_ARGS; a kernel has 5 or 7). After the graph's clFinish,
** graph_compute turns the first report into SLM_ERR_INVALID_ARG naming
** the node, as the reference does: "node 1 (SET_ROWS): row id 10 is out of
** range [0, 10)" ("expert id" for MUL_MAT_ID; the bound is src0 ne[1] for
** GET_ROWS, dst ne[1] for SET_ROWS, src0 ne[2] for MUL_MAT_ID).
**
** Build options (cl_device.c): -cl-std=CL1.2, -DOPS_VEC=16 on CPU devices
** (4 elsewhere), and -DHAVE_FP16, -DHAVE_FP64, -DHAVE_SUBGROUPS,
** -DHAVE_INT_DOT, -DCL_EMULATED where cl_caps says so. common.cl enables
** cl_khr_fp64 under HAVE_FP64, and also offers row_off, bcast_row_off,
** f16_bits_to_f32, f32_to_f16_bits, f32_to_bf16_bits, wg_sum, wg_max.
*/

#endif /* SLM_CL_INTERNAL_H */
