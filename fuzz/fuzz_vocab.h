/*
** fuzz_vocab.h -- the vocabularies the tokenizer target runs on, shared
** with the seed generator (make_seeds.c), which writes them into its model
** files.
*/
#ifndef SLM_FUZZ_VOCAB_H
#define SLM_FUZZ_VOCAB_H

#include "gguf_writer.h"

/*
** Add tokenizer.* metadata to w:
**   FZ_VOCAB_CLEAN    SentencePiece as real files have it: <unk>, <s>,
**                     </s>, the 256 byte tokens, scored pieces (ASCII and
**                     multi-byte), one USER_DEFINED and one CONTROL token.
**                     decode(encode(text)) gives text back.
**   FZ_VOCAB_HOSTILE  what a converter bug or an attacker writes: no byte
**                     fallback but malformed byte tokens, duplicated and
**                     empty texts, a NUL inside a text, types out of range,
**                     NaN and infinite scores, special ids "none", an
**                     end-of-turn text typed NORMAL.
** Returns the token count.
*/
enum { FZ_VOCAB_CLEAN = 0, FZ_VOCAB_HOSTILE = 1 };
uint32_t fz_add_vocab(gguf_writer_t *w, int variant);

#endif /* SLM_FUZZ_VOCAB_H */
