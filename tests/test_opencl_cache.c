/*
** test_opencl_cache.c -- the OpenCL plugin's program binary cache: cold,
** warm, corrupted, truncated and unwritable.
**
** The plugin is driven directly through its descriptor (as the runtime
** does) with a host whose config gives the cache folder, and its log lines
** say which way each device_open built the program. Runs on whatever
** OpenCL device the ICD loader finds (PoCL in the test command); with no
** device there is nothing to cache and the test says so.
*/
#include <dirent.h>
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "slm/backend.h"

#define PLUGIN SLM_BACKEND_BUILD_DIR "/libslm-backend-opencl.so"

static char cache_dir[512];
static char last_log[1024];
static char last_error[1024];

static void host_log(void *ctx, int level, const char *msg)
{
    (void)ctx;
    if (level <= SLM_LOG_INFO && strncmp(msg, "opencl: ", 8) == 0 &&
        (strstr(msg, "program for") || strstr(msg, "cache entry")))
        snprintf(last_log, sizeof last_log, "%s", msg);
}

static void host_set_error(void *ctx, const char *msg)
{
    (void)ctx;
    snprintf(last_error, sizeof last_error, "%s", msg);
}

static const char *host_config_get(void *ctx, const char *key)
{
    (void)ctx;
    return strcmp(key, "cache_dir") == 0 ? cache_dir : NULL;
}

static const slm_host_t host = {
    .abi_major = SLM_BACKEND_ABI_MAJOR,
    .abi_minor = SLM_BACKEND_ABI_MINOR,
    .struct_size = sizeof(slm_host_t),
    .log = host_log,
    .set_error = host_set_error,
    .config_get = host_config_get,
};

typedef struct loaded {
    void *so;
    const slm_backend_t *be;
    uint32_t n_devices;
} loaded;

static loaded load(void)
{
    loaded l = { dlopen(PLUGIN, RTLD_NOW | RTLD_LOCAL), NULL, 0 };
    if (!l.so)
        fail_msg("%s: %s", PLUGIN, dlerror());
    slm_plugin_init_fn init;
    void *sym = dlsym(l.so, SLM_PLUGIN_ENTRY_NAME);
    assert_non_null(sym);
    memcpy(&init, &sym, sizeof sym);
    assert_int_equal(init(&host, &l.be), SLM_OK);
    slm_device_info_t infos[SLM_MAX_DEVICES_PER_PLUGIN];
    memset(infos, 0, sizeof infos);
    for (int i = 0; i < SLM_MAX_DEVICES_PER_PLUGIN; i++)
        infos[i].struct_size = sizeof infos[i];
    assert_int_equal(l.be->probe(infos, SLM_MAX_DEVICES_PER_PLUGIN, &l.n_devices), SLM_OK);
    return l;
}

/* Open and close device 0; the log line of its program build. */
static const char *open_close(const loaded *l)
{
    last_log[0] = '\0';
    void *dev = NULL;
    if (l->be->device_open(0, NULL, &dev) != SLM_OK)
        fail_msg("device_open: %s", last_error);
    l->be->device_close(dev);
    return last_log;
}

/* The one cache file in cache_dir. */
static void entry_path(char *out, size_t cap)
{
    DIR *d = opendir(cache_dir);
    assert_non_null(d);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, "opencl-", 7) == 0) {
            int len = snprintf(out, cap, "%s/%s", cache_dir, e->d_name);
            assert_true(len > 0 && (size_t)len < cap);
            n++;
        }
    closedir(d);
    assert_int_equal(n, 1);
}

static void test_cache(void **state)
{
    (void)state;
    snprintf(cache_dir, sizeof cache_dir, "%s/opencl-cache-%d", SLM_TEST_WORK_DIR, (int)getpid());
    loaded l = load();
    if (l.n_devices == 0) {
        print_message("note: no OpenCL device here; the cache is not tested\n");
        dlclose(l.so);
        return;
    }

    const char *log = open_close(&l); /* cold: the folder does not exist yet */
    assert_non_null(strstr(log, "compiled in"));
    assert_non_null(strstr(log, "written"));
    char path[1024];
    entry_path(path, sizeof path);
    assert_true(strlen(path) + 5 < sizeof cache_dir);
    char keep[sizeof cache_dir];

    log = open_close(&l); /* warm */
    assert_non_null(strstr(log, "loaded from cache"));

    /* one flipped byte in the binary: refused, rebuilt and rewritten */
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(fseek(f, (long)sb.st_size / 2, SEEK_SET), 0);
    int c = fgetc(f);
    assert_int_equal(fseek(f, (long)sb.st_size / 2, SEEK_SET), 0);
    fputc(c ^ 0x5A, f);
    fclose(f);
    log = open_close(&l);
    assert_non_null(strstr(log, "compiled in"));
    log = open_close(&l);
    assert_non_null(strstr(log, "loaded from cache"));

    /* cut short */
    assert_int_equal(truncate(path, sb.st_size / 3), 0);
    log = open_close(&l);
    assert_non_null(strstr(log, "compiled in"));
    log = open_close(&l);
    assert_non_null(strstr(log, "loaded from cache"));

    /* a folder that cannot be created: built, not cached, no error */
    memcpy(keep, cache_dir, sizeof keep);
    memcpy(cache_dir, path, strlen(path));
    memcpy(cache_dir + strlen(path), "/sub", 5); /* below a file */
    log = open_close(&l);
    assert_non_null(strstr(log, "not cached"));

    remove(path);
    rmdir(keep);
    dlclose(l.so);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
