/*
** rknn_plugin.c -- the npu-rknn backend: Rockchip's NPU (RK3562, RK3566,
** RK3568, RK3576, RK3588) through the matmul API of its runtime,
** librknnrt.so, which is dlopened at probe time and never linked.
**
** It takes MUL_MAT nodes whose first source is a 2-D weight matrix and
** whose batch has at least `min_batch` rows (a prompt), and leaves every
** other node to the CPU: the NPU wins on prompt batches, while a decode
** step (one row) costs more in per-call overhead than the CPU spends on it.
** Weights are converted once, the first time a graph uses them, into F16
** or int8/int4 with one scale per 32 elements (rknn_matmul.c); activations
** go to the NPU as F16 and results come back as F32.
**
** This file: configuration, probe, devices, buffers, which nodes.
*/
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rknn_internal.h"

#define RK_DEFAULT_LIBRARY "librknnrt.so"
#define RK_DEFAULT_MIN_BATCH 32

/* Set by slm_plugin_init before any other call; read-only afterwards. */
const slm_host_t *rk_host;

slm_status_t rk_fail(slm_status_t status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rk_host->set_error(rk_host->ctx, msg);
    return status;
}

void rk_log(int level, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rk_host->log(rk_host->ctx, level, msg);
}

const char *rk_strerror(int code)
{
    switch (code) {
    case RKNN_SUCC: return "RKNN_SUCC";
    case RKNN_ERR_FAIL: return "RKNN_ERR_FAIL";
    case RKNN_ERR_TIMEOUT: return "RKNN_ERR_TIMEOUT";
    case RKNN_ERR_DEVICE_UNAVAILABLE: return "RKNN_ERR_DEVICE_UNAVAILABLE";
    case RKNN_ERR_MALLOC_FAIL: return "RKNN_ERR_MALLOC_FAIL";
    case RKNN_ERR_PARAM_INVALID: return "RKNN_ERR_PARAM_INVALID";
    case RKNN_ERR_MODEL_INVALID: return "RKNN_ERR_MODEL_INVALID";
    case RKNN_ERR_CTX_INVALID: return "RKNN_ERR_CTX_INVALID";
    case RKNN_ERR_INPUT_INVALID: return "RKNN_ERR_INPUT_INVALID";
    case RKNN_ERR_OUTPUT_INVALID: return "RKNN_ERR_OUTPUT_INVALID";
    case RKNN_ERR_DEVICE_UNMATCH: return "RKNN_ERR_DEVICE_UNMATCH";
    default: return "unknown RKNN status";
    }
}

/* --------------------------------------------------------- configuration */

static const slm_config_key_t config_keys[] = {
    {"library", "the RKNN runtime to load (default librknnrt.so, found by the "
                "library search path)"},
    {"min_batch", "offload a matmul only when its batch has at least this many rows "
                  "(default 32: prompts go to the NPU, decode steps stay on the CPU)"},
    {"weights", "weight format on the NPU: auto (Q4_0 as int4, Q8_0 as int8, both "
                "lossless, the rest as f16), f16, int8 or int4 (requantised, lossy; "
                "default auto)"},
};

typedef struct rk_config {
    const char *library;
    int64_t min_batch;
    rk_wmode wmode;
} rk_config;

static slm_status_t read_config(rk_config *c)
{
    const char *lib = rk_host->config_get(rk_host->ctx, "library");
    const char *mb = rk_host->config_get(rk_host->ctx, "min_batch");
    const char *wm = rk_host->config_get(rk_host->ctx, "weights");
    c->library = lib && *lib ? lib : RK_DEFAULT_LIBRARY;
    c->min_batch = RK_DEFAULT_MIN_BATCH;
    if (mb) {
        char *end;
        long long v = strtoll(mb, &end, 10);
        if (end == mb || *end || v < 1 || v > 1000000)
            return rk_fail(SLM_ERR_CONFIG, RK_NAME ": min_batch = \"%s\": not a whole number "
                           "from 1 to 1000000", mb);
        c->min_batch = v;
    }
    c->wmode = RK_W_AUTO;
    if (wm) {
        static const char *const names[] = {"auto", "f16", "int8", "int4"};
        int i = 0;
        while (i < 4 && strcmp(wm, names[i]) != 0)
            i++;
        if (i == 4)
            return rk_fail(SLM_ERR_CONFIG, RK_NAME ": weights = \"%s\": not one of auto, f16, "
                           "int8, int4", wm);
        c->wmode = (rk_wmode)i;
    }
    return SLM_OK;
}

/* ----------------------------------------------------------------- loader */

/* dlopen the runtime and look up every function the shim calls. NULL with
** the reason in `why` when that fails. */
static bool load_api(const char *library, rk_api *api, char *why, size_t n)
{
    memset(api, 0, sizeof *api);
    api->so = dlopen(library, RTLD_NOW | RTLD_LOCAL);
    if (!api->so) {
        const char *e = dlerror();
        snprintf(why, n, "%s", e ? e : "dlopen failed");
        return false;
    }
    static const struct {
        const char *name;
        size_t at;
    } syms[] = {
        {"rknn_matmul_create", offsetof(rk_api, matmul_create)},
        {"rknn_matmul_set_io_mem", offsetof(rk_api, matmul_set_io_mem)},
        {"rknn_matmul_set_quant_params", offsetof(rk_api, matmul_set_quant_params)},
        {"rknn_matmul_run", offsetof(rk_api, matmul_run)},
        {"rknn_matmul_destroy", offsetof(rk_api, matmul_destroy)},
        {"rknn_create_mem", offsetof(rk_api, create_mem)},
        {"rknn_destroy_mem", offsetof(rk_api, destroy_mem)},
        {"rknn_mem_sync", offsetof(rk_api, mem_sync)},
        {"rknn_query", offsetof(rk_api, query)},
    };
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        dlerror();
        void *p = dlsym(api->so, syms[i].name);
        if (!p) {
            const char *e = dlerror();
            snprintf(why, n, "%s: no %s (%s): not the RKNN runtime with the matmul API",
                     library, syms[i].name, e ? e : "not found");
            dlclose(api->so);
            api->so = NULL;
            return false;
        }
        memcpy((char *)api + syms[i].at, &p, sizeof p); /* object to function pointer */
    }
    return true;
}

/* ----------------------------------------------------------------- probe */

/* What probe found, for device_open (probe runs first, once). */
static struct {
    rk_config config;
    unsigned formats;
    char api_version[64], drv_version[64];
} found;

/* Create and destroy a context of one type, 1 x 32 x 64: 0 or the status. */
static int try_type(const rk_api *api, int type, int b_layout, int quant, int group)
{
    rknn_abi_matmul_info info;
    rknn_abi_io_attr io;
    memset(&info, 0, sizeof info);
    memset(&io, 0, sizeof io);
    info.M = 1;
    info.K = 32;
    info.N = 64;
    info.type = type;
    info.B_layout = (int16_t)b_layout;
    info.B_quant_type = (int16_t)quant;
    info.group_size = (int16_t)group;
    rknn_abi_ctx ctx = 0;
    int st = api->matmul_create(&ctx, &info, &io);
    if (st == RKNN_SUCC)
        api->matmul_destroy(ctx);
    return st;
}

/* "2.3.0 (c949ad889d@2024-11-07T11:35:33)" -> 2, 3, 0; false if it does not
** start with a version. */
static bool parse_version(const char *s, int v[3])
{
    return sscanf(s, "%d.%d.%d", &v[0], &v[1], &v[2]) == 3;
}

/* Ask the runtime what it is, with a tiny context; fill `found`. false with
** the reason when it is no runtime the shim can drive. */
static bool inspect_runtime(const rk_api *api, char *why, size_t n)
{
    /* The first context keeps every layout and quantisation field zero:
    ** runtimes before 2.0 lay out rknn_matmul_info differently, and zeros
    ** read the same in both, so the version can be asked safely. */
    rknn_abi_matmul_info info;
    rknn_abi_io_attr io;
    memset(&info, 0, sizeof info);
    memset(&io, 0, sizeof io);
    info.M = 1;
    info.K = 32;
    info.N = 64;
    info.type = RKNN_ABI_F16_MM_F16_TO_F32;
    rknn_abi_ctx ctx = 0;
    int st = api->matmul_create(&ctx, &info, &io);
    if (st != RKNN_SUCC) {
        snprintf(why, n, "rknn_matmul_create(1x32x64, float16) failed (%d %s): no usable NPU",
                 st, rk_strerror(st));
        return false;
    }
    rknn_abi_sdk_version ver;
    memset(&ver, 0, sizeof ver);
    st = api->query(ctx, RKNN_ABI_QUERY_SDK_VERSION, &ver, sizeof ver);
    api->matmul_destroy(ctx);
    if (st != RKNN_SUCC) {
        snprintf(why, n, "rknn_query(RKNN_QUERY_SDK_VERSION) failed (%d %s): the runtime's "
                 "version is unknown", st, rk_strerror(st));
        return false;
    }
    ver.api_version[sizeof ver.api_version - 1] = '\0';
    ver.drv_version[sizeof ver.drv_version - 1] = '\0';
    int v[3];
    if (!parse_version(ver.api_version, v) || v[0] != 2) {
        snprintf(why, n, "runtime version \"%.64s\" is not supported (this shim drives the "
                 "2.x matmul API)", ver.api_version);
        return false;
    }
    snprintf(found.api_version, sizeof found.api_version, "%d.%d.%d", v[0], v[1], v[2]);
    snprintf(found.drv_version, sizeof found.drv_version, "%.63s", ver.drv_version);
    char *sp = strchr(found.drv_version, ' ');
    if (sp)
        *sp = '\0';

    /* Which weight formats this chip takes, in the layout the shim uses. */
    found.formats = 0;
    st = try_type(api, RKNN_ABI_F16_MM_F16_TO_F32, RKNN_ABI_LAYOUT_TP_NORM,
                  RKNN_ABI_QUANT_PER_LAYER_SYM, 0);
    if (st != RKNN_SUCC) {
        snprintf(why, n, "rknn_matmul_create(float16, B transposed) failed (%d %s)", st,
                 rk_strerror(st));
        return false;
    }
    found.formats |= RK_HAS_F16;
    if (try_type(api, RKNN_ABI_F16_MM_I8_TO_F32, RKNN_ABI_LAYOUT_TP_NORM,
                 RKNN_ABI_QUANT_PER_GROUP_SYM, RK_GROUP) == RKNN_SUCC)
        found.formats |= RK_HAS_I8;
    if (try_type(api, RKNN_ABI_F16_MM_I4_TO_F32, RKNN_ABI_LAYOUT_TP_NORM,
                 RKNN_ABI_QUANT_PER_GROUP_SYM, RK_GROUP) == RKNN_SUCC)
        found.formats |= RK_HAS_I4;
    return true;
}

static const char *format_name(npu_wformat_t f)
{
    return f == NPU_W_I4 ? "int4/32" : f == NPU_W_I8 ? "int8/32" : "f16";
}

static slm_status_t rk_probe(slm_device_info_t *infos, uint32_t capacity, uint32_t *n_out)
{
    *n_out = 0;
    slm_status_t st = read_config(&found.config);
    if (st != SLM_OK)
        return st;
    if (capacity < 1)
        return SLM_OK;
    rk_api api;
    char why[384];
    if (!load_api(found.config.library, &api, why, sizeof why)) {
        rk_log(SLM_LOG_INFO, "%s", why);
        return SLM_OK;
    }
    bool ok = inspect_runtime(&api, why, sizeof why);
    dlclose(api.so);
    if (!ok) {
        rk_log(SLM_LOG_INFO, "%s: %s", found.config.library, why);
        return SLM_OK;
    }

    /* What auto does with each block type, for the features line. */
    rk_device d = {.formats = found.formats, .wmode = found.config.wmode};
    slm_device_info_t *info = &infos[0];
    info->kind = SLM_DEVICE_NPU;
    info->flags = SLM_DEVICE_FLAG_HOST_MEMORY;
    snprintf(info->name, sizeof info->name, "Rockchip NPU (RKNN matmul API)");
    snprintf(info->vendor, sizeof info->vendor, "Rockchip");
    snprintf(info->driver, sizeof info->driver, "librknnrt %.16s, rknpu %.24s",
             found.api_version, found.drv_version);
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0)
        info->memory_total = (uint64_t)pages * (uint64_t)page; /* the NPU uses system RAM */
    static const slm_dtype_t types[] = {SLM_DTYPE_F32, SLM_DTYPE_F16, SLM_DTYPE_BF16,
                                        SLM_DTYPE_Q4_0, SLM_DTYPE_Q8_0, SLM_DTYPE_Q4_K,
                                        SLM_DTYPE_Q6_K};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (npu_dtype_known(types[i]))
            info->dtypes |= SLM_DTYPE_BIT(types[i]);
    info->ops = SLM_OP_BIT(SLM_OP_MUL_MAT);
    snprintf(info->features, sizeof info->features,
             "rknn=%s drv=%s types=f16%s%s weights=q4_0:%s,q8_0:%s,other:%s min_batch=%lld "
             "k_max=%d",
             found.api_version, found.drv_version,
             (found.formats & RK_HAS_I8) ? ",f16xi8" : "",
             (found.formats & RK_HAS_I4) ? ",f16xi4" : "",
             format_name(rk_format_for(&d, SLM_DTYPE_Q4_0, 32)),
             format_name(rk_format_for(&d, SLM_DTYPE_Q8_0, 32)),
             format_name(rk_format_for(&d, SLM_DTYPE_F32, 32)),
             (long long)found.config.min_batch, RK_K_MAX);
    *n_out = 1;
    return SLM_OK;
}

/* ---------------------------------------------------------------- devices */

static slm_status_t rk_device_open(uint32_t index, const slm_device_open_opts_t *opts,
                                   void **out_device)
{
    (void)opts;
    if (index != 0 || !(found.formats & RK_HAS_F16))
        return rk_fail(SLM_ERR_INVALID_ARG, RK_NAME ": no device %u", (unsigned)index);
    rk_device *d = calloc(1, sizeof *d);
    if (!d)
        return rk_fail(SLM_ERR_NO_MEMORY, RK_NAME ": out of host memory");
    char why[384];
    if (!load_api(found.config.library, &d->api, why, sizeof why)) {
        free(d);
        return rk_fail(SLM_ERR_DEVICE, RK_NAME ": %s", why);
    }
    d->formats = found.formats;
    d->wmode = found.config.wmode;
    d->min_batch = found.config.min_batch;
    if ((d->wmode == RK_W_INT8 && !(d->formats & RK_HAS_I8)) ||
        (d->wmode == RK_W_INT4 && !(d->formats & RK_HAS_I4)))
        rk_log(SLM_LOG_WARN, "weights = %s: this NPU has no such matmul type; "
               "using f16", d->wmode == RK_W_INT8 ? "int8" : "int4");
    *out_device = d;
    return SLM_OK;
}

static void rk_device_close(void *device)
{
    rk_device *d = device;
    if (d->n_buffers)
        rk_log(SLM_LOG_WARN, "closed with %u buffers live", (unsigned)d->n_buffers);
    dlclose(d->api.so);
    free(d->act);
    free(d);
}

/* ---------------------------------------------------------------- buffers */

/* Buffers are host memory: the runtime reads the weights in place (mmapped
** GGUF), and the shim copies what the NPU needs into the runtime's own
** memory, converted. */
static slm_status_t rk_buffer_alloc(void *device, size_t size, slm_buffer_usage_t usage,
                                    void **out_buffer, void **out_base)
{
    rk_device *d = device;
    (void)usage;
    *out_buffer = NULL;
    *out_base = NULL;
    rk_buffer *b = calloc(1, sizeof *b);
    void *mem = NULL;
    if (!b || posix_memalign(&mem, 64, size) != 0) {
        free(b);
        return rk_fail(SLM_ERR_NO_MEMORY, RK_NAME ": buffer_alloc(%zu bytes): out of memory",
                       size);
    }
    b->base = mem;
    b->size = size;
    b->owned = true;
    d->n_buffers++;
    *out_buffer = b;
    *out_base = mem;
    return SLM_OK;
}

static slm_status_t rk_buffer_from_host_ptr(void *device, void *ptr, size_t size,
                                            void **out_buffer)
{
    rk_device *d = device;
    rk_buffer *b = calloc(1, sizeof *b);
    if (!b)
        return rk_fail(SLM_ERR_NO_MEMORY, RK_NAME ": buffer_from_host_ptr: out of memory");
    b->base = ptr;
    b->size = size;
    d->n_buffers++;
    *out_buffer = b;
    return SLM_OK;
}

static void rk_buffer_free(void *device, void *buffer)
{
    rk_device *d = device;
    rk_buffer *b = buffer;
    if (!b)
        return;
    rk_weights_drop(d, b, 0, b->size);
    if (b->owned)
        free(b->base);
    free(b);
    d->n_buffers--;
}

static slm_status_t rk_buffer_write(void *device, void *buffer, size_t offset, const void *src,
                                    size_t size)
{
    rk_buffer *b = buffer;
    rk_weights_drop(device, b, offset, size); /* converted from the old bytes */
    memcpy(b->base + offset, src, size);
    return SLM_OK;
}

static slm_status_t rk_buffer_read(void *device, void *buffer, size_t offset, void *dst,
                                   size_t size)
{
    rk_buffer *b = buffer;
    (void)device;
    memcpy(dst, b->base + offset, size);
    return SLM_OK;
}

/* ------------------------------------------------------------------ nodes */

npu_wformat_t rk_format_for(const rk_device *d, slm_dtype_t t, int64_t k)
{
    bool i8 = (d->formats & RK_HAS_I8) != 0, i4 = (d->formats & RK_HAS_I4) != 0;
    if (k % RK_GROUP) /* int formats need whole groups: only F32/F16/BF16 rows */
        return NPU_W_F16;
    switch (d->wmode) {
    case RK_W_F16:
        return NPU_W_F16;
    case RK_W_INT8:
        return i8 ? NPU_W_I8 : NPU_W_F16;
    case RK_W_INT4:
        return i4 ? NPU_W_I4 : NPU_W_F16;
    default:
        /* auto: the lossless copies of the GGUF blocks (the block is the
        ** group, its d the scale; Q4_0's nibbles fit int8 as well);
        ** everything else as f16, whose rounding is far below the
        ** K-quants' own error. Requantising (Q8_0 or F32 to int4, F32 or
        ** the K-quants to int8) moves the golden models' logits past
        ** their tolerance: only on request. */
        if (t == SLM_DTYPE_Q4_0)
            return i4 ? NPU_W_I4 : i8 ? NPU_W_I8 : NPU_W_F16;
        if (t == SLM_DTYPE_Q8_0 && i8)
            return NPU_W_I8;
        return NPU_W_F16;
    }
}

static bool plain_f32(const slm_tensor_t *t)
{
    return t && t->dtype == SLM_DTYPE_F32 && slm_tensor_is_contiguous(t);
}

bool rk_supports(const rk_device *d, const slm_node_t *node)
{
    const slm_tensor_t *w = node->src[0], *x = node->src[1], *y = node->dst;
    if (node->op != SLM_OP_MUL_MAT || !w || !plain_f32(x) || !plain_f32(y) || node->src[2])
        return false;
    /* a constant 2-D weight matrix, whole: converted once and kept */
    if (!(w->flags & SLM_TENSOR_WEIGHT) || w->ne[2] != 1 || w->ne[3] != 1 ||
        !npu_dtype_known(w->dtype) || !slm_tensor_is_contiguous(w))
        return false;
    int64_t K = w->ne[0], N = w->ne[1];
    if (x->ne[0] != K || y->ne[0] != N)
        return false;
    for (int i = 1; i < SLM_MAX_DIMS; i++)
        if (y->ne[i] != x->ne[i])
            return false;
    int64_t M = slm_tensor_nrows(x);
    /* the cost model: a batch below min_batch rows is faster on the CPU */
    if (M < d->min_batch)
        return false;
    /* sizes the runtime's 32-bit fields and memories hold */
    return K > 0 && N > 0 && K <= (INT64_C(1) << 24) && N <= (INT64_C(1) << 24) &&
           (N + RK_N_ALIGN) * (RK_K_MAX + RK_K_ALIGN) * 2 < (INT64_C(1) << 31) &&
           (N + RK_N_ALIGN) * RK_M_TILE * 4 < (INT64_C(1) << 31);
}

static bool rk_supports_node(void *device, const slm_node_t *node)
{
    return rk_supports(device, node);
}

/* Per call: about 0.1 ms of runtime overhead per context run, then F16 at
** about 1 TFLOP/s (int8/int4 weights twice that): the figures users report
** for an RK3588, a hint for the scheduler, not a measurement. */
static double rk_node_cost(void *device, const slm_node_t *node)
{
    const rk_device *d = device;
    if (!rk_supports(d, node))
        return -1.0;
    const slm_tensor_t *w = node->src[0];
    double K = (double)w->ne[0], N = (double)w->ne[1];
    double M = (double)slm_tensor_nrows(node->src[1]);
    double runs = (double)((w->ne[0] + RK_K_MAX - 1) / RK_K_MAX) *
                  (double)((slm_tensor_nrows(node->src[1]) + RK_M_TILE - 1) / RK_M_TILE);
    double rate = rk_format_for(d, w->dtype, w->ne[0]) == NPU_W_F16 ? 1e12 : 2e12;
    return runs * 1e-4 + 2.0 * M * N * K / rate;
}

/* ------------------------------------------------------------- descriptor */

static const slm_backend_t rk_backend = {
    .abi_major = SLM_BACKEND_ABI_MAJOR,
    .abi_minor = 0,
    .struct_size = SLM_BACKEND_SIZE_1_0,
    .name = RK_NAME,
    .version = "0.1.0",
    .description = "Rockchip NPU through librknnrt's matmul API: prompt-batch MUL_MAT "
                   "(F16, int8/int4 weights)",
    .config_keys = config_keys,
    .n_config_keys = sizeof config_keys / sizeof config_keys[0],
    .probe = rk_probe,
    .device_open = rk_device_open,
    .device_close = rk_device_close,
    .buffer_alloc = rk_buffer_alloc,
    .buffer_free = rk_buffer_free,
    .buffer_write = rk_buffer_write,
    .buffer_read = rk_buffer_read,
    .supports_node = rk_supports_node,
    .graph_compute = rk_graph_compute,
    .buffer_from_host_ptr = rk_buffer_from_host_ptr,
    .node_cost = rk_node_cost,
};

SLM_PLUGIN_EXPORT slm_status_t slm_plugin_init(const slm_host_t *host,
                                               const slm_backend_t **out)
{
    slm_status_t st = slm_plugin_check_host(host, out, RK_NAME);
    if (st != SLM_OK)
        return st;
    rk_host = host;
    *out = &rk_backend;
    return SLM_OK;
}
