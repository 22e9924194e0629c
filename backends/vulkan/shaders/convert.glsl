// convert.glsl -- float to f16 and bf16 bit patterns, rounding to nearest
// even as graph.h requires. Include common.glsl first. packHalf2x16 leaves the rounding mode to the
// implementation, so it is not used where bits are compared.

// binary32 -> binary16 bits (low 16 bits of the result).
uint f32_to_f16_bits(float f)
{
    uint x = floatBitsToUint(f);
    uint sign = (x >> 16) & 0x8000u;
    uint e8 = (x >> 23) & 0xFFu;
    uint man = x & 0x7FFFFFu;
    if (e8 == 0xFFu)    // inf or NaN; NaN stays quiet with some payload
        return sign | 0x7C00u | (man != 0u ? (0x200u | (man >> 13)) : 0u);
    int e = int(e8) - 127 + 15;
    if (e >= 0x1F)
        return sign | 0x7C00u;
    if (e <= 0) {       // subnormal or zero in binary16
        if (e < -10)
            return sign;
        man |= 0x800000u;
        uint shift = uint(14 - e);
        uint half_ = man >> shift;
        uint rem = man & ((1u << shift) - 1u);
        uint mid = 1u << (shift - 1u);
        if (rem > mid || (rem == mid && (half_ & 1u) != 0u))
            half_++;
        return sign | half_;
    }
    uint half_ = (uint(e) << 10) | (man >> 13);
    uint rem = man & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (half_ & 1u) != 0u))
        half_++;        // a carry into the exponent is the right answer
    return sign | half_;
}

// binary32 -> bfloat16 bits (low 16 bits of the result).
uint f32_to_bf16_bits(float f)
{
    uint x = floatBitsToUint(f);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u)
        return (x >> 16) | 0x40u;
    x += 0x7FFFu + ((x >> 16) & 1u);
    return x >> 16;
}

// The value of f rounded to f16 / bf16 and back, as a float.
float round_f16(float f) { return f16_bits_to_f32(f32_to_f16_bits(f)); }
float round_bf16(float f) { return uintBitsToFloat(f32_to_bf16_bits(f) << 16); }
