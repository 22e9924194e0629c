/*
** slm/graph.h -- the compute-graph ABI.
**
** This header is everything a backend plugin needs to walk a graph: status
** codes, element types with their GGUF block layouts, tensors, ops and their
** exact semantics, nodes and graphs. It has no dependency on the runtime and
** no pointer into runtime internals, so a vendor can build against it alone.
**
** Conventions used throughout:
**   - ne[0] is the innermost (fastest varying) dimension, as in GGUF. A tensor
**     written [a, b, c] has ne = {a, b, c, 1}. Unused dimensions are 1.
**   - nb[i] is the byte distance between consecutive indices of dimension i.
**     For a block-quantised dtype nb[0] is the size of one block and ne[0] is
**     a multiple of the block's element count; a row is never split.
**   - Every op reads its sources and writes its destination; nothing aliases
**     unless the op says so (SET_ROWS and COPY write into a given tensor).
**   - "F32" activations: the ops below take and produce F32 unless stated.
**
** The layouts declared here are frozen for ABI major 1: fields and enum values
** are only ever appended.
*/
#ifndef SLM_GRAPH_H
#define SLM_GRAPH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ status */

/*
** Every fallible call in slm, runtime or plugin, returns an slm_status_t:
** SLM_OK (0) or a negative code. Codes are only ever appended.
** XX(NAME, value, message)
*/
#define SLM_STATUS_MAP(XX)                                                   \
    XX(OK,              0, "success")                                        \
    XX(ERR_INVALID_ARG, -1, "invalid argument")                              \
    XX(ERR_NO_MEMORY,   -2, "out of memory")                                 \
    XX(ERR_IO,          -3, "input/output error")                            \
    XX(ERR_FORMAT,      -4, "malformed file")                                \
    XX(ERR_CONFIG,      -5, "bad configuration")                             \
    XX(ERR_PLUGIN,      -6, "plugin cannot be loaded")                       \
    XX(ERR_ABI,         -7, "plugin ABI mismatch")                           \
    XX(ERR_UNSUPPORTED, -8, "operation not supported")                       \
    XX(ERR_NO_DEVICE,   -9, "no usable device")                              \
    XX(ERR_DEVICE,      -10, "device failure")                               \
    XX(ERR_NOT_FOUND,   -11, "not found")                                    \
    XX(ERR_GRAPH,       -12, "invalid graph")                                \
    XX(ERR_INTERNAL,    -13, "internal error")                               \
    XX(ERR_CONTEXT_FULL, -14, "context window full")                         \
    XX(ERR_CANCELLED,   -15, "cancelled")                                    \
    XX(ERR_DEVICE_LOST, -16, "device lost")

typedef int32_t slm_status_t;

enum {
#define SLM__STATUS_ENUM(name, value, msg) SLM_##name = (value),
    SLM_STATUS_MAP(SLM__STATUS_ENUM)
#undef SLM__STATUS_ENUM
};

/* ------------------------------------------------------------------ dtypes */

/*
** Element types. The values equal GGUF's tensor type ids (ggml_type), so a
** GGUF tensor's type maps to slm_dtype_t without a table. Types slm does not
** implement yet keep their GGUF id reserved.
*/
typedef enum slm_dtype {
    SLM_DTYPE_F32  = 0,
    SLM_DTYPE_F16  = 1,
    SLM_DTYPE_Q4_0 = 2,
    SLM_DTYPE_Q8_0 = 8,
    SLM_DTYPE_Q4_K = 12,
    SLM_DTYPE_Q6_K = 14,
    SLM_DTYPE_I32  = 26,
    SLM_DTYPE_BF16 = 30,
    SLM_DTYPE_COUNT = 40 /* upper bound of GGUF ids; not a type */
} slm_dtype_t;

/* Bit of a dtype in a 64-bit coverage mask (slm_device_info_t.dtypes). */
#define SLM_DTYPE_BIT(t) (UINT64_C(1) << (unsigned)(t))

typedef uint16_t slm_f16_t;  /* IEEE 754 binary16, bit pattern */
typedef uint16_t slm_bf16_t; /* bfloat16, the high half of a binary32 */

/*
** Block-quantised layouts, bit-exact with GGUF. A block holds QK elements;
** the value of element j is given beside each layout.
*/
#define SLM_QK4_0 32
#define SLM_QK8_0 32
#define SLM_QK_K 256
#define SLM_K_SCALE_SIZE 12

/* Q4_0: x[j] = d * ((qs[j % 16] >> (4 * (j / 16)) & 0xF) - 8).
** Low nibbles hold elements 0..15, high nibbles 16..31. */
typedef struct slm_block_q4_0 {
    slm_f16_t d;                 /* scale */
    uint8_t qs[SLM_QK4_0 / 2];   /* 4-bit quants */
} slm_block_q4_0;

/* Q8_0: x[j] = d * qs[j]. */
typedef struct slm_block_q8_0 {
    slm_f16_t d;                 /* scale */
    int8_t qs[SLM_QK8_0];        /* 8-bit quants */
} slm_block_q8_0;

/*
** Q4_K: 8 sub-blocks of 32 elements. Sub-block s has a 6-bit scale sc[s] and
** a 6-bit min m[s] packed in scales[12]:
**   s < 4: sc = scales[s] & 63,  m = scales[s + 4] & 63
**   s >= 4: sc = (scales[s + 4] & 0xF) | ((scales[s - 4] >> 6) << 4)
**           m  = (scales[s + 4] >> 4)  | ((scales[s]     >> 6) << 4)
** Elements 64*p .. 64*p+31 are the low nibbles of qs[32*p .. 32*p+31] with
** sub-block 2p; elements 64*p+32 .. 64*p+63 are their high nibbles with
** sub-block 2p+1. x = d * sc * q - dmin * m.
*/
typedef struct slm_block_q4_K {
    slm_f16_t d;                       /* super-block scale for scales */
    slm_f16_t dmin;                    /* super-block scale for mins */
    uint8_t scales[SLM_K_SCALE_SIZE];  /* 6-bit scales and mins */
    uint8_t qs[SLM_QK_K / 2];          /* 4-bit quants */
} slm_block_q4_K;

/*
** Q6_K: 16 sub-blocks of 16 elements with int8 scales. Each half h (128
** elements) uses ql[64h ..], qh[32h ..], scales[8h ..]; within a half, for
** l in 0..31:
**   q0 = (ql[l]      & 0xF) | (((qh[l] >> 0) & 3) << 4)  -> element l
**   q1 = (ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)  -> element l + 32
**   q2 = (ql[l]      >> 4)  | (((qh[l] >> 4) & 3) << 4)  -> element l + 64
**   q3 = (ql[l + 32] >> 4)  | (((qh[l] >> 6) & 3) << 4)  -> element l + 96
** and element e of the half is d * scales[e / 16] * (q - 32).
*/
typedef struct slm_block_q6_K {
    uint8_t ql[SLM_QK_K / 2];          /* quants, lower 4 bits */
    uint8_t qh[SLM_QK_K / 4];          /* quants, upper 2 bits */
    int8_t scales[SLM_QK_K / 16];      /* scales, 8 bits */
    slm_f16_t d;                       /* super-block scale */
} slm_block_q6_K;

#if defined(__cplusplus)
#define SLM__STATIC_ASSERT(c, m) static_assert(c, m)
#else
#define SLM__STATIC_ASSERT(c, m) _Static_assert(c, m)
#endif
SLM__STATIC_ASSERT(sizeof(slm_block_q4_0) == 18, "Q4_0 block is 18 bytes");
SLM__STATIC_ASSERT(sizeof(slm_block_q8_0) == 34, "Q8_0 block is 34 bytes");
SLM__STATIC_ASSERT(sizeof(slm_block_q4_K) == 144, "Q4_K block is 144 bytes");
SLM__STATIC_ASSERT(sizeof(slm_block_q6_K) == 210, "Q6_K block is 210 bytes");

/* Elements per block (1 for plain types); 0 for an unknown dtype. */
static inline int64_t slm_dtype_block_elems(slm_dtype_t t)
{
    switch (t) {
    case SLM_DTYPE_F32: case SLM_DTYPE_F16: case SLM_DTYPE_BF16:
    case SLM_DTYPE_I32: return 1;
    case SLM_DTYPE_Q4_0: return SLM_QK4_0;
    case SLM_DTYPE_Q8_0: return SLM_QK8_0;
    case SLM_DTYPE_Q4_K: case SLM_DTYPE_Q6_K: return SLM_QK_K;
    default: return 0;
    }
}

/* Bytes per block (per element for plain types); 0 for an unknown dtype. */
static inline size_t slm_dtype_block_bytes(slm_dtype_t t)
{
    switch (t) {
    case SLM_DTYPE_F32: case SLM_DTYPE_I32: return 4;
    case SLM_DTYPE_F16: case SLM_DTYPE_BF16: return 2;
    case SLM_DTYPE_Q4_0: return sizeof(slm_block_q4_0);
    case SLM_DTYPE_Q8_0: return sizeof(slm_block_q8_0);
    case SLM_DTYPE_Q4_K: return sizeof(slm_block_q4_K);
    case SLM_DTYPE_Q6_K: return sizeof(slm_block_q6_K);
    default: return 0;
    }
}

/* Lower-case name ("f32", "q4_K", ...); "?" for an unknown dtype. The
** string is static. */
static inline const char *slm_dtype_name(slm_dtype_t t)
{
    switch (t) {
    case SLM_DTYPE_F32: return "f32";
    case SLM_DTYPE_F16: return "f16";
    case SLM_DTYPE_BF16: return "bf16";
    case SLM_DTYPE_I32: return "i32";
    case SLM_DTYPE_Q4_0: return "q4_0";
    case SLM_DTYPE_Q8_0: return "q8_0";
    case SLM_DTYPE_Q4_K: return "q4_K";
    case SLM_DTYPE_Q6_K: return "q6_K";
    default: return "?";
    }
}

/* Nonzero for the block-quantised dtypes. */
static inline int slm_dtype_is_quantized(slm_dtype_t t)
{
    return slm_dtype_block_elems(t) > 1;
}

/* binary16 <-> binary32, exact in both directions where representable;
** f32 -> f16 rounds to nearest even, overflows to infinity, keeps NaN. */
static inline float slm_f16_to_f32(slm_f16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu;
    uint32_t man = h & 0x3FFu;
    uint32_t bits;
    if (exp == 0x1F) {
        bits = sign | 0x7F800000u | (man << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign;
    } else { /* subnormal: normalise */
        exp = 113;
        while (!(man & 0x400u)) { man <<= 1; exp--; }
        bits = sign | (exp << 23) | ((man & 0x3FFu) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static inline slm_f16_t slm_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t exp = (x >> 23) & 0xFFu;
    uint32_t man = x & 0x7FFFFFu;
    if (exp == 0xFF) /* inf or NaN (quiet, keeps some payload) */
        return (slm_f16_t)(sign | 0x7C00u | (man ? 0x200u | (man >> 13) : 0));
    int32_t e = (int32_t)exp - 127 + 15;
    if (e >= 0x1F)
        return (slm_f16_t)(sign | 0x7C00u);
    if (e <= 0) { /* subnormal or zero in f16 */
        if (e < -10)
            return (slm_f16_t)sign;
        man |= 0x800000u;
        uint32_t shift = (uint32_t)(14 - e);
        uint32_t half = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1u);
        uint32_t mid = 1u << (shift - 1u);
        if (rem > mid || (rem == mid && (half & 1u)))
            half++;
        return (slm_f16_t)(sign | half);
    }
    uint32_t half = ((uint32_t)e << 10) | (man >> 13);
    uint32_t rem = man & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (half & 1u)))
        half++; /* may carry into the exponent, up to infinity: correct */
    return (slm_f16_t)(sign | half);
}

static inline float slm_bf16_to_f32(slm_bf16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Rounds to nearest even; NaN stays NaN. */
static inline slm_bf16_t slm_f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u)
        return (slm_bf16_t)((x >> 16) | 0x40u);
    x += 0x7FFFu + ((x >> 16) & 1u);
    return (slm_bf16_t)(x >> 16);
}

/* ----------------------------------------------------------------- tensors */

#define SLM_MAX_DIMS 4
#define SLM_MAX_SRC 4
#define SLM_MAX_PARAMS 8
#define SLM_MAX_NAME 64

/* Tensor roles (slm_tensor_t.flags). A plugin may use them as hints; e.g. a
** WEIGHT tensor never changes between graph runs. */
enum {
    SLM_TENSOR_INPUT  = 1u << 0, /* written by the application before a run */
    SLM_TENSOR_OUTPUT = 1u << 1, /* read by the application after a run */
    SLM_TENSOR_WEIGHT = 1u << 2, /* constant model data */
    SLM_TENSOR_STATE  = 1u << 3  /* persists across runs and is written in
                                    place (e.g. the KV cache) */
};

/*
** A tensor as a plugin sees it. When the runtime hands a graph to a plugin,
** every tensor of it lives in a buffer that plugin allocated (or wrapped) on
** the device running the graph: `buffer` is that plugin's own handle and
** `offset` the byte offset of element [0,0,0,0] in it. `data` is the host
** address of that element when the buffer is host-addressable, else NULL.
**
** A view shares its source's buffer; `view_src` names the tensor it was made
** from (informational: buffer, offset and strides are already resolved).
** Tensors are owned by the runtime; a plugin must not modify any field.
*/
typedef struct slm_tensor {
    slm_dtype_t dtype;
    uint32_t flags;                  /* SLM_TENSOR_* */
    int64_t ne[SLM_MAX_DIMS];        /* elements per dimension, ne[0] innermost */
    size_t nb[SLM_MAX_DIMS];         /* byte stride per dimension */
    void *buffer;                    /* the running plugin's buffer handle */
    size_t offset;                   /* byte offset within buffer */
    void *data;                      /* host address, or NULL */
    const struct slm_tensor *view_src; /* tensor this one views, or NULL */
    char name[SLM_MAX_NAME];         /* NUL-terminated, may be empty */
} slm_tensor_t;

/* Number of elements. */
static inline int64_t slm_tensor_nelements(const slm_tensor_t *t)
{
    return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}

/* Number of rows (elements over ne[0]). */
static inline int64_t slm_tensor_nrows(const slm_tensor_t *t)
{
    return t->ne[1] * t->ne[2] * t->ne[3];
}

/* Bytes of one contiguous row of ne[0] elements. */
static inline size_t slm_tensor_row_bytes(const slm_tensor_t *t)
{
    int64_t be = slm_dtype_block_elems(t->dtype);
    return be ? (size_t)(t->ne[0] / be) * slm_dtype_block_bytes(t->dtype) : 0;
}

/* Nonzero when the tensor's elements are densely packed in ne order. */
static inline int slm_tensor_is_contiguous(const slm_tensor_t *t)
{
    size_t expect = slm_dtype_block_bytes(t->dtype);
    if (t->nb[0] != expect)
        return 0;
    expect = slm_tensor_row_bytes(t);
    for (int i = 1; i < SLM_MAX_DIMS; i++) {
        if (t->ne[i] > 1 && t->nb[i] != expect)
            return 0;
        expect *= (size_t)t->ne[i];
    }
    return 1;
}

/* ------------------------------------------------------------------- ops */

/*
** The ops. Values are frozen; new ops are appended. Shapes are written
** [ne0, ne1, ne2, ne3]; i[] and f[] are slm_node_t.iparams and .fparams;
** unused params are 0. Broadcasting "b divides a" means a.ne[d] % b.ne[d] == 0
** for every d and b's index is a's index modulo b.ne[d].
**
** GET_ROWS   src0 [E, R, B2, B3] any dtype, src1 I32 ids [n, B2, B3]
**            -> dst F32 [E, n, B2, B3]: dst[:, j, b2, b3] =
**            src0[:, ids[j, b2, b3], b2, b3], dequantised exactly.
** RMS_NORM   src0 F32 -> dst F32 same shape; per row of ne[0]:
**            y = x / sqrt(mean(x^2) + f[0]).  f[0] = eps.
** MUL_MAT    src0 [K, N, A0, B0] any dtype but I32 (the weight), src1 F32
**            [K, M, A, B] with A0 dividing A and B0 dividing B ->
**            dst F32 [N, M, A, B]: dst[n, m, a, b] =
**            dot(src0[:, n, a / (A / A0), b / (B / B0)], src1[:, m, a, b]).
**            (Each group of A / A0 consecutive src1 matrices shares one
**            src0 matrix: grouped-query attention.)
**            dot(w, x) of a weight row w and a src1 row x (K elements) is
**            defined as GGUF runtimes compute it: x is first converted to
**            the weight's activation type, so a quantised weight is never
**            multiplied with exact F32 activations. "float" below is IEEE
**            binary32 with round-to-nearest-even, one rounding per operation
**            (no fused multiply-add where the order is spelled out).
**            F32   sum_k w[k] * x[k], accumulated in float or wider.
**            F16, BF16  each x[k] is first rounded to w's dtype (nearest
**                  even); then sum_k w[k] * x[k]: every product is exact in
**                  float, and the sum is accumulated in float or wider.
**            Q4_0, Q8_0  x is quantised to Q8_0 blocks of 32. For each block
**                  with elements v[0..31]: amax = max |v[j]|; d = amax / 127;
**                  id = d >= FLT_MIN ? 1 / d : 0, both in float and id taken from
**                  d before any f16 rounding; q[j] = roundf(v[j] * id) (the
**                  product in float, ties away from zero); the block keeps
**                  d as an f16 (nearest even), and da is that f16's value.
**                  Then for weight block i with scale dw (its f16 d) and
**                  integer quants qw[j] (Q4_0: nibble - 8; Q8_0: qs[j]):
**                  s_i = sum_j qw[j] * q[j], exact in integers, and
**                  dot = sum over i in order of (float)s_i * (dw * da), all
**                  in float.
**            Q4_K, Q6_K  x is quantised to Q8_K blocks of 256 (float d,
**                  int8 q[256]). For each block: mx = the first element of
**                  largest magnitude; if mx == 0 or -127 / mx overflows,
**                  d = 0 and every q[j] = 0;
**                  else iscale = -127 / mx, q[j] = min(127, rint(iscale *
**                  v[j])) (product in float, ties to even) and d = 1 / iscale
**                  (all float; d < 0 when mx > 0). For super-block i:
**                  Q4_K (sc, m, 4-bit qw as in its layout above):
**                  S = sum_s sc[s] * sum_l qw * q and Mn = sum_s m[s] *
**                  sum_l q, the inner sums over the 32 elements of
**                  sub-block s, both exact integers; then
**                  dot += (d_w * d) * (float)S, dot -= (dmin_w * d) *
**                  (float)Mn, in float, d_w and dmin_w the f16 scales.
**                  Q6_K (scales, 6-bit qw as in its layout above): S =
**                  sum_g scales[g] * sum_l (qw - 32) * q over the 16 groups
**                  of 16, exact; dot += (d_w * d) * (float)S.
**                  dot starts at 0 and super-blocks are taken in order.
**            A Q8_0 or Q8_K block holding an infinity or NaN gets a NaN
**            scale and zero quants instead, so such a dot is NaN.
**            Implementations may sum in another order or width (the blocks'
**            float terms, or lanes of them). The quantised activations are
**            what moves results, so they should follow the rules above bit
**            for bit. (llama.cpp's x86 kernels compute id as 127 / amax and
**            round Q8_0 ties to even; that gives other quants only where
**            v[j] * id lies within an ulp of a half-integer.)
** ADD, MUL, DIV  src0 F32, src1 F32 dividing src0 (broadcast) -> dst F32
**            shape of src0: dst = src0 (+ * /) src1.
** SCALE      src0 F32 -> dst F32: y = x * f[0] + f[1].
** ROPE       src0 F32 [D, H, T, 1] (head dim, heads, tokens), src1 I32
**            positions [T], src2 optional F32 frequency factors [i[0] / 2]
**            -> dst F32 same shape. i[0] = n_dims (even, <= D; dims past it
**            are copied), i[1] = mode (SLM_ROPE_NORMAL rotates pairs
**            (x[2k], x[2k+1]); SLM_ROPE_NEOX rotates (x[k], x[k + n_dims/2])),
**            i[2] = n_ctx_orig (YaRN). f[0] = freq_base, f[1] = freq_scale,
**            f[2] = ext_factor, f[3] = attn_factor, f[4] = beta_fast,
**            f[5] = beta_slow. For pair k (0 <= k < n_dims/2) at position p:
**              te = p * freq_base^(-2k / n_dims) / (src2 ? src2[k] : 1)
**              ti = freq_scale * te
**              if ext_factor == 0: theta = ti, m = attn_factor
**              else: r = yarn_ramp(k) * ext_factor,
**                    theta = ti * (1 - r) + te * r,
**                    m = attn_factor * (1 + 0.1 * ln(1 / freq_scale))
**              (a, b) -> (a cos(theta) m - b sin(theta) m,
**                         a sin(theta) m + b cos(theta) m)
**            where yarn_ramp(k) = 1 - clamp((k - lo) / max(0.001, hi - lo),
**            0, 1), lo = max(0, floor(c(beta_fast))), hi = min(n_dims - 1,
**            ceil(c(beta_slow))), c(beta) = n_dims * ln(n_ctx_orig /
**            (beta * 2 pi)) / (2 ln(freq_base)).
** SOFTMAX    src0 F32 [C, R, H, B] (keys, queries, heads), src1 optional F32
**            mask [C, >= R, 1, 1] added to every head -> dst F32 same shape;
**            per row: z = f[1] > 0 ? f[1] * tanh(x * f[0] / f[1]) : x * f[0];
**            z += mask; if i[0] (causal): key c of query row r is masked
**            (z = -inf) when c > r + i[1], and, if i[2] > 0 (sliding
**            window), also when r + i[1] - c >= i[2]. i[1] is the position of
**            query row 0 relative to key 0. A row whose every key is masked
**            gives all zeros. f[0] = scale, f[1] = soft-cap (0: none).
** SILU, GELU, TANH  src0 F32 -> dst F32 same shape. silu(x) = x/(1+e^-x);
**            gelu(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
** SWIGLU, GEGLU  src0 F32 (gate), src1 F32 (up) same shape -> dst F32:
**            silu(src0) * src1, gelu(src0) * src1.
** COPY       src0 -> dst (given; both F32, F16 or BF16 in any combination,
**            or both the same quantised dtype with equal ne[0]); equal
**            element counts; elements are taken and stored in ne order
**            (row-major with ne[0] fastest), so COPY also makes a strided
**            view contiguous or reshapes. dst may be a view (a KV-cache slot).
** SET_ROWS   dst (given) [E, R, B2, B3] F32/F16/BF16, src0 F32 [E, n, B2, B3],
**            src1 I32 [n, B2, B3]: dst[:, src1[j, b2, b3], b2, b3] =
**            src0[:, j, b2, b3] converted to dst's dtype. Rows not named are
**            untouched. Ids must be in [0, R).
** ARGSORT    src0 F32 [n, ...] -> dst I32 same shape: per row, the indices
**            that sort it; i[0] = SLM_SORT_ASC or SLM_SORT_DESC. Ties keep
**            the lower index first.
** TOP_K      src0 F32 [n, ...] -> dst I32 [i[0], ...]: per row, the indices
**            of the i[0] largest values, largest first, ties lower index
**            first. 1 <= i[0] <= n.
** MUL_MAT_ID src0 [K, N, X] any dtype but I32 (X experts), src1 F32
**            [K, U1, T] with U1 == 1 or U1 == U, src2 I32 ids [U, T] ->
**            dst F32 [N, U, T]: dst[n, u, t] = dot(src0[:, n, ids[u, t]],
**            src1[:, u % U1, t]) with MUL_MAT's dot, activation
**            quantisation included. Ids must be in [0, X).
** SUM_ROWS   src0 F32 -> dst F32 [1, ne1, ne2, ne3]: the sum of each row.
*/
typedef enum slm_op {
    SLM_OP_NONE = 0,
    SLM_OP_GET_ROWS = 1,
    SLM_OP_RMS_NORM = 2,
    SLM_OP_MUL_MAT = 3,
    SLM_OP_ADD = 4,
    SLM_OP_MUL = 5,
    SLM_OP_SCALE = 6,
    SLM_OP_ROPE = 7,
    SLM_OP_SOFTMAX = 8,
    SLM_OP_SILU = 9,
    SLM_OP_GELU = 10,
    SLM_OP_SWIGLU = 11,
    SLM_OP_GEGLU = 12,
    SLM_OP_COPY = 13,
    SLM_OP_SET_ROWS = 14,
    SLM_OP_ARGSORT = 15,
    SLM_OP_TOP_K = 16,
    SLM_OP_MUL_MAT_ID = 17,
    SLM_OP_DIV = 18,
    SLM_OP_TANH = 19,
    SLM_OP_SUM_ROWS = 20,
    SLM_OP_COUNT /* one past the last op; grows with the ABI minor */
} slm_op_t;

/* Bit of an op in a 64-bit coverage mask (slm_device_info_t.ops). */
#define SLM_OP_BIT(op) (UINT64_C(1) << (unsigned)(op))

enum { SLM_ROPE_NORMAL = 0, SLM_ROPE_NEOX = 2 };
enum { SLM_SORT_ASC = 0, SLM_SORT_DESC = 1 };

/* Upper-case op name ("MUL_MAT"); "?" for an unknown op. Static string. */
static inline const char *slm_op_name(slm_op_t op)
{
    static const char *const names[SLM_OP_COUNT] = {
        "NONE", "GET_ROWS", "RMS_NORM", "MUL_MAT", "ADD", "MUL", "SCALE",
        "ROPE", "SOFTMAX", "SILU", "GELU", "SWIGLU", "GEGLU", "COPY",
        "SET_ROWS", "ARGSORT", "TOP_K", "MUL_MAT_ID", "DIV", "TANH",
        "SUM_ROWS",
    };
    return (unsigned)op < SLM_OP_COUNT ? names[op] : "?";
}

/* --------------------------------------------------------- nodes, graphs */

/*
** One op application. Unused src slots are NULL and unused params 0. For
** SET_ROWS and COPY, dst is the given destination (often a view of a STATE
** tensor); for every other op dst is a fresh tensor the node defines.
*/
typedef struct slm_node {
    slm_op_t op;
    uint32_t flags;                     /* reserved, 0 */
    slm_tensor_t *dst;
    slm_tensor_t *src[SLM_MAX_SRC];
    int32_t iparams[SLM_MAX_PARAMS];
    float fparams[SLM_MAX_PARAMS];
} slm_node_t;

/*
** A graph: nodes in execution order. A node may read only tensors that are
** leaves (inputs, weights, state) or the dst of an earlier node. The graph
** and everything it points to are owned by the runtime and stay valid for
** the duration of the call that receives it.
*/
typedef struct slm_graph {
    uint32_t n_nodes;
    slm_node_t *nodes;
} slm_graph_t;

#ifdef __cplusplus
}
#endif

#endif /* SLM_GRAPH_H */
