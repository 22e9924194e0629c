/*
** cpu_quant.c -- element formats of the scalar reference backend.
**
** One function per dtype turns a block (or an element) into floats exactly as
** GGUF defines it; the layouts and formulas are the comments of slm/graph.h.
** Blocks are copied out with memcpy before they are read: a tensor may start
** at any byte offset, and an 18-byte Q4_0 block is not aligned for its f16.
**
** The second half is MUL_MAT's arithmetic (slm/graph.h): activations
** quantised to Q8_0 or Q8_K blocks and integer dot products per block, as
** GGUF runtimes compute them. Its float operations are written one by one in
** the order graph.h gives, since the result depends on where it rounds.
*/
#include <float.h>
#include <math.h>
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

/* ------------------------------------------------ activation quantisers */

/* Nearest integer, ties to even, whatever the FPU's rounding mode; exact for
** the |v| <= 128 (and far beyond) that quantisation produces. */
static int round_half_even(float v)
{
    int i = (int)v;              /* toward zero */
    float frac = v - (float)i;   /* exact: the low bits of v, |v| < 2^23 */
    if (frac > 0.5f || (frac == 0.5f && (i & 1)))
        i++;
    else if (frac < -0.5f || (frac == -0.5f && (i & 1)))
        i--;
    return i;
}

/* True when a block holds an infinity or NaN. Such a block gets a NaN
** scale and zero quants (graph.h): the dot product becomes NaN, as it would
** with F32 activations, and no non-finite float is converted to an int. */
static int has_non_finite(const float *x, int n)
{
    for (int j = 0; j < n; j++)
        if (!isfinite(x[j]))
            return 1;
    return 0;
}

/* Per block of 32: d = amax / 127 stored as f16; q = roundf(x * (1 / d)),
** with 1 / d taken from the float d before its f16 rounding. A d below
** FLT_MIN (an all-zero block, or one so small that its f16 is zero) gets
** zero quants: 1 / d would be inexact or infinite, and the quants of a
** block whose scale is zero do not matter. */
void cpu_quantize_row_q8_0(const float *x, int64_t n, slm_block_q8_0 *out)
{
    for (int64_t b = 0; b < n / SLM_QK8_0; b++) {
        const float *xb = x + b * SLM_QK8_0;
        if (has_non_finite(xb, SLM_QK8_0)) {
            out[b].d = slm_f32_to_f16(NAN);
            memset(out[b].qs, 0, sizeof out[b].qs);
            continue;
        }
        float amax = 0.0f;
        for (int j = 0; j < SLM_QK8_0; j++) {
            float ax = fabsf(xb[j]);
            if (ax > amax)
                amax = ax;
        }
        float d = amax / 127.0f;
        float id = d >= FLT_MIN ? 1.0f / d : 0.0f;
        out[b].d = slm_f32_to_f16(d);
        for (int j = 0; j < SLM_QK8_0; j++)
            out[b].qs[j] = (int8_t)roundf(xb[j] * id);
    }
}

/* Per block of 256: m is the element of largest magnitude (the first one on
** a tie); iscale = -127 / m; q = min(127, nearest-even(iscale * x)); d =
** 1 / iscale. The sign flip makes q of m itself -127 and d negative when m
** is positive. An all-zero block, and one whose iscale overflows (|m| below
** 127 / FLT_MAX), has d = 0 and zero quants. */
void cpu_quantize_row_q8_K(const float *x, int64_t n, cpu_block_q8_K *out)
{
    for (int64_t b = 0; b < n / SLM_QK_K; b++) {
        const float *xb = x + b * SLM_QK_K;
        cpu_block_q8_K *y = &out[b];
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < SLM_QK_K; j++) {
            float ax = fabsf(xb[j]);
            if (ax > amax) {
                amax = ax;
                max = xb[j];
            }
        }
        memset(y, 0, sizeof *y);
        if (has_non_finite(xb, SLM_QK_K)) {
            y->d = NAN;
            continue;
        }
        float iscale = amax != 0.0f ? -127.0f / max : 0.0f;
        if (!isfinite(iscale) || iscale == 0.0f)
            continue;
        for (int j = 0; j < SLM_QK_K; j++) {
            int q = round_half_even(iscale * xb[j]);
            y->qs[j] = (int8_t)(q < 127 ? q : 127);
        }
        for (int g = 0; g < SLM_QK_K / 16; g++) {
            int sum = 0;
            for (int l = 0; l < 16; l++)
                sum += y->qs[16 * g + l];
            y->bsums[g] = (int16_t)sum;
        }
        y->d = 1.0f / iscale;
    }
}

/* ------------------------------------------------------- dot products */

/* Each block gives an exact integer sum of quant products; the float sum
** over blocks adds sumi * (d_w * d_a), in block order. */

static float dot_q4_0_q8_0(const char *w, size_t nb0, const slm_block_q8_0 *a,
                           int64_t nb)
{
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        slm_block_q4_0 b;
        memcpy(&b, w + (size_t)i * nb0, sizeof b);
        int32_t sumi = 0;
        for (int j = 0; j < SLM_QK4_0 / 2; j++) {
            sumi += ((b.qs[j] & 0xF) - 8) * a[i].qs[j];
            sumi += ((b.qs[j] >> 4) - 8) * a[i].qs[j + SLM_QK4_0 / 2];
        }
        float d = slm_f16_to_f32(b.d) * slm_f16_to_f32(a[i].d);
        sum += (float)sumi * d;
    }
    return sum;
}

static float dot_q8_0_q8_0(const char *w, size_t nb0, const slm_block_q8_0 *a,
                           int64_t nb)
{
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        slm_block_q8_0 b;
        memcpy(&b, w + (size_t)i * nb0, sizeof b);
        int32_t sumi = 0;
        for (int j = 0; j < SLM_QK8_0; j++)
            sumi += b.qs[j] * a[i].qs[j];
        float d = slm_f16_to_f32(b.d) * slm_f16_to_f32(a[i].d);
        sum += (float)sumi * d;
    }
    return sum;
}

/* A Q4_K super-block against a Q8_K block is
**   d_w * d_a * sum_s sc[s] * sum_l q_w * q_a
**   - dmin_w * d_a * sum_s m[s] * sum_l q_a
** where the last sum over l is bsums[2s] + bsums[2s + 1]. */
static float dot_q4_K_q8_K(const char *w, size_t nb0, const cpu_block_q8_K *a,
                           int64_t nb)
{
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        slm_block_q4_K b;
        memcpy(&b, w + (size_t)i * nb0, sizeof b);
        const cpu_block_q8_K *y = &a[i];
        int32_t sumi = 0, summ = 0;
        for (int s = 0; s < 8; s++) {
            int sc, m;
            q4_K_scale_min(b.scales, s, &sc, &m);
            /* sub-block s: the low (even s) or high (odd s) nibbles of
            ** qs[32 (s / 2) ..], elements 32 s .. 32 s + 31 */
            const uint8_t *qs = b.qs + 32 * (s / 2);
            int shift = 4 * (s % 2);
            int32_t dot = 0;
            for (int l = 0; l < 32; l++)
                dot += ((qs[l] >> shift) & 0xF) * y->qs[32 * s + l];
            sumi += sc * dot;
            summ += m * (y->bsums[2 * s] + y->bsums[2 * s + 1]);
        }
        float d = slm_f16_to_f32(b.d) * y->d;
        float dmin = slm_f16_to_f32(b.dmin) * y->d;
        sum += d * (float)sumi;
        sum -= dmin * (float)summ;
    }
    return sum;
}

/* A Q6_K super-block against a Q8_K block is
** d_w * d_a * sum_g scales[g] * sum_l (q_w - 32) * q_a over its 16 groups. */
static float dot_q6_K_q8_K(const char *w, size_t nb0, const cpu_block_q8_K *a,
                           int64_t nb)
{
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        slm_block_q6_K b;
        memcpy(&b, w + (size_t)i * nb0, sizeof b);
        const cpu_block_q8_K *y = &a[i];
        int32_t sumi = 0;
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = b.ql + 64 * h;
            const uint8_t *qh = b.qh + 32 * h;
            const int8_t *q8 = y->qs + 128 * h;
            int32_t group[8] = {0}; /* per 16 elements of the half */
            for (int l = 0; l < 32; l++) {
                int q0 = (ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4);
                int q1 = (ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4);
                int q2 = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
                int q3 = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
                group[l / 16] += (q0 - 32) * q8[l];
                group[(l + 32) / 16] += (q1 - 32) * q8[l + 32];
                group[(l + 64) / 16] += (q2 - 32) * q8[l + 64];
                group[(l + 96) / 16] += (q3 - 32) * q8[l + 96];
            }
            for (int g = 0; g < 8; g++)
                sumi += b.scales[8 * h + g] * group[g];
        }
        float d = slm_f16_to_f32(b.d) * y->d;
        sum += d * (float)sumi;
    }
    return sum;
}

/* ------------------------------------------------- MUL_MAT row helpers */

size_t cpu_act_row_bytes(slm_dtype_t wtype, int64_t n)
{
    switch (wtype) {
    case SLM_DTYPE_Q4_0:
    case SLM_DTYPE_Q8_0:
        return (size_t)(n / SLM_QK8_0) * sizeof(slm_block_q8_0);
    case SLM_DTYPE_Q4_K:
    case SLM_DTYPE_Q6_K:
        return (size_t)(n / SLM_QK_K) * sizeof(cpu_block_q8_K);
    default:
        return (size_t)n * sizeof(float);
    }
}

void cpu_prepare_act_row(slm_dtype_t wtype, const float *x, int64_t n,
                         void *act)
{
    float *f = act;
    switch (wtype) {
    case SLM_DTYPE_Q4_0:
    case SLM_DTYPE_Q8_0:
        cpu_quantize_row_q8_0(x, n, act);
        break;
    case SLM_DTYPE_Q4_K:
    case SLM_DTYPE_Q6_K:
        cpu_quantize_row_q8_K(x, n, act);
        break;
    case SLM_DTYPE_F16:
        for (int64_t i = 0; i < n; i++)
            f[i] = slm_f16_to_f32(slm_f32_to_f16(x[i]));
        break;
    case SLM_DTYPE_BF16:
        for (int64_t i = 0; i < n; i++)
            f[i] = slm_bf16_to_f32(slm_f32_to_bf16(x[i]));
        break;
    default:
        memcpy(f, x, (size_t)n * sizeof *f);
        break;
    }
}

/* F32, F16 and BF16 weights: products and their sum in double. For F16 and
** BF16 each product is exact even in float, so only the summation rounds. */
double cpu_dot_row(slm_dtype_t wtype, const void *w_row, size_t nb0,
                   const void *act, int64_t n)
{
    const char *w = w_row;
    switch (wtype) {
    case SLM_DTYPE_Q4_0:
        return dot_q4_0_q8_0(w, nb0, act, n / SLM_QK4_0);
    case SLM_DTYPE_Q8_0:
        return dot_q8_0_q8_0(w, nb0, act, n / SLM_QK8_0);
    case SLM_DTYPE_Q4_K:
        return dot_q4_K_q8_K(w, nb0, act, n / SLM_QK_K);
    case SLM_DTYPE_Q6_K:
        return dot_q6_K_q8_K(w, nb0, act, n / SLM_QK_K);
    default: {
        const float *a = act;
        double sum = 0.0;
        for (int64_t i = 0; i < n; i++)
            sum += (double)cpu_load(wtype, w + (size_t)i * nb0) * (double)a[i];
        return sum;
    }
    }
}
