/*
** gguf_reader.h -- reading GGUF files (versions 2 and 3).
**
** The file is mapped read-only; metadata values, strings and tensor data are
** read in place, never copied. Every count, length, offset and dimension is
** checked against the bytes that are really there before it is used, so a
** truncated or hostile file gives an SLM_ERR_FORMAT naming the file and the
** field, never an out-of-bounds read or a huge allocation.
*/
#ifndef SLM_GGUF_READER_H
#define SLM_GGUF_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slm/graph.h"

/* Metadata value types, as numbered in the file. */
typedef enum slm__gguf_type {
    SLM_GGUF_UINT8 = 0,
    SLM_GGUF_INT8 = 1,
    SLM_GGUF_UINT16 = 2,
    SLM_GGUF_INT16 = 3,
    SLM_GGUF_UINT32 = 4,
    SLM_GGUF_INT32 = 5,
    SLM_GGUF_FLOAT32 = 6,
    SLM_GGUF_BOOL = 7,
    SLM_GGUF_STRING = 8,
    SLM_GGUF_ARRAY = 9,
    SLM_GGUF_UINT64 = 10,
    SLM_GGUF_INT64 = 11,
    SLM_GGUF_FLOAT64 = 12,
    SLM_GGUF_TYPE_COUNT
} slm__gguf_type_t;

/* A string inside the mapping: not NUL-terminated. */
typedef struct slm__gguf_str {
    const char *ptr;
    size_t len;
} slm__gguf_str_t;

typedef struct slm__gguf_kv {
    slm__gguf_str_t key;
    slm__gguf_type_t type;        /* SLM_GGUF_ARRAY for arrays */
    slm__gguf_type_t elem_type;   /* arrays: type of the elements */
    uint64_t count;               /* arrays: number of elements */
    const uint8_t *value;         /* first byte of the value (array: of its
                                     first element) */
    size_t *str_offsets;          /* string arrays: offset of each element
                                     from `value`, owned */
} slm__gguf_kv_t;

typedef struct slm__gguf_tensor {
    slm__gguf_str_t name;
    uint32_t type;                /* GGUF type id; a slm_dtype_t if known */
    int n_dims;
    int64_t ne[SLM_MAX_DIMS];     /* unused dims are 1 */
    uint64_t offset;              /* from the start of the data section */
    uint64_t size;                /* bytes */
    const void *data;             /* inside the mapping */
} slm__gguf_tensor_t;

typedef struct slm__gguf {
    char *name;                   /* file path, for messages; owned */
    const uint8_t *base;          /* the mapping (or borrowed memory) */
    size_t size;
    bool mapped;                  /* base came from mmap */
    uint32_t version;
    uint32_t alignment;
    uint64_t n_kv;
    slm__gguf_kv_t *kv;
    uint64_t n_tensors;
    slm__gguf_tensor_t *tensors;
    size_t data_offset;           /* start of the data section in the file */
} slm__gguf_t;

/* Map and parse `path`. Caller owns *out; release with slm__gguf_close.
** Errors: SLM_ERR_IO (cannot open or map), SLM_ERR_FORMAT (names the field). */
slm_status_t slm__gguf_open(const char *path, slm__gguf_t **out);

/* Parse `size` bytes at `data`, borrowed until slm__gguf_close. `name` stands
** for the file in messages. */
slm_status_t slm__gguf_open_memory(const void *data, size_t size,
                                   const char *name, slm__gguf_t **out);

/* Unmap and free. NULL is a no-op. */
void slm__gguf_close(slm__gguf_t *g);

/* Name of a GGUF tensor type ("q5_K"), including types slm cannot compute;
** NULL for an id GGUF does not define. Static string. */
const char *slm__gguf_type_name(uint32_t type);

/* ----------------------------------------------------------- metadata */

/* The entry for `key`, or NULL. */
const slm__gguf_kv_t *slm__gguf_find(const slm__gguf_t *g, const char *key);

/* Typed getters. Each returns SLM_ERR_NOT_FOUND (no message set) when the
** key is absent, and SLM_ERR_FORMAT naming file, key, expected and actual
** type when it has another type. Integer getters accept any integer type
** whose value fits. */
slm_status_t slm__gguf_get_u32(const slm__gguf_t *g, const char *key, uint32_t *out);
slm_status_t slm__gguf_get_i64(const slm__gguf_t *g, const char *key, int64_t *out);
slm_status_t slm__gguf_get_f32(const slm__gguf_t *g, const char *key, float *out);
slm_status_t slm__gguf_get_bool(const slm__gguf_t *g, const char *key, bool *out);
slm_status_t slm__gguf_get_str(const slm__gguf_t *g, const char *key,
                               slm__gguf_str_t *out);
/* An array whose elements have type `elem` (SLM_ERR_FORMAT otherwise). */
slm_status_t slm__gguf_get_array(const slm__gguf_t *g, const char *key,
                                 slm__gguf_type_t elem,
                                 const slm__gguf_kv_t **out);

/* Element i of a string array (i < kv->count). */
slm__gguf_str_t slm__gguf_array_str(const slm__gguf_kv_t *kv, uint64_t i);

/* Element i of a numeric array as a double (any numeric element type). */
double slm__gguf_array_num(const slm__gguf_kv_t *kv, uint64_t i);

/* Byte size of one value of a fixed-size type; 0 for STRING and ARRAY. */
size_t slm__gguf_type_size(slm__gguf_type_t type);

/* Name of a metadata type ("uint32"). Static string. */
const char *slm__gguf_kv_type_name(slm__gguf_type_t type);

/* ------------------------------------------------------------ tensors */

/* The tensor named `name`, or NULL. */
const slm__gguf_tensor_t *slm__gguf_tensor(const slm__gguf_t *g,
                                           const char *name);

/* True when two counted strings are equal / a counted string equals a C
** string. */
bool slm__gguf_str_eq(slm__gguf_str_t s, const char *c);

#endif /* SLM_GGUF_READER_H */
