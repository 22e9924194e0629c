// common.cl -- the kernel side of the contract in cl_internal.h. Built
// first; every other kernels/*.cl file follows it in one program.
//
// Every kernel takes (global uchar *dst, global const uchar *s0,
// global const uchar *s1, global const uchar *s2, cl_args a): the four
// buffers and the arguments by value. Tensors inside the buffers are
// addressed in bytes (a.off, a.nb), so any view of the graph ABI can be
// reached. OpenCL C 1.2: no fp16 arithmetic is assumed (vload_half and
// vstore_half are core), nor subgroups.

typedef struct {
    uint off[4];      // byte offset of element [0,0,0,0] of each tensor
    uint ne[4][4];    // sizes per tensor
    uint nb[4][4];    // byte strides per tensor
    int ip[8];        // node iparams
    float fp[8];      // node fparams
    uint u[8];        // op-specific
} cl_args;

#define KARGS global uchar *dst, global const uchar *s0, global const uchar *s1, \
              global const uchar *s2, const cl_args a

// Byte offset of element (i0, i1, i2, i3) of tensor t.
inline uint elem_off(const cl_args *a, uint t, uint i0, uint i1, uint i2, uint i3)
{
    return a->off[t] + i0 * a->nb[t][0] + i1 * a->nb[t][1] + i2 * a->nb[t][2] + i3 * a->nb[t][3];
}

// Loads at byte offset o (aligned to the type's size for the plain ones).
#define LD_F32(B, o) (*(global const float *)((B) + (o)))
#define LD_I32(B, o) (*(global const int *)((B) + (o)))
#define LD_U8(B, o) ((uint)(B)[o])
#define LD_U16(B, o) ((uint)(B)[o] | ((uint)(B)[(o) + 1] << 8))
#define LD_F16(B, o) vload_half(0, (global const half *)((B) + (o)))
#define LD_BF16(B, o) as_float(LD_U16(B, o) << 16)
#define ST_F32(o, v) (*(global float *)(dst + (o)) = (v))
#define ST_I32(o, v) (*(global int *)(dst + (o)) = (v))

// ---- added by the ops side (cl_internal.h has the host side) ----------

// Build options the host passes (cl_device.c): -cl-std=CL1.2, OPS_VEC (the
// vector width element-wise kernels give one work-item: 16 on CPU devices
// such as PoCL, which run one work-item's vectors well and do not vectorise
// across work-items, else 4), and HAVE_FP16, HAVE_FP64, HAVE_SUBGROUPS,
// HAVE_INT_DOT, CL_EMULATED where the device has them.
#ifndef OPS_VEC
#define OPS_VEC 4
#endif
#ifdef HAVE_FP64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif

// Kernels that read ids (GET_ROWS, SET_ROWS, MUL_MAT_ID) take two more
// arguments: the graph's status words {flag, node, id, 0} and the index of
// the node being run, both set by cl_enqueue. An id out of range is
// reported with report_bad_id and its access skipped; graph_compute turns
// the first report into SLM_ERR_INVALID_ARG naming the node.
#define KARGS_IDS KARGS, global volatile uint *status, const uint node

inline void report_bad_id(global volatile uint *status, uint node, int id)
{
    if (atomic_cmpxchg(&status[0], 0u, 1u) == 0u) {
        status[1] = node;
        status[2] = (uint)id;
    }
}

// Byte offset of row r = i1 + ne1 * (i2 + ne2 * i3) of tensor t, counted
// over t's own ne: element [0, i1, i2, i3].
inline uint row_off(const cl_args *a, uint t, uint r)
{
    uint n1 = a->ne[t][1], n2 = a->ne[t][2];
    uint i1 = r % n1, i2 = (r / n1) % n2, i3 = r / (n1 * n2);
    return a->off[t] + i1 * a->nb[t][1] + i2 * a->nb[t][2] + i3 * a->nb[t][3];
}

// binary16 bits -> float, exactly (subnormals included).
inline float f16_bits_to_f32(uint h)
{
    uint sign = (h & 0x8000u) << 16;
    uint e = (h >> 10) & 0x1Fu;
    uint man = h & 0x3FFu;
    if (e == 0x1Fu)
        return as_float(sign | 0x7F800000u | (man << 13));
    if (e != 0u)
        return as_float(sign | ((e + 112u) << 23) | (man << 13));
    float v = (float)man * as_float(0x33800000u); // man * 2^-24, exact
    return sign ? -v : v;
}

// float -> binary16 bits, to nearest even; overflow to infinity; NaN stays
// a quiet NaN with the payload slm/graph.h's slm_f32_to_f16 keeps.
inline uint f32_to_f16_bits(float f)
{
    uint x = as_uint(f);
    uint sign = (x >> 16) & 0x8000u;
    uint e8 = (x >> 23) & 0xFFu;
    uint man = x & 0x7FFFFFu;
    if (e8 == 0xFFu)
        return sign | 0x7C00u | (man != 0u ? (0x200u | (man >> 13)) : 0u);
    int e = (int)e8 - 127 + 15;
    if (e >= 0x1F)
        return sign | 0x7C00u;
    if (e <= 0) {
        if (e < -10)
            return sign;
        man |= 0x800000u;
        uint shift = (uint)(14 - e);
        uint half_ = man >> shift;
        uint rem = man & ((1u << shift) - 1u);
        uint mid = 1u << (shift - 1u);
        if (rem > mid || (rem == mid && (half_ & 1u) != 0u))
            half_++;
        return sign | half_;
    }
    uint half_ = ((uint)e << 10) | (man >> 13);
    uint rem = man & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (half_ & 1u) != 0u))
        half_++; // a carry into the exponent is the right answer
    return sign | half_;
}

// float -> bfloat16 bits, to nearest even; NaN stays NaN.
inline uint f32_to_bf16_bits(float f)
{
    uint x = as_uint(f);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u)
        return (x >> 16) | 0x40u;
    x += 0x7FFFu + ((x >> 16) & 1u);
    return x >> 16;
}

#define ST_U16(o, v) (*(global ushort *)(dst + (o)) = (ushort)(v))

// OPS_VEC-wide vectors: floatV, vloadV, vstoreV.
#define CAT_(x, y) x##y
#define CAT(x, y) CAT_(x, y)
#define floatV CAT(float, OPS_VEC)
#define vloadV CAT(vload, OPS_VEC)
#define vstoreV CAT(vstore, OPS_VEC)

// Byte offset of the row of tensor t that row r of dst broadcasts to: dst's
// (i1, i2, i3) taken modulo t's ne (the identity where the shapes match).
inline uint bcast_row_off(const cl_args *a, uint t, uint r)
{
    uint n1 = a->ne[0][1], n2 = a->ne[0][2];
    uint i1 = r % n1, i2 = (r / n1) % n2, i3 = r / (n1 * n2);
    return a->off[t] + (i1 % a->ne[t][1]) * a->nb[t][1] + (i2 % a->ne[t][2]) * a->nb[t][2] +
           (i3 % a->ne[t][3]) * a->nb[t][3];
}

// Work-group reductions through local memory buf[get_local_size(0)] (a
// power of two): every work-item gets the result. Reductions run one row
// per work-group (reduce.cl, softmax.cl).
inline float wg_sum(local float *buf, float v)
{
    uint l = get_local_id(0);
    buf[l] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint s = (uint)get_local_size(0) / 2u; s > 0u; s >>= 1) {
        if (l < s)
            buf[l] += buf[l + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = buf[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

inline float wg_max(local float *buf, float v)
{
    uint l = get_local_id(0);
    buf[l] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint s = (uint)get_local_size(0) / 2u; s > 0u; s >>= 1) {
        if (l < s)
            buf[l] = fmax(buf[l], buf[l + s]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = buf[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

// The largest work-group the reductions are enqueued with (cl_ops.c).
#define RED_WG_MAX 256
