/*
** slm/backend.h -- the backend plugin ABI.
**
** A backend plugin is a shared object that exports exactly one symbol,
** SLM_PLUGIN_ENTRY_NAME ("slm_plugin_init"), of type slm_plugin_init_fn. The
** runtime dlopens the file, calls the entry once with a host table, and gets
** back a descriptor (slm_backend_t): a table of functions over the graph ABI
** of slm/graph.h. Build a plugin against slm/graph.h and this header alone.
**
** VERSIONING
**   The ABI has a major and a minor version. A major change breaks layouts and
**   is refused outright. A minor change only appends: new fields at the end of
**   a struct, new slots at the end of slm_backend_t, new op and dtype values.
**   Every struct that can grow starts with `struct_size`, set by whoever fills
**   it, so the reader knows which trailing fields exist.
**
**   Negotiation: the host passes its version in slm_host_t; the plugin answers
**   with a descriptor whose abi_major must equal the host's and whose
**   abi_minor must not exceed the host's (serve an older host by returning the
**   descriptor of its minor, or fail with SLM_ERR_ABI). The host refuses a
**   descriptor whose struct_size is smaller than its abi_minor's layout.
**
**   Version log:
**     ABI 1.0 -- first release. Later appended status: SLM_ERR_DEVICE_LOST
**                (a host that predates it treats it as any failure).
**
** THREADING
**   - The entry and probe are called once, from one thread.
**   - Calls on one open device are serialised by the host: never two at once
**     on the same device handle. Different devices, including two devices of
**     the same plugin, may be driven from different threads at the same time.
**   - A plugin may create threads of its own (a CPU thread pool); it must join
**     them before device_close returns.
**
** RULES A PLUGIN MUST KEEP
**   1. Never call exit, abort or anything that ends the process; never write
**      to stdout. Report through status codes, host->set_error and host->log.
**   2. probe is cheap and side-effect free: no device memory allocated, no
**      instruction the CPU may lack executed (check cpuid and xgetbv, or
**      getauxval, before claiming a SIMD device), and no device is an answer,
**      not an error, when a driver or loader library is absent.
**   3. Every handle a plugin returns stays valid until the matching
**      free/close; the host frees every buffer before closing its device and
**      closes every device before unloading the plugin.
**   4. Status codes are the negative SLM_ERR_* values of slm/graph.h; set a
**      message with host->set_error before returning one, naming what failed.
**   5. A device that is gone for good (reset, unplugged, its driver failed:
**      VK_ERROR_DEVICE_LOST) answers SLM_ERR_DEVICE_LOST. The host then
**      stops using it: it calls only buffer_free and device_close on it,
**      which must still release what they hold, and runs graphs elsewhere.
**      Any other failure of a call is taken for that call alone.
*/
#ifndef SLM_BACKEND_H
#define SLM_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "graph.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SLM_BACKEND_ABI_MAJOR 1
#define SLM_BACKEND_ABI_MINOR 0

#define SLM_PLUGIN_ENTRY_NAME "slm_plugin_init"

/* Most devices one plugin may report. */
#define SLM_MAX_DEVICES_PER_PLUGIN 16

/* ------------------------------------------------------------- host side */

enum slm_log_level {
    SLM_LOG_ERROR = 0,
    SLM_LOG_WARN = 1,
    SLM_LOG_INFO = 2,
    SLM_LOG_DEBUG = 3
};

/*
** What the host offers the plugin. Owned by the host and valid until the
** plugin is unloaded; the plugin may keep the pointer. Every function is
** thread-safe and takes `host->ctx` as its first argument.
*/
typedef struct slm_host {
    uint32_t abi_major;      /* SLM_BACKEND_ABI_MAJOR of the host */
    uint32_t abi_minor;      /* SLM_BACKEND_ABI_MINOR of the host */
    uint32_t struct_size;    /* sizeof(slm_host_t) as the host knows it */
    void *ctx;               /* host's context for the calls below */

    /* Log a line (no trailing newline needed). `msg` is copied. */
    void (*log)(void *ctx, int level, const char *msg);

    /* Set the message that goes with the error status about to be returned
    ** from the current call on this thread. `msg` is copied. Say what failed
    ** and with which value: "vkAllocateMemory(268435456 bytes): out of
    ** device memory". */
    void (*set_error)(void *ctx, const char *msg);

    /* The value of `key` in this plugin's [backend.NAME] config section, or
    ** NULL when not set. The string is owned by the host and valid until the
    ** plugin is unloaded. Only keys the descriptor declares in config_keys
    ** ever reach a plugin: the host rejects others when it reads the file. */
    const char *(*config_get)(void *ctx, const char *key);
    /* fields above: ABI 1.0 */
} slm_host_t;

/* ---------------------------------------------------------------- devices */

typedef enum slm_device_kind {
    SLM_DEVICE_CPU = 0,
    SLM_DEVICE_GPU = 1,     /* discrete GPU */
    SLM_DEVICE_IGPU = 2,    /* integrated GPU, shares host memory */
    SLM_DEVICE_NPU = 3,
    SLM_DEVICE_OTHER = 4
} slm_device_kind_t;

/* slm_device_info_t.flags */
enum {
    /* A software implementation of another kind of device (lavapipe, PoCL on
    ** a CPU). Never outranks a native CPU device unless forced. */
    SLM_DEVICE_FLAG_EMULATED = 1u << 0,
    /* Buffers are host-addressable: buffer_alloc returns a host base. */
    SLM_DEVICE_FLAG_HOST_MEMORY = 1u << 1,
    /* The reference implementation of the ops: correct, not fast. Ranked
    ** below every other device of its kind and used as the last fallback. */
    SLM_DEVICE_FLAG_REFERENCE = 1u << 2,
    /* Performance hints were measured on this machine, not declared. */
    SLM_DEVICE_FLAG_HINTS_MEASURED = 1u << 3
};

/*
** What a device is and can do. The host allocates it, zeroes it, sets
** struct_size, and probe fills it in. Strings are NUL-terminated and
** truncated to fit; an unknown number is 0.
*/
typedef struct slm_device_info {
    uint32_t struct_size;      /* set by the host */
    slm_device_kind_t kind;
    uint32_t flags;            /* SLM_DEVICE_FLAG_* */
    char name[128];            /* "AMD EPYC 9R14 (scalar reference)" */
    char vendor[64];           /* "AuthenticAMD", "NVIDIA", "Mesa" */
    char driver[64];           /* driver or runtime version, "" if none */
    uint64_t memory_total;     /* bytes usable for buffers */
    uint64_t memory_free;      /* bytes free now, 0 if unknown */
    uint64_t dtypes;           /* SLM_DTYPE_BIT of each dtype some op takes */
    uint64_t ops;              /* SLM_OP_BIT of each op supported for some
                                  shapes; supports_node decides per node */
    char features[256];        /* space-separated: "avx2 fma f16c",
                                  "fp16 subgroup=32 cu=48" */
    double peak_gflops;        /* F32 compute, hint */
    double memory_gbps;        /* memory read bandwidth, hint */
    uint32_t max_threads;      /* CPU devices: usable hardware threads */
    /* fields above: ABI 1.0 */
} slm_device_info_t;

/* Options for device_open. The host zeroes it and sets struct_size. */
typedef struct slm_device_open_opts {
    uint32_t struct_size;
    uint32_t n_threads;        /* CPU devices: worker threads; 0 = default */
    /* fields above: ABI 1.0 */
} slm_device_open_opts_t;

/* What a buffer will hold (buffer_alloc). A plugin may keep WEIGHTS in a
** private layout, but buffer_read must always return the GGUF bytes. */
typedef enum slm_buffer_usage {
    SLM_BUFFER_ACTIVATIONS = 0, /* intermediate results of one graph run */
    SLM_BUFFER_WEIGHTS = 1,     /* written once, read by many runs */
    SLM_BUFFER_STATE = 2,       /* persists across runs (KV cache) */
    SLM_BUFFER_IO = 3           /* inputs and outputs the host writes/reads */
} slm_buffer_usage_t;

/* A per-plugin configuration key, declared so that the host can reject
** misspelt keys when it reads slm.ini. */
typedef struct slm_config_key {
    const char *name;          /* "device_index" */
    const char *help;          /* one line: "which GPU to use (default 0)" */
} slm_config_key_t;

/* ------------------------------------------------------------ descriptor */

/*
** The plugin's table. Static storage in the plugin, valid until unload. The
** host never writes to it. Slots marked (optional) may be NULL; the host then
** uses the default given.
**
** `void *device` is whatever device_open returned; `void *buffer` whatever
** buffer_alloc or buffer_from_host_ptr returned.
*/
typedef struct slm_backend {
    uint32_t abi_major;        /* SLM_BACKEND_ABI_MAJOR the plugin was built for */
    uint32_t abi_minor;        /* negotiated minor (<= host's) */
    uint32_t struct_size;      /* sizeof(slm_backend_t) of that minor */

    const char *name;          /* short unique id: [a-z0-9_-]{1,31}, "cpu",
                                  "vulkan"; used in config and SLM_BACKEND */
    const char *version;       /* plugin version, "1.2.0" */
    const char *description;   /* one line for slm-probe */

    const slm_config_key_t *config_keys;   /* may be NULL */
    uint32_t n_config_keys;

    /* Enumerate devices: fill infos[0 .. *n_out - 1], at most `capacity`
    ** (which is SLM_MAX_DEVICES_PER_PLUGIN). Each infos[i] comes zeroed with
    ** struct_size set. *n_out = 0 with SLM_OK means "nothing here". A
    ** failure status makes the host refuse the plugin with its message.
    ** A plugin that finds nothing says why with host->log during probe (one
    ** line, e.g. "libfoo.so: cannot open shared object file"): slm-probe
    ** shows that line, the last one logged, as the plugin's reason. */
    slm_status_t (*probe)(slm_device_info_t *infos, uint32_t capacity,
                          uint32_t *n_out);

    /* Open device `index` (from probe). *out_device is the plugin's handle,
    ** owned by the plugin until device_close. */
    slm_status_t (*device_open)(uint32_t index,
                                const slm_device_open_opts_t *opts,
                                void **out_device);
    /* Release everything the device holds. The host has freed its buffers. */
    void (*device_close)(void *device);

    /* Allocate `size` bytes (size > 0). *out_buffer is the plugin's handle;
    ** *out_base is the host address of byte 0 when the device has
    ** SLM_DEVICE_FLAG_HOST_MEMORY, else NULL. The contents are undefined. */
    slm_status_t (*buffer_alloc)(void *device, size_t size,
                                 slm_buffer_usage_t usage,
                                 void **out_buffer, void **out_base);
    /* Free a buffer. NULL is a no-op. */
    void (*buffer_free)(void *device, void *buffer);
    /* Copy `size` host bytes into the buffer at `offset`. The host checks
    ** offset + size against the buffer's size before calling. */
    slm_status_t (*buffer_write)(void *device, void *buffer, size_t offset,
                                 const void *src, size_t size);
    /* Copy `size` bytes from the buffer at `offset` to host memory. */
    slm_status_t (*buffer_read)(void *device, void *buffer, size_t offset,
                                void *dst, size_t size);

    /* Can this device run this node, with these dtypes, shapes and strides?
    ** Must be a pure function of the node's fields (never of data), cheap,
    ** and must not fail: answer false when in doubt. The node's tensors have
    ** no buffer yet (buffer and data are NULL). */
    bool (*supports_node)(void *device, const slm_node_t *node);

    /* Run the nodes in order. Every tensor lives in a buffer of this device.
    ** May return before the work finishes if synchronize is offered; the
    ** host calls synchronize before it reads results or reuses buffers. */
    slm_status_t (*graph_compute)(void *device, const slm_graph_t *graph);

    /* (optional) Wait until all submitted work is done.
    ** Default: graph_compute is synchronous. */
    slm_status_t (*synchronize)(void *device);

    /* (optional) Wrap `size` bytes of host memory at `ptr` as a buffer,
    ** without copying; the memory stays owned by the host and outlives the
    ** buffer. Lets CPU and unified-memory devices use mmapped weights in
    ** place. Default: the host allocates a buffer and writes the bytes. */
    slm_status_t (*buffer_from_host_ptr)(void *device, void *ptr, size_t size,
                                         void **out_buffer);

    /* (optional) Prepare a graph once and run it many times while its shapes
    ** and buffers stay the same (command buffers, kernel arguments, an NPU's
    ** compiled graph). The graph's tensors keep their buffers and offsets
    ** between runs; only buffer contents change. Default: the host calls
    ** graph_compute each time. All three are offered together or not at all. */
    slm_status_t (*graph_plan_create)(void *device, const slm_graph_t *graph,
                                      void **out_plan);
    slm_status_t (*graph_plan_compute)(void *device, void *plan);
    void (*graph_plan_free)(void *device, void *plan);

    /* (optional) Estimated seconds to run the node on this device, for the
    ** scheduler to choose between devices that both support it. Must not
    ** fail; return a negative value for "no estimate". Default: no estimate,
    ** the device rank decides. */
    double (*node_cost)(void *device, const slm_node_t *node);
    /* slots above: ABI 1.0 */
} slm_backend_t;

/* Size of the descriptor of ABI 1.0: the smallest the host accepts. */
#define SLM_BACKEND_SIZE_1_0 (offsetof(slm_backend_t, node_cost) + sizeof(void (*)(void)))

/* The frozen layout of ABI 1.0. */
SLM__STATIC_ASSERT(offsetof(slm_backend_t, abi_major) == 0, "abi_major first");
SLM__STATIC_ASSERT(offsetof(slm_backend_t, abi_minor) == 4, "abi_minor second");
SLM__STATIC_ASSERT(offsetof(slm_backend_t, struct_size) == 8, "struct_size third");
SLM__STATIC_ASSERT(offsetof(slm_host_t, struct_size) == 8, "host struct_size");
SLM__STATIC_ASSERT(offsetof(slm_device_info_t, struct_size) == 0, "info struct_size");

/*
** The one exported symbol. Called once after dlopen with the host table
** (valid until unload). On success set *out to the plugin's descriptor and
** return SLM_OK. Return SLM_ERR_ABI (after host->set_error) when the host's
** major differs from the plugin's or its minor is too old for the plugin.
** Export it with SLM_PLUGIN_EXPORT:
**
**   SLM_PLUGIN_EXPORT slm_status_t slm_plugin_init(const slm_host_t *host,
**                                                  const slm_backend_t **out)
*/
typedef slm_status_t (*slm_plugin_init_fn)(const slm_host_t *host,
                                           const slm_backend_t **out);

/*
** The check a plugin's slm_plugin_init starts with: SLM_OK when `host` and
** `out` are given and the host speaks this header's ABI major. Otherwise
** SLM_ERR_INVALID_ARG, or SLM_ERR_ABI after host->set_error with both
** versions ("vulkan backend: host ABI 2.0, plugin built for ABI 1.0").
** `name` is the plugin's descriptor name.
*/
static inline slm_status_t slm_plugin_check_host(const slm_host_t *host,
                                                 const slm_backend_t **out,
                                                 const char *name)
{
    if (!host || !out)
        return SLM_ERR_INVALID_ARG;
    if (host->abi_major == SLM_BACKEND_ABI_MAJOR)
        return SLM_OK;
    if (host->set_error) {
        char msg[160];
        snprintf(msg, sizeof msg, "%s backend: host ABI %u.%u, plugin built for ABI %u.%u",
                 name, (unsigned)host->abi_major, (unsigned)host->abi_minor,
                 (unsigned)SLM_BACKEND_ABI_MAJOR, (unsigned)SLM_BACKEND_ABI_MINOR);
        host->set_error(host->ctx, msg);
    }
    return SLM_ERR_ABI;
}

#if defined(_WIN32)
#define SLM_PLUGIN_EXPORT __declspec(dllexport)
#else
#define SLM_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
}
#endif

#endif /* SLM_BACKEND_H */
