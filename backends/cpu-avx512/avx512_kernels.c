/*
** avx512_kernels.c -- Q8_0 and Q4_0 weights against Q8_0-style activations
** with 512-bit integer dot products; Q4_K and Q6_K prompts come from
** avx512_kquant.c, included at the end so that both builds have them.
**
** Built twice: with -mavx512vnni (vpdpbusd) and without (vpmaddubsw +
** vpmaddwd), as avx512_kernels_novnni.c; the variant picks one at open.
**
** vpdpbusd multiplies unsigned by signed bytes, so the weights are made
** unsigned: Q4_0's nibbles already are (q = nibble - 8), and Q8_0's are
** offset by 128 (xor 0x80). Either offset times the block's activation sum
** is taken back by starting the dot product from a precomputed correction,
** -offset * sum(x), kept with the activations; so a block costs one
** vpdpbusd per column and no extra op. Without VNNI, vpmaddubsw could
** saturate on Q8_0 + 128, so Q8_0 moves the weight's sign onto the
** activations instead (|w| x sign(w) x) and needs no correction.
**
** Two kernels. Several columns (prompts): tiles of up to 4 weight rows x
** 4 columns, two blocks per zmm, each pair's 16 partial sums scaled at
** once by both blocks' scales. One column (decode, where the weights
** stream from memory once per token): one row at a time, 16 blocks per
** step, whose 8 zmm of partial sums are folded into one zmm of 16 block
** sums before a single convert-and-scale; the 16 weight scales are picked
** out of the blocks with two word permutes.
**
** Activation row layout (q8_row_bytes, quantize_q8), for K elements in
** nb = K / 32 blocks, np = (nb + 1) / 2 pairs and ng = nb / 16 groups:
**   int8  qs[K], padded to 64 bytes; for Q4_0 weights the blocks of each
**                full quad (below) are stored as the quad's four low
**                halves (elements 0-15), then its four high halves
**   float ex[np][16]   lanes 0-7: scale of block 2p, lanes 8-15: of 2p + 1
**   int32 cr[np][16]   lane 0: correction of block 2p, lane 8: of 2p + 1
**   float gd[ng][16]   group g's 16 scales in fold order (below)
**   int32 gc[ng][16]   and its 16 corrections
**   float qd[nq][16]   Q4_0 only, nq = nb / 4 quads: scale of block i of
**                      the quad over lanes 4i .. 4i + 3
**   int32 qc[nq][16]   and the corrections, in lanes 4i
** Q4_0 tiles take four blocks a step: one zmm holds four blocks' quants,
** whose low and high nibbles meet the matching halves of the activations,
** which the quad order of qs gives as two plain loads.
*/
#include <float.h>
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "../cpu-simd/simd_internal.h"

#if defined(__AVX512VNNI__)
#define KERNELS simd_avx512_vnni_kernels
#else
#define KERNELS simd_avx512_kernels
#endif

#define INLINE static inline __attribute__((always_inline))

/* Tile: rows x columns of zmm accumulators. */
#define RT 4
#define CT 4

/* Bytes ahead of the decode kernel's reads to prefetch: the hardware
** prefetchers alone leave a single stream short of the bandwidth. */
#define PREFETCH 8192

/* The block whose sum the decode kernel's fold leaves in lane L: Q8_0
** folds 8 zmm of block pairs (fold16), Q4_0 4 zmm of block quads (fold4). */
static const int fold_block[16] = {0, 2, 4, 6, 1, 3, 5, 7, 8, 10, 12, 14, 9, 11, 13, 15};
static const int fold4_block[16] = {0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15};

/* ------------------------------------------------------------- layout */

static inline size_t qs_bytes(int64_t K) { return simd_align64((size_t)K); }
static inline int64_t n_pairs(int64_t K) { return (K / 32 + 1) / 2; }
static inline int64_t n_groups(int64_t K) { return K / 32 / 16; }
static inline int64_t n_quads(int64_t K) { return K / 32 / 4; }

static size_t q8_row_bytes(int64_t K)
{
    return qs_bytes(K) + (size_t)(n_pairs(K) + n_groups(K) + n_quads(K)) * 128;
}

typedef struct ActRow {
    const int8_t *qs;
    const float *ex;
    const int32_t *cr;
    const float *gd;
    const int32_t *gc;
    const float *qd;
    const int32_t *qc;
} ActRow;

static inline ActRow act_row(const void *row, int64_t K)
{
    ActRow a;
    a.qs = row;
    a.ex = (const float *)((const char *)row + qs_bytes(K));
    a.cr = (const int32_t *)(a.ex + 16 * n_pairs(K));
    a.gd = (const float *)(a.cr + 16 * n_pairs(K));
    a.gc = (const int32_t *)(a.gd + 16 * n_groups(K));
    a.qd = (const float *)(a.gc + 16 * n_groups(K));
    a.qc = (const int32_t *)(a.qd + 16 * n_quads(K));
    return a;
}

static inline float f16_at(const void *p)
{
    uint16_t h;
    memcpy(&h, p, sizeof h);
    return _cvtsh_ss(h);
}

/* ------------------------------------------------------- quantisation */

/* roundf: to nearest, ties away from zero (rint would take them to even). */
static inline __m512 round_away(__m512 p)
{
    __m512 t = _mm512_roundscale_ps(p, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_roundscale_ps(p, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __mmask16 tie = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_sub_ps(p, t)),
                                       _mm512_set1_ps(0.5f), _CMP_EQ_OQ);
    __m512 away = _mm512_add_ps(t, _mm512_castsi512_ps(_mm512_or_si512(
        _mm512_castps_si512(_mm512_set1_ps(1.0f)),
        _mm512_and_si512(_mm512_castps_si512(p), _mm512_set1_epi32((int)0x80000000u)))));
    return _mm512_mask_blend_ps(tie, r, away);
}

/* The Q8_0 activation quantisation of graph.h, bit for bit: per block of
** 32, d = amax / 127 kept as f16; q = roundf(x * (1 / d)) with 1 / d from
** the float d; a block holding an infinity or NaN gets a NaN scale and
** zero quants. */
static void quantize_q8(const float *x, int64_t K, void *out, slm_dtype_t wtype)
{
    int64_t nb = K / 32;
#if defined(__AVX512VNNI__)
    int offset = wtype == SLM_DTYPE_Q8_0 ? 128 : 8;
#else
    int offset = wtype == SLM_DTYPE_Q8_0 ? 0 : 8;
#endif
    int8_t *qs = out;
    float *ex = (float *)((char *)out + qs_bytes(K));
    int32_t *cr = (int32_t *)(ex + 16 * n_pairs(K));
    float *gd = (float *)(cr + 16 * n_pairs(K));
    int32_t *gc = (int32_t *)(gd + 16 * n_groups(K));
    float *qd = (float *)(gc + 16 * n_groups(K));
    int32_t *qc = (int32_t *)(qd + 16 * n_quads(K));
    memset(ex, 0, (size_t)n_pairs(K) * 128);
    if (wtype == SLM_DTYPE_Q4_0)
        memset(qd, 0, (size_t)n_quads(K) * 128);
    for (int64_t b = 0; b < nb; b++, x += 32) {
        __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
        /* x - x is 0, or NaN for an infinity or NaN */
        __m512 fin = _mm512_add_ps(_mm512_sub_ps(v0, v0), _mm512_sub_ps(v1, v1));
        float dh;
        int32_t corr = 0;
        /* Q4_0 tiles read full quads in quad order (layout above) */
        int64_t lo_at[2] = {32 * b, 32 * b + 16};
        if (wtype == SLM_DTYPE_Q4_0 && b < 4 * n_quads(K)) {
            lo_at[0] = 128 * (b / 4) + 16 * (b % 4);
            lo_at[1] = lo_at[0] + 64;
        }
        if (_mm512_cmp_ps_mask(fin, fin, _CMP_UNORD_Q)) {
            memset(qs + lo_at[0], 0, 16);
            memset(qs + lo_at[1], 0, 16);
            dh = NAN;
        } else {
            float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
            float d = amax / 127.0f;
            float id = d >= FLT_MIN ? 1.0f / d : 0.0f; /* graph.h */
            __m512 vid = _mm512_set1_ps(id);
            __m512i q0 = _mm512_cvtps_epi32(round_away(_mm512_mul_ps(v0, vid)));
            __m512i q1 = _mm512_cvtps_epi32(round_away(_mm512_mul_ps(v1, vid)));
            _mm_storeu_si128((__m128i *)(qs + lo_at[0]), _mm512_cvtsepi32_epi8(q0));
            _mm_storeu_si128((__m128i *)(qs + lo_at[1]), _mm512_cvtsepi32_epi8(q1));
            corr = -offset * _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
            dh = _cvtsh_ss(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT));
        }
        int64_t pair = b / 2, half = b % 2;
        for (int l = 0; l < 8; l++)
            ex[16 * pair + 8 * half + l] = dh;
        cr[16 * pair + 8 * half] = corr;
        if (wtype == SLM_DTYPE_Q4_0 && b < 4 * n_quads(K)) {
            int64_t q = b / 4, i = b % 4;
            for (int l = 0; l < 4; l++)
                qd[16 * q + 4 * i + l] = dh;
            qc[16 * q + 4 * i] = corr;
        }
        if (b < 16 * n_groups(K)) {
            int64_t g = b / 16;
            const int *order = wtype == SLM_DTYPE_Q4_0 ? fold4_block : fold_block;
            for (int l = 0; l < 16; l++)
                if (order[l] == b % 16) {
                    gd[16 * g + l] = dh;
                    gc[16 * g + l] = corr;
                }
        }
    }
}

/* ---------------------------------------------------------- helpers */

static const int64_t bsz_q8_0 = sizeof(slm_block_q8_0);
static const int64_t bsz_q4_0 = sizeof(slm_block_q4_0);

/* The scales of two consecutive blocks, each over 8 lanes. */
INLINE __m512 pair_scale(const uint8_t *b0, const uint8_t *b1)
{
    uint16_t h0, h1;
    memcpy(&h0, b0, 2);
    memcpy(&h1, b1, 2);
    __m256i h = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16((short)h0)),
                                        _mm_set1_epi16((short)h1), 1);
    return _mm512_cvtph_ps(h);
}

/* u8 x s8 dot product, four bytes per 32-bit lane, added to acc. The
** emulation is exact when no pair of products exceeds 32767. */
INLINE __m512i dot_u8s8(__m512i acc, __m512i u, __m512i s)
{
#if defined(__AVX512VNNI__)
    return _mm512_dpbusd_epi32(acc, u, s);
#else
    return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(u, s),
                                                   _mm512_set1_epi16(1)));
#endif
}

INLINE __m256i dot_u8s8_256(__m256i acc, __m256i u, __m256i s)
{
#if defined(__AVX512VNNI__)
    return _mm256_dpbusd_epi32(acc, u, s);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s),
                                                   _mm256_set1_epi16(1)));
#endif
}

/* Two Q4_0 blocks' nibbles in element order: [b0 lo, b0 hi, b1 lo, b1 hi]. */
INLINE __m512i q4_pair(const uint8_t *b0, const uint8_t *b1)
{
    __m256i q = _mm256_inserti128_si256(
        _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(b0 + 2))),
        _mm_loadu_si128((const __m128i *)(b1 + 2)), 1);
    const __m512i dup = _mm512_set_epi64(3, 2, 3, 2, 1, 0, 1, 0);
    const __m512i shift = _mm512_set_epi64(4, 4, 0, 0, 4, 4, 0, 0);
    __m512i t = _mm512_permutexvar_epi64(dup, _mm512_castsi256_si512(q));
    return _mm512_and_si512(_mm512_srlv_epi64(t, shift), _mm512_set1_epi8(0x0F));
}

INLINE __m256i q4_one(const uint8_t *b)
{
    __m128i q = _mm_loadu_si128((const __m128i *)(b + 2));
    __m256i t = _mm256_inserti128_si256(_mm256_castsi128_si256(q), _mm_srli_epi16(q, 4), 1);
    return _mm256_and_si256(t, _mm256_set1_epi8(0x0F));
}

/* Two Q8_0 blocks' quants, made unsigned for vpdpbusd where it is used. */
INLINE __m512i q8_pair(const uint8_t *b0, const uint8_t *b1)
{
    __m512i w = _mm512_inserti64x4(
        _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(b0 + 2))),
        _mm256_loadu_si256((const __m256i *)(b1 + 2)), 1);
#if defined(__AVX512VNNI__)
    w = _mm512_xor_si512(w, _mm512_set1_epi8((char)0x80));
#endif
    return w;
}

/* The dot product of a weight pair with activations xv and correction cr
** (unused for Q8_0 without VNNI, which moves the sign instead). */
INLINE __m512i pair_dot(__m512i wq, __m512i xv, __m512i cr, const bool q4)
{
    (void)q4;
#if !defined(__AVX512VNNI__)
    if (!q4) {
        __mmask64 neg = _mm512_movepi8_mask(wq);
        __m512i sx = _mm512_mask_sub_epi8(xv, neg, _mm512_setzero_si512(), xv);
        return dot_u8s8(_mm512_setzero_si512(), _mm512_abs_epi8(wq), sx);
    }
#endif
    return dot_u8s8(cr, wq, xv);
}

INLINE float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* ------------------------------------------------------------- tiles */

/* Pairs [p0, np) and the odd last block, for R rows x C columns, added to
** acc and tail. */
INLINE void pairs_and_tail(const uint8_t **w, const ActRow *x, int64_t K,
                           int64_t p0, const int R, const int C, const bool q4,
                           __m512 acc[RT][CT], float tail[RT][CT])
{
    const int64_t nb = K / 32, np = nb / 2;
    const int64_t bsz = q4 ? bsz_q4_0 : bsz_q8_0;
    for (int64_t p = p0; p < np; p++) {
        __m512i wq[RT];
        __m512 ew[RT];
        for (int i = 0; i < R; i++) {
            const uint8_t *b0 = w[i] + 2 * p * bsz, *b1 = b0 + bsz;
            wq[i] = q4 ? q4_pair(b0, b1) : q8_pair(b0, b1);
            ew[i] = pair_scale(b0, b1);
        }
        for (int j = 0; j < C; j++) {
            __m512i xv = _mm512_loadu_si512((const void *)(x[j].qs + 64 * p));
            __m512 ex = _mm512_loadu_ps(x[j].ex + 16 * p);
            __m512i cr = _mm512_loadu_si512((const void *)(x[j].cr + 16 * p));
            for (int i = 0; i < R; i++) {
                __m512i dp = pair_dot(wq[i], xv, cr, q4);
                acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dp),
                                            _mm512_mul_ps(ew[i], ex), acc[i][j]);
            }
        }
    }
    if (nb % 2 == 0)
        return;
    int64_t p = np; /* the last block alone, in the low half of a pair */
    for (int i = 0; i < R; i++) {
        const uint8_t *b = w[i] + 2 * p * bsz;
        __m256i wv;
        if (q4) {
            wv = q4_one(b);
        } else {
            wv = _mm256_loadu_si256((const __m256i *)(b + 2));
#if defined(__AVX512VNNI__)
            wv = _mm256_xor_si256(wv, _mm256_set1_epi8((char)0x80));
#endif
        }
        __m256 ew = _mm256_set1_ps(f16_at(b));
        for (int j = 0; j < C; j++) {
            __m256i xv = _mm256_loadu_si256((const __m256i *)(x[j].qs + 64 * p));
            __m256 ex = _mm256_loadu_ps(x[j].ex + 16 * p);
            __m256i dp;
#if !defined(__AVX512VNNI__)
            if (!q4) {
                __m256i sx = _mm256_sign_epi8(xv, wv);
                dp = dot_u8s8_256(_mm256_setzero_si256(), _mm256_abs_epi8(wv), sx);
            } else
#endif
            {
                __m256i cr = _mm256_loadu_si256((const __m256i *)(x[j].cr + 16 * p));
                dp = dot_u8s8_256(cr, wv, xv);
            }
            tail[i][j] += hsum8(_mm256_mul_ps(_mm256_cvtepi32_ps(dp), _mm256_mul_ps(ew, ex)));
        }
    }
}

/* Four Q4_0 blocks' quants in one zmm, block i in 128-bit lane i. (Four
** loads and inserts: on Zen 4 a two-source word permute of the quad's 72
** bytes is slower.) */
INLINE __m512i q4_quad(const uint8_t *b)
{
    const int64_t bsz = bsz_q4_0;
    __m512i z = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(b + 2)));
    z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(b + bsz + 2)), 1);
    z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(b + 2 * bsz + 2)), 2);
    return _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(b + 3 * bsz + 2)), 3);
}

/* The scales of four Q4_0 blocks, block i over lanes 4i .. 4i + 3: words
** 0, 9, 18 and 27 of the 64 bytes from b. */
INLINE __m512 q4_quad_scale(const uint8_t *b)
{
    const __m256i idx = _mm256_setr_epi16(0, 0, 0, 0, 9, 9, 9, 9, 18, 18, 18, 18, 27, 27, 27, 27);
    __m256i lo = _mm256_loadu_si256((const __m256i *)b);
    __m256i hi = _mm256_loadu_si256((const __m256i *)(b + 32));
    return _mm512_cvtph_ps(_mm256_permutex2var_epi16(lo, idx, hi));
}

/* Q4_0, R rows x C columns, four blocks a step, then the rest as pairs. */
INLINE void q4_quad_tile(const SimdMat *m, int64_t r, int c0, const int R, const int C)
{
    const int64_t nq = n_quads(m->K), bsz = bsz_q4_0;
    const uint8_t *w[RT];
    ActRow x[CT];
    __m512 acc[RT][CT];
    float tail[RT][CT];
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    for (int i = 0; i < R; i++) {
        w[i] = (const uint8_t *)m->w + (size_t)(r + i) * m->w_stride;
        for (int j = 0; j < C; j++) {
            acc[i][j] = _mm512_setzero_ps();
            tail[i][j] = 0.0f;
        }
    }
    for (int j = 0; j < C; j++)
        x[j] = act_row(m->x[c0 + j], m->K);
    for (int64_t q = 0; q < nq; q++) {
        __m512i lo[RT], hi[RT];
        __m512 ew[RT];
        for (int i = 0; i < R; i++) {
            const uint8_t *b = w[i] + 4 * q * bsz;
            __m512i z = q4_quad(b);
            lo[i] = _mm512_and_si512(z, low4);
            hi[i] = _mm512_and_si512(_mm512_srli_epi16(z, 4), low4);
            ew[i] = q4_quad_scale(b);
        }
        for (int j = 0; j < C; j++) {
            __m512i xl = _mm512_loadu_si512((const void *)(x[j].qs + 128 * q));
            __m512i xh = _mm512_loadu_si512((const void *)(x[j].qs + 128 * q + 64));
            __m512 ex = _mm512_loadu_ps(x[j].qd + 16 * q);
            __m512i cr = _mm512_loadu_si512((const void *)(x[j].qc + 16 * q));
            for (int i = 0; i < R; i++) {
                __m512i dp = dot_u8s8(dot_u8s8(cr, lo[i], xl), hi[i], xh);
                acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dp),
                                            _mm512_mul_ps(ew[i], ex), acc[i][j]);
            }
        }
    }
    pairs_and_tail(w, x, m->K, 2 * nq, R, C, true, acc, tail);
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++) {
            float v = _mm512_reduce_add_ps(acc[i][j]) + tail[i][j];
            memcpy(m->y[c0 + j] + (size_t)(r + i) * m->y_step, &v, sizeof v);
        }
}

INLINE void qtile(const SimdMat *m, int64_t r, int c0, const int R, const int C,
                  const bool q4)
{
    if (q4) {
        q4_quad_tile(m, r, c0, R, C);
        return;
    }
    const uint8_t *w[RT];
    ActRow x[CT];
    __m512 acc[RT][CT];
    float tail[RT][CT];
    for (int i = 0; i < R; i++) {
        w[i] = (const uint8_t *)m->w + (size_t)(r + i) * m->w_stride;
        for (int j = 0; j < C; j++) {
            acc[i][j] = _mm512_setzero_ps();
            tail[i][j] = 0.0f;
        }
    }
    for (int j = 0; j < C; j++)
        x[j] = act_row(m->x[c0 + j], m->K);
    pairs_and_tail(w, x, m->K, 0, R, C, q4, acc, tail);
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++) {
            float v = _mm512_reduce_add_ps(acc[i][j]) + tail[i][j];
            memcpy(m->y[c0 + j] + (size_t)(r + i) * m->y_step, &v, sizeof v);
        }
}

/* ------------------------------------------------------------ decode */

/* Eight zmm of pair partial sums (lanes 0-7: block 2j, 8-15: block 2j + 1
** of d[j]) folded into the 16 block sums, block fold_block[L] in lane L:
** three levels of unpack-and-add, the last across 128-bit lanes. */
INLINE __m512i fold16(const __m512i d[8])
{
    __m512i s[4], t[2];
    for (int k = 0; k < 4; k++)
        s[k] = _mm512_add_epi32(_mm512_unpacklo_epi32(d[2 * k], d[2 * k + 1]),
                                _mm512_unpackhi_epi32(d[2 * k], d[2 * k + 1]));
    for (int k = 0; k < 2; k++)
        t[k] = _mm512_add_epi32(_mm512_unpacklo_epi64(s[2 * k], s[2 * k + 1]),
                                _mm512_unpackhi_epi64(s[2 * k], s[2 * k + 1]));
    return _mm512_add_epi32(_mm512_shuffle_i32x4(t[0], t[1], 0x88),
                            _mm512_shuffle_i32x4(t[0], t[1], 0xDD));
}

/* Four zmm of quad partial sums (lanes 4i .. 4i + 3: block 4k + i of d[k])
** folded into the 16 block sums, block fold4_block[L] in lane L. */
INLINE __m512i fold4(const __m512i d[4])
{
    __m512i s01 = _mm512_add_epi32(_mm512_unpacklo_epi32(d[0], d[1]),
                                   _mm512_unpackhi_epi32(d[0], d[1]));
    __m512i s23 = _mm512_add_epi32(_mm512_unpacklo_epi32(d[2], d[3]),
                                   _mm512_unpackhi_epi32(d[2], d[3]));
    return _mm512_add_epi32(_mm512_unpacklo_epi64(s01, s23), _mm512_unpackhi_epi64(s01, s23));
}

/* The dot products of a quad of Q4_0 blocks (z, from q4_quad) with its
** activations, block i in lanes 4i .. 4i + 3: the low nibbles (elements
** 0-15) meet the quad's first 64 bytes of activations, the high ones the
** next 64. */
INLINE __m512i q4_quad_dot(__m512i z, const int8_t *xq)
{
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    __m512i lo = _mm512_and_si512(z, low4);
    __m512i hi = _mm512_and_si512(_mm512_srli_epi16(z, 4), low4);
    __m512i d = dot_u8s8(_mm512_setzero_si512(), lo,
                         _mm512_loadu_si512((const void *)xq));
    return dot_u8s8(d, hi, _mm512_loadu_si512((const void *)(xq + 64)));
}

/* The f16 scales of 16 blocks from wb, in fold order: picked with word
** permutes from 128-byte windows (Q4_0: 8 blocks a window; Q8_0: 4). */
INLINE __m512 group_scales(const uint8_t *wb, const bool q4)
{
    __m512i sc;
    if (q4) {
        /* lane L takes word 9 * (fold4_block[L] % 8) of window fold4_block[L] / 8 */
        const __m512i idx = _mm512_set_epi16(
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            63, 27, 63, 27, 54, 18, 54, 18, 45, 9, 45, 9, 36, 0, 36, 0);
        __m512i a = _mm512_permutex2var_epi16(_mm512_loadu_si512((const void *)wb), idx,
                                              _mm512_loadu_si512((const void *)(wb + 64)));
        __m512i b = _mm512_permutex2var_epi16(_mm512_loadu_si512((const void *)(wb + 144)), idx,
                                              _mm512_loadu_si512((const void *)(wb + 208)));
        sc = _mm512_mask_blend_epi16(0xCCCC, a, b);
    } else {
        /* lane L takes word 17 * (fold_block[L] % 4) of window fold_block[L] / 4 */
        const __m512i idx = _mm512_set_epi16(
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            51, 17, 51, 17, 34, 0, 34, 0, 51, 17, 51, 17, 34, 0, 34, 0);
        __m512i s[4];
        for (int k = 0; k < 4; k++)
            s[k] = _mm512_permutex2var_epi16(
                _mm512_loadu_si512((const void *)(wb + 136 * k)), idx,
                _mm512_loadu_si512((const void *)(wb + 136 * k + 64)));
        sc = _mm512_mask_blend_epi16(0x00CC, s[0], s[1]);
        sc = _mm512_mask_blend_epi16(0x3300, sc, s[2]);
        sc = _mm512_mask_blend_epi16(0xCC00, sc, s[3]);
    }
    return _mm512_cvtph_ps(_mm512_castsi512_si256(sc));
}

INLINE float row_dot(const uint8_t *w, const ActRow *x, int64_t K, const bool q4)
{
    const int64_t ng = n_groups(K);
    const int64_t bsz = q4 ? bsz_q4_0 : bsz_q8_0;
    __m512 acc[RT][CT];
    float tail[RT][CT];
    acc[0][0] = _mm512_setzero_ps();
    tail[0][0] = 0.0f;
    for (int64_t g = 0; g < ng; g++) {
        const uint8_t *wb = w + 16 * g * bsz;
        /* the group's bytes, PREFETCH ahead (288 for Q4_0, 544 for Q8_0) */
        for (int64_t o = 0; o < 16 * bsz; o += 64)
            _mm_prefetch((const char *)wb + PREFETCH + o, _MM_HINT_T0);
        __m512i d[8], folded;
        if (q4) {
            for (int k = 0; k < 4; k++)
                d[k] = q4_quad_dot(q4_quad(wb + 4 * k * bsz), x->qs + 512 * g + 128 * k);
            folded = fold4(d);
        } else {
            for (int j = 0; j < 8; j++) {
                const uint8_t *b0 = wb + 2 * j * bsz;
                __m512i xv = _mm512_loadu_si512((const void *)(x->qs + 512 * g + 64 * j));
                d[j] = pair_dot(q8_pair(b0, b0 + bsz), xv, _mm512_setzero_si512(), false);
            }
            folded = fold16(d);
        }
        __m512i sum = _mm512_add_epi32(folded,
                                       _mm512_loadu_si512((const void *)(x->gc + 16 * g)));
        __m512 s = _mm512_mul_ps(group_scales(wb, q4), _mm512_loadu_ps(x->gd + 16 * g));
        acc[0][0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), s, acc[0][0]);
    }
    int64_t p0 = 8 * ng;
    if (q4) { /* the quads after the last group */
        for (int64_t q = 4 * ng; q < n_quads(K); q++) {
            const uint8_t *b = w + 4 * q * bsz;
            __m512i dp = _mm512_add_epi32(q4_quad_dot(q4_quad(b), x->qs + 128 * q),
                                          _mm512_loadu_si512((const void *)(x->qc + 16 * q)));
            __m512 s = _mm512_mul_ps(q4_quad_scale(b), _mm512_loadu_ps(x->qd + 16 * q));
            acc[0][0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dp), s, acc[0][0]);
        }
        p0 = 2 * n_quads(K);
    }
    pairs_and_tail(&w, x, K, p0, 1, 1, q4, acc, tail);
    return _mm512_reduce_add_ps(acc[0][0]) + tail[0][0];
}

INLINE void mat_decode(const SimdMat *m, int64_t r0, int64_t r1, const bool q4)
{
    ActRow x = act_row(m->x[0], m->K);
    for (int64_t r = r0; r < r1; r++) {
        float v = row_dot((const uint8_t *)m->w + (size_t)r * m->w_stride, &x, m->K, q4);
        memcpy(m->y[0] + (size_t)r * m->y_step, &v, sizeof v);
    }
}

/* ----------------------------------------------------------- dispatch */

typedef void (*TileFn)(const SimdMat *m, int64_t r, int c0);

#define TILE(name, Q4, R, C)                                           \
    static void name##_##R##x##C(const SimdMat *m, int64_t r, int c0)   \
    {                                                                  \
        qtile(m, r, c0, R, C, Q4);                                     \
    }
#define TILE_ROW(name, Q4, R) \
    TILE(name, Q4, R, 1) TILE(name, Q4, R, 2) TILE(name, Q4, R, 3) TILE(name, Q4, R, 4)
#define ROW_PTRS(name, R) {name##_##R##x1, name##_##R##x2, name##_##R##x3, name##_##R##x4}
#define TILES(name, Q4)                                                        \
    TILE_ROW(name, Q4, 1) TILE_ROW(name, Q4, 2) TILE_ROW(name, Q4, 3)          \
    TILE_ROW(name, Q4, 4)                                                      \
    static const TileFn name##_tiles[RT][CT] = {ROW_PTRS(name, 1), ROW_PTRS(name, 2), \
                                                ROW_PTRS(name, 3), ROW_PTRS(name, 4)}; \
    static void mat_##name(const SimdMat *m, int64_t r0, int64_t r1)           \
    {                                                                          \
        if (m->n_cols == 1) {                                                  \
            mat_decode(m, r0, r1, Q4);                                         \
            return;                                                            \
        }                                                                      \
        for (int64_t r = r0; r < r1; r += RT) {                                \
            int R = r1 - r < RT ? (int)(r1 - r) : RT;                          \
            for (int c = 0; c < m->n_cols; c += CT) {                          \
                int C = m->n_cols - c < CT ? m->n_cols - c : CT;               \
                name##_tiles[R - 1][C - 1](m, r, c);                           \
            }                                                                  \
        }                                                                      \
    }

TILES(q8_0, false)
TILES(q4_0, true)

/* ---------------------------------------------------------- K-quants */

#include "avx512_kquant.c"

const SimdKernels KERNELS = {
#if defined(__AVX512VNNI__)
    .name = "avx512 vnni",
#else
    .name = "avx512",
#endif
    .q8_row_bytes = q8_row_bytes,
    .quantize_q8 = quantize_q8,
    .mat_q8_0 = mat_q8_0,
    .mat_q4_0 = mat_q4_0,
    .mat_q4_K = mat_q4_K,
    .mat_q6_K = mat_q6_K,
};
