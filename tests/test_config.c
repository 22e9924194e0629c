/*
** test_config.c -- slm.ini: parsing, errors with file/line/key, the search
** order, and the check of [backend.NAME] keys.
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

#include "runtime_internal.h"

/* ---------------------------------------------------------------- helpers */

static char tmp_root[512];

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* A fresh folder under tmp_root; returns its path in buf. */
static void make_dir(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", tmp_root, name);
    assert_true(mkdir(buf, 0700) == 0 || errno == EEXIST);
}

static void write_in(const char *dir, const char *name, const char *text,
                     char *path, size_t n)
{
    snprintf(path, n, "%s/%s", dir, name);
    write_file(path, text, strlen(text));
}

/* Load `text` as "slm.ini" and expect failure with every `needles` in the
** message; the config must come back empty. */
static void expect_error(const char *text, slm_status_t status, ...)
{
    slm__config_t c;
    memset(&c, 0x5a, sizeof c);
    slm_status_t st = slm__config_load_string(text, "slm.ini", &c);
    const char *msg = slm_last_error();
    if (st != status)
        fail_msg("status %d, want %d; message: %s", st, status, msg);
    va_list ap;
    va_start(ap, status);
    for (const char *needle; (needle = va_arg(ap, const char *)) != NULL;)
        if (!strstr(msg, needle))
            fail_msg("message '%s' lacks '%s'", msg, needle);
    va_end(ap);
    assert_null(c.path);
    assert_int_equal(c.n_entries, 0);
    assert_int_equal(c.n_backends, 0);
    assert_null(c.entries);
}

/* --------------------------------------------------------------- parsing */

static const char GOOD[] =
    "; slm.ini for the tests\n"
    "# hash comments too\n"
    "\n"
    "[runtime]\n"
    "plugin_path = /opt/a : plugins:/usr/lib/slm   ; trailing comment\n"
    "   backends=  vulkan:1 ,cpu  \n"
    "\tdeny = opencl\n"
    "threads = 4096\n"
    "log_level = debug\n"
    "\n"
    "[backend.vulkan]\n"
    "  device_index = 1\n"
    "mode = fast and loose\n"
    "[backend.cpu-x_2]\n"
    "mode = slow\n";

static void check_good(const slm__config_t *c)
{
    assert_int_equal(c->n_plugin_path, 3);
    assert_string_equal(c->plugin_path[0], "/opt/a");
    assert_string_equal(c->plugin_path[2], "/usr/lib/slm");
    assert_int_equal(c->n_backends, 2);
    assert_string_equal(c->backends[0], "vulkan:1");
    assert_string_equal(c->backends[1], "cpu");
    assert_int_equal(c->n_deny, 1);
    assert_string_equal(c->deny[0], "opencl");
    assert_true(c->has_threads);
    assert_int_equal(c->threads, 4096);
    assert_true(c->has_log_level);
    assert_int_equal(c->log_level, SLM_LOG_DEBUG);
    assert_int_equal(c->n_entries, 3);
    assert_string_equal(c->entries[0].backend, "vulkan");
    assert_string_equal(c->entries[0].key, "device_index");
    assert_string_equal(c->entries[0].value, "1");
    assert_int_equal(c->entries[0].line, 12);
    assert_int_equal(c->entries[1].line, 13);
    assert_string_equal(slm__config_backend_get(c, "vulkan", "mode"),
                        "fast and loose");
    assert_string_equal(slm__config_backend_get(c, "cpu-x_2", "mode"), "slow");
    assert_null(slm__config_backend_get(c, "cpu", "mode"));
    assert_null(slm__config_backend_get(c, "vulkan", "nothing"));
}

static void test_load_string(void **state)
{
    (void)state;
    slm__config_t c;
    assert_int_equal(slm__config_load_string(GOOD, "mem.ini", &c), SLM_OK);
    check_good(&c);
    assert_string_equal(c.path, "mem.ini");
    assert_string_equal(c.plugin_path[1], "plugins"); /* no file: as is */
    slm__config_free(&c);
    assert_null(c.path);
    slm__config_free(&c); /* empty again: harmless */
}

static void test_load_file(void **state)
{
    (void)state;
    char dir[PATH_MAX], path[PATH_MAX + 32], want[PATH_MAX + 32];
    make_dir(dir, sizeof dir, "good");
    write_in(dir, "slm.ini", GOOD, path, sizeof path);
    slm__config_t c;
    assert_int_equal(slm__config_load(path, &c), SLM_OK);
    check_good(&c);
    assert_string_equal(c.path, path);
    /* relative to the file's folder, not to the working folder */
    snprintf(want, sizeof want, "%s/plugins", dir);
    assert_string_equal(c.plugin_path[1], want);
    slm__config_free(&c);
}

static void test_empty_and_odd_but_valid(void **state)
{
    (void)state;
    slm__config_t c;
    assert_int_equal(slm__config_load_string("", "e.ini", &c), SLM_OK);
    assert_false(c.has_threads);
    assert_int_equal(c.n_plugin_path, 0);
    slm__config_free(&c);

    /* A BOM, CRLF line ends, an empty list, an empty section. */
    assert_int_equal(slm__config_load_string("\xEF\xBB\xBF[runtime]\r\n"
                                             "deny =\r\nthreads = 0\r\n"
                                             "[backend.x]\r\n",
                                             "w.ini", &c), SLM_OK);
    assert_int_equal(c.n_deny, 0);
    assert_true(c.has_threads);
    assert_int_equal(c.threads, 0);
    slm__config_free(&c);

    /* No file at all: an empty config. */
    assert_int_equal(slm__config_load(NULL, &c), SLM_OK);
    assert_null(c.path);
    slm__config_free(&c);
}

/* ---------------------------------------------------------------- errors */

static void test_unknown_section(void **state)
{
    (void)state;
    expect_error("[runtime]\nthreads = 1\n\n[gpu]\nx = 1\n", SLM_ERR_CONFIG,
                 "slm.ini:4:", "unknown section [gpu]",
                 "(known: [runtime], [backend.NAME])", NULL);
    /* empty, at the end: still wrong */
    expect_error("[runtime]\nthreads = 1\n[gpu]\n", SLM_ERR_CONFIG,
                 "slm.ini:3:", "unknown section [gpu]", NULL);
    expect_error("[backend.Vulkan]\nx = 1\n", SLM_ERR_CONFIG, "slm.ini:1:",
                 "[backend.Vulkan]", "'Vulkan' is not a backend name", NULL);
    expect_error("[backend.]\n", SLM_ERR_CONFIG, "slm.ini:1:",
                 "unknown section [backend.]", NULL);
    expect_error("[backend.abcdefghijklmnopqrstuvwxyz0123456]\n", SLM_ERR_CONFIG,
                 "slm.ini:1:", "not a backend name", NULL);
    expect_error("; top\nthreads = 2\n", SLM_ERR_CONFIG, "slm.ini:2:",
                 "key 'threads' outside any section", NULL);
}

static void test_unknown_runtime_key(void **state)
{
    (void)state;
    expect_error("[runtime]\n; a\n; b\n; c\n\n\nthreds = 4\n", SLM_ERR_CONFIG,
                 "slm.ini:7: [runtime] key 'threds': unknown key (known: "
                 "plugin_path, backends, deny, threads, log_level, fallback, "
                 "isolate_probe)", NULL);
}

static void test_bad_values(void **state)
{
    (void)state;
    expect_error("[runtime]\n\nthreads = abc\n", SLM_ERR_CONFIG,
                 "slm.ini:3: [runtime] threads = 'abc': not a non-negative "
                 "integer", NULL);
    expect_error("[runtime]\nthreads = -1\n", SLM_ERR_CONFIG, "slm.ini:2:",
                 "threads = '-1'", "not a non-negative integer", NULL);
    expect_error("[runtime]\nthreads = 4x\n", SLM_ERR_CONFIG, "slm.ini:2:",
                 "not a non-negative integer", NULL);
    expect_error("[runtime]\nthreads =\n", SLM_ERR_CONFIG, "slm.ini:2:",
                 "not a non-negative integer", NULL);
    expect_error("[runtime]\nthreads = 4097\n", SLM_ERR_CONFIG, "slm.ini:2:",
                 "threads = '4097': out of range (0 to 4096)", NULL);
    expect_error("[runtime]\nlog_level = loud\n", SLM_ERR_CONFIG, "slm.ini:2:",
                 "log_level = 'loud'", "error, warn, info, debug", NULL);
    expect_error("[runtime]\nbackends = vulkan,,cpu\n", SLM_ERR_CONFIG,
                 "slm.ini:2:", "backends", "empty item", NULL);
    expect_error("[runtime]\ndeny = cpu,\n", SLM_ERR_CONFIG, "slm.ini:2:",
                 "deny", "empty item", NULL);
    expect_error("[runtime]\nplugin_path = /a::/b\n", SLM_ERR_CONFIG,
                 "slm.ini:2:", "plugin_path", "empty item", NULL);
    expect_error("[runtime]\nbackends = Vulkan\n", SLM_ERR_CONFIG, "slm.ini:2:",
                 "item 'Vulkan' is not a backend name or name:index", NULL);
    expect_error("[runtime]\ndeny = cpu:x\n", SLM_ERR_CONFIG, "slm.ini:2:",
                 "item 'cpu:x'", NULL);
    expect_error("[runtime]\ndeny = cpu:16\n", SLM_ERR_CONFIG, "slm.ini:2:",
                 "item 'cpu:16'", NULL);
}

static void test_duplicates(void **state)
{
    (void)state;
    expect_error("[runtime]\nthreads = 1\n[backend.a]\nk = 1\n[runtime]\n"
                 "threads = 2\n", SLM_ERR_CONFIG,
                 "slm.ini:6: [runtime] key 'threads': duplicate key (first set "
                 "on line 2)", NULL);
    expect_error("[backend.a]\nk = 1\nj = 2\nk = 3\n", SLM_ERR_CONFIG,
                 "slm.ini:4: [backend.a] key 'k': duplicate key (first set on "
                 "line 2)", NULL);
    /* the same key in two backends is fine */
    slm__config_t c;
    assert_int_equal(slm__config_load_string("[backend.a]\nk = 1\n[backend.b]\n"
                                             "k = 2\n", "d.ini", &c), SLM_OK);
    assert_string_equal(slm__config_backend_get(&c, "b", "k"), "2");
    slm__config_free(&c);
}

static void test_syntax_errors(void **state)
{
    (void)state;
    expect_error("[runtime]\nthreads 4\n", SLM_ERR_CONFIG, "slm.ini:2:",
                 "syntax error in 'threads 4'", NULL);
    expect_error("[runtime\nthreads = 4\n", SLM_ERR_CONFIG, "slm.ini:1:",
                 "syntax error", NULL);
    /* the first error wins, whoever found it */
    expect_error("[runtime]\nbad line\nthreds = 1\n", SLM_ERR_CONFIG,
                 "slm.ini:2:", NULL);
    expect_error("[runtime]\nthreds = 1\nbad line\n", SLM_ERR_CONFIG,
                 "slm.ini:2:", "threds", NULL);

    char long_line[400];
    snprintf(long_line, sizeof long_line, "[runtime]\nplugin_path = /%0300d\n", 0);
    expect_error(long_line, SLM_ERR_CONFIG, "slm.ini:2:", "line longer than",
                 NULL);
}

static void test_file_errors(void **state)
{
    (void)state;
    char dir[PATH_MAX], path[PATH_MAX + 32];
    make_dir(dir, sizeof dir, "bad");
    write_in(dir, "bad.ini", "[runtime]\nthreads = 1\nlog_level = loud\n", path,
             sizeof path);
    slm__config_t c;
    assert_int_equal(slm__config_load(path, &c), SLM_ERR_CONFIG);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "%s:3: [runtime] log_level = 'loud'", path);
    assert_non_null(strstr(slm_last_error(), want));

    snprintf(path, sizeof path, "%s/nul.ini", dir);
    write_file(path, "[runtime]\0threads = 1\n", 22);
    assert_int_equal(slm__config_load(path, &c), SLM_ERR_CONFIG);
    assert_non_null(strstr(slm_last_error(), "NUL byte"));

    snprintf(path, sizeof path, "%s/missing.ini", dir);
    assert_int_equal(slm__config_load(path, &c), SLM_ERR_CONFIG);
    assert_non_null(strstr(slm_last_error(), path));
}

/* --------------------------------------------------------------- finding */

static void test_find_explicit(void **state)
{
    (void)state;
    char dir[PATH_MAX], path[PATH_MAX + 32];
    make_dir(dir, sizeof dir, "explicit");
    write_in(dir, "x.ini", "[runtime]\n", path, sizeof path);
    char *found = NULL;
    assert_int_equal(slm__config_find(path, true, &found), SLM_OK);
    assert_string_equal(found, path);
    free(found);
    /* explicit wins even without search */
    assert_int_equal(slm__config_find(path, false, &found), SLM_OK);
    assert_string_equal(found, path);
    free(found);

    char missing[PATH_MAX + 32];
    snprintf(missing, sizeof missing, "%s/nope.ini", dir);
    assert_int_equal(slm__config_find(missing, true, &found), SLM_ERR_CONFIG);
    assert_null(found);
    assert_non_null(strstr(slm_last_error(), missing));
    assert_non_null(strstr(slm_last_error(), strerror(ENOENT)));

    assert_int_equal(slm__config_find(dir, true, &found), SLM_ERR_CONFIG);
    assert_non_null(strstr(slm_last_error(), "is a directory"));
}

static void test_find_env(void **state)
{
    (void)state;
    char dir[PATH_MAX], path[PATH_MAX + 32], missing[PATH_MAX + 32];
    make_dir(dir, sizeof dir, "env");
    write_in(dir, "env.ini", "[runtime]\n", path, sizeof path);
    snprintf(missing, sizeof missing, "%s/gone.ini", dir);
    char *found = NULL;

    setenv("SLM_CONFIG", path, 1);
    assert_int_equal(slm__config_find(NULL, true, &found), SLM_OK);
    assert_string_equal(found, path);
    free(found);
    found = NULL;
    /* without search the variable is not read either */
    assert_int_equal(slm__config_find(NULL, false, &found), SLM_OK);
    assert_null(found);

    setenv("SLM_CONFIG", missing, 1);
    assert_int_equal(slm__config_find(NULL, true, &found), SLM_ERR_CONFIG);
    assert_non_null(strstr(slm_last_error(), "SLM_CONFIG"));
    assert_non_null(strstr(slm_last_error(), missing));
    unsetenv("SLM_CONFIG");
}

static void test_find_search_order(void **state)
{
    (void)state;
    char dir[PATH_MAX], xdg[PATH_MAX], home[PATH_MAX], p[PATH_MAX + 64];
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof cwd));
    make_dir(dir, sizeof dir, "work");
    make_dir(xdg, sizeof xdg, "xdg");
    make_dir(home, sizeof home, "home");
    snprintf(p, sizeof p, "%s/slm", xdg);
    assert_true(mkdir(p, 0700) == 0 || errno == EEXIST);
    snprintf(p, sizeof p, "%s/.config", home);
    assert_true(mkdir(p, 0700) == 0 || errno == EEXIST);
    snprintf(p, sizeof p, "%s/.config/slm", home);
    assert_true(mkdir(p, 0700) == 0 || errno == EEXIST);

    char xdg_ini[PATH_MAX + 32], home_ini[PATH_MAX + 32], cwd_ini[PATH_MAX + 32];
    snprintf(xdg_ini, sizeof xdg_ini, "%s/slm/slm.ini", xdg);
    snprintf(home_ini, sizeof home_ini, "%s/.config/slm/slm.ini", home);
    write_file(xdg_ini, "", 0);
    write_file(home_ini, "", 0);
    write_in(dir, "slm.ini", "", cwd_ini, sizeof cwd_ini);

    unsetenv("SLM_CONFIG");
    setenv("XDG_CONFIG_HOME", xdg, 1);
    setenv("HOME", home, 1);
    assert_int_equal(chdir(dir), 0);

    char *found = NULL;
    assert_int_equal(slm__config_find(NULL, true, &found), SLM_OK);
    assert_string_equal(found, "slm.ini");
    free(found);

    assert_int_equal(unlink(cwd_ini), 0);
    assert_int_equal(slm__config_find(NULL, true, &found), SLM_OK);
    assert_string_equal(found, xdg_ini);
    free(found);

    /* an empty XDG_CONFIG_HOME means unset: ~/.config */
    setenv("XDG_CONFIG_HOME", "", 1);
    assert_int_equal(slm__config_find(NULL, true, &found), SLM_OK);
    assert_string_equal(found, home_ini);
    free(found);

    /* nothing left: /etc/slm/slm.ini if this machine has one, else none */
    assert_int_equal(unlink(home_ini), 0);
    assert_int_equal(slm__config_find(NULL, true, &found), SLM_OK);
    if (access("/etc/slm/slm.ini", F_OK) == 0)
        assert_string_equal(found, "/etc/slm/slm.ini");
    else
        assert_null(found);
    free(found);

    /* search off: nothing, even with a ./slm.ini */
    write_in(dir, "slm.ini", "", cwd_ini, sizeof cwd_ini);
    assert_int_equal(slm__config_find(NULL, false, &found), SLM_OK);
    assert_null(found);

    assert_int_equal(chdir(cwd), 0);
}

/* -------------------------------------------------------- backend keys */

static void test_check_backend(void **state)
{
    (void)state;
    slm__config_t c;
    assert_int_equal(slm__config_load_string("[backend.a]\nmode = 1\n"
                                             "[backend.b]\n\nmodee = 2\n",
                                             "k.ini", &c), SLM_OK);
    const slm_config_key_t keys[] = { { "mode", "help" }, { "level", "help" } };
    assert_int_equal(slm__config_check_backend(&c, "a", keys, 2), SLM_OK);
    assert_int_equal(slm__config_check_backend(&c, "none", NULL, 0), SLM_OK);
    assert_int_equal(slm__config_check_backend(&c, "b", keys, 2), SLM_ERR_CONFIG);
    assert_string_equal(slm_last_error(),
                        "k.ini:5: [backend.b] key 'modee': unknown key (known: "
                        "mode, level)");
    assert_int_equal(slm__config_check_backend(&c, "a", NULL, 0), SLM_ERR_CONFIG);
    assert_non_null(strstr(slm_last_error(), "k.ini:2: [backend.a] key 'mode'"));
    assert_non_null(strstr(slm_last_error(), "accepts no keys"));
    slm__config_free(&c);
}

/* ------------------------------------------------------------- helpers */

static void test_split_and_selectors(void **state)
{
    (void)state;
    char **items;
    uint32_t n;
    assert_int_equal(slm__config_split("  a , b:1,c  ", ',', &items, &n), SLM_OK);
    assert_int_equal(n, 3);
    assert_string_equal(items[1], "b:1");
    assert_string_equal(items[2], "c");
    slm__config_list_free(items, n);
    assert_int_equal(slm__config_split("   ", ',', &items, &n), SLM_OK);
    assert_int_equal(n, 0);
    assert_null(items);
    assert_int_equal(slm__config_split("a, ,b", ',', &items, &n), SLM_ERR_CONFIG);
    assert_int_equal(n, 0);

    char name[32];
    int index;
    assert_true(slm__config_parse_selector("cpu", name, &index));
    assert_string_equal(name, "cpu");
    assert_int_equal(index, -1);
    assert_true(slm__config_parse_selector("my_gpu-2:15", name, &index));
    assert_string_equal(name, "my_gpu-2");
    assert_int_equal(index, 15);
    assert_false(slm__config_parse_selector("cpu:", name, &index));
    assert_false(slm__config_parse_selector(":1", name, &index));
    assert_false(slm__config_parse_selector("CPU", name, &index));
    assert_false(slm__config_parse_selector("cpu:16", name, &index));
    assert_false(slm__config_parse_selector("cpu:1:2", name, &index));
    assert_false(slm__config_parse_selector("abcdefghijklmnopqrstuvwxyz0123456",
                                            name, &index));
}

/* ----------------------------------------------------------------- main */

static int setup(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(tmp_root, sizeof tmp_root, "%s/slm-test-config-XXXXXX",
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
        cmocka_unit_test(test_load_string),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_empty_and_odd_but_valid),
        cmocka_unit_test(test_unknown_section),
        cmocka_unit_test(test_unknown_runtime_key),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_find_explicit),
        cmocka_unit_test(test_find_env),
        cmocka_unit_test(test_find_search_order),
        cmocka_unit_test(test_check_backend),
        cmocka_unit_test(test_split_and_selectors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
