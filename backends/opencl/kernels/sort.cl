// sort.cl -- ARGSORT and TOP_K: a bitonic sort of each row of src0 (F32),
// padded to P, a power of two, with entries that sort after everything.
// Entries are (key, index) and "a before b" is a total order: key
// ascending (descending with u[2] set), ties by the lower index, which is
// exactly the order a stable sort gives. The first keep = dst ne[0]
// indices are written to dst (I32).
//
// sort_local: P <= SORT_LOCAL_MAX; one work-group per row (global size
//   {WG, rows}, local {WG, 1}) sorts in local memory. u[0] = P,
//   u[2] = desc.
// Longer rows go through scratch, entries of 8 bytes (key bits, index)
// from byte u[3], P per row:
//   sort_init  global {P, rows}: dst is the scratch;
//   sort_step  global {P / 2, rows}: one compare-exchange step of size
//              u[4] and stride u[5] in the scratch (dst);
//   sort_final global {keep, rows}: the indices from the scratch (src2).

#define SORT_LOCAL_MAX 1024
#define SENTINEL 0xFFFFFFFFu

inline bool sorts_before(float ak, uint ai, float bk, uint bi, bool desc)
{
    if (ai == SENTINEL)
        return false;
    if (bi == SENTINEL)
        return true;
    if (ak == bk)
        return ai < bi;
    return desc ? ak > bk : ak < bk;
}

kernel void sort_local(KARGS)
{
    local float key[SORT_LOCAL_MAX];
    local uint idx[SORT_LOCAL_MAX];
    uint r = (uint)get_global_id(1), l = (uint)get_local_id(0), wg = (uint)get_local_size(0);
    uint n = a.ne[1][0], P = a.u[0];
    bool desc = a.u[2] != 0u;
    uint x_row = row_off(&a, 1, r);
    for (uint i = l; i < P; i += wg) {
        key[i] = i < n ? LD_F32(s0, x_row + i * a.nb[1][0]) : 0.0f;
        idx[i] = i < n ? i : SENTINEL;
    }
    for (uint size = 2u; size <= P; size <<= 1) {
        for (uint stride = size >> 1; stride > 0u; stride >>= 1) {
            barrier(CLK_LOCAL_MEM_FENCE);
            for (uint p = l; p < P / 2u; p += wg) {
                uint i = 2u * p - (p & (stride - 1u)), j = i + stride;
                bool up = (i & size) == 0u;
                float ki = key[i], kj = key[j];
                uint ii = idx[i], ij = idx[j];
                if (up ? sorts_before(kj, ij, ki, ii, desc) : sorts_before(ki, ii, kj, ij, desc)) {
                    key[i] = kj;
                    key[j] = ki;
                    idx[i] = ij;
                    idx[j] = ii;
                }
            }
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    uint d_row = row_off(&a, 0, r);
    for (uint i = l; i < a.ne[0][0]; i += wg)
        ST_I32(d_row + i * a.nb[0][0], (int)idx[i]);
}

kernel void sort_init(KARGS)
{
    uint i = (uint)get_global_id(0), r = (uint)get_global_id(1);
    uint n = a.ne[1][0], P = a.u[0];
    global uint *e = (global uint *)(dst + a.u[3]) + 2u * (r * P + i);
    e[0] = i < n ? as_uint(LD_F32(s0, row_off(&a, 1, r) + i * a.nb[1][0])) : 0u;
    e[1] = i < n ? i : SENTINEL;
}

kernel void sort_step(KARGS)
{
    uint p = (uint)get_global_id(0), r = (uint)get_global_id(1);
    uint P = a.u[0], size = a.u[4], stride = a.u[5];
    bool desc = a.u[2] != 0u;
    global uint *row = (global uint *)(dst + a.u[3]) + 2u * r * P;
    uint i = 2u * p - (p & (stride - 1u)), j = i + stride;
    bool up = (i & size) == 0u;
    uint ki = row[2u * i], ii = row[2u * i + 1u], kj = row[2u * j], ij = row[2u * j + 1u];
    float fi = as_float(ki), fj = as_float(kj);
    if (up ? sorts_before(fj, ij, fi, ii, desc) : sorts_before(fi, ii, fj, ij, desc)) {
        row[2u * i] = kj;
        row[2u * i + 1u] = ij;
        row[2u * j] = ki;
        row[2u * j + 1u] = ii;
    }
}

kernel void sort_final(KARGS)
{
    uint i = (uint)get_global_id(0), r = (uint)get_global_id(1);
    uint P = a.u[0];
    global const uint *row = (global const uint *)(s2 + a.u[3]) + 2u * r * P;
    ST_I32(row_off(&a, 0, r) + i * a.nb[0][0], (int)row[2u * i + 1u]);
}
