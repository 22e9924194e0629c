/*
** weight_cache.c -- weights uploaded once per device, shared by graphs.
**
** A model's weights are bound host memory (the GGUF mapping) in every graph
** its sessions build. A device that cannot use that memory in place gets a
** copy; this cache keys the copy by device and host range, so the prompt
** graph, the one-token graph and every replan share one upload. Entries are
** counted and freed with the last graph that uses them.
*/
#include <stdlib.h>

#include "runtime_internal.h"

struct slm__weight_entry {
    uint32_t dev;
    const void *host;
    size_t size;
    void *buffer;
    uint8_t *base;
    uint32_t refs;
};

slm_status_t slm__weight_cache_acquire(slm_runtime_t *rt, uint32_t dev,
                                       const void *host, size_t size,
                                       void **buffer, uint8_t **base)
{
    for (uint32_t i = 0; i < rt->n_weights; i++) {
        slm__weight_entry_t *e = &rt->weights[i];
        if (e->dev == dev && e->host == host && e->size == size) {
            e->refs++;
            *buffer = e->buffer;
            *base = e->base;
            return SLM_OK;
        }
    }
    if (rt->n_weights == rt->cap_weights) {
        uint32_t cap = rt->cap_weights ? 2 * rt->cap_weights : 64;
        slm__weight_entry_t *w = realloc(rt->weights, cap * sizeof *w);
        if (!w)
            return slm__error(SLM_ERR_NO_MEMORY, "weight cache: out of memory");
        rt->weights = w;
        rt->cap_weights = cap;
    }
    slm__device_t *d = rt->devices[dev];
    void *buf, *b;
    slm_status_t st = slm__device_buffer_alloc(d, size, SLM_BUFFER_WEIGHTS, &buf, &b);
    if (st != SLM_OK)
        return st;
    st = slm__device_buffer_write(d, buf, 0, host, size);
    if (st != SLM_OK) {
        slm__device_buffer_free(d, buf);
        return st;
    }
    rt->weights[rt->n_weights++] = (slm__weight_entry_t){ dev, host, size, buf, b, 1 };
    *buffer = buf;
    *base = b;
    return SLM_OK;
}

void slm__weight_cache_release(slm_runtime_t *rt, uint32_t dev, void *buffer)
{
    for (uint32_t i = 0; i < rt->n_weights; i++) {
        slm__weight_entry_t *e = &rt->weights[i];
        if (e->dev != dev || e->buffer != buffer)
            continue;
        if (--e->refs == 0) {
            slm__device_buffer_free(rt->devices[dev], buffer);
            rt->weights[i] = rt->weights[--rt->n_weights];
        }
        return;
    }
}

void slm__weight_cache_clear(slm_runtime_t *rt)
{
    for (uint32_t i = 0; i < rt->n_weights; i++)
        slm__device_buffer_free(rt->devices[rt->weights[i].dev], rt->weights[i].buffer);
    free(rt->weights);
    rt->weights = NULL;
    rt->n_weights = rt->cap_weights = 0;
}
