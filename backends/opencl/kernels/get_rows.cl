// get_rows.cl -- GET_ROWS: dst[:, j, b2, b3] = src0[:, ids[j, b2, b3], b2,
// b3] as F32, bit-exact with the reference (backends/cpu/cpu_quant.c): the
// same float operations in the same order, none fused (FP_CONTRACT OFF).
//
// Work-item (i, j, b) writes unit i of dst row (j, b2 + B2 * b3): one block
// of a quantised table, 16 elements of an F32/F16/BF16 one. Rows are read
// and written through their strides; dense ones take vector loads and
// stores.
// An id outside [0, R) is reported (common.cl report_bad_id) and its unit
// left unwritten.

#pragma OPENCL FP_CONTRACT OFF

// Store 16 floats at dst byte o, element stride `step`.
void mm_store16(global uchar *dst, uint o, uint step, float16 v)
{
    if (step == 4u) {
        vstore16(v, 0, (global float *)(dst + o));
        return;
    }
    float t[16];
    vstore16(v, 0, t);
    for (uint e = 0u; e < 16u; e++)
        ST_F32(o + e * step, t[e]);
}

// The unit's first dst byte and table row. False when its id is out of
// range (reported).
bool mm_rows_unit(const cl_args *a, global const uchar *s1, global volatile uint *status,
                  uint node, uint *out0, uint *row)
{
    uint j = get_global_id(1), b = get_global_id(2);
    uint b2 = b % a->ne[2][1], b3 = b / a->ne[2][1];
    int id = LD_I32(s1, elem_off(a, 2u, j, b2, b3, 0u));
    if (id < 0 || (uint)id >= a->ne[1][1]) {
        report_bad_id(status, node, id);
        return false;
    }
    *out0 = elem_off(a, 0u, 0u, j, b2, b3);
    *row = elem_off(a, 1u, 0u, (uint)id, b2, b3);
    return true;
}

// Rows of F32, F16 and BF16: 16 elements per work-item, the last one of a
// row fewer. F32 is copied as bits, NaN payloads included.
#define MM_GET_ROWS_PLAIN(NAME, ESIZE, VLOAD, SLOAD)                                 \
    kernel void get_rows_##NAME(KARGS_IDS)                                           \
    {                                                                                \
        uint out0, row;                                                              \
        if (!mm_rows_unit(&a, s1, status, node, &out0, &row))                        \
            return;                                                                  \
        uint e0 = 16u * get_global_id(0), n = min(16u, a.ne[0][0] - e0);             \
        uint step = a.nb[0][0], o = out0 + e0 * step;                                \
        uint src = row + e0 * a.nb[1][0];                                            \
        if (n == 16u && a.nb[1][0] == ESIZE) {                                       \
            mm_store16(dst, o, step, VLOAD);                                         \
            return;                                                                  \
        }                                                                            \
        for (uint e = 0u; e < n; e++)                                                \
            ST_F32(o + e * step, SLOAD(s0, src + e * a.nb[1][0]));                   \
    }

#define MM_LD_F32_BITS(B, o) as_float(*(global const uint *)((B) + (o)))
#define MM_LD_F16_EXACT(B, o) f16_bits_to_f32(*(global const ushort *)((B) + (o)))

MM_GET_ROWS_PLAIN(f32, 4u, as_float16(vload16(0, (global const uint *)(s0 + src))), MM_LD_F32_BITS)
MM_GET_ROWS_PLAIN(f16, 2u, mm_f16x16(vload16(0, (global const ushort *)(s0 + src))), MM_LD_F16_EXACT)
MM_GET_ROWS_PLAIN(bf16, 2u,
                  as_float16(convert_uint16(vload16(0, (global const ushort *)(s0 + src))) << 16),
                  LD_BF16)

// Rows of a block type: one block per work-item, dequantised into `y`
// 16 elements at a time (STORE16(k, v) puts elements 16 k .. 16 k + 15).
#define MM_GET_ROWS_BLOCK(NAME, QK, BYTES, ...)                                      \
    kernel void get_rows_##NAME(KARGS_IDS)                                           \
    {                                                                                \
        uint out0, row;                                                              \
        if (!mm_rows_unit(&a, s1, status, node, &out0, &row))                        \
            return;                                                                  \
        uint step = a.nb[0][0], i = get_global_id(0);                                \
        uint y0 = out0 + QK * i * step;                                              \
        uint o = row + i * BYTES;                                                    \
        __VA_ARGS__                                                                  \
    }

#define STORE16(k, v) mm_store16(dst, y0 + 16u * (k) * step, step, (v))

// y = d * (q - 8)
MM_GET_ROWS_BLOCK(q4_0, 32u, MM_Q4_0_BYTES, {
    short16 lo, hi;
    float d = mm_q4_0(s0, o, &lo, &hi);
    STORE16(0u, d * convert_float16(lo));
    STORE16(1u, d * convert_float16(hi));
})

// y = d * q
MM_GET_ROWS_BLOCK(q8_0, 32u, MM_Q8_0_BYTES, {
    short16 lo, hi;
    float d = mm_q8_0(s0, o, &lo, &hi);
    STORE16(0u, d * convert_float16(lo));
    STORE16(1u, d * convert_float16(hi));
})

// y = (d * sc) * q - dmin * m: both products exact, one rounding, unfused
MM_GET_ROWS_BLOCK(q4_k, 256u, MM_Q4_K_BYTES, {
    float d = mm_blk_f16(s0, o), dmin = mm_blk_f16(s0, o + 2u);
    int sc[8], mn[8];
    mm_q4_K_scales(s0, o, sc, mn);
    for (uint p = 0u; p < 4u; p++) {
        float d_lo = d * (float)sc[2u * p], min_lo = dmin * (float)mn[2u * p];
        float d_hi = d * (float)sc[2u * p + 1u], min_hi = dmin * (float)mn[2u * p + 1u];
        for (uint k = 0u; k < 2u; k++) {
            uchar16 qb = vload16(k, s0 + o + 16u + 32u * p);
            STORE16(4u * p + k, d_lo * convert_float16(qb & (uchar)0xF) - min_lo);
            STORE16(4u * p + 2u + k, d_hi * convert_float16(qb >> (uchar)4) - min_hi);
        }
    }
})

// y = (d * scale) * (q - 32), in that order
MM_GET_ROWS_BLOCK(q6_k, 256u, MM_Q6_K_BYTES, {
    float d = mm_blk_f16(s0, o + 208u);
    for (uint h = 0u; h < 2u; h++)
        for (uint kk = 0u; kk < 2u; kk++) {
            short16 q[4];
            mm_q6_K_step(s0, o, h, kk, q);
            for (uint j = 0u; j < 4u; j++) {
                uint g = 8u * h + 2u * j + kk;
                float ds = d * (float)((global const char *)s0)[o + 192u + g];
                STORE16(g, ds * convert_float16(q[j]));
            }
        }
})

#undef STORE16

#pragma OPENCL FP_CONTRACT DEFAULT
