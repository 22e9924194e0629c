/*
** npu_weights.c -- GGUF weights in the forms NPU runtimes take (see
** npu_weights.h). Every value is first dequantised exactly as graph.h
** defines it, one row at a time; the target form is built from that row and
** compared with it, so the reported error is the conversion's alone.
*/
#include "npu_weights.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------- conversions */

/* graph.h's own binary16 routines: bit manipulation, nearest even,
** subnormals, infinities and NaN. One definition for the whole project. */
uint16_t npu_f32_to_f16(float f) { return slm_f32_to_f16(f); }
float npu_f16_to_f32(uint16_t h) { return slm_f16_to_f32(h); }

int npu_dtype_known(slm_dtype_t t)
{
    switch (t) {
    case SLM_DTYPE_F32: case SLM_DTYPE_F16: case SLM_DTYPE_BF16:
    case SLM_DTYPE_Q4_0: case SLM_DTYPE_Q8_0:
    case SLM_DTYPE_Q4_K: case SLM_DTYPE_Q6_K:
        return 1;
    default:
        return 0;
    }
}

/* ---------------------------------------------------------- dequantising */

/* Blocks are copied out with memcpy: a GGUF row may sit at any offset of a
** mapped file, and reading a struct through a misaligned pointer is
** undefined. The formulas are graph.h's, evaluated left to right. */

static void dq_q4_0(const uint8_t *src, float *dst, int64_t nb)
{
    for (int64_t b = 0; b < nb; b++) {
        slm_block_q4_0 blk;
        memcpy(&blk, src + (size_t)b * sizeof blk, sizeof blk);
        float d = slm_f16_to_f32(blk.d);
        float *y = dst + b * SLM_QK4_0;
        for (int j = 0; j < SLM_QK4_0 / 2; j++) {
            y[j] = d * (float)((blk.qs[j] & 0xF) - 8);
            y[j + SLM_QK4_0 / 2] = d * (float)((blk.qs[j] >> 4) - 8);
        }
    }
}

static void dq_q8_0(const uint8_t *src, float *dst, int64_t nb)
{
    for (int64_t b = 0; b < nb; b++) {
        slm_block_q8_0 blk;
        memcpy(&blk, src + (size_t)b * sizeof blk, sizeof blk);
        float d = slm_f16_to_f32(blk.d);
        float *y = dst + b * SLM_QK8_0;
        for (int j = 0; j < SLM_QK8_0; j++)
            y[j] = d * (float)blk.qs[j];
    }
}

static void q4_k_scale_min(const uint8_t *s, int j, int *sc, int *m)
{
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

static void dq_q4_k(const uint8_t *src, float *dst, int64_t nb)
{
    for (int64_t b = 0; b < nb; b++) {
        slm_block_q4_K blk;
        memcpy(&blk, src + (size_t)b * sizeof blk, sizeof blk);
        float d = slm_f16_to_f32(blk.d);
        float dmin = slm_f16_to_f32(blk.dmin);
        float *y = dst + b * SLM_QK_K;
        for (int p = 0; p < 4; p++) {
            int sc0, m0, sc1, m1;
            q4_k_scale_min(blk.scales, 2 * p, &sc0, &m0);
            q4_k_scale_min(blk.scales, 2 * p + 1, &sc1, &m1);
            const uint8_t *q = blk.qs + 32 * p;
            for (int l = 0; l < 32; l++) {
                y[64 * p + l] = d * (float)sc0 * (float)(q[l] & 0xF)
                                - dmin * (float)m0;
                y[64 * p + 32 + l] = d * (float)sc1 * (float)(q[l] >> 4)
                                     - dmin * (float)m1;
            }
        }
    }
}

static void dq_q6_k(const uint8_t *src, float *dst, int64_t nb)
{
    for (int64_t b = 0; b < nb; b++) {
        slm_block_q6_K blk;
        memcpy(&blk, src + (size_t)b * sizeof blk, sizeof blk);
        float d = slm_f16_to_f32(blk.d);
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = blk.ql + 64 * h;
            const uint8_t *qh = blk.qh + 32 * h;
            const int8_t *sc = blk.scales + 8 * h;
            float *y = dst + b * SLM_QK_K + 128 * h;
            for (int l = 0; l < 32; l++) {
                int q[4];
                q[0] = (ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4);
                q[1] = (ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4);
                q[2] = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
                q[3] = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
                for (int i = 0; i < 4; i++) {
                    int e = l + 32 * i;
                    y[e] = d * (float)sc[e / 16] * (float)(q[i] - 32);
                }
            }
        }
    }
}

int npu_dequant_row(slm_dtype_t t, const void *src, float *dst, int64_t n)
{
    if (!npu_dtype_known(t) || n < 0)
        return -1;
    int64_t be = slm_dtype_block_elems(t);
    if (n % be)
        return -1;
    const uint8_t *s = src;
    switch (t) {
    case SLM_DTYPE_F32:
        memcpy(dst, s, (size_t)n * sizeof(float));
        break;
    case SLM_DTYPE_F16:
    case SLM_DTYPE_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, s + 2 * (size_t)i, 2);
            dst[i] = t == SLM_DTYPE_F16 ? slm_f16_to_f32(h) : slm_bf16_to_f32(h);
        }
        break;
    case SLM_DTYPE_Q4_0: dq_q4_0(s, dst, n / be); break;
    case SLM_DTYPE_Q8_0: dq_q8_0(s, dst, n / be); break;
    case SLM_DTYPE_Q4_K: dq_q4_k(s, dst, n / be); break;
    case SLM_DTYPE_Q6_K: dq_q6_k(s, dst, n / be); break;
    default: return -1;
    }
    return 0;
}

/* ------------------------------------------------------------- converting */

/* Round to nearest and clamp to [lo, hi] without converting a NaN or an
** out-of-range float to int (undefined): a non-finite weight gives a
** non-finite scale, and the error measure then reports it. */
static int quant_clamp(float v, int lo, int hi)
{
    float r = roundf(v);
    if (!(r >= (float)lo)) /* also NaN */
        return lo;
    if (r > (float)hi)
        return hi;
    return (int)r;
}

/* Accumulated error of a conversion, in double. */
typedef struct ErrAcc {
    double sum_err2, sum_ref2, max_abs;
} ErrAcc;

static void err_add(ErrAcc *a, float ref, float conv)
{
    double e = (double)conv - (double)ref;
    a->sum_err2 += e * e;
    a->sum_ref2 += (double)ref * (double)ref;
    double ae = fabs(e);
    if (ae > a->max_abs || isnan(ae))
        a->max_abs = ae;
}

/* Q8_0 -> I8 or Q4_0 -> I4, group 32: the block's quants and its d. */
static void copy_blocks(const uint8_t *src, slm_dtype_t t, int64_t k,
                        void *qrow, float *srow)
{
    int64_t nb = k / 32;
    for (int64_t b = 0; b < nb; b++) {
        if (t == SLM_DTYPE_Q8_0) {
            slm_block_q8_0 blk;
            memcpy(&blk, src + (size_t)b * sizeof blk, sizeof blk);
            memcpy((int8_t *)qrow + b * 32, blk.qs, 32);
            srow[b] = slm_f16_to_f32(blk.d);
        } else {
            /* GGUF: element j in the low nibble of qs[j] and element j + 16
            ** in its high one, offset by 8. Ours: element 2i low and 2i + 1
            ** high of byte i, signed. */
            slm_block_q4_0 blk;
            memcpy(&blk, src + (size_t)b * sizeof blk, sizeof blk);
            uint8_t *out = (uint8_t *)qrow + b * 16;
            for (int i = 0; i < 16; i++) {
                int e0 = 2 * i, e1 = 2 * i + 1;
                int q0 = e0 < 16 ? (blk.qs[e0] & 0xF) : (blk.qs[e0 - 16] >> 4);
                int q1 = e1 < 16 ? (blk.qs[e1] & 0xF) : (blk.qs[e1 - 16] >> 4);
                /* nibble - 8 in [-8, 7], stored as its 4-bit two's complement */
                out[i] = (uint8_t)(((q0 - 8) & 0xF) | (((q1 - 8) & 0xF) << 4));
            }
            srow[b] = slm_f16_to_f32(blk.d);
        }
    }
}

/* Sign-extend a 4-bit two's complement nibble. */
static int nib_s4(unsigned v) { return (int)(v & 0xF) - ((v & 0x8) ? 16 : 0); }

static void set_err(char *err, size_t errlen, slm_dtype_t t, int64_t k,
                    int64_t n, npu_wformat_t format, int64_t group,
                    const char *why)
{
    static const char *const fmt_name[] = {"f16", "int8", "int4"};
    const char *fn = (unsigned)format < 3 ? fmt_name[format] : "?";
    if (err && errlen)
        snprintf(err, errlen, "npu weights: %s %lldx%lld -> %s (group %lld): %s",
                 slm_dtype_name(t), (long long)k, (long long)n, fn,
                 (long long)group, why);
}

int npu_weights_convert(const void *src, slm_dtype_t t, int64_t k, int64_t n,
                        size_t row_stride, npu_wformat_t format, int64_t group,
                        npu_weights_t *out, char *err, size_t errlen)
{
#define FAIL(why) do { set_err(err, errlen, t, k, n, format, group, why); \
                       goto fail; } while (0)
    float *row = NULL;
    memset(out, 0, sizeof *out);
    if (!npu_dtype_known(t))
        FAIL("unknown weight type");
    if (k <= 0 || n <= 0 || k % slm_dtype_block_elems(t))
        FAIL("bad shape (k must be a positive whole number of blocks)");
    if (row_stride < (size_t)(k / slm_dtype_block_elems(t)) * slm_dtype_block_bytes(t))
        FAIL("row stride shorter than a row");
    if (format != NPU_W_F16 && format != NPU_W_I8 && format != NPU_W_I4)
        FAIL("unknown target format");
    if (format == NPU_W_F16)
        group = 0;
    else if (group <= 0 || k % group)
        FAIL("bad group (must divide k)");
    else if (format == NPU_W_I4 && k % 2)
        FAIL("int4 needs an even k");
    if ((uint64_t)n > SIZE_MAX / 4 / (uint64_t)k)
        FAIL("too large");

    size_t ngroups = group ? (size_t)(k / group) : 0;
    size_t row_bytes = format == NPU_W_F16 ? (size_t)k * 2
                     : format == NPU_W_I8 ? (size_t)k : (size_t)k / 2;
    out->format = format;
    out->k = k;
    out->n = n;
    out->group = group;
    out->data = malloc(row_bytes * (size_t)n);
    out->scales = ngroups ? malloc(ngroups * (size_t)n * sizeof(float)) : NULL;
    row = malloc((size_t)k * sizeof(float));
    if (!out->data || (ngroups && !out->scales) || !row)
        FAIL("out of memory");
    out->bytes = row_bytes * (size_t)n + ngroups * (size_t)n * sizeof(float);

    int lossless = group == 32
        && ((t == SLM_DTYPE_Q8_0 && format == NPU_W_I8)
            || (t == SLM_DTYPE_Q4_0 && format == NPU_W_I4));
    int qmax = format == NPU_W_I8 ? 127 : 7;
    ErrAcc acc = {0, 0, 0};

    for (int64_t r = 0; r < n; r++) {
        const uint8_t *s = (const uint8_t *)src + (size_t)r * row_stride;
        npu_dequant_row(t, s, row, k);
        uint8_t *q = (uint8_t *)out->data + (size_t)r * row_bytes;
        float *sc = out->scales ? out->scales + (size_t)r * ngroups : NULL;

        if (format == NPU_W_F16) {
            for (int64_t i = 0; i < k; i++) {
                uint16_t h = slm_f32_to_f16(row[i]);
                memcpy(q + 2 * (size_t)i, &h, 2);
                err_add(&acc, row[i], slm_f16_to_f32(h));
            }
            continue;
        }
        if (lossless) {
            copy_blocks(s, t, k, q, sc);
        } else {
            for (size_t g = 0; g < ngroups; g++) {
                const float *w = row + g * (size_t)group;
                float amax = 0.0f;
                for (int64_t i = 0; i < group; i++) {
                    float a = fabsf(w[i]);
                    if (a > amax || isnan(a))
                        amax = a;
                }
                float scale = amax / (float)qmax;
                float inv = scale > 0.0f ? 1.0f / scale : 0.0f;
                sc[g] = scale;
                for (int64_t i = 0; i < group; i++) {
                    int64_t e = (int64_t)g * group + i;
                    int v = quant_clamp(w[i] * inv, -qmax - (format == NPU_W_I4), qmax);
                    if (format == NPU_W_I8)
                        ((int8_t *)q)[e] = (int8_t)v;
                    else if (e % 2 == 0)
                        q[e / 2] = (uint8_t)(v & 0xF);
                    else
                        q[e / 2] = (uint8_t)(q[e / 2] | ((v & 0xF) << 4));
                }
            }
        }
        /* Measure what the runtime will see: q * scale of its group. */
        for (int64_t i = 0; i < k; i++) {
            int v = format == NPU_W_I8 ? ((int8_t *)q)[i]
                  : nib_s4(i % 2 ? q[i / 2] >> 4 : q[i / 2]);
            err_add(&acc, row[i], (float)v * sc[i / group]);
        }
    }
    free(row);
    out->max_abs = acc.max_abs;
    if (acc.sum_ref2 > 0)
        out->nmse = acc.sum_err2 / acc.sum_ref2;
    else
        out->nmse = acc.sum_err2 > 0 ? INFINITY : 0.0;
    return 0;
fail:
    free(row);
    npu_weights_free(out);
    return -1;
#undef FAIL
}

void npu_weights_free(npu_weights_t *w)
{
    if (!w)
        return;
    free(w->data);
    free(w->scales);
    memset(w, 0, sizeof *w);
}

const char *npu_wformat_describe(const npu_weights_t *w, char *buf, size_t len)
{
    if (w->format == NPU_W_F16)
        return "f16";
    const char *base = w->format == NPU_W_I8 ? "int8" : "int4";
    if (w->group == w->k)
        snprintf(buf, len, "%s/ch", base);
    else
        snprintf(buf, len, "%s/%lld", base, (long long)w->group);
    return buf;
}

/* ----------------------------------------------------------- activations */

/*
** The NPUs multiply float16, while graph.h defines MUL_MAT with the
** activations first converted to the weight's activation type. Doing that
** conversion on the CPU (O(M K) against the NPU's O(M K N)) and sending the
** dequantised values leaves only the float16 rounding and the order of the
** sum between a shim and the reference; without it a mixture of experts
** turns the difference into other experts chosen.
*/
static bool block_finite(const float *x, int n)
{
    for (int j = 0; j < n; j++)
        if (!isfinite(x[j]))
            return false;
    return true;
}

/* One Q8_0 block, dequantised in place: d = amax / 127 kept as f16, q =
** roundf(x / d) with 1 / d from the float d; a non-finite block is NaN. */
static void act_q8_0(float *x)
{
    if (!block_finite(x, SLM_QK8_0)) {
        for (int j = 0; j < SLM_QK8_0; j++)
            x[j] = NAN;
        return;
    }
    float amax = 0.0f;
    for (int j = 0; j < SLM_QK8_0; j++)
        amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
    float d = amax / 127.0f;
    float id = d >= FLT_MIN ? 1.0f / d : 0.0f;
    float da = slm_f16_to_f32(slm_f32_to_f16(d));
    for (int j = 0; j < SLM_QK8_0; j++)
        x[j] = da * roundf(x[j] * id);
}

/* One Q8_K block, dequantised in place: m the first element of largest
** magnitude, iscale = -127 / m, q = min(127, rint(iscale x)), d = 1 /
** iscale; zero when iscale is 0 or overflows; NaN when non-finite. */
static void act_q8_K(float *x)
{
    if (!block_finite(x, SLM_QK_K)) {
        for (int j = 0; j < SLM_QK_K; j++)
            x[j] = NAN;
        return;
    }
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < SLM_QK_K; j++)
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    float iscale = amax != 0.0f ? -127.0f / max : 0.0f;
    if (!isfinite(iscale) || iscale == 0.0f) {
        memset(x, 0, SLM_QK_K * sizeof *x);
        return;
    }
    float d = 1.0f / iscale;
    for (int j = 0; j < SLM_QK_K; j++) {
        float q = rintf(iscale * x[j]); /* ties to even: the default rounding mode */
        x[j] = d * (q < 127.0f ? q : 127.0f);
    }
}

void npu_act_row(slm_dtype_t wt, float *x, int64_t k)
{
    switch (wt) {
    case SLM_DTYPE_BF16:
        for (int64_t j = 0; j < k; j++)
            x[j] = slm_bf16_to_f32(slm_f32_to_bf16(x[j]));
        break;
    case SLM_DTYPE_Q4_0:
    case SLM_DTYPE_Q8_0:
        for (int64_t j = 0; j < k; j += SLM_QK8_0)
            act_q8_0(x + j);
        break;
    case SLM_DTYPE_Q4_K:
    case SLM_DTYPE_Q6_K:
        for (int64_t j = 0; j < k; j += SLM_QK_K)
            act_q8_K(x + j);
        break;
    default:
        break;
    }
}
