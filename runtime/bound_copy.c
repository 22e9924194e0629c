/*
** bound_copy.c -- device copies of bound host memory, shared by graphs.
**
** A model's weights are bound host memory (the GGUF mapping) in every graph
** its sessions build. A device that cannot use that memory in place gets a
** copy; this table keys the copy by device and host range, so the prompt
** graph, the one-token graph and every replan share one upload. Entries are
** counted and freed with the last graph that uses them.
**
** Bound STATE marked resident (slm_graph_keep_state_on_device: a KV cache)
** shares its copy the same way, and the copy is the state: runs update it
** on the device and the host memory is not touched. Each state entry knows
** which side is newer. `dirty`: the device wrote it since the host memory was
** last brought up to date; `stale`: the host memory changed (a run on a
** device that used it in place) since the copy was written. A host-side
** user of the memory flushes dirty copies first; a device copy that went
** stale is written again before its next use.
**
** Sessions on several threads share the table through their model's
** graphs: every entry point holds rt->lock for its whole work, device calls
** included, so that two graphs never upload the same weights twice nor see
** an entry half made. Device locks are taken inside it (the documented
** order); nothing here is called with a device lock held.
*/
#include <stdlib.h>

#include "runtime_internal.h"

struct slm__bound_copy {
    uint32_t dev;
    const void *host;
    size_t size;
    void *buffer;
    uint8_t *base;
    uint32_t refs;
    bool state;
    bool dirty;
    bool stale;
};

static slm_status_t flush_locked(slm_runtime_t *rt, const void *host, size_t size);

static slm_status_t acquire_locked(slm_runtime_t *rt, uint32_t dev,
                                   const void *host, size_t size, bool state,
                                   void **buffer, uint8_t **base)
{
    for (uint32_t i = 0; i < rt->n_copies; i++) {
        slm__bound_copy_t *e = &rt->copies[i];
        if (e->dev == dev && e->host == host && e->size == size && e->state == state) {
            e->refs++;
            *buffer = e->buffer;
            *base = e->base;
            return SLM_OK;
        }
    }
    if (rt->n_copies == rt->cap_copies) {
        uint32_t cap = rt->cap_copies ? 2 * rt->cap_copies : 64;
        slm__bound_copy_t *w = realloc(rt->copies, cap * sizeof *w);
        if (!w)
            return slm__error(SLM_ERR_NO_MEMORY, "device copies: out of memory");
        rt->copies = w;
        rt->cap_copies = cap;
    }
    /* A state copy starts from the host memory, which must be current. */
    slm_status_t st = state ? flush_locked(rt, host, size) : SLM_OK;
    if (st != SLM_OK)
        return st;
    slm__device_t *d = rt->devices[dev];
    void *buf, *b;
    st = slm__device_buffer_alloc(d, size, state ? SLM_BUFFER_STATE : SLM_BUFFER_WEIGHTS,
                                  &buf, &b);
    if (st != SLM_OK)
        return st;
    st = slm__device_buffer_write(d, buf, 0, host, size);
    if (st != SLM_OK) {
        slm__device_buffer_free(d, buf);
        return st;
    }
    rt->copies[rt->n_copies++] = (slm__bound_copy_t){
        .dev = dev, .host = host, .size = size, .buffer = buf, .base = b,
        .refs = 1, .state = state,
    };
    *buffer = buf;
    *base = b;
    return SLM_OK;
}

slm_status_t slm__bound_copy_acquire(slm_runtime_t *rt, uint32_t dev,
                                     const void *host, size_t size, bool state,
                                     void **buffer, uint8_t **base)
{
    pthread_mutex_lock(&rt->lock);
    slm_status_t st = acquire_locked(rt, dev, host, size, state, buffer, base);
    pthread_mutex_unlock(&rt->lock);
    return st;
}

static slm__bound_copy_t *find(const slm_runtime_t *rt, uint32_t dev, const void *buffer)
{
    for (uint32_t i = 0; i < rt->n_copies; i++)
        if (rt->copies[i].dev == dev && rt->copies[i].buffer == buffer)
            return &rt->copies[i];
    return NULL;
}

static slm_status_t read_back(slm_runtime_t *rt, slm__bound_copy_t *e)
{
    /* What a lost device wrote is gone; the graphs that kept their state
    ** there say so (slm__graph_state_lost), and the host memory is all
    ** there is. */
    if (slm__device_lost(rt->devices[e->dev])) {
        e->dirty = false;
        return SLM_OK;
    }
    slm_status_t st = slm__device_buffer_read(rt->devices[e->dev], e->buffer, 0,
                                              (void *)e->host, e->size);
    if (st == SLM_OK)
        e->dirty = false;
    return st;
}

slm_status_t slm__bound_copy_release(slm_runtime_t *rt, uint32_t dev, void *buffer)
{
    pthread_mutex_lock(&rt->lock);
    slm__bound_copy_t *e = find(rt, dev, buffer);
    slm_status_t st = SLM_OK;
    if (e && --e->refs == 0) {
        /* The last graph using the state goes: its host memory keeps the
        ** state for the next graph that binds it. */
        st = e->dirty ? read_back(rt, e) : SLM_OK;
        slm__device_buffer_free(rt->devices[dev], buffer);
        *e = rt->copies[--rt->n_copies];
    }
    pthread_mutex_unlock(&rt->lock);
    return st;
}

slm_status_t slm__bound_copy_refresh(slm_runtime_t *rt, uint32_t dev, void *buffer,
                                     bool rebound)
{
    pthread_mutex_lock(&rt->lock);
    slm__bound_copy_t *e = find(rt, dev, buffer);
    slm_status_t st = SLM_OK;
    if (e && (e->stale || rebound)) {
        st = slm__device_buffer_write(rt->devices[dev], buffer, 0, e->host, e->size);
        if (st == SLM_OK)
            e->stale = e->dirty = false;
    }
    pthread_mutex_unlock(&rt->lock);
    return st;
}

void slm__bound_copy_written(slm_runtime_t *rt, uint32_t dev, void *buffer)
{
    pthread_mutex_lock(&rt->lock);
    slm__bound_copy_t *e = find(rt, dev, buffer);
    if (e)
        e->dirty = true;
    pthread_mutex_unlock(&rt->lock);
}

slm_status_t slm__bound_copy_flush(slm_runtime_t *rt, const void *host, size_t size)
{
    pthread_mutex_lock(&rt->lock);
    slm_status_t st = flush_locked(rt, host, size);
    pthread_mutex_unlock(&rt->lock);
    return st;
}

static slm_status_t flush_locked(slm_runtime_t *rt, const void *host, size_t size)
{
    for (uint32_t i = 0; i < rt->n_copies; i++) {
        slm__bound_copy_t *e = &rt->copies[i];
        if (e->state && e->dirty && e->host == host && e->size == size) {
            slm_status_t st = read_back(rt, e);
            if (st != SLM_OK)
                return st;
        }
    }
    return SLM_OK;
}

void slm__bound_copy_host_changed(slm_runtime_t *rt, const void *host, size_t size)
{
    pthread_mutex_lock(&rt->lock);
    for (uint32_t i = 0; i < rt->n_copies; i++) {
        slm__bound_copy_t *e = &rt->copies[i];
        if (e->state && e->host == host && e->size == size)
            e->stale = true;
    }
    pthread_mutex_unlock(&rt->lock);
}

void slm__bound_copy_clear(slm_runtime_t *rt)
{
    for (uint32_t i = 0; i < rt->n_copies; i++)
        slm__device_buffer_free(rt->devices[rt->copies[i].dev], rt->copies[i].buffer);
    free(rt->copies);
    rt->copies = NULL;
    rt->n_copies = rt->cap_copies = 0;
}
