/*
** rknn_matmul.c -- MUL_MAT on the RKNN runtime: weights converted once and
** kept in the runtime's memory, one matmul context per (weight, slice of K,
** rows), activations in and results out through explicitly synced memory.
**
** For dst [N, M] = W [K, N] x X [K, M] (GGUF order: W is N rows of K):
**   B = W as the NPU takes it, [np][kp] ("B transposed"), F16 or int8/int4
**       with one F32 scale per 32 elements of K (per group, symmetric);
**   A = X rows in F16, [rows][kp];  C = [rows][np] in F32.
** K longer than RK_K_MAX is cut into slices, each its own B and context,
** and the slices' C are added; M is cut into tiles of RK_M_TILE rows, each
** run in the context of the next power of two rows (zero rows cost time,
** not accuracy). Padding is zeros in A and B, so it adds exact zeros.
*/
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rknn_internal.h"

/* ----------------------------------------------------------- errors */

/* What a failure names: the node and its weight. */
typedef struct rk_where {
    uint32_t index;
    const char *weight;
    int64_t m, k, n;
} rk_where;

static slm_status_t vendor_fail(const rk_where *at, const char *call, int code)
{
    slm_status_t st = code == RKNN_ERR_MALLOC_FAIL ? SLM_ERR_NO_MEMORY : SLM_ERR_DEVICE;
    return rk_fail(st, RK_NAME ": %s failed (%d %s) on node %u (MUL_MAT %s, M=%lld K=%lld "
                   "N=%lld)", call, code, rk_strerror(code), (unsigned)at->index,
                   at->weight[0] ? at->weight : "(unnamed weight)", (long long)at->m,
                   (long long)at->k, (long long)at->n);
}

static slm_status_t no_mem(const rk_where *at, const char *what, size_t bytes)
{
    return rk_fail(SLM_ERR_NO_MEMORY, RK_NAME ": %s (%zu bytes) failed on node %u (MUL_MAT "
                   "%s)", what, bytes, (unsigned)at->index,
                   at->weight[0] ? at->weight : "(unnamed weight)");
}

/* ------------------------------------------------------ weight cache */

static int64_t round_up(int64_t v, int64_t to)
{
    return (v + to - 1) / to * to;
}

static int bucket_of(int64_t rows)
{
    int b = 0;
    while ((INT64_C(1) << b) < rows)
        b++;
    return b;
}

/* Destroy a context's A and C memories (either may be missing). */
static void drop_ac(const rk_api *api, rk_ctx *c)
{
    if (c->a)
        api->destroy_mem(c->ctx, c->a);
    if (c->c)
        api->destroy_mem(c->ctx, c->c);
    c->a = c->c = NULL;
}

static void ctx_free(const rk_api *api, rk_ctx *c)
{
    if (!c->ctx)
        return;
    drop_ac(api, c);
    api->matmul_destroy(c->ctx);
    memset(c, 0, sizeof *c);
}

/* Release what a converted weight holds in the runtime, then the rest. The
** B memories go first, through the context they were made with, which is
** destroyed last. */
static void weight_free(const rk_api *api, rk_weight *w)
{
    for (int i = 0; i < w->n_chunks; i++) {
        rk_chunk *ch = &w->chunks[i];
        if (ch->b)
            api->destroy_mem(w->home, ch->b);
        free(ch->scales);
    }
    for (int i = 0; i < w->n_chunks; i++)
        for (int j = 0; j < RK_BUCKETS; j++)
            if (w->chunks[i].ctx[j].ctx != w->home)
                ctx_free(api, &w->chunks[i].ctx[j]);
    for (int i = 0; i < w->n_chunks; i++)
        for (int j = 0; j < RK_BUCKETS; j++)
            ctx_free(api, &w->chunks[i].ctx[j]); /* the home context */
    free(w->chunks);
    npu_weights_free(&w->w);
    free(w);
}

void rk_weights_drop(rk_device *d, rk_buffer *b, size_t offset, size_t size)
{
    for (rk_weight **p = &b->weights; *p;) {
        rk_weight *w = *p;
        size_t end = w->offset + (size_t)w->n * w->row_stride;
        if (w->offset < offset + size && offset < end) {
            *p = w->next;
            weight_free(&d->api, w);
        } else {
            p = &w->next;
        }
    }
}

/* int4 weights as int8: the same values and scales, a byte each. */
static bool widen_i4(npu_weights_t *w, char *err, size_t errlen)
{
    size_t n = (size_t)(w->k * w->n);
    int8_t *q = malloc(n);
    if (!q) {
        snprintf(err, errlen, "int4 -> int8 (%zu bytes): out of memory", n);
        return false;
    }
    const uint8_t *p = w->data;
    for (size_t e = 0; e < n; e++) {
        int v = (p[e / 2] >> (4 * (e & 1))) & 0xF;
        q[e] = (int8_t)(v >= 8 ? v - 16 : v);
    }
    free(w->data);
    w->data = q;
    w->format = NPU_W_I8;
    w->bytes += n - n / 2;
    return true;
}

/* The cached conversion of `t`, made the first time: converted, measured
** and logged, its slices laid out; the runtime's memories come later, with
** the first context. */
static slm_status_t weight_get(rk_device *d, const slm_tensor_t *t, const rk_where *at,
                               rk_weight **out)
{
    rk_buffer *b = t->buffer;
    int64_t K = t->ne[0], N = t->ne[1];
    for (rk_weight *w = b->weights; w; w = w->next)
        if (w->offset == t->offset && w->dtype == t->dtype && w->k == K && w->n == N &&
            w->row_stride == t->nb[1]) {
            *out = w;
            return SLM_OK;
        }
    rk_weight *w = calloc(1, sizeof *w);
    if (!w)
        return no_mem(at, "weight cache entry", sizeof *w);
    npu_wformat_t fmt = rk_format_for(d, t->dtype, K);
    /* Q4_0 as int8: its blocks as int4 (lossless), each nibble widened */
    bool widen = fmt == NPU_W_I8 && t->dtype == SLM_DTYPE_Q4_0;
    char err[256];
    if (npu_weights_convert(b->base + t->offset, t->dtype, K, N, t->nb[1],
                            widen ? NPU_W_I4 : fmt, fmt == NPU_W_F16 ? 0 : RK_GROUP, &w->w, err,
                            sizeof err) != 0 ||
        (widen && !widen_i4(&w->w, err, sizeof err))) {
        npu_weights_free(&w->w);
        free(w);
        return rk_fail(SLM_ERR_NO_MEMORY, RK_NAME ": node %u: %s", (unsigned)at->index, err);
    }
    w->offset = t->offset;
    w->row_stride = t->nb[1];
    w->dtype = t->dtype;
    w->k = K;
    w->n = N;
    w->np = round_up(N, RK_N_ALIGN);
    w->type = fmt == NPU_W_I4   ? RKNN_ABI_F16_MM_I4_TO_F32
              : fmt == NPU_W_I8 ? RKNN_ABI_F16_MM_I8_TO_F32
                                : RKNN_ABI_F16_MM_F16_TO_F32;
    w->n_chunks = (int)((K + RK_K_MAX - 1) / RK_K_MAX);
    w->chunks = calloc((size_t)w->n_chunks, sizeof *w->chunks);
    if (!w->chunks) {
        size_t bytes = sizeof(rk_chunk) * (size_t)w->n_chunks;
        npu_weights_free(&w->w);
        free(w);
        return no_mem(at, "weight slices", bytes);
    }
    for (int i = 0; i < w->n_chunks; i++) {
        rk_chunk *ch = &w->chunks[i];
        ch->k0 = (int64_t)i * RK_K_MAX;
        ch->kc = K - ch->k0 < RK_K_MAX ? K - ch->k0 : RK_K_MAX;
        ch->kp = round_up(ch->kc, RK_K_ALIGN);
    }
    char fbuf[32], measured[64];
    const char *fname = npu_wformat_describe(&w->w, fbuf, sizeof fbuf);
    if (w->w.nmse == 0.0 && w->w.max_abs == 0.0)
        snprintf(measured, sizeof measured, "lossless");
    else
        snprintf(measured, sizeof measured, "nmse %.2g max_abs %.2g", w->w.nmse, w->w.max_abs);
    rk_log(SLM_LOG_INFO, "%s %s %lldx%lld -> %s %s%s", t->name[0] ? t->name : "weight",
           slm_dtype_name(t->dtype), (long long)K, (long long)N, fname, measured,
           w->n_chunks > 1 ? " (K split in slices of 10240)" : "");
    w->next = b->weights;
    b->weights = w;
    *out = w;
    return SLM_OK;
}

/* Bytes of B for one slice, as the runtime sizes it. */
static size_t b_bytes(const rk_weight *w, const rk_chunk *ch)
{
    size_t e = (size_t)w->np * (size_t)ch->kp;
    return w->w.format == NPU_W_I4 ? e / 2 : w->w.format == NPU_W_I8 ? e : 2 * e;
}

/* Make slice `ch`'s B memory with the home context, fill it from the
** conversion (zeros where padded) and hand it to the NPU. */
static slm_status_t make_b(rk_device *d, rk_weight *w, rk_chunk *ch, const rk_where *at)
{
    const rk_api *api = &d->api;
    size_t bytes = b_bytes(w, ch);
    rknn_abi_mem *m = api->create_mem(w->home, (uint32_t)bytes);
    if (!m)
        return rk_fail(SLM_ERR_NO_MEMORY, RK_NAME ": rknn_create_mem(%zu bytes) for B returned "
                       "NULL on node %u (MUL_MAT %s)", bytes, (unsigned)at->index, at->weight);
    unsigned char *dst = (unsigned char *)m->virt_addr + m->offset;
    memset(dst, 0, bytes);
    int64_t K = w->k;
    for (int64_t r = 0; r < w->n; r++) {
        switch (w->w.format) {
        case NPU_W_F16:
            memcpy(dst + (size_t)(r * ch->kp) * 2,
                   (const uint16_t *)w->w.data + (size_t)(r * K + ch->k0), (size_t)ch->kc * 2);
            break;
        case NPU_W_I8:
            memcpy(dst + (size_t)(r * ch->kp), (const int8_t *)w->w.data + (size_t)(r * K + ch->k0),
                   (size_t)ch->kc);
            break;
        case NPU_W_I4: /* k0 and kc are multiples of 32: whole bytes */
            memcpy(dst + (size_t)(r * ch->kp) / 2,
                   (const uint8_t *)w->w.data + (size_t)(r * K + ch->k0) / 2, (size_t)ch->kc / 2);
            break;
        }
    }
    if (w->w.format != NPU_W_F16) {
        int64_t g = ch->kp / RK_GROUP, gk = K / RK_GROUP;
        ch->scales = malloc(sizeof(float) * (size_t)(w->np * g));
        if (!ch->scales) {
            api->destroy_mem(w->home, m);
            return no_mem(at, "B scales", sizeof(float) * (size_t)(w->np * g));
        }
        for (int64_t r = 0; r < w->np; r++)
            for (int64_t j = 0; j < g; j++)
                ch->scales[r * g + j] =
                    r < w->n ? w->w.scales[r * gk + ch->k0 / RK_GROUP + j] : 1.0f;
    }
    int st = api->mem_sync(w->home, m, RKNN_ABI_SYNC_TO_DEVICE);
    if (st != RKNN_SUCC) {
        api->destroy_mem(w->home, m);
        free(ch->scales);
        ch->scales = NULL;
        return vendor_fail(at, "rknn_mem_sync(B, to device)", st);
    }
    ch->b = m;
    return SLM_OK;
}

/* The context of slice `ch` for `rows` rows (a power of two), compiled and
** wired the first time. */
static slm_status_t ctx_get(rk_device *d, rk_weight *w, rk_chunk *ch, int bucket,
                            const rk_where *at, rk_ctx **out)
{
    rk_ctx *c = &ch->ctx[bucket];
    if (c->ctx && c->a && c->c) {
        *out = c;
        return SLM_OK;
    }
    const rk_api *api = &d->api;
    int st;
    if (!c->ctx) {
        rknn_abi_matmul_info info;
        memset(&info, 0, sizeof info);
        info.M = 1 << bucket;
        info.K = (int32_t)ch->kp;
        info.N = (int32_t)w->np;
        info.type = w->type;
        info.B_layout = RKNN_ABI_LAYOUT_TP_NORM;
        info.AC_layout = RKNN_ABI_LAYOUT_NORM;
        if (w->w.format != NPU_W_F16) {
            info.B_quant_type = RKNN_ABI_QUANT_PER_GROUP_SYM;
            info.group_size = RK_GROUP;
        }
        memset(&c->io, 0, sizeof c->io);
        st = api->matmul_create(&c->ctx, &info, &c->io);
        if (st != RKNN_SUCC) {
            c->ctx = 0;
            return vendor_fail(at, "rknn_matmul_create", st);
        }
        c->rows = info.M;
        if (!w->home)
            w->home = c->ctx;
    }
    if (w->w.data) {
        for (int i = 0; i < w->n_chunks; i++)
            if (!w->chunks[i].b) {
                slm_status_t s = make_b(d, w, &w->chunks[i], at);
                if (s != SLM_OK)
                    return s;
            }
        /* the runtime holds B now: the host copy would be a third one */
        free(w->w.data);
        free(w->w.scales);
        w->w.data = NULL;
        w->w.scales = NULL;
    }
    if (!c->a)
        c->a = api->create_mem(c->ctx, c->io.A.size);
    if (!c->c)
        c->c = api->create_mem(c->ctx, c->io.C.size);
    if (!c->a || !c->c)
        return rk_fail(SLM_ERR_NO_MEMORY, RK_NAME ": rknn_create_mem(%u bytes) for %s returned "
                       "NULL on node %u (MUL_MAT %s)", !c->a ? c->io.A.size : c->io.C.size,
                       !c->a ? "A" : "C", (unsigned)at->index, at->weight);
    if ((st = api->matmul_set_io_mem(c->ctx, c->a, &c->io.A)) != RKNN_SUCC ||
        (st = api->matmul_set_io_mem(c->ctx, ch->b, &c->io.B)) != RKNN_SUCC ||
        (st = api->matmul_set_io_mem(c->ctx, c->c, &c->io.C)) != RKNN_SUCC)
        goto set_failed;
    if (w->w.format != NPU_W_F16) {
        rknn_abi_quant_params qp;
        memset(&qp, 0, sizeof qp);
        memcpy(qp.name, c->io.B.name, sizeof qp.name);
        qp.scale = ch->scales;
        qp.scale_len = (int32_t)(w->np * (ch->kp / RK_GROUP));
        st = api->matmul_set_quant_params(c->ctx, &qp);
        if (st != RKNN_SUCC) {
            drop_ac(api, c);
            return vendor_fail(at, "rknn_matmul_set_quant_params", st);
        }
    }
    *out = c;
    return SLM_OK;
set_failed:
    /* The context stays for a retry; its memories are made again. */
    drop_ac(api, c);
    return vendor_fail(at, "rknn_matmul_set_io_mem", st);
}

/* ------------------------------------------------------------ compute */

/* Byte 0 of a tensor: its buffer is host memory. */
static unsigned char *host_of(const slm_tensor_t *t)
{
    return ((rk_buffer *)t->buffer)->base + t->offset;
}

/* dst rows [m0, m0 + rows) += (or =) one slice's product; `act` holds
** those rows' activations, K apart. */
static slm_status_t run_tile(rk_device *d, rk_weight *w, rk_chunk *ch, const float *act,
                             float *y, int64_t m0, int64_t rows, bool first,
                             const rk_where *at)
{
    const rk_api *api = &d->api;
    rk_ctx *c = NULL;
    slm_status_t s = ctx_get(d, w, ch, bucket_of(rows), at, &c);
    if (s != SLM_OK)
        return s;
    /* A: the rows in F16, the padded columns zero (B is zero there too,
    ** but a stale infinity times zero would be NaN) */
    uint16_t *a = (uint16_t *)((unsigned char *)c->a->virt_addr + c->a->offset);
    for (int64_t i = 0; i < rows; i++) {
        const float *xr = act + (size_t)(i * w->k);
        uint16_t *ar = a + (size_t)(i * ch->kp);
        for (int64_t k = 0; k < ch->kc; k++)
            ar[k] = npu_f32_to_f16(xr[ch->k0 + k]);
        memset(ar + ch->kc, 0, (size_t)(ch->kp - ch->kc) * 2);
    }
    int st = api->mem_sync(c->ctx, c->a, RKNN_ABI_SYNC_TO_DEVICE);
    if (st != RKNN_SUCC)
        return vendor_fail(at, "rknn_mem_sync(A, to device)", st);
    st = api->matmul_run(c->ctx);
    if (st != RKNN_SUCC)
        return vendor_fail(at, "rknn_matmul_run", st);
    st = api->mem_sync(c->ctx, c->c, RKNN_ABI_SYNC_FROM_DEVICE);
    if (st != RKNN_SUCC)
        return vendor_fail(at, "rknn_mem_sync(C, from device)", st);
    const float *cr = (const float *)((unsigned char *)c->c->virt_addr + c->c->offset);
    for (int64_t i = 0; i < rows; i++) {
        float *yr = y + (size_t)((m0 + i) * w->n);
        const float *ci = cr + (size_t)(i * w->np);
        if (first)
            memcpy(yr, ci, sizeof(float) * (size_t)w->n);
        else
            for (int64_t n = 0; n < w->n; n++)
                yr[n] += ci[n];
    }
    return SLM_OK;
}

static slm_status_t mul_mat(rk_device *d, uint32_t index, const slm_node_t *node)
{
    const slm_tensor_t *t = node->src[0], *x = node->src[1];
    int64_t M = slm_tensor_nrows(x), K = t->ne[0];
    rk_where at = {index, t->name, M, K, t->ne[1]};
    rk_weight *w = NULL;
    slm_status_t s = weight_get(d, t, &at, &w);
    if (s != SLM_OK)
        return s;
    size_t need = (size_t)(M < RK_M_TILE ? M : RK_M_TILE) * (size_t)K;
    if (need > d->act_cap) {
        float *p = realloc(d->act, need * sizeof(float));
        if (!p)
            return no_mem(&at, "activation scratch", need * sizeof(float));
        d->act = p;
        d->act_cap = need;
    }
    float *y = (float *)host_of(node->dst);
    for (int64_t m0 = 0; m0 < M; m0 += RK_M_TILE) {
        int64_t rows = M - m0 < RK_M_TILE ? M - m0 : RK_M_TILE;
        for (int64_t i = 0; i < rows; i++) {
            float *row = d->act + (size_t)(i * K);
            memcpy(row, host_of(x) + (size_t)(m0 + i) * x->nb[1], sizeof(float) * (size_t)K);
            npu_act_row(t->dtype, row, K);
        }
        for (int i = 0; i < w->n_chunks; i++) {
            s = run_tile(d, w, &w->chunks[i], d->act, y, m0, rows, i == 0, &at);
            if (s != SLM_OK)
                return s;
        }
    }
    return SLM_OK;
}

slm_status_t rk_graph_compute(void *device, const slm_graph_t *graph)
{
    rk_device *d = device;
    for (uint32_t i = 0; i < graph->n_nodes; i++) {
        const slm_node_t *node = &graph->nodes[i];
        if (!rk_supports(d, node))
            return rk_fail(SLM_ERR_UNSUPPORTED, RK_NAME ": node %u: %s with these types and "
                           "shapes is not supported", (unsigned)i, slm_op_name(node->op));
        slm_status_t s = mul_mat(d, i, node);
        if (s != SLM_OK)
            return s;
    }
    return SLM_OK;
}
