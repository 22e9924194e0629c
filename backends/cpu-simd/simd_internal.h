/*
** simd_internal.h -- what the files of the SIMD CPU backends share.
**
** The cpu-avx2, cpu-avx512 (x86-64) and cpu-neon (AArch64) plugins are
** built from the same sources in this folder plus a few of their own. Each
** plugin folder provides the variant descriptor (simd_variant: name,
** required CPU features, kernels) and the kernels that differ with the
** instruction set; everything else is here:
**
**   simd_probe.c    cpuid/xgetbv or getauxval, /proc/cpuinfo,
**                   core count                                 (no -m flags)
**   simd_backend.c  entry, probe, devices, buffers, graph loop (no -m flags)
**   simd_pool.c     the device's worker threads, waiting       (no -m flags)
**   simd_ops.c      every op but the matmuls                   (plugin flags)
**   simd_matmul.c   MUL_MAT, MUL_MAT_ID, float kernels, Q8_K activation
**                   quantisation                                (plugin flags)
**   simd_kquant_x86.c  the x86 plugins' Q4_K and Q6_K kernels  (plugin flags)
**   simd_vec.h      the vector vocabulary of simd_ops.c and simd_matmul.c
**
** Code compiled with a plugin's target flags runs only on a device that
** probe claimed, i.e. after cpuid and xgetbv (x86) or the kernel's hwcaps
** (AArch64) said the CPU and the OS support it. Probe, the entry point and
** the thread pool are compiled without them, so loading a plugin on an
** older CPU executes none of its instructions. (cpu-neon's shared files
** need no flags at all: Advanced SIMD is part of every AArch64 CPU.)
**
** The reference backend's cpu_check.c (which nodes are valid) and
** cpu_quant.c (scalar dequantisation, used for GET_ROWS and rare layouts)
** are compiled in as they are, so validity never differs from the oracle's.
**
** Nothing here leaves the plugin: objects are built with hidden visibility
** and only slm_plugin_init is exported.
*/
#ifndef SLM_SIMD_INTERNAL_H
#define SLM_SIMD_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "slm/backend.h"
#include "slm/graph.h"

#include "../cpu/cpu_internal.h"

/* ------------------------------------------------------------ CPU facts */

/* Features probe looks for (SimdCpu.features bits). Each counts only when
** the OS saves the register state it needs (XCR0). */
enum {
    SIMD_CPU_AVX2 = 1u << 0,
    SIMD_CPU_FMA = 1u << 1,
    SIMD_CPU_F16C = 1u << 2,
    SIMD_CPU_AVX512F = 1u << 3,
    SIMD_CPU_AVX512BW = 1u << 4,
    SIMD_CPU_AVX512VL = 1u << 5,
    SIMD_CPU_AVX512VNNI = 1u << 6,
    SIMD_CPU_AVX512BF16 = 1u << 7,
    /* AArch64 (getauxval(AT_HWCAP), AT_HWCAP2): Advanced SIMD, its int8
    ** dot product (sdot), f16 arithmetic (scalar and vector), f16 widening
    ** multiply-add (fmlal) and the int8 matrix multiply (smmla) */
    SIMD_CPU_ASIMD = 1u << 16,
    SIMD_CPU_ASIMDDP = 1u << 17,
    SIMD_CPU_FPHP = 1u << 18,
    SIMD_CPU_ASIMDHP = 1u << 19,
    SIMD_CPU_ASIMDFHM = 1u << 20,
    SIMD_CPU_I8MM = 1u << 21
};

typedef struct SimdCpu {
    uint32_t features;    /* SIMD_CPU_* usable here */
    char model[96];       /* /proc/cpuinfo model name, "" if unknown */
    char vendor[64];      /* vendor_id, "" if unknown */
    double ghz;           /* clock estimate */
    uint32_t cores;       /* physical cores */
    uint32_t online;      /* online logical CPUs */
} SimdCpu;

/* What this machine offers (cpuid, xgetbv, /proc and /sys). Executes no
** instruction beyond the base x86-64 set. */
void simd_cpu_detect(SimdCpu *cpu);

/* Space-separated names of the bits of `features` ("avx2 fma f16c"). */
void simd_cpu_feature_names(uint32_t features, char *out, size_t cap);

/* ------------------------------------------------------------ kernels */

/* Most activation columns one kernel call takes. */
#define SIMD_MAX_COLS 32

/*
** One kernel call: weight rows [r0, r1) of one matrix times n_cols
** activation columns. Column c's activation row (already converted to the
** format the weight dtype wants) is x[c]; the result for weight row r goes
** to y[c] + r * y_step bytes.
*/
typedef struct SimdMat {
    int64_t K;                       /* elements per row */
    const char *w;                   /* weight row 0 */
    size_t w_stride;                 /* bytes between weight rows */
    int n_cols;                      /* 1 .. SIMD_MAX_COLS */
    const void *x[SIMD_MAX_COLS];
    char *y[SIMD_MAX_COLS];
    size_t y_step;
} SimdMat;

typedef void (*SimdMatFn)(const SimdMat *m, int64_t r0, int64_t r1);

/* A Q8_K activation block, as graph.h defines it: the scale as a float,
** 256 quants, and the sums of each 16 quants (the Q4_K mins use them). */
typedef struct BlockQ8K {
    float d;
    int8_t qs[SLM_QK_K];
    int16_t bsums[SLM_QK_K / 16];
} BlockQ8K;

/* Activation formats a weight dtype wants. */
typedef enum SimdActFormat {
    SIMD_ACT_F32 = 0, /* contiguous floats */
    SIMD_ACT_Q8 = 1,  /* Q8_0-style 32-element blocks, variant layout */
    SIMD_ACT_Q8K = 2  /* Q8_K: 256-element blocks with 16-element sums */
} SimdActFormat;

/*
** The instruction-set-specific part of a variant: Q8_0 and Q4_0 weights
** against activations quantised to 32-element int8 blocks, in a layout of
** the variant's choosing (q8_row_bytes, quantize_q8), and Q4_K and Q6_K
** weights against Q8_K blocks.
*/
typedef struct SimdKernels {
    const char *name;         /* for the log: "avx512 vnni" */
    /* Bytes of one quantised activation row of K elements (a multiple of
    ** 64, so that rows stay aligned). */
    size_t (*q8_row_bytes)(int64_t K);
    /* Quantise K floats to Q8_0 blocks exactly as graph.h defines it (d =
    ** amax / 127 kept as f16, q = roundf(x * (1 / d))), for weights of
    ** `wtype` (Q8_0 or Q4_0). */
    void (*quantize_q8)(const float *x, int64_t K, void *out,
                        slm_dtype_t wtype);
    SimdMatFn mat_q8_0;
    SimdMatFn mat_q4_0;
    /* Q4_K and Q6_K weights against rows of BlockQ8K. */
    SimdMatFn mat_q4_K;
    SimdMatFn mat_q6_K;
} SimdKernels;

/* simd_kquant_x86.c: Q4_K and Q6_K kernels for any number of columns; both
** x86 variants call them for one column (decode) from their own. */
void simd_x86_mat_q4_K(const SimdMat *m, int64_t r0, int64_t r1);
void simd_x86_mat_q6_K(const SimdMat *m, int64_t r0, int64_t r1);

/* A plugin's identity and requirements; each plugin folder defines one. */
typedef struct SimdVariant {
    const char *name;         /* "cpu-avx2" */
    const char *label;        /* appended to the model name: " (AVX2)" */
    const char *description;  /* one line for slm-probe */
    uint32_t required;        /* SIMD_CPU_* bits the device needs */
    uint32_t reported;        /* bits listed in features when present */
    double flops_per_cycle;   /* F32 per core: FMA units * lanes * 2 */
    /* The kernels for a CPU with these features (a superset of required). */
    const SimdKernels *(*kernels)(uint32_t features);
    /* Optional features a [backend.NAME] key can turn off: key "name" with
    ** value "off" clears `bit` before the kernels are picked. */
    const slm_config_key_t *config_keys;
    const uint32_t *config_bits;  /* one per key */
    uint32_t n_config_keys;
} SimdVariant;

extern const SimdVariant simd_variant;

/* ------------------------------------------------------------- threads */

typedef struct SimdPool SimdPool;

/* Start n - 1 workers (the caller is thread 0). NULL when out of memory;
** fewer threads than asked when the system refuses more. */
SimdPool *simd_pool_create(uint32_t n);
void simd_pool_destroy(SimdPool *pool);
uint32_t simd_pool_threads(const SimdPool *pool);

/*
** Run job(arg, ith, n) on the caller (ith 0) and on whichever workers
** come: a worker that wakes late may join while the job runs, or not at
** all, so the job must be able to finish on the caller alone. Returns when
** the caller's share has returned and no worker is inside the job any more.
*/
void simd_pool_run(SimdPool *pool, void (*job)(void *arg, int ith, int nth),
                   void *arg);

/* Let idle workers sleep now instead of spinning for the next job: the
** caller expects to run its next graphs alone. (While workers spin, each
** page the process maps or unmaps interrupts their CPUs.) */
void simd_pool_doze(SimdPool *pool);

/* Spin-then-yield wait until *v >= target (acquire). */
void simd_wait_at_least(atomic_uint *v, unsigned target);

/* --------------------------------------------------------- node context */

/*
** A node runs as one or two phases (a matmul first converts its
** activations), each cut into chunks that threads take from a counter; a
** phase starts only when the previous one is done. An op computes chunk
** `chunk` of `n_chunks` of a phase, whichever thread `tid` runs it; tid
** only selects the thread's scratch.
*/
typedef struct SimdPlan {
    uint8_t phases;        /* 1 or 2 */
    bool main_only;        /* too small to share: thread 0 runs it */
    uint32_t chunks[2];    /* per phase */
    double work;           /* rough cost: multiply-adds or elements */
} SimdPlan;

/* Per thread: the node whose activations this thread last converted into
** its own scratch, so the chunks it takes of one matmul convert once. */
typedef struct SimdThreadState {
    const slm_node_t *converted;
    uint32_t run;
} SimdThreadState;

typedef struct SimdCtx {
    const SimdKernels *kern;
    char *shared;            /* scratch every thread of the node sees */
    char *thread_scratch;    /* one slice of thread_bytes per thread */
    size_t thread_bytes;
    SimdThreadState *tstate; /* one per thread */
    uint32_t run;            /* graph_compute call count, for tstate */
    const slm_node_t *nodes; /* the graph's, for node indices in messages */
    /* The first error of the run: the op stores its message, and nodes
    ** after it compute on as usual. */
    atomic_int failed;
    char error[256];
} SimdCtx;

static inline char *simd_thread_scratch(const SimdCtx *c, int tid)
{
    return c->thread_scratch + (size_t)tid * c->thread_bytes;
}

/* Items [*lo, *hi) of n for chunk i of k: contiguous, balanced. */
static inline void simd_split(int64_t n, int64_t i, int64_t k, int64_t *lo,
                              int64_t *hi)
{
    *lo = n * i / k;
    *hi = n * (i + 1) / k;
}

/* Record an error (the first one wins). Thread-safe. */
void simd_fail(SimdCtx *c, const slm_node_t *node, const char *fmt, ...)
    CPU_PRINTF(3, 4);

/* ------------------------------------------------------------ planning */

/* Scratch one node needs: shared bytes, and bytes per thread. */
typedef struct SimdScratch {
    size_t shared;
    size_t per_thread;
} SimdScratch;

/* simd_ops.c: any op (matmuls ask simd_matmul.c). */
SimdScratch simd_node_scratch(const SimdKernels *kern, const slm_node_t *node);
SimdPlan simd_node_plan(const SimdKernels *kern, const slm_node_t *node,
                        uint32_t nth);
void simd_compute_node(SimdCtx *c, const slm_node_t *node, int phase,
                       int64_t chunk, int64_t n_chunks, int tid);

/* simd_matmul.c */
SimdScratch simd_matmul_scratch(const SimdKernels *kern, const slm_node_t *node);
SimdPlan simd_matmul_plan(const SimdKernels *kern, const slm_node_t *node,
                          uint32_t nth);
void simd_mul_mat(SimdCtx *c, const slm_node_t *node, int phase, int64_t chunk,
                  int64_t n_chunks, int tid);
void simd_mul_mat_id(SimdCtx *c, const slm_node_t *node, int phase,
                     int64_t chunk, int64_t n_chunks, int tid);

/* Round up to a multiple of 64 (cache lines, and the widest vector). */
static inline size_t simd_align64(size_t n)
{
    return (n + 63) & ~(size_t)63;
}

/* The 6-bit scales and mins of a Q4_K super-block (graph.h's packing),
** four at a time in 32-bit words: bytes 0-3 hold sc[0..3] and m[0..3] in
** their low 6 bits, bytes 4-7 the low 4 bits of sc[4..7] and m[4..7]
** (nibbles of bytes 8-11) with the top 2 bits from bits 6-7 of bytes 0-7. */
static inline void simd_q4_K_scales(const uint8_t *s, uint8_t sc[8], uint8_t mn[8])
{
    uint32_t a, b, c;
    memcpy(&a, s, 4);
    memcpy(&b, s + 4, 4);
    memcpy(&c, s + 8, 4);
    uint32_t sc_lo = a & 0x3F3F3F3Fu, mn_lo = b & 0x3F3F3F3Fu;
    uint32_t sc_hi = (c & 0x0F0F0F0Fu) | ((a >> 2) & 0x30303030u);
    uint32_t mn_hi = ((c >> 4) & 0x0F0F0F0Fu) | ((b >> 2) & 0x30303030u);
    memcpy(sc, &sc_lo, 4);
    memcpy(sc + 4, &sc_hi, 4);
    memcpy(mn, &mn_lo, 4);
    memcpy(mn + 4, &mn_hi, 4);
}

#endif /* SLM_SIMD_INTERNAL_H */
