/*
** cpu_backend.c -- the scalar reference CPU backend: entry point, probe,
** devices, buffers and the graph loop.
**
** This backend is the oracle every other backend is compared with, so it is
** written to be read, not to be fast: one thread, plain loops over 4-D
** indices, double-precision sums, no SIMD and no CPU feature detection.
** Buffers are ordinary host memory; graph_compute is synchronous.
*/
#define _POSIX_C_SOURCE 200809L /* sysconf */

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpu_internal.h"

/* ----------------------------------------------------------------- host */

/* The host table given to the last successful slm_plugin_init. Valid until
** the plugin is unloaded; written once before any other call, then only
** read, so every thread may use it. */
static const slm_host_t *g_host;

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

static void cpu_log(int level, const char *msg)
{
    if (g_host && g_host->log)
        g_host->log(g_host->ctx, level, msg);
}

/* ---------------------------------------------------------------- probe */

/* Trim leading and trailing blanks (and the newline) in place. */
static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' ||
                     s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* The CPU's model name and vendor from /proc/cpuinfo, "key<blanks>: value"
** lines of which the first occurrence counts. Either stays "" when the file
** is unreadable or lacks the key (many ARM kernels give no model name). */
static void read_cpuinfo(char *model, size_t model_cap, char *vendor,
                         size_t vendor_cap)
{
    model[0] = vendor[0] = '\0';
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    bool line_start = true; /* false while reading the rest of a long line */
    while ((!model[0] || !vendor[0]) && fgets(line, sizeof line, f)) {
        bool at_start = line_start;
        line_start = strchr(line, '\n') != NULL;
        char *colon = strchr(line, ':');
        if (!at_start || !colon)
            continue;
        *colon = '\0';
        const char *key = trim(line), *value = trim(colon + 1);
        if (!model[0] && strcmp(key, "model name") == 0)
            snprintf(model, model_cap, "%s", value);
        else if (!vendor[0] && (strcmp(key, "vendor_id") == 0 ||
                                strcmp(key, "CPU implementer") == 0))
            snprintf(vendor, vendor_cap, "%s", value);
    }
    fclose(f);
}

/* sysconf(name), or 0 when the system does not say. */
static uint64_t sysconf_or_0(int name)
{
    long v = sysconf(name);
    return v > 0 ? (uint64_t)v : 0;
}

static slm_status_t cpu_probe(slm_device_info_t *infos, uint32_t capacity,
                              uint32_t *n_out)
{
    if (!infos || !n_out)
        return cpu_error(SLM_ERR_INVALID_ARG, "probe: no output array");
    *n_out = 0;
    if (capacity == 0)
        return SLM_OK;
    /* ABI 1.0 is the first layout, so every host knows at least all of it. */
    if (infos[0].struct_size < sizeof(slm_device_info_t))
        return cpu_error(SLM_ERR_INVALID_ARG,
                         "probe: infos[0].struct_size %u is smaller than the "
                         "%zu bytes of ABI 1.0", (unsigned)infos[0].struct_size,
                         sizeof(slm_device_info_t));

    /* Filled here, then copied over the fields this plugin knows; a newer
    ** host's trailing fields stay as it zeroed them. */
    slm_device_info_t info;
    memset(&info, 0, sizeof info);
    info.struct_size = infos[0].struct_size;
    info.kind = SLM_DEVICE_CPU;
    info.flags = SLM_DEVICE_FLAG_HOST_MEMORY | SLM_DEVICE_FLAG_REFERENCE;

    char model[96], vendor[sizeof info.vendor];
    read_cpuinfo(model, sizeof model, vendor, sizeof vendor);
    snprintf(info.name, sizeof info.name, "%s (scalar reference)",
             model[0] ? model : "CPU");
    snprintf(info.vendor, sizeof info.vendor, "%s",
             vendor[0] ? vendor : "unknown");

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

    snprintf(info.features, sizeof info.features, "scalar reference");
    uint64_t cpus = sysconf_or_0(_SC_NPROCESSORS_ONLN);
    info.max_threads = cpus > 0 ? (uint32_t)cpus : 1;

    memcpy(&infos[0], &info, sizeof info);
    *n_out = 1;
    return SLM_OK;
}

/* -------------------------------------------------------------- devices */

typedef struct CpuDevice {
    uint32_t n_threads; /* asked for at open; the reference uses one */
} CpuDevice;

static slm_status_t cpu_device_open(uint32_t index,
                                    const slm_device_open_opts_t *opts,
                                    void **out_device)
{
    if (!out_device)
        return cpu_error(SLM_ERR_INVALID_ARG, "device_open: no output handle");
    if (index != 0)
        return cpu_error(SLM_ERR_INVALID_ARG,
                         "device_open: no device %u (the cpu backend has one)",
                         index);
    CpuDevice *dev = calloc(1, sizeof *dev);
    if (!dev)
        return cpu_error(SLM_ERR_NO_MEMORY, "device_open: out of memory");
    dev->n_threads = opts ? opts->n_threads : 0;
    cpu_log(SLM_LOG_DEBUG, "cpu: opened the scalar reference device (1 thread)");
    *out_device = dev;
    return SLM_OK;
}

static void cpu_device_close(void *device)
{
    free(device);
}

/* ---------------------------------------------------------------- graphs */

static bool cpu_supports_node(void *device, const slm_node_t *node)
{
    (void)device;
    return cpu_check_node(node) == NULL;
}

static slm_status_t run_node(const slm_node_t *node, uint32_t index)
{
    slm_status_t st = cpu_check_runnable(node, index);
    return st != SLM_OK ? st : cpu_compute_node(node, index);
}

static slm_status_t cpu_graph_compute(void *device, const slm_graph_t *graph)
{
    if (!device || !graph || (graph->n_nodes > 0 && !graph->nodes))
        return cpu_error(SLM_ERR_INVALID_ARG, "graph_compute: no graph");
    for (uint32_t i = 0; i < graph->n_nodes; i++) {
        slm_status_t st = run_node(&graph->nodes[i], i);
        if (st != SLM_OK)
            return st;
    }
    return SLM_OK;
}

/* ----------------------------------------------------------- descriptor */

static const slm_backend_t cpu_backend = {
    .abi_major = SLM_BACKEND_ABI_MAJOR,
    .abi_minor = SLM_BACKEND_ABI_MINOR,
    .struct_size = sizeof(slm_backend_t),
    .name = "cpu",
    .version = "0.1.0",
    .description = "scalar reference CPU backend: every op in plain C, "
                   "one thread, the oracle for the others",
    .probe = cpu_probe,
    .device_open = cpu_device_open,
    .device_close = cpu_device_close,
    .buffer_alloc = cpu_buffer_alloc,
    .buffer_free = cpu_buffer_free,
    .buffer_write = cpu_buffer_write,
    .buffer_read = cpu_buffer_read,
    .supports_node = cpu_supports_node,
    .graph_compute = cpu_graph_compute,
    .buffer_from_host_ptr = cpu_buffer_from_host_ptr,
    /* No synchronize (compute is synchronous), no plans, no node_cost. */
};

SLM_PLUGIN_EXPORT slm_status_t slm_plugin_init(const slm_host_t *host,
                                               const slm_backend_t **out)
{
    slm_status_t st = slm_plugin_check_host(host, out, "cpu");
    if (st != SLM_OK)
        return st;
    g_host = host;
    *out = &cpu_backend;
    return SLM_OK;
}
