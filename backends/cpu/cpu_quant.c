/*
** cpu_quant.c -- element formats of the scalar reference backend.
**
** One function per dtype turns a block (or an element) into floats exactly as
** GGUF defines it; the layouts and formulas are the comments of slm/graph.h.
** Blocks are copied out with memcpy before they are read: a tensor may start
** at any byte offset, and an 18-byte Q4_0 block is not aligned for its f16.
*/
#include <string.h>

#include "cpu_internal.h"

/* ------------------------------------------------------- plain elements */

float cpu_load(slm_dtype_t dtype, const void *p)
{
    switch (dtype) {
    case SLM_DTYPE_F32: {
        float v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    case SLM_DTYPE_F16: {
        slm_f16_t h;
        memcpy(&h, p, sizeof h);
        return slm_f16_to_f32(h);
    }
    case SLM_DTYPE_BF16: {
        slm_bf16_t h;
        memcpy(&h, p, sizeof h);
        return slm_bf16_to_f32(h);
    }
    default:
        return 0.0f; /* cpu_check_node lets no other dtype get here */
    }
}

void cpu_store(slm_dtype_t dtype, void *p, float v)
{
    switch (dtype) {
    case SLM_DTYPE_F32:
        memcpy(p, &v, sizeof v);
        break;
    case SLM_DTYPE_F16: {
        slm_f16_t h = slm_f32_to_f16(v);
        memcpy(p, &h, sizeof h);
        break;
    }
    case SLM_DTYPE_BF16: {
        slm_bf16_t h = slm_f32_to_bf16(v);
        memcpy(p, &h, sizeof h);
        break;
    }
    default:
        break;
    }
}

/* ---------------------------------------------------------------- Q4_0 */

/* x[j] = d * (q[j] - 8); low nibbles are elements 0..15, high 16..31. */
static void dequantize_q4_0(const slm_block_q4_0 *b, float *y)
{
    float d = slm_f16_to_f32(b->d);
    for (int j = 0; j < SLM_QK4_0 / 2; j++) {
        y[j] = d * (float)((b->qs[j] & 0xF) - 8);
        y[j + SLM_QK4_0 / 2] = d * (float)((b->qs[j] >> 4) - 8);
    }
}

/* ---------------------------------------------------------------- Q8_0 */

/* x[j] = d * q[j]. */
static void dequantize_q8_0(const slm_block_q8_0 *b, float *y)
{
    float d = slm_f16_to_f32(b->d);
    for (int j = 0; j < SLM_QK8_0; j++)
        y[j] = d * (float)b->qs[j];
}

/* ---------------------------------------------------------------- Q4_K */

/* The 6-bit scale and min of sub-block s. The first four sub-blocks own the
** low 6 bits of scales[0..7]; the last four keep their low 4 bits in
** scales[8..11] and borrow the top 2 bits of scales[0..7]. */
static void q4_K_scale_min(const uint8_t *scales, int s, int *sc, int *m)
{
    if (s < 4) {
        *sc = scales[s] & 63;
        *m = scales[s + 4] & 63;
    } else {
        *sc = (scales[s + 4] & 0xF) | ((scales[s - 4] >> 6) << 4);
        *m = (scales[s + 4] >> 4) | ((scales[s] >> 6) << 4);
    }
}

/* x = d * sc * q - dmin * m. The products are exact in float (11 + 6 + 4
** bits), so the only rounding is the final subtraction. */
static void dequantize_q4_K(const slm_block_q4_K *b, float *y)
{
    float d = slm_f16_to_f32(b->d);
    float dmin = slm_f16_to_f32(b->dmin);
    for (int p = 0; p < 4; p++) {
        /* 64 elements share the 32 bytes qs[32p ..]: low nibbles go with
        ** sub-block 2p, high nibbles with sub-block 2p + 1. */
        const uint8_t *qs = b->qs + 32 * p;
        int sc_lo, m_lo, sc_hi, m_hi;
        q4_K_scale_min(b->scales, 2 * p, &sc_lo, &m_lo);
        q4_K_scale_min(b->scales, 2 * p + 1, &sc_hi, &m_hi);
        float d_lo = d * (float)sc_lo, min_lo = dmin * (float)m_lo;
        float d_hi = d * (float)sc_hi, min_hi = dmin * (float)m_hi;
        for (int l = 0; l < 32; l++) {
            y[64 * p + l] = d_lo * (float)(qs[l] & 0xF) - min_lo;
            y[64 * p + 32 + l] = d_hi * (float)(qs[l] >> 4) - min_hi;
        }
    }
}

/* ---------------------------------------------------------------- Q6_K */

/* Each half of 128 elements spreads its 6-bit quants over 64 bytes of ql
** (low 4 bits) and 32 bytes of qh (2 bits each); element e of the half is
** d * scales[e / 16] * (q - 32). */
static void dequantize_q6_K(const slm_block_q6_K *b, float *y)
{
    float d = slm_f16_to_f32(b->d);
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = b->ql + 64 * h;
        const uint8_t *qh = b->qh + 32 * h;
        const int8_t *sc = b->scales + 8 * h;
        float *yh = y + 128 * h;
        for (int l = 0; l < 32; l++) {
            int q0 = (ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4);
            int q1 = (ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4);
            int q2 = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
            int q3 = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
            yh[l] = d * (float)sc[l / 16] * (float)(q0 - 32);
            yh[l + 32] = d * (float)sc[(l + 32) / 16] * (float)(q1 - 32);
            yh[l + 64] = d * (float)sc[(l + 64) / 16] * (float)(q2 - 32);
            yh[l + 96] = d * (float)sc[(l + 96) / 16] * (float)(q3 - 32);
        }
    }
}

/* ----------------------------------------------------------------- rows */

void cpu_dequantize_row(slm_dtype_t dtype, const void *row, size_t nb0,
                        int64_t n, float *out)
{
    const char *p = row;
    switch (dtype) {
    case SLM_DTYPE_F32:
    case SLM_DTYPE_F16:
    case SLM_DTYPE_BF16:
        for (int64_t i = 0; i < n; i++)
            out[i] = cpu_load(dtype, p + (size_t)i * nb0);
        break;
    case SLM_DTYPE_Q4_0:
        for (int64_t i = 0; i < n / SLM_QK4_0; i++) {
            slm_block_q4_0 b;
            memcpy(&b, p + (size_t)i * nb0, sizeof b);
            dequantize_q4_0(&b, out + i * SLM_QK4_0);
        }
        break;
    case SLM_DTYPE_Q8_0:
        for (int64_t i = 0; i < n / SLM_QK8_0; i++) {
            slm_block_q8_0 b;
            memcpy(&b, p + (size_t)i * nb0, sizeof b);
            dequantize_q8_0(&b, out + i * SLM_QK8_0);
        }
        break;
    case SLM_DTYPE_Q4_K:
        for (int64_t i = 0; i < n / SLM_QK_K; i++) {
            slm_block_q4_K b;
            memcpy(&b, p + (size_t)i * nb0, sizeof b);
            dequantize_q4_K(&b, out + i * SLM_QK_K);
        }
        break;
    case SLM_DTYPE_Q6_K:
        for (int64_t i = 0; i < n / SLM_QK_K; i++) {
            slm_block_q6_K b;
            memcpy(&b, p + (size_t)i * nb0, sizeof b);
            dequantize_q6_K(&b, out + i * SLM_QK_K);
        }
        break;
    default: /* I32 and unknown types never reach here (cpu_check_node) */
        memset(out, 0, (size_t)n * sizeof *out);
        break;
    }
}
