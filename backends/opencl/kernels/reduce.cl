// reduce.cl -- RMS_NORM and SUM_ROWS, F32, any strides: one work-group
// per row of src0 (global size {WG, rows}, local {WG, 1}). Where the row
// is contiguous (u[0] = 1 for src0, u[1] = 1 for dst) work-item l reads
// float4 l, l + WG, ...: on a GPU the work-group reads consecutive memory,
// and on a CPU, which runs the work-items of a group one after another,
// the row is streamed in order.

// Sum of f(x) over row x_row of src0 for this work-item, f = x or x * x.
inline float row_part(global const uchar *s0, const cl_args *a, uint x_row, bool squares)
{
    uint n = a->ne[1][0], l = (uint)get_local_id(0), wg = (uint)get_local_size(0);
    float4 acc4 = (float4)(0.0f);
    float acc = 0.0f;
    uint i = 0;
    if (a->u[0]) {
        global const float *x = (global const float *)(s0 + x_row);
        for (i = 4u * l; i + 4u <= n; i += 4u * wg) {
            float4 v = vload4(0, x + i);
            acc4 += squares ? v * v : v;
        }
        i = n / 4u * 4u + l;
        for (; i < n; i += wg) {
            float v = x[i];
            acc += squares ? v * v : v;
        }
    } else {
        for (i = l; i < n; i += wg) {
            float v = LD_F32(s0, x_row + i * a->nb[1][0]);
            acc += squares ? v * v : v;
        }
    }
    return acc + (acc4.x + acc4.y) + (acc4.z + acc4.w);
}

kernel void rms_norm(KARGS)
{
    local float buf[RED_WG_MAX];
    uint r = (uint)get_global_id(1);
    uint n = a.ne[1][0], l = (uint)get_local_id(0), wg = (uint)get_local_size(0);
    uint x_row = row_off(&a, 1, r), d_row = row_off(&a, 0, r);
    float total = wg_sum(buf, row_part(s0, &a, x_row, true));
    float scale = 1.0f / sqrt(total / (float)n + a.fp[0]);
    if (a.u[0] && a.u[1]) {
        global const float *x = (global const float *)(s0 + x_row);
        global float *y = (global float *)(dst + d_row);
        uint i;
        for (i = 4u * l; i + 4u <= n; i += 4u * wg)
            vstore4(vload4(0, x + i) * scale, 0, y + i);
        for (i = n / 4u * 4u + l; i < n; i += wg)
            y[i] = x[i] * scale;
    } else {
        for (uint i = l; i < n; i += wg)
            ST_F32(d_row + i * a.nb[0][0], LD_F32(s0, x_row + i * a.nb[1][0]) * scale);
    }
}

kernel void sum_rows(KARGS)
{
    local float buf[RED_WG_MAX];
    uint r = (uint)get_global_id(1);
    float total = wg_sum(buf, row_part(s0, &a, row_off(&a, 1, r), false));
    if (get_local_id(0) == 0)
        ST_F32(row_off(&a, 0, r), total);
}
