// rope.cl -- ROPE on src0 [D, H, T, 1] with positions src1 I32 [T] and
// optional frequency factors src2 F32 [n_dims / 2]. Global size
// {n_dims / 2 + (D - n_dims), T}: work-item j < n_dims / 2 rotates pair j
// of every head of its token (one angle for all of them), the others copy
// the dims past n_dims. NEOX rotates
// (x[k], x[k + n_dims/2]), else (x[2k], x[2k+1]).
// cl_ops.c gives in u[]: 0 = has frequency factors, 1/2 = the YaRN ramp's
// lo/hi (float bits, whole numbers).
// With HAVE_FP64 the angle is computed in double, as the reference does:
// in float, p * freq has an error of p ulps, which at positions of 10^5 is
// 10^-2 radians.

#ifdef HAVE_FP64
typedef double rope_t;
#else
typedef float rope_t;

// theta mod 2 pi in [-pi, pi] (Cody-Waite: 2 pi = C1 + C2 with C1 exact in
// 8 bits, so n * C1 is exact), so that sin and cos get small arguments.
inline float reduce_angle(float theta)
{
    const float C1 = 6.28125f;
    const float C2 = 1.9353071795864769e-3f;
    float n = rint(theta * 0.15915494309189535f);
    return (theta - n * C1) - n * C2;
}
#endif

inline void rope_pair(KARGS, uint neox)
{
    uint j = (uint)get_global_id(0), t = (uint)get_global_id(1);
    uint D = a.ne[1][0], H = a.ne[1][1], n_dims = (uint)a.ip[0], half_ = n_dims / 2u;
    uint x_nb = a.nb[1][0], d_nb = a.nb[0][0];
    uint x_tok = a.off[1] + t * a.nb[1][2], d_tok = a.off[0] + t * a.nb[0][2];
    if (j >= half_) { // past n_dims: copied
        uint i0 = n_dims + (j - half_);
        for (uint h = 0; h < H && i0 < D; h++)
            ST_F32(d_tok + h * a.nb[0][1] + i0 * d_nb,
                   LD_F32(s0, x_tok + h * a.nb[1][1] + i0 * x_nb));
        return;
    }
    uint k = j;
    rope_t p = (rope_t)LD_I32(s1, a.off[2] + t * a.nb[2][0]);
    rope_t freq_base = a.fp[0], freq_scale = a.fp[1], ext = a.fp[2], attn = a.fp[3];
    rope_t te = p * pow(freq_base, (rope_t)(-2.0) * (rope_t)k / (rope_t)n_dims);
    if (a.u[0])
        te /= (rope_t)LD_F32(s2, a.off[3] + k * a.nb[3][0]);
    rope_t ti = freq_scale * te, theta = ti, m = attn;
    if (ext != (rope_t)0) {
        rope_t lo = as_float(a.u[1]), hi = as_float(a.u[2]);
        rope_t y = ((rope_t)k - lo) / fmax((rope_t)0.001, hi - lo);
        rope_t mix = ((rope_t)1 - fmin((rope_t)1, fmax((rope_t)0, y))) * ext;
        theta = ti * ((rope_t)1 - mix) + te * mix;
        m = attn * ((rope_t)1 + (rope_t)0.1 * log((rope_t)1 / freq_scale));
    }
#ifndef HAVE_FP64
    theta = reduce_angle(theta);
#endif
    rope_t c = cos(theta) * m, s = sin(theta) * m;
    uint ia = neox ? k : 2u * k, ib = neox ? k + half_ : 2u * k + 1u;
    // every head of the token turns by the same angle: computed once
    for (uint h = 0; h < H; h++) {
        uint x_row = x_tok + h * a.nb[1][1], d_row = d_tok + h * a.nb[0][1];
        rope_t xa = LD_F32(s0, x_row + ia * x_nb), xb = LD_F32(s0, x_row + ib * x_nb);
        ST_F32(d_row + ia * d_nb, (float)(xa * c - xb * s));
        ST_F32(d_row + ib * d_nb, (float)(xa * s + xb * c));
    }
}

kernel void rope_normal(KARGS) { rope_pair(dst, s0, s1, s2, a, 0u); }
kernel void rope_neox(KARGS) { rope_pair(dst, s0, s1, s2, a, 1u); }
