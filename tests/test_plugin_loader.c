/*
** test_plugin_loader.c -- plugin discovery, loading, refusal and device
** ranking, through the public API only.
**
** The mock plugins are variants of tests/plugins/mock_plugin.c; each test
** names the files it loads and turns off the default search, except the
** tests of the default search itself.
*/
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

#include <cmocka.h>

#include "slm/slm.h"

#define PLUGIN(name) SLM_TEST_PLUGIN_DIR "/lib" name ".so"
#define NO_DEFAULTS (SLM_RUNTIME_NO_DEFAULT_PLUGINS | SLM_RUNTIME_NO_DEFAULT_CONFIG)

static char tmp_root[512];

/* ---------------------------------------------------------------- helpers */

/* Log lines received, to check what the runtime says about refusals. */
static char log_text[16384];

static void capture_log(void *user, int level, const char *msg)
{
    (void)user;
    size_t used = strlen(log_text);
    snprintf(log_text + used, sizeof log_text - used, "%d %s\n", level, msg);
}

static slm_runtime_opts_t opts_for(const char *const *paths, uint32_t n)
{
    slm_runtime_opts_t o = SLM_RUNTIME_OPTS_INIT;
    o.flags = NO_DEFAULTS;
    o.plugin_paths = paths;
    o.n_plugin_paths = n;
    o.log_level = SLM_LOG_DEBUG;
    o.log = capture_log;
    return o;
}

static slm_runtime_t *create_ok(const slm_runtime_opts_t *o)
{
    log_text[0] = '\0';
    slm_runtime_t *rt = NULL;
    slm_status_t st = slm_runtime_create(o, &rt);
    if (st != SLM_OK)
        fail_msg("slm_runtime_create: %s: %s", slm_status_name(st),
                 slm_last_error());
    assert_non_null(rt);
    return rt;
}

/* Creation must fail with `status` and a message holding every needle. */
static void create_fails(const slm_runtime_opts_t *o, slm_status_t status, ...)
{
    log_text[0] = '\0';
    slm_runtime_t *rt = (slm_runtime_t *)&rt; /* must be reset to NULL */
    slm_status_t st = slm_runtime_create(o, &rt);
    const char *msg = slm_last_error();
    if (st != status)
        fail_msg("status %s, want %s; message: %s", slm_status_name(st),
                 slm_status_name(status), msg);
    assert_null(rt);
    assert_true(msg[0] != '\0');
    va_list ap;
    va_start(ap, status);
    for (const char *needle; (needle = va_arg(ap, const char *)) != NULL;)
        if (!strstr(msg, needle))
            fail_msg("message '%s' lacks '%s'", msg, needle);
    va_end(ap);
}

static const slm_device_desc_t *device_id(const slm_runtime_t *rt,
                                          const char *id)
{
    for (uint32_t i = 0; i < slm_runtime_device_count(rt); i++)
        if (strcmp(slm_runtime_device(rt, i)->id, id) == 0)
            return slm_runtime_device(rt, i);
    return NULL;
}

static void assert_order(const slm_runtime_t *rt, const char *const *ids,
                         uint32_t n)
{
    assert_int_equal(slm_runtime_device_count(rt), n);
    for (uint32_t i = 0; i < n; i++) {
        const slm_device_desc_t *d = slm_runtime_device(rt, i);
        if (strcmp(d->id, ids[i]) != 0)
            fail_msg("rank %u is %s (%s), want %s", i, d->id, d->why, ids[i]);
        assert_int_equal(d->rank, i);
    }
}

static void assert_contains(const char *s, const char *needle)
{
    if (!strstr(s, needle))
        fail_msg("'%s' lacks '%s'", s, needle);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
}

/* A config file `name` under tmp_root; path returned in buf. */
static void write_config(char *buf, size_t n, const char *name, const char *text)
{
    snprintf(buf, n, "%s/%s", tmp_root, name);
    write_text(buf, text);
}

/* ---------------------------------------------------------------- loading */

static void test_load_good(void **state)
{
    (void)state;
    const char *paths[] = { PLUGIN("mock_good") };
    slm_runtime_opts_t o = opts_for(paths, 1);
    slm_runtime_t *rt = create_ok(&o);

    assert_null(slm_runtime_config_path(rt));
    assert_int_equal(slm_runtime_plugin_count(rt), 1);
    const slm_plugin_desc_t *p = slm_runtime_plugin(rt, 0);
    assert_string_equal(p->path, PLUGIN("mock_good"));
    assert_string_equal(p->origin, "explicit");
    assert_int_equal(p->state, SLM_PLUGIN_LOADED);
    assert_int_equal(p->status, SLM_OK);
    assert_string_equal(p->reason, "");
    assert_string_equal(p->name, "mock_good");
    assert_string_equal(p->version, "0.0.1");
    assert_string_equal(p->description, "mock backend for the loader tests");
    assert_int_equal(p->abi_major, SLM_BACKEND_ABI_MAJOR);
    assert_int_equal(p->abi_minor, SLM_BACKEND_ABI_MINOR);
    assert_int_equal(p->n_devices, 1);
    assert_null(slm_runtime_plugin(rt, 1));
    assert_contains(log_text, "mock_good 0.0.1 loaded");

    assert_int_equal(slm_runtime_device_count(rt), 1);
    const slm_device_desc_t *d = slm_runtime_device(rt, 0);
    assert_string_equal(d->id, "mock_good:0");
    assert_string_equal(d->plugin, "mock_good");
    assert_int_equal(d->plugin_index, 0);
    assert_int_equal(d->index, 0);
    assert_int_equal(d->rank, 0);
    assert_true(d->enabled);
    assert_string_equal(d->info->name, "mock_good device 0");
    assert_int_equal(d->info->kind, SLM_DEVICE_CPU);
    assert_contains(d->why, "native cpu");
    assert_null(slm_runtime_device(rt, 1));
    slm_runtime_destroy(rt);
}

typedef struct refusal {
    const char *path;
    slm_status_t status;
    const char *reason;
    const char *name;             /* descriptor name, "" when none read */
} refusal_t;

static const refusal_t REFUSALS[] = {
    { PLUGIN("mock_wrong_abi"), SLM_ERR_ABI,
      "built for plugin ABI 2.0; this runtime has 1.0 and the major version "
      "must match", "" },
    { PLUGIN("mock_newer_minor"), SLM_ERR_ABI, "built for plugin ABI 1.99",
      "mock_newer_minor" },
    { PLUGIN("mock_small_struct"), SLM_ERR_ABI, "struct_size",
      "mock_small_struct" },
    { PLUGIN("mock_no_entry"), SLM_ERR_PLUGIN,
      "no slm_plugin_init symbol: not an slm backend plugin", "" },
    { PLUGIN("mock_init_fail"), SLM_ERR_ABI,
      "refusing to start (simulated version check)", "" },
    { PLUGIN("mock_probe_fail"), SLM_ERR_DEVICE, "simulated driver failure",
      "mock_probe_fail" },
    { PLUGIN("mock_missing_slot"), SLM_ERR_PLUGIN, "graph_compute",
      "mock_missing_slot" },
    { PLUGIN("not_a_plugin"), SLM_ERR_PLUGIN, "invalid ELF header", "" },
    { SLM_TEST_PLUGIN_DIR "/libno_such_plugin.so", SLM_ERR_NOT_FOUND,
      "no such file or directory", "" },
};
#define N_REFUSALS (sizeof REFUSALS / sizeof *REFUSALS)

static void check_refused(const slm_plugin_desc_t *p, const refusal_t *r)
{
    if (!p)
        fail_msg("%s not listed", r->path);
    assert_int_equal(p->state, SLM_PLUGIN_REFUSED);
    if (p->status != r->status)
        fail_msg("%s: status %s, want %s (%s)", r->path,
                 slm_status_name(p->status), slm_status_name(r->status),
                 p->reason);
    assert_contains(p->reason, r->reason);
    assert_string_equal(p->name, r->name);
    assert_non_null(p->version);
    assert_non_null(p->description);
    assert_string_equal(p->origin, "explicit");
    assert_int_equal(p->n_devices, 0);
}

static void test_refusals_one_by_one(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_REFUSALS; i++) {
        const char *paths[] = { REFUSALS[i].path };
        slm_runtime_opts_t o = opts_for(paths, 1);
        slm_runtime_t *rt = create_ok(&o);
        assert_int_equal(slm_runtime_plugin_count(rt), 1);
        check_refused(slm_runtime_plugin(rt, 0), &REFUSALS[i]);
        assert_int_equal(slm_runtime_device_count(rt), 0);
        /* logged at INFO, with the reason */
        char want[256];
        snprintf(want, sizeof want, "%d plugin %s (explicit) refused: ",
                 SLM_LOG_INFO, REFUSALS[i].path);
        assert_contains(log_text, want);
        assert_contains(log_text, REFUSALS[i].reason);
        slm_runtime_destroy(rt);
    }
}

static void test_refusals_beside_a_good_plugin(void **state)
{
    (void)state;
    const char *paths[N_REFUSALS + 1];
    for (size_t i = 0; i < N_REFUSALS; i++)
        paths[i] = REFUSALS[i].path;
    paths[N_REFUSALS] = PLUGIN("mock_good");
    slm_runtime_opts_t o = opts_for(paths, N_REFUSALS + 1);
    slm_runtime_t *rt = create_ok(&o);
    assert_int_equal(slm_runtime_plugin_count(rt), N_REFUSALS + 1);
    for (size_t i = 0; i < N_REFUSALS; i++)
        check_refused(slm_runtime_plugin(rt, (uint32_t)i), &REFUSALS[i]);
    const slm_plugin_desc_t *good = slm_runtime_plugin(rt, N_REFUSALS);
    assert_int_equal(good->state, SLM_PLUGIN_LOADED);
    assert_int_equal(slm_runtime_device_count(rt), 1);
    assert_int_equal(slm_runtime_device(rt, 0)->plugin_index, N_REFUSALS);
    slm_runtime_destroy(rt);
}

static void test_duplicate_name(void **state)
{
    (void)state;
    const char *paths[] = { PLUGIN("mock_good"), PLUGIN("mock_dup") };
    slm_runtime_opts_t o = opts_for(paths, 2);
    slm_runtime_t *rt = create_ok(&o);
    assert_int_equal(slm_runtime_plugin_count(rt), 2);
    assert_int_equal(slm_runtime_plugin(rt, 0)->state, SLM_PLUGIN_LOADED);
    const slm_plugin_desc_t *dup = slm_runtime_plugin(rt, 1);
    assert_int_equal(dup->state, SLM_PLUGIN_REFUSED);
    assert_string_equal(dup->name, "mock_good");
    assert_contains(dup->reason, "a plugin named 'mock_good' is already loaded "
                                 "from " PLUGIN("mock_good"));
    assert_int_equal(slm_runtime_device_count(rt), 1);
    slm_runtime_destroy(rt);
}

/* The same file through two names is tried once. */
static void test_same_file_once(void **state)
{
    (void)state;
    const char *paths[] = { PLUGIN("mock_good"),
                            SLM_TEST_PLUGIN_DIR "/./libmock_good.so" };
    slm_runtime_opts_t o = opts_for(paths, 2);
    slm_runtime_t *rt = create_ok(&o);
    assert_int_equal(slm_runtime_plugin_count(rt), 1);
    slm_runtime_destroy(rt);
}

static void test_directory_scan(void **state)
{
    (void)state;
    char dir[PATH_MAX], p[PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/scan", tmp_root);
    assert_int_equal(mkdir(dir, 0700), 0);
    /* created out of order, so that readdir order is unlikely to be sorted */
    const char *links[][2] = {
        { "c.so", PLUGIN("mock_gpu") },
        { "a.so", PLUGIN("mock_good") },
        { "b.so", PLUGIN("mock_emulated") },
        { "d.txt", PLUGIN("mock_reference") },     /* not .so: skipped */
        { "e.so.1", PLUGIN("mock_reference") },    /* not .so: skipped */
    };
    for (size_t i = 0; i < sizeof links / sizeof *links; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, links[i][0]);
        assert_int_equal(symlink(links[i][1], p), 0);
    }
    snprintf(p, sizeof p, "%s/sub.so", dir);   /* a folder: skipped */
    assert_int_equal(mkdir(p, 0700), 0);

    /* The folder, then a.so's target by its own name: loaded once. */
    const char *paths[] = { dir, PLUGIN("mock_good") };
    slm_runtime_opts_t o = opts_for(paths, 2);
    slm_runtime_t *rt = create_ok(&o);
    assert_int_equal(slm_runtime_plugin_count(rt), 3);
    const char *want[] = { "a.so", "b.so", "c.so" };
    for (uint32_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, want[i]);
        assert_string_equal(slm_runtime_plugin(rt, i)->path, p);
        assert_int_equal(slm_runtime_plugin(rt, i)->state, SLM_PLUGIN_LOADED);
    }
    slm_runtime_destroy(rt);

    /* A folder with a trailing slash reads the same. */
    snprintf(p, sizeof p, "%s/", dir);
    const char *paths2[] = { p };
    o = opts_for(paths2, 1);
    rt = create_ok(&o);
    assert_int_equal(slm_runtime_plugin_count(rt), 3);
    assert_string_equal(slm_runtime_plugin(rt, 0)->name, "mock_good");
    slm_runtime_destroy(rt);
}

static void test_env_plugin_path(void **state)
{
    (void)state;
    char missing[PATH_MAX];
    snprintf(missing, sizeof missing, "%s/no-such-folder", tmp_root);
    char env[PATH_MAX * 2];
    snprintf(env, sizeof env, "::%s:%s:", PLUGIN("mock_gpu"), missing);
    setenv("SLM_PLUGIN_PATH", env, 1);

    const char *paths[] = { PLUGIN("mock_good") };
    slm_runtime_opts_t o = opts_for(paths, 1);
    o.flags = SLM_RUNTIME_NO_DEFAULT_CONFIG;
    slm_runtime_t *rt = create_ok(&o);
    const slm_plugin_desc_t *good = slm_runtime_plugin(rt, 0);
    assert_string_equal(good->name, "mock_good");
    assert_string_equal(good->origin, "explicit");
    const slm_plugin_desc_t *gpu = slm_runtime_plugin(rt, 1);
    assert_string_equal(gpu->path, PLUGIN("mock_gpu"));
    assert_string_equal(gpu->origin, "SLM_PLUGIN_PATH");
    assert_int_equal(gpu->state, SLM_PLUGIN_LOADED);
    const slm_plugin_desc_t *gone = slm_runtime_plugin(rt, 2);
    assert_string_equal(gone->path, missing);
    assert_string_equal(gone->origin, "SLM_PLUGIN_PATH");
    assert_int_equal(gone->state, SLM_PLUGIN_REFUSED);
    assert_contains(gone->reason, "no such file or directory");
    /* the defaults follow the variable */
    assert_true(slm_runtime_plugin_count(rt) >= 4);
    assert_string_equal(slm_runtime_plugin(rt, 3)->origin, "libslm folder");
    slm_runtime_destroy(rt);

    /* NO_DEFAULT_PLUGINS skips the variable */
    o.flags = NO_DEFAULTS;
    rt = create_ok(&o);
    assert_int_equal(slm_runtime_plugin_count(rt), 1);
    slm_runtime_destroy(rt);
    unsetenv("SLM_PLUGIN_PATH");
}

static void test_default_discovery(void **state)
{
    (void)state;
    unsetenv("SLM_PLUGIN_PATH");
    slm_runtime_opts_t o = opts_for(NULL, 0);
    o.flags = SLM_RUNTIME_NO_DEFAULT_CONFIG;
    slm_runtime_t *rt = create_ok(&o);

    char *want = realpath(SLM_BACKEND_BUILD_DIR "/libslm-backend-cpu.so", NULL);
    assert_non_null(want);
    bool found = false;
    for (uint32_t i = 0; i < slm_runtime_plugin_count(rt) && !found; i++) {
        const slm_plugin_desc_t *p = slm_runtime_plugin(rt, i);
        char *real = realpath(p->path, NULL);
        if (real && strcmp(real, want) == 0) {
            found = true;
            assert_string_equal(p->origin, "libslm folder");
            if (p->state != SLM_PLUGIN_LOADED)
                fail_msg("cpu plugin refused: %s", p->reason);
            assert_string_equal(p->name, "cpu");
        }
        free(real);
    }
    free(want);
    assert_true(found);
    assert_non_null(device_id(rt, "cpu:0"));
    slm_runtime_destroy(rt);

    /* An empty variable is no variable. */
    setenv("SLM_PLUGIN_PATH", "", 1);
    rt = create_ok(&o);
    assert_non_null(device_id(rt, "cpu:0"));
    slm_runtime_destroy(rt);
    unsetenv("SLM_PLUGIN_PATH");
}

/* ---------------------------------------------------------------- ranking */

static const char *const RANK_PATHS[] = {
    PLUGIN("mock_reference"), PLUGIN("mock_emulated"), PLUGIN("mock_good"),
    PLUGIN("mock_gpu"),
};

static void test_rank_by_score(void **state)
{
    (void)state;
    slm_runtime_opts_t o = opts_for(RANK_PATHS, 4);
    slm_runtime_t *rt = create_ok(&o);
    const char *want[] = { "mock_gpu:0", "mock_gpu:1", "mock_good:0",
                           "mock_emulated:0", "mock_reference:0" };
    assert_order(rt, want, 5);
    assert_contains(slm_runtime_device(rt, 0)->why, "score 400.0: native gpu");
    assert_contains(slm_runtime_device(rt, 2)->why, "native cpu");
    assert_contains(slm_runtime_device(rt, 3)->why,
                    "emulated gpu, ranked below native CPUs");
    assert_contains(slm_runtime_device(rt, 4)->why,
                    "score 10.0: reference implementation, last fallback");
    /* a bandwidth hint never lifts an emulated device over a native CPU */
    assert_true(slm_runtime_device(rt, 3)->info->memory_gbps >
                slm_runtime_device(rt, 2)->info->memory_gbps);
    for (uint32_t i = 1; i < 5; i++)
        assert_true(slm_runtime_device(rt, i - 1)->score >=
                    slm_runtime_device(rt, i)->score);
    /* plugin_index points back at the plugin list */
    const slm_device_desc_t *ref = slm_runtime_device(rt, 4);
    assert_string_equal(slm_runtime_plugin(rt, ref->plugin_index)->name,
                        "mock_reference");
    slm_runtime_destroy(rt);
}

static void test_rank_real_cpu(void **state)
{
    (void)state;
    const char *paths[] = { SLM_BACKEND_BUILD_DIR "/libslm-backend-cpu.so",
                            PLUGIN("mock_emulated"), PLUGIN("mock_good") };
    slm_runtime_opts_t o = opts_for(paths, 3);
    slm_runtime_t *rt = create_ok(&o);
    const slm_device_desc_t *cpu = device_id(rt, "cpu:0");
    if (!cpu)
        fail_msg("no cpu:0: %s", slm_runtime_plugin(rt, 0)->reason);
    assert_int_equal(cpu->info->kind, SLM_DEVICE_CPU);
    assert_true(cpu->info->flags & SLM_DEVICE_FLAG_REFERENCE);
    /* the scalar reference goes last, below even the emulated device */
    assert_int_equal(cpu->rank, 2);
    assert_contains(cpu->why, "reference implementation, last fallback");
    slm_runtime_destroy(rt);
}

static void test_forced_by_opts(void **state)
{
    (void)state;
    setenv("SLM_BACKEND", "mock_reference", 1); /* opts win */
    slm_runtime_opts_t o = opts_for(RANK_PATHS, 4);
    o.backends = " mock_emulated , mock_gpu:1";
    slm_runtime_t *rt = create_ok(&o);
    const char *want[] = { "mock_emulated:0", "mock_gpu:1", "mock_gpu:0",
                           "mock_good:0", "mock_reference:0" };
    assert_order(rt, want, 5);
    assert_string_equal(slm_runtime_device(rt, 0)->why,
                        "forced by opts.backends (entry 1)");
    assert_string_equal(slm_runtime_device(rt, 1)->why,
                        "forced by opts.backends (entry 2)");
    assert_contains(slm_runtime_device(rt, 2)->why, "score");
    slm_runtime_destroy(rt);
    unsetenv("SLM_BACKEND");
}

static void test_forced_by_env(void **state)
{
    (void)state;
    setenv("SLM_BACKEND", "mock_reference,mock_gpu", 1);
    slm_runtime_opts_t o = opts_for(RANK_PATHS, 4);
    slm_runtime_t *rt = create_ok(&o);
    const char *want[] = { "mock_reference:0", "mock_gpu:0", "mock_gpu:1",
                           "mock_good:0", "mock_emulated:0" };
    assert_order(rt, want, 5);
    assert_string_equal(slm_runtime_device(rt, 0)->why,
                        "forced by SLM_BACKEND (entry 1)");
    assert_string_equal(slm_runtime_device(rt, 2)->why,
                        "forced by SLM_BACKEND (entry 2)");
    slm_runtime_destroy(rt);

    /* empty means unset */
    setenv("SLM_BACKEND", "", 1);
    rt = create_ok(&o);
    assert_string_equal(slm_runtime_device(rt, 0)->id, "mock_gpu:0");
    slm_runtime_destroy(rt);
    unsetenv("SLM_BACKEND");
}

static void test_forced_unknown(void **state)
{
    (void)state;
    slm_runtime_opts_t o = opts_for(RANK_PATHS, 4);
    o.backends = "mock_good,vulkan";
    create_fails(&o, SLM_ERR_NO_DEVICE, "opts.backends entry 'vulkan' matches "
                 "no device", "mock_gpu (2 devices)", "mock_good (1 device)",
                 NULL);
    o.backends = "mock_gpu:2";
    create_fails(&o, SLM_ERR_NO_DEVICE, "'mock_gpu:2'", NULL);
    o.backends = "Vulkan";
    create_fails(&o, SLM_ERR_INVALID_ARG, "opts.backends", "'Vulkan'", NULL);
    o.backends = "mock_good,,mock_gpu";
    create_fails(&o, SLM_ERR_INVALID_ARG, "opts.backends", "empty entry", NULL);

    o.backends = NULL;
    setenv("SLM_BACKEND", "opencl", 1);
    create_fails(&o, SLM_ERR_NO_DEVICE, "SLM_BACKEND entry 'opencl'", NULL);
    setenv("SLM_BACKEND", "cpu", 1);
    const char *none[] = { PLUGIN("mock_probe_fail") };
    slm_runtime_opts_t o2 = opts_for(none, 1);
    create_fails(&o2, SLM_ERR_NO_DEVICE, "SLM_BACKEND entry 'cpu'",
                 "loaded plugins: none", NULL);
    unsetenv("SLM_BACKEND");
}

static void test_config_ranking(void **state)
{
    (void)state;
    char path[PATH_MAX + 32];
    write_config(path, sizeof path, "rank.ini",
                 "[runtime]\n"
                 "backends = nothere, mock_reference\n"
                 "deny = mock_gpu:0, mock_emulated, absent\n");
    slm_runtime_opts_t o = opts_for(RANK_PATHS, 4);
    o.config_path = path;
    slm_runtime_t *rt = create_ok(&o);
    assert_string_equal(slm_runtime_config_path(rt), path);
    const char *want[] = { "mock_reference:0", "mock_gpu:1", "mock_good:0",
                           "mock_gpu:0", "mock_emulated:0" };
    assert_order(rt, want, 5);
    assert_string_equal(slm_runtime_device(rt, 0)->why,
                        "forced by rank.ini backends (entry 2)");
    for (uint32_t i = 0; i < 3; i++)
        assert_true(slm_runtime_device(rt, i)->enabled);
    for (uint32_t i = 3; i < 5; i++) {
        assert_false(slm_runtime_device(rt, i)->enabled);
        assert_contains(slm_runtime_device(rt, i)->why, "denied by rank.ini deny");
    }
    /* a preference for absent hardware is only worth a note */
    assert_contains(log_text, "entry 'nothere' matches no device");
    assert_contains(log_text, "deny entry 'absent' matches no device");
    slm_runtime_destroy(rt);

    /* forcing only a denied device is an error that says so */
    o.backends = "mock_emulated";
    create_fails(&o, SLM_ERR_NO_DEVICE, "'mock_emulated'", "denied", NULL);
}

/* ----------------------------------------------------------------- config */

static void test_config_passthrough(void **state)
{
    (void)state;
    const char *paths[] = { PLUGIN("mock_configurable") };
    slm_runtime_opts_t o = opts_for(paths, 1);
    slm_runtime_t *rt = create_ok(&o);
    assert_string_equal(slm_runtime_device(rt, 0)->info->features, "mode=(unset)");
    slm_runtime_destroy(rt);

    char path[PATH_MAX + 32];
    write_config(path, sizeof path, "pass.ini",
                 "[backend.mock_configurable]\nmode = turbo\n"
                 "[backend.not_installed]\nanything = 1\n");
    o.config_path = path;
    rt = create_ok(&o);
    assert_string_equal(slm_runtime_device(rt, 0)->info->features, "mode=turbo");
    slm_runtime_destroy(rt);
}

static void test_config_unknown_backend_key(void **state)
{
    (void)state;
    char path[PATH_MAX + 32], want[PATH_MAX + 128];
    write_config(path, sizeof path, "keys.ini",
                 "[backend.mock_configurable]\nmode = turbo\nspeed = 3\n");
    const char *paths[] = { PLUGIN("mock_configurable") };
    slm_runtime_opts_t o = opts_for(paths, 1);
    o.config_path = path;
    snprintf(want, sizeof want, "%s:3: [backend.mock_configurable] key 'speed': "
             "unknown key (known: mode)", path);
    create_fails(&o, SLM_ERR_CONFIG, want, NULL);

    /* a plugin that declares no keys */
    write_config(path, sizeof path, "keys2.ini", "[backend.mock_good]\nx = 1\n");
    const char *good[] = { PLUGIN("mock_good") };
    o = opts_for(good, 1);
    o.config_path = path;
    create_fails(&o, SLM_ERR_CONFIG, ":2: [backend.mock_good] key 'x'",
                 "accepts no keys", NULL);
}

static void test_bad_config(void **state)
{
    (void)state;
    char path[PATH_MAX + 32], want[PATH_MAX + 128];
    write_config(path, sizeof path, "bad.ini", "[runtime]\n\nthreads = abc\n");
    const char *paths[] = { PLUGIN("mock_good") };
    slm_runtime_opts_t o = opts_for(paths, 1);
    o.config_path = path;
    snprintf(want, sizeof want, "%s:3: [runtime] threads = 'abc'", path);
    create_fails(&o, SLM_ERR_CONFIG, want, NULL);

    snprintf(path, sizeof path, "%s/none.ini", tmp_root);
    create_fails(&o, SLM_ERR_CONFIG, path, NULL);

    /* $SLM_CONFIG is read unless NO_DEFAULT_CONFIG */
    write_config(path, sizeof path, "env.ini", "[gpu]\n");
    setenv("SLM_CONFIG", path, 1);
    o.config_path = NULL;
    o.flags = SLM_RUNTIME_NO_DEFAULT_PLUGINS;
    create_fails(&o, SLM_ERR_CONFIG, "env.ini:1: unknown section [gpu]", NULL);
    o.flags = NO_DEFAULTS;
    slm_runtime_t *rt = create_ok(&o);
    assert_null(slm_runtime_config_path(rt));
    slm_runtime_destroy(rt);
    unsetenv("SLM_CONFIG");
}

static void test_config_plugin_path(void **state)
{
    (void)state;
    char dir[PATH_MAX], path[PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/cfgdir", tmp_root);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/plugins", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/plugins/libx.so", dir);
    assert_int_equal(symlink(PLUGIN("mock_gpu"), path), 0);
    snprintf(path, sizeof path, "%s/slm.ini", dir);
    /* relative to the file's folder */
    write_text(path, "[runtime]\nplugin_path = plugins : " PLUGIN("mock_good")
                     "\nbackends = mock_good\n");
    slm_runtime_opts_t o = opts_for(NULL, 0);
    o.config_path = path;
    slm_runtime_t *rt = create_ok(&o);
    assert_int_equal(slm_runtime_plugin_count(rt), 2);
    assert_string_equal(slm_runtime_plugin(rt, 0)->origin, "config");
    assert_string_equal(slm_runtime_plugin(rt, 0)->name, "mock_gpu");
    assert_string_equal(slm_runtime_plugin(rt, 1)->origin, "config");
    assert_string_equal(slm_runtime_device(rt, 0)->id, "mock_good:0");
    slm_runtime_destroy(rt);
}

/* ---------------------------------------------------------------- options */

static void test_options(void **state)
{
    (void)state;
    slm_runtime_t *rt = (slm_runtime_t *)&rt;
    assert_int_equal(slm_runtime_create(NULL, NULL), SLM_ERR_INVALID_ARG);
    assert_true(slm_last_error()[0] != '\0');

    slm_runtime_opts_t o = opts_for(NULL, 0);
    o.struct_size = 0;
    assert_int_equal(slm_runtime_create(&o, &rt), SLM_ERR_INVALID_ARG);
    assert_null(rt);
    assert_contains(slm_last_error(), "struct_size");

    o = opts_for(NULL, 0);
    o.n_plugin_paths = 2; /* and no array */
    assert_int_equal(slm_runtime_create(&o, &rt), SLM_ERR_INVALID_ARG);
    assert_contains(slm_last_error(), "plugin_paths");

    /* An older, shorter struct: fields past struct_size are not read. */
    const char *paths[] = { PLUGIN("mock_good") };
    o = opts_for(paths, 1);
    o.struct_size = (uint32_t)offsetof(slm_runtime_opts_t, backends);
    o.backends = "nonsense!";
    rt = create_ok(&o);
    assert_int_equal(slm_runtime_device_count(rt), 1);
    slm_runtime_destroy(rt);

    /* A newer, longer struct: fine while the fields we do not know are 0. */
    struct {
        slm_runtime_opts_t o;
        uint64_t newer_field;
    } big;
    memset(&big, 0, sizeof big);
    big.o = opts_for(paths, 1);
    big.o.struct_size = sizeof big;
    rt = create_ok(&big.o);
    slm_runtime_destroy(rt);
    big.newer_field = 1;
    create_fails(&big.o, SLM_ERR_INVALID_ARG, "newer libslm", NULL);

    slm_runtime_destroy(NULL);
    assert_int_equal(slm_runtime_plugin_count(NULL), 0);
    assert_int_equal(slm_runtime_device_count(NULL), 0);
    assert_null(slm_runtime_plugin(NULL, 0));
    assert_null(slm_runtime_device(NULL, 0));
    assert_null(slm_runtime_config_path(NULL));
    assert_string_equal(slm_device_kind_name(SLM_DEVICE_CPU), "cpu");
    assert_string_equal(slm_device_kind_name(SLM_DEVICE_GPU), "gpu");
    assert_string_equal(slm_device_kind_name(SLM_DEVICE_IGPU), "igpu");
    assert_string_equal(slm_device_kind_name(SLM_DEVICE_NPU), "npu");
    assert_string_equal(slm_device_kind_name(SLM_DEVICE_OTHER), "other");
}

static void test_null_opts(void **state)
{
    (void)state;
    /* Everything by default: no config in the test's folders, the in-tree
    ** plugins next to libslm. */
    slm_runtime_t *rt = NULL;
    slm_status_t st = slm_runtime_create(NULL, &rt);
    if (st != SLM_OK)
        fail_msg("%s", slm_last_error());
    assert_non_null(device_id(rt, "cpu:0"));
    slm_runtime_destroy(rt);
}

static void test_log_level(void **state)
{
    (void)state;
    const char *paths[] = { PLUGIN("not_a_plugin") };
    slm_runtime_opts_t o = opts_for(paths, 1);
    o.log_level = SLM_LOG_WARN;
    slm_runtime_t *rt = create_ok(&o);
    assert_string_equal(log_text, ""); /* refusals are INFO */
    slm_runtime_destroy(rt);
}

/* ------------------------------------------------------- isolated probing */

static const slm_plugin_desc_t *plugin_at(const slm_runtime_t *rt,
                                          const char *path)
{
    for (uint32_t i = 0; i < slm_runtime_plugin_count(rt); i++)
        if (strcmp(slm_runtime_plugin(rt, i)->path, path) == 0)
            return slm_runtime_plugin(rt, i);
    fail_msg("no plugin %s", path);
    return NULL;
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

/* Each would kill or stall the host loaded in-process; the host lives on,
** the good plugin beside them loads, and each reason says what happened. */
static void test_isolated_refusals(void **state)
{
    (void)state;
    static const struct { const char *path, *needle; } bad[] = {
        { PLUGIN("mock_segv"), "crashed with signal 11" },
        { PLUGIN("mock_hang"), "hung" },
        { PLUGIN("mock_exit"), "called exit(3)" },
        { PLUGIN("mock_abort"), "called abort()" },
        { PLUGIN("mock_stdout"), "wrote to stdout during probe" },
    };
    const char *paths[] = { bad[0].path, bad[1].path, bad[2].path, bad[3].path,
                            bad[4].path, PLUGIN("mock_good") };
    slm_runtime_opts_t o = opts_for(paths, 6);
    time_t t0 = time(NULL);
    slm_runtime_t *rt = create_ok(&o);
    assert_true(time(NULL) - t0 < 30);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const slm_plugin_desc_t *p = plugin_at(rt, bad[i].path);
        assert_int_equal(p->state, SLM_PLUGIN_REFUSED);
        assert_int_equal(p->status, SLM_ERR_PLUGIN);
        assert_contains(p->reason, bad[i].needle);
    }
    assert_contains(plugin_at(rt, PLUGIN("mock_stdout"))->reason,
                    "hello from probe");
    assert_int_equal(plugin_at(rt, PLUGIN("mock_good"))->state, SLM_PLUGIN_LOADED);
    assert_non_null(device_id(rt, "mock_good:0"));
    slm_runtime_destroy(rt);

    /* The others are cached, the hang is not: a missed deadline may be the
    ** machine's fault. */
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof cmd, "grep -l 'called abort' '%s'/cache/slm/*.txt "
             ">/dev/null", tmp_root);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "! grep -l hung '%s'/cache/slm/*.txt", tmp_root);
    assert_int_equal(system(cmd), 0);
}

/* The outcome is kept by path, size and mtime: a second runtime runs no
** child, a bad plugin stays refused, and a changed file is probed again. */
static void test_probe_cache(void **state)
{
    (void)state;
    char cache[600], good[600], segv[600], needle[700];
    snprintf(cache, sizeof cache, "%s/cache-probe", tmp_root);
    assert_int_equal(setenv("XDG_CACHE_HOME", cache, 1), 0);
    snprintf(good, sizeof good, "%s/libcached_good.so", tmp_root);
    snprintf(segv, sizeof segv, "%s/libcached_segv.so", tmp_root);
    copy_file(PLUGIN("mock_good"), good);
    copy_file(PLUGIN("mock_segv"), segv);
    const char *paths[] = { good, segv };
    slm_runtime_opts_t o = opts_for(paths, 2);

    slm_runtime_t *rt = create_ok(&o);
    assert_contains(log_text, "isolated probe in a child");
    assert_null(strstr(log_text, "answered from the cache"));
    slm_runtime_destroy(rt);

    rt = create_ok(&o);
    assert_null(strstr(log_text, "isolated probe in a child"));
    snprintf(needle, sizeof needle, "plugin %s: isolated probe answered from "
             "the cache", good);
    assert_contains(log_text, needle);
    assert_int_equal(plugin_at(rt, good)->state, SLM_PLUGIN_LOADED);
    const slm_plugin_desc_t *p = plugin_at(rt, segv);
    assert_int_equal(p->state, SLM_PLUGIN_REFUSED);
    assert_contains(p->reason, "crashed with signal 11");
    assert_contains(p->reason, "[cached");
    slm_runtime_destroy(rt);

    /* A new mtime: the cached answer no longer applies to this file. */
    struct utimbuf later = { time(NULL) + 60, time(NULL) + 60 };
    assert_int_equal(utime(good, &later), 0);
    rt = create_ok(&o);
    snprintf(needle, sizeof needle, "plugin %s: isolated probe in a child: ok",
             good);
    assert_contains(log_text, needle);
    assert_contains(plugin_at(rt, segv)->reason, "[cached");
    slm_runtime_destroy(rt);

    char sub[700];
    snprintf(sub, sizeof sub, "%s/slm", cache);
    struct stat sb;
    assert_int_equal(stat(sub, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
}

/* Off by config or by flag: no child, the plugin loads in-process. */
static void test_isolation_off(void **state)
{
    (void)state;
    char cfg[600];
    write_config(cfg, sizeof cfg, "noisolate.ini",
                 "[runtime]\nisolate_probe = off\n");
    const char *paths[] = { PLUGIN("mock_good") };
    slm_runtime_opts_t o = opts_for(paths, 1);
    o.config_path = cfg;
    slm_runtime_t *rt = create_ok(&o);
    assert_null(strstr(log_text, "isolated probe"));
    assert_int_equal(slm_runtime_plugin(rt, 0)->state, SLM_PLUGIN_LOADED);
    slm_runtime_destroy(rt);

    o.config_path = NULL;
    o.flags |= SLM_RUNTIME_NO_ISOLATION;
    rt = create_ok(&o);
    assert_null(strstr(log_text, "isolated probe"));
    slm_runtime_destroy(rt);

    write_config(cfg, sizeof cfg, "badisolate.ini",
                 "[runtime]\nisolate_probe = maybe\n");
    o.config_path = cfg;
    create_fails(&o, SLM_ERR_CONFIG, "isolate_probe = 'maybe'", NULL);
}

/* ------------------------------------------------------------- manifests */

/* Make the folder `fmt` formatted with `a` (which may be `out` itself) and
** leave its path in out. */
static void make_dir(const char *fmt, const char *a, char *out, size_t n)
{
    char path[PATH_MAX];
    int w = snprintf(path, sizeof path, fmt, a);
    assert_true(w > 0 && (size_t)w < n);
    memcpy(out, path, (size_t)w + 1);
    assert_true(mkdir(out, 0700) == 0 || errno == EEXIST);
}

/* A manifest `name` in `dir` with the given body after [backend]. */
static void write_manifest(const char *dir, const char *name, const char *body)
{
    char path[2 * PATH_MAX], text[2048];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(text, sizeof text, "[backend]\n%s", body);
    write_text(path, text);
}

static const slm_plugin_desc_t *plugin_by_manifest(const slm_runtime_t *rt,
                                                   const char *dir,
                                                   const char *name,
                                                   uint32_t *index)
{
    char file[2 * PATH_MAX];
    snprintf(file, sizeof file, "%s/%s", dir, name);
    for (uint32_t i = 0; i < slm_runtime_plugin_count(rt); i++) {
        const slm_plugin_desc_t *p = slm_runtime_plugin(rt, i);
        if (strcmp(p->manifest, file) == 0) {
            if (index)
                *index = i;
            return p;
        }
    }
    return NULL;
}

static void test_manifests(void **state)
{
    (void)state;
    char a[PATH_MAX], b[PATH_MAX], add[PATH_MAX], lib[PATH_MAX], env[3 * PATH_MAX];
    make_dir("%s/man-a", tmp_root, a, sizeof a);
    make_dir("%s/man-b", tmp_root, b, sizeof b);
    make_dir("%s/man-add", tmp_root, add, sizeof add);
    make_dir("%s/lib", a, lib, sizeof lib);
    char gpu[PATH_MAX + 32];
    snprintf(gpu, sizeof gpu, "%s/libmock_gpu.so", lib);
    copy_file(PLUGIN("mock_gpu"), gpu);

    write_manifest(a, "10-good.ini", "name = mock_good\nabi = 1.0\nlibrary = "
                   PLUGIN("mock_good") "\n");
    write_manifest(a, "20-relative.ini", "name = mock_gpu\nabi = 1.0\n"
                   "library = lib/libmock_gpu.so\n");
    /* Loaded, either would take the process down (isolation is off). */
    write_manifest(a, "30-foreign-arch.ini", "name = mock_segv\nabi = 1.0\n"
                   "arch = sparc64\nlibrary = " PLUGIN("mock_segv") "\n");
    write_manifest(a, "40-foreign-abi.ini", "name = mock_abort\nabi = 2.0\n"
                   "library = " PLUGIN("mock_abort") "\n");
    write_manifest(a, "50-misnamed.ini", "name = other\nabi = 1.0\n"
                   "library = " PLUGIN("mock_emulated") "\n");
    write_manifest(a, "60-bad-key.ini", "abi = 1.0\nlibary = x.so\n");
    write_manifest(a, "70-missing.ini", "abi = 1.0\nlibrary = nowhere.so\n");
    write_manifest(a, "not-a-manifest.txt", "abi = 1.0\nlibrary = " PLUGIN("mock_exit") "\n");
    /* Hidden by a/10-good.ini of the same name. */
    write_manifest(b, "10-good.ini", "abi = 1.0\nlibrary = " PLUGIN("mock_exit") "\n");
    write_manifest(b, "05-later-folder.ini", "abi = 1.1\nlibrary = "
                   PLUGIN("mock_reference") "\n");
    write_manifest(add, "99-added.ini", "name = mock_configurable\nabi = 1.0\n"
                   "library = " PLUGIN("mock_configurable") "\n");

    snprintf(env, sizeof env, "%s::%s", a, b);
    assert_int_equal(setenv("SLM_BACKEND_MANIFESTS", env, 1), 0);
    assert_int_equal(setenv("SLM_BACKEND_MANIFESTS_ADD", add, 1), 0);
    slm_runtime_opts_t o = opts_for(NULL, 0);
    o.flags = SLM_RUNTIME_NO_DEFAULT_CONFIG | SLM_RUNTIME_NO_ISOLATION;
    slm_runtime_t *rt = create_ok(&o);

    /* Order: the added folder, then a's files by name, then b's. */
    static const char *const loaded[][2] = {
        { "man-add", "99-added.ini" }, { "man-a", "10-good.ini" },
        { "man-a", "20-relative.ini" }, { "man-b", "05-later-folder.ini" },
    };
    uint32_t last = 0;
    for (size_t i = 0; i < sizeof loaded / sizeof *loaded; i++) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s/%s", tmp_root, loaded[i][0]);
        uint32_t at = 0;
        const slm_plugin_desc_t *p = plugin_by_manifest(rt, dir, loaded[i][1], &at);
        if (!p)
            fail_msg("no plugin from manifest %s/%s", dir, loaded[i][1]);
        if (p->state != SLM_PLUGIN_LOADED)
            fail_msg("%s: %s", loaded[i][1], p->reason);
        assert_string_equal(p->origin, "manifest");
        assert_true(i == 0 || at > last);
        last = at;
    }
    assert_string_equal(plugin_by_manifest(rt, a, "20-relative.ini", NULL)->path, gpu);

    const slm_plugin_desc_t *p = plugin_by_manifest(rt, a, "30-foreign-arch.ini", NULL);
    assert_int_equal(p->state, SLM_PLUGIN_REFUSED);
    assert_int_equal(p->status, SLM_ERR_ABI);
    assert_string_equal(p->name, "mock_segv");
    assert_contains(p->reason, "arch sparc64");
    p = plugin_by_manifest(rt, a, "40-foreign-abi.ini", NULL);
    assert_int_equal(p->status, SLM_ERR_ABI);
    assert_contains(p->reason, "ABI 2.0");
    assert_contains(p->reason, "this runtime has 1.");
    p = plugin_by_manifest(rt, a, "50-misnamed.ini", NULL);
    assert_int_equal(p->state, SLM_PLUGIN_REFUSED);
    assert_contains(p->reason, "names 'other' but the plugin calls itself 'mock_emulated'");
    p = plugin_by_manifest(rt, a, "60-bad-key.ini", NULL);
    assert_int_equal(p->state, SLM_PLUGIN_REFUSED);
    assert_contains(p->reason, "key 'libary': unknown key");
    p = plugin_by_manifest(rt, a, "70-missing.ini", NULL);
    assert_int_equal(p->status, SLM_ERR_NOT_FOUND);
    assert_null(plugin_by_manifest(rt, b, "10-good.ini", NULL));
    assert_null(plugin_by_manifest(rt, a, "not-a-manifest.txt", NULL));
    slm_runtime_destroy(rt);

    /* SLM_RUNTIME_NO_DEFAULT_PLUGINS: no manifest either. */
    o.flags |= SLM_RUNTIME_NO_DEFAULT_PLUGINS;
    rt = create_ok(&o);
    assert_int_equal(slm_runtime_plugin_count(rt), 0);
    slm_runtime_destroy(rt);
}

/* The default search: $XDG_CONFIG_HOME before $XDG_DATA_DIRS. */
static void test_manifest_xdg_order(void **state)
{
    (void)state;
    char cfg[PATH_MAX], data[PATH_MAX], d1[PATH_MAX], d2[PATH_MAX];
    make_dir("%s/xdg-config", tmp_root, cfg, sizeof cfg);
    make_dir("%s/slm", cfg, d1, sizeof d1);
    make_dir("%s/backends.d", d1, d1, sizeof d1);
    make_dir("%s/xdg-data", tmp_root, data, sizeof data);
    make_dir("%s/slm", data, d2, sizeof d2);
    make_dir("%s/backends.d", d2, d2, sizeof d2);
    write_manifest(d2, "a.ini", "abi = 1.0\nlibrary = " PLUGIN("mock_gpu") "\n");
    write_manifest(d1, "z.ini", "abi = 1.0\nlibrary = " PLUGIN("mock_good") "\n");
    assert_int_equal(setenv("XDG_CONFIG_HOME", cfg, 1), 0);
    assert_int_equal(setenv("XDG_CONFIG_DIRS", "/nonexistent", 1), 0);
    assert_int_equal(setenv("XDG_DATA_HOME", "/nonexistent", 1), 0);
    assert_int_equal(setenv("XDG_DATA_DIRS", data, 1), 0);
    slm_runtime_opts_t o = opts_for(NULL, 0);
    o.flags = SLM_RUNTIME_NO_DEFAULT_CONFIG;
    slm_runtime_t *rt = create_ok(&o);
    uint32_t first = 0, second = 0;
    assert_non_null(plugin_by_manifest(rt, d1, "z.ini", &first));
    assert_non_null(plugin_by_manifest(rt, d2, "a.ini", &second));
    assert_true(first < second);
    assert_non_null(device_id(rt, "mock_good:0"));
    assert_non_null(device_id(rt, "mock_gpu:0"));
    slm_runtime_destroy(rt);
    unsetenv("XDG_CONFIG_HOME");
    unsetenv("XDG_CONFIG_DIRS");
    unsetenv("XDG_DATA_HOME");
    unsetenv("XDG_DATA_DIRS");
}

/* SLM_PLUGIN_SELECT: plain globs keep, "!glob" drops, the last match
** decides; a file is judged by its name, then by its descriptor's. */
static void test_plugin_select(void **state)
{
    (void)state;
    const char *paths[] = { PLUGIN("mock_good"), PLUGIN("mock_gpu"),
                            PLUGIN("mock_reference") };
    slm_runtime_opts_t o = opts_for(paths, 3);

    assert_int_equal(setenv("SLM_PLUGIN_SELECT", "mock_g*", 1), 0);
    slm_runtime_t *rt = create_ok(&o);
    assert_int_equal(plugin_at(rt, PLUGIN("mock_good"))->state, SLM_PLUGIN_LOADED);
    assert_int_equal(plugin_at(rt, PLUGIN("mock_gpu"))->state, SLM_PLUGIN_LOADED);
    const slm_plugin_desc_t *p = plugin_at(rt, PLUGIN("mock_reference"));
    assert_int_equal(p->state, SLM_PLUGIN_SKIPPED);
    assert_contains(p->reason, "no pattern matching 'mock_reference'");
    assert_null(device_id(rt, "mock_reference:0"));
    slm_runtime_destroy(rt);

    assert_int_equal(setenv("SLM_PLUGIN_SELECT", "mock_*, !mock_gpu", 1), 0);
    rt = create_ok(&o);
    p = plugin_at(rt, PLUGIN("mock_gpu"));
    assert_int_equal(p->state, SLM_PLUGIN_SKIPPED);
    assert_contains(p->reason, "pattern '!mock_gpu' matches 'mock_gpu'");
    assert_int_equal(plugin_at(rt, PLUGIN("mock_reference"))->state, SLM_PLUGIN_LOADED);
    slm_runtime_destroy(rt);

    /* libmock_dup.so calls itself mock_good. */
    const char *dup[] = { PLUGIN("mock_dup") };
    o = opts_for(dup, 1);
    assert_int_equal(setenv("SLM_PLUGIN_SELECT", "!mock_good", 1), 0);
    rt = create_ok(&o);
    p = slm_runtime_plugin(rt, 0);
    assert_int_equal(p->state, SLM_PLUGIN_SKIPPED);
    assert_string_equal(p->name, "mock_good");
    assert_int_equal(slm_runtime_device_count(rt), 0);
    slm_runtime_destroy(rt);
}

/* ----------------------------------------------------- ABI compatibility */

/* Built against the frozen 1.0 headers (tests/abi/v1.0): loads, and a graph
** placed on it runs and is right. A plugin built for a newer minor serves
** the host's; another major is refused naming both versions. */
static void test_abi_compat(void **state)
{
    (void)state;
    const char *paths[] = { PLUGIN("mock_frozen_1_0"), PLUGIN("mock_negotiate"),
                            PLUGIN("mock_wrong_abi") };
    slm_runtime_opts_t o = opts_for(paths, 3);
    o.backends = "mock_frozen_1_0";
    slm_runtime_t *rt = create_ok(&o);

    const slm_plugin_desc_t *p = plugin_at(rt, PLUGIN("mock_frozen_1_0"));
    assert_int_equal(p->state, SLM_PLUGIN_LOADED);
    assert_int_equal(p->abi_major, 1);
    assert_int_equal(p->abi_minor, 0);
    p = plugin_at(rt, PLUGIN("mock_negotiate"));
    assert_int_equal(p->state, SLM_PLUGIN_LOADED);
    assert_int_equal(p->abi_minor, SLM_BACKEND_ABI_MINOR);
    p = plugin_at(rt, PLUGIN("mock_wrong_abi"));
    assert_int_equal(p->status, SLM_ERR_ABI);
    assert_contains(p->reason, "2.0");
    char host[32];
    snprintf(host, sizeof host, "%d.%d", SLM_BACKEND_ABI_MAJOR, SLM_BACKEND_ABI_MINOR);
    assert_contains(p->reason, host);

    slm_graph_builder_t *g = NULL;
    assert_int_equal(slm_graph_create(rt, &g), SLM_OK);
    const int64_t ne[1] = { 5 };
    slm_tensor_t *a = NULL, *b = NULL, *sum = NULL;
    assert_int_equal(slm_graph_tensor(g, SLM_DTYPE_F32, 1, ne, SLM_TENSOR_INPUT,
                                      "a", &a), SLM_OK);
    assert_int_equal(slm_graph_tensor(g, SLM_DTYPE_F32, 1, ne, SLM_TENSOR_INPUT,
                                      "b", &b), SLM_OK);
    slm_tensor_t *src[2] = { a, b };
    assert_int_equal(slm_graph_op(g, SLM_OP_ADD, src, 2, NULL, NULL, &sum), SLM_OK);
    assert_int_equal(slm_graph_set_output(g, sum), SLM_OK);
    const float va[5] = { 1, 2, 3, 4, 5 }, vb[5] = { 10, 20, 30, 40, 50 };
    assert_int_equal(slm_graph_set_data(g, a, va, sizeof va), SLM_OK);
    assert_int_equal(slm_graph_set_data(g, b, vb, sizeof vb), SLM_OK);
    slm_status_t st = slm_graph_run(g);
    if (st != SLM_OK)
        fail_msg("run: %s", slm_last_error());
    assert_string_equal(slm_graph_node_device(g, 0), "mock_frozen_1_0:0");
    float out[5];
    assert_int_equal(slm_graph_read(g, sum, out, sizeof out), SLM_OK);
    for (int i = 0; i < 5; i++)
        assert_true(out[i] == va[i] + vb[i]);
    slm_graph_destroy(g);
    slm_runtime_destroy(rt);
}

/* ----------------------------------------------------------------- main */

/* Never the developer's settings, nor those a failed test left behind. */
static int reset_env(void **state)
{
    (void)state;
    unsetenv("SLM_CONFIG");
    unsetenv("SLM_PLUGIN_PATH");
    unsetenv("SLM_BACKEND");
    unsetenv("SLM_BACKEND_MANIFESTS");
    unsetenv("SLM_BACKEND_MANIFESTS_ADD");
    unsetenv("SLM_PLUGIN_SELECT");
    return 0;
}

static int setup(void **state)
{
    reset_env(state);
    const char *base = getenv("TMPDIR");
    snprintf(tmp_root, sizeof tmp_root, "%s/slm-test-loader-XXXXXX",
             base && base[0] ? base : "/tmp");
    if (!mkdtemp(tmp_root))
        return -1;
    /* The probe cache of these tests is theirs, not the developer's. */
    char cache[sizeof tmp_root + 16];
    snprintf(cache, sizeof cache, "%s/cache", tmp_root);
    return setenv("XDG_CACHE_HOME", cache, 1);
}

static int teardown(void **state)
{
    (void)state;
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_load_good, reset_env),
        cmocka_unit_test_setup(test_refusals_one_by_one, reset_env),
        cmocka_unit_test_setup(test_refusals_beside_a_good_plugin, reset_env),
        cmocka_unit_test_setup(test_duplicate_name, reset_env),
        cmocka_unit_test_setup(test_same_file_once, reset_env),
        cmocka_unit_test_setup(test_directory_scan, reset_env),
        cmocka_unit_test_setup(test_env_plugin_path, reset_env),
        cmocka_unit_test_setup(test_default_discovery, reset_env),
        cmocka_unit_test_setup(test_rank_by_score, reset_env),
        cmocka_unit_test_setup(test_rank_real_cpu, reset_env),
        cmocka_unit_test_setup(test_forced_by_opts, reset_env),
        cmocka_unit_test_setup(test_forced_by_env, reset_env),
        cmocka_unit_test_setup(test_forced_unknown, reset_env),
        cmocka_unit_test_setup(test_config_ranking, reset_env),
        cmocka_unit_test_setup(test_config_passthrough, reset_env),
        cmocka_unit_test_setup(test_config_unknown_backend_key, reset_env),
        cmocka_unit_test_setup(test_bad_config, reset_env),
        cmocka_unit_test_setup(test_config_plugin_path, reset_env),
        cmocka_unit_test_setup(test_options, reset_env),
        cmocka_unit_test_setup(test_null_opts, reset_env),
        cmocka_unit_test_setup(test_log_level, reset_env),
        cmocka_unit_test_setup(test_isolated_refusals, reset_env),
        cmocka_unit_test_setup(test_probe_cache, reset_env),
        cmocka_unit_test_setup(test_isolation_off, reset_env),
        cmocka_unit_test_setup(test_manifests, reset_env),
        cmocka_unit_test_setup(test_manifest_xdg_order, reset_env),
        cmocka_unit_test_setup(test_plugin_select, reset_env),
        cmocka_unit_test_setup(test_abi_compat, reset_env),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
