/*
** tokenizer.c -- the parts every tokenizer model shares: the vocabulary
** loaded from GGUF metadata, special tokens, text -> id lookup, splitting
** special tokens out of text, pieces and detokenizing, UTF-8 streaming.
**
** The model-specific step (a run of plain text -> ids) is behind
** slm__tok_impl_t; the SentencePiece one is in tokenizer_spm.c.
**
** Behaviour follows llama.cpp's llama-vocab.cpp (the reference for the test
** vectors in ../shared/models), except where tokenizer.h says otherwise.
*/
#include <ctype.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime_internal.h"
#include "tokenizer.h"

#define KEY_MODEL "tokenizer.ggml.model"
#define KEY_TOKENS "tokenizer.ggml.tokens"
#define KEY_SCORES "tokenizer.ggml.scores"
#define KEY_TYPES "tokenizer.ggml.token_type"
#define KEY_BOS "tokenizer.ggml.bos_token_id"
#define KEY_EOS "tokenizer.ggml.eos_token_id"
#define KEY_UNK "tokenizer.ggml.unknown_token_id"
#define KEY_PAD "tokenizer.ggml.padding_token_id"
#define KEY_ADD_BOS "tokenizer.ggml.add_bos_token"
#define KEY_ADD_EOS "tokenizer.ggml.add_eos_token"
#define KEY_ADD_SPACE "tokenizer.ggml.add_space_prefix"

/* Per-token flag bits (tok->flags). */
enum {
    FLAG_EOG = 1u << 0,           /* generating it ends generation */
    FLAG_LSTRIP = 1u << 1,        /* when split out of text, eat whitespace before */
    FLAG_RSTRIP = 1u << 2         /* ... and after */
};

/* Every model this file can build; the first whose name matches wins. */
static const slm__tok_impl_t *const IMPLS[] = { &slm__tok_impl_spm };
#define SUPPORTED_MODELS "llama"

struct slm__tokenizer {
    const slm__tok_impl_t *impl;
    void *impl_data;              /* from impl->load, owned by impl */
    uint32_t n_vocab;

    char *text;                   /* every token's text, each NUL-terminated */
    uint32_t *text_off;           /* (n_vocab) */
    uint32_t *text_len;           /* (n_vocab) */
    char *piece;                  /* every token's piece (see slm__tok_piece) */
    uint32_t *piece_off;          /* (n_vocab) */
    uint32_t *piece_len;          /* (n_vocab) */
    size_t max_piece;             /* longest piece or special text */

    float *scores;                /* (n_vocab) */
    uint8_t *types;               /* (n_vocab) slm__tok_type_t */
    uint8_t *flags;               /* (n_vocab) FLAG_* */

    int32_t *hash;                /* (hash_mask + 1) ids, -1 empty; open addressing */
    uint32_t hash_mask;
    int32_t byte_id[256];

    /* CONTROL, USER_DEFINED and UNKNOWN tokens with a non-empty text,
    ** longest text first: the order llama.cpp splits them out of text. */
    int32_t *specials;
    uint32_t n_specials;

    int32_t bos, eos, unk, pad;
    bool add_bos, add_eos, add_space_prefix;
};

/* ----------------------------------------------------------------- helpers */

/* A counted string from the file, made safe to print in a message: control
** bytes and quotes escaped, cut at about 60 bytes. */
static const char *printable(const char *s, size_t len, char *buf, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 8 < size; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o > 60) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (c < 0x20 || c == 0x7f || c == '\'' || c == '\\')
            o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
        else
            buf[o++] = (char)c;
    }
    buf[o] = '\0';
    return buf;
}

/* FNV-1a, then a final mix so that the low bits used as the slot depend on
** every byte. */
static uint32_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return (uint32_t)h;
}

static bool text_is(const slm__tokenizer_t *tok, int32_t id, const char *s, size_t len)
{
    return tok->text_len[id] == len && memcmp(tok->text + tok->text_off[id], s, len) == 0;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The byte of a "<0xNN>" text, or -1. Strict, so that a hostile or odd
** vocabulary cannot smuggle in a byte token that means something else. */
static int parse_byte_token(const char *s, size_t len)
{
    if (len != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>')
        return -1;
    int hi = hex_digit(s[3]), lo = hex_digit(s[4]);
    if (hi < 0 || lo < 0)
        return -1;
    return hi * 16 + lo;
}

static bool is_special_type(uint8_t type)
{
    return type == SLM__TOK_CONTROL || type == SLM__TOK_UNKNOWN;
}

slm_status_t slm__tok_ids_push(slm__tok_ids_t *ids, int32_t id)
{
    if (ids->n == ids->cap) {
        size_t cap = ids->cap ? ids->cap * 2 : 64;
        int32_t *v = cap <= SIZE_MAX / sizeof *v ? realloc(ids->v, cap * sizeof *v) : NULL;
        if (!v)
            return slm__error(SLM_ERR_NO_MEMORY, "tokenizer: out of memory for %zu token ids", cap);
        ids->v = v;
        ids->cap = cap;
    }
    ids->v[ids->n++] = id;
    return SLM_OK;
}

/* --------------------------------------------------------------- loading */

static slm_status_t no_memory(const slm__gguf_t *g)
{
    return slm__error(SLM_ERR_NO_MEMORY, "%s: out of memory loading the tokenizer", g->name);
}

/* An optional array that must hold one entry per token. */
static slm_status_t per_token_array(const slm__gguf_t *g, const char *key,
                                    slm__gguf_type_t elem, uint32_t n_vocab,
                                    const slm__gguf_kv_t **out)
{
    *out = NULL;
    slm_status_t st = slm__gguf_get_array(g, key, elem, out);
    if (st == SLM_ERR_NOT_FOUND)
        return SLM_OK;
    if (st != SLM_OK)
        return st;
    if ((*out)->count != n_vocab)
        return slm__error(SLM_ERR_FORMAT,
                          "%s: key '%s': %" PRIu64 " entries, expected %u (one per token of '%s')",
                          g->name, key, (*out)->count, n_vocab, KEY_TOKENS);
    return SLM_OK;
}

/* A special token id: absent or "none" (-1 / 0xFFFFFFFF) keeps *id, which
** holds the model's default; anything else must name a token. */
static slm_status_t special_id(const slm__gguf_t *g, const char *key, uint32_t n_vocab,
                               int32_t *id)
{
    int64_t v;
    slm_status_t st = slm__gguf_get_i64(g, key, &v);
    if (st == SLM_ERR_NOT_FOUND)
        return SLM_OK;
    if (st != SLM_OK)
        return st;
    if (v == -1 || v == (int64_t)UINT32_MAX)
        return SLM_OK;
    if (v < 0 || v >= (int64_t)n_vocab)
        return slm__error(SLM_ERR_FORMAT, "%s: key '%s': token id %" PRId64
                          " is out of range (the vocabulary has %u tokens)",
                          g->name, key, v, n_vocab);
    *id = (int32_t)v;
    return SLM_OK;
}

static slm_status_t flag(const slm__gguf_t *g, const char *key, bool *value)
{
    slm_status_t st = slm__gguf_get_bool(g, key, value);
    return st == SLM_ERR_NOT_FOUND ? SLM_OK : st;
}

static const slm__tok_impl_t *find_impl(slm__gguf_str_t model)
{
    for (size_t i = 0; i < sizeof IMPLS / sizeof IMPLS[0]; i++)
        if (slm__gguf_str_eq(model, IMPLS[i]->model))
            return IMPLS[i];
    return NULL;
}

/* Copy the token texts into one block and index them. */
static slm_status_t load_texts(slm__tokenizer_t *tok, const slm__gguf_t *g,
                               const slm__gguf_kv_t *tokens)
{
    uint32_t n = tok->n_vocab;
    uint64_t total = 0;
    for (uint32_t i = 0; i < n; i++)
        total += slm__gguf_array_str(tokens, i).len + 1;
    if (total > UINT32_MAX)
        return slm__error(SLM_ERR_FORMAT, "%s: key '%s': %" PRIu64
                          " bytes of token text, more than a tokenizer may hold",
                          g->name, KEY_TOKENS, total);
    tok->text = malloc((size_t)total);
    tok->piece = malloc((size_t)total);
    tok->text_off = malloc(n * sizeof *tok->text_off);
    tok->text_len = malloc(n * sizeof *tok->text_len);
    tok->piece_off = malloc(n * sizeof *tok->piece_off);
    tok->piece_len = malloc(n * sizeof *tok->piece_len);
    if (!tok->text || !tok->piece || !tok->text_off || !tok->text_len || !tok->piece_off ||
        !tok->piece_len)
        return no_memory(g);
    uint32_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        slm__gguf_str_t s = slm__gguf_array_str(tokens, i);
        if (s.len)
            memcpy(tok->text + off, s.ptr, s.len);
        tok->text[off + s.len] = '\0';
        tok->text_off[i] = off;
        tok->text_len[i] = (uint32_t)s.len;
        off += (uint32_t)s.len + 1;
    }
    return SLM_OK;
}

static slm_status_t build_hash(slm__tokenizer_t *tok, const slm__gguf_t *g)
{
    /* At most half full, so probes stay short. */
    uint32_t size = 16;
    while (size < 2u * tok->n_vocab && size < (1u << 31))
        size <<= 1;
    tok->hash = malloc((size_t)size * sizeof *tok->hash);
    if (!tok->hash)
        return no_memory(g);
    memset(tok->hash, 0xff, (size_t)size * sizeof *tok->hash);
    tok->hash_mask = size - 1;
    for (uint32_t i = 0; i < tok->n_vocab; i++) {
        const char *s = tok->text + tok->text_off[i];
        size_t len = tok->text_len[i];
        if (len == 0)
            continue; /* text never yields an empty symbol: nothing to find */
        uint32_t h = hash_bytes(s, len) & tok->hash_mask;
        for (;;) {
            int32_t id = tok->hash[h];
            if (id < 0) {
                tok->hash[h] = (int32_t)i;
                break;
            }
            if (text_is(tok, id, s, len))
                break; /* a duplicate text keeps its lower id */
            h = (h + 1) & tok->hash_mask;
        }
    }
    return SLM_OK;
}

/* The end-of-turn tokens of chat models, by text, as llama.cpp finds them. */
static void mark_eog(slm__tokenizer_t *tok)
{
    static const char *const EOG_TEXTS[] = {
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
        "<|eom_id|>", "<EOT>"
    };
    for (size_t i = 0; i < sizeof EOG_TEXTS / sizeof EOG_TEXTS[0]; i++) {
        int32_t id = slm__tok_lookup(tok, EOG_TEXTS[i], strlen(EOG_TEXTS[i]));
        if (id < 0)
            continue;
        tok->flags[id] |= FLAG_EOG;
        /* Some converters type them NORMAL; they must not be shown. */
        tok->types[id] = SLM__TOK_CONTROL;
    }
    if (tok->eos >= 0)
        tok->flags[tok->eos] |= FLAG_EOG;
}

typedef struct special_key {
    uint32_t len;
    int32_t id;
} special_key_t;

static int special_cmp(const void *a, const void *b)
{
    const special_key_t *x = a, *y = b;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static slm_status_t build_specials(slm__tokenizer_t *tok, const slm__gguf_t *g)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < tok->n_vocab; i++)
        if ((is_special_type(tok->types[i]) || tok->types[i] == SLM__TOK_USER_DEFINED) &&
            tok->text_len[i])
            n++;
    special_key_t *keys = malloc((n ? n : 1) * sizeof *keys);
    tok->specials = malloc((n ? n : 1) * sizeof *tok->specials);
    if (!keys || !tok->specials) {
        free(keys);
        return no_memory(g);
    }
    n = 0;
    for (uint32_t i = 0; i < tok->n_vocab; i++)
        if ((is_special_type(tok->types[i]) || tok->types[i] == SLM__TOK_USER_DEFINED) &&
            tok->text_len[i])
            keys[n++] = (special_key_t){ tok->text_len[i], (int32_t)i };
    qsort(keys, n, sizeof *keys, special_cmp);
    for (uint32_t i = 0; i < n; i++)
        tok->specials[i] = keys[i].id;
    tok->n_specials = n;
    free(keys);
    return SLM_OK;
}

/* Phi-3's chat format relies on its special tokens eating the whitespace
** after them; the files do not say so, and llama.cpp recognises the model by
** general.name. Same here, so that chat prompts tokenize alike. */
static void phi3_rstrip(slm__tokenizer_t *tok, const slm__gguf_t *g)
{
    const slm__gguf_kv_t *kv = slm__gguf_find(g, "general.name");
    slm__gguf_str_t name;
    if (!kv || kv->type != SLM_GGUF_STRING || slm__gguf_get_str(g, "general.name", &name) != SLM_OK)
        return;
    bool phi3 = false;
    for (size_t i = 0; i < name.len && !phi3; i++) {
        char c[5];
        for (size_t k = 0; k < 5; k++)
            c[k] = i + k < name.len ? (char)tolower((unsigned char)name.ptr[i + k]) : '\0';
        phi3 = memcmp(c, "phi3", 4) == 0 || memcmp(c, "phi-3", 5) == 0;
    }
    if (!phi3)
        return;
    for (uint32_t i = 0; i < tok->n_specials; i++)
        tok->flags[tok->specials[i]] |= FLAG_RSTRIP;
    static const char *const KEEP[] = { "<unk>", "<s>", "<|endoftext|>" };
    int32_t id = slm__tok_lookup(tok, "</s>", 4);
    if (id >= 0)
        tok->flags[id] |= FLAG_RSTRIP;
    for (size_t i = 0; i < sizeof KEEP / sizeof KEEP[0]; i++)
        if ((id = slm__tok_lookup(tok, KEEP[i], strlen(KEEP[i]))) >= 0)
            tok->flags[id] &= (uint8_t)~FLAG_RSTRIP;
}

/* Each token's piece, computed once so that decoding is a copy. */
static void build_pieces(slm__tokenizer_t *tok)
{
    uint32_t off = 0;
    tok->max_piece = 0;
    for (uint32_t i = 0; i < tok->n_vocab; i++) {
        const char *s = tok->text + tok->text_off[i];
        size_t len = tok->text_len[i];
        char *p = tok->piece + off;
        size_t n = 0;
        int b;
        switch (tok->types[i]) {
        case SLM__TOK_NORMAL:
            n = tok->impl->normal_piece(s, len, p);
            break;
        case SLM__TOK_BYTE:
            if ((b = parse_byte_token(s, len)) >= 0) {
                p[0] = (char)b;
                n = 1;
            }
            break;
        case SLM__TOK_USER_DEFINED:
            memcpy(p, s, len);
            n = len;
            break;
        default:
            break; /* CONTROL, UNKNOWN: text only when asked; others: nothing */
        }
        tok->piece_off[i] = off;
        tok->piece_len[i] = (uint32_t)n;
        off += (uint32_t)n;
        if (n > tok->max_piece)
            tok->max_piece = n;
        if (is_special_type(tok->types[i]) && len > tok->max_piece)
            tok->max_piece = len;
    }
}

slm_status_t slm__tokenizer_load(const slm__gguf_t *g, slm__tokenizer_t **out)
{
    *out = NULL;
    slm__gguf_str_t model;
    slm_status_t st = slm__gguf_get_str(g, KEY_MODEL, &model);
    if (st == SLM_ERR_NOT_FOUND)
        return slm__error(SLM_ERR_FORMAT, "%s: key '%s' is missing: the file has no tokenizer",
                          g->name, KEY_MODEL);
    if (st != SLM_OK)
        return st;
    const slm__tok_impl_t *impl = find_impl(model);
    if (!impl) {
        char buf[96];
        return slm__error(SLM_ERR_UNSUPPORTED,
                          "%s: key '%s': tokenizer model '%s' is not supported (supported: %s)",
                          g->name, KEY_MODEL, printable(model.ptr, model.len, buf, sizeof buf),
                          SUPPORTED_MODELS);
    }

    const slm__gguf_kv_t *tokens;
    st = slm__gguf_get_array(g, KEY_TOKENS, SLM_GGUF_STRING, &tokens);
    if (st == SLM_ERR_NOT_FOUND)
        return slm__error(SLM_ERR_FORMAT, "%s: key '%s' is missing", g->name, KEY_TOKENS);
    if (st != SLM_OK)
        return st;
    if (tokens->count == 0 || tokens->count > INT32_MAX)
        return slm__error(SLM_ERR_FORMAT, "%s: key '%s': %" PRIu64 " tokens (must be 1..%d)",
                          g->name, KEY_TOKENS, tokens->count, INT32_MAX);
    uint32_t n = (uint32_t)tokens->count;

    const slm__gguf_kv_t *scores, *types;
    if ((st = per_token_array(g, KEY_SCORES, SLM_GGUF_FLOAT32, n, &scores)) != SLM_OK ||
        (st = per_token_array(g, KEY_TYPES, SLM_GGUF_INT32, n, &types)) != SLM_OK)
        return st;

    slm__tokenizer_t *tok = calloc(1, sizeof *tok);
    if (!tok)
        return no_memory(g);
    tok->impl = impl;
    tok->n_vocab = n;

    /* Defaults first, then what the file says. A default id the vocabulary
    ** is too small for means "none". */
    tok->bos = impl->bos < (int32_t)n ? impl->bos : SLM__TOKEN_NONE;
    tok->eos = impl->eos < (int32_t)n ? impl->eos : SLM__TOKEN_NONE;
    tok->unk = impl->unk < (int32_t)n ? impl->unk : SLM__TOKEN_NONE;
    tok->pad = SLM__TOKEN_NONE;
    tok->add_bos = impl->add_bos;
    tok->add_eos = impl->add_eos;
    tok->add_space_prefix = impl->add_space_prefix;
    if ((st = special_id(g, KEY_BOS, n, &tok->bos)) != SLM_OK ||
        (st = special_id(g, KEY_EOS, n, &tok->eos)) != SLM_OK ||
        (st = special_id(g, KEY_UNK, n, &tok->unk)) != SLM_OK ||
        (st = special_id(g, KEY_PAD, n, &tok->pad)) != SLM_OK ||
        (st = flag(g, KEY_ADD_BOS, &tok->add_bos)) != SLM_OK ||
        (st = flag(g, KEY_ADD_EOS, &tok->add_eos)) != SLM_OK ||
        (st = flag(g, KEY_ADD_SPACE, &tok->add_space_prefix)) != SLM_OK)
        goto fail;

    if ((st = load_texts(tok, g, tokens)) != SLM_OK)
        goto fail;
    tok->scores = malloc(n * sizeof *tok->scores);
    tok->types = malloc(n);
    tok->flags = calloc(n, 1);
    if (!tok->scores || !tok->types || !tok->flags) {
        st = no_memory(g);
        goto fail;
    }
    for (uint32_t i = 0; i < n; i++) {
        double s = scores ? slm__gguf_array_num(scores, i) : 0.0;
        /* A NaN would make the merge order meaningless: rank it last. */
        tok->scores[i] = isnan(s) ? -FLT_MAX : (float)s;
        double t = types ? slm__gguf_array_num(types, i) : SLM__TOK_NORMAL;
        tok->types[i] = (t >= 0 && t <= SLM__TOK_BYTE) ? (uint8_t)t : SLM__TOK_UNDEFINED;
    }
    if ((st = build_hash(tok, g)) != SLM_OK)
        goto fail;

    for (int b = 0; b < 256; b++)
        tok->byte_id[b] = SLM__TOKEN_NONE;
    for (uint32_t i = 0; i < n; i++) {
        int b = parse_byte_token(tok->text + tok->text_off[i], tok->text_len[i]);
        /* A BYTE token that names no byte would decode to nothing. */
        if (b < 0 && tok->types[i] == SLM__TOK_BYTE) {
            char buf[64];
            st = slm__error(SLM_ERR_FORMAT, "%s: key '%s': token %u '%s' has type BYTE but is not <0xNN>",
                            g->name, KEY_TOKENS, i,
                            printable(tok->text + tok->text_off[i], tok->text_len[i], buf, sizeof buf));
            goto fail;
        }
        if (b < 0)
            continue;
        /* Prefer a token typed BYTE, then the lower id. */
        int32_t cur = tok->byte_id[b];
        if (cur < 0 || (tok->types[cur] != SLM__TOK_BYTE && tok->types[i] == SLM__TOK_BYTE))
            tok->byte_id[b] = (int32_t)i;
    }

    mark_eog(tok);
    if ((st = build_specials(tok, g)) != SLM_OK)
        goto fail;
    phi3_rstrip(tok, g);
    build_pieces(tok);

    if (impl->load && (st = impl->load(tok, g, &tok->impl_data)) != SLM_OK)
        goto fail;
    *out = tok;
    return SLM_OK;

fail:
    slm__tokenizer_free(tok);
    return st;
}

void slm__tokenizer_free(slm__tokenizer_t *tok)
{
    if (!tok)
        return;
    if (tok->impl && tok->impl->unload && tok->impl_data)
        tok->impl->unload(tok->impl_data);
    free(tok->text);
    free(tok->text_off);
    free(tok->text_len);
    free(tok->piece);
    free(tok->piece_off);
    free(tok->piece_len);
    free(tok->scores);
    free(tok->types);
    free(tok->flags);
    free(tok->hash);
    free(tok->specials);
    free(tok);
}

/* --------------------------------------------------------------- queries */

uint32_t slm__tok_n_vocab(const slm__tokenizer_t *tok) { return tok->n_vocab; }
const char *slm__tok_model(const slm__tokenizer_t *tok) { return tok->impl->model; }
int32_t slm__tok_bos(const slm__tokenizer_t *tok) { return tok->bos; }
int32_t slm__tok_eos(const slm__tokenizer_t *tok) { return tok->eos; }
int32_t slm__tok_unk(const slm__tokenizer_t *tok) { return tok->unk; }
int32_t slm__tok_pad(const slm__tokenizer_t *tok) { return tok->pad; }
bool slm__tok_add_bos(const slm__tokenizer_t *tok) { return tok->add_bos; }
bool slm__tok_add_eos(const slm__tokenizer_t *tok) { return tok->add_eos; }
bool slm__tok_add_space_prefix(const slm__tokenizer_t *tok) { return tok->add_space_prefix; }
void *slm__tok_impl_data(const slm__tokenizer_t *tok) { return tok->impl_data; }

static bool in_range(const slm__tokenizer_t *tok, int32_t id)
{
    return id >= 0 && (uint32_t)id < tok->n_vocab;
}

bool slm__tok_is_eog(const slm__tokenizer_t *tok, int32_t id)
{
    return in_range(tok, id) && (tok->flags[id] & FLAG_EOG);
}

slm__tok_type_t slm__tok_type(const slm__tokenizer_t *tok, int32_t id)
{
    return in_range(tok, id) ? (slm__tok_type_t)tok->types[id] : SLM__TOK_UNDEFINED;
}

float slm__tok_score(const slm__tokenizer_t *tok, int32_t id)
{
    return in_range(tok, id) ? tok->scores[id] : 0.0f;
}

const char *slm__tok_text(const slm__tokenizer_t *tok, int32_t id, size_t *len)
{
    if (!in_range(tok, id)) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = tok->text_len[id];
    return tok->text + tok->text_off[id];
}

int32_t slm__tok_lookup(const slm__tokenizer_t *tok, const char *text, size_t len)
{
    if (len == 0 || len > UINT32_MAX)
        return SLM__TOKEN_NONE;
    uint32_t h = hash_bytes(text, len) & tok->hash_mask;
    for (;;) {
        int32_t id = tok->hash[h];
        if (id < 0)
            return SLM__TOKEN_NONE;
        if (text_is(tok, id, text, len))
            return id;
        h = (h + 1) & tok->hash_mask;
    }
}

int32_t slm__tok_byte_id(const slm__tokenizer_t *tok, uint8_t b)
{
    return tok->byte_id[b];
}

unsigned slm__tok_default_flags(const slm__tokenizer_t *tok)
{
    return (tok->add_bos ? SLM__ENC_ADD_BOS : 0u) | (tok->add_eos ? SLM__ENC_ADD_EOS : 0u);
}

/* ---------------------------------------------------------------- encode */

/* A piece of the input: plain text (id < 0) or a special token found in it. */
typedef struct fragment {
    int32_t id;
    size_t off, len;
} fragment_t;

typedef struct fragments {
    fragment_t *v;
    size_t n, cap;
} fragments_t;

static slm_status_t frag_push(fragments_t *f, int32_t id, size_t off, size_t len)
{
    if (id < 0 && len == 0)
        return SLM_OK;
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        fragment_t *v = realloc(f->v, cap * sizeof *v);
        if (!v)
            return slm__error(SLM_ERR_NO_MEMORY, "tokenizer: out of memory splitting text");
        f->v = v;
        f->cap = cap;
    }
    f->v[f->n++] = (fragment_t){ id, off, len };
    return SLM_OK;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/*
** Split special tokens out of the text, as llama.cpp does: one token at a
** time, longest text first, each cutting every occurrence (leftmost first)
** out of the text fragments that are left. CONTROL and UNKNOWN tokens only
** with parse_special; USER_DEFINED always.
*/
static slm_status_t partition(const slm__tokenizer_t *tok, const char *text, size_t len,
                              bool parse_special, fragments_t *cur)
{
    fragments_t next = { 0 };
    slm_status_t st = frag_push(cur, -1, 0, len);
    for (uint32_t k = 0; k < tok->n_specials && st == SLM_OK; k++) {
        int32_t id = tok->specials[k];
        if (!parse_special && is_special_type(tok->types[id]))
            continue;
        const char *s = tok->text + tok->text_off[id];
        size_t slen = tok->text_len[id];
        bool any = false;
        for (size_t i = 0; i < cur->n && !any; i++)
            any = cur->v[i].id < 0 && cur->v[i].len >= slen &&
                  memmem(text + cur->v[i].off, cur->v[i].len, s, slen);
        if (!any)
            continue;
        next.n = 0;
        for (size_t i = 0; i < cur->n && st == SLM_OK; i++) {
            fragment_t f = cur->v[i];
            if (f.id >= 0) {
                st = frag_push(&next, f.id, 0, 0);
                continue;
            }
            size_t pos = f.off, end = f.off + f.len;
            while (st == SLM_OK && pos < end) {
                const char *m = end - pos >= slen ? memmem(text + pos, end - pos, s, slen) : NULL;
                if (!m) {
                    st = frag_push(&next, -1, pos, end - pos);
                    break;
                }
                size_t at = (size_t)(m - text), left = at - pos;
                if (tok->flags[id] & FLAG_LSTRIP)
                    while (left > 0 && is_space(text[pos + left - 1]))
                        left--;
                if ((st = frag_push(&next, -1, pos, left)) != SLM_OK ||
                    (st = frag_push(&next, id, 0, 0)) != SLM_OK)
                    break;
                pos = at + slen;
                if (tok->flags[id] & FLAG_RSTRIP)
                    while (pos < end && is_space(text[pos]))
                        pos++;
            }
        }
        fragments_t t = *cur;
        *cur = next;
        next = t;
    }
    free(next.v);
    return st;
}

static slm_status_t encode_ids(const slm__tokenizer_t *tok, const char *text, size_t len,
                               unsigned flags, slm__tok_ids_t *ids)
{
    if (!text && len)
        return slm__error(SLM_ERR_INVALID_ARG, "tokenizer: text is NULL but its length is %zu", len);
    slm_status_t st = SLM_OK;
    if (flags & SLM__ENC_ADD_BOS) {
        if (tok->bos < 0)
            return slm__error(SLM_ERR_INVALID_ARG,
                              "tokenizer: BOS requested but the vocabulary has no BOS token");
        if ((st = slm__tok_ids_push(ids, tok->bos)) != SLM_OK)
            return st;
    }
    if (flags & SLM__ENC_ADD_EOS && tok->eos < 0)
        return slm__error(SLM_ERR_INVALID_ARG,
                          "tokenizer: EOS requested but the vocabulary has no EOS token");

    fragments_t frags = { 0 };
    if (len)
        st = partition(tok, text, len, (flags & SLM__ENC_PARSE_SPECIAL) != 0, &frags);
    /* The first run of text counts as following a special token: that is
    ** where SentencePiece's dummy prefix space goes, BOS or not. */
    bool after_special = true;
    for (size_t i = 0; i < frags.n && st == SLM_OK; i++) {
        if (frags.v[i].id >= 0) {
            st = slm__tok_ids_push(ids, frags.v[i].id);
            after_special = true;
        } else {
            st = tok->impl->encode(tok, text + frags.v[i].off, frags.v[i].len, after_special, ids);
            after_special = false;
        }
    }
    free(frags.v);
    if (st == SLM_OK && (flags & SLM__ENC_ADD_EOS))
        st = slm__tok_ids_push(ids, tok->eos);
    return st;
}

slm_status_t slm__tok_encode(const slm__tokenizer_t *tok, const char *text, size_t len,
                             unsigned flags, int32_t *out, size_t cap, size_t *n_out)
{
    *n_out = 0;
    slm__tok_ids_t ids = { 0 };
    slm_status_t st = encode_ids(tok, text, len, flags, &ids);
    if (st == SLM_OK) {
        *n_out = ids.n;
        if (ids.n > cap)
            st = slm__error(SLM_ERR_INVALID_ARG,
                            "tokenizer: the text is %zu tokens, more than the %zu the buffer holds",
                            ids.n, cap);
        else if (ids.n)
            memcpy(out, ids.v, ids.n * sizeof *out);
    }
    free(ids.v);
    return st;
}

slm_status_t slm__tok_encode_alloc(const slm__tokenizer_t *tok, const char *text,
                                   size_t len, unsigned flags, int32_t **out,
                                   size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    slm__tok_ids_t ids = { 0 };
    slm_status_t st = encode_ids(tok, text, len, flags, &ids);
    if (st != SLM_OK) {
        free(ids.v);
        return st;
    }
    if (!ids.v && !(ids.v = malloc(sizeof *ids.v)))
        return slm__error(SLM_ERR_NO_MEMORY, "tokenizer: out of memory");
    *out = ids.v;
    *n_out = ids.n;
    return SLM_OK;
}

/* ---------------------------------------------------------------- decode */

/* The piece of an id known to be in range. */
static void piece_of(const slm__tokenizer_t *tok, int32_t id, unsigned flags,
                     const char **p, size_t *n)
{
    if ((flags & SLM__DEC_SPECIAL) && is_special_type(tok->types[id])) {
        *p = tok->text + tok->text_off[id];
        *n = tok->text_len[id];
    } else {
        *p = tok->piece + tok->piece_off[id];
        *n = tok->piece_len[id];
    }
}

/* The piece with the leading-space rule applied; *strip carries the rule's
** state from token to token. */
static void piece_stripped(const slm__tokenizer_t *tok, int32_t id, unsigned flags,
                           bool *strip, const char **p, size_t *n)
{
    piece_of(tok, id, flags, p, n);
    if (!*strip || is_special_type(tok->types[id]))
        return; /* BOS and friends do not use up the rule */
    if (*n && **p == ' ') {
        (*p)++;
        (*n)--;
    }
    *strip = false;
}

static slm_status_t bad_id(const slm__tokenizer_t *tok, int32_t id, size_t pos)
{
    return slm__error(SLM_ERR_INVALID_ARG, "tokenizer: token id %" PRId32
                      " at position %zu is out of range (the vocabulary has %u tokens)",
                      id, pos, tok->n_vocab);
}

slm_status_t slm__tok_piece(const slm__tokenizer_t *tok, int32_t id, unsigned flags,
                            const char **out, size_t *len)
{
    if (!in_range(tok, id)) {
        *out = "";
        *len = 0;
        return bad_id(tok, id, 0);
    }
    piece_of(tok, id, flags, out, len);
    return SLM_OK;
}

/* Bytes that n ids decode to, or an error for a bad id. */
static slm_status_t decoded_size(const slm__tokenizer_t *tok, const int32_t *ids, size_t n,
                                 unsigned flags, size_t *size)
{
    bool strip = tok->add_space_prefix && !(flags & SLM__DEC_CONTINUE);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (!in_range(tok, ids[i]))
            return bad_id(tok, ids[i], i);
        const char *p;
        size_t len;
        piece_stripped(tok, ids[i], flags, &strip, &p, &len);
        total += len;
    }
    *size = total;
    return SLM_OK;
}

static void decode_into(const slm__tokenizer_t *tok, const int32_t *ids, size_t n,
                        unsigned flags, char *out)
{
    bool strip = tok->add_space_prefix && !(flags & SLM__DEC_CONTINUE);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p;
        size_t len;
        piece_stripped(tok, ids[i], flags, &strip, &p, &len);
        memcpy(out + o, p, len);
        o += len;
    }
    out[o] = '\0';
}

slm_status_t slm__tok_decode(const slm__tokenizer_t *tok, const int32_t *ids, size_t n,
                             unsigned flags, char *out, size_t cap, size_t *n_out)
{
    *n_out = 0;
    size_t size;
    slm_status_t st = decoded_size(tok, ids, n, flags, &size);
    if (st != SLM_OK)
        return st;
    *n_out = size;
    if (cap < size + 1)
        return slm__error(SLM_ERR_INVALID_ARG,
                          "tokenizer: the text is %zu bytes, the buffer holds %zu (with the NUL)",
                          size, cap);
    decode_into(tok, ids, n, flags, out);
    return SLM_OK;
}

slm_status_t slm__tok_decode_alloc(const slm__tokenizer_t *tok, const int32_t *ids,
                                   size_t n, unsigned flags, char **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    size_t size;
    slm_status_t st = decoded_size(tok, ids, n, flags, &size);
    if (st != SLM_OK)
        return st;
    char *s = malloc(size + 1);
    if (!s)
        return slm__error(SLM_ERR_NO_MEMORY, "tokenizer: out of memory for %zu bytes of text", size);
    decode_into(tok, ids, n, flags, s);
    *out = s;
    *n_out = size;
    return SLM_OK;
}

/* ----------------------------------------------------------------- UTF-8 */

int slm__utf8_char(const uint8_t *p, size_t n)
{
    uint8_t c = p[0];
    if (c < 0x80)
        return 1;
    int len;
    uint8_t lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c == 0xE0)
        len = 3, lo = 0xA0;       /* no overlongs */
    else if (c == 0xED)
        len = 3, hi = 0x9F;       /* no surrogates */
    else if (c >= 0xE1 && c <= 0xEF)
        len = 3;
    else if (c == 0xF0)
        len = 4, lo = 0x90;       /* no overlongs */
    else if (c >= 0xF1 && c <= 0xF3)
        len = 4;
    else if (c == 0xF4)
        len = 4, hi = 0x8F;       /* nothing past U+10FFFF */
    else
        return 0;                 /* continuation byte, C0, C1, F5..FF */
    for (int k = 1; k < len; k++) {
        if ((size_t)k >= n)
            return -(int)n;
        uint8_t b = p[k];
        if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF))
            return 0;
    }
    return len;
}

static const char REPLACEMENT[3] = { (char)0xEF, (char)0xBF, (char)0xBD }; /* U+FFFD */

void slm__utf8_stream_init(slm__utf8_stream_t *s)
{
    s->n_tail = 0;
}

size_t slm__utf8_stream_feed(slm__utf8_stream_t *s, const void *bytes, size_t n, char *out)
{
    const uint8_t *b = bytes;
    size_t o = 0;

    /* First settle the kept tail, which needs at most 3 more bytes: work on
    ** a copy of it followed by the start of the new bytes. */
    if (s->n_tail) {
        uint8_t tmp[8];
        size_t k = s->n_tail, extra = n < 4 ? n : 4, tn = k + extra, i = 0;
        memcpy(tmp, s->tail, k);
        if (extra)
            memcpy(tmp + k, b, extra);
        while (i < k) {
            int r = slm__utf8_char(tmp + i, tn - i);
            if (r > 0) {
                memcpy(out + o, tmp + i, (size_t)r);
                o += (size_t)r;
                i += (size_t)r;
            } else if (r == 0) {
                memcpy(out + o, REPLACEMENT, 3);
                o += 3;
                i++;
            } else {
                /* Still unfinished: tn - i < 4 bytes, so every new byte is
                ** in tmp and all of them become the tail. */
                s->n_tail = (uint8_t)(tn - i);
                memmove(s->tail, tmp + i, s->n_tail);
                return o;
            }
        }
        s->n_tail = 0;
        b += i - k;
        n -= i - k;
    }

    size_t j = 0;
    while (j < n) {
        int r = slm__utf8_char(b + j, n - j);
        if (r > 0) {
            memcpy(out + o, b + j, (size_t)r);
            o += (size_t)r;
            j += (size_t)r;
        } else if (r == 0) {
            memcpy(out + o, REPLACEMENT, 3);
            o += 3;
            j++;
        } else {
            s->n_tail = (uint8_t)(n - j);
            memcpy(s->tail, b + j, s->n_tail);
            break;
        }
    }
    return o;
}

size_t slm__utf8_stream_flush(slm__utf8_stream_t *s, char *out)
{
    size_t o = 0;
    for (uint8_t i = 0; i < s->n_tail; i++) {
        memcpy(out + o, REPLACEMENT, 3);
        o += 3;
    }
    s->n_tail = 0;
    return o;
}

/* ------------------------------------------------------ streaming decode */

slm_status_t slm__tok_stream_init(slm__tok_stream_t *s, const slm__tokenizer_t *tok,
                                  unsigned flags)
{
    memset(s, 0, sizeof *s);
    if (!tok)
        return slm__error(SLM_ERR_INVALID_ARG, "tokenizer stream: no tokenizer");
    s->tok = tok;
    s->flags = flags;
    s->strip = tok->add_space_prefix && !(flags & SLM__DEC_CONTINUE);
    s->cap = SLM__UTF8_FEED_MAX(tok->max_piece) + 1;
    if (!(s->buf = malloc(s->cap)))
        return slm__error(SLM_ERR_NO_MEMORY, "tokenizer stream: out of memory");
    s->buf[0] = '\0';
    return SLM_OK;
}

slm_status_t slm__tok_stream_feed(slm__tok_stream_t *s, int32_t id, const char **out,
                                  size_t *n_out)
{
    *out = "";
    *n_out = 0;
    if (!s->buf)
        return slm__error(SLM_ERR_INVALID_ARG, "tokenizer stream: not initialised");
    if (!in_range(s->tok, id))
        return bad_id(s->tok, id, 0);
    const char *p;
    size_t len;
    piece_stripped(s->tok, id, s->flags, &s->strip, &p, &len);
    size_t n = slm__utf8_stream_feed(&s->utf8, p, len, s->buf);
    s->buf[n] = '\0';
    *out = s->buf;
    *n_out = n;
    return SLM_OK;
}

void slm__tok_stream_flush(slm__tok_stream_t *s, const char **out, size_t *n_out)
{
    *out = "";
    *n_out = 0;
    if (!s->buf)
        return;
    size_t n = slm__utf8_stream_flush(&s->utf8, s->buf);
    s->buf[n] = '\0';
    s->strip = false;
    *out = s->buf;
    *n_out = n;
}

void slm__tok_stream_free(slm__tok_stream_t *s)
{
    if (!s)
        return;
    free(s->buf);
    s->buf = NULL;
    s->cap = 0;
}
