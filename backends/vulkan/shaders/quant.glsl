// quant.glsl -- the activation quantisers of MUL_MAT and MUL_MAT_ID, bit for
// bit as slm/graph.h defines them. Include common.glsl first.
//
// Two things stand between GLSL and the reference's float arithmetic:
//   - Vulkan lets OpFDiv be off by 2.5 ulp, but the scales d = amax / 127,
//     1 / d, -127 / mx and 1 / iscale must be correctly rounded, so every
//     quotient goes through div_rn below.
//   - A compiler may contract a * b + c into one fma, and round() may break
//     ties either way; products that feed a rounding are `precise`, and
//     ties are broken explicitly (round_away for Q8_0, roundEven for Q8_K).
// DIV_FP64 (0 or 1) picks how div_rn divides: in fp64, or in 32-bit integers.

#if DIV_FP64
// a / b correctly rounded, for finite a and b != 0. The fp64 quotient may be
// off by 2.5 ulp of a double (2^-50.6 relative), but it never sits that close
// to a point where float rounding changes: a float quotient's rounding
// boundary is a midpoint m between floats (25 significant bits), and
// a - b * m is a nonzero multiple of 2^-49 relative to a (b has 24 bits, m
// 25, and a == b * m would make m need fewer bits), so the exact quotient is
// at least 2^-49 relative away from m. Rounding the fp64 result to float (a
// correctly rounded conversion) then lands where the exact quotient would.
float div_rn(float a, float b)
{
    return float(double(a) / double(b));
}
#else
// a / b correctly rounded to nearest even, for finite a and b != 0, from 32-
// bit integers only: the significands are divided bit by bit (restoring long
// division) into 24 bits plus a guard bit, the remainder gives the sticky
// bit, and the result is rounded once, also into the subnormal range.
float div_rn(float a, float b)
{
    uint ua = floatBitsToUint(a), ub = floatBitsToUint(b);
    uint sign = (ua ^ ub) & 0x80000000u;
    ua &= 0x7FFFFFFFu;
    ub &= 0x7FFFFFFFu;
    if (ua == 0u)
        return uintBitsToFloat(sign);
    int ea = int(ua >> 23), eb = int(ub >> 23);
    uint ma = ua & 0x7FFFFFu, mb = ub & 0x7FFFFFu;
    // significands in [2^23, 2^24), subnormals normalised
    if (ea == 0) {
        int s = 23 - findMSB(ma);
        ma <<= uint(s);
        ea = 1 - s;
    } else {
        ma |= 0x800000u;
    }
    if (eb == 0) {
        int s = 23 - findMSB(mb);
        mb <<= uint(s);
        eb = 1 - s;
    } else {
        mb |= 0x800000u;
    }
    int e = ea - eb + 127; // biased exponent of the quotient
    if (ma < mb) {         // make ma / mb lie in [1, 2)
        ma <<= 1;
        e -= 1;
    }
    // q = floor(ma / mb * 2^25): 26 bits, the top one set. The remainder
    // stays below 2 * mb < 2^25, so nothing overflows.
    uint q = 0u, r = ma;
    for (int i = 0; i < 26; i++) {
        q <<= 1;
        if (r >= mb) {
            r -= mb;
            q |= 1u;
        }
        r <<= 1;
    }
    // Drop 2 bits for a normal result; more when it is subnormal (e <= 0),
    // whose significand has no implicit bit.
    int drop = e >= 1 ? 2 : 3 - e;
    if (drop > 26)
        return uintBitsToFloat(sign);
    uint keep = q >> uint(drop);
    uint rest = q & ((1u << uint(drop)) - 1u);
    uint half_ = 1u << uint(drop - 1);
    if (rest > half_ || (rest == half_ && (r != 0u || (keep & 1u) != 0u)))
        keep++;
    // A normal significand still holds its implicit bit: adding it to
    // exponent e - 1 gives the right encoding, a carry from rounding
    // included. A subnormal's keep is the whole encoding (2^23 is the
    // smallest normal, also right).
    uint bits = e >= 1 ? (uint(e - 1) << 23) + keep : keep;
    if (bits >= 0x7F800000u)
        bits = 0x7F800000u;
    return uintBitsToFloat(sign | bits);
}
#endif

// C's roundf: nearest integer, ties away from zero (GLSL's round() may break
// ties either way). x - trunc(x) is exact for any float.
float round_away(float x)
{
    float t = trunc(x);
    precise float f = x - t;
    if (abs(f) >= 0.5)
        t += sign(x);
    return t;
}

bool is_non_finite(float v)
{
    return (floatBitsToUint(v) & 0x7F800000u) == 0x7F800000u;
}

#define NAN_BITS 0x7FC00000u
