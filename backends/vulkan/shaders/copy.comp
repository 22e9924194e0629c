#version 450
// COPY between F32, F16 and BF16 (SRC_T, DST_T: 0 f32, 1 f16, 2 bf16),
// elements in ne order; the same type copies bits (NaN payloads too). The
// same-shape variant walks rows in teams like eltwise.comp; RESHAPE maps the linear
// element index through both shapes. vk_ops.c also runs quantised copies
// here, as raw 16- or 32-bit words of whole rows.
// u[0] = chunks per row (same shape) or elements (RESHAPE).
#define WG 128
#define ITER 8
#define CHUNK (WG * ITER)
#define DST_16BIT
layout(local_size_x = WG) in;
#include "common.glsl"
#include "convert.glsl"
#include "ops_common.glsl"

uint load_bits(uint o)
{
#if SRC_T == 0
    return LD_U32(s0_w, o);
#else
    return LD_U16(s0_w, o);
#endif
}

uint convert_bits(uint x)
{
#if SRC_T == DST_T
    return x;
#else
#if SRC_T == 0
    float f = uintBitsToFloat(x);
#elif SRC_T == 1
    float f = f16_bits_to_f32(x);
#else
    float f = uintBitsToFloat(x << 16);
#endif
#if DST_T == 0
    return floatBitsToUint(f);
#elif DST_T == 1
    return f32_to_f16_bits(f);
#else
    return f32_to_bf16_bits(f);
#endif
#endif
}

void store_bits(uint o, uint x)
{
#if DST_T == 0
    dst_w[o >> 2] = x;
#else
    dst_h[o >> 1] = uint16_t(x);
#endif
}

void main()
{
    uint g = group_linear();
    if (g >= GROUP_COUNT)
        return;
#ifdef RESHAPE
    uint total = UARG(0);
    uint e = g * CHUNK + gl_LocalInvocationID.x;
    for (uint k = 0; k < ITER && e < total; k++, e += WG) {
        uint s0 = A.ne[1].x, s1 = A.ne[1].y, s2 = A.ne[1].z;
        uint d0 = A.ne[0].x, d1 = A.ne[0].y, d2 = A.ne[0].z;
        uint so = elem_off(1, e % s0, (e / s0) % s1, (e / (s0 * s1)) % s2, e / (s0 * s1 * s2));
        uint dof = elem_off(0, e % d0, (e / d0) % d1, (e / (d0 * d1)) % d2, e / (d0 * d1 * d2));
        store_bits(dof, convert_bits(load_bits(so)));
    }
#else
    uint chunks = UARG(0);
    uint unit = team_unit(g);
    uint row = unit / chunks;
    if (row >= UARG(2))
        return;
    uvec3 ri = row_index(0, row);
    uint d_row = row_off(0, ri), a_row = row_off(1, ri);
    uint ne0 = A.ne[0].x, d_nb0 = A.nb[0].x, a_nb0 = A.nb[1].x;
    uint i0 = (unit % chunks) * (TEAM * ITER) + team_lane();
    for (uint k = 0; k < ITER && i0 < ne0; k++, i0 += TEAM)
        store_bits(d_row + i0 * d_nb0, convert_bits(load_bits(a_row + i0 * a_nb0)));
#endif
}
