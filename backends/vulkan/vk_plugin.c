/*
** vk_plugin.c -- the Vulkan backend's entry point and descriptor, and the
** messages it gives the host.
**
** The plugin runs the graph ABI on every Vulkan 1.2 device the loader
** offers, lavapipe included (reported as an emulated CPU device). Nothing
** links libvulkan: vk_loader.c dlopens it, so that a machine without
** Vulkan loads this plugin and simply gets no device.
*/
#include <stdarg.h>
#include <stdio.h>

#include "vk_device.h"

/* ----------------------------------------------------------------- host */

/* The host table given to the last successful slm_plugin_init. Written once
** before any other call, then only read, so every thread may use it. */
static const slm_host_t *g_host;

slm_status_t vk_error(slm_status_t status, const char *fmt, ...)
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

void vk_log(int level, const char *fmt, ...)
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

/* ----------------------------------------------------------- descriptor */

static const slm_backend_t vk_backend = {
    .abi_major = SLM_BACKEND_ABI_MAJOR,
    .abi_minor = SLM_BACKEND_ABI_MINOR,
    .struct_size = sizeof(slm_backend_t),
    .name = "vulkan",
    .version = "0.1.0",
    .description = "Vulkan 1.2 compute: every op as SPIR-V shaders, on any "
                   "GPU with a Vulkan driver (lavapipe as an emulated CPU)",
    .probe = vk_probe,
    .device_open = vk_device_open,
    .device_close = vk_device_close,
    .buffer_alloc = vk_buffer_alloc,
    .buffer_free = vk_buffer_free,
    .buffer_write = vk_buffer_write,
    .buffer_read = vk_buffer_read,
    .supports_node = vk_supports_node,
    .graph_compute = vk_graph_compute,
    /* graph_compute waits for its fence: no synchronize. Buffers are device
    ** memory, so no buffer_from_host_ptr; no plans and no node_cost yet. */
};

SLM_PLUGIN_EXPORT slm_status_t slm_plugin_init(const slm_host_t *host,
                                               const slm_backend_t **out)
{
    slm_status_t st = slm_plugin_check_host(host, out, "vulkan");
    if (st != SLM_OK)
        return st;
    g_host = host;
    *out = &vk_backend;
    return SLM_OK;
}
