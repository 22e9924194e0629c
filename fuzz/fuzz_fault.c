/*
** fuzz_fault.c -- every allocation of a model load and a first forward
** pass made to fail in turn.
**
** Linked with -Wl,--wrap for malloc, calloc, realloc and strdup, so that
** every call the runtime's objects make goes through the wrappers below.
** For n = 1, 2, ... the n-th allocation after arming fails; the open (from
** memory), session creation and a two-token eval must then fail cleanly,
** with a message, or succeed, and never crash; the ASan build's
** LeakSanitizer checks that nothing leaks on any of those paths. The loop
** ends at the first n past the last allocation the whole sequence makes.
**
** Usage: fuzz_fault_alloc FILE.gguf...  (the seed models of make_seeds). The
** plugin's own allocations (a separate .so) are not wrapped.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);

static long countdown = -1;       /* allocations left before the failure; -1: off */
static bool failed;               /* the armed failure happened */

static bool fail_now(void)
{
    if (countdown < 0)
        return false;
    if (countdown-- > 0)
        return false;
    failed = true;
    return true;
}

void *__wrap_malloc(size_t n) { return fail_now() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t size) { return fail_now() ? NULL : __real_calloc(n, size); }
void *__wrap_realloc(void *p, size_t n) { return fail_now() ? NULL : __real_realloc(p, n); }

char *__wrap_strdup(const char *s)
{
    if (fail_now()) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_strdup(s);
}

/* Open, create a session, eval two tokens; the first failure's status. */
static slm_status_t load_and_run(slm_runtime_t *rt, const uint8_t *data, size_t size)
{
    slm_model_t *m = NULL;
    slm_status_t st = slm_model_open_memory(rt, data, size, "fault.gguf", NULL, &m);
    if (st != SLM_OK) {
        fz_check(m == NULL, "failed open left a model");
        return st;
    }
    slm_session_opts_t so = SLM_SESSION_OPTS_INIT;
    so.n_ctx = 8;
    slm_session_t *s = NULL;
    st = slm_session_create(m, &so, &s);
    if (st == SLM_OK) {
        const int32_t ids[2] = { 1, 3 };
        st = slm_session_eval(s, ids, 2);
        slm_session_destroy(s);
    }
    slm_model_close(m);
    return st;
}

static int read_all(const char *path, uint8_t **data, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f || fseek(f, 0, SEEK_END) != 0) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        if (f)
            fclose(f);
        return -1;
    }
    long len = ftell(f);
    rewind(f);
    *data = malloc(len > 0 ? (size_t)len : 1);
    *size = len > 0 ? (size_t)len : 0;
    bool ok = *data && fread(*data, 1, *size, f) == *size;
    fclose(f);
    if (!ok)
        fprintf(stderr, "%s: cannot read\n", path);
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE.gguf...\n", argv[0]);
        return 2;
    }
    slm_runtime_t *rt = fz_runtime(true);
    for (int i = 1; i < argc; i++) {
        uint8_t *data;
        size_t size;
        if (read_all(argv[i], &data, &size) != 0)
            return 1;
        fz_check(load_and_run(rt, data, size) == SLM_OK, "%s does not run without faults: %s",
                 argv[i], slm_last_error());
        long n;
        for (n = 0;; n++) {
            failed = false;
            countdown = n;
            slm_status_t st = load_and_run(rt, data, size);
            countdown = -1;
            if (!failed) {
                fz_check(st == SLM_OK, "no fault injected but %s", slm_last_error());
                break;
            }
            if (st != SLM_OK)
                fz_check(slm_last_error()[0] != '\0', "allocation %ld: failure without a message", n);
        }
        printf("%s: each of %ld allocations failed in turn: clean errors\n", argv[i], n);
        free(data);
    }
    return 0;
}
