#version 450
// ROPE, one workgroup per row [:, h, t] of src0 [D, H, T, 1]; positions
// src1 I32 [T], optional frequency factors src2 F32 [n_dims / 2]. NEOX
// rotates (x[k], x[k + n_dims/2]), else (x[2k], x[2k+1]); dims past n_dims
// are copied. vk_ops.c gives in u[]: 0 = has frequency factors,
// 1 = log2(freq_base), 2/3 = YaRN ramp lo/hi, 4 = YaRN magnitude (float
// bits; computed in double on the host), and in i[6..7] (ROPE's own
// params are i[0..2]) freq_base^(-2 / n_dims) as a double.
// USE_F64 (devices with shaderFloat64) computes the angle in double, as
// the reference does: in float, p * freq has an error of p ulps, which at
// positions of 10^5 is 10^-2 radians.
#define WG 64
layout(local_size_x = WG) in;
#include "common.glsl"
#include "ops_common.glsl"

#ifndef USE_F64
// theta mod 2 pi in [-pi, pi] (Cody-Waite: 2 pi = C1 + C2 with C1 exact in
// 8 bits, so n * C1 is exact), so that sin and cos get small arguments even
// where their own range reduction is coarse.
float reduce_angle(float theta)
{
    const float C1 = 6.28125;
    const float C2 = 1.9353071795864769e-3;
    precise float n = round(theta * 0.15915494309189535);
    precise float r = (theta - n * C1) - n * C2;
    return r;
}
#endif

void main()
{
    uint row = group_linear();
    if (row >= GROUP_COUNT)
        return;
    uvec3 ri = row_index(1, row);           // (h, t, 0)
    uint a_row = row_off(1, ri);
    uint d_row = row_off(0, row_index(0, row));
    uint a_nb0 = A.nb[1].x, d_nb0 = A.nb[0].x;
    uint D = A.ne[1].x;
    uint n_dims = uint(IPARAM(0));
    uint half_ = n_dims / 2u;
    float p = float(LD_I32(s1_w, A.off[2] + ri.y * A.nb[2].x));
    float freq_scale = FPARAM(1), ext_factor = FPARAM(2), attn_factor = FPARAM(3);
    bool has_ff = UARG(0) != 0u;
    float log2_base = uintBitsToFloat(UARG(1));
    float ramp_lo = uintBitsToFloat(UARG(2)), ramp_hi = uintBitsToFloat(UARG(3));
    float yarn_m = uintBitsToFloat(UARG(4));

    uint n_work = half_ + (D - n_dims);
    for (uint j = gl_LocalInvocationID.x; j < n_work; j += WG) {
        if (j >= half_) {               // past n_dims: copied
            uint i0 = n_dims + (j - half_);
            ST_F32(d_row + i0 * d_nb0, LD_F32(s0_w, a_row + i0 * a_nb0));
            continue;
        }
        uint k = j;
        float m = attn_factor;
        float mix_ = 0.0;
        if (ext_factor != 0.0) {
            float y = (float(k) - ramp_lo) / max(0.001, ramp_hi - ramp_lo);
            mix_ = (1.0 - clamp(y, 0.0, 1.0)) * ext_factor;
            m = yarn_m;
        }
#ifdef USE_F64
        double base_k = 1.0LF, sq = packDouble2x32(uvec2(uint(IPARAM(6)), uint(IPARAM(7))));
        for (uint e = k; e != 0u; e >>= 1) {     // freq_base^(-2k / n_dims)
            if ((e & 1u) != 0u)
                base_k *= sq;
            sq *= sq;
        }
        double te = double(p) * base_k;
        if (has_ff)
            te /= double(LD_F32(s2_w, A.off[3] + k * A.nb[3].x));
        double ti = double(freq_scale) * te;
        double theta = ti * (1.0LF - double(mix_)) + te * double(mix_);
        const double two_pi = 6.283185307179586477LF;
        float r = float(theta - floor(theta / two_pi + 0.5LF) * two_pi);
#else
        float te = p * exp2(-2.0 * float(k) / float(n_dims) * log2_base);
        if (has_ff)
            te /= LD_F32(s2_w, A.off[3] + k * A.nb[3].x);
        float ti = freq_scale * te;
        float theta = ext_factor != 0.0 ? ti * (1.0 - mix_) + te * mix_ : ti;
        float r = reduce_angle(theta);
#endif
        float c = cos(r) * m, s = sin(r) * m;
#ifdef NEOX
        uint ia = k, ib = k + half_;
#else
        uint ia = 2u * k, ib = 2u * k + 1u;
#endif
        float a = LD_F32(s0_w, a_row + ia * a_nb0), b = LD_F32(s0_w, a_row + ib * a_nb0);
        ST_F32(d_row + ia * d_nb0, a * c - b * s);
        ST_F32(d_row + ib * d_nb0, a * s + b * c);
    }
}
