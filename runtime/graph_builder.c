/*
** graph_builder.c -- building a graph: tensors, views, nodes, data.
**
** Everything here only records what the application asks for and checks it
** on the spot; placement and memory wait for the first run (sched_*.c). Any
** change to a graph that has run marks its plan stale.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"

/* --------------------------------------------------------------- lifecycle */

slm_status_t slm_graph_create(slm_runtime_t *rt, slm_graph_builder_t **out)
{
    if (!out)
        return slm__error(SLM_ERR_INVALID_ARG, "slm_graph_create: out is NULL");
    *out = NULL;
    if (!rt)
        return slm__error(SLM_ERR_INVALID_ARG, "slm_graph_create: runtime is NULL");
    slm_graph_builder_t *g = calloc(1, sizeof *g);
    if (!g)
        return slm__error(SLM_ERR_NO_MEMORY, "slm_graph_create: out of memory");
    g->rt = rt;
    *out = g;
    return SLM_OK;
}

void slm_graph_destroy(slm_graph_builder_t *g)
{
    if (!g)
        return;
    slm__plan_free(g->rt, g->plan);
    for (uint32_t i = 0; i < g->n_tensors; i++) {
        slm__tensor_t *r = slm__tensor_at(g, i);
        free(r->owned);
        free(r->saved_state);
    }
    for (uint32_t c = 0; c < g->n_chunks; c++)
        free(g->chunks[c]);
    free(g->chunks);
    free(g->nodes);
    free(g);
}

/* ----------------------------------------------------------------- records */

slm__tensor_t *slm__tensor_of(const slm_graph_builder_t *g,
                              const slm_tensor_t *t)
{
    if (!g || !t)
        return NULL;
    /* Ranges, not a dereference: `t` may be anything the application passed. */
    uintptr_t p = (uintptr_t)t;
    for (uint32_t c = 0; c < g->n_chunks; c++) {
        uintptr_t lo = (uintptr_t)g->chunks[c];
        uintptr_t hi = lo + SLM__TENSOR_CHUNK * sizeof(slm__tensor_t);
        if (p < lo || p >= hi || (p - lo) % sizeof(slm__tensor_t) != 0)
            continue;
        uint32_t index = c * SLM__TENSOR_CHUNK +
                         (uint32_t)((p - lo) / sizeof(slm__tensor_t));
        return index < g->n_tensors ? slm__tensor_at(g, index) : NULL;
    }
    return NULL;
}

/* A zeroed record at the end of the graph. */
static slm_status_t new_record(slm_graph_builder_t *g, slm__tensor_t **out)
{
    if (g->n_tensors == UINT32_MAX - 1)
        return slm__error(SLM_ERR_INVALID_ARG, "graph: too many tensors");
    if (g->n_tensors == g->n_chunks * SLM__TENSOR_CHUNK) {
        slm__tensor_t **chunks = realloc(g->chunks,
                                         (g->n_chunks + 1) * sizeof *chunks);
        if (!chunks)
            return slm__error(SLM_ERR_NO_MEMORY, "graph: out of memory");
        g->chunks = chunks;
        chunks[g->n_chunks] = calloc(SLM__TENSOR_CHUNK, sizeof(slm__tensor_t));
        if (!chunks[g->n_chunks])
            return slm__error(SLM_ERR_NO_MEMORY, "graph: out of memory");
        g->n_chunks++;
    }
    slm__tensor_t *r = slm__tensor_at(g, g->n_tensors);
    memset(r, 0, sizeof *r);
    r->index = g->n_tensors;
    r->root = r->index;
    r->producer = -1;
    r->view_parent = -1;
    g->n_tensors++;
    g->changed = true;
    *out = r;
    return SLM_OK;
}

static void set_name(slm_tensor_t *t, const char *name)
{
    if (name)
        snprintf(t->name, sizeof t->name, "%s", name);
}

/* Contiguous strides for ne. */
static void compact_strides(slm_tensor_t *t)
{
    t->nb[0] = slm_dtype_block_bytes(t->dtype);
    t->nb[1] = slm_tensor_row_bytes(t);
    for (int d = 2; d < SLM_MAX_DIMS; d++)
        t->nb[d] = t->nb[d - 1] * (size_t)t->ne[d - 1];
}

/* ne of n_dims given dimensions, the rest 1; errors name `fn`. */
static slm_status_t read_shape(const char *fn, slm_dtype_t dtype, int n_dims,
                               const int64_t *ne_in, int64_t ne[SLM_MAX_DIMS])
{
    if (n_dims < 1 || n_dims > SLM_MAX_DIMS)
        return slm__error(SLM_ERR_INVALID_ARG, "%s: n_dims=%d, expected 1..%d",
                          fn, n_dims, SLM_MAX_DIMS);
    if (!ne_in)
        return slm__error(SLM_ERR_INVALID_ARG, "%s: ne is NULL", fn);
    int64_t be = slm_dtype_block_elems(dtype);
    if (be <= 0)
        return slm__error(SLM_ERR_INVALID_ARG, "%s: unknown dtype %d", fn,
                          (int)dtype);
    for (int d = 0; d < SLM_MAX_DIMS; d++) {
        ne[d] = d < n_dims ? ne_in[d] : 1;
        if (ne[d] <= 0)
            return slm__error(SLM_ERR_INVALID_ARG, "%s: ne[%d]=%lld must be >= 1",
                              fn, d, (long long)ne[d]);
    }
    if (ne[0] % be != 0)
        return slm__error(SLM_ERR_INVALID_ARG, "%s: ne[0]=%lld is not a "
                          "multiple of the %s block size %lld", fn,
                          (long long)ne[0], slm_dtype_name(dtype), (long long)be);
    if (!slm__nelements_fit(ne))
        return slm__error(SLM_ERR_INVALID_ARG, "%s: %lld x %lld x %lld x %lld "
                          "is too large: the element count overflows", fn,
                          (long long)ne[0], (long long)ne[1], (long long)ne[2],
                          (long long)ne[3]);
    return SLM_OK;
}

/* ----------------------------------------------------------------- tensors */

slm_status_t slm_graph_tensor(slm_graph_builder_t *g, slm_dtype_t dtype,
                              int n_dims, const int64_t *ne, uint32_t flags,
                              const char *name, slm_tensor_t **out)
{
    static const char fn[] = "slm_graph_tensor";
    if (out)
        *out = NULL;
    if (!g || !out)
        return slm__error(SLM_ERR_INVALID_ARG, "%s: graph or out is NULL", fn);
    int64_t shape[SLM_MAX_DIMS];
    slm_status_t st = read_shape(fn, dtype, n_dims, ne, shape);
    if (st != SLM_OK)
        return st;
    const uint32_t known = SLM_TENSOR_INPUT | SLM_TENSOR_OUTPUT |
                           SLM_TENSOR_WEIGHT | SLM_TENSOR_STATE;
    if (flags & ~known)
        return slm__error(SLM_ERR_INVALID_ARG, "%s: unknown flags 0x%x", fn,
                          flags & ~known);
    if ((flags & SLM_TENSOR_WEIGHT) && (flags & (SLM_TENSOR_INPUT | SLM_TENSOR_STATE)))
        return slm__error(SLM_ERR_INVALID_ARG, "%s: a WEIGHT tensor never "
                          "changes, so it cannot also be INPUT or STATE", fn);
    size_t bytes = slm__compact_bytes(dtype, shape);
    if (bytes == 0)
        return slm__error(SLM_ERR_INVALID_ARG, "%s: %lld x %lld x %lld x %lld "
                          "%s is too large", fn, (long long)shape[0],
                          (long long)shape[1], (long long)shape[2],
                          (long long)shape[3], slm_dtype_name(dtype));
    slm__tensor_t *r;
    st = new_record(g, &r);
    if (st != SLM_OK)
        return st;
    r->pub.dtype = dtype;
    r->pub.flags = flags;
    memcpy(r->pub.ne, shape, sizeof shape);
    compact_strides(&r->pub);
    set_name(&r->pub, name);
    r->nbytes = bytes;
    *out = &r->pub;
    return SLM_OK;
}

/* Shape and strides of a view of src, checked against src's bytes. */
static slm_status_t view_layout(const char *fn, const slm_tensor_t *src,
                                int n_dims, const int64_t *ne, const size_t *nb,
                                size_t offset, slm_tensor_t *v)
{
    memset(v, 0, sizeof *v);
    v->dtype = src->dtype;
    slm_status_t st = read_shape(fn, v->dtype, n_dims, ne, v->ne);
    if (st != SLM_OK)
        return st;
    if (!nb)
        return slm__error(SLM_ERR_INVALID_ARG, "%s: nb is NULL", fn);
    /* nb[0] = 0 stands for the element (block) size. Dimensions past n_dims
    ** continue contiguously: their ne is 1, so the stride only has to be
    ** plausible. */
    size_t bb = slm_dtype_block_bytes(v->dtype);
    v->nb[0] = nb[0] ? nb[0] : bb;
    if (slm_dtype_is_quantized(v->dtype) && v->nb[0] != bb)
        return slm__error(SLM_ERR_INVALID_ARG, "%s: nb[0]=%zu must be the %s "
                          "block size %zu: rows are whole blocks", fn, v->nb[0],
                          slm_dtype_name(v->dtype), bb);
    for (int d = 1; d < SLM_MAX_DIMS; d++)
        v->nb[d] = d < n_dims ? nb[d] : v->nb[d - 1] * (size_t)v->ne[d - 1];
    size_t ext = slm__tensor_extent(v), src_ext = slm__tensor_extent(src);
    if (ext != SIZE_MAX && src_ext != SIZE_MAX && offset <= src_ext &&
        ext <= src_ext - offset)
        return SLM_OK;
    char lab[SLM_MAX_NAME + 16];
    slm__tensor_label(src, "src", lab, sizeof lab);
    return slm__error(SLM_ERR_INVALID_ARG, "%s: view of %lld x %lld x %lld x "
                      "%lld spans %zu bytes from offset %zu, past the %zu "
                      "bytes of %s", fn, (long long)v->ne[0], (long long)v->ne[1],
                      (long long)v->ne[2], (long long)v->ne[3], ext, offset,
                      src_ext, lab);
}

slm_status_t slm_graph_view(slm_graph_builder_t *g, slm_tensor_t *src,
                            int n_dims, const int64_t *ne, const size_t *nb,
                            size_t offset, const char *name,
                            slm_tensor_t **out)
{
    static const char fn[] = "slm_graph_view";
    if (out)
        *out = NULL;
    if (!g || !out)
        return slm__error(SLM_ERR_INVALID_ARG, "%s: graph or out is NULL", fn);
    slm__tensor_t *s = slm__tensor_of(g, src);
    if (!s)
        return slm__error(SLM_ERR_INVALID_ARG, "%s: src is not a tensor of "
                          "this graph", fn);
    slm_tensor_t v;
    slm_status_t st = view_layout(fn, src, n_dims, ne, nb, offset, &v);
    slm__tensor_t *r;
    if (st == SLM_OK)
        st = new_record(g, &r);
    if (st != SLM_OK)
        return st;
    r->pub = v;
    /* The role hints travel with the bytes; OUTPUT is the caller's choice. */
    r->pub.flags = s->pub.flags & ~(uint32_t)SLM_TENSOR_OUTPUT;
    r->pub.view_src = src;
    set_name(&r->pub, name);
    r->root = s->root;
    r->view_parent = (int32_t)s->index;
    r->view_offset = s->view_offset + offset;
    *out = &r->pub;
    return SLM_OK;
}

/* ------------------------------------------------------------------- nodes */

static slm_status_t reserve_node(slm_graph_builder_t *g)
{
    if (g->n_nodes < g->cap_nodes)
        return SLM_OK;
    if (g->n_nodes >= INT32_MAX / 2)
        return slm__error(SLM_ERR_INVALID_ARG, "graph: too many nodes");
    uint32_t cap = g->cap_nodes ? g->cap_nodes * 2 : 64;
    slm_node_t *nodes = realloc(g->nodes, cap * sizeof *nodes);
    if (!nodes)
        return slm__error(SLM_ERR_NO_MEMORY, "graph: out of memory");
    g->nodes = nodes;
    g->cap_nodes = cap;
    return SLM_OK;
}

/* The tensor node n_nodes defines: contiguous, unnamed. */
static slm_status_t new_result(slm_graph_builder_t *g, slm_op_t op,
                               slm_dtype_t dtype, const int64_t ne[SLM_MAX_DIMS],
                               slm_tensor_t **out)
{
    size_t bytes = slm__compact_bytes(dtype, ne);
    if (bytes == 0)
        return slm__error(SLM_ERR_GRAPH, "%s: the result is too large",
                          slm_op_name(op));
    slm__tensor_t *r;
    slm_status_t st = new_record(g, &r);
    if (st != SLM_OK)
        return st;
    r->pub.dtype = dtype;
    memcpy(r->pub.ne, ne, sizeof r->pub.ne);
    compact_strides(&r->pub);
    r->nbytes = bytes;
    r->producer = (int32_t)g->n_nodes;
    *out = &r->pub;
    return SLM_OK;
}

slm_status_t slm_graph_op(slm_graph_builder_t *g, slm_op_t op,
                          slm_tensor_t *const *src, int n_src,
                          const slm_op_params_t *p, slm_tensor_t *dst,
                          slm_tensor_t **out)
{
    if (out)
        *out = NULL;
    if (!g)
        return slm__error(SLM_ERR_INVALID_ARG, "slm_graph_op: graph is NULL");
    if (n_src < 0 || n_src > SLM_MAX_SRC || (n_src > 0 && !src))
        return slm__error(SLM_ERR_GRAPH, "%s: n_src=%d, expected 0..%d with a "
                          "source array", slm_op_name(op), n_src, SLM_MAX_SRC);
    slm_node_t node;
    memset(&node, 0, sizeof node);
    node.op = op;
    node.dst = dst;
    for (int k = 0; k < n_src; k++)
        node.src[k] = src[k];
    if (p) {
        memcpy(node.iparams, p->i, sizeof node.iparams);
        memcpy(node.fparams, p->f, sizeof node.fparams);
    }
    if (!slm__op_takes_dst(op) && dst)
        return slm__error(SLM_ERR_GRAPH, "%s: dst must be NULL: the runtime "
                          "creates the result", slm_op_name(op));
    slm_dtype_t dtype;
    int64_t ne[SLM_MAX_DIMS];
    slm_status_t st = slm__node_check(g, &node, g->n_nodes, &dtype, ne);
    if (st == SLM_OK)
        st = reserve_node(g);
    if (st != SLM_OK)
        return st;
    if (!dst) {
        st = new_result(g, op, dtype, ne, &node.dst);
        if (st != SLM_OK)
            return st;
    }
    g->nodes[g->n_nodes++] = node;
    g->changed = true;
    if (out)
        *out = node.dst;
    return SLM_OK;
}

/* -------------------------------------------------------------------- data */

slm_status_t slm_graph_set_output(slm_graph_builder_t *g, slm_tensor_t *t)
{
    if (!slm__tensor_of(g, t))
        return slm__error(SLM_ERR_INVALID_ARG, "slm_graph_set_output: not a "
                          "tensor of this graph");
    if (!(t->flags & SLM_TENSOR_OUTPUT)) {
        t->flags |= SLM_TENSOR_OUTPUT;
        g->changed = true;
    }
    return SLM_OK;
}

/* The leaf root behind t for set_data/bind_host, with its size checked. */
static slm_status_t data_target(slm_graph_builder_t *g, const char *fn,
                                slm_tensor_t *t, const void *data, size_t size,
                                slm__tensor_t **out)
{
    slm__tensor_t *r = slm__tensor_of(g, t);
    if (!r)
        return slm__error(SLM_ERR_INVALID_ARG, "%s: not a tensor of this graph", fn);
    char lab[SLM_MAX_NAME + 16];
    slm__tensor_label(t, "tensor", lab, sizeof lab);
    if (r->root != r->index)
        return slm__error(SLM_ERR_INVALID_ARG, "%s: %s is a view; give data to "
                          "the tensor it views", fn, lab);
    if (r->producer >= 0)
        return slm__error(SLM_ERR_INVALID_ARG, "%s: %s is the result of node "
                          "%d, not a leaf", fn, lab, r->producer);
    if (!data)
        return slm__error(SLM_ERR_INVALID_ARG, "%s: data is NULL", fn);
    if (size != r->nbytes)
        return slm__error(SLM_ERR_INVALID_ARG, "%s: %s holds %zu bytes, got %zu",
                          fn, lab, r->nbytes, size);
    *out = r;
    return SLM_OK;
}

slm_status_t slm_graph_set_data(slm_graph_builder_t *g, slm_tensor_t *t,
                                const void *data, size_t size)
{
    /* data_target sets r only on success; NULL keeps optimising builds
    ** from warning that it may be read uninitialised. */
    slm__tensor_t *r = NULL;
    slm_status_t st = data_target(g, "slm_graph_set_data", t, data, size, &r);
    if (st != SLM_OK)
        return st;
    if (!r->owned) {
        r->owned = malloc(size);
        if (!r->owned)
            return slm__error(SLM_ERR_NO_MEMORY, "slm_graph_set_data: %zu "
                              "bytes: out of memory", size);
        /* Fresh data, or a bound pointer replaced: the plan may have
        ** wrapped the old memory or skipped the leaf. */
        r->bound = NULL;
        g->changed = true;
    }
    memcpy(r->owned, data, size);
    free(r->saved_state); /* new contents win over a kept STATE */
    r->saved_state = NULL;
    r->data_gen++;
    return SLM_OK;
}

slm_status_t slm_graph_bind_host(slm_graph_builder_t *g, slm_tensor_t *t,
                                 const void *data, size_t size)
{
    slm__tensor_t *r = NULL; /* set by data_target on success, as above */
    slm_status_t st = data_target(g, "slm_graph_bind_host", t, data, size, &r);
    if (st != SLM_OK)
        return st;
    if (r->bound == data) {
        if (r->resident) /* new contents for the device copies */
            r->data_gen++;
        return SLM_OK;
    }
    free(r->owned);
    r->owned = NULL;
    free(r->saved_state);
    r->saved_state = NULL;
    r->bound = data;
    r->data_gen++;
    g->changed = true;
    return SLM_OK;
}

/* ------------------------------------------------------------------ queries */

const char *slm_graph_node_device(const slm_graph_builder_t *g,
                                  uint32_t node_index)
{
    if (!g || !g->plan || node_index >= g->plan->n_nodes)
        return NULL;
    return g->rt->devices[g->plan->node_dev[node_index]]->id;
}

uint32_t slm_graph_node_count(const slm_graph_builder_t *g)
{
    return g ? g->n_nodes : 0;
}

slm_status_t slm_graph_keep_state_on_device(slm_graph_builder_t *g, slm_tensor_t *t)
{
    slm__tensor_t *r = g ? slm__tensor_of(g, t) : NULL;
    if (!r)
        return slm__error(SLM_ERR_INVALID_ARG, "slm_graph_keep_state_on_device: %s",
                          g ? "not a tensor of this graph" : "graph is NULL");
    char lab[SLM_MAX_NAME + 16];
    slm__tensor_label(t, "tensor", lab, sizeof lab);
    if (r->root != r->index || !(r->pub.flags & SLM_TENSOR_STATE))
        return slm__error(SLM_ERR_INVALID_ARG, "slm_graph_keep_state_on_device: "
                          "%s is not a STATE leaf", lab);
    if (!r->resident) {
        r->resident = true;
        g->changed = true;
    }
    return SLM_OK;
}
