#version 450
// SET_ROWS: dst[:, ids[j, b2, b3], b2, b3] = src0[:, j, b2, b3], converted
// from F32 to DST_T (0 f32, 1 f16, 2 bf16). A workgroup takes a chunk of
// one source row; an id outside [0, R) is reported and its row skipped.
// Where ids repeat, the last row named wins, as when the rows are written
// in order: a row whose id comes again later in its ids row is skipped.
// u[0] = chunks per row.
#define WG 128
#define ITER 8
#define CHUNK (WG * ITER)
#define DST_16BIT
layout(local_size_x = WG) in;
#include "common.glsl"
#include "convert.glsl"
#include "ops_common.glsl"

shared bool overwritten;

void main()
{
    uint g = group_linear();
    if (g >= GROUP_COUNT)
        return;
    if (gl_LocalInvocationID.x == 0u)
        overwritten = false;
    barrier();
    uint chunks = UARG(0);
    uint row = g / chunks;
    uvec3 ri = row_index(1, row);       // (j, b2, b3)
    int id = LD_I32(s1_w, A.off[2] + ri.x * A.nb[2].x + ri.y * A.nb[2].y + ri.z * A.nb[2].z);
    if (id < 0 || uint(id) >= A.ne[0].y) {
        if (gl_LocalInvocationID.x == 0u && g % chunks == 0u)
            report_bad_id(id);
        return;
    }
    uint id_row = A.off[2] + ri.y * A.nb[2].y + ri.z * A.nb[2].z;
    for (uint j = ri.x + 1u + gl_LocalInvocationID.x; j < A.ne[2].x; j += WG)
        if (LD_I32(s1_w, id_row + j * A.nb[2].x) == id)
            overwritten = true;
    barrier();
    if (overwritten)
        return;
    uint a_row = row_off(1, ri);
    uint d_row = row_off(0, uvec3(uint(id), ri.y, ri.z));
    uint ne0 = A.ne[1].x, d_nb0 = A.nb[0].x, a_nb0 = A.nb[1].x;
    uint i0 = (g % chunks) * CHUNK + gl_LocalInvocationID.x;
    for (uint k = 0; k < ITER && i0 < ne0; k++, i0 += WG) {
        float v = LD_F32(s0_w, a_row + i0 * a_nb0);
#if DST_T == 0
        ST_F32(d_row + i0 * d_nb0, v);
#elif DST_T == 1
        dst_h[(d_row + i0 * d_nb0) >> 1] = uint16_t(f32_to_f16_bits(v));
#else
        dst_h[(d_row + i0 * d_nb0) >> 1] = uint16_t(f32_to_bf16_bits(v));
#endif
    }
}
