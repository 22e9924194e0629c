// softmax.cl -- SOFTMAX, one work-group per row of src0 [C, R, H, B]
// (global size {WG, rows}, local {WG, 1}): z = x * f[0] (or f[1] *
// tanh(x * f[0] / f[1]) with a soft-cap), plus row i1 of the mask src1
// when given, -inf where the causal rule (offset i[1], window i[2]) hides
// the key; then exp(z - max) / sum. A row with every key hidden is zeros.
// z and then exp(z - max) are kept in dst between the passes; each
// work-item reads back only what it wrote itself. u[0] = 1 when src0, dst
// and the mask are contiguous along the row (float4 l, l + WG, ... per
// work-item, as in reduce.cl), u[1] = 1 when there is a mask.

// z for keys c .. c+3 from their x and mask values.
inline float4 softmax_z4(const cl_args *a, float4 x, float4 m, int c, int q)
{
    float scale = a->fp[0], cap = a->fp[1];
    float4 z = cap > 0.0f ? cap * tanh(clamp(x * scale / cap, -15.0f, 15.0f)) : x * scale;
    z += m;
    if (a->ip[0]) {
        int4 cc = (int4)(c) + (int4)(0, 1, 2, 3);
        int4 hide = cc > (int4)(q);
        if (a->ip[2] > 0)
            hide |= ((int4)(q) - cc) >= (int4)(a->ip[2]);
        z = select(z, (float4)(-INFINITY), hide);
    }
    return z;
}

inline float softmax_z(const cl_args *a, float x, float m, int c, int q)
{
    float scale = a->fp[0], cap = a->fp[1];
    float z = cap > 0.0f ? cap * tanh(clamp(x * scale / cap, -15.0f, 15.0f)) : x * scale;
    z += m;
    if (a->ip[0] && (c > q || (a->ip[2] > 0 && q - c >= a->ip[2])))
        z = -INFINITY;
    return z;
}

kernel void softmax(KARGS)
{
    local float buf[RED_WG_MAX];
    uint r = (uint)get_global_id(1);
    uint n = a.ne[1][0], l = (uint)get_local_id(0), wg = (uint)get_local_size(0);
    uint x_row = row_off(&a, 1, r), d_row = row_off(&a, 0, r);
    uint i1 = r % a.ne[1][1];
    bool has_mask = a.u[1] != 0u;
    uint m_row = a.off[2] + i1 * a.nb[2][1];
    int q = (int)i1 + a.ip[1]; // the query's own position among keys
    bool vec = a.u[0] != 0u;
    uint n4 = vec ? n / 4u * 4u : 0u;
    uint tail0 = vec ? n4 + l : l, tail_step = wg;

    float mx = -INFINITY;
    for (uint i = 4u * l; i < n4; i += 4u * wg) {
        float4 x = vload4(0, (global const float *)(s0 + x_row) + i);
        float4 m = has_mask ? vload4(0, (global const float *)(s1 + m_row) + i) : (float4)(0.0f);
        float4 z = softmax_z4(&a, x, m, (int)i, q);
        vstore4(z, 0, (global float *)(dst + d_row) + i);
        mx = fmax(mx, fmax(fmax(z.x, z.y), fmax(z.z, z.w)));
    }
    for (uint i = tail0; i < n; i += tail_step) {
        float x = LD_F32(s0, x_row + i * a.nb[1][0]);
        float m = has_mask ? LD_F32(s1, m_row + i * a.nb[2][0]) : 0.0f;
        float z = softmax_z(&a, x, m, (int)i, q);
        ST_F32(d_row + i * a.nb[0][0], z);
        mx = fmax(mx, z);
    }
    mx = wg_max(buf, mx);

    // every key hidden: zeros
    bool hidden = mx == -INFINITY;
    float sum = 0.0f;
    for (uint i = 4u * l; i < n4; i += 4u * wg) {
        global float *p = (global float *)(dst + d_row) + i;
        float4 e = hidden ? (float4)(0.0f) : exp(vload4(0, p) - mx);
        vstore4(e, 0, p);
        sum += (e.x + e.y) + (e.z + e.w);
    }
    for (uint i = tail0; i < n; i += tail_step) {
        uint o = d_row + i * a.nb[0][0];
        float e = hidden ? 0.0f : exp(LD_F32(dst, o) - mx);
        ST_F32(o, e);
        sum += e;
    }
    sum = wg_sum(buf, sum);
    if (hidden)
        return;
    float inv = 1.0f / sum;
    for (uint i = 4u * l; i < n4; i += 4u * wg) {
        global float *p = (global float *)(dst + d_row) + i;
        vstore4(vload4(0, p) * inv, 0, p);
    }
    for (uint i = tail0; i < n; i += tail_step) {
        uint o = d_row + i * a.nb[0][0];
        ST_F32(o, LD_F32(dst, o) * inv);
    }
}
