// ops_common.glsl -- what the shaders of vk_ops.c share. Include
// common.glsl first.
//
// Grids: vk_ops.c asks for a number of workgroups and folds it into x, y
// and z within the device's limits; u[5] is the number asked for, u[6] and
// u[7] the groups in x and in y. A workgroup past the count returns at
// once (the whole workgroup, so barriers after it stay uniform).
//
// Rows: row r of tensor t is [:, i1, i2, i3] with r = i1 + ne1 * (i2 +
// ne2 * i3), counted over t's own ne.

uint group_linear()
{
    return gl_WorkGroupID.x + UARG(6) * (gl_WorkGroupID.y + UARG(7) * gl_WorkGroupID.z);
}

#define GROUP_COUNT UARG(5)

uvec3 row_index(uint t, uint r)
{
    uint n1 = A.ne[t].y, n2 = A.ne[t].z;
    return uvec3(r % n1, (r / n1) % n2, r / (n1 * n2));
}

// Byte offset of element [0, i.x, i.y, i.z] of tensor t.
uint row_off(uint t, uvec3 i)
{
    return A.off[t] + i.x * A.nb[t].y + i.y * A.nb[t].z + i.z * A.nb[t].w;
}

#define NEG_INF uintBitsToFloat(0xFF800000u)

// tanh without the inf/inf of large arguments (tanh(15) is 1 in float).
float tanh_safe(float x)
{
    return tanh(clamp(x, -15.0, 15.0));
}

// Teams: short rows would leave most of a workgroup idle, so a workgroup
// of WG invocations is cut into teams of T = u[3] (a power of two <= WG),
// each taking its own row (or chunk of a row); rows past the end give dead
// teams, which still join the barriers. u[2] = rows.
#define TEAM UARG(3)
uint team_lane() { return gl_LocalInvocationID.x & (TEAM - 1u); }
uint team_unit(uint g) { return g * (WG / TEAM) + gl_LocalInvocationID.x / TEAM; }

// The sum or max over each team of one value per invocation, through
// shared memory; every invocation of the team gets its team's result.
shared float red_buf[WG];

float team_sum(float v)
{
    uint l = gl_LocalInvocationID.x, t = l & (TEAM - 1u);
    red_buf[l] = v;
    barrier();
    [[unroll]] for (uint s = WG / 2; s > 0; s >>= 1) {
        if (s < TEAM && t < s)
            red_buf[l] += red_buf[l + s];
        barrier();
    }
    float r = red_buf[l - t];
    barrier();
    return r;
}

float team_max(float v)
{
    uint l = gl_LocalInvocationID.x, t = l & (TEAM - 1u);
    red_buf[l] = v;
    barrier();
    [[unroll]] for (uint s = WG / 2; s > 0; s >>= 1) {
        if (s < TEAM && t < s)
            red_buf[l] = max(red_buf[l], red_buf[l + s]);
        barrier();
    }
    float r = red_buf[l - t];
    barrier();
    return r;
}
