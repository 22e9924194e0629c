// dequant.glsl -- reading GGUF weight blocks from src0 (binding 1). Include
// common.glsl first.
//
// A block may start at any byte (Q4_0 and Q8_0 blocks are 18 and 34 bytes),
// so every load goes through LD_U32_UNALIGNED, and no load reaches past the
// block's last byte: it may be the last byte of the buffer.

#define DT_F32 0
#define DT_F16 1
#define DT_Q4_0 2
#define DT_Q8_0 8
#define DT_Q4_K 12
#define DT_Q6_K 14
#define DT_BF16 30

uint w_u32(uint o) { return LD_U32_UNALIGNED(s0_w, o); }

// The f16 at byte o, read from the word at o so as not to read past it
// (o + 2 may be the end of the buffer when o is the last f16 of a block,
// hence w_f16_hi for those: the f16 in the upper half of the word at o - 2).
float w_f16_lo(uint o) { return f16_bits_to_f32(w_u32(o) & 0xFFFFu); }
float w_f16_hi(uint o) { return f16_bits_to_f32(w_u32(o - 2u) >> 16); }

// Signed byte b (0..3) of a word.
int sbyte(uint w, uint b) { return bitfieldExtract(int(w), int(8u * b), 8); }

// Q4_K's 6-bit scale and min of sub-block s from the 12 scale bytes in
// three words (slm/graph.h's packing).
uint k4_byte(uvec3 sc, uint i) { return (sc[i >> 2] >> (8u * (i & 3u))) & 0xFFu; }
void k4_scale_min(uvec3 sc, uint s, out uint d, out uint m)
{
    if (s < 4u) {
        d = k4_byte(sc, s) & 63u;
        m = k4_byte(sc, s + 4u) & 63u;
    } else {
        d = (k4_byte(sc, s + 4u) & 0xFu) | ((k4_byte(sc, s - 4u) >> 6) << 4);
        m = (k4_byte(sc, s + 4u) >> 4) | ((k4_byte(sc, s) >> 6) << 4);
    }
}
