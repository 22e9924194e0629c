/*
** test_gguf_reader.c -- the GGUF parser on real files, on every metadata type,
** on odd but valid files, and on files cut or mutated at random.
**
** The reader must turn any file into either a parsed model or an
** SLM_ERR_FORMAT naming the file and the field, never a crash, a hang or a
** huge allocation. Each single lie (a bad magic, a count, a length, a
** dimension, an offset...) is a file of the hostile corpus, tests/hostile/,
** with its own ctest case. Here: every prefix of a valid file, and a seeded
** mutation loop that is a small fuzzer when the suite runs under
** AddressSanitizer. Files under test are held in exact-size heap blocks, so
** a read one byte past the end is caught.
*/
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <slm/slm.h>

#include "gguf_reader.h"
#include "gguf_writer.h"

#define MODELS SLM_TEST_SOURCE_DIR "/../../shared/models"
#define HOSTILE "hostile.gguf"

/* ---------------------------------------------------------------- helpers */

/* Require status `want` and a message naming `file` and `what`. */
static void expect_error(slm_status_t st, slm_status_t want, const char *file,
                         const char *what)
{
    if (st != want)
        fail_msg("status %s, expected %s (message: %s)", slm_status_name(st),
                 slm_status_name(want), slm_last_error());
    const char *msg = slm_last_error();
    if (!strstr(msg, file) || (what && !strstr(msg, what)))
        fail_msg("message \"%s\" should name '%s' and '%s'", msg, file, what ? what : "");
}

/* A parsed file and the exact-size block it borrows. */
typedef struct parsed {
    uint8_t *bytes;
    size_t size;
    slm__gguf_t *g;
} parsed_t;

/* Build w (destroying it) and parse the bytes; the status is returned and
** p->g is set on success. */
static slm_status_t parse_writer(gguf_writer_t *w, parsed_t *p)
{
    p->bytes = gw_build(w, &p->size);
    gw_destroy(w);
    p->g = (slm__gguf_t *)p;   /* must be reset to NULL on failure */
    slm_status_t st = slm__gguf_open_memory(p->bytes, p->size, HOSTILE, &p->g);
    if (st != SLM_OK)
        assert_null(p->g);
    return st;
}

static void parsed_free(parsed_t *p)
{
    slm__gguf_close(p->g);
    free(p->bytes);
}

static slm__gguf_t *parse_ok(gguf_writer_t *w, parsed_t *p)
{
    slm_status_t st = parse_writer(w, p);
    if (st != SLM_OK)
        fail_msg("open: %s", slm_last_error());
    return p->g;
}

/* The hostile case: a FORMAT error naming the file and `what`. */
static void expect_format(gguf_writer_t *w, const char *what)
{
    parsed_t p;
    expect_error(parse_writer(w, &p), SLM_ERR_FORMAT, HOSTILE, what);
    parsed_free(&p);
}

/* A small valid file: a few metadata types, a string array and three
** tensors of different types, with padding inside the data section. */
static gguf_writer_t *small_file(void)
{
    gguf_writer_t *w = gw_create();
    gw_kv_str(w, "general.architecture", "llama");
    gw_kv_u32(w, "llama.embedding_length", 4);
    gw_kv_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    gw_kv_bool(w, "tokenizer.ggml.add_bos_token", true);
    const char *toks[] = { "<unk>", "<s>", "\xe2\x96\x81hi" };
    gw_kv_array_str(w, "tokenizer.ggml.tokens", toks, 3);
    const int32_t types[] = { 2, 3, 1 };
    gw_kv_array(w, "tokenizer.ggml.token_type", GW_INT32, types, 3);
    float a[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    gw_tensor(w, "a", GW_F32, 2, (int64_t[]){ 4, 2 }, a, sizeof a);
    uint8_t q[34];
    for (int i = 0; i < 34; i++)
        q[i] = (uint8_t)(i * 7);
    gw_tensor(w, "b", GW_Q8_0, 1, (int64_t[]){ 32 }, q, sizeof q);
    gw_tensor(w, "c", GW_F16, 1, (int64_t[]){ 3 }, NULL, 6);
    return w;
}

/* ------------------------------------------------------------- real files */

static void test_stories260k(void **state)
{
    (void)state;
    slm__gguf_t *g = NULL;
    const char *path = MODELS "/gguf/stories260K-f32.gguf";
    if (slm__gguf_open(path, &g) != SLM_OK)
        fail_msg("%s (is ../shared beside the repository?)", slm_last_error());
    assert_int_equal(g->version, 3);
    assert_int_equal(g->n_tensors, 48);
    assert_int_equal(g->n_kv, 19);
    assert_int_equal(g->alignment, 32);
    assert_int_equal(g->data_offset, 14176);   /* infos end at 14152 */

    const slm__gguf_tensor_t *t = slm__gguf_tensor(g, "token_embd.weight");
    assert_non_null(t);
    assert_int_equal(t->n_dims, 2);
    assert_int_equal(t->ne[0], 64);
    assert_int_equal(t->ne[1], 512);
    assert_int_equal(t->ne[2], 1);
    assert_int_equal(t->ne[3], 1);
    assert_int_equal(t->type, SLM_DTYPE_F32);
    assert_int_equal(t->offset, 0);
    assert_int_equal(t->size, 64 * 512 * 4);
    assert_ptr_equal(t->data, g->base + g->data_offset);

    t = slm__gguf_tensor(g, "output_norm.weight");
    assert_non_null(t);
    assert_int_equal(t->n_dims, 1);
    assert_int_equal(t->ne[0], 64);
    assert_int_equal(t->ne[1], 1);
    assert_int_equal(t->offset, 131072);
    t = slm__gguf_tensor(g, "blk.0.attn_k.weight");
    assert_non_null(t);
    assert_int_equal(t->ne[1], 32);
    assert_int_equal(t->offset, 278784);
    t = slm__gguf_tensor(g, "blk.4.ffn_norm.weight");
    assert_non_null(t);
    assert_int_equal(t->offset, 1170944);
    /* The last tensor ends exactly at the end of the file. */
    assert_int_equal(g->data_offset + t->offset + t->size, g->size);
    assert_null(slm__gguf_tensor(g, "blk.5.ffn_norm.weight"));

    uint32_t u;
    assert_int_equal(slm__gguf_get_u32(g, "llama.embedding_length", &u), SLM_OK);
    assert_int_equal(u, 64);
    assert_int_equal(slm__gguf_get_u32(g, "llama.feed_forward_length", &u), SLM_OK);
    assert_int_equal(u, 172);
    assert_int_equal(slm__gguf_get_u32(g, "llama.attention.head_count_kv", &u), SLM_OK);
    assert_int_equal(u, 4);
    assert_int_equal(slm__gguf_get_u32(g, "tokenizer.ggml.padding_token_id", &u), SLM_OK);
    assert_int_equal(u, UINT32_MAX);
    float f;
    assert_int_equal(slm__gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &f), SLM_OK);
    assert_float_equal(f, 1e-5f, 1e-9f);
    slm__gguf_str_t s;
    assert_int_equal(slm__gguf_get_str(g, "general.architecture", &s), SLM_OK);
    assert_true(slm__gguf_str_eq(s, "llama"));

    const slm__gguf_kv_t *kv;
    assert_int_equal(slm__gguf_get_array(g, "tokenizer.ggml.tokens", SLM_GGUF_STRING, &kv), SLM_OK);
    assert_int_equal(kv->count, 512);
    assert_true(slm__gguf_str_eq(slm__gguf_array_str(kv, 0), "<unk>"));
    assert_true(slm__gguf_str_eq(slm__gguf_array_str(kv, 1), "<s>"));
    assert_true(slm__gguf_str_eq(slm__gguf_array_str(kv, 2), "</s>"));
    assert_int_equal(slm__gguf_get_array(g, "tokenizer.ggml.scores", SLM_GGUF_FLOAT32, &kv), SLM_OK);
    assert_int_equal(kv->count, 512);
    assert_int_equal(slm__gguf_get_array(g, "tokenizer.ggml.token_type", SLM_GGUF_INT32, &kv), SLM_OK);
    assert_int_equal(kv->count, 512);
    assert_true(slm__gguf_array_num(kv, 0) == 2.0);   /* <unk>: UNKNOWN */
    assert_true(slm__gguf_array_num(kv, 1) == 3.0);   /* <s>: CONTROL */
    slm__gguf_close(g);
}

static void test_vocab_only(void **state)
{
    (void)state;
    slm__gguf_t *g = NULL;
    if (slm__gguf_open(MODELS "/ggml-vocab-llama-spm.gguf", &g) != SLM_OK)
        fail_msg("%s", slm_last_error());
    assert_int_equal(g->n_tensors, 0);
    assert_int_equal(g->n_kv, 22);
    /* No tensors: the file ends right after the metadata, unpadded. */
    assert_int_equal(g->data_offset, g->size);
    const slm__gguf_kv_t *kv;
    assert_int_equal(slm__gguf_get_array(g, "tokenizer.ggml.tokens", SLM_GGUF_STRING, &kv), SLM_OK);
    assert_int_equal(kv->count, 32000);
    assert_true(slm__gguf_str_eq(slm__gguf_array_str(kv, 1), "<s>"));
    assert_true(slm__gguf_str_eq(slm__gguf_array_str(kv, 259), "\xe2\x96\x81\xe2\x96\x81"));
    bool b = false;
    assert_int_equal(slm__gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b), SLM_OK);
    assert_true(b);
    uint32_t u;
    assert_int_equal(slm__gguf_get_u32(g, "llama.vocab_size", &u), SLM_OK);
    assert_int_equal(u, 32000);
    slm__gguf_close(g);
}

static void test_tiny_random_f16(void **state)
{
    (void)state;
    slm__gguf_t *g = NULL;
    if (slm__gguf_open(MODELS "/llama-2-tiny-random.gguf", &g) != SLM_OK)
        fail_msg("%s", slm_last_error());
    assert_int_equal(g->n_tensors, 12);
    const slm__gguf_tensor_t *t = slm__gguf_tensor(g, "token_embd.weight");
    assert_non_null(t);
    assert_int_equal(t->type, SLM_DTYPE_F16);
    assert_string_equal(slm__gguf_type_name(t->type), "f16");
    assert_int_equal(t->ne[0], 8);
    assert_int_equal(t->ne[1], 32000);
    assert_int_equal(t->size, 8 * 32000 * 2);
    t = slm__gguf_tensor(g, "output_norm.weight");
    assert_non_null(t);
    assert_int_equal(t->type, SLM_DTYPE_F32);
    assert_int_equal(t->offset, 514112);
    t = slm__gguf_tensor(g, "output.weight");
    assert_non_null(t);
    assert_int_equal(t->offset, 514144);
    assert_int_equal(g->data_offset + t->offset + t->size, g->size);
    slm__gguf_str_t s;
    assert_int_equal(slm__gguf_get_str(g, "general.name", &s), SLM_OK);
    assert_true(slm__gguf_str_eq(s, "LLaMA v2"));
    slm__gguf_close(g);
}

/* Paths that are not regular files, and a valid file opened by path. */
static void test_open_paths(void **state)
{
    slm__gguf_t *g = (slm__gguf_t *)state;   /* not NULL: a failed open must clear it */
    expect_error(slm__gguf_open("/nonexistent/x.gguf", &g), SLM_ERR_IO, "/nonexistent/x.gguf",
                 "No such file");
    assert_null(g);
    expect_error(slm__gguf_open(MODELS, &g), SLM_ERR_IO, MODELS, "directory");
    expect_error(slm__gguf_open("/dev/null", &g), SLM_ERR_IO, "/dev/null", "not a regular file");

    const char *tmp = getenv("TMPDIR");
    char dir[256], path[320];
    snprintf(dir, sizeof dir, "%s/slm-gguf-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(dir));
    /* A FIFO with no writer: refused at once, not waited on. */
    snprintf(path, sizeof path, "%s/fifo.gguf", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    expect_error(slm__gguf_open(path, &g), SLM_ERR_IO, path, "not a regular file");
    unlink(path);
    /* (test_hostile opens every file of the hostile corpus both ways.) */
    snprintf(path, sizeof path, "%s/small.gguf", dir);
    gguf_writer_t *w = small_file();
    assert_int_equal(gw_write_file(w, path), 0);
    gw_destroy(w);
    assert_int_equal(slm__gguf_open(path, &g), SLM_OK);
    assert_non_null(slm__gguf_tensor(g, "b"));
    slm__gguf_close(g);
    unlink(path);
    rmdir(dir);
    slm__gguf_close(NULL);
}

/* --------------------------------------------------- metadata round trips */

static void test_every_type_round_trips(void **state)
{
    (void)state;
    gguf_writer_t *w = gw_create();
    w->version = 2;   /* version 2 has the same layout as 3 */
    gw_kv_u8(w, "u8", 255);
    gw_kv_i8(w, "i8", -128);
    gw_kv_u16(w, "u16", 65535);
    gw_kv_i16(w, "i16", -32768);
    gw_kv_u32(w, "u32", UINT32_MAX);
    gw_kv_i32(w, "i32", INT32_MIN);
    gw_kv_f32(w, "f32", -3.25f);
    gw_kv_bool(w, "t", true);
    gw_kv_bool(w, "f", false);
    gw_kv_u64(w, "u64", (uint64_t)INT64_MAX);
    gw_kv_u64(w, "u64max", UINT64_MAX);
    gw_kv_i64(w, "i64", INT64_MIN);
    gw_kv_f64(w, "f64", 0.1);
    gw_kv_str(w, "str", "h\xc3\xa9llo");
    gw_kv_str(w, "empty", "");
    gw_kv_strn(w, "nul", "a\0b", 3);

    const uint8_t au8[] = { 0, 1, 255 };
    const int8_t ai8[] = { -128, 0, 127 };
    const uint16_t au16[] = { 0, 65535 };
    const int16_t ai16[] = { -32768, 32767 };
    const uint32_t au32[] = { 0, UINT32_MAX };
    const int32_t ai32[] = { INT32_MIN, -1, INT32_MAX };
    const float af32[] = { 0.5f, -1e30f };
    const bool abool[] = { true, false, true };
    const uint64_t au64[] = { 1ull << 52 };
    const int64_t ai64[] = { -(1ll << 52) };
    const double af64[] = { 0.25, -1e300 };
    const char *astr[] = { "", "one", "\xe2\x96\x81two" };
    gw_kv_array(w, "a.u8", GW_UINT8, au8, 3);
    gw_kv_array(w, "a.i8", GW_INT8, ai8, 3);
    gw_kv_array(w, "a.u16", GW_UINT16, au16, 2);
    gw_kv_array(w, "a.i16", GW_INT16, ai16, 2);
    gw_kv_array(w, "a.u32", GW_UINT32, au32, 2);
    gw_kv_array(w, "a.i32", GW_INT32, ai32, 3);
    gw_kv_array(w, "a.f32", GW_FLOAT32, af32, 2);
    gw_kv_array(w, "a.bool", GW_BOOL, abool, 3);
    gw_kv_array(w, "a.u64", GW_UINT64, au64, 1);
    gw_kv_array(w, "a.i64", GW_INT64, ai64, 1);
    gw_kv_array(w, "a.f64", GW_FLOAT64, af64, 2);
    gw_kv_array_str(w, "a.str", astr, 3);
    /* Empty arrays of every element type. */
    static const char *const empty_keys[] = {
        "e.u8", "e.i8", "e.u16", "e.i16", "e.u32", "e.i32", "e.f32", "e.bool",
        "e.str", "", "e.u64", "e.i64", "e.f64",
    };
    for (uint32_t t = 0; t <= GW_FLOAT64; t++)
        if (t != GW_ARRAY)
            gw_kv_array_raw(w, empty_keys[t], t, 0, NULL, 0);

    parsed_t p;
    slm__gguf_t *g = parse_ok(w, &p);
    assert_int_equal(g->version, 2);
    int64_t i;
    uint32_t u;
    float f;
    bool b;
    slm__gguf_str_t s;
    assert_int_equal(slm__gguf_get_i64(g, "u8", &i), SLM_OK);
    assert_int_equal(i, 255);
    assert_int_equal(slm__gguf_get_i64(g, "i8", &i), SLM_OK);
    assert_int_equal(i, -128);
    assert_int_equal(slm__gguf_get_u32(g, "u16", &u), SLM_OK);
    assert_int_equal(u, 65535);
    assert_int_equal(slm__gguf_get_i64(g, "i16", &i), SLM_OK);
    assert_int_equal(i, -32768);
    assert_int_equal(slm__gguf_get_u32(g, "u32", &u), SLM_OK);
    assert_int_equal(u, UINT32_MAX);
    assert_int_equal(slm__gguf_get_i64(g, "i32", &i), SLM_OK);
    assert_int_equal(i, INT32_MIN);
    assert_int_equal(slm__gguf_get_f32(g, "f32", &f), SLM_OK);
    assert_true(f == -3.25f);
    assert_int_equal(slm__gguf_get_f32(g, "u8", &f), SLM_OK);   /* integers are numbers */
    assert_true(f == 255.0f);
    assert_int_equal(slm__gguf_get_bool(g, "t", &b), SLM_OK);
    assert_true(b);
    assert_int_equal(slm__gguf_get_bool(g, "f", &b), SLM_OK);
    assert_false(b);
    assert_int_equal(slm__gguf_get_i64(g, "u64", &i), SLM_OK);
    assert_true(i == INT64_MAX);
    assert_int_equal(slm__gguf_get_i64(g, "i64", &i), SLM_OK);
    assert_true(i == INT64_MIN);
    assert_int_equal(slm__gguf_get_f32(g, "f64", &f), SLM_OK);
    assert_true(f == (float)0.1);
    assert_int_equal(slm__gguf_get_str(g, "str", &s), SLM_OK);
    assert_true(slm__gguf_str_eq(s, "h\xc3\xa9llo"));
    assert_int_equal(slm__gguf_get_str(g, "empty", &s), SLM_OK);
    assert_int_equal(s.len, 0);
    assert_int_equal(slm__gguf_get_str(g, "nul", &s), SLM_OK);
    assert_int_equal(s.len, 3);
    assert_memory_equal(s.ptr, "a\0b", 3);

    const slm__gguf_kv_t *kv;
    struct { const char *key; slm__gguf_type_t t; uint64_t n; double v[3]; } arrays[] = {
        { "a.u8", SLM_GGUF_UINT8, 3, { 0, 1, 255 } },
        { "a.i8", SLM_GGUF_INT8, 3, { -128, 0, 127 } },
        { "a.u16", SLM_GGUF_UINT16, 2, { 0, 65535 } },
        { "a.i16", SLM_GGUF_INT16, 2, { -32768, 32767 } },
        { "a.u32", SLM_GGUF_UINT32, 2, { 0, 4294967295.0 } },
        { "a.i32", SLM_GGUF_INT32, 3, { -2147483648.0, -1, 2147483647.0 } },
        { "a.f32", SLM_GGUF_FLOAT32, 2, { 0.5, (double)-1e30f } },
        { "a.bool", SLM_GGUF_BOOL, 3, { 1, 0, 1 } },
        { "a.u64", SLM_GGUF_UINT64, 1, { 4503599627370496.0 } },
        { "a.i64", SLM_GGUF_INT64, 1, { -4503599627370496.0 } },
        { "a.f64", SLM_GGUF_FLOAT64, 2, { 0.25, -1e300 } },
    };
    for (size_t k = 0; k < sizeof arrays / sizeof arrays[0]; k++) {
        if (slm__gguf_get_array(g, arrays[k].key, arrays[k].t, &kv) != SLM_OK)
            fail_msg("%s: %s", arrays[k].key, slm_last_error());
        assert_int_equal(kv->type, SLM_GGUF_ARRAY);
        assert_int_equal(kv->elem_type, arrays[k].t);
        assert_int_equal(kv->count, arrays[k].n);
        for (uint64_t e = 0; e < kv->count; e++)
            if (slm__gguf_array_num(kv, e) != arrays[k].v[e])
                fail_msg("%s[%d] = %g, expected %g", arrays[k].key, (int)e,
                         slm__gguf_array_num(kv, e), arrays[k].v[e]);
    }
    assert_int_equal(slm__gguf_get_array(g, "a.str", SLM_GGUF_STRING, &kv), SLM_OK);
    assert_int_equal(kv->count, 3);
    for (uint64_t e = 0; e < 3; e++)
        assert_true(slm__gguf_str_eq(slm__gguf_array_str(kv, e), astr[e]));
    for (uint32_t t = 0; t <= GW_FLOAT64; t++) {
        if (t == GW_ARRAY)
            continue;
        assert_int_equal(slm__gguf_get_array(g, empty_keys[t], (slm__gguf_type_t)t, &kv), SLM_OK);
        assert_int_equal(kv->count, 0);
    }
    assert_int_equal(g->n_kv, 16 + 12 + 12);
    assert_int_equal(g->n_tensors, 0);
    parsed_free(&p);

    /* The size and name tables agree with the file format. */
    static const size_t sizes[] = { 1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8 };
    for (int t = 0; t < SLM_GGUF_TYPE_COUNT; t++)
        assert_int_equal(slm__gguf_type_size((slm__gguf_type_t)t), sizes[t]);
    assert_string_equal(slm__gguf_kv_type_name(SLM_GGUF_UINT32), "uint32");
    assert_string_equal(slm__gguf_kv_type_name(SLM_GGUF_FLOAT64), "float64");
    assert_string_equal(slm__gguf_type_name(13), "q5_K");
    assert_string_equal(slm__gguf_type_name(30), "bf16");
    assert_null(slm__gguf_type_name(4));      /* q4_2: removed from GGUF */
    assert_null(slm__gguf_type_name(100000));
}

/* A getter asked for the wrong type names the key, what it is and what was
** expected. */
static void test_getter_type_errors(void **state)
{
    (void)state;
    gguf_writer_t *w = gw_create();
    gw_kv_str(w, "a.string", "x");
    gw_kv_u32(w, "a.u32", 7);
    gw_kv_u8(w, "a.u8", 1);
    gw_kv_i32(w, "a.negative", -1);
    gw_kv_u64(w, "a.big", 1ull << 32);
    gw_kv_u64(w, "a.huge", 1ull << 63);
    const int32_t ints[] = { 1, 2 };
    gw_kv_array(w, "a.ints", GW_INT32, ints, 2);
    parsed_t p;
    slm__gguf_t *g = parse_ok(w, &p);
    uint32_t u = 99;
    int64_t i;
    float f;
    bool b;
    slm__gguf_str_t s;
    const slm__gguf_kv_t *kv = NULL;

    assert_int_equal(slm__gguf_get_u32(g, "no.such.key", &u), SLM_ERR_NOT_FOUND);
    assert_int_equal(u, 99);
    assert_int_equal(slm__gguf_get_str(g, "no.such.key", &s), SLM_ERR_NOT_FOUND);
    assert_int_equal(slm__gguf_get_array(g, "no.such.key", SLM_GGUF_INT32, &kv), SLM_ERR_NOT_FOUND);
    assert_null(slm__gguf_find(g, "no.such.key"));
    /* A prefix of a key is not the key. */
    assert_null(slm__gguf_find(g, "a.u3"));

    expect_error(slm__gguf_get_u32(g, "a.string", &u), SLM_ERR_FORMAT, "'a.string'", "type string");
    expect_error(slm__gguf_get_i64(g, "a.ints", &i), SLM_ERR_FORMAT, "'a.ints'", "type array");
    expect_error(slm__gguf_get_f32(g, "a.string", &f), SLM_ERR_FORMAT, "'a.string'", "a number");
    expect_error(slm__gguf_get_bool(g, "a.u8", &b), SLM_ERR_FORMAT, "'a.u8'", "expected bool");
    expect_error(slm__gguf_get_str(g, "a.u32", &s), SLM_ERR_FORMAT, "'a.u32'", "type uint32, expected string");
    expect_error(slm__gguf_get_u32(g, "a.negative", &u), SLM_ERR_FORMAT, "'a.negative'", "out of range");
    expect_error(slm__gguf_get_u32(g, "a.big", &u), SLM_ERR_FORMAT, "'a.big'", "4294967296");
    expect_error(slm__gguf_get_i64(g, "a.huge", &i), SLM_ERR_FORMAT, "'a.huge'", "int64");
    expect_error(slm__gguf_get_array(g, "a.ints", SLM_GGUF_FLOAT32, &kv), SLM_ERR_FORMAT,
                 "'a.ints'", "array of int32, expected array of float32");
    expect_error(slm__gguf_get_array(g, "a.u32", SLM_GGUF_STRING, &kv), SLM_ERR_FORMAT,
                 "'a.u32'", "type uint32, expected array of string");
    /* Messages start with the file they are about. */
    assert_string_equal(strstr(slm_last_error(), HOSTILE), slm_last_error());
    parsed_free(&p);
}

/* ------------------------------------------- odd files that are valid
**
** Files that lie are in the hostile corpus, tests/hostile/cases.def, one
** ctest case each; these are the unusual files the reader must accept. */

/* Keys that differ only in length are different keys. */
static void test_similar_keys(void **state)
{
    (void)state;
    gguf_writer_t *w = small_file();
    gw_kv_u32(w, "llama.embedding_lengt", 8);
    gw_kv_u32(w, "llama.embedding_length.x", 8);
    parsed_t p;
    parse_ok(w, &p);
    parsed_free(&p);
}

static void test_alignments(void **state)
{
    (void)state;
    /* Valid alignments other than the default move the data section. */
    const uint32_t good[] = { 1, 8, 64, 4096 };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        gguf_writer_t *w = small_file();
        gw_kv_u32(w, "general.alignment", good[i]);
        w->alignment = good[i];
        parsed_t p;
        slm__gguf_t *g = parse_ok(w, &p);
        assert_int_equal(g->alignment, good[i]);
        assert_int_equal(g->data_offset % good[i], 0);
        const slm__gguf_tensor_t *t = slm__gguf_tensor(g, "b");
        assert_int_equal(((const uint8_t *)t->data)[33], (uint8_t)(33 * 7));
        parsed_free(&p);
    }
    /* Laid out for 64 but declaring the default 32: the offsets pass, the
    ** data section may start elsewhere. The reader cannot tell; it must
    ** stay inside the file. */
    gguf_writer_t *w = small_file();
    w->alignment = 64;
    parsed_t p;
    slm_status_t st = parse_writer(w, &p);
    assert_true(st == SLM_OK || st == SLM_ERR_FORMAT);
    parsed_free(&p);
}

/* Types slm cannot compute still parse, sized by their block. */
static void test_uncomputable_types_parse(void **state)
{
    (void)state;
    gguf_writer_t *w = small_file();
    gw_tensor(w, "q5k", GW_Q5_K, 2, (int64_t[]){ 256, 2 }, NULL, 2 * 176);
    parsed_t p;
    slm__gguf_t *g = parse_ok(w, &p);
    assert_int_equal(slm__gguf_tensor(g, "q5k")->size, 2 * 176);
    parsed_free(&p);
}

static void test_padding(void **state)
{
    (void)state;
    /* No tensors: the file may end right after the infos. */
    gguf_writer_t *w = gw_create();
    gw_kv_u8(w, "x", 1);
    w->no_padding = true;
    parsed_t p;
    slm__gguf_t *g = parse_ok(w, &p);
    assert_int_equal(g->data_offset, p.size);
    parsed_free(&p);
    /* Trailing bytes after the data are allowed. */
    w = small_file();
    gw_append(w, "trailing", 8);
    parse_ok(w, &p);
    parsed_free(&p);
}

/* --------------------------------------------- truncation and mutation */

/* Parse `n` bytes of `src` from an exact-size copy; returns the status. */
static slm_status_t parse_copy(const uint8_t *src, size_t n, bool walk)
{
    uint8_t *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    memcpy(copy, src, n);
    slm__gguf_t *g = NULL;
    slm_status_t st = slm__gguf_open_memory(copy, n, HOSTILE, &g);
    if (st == SLM_OK && walk) {
        /* Touch everything the reader claims is there: a sanitizer sees
        ** any pointer or length that escapes the file. */
        volatile unsigned sum = 0;
        for (uint64_t i = 0; i < g->n_kv; i++) {
            const slm__gguf_kv_t *kv = &g->kv[i];
            char key[256];
            snprintf(key, sizeof key, "%.*s", (int)(kv->key.len < 200 ? kv->key.len : 200),
                     kv->key.ptr);
            if (kv->key.len >= 200 || strlen(key) != kv->key.len)
                continue;   /* getters take C strings */
            int64_t iv;
            float fv;
            bool bv;
            slm__gguf_str_t sv;
            (void)slm__gguf_get_i64(g, key, &iv);
            (void)slm__gguf_get_f32(g, key, &fv);
            (void)slm__gguf_get_bool(g, key, &bv);
            if (slm__gguf_get_str(g, key, &sv) == SLM_OK)
                for (size_t k = 0; k < sv.len; k++)
                    sum += (unsigned char)sv.ptr[k];
            if (kv->type != SLM_GGUF_ARRAY)
                continue;
            for (uint64_t e = 0; e < kv->count; e++) {
                if (kv->elem_type == SLM_GGUF_STRING) {
                    slm__gguf_str_t es = slm__gguf_array_str(kv, e);
                    for (size_t k = 0; k < es.len; k++)
                        sum += (unsigned char)es.ptr[k];
                } else {
                    sum += (unsigned)(slm__gguf_array_num(kv, e) != 0.0);
                }
            }
        }
        for (uint64_t i = 0; i < g->n_tensors; i++) {
            const slm__gguf_tensor_t *t = &g->tensors[i];
            const uint8_t *d = t->data;
            if (t->size)
                sum += d[0] + d[t->size - 1];
            for (size_t k = 0; k < t->name.len; k++)
                sum += (unsigned char)t->name.ptr[k];
        }
        (void)sum;
    }
    if (st != SLM_OK) {
        assert_null(g);
        if (!strstr(slm_last_error(), HOSTILE))
            fail_msg("message does not name the file: %s", slm_last_error());
    }
    slm__gguf_close(g);
    free(copy);
    return st;
}

static void test_truncated_everywhere(void **state)
{
    (void)state;
    gguf_writer_t *w = small_file();
    size_t n;
    uint8_t *bytes = gw_build(w, &n);
    gw_destroy(w);
    assert_int_equal(parse_copy(bytes, n, true), SLM_OK);
    for (size_t len = 0; len < n; len++)
        if (parse_copy(bytes, len, false) != SLM_ERR_FORMAT)
            fail_msg("prefix of %zu of %zu bytes: %s", len, n, slm_last_error());
    free(bytes);

    /* Without tensors, every prefix up to the end of the metadata fails
    ** and every longer one (inside the padding) parses. */
    w = gw_create();
    gw_kv_str(w, "general.name", "x");
    gw_kv_array(w, "v", GW_UINT16, (uint16_t[]){ 1, 2, 3 }, 3);
    bytes = gw_build(w, &n);
    size_t end = w->kv[1]->pos_value + 6;
    gw_destroy(w);
    for (size_t len = 0; len <= n; len++)
        assert_int_equal(parse_copy(bytes, len, false), len < end ? SLM_ERR_FORMAT : SLM_OK);
    free(bytes);
}

/* xorshift64*: a seeded generator, the same sequence everywhere. */
static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static void test_mutations(void **state)
{
    (void)state;
    gguf_writer_t *w = small_file();
    gw_kv_array(w, "a.f64", GW_FLOAT64, (double[]){ 1.5, 2.5 }, 2);
    gw_kv_u32(w, "general.alignment", 32);
    size_t n;
    uint8_t *orig = gw_build(w, &n);
    gw_destroy(w);
    assert_int_equal(parse_copy(orig, n, true), SLM_OK);

    /* Values that make lengths, counts and offsets interesting. */
    static const uint64_t magic[] = {
        0, 1, 2, 3, 4, 7, 8, 12, 13, 31, 32, 33, 255, 256, 0x7fff, 0xffff,
        0x7fffffff, 0x80000000u, 0xffffffffu, 1ull << 32, 1ull << 62, 1ull << 63,
        UINT64_MAX, UINT64_MAX - 31,
    };
    uint8_t *buf = malloc(n);
    assert_non_null(buf);
    uint64_t seed = 0x5eed5eed12345ull;
    unsigned ok = 0, fmt = 0;
    for (int iter = 0; iter < 20000; iter++) {
        memcpy(buf, orig, n);
        size_t len = n;
        int edits = 1 + (int)(next_rand(&seed) % 4);
        for (int e = 0; e < edits; e++) {
            uint64_t r = next_rand(&seed);
            size_t at = (size_t)(next_rand(&seed) % n);
            switch (r % 5) {
            case 0:   /* flip one bit */
                buf[at] ^= (uint8_t)(1u << (r >> 8) % 8);
                break;
            case 1:   /* a random byte */
                buf[at] = (uint8_t)(r >> 8);
                break;
            case 2:   /* an interesting u32 */
                if (at + 4 <= n)
                    gw_put_u32(buf + at, (uint32_t)magic[(r >> 8) % (sizeof magic / sizeof magic[0])]);
                break;
            case 3:   /* an interesting u64 */
                if (at + 8 <= n)
                    gw_put_u64(buf + at, magic[(r >> 8) % (sizeof magic / sizeof magic[0])]);
                break;
            default:  /* cut the file short */
                if (r & 0x100)
                    len = at;
                break;
            }
        }
        slm_status_t st = parse_copy(buf, len, true);
        if (st == SLM_OK)
            ok++;
        else if (st == SLM_ERR_FORMAT)
            fmt++;
        else
            fail_msg("iteration %d: status %s: %s", iter, slm_status_name(st), slm_last_error());
    }
    print_message("mutations: %u parsed, %u refused\n", ok, fmt);
    /* Both outcomes happen, or the mutations were not reaching the parser. */
    assert_true(ok > 100 && fmt > 100);
    free(buf);
    free(orig);
}

/* Many entries in a small file: checking them for duplicates must not take
** quadratic time, or a few megabytes of empty keys become a hang. */
static void test_many_entries_fast(void **state)
{
    (void)state;
    gguf_writer_t *w = gw_create();
    enum { N = 60000 };
    for (int i = 0; i < N; i++) {
        char key[32];
        snprintf(key, sizeof key, "k.%08d", i);
        gw_kv_u8(w, key, (uint8_t)i);
    }
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "t.%08d", i);
        gw_tensor(w, name, GW_I8, 1, (int64_t[]){ 1 }, NULL, 1);
    }
    w->alignment = 1;
    gw_kv_u32(w, "general.alignment", 1);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    parsed_t p;
    slm__gguf_t *g = parse_ok(w, &p);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    assert_int_equal(g->n_kv, N + 1);
    assert_int_equal(g->n_tensors, N);
    print_message("%d keys and %d tensors parsed in %.1f ms\n", N, N, ms);
    assert_true(ms < 2000.0);
    parsed_free(&p);

    /* A duplicate among them is still found. */
    w = gw_create();
    for (int i = 0; i < N; i++) {
        char key[32];
        snprintf(key, sizeof key, "k.%08d", i % (N - 1));
        gw_kv_u8(w, key, 0);
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    expect_format(w, "'k.00000000' appears twice");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    assert_true(ms < 2000.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stories260k),
        cmocka_unit_test(test_vocab_only),
        cmocka_unit_test(test_tiny_random_f16),
        cmocka_unit_test(test_open_paths),
        cmocka_unit_test(test_every_type_round_trips),
        cmocka_unit_test(test_getter_type_errors),
        cmocka_unit_test(test_similar_keys),
        cmocka_unit_test(test_alignments),
        cmocka_unit_test(test_uncomputable_types_parse),
        cmocka_unit_test(test_padding),
        cmocka_unit_test(test_truncated_everywhere),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_many_entries_fast),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
