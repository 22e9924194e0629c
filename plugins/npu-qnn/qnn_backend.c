/*
** qnn_backend.c -- npu-qnn: the Qualcomm Hexagon NPU (QNN HTP backend) as
** an slm backend plugin, a shim over the vendor's libQnnHtp.so.
**
** The runtime is loaded at probe time with dlopen, never linked: without it
** (or with one whose API version this shim does not speak) the plugin
** reports no device and says why in one log line. What it offloads: MUL_MAT
** of a 2-D weight (any dtype npu_weights knows) by F32 activations with at
** least `min_batch` rows -- prompt processing. Decode (one row) stays on the
** CPU, where it is faster: each graphExecute is a round trip to the DSP
** (~0.1-0.5 ms), more than a one-row matmul of a small model costs there.
**
** How a matmul runs. Each weight matrix is dequantised to F16 once (the
** HTP computes float graphs in float16, and GGUF block quants are not one
** of its formats), measured against the GGUF values and logged, and made
** the STATIC context tensor of one QNN context. That context holds one
** graph per row bucket (32, 64, 128, 256 rows, and one below 32 when
** min_batch is; each a MatMul [b x K] x [N x K]^T -> [b x N] F32 with
** transpose_in1), built with the FLOAT16 precision option and finalized
** together. Activations are copied into a staging buffer padded with zeros
** to the bucket -- converted on the way as graph.h's MUL_MAT converts them
** for the weight's dtype (Q8_0 / Q8_K blocks, BF16), so that float16 is
** the only difference left -- run, and the rows copied out; more than 256
** rows run in tiles of 256. Finalizing is slow on a device, so the
** finalized context is saved as a context binary (qnn_cache.h) and loaded
** from there by later processes, with 0 finalizes.
**
** Config ([backend.npu-qnn]): library, min_batch, cache_dir.
*/
#define _POSIX_C_SOURCE 200809L

#include <dlfcn.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <slm/backend.h>

#include "../npu-common/npu_weights.h"
#include "qnn_api.h"
#include "qnn_cache.h"

#define QNN_NAME "npu-qnn"
#define QNN_DEFAULT_LIBRARY "libQnnHtp.so"
#define QNN_DEFAULT_MIN_BATCH 32
/* What compose() builds: raise it when the graphs change (names, tensors,
** options), so that cached binaries of the old ones are rebuilt. */
#define QNN_GRAPHS_LAYOUT 1
/* Limits this shim keeps to, those tests/sim/qnn enforces: rank-2
** tensors, every dimension at most 65536, a STATIC tensor at most 1 GiB.
** A real HTP's were not checked (no device was available): a graph it
** refuses fails at graphAddNode or graphFinalize, with the call and its
** code in the error. */
#define QNN_MAX_DIM 65536
#define QNN_MAX_STATIC_BYTES ((uint64_t)1 << 30)

/* Row buckets: the graphs each weight gets, set from min_batch at probe:
** 32, 64, 128, 256 rows, and below 32 one more, min_batch rounded up to a
** power of two (1 for min_batch 1: decoding steps unpadded); from
** min_batch 64 on, the buckets below it are left out. Few, so that
** finalize (once per bucket and weight) stays affordable; padding wastes
** less than half a bucket from 32 rows on. More rows run in tiles of 256. */
#define MAX_BUCKET 256
#define MAX_BUCKETS 5
static uint32_t buckets[MAX_BUCKETS] = {32, 64, 128, 256};
static uint32_t n_buckets = 4;

/* Cost model (node_cost, seconds): a fixed cost per graphExecute (RPC to
** the DSP, cache maintenance) plus the float16 work at a sustained rate. */
#define QNN_CALL_OVERHEAD_S 2.5e-4
#define QNN_FLOPS 1.0e12

static const slm_host_t *g_host;

/* Config, read at probe. */
static char cfg_library[256] = QNN_DEFAULT_LIBRARY;
static uint32_t cfg_min_batch = QNN_DEFAULT_MIN_BATCH;
static char cfg_cache_dir[512]; /* "" = no disk cache */

static slm_status_t fail(slm_status_t status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static slm_status_t fail(slm_status_t status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    g_host->set_error(g_host->ctx, msg);
    return status;
}

static void logf_(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void logf_(int level, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    g_host->log(g_host->ctx, level, msg);
}

/* Names of the error codes this shim meets, for messages. */
static const char *qnn_error_name(Qnn_ErrorHandle_t e)
{
    switch (QNN_GET_ERROR_CODE(e)) {
    case QNN_COMMON_ERROR_NOT_SUPPORTED: return "QNN_COMMON_ERROR_NOT_SUPPORTED";
    case QNN_COMMON_ERROR_GENERAL: return "QNN_COMMON_ERROR_GENERAL";
    case QNN_COMMON_ERROR_MEM_ALLOC: return "QNN_COMMON_ERROR_MEM_ALLOC";
    case QNN_COMMON_ERROR_SYSTEM: return "QNN_COMMON_ERROR_SYSTEM";
    case QNN_COMMON_ERROR_INVALID_ARGUMENT: return "QNN_COMMON_ERROR_INVALID_ARGUMENT";
    case QNN_COMMON_ERROR_OPERATION_NOT_PERMITTED: return "QNN_COMMON_ERROR_OPERATION_NOT_PERMITTED";
    case QNN_COMMON_ERROR_PLATFORM_NOT_SUPPORTED: return "QNN_COMMON_ERROR_PLATFORM_NOT_SUPPORTED";
    case QNN_COMMON_ERROR_SYSTEM_COMMUNICATION: return "QNN_COMMON_ERROR_SYSTEM_COMMUNICATION";
    case QNN_COMMON_ERROR_INCOMPATIBLE_BINARIES: return "QNN_COMMON_ERROR_INCOMPATIBLE_BINARIES";
    case QNN_BACKEND_ERROR_CANNOT_INITIALIZE: return "QNN_BACKEND_ERROR_CANNOT_INITIALIZE";
    case QNN_CONTEXT_ERROR_BINARY_VERSION: return "QNN_CONTEXT_ERROR_BINARY_VERSION";
    case QNN_CONTEXT_ERROR_CREATE_FROM_BINARY: return "QNN_CONTEXT_ERROR_CREATE_FROM_BINARY";
    case QNN_CONTEXT_ERROR_NOT_FINALIZED: return "QNN_CONTEXT_ERROR_NOT_FINALIZED";
    case QNN_GRAPH_ERROR_INVALID_TENSOR: return "QNN_GRAPH_ERROR_INVALID_TENSOR";
    case QNN_GRAPH_ERROR_INVALID_OP_CONFIG: return "QNN_GRAPH_ERROR_INVALID_OP_CONFIG";
    case QNN_GRAPH_ERROR_CREATE_FAILED: return "QNN_GRAPH_ERROR_CREATE_FAILED";
    case QNN_GRAPH_ERROR_FINALIZE_FAILED: return "QNN_GRAPH_ERROR_FINALIZE_FAILED";
    case QNN_GRAPH_ERROR_GRAPH_NOT_FINALIZED: return "QNN_GRAPH_ERROR_GRAPH_NOT_FINALIZED";
    case QNN_GRAPH_ERROR_GRAPH_DOES_NOT_EXIST: return "QNN_GRAPH_ERROR_GRAPH_DOES_NOT_EXIST";
    case QNN_TENSOR_ERROR_UNSUPPORTED_TENSOR_PARAM: return "QNN_TENSOR_ERROR_UNSUPPORTED_TENSOR_PARAM";
    case QNN_DEVICE_ERROR_HARDWARE_UNAVAILABLE: return "QNN_DEVICE_ERROR_HARDWARE_UNAVAILABLE";
    default: return "error";
    }
}

/* ------------------------------------------------------------- runtime */

/* The vendor library, loaded, with a backend and a device created. */
typedef struct QnnRuntime {
    void *so;
    const QnnInterfaceImpl_t *api;
    Qnn_ApiVersion_t version;
    char tag[QNN_CACHE_TAG];  /* "qnn 2.20.0 htp 5.20.0 build ...": binaries differ by it */
    Qnn_BackendHandle_t backend;
    Qnn_DeviceHandle_t device;
} QnnRuntime;

static void runtime_close(QnnRuntime *rt)
{
    if (rt->device)
        rt->api->deviceFree(rt->device);
    if (rt->backend)
        rt->api->backendFree(rt->backend);
    if (rt->so)
        dlclose(rt->so);
    memset(rt, 0, sizeof *rt);
}

/* The slots this shim calls, all present. */
static bool table_complete(const QnnInterfaceImpl_t *t)
{
    return t->backendCreate && t->backendGetApiVersion && t->backendGetBuildId &&
           t->backendFree && t->deviceCreate && t->deviceFree && t->contextCreate &&
           t->contextGetBinarySize && t->contextGetBinary && t->contextCreateFromBinary &&
           t->contextFree && t->graphCreate && t->graphAddNode && t->graphFinalize &&
           t->graphRetrieve && t->graphExecute && t->tensorCreateContextTensor &&
           t->tensorCreateGraphTensor;
}

/* The API this shim was written for: core 2.x from 2.14 on (context
** binaries and graphRetrieve as used here), HTP backend API 5.x. */
static bool version_supported(const Qnn_ApiVersion_t *v)
{
    return v->coreApiVersion.major == 2 && v->coreApiVersion.minor >= 14 &&
           v->backendApiVersion.major == 5;
}

#define V3(v) (unsigned)(v).major, (unsigned)(v).minor, (unsigned)(v).patch

/* Load the library, pick its HTP provider, check the version, create a
** backend and a device. 0, or -1 with the reason in `why`. */
static int runtime_open(QnnRuntime *rt, char *why, size_t len)
{
    memset(rt, 0, sizeof *rt);
    dlerror();
    rt->so = dlopen(cfg_library, RTLD_NOW | RTLD_LOCAL);
    if (!rt->so) {
        const char *e = dlerror();
        snprintf(why, len, "%s", e ? e : "dlopen failed");
        return -1;
    }
    void *sym = dlsym(rt->so, QNN_INTERFACE_GET_PROVIDERS);
    if (!sym) {
        snprintf(why, len, "%s: no symbol " QNN_INTERFACE_GET_PROVIDERS, cfg_library);
        goto fail;
    }
    QnnInterfaceGetProvidersFn_t get;
    memcpy(&get, &sym, sizeof get);
    const QnnInterface_t **list = NULL;
    uint32_t n = 0;
    Qnn_ErrorHandle_t e = get(&list, &n);
    if (e != QNN_SUCCESS || !list || n == 0) {
        snprintf(why, len, "%s: " QNN_INTERFACE_GET_PROVIDERS " failed: error %u (%s), %u providers",
                 cfg_library, (unsigned)QNN_GET_ERROR_CODE(e), qnn_error_name(e), (unsigned)n);
        goto fail;
    }
    const QnnInterface_t *p = NULL;
    for (uint32_t i = 0; i < n && !p; i++)
        if (list[i] && version_supported(&list[i]->apiVersion))
            p = list[i];
    if (!p) {
        const Qnn_ApiVersion_t *v = &list[0]->apiVersion;
        snprintf(why, len, "%s: QNN API %u.%u.%u (backend API %u.%u.%u) not supported: this "
                 "shim needs core API 2.x (>= 2.14) and the HTP backend API 5.x",
                 cfg_library, V3(v->coreApiVersion), V3(v->backendApiVersion));
        goto fail;
    }
    if (!table_complete(&p->v2)) {
        snprintf(why, len, "%s: provider '%s' lacks functions this shim calls", cfg_library,
                 p->providerName ? p->providerName : "?");
        goto fail;
    }
    rt->api = &p->v2;
    rt->version = p->apiVersion;
    const char *build = NULL;
    if (rt->api->backendGetBuildId(&build) != QNN_SUCCESS || !build)
        build = "unknown";
    /* The graphs' layout version last: a shim that composes other graphs
    ** must not load this one's binaries. */
    snprintf(rt->tag, sizeof rt->tag, "qnn %u.%u.%u htp %u.%u.%u build %s; graphs %d",
             V3(rt->version.coreApiVersion), V3(rt->version.backendApiVersion), build,
             QNN_GRAPHS_LAYOUT);
    if ((e = rt->api->backendCreate(NULL, NULL, &rt->backend)) != QNN_SUCCESS) {
        rt->backend = NULL;
        snprintf(why, len, "%s: backendCreate: error %u (%s)", cfg_library,
                 (unsigned)QNN_GET_ERROR_CODE(e), qnn_error_name(e));
        goto fail;
    }
    if ((e = rt->api->deviceCreate(NULL, NULL, &rt->device)) != QNN_SUCCESS) {
        rt->device = NULL;
        snprintf(why, len, "%s: deviceCreate: error %u (%s)", cfg_library,
                 (unsigned)QNN_GET_ERROR_CODE(e), qnn_error_name(e));
        goto fail;
    }
    return 0;
fail:
    runtime_close(rt);
    return -1;
}

/* ------------------------------------------------------------------ types */

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
    Qnn_GraphHandle_t graph[MAX_BUCKETS];
    uint32_t in_id[MAX_BUCKETS], out_id[MAX_BUCKETS];
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
    QnnWeight *weights;           /* every weight on the NPU */
    float *stage_in, *stage_out;  /* [MAX_BUCKET][k], [MAX_BUCKET][n] */
    size_t stage_in_n, stage_out_n;
    bool cache_warned;
    uint32_t n_buffers;
} QnnDevice;

/* --------------------------------------------------------------- config */

static slm_status_t read_config(void)
{
    const char *v = g_host->config_get ? g_host->config_get(g_host->ctx, "library") : NULL;
    if (v && *v)
        snprintf(cfg_library, sizeof cfg_library, "%s", v);
    v = g_host->config_get ? g_host->config_get(g_host->ctx, "min_batch") : NULL;
    if (v) {
        char *end;
        errno = 0;
        long n = strtol(v, &end, 10);
        if (errno || end == v || *end || n < 1 || n > QNN_MAX_DIM)
            return fail(SLM_ERR_CONFIG, QNN_NAME ": min_batch = '%s': not a whole number "
                        "in 1..%d", v, QNN_MAX_DIM);
        cfg_min_batch = (uint32_t)n;
    }
    n_buckets = 0;
    uint32_t first = 1;
    while (first < cfg_min_batch && first < MAX_BUCKET)
        first *= 2;
    if (first < 32)
        buckets[n_buckets++] = first;
    for (uint32_t b = 32; b <= MAX_BUCKET; b *= 2)
        if (b >= first || b == MAX_BUCKET)
            buckets[n_buckets++] = b;
    v = g_host->config_get ? g_host->config_get(g_host->ctx, "cache_dir") : NULL;
    if (v && (strcmp(v, "off") == 0 || !*v))
        cfg_cache_dir[0] = '\0';
    else if (v)
        snprintf(cfg_cache_dir, sizeof cfg_cache_dir, "%s", v);
    else if (qnn_cache_default_dir(cfg_cache_dir, sizeof cfg_cache_dir) != 0)
        cfg_cache_dir[0] = '\0';
    return SLM_OK;
}

/* ---------------------------------------------------------------- devices */

static slm_status_t qnn_probe(slm_device_info_t *infos, uint32_t capacity, uint32_t *n_out)
{
    *n_out = 0;
    slm_status_t st = read_config();
    if (st != SLM_OK || capacity < 1)
        return st;
    QnnRuntime rt;
    char why[1024];
    if (runtime_open(&rt, why, sizeof why) != 0) {
        /* No runtime is an answer, not an error: the host keeps this line
        ** as the reason slm-probe shows. */
        g_host->log(g_host->ctx, SLM_LOG_INFO, why);
        return SLM_OK;
    }
    slm_device_info_t *info = &infos[0];
    info->kind = SLM_DEVICE_NPU;
    info->flags = SLM_DEVICE_FLAG_HOST_MEMORY;
    snprintf(info->name, sizeof info->name, "Qualcomm Hexagon NPU (QNN HTP)");
    snprintf(info->vendor, sizeof info->vendor, "Qualcomm");
    snprintf(info->driver, sizeof info->driver, "QNN %u.%u.%u, HTP API %u.%u.%u",
             V3(rt.version.coreApiVersion), V3(rt.version.backendApiVersion));
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    info->memory_total = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
    for (int t = 0; t < SLM_DTYPE_COUNT; t++)
        if (npu_dtype_known((slm_dtype_t)t))
            info->dtypes |= SLM_DTYPE_BIT(t);
    info->ops = SLM_OP_BIT(SLM_OP_MUL_MAT);
    char bl[64] = "";
    for (uint32_t i = 0, n = 0; i < n_buckets; i++)
        n += (uint32_t)snprintf(bl + n, sizeof bl - n, "%s%u", i ? "," : "", (unsigned)buckets[i]);
    snprintf(info->features, sizeof info->features,
             "qnn=%u.%u.%u htp=%u.%u.%u weights=f16 min_batch=%u buckets=%s cache=%s",
             V3(rt.version.coreApiVersion), V3(rt.version.backendApiVersion),
             (unsigned)cfg_min_batch, bl, cfg_cache_dir[0] ? "on" : "off");
    info->peak_gflops = QNN_FLOPS / 1e9;
    runtime_close(&rt);
    *n_out = 1;
    return SLM_OK;
}

static slm_status_t qnn_device_open(uint32_t index, const slm_device_open_opts_t *opts,
                                    void **out_device)
{
    (void)opts;
    if (index != 0)
        return fail(SLM_ERR_INVALID_ARG, QNN_NAME ": no device %u", (unsigned)index);
    QnnDevice *d = calloc(1, sizeof *d);
    if (!d)
        return fail(SLM_ERR_NO_MEMORY, QNN_NAME ": out of host memory");
    char why[1024];
    if (runtime_open(&d->rt, why, sizeof why) != 0) {
        free(d);
        return fail(SLM_ERR_DEVICE, QNN_NAME ": %s", why);
    }
    *out_device = d;
    return SLM_OK;
}

static void weight_destroy(QnnDevice *d, QnnWeight *w)
{
    if (w->context)
        d->rt.api->contextFree(w->context, NULL);
    free(w);
}

/* Drop b's references; a weight no buffer refers to any more is freed. */
static void weights_release(QnnDevice *d, QnnBuffer *b)
{
    for (uint32_t i = 0; i < b->n_weights; i++) {
        QnnWeight *w = b->weights[i];
        if (--w->refs)
            continue;
        for (QnnWeight **p = &d->weights; *p; p = &(*p)->next)
            if (*p == w) {
                *p = w->next;
                break;
            }
        weight_destroy(d, w);
    }
    free(b->weights);
    b->weights = NULL;
    b->n_weights = b->cap_weights = 0;
}

static void qnn_device_close(void *device)
{
    QnnDevice *d = device;
    if (d->n_buffers)
        logf_(SLM_LOG_WARN, "closed with %u buffers live", (unsigned)d->n_buffers);
    while (d->weights) { /* only when buffers were left live */
        QnnWeight *w = d->weights;
        d->weights = w->next;
        weight_destroy(d, w);
    }
    runtime_close(&d->rt);
    free(d->stage_in);
    free(d->stage_out);
    free(d);
}

/* ---------------------------------------------------------------- buffers */

static slm_status_t qnn_buffer_alloc(void *device, size_t size, slm_buffer_usage_t usage,
                                     void **out_buffer, void **out_base)
{
    QnnDevice *d = device;
    (void)usage;
    *out_buffer = NULL;
    *out_base = NULL;
    QnnBuffer *b = calloc(1, sizeof *b);
    size_t rounded = (size + 63) & ~(size_t)63;
    void *mem = NULL;
    if (!b || rounded < size || posix_memalign(&mem, 64, rounded) != 0) {
        free(b);
        return fail(SLM_ERR_NO_MEMORY, QNN_NAME ": buffer_alloc(%zu bytes): out of memory", size);
    }
    b->base = mem;
    b->size = size;
    b->owned = true;
    d->n_buffers++;
    *out_buffer = b;
    *out_base = b->base;
    return SLM_OK;
}

static slm_status_t qnn_buffer_from_host_ptr(void *device, void *ptr, size_t size,
                                             void **out_buffer)
{
    QnnDevice *d = device;
    QnnBuffer *b = calloc(1, sizeof *b);
    if (!b)
        return fail(SLM_ERR_NO_MEMORY, QNN_NAME ": out of host memory");
    b->base = ptr;
    b->size = size;
    d->n_buffers++;
    *out_buffer = b;
    return SLM_OK;
}

static void qnn_buffer_free(void *device, void *buffer)
{
    QnnDevice *d = device;
    QnnBuffer *b = buffer;
    if (!b)
        return;
    weights_release(d, b);
    if (b->owned)
        free(b->base);
    free(b);
    d->n_buffers--;
}

/* New bytes make every weight converted from this buffer stale. */
static slm_status_t qnn_buffer_write(void *device, void *buffer, size_t offset, const void *src,
                                     size_t size)
{
    QnnBuffer *b = buffer;
    weights_release(device, b);
    memcpy(b->base + offset, src, size);
    return SLM_OK;
}

static slm_status_t qnn_buffer_read(void *device, void *buffer, size_t offset, void *dst,
                                    size_t size)
{
    QnnBuffer *b = buffer;
    (void)device;
    memcpy(dst, b->base + offset, size);
    return SLM_OK;
}

/* ------------------------------------------------------------- placement */

static int64_t rows_of(const slm_tensor_t *t)
{
    return t->ne[1] * t->ne[2] * t->ne[3];
}

/* A pure function of the node: the matmuls the HTP runs well and this shim
** can express. */
static bool qnn_supports_node(void *device, const slm_node_t *node)
{
    (void)device;
    const slm_tensor_t *w = node->src[0], *x = node->src[1], *y = node->dst;
    if (node->op != SLM_OP_MUL_MAT || !w || !x || !y || node->src[2])
        return false;
    if (!(w->flags & SLM_TENSOR_WEIGHT) || !npu_dtype_known(w->dtype) || w->ne[2] != 1 ||
        w->ne[3] != 1 || !slm_tensor_is_contiguous(w))
        return false;
    int64_t k = w->ne[0], n = w->ne[1];
    if (k < 1 || n < 1 || k > QNN_MAX_DIM || n > QNN_MAX_DIM ||
        (uint64_t)k * (uint64_t)n * 2 > QNN_MAX_STATIC_BYTES)
        return false;
    if (x->dtype != SLM_DTYPE_F32 || x->ne[0] != k || y->dtype != SLM_DTYPE_F32 ||
        y->ne[0] != n || y->nb[0] != sizeof(float) || x->nb[0] != sizeof(float))
        return false;
    for (int i = 1; i < SLM_MAX_DIMS; i++)
        if (y->ne[i] != x->ne[i])
            return false;
    return rows_of(x) >= (int64_t)cfg_min_batch;
}

static uint32_t bucket_for(int64_t rows)
{
    for (uint32_t i = 0; i < n_buckets; i++)
        if (rows <= buckets[i])
            return i;
    return n_buckets - 1;
}

static double qnn_node_cost(void *device, const slm_node_t *node)
{
    (void)device;
    const slm_tensor_t *w = node->src[0], *x = node->src[1];
    if (!w || !x)
        return -1.0;
    int64_t m = rows_of(x), calls = (m + MAX_BUCKET - 1) / MAX_BUCKET;
    int64_t last = m - (calls - 1) * MAX_BUCKET;
    double padded = (double)(calls - 1) * MAX_BUCKET + buckets[bucket_for(last)];
    return (double)calls * QNN_CALL_OVERHEAD_S +
           2.0 * padded * (double)w->ne[0] * (double)w->ne[1] / QNN_FLOPS;
}

/* ------------------------------------------------------------ weights */

static void tensor_desc(Qnn_Tensor_t *t, const char *name, Qnn_TensorType_t type,
                        Qnn_DataType_t dtype, uint32_t *dims, void *data, uint32_t bytes)
{
    memset(t, 0, sizeof *t);
    t->version = QNN_TENSOR_VERSION_1;
    t->v1.name = name;
    t->v1.type = type;
    t->v1.dataFormat = QNN_TENSOR_DATA_FORMAT_FLAT_BUFFER;
    t->v1.dataType = dtype;
    t->v1.quantizeParams.encodingDefinition = QNN_DEFINITION_UNDEFINED;
    t->v1.quantizeParams.quantizationEncoding = QNN_QUANTIZATION_ENCODING_UNDEFINED;
    t->v1.rank = 2;
    t->v1.dimensions = dims;
    t->v1.memType = QNN_TENSORMEMTYPE_RAW;
    t->v1.clientBuf.data = data;
    t->v1.clientBuf.dataSize = bytes;
}

#define QNN_CALL(call, what, ...)                                                           \
    do {                                                                                    \
        Qnn_ErrorHandle_t e_ = (call);                                                      \
        if (e_ != QNN_SUCCESS)                                                              \
            return fail(SLM_ERR_DEVICE, QNN_NAME ": " what ": error %u (%s)", __VA_ARGS__,  \
                        (unsigned)QNN_GET_ERROR_CODE(e_), qnn_error_name(e_));              \
    } while (0)

/* Compose and finalize w's context from the F16 data: the weight as a
** STATIC context tensor [n, k], and per bucket b a graph "slm_mm_<b>" with
** x [b, k] F32 -> MatMul(transpose_in1) -> y [b, n] F32. */
static slm_status_t compose(QnnDevice *d, QnnWeight *w, const char *tname, void *f16)
{
    const QnnInterfaceImpl_t *api = d->rt.api;
    QNN_CALL(api->contextCreate(d->rt.backend, d->rt.device, NULL, &w->context),
             "contextCreate for %s", tname);
    uint32_t wdims[2] = {(uint32_t)w->n, (uint32_t)w->k};
    Qnn_Tensor_t wt;
    tensor_desc(&wt, "weight", QNN_TENSOR_TYPE_STATIC, QNN_DATATYPE_FLOAT_16, wdims, f16,
                (uint32_t)(w->n * w->k * 2));
    QNN_CALL(api->tensorCreateContextTensor(w->context, &wt),
             "tensorCreateContextTensor(%s, f16 %u x %u)", tname, wdims[0], wdims[1]);
    QnnHtpGraph_CustomConfig_t precision = {.option = QNN_HTP_GRAPH_CONFIG_OPTION_PRECISION,
                                            .precision = QNN_PRECISION_FLOAT16};
    QnnGraph_Config_t gc = {.option = QNN_GRAPH_CONFIG_OPTION_CUSTOM, .customConfig = &precision};
    const QnnGraph_Config_t *configs[] = {&gc, NULL};
    for (uint32_t i = 0; i < n_buckets; i++) {
        char gname[32], xname[32], yname[32];
        snprintf(gname, sizeof gname, "slm_mm_%u", (unsigned)buckets[i]);
        snprintf(xname, sizeof xname, "x_%u", (unsigned)buckets[i]);
        snprintf(yname, sizeof yname, "y_%u", (unsigned)buckets[i]);
        QNN_CALL(api->graphCreate(w->context, gname, configs, &w->graph[i]),
                 "graphCreate(%s, %s)", tname, gname);
        uint32_t xdims[2] = {buckets[i], (uint32_t)w->k}, ydims[2] = {buckets[i], (uint32_t)w->n};
        Qnn_Tensor_t io[2];
        tensor_desc(&io[0], xname, QNN_TENSOR_TYPE_APP_WRITE, QNN_DATATYPE_FLOAT_32, xdims, NULL, 0);
        tensor_desc(&io[1], yname, QNN_TENSOR_TYPE_APP_READ, QNN_DATATYPE_FLOAT_32, ydims, NULL, 0);
        for (int j = 0; j < 2; j++)
            QNN_CALL(api->tensorCreateGraphTensor(w->graph[i], &io[j]),
                     "tensorCreateGraphTensor(%s, %s)", tname, io[j].v1.name);
        w->in_id[i] = io[0].v1.id;
        w->out_id[i] = io[1].v1.id;
        Qnn_Param_t param = {.paramType = QNN_PARAMTYPE_SCALAR,
                             .name = QNN_OP_MAT_MUL_PARAM_TRANSPOSE_IN1,
                             .scalarParam = {.dataType = QNN_DATATYPE_BOOL_8, .bool8Value = 1}};
        Qnn_Tensor_t ins[2] = {io[0], wt};
        Qnn_OpConfig_t op = {.version = QNN_OPCONFIG_VERSION_1,
                             .v1 = {.name = "matmul",
                                    .packageName = QNN_OP_PACKAGE_NAME_QTI_AISW,
                                    .typeName = QNN_OP_MAT_MUL,
                                    .numOfParams = 1,
                                    .params = &param,
                                    .numOfInputs = 2,
                                    .inputTensors = ins,
                                    .numOfOutputs = 1,
                                    .outputTensors = &io[1]}};
        QNN_CALL(api->graphAddNode(w->graph[i], op), "graphAddNode(%s, MatMul [%u x %u] x "
                 "[%u x %u]^T)", tname, xdims[0], xdims[1], wdims[0], wdims[1]);
        QNN_CALL(api->graphFinalize(w->graph[i], NULL, NULL), "graphFinalize(%s, %s)", tname,
                 gname);
    }
    return SLM_OK;
}

/* Load w's context from a cached binary; false (after logging why at INFO)
** when it cannot be used, leaving w without a context. */
static bool load_cached(QnnDevice *d, QnnWeight *w, const char *tname, const char *path,
                        const qnn_cache_header *want, qnn_cache_header *got)
{
    void *bin = NULL;
    char why[1024];
    int rc = qnn_cache_read(path, want, got, &bin, why, sizeof why);
    if (rc == 0)
        return false;
    if (rc < 0) {
        logf_(SLM_LOG_INFO, "cache %s for %s refused: %s; rebuilding", path, tname,
              why);
        return false;
    }
    const QnnInterfaceImpl_t *api = d->rt.api;
    Qnn_ErrorHandle_t e = api->contextCreateFromBinary(d->rt.backend, d->rt.device, NULL, bin,
                                                       got->payload_size, &w->context, NULL);
    free(bin);
    if (e != QNN_SUCCESS) {
        w->context = NULL;
        logf_(SLM_LOG_INFO, "cache %s for %s refused by contextCreateFromBinary: "
              "error %u (%s); rebuilding", path, tname, (unsigned)QNN_GET_ERROR_CODE(e),
              qnn_error_name(e));
        return false;
    }
    for (uint32_t i = 0; i < n_buckets; i++) {
        char gname[32];
        snprintf(gname, sizeof gname, "slm_mm_%u", (unsigned)buckets[i]);
        e = api->graphRetrieve(w->context, gname, &w->graph[i]);
        if (e != QNN_SUCCESS) {
            logf_(SLM_LOG_INFO, "cache %s for %s: graphRetrieve(%s): error %u (%s); "
                  "rebuilding", path, tname, gname, (unsigned)QNN_GET_ERROR_CODE(e),
                  qnn_error_name(e));
            api->contextFree(w->context, NULL);
            w->context = NULL;
            return false;
        }
        w->in_id[i] = got->in_id[i];
        w->out_id[i] = got->out_id[i];
    }
    return true;
}

/* Save w's finalized context; a failure costs only the next start's time,
** so it is logged (once per device) and the run goes on. */
static void store_cached(QnnDevice *d, QnnWeight *w, const char *path, qnn_cache_header *h)
{
    const QnnInterfaceImpl_t *api = d->rt.api;
    Qnn_ContextBinarySize_t size = 0, written = 0;
    char why[1024] = "";
    void *bin = NULL;
    Qnn_ErrorHandle_t e = api->contextGetBinarySize(w->context, &size);
    if (e != QNN_SUCCESS || size == 0)
        snprintf(why, sizeof why, "contextGetBinarySize: error %u (%s)",
                 (unsigned)QNN_GET_ERROR_CODE(e), qnn_error_name(e));
    else if (!(bin = malloc((size_t)size)))
        snprintf(why, sizeof why, "out of memory for %llu bytes", (unsigned long long)size);
    else if ((e = api->contextGetBinary(w->context, bin, size, &written)) != QNN_SUCCESS ||
             written == 0 || written > size)
        snprintf(why, sizeof why, "contextGetBinary: error %u (%s)",
                 (unsigned)QNN_GET_ERROR_CODE(e), qnn_error_name(e));
    if (!why[0]) {
        for (uint32_t i = 0; i < n_buckets; i++) {
            h->in_id[i] = w->in_id[i];
            h->out_id[i] = w->out_id[i];
        }
        h->payload_size = written;
        h->payload_hash = qnn_hash(bin, (size_t)written);
        qnn_cache_write(cfg_cache_dir, path, h, bin, why, sizeof why);
    }
    free(bin);
    if (why[0] && !d->cache_warned) {
        d->cache_warned = true;
        logf_(SLM_LOG_WARN, "context binary not cached (%s): the next start "
              "finalizes again", why);
    }
}

/* The NPU form of weight tensor t, made (or loaded from the disk cache)
** on first use and kept on its buffer. */
static slm_status_t weight_ref(QnnBuffer *b, QnnWeight *w)
{
    if (b->n_weights == b->cap_weights) {
        uint32_t cap = b->cap_weights ? 2 * b->cap_weights : 8;
        QnnWeight **p = realloc(b->weights, cap * sizeof *p);
        if (!p)
            return fail(SLM_ERR_NO_MEMORY, QNN_NAME ": out of host memory");
        b->weights = p;
        b->cap_weights = cap;
    }
    b->weights[b->n_weights++] = w;
    w->refs++;
    return SLM_OK;
}

static bool weight_is(const QnnWeight *w, const slm_tensor_t *t)
{
    return w->data == t->data && w->dtype == t->dtype && w->k == t->ne[0] && w->n == t->ne[1];
}

static slm_status_t weight_get(QnnDevice *d, const slm_tensor_t *t, QnnWeight **out)
{
    QnnBuffer *b = t->buffer;
    for (uint32_t i = 0; i < b->n_weights; i++)
        if (weight_is(b->weights[i], t)) {
            *out = b->weights[i];
            return SLM_OK;
        }
    for (QnnWeight *w = d->weights; w; w = w->next)
        if (weight_is(w, t)) {
            *out = w;
            return weight_ref(b, w);
        }
    const char *tname = t->name[0] ? t->name : "(unnamed weight)";
    QnnWeight *w = calloc(1, sizeof *w);
    if (!w)
        return fail(SLM_ERR_NO_MEMORY, QNN_NAME ": out of host memory");
    w->data = t->data;
    w->dtype = t->dtype;
    w->k = t->ne[0];
    w->n = t->ne[1];
    size_t bytes = slm_tensor_row_bytes(t) * (size_t)w->n;

    qnn_cache_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, "SLMQNNC1", 8);
    h.format = 1;
    h.dtype = (uint32_t)t->dtype;
    snprintf(h.runtime, sizeof h.runtime, "%s", d->rt.tag);
    h.k = (uint32_t)w->k;
    h.n = (uint32_t)w->n;
    h.n_buckets = n_buckets;
    for (uint32_t i = 0; i < n_buckets; i++)
        h.buckets[i] = buckets[i];
    char path[1400] = "";
    qnn_cache_header got;
    bool cached = false;
    if (cfg_cache_dir[0]) {
        h.weight_hash = qnn_hash(t->data, bytes);
        qnn_cache_path(path, sizeof path, cfg_cache_dir, &h);
        cached = load_cached(d, w, tname, path, &h, &got);
    }
    char fmt[32];
    if (cached) {
        logf_(SLM_LOG_INFO, "%s %s %lldx%lld -> f16 nmse %.2g max_abs %.2g "
              "(finalized graphs loaded from %s)", tname, slm_dtype_name(t->dtype),
              (long long)w->k, (long long)w->n, got.nmse, got.max_abs, path);
    } else {
        npu_weights_t cw;
        char err[256];
        if (npu_weights_convert(t->data, t->dtype, w->k, w->n, t->nb[1], NPU_W_F16, 0, &cw, err,
                                sizeof err) != 0) {
            free(w);
            return fail(SLM_ERR_DEVICE, QNN_NAME ": %s: %s", tname, err);
        }
        slm_status_t st = compose(d, w, tname, cw.data);
        h.nmse = cw.nmse;
        h.max_abs = cw.max_abs;
        if (st == SLM_OK)
            logf_(SLM_LOG_INFO, "%s %s %lldx%lld -> %s %s%.2g max_abs %.2g "
                  "(%u graphs finalized)", tname, slm_dtype_name(t->dtype), (long long)w->k,
                  (long long)w->n, npu_wformat_describe(&cw, fmt, sizeof fmt),
                  cw.nmse == 0.0 ? "lossless, nmse " : "nmse ", cw.nmse, cw.max_abs,
                  (unsigned)n_buckets);
        npu_weights_free(&cw);
        if (st != SLM_OK) {
            weight_destroy(d, w);
            return st;
        }
        if (cfg_cache_dir[0])
            store_cached(d, w, path, &h);
    }
    slm_status_t st = weight_ref(b, w);
    if (st != SLM_OK) {
        weight_destroy(d, w);
        return st;
    }
    w->next = d->weights;
    d->weights = w;
    *out = w;
    return SLM_OK;
}

/* --------------------------------------------------------------- compute */

static slm_status_t stage_reserve(QnnDevice *d, int64_t k, int64_t n)
{
    size_t need_in = (size_t)MAX_BUCKET * (size_t)k, need_out = (size_t)MAX_BUCKET * (size_t)n;
    if (need_in > d->stage_in_n) {
        float *p = realloc(d->stage_in, need_in * sizeof *p);
        if (!p)
            return fail(SLM_ERR_NO_MEMORY, QNN_NAME ": out of host memory for staging");
        d->stage_in = p;
        d->stage_in_n = need_in;
    }
    if (need_out > d->stage_out_n) {
        float *p = realloc(d->stage_out, need_out * sizeof *p);
        if (!p)
            return fail(SLM_ERR_NO_MEMORY, QNN_NAME ": out of host memory for staging");
        d->stage_out = p;
        d->stage_out_n = need_out;
    }
    return SLM_OK;
}

/* Address of row r (over ne[1..3]) of t. */
static unsigned char *row_at(const slm_tensor_t *t, int64_t r)
{
    int64_t i1 = r % t->ne[1], i2 = (r / t->ne[1]) % t->ne[2], i3 = r / (t->ne[1] * t->ne[2]);
    return (unsigned char *)t->data + (size_t)i1 * t->nb[1] + (size_t)i2 * t->nb[2] +
           (size_t)i3 * t->nb[3];
}

static slm_status_t run_mul_mat(QnnDevice *d, const slm_node_t *node)
{
    const slm_tensor_t *wt = node->src[0], *x = node->src[1], *y = node->dst;
    QnnWeight *w;
    slm_status_t st = weight_get(d, wt, &w);
    if (st == SLM_OK)
        st = stage_reserve(d, w->k, w->n);
    if (st != SLM_OK)
        return st;
    int64_t m = rows_of(x), k = w->k, n = w->n;
    for (int64_t r0 = 0; r0 < m; r0 += MAX_BUCKET) {
        int64_t rows = m - r0 < MAX_BUCKET ? m - r0 : MAX_BUCKET;
        uint32_t bi = bucket_for(rows), b = buckets[bi];
        for (int64_t r = 0; r < rows; r++) {
            float *row = d->stage_in + (size_t)r * (size_t)k;
            memcpy(row, row_at(x, r0 + r), (size_t)k * sizeof(float)); /* nb[0] == 4 */
            npu_act_row(wt->dtype, row, k);
        }
        memset(d->stage_in + (size_t)rows * (size_t)k, 0,
               (size_t)(b - rows) * (size_t)k * sizeof(float));
        uint32_t xdims[2] = {b, (uint32_t)k}, ydims[2] = {b, (uint32_t)n};
        Qnn_Tensor_t in, out;
        char xname[32], yname[32];
        snprintf(xname, sizeof xname, "x_%u", (unsigned)b);
        snprintf(yname, sizeof yname, "y_%u", (unsigned)b);
        tensor_desc(&in, xname, QNN_TENSOR_TYPE_APP_WRITE, QNN_DATATYPE_FLOAT_32, xdims,
                    d->stage_in, (uint32_t)((size_t)b * (size_t)k * sizeof(float)));
        tensor_desc(&out, yname, QNN_TENSOR_TYPE_APP_READ, QNN_DATATYPE_FLOAT_32, ydims,
                    d->stage_out, (uint32_t)((size_t)b * (size_t)n * sizeof(float)));
        in.v1.id = w->in_id[bi];
        out.v1.id = w->out_id[bi];
        Qnn_ErrorHandle_t e = d->rt.api->graphExecute(w->graph[bi], &in, 1, &out, 1, NULL, NULL);
        if (e != QNN_SUCCESS)
            return fail(SLM_ERR_DEVICE, QNN_NAME ": graphExecute(%s, slm_mm_%u, rows %lld..%lld "
                        "of %lld): error %u (%s)", wt->name[0] ? wt->name : "(unnamed weight)",
                        (unsigned)b, (long long)r0, (long long)(r0 + rows - 1), (long long)m,
                        (unsigned)QNN_GET_ERROR_CODE(e), qnn_error_name(e));
        for (int64_t r = 0; r < rows; r++)
            memcpy(row_at(y, r0 + r), d->stage_out + (size_t)r * (size_t)n,
                   (size_t)n * sizeof(float));
    }
    return SLM_OK;
}

static slm_status_t qnn_graph_compute(void *device, const slm_graph_t *graph)
{
    QnnDevice *d = device;
    for (uint32_t i = 0; i < graph->n_nodes; i++) {
        const slm_node_t *node = &graph->nodes[i];
        if (!qnn_supports_node(d, node))
            return fail(SLM_ERR_UNSUPPORTED, QNN_NAME ": node %u: %s of these types and shapes "
                        "not supported", (unsigned)i, slm_op_name(node->op));
        slm_status_t st = run_mul_mat(d, node);
        if (st != SLM_OK)
            return st;
    }
    return SLM_OK;
}

/* ------------------------------------------------------------- descriptor */

static const slm_config_key_t qnn_config_keys[] = {
    {"library", "the QNN HTP backend library to dlopen (default libQnnHtp.so)"},
    {"min_batch", "fewest activation rows a matmul needs to run on the NPU (default 32)"},
    {"cache_dir", "folder of finalized context binaries, or off (default "
                  "$XDG_CACHE_HOME/slm/qnn)"},
};

static const slm_backend_t qnn_backend = {
    .abi_major = SLM_BACKEND_ABI_MAJOR,
    .abi_minor = 0,
    .struct_size = SLM_BACKEND_SIZE_1_0,
    .name = QNN_NAME,
    .version = "0.1.0",
    .description = "Qualcomm Hexagon NPU through QNN's HTP backend (libQnnHtp.so): prompt "
                   "matmuls in float16",
    .config_keys = qnn_config_keys,
    .n_config_keys = sizeof qnn_config_keys / sizeof qnn_config_keys[0],
    .probe = qnn_probe,
    .device_open = qnn_device_open,
    .device_close = qnn_device_close,
    .buffer_alloc = qnn_buffer_alloc,
    .buffer_free = qnn_buffer_free,
    .buffer_write = qnn_buffer_write,
    .buffer_read = qnn_buffer_read,
    .supports_node = qnn_supports_node,
    .graph_compute = qnn_graph_compute,
    .buffer_from_host_ptr = qnn_buffer_from_host_ptr,
    .node_cost = qnn_node_cost,
};

SLM_PLUGIN_EXPORT slm_status_t slm_plugin_init(const slm_host_t *host, const slm_backend_t **out)
{
    slm_status_t st = slm_plugin_check_host(host, out, QNN_NAME);
    if (st != SLM_OK)
        return st;
    g_host = host;
    *out = &qnn_backend;
    return SLM_OK;
}
