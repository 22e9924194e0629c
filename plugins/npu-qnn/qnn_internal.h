/*
** qnn_internal.h -- what the two files of the QNN shim share:
** qnn_plugin.c (runtime, config, probe, devices, buffers, which nodes, the
** descriptor) and qnn_matmul.c (weights as finalized QNN contexts, the
** context-binary cache, compute).
*/
#ifndef QNN_INTERNAL_H
#define QNN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <slm/backend.h>

#include "../npu-common/npu_weights.h"
#include "qnn_api.h"
#include "qnn_cache.h"

#define QNN_NAME "npu-qnn"
/* What qnn_matmul.c composes: raise it when the graphs change (names,
** tensors, options), so that cached binaries of the old ones are rebuilt.
** Part of the runtime's tag (QnnRuntime.tag). */
#define QNN_GRAPHS_LAYOUT 1
/* Limits this shim keeps to, those tests/sim/qnn enforces: rank-2
** tensors, every dimension at most 65536, a STATIC tensor at most 1 GiB.
** A real HTP's were not checked (no device was available): a graph it
** refuses fails at graphAddNode or graphFinalize, with the call and its
** code in the error. */
#define QNN_MAX_DIM 65536
#define QNN_MAX_STATIC_BYTES ((uint64_t)1 << 30)

/* Row buckets: the graphs each weight gets, derived from min_batch
** (qnn_buckets): 32, 64, 128, 256 rows, and below 32 one more, min_batch
** rounded up to a power of two (1 for min_batch 1: decoding steps
** unpadded); from min_batch 64 on, the buckets below it are left out. Few,
** so that finalize (once per bucket and weight) stays affordable; padding
** wastes less than half a bucket from 32 rows on. More rows run in tiles
** of QNN_MAX_BUCKET. */
#define QNN_MAX_BUCKET 256
#define QNN_MAX_BUCKETS 5
_Static_assert(QNN_MAX_BUCKETS <= QNN_CACHE_MAX_BUCKETS, "every bucket fits a cache header");

/* The [backend.npu-qnn] section, read at probe and again at device_open. */
typedef struct QnnConfig {
    char library[256];      /* dlopened; default libQnnHtp.so */
    uint32_t min_batch;     /* fewest rows offloaded; default 32 */
    char cache_dir[512];    /* context binaries; "" = no disk cache */
} QnnConfig;

/* The vendor library, loaded, with a backend and a device created. */
typedef struct QnnRuntime {
    void *so;
    const QnnInterfaceImpl_t *api;
    Qnn_ApiVersion_t version;
    char tag[QNN_CACHE_TAG];  /* "qnn 2.20.0 htp 5.20.0 build ...": binaries differ by it */
    Qnn_BackendHandle_t backend;
    Qnn_DeviceHandle_t device;
} QnnRuntime;

/* One weight matrix on the NPU: a context with its F16 data and a graph
** per bucket. Kept by the device, keyed by the weight's host address (the
** runtime wraps one model's mmapped weights once per graph plan, so one
** matrix reaches the shim through several buffers), and referenced by each
** buffer it was met in: freed when the last of them is freed or written. */
typedef struct QnnWeight {
    struct QnnWeight *next;
    const void *data;
    uint32_t refs;
    slm_dtype_t dtype;
    int64_t k, n;
    Qnn_ContextHandle_t context;
    Qnn_GraphHandle_t graph[QNN_MAX_BUCKETS];
    uint32_t in_id[QNN_MAX_BUCKETS], out_id[QNN_MAX_BUCKETS];
} QnnWeight;

typedef struct QnnBuffer {
    unsigned char *base;
    size_t size;
    bool owned;              /* allocated here, not wrapped host memory */
    QnnWeight **weights;     /* the weights met in this buffer, referenced */
    uint32_t n_weights, cap_weights;
} QnnBuffer;

typedef struct QnnDevice {
    QnnRuntime rt;
    QnnConfig cfg;
    uint32_t buckets[QNN_MAX_BUCKETS];  /* rows of each graph, ascending */
    uint32_t n_buckets;
    QnnWeight *weights;           /* every weight on the NPU */
    float *stage_in, *stage_out;  /* [QNN_MAX_BUCKET][k], [QNN_MAX_BUCKET][n] */
    size_t stage_in_n, stage_out_n;
    bool cache_warned;
    uint32_t n_buffers;
} QnnDevice;

/* qnn_plugin.c */
extern const slm_host_t *qnn_host;
slm_status_t qnn_fail(slm_status_t status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void qnn_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The name of a QNN error code, for messages. */
const char *qnn_error_name(Qnn_ErrorHandle_t e);
/* Activation rows of t: the product of ne[1..3]. */
int64_t qnn_rows_of(const slm_tensor_t *t);
/* The index of the smallest bucket that holds `rows` (the last for more). */
uint32_t qnn_bucket_for(const QnnDevice *d, int64_t rows);
bool qnn_supports_node(void *device, const slm_node_t *node);

/* qnn_matmul.c */
slm_status_t qnn_graph_compute(void *device, const slm_graph_t *graph);
/* Drop b's references; a weight no buffer refers to any more is freed. */
void qnn_weights_release(QnnDevice *d, QnnBuffer *b);
/* Free every weight still on the device (buffers were left live). */
void qnn_weights_destroy_all(QnnDevice *d);

#endif /* QNN_INTERNAL_H */
