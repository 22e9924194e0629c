/*
** simd_vec.h -- one vector vocabulary for the shared code of every SIMD
** variant.
**
** Included only by files compiled with a plugin's target flags: with
** AVX-512F a vector is 16 floats, with AVX2 + FMA + F16C 8, and on AArch64
** (Advanced SIMD, which every AArch64 CPU has) 4. The ops that are not
** matmuls, the float matmul kernels and the Q8_K quantiser are written once
** against these names. Tails shorter than a vector use masked loads and
** stores, which never touch the masked-off bytes (so a tail at the very end
** of a buffer is safe).
*/
#ifndef SLM_SIMD_VEC_H
#define SLM_SIMD_VEC_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__aarch64__)
#include <arm_neon.h>
#else
#include <immintrin.h>
#endif

#if defined(__GNUC__)
#define SIMD_INLINE static inline __attribute__((always_inline))
#else
#define SIMD_INLINE static inline
#endif

#if defined(__aarch64__)

#define VL 4
typedef float32x4_t vf;
typedef int32x4_t vi;
/* A tail of n lanes: NEON has no masked loads, so a tail goes through a
** small stack copy of exactly n floats; the lane mask serves vf_keep. */
typedef struct vmask {
    uint32x4_t bits;
    int n;
} vmask;

SIMD_INLINE vf vf_load(const float *p) { return vld1q_f32(p); }
SIMD_INLINE void vf_store(float *p, vf v) { vst1q_f32(p, v); }
SIMD_INLINE vmask vf_tail(int64_t n)
{
    static const uint32_t lanes[4] = {0, 1, 2, 3};
    vmask m;
    m.bits = vcltq_u32(vld1q_u32(lanes), vdupq_n_u32((uint32_t)n));
    m.n = (int)n;
    return m;
}
SIMD_INLINE vf vf_loadm(const float *p, vmask m)
{
    float t[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    memcpy(t, p, (size_t)m.n * sizeof(float));
    return vld1q_f32(t);
}
SIMD_INLINE void vf_storem(float *p, vf v, vmask m)
{
    float t[4];
    vst1q_f32(t, v);
    memcpy(p, t, (size_t)m.n * sizeof(float));
}
SIMD_INLINE vf vf_loadm_or(const float *p, vmask m, vf fill)
{
    float t[4];
    vst1q_f32(t, fill);
    memcpy(t, p, (size_t)m.n * sizeof(float));
    return vld1q_f32(t);
}
SIMD_INLINE vf vf_keep(vf v, vmask m)
{
    return vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(v), m.bits));
}
SIMD_INLINE vf vf_set1(float x) { return vdupq_n_f32(x); }
SIMD_INLINE vf vf_zero(void) { return vdupq_n_f32(0.0f); }
SIMD_INLINE vf vf_add(vf a, vf b) { return vaddq_f32(a, b); }
SIMD_INLINE vf vf_sub(vf a, vf b) { return vsubq_f32(a, b); }
SIMD_INLINE vf vf_mul(vf a, vf b) { return vmulq_f32(a, b); }
SIMD_INLINE vf vf_div(vf a, vf b) { return vdivq_f32(a, b); }
SIMD_INLINE vf vf_fma(vf a, vf b, vf c) { return vfmaq_f32(c, a, b); }
/* NaN in either operand gives NaN (x86's max and min return the second) */
SIMD_INLINE vf vf_max(vf a, vf b) { return vmaxq_f32(a, b); }
SIMD_INLINE vf vf_min(vf a, vf b) { return vminq_f32(a, b); }
SIMD_INLINE float vf_hsum(vf v) { return vaddvq_f32(v); }
SIMD_INLINE float vf_hmax(vf v) { return vmaxvq_f32(v); }
SIMD_INLINE vf vf_abs(vf v) { return vabsq_f32(v); }
SIMD_INLINE vf vf_round(vf v) { return vrndnq_f32(v); } /* ties to even */
SIMD_INLINE vf vf_copysign(vf mag, vf sign)
{
    return vbslq_f32(vdupq_n_u32(0x80000000u), sign, mag);
}
SIMD_INLINE vf vf_select_lt(vf a, vf b, vf x, vf y)
{
    return vbslq_f32(vcltq_f32(a, b), y, x);
}
SIMD_INLINE vf vf_ldexp(vf x, vf n)
{
    int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
    return vmulq_f32(x, vreinterpretq_f32_s32(e));
}
/* f16 <-> f32 conversions are part of base AArch64 Advanced SIMD (FCVTL,
** FCVTN); only f16 arithmetic needs the FP16 extension. */
SIMD_INLINE vf vf_from_f16(const uint16_t *p)
{
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
}
SIMD_INLINE vf vf_from_bf16(const uint16_t *p)
{
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16));
}
SIMD_INLINE uint16x4_t vf_to_f16_bits(vf v)
{
    return vreinterpret_u16_f16(vcvt_f16_f32(v));
}
SIMD_INLINE void vf_store_f16(uint16_t *p, vf v) { vst1_u16(p, vf_to_f16_bits(v)); }
/* bf16 rounding to nearest even with NaN kept quiet, as slm_f32_to_bf16 */
SIMD_INLINE uint16x4_t vf_to_bf16_bits(vf v)
{
    uint32x4_t x = vreinterpretq_u32_f32(v);
    uint32x4_t lsb = vandq_u32(vshrq_n_u32(x, 16), vdupq_n_u32(1));
    uint32x4_t r = vaddq_u32(x, vaddq_u32(vdupq_n_u32(0x7FFF), lsb));
    uint32x4_t nan = vmvnq_u32(vceqq_f32(v, v));
    r = vbslq_u32(nan, vorrq_u32(x, vdupq_n_u32(0x400000)), r);
    return vshrn_n_u32(r, 16);
}
SIMD_INLINE void vf_store_bf16(uint16_t *p, vf v) { vst1_u16(p, vf_to_bf16_bits(v)); }
/* v rounded to f16 (nearest even) and back */
SIMD_INLINE vf vf_round_f16(vf v) { return vcvt_f32_f16(vcvt_f16_f32(v)); }
/* integral floats (|v| < 2^31) to int32, stored */
SIMD_INLINE void vf_store_i32(int32_t *p, vf v) { vst1q_s32(p, vcvtnq_s32_f32(v)); }
/* one f16 to float */
SIMD_INLINE float sf_from_f16(uint16_t h)
{
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
}

#elif defined(__AVX512F__)

#define VL 16
typedef __m512 vf;
typedef __m512i vi;
typedef __mmask16 vmask;

SIMD_INLINE vf vf_load(const float *p) { return _mm512_loadu_ps(p); }
SIMD_INLINE void vf_store(float *p, vf v) { _mm512_storeu_ps(p, v); }
SIMD_INLINE vmask vf_tail(int64_t n) { return (vmask)((1u << n) - 1u); }
SIMD_INLINE vf vf_loadm(const float *p, vmask m) { return _mm512_maskz_loadu_ps(m, p); }
SIMD_INLINE void vf_storem(float *p, vf v, vmask m) { _mm512_mask_storeu_ps(p, m, v); }
/* masked-off lanes take `fill` */
SIMD_INLINE vf vf_loadm_or(const float *p, vmask m, vf fill)
{
    return _mm512_mask_loadu_ps(fill, m, p);
}
/* masked-off lanes become 0 */
SIMD_INLINE vf vf_keep(vf v, vmask m) { return _mm512_maskz_mov_ps(m, v); }
SIMD_INLINE vf vf_set1(float x) { return _mm512_set1_ps(x); }
SIMD_INLINE vf vf_zero(void) { return _mm512_setzero_ps(); }
SIMD_INLINE vf vf_add(vf a, vf b) { return _mm512_add_ps(a, b); }
SIMD_INLINE vf vf_sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
SIMD_INLINE vf vf_mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
SIMD_INLINE vf vf_div(vf a, vf b) { return _mm512_div_ps(a, b); }
SIMD_INLINE vf vf_fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
SIMD_INLINE vf vf_max(vf a, vf b) { return _mm512_max_ps(a, b); }
SIMD_INLINE vf vf_min(vf a, vf b) { return _mm512_min_ps(a, b); }
SIMD_INLINE float vf_hsum(vf v) { return _mm512_reduce_add_ps(v); }
SIMD_INLINE float vf_hmax(vf v) { return _mm512_reduce_max_ps(v); }
SIMD_INLINE vf vf_abs(vf v) { return _mm512_abs_ps(v); }
SIMD_INLINE vf vf_round(vf v) /* to nearest, ties to even */
{
    return _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
SIMD_INLINE vf vf_copysign(vf mag, vf sign)
{
    const __m512i s = _mm512_set1_epi32((int)0x80000000u);
    return _mm512_castsi512_ps(_mm512_or_si512(
        _mm512_andnot_si512(s, _mm512_castps_si512(mag)),
        _mm512_and_si512(s, _mm512_castps_si512(sign))));
}
/* lanes where a < b take `y`, the others `x` */
SIMD_INLINE vf vf_select_lt(vf a, vf b, vf x, vf y)
{
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_LT_OQ), x, y);
}
/* 2^n for integral n in [-126, 127], times x */
SIMD_INLINE vf vf_ldexp(vf x, vf n) { return _mm512_scalef_ps(x, n); }
/* 16 f16 / bf16 values to f32 */
SIMD_INLINE vf vf_from_f16(const uint16_t *p)
{
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}
SIMD_INLINE vf vf_from_f16m(const uint16_t *p, vmask m)
{
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}
SIMD_INLINE vf vf_from_bf16(const uint16_t *p)
{
    __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
}
SIMD_INLINE vf vf_from_bf16m(const uint16_t *p, vmask m)
{
    __m512i w = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
}
SIMD_INLINE __m256i vf_to_f16_bits(vf v)
{
    return _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
SIMD_INLINE void vf_store_f16(uint16_t *p, vf v)
{
    _mm256_storeu_si256((__m256i *)p, vf_to_f16_bits(v));
}
SIMD_INLINE void vf_store_f16m(uint16_t *p, vf v, vmask m)
{
    _mm256_mask_storeu_epi16(p, m, vf_to_f16_bits(v));
}
/* bf16 rounding to nearest even with NaN kept quiet, as slm_f32_to_bf16 */
SIMD_INLINE __m256i vf_to_bf16_bits(vf v)
{
    __m512i x = _mm512_castps_si512(v);
    __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(x, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_add_epi32(x, _mm512_add_epi32(_mm512_set1_epi32(0x7FFF), lsb));
    __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    __m512i q = _mm512_or_si512(x, _mm512_set1_epi32(0x400000));
    r = _mm512_mask_blend_epi32(nan, r, q);
    return _mm512_cvtepi32_epi16(_mm512_srli_epi32(r, 16));
}
SIMD_INLINE void vf_store_bf16(uint16_t *p, vf v)
{
    _mm256_storeu_si256((__m256i *)p, vf_to_bf16_bits(v));
}
SIMD_INLINE void vf_store_bf16m(uint16_t *p, vf v, vmask m)
{
    _mm256_mask_storeu_epi16(p, m, vf_to_bf16_bits(v));
}
SIMD_INLINE vf vf_round_f16(vf v) { return _mm512_cvtph_ps(vf_to_f16_bits(v)); }
SIMD_INLINE void vf_store_i32(int32_t *p, vf v)
{
    _mm512_storeu_si512((void *)p, _mm512_cvtps_epi32(v));
}
SIMD_INLINE float sf_from_f16(uint16_t h) { return _cvtsh_ss(h); }

#else /* AVX2 + FMA + F16C */

#define VL 8
typedef __m256 vf;
typedef __m256i vi;
typedef __m256i vmask;

SIMD_INLINE vf vf_load(const float *p) { return _mm256_loadu_ps(p); }
SIMD_INLINE void vf_store(float *p, vf v) { _mm256_storeu_ps(p, v); }
SIMD_INLINE vmask vf_tail(int64_t n)
{
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), lanes);
}
SIMD_INLINE vf vf_loadm(const float *p, vmask m) { return _mm256_maskload_ps(p, m); }
SIMD_INLINE void vf_storem(float *p, vf v, vmask m) { _mm256_maskstore_ps(p, m, v); }
SIMD_INLINE vf vf_loadm_or(const float *p, vmask m, vf fill)
{
    return _mm256_blendv_ps(fill, _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
}
SIMD_INLINE vf vf_keep(vf v, vmask m) { return _mm256_and_ps(v, _mm256_castsi256_ps(m)); }
SIMD_INLINE vf vf_set1(float x) { return _mm256_set1_ps(x); }
SIMD_INLINE vf vf_zero(void) { return _mm256_setzero_ps(); }
SIMD_INLINE vf vf_add(vf a, vf b) { return _mm256_add_ps(a, b); }
SIMD_INLINE vf vf_sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
SIMD_INLINE vf vf_mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
SIMD_INLINE vf vf_div(vf a, vf b) { return _mm256_div_ps(a, b); }
SIMD_INLINE vf vf_fma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
SIMD_INLINE vf vf_max(vf a, vf b) { return _mm256_max_ps(a, b); }
SIMD_INLINE vf vf_min(vf a, vf b) { return _mm256_min_ps(a, b); }
SIMD_INLINE float vf_hsum(vf v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
SIMD_INLINE float vf_hmax(vf v)
{
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
SIMD_INLINE vf vf_abs(vf v)
{
    return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
}
SIMD_INLINE vf vf_round(vf v)
{
    return _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
SIMD_INLINE vf vf_copysign(vf mag, vf sign)
{
    const vf s = _mm256_set1_ps(-0.0f);
    return _mm256_or_ps(_mm256_andnot_ps(s, mag), _mm256_and_ps(s, sign));
}
SIMD_INLINE vf vf_select_lt(vf a, vf b, vf x, vf y)
{
    return _mm256_blendv_ps(x, y, _mm256_cmp_ps(a, b, _CMP_LT_OQ));
}
SIMD_INLINE vf vf_ldexp(vf x, vf n)
{
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n),
                                                   _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(x, _mm256_castsi256_ps(e));
}
SIMD_INLINE vf vf_from_f16(const uint16_t *p)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}
SIMD_INLINE vf vf_from_bf16(const uint16_t *p)
{
    __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}
SIMD_INLINE __m128i vf_to_f16_bits(vf v)
{
    return _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
SIMD_INLINE void vf_store_f16(uint16_t *p, vf v)
{
    _mm_storeu_si128((__m128i *)p, vf_to_f16_bits(v));
}
SIMD_INLINE __m128i vf_to_bf16_bits(vf v)
{
    __m256i x = _mm256_castps_si256(v);
    __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(1));
    __m256i r = _mm256_add_epi32(x, _mm256_add_epi32(_mm256_set1_epi32(0x7FFF), lsb));
    __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    __m256i q = _mm256_or_si256(x, _mm256_set1_epi32(0x400000));
    r = _mm256_blendv_epi8(r, q, nan);
    r = _mm256_srli_epi32(r, 16);
    /* unsigned pack of 32-bit lanes to 16 bits, then undo the lane split */
    __m256i packed = _mm256_packus_epi32(r, r);
    packed = _mm256_permute4x64_epi64(packed, 0x08);
    return _mm256_castsi256_si128(packed);
}
SIMD_INLINE void vf_store_bf16(uint16_t *p, vf v)
{
    _mm_storeu_si128((__m128i *)p, vf_to_bf16_bits(v));
}
SIMD_INLINE vf vf_round_f16(vf v) { return _mm256_cvtph_ps(vf_to_f16_bits(v)); }
SIMD_INLINE void vf_store_i32(int32_t *p, vf v)
{
    _mm256_storeu_si256((__m256i *)p, _mm256_cvtps_epi32(v));
}
SIMD_INLINE float sf_from_f16(uint16_t h) { return _cvtsh_ss(h); }

#endif

/* ------------------------------------------------------ transcendental */

/*
** e^x to about 1 ulp on [-87.3, 88.7]: x = n ln2 + r with |r| <= ln2 / 2
** (ln2 split in two for an exact reduction), e^r by its degree-6 Taylor
** polynomial, times 2^n. Below -87.3 the result is 0 (softmax's masked
** keys give exactly 0, as exp(-inf) does); above 88.3 it stays at e^88.3,
** which is as good as infinity to its callers (silu, tanh).
*/
SIMD_INLINE vf vf_exp(vf x)
{
    const vf lo = vf_set1(-87.33654f), hi = vf_set1(88.3f);
    vf xc = vf_min(vf_max(x, lo), hi);
    vf n = vf_round(vf_mul(xc, vf_set1(1.44269504088896341f)));
    vf r = vf_fma(n, vf_set1(-0.693145751953125f), xc);
    r = vf_fma(n, vf_set1(-1.428606765330187045e-06f), r);
    vf p = vf_set1(1.0f / 720.0f);
    p = vf_fma(p, r, vf_set1(1.0f / 120.0f));
    p = vf_fma(p, r, vf_set1(1.0f / 24.0f));
    p = vf_fma(p, r, vf_set1(1.0f / 6.0f));
    p = vf_fma(p, r, vf_set1(0.5f));
    p = vf_fma(p, r, vf_set1(1.0f));
    p = vf_fma(p, r, vf_set1(1.0f));
    vf y = vf_ldexp(p, n);
    return vf_select_lt(x, lo, y, vf_zero());
}

/* tanh(x) = sign(x) (1 - 2 / (e^{2|x|} + 1)); below |x| = 1/4, where that
** difference cancels, its Taylor series to x^11 (error under 1e-9). */
SIMD_INLINE vf vf_tanh(vf x)
{
    vf ax = vf_abs(x);
    vf e = vf_exp(vf_mul(ax, vf_set1(2.0f)));
    vf big = vf_sub(vf_set1(1.0f), vf_div(vf_set1(2.0f), vf_add(e, vf_set1(1.0f))));
    vf x2 = vf_mul(x, x);
    vf p = vf_set1(-1382.0f / 155925.0f);
    p = vf_fma(p, x2, vf_set1(62.0f / 2835.0f));
    p = vf_fma(p, x2, vf_set1(-17.0f / 315.0f));
    p = vf_fma(p, x2, vf_set1(2.0f / 15.0f));
    p = vf_fma(p, x2, vf_set1(-1.0f / 3.0f));
    p = vf_fma(p, x2, vf_set1(1.0f));
    vf small = vf_mul(ax, p);
    return vf_copysign(vf_select_lt(ax, vf_set1(0.25f), big, small), x);
}

SIMD_INLINE vf vf_silu(vf x)
{
    return vf_div(x, vf_add(vf_set1(1.0f), vf_exp(vf_sub(vf_zero(), x))));
}

/* 0.5 x (1 + tanh(u)) written as x / (1 + e^{-2u}), which does not cancel
** for negative x, u = sqrt(2 / pi) (x + 0.044715 x^3). */
SIMD_INLINE vf vf_gelu(vf x)
{
    const vf k2 = vf_set1(-2.0f * 0.79788456080286535588f), c = vf_set1(0.044715f);
    vf x3 = vf_mul(vf_mul(x, x), x);
    vf e = vf_exp(vf_mul(k2, vf_fma(c, x3, x)));
    return vf_div(x, vf_add(vf_set1(1.0f), e));
}

#endif /* SLM_SIMD_VEC_H */
