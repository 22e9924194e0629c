/*
** graph_internal.h -- what the graph builder, the validator and the
** scheduler share.
**
** A graph has two halves. The builder half (slm_graph_builder) is what the
** application made: tensor records and nodes, owned by the graph. The plan
** half (slm__plan) is what the scheduler derived from it on the last run:
** where each node runs, where each tensor lives on which device, the device
** memory, and the per-device subgraphs a plugin sees. A plan is built on the
** first run and kept until the graph changes.
*/
#ifndef SLM_GRAPH_INTERNAL_H
#define SLM_GRAPH_INTERNAL_H

#include "runtime_internal.h"

/* ----------------------------------------------------------------- tensors */

/*
** One tensor of a graph. The application holds &pub; records are allocated
** in fixed chunks so that pointer stays valid while the graph grows.
*/
typedef struct slm__tensor {
    slm_tensor_t pub;         /* the application's view; buffer/data NULL */
    uint32_t index;           /* position in the graph */
    uint32_t root;            /* index of the tensor owning the bytes: itself
                                 for leaves and node results */
    int32_t view_parent;      /* index of the tensor viewed, or -1 */
    size_t view_offset;       /* byte offset of element 0 within the root */
    size_t nbytes;            /* roots: byte size, fixed at creation */
    int32_t producer;         /* node defining it (not COPY/SET_ROWS), or -1 */
    const void *bound;        /* slm_graph_bind_host memory, borrowed */
    void *owned;              /* slm_graph_set_data copy */
    uint32_t data_gen;        /* bumped whenever the host data changes */
    void *saved_state;        /* STATE contents kept across a replan */
    bool resident;            /* bound STATE kept on its device between runs
                                 (slm_graph_keep_state_on_device) */
} slm__tensor_t;

#define SLM__TENSOR_CHUNK 256

struct slm_graph_builder {
    slm_runtime_t *rt;
    slm__tensor_t **chunks;   /* each SLM__TENSOR_CHUNK records */
    uint32_t n_chunks;
    uint32_t n_tensors;
    slm_node_t *nodes;        /* tensors point at records' pub */
    uint32_t n_nodes;
    uint32_t cap_nodes;
    bool changed;             /* the plan no longer matches the graph */
    bool plan_is_fallback;    /* the plan leaves out a device that failed a
                                 run: plan with every device at the next */
    struct slm__plan *plan;   /* NULL before the first run */
};

static inline slm__tensor_t *slm__tensor_at(const slm_graph_builder_t *g,
                                            uint32_t index)
{
    return &g->chunks[index / SLM__TENSOR_CHUNK][index % SLM__TENSOR_CHUNK];
}

/* The record behind `t`, or NULL when t is not a tensor of g. */
slm__tensor_t *slm__tensor_of(const slm_graph_builder_t *g,
                              const slm_tensor_t *t);

/* Leaf root with data from slm_graph_set_data or slm_graph_bind_host. */
static inline const void *slm__tensor_host_data(const slm__tensor_t *r)
{
    return r->owned ? r->owned : r->bound;
}

/* "src1 'wq'" or "dst" style label of a tensor, for messages. */
void slm__tensor_label(const slm_tensor_t *t, const char *role, char *buf,
                       size_t size);

/* Nonzero for ops that may write into a given tensor (SET_ROWS always,
** COPY when given a dst) instead of defining their result. */
static inline int slm__op_takes_dst(slm_op_t op)
{
    return op == SLM_OP_COPY || op == SLM_OP_SET_ROWS;
}

/* Node `index` writes into a tensor it was given rather than defining its
** result (node->dst NULL: not yet appended, so it defines one). */
bool slm__node_in_place(const slm_graph_builder_t *g, const slm_node_t *node,
                        uint32_t index);

/* Bytes of a contiguous tensor of this dtype and shape. */
size_t slm__compact_bytes(slm_dtype_t dtype, const int64_t ne[SLM_MAX_DIMS]);

/* Whether the product of the dims (each >= 1) fits in int64_t, so that
** slm_tensor_nelements is defined. A view with zero strides addresses few
** bytes whatever its shape: its byte extent alone does not bound this. */
bool slm__nelements_fit(const int64_t ne[SLM_MAX_DIMS]);

/* One past the last byte a tensor addresses, counted from its element 0;
** SIZE_MAX when that does not fit. */
size_t slm__tensor_extent(const slm_tensor_t *t);

/* -------------------------------------------------------------- validation */

/*
** Check node `index` of g (it need not be appended yet): its sources belong
** to g and are defined before it; op, source slots, dtypes, shapes and params
** agree with the op table; a COPY/SET_ROWS destination is given and is not a
** WEIGHT. For the other ops node->dst may be NULL (the builder, before it
** creates the result) or must match the inferred result. The inferred dtype
** and shape are returned either way. Errors are SLM_ERR_GRAPH naming op,
** operand and mismatch: "MUL_MAT: src1 ne[0]=63 != src0 ne[0]=64".
*/
slm_status_t slm__node_check(const slm_graph_builder_t *g,
                             const slm_node_t *node, uint32_t index,
                             slm_dtype_t *out_dtype,
                             int64_t out_ne[SLM_MAX_DIMS]);

/* Check the whole graph before any plugin sees it: every tensor well formed
** and inside its root, every node as slm__node_check, sources defined before
** use, and every leaf that is read holding data (or STATE). */
slm_status_t slm__graph_validate(const slm_graph_builder_t *g);

/* -------------------------------------------------------------------- plan */

/* How an instance (a root's bytes on one device) is backed. */
enum {
    SLM__INST_ARENA = 0,      /* a slice of the device's activations arena */
    SLM__INST_OWN = 1,        /* a buffer of its own */
    SLM__INST_WRAP = 2,       /* the host data wrapped by buffer_from_host */
    SLM__INST_SHARED = 3      /* a bound weight's upload or a resident
                                 state's copy, shared through bound_copy.c */
};

/* Where an instance's contents come from. */
enum {
    SLM__FILL_NONE = 0,       /* computed by nodes of this device */
    SLM__FILL_HOST = 1,       /* the leaf's host data, written when it changes
                                 (bound memory other than weights: every run) */
    SLM__FILL_STATE = 2,      /* unbound: zeroed (or the state kept across a
                                 replan) once, then host data when the
                                 application sets it; bound: the host memory
                                 in before and, if written, out after every
                                 run, unless wrapped or resident */
    SLM__FILL_COPY = 3        /* copied from the home instance before every
                                 run that reads it */
};

/* A root's bytes on one device. */
typedef struct slm__inst {
    uint32_t root;            /* tensor index */
    uint32_t dev;             /* index into rt->devices */
    int32_t next;             /* next instance of the same root, or -1 */
    uint8_t kind;             /* SLM__INST_* */
    uint8_t fill;             /* SLM__FILL_* */
    bool filled;              /* host data / state written at least once */
    uint32_t filled_gen;      /* data_gen last written */
    size_t size;              /* bytes of the root */
    void *buffer;             /* plugin handle (the arena's for ARENA) */
    size_t offset;            /* within buffer */
    uint8_t *base;            /* host address of byte `offset`, or NULL */
    int64_t t_start, t_end;   /* ARENA lifetime, in plan time (see below) */
} slm__inst_t;

/*
** Plan time orders events: node i runs at 2*i, the copies before a run that
** starts with node i happen at 2*i - 1. An arena slice is live over
** [t_start, t_end]; outputs live until SLM__T_END.
*/
#define SLM__T_NODE(i) (2 * (int64_t)(i))
#define SLM__T_COPY(i) (2 * (int64_t)(i) - 1)
#define SLM__T_END INT64_MAX

/* Consecutive nodes on one device, and what a plugin sees of them. */
typedef struct slm__run {
    uint32_t dev;
    uint32_t first;           /* first node index */
    uint32_t n_nodes;
    uint32_t *copies;         /* instances refreshed before the run */
    uint32_t n_copies;
    slm_graph_t graph;        /* plugin-facing; built on first execution */
    slm_tensor_t *clones;     /* device-local tensors graph.nodes point at */
    uint32_t n_clones;
} slm__run_t;

typedef struct slm__dev_plan {
    void *arena;              /* ACTIVATIONS buffer, NULL when unused */
    uint8_t *arena_base;
    size_t arena_size;
    size_t arena_demand;      /* sum of the slices it holds, for the log */
    uint32_t n_slices;
} slm__dev_plan_t;

typedef struct slm__plan {
    const bool *skip;         /* per device: never place a node there (NULL:
                                 none); borrowed while placing */
    uint32_t devices_gen;     /* rt->devices_gen the plan was made at */
    uint32_t n_nodes;         /* graph size the plan covers */
    uint32_t n_tensors;
    uint32_t *node_dev;       /* device of each node */
    int32_t *home_dev;        /* per root: device holding its value, or -1 */
    int32_t *home_inst;       /* per root: that instance, or -1 */
    int32_t *first_inst;      /* per root: head of its instance list, or -1 */
    bool *written;            /* per root: written by a node of the graph */
    bool *keep;               /* per root: value readable after a run */
    slm__inst_t *insts;
    uint32_t n_insts, cap_insts;
    slm__run_t *runs;
    uint32_t n_runs;
    slm__dev_plan_t *devs;    /* one per rt->devices entry */
    uint32_t n_devs;
    void *staging;            /* host bounce buffer for device-to-device */
    size_t staging_size;
} slm__plan_t;

/* sched_partition.c: place nodes, split runs, decide homes and instances
** with their lifetimes. Fills a zeroed plan; on failure the caller frees it
** with slm__plan_free. */
slm_status_t slm__plan_place(const slm_graph_builder_t *g, slm__plan_t *plan);

/* The instance of `root` on device `dev`, or -1. */
int32_t slm__plan_find_inst(const slm__plan_t *plan, uint32_t root,
                            uint32_t dev);

/* sched_alloc.c: lay out the arenas and allocate every buffer. */
slm_status_t slm__plan_alloc(const slm_graph_builder_t *g, slm__plan_t *plan);

/* Free the plan's device buffers and the plan itself. NULL is a no-op. */
void slm__plan_free(slm_runtime_t *rt, slm__plan_t *plan);

/* sched_run.c: keep STATE contents in host memory before a replan. */
slm_status_t slm__plan_save_state(slm_graph_builder_t *g);

/* sched_run.c: whether the last plan kept a resident STATE (a KV cache) on a
** device since lost, where what the runs wrote is gone: the host memory
** holds an older state. */
bool slm__graph_state_lost(const slm_graph_builder_t *g);

/* sched_run.c: validate g and place its nodes as a run would, writing each
** node's device (an index into rt->devices) to node_dev[0 .. n_nodes-1];
** nothing is allocated on a device and g's own plan is left alone. */
slm_status_t slm__graph_place_only(const slm_graph_builder_t *g, uint32_t *node_dev);

#endif /* SLM_GRAPH_INTERNAL_H */
