/*
** cl_plugin.c -- the OpenCL backend's entry point and descriptor, and the
** messages and config it gets from the host.
**
** The plugin runs the graph ABI on every OpenCL 1.2 (or later) device the
** ICD loader offers: phone and desktop GPUs, and PoCL on a CPU, reported as
** an emulated CPU device. Nothing links libOpenCL: cl_loader.c dlopens it,
** so that a machine without OpenCL loads this plugin and gets no device.
*/
#include <stdarg.h>
#include <stdio.h>

#include "cl_device.h"

/* ----------------------------------------------------------------- host */

/* The host table given to the last successful slm_plugin_init. Written once
** before any other call, then only read, so every thread may use it. */
static const slm_host_t *g_host;

slm_status_t cl_error(slm_status_t status, const char *fmt, ...)
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

void cl_log(int level, const char *fmt, ...)
{
    if (!g_host || !g_host->log)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    g_host->log(g_host->ctx, level, msg);
}

const char *cl_config(const char *key)
{
    if (!g_host || !g_host->config_get)
        return NULL;
    return g_host->config_get(g_host->ctx, key);
}

/* ----------------------------------------------------------- descriptor */

static const slm_config_key_t cl_config_keys[] = {
    {"cache_dir", "folder of the program binary cache (default "
                  "$XDG_CACHE_HOME/slm, else ~/.cache/slm); 'off' disables it"},
    {"row_lanes", "work-items per weight row in decode: 0 = one per row (CPU "
                  "devices' default), 2..256, a power of two (GPUs' default 64)"},
};

static const slm_backend_t cl_backend = {
    .abi_major = SLM_BACKEND_ABI_MAJOR,
    .abi_minor = SLM_BACKEND_ABI_MINOR,
    .struct_size = sizeof(slm_backend_t),
    .name = "opencl",
    .version = "0.1.0",
    .description = "OpenCL 1.2 compute: every op as OpenCL C kernels, on any "
                   "GPU with an OpenCL driver (PoCL as an emulated CPU)",
    .config_keys = cl_config_keys,
    .n_config_keys = sizeof cl_config_keys / sizeof cl_config_keys[0],
    .probe = cl_probe,
    .device_open = cl_device_open,
    .device_close = cl_device_close,
    .buffer_alloc = cl_buffer_alloc,
    .buffer_free = cl_buffer_free,
    .buffer_write = cl_buffer_write,
    .buffer_read = cl_buffer_read,
    .supports_node = cl_supports_node,
    .graph_compute = cl_graph_compute,
    /* graph_compute waits with clFinish: no synchronize. Buffers are device
    ** memory, so no buffer_from_host_ptr; no plans and no node_cost yet. */
};

SLM_PLUGIN_EXPORT slm_status_t slm_plugin_init(const slm_host_t *host,
                                               const slm_backend_t **out)
{
    slm_status_t st = slm_plugin_check_host(host, out, "opencl");
    if (st != SLM_OK)
        return st;
    g_host = host;
    *out = &cl_backend;
    return SLM_OK;
}
