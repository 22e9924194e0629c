/*
** conform_engine.h -- the conformance engine: any backend plugin against
** the scalar reference backend (`cpu`), op by op and dtype by dtype.
**
** One copy of the checks for every way they are run: slm-conform (the tool
** vendors run on their plugin before shipping it), test_cpu_simd (cmocka,
** the x86 SIMD plugins) and test_neon_conform (a bare program, cross-built
** and run under qemu-aarch64). Plain C11, libdl and libm: it builds where
** libslm cannot (SLM_PLUGINS_ONLY). The engine loads the plugins with
** dlopen and drives them through their descriptors as the runtime does:
** slm_plugin_init, probe, device_open, buffers, supports_node,
** graph_compute, synchronize.
**
** Every op runs on random inputs for several shapes (odd sizes, one row and
** many, batch 1 and batch > 1, sizes that make a node run on every thread)
** and views (padded and permuted strides), for every dtype that selects
** the op's code, on each run (a device of a plugin, optionally with a
** config key set to "off") with each thread count given. Both backends get
** byte-identical inputs. A matmul's weight (src0 of MUL_MAT and MUL_MAT_ID)
** carries SLM_TENSOR_WEIGHT, as a model's weights do in the runtime. A device whose memory is not host-addressable
** (no SLM_DEVICE_FLAG_HOST_MEMORY: buffer_alloc gives no base, tensors
** carry data == NULL) gets a host shadow of each buffer: uploaded with
** buffer_write before a graph runs, its destinations downloaded with
** buffer_read after.
**
** Coverage is the device's: a node its supports_node refuses is recorded
** as refused, not failed, unless the run requires full coverage (every
** node the reference runs). A key whose every node was refused is
** "unsupported".
**
** Outputs are compared with the normalised mean squared error
**     nmse = sum((device - ref)^2) / sum(ref^2)
** within the bound of the op and dtype, from one table (conform_bounds()),
** with three columns. "strict" holds CPU plugins (a CPU device with host
** memory, not emulated; and any device run with CONFORM_STRICT): they sum
** in other orders than the reference but use accurate exp, tanh, sin and
** cos. "approx" holds every other device but NPUs (GPUs, lavapipe: their
** exp, sin and cos are approximations, e.g. Vulkan's exp is good to
** 3 + 2|x| ulp and its sin to 2^-11 absolute). "npu" holds devices of kind
** SLM_DEVICE_NPU: approx, and matmuls in an NPU's arithmetic (below).
**
**   op                          weight / source dtype  strict  approx  npu
**   ADD MUL DIV SCALE           f32                    1e-10   1e-10   1e-10
**   RMS_NORM SUM_ROWS           f32                    1e-10   1e-10   1e-10
**   SILU GELU TANH SWIGLU GEGLU f32                    1e-10   1e-5    1e-5
**   SOFTMAX ROPE                f32                    1e-6    1e-5    1e-5
**   MUL_MAT MUL_MAT_ID          f32                    1e-10   1e-10   5e-6
**   MUL_MAT MUL_MAT_ID          f16                    1e-10   1e-10   2e-6
**   MUL_MAT MUL_MAT_ID          bf16                   1e-10   1e-10   1e-4
**   MUL_MAT MUL_MAT_ID          q4_0 q8_0 q4_K q6_K    1e-9    1e-9    2e-3
**   a chain of nodes ending in quantised matmuls ("graph chain")
**                               q4_0 q8_0 q4_K q6_K    5e-4    5e-4    4e-3
**   GET_ROWS SET_ROWS COPY ARGSORT TOP_K  all          exact   exact   exact
**
** Why these numbers. A float sum of K terms in another order moves the
** result by about sqrt(K) ulp, a relative 2e-6 for K = 1024: nmse ~ 1e-12,
** so every summed op (norms, row sums, matmuls) keeps 1e-10 in both
** columns; one rounding per element (ADD ... SCALE, with or without fused
** multiply-add, a 2.5-ulp division) is ~1e-14. The vector exp of the SIMD
** plugins and their float rotations stay within 1e-6 for SOFTMAX and ROPE;
** a GPU's exp, or its sin of an angle of 3000 radians, is off by up to
** ~1e-3 absolute (nmse ~1e-6), hence 1e-5; a wrong frequency, sign or pair
** gives ~1.
** Quantised matmuls quantise their activations (graph.h) and must do so
** bit for bit, in both columns: on equal inputs only the order of the
** float sums over blocks differs (nmse < 1e-12), while one activation quant
** off by one in one row of M moves every output of that row by dw*qw*da,
** an nmse of about 7e-7 * 256 / (K * M): at least 6e-9 on the shapes
** here (K = 768, M = 37; slm-conform's skew_quant test measures it with a
** plugin that does exactly that), so 1e-9 passes every correct order of
** summation and fails a single wrong quant. In a chain the inputs of a matmul
** already differ in their last bits and may move a quant: 5e-4.
**
** The npu column. An NPU matmul takes F16 activations (or int8/int4 with
** scales) and F16 or int8/int4 weights, accumulates in float and may round
** its output to F16; it does not quantise activations to Q8_0 / Q8_K
** blocks as graph.h's reference does. Each bound is 20x the error such a
** device is expected to have against the reference: 10x, times 2 for the
** scatter of an nmse measured over as few as 16 outputs. The sources, with
** u = 2^-11, F16's unit roundoff: rounding a value to F16 makes a relative
** error of variance at most u^2/3 = 8e-8 (2^-20/24 = 4e-8 for mantissas
** spread evenly, as the random inputs here have), and in a dot product of
** independent terms the relative variances of its operands add up to the
** nmse of the result.
**   f32 weights: the NPU rounds both operands and perhaps its output, the
**       reference none: 3 u^2/3 = 2.4e-7; bound 5e-6.
**   f16 weights: the reference rounds x to F16 too (graph.h), so only the
**       output's rounding and the order of the sum remain: u^2/3 = 8e-8;
**       bound 2e-6.
**   bf16 weights (exact in F16 at these magnitudes): the reference rounds
**       x to BF16 (u = 2^-8), the NPU to F16: (2^-8)^2/3 = 5.1e-6; bound
**       1e-4.
**   quantised weights: the reference's own activation quantisation, step
**       d = amax / 127 per block: (d^2/12) / mean(x^2) = 1.55e-5 for x
**       uniform in [-1, 1] (Q8_0 and Q8_K alike), plus a requantisation of
**       the weights to int8 per output channel, if the NPU does one: its
**       step is the row's max|w| / 127, (step^2/12) / mean(w^2) = 1.5e-5 for
**       uniform rows and up to 7.5e-5 for the rows of random blocks here,
**       whose scales differ by 10x (Q4_0 -> int4 and Q8_0 -> int8 in groups
**       of 32 with the blocks' scales are lossless: 0). Together <= 1e-4;
**       bound 2e-3. An NPU that quantises F32/F16/BF16 weights to int8
**       (1.5e-5 here) fails the float rows: such weights stay F16.
**   graph chain: two such matmuls in a row (the second's input already
**       off by the first's error), <= 2e-4; bound 4e-3.
**   Measured with a model of such a device (npu_weights.c's conversions,
**   F16 activations, float sums) over the matmul shapes here, as one nmse
**   per dtype: f32 6.4e-8 (9.9e-8 with an F16 output), f16 0 (4.2e-8), bf16
**   2.3e-6, q4_0 and q8_0 1.4e-5 (lossless blocks or F16) and 4.7e-5 (int8
**   per channel), q4_K and q6_K 1.3e-5 to 1.6e-5 (F16) and 7.5e-5 (int8 per
**   channel); the worst single check of tests/plugins/partial_plugin.c's
**   NPU variant: f32 2.9e-7, q8_0 2.1e-5.
**   Where graph.h makes a quantised matmul's output NaN (an infinite or NaN
**   activation gives its Q8 block a NaN scale), an NPU, which does not
**   quantise activations, may give an infinity: the npu column takes either.
** Beyond the elements, every other byte of a destination buffer must be
** what the reference left there (both start from the same bytes). NaN never
** passes, except where graph.h makes both NaN (non-finite activations of a
** quantised matmul).
**
** Results are kept per (key, run, thread count); a failed check is
** reported with what and where, and the others go on.
*/
#ifndef CONFORM_ENGINE_H
#define CONFORM_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "slm/backend.h"

/* Which column of the bounds a run is held to. */
typedef enum ConformColumn {
    CONFORM_AUTO = 0,      /* strict for a CPU plugin's device (kind CPU,
                              host memory, not emulated), npu for a device
                              of kind NPU, approx else */
    CONFORM_STRICT = 1,
    CONFORM_APPROX = 2,
    CONFORM_NPU = 3
} ConformColumn;

/* One device to check, and how. */
typedef struct ConformRun {
    /* "cpu-avx512": libslm-backend-cpu-avx512.so in the backend folder; a
    ** string with a '/' is the path of any plugin file. */
    const char *plugin;
    uint32_t device;       /* index of the device in the plugin's probe */
    const char *off_key;   /* NULL, or a [backend.NAME] key set to "off" */
    /* NULL, or a feature the run is about: without it on this CPU the run
    ** would repeat another, and is skipped ("asimddp" for dotprod=off) */
    const char *only_with;
    /* A SIMD CPU plugin of this project, held to the reference's whole
    ** contract (supports_node answers as the reference's, the same probe
    ** facts, bad ids refused with the reference's messages): its device
    ** names end with `label` (" (AVX-512)") and its features contain
    ** `features`. NULL for any other plugin. */
    const char *label;
    const char *features;
    bool full_coverage;    /* a refused node is a failure, not "unsupported" */
    ConformColumn column;
} ConformRun;

typedef struct ConformOptions {
    /* Folder of libslm-backend-*.so: the reference (cpu) and the runs
    ** given by name. */
    const char *backend_dir;
    const ConformRun *runs;
    int n_runs;
    /* Device thread counts to run with; 0 is the device's default. */
    const uint32_t *threads;
    int n_threads;
    /* Failure messages and notes, one line each without a newline. */
    void (*report)(const char *line);
    /* (optional) Every log line of the plugins under test, with the
    ** plugin's name. */
    void (*log)(const char *plugin, int level, const char *msg);
    /* (optional) Config of the plugins under test (never the reference):
    ** "NAME.KEY=VALUE" strings, NAME a descriptor name; config_get of
    ** plugin NAME answers VALUE for KEY. */
    const char *const *config;
    int n_config;
} ConformOptions;

/* Load the reference and every run's plugin and probe them. 0 on success;
** else the reason was reported (naming the file) and nothing is loaded.
** A plugin that cannot be loaded is refused, never run: no slot is called
** before the descriptor was checked as the runtime's loader checks it. */
int conform_setup(const ConformOptions *opts);

/* Close and unload everything; the results stay until the next setup. */
void conform_teardown(void);

/* The groups of checks in their order: "probe", "supports_node",
** "binary", ..., "bad_ids"; conform_group(i) is NULL past the last. */
int conform_n_groups(void);
const char *conform_group(int i);

/* Run one group on every run (whose device is present) and thread count.
** Returns the number of checks that failed, or -1 for an unknown group. */
int conform_run_group(const char *group);

/* The device of run r, or NULL when the plugin has no such device (or the
** CPU lacks what the run is about). */
const slm_device_info_t *conform_device(int r);

/* The column run r is held to (CONFORM_AUTO resolved by its device). */
ConformColumn conform_column(int r);

/* "strict", "approx", "npu" ("auto" for CONFORM_AUTO). Static. */
const char *conform_column_name(ConformColumn c);

/* "cpu-avx512:0 vnni=off" for run r: its plugin, device and what it turns
** off. Static storage of the engine, valid until the next setup. */
const char *conform_run_name(int r);

/* The file run r's plugin was loaded from. Valid until the next setup. */
const char *conform_run_path(int r);

/* Bound of "exact": identical bytes. */
#define CONFORM_EXACT (-1.0)
/* Bound of a key that compares no numbers (probe facts, error paths). */
#define CONFORM_NO_BOUND 0.0

/* What the checks found so far, one entry per (key, run, thread count) in
** the order first seen. key: "MUL_MAT q4_K", "COPY f16->bf16", "probe". */
typedef struct ConformResult {
    char key[48];
    slm_op_t op;           /* the op checked; SLM_OP_NONE for the others */
    slm_dtype_t dtype;     /* the dtype of its src0 (the weight of a matmul,
                              the source of a copy) */
    int run;               /* index into opts.runs; -1 for the harness */
    int32_t threads;       /* as given; -1 for checks of a plugin, not of
                              an opened device */
    int checks;            /* nodes and facts checked, refused ones too */
    int refused;           /* nodes supports_node refused */
    int failed;
    double bound;          /* nmse bound, CONFORM_EXACT or CONFORM_NO_BOUND */
    double worst;          /* largest nmse measured; -1 when none */
    char first_failure[256]; /* what the first failure said; "" if none */
} ConformResult;

/* The results in the order first seen. Valid until the next setup. */
int conform_results(const ConformResult **out);

/* One row of the bounds table. */
typedef struct ConformBound {
    int op;                /* slm_op_t, or CONFORM_CHAIN */
    uint64_t dtypes;       /* SLM_DTYPE_BIT of the dtypes the row covers:
                              the weight's for matmuls, the source's else */
    double strict;         /* nmse bound, or CONFORM_EXACT */
    double approx;
    double npu;
} ConformBound;

/* The op of the bound of a chain of nodes (key "graph chain"). */
#define CONFORM_CHAIN (-1)

/* The bounds table, written once: n rows at *out. */
int conform_bounds(const ConformBound **out);

#endif /* CONFORM_ENGINE_H */
