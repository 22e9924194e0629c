/*
** test_tokenizer.c -- the GGUF tokenizer: llama.cpp's SPM vocab test
** vectors, the golden prompts, byte fallback, special tokens, hostile
** vocabularies, UTF-8 streaming, bounds.
**
** The real files come from ../shared (SLM_SHARED_DIR); a missing file
** fails the test, it never skips.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "gguf_reader.h"
#include "runtime_internal.h"
#include "tokenizer.h"

#ifndef SLM_SHARED_DIR
#define SLM_SHARED_DIR SLM_TEST_SOURCE_DIR "/../../shared"
#endif

#define VOCAB_SPM SLM_SHARED_DIR "/models/ggml-vocab-llama-spm.gguf"

/* --------------------------------------------------------------- helpers */

/* Whole file, NUL-terminated; fails the test when it cannot be read. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s: the shared test data (../shared beside the "
                 "repository) is missing", path);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n - 1 == 0) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

/* Load the tokenizer of a GGUF file and close the file at once: the
** tokenizer must not need it afterwards. */
static slm__tokenizer_t *load_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s: the shared test data (../shared beside the "
                 "repository) is missing", path);
    fclose(f);
    slm__gguf_t *g = NULL;
    slm_status_t st = slm__gguf_open(path, &g);
    if (st != SLM_OK)
        fail_msg("%s: %s", path, slm_last_error());
    slm__tokenizer_t *tok = NULL;
    st = slm__tokenizer_load(g, &tok);
    slm__gguf_close(g);
    if (st != SLM_OK)
        fail_msg("%s: %s", path, slm_last_error());
    return tok;
}

static size_t encode(const slm__tokenizer_t *tok, const char *s, size_t len, unsigned flags,
                     int32_t **ids)
{
    size_t n = 0;
    slm_status_t st = slm__tok_encode_alloc(tok, s, len, flags, ids, &n);
    if (st != SLM_OK)
        fail_msg("encode: %s", slm_last_error());
    return n;
}

static char *decode(const slm__tokenizer_t *tok, const int32_t *ids, size_t n, unsigned flags,
                    size_t *len)
{
    char *s = NULL;
    slm_status_t st = slm__tok_decode_alloc(tok, ids, n, flags, &s, len);
    if (st != SLM_OK)
        fail_msg("decode: %s", slm_last_error());
    return s;
}

/* Decode through the streaming decoder one id at a time, then flush. */
static char *stream_decode(const slm__tokenizer_t *tok, const int32_t *ids, size_t n,
                           unsigned flags)
{
    slm__tok_stream_t s;
    assert_int_equal(slm__tok_stream_init(&s, tok, flags), SLM_OK);
    size_t cap = 64, len = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    for (size_t i = 0; i <= n; i++) {
        const char *p;
        size_t k;
        if (i < n)
            assert_int_equal(slm__tok_stream_feed(&s, ids[i], &p, &k), SLM_OK);
        else
            slm__tok_stream_flush(&s, &p, &k);
        assert_int_equal(p[k], '\0'); /* NUL-terminated */
        while (len + k + 1 > cap) {
            cap *= 2;
            out = realloc(out, cap);
            assert_non_null(out);
        }
        memcpy(out + len, p, k);
        len += k;
    }
    out[len] = '\0';
    slm__tok_stream_free(&s);
    return out;
}

static void print_ids(const char *what, const int32_t *ids, size_t n)
{
    fprintf(stderr, "  %s:", what);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, "\n");
}

/* ------------------------------------------------ a tiny GGUF writer */

typedef struct gw {
    uint8_t *b;
    size_t n, cap;
    uint64_t n_kv;
} gw_t;

static void gw_bytes(gw_t *w, const void *p, size_t n)
{
    while (w->n + n > w->cap) {
        w->cap = w->cap ? w->cap * 2 : 1024;
        w->b = realloc(w->b, w->cap);
        assert_non_null(w->b);
    }
    memcpy(w->b + w->n, p, n);
    w->n += n;
}

static void gw_u32(gw_t *w, uint32_t v) { gw_bytes(w, &v, 4); }
static void gw_u64(gw_t *w, uint64_t v) { gw_bytes(w, &v, 8); }

static void gw_str(gw_t *w, const char *s)
{
    gw_u64(w, strlen(s));
    gw_bytes(w, s, strlen(s));
}

static void gw_key(gw_t *w, const char *key, uint32_t type)
{
    gw_str(w, key);
    gw_u32(w, type);
    w->n_kv++;
}

static void kv_str(gw_t *w, const char *key, const char *v)
{
    gw_key(w, key, SLM_GGUF_STRING);
    gw_str(w, v);
}

static void kv_u32(gw_t *w, const char *key, uint32_t v)
{
    gw_key(w, key, SLM_GGUF_UINT32);
    gw_u32(w, v);
}

static void kv_bool(gw_t *w, const char *key, bool v)
{
    uint8_t b = v;
    gw_key(w, key, SLM_GGUF_BOOL);
    gw_bytes(w, &b, 1);
}

static void kv_strs(gw_t *w, const char *key, const char *const *v, size_t n)
{
    gw_key(w, key, SLM_GGUF_ARRAY);
    gw_u32(w, SLM_GGUF_STRING);
    gw_u64(w, n);
    for (size_t i = 0; i < n; i++)
        gw_str(w, v[i]);
}

static void kv_f32s(gw_t *w, const char *key, const float *v, size_t n)
{
    gw_key(w, key, SLM_GGUF_ARRAY);
    gw_u32(w, SLM_GGUF_FLOAT32);
    gw_u64(w, n);
    gw_bytes(w, v, n * 4);
}

static void kv_i32s(gw_t *w, const char *key, const int32_t *v, size_t n)
{
    gw_key(w, key, SLM_GGUF_ARRAY);
    gw_u32(w, SLM_GGUF_INT32);
    gw_u64(w, n);
    gw_bytes(w, v, n * 4);
}

/* The finished file: header (version 3, no tensors) + the entries. */
static uint8_t *gw_finish(gw_t *w, size_t *size)
{
    gw_t h = { 0 };
    gw_bytes(&h, "GGUF", 4);
    gw_u32(&h, 3);
    gw_u64(&h, 0);
    gw_u64(&h, w->n_kv);
    gw_bytes(&h, w->b, w->n);
    free(w->b);
    *size = h.n;
    return h.b;
}

/* Load a tokenizer from an in-memory file; returns the status and leaves
** the message in slm_last_error(). */
static slm_status_t load_mem(gw_t *w, slm__tokenizer_t **tok)
{
    size_t size;
    uint8_t *file = gw_finish(w, &size);
    slm__gguf_t *g = NULL;
    slm_status_t st = slm__gguf_open_memory(file, size, "synthetic.gguf", &g);
    if (st == SLM_OK) {
        st = slm__tokenizer_load(g, tok);
        slm__gguf_close(g);
    }
    free(file);
    return st;
}

/* A synthetic SPM vocabulary: the specials, all 256 byte tokens, then the
** given tokens (type NORMAL unless types says otherwise). */
typedef struct synth {
    const char *text;
    float score;
    int32_t type;
} synth_t;

#define N_FIXED (3 + 256)

static void synth_vocab(gw_t *w, const synth_t *extra, size_t n_extra)
{
    size_t n = N_FIXED + n_extra;
    const char **texts = calloc(n, sizeof *texts);
    float *scores = calloc(n, sizeof *scores);
    int32_t *types = calloc(n, sizeof *types);
    char (*bytes)[8] = calloc(256, sizeof *bytes);
    assert_true(texts && scores && types && bytes);
    texts[0] = "<unk>", types[0] = SLM__TOK_UNKNOWN;
    texts[1] = "<s>", types[1] = SLM__TOK_CONTROL;
    texts[2] = "</s>", types[2] = SLM__TOK_CONTROL;
    for (int b = 0; b < 256; b++) {
        snprintf(bytes[b], sizeof bytes[b], "<0x%02X>", b);
        texts[3 + b] = bytes[b];
        types[3 + b] = SLM__TOK_BYTE;
    }
    for (size_t i = 0; i < n_extra; i++) {
        texts[N_FIXED + i] = extra[i].text;
        scores[N_FIXED + i] = extra[i].score;
        types[N_FIXED + i] = extra[i].type ? extra[i].type : SLM__TOK_NORMAL;
    }
    kv_str(w, "tokenizer.ggml.model", "llama");
    kv_strs(w, "tokenizer.ggml.tokens", texts, n);
    kv_f32s(w, "tokenizer.ggml.scores", scores, n);
    kv_i32s(w, "tokenizer.ggml.token_type", types, n);
    free(texts);
    free(scores);
    free(types);
    free(bytes);
}

static slm__tokenizer_t *synth_load(const synth_t *extra, size_t n_extra)
{
    gw_t w = { 0 };
    synth_vocab(&w, extra, n_extra);
    slm__tokenizer_t *tok = NULL;
    if (load_mem(&w, &tok) != SLM_OK)
        fail_msg("synthetic vocab: %s", slm_last_error());
    return tok;
}

/* Encode and compare with the expected ids. */
static void expect_ids(const slm__tokenizer_t *tok, const char *text, unsigned flags,
                       const int32_t *want, size_t n_want)
{
    int32_t *ids;
    size_t n = encode(tok, text, strlen(text), flags, &ids);
    bool same = n == n_want && (n == 0 || memcmp(ids, want, n * sizeof *ids) == 0);
    if (!same) {
        fprintf(stderr, "'%s':\n", text);
        print_ids("expected", want, n_want);
        print_ids("got     ", ids, n);
    }
    free(ids);
    assert_true(same);
}

/* ------------------------------------------- llama.cpp's vocab test vectors */

/* ../shared/models/ggml-vocab-llama-spm.gguf.{inp,out}: llama.cpp's
** test-tokenizer-0 tokenizes each string with add_special = false and
** parse_special = false and compares the ids exactly. It also prints the
** detokenized text without checking it; here decoding must give the input
** back too. */
static void test_llama_spm_vocab_vectors(void **state)
{
    (void)state;
    slm__tokenizer_t *tok = load_file(VOCAB_SPM);
    assert_int_equal(slm__tok_n_vocab(tok), 32000);
    assert_int_equal(slm__tok_bos(tok), 1);
    assert_int_equal(slm__tok_eos(tok), 2);
    assert_int_equal(slm__tok_unk(tok), 0);
    assert_true(slm__tok_add_bos(tok));
    assert_false(slm__tok_add_eos(tok));
    assert_true(slm__tok_add_space_prefix(tok));

    char *inp = slurp(VOCAB_SPM ".inp", NULL);
    char *out = slurp(VOCAB_SPM ".out", NULL);
    static const char SEP[] = "\n__ggml_vocab_test__\n";
    const size_t sep_len = sizeof SEP - 1;

    char *ip = inp, *op = out;
    int n_cases = 0, n_ids_ok = 0, n_text_ok = 0;
    while (*ip) {
        char *end = strstr(ip, SEP);
        size_t len = end ? (size_t)(end - ip) : strlen(ip);
        char *line_end = strchr(op, '\n');
        if (!line_end && !*op)
            fail_msg("%s.out has fewer lines than %s.inp has strings", VOCAB_SPM, VOCAB_SPM);
        if (line_end)
            *line_end = '\0';

        int32_t want[512];
        size_t n_want = 0;
        for (char *p = op; *p;) {
            char *q;
            long v = strtol(p, &q, 10);
            if (q == p)
                break;
            assert_true(n_want < 512);
            want[n_want++] = (int32_t)v;
            p = q;
        }

        int32_t *ids;
        size_t n = encode(tok, ip, len, 0, &ids);
        bool ids_ok = n == n_want && (n == 0 || memcmp(ids, want, n * sizeof *ids) == 0);
        if (ids_ok) {
            n_ids_ok++;
        } else {
            fprintf(stderr, "vocab case %d '%.*s': wrong ids\n", n_cases, (int)len, ip);
            print_ids("expected", want, n_want);
            print_ids("got     ", ids, n);
        }
        size_t dlen;
        char *text = decode(tok, ids, n, 0, &dlen);
        if (dlen == len && memcmp(text, ip, len) == 0)
            n_text_ok++;
        else
            fprintf(stderr, "vocab case %d '%.*s': decodes to '%s'\n", n_cases, (int)len, ip, text);
        free(text);
        free(ids);

        n_cases++;
        op = line_end ? line_end + 1 : op + strlen(op);
        ip = end ? end + sep_len : ip + len;
    }
    print_message("llama-spm vocab vectors: %d/%d ids exact, %d/%d decode back\n",
                  n_ids_ok, n_cases, n_text_ok, n_cases);
    assert_int_equal(n_cases, 46);
    assert_int_equal(n_ids_ok, n_cases);
    assert_int_equal(n_text_ok, n_cases);
    free(inp);
    free(out);
    slm__tokenizer_free(tok);
}

/* ------------------------------------------------------- golden prompts */

/* Just enough JSON: the string value starting at the opening quote p,
** decoded to UTF-8 (\uXXXX with surrogate pairs). */
static char *json_string(const char *p, const char **end)
{
    assert_int_equal(*p, '"');
    p++;
    size_t cap = strlen(p) + 1, n = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    while (*p && *p != '"') {
        if (*p != '\\') {
            s[n++] = *p++;
            continue;
        }
        p++;
        char c = *p++;
        switch (c) {
        case 'n': s[n++] = '\n'; break;
        case 't': s[n++] = '\t'; break;
        case 'r': s[n++] = '\r'; break;
        case 'b': s[n++] = '\b'; break;
        case 'f': s[n++] = '\f'; break;
        case 'u': {
            unsigned long cp = strtoul((char[5]){ p[0], p[1], p[2], p[3], 0 }, NULL, 16);
            p += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && p[0] == '\\' && p[1] == 'u') {
                unsigned long lo = strtoul((char[5]){ p[2], p[3], p[4], p[5], 0 }, NULL, 16);
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            }
            if (cp < 0x80) {
                s[n++] = (char)cp;
            } else if (cp < 0x800) {
                s[n++] = (char)(0xC0 | cp >> 6);
                s[n++] = (char)(0x80 | (cp & 63));
            } else if (cp < 0x10000) {
                s[n++] = (char)(0xE0 | cp >> 12);
                s[n++] = (char)(0x80 | (cp >> 6 & 63));
                s[n++] = (char)(0x80 | (cp & 63));
            } else {
                s[n++] = (char)(0xF0 | cp >> 18);
                s[n++] = (char)(0x80 | (cp >> 12 & 63));
                s[n++] = (char)(0x80 | (cp >> 6 & 63));
                s[n++] = (char)(0x80 | (cp & 63));
            }
            break;
        }
        default: s[n++] = c; break; /* \" \\ \/ */
        }
    }
    assert_int_equal(*p, '"');
    s[n] = '\0';
    *end = p + 1;
    return s;
}

/* The value after "key": at or after p; NULL when there is none. */
static const char *json_value(const char *p, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *k = strstr(p, pat);
    if (!k)
        return NULL;
    k += strlen(pat);
    while (*k == ' ' || *k == '\n' || *k == '\t' || *k == '\r')
        k++;
    return k;
}

static size_t json_ints(const char *p, int32_t *out, size_t cap)
{
    assert_int_equal(*p, '[');
    p++;
    size_t n = 0;
    for (;;) {
        char *q;
        long v = strtol(p, &q, 10);
        if (q == p)
            break;
        assert_true(n < cap);
        out[n++] = (int32_t)v;
        p = q;
        while (*p == ',' || *p == ' ' || *p == '\n')
            p++;
    }
    return n;
}

static void check_golden(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, SLM_SHARED_DIR "/models/gguf/%s.gguf", name);
    slm__tokenizer_t *tok = load_file(path);
    snprintf(path, sizeof path, SLM_SHARED_DIR "/golden/%s.json", name);
    char *json = slurp(path, NULL);

    int cases = 0;
    const char *p = json;
    while ((p = json_value(p, "prompt"))) {
        const char *next;
        char *prompt = json_string(p, &next);
        int32_t want[1024], greedy[1024];
        const char *v = json_value(next, "prompt_ids");
        assert_non_null(v);
        size_t n_want = json_ints(v, want, 1024);
        v = json_value(v, "greedy_ids");
        assert_non_null(v);
        size_t n_greedy = json_ints(v, greedy, 1024);
        v = json_value(v, "greedy_text");
        assert_non_null(v);
        char *greedy_text = json_string(v, &next);

        /* Tokenized as the file's tokenizer says (with BOS). */
        unsigned flags = slm__tok_default_flags(tok);
        assert_true(flags & SLM__ENC_ADD_BOS);
        expect_ids(tok, prompt, flags, want, n_want);

        /* And back: BOS shows as nothing, the dummy prefix space goes. */
        size_t len;
        char *back = decode(tok, want, n_want, 0, &len);
        assert_string_equal(back, prompt);
        free(back);

        /* The generated ids continue the prompt; invalid UTF-8 is U+FFFD. */
        char *text = stream_decode(tok, greedy, n_greedy, SLM__DEC_CONTINUE);
        if (strcmp(text, greedy_text) != 0)
            fail_msg("%s case %d: greedy text\n  got  '%s'\n  want '%s'", name, cases, text,
                     greedy_text);
        free(text);

        free(prompt);
        free(greedy_text);
        p = next;
        cases++;
    }
    assert_true(cases >= 1);
    free(json);
    slm__tokenizer_free(tok);
}

static void test_golden_stories260k(void **state)
{
    (void)state;
    check_golden("stories260K-f32");
}

static void test_golden_synth_llama256(void **state)
{
    (void)state;
    check_golden("synth-llama256-s1");
}

/* The other golden files share the tokenizer; their files (other
** architectures) must load it the same way. */
static void test_golden_others(void **state)
{
    (void)state;
    static const char *const NAMES[] = {
        "stories260K-f16", "stories260K-q8_0", "stories260K-q4_0", "synth-gemma-s1",
        "synth-gemma2-s1", "synth-mixtral-s1", "synth-phi3-s1", "synth-llama256-s1-q8_0",
    };
    for (size_t i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++)
        check_golden(NAMES[i]);
}

/* --------------------------------------------------------- real vocab */

static void test_special_tokens_in_text(void **state)
{
    (void)state;
    slm__tokenizer_t *tok = load_file(VOCAB_SPM);
    const char *text = "<s>Hello</s>";

    /* parse_special: the texts become the tokens, and the text after a
    ** special token gets the dummy prefix space again (as llama.cpp). */
    static const int32_t want[] = { 1, 15043, 2 };
    expect_ids(tok, text, SLM__ENC_PARSE_SPECIAL, want, 3);

    /* Without it they are plain text. */
    int32_t *ids;
    size_t n = encode(tok, text, strlen(text), 0, &ids);
    assert_true(n > 3);
    for (size_t i = 0; i < n; i++)
        assert_true(ids[i] != 1 && ids[i] != 2);
    size_t len;
    char *back = decode(tok, ids, n, 0, &len);
    assert_string_equal(back, text);
    free(back);
    free(ids);

    /* BOS and EOS on request. */
    static const int32_t want2[] = { 1, 15043, 2 };
    expect_ids(tok, "Hello", SLM__ENC_ADD_BOS | SLM__ENC_ADD_EOS, want2, 3);
    slm__tokenizer_free(tok);
}

static void test_decode_leading_space(void **state)
{
    (void)state;
    slm__tokenizer_t *tok = load_file(VOCAB_SPM);
    const int32_t ids[] = { 1, 15043, 3186 }; /* <s> ▁Hello ▁world */
    char buf[64];
    size_t n;
    assert_int_equal(slm__tok_decode(tok, ids, 3, 0, buf, sizeof buf, &n), SLM_OK);
    assert_string_equal(buf, "Hello world");
    assert_int_equal(n, 11);
    assert_int_equal(slm__tok_decode(tok, ids + 1, 2, 0, buf, sizeof buf, &n), SLM_OK);
    assert_string_equal(buf, "Hello world");
    assert_int_equal(slm__tok_decode(tok, ids, 3, SLM__DEC_CONTINUE, buf, sizeof buf, &n), SLM_OK);
    assert_string_equal(buf, " Hello world");
    assert_int_equal(slm__tok_decode(tok, ids, 3, SLM__DEC_SPECIAL, buf, sizeof buf, &n), SLM_OK);
    assert_string_equal(buf, "<s>Hello world");

    /* Too small: the needed size comes back, plus one for the NUL. */
    assert_int_equal(slm__tok_decode(tok, ids, 3, 0, buf, 11, &n), SLM_ERR_INVALID_ARG);
    assert_int_equal(n, 11);
    assert_int_equal(slm__tok_decode(tok, ids, 3, 0, buf, 12, &n), SLM_OK);

    /* Pieces. */
    const char *p;
    size_t len;
    assert_int_equal(slm__tok_piece(tok, 15043, 0, &p, &len), SLM_OK);
    assert_int_equal(len, 6);
    assert_memory_equal(p, " Hello", 6);
    assert_int_equal(slm__tok_piece(tok, 1, 0, &p, &len), SLM_OK);
    assert_int_equal(len, 0);
    assert_int_equal(slm__tok_piece(tok, 1, SLM__DEC_SPECIAL, &p, &len), SLM_OK);
    assert_memory_equal(p, "<s>", 3);
    assert_int_equal(slm__tok_piece(tok, 3 + 0x0A, 0, &p, &len), SLM_OK); /* <0x0A> */
    assert_int_equal(len, 1);
    assert_int_equal(p[0], '\n');
    assert_true(slm__tok_is_eog(tok, 2));
    assert_false(slm__tok_is_eog(tok, 1));
    slm__tokenizer_free(tok);
}

static void test_encode_cap_and_empty(void **state)
{
    (void)state;
    slm__tokenizer_t *tok = load_file(VOCAB_SPM);
    int32_t out[4];
    size_t n = 99;
    /* Empty text: nothing, or BOS alone. */
    assert_int_equal(slm__tok_encode(tok, "", 0, 0, out, 4, &n), SLM_OK);
    assert_int_equal(n, 0);
    assert_int_equal(slm__tok_encode(tok, NULL, 0, 0, out, 0, &n), SLM_OK);
    assert_int_equal(n, 0);
    assert_int_equal(slm__tok_encode(tok, "", 0, SLM__ENC_ADD_BOS, out, 4, &n), SLM_OK);
    assert_int_equal(n, 1);
    assert_int_equal(out[0], 1);
    char *s = decode(tok, out, 0, 0, &n);
    assert_string_equal(s, "");
    free(s);

    /* Too small a buffer: the count needed comes back. */
    const char *text = "Hello, world!";
    assert_int_equal(slm__tok_encode(tok, text, strlen(text), SLM__ENC_ADD_BOS, out, 4, &n),
                     SLM_ERR_INVALID_ARG);
    assert_int_equal(n, 5);
    assert_true(strstr(slm_last_error(), "5") != NULL);
    int32_t out5[5];
    assert_int_equal(slm__tok_encode(tok, text, strlen(text), SLM__ENC_ADD_BOS, out5, 5, &n),
                     SLM_OK);
    static const int32_t want[] = { 1, 15043, 29892, 3186, 29991 };
    assert_memory_equal(out5, want, sizeof want);
    assert_int_equal(slm__tok_encode(tok, NULL, 3, 0, out, 4, &n), SLM_ERR_INVALID_ARG);
    slm__tokenizer_free(tok);
}

static void test_out_of_range_ids(void **state)
{
    (void)state;
    slm__tokenizer_t *tok = load_file(VOCAB_SPM);
    const int32_t bad[][2] = { { 15043, -1 }, { 15043, 32000 }, { INT32_MIN, 1 },
                               { 1, INT32_MAX } };
    char buf[64];
    size_t n;
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(slm__tok_decode(tok, bad[i], 2, 0, buf, sizeof buf, &n),
                         SLM_ERR_INVALID_ARG);
        assert_true(strstr(slm_last_error(), "out of range") != NULL);
        char *s = (char *)1;
        assert_int_equal(slm__tok_decode_alloc(tok, bad[i], 2, 0, &s, &n), SLM_ERR_INVALID_ARG);
        assert_null(s);
    }
    const char *p;
    size_t len;
    assert_int_equal(slm__tok_piece(tok, 32000, 0, &p, &len), SLM_ERR_INVALID_ARG);
    assert_int_equal(slm__tok_piece(tok, -5, SLM__DEC_SPECIAL, &p, &len), SLM_ERR_INVALID_ARG);
    assert_null(slm__tok_text(tok, 32000, &len));
    assert_int_equal(slm__tok_type(tok, -1), SLM__TOK_UNDEFINED);
    assert_false(slm__tok_is_eog(tok, 32000));

    slm__tok_stream_t s;
    assert_int_equal(slm__tok_stream_init(&s, tok, 0), SLM_OK);
    assert_int_equal(slm__tok_stream_feed(&s, 32000, &p, &len), SLM_ERR_INVALID_ARG);
    assert_int_equal(slm__tok_stream_feed(&s, 15043, &p, &len), SLM_OK);
    assert_string_equal(p, "Hello");
    slm__tok_stream_free(&s);
    slm__tok_stream_free(&s); /* twice is harmless */
    slm__tokenizer_free(tok);
    slm__tokenizer_free(NULL);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* 100k characters of text: quick (the merge queue keeps it n log n), and
** back to the same text. */
static void test_long_input(void **state)
{
    (void)state;
    slm__tokenizer_t *tok = load_file(VOCAB_SPM);
    static const char *const WORDS[] = { "the", "quick", "brown", "fox", "jumps", "über",
                                         "лиса", "🦙", "1234", "\n", "  ", "tokenizer" };
    size_t cap = 100000 + 64, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    unsigned r = 12345;
    while (len < 100000) {
        r = r * 1103515245u + 12345u;
        const char *w = WORDS[(r >> 16) % (sizeof WORDS / sizeof WORDS[0])];
        memcpy(text + len, w, strlen(w));
        len += strlen(w);
        text[len++] = ' ';
    }
    text[len] = '\0';

    double t0 = now_s();
    int32_t *ids;
    size_t n = encode(tok, text, len, SLM__ENC_ADD_BOS, &ids);
    double dt = now_s() - t0;
    print_message("100k chars -> %zu tokens in %.3f s\n", n, dt);
    assert_true(n > 10000);
    assert_true(dt < 5.0);

    /* One long run without spaces is the worst case for the queue. */
    char *run = malloc(100001);
    assert_non_null(run);
    memset(run, 'a', 100000);
    run[100000] = '\0';
    int32_t *ids2;
    t0 = now_s();
    size_t n2 = encode(tok, run, 100000, 0, &ids2);
    assert_true(now_s() - t0 < 5.0);
    assert_true(n2 > 0);

    size_t dlen;
    char *back = decode(tok, ids, n, 0, &dlen);
    assert_int_equal(dlen, len);
    assert_memory_equal(back, text, len);
    free(back);
    back = decode(tok, ids2, n2, 0, &dlen);
    assert_int_equal(dlen, 100000);
    assert_memory_equal(back, run, 100000);
    free(back);
    free(ids);
    free(ids2);
    free(run);
    free(text);
    slm__tokenizer_free(tok);
}

/* Arbitrary bytes never crash, and (with all 256 byte tokens present)
** come back unchanged. Bytes E2 ("▁" is a space when decoded) and '<'
** (could spell a control token) are left out of the round-trip check. */
static void test_random_bytes(void **state)
{
    (void)state;
    slm__tokenizer_t *tok = load_file(VOCAB_SPM);
    unsigned r = 99;
    char buf[300];
    for (int iter = 0; iter < 2000; iter++) {
        r = r * 1103515245u + 12345u;
        size_t len = (r >> 16) % sizeof buf;
        bool clean = true;
        for (size_t i = 0; i < len; i++) {
            r = r * 1103515245u + 12345u;
            buf[i] = (char)(r >> 16);
            if ((uint8_t)buf[i] == 0xE2 || buf[i] == '<')
                clean = false;
        }
        for (unsigned fl = 0; fl < 2; fl++) {
            int32_t *ids;
            size_t n = encode(tok, buf, len, fl ? SLM__ENC_PARSE_SPECIAL : 0, &ids);
            size_t dlen;
            char *back = decode(tok, ids, n, 0, &dlen);
            if (clean) {
                assert_int_equal(dlen, len);
                assert_memory_equal(back, buf, len);
            }
            char *streamed = stream_decode(tok, ids, n, 0);
            free(streamed);
            free(back);
            free(ids);
        }
    }
    slm__tokenizer_free(tok);
}

/* ---------------------------------------------------- synthetic vocabs */

static void test_merge_order_and_byte_fallback(void **state)
{
    (void)state;
    /* ids: N_FIXED + index */
    const synth_t tie[] = {
        { "\xE2\x96\x81", -5, 0 }, { "a", -5, 0 }, { "b", -5, 0 }, { "c", -5, 0 },
        { "ab", -1, 0 }, { "bc", -1, 0 }, { "\xE2\x96\x81" "ab", -3, 0 },
    };
    slm__tokenizer_t *tok = synth_load(tie, 7);
    const int32_t S = N_FIXED;
    /* "▁abc": ab and bc score the same: the leftmost wins, then ▁ab. */
    const int32_t want1[] = { S + 6, S + 3 };
    expect_ids(tok, "abc", 0, want1, 2);
    slm__tokenizer_free(tok);

    const synth_t best[] = {
        { "\xE2\x96\x81", -5, 0 }, { "a", -5, 0 }, { "b", -5, 0 }, { "c", -5, 0 },
        { "ab", -1, 0 }, { "bc", -0.5f, 0 }, { "\xE2\x96\x81" "ab", -3, 0 },
    };
    tok = synth_load(best, 7);
    /* bc scores higher: ▁ a bc, and "abc" is no token. */
    const int32_t want2[] = { S + 0, S + 1, S + 5 };
    expect_ids(tok, "abc", 0, want2, 3);

    /* Byte fallback: "€" (E2 82 AC) is no token: its bytes are. 'x' is
    ** no token either: byte 0x78. */
    const int32_t want3[] = { S + 0, 3 + 0xE2, 3 + 0x82, 3 + 0xAC, 3 + 'x' };
    expect_ids(tok, "€x", 0, want3, 5);

    /* An invalid byte is its own symbol and does not swallow what follows:
    ** "\xE2ab" keeps "ab" mergeable. */
    const int32_t want4[] = { S + 0, 3 + 0xE2, S + 4 };
    expect_ids(tok, "\xE2" "ab", 0, want4, 3);

    /* Streaming: the three byte tokens of "€" give nothing, nothing, "€". */
    slm__tok_stream_t st;
    assert_int_equal(slm__tok_stream_init(&st, tok, SLM__DEC_CONTINUE), SLM_OK);
    const char *p;
    size_t n;
    assert_int_equal(slm__tok_stream_feed(&st, 3 + 0xE2, &p, &n), SLM_OK);
    assert_int_equal(n, 0);
    assert_int_equal(slm__tok_stream_feed(&st, 3 + 0x82, &p, &n), SLM_OK);
    assert_int_equal(n, 0);
    assert_int_equal(slm__tok_stream_feed(&st, 3 + 0xAC, &p, &n), SLM_OK);
    assert_string_equal(p, "€");
    /* A character cut short by a normal token: the start becomes U+FFFD. */
    assert_int_equal(slm__tok_stream_feed(&st, 3 + 0xE2, &p, &n), SLM_OK);
    assert_int_equal(n, 0);
    assert_int_equal(slm__tok_stream_feed(&st, S + 4, &p, &n), SLM_OK); /* "ab" */
    assert_string_equal(p, "\xEF\xBF\xBD" "ab");
    /* An unfinished tail at the end. */
    assert_int_equal(slm__tok_stream_feed(&st, 3 + 0xF0, &p, &n), SLM_OK);
    assert_int_equal(slm__tok_stream_feed(&st, 3 + 0x9F, &p, &n), SLM_OK);
    assert_int_equal(n, 0);
    slm__tok_stream_flush(&st, &p, &n);
    assert_string_equal(p, "\xEF\xBF\xBD\xEF\xBF\xBD");
    slm__tok_stream_free(&st);
    slm__tokenizer_free(tok);
}

static void test_unknown_without_byte_tokens(void **state)
{
    (void)state;
    /* No byte tokens at all: an unknown character is one <unk>. */
    const char *texts[] = { "<unk>", "<s>", "</s>", "\xE2\x96\x81", "a" };
    const int32_t types[] = { 2, 3, 3, 1, 1 };
    gw_t w = { 0 };
    kv_str(&w, "tokenizer.ggml.model", "llama");
    kv_strs(&w, "tokenizer.ggml.tokens", texts, 5);
    kv_i32s(&w, "tokenizer.ggml.token_type", types, 5);
    slm__tokenizer_t *tok = NULL;
    assert_int_equal(load_mem(&w, &tok), SLM_OK);
    const int32_t want[] = { 3, 4, 0, 4 };
    expect_ids(tok, "a€a", 0, want, 4);
    slm__tokenizer_free(tok);

    /* An unknown id of "none" keeps llama's default, 0. */
    const int32_t types2[] = { 1, 3, 3, 1, 1 };
    w = (gw_t){ 0 };
    kv_str(&w, "tokenizer.ggml.model", "llama");
    kv_strs(&w, "tokenizer.ggml.tokens", texts, 5);
    kv_i32s(&w, "tokenizer.ggml.token_type", types2, 5);
    kv_u32(&w, "tokenizer.ggml.unknown_token_id", 0xFFFFFFFFu);
    assert_int_equal(load_mem(&w, &tok), SLM_OK);
    assert_int_equal(slm__tok_unk(tok), 0);
    slm__tokenizer_free(tok);
}

/* Only "<0xNN>" typed BYTE is a byte token; lookalikes typed NORMAL are
** plain text. (A malformed text typed BYTE is refused at load: the
** byte_token_* files of the hostile corpus, tests/hostile/.) */
static void test_hostile_byte_tokens(void **state)
{
    (void)state;
    const char *texts[] = { "<unk>", "<s>", "</s>", "<0x-1>", "<0xZZ>", "<0x100>", "<0x4g>",
                            "<0x41>", "<0x0a>", "<0x>", "<0x0A", "0x0A>", "<0X0A>", "", "a" };
    const int32_t types[] = { 2, 3, 3, 1, 1, 1, 1, 6, 6, 1, 1, 1, 1, 1, 1 };
    const size_t n = sizeof texts / sizeof texts[0];
    gw_t w = { 0 };
    kv_str(&w, "tokenizer.ggml.model", "llama");
    kv_strs(&w, "tokenizer.ggml.tokens", texts, n);
    kv_i32s(&w, "tokenizer.ggml.token_type", types, n);
    slm__tokenizer_t *tok = NULL;
    assert_int_equal(load_mem(&w, &tok), SLM_OK);

    int mapped = 0;
    for (int b = 0; b < 256; b++)
        mapped += slm__tok_byte_id(tok, (uint8_t)b) >= 0;
    assert_int_equal(mapped, 2);
    assert_int_equal(slm__tok_byte_id(tok, 0x41), 7);
    assert_int_equal(slm__tok_byte_id(tok, 0x0A), 8); /* lower-case hex is fine */

    /* The lookalikes decode to their text. */
    for (int32_t id = 3; id < (int32_t)n; id++) {
        const char *p;
        size_t len;
        assert_int_equal(slm__tok_piece(tok, id, 0, &p, &len), SLM_OK);
        if (id == 7)
            assert_true(len == 1 && p[0] == 'A');
        else if (id == 8)
            assert_true(len == 1 && p[0] == '\n');
        else
            assert_true(len == strlen(texts[id]) && !memcmp(p, texts[id], len));
    }
    /* A byte with no byte token: <unk>. 'A' has one. */
    const int32_t want[] = { 0, 14, 7 };
    expect_ids(tok, "aA", 0, want, 3); /* "▁" is no token: <unk>, then a, then A */
    /* Lookup of the empty token never matches. */
    assert_int_equal(slm__tok_lookup(tok, "", 0), SLM__TOKEN_NONE);
    slm__tokenizer_free(tok);
}

static void test_user_defined_and_eog(void **state)
{
    (void)state;
    const synth_t extra[] = {
        { "\xE2\x96\x81", -5, 0 }, { "a", -5, 0 }, { "<tag>", 0, SLM__TOK_USER_DEFINED },
        { "<|end|>", 0, SLM__TOK_NORMAL }, { "<tag>x", 0, SLM__TOK_USER_DEFINED },
    };
    slm__tokenizer_t *tok = synth_load(extra, 5);
    const int32_t S = N_FIXED;
    /* User-defined tokens are split out even without parse_special; the
    ** longer one first. The run after one gets the prefix space again. */
    const int32_t want[] = { S + 0, S + 1, S + 2, S + 0, S + 1, S + 4, S + 0, S + 1 };
    expect_ids(tok, "a<tag>a<tag>xa", 0, want, 8);
    /* <|end|> ends generation, and is made a control token (typed NORMAL
    ** in the file). */
    assert_true(slm__tok_is_eog(tok, S + 3));
    assert_int_equal(slm__tok_type(tok, S + 3), SLM__TOK_CONTROL);
    assert_true(slm__tok_is_eog(tok, 2));
    const int32_t want2[] = { 1, S + 0, S + 1, S + 3 };
    expect_ids(tok, "a<|end|>", SLM__ENC_ADD_BOS | SLM__ENC_PARSE_SPECIAL, want2, 4);
    size_t len;
    char *s = decode(tok, want2, 4, 0, &len);
    assert_string_equal(s, "a");
    free(s);
    slm__tokenizer_free(tok);
}

/* Phi-3 files are recognised by general.name: their special tokens eat the
** whitespace after them, except <unk>, <s> and <|endoftext|>. */
static void test_phi3_rstrip(void **state)
{
    (void)state;
    const char *texts[] = { "<unk>", "<s>", "</s>", "\xE2\x96\x81", "H", "\xE2\x96\x81" "H",
                            "<|user|>", "\n" };
    const int32_t types[] = { 2, 3, 3, 1, 1, 1, 3, 1 };
    const float scores[] = { 0, 0, 0, -3, -3, -1, 0, -3 };
    for (int phi3 = 0; phi3 < 2; phi3++) {
        gw_t w = { 0 };
        kv_str(&w, "general.name", phi3 ? "Phi-3-mini-4k" : "other");
        kv_str(&w, "tokenizer.ggml.model", "llama");
        kv_strs(&w, "tokenizer.ggml.tokens", texts, 8);
        kv_f32s(&w, "tokenizer.ggml.scores", scores, 8);
        kv_i32s(&w, "tokenizer.ggml.token_type", types, 8);
        slm__tokenizer_t *tok = NULL;
        assert_int_equal(load_mem(&w, &tok), SLM_OK);
        if (phi3) {
            const int32_t want[] = { 6, 5 }; /* the newline is eaten */
            expect_ids(tok, "<|user|>\nH", SLM__ENC_PARSE_SPECIAL, want, 2);
            const int32_t want2[] = { 2, 5 };  /* </s> too */
            expect_ids(tok, "</s> H", SLM__ENC_PARSE_SPECIAL, want2, 2);
            const int32_t want3[] = { 1, 3, 5 }; /* <s> keeps it: ▁ ▁H */
            expect_ids(tok, "<s> H", SLM__ENC_PARSE_SPECIAL, want3, 3);
        } else {
            const int32_t want[] = { 6, 3, 7, 4 };
            expect_ids(tok, "<|user|>\nH", SLM__ENC_PARSE_SPECIAL, want, 4);
        }
        slm__tokenizer_free(tok);
    }
}

/* ------------------------------------------------------- loading errors */

static const char *const MINI[] = { "<unk>", "<s>", "</s>", "a", "b" };

static void mini(gw_t *w, const char *model)
{
    *w = (gw_t){ 0 };
    if (model)
        kv_str(w, "tokenizer.ggml.model", model);
    kv_strs(w, "tokenizer.ggml.tokens", MINI, 5);
}

static void expect_load_error(gw_t *w, slm_status_t want, const char *s1, const char *s2)
{
    slm__tokenizer_t *tok = (slm__tokenizer_t *)1;
    slm_status_t st = load_mem(w, &tok);
    if (st != want)
        fail_msg("status %d, expected %d (%s)", st, want, slm_last_error());
    assert_null(tok);
    const char *msg = slm_last_error();
    if (!strstr(msg, "synthetic.gguf") || (s1 && !strstr(msg, s1)) || (s2 && !strstr(msg, s2)))
        fail_msg("message '%s' should name synthetic.gguf, %s, %s", msg, s1, s2 ? s2 : "");
}

static void test_load_errors(void **state)
{
    (void)state;
    gw_t w;
    float scores[6] = { 0 };
    int32_t types[6] = { 2, 3, 3, 1, 1, 1 };

    mini(&w, "gpt2");
    expect_load_error(&w, SLM_ERR_UNSUPPORTED, "gpt2", "tokenizer.ggml.model");
    mini(&w, "bert");
    expect_load_error(&w, SLM_ERR_UNSUPPORTED, "bert", NULL);
    mini(&w, NULL);
    expect_load_error(&w, SLM_ERR_FORMAT, "tokenizer.ggml.model", NULL);

    w = (gw_t){ 0 };
    kv_str(&w, "tokenizer.ggml.model", "llama");
    expect_load_error(&w, SLM_ERR_FORMAT, "tokenizer.ggml.tokens", NULL);

    w = (gw_t){ 0 };
    kv_str(&w, "tokenizer.ggml.model", "llama");
    kv_strs(&w, "tokenizer.ggml.tokens", MINI, 0);
    expect_load_error(&w, SLM_ERR_FORMAT, "tokenizer.ggml.tokens", NULL);

    mini(&w, "llama");
    kv_f32s(&w, "tokenizer.ggml.scores", scores, 4);
    expect_load_error(&w, SLM_ERR_FORMAT, "tokenizer.ggml.scores", "4");

    mini(&w, "llama");
    kv_i32s(&w, "tokenizer.ggml.token_type", types, 6);
    expect_load_error(&w, SLM_ERR_FORMAT, "tokenizer.ggml.token_type", "6");

    mini(&w, "llama");
    kv_i32s(&w, "tokenizer.ggml.scores", types, 5); /* wrong element type */
    expect_load_error(&w, SLM_ERR_FORMAT, "tokenizer.ggml.scores", NULL);

    mini(&w, "llama");
    kv_u32(&w, "tokenizer.ggml.bos_token_id", 5);
    expect_load_error(&w, SLM_ERR_FORMAT, "tokenizer.ggml.bos_token_id", "5");

    mini(&w, "llama");
    kv_u32(&w, "tokenizer.ggml.padding_token_id", 70000);
    expect_load_error(&w, SLM_ERR_FORMAT, "tokenizer.ggml.padding_token_id", NULL);

    mini(&w, "llama");
    kv_str(&w, "tokenizer.ggml.add_bos_token", "yes");
    expect_load_error(&w, SLM_ERR_FORMAT, "tokenizer.ggml.add_bos_token", NULL);

    /* Valid: "none" ids keep the defaults; flags are read. */
    slm__tokenizer_t *tok = NULL;
    mini(&w, "llama");
    kv_u32(&w, "tokenizer.ggml.eos_token_id", 4);
    kv_u32(&w, "tokenizer.ggml.padding_token_id", 0xFFFFFFFFu);
    kv_bool(&w, "tokenizer.ggml.add_bos_token", false);
    kv_bool(&w, "tokenizer.ggml.add_eos_token", true);
    kv_bool(&w, "tokenizer.ggml.add_space_prefix", false);
    assert_int_equal(load_mem(&w, &tok), SLM_OK);
    assert_int_equal(slm__tok_bos(tok), 1);
    assert_int_equal(slm__tok_eos(tok), 4);
    assert_int_equal(slm__tok_pad(tok), SLM__TOKEN_NONE);
    assert_string_equal(slm__tok_model(tok), "llama");
    assert_int_equal(slm__tok_default_flags(tok), SLM__ENC_ADD_EOS);
    /* No space prefix, no types (all NORMAL): "ab" -> a, b, then EOS (4). */
    const int32_t want[] = { 3, 4, 4 };
    expect_ids(tok, "ab", slm__tok_default_flags(tok), want, 3);
    slm__tokenizer_free(tok);
}

/* ------------------------------------------------------ UTF-8 streaming */

static void feed_all(const char *in, size_t n, size_t chunk, const char *want)
{
    slm__utf8_stream_t s;
    slm__utf8_stream_init(&s);
    char out[1024];
    size_t o = 0;
    for (size_t i = 0; i < n; i += chunk) {
        size_t k = n - i < chunk ? n - i : chunk;
        assert_true(o + SLM__UTF8_FEED_MAX(k) < sizeof out);
        o += slm__utf8_stream_feed(&s, in + i, k, out + o);
    }
    o += slm__utf8_stream_flush(&s, out + o);
    out[o] = '\0';
    if (strcmp(out, want) != 0)
        fail_msg("chunk %zu: got '%s' want '%s'", chunk, out, want);
}

#define FFFD "\xEF\xBF\xBD"

static void test_utf8_stream(void **state)
{
    (void)state;
    static const struct { const char *in; const char *want; } CASES[] = {
        { "plain ascii", "plain ascii" },
        { "h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\xA6\x99", "h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\xA6\x99" },
        { "\xE9\x9A[", FFFD FFFD "[" },            /* cut 3-byte char: one per byte */
        { "\xC0\xAF", FFFD FFFD },                 /* overlong */
        { "\xED\xA0\x80", FFFD FFFD FFFD },        /* surrogate */
        { "\xF4\x90\x80\x80", FFFD FFFD FFFD FFFD }, /* past U+10FFFF */
        { "\x80\xBF", FFFD FFFD },                 /* lone continuations */
        { "a\xF0\x9F\xA6", "a" FFFD FFFD FFFD },   /* unfinished at the end */
        { "\xFF\xFE", FFFD FFFD },
        { "\xE2\x82\xE2\x82\xAC", FFFD FFFD "\xE2\x82\xAC" },
    };
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++)
        for (size_t chunk = 1; chunk <= 6; chunk++)
            feed_all(CASES[i].in, strlen(CASES[i].in), chunk, CASES[i].want);

    /* The character checker itself. */
    assert_int_equal(slm__utf8_char((const uint8_t *)"\xE2\x82", 2), -2);
    assert_int_equal(slm__utf8_char((const uint8_t *)"\xE2\x82\xAC", 3), 3);
    assert_int_equal(slm__utf8_char((const uint8_t *)"\xE2(", 2), 0);

    /* Empty feeds are fine, with or without a tail. */
    slm__utf8_stream_t s = { 0 };
    char out[32];
    assert_int_equal(slm__utf8_stream_feed(&s, "", 0, out), 0);
    assert_int_equal(slm__utf8_stream_feed(&s, "\xF0", 1, out), 0);
    assert_int_equal(slm__utf8_stream_feed(&s, "", 0, out), 0);
    assert_int_equal(slm__utf8_stream_feed(&s, "\x9F\xA6\x99!", 4, out), 5);
    assert_memory_equal(out, "\xF0\x9F\xA6\x99!", 5);
    assert_int_equal(slm__utf8_stream_flush(&s, out), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama_spm_vocab_vectors),
        cmocka_unit_test(test_golden_stories260k),
        cmocka_unit_test(test_golden_synth_llama256),
        cmocka_unit_test(test_golden_others),
        cmocka_unit_test(test_special_tokens_in_text),
        cmocka_unit_test(test_decode_leading_space),
        cmocka_unit_test(test_encode_cap_and_empty),
        cmocka_unit_test(test_out_of_range_ids),
        cmocka_unit_test(test_long_input),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_merge_order_and_byte_fallback),
        cmocka_unit_test(test_unknown_without_byte_tokens),
        cmocka_unit_test(test_hostile_byte_tokens),
        cmocka_unit_test(test_user_defined_and_eog),
        cmocka_unit_test(test_phi3_rstrip),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_utf8_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
