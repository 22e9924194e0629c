/*
** test_quant.c -- element formats: block-quantised dequantisation through the
** scalar reference backend, the f16/bf16 conversions of slm/graph.h, and the
** activation quantisers (Q8_0, Q8_K) of MUL_MAT.
**
** Blocks are built byte by byte; the expected values are worked out by hand
** (spot checks with the arithmetic in comments) or from the layout comments
** of graph.h, never from backend code. GET_ROWS must reproduce them exactly.
** The activation quantisers have no dtype of their own, so they are called
** directly (cpu_internal.h) on hand-picked rows, and once more end to end
** through MUL_MAT, whose results here are exact.
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

#include "slm/backend.h"

#include "../backends/cpu/cpu_internal.h"

slm_status_t slm_plugin_init(const slm_host_t *host, const slm_backend_t **out);

/* ---------------------------------------------------------------- harness */

typedef struct Fixture {
    slm_host_t host;
    char error[512]; /* last message given to set_error */
    const slm_backend_t *be;
    void *dev;
} Fixture;

static void host_set_error(void *ctx, const char *msg)
{
    Fixture *f = ctx;
    snprintf(f->error, sizeof f->error, "%s", msg);
}

static void host_log(void *ctx, int level, const char *msg)
{
    (void)ctx, (void)level, (void)msg;
}

static const char *host_config_get(void *ctx, const char *key)
{
    (void)ctx, (void)key;
    return NULL;
}

static int setup(void **state)
{
    Fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->host = (slm_host_t){
        .abi_major = SLM_BACKEND_ABI_MAJOR,
        .abi_minor = SLM_BACKEND_ABI_MINOR,
        .struct_size = sizeof(slm_host_t),
        .ctx = f,
        .log = host_log,
        .set_error = host_set_error,
        .config_get = host_config_get,
    };
    assert_int_equal(slm_plugin_init(&f->host, &f->be), SLM_OK);
    assert_int_equal(f->be->device_open(0, NULL, &f->dev), SLM_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;
    f->be->device_close(f->dev);
    free(f);
    return 0;
}

/* Run GET_ROWS on a one-row table holding `bytes` bytes of dtype `t` (n
** elements) and return the dequantised row in out[n]. The table sits at an
** odd offset in its buffer, so no block is aligned for its f16 fields. */
static void dequant_via_get_rows(Fixture *f, slm_dtype_t t, const void *row,
                                 size_t bytes, int64_t n, float *out)
{
    const slm_backend_t *be = f->be;
    void *tbuf, *tbase, *ibuf, *ibase, *dbuf, *dbase;
    const size_t off = 1;
    assert_int_equal(be->buffer_alloc(f->dev, off + bytes, SLM_BUFFER_WEIGHTS,
                                      &tbuf, &tbase), SLM_OK);
    assert_int_equal(be->buffer_alloc(f->dev, 4, SLM_BUFFER_IO, &ibuf, &ibase),
                     SLM_OK);
    assert_int_equal(be->buffer_alloc(f->dev, (size_t)n * 4, SLM_BUFFER_IO,
                                      &dbuf, &dbase), SLM_OK);
    assert_int_equal(be->buffer_write(f->dev, tbuf, off, row, bytes), SLM_OK);
    int32_t id = 0;
    assert_int_equal(be->buffer_write(f->dev, ibuf, 0, &id, 4), SLM_OK);

    size_t bb = slm_dtype_block_bytes(t);
    slm_tensor_t table = {
        .dtype = t, .ne = {n, 1, 1, 1},
        .nb = {bb, bytes, bytes, bytes},
        .buffer = tbuf, .offset = off, .data = (char *)tbase + off,
    };
    slm_tensor_t ids = {
        .dtype = SLM_DTYPE_I32, .ne = {1, 1, 1, 1}, .nb = {4, 4, 4, 4},
        .buffer = ibuf, .data = ibase,
    };
    size_t rb = (size_t)n * 4;
    slm_tensor_t dst = {
        .dtype = SLM_DTYPE_F32, .ne = {n, 1, 1, 1}, .nb = {4, rb, rb, rb},
        .buffer = dbuf, .data = dbase,
    };
    slm_node_t node = {.op = SLM_OP_GET_ROWS, .dst = &dst,
                       .src = {&table, &ids}};
    slm_graph_t graph = {1, &node};
    assert_true(be->supports_node(f->dev, &node));
    assert_int_equal(be->graph_compute(f->dev, &graph), SLM_OK);
    assert_int_equal(be->buffer_read(f->dev, dbuf, 0, out, rb), SLM_OK);
    be->buffer_free(f->dev, tbuf);
    be->buffer_free(f->dev, ibuf);
    be->buffer_free(f->dev, dbuf);
}

static void expect_exact(const char *what, const float *got,
                         const float *want, int n)
{
    for (int i = 0; i < n; i++)
        if (got[i] != want[i])
            fail_msg("%s: element %d is %.9g, expected %.9g", what, i,
                     (double)got[i], (double)want[i]);
}

/* ------------------------------------------------------------ block sizes */

static void test_block_sizes(void **state)
{
    (void)state;
    assert_int_equal(sizeof(slm_block_q4_0), 18);
    assert_int_equal(sizeof(slm_block_q8_0), 34);
    assert_int_equal(sizeof(slm_block_q4_K), 144);
    assert_int_equal(sizeof(slm_block_q6_K), 210);
    assert_int_equal(slm_dtype_block_bytes(SLM_DTYPE_Q4_0), 18);
    assert_int_equal(slm_dtype_block_bytes(SLM_DTYPE_Q8_0), 34);
    assert_int_equal(slm_dtype_block_bytes(SLM_DTYPE_Q4_K), 144);
    assert_int_equal(slm_dtype_block_bytes(SLM_DTYPE_Q6_K), 210);
    assert_int_equal(slm_dtype_block_elems(SLM_DTYPE_Q4_0), 32);
    assert_int_equal(slm_dtype_block_elems(SLM_DTYPE_Q8_0), 32);
    assert_int_equal(slm_dtype_block_elems(SLM_DTYPE_Q4_K), 256);
    assert_int_equal(slm_dtype_block_elems(SLM_DTYPE_Q6_K), 256);
    /* Field offsets that the byte-built blocks below rely on. */
    assert_int_equal(offsetof(slm_block_q4_K, scales), 4);
    assert_int_equal(offsetof(slm_block_q4_K, qs), 16);
    assert_int_equal(offsetof(slm_block_q6_K, qh), 128);
    assert_int_equal(offsetof(slm_block_q6_K, scales), 192);
    assert_int_equal(offsetof(slm_block_q6_K, d), 208);
}

/* ------------------------------------------------------------------ Q4_0 */

static void test_q4_0(void **state)
{
    Fixture *f = *state;
    /* Two blocks: d = 0.5 (f16 0x3800) with qs[i] = i | (15 - i) << 4, and
    ** d = -2 (0xC000) with every byte 0x0F. Bytes are little-endian. */
    uint8_t row[36] = {0x00, 0x38};
    for (int i = 0; i < 16; i++)
        row[2 + i] = (uint8_t)(i | ((15 - i) << 4));
    row[18] = 0x00;
    row[19] = 0xC0;
    memset(row + 20, 0x0F, 16);

    float want[64];
    for (int j = 0; j < 16; j++) {
        want[j] = 0.5f * (float)(j - 8);        /* low nibble j */
        want[16 + j] = 0.5f * (float)(7 - j);   /* high nibble 15 - j, minus 8 */
        want[32 + j] = -2.0f * 7.0f;            /* 15 - 8 */
        want[48 + j] = -2.0f * -8.0f;           /* 0 - 8 */
    }
    float got[64];
    dequant_via_get_rows(f, SLM_DTYPE_Q4_0, row, sizeof row, 64, got);
    expect_exact("q4_0", got, want, 64);
    assert_true(got[0] == -4.0f && got[15] == 3.5f && got[16] == 3.5f &&
                got[31] == -4.0f);
}

/* ------------------------------------------------------------------ Q8_0 */

static void test_q8_0(void **state)
{
    Fixture *f = *state;
    /* d = 0.25 (0x3400); qs[j] = 8j - 128, except qs[31] = 127. */
    uint8_t row[34] = {0x00, 0x34};
    for (int j = 0; j < 32; j++)
        row[2 + j] = (uint8_t)(int8_t)(8 * j - 128);
    row[2 + 31] = 127;

    float want[32];
    for (int j = 0; j < 32; j++)
        want[j] = 0.25f * (float)(8 * j - 128);
    want[31] = 31.75f;
    float got[32];
    dequant_via_get_rows(f, SLM_DTYPE_Q8_0, row, sizeof row, 32, got);
    expect_exact("q8_0", got, want, 32);
    assert_true(got[0] == -32.0f);
}

/* ------------------------------------------------------------------ Q4_K */

static void test_q4_K(void **state)
{
    Fixture *f = *state;
    /* Chosen 6-bit scales and mins of the 8 sub-blocks: */
    static const int sc[8] = {1, 2, 3, 4, 63, 37, 26, 9};
    static const int m[8] = {5, 6, 7, 8, 44, 19, 48, 15};
    /* packed by hand: scales[0..3] = sc[0..3] | (sc[4..7] >> 4) << 6,
    ** scales[4..7] = m[0..3] | (m[4..7] >> 4) << 6,
    ** scales[8..11] = (sc[4..7] & 0xF) | (m[4..7] & 0xF) << 4:
    **   0xC1 = 1 | 3<<6    0x82 = 2 | 2<<6    0x43 = 3 | 1<<6    0x04 = 4
    **   0x85 = 5 | 2<<6    0x46 = 6 | 1<<6    0xC7 = 7 | 3<<6    0x08 = 8
    **   0xCF = 0xF | 0xC<<4   0x35 = 0x5 | 0x3<<4
    **   0x0A = 0xA | 0x0<<4   0xF9 = 0x9 | 0xF<<4 */
    static const uint8_t scales[12] = {0xC1, 0x82, 0x43, 0x04, 0x85, 0x46,
                                       0xC7, 0x08, 0xCF, 0x35, 0x0A, 0xF9};
    uint8_t block[144] = {0x00, 0x34, 0x00, 0x30}; /* d = 0.25, dmin = 0.125 */
    memcpy(block + 4, scales, 12);
    for (int i = 0; i < 128; i++)
        block[16 + i] = (uint8_t)((i % 16) | (((i * 5) % 16) << 4));

    float want[256];
    for (int e = 0; e < 256; e++) {
        int p = e / 64, l = e % 64, q, s;
        if (l < 32) { /* low nibble of qs[32p + l], sub-block 2p */
            q = (32 * p + l) % 16;
            s = 2 * p;
        } else { /* high nibble of qs[32p + l - 32], sub-block 2p + 1 */
            q = ((32 * p + l - 32) * 5) % 16;
            s = 2 * p + 1;
        }
        want[e] = 0.25f * (float)(sc[s] * q) - 0.125f * (float)m[s];
    }
    float got[256];
    dequant_via_get_rows(f, SLM_DTYPE_Q4_K, block, sizeof block, 256, got);
    expect_exact("q4_K", got, want, 256);

    /* By hand: element 0: sub-block 0, q 0: 0 - 0.125*5.
    ** 130: sub-block 4, q = qs[66] & 15 = 2: 0.25*63*2 - 0.125*44 = 26.
    ** 180: sub-block 5, q = qs[84] >> 4 = 420 % 16 = 4: 37 - 2.375.
    ** 200: sub-block 6, q = qs[104] & 15 = 8: 52 - 6.
    ** 255: sub-block 7, q = qs[127] >> 4 = 635 % 16 = 11: 24.75 - 1.875. */
    assert_true(got[0] == -0.625f);
    assert_true(got[130] == 26.0f);
    assert_true(got[180] == 34.625f);
    assert_true(got[200] == 46.0f);
    assert_true(got[255] == 22.875f);
}

/* ------------------------------------------------------------------ Q6_K */

/* Q6_K byte offsets: ql 0..127, qh 128..191, scales 192..207, d 208..209. */
enum { Q6_QL = 0, Q6_QH = 128, Q6_SC = 192, Q6_D = 208 };

static void test_q6_K_by_hand(void **state)
{
    Fixture *f = *state;
    uint8_t block[210] = {0};
    block[Q6_D] = 0x00; /* d = 0.5 */
    block[Q6_D + 1] = 0x38;
    int8_t sc[16];
    for (int i = 0; i < 16; i++)
        sc[i] = 2;
    sc[0] = 3, sc[2] = -1, sc[4] = 5, sc[6] = -4;
    sc[8] = 7, sc[10] = 10, sc[12] = -128, sc[14] = 127;
    memcpy(block + Q6_SC, sc, 16);

    /* First half, l = 0: ql[0] = 0xA5, ql[32] = 0x3C, qh[0] = 0b11100100:
    **   element 0:  0x5 | 0<<4 = 5     element 32: 0xC | 1<<4 = 28
    **   element 64: 0xA | 2<<4 = 42    element 96: 0x3 | 3<<4 = 51 */
    block[Q6_QL + 0] = 0xA5;
    block[Q6_QL + 32] = 0x3C;
    block[Q6_QH + 0] = 0xE4;
    /* Second half, l = 5: ql[64 + 5] = 0x7F, qh[32 + 5] = 0b00011011:
    **   element 133: 0xF | 3<<4 = 63   element 165: 0x0 | 2<<4 = 32
    **   element 197: 0x7 | 1<<4 = 23   element 229: 0x0 | 0<<4 = 0 */
    block[Q6_QL + 64 + 5] = 0x7F;
    block[Q6_QH + 32 + 5] = 0x1B;

    float want[256];
    for (int e = 0; e < 256; e++) /* q = 0 everywhere else: 0.5 * sc * -32 */
        want[e] = -16.0f * (float)sc[e / 16];
    want[0] = 0.5f * 3 * (5 - 32);        /* -40.5 */
    want[32] = 0.5f * -1 * (28 - 32);     /* 2 */
    want[64] = 0.5f * 5 * (42 - 32);      /* 25 */
    want[96] = 0.5f * -4 * (51 - 32);     /* -38 */
    want[133] = 0.5f * 7 * (63 - 32);     /* 108.5 */
    want[165] = 0.5f * 10 * (32 - 32);    /* 0 */
    want[197] = 0.5f * -128 * (23 - 32);  /* 576 */
    want[229] = 0.5f * 127 * (0 - 32);    /* -2032 */

    float got[256];
    dequant_via_get_rows(f, SLM_DTYPE_Q6_K, block, sizeof block, 256, got);
    expect_exact("q6_K by hand", got, want, 256);
    assert_true(got[0] == -40.5f && got[197] == 576.0f && got[229] == -2032.0f);
}

/* Every 6-bit value in every position: quants q[e] = (37e + 11) % 64 packed
** by the rule of graph.h, with a different signed scale per sub-block. */
static void test_q6_K_all_positions(void **state)
{
    Fixture *f = *state;
    static const int8_t sc[16] = {1, -1, 2, -2, 127, -128, 3, -3,
                                  5, 7, -7, 11, 13, -13, 64, -64};
    uint8_t block[210] = {0};
    block[Q6_D] = 0x00; /* d = 0.125 (0x3000) */
    block[Q6_D + 1] = 0x30;
    memcpy(block + Q6_SC, sc, 16);
    int q[256];
    for (int e = 0; e < 256; e++) {
        q[e] = (37 * e + 11) % 64;
        int h = e / 128, i = e % 128, l = i % 32, g = i / 32;
        /* group g of a half: 0 and 2 share ql[l], 1 and 3 share ql[l + 32];
        ** groups 0, 1 use low nibbles; qh[l] holds 2 bits per group. */
        int ql = Q6_QL + 64 * h + l + (g % 2) * 32;
        block[ql] |= (uint8_t)((q[e] & 0xF) << (g < 2 ? 0 : 4));
        block[Q6_QH + 32 * h + l] |= (uint8_t)((q[e] >> 4) << (2 * g));
    }
    float want[256];
    for (int e = 0; e < 256; e++)
        want[e] = 0.125f * (float)(sc[e / 16] * (q[e] - 32));
    float got[256];
    dequant_via_get_rows(f, SLM_DTYPE_Q6_K, block, sizeof block, 256, got);
    expect_exact("q6_K all positions", got, want, 256);
}

/* ---------------------------------------------------------------- f16 */

/* The value of an f16 bit pattern, from its fields with ldexp. */
static double f16_value(uint16_t h)
{
    int sign = h >> 15, exp = (h >> 10) & 0x1F, man = h & 0x3FF;
    double v;
    if (exp == 0x1F)
        v = man ? NAN : INFINITY;
    else if (exp == 0)
        v = ldexp(man, -24);
    else
        v = ldexp(1024 + man, exp - 25);
    return sign ? -v : v;
}

static float f32_bits(uint32_t x)
{
    float v;
    memcpy(&v, &x, sizeof v);
    return v;
}

static void test_f16_exhaustive(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        float v = slm_f16_to_f32((slm_f16_t)h);
        double want = f16_value((uint16_t)h);
        uint16_t back = slm_f32_to_f16(v);
        if (isnan(want)) {
            if (!isnan(v))
                fail_msg("f16 0x%04x: NaN became %g", (unsigned)h, (double)v);
            if ((back & 0x7C00) != 0x7C00 || (back & 0x3FF) == 0 ||
                (back & 0x8000) != (h & 0x8000))
                fail_msg("f16 0x%04x: NaN came back as 0x%04x", (unsigned)h,
                         (unsigned)back);
        } else {
            if ((double)v != want || !signbit(v) != !signbit(want))
                fail_msg("f16 0x%04x: %.9g, expected %.9g", (unsigned)h,
                         (double)v, want);
            if (back != h)
                fail_msg("f16 0x%04x: came back as 0x%04x", (unsigned)h,
                         (unsigned)back);
        }
    }
}

static void test_f16_rounding(void **state)
{
    (void)state;
    /* Ties go to the even mantissa; anything past a tie goes up. */
    assert_int_equal(slm_f32_to_f16(1.0f + 0x1p-11f), 0x3C00);  /* 1 */
    assert_int_equal(slm_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3C02);
    assert_int_equal(slm_f32_to_f16(1.0f + 0x1p-11f + 0x1p-20f), 0x3C01);
    assert_int_equal(slm_f32_to_f16(1.0f + 0x1p-11f - 0x1p-20f), 0x3C00);
    assert_int_equal(slm_f32_to_f16(-(1.0f + 3 * 0x1p-11f)), 0xBC02);
    /* Largest finite, and overflow: 65520 is the tie with 65536 = inf. */
    assert_int_equal(slm_f32_to_f16(65504.0f), 0x7BFF);
    assert_int_equal(slm_f32_to_f16(65519.0f), 0x7BFF);
    assert_int_equal(slm_f32_to_f16(65520.0f), 0x7C00);
    assert_int_equal(slm_f32_to_f16(1e6f), 0x7C00);
    assert_int_equal(slm_f32_to_f16(-1e30f), 0xFC00);
    assert_int_equal(slm_f32_to_f16(INFINITY), 0x7C00);
    assert_int_equal(slm_f32_to_f16(-INFINITY), 0xFC00);
    /* Subnormals: 2^-24 is the smallest; 2^-25 ties to 0, 3 * 2^-25 (1.5
    ** ulp) ties up to 2 ulp; halfway below 2^-14 rounds into the normals. */
    assert_int_equal(slm_f32_to_f16(0x1p-24f), 0x0001);
    assert_int_equal(slm_f32_to_f16(0x1p-25f), 0x0000);
    assert_int_equal(slm_f32_to_f16(0x1.8p-25f), 0x0001);
    assert_int_equal(slm_f32_to_f16(3 * 0x1p-25f), 0x0002);
    assert_int_equal(slm_f32_to_f16(5 * 0x1p-25f), 0x0002);
    assert_int_equal(slm_f32_to_f16(0x1p-14f), 0x0400);
    assert_int_equal(slm_f32_to_f16(1023.5f * 0x1p-24f), 0x0400);
    assert_int_equal(slm_f32_to_f16(1022.5f * 0x1p-24f), 0x03FE);
    assert_int_equal(slm_f32_to_f16(0x1p-30f), 0x0000);
    assert_int_equal(slm_f32_to_f16(-0x1p-30f), 0x8000);
    assert_int_equal(slm_f32_to_f16(-0.0f), 0x8000);
    assert_int_equal(slm_f32_to_f16(0x1p-149f), 0x0000); /* f32 subnormal */
    /* NaN stays NaN, sign kept. */
    uint16_t n = slm_f32_to_f16(f32_bits(0x7FC00000u));
    assert_true((n & 0x7C00) == 0x7C00 && (n & 0x3FF) != 0 && !(n & 0x8000));
    n = slm_f32_to_f16(f32_bits(0xFF800001u)); /* signalling, tiny payload */
    assert_true((n & 0x7C00) == 0x7C00 && (n & 0x3FF) != 0 && (n & 0x8000));
}

/* ---------------------------------------------------------------- bf16 */

static void test_bf16(void **state)
{
    (void)state;
    /* bf16 -> f32 is the high half; every pattern but NaN comes back. */
    for (uint32_t h = 0; h < 65536; h++) {
        float v = slm_bf16_to_f32((slm_bf16_t)h);
        uint32_t bits;
        memcpy(&bits, &v, sizeof bits);
        assert_int_equal(bits, h << 16);
        uint16_t back = slm_f32_to_bf16(v);
        if (isnan(v))
            assert_true((back & 0x7F80) == 0x7F80 && (back & 0x7F) != 0 &&
                        (back & 0x8000) == (h & 0x8000));
        else
            assert_int_equal(back, h);
    }
    /* Ties to even: 1 + 2^-8 is halfway between 1 (0x3F80) and 1 + 2^-7. */
    assert_int_equal(slm_f32_to_bf16(1.0f + 0x1p-8f), 0x3F80);
    assert_int_equal(slm_f32_to_bf16(1.0f + 3 * 0x1p-8f), 0x3F82);
    assert_int_equal(slm_f32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 0x3F81);
    assert_int_equal(slm_f32_to_bf16(-(1.0f + 0x1p-8f + 0x1p-20f)), 0xBF81);
    /* FLT_MAX rounds past the largest bf16 to infinity. */
    assert_int_equal(slm_f32_to_bf16(f32_bits(0x7F7FFFFFu)), 0x7F80);
    assert_int_equal(slm_f32_to_bf16(INFINITY), 0x7F80);
    /* A NaN whose payload lies only in the low half stays NaN. */
    uint16_t n = slm_f32_to_bf16(f32_bits(0x7F800001u));
    assert_true((n & 0x7F80) == 0x7F80 && (n & 0x7F) != 0);
}

/* ------------------------------------------------ activation quantisers */

/* Rows of 32 (Q8_0) and 256 (Q8_K) activations; unnamed elements are 0. */

/* Q8_0 block A: amax 127 from a negative element, so d = 1 and id = 1
** exactly and q = roundf(x): ties go away from zero. */
static void row_q8_0_a(float *x)
{
    memset(x, 0, 32 * sizeof *x);
    x[0] = -127, x[1] = 2.5f, x[2] = -2.5f, x[3] = 0.5f, x[4] = -0.5f;
    x[5] = 1.5f, x[6] = 126.5f, x[7] = 3.49f, x[8] = -0.49f;
}
static const int8_t q8_0_a[9] = {-127, 3, -3, 1, -1, 2, 127, 3, 0};

/* Q8_0 block R: amax 1, so d = 1/127 = 0.0078740157 in float, stored as the
** f16 0x2008 = 2^-7 * (1 + 8/1024) = 0.00787353515625. q uses the float d:
** 0.7913 * 127 = 100.4951 -> 100 (the f16 d would give 100.5012 -> 101);
** -0.25 * 127 = -31.75 -> -32. */
static void row_q8_0_r(float *x)
{
    memset(x, 0, 32 * sizeof *x);
    x[0] = 1, x[1] = 0.7913f, x[2] = -0.25f;
}

static void test_act_q8_0(void **state)
{
    (void)state;
    float x[4 * 32];
    row_q8_0_a(x);
    memset(x + 32, 0, 32 * sizeof *x); /* all zero: d = 0, q = 0 */
    row_q8_0_r(x + 64);
    /* amax 1e-6: d = 7.9e-9 is below half the smallest f16 subnormal
    ** (2^-25 = 3.0e-8) and stores as 0, but q still uses the float d. */
    memset(x + 96, 0, 32 * sizeof *x);
    x[96] = 1e-6f, x[97] = -0.25e-6f;

    slm_block_q8_0 b[4];
    memset(b, 0xAB, sizeof b);
    cpu_quantize_row_q8_0(x, 128, b);

    assert_int_equal(b[0].d, 0x3C00); /* 1.0 */
    for (int j = 0; j < 32; j++)
        assert_int_equal(b[0].qs[j], j < 9 ? q8_0_a[j] : 0);

    assert_int_equal(b[1].d, 0x0000);
    for (int j = 0; j < 32; j++)
        assert_int_equal(b[1].qs[j], 0);

    assert_int_equal(b[2].d, 0x2008);
    assert_int_equal(b[2].qs[0], 127);
    assert_int_equal(b[2].qs[1], 100);
    assert_int_equal(b[2].qs[2], -32);
    for (int j = 3; j < 32; j++)
        assert_int_equal(b[2].qs[j], 0);

    assert_int_equal(b[3].d, 0x0000);
    assert_int_equal(b[3].qs[0], 127);
    assert_int_equal(b[3].qs[1], -32); /* -31.75 */
}

/* Q8_K block P: the largest magnitude is positive (127), so iscale = -1,
** d = -1 and q = rint(-x), ties to even. x[16] = -127 has the same
** magnitude but comes later. */
static void row_q8_K_p(float *x)
{
    memset(x, 0, 256 * sizeof *x);
    x[0] = 127, x[1] = 2.5f, x[2] = -2.5f, x[3] = 3.5f, x[4] = 0.5f;
    x[5] = -1.5f, x[16] = -127, x[17] = 1.49f, x[255] = 100;
}

/* Q8_K block N: -127 comes before 127, so m = -127, iscale = 1, d = 1. */
static void row_q8_K_n(float *x)
{
    memset(x, 0, 256 * sizeof *x);
    x[0] = -127, x[1] = 127, x[2] = 2.5f, x[3] = -3.5f, x[4] = 126.5f;
}

static void test_act_q8_K(void **state)
{
    (void)state;
    float *x = calloc(4 * 256, sizeof *x);
    cpu_block_q8_K *b = malloc(4 * sizeof *b);
    assert_non_null(x);
    assert_non_null(b);
    row_q8_K_p(x);
    row_q8_K_n(x + 256);
    /* block 2 all zero: d = 0, q = 0, bsums = 0 */
    /* block 3: m = 63.5 makes iscale = -2 and d = -0.5 exactly */
    x[768] = 63.5f, x[769] = 1.25f, x[770] = -0.75f, x[771] = 0.25f;
    x[772] = -63.5f;
    memset(b, 0xAB, 4 * sizeof *b);
    cpu_quantize_row_q8_K(x, 1024, b);

    static const int8_t qp[6] = {-127, -2, 2, -4, 0, 2};
    assert_true(b[0].d == -1.0f);
    for (int j = 0; j < 256; j++) {
        int want = j < 6 ? qp[j] : j == 16 ? 127 : j == 17 ? -1
                 : j == 255 ? -100 : 0;
        assert_int_equal(b[0].qs[j], want);
    }
    for (int g = 0; g < 16; g++) /* -127-2+2-4+0+2; 127-1; -100 */
        assert_int_equal(b[0].bsums[g],
                         g == 0 ? -129 : g == 1 ? 126 : g == 15 ? -100 : 0);

    static const int8_t qn[5] = {-127, 127, 2, -4, 126};
    assert_true(b[1].d == 1.0f);
    for (int j = 0; j < 256; j++)
        assert_int_equal(b[1].qs[j], j < 5 ? qn[j] : 0);
    for (int g = 0; g < 16; g++)
        assert_int_equal(b[1].bsums[g], g == 0 ? 124 : 0);

    assert_true(b[2].d == 0.0f);
    for (int j = 0; j < 256; j++)
        assert_int_equal(b[2].qs[j], 0);
    for (int g = 0; g < 16; g++)
        assert_int_equal(b[2].bsums[g], 0);

    /* -127, rint(-2.5) = -2, rint(1.5) = 2, rint(-0.5) = 0, 127 */
    static const int8_t qh[5] = {-127, -2, 2, 0, 127};
    assert_true(b[3].d == -0.5f);
    for (int j = 0; j < 256; j++)
        assert_int_equal(b[3].qs[j], j < 5 ? qh[j] : 0);
    for (int g = 0; g < 16; g++)
        assert_int_equal(b[3].bsums[g], 0);
    free(x);
    free(b);
}

/* A block holding an infinity or NaN gets a NaN scale and zero quants, so
** that the dot product is NaN; the other blocks of the row are unaffected. */
static void test_act_non_finite(void **state)
{
    (void)state;
    float x[512] = {0};
    x[3] = NAN;
    x[32] = 1.0f;
    slm_block_q8_0 b8[2];
    cpu_quantize_row_q8_0(x, 64, b8);
    assert_true(isnan(slm_f16_to_f32(b8[0].d)));
    for (int j = 0; j < 32; j++)
        assert_int_equal(b8[0].qs[j], 0);
    assert_int_equal(b8[1].d, 0x2008); /* 1/127 as in block R */
    assert_int_equal(b8[1].qs[0], 127);

    x[3] = 0;
    x[300] = -INFINITY;
    x[0] = 2.0f;
    cpu_block_q8_K *bk = malloc(2 * sizeof *bk);
    assert_non_null(bk);
    cpu_quantize_row_q8_K(x, 512, bk);
    assert_true(bk[0].d == 1.0f / -63.5f); /* iscale = -127 / 2 exactly */
    assert_int_equal(bk[0].qs[0], -127);
    assert_true(isnan(bk[1].d));
    for (int j = 0; j < 256; j++)
        assert_int_equal(bk[1].qs[j], 0);
    for (int g = 0; g < 16; g++)
        assert_int_equal(bk[1].bsums[g], 0);
    free(bk);
}

/* What F16 and BF16 weights meet: activations rounded to nearest even. */
static void test_act_round(void **state)
{
    (void)state;
    assert_int_equal(cpu_act_row_bytes(SLM_DTYPE_Q4_0, 64), 2 * 34);
    assert_int_equal(cpu_act_row_bytes(SLM_DTYPE_Q8_0, 32), 34);
    assert_int_equal(cpu_act_row_bytes(SLM_DTYPE_Q4_K, 512), 2 * 292);
    assert_int_equal(cpu_act_row_bytes(SLM_DTYPE_Q6_K, 256), 292);
    assert_int_equal(cpu_act_row_bytes(SLM_DTYPE_F16, 5), 20);
    /* 1 + 2^-12 is halfway between the f16 neighbours 1 and 1 + 2^-11;
    ** 1 + 3 * 2^-12 halfway between 1 + 2^-11 and 1 + 2^-10 (even). */
    const float x[3] = {1 + 0x1p-12f, 1 + 3 * 0x1p-12f, -65520.0f};
    float got[3];
    cpu_prepare_act_row(SLM_DTYPE_F16, x, 3, got);
    assert_true(got[0] == 1.0f);
    assert_true(got[1] == 1 + 0x1p-10f);
    assert_true(isinf(got[2]) && got[2] < 0); /* past the f16 range */
    /* bf16 keeps 8 bits: 1 + 2^-8 is halfway, 1 + 3 * 2^-8 too (even up). */
    const float y[2] = {1 + 0x1p-8f, 1 + 3 * 0x1p-8f};
    cpu_prepare_act_row(SLM_DTYPE_BF16, y, 2, got);
    assert_true(got[0] == 1.0f);
    assert_true(got[1] == 1 + 0x1p-6f);
    cpu_prepare_act_row(SLM_DTYPE_F32, y, 2, got);
    assert_true(got[0] == y[0] && got[1] == y[1]);
}

/* MUL_MAT of one weight row (`bytes` bytes of dtype t, K elements) with one
** F32 activation row x[K]; returns dst[0]. */
static float mul_mat_1x1(Fixture *f, slm_dtype_t t, const void *row,
                         size_t bytes, int64_t K, const float *x)
{
    const slm_backend_t *be = f->be;
    void *wbuf, *wbase, *xbuf, *xbase, *dbuf, *dbase;
    size_t xb = (size_t)K * 4;
    assert_int_equal(be->buffer_alloc(f->dev, bytes, SLM_BUFFER_WEIGHTS,
                                      &wbuf, &wbase), SLM_OK);
    assert_int_equal(be->buffer_alloc(f->dev, xb, SLM_BUFFER_IO, &xbuf,
                                      &xbase), SLM_OK);
    assert_int_equal(be->buffer_alloc(f->dev, 4, SLM_BUFFER_IO, &dbuf,
                                      &dbase), SLM_OK);
    assert_int_equal(be->buffer_write(f->dev, wbuf, 0, row, bytes), SLM_OK);
    assert_int_equal(be->buffer_write(f->dev, xbuf, 0, x, xb), SLM_OK);
    size_t bb = slm_dtype_block_bytes(t);
    slm_tensor_t w = {.dtype = t, .ne = {K, 1, 1, 1},
                      .nb = {bb, bytes, bytes, bytes},
                      .buffer = wbuf, .data = wbase};
    slm_tensor_t xt = {.dtype = SLM_DTYPE_F32, .ne = {K, 1, 1, 1},
                       .nb = {4, xb, xb, xb}, .buffer = xbuf, .data = xbase};
    slm_tensor_t dst = {.dtype = SLM_DTYPE_F32, .ne = {1, 1, 1, 1},
                        .nb = {4, 4, 4, 4}, .buffer = dbuf, .data = dbase};
    slm_node_t node = {.op = SLM_OP_MUL_MAT, .dst = &dst, .src = {&w, &xt}};
    slm_graph_t graph = {1, &node};
    assert_true(be->supports_node(f->dev, &node));
    assert_int_equal(be->graph_compute(f->dev, &graph), SLM_OK);
    float out;
    assert_int_equal(be->buffer_read(f->dev, dbuf, 0, &out, 4), SLM_OK);
    be->buffer_free(f->dev, wbuf);
    be->buffer_free(f->dev, xbuf);
    be->buffer_free(f->dev, dbuf);
    return out;
}

/* The quantised activations as MUL_MAT sees them, with weights whose every
** element is 1 so that the dot product sums the activation quants. Each
** result is exact in float, and differs from the F32 dot product. */
static void test_mul_mat_quantises_activations(void **state)
{
    Fixture *f = *state;
    float x[256];

    /* Q8_0 weight, d = 1 and every quant 1, against blocks A and R:
    ** A: (-127 + 3 - 3 + 1 - 1 + 2 + 127 + 3) * 1 = 5;
    ** R: (127 + 100 - 32) * 0.00787353515625 = 1.53533935546875.
    ** (The F32 activations would give 6.5413.) */
    uint8_t q8[68];
    for (int b = 0; b < 2; b++) {
        q8[34 * b] = 0x00, q8[34 * b + 1] = 0x3C;
        memset(q8 + 34 * b + 2, 1, 32);
    }
    row_q8_0_a(x);
    row_q8_0_r(x + 32);
    assert_true(mul_mat_1x1(f, SLM_DTYPE_Q8_0, q8, sizeof q8, 64, x) ==
                6.53533935546875f);

    /* Q4_0 weight, d = 1 and every nibble 9 (9 - 8 = 1), against block A: 5. */
    uint8_t q4[18] = {0x00, 0x3C};
    memset(q4 + 2, 0x99, 16);
    row_q8_0_a(x);
    assert_true(mul_mat_1x1(f, SLM_DTYPE_Q4_0, q4, sizeof q4, 32, x) == 5.0f);

    /* Q6_K weight, d = 1, scales 1, every quant 33 (low nibble 1, high bits
    ** 2), against block N: d = 1 and the quants sum to 124 (F32: 125.5). */
    uint8_t q6[210];
    memset(q6, 0x11, 128);
    memset(q6 + 128, 0xAA, 64);
    memset(q6 + 192, 1, 16);
    q6[208] = 0x00, q6[209] = 0x3C;
    row_q8_K_n(x);
    assert_true(mul_mat_1x1(f, SLM_DTYPE_Q6_K, q6, sizeof q6, 256, x) ==
                124.0f);

    /* Q4_K weight, d = dmin = 1, every scale and min 1, every quant 2, so
    ** every element is 1 * 2 - 1 = 1; against block P (d = -1, quants summing
    ** to -129 + 126 - 100 = -103): (1 * -1) * (2 * -103) - (1 * -1) * -103
    ** = 206 - 103 = 103 (F32: 103.99). */
    uint8_t q4k[144] = {0x00, 0x3C, 0x00, 0x3C,
                        1, 1, 1, 1, 1, 1, 1, 1, 0x11, 0x11, 0x11, 0x11};
    memset(q4k + 16, 0x22, 128);
    row_q8_K_p(x);
    assert_true(mul_mat_1x1(f, SLM_DTYPE_Q4_K, q4k, sizeof q4k, 256, x) ==
                103.0f);

    /* A NaN activation makes the result NaN, as with F32 activations. */
    x[7] = NAN;
    assert_true(isnan(mul_mat_1x1(f, SLM_DTYPE_Q4_K, q4k, sizeof q4k, 256,
                                  x)));
    row_q8_0_a(x);
    x[7] = INFINITY;
    assert_true(isnan(mul_mat_1x1(f, SLM_DTYPE_Q4_0, q4, sizeof q4, 32, x)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_block_sizes),
        cmocka_unit_test_setup_teardown(test_q4_0, setup, teardown),
        cmocka_unit_test_setup_teardown(test_q8_0, setup, teardown),
        cmocka_unit_test_setup_teardown(test_q4_K, setup, teardown),
        cmocka_unit_test_setup_teardown(test_q6_K_by_hand, setup, teardown),
        cmocka_unit_test_setup_teardown(test_q6_K_all_positions, setup, teardown),
        cmocka_unit_test(test_f16_exhaustive),
        cmocka_unit_test(test_f16_rounding),
        cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_act_q8_0),
        cmocka_unit_test(test_act_q8_K),
        cmocka_unit_test(test_act_non_finite),
        cmocka_unit_test(test_act_round),
        cmocka_unit_test_setup_teardown(test_mul_mat_quantises_activations,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
