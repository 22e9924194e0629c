// common.glsl -- the shader side of the dispatch contract in vk_internal.h.
//
// Bindings 0..3 are dst, src0, src1, src2, each a whole VkBuffer seen as
// 32-bit words; tensors inside them are addressed in bytes (A.off, A.nb), so
// every view of the graph ABI can be reached. Binding 4 holds the vk_args
// record of this dispatch.
//
// A shader may define, before including this file:
//   DST_16BIT  also see dst as uint16_t (needs storageBuffer16BitAccess),
//              for element-wise f16/bf16 stores without read-modify-write
//              races on shared words.

#extension GL_EXT_control_flow_attributes : enable

layout(std430, set = 0, binding = 0) buffer DstW { uint dst_w[]; };
layout(std430, set = 0, binding = 1) readonly buffer Src0W { uint s0_w[]; };
layout(std430, set = 0, binding = 2) readonly buffer Src1W { uint s1_w[]; };
layout(std430, set = 0, binding = 3) readonly buffer Src2W { uint s2_w[]; };

#ifdef DST_16BIT
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_int16 : require
layout(std430, set = 0, binding = 0) buffer DstH { uint16_t dst_h[]; };
#endif

// vk_args, std140. Tensor t: 0 = dst, 1..3 = src0..src2.
layout(std140, set = 0, binding = 4) uniform Args {
    uvec4 off;      // byte offset of element [0,0,0,0] of each tensor
    uvec4 ne[4];    // sizes per tensor
    uvec4 nb[4];    // byte strides per tensor
    ivec4 ip[2];    // node iparams 0..7
    vec4 fp[2];     // node fparams 0..7
    uvec4 u[2];     // op-specific
} A;

#define IPARAM(i) A.ip[(i) >> 2][(i) & 3]
#define FPARAM(i) A.fp[(i) >> 2][(i) & 3]
#define UARG(i) A.u[(i) >> 2][(i) & 3]

// Byte offset of element (i0, i1, i2, i3) of tensor t.
uint elem_off(uint t, uint i0, uint i1, uint i2, uint i3)
{
    return A.off[t] + i0 * A.nb[t].x + i1 * A.nb[t].y + i2 * A.nb[t].z + i3 * A.nb[t].w;
}

// binary16 bits -> float, exactly (subnormals included, which some
// implementations of unpackHalf2x16 flush to zero).
float f16_bits_to_f32(uint h)
{
    uint sign = (h & 0x8000u) << 16;
    uint e = (h >> 10) & 0x1Fu;
    uint man = h & 0x3FFu;
    if (e == 0x1Fu)
        return uintBitsToFloat(sign | 0x7F800000u | (man << 13));
    if (e != 0u)
        return uintBitsToFloat(sign | ((e + 112u) << 23) | (man << 13));
    // zero or subnormal: man * 2^-24 is exact in float
    float v = float(man) * uintBitsToFloat(0x33800000u);
    return (sign != 0u) ? -v : v;
}

// Loads from a word array W at byte offset o (aligned to the type's size).
#define LD_U32(W, o) (W[(o) >> 2])
#define LD_F32(W, o) uintBitsToFloat(W[(o) >> 2])
#define LD_I32(W, o) int(W[(o) >> 2])
#define LD_U8(W, o) ((W[(o) >> 2] >> (((o) & 3u) * 8u)) & 0xFFu)
#define LD_U16(W, o) ((W[(o) >> 2] >> (((o) & 2u) * 8u)) & 0xFFFFu)
#define LD_F16(W, o) f16_bits_to_f32(LD_U16(W, o))
#define LD_BF16(W, o) uintBitsToFloat(LD_U16(W, o) << 16)
// An unaligned 32-bit load (quant bytes inside blocks of odd size).
#define LD_U32_UNALIGNED(W, o) \
    (((o) & 3u) == 0u ? W[(o) >> 2] \
                      : ((W[(o) >> 2] >> (((o) & 3u) * 8u)) | (W[((o) >> 2) + 1u] << (32u - ((o) & 3u) * 8u))))

#define ST_F32(o, v) (dst_w[(o) >> 2] = floatBitsToUint(v))
#define ST_I32(o, v) (dst_w[(o) >> 2] = uint(v))

// Binding 5 holds the status of the graph: {flag, node, id, 0}. A shader
// that meets an id out of range (GET_ROWS, SET_ROWS, MUL_MAT_ID) calls
// report_bad_id and skips the access; after the graph the host turns the
// first report into SLM_ERR_INVALID_ARG naming the node and the id. The
// push constant is the index of the node being run, set by vk_dispatch.
layout(std430, set = 0, binding = 5) coherent buffer StatusW { uint status_w[4]; };
layout(push_constant) uniform NodeIndex { uint node_index; } PC;

void report_bad_id(int id)
{
    if (atomicCompSwap(status_w[0], 0u, 1u) == 0u) {
        status_w[1] = PC.node_index;
        status_w[2] = uint(id);
    }
}
