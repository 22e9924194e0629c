/*
** gguf_writer.c -- GGUF bytes in memory for the tests.
**
** Entries are stored apart (one allocation each) so that the pointers the
** adders return stay valid while more are added; gw_build serialises them
** in order, byte by byte, so the output is the same on any host.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf_writer.h"

/* ---------------------------------------------------------------- helpers */

/* Tests cannot do anything useful without memory: stop at once. */
static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fprintf(stderr, "gguf_writer: out of memory (%zu bytes)\n", n);
        abort();
    }
    return q;
}

static void *xmemdup(const void *src, size_t n)
{
    void *p = xrealloc(NULL, n);
    if (n && src)
        memcpy(p, src, n);
    else if (n)
        memset(p, 0, n);
    return p;
}

/* Room for one more element: doubling, so that tests adding tens of
** thousands of entries stay linear (a sanitizer's realloc always copies). */
static void *grow_array(void *p, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return p;
    *cap = *cap ? *cap * 2 : 16;
    return xrealloc(p, *cap * elem);
}

void gw_put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void gw_put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* A growing byte string. */
typedef struct bytes {
    uint8_t *p;
    size_t len, cap;
} bytes_t;

static uint8_t *grow(bytes_t *b, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        b->p = xrealloc(b->p, cap);
        b->cap = cap;
    }
    uint8_t *at = b->p + b->len;
    b->len += n;
    return at;
}

static void put(bytes_t *b, const void *src, size_t n)
{
    if (n)
        memcpy(grow(b, n), src, n);
}

static void put_u32(bytes_t *b, uint32_t v) { gw_put_u32(grow(b, 4), v); }
static void put_u64(bytes_t *b, uint64_t v) { gw_put_u64(grow(b, 8), v); }

static void put_zeros(bytes_t *b, size_t n)
{
    if (n)
        memset(grow(b, n), 0, n);
}

/* Byte size of one value of a fixed-size metadata type; 0 otherwise. */
static size_t value_size(uint32_t type)
{
    switch (type) {
    case GW_UINT8: case GW_INT8: case GW_BOOL: return 1;
    case GW_UINT16: case GW_INT16: return 2;
    case GW_UINT32: case GW_INT32: case GW_FLOAT32: return 4;
    case GW_UINT64: case GW_INT64: case GW_FLOAT64: return 8;
    default: return 0;
    }
}

/* Element i of a C array of the type matching `type`, as little-endian
** bytes in `out`. Going through the C type (not memcpy of the array) keeps
** bool and the widths right whatever the host. */
static void encode_elem(uint32_t type, const void *v, uint64_t i, uint8_t *out)
{
    switch (type) {
    case GW_UINT8: out[0] = ((const uint8_t *)v)[i]; break;
    case GW_INT8: out[0] = (uint8_t)((const int8_t *)v)[i]; break;
    case GW_BOOL: out[0] = ((const bool *)v)[i] ? 1 : 0; break;
    case GW_UINT16: {
        uint16_t x = ((const uint16_t *)v)[i];
        out[0] = (uint8_t)x, out[1] = (uint8_t)(x >> 8);
        break;
    }
    case GW_INT16: {
        uint16_t x = (uint16_t)((const int16_t *)v)[i];
        out[0] = (uint8_t)x, out[1] = (uint8_t)(x >> 8);
        break;
    }
    case GW_UINT32: gw_put_u32(out, ((const uint32_t *)v)[i]); break;
    case GW_INT32: gw_put_u32(out, (uint32_t)((const int32_t *)v)[i]); break;
    case GW_FLOAT32: {
        uint32_t bits;
        memcpy(&bits, &((const float *)v)[i], 4);
        gw_put_u32(out, bits);
        break;
    }
    case GW_UINT64: gw_put_u64(out, ((const uint64_t *)v)[i]); break;
    case GW_INT64: gw_put_u64(out, (uint64_t)((const int64_t *)v)[i]); break;
    case GW_FLOAT64: {
        uint64_t bits;
        memcpy(&bits, &((const double *)v)[i], 8);
        gw_put_u64(out, bits);
        break;
    }
    default:
        fprintf(stderr, "gguf_writer: type %u has no fixed size\n", type);
        abort();
    }
}

/* --------------------------------------------------------------- lifecycle */

gguf_writer_t *gw_create(void)
{
    gguf_writer_t *w = xrealloc(NULL, sizeof *w);
    memset(w, 0, sizeof *w);
    w->magic = GW_MAGIC;
    w->version = 3;
    w->alignment = 32;
    w->truncate = SIZE_MAX;
    return w;
}

static void free_kv(gw_kv_t *kv)
{
    free(kv->key);
    free(kv->value);
    free(kv);
}

static void free_tensor(gw_tensor_t *t)
{
    free(t->name);
    free(t->data);
    free(t);
}

void gw_destroy(gguf_writer_t *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n_kv; i++)
        free_kv(w->kv[i]);
    for (size_t i = 0; i < w->n_tensors; i++)
        free_tensor(w->tensors[i]);
    free(w->kv);
    free(w->tensors);
    free(w->tail);
    free(w);
}

/* ---------------------------------------------------------------- metadata */

static gw_kv_t *add_kv(gguf_writer_t *w, const char *key, uint32_t type,
                       const void *value, size_t len)
{
    gw_kv_t *kv = xrealloc(NULL, sizeof *kv);
    memset(kv, 0, sizeof *kv);
    kv->key_len = strlen(key);
    kv->key = xmemdup(key, kv->key_len);
    kv->key_len_field = kv->key_len;
    kv->type = type;
    kv->value = xmemdup(value, len);
    kv->value_len = len;
    w->kv = grow_array(w->kv, &w->cap_kv, w->n_kv, sizeof *w->kv);
    w->kv[w->n_kv++] = kv;
    return kv;
}

static gw_kv_t *add_scalar(gguf_writer_t *w, const char *key, uint32_t type, const void *v)
{
    uint8_t buf[8];
    encode_elem(type, v, 0, buf);
    return add_kv(w, key, type, buf, value_size(type));
}

gw_kv_t *gw_kv_u8(gguf_writer_t *w, const char *key, uint8_t v) { return add_scalar(w, key, GW_UINT8, &v); }
gw_kv_t *gw_kv_i8(gguf_writer_t *w, const char *key, int8_t v) { return add_scalar(w, key, GW_INT8, &v); }
gw_kv_t *gw_kv_u16(gguf_writer_t *w, const char *key, uint16_t v) { return add_scalar(w, key, GW_UINT16, &v); }
gw_kv_t *gw_kv_i16(gguf_writer_t *w, const char *key, int16_t v) { return add_scalar(w, key, GW_INT16, &v); }
gw_kv_t *gw_kv_u32(gguf_writer_t *w, const char *key, uint32_t v) { return add_scalar(w, key, GW_UINT32, &v); }
gw_kv_t *gw_kv_i32(gguf_writer_t *w, const char *key, int32_t v) { return add_scalar(w, key, GW_INT32, &v); }
gw_kv_t *gw_kv_f32(gguf_writer_t *w, const char *key, float v) { return add_scalar(w, key, GW_FLOAT32, &v); }
gw_kv_t *gw_kv_bool(gguf_writer_t *w, const char *key, bool v) { return add_scalar(w, key, GW_BOOL, &v); }
gw_kv_t *gw_kv_u64(gguf_writer_t *w, const char *key, uint64_t v) { return add_scalar(w, key, GW_UINT64, &v); }
gw_kv_t *gw_kv_i64(gguf_writer_t *w, const char *key, int64_t v) { return add_scalar(w, key, GW_INT64, &v); }
gw_kv_t *gw_kv_f64(gguf_writer_t *w, const char *key, double v) { return add_scalar(w, key, GW_FLOAT64, &v); }

/* A GGUF string: u64 length, then the bytes. */
static void put_str(bytes_t *b, const char *s, size_t len)
{
    put_u64(b, len);
    put(b, s, len);
}

gw_kv_t *gw_kv_strn(gguf_writer_t *w, const char *key, const char *v, size_t len)
{
    bytes_t b = { 0 };
    put_str(&b, v, len);
    gw_kv_t *kv = add_kv(w, key, GW_STRING, b.p, b.len);
    free(b.p);
    return kv;
}

gw_kv_t *gw_kv_str(gguf_writer_t *w, const char *key, const char *v)
{
    return gw_kv_strn(w, key, v, strlen(v));
}

gw_kv_t *gw_kv_array_raw(gguf_writer_t *w, const char *key, uint32_t elem,
                         uint64_t count, const void *bytes, size_t len)
{
    gw_kv_t *kv = add_kv(w, key, GW_ARRAY, bytes, len);
    kv->array = true;
    kv->elem_type = elem;
    kv->count = count;
    return kv;
}

gw_kv_t *gw_kv_array(gguf_writer_t *w, const char *key, uint32_t elem,
                     const void *v, uint64_t n)
{
    size_t sz = value_size(elem);
    if (!sz) {
        fprintf(stderr, "gguf_writer: gw_kv_array needs a fixed-size type, not %u\n", elem);
        abort();
    }
    bytes_t b = { 0 };
    for (uint64_t i = 0; i < n; i++)
        encode_elem(elem, v, i, grow(&b, sz));
    gw_kv_t *kv = gw_kv_array_raw(w, key, elem, n, b.p, b.len);
    free(b.p);
    return kv;
}

gw_kv_t *gw_kv_array_str(gguf_writer_t *w, const char *key,
                         const char *const *v, uint64_t n)
{
    bytes_t b = { 0 };
    for (uint64_t i = 0; i < n; i++)
        put_str(&b, v[i], strlen(v[i]));
    gw_kv_t *kv = gw_kv_array_raw(w, key, GW_STRING, n, b.p, b.len);
    free(b.p);
    return kv;
}

gw_kv_t *gw_kv_raw(gguf_writer_t *w, const char *key, uint32_t type,
                   const void *bytes, size_t len)
{
    return add_kv(w, key, type, bytes, len);
}

static bool key_is(const gw_kv_t *kv, const char *key)
{
    return kv->key_len == strlen(key) && memcmp(kv->key, key, kv->key_len) == 0;
}

gw_kv_t *gw_kv_find(gguf_writer_t *w, const char *key)
{
    for (size_t i = 0; i < w->n_kv; i++)
        if (key_is(w->kv[i], key))
            return w->kv[i];
    return NULL;
}

bool gw_kv_remove(gguf_writer_t *w, const char *key)
{
    for (size_t i = 0; i < w->n_kv; i++)
        if (key_is(w->kv[i], key)) {
            free_kv(w->kv[i]);
            memmove(&w->kv[i], &w->kv[i + 1], (w->n_kv - i - 1) * sizeof *w->kv);
            w->n_kv--;
            return true;
        }
    return false;
}

/* ----------------------------------------------------------------- tensors */

/* Elements per block and bytes per block of the tensor types the tests use. */
static bool block_of(uint32_t type, uint64_t *elems, uint64_t *bytes)
{
    switch (type) {
    case GW_F32: *elems = 1, *bytes = 4; return true;
    case GW_F16: case GW_BF16: *elems = 1, *bytes = 2; return true;
    case GW_I8: *elems = 1, *bytes = 1; return true;
    case GW_I32: *elems = 1, *bytes = 4; return true;
    case GW_F64: *elems = 1, *bytes = 8; return true;
    case GW_Q4_0: *elems = 32, *bytes = 18; return true;
    case GW_Q8_0: *elems = 32, *bytes = 34; return true;
    case GW_Q4_K: *elems = 256, *bytes = 144; return true;
    case GW_Q5_K: *elems = 256, *bytes = 176; return true;
    case GW_Q6_K: *elems = 256, *bytes = 210; return true;
    default: return false;
    }
}

size_t gw_tensor_bytes(uint32_t type, uint32_t n_dims, const int64_t *ne)
{
    uint64_t be, bb;
    if (!block_of(type, &be, &bb) || n_dims == 0 || ne[0] <= 0 || (uint64_t)ne[0] % be)
        return 0;
    uint64_t n = 1;
    for (uint32_t d = 0; d < n_dims; d++)
        n *= (uint64_t)ne[d];
    return (size_t)(n / be * bb);
}

gw_tensor_t *gw_tensor(gguf_writer_t *w, const char *name, uint32_t type,
                       uint32_t n_dims, const int64_t *ne, const void *data,
                       size_t len)
{
    gw_tensor_t *t = xrealloc(NULL, sizeof *t);
    memset(t, 0, sizeof *t);
    t->name_len = strlen(name);
    t->name = xmemdup(name, t->name_len);
    t->name_len_field = t->name_len;
    t->n_dims = n_dims;
    for (uint32_t d = 0; d < n_dims && d < GW_MAX_DIMS; d++)
        t->ne[d] = (uint64_t)ne[d];
    t->type = type;
    t->data = xmemdup(data, len);
    t->data_len = len;
    w->tensors = grow_array(w->tensors, &w->cap_tensors, w->n_tensors, sizeof *w->tensors);
    w->tensors[w->n_tensors++] = t;
    return t;
}

static bool name_is(const gw_tensor_t *t, const char *name)
{
    return t->name_len == strlen(name) && memcmp(t->name, name, t->name_len) == 0;
}

gw_tensor_t *gw_tensor_find(gguf_writer_t *w, const char *name)
{
    for (size_t i = 0; i < w->n_tensors; i++)
        if (name_is(w->tensors[i], name))
            return w->tensors[i];
    return NULL;
}

bool gw_tensor_remove(gguf_writer_t *w, const char *name)
{
    for (size_t i = 0; i < w->n_tensors; i++)
        if (name_is(w->tensors[i], name)) {
            free_tensor(w->tensors[i]);
            memmove(&w->tensors[i], &w->tensors[i + 1],
                    (w->n_tensors - i - 1) * sizeof *w->tensors);
            w->n_tensors--;
            return true;
        }
    return false;
}

/* ------------------------------------------------------------------ output */

void gw_append(gguf_writer_t *w, const void *bytes, size_t len)
{
    w->tail = xrealloc(w->tail, w->tail_len + len);
    memcpy(w->tail + w->tail_len, bytes, len);
    w->tail_len += len;
}

/* Round up to a multiple of a (any a >= 1, not only powers of two, so a
** test may lay out data with an alignment the reader must refuse). */
static size_t align_up(size_t x, size_t a)
{
    return a > 1 ? (x + a - 1) / a * a : x;
}

uint8_t *gw_build(gguf_writer_t *w, size_t *size)
{
    bytes_t b = { 0 };
    put_u32(&b, w->magic);
    put_u32(&b, w->version);
    put_u64(&b, w->set_n_tensors ? w->n_tensors_field : w->n_tensors);
    put_u64(&b, w->set_n_kv ? w->n_kv_field : w->n_kv);

    for (size_t i = 0; i < w->n_kv; i++) {
        gw_kv_t *kv = w->kv[i];
        kv->pos = b.len;
        put_u64(&b, kv->key_len_field);
        put(&b, kv->key, kv->key_len);
        kv->pos_type = b.len;
        put_u32(&b, kv->type);
        kv->pos_count = b.len;
        if (kv->array) {
            put_u32(&b, kv->elem_type);
            kv->pos_count = b.len;
            put_u64(&b, kv->count);
        }
        kv->pos_value = b.len;
        put(&b, kv->value, kv->value_len);
    }

    /* Data positions first: the infos carry the offsets. */
    size_t data_len = 0;
    for (size_t i = 0; i < w->n_tensors; i++) {
        gw_tensor_t *t = w->tensors[i];
        t->data_pos = align_up(data_len, w->alignment);
        data_len = t->data_pos + t->data_len;
        if (!t->offset_fixed)
            t->offset = t->data_pos;
    }
    for (size_t i = 0; i < w->n_tensors; i++) {
        gw_tensor_t *t = w->tensors[i];
        t->pos = b.len;
        put_u64(&b, t->name_len_field);
        put(&b, t->name, t->name_len);
        t->pos_n_dims = b.len;
        put_u32(&b, t->n_dims);
        t->pos_ne = b.len;
        for (uint32_t d = 0; d < t->n_dims && d < GW_MAX_DIMS; d++)
            put_u64(&b, t->ne[d]);
        t->pos_type = b.len;
        put_u32(&b, t->type);
        t->pos_offset = b.len;
        put_u64(&b, t->offset);
    }

    if (!w->no_padding)
        put_zeros(&b, align_up(b.len, w->alignment) - b.len);
    w->data_offset = b.len;
    put_zeros(&b, data_len);
    for (size_t i = 0; i < w->n_tensors; i++) {
        gw_tensor_t *t = w->tensors[i];
        if (t->data_len)
            memcpy(b.p + w->data_offset + t->data_pos, t->data, t->data_len);
    }
    put(&b, w->tail, w->tail_len);

    if (w->truncate < b.len)
        b.len = w->truncate;
    *size = b.len;
    /* An exact-size block, so that a sanitizer catches a read one byte past
    ** the end of the file. */
    uint8_t *out = xmemdup(b.p, b.len);
    free(b.p);
    return out;
}

int gw_write_file(gguf_writer_t *w, const char *path)
{
    size_t n;
    uint8_t *p = gw_build(w, &n);
    FILE *f = fopen(path, "wb");
    int rc = -1;
    if (f) {
        rc = fwrite(p, 1, n, f) == n ? 0 : -1;
        if (fclose(f) != 0)
            rc = -1;
    }
    int err = errno;
    free(p);
    errno = err;
    return rc;
}

/* ----------------------------------------------------------- a tiny model */

const char *const gw_tiny_vocab[GW_TINY_VOCAB] = {
    "<unk>", "<s>", "</s>", "\xe2\x96\x81", "a", "b", "\xe2\x96\x81" "a", "\xe2\x96\x81" "b",
};

/* xorshift64*: the same weights on every host. */
static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

/* A weight of ne0 x ne1 floats in -0.25..0.25 (1-D norm weights: all 1). */
static void tiny_weight(gguf_writer_t *w, uint64_t *seed, const char *name,
                        uint32_t n_dims, int64_t ne0, int64_t ne1)
{
    int64_t ne[2] = { ne0, ne1 };
    size_t n = (size_t)(ne0 * (n_dims > 1 ? ne1 : 1));
    float *v = xrealloc(NULL, n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = n_dims == 1 ? 1.0f
                           : (float)((double)(next_rand(seed) >> 11) / 9007199254740992.0 - 0.5) * 0.5f;
    gw_tensor(w, name, GW_F32, n_dims, ne, v, n * sizeof *v);
    free(v);
}

gguf_writer_t *gw_tiny_llama(const gw_tiny_t *s)
{
    gguf_writer_t *w = gw_create();
    gw_kv_str(w, "general.architecture", "llama");
    gw_kv_str(w, "general.name", "tiny");
    gw_kv_u32(w, "llama.context_length", 64);
    gw_kv_u32(w, "llama.embedding_length", s->n_embd);
    gw_kv_u32(w, "llama.block_count", s->n_layer);
    gw_kv_u32(w, "llama.feed_forward_length", s->n_ff);
    gw_kv_u32(w, "llama.attention.head_count", s->n_head);
    gw_kv_u32(w, "llama.attention.head_count_kv", s->n_head_kv);
    gw_kv_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    gw_kv_str(w, "tokenizer.ggml.model", "llama");
    gw_kv_array_str(w, "tokenizer.ggml.tokens", gw_tiny_vocab, GW_TINY_VOCAB);
    const float scores[GW_TINY_VOCAB] = { 0, 0, 0, -1.0f, -2.0f, -3.0f, -0.5f, -0.6f };
    gw_kv_array(w, "tokenizer.ggml.scores", GW_FLOAT32, scores, GW_TINY_VOCAB);
    const int32_t types[GW_TINY_VOCAB] = { 2, 3, 3, 1, 1, 1, 1, 1 };
    gw_kv_array(w, "tokenizer.ggml.token_type", GW_INT32, types, GW_TINY_VOCAB);
    gw_kv_u32(w, "tokenizer.ggml.bos_token_id", 1);
    gw_kv_u32(w, "tokenizer.ggml.eos_token_id", 2);
    gw_kv_u32(w, "tokenizer.ggml.unknown_token_id", 0);

    uint64_t seed = 0x7157u;
    const int64_t e = s->n_embd, hd = s->n_embd / s->n_head;
    const int64_t q = s->n_head * hd, kv = s->n_head_kv * hd, ff = s->n_ff;
    tiny_weight(w, &seed, "token_embd.weight", 2, e, GW_TINY_VOCAB);
    tiny_weight(w, &seed, "output_norm.weight", 1, e, 1);
    tiny_weight(w, &seed, "output.weight", 2, e, GW_TINY_VOCAB);
    for (uint32_t il = 0; il < s->n_layer; il++) {
        const struct { const char *suffix; uint32_t n; int64_t ne0, ne1; } t[] = {
            { "attn_norm.weight", 1, e, 1 }, { "attn_q.weight", 2, e, q },
            { "attn_k.weight", 2, e, kv },   { "attn_v.weight", 2, e, kv },
            { "attn_output.weight", 2, q, e }, { "ffn_norm.weight", 1, e, 1 },
            { "ffn_gate.weight", 2, e, ff }, { "ffn_up.weight", 2, e, ff },
            { "ffn_down.weight", 2, ff, e },
        };
        for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%u.%s", il, t[i].suffix);
            tiny_weight(w, &seed, name, t[i].n, t[i].ne0, t[i].ne1);
        }
    }
    return w;
}
