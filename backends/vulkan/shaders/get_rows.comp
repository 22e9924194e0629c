#version 450
// get_rows.comp -- GET_ROWS: dst[:, j, b2, b3] = src0[:, ids[j, b2, b3], b2,
// b3] as F32, bit-exact with the reference's dequantisation: its float
// operations are repeated in its order and marked `precise`, so no fma or
// reordering changes a rounding.
//
// Define WTYPE (a DT_* of dequant.glsl). One invocation per block of a
// quantised row, per element of an F32/F16/BF16 row.
// u[0] units per row, u[1] units in all. An id outside [0, R) is reported
// and gives NaNs.

#include "common.glsl"
#include "dequant.glsl"

layout(local_size_x = 64) in;

void main()
{
    uint wg = gl_WorkGroupID.x + gl_NumWorkGroups.x * (gl_WorkGroupID.y + gl_NumWorkGroups.y * gl_WorkGroupID.z);
    uint unit = wg * 64u + gl_LocalInvocationID.x;
    if (unit >= UARG(1))
        return;
    uint r = unit / UARG(0), i = unit % UARG(0);
    uint j = r % A.ne[2].x, rest = r / A.ne[2].x;
    uint b2 = rest % A.ne[2].y, b3 = rest / A.ne[2].y;
    int id = LD_I32(s1_w, elem_off(2u, j, b2, b3, 0u));
    uint dst0 = elem_off(0u, 0u, j, b2, b3);
    uint step = A.nb[0].x;

#if WTYPE == DT_F32 || WTYPE == DT_F16 || WTYPE == DT_BF16
    const uint BLOCK = 1u;
#elif WTYPE == DT_Q4_0 || WTYPE == DT_Q8_0
    const uint BLOCK = 32u;
#else
    const uint BLOCK = 256u;
#endif
    uint out0 = dst0 + BLOCK * i * step;
    if (id < 0 || uint(id) >= A.ne[1].y) {
        report_bad_id(id);
        for (uint e = 0u; e < BLOCK; e++)
            dst_w[(out0 + e * step) >> 2] = 0x7FC00000u;
        return;
    }
    uint row = elem_off(1u, 0u, uint(id), b2, b3);

#if WTYPE == DT_F32
    dst_w[out0 >> 2] = s0_w[(row + i * A.nb[1].x) >> 2]; // the bits, NaNs included
#elif WTYPE == DT_F16
    ST_F32(out0, LD_F16(s0_w, row + i * A.nb[1].x));
#elif WTYPE == DT_BF16
    ST_F32(out0, LD_BF16(s0_w, row + i * A.nb[1].x));

#elif WTYPE == DT_Q4_0
    uint o = row + i * 18u;
    float d = w_f16_lo(o);
    for (uint k = 0u; k < 4u; k++) {
        uint w = w_u32(o + 2u + 4u * k);
        for (uint b = 0u; b < 4u; b++) {
            uint q = (w >> (8u * b)) & 0xFFu, e = 4u * k + b;
            precise float lo = d * float(int(q & 0xFu) - 8);
            precise float hi = d * float(int(q >> 4) - 8);
            ST_F32(out0 + e * step, lo);
            ST_F32(out0 + (e + 16u) * step, hi);
        }
    }

#elif WTYPE == DT_Q8_0
    uint o = row + i * 34u;
    float d = w_f16_lo(o);
    for (uint k = 0u; k < 8u; k++) {
        uint w = w_u32(o + 2u + 4u * k);
        for (uint b = 0u; b < 4u; b++) {
            precise float y = d * float(sbyte(w, b));
            ST_F32(out0 + (4u * k + b) * step, y);
        }
    }

#elif WTYPE == DT_Q4_K
    // x = (d * sc) * q - dmin * m: both products exact, one rounding
    uint o = row + i * 144u;
    uint dd2 = w_u32(o);
    float d = f16_bits_to_f32(dd2 & 0xFFFFu), dmin = f16_bits_to_f32(dd2 >> 16);
    uvec3 scw = uvec3(w_u32(o + 4u), w_u32(o + 8u), w_u32(o + 12u));
    for (uint p = 0u; p < 4u; p++) {
        uint sc_lo, m_lo, sc_hi, m_hi;
        k4_scale_min(scw, 2u * p, sc_lo, m_lo);
        k4_scale_min(scw, 2u * p + 1u, sc_hi, m_hi);
        precise float d_lo = d * float(sc_lo), min_lo = dmin * float(m_lo);
        precise float d_hi = d * float(sc_hi), min_hi = dmin * float(m_hi);
        for (uint k = 0u; k < 8u; k++) {
            uint w = w_u32(o + 16u + 32u * p + 4u * k);
            for (uint b = 0u; b < 4u; b++) {
                uint q = (w >> (8u * b)) & 0xFFu, l = 4u * k + b;
                precise float lo = d_lo * float(q & 0xFu) - min_lo;
                precise float hi = d_hi * float(q >> 4) - min_hi;
                ST_F32(out0 + (64u * p + l) * step, lo);
                ST_F32(out0 + (64u * p + 32u + l) * step, hi);
            }
        }
    }

#elif WTYPE == DT_Q6_K
    // x = (d * scale) * (q - 32), in that order: the second product rounds
    uint o = row + i * 210u;
    float d = w_f16_hi(o + 208u);
    for (uint h = 0u; h < 2u; h++) {
        for (uint k = 0u; k < 8u; k++) {
            uint la = w_u32(o + 64u * h + 4u * k);
            uint lb = w_u32(o + 64u * h + 32u + 4u * k);
            uint qh = w_u32(o + 128u + 32u * h + 4u * k);
            for (uint b = 0u; b < 4u; b++) {
                uint l = 4u * k + b, s = 8u * b;
                int q[4] = int[4](int(((la >> s) & 0xFu) | (((qh >> s) & 3u) << 4)),
                                  int(((lb >> s) & 0xFu) | (((qh >> (s + 2u)) & 3u) << 4)),
                                  int(((la >> (s + 4u)) & 0xFu) | (((qh >> (s + 4u)) & 3u) << 4)),
                                  int(((lb >> (s + 4u)) & 0xFu) | (((qh >> (s + 6u)) & 3u) << 4)));
                for (uint j = 0u; j < 4u; j++) {
                    uint e = 32u * j + l, g = 8u * h + e / 16u;
                    int scale = sbyte(w_u32(o + 192u + 4u * (g >> 2)), g & 3u);
                    precise float ds = d * float(scale);
                    precise float y = ds * float(q[j] - 32);
                    ST_F32(out0 + (128u * h + e) * step, y);
                }
            }
        }
    }
#else
#error unknown WTYPE
#endif
}
