// dequant.cl -- what get_rows.cl, mul_mat.cl and quant.cl share beyond
// common.cl: a vector F16 conversion, the GGUF weight blocks of slm/graph.h
// unpacked into vectors, and the layout of the quantised activations in
// scratch. It is the first of those files in the program's (name) order.
//
// Helpers are prefixed mm_ because every kernels/*.cl file shares one
// program and one namespace.
//
// GGUF blocks are 18, 34, 144 and 210 bytes long, so a block (and its f16
// scale) may sit at any even or odd byte: every block load is vloadN of
// bytes, which needs no alignment, or two byte loads for an f16.

#pragma OPENCL FP_CONTRACT OFF

// ------------------------------------------------------- plain elements

// binary16 bits -> float for 16 halves at once (GET_ROWS of F16 tables),
// exact as common.cl's f16_bits_to_f32. A subnormal half is man * 2^-24:
// an exact product that is a normal float.
float16 mm_f16x16(ushort16 bits)
{
    uint16 h = convert_uint16(bits);
    uint16 sign = (h & 0x8000u) << 16, em = h & 0x7FFFu;
    uint16 normal = (em << 13) + (112u << 23);
    uint16 special = 0x7F800000u | ((em & 0x3FFu) << 13);
    uint16 sub = as_uint16(convert_float16(em) * 0x1p-24f);
    uint16 r = select(normal, special, em >= (uint16)0x7C00u);
    r = select(r, sub, em < (uint16)0x0400u);
    return as_float16(sign | r);
}

// An f16 of a block, read bytewise: blocks are not 2-byte aligned.
float mm_blk_f16(global const uchar *p, uint o)
{
    return f16_bits_to_f32(LD_U16(p, o));
}

// ----------------------------------------------------------- weight blocks

#define MM_Q4_0_BYTES 18u
#define MM_Q8_0_BYTES 34u
#define MM_Q4_K_BYTES 144u
#define MM_Q6_K_BYTES 210u

// Q4_0 at byte o: the scale, and the 32 quants minus 8 (elements 0..15 in
// lo, 16..31 in hi).
float mm_q4_0(global const uchar *w, uint o, short16 *lo, short16 *hi)
{
    short16 q = convert_short16(vload16(0, w + o + 2u));
    *lo = (q & (short)0xF) - (short)8;
    *hi = (q >> (short)4) - (short)8;
    return mm_blk_f16(w, o);
}

// Q8_0 at byte o: the scale and the 32 quants.
float mm_q8_0(global const uchar *w, uint o, short16 *lo, short16 *hi)
{
    global const char *q = (global const char *)(w + o + 2u);
    *lo = convert_short16(vload16(0, q));
    *hi = convert_short16(vload16(1, q));
    return mm_blk_f16(w, o);
}

// Q4_K's eight 6-bit scales and mins (slm/graph.h's packing of scales[12]).
void mm_q4_K_scales(global const uchar *w, uint o, int sc[8], int mn[8])
{
    uchar16 b = vload16(0, w + o); // scales[j] is b[4 + j]; vload16 stays in the block
    uchar s[12] = {b.s4, b.s5, b.s6, b.s7, b.s8, b.s9, b.sa, b.sb, b.sc, b.sd, b.se, b.sf};
    for (int j = 0; j < 4; j++) {
        sc[j] = s[j] & 63;
        mn[j] = s[j + 4] & 63;
        sc[j + 4] = (s[j + 8] & 0xF) | ((s[j] >> 6) << 4);
        mn[j + 4] = (s[j + 8] >> 4) | ((s[j + 4] >> 6) << 4);
    }
}

// Q6_K: the 6-bit quants minus 32 of step (h, kk), l = 16 kk .. 16 kk + 15
// of half h, for the four quants of slm/graph.h's layout: q[j] holds
// elements 128 h + 32 j + 16 kk + 0..15, which form group 8 h + 2 j + kk.
void mm_q6_K_step(global const uchar *w, uint o, uint h, uint kk, short16 q[4])
{
    uchar16 la = vload16(kk, w + o + 64u * h);
    uchar16 lb = vload16(kk, w + o + 64u * h + 32u);
    uchar16 qh = vload16(kk, w + o + 128u + 32u * h);
    const uchar M4 = 0xF, M2 = 3;
    q[0] = convert_short16((la & M4) | ((qh & M2) << (uchar)4)) - (short)32;
    q[1] = convert_short16((lb & M4) | (((qh >> (uchar)2) & M2) << (uchar)4)) - (short)32;
    q[2] = convert_short16((la >> (uchar)4) | (((qh >> (uchar)4) & M2) << (uchar)4)) - (short)32;
    q[3] = convert_short16((lb >> (uchar)4) | ((qh >> (uchar)6) << (uchar)4)) - (short)32;
}

// ----------------------------------------------- quantised activations
//
// quant.cl writes them to scratch, mul_mat.cl reads them. They are not
// GGUF blocks: the scale is a float at the block's start and blocks are
// multiples of 4 bytes, so every scale load is aligned.
//   Q8_0 act block (MM_Q8A_BYTES): float da (the f16-rounded scale, NaN
//     for a block holding an infinity or NaN), char q[32].
//   Q8_K act block (MM_Q8KA_BYTES): float d, int sums[8] (the sum of the
//     quants of each 32-element sub-block, for Q4_K's mins), char q[256].

#define MM_Q8A_BYTES 36u
#define MM_Q8KA_BYTES 292u
#define MM_Q8KA_SUMS 4u
#define MM_Q8KA_QS 36u

// 16 quants j*16 .. j*16 + 15 of the act block at byte o (quants at o + qs).
short16 mm_act16(global const uchar *a, uint o, uint j)
{
    return convert_short16(vload16(j, (global const char *)(a + o)));
}

// Sum of 16 products (each well inside a short), exactly, as an int.
int mm_hsum(short16 v)
{
    int8 s = convert_int8(v.lo) + convert_int8(v.hi);
    int4 t = s.lo + s.hi;
    return t.x + t.y + t.z + t.w;
}

#pragma OPENCL FP_CONTRACT DEFAULT
