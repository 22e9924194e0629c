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
#include <unistd.h>

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

/* ----------------------------------------------------------------- main */

/* Never the developer's settings, nor those a failed test left behind. */
static int reset_env(void **state)
{
    (void)state;
    unsetenv("SLM_CONFIG");
    unsetenv("SLM_PLUGIN_PATH");
    unsetenv("SLM_BACKEND");
    return 0;
}

static int setup(void **state)
{
    reset_env(state);
    const char *base = getenv("TMPDIR");
    snprintf(tmp_root, sizeof tmp_root, "%s/slm-test-loader-XXXXXX",
             base && base[0] ? base : "/tmp");
    return mkdtemp(tmp_root) ? 0 : -1;
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
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
