/*
** fuzz_vocab.c -- the two vocabularies of fuzz_vocab.h.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_vocab.h"

#define SP "\xe2\x96\x81" /* U+2581, SentencePiece's space */

/* Token types as GGUF numbers them. */
enum { NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER = 4, UNUSED = 5, BYTE = 6 };

typedef struct piece {
    const char *text;
    size_t len;                   /* 0: strlen(text) */
    int32_t type;
    float score;
} piece_t;

static const piece_t clean_pieces[] = {
    { SP, 0, NORMAL, -1 },        { SP "t", 0, NORMAL, -2 },
    { SP "th", 0, NORMAL, -3 },   { SP "the", 0, NORMAL, -4 },
    { "he", 0, NORMAL, -5 },      { "th", 0, NORMAL, -6 },
    { "e", 0, NORMAL, -7 },       { "t", 0, NORMAL, -8 },
    { "h", 0, NORMAL, -9 },       { "a", 0, NORMAL, -10 },
    { SP "a", 0, NORMAL, -11 },   { "o", 0, NORMAL, -12 },
    { "n", 0, NORMAL, -13 },      { SP "on", 0, NORMAL, -14 },
    { "ce", 0, NORMAL, -15 },     { SP "upon", 0, NORMAL, -16 },
    { SP "time", 0, NORMAL, -17 }, { "\xc3\xa9", 0, NORMAL, -18 },
    { "\xe4\xb8\x96", 0, NORMAL, -19 }, { "\xe7\x95\x8c", 0, NORMAL, -20 },
    { SP "\xe4\xb8\x96\xe7\x95\x8c", 0, NORMAL, -21 },
    { "\xf0\x9f\x98\x80", 0, NORMAL, -22 },
    { "<|user|>", 0, USER, 0 },   { "<|end|>", 0, CONTROL, 0 },
};

static const piece_t hostile_pieces[] = {
    { "<unk>", 0, NORMAL, 0 },    { "<s>", 0, USER, 0 },
    /* Byte-token lookalikes: typed BYTE, a file is refused (the hostile
    ** corpus has those), so they are NORMAL here. */
    { "</s>", 0, CONTROL, 0 },    { "<0x-1>", 0, NORMAL, 0 },
    { "<0xZZ>", 0, NORMAL, 0 },   { "<0x100>", 0, NORMAL, 0 },
    { "<0x0A>", 0, NORMAL, 0 },   { "<0x0a>", 0, BYTE, 0 },
    { "<0x41>", 0, BYTE, 0 },     { "<0x41>", 0, BYTE, 0 },
    { "a", 0, NORMAL, -1 },       { "a", 0, NORMAL, -2 },
    { "", 0, USER, 0 },           { "", 0, NORMAL, 0 },
    { "a\0b", 3, NORMAL, -3 },    { SP, 0, 0, -4 },
    { "b", 0, UNUSED, -5 },       { "c", 0, 99, -6 },
    { "d", 0, -1, -7 },           { "ab", 0, NORMAL, 1e30f },
    { "bc", 0, NORMAL, -1e30f },  { "cd", 0, NORMAL, 0 /* NaN below */ },
    { "<|eot_id|>", 0, NORMAL, 0 }, { "<|im_end|>", 0, UNKNOWN, 0 },
    { "<|user|>", 0, USER, 0 },   { "<|us", 0, USER, 0 },
    { SP SP SP, 0, NORMAL, -8 },  { "\xe2\x96", 0, NORMAL, -9 },
    { "\xff", 0, NORMAL, -10 },   { "\xc0\x80", 0, NORMAL, -11 },
};

#define N_CLEAN (3 + 256 + sizeof clean_pieces / sizeof clean_pieces[0])
#define N_HOSTILE (sizeof hostile_pieces / sizeof hostile_pieces[0])

uint32_t fz_add_vocab(gguf_writer_t *w, int variant)
{
    size_t n = variant == FZ_VOCAB_CLEAN ? N_CLEAN : N_HOSTILE;
    const char **text = calloc(n, sizeof *text);
    float *score = calloc(n, sizeof *score);
    int32_t *type = calloc(n, sizeof *type);
    char (*bytes)[8] = calloc(256, sizeof *bytes);
    if (!text || !score || !type || !bytes) {
        fprintf(stderr, "fz_add_vocab: out of memory\n");
        abort();
    }
    const piece_t *p = hostile_pieces;
    size_t n_pieces = N_HOSTILE, i = 0;
    if (variant == FZ_VOCAB_CLEAN) {
        static const char *const special[3] = { "<unk>", "<s>", "</s>" };
        for (; i < 3; i++) {
            text[i] = special[i];
            type[i] = i ? CONTROL : UNKNOWN;
        }
        for (int b = 0; b < 256; b++, i++) {
            snprintf(bytes[b], sizeof bytes[b], "<0x%02X>", b);
            text[i] = bytes[b];
            type[i] = BYTE;
        }
        p = clean_pieces;
        n_pieces = sizeof clean_pieces / sizeof clean_pieces[0];
    }
    /* gw_kv_array_str takes NUL-terminated texts: write the array by hand
    ** so that "a\0b" keeps its NUL. */
    size_t first = i, raw_len = 0;
    for (size_t k = 0; k < first; k++)
        raw_len += 8 + strlen(text[k]);
    for (size_t k = 0; k < n_pieces; k++)
        raw_len += 8 + (p[k].len ? p[k].len : strlen(p[k].text));
    uint8_t *raw = malloc(raw_len), *at = raw;
    if (!raw) {
        fprintf(stderr, "fz_add_vocab: out of memory\n");
        abort();
    }
    for (size_t k = 0; k < n; k++) {
        const char *s = k < first ? text[k] : p[k - first].text;
        size_t len = k < first ? strlen(s) : (p[k - first].len ? p[k - first].len : strlen(s));
        if (k >= first) {
            type[k] = p[k - first].type;
            score[k] = p[k - first].score;
        }
        gw_put_u64(at, len);
        memcpy(at + 8, s, len);
        at += 8 + len;
    }
    gw_kv_str(w, "tokenizer.ggml.model", "llama");
    gw_kv_array_raw(w, "tokenizer.ggml.tokens", GW_STRING, n, raw, raw_len);
    if (variant == FZ_VOCAB_HOSTILE)
        score[21] = nanf("");
    gw_kv_array(w, "tokenizer.ggml.scores", GW_FLOAT32, score, n);
    gw_kv_array(w, "tokenizer.ggml.token_type", GW_INT32, type, n);
    if (variant == FZ_VOCAB_CLEAN) {
        gw_kv_u32(w, "tokenizer.ggml.bos_token_id", 1);
        gw_kv_u32(w, "tokenizer.ggml.eos_token_id", 2);
        gw_kv_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    } else {
        gw_kv_u32(w, "tokenizer.ggml.bos_token_id", 0xFFFFFFFFu);
        gw_kv_i32(w, "tokenizer.ggml.eos_token_id", 2);
        gw_kv_i32(w, "tokenizer.ggml.unknown_token_id", -1);
        gw_kv_u32(w, "tokenizer.ggml.padding_token_id", 10);
        gw_kv_bool(w, "tokenizer.ggml.add_bos_token", false);
        gw_kv_bool(w, "tokenizer.ggml.add_eos_token", true);
        gw_kv_bool(w, "tokenizer.ggml.add_space_prefix", false);
    }
    free(raw);
    free(bytes);
    free(type);
    free(score);
    free(text);
    return (uint32_t)n;
}
