#version 450
// mul_mat.comp -- MUL_MAT and MUL_MAT_ID: dst[n, m] = dot(weight row n,
// activation row m), with the dot of slm/graph.h for the weight's dtype.
//
// Defines: WTYPE (a DT_* of dequant.glsl), NC columns per workgroup, RPW
// rows per workgroup, LPR lanes per row (a power of two), MMID (1 for
// MUL_MAT_ID, which takes NC == 1).
//
// A workgroup computes an RPW x NC tile: invocation (lane, y) takes weight
// row y of the tile and walks the row's blocks lane, lane + LPR, ...; each
// block is loaded once and multiplied with all NC columns, and the LPR
// partial sums of a row are then added in shared memory (a tree, so no
// subgroup size is assumed). The LPR lanes of a row read neighbouring
// blocks: on lavapipe, LPR = 8 ran a 2048 x 2048 Q4_0 matvec 3-4 times
// faster than one lane per row walking the whole row.
//
// Bindings: dst, src0 = weights, src1 = activations, src2 = expert ids.
// Activations are src1 itself for F32 weights, else the rows quant_act.comp
// wrote to scratch; A.off[2] and A.nb[2] address their rows either way.
// u[0] row tiles, u[1] column tiles per matrix, u[2] workgroups in all,
// u[3], u[4] the grouped-query ratios A / A0 and B / B0, u[5] units (blocks,
// or elements for F32/F16/BF16) per row. MUL_MAT_ID: column tile p is the
// pair (u, t) = (p % U, p / U); an id outside [0, X) is reported and gives
// NaN outputs.

#include "common.glsl"
#include "dequant.glsl"
#include "quant_layout.glsl"

layout(local_size_x = LPR, local_size_y = RPW) in;

#if LPR > 1
shared float red[RPW * NC * LPR];
#endif

const uint M4 = 0x0F0F0F0Fu;
const uint M2 = 0x03030303u;

// Sum of the products of 4 unsigned bytes of u with 4 signed bytes of s.
int dot4u(uint u, uint s)
{
    return int(u & 0xFFu) * sbyte(s, 0u) + int((u >> 8) & 0xFFu) * sbyte(s, 1u) +
           int((u >> 16) & 0xFFu) * sbyte(s, 2u) + int(u >> 24) * sbyte(s, 3u);
}

// The same with 4 signed bytes on both sides.
int dot4s(uint w, uint s)
{
    return sbyte(w, 0u) * sbyte(s, 0u) + sbyte(w, 1u) * sbyte(s, 1u) +
           sbyte(w, 2u) * sbyte(s, 2u) + sbyte(w, 3u) * sbyte(s, 3u);
}

// Sum of the 16 Q8_K quants of group g, from the block's packed sums.
int q8k_group_sum(uint ab, uint g)
{
    return bitfieldExtract(int(s1_w[ab + 65u + g / 2u]), int(16u * (g & 1u)), 16);
}

void main()
{
    uint wg = gl_WorkGroupID.x + gl_NumWorkGroups.x * (gl_WorkGroupID.y + gl_NumWorkGroups.y * gl_WorkGroupID.z);
    if (wg >= UARG(2))
        return; // the whole workgroup: no barrier is left waiting
    uint lane = gl_LocalInvocationID.x;
    uint rg = wg % UARG(0), rest = wg / UARG(0);
    uint cg = rest % UARG(1);
    rest /= UARG(1);

    uint N = A.ne[1].y;
    uint n = rg * RPW + gl_LocalInvocationID.y;
    uint nr = min(n, N - 1u); // rows past N compute row N - 1, unstored

    uint w_row;
    uint a_row[NC];
    uint d_off[NC];
    bool col_ok[NC];
#if MMID
    uint U = A.ne[3].x;
    uint u = cg % U, t = cg / U;
    int e = LD_I32(s2_w, A.off[3] + u * A.nb[3].x + t * A.nb[3].y);
    bool id_ok = e >= 0 && uint(e) < A.ne[1].z;
    if (!id_ok)
        report_bad_id(e);
    w_row = A.off[1] + nr * A.nb[1].y + (id_ok ? uint(e) : 0u) * A.nb[1].z;
    a_row[0] = A.off[2] + (u % A.ne[2].y) * A.nb[2].y + t * A.nb[2].z;
    d_off[0] = A.off[0] + n * A.nb[0].x + u * A.nb[0].y + t * A.nb[0].z;
    col_ok[0] = true;
#else
    const bool id_ok = true;
    uint M = A.ne[2].y;
    uint a = rest % A.ne[2].z, b = rest / A.ne[2].z;
    w_row = A.off[1] + nr * A.nb[1].y + (a / UARG(3)) * A.nb[1].z + (b / UARG(4)) * A.nb[1].w;
    [[unroll]] for (uint c = 0u; c < NC; c++) {
        uint m = cg * NC + c;
        col_ok[c] = m < M;
        a_row[c] = A.off[2] + min(m, M - 1u) * A.nb[2].y + a * A.nb[2].z + b * A.nb[2].w;
        d_off[c] = A.off[0] + n * A.nb[0].x + m * A.nb[0].y + a * A.nb[0].z + b * A.nb[0].w;
    }
#endif

    float acc[NC];
    [[unroll]] for (uint c = 0u; c < NC; c++)
        acc[c] = 0.0;

    uint units = UARG(5);
    for (uint i = lane; i < units; i += LPR) {
#if WTYPE == DT_F32 || WTYPE == DT_F16 || WTYPE == DT_BF16
        // F16/BF16 products are exact in float, so an fma changes nothing
        // there; for F32 graph.h allows any float-or-wider accumulation.
        uint wo = w_row + i * A.nb[1].x;
#if WTYPE == DT_F32
        float w = LD_F32(s0_w, wo);
#elif WTYPE == DT_F16
        float w = LD_F16(s0_w, wo);
#else
        float w = LD_BF16(s0_w, wo);
#endif
        [[unroll]] for (uint c = 0u; c < NC; c++)
            acc[c] += w * LD_F32(s1_w, a_row[c] + i * A.nb[2].x);

#elif WTYPE == DT_Q4_0
        uint o = w_row + i * 18u;
        float dw = w_f16_lo(o);
        uint q[4];
        [[unroll]] for (uint k = 0u; k < 4u; k++)
            q[k] = w_u32(o + 2u + 4u * k);
        [[unroll]] for (uint c = 0u; c < NC; c++) {
            uint ab = (a_row[c] >> 2) + i * Q8A_WORDS;
            int s = 0;
            [[unroll]] for (uint k = 0u; k < 4u; k++)
                s += dot4u(q[k] & M4, s1_w[ab + 1u + k]) + dot4u((q[k] >> 4) & M4, s1_w[ab + 5u + k]);
            s -= 8 * int(s1_w[ab + 9u]); // the nibbles' offset, sum (q - 8) a
            precise float dd = dw * uintBitsToFloat(s1_w[ab]);
            precise float term = float(s) * dd;
            acc[c] += term;
        }

#elif WTYPE == DT_Q8_0
        uint o = w_row + i * 34u;
        float dw = w_f16_lo(o);
        uint q[8];
        [[unroll]] for (uint k = 0u; k < 8u; k++)
            q[k] = w_u32(o + 2u + 4u * k);
        [[unroll]] for (uint c = 0u; c < NC; c++) {
            uint ab = (a_row[c] >> 2) + i * Q8A_WORDS;
            int s = 0;
            [[unroll]] for (uint k = 0u; k < 8u; k++)
                s += dot4s(q[k], s1_w[ab + 1u + k]);
            precise float dd = dw * uintBitsToFloat(s1_w[ab]);
            precise float term = float(s) * dd;
            acc[c] += term;
        }

#elif WTYPE == DT_Q4_K
        uint o = w_row + i * 144u;
        uint dd2 = w_u32(o);
        float dw = f16_bits_to_f32(dd2 & 0xFFFFu), dmin = f16_bits_to_f32(dd2 >> 16);
        uvec3 scw = uvec3(w_u32(o + 4u), w_u32(o + 8u), w_u32(o + 12u));
        uint sc[8], mn[8];
        [[unroll]] for (uint s = 0u; s < 8u; s++)
            k4_scale_min(scw, s, sc[s], mn[s]);
        int S[NC];
        [[unroll]] for (uint c = 0u; c < NC; c++)
            S[c] = 0;
        // 64 elements per step: the low nibbles of 32 bytes are sub-block
        // 2p, their high nibbles sub-block 2p + 1
        for (uint p = 0u; p < 4u; p++) {
            uint q[8];
            [[unroll]] for (uint k = 0u; k < 8u; k++)
                q[k] = w_u32(o + 16u + 32u * p + 4u * k);
            [[unroll]] for (uint c = 0u; c < NC; c++) {
                uint ab = (a_row[c] >> 2) + i * Q8KA_WORDS + 1u + 16u * p;
                int lo = 0, hi = 0;
                [[unroll]] for (uint k = 0u; k < 8u; k++) {
                    lo += dot4u(q[k] & M4, s1_w[ab + k]);
                    hi += dot4u((q[k] >> 4) & M4, s1_w[ab + 8u + k]);
                }
                S[c] += int(sc[2u * p]) * lo + int(sc[2u * p + 1u]) * hi;
            }
        }
        [[unroll]] for (uint c = 0u; c < NC; c++) {
            uint ab = (a_row[c] >> 2) + i * Q8KA_WORDS;
            int Mn = 0;
            [[unroll]] for (uint s = 0u; s < 8u; s++)
                Mn += int(mn[s]) * (q8k_group_sum(ab, 2u * s) + q8k_group_sum(ab, 2u * s + 1u));
            float da = uintBitsToFloat(s1_w[ab]);
            precise float d1 = dw * da;
            precise float t1 = d1 * float(S[c]);
            precise float d2 = dmin * da;
            precise float t2 = d2 * float(Mn);
            acc[c] += t1;
            acc[c] -= t2;
        }

#elif WTYPE == DT_Q6_K
        uint o = w_row + i * 210u;
        float dw = w_f16_hi(o + 208u);
        uvec4 scw = uvec4(w_u32(o + 192u), w_u32(o + 196u), w_u32(o + 200u), w_u32(o + 204u));
        int S[NC];
        [[unroll]] for (uint c = 0u; c < NC; c++)
            S[c] = 0;
        // Step (h, kk) covers l = 16 kk .. 16 kk + 15 of half h: groups
        // 8h + 2j + kk for the four quants q0..q3 (j) of slm/graph.h.
        for (uint step = 0u; step < 4u; step++) {
            uint h = step >> 1, kk = step & 1u;
            uint q[16];
            [[unroll]] for (uint k4 = 0u; k4 < 4u; k4++) {
                uint k = 4u * kk + k4;
                uint la = w_u32(o + 64u * h + 4u * k);
                uint lb = w_u32(o + 64u * h + 32u + 4u * k);
                uint qh = w_u32(o + 128u + 32u * h + 4u * k);
                q[k4] = (la & M4) | ((qh & M2) << 4);
                q[4u + k4] = (lb & M4) | (((qh >> 2) & M2) << 4);
                q[8u + k4] = ((la >> 4) & M4) | (((qh >> 4) & M2) << 4);
                q[12u + k4] = ((lb >> 4) & M4) | (((qh >> 6) & M2) << 4);
            }
            [[unroll]] for (uint c = 0u; c < NC; c++) {
                uint ab = (a_row[c] >> 2) + i * Q8KA_WORDS;
                [[unroll]] for (uint j = 0u; j < 4u; j++) {
                    uint g = 8u * h + 2u * j + kk;
                    uint aw = ab + 1u + 32u * h + 8u * j + 4u * kk;
                    int G = 0;
                    [[unroll]] for (uint k4 = 0u; k4 < 4u; k4++)
                        G += dot4u(q[4u * j + k4], s1_w[aw + k4]);
                    G -= 32 * q8k_group_sum(ab, g); // sum (q - 32) a
                    S[c] += sbyte(scw[g >> 2], g & 3u) * G;
                }
            }
        }
        [[unroll]] for (uint c = 0u; c < NC; c++) {
            uint ab = (a_row[c] >> 2) + i * Q8KA_WORDS;
            precise float d1 = dw * uintBitsToFloat(s1_w[ab]);
            precise float t1 = d1 * float(S[c]);
            acc[c] += t1;
        }
#else
#error unknown WTYPE
#endif
    }

#if LPR > 1
    uint slot = (gl_LocalInvocationID.y * NC) * LPR + lane;
    [[unroll]] for (uint c = 0u; c < NC; c++)
        red[slot + c * LPR] = acc[c];
    barrier();
    [[unroll]] for (uint s = LPR / 2u; s > 0u; s >>= 1) {
        if (lane < s) {
            [[unroll]] for (uint c = 0u; c < NC; c++)
                red[slot + c * LPR] += red[slot + c * LPR + s];
        }
        barrier();
    }
    if (lane != 0u)
        return;
    [[unroll]] for (uint c = 0u; c < NC; c++)
        acc[c] = red[slot + c * LPR];
#endif

    if (n >= N)
        return;
    [[unroll]] for (uint c = 0u; c < NC; c++)
        if (col_ok[c])
            ST_F32(d_off[c], id_ok ? acc[c] : uintBitsToFloat(0x7FC00000u));
}
