/*
** gguf_writer.h -- build GGUF files in memory for the tests (gw_ = GGUF
** writer).
**
** A writer holds a header, metadata entries and tensor infos; gw_build lays
** them out as GGUF bytes (little-endian, version 3, 32-byte alignment by
** default). It is deliberately independent of the runtime's reader: type
** numbers and block sizes are written out here again, so that a mistake in
** the reader cannot hide behind the same mistake in the writer.
**
** Every field the file declares is a plain struct member that a test may
** overwrite before gw_build to make the file lie: counts, string lengths,
** value and element types, array counts, n_dims and dimensions, tensor types
** and offsets, version and magic. Knobs on the writer drop the padding before
** the data section, append raw bytes, or truncate the result at any byte.
** After a build, pos_* members give where each field landed, for patching the
** bytes directly (gw_put_u32 / gw_put_u64).
**
** Allocation failures abort: this is test scaffolding.
*/
#ifndef SLM_TEST_GGUF_WRITER_H
#define SLM_TEST_GGUF_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Metadata value types, numbered as in the file. */
enum {
    GW_UINT8 = 0, GW_INT8 = 1, GW_UINT16 = 2, GW_INT16 = 3, GW_UINT32 = 4,
    GW_INT32 = 5, GW_FLOAT32 = 6, GW_BOOL = 7, GW_STRING = 8, GW_ARRAY = 9,
    GW_UINT64 = 10, GW_INT64 = 11, GW_FLOAT64 = 12
};

/* Some tensor type ids, numbered as in the file. */
enum {
    GW_F32 = 0, GW_F16 = 1, GW_Q4_0 = 2, GW_Q8_0 = 8, GW_Q4_K = 12,
    GW_Q5_K = 13, GW_Q6_K = 14, GW_I8 = 24, GW_I32 = 26, GW_F64 = 28,
    GW_BF16 = 30
};

#define GW_MAGIC 0x46554747u      /* "GGUF" as a little-endian u32 */
#define GW_MAX_DIMS 8             /* dims a tensor info can carry here */

typedef struct gw_kv {
    char *key;                    /* key bytes written, key_len of them */
    size_t key_len;
    uint64_t key_len_field;       /* the length declared before them */
    uint32_t type;                /* value type written */
    bool array;                   /* write elem_type and count after type */
    uint32_t elem_type;           /* arrays */
    uint64_t count;               /* arrays: declared element count */
    uint8_t *value;               /* bytes after the type (arrays: after
                                     the count) */
    size_t value_len;
    /* where the last gw_build put them */
    size_t pos, pos_type, pos_count, pos_value;
} gw_kv_t;

typedef struct gw_tensor {
    char *name;
    size_t name_len;
    uint64_t name_len_field;      /* declared length of the name */
    uint32_t n_dims;              /* declared; min(n_dims, 8) dims written */
    uint64_t ne[GW_MAX_DIMS];
    uint32_t type;
    uint64_t offset;              /* declared, from the data section start */
    bool offset_fixed;            /* false: gw_build sets offset to where
                                     the data really goes */
    uint8_t *data;                /* placed at the next aligned position */
    size_t data_len;
    /* where the last gw_build put them */
    size_t pos, pos_n_dims, pos_ne, pos_type, pos_offset;
    size_t data_pos;              /* real position in the data section */
} gw_tensor_t;

typedef struct gguf_writer {
    uint32_t magic;               /* GW_MAGIC */
    uint32_t version;             /* 3 */
    bool set_n_kv, set_n_tensors; /* declare the counts below instead of
                                     the real ones */
    uint64_t n_kv_field, n_tensors_field;
    uint32_t alignment;           /* layout of the data section (32); a
                                     general.alignment key is the test's to
                                     add */
    bool no_padding;              /* data section right after the infos */
    size_t truncate;              /* cut the file at this many bytes;
                                     SIZE_MAX: keep it whole */
    uint8_t *tail;                /* bytes appended after the data */
    size_t tail_len;

    gw_kv_t **kv;                 /* entries, in file order */
    size_t n_kv, cap_kv;
    gw_tensor_t **tensors;
    size_t n_tensors, cap_tensors;

    size_t data_offset;           /* where the last build put the data */
} gguf_writer_t;

/* A writer with a valid empty file. Release with gw_destroy. */
gguf_writer_t *gw_create(void);
void gw_destroy(gguf_writer_t *w);

/* ------------------------------------------------------------- metadata */

/* Each adds an entry at the end and returns it (owned by w). */
gw_kv_t *gw_kv_u8(gguf_writer_t *w, const char *key, uint8_t v);
gw_kv_t *gw_kv_i8(gguf_writer_t *w, const char *key, int8_t v);
gw_kv_t *gw_kv_u16(gguf_writer_t *w, const char *key, uint16_t v);
gw_kv_t *gw_kv_i16(gguf_writer_t *w, const char *key, int16_t v);
gw_kv_t *gw_kv_u32(gguf_writer_t *w, const char *key, uint32_t v);
gw_kv_t *gw_kv_i32(gguf_writer_t *w, const char *key, int32_t v);
gw_kv_t *gw_kv_f32(gguf_writer_t *w, const char *key, float v);
gw_kv_t *gw_kv_bool(gguf_writer_t *w, const char *key, bool v);
gw_kv_t *gw_kv_u64(gguf_writer_t *w, const char *key, uint64_t v);
gw_kv_t *gw_kv_i64(gguf_writer_t *w, const char *key, int64_t v);
gw_kv_t *gw_kv_f64(gguf_writer_t *w, const char *key, double v);
gw_kv_t *gw_kv_str(gguf_writer_t *w, const char *key, const char *v);
gw_kv_t *gw_kv_strn(gguf_writer_t *w, const char *key, const char *v, size_t len);

/* An array of `n` fixed-size elements of type `elem`, read from `v` as the
** matching C type (uint8_t, int16_t, float, bool, ...). */
gw_kv_t *gw_kv_array(gguf_writer_t *w, const char *key, uint32_t elem,
                     const void *v, uint64_t n);
/* An array of `n` NUL-terminated strings. */
gw_kv_t *gw_kv_array_str(gguf_writer_t *w, const char *key,
                         const char *const *v, uint64_t n);
/* An array header (elem, count) followed by `len` raw bytes. */
gw_kv_t *gw_kv_array_raw(gguf_writer_t *w, const char *key, uint32_t elem,
                         uint64_t count, const void *bytes, size_t len);
/* Any type id followed by `len` raw value bytes. */
gw_kv_t *gw_kv_raw(gguf_writer_t *w, const char *key, uint32_t type,
                   const void *bytes, size_t len);

/* The first entry with `key`, or NULL. */
gw_kv_t *gw_kv_find(gguf_writer_t *w, const char *key);
/* Drop the first entry with `key`; false if there is none. */
bool gw_kv_remove(gguf_writer_t *w, const char *key);

/* -------------------------------------------------------------- tensors */

/* Add a tensor info with `n_dims` dims `ne` and `len` bytes of data (copied
** from `data`, or zeros when it is NULL). The offset is set at build time
** to where the data goes unless the test fixes it. Owned by w. */
gw_tensor_t *gw_tensor(gguf_writer_t *w, const char *name, uint32_t type,
                       uint32_t n_dims, const int64_t *ne, const void *data,
                       size_t len);

/* Bytes a tensor of this type and shape takes; 0 for a type the writer
** does not know or a row that is not whole blocks. */
size_t gw_tensor_bytes(uint32_t type, uint32_t n_dims, const int64_t *ne);

gw_tensor_t *gw_tensor_find(gguf_writer_t *w, const char *name);
bool gw_tensor_remove(gguf_writer_t *w, const char *name);

/* ----------------------------------------------------- a tiny model */

/* The shape of a tiny llama: n_embd wide, n_layer layers, n_head heads
** sharing n_head_kv KV heads, a feed-forward of n_ff. */
typedef struct gw_tiny {
    uint32_t n_embd, n_layer, n_head, n_head_kv, n_ff;
} gw_tiny_t;

#define GW_TINY_DEFAULT { 16, 2, 2, 1, 32 }
#define GW_TINY_VOCAB 8

/* Its SentencePiece vocabulary: <unk> <s> </s>, then pieces of "a b". */
extern const char *const gw_tiny_vocab[GW_TINY_VOCAB];

/* A valid llama of that shape that slm loads and runs: metadata, the
** vocabulary above with scores and types, and random F32 weights (norm
** weights all 1), the same on every run. */
gguf_writer_t *gw_tiny_llama(const gw_tiny_t *shape);

/* ---------------------------------------------------------------- output */

/* Append raw bytes after the data section. */
void gw_append(gguf_writer_t *w, const void *bytes, size_t len);

/* The file as bytes; caller frees with free(). Sets every pos_* member and
** data_offset. *size is the length after truncation. */
uint8_t *gw_build(gguf_writer_t *w, size_t *size);

/* Build and write to `path`; 0 on success, -1 (errno set) on failure. */
int gw_write_file(gguf_writer_t *w, const char *path);

/* Little-endian stores, for patching built bytes or a kv's value. */
void gw_put_u32(uint8_t *p, uint32_t v);
void gw_put_u64(uint8_t *p, uint64_t v);

#endif /* SLM_TEST_GGUF_WRITER_H */
