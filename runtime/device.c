/*
** device.c -- calling a plugin's device slots.
**
** Every call into a plugin goes through here: the device is opened on first
** use, optional slots get their defaults, and a plugin's failure becomes one
** message that names the device, the call and what the plugin said.
*/
#include <stdio.h>
#include <string.h>

#include "runtime_internal.h"

/* Compose the error for a failed plugin call. */
static slm_status_t plugin_failed(const slm__device_t *d, const char *call,
                                  slm_status_t st)
{
    const char *msg = slm__plugin_error_take();
    if (st >= 0) /* a plugin must not report failure with a success code */
        st = SLM_ERR_DEVICE;
    return slm__error(st, "%s: %s failed: %s", d->id, call,
                      msg[0] ? msg : slm_strerror(st));
}

slm_status_t slm__device_open(slm__device_t *d)
{
    if (d->handle)
        return SLM_OK;
    if (d->open_failed)
        return slm__error(SLM_ERR_DEVICE, "%s: device could not be opened earlier",
                          d->id);
    const slm_backend_t *be = d->plugin->be;
    slm_device_open_opts_t opts;
    memset(&opts, 0, sizeof opts);
    opts.struct_size = sizeof opts;
    opts.n_threads = d->plugin->rt->n_threads;
    slm__plugin_error_clear();
    void *handle = NULL;
    slm_status_t st = be->device_open(d->index, &opts, &handle);
    if (st != SLM_OK || !handle) {
        d->open_failed = true;
        return plugin_failed(d, "device_open", st == SLM_OK ? SLM_ERR_DEVICE : st);
    }
    d->handle = handle;
    return SLM_OK;
}

void slm__device_close(slm__device_t *d)
{
    if (d->handle) {
        d->plugin->be->device_close(d->handle);
        d->handle = NULL;
    }
}

bool slm__device_supports(slm__device_t *d, const slm_node_t *node)
{
    if (slm__device_open(d) != SLM_OK)
        return false;
    return d->plugin->be->supports_node(d->handle, node);
}

slm_status_t slm__device_buffer_alloc(slm__device_t *d, size_t size,
                                      slm_buffer_usage_t usage,
                                      void **out_buffer, void **out_base)
{
    *out_buffer = NULL;
    *out_base = NULL;
    if (size == 0)
        return slm__error(SLM_ERR_INVALID_ARG, "%s: buffer_alloc of 0 bytes", d->id);
    slm_status_t st = slm__device_open(d);
    if (st != SLM_OK)
        return st;
    slm__plugin_error_clear();
    void *buf = NULL, *base = NULL;
    st = d->plugin->be->buffer_alloc(d->handle, size, usage, &buf, &base);
    if (st != SLM_OK || !buf) {
        char call[64];
        snprintf(call, sizeof call, "buffer_alloc(%zu bytes)", size);
        return plugin_failed(d, call, st == SLM_OK ? SLM_ERR_NO_MEMORY : st);
    }
    if (!(d->desc.info->flags & SLM_DEVICE_FLAG_HOST_MEMORY))
        base = NULL; /* never trust a base the device did not promise */
    *out_buffer = buf;
    *out_base = base;
    return SLM_OK;
}

void slm__device_buffer_free(slm__device_t *d, void *buffer)
{
    if (buffer && d->handle)
        d->plugin->be->buffer_free(d->handle, buffer);
}

slm_status_t slm__device_buffer_write(slm__device_t *d, void *buffer,
                                      size_t offset, const void *src,
                                      size_t size)
{
    if (size == 0)
        return SLM_OK;
    slm__plugin_error_clear();
    slm_status_t st = d->plugin->be->buffer_write(d->handle, buffer, offset,
                                                  src, size);
    return st == SLM_OK ? SLM_OK : plugin_failed(d, "buffer_write", st);
}

slm_status_t slm__device_buffer_read(slm__device_t *d, void *buffer,
                                     size_t offset, void *dst, size_t size)
{
    if (size == 0)
        return SLM_OK;
    slm__plugin_error_clear();
    slm_status_t st = d->plugin->be->buffer_read(d->handle, buffer, offset,
                                                 dst, size);
    return st == SLM_OK ? SLM_OK : plugin_failed(d, "buffer_read", st);
}

slm_status_t slm__device_buffer_from_host(slm__device_t *d, void *ptr,
                                          size_t size, void **out_buffer)
{
    *out_buffer = NULL;
    const slm_backend_t *be = d->plugin->be;
    if (!be->buffer_from_host_ptr)
        return SLM_ERR_UNSUPPORTED;
    slm_status_t st = slm__device_open(d);
    if (st != SLM_OK)
        return st;
    slm__plugin_error_clear();
    void *buf = NULL;
    st = be->buffer_from_host_ptr(d->handle, ptr, size, &buf);
    if (st != SLM_OK || !buf)
        return plugin_failed(d, "buffer_from_host_ptr",
                             st == SLM_OK ? SLM_ERR_DEVICE : st);
    *out_buffer = buf;
    return SLM_OK;
}

slm_status_t slm__device_compute(slm__device_t *d, const slm_graph_t *graph)
{
    const slm_backend_t *be = d->plugin->be;
    slm_status_t st = slm__device_open(d);
    if (st != SLM_OK)
        return st;
    slm__plugin_error_clear();
    st = be->graph_compute(d->handle, graph);
    if (st != SLM_OK)
        return plugin_failed(d, "graph_compute", st);
    if (be->synchronize) {
        st = be->synchronize(d->handle);
        if (st != SLM_OK)
            return plugin_failed(d, "synchronize", st);
    }
    return SLM_OK;
}
