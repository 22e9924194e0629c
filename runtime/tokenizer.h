/*
** tokenizer.h -- text <-> token ids, built from a GGUF file's tokenizer.*
** metadata.
**
** One tokenizer object serves every tokenizer model; what differs between
** models (how a run of plain text becomes ids, how a normal token's text
** becomes bytes) sits behind a small table, slm__tok_impl_t. Implemented:
**
**   "llama"   SentencePiece-style BPE over scores, with byte fallback
**             (llama, Mistral, TinyLlama, Phi-3, Gemma): tokenizer_spm.c.
**
** "gpt2" (byte-level BPE over tokenizer.ggml.merges) is the next one; the
** shared parts here (vocabulary, special tokens, lookup, pieces, decoding,
** UTF-8 streaming) are written so it only has to supply its own table.
**
** Ownership: slm__tokenizer_load copies everything it needs out of the
** GGUF mapping, so the slm__gguf_t may be closed right after loading.
** A loaded tokenizer is read-only: any number of threads may encode and
** decode with it at once (each with its own slm__tok_stream_t).
*/
#ifndef SLM_TOKENIZER_H
#define SLM_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slm/graph.h"

#include "gguf_reader.h"

typedef struct slm__tokenizer slm__tokenizer_t;

/* "No such token" (an absent special id, a failed lookup). */
#define SLM__TOKEN_NONE (-1)

/* Token types, numbered as in tokenizer.ggml.token_type. A value outside
** this list reads as UNDEFINED; a file without the array makes every token
** NORMAL. */
typedef enum slm__tok_type {
    SLM__TOK_UNDEFINED = 0,
    SLM__TOK_NORMAL = 1,
    SLM__TOK_UNKNOWN = 2,         /* <unk> */
    SLM__TOK_CONTROL = 3,         /* <s>, </s>, <|end|>: never produced from text
                                     unless SLM__ENC_PARSE_SPECIAL */
    SLM__TOK_USER_DEFINED = 4,    /* always matched literally in text */
    SLM__TOK_UNUSED = 5,
    SLM__TOK_BYTE = 6             /* <0xNN> */
} slm__tok_type_t;

/* ------------------------------------------------------------- lifecycle */

/*
** Build the tokenizer described by g's metadata:
**   tokenizer.ggml.model        string, required; "llama" (else
**                               SLM_ERR_UNSUPPORTED naming file and model)
**   tokenizer.ggml.tokens       array of string, required, 1..INT32_MAX
**   tokenizer.ggml.scores       array of float32, optional (all 0), one per token
**   tokenizer.ggml.token_type   array of int32, optional (all NORMAL), one per token
**   tokenizer.ggml.{bos,eos,unknown,padding}_token_id
**                               optional integers < the token count; a
**                               missing key, or 0xFFFFFFFF / -1 ("none", as
**                               converters write for an absent token),
**                               gives the model's default (llama: bos 1,
**                               eos 2, unk 0, no padding)
**   tokenizer.ggml.add_bos_token     bool, optional (llama: true)
**   tokenizer.ggml.add_eos_token     bool, optional (false)
**   tokenizer.ggml.add_space_prefix  bool, optional (llama: true)
** Errors name the file and the key: SLM_ERR_FORMAT for a missing required
** key, a wrong type, a count that differs from the token count or an id out
** of range; SLM_ERR_NO_MEMORY.
** Caller owns *out; release with slm__tokenizer_free. g is not referenced
** after return.
*/
slm_status_t slm__tokenizer_load(const slm__gguf_t *g, slm__tokenizer_t **out);

/* Free. NULL is a no-op. */
void slm__tokenizer_free(slm__tokenizer_t *tok);

/* --------------------------------------------------------------- queries */

uint32_t slm__tok_n_vocab(const slm__tokenizer_t *tok);
const char *slm__tok_model(const slm__tokenizer_t *tok);     /* "llama" */

/* Special ids; SLM__TOKEN_NONE when the vocabulary has none. */
int32_t slm__tok_bos(const slm__tokenizer_t *tok);
int32_t slm__tok_eos(const slm__tokenizer_t *tok);
int32_t slm__tok_unk(const slm__tokenizer_t *tok);
int32_t slm__tok_pad(const slm__tokenizer_t *tok);

/* The model's flags (after the file's overrides). */
bool slm__tok_add_bos(const slm__tokenizer_t *tok);
bool slm__tok_add_eos(const slm__tokenizer_t *tok);
bool slm__tok_add_space_prefix(const slm__tokenizer_t *tok);

/* True when generating `id` ends generation: EOS, and the end-of-turn
** tokens chat models use, found by their text (<|eot_id|>, <|im_end|>,
** <|end|>, <end_of_turn>, <|endoftext|>, <|eom_id|>, <EOT>). Those are made
** CONTROL tokens if the file typed them otherwise, so they decode to
** nothing. False for an id out of range. */
bool slm__tok_is_eog(const slm__tokenizer_t *tok, int32_t id);

/* Type, score and raw text (as stored: "▁the", "<0x0A>", "<s>") of `id`.
** Out of range: UNDEFINED, 0, NULL. The text is NUL-terminated, borrowed
** until slm__tokenizer_free; *len (may be NULL) gets its length. */
slm__tok_type_t slm__tok_type(const slm__tokenizer_t *tok, int32_t id);
float slm__tok_score(const slm__tokenizer_t *tok, int32_t id);
const char *slm__tok_text(const slm__tokenizer_t *tok, int32_t id, size_t *len);

/* The id whose text is exactly these `len` bytes, or SLM__TOKEN_NONE. A
** hash lookup. If two tokens share a text, the lower id wins. */
int32_t slm__tok_lookup(const slm__tokenizer_t *tok, const char *text, size_t len);

/* The id of the byte token <0xNN> for byte b, or SLM__TOKEN_NONE. Only a
** text of exactly "<0x" + two hex digits (either case) + ">" is a byte
** token: "<0x-1>", "<0xZZ>", "<0x100>" are not. */
int32_t slm__tok_byte_id(const slm__tokenizer_t *tok, uint8_t b);

/* ---------------------------------------------------------------- encode */

enum {
    SLM__ENC_ADD_BOS = 1u << 0,       /* start with BOS (error if the vocab has none) */
    SLM__ENC_ADD_EOS = 1u << 1,       /* end with EOS (likewise) */
    /* Text that spells a CONTROL or UNKNOWN token ("<s>", "<|end|>") becomes
    ** that token. Without it such text is tokenized as ordinary text.
    ** USER_DEFINED tokens are matched in either mode. llama.cpp's vocab
    ** tests (test-tokenizer-0) run without it. */
    SLM__ENC_PARSE_SPECIAL = 1u << 2
};

/* ADD_BOS / ADD_EOS as the model asks (tokenizer.ggml.add_*_token). */
unsigned slm__tok_default_flags(const slm__tokenizer_t *tok);

/*
** Tokenize `len` bytes of `text` (any bytes: invalid UTF-8 and NULs are
** fine). Writes at most `cap` ids to `out` and the count to *n_out. When
** they do not fit, returns SLM_ERR_INVALID_ARG with *n_out set to the count
** needed (nothing useful in out). text may be NULL when len is 0.
*/
slm_status_t slm__tok_encode(const slm__tokenizer_t *tok, const char *text, size_t len,
                             unsigned flags, int32_t *out, size_t cap, size_t *n_out);

/* The same, into a new array. On success caller owns *out (release with
** free(); it is non-NULL even for 0 ids); on failure *out is NULL. */
slm_status_t slm__tok_encode_alloc(const slm__tokenizer_t *tok, const char *text,
                                   size_t len, unsigned flags, int32_t **out,
                                   size_t *n_out);

/* ---------------------------------------------------------------- decode */

enum {
    /* CONTROL and UNKNOWN tokens decode to their text ("<s>") instead of
    ** nothing. */
    SLM__DEC_SPECIAL = 1u << 0,
    /* The ids continue text decoded earlier (tokens generated after a
    ** prompt): keep the leading space of the first piece. Without it, when
    ** the model prefixes a space while encoding (add_space_prefix), the
    ** first piece after any leading CONTROL/UNKNOWN tokens (BOS) loses one
    ** leading space, so decode(encode(s)) gives back s.
    ** (llama.cpp's llama_detokenize strips it only when the very first id
    ** is not BOS; here BOS is looked past.) */
    SLM__DEC_CONTINUE = 1u << 1
};

/*
** The bytes `id` stands for: NORMAL -> its text with "▁" as a space; BYTE
** -> the one raw byte; USER_DEFINED -> its text; CONTROL, UNKNOWN -> "" (or
** the text with SLM__DEC_SPECIAL); UNUSED, UNDEFINED -> "". A BYTE-typed
** token whose text is not a strict <0xNN> decodes to "". No space is
** stripped here. *out is borrowed until slm__tokenizer_free and is not
** NUL-terminated. SLM_ERR_INVALID_ARG for an id out of range.
*/
slm_status_t slm__tok_piece(const slm__tokenizer_t *tok, int32_t id, unsigned flags,
                            const char **out, size_t *len);

/*
** Concatenate the pieces of `n` ids (raw bytes: a character split across
** tokens is whole in the result, a lone byte token stays a lone byte).
** Writes the bytes and a NUL to `out`; *n_out gets the byte count without
** the NUL. When cap < count + 1, returns SLM_ERR_INVALID_ARG with *n_out set
** to the count (the buffer needs one more). Every id is checked first: one
** out of range is SLM_ERR_INVALID_ARG naming it, and nothing is written.
*/
slm_status_t slm__tok_decode(const slm__tokenizer_t *tok, const int32_t *ids, size_t n,
                             unsigned flags, char *out, size_t cap, size_t *n_out);

/* The same into a new NUL-terminated string: caller owns *out (free()). */
slm_status_t slm__tok_decode_alloc(const slm__tokenizer_t *tok, const int32_t *ids,
                                   size_t n, unsigned flags, char **out, size_t *n_out);

/* ----------------------------------------------------------------- UTF-8 */

/*
** Length of the well-formed UTF-8 character at p (n bytes available), as
** Unicode's table 3-7 defines it (no overlongs, no surrogates, nothing past
** U+10FFFF): 1..4; 0 when p[0] cannot start one with the bytes that follow;
** negative (-n) when the n bytes are a correct but unfinished start. n > 0.
*/
int slm__utf8_char(const uint8_t *p, size_t n);

/*
** Incremental UTF-8 sanitiser. Feed it byte chunks; each feed writes the
** characters completed so far and keeps an unfinished tail (at most 3
** bytes) for the next feed. Every byte that cannot start a complete
** well-formed character becomes U+FFFD, one per byte (the convention of
** ../shared/golden's greedy_text). Zero-initialise or call _init.
*/
typedef struct slm__utf8_stream {
    uint8_t tail[4];
    uint8_t n_tail;
} slm__utf8_stream_t;

/* Room `out` needs for a feed of n bytes / for a flush. */
#define SLM__UTF8_FEED_MAX(n) (3 * ((size_t)(n) + 3))
#define SLM__UTF8_FLUSH_MAX 9

void slm__utf8_stream_init(slm__utf8_stream_t *s);
/* Returns the bytes written to out (room: SLM__UTF8_FEED_MAX(n)). */
size_t slm__utf8_stream_feed(slm__utf8_stream_t *s, const void *bytes, size_t n, char *out);
/* Write what is left (an unfinished tail: one U+FFFD per byte) and reset. */
size_t slm__utf8_stream_flush(slm__utf8_stream_t *s, char *out);

/*
** Streaming detokenizer: feed generated ids one at a time and get the text
** they complete, never half a character. flags as for slm__tok_decode
** (SLM__DEC_CONTINUE when the ids follow a prompt that was shown already).
** The struct belongs to the caller; _init allocates its buffer, _free
** releases it (safe on a zeroed struct). Each *out is NUL-terminated and
** borrowed until the next call on the stream.
*/
typedef struct slm__tok_stream {
    const slm__tokenizer_t *tok;
    unsigned flags;
    bool strip;                   /* next text piece loses one leading space */
    slm__utf8_stream_t utf8;
    char *buf;                    /* owned: the last call's output */
    size_t cap;
} slm__tok_stream_t;

slm_status_t slm__tok_stream_init(slm__tok_stream_t *s, const slm__tokenizer_t *tok,
                                  unsigned flags);
/* SLM_ERR_INVALID_ARG for an id out of range (the stream is unchanged). */
slm_status_t slm__tok_stream_feed(slm__tok_stream_t *s, int32_t id, const char **out,
                                  size_t *n_out);
/* End of text: the unfinished tail as U+FFFD. The stream may be fed again
** afterwards, as a continuation. */
void slm__tok_stream_flush(slm__tok_stream_t *s, const char **out, size_t *n_out);
void slm__tok_stream_free(slm__tok_stream_t *s);

/* ------------------------------------------------- for implementations */

/* A growing array of ids. */
typedef struct slm__tok_ids {
    int32_t *v;
    size_t n, cap;
} slm__tok_ids_t;

/* Append; SLM_ERR_NO_MEMORY (message set) on failure. */
slm_status_t slm__tok_ids_push(slm__tok_ids_t *ids, int32_t id);

/*
** What one tokenizer model supplies. Slots are only appended.
*/
typedef struct slm__tok_impl {
    const char *model;            /* value of tokenizer.ggml.model */
    /* Defaults when the file does not say. */
    int32_t bos, eos, unk;        /* SLM__TOKEN_NONE for none */
    bool add_bos, add_eos, add_space_prefix;
    /* (optional) Read model-specific metadata (gpt2: merges) into *data,
    ** released with unload. Errors name file and key. */
    slm_status_t (*load)(slm__tokenizer_t *tok, const slm__gguf_t *g, void **data);
    void (*unload)(void *data);
    /* Tokenize one run of plain text, with special tokens already split
    ** out. after_special: the run starts the text or follows a special
    ** token (SPM prefixes a space then). Appends to out. */
    slm_status_t (*encode)(const slm__tokenizer_t *tok, const char *text, size_t len,
                           bool after_special, slm__tok_ids_t *out);
    /* Write the bytes a NORMAL token's text stands for to out (room: len
    ** bytes; a piece is never longer than its text) and return the count. */
    size_t (*normal_piece)(const char *text, size_t len, char *out);
} slm__tok_impl_t;

extern const slm__tok_impl_t slm__tok_impl_spm;

/* The implementation's data from its load slot (NULL without one). */
void *slm__tok_impl_data(const slm__tokenizer_t *tok);

#endif /* SLM_TOKENIZER_H */
