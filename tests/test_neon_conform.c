/*
** test_neon_conform.c -- cpu-neon against the scalar reference backend,
** with the conformance engine of slm-conform (conform_engine.h, held to
** the in-tree contract with full coverage), as a plain program: it is
** cross-built for AArch64 and run under qemu-aarch64, where cmocka is not
** installed for the target (and natively on an AArch64 machine).
**
**   test_neon_conform [BACKEND_DIR]
**
** Runs every group of checks on cpu-neon as probe finds it (the dot-product
** kernels where the CPU has asimddp, else the plain ones) and, on a CPU with
** asimddp, again with dotprod = off, each with 1 and 2 threads. Prints each
** failure as it happens, then one line per op and dtype, run and thread
** count, then "N passed, M failed" over those lines; exits 1 on any failure.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conform_engine.h"

static void print_line(const char *line)
{
    printf("%s\n", line);
    fflush(stdout);
}

/* Index of the first result with r's key: lines are grouped by key in the
** order the keys first appear. */
static int key_rank(const ConformResult *res, int n, int i)
{
    for (int j = 0; j < n; j++)
        if (strcmp(res[j].key, res[i].key) == 0)
            return j;
    return i;
}

int main(int argc, char **argv)
{
    static const ConformRun runs[] = {
        {.plugin = "cpu-neon", .label = " (NEON)", .features = "asimd", .full_coverage = true},
        {.plugin = "cpu-neon", .off_key = "dotprod", .only_with = "asimddp",
         .label = " (NEON)", .features = "asimd", .full_coverage = true},
    };
    static const uint32_t threads[] = {1, 2};
    ConformOptions o = {
        .backend_dir = argc > 1 ? argv[1] : SLM_BACKEND_BUILD_DIR,
        .runs = runs,
        .n_runs = sizeof runs / sizeof runs[0],
        .threads = threads,
        .n_threads = sizeof threads / sizeof threads[0],
        .report = print_line,
    };
    if (conform_setup(&o) != 0)
        return 1;
    if (!conform_device(0)) {
        printf("cpu-neon has no device on this CPU: nothing to compare\n0 passed, 1 failed\n");
        conform_teardown();
        return 1;
    }
    const slm_device_info_t *d = conform_device(0);
    printf("device: %s [%s]\n", d->name, d->features);
    for (int g = 0; g < conform_n_groups(); g++)
        conform_run_group(conform_group(g));

    const ConformResult *res;
    int n = conform_results(&res);
    int *order = malloc((size_t)n * sizeof *order);
    if (!order)
        return 1;
    for (int i = 0; i < n; i++)
        order[i] = i;
    /* insertion sort by (key rank, run, threads): a few hundred lines */
    for (int i = 1; i < n; i++) {
        int v = order[i], j = i;
        while (j > 0) {
            const ConformResult *a = &res[order[j - 1]], *b = &res[v];
            int ka = key_rank(res, n, order[j - 1]), kb = key_rank(res, n, v);
            if (ka < kb || (ka == kb && (a->run < b->run ||
                                         (a->run == b->run && a->threads <= b->threads))))
                break;
            order[j] = order[j - 1];
            j--;
        }
        order[j] = v;
    }
    int passed = 0, failed = 0;
    for (int k = 0; k < n; k++) {
        const ConformResult *r = &res[order[k]];
        char threads_s[32] = "";
        if (r->threads > 0)
            snprintf(threads_s, sizeof threads_s, "%d thread%s", (int)r->threads,
                     r->threads == 1 ? "" : "s");
        char err[32] = "";
        if (r->worst >= 0)
            snprintf(err, sizeof err, "nmse <= %.1e", r->worst);
        else if (r->bound == CONFORM_EXACT)
            snprintf(err, sizeof err, "exact");
        printf("%-4s %-26s %-22s %-10s %4d check%s%s%s\n", r->failed ? "FAIL" : "ok", r->key,
               r->run >= 0 ? conform_run_name(r->run) : "", threads_s, r->checks,
               r->checks == 1 ? "" : "s", err[0] && !r->failed ? "  " : "",
               r->failed ? "" : err);
        if (r->failed)
            failed++;
        else
            passed++;
    }
    printf("%d passed, %d failed\n", passed, failed);
    free(order);
    conform_teardown();
    return failed ? 1 : 0;
}
