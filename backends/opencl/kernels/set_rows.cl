// set_rows.cl -- SET_ROWS: dst[:, ids[j, b2, b3], b2, b3] = src0[:, j, b2,
// b3], converted from F32 to dst's dtype. Two kernels:
//
// set_rows_skip: one work-item per id (global size {n * B2 * B3}, ids in
//   src1) writes a word into dst (bound to scratch, words from u[0]; the
//   node's own dst shape still bounds the ids): 1 when the row must
//   not be written, because its id is out of range (reported) or comes
//   again later in its ids row (the last row named wins, as when the rows
//   are written in order), else 0.
// set_rows_T (T: f32, f16, bf16): global size {ceil(E / OPS_VEC), n * B2 *
//   B3}; a work-item converts OPS_VEC elements of a source row unless the
//   skip word (src2, at u[0]) says not to.

kernel void set_rows_skip(KARGS_IDS)
{
    uint r = (uint)get_global_id(0);
    uint n = a.ne[2][0], n2 = a.ne[2][1];
    uint j = r % n, b2 = (r / n) % n2, b3 = r / (n * n2);
    uint id_row = a.off[2] + b2 * a.nb[2][1] + b3 * a.nb[2][2];
    int id = LD_I32(s1, id_row + j * a.nb[2][0]);
    uint skip = 0u;
    if (id < 0 || (uint)id >= a.ne[0][1]) {
        report_bad_id(status, node, id);
        skip = 1u;
    }
    for (uint k = j + 1u; k < n && !skip; k++)
        if (LD_I32(s1, id_row + k * a.nb[2][0]) == id)
            skip = 1u;
    *(global uint *)(dst + a.u[0] + r * 4u) = skip;
}

#define SET_F32(o, v) ST_F32(o, v)
#define SET_F16(o, v) ST_U16(o, f32_to_f16_bits(v))
#define SET_BF16(o, v) ST_U16(o, f32_to_bf16_bits(v))

#define SET_ROWS(name, STORE)                                                  \
kernel void name(KARGS)                                                        \
{                                                                              \
    uint i0 = (uint)get_global_id(0) * OPS_VEC, r = (uint)get_global_id(1);    \
    if (LD_I32(s2, a.u[0] + r * 4u))                                           \
        return;                                                                \
    uint n = a.ne[2][0], n2 = a.ne[2][1];                                      \
    uint j = r % n, b2 = (r / n) % n2, b3 = r / (n * n2);                      \
    int id = LD_I32(s1, a.off[2] + j * a.nb[2][0] + b2 * a.nb[2][1] + b3 * a.nb[2][2]); \
    uint x_row = row_off(&a, 1, r);                                            \
    uint d_row = a.off[0] + (uint)id * a.nb[0][1] + b2 * a.nb[0][2] + b3 * a.nb[0][3]; \
    uint end = min(i0 + OPS_VEC, a.ne[1][0]);                                  \
    for (uint i = i0; i < end; i++)                                            \
        STORE(d_row + i * a.nb[0][0], LD_F32(s0, x_row + i * a.nb[1][0]));     \
}

SET_ROWS(set_rows_f32, SET_F32)
SET_ROWS(set_rows_f16, SET_F16)
SET_ROWS(set_rows_bf16, SET_BF16)
