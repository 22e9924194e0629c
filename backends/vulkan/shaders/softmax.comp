#version 450
// SOFTMAX, one team per row of src0 [C, R, H, B]: z = scale * x (or
// cap * tanh(x * scale / cap) with a soft-cap), plus the mask row r of src1
// when given, -inf where the causal rule (offset i[1], window i[2]) hides
// the key; then exp(z - max) / sum. A row with every key hidden is zeros.
// z and then exp(z - max) are kept in dst between the passes: each
// invocation reads back only what it wrote itself.
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
    uvec3 ri = row_index(1, row);
    uint a_row = row_off(1, ri);
    uint d_row = row_off(0, row_index(0, row));
    uint n = A.ne[1].x, a_nb0 = A.nb[1].x, d_nb0 = A.nb[0].x;
    bool has_mask = UARG(0) != 0u;
    uint m_row = A.off[2] + ri.x * A.nb[2].y, m_nb0 = A.nb[2].x;
    float scale = FPARAM(0), cap = FPARAM(1);
    bool causal = IPARAM(0) != 0;
    int q = int(ri.x) + IPARAM(1);      // the query's own position among keys
    int window = IPARAM(2);

    float mx = NEG_INF;
    for (uint i = l; live && i < n; i += TEAM) {
        float x = LD_F32(s0_w, a_row + i * a_nb0);
        float z = cap > 0.0 ? cap * tanh_safe(x * scale / cap) : x * scale;
        if (has_mask)
            z += LD_F32(s1_w, m_row + i * m_nb0);
        int c = int(i);
        if (causal && (c > q || (window > 0 && q - c >= window)))
            z = NEG_INF;
        ST_F32(d_row + i * d_nb0, z);
        mx = max(mx, z);
    }
    mx = team_max(mx);
    // every key hidden: zeros (the team still joins the barrier below)
    bool hidden = mx == NEG_INF;
    float sum = 0.0;
    for (uint i = l; live && i < n; i += TEAM) {
        if (hidden) {
            ST_F32(d_row + i * d_nb0, 0.0);
            continue;
        }
        float e = exp(LD_F32(dst_w, d_row + i * d_nb0) - mx);
        ST_F32(d_row + i * d_nb0, e);
        sum += e;
    }
    sum = team_sum(sum);
    for (uint i = l; live && !hidden && i < n; i += TEAM)
        ST_F32(d_row + i * d_nb0, LD_F32(dst_w, d_row + i * d_nb0) / sum);
}
