// eltwise.cl -- ADD, MUL, DIV, SCALE, SILU, GELU, TANH, SWIGLU, GEGLU: all
// F32, any strides. src1 of ADD/MUL/DIV broadcasts (its index is dst's
// modulo its ne); that of the GLUs has src0's shape.
//
// A work-item takes OPS_VEC consecutive elements of one row: global size
// {ceil(ne0 / OPS_VEC), rows of dst}. Where dst and src0 are contiguous
// along the row (u[0] = 1) a whole chunk is one vector load and store;
// u[1] says how src1 is read: 0 element by element, 1 a vector like src0,
// 2 one element for the whole row (ne0 == 1). The row's tail and strided
// rows go element by element. cl_ops.c merges rows that are contiguous in
// every tensor first.

#define SILU(x) ((x) / (1.0f + exp(-(x))))
#define TANH(x) tanh(clamp((x), -15.0f, 15.0f))
#define GELU(x) (0.5f * (x) * (1.0f + TANH(0.79788456080286535588f * ((x) + 0.044715f * (x) * (x) * (x)))))

// One kernel: y = EXPR(x, b) with b src1's element (unused by unary ops).
#define ELTWISE(name, EXPR)                                                    \
kernel void name(KARGS)                                                        \
{                                                                              \
    uint ne0 = a.ne[0][0];                                                     \
    uint i0 = (uint)get_global_id(0) * OPS_VEC;                                \
    uint r = (uint)get_global_id(1);                                           \
    uint d_row = row_off(&a, 0, r), x_row = row_off(&a, 1, r);                 \
    uint b_row = a.ne[2][0] ? bcast_row_off(&a, 2, r) : 0u;                    \
    uint d_nb = a.nb[0][0], x_nb = a.nb[1][0], b_nb = a.nb[2][0];              \
    uint b_ne0 = a.ne[2][0] ? a.ne[2][0] : 1u;                                 \
    float s = a.fp[0], t = a.fp[1];                                            \
    if (a.u[0] && i0 + OPS_VEC <= ne0 && a.u[1] != 0u) {                       \
        floatV x = vloadV(0, (global const float *)(s0 + x_row + i0 * 4u));    \
        floatV b = a.u[1] == 1u                                                \
                       ? vloadV(0, (global const float *)(s1 + b_row + i0 * 4u)) \
                       : (floatV)(LD_F32(s1, b_row));                          \
        floatV y = EXPR;                                                       \
        vstoreV(y, 0, (global float *)(dst + d_row + i0 * 4u));                \
        return;                                                                \
    }                                                                          \
    uint end = min(i0 + OPS_VEC, ne0);                                         \
    for (uint i = i0; i < end; i++) {                                          \
        float x = LD_F32(s0, x_row + i * x_nb);                                \
        float b = LD_F32(s1, b_row + (i % b_ne0) * b_nb);                      \
        float y = EXPR;                                                        \
        ST_F32(d_row + i * d_nb, y);                                           \
    }                                                                          \
}

ELTWISE(eltwise_add, x + b)
ELTWISE(eltwise_mul, x * b)
ELTWISE(eltwise_div, x / b)
ELTWISE(eltwise_scale, x * s + t)
ELTWISE(eltwise_silu, SILU(x))
ELTWISE(eltwise_gelu, GELU(x))
ELTWISE(eltwise_tanh, TANH(x))
ELTWISE(eltwise_swiglu, SILU(x) * b)
ELTWISE(eltwise_geglu, GELU(x) * b)
