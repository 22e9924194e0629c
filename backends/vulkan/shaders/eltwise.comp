#version 450
// Element-wise ops: dst = f(src0) or f(src0, src1), all F32, any strides.
// OP: 0 ADD, 1 MUL, 2 DIV (src1 broadcast: its index is dst's modulo its
// ne), 3 SCALE, 4 SILU, 5 GELU, 6 TANH, 7 SWIGLU, 8 GEGLU (src1 the same
// shape as src0). A team (ops_common.glsl) takes a chunk of ITER * TEAM
// consecutive elements of one row, so each subgroup walks contiguous memory
// (see the lavapipe notes); vk_ops.c merges rows that are contiguous in
// every tensor first. u[0] = chunks per row.
#define WG 128
#define ITER 8
layout(local_size_x = WG) in;
#include "common.glsl"
#include "ops_common.glsl"

float silu(float x) { return x / (1.0 + exp(-x)); }

float gelu(float x)
{
    const float sqrt_2_over_pi = 0.79788456080286535588;
    return 0.5 * x * (1.0 + tanh_safe(sqrt_2_over_pi * (x + 0.044715 * x * x * x)));
}

void main()
{
    uint g = group_linear();
    if (g >= GROUP_COUNT)
        return;
    uint chunks = UARG(0);
    uint unit = team_unit(g);
    uint row = unit / chunks;
    if (row >= UARG(2))
        return;
    uvec3 ri = row_index(0, row);
    uint d_row = row_off(0, ri);
    uint a_row = row_off(1, ri);
    uint ne0 = A.ne[0].x, d_nb0 = A.nb[0].x, a_nb0 = A.nb[1].x;
#if OP <= 2 || OP >= 7
#if OP <= 2
    uvec3 bi = ri % A.ne[2].yzw;
#else
    uvec3 bi = ri;
#endif
    uint b_row = row_off(2, bi);
    uint b_ne0 = A.ne[2].x, b_nb0 = A.nb[2].x;
    bool b_full = b_ne0 == ne0;
#endif
    uint i0 = (unit % chunks) * (TEAM * ITER) + team_lane();
    for (uint k = 0; k < ITER && i0 < ne0; k++, i0 += TEAM) {
        float x = LD_F32(s0_w, a_row + i0 * a_nb0);
#if OP <= 2 || OP >= 7
        float b = LD_F32(s1_w, b_row + (b_full ? i0 : i0 % b_ne0) * b_nb0);
#endif
        float y;
#if OP == 0
        y = x + b;
#elif OP == 1
        y = x * b;
#elif OP == 2
        y = x / b;
#elif OP == 3
        y = x * FPARAM(0) + FPARAM(1);
#elif OP == 4
        y = silu(x);
#elif OP == 5
        y = gelu(x);
#elif OP == 6
        y = tanh_safe(x);
#elif OP == 7
        y = silu(x) * b;
#else
        y = gelu(x) * b;
#endif
        ST_F32(d_row + i0 * d_nb0, y);
    }
}
