/*
** fuzz_gguf.c -- the GGUF reader on arbitrary bytes (header, metadata,
** tensor infos, data bounds), then the tokenizer built from what it read.
**
** An accepted file must keep every promise gguf_reader.h makes: each value
** the getters return, each string of each array and each tensor's data lie
** inside the input, which the loops below touch byte by byte so that
** AddressSanitizer sees any read past it (libFuzzer's copy of the input is
** exactly `size` bytes).
*/
#include <string.h>

#include "fuzz.h"
#include "gguf_reader.h"
#include "tokenizer.h"

static volatile uint8_t sink;
static volatile double dsink;

static void touch(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc ^= b[i];
    sink ^= acc;
}

static bool inside(const uint8_t *data, size_t size, const void *p, size_t n)
{
    const uint8_t *b = p;
    return b >= data && b <= data + size && n <= (size_t)(data + size - b);
}

/* Every getter on every key: each either fails cleanly or gives a value
** read from inside the input. */
static void read_metadata(const slm__gguf_t *g, const uint8_t *data, size_t size)
{
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const slm__gguf_kv_t *kv = &g->kv[i];
        fz_check(inside(data, size, kv->key.ptr, kv->key.len), "key %" PRIu64 " outside", i);
        char key[256];
        if (kv->key.len >= sizeof key || memchr(kv->key.ptr, '\0', kv->key.len))
            continue;
        memcpy(key, kv->key.ptr, kv->key.len);
        key[kv->key.len] = '\0';
        /* A duplicated key would make the lookup ambiguous: the reader
        ** refuses those, so the lookup must find this very entry. */
        fz_check(slm__gguf_find(g, key) == kv, "key '%s' found elsewhere", key);
        uint32_t u32;
        int64_t i64;
        float f32;
        bool b;
        slm__gguf_str_t s;
        (void)slm__gguf_get_u32(g, key, &u32);
        (void)slm__gguf_get_i64(g, key, &i64);
        (void)slm__gguf_get_f32(g, key, &f32);
        (void)slm__gguf_get_bool(g, key, &b);
        if (slm__gguf_get_str(g, key, &s) == SLM_OK) {
            fz_check(inside(data, size, s.ptr, s.len), "string '%s' outside", key);
            touch(s.ptr, s.len);
        }
        if (kv->type != SLM_GGUF_ARRAY)
            continue;
        const slm__gguf_kv_t *arr;
        fz_check(slm__gguf_get_array(g, key, kv->elem_type, &arr) == SLM_OK, "array '%s'", key);
        for (uint64_t j = 0; j < arr->count; j++) {
            if (arr->elem_type == SLM_GGUF_STRING) {
                slm__gguf_str_t e = slm__gguf_array_str(arr, j);
                fz_check(inside(data, size, e.ptr, e.len), "'%s'[%" PRIu64 "] outside", key, j);
                touch(e.ptr, e.len);
            } else {
                dsink = slm__gguf_array_num(arr, j);
            }
        }
    }
}

static void read_tensors(const slm__gguf_t *g, const uint8_t *data, size_t size)
{
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const slm__gguf_tensor_t *t = &g->tensors[i];
        fz_check(inside(data, size, t->data, (size_t)t->size), "tensor %" PRIu64 " outside", i);
        fz_check((size_t)((const uint8_t *)t->data - data) % g->alignment == 0 ||
                 g->data_offset % g->alignment != 0, "tensor %" PRIu64 " unaligned", i);
        fz_check(slm__gguf_type_name(t->type) != NULL, "tensor %" PRIu64 " type %u", i, t->type);
        int64_t n = 1;
        for (int d = 0; d < SLM_MAX_DIMS; d++) {
            fz_check(t->ne[d] >= 1 && t->ne[d] <= INT64_MAX / n, "tensor %" PRIu64 " ne", i);
            n *= t->ne[d];
        }
        if (t->size) {
            touch(t->data, 1);
            touch((const uint8_t *)t->data + t->size - 1, 1);
        }
        char name[256];
        if (t->name.len < sizeof name && !memchr(t->name.ptr, '\0', t->name.len)) {
            memcpy(name, t->name.ptr, t->name.len);
            name[t->name.len] = '\0';
            fz_check(slm__gguf_tensor(g, name) == t, "tensor '%s' found elsewhere", name);
        }
    }
}

/* The tokenizer's loader is the next reader of hostile metadata. */
static void load_tokenizer(const slm__gguf_t *g)
{
    slm__tokenizer_t *tok = NULL;
    if (slm__tokenizer_load(g, &tok) != SLM_OK) {
        fz_check(tok == NULL, "failed load left a tokenizer");
        return;
    }
    uint32_t n = slm__tok_n_vocab(tok);
    for (int32_t id = 0; id < (int32_t)n && id < 512; id++) {
        const char *piece;
        size_t len;
        if (slm__tok_piece(tok, id, SLM__DEC_SPECIAL, &piece, &len) == SLM_OK)
            touch(piece, len);
    }
    int32_t ids[64];
    size_t n_ids;
    static const char text[] = "Hello world <s> \xe2\x96\x81 \xff\xfe";
    if (slm__tok_encode(tok, text, sizeof text - 1, SLM__ENC_PARSE_SPECIAL, ids, 64, &n_ids) ==
        SLM_OK) {
        char out[1024];
        size_t n_out;
        (void)slm__tok_decode(tok, ids, n_ids, 0, out, sizeof out, &n_out);
    }
    slm__tokenizer_free(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    slm__gguf_t *g = NULL;
    if (slm__gguf_open_memory(data, size, "fuzz.gguf", &g) != SLM_OK) {
        fz_check(g == NULL, "failed open left a reader");
        fz_check(slm_last_error()[0] != '\0', "failure without a message");
        return 0;
    }
    fz_check(g->version == 2 || g->version == 3, "version %u", g->version);
    fz_check(g->data_offset <= size, "data offset %zu past %zu", g->data_offset, size);
    read_metadata(g, data, size);
    read_tensors(g, data, size);
    load_tokenizer(g);
    slm__gguf_close(g);
    return 0;
}
