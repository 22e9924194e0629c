/*
** fuzz_tokenizer.c -- encode arbitrary bytes, decode arbitrary ids.
**
** Input: one byte of mode (bit 0: vocabulary, fuzz_vocab.h; bits 1-3:
** encode flags ADD_BOS, ADD_EOS, PARSE_SPECIAL; bits 4-5: decode flags
** SPECIAL, CONTINUE), a 16-bit length, that many bytes of text, and the
** rest as 16-bit ids (below 0x8000: an id modulo the vocabulary size plus
** two, so mostly valid; above: negative).
**
** On the clean vocabulary, text without U+2581 encoded without
** PARSE_SPECIAL must decode to itself: every byte has a token, and the
** dummy space prefix is stripped again. Text with the USER_DEFINED token
** is left out: the run after it gets a dummy space too, as in llama.cpp,
** which decoding keeps.
*/
#include <string.h>

#include "fuzz.h"
#include "fuzz_vocab.h"
#include "tokenizer.h"

static slm__tokenizer_t *tokenizers[2];

static void free_tokenizers(void)
{
    for (int v = 0; v < 2; v++)
        slm__tokenizer_free(tokenizers[v]);
}

static slm__tokenizer_t *tokenizer(int variant)
{
    if (tokenizers[variant])
        return tokenizers[variant];
    gguf_writer_t *w = gw_create();
    fz_add_vocab(w, variant);
    size_t size;
    uint8_t *bytes = gw_build(w, &size);
    gw_destroy(w);
    slm__gguf_t *g;
    if (slm__gguf_open_memory(bytes, size, "vocab.gguf", &g) != SLM_OK ||
        slm__tokenizer_load(g, &tokenizers[variant]) != SLM_OK) {
        fprintf(stderr, "fuzz: vocabulary %d: %s\n", variant, slm_last_error());
        abort();
    }
    /* The tokenizer copies what it needs out of the file. */
    slm__gguf_close(g);
    free(bytes);
    if (!tokenizers[!variant])
        atexit(free_tokenizers);
    return tokenizers[variant];
}

static void round_trip(const slm__tokenizer_t *tok, const char *text, size_t len,
                       const int32_t *ids, size_t n)
{
    char *out;
    size_t n_out;
    fz_check(slm__tok_decode_alloc(tok, ids, n, 0, &out, &n_out) == SLM_OK, "%s",
             slm_last_error());
    fz_check(n_out == len && !memcmp(out, text, len), "decode(encode(%zu bytes)) gave %zu bytes",
             len, n_out);
    free(out);
}

static void encode(const slm__tokenizer_t *tok, int variant, unsigned flags,
                   const char *text, size_t len)
{
    int32_t *ids;
    size_t n;
    slm_status_t st = slm__tok_encode_alloc(tok, text, len, flags, &ids, &n);
    if (st != SLM_OK) {
        fz_check(ids == NULL, "failed encode left ids");
        return;
    }
    uint32_t n_vocab = slm__tok_n_vocab(tok);
    for (size_t i = 0; i < n; i++)
        fz_check(ids[i] >= 0 && (uint32_t)ids[i] < n_vocab, "id %d", ids[i]);
    /* The two-call form agrees with the allocating one. */
    size_t need;
    fz_check(slm__tok_encode(tok, text, len, flags, NULL, 0, &need) ==
                 (n ? SLM_ERR_INVALID_ARG : SLM_OK) && need == n,
             "measured %zu ids, got %zu", need, n);
    if (variant == FZ_VOCAB_CLEAN && !(flags & SLM__ENC_PARSE_SPECIAL) &&
        !memmem(text, len, "\xe2\x96\x81", 3) && !memmem(text, len, "<|user|>", 8))
        round_trip(tok, text, len, ids, n);
    free(ids);
}

static void decode(const slm__tokenizer_t *tok, unsigned flags, const int32_t *ids,
                   size_t n)
{
    uint32_t n_vocab = slm__tok_n_vocab(tok);
    bool valid = true;
    for (size_t i = 0; i < n; i++) {
        bool in = ids[i] >= 0 && (uint32_t)ids[i] < n_vocab;
        valid = valid && in;
        const char *piece;
        size_t len;
        fz_check((slm__tok_piece(tok, ids[i], flags, &piece, &len) == SLM_OK) == in, "piece %d",
                 ids[i]);
        fz_check(in || !slm__tok_is_eog(tok, ids[i]), "eog %d", ids[i]);
        (void)slm__tok_text(tok, ids[i], &len);
    }
    char *out;
    size_t n_out;
    slm_status_t st = slm__tok_decode_alloc(tok, ids, n, flags, &out, &n_out);
    fz_check((st == SLM_OK) == valid, "decode status %d", st);
    if (st == SLM_OK) {
        fz_check(strlen(out) <= n_out, "decoded length");
        free(out);
    }
    /* Streamed, with a flush in the middle: never half a character out. */
    slm__tok_stream_t s;
    if (slm__tok_stream_init(&s, tok, flags) != SLM_OK)
        return;
    for (size_t i = 0; i < n; i++) {
        const char *text;
        size_t len;
        if (slm__tok_stream_feed(&s, ids[i], &text, &len) == SLM_OK)
            fz_check(len == strlen(text) || memchr(text, '\0', len), "stream length");
        if (i == n / 2)
            slm__tok_stream_flush(&s, &text, &len);
    }
    const char *text;
    size_t len;
    slm__tok_stream_flush(&s, &text, &len);
    slm__tok_stream_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_input_t in = { data, size };
    unsigned mode = fz_u8(&in);
    int variant = mode & 1;
    const slm__tokenizer_t *tok = tokenizer(variant);
    unsigned enc = 0, dec = 0;
    if (mode & 2)
        enc |= SLM__ENC_ADD_BOS;
    if (mode & 4)
        enc |= SLM__ENC_ADD_EOS;
    if (mode & 8)
        enc |= SLM__ENC_PARSE_SPECIAL;
    if (mode & 16)
        dec |= SLM__DEC_SPECIAL;
    if (mode & 32)
        dec |= SLM__DEC_CONTINUE;
    size_t len = (size_t)fz_le(&in, 2);
    if (len > in.n)
        len = in.n;
    /* A copy of exactly len bytes: a read past the text is caught. */
    char *text = malloc(len ? len : 1);
    if (!text)
        return 0;
    memcpy(text, in.p, len);
    in.p += len;
    in.n -= len;
    encode(tok, variant, enc, text, len);

    char sane[SLM__UTF8_FEED_MAX(64) + SLM__UTF8_FLUSH_MAX];
    slm__utf8_stream_t u;
    slm__utf8_stream_init(&u);
    size_t used = slm__utf8_stream_feed(&u, text, len < 64 ? len : 64, sane);
    used += slm__utf8_stream_flush(&u, sane + used);
    fz_check(used <= sizeof sane, "utf8 stream wrote %zu", used);
    (void)slm__tok_lookup(tok, text, len);
    free(text);

    size_t n = in.n / 2;
    int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    if (!ids)
        return 0;
    uint32_t n_vocab = slm__tok_n_vocab(tok);
    for (size_t i = 0; i < n; i++) {
        uint16_t v = (uint16_t)fz_le(&in, 2);
        ids[i] = v < 0x8000 ? (int32_t)(v % (n_vocab + 2)) : (int32_t)(int16_t)v;
    }
    decode(tok, dec, ids, n);
    free(ids);
    return 0;
}
