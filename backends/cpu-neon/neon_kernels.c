/*
** neon_kernels.c -- the quantised matmul kernels of cpu-neon: Q8_0 and
** Q4_0 weights against Q8_0 activations, Q4_K and Q6_K weights against
** Q8_K activations, on the GGUF blocks as they lie in memory.
**
** Built twice: as it is, for any AArch64 CPU (plain Advanced SIMD), and as
** neon_kernels_dot.c with -march=armv8.2-a+dotprod, where the int8 dot
** product (sdot: four 4-element dot products into int32 lanes) replaces
** the widening multiply and pairwise add. The variant picks one when the
** device opens, by what getauxval reported; the dotprod build runs on no
** CPU that lacks the instruction.
**
** Every block's integer sum is exact, and each weight row's float sum runs
** over its blocks in order, one rounding per operation, as graph.h writes
** it: a lane of the float accumulators is one output (one row, or one
** column), never a part of one. So these kernels give the reference
** backend's results bit for bit; only the float matmuls (simd_matmul.c)
** sum in another order.
**
** Activation row layout for Q8_0 and Q4_0 weights (q8_row_bytes,
** quantize_q8), K elements in nb = K / 32 blocks:
**   int8  qs[K], padded to 64 bytes
**   float d[nb]  the block scales, rounded to f16 as the Q8_0 block keeps
**                them, padded to 64 bytes
** Q4_K and Q6_K weights read rows of BlockQ8K (simd_matmul.c makes them).
*/
#include <arm_neon.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include "../cpu-simd/simd_internal.h"

#if defined(__ARM_FEATURE_DOTPROD)
#define KERNELS simd_neon_dot_kernels
#else
#define KERNELS simd_neon_kernels
#endif

#define INLINE static inline __attribute__((always_inline))

/* ------------------------------------------------------------- layout */

static inline size_t qs_bytes(int64_t K) { return simd_align64((size_t)K); }

static inline size_t ds_bytes(int64_t K) { return simd_align64((size_t)(K / 32) * sizeof(float)); }

static size_t q8_row_bytes(int64_t K)
{
    return qs_bytes(K) + ds_bytes(K);
}

static inline float f16_at(const void *p)
{
    uint16_t h;
    memcpy(&h, p, sizeof h);
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
}

static inline void st(char *p, float v)
{
    memcpy(p, &v, sizeof v);
}

/* ---------------------------------------------------------- dot products */

/*
** acc + the sums of each four consecutive products a[i] * b[i]. Without
** sdot: products widened to 16 bits, two added per 16-bit lane, pairs of
** those added into the 32-bit lanes. Two products cannot overflow 16 bits
** because b (the activations) never holds -128: |a b| <= 128 * 127, and
** twice that is below 32768.
*/
INLINE int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b)
{
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(acc, a, b);
#else
    int16x8_t p = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    p = vmlal_high_s8(p, a, b);
    return vpadalq_s16(acc, p);
#endif
}

/* The four lanes of each of a, b, c, d summed: {sum a, sum b, sum c, sum d}. */
INLINE int32x4_t reduce4(int32x4_t a, int32x4_t b, int32x4_t c, int32x4_t d)
{
    return vpaddq_s32(vpaddq_s32(a, b), vpaddq_s32(c, d));
}

/* ------------------------------------------------------- quantisation */

/*
** graph.h's Q8_0 activations, bit for bit: d = amax / 127 and id = 1 / d
** in float (id from d before its f16 rounding, 0 for an all-zero block);
** q = roundf(x * id), which is what fcvtas does (nearest, ties away from
** zero); the block keeps d rounded to f16, stored here as its float value.
** A block with an infinity or NaN (amax is then not finite: fmaxv passes
** NaN on) gets a NaN scale and zero quants. The layout is the same for
** both weight types.
*/
static void quantize_q8(const float *x, int64_t K, void *out, slm_dtype_t wtype)
{
    (void)wtype;
    int64_t nb = K / 32;
    int8_t *qs = out;
    float *ds = (float *)((char *)out + qs_bytes(K));
    for (int64_t b = 0; b < nb; b++, x += 32) {
        float32x4_t v[8];
        float32x4_t mx = vdupq_n_f32(0.0f);
        for (int k = 0; k < 8; k++) {
            v[k] = vld1q_f32(x + 4 * k);
            mx = vmaxq_f32(mx, vabsq_f32(v[k]));
        }
        float amax = vmaxvq_f32(mx);
        if (!(amax <= FLT_MAX)) {
            memset(qs + 32 * b, 0, 32);
            ds[b] = NAN;
            continue;
        }
        float d = amax / 127.0f;
        float id = d >= FLT_MIN ? 1.0f / d : 0.0f; /* graph.h */
        float32x4_t vid = vdupq_n_f32(id);
        int16x8_t h[4];
        for (int k = 0; k < 4; k++) {
            int32x4_t q0 = vcvtaq_s32_f32(vmulq_f32(v[2 * k], vid));
            int32x4_t q1 = vcvtaq_s32_f32(vmulq_f32(v[2 * k + 1], vid));
            h[k] = vcombine_s16(vqmovn_s32(q0), vqmovn_s32(q1));
        }
        vst1q_s8(qs + 32 * b, vcombine_s8(vqmovn_s16(h[0]), vqmovn_s16(h[1])));
        vst1q_s8(qs + 32 * b + 16, vcombine_s8(vqmovn_s16(h[2]), vqmovn_s16(h[3])));
        ds[b] = vgetq_lane_f32(vcvt_f32_f16(vcvt_f16_f32(vdupq_n_f32(d))), 0);
    }
}

/* -------------------------------------------------------- Q8_0, Q4_0 */

/* The 32 integer weights of a block: two vectors of elements 0-15, 16-31.
** Q4_0 keeps element j in the low nibble of qs[j] and element j + 16 in
** its high nibble, each stored + 8. */
INLINE void weights(const uint8_t *blk, const bool q4, int8x16_t *w0, int8x16_t *w1)
{
    if (q4) {
        uint8x16_t q = vld1q_u8(blk + 2);
        const int8x16_t eight = vdupq_n_s8(8);
        *w0 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0F))), eight);
        *w1 = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), eight);
    } else {
        *w0 = vld1q_s8((const int8_t *)blk + 2);
        *w1 = vld1q_s8((const int8_t *)blk + 18);
    }
}

/* The f16 scales at byte `off` of four blocks, as one vector (lane i:
** w[i]), loaded straight into its lanes. Blocks are copied out with
** memcpy: an 18- or 34-byte block is only 2-byte aligned, or not at all
** in a tensor at an odd offset. */
INLINE float32x4_t scales4(const uint8_t *const w[4], size_t off)
{
    uint16_t h0, h1, h2, h3;
    memcpy(&h0, w[0] + off, 2);
    memcpy(&h1, w[1] + off, 2);
    memcpy(&h2, w[2] + off, 2);
    memcpy(&h3, w[3] + off, 2);
    uint16x4_t v = vdup_n_u16(h0);
    v = vset_lane_u16(h1, v, 1);
    v = vset_lane_u16(h2, v, 2);
    v = vset_lane_u16(h3, v, 3);
    return vcvt_f32_f16(vreinterpret_f16_u16(v));
}

/* Tile: weight rows x activation columns. */
#define RT 4
#define CT 4

/*
** Decode (one column): four weight rows at once, one float lane each. Per
** block, the four rows' integer sums land in one vector (reduce4), become
** float once and are scaled by the four rows' dw times the column's da.
** Rows past r1 repeat the last row and are not stored.
*/
INLINE void mat_decode(const SimdMat *m, int64_t r0, int64_t r1, const bool q4)
{
    const int64_t nb = m->K / 32;
    const size_t bsz = q4 ? sizeof(slm_block_q4_0) : sizeof(slm_block_q8_0);
    const int8_t *xq = m->x[0];
    const float *xd = (const float *)((const char *)m->x[0] + qs_bytes(m->K));
    const int32x4_t zero = vdupq_n_s32(0);
    for (int64_t r = r0; r < r1; r += RT) {
        const uint8_t *w[RT];
        for (int i = 0; i < RT; i++) {
            int64_t ri = r + i < r1 ? r + i : r1 - 1;
            w[i] = (const uint8_t *)m->w + (size_t)ri * m->w_stride;
        }
        float32x4_t acc = vdupq_n_f32(0.0f);
        for (int64_t b = 0; b < nb; b++) {
            int8x16_t x0 = vld1q_s8(xq + 32 * b), x1 = vld1q_s8(xq + 32 * b + 16);
            int32x4_t s[RT];
            for (int i = 0; i < RT; i++) {
                int8x16_t w0, w1;
                weights(w[i] + (size_t)b * bsz, q4, &w0, &w1);
                s[i] = dot16(dot16(zero, w0, x0), w1, x1);
            }
            float32x4_t sc = vmulq_n_f32(scales4(w, (size_t)b * bsz), xd[b]);
            float32x4_t si = vcvtq_f32_s32(reduce4(s[0], s[1], s[2], s[3]));
            acc = vaddq_f32(acc, vmulq_f32(si, sc));
        }
        float out[RT];
        vst1q_f32(out, acc);
        for (int i = 0; i < RT && r + i < r1; i++)
            st(m->y[0] + (size_t)(r + i) * m->y_step, out[i]);
    }
}

/*
** Several columns: RT weight rows x C columns, one float vector per row
** whose lanes are the columns. Each weight block is unpacked once for all
** C columns; each column's activation block is loaded once for all rows.
*/
INLINE void qtile(const SimdMat *m, int64_t r, int64_t r1, int c0, const int C, const bool q4)
{
    const int64_t nb = m->K / 32;
    const size_t bsz = q4 ? sizeof(slm_block_q4_0) : sizeof(slm_block_q8_0);
    const size_t qsb = qs_bytes(m->K);
    const int32x4_t zero = vdupq_n_s32(0);
    const uint8_t *w[RT];
    const int8_t *xq[CT];
    const float *xd[CT];
    float32x4_t acc[RT];
    for (int i = 0; i < RT; i++) {
        int64_t ri = r + i < r1 ? r + i : r1 - 1;
        w[i] = (const uint8_t *)m->w + (size_t)ri * m->w_stride;
        acc[i] = vdupq_n_f32(0.0f);
    }
    for (int j = 0; j < C; j++) {
        xq[j] = (const int8_t *)m->x[c0 + j];
        xd[j] = (const float *)((const char *)xq[j] + qsb);
    }
    for (int64_t b = 0; b < nb; b++) {
        int8x16_t x0[CT], x1[CT];
        float dx[CT] = {0.0f, 0.0f, 0.0f, 0.0f};
        for (int j = 0; j < C; j++) {
            x0[j] = vld1q_s8(xq[j] + 32 * b);
            x1[j] = vld1q_s8(xq[j] + 32 * b + 16);
            dx[j] = xd[j][b];
        }
        float32x4_t vdx = vld1q_f32(dx);
        for (int i = 0; i < RT; i++) {
            const uint8_t *blk = w[i] + (size_t)b * bsz;
            int8x16_t w0, w1;
            weights(blk, q4, &w0, &w1);
            int32x4_t s[CT];
            for (int j = 0; j < CT; j++)
                s[j] = j < C ? dot16(dot16(zero, w0, x0[j]), w1, x1[j]) : zero;
            float32x4_t sc = vmulq_n_f32(vdx, f16_at(blk));
            float32x4_t si = vcvtq_f32_s32(reduce4(s[0], s[1], s[2], s[3]));
            acc[i] = vaddq_f32(acc[i], vmulq_f32(si, sc));
        }
    }
    for (int i = 0; i < RT && r + i < r1; i++) {
        float out[CT];
        vst1q_f32(out, acc[i]);
        for (int j = 0; j < C; j++)
            st(m->y[c0 + j] + (size_t)(r + i) * m->y_step, out[j]);
    }
}

typedef void (*TileFn)(const SimdMat *m, int64_t r, int64_t r1, int c0);

#define QTILE(name, Q4, C)                                                        \
    static void name##_##C(const SimdMat *m, int64_t r, int64_t r1, int c0)       \
    {                                                                             \
        qtile(m, r, r1, c0, C, Q4);                                               \
    }
#define QMAT(name, Q4)                                                            \
    QTILE(name, Q4, 1) QTILE(name, Q4, 2) QTILE(name, Q4, 3) QTILE(name, Q4, 4)   \
    static void mat_##name(const SimdMat *m, int64_t r0, int64_t r1)              \
    {                                                                             \
        static const TileFn tiles[CT] = {name##_1, name##_2, name##_3, name##_4}; \
        if (m->n_cols == 1) {                                                     \
            mat_decode(m, r0, r1, Q4);                                            \
            return;                                                               \
        }                                                                         \
        for (int64_t r = r0; r < r1; r += RT)                                     \
            for (int c = 0; c < m->n_cols; c += CT) {                             \
                int C = m->n_cols - c < CT ? m->n_cols - c : CT;                  \
                tiles[C - 1](m, r, r1, c);                                        \
            }                                                                     \
    }

QMAT(q8_0, false)
QMAT(q4_0, true)

/* ------------------------------------------------------------- K-quants */

/* Columns one K-quant kernel call takes: each super-block of weights is
** unpacked once for all of them. */
#define KCT 4

/*
** One Q4_K weight row against C columns. Per super-block: S = sum over
** sub-blocks of sc * (nibbles . quants), kept in int32 lanes (each lane
** stays below 2^23); Mn = sum of m * (the sub-block's two bsums), from
** the pairwise sums of bsums times the mins; then, as graph.h orders it,
** dot += (d_w * d) * S; dot -= (dmin_w * d) * Mn.
*/
INLINE void q4_K_tile(const SimdMat *m, int64_t r, int c0, const int C)
{
    const uint8_t *w = (const uint8_t *)m->w + (size_t)r * m->w_stride;
    const BlockQ8K *x[KCT];
    float sum[KCT];
    const int32x4_t zero = vdupq_n_s32(0);
    const uint8x16_t low4 = vdupq_n_u8(0x0F);
    for (int j = 0; j < C; j++) {
        x[j] = (const BlockQ8K *)m->x[c0 + j];
        sum[j] = 0.0f;
    }
    for (int64_t b = 0; b < m->K / SLM_QK_K; b++, w += sizeof(slm_block_q4_K)) {
        float d = f16_at(w), dmin = f16_at(w + 2);
        uint8_t sc[8], mn[8];
        simd_q4_K_scales(w + 4, sc, mn);
        int32x4_t isum[KCT];
        for (int j = 0; j < C; j++)
            isum[j] = zero;
        for (int p = 0; p < 4; p++) {
            uint8x16_t q0 = vld1q_u8(w + 16 + 32 * p), q1 = vld1q_u8(w + 32 + 32 * p);
            int8x16_t lo0 = vreinterpretq_s8_u8(vandq_u8(q0, low4));
            int8x16_t lo1 = vreinterpretq_s8_u8(vandq_u8(q1, low4));
            int8x16_t hi0 = vreinterpretq_s8_u8(vshrq_n_u8(q0, 4));
            int8x16_t hi1 = vreinterpretq_s8_u8(vshrq_n_u8(q1, 4));
            for (int j = 0; j < C; j++) {
                const int8_t *xq = x[j][b].qs + 64 * p;
                int32x4_t dl = dot16(dot16(zero, lo0, vld1q_s8(xq)), lo1, vld1q_s8(xq + 16));
                int32x4_t dh = dot16(dot16(zero, hi0, vld1q_s8(xq + 32)), hi1, vld1q_s8(xq + 48));
                isum[j] = vmlaq_n_s32(isum[j], dl, sc[2 * p]);
                isum[j] = vmlaq_n_s32(isum[j], dh, sc[2 * p + 1]);
            }
        }
        int16x8_t m16 = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(mn)));
        for (int j = 0; j < C; j++) {
            const int16_t *bs = x[j][b].bsums;
            int16x8_t pairs = vpaddq_s16(vld1q_s16(bs), vld1q_s16(bs + 8));
            int32x4_t mm = vmull_s16(vget_low_s16(pairs), vget_low_s16(m16));
            mm = vmlal_high_s16(mm, pairs, m16);
            float dx = x[j][b].d;
            float dd = d * dx, dm = dmin * dx;
            sum[j] += dd * (float)vaddvq_s32(isum[j]);
            sum[j] -= dm * (float)vaddvq_s32(mm);
        }
    }
    for (int j = 0; j < C; j++)
        st(m->y[c0 + j] + (size_t)r * m->y_step, sum[j]);
}

/*
** One Q6_K weight row against C columns. Each half of a super-block is
** rebuilt into eight vectors of 16 quants (q - 32, signed), vector k being
** elements 16k .. 16k + 15 of the half, which share scales[8h + k]; their
** dot products times the scales add up to S in int32 lanes (below 2^26);
** then dot += (d_w * d) * S.
*/
INLINE void q6_K_tile(const SimdMat *m, int64_t r, int c0, const int C)
{
    const uint8_t *w = (const uint8_t *)m->w + (size_t)r * m->w_stride;
    const BlockQ8K *x[KCT];
    float sum[KCT];
    const int32x4_t zero = vdupq_n_s32(0);
    const uint8x16_t low4 = vdupq_n_u8(0x0F);
    const int8x16_t m32 = vdupq_n_s8(32);
    for (int j = 0; j < C; j++) {
        x[j] = (const BlockQ8K *)m->x[c0 + j];
        sum[j] = 0.0f;
    }
    for (int64_t b = 0; b < m->K / SLM_QK_K; b++, w += sizeof(slm_block_q6_K)) {
        const uint8_t *ql = w, *qh = w + 128;
        const int8_t *sc = (const int8_t *)(w + 192);
        float d = f16_at(w + 208);
        int32x4_t isum[KCT];
        for (int j = 0; j < C; j++)
            isum[j] = zero;
        for (int h = 0; h < 2; h++) {
            uint8x16_t l[4], hb[2];
            for (int k = 0; k < 4; k++)
                l[k] = vld1q_u8(ql + 64 * h + 16 * k);
            hb[0] = vld1q_u8(qh + 32 * h);
            hb[1] = vld1q_u8(qh + 32 * h + 16);
            uint8x16_t u[8];
            for (int k = 0; k < 2; k++) {
                uint8x16_t hk = hb[k];
                u[k] = vorrq_u8(vandq_u8(l[k], low4),
                                vshlq_n_u8(vandq_u8(hk, vdupq_n_u8(0x03)), 4));
                u[k + 2] = vorrq_u8(vandq_u8(l[k + 2], low4),
                                    vshlq_n_u8(vandq_u8(hk, vdupq_n_u8(0x0C)), 2));
                u[k + 4] = vorrq_u8(vshrq_n_u8(l[k], 4), vandq_u8(hk, vdupq_n_u8(0x30)));
                u[k + 6] = vorrq_u8(vshrq_n_u8(l[k + 2], 4),
                                    vshrq_n_u8(vandq_u8(hk, vdupq_n_u8(0xC0)), 2));
            }
            int8x16_t q[8];
            for (int k = 0; k < 8; k++)
                q[k] = vsubq_s8(vreinterpretq_s8_u8(u[k]), m32);
            for (int j = 0; j < C; j++) {
                const int8_t *xq = x[j][b].qs + 128 * h;
                for (int k = 0; k < 8; k++)
                    isum[j] = vmlaq_n_s32(isum[j], dot16(zero, q[k], vld1q_s8(xq + 16 * k)),
                                          sc[8 * h + k]);
            }
        }
        for (int j = 0; j < C; j++) {
            float dd = d * x[j][b].d;
            sum[j] += dd * (float)vaddvq_s32(isum[j]);
        }
    }
    for (int j = 0; j < C; j++)
        st(m->y[c0 + j] + (size_t)r * m->y_step, sum[j]);
}

typedef void (*KTileFn)(const SimdMat *m, int64_t r, int c0);

#define KMAT(name)                                                                 \
    static void name##_1(const SimdMat *m, int64_t r, int c) { name##_tile(m, r, c, 1); } \
    static void name##_2(const SimdMat *m, int64_t r, int c) { name##_tile(m, r, c, 2); } \
    static void name##_3(const SimdMat *m, int64_t r, int c) { name##_tile(m, r, c, 3); } \
    static void name##_4(const SimdMat *m, int64_t r, int c) { name##_tile(m, r, c, 4); } \
    static void mat_##name(const SimdMat *m, int64_t r0, int64_t r1)               \
    {                                                                              \
        static const KTileFn t[KCT] = {name##_1, name##_2, name##_3, name##_4};    \
        for (int64_t r = r0; r < r1; r++)                                          \
            for (int c = 0; c < m->n_cols; c += KCT)                               \
                t[(m->n_cols - c < KCT ? m->n_cols - c : KCT) - 1](m, r, c);       \
    }

KMAT(q4_K)
KMAT(q6_K)

/* ------------------------------------------------------------ dispatch */

const SimdKernels KERNELS = {
#if defined(__ARM_FEATURE_DOTPROD)
    .name = "neon sdot",
#else
    .name = "neon",
#endif
    .q8_row_bytes = q8_row_bytes,
    .quantize_q8 = quantize_q8,
    .mat_q8_0 = mat_q8_0,
    .mat_q4_0 = mat_q4_0,
    .mat_q4_K = mat_q4_K,
    .mat_q6_K = mat_q6_K,
};
