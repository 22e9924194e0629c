/*
** fuzz_graph.c -- graphs built from fuzz bytes through the public graph
** API (fuzz_graph.h has the program format), validated, and run on the
** scalar CPU backend.
**
** Every graph must either be rejected cleanly (a status and a message) or
** run without a crash. One more property: a graph the validator rejects
** is never planned (slm_graph_run fails too). Tampering with the tensors'
** fields, which an application holding the pointers can do, is part of the
** program, so the validator's re-check at run time is exercised as well.
**
** Graphs are kept small enough to run in milliseconds: a run is skipped
** (validation only) when some tensor has more than 2^20 elements or the
** nodes' work estimate passes 2^24.
*/
#include <string.h>

#include "fuzz.h"
#include "fuzz_graph.h"
#include "graph_internal.h"

#define MAX_TENSORS 64
#define MAX_NODES 32
#define MAX_DATA (4u << 20)

typedef struct program {
    fz_input_t in;
    slm_graph_builder_t *g;
    slm_tensor_t *t[MAX_TENSORS];
    uint32_t n_t;
    slm_node_t nodes[MAX_NODES];  /* appended nodes, for the work estimate */
    uint32_t n_nodes;
    void *bound[MAX_TENSORS];     /* memory given to slm_graph_bind_host */
    uint32_t n_bound;
    slm_tensor_t foreign;         /* a tensor of no graph */
} program_t;

/* ------------------------------------------------------------- operands */

static slm_tensor_t *tensor_arg(program_t *p)
{
    uint8_t b = fz_u8(&p->in);
    if (b == FZG_FOREIGN)
        return &p->foreign;
    if (b == FZG_NULL || p->n_t == 0)
        return NULL;
    return p->t[b % p->n_t];
}

static int64_t dim_arg(program_t *p)
{
    uint8_t b = fz_u8(&p->in);
    return b < FZG_RAW ? (int64_t)fzg_dims[b % 16] : (int64_t)fz_le(&p->in, 8);
}

static slm_dtype_t dtype_arg(program_t *p)
{
    return (slm_dtype_t)fzg_dtypes[fz_u8(&p->in) % 16];
}

static int n_dims_arg(program_t *p)
{
    uint8_t b = fz_u8(&p->in);
    /* Bytes 1..4 are 1..4 dims (and so on, modulo 4); now and then 0 or 5
    ** to hit the range check. */
    return b < 0xF8 ? 1 + (b + 3) % 4 : (b & 1) * 5;
}

/* Contiguous strides of a tensor of this dtype and shape. */
static void contiguous(slm_dtype_t dt, const int64_t ne[SLM_MAX_DIMS], size_t nb[SLM_MAX_DIMS])
{
    int64_t be = slm_dtype_block_elems(dt);
    nb[0] = slm_dtype_block_bytes(dt);
    nb[1] = be > 0 ? (size_t)(ne[0] / be) * nb[0] : nb[0];
    for (int d = 2; d < SLM_MAX_DIMS; d++)
        nb[d] = nb[d - 1] * (size_t)ne[d - 1];
}

/* --------------------------------------------------------- instructions */

static void op_tensor(program_t *p)
{
    slm_dtype_t dt = dtype_arg(p);
    int n_dims = n_dims_arg(p);
    int64_t ne[SLM_MAX_DIMS];
    for (int d = 0; d < SLM_MAX_DIMS; d++)
        ne[d] = dim_arg(p);
    uint32_t flags = fz_u8(&p->in) & 0x1F;
    slm_tensor_t *t = NULL;
    slm_status_t st = slm_graph_tensor(p->g, dt, n_dims, ne, flags, "t", &t);
    fz_check((st == SLM_OK) == (t != NULL), "tensor status %d", st);
    if (t && p->n_t < MAX_TENSORS)
        p->t[p->n_t++] = t;
}

static void op_view(program_t *p)
{
    slm_tensor_t *src = tensor_arg(p);
    int n_dims = n_dims_arg(p);
    int64_t ne[SLM_MAX_DIMS];
    for (int d = 0; d < SLM_MAX_DIMS; d++)
        ne[d] = dim_arg(p);
    size_t nat[SLM_MAX_DIMS], nb[SLM_MAX_DIMS];
    contiguous(src ? src->dtype : SLM_DTYPE_F32, ne, nat);
    for (int d = 0; d < SLM_MAX_DIMS; d++) {
        uint8_t b = fz_u8(&p->in);
        if (b >= FZG_RAW)
            nb[d] = (size_t)fz_le(&p->in, 8);
        else if (b % 4 == 0)
            nb[d] = d == 0 ? 0 : nat[d];
        else if (b % 4 == 1)
            nb[d] = 0;
        else if (b % 4 == 2)
            nb[d] = nat[d] * (size_t)((b >> 2) % 8 + 1);
        else
            nb[d] = nat[0];
    }
    uint8_t o = fz_u8(&p->in);
    size_t offset = o < FZG_RAW ? (size_t)o * 4 : (size_t)fz_le(&p->in, 8);
    slm_tensor_t *v = NULL;
    slm_status_t st = slm_graph_view(p->g, src, n_dims, ne, nb, offset, "v", &v);
    fz_check((st == SLM_OK) == (v != NULL), "view status %d", st);
    if (v && p->n_t < MAX_TENSORS)
        p->t[p->n_t++] = v;
}

static void op_op(program_t *p)
{
    slm_op_t op = (slm_op_t)(fz_u8(&p->in) % (SLM_OP_COUNT + 2));
    int n_src = fz_u8(&p->in) % (SLM_MAX_SRC + 2);
    slm_tensor_t *src[SLM_MAX_SRC + 1];
    for (int k = 0; k < n_src; k++)
        src[k] = tensor_arg(p);
    slm_tensor_t *dst = tensor_arg(p);
    if (!slm__op_takes_dst(op) && fz_u8(&p->in) % 4)
        dst = NULL;
    slm_op_params_t par;
    memset(&par, 0, sizeof par);
    int n_i = fz_u8(&p->in) % (SLM_MAX_PARAMS + 1);
    for (int k = 0; k < n_i; k++) {
        uint8_t b = fz_u8(&p->in);
        par.i[k] = b < FZG_RAW ? fzg_iparams[b % 16] : (int32_t)fz_le(&p->in, 4);
    }
    int n_f = fz_u8(&p->in) % (SLM_MAX_PARAMS + 1);
    for (int k = 0; k < n_f; k++) {
        uint8_t b = fz_u8(&p->in);
        if (b < FZG_RAW) {
            par.f[k] = fzg_fparams[b % 16];
        } else {
            uint32_t bits = (uint32_t)fz_le(&p->in, 4);
            memcpy(&par.f[k], &bits, sizeof bits);
        }
    }
    /* n_src past SLM_MAX_SRC must be refused before src[] is read past. */
    slm_tensor_t *out = NULL;
    slm_status_t st = slm_graph_op(p->g, op, src, n_src, &par, dst, &out);
    fz_check((st == SLM_OK) == (out != NULL), "op status %d", st);
    if (st != SLM_OK)
        return;
    if (p->n_nodes < MAX_NODES) {
        slm_node_t *n = &p->nodes[p->n_nodes++];
        memset(n, 0, sizeof *n);
        n->op = op;
        n->dst = out;
        for (int k = 0; k < n_src && k < SLM_MAX_SRC; k++)
            n->src[k] = src[k];
    }
    if (out != dst && p->n_t < MAX_TENSORS)
        p->t[p->n_t++] = out;
}

/* Contents for t (of its dtype and current shape) from a seeded generator:
** small floats (pattern bit 7: a few infinities and NaNs), ids in [0, 2)
** (bit 5: [0, 4); bit 6: [-2, 10)), random blocks. */
static void *contents(const slm_tensor_t *t, uint8_t pattern, size_t *size)
{
    size_t bytes = slm__compact_bytes(t->dtype, t->ne);
    if (bytes == 0 || bytes > MAX_DATA)
        return NULL;
    uint8_t *buf = malloc(bytes);
    if (!buf)
        return NULL;
    uint32_t s = 0x9E3779B9u * (pattern + 1u);
    for (size_t i = 0; i < bytes; i += 4) {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        uint32_t v = s;
        if (t->dtype == SLM_DTYPE_F32) {
            float f = (float)(int32_t)(s % 4001u - 2000) / 1000.0f;
            if ((pattern & 0x80) && s % 97 == 0)
                f = s % 2 ? INFINITY : NAN;
            memcpy(&v, &f, 4);
        } else if (t->dtype == SLM_DTYPE_I32) {
            /* Ids valid for any table (or experts) of 2 rows or more. */
            v = pattern & 0x40 ? (uint32_t)((int32_t)(s % 12u) - 2) : s % (pattern & 0x20 ? 4u : 2u);
        }
        memcpy(buf + i, &v, bytes - i < 4 ? bytes - i : 4);
    }
    *size = bytes;
    return buf;
}

static void op_data(program_t *p, bool bind)
{
    slm_tensor_t *t = tensor_arg(p);
    uint8_t pattern = fz_u8(&p->in);
    size_t size = 0;
    void *buf = t ? contents(t, pattern, &size) : NULL;
    if (!buf) {
        /* Still call: NULL data and foreign tensors must be refused. */
        slm_status_t st = bind ? slm_graph_bind_host(p->g, t, NULL, 4)
                               : slm_graph_set_data(p->g, t, NULL, 4);
        fz_check(st != SLM_OK, "NULL data accepted");
        return;
    }
    if (!bind) {
        (void)slm_graph_set_data(p->g, t, buf, size);
        free(buf);
        return;
    }
    /* Borrowed until the graph is destroyed. */
    if (p->n_bound < MAX_TENSORS && slm_graph_bind_host(p->g, t, buf, size) == SLM_OK)
        p->bound[p->n_bound++] = buf;
    else
        free(buf);
}

static void op_tamper(program_t *p)
{
    slm_tensor_t *t = tensor_arg(p);
    uint8_t field = fz_u8(&p->in) % FZG_T_COUNT;
    int d = fz_u8(&p->in) % SLM_MAX_DIMS;
    if (!t)
        return;
    switch (field) {
    case FZG_T_NE: t->ne[d] = dim_arg(p); break;
    case FZG_T_NB: t->nb[d] = (size_t)fz_le(&p->in, fz_u8(&p->in) % 2 ? 8 : 2); break;
    case FZG_T_DTYPE: t->dtype = dtype_arg(p); break;
    case FZG_T_FLAGS: t->flags = fz_u8(&p->in) & 0x1F; break;
    case FZG_T_NAME: memset(t->name, 'x', sizeof t->name); break;
    case FZG_T_VIEW_SRC: t->view_src = tensor_arg(p); break;
    case FZG_T_POINTERS:
        t->data = (void *)(uintptr_t)0x10;
        t->buffer = (void *)(uintptr_t)0x20;
        t->offset = (size_t)fz_le(&p->in, 8);
        break;
    }
}

/* --------------------------------------------------------------- running */

static bool nelements(const slm_tensor_t *t, int64_t *out)
{
    int64_t n = 1;
    for (int d = 0; d < SLM_MAX_DIMS; d++) {
        if (t->ne[d] <= 0 || t->ne[d] > (INT64_C(1) << 20) / n)
            return false;
        n *= t->ne[d];
    }
    *out = n;
    return true;
}

/* Whether running would take more than a few milliseconds, judged on the
** tensors' current fields (a tamper may have grown them). */
static bool small_enough(const program_t *p)
{
    int64_t n, total = 0;
    for (uint32_t i = 0; i < p->n_t; i++) {
        if (!nelements(p->t[i], &n))
            return false;
        total += n;
    }
    if (total > (INT64_C(1) << 22))
        return false;
    int64_t work = 0;
    for (uint32_t i = 0; i < p->n_nodes; i++) {
        const slm_node_t *node = &p->nodes[i];
        /* The largest operand times the longest row: a bound on any op. */
        int64_t most, row = 1;
        if (!nelements(node->dst, &most))
            return false;
        for (int k = 0; k < SLM_MAX_SRC; k++) {
            if (!node->src[k])
                continue;
            if (!nelements(node->src[k], &n))
                return false;
            most = n > most ? n : most;
            row = node->src[k]->ne[0] > row ? node->src[k]->ne[0] : row;
        }
        work += most * row;
        if (work > (INT64_C(1) << 24))
            return false;
    }
    return true;
}

static void run(program_t *p)
{
    slm_status_t valid = slm__graph_validate(p->g);
    if (!small_enough(p))
        return;
    /* A run validates when it plans. A field tampered with after a plan is
    ** not seen until the graph changes through the API: the plan runs
    ** device-local copies of the tensors made when it was built, so the
    ** tampering cannot reach a plugin. */
    bool plans = !p->g->plan || p->g->changed;
    slm_status_t st = slm_graph_run(p->g);
    fz_check(!plans || valid == SLM_OK || st != SLM_OK,
             "a graph the validator rejects ran (validator: %d)", valid);
    if (st != SLM_OK)
        return;
    for (uint32_t i = 0; i < p->n_t; i++) {
        size_t size = slm__compact_bytes(p->t[i]->dtype, p->t[i]->ne);
        void *buf = size && size <= MAX_DATA ? malloc(size) : NULL;
        if (buf)
            (void)slm_graph_read(p->g, p->t[i], buf, size);
        free(buf);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    program_t *p = calloc(1, sizeof *p);
    if (!p)
        return 0;
    p->in.p = data;
    p->in.n = size;
    p->foreign.dtype = SLM_DTYPE_F32;
    for (int d = 0; d < SLM_MAX_DIMS; d++)
        p->foreign.ne[d] = 1;
    contiguous(SLM_DTYPE_F32, p->foreign.ne, p->foreign.nb);
    if (slm_graph_create(fz_runtime(true), &p->g) != SLM_OK) {
        free(p);
        return 0;
    }
    bool ran = false;
    for (int steps = 0; p->in.n > 0 && steps < 256; steps++) {
        switch (fz_u8(&p->in) % FZG_COUNT) {
        case FZG_TENSOR: op_tensor(p); break;
        case FZG_VIEW: op_view(p); break;
        case FZG_OP: op_op(p); break;
        case FZG_OUTPUT: (void)slm_graph_set_output(p->g, tensor_arg(p)); break;
        case FZG_DATA: op_data(p, false); break;
        case FZG_BIND: op_data(p, true); break;
        case FZG_TAMPER: op_tamper(p); break;
        case FZG_RUN:
            run(p);
            ran = true;
            break;
        }
    }
    if (!ran)
        run(p);
    slm_graph_destroy(p->g);
    for (uint32_t i = 0; i < p->n_bound; i++)
        free(p->bound[i]);
    free(p);
    return 0;
}
