/*
** simd_backend.c -- entry point, probe, devices, buffers and the graph loop
** of the SIMD CPU backends (cpu-avx2, cpu-avx512, cpu-neon).
**
** Compiled without -m flags: probe must run on any x86-64 (or AArch64)
** CPU. A device is
** a thread pool; graph_compute checks every node as the reference does,
** sizes the scratch once per graph (it only ever grows, so a token's graph
** allocates nothing), cuts every node into steps (phases) of chunks, or
** leaves a small node whole to thread 0, and runs the steps in order on all
** threads: a thread takes chunks of a step from a counter once the step
** before is done.
*/
#define _POSIX_C_SOURCE 200809L /* sysconf */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "simd_internal.h"

/* ----------------------------------------------------------------- host */

/* Written once by slm_plugin_init before any other call, then only read. */
static const slm_host_t *g_host;

/* The CPU as probe saw it; probe runs once, before any device_open. */
static SimdCpu g_cpu;
static bool g_cpu_known;

slm_status_t cpu_error(slm_status_t status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (g_host && g_host->set_error)
        g_host->set_error(g_host->ctx, msg);
    return status;
}

static void simd_log(int level, const char *fmt, ...) CPU_PRINTF(2, 3);
static void simd_log(int level, const char *fmt, ...)
{
    if (!g_host || !g_host->log)
        return;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    g_host->log(g_host->ctx, level, msg);
}

void simd_fail(SimdCtx *c, const slm_node_t *node, const char *fmt, ...)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong(&c->failed, &expected, 1))
        return;
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(c->error, sizeof c->error, "node %u (%s): %s",
             (unsigned)(node - c->nodes), slm_op_name(node->op), what);
}

/* ---------------------------------------------------------------- probe */

static uint64_t sysconf_or_0(int name)
{
    long v = sysconf(name);
    return v > 0 ? (uint64_t)v : 0;
}

static bool cpu_usable(const SimdCpu *cpu)
{
    return (cpu->features & simd_variant.required) == simd_variant.required;
}

static slm_status_t simd_probe(slm_device_info_t *infos, uint32_t capacity,
                               uint32_t *n_out)
{
    if (!infos || !n_out)
        return cpu_error(SLM_ERR_INVALID_ARG, "probe: no output array");
    *n_out = 0;
    simd_cpu_detect(&g_cpu);
    g_cpu_known = true;
    if (capacity == 0 || !cpu_usable(&g_cpu))
        return SLM_OK; /* no device here: an answer, not an error */
    if (infos[0].struct_size < sizeof(slm_device_info_t))
        return cpu_error(SLM_ERR_INVALID_ARG,
                         "probe: infos[0].struct_size %u is smaller than the "
                         "%zu bytes of ABI 1.0", (unsigned)infos[0].struct_size,
                         sizeof(slm_device_info_t));

    slm_device_info_t info;
    memset(&info, 0, sizeof info);
    info.struct_size = infos[0].struct_size;
    info.kind = SLM_DEVICE_CPU;
    info.flags = SLM_DEVICE_FLAG_HOST_MEMORY;
    snprintf(info.name, sizeof info.name, "%s%s",
             g_cpu.model[0] ? g_cpu.model : "CPU", simd_variant.label);
    snprintf(info.vendor, sizeof info.vendor, "%s",
             g_cpu.vendor[0] ? g_cpu.vendor : "unknown");

    uint64_t page = sysconf_or_0(_SC_PAGESIZE);
    info.memory_total = sysconf_or_0(_SC_PHYS_PAGES) * page;
    info.memory_free = sysconf_or_0(_SC_AVPHYS_PAGES) * page;

    static const slm_dtype_t dtypes[] = {
        SLM_DTYPE_F32,  SLM_DTYPE_F16,  SLM_DTYPE_BF16, SLM_DTYPE_I32,
        SLM_DTYPE_Q4_0, SLM_DTYPE_Q8_0, SLM_DTYPE_Q4_K, SLM_DTYPE_Q6_K,
    };
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        info.dtypes |= SLM_DTYPE_BIT(dtypes[i]);
    for (int op = SLM_OP_NONE + 1; op < SLM_OP_COUNT; op++)
        info.ops |= SLM_OP_BIT(op);

    simd_cpu_feature_names(g_cpu.features & simd_variant.reported,
                           info.features, sizeof info.features);
    /* Declared, not measured: what the FMA units could do at the rated
    ** clock. The runtime only compares it between CPU variants. */
    info.peak_gflops = (double)g_cpu.cores * g_cpu.ghz * simd_variant.flops_per_cycle;
    info.max_threads = g_cpu.online;

    memcpy(&infos[0], &info, sizeof info);
    *n_out = 1;
    return SLM_OK;
}

/* -------------------------------------------------------------- devices */

/* One phase of one node: its chunks go to whichever thread takes them
** first (next), and the phase is over when done reaches chunks. */
typedef struct SimdStep {
    _Alignas(64) atomic_uint next;
    atomic_uint done;
    const slm_node_t *node;
    uint32_t chunks;
    uint8_t phase;
    bool main_only;
} SimdStep;

typedef struct SimdDevice {
    SimdPool *pool;
    uint32_t n_threads;
    const SimdKernels *kern;
    SimdCtx ctx;
    SimdStep *steps;             /* the running graph's, n_steps of them */
    uint32_t n_steps, steps_cap;
    char *shared;                /* ctx.shared, shared_cap bytes */
    size_t shared_cap;
    char *threads;               /* ctx.thread_scratch, threads_cap bytes */
    size_t threads_cap;
} SimdDevice;

/* More threads than this is a mistake in the options, not a machine. */
#define SIMD_MAX_THREADS 256

static slm_status_t simd_device_open(uint32_t index,
                                     const slm_device_open_opts_t *opts,
                                     void **out_device)
{
    if (!out_device)
        return cpu_error(SLM_ERR_INVALID_ARG, "device_open: no output handle");
    if (!g_cpu_known) {
        simd_cpu_detect(&g_cpu);
        g_cpu_known = true;
    }
    if (index != 0 || !cpu_usable(&g_cpu))
        return cpu_error(SLM_ERR_NO_DEVICE, "device_open: no device %u (%s has "
                         "%s)", index, simd_variant.name,
                         cpu_usable(&g_cpu) ? "one" : "none on this CPU");
    uint32_t n = opts && opts->n_threads ? opts->n_threads : g_cpu.cores;
    if (n < 1)
        n = 1;
    if (n > SIMD_MAX_THREADS)
        n = SIMD_MAX_THREADS;
    SimdDevice *dev = calloc(1, sizeof *dev);
    if (!dev)
        return cpu_error(SLM_ERR_NO_MEMORY, "device_open: out of memory");
    dev->pool = simd_pool_create(n);
    if (dev->pool)
        dev->n_threads = simd_pool_threads(dev->pool);
    dev->ctx.tstate = dev->pool ? calloc(dev->n_threads, sizeof *dev->ctx.tstate) : NULL;
    if (!dev->ctx.tstate) {
        simd_pool_destroy(dev->pool);
        free(dev);
        return cpu_error(SLM_ERR_NO_MEMORY,
                         "device_open: cannot start %u threads", n);
    }
    uint32_t features = g_cpu.features;
    for (uint32_t k = 0; k < simd_variant.n_config_keys; k++) {
        const char *v = g_host && g_host->config_get
                            ? g_host->config_get(g_host->ctx, simd_variant.config_keys[k].name)
                            : NULL;
        if (v && (strcmp(v, "off") == 0 || strcmp(v, "0") == 0 || strcmp(v, "false") == 0))
            features &= ~simd_variant.config_bits[k];
    }
    dev->kern = simd_variant.kernels(features);
    simd_log(SLM_LOG_DEBUG, "opened with %u thread%s, %s kernels", dev->n_threads,
             dev->n_threads == 1 ? "" : "s", dev->kern->name);
    *out_device = dev;
    return SLM_OK;
}

static void simd_device_close(void *device)
{
    SimdDevice *dev = device;
    if (!dev)
        return;
    simd_pool_destroy(dev->pool);
    free(dev->ctx.tstate);
    free(dev->steps);
    free(dev->shared);
    free(dev->threads);
    free(dev);
}

/* ---------------------------------------------------------------- graphs */

static bool simd_supports_node(void *device, const slm_node_t *node)
{
    (void)device;
    return cpu_check_node(node) == NULL;
}

/* Grow *p to at least `need` bytes, 64-byte aligned. Contents are not kept:
** scratch holds nothing between graphs. */
static bool grow(char **p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return true;
    need = simd_align64(need + need / 4);
    char *q = aligned_alloc(64, need);
    if (!q)
        return false;
    free(*p);
    *p = q;
    *cap = need;
    return true;
}

/*
** Below this much shareable work (multiply-adds, elements) a whole graph
** runs on the calling thread: a token of a model of a few million
** parameters takes tens of microseconds, less than what waking workers and
** sharing the work costs; and while workers run, every page the host maps
** or unmaps costs a TLB shootdown interrupt on their CPUs.
*/
#define GRAPH_SHARED_WORK 4e6

/* Take chunks of step s until none is left. */
static void work_step(SimdDevice *dev, SimdStep *st, int ith)
{
    for (;;) {
        unsigned c = atomic_fetch_add_explicit(&st->next, 1, memory_order_relaxed);
        if (c >= st->chunks)
            return;
        simd_compute_node(&dev->ctx, st->node, st->phase, c, st->chunks, ith);
        atomic_fetch_add_explicit(&st->done, 1, memory_order_release);
    }
}

/*
** Every thread walks the steps in order. Before taking chunks of a step it
** waits until the step before is done, which (by induction) means every
** earlier step is; a thread that finds no chunk left moves on at once.
** Steps for thread 0 alone are skipped by the others: thread 0 runs them
** in order, so the next shared step's wait covers them too. A worker that
** joins late finds the early steps taken and catches up without waiting.
*/
static void graph_job(void *arg, int ith, int nth)
{
    (void)nth;
    SimdDevice *dev = arg;
    uint32_t n = dev->n_steps;
    for (uint32_t s = 0; s < n; s++) {
        SimdStep *st = &dev->steps[s];
        if (st->main_only && ith != 0)
            continue;
        if (s > 0)
            simd_wait_at_least(&dev->steps[s - 1].done, dev->steps[s - 1].chunks);
        work_step(dev, st, ith);
    }
    if (ith == 0) /* the caller returns only when the last chunk is done */
        simd_wait_at_least(&dev->steps[n - 1].done, dev->steps[n - 1].chunks);
}

static slm_status_t simd_graph_compute(void *device, const slm_graph_t *graph)
{
    SimdDevice *dev = device;
    if (!dev || !graph || (graph->n_nodes > 0 && !graph->nodes))
        return cpu_error(SLM_ERR_INVALID_ARG, "graph_compute: no graph");
    if (graph->n_nodes == 0)
        return SLM_OK;
    if (graph->n_nodes > UINT32_MAX / 2)
        return cpu_error(SLM_ERR_INVALID_ARG, "graph_compute: %u nodes",
                         graph->n_nodes);

    uint32_t need = 2 * graph->n_nodes;
    if (need > dev->steps_cap) {
        SimdStep *p = aligned_alloc(64, simd_align64((size_t)need * sizeof *p));
        if (!p)
            return cpu_error(SLM_ERR_NO_MEMORY,
                             "graph_compute: cannot plan %u nodes", graph->n_nodes);
        free(dev->steps);
        dev->steps = p;
        dev->steps_cap = need;
    }
    size_t shared = 0, per_thread = 0;
    double shared_work = 0.0;
    uint32_t n_steps = 0;
    for (uint32_t i = 0; i < graph->n_nodes; i++) {
        const slm_node_t *node = &graph->nodes[i];
        slm_status_t st = cpu_check_runnable(node, i);
        if (st != SLM_OK)
            return st;
        SimdScratch sc = simd_node_scratch(dev->kern, node);
        shared = sc.shared > shared ? sc.shared : shared;
        per_thread = sc.per_thread > per_thread ? sc.per_thread : per_thread;
        SimdPlan plan = simd_node_plan(dev->kern, node, dev->n_threads);
        for (int ph = 0; ph < plan.phases; ph++) {
            SimdStep *step = &dev->steps[n_steps++];
            atomic_init(&step->next, 0);
            atomic_init(&step->done, 0);
            step->node = node;
            step->phase = (uint8_t)ph;
            step->chunks = plan.chunks[ph] > 0 ? plan.chunks[ph] : 1;
            step->main_only = plan.main_only;
        }
        if (!plan.main_only)
            shared_work += plan.work;
    }
    dev->n_steps = n_steps;
    per_thread = simd_align64(per_thread);
    if (!grow(&dev->shared, &dev->shared_cap, shared > 0 ? shared : 64) ||
        !grow(&dev->threads, &dev->threads_cap, per_thread * dev->n_threads + 64))
        return cpu_error(SLM_ERR_NO_MEMORY,
                         "graph_compute: cannot allocate %zu + %u x %zu bytes "
                         "of scratch", shared, dev->n_threads, per_thread);

    dev->ctx.kern = dev->kern;
    dev->ctx.shared = dev->shared;
    dev->ctx.thread_scratch = dev->threads;
    dev->ctx.thread_bytes = per_thread;
    dev->ctx.nodes = graph->nodes;
    dev->ctx.run++;
    atomic_store(&dev->ctx.failed, 0);
    dev->ctx.error[0] = '\0';
    if (shared_work >= GRAPH_SHARED_WORK && dev->n_threads > 1) {
        simd_pool_run(dev->pool, graph_job, dev);
    } else { /* nothing worth waking the workers for */
        if (dev->n_threads > 1)
            simd_pool_doze(dev->pool);
        graph_job(dev, 0, 1);
    }
    if (atomic_load(&dev->ctx.failed))
        return cpu_error(SLM_ERR_INVALID_ARG, "%s", dev->ctx.error);
    return SLM_OK;
}

/* ----------------------------------------------------------- descriptor */

static slm_backend_t simd_backend = {
    .abi_major = SLM_BACKEND_ABI_MAJOR,
    .abi_minor = SLM_BACKEND_ABI_MINOR,
    .struct_size = sizeof(slm_backend_t),
    .version = "0.1.0",
    .probe = simd_probe,
    .device_open = simd_device_open,
    .device_close = simd_device_close,
    .buffer_alloc = cpu_buffer_alloc,
    .buffer_free = cpu_buffer_free,
    .buffer_write = cpu_buffer_write,
    .buffer_read = cpu_buffer_read,
    .supports_node = simd_supports_node,
    .graph_compute = simd_graph_compute,
    .buffer_from_host_ptr = cpu_buffer_from_host_ptr,
};

SLM_PLUGIN_EXPORT slm_status_t slm_plugin_init(const slm_host_t *host,
                                               const slm_backend_t **out)
{
    slm_status_t st = slm_plugin_check_host(host, out, simd_variant.name);
    if (st != SLM_OK)
        return st;
    g_host = host;
    /* The name and description come from the variant this file is linked
    ** with; the rest of the table is the same for every variant. */
    simd_backend.name = simd_variant.name;
    simd_backend.description = simd_variant.description;
    simd_backend.config_keys = simd_variant.config_keys;
    simd_backend.n_config_keys = simd_variant.n_config_keys;
    *out = &simd_backend;
    return SLM_OK;
}
