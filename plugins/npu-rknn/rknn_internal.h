/*
** rknn_internal.h -- what the two files of the RKNN shim share:
** rknn_plugin.c (descriptor, probe, devices, buffers, which nodes) and
** rknn_matmul.c (weights in the NPU's formats, matmul contexts, compute).
*/
#ifndef RKNN_INTERNAL_H
#define RKNN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <slm/backend.h>

#include "../npu-common/npu_weights.h"
#include "rknn_abi.h"

#define RK_NAME "npu-rknn"

/* Limits of the matmul API the shim works within: K at most 10240 per
** context (a longer K is split and the partial products added); K padded
** to a multiple of 32 and N to a multiple of 64, the strictest alignment
** any RK35xx chip documents, with zeros (exact); M cut into tiles of at
** most 256 rows, each run in a context of the next power of two rows. */
#define RK_K_MAX 10240
#define RK_K_ALIGN 32
#define RK_N_ALIGN 64
#define RK_M_TILE 256
#define RK_BUCKETS 9 /* contexts of 1, 2, 4, ... 256 rows */
#define RK_GROUP 32  /* int8/int4 weights: one scale per 32 elements of K */

/* The runtime's functions, looked up by name in librknnrt.so. */
typedef struct rk_api {
    void *so;
    rknn_matmul_create_fn matmul_create;
    rknn_matmul_set_io_mem_fn matmul_set_io_mem;
    rknn_matmul_set_quant_params_fn matmul_set_quant_params;
    rknn_matmul_run_fn matmul_run;
    rknn_matmul_destroy_fn matmul_destroy;
    rknn_create_mem_fn create_mem;
    rknn_destroy_mem_fn destroy_mem;
    rknn_mem_sync_fn mem_sync;
    rknn_query_fn query;
} rk_api;

/* Weight formats the runtime took at probe (a tiny context of each). */
enum {
    RK_HAS_F16 = 1u << 0,  /* FLOAT16_MM_FLOAT16_TO_FLOAT32 */
    RK_HAS_I8 = 1u << 1,   /* FLOAT16_MM_INT8_TO_FLOAT32, per group */
    RK_HAS_I4 = 1u << 2    /* FLOAT16_MM_INT4_TO_FLOAT32, per group */
};

/* The `weights` config key. */
typedef enum rk_wmode { RK_W_AUTO, RK_W_F16, RK_W_INT8, RK_W_INT4 } rk_wmode;

typedef struct rk_device {
    rk_api api;
    unsigned formats;          /* RK_HAS_* */
    rk_wmode wmode;
    int64_t min_batch;
    uint32_t n_buffers;        /* live, checked at close */
    float *act;                /* scratch: one M tile of activations */
    size_t act_cap;            /* floats */
} rk_device;

/* One matmul context: a shape the runtime compiled, with its A and C. */
typedef struct rk_ctx {
    rknn_abi_ctx ctx;          /* 0: not created */
    rknn_abi_io_attr io;
    rknn_abi_mem *a, *c;       /* A [rows][kp] f16, C [rows][np] f32 */
    int32_t rows;
} rk_ctx;

/* A slice of K of a converted weight: B [np][kp] in the NPU's memory. */
typedef struct rk_chunk {
    int64_t k0, kc, kp;        /* first column, columns, columns padded */
    rknn_abi_mem *b;           /* NULL until made */
    float *scales;             /* [np][kp / RK_GROUP] for int formats */
    rk_ctx ctx[RK_BUCKETS];
} rk_chunk;

/* A weight matrix converted for the NPU, cached on its buffer and keyed by
** where it lies and what it is. */
typedef struct rk_weight {
    struct rk_weight *next;
    size_t offset, row_stride; /* key */
    slm_dtype_t dtype;
    int64_t k, n;
    npu_weights_t w;           /* the converted [n][k]; its data and scales are
                                  freed once the runtime holds every B */
    int type;                  /* RKNN_ABI_*_MM_* */
    int64_t np;                /* n padded */
    int n_chunks;
    rk_chunk *chunks;
    rknn_abi_ctx home;         /* the context the B memories were made with */
} rk_weight;

typedef struct rk_buffer {
    unsigned char *base;
    size_t size;
    bool owned;                /* false: wraps host memory */
    rk_weight *weights;
} rk_buffer;

/* rknn_plugin.c */
extern const slm_host_t *rk_host;
slm_status_t rk_fail(slm_status_t status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void rk_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *rk_strerror(int code);
bool rk_supports(const rk_device *d, const slm_node_t *node);
/* The format a weight of dtype t and row length k is converted to. */
npu_wformat_t rk_format_for(const rk_device *d, slm_dtype_t t, int64_t k);

/* rknn_matmul.c */
slm_status_t rk_graph_compute(void *device, const slm_graph_t *graph);
void rk_weights_drop(rk_device *d, rk_buffer *b, size_t offset, size_t size);

#endif /* RKNN_INTERNAL_H */
