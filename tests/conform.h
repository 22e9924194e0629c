/*
** conform.h -- the SIMD CPU backends against the scalar reference backend:
** one conformance engine for every variant and every way it is run.
**
** test_cpu_simd.c (cmocka, in ctest) runs it on the x86 plugins, and
** test_neon_conform.c (plain C, so that it can be cross-built and run under
** qemu-aarch64 without cmocka for the target) on cpu-neon. The engine
** loads the plugins with dlopen and drives them through their descriptors
** as the runtime does: slm_plugin_init, probe, device_open, buffers,
** supports_node, graph_compute.
**
** Every op runs on random inputs for several shapes (odd sizes, one row and
** many, sizes that make a node run on every thread) and views (padded and
** permuted strides), on each run whose CPU features are present, with each
** thread count given. Both backends get byte-identical inputs; outputs are
** compared with the normalised mean squared error
**     nmse = sum((simd - ref)^2) / sum(ref^2)
** within the tolerance of the op (NaN never passes unless both are NaN
** where graph.h says so):
**
**   element-wise F32 ops, norms, row sums, F32/F16/BF16 matmuls  1e-10
**   matmuls with quantised weights                               1e-9
**   SOFTMAX, ROPE (vector exp, float rotations)                  1e-6
**   a chain of nodes ending in quantised matmuls                 5e-4
**   GET_ROWS, SET_ROWS, COPY, ARGSORT, TOP_K                     exact
**
** Quantised matmuls quantise their activations (graph.h), and both
** backends must do it bit for bit, so on equal inputs only the order of
** the float sums differs. In a chain the inputs of a matmul already differ
** in the last bits, which may move a quant by one: hence the wider bound.
** Beyond the elements, every other byte of a destination buffer must be
** what the reference left there (both start from the same bytes).
**
** Results are kept per (op and dtype, run, thread count); a failed check
** is reported with what and where, and the others go on.
*/
#ifndef SLM_TEST_CONFORM_H
#define SLM_TEST_CONFORM_H

#include <stdint.h>

#include "slm/backend.h"

/* One way to run a SIMD plugin: the plugin, and optionally one of its
** config keys set to "off" (a feature it must then do without). */
typedef struct ConformRun {
    const char *plugin;    /* "cpu-avx512": libslm-backend-cpu-avx512.so */
    const char *label;     /* its device names end with this: " (AVX-512)" */
    const char *features;  /* its device's features contain this */
    const char *off_key;   /* NULL, or a [backend.NAME] key set to "off" */
    /* NULL, or a feature the run is about: without it on this CPU the run
    ** would repeat another, and is skipped ("asimddp" for dotprod=off) */
    const char *only_with;
} ConformRun;

typedef struct ConformOptions {
    const char *backend_dir;       /* folder of libslm-backend-*.so */
    const ConformRun *runs;
    int n_runs;
    const uint32_t *threads;       /* device thread counts to run with */
    int n_threads;
    /* Failure messages and notes, one line each without a newline. */
    void (*report)(const char *line);
} ConformOptions;

/* Load the reference and every run's plugin and probe them. 0 on success;
** else the reason was reported and nothing is loaded. */
int conform_setup(const ConformOptions *opts);
void conform_teardown(void);

/* The groups of checks in their order: "probe", "supports_node",
** "binary", ..., "bad_ids"; conform_group(i) is NULL past the last. */
int conform_n_groups(void);
const char *conform_group(int i);

/* Run one group on every run (whose device is present) and thread count.
** Returns the number of checks that failed, or -1 for an unknown group. */
int conform_run_group(const char *group);

/* The device of run r, or NULL when its CPU lacks the features. */
const slm_device_info_t *conform_device(int r);

/* What the checks found so far, one entry per (key, run, thread count) in
** the order first seen. key: "MUL_MAT q4_K", "COPY f16->bf16", "probe". */
typedef struct ConformResult {
    char key[48];
    int run;               /* index into opts.runs */
    uint32_t threads;      /* 0 for checks of a plugin, not a device */
    int checks;
    int failed;
    int exact;             /* comparisons that wanted identical bytes */
    double worst;          /* largest nmse seen; -1 when none measured */
} ConformResult;

int conform_results(const ConformResult **out);

/* "cpu-avx512 vnni=off" for run r: its plugin and what it turns off. */
const char *conform_run_name(int r);

#endif /* SLM_TEST_CONFORM_H */
