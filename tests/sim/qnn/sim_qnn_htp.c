/*
** sim_qnn_htp.c -- a simulated Qualcomm QNN HTP backend: libQnnHtp.so for
** the tests of plugins/npu-qnn, with the vendor's library name and its one
** client symbol, QnnInterface_getProviders.
**
** It does what the QNN documentation says the HTP backend does, on the CPU,
** for the subset of the API in plugins/npu-qnn/qnn_api.h, and refuses what
** that backend refuses:
**   - graphs are composed (graphCreate, tensorCreate*Tensor, graphAddNode),
**     finalized (counted: the slow step on a real device), then executed;
**     executing before graphFinalize, or adding to a finalized graph, fails;
**   - the only op is MatMul of package "qti.aisw", rank-2 tensors, with
**     transpose_in0/transpose_in1 BOOL_8 scalars; shapes must agree;
**   - float graphs need the HTP precision option FLOAT16 at graphCreate
**     (a float MatMul without it is refused at graphAddNode, as HTP has no
**     float32 kernels); with it, float32 inputs and static weights are
**     rounded to float16 (nearest even) and products summed in float32 in
**     order of k; FLOAT_16 outputs are rounded again;
**   - limits: rank 2, every dimension in [1, 65536], a STATIC tensor at
**     most 1 GiB; types FLOAT_16 and FLOAT_32 only (BOOL_8 for scalars):
**     the fixed-point types are not simulated and are refused;
**   - execute checks each client tensor against the graph's (id, type,
**     rank, dimensions, RAW memory, dataSize) and fails with
**     QNN_GRAPH_ERROR_INVALID_TENSOR on any difference;
**   - context binaries (contextGetBinary after every graph is finalized)
**     carry the runtime's version tag and a checksum: one from another
**     version is refused with QNN_CONTEXT_ERROR_BINARY_VERSION, a damaged
**     one with QNN_CONTEXT_ERROR_CREATE_FROM_BINARY; graphs of a context
**     made from a binary are finalized already (graphRetrieve gets them).
**
** Environment, read by the simulation only:
**   SIM_QNN_VERSION=2.20.0     the core API version it reports (default
**                              2.20.0); another major is an incompatible
**                              runtime; another minor a new runtime whose
**                              binaries differ from the old one's
**   SIM_QNN_HTP_VERSION=5.20.0 the HTP backend API version
**   SIM_QNN_FAIL=a,b           calls that fail: backend (backendCreate),
**                              device or create (deviceCreate), context
**                              (contextCreate), finalize, execute
**                              (QNN_COMMON_ERROR_SYSTEM_COMMUNICATION, a
**                              DSP that stopped answering), binary
**                              (contextCreateFromBinary)
**   SIM_QNN_STATS=path         counters written there after every finalize,
**                              binary load and backendFree: lines
**                              "finalize N", "binary_load N", "execute N",
**                              "context_create N"
** and, for the sim's own unit test, the export sim_qnn_stats().
*/
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qnn_api.h"

#define SIM_EXPORT __attribute__((visibility("default")))

#define SIM_MAX_DIM 65536u
#define SIM_MAX_STATIC_BYTES ((uint64_t)1 << 30)
#define SIM_NAME 64
#define SIM_BUILD "v2.28.0.sim"

enum { MAGIC_BACKEND = 0x51424B44, MAGIC_DEVICE = 0x51444556, MAGIC_CONTEXT = 0x51435458,
       MAGIC_GRAPH = 0x51475250 };

/* ------------------------------------------------------------- counters */

static unsigned long n_finalize, n_binary_load, n_execute, n_context_create;

static void write_stats(void)
{
    const char *path = getenv("SIM_QNN_STATS");
    if (!path || !*path)
        return;
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    fprintf(f, "finalize %lu\nbinary_load %lu\nexecute %lu\ncontext_create %lu\n", n_finalize,
            n_binary_load, n_execute, n_context_create);
    fclose(f);
}

/* Test-only: the counters, in the order of the stats file. */
SIM_EXPORT void sim_qnn_stats(unsigned long out[4])
{
    out[0] = n_finalize;
    out[1] = n_binary_load;
    out[2] = n_execute;
    out[3] = n_context_create;
}

/* Whether SIM_QNN_FAIL names `what`. */
static int failing(const char *what)
{
    const char *s = getenv("SIM_QNN_FAIL");
    size_t n = strlen(what);
    while (s && *s) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == n && strncmp(s, what, n) == 0)
            return 1;
        s = e ? e + 1 : NULL;
    }
    return 0;
}

static Qnn_Version_t parse_version(const char *env, Qnn_Version_t dflt)
{
    const char *s = getenv(env);
    unsigned a, b, c;
    if (s && sscanf(s, "%u.%u.%u", &a, &b, &c) == 3)
        return (Qnn_Version_t){a, b, c};
    return dflt;
}

static Qnn_ApiVersion_t api_version(void)
{
    return (Qnn_ApiVersion_t){parse_version("SIM_QNN_VERSION", (Qnn_Version_t){2, 20, 0}),
                              parse_version("SIM_QNN_HTP_VERSION", (Qnn_Version_t){5, 20, 0})};
}

/* The tag a context binary carries: binaries of another runtime differ. */
static void version_tag(char tag[SIM_NAME])
{
    Qnn_ApiVersion_t v = api_version();
    snprintf(tag, SIM_NAME, "qnn-htp-sim %u.%u.%u/%u.%u.%u " SIM_BUILD,
             (unsigned)v.coreApiVersion.major, (unsigned)v.coreApiVersion.minor,
             (unsigned)v.coreApiVersion.patch, (unsigned)v.backendApiVersion.major,
             (unsigned)v.backendApiVersion.minor, (unsigned)v.backendApiVersion.patch);
}

/* ---------------------------------------------------------------- fp16 */

/* x rounded to the nearest binary16 value (ties to even), as a float:
** what the HTP does to float32 data under the FLOAT16 precision. */
static float round_f16(float x)
{
    if (!isfinite(x) || x == 0.0f)
        return x;
    float a = fabsf(x);
    float r;
    if (a >= 65520.0f) { /* past the midpoint of 65504 and 65536 */
        r = INFINITY;
    } else if (a < 0x1p-14f) { /* subnormal: a multiple of 2^-24 */
        r = nearbyintf(a * 0x1p24f) * 0x1p-24f;
    } else { /* keep 11 significant bits: drop 13, ties to even */
        uint32_t b;
        memcpy(&b, &a, sizeof b);
        b += 0xFFFu + ((b >> 13) & 1u);
        b &= ~0x1FFFu;
        memcpy(&r, &b, sizeof r);
    }
    return x < 0 ? -r : r;
}

static uint16_t f16_bits(float h) /* h already a binary16 value */
{
    uint32_t x;
    memcpy(&x, &h, sizeof x);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    float a = fabsf(h);
    if (isnan(a))
        return sign | 0x7E00u;
    if (isinf(a))
        return sign | 0x7C00u;
    if (a < 0x1p-14f)
        return sign | (uint16_t)(a * 0x1p24f);
    int e;
    float m = frexpf(a, &e); /* [0.5, 1) */
    return sign | (uint16_t)((uint32_t)(e + 14) << 10) |
           (uint16_t)((uint32_t)(m * 2048.0f) & 0x3FFu);
}

static float f16_value(uint16_t h)
{
    int e = (h >> 10) & 0x1F;
    int m = h & 0x3FF;
    float v;
    if (e == 0x1F)
        v = m ? NAN : INFINITY;
    else if (e == 0)
        v = ldexpf((float)m, -24);
    else
        v = ldexpf((float)(m | 0x400), e - 25);
    return (h & 0x8000u) ? -v : v;
}

/* --------------------------------------------------------------- types */

typedef struct SimTensor {
    uint32_t id;
    char name[SIM_NAME];
    Qnn_TensorType_t type;
    Qnn_DataType_t dtype;
    uint32_t rank;
    uint32_t dims[2];
    void *raw;          /* STATIC: the client's bytes, until compiled */
    float *vals;        /* STATIC, compiled: the values rounded to float16 */
    float *native;      /* NATIVE: the graph's intermediate */
} SimTensor;

typedef struct SimNode {
    char name[SIM_NAME];
    uint32_t in0, in1, out;
    uint8_t t0, t1;
} SimNode;

typedef struct SimContext SimContext;

typedef struct SimGraph {
    uint32_t magic;
    SimContext *ctx;
    char name[SIM_NAME];
    int fp16;           /* the FLOAT16 precision option was given */
    int finalized;
    SimTensor *tensors;
    uint32_t n_tensors;
    SimNode *nodes;
    uint32_t n_nodes;
} SimGraph;

struct SimContext {
    uint32_t magic;
    uint32_t next_id;
    int from_binary;
    SimTensor *tensors; /* context tensors, shared by its graphs */
    uint32_t n_tensors;
    SimGraph **graphs;
    uint32_t n_graphs;
};

typedef struct SimBackend { uint32_t magic; } SimBackend;
typedef struct SimDevice { uint32_t magic; } SimDevice;

static uint64_t elems(const SimTensor *t)
{
    uint64_t n = 1;
    for (uint32_t i = 0; i < t->rank; i++)
        n *= t->dims[i];
    return n;
}

static size_t dtype_size(Qnn_DataType_t d)
{
    return d == QNN_DATATYPE_FLOAT_32 ? 4 : d == QNN_DATATYPE_FLOAT_16 ? 2 : 0;
}

static void tensor_clear(SimTensor *t)
{
    free(t->raw);
    free(t->vals);
    free(t->native);
    t->raw = NULL;
    t->vals = NULL;
    t->native = NULL;
}

static SimTensor *find_tensor(SimGraph *g, uint32_t id)
{
    for (uint32_t i = 0; i < g->n_tensors; i++)
        if (g->tensors[i].id == id)
            return &g->tensors[i];
    for (uint32_t i = 0; i < g->ctx->n_tensors; i++)
        if (g->ctx->tensors[i].id == id)
            return &g->ctx->tensors[i];
    return NULL;
}

static int name_taken(SimContext *c, SimGraph *g, const char *name)
{
    for (uint32_t i = 0; i < c->n_tensors; i++)
        if (strcmp(c->tensors[i].name, name) == 0)
            return 1;
    for (uint32_t i = 0; g && i < g->n_tensors; i++)
        if (strcmp(g->tensors[i].name, name) == 0)
            return 1;
    return 0;
}

/* -------------------------------------------------------------- backend */

static Qnn_ErrorHandle_t sim_backendCreate(Qnn_LogHandle_t logger,
                                           const QnnBackend_Config_t **config,
                                           Qnn_BackendHandle_t *backend)
{
    (void)logger;
    (void)config;
    if (!backend)
        return QNN_BACKEND_ERROR_INVALID_ARGUMENT;
    if (failing("backend"))
        return QNN_BACKEND_ERROR_CANNOT_INITIALIZE;
    SimBackend *b = calloc(1, sizeof *b);
    if (!b)
        return QNN_COMMON_ERROR_MEM_ALLOC;
    b->magic = MAGIC_BACKEND;
    *backend = b;
    return QNN_SUCCESS;
}

static Qnn_ErrorHandle_t sim_backendGetApiVersion(Qnn_ApiVersion_t *v)
{
    if (!v)
        return QNN_BACKEND_ERROR_INVALID_ARGUMENT;
    *v = api_version();
    return QNN_SUCCESS;
}

static Qnn_ErrorHandle_t sim_backendGetBuildId(const char **id)
{
    static char build[SIM_NAME];
    if (!id)
        return QNN_BACKEND_ERROR_INVALID_ARGUMENT;
    version_tag(build);
    *id = build;
    return QNN_SUCCESS;
}

static Qnn_ErrorHandle_t sim_backendFree(Qnn_BackendHandle_t backend)
{
    SimBackend *b = backend;
    if (!b || b->magic != MAGIC_BACKEND)
        return QNN_BACKEND_ERROR_INVALID_ARGUMENT;
    b->magic = 0;
    free(b);
    write_stats();
    return QNN_SUCCESS;
}

static Qnn_ErrorHandle_t sim_deviceCreate(Qnn_LogHandle_t logger,
                                          const QnnDevice_Config_t **config,
                                          Qnn_DeviceHandle_t *device)
{
    (void)logger;
    if (config && config[0])
        return QNN_DEVICE_ERROR_INVALID_CONFIG; /* no device options simulated */
    if (!device)
        return QNN_COMMON_ERROR_INVALID_ARGUMENT;
    if (failing("device") || failing("create"))
        return QNN_DEVICE_ERROR_HARDWARE_UNAVAILABLE;
    SimDevice *d = calloc(1, sizeof *d);
    if (!d)
        return QNN_COMMON_ERROR_MEM_ALLOC;
    d->magic = MAGIC_DEVICE;
    *device = d;
    return QNN_SUCCESS;
}

static Qnn_ErrorHandle_t sim_deviceFree(Qnn_DeviceHandle_t device)
{
    SimDevice *d = device;
    if (!d || d->magic != MAGIC_DEVICE)
        return QNN_COMMON_ERROR_INVALID_ARGUMENT;
    d->magic = 0;
    free(d);
    return QNN_SUCCESS;
}

/* -------------------------------------------------------------- context */

static int backend_ok(Qnn_BackendHandle_t b, Qnn_DeviceHandle_t d)
{
    return b && ((SimBackend *)b)->magic == MAGIC_BACKEND &&
           (!d || ((SimDevice *)d)->magic == MAGIC_DEVICE);
}

static SimContext *context_new(void)
{
    SimContext *c = calloc(1, sizeof *c);
    if (c) {
        c->magic = MAGIC_CONTEXT;
        c->next_id = 1;
    }
    return c;
}

static void graph_free(SimGraph *g)
{
    for (uint32_t i = 0; i < g->n_tensors; i++)
        tensor_clear(&g->tensors[i]);
    free(g->tensors);
    free(g->nodes);
    g->magic = 0;
    free(g);
}

static void context_free(SimContext *c)
{
    for (uint32_t i = 0; i < c->n_graphs; i++)
        graph_free(c->graphs[i]);
    for (uint32_t i = 0; i < c->n_tensors; i++)
        tensor_clear(&c->tensors[i]);
    free(c->graphs);
    free(c->tensors);
    c->magic = 0;
    free(c);
}

static Qnn_ErrorHandle_t sim_contextCreate(Qnn_BackendHandle_t backend, Qnn_DeviceHandle_t device,
                                           const QnnContext_Config_t **config,
                                           Qnn_ContextHandle_t *context)
{
    (void)config;
    if (!context)
        return QNN_CONTEXT_ERROR_INVALID_ARGUMENT;
    if (!backend_ok(backend, device))
        return QNN_CONTEXT_ERROR_INVALID_HANDLE;
    if (failing("context"))
        return QNN_COMMON_ERROR_MEM_ALLOC;
    SimContext *c = context_new();
    if (!c)
        return QNN_COMMON_ERROR_MEM_ALLOC;
    n_context_create++;
    *context = c;
    return QNN_SUCCESS;
}

static Qnn_ErrorHandle_t sim_contextFree(Qnn_ContextHandle_t context, Qnn_ProfileHandle_t profile)
{
    SimContext *c = context;
    (void)profile;
    if (!c || c->magic != MAGIC_CONTEXT)
        return QNN_CONTEXT_ERROR_INVALID_HANDLE;
    context_free(c);
    return QNN_SUCCESS;
}

/* ------------------------------------------------------------- tensors */

/* Checks a client's tensor description against the simulated HTP's
** limits and copies it into t (STATIC data included). */
static Qnn_ErrorHandle_t tensor_take(SimContext *c, SimGraph *g, Qnn_Tensor_t *in, SimTensor *t)
{
    if (!in || in->version != QNN_TENSOR_VERSION_1)
        return QNN_TENSOR_ERROR_INVALID_TENSOR_PARAM;
    const Qnn_TensorV1_t *v = &in->v1;
    if (!v->name || !*v->name || strlen(v->name) >= SIM_NAME)
        return QNN_TENSOR_ERROR_INVALID_TENSOR_PARAM;
    if (name_taken(c, g, v->name))
        return QNN_TENSOR_ERROR_ALREADY_EXISTS;
    if (v->dataFormat != QNN_TENSOR_DATA_FORMAT_FLAT_BUFFER)
        return QNN_TENSOR_ERROR_UNSUPPORTED_TENSOR_PARAM;
    if (!dtype_size(v->dataType))
        return QNN_TENSOR_ERROR_UNSUPPORTED_TENSOR_PARAM; /* fixed point: not simulated */
    if (v->type != QNN_TENSOR_TYPE_APP_WRITE && v->type != QNN_TENSOR_TYPE_APP_READ &&
        v->type != QNN_TENSOR_TYPE_NATIVE && v->type != QNN_TENSOR_TYPE_STATIC)
        return QNN_TENSOR_ERROR_UNSUPPORTED_TENSOR_PARAM;
    if (v->rank != 2 || !v->dimensions)
        return QNN_TENSOR_ERROR_UNSUPPORTED_TENSOR_PARAM;
    memset(t, 0, sizeof *t);
    for (uint32_t i = 0; i < 2; i++) {
        if (v->dimensions[i] < 1 || v->dimensions[i] > SIM_MAX_DIM)
            return QNN_TENSOR_ERROR_UNSUPPORTED_TENSOR_PARAM;
        t->dims[i] = v->dimensions[i];
    }
    snprintf(t->name, sizeof t->name, "%s", v->name);
    t->type = v->type;
    t->dtype = v->dataType;
    t->rank = 2;
    if (v->type == QNN_TENSOR_TYPE_STATIC) {
        uint64_t bytes = elems(t) * dtype_size(t->dtype);
        if (bytes > SIM_MAX_STATIC_BYTES)
            return QNN_TENSOR_ERROR_UNSUPPORTED_TENSOR_PARAM;
        if (v->memType != QNN_TENSORMEMTYPE_RAW || !v->clientBuf.data ||
            v->clientBuf.dataSize != bytes)
            return QNN_TENSOR_ERROR_INVALID_TENSOR_PARAM;
        t->raw = malloc((size_t)bytes);
        if (!t->raw)
            return QNN_COMMON_ERROR_MEM_ALLOC;
        memcpy(t->raw, v->clientBuf.data, (size_t)bytes);
    }
    t->id = c->next_id++;
    in->v1.id = t->id;
    return QNN_SUCCESS;
}

static Qnn_ErrorHandle_t sim_tensorCreateContextTensor(Qnn_ContextHandle_t context,
                                                       Qnn_Tensor_t *tensor)
{
    SimContext *c = context;
    if (!c || c->magic != MAGIC_CONTEXT)
        return QNN_TENSOR_ERROR_INVALID_HANDLE;
    if (c->from_binary)
        return QNN_COMMON_ERROR_OPERATION_NOT_PERMITTED;
    if (tensor && tensor->version == QNN_TENSOR_VERSION_1 &&
        tensor->v1.type != QNN_TENSOR_TYPE_STATIC)
        return QNN_TENSOR_ERROR_UNSUPPORTED_TENSOR_PARAM; /* shared data only */
    SimTensor *ts = realloc(c->tensors, (c->n_tensors + 1) * sizeof *ts);
    if (!ts)
        return QNN_COMMON_ERROR_MEM_ALLOC;
    c->tensors = ts;
    Qnn_ErrorHandle_t e = tensor_take(c, NULL, tensor, &c->tensors[c->n_tensors]);
    if (e == QNN_SUCCESS)
        c->n_tensors++;
    return e;
}

static Qnn_ErrorHandle_t sim_tensorCreateGraphTensor(Qnn_GraphHandle_t graph, Qnn_Tensor_t *tensor)
{
    SimGraph *g = graph;
    if (!g || g->magic != MAGIC_GRAPH)
        return QNN_TENSOR_ERROR_INVALID_HANDLE;
    if (g->finalized || g->ctx->from_binary)
        return QNN_GRAPH_ERROR_GRAPH_FINALIZED;
    SimTensor *ts = realloc(g->tensors, (g->n_tensors + 1) * sizeof *ts);
    if (!ts)
        return QNN_COMMON_ERROR_MEM_ALLOC;
    g->tensors = ts;
    Qnn_ErrorHandle_t e = tensor_take(g->ctx, g, tensor, &g->tensors[g->n_tensors]);
    if (e == QNN_SUCCESS)
        g->n_tensors++;
    return e;
}

/* --------------------------------------------------------------- graphs */

static int graph_name_taken(SimContext *c, const char *name)
{
    for (uint32_t i = 0; i < c->n_graphs; i++)
        if (strcmp(c->graphs[i]->name, name) == 0)
            return 1;
    return 0;
}

static Qnn_ErrorHandle_t graph_add(SimContext *c, SimGraph *g)
{
    SimGraph **gs = realloc(c->graphs, (c->n_graphs + 1) * sizeof *gs);
    if (!gs)
        return QNN_COMMON_ERROR_MEM_ALLOC;
    c->graphs = gs;
    c->graphs[c->n_graphs++] = g;
    return QNN_SUCCESS;
}

static Qnn_ErrorHandle_t sim_graphCreate(Qnn_ContextHandle_t context, const char *name,
                                         const QnnGraph_Config_t **config,
                                         Qnn_GraphHandle_t *graph)
{
    SimContext *c = context;
    if (!c || c->magic != MAGIC_CONTEXT)
        return QNN_GRAPH_ERROR_INVALID_HANDLE;
    if (!graph)
        return QNN_GRAPH_ERROR_INVALID_ARGUMENT;
    if (c->from_binary)
        return QNN_COMMON_ERROR_OPERATION_NOT_PERMITTED;
    if (!name || !*name || strlen(name) >= SIM_NAME || graph_name_taken(c, name))
        return QNN_GRAPH_ERROR_INVALID_NAME;
    int fp16 = 0;
    for (size_t i = 0; config && config[i]; i++) {
        if (config[i]->option != QNN_GRAPH_CONFIG_OPTION_CUSTOM || !config[i]->customConfig)
            return QNN_GRAPH_ERROR_INVALID_ARGUMENT;
        const QnnHtpGraph_CustomConfig_t *h = config[i]->customConfig;
        if (h->option != QNN_HTP_GRAPH_CONFIG_OPTION_PRECISION)
            return QNN_GRAPH_ERROR_INVALID_ARGUMENT;
        if (h->precision != QNN_PRECISION_FLOAT16 && h->precision != QNN_PRECISION_FLOAT32)
            return QNN_GRAPH_ERROR_INVALID_ARGUMENT;
        fp16 = h->precision == QNN_PRECISION_FLOAT16;
    }
    SimGraph *g = calloc(1, sizeof *g);
    if (!g)
        return QNN_COMMON_ERROR_MEM_ALLOC;
    g->magic = MAGIC_GRAPH;
    g->ctx = c;
    g->fp16 = fp16;
    snprintf(g->name, sizeof g->name, "%s", name);
    if (graph_add(c, g) != QNN_SUCCESS) {
        free(g);
        return QNN_COMMON_ERROR_MEM_ALLOC;
    }
    *graph = g;
    return QNN_SUCCESS;
}

/* A MatMul's operands, validated: shapes agree and types are simulated. */
static Qnn_ErrorHandle_t check_matmul(SimGraph *g, const SimNode *n)
{
    const SimTensor *a = find_tensor(g, n->in0), *b = find_tensor(g, n->in1),
                    *y = find_tensor(g, n->out);
    if (!a || !b || !y)
        return QNN_GRAPH_ERROR_INVALID_TENSOR;
    if (y->type == QNN_TENSOR_TYPE_STATIC || y->type == QNN_TENSOR_TYPE_APP_WRITE)
        return QNN_GRAPH_ERROR_INVALID_TENSOR;
    /* HTP has no float32 MatMul: float graphs run in float16 only. */
    if (!g->fp16)
        return QNN_GRAPH_ERROR_INVALID_OP_CONFIG;
    uint32_t m = n->t0 ? a->dims[1] : a->dims[0], k = n->t0 ? a->dims[0] : a->dims[1];
    uint32_t kb = n->t1 ? b->dims[1] : b->dims[0], nn = n->t1 ? b->dims[0] : b->dims[1];
    if (k != kb || y->dims[0] != m || y->dims[1] != nn)
        return QNN_GRAPH_ERROR_INVALID_OP_CONFIG;
    return QNN_SUCCESS;
}

static Qnn_ErrorHandle_t sim_graphAddNode(Qnn_GraphHandle_t graph, Qnn_OpConfig_t op)
{
    SimGraph *g = graph;
    if (!g || g->magic != MAGIC_GRAPH)
        return QNN_GRAPH_ERROR_INVALID_HANDLE;
    if (g->finalized)
        return QNN_GRAPH_ERROR_GRAPH_FINALIZED;
    if (op.version != QNN_OPCONFIG_VERSION_1)
        return QNN_GRAPH_ERROR_INVALID_OP_CONFIG;
    const Qnn_OpConfigV1_t *v = &op.v1;
    if (!v->name || strlen(v->name) >= SIM_NAME || !v->packageName || !v->typeName ||
        strcmp(v->packageName, QNN_OP_PACKAGE_NAME_QTI_AISW) != 0 ||
        strcmp(v->typeName, QNN_OP_MAT_MUL) != 0)
        return QNN_GRAPH_ERROR_INVALID_OP_CONFIG; /* only MatMul is simulated */
    if (v->numOfInputs != 2 || v->numOfOutputs != 1 || !v->inputTensors || !v->outputTensors)
        return QNN_GRAPH_ERROR_INVALID_OP_CONFIG;
    SimNode n = {.in0 = v->inputTensors[0].v1.id, .in1 = v->inputTensors[1].v1.id,
                 .out = v->outputTensors[0].v1.id};
    snprintf(n.name, sizeof n.name, "%s", v->name);
    for (uint32_t i = 0; i < v->numOfParams; i++) {
        const Qnn_Param_t *p = &v->params[i];
        if (p->paramType != QNN_PARAMTYPE_SCALAR || !p->name ||
            p->scalarParam.dataType != QNN_DATATYPE_BOOL_8)
            return QNN_GRAPH_ERROR_INVALID_OP_CONFIG;
        if (strcmp(p->name, QNN_OP_MAT_MUL_PARAM_TRANSPOSE_IN0) == 0)
            n.t0 = p->scalarParam.bool8Value != 0;
        else if (strcmp(p->name, QNN_OP_MAT_MUL_PARAM_TRANSPOSE_IN1) == 0)
            n.t1 = p->scalarParam.bool8Value != 0;
        else
            return QNN_GRAPH_ERROR_INVALID_OP_CONFIG;
    }
    Qnn_ErrorHandle_t e = check_matmul(g, &n);
    if (e != QNN_SUCCESS)
        return e;
    SimNode *ns = realloc(g->nodes, (g->n_nodes + 1) * sizeof *ns);
    if (!ns)
        return QNN_COMMON_ERROR_MEM_ALLOC;
    g->nodes = ns;
    g->nodes[g->n_nodes++] = n;
    return QNN_SUCCESS;
}

/* Element i of a float tensor's data in `dtype`, rounded as the graph's
** precision says. */
static float load(const void *data, Qnn_DataType_t dtype, uint64_t i)
{
    if (dtype == QNN_DATATYPE_FLOAT_16) {
        uint16_t h;
        memcpy(&h, (const char *)data + i * 2, 2);
        return f16_value(h);
    }
    float v;
    memcpy(&v, (const char *)data + i * 4, 4);
    return round_f16(v);
}

/* Compiles a STATIC tensor: its values rounded to float16, once. */
static Qnn_ErrorHandle_t compile_static(SimTensor *t)
{
    if (t->type != QNN_TENSOR_TYPE_STATIC || t->vals)
        return QNN_SUCCESS;
    uint64_t n = elems(t);
    t->vals = malloc((size_t)n * sizeof *t->vals);
    if (!t->vals)
        return QNN_COMMON_ERROR_MEM_ALLOC;
    for (uint64_t i = 0; i < n; i++)
        t->vals[i] = load(t->raw, t->dtype, i);
    free(t->raw);
    t->raw = NULL;
    return QNN_SUCCESS;
}

static Qnn_ErrorHandle_t sim_graphFinalize(Qnn_GraphHandle_t graph, Qnn_ProfileHandle_t profile,
                                           Qnn_SignalHandle_t signal)
{
    SimGraph *g = graph;
    (void)profile;
    if (!g || g->magic != MAGIC_GRAPH)
        return QNN_GRAPH_ERROR_INVALID_HANDLE;
    if (signal)
        return QNN_GRAPH_ERROR_INVALID_ARGUMENT; /* signals not simulated */
    if (g->finalized)
        return QNN_SUCCESS; /* a retrieved graph: nothing more to set up */
    if (failing("finalize"))
        return QNN_GRAPH_ERROR_FINALIZE_FAILED;
    if (g->n_nodes == 0)
        return QNN_GRAPH_ERROR_CREATE_FAILED;
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        SimTensor *ts[2] = {find_tensor(g, g->nodes[i].in0), find_tensor(g, g->nodes[i].in1)};
        for (int j = 0; j < 2; j++)
            if (compile_static(ts[j]) != QNN_SUCCESS)
                return QNN_COMMON_ERROR_MEM_ALLOC;
    }
    g->finalized = 1;
    n_finalize++;
    write_stats();
    return QNN_SUCCESS;
}

static Qnn_ErrorHandle_t sim_graphRetrieve(Qnn_ContextHandle_t context, const char *name,
                                           Qnn_GraphHandle_t *graph)
{
    SimContext *c = context;
    if (!c || c->magic != MAGIC_CONTEXT)
        return QNN_GRAPH_ERROR_INVALID_HANDLE;
    if (!name || !graph)
        return QNN_GRAPH_ERROR_INVALID_ARGUMENT;
    for (uint32_t i = 0; i < c->n_graphs; i++)
        if (strcmp(c->graphs[i]->name, name) == 0) {
            *graph = c->graphs[i];
            return QNN_SUCCESS;
        }
    return QNN_GRAPH_ERROR_GRAPH_DOES_NOT_EXIST;
}

/* --------------------------------------------------------------- execute */

typedef struct Binding {
    const SimTensor *t;
    const void *data;   /* client's buffer, STATIC vals, or NATIVE */
    void *out;
} Binding;

/* An operand as the HTP reads it: float16 values (as floats), row-major
** as stored. STATIC tensors are so already; others are rounded into `tmp`. */
static const float *operand(const Binding *b, float *tmp)
{
    const SimTensor *t = b->t;
    if (t->type == QNN_TENSOR_TYPE_STATIC)
        return b->data;
    uint64_t n = elems(t);
    for (uint64_t i = 0; i < n; i++)
        tmp[i] = t->type == QNN_TENSOR_TYPE_NATIVE ? round_f16(((const float *)b->data)[i])
                                                   : load(b->data, t->dtype, i);
    return tmp;
}

/* y = op(a) op(b), products of halves (exact in float) summed in float in
** order of k. */
static Qnn_ErrorHandle_t run_matmul(const SimNode *n, const Binding *ba, const Binding *bb,
                                    const Binding *by)
{
    const SimTensor *a = ba->t, *b = bb->t, *y = by->t;
    float *ta = malloc((size_t)elems(a) * sizeof *ta), *tb = malloc((size_t)elems(b) * sizeof *tb);
    if (!ta || !tb) {
        free(ta);
        free(tb);
        return QNN_COMMON_ERROR_MEM_ALLOC;
    }
    const float *A = operand(ba, ta), *B = operand(bb, tb);
    uint32_t M = y->dims[0], N = y->dims[1], K = n->t0 ? a->dims[0] : a->dims[1];
    size_t sak = n->t0 ? a->dims[1] : 1, sam = n->t0 ? 1 : a->dims[1];
    size_t sbk = n->t1 ? 1 : b->dims[1], sbn = n->t1 ? b->dims[1] : 1;
    for (uint32_t m = 0; m < M; m++)
        for (uint32_t j = 0; j < N; j++) {
            const float *pa = A + m * sam, *pb = B + j * sbn;
            float acc = 0.0f;
            for (uint32_t k = 0; k < K; k++)
                acc += pa[k * sak] * pb[k * sbk];
            uint64_t iy = (uint64_t)m * N + j;
            if (y->type == QNN_TENSOR_TYPE_NATIVE)
                ((float *)by->out)[iy] = acc;
            else if (y->dtype == QNN_DATATYPE_FLOAT_16) {
                uint16_t h = f16_bits(round_f16(acc));
                memcpy((char *)by->out + iy * 2, &h, 2);
            } else
                memcpy((char *)by->out + iy * 4, &acc, 4);
        }
    free(ta);
    free(tb);
    return QNN_SUCCESS;
}

/* Binds client tensors to the graph's: same id and a matching description,
** RAW memory of the exact size. */
static Qnn_ErrorHandle_t bind(SimGraph *g, const Qnn_Tensor_t *ts, uint32_t n,
                              Qnn_TensorType_t type, Binding *b, uint32_t *nb)
{
    for (uint32_t i = 0; i < n; i++) {
        const Qnn_TensorV1_t *v = &ts[i].v1;
        SimTensor *t = ts[i].version == QNN_TENSOR_VERSION_1 ? find_tensor(g, v->id) : NULL;
        if (!t || t->type != type || v->dataType != t->dtype || v->rank != t->rank ||
            !v->dimensions || v->dimensions[0] != t->dims[0] || v->dimensions[1] != t->dims[1] ||
            v->memType != QNN_TENSORMEMTYPE_RAW || !v->clientBuf.data ||
            v->clientBuf.dataSize != elems(t) * dtype_size(t->dtype))
            return QNN_GRAPH_ERROR_INVALID_TENSOR;
        b[(*nb)++] = (Binding){t, v->clientBuf.data, v->clientBuf.data};
    }
    return QNN_SUCCESS;
}

static const Binding *bound(const Binding *b, uint32_t nb, uint32_t id)
{
    for (uint32_t i = 0; i < nb; i++)
        if (b[i].t->id == id)
            return &b[i];
    return NULL;
}

static Qnn_ErrorHandle_t sim_graphExecute(Qnn_GraphHandle_t graph, const Qnn_Tensor_t *inputs,
                                          uint32_t n_inputs, Qnn_Tensor_t *outputs,
                                          uint32_t n_outputs, Qnn_ProfileHandle_t profile,
                                          Qnn_SignalHandle_t signal)
{
    SimGraph *g = graph;
    (void)profile;
    if (!g || g->magic != MAGIC_GRAPH)
        return QNN_GRAPH_ERROR_INVALID_HANDLE;
    if (!g->finalized)
        return QNN_GRAPH_ERROR_GRAPH_NOT_FINALIZED;
    if (signal || (n_inputs && !inputs) || (n_outputs && !outputs))
        return QNN_GRAPH_ERROR_INVALID_ARGUMENT;
    /* every APP_WRITE and APP_READ tensor of the graph bound exactly once */
    uint32_t n_app = 0;
    for (uint32_t i = 0; i < g->n_tensors; i++)
        n_app += g->tensors[i].type == QNN_TENSOR_TYPE_APP_WRITE ||
                 g->tensors[i].type == QNN_TENSOR_TYPE_APP_READ;
    if (n_inputs + n_outputs != n_app)
        return QNN_GRAPH_ERROR_INVALID_TENSOR;
    Binding *b = calloc(g->n_tensors + g->ctx->n_tensors + 1, sizeof *b);
    if (!b)
        return QNN_COMMON_ERROR_MEM_ALLOC;
    uint32_t nb = 0;
    Qnn_ErrorHandle_t e = bind(g, inputs, n_inputs, QNN_TENSOR_TYPE_APP_WRITE, b, &nb);
    if (e == QNN_SUCCESS)
        e = bind(g, outputs, n_outputs, QNN_TENSOR_TYPE_APP_READ, b, &nb);
    for (uint32_t i = 0; e == QNN_SUCCESS && i < nb; i++)
        for (uint32_t j = i + 1; j < nb; j++)
            if (b[i].t == b[j].t)
                e = QNN_GRAPH_ERROR_INVALID_TENSOR;
    if (e == QNN_SUCCESS && failing("execute"))
        e = QNN_COMMON_ERROR_SYSTEM_COMMUNICATION;
    for (uint32_t i = 0; e == QNN_SUCCESS && i < g->n_tensors; i++) {
        SimTensor *t = &g->tensors[i];
        if (t->type == QNN_TENSOR_TYPE_NATIVE) {
            if (!t->native && !(t->native = malloc((size_t)elems(t) * sizeof(float))))
                e = QNN_COMMON_ERROR_MEM_ALLOC;
            else
                b[nb++] = (Binding){t, t->native, t->native};
        } else if (t->type == QNN_TENSOR_TYPE_STATIC) {
            b[nb++] = (Binding){t, t->vals, NULL};
        }
    }
    for (uint32_t i = 0; e == QNN_SUCCESS && i < g->ctx->n_tensors; i++)
        b[nb++] = (Binding){&g->ctx->tensors[i], g->ctx->tensors[i].vals, NULL};
    for (uint32_t i = 0; e == QNN_SUCCESS && i < g->n_nodes; i++) {
        const SimNode *n = &g->nodes[i];
        const Binding *x = bound(b, nb, n->in0), *w = bound(b, nb, n->in1),
                      *y = bound(b, nb, n->out);
        if (!x || !w || !y || !y->out)
            e = QNN_GRAPH_ERROR_INVALID_TENSOR;
        else
            e = run_matmul(n, x, w, y);
    }
    free(b);
    if (e == QNN_SUCCESS)
        n_execute++;
    return e;
}

/* -------------------------------------------------------- context binary */

/*
** Layout: "QNNSIMCB", u32 format 1, char tag[64] (version_tag), u64 size
** of the payload, u64 FNV-1a of the payload, then the payload: context
** tensors, then graphs with their tensors and nodes; STATIC tensors with
** their compiled float16 values.
*/
#define BIN_MAGIC "QNNSIMCB"
#define BIN_HEADER (8 + 4 + SIM_NAME + 8 + 8)

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

typedef struct Writer {
    unsigned char *p; /* NULL: only count */
    size_t n;
} Writer;

static void put(Writer *w, const void *src, size_t n)
{
    if (w->p)
        memcpy(w->p + w->n, src, n);
    w->n += n;
}

static void put32(Writer *w, uint32_t v) { put(w, &v, 4); }

static void put_tensor(Writer *w, const SimTensor *t)
{
    put32(w, t->id);
    put(w, t->name, SIM_NAME);
    put32(w, (uint32_t)t->type);
    put32(w, (uint32_t)t->dtype);
    put32(w, t->dims[0]);
    put32(w, t->dims[1]);
    if (t->type == QNN_TENSOR_TYPE_STATIC) /* as float16, the compiled form */
        for (uint64_t i = 0; i < elems(t); i++) {
            uint16_t h = f16_bits(t->vals[i]);
            put(w, &h, 2);
        }
}

static void put_context(Writer *w, const SimContext *c)
{
    put32(w, c->next_id);
    put32(w, c->n_tensors);
    for (uint32_t i = 0; i < c->n_tensors; i++)
        put_tensor(w, &c->tensors[i]);
    put32(w, c->n_graphs);
    for (uint32_t i = 0; i < c->n_graphs; i++) {
        const SimGraph *g = c->graphs[i];
        put(w, g->name, SIM_NAME);
        put32(w, (uint32_t)g->fp16);
        put32(w, g->n_tensors);
        for (uint32_t j = 0; j < g->n_tensors; j++)
            put_tensor(w, &g->tensors[j]);
        put32(w, g->n_nodes);
        for (uint32_t j = 0; j < g->n_nodes; j++) {
            const SimNode *n = &g->nodes[j];
            put(w, n->name, SIM_NAME);
            put32(w, n->in0);
            put32(w, n->in1);
            put32(w, n->out);
            put32(w, n->t0);
            put32(w, n->t1);
        }
    }
}

/* Every graph finalized, and every STATIC tensor compiled (one no graph
** uses included), so that the context can be serialized. */
static int context_ready(SimContext *c)
{
    for (uint32_t i = 0; i < c->n_graphs; i++)
        if (!c->graphs[i]->finalized)
            return 0;
    for (uint32_t i = 0; i < c->n_tensors; i++)
        if (compile_static(&c->tensors[i]) != QNN_SUCCESS)
            return 0;
    for (uint32_t i = 0; i < c->n_graphs; i++)
        for (uint32_t j = 0; j < c->graphs[i]->n_tensors; j++)
            if (compile_static(&c->graphs[i]->tensors[j]) != QNN_SUCCESS)
                return 0;
    return c->n_graphs > 0;
}

static Qnn_ErrorHandle_t sim_contextGetBinarySize(Qnn_ContextHandle_t context,
                                                  Qnn_ContextBinarySize_t *size)
{
    SimContext *c = context;
    if (!c || c->magic != MAGIC_CONTEXT)
        return QNN_CONTEXT_ERROR_INVALID_HANDLE;
    if (!size)
        return QNN_CONTEXT_ERROR_INVALID_ARGUMENT;
    if (!context_ready(c))
        return QNN_CONTEXT_ERROR_NOT_FINALIZED;
    Writer w = {NULL, 0};
    put_context(&w, c);
    *size = BIN_HEADER + w.n;
    return QNN_SUCCESS;
}

static Qnn_ErrorHandle_t sim_contextGetBinary(Qnn_ContextHandle_t context, void *buffer,
                                              Qnn_ContextBinarySize_t size,
                                              Qnn_ContextBinarySize_t *written)
{
    SimContext *c = context;
    if (!c || c->magic != MAGIC_CONTEXT)
        return QNN_CONTEXT_ERROR_INVALID_HANDLE;
    if (!buffer || !written)
        return QNN_CONTEXT_ERROR_INVALID_ARGUMENT;
    if (!context_ready(c))
        return QNN_CONTEXT_ERROR_NOT_FINALIZED;
    Writer w = {NULL, 0};
    put_context(&w, c);
    if (size < BIN_HEADER + w.n)
        return QNN_CONTEXT_ERROR_GET_BINARY_FAILED;
    unsigned char *p = buffer;
    w = (Writer){p + BIN_HEADER, 0};
    put_context(&w, c);
    char tag[SIM_NAME] = {0};
    version_tag(tag);
    uint32_t format = 1;
    uint64_t n = w.n, h = fnv1a(p + BIN_HEADER, w.n);
    memcpy(p, BIN_MAGIC, 8);
    memcpy(p + 8, &format, 4);
    memcpy(p + 12, tag, SIM_NAME);
    memcpy(p + 12 + SIM_NAME, &n, 8);
    memcpy(p + 20 + SIM_NAME, &h, 8);
    *written = BIN_HEADER + w.n;
    return QNN_SUCCESS;
}

typedef struct Reader {
    const unsigned char *p;
    size_t n, at;
    int bad;
} Reader;

static void get(Reader *r, void *dst, size_t n)
{
    if (r->bad || n > r->n - r->at) {
        r->bad = 1;
        memset(dst, 0, n);
        return;
    }
    memcpy(dst, r->p + r->at, n);
    r->at += n;
}

static uint32_t get32(Reader *r)
{
    uint32_t v;
    get(r, &v, 4);
    return v;
}

/* A count read from the binary, bounded by the bytes left (each item takes
** at least `min` bytes), so that a damaged count cannot allocate much. */
static uint32_t get_count(Reader *r, size_t min)
{
    uint32_t n = get32(r);
    if (!r->bad && (size_t)n > (r->n - r->at) / min)
        r->bad = 1;
    return r->bad ? 0 : n;
}

static void get_tensor(Reader *r, SimTensor *t)
{
    memset(t, 0, sizeof *t);
    t->id = get32(r);
    get(r, t->name, SIM_NAME);
    t->name[SIM_NAME - 1] = '\0';
    t->type = (Qnn_TensorType_t)get32(r);
    t->dtype = (Qnn_DataType_t)get32(r);
    t->rank = 2;
    t->dims[0] = get32(r);
    t->dims[1] = get32(r);
    if (r->bad || !dtype_size(t->dtype) || t->dims[0] < 1 || t->dims[0] > SIM_MAX_DIM ||
        t->dims[1] < 1 || t->dims[1] > SIM_MAX_DIM) {
        r->bad = 1;
        return;
    }
    if (t->type == QNN_TENSOR_TYPE_STATIC) {
        size_t n = (size_t)elems(t);
        if (n * 2 > r->n - r->at || !(t->vals = malloc(n * sizeof *t->vals))) {
            r->bad = 1;
            return;
        }
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            get(r, &h, 2);
            t->vals[i] = f16_value(h);
        }
    }
}

static int get_context(Reader *r, SimContext *c)
{
    c->next_id = get32(r);
    c->n_tensors = get_count(r, 84);
    c->tensors = calloc(c->n_tensors + 1, sizeof *c->tensors);
    if (!c->tensors)
        return 0;
    for (uint32_t i = 0; i < c->n_tensors && !r->bad; i++)
        get_tensor(r, &c->tensors[i]);
    uint32_t n_graphs = get_count(r, SIM_NAME + 12);
    for (uint32_t i = 0; i < n_graphs && !r->bad; i++) {
        SimGraph *g = calloc(1, sizeof *g);
        if (!g || graph_add(c, g) != QNN_SUCCESS) {
            free(g);
            return 0;
        }
        g->magic = MAGIC_GRAPH;
        g->ctx = c;
        g->finalized = 1;
        get(r, g->name, SIM_NAME);
        g->name[SIM_NAME - 1] = '\0';
        g->fp16 = (int)get32(r);
        g->n_tensors = get_count(r, 84);
        g->tensors = calloc(g->n_tensors + 1, sizeof *g->tensors);
        if (!g->tensors)
            return 0;
        for (uint32_t j = 0; j < g->n_tensors && !r->bad; j++)
            get_tensor(r, &g->tensors[j]);
        g->n_nodes = get_count(r, SIM_NAME + 20);
        g->nodes = calloc(g->n_nodes + 1, sizeof *g->nodes);
        if (!g->nodes)
            return 0;
        for (uint32_t j = 0; j < g->n_nodes && !r->bad; j++) {
            SimNode *n = &g->nodes[j];
            get(r, n->name, SIM_NAME);
            n->name[SIM_NAME - 1] = '\0';
            n->in0 = get32(r);
            n->in1 = get32(r);
            n->out = get32(r);
            n->t0 = (uint8_t)get32(r);
            n->t1 = (uint8_t)get32(r);
            if (!r->bad && check_matmul(g, n) != QNN_SUCCESS)
                r->bad = 1;
        }
    }
    return !r->bad && r->at == r->n;
}

static Qnn_ErrorHandle_t sim_contextCreateFromBinary(Qnn_BackendHandle_t backend,
                                                     Qnn_DeviceHandle_t device,
                                                     const QnnContext_Config_t **config,
                                                     const void *buffer,
                                                     Qnn_ContextBinarySize_t size,
                                                     Qnn_ContextHandle_t *context,
                                                     Qnn_ProfileHandle_t profile)
{
    (void)config;
    (void)profile;
    if (!buffer || !context)
        return QNN_CONTEXT_ERROR_INVALID_ARGUMENT;
    if (!backend_ok(backend, device))
        return QNN_CONTEXT_ERROR_INVALID_HANDLE;
    if (failing("binary"))
        return QNN_CONTEXT_ERROR_CREATE_FROM_BINARY;
    const unsigned char *p = buffer;
    if (size < BIN_HEADER || memcmp(p, BIN_MAGIC, 8) != 0)
        return QNN_CONTEXT_ERROR_CREATE_FROM_BINARY;
    uint32_t format;
    memcpy(&format, p + 8, 4);
    char tag[SIM_NAME] = {0};
    version_tag(tag);
    if (format != 1 || memcmp(p + 12, tag, SIM_NAME) != 0)
        return QNN_CONTEXT_ERROR_BINARY_VERSION;
    uint64_t n, h;
    memcpy(&n, p + 12 + SIM_NAME, 8);
    memcpy(&h, p + 20 + SIM_NAME, 8);
    if (n != size - BIN_HEADER || fnv1a(p + BIN_HEADER, (size_t)n) != h)
        return QNN_CONTEXT_ERROR_CREATE_FROM_BINARY;
    SimContext *c = context_new();
    if (!c)
        return QNN_COMMON_ERROR_MEM_ALLOC;
    c->from_binary = 1;
    Reader r = {p + BIN_HEADER, (size_t)n, 0, 0};
    if (!get_context(&r, c)) {
        context_free(c);
        return QNN_CONTEXT_ERROR_CREATE_FROM_BINARY;
    }
    n_binary_load++;
    write_stats();
    *context = c;
    return QNN_SUCCESS;
}

/* ------------------------------------------------------------ providers */

static QnnInterface_t provider = {
    .backendId = QNN_BACKEND_ID_HTP,
    .providerName = "HTP_QTI_AISW (simulated)",
    .v2 = {
        .backendCreate = sim_backendCreate,
        .backendGetApiVersion = sim_backendGetApiVersion,
        .backendGetBuildId = sim_backendGetBuildId,
        .backendFree = sim_backendFree,
        .deviceCreate = sim_deviceCreate,
        .deviceFree = sim_deviceFree,
        .contextCreate = sim_contextCreate,
        .contextGetBinarySize = sim_contextGetBinarySize,
        .contextGetBinary = sim_contextGetBinary,
        .contextCreateFromBinary = sim_contextCreateFromBinary,
        .contextFree = sim_contextFree,
        .graphCreate = sim_graphCreate,
        .graphAddNode = sim_graphAddNode,
        .graphFinalize = sim_graphFinalize,
        .graphRetrieve = sim_graphRetrieve,
        .graphExecute = sim_graphExecute,
        .tensorCreateContextTensor = sim_tensorCreateContextTensor,
        .tensorCreateGraphTensor = sim_tensorCreateGraphTensor,
    },
};

static const QnnInterface_t *providers[1] = {&provider};

SIM_EXPORT Qnn_ErrorHandle_t QnnInterface_getProviders(const QnnInterface_t ***list,
                                                       uint32_t *n)
{
    if (!list || !n)
        return QNN_COMMON_ERROR_INVALID_ARGUMENT;
    provider.apiVersion = api_version();
    *list = providers;
    *n = 1;
    return QNN_SUCCESS;
}
