/*
** test_sim_qnn.c -- the simulated QNN HTP runtime keeps the rules it claims
** (sim_qnn_htp.c): float graphs refused without the FLOAT16 precision,
** inputs and weights rounded to float16 and summed in float32, execute only
** after a counted finalize, shapes, types and limits checked, context
** binaries that round-trip bit for bit and are refused when damaged or from
** another version, and the fault injections. Linked with the simulation
** directly; prints each failed check and exits 1.
*/
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qnn_api.h"

/* The simulation's exports: the client symbol and the test-only counters. */
Qnn_ErrorHandle_t QnnInterface_getProviders(const QnnInterface_t ***list, uint32_t *n);
void sim_qnn_stats(unsigned long out[4]);

static int failures;

#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, #cond);      \
            fprintf(stderr, __VA_ARGS__);                                   \
            fputc('\n', stderr);                                            \
            failures++;                                                     \
        }                                                                   \
    } while (0)

#define CODE(e) ((unsigned)QNN_GET_ERROR_CODE(e))

static const QnnInterfaceImpl_t *api;

static Qnn_Tensor_t desc(const char *name, Qnn_TensorType_t type, Qnn_DataType_t dt,
                         uint32_t *dims, void *data, uint32_t bytes)
{
    Qnn_Tensor_t t;
    memset(&t, 0, sizeof t);
    t.version = QNN_TENSOR_VERSION_1;
    t.v1.name = name;
    t.v1.type = type;
    t.v1.dataFormat = QNN_TENSOR_DATA_FORMAT_FLAT_BUFFER;
    t.v1.dataType = dt;
    t.v1.rank = 2;
    t.v1.dimensions = dims;
    t.v1.memType = QNN_TENSORMEMTYPE_RAW;
    t.v1.clientBuf.data = data;
    t.v1.clientBuf.dataSize = bytes;
    return t;
}

static Qnn_OpConfig_t matmul(Qnn_Tensor_t *ins, Qnn_Tensor_t *out, Qnn_Param_t *param)
{
    Qnn_OpConfig_t op;
    memset(&op, 0, sizeof op);
    op.version = QNN_OPCONFIG_VERSION_1;
    op.v1.name = "mm";
    op.v1.packageName = QNN_OP_PACKAGE_NAME_QTI_AISW;
    op.v1.typeName = QNN_OP_MAT_MUL;
    op.v1.numOfParams = param ? 1 : 0;
    op.v1.params = param;
    op.v1.numOfInputs = 2;
    op.v1.inputTensors = ins;
    op.v1.numOfOutputs = 1;
    op.v1.outputTensors = out;
    return op;
}

static unsigned long stat_of(int i)
{
    unsigned long s[4];
    sim_qnn_stats(s);
    return s[i];
}

int main(void)
{
    const QnnInterface_t **list = NULL;
    uint32_t n = 0;
    unsetenv("SIM_QNN_FAIL");
    unsetenv("SIM_QNN_VERSION");
    CHECK(QnnInterface_getProviders(&list, &n) == QNN_SUCCESS && n == 1, "providers");
    const QnnInterface_t *p = list[0];
    CHECK(p->apiVersion.coreApiVersion.major == 2 && p->apiVersion.coreApiVersion.minor == 20 &&
          p->apiVersion.backendApiVersion.major == 5, "default version");
    api = &p->v2;

    /* an incompatible version is reported as such */
    setenv("SIM_QNN_VERSION", "3.0.0", 1);
    CHECK(QnnInterface_getProviders(&list, &n) == QNN_SUCCESS &&
          list[0]->apiVersion.coreApiVersion.major == 3, "SIM_QNN_VERSION");
    unsetenv("SIM_QNN_VERSION");
    QnnInterface_getProviders(&list, &n);

    /* faults at creation */
    Qnn_BackendHandle_t be = NULL;
    Qnn_DeviceHandle_t dev = NULL;
    setenv("SIM_QNN_FAIL", "backend", 1);
    CHECK(CODE(api->backendCreate(NULL, NULL, &be)) == QNN_BACKEND_ERROR_CANNOT_INITIALIZE,
          "backend fault");
    setenv("SIM_QNN_FAIL", "context,create", 1);
    CHECK(CODE(api->deviceCreate(NULL, NULL, &dev)) == QNN_DEVICE_ERROR_HARDWARE_UNAVAILABLE,
          "device fault");
    unsetenv("SIM_QNN_FAIL");
    CHECK(api->backendCreate(NULL, NULL, &be) == QNN_SUCCESS, "backendCreate");
    CHECK(api->deviceCreate(NULL, NULL, &dev) == QNN_SUCCESS, "deviceCreate");
    Qnn_ContextHandle_t ctx = NULL;
    CHECK(api->contextCreate(be, dev, NULL, &ctx) == QNN_SUCCESS, "contextCreate");

    /* W [N=3, K=4] F32, x [M=2, K=4] F32: y = x W^T */
    float w[12] = {1.0f + 0x1p-12f, 1, 1, 1,  /* 1 + 2^-12 rounds to 1 in f16 */
                   0.1f, 0.2f, 0.3f, 0.4f,
                   1, 1, 1, 1};
    float x[8] = {2048, 1, 1, 1,              /* 2051: f16 sums would give 2048 */
                  1.0f + 0x1p-11f, 0.5f, -0.25f, 3.0f};
    float y[6] = {0}, y2[6] = {0};
    uint32_t wd[2] = {3, 4}, xd[2] = {2, 4}, yd[2] = {2, 3};
    Qnn_Tensor_t wt = desc("w", QNN_TENSOR_TYPE_STATIC, QNN_DATATYPE_FLOAT_32, wd, w, sizeof w);
    CHECK(api->tensorCreateContextTensor(ctx, &wt) == QNN_SUCCESS && wt.v1.id, "context tensor");

    /* a float graph without the FLOAT16 precision: refused at addNode */
    Qnn_GraphHandle_t g32 = NULL;
    CHECK(api->graphCreate(ctx, "fp32", NULL, &g32) == QNN_SUCCESS, "graphCreate fp32");
    Qnn_Tensor_t xt32 = desc("x32", QNN_TENSOR_TYPE_APP_WRITE, QNN_DATATYPE_FLOAT_32, xd, NULL, 0);
    Qnn_Tensor_t yt32 = desc("y32", QNN_TENSOR_TYPE_APP_READ, QNN_DATATYPE_FLOAT_32, yd, NULL, 0);
    api->tensorCreateGraphTensor(g32, &xt32);
    api->tensorCreateGraphTensor(g32, &yt32);
    Qnn_Param_t t1 = {.paramType = QNN_PARAMTYPE_SCALAR, .name = "transpose_in1",
                      .scalarParam = {.dataType = QNN_DATATYPE_BOOL_8, .bool8Value = 1}};
    Qnn_Tensor_t ins32[2] = {xt32, wt};
    CHECK(CODE(api->graphAddNode(g32, matmul(ins32, &yt32, &t1))) ==
          QNN_GRAPH_ERROR_INVALID_OP_CONFIG, "fp32 MatMul refused");

    /* the FLOAT16 graph */
    QnnHtpGraph_CustomConfig_t prec = {.option = QNN_HTP_GRAPH_CONFIG_OPTION_PRECISION,
                                       .precision = QNN_PRECISION_FLOAT16};
    QnnGraph_Config_t gc = {.option = QNN_GRAPH_CONFIG_OPTION_CUSTOM, .customConfig = &prec};
    const QnnGraph_Config_t *cfg[] = {&gc, NULL};
    Qnn_GraphHandle_t g = NULL;
    CHECK(api->graphCreate(ctx, "fp16", cfg, &g) == QNN_SUCCESS, "graphCreate fp16");
    CHECK(CODE(api->graphCreate(ctx, "fp16", cfg, &g32)) == QNN_GRAPH_ERROR_INVALID_NAME,
          "graph name taken");
    Qnn_Tensor_t xt = desc("x", QNN_TENSOR_TYPE_APP_WRITE, QNN_DATATYPE_FLOAT_32, xd, NULL, 0);
    Qnn_Tensor_t yt = desc("y", QNN_TENSOR_TYPE_APP_READ, QNN_DATATYPE_FLOAT_32, yd, NULL, 0);
    CHECK(api->tensorCreateGraphTensor(g, &xt) == QNN_SUCCESS, "x");
    CHECK(api->tensorCreateGraphTensor(g, &yt) == QNN_SUCCESS, "y");
    CHECK(CODE(api->tensorCreateGraphTensor(g, &yt)) == QNN_TENSOR_ERROR_ALREADY_EXISTS,
          "tensor name taken");
    /* limits and types */
    uint32_t big[2] = {2, 65537};
    Qnn_Tensor_t bad = desc("big", QNN_TENSOR_TYPE_APP_WRITE, QNN_DATATYPE_FLOAT_32, big, NULL, 0);
    CHECK(CODE(api->tensorCreateGraphTensor(g, &bad)) == QNN_TENSOR_ERROR_UNSUPPORTED_TENSOR_PARAM,
          "dimension limit");
    bad = desc("u8", QNN_TENSOR_TYPE_APP_WRITE, QNN_DATATYPE_UFIXED_POINT_8, xd, NULL, 0);
    CHECK(CODE(api->tensorCreateGraphTensor(g, &bad)) == QNN_TENSOR_ERROR_UNSUPPORTED_TENSOR_PARAM,
          "fixed point not simulated");
    /* shapes: without transpose_in1, [2,4] x [3,4] does not agree */
    Qnn_Tensor_t ins[2] = {xt, wt};
    CHECK(CODE(api->graphAddNode(g, matmul(ins, &yt, NULL))) == QNN_GRAPH_ERROR_INVALID_OP_CONFIG,
          "shape mismatch refused");
    Qnn_OpConfig_t other = matmul(ins, &yt, &t1);
    other.v1.typeName = "Conv2d";
    CHECK(CODE(api->graphAddNode(g, other)) == QNN_GRAPH_ERROR_INVALID_OP_CONFIG, "other op");
    CHECK(api->graphAddNode(g, matmul(ins, &yt, &t1)) == QNN_SUCCESS, "addNode");

    Qnn_Tensor_t xin = desc("x", QNN_TENSOR_TYPE_APP_WRITE, QNN_DATATYPE_FLOAT_32, xd, x, sizeof x);
    Qnn_Tensor_t yout = desc("y", QNN_TENSOR_TYPE_APP_READ, QNN_DATATYPE_FLOAT_32, yd, y, sizeof y);
    xin.v1.id = xt.v1.id;
    yout.v1.id = yt.v1.id;
    CHECK(CODE(api->graphExecute(g, &xin, 1, &yout, 1, NULL, NULL)) ==
          QNN_GRAPH_ERROR_GRAPH_NOT_FINALIZED, "execute before finalize");
    Qnn_ContextBinarySize_t size = 0, written = 0;
    CHECK(CODE(api->contextGetBinarySize(ctx, &size)) == QNN_CONTEXT_ERROR_NOT_FINALIZED,
          "binary before finalize");
    api->contextFree(ctx, NULL); /* the fp32 graph cannot be finalized: start again */

    CHECK(api->contextCreate(be, dev, NULL, &ctx) == QNN_SUCCESS, "contextCreate 2");
    wt = desc("w", QNN_TENSOR_TYPE_STATIC, QNN_DATATYPE_FLOAT_32, wd, w, sizeof w);
    api->tensorCreateContextTensor(ctx, &wt);
    api->graphCreate(ctx, "fp16", cfg, &g);
    xt = desc("x", QNN_TENSOR_TYPE_APP_WRITE, QNN_DATATYPE_FLOAT_32, xd, NULL, 0);
    yt = desc("y", QNN_TENSOR_TYPE_APP_READ, QNN_DATATYPE_FLOAT_32, yd, NULL, 0);
    api->tensorCreateGraphTensor(g, &xt);
    api->tensorCreateGraphTensor(g, &yt);
    ins[0] = xt;
    ins[1] = wt;
    CHECK(api->graphAddNode(g, matmul(ins, &yt, &t1)) == QNN_SUCCESS, "addNode 2");
    unsigned long fin = stat_of(0);
    setenv("SIM_QNN_FAIL", "finalize", 1);
    CHECK(CODE(api->graphFinalize(g, NULL, NULL)) == QNN_GRAPH_ERROR_FINALIZE_FAILED,
          "finalize fault");
    unsetenv("SIM_QNN_FAIL");
    CHECK(api->graphFinalize(g, NULL, NULL) == QNN_SUCCESS, "finalize");
    CHECK(stat_of(0) == fin + 1, "finalize counted once: %lu -> %lu", fin, stat_of(0));
    CHECK(CODE(api->graphAddNode(g, matmul(ins, &yt, &t1))) == QNN_GRAPH_ERROR_GRAPH_FINALIZED,
          "no nodes after finalize");

    xin.v1.id = xt.v1.id;
    yout.v1.id = yt.v1.id;
    CHECK(api->graphExecute(g, &xin, 1, &yout, 1, NULL, NULL) == QNN_SUCCESS, "execute");
    /* f16 inputs, f32 sums, in order of k */
    for (int m = 0; m < 2; m++)
        for (int j = 0; j < 3; j++) {
            float acc = 0.0f;
            for (int k = 0; k < 4; k++) {
                float a = x[m * 4 + k], b = w[j * 4 + k];
                _Float16 ha = (_Float16)a, hb = (_Float16)b;
                acc += (float)ha * (float)hb;
            }
            CHECK(y[m * 3 + j] == acc, "y[%d][%d] = %.9g, want %.9g", m, j, y[m * 3 + j], acc);
        }
    CHECK(y[0] == 2051.0f, "row 0 of w: 1 + 2^-12 is 1 in f16, and the sum 2051 is f32: %.9g",
          y[0]);
    CHECK(y[3 + 2] == (float)(_Float16)(1.0f + 0x1p-11f) + 0.5f - 0.25f + 3.0f,
          "x rounded to f16: %.9g", y[5]);

    /* execute checks the client's tensors */
    Qnn_Tensor_t short_in = xin;
    short_in.v1.clientBuf.dataSize -= 4;
    CHECK(CODE(api->graphExecute(g, &short_in, 1, &yout, 1, NULL, NULL)) ==
          QNN_GRAPH_ERROR_INVALID_TENSOR, "short buffer");
    Qnn_Tensor_t wrong = xin;
    wrong.v1.id = yt.v1.id;
    CHECK(CODE(api->graphExecute(g, &wrong, 1, &yout, 1, NULL, NULL)) ==
          QNN_GRAPH_ERROR_INVALID_TENSOR, "wrong id");
    CHECK(CODE(api->graphExecute(g, &xin, 1, NULL, 0, NULL, NULL)) ==
          QNN_GRAPH_ERROR_INVALID_TENSOR, "output missing");
    setenv("SIM_QNN_FAIL", "execute", 1);
    CHECK(CODE(api->graphExecute(g, &xin, 1, &yout, 1, NULL, NULL)) ==
          QNN_COMMON_ERROR_SYSTEM_COMMUNICATION, "execute fault");
    unsetenv("SIM_QNN_FAIL");

    /* the context binary round-trips, with no finalize */
    CHECK(api->contextGetBinarySize(ctx, &size) == QNN_SUCCESS && size > 0, "binary size");
    unsigned char *bin = malloc((size_t)size);
    CHECK(api->contextGetBinary(ctx, bin, size, &written) == QNN_SUCCESS && written == size,
          "getBinary");
    fin = stat_of(0);
    unsigned long loads = stat_of(1);
    Qnn_ContextHandle_t ctx2 = NULL;
    CHECK(api->contextCreateFromBinary(be, dev, NULL, bin, written, &ctx2, NULL) == QNN_SUCCESS,
          "createFromBinary");
    CHECK(stat_of(0) == fin && stat_of(1) == loads + 1, "a load, no finalize");
    Qnn_GraphHandle_t g2 = NULL;
    CHECK(api->graphRetrieve(ctx2, "fp16", &g2) == QNN_SUCCESS, "graphRetrieve");
    CHECK(CODE(api->graphRetrieve(ctx2, "nope", &g32)) == QNN_GRAPH_ERROR_GRAPH_DOES_NOT_EXIST,
          "no such graph");
    Qnn_GraphHandle_t g3 = NULL;
    CHECK(CODE(api->graphCreate(ctx2, "more", cfg, &g3)) == QNN_COMMON_ERROR_OPERATION_NOT_PERMITTED,
          "no composing in a deserialized context");
    yout.v1.clientBuf.data = y2;
    CHECK(api->graphExecute(g2, &xin, 1, &yout, 1, NULL, NULL) == QNN_SUCCESS, "execute 2");
    CHECK(memcmp(y, y2, sizeof y) == 0, "the same results from the binary");
    api->contextFree(ctx2, NULL);

    /* damaged, or from another runtime version: refused */
    bin[written - 3] ^= 0x40;
    CHECK(CODE(api->contextCreateFromBinary(be, dev, NULL, bin, written, &ctx2, NULL)) ==
          QNN_CONTEXT_ERROR_CREATE_FROM_BINARY, "damaged binary");
    bin[written - 3] ^= 0x40;
    CHECK(CODE(api->contextCreateFromBinary(be, dev, NULL, bin, written - 1, &ctx2, NULL)) ==
          QNN_CONTEXT_ERROR_CREATE_FROM_BINARY, "truncated binary");
    setenv("SIM_QNN_VERSION", "2.21.0", 1);
    CHECK(CODE(api->contextCreateFromBinary(be, dev, NULL, bin, written, &ctx2, NULL)) ==
          QNN_CONTEXT_ERROR_BINARY_VERSION, "binary of another version");
    unsetenv("SIM_QNN_VERSION");
    setenv("SIM_QNN_FAIL", "binary", 1);
    CHECK(CODE(api->contextCreateFromBinary(be, dev, NULL, bin, written, &ctx2, NULL)) ==
          QNN_CONTEXT_ERROR_CREATE_FROM_BINARY, "binary fault");
    unsetenv("SIM_QNN_FAIL");
    CHECK(api->contextCreateFromBinary(be, dev, NULL, bin, written, &ctx2, NULL) == QNN_SUCCESS,
          "createFromBinary again");
    api->contextFree(ctx2, NULL);
    free(bin);

    /* the counters file */
    const char *stats = "test_sim_qnn.stats";
    setenv("SIM_QNN_STATS", stats, 1);
    api->contextFree(ctx, NULL);
    CHECK(api->deviceFree(dev) == QNN_SUCCESS, "deviceFree");
    CHECK(api->backendFree(be) == QNN_SUCCESS, "backendFree");
    FILE *f = fopen(stats, "r");
    unsigned long v = 0;
    CHECK(f && fscanf(f, "finalize %lu", &v) == 1 && v == stat_of(0), "stats file: %lu", v);
    if (f)
        fclose(f);
    remove(stats);

    if (failures)
        fprintf(stderr, "test_sim_qnn: %d check(s) failed\n", failures);
    else
        printf("test_sim_qnn: all checks passed\n");
    return failures ? 1 : 0;
}
