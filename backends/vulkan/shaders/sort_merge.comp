#version 450
// A merge pass of ARGSORT and TOP_K: sorted runs of L entries (of which
// the first min(run length, keep) are stored) in the scratch run src0 are
// merged pairwise into runs of 2L in the scratch run dst, or, in the last
// pass, into the I32 indices of dst. Each invocation takes one stored
// entry and finds its place by a binary search in the other run of its
// pair: its position plus the number of entries of the other run that sort
// before it. The order is total, so no two entries land on one place.
// u[0] = L, u[1] = n, u[2] = keep, u[3] = final, u[4] = desc;
#define WG 128
layout(local_size_x = WG) in;
#include "common.glsl"
#include "ops_common.glsl"
#include "sort_common.glsl"

float key_at(uint row_base, uint e) { return uintBitsToFloat(s0_w[(row_base + e * 8u) >> 2]); }
uint idx_at(uint row_base, uint e) { return s0_w[((row_base + e * 8u) >> 2) + 1u]; }

void main()
{
    uint g = group_linear();
    if (g >= GROUP_COUNT)
        return;
    uint L = UARG(0), n = UARG(1), keep = UARG(2);
    bool final_ = UARG(3) != 0u;
    uint per_row = (n + WG - 1u) / WG;
    uint row = g / per_row;
    uint e = (g % per_row) * WG + gl_LocalInvocationID.x;
    if (e >= n)
        return;
    uint run = e / L, pos = e % L;
    uint run_len = min(L, n - run * L);
    if (pos >= min(run_len, keep))
        return;
    uint pair_base = (run & ~1u) * L;
    uint other = run ^ 1u;
    uint other_len = other * L < n ? min(L, n - other * L) : 0u;
    uint other_stored = min(other_len, keep);
    uint in_row = row_off(1, row_index(1, row));
    float k = key_at(in_row, e);
    uint i = idx_at(in_row, e);

    // entries of the other run that sort before (k, i): a prefix of it
    uint lo = 0u, hi = other_stored, ob = other * L;
    while (lo < hi) {
        uint mid = (lo + hi) >> 1;
        if (sorts_before(key_at(in_row, ob + mid), idx_at(in_row, ob + mid), k, i))
            lo = mid + 1u;
        else
            hi = mid;
    }
    uint out_pos = pos + lo;
    uint merged_len = run_len + other_len;
    if (out_pos >= min(merged_len, keep))
        return;
    uint d_row = row_off(0, row_index(0, row));
    if (final_) {
        ST_I32(d_row + out_pos * A.nb[0].x, int(i));
    } else {
        uint o = d_row + (pair_base + out_pos) * 8u;
        dst_w[o >> 2] = floatBitsToUint(k);
        dst_w[(o >> 2) + 1u] = i;
    }
}
