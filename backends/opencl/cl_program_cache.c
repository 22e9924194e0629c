/*
** cl_program_cache.c -- the device's one program, built from the embedded
** kernel sources or loaded from the program binary cache.
**
** Entries live in $XDG_CACHE_HOME/slm/ (else ~/.cache/slm/; the config key
** cache_dir overrides the folder, "off" disables the cache), one file per
** key: opencl-<hash>.bin, where the hash covers the device name, vendor,
** driver version, OpenCL C version, build options and every source. A file
** is a header {magic, key, length, checksum of the binary} and the binary
** clGetProgramInfo(CL_PROGRAM_BINARIES) gave. An entry whose header does
** not match, or whose binary the driver refuses, is never trusted: the
** program is compiled from source and the entry rewritten (through a
** temporary file and rename, so a reader never sees half a file). A folder
** that cannot be created only means no cache.
**
** One INFO line says where the program came from and how long it took:
**   opencl: program for DEV loaded from cache PATH in N ms
**   opencl: program for DEV compiled in N ms (cache: PATH written | WHY)
*/
#define _POSIX_C_SOURCE 200809L /* mkdir, getpid, clock_gettime */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cl_device.h"

#define CACHE_MAGIC "SLMCLPB1"
/* A program binary larger than this is not cached (nor trusted on load). */
#define CACHE_MAX_BINARY ((uint64_t)256 << 20)

typedef struct cache_header {
    char magic[8];
    uint64_t key;        /* hash of everything the binary depends on */
    uint64_t length;     /* bytes of binary that follow */
    uint64_t checksum;   /* fnv1a of those bytes */
} cache_header;

/* 64-bit FNV-1a, continued from h. */
static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

#define FNV_OFFSET UINT64_C(0xcbf29ce484222325)

/* A string and its NUL, so that ("ab", "c") and ("a", "bc") differ. */
static uint64_t hash_str(uint64_t h, const char *s)
{
    return fnv1a(h, s, strlen(s) + 1);
}

static uint64_t cache_key(const cl_dev *d, const char *options)
{
    uint64_t h = FNV_OFFSET;
    h = hash_str(h, d->info.name);
    h = hash_str(h, d->info.vendor);
    h = hash_str(h, d->info.driver);
    h = hash_str(h, d->info.c_version);
    h = hash_str(h, options);
    for (unsigned i = 0; i < cl_n_sources; i++)
        h = hash_str(h, cl_source_text[i]);
    return h;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ------------------------------------------------------------- folder */

/* mkdir -p; false (errno set) when some part cannot be made. */
static bool make_dirs(const char *path)
{
    char buf[1024];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return false;
        buf[i] = c;
    }
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The cache folder into buf, created if needed; false (logged at debug)
** when there is none. */
static bool cache_dir(char *buf, size_t cap)
{
    const char *set = cl_config("cache_dir");
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    int k;
    if (set && strcmp(set, "off") == 0)
        return false;
    if (set && set[0])
        k = snprintf(buf, cap, "%s", set);
    else if (xdg && xdg[0] == '/')
        k = snprintf(buf, cap, "%s/slm", xdg);
    else if (home && home[0] == '/')
        k = snprintf(buf, cap, "%s/.cache/slm", home);
    else {
        cl_log(SLM_LOG_DEBUG, "opencl: no program cache: neither XDG_CACHE_HOME nor HOME");
        return false;
    }
    if (k < 0 || (size_t)k >= cap) {
        cl_log(SLM_LOG_DEBUG, "opencl: no program cache: the folder name is too long");
        return false;
    }
    if (!make_dirs(buf)) {
        cl_log(SLM_LOG_DEBUG, "opencl: no program cache: cannot create %s: %s", buf,
               strerror(errno));
        return false;
    }
    return true;
}

/* ------------------------------------------------------------- build */

/* The first part of the build log, for an error message. */
static void build_log(cl_dev *d, cl_program p, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    if (d->lib.clGetProgramBuildInfo(p, d->info.device, CL_PROGRAM_BUILD_LOG, cap - 1, buf,
                                     &n) != CL_SUCCESS)
        return;
    buf[n < cap ? n : cap - 1] = '\0';
}

static slm_status_t build_from_source(cl_dev *d, const char *options, cl_program *out)
{
    char eb[32];
    cl_int err = CL_SUCCESS;
    /* The API takes the array without const; it does not write to it. */
    cl_program p = d->lib.clCreateProgramWithSource(d->ctx, cl_n_sources,
                                                    (const char **)cl_source_text, NULL,
                                                    &err);
    if (err != CL_SUCCESS)
        return cl_error(SLM_ERR_DEVICE, "clCreateProgramWithSource: %s",
                        cl_error_name(err, eb));
    err = d->lib.clBuildProgram(p, 1, &d->info.device, options, NULL, NULL);
    if (err != CL_SUCCESS) {
        char log[384];
        build_log(d, p, log, sizeof log);
        d->lib.clReleaseProgram(p);
        return cl_error(SLM_ERR_DEVICE, "clBuildProgram(%s, %s): %s: %s", d->info.name,
                        options, cl_error_name(err, eb), log);
    }
    *out = p;
    return SLM_OK;
}

/* The program from cache entry `path`, or NULL with *why set to the
** reason it was not usable ("" when there is no entry). */
static cl_program load_entry(cl_dev *d, const char *path, uint64_t key, const char *options,
                             const char **why)
{
    FILE *f = fopen(path, "rb");
    *why = "";
    if (!f)
        return NULL;
    cache_header h;
    unsigned char *bin = NULL;
    cl_program p = NULL;
    *why = "a short header";
    if (fread(&h, sizeof h, 1, f) != 1)
        goto done;
    *why = "a bad magic";
    if (memcmp(h.magic, CACHE_MAGIC, sizeof h.magic) != 0)
        goto done;
    *why = "another key";
    if (h.key != key)
        goto done;
    *why = "a bad length";
    if (h.length == 0 || h.length > CACHE_MAX_BINARY)
        goto done;
    bin = malloc((size_t)h.length);
    *why = "out of host memory";
    if (!bin)
        goto done;
    *why = "a bad length";
    int extra;
    if (fread(bin, 1, (size_t)h.length, f) != h.length || (extra = fgetc(f), extra != EOF))
        goto done;
    *why = "a bad checksum";
    if (fnv1a(FNV_OFFSET, bin, (size_t)h.length) != h.checksum)
        goto done;
    size_t len = (size_t)h.length;
    const unsigned char *bins[1] = {bin};
    cl_int bin_status = CL_SUCCESS, err = CL_SUCCESS;
    p = d->lib.clCreateProgramWithBinary(d->ctx, 1, &d->info.device, &len, bins, &bin_status,
                                         &err);
    *why = "the driver refused the binary";
    if (err != CL_SUCCESS || bin_status != CL_SUCCESS) {
        if (err == CL_SUCCESS)
            d->lib.clReleaseProgram(p);
        p = NULL;
        goto done;
    }
    if (d->lib.clBuildProgram(p, 1, &d->info.device, options, NULL, NULL) != CL_SUCCESS) {
        d->lib.clReleaseProgram(p);
        p = NULL;
        goto done;
    }
    *why = NULL;
done:
    free(bin);
    fclose(f);
    return p;
}

/* Write the program's binary to `path`; NULL, or why not (static). */
static const char *store_entry(cl_dev *d, cl_program p, const char *path, uint64_t key)
{
    size_t size = 0;
    if (d->lib.clGetProgramInfo(p, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL) !=
            CL_SUCCESS || size == 0 || size > CACHE_MAX_BINARY)
        return "the driver gives no binary";
    unsigned char *bin = malloc(size);
    if (!bin)
        return "out of host memory";
    unsigned char *bins[1] = {bin};
    if (d->lib.clGetProgramInfo(p, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) !=
        CL_SUCCESS) {
        free(bin);
        return "the driver gives no binary";
    }
    cache_header h;
    memcpy(h.magic, CACHE_MAGIC, sizeof h.magic);
    h.key = key;
    h.length = size;
    h.checksum = fnv1a(FNV_OFFSET, bin, size);
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    const char *why = NULL;
    if (!f)
        why = "the folder is not writable";
    else if (fwrite(&h, sizeof h, 1, f) != 1 || fwrite(bin, 1, size, f) != size)
        why = "a write failed";
    if (f && fclose(f) != 0 && !why)
        why = "a write failed";
    if (!why && rename(tmp, path) != 0)
        why = "rename failed";
    if (why)
        remove(tmp);
    free(bin);
    return why;
}

slm_status_t cl_program_build(cl_dev *d, const char *options)
{
    double t0 = now_ms();
    char dir[1024], path[1100];
    uint64_t key = cache_key(d, options);
    bool cached = cache_dir(dir, sizeof dir);
    const char *why = "no cache folder";
    if (cached) {
        snprintf(path, sizeof path, "%s/opencl-%016llx.bin", dir, (unsigned long long)key);
        d->program = load_entry(d, path, key, options, &why);
        if (d->program) {
            cl_log(SLM_LOG_INFO, "opencl: program for %s loaded from cache %s in %.0f ms",
                   d->info.name, path, now_ms() - t0);
            return SLM_OK;
        }
        if (why[0])
            cl_log(SLM_LOG_INFO, "opencl: cache entry %s not used: %s; rebuilding", path,
                   why);
    }
    slm_status_t st = build_from_source(d, options, &d->program);
    if (st != SLM_OK)
        return st;
    double ms = now_ms() - t0;
    char note[1200];
    if (cached) {
        const char *fail = store_entry(d, d->program, path, key);
        if (fail)
            snprintf(note, sizeof note, "not cached: %s", fail);
        else
            snprintf(note, sizeof note, "cache: %s written", path);
    } else {
        snprintf(note, sizeof note, "not cached: %s", why);
    }
    cl_log(SLM_LOG_INFO, "opencl: program for %s compiled in %.0f ms (%s)", d->info.name, ms,
           note);
    return SLM_OK;
}
