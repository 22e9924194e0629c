#version 450
// First pass of ARGSORT and TOP_K: a workgroup sorts one chunk of C (a
// power of two <= 4 * WG) keys of a row of src0 in shared memory (bitonic)
// and writes its first `keep` entries: indices into dst (I32) when the row
// fits in one chunk, else (key, index) pairs into a scratch run for
// sort_merge.comp.
// u[0] = C, u[1] = chunks per row, u[2] = keep, u[3] = final, u[4] = desc.
layout(local_size_x = WG) in;
#include "common.glsl"
#include "ops_common.glsl"
#include "sort_common.glsl"

#define CMAX (4 * WG)
shared float s_key[CMAX];
shared uint s_idx[CMAX];

void main()
{
    uint g = group_linear();
    if (g >= GROUP_COUNT)
        return;
    uint C = UARG(0), chunks = UARG(1), keep = UARG(2);
    bool final_ = UARG(3) != 0u;
    uint row = g / chunks, chunk = g % chunks;
    uint l = gl_LocalInvocationID.x;
    uint n = A.ne[1].x;
    uint a_row = row_off(1, row_index(1, row));
    uint a_nb0 = A.nb[1].x;

    for (uint i = l; i < C; i += WG) {
        uint e = chunk * C + i;
        bool in_row = e < n;
        s_key[i] = in_row ? LD_F32(s0_w, a_row + e * a_nb0) : 0.0;
        s_idx[i] = in_row ? e : SENTINEL;
    }
    for (uint size = 2u; size <= C; size <<= 1) {
        for (uint stride = size >> 1; stride > 0u; stride >>= 1) {
            barrier();
            for (uint p = l; p < C / 2u; p += WG) {
                uint i = 2u * p - (p & (stride - 1u));
                uint j = i + stride;
                bool up = (i & size) == 0u;
                float ki = s_key[i], kj = s_key[j];
                uint ii = s_idx[i], ij = s_idx[j];
                bool swap_ = up ? sorts_before(kj, ij, ki, ii) : sorts_before(ki, ii, kj, ij);
                if (swap_) {
                    s_key[i] = kj; s_key[j] = ki;
                    s_idx[i] = ij; s_idx[j] = ii;
                }
            }
        }
    }
    barrier();
    uint d_row = row_off(0, row_index(0, row));
    for (uint i = l; i < keep; i += WG) {
        if (s_idx[i] == SENTINEL)
            continue;
        if (final_) {
            ST_I32(d_row + i * A.nb[0].x, int(s_idx[i]));
        } else {
            uint o = d_row + (chunk * C + i) * 8u;
            dst_w[o >> 2] = floatBitsToUint(s_key[i]);
            dst_w[(o >> 2) + 1u] = s_idx[i];
        }
    }
}
