// mul_mat.cl -- MUL_MAT and MUL_MAT_ID: dst[n, m] = dot(weight row n,
// activation row m) with the dot of slm/graph.h for the weight's dtype.
//
// Kernels, per weight dtype NAME (f32 f16 bf16 q4_0 q8_0 q4_k q6_k):
//   mul_mat_NAME_vec  one column per work-item (decode, M == 1)
//   mul_mat_NAME_mat  MM_NC columns per work-item (prompts, M > 1): each
//                     weight block is loaded and unpacked once for them
//   mul_mat_id_NAME   MUL_MAT_ID, one (expert slot, token) pair each
// Work-item (n, tile, z) computes weight row n against the columns of its
// tile in matrix z (a + A * b) -- for MUL_MAT_ID (n, u, t) -- walking the
// whole row with vectors: 16 quants at a time widened to short16, exact
// integer sums per block, one float term per block (PoCL runs explicit
// vectors per work-item ~10x faster than scalar work-items).
//
// That shape starves a GPU in decode: N work-items, each streaming a row
// of its own, so neighbouring work-items never read neighbouring bytes.
// Built with -DMM_LANES=L (the host does so for GPUs), two more kernels
// give each weight row a work-group of L lanes instead:
//   mul_mat_NAME_wide     MUL_MAT with M == 1
//   mul_mat_id_NAME_wide  MUL_MAT_ID
// Lane l takes units l, l + L, ... of the row, so a work-group reads the
// row's blocks side by side, and the lanes' partial sums are added in
// local memory (or with sub_group_reduce_add where the device has
// subgroups). graph.h lets the float sum over blocks run in any order, so
// both shapes meet the same contract.
//
// Activations are dense rows in scratch that quant.cl wrote, addressed by
// tensor 2 of the arguments (the host points off[2] and nb[2] there): Q8_0
// or Q8_K act blocks (dequant.cl) for the block types, floats (rounded to
// F16/BF16 for those weights) for the rest. u[0] weight units per row
// (blocks, or elements for F32/F16/BF16), u[1], u[2] the grouped-query
// ratios A / A0 and B / B0. MUL_MAT_ID: ids are tensor 3; an id outside
// [0, X) is reported (common.cl report_bad_id) and its outputs left alone.

#pragma OPENCL FP_CONTRACT OFF

#define MM_NC 4u
#define MM_INLINE __attribute__((always_inline))

// MUL_MAT: where work-item (n, tile, z) reads and writes, for nc columns
// of weight row n.
// Columns past M compute column M - 1 again and are not stored (*n_cols).
// False for the padding past row N.
MM_INLINE bool mm_mat_setup(const cl_args *a, uint n, const uint nc, uint *w_row, uint *a_row,
                            uint *d_off, uint *n_cols)
{
    uint tile = get_global_id(1), z = get_global_id(2);
    if (n >= a->ne[1][1])
        return false;
    uint ia = z % a->ne[2][2], ib = z / a->ne[2][2];
    *w_row = elem_off(a, 1u, 0u, n, ia / a->u[1], ib / a->u[2]);
    uint M = a->ne[2][1], m0 = tile * nc;
    *n_cols = min(nc, M - m0);
    for (uint c = 0u; c < nc; c++) {
        a_row[c] = elem_off(a, 2u, 0u, min(m0 + c, M - 1u), ia, ib);
        d_off[c] = elem_off(a, 0u, n, m0 + c, ia, ib);
    }
    return true;
}

// MUL_MAT_ID: work-item (n, u, t) takes expert ids[u, t] for src1 row
// (u % U1, t); false, after reporting, for a bad id.
MM_INLINE bool mm_id_setup(const cl_args *a, uint n, global const uchar *s2,
                           global volatile uint *status, uint node, uint *w_row,
                           uint *a_row, uint *d_off, uint *n_cols)
{
    uint u = get_global_id(1), t = get_global_id(2);
    if (n >= a->ne[1][1])
        return false;
    int e = LD_I32(s2, elem_off(a, 3u, u, t, 0u, 0u));
    *d_off = elem_off(a, 0u, n, u, t, 0u);
    *n_cols = 1u;
    if (e < 0 || (uint)e >= a->ne[1][2]) {
        report_bad_id(status, node, e);
        return false;
    }
    *w_row = elem_off(a, 1u, 0u, n, (uint)e, 0u);
    a_row[0] = elem_off(a, 2u, 0u, u % a->ne[2][1], t, 0u);
    return true;
}

// ------------------------------------------------------------ dot bodies
//
// Each adds units first, first + stride, ... of weight row w_row (units
// blocks or elements) times the nc act rows a_row[] into acc[]: all of
// them with (0, 1), one lane's share with (lane, lanes). Integer sums are exact: a quant product fits a
// short with room for the two of a lane (Q8_0: 2 * 128 * 127 < 2^15).

// Q4_0, Q8_0 against Q8_0 act blocks: (float)s * (dw * da) per block.
#define MM_DOT_32(NAME, UNPACK, BYTES)                                               \
    MM_INLINE void mm_dot_##NAME(global const uchar *w, global const uchar *x,       \
                                 uint w_row, const uint *a_row, uint units,          \
                                 float *acc, const uint nc, uint step, uint first,   \
                                 uint stride)                                        \
    {                                                                                \
        (void)step;                                                                  \
        for (uint i = first; i < units; i += stride) {                               \
            short16 lo, hi;                                                          \
            float dw = UNPACK(w, w_row + i * BYTES, &lo, &hi);                       \
            for (uint c = 0u; c < nc; c++) {                                         \
                uint o = a_row[c] + i * MM_Q8A_BYTES;                                \
                int s = mm_hsum(lo * mm_act16(x, o + 4u, 0u) + hi * mm_act16(x, o + 4u, 1u)); \
                float dd = dw * *(global const float *)(x + o);                      \
                acc[c] += (float)s * dd;                                             \
            }                                                                        \
        }                                                                            \
    }

MM_DOT_32(q4_0, mm_q4_0, MM_Q4_0_BYTES)
MM_DOT_32(q8_0, mm_q8_0, MM_Q8_0_BYTES)

// Q4_K against Q8_K act blocks: S = sum_s sc[s] * (sub-block dot), Mn =
// sum_s m[s] * (sub-block quant sum), then + (dw * d) S - (dmin * d) Mn.
MM_INLINE void mm_dot_q4_k(global const uchar *w, global const uchar *x, uint w_row,
                           const uint *a_row, uint units, float *acc, const uint nc,
                           uint step, uint first, uint stride)
{
    (void)step;
    for (uint i = first; i < units; i += stride) {
        uint o = w_row + i * MM_Q4_K_BYTES;
        float dw = mm_blk_f16(w, o), dmin = mm_blk_f16(w, o + 2u);
        int sc[8], mn[8];
        mm_q4_K_scales(w, o, sc, mn);
        int S[MM_NC];
        for (uint c = 0u; c < nc; c++)
            S[c] = 0;
        // 64 elements per step: the low nibbles of 32 bytes are sub-block
        // 2p, their high nibbles sub-block 2p + 1
        for (uint p = 0u; p < 4u; p++) {
            uchar16 q0 = vload16(0, w + o + 16u + 32u * p);
            uchar16 q1 = vload16(1, w + o + 16u + 32u * p);
            short16 l0 = convert_short16(q0 & (uchar)0xF), l1 = convert_short16(q1 & (uchar)0xF);
            short16 h0 = convert_short16(q0 >> (uchar)4), h1 = convert_short16(q1 >> (uchar)4);
            for (uint c = 0u; c < nc; c++) {
                uint ao = a_row[c] + i * MM_Q8KA_BYTES + MM_Q8KA_QS + 64u * p;
                int lo = mm_hsum(l0 * mm_act16(x, ao, 0u) + l1 * mm_act16(x, ao, 1u));
                int hi = mm_hsum(h0 * mm_act16(x, ao, 2u) + h1 * mm_act16(x, ao, 3u));
                S[c] += sc[2u * p] * lo + sc[2u * p + 1u] * hi;
            }
        }
        for (uint c = 0u; c < nc; c++) {
            uint ab = a_row[c] + i * MM_Q8KA_BYTES;
            int8 sums = vload8(0, (global const int *)(x + ab + MM_Q8KA_SUMS));
            int8 m = (int8)(mn[0], mn[1], mn[2], mn[3], mn[4], mn[5], mn[6], mn[7]) * sums;
            int4 m4 = m.lo + m.hi;
            int Mn = m4.x + m4.y + m4.z + m4.w;
            float d = *(global const float *)(x + ab);
            float d1 = dw * d, d2 = dmin * d;
            acc[c] += d1 * (float)S[c];
            acc[c] -= d2 * (float)Mn;
        }
    }
}

// Q6_K against Q8_K act blocks: S = sum_g scales[g] * sum (q - 32) a over
// the 16 groups of 16, then + (dw * d) S.
MM_INLINE void mm_dot_q6_k(global const uchar *w, global const uchar *x, uint w_row,
                           const uint *a_row, uint units, float *acc, const uint nc,
                           uint step, uint first, uint stride)
{
    (void)step;
    for (uint i = first; i < units; i += stride) {
        uint o = w_row + i * MM_Q6_K_BYTES;
        char16 scv = vload16(0, (global const char *)(w + o + 192u));
        char sc[16];
        vstore16(scv, 0, sc);
        int S[MM_NC];
        for (uint c = 0u; c < nc; c++)
            S[c] = 0;
        for (uint h = 0u; h < 2u; h++)
            for (uint kk = 0u; kk < 2u; kk++) {
                short16 q[4];
                mm_q6_K_step(w, o, h, kk, q);
                for (uint c = 0u; c < nc; c++) {
                    uint ao = a_row[c] + i * MM_Q8KA_BYTES + MM_Q8KA_QS;
                    for (uint j = 0u; j < 4u; j++) {
                        uint g = 8u * h + 2u * j + kk; // also the act chunk of 16
                        S[c] += sc[g] * mm_hsum(q[j] * mm_act16(x, ao, g));
                    }
                }
            }
        float dw = mm_blk_f16(w, o + 208u);
        for (uint c = 0u; c < nc; c++) {
            float d1 = dw * *(global const float *)(x + a_row[c] + i * MM_Q8KA_BYTES);
            acc[c] += d1 * (float)S[c];
        }
    }
}

// F32, F16, BF16 against float rows: graph.h lets these sum in any float
// order (F16/BF16 products are exact), so eight lanes, fma allowed. A
// weight row with element stride other than its size (a transposed V
// cache) is read one element at a time.
#define MM_DOT_PLAIN(NAME, ESIZE, LOAD8, LOAD1)                                      \
    MM_INLINE void mm_dot_##NAME(global const uchar *w, global const uchar *x,       \
                                 uint w_row, const uint *a_row, uint units,          \
                                 float *acc, const uint nc, uint step, uint first,   \
                                 uint stride)                                        \
    {                                                                                \
        _Pragma("OPENCL FP_CONTRACT ON")                                             \
        float8 acc8[MM_NC];                                                          \
        for (uint c = 0u; c < nc; c++)                                               \
            acc8[c] = 0.0f;                                                          \
        uint n8 = step == ESIZE ? units / 8u : 0u;                                   \
        for (uint j = first; j < n8; j += stride) {                                  \
            float8 wv = LOAD8(w, w_row + j * 8u * ESIZE);                            \
            for (uint c = 0u; c < nc; c++)                                           \
                acc8[c] += wv * vload8(j, (global const float *)(x + a_row[c]));     \
        }                                                                            \
        for (uint k = n8 * 8u + first; k < units; k += stride) {                     \
            float wv = LOAD1(w, w_row + k * step);                                   \
            for (uint c = 0u; c < nc; c++)                                           \
                acc8[c].s0 += wv * ((global const float *)(x + a_row[c]))[k];        \
        }                                                                            \
        for (uint c = 0u; c < nc; c++) {                                             \
            float4 s4 = acc8[c].lo + acc8[c].hi;                                     \
            acc[c] += (s4.x + s4.y) + (s4.z + s4.w);                                 \
        }                                                                            \
    }

#define MM_LD8_F32(B, o) vload8(0, (global const float *)((B) + (o)))
#define MM_LD8_F16(B, o) vload_half8(0, (global const half *)((B) + (o)))
#define MM_LD8_BF16(B, o) as_float8(convert_uint8(vload8(0, (global const ushort *)((B) + (o)))) << 16)

MM_DOT_PLAIN(f32, 4u, MM_LD8_F32, LD_F32)
MM_DOT_PLAIN(f16, 2u, MM_LD8_F16, LD_F16)
MM_DOT_PLAIN(bf16, 2u, MM_LD8_BF16, LD_BF16)

// ----------------------------------------------------------------- kernels

// SETUP(&a, n, ...) ends with the work-item's w_row, a_row[NC], d_off[NC]
// and n_cols.
#define MM_RUN(NAME, NC, SETUP, ...)                                                 \
    {                                                                                \
        uint w_row = 0u, a_row[NC], d_off[NC], n_cols;                               \
        if (!SETUP(&a, get_global_id(0), __VA_ARGS__, &w_row, a_row, d_off, &n_cols)) \
            return;                                                                  \
        float acc[NC];                                                               \
        for (uint c = 0u; c < NC; c++)                                               \
            acc[c] = 0.0f;                                                           \
        mm_dot_##NAME(s0, s1, w_row, a_row, a.u[0], acc, NC, a.nb[1][0], 0u, 1u);    \
        for (uint c = 0u; c < NC; c++)                                               \
            if (c < n_cols)                                                          \
                ST_F32(d_off[c], acc[c]);                                            \
    }

#define MM_KERNELS(NAME)                                                             \
    kernel void mul_mat_##NAME##_vec(KARGS) MM_RUN(NAME, 1u, mm_mat_setup, 1u)       \
    kernel void mul_mat_##NAME##_mat(KARGS) MM_RUN(NAME, MM_NC, mm_mat_setup, MM_NC) \
    kernel void mul_mat_id_##NAME(KARGS_IDS)                                         \
        MM_RUN(NAME, 1u, mm_id_setup, s2, status, node)

MM_KERNELS(q4_0)
MM_KERNELS(q8_0)
MM_KERNELS(q4_k)
MM_KERNELS(q6_k)
MM_KERNELS(f32)
MM_KERNELS(f16)
MM_KERNELS(bf16)

#ifdef MM_LANES

#ifdef HAVE_SUBGROUPS
#pragma OPENCL EXTENSION cl_khr_subgroups : enable
#endif

// The sum of v over the work-group, in lane 0. part holds MM_LANES floats;
// every lane must call it (barriers).
MM_INLINE float mm_lanes_sum(float v, local float *part)
{
#ifdef HAVE_SUBGROUPS
    v = sub_group_reduce_add(v);
    if (get_sub_group_local_id() == 0u)
        part[get_sub_group_id()] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    float s = 0.0f;
    if (get_local_id(0) == 0u)
        for (uint i = 0u; i < get_num_sub_groups(); i++)
            s += part[i];
    return s;
#else
    uint l = get_local_id(0);
    part[l] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint h = MM_LANES / 2u; h > 0u; h >>= 1) {
        if (l < h)
            part[l] += part[l + h];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    return part[0];
#endif
}

// Work-group n (of MM_LANES lanes) computes weight row n; whether the row
// runs is the same for every lane, and every lane reaches the barriers.
#define MM_RUN_WIDE(NAME, SETUP, ...)                                                \
    {                                                                                \
        local float part[MM_LANES];                                                  \
        uint w_row = 0u, a_row[1], d_off[1], n_cols;                                 \
        bool run = SETUP(&a, get_group_id(0), __VA_ARGS__, &w_row, a_row, d_off, &n_cols); \
        float acc[1] = {0.0f};                                                       \
        if (run)                                                                     \
            mm_dot_##NAME(s0, s1, w_row, a_row, a.u[0], acc, 1u, a.nb[1][0],         \
                          get_local_id(0), MM_LANES);                                \
        float sum = mm_lanes_sum(acc[0], part);                                      \
        if (run && get_local_id(0) == 0u)                                            \
            ST_F32(d_off[0], sum);                                                   \
    }

#define MM_KERNELS_WIDE(NAME)                                                        \
    kernel __attribute__((reqd_work_group_size(MM_LANES, 1, 1)))                     \
    void mul_mat_##NAME##_wide(KARGS) MM_RUN_WIDE(NAME, mm_mat_setup, 1u)            \
    kernel __attribute__((reqd_work_group_size(MM_LANES, 1, 1)))                     \
    void mul_mat_id_##NAME##_wide(KARGS_IDS) MM_RUN_WIDE(NAME, mm_id_setup, s2, status, node)

MM_KERNELS_WIDE(q4_0)
MM_KERNELS_WIDE(q8_0)
MM_KERNELS_WIDE(q4_k)
MM_KERNELS_WIDE(q6_k)
MM_KERNELS_WIDE(f32)
MM_KERNELS_WIDE(f16)
MM_KERNELS_WIDE(bf16)

#endif // MM_LANES

#pragma OPENCL FP_CONTRACT DEFAULT
