/*
** npu_weights.h -- GGUF weights in the forms NPU runtimes take.
**
** NPU matmul runtimes do not read GGUF blocks: they take F16, or int8/int4
** with one float scale per channel or per group of K. The shims convert each
** weight matrix once, the first time a graph uses it, and keep the measured
** conversion error so that they can report it. Built into each shim from
** source (plugins/npu-common), against slm/graph.h alone.
**
** A weight matrix is n rows (output channels) of k elements, the GGUF
** layout: row r starts at byte r * row_stride of the source. Every form
** below keeps that order, [n][k] ("B transposed" in matmul terms).
*/
#ifndef NPU_WEIGHTS_H
#define NPU_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include <slm/graph.h>

typedef enum npu_wformat {
    NPU_W_F16 = 0,   /* IEEE half, round to nearest even: uint16_t [n][k] */
    NPU_W_I8 = 1,    /* int8_t [n][k], value = q * scale of its group */
    NPU_W_I4 = 2     /* two per byte, element 2j in the low nibble of byte j
                        of its row, signed [-8, 7]: uint8_t [n][k / 2] */
} npu_wformat_t;

typedef struct npu_weights {
    npu_wformat_t format;
    int64_t k, n;
    int64_t group;       /* elements per scale along k: k = per channel;
                            0 for F16 */
    void *data;          /* the elements, as format says; owned */
    float *scales;       /* [n][k / group] for I8 and I4, NULL for F16; owned */
    size_t bytes;        /* of data and scales together */
    /* Conversion error against the GGUF values (dequantised in float):
    ** nmse = sum((conv - gguf)^2) / sum(gguf^2) over the matrix (0 when
    ** lossless, e.g. Q8_0 -> I8 in groups of 32 with the block scales), and
    ** the largest absolute difference. */
    double nmse;
    double max_abs;
} npu_weights_t;

/* 1 when npu_dequant_row knows dtype t (F32, F16, BF16, Q4_0, Q8_0, Q4_K,
** Q6_K), else 0. */
int npu_dtype_known(slm_dtype_t t);

/* Dequantise n elements (a whole number of t's blocks) of one GGUF row at
** src into dst, exactly as graph.h defines the values. 0, or -1 for a type
** npu_dtype_known refuses or an n that is not a whole number of blocks. */
int npu_dequant_row(slm_dtype_t t, const void *src, float *dst, int64_t n);

/* IEEE half <-> float, round to nearest even; overflow gives infinity. */
uint16_t npu_f32_to_f16(float f);
float npu_f16_to_f32(uint16_t h);

/*
** Convert a GGUF weight matrix of dtype t into `format` with `group`
** elements per scale (ignored for F16; must divide k; k itself means per
** channel). Symmetric quantisation, scale = max|w| / 127 (I8) or / 7 (I4)
** per group, round to nearest; a GGUF block that the target holds exactly
** (Q8_0 -> I8 and Q4_0 -> I4 with group 32) is copied with its own scale,
** losslessly. Fills *out (caller frees with npu_weights_free). 0 on
** success; -1 with a message in err (naming dtype, shape and format) for a
** type it does not know, a bad group, or no memory.
*/
int npu_weights_convert(const void *src, slm_dtype_t t, int64_t k, int64_t n,
                        size_t row_stride, npu_wformat_t format, int64_t group,
                        npu_weights_t *out, char *err, size_t errlen);

/* Free what npu_weights_convert allocated and zero *w. NULL is a no-op. */
void npu_weights_free(npu_weights_t *w);

/* Replace activation row x (k elements, a whole number of the weight's
** blocks) in place with the values graph.h's MUL_MAT multiplies a weight of
** dtype t with: Q8_0 blocks of 32 (Q4_0, Q8_0 weights) or Q8_K blocks of
** 256 (Q4_K, Q6_K) quantised and dequantised, BF16 rounding for BF16; F32
** and F16 weights leave x alone. A block with a non-finite value becomes
** NaN, as the reference's results are. */
void npu_act_row(slm_dtype_t t, float *x, int64_t k);

/* "f16", "int8/32" (group 32), "int8/ch" (per channel), "int4/32". Static
** or `buf` storage. */
const char *npu_wformat_describe(const npu_weights_t *w, char *buf, size_t len);

#endif /* NPU_WEIGHTS_H */
