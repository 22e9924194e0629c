/*
** cl_device.c -- opening and closing a device, its kernels, the enqueue
** every op goes through, and the memory a graph borrows.
**
** A device holds one context, one in-order queue and one program built
** from every kernel file (cl_program_cache.c). Kernels are created on first
** use and kept by name. Scratch memory is a list of chunks rewound at the
** start of each graph; it grows by a chunk (twice the last) when a graph
** needs more, so after the first runs of a model nothing is allocated per
** graph.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_device.h"

#define CL_SCRATCH_FIRST_CHUNK ((size_t)4 << 20)
#define CL_SCRATCH_ALIGN 256

const cl_caps *cl_dev_caps(const cl_dev *d)
{
    return &d->info.caps;
}

/* ------------------------------------------------------------- kernels */

/* The kernel named `name`, created on first use. */
static slm_status_t get_kernel(cl_dev *d, const char *name, cl_kernel_entry **out)
{
    for (uint32_t i = 0; i < d->n_kernels; i++)
        if (strcmp(d->kernels[i].name, name) == 0) {
            *out = &d->kernels[i];
            return SLM_OK;
        }
    char eb[32];
    if (strlen(name) >= sizeof d->kernels[0].name)
        return cl_error(SLM_ERR_INTERNAL, "opencl: kernel name '%s' is too long", name);
    if (d->n_kernels == d->cap_kernels) {
        uint32_t cap = d->cap_kernels ? 2 * d->cap_kernels : 32;
        cl_kernel_entry *k = realloc(d->kernels, cap * sizeof *k);
        if (!k)
            return cl_error(SLM_ERR_NO_MEMORY, "kernel %s: out of host memory", name);
        d->kernels = k;
        d->cap_kernels = cap;
    }
    cl_int err = CL_SUCCESS;
    cl_kernel k = d->lib.clCreateKernel(d->program, name, &err);
    if (err != CL_SUCCESS)
        return cl_error(SLM_ERR_INTERNAL, "clCreateKernel(%s): %s", name,
                        cl_error_name(err, eb));
    cl_uint n_args = 0;
    err = d->lib.clGetKernelInfo(k, CL_KERNEL_NUM_ARGS, sizeof n_args, &n_args, NULL);
    if (err != CL_SUCCESS || (n_args != 5 && n_args != 7)) {
        d->lib.clReleaseKernel(k);
        return cl_error(SLM_ERR_INTERNAL, "kernel %s: takes %u arguments, not KARGS (5) "
                        "or KARGS_IDS (7)", name, (unsigned)n_args);
    }
    cl_kernel_entry *e = &d->kernels[d->n_kernels++];
    snprintf(e->name, sizeof e->name, "%s", name);
    e->kernel = k;
    e->n_args = n_args;
    *out = e;
    return SLM_OK;
}

slm_status_t cl_enqueue(cl_dev *d, const char *kernel, cl_buf *const bufs[4],
                        const cl_args *args, uint32_t dims, const size_t *gws,
                        const size_t *lws)
{
    char eb[32];
    if (dims < 1 || dims > 3)
        return cl_error(SLM_ERR_INTERNAL, "%s: %u dimensions", kernel, dims);
    for (uint32_t i = 0; i < dims; i++)
        if (gws[i] == 0)
            return SLM_OK; /* nothing to do */
    cl_kernel_entry *e = NULL;
    slm_status_t st = get_kernel(d, kernel, &e);
    if (st != SLM_OK)
        return st;
    cl_int err = CL_SUCCESS;
    for (cl_uint i = 0; i < 4 && err == CL_SUCCESS; i++) {
        const cl_buf *b = bufs[i] ? bufs[i] : bufs[0];
        err = d->lib.clSetKernelArg(e->kernel, i, sizeof(cl_mem), &b->mem);
    }
    if (err == CL_SUCCESS)
        err = d->lib.clSetKernelArg(e->kernel, 4, sizeof *args, args);
    if (err == CL_SUCCESS && e->n_args == 7)
        err = d->lib.clSetKernelArg(e->kernel, 5, sizeof(cl_mem), &d->status.mem);
    if (err == CL_SUCCESS && e->n_args == 7)
        err = d->lib.clSetKernelArg(e->kernel, 6, sizeof(cl_uint), &d->cur_node);
    if (err != CL_SUCCESS)
        return cl_error(SLM_ERR_INTERNAL, "clSetKernelArg(%s): %s", kernel,
                        cl_error_name(err, eb));
    err = d->lib.clEnqueueNDRangeKernel(d->queue, e->kernel, dims, NULL, gws, lws, 0, NULL,
                                        NULL);
    if (err != CL_SUCCESS)
        return cl_error(err == CL_OUT_OF_RESOURCES || err == CL_OUT_OF_HOST_MEMORY ||
                                err == CL_MEM_OBJECT_ALLOCATION_FAILURE
                            ? SLM_ERR_NO_MEMORY : SLM_ERR_DEVICE,
                        "clEnqueueNDRangeKernel(%s, %zu x %zu x %zu): %s", kernel, gws[0],
                        dims > 1 ? gws[1] : 1, dims > 2 ? gws[2] : 1,
                        cl_error_name(err, eb));
    return SLM_OK;
}

/* ------------------------------------------------------------- scratch */

slm_status_t cl_scratch(cl_dev *d, size_t bytes, cl_buf **buf, uint32_t *offset)
{
    if (bytes == 0)
        bytes = 1;
    while (d->cur_scratch < d->n_scratch) {
        size_t o = (d->scratch_used + CL_SCRATCH_ALIGN - 1) / CL_SCRATCH_ALIGN *
                   CL_SCRATCH_ALIGN;
        cl_buf *b = d->scratch[d->cur_scratch];
        if (o <= b->size && bytes <= b->size - o) {
            d->scratch_used = o + bytes;
            *buf = b;
            *offset = (uint32_t)o;
            return SLM_OK;
        }
        d->cur_scratch++;
        d->scratch_used = 0;
    }
    size_t size = d->n_scratch ? d->scratch[d->n_scratch - 1]->size * 2 : CL_SCRATCH_FIRST_CHUNK;
    if (size < bytes)
        size = bytes;
    if (size > UINT32_MAX)
        size = bytes;
    if (size > UINT32_MAX)
        return cl_error(SLM_ERR_NO_MEMORY, "scratch memory: %zu bytes is more than a "
                        "kernel can address", bytes);
    cl_buf **chunks = realloc(d->scratch, (d->n_scratch + 1) * sizeof *chunks);
    if (!chunks)
        return cl_error(SLM_ERR_NO_MEMORY, "scratch memory: out of host memory");
    d->scratch = chunks;
    cl_buf *b = calloc(1, sizeof *b);
    if (!b)
        return cl_error(SLM_ERR_NO_MEMORY, "scratch memory: out of host memory");
    slm_status_t st = cl_buf_create(d, size, "scratch memory", b);
    if (st != SLM_OK) {
        free(b);
        return st;
    }
    d->scratch[d->n_scratch] = b;
    d->cur_scratch = d->n_scratch++;
    d->scratch_used = bytes;
    *buf = b;
    *offset = 0;
    return SLM_OK;
}

slm_status_t cl_device_begin_graph(cl_dev *d)
{
    d->cur_scratch = 0;
    d->scratch_used = 0;
    d->cur_node = 0;
    if (!d->status_dirty)
        return SLM_OK;
    static const uint32_t zero[4];
    slm_status_t st = cl_buffer_write(d, &d->status, 0, zero, sizeof zero);
    if (st == SLM_OK)
        d->status_dirty = false;
    return st;
}

/* ---------------------------------------------------------- open/close */

/* The build options: the OpenCL C version, what the device has and the
** lanes per row of the wide matrix-vector kernels. */
static void build_options(const cl_caps *c, char *buf, size_t cap)
{
    char lanes[32] = "";
    if (c->row_lanes)
        snprintf(lanes, sizeof lanes, " -DMM_LANES=%uu", (unsigned)c->row_lanes);
    snprintf(buf, cap, "-cl-std=CL1.2 -DOPS_VEC=%d%s%s%s%s%s%s", c->emulated ? 16 : 4,
             c->fp16 ? " -DHAVE_FP16" : "", c->fp64 ? " -DHAVE_FP64" : "",
             c->subgroups ? " -DHAVE_SUBGROUPS" : "", c->int_dot ? " -DHAVE_INT_DOT" : "",
             c->emulated ? " -DCL_EMULATED" : "", lanes);
}

/* Lanes per weight row in decode (cl_caps.row_lanes). A CPU device (PoCL)
** runs one work-item's vectors best, so it gets one per row; a GPU wants
** the row's blocks read side by side by many lanes: 64, or its largest
** work-group if that is smaller. [backend.opencl] row_lanes overrides. */
static slm_status_t choose_row_lanes(cl_caps *c)
{
    size_t lanes = 0;
    const char *set = cl_config("row_lanes");
    if (set) {
        char *end;
        unsigned long v = strtoul(set, &end, 10);
        if (*set < '0' || *set > '9' || *end || v == 1 || v > 256 || (v & (v - 1)))
            return cl_error(SLM_ERR_INVALID_ARG, "[backend.opencl] row_lanes = '%s': "
                            "expected 0 or a power of two from 2 to 256", set);
        lanes = v;
    } else if (!c->emulated) {
        lanes = 64;
    }
    while (lanes > c->max_wg_size)
        lanes /= 2;
    c->row_lanes = lanes >= 2 ? (uint32_t)lanes : 0;
    return SLM_OK;
}

/* Context, queue, status words and program of d->info's device. */
static slm_status_t create(cl_dev *d)
{
    char eb[32];
    cl_int err = CL_SUCCESS;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM,
                                     (cl_context_properties)d->info.platform, 0};
    d->ctx = d->lib.clCreateContext(props, 1, &d->info.device, NULL, NULL, &err);
    if (err != CL_SUCCESS) {
        d->ctx = NULL;
        return cl_error(SLM_ERR_DEVICE, "clCreateContext(%s): %s", d->info.name,
                        cl_error_name(err, eb));
    }
    d->queue = d->lib.clCreateCommandQueue(d->ctx, d->info.device, 0, &err);
    if (err != CL_SUCCESS) {
        d->queue = NULL;
        return cl_error(SLM_ERR_DEVICE, "clCreateCommandQueue(%s): %s", d->info.name,
                        cl_error_name(err, eb));
    }
    slm_status_t st = cl_buf_create(d, 16, "status words", &d->status);
    if (st != SLM_OK)
        return st;
    d->status_dirty = true;
    st = choose_row_lanes(&d->info.caps);
    if (st != SLM_OK)
        return st;
    char options[256];
    build_options(&d->info.caps, options, sizeof options);
    st = cl_program_build(d, options);
    if (st != SLM_OK && d->info.caps.subgroups) {
        /* A driver that names the subgroup extension but fails to build its
        ** built-ins still runs the local-memory sums. */
        cl_log(SLM_LOG_WARN, "opencl: %s: building with subgroups failed, building "
               "without them", d->info.name);
        d->info.caps.subgroups = false;
        build_options(&d->info.caps, options, sizeof options);
        st = cl_program_build(d, options);
    }
    return st;
}

slm_status_t cl_device_open(uint32_t index, const slm_device_open_opts_t *opts,
                            void **out_device)
{
    (void)opts; /* n_threads is for CPU backends; PoCL has its own pool */
    if (!out_device)
        return cl_error(SLM_ERR_INVALID_ARG, "device_open: no output handle");
    cl_dev *d = calloc(1, sizeof *d);
    if (!d)
        return cl_error(SLM_ERR_NO_MEMORY, "device_open: out of host memory");
    cl_pin *pin = cl_pin_begin();
    slm_status_t st = SLM_OK;
    char notes[CL_NOTES_SIZE] = "";
    if (!cl_lib_open(&d->lib, notes))
        st = cl_error(SLM_ERR_NO_DEVICE, "device_open(%u): OpenCL is not available", index);
    cl_found found[SLM_MAX_DEVICES_PER_PLUGIN];
    uint32_t n = 0;
    if (st == SLM_OK)
        n = cl_usable_devices(&d->lib, found, SLM_MAX_DEVICES_PER_PLUGIN, notes);
    if (st == SLM_OK && index >= n)
        st = cl_error(SLM_ERR_INVALID_ARG, "device_open(%u): the opencl backend has %u "
                      "device(s)", index, n);
    if (st == SLM_OK) {
        d->info = found[index];
        st = create(d);
    }
    cl_pin_end(pin);
    if (st != SLM_OK) {
        cl_device_close(d);
        return st;
    }
    cl_log(SLM_LOG_DEBUG, "opencl: opened %s (%s, %s), %u lanes per row in decode",
           d->info.name, d->info.version, d->info.c_version, (unsigned)d->info.caps.row_lanes);
    *out_device = d;
    return SLM_OK;
}

void cl_device_close(void *device)
{
    cl_dev *d = device;
    if (!d)
        return;
    if (d->queue)
        d->lib.clFinish(d->queue);
    for (uint32_t i = 0; i < d->n_kernels; i++)
        d->lib.clReleaseKernel(d->kernels[i].kernel);
    free(d->kernels);
    for (uint32_t i = 0; i < d->n_scratch; i++) {
        cl_buf_destroy(d, d->scratch[i]);
        free(d->scratch[i]);
    }
    free(d->scratch);
    cl_buf_destroy(d, &d->status);
    if (d->program)
        d->lib.clReleaseProgram(d->program);
    if (d->queue)
        d->lib.clReleaseCommandQueue(d->queue);
    if (d->ctx)
        d->lib.clReleaseContext(d->ctx);
    cl_lib_close(&d->lib);
    free(d);
}
