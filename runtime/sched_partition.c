/*
** sched_partition.c -- where each node runs and where each tensor lives.
**
** Placement: a node goes to the first enabled device, in rank order, whose
** plugin says it supports it, with the reference CPU as the last resort. A
** node writing in place (COPY, SET_ROWS) must run where the bytes it writes
** live. Consecutive nodes on one device form a run.
**
** Homes: a node's result lives on its node's device; a leaf written in place
** lives where its first writer runs; any other leaf read by a node lives
** where its first reader runs, except leaves whose value is the application's
** host data (inputs, weights): those have no home and every device reading
** them gets its own upload. A run reading a tensor that lives elsewhere gets
** a copy of the tensor's root, refreshed before each such run.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"

/* --------------------------------------------------------------- placement */

static slm__tensor_t *root_of(const slm_graph_builder_t *g, const slm_tensor_t *t)
{
    return slm__tensor_at(g, slm__tensor_of(g, t)->root);
}

static uint32_t device_slot(const slm_runtime_t *rt, const slm__device_t *d)
{
    for (uint32_t i = 0; i < rt->n_devices; i++)
        if (rt->devices[i] == d)
            return i;
    return UINT32_MAX;
}

/* The node as supports_node must see it: no buffers yet. */
typedef struct query {
    slm_node_t node;
    slm_tensor_t t[SLM_MAX_SRC + 1];
} query;

static void make_query(const slm_node_t *node, query *q)
{
    q->node = *node;
    for (int k = 0; k <= SLM_MAX_SRC; k++) {
        const slm_tensor_t *src = k < SLM_MAX_SRC ? node->src[k] : node->dst;
        if (!src)
            continue;
        q->t[k] = *src;
        q->t[k].buffer = NULL;
        q->t[k].data = NULL;
        q->t[k].offset = 0;
        if (k < SLM_MAX_SRC)
            q->node.src[k] = &q->t[k];
        else
            q->node.dst = &q->t[k];
    }
}

/* Lost devices refuse every node (slm__device_supports); skipped ones
** failed this graph's last run. */
static int32_t pick_device(const slm_runtime_t *rt, const slm__plan_t *plan,
                           const slm_node_t *q)
{
    for (uint32_t d = 0; d < rt->n_enabled; d++)
        if (!(plan->skip && plan->skip[d]) && slm__device_supports(rt->devices[d], q))
            return (int32_t)d;
    slm__device_t *ref = slm__reference_device(rt);
    uint32_t slot = ref ? device_slot(rt, ref) : UINT32_MAX;
    if (slot != UINT32_MAX && slot >= rt->n_enabled &&
        !(plan->skip && plan->skip[slot]) && slm__device_supports(ref, q))
        return (int32_t)slot;
    return -1;
}

static void node_label(const slm_node_t *node, uint32_t i, char *buf, size_t size)
{
    if (node->dst->name[0])
        snprintf(buf, size, "node %u (%s -> '%s')", i, slm_op_name(node->op),
                 node->dst->name);
    else
        snprintf(buf, size, "node %u (%s)", i, slm_op_name(node->op));
}

static slm_status_t no_device(const slm_runtime_t *rt, const slm__plan_t *plan,
                              const slm_node_t *node, uint32_t i)
{
    char lab[SLM_MAX_NAME + 48], tried[256] = "";
    node_label(node, i, lab, sizeof lab);
    size_t len = 0;
    for (uint32_t d = 0; d < rt->n_enabled && len < sizeof tried; d++)
        len += (size_t)snprintf(tried + len, sizeof tried - len, "%s%s%s",
                                d ? ", " : "", rt->devices[d]->id,
                                slm__device_lost(rt->devices[d]) ? " (lost)"
                                : plan->skip && plan->skip[d] ? " (failed the run)" : "");
    return slm__error(SLM_ERR_NO_DEVICE, "%s: no device supports it (tried: %s)",
                      lab, rt->n_enabled ? tried : "no enabled device");
}

/* A node writing into root R that already lives somewhere must run there. */
static slm_status_t place_at_home(const slm_graph_builder_t *g,
                                  const slm__plan_t *plan, const slm_node_t *q,
                                  uint32_t i, const slm__tensor_t *root,
                                  const int32_t *def_node)
{
    slm__device_t *home = g->rt->devices[plan->home_dev[root->index]];
    if (slm__device_supports(home, q))
        return SLM_OK;
    char lab[SLM_MAX_NAME + 48], rl[SLM_MAX_NAME + 16];
    node_label(&g->nodes[i], i, lab, sizeof lab);
    if (root->pub.name[0])
        slm__tensor_label(&root->pub, "tensor", rl, sizeof rl);
    else
        snprintf(rl, sizeof rl, "tensor #%u", root->index);
    return slm__error(SLM_ERR_NO_DEVICE, "%s: writes into %s, which lives on "
                      "%s (written there by node %d), and %s cannot run this "
                      "node", lab, rl, home->id, def_node[root->index], home->id);
}

static slm_status_t place_nodes(const slm_graph_builder_t *g, slm__plan_t *plan,
                                int32_t *def_node)
{
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        const slm_node_t *node = &g->nodes[i];
        query q;
        make_query(node, &q);
        slm__tensor_t *root = root_of(g, node->dst);
        int32_t dev;
        bool in_place = slm__node_in_place(g, node, i);
        if (in_place && plan->home_dev[root->index] >= 0) {
            slm_status_t st = place_at_home(g, plan, &q.node, i, root, def_node);
            if (st != SLM_OK)
                return st;
            dev = plan->home_dev[root->index];
        } else {
            dev = pick_device(g->rt, plan, &q.node);
            if (dev < 0)
                return no_device(g->rt, plan, node, i);
        }
        plan->node_dev[i] = (uint32_t)dev;
        if (plan->home_dev[root->index] < 0) {
            plan->home_dev[root->index] = dev;
            def_node[root->index] = (int32_t)i;
        }
        if (in_place)
            plan->written[root->index] = true;
    }
    return SLM_OK;
}

/* A leaf whose value is always the application's host data. */
static bool is_hosted(const slm__plan_t *plan, const slm__tensor_t *root)
{
    return root->producer < 0 && !plan->written[root->index] &&
           !(root->pub.flags & SLM_TENSOR_STATE) && slm__tensor_host_data(root);
}

/* Leaves only read live where their first reader runs. */
static void place_read_leaves(const slm_graph_builder_t *g, slm__plan_t *plan)
{
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        for (int k = 0; k < SLM_MAX_SRC; k++) {
            if (!g->nodes[i].src[k])
                continue;
            slm__tensor_t *root = root_of(g, g->nodes[i].src[k]);
            if (plan->home_dev[root->index] < 0 && !is_hosted(plan, root))
                plan->home_dev[root->index] = (int32_t)plan->node_dev[i];
        }
    }
    for (uint32_t t = 0; t < g->n_tensors; t++) {
        const slm__tensor_t *r = slm__tensor_at(g, t);
        if (r->pub.flags & SLM_TENSOR_OUTPUT)
            plan->keep[r->root] = true;
    }
}

/* ------------------------------------------------------------------- runs */

static slm_status_t split_runs(const slm_graph_builder_t *g, slm__plan_t *plan)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < g->n_nodes; i++)
        if (i == 0 || plan->node_dev[i] != plan->node_dev[i - 1])
            n++;
    plan->runs = calloc(n ? n : 1, sizeof *plan->runs);
    if (!plan->runs)
        return slm__error(SLM_ERR_NO_MEMORY, "graph plan: out of memory");
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        if (i == 0 || plan->node_dev[i] != plan->node_dev[i - 1]) {
            slm__run_t *run = &plan->runs[plan->n_runs++];
            run->dev = plan->node_dev[i];
            run->first = i;
        }
        plan->runs[plan->n_runs - 1].n_nodes++;
    }
    return SLM_OK;
}

/* -------------------------------------------------------------- instances */

int32_t slm__plan_find_inst(const slm__plan_t *plan, uint32_t root, uint32_t dev)
{
    for (int32_t k = plan->first_inst[root]; k >= 0; k = plan->insts[k].next)
        if (plan->insts[k].dev == dev)
            return k;
    return -1;
}

static slm_status_t add_inst(slm__plan_t *plan, const slm__tensor_t *root,
                             uint32_t dev, uint8_t kind, uint8_t fill,
                             int32_t *out)
{
    if (plan->n_insts == plan->cap_insts) {
        uint32_t cap = plan->cap_insts ? plan->cap_insts * 2 : 64;
        slm__inst_t *insts = realloc(plan->insts, cap * sizeof *insts);
        if (!insts)
            return slm__error(SLM_ERR_NO_MEMORY, "graph plan: out of memory");
        plan->insts = insts;
        plan->cap_insts = cap;
    }
    int32_t k = (int32_t)plan->n_insts++;
    slm__inst_t *in = &plan->insts[k];
    memset(in, 0, sizeof *in);
    in->root = root->index;
    in->dev = dev;
    in->kind = kind;
    in->fill = fill;
    in->size = root->nbytes;
    in->next = plan->first_inst[root->index];
    plan->first_inst[root->index] = k;
    *out = k;
    return SLM_OK;
}

static slm_status_t add_home_insts(const slm_graph_builder_t *g,
                                   slm__plan_t *plan, const int32_t *def_node)
{
    for (uint32_t t = 0; t < g->n_tensors; t++) {
        const slm__tensor_t *r = slm__tensor_at(g, t);
        int32_t dev = plan->home_dev[t];
        if (r->root != t || dev < 0)
            continue;
        uint8_t kind = SLM__INST_ARENA, fill = SLM__FILL_NONE;
        if (r->pub.flags & SLM_TENSOR_STATE) {
            kind = SLM__INST_OWN;
            fill = SLM__FILL_STATE;
        } else if (r->producer < 0 && slm__tensor_host_data(r)) {
            kind = SLM__INST_OWN;
            fill = SLM__FILL_HOST;
        }
        int32_t k;
        slm_status_t st = add_inst(plan, r, (uint32_t)dev, kind, fill, &k);
        if (st != SLM_OK)
            return st;
        plan->home_inst[t] = k;
        slm__inst_t *in = &plan->insts[k];
        in->t_start = SLM__T_NODE(def_node[t] >= 0 ? def_node[t] : 0);
        in->t_end = plan->keep[t] ? SLM__T_END : in->t_start;
    }
    return SLM_OK;
}

static void extend(slm__inst_t *in, int64_t t)
{
    if (in->kind == SLM__INST_ARENA && in->t_end < t)
        in->t_end = t;
}

static slm_status_t add_run_copy(slm__run_t *run, uint32_t inst, uint32_t *cap)
{
    for (uint32_t c = 0; c < run->n_copies; c++)
        if (run->copies[c] == inst)
            return SLM_OK;
    if (run->n_copies == *cap) {
        uint32_t n = *cap ? *cap * 2 : 8;
        uint32_t *copies = realloc(run->copies, n * sizeof *copies);
        if (!copies)
            return slm__error(SLM_ERR_NO_MEMORY, "graph plan: out of memory");
        run->copies = copies;
        *cap = n;
    }
    run->copies[run->n_copies++] = inst;
    return SLM_OK;
}

/* What node i of `run` reading (or writing) root needs on the run's device. */
static slm_status_t use_root(slm__plan_t *plan, slm__run_t *run, uint32_t *cap,
                             const slm__tensor_t *root, uint32_t i)
{
    int32_t home = plan->home_dev[root->index];
    if (home == (int32_t)run->dev) {
        extend(&plan->insts[plan->home_inst[root->index]], SLM__T_NODE(i));
        return SLM_OK;
    }
    int32_t k = slm__plan_find_inst(plan, root->index, run->dev);
    if (k < 0) {
        bool hosted = home < 0;
        slm_status_t st = add_inst(plan, root, run->dev,
                                   hosted ? SLM__INST_OWN : SLM__INST_ARENA,
                                   hosted ? SLM__FILL_HOST : SLM__FILL_COPY, &k);
        if (st != SLM_OK)
            return st;
        plan->insts[k].t_start = SLM__T_COPY(run->first);
        plan->insts[k].t_end = SLM__T_NODE(i);
    }
    extend(&plan->insts[k], SLM__T_NODE(i));
    if (home < 0)
        return SLM_OK;
    /* The home copy must survive until the copy is taken. */
    extend(&plan->insts[plan->home_inst[root->index]], SLM__T_COPY(run->first));
    return add_run_copy(run, (uint32_t)k, cap);
}

static slm_status_t add_use_insts(const slm_graph_builder_t *g, slm__plan_t *plan)
{
    for (uint32_t r = 0; r < plan->n_runs; r++) {
        slm__run_t *run = &plan->runs[r];
        uint32_t cap = 0;
        for (uint32_t i = run->first; i < run->first + run->n_nodes; i++) {
            const slm_node_t *node = &g->nodes[i];
            for (int k = 0; k <= SLM_MAX_SRC; k++) {
                const slm_tensor_t *t = k < SLM_MAX_SRC ? node->src[k] : node->dst;
                if (!t)
                    continue;
                slm_status_t st = use_root(plan, run, &cap, root_of(g, t), i);
                if (st != SLM_OK)
                    return st;
            }
        }
    }
    return SLM_OK;
}

/* ------------------------------------------------------------------ entry */

static slm_status_t alloc_arrays(const slm_graph_builder_t *g, slm__plan_t *plan)
{
    size_t nn = g->n_nodes ? g->n_nodes : 1, nt = g->n_tensors ? g->n_tensors : 1;
    plan->n_nodes = g->n_nodes;
    plan->n_tensors = g->n_tensors;
    plan->n_devs = g->rt->n_devices;
    plan->node_dev = calloc(nn, sizeof *plan->node_dev);
    plan->home_dev = malloc(nt * sizeof *plan->home_dev);
    plan->home_inst = malloc(nt * sizeof *plan->home_inst);
    plan->first_inst = malloc(nt * sizeof *plan->first_inst);
    plan->written = calloc(nt, sizeof *plan->written);
    plan->keep = calloc(nt, sizeof *plan->keep);
    plan->devs = calloc(plan->n_devs ? plan->n_devs : 1, sizeof *plan->devs);
    if (!plan->node_dev || !plan->home_dev || !plan->home_inst ||
        !plan->first_inst || !plan->written || !plan->keep || !plan->devs)
        return slm__error(SLM_ERR_NO_MEMORY, "graph plan: out of memory");
    for (size_t t = 0; t < nt; t++)
        plan->home_dev[t] = plan->home_inst[t] = plan->first_inst[t] = -1;
    return SLM_OK;
}

static void log_placement(const slm_graph_builder_t *g, const slm__plan_t *plan)
{
    for (uint32_t r = 0; r < plan->n_runs; r++) {
        const slm__run_t *run = &plan->runs[r];
        slm__log(g->rt, SLM_LOG_DEBUG, "graph: run %u: nodes %u..%u on %s, "
                 "%u tensor%s copied in", r, run->first,
                 run->first + run->n_nodes - 1, g->rt->devices[run->dev]->id,
                 run->n_copies, run->n_copies == 1 ? "" : "s");
    }
}

slm_status_t slm__plan_place(const slm_graph_builder_t *g, slm__plan_t *plan)
{
    slm_status_t st = alloc_arrays(g, plan);
    if (st != SLM_OK)
        return st;
    int32_t *def_node = malloc((g->n_tensors ? g->n_tensors : 1) * sizeof *def_node);
    if (!def_node)
        return slm__error(SLM_ERR_NO_MEMORY, "graph plan: out of memory");
    for (uint32_t t = 0; t < g->n_tensors; t++)
        def_node[t] = -1;
    st = place_nodes(g, plan, def_node);
    if (st == SLM_OK) {
        place_read_leaves(g, plan);
        st = split_runs(g, plan);
    }
    if (st == SLM_OK)
        st = add_home_insts(g, plan, def_node);
    if (st == SLM_OK)
        st = add_use_insts(g, plan);
    free(def_node);
    if (st == SLM_OK)
        log_placement(g, plan);
    return st;
}
