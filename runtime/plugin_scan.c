/*
** plugin_scan.c -- probing a plugin in a child process before the
** application's process loads it, and remembering the outcome.
**
** The ICD loaders dlopen every driver into the application, so one broken
** driver takes vulkaninfo down with it. Here a plugin's slm_plugin_init and
** probe run first in a forked child with a deadline, its stdout a pipe:
** a crash, a hang, exit(), abort() or a byte on stdout (rule 1 of
** slm/backend.h) refuses the plugin before the parent ever maps it. As in
** GStreamer's registry, the outcome is cached under $XDG_CACHE_HOME/slm/
** (~/.cache/slm when unset), keyed by the file's path, size and mtime: an
** unchanged known-good plugin skips the child, an unchanged known-bad one
** stays refused, and replacing the file probes it again. A hang is not
** cached: a deadline missed on a loaded machine is no verdict on the file.
**
** The child runs after fork() without exec(), like a scanner built into the
** library, so that no helper binary has to be installed and found. That is
** safe only while other threads hold no lock the child needs (malloc's, the
** dynamic linker's): create runtimes before starting threads, or turn
** isolation off (`isolate_probe = off`, SLM_RUNTIME_NO_ISOLATION).
*/
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime_internal.h"

#define SCAN_TIMEOUT_MS 5000
#define CACHE_MAGIC "slm-probe-cache 1"

/* What the child reports on its result pipe once probe has returned. */
static const char CHILD_DONE = 'K';

/* ------------------------------------------------------------------ child */

typedef struct child_ctx {
    const slm__config_t *config;
    const slm_backend_t *be;      /* NULL until slm_plugin_init returned it */
} child_ctx_t;

/* The child's log goes nowhere: the parent logs again when it loads the
** plugin, and an application's log callback may not expect a second
** process. Nor is it cached: the parent's own probe always follows the
** child's verdict (fresh or cached), and the reason a plugin gives for
** finding no device is the last line it logs there (plugin_loader.c). */
static void child_log(void *ctx, int level, const char *msg)
{
    (void)ctx;
    (void)level;
    (void)msg;
}

static void child_set_error(void *ctx, const char *msg)
{
    (void)ctx;
    (void)msg;
}

/* The real [backend.NAME] keys: a plugin may crash only with some setting. */
static const char *child_config_get(void *ctx, const char *key)
{
    const child_ctx_t *c = ctx;
    if (!c->be || !c->be->name || !key)
        return NULL;
    return slm__config_backend_get(c->config, c->be->name, key);
}

#if defined(__GLIBC__)
/* exit() in the child would run the application's atexit handlers (which
** may remove its files) and a sanitizer's leak check (which changes the
** status): leave at once with the plugin's status instead. */
static void child_on_exit(int status, void *arg)
{
    (void)arg;
    _exit(status);
}
#endif

static _Noreturn void child_main(const slm__config_t *config, const char *path,
                                 int out_fd, int result_fd)
{
    /* Default actions, so that a fault kills the child with its signal
    ** whatever handler the application (or a sanitizer) installed. */
    static const int FATAL[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT,
                                 SIGTRAP, SIGSYS };
    for (size_t i = 0; i < sizeof FATAL / sizeof *FATAL; i++)
        signal(FATAL[i], SIG_DFL);
#if defined(__GLIBC__)
    on_exit(child_on_exit, NULL);
#endif
    /* The parent's unflushed stdout is the parent's: drop it so that only
    ** what the plugin writes reaches the pipe. */
    __fpurge(stdout);
    if (dup2(out_fd, STDOUT_FILENO) < 0)
        _exit(126);
    close(out_fd);

    child_ctx_t ctx = { config, NULL };
    slm_host_t host = {
        .abi_major = SLM_BACKEND_ABI_MAJOR,
        .abi_minor = SLM_BACKEND_ABI_MINOR,
        .struct_size = sizeof(slm_host_t),
        .ctx = &ctx,
        .log = child_log,
        .set_error = child_set_error,
        .config_get = child_config_get,
    };
    /* Whatever is not a crash (no entry point, a failing init, a foreign
    ** ABI) the parent finds again and refuses with its own words: report
    ** done and let it. */
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    void *sym = dl ? dlsym(dl, SLM_PLUGIN_ENTRY_NAME) : NULL;
    if (sym) {
        slm_plugin_init_fn entry;
        memcpy(&entry, &sym, sizeof entry);
        const slm_backend_t *be = NULL;
        if (entry(&host, &be) == SLM_OK && be &&
            be->abi_major == SLM_BACKEND_ABI_MAJOR &&
            be->struct_size >= SLM_BACKEND_SIZE_1_0 && be->probe) {
            ctx.be = be;
            slm_device_info_t infos[SLM_MAX_DEVICES_PER_PLUGIN];
            memset(infos, 0, sizeof infos);
            for (uint32_t i = 0; i < SLM_MAX_DEVICES_PER_PLUGIN; i++)
                infos[i].struct_size = sizeof infos[i];
            uint32_t n = 0;
            be->probe(infos, SLM_MAX_DEVICES_PER_PLUGIN, &n);
        }
    }
    fflush(stdout);
    ssize_t w = write(result_fd, &CHILD_DONE, 1);
    _exit(w == 1 ? 0 : 125);
}

/* ----------------------------------------------------------------- parent */

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Drain `fd` (non-blocking), keeping the first bytes in buf[0 .. cap-1]. */
static void drain(int fd, char *buf, size_t cap, size_t *len, bool *any)
{
    char tmp[4096];
    ssize_t n;
    while ((n = read(fd, tmp, sizeof tmp)) > 0) {
        *any = true;
        size_t keep = (size_t)n < cap - 1 - *len ? (size_t)n : cap - 1 - *len;
        memcpy(buf + *len, tmp, keep);
        *len += keep;
        buf[*len] = '\0';
    }
}

/* Printable text for a reason: newlines and controls become spaces. */
static void printable(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = ' ';
}

static void set_reason(slm__scan_t *out, const char *fmt, ...) SLM__PRINTF(2, 3);

static void set_reason(slm__scan_t *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->reason, sizeof out->reason, fmt, ap);
    va_end(ap);
    out->refused = true;
}

static bool set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0 &&
           fcntl(fd, F_SETFD, FD_CLOEXEC) == 0;
}

/* Run the child and judge it. False when no child could be run. */
static bool run_child(const slm_runtime_t *rt, const char *path,
                      slm__scan_t *out)
{
    int outp[2], resp[2];
    if (pipe(outp) != 0)
        return false;
    if (pipe(resp) != 0) {
        close(outp[0]);
        close(outp[1]);
        return false;
    }
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(outp[0]);
        close(resp[0]);
        child_main(&rt->config, path, outp[1], resp[1]);
    }
    close(outp[1]);
    close(resp[1]);
    if (pid < 0 || !set_nonblock(outp[0]) || !set_nonblock(resp[0])) {
        close(outp[0]);
        close(resp[0]);
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
        }
        return false;
    }

    /* Poll the pipes rather than wait for their end: a process the plugin
    ** started may hold them open after the child is gone. */
    char said[96] = "", done[4] = "";
    size_t said_len = 0, done_len = 0;
    bool wrote = false, got = false, hung = false;
    int status = 0;
    long deadline = now_ms() + SCAN_TIMEOUT_MS;
    for (;;) {
        struct pollfd fds[2] = { { outp[0], POLLIN, 0 }, { resp[0], POLLIN, 0 } };
        poll(fds, 2, 10);
        drain(outp[0], said, sizeof said, &said_len, &wrote);
        drain(resp[0], done, sizeof done, &done_len, &got);
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid || (w < 0 && errno != EINTR))
            break;
        if (now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            hung = true;
            break;
        }
    }
    drain(outp[0], said, sizeof said, &said_len, &wrote);
    drain(resp[0], done, sizeof done, &done_len, &got);
    close(outp[0]);
    close(resp[0]);

    /* Once the child said done, probe returned: a status changed after
    ** that is a tool's doing (valgrind's --error-exitcode after its leak
    ** check), not the plugin's. */
    printable(said);
    if (hung)
        set_reason(out, "hung: slm_plugin_init and probe did not return "
                   "within %d s (isolated probe)", SCAN_TIMEOUT_MS / 1000);
    else if (wrote)
        set_reason(out, "wrote to stdout during probe, which belongs to the "
                   "application (rule 1 of slm/backend.h): \"%s\"", said);
    else if (got && done[0] == CHILD_DONE)
        out->refused = false;
    else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT)
        set_reason(out, "called abort() during probe (isolated probe)");
    else if (WIFSIGNALED(status))
        set_reason(out, "crashed with signal %d (%s) during probe (isolated "
                   "probe)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        set_reason(out, "called exit(%d) during probe (isolated probe)",
                   WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    out->hung = hung;
    return true;
}

/* ------------------------------------------------------------------ cache */

/* $XDG_CACHE_HOME/slm, else $HOME/.cache/slm; NULL when neither is set. */
static char *cache_dir(void)
{
    const char *xdg = secure_getenv("XDG_CACHE_HOME");
    char *dir = NULL;
    if (xdg && xdg[0] == '/') {
        if (asprintf(&dir, "%s/slm", xdg) < 0)
            dir = NULL;
    } else {
        const char *home = secure_getenv("HOME");
        if (home && home[0] == '/' && asprintf(&dir, "%s/.cache/slm", home) < 0)
            dir = NULL;
    }
    return dir;
}

/* One file per plugin, named by a hash of its path; the path is inside it
** too, so a hash collision is a miss, not a wrong answer. */
static char *cache_file(const char *dir, const char *path)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const unsigned char *s = (const unsigned char *)path; *s; s++)
        h = (h ^ *s) * 1099511628211ull;
    char *file = NULL;
    if (asprintf(&file, "%s/probe-%016llx.txt", dir, (unsigned long long)h) < 0)
        return NULL;
    return file;
}

static void key_line(char *buf, size_t n, const char *path, const struct stat *sb)
{
    snprintf(buf, n, "%s\n%lld %lld.%09ld\n", path, (long long)sb->st_size,
             (long long)sb->st_mtim.tv_sec, sb->st_mtim.tv_nsec);
}

/* True when the cache holds an outcome for this very file. */
static bool cache_read(const char *file, const char *key, slm__scan_t *out)
{
    FILE *f = fopen(file, "r");
    if (!f)
        return false;
    char text[2048];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    size_t magic = strlen(CACHE_MAGIC "\n");
    if (strncmp(text, CACHE_MAGIC "\n", magic) != 0 ||
        strncmp(text + magic, key, strlen(key)) != 0)
        return false;
    const char *rest = text + magic + strlen(key);
    if (strcmp(rest, "ok\n") == 0) {
        out->refused = false;
    } else if (strncmp(rest, "refused ", 8) == 0) {
        snprintf(out->reason, sizeof out->reason, "%s", rest + 8);
        out->reason[strcspn(out->reason, "\n")] = '\0';
        out->refused = true;
    } else {
        return false;
    }
    out->cached = true;
    return true;
}

/* Written to a temporary file and renamed over, so a reader never sees half
** of it, and two processes probing at once leave one whole answer. */
static void cache_write(const slm_runtime_t *rt, const char *dir,
                        const char *file, const char *key,
                        const slm__scan_t *res)
{
    char *parent = strdup(dir);
    char *slash = parent ? strrchr(parent, '/') : NULL;
    if (slash && slash != parent) {
        *slash = '\0';
        mkdir(parent, 0700); /* ~/.cache itself may be missing */
    }
    free(parent);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        goto fail;
    char *tmp = NULL;
    if (asprintf(&tmp, "%s.XXXXXX", file) < 0)
        goto fail;
    int fd = mkstemp(tmp);
    if (fd < 0) {
        free(tmp);
        goto fail;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        unlink(tmp);
        free(tmp);
        goto fail;
    }
    fprintf(f, CACHE_MAGIC "\n%s", key);
    if (res->refused)
        fprintf(f, "refused %s\n", res->reason);
    else
        fprintf(f, "ok\n");
    bool ok = fclose(f) == 0 && rename(tmp, file) == 0;
    if (!ok)
        unlink(tmp);
    free(tmp);
    if (ok)
        return;
fail:
    slm__log(rt, SLM_LOG_DEBUG, "probe cache %s not written: %s", file,
             strerror(errno));
}

/* -------------------------------------------------------------------- API */

void slm__plugin_scan(const slm_runtime_t *rt, const char *path, slm__scan_t *out)
{
    memset(out, 0, sizeof *out);
    struct stat sb;
    if (stat(path, &sb) != 0)
        return; /* the parent's dlopen says why */

    char key[PATH_MAX + 128];
    key_line(key, sizeof key, path, &sb);
    char *dir = cache_dir();
    char *file = dir ? cache_file(dir, path) : NULL;
    if (file && cache_read(file, key, out)) {
        slm__log(rt, SLM_LOG_DEBUG, "plugin %s: isolated probe answered from "
                 "the cache %s (%s)", path, file,
                 out->refused ? "refused" : "ok");
        free(file);
        free(dir);
        return;
    }

    if (!run_child(rt, path, out)) {
        slm__log(rt, SLM_LOG_WARN, "plugin %s: no child process for the "
                 "isolated probe (%s); loading it without", path,
                 strerror(errno));
    } else {
        slm__log(rt, SLM_LOG_DEBUG, "plugin %s: isolated probe in a child: %s",
                 path, out->refused ? out->reason : "ok");
        /* A deadline missed says as much about the machine's load (or a
        ** valgrind around it) as about the plugin: probe it again next
        ** time rather than refuse it until the file changes. */
        if (file && !out->hung)
            cache_write(rt, dir, file, key, out);
    }
    free(file);
    free(dir);
}
