/*
** avx512_kquant.c -- Q4_K and Q6_K weights against Q8_K activations for
** several columns (prompts) with 512-bit integer dot products. Included by
** avx512_kernels.c, so it is built with and without VNNI like the rest;
** one column (decode) stays with simd_kquant_x86.c, whose row kernels
** already stream at 512 bits.
**
** Tiles of up to KRT weight rows x KCT columns, one super-block (256
** elements) a step: each weight unpack serves KCT columns, each activation
** load KRT rows. A zmm holds 64 consecutive elements, so the activations
** are plain loads from BlockQ8K.qs and the weights are rearranged instead:
**   Q4_K  the 32 quant bytes of elements 64p .. 64p + 63 broadcast to both
**         halves, the high half shifted by 4: low nibbles (sub-block 2p)
**         then high nibbles (sub-block 2p + 1).
**   Q6_K  64 bytes of ql give the low 4 bits of 64 elements (one half-
**         block's first or second 64, by their low or high nibbles); the
**         32 bytes of qh, broadcast to both halves, give the top 2 bits
**         by a per-half shift.
** vpmaddubsw multiplies the unsigned quants by the signed activations into
** 16-bit pairs (at most 2 * 63 * 128, so it never saturates); vpdpwssd
** (VNNI) or vpmaddwd + vpaddd multiplies the pairs by their sub-block's
** scale and adds them to 16 int32 lanes, exact. The Q6_K offset of 32 is
** one more vpdpwssd of the activations' 16-element sums by -32 * scale.
** A super-block's integer sum becomes float once per row and column, times
** (d_w * d) as graph.h has it; the Q4_K mins, m[s] times the sums of
** sub-block s, go in the same accumulator's low 8 lanes times (dmin_w * d).
** Only the order of the float sums differs from the reference.
*/

/* Tile: rows x columns. S and acc take KRT * KCT zmm each; with the
** unpacked weights, scales and constants that fills the 32 registers. */
#define KRT 2
#define KCT 4

/* 16-bit pairs times 16-bit factors, added to int32 lanes of acc. */
INLINE __m512i dot_s16(__m512i acc, __m512i a, __m512i b)
{
#if defined(__AVX512VNNI__)
    return _mm512_dpwssd_epi32(acc, a, b);
#else
    return _mm512_add_epi32(acc, _mm512_madd_epi16(a, b));
#endif
}

/* The tile's sums to dst: row r + i of column c0 + j, as floats. */
INLINE void kq_store(const SimdMat *m, int64_t r, int c0, const int R, const int C,
                     __m512 acc[KRT][KCT])
{
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++) {
            float v = _mm512_reduce_add_ps(acc[i][j]);
            memcpy(m->y[c0 + j] + (size_t)(r + i) * m->y_step, &v, sizeof v);
        }
}

INLINE void q4_K_tile(const SimdMat *m, int64_t r, int c0, const int R, const int C)
{
    const int64_t nsb = m->K / SLM_QK_K, bsz = sizeof(slm_block_q4_K);
    const uint8_t *w[KRT];
    const BlockQ8K *x[KCT];
    __m512 acc[KRT][KCT];
    for (int i = 0; i < R; i++) {
        w[i] = (const uint8_t *)m->w + (size_t)(r + i) * m->w_stride;
        for (int j = 0; j < C; j++)
            acc[i][j] = _mm512_setzero_ps();
    }
    for (int j = 0; j < C; j++)
        x[j] = (const BlockQ8K *)m->x[c0 + j];
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    const __m512i nib = _mm512_set_epi64(4, 4, 4, 4, 0, 0, 0, 0);
    /* 16-bit lanes 0-15 take sub-block 2p's scale, 16-31 that of 2p + 1 */
    const __m512i half = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(1), 1);
    for (int64_t b = 0; b < nsb; b++) {
        uint8_t sc[KRT][8], mn[KRT][8];
        __m512i sc16[KRT], S[KRT][KCT];
        for (int i = 0; i < R; i++) {
            simd_q4_K_scales(w[i] + b * bsz + 4, sc[i], mn[i]);
            sc16[i] = _mm512_castsi128_si512(
                _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)sc[i])));
            for (int j = 0; j < C; j++)
                S[i][j] = _mm512_setzero_si512();
        }
        for (int p = 0; p < 4; p++) {
            __m512i q[KRT], s[KRT];
            for (int i = 0; i < R; i++) {
                const uint8_t *qs = w[i] + b * bsz + 16 + 32 * p;
                __m512i z = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)qs));
                q[i] = _mm512_and_si512(_mm512_srlv_epi64(z, nib), low4);
                s[i] = _mm512_permutexvar_epi16(
                    _mm512_add_epi16(half, _mm512_set1_epi16((short)(2 * p))), sc16[i]);
            }
            for (int j = 0; j < C; j++) {
                __m512i xv = _mm512_loadu_si512((const void *)(x[j][b].qs + 64 * p));
                for (int i = 0; i < R; i++)
                    S[i][j] = dot_s16(S[i][j], _mm512_maddubs_epi16(q[i], xv), s[i]);
            }
        }
        /* mins: lane s of the madd is m[s] * (bsums[2s] + bsums[2s + 1]) */
        __m256i m16[KRT];
        __m512 d[KRT], dmin[KRT];
        for (int i = 0; i < R; i++) {
            __m256i m32 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)mn[i]));
            m16[i] = _mm256_or_si256(m32, _mm256_slli_epi32(m32, 16));
            d[i] = _mm512_set1_ps(f16_at(w[i] + b * bsz));
            dmin[i] = _mm512_set1_ps(f16_at(w[i] + b * bsz + 2));
        }
        for (int j = 0; j < C; j++) {
            __m512 dx = _mm512_set1_ps(x[j][b].d);
            __m256i bs = _mm256_loadu_si256((const __m256i *)x[j][b].bsums);
            for (int i = 0; i < R; i++) {
                __m512 mins = _mm512_zextps256_ps512(
                    _mm256_cvtepi32_ps(_mm256_madd_epi16(bs, m16[i])));
                acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(S[i][j]),
                                            _mm512_mul_ps(d[i], dx), acc[i][j]);
                /* lanes 8-15 keep acc as it is */
                acc[i][j] = _mm512_mask3_fnmadd_ps(mins, _mm512_mul_ps(dmin[i], dx),
                                                   acc[i][j], 0x00FF);
            }
        }
    }
    kq_store(m, r, c0, R, C, acc);
}

INLINE void q6_K_tile(const SimdMat *m, int64_t r, int c0, const int R, const int C)
{
    const int64_t nsb = m->K / SLM_QK_K, bsz = sizeof(slm_block_q6_K);
    const uint8_t *w[KRT];
    const BlockQ8K *x[KCT];
    __m512 acc[KRT][KCT];
    for (int i = 0; i < R; i++) {
        w[i] = (const uint8_t *)m->w + (size_t)(r + i) * m->w_stride;
        for (int j = 0; j < C; j++)
            acc[i][j] = _mm512_setzero_ps();
    }
    for (int j = 0; j < C; j++)
        x[j] = (const BlockQ8K *)m->x[c0 + j];
    const __m512i low4 = _mm512_set1_epi8(0x0F), top2 = _mm512_set1_epi8(0x30);
    /* qh bits 0-1 (first 32 elements of a 64) and 2-3 (next 32) to bits
    ** 4-5; then bits 4-5 and 6-7 for the second 64 of the half-block */
    const __m512i sh_a = _mm512_set_epi64(2, 2, 2, 2, 4, 4, 4, 4);
    const __m512i sh_b = _mm512_set_epi64(2, 2, 2, 2, 0, 0, 0, 0);
    /* 16-bit lane i of a 64-element product belongs to 16-element group i / 8 */
    const __m512i grp = _mm512_set_epi16(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2,
                                         1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    for (int64_t b = 0; b < nsb; b++) {
        __m512i scz[KRT], S[KRT][KCT];
        for (int i = 0; i < R; i++) {
            scz[i] = _mm512_castsi256_si512(_mm256_cvtepi8_epi16(
                _mm_loadu_si128((const __m128i *)(w[i] + b * bsz + 192))));
            for (int j = 0; j < C; j++)
                S[i][j] = _mm512_setzero_si512();
        }
        for (int k = 0; k < 4; k++) { /* elements 64k .. 64k + 63 */
            const int h = k / 2;
            __m512i q[KRT], s[KRT];
            for (int i = 0; i < R; i++) {
                const uint8_t *ql = w[i] + b * bsz, *qh = ql + 128;
                __m512i L = _mm512_loadu_si512((const void *)(ql + 64 * h));
                __m512i H = _mm512_broadcast_i64x4(
                    _mm256_loadu_si256((const __m256i *)(qh + 32 * h)));
                __m512i hi2 = k % 2 == 0 ? _mm512_sllv_epi64(H, sh_a)
                                         : _mm512_srlv_epi64(H, sh_b);
                __m512i lo4 = k % 2 == 0 ? L : _mm512_srli_epi16(L, 4);
                /* (lo4 & 0x0F) | (hi2 & 0x30) */
                q[i] = _mm512_ternarylogic_epi32(lo4, _mm512_and_si512(hi2, top2), low4, 0xEC);
                s[i] = _mm512_permutexvar_epi16(
                    _mm512_add_epi16(grp, _mm512_set1_epi16((short)(4 * k))), scz[i]);
            }
            for (int j = 0; j < C; j++) {
                __m512i xv = _mm512_loadu_si512((const void *)(x[j][b].qs + 64 * k));
                for (int i = 0; i < R; i++)
                    S[i][j] = dot_s16(S[i][j], _mm512_maddubs_epi16(q[i], xv), s[i]);
            }
        }
        /* the quants are stored +32: add sum_g (-32 * scales[g]) * bsums[g],
        ** |-32 * scale| <= 4096 still 16-bit */
        __m512i nsc[KRT];
        __m512 d[KRT];
        for (int i = 0; i < R; i++) {
            nsc[i] = _mm512_sub_epi16(_mm512_setzero_si512(),
                                      _mm512_slli_epi16(scz[i], 5));
            nsc[i] = _mm512_zextsi256_si512(_mm512_castsi512_si256(nsc[i]));
            d[i] = _mm512_set1_ps(f16_at(w[i] + b * bsz + 208));
        }
        for (int j = 0; j < C; j++) {
            __m512 dx = _mm512_set1_ps(x[j][b].d);
            __m512i bs = _mm512_zextsi256_si512(
                _mm256_loadu_si256((const __m256i *)x[j][b].bsums));
            for (int i = 0; i < R; i++) {
                __m512i tot = dot_s16(S[i][j], bs, nsc[i]);
                acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(tot),
                                            _mm512_mul_ps(d[i], dx), acc[i][j]);
            }
        }
    }
    kq_store(m, r, c0, R, C, acc);
}

#define KTILE(name, R, C)                                               \
    static void name##_##R##x##C(const SimdMat *m, int64_t r, int c0)   \
    {                                                                   \
        name##_tile(m, r, c0, R, C);                                    \
    }
#define KTILE_ROW(name, R) \
    KTILE(name, R, 1) KTILE(name, R, 2) KTILE(name, R, 3) KTILE(name, R, 4)
#define KROW_PTRS(name, R) {name##_##R##x1, name##_##R##x2, name##_##R##x3, name##_##R##x4}
#define KTILES(name, decode)                                                        \
    KTILE_ROW(name, 1) KTILE_ROW(name, 2)                                           \
    static const TileFn name##_tiles[KRT][KCT] = {KROW_PTRS(name, 1),               \
                                                  KROW_PTRS(name, 2)};              \
    static void mat_##name(const SimdMat *m, int64_t r0, int64_t r1)                \
    {                                                                               \
        if (m->n_cols == 1) {                                                       \
            decode(m, r0, r1);                                                      \
            return;                                                                 \
        }                                                                           \
        for (int64_t r = r0; r < r1; r += KRT) {                                    \
            int R = r1 - r < KRT ? (int)(r1 - r) : KRT;                             \
            for (int c = 0; c < m->n_cols; c += KCT) {                              \
                int C = m->n_cols - c < KCT ? m->n_cols - c : KCT;                  \
                name##_tiles[R - 1][C - 1](m, r, c);                                \
            }                                                                       \
        }                                                                           \
    }

KTILES(q4_K, simd_x86_mat_q4_K)
KTILES(q6_K, simd_x86_mat_q6_K)
