/*
** fuzz.h -- what the fuzz targets share.
**
** Each target is one file defining LLVMFuzzerTestOneInput. Built with clang
** and -fsanitize=fuzzer it is a libFuzzer binary (the fuzz preset); built
** with replay.c instead it is a plain program that feeds it the files it is
** given, which is how ctest replays the seeds and the regression inputs in
** every build, gcc ones included. A target returns 0 for every input and
** aborts (fz_check) when an input breaks a property it checks beyond "no
** crash, no leak".
*/
#ifndef SLM_FUZZ_H
#define SLM_FUZZ_H

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "slm/slm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort with a message when a property fails: the fuzzer keeps the input. */
#define fz_check(cond, ...)                                                  \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "fuzz check failed at %s:%d: %s: ", __FILE__,    \
                    __LINE__, #cond);                                        \
            fprintf(stderr, __VA_ARGS__);                                    \
            fputc('\n', stderr);                                             \
            abort();                                                         \
        }                                                                    \
    } while (0)

/* The input read front to back; past the end every read gives zeros, so
** any input is a complete program for the targets that interpret it. */
typedef struct fz_input {
    const uint8_t *p;
    size_t n;
} fz_input_t;

static inline uint8_t fz_u8(fz_input_t *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

/* `k` bytes (at most 8), little-endian. */
static inline uint64_t fz_le(fz_input_t *in, int k)
{
    uint64_t v = 0;
    for (int i = 0; i < k; i++)
        v |= (uint64_t)fz_u8(in) << (8 * i);
    return v;
}

/*
** A runtime shared by every input of the process, created on first use and
** destroyed at exit: with the scalar CPU plugin only (SLM_FUZZ_CPU_PLUGIN)
** when `cpu`, else with no plugin. No config file and no environment is
** read, so a run does not depend on the machine. Aborts if it cannot be
** created: nothing can be fuzzed then.
*/
slm_runtime_t *fz_runtime(bool cpu);

#endif /* SLM_FUZZ_H */
