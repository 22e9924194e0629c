/*
** gguf_reader.c -- parse a GGUF file in place, trusting nothing in it.
**
** Layout (little-endian): magic "GGUF", u32 version, u64 n_tensors, u64 n_kv,
** then n_kv x {string key, u32 type, value}, then n_tensors x {string name,
** u32 n_dims, u64 ne[n_dims], u32 type, u64 offset}, padding to the
** alignment, and the data section. A string is a u64 length and its bytes.
**
** Every read goes through a cursor that knows how many bytes remain. Counts
** read from the file are compared with what the remaining bytes could hold
** before anything is allocated for them, so an absurd count fails at once.
*/
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf_reader.h"
#include "runtime_internal.h"

#define GGUF_MAGIC 0x46554747u        /* "GGUF" read as little-endian u32 */
#define GGUF_DEFAULT_ALIGNMENT 32u
#define GGUF_MAX_ALIGNMENT (1u << 20)
#define GGUF_MAX_KEY 65535u

/* ------------------------------------------------------------- type tables */

typedef struct type_traits {
    const char *name;
    uint32_t block_elems;   /* 0: id not defined by GGUF */
    uint32_t block_bytes;
} type_traits_t;

/* Every tensor type GGUF defines, so that sizes are checked even for types
** slm does not compute (those are refused later, by name, at model load). */
static const type_traits_t tensor_types[] = {
    [0] = { "f32", 1, 4 },        [1] = { "f16", 1, 2 },
    [2] = { "q4_0", 32, 18 },     [3] = { "q4_1", 32, 20 },
    [6] = { "q5_0", 32, 22 },     [7] = { "q5_1", 32, 24 },
    [8] = { "q8_0", 32, 34 },     [9] = { "q8_1", 32, 36 },
    [10] = { "q2_K", 256, 84 },   [11] = { "q3_K", 256, 110 },
    [12] = { "q4_K", 256, 144 },  [13] = { "q5_K", 256, 176 },
    [14] = { "q6_K", 256, 210 },  [15] = { "q8_K", 256, 292 },
    [16] = { "iq2_xxs", 256, 66 }, [17] = { "iq2_xs", 256, 74 },
    [18] = { "iq3_xxs", 256, 98 }, [19] = { "iq1_s", 256, 50 },
    [20] = { "iq4_nl", 32, 18 },  [21] = { "iq3_s", 256, 110 },
    [22] = { "iq2_s", 256, 82 },  [23] = { "iq4_xs", 256, 136 },
    [24] = { "i8", 1, 1 },        [25] = { "i16", 1, 2 },
    [26] = { "i32", 1, 4 },       [27] = { "i64", 1, 8 },
    [28] = { "f64", 1, 8 },       [29] = { "iq1_m", 256, 56 },
    [30] = { "bf16", 1, 2 },      [34] = { "tq1_0", 256, 54 },
    [35] = { "tq2_0", 256, 66 },  [39] = { "mxfp4", 32, 17 },
};
#define N_TENSOR_TYPES (sizeof tensor_types / sizeof tensor_types[0])

static const type_traits_t *tensor_type(uint32_t type)
{
    if (type >= N_TENSOR_TYPES || tensor_types[type].block_elems == 0)
        return NULL;
    return &tensor_types[type];
}

const char *slm__gguf_type_name(uint32_t type)
{
    const type_traits_t *t = tensor_type(type);
    return t ? t->name : NULL;
}

static const char *const kv_type_names[SLM_GGUF_TYPE_COUNT] = {
    "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
    "bool", "string", "array", "uint64", "int64", "float64",
};

const char *slm__gguf_kv_type_name(slm__gguf_type_t type)
{
    return (unsigned)type < SLM_GGUF_TYPE_COUNT ? kv_type_names[type] : "?";
}

size_t slm__gguf_type_size(slm__gguf_type_t type)
{
    switch (type) {
    case SLM_GGUF_UINT8: case SLM_GGUF_INT8: case SLM_GGUF_BOOL: return 1;
    case SLM_GGUF_UINT16: case SLM_GGUF_INT16: return 2;
    case SLM_GGUF_UINT32: case SLM_GGUF_INT32: case SLM_GGUF_FLOAT32: return 4;
    case SLM_GGUF_UINT64: case SLM_GGUF_INT64: case SLM_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

/* ------------------------------------------------------------------ cursor */

typedef struct cursor {
    const slm__gguf_t *g;
    size_t pos;
} cursor_t;

static size_t remaining(const cursor_t *c)
{
    return c->g->size - c->pos;
}

/* Fail unless n more bytes exist; `what` names the field being read. */
static slm_status_t need(const cursor_t *c, uint64_t n, const char *what)
{
    if (n > remaining(c))
        return slm__error(SLM_ERR_FORMAT,
                          "%s: %s at byte %zu needs %" PRIu64
                          " bytes, only %zu left (truncated file?)",
                          c->g->name, what, c->pos, n, remaining(c));
    return SLM_OK;
}

static uint32_t peek_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t peek_u64(const uint8_t *p)
{
    return (uint64_t)peek_u32(p) | (uint64_t)peek_u32(p + 4) << 32;
}

static slm_status_t read_u32(cursor_t *c, const char *what, uint32_t *out)
{
    slm_status_t st = need(c, 4, what);
    if (st != SLM_OK)
        return st;
    *out = peek_u32(c->g->base + c->pos);
    c->pos += 4;
    return SLM_OK;
}

static slm_status_t read_u64(cursor_t *c, const char *what, uint64_t *out)
{
    slm_status_t st = need(c, 8, what);
    if (st != SLM_OK)
        return st;
    *out = peek_u64(c->g->base + c->pos);
    c->pos += 8;
    return SLM_OK;
}

static slm_status_t read_str(cursor_t *c, const char *what, slm__gguf_str_t *out)
{
    uint64_t len;
    slm_status_t st = read_u64(c, what, &len);
    if (st == SLM_OK)
        st = need(c, len, what);
    if (st != SLM_OK)
        return st;
    out->ptr = (const char *)c->g->base + c->pos;
    out->len = (size_t)len;
    c->pos += (size_t)len;
    return SLM_OK;
}

/* For messages: a counted string, shortened and made printable. */
static const char *printable(slm__gguf_str_t s, char *buf, size_t n)
{
    size_t len = s.len < n - 1 ? s.len : n - 1;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s.ptr[i];
        buf[i] = (ch >= 0x20 && ch < 0x7F) ? (char)ch : '?';
    }
    buf[len] = '\0';
    if (s.len > len && n > 4)
        memcpy(buf + n - 4, "...", 4);
    return buf;
}

bool slm__gguf_str_eq(slm__gguf_str_t s, const char *c)
{
    size_t n = strlen(c);
    return s.len == n && memcmp(s.ptr, c, n) == 0;
}

/* ---------------------------------------------------------------- metadata */

/* Skip one value of a fixed-size or string type; record string offsets for
** arrays of strings. */
static slm_status_t skip_scalar(cursor_t *c, slm__gguf_type_t type,
                                const char *key)
{
    if (type == SLM_GGUF_STRING) {
        slm__gguf_str_t s;
        return read_str(c, key, &s);
    }
    size_t n = slm__gguf_type_size(type);
    slm_status_t st = need(c, n, key);
    if (st == SLM_OK)
        c->pos += n;
    return st;
}

static slm_status_t read_array(cursor_t *c, slm__gguf_kv_t *kv, const char *key)
{
    uint32_t elem;
    uint64_t count;
    slm_status_t st = read_u32(c, key, &elem);
    if (st == SLM_OK)
        st = read_u64(c, key, &count);
    if (st != SLM_OK)
        return st;
    if (elem == SLM_GGUF_ARRAY)
        return slm__error(SLM_ERR_FORMAT, "%s: key '%s': arrays of arrays are not supported",
                          c->g->name, key);
    if (elem >= SLM_GGUF_TYPE_COUNT)
        return slm__error(SLM_ERR_FORMAT, "%s: key '%s': unknown array element type %u",
                          c->g->name, key, elem);
    kv->elem_type = (slm__gguf_type_t)elem;
    kv->count = count;
    kv->value = c->g->base + c->pos;

    if (elem != SLM_GGUF_STRING) {
        size_t sz = slm__gguf_type_size((slm__gguf_type_t)elem);
        if (count > remaining(c) / sz)
            return slm__error(SLM_ERR_FORMAT,
                              "%s: key '%s': array of %" PRIu64 " %s needs more bytes than the %zu left",
                              c->g->name, key, count, kv_type_names[elem], remaining(c));
        c->pos += (size_t)count * sz;
        return SLM_OK;
    }
    /* Each string takes at least its 8-byte length: bound the count first. */
    if (count > remaining(c) / 8)
        return slm__error(SLM_ERR_FORMAT,
                          "%s: key '%s': array of %" PRIu64 " strings cannot fit in the %zu bytes left",
                          c->g->name, key, count, remaining(c));
    kv->str_offsets = malloc((size_t)(count ? count : 1) * sizeof *kv->str_offsets);
    if (!kv->str_offsets)
        return slm__error(SLM_ERR_NO_MEMORY, "%s: key '%s': out of memory", c->g->name, key);
    size_t start = c->pos;
    for (uint64_t i = 0; i < count; i++) {
        kv->str_offsets[i] = c->pos - start;
        st = skip_scalar(c, SLM_GGUF_STRING, key);
        if (st != SLM_OK)
            return st;
    }
    return SLM_OK;
}

static slm_status_t read_kv(cursor_t *c, uint64_t index, slm__gguf_kv_t *kv)
{
    char what[64], key[128];
    snprintf(what, sizeof what, "key of metadata entry %" PRIu64, index);
    slm_status_t st = read_str(c, what, &kv->key);
    if (st != SLM_OK)
        return st;
    if (kv->key.len == 0 || kv->key.len > GGUF_MAX_KEY)
        return slm__error(SLM_ERR_FORMAT, "%s: metadata entry %" PRIu64 ": key length %zu out of range 1..%u",
                          c->g->name, index, kv->key.len, GGUF_MAX_KEY);
    printable(kv->key, key, sizeof key);
    uint32_t type;
    st = read_u32(c, key, &type);
    if (st != SLM_OK)
        return st;
    if (type >= SLM_GGUF_TYPE_COUNT)
        return slm__error(SLM_ERR_FORMAT, "%s: key '%s': unknown value type %u",
                          c->g->name, key, type);
    kv->type = (slm__gguf_type_t)type;
    kv->value = c->g->base + c->pos;
    if (type == SLM_GGUF_ARRAY)
        return read_array(c, kv, key);
    return skip_scalar(c, kv->type, key);
}

static int cmp_str(const void *a, const void *b)
{
    const slm__gguf_str_t *x = a, *y = b;
    int c = memcmp(x->ptr, y->ptr, x->len < y->len ? x->len : y->len);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Fail if two of the n names (the first at `first`, then every `stride`
** bytes) are equal. Sorting a copy keeps this O(n log n): a pairwise scan
** let a few megabytes of short distinct names stall the open for minutes. */
static slm_status_t check_unique(const slm__gguf_t *g, const void *first,
                                 size_t stride, uint64_t n, const char *what)
{
    if (n < 2)
        return SLM_OK;
    slm__gguf_str_t *s = malloc((size_t)n * sizeof *s);
    if (!s)
        return slm__error(SLM_ERR_NO_MEMORY, "%s: out of memory", g->name);
    for (uint64_t i = 0; i < n; i++)
        memcpy(&s[i], (const char *)first + i * stride, sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_str);
    slm_status_t st = SLM_OK;
    for (uint64_t i = 1; i < n && st == SLM_OK; i++)
        if (cmp_str(&s[i - 1], &s[i]) == 0) {
            char name[128];
            st = slm__error(SLM_ERR_FORMAT, "%s: %s '%s' appears twice", g->name, what,
                            printable(s[i], name, sizeof name));
        }
    free(s);
    return st;
}

static slm_status_t check_unique_keys(const slm__gguf_t *g)
{
    return check_unique(g, &g->kv[0].key, sizeof g->kv[0], g->n_kv, "key");
}

/* ----------------------------------------------------------------- tensors */

static slm_status_t read_tensor_info(cursor_t *c, uint64_t index,
                                     slm__gguf_tensor_t *t)
{
    const char *file = c->g->name;
    char what[64], name[128];
    snprintf(what, sizeof what, "name of tensor %" PRIu64, index);
    slm_status_t st = read_str(c, what, &t->name);
    if (st != SLM_OK)
        return st;
    printable(t->name, name, sizeof name);
    if (t->name.len == 0)
        return slm__error(SLM_ERR_FORMAT, "%s: tensor %" PRIu64 ": empty name", file, index);
    /* Graph tensors hold names of at most SLM_MAX_NAME - 1 bytes, as ggml's
    ** do: a longer one could never be bound to a weight. */
    if (t->name.len >= SLM_MAX_NAME)
        return slm__error(SLM_ERR_FORMAT, "%s: tensor %" PRIu64 " '%s': name of %zu bytes, longer than %d",
                          file, index, name, t->name.len, SLM_MAX_NAME - 1);

    uint32_t n_dims;
    if ((st = read_u32(c, name, &n_dims)) != SLM_OK)
        return st;
    if (n_dims < 1 || n_dims > SLM_MAX_DIMS)
        return slm__error(SLM_ERR_FORMAT, "%s: tensor '%s': n_dims %u out of range 1..%d",
                          file, name, n_dims, SLM_MAX_DIMS);
    t->n_dims = (int)n_dims;
    uint64_t nelem = 1;
    for (int d = 0; d < SLM_MAX_DIMS; d++) {
        uint64_t ne = 1;
        if ((uint32_t)d < n_dims && (st = read_u64(c, name, &ne)) != SLM_OK)
            return st;
        if (ne == 0 || ne > (uint64_t)INT64_MAX)
            return slm__error(SLM_ERR_FORMAT, "%s: tensor '%s': dimension %d = %" PRId64 " is %s",
                              file, name, d, (int64_t)ne, ne ? "negative" : "zero");
        if (ne > (uint64_t)INT64_MAX / nelem)
            return slm__error(SLM_ERR_FORMAT,
                              "%s: tensor '%s': dimension %d = %" PRIu64 " overflows the element count",
                              file, name, d, ne);
        nelem *= ne;
        t->ne[d] = (int64_t)ne;
    }

    if ((st = read_u32(c, name, &t->type)) != SLM_OK)
        return st;
    const type_traits_t *tt = tensor_type(t->type);
    if (!tt)
        return slm__error(SLM_ERR_FORMAT, "%s: tensor '%s': unknown type id %u",
                          file, name, t->type);
    if ((uint64_t)t->ne[0] % tt->block_elems)
        return slm__error(SLM_ERR_FORMAT,
                          "%s: tensor '%s': ne[0]=%" PRId64 " is not a multiple of the %s block size %u",
                          file, name, t->ne[0], tt->name, tt->block_elems);
    uint64_t blocks = nelem / tt->block_elems;
    if (blocks > UINT64_MAX / tt->block_bytes)
        return slm__error(SLM_ERR_FORMAT, "%s: tensor '%s': byte size overflows", file, name);
    t->size = blocks * tt->block_bytes;
    return read_u64(c, name, &t->offset);
}

static int cmp_offset(const void *a, const void *b)
{
    const slm__gguf_tensor_t *x = *(const slm__gguf_tensor_t *const *)a;
    const slm__gguf_tensor_t *y = *(const slm__gguf_tensor_t *const *)b;
    if (x->offset != y->offset)
        return x->offset > y->offset ? 1 : -1;
    return (x > y) - (x < y);   /* file order: the same message every time */
}

/* Fail if two tensors share bytes. Reading them would be safe, but no
** converter writes such a file, and a few bytes could then stand for
** gigabytes of weights that a backend would upload once per tensor. */
static slm_status_t check_disjoint(const slm__gguf_t *g)
{
    if (g->n_tensors < 2)
        return SLM_OK;
    const slm__gguf_tensor_t **by_offset = malloc((size_t)g->n_tensors * sizeof *by_offset);
    if (!by_offset)
        return slm__error(SLM_ERR_NO_MEMORY, "%s: out of memory", g->name);
    for (uint64_t i = 0; i < g->n_tensors; i++)
        by_offset[i] = &g->tensors[i];
    qsort(by_offset, (size_t)g->n_tensors, sizeof *by_offset, cmp_offset);
    slm_status_t st = SLM_OK;
    for (uint64_t i = 1; i < g->n_tensors && st == SLM_OK; i++) {
        const slm__gguf_tensor_t *a = by_offset[i - 1], *b = by_offset[i];
        if (b->offset < a->offset + a->size) {
            char na[128], nb[128];
            st = slm__error(SLM_ERR_FORMAT,
                            "%s: tensor '%s': offset %" PRIu64 " overlaps tensor '%s' (offset %" PRIu64
                            ", size %" PRIu64 ")", g->name, printable(b->name, nb, sizeof nb),
                            b->offset, printable(a->name, na, sizeof na), a->offset, a->size);
        }
    }
    free(by_offset);
    return st;
}

/* Offsets and sizes are checked only once the data section's size is known. */
static slm_status_t place_tensors(slm__gguf_t *g)
{
    size_t data_size = g->size - g->data_offset;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        slm__gguf_tensor_t *t = &g->tensors[i];
        char name[128];
        printable(t->name, name, sizeof name);
        if (t->offset % g->alignment)
            return slm__error(SLM_ERR_FORMAT,
                              "%s: tensor '%s': offset %" PRIu64 " is not a multiple of the alignment %u",
                              g->name, name, t->offset, g->alignment);
        if (t->offset > data_size || t->size > data_size - t->offset)
            return slm__error(SLM_ERR_FORMAT,
                              "%s: tensor '%s': offset %" PRIu64 " + size %" PRIu64
                              " is past the end of the data section (%zu bytes)",
                              g->name, name, t->offset, t->size, data_size);
        t->data = g->base + g->data_offset + t->offset;
    }
    slm_status_t st = check_unique(g, &g->tensors[0].name, sizeof g->tensors[0], g->n_tensors, "tensor");
    return st != SLM_OK ? st : check_disjoint(g);
}

/* ------------------------------------------------------------------ header */

static slm_status_t read_alignment(slm__gguf_t *g)
{
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    const slm__gguf_kv_t *kv = slm__gguf_find(g, "general.alignment");
    if (!kv)
        return SLM_OK;
    if (kv->type != SLM_GGUF_UINT32)
        return slm__error(SLM_ERR_FORMAT, "%s: key 'general.alignment': type %s, expected uint32",
                          g->name, slm__gguf_kv_type_name(kv->type));
    uint32_t a = peek_u32(kv->value);
    if (a == 0 || (a & (a - 1)))
        return slm__error(SLM_ERR_FORMAT, "%s: key 'general.alignment': %u is not a power of two",
                          g->name, a);
    if (a > GGUF_MAX_ALIGNMENT)
        return slm__error(SLM_ERR_FORMAT, "%s: key 'general.alignment': %u is larger than %u",
                          g->name, a, GGUF_MAX_ALIGNMENT);
    g->alignment = a;
    return SLM_OK;
}

static slm_status_t parse(slm__gguf_t *g)
{
    cursor_t c = { g, 0 };
    uint32_t magic;
    slm_status_t st = read_u32(&c, "magic", &magic);
    if (st != SLM_OK)
        return st;
    if (magic != GGUF_MAGIC)
        return slm__error(SLM_ERR_FORMAT, "%s: not a GGUF file (magic %02x %02x %02x %02x, expected \"GGUF\")",
                          g->name, g->base[0], g->base[1], g->base[2], g->base[3]);
    if ((st = read_u32(&c, "version", &g->version)) != SLM_OK)
        return st;
    if (g->version != 2 && g->version != 3) {
        if (g->version >= 0x01000000u)
            return slm__error(SLM_ERR_FORMAT, "%s: big-endian GGUF is not supported", g->name);
        return slm__error(SLM_ERR_FORMAT, "%s: GGUF version %u is not supported (2 and 3 are)",
                          g->name, g->version);
    }
    if ((st = read_u64(&c, "tensor count", &g->n_tensors)) != SLM_OK ||
        (st = read_u64(&c, "metadata count", &g->n_kv)) != SLM_OK)
        return st;

    /* A metadata entry takes at least 8 (key length) + 1 + 4 (type) + 1
    ** bytes and a tensor info at least 8 + 1 + 4 + 8 + 4 + 8: no count can
    ** be larger than the rest of the file allows. */
    if (g->n_kv > remaining(&c) / 14)
        return slm__error(SLM_ERR_FORMAT, "%s: metadata count %" PRIu64 " is more than %zu bytes can hold",
                          g->name, g->n_kv, remaining(&c));
    if (g->n_tensors > remaining(&c) / 33)
        return slm__error(SLM_ERR_FORMAT, "%s: tensor count %" PRIu64 " is more than %zu bytes can hold",
                          g->name, g->n_tensors, remaining(&c));

    g->kv = calloc(g->n_kv ? (size_t)g->n_kv : 1, sizeof *g->kv);
    g->tensors = calloc(g->n_tensors ? (size_t)g->n_tensors : 1, sizeof *g->tensors);
    if (!g->kv || !g->tensors)
        return slm__error(SLM_ERR_NO_MEMORY, "%s: out of memory", g->name);
    for (uint64_t i = 0; i < g->n_kv; i++)
        if ((st = read_kv(&c, i, &g->kv[i])) != SLM_OK)
            return st;
    if ((st = check_unique_keys(g)) != SLM_OK || (st = read_alignment(g)) != SLM_OK)
        return st;
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if ((st = read_tensor_info(&c, i, &g->tensors[i])) != SLM_OK)
            return st;

    /* The data section starts at the next multiple of the alignment. With no
    ** tensors a file may end right after the infos, without padding. */
    size_t pad = (g->alignment - c.pos % g->alignment) % g->alignment;
    if (pad > remaining(&c)) {
        if (g->n_tensors)
            return slm__error(SLM_ERR_FORMAT, "%s: file ends inside the padding before the data section",
                              g->name);
        pad = remaining(&c);
    }
    g->data_offset = c.pos + pad;
    return place_tensors(g);
}

/* ------------------------------------------------------------- open, close */

static slm_status_t empty_file(const char *name)
{
    return slm__error(SLM_ERR_FORMAT, "%s: empty file, not a GGUF model", name);
}

static slm_status_t open_common(slm__gguf_t *g, slm__gguf_t **out)
{
    slm_status_t st = parse(g);
    if (st != SLM_OK) {
        slm__gguf_close(g);
        return st;
    }
    *out = g;
    return SLM_OK;
}

slm_status_t slm__gguf_open_memory(const void *data, size_t size,
                                   const char *name, slm__gguf_t **out)
{
    *out = NULL;
    if (size == 0)
        return empty_file(name ? name : "<memory>");
    slm__gguf_t *g = calloc(1, sizeof *g);
    if (!g || !(g->name = strdup(name ? name : "<memory>"))) {
        free(g);
        return slm__error(SLM_ERR_NO_MEMORY, "out of memory");
    }
    g->base = data;
    g->size = size;
    return open_common(g, out);
}

slm_status_t slm__gguf_open(const char *path, slm__gguf_t **out)
{
    *out = NULL;
    /* O_NONBLOCK: opening a FIFO would otherwise wait for a writer; it
    ** changes nothing for the regular files that get past fstat. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return slm__error(SLM_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int err = errno;
        close(fd);
        return slm__error(SLM_ERR_IO, "%s: %s", path, strerror(err));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return slm__error(SLM_ERR_IO, "%s: %s", path,
                          S_ISDIR(sb.st_mode) ? "is a directory" : "not a regular file");
    }
    if (sb.st_size == 0) {
        close(fd);
        return empty_file(path);
    }
    void *map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    close(fd);
    if (map == MAP_FAILED)
        return slm__error(SLM_ERR_IO, "%s: mmap: %s", path, strerror(err));

    slm__gguf_t *g = calloc(1, sizeof *g);
    if (!g || !(g->name = strdup(path))) {
        free(g);
        munmap(map, (size_t)sb.st_size);
        return slm__error(SLM_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    g->base = map;
    g->size = (size_t)sb.st_size;
    g->mapped = true;
    return open_common(g, out);
}

void slm__gguf_close(slm__gguf_t *g)
{
    if (!g)
        return;
    if (g->kv)
        for (uint64_t i = 0; i < g->n_kv; i++)
            free(g->kv[i].str_offsets);
    free(g->kv);
    free(g->tensors);
    if (g->mapped)
        munmap((void *)g->base, g->size);
    free(g->name);
    free(g);
}

/* ----------------------------------------------------------------- getters */

const slm__gguf_kv_t *slm__gguf_find(const slm__gguf_t *g, const char *key)
{
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (slm__gguf_str_eq(g->kv[i].key, key))
            return &g->kv[i];
    return NULL;
}

const slm__gguf_tensor_t *slm__gguf_tensor(const slm__gguf_t *g, const char *name)
{
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (slm__gguf_str_eq(g->tensors[i].name, name))
            return &g->tensors[i];
    return NULL;
}

static slm_status_t wrong_type(const slm__gguf_t *g, const char *key,
                               const slm__gguf_kv_t *kv, const char *expected)
{
    return slm__error(SLM_ERR_FORMAT, "%s: key '%s': type %s, expected %s",
                      g->name, key, slm__gguf_kv_type_name(kv->type), expected);
}

/* Any integer value as int64 (uint64 above INT64_MAX fails). */
static bool scalar_int(slm__gguf_type_t type, const uint8_t *p, int64_t *out)
{
    switch (type) {
    case SLM_GGUF_UINT8: *out = p[0]; return true;
    case SLM_GGUF_INT8: *out = (int8_t)p[0]; return true;
    case SLM_GGUF_UINT16: *out = (uint16_t)(p[0] | p[1] << 8); return true;
    case SLM_GGUF_INT16: *out = (int16_t)(uint16_t)(p[0] | p[1] << 8); return true;
    case SLM_GGUF_UINT32: *out = peek_u32(p); return true;
    case SLM_GGUF_INT32: *out = (int32_t)peek_u32(p); return true;
    case SLM_GGUF_INT64: *out = (int64_t)peek_u64(p); return true;
    case SLM_GGUF_UINT64: {
        uint64_t v = peek_u64(p);
        if (v > (uint64_t)INT64_MAX)
            return false;
        *out = (int64_t)v;
        return true;
    }
    default: return false;
    }
}

slm_status_t slm__gguf_get_i64(const slm__gguf_t *g, const char *key, int64_t *out)
{
    const slm__gguf_kv_t *kv = slm__gguf_find(g, key);
    if (!kv)
        return SLM_ERR_NOT_FOUND;
    if (!scalar_int(kv->type, kv->value, out))
        return wrong_type(g, key, kv, "an integer that fits in int64");
    return SLM_OK;
}

slm_status_t slm__gguf_get_u32(const slm__gguf_t *g, const char *key, uint32_t *out)
{
    int64_t v;
    slm_status_t st = slm__gguf_get_i64(g, key, &v);
    if (st != SLM_OK)
        return st;
    if (v < 0 || v > UINT32_MAX)
        return slm__error(SLM_ERR_FORMAT, "%s: key '%s': value %" PRId64 " out of range 0..%u",
                          g->name, key, v, UINT32_MAX);
    *out = (uint32_t)v;
    return SLM_OK;
}

slm_status_t slm__gguf_get_f32(const slm__gguf_t *g, const char *key, float *out)
{
    const slm__gguf_kv_t *kv = slm__gguf_find(g, key);
    if (!kv)
        return SLM_ERR_NOT_FOUND;
    if (kv->type == SLM_GGUF_FLOAT32) {
        uint32_t bits = peek_u32(kv->value);
        memcpy(out, &bits, sizeof *out);
    } else if (kv->type == SLM_GGUF_FLOAT64) {
        uint64_t bits = peek_u64(kv->value);
        double d;
        memcpy(&d, &bits, sizeof d);
        *out = (float)d;
    } else {
        int64_t v;
        if (!scalar_int(kv->type, kv->value, &v))
            return wrong_type(g, key, kv, "a number");
        *out = (float)v;
    }
    return SLM_OK;
}

slm_status_t slm__gguf_get_bool(const slm__gguf_t *g, const char *key, bool *out)
{
    const slm__gguf_kv_t *kv = slm__gguf_find(g, key);
    if (!kv)
        return SLM_ERR_NOT_FOUND;
    if (kv->type != SLM_GGUF_BOOL)
        return wrong_type(g, key, kv, "bool");
    *out = kv->value[0] != 0;
    return SLM_OK;
}

slm_status_t slm__gguf_get_str(const slm__gguf_t *g, const char *key,
                               slm__gguf_str_t *out)
{
    const slm__gguf_kv_t *kv = slm__gguf_find(g, key);
    if (!kv)
        return SLM_ERR_NOT_FOUND;
    if (kv->type != SLM_GGUF_STRING)
        return wrong_type(g, key, kv, "string");
    out->len = (size_t)peek_u64(kv->value);
    out->ptr = (const char *)kv->value + 8;
    return SLM_OK;
}

slm_status_t slm__gguf_get_array(const slm__gguf_t *g, const char *key,
                                 slm__gguf_type_t elem,
                                 const slm__gguf_kv_t **out)
{
    const slm__gguf_kv_t *kv = slm__gguf_find(g, key);
    if (!kv)
        return SLM_ERR_NOT_FOUND;
    if (kv->type != SLM_GGUF_ARRAY || kv->elem_type != elem) {
        char expected[40];
        snprintf(expected, sizeof expected, "array of %s", slm__gguf_kv_type_name(elem));
        if (kv->type == SLM_GGUF_ARRAY)
            return slm__error(SLM_ERR_FORMAT, "%s: key '%s': array of %s, expected %s",
                              g->name, key, slm__gguf_kv_type_name(kv->elem_type), expected);
        return wrong_type(g, key, kv, expected);
    }
    *out = kv;
    return SLM_OK;
}

slm__gguf_str_t slm__gguf_array_str(const slm__gguf_kv_t *kv, uint64_t i)
{
    const uint8_t *p = kv->value + kv->str_offsets[i];
    slm__gguf_str_t s = { (const char *)p + 8, (size_t)peek_u64(p) };
    return s;
}

double slm__gguf_array_num(const slm__gguf_kv_t *kv, uint64_t i)
{
    const uint8_t *p = kv->value + i * slm__gguf_type_size(kv->elem_type);
    int64_t v;
    if (kv->elem_type == SLM_GGUF_FLOAT32) {
        uint32_t bits = peek_u32(p);
        float f;
        memcpy(&f, &bits, sizeof f);
        return f;
    }
    if (kv->elem_type == SLM_GGUF_FLOAT64) {
        uint64_t bits = peek_u64(p);
        double d;
        memcpy(&d, &bits, sizeof d);
        return d;
    }
    if (kv->elem_type == SLM_GGUF_UINT64)
        return (double)peek_u64(p);
    if (kv->elem_type == SLM_GGUF_BOOL)
        return p[0] != 0;
    return scalar_int(kv->elem_type, p, &v) ? (double)v : 0.0;
}
