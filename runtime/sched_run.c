/*
** sched_run.c -- running a graph and reading its results.
**
** A run (re)plans when the graph changed, writes the host data that changed
** since the last upload, then for each device run refreshes the copies it
** reads and hands the plugin a graph of device-local tensors. Reading gathers
** a tensor's bytes from the device holding its value.
**
** A device that reports itself lost bumps the runtime's device generation,
** and every plan made before is made again without it. With `fallback` on,
** a run that a device fails (a plugin call returning an error) is run again
** from its first node with that device left out: when the failure came
** from planning (the device ran out of memory), the new plan is kept; when
** it came from running, it serves that run only and the next one plans with
** every device again. A graph whose resident state was on a lost device
** never falls back: that state is gone, which the owner must hear of.
*/
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"

/* ---------------------------------------------------------------- transfer */

static slm__device_t *dev_of(const slm_graph_builder_t *g, const slm__inst_t *in)
{
    return g->rt->devices[in->dev];
}

static slm_status_t staging(slm__plan_t *plan, size_t size, uint8_t **out)
{
    if (!plan->staging) {
        plan->staging = malloc(plan->staging_size ? plan->staging_size : 1);
        if (!plan->staging)
            return slm__error(SLM_ERR_NO_MEMORY, "graph run: staging buffer of "
                              "%zu bytes: out of memory", plan->staging_size);
    }
    if (size > plan->staging_size)
        return slm__error(SLM_ERR_INTERNAL, "graph run: copy of %zu bytes "
                          "exceeds staging (%zu)", size, plan->staging_size);
    *out = plan->staging;
    return SLM_OK;
}

/* Copy a root's bytes from its home instance to another device's. */
static slm_status_t transfer(const slm_graph_builder_t *g, slm__plan_t *plan,
                             const slm__inst_t *from, const slm__inst_t *to)
{
    size_t size = to->size;
    if (from->base && to->base) {
        memcpy(to->base, from->base, size);
        return SLM_OK;
    }
    if (from->base)
        return slm__device_buffer_write(dev_of(g, to), to->buffer, to->offset,
                                        from->base, size);
    if (to->base)
        return slm__device_buffer_read(dev_of(g, from), from->buffer,
                                       from->offset, to->base, size);
    uint8_t *tmp = NULL;
    slm_status_t st = staging(plan, size, &tmp);
    if (st == SLM_OK)
        st = slm__device_buffer_read(dev_of(g, from), from->buffer,
                                     from->offset, tmp, size);
    if (st == SLM_OK)
        st = slm__device_buffer_write(dev_of(g, to), to->buffer, to->offset,
                                      tmp, size);
    return st;
}

/* ------------------------------------------------------------------- fills */

static slm_status_t write_host(const slm_graph_builder_t *g, slm__inst_t *in,
                               const void *src)
{
    return slm__device_buffer_write(dev_of(g, in), in->buffer, in->offset, src,
                                    in->size);
}

/* First contents of a STATE instance: what a replan kept, the data the
** application set, or zeros. */
static slm_status_t fill_state(const slm_graph_builder_t *g, slm__inst_t *in,
                               slm__tensor_t *root)
{
    const void *src = root->saved_state ? root->saved_state
                                         : slm__tensor_host_data(root);
    if (src)
        return write_host(g, in, src);
    void *zeros = calloc(1, in->size);
    if (!zeros)
        return slm__error(SLM_ERR_NO_MEMORY, "graph run: zeroing %zu bytes of "
                          "STATE: out of memory", in->size);
    slm_status_t st = write_host(g, in, zeros);
    free(zeros);
    return st;
}

/* Whether an instance needs its host bytes written before this run: new
** data, and bound memory the application may change between runs (every
** bound leaf but a weight; STATE bound memory is the state itself). */
static bool needs_fill(const slm__inst_t *in, const slm__tensor_t *root)
{
    if (in->kind == SLM__INST_WRAP || in->kind == SLM__INST_SHARED ||
        (in->fill != SLM__FILL_HOST && in->fill != SLM__FILL_STATE))
        return false;
    if (!in->filled || in->filled_gen != root->data_gen)
        return true;
    return root->bound && !(root->pub.flags & SLM_TENSOR_WEIGHT);
}

/* Resident state: a shared device copy is brought up to date from the host
** when the host side is newer; host memory used directly (wrapped, or
** copied in) first gets what a device wrote into its shared copies. */
static slm_status_t sync_resident(const slm_graph_builder_t *g, slm__inst_t *in,
                                  const slm__tensor_t *root)
{
    if (in->kind == SLM__INST_SHARED) {
        bool rebound = in->filled_gen != root->data_gen;
        in->filled_gen = root->data_gen;
        return slm__bound_copy_refresh(g->rt, in->dev, in->buffer, rebound);
    }
    return slm__bound_copy_flush(g->rt, root->bound, in->size);
}

static slm_status_t fill_leaves(const slm_graph_builder_t *g, slm__plan_t *plan)
{
    for (uint32_t k = 0; k < plan->n_insts; k++) {
        slm__inst_t *in = &plan->insts[k];
        slm__tensor_t *root = slm__tensor_at(g, in->root);
        slm_status_t st;
        if (root->resident && root->bound && in->fill == SLM__FILL_STATE &&
            (st = sync_resident(g, in, root)) != SLM_OK)
            return st;
        if (!needs_fill(in, root))
            continue;
        if (in->fill == SLM__FILL_STATE && !in->filled && !root->bound)
            st = fill_state(g, in, root);
        else
            st = write_host(g, in, slm__tensor_host_data(root));
        if (st != SLM_OK)
            return st;
        in->filled = true;
        in->filled_gen = root->data_gen;
        if (in->fill == SLM__FILL_STATE) {
            free(root->saved_state);
            root->saved_state = NULL;
        }
    }
    return SLM_OK;
}

/* After a run, bound STATE the graph wrote: a resident state's shared
** copy is now newer than its host memory; other bound state goes back to
** its host memory unless the device used that memory in place. Host memory
** written either way makes the resident copies of it stale. */
static slm_status_t after_run(const slm_graph_builder_t *g, const slm__plan_t *plan)
{
    for (uint32_t t = 0; t < plan->n_tensors; t++) {
        const slm__tensor_t *root = slm__tensor_at(g, t);
        int32_t k = plan->home_inst[t];
        if (k < 0 || !root->bound || !plan->written[t])
            continue;
        const slm__inst_t *in = &plan->insts[k];
        if (in->fill != SLM__FILL_STATE)
            continue;
        if (in->kind == SLM__INST_SHARED) {
            slm__bound_copy_written(g->rt, in->dev, in->buffer);
            continue;
        }
        if (in->kind != SLM__INST_WRAP) {
            slm_status_t st = slm__device_buffer_read(dev_of(g, in), in->buffer,
                                                      in->offset,
                                                      (void *)root->bound, in->size);
            if (st != SLM_OK)
                return st;
        }
        if (root->resident)
            slm__bound_copy_host_changed(g->rt, root->bound, in->size);
    }
    return SLM_OK;
}

slm_status_t slm_graph_sync_state(slm_graph_builder_t *g)
{
    if (!g)
        return slm__error(SLM_ERR_INVALID_ARG, "slm_graph_sync_state: graph is NULL");
    for (uint32_t t = 0; t < g->n_tensors; t++) {
        const slm__tensor_t *r = slm__tensor_at(g, t);
        if (r->resident && r->bound) {
            slm_status_t st = slm__bound_copy_flush(g->rt, r->bound, r->nbytes);
            if (st != SLM_OK)
                return st;
        }
    }
    return SLM_OK;
}

/* ---------------------------------------------------- plugin-facing graphs */

/* The tensors a run touches, each with its clone's slot: slot[] maps tensor
** index to slot (-1: not touched), list[] holds the touched indices. */
typedef struct touched {
    int32_t *slot;
    uint32_t *list;
    uint32_t n;
} touched;

/* Touch t and the tensors it views, so that view_src can point at clones. */
static void touch_chain(const slm_graph_builder_t *g, touched *tc,
                        const slm_tensor_t *t)
{
    int32_t i = (int32_t)slm__tensor_of(g, t)->index;
    for (; i >= 0 && tc->slot[i] < 0; i = slm__tensor_at(g, (uint32_t)i)->view_parent) {
        tc->slot[i] = (int32_t)tc->n;
        tc->list[tc->n++] = (uint32_t)i;
    }
}

static slm_tensor_t *clone_of(const slm_graph_builder_t *g, const slm__run_t *run,
                              const touched *tc, const slm_tensor_t *t)
{
    return &run->clones[tc->slot[slm__tensor_of(g, t)->index]];
}

/* The tensor as the run's plugin sees it: in its buffer, views resolved. */
static void make_clone(const slm__plan_t *plan, const slm__run_t *run,
                       const slm__tensor_t *r, const touched *tc)
{
    slm_tensor_t *c = &run->clones[tc->slot[r->index]];
    const slm__inst_t *in =
        &plan->insts[slm__plan_find_inst(plan, r->root, run->dev)];
    *c = r->pub;
    c->buffer = in->buffer;
    c->offset = in->offset + r->view_offset;
    c->data = in->base ? in->base + r->view_offset : NULL;
    c->view_src = r->view_parent >= 0 ? &run->clones[tc->slot[r->view_parent]]
                                      : NULL;
}

static slm_status_t build_run_graph(const slm_graph_builder_t *g,
                                    const slm__plan_t *plan, slm__run_t *run,
                                    touched *tc)
{
    const slm_node_t *nodes = &g->nodes[run->first];
    tc->n = 0;
    for (uint32_t i = 0; i < run->n_nodes; i++) {
        for (int k = 0; k < SLM_MAX_SRC; k++)
            if (nodes[i].src[k])
                touch_chain(g, tc, nodes[i].src[k]);
        touch_chain(g, tc, nodes[i].dst);
    }
    run->clones = calloc(tc->n, sizeof *run->clones);
    run->graph.nodes = calloc(run->n_nodes, sizeof *run->graph.nodes);
    slm_status_t st = SLM_OK;
    if (run->clones && run->graph.nodes) {
        run->n_clones = tc->n;
        run->graph.n_nodes = run->n_nodes;
        for (uint32_t j = 0; j < tc->n; j++)
            make_clone(plan, run, slm__tensor_at(g, tc->list[j]), tc);
        for (uint32_t i = 0; i < run->n_nodes; i++) {
            slm_node_t *node = &run->graph.nodes[i];
            *node = nodes[i];
            for (int k = 0; k < SLM_MAX_SRC; k++)
                if (node->src[k])
                    node->src[k] = clone_of(g, run, tc, node->src[k]);
            node->dst = clone_of(g, run, tc, node->dst);
        }
    } else {
        st = slm__error(SLM_ERR_NO_MEMORY, "graph plan: out of memory");
    }
    for (uint32_t j = 0; j < tc->n; j++)
        tc->slot[tc->list[j]] = -1;
    return st;
}

static slm_status_t build_graphs(const slm_graph_builder_t *g, slm__plan_t *plan)
{
    size_t n = g->n_tensors ? g->n_tensors : 1;
    touched tc = { malloc(n * sizeof *tc.slot), malloc(n * sizeof *tc.list), 0 };
    slm_status_t st = SLM_OK;
    if (!tc.slot || !tc.list)
        st = slm__error(SLM_ERR_NO_MEMORY, "graph plan: out of memory");
    for (uint32_t t = 0; t < g->n_tensors && st == SLM_OK; t++)
        tc.slot[t] = -1;
    for (uint32_t r = 0; r < plan->n_runs && st == SLM_OK; r++)
        st = build_run_graph(g, plan, &plan->runs[r], &tc);
    free(tc.slot);
    free(tc.list);
    return st;
}

/* -------------------------------------------------------------------- plan */

slm_status_t slm__plan_save_state(slm_graph_builder_t *g)
{
    slm__plan_t *plan = g->plan;
    for (uint32_t t = 0; plan && t < plan->n_tensors; t++) {
        slm__tensor_t *root = slm__tensor_at(g, t);
        int32_t k = plan->home_inst[t];
        if (k < 0 || plan->insts[k].fill != SLM__FILL_STATE)
            continue;
        slm__inst_t *in = &plan->insts[k];
        /* Data the application set since the last run wins over the state;
        ** bound STATE already lives in host memory. */
        if (root->bound || !in->filled || in->filled_gen != root->data_gen || root->saved_state)
            continue;
        if (slm__device_lost(dev_of(g, in)))
            continue; /* gone with the device: slm_graph_run warned */
        root->saved_state = malloc(in->size);
        if (!root->saved_state)
            return slm__error(SLM_ERR_NO_MEMORY, "graph: keeping %zu bytes of "
                              "STATE across a replan: out of memory", in->size);
        slm_status_t st = slm__device_buffer_read(dev_of(g, in), in->buffer,
                                                  in->offset, root->saved_state,
                                                  in->size);
        if (st != SLM_OK) {
            free(root->saved_state);
            root->saved_state = NULL;
            return st;
        }
    }
    return SLM_OK;
}

bool slm__graph_state_lost(const slm_graph_builder_t *g)
{
    const slm__plan_t *plan = g->plan;
    for (uint32_t k = 0; plan && k < plan->n_insts; k++) {
        const slm__inst_t *in = &plan->insts[k];
        const slm__tensor_t *root = slm__tensor_at(g, in->root);
        /* Bound state copied in and out is in host memory after every run;
        ** wrapped state is the host memory. */
        bool device_only = in->kind == SLM__INST_SHARED ||
                           (in->kind == SLM__INST_OWN && !root->bound);
        if (in->fill == SLM__FILL_STATE && device_only && in->filled &&
            slm__device_lost(dev_of(g, in)))
            return true;
    }
    return false;
}

/* Plan again, leaving out the devices in `skip` (NULL: none). */
static slm_status_t build_plan(slm_graph_builder_t *g, const bool *skip)
{
    slm_status_t st = slm__graph_validate(g);
    if (st == SLM_OK)
        st = slm__plan_save_state(g);
    if (st != SLM_OK)
        return st;
    slm__plan_free(g->rt, g->plan);
    g->plan = NULL;
    slm__plan_t *plan = calloc(1, sizeof *plan);
    if (!plan)
        return slm__error(SLM_ERR_NO_MEMORY, "graph plan: out of memory");
    /* Read first: a device lost while planning makes the next run plan again. */
    plan->devices_gen = atomic_load(&g->rt->devices_gen);
    plan->skip = skip;
    st = slm__plan_place(g, plan);
    plan->skip = NULL;
    if (st == SLM_OK)
        st = slm__plan_alloc(g, plan);
    if (st == SLM_OK)
        st = build_graphs(g, plan);
    if (st != SLM_OK) {
        slm__plan_free(g->rt, plan);
        return st;
    }
    g->plan = plan;
    g->changed = false;
    return SLM_OK;
}

slm_status_t slm__graph_place_only(const slm_graph_builder_t *g, uint32_t *node_dev)
{
    slm_status_t st = slm__graph_validate(g);
    if (st != SLM_OK)
        return st;
    slm__plan_t *plan = calloc(1, sizeof *plan);
    if (!plan)
        return slm__error(SLM_ERR_NO_MEMORY, "graph plan: out of memory");
    st = slm__plan_place(g, plan);
    if (st == SLM_OK && g->n_nodes)
        memcpy(node_dev, plan->node_dev, g->n_nodes * sizeof *node_dev);
    slm__plan_free(g->rt, plan);
    return st;
}

/* --------------------------------------------------------------------- run */

static slm_status_t run_one(const slm_graph_builder_t *g, slm__plan_t *plan,
                            const slm__run_t *run)
{
    for (uint32_t c = 0; c < run->n_copies; c++) {
        const slm__inst_t *to = &plan->insts[run->copies[c]];
        const slm__inst_t *from = &plan->insts[plan->home_inst[to->root]];
        slm_status_t st = transfer(g, plan, from, to);
        if (st != SLM_OK)
            return st;
    }
    return slm__device_compute(g->rt->devices[run->dev], &run->graph);
}

/* Plan when needed (or when `skip` leaves devices out), then run.
** *planning: whether a failure came from planning. */
static slm_status_t plan_and_run(slm_graph_builder_t *g, const bool *skip,
                                 bool *planning)
{
    slm__plan_t *plan = g->plan;
    *planning = true;
    if (skip || !plan || g->changed || g->plan_is_fallback ||
        plan->devices_gen != atomic_load(&g->rt->devices_gen)) {
        if (plan && slm__graph_state_lost(g))
            slm__log(g->rt, SLM_LOG_WARN, "graph: STATE kept on a device since "
                     "lost is gone; it starts again from its host memory, its "
                     "data or zeros");
        slm_status_t st = build_plan(g, skip);
        if (st != SLM_OK)
            return st;
        g->plan_is_fallback = false;
        plan = g->plan;
    }
    *planning = false;
    slm_status_t st = fill_leaves(g, plan);
    for (uint32_t r = 0; r < plan->n_runs && st == SLM_OK; r++)
        st = run_one(g, plan, &plan->runs[r]);
    if (st == SLM_OK)
        st = after_run(g, plan);
    return st;
}

/* The run failed with `st`: while a device's plugin call is to blame, run
** again without it. Returns the last failure when no device is left to try. */
static slm_status_t run_fallback(slm_graph_builder_t *g, slm_status_t st,
                                 bool planning)
{
    slm_runtime_t *rt = g->rt;
    bool *skip = calloc(rt->n_devices ? rt->n_devices : 1, sizeof *skip);
    if (!skip)
        return st; /* the device's failure says more than this would */
    const bool keep = planning;
    slm__device_t *d;
    while ((d = slm__device_failed_take()) && !skip[d->desc.rank] &&
           !slm__graph_state_lost(g)) {
        skip[d->desc.rank] = true;
        slm__log(rt, SLM_LOG_WARN, "%s; running the graph again without %s",
                 slm_last_error(), d->id);
        st = plan_and_run(g, skip, &planning);
        if (st == SLM_OK) {
            g->plan_is_fallback = !keep;
            break;
        }
    }
    free(skip);
    return st;
}

slm_status_t slm_graph_run(slm_graph_builder_t *g)
{
    if (!g)
        return slm__error(SLM_ERR_INVALID_ARG, "slm_graph_run: graph is NULL");
    slm__device_failed_take();
    bool planning;
    slm_status_t st = plan_and_run(g, NULL, &planning);
    if (st != SLM_OK && g->rt->fallback)
        st = run_fallback(g, st, planning);
    return st;
}

/* -------------------------------------------------------------------- read */

/* Elements (blocks) of t, from element 0 at `src`, packed into dst in ne
** order; rows are copied whole when their elements are adjacent. */
static void gather(const slm_tensor_t *t, const uint8_t *src, uint8_t *dst)
{
    size_t bb = slm_dtype_block_bytes(t->dtype);
    size_t row = slm_tensor_row_bytes(t);
    int64_t n0 = t->ne[0] / slm_dtype_block_elems(t->dtype);
    for (int64_t i3 = 0; i3 < t->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < t->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < t->ne[1]; i1++) {
                const uint8_t *s = src + (size_t)i1 * t->nb[1] +
                                   (size_t)i2 * t->nb[2] + (size_t)i3 * t->nb[3];
                if (t->nb[0] == bb) {
                    memcpy(dst, s, row);
                    dst += row;
                    continue;
                }
                for (int64_t i0 = 0; i0 < n0; i0++, dst += bb)
                    memcpy(dst, s + (size_t)i0 * t->nb[0], bb);
            }
}

/* Bytes [off, off + size) of an instance: its host address, or read into
** `scratch` (malloc'd, the caller frees). */
static slm_status_t inst_bytes(const slm_graph_builder_t *g, const slm__inst_t *in,
                               size_t off, size_t size, const uint8_t **out,
                               uint8_t **scratch)
{
    if (in->base) {
        *out = in->base + off;
        return SLM_OK;
    }
    *scratch = malloc(size ? size : 1);
    if (!*scratch)
        return slm__error(SLM_ERR_NO_MEMORY, "slm_graph_read: %zu bytes: out of "
                          "memory", size);
    *out = *scratch;
    return slm__device_buffer_read(dev_of(g, in), in->buffer, in->offset + off,
                                   *scratch, size);
}

/* Where the value of `root` is: a device instance or host bytes. */
static slm_status_t locate(const slm_graph_builder_t *g, const slm__tensor_t *root,
                           const char *lab, const slm__inst_t **inst,
                           const uint8_t **host)
{
    const slm__plan_t *plan = g->plan;
    *inst = NULL;
    *host = NULL;
    if (!plan)
        return slm__error(SLM_ERR_INVALID_ARG, "slm_graph_read: %s: the graph "
                          "has not run yet", lab);
    if (root->index < plan->n_tensors && plan->home_inst[root->index] >= 0) {
        *inst = &plan->insts[plan->home_inst[root->index]];
        if ((*inst)->kind == SLM__INST_ARENA && !plan->keep[root->index])
            return slm__error(SLM_ERR_INVALID_ARG, "slm_graph_read: %s is an "
                              "intermediate whose memory was reused; mark it "
                              "with slm_graph_set_output before the run", lab);
        return SLM_OK;
    }
    if (root->saved_state)
        *host = root->saved_state;
    else if (slm__tensor_host_data(root))
        *host = slm__tensor_host_data(root);
    else if (!(root->pub.flags & SLM_TENSOR_STATE))
        return slm__error(SLM_ERR_INVALID_ARG, "slm_graph_read: %s has no "
                          "value: %s", lab, root->index < plan->n_tensors
                              ? "no node of the last run wrote it"
                              : "it was added after the last run");
    return SLM_OK;
}

slm_status_t slm_graph_read(slm_graph_builder_t *g, const slm_tensor_t *t,
                            void *dst, size_t size)
{
    const slm__tensor_t *r = slm__tensor_of(g, t);
    if (!r || !dst)
        return slm__error(SLM_ERR_INVALID_ARG, "slm_graph_read: %s",
                          r ? "dst is NULL" : "not a tensor of this graph");
    char lab[SLM_MAX_NAME + 16];
    slm__tensor_label(t, "tensor", lab, sizeof lab);
    const slm__tensor_t *root = slm__tensor_at(g, r->root);
    size_t want = slm_tensor_row_bytes(t) * (size_t)slm_tensor_nrows(t);
    size_t ext = slm__tensor_extent(t);
    if ((slm_dtype_is_quantized(t->dtype) &&
         t->nb[0] != slm_dtype_block_bytes(t->dtype)) || ext == SIZE_MAX ||
        r->view_offset > root->nbytes || ext > root->nbytes - r->view_offset)
        return slm__error(SLM_ERR_GRAPH, "slm_graph_read: %s: shape or strides "
                          "changed after the tensor was created", lab);
    if (size != want)
        return slm__error(SLM_ERR_INVALID_ARG, "slm_graph_read: %s holds %zu "
                          "bytes, got %zu", lab, want, size);
    const slm__inst_t *in;
    const uint8_t *src;
    slm_status_t st = locate(g, root, lab, &in, &src);
    if (st != SLM_OK)
        return st;
    uint8_t *scratch = NULL;
    if (in)
        st = inst_bytes(g, in, r->view_offset, ext, &src, &scratch);
    else if (src)
        src += r->view_offset;
    if (st == SLM_OK && src)
        gather(t, src, dst);
    else if (st == SLM_OK)
        memset(dst, 0, size); /* STATE no node touched yet */
    free(scratch);
    return st;
}
