/*
** simd_kquant_x86.c -- Q4_K and Q6_K weights against Q8_K activations with
** x86 integer dot products, shared by cpu-avx2 and cpu-avx512: each
** compiles it with its own -m flags (simd_vec.h's VL tells which). Both
** list their own prompt tiles in their SimdKernels (cpu-avx2/avx2_kquant.c,
** cpu-avx512/avx512_kquant.c), which call these for one column (decode).
** cpu-neon has its own (cpu-neon/neon_kernels.c).
*/
#include <string.h>

#include "simd_internal.h"
#include "simd_vec.h"

static inline float f16_at(const void *p)
{
    uint16_t h;
    memcpy(&h, p, sizeof h);
    return _cvtsh_ss(h);
}

static inline void st(char *p, float v)
{
    memcpy(p, &v, sizeof v);
}

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

typedef void (*TileFn)(const SimdMat *m, int64_t r, int c0);

/*
** 256-bit kernels, one weight row against up to KCT columns; what reaches
** them is cpu-avx2's decode (one column), since both variants take prompts
** in their own tiles and cpu-avx512 decodes at 512 bits (below). Quants
** are unsigned (maddubs: u8 x s8 -> pairs of s16, which cannot saturate
** for 4- or 6-bit quants), scales are applied with madd as 16-bit factors,
** and a super-block's integer sum becomes float once.
*/
#define KCT 4

static inline float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

SIMD_INLINE void q4_K_tile(const SimdMat *m, int64_t r, int c0, const int C)
{
    const uint8_t *w = (const uint8_t *)m->w + (size_t)r * m->w_stride;
    const BlockQ8K *x[KCT];
    __m256 acc[KCT], accm[KCT];
    for (int j = 0; j < C; j++) {
        x[j] = (const BlockQ8K *)m->x[c0 + j];
        acc[j] = accm[j] = _mm256_setzero_ps();
    }
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    for (int64_t b = 0; b < m->K / SLM_QK_K; b++, w += sizeof(slm_block_q4_K)) {
        float d = f16_at(w), dmin = f16_at(w + 2);
        uint8_t sc[8], mn[8];
        simd_q4_K_scales(w + 4, sc, mn);
        __m256i sum[KCT];
        for (int j = 0; j < C; j++)
            sum[j] = _mm256_setzero_si256();
        for (int p = 0; p < 4; p++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(w + 16 + 32 * p));
            __m256i lo = _mm256_and_si256(q, low4);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
            __m256i s_lo = _mm256_set1_epi16(sc[2 * p]);
            __m256i s_hi = _mm256_set1_epi16(sc[2 * p + 1]);
            for (int j = 0; j < C; j++) {
                const int8_t *xq = x[j][b].qs + 64 * p;
                __m256i x_lo = _mm256_loadu_si256((const __m256i *)xq);
                __m256i x_hi = _mm256_loadu_si256((const __m256i *)(xq + 32));
                __m256i p_lo = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, x_lo), s_lo);
                __m256i p_hi = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, x_hi), s_hi);
                sum[j] = _mm256_add_epi32(sum[j], _mm256_add_epi32(p_lo, p_hi));
            }
        }
        /* mins: lane s of the madd is m[s] * (bsums[2s] + bsums[2s + 1]) */
        __m256i m32 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)mn));
        __m256i m16 = _mm256_or_si256(m32, _mm256_slli_epi32(m32, 16));
        for (int j = 0; j < C; j++) {
            float dx = x[j][b].d;
            acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum[j]), _mm256_set1_ps(d * dx), acc[j]);
            __m256i bs = _mm256_loadu_si256((const __m256i *)x[j][b].bsums);
            accm[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(bs, m16)),
                                      _mm256_set1_ps(dmin * dx), accm[j]);
        }
    }
    for (int j = 0; j < C; j++)
        st(m->y[c0 + j] + (size_t)r * m->y_step, hsum8(acc[j]) - hsum8(accm[j]));
}

SIMD_INLINE void q6_K_tile(const SimdMat *m, int64_t r, int c0, const int C)
{
    const uint8_t *w = (const uint8_t *)m->w + (size_t)r * m->w_stride;
    const BlockQ8K *x[KCT];
    __m256 acc[KCT];
    for (int j = 0; j < C; j++) {
        x[j] = (const BlockQ8K *)m->x[c0 + j];
        acc[j] = _mm256_setzero_ps();
    }
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    for (int64_t b = 0; b < m->K / SLM_QK_K; b++, w += sizeof(slm_block_q6_K)) {
        const uint8_t *ql = w, *qh = w + 128;
        const int8_t *sc = (const int8_t *)(w + 192);
        float d = f16_at(w + 208);
        __m256i sum[KCT];
        for (int j = 0; j < C; j++)
            sum[j] = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i l0 = _mm256_loadu_si256((const __m256i *)(ql + 64 * h));
            __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 64 * h + 32));
            __m256i hb = _mm256_loadu_si256((const __m256i *)(qh + 32 * h));
            /* the four 32-element groups of this half, 6-bit, unsigned */
            __m256i q[4], h2[4];
            for (int g = 0; g < 4; g++) /* bits 2g, 2g + 1 of qh */
                h2[g] = _mm256_and_si256(hb, _mm256_set1_epi8((char)(3 << (2 * g))));
            q[0] = _mm256_or_si256(_mm256_and_si256(l0, low4), _mm256_slli_epi16(h2[0], 4));
            q[1] = _mm256_or_si256(_mm256_and_si256(l1, low4), _mm256_slli_epi16(h2[1], 2));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low4), h2[2]);
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low4),
                                   _mm256_srli_epi16(h2[3], 2));
            for (int g = 0; g < 4; g++) {
                const int8_t *s = sc + 8 * h + 2 * g;
                __m256i sv = _mm256_set_m128i(_mm_set1_epi16(s[1]), _mm_set1_epi16(s[0]));
                for (int j = 0; j < C; j++) {
                    __m256i xv = _mm256_loadu_si256(
                        (const __m256i *)(x[j][b].qs + 128 * h + 32 * g));
                    sum[j] = _mm256_add_epi32(
                        sum[j], _mm256_madd_epi16(_mm256_maddubs_epi16(q[g], xv), sv));
                }
            }
        }
        /* the quants are stored +32: subtract 32 * sum(scale * bsum) */
        __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)sc));
        for (int j = 0; j < C; j++) {
            __m256i bs = _mm256_loadu_si256((const __m256i *)x[j][b].bsums);
            __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(bs, sc16), 5);
            __m256i tot = _mm256_sub_epi32(sum[j], corr);
            acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(tot),
                                     _mm256_set1_ps(d * x[j][b].d), acc[j]);
        }
    }
    for (int j = 0; j < C; j++)
        st(m->y[c0 + j] + (size_t)r * m->y_step, hsum8(acc[j]));
}

#if VL == 16
/*
** Q6_K decode (one column) at 512 bits: a zmm of ql holds the low 4 bits
** of 64 consecutive elements and, in its high nibbles, those of the next
** 64; the 32 bytes of qh, repeated in both halves, give each its top 2
** bits by a per-half shift. vpmaddubsw makes 16-bit pairs, vpmaddwd applies
** the 16 scales (each over the 8 pairs of its 16 elements); the stored +32
** is taken back once per super-block from the activations' group sums.
*/
#define PREFETCH_K 8192

static float q6_K_row(const uint8_t *w, const BlockQ8K *x, int64_t nsb)
{
    const __m512i m4 = _mm512_set1_epi8(0x0F), m3 = _mm512_set1_epi8(0x03);
    const __m512i sh_lo = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    const __m512i sh_hi = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(6), 1);
    /* 16-bit lane i of a 64-element product belongs to 16-element group i / 8 */
    const __m512i g = _mm512_set_epi16(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2,
                                       1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t b = 0; b < nsb; b++, w += sizeof(slm_block_q6_K)) {
        for (int o = 0; o < 256; o += 64)
            _mm_prefetch((const char *)w + PREFETCH_K + o, _MM_HINT_T0);
        const uint8_t *ql = w, *qh = w + 128;
        __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(w + 192)));
        __m512i scz = _mm512_castsi256_si512(sc16);
        __m512i sum = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            __m512i L = _mm512_loadu_si512((const void *)(ql + 64 * h));
            __m512i H = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(qh + 32 * h)));
            __m512i qlo = _mm512_or_si512(
                _mm512_and_si512(L, m4),
                _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(H, sh_lo), m3), 4));
            __m512i qhi = _mm512_or_si512(
                _mm512_and_si512(_mm512_srli_epi16(L, 4), m4),
                _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(H, sh_hi), m3), 4));
            __m512i s_lo = _mm512_permutexvar_epi16(
                _mm512_add_epi16(g, _mm512_set1_epi16((short)(8 * h))), scz);
            __m512i s_hi = _mm512_permutexvar_epi16(
                _mm512_add_epi16(g, _mm512_set1_epi16((short)(8 * h + 4))), scz);
            const int8_t *xq = x[b].qs + 128 * h;
            __m512i p_lo = _mm512_maddubs_epi16(qlo, _mm512_loadu_si512((const void *)xq));
            __m512i p_hi = _mm512_maddubs_epi16(qhi, _mm512_loadu_si512((const void *)(xq + 64)));
            sum = _mm512_add_epi32(sum, _mm512_add_epi32(_mm512_madd_epi16(p_lo, s_lo),
                                                         _mm512_madd_epi16(p_hi, s_hi)));
        }
        __m256i corr = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)x[b].bsums), sc16);
        sum = _mm512_sub_epi32(sum, _mm512_zextsi256_si512(_mm256_slli_epi32(corr, 5)));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum),
                              _mm512_set1_ps(f16_at(w + 208) * x[b].d), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

static bool decode_q6_K(const SimdMat *m, int64_t r0, int64_t r1)
{
    if (m->n_cols != 1)
        return false;
    for (int64_t r = r0; r < r1; r++)
        st(m->y[0] + (size_t)r * m->y_step,
           q6_K_row((const uint8_t *)m->w + (size_t)r * m->w_stride,
                    (const BlockQ8K *)m->x[0], m->K / SLM_QK_K));
    return true;
}
/*
** Q4_K decode at 512 bits: a zmm of 64 quant bytes holds sub-blocks 2p and
** 2p + 2 in its low nibbles and 2p + 1, 2p + 3 in its high ones, met by
** activations loaded in the same two halves; vpmaddwd applies each
** sub-block's scale to its 16 pairs, and the mins come from the group sums.
*/
static float q4_K_row(const uint8_t *w, const BlockQ8K *x, int64_t nsb)
{
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    /* 16-bit lane i belongs to the first sub-block of the pair for i < 16 */
    const __m512i half = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    __m512 acc = _mm512_setzero_ps();
    __m256 accm = _mm256_setzero_ps();
    for (int64_t b = 0; b < nsb; b++, w += sizeof(slm_block_q4_K)) {
        for (int o = 0; o < 192; o += 64)
            _mm_prefetch((const char *)w + PREFETCH_K + o, _MM_HINT_T0);
        uint8_t sc[8], mn[8];
        simd_q4_K_scales(w + 4, sc, mn);
        __m512i sc16 = _mm512_castsi128_si512(
            _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)sc)));
        const int8_t *xq = x[b].qs;
        __m512i sum = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) { /* elements 128h .. 128h + 127 */
            __m512i z = _mm512_loadu_si512((const void *)(w + 16 + 64 * h));
            __m512i lo = _mm512_and_si512(z, m4);
            __m512i hi = _mm512_and_si512(_mm512_srli_epi16(z, 4), m4);
            const int8_t *xh = xq + 128 * h;
            __m512i x_lo = _mm512_inserti64x4(
                _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)xh)),
                _mm256_loadu_si256((const __m256i *)(xh + 64)), 1);
            __m512i x_hi = _mm512_inserti64x4(
                _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(xh + 32))),
                _mm256_loadu_si256((const __m256i *)(xh + 96)), 1);
            /* sub-blocks 4h, 4h + 2 (low nibbles) and 4h + 1, 4h + 3 */
            __m512i s_lo = _mm512_permutexvar_epi16(
                _mm512_add_epi16(half, _mm512_set1_epi16((short)(4 * h))), sc16);
            __m512i s_hi = _mm512_permutexvar_epi16(
                _mm512_add_epi16(half, _mm512_set1_epi16((short)(4 * h + 1))), sc16);
            sum = _mm512_add_epi32(sum, _mm512_add_epi32(
                _mm512_madd_epi16(_mm512_maddubs_epi16(lo, x_lo), s_lo),
                _mm512_madd_epi16(_mm512_maddubs_epi16(hi, x_hi), s_hi)));
        }
        float dx = x[b].d;
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_set1_ps(f16_at(w) * dx), acc);
        /* mins: lane s of the madd is m[s] * (bsums[2s] + bsums[2s + 1]) */
        __m256i m32 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)mn));
        __m256i m16 = _mm256_or_si256(m32, _mm256_slli_epi32(m32, 16));
        __m256i bs = _mm256_loadu_si256((const __m256i *)x[b].bsums);
        accm = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(bs, m16)),
                               _mm256_set1_ps(f16_at(w + 2) * dx), accm);
    }
    return _mm512_reduce_add_ps(acc) - hsum8(accm);
}

static bool decode_q4_K(const SimdMat *m, int64_t r0, int64_t r1)
{
    if (m->n_cols != 1)
        return false;
    for (int64_t r = r0; r < r1; r++)
        st(m->y[0] + (size_t)r * m->y_step,
           q4_K_row((const uint8_t *)m->w + (size_t)r * m->w_stride,
                    (const BlockQ8K *)m->x[0], m->K / SLM_QK_K));
    return true;
}
#else /* AVX2: the 256-bit tiles serve one column */
static bool decode_q4_K(const SimdMat *m, int64_t r0, int64_t r1)
{
    (void)m, (void)r0, (void)r1;
    return false;
}

static bool decode_q6_K(const SimdMat *m, int64_t r0, int64_t r1)
{
    (void)m, (void)r0, (void)r1;
    return false;
}
#endif

#define KTILES(name)                                                              \
    static void name##_1(const SimdMat *m, int64_t r, int c) { name##_tile(m, r, c, 1); } \
    static void name##_2(const SimdMat *m, int64_t r, int c) { name##_tile(m, r, c, 2); } \
    static void name##_3(const SimdMat *m, int64_t r, int c) { name##_tile(m, r, c, 3); } \
    static void name##_4(const SimdMat *m, int64_t r, int c) { name##_tile(m, r, c, 4); } \
    static void mat_##name(const SimdMat *m, int64_t r0, int64_t r1)              \
    {                                                                             \
        static const TileFn t[KCT] = {name##_1, name##_2, name##_3, name##_4};    \
        if (decode_##name(m, r0, r1))                                             \
            return;                                                               \
        for (int64_t r = r0; r < r1; r++)                                         \
            for (int c = 0; c < m->n_cols; c += KCT)                              \
                t[min64(KCT, m->n_cols - c) - 1](m, r, c);                        \
    }

KTILES(q4_K)
KTILES(q6_K)

void simd_x86_mat_q4_K(const SimdMat *m, int64_t r0, int64_t r1)
{
    mat_q4_K(m, r0, r1);
}

void simd_x86_mat_q6_K(const SimdMat *m, int64_t r0, int64_t r1)
{
    mat_q6_K(m, r0, r1);
}
