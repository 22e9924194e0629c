/*
** qnn_cache.h -- the npu-qnn shim's disk cache of QNN context binaries.
**
** Finalizing a graph for the HTP is slow (the backend compiles it), so each
** weight's finalized graphs are saved as the context binary the runtime
** gives (contextGetBinary) and loaded next time with
** contextCreateFromBinary. One file per weight matrix, named by the hash of
** its GGUF bytes, its dtype, shape and smallest row bucket:
**
**   <cache_dir>/<hash>-t<dtype>-<K>x<N>-b<bucket>.qnnctx
**
** A file starts with a header that says what it was built from and by
** which runtime; a header that does not match what is about to run -- other
** runtime version or build, other weights, other buckets, a damaged or
** truncated file -- is reported and the entry is rebuilt and overwritten,
** never used. The runtime checks its own binary again when loading it.
*/
#ifndef QNN_CACHE_H
#define QNN_CACHE_H

#include <stddef.h>
#include <stdint.h>

#define QNN_CACHE_MAX_BUCKETS 8
#define QNN_CACHE_TAG 160

typedef struct qnn_cache_header {
    char magic[8];                  /* "SLMQNNC1" */
    uint32_t format;                /* 1 */
    uint32_t dtype;                 /* slm_dtype_t of the GGUF weight */
    char runtime[QNN_CACHE_TAG];    /* API versions and build id of the runtime */
    uint64_t weight_hash;           /* qnn_hash of the weight's GGUF bytes */
    uint32_t k, n;                  /* weight shape: n rows of k */
    uint32_t n_buckets;             /* graphs in the context, one per M bucket */
    uint32_t reserved;
    uint32_t buckets[QNN_CACHE_MAX_BUCKETS];  /* rows of each graph */
    uint32_t in_id[QNN_CACHE_MAX_BUCKETS];    /* its input tensor's id */
    uint32_t out_id[QNN_CACHE_MAX_BUCKETS];   /* its output tensor's id */
    double nmse, max_abs;           /* the conversion's error, for the log */
    uint64_t payload_size;          /* bytes of context binary that follow */
    uint64_t payload_hash;          /* qnn_hash of them */
} qnn_cache_header;

/* A 64-bit hash of n bytes (not cryptographic: it finds changed weights
** and damaged files, not attacks). */
uint64_t qnn_hash(const void *p, size_t n);

/* The default cache folder: $XDG_CACHE_HOME/slm/qnn, else
** $HOME/.cache/slm/qnn. 0, or -1 when neither is set. */
int qnn_cache_default_dir(char *buf, size_t len);

/* The file of one weight in `dir`. */
void qnn_cache_path(char *buf, size_t len, const char *dir, const qnn_cache_header *key);

/*
** Read the file at `path` if it holds what `want` describes (same runtime,
** weights, shape and buckets; its payload intact). On success returns 1
** and fills *got (ids and error figures) and *payload (caller frees).
** Returns 0 when there is no file, and -1 with the reason in `why` when
** there is one that cannot be used.
*/
int qnn_cache_read(const char *path, const qnn_cache_header *want, qnn_cache_header *got,
                   void **payload, char *why, size_t whylen);

/* Write header and payload to `path` through a temporary file and a
** rename, creating `dir` (and its parents) as needed. 0, or -1 with the
** reason in `why`. */
int qnn_cache_write(const char *dir, const char *path, const qnn_cache_header *h,
                    const void *payload, char *why, size_t whylen);

#endif /* QNN_CACHE_H */
