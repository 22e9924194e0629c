/*
** avx2_kquant.c -- Q4_K and Q6_K weights against Q8_K activations for
** several columns (prompts) with 256-bit integer dot products. Included by
** avx2_kernels.c; one column (decode) stays with simd_kquant_x86.c.
**
** A ymm holds two weight rows at once: the same 16 elements of rows a and
** b in its low and high 128 bits, against the activations' 16 elements
** broadcast to both (vbroadcasti128, a plain load). 16 elements are one
** Q6_K group or half a Q4_K sub-block, so each 128 bits has one scale, and
** a row pair's sums land in lanes 0-3 (row a) and 4-7 (row b) of one
** accumulator. vpmaddubsw multiplies the unsigned quants by the signed
** activations into 16-bit pairs (at most 2 * 63 * 128, so it never
** saturates); vpmaddwd by the scales gives exact int32 lanes.
**
** Per super-block (256 elements), up to KRP row pairs first unpack their
** quants (16 ymm a pair) and scales to the stack; then every column of the
** call takes its turn against them. So the unpacking serves all columns,
** and each activation load 2 * KRP rows, which also cuts what the kernel
** reads from L2 (a prompt's activations do not fit L1).
**
** A super-block's sums then become float once per row pair and column,
** times (d_w * d) as graph.h has it. The activations' 16-element sums come
** as two broadcasts (groups 0-7, 8-15) to meet per-pair vectors of
**   Q4_K  each min twice (its sub-block has two sums): vpmaddwd gives m[s]
**         times the sums of sub-block s, lanes 0-3 row a, 4-7 row b; one
**         unpack-and-add interleaves them with the quant sums, so one
**         convert and one FMA against d_w * d and -dmin_w * d in alternate
**         lanes take both.
**   Q6_K  -32 * scale, the offset of the stored quants, added to the sums.
** Only the order of the float sums differs from the reference.
*/

/* Row pairs a tile unpacks per super-block (8 rows). */
#define KRP 4

/* Word k of each 128 bits, in all eight of its words. */
INLINE __m256i word_of(__m256i v, int k)
{
    return _mm256_shuffle_epi8(v, _mm256_set1_epi16((short)(0x0100 + 0x0202 * k)));
}

/* Two 16-byte loads, row a low and row b high. */
INLINE __m256i load_pair(const uint8_t *a, const uint8_t *b)
{
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)a)),
                                   _mm_loadu_si128((const __m128i *)b), 1);
}

/* 16 bytes in both halves: a plain load. */
INLINE __m256i load_both(const void *p)
{
    return _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)p));
}

/* Eight bytes of each row as 16-bit words, unsigned or signed. */
INLINE __m256i words_u8(const uint8_t *a, const uint8_t *b)
{
    return _mm256_set_m128i(_mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)b)),
                            _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)a)));
}

INLINE __m256i words_s8(const uint8_t *a, const uint8_t *b)
{
    return _mm256_set_m128i(_mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)b)),
                            _mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)a)));
}

/* The rows of a tile; an odd last row is paired with itself, its twin's
** result dropped. */
INLINE void kq_rows(const SimdMat *m, int64_t r, int R, const int NP, const uint8_t *w[2 * KRP])
{
    for (int i = 0; i < 2 * NP; i++)
        w[i] = (const uint8_t *)m->w + (size_t)(r + (i < R ? i : R - 1)) * m->w_stride;
}

/* Pair p's float sums to dst: row r + 2p from lanes 0-3, r + 2p + 1 from 4-7. */
INLINE void kq_store(const SimdMat *m, int64_t r, int R, const int NP,
                     __m256 acc[KRP][SIMD_MAX_COLS])
{
    for (int p = 0; p < NP; p++)
        for (int j = 0; j < m->n_cols; j++) {
            __m128 lo = _mm256_castps256_ps128(acc[p][j]);
            __m128 hi = _mm256_extractf128_ps(acc[p][j], 1);
            __m128 s = _mm_hadd_ps(lo, hi);
            s = _mm_hadd_ps(s, s); /* lo sum, hi sum, lo sum, hi sum */
            float v[4];
            _mm_storeu_ps(v, s);
            for (int k = 0; k < 2 && 2 * p + k < R; k++)
                memcpy(m->y[j] + (size_t)(r + 2 * p + k) * m->y_step, &v[k], sizeof(float));
        }
}

INLINE void q4_K_tile(const SimdMat *m, int64_t r, int R, const int NP)
{
    const int64_t nsb = m->K / SLM_QK_K, bsz = sizeof(slm_block_q4_K);
    const uint8_t *w[2 * KRP];
    kq_rows(m, r, R, NP, w);
    __m256 acc[KRP][SIMD_MAX_COLS];
    for (int p = 0; p < NP; p++)
        for (int j = 0; j < m->n_cols; j++)
            acc[p][j] = _mm256_setzero_ps();
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    for (int64_t b = 0; b < nsb; b++) {
        /* 16-element chunk c is half c % 2 of sub-block c / 2 */
        __m256i q[KRP][16], scv[KRP][16], mA[KRP], mB[KRP];
        __m256 dm[KRP];
        for (int p = 0; p < NP; p++) {
            const uint8_t *ba = w[2 * p] + b * bsz, *bb = w[2 * p + 1] + b * bsz;
            uint8_t sc[2][8], mn[2][8];
            simd_q4_K_scales(ba + 4, sc[0], mn[0]);
            simd_q4_K_scales(bb + 4, sc[1], mn[1]);
            __m256i sc16 = words_u8(sc[0], sc[1]), mn16 = words_u8(mn[0], mn[1]);
            /* per chunk, for plain indexing in the column loop */
            for (int s = 0; s < 8; s++)
                scv[p][2 * s] = scv[p][2 * s + 1] = word_of(sc16, s);
            /* m[0], m[0], m[1], m[1], .. against bsums 0-7; m[4] .. against 8-15 */
            mA[p] = _mm256_unpacklo_epi16(mn16, mn16);
            mB[p] = _mm256_unpackhi_epi16(mn16, mn16);
            /* d_w in the even lanes, -dmin_w in the odd ones */
            float da = f16_at(ba), ma = -f16_at(ba + 2), db = f16_at(bb), mb = -f16_at(bb + 2);
            dm[p] = _mm256_setr_ps(da, ma, da, ma, db, mb, db, mb);
            for (int k = 0; k < 8; k++) { /* qs bytes 16k .. 16k + 15 */
                __m256i z = load_pair(ba + 16 + 16 * k, bb + 16 + 16 * k);
                /* low nibbles: sub-block 2 (k / 2), high: the next */
                q[p][4 * (k / 2) + k % 2] = _mm256_and_si256(z, low4);
                q[p][4 * (k / 2) + 2 + k % 2] = _mm256_and_si256(_mm256_srli_epi16(z, 4), low4);
            }
        }
        for (int j = 0; j < m->n_cols; j++) {
            const BlockQ8K *x = (const BlockQ8K *)m->x[j] + b;
            __m256i S[KRP];
            for (int p = 0; p < NP; p++)
                S[p] = _mm256_setzero_si256();
            /* unrolled 16 times, GCC spills the products instead */
#pragma GCC unroll 4
            for (int c = 0; c < 16; c++) {
                __m256i xv = load_both(x->qs + 16 * c);
                for (int p = 0; p < NP; p++)
                    S[p] = _mm256_add_epi32(
                        S[p], _mm256_madd_epi16(_mm256_maddubs_epi16(q[p][c], xv), scv[p][c]));
            }
            __m256i bsA = load_both(x->bsums), bsB = load_both(x->bsums + 8);
            __m256 dx = _mm256_set1_ps(x->d);
            for (int p = 0; p < NP; p++) {
                /* lane s (row a), 4 + s (row b): sub-blocks s and s + 4's
                ** m times their sums */
                __m256i mins = _mm256_add_epi32(_mm256_madd_epi16(bsA, mA[p]),
                                                _mm256_madd_epi16(bsB, mB[p]));
                /* quant sums in the even lanes, mins in the odd ones */
                __m256i t = _mm256_add_epi32(_mm256_unpacklo_epi32(S[p], mins),
                                             _mm256_unpackhi_epi32(S[p], mins));
                acc[p][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(t), _mm256_mul_ps(dm[p], dx),
                                            acc[p][j]);
            }
        }
    }
    kq_store(m, r, R, NP, acc);
}

INLINE void q6_K_tile(const SimdMat *m, int64_t r, int R, const int NP)
{
    const int64_t nsb = m->K / SLM_QK_K, bsz = sizeof(slm_block_q6_K);
    const uint8_t *w[2 * KRP];
    kq_rows(m, r, R, NP, w);
    __m256 acc[KRP][SIMD_MAX_COLS];
    for (int p = 0; p < NP; p++)
        for (int j = 0; j < m->n_cols; j++)
            acc[p][j] = _mm256_setzero_ps();
    const __m256i low4 = _mm256_set1_epi8(0x0F), top2 = _mm256_set1_epi8(0x30);
    for (int64_t b = 0; b < nsb; b++) {
        /* chunk c: elements 16c .. 16c + 15, group c */
        __m256i q[KRP][16], scv[KRP][16], nA[KRP], nB[KRP];
        __m256 dd[KRP];
        for (int p = 0; p < NP; p++) {
            const uint8_t *ba = w[2 * p] + b * bsz, *bb = w[2 * p + 1] + b * bsz;
            /* groups 0-7 (scA) and 8-15 (scB), row a low, row b high */
            __m256i scA = words_s8(ba + 192, bb + 192), scB = words_s8(ba + 200, bb + 200);
            for (int c = 0; c < 8; c++) {
                scv[p][c] = word_of(scA, c);
                scv[p][8 + c] = word_of(scB, c);
            }
            /* the quants are stored +32: -32 * scale against the group
            ** sums, |-32 * scale| <= 4096 still 16-bit */
            nA[p] = _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(scA, 5));
            nB[p] = _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(scB, 5));
            float da = f16_at(ba + 208), db = f16_at(bb + 208);
            dd[p] = _mm256_setr_ps(da, da, da, da, db, db, db, db);
            for (int c = 0; c < 16; c++) {
                /* half h, graph.h's q_g, bytes 16 (c % 2) .. of its 32 */
                const int h = c / 8, g = (c % 8) / 2, o = 16 * (c % 2);
                const int lo = 64 * h + 32 * (g % 2) + o;
                __m256i L = load_pair(ba + lo, bb + lo);
                __m256i H = load_pair(ba + 128 + 32 * h + o, bb + 128 + 32 * h + o);
                /* qh bits 2g, 2g + 1 to bits 4-5; 16-bit shifts, as the
                ** mask drops what crosses from the neighbouring byte */
                __m256i hi2 = g == 0   ? _mm256_slli_epi16(H, 4)
                              : g == 1 ? _mm256_slli_epi16(H, 2)
                              : g == 2 ? H
                                       : _mm256_srli_epi16(H, 2);
                __m256i lo4 = g < 2 ? L : _mm256_srli_epi16(L, 4);
                q[p][c] = _mm256_or_si256(_mm256_and_si256(lo4, low4),
                                          _mm256_and_si256(hi2, top2));
            }
        }
        for (int j = 0; j < m->n_cols; j++) {
            const BlockQ8K *x = (const BlockQ8K *)m->x[j] + b;
            __m256i S[KRP];
            for (int p = 0; p < NP; p++)
                S[p] = _mm256_setzero_si256();
#pragma GCC unroll 4
            for (int c = 0; c < 16; c++) {
                __m256i xv = load_both(x->qs + 16 * c);
                for (int p = 0; p < NP; p++)
                    S[p] = _mm256_add_epi32(
                        S[p], _mm256_madd_epi16(_mm256_maddubs_epi16(q[p][c], xv), scv[p][c]));
            }
            __m256i bsA = load_both(x->bsums), bsB = load_both(x->bsums + 8);
            __m256 dx = _mm256_set1_ps(x->d);
            for (int p = 0; p < NP; p++) {
                __m256i corr = _mm256_add_epi32(_mm256_madd_epi16(bsA, nA[p]),
                                                _mm256_madd_epi16(bsB, nB[p]));
                __m256i tot = _mm256_add_epi32(S[p], corr);
                acc[p][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(tot), _mm256_mul_ps(dd[p], dx),
                                            acc[p][j]);
            }
        }
    }
    kq_store(m, r, R, NP, acc);
}

#define KTILE(name, NP)                                                 \
    static void name##_##NP(const SimdMat *m, int64_t r, int R)         \
    {                                                                   \
        name##_tile(m, r, R, NP);                                       \
    }
#define KTILES(name, decode)                                                        \
    KTILE(name, 1) KTILE(name, 2) KTILE(name, 3) KTILE(name, 4)                     \
    static void (*const name##_tiles[KRP])(const SimdMat *, int64_t, int) = {      \
        name##_1, name##_2, name##_3, name##_4};                                    \
    static void mat_##name(const SimdMat *m, int64_t r0, int64_t r1)                \
    {                                                                               \
        if (m->n_cols == 1) {                                                       \
            decode(m, r0, r1);                                                      \
            return;                                                                 \
        }                                                                           \
        for (int64_t r = r0; r < r1; r += 2 * KRP) {                                \
            int R = r1 - r < 2 * KRP ? (int)(r1 - r) : 2 * KRP;                     \
            name##_tiles[(R + 1) / 2 - 1](m, r, R);                                 \
        }                                                                           \
    }

KTILES(q4_K, simd_x86_mat_q4_K)
KTILES(q6_K, simd_x86_mat_q6_K)
