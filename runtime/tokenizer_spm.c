/*
** tokenizer_spm.c -- SentencePiece-style BPE ("tokenizer.ggml.model" =
** "llama"): llama, Mistral, TinyLlama, Phi-3, Gemma.
**
** A run of text is escaped (spaces become U+2581 "▁", with one prefixed
** when the model adds a dummy prefix), cut into UTF-8 characters, and then
** the adjacent pair whose concatenation is the vocabulary token of highest
** score is merged, again and again, until no pair is a token. Ties go to the
** leftmost pair. Symbols that are not tokens at the end fall back to byte
** tokens <0xNN>. This is the algorithm of llama.cpp's llm_tokenizer_spm,
** whose outputs ../shared/models/ggml-vocab-llama-spm.gguf.out records; one
** deliberate difference: a byte that does not start a well-formed UTF-8
** character is a symbol of its own (llama.cpp takes as many bytes as the
** lead byte announces, valid or not), so bad input cannot swallow the
** good characters after it.
**
** Candidate pairs live in a binary heap (O(n log n) for n characters). A
** pair goes stale when one of its symbols merges with a third; it is then
** skipped when it comes out of the heap, which is cheaper than removing it.
*/
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "runtime_internal.h"
#include "tokenizer.h"

#define SPACE_ESC "\xE2\x96\x81" /* U+2581 LOWER ONE EIGHTH BLOCK */
#define SPACE_ESC_LEN 3

typedef struct symbol {
    int32_t prev, next;           /* neighbours in the chain, -1 at the ends */
    uint32_t off, n;              /* bytes of the escaped text; n == 0: merged away */
} symbol_t;

typedef struct bigram {
    float score;
    int32_t left, right;          /* symbols */
    uint32_t size;                /* n of both when queued: detects staleness */
} bigram_t;

typedef struct heap {
    bigram_t *v;
    size_t n, cap;
} heap_t;

/* ------------------------------------------------------------------ heap */

/* Pops first: higher score, then the leftmost pair. */
static bool before(const bigram_t *a, const bigram_t *b)
{
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static slm_status_t heap_push(heap_t *h, bigram_t b)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        bigram_t *v = realloc(h->v, cap * sizeof *v);
        if (!v)
            return slm__error(SLM_ERR_NO_MEMORY, "tokenizer: out of memory for %zu merge candidates", cap);
        h->v = v;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(&b, &h->v[parent]))
            break;
        h->v[i] = h->v[parent];
        i = parent;
    }
    h->v[i] = b;
    return SLM_OK;
}

static bigram_t heap_pop(heap_t *h)
{
    bigram_t top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && before(&h->v[c + 1], &h->v[c]))
            c++;
        if (!before(&h->v[c], &last))
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n)
        h->v[i] = last;
    return top;
}

/* --------------------------------------------------------------- encoder */

typedef struct session {
    const slm__tokenizer_t *tok;
    const char *text;             /* escaped */
    symbol_t *sym;
    heap_t heap;
} session_t;

/* Queue the pair (left, right) if together they spell a token. */
static slm_status_t try_pair(session_t *s, int32_t left, int32_t right)
{
    if (left < 0 || right < 0)
        return SLM_OK;
    /* Symbols stay contiguous in the text, so the pair is one span. */
    uint32_t size = s->sym[left].n + s->sym[right].n;
    int32_t id = slm__tok_lookup(s->tok, s->text + s->sym[left].off, size);
    if (id < 0)
        return SLM_OK;
    return heap_push(&s->heap, (bigram_t){ slm__tok_score(s->tok, id), left, right, size });
}

/* A final symbol that is no token: its bytes as byte tokens (or a token
** whose text is that single byte); if any byte has neither, the whole
** symbol becomes one unknown token. */
static slm_status_t fallback(const slm__tokenizer_t *tok, const char *p, uint32_t n,
                             slm__tok_ids_t *out)
{
    int32_t ids[4];
    bool all = n <= 4;
    for (uint32_t i = 0; i < n && all; i++) {
        ids[i] = slm__tok_byte_id(tok, (uint8_t)p[i]);
        if (ids[i] < 0)
            ids[i] = slm__tok_lookup(tok, p + i, 1);
        all = ids[i] >= 0;
    }
    if (all) {
        for (uint32_t i = 0; i < n; i++) {
            slm_status_t st = slm__tok_ids_push(out, ids[i]);
            if (st != SLM_OK)
                return st;
        }
        return SLM_OK;
    }
    if (slm__tok_unk(tok) < 0)
        return slm__error(SLM_ERR_UNSUPPORTED,
                          "tokenizer: text byte 0x%02x has no token (the vocabulary has no "
                          "byte token for it and no unknown token)", (unsigned char)p[0]);
    return slm__tok_ids_push(out, slm__tok_unk(tok));
}

static slm_status_t spm_encode(const slm__tokenizer_t *tok, const char *text, size_t len,
                               bool after_special, slm__tok_ids_t *out)
{
    bool prefix = after_special && slm__tok_add_space_prefix(tok);
    /* Escaping can triple the length; symbols are indexed with int32. */
    if (len > (INT32_MAX - SPACE_ESC_LEN) / SPACE_ESC_LEN)
        return slm__error(SLM_ERR_INVALID_ARG,
                          "tokenizer: a run of %zu bytes of text is too long to tokenize at once", len);

    size_t n_spaces = 0;
    for (size_t i = 0; i < len; i++)
        n_spaces += text[i] == ' ';
    size_t elen = len + n_spaces * (SPACE_ESC_LEN - 1) + (prefix ? SPACE_ESC_LEN : 0);
    char *esc = malloc(elen ? elen : 1);
    symbol_t *sym = malloc((elen ? elen : 1) * sizeof *sym);
    session_t s = { tok, esc, sym, { 0 } };
    slm_status_t st = SLM_OK;
    if (!esc || !sym) {
        st = slm__error(SLM_ERR_NO_MEMORY, "tokenizer: out of memory for %zu bytes of text", len);
        goto done;
    }
    size_t o = 0;
    if (prefix) {
        memcpy(esc, SPACE_ESC, SPACE_ESC_LEN);
        o = SPACE_ESC_LEN;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(esc + o, SPACE_ESC, SPACE_ESC_LEN);
            o += SPACE_ESC_LEN;
        } else {
            esc[o++] = text[i];
        }
    }

    /* One symbol per character; a byte that starts no well-formed
    ** character is one on its own. */
    int32_t n_sym = 0;
    for (size_t i = 0; i < elen;) {
        int r = slm__utf8_char((const uint8_t *)esc + i, elen - i);
        uint32_t n = r > 0 ? (uint32_t)r : 1;
        sym[n_sym] = (symbol_t){ n_sym - 1, -1, (uint32_t)i, n };
        if (n_sym > 0)
            sym[n_sym - 1].next = n_sym;
        n_sym++;
        i += n;
    }

    for (int32_t i = 1; i < n_sym && st == SLM_OK; i++)
        st = try_pair(&s, i - 1, i);

    while (st == SLM_OK && s.heap.n) {
        bigram_t b = heap_pop(&s.heap);
        symbol_t *l = &sym[b.left], *r = &sym[b.right];
        /* Stale: one side was merged into something else since. */
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size)
            continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            sym[r->next].prev = b.left;
        if ((st = try_pair(&s, l->prev, b.left)) == SLM_OK)
            st = try_pair(&s, b.left, l->next);
    }

    for (int32_t i = n_sym ? 0 : -1; i >= 0 && st == SLM_OK; i = sym[i].next) {
        int32_t id = slm__tok_lookup(tok, esc + sym[i].off, sym[i].n);
        st = id >= 0 ? slm__tok_ids_push(out, id) : fallback(tok, esc + sym[i].off, sym[i].n, out);
    }

done:
    free(s.heap.v);
    free(sym);
    free(esc);
    return st;
}

/* "▁" stands for a space; everything else is itself. */
static size_t spm_normal_piece(const char *text, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        if (len - i >= SPACE_ESC_LEN && memcmp(text + i, SPACE_ESC, SPACE_ESC_LEN) == 0) {
            out[o++] = ' ';
            i += SPACE_ESC_LEN;
        } else {
            out[o++] = text[i++];
        }
    }
    return o;
}

const slm__tok_impl_t slm__tok_impl_spm = {
    .model = "llama",
    .bos = 1,
    .eos = 2,
    .unk = 0,
    .add_bos = true,
    .add_eos = false,
    .add_space_prefix = true,
    .load = NULL,
    .unload = NULL,
    .encode = spm_encode,
    .normal_piece = spm_normal_piece,
};
