/*
** runtime_internal.h -- what the parts of libslm share with each other.
**
** Nothing here is public. Private helpers are named slm__*.
*/
#ifndef SLM_RUNTIME_INTERNAL_H
#define SLM_RUNTIME_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slm/backend.h"
#include "slm/graph.h"
#include "slm/slm.h"

#include "config.h"

#if defined(__GNUC__)
#define SLM__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define SLM__PRINTF(f, a)
#endif

/* ------------------------------------------------------------------ errors */

/* Set this thread's last error to the formatted message and return status,
** so that a failure reads: return slm__error(SLM_ERR_IO, "%s: %s", ...). */
slm_status_t slm__error(slm_status_t status, const char *fmt, ...)
    SLM__PRINTF(2, 3);

/* The message a plugin gave with host->set_error during the current call on
** this thread ("" if none), and clear it. Borrowed until the next call. */
const char *slm__plugin_error_take(void);

/* Store a plugin's message (host->set_error). */
void slm__plugin_error_set(const char *msg);

/* Forget any plugin message left on this thread (before a plugin call). */
void slm__plugin_error_clear(void);

/* ----------------------------------------------------------------- logging */

/* Log through the runtime's log callback (or stderr for warnings and errors
** when none). rt may be NULL. */
void slm__log(const slm_runtime_t *rt, int level, const char *fmt, ...)
    SLM__PRINTF(3, 4);

/* ----------------------------------------------------------------- plugins */

typedef struct slm__plugin {
    slm_plugin_desc_t desc;       /* public view; strings point at fields below */
    char *path;                   /* owned */
    char *reason;                 /* owned; "" when loaded */
    void *dl;                     /* dlopen handle, NULL when refused early */
    const slm_backend_t *be;      /* descriptor, NULL when refused */
    slm_host_t host;              /* this plugin's host table; ctx = this */
    struct slm_runtime *rt;
    uint32_t n_devices;
    slm_device_info_t infos[SLM_MAX_DEVICES_PER_PLUGIN];
    /* While probe runs, host->log keeps the last line here, whatever its
    ** level: a plugin that finds no device says why (desc.reason). */
    bool probing;
    char probe_said[256];
} slm__plugin_t;

/* Nonzero when the plugin's descriptor has slot or field `member`, i.e. its
** struct_size covers it. Check before touching anything added after 1.0. */
#define SLM__BACKEND_HAS(be, member)                                         \
    ((be)->struct_size >= offsetof(slm_backend_t, member) + sizeof((be)->member))

/* ----------------------------------------------------------------- devices */

/*
** A device of a loaded plugin. Sessions on several threads share devices,
** and a plugin may see only one call at a time on a device handle
** (slm/backend.h, THREADING): every call into the plugin for this device is
** made by the wrappers below with `lock` held, and nothing else touches
** `handle` or `open_failed`. The lock is never held while taking another
** lock (the bound-copy table's is taken first, see struct slm_runtime).
*/
typedef struct slm__device {
    slm_device_desc_t desc;       /* public view */
    char id[48];                  /* "cpu:0" */
    char why[160];                /* ranking explanation */
    slm__plugin_t *plugin;
    uint32_t index;               /* within the plugin */
    pthread_mutex_t lock;         /* serialises calls on handle */
    void *handle;                 /* device_open result; NULL until opened */
    bool open_failed;             /* tried once and failed: never again */
    atomic_bool lost;             /* a call returned SLM_ERR_DEVICE_LOST:
                                     placement never uses it again and
                                     calls on it fail, but buffer_free and
                                     device_close */
} slm__device_t;

/* The plugin's supports_node; false for a device that cannot be opened or
** was lost. */
bool slm__device_supports(slm__device_t *d, const slm_node_t *node);

/* Whether the device reported itself lost. */
bool slm__device_lost(const slm__device_t *d);

/* The device whose plugin call failed last on this thread (NULL if none
** since the last take), and forget it. The scheduler uses it to run a graph
** again without that device (config `fallback`). */
slm__device_t *slm__device_failed_take(void);

/* Wrappers over the plugin's slots: they open the device if needed, check
** arguments, apply defaults for optional slots, and turn a plugin failure
** into an slm__error naming device, call and the plugin's message. A
** failure with SLM_ERR_DEVICE_LOST marks the device lost, and calls on a
** lost device fail with SLM_ERR_DEVICE_LOST without reaching the plugin
** (but buffer_free and close, which release what the plugin holds). */
slm_status_t slm__device_buffer_alloc(slm__device_t *d, size_t size,
                                      slm_buffer_usage_t usage,
                                      void **out_buffer, void **out_base);
void slm__device_buffer_free(slm__device_t *d, void *buffer);
slm_status_t slm__device_buffer_write(slm__device_t *d, void *buffer,
                                      size_t offset, const void *src,
                                      size_t size);
slm_status_t slm__device_buffer_read(slm__device_t *d, void *buffer,
                                     size_t offset, void *dst, size_t size);
/* SLM_ERR_UNSUPPORTED (with no message set) when the plugin lacks the slot. */
slm_status_t slm__device_buffer_from_host(slm__device_t *d, void *ptr,
                                          size_t size, void **out_buffer);
/* graph_compute followed by synchronize when offered. */
slm_status_t slm__device_compute(slm__device_t *d, const slm_graph_t *graph);
/* Close the device if open. */
void slm__device_close(slm__device_t *d);

/* ----------------------------------------------------------------- runtime */

typedef struct slm__bound_copy slm__bound_copy_t;

/*
** What the runtime locks. A model shared by sessions on several threads
** shares the runtime: everything below is written only while the runtime is
** created and destroyed, except the bound-copy table (under `lock`), the
** device generation (atomic), and each device's handle (under the device's
** lock). Lock order: `lock` before a device's lock, never the reverse.
*/
struct slm_runtime {
    slm__config_t config;         /* parsed slm.ini (empty when none) */
    char *config_path;            /* owned, NULL when none */

    slm_log_fn log;
    void *log_user;
    int log_level;
    uint32_t n_threads;           /* 0: each device's default */
    bool fallback;                /* run a graph again without a device
                                     that failed it (config `fallback`) */

    slm__plugin_t **plugins;      /* in discovery order */
    uint32_t n_plugins;
    slm__device_t **devices;      /* in rank order, disabled ones last */
    uint32_t n_devices;
    uint32_t n_enabled;           /* devices[0 .. n_enabled-1] are usable */

    pthread_mutex_t lock;         /* guards copies and model session counts */
    slm__bound_copy_t *copies;    /* bound_copy.c: uploads shared by graphs */
    uint32_t n_copies, cap_copies;
    atomic_uint devices_gen;      /* bumped when a device is lost: plans
                                     made before are made again */
};

/* plugin_loader.c: find candidates (opts, config, env, libslm folder, install
** folder), load, check and probe each, appending to rt->plugins. Refusals
** are recorded, not returned; only out-of-memory, a bad opts.plugin_paths
** (SLM_ERR_INVALID_ARG) and a [backend.NAME] key the loaded plugin does not
** declare (SLM_ERR_CONFIG) fail. */
slm_status_t slm__plugins_load(slm_runtime_t *rt, const slm_runtime_opts_t *opts);

/* plugin_manifest.c: one backend manifest (see the top of that file). */
typedef struct slm__manifest {
    char *file;                   /* the manifest's path */
    char *library;                /* resolved against the manifest's folder */
    char *name;                   /* NULL when not given */
    char *arch;                   /* NULL when not given */
    uint32_t abi_major, abi_minor;
    char *refusal;                /* not NULL: unusable, and why; refuse it
                                     without dlopen */
    slm_status_t refusal_status;  /* SLM_ERR_ABI for a foreign arch or ABI,
                                     SLM_ERR_PLUGIN for a bad manifest */
} slm__manifest_t;

/* Read the manifests, in this order: the folders of
** $SLM_BACKEND_MANIFESTS_ADD; then the folders of $SLM_BACKEND_MANIFESTS when
** set, else $XDG_CONFIG_HOME/slm/backends.d (~/.config), each of
** $XDG_CONFIG_DIRS (/etc/xdg) + /slm/backends.d, /etc/slm/backends.d,
** $XDG_DATA_HOME/slm/backends.d (~/.local/share), each of $XDG_DATA_DIRS
** (/usr/local/share:/usr/share) + /slm/backends.d. All read with
** secure_getenv. Each folder's *.ini files in name order; a name seen in an
** earlier folder is skipped. Caller frees *out with slm__manifests_free.
** Errors: SLM_ERR_NO_MEMORY only; a bad manifest is returned with refusal. */
slm_status_t slm__manifests_find(const slm_runtime_t *rt,
                                 slm__manifest_t **out, uint32_t *n_out);
void slm__manifests_free(slm__manifest_t *v, uint32_t n);

/* plugin_scan.c: the outcome of running a plugin's slm_plugin_init and
** probe in a child process (or of an earlier run, from the cache). */
typedef struct slm__scan {
    bool refused;                 /* crashed, hung, exited, wrote to stdout */
    bool cached;                  /* answered from the cache, no child run */
    bool hung;                    /* refused for missing the deadline */
    char reason[256];             /* why refused; "" otherwise */
} slm__scan_t;

/* Probe the plugin file `path` (a real path) in a forked child with a
** deadline, unless the cache under $XDG_CACHE_HOME/slm/ holds the outcome for
** this path, size and mtime; store a fresh outcome there. Never fails: when
** no child can be run, *out says not refused and a warning is logged. */
void slm__plugin_scan(const slm_runtime_t *rt, const char *path, slm__scan_t *out);

/* Unload every plugin (devices must be closed). */
void slm__plugins_unload(slm_runtime_t *rt);

/* registry.c: build rt->devices from the loaded plugins and rank them:
** forced order (opts->backends, else SLM_BACKEND, else config `backends`),
** config `deny`, then score. */
slm_status_t slm__devices_rank(slm_runtime_t *rt, const slm_runtime_opts_t *opts);

/* bound_copy.c: a buffer on device `dev` (index into rt->devices) holding
** `size` bytes copied from `host`, shared with every other graph asking for
** the same range and kind: allocated and written on the first request,
** counted after. `state`: a resident STATE copy (see bound_copy.c), else a
** weight upload. *base is its host address or NULL. Release each acquire
** once; releasing the last reference of a state copy the device wrote
** brings its host memory up to date first (and may fail doing so). */
slm_status_t slm__bound_copy_acquire(slm_runtime_t *rt, uint32_t dev,
                                     const void *host, size_t size, bool state,
                                     void **buffer, uint8_t **base);
slm_status_t slm__bound_copy_release(slm_runtime_t *rt, uint32_t dev, void *buffer);
/* Before a run that reads a state copy: write it from the host memory when
** the host side is newer, or when `rebound` (the application bound the
** memory again). */
slm_status_t slm__bound_copy_refresh(slm_runtime_t *rt, uint32_t dev, void *buffer,
                                     bool rebound);
/* After a run that wrote a state copy: the device side is newer. */
void slm__bound_copy_written(slm_runtime_t *rt, uint32_t dev, void *buffer);
/* Before the host memory [host, size) is used directly: read back every
** state copy of it that a device wrote. */
slm_status_t slm__bound_copy_flush(slm_runtime_t *rt, const void *host, size_t size);
/* After the host memory [host, size) was written directly: its state copies
** are stale. */
void slm__bound_copy_host_changed(slm_runtime_t *rt, const void *host, size_t size);
/* Free every entry (graphs left undestroyed); at runtime destruction. */
void slm__bound_copy_clear(slm_runtime_t *rt);

/* The last-resort device: the enabled device flagged REFERENCE with kind CPU,
** or NULL when there is none (or it was lost). */
slm__device_t *slm__reference_device(const slm_runtime_t *rt);

#endif /* SLM_RUNTIME_INTERNAL_H */
