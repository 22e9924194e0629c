/*
** qnn_matmul.c -- how the npu-qnn shim runs a matmul on the HTP.
**
** Each weight matrix is dequantised to F16 once (the HTP computes float
** graphs in float16, and GGUF block quants are not one of its formats),
** measured against the GGUF values and logged, and made the STATIC context
** tensor of one QNN context. That context holds one graph per row bucket
** (32, 64, 128, 256 rows, and one below 32 when min_batch is; each a MatMul
** [b x K] x [N x K]^T -> [b x N] F32 with transpose_in1), built with the
** FLOAT16 precision option and finalized together. Activations are copied
** into a staging buffer padded with zeros to the bucket -- converted on the
** way as graph.h's MUL_MAT converts them for the weight's dtype (Q8_0 /
** Q8_K blocks, BF16), so that float16 is the only difference left -- run,
** and the rows copied out; more than 256 rows run in tiles of 256.
** Finalizing is slow on a device, so the finalized context is saved as a
** context binary (qnn_cache.h) and loaded from there by later processes,
** with 0 finalizes.
*/
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qnn_internal.h"

/* ---------------------------------------------------------------- graphs */

static void tensor_desc(Qnn_Tensor_t *t, const char *name, Qnn_TensorType_t type,
                        Qnn_DataType_t dtype, uint32_t *dims, void *data, uint32_t bytes)
{
    memset(t, 0, sizeof *t);
    t->version = QNN_TENSOR_VERSION_1;
    t->v1.name = name;
    t->v1.type = type;
    t->v1.dataFormat = QNN_TENSOR_DATA_FORMAT_FLAT_BUFFER;
    t->v1.dataType = dtype;
    t->v1.quantizeParams.encodingDefinition = QNN_DEFINITION_UNDEFINED;
    t->v1.quantizeParams.quantizationEncoding = QNN_QUANTIZATION_ENCODING_UNDEFINED;
    t->v1.rank = 2;
    t->v1.dimensions = dims;
    t->v1.memType = QNN_TENSORMEMTYPE_RAW;
    t->v1.clientBuf.data = data;
    t->v1.clientBuf.dataSize = bytes;
}

#define QNN_CALL(call, what, ...)                                                             \
    do {                                                                                      \
        Qnn_ErrorHandle_t e_ = (call);                                                        \
        if (e_ != QNN_SUCCESS)                                                                \
            return qnn_fail(SLM_ERR_DEVICE, QNN_NAME ": " what ": error %u (%s)", __VA_ARGS__, \
                            (unsigned)QNN_GET_ERROR_CODE(e_), qnn_error_name(e_));            \
    } while (0)

/* Compose and finalize w's context from the F16 data: the weight as a
** STATIC context tensor [n, k], and per bucket b a graph "slm_mm_<b>" with
** x [b, k] F32 -> MatMul(transpose_in1) -> y [b, n] F32. */
static slm_status_t compose(QnnDevice *d, QnnWeight *w, const char *tname, void *f16)
{
    const QnnInterfaceImpl_t *api = d->rt.api;
    QNN_CALL(api->contextCreate(d->rt.backend, d->rt.device, NULL, &w->context),
             "contextCreate for %s", tname);
    uint32_t wdims[2] = {(uint32_t)w->n, (uint32_t)w->k};
    Qnn_Tensor_t wt;
    tensor_desc(&wt, "weight", QNN_TENSOR_TYPE_STATIC, QNN_DATATYPE_FLOAT_16, wdims, f16,
                (uint32_t)(w->n * w->k * 2));
    QNN_CALL(api->tensorCreateContextTensor(w->context, &wt),
             "tensorCreateContextTensor(%s, f16 %u x %u)", tname, wdims[0], wdims[1]);
    QnnHtpGraph_CustomConfig_t precision = {.option = QNN_HTP_GRAPH_CONFIG_OPTION_PRECISION,
                                            .precision = QNN_PRECISION_FLOAT16};
    QnnGraph_Config_t gc = {.option = QNN_GRAPH_CONFIG_OPTION_CUSTOM, .customConfig = &precision};
    const QnnGraph_Config_t *configs[] = {&gc, NULL};
    for (uint32_t i = 0; i < d->n_buckets; i++) {
        char gname[32], xname[32], yname[32];
        snprintf(gname, sizeof gname, "slm_mm_%u", (unsigned)d->buckets[i]);
        snprintf(xname, sizeof xname, "x_%u", (unsigned)d->buckets[i]);
        snprintf(yname, sizeof yname, "y_%u", (unsigned)d->buckets[i]);
        QNN_CALL(api->graphCreate(w->context, gname, configs, &w->graph[i]),
                 "graphCreate(%s, %s)", tname, gname);
        uint32_t xdims[2] = {d->buckets[i], (uint32_t)w->k};
        uint32_t ydims[2] = {d->buckets[i], (uint32_t)w->n};
        Qnn_Tensor_t io[2];
        tensor_desc(&io[0], xname, QNN_TENSOR_TYPE_APP_WRITE, QNN_DATATYPE_FLOAT_32, xdims, NULL, 0);
        tensor_desc(&io[1], yname, QNN_TENSOR_TYPE_APP_READ, QNN_DATATYPE_FLOAT_32, ydims, NULL, 0);
        for (int j = 0; j < 2; j++)
            QNN_CALL(api->tensorCreateGraphTensor(w->graph[i], &io[j]),
                     "tensorCreateGraphTensor(%s, %s)", tname, io[j].v1.name);
        w->in_id[i] = io[0].v1.id;
        w->out_id[i] = io[1].v1.id;
        Qnn_Param_t param = {.paramType = QNN_PARAMTYPE_SCALAR,
                             .name = QNN_OP_MAT_MUL_PARAM_TRANSPOSE_IN1,
                             .scalarParam = {.dataType = QNN_DATATYPE_BOOL_8, .bool8Value = 1}};
        Qnn_Tensor_t ins[2] = {io[0], wt};
        Qnn_OpConfig_t op = {.version = QNN_OPCONFIG_VERSION_1,
                             .v1 = {.name = "matmul",
                                    .packageName = QNN_OP_PACKAGE_NAME_QTI_AISW,
                                    .typeName = QNN_OP_MAT_MUL,
                                    .numOfParams = 1,
                                    .params = &param,
                                    .numOfInputs = 2,
                                    .inputTensors = ins,
                                    .numOfOutputs = 1,
                                    .outputTensors = &io[1]}};
        QNN_CALL(api->graphAddNode(w->graph[i], op), "graphAddNode(%s, MatMul [%u x %u] x "
                 "[%u x %u]^T)", tname, xdims[0], xdims[1], wdims[0], wdims[1]);
        QNN_CALL(api->graphFinalize(w->graph[i], NULL, NULL), "graphFinalize(%s, %s)", tname,
                 gname);
    }
    return SLM_OK;
}

/* ----------------------------------------------------------------- cache */

/* Load w's context from a cached binary; false (after logging why at INFO)
** when it cannot be used, leaving w without a context. */
static bool load_cached(QnnDevice *d, QnnWeight *w, const char *tname, const char *path,
                        const qnn_cache_header *want, qnn_cache_header *got)
{
    void *bin = NULL;
    char why[1024];
    int rc = qnn_cache_read(path, want, got, &bin, why, sizeof why);
    if (rc == 0)
        return false;
    if (rc < 0) {
        qnn_log(SLM_LOG_INFO, "cache %s for %s refused: %s; rebuilding", path, tname, why);
        return false;
    }
    const QnnInterfaceImpl_t *api = d->rt.api;
    Qnn_ErrorHandle_t e = api->contextCreateFromBinary(d->rt.backend, d->rt.device, NULL, bin,
                                                       got->payload_size, &w->context, NULL);
    free(bin);
    if (e != QNN_SUCCESS) {
        w->context = NULL;
        qnn_log(SLM_LOG_INFO, "cache %s for %s refused by contextCreateFromBinary: "
                "error %u (%s); rebuilding", path, tname, (unsigned)QNN_GET_ERROR_CODE(e),
                qnn_error_name(e));
        return false;
    }
    for (uint32_t i = 0; i < d->n_buckets; i++) {
        char gname[32];
        snprintf(gname, sizeof gname, "slm_mm_%u", (unsigned)d->buckets[i]);
        e = api->graphRetrieve(w->context, gname, &w->graph[i]);
        if (e != QNN_SUCCESS) {
            qnn_log(SLM_LOG_INFO, "cache %s for %s: graphRetrieve(%s): error %u (%s); "
                    "rebuilding", path, tname, gname, (unsigned)QNN_GET_ERROR_CODE(e),
                    qnn_error_name(e));
            api->contextFree(w->context, NULL);
            w->context = NULL;
            return false;
        }
        w->in_id[i] = got->in_id[i];
        w->out_id[i] = got->out_id[i];
    }
    return true;
}

/* Save w's finalized context; a failure costs only the next start's time,
** so it is logged (once per device) and the run goes on. */
static void store_cached(QnnDevice *d, QnnWeight *w, const char *path, qnn_cache_header *h)
{
    const QnnInterfaceImpl_t *api = d->rt.api;
    Qnn_ContextBinarySize_t size = 0, written = 0;
    char why[1024] = "";
    void *bin = NULL;
    Qnn_ErrorHandle_t e = api->contextGetBinarySize(w->context, &size);
    if (e != QNN_SUCCESS || size == 0)
        snprintf(why, sizeof why, "contextGetBinarySize: error %u (%s)",
                 (unsigned)QNN_GET_ERROR_CODE(e), qnn_error_name(e));
    else if (!(bin = malloc((size_t)size)))
        snprintf(why, sizeof why, "out of memory for %llu bytes", (unsigned long long)size);
    else if ((e = api->contextGetBinary(w->context, bin, size, &written)) != QNN_SUCCESS ||
             written == 0 || written > size)
        snprintf(why, sizeof why, "contextGetBinary: error %u (%s)",
                 (unsigned)QNN_GET_ERROR_CODE(e), qnn_error_name(e));
    if (!why[0]) {
        for (uint32_t i = 0; i < d->n_buckets; i++) {
            h->in_id[i] = w->in_id[i];
            h->out_id[i] = w->out_id[i];
        }
        h->payload_size = written;
        h->payload_hash = qnn_hash(bin, (size_t)written);
        qnn_cache_write(d->cfg.cache_dir, path, h, bin, why, sizeof why);
    }
    free(bin);
    if (why[0] && !d->cache_warned) {
        d->cache_warned = true;
        qnn_log(SLM_LOG_WARN, "context binary not cached (%s): the next start "
                "finalizes again", why);
    }
}

/* --------------------------------------------------------------- weights */

static void weight_destroy(QnnDevice *d, QnnWeight *w)
{
    if (w->context)
        d->rt.api->contextFree(w->context, NULL);
    free(w);
}

void qnn_weights_release(QnnDevice *d, QnnBuffer *b)
{
    for (uint32_t i = 0; i < b->n_weights; i++) {
        QnnWeight *w = b->weights[i];
        if (--w->refs)
            continue;
        for (QnnWeight **p = &d->weights; *p; p = &(*p)->next)
            if (*p == w) {
                *p = w->next;
                break;
            }
        weight_destroy(d, w);
    }
    free(b->weights);
    b->weights = NULL;
    b->n_weights = b->cap_weights = 0;
}

void qnn_weights_destroy_all(QnnDevice *d)
{
    while (d->weights) {
        QnnWeight *w = d->weights;
        d->weights = w->next;
        weight_destroy(d, w);
    }
}

/* Record that buffer b refers to w. */
static slm_status_t weight_ref(QnnBuffer *b, QnnWeight *w)
{
    if (b->n_weights == b->cap_weights) {
        uint32_t cap = b->cap_weights ? 2 * b->cap_weights : 8;
        QnnWeight **p = realloc(b->weights, cap * sizeof *p);
        if (!p)
            return qnn_fail(SLM_ERR_NO_MEMORY, QNN_NAME ": out of host memory");
        b->weights = p;
        b->cap_weights = cap;
    }
    b->weights[b->n_weights++] = w;
    w->refs++;
    return SLM_OK;
}

static bool weight_is(const QnnWeight *w, const slm_tensor_t *t)
{
    return w->data == t->data && w->dtype == t->dtype && w->k == t->ne[0] && w->n == t->ne[1];
}

/* The NPU form of weight tensor t: found on its buffer, or on the device
** (met through another buffer), or else made -- loaded from the disk cache
** or converted and finalized -- on first use and kept on its buffer. */
static slm_status_t weight_get(QnnDevice *d, const slm_tensor_t *t, QnnWeight **out)
{
    QnnBuffer *b = t->buffer;
    for (uint32_t i = 0; i < b->n_weights; i++)
        if (weight_is(b->weights[i], t)) {
            *out = b->weights[i];
            return SLM_OK;
        }
    for (QnnWeight *w = d->weights; w; w = w->next)
        if (weight_is(w, t)) {
            *out = w;
            return weight_ref(b, w);
        }
    const char *tname = t->name[0] ? t->name : "(unnamed weight)";
    QnnWeight *w = calloc(1, sizeof *w);
    if (!w)
        return qnn_fail(SLM_ERR_NO_MEMORY, QNN_NAME ": out of host memory");
    w->data = t->data;
    w->dtype = t->dtype;
    w->k = t->ne[0];
    w->n = t->ne[1];
    size_t bytes = slm_tensor_row_bytes(t) * (size_t)w->n;

    qnn_cache_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, "SLMQNNC1", 8);
    h.format = 1;
    h.dtype = (uint32_t)t->dtype;
    snprintf(h.runtime, sizeof h.runtime, "%s", d->rt.tag);
    h.k = (uint32_t)w->k;
    h.n = (uint32_t)w->n;
    h.n_buckets = d->n_buckets;
    for (uint32_t i = 0; i < d->n_buckets; i++)
        h.buckets[i] = d->buckets[i];
    char path[1400] = "";
    qnn_cache_header got;
    bool cached = false;
    if (d->cfg.cache_dir[0]) {
        h.weight_hash = qnn_hash(t->data, bytes);
        qnn_cache_path(path, sizeof path, d->cfg.cache_dir, &h);
        cached = load_cached(d, w, tname, path, &h, &got);
    }
    if (cached) {
        qnn_log(SLM_LOG_INFO, "%s %s %lldx%lld -> f16 nmse %.2g max_abs %.2g "
                "(finalized graphs loaded from %s)", tname, slm_dtype_name(t->dtype),
                (long long)w->k, (long long)w->n, got.nmse, got.max_abs, path);
    } else {
        npu_weights_t cw;
        char err[256], fmt[32];
        if (npu_weights_convert(t->data, t->dtype, w->k, w->n, t->nb[1], NPU_W_F16, 0, &cw, err,
                                sizeof err) != 0) {
            free(w);
            return qnn_fail(SLM_ERR_DEVICE, QNN_NAME ": %s: %s", tname, err);
        }
        slm_status_t st = compose(d, w, tname, cw.data);
        h.nmse = cw.nmse;
        h.max_abs = cw.max_abs;
        if (st == SLM_OK)
            qnn_log(SLM_LOG_INFO, "%s %s %lldx%lld -> %s %s%.2g max_abs %.2g "
                    "(%u graphs finalized)", tname, slm_dtype_name(t->dtype), (long long)w->k,
                    (long long)w->n, npu_wformat_describe(&cw, fmt, sizeof fmt),
                    cw.nmse == 0.0 ? "lossless, nmse " : "nmse ", cw.nmse, cw.max_abs,
                    (unsigned)d->n_buckets);
        npu_weights_free(&cw);
        if (st != SLM_OK) {
            weight_destroy(d, w);
            return st;
        }
        if (d->cfg.cache_dir[0])
            store_cached(d, w, path, &h);
    }
    slm_status_t st = weight_ref(b, w);
    if (st != SLM_OK) {
        weight_destroy(d, w);
        return st;
    }
    w->next = d->weights;
    d->weights = w;
    *out = w;
    return SLM_OK;
}

/* --------------------------------------------------------------- compute */

/* Staging for one tile: QNN_MAX_BUCKET rows of k in, of n out. */
static slm_status_t stage_reserve(QnnDevice *d, int64_t k, int64_t n)
{
    size_t need_in = (size_t)QNN_MAX_BUCKET * (size_t)k;
    size_t need_out = (size_t)QNN_MAX_BUCKET * (size_t)n;
    if (need_in > d->stage_in_n) {
        float *p = realloc(d->stage_in, need_in * sizeof *p);
        if (!p)
            return qnn_fail(SLM_ERR_NO_MEMORY, QNN_NAME ": out of host memory for staging");
        d->stage_in = p;
        d->stage_in_n = need_in;
    }
    if (need_out > d->stage_out_n) {
        float *p = realloc(d->stage_out, need_out * sizeof *p);
        if (!p)
            return qnn_fail(SLM_ERR_NO_MEMORY, QNN_NAME ": out of host memory for staging");
        d->stage_out = p;
        d->stage_out_n = need_out;
    }
    return SLM_OK;
}

/* Address of row r (over ne[1..3]) of t. */
static unsigned char *row_at(const slm_tensor_t *t, int64_t r)
{
    int64_t i1 = r % t->ne[1], i2 = (r / t->ne[1]) % t->ne[2], i3 = r / (t->ne[1] * t->ne[2]);
    return (unsigned char *)t->data + (size_t)i1 * t->nb[1] + (size_t)i2 * t->nb[2] +
           (size_t)i3 * t->nb[3];
}

static slm_status_t run_mul_mat(QnnDevice *d, const slm_node_t *node)
{
    const slm_tensor_t *wt = node->src[0], *x = node->src[1], *y = node->dst;
    QnnWeight *w = NULL; /* gcc -O2 cannot see weight_get set it on SLM_OK */
    slm_status_t st = weight_get(d, wt, &w);
    if (st == SLM_OK)
        st = stage_reserve(d, w->k, w->n);
    if (st != SLM_OK)
        return st;
    int64_t m = qnn_rows_of(x), k = w->k, n = w->n;
    for (int64_t r0 = 0; r0 < m; r0 += QNN_MAX_BUCKET) {
        int64_t rows = m - r0 < QNN_MAX_BUCKET ? m - r0 : QNN_MAX_BUCKET;
        uint32_t bi = qnn_bucket_for(d, rows), b = d->buckets[bi];
        for (int64_t r = 0; r < rows; r++) {
            float *row = d->stage_in + (size_t)r * (size_t)k;
            memcpy(row, row_at(x, r0 + r), (size_t)k * sizeof(float)); /* nb[0] == 4 */
            npu_act_row(wt->dtype, row, k);
        }
        memset(d->stage_in + (size_t)rows * (size_t)k, 0,
               (size_t)(b - rows) * (size_t)k * sizeof(float));
        uint32_t xdims[2] = {b, (uint32_t)k}, ydims[2] = {b, (uint32_t)n};
        Qnn_Tensor_t in, out;
        char xname[32], yname[32];
        snprintf(xname, sizeof xname, "x_%u", (unsigned)b);
        snprintf(yname, sizeof yname, "y_%u", (unsigned)b);
        tensor_desc(&in, xname, QNN_TENSOR_TYPE_APP_WRITE, QNN_DATATYPE_FLOAT_32, xdims,
                    d->stage_in, (uint32_t)((size_t)b * (size_t)k * sizeof(float)));
        tensor_desc(&out, yname, QNN_TENSOR_TYPE_APP_READ, QNN_DATATYPE_FLOAT_32, ydims,
                    d->stage_out, (uint32_t)((size_t)b * (size_t)n * sizeof(float)));
        in.v1.id = w->in_id[bi];
        out.v1.id = w->out_id[bi];
        Qnn_ErrorHandle_t e = d->rt.api->graphExecute(w->graph[bi], &in, 1, &out, 1, NULL, NULL);
        if (e != QNN_SUCCESS)
            return qnn_fail(SLM_ERR_DEVICE, QNN_NAME ": graphExecute(%s, slm_mm_%u, rows "
                            "%lld..%lld of %lld): error %u (%s)",
                            wt->name[0] ? wt->name : "(unnamed weight)", (unsigned)b,
                            (long long)r0, (long long)(r0 + rows - 1), (long long)m,
                            (unsigned)QNN_GET_ERROR_CODE(e), qnn_error_name(e));
        for (int64_t r = 0; r < rows; r++)
            memcpy(row_at(y, r0 + r), d->stage_out + (size_t)r * (size_t)n,
                   (size_t)n * sizeof(float));
    }
    return SLM_OK;
}

slm_status_t qnn_graph_compute(void *device, const slm_graph_t *graph)
{
    QnnDevice *d = device;
    for (uint32_t i = 0; i < graph->n_nodes; i++) {
        const slm_node_t *node = &graph->nodes[i];
        if (!qnn_supports_node(d, node))
            return qnn_fail(SLM_ERR_UNSUPPORTED, QNN_NAME ": node %u: %s of these types and "
                            "shapes not supported", (unsigned)i, slm_op_name(node->op));
        slm_status_t st = run_mul_mat(d, node);
        if (st != SLM_OK)
            return st;
    }
    return SLM_OK;
}
