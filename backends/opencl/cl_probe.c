/*
** cl_probe.c -- which OpenCL devices the plugin claims, and probe.
**
** probe and device_open both go through cl_usable_devices, so the index
** the host passes to device_open counts exactly the devices probe listed.
** Probe only asks questions, in a child process (enumerate_in_child): no
** context is created, no memory allocated, and the driver is not started
** in the host's process. A machine without a loader, a platform (the loader answers
** CL_PLATFORM_NOT_FOUND_KHR) or a device has no device: SLM_OK, n = 0.
*/
#define _POSIX_C_SOURCE 200809L /* fork, pipe, waitpid */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cl_device.h"

/* What the kernels need of a device: sort.cl keeps 1024 keys and indices
** in local memory; work-groups are cut to the device's size (cl_ops.c),
** and below 64 the reductions would be slow. */
#define CL_NEEDED_LOCAL_MEM (16u << 10)
#define CL_NEEDED_WG 64u

#define CL_MAX_PLATFORMS 16

/* A string property of a device, truncated to fit; "" when unknown. */
static void device_string(const cl_lib *lib, cl_device_id dev, cl_device_info what,
                          char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    if (lib->clGetDeviceInfo(dev, what, 0, NULL, &n) != CL_SUCCESS || n == 0)
        return;
    /* The driver refuses a buffer shorter than the whole string. */
    char *tmp = n <= cap ? buf : malloc(n);
    if (!tmp)
        return;
    if (lib->clGetDeviceInfo(dev, what, n, tmp, NULL) != CL_SUCCESS)
        tmp[0] = '\0';
    tmp[n - 1] = '\0';
    if (tmp != buf) {
        memcpy(buf, tmp, cap - 1);
        buf[cap - 1] = '\0';
        free(tmp);
    }
}

static uint64_t device_u64(const cl_lib *lib, cl_device_id dev, cl_device_info what)
{
    cl_ulong v = 0;
    return lib->clGetDeviceInfo(dev, what, sizeof v, &v, NULL) == CL_SUCCESS ? v : 0;
}

static uint32_t device_u32(const cl_lib *lib, cl_device_id dev, cl_device_info what)
{
    cl_uint v = 0;
    return lib->clGetDeviceInfo(dev, what, sizeof v, &v, NULL) == CL_SUCCESS ? v : 0;
}

/* Whether the space-separated list has `word`. */
static bool has_word(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; (p = strstr(p, word)) != NULL; p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return true;
    return false;
}

/* "OpenCL C 1.2 ..." -> 102; 0 when unreadable. */
static int c_version(const char *s)
{
    int major = 0, minor = 0;
    if (sscanf(s, "OpenCL C %d.%d", &major, &minor) != 2)
        return 0;
    return major * 100 + minor;
}

/* Fill f for device `dev`; NULL when usable, else why not (static). */
static const char *query(const cl_lib *lib, cl_platform_id platform, cl_device_id dev,
                         cl_found *f)
{
    memset(f, 0, sizeof *f);
    f->platform = platform;
    f->device = dev;
    lib->clGetPlatformInfo(platform, CL_PLATFORM_NAME, sizeof f->platform_name - 1,
                           f->platform_name, NULL);
    device_string(lib, dev, CL_DEVICE_NAME, f->name, sizeof f->name);
    device_string(lib, dev, CL_DEVICE_VENDOR, f->vendor, sizeof f->vendor);
    device_string(lib, dev, CL_DRIVER_VERSION, f->driver, sizeof f->driver);
    device_string(lib, dev, CL_DEVICE_VERSION, f->version, sizeof f->version);
    device_string(lib, dev, CL_DEVICE_OPENCL_C_VERSION, f->c_version, sizeof f->c_version);
    lib->clGetDeviceInfo(dev, CL_DEVICE_TYPE, sizeof f->type, &f->type, NULL);
    cl_bool b = CL_FALSE;
    lib->clGetDeviceInfo(dev, CL_DEVICE_HOST_UNIFIED_MEMORY, sizeof b, &b, NULL);
    f->unified_memory = b;
    f->clock_mhz = device_u32(lib, dev, CL_DEVICE_MAX_CLOCK_FREQUENCY);
    f->global_mem = device_u64(lib, dev, CL_DEVICE_GLOBAL_MEM_SIZE);
    f->max_alloc = device_u64(lib, dev, CL_DEVICE_MAX_MEM_ALLOC_SIZE);

    char ext[4096];
    device_string(lib, dev, CL_DEVICE_EXTENSIONS, ext, sizeof ext);
    cl_caps *c = &f->caps;
    c->fp16 = has_word(ext, "cl_khr_fp16");
    c->fp64 = has_word(ext, "cl_khr_fp64");
    f->intel_subgroups = has_word(ext, "cl_intel_subgroups");
    c->subgroups = has_word(ext, "cl_khr_subgroups") || f->intel_subgroups;
    c->int_dot = has_word(ext, "cl_khr_integer_dot_product");
    f->qcom = strstr(ext, "cl_qcom_") != NULL;
    c->emulated = (f->type & CL_DEVICE_TYPE_CPU) != 0;
    c->compute_units = device_u32(lib, dev, CL_DEVICE_MAX_COMPUTE_UNITS);
    size_t wg = 0;
    lib->clGetDeviceInfo(dev, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
    c->max_wg_size = wg;
    c->local_mem_bytes = device_u64(lib, dev, CL_DEVICE_LOCAL_MEM_SIZE);

    b = CL_FALSE;
    lib->clGetDeviceInfo(dev, CL_DEVICE_AVAILABLE, sizeof b, &b, NULL);
    if (!b)
        return "it is not available";
    b = CL_FALSE;
    lib->clGetDeviceInfo(dev, CL_DEVICE_COMPILER_AVAILABLE, sizeof b, &b, NULL);
    if (!b)
        return "it has no OpenCL C compiler";
    if (c_version(f->c_version) < 102)
        return "its OpenCL C is older than 1.2";
    if (c->max_wg_size < CL_NEEDED_WG)
        return "its work-groups hold fewer than 64 work-items";
    if (c->local_mem_bytes < CL_NEEDED_LOCAL_MEM)
        return "it has less than 16 KiB of local memory";
    return NULL;
}

uint32_t cl_usable_devices(const cl_lib *lib, cl_found *out, uint32_t cap, char *notes)
{
    char eb[32];
    cl_platform_id platforms[CL_MAX_PLATFORMS];
    cl_uint n_platforms = 0;
    cl_int err = lib->clGetPlatformIDs(CL_MAX_PLATFORMS, platforms, &n_platforms);
    if (err != CL_SUCCESS || n_platforms == 0) {
        /* CL_PLATFORM_NOT_FOUND_KHR: the loader found no driver. */
        cl_note(notes, SLM_LOG_DEBUG, "no devices: clGetPlatformIDs: %s",
               err == CL_SUCCESS ? "no platform" : cl_error_name(err, eb));
        return 0;
    }
    if (n_platforms > CL_MAX_PLATFORMS)
        n_platforms = CL_MAX_PLATFORMS;
    uint32_t n = 0;
    for (cl_uint p = 0; p < n_platforms && n < cap; p++) {
        cl_device_id devs[SLM_MAX_DEVICES_PER_PLUGIN];
        cl_uint n_devs = 0;
        err = lib->clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL,
                                  SLM_MAX_DEVICES_PER_PLUGIN, devs, &n_devs);
        if (err != CL_SUCCESS) {
            /* CL_DEVICE_NOT_FOUND is also what PoCL says when it cannot
            ** create its kernel cache folder. */
            cl_note(notes, SLM_LOG_DEBUG, "platform %u: clGetDeviceIDs: %s", (unsigned)p,
                    cl_error_name(err, eb));
            continue;
        }
        if (n_devs > SLM_MAX_DEVICES_PER_PLUGIN)
            n_devs = SLM_MAX_DEVICES_PER_PLUGIN;
        for (cl_uint i = 0; i < n_devs && n < cap; i++) {
            const char *why = query(lib, platforms[p], devs[i], &out[n]);
            if (!why)
                n++;
            else
                cl_note(notes, SLM_LOG_INFO, "not using %s: %s", out[n].name, why);
        }
    }
    return n;
}

/* ---------------------------------------------------------------- probe */

/* Append printf-formatted text to buf[cap] at *len, dropping what does not
** fit. */
static void append(char *buf, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
    if (*len >= cap - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (k > 0)
        *len = *len + (size_t)k < cap - 1 ? *len + (size_t)k : cap - 1;
}

/* "opencl=3.0 clc=1.2 cu=2 mhz=2600 local=1024K maxalloc=1024M wg=4096
** fp64 subgroups intel-subgroups qcom dot platform=Portable..." */
static void features_string(const cl_found *f, char *buf, size_t cap)
{
    const cl_caps *c = &f->caps;
    size_t len = 0;
    int major = 0, minor = 0;
    buf[0] = '\0';
    if (sscanf(f->version, "OpenCL %d.%d", &major, &minor) == 2)
        append(buf, cap, &len, "opencl=%d.%d", major, minor);
    int cv = c_version(f->c_version);
    append(buf, cap, &len, " clc=%d.%d cu=%u mhz=%u local=%lluK maxalloc=%lluM wg=%zu",
           cv / 100, cv % 100, c->compute_units, f->clock_mhz,
           (unsigned long long)(c->local_mem_bytes >> 10),
           (unsigned long long)(f->max_alloc >> 20), c->max_wg_size);
    if (c->fp16)
        append(buf, cap, &len, " fp16");
    if (c->fp64)
        append(buf, cap, &len, " fp64");
    if (c->subgroups)
        append(buf, cap, &len, " subgroups");
    if (f->intel_subgroups)
        append(buf, cap, &len, " intel-subgroups");
    if (f->qcom)
        append(buf, cap, &len, " qcom");
    if (c->int_dot)
        append(buf, cap, &len, " dot");
    if (f->unified_memory)
        append(buf, cap, &len, " unified");
    append(buf, cap, &len, " platform=");
    for (const char *p = f->platform_name; *p; p++)
        append(buf, cap, &len, "%c", *p == ' ' ? '_' : *p);
}

static void fill_info(const cl_found *f, slm_device_info_t *info)
{
    if (f->type & CL_DEVICE_TYPE_GPU) {
        info->kind = f->unified_memory ? SLM_DEVICE_IGPU : SLM_DEVICE_GPU;
    } else if (f->type & CL_DEVICE_TYPE_CPU) {
        /* PoCL and other CPU runtimes: never above a native CPU backend. */
        info->kind = SLM_DEVICE_CPU;
        info->flags |= SLM_DEVICE_FLAG_EMULATED;
    } else if (f->type & CL_DEVICE_TYPE_ACCELERATOR) {
        info->kind = SLM_DEVICE_NPU;
    } else {
        info->kind = SLM_DEVICE_OTHER;
    }
    snprintf(info->name, sizeof info->name, "%s", f->name);
    snprintf(info->vendor, sizeof info->vendor, "%s", f->vendor);
    snprintf(info->driver, sizeof info->driver, "%s", f->driver);
    info->memory_total = f->global_mem;
    info->ops = cl_ops_op_mask() | cl_matmul_op_mask();
    info->dtypes = SLM_DTYPE_BIT(SLM_DTYPE_F32) | SLM_DTYPE_BIT(SLM_DTYPE_F16) |
                   SLM_DTYPE_BIT(SLM_DTYPE_BF16) | SLM_DTYPE_BIT(SLM_DTYPE_I32) |
                   cl_matmul_dtype_mask();
    features_string(f, info->features, sizeof info->features);
}

/* What one enumeration found (probe's child sends it through a pipe). */
typedef struct probe_result {
    uint32_t n;
    cl_found found[SLM_MAX_DEVICES_PER_PLUGIN];
    char notes[CL_NOTES_SIZE];
} probe_result;

/* Enumerate in this process. */
static void enumerate(probe_result *r, uint32_t cap)
{
    cl_pin *pin = cl_pin_begin();
    cl_lib lib;
    if (cl_lib_open(&lib, r->notes)) {
        r->n = cl_usable_devices(&lib, r->found, cap, r->notes);
        cl_lib_close(&lib);
    }
    cl_pin_end(pin);
}

/* Enumerate in a child process: false when it could not be run. Asking a
** driver for its devices starts it for good, and PoCL starts its worker
** threads then; a process that forks after probe (slm-bench runs each
** backend in a child) would leave a child whose OpenCL waits forever for
** threads it does not have. The child calls neither the host nor exit
** handlers. */
static bool enumerate_in_child(probe_result *r, uint32_t cap)
{
    int fds[2];
    if (pipe(fds) != 0)
        return false;
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return false;
    }
    if (pid == 0) {
        close(fds[0]);
        enumerate(r, cap);
        const char *p = (const char *)r;
        size_t left = sizeof *r;
        while (left > 0) {
            ssize_t k = write(fds[1], p, left);
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0)
                _exit(1);
            p += k;
            left -= (size_t)k;
        }
        _exit(0);
    }
    close(fds[1]);
    char *p = (char *)r;
    size_t got = 0;
    while (got < sizeof *r) {
        ssize_t k = read(fds[0], p + got, sizeof *r - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    close(fds[0]);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    if (got == sizeof *r && r->n <= cap)
        return true;
    memset(r, 0, sizeof *r);
    cl_note(r->notes, SLM_LOG_WARN, "no devices: the probing child process failed");
    return true;
}

slm_status_t cl_probe(slm_device_info_t *infos, uint32_t capacity, uint32_t *n_out)
{
    if (!infos || !n_out)
        return cl_error(SLM_ERR_INVALID_ARG, "probe: no output array");
    *n_out = 0;
    if (capacity == 0)
        return SLM_OK;
    if (infos[0].struct_size < sizeof(slm_device_info_t))
        return cl_error(SLM_ERR_INVALID_ARG,
                        "probe: infos[0].struct_size %u is smaller than the "
                        "%zu bytes of ABI 1.0", (unsigned)infos[0].struct_size,
                        sizeof(slm_device_info_t));
    probe_result *r = calloc(1, sizeof *r);
    if (!r)
        return cl_error(SLM_ERR_NO_MEMORY, "probe: out of host memory");
    uint32_t cap = capacity < SLM_MAX_DEVICES_PER_PLUGIN ? capacity
                                                         : SLM_MAX_DEVICES_PER_PLUGIN;
    if (!enumerate_in_child(r, cap))
        enumerate(r, cap);
    cl_notes_log(r->notes);
    for (uint32_t i = 0; i < r->n; i++) {
        /* Filled here, then copied over the fields this plugin knows; a
        ** newer host's trailing fields stay as it zeroed them. */
        slm_device_info_t info;
        memset(&info, 0, sizeof info);
        info.struct_size = infos[i].struct_size;
        fill_info(&r->found[i], &info);
        memcpy(&infos[i], &info, sizeof info);
    }
    *n_out = r->n;
    free(r);
    return SLM_OK;
}
