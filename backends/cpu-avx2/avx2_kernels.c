/*
** avx2_kernels.c -- Q8_0 and Q4_0 weights against Q8_0-style activations
** with 256-bit integer dot products, one 32-element block per ymm.
**
** vpmaddubsw multiplies unsigned by signed bytes into saturating 16-bit
** pairs. With |w| as the unsigned side and x carrying w's sign
** (vpsignb), no pair can exceed 2 * 128 * 127 < 32768, for Q8_0 weights and
** for Q4_0's nibble - 8 alike; vpmaddwd against ones then gives 32-bit sums.
**
** One column (decode, where the weights stream from memory once per
** token) takes another route: one weight row at a time, eight blocks per
** step, their partial sums folded into one ymm of 8 block sums before a
** single convert-and-scale. Q4_0's nibbles then go in unsigned, and
** -8 * sum(x) of each block is added back after the fold.
**
** Several columns of Q4_0 (prompts) take two blocks a step: one ymm holds
** both blocks' 16 bytes of quants, whose low nibbles (elements 0-15) and
** high nibbles (16-31) meet the matching halves of the activations, stored
** in that order (qp). The unsigned nibbles need no vpsignb; each block's
** -8 * sum(x) comes back as -2 * sum(x) in each of its four 32-bit lanes.
**
** Activation row layout (q8_row_bytes, quantize_q8), K elements in
** nb = K / 32 blocks and np = nb / 2 pairs:
**   int8  qs[K], padded to 64 bytes
**   float d[nb]  the block scales, f16-rounded as llama.cpp stores them
**   int32 s[nb]  the block sums of the quants
**   int8  qp[np][64]  Q4_0 only: elements 0-15 of blocks 2p and 2p + 1,
**                     then elements 16-31 of both
**   float pd[np][8]   Q4_0 only: lanes 0-3 the scale of block 2p, 4-7 of
**                     2p + 1
**   int32 pc[np][8]   Q4_0 only: -2 * s of the same blocks
*/
#include <float.h>
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "../cpu-simd/simd_internal.h"

#define INLINE static inline __attribute__((always_inline))

/* Tile: rows x columns of ymm accumulators (16 registers in all); Q4_0's
** two-block tiles have their own shape. */
#define RT 2
#define CT 2
#define Q4RT 2
#define Q4CT 4

static inline size_t qs_bytes(int64_t K) { return simd_align64((size_t)K); }

static inline size_t ds_bytes(int64_t K) { return simd_align64((size_t)(K / 32) * 4); }

static inline int64_t n_pairs(int64_t K) { return K / 32 / 2; }

static size_t q8_row_bytes(int64_t K)
{
    return qs_bytes(K) + 2 * ds_bytes(K) + (size_t)n_pairs(K) * (64 + 2 * 32);
}

/* Bytes ahead of the decode kernel's reads to prefetch: the hardware
** prefetchers alone leave a single stream short of the bandwidth. */
#define PREFETCH 8192

static inline float f16_at(const void *p)
{
    uint16_t h;
    memcpy(&h, p, sizeof h);
    return _cvtsh_ss(h);
}

/* ------------------------------------------------------- quantisation */

/* roundf: to nearest, ties away from zero (rint would take them to even). */
static inline __m256 round_away(__m256 p)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 t = _mm256_round_ps(p, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_round_ps(p, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 tie = _mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_sub_ps(p, t)),
                               _mm256_set1_ps(0.5f), _CMP_EQ_OQ);
    __m256 away = _mm256_add_ps(t, _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(sign, p)));
    return _mm256_blendv_ps(r, away, tie);
}

/* The Q8_0 activation quantisation of graph.h, bit for bit: per block of
** 32, d = amax / 127 kept as f16; q = roundf(x * (1 / d)) with 1 / d from
** the float d; a block holding an infinity or NaN gets a NaN scale and
** zero quants. The layout is the same for both weight types. */
static void quantize_q8(const float *x, int64_t K, void *out, slm_dtype_t wtype)
{
    int64_t nb = K / 32;
    int8_t *qs = out;
    float *ds = (float *)((char *)out + qs_bytes(K));
    int32_t *ss = (int32_t *)((char *)ds + ds_bytes(K));
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < nb; b++, x += 32) {
        __m256 v[4];
        __m256 mx = _mm256_setzero_ps(), fin = _mm256_setzero_ps();
        for (int k = 0; k < 4; k++) {
            v[k] = _mm256_loadu_ps(x + 8 * k);
            mx = _mm256_max_ps(mx, _mm256_andnot_ps(sign, v[k]));
            /* x - x is 0, or NaN for an infinity or NaN */
            fin = _mm256_add_ps(fin, _mm256_sub_ps(v[k], v[k]));
        }
        if (_mm256_movemask_ps(_mm256_cmp_ps(fin, fin, _CMP_UNORD_Q))) {
            memset(qs + 32 * b, 0, 32);
            ds[b] = NAN;
            ss[b] = 0;
            continue;
        }
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        float amax = _mm_cvtss_f32(m4);
        float d = amax / 127.0f;
        float id = d >= FLT_MIN ? 1.0f / d : 0.0f; /* graph.h */
        __m256 vid = _mm256_set1_ps(id);
        __m256i q[4];
        for (int k = 0; k < 4; k++)
            q[k] = _mm256_cvtps_epi32(round_away(_mm256_mul_ps(v[k], vid)));
        /* 32 -> 16 -> 8 bits; the packs work per 128-bit lane, so the
        ** dwords come out in the order 0 4 1 5 2 6 3 7 and are put back. */
        __m256i p01 = _mm256_packs_epi32(q[0], q[1]);
        __m256i p23 = _mm256_packs_epi32(q[2], q[3]);
        __m256i p = _mm256_packs_epi16(p01, p23);
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)(qs + 32 * b), p);
        ds[b] = _cvtsh_ss(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT));
        __m256i s8 = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s8), _mm256_extracti128_si256(s8, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
        ss[b] = _mm_cvtsi128_si32(s4);
    }
    if (wtype != SLM_DTYPE_Q4_0)
        return;
    int8_t *qp = (int8_t *)((char *)ss + ds_bytes(K));
    float *pd = (float *)(qp + 64 * n_pairs(K));
    int32_t *pc = (int32_t *)(pd + 8 * n_pairs(K));
    for (int64_t p = 0; p < n_pairs(K); p++)
        for (int h = 0; h < 2; h++) {
            int64_t b = 2 * p + h;
            memcpy(qp + 64 * p + 16 * h, qs + 32 * b, 16);
            memcpy(qp + 64 * p + 32 + 16 * h, qs + 32 * b + 16, 16);
            for (int l = 0; l < 4; l++) {
                pd[8 * p + 4 * h + l] = ds[b];
                pc[8 * p + 4 * h + l] = -2 * ss[b];
            }
        }
}

/* ------------------------------------------------------------- tiles */

INLINE __m256i weights(const uint8_t *b, const bool q4)
{
    if (q4) {
        __m128i q = _mm_loadu_si128((const __m128i *)(b + 2));
        __m256i t = _mm256_inserti128_si256(_mm256_castsi128_si256(q), _mm_srli_epi16(q, 4), 1);
        t = _mm256_and_si256(t, _mm256_set1_epi8(0x0F));
        return _mm256_sub_epi8(t, _mm256_set1_epi8(8));
    }
    return _mm256_loadu_si256((const __m256i *)(b + 2));
}

INLINE float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

INLINE void qtile(const SimdMat *m, int64_t r, int c0, const int R, const int C,
                  const bool q4)
{
    const int64_t nb = m->K / 32;
    const size_t bsz = q4 ? sizeof(slm_block_q4_0) : sizeof(slm_block_q8_0);
    const size_t qsb = qs_bytes(m->K);
    const __m256i ones = _mm256_set1_epi16(1);
    const uint8_t *w[RT];
    const int8_t *xq[CT];
    const float *xd[CT];
    __m256 acc[RT][CT];
    for (int i = 0; i < R; i++) {
        w[i] = (const uint8_t *)m->w + (size_t)(r + i) * m->w_stride;
        for (int j = 0; j < C; j++)
            acc[i][j] = _mm256_setzero_ps();
    }
    for (int j = 0; j < C; j++) {
        xq[j] = (const int8_t *)m->x[c0 + j];
        xd[j] = (const float *)((const char *)xq[j] + qsb);
    }
    for (int64_t b = 0; b < nb; b++) {
        __m256i wv[RT], wa[RT];
        __m256 ew[RT];
        for (int i = 0; i < R; i++) {
            const uint8_t *blk = w[i] + (size_t)b * bsz;
            wv[i] = weights(blk, q4);
            wa[i] = _mm256_abs_epi8(wv[i]);
            ew[i] = _mm256_set1_ps(f16_at(blk));
        }
        for (int j = 0; j < C; j++) {
            __m256i xv = _mm256_loadu_si256((const __m256i *)(xq[j] + 32 * b));
            __m256 ex = _mm256_broadcast_ss(xd[j] + b);
            for (int i = 0; i < R; i++) {
                __m256i p = _mm256_maddubs_epi16(wa[i], _mm256_sign_epi8(xv, wv[i]));
                __m256i dp = _mm256_madd_epi16(p, ones);
                acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dp),
                                            _mm256_mul_ps(ew[i], ex), acc[i][j]);
            }
        }
    }
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++) {
            float v = hsum8(acc[i][j]);
            memcpy(m->y[c0 + j] + (size_t)(r + i) * m->y_step, &v, sizeof v);
        }
}

/* Q4_0, R rows x C columns, two blocks a step (qp, pd, pc), then the odd
** last block as qtile does it. */
INLINE void q4_pair_tile(const SimdMat *m, int64_t r, int c0, const int R, const int C)
{
    const int64_t nb = m->K / 32, np = n_pairs(m->K);
    const size_t bsz = sizeof(slm_block_q4_0);
    const size_t pair_at = qs_bytes(m->K) + 2 * ds_bytes(m->K);
    const __m256i ones = _mm256_set1_epi16(1), low4 = _mm256_set1_epi8(0x0F);
    const uint8_t *w[Q4RT];
    const int8_t *xp[Q4CT];
    const float *xd[Q4CT];
    const int32_t *xc[Q4CT];
    __m256 acc[Q4RT][Q4CT];
    for (int i = 0; i < R; i++) {
        w[i] = (const uint8_t *)m->w + (size_t)(r + i) * m->w_stride;
        for (int j = 0; j < C; j++)
            acc[i][j] = _mm256_setzero_ps();
    }
    for (int j = 0; j < C; j++) {
        xp[j] = (const int8_t *)m->x[c0 + j] + pair_at;
        xd[j] = (const float *)(xp[j] + 64 * np);
        xc[j] = (const int32_t *)(xd[j] + 8 * np);
    }
    for (int64_t p = 0; p < np; p++) {
        __m256i lo[Q4RT], hi[Q4RT];
        __m256 ew[Q4RT];
        for (int i = 0; i < R; i++) {
            const uint8_t *b0 = w[i] + (size_t)(2 * p) * bsz, *b1 = b0 + bsz;
            __m256i z = _mm256_inserti128_si256(
                _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(b0 + 2))),
                _mm_loadu_si128((const __m128i *)(b1 + 2)), 1);
            lo[i] = _mm256_and_si256(z, low4);
            hi[i] = _mm256_and_si256(_mm256_srli_epi16(z, 4), low4);
            uint16_t h0, h1;
            memcpy(&h0, b0, 2);
            memcpy(&h1, b1, 2);
            ew[i] = _mm256_cvtph_ps(_mm_unpacklo_epi64(_mm_set1_epi16((short)h0),
                                                       _mm_set1_epi16((short)h1)));
        }
        for (int j = 0; j < C; j++) {
            __m256i xl = _mm256_loadu_si256((const __m256i *)(xp[j] + 64 * p));
            __m256i xh = _mm256_loadu_si256((const __m256i *)(xp[j] + 64 * p + 32));
            __m256 ex = _mm256_loadu_ps(xd[j] + 8 * p);
            __m256i cr = _mm256_loadu_si256((const __m256i *)(xc[j] + 8 * p));
            for (int i = 0; i < R; i++) {
                __m256i p16 = _mm256_add_epi16(_mm256_maddubs_epi16(lo[i], xl),
                                               _mm256_maddubs_epi16(hi[i], xh));
                __m256i dp = _mm256_add_epi32(_mm256_madd_epi16(p16, ones), cr);
                acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dp),
                                            _mm256_mul_ps(ew[i], ex), acc[i][j]);
            }
        }
    }
    float tail[Q4RT][Q4CT] = {{0.0f}};
    if (nb % 2) {
        const int64_t b = nb - 1;
        for (int i = 0; i < R; i++) {
            const uint8_t *blk = w[i] + (size_t)b * bsz;
            __m256i wv = weights(blk, true);
            __m256i wa = _mm256_abs_epi8(wv);
            for (int j = 0; j < C; j++) {
                const int8_t *xq = (const int8_t *)m->x[c0 + j];
                const float *d = (const float *)((const char *)xq + qs_bytes(m->K));
                __m256i xv = _mm256_loadu_si256((const __m256i *)(xq + 32 * b));
                __m256i dp = _mm256_madd_epi16(
                    _mm256_maddubs_epi16(wa, _mm256_sign_epi8(xv, wv)), ones);
                tail[i][j] = hsum8(_mm256_cvtepi32_ps(dp)) * f16_at(blk) * d[b];
            }
        }
    }
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++) {
            float v = hsum8(acc[i][j]) + tail[i][j];
            memcpy(m->y[c0 + j] + (size_t)(r + i) * m->y_step, &v, sizeof v);
        }
}

/* ------------------------------------------------------------ decode */

/* Eight ymm of block partial sums (d[j]: block j) folded into one of the
** 8 block sums, in block order: two levels of unpack-and-add within 128-bit
** lanes, then the halves. */
INLINE __m256i fold8(const __m256i d[8])
{
    __m256i s[4], t[2];
    for (int k = 0; k < 4; k++)
        s[k] = _mm256_add_epi32(_mm256_unpacklo_epi32(d[2 * k], d[2 * k + 1]),
                                _mm256_unpackhi_epi32(d[2 * k], d[2 * k + 1]));
    for (int k = 0; k < 2; k++)
        t[k] = _mm256_add_epi32(_mm256_unpacklo_epi64(s[2 * k], s[2 * k + 1]),
                                _mm256_unpackhi_epi64(s[2 * k], s[2 * k + 1]));
    return _mm256_add_epi32(_mm256_permute2x128_si256(t[0], t[1], 0x20),
                            _mm256_permute2x128_si256(t[0], t[1], 0x31));
}

INLINE float row_dot(const uint8_t *w, const void *xrow, int64_t K, const bool q4)
{
    const int64_t nb = K / 32;
    const size_t bsz = q4 ? sizeof(slm_block_q4_0) : sizeof(slm_block_q8_0);
    const int8_t *xq = xrow;
    const float *xd = (const float *)((const char *)xrow + qs_bytes(K));
    const int32_t *xs = (const int32_t *)((const char *)xd + ds_bytes(K));
    const __m256i ones = _mm256_set1_epi16(1), low4 = _mm256_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps();
    int64_t b = 0;
    for (; b + 8 <= nb; b += 8) {
        const uint8_t *wb = w + (size_t)b * bsz;
        for (size_t o = 0; o < 8 * bsz; o += 64)
            _mm_prefetch((const char *)wb + PREFETCH + o, _MM_HINT_T0);
        __m256i d[8];
        uint16_t hs[8];
        for (int j = 0; j < 8; j++) {
            const uint8_t *blk = wb + (size_t)j * bsz;
            __m256i xv = _mm256_loadu_si256((const __m256i *)(xq + 32 * (b + j)));
            __m256i p;
            if (q4) {
                __m128i q = _mm_loadu_si128((const __m128i *)(blk + 2));
                __m256i n = _mm256_inserti128_si256(_mm256_castsi128_si256(q),
                                                    _mm_srli_epi16(q, 4), 1);
                p = _mm256_maddubs_epi16(_mm256_and_si256(n, low4), xv);
            } else {
                __m256i wv = _mm256_loadu_si256((const __m256i *)(blk + 2));
                p = _mm256_maddubs_epi16(_mm256_abs_epi8(wv), _mm256_sign_epi8(xv, wv));
            }
            d[j] = _mm256_madd_epi16(p, ones);
            memcpy(&hs[j], blk, 2);
        }
        __m128i h = _mm_setr_epi16((short)hs[0], (short)hs[1], (short)hs[2], (short)hs[3],
                                   (short)hs[4], (short)hs[5], (short)hs[6], (short)hs[7]);
        __m256i sum = fold8(d);
        if (q4) /* the nibbles went in unsigned: take 8 * sum(x) back */
            sum = _mm256_sub_epi32(sum, _mm256_slli_epi32(
                _mm256_loadu_si256((const __m256i *)(xs + b)), 3));
        __m256 s = _mm256_mul_ps(_mm256_cvtph_ps(h), _mm256_loadu_ps(xd + b));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), s, acc);
    }
    float tail = 0.0f;
    for (; b < nb; b++) {
        const uint8_t *blk = w + (size_t)b * bsz;
        __m256i wv = weights(blk, q4);
        __m256i xv = _mm256_loadu_si256((const __m256i *)(xq + 32 * b));
        __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(wv), _mm256_sign_epi8(xv, wv));
        __m256 v = _mm256_cvtepi32_ps(_mm256_madd_epi16(p, ones));
        tail += hsum8(v) * f16_at(blk) * xd[b];
    }
    return hsum8(acc) + tail;
}

INLINE void mat_decode(const SimdMat *m, int64_t r0, int64_t r1, const bool q4)
{
    for (int64_t r = r0; r < r1; r++) {
        float v = row_dot((const uint8_t *)m->w + (size_t)r * m->w_stride, m->x[0], m->K, q4);
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
#define TILES(name, Q4)                                                        \
    TILE(name, Q4, 1, 1) TILE(name, Q4, 1, 2) TILE(name, Q4, 2, 1)             \
    TILE(name, Q4, 2, 2)                                                       \
    static const TileFn name##_tiles[RT][CT] = {{name##_1x1, name##_1x2},      \
                                                {name##_2x1, name##_2x2}};     \
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

#define Q4TILE(R, C)                                                   \
    static void q4_##R##x##C(const SimdMat *m, int64_t r, int c0)     \
    {                                                                  \
        q4_pair_tile(m, r, c0, R, C);                                  \
    }
Q4TILE(1, 1) Q4TILE(1, 2) Q4TILE(1, 3) Q4TILE(1, 4)
Q4TILE(2, 1) Q4TILE(2, 2) Q4TILE(2, 3) Q4TILE(2, 4)
static const TileFn q4_tiles[Q4RT][Q4CT] = {{q4_1x1, q4_1x2, q4_1x3, q4_1x4},
                                            {q4_2x1, q4_2x2, q4_2x3, q4_2x4}};

static void mat_q4_0(const SimdMat *m, int64_t r0, int64_t r1)
{
    if (m->n_cols == 1) {
        mat_decode(m, r0, r1, true);
        return;
    }
    for (int64_t r = r0; r < r1; r += Q4RT) {
        int R = r1 - r < Q4RT ? (int)(r1 - r) : Q4RT;
        for (int c = 0; c < m->n_cols; c += Q4CT) {
            int C = m->n_cols - c < Q4CT ? m->n_cols - c : Q4CT;
            q4_tiles[R - 1][C - 1](m, r, c);
        }
    }
}

/* ---------------------------------------------------------- K-quants */

#include "avx2_kquant.c"

const SimdKernels simd_avx2_kernels = {
    .name = "avx2",
    .q8_row_bytes = q8_row_bytes,
    .quantize_q8 = quantize_q8,
    .mat_q8_0 = mat_q8_0,
    .mat_q4_0 = mat_q4_0,
    .mat_q4_K = mat_q4_K,
    .mat_q6_K = mat_q6_K,
};
