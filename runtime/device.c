/*
** device.c -- calling a plugin's device slots.
**
** Every call into a plugin goes through here: the device is opened on first
** use, optional slots get their defaults, and a plugin's failure becomes one
** message that names the device, the call and what the plugin said.
**
** A plugin sees one call at a time per device handle (slm/backend.h,
** THREADING), while sessions on several threads share the device: each
** wrapper holds the device's lock across the plugin call, and only across
** it, so that a thread never waits on one device while holding another.
** A device that reports itself lost is marked here and bumps the runtime's
** device generation, which makes every graph plan again without it.
*/
#include <stdio.h>
#include <string.h>

#include "runtime_internal.h"

/* Set by a failing plugin call, read by the scheduler's fallback. */
static _Thread_local slm__device_t *failed_device;

slm__device_t *slm__device_failed_take(void)
{
    slm__device_t *d = failed_device;
    failed_device = NULL;
    return d;
}

bool slm__device_lost(const slm__device_t *d)
{
    return atomic_load(&d->lost);
}

/* Compose the error for a failed plugin call. */
static slm_status_t plugin_failed(slm__device_t *d, const char *call,
                                  slm_status_t st)
{
    const char *msg = slm__plugin_error_take();
    if (st >= 0) /* a plugin must not report failure with a success code */
        st = SLM_ERR_DEVICE;
    failed_device = d;
    if (st == SLM_ERR_DEVICE_LOST && !atomic_exchange(&d->lost, true)) {
        atomic_fetch_add(&d->plugin->rt->devices_gen, 1);
        slm__log(d->plugin->rt, SLM_LOG_WARN, "%s: device lost (%s: %s): not "
                 "used again by this runtime", d->id, call,
                 msg[0] ? msg : slm_strerror(st));
    }
    return slm__error(st, "%s: %s failed: %s", d->id, call,
                      msg[0] ? msg : slm_strerror(st));
}

/* A call on a device lost earlier, refused without reaching the plugin. */
static slm_status_t refuse_lost(slm__device_t *d, const char *call)
{
    failed_device = d;
    return slm__error(SLM_ERR_DEVICE_LOST, "%s: %s: the device was lost "
                      "earlier", d->id, call);
}

/* With d->lock held. */
static slm_status_t open_locked(slm__device_t *d)
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
        st = plugin_failed(d, "device_open", st == SLM_OK ? SLM_ERR_DEVICE : st);
        /* Said once, here: the scheduler takes a device that cannot open
        ** for one that supports nothing and quietly places elsewhere. */
        slm__log(d->plugin->rt, SLM_LOG_WARN, "%s; its nodes go to other devices",
                 slm_last_error());
        return st;
    }
    d->handle = handle;
    return SLM_OK;
}

/* Lock the device and open it; on failure the lock is released. */
static slm_status_t enter(slm__device_t *d, const char *call)
{
    if (slm__device_lost(d))
        return refuse_lost(d, call);
    pthread_mutex_lock(&d->lock);
    slm_status_t st = open_locked(d);
    if (st != SLM_OK)
        pthread_mutex_unlock(&d->lock);
    return st;
}

static void leave(slm__device_t *d)
{
    pthread_mutex_unlock(&d->lock);
}

void slm__device_close(slm__device_t *d)
{
    pthread_mutex_lock(&d->lock);
    if (d->handle) {
        d->plugin->be->device_close(d->handle);
        d->handle = NULL;
    }
    pthread_mutex_unlock(&d->lock);
}

bool slm__device_supports(slm__device_t *d, const slm_node_t *node)
{
    /* Placement asks every device: a lost one is no failure of this run. */
    if (slm__device_lost(d) || enter(d, "supports_node") != SLM_OK)
        return false;
    bool ok = d->plugin->be->supports_node(d->handle, node);
    leave(d);
    return ok;
}

slm_status_t slm__device_buffer_alloc(slm__device_t *d, size_t size,
                                      slm_buffer_usage_t usage,
                                      void **out_buffer, void **out_base)
{
    *out_buffer = NULL;
    *out_base = NULL;
    if (size == 0)
        return slm__error(SLM_ERR_INVALID_ARG, "%s: buffer_alloc of 0 bytes", d->id);
    char call[64];
    snprintf(call, sizeof call, "buffer_alloc(%zu bytes)", size);
    slm_status_t st = enter(d, call);
    if (st != SLM_OK)
        return st;
    slm__plugin_error_clear();
    void *buf = NULL, *base = NULL;
    st = d->plugin->be->buffer_alloc(d->handle, size, usage, &buf, &base);
    if (st != SLM_OK || !buf)
        st = plugin_failed(d, call, st == SLM_OK ? SLM_ERR_NO_MEMORY : st);
    leave(d);
    if (st != SLM_OK)
        return st;
    if (!(d->desc.info->flags & SLM_DEVICE_FLAG_HOST_MEMORY))
        base = NULL; /* never trust a base the device did not promise */
    *out_buffer = buf;
    *out_base = base;
    return SLM_OK;
}

void slm__device_buffer_free(slm__device_t *d, void *buffer)
{
    /* Also on a lost device: the plugin's host-side records go. */
    pthread_mutex_lock(&d->lock);
    if (buffer && d->handle)
        d->plugin->be->buffer_free(d->handle, buffer);
    pthread_mutex_unlock(&d->lock);
}

slm_status_t slm__device_buffer_write(slm__device_t *d, void *buffer,
                                      size_t offset, const void *src,
                                      size_t size)
{
    if (size == 0)
        return SLM_OK;
    slm_status_t st = enter(d, "buffer_write");
    if (st != SLM_OK)
        return st;
    slm__plugin_error_clear();
    st = d->plugin->be->buffer_write(d->handle, buffer, offset, src, size);
    if (st != SLM_OK)
        st = plugin_failed(d, "buffer_write", st);
    leave(d);
    return st;
}

slm_status_t slm__device_buffer_read(slm__device_t *d, void *buffer,
                                     size_t offset, void *dst, size_t size)
{
    if (size == 0)
        return SLM_OK;
    slm_status_t st = enter(d, "buffer_read");
    if (st != SLM_OK)
        return st;
    slm__plugin_error_clear();
    st = d->plugin->be->buffer_read(d->handle, buffer, offset, dst, size);
    if (st != SLM_OK)
        st = plugin_failed(d, "buffer_read", st);
    leave(d);
    return st;
}

slm_status_t slm__device_buffer_from_host(slm__device_t *d, void *ptr,
                                          size_t size, void **out_buffer)
{
    *out_buffer = NULL;
    const slm_backend_t *be = d->plugin->be;
    if (!be->buffer_from_host_ptr)
        return SLM_ERR_UNSUPPORTED;
    slm_status_t st = enter(d, "buffer_from_host_ptr");
    if (st != SLM_OK)
        return st;
    slm__plugin_error_clear();
    void *buf = NULL;
    st = be->buffer_from_host_ptr(d->handle, ptr, size, &buf);
    if (st != SLM_OK || !buf)
        st = plugin_failed(d, "buffer_from_host_ptr",
                           st == SLM_OK ? SLM_ERR_DEVICE : st);
    leave(d);
    if (st == SLM_OK)
        *out_buffer = buf;
    return st;
}

slm_status_t slm__device_compute(slm__device_t *d, const slm_graph_t *graph)
{
    const slm_backend_t *be = d->plugin->be;
    slm_status_t st = enter(d, "graph_compute");
    if (st != SLM_OK)
        return st;
    slm__plugin_error_clear();
    st = be->graph_compute(d->handle, graph);
    if (st != SLM_OK)
        st = plugin_failed(d, "graph_compute", st);
    else if (be->synchronize && (st = be->synchronize(d->handle)) != SLM_OK)
        st = plugin_failed(d, "synchronize", st);
    leave(d);
    return st;
}
