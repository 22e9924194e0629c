/*
** cl_loader.c -- the OpenCL ICD loader, found at run time, and the names
** of its error codes.
**
** Every probe and every device opens the loader itself and keeps the
** function pointers in its own cl_lib, so the plugin keeps no mutable
** global state. The loader and the drivers it brings in stay in the
** process once loaded (cl_pin_begin/cl_pin_end): see cl_device.h.
*/
#define _GNU_SOURCE /* dl_iterate_phdr, RTLD_NODELETE, RTLD_NOLOAD */

#include <dlfcn.h>
#include <link.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_device.h"

const char *cl_error_name(cl_int err, char *buf)
{
    switch (err) {
#define NAME(x) case x: return #x;
    NAME(CL_SUCCESS) NAME(CL_DEVICE_NOT_FOUND) NAME(CL_DEVICE_NOT_AVAILABLE)
    NAME(CL_COMPILER_NOT_AVAILABLE) NAME(CL_MEM_OBJECT_ALLOCATION_FAILURE)
    NAME(CL_OUT_OF_RESOURCES) NAME(CL_OUT_OF_HOST_MEMORY)
    NAME(CL_PROFILING_INFO_NOT_AVAILABLE) NAME(CL_MEM_COPY_OVERLAP)
    NAME(CL_IMAGE_FORMAT_MISMATCH) NAME(CL_IMAGE_FORMAT_NOT_SUPPORTED)
    NAME(CL_BUILD_PROGRAM_FAILURE) NAME(CL_MAP_FAILURE)
    NAME(CL_MISALIGNED_SUB_BUFFER_OFFSET)
    NAME(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
    NAME(CL_COMPILE_PROGRAM_FAILURE) NAME(CL_LINKER_NOT_AVAILABLE)
    NAME(CL_LINK_PROGRAM_FAILURE) NAME(CL_DEVICE_PARTITION_FAILED)
    NAME(CL_KERNEL_ARG_INFO_NOT_AVAILABLE) NAME(CL_INVALID_VALUE)
    NAME(CL_INVALID_DEVICE_TYPE) NAME(CL_INVALID_PLATFORM) NAME(CL_INVALID_DEVICE)
    NAME(CL_INVALID_CONTEXT) NAME(CL_INVALID_QUEUE_PROPERTIES)
    NAME(CL_INVALID_COMMAND_QUEUE) NAME(CL_INVALID_HOST_PTR)
    NAME(CL_INVALID_MEM_OBJECT) NAME(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR)
    NAME(CL_INVALID_IMAGE_SIZE) NAME(CL_INVALID_SAMPLER) NAME(CL_INVALID_BINARY)
    NAME(CL_INVALID_BUILD_OPTIONS) NAME(CL_INVALID_PROGRAM)
    NAME(CL_INVALID_PROGRAM_EXECUTABLE) NAME(CL_INVALID_KERNEL_NAME)
    NAME(CL_INVALID_KERNEL_DEFINITION) NAME(CL_INVALID_KERNEL)
    NAME(CL_INVALID_ARG_INDEX) NAME(CL_INVALID_ARG_VALUE) NAME(CL_INVALID_ARG_SIZE)
    NAME(CL_INVALID_KERNEL_ARGS) NAME(CL_INVALID_WORK_DIMENSION)
    NAME(CL_INVALID_WORK_GROUP_SIZE) NAME(CL_INVALID_WORK_ITEM_SIZE)
    NAME(CL_INVALID_GLOBAL_OFFSET) NAME(CL_INVALID_EVENT_WAIT_LIST)
    NAME(CL_INVALID_EVENT) NAME(CL_INVALID_OPERATION) NAME(CL_INVALID_BUFFER_SIZE)
    NAME(CL_INVALID_GLOBAL_WORK_SIZE) NAME(CL_INVALID_PROPERTY)
    NAME(CL_INVALID_COMPILER_OPTIONS) NAME(CL_INVALID_LINKER_OPTIONS)
    NAME(CL_INVALID_DEVICE_PARTITION_COUNT)
#undef NAME
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default:
        snprintf(buf, 32, "OpenCL error %d", (int)err);
        return buf;
    }
}

void cl_note(char *notes, int level, const char *fmt, ...)
{
    size_t len = strlen(notes);
    if (len + 3 >= CL_NOTES_SIZE)
        return;
    notes[len++] = (char)('0' + level);
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(notes + len, CL_NOTES_SIZE - len - 1, fmt, ap);
    va_end(ap);
    if (k < 0)
        k = 0;
    len = len + (size_t)k < CL_NOTES_SIZE - 2 ? len + (size_t)k : CL_NOTES_SIZE - 2;
    notes[len++] = '\n';
    notes[len] = '\0';
}

void cl_notes_log(const char *notes)
{
    while (*notes) {
        const char *end = strchr(notes, '\n');
        int n = end ? (int)(end - notes) : (int)strlen(notes);
        if (n > 1)
            cl_log(notes[0] - '0', "opencl: %.*s", n - 1, notes + 1);
        notes += end ? n + 1 : n;
    }
}

bool cl_lib_open(cl_lib *lib, char *notes)
{
    memset(lib, 0, sizeof *lib);
    lib->handle = dlopen("libOpenCL.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib->handle) {
        cl_note(notes, SLM_LOG_DEBUG, "no devices: libOpenCL.so.1 cannot be loaded");
        return false;
    }
    /* POSIX allows the object-to-function pointer conversion through memcpy. */
#define LOAD(name)                                                            \
    {                                                                         \
        void *sym = dlsym(lib->handle, #name);                                \
        if (!sym) {                                                           \
            cl_note(notes, SLM_LOG_DEBUG, "no devices: libOpenCL.so.1 lacks " \
                    #name);                                                   \
            cl_lib_close(lib);                                                \
            return false;                                                     \
        }                                                                     \
        memcpy(&lib->name, &sym, sizeof sym);                                 \
    }
    CL_FNS(LOAD)
#undef LOAD
    return true;
}

void cl_lib_close(cl_lib *lib)
{
    if (lib->handle)
        dlclose(lib->handle);
    memset(lib, 0, sizeof *lib);
}

/* ------------------------------------------------------------- pinning */

#define MAX_OBJECTS 512

/* The shared objects loaded at one moment, by name. */
struct cl_pin {
    char names[MAX_OBJECTS][128];
    int n;
};

static int add_object(struct dl_phdr_info *info, size_t size, void *user)
{
    cl_pin *objs = user;
    (void)size;
    if (info->dlpi_name && info->dlpi_name[0] && objs->n < MAX_OBJECTS)
        snprintf(objs->names[objs->n++], sizeof objs->names[0], "%s", info->dlpi_name);
    return 0;
}

static bool was_loaded(const cl_pin *before, const char *name)
{
    for (int i = 0; i < before->n; i++)
        if (strcmp(before->names[i], name) == 0)
            return true;
    return false;
}

cl_pin *cl_pin_begin(void)
{
    cl_pin *p = calloc(1, sizeof *p);
    if (p)
        dl_iterate_phdr(add_object, p);
    return p;
}

void cl_pin_end(cl_pin *before)
{
    /* Out of memory at either end: nothing is pinned, which only costs the
    ** reload. */
    cl_pin *now = before ? calloc(1, sizeof *now) : NULL;
    if (now) {
        dl_iterate_phdr(add_object, now);
        for (int i = 0; i < now->n; i++)
            if (!was_loaded(before, now->names[i]))
                (void)dlopen(now->names[i], RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE);
    }
    free(now);
    free(before);
}
