/*
** mock_plugin.c -- one small backend plugin, built several times with
** different -D options into the variants the loader tests need:
**
**   MOCK_NAME="x"         descriptor name (default "mock")
**   MOCK_KIND=k           device kind (default SLM_DEVICE_CPU)
**   MOCK_FLAGS=f          device flags (default 0)
**   MOCK_N_DEVICES=n      devices reported by probe (default 1)
**   MOCK_GBPS=g           memory_gbps hint (default 0)
**   MOCK_ABI_MAJOR=m      descriptor abi_major (default the header's)
**   MOCK_ABI_MINOR=m      descriptor abi_minor (default the header's)
**   MOCK_SMALL_STRUCT     struct_size too small for ABI 1.0
**   MOCK_NO_ENTRY         export the entry under another name
**   MOCK_INIT_FAIL        the entry fails with SLM_ERR_ABI
**   MOCK_PROBE_FAIL       probe fails with SLM_ERR_DEVICE
**   MOCK_MISSING_SLOT     graph_compute is NULL
**   MOCK_CONFIGURABLE     declares the key "mode"; its value shows in the
**                         device's features as "mode=VALUE"
**   MOCK_ADD              supports ADD on contiguous F32 tensors and runs it
**   MOCK_NEGOTIATE        serve the host's minor when MOCK_ABI_MINOR is newer,
**                         as slm/backend.h asks of a plugin built later
**   MOCK_PROBE_SEGV       probe writes to an unmapped address
**   MOCK_PROBE_HANG       probe sleeps forever
**   MOCK_PROBE_EXIT       probe calls exit(3)
**   MOCK_PROBE_ABORT      probe calls abort()
**   MOCK_PROBE_STDOUT     probe prints to stdout, then succeeds
**
** The MOCK_PROBE_* variants must be refused by the isolated probe without
** harming the host; loaded in-process they would take it down.
**
** Buffers are host memory; no op is supported.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "slm/backend.h"

#ifndef MOCK_NAME
#define MOCK_NAME "mock"
#endif
#ifndef MOCK_KIND
#define MOCK_KIND SLM_DEVICE_CPU
#endif
#ifndef MOCK_FLAGS
#define MOCK_FLAGS 0
#endif
#ifndef MOCK_N_DEVICES
#define MOCK_N_DEVICES 1
#endif
#ifndef MOCK_GBPS
#define MOCK_GBPS 0.0
#endif
#ifndef MOCK_ABI_MAJOR
#define MOCK_ABI_MAJOR SLM_BACKEND_ABI_MAJOR
#endif
#ifndef MOCK_ABI_MINOR
#define MOCK_ABI_MINOR SLM_BACKEND_ABI_MINOR
#endif

static const slm_host_t *host;

static slm_status_t mock_probe(slm_device_info_t *infos, uint32_t capacity,
                               uint32_t *n_out)
{
#if defined(MOCK_PROBE_SEGV)
    /* Not NULL itself: UBSan would catch that and exit instead of the
    ** fault a plugin without sanitizers makes. */
    volatile uintptr_t nowhere = 16;
    *(volatile int *)nowhere = 1;
#elif defined(MOCK_PROBE_HANG)
    for (;;)
        pause();
#elif defined(MOCK_PROBE_EXIT)
    exit(3);
#elif defined(MOCK_PROBE_ABORT)
    abort();
#elif defined(MOCK_PROBE_STDOUT)
    printf("mock: hello from probe\n");
#endif
#ifdef MOCK_PROBE_FAIL
    (void)infos;
    (void)capacity;
    *n_out = 0;
    host->set_error(host->ctx, "simulated driver failure");
    return SLM_ERR_DEVICE;
#else
    uint32_t n = MOCK_N_DEVICES < capacity ? MOCK_N_DEVICES : capacity;
    for (uint32_t i = 0; i < n; i++) {
        infos[i].kind = MOCK_KIND;
        infos[i].flags = MOCK_FLAGS | SLM_DEVICE_FLAG_HOST_MEMORY;
        snprintf(infos[i].name, sizeof infos[i].name, "%s device %u", MOCK_NAME, i);
        snprintf(infos[i].vendor, sizeof infos[i].vendor, "slm tests");
        infos[i].memory_total = 1u << 20;
        infos[i].memory_gbps = MOCK_GBPS;
#ifdef MOCK_CONFIGURABLE
        const char *mode = host->config_get(host->ctx, "mode");
        snprintf(infos[i].features, sizeof infos[i].features, "mode=%s",
                 mode ? mode : "(unset)");
#endif
    }
    *n_out = n;
    return SLM_OK;
#endif
}

static slm_status_t mock_device_open(uint32_t index,
                                     const slm_device_open_opts_t *opts,
                                     void **out_device)
{
    (void)opts;
    static int devices[MOCK_N_DEVICES > 0 ? MOCK_N_DEVICES : 1];
    *out_device = &devices[index];
    return SLM_OK;
}

static void mock_device_close(void *device)
{
    (void)device;
}

static slm_status_t mock_buffer_alloc(void *device, size_t size,
                                      slm_buffer_usage_t usage,
                                      void **out_buffer, void **out_base)
{
    (void)device;
    (void)usage;
    void *p = malloc(size);
    if (!p) {
        host->set_error(host->ctx, "mock: malloc failed");
        return SLM_ERR_NO_MEMORY;
    }
    *out_buffer = p;
    *out_base = p;
    return SLM_OK;
}

static void mock_buffer_free(void *device, void *buffer)
{
    (void)device;
    free(buffer);
}

static slm_status_t mock_buffer_write(void *device, void *buffer, size_t offset,
                                      const void *src, size_t size)
{
    (void)device;
    memcpy((char *)buffer + offset, src, size);
    return SLM_OK;
}

static slm_status_t mock_buffer_read(void *device, void *buffer, size_t offset,
                                     void *dst, size_t size)
{
    (void)device;
    memcpy(dst, (const char *)buffer + offset, size);
    return SLM_OK;
}

#ifdef MOCK_ADD
static bool f32_contiguous(const slm_tensor_t *t)
{
    return t && t->dtype == SLM_DTYPE_F32 && t->nb[0] == sizeof(float) &&
           t->nb[1] == t->nb[0] * (size_t)t->ne[0] &&
           t->nb[2] == t->nb[1] * (size_t)t->ne[1] &&
           t->nb[3] == t->nb[2] * (size_t)t->ne[2];
}

static bool same_shape(const slm_tensor_t *a, const slm_tensor_t *b)
{
    return memcmp(a->ne, b->ne, sizeof a->ne) == 0;
}
#endif

static bool mock_supports_node(void *device, const slm_node_t *node)
{
    (void)device;
#ifdef MOCK_ADD
    return node->op == SLM_OP_ADD && f32_contiguous(node->dst) &&
           f32_contiguous(node->src[0]) && f32_contiguous(node->src[1]) &&
           same_shape(node->dst, node->src[0]) &&
           same_shape(node->dst, node->src[1]);
#else
    (void)node;
    return false;
#endif
}

#ifndef MOCK_MISSING_SLOT
static slm_status_t mock_graph_compute(void *device, const slm_graph_t *graph)
{
    (void)device;
#ifdef MOCK_ADD
    /* Buffers are malloc'd host memory: the handle is the base address. */
    for (uint32_t i = 0; i < graph->n_nodes; i++) {
        const slm_node_t *nd = &graph->nodes[i];
        float *d = (float *)((char *)nd->dst->buffer + nd->dst->offset);
        const float *a = (const float *)((const char *)nd->src[0]->buffer +
                                         nd->src[0]->offset);
        const float *b = (const float *)((const char *)nd->src[1]->buffer +
                                         nd->src[1]->offset);
        for (int64_t k = 0; k < slm_tensor_nelements(nd->dst); k++)
            d[k] = a[k] + b[k];
    }
    return SLM_OK;
#else
    (void)graph;
    host->set_error(host->ctx, "mock: no op is supported");
    return SLM_ERR_UNSUPPORTED;
#endif
}
#endif

#ifdef MOCK_CONFIGURABLE
static const slm_config_key_t mock_keys[] = {
    { "mode", "what the mock reports in its features" },
};
#endif

static const slm_backend_t mock_backend = {
    .abi_major = MOCK_ABI_MAJOR,
    .abi_minor = MOCK_ABI_MINOR,
#ifdef MOCK_SMALL_STRUCT
    .struct_size = (uint32_t)offsetof(slm_backend_t, graph_compute),
#else
    .struct_size = sizeof(slm_backend_t),
#endif
    .name = MOCK_NAME,
    .version = "0.0.1",
    .description = "mock backend for the loader tests",
#ifdef MOCK_CONFIGURABLE
    .config_keys = mock_keys,
    .n_config_keys = 1,
#endif
    .probe = mock_probe,
    .device_open = mock_device_open,
    .device_close = mock_device_close,
    .buffer_alloc = mock_buffer_alloc,
    .buffer_free = mock_buffer_free,
    .buffer_write = mock_buffer_write,
    .buffer_read = mock_buffer_read,
    .supports_node = mock_supports_node,
#ifndef MOCK_MISSING_SLOT
    .graph_compute = mock_graph_compute,
#endif
};

#ifdef MOCK_NO_ENTRY
#define MOCK_ENTRY mock_plugin_init_misnamed
#else
#define MOCK_ENTRY slm_plugin_init
#endif

SLM_PLUGIN_EXPORT slm_status_t MOCK_ENTRY(const slm_host_t *h,
                                          const slm_backend_t **out);

SLM_PLUGIN_EXPORT slm_status_t MOCK_ENTRY(const slm_host_t *h,
                                          const slm_backend_t **out)
{
    host = h;
#ifdef MOCK_INIT_FAIL
    (void)mock_backend;
    *out = NULL;
    h->set_error(h->ctx, "mock: refusing to start (simulated version check)");
    return SLM_ERR_ABI;
#elif defined(MOCK_NEGOTIATE)
    /* Minors only append: the host's minor is a prefix of ours. */
    static slm_backend_t served;
    served = mock_backend;
    if (served.abi_minor > h->abi_minor)
        served.abi_minor = h->abi_minor;
    *out = &served;
    return SLM_OK;
#else
    *out = &mock_backend;
    return SLM_OK;
#endif
}
