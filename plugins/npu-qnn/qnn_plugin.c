/*
** qnn_plugin.c -- npu-qnn: the Qualcomm Hexagon NPU (QNN HTP backend) as
** an slm backend plugin, a shim over the vendor's libQnnHtp.so.
**
** The runtime is loaded at probe time with dlopen, never linked: without it
** (or with one whose API version this shim does not speak) the plugin
** reports no device and says why in one log line. What it offloads: MUL_MAT
** of a 2-D weight (any dtype npu_weights knows) by F32 activations with at
** least `min_batch` rows -- prompt processing. Decode (one row) stays on the
** CPU, where it is faster: each graphExecute is a round trip to the DSP
** (~0.1-0.5 ms), more than a one-row matmul of a small model costs there.
** How a matmul runs on the NPU: qnn_matmul.c.
**
** This file: the runtime, configuration, probe, devices, buffers, which
** nodes and at what cost, the descriptor.
**
** Config ([backend.npu-qnn]): library, min_batch, cache_dir.
*/
#define _POSIX_C_SOURCE 200809L

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qnn_internal.h"

#define QNN_DEFAULT_LIBRARY "libQnnHtp.so"
#define QNN_DEFAULT_MIN_BATCH 32

/* Cost model (node_cost, seconds): a fixed cost per graphExecute (RPC to
** the DSP, cache maintenance) plus the float16 work at a sustained rate. */
#define QNN_CALL_OVERHEAD_S 2.5e-4
#define QNN_FLOPS 1.0e12

/* Set by slm_plugin_init before any other call; read-only afterwards. */
const slm_host_t *qnn_host;

slm_status_t qnn_fail(slm_status_t status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    qnn_host->set_error(qnn_host->ctx, msg);
    return status;
}

void qnn_log(int level, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    qnn_host->log(qnn_host->ctx, level, msg);
}

const char *qnn_error_name(Qnn_ErrorHandle_t e)
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

/* Load `library`, pick its HTP provider, check the version, create a
** backend and a device. 0, or -1 with the reason in `why`. */
static int runtime_open(QnnRuntime *rt, const char *library, char *why, size_t len)
{
    memset(rt, 0, sizeof *rt);
    dlerror();
    rt->so = dlopen(library, RTLD_NOW | RTLD_LOCAL);
    if (!rt->so) {
        const char *e = dlerror();
        snprintf(why, len, "%s", e ? e : "dlopen failed");
        return -1;
    }
    void *sym = dlsym(rt->so, QNN_INTERFACE_GET_PROVIDERS);
    if (!sym) {
        snprintf(why, len, "%s: no symbol " QNN_INTERFACE_GET_PROVIDERS, library);
        goto fail;
    }
    QnnInterfaceGetProvidersFn_t get;
    memcpy(&get, &sym, sizeof get); /* object to function pointer */
    const QnnInterface_t **list = NULL;
    uint32_t n = 0;
    Qnn_ErrorHandle_t e = get(&list, &n);
    if (e != QNN_SUCCESS || !list || n == 0) {
        snprintf(why, len, "%s: " QNN_INTERFACE_GET_PROVIDERS " failed: error %u (%s), %u providers",
                 library, (unsigned)QNN_GET_ERROR_CODE(e), qnn_error_name(e), (unsigned)n);
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
                 library, V3(v->coreApiVersion), V3(v->backendApiVersion));
        goto fail;
    }
    if (!table_complete(&p->v2)) {
        snprintf(why, len, "%s: provider '%s' lacks functions this shim calls", library,
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
        snprintf(why, len, "%s: backendCreate: error %u (%s)", library,
                 (unsigned)QNN_GET_ERROR_CODE(e), qnn_error_name(e));
        goto fail;
    }
    if ((e = rt->api->deviceCreate(NULL, NULL, &rt->device)) != QNN_SUCCESS) {
        rt->device = NULL;
        snprintf(why, len, "%s: deviceCreate: error %u (%s)", library,
                 (unsigned)QNN_GET_ERROR_CODE(e), qnn_error_name(e));
        goto fail;
    }
    return 0;
fail:
    runtime_close(rt);
    return -1;
}

/* --------------------------------------------------------------- config */

/* A key of this plugin's section, or NULL when not set. */
static const char *config_value(const char *key)
{
    return qnn_host->config_get ? qnn_host->config_get(qnn_host->ctx, key) : NULL;
}

/* Read the section into *c, defaults for what it leaves out. */
static slm_status_t read_config(QnnConfig *c)
{
    memset(c, 0, sizeof *c);
    const char *v = config_value("library");
    snprintf(c->library, sizeof c->library, "%s", v && *v ? v : QNN_DEFAULT_LIBRARY);
    c->min_batch = QNN_DEFAULT_MIN_BATCH;
    if ((v = config_value("min_batch"))) {
        char *end;
        errno = 0;
        long n = strtol(v, &end, 10);
        if (errno || end == v || *end || n < 1 || n > QNN_MAX_DIM)
            return qnn_fail(SLM_ERR_CONFIG, QNN_NAME ": min_batch = '%s': not a whole number "
                            "in 1..%d", v, QNN_MAX_DIM);
        c->min_batch = (uint32_t)n;
    }
    v = config_value("cache_dir");
    if (v && (strcmp(v, "off") == 0 || !*v))
        c->cache_dir[0] = '\0';
    else if (v)
        snprintf(c->cache_dir, sizeof c->cache_dir, "%s", v);
    else if (qnn_cache_default_dir(c->cache_dir, sizeof c->cache_dir) != 0)
        c->cache_dir[0] = '\0';
    return SLM_OK;
}

/* The row buckets for min_batch (qnn_internal.h says which); their count. */
static uint32_t buckets_for(uint32_t min_batch, uint32_t out[QNN_MAX_BUCKETS])
{
    uint32_t n = 0, first = 1;
    while (first < min_batch && first < QNN_MAX_BUCKET)
        first *= 2;
    if (first < 32)
        out[n++] = first;
    for (uint32_t b = 32; b <= QNN_MAX_BUCKET; b *= 2)
        if (b >= first) /* first <= QNN_MAX_BUCKET: the last is always kept */
            out[n++] = b;
    return n;
}

uint32_t qnn_bucket_for(const QnnDevice *d, int64_t rows)
{
    for (uint32_t i = 0; i < d->n_buckets; i++)
        if (rows <= d->buckets[i])
            return i;
    return d->n_buckets - 1;
}

/* ---------------------------------------------------------------- devices */

static slm_status_t qnn_probe(slm_device_info_t *infos, uint32_t capacity, uint32_t *n_out)
{
    *n_out = 0;
    QnnConfig cfg;
    slm_status_t st = read_config(&cfg);
    if (st != SLM_OK || capacity < 1)
        return st;
    QnnRuntime rt;
    char why[1024];
    if (runtime_open(&rt, cfg.library, why, sizeof why) != 0) {
        /* No runtime is an answer, not an error: the host keeps this line
        ** as the reason slm-probe shows. */
        qnn_host->log(qnn_host->ctx, SLM_LOG_INFO, why);
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
    uint32_t buckets[QNN_MAX_BUCKETS], n_buckets = buckets_for(cfg.min_batch, buckets);
    char bl[64] = "";
    for (uint32_t i = 0, n = 0; i < n_buckets; i++)
        n += (uint32_t)snprintf(bl + n, sizeof bl - n, "%s%u", i ? "," : "", (unsigned)buckets[i]);
    snprintf(info->features, sizeof info->features,
             "qnn=%u.%u.%u htp=%u.%u.%u weights=f16 min_batch=%u buckets=%s cache=%s",
             V3(rt.version.coreApiVersion), V3(rt.version.backendApiVersion),
             (unsigned)cfg.min_batch, bl, cfg.cache_dir[0] ? "on" : "off");
    info->peak_gflops = QNN_FLOPS / 1e9;
    runtime_close(&rt);
    *n_out = 1;
    return SLM_OK;
}

/* The config is read again rather than kept from probe: the device holds
** its own copy, and the plugin no state but the host pointer. */
static slm_status_t qnn_device_open(uint32_t index, const slm_device_open_opts_t *opts,
                                    void **out_device)
{
    (void)opts;
    if (index != 0)
        return qnn_fail(SLM_ERR_INVALID_ARG, QNN_NAME ": no device %u", (unsigned)index);
    QnnDevice *d = calloc(1, sizeof *d);
    if (!d)
        return qnn_fail(SLM_ERR_NO_MEMORY, QNN_NAME ": out of host memory");
    slm_status_t st = read_config(&d->cfg);
    if (st != SLM_OK) {
        free(d);
        return st;
    }
    d->n_buckets = buckets_for(d->cfg.min_batch, d->buckets);
    char why[1024];
    if (runtime_open(&d->rt, d->cfg.library, why, sizeof why) != 0) {
        free(d);
        return qnn_fail(SLM_ERR_DEVICE, QNN_NAME ": %s", why);
    }
    *out_device = d;
    return SLM_OK;
}

static void qnn_device_close(void *device)
{
    QnnDevice *d = device;
    if (d->n_buffers)
        qnn_log(SLM_LOG_WARN, "closed with %u buffers live", (unsigned)d->n_buffers);
    qnn_weights_destroy_all(d);
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
        return qnn_fail(SLM_ERR_NO_MEMORY, QNN_NAME ": buffer_alloc(%zu bytes): out of memory",
                        size);
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
        return qnn_fail(SLM_ERR_NO_MEMORY, QNN_NAME ": out of host memory");
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
    qnn_weights_release(d, b);
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
    qnn_weights_release(device, b);
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

int64_t qnn_rows_of(const slm_tensor_t *t)
{
    return t->ne[1] * t->ne[2] * t->ne[3];
}

/* A pure function of the node (and the device's min_batch): the matmuls
** the HTP runs well and this shim can express. */
bool qnn_supports_node(void *device, const slm_node_t *node)
{
    const QnnDevice *d = device;
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
    return qnn_rows_of(x) >= (int64_t)d->cfg.min_batch;
}

/* Tiles of QNN_MAX_BUCKET rows, the last padded to its bucket. */
static double qnn_node_cost(void *device, const slm_node_t *node)
{
    const QnnDevice *d = device;
    const slm_tensor_t *w = node->src[0], *x = node->src[1];
    if (!w || !x)
        return -1.0;
    int64_t m = qnn_rows_of(x), calls = (m + QNN_MAX_BUCKET - 1) / QNN_MAX_BUCKET;
    int64_t last = m - (calls - 1) * QNN_MAX_BUCKET;
    double padded = (double)(calls - 1) * QNN_MAX_BUCKET + d->buckets[qnn_bucket_for(d, last)];
    return (double)calls * QNN_CALL_OVERHEAD_S +
           2.0 * padded * (double)w->ne[0] * (double)w->ne[1] / QNN_FLOPS;
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
    qnn_host = host;
    *out = &qnn_backend;
    return SLM_OK;
}
