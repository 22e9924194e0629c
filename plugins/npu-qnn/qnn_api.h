/*
** qnn_api.h -- the part of Qualcomm's QNN API (AI Engine Direct) that the
** npu-qnn shim calls, declared from the public documentation.
**
** Not the SDK's headers and not copied from them: every name, type and
** constant here is written from the documented facts (the QnnInterface,
** QnnBackend, QnnDevice, QnnContext, QnnGraph, QnnTensor and QnnTypes pages
** and the HTP backend page). It is a simplified, faithful subset:
**   - QnnInterface_t keeps the documented shape (backend id, provider name,
**     apiVersion {coreApiVersion, backendApiVersion}, a union of versioned
**     function tables), but the table lists only the functions used here,
**     in the order of this file, not the SDK's full table;
**   - Qnn_Tensor_t, Qnn_OpConfig_t and Qnn_Param_t are versioned unions
**     with only their v1 member, with the documented v1 fields;
**   - quantisation parameters keep only the scale/offset encoding, which
**     the shim never uses (its tensors are float);
**   - the HTP graph custom config keeps only the precision option.
** Before running on a real device, check this file against the SDK's
** headers (QnnInterface.h, QnnTypes.h, HTP/QnnHtpGraph.h): the layouts of
** the function table and of the unions are the port's one unchecked step.
** tests/sim/qnn builds its simulated libQnnHtp.so against this same file.
*/
#ifndef QNN_API_H
#define QNN_API_H

#include <stdint.h>

/* ------------------------------------------------------------- errors */

/* Every call returns one; the code is its low 16 bits (QNN_GET_ERROR_CODE). */
typedef uint64_t Qnn_ErrorHandle_t;
#define QNN_GET_ERROR_CODE(e) ((e) & 0xFFFFu)

#define QNN_SUCCESS 0
/* QnnCommon: 1000 + n */
#define QNN_COMMON_ERROR_NOT_SUPPORTED 1000
#define QNN_COMMON_ERROR_GENERAL 1001
#define QNN_COMMON_ERROR_MEM_ALLOC 1002
#define QNN_COMMON_ERROR_SYSTEM 1003
#define QNN_COMMON_ERROR_INVALID_ARGUMENT 1004
#define QNN_COMMON_ERROR_OPERATION_NOT_PERMITTED 1005
#define QNN_COMMON_ERROR_PLATFORM_NOT_SUPPORTED 1006
#define QNN_COMMON_ERROR_SYSTEM_COMMUNICATION 1007
#define QNN_COMMON_ERROR_INCOMPATIBLE_BINARIES 1008
/* QnnBackend: 4000 + n */
#define QNN_BACKEND_ERROR_INVALID_ARGUMENT 4000
#define QNN_BACKEND_ERROR_CANNOT_INITIALIZE 4002
/* QnnContext: 5000 + n */
#define QNN_CONTEXT_ERROR_INVALID_ARGUMENT 5000
#define QNN_CONTEXT_ERROR_INVALID_HANDLE 5002
#define QNN_CONTEXT_ERROR_NOT_FINALIZED 5003
#define QNN_CONTEXT_ERROR_BINARY_VERSION 5004
#define QNN_CONTEXT_ERROR_CREATE_FROM_BINARY 5005
#define QNN_CONTEXT_ERROR_GET_BINARY_SIZE_FAILED 5006
#define QNN_CONTEXT_ERROR_GET_BINARY_FAILED 5007
/* QnnGraph: 6000 + n */
#define QNN_GRAPH_ERROR_INVALID_ARGUMENT 6000
#define QNN_GRAPH_ERROR_INVALID_HANDLE 6001
#define QNN_GRAPH_ERROR_GRAPH_DOES_NOT_EXIST 6002
#define QNN_GRAPH_ERROR_INVALID_NAME 6003
#define QNN_GRAPH_ERROR_INVALID_TENSOR 6004
#define QNN_GRAPH_ERROR_INVALID_OP_CONFIG 6005
#define QNN_GRAPH_ERROR_CREATE_FAILED 6020
#define QNN_GRAPH_ERROR_OPTIMIZATION_FAILED 6021
#define QNN_GRAPH_ERROR_FINALIZE_FAILED 6022
#define QNN_GRAPH_ERROR_GRAPH_NOT_FINALIZED 6023
#define QNN_GRAPH_ERROR_GRAPH_FINALIZED 6024
/* QnnTensor: 7000 + n */
#define QNN_TENSOR_ERROR_INVALID_HANDLE 7000
#define QNN_TENSOR_ERROR_DOES_NOT_EXIST 7001
#define QNN_TENSOR_ERROR_ALREADY_EXISTS 7002
#define QNN_TENSOR_ERROR_INVALID_TENSOR_PARAM 7003
#define QNN_TENSOR_ERROR_UNSUPPORTED_TENSOR_PARAM 7004
#define QNN_TENSOR_ERROR_NAME_HASH_COLLISION 7006
/* QnnDevice: 14000 + n */
#define QNN_DEVICE_ERROR_INVALID_CONFIG 14001
#define QNN_DEVICE_ERROR_HARDWARE_UNAVAILABLE 14003

/* ------------------------------------------------------------ handles */

typedef void *Qnn_LogHandle_t;
typedef void *Qnn_BackendHandle_t;
typedef void *Qnn_DeviceHandle_t;
typedef void *Qnn_ContextHandle_t;
typedef void *Qnn_GraphHandle_t;
typedef void *Qnn_ProfileHandle_t;
typedef void *Qnn_SignalHandle_t;
typedef void *Qnn_MemHandle_t;
typedef uint64_t Qnn_ContextBinarySize_t;

/* ----------------------------------------------------------- versions */

typedef struct {
    uint32_t major;
    uint32_t minor;
    uint32_t patch;
} Qnn_Version_t;

/* The QNN core API (major 2 for every 2.x SDK) and the backend's own API
** (the HTP backend's is 5.x in the SDKs this shim was written against). */
typedef struct {
    Qnn_Version_t coreApiVersion;
    Qnn_Version_t backendApiVersion;
} Qnn_ApiVersion_t;

/* -------------------------------------------------------------- types */

typedef enum {
    QNN_DATATYPE_INT_8 = 0x0008,
    QNN_DATATYPE_INT_32 = 0x0032,
    QNN_DATATYPE_UINT_8 = 0x0108,
    QNN_DATATYPE_FLOAT_16 = 0x0216,
    QNN_DATATYPE_FLOAT_32 = 0x0232,
    QNN_DATATYPE_SFIXED_POINT_8 = 0x0308,
    QNN_DATATYPE_UFIXED_POINT_8 = 0x0408,
    QNN_DATATYPE_BOOL_8 = 0x0508,
    QNN_DATATYPE_UNDEFINED = 0x7FFFFFFF
} Qnn_DataType_t;

typedef enum {
    QNN_TENSOR_TYPE_APP_WRITE = 0,     /* a graph input the client writes */
    QNN_TENSOR_TYPE_APP_READ = 1,      /* a graph output the client reads */
    QNN_TENSOR_TYPE_APP_READWRITE = 2,
    QNN_TENSOR_TYPE_NATIVE = 3,        /* between nodes, backend-owned */
    QNN_TENSOR_TYPE_STATIC = 4,        /* constant data given at creation */
    QNN_TENSOR_TYPE_NULL = 5,
    QNN_TENSOR_TYPE_UNDEFINED = 0x7FFFFFFF
} Qnn_TensorType_t;

typedef enum {
    QNN_TENSOR_DATA_FORMAT_FLAT_BUFFER = 0
} Qnn_TensorDataFormat_t;

typedef enum {
    QNN_TENSORMEMTYPE_RAW = 0,         /* clientBuf: client memory */
    QNN_TENSORMEMTYPE_MEMHANDLE = 1,   /* registered shared memory */
    QNN_TENSORMEMTYPE_UNDEFINED = 0x7FFFFFFF
} Qnn_TensorMemType_t;

typedef enum {
    QNN_DEFINITION_IMPL_GENERATED = 0,
    QNN_DEFINITION_DEFINED = 1,
    QNN_DEFINITION_UNDEFINED = 0x7FFFFFFF
} Qnn_Definition_t;

typedef enum {
    QNN_QUANTIZATION_ENCODING_SCALE_OFFSET = 0,
    QNN_QUANTIZATION_ENCODING_UNDEFINED = 0x7FFFFFFF
} Qnn_QuantizationEncoding_t;

typedef struct {
    float scale;
    int32_t offset;
} Qnn_ScaleOffset_t;

/* Simplified: only the scale/offset encoding. Float tensors leave both
** enums UNDEFINED. */
typedef struct {
    Qnn_Definition_t encodingDefinition;
    Qnn_QuantizationEncoding_t quantizationEncoding;
    union {
        Qnn_ScaleOffset_t scaleOffsetEncoding;
    };
} Qnn_QuantizeParams_t;

typedef struct {
    void *data;
    uint32_t dataSize;                 /* bytes */
} Qnn_ClientBuffer_t;

typedef struct {
    uint32_t id;                       /* set by tensorCreate*Tensor */
    const char *name;                  /* unique within its graph/context */
    Qnn_TensorType_t type;
    Qnn_TensorDataFormat_t dataFormat;
    Qnn_DataType_t dataType;
    Qnn_QuantizeParams_t quantizeParams;
    uint32_t rank;
    uint32_t *dimensions;              /* [rank], outermost first */
    Qnn_TensorMemType_t memType;
    union {
        Qnn_ClientBuffer_t clientBuf;  /* memType RAW */
        Qnn_MemHandle_t memHandle;     /* memType MEMHANDLE */
    };
} Qnn_TensorV1_t;

typedef enum {
    QNN_TENSOR_VERSION_1 = 1,
    QNN_TENSOR_VERSION_UNDEFINED = 0x7FFFFFFF
} Qnn_TensorVersion_t;

typedef struct {
    Qnn_TensorVersion_t version;
    union {
        Qnn_TensorV1_t v1;
    };
} Qnn_Tensor_t;

typedef struct {
    Qnn_DataType_t dataType;
    union {
        float floatValue;
        int32_t int32Value;
        uint32_t uint32Value;
        uint8_t bool8Value;
    };
} Qnn_Scalar_t;

typedef enum {
    QNN_PARAMTYPE_SCALAR = 0,
    QNN_PARAMTYPE_TENSOR = 1,
    QNN_PARAMTYPE_UNDEFINED = 0xFFFFFFFF
} Qnn_ParamType_t;

typedef struct {
    Qnn_ParamType_t paramType;
    const char *name;
    union {
        Qnn_Scalar_t scalarParam;
        Qnn_Tensor_t tensorParam;
    };
} Qnn_Param_t;

typedef struct {
    const char *name;                  /* unique within the graph */
    const char *packageName;           /* "qti.aisw": the built-in ops */
    const char *typeName;              /* "MatMul" */
    uint32_t numOfParams;
    Qnn_Param_t *params;
    uint32_t numOfInputs;
    Qnn_Tensor_t *inputTensors;        /* by id and name */
    uint32_t numOfOutputs;
    Qnn_Tensor_t *outputTensors;
} Qnn_OpConfigV1_t;

typedef enum {
    QNN_OPCONFIG_VERSION_1 = 1,
    QNN_OPCONFIG_VERSION_UNDEFINED = 0x7FFFFFFF
} Qnn_OpConfigVersion_t;

typedef struct {
    Qnn_OpConfigVersion_t version;
    union {
        Qnn_OpConfigV1_t v1;
    };
} Qnn_OpConfig_t;

#define QNN_OP_PACKAGE_NAME_QTI_AISW "qti.aisw"
/* MatMul: in[0] [.., M, K] (or [.., K, M] with transpose_in0), in[1]
** [.., K, N] (or [.., N, K] with transpose_in1) -> out[0] [.., M, N]. */
#define QNN_OP_MAT_MUL "MatMul"
#define QNN_OP_MAT_MUL_PARAM_TRANSPOSE_IN0 "transpose_in0"
#define QNN_OP_MAT_MUL_PARAM_TRANSPOSE_IN1 "transpose_in1"

/* ------------------------------------------------------------- configs */

/* Backend, device and context configs: the shim passes none (NULL). */
typedef struct QnnBackend_Config QnnBackend_Config_t;
typedef struct QnnDevice_Config QnnDevice_Config_t;
typedef struct QnnContext_Config QnnContext_Config_t;

typedef enum {
    QNN_GRAPH_CONFIG_OPTION_CUSTOM = 0,
    QNN_GRAPH_CONFIG_OPTION_UNDEFINED = 0x7FFFFFFF
} QnnGraph_ConfigOption_t;

typedef void *QnnGraph_CustomConfig_t;

typedef struct {
    QnnGraph_ConfigOption_t option;
    union {
        QnnGraph_CustomConfig_t customConfig;
    };
} QnnGraph_Config_t;

/* The HTP backend's graph custom config (HTP/QnnHtpGraph.h), pointed to by
** customConfig. A float graph on HTP needs the precision option set to
** FLOAT16: float32 tensors are then computed in float16. */
typedef enum {
    QNN_HTP_GRAPH_CONFIG_OPTION_PRECISION = 2,
    QNN_HTP_GRAPH_CONFIG_OPTION_UNKNOWN = 0x7FFFFFFF
} QnnHtpGraph_ConfigOption_t;

typedef enum {
    QNN_PRECISION_FLOAT32 = 0,
    QNN_PRECISION_FLOAT16 = 1,
    QNN_PRECISION_UNDEFINED = 0x7FFFFFFF
} Qnn_Precision_t;

typedef struct {
    QnnHtpGraph_ConfigOption_t option;
    union {
        Qnn_Precision_t precision;
    };
} QnnHtpGraph_CustomConfig_t;

/* ------------------------------------------------------ the interface */

/*
** The functions a provider publishes (QNN_INTERFACE_VER_TYPE), subset.
** Config arrays are NULL-terminated arrays of pointers, or NULL.
*/
typedef struct {
    Qnn_ErrorHandle_t (*backendCreate)(Qnn_LogHandle_t logger,
                                       const QnnBackend_Config_t **config,
                                       Qnn_BackendHandle_t *backend);
    Qnn_ErrorHandle_t (*backendGetApiVersion)(Qnn_ApiVersion_t *version);
    Qnn_ErrorHandle_t (*backendGetBuildId)(const char **id);
    Qnn_ErrorHandle_t (*backendFree)(Qnn_BackendHandle_t backend);

    Qnn_ErrorHandle_t (*deviceCreate)(Qnn_LogHandle_t logger,
                                      const QnnDevice_Config_t **config,
                                      Qnn_DeviceHandle_t *device);
    Qnn_ErrorHandle_t (*deviceFree)(Qnn_DeviceHandle_t device);

    Qnn_ErrorHandle_t (*contextCreate)(Qnn_BackendHandle_t backend, Qnn_DeviceHandle_t device,
                                       const QnnContext_Config_t **config,
                                       Qnn_ContextHandle_t *context);
    Qnn_ErrorHandle_t (*contextGetBinarySize)(Qnn_ContextHandle_t context,
                                              Qnn_ContextBinarySize_t *size);
    Qnn_ErrorHandle_t (*contextGetBinary)(Qnn_ContextHandle_t context, void *buffer,
                                          Qnn_ContextBinarySize_t size,
                                          Qnn_ContextBinarySize_t *written);
    Qnn_ErrorHandle_t (*contextCreateFromBinary)(Qnn_BackendHandle_t backend,
                                                 Qnn_DeviceHandle_t device,
                                                 const QnnContext_Config_t **config,
                                                 const void *buffer,
                                                 Qnn_ContextBinarySize_t size,
                                                 Qnn_ContextHandle_t *context,
                                                 Qnn_ProfileHandle_t profile);
    Qnn_ErrorHandle_t (*contextFree)(Qnn_ContextHandle_t context, Qnn_ProfileHandle_t profile);

    Qnn_ErrorHandle_t (*graphCreate)(Qnn_ContextHandle_t context, const char *name,
                                     const QnnGraph_Config_t **config,
                                     Qnn_GraphHandle_t *graph);
    Qnn_ErrorHandle_t (*graphAddNode)(Qnn_GraphHandle_t graph, Qnn_OpConfig_t op);
    Qnn_ErrorHandle_t (*graphFinalize)(Qnn_GraphHandle_t graph, Qnn_ProfileHandle_t profile,
                                       Qnn_SignalHandle_t signal);
    Qnn_ErrorHandle_t (*graphRetrieve)(Qnn_ContextHandle_t context, const char *name,
                                       Qnn_GraphHandle_t *graph);
    Qnn_ErrorHandle_t (*graphExecute)(Qnn_GraphHandle_t graph, const Qnn_Tensor_t *inputs,
                                      uint32_t n_inputs, Qnn_Tensor_t *outputs,
                                      uint32_t n_outputs, Qnn_ProfileHandle_t profile,
                                      Qnn_SignalHandle_t signal);

    /* Both set tensor->v1.id; STATIC data (clientBuf) is copied. */
    Qnn_ErrorHandle_t (*tensorCreateContextTensor)(Qnn_ContextHandle_t context,
                                                   Qnn_Tensor_t *tensor);
    Qnn_ErrorHandle_t (*tensorCreateGraphTensor)(Qnn_GraphHandle_t graph, Qnn_Tensor_t *tensor);
} QnnInterfaceImpl_t;

typedef struct {
    uint32_t backendId;                /* QNN_BACKEND_ID_HTP for HTP */
    const char *providerName;
    Qnn_ApiVersion_t apiVersion;       /* check before using the table */
    union {
        QnnInterfaceImpl_t v2;         /* valid when coreApiVersion.major == 2 */
    };
} QnnInterface_t;

#define QNN_BACKEND_ID_HTP 6

/* The one symbol a backend library exports for clients: its providers.
** The list is owned by the library and valid until it is unloaded. */
#define QNN_INTERFACE_GET_PROVIDERS "QnnInterface_getProviders"
typedef Qnn_ErrorHandle_t (*QnnInterfaceGetProvidersFn_t)(const QnnInterface_t ***providers,
                                                          uint32_t *n_providers);

#endif /* QNN_API_H */
