// copy.cl -- COPY. Elements are taken and stored in ne order.
//
// copy_S_D (S, D: f32, f16, bf16): src0 and dst of one shape; global size
//   {ceil(ne0 / OPS_VEC), rows}, a work-item takes OPS_VEC elements of a
//   row. The same dtype copies bits (NaN payloads too); conversions round
//   to nearest even (common.cl).
// copy_reshape_S_D: the shapes differ; global size {ceil(total /
//   OPS_VEC)}, a work-item takes OPS_VEC consecutive elements in ne order
//   and maps each through both shapes. u[0] = total elements.
// copy_rows_raw: equal ne[0], rows contiguous in both and the same dtype
//   (any, quantised included): row r of src0 (in its ne) to row r of dst
//   (in its), as bytes; global size {ceil(row bytes / 16), rows}, u[0] =
//   row bytes.

#define LD_U16A(B, o) (*(global const ushort *)((B) + (o)))
#define ST_U32(o, v) (*(global uint *)(dst + (o)) = (v))
#define LD_U32A(B, o) (*(global const uint *)((B) + (o)))

#define CONV_f32_f32(os, od) ST_U32(od, LD_U32A(s0, os))
#define CONV_f16_f16(os, od) ST_U16(od, LD_U16A(s0, os))
#define CONV_bf16_bf16(os, od) ST_U16(od, LD_U16A(s0, os))
#define CONV_f32_f16(os, od) ST_U16(od, f32_to_f16_bits(LD_F32(s0, os)))
#define CONV_f32_bf16(os, od) ST_U16(od, f32_to_bf16_bits(LD_F32(s0, os)))
#define CONV_f16_f32(os, od) ST_F32(od, f16_bits_to_f32(LD_U16A(s0, os)))
#define CONV_f16_bf16(os, od) ST_U16(od, f32_to_bf16_bits(f16_bits_to_f32(LD_U16A(s0, os))))
#define CONV_bf16_f32(os, od) ST_F32(od, as_float((uint)LD_U16A(s0, os) << 16))
#define CONV_bf16_f16(os, od) ST_U16(od, f32_to_f16_bits(as_float((uint)LD_U16A(s0, os) << 16)))

// Element e (in ne order) of tensor t: its byte offset.
inline uint linear_off(const cl_args *a, uint t, uint e)
{
    uint n0 = a->ne[t][0], n1 = a->ne[t][1], n2 = a->ne[t][2];
    uint i0 = e % n0;
    e /= n0;
    uint i1 = e % n1;
    e /= n1;
    uint i2 = e % n2;
    return elem_off(a, t, i0, i1, i2, e / n2);
}

#define COPY_KERNELS(S, D)                                                     \
kernel void copy_##S##_##D(KARGS)                                              \
{                                                                              \
    uint i0 = (uint)get_global_id(0) * OPS_VEC, r = (uint)get_global_id(1);    \
    uint d_row = row_off(&a, 0, r), x_row = row_off(&a, 1, r);                 \
    uint end = min(i0 + OPS_VEC, a.ne[0][0]);                                  \
    for (uint i = i0; i < end; i++)                                            \
        CONV_##S##_##D(x_row + i * a.nb[1][0], d_row + i * a.nb[0][0]);        \
}                                                                              \
kernel void copy_reshape_##S##_##D(KARGS)                                      \
{                                                                              \
    uint e0 = (uint)get_global_id(0) * OPS_VEC;                                \
    uint end = min(e0 + OPS_VEC, a.u[0]);                                      \
    for (uint e = e0; e < end; e++)                                            \
        CONV_##S##_##D(linear_off(&a, 1, e), linear_off(&a, 0, e));            \
}

COPY_KERNELS(f32, f32)
COPY_KERNELS(f32, f16)
COPY_KERNELS(f32, bf16)
COPY_KERNELS(f16, f32)
COPY_KERNELS(f16, f16)
COPY_KERNELS(f16, bf16)
COPY_KERNELS(bf16, f32)
COPY_KERNELS(bf16, f16)
COPY_KERNELS(bf16, bf16)

kernel void copy_rows_raw(KARGS)
{
    uint k0 = (uint)get_global_id(0) * 16u, r = (uint)get_global_id(1), n = a.u[0];
    uint d_row = row_off(&a, 0, r), x_row = row_off(&a, 1, r);
    if (k0 + 16u <= n) {
        vstore16(vload16(0, s0 + x_row + k0), 0, dst + d_row + k0);
        return;
    }
    for (uint k = k0; k < n; k++)
        dst[d_row + k] = s0[x_row + k];
}
