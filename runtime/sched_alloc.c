/*
** sched_alloc.c -- device memory of a plan.
**
** Leaves get buffers of their own: weights (wrapped in place when the device
** can use host memory and the application bound it), inputs, and STATE. The
** results of nodes and the copies a run takes of tensors living elsewhere
** share one activations arena per device: each is live from the event that
** fills it to its last reader (plan time, graph_internal.h), and slices are
** placed first-fit among those live at the same time, so memory of a dead
** tensor is reused. Buffers are made once per plan and kept across runs.
*/
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"

#define ARENA_ALIGN 64

static size_t align_up(size_t n)
{
    return (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
}

/* ------------------------------------------------------------------ arenas */

typedef struct slice {
    size_t off, size;
    int64_t t_end;
} slice;

/* An arena slice to place, with its sort keys copied in: qsort has no
** context argument, and a static one would race between runtimes. */
typedef struct item {
    int64_t t_start;
    size_t size;
    uint32_t inst;
} item;

static int by_start(const void *a, const void *b)
{
    const item *x = a, *y = b;
    if (x->t_start != y->t_start)
        return x->t_start < y->t_start ? -1 : 1;
    if (x->size != y->size)
        return x->size > y->size ? -1 : 1;
    return x->inst < y->inst ? -1 : 1;
}

/* First fit among the slices still live (kept sorted by offset). */
static size_t place_slice(slice *live, uint32_t *n_live, const slm__inst_t *in)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < *n_live; i++)
        if (live[i].t_end >= in->t_start)
            live[n++] = live[i];
    size_t size = align_up(in->size), cursor = 0;
    uint32_t at = n;
    for (uint32_t i = 0; i < n; i++) {
        if (cursor + size <= live[i].off) {
            at = i;
            break;
        }
        if (live[i].off + live[i].size > cursor)
            cursor = live[i].off + live[i].size;
    }
    memmove(&live[at + 1], &live[at], (n - at) * sizeof *live);
    live[at] = (slice){cursor, size, in->t_end};
    *n_live = n + 1;
    return cursor;
}

/* Offsets of one device's slices and the arena size. */
static void layout_arena(slm__plan_t *plan, uint32_t dev, item *items,
                         slice *live)
{
    slm__dev_plan_t *dp = &plan->devs[dev];
    uint32_t n = 0;
    for (uint32_t k = 0; k < plan->n_insts; k++) {
        const slm__inst_t *in = &plan->insts[k];
        if (in->kind == SLM__INST_ARENA && in->dev == dev)
            items[n++] = (item){in->t_start, in->size, k};
    }
    qsort(items, n, sizeof *items, by_start);
    uint32_t n_live = 0;
    for (uint32_t i = 0; i < n; i++) {
        slm__inst_t *in = &plan->insts[items[i].inst];
        in->offset = place_slice(live, &n_live, in);
        size_t end = in->offset + align_up(in->size);
        if (end > dp->arena_size)
            dp->arena_size = end;
        dp->arena_demand += align_up(in->size);
    }
    dp->n_slices = n;
}

static slm_status_t alloc_arena(const slm_graph_builder_t *g, slm__plan_t *plan,
                                uint32_t dev)
{
    slm__dev_plan_t *dp = &plan->devs[dev];
    if (dp->arena_size == 0)
        return SLM_OK;
    slm__device_t *d = g->rt->devices[dev];
    void *base;
    slm_status_t st = slm__device_buffer_alloc(d, dp->arena_size,
                                               SLM_BUFFER_ACTIVATIONS,
                                               &dp->arena, &base);
    if (st != SLM_OK)
        return st;
    dp->arena_base = base;
    for (uint32_t k = 0; k < plan->n_insts; k++) {
        slm__inst_t *in = &plan->insts[k];
        if (in->kind != SLM__INST_ARENA || in->dev != dev)
            continue;
        in->buffer = dp->arena;
        in->base = dp->arena_base ? dp->arena_base + in->offset : NULL;
    }
    slm__log(g->rt, SLM_LOG_DEBUG, "graph: %s: activations arena %zu bytes "
             "for %zu bytes of intermediates (%u tensors)", d->id,
             dp->arena_size, dp->arena_demand, dp->n_slices);
    return SLM_OK;
}

static slm_status_t alloc_arenas(const slm_graph_builder_t *g, slm__plan_t *plan)
{
    item *items = malloc((plan->n_insts ? plan->n_insts : 1) * sizeof *items);
    slice *live = malloc((plan->n_insts ? plan->n_insts : 1) * sizeof *live);
    slm_status_t st = SLM_OK;
    if (!items || !live)
        st = slm__error(SLM_ERR_NO_MEMORY, "graph plan: out of memory");
    for (uint32_t dev = 0; dev < plan->n_devs && st == SLM_OK; dev++) {
        layout_arena(plan, dev, items, live);
        st = alloc_arena(g, plan, dev);
    }
    free(items);
    free(live);
    return st;
}

/* ------------------------------------------------------------- own buffers */

static slm_buffer_usage_t usage_of(const slm__tensor_t *root)
{
    if (root->pub.flags & SLM_TENSOR_STATE)
        return SLM_BUFFER_STATE;
    if (root->pub.flags & SLM_TENSOR_WEIGHT)
        return SLM_BUFFER_WEIGHTS;
    return SLM_BUFFER_IO;
}

/* Bound host memory is used in place where the device can: weights and
** inputs the graph only reads, and STATE, whose bound memory is the state
** itself. Otherwise (or on a device without the slot) the bytes are copied
** like any other leaf's. A leaf the graph writes that is not STATE is never
** wrapped: the application's input would change under it. */
static slm_status_t try_wrap(const slm__plan_t *plan, slm__device_t *d,
                             slm__inst_t *in, const slm__tensor_t *root)
{
    bool ok = root->bound &&
              (in->fill == SLM__FILL_STATE ||
               (in->fill == SLM__FILL_HOST && !plan->written[root->index]));
    if (!ok)
        return SLM_ERR_UNSUPPORTED;
    void *buf;
    slm_status_t st = slm__device_buffer_from_host(d, (void *)root->bound,
                                                   in->size, &buf);
    if (st != SLM_OK)
        return st;
    in->kind = SLM__INST_WRAP;
    in->buffer = buf;
    in->base = (d->desc.info->flags & SLM_DEVICE_FLAG_HOST_MEMORY)
                   ? (uint8_t *)root->bound : NULL;
    in->filled = true;
    in->filled_gen = root->data_gen;
    return SLM_OK;
}

static slm_status_t alloc_own(const slm_graph_builder_t *g, slm__plan_t *plan)
{
    for (uint32_t k = 0; k < plan->n_insts; k++) {
        slm__inst_t *in = &plan->insts[k];
        if (in->kind == SLM__INST_ARENA)
            continue;
        slm__device_t *d = g->rt->devices[in->dev];
        const slm__tensor_t *root = slm__tensor_at(g, in->root);
        slm_status_t st = try_wrap(plan, d, in, root);
        if (st == SLM_OK)
            continue;
        if (st != SLM_ERR_UNSUPPORTED)
            return st;
        bool weight = (root->pub.flags & SLM_TENSOR_WEIGHT) && in->fill == SLM__FILL_HOST;
        bool state = root->resident && in->fill == SLM__FILL_STATE;
        if (root->bound && (weight || state)) {
            st = slm__bound_copy_acquire(g->rt, in->dev, root->bound, in->size,
                                         state, &in->buffer, &in->base);
            if (st != SLM_OK)
                return st;
            in->kind = SLM__INST_SHARED;
            in->filled = true;
            in->filled_gen = root->data_gen;
            continue;
        }
        void *base;
        st = slm__device_buffer_alloc(d, in->size, usage_of(root), &in->buffer,
                                      &base);
        if (st != SLM_OK)
            return st;
        in->base = base;
    }
    return SLM_OK;
}

/* ------------------------------------------------------------------- entry */

slm_status_t slm__plan_alloc(const slm_graph_builder_t *g, slm__plan_t *plan)
{
    slm_status_t st = alloc_arenas(g, plan);
    if (st == SLM_OK)
        st = alloc_own(g, plan);
    if (st != SLM_OK)
        return st;
    for (uint32_t k = 0; k < plan->n_insts; k++)
        if (plan->insts[k].fill == SLM__FILL_COPY &&
            plan->insts[k].size > plan->staging_size)
            plan->staging_size = plan->insts[k].size;
    return SLM_OK;
}

static void free_runs(slm__plan_t *plan)
{
    for (uint32_t r = 0; r < plan->n_runs; r++) {
        free(plan->runs[r].copies);
        free(plan->runs[r].clones);
        free(plan->runs[r].graph.nodes);
    }
    free(plan->runs);
}

void slm__plan_free(slm_runtime_t *rt, slm__plan_t *plan)
{
    if (!plan)
        return;
    for (uint32_t k = 0; k < plan->n_insts; k++) {
        slm__inst_t *in = &plan->insts[k];
        if (in->kind == SLM__INST_SHARED)
            /* A state read back that fails leaves the host memory as it
            ** was, with the device's message as the last error: freeing
            ** goes on. */
            (void)slm__bound_copy_release(rt, in->dev, in->buffer);
        else if (in->kind != SLM__INST_ARENA && in->buffer)
            slm__device_buffer_free(rt->devices[in->dev], in->buffer);
    }
    for (uint32_t d = 0; d < plan->n_devs && plan->devs; d++)
        if (plan->devs[d].arena)
            slm__device_buffer_free(rt->devices[d], plan->devs[d].arena);
    free_runs(plan);
    free(plan->insts);
    free(plan->devs);
    free(plan->node_dev);
    free(plan->home_dev);
    free(plan->home_inst);
    free(plan->first_inst);
    free(plan->written);
    free(plan->keep);
    free(plan->staging);
    free(plan);
}
