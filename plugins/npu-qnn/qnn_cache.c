/*
** qnn_cache.c -- the context-binary cache of the npu-qnn shim
** (qnn_cache.h says what is kept and when a file is refused).
*/
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qnn_cache.h"

#define MAGIC "SLMQNNC1"
/* No context binary of one weight matrix is this large (the HTP's context
** limits are far below): a bigger size field is damage, not data. */
#define MAX_PAYLOAD ((uint64_t)8 << 30)

static uint64_t rotl(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

/* Eight bytes at a time, each word multiplied in and rotated (the mixing
** of xxHash's round, without its lanes). */
uint64_t qnn_hash(const void *p, size_t n)
{
    const unsigned char *s = p;
    const uint64_t P1 = 0x9E3779B185EBCA87ull, P2 = 0xC2B2AE3D27D4EB4Full;
    uint64_t h = 0x27D4EB2F165667C5ull ^ (uint64_t)n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = rotl(h ^ (w * P2), 31) * P1;
    }
    uint64_t tail = 0;
    memcpy(&tail, s + i, n - i);
    h = rotl(h ^ (tail * P2), 31) * P1;
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    return h;
}

int qnn_cache_default_dir(char *buf, size_t len)
{
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    int n;
    if (xdg && *xdg == '/')
        n = snprintf(buf, len, "%s/slm/qnn", xdg);
    else if (home && *home)
        n = snprintf(buf, len, "%s/.cache/slm/qnn", home);
    else
        return -1;
    return n > 0 && (size_t)n < len ? 0 : -1;
}

void qnn_cache_path(char *buf, size_t len, const char *dir, const qnn_cache_header *key)
{
    snprintf(buf, len, "%s/%016llx-t%u-%ux%u-b%u.qnnctx", dir,
             (unsigned long long)key->weight_hash, (unsigned)key->dtype, (unsigned)key->k,
             (unsigned)key->n, (unsigned)key->buckets[0]);
}

static int refuse(char *why, size_t len, const char *fmt, const char *a, const char *b)
{
    snprintf(why, len, fmt, a, b);
    return -1;
}

/* Whether two headers describe the same build: all but ids and figures. */
static const char *mismatch(const qnn_cache_header *a, const qnn_cache_header *b)
{
    if (memcmp(a->magic, MAGIC, 8) != 0 || a->format != 1)
        return "not a cache file of this shim";
    if (strncmp(a->runtime, b->runtime, QNN_CACHE_TAG) != 0)
        return "runtime";
    if (a->weight_hash != b->weight_hash || a->dtype != b->dtype || a->k != b->k ||
        a->n != b->n)
        return "built from other weights";
    if (a->n_buckets != b->n_buckets ||
        memcmp(a->buckets, b->buckets, sizeof a->buckets) != 0)
        return "built for other batch buckets";
    return NULL;
}

int qnn_cache_read(const char *path, const qnn_cache_header *want, qnn_cache_header *got,
                   void **payload, char *why, size_t whylen)
{
    *payload = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        return refuse(why, whylen, "cannot open: %s%s", strerror(errno), "");
    }
    qnn_cache_header h;
    int rc = -1;
    void *buf = NULL;
    struct stat st;
    if (fread(&h, sizeof h, 1, f) != 1 || fstat(fileno(f), &st) != 0) {
        refuse(why, whylen, "truncated header%s%s", "", "");
        goto done;
    }
    h.runtime[QNN_CACHE_TAG - 1] = '\0';
    const char *m = mismatch(&h, want);
    if (m && strcmp(m, "runtime") == 0) {
        snprintf(why, whylen, "built by runtime '%s', this is '%s'", h.runtime, want->runtime);
        goto done;
    }
    if (m) {
        refuse(why, whylen, "%s%s", m, "");
        goto done;
    }
    if (h.payload_size == 0 || h.payload_size > MAX_PAYLOAD ||
        (uint64_t)st.st_size != sizeof h + h.payload_size) {
        refuse(why, whylen, "damaged: the file's size does not match its header%s%s", "", "");
        goto done;
    }
    buf = malloc((size_t)h.payload_size);
    if (!buf) {
        refuse(why, whylen, "out of memory reading it%s%s", "", "");
        goto done;
    }
    if (fread(buf, 1, (size_t)h.payload_size, f) != h.payload_size) {
        refuse(why, whylen, "truncated%s%s", "", "");
        goto done;
    }
    if (qnn_hash(buf, (size_t)h.payload_size) != h.payload_hash) {
        refuse(why, whylen, "damaged: checksum mismatch%s%s", "", "");
        goto done;
    }
    for (uint32_t i = 0; i < h.n_buckets; i++)
        if (!h.in_id[i] || !h.out_id[i] || h.in_id[i] == h.out_id[i]) {
            refuse(why, whylen, "damaged: bad tensor ids%s%s", "", "");
            goto done;
        }
    *got = h;
    *payload = buf;
    buf = NULL;
    rc = 1;
done:
    free(buf);
    fclose(f);
    return rc;
}

/* mkdir -p, each new folder private to the user. */
static int make_dirs(const char *dir)
{
    char p[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof p)
        return -1;
    memcpy(p, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char c = p[i];
        p[i] = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST)
            return -1;
        p[i] = c;
    }
    return 0;
}

int qnn_cache_write(const char *dir, const char *path, const qnn_cache_header *h,
                    const void *payload, char *why, size_t whylen)
{
    if (make_dirs(dir) != 0) {
        snprintf(why, whylen, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        snprintf(why, whylen, "cannot write %s: %s", tmp, strerror(errno));
        return -1;
    }
    int ok = fwrite(h, sizeof *h, 1, f) == 1 &&
             fwrite(payload, 1, (size_t)h->payload_size, f) == h->payload_size;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        snprintf(why, whylen, "cannot write %s: %s", path, strerror(errno));
        remove(tmp);
        return -1;
    }
    return 0;
}
