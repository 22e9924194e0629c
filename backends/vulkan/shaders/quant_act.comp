#version 450
// quant_act.comp -- prepare MUL_MAT / MUL_MAT_ID activations once per node:
// every row of src1 (binding 2, any strides) becomes a dense row in scratch
// (binding 0) of what the weights are multiplied with:
//   ACT_Q8_0  Q8_0 act blocks (quant_layout.glsl), for Q4_0 and Q8_0 weights
//   ACT_Q8_K  Q8_K act blocks, for Q4_K and Q6_K weights
//   ACT_F16, ACT_BF16  floats rounded to the weight's type
// One invocation per block (or per float), so the ordered scans graph.h asks
// for (the first element of largest magnitude) run in element order.
//
// u[0] scratch byte offset, u[1] units (blocks or floats) per row,
// u[2] units in all. Row r of src1 is (r % ne1, r / ne1 % ne2, r / ne1 / ne2).

#include "common.glsl"
#include "convert.glsl"
#include "quant.glsl"
#include "quant_layout.glsl"

layout(local_size_x = 64) in;

float act_at(uint r, uint k)
{
    uint i1 = r % A.ne[2].y;
    uint i23 = r / A.ne[2].y;
    return LD_F32(s1_w, elem_off(2u, k, i1, i23 % A.ne[2].z, i23 / A.ne[2].z));
}

void main()
{
    uint wg = gl_WorkGroupID.x + gl_NumWorkGroups.x * (gl_WorkGroupID.y + gl_NumWorkGroups.y * gl_WorkGroupID.z);
    uint unit = wg * 64u + gl_LocalInvocationID.x;
    if (unit >= UARG(2))
        return;
    uint per_row = UARG(1);
    uint r = unit / per_row, i = unit % per_row;
    uint base = UARG(0) >> 2;

#if defined(ACT_F16) || defined(ACT_BF16)
    float v = act_at(r, i);
#ifdef ACT_F16
    dst_w[base + unit] = floatBitsToUint(round_f16(v));
#else
    dst_w[base + unit] = floatBitsToUint(round_bf16(v));
#endif

#elif defined(ACT_Q8_0)
    uint o = base + unit * Q8A_WORDS;
    float v[32];
    bool bad = false;
    float amax = 0.0;
    [[unroll]] for (uint j = 0u; j < 32u; j++) {
        v[j] = act_at(r, 32u * i + j);
        bad = bad || is_non_finite(v[j]);
        amax = max(amax, abs(v[j]));
    }
    if (bad) {
        dst_w[o] = NAN_BITS;
        [[unroll]] for (uint w = 1u; w < Q8A_WORDS; w++)
            dst_w[o + w] = 0u;
        return;
    }
    float d = div_rn(amax, 127.0);
    // graph.h: below FLT_MIN (f16 zero) the quants are zero, as 1/d may overflow
    float id = d >= uintBitsToFloat(0x00800000u) ? div_rn(1.0, d) : 0.0;
    int sum = 0;
    [[unroll]] for (uint w = 0u; w < 8u; w++) {
        uint packed = 0u;
        [[unroll]] for (uint b = 0u; b < 4u; b++) {
            precise float p = v[4u * w + b] * id;
            int q = int(round_away(p));
            sum += q;
            packed |= (uint(q) & 0xFFu) << (8u * b);
        }
        dst_w[o + 1u + w] = packed;
    }
    dst_w[o] = floatBitsToUint(round_f16(d));
    dst_w[o + 9u] = uint(sum);

#elif defined(ACT_Q8_K)
    uint o = base + unit * Q8KA_WORDS;
    bool bad = false;
    float amax = 0.0, mx = 0.0;
    for (uint j = 0u; j < 256u; j++) {
        float v = act_at(r, 256u * i + j);
        bad = bad || is_non_finite(v);
        float av = abs(v);
        if (av > amax) { // strictly greater: the first one wins a tie
            amax = av;
            mx = v;
        }
    }
    float iscale = amax != 0.0 ? -div_rn(127.0, mx) : 0.0;
    if (bad || iscale == 0.0 || isinf(iscale)) { // graph.h: d = 0, zero quants
        dst_w[o] = bad ? NAN_BITS : 0u;
        for (uint w = 1u; w < Q8KA_WORDS; w++)
            dst_w[o + w] = 0u;
        return;
    }
    for (uint g = 0u; g < 16u; g += 2u) {
        int sums[2] = int[2](0, 0);
        [[unroll]] for (uint h = 0u; h < 2u; h++) {
            [[unroll]] for (uint w = 0u; w < 4u; w++) {
                uint packed = 0u;
                [[unroll]] for (uint b = 0u; b < 4u; b++) {
                    uint j = 16u * (g + h) + 4u * w + b;
                    precise float p = iscale * act_at(r, 256u * i + j);
                    int q = min(127, int(roundEven(p)));
                    sums[h] += q;
                    packed |= (uint(q) & 0xFFu) << (8u * b);
                }
                dst_w[o + 1u + 4u * (g + h) + w] = packed;
            }
        }
        dst_w[o + 65u + g / 2u] = (uint(sums[0]) & 0xFFFFu) | (uint(sums[1]) << 16);
    }
    dst_w[o] = floatBitsToUint(div_rn(1.0, iscale));
#endif
}
