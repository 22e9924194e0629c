#version 450
// Per-row reductions, one team per row of src0 (F32, any strides).
// RMS_NORM: dst = x / sqrt(mean(x^2) + f[0]); SUM_ROWS: dst[0] = sum(x).
#define WG 128
layout(local_size_x = WG) in;
#include "common.glsl"
#include "ops_common.glsl"

void main()
{
    uint g = group_linear();
    if (g >= GROUP_COUNT)
        return;
    uint row = team_unit(g);
    bool live = row < UARG(2);
    row = live ? row : 0u;
    uint l = team_lane();
    uint a_row = row_off(1, row_index(1, row));
    uint d_row = row_off(0, row_index(0, row));
    uint n = A.ne[1].x, a_nb0 = A.nb[1].x;
    float acc = 0.0;
    for (uint i = l; live && i < n; i += TEAM) {
        float x = LD_F32(s0_w, a_row + i * a_nb0);
#ifdef RMS_NORM
        acc += x * x;
#else
        acc += x;
#endif
    }
    float total = team_sum(acc);
#ifdef RMS_NORM
    float scale = 1.0 / sqrt(total / float(n) + FPARAM(0));
    uint d_nb0 = A.nb[0].x;
    for (uint i = l; live && i < n; i += TEAM)
        ST_F32(d_row + i * d_nb0, LD_F32(s0_w, a_row + i * a_nb0) * scale);
#else
    if (live && l == 0u)
        ST_F32(d_row, total);
#endif
}
