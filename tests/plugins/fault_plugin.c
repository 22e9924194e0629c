/*
** fault_plugin.c -- a test backend that fails on purpose.
**
** It stands for an accelerator whose calls can fail. The work is done by a
** private copy of the scalar reference backend (FAULT_DELEGATE: the
** objects of backends/cpu linked as a second module and loaded here with
** dlopen, so that its state is not the runtime's cpu plugin's), so a model
** forced onto this device computes exactly what the reference computes, and
** the faults come in between, as the [backend.NAME] keys of slm.ini say:
**
**   fail_alloc   = N   buffer_alloc call N and every later one fail with
**                      SLM_ERR_NO_MEMORY (the device is full)
**   fail_compute = N   graph_compute call N fails with SLM_ERR_DEVICE, once
**                      (a transient failure: call N + 1 works)
**   lose_at      = N   graph_compute call N answers SLM_ERR_DEVICE_LOST, and
**                      so does every later call but buffer_free and
**                      device_close (a device reset)
**
** Calls are counted per opened device, from 1; 0 or no key: never. The
** device reports kind GPU, so that it ranks first.
**
** Build options:
**   FAULT_NAME="x"       descriptor name (default "fault")
**   FAULT_DELEGATE="p"   path of the reference copy (required)
**   FAULT_REMOTE         memory the host cannot address: buffers have no
**                        host base and there is no buffer_from_host_ptr, so
**                        bytes move through buffer_write and buffer_read,
**                        weights and KV caches are device copies
**
** The host table is kept in a global, as plugins do: one runtime at a time
** may load this plugin.
*/
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slm/backend.h"

#ifndef FAULT_NAME
#define FAULT_NAME "fault"
#endif

static const slm_host_t *host;
static void *delegate_dl;             /* the reference copy */
static const slm_backend_t *inner;    /* its descriptor */

static const slm_config_key_t fault_keys[] = {
    { "fail_alloc", "buffer_alloc call N and every later one fail (0: never)" },
    { "fail_compute", "graph_compute call N fails, once (0: never)" },
    { "lose_at", "graph_compute call N reports the device lost (0: never)" },
};

typedef struct fault_device {
    void *inner;                      /* the reference's device */
    unsigned n_alloc, n_compute;      /* calls so far */
    unsigned fail_alloc, fail_compute, lose_at;
    bool lost;
} fault_device;

/* A buffer: the reference's, with its host base. */
typedef struct fault_buffer {
    void *inner;
    unsigned char *base;
} fault_buffer;

static slm_status_t fail(slm_status_t st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static slm_status_t fail(slm_status_t st, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    host->set_error(host->ctx, msg);
    return st;
}

static slm_status_t lost(void)
{
    return fail(SLM_ERR_DEVICE_LOST, FAULT_NAME ": device lost earlier");
}

/* ------------------------------------------------------------------ device */

static slm_status_t fault_probe(slm_device_info_t *infos, uint32_t capacity,
                                uint32_t *n_out)
{
    *n_out = 0;
    slm_device_info_t ref[SLM_MAX_DEVICES_PER_PLUGIN];
    memset(ref, 0, sizeof ref);
    for (uint32_t i = 0; i < SLM_MAX_DEVICES_PER_PLUGIN; i++)
        ref[i].struct_size = sizeof ref[i];
    uint32_t n = 0;
    slm_status_t st = inner->probe(ref, SLM_MAX_DEVICES_PER_PLUGIN, &n);
    if (st != SLM_OK || n == 0 || capacity < 1)
        return st;
    slm_device_info_t *info = &infos[0];
    uint32_t size = info->struct_size;
    memcpy(info, &ref[0], sizeof *info);
    info->struct_size = size;
    info->kind = SLM_DEVICE_GPU;
#ifdef FAULT_REMOTE
    info->flags = 0;
#else
    info->flags = SLM_DEVICE_FLAG_HOST_MEMORY;
#endif
    snprintf(info->name, sizeof info->name, "fault injection over the reference");
    *n_out = 1;
    return SLM_OK;
}

/* A [backend.NAME] count; 0 when unset. */
static slm_status_t key_count(const char *key, unsigned *out)
{
    const char *v = host->config_get(host->ctx, key);
    *out = 0;
    if (!v)
        return SLM_OK;
    char *end;
    unsigned long n = strtoul(v, &end, 10);
    if (end == v || *end || n > 1000000)
        return fail(SLM_ERR_CONFIG, FAULT_NAME ": %s = '%.64s': not a count", key, v);
    *out = (unsigned)n;
    return SLM_OK;
}

static slm_status_t fault_open(uint32_t index, const slm_device_open_opts_t *opts,
                               void **out)
{
    fault_device *d = calloc(1, sizeof *d);
    if (!d)
        return fail(SLM_ERR_NO_MEMORY, FAULT_NAME ": out of memory");
    slm_status_t st;
    if ((st = key_count("fail_alloc", &d->fail_alloc)) ||
        (st = key_count("fail_compute", &d->fail_compute)) ||
        (st = key_count("lose_at", &d->lose_at)) ||
        (st = inner->device_open(index, opts, &d->inner))) {
        free(d);
        return st;
    }
    *out = d;
    return SLM_OK;
}

static void fault_close(void *device)
{
    fault_device *d = device;
    inner->device_close(d->inner);
    free(d);
}

/* ----------------------------------------------------------------- buffers */

static slm_status_t fault_alloc(void *device, size_t size, slm_buffer_usage_t usage,
                                void **out_buffer, void **out_base)
{
    fault_device *d = device;
    *out_buffer = NULL;
    *out_base = NULL;
    if (d->lost)
        return lost();
    d->n_alloc++;
    if (d->fail_alloc && d->n_alloc >= d->fail_alloc)
        return fail(SLM_ERR_NO_MEMORY, FAULT_NAME ": simulated out of device "
                    "memory (allocation %u)", d->n_alloc);
    fault_buffer *b = malloc(sizeof *b);
    if (!b)
        return fail(SLM_ERR_NO_MEMORY, FAULT_NAME ": out of memory");
    void *base = NULL;
    slm_status_t st = inner->buffer_alloc(d->inner, size, usage, &b->inner, &base);
    if (st != SLM_OK) {
        free(b);
        return st;
    }
    b->base = base;
    *out_buffer = b;
#ifndef FAULT_REMOTE
    *out_base = base;
#endif
    return SLM_OK;
}

#ifndef FAULT_REMOTE
static slm_status_t fault_from_host(void *device, void *ptr, size_t size,
                                    void **out_buffer)
{
    fault_device *d = device;
    *out_buffer = NULL;
    if (d->lost)
        return lost();
    fault_buffer *b = malloc(sizeof *b);
    if (!b)
        return fail(SLM_ERR_NO_MEMORY, FAULT_NAME ": out of memory");
    slm_status_t st = inner->buffer_from_host_ptr(d->inner, ptr, size, &b->inner);
    if (st != SLM_OK) {
        free(b);
        return st;
    }
    b->base = ptr;
    *out_buffer = b;
    return SLM_OK;
}
#endif

static void fault_free(void *device, void *buffer)
{
    fault_device *d = device;
    fault_buffer *b = buffer;
    if (!b)
        return;
    inner->buffer_free(d->inner, b->inner);
    free(b);
}

static slm_status_t fault_write(void *device, void *buffer, size_t offset,
                                const void *src, size_t size)
{
    fault_device *d = device;
    if (d->lost)
        return lost();
    return inner->buffer_write(d->inner, ((fault_buffer *)buffer)->inner, offset,
                               src, size);
}

static slm_status_t fault_read(void *device, void *buffer, size_t offset,
                               void *dst, size_t size)
{
    fault_device *d = device;
    if (d->lost)
        return lost();
    return inner->buffer_read(d->inner, ((fault_buffer *)buffer)->inner, offset,
                              dst, size);
}

/* --------------------------------------------------------------------- run */

static bool fault_supports(void *device, const slm_node_t *node)
{
    fault_device *d = device;
    return !d->lost && inner->supports_node(d->inner, node);
}

/* The tensor as the reference sees it: its buffer and host address. */
static void to_inner(const slm_tensor_t *t, slm_tensor_t *out)
{
    const fault_buffer *b = t->buffer;
    *out = *t;
    out->buffer = b->inner;
    out->data = b->base + t->offset;
    out->view_src = NULL; /* the reference computes from data and strides */
}

static slm_status_t fault_compute(void *device, const slm_graph_t *graph)
{
    fault_device *d = device;
    if (d->lost)
        return lost();
    d->n_compute++;
    if (d->lose_at && d->n_compute == d->lose_at) {
        d->lost = true;
        return fail(SLM_ERR_DEVICE_LOST, FAULT_NAME ": device lost (simulated "
                    "reset in graph_compute call %u)", d->n_compute);
    }
    if (d->fail_compute && d->n_compute == d->fail_compute)
        return fail(SLM_ERR_DEVICE, FAULT_NAME ": simulated failure of "
                    "graph_compute call %u", d->n_compute);
    const uint32_t per = SLM_MAX_SRC + 1;
    slm_node_t *nodes = calloc(graph->n_nodes ? graph->n_nodes : 1, sizeof *nodes);
    slm_tensor_t *ts = calloc(graph->n_nodes ? (size_t)graph->n_nodes * per : 1,
                              sizeof *ts);
    slm_status_t st = SLM_OK;
    if (!nodes || !ts)
        st = fail(SLM_ERR_NO_MEMORY, FAULT_NAME ": out of memory");
    for (uint32_t i = 0; i < graph->n_nodes && st == SLM_OK; i++) {
        const slm_node_t *n = &graph->nodes[i];
        slm_tensor_t *t = &ts[(size_t)i * per];
        nodes[i] = *n;
        for (int k = 0; k < SLM_MAX_SRC; k++)
            if (n->src[k]) {
                to_inner(n->src[k], &t[k]);
                nodes[i].src[k] = &t[k];
            }
        to_inner(n->dst, &t[SLM_MAX_SRC]);
        nodes[i].dst = &t[SLM_MAX_SRC];
    }
    if (st == SLM_OK) {
        slm_graph_t g = *graph;
        g.nodes = nodes;
        st = inner->graph_compute(d->inner, &g);
    }
    free(nodes);
    free(ts);
    return st;
}

/* -------------------------------------------------------------------- entry */

static const slm_backend_t fault_backend = {
    .abi_major = SLM_BACKEND_ABI_MAJOR,
    .abi_minor = SLM_BACKEND_ABI_MINOR,
    .struct_size = sizeof(slm_backend_t),
    .name = FAULT_NAME,
    .version = "1.0.0",
    .description = "test device that fails on purpose (over the reference)",
    .config_keys = fault_keys,
    .n_config_keys = sizeof fault_keys / sizeof fault_keys[0],
    .probe = fault_probe,
    .device_open = fault_open,
    .device_close = fault_close,
    .buffer_alloc = fault_alloc,
    .buffer_free = fault_free,
    .buffer_write = fault_write,
    .buffer_read = fault_read,
    .supports_node = fault_supports,
    .graph_compute = fault_compute,
#ifndef FAULT_REMOTE
    .buffer_from_host_ptr = fault_from_host,
#endif
};

/* The reference copy stays loaded as long as this plugin is. */
__attribute__((destructor)) static void unload_delegate(void)
{
    if (delegate_dl)
        dlclose(delegate_dl);
}

SLM_PLUGIN_EXPORT slm_status_t slm_plugin_init(const slm_host_t *h,
                                               const slm_backend_t **out)
{
    if (h->abi_major != SLM_BACKEND_ABI_MAJOR) {
        h->set_error(h->ctx, FAULT_NAME ": host ABI major differs");
        return SLM_ERR_ABI;
    }
    if (!delegate_dl)
        delegate_dl = dlopen(FAULT_DELEGATE, RTLD_NOW | RTLD_LOCAL);
    slm_plugin_init_fn init =
        delegate_dl ? (slm_plugin_init_fn)(uintptr_t)dlsym(delegate_dl,
                                                           SLM_PLUGIN_ENTRY_NAME)
                    : NULL;
    /* Called again for each runtime that loads this plugin, so that the
    ** reference copy logs and reads its config through the newest host. */
    if (!init || init(h, &inner) != SLM_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, FAULT_NAME ": cannot use the reference copy "
                 "%s: %s", FAULT_DELEGATE, delegate_dl ? "its entry failed" : dlerror());
        h->set_error(h->ctx, msg);
        return SLM_ERR_PLUGIN;
    }
    host = h;
    *out = &fault_backend;
    return SLM_OK;
}
