// quant_layout.glsl -- the quantised activations quant_act.comp writes to
// scratch and mul_mat.comp reads. They are not GGUF blocks: every field is
// a whole 32-bit word, so a block is read with aligned loads, and each block
// carries the sums of its quants, which turn the weights' offsets (Q4_0's
// -8, Q6_K's -32) and Q4_K's mins into one multiplication per group.
//
//   Q8_0 act block (32 values, Q8A_WORDS words):
//     [0] da as float bits (the f16-rounded scale; NaN for a non-finite block)
//     [1..8] the 32 int8 quants, 4 per word, element 4w+b in byte b
//     [9] the sum of the 32 quants (Q4_0 folds its -8 offset into it)
//   Q8_K act block (256 values, Q8KA_WORDS words):
//     [0] d as float bits
//     [1..64] the 256 int8 quants, 4 per word
//     [65..72] the sums of each 16 quants as int16 pairs: group 2w in the
//              low half of word 65 + w, group 2w + 1 in the high half

#define Q8A_WORDS 10u
#define Q8KA_WORDS 73u
