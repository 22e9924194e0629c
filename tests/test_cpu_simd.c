/*
** test_cpu_simd.c -- the x86 SIMD backends (cpu-avx2, cpu-avx512) against
** the scalar reference backend, with the conformance engine of slm-conform
** (samples/slm-conform/conform_engine.h says what is compared and within
** which bounds): one cmocka test per group of checks, each failing when any
** check of its group does. The runs are held to the in-tree contract, with
** full coverage: a node the reference runs and a variant refuses fails.
**
** Runs: cpu-avx2; cpu-avx512; cpu-avx512 with vnni = off, which picks the
** kernels of CPUs without VNNI (the same on a CPU that lacks it); each
** with 1, 2 and 3 threads, where this CPU supports the variant.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "conform_engine.h"

static const ConformRun runs[] = {
    {.plugin = "cpu-avx2", .label = " (AVX2)", .features = "avx2 fma f16c",
     .full_coverage = true},
    {.plugin = "cpu-avx512", .label = " (AVX-512)", .features = "avx512f avx512bw avx512vl",
     .full_coverage = true},
    {.plugin = "cpu-avx512", .off_key = "vnni", .label = " (AVX-512)",
     .features = "avx512f avx512bw avx512vl", .full_coverage = true},
};
static const uint32_t thread_counts[] = {1, 2, 3};

static void report(const char *line)
{
    print_message("%s\n", line);
}

static int group_setup(void **state)
{
    (void)state;
    ConformOptions o = {
        .backend_dir = SLM_BACKEND_BUILD_DIR,
        .runs = runs,
        .n_runs = sizeof runs / sizeof runs[0],
        .threads = thread_counts,
        .n_threads = sizeof thread_counts / sizeof thread_counts[0],
        .report = report,
    };
    return conform_setup(&o);
}

static int group_teardown(void **state)
{
    (void)state;
    conform_teardown();
    return 0;
}

/* The test's name is its group's. */
static void run_group(void **state)
{
    const char *group = *state;
    int failed = conform_run_group(group);
    if (failed != 0)
        fail_msg("%s: %d check%s failed", group, failed, failed == 1 ? "" : "s");
}

/* Beyond each plugin's own checks: the two variants agree with each other. */
static void test_variants(void **state)
{
    (void)state;
    const slm_device_info_t *avx2 = conform_device(0), *avx512 = conform_device(1);
    if (avx2 && avx512)
        assert_true(avx512->peak_gflops > avx2->peak_gflops);
    /* An AVX-512 CPU has AVX2: where the wide variant runs, so does the other. */
    if (avx512)
        assert_non_null(avx2);
    if (!avx2 && !avx512)
        print_message("note: no SIMD variant runs on this CPU\n");
}

#define GROUP(g) {.name = g, .test_func = run_group, .initial_state = (void *)(g)}

int main(void)
{
    const struct CMUnitTest tests[] = {
        GROUP("probe"),
        cmocka_unit_test(test_variants),
        GROUP("supports_node"),
        GROUP("binary"),
        GROUP("unary_and_glu"),
        GROUP("rows_ops"),
        GROUP("softmax"),
        GROUP("rope"),
        GROUP("get_set_rows"),
        GROUP("copy"),
        GROUP("sort"),
        GROUP("mul_mat"),
        GROUP("mul_mat_id"),
        GROUP("mul_mat_non_finite"),
        GROUP("graph_chain"),
        GROUP("bad_ids"),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
