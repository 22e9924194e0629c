/*
** fuzz_graph.h -- the little program fuzz_graph.c interprets, shared with
** the seed generator (make_seeds.c) that writes valid ones.
**
** A program is a sequence of instructions, each an opcode byte (taken
** modulo FZG_COUNT) and its operand bytes; bytes past the end read as 0.
**
**   TENSOR  dtype, n_dims, dim x 4, flags      slm_graph_tensor
**   VIEW    tensor, n_dims, dim x 4, stride x 4, offset
**                                               slm_graph_view
**   OP      op, n_src, tensor x n_src, tensor (dst, for COPY/SET_ROWS;
**           else it is ignored), n_i, param x n_i, n_f, fparam x n_f
**                                               slm_graph_op
**   OUTPUT  tensor                              slm_graph_set_output
**   DATA    tensor, pattern                     slm_graph_set_data
**   BIND    tensor, pattern                     slm_graph_bind_host
**   TAMPER  tensor, field, value...             writes a field of the
**                                               tensor, as an application
**                                               holding the pointer can
**   RUN                                         validate, then run
**
** Operand encodings (FZG_RAW and above: raw little-endian bytes follow):
**   tensor  FZG_NULL: NULL; FZG_FOREIGN: a tensor of no graph; else the
**           (byte modulo count)-th tensor made so far
**   dtype   index into fzg_dtypes (byte % 16)
**   n_dims  bytes 1 to 4: that many; 0xF8 and above: 0 or 5 (refused)
**   dim     below FZG_RAW: fzg_dims[byte % 16]; else 8 raw bytes (int64)
**   stride  below FZG_RAW: byte % 4 = 0 contiguous, 1 zero, 2 contiguous
**           times (byte >> 2) % 8 + 1, 3 one element; else 8 raw bytes
**   offset  below FZG_RAW: byte * 4; else 8 raw bytes
**   param   below FZG_RAW: fzg_iparams[byte % 16]; else 4 raw bytes
**   fparam  below FZG_RAW: fzg_fparams[byte % 16]; else 4 raw bytes (bits)
*/
#ifndef SLM_FUZZ_GRAPH_H
#define SLM_FUZZ_GRAPH_H

#include <math.h>

enum {
    FZG_TENSOR = 0, FZG_VIEW = 1, FZG_OP = 2, FZG_OUTPUT = 3, FZG_DATA = 4,
    FZG_BIND = 5, FZG_TAMPER = 6, FZG_RUN = 7, FZG_COUNT = 8
};

enum { FZG_RAW = 0xF0, FZG_FOREIGN = 0xFE, FZG_NULL = 0xFF };

/* TAMPER fields: ne[d], nb[d], dtype, flags, name (no NUL), view_src,
** data and buffer pointers. */
enum {
    FZG_T_NE = 0, FZG_T_NB = 1, FZG_T_DTYPE = 2, FZG_T_FLAGS = 3,
    FZG_T_NAME = 4, FZG_T_VIEW_SRC = 5, FZG_T_POINTERS = 6, FZG_T_COUNT = 7
};

/* Index of each dtype in fzg_dtypes, for writers of programs. */
enum { FZG_F32 = 0, FZG_F16 = 4, FZG_BF16 = 5, FZG_I32 = 6, FZG_Q4_0 = 8,
       FZG_Q8_0 = 9, FZG_Q4_K = 10, FZG_Q6_K = 11 };

static const int fzg_dtypes[16] = {
    0, 0, 0, 0, 1 /* F16 */, 30 /* BF16 */, 26 /* I32 */, 26, 2 /* Q4_0 */,
    8 /* Q8_0 */, 12 /* Q4_K */, 14 /* Q6_K */, 3 /* no such dtype */, 40,
    -1, 255,
};

static const long long fzg_dims[16] = {
    1, 1, 2, 3, 4, 5, 7, 8, 16, 31, 32, 33, 64, 256, 512, 1024,
};

static const int fzg_iparams[16] = {
    0, 1, 2, 3, 4, 8, 16, 32, 64, -1, -2, 0, 1, 2, 4096, 0x7FFFFFFF,
};

static const float fzg_fparams[16] = {
    0.0f, 1.0f, -1.0f, 0.5f, 1e-5f, 10000.0f, 0.125f, 30.0f, 32.0f, 2.0f,
    -0.0f, 1e30f, 1e-30f, INFINITY, -INFINITY, NAN,
};

#endif /* SLM_FUZZ_GRAPH_H */
