/*
** test_hostile.c -- open one file of the hostile corpus and require its
** error: test_hostile NAME FILE.
**
** The file is opened twice: by path, mapped as users open models, and from
** an exact-size heap copy (slm_model_open_memory), where AddressSanitizer
** sees a read one byte past the end. Each must fail with the case's status
** and a message holding the path and the case's field, the same message
** both times, and return no model.
**
** No allocation larger than the file justifies: every allocation request
** made while a file is opened is recorded, by replacing malloc, calloc,
** realloc and the aligned allocators with wrappers around glibc's own
** (__libc_malloc...), or, under AddressSanitizer, which owns those names,
** through its malloc hook. The largest request must stay below the file
** size times ALLOC_FACTOR plus ALLOC_SLACK, and so must their sum. The
** bound scales with the file because a legitimate file's structures do:
** the reader allocates for a count only after checking it against the
** bytes left, and its largest expansion is a 14-byte metadata entry
** becoming a 56-byte record; a token's 8 or more bytes become about 50
** across the tokenizer's tables. The slack covers the fixed structures (the
** model, a copy of the path). Leaks are LeakSanitizer's and valgrind's to
** find.
*/
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <slm/slm.h>

#include "hostile.h"

#define ALLOC_FACTOR 8
#define ALLOC_SLACK 4096

/* ------------------------------------------------------ allocation record */

static atomic_bool recording;
static atomic_size_t largest, total;

static void record(size_t n)
{
    if (!atomic_load_explicit(&recording, memory_order_relaxed))
        return;
    atomic_fetch_add_explicit(&total, n, memory_order_relaxed);
    size_t cur = atomic_load_explicit(&largest, memory_order_relaxed);
    while (n > cur && !atomic_compare_exchange_weak(&largest, &cur, n))
        ;
}

#if defined(__SANITIZE_ADDRESS__)
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *, size_t),
                                              void (*free_hook)(const volatile void *));

static void malloc_hook(const volatile void *p, size_t n)
{
    (void)p;
    record(n);
}

/* The sanitizer installs no hook without both. */
static void free_hook(const volatile void *p)
{
    (void)p;
}

static void start_recording(void)
{
    static bool installed;
    if (!installed)
        installed = __sanitizer_install_malloc_and_free_hooks(malloc_hook, free_hook) != 0;
    if (!installed) {
        fprintf(stderr, "test_hostile: cannot install the sanitizer's malloc hook\n");
        exit(1);
    }
}
#else
void *__libc_malloc(size_t n);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t n);
void *__libc_memalign(size_t align, size_t n);

/* Replacing these names replaces them for libslm too: the executable's
** definitions come first in symbol lookup. */
void *malloc(size_t n)
{
    record(n);
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
    /* An overflowing product is refused below; record what was asked. */
    record(size && n > SIZE_MAX / size ? SIZE_MAX : n * size);
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    record(n);
    return __libc_realloc(p, n);
}

void *aligned_alloc(size_t align, size_t n)
{
    record(n);
    return __libc_memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    record(n);
    void *p = __libc_memalign(align, n);
    if (!p)
        return 12; /* ENOMEM */
    *out = p;
    return 0;
}

static void start_recording(void)
{
}
#endif

/* ------------------------------------------------------------------ check */

static int failures;

static void check(const hostile_case_t *c, const char *how, const char *path,
                  slm_status_t st, const slm_model_t *m, size_t file_size)
{
    const char *msg = slm_last_error();
    size_t bound = file_size * ALLOC_FACTOR + ALLOC_SLACK;
    printf("%s (%s): %s \"%s\"; largest allocation %zu bytes, %zu in all, file %zu bytes\n",
           c->name, how, slm_status_name(st), msg, atomic_load(&largest), atomic_load(&total),
           file_size);
    if (st != c->status) {
        printf("  FAIL: status %s, expected %s\n", slm_status_name(st), slm_status_name(c->status));
        failures++;
    }
    if (m) {
        printf("  FAIL: a model came back with the error\n");
        failures++;
    }
    const char *want[] = { path, c->what, c->what2 };
    for (size_t i = 0; i < 3; i++)
        if (want[i] && !strstr(msg, want[i])) {
            printf("  FAIL: the message does not hold \"%s\"\n", want[i]);
            failures++;
        }
    if (atomic_load(&largest) > bound || atomic_load(&total) > bound) {
        printf("  FAIL: allocated more than %zu bytes, %d x the file + %d\n", bound,
               ALLOC_FACTOR, ALLOC_SLACK);
        failures++;
    }
}

static uint8_t *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *p = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        /* exact size: one byte past the end is outside the block */
        p = malloc(n ? (size_t)n : 1);
        if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
            free(p);
            p = NULL;
        }
    }
    fclose(f);
    *size = (size_t)n;
    return p;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_hostile NAME FILE\n");
        return 2;
    }
    const hostile_case_t *c = hostile_find(argv[1]);
    if (!c) {
        fprintf(stderr, "test_hostile: no case '%s'\n", argv[1]);
        return 2;
    }
    const char *path = argv[2];
    size_t size = 0;
    uint8_t *bytes = read_file(path, &size);
    if (!bytes) {
        fprintf(stderr, "test_hostile: cannot read %s (did hostile_generate run?)\n", path);
        return 2;
    }
    /* Opening a model needs no device: no plugins, no configuration. */
    slm_runtime_opts_t o = SLM_RUNTIME_OPTS_INIT;
    o.flags = SLM_RUNTIME_NO_DEFAULT_PLUGINS | SLM_RUNTIME_NO_DEFAULT_CONFIG;
    slm_runtime_t *rt = NULL;
    if (slm_runtime_create(&o, &rt) != SLM_OK) {
        fprintf(stderr, "test_hostile: runtime: %s\n", slm_last_error());
        free(bytes);
        return 2;
    }

    start_recording();
    slm_model_t *m = (slm_model_t *)rt;   /* a failed open must reset it */
    atomic_store(&recording, true);
    slm_status_t st = slm_model_open(rt, path, NULL, &m);
    atomic_store(&recording, false);
    check(c, "mapped", path, st, m, size);
    char first[1024];
    snprintf(first, sizeof first, "%s", slm_last_error());
    slm_model_close(m);

    atomic_store(&largest, 0);
    atomic_store(&total, 0);
    m = (slm_model_t *)rt;
    atomic_store(&recording, true);
    st = slm_model_open_memory(rt, bytes, size, path, NULL, &m);
    atomic_store(&recording, false);
    check(c, "memory", path, st, m, size);
    if (strcmp(first, slm_last_error())) {
        printf("  FAIL: the two opens gave different messages\n");
        failures++;
    }
    slm_model_close(m);

    slm_runtime_destroy(rt);
    free(bytes);
    return failures ? 1 : 0;
}
