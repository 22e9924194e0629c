// quant.cl -- MUL_MAT / MUL_MAT_ID activations, prepared once per node:
// every src1 row (any strides) becomes a dense row in scratch (argument
// dst) of what slm/graph.h multiplies the weight with:
//   quant_q8_0_*  Q8_0 act blocks (dequant.cl), for Q4_0 and Q8_0 weights
//   quant_q8_k_*  Q8_K act blocks, for Q4_K and Q6_K weights
//   quant_f16, quant_bf16  floats rounded to the weight's type
//   quant_f32     the floats themselves (so the dot kernels read one layout)
// One work-item per block, or per 16 floats; the ordered scans graph.h
// asks for (the first element of largest magnitude) run in element order.
//
// u[0] scratch byte offset, u[1] units (blocks, or 16-float chunks) per
// row, u[2] units in all. Row r of src1 is (r % ne1, r / ne1 % ne2,
// r / ne1 / ne2); the output row r starts at u[0] + r * row bytes.
//
// The quantisers follow graph.h bit for bit. Products feeding a rounding
// are plain float multiplies (FP_CONTRACT OFF: no fma), round() and rint()
// are exact by the OpenCL C spec, and every quotient is correctly rounded:
// OpenCL lets float division be off by 2.5 ulp, so the _f64 kernels (built
// where the host passes HAVE_FP64) divide in double, which OpenCL C rounds
// correctly; rounding that to float is the correctly rounded float
// quotient, because float's rounding points have at most 25 significant
// bits and a quotient of 24-bit significands that is not itself such a
// point lies at least 2^-49 relative away from them, far beyond double's
// 2^-53. The _int kernels, for devices without fp64 (most phone GPUs),
// divide significands in 32-bit integers.

#pragma OPENCL FP_CONTRACT OFF

// a / b correctly rounded to nearest even, for finite a and b != 0, in
// integers: restoring long division of the significands to 24 bits plus
// two, the remainder as sticky bit, one rounding (into the subnormal range
// too), overflow to infinity.
float mm_div_int(float a, float b)
{
    uint ua = as_uint(a), ub = as_uint(b);
    uint sign = (ua ^ ub) & 0x80000000u;
    ua &= 0x7FFFFFFFu;
    ub &= 0x7FFFFFFFu;
    if (ua == 0u)
        return as_float(sign);
    int ea = (int)(ua >> 23), eb = (int)(ub >> 23);
    uint ma = ua & 0x7FFFFFu, mb = ub & 0x7FFFFFu;
    if (ea == 0) { // subnormal: normalise into [2^23, 2^24)
        int s = (int)clz(ma) - 8;
        ma <<= s;
        ea = 1 - s;
    } else {
        ma |= 0x800000u;
    }
    if (eb == 0) {
        int s = (int)clz(mb) - 8;
        mb <<= s;
        eb = 1 - s;
    } else {
        mb |= 0x800000u;
    }
    int e = ea - eb + 127; // biased exponent of the quotient
    if (ma < mb) {         // so that ma / mb lies in [1, 2)
        ma <<= 1;
        e--;
    }
    // q = floor(ma / mb * 2^25), 26 bits with the top one set; the partial
    // remainder stays below 2 mb < 2^25.
    uint q = 0u, r = ma;
    for (int i = 0; i < 26; i++) {
        q <<= 1;
        if (r >= mb) {
            r -= mb;
            q |= 1u;
        }
        r <<= 1;
    }
    // A normal result keeps 24 of the 26 bits; a subnormal one (e <= 0),
    // which has no implicit bit, 1 - e fewer.
    int drop = e >= 1 ? 2 : 3 - e;
    if (drop > 26)
        return as_float(sign);
    uint keep = q >> drop, rest = q & ((1u << drop) - 1u), half_ = 1u << (drop - 1);
    if (rest > half_ || (rest == half_ && (r != 0u || (keep & 1u))))
        keep++;
    // keep's implicit bit (2^23) raises exponent e - 1 to e, and a carry out
    // of rounding raises it once more; a subnormal's keep is its encoding.
    uint bits = e >= 1 ? ((uint)(e - 1) << 23) + keep : keep;
    return as_float(sign | min(bits, 0x7F800000u));
}

#ifdef HAVE_FP64
float mm_div_f64(float a, float b)
{
    return convert_float_rte((double)a / (double)b);
}
#endif

// Elements k .. k + 15 of the src1 row at byte o.
float16 mm_x16(const cl_args *a, global const uchar *s1, uint o, uint k)
{
    uint step = a->nb[2][0];
    if (step == 4u)
        return vload16(0, (global const float *)(s1 + o + 4u * k));
    float t[16];
    for (uint j = 0u; j < 16u; j++)
        t[j] = LD_F32(s1, o + (k + j) * step);
    return vload16(0, t);
}

int16 mm_non_finite(float16 v)
{
    return (as_uint16(v) & 0x7F800000u) == (uint16)0x7F800000u;
}

// Unit index of this work-item; false past the last unit.
bool mm_quant_unit(const cl_args *a, uint *unit)
{
    *unit = (uint)get_global_id(0);
    return *unit < a->u[2];
}

// Q8_0, per block of 32: d = amax / 127, id = 1 / d (0 below FLT_MIN), q =
// round(v * id) (ties away from zero), da = d rounded to f16.
#define MM_QUANT_Q8_0(NAME, DIV)                                                     \
    kernel void NAME(KARGS)                                                          \
    {                                                                                \
        uint unit;                                                                   \
        if (!mm_quant_unit(&a, &unit))                                               \
            return;                                                                  \
        uint r = unit / a.u[1], i = unit % a.u[1];                                   \
        uint xo = row_off(&a, 2u, r);                                                   \
        float16 v0 = mm_x16(&a, s1, xo, 32u * i), v1 = mm_x16(&a, s1, xo, 32u * i + 16u); \
        global uchar *out = dst + a.u[0] + unit * MM_Q8A_BYTES;                      \
        global char *qs = (global char *)(out + 4u);                                 \
        if (any(mm_non_finite(v0) | mm_non_finite(v1))) {                            \
            *(global float *)out = NAN;                                              \
            vstore16((char16)0, 0, qs);                                              \
            vstore16((char16)0, 1, qs);                                              \
            return;                                                                  \
        }                                                                            \
        float16 m = fmax(fabs(v0), fabs(v1));                                        \
        float8 m8 = fmax(m.lo, m.hi);                                                \
        float4 m4 = fmax(m8.lo, m8.hi);                                              \
        float amax = fmax(fmax(m4.x, m4.y), fmax(m4.z, m4.w));                       \
        float d = DIV(amax, 127.0f);                                                 \
        float id = d >= FLT_MIN ? DIV(1.0f, d) : 0.0f;                               \
        vstore16(convert_char16(round(v0 * id)), 0, qs);                             \
        vstore16(convert_char16(round(v1 * id)), 1, qs);                             \
        *(global float *)out = f16_bits_to_f32(f32_to_f16_bits(d));                               \
    }

// Q8_K, per block of 256: mx = the first element of largest magnitude,
// iscale = -127 / mx, q = min(127, rint(iscale * v)) (ties to even), d =
// 1 / iscale; an all-zero block or an iscale that overflows gives d = 0.
#define MM_QUANT_Q8_K(NAME, DIV)                                                     \
    kernel void NAME(KARGS)                                                          \
    {                                                                                \
        uint unit;                                                                   \
        if (!mm_quant_unit(&a, &unit))                                               \
            return;                                                                  \
        uint r = unit / a.u[1], i = unit % a.u[1];                                   \
        uint xo = row_off(&a, 2u, r);                                                   \
        global uchar *out = dst + a.u[0] + unit * MM_Q8KA_BYTES;                     \
        global int *sums = (global int *)(out + MM_Q8KA_SUMS);                       \
        global char *qs = (global char *)(out + MM_Q8KA_QS);                         \
        int16 bad = 0;                                                               \
        float16 m = 0.0f;                                                            \
        for (uint k = 0u; k < 16u; k++) {                                            \
            float16 v = mm_x16(&a, s1, xo, 256u * i + 16u * k);                      \
            bad |= mm_non_finite(v);                                                 \
            m = fmax(m, fabs(v));                                                    \
        }                                                                            \
        float8 m8 = fmax(m.lo, m.hi);                                                \
        float4 m4 = fmax(m8.lo, m8.hi);                                              \
        float amax = fmax(fmax(m4.x, m4.y), fmax(m4.z, m4.w));                       \
        float mx = 0.0f;                                                             \
        for (uint j = 0u; amax != 0.0f && !any(bad); j++) {                          \
            float v = LD_F32(s1, xo + (256u * i + j) * a.nb[2][0]);                  \
            if (fabs(v) == amax) {                                                   \
                mx = v;                                                              \
                break;                                                               \
            }                                                                        \
        }                                                                            \
        float iscale = mx != 0.0f ? -DIV(127.0f, mx) : 0.0f;                         \
        if (any(bad) || iscale == 0.0f || isinf(iscale)) {                           \
            *(global float *)out = any(bad) ? NAN : 0.0f;                            \
            for (uint k = 0u; k < 16u; k++)                                          \
                vstore16((char16)0, k, qs);                                          \
            vstore8((int8)0, 0, sums);                                               \
            return;                                                                  \
        }                                                                            \
        for (uint s = 0u; s < 8u; s++) {                                             \
            int16 acc = 0;                                                           \
            for (uint h = 0u; h < 2u; h++) {                                         \
                uint k = 2u * s + h;                                                 \
                float16 v = mm_x16(&a, s1, xo, 256u * i + 16u * k);                  \
                int16 q = convert_int16(fmin(rint(iscale * v), 127.0f));             \
                vstore16(convert_char16(q), k, qs);                                  \
                acc += q;                                                            \
            }                                                                        \
            int8 t8 = acc.lo + acc.hi;                                               \
            int4 t4 = t8.lo + t8.hi;                                                 \
            sums[s] = t4.x + t4.y + t4.z + t4.w;                                     \
        }                                                                            \
        *(global float *)out = DIV(1.0f, iscale);                                    \
    }

MM_QUANT_Q8_0(quant_q8_0_int, mm_div_int)
MM_QUANT_Q8_K(quant_q8_k_int, mm_div_int)
#ifdef HAVE_FP64
MM_QUANT_Q8_0(quant_q8_0_f64, mm_div_f64)
MM_QUANT_Q8_K(quant_q8_k_f64, mm_div_f64)
#endif

// Plain weights: 16 floats per work-item (fewer at a row's end), rounded
// by ROUND16 (dense) or ROUND (one by one), into rows of ne0 floats.
#define MM_QUANT_PLAIN(NAME, ROUND16, ROUND)                                         \
    kernel void NAME(KARGS)                                                          \
    {                                                                                \
        uint unit;                                                                   \
        if (!mm_quant_unit(&a, &unit))                                               \
            return;                                                                  \
        uint r = unit / a.u[1], k = 16u * (unit % a.u[1]), K = a.ne[2][0];          \
        uint xo = row_off(&a, 2u, r);                                                   \
        global float *out = (global float *)(dst + a.u[0]) + r * K + k;              \
        if (k + 16u <= K) {                                                          \
            float16 v = mm_x16(&a, s1, xo, k);                                       \
            vstore16(ROUND16(v), 0, out);                                            \
            return;                                                                  \
        }                                                                            \
        for (uint j = 0u; k + j < K; j++)                                            \
            out[j] = ROUND(LD_F32(s1, xo + (k + j) * a.nb[2][0]));                   \
    }

// x rounded to f16 and back (common.cl's exact conversions), 16 at a time.
float16 mm_round_f16x16(float16 v)
{
    float t[16];
    vstore16(v, 0, t);
    for (uint j = 0u; j < 16u; j++)
        t[j] = f16_bits_to_f32(f32_to_f16_bits(t[j]));
    return vload16(0, t);
}

float mm_round_f16(float v)
{
    return f16_bits_to_f32(f32_to_f16_bits(v));
}

// x rounded to bf16 as common.cl's f32_to_bf16_bits, 16 at a time.
float16 mm_round_bf16x16(float16 v)
{
    uint16 x = as_uint16(v);
    uint16 nan = (x >> 16) | 0x40u;
    uint16 rounded = (x + 0x7FFFu + ((x >> 16) & 1u)) >> 16;
    uint16 r = select(rounded, nan, (x & 0x7FFFFFFFu) > (uint16)0x7F800000u);
    return as_float16(r << 16);
}

float mm_round_bf16(float v)
{
    return as_float(f32_to_bf16_bits(v) << 16);
}

#define MM_SAME16(v) (v)
#define MM_SAME(v) (v)

MM_QUANT_PLAIN(quant_f32, MM_SAME16, MM_SAME)
MM_QUANT_PLAIN(quant_f16, mm_round_f16x16, mm_round_f16)
MM_QUANT_PLAIN(quant_bf16, mm_round_bf16x16, mm_round_bf16)

#pragma OPENCL FP_CONTRACT DEFAULT
