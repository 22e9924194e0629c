/*
** rknn_abi.h -- the part of Rockchip's RKNN runtime (librknnrt.so) that the
** shim calls: the matmul API of RKNPU2 2.x, declared here from the facts of
** Rockchip's public documentation (the RKNN runtime API reference and the
** rknn_matmul_api_demo of rknn-toolkit2), not from the vendor's header.
** The shim never links librknnrt.so: it dlopens it and looks the functions
** up by the names below, so these are function pointer types.
**
** Layouts are the runtime's ABI on LP64 (aarch64): the static asserts at the
** end pin the sizes the documentation implies, so that a slip in a field
** here fails the build instead of corrupting a call on a board.
*/
#ifndef RKNN_ABI_H
#define RKNN_ABI_H

#include <stddef.h>
#include <stdint.h>

/* Status codes of every RKNN call (0 success, negative failure). */
#define RKNN_SUCC 0
#define RKNN_ERR_FAIL (-1)
#define RKNN_ERR_TIMEOUT (-2)
#define RKNN_ERR_DEVICE_UNAVAILABLE (-3)
#define RKNN_ERR_MALLOC_FAIL (-4)
#define RKNN_ERR_PARAM_INVALID (-5)
#define RKNN_ERR_MODEL_INVALID (-6)
#define RKNN_ERR_CTX_INVALID (-7)
#define RKNN_ERR_INPUT_INVALID (-8)
#define RKNN_ERR_OUTPUT_INVALID (-9)
#define RKNN_ERR_DEVICE_UNMATCH (-10)

/* A context handle (rknn_context, rknn_matmul_ctx): a 64-bit integer. */
typedef uint64_t rknn_abi_ctx;

/* Element types of a tensor (rknn_tensor_type). */
enum {
    RKNN_ABI_TENSOR_FLOAT32 = 0,
    RKNN_ABI_TENSOR_FLOAT16 = 1,
    RKNN_ABI_TENSOR_INT8 = 2,
    RKNN_ABI_TENSOR_INT16 = 4,
    RKNN_ABI_TENSOR_INT32 = 6,
    RKNN_ABI_TENSOR_INT4 = 10
};

/* Matmul types, A x B -> C (rknn_matmul_type). */
enum {
    RKNN_ABI_F16_MM_F16_TO_F32 = 1,
    RKNN_ABI_I8_MM_I8_TO_I32 = 2,
    RKNN_ABI_I8_MM_I8_TO_I8 = 3,
    RKNN_ABI_F16_MM_F16_TO_F16 = 4,
    RKNN_ABI_F16_MM_I8_TO_F32 = 5,
    RKNN_ABI_F16_MM_I8_TO_F16 = 6,
    RKNN_ABI_F16_MM_I4_TO_F32 = 7,
    RKNN_ABI_F16_MM_I4_TO_F16 = 8,
    RKNN_ABI_I8_MM_I8_TO_F32 = 9,
    RKNN_ABI_I4_MM_I4_TO_I16 = 10,
    RKNN_ABI_I8_MM_I4_TO_I32 = 11
};

/* Layouts (rknn_matmul_layout): B_layout takes all three, AC_layout the
** first two. NORM is row-major A [M][K], B [K][N], C [M][N]; TP_NORM is B
** transposed, [N][K], which is the GGUF order of a weight matrix. */
enum {
    RKNN_ABI_LAYOUT_NORM = 0,
    RKNN_ABI_LAYOUT_NATIVE = 1,
    RKNN_ABI_LAYOUT_TP_NORM = 2
};

/* Quantisation of B (and of A for the all-integer types). Symmetric types
** take scales only; a per-group scale covers group_size consecutive
** elements along K. */
enum {
    RKNN_ABI_QUANT_PER_LAYER_SYM = 0,
    RKNN_ABI_QUANT_PER_LAYER_ASYM = 1,
    RKNN_ABI_QUANT_PER_CHANNEL_SYM = 2,
    RKNN_ABI_QUANT_PER_CHANNEL_ASYM = 3,
    RKNN_ABI_QUANT_PER_GROUP_SYM = 4,
    RKNN_ABI_QUANT_PER_GROUP_ASYM = 5
};

/* rknn_mem_sync modes: CPU writes become visible to the NPU only after
** TO_DEVICE, and NPU results to the CPU only after FROM_DEVICE. */
enum {
    RKNN_ABI_SYNC_TO_DEVICE = 1,
    RKNN_ABI_SYNC_FROM_DEVICE = 2,
    RKNN_ABI_SYNC_BIDIRECTIONAL = 3
};

/* rknn_query command for the runtime's and the driver's versions. */
#define RKNN_ABI_QUERY_SDK_VERSION 5

#define RKNN_ABI_MAX_DIMS 16
#define RKNN_ABI_MAX_NAME 256

/* rknn_matmul_info: what rknn_matmul_create is asked for. Zero it first;
** the reserved bytes must stay zero. */
typedef struct rknn_abi_matmul_info {
    int32_t M, K, N;
    int32_t type;                /* RKNN_ABI_*_MM_* */
    int16_t B_layout;            /* RKNN_ABI_LAYOUT_* */
    int16_t B_quant_type;        /* RKNN_ABI_QUANT_* */
    int16_t AC_layout;
    int16_t AC_quant_type;
    int32_t iommu_domain_id;
    int16_t group_size;          /* elements per scale, PER_GROUP only */
    int8_t reserved[34];
} rknn_abi_matmul_info;

/* rknn_matmul_tensor_attr: one of A, B, C as the runtime wants it. */
typedef struct rknn_abi_tensor_attr {
    char name[RKNN_ABI_MAX_NAME];
    uint32_t n_dims;
    uint32_t dims[RKNN_ABI_MAX_DIMS];
    uint32_t size;               /* bytes */
    int32_t type;                /* RKNN_ABI_TENSOR_* */
} rknn_abi_tensor_attr;

/* rknn_matmul_io_attr: filled by rknn_matmul_create. */
typedef struct rknn_abi_io_attr {
    rknn_abi_tensor_attr A, B, C;
} rknn_abi_io_attr;

/* rknn_tensor_mem: memory the NPU can reach, made by rknn_create_mem.
** virt_addr is the CPU's view of it. */
typedef struct rknn_abi_mem {
    void *virt_addr;
    uint64_t phys_addr;
    int32_t fd;
    int32_t offset;              /* of the tensor within the memory */
    uint32_t size;
    uint32_t flags;
    void *priv_data;
} rknn_abi_mem;

/* rknn_quant_params: scales (and zero points) for the tensor `name`. */
typedef struct rknn_abi_quant_params {
    char name[RKNN_ABI_MAX_NAME];
    float *scale;
    int32_t scale_len;
    int32_t *zp;
    int32_t zp_len;
} rknn_abi_quant_params;

/* rknn_sdk_version: RKNN_ABI_QUERY_SDK_VERSION fills both strings,
** "2.3.0 (c949ad889d@2024-11-07T11:35:33)" and "0.9.8". */
typedef struct rknn_abi_sdk_version {
    char api_version[256];
    char drv_version[256];
} rknn_abi_sdk_version;

/* The functions, by the names the shim looks up. */
typedef int (*rknn_matmul_create_fn)(rknn_abi_ctx *ctx, rknn_abi_matmul_info *info,
                                     rknn_abi_io_attr *io_attr);
typedef int (*rknn_matmul_set_io_mem_fn)(rknn_abi_ctx ctx, rknn_abi_mem *mem,
                                         rknn_abi_tensor_attr *attr);
typedef int (*rknn_matmul_set_quant_params_fn)(rknn_abi_ctx ctx,
                                               rknn_abi_quant_params *params);
typedef int (*rknn_matmul_run_fn)(rknn_abi_ctx ctx);
typedef int (*rknn_matmul_destroy_fn)(rknn_abi_ctx ctx);
typedef rknn_abi_mem *(*rknn_create_mem_fn)(rknn_abi_ctx ctx, uint32_t size);
typedef int (*rknn_destroy_mem_fn)(rknn_abi_ctx ctx, rknn_abi_mem *mem);
typedef int (*rknn_mem_sync_fn)(rknn_abi_ctx ctx, rknn_abi_mem *mem, int mode);
typedef int (*rknn_query_fn)(rknn_abi_ctx ctx, int cmd, void *info, uint32_t size);

/* The layouts as the documentation gives them (LP64). */
_Static_assert(sizeof(rknn_abi_matmul_info) == 64, "rknn_matmul_info is 64 bytes");
_Static_assert(offsetof(rknn_abi_matmul_info, iommu_domain_id) == 24, "iommu_domain_id");
_Static_assert(offsetof(rknn_abi_matmul_info, group_size) == 28, "group_size");
_Static_assert(sizeof(rknn_abi_tensor_attr) == 332, "rknn_matmul_tensor_attr");
_Static_assert(sizeof(rknn_abi_io_attr) == 3 * 332, "rknn_matmul_io_attr");
#if UINTPTR_MAX == UINT64_MAX
_Static_assert(sizeof(rknn_abi_mem) == 40, "rknn_tensor_mem");
_Static_assert(sizeof(rknn_abi_quant_params) == 288, "rknn_quant_params");
#endif

#endif /* RKNN_ABI_H */
