/*
** test_npu_weights.c -- plugins/npu-common/npu_weights.c, the weight
** conversion the NPU shims share.
**
** Blocks are built byte by byte and the expected values worked out by hand
** from graph.h's layout comments (the arithmetic is in the comments), never
** from backend code. The conversions are checked for exactness where they
** claim it (the lossless block copies, f16 of values f16 holds) and against
** theory where they round (int8 per channel: the error of a uniform rounding
** step, scale^2 / 12 per element).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../plugins/npu-common/npu_weights.h"

/* ---------------------------------------------------------------- helpers */

static uint32_t rng_state = 12345u;

static uint32_t rng_u32(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state;
}

static double rng_unit(void) /* (0, 1) */
{
    return ((double)(rng_u32() >> 8) + 0.5) / 16777216.0;
}

static float rng_gauss(void)
{
    double u = rng_unit(), v = rng_unit();
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

static float bits_f32(uint32_t b)
{
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

/* ----------------------------------------------------------- dequantising */

static void test_dequant_q4_0(void **state)
{
    (void)state;
    slm_block_q4_0 b;
    memset(&b, 0, sizeof b);
    b.d = 0x3800; /* 0.5 */
    for (int j = 0; j < 16; j++)
        b.qs[j] = (uint8_t)((j & 0xF) | ((15 - j) << 4));
    float y[32];
    assert_int_equal(npu_dequant_row(SLM_DTYPE_Q4_0, &b, y, 32), 0);
    /* element 0: low nibble of qs[0] = 0 -> 0.5 * (0 - 8) = -4;
    ** element 16: high nibble of qs[0] = 15 -> 0.5 * 7 = 3.5;
    ** element 9: 0.5 * (9 - 8) = 0.5; element 31: high of qs[15] = 0 -> -4 */
    assert_true(y[0] == -4.0f);
    assert_true(y[16] == 3.5f);
    assert_true(y[9] == 0.5f);
    assert_true(y[31] == -4.0f);
    for (int j = 0; j < 16; j++) {
        assert_true(y[j] == 0.5f * (float)(j - 8));
        assert_true(y[j + 16] == 0.5f * (float)(15 - j - 8));
    }
    /* two blocks, the second read right after the first's 18 bytes */
    uint8_t two[36];
    memcpy(two, &b, 18);
    memcpy(two + 18, &b, 18);
    two[18] = 0x00; two[19] = 0x3C; /* d = 1.0 */
    float z[64];
    assert_int_equal(npu_dequant_row(SLM_DTYPE_Q4_0, two, z, 64), 0);
    assert_true(z[32] == -8.0f && z[48] == 7.0f);
}

static void test_dequant_q8_0(void **state)
{
    (void)state;
    slm_block_q8_0 b;
    b.d = 0x3400; /* 0.25 */
    for (int j = 0; j < 32; j++)
        b.qs[j] = (int8_t)(j - 16);
    b.qs[31] = 127;
    b.qs[0] = -128;
    float y[32];
    assert_int_equal(npu_dequant_row(SLM_DTYPE_Q8_0, &b, y, 32), 0);
    assert_true(y[0] == -32.0f);  /* 0.25 * -128 */
    assert_true(y[31] == 31.75f); /* 0.25 * 127 */
    assert_true(y[20] == 1.0f);   /* 0.25 * 4 */
    for (int j = 1; j < 31; j++)
        assert_true(y[j] == 0.25f * (float)(j - 16));
}

static void test_dequant_q4_k(void **state)
{
    (void)state;
    slm_block_q4_K b;
    memset(&b, 0, sizeof b);
    b.d = 0x3C00;    /* 1.0 */
    b.dmin = 0x3800; /* 0.5 */
    b.scales[0] = 2 | (1 << 6); /* sc0 = 2; bit 6 gives sc4 its 16 */
    b.scales[4] = 3;            /* m0 = 3; top bits 0 -> m4 high bits 0 */
    b.scales[1] = 1;            /* sc1 = 1 */
    b.scales[5] = 4;            /* m1 = 4 */
    b.scales[8] = 0x73;         /* sc4 = 3 | 16 = 19, m4 = 7 */
    b.qs[0] = 0x5A;             /* element 0: 10, element 32: 5 */
    b.qs[64] = 0x02;            /* element 128 (p = 2, low): 2 */
    float y[256];
    assert_int_equal(npu_dequant_row(SLM_DTYPE_Q4_K, &b, y, 256), 0);
    assert_true(y[0] == 18.5f);    /* 1 * 2 * 10 - 0.5 * 3 */
    assert_true(y[1] == -1.5f);    /* 1 * 2 * 0 - 0.5 * 3 */
    assert_true(y[32] == 3.0f);    /* 1 * 1 * 5 - 0.5 * 4 */
    assert_true(y[33] == -2.0f);   /* 0 - 0.5 * 4 */
    assert_true(y[128] == 34.5f);  /* 1 * 19 * 2 - 0.5 * 7 */
    assert_true(y[129] == -3.5f);
    assert_true(y[64] == 0.0f);    /* sub-block 2: sc = m = 0 */
    assert_true(y[255] == 0.0f);   /* sub-block 7: sc7 = scales[11] & 15 = 0 */
}

static void test_dequant_q6_k(void **state)
{
    (void)state;
    slm_block_q6_K b;
    memset(&b, 0, sizeof b);
    b.d = 0x3800; /* 0.5 */
    b.scales[0] = 3;
    b.scales[4] = 1;
    b.scales[8] = -2;
    b.ql[0] = 0x21;
    b.qh[0] = 0x02;   /* q0 high bits 2 */
    b.ql[64] = 0x0F;  /* half 1, l = 0: q0 = 15 */
    b.ql[32] = 0x07;  /* q1 = 7 | ((qh[0] >> 2) & 3) << 4 = 7 -> element 32 */
    b.scales[2] = 5;  /* element 32 is in group 2 */
    float y[256];
    assert_int_equal(npu_dequant_row(SLM_DTYPE_Q6_K, &b, y, 256), 0);
    assert_true(y[0] == 1.5f);    /* q0 = 1 | 2 << 4 = 33: 0.5 * 3 * (33 - 32) */
    assert_true(y[1] == -48.0f);  /* q = 0: 0.5 * 3 * -32 */
    assert_true(y[64] == -15.0f); /* q2 = 2: 0.5 * 1 * (2 - 32) */
    assert_true(y[32] == -62.5f); /* 0.5 * 5 * (7 - 32) */
    assert_true(y[128] == 17.0f); /* 0.5 * -2 * (15 - 32) */
    assert_true(y[16] == 0.0f);   /* group 1: scale 0 */
}

static void test_dequant_plain(void **state)
{
    (void)state;
    float f[4] = {1.5f, -2.25f, 0.0f, 1e-3f};
    uint16_t h[4] = {0x3C00, 0xC000, 0x0001, 0x7BFF}; /* 1, -2, 2^-24, 65504 */
    uint16_t bf[3] = {0x3F80, 0xC040, 0x0000};         /* 1, -3, 0 */
    float y[4];
    assert_int_equal(npu_dequant_row(SLM_DTYPE_F32, f, y, 4), 0);
    assert_memory_equal(y, f, sizeof f);
    assert_int_equal(npu_dequant_row(SLM_DTYPE_F16, h, y, 4), 0);
    assert_true(y[0] == 1.0f && y[1] == -2.0f && y[2] == ldexpf(1.0f, -24) && y[3] == 65504.0f);
    assert_int_equal(npu_dequant_row(SLM_DTYPE_BF16, bf, y, 3), 0);
    assert_true(y[0] == 1.0f && y[1] == -3.0f && y[2] == 0.0f);
    /* refusals */
    assert_int_equal(npu_dequant_row(SLM_DTYPE_Q4_0, f, y, 31), -1);
    assert_int_equal(npu_dequant_row(SLM_DTYPE_I32, f, y, 4), -1);
    assert_int_equal(npu_dtype_known(SLM_DTYPE_I32), 0);
    assert_int_equal(npu_dtype_known(SLM_DTYPE_Q6_K), 1);
}

/* -------------------------------------------------------------------- f16 */

static void test_f16(void **state)
{
    (void)state;
    assert_int_equal(npu_f32_to_f16(1.0f), 0x3C00);
    assert_int_equal(npu_f32_to_f16(-2.0f), 0xC000);
    assert_int_equal(npu_f32_to_f16(-0.0f), 0x8000);
    assert_int_equal(npu_f32_to_f16(65504.0f), 0x7BFF);
    /* ties to even: 1 + 2^-11 lies halfway between 0x3C00 and 0x3C01 */
    assert_int_equal(npu_f32_to_f16(1.0f + ldexpf(1.0f, -11)), 0x3C00);
    assert_int_equal(npu_f32_to_f16(1.0f + 3.0f * ldexpf(1.0f, -11)), 0x3C02);
    assert_int_equal(npu_f32_to_f16(1.0f + ldexpf(1.0f, -11) + ldexpf(1.0f, -20)), 0x3C01);
    /* overflow: 65519 rounds down, 65520 (the tie with 2^16) to infinity */
    assert_int_equal(npu_f32_to_f16(65519.0f), 0x7BFF);
    assert_int_equal(npu_f32_to_f16(65520.0f), 0x7C00);
    assert_int_equal(npu_f32_to_f16(1e10f), 0x7C00);
    assert_int_equal(npu_f32_to_f16(-INFINITY), 0xFC00);
    /* subnormals: 2^-24 is the smallest; 2^-25 ties to 0, 1.5 * 2^-24 to 2 */
    assert_int_equal(npu_f32_to_f16(ldexpf(1.0f, -24)), 0x0001);
    assert_int_equal(npu_f32_to_f16(ldexpf(1.0f, -25)), 0x0000);
    assert_int_equal(npu_f32_to_f16(ldexpf(1.5f, -25)), 0x0001);
    assert_int_equal(npu_f32_to_f16(ldexpf(1.5f, -24)), 0x0002);
    assert_int_equal(npu_f32_to_f16(ldexpf(1.0f, -14)), 0x0400); /* smallest normal */
    assert_int_equal(npu_f32_to_f16(ldexpf(1023.0f, -24)), 0x03FF);
    assert_int_equal(npu_f32_to_f16(1e-30f), 0x0000);
    /* NaN stays NaN */
    uint16_t hn = npu_f32_to_f16(bits_f32(0x7FC00000u));
    assert_int_equal(hn & 0x7C00, 0x7C00);
    assert_true((hn & 0x3FF) != 0);
    assert_true(isnan(npu_f16_to_f32(hn)));
    assert_true(isinf(npu_f16_to_f32(0x7C00)));
    /* every non-NaN half round-trips through float */
    for (uint32_t h = 0; h < 65536; h++) {
        if ((h & 0x7C00) == 0x7C00 && (h & 0x3FF))
            continue;
        assert_int_equal(npu_f32_to_f16(npu_f16_to_f32((uint16_t)h)), h);
    }
    /* and value checks on the way out */
    assert_true(npu_f16_to_f32(0x0001) == ldexpf(1.0f, -24));
    assert_true(npu_f16_to_f32(0x3555) == 0.25f + 0x155 * ldexpf(1.0f, -12)); /* e 13, m 0x155 */
    assert_true(npu_f16_to_f32(0xFBFF) == -65504.0f);
}

/* ---------------------------------------------------------------- convert */

static void test_lossless_q8_0(void **state)
{
    (void)state;
    enum { K = 96, N = 5, STRIDE = 3 * 34 + 6 }; /* padded rows */
    uint8_t *raw = calloc(1, 1 + (size_t)STRIDE * N);
    uint8_t *src = raw + 1; /* misaligned on purpose */
    for (int r = 0; r < N; r++)
        for (int b = 0; b < K / 32; b++) {
            slm_block_q8_0 blk;
            blk.d = npu_f32_to_f16(0.01f * (float)(r + 1) * (float)(b + 1));
            for (int j = 0; j < 32; j++)
                blk.qs[j] = (int8_t)(rng_u32() & 0xFF);
            memcpy(src + (size_t)r * STRIDE + (size_t)b * 34, &blk, 34);
        }
    npu_weights_t w;
    char err[256] = "";
    assert_int_equal(npu_weights_convert(src, SLM_DTYPE_Q8_0, K, N, STRIDE,
                                         NPU_W_I8, 32, &w, err, sizeof err), 0);
    assert_true(w.nmse == 0.0);
    assert_true(w.max_abs == 0.0);
    assert_int_equal(w.group, 32);
    assert_int_equal(w.bytes, (size_t)K * N + (size_t)(K / 32) * N * sizeof(float));
    for (int r = 0; r < N; r++) {
        float ref[K];
        assert_int_equal(npu_dequant_row(SLM_DTYPE_Q8_0, src + (size_t)r * STRIDE, ref, K), 0);
        for (int b = 0; b < K / 32; b++) {
            slm_block_q8_0 blk;
            memcpy(&blk, src + (size_t)r * STRIDE + (size_t)b * 34, 34);
            assert_true(w.scales[r * (K / 32) + b] == npu_f16_to_f32(blk.d));
            assert_memory_equal((int8_t *)w.data + r * K + b * 32, blk.qs, 32);
        }
        for (int i = 0; i < K; i++)
            assert_true((float)((int8_t *)w.data)[r * K + i] * w.scales[r * (K / 32) + i / 32] == ref[i]);
    }
    char buf[32];
    assert_string_equal(npu_wformat_describe(&w, buf, sizeof buf), "int8/32");
    npu_weights_free(&w);
    assert_null(w.data);
    npu_weights_free(NULL);
    free(raw);
}

static int nibble(const npu_weights_t *w, int64_t r, int64_t i)
{
    uint8_t b = ((const uint8_t *)w->data)[r * (w->k / 2) + i / 2];
    int v = i % 2 ? b >> 4 : b & 0xF;
    return v >= 8 ? v - 16 : v;
}

static void test_lossless_q4_0(void **state)
{
    (void)state;
    enum { K = 64, N = 3 };
    slm_block_q4_0 blk[N][K / 32];
    for (int r = 0; r < N; r++)
        for (int b = 0; b < K / 32; b++) {
            blk[r][b].d = npu_f32_to_f16(-0.125f * (float)(r + b + 1));
            for (int j = 0; j < 16; j++)
                blk[r][b].qs[j] = (uint8_t)rng_u32();
        }
    blk[0][0].qs[0] = 0xF0; /* element 0: 0 - 8 = -8; element 16: 15 - 8 = 7 */
    npu_weights_t w;
    char err[256] = "";
    assert_int_equal(npu_weights_convert(blk, SLM_DTYPE_Q4_0, K, N, sizeof blk[0],
                                         NPU_W_I4, 32, &w, err, sizeof err), 0);
    assert_true(w.nmse == 0.0 && w.max_abs == 0.0);
    assert_int_equal(nibble(&w, 0, 0), -8);
    assert_int_equal(nibble(&w, 0, 16), 7);
    for (int r = 0; r < N; r++) {
        float ref[K];
        npu_dequant_row(SLM_DTYPE_Q4_0, blk[r], ref, K);
        for (int i = 0; i < K; i++) {
            int b = i / 32, j = i % 32;
            int q = (j < 16 ? blk[r][b].qs[j] & 0xF : blk[r][b].qs[j - 16] >> 4) - 8;
            assert_int_equal(nibble(&w, r, i), q);
            assert_true(w.scales[r * 2 + b] == npu_f16_to_f32(blk[r][b].d));
            assert_true((float)q * w.scales[r * 2 + b] == ref[i]);
        }
    }
    char buf[32];
    assert_string_equal(npu_wformat_describe(&w, buf, sizeof buf), "int4/32");
    npu_weights_free(&w);
}

/* Symmetric int8 per channel of Gaussian rows: each element's rounding error
** is uniform on [-s/2, s/2] (variance s^2 / 12) for the row's scale s, so
** nmse = sum_r k s_r^2 / 12 / sum w^2. With s = max|w| / 127 and max|w|
** about 3.3 sigma for k = 1024, that is about 5.6e-5. */
static void test_int8_channel_gaussian(void **state)
{
    (void)state;
    enum { K = 1024, N = 64 };
    float *src = malloc(sizeof(float) * K * N);
    for (int i = 0; i < K * N; i++)
        src[i] = 0.02f * rng_gauss();
    npu_weights_t w;
    char err[256] = "";
    assert_int_equal(npu_weights_convert(src, SLM_DTYPE_F32, K, N, K * sizeof(float),
                                         NPU_W_I8, K, &w, err, sizeof err), 0);
    double theory_err = 0, sum2 = 0, max_err = 0;
    for (int r = 0; r < N; r++) {
        float amax = 0;
        for (int i = 0; i < K; i++)
            amax = fmaxf(amax, fabsf(src[r * K + i]));
        assert_true(w.scales[r] == amax / 127.0f);
        theory_err += (double)K * w.scales[r] * w.scales[r] / 12.0;
        for (int i = 0; i < K; i++)
            sum2 += (double)src[r * K + i] * src[r * K + i];
        max_err = fmax(max_err, w.scales[r] / 2.0);
    }
    double theory = theory_err / sum2;
    printf("int8/ch gaussian: nmse %.3g theory %.3g max_abs %.3g (half step %.3g)\n",
           w.nmse, theory, w.max_abs, max_err);
    assert_true(w.nmse > theory / 2 && w.nmse < theory * 2);
    assert_true(w.nmse > 1e-5 && w.nmse < 2e-4);
    assert_true(w.max_abs <= max_err * 1.0001);
    char buf[32];
    assert_string_equal(npu_wformat_describe(&w, buf, sizeof buf), "int8/ch");
    npu_weights_free(&w);

    /* int4 in groups of 32 rounds with (max|w| / 7)^2 / 12: far coarser */
    assert_int_equal(npu_weights_convert(src, SLM_DTYPE_F32, K, N, K * sizeof(float),
                                         NPU_W_I4, 32, &w, err, sizeof err), 0);
    printf("int4/32 gaussian: nmse %.3g\n", w.nmse);
    assert_true(w.nmse > 3e-3 && w.nmse < 3e-2);
    npu_weights_free(&w);

    /* f16: relative rounding error uniform within half an ulp, nmse about
    ** (2^-11)^2 / 3 = 8e-8 */
    assert_int_equal(npu_weights_convert(src, SLM_DTYPE_F32, K, N, K * sizeof(float),
                                         NPU_W_F16, 0, &w, err, sizeof err), 0);
    printf("f16 gaussian: nmse %.3g\n", w.nmse);
    assert_true(w.nmse > 2e-8 && w.nmse < 2e-7);
    assert_null(w.scales);
    assert_string_equal(npu_wformat_describe(&w, buf, sizeof buf), "f16");
    for (int i = 0; i < K * N; i += 97)
        assert_int_equal(((uint16_t *)w.data)[i], npu_f32_to_f16(src[i]));
    npu_weights_free(&w);
    free(src);
}

/* Q4_K and Q6_K requantised: the int8 values match the dequantised ones
** within half a step, F16 of BF16 values is exact (bf16 fits in f16 here). */
static void test_requant_k_types(void **state)
{
    (void)state;
    enum { K = 512, N = 4 };
    uint8_t *q4k = malloc(sizeof(slm_block_q4_K) * 2 * N);
    uint8_t *q6k = malloc(sizeof(slm_block_q6_K) * 2 * N);
    for (size_t i = 0; i < sizeof(slm_block_q4_K) * 2 * N; i++)
        q4k[i] = (uint8_t)rng_u32();
    for (size_t i = 0; i < sizeof(slm_block_q6_K) * 2 * N; i++)
        q6k[i] = (uint8_t)rng_u32();
    for (int b = 0; b < 2 * N; b++) { /* sane finite scales */
        slm_block_q4_K *p = (slm_block_q4_K *)(q4k + b * sizeof(slm_block_q4_K));
        p->d = npu_f32_to_f16(0.001f);
        p->dmin = npu_f32_to_f16(0.002f);
        slm_block_q6_K *s = (slm_block_q6_K *)(q6k + b * sizeof(slm_block_q6_K));
        s->d = npu_f32_to_f16(0.0005f);
    }
    const struct { slm_dtype_t t; const void *src; size_t stride; } cases[] = {
        {SLM_DTYPE_Q4_K, q4k, 2 * sizeof(slm_block_q4_K)},
        {SLM_DTYPE_Q6_K, q6k, 2 * sizeof(slm_block_q6_K)},
    };
    for (size_t c = 0; c < 2; c++) {
        npu_weights_t w;
        char err[256] = "";
        assert_int_equal(npu_weights_convert(cases[c].src, cases[c].t, K, N, cases[c].stride,
                                             NPU_W_I8, 64, &w, err, sizeof err), 0);
        float ref[K];
        double e2 = 0, r2 = 0;
        for (int r = 0; r < N; r++) {
            npu_dequant_row(cases[c].t, (const uint8_t *)cases[c].src + r * cases[c].stride, ref, K);
            for (int i = 0; i < K; i++) {
                float s = w.scales[r * (K / 64) + i / 64];
                float v = (float)((int8_t *)w.data)[r * K + i] * s;
                assert_true(fabsf(v - ref[i]) <= s * 0.5001f);
                e2 += ((double)v - ref[i]) * ((double)v - ref[i]);
                r2 += (double)ref[i] * ref[i];
            }
        }
        assert_true(fabs(w.nmse - e2 / r2) <= 1e-9 + 1e-6 * w.nmse);
        assert_true(w.nmse > 0 && w.nmse < 1e-3);
        npu_weights_free(&w);
    }
    free(q4k);
    free(q6k);

    uint16_t bf[2][32];
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < 32; i++)
            bf[r][i] = (uint16_t)(0x3F80 + (rng_u32() & 0x7F) + (i % 2 ? 0x8000 : 0));
    npu_weights_t w;
    char err[256] = "";
    assert_int_equal(npu_weights_convert(bf, SLM_DTYPE_BF16, 32, 2, 64, NPU_W_F16, 0,
                                         &w, err, sizeof err), 0);
    assert_true(w.nmse == 0.0 && w.max_abs == 0.0);
    npu_weights_free(&w);
}

static void test_refusals(void **state)
{
    (void)state;
    float src[64 * 2] = {0};
    npu_weights_t w;
    char err[256] = "";
    /* group 30 does not divide 64 */
    assert_int_equal(npu_weights_convert(src, SLM_DTYPE_F32, 64, 2, 256, NPU_W_I8, 30,
                                         &w, err, sizeof err), -1);
    assert_non_null(strstr(err, "group"));
    assert_non_null(strstr(err, "f32"));
    assert_non_null(strstr(err, "64x2"));
    assert_null(w.data);
    err[0] = 0;
    assert_int_equal(npu_weights_convert(src, SLM_DTYPE_F32, 64, 2, 256, NPU_W_I4, 0,
                                         &w, err, sizeof err), -1);
    assert_non_null(strstr(err, "group"));
    err[0] = 0;
    assert_int_equal(npu_weights_convert(src, SLM_DTYPE_I32, 64, 2, 256, NPU_W_I8, 32,
                                         &w, err, sizeof err), -1);
    assert_non_null(strstr(err, "i32"));
    assert_non_null(strstr(err, "unknown"));
    err[0] = 0;
    /* Q8_0 rows of 40 elements are not whole blocks */
    assert_int_equal(npu_weights_convert(src, SLM_DTYPE_Q8_0, 40, 1, 256, NPU_W_I8, 40,
                                         &w, err, sizeof err), -1);
    assert_true(err[0] != 0);
    /* a stride shorter than a row */
    assert_int_equal(npu_weights_convert(src, SLM_DTYPE_F32, 64, 2, 128, NPU_W_F16, 0,
                                         &w, err, sizeof err), -1);
    assert_non_null(strstr(err, "stride"));
    /* all zero: scale 0, nmse 0 */
    assert_int_equal(npu_weights_convert(src, SLM_DTYPE_F32, 64, 2, 256, NPU_W_I8, 64,
                                         &w, err, sizeof err), 0);
    assert_true(w.nmse == 0.0 && w.scales[0] == 0.0f);
    npu_weights_free(&w);
}

/* npu_act_row against graph.h's activation rules, worked by hand. */
static void test_act_row(void **state)
{
    (void)state;
    /* Q8_0: amax 254 gives d = 2 (exact in f16), x / d rounded half away
    ** from zero: 3 -> 1.5 -> 2 -> 4, -5 -> -2.5 -> -3 -> -6, 0.9 -> 0 */
    float x[32] = {254.0f, 3.0f, -5.0f, 0.9f};
    npu_act_row(SLM_DTYPE_Q4_0, x, 32);
    assert_true(x[0] == 254.0f && x[1] == 4.0f && x[2] == -6.0f && x[3] == 0.0f);
    /* Q8_K: the first element of largest magnitude m = -254 gives
    ** iscale = 0.5, d = 2; rint(0.5 * 3) = 2 (ties to even), rint(2.5) = 2 */
    float k[256] = {0};
    k[7] = -254.0f;
    k[8] = 3.0f;
    k[9] = 5.0f;
    k[10] = 254.0f; /* same magnitude, later: m stays -254 */
    npu_act_row(SLM_DTYPE_Q6_K, k, 256);
    assert_true(k[7] == -254.0f && k[8] == 4.0f && k[9] == 4.0f && k[10] == 254.0f);
    /* BF16: 1 + 2^-9 rounds to 1 (ties to even would too; it is below) */
    float b[2] = {1.0f + 1.0f / 512.0f, 1.0f + 3.0f / 256.0f};
    npu_act_row(SLM_DTYPE_BF16, b, 2);
    assert_true(b[0] == 1.0f && b[1] == 1.0f + 4.0f / 256.0f);
    /* a non-finite block is NaN throughout; F32 weights leave x alone */
    float n[32] = {1.0f, INFINITY};
    npu_act_row(SLM_DTYPE_Q8_0, n, 32);
    assert_true(isnan(n[0]) && isnan(n[31]));
    float f[2] = {0.1f, -3.3f};
    npu_act_row(SLM_DTYPE_F32, f, 2);
    assert_true(f[0] == 0.1f && f[1] == -3.3f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dequant_q4_0),
        cmocka_unit_test(test_dequant_q8_0),
        cmocka_unit_test(test_dequant_q4_k),
        cmocka_unit_test(test_dequant_q6_k),
        cmocka_unit_test(test_dequant_plain),
        cmocka_unit_test(test_f16),
        cmocka_unit_test(test_lossless_q8_0),
        cmocka_unit_test(test_lossless_q4_0),
        cmocka_unit_test(test_int8_channel_gaussian),
        cmocka_unit_test(test_requant_k_types),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_act_row),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
