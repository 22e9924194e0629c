/*
** slm/slm.h -- the application API.
**
** A runtime finds and loads backend plugins, probes their devices and ranks
** them. On it an application builds compute graphs (slm/graph.h) and runs
** them; the runtime places each node on the best device that supports it,
** allocates and reuses device memory, and moves tensors between devices.
**
** ERRORS
**   Every fallible call returns an slm_status_t (SLM_OK or a negative
**   SLM_ERR_* code, see slm/graph.h). On failure, slm_last_error() returns a
**   message naming what failed and where ("slm.ini:7: key 'threds': unknown
**   key in [runtime]"). The message is per thread and valid until the next
**   failing call on that thread.
**
** OWNERSHIP
**   Whoever creates, destroys: each _create has a _destroy, which accepts
**   NULL. Strings and structs returned by the runtime are borrowed and valid
**   until the runtime (or the object named) is destroyed.
**
** THREADS
**   - A model is shared: any number of sessions of one model may run at the
**     same time, each on its own thread. slm_tokenize, slm_token_text,
**     slm_model_info, slm_model_placement and slm_model_placement_batch
**     may be called on the model from any thread meanwhile.
**   - A session is used by one thread at a time (its KV cache, logits and
**     graphs are its own and unlocked); it may move between threads when
**     the application orders the calls (a mutex, a queue, a join).
**   - A graph is used by one thread at a time, like a session. Graphs of one
**     runtime may run at the same time on several threads.
**   - Creating and destroying the runtime, opening and closing a model, and
**     reading the runtime's plugin and device lists are not synchronised
**     with anything else: open before the threads start, close after they
**     end. Sessions must be destroyed before their model is closed.
**   - What the runtime locks for this: each device, around every call into
**     its plugin (plugins see one call at a time per device, slm/backend.h),
**     so sessions on one device take turns on it while the rest of their
**     work (graph building, planning, sampling, tokenizing) runs in
**     parallel; and the table of device copies that graphs share (a model's
**     weights uploaded once for all its sessions). The last error is per
**     thread. The log callback (slm_runtime_opts_t.log) may be called from
**     any thread that uses the runtime, also at once, and while a device
**     is locked: it must be thread-safe and must not call back into slm.
**   Different runtimes are independent.
*/
#ifndef SLM_SLM_H
#define SLM_SLM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the functions libslm exports. */
#if defined(_WIN32)
#define SLM_API
#else
#define SLM_API __attribute__((visibility("default")))
#endif

#define SLM_VERSION_MAJOR 0
#define SLM_VERSION_MINOR 1
#define SLM_VERSION_PATCH 0
#define SLM_VERSION_STRING "0.1.0"

/* ------------------------------------------------------------------ errors */

/* Message of the last failing call on this thread; "" if none. Borrowed. */
SLM_API const char *slm_last_error(void);

/* Fixed text for a status ("plugin ABI mismatch"). Static string. */
SLM_API const char *slm_strerror(slm_status_t status);

/* The status's name ("SLM_ERR_ABI"). Static string. */
SLM_API const char *slm_status_name(slm_status_t status);

/* ----------------------------------------------------------------- runtime */

typedef struct slm_runtime slm_runtime_t;

/* slm_runtime_opts_t.flags */
enum {
    /* Load only opts.plugin_paths (and the config's plugin_path): skip
    ** $SLM_PLUGIN_PATH, the folder next to libslm and the install folder. */
    SLM_RUNTIME_NO_DEFAULT_PLUGINS = 1u << 0,
    /* Read no config file unless opts.config_path names one. */
    SLM_RUNTIME_NO_DEFAULT_CONFIG = 1u << 1,
    /* Run a graph that a device fails again without that device, as
    ** `fallback = on` in the config (see slm_graph_run). */
    SLM_RUNTIME_FALLBACK = 1u << 2,
    /* Load plugins straight into this process, without first probing each
    ** in a child process, as `isolate_probe = off` in the config: for
    ** platforms without fork (see README, How plugins are found). */
    SLM_RUNTIME_NO_ISOLATION = 1u << 3
};

/* Called for each log line at or above opts.log_level. */
typedef void (*slm_log_fn)(void *user, int level, const char *msg);

typedef struct slm_runtime_opts {
    uint32_t struct_size;              /* sizeof(slm_runtime_opts_t) */
    uint32_t flags;                    /* SLM_RUNTIME_* */
    const char *config_path;           /* slm.ini to read; NULL: search */
    const char *const *plugin_paths;   /* plugin files or folders, tried first */
    uint32_t n_plugin_paths;
    const char *backends;              /* "vulkan,cpu": forced order, as
                                          SLM_BACKEND; NULL: config or env */
    uint32_t n_threads;                /* CPU threads; 0: config or default */
    int log_level;                     /* SLM_LOG_*; messages above dropped */
    slm_log_fn log;                    /* NULL: errors and warnings to stderr */
    void *log_user;
} slm_runtime_opts_t;

#define SLM_RUNTIME_OPTS_INIT \
    { sizeof(slm_runtime_opts_t), 0, NULL, NULL, 0, NULL, 0, SLM_LOG_WARN, NULL, NULL }

/*
** Create a runtime: read the config (opts->config_path, else $SLM_CONFIG,
** ./slm.ini, $XDG_CONFIG_HOME/slm/slm.ini, /etc/slm/slm.ini; a path given
** explicitly must exist), find and load plugins, probe and rank devices.
** A plugin that cannot be loaded is refused and listed with its reason; it is
** not an error. A bad config file is (SLM_ERR_CONFIG). `opts` may be NULL for
** defaults. Caller owns *out; release with slm_runtime_destroy.
*/
SLM_API slm_status_t slm_runtime_create(const slm_runtime_opts_t *opts,
                                slm_runtime_t **out);

/* Close every device, unload every plugin, free everything. NULL is a no-op. */
SLM_API void slm_runtime_destroy(slm_runtime_t *rt);

/* Path of the config file read, or NULL if none. Borrowed. */
SLM_API const char *slm_runtime_config_path(const slm_runtime_t *rt);

/* --------------------------------------------------------------- plugins */

typedef enum slm_plugin_state {
    SLM_PLUGIN_LOADED = 0,     /* loaded and probed (it may have 0 devices) */
    SLM_PLUGIN_REFUSED = 1,    /* not used; `reason` says why */
    SLM_PLUGIN_SKIPPED = 2     /* not selected ($SLM_PLUGIN_SELECT); never
                                  loaded; `reason` says which pattern */
} slm_plugin_state_t;

/* One plugin candidate, loaded or refused. Borrowed from the runtime. */
typedef struct slm_plugin_desc {
    const char *path;          /* file as found */
    const char *origin;        /* "explicit", "config", "SLM_PLUGIN_PATH",
                                  "manifest", "libslm folder", "install
                                  folder" */
    slm_plugin_state_t state;
    slm_status_t status;       /* SLM_OK, or why it was refused */
    const char *reason;        /* why refused or skipped; "" when loaded
                                  with devices; for a loaded plugin with no
                                  device, the last line it logged
                                  (host->log, any level) during probe, or "" */
    const char *name;          /* descriptor name, "" if none was read */
    const char *version;
    const char *description;
    uint32_t abi_major, abi_minor;
    uint32_t n_devices;
    /* Added after the fields above, which keep their places. */
    const char *manifest;      /* the manifest file that named it when origin
                                  is "manifest"; "" otherwise */
} slm_plugin_desc_t;

/* Number of plugin candidates, in the order they were found. */
SLM_API uint32_t slm_runtime_plugin_count(const slm_runtime_t *rt);

/* Candidate `index`; NULL when out of range. Borrowed. */
SLM_API const slm_plugin_desc_t *slm_runtime_plugin(const slm_runtime_t *rt,
                                            uint32_t index);

/* --------------------------------------------------------------- devices */

/* One device of a loaded plugin, in rank order. Borrowed from the runtime. */
typedef struct slm_device_desc {
    const char *id;            /* "cpu:0", "vulkan:1": plugin name and index */
    const char *plugin;        /* plugin name */
    uint32_t plugin_index;     /* into slm_runtime_plugin */
    uint32_t index;            /* device index within the plugin */
    const slm_device_info_t *info;
    double score;              /* ranking score; higher is better */
    uint32_t rank;             /* 0 = preferred */
    bool enabled;              /* false when denied by config */
    const char *why;           /* how the rank was decided: "forced by
                                  SLM_BACKEND", "score 120: cpu, native" */
} slm_device_desc_t;

/* Number of devices, enabled or not. */
SLM_API uint32_t slm_runtime_device_count(const slm_runtime_t *rt);

/* Device of rank `rank` (0 is the preferred one); NULL when out of range.
** Disabled devices come after every enabled one. Borrowed. */
SLM_API const slm_device_desc_t *slm_runtime_device(const slm_runtime_t *rt,
                                            uint32_t rank);

/* Kind name: "cpu", "gpu", "igpu", "npu", "other". Static string. */
SLM_API const char *slm_device_kind_name(slm_device_kind_t kind);

/* ---------------------------------------------------------------- graphs */

/*
** A graph under construction and, once run, its placement and memory. It
** owns its tensors and nodes. Build it with slm_graph_tensor/_view/_op, give
** inputs data, run it, read outputs; change input data and run again as often
** as needed (placement and memory are planned on the first run and kept until
** the graph changes).
*/
typedef struct slm_graph_builder slm_graph_builder_t;

/* Create an empty graph on `rt`. Caller owns *out; release with
** slm_graph_destroy (before the runtime). */
SLM_API slm_status_t slm_graph_create(slm_runtime_t *rt, slm_graph_builder_t **out);

/* Free the graph, its tensors and its device memory. NULL is a no-op. */
SLM_API void slm_graph_destroy(slm_graph_builder_t *g);

/*
** A new leaf tensor (contiguous) of `n_dims` (1..4) dimensions `ne`. `flags`
** is a combination of SLM_TENSOR_INPUT, _WEIGHT, _STATE, _OUTPUT. Give it
** data with slm_graph_set_data or slm_graph_bind_host before the first run;
** STATE tensors start zeroed. `name` may be NULL. *out is owned by g.
** Errors: SLM_ERR_INVALID_ARG for a bad dtype, shape, or a row that is not a
** whole number of blocks.
*/
SLM_API slm_status_t slm_graph_tensor(slm_graph_builder_t *g, slm_dtype_t dtype,
                              int n_dims, const int64_t *ne, uint32_t flags,
                              const char *name, slm_tensor_t **out);

/*
** A view of `src`: `n_dims` dimensions `ne` with byte strides nb[0 ..
** n_dims-1], starting `offset` bytes into src's data. Strides may permute
** dimensions (nb[0] larger than the element size makes a transposed view);
** for a quantised dtype nb[0] must be the block size, so rows stay whole
** blocks. Every element must fall inside src (SLM_ERR_INVALID_ARG
** otherwise). *out is owned by g.
*/
SLM_API slm_status_t slm_graph_view(slm_graph_builder_t *g, slm_tensor_t *src,
                            int n_dims, const int64_t *ne, const size_t *nb,
                            size_t offset, const char *name,
                            slm_tensor_t **out);

/* Parameters of an op, see the op table in slm/graph.h. */
typedef struct slm_op_params {
    int32_t i[SLM_MAX_PARAMS];
    float f[SLM_MAX_PARAMS];
} slm_op_params_t;

/*
** Append a node applying `op` to `src[0 .. n_src-1]` with params `p` (NULL:
** all zero). For COPY and SET_ROWS pass the destination in `dst`; for every
** other op pass NULL and the runtime creates the result tensor, with the
** dtype and shape the op table defines. COPY with dst NULL makes a new
** contiguous F32 tensor of src[0]'s shape (it makes a strided view dense).
** *out (may be NULL) receives the
** destination; owned by g. Errors: SLM_ERR_GRAPH naming the op, the operand
** and the mismatch ("MUL_MAT: src1 ne[0]=63 != src0 ne[0]=64").
*/
SLM_API slm_status_t slm_graph_op(slm_graph_builder_t *g, slm_op_t op,
                          slm_tensor_t *const *src, int n_src,
                          const slm_op_params_t *p, slm_tensor_t *dst,
                          slm_tensor_t **out);

/* Mark `t` as an output: its value is kept after the run for reading. */
SLM_API slm_status_t slm_graph_set_output(slm_graph_builder_t *g, slm_tensor_t *t);

/*
** Give leaf `t` its contents: `size` must equal its byte size. The bytes are
** copied before return and uploaded at the next run. INPUT tensors may be
** given new data between runs; WEIGHT tensors are uploaded once.
*/
SLM_API slm_status_t slm_graph_set_data(slm_graph_builder_t *g, slm_tensor_t *t,
                                const void *data, size_t size);

/*
** Give leaf `t` host memory of `size` bytes to use as its contents without a
** copy where the device can (mmapped weights on a CPU). The memory is
** borrowed: it must stay valid until g is destroyed. A WEIGHT or INPUT
** tensor's memory must not change while g exists (INPUT: except between
** runs). A STATE tensor's memory is the state itself: runs read and update
** it in place (a device that cannot address host memory gets it copied in
** before and back after each run), so several graphs can share one state,
** such as a KV cache used by a prompt graph and a one-token graph. A bound
** WEIGHT goes to a device that cannot use host memory once per runtime: every
** graph binding the same memory shares that upload.
*/
SLM_API slm_status_t slm_graph_bind_host(slm_graph_builder_t *g, slm_tensor_t *t,
                                 const void *data, size_t size);

/*
** Keep STATE tensor `t` (a leaf, bound with slm_graph_bind_host) on the
** device that runs it: a device that cannot address host memory gets a
** copy once, runs update that copy in place, and nothing goes back to the
** host after a run. Every graph of the runtime that binds the same memory
** (same address and size) with this mark shares the copy, so a prompt graph
** and a one-token graph share a KV cache that never leaves the GPU. Devices
** that use host memory in place are unaffected. The host memory is brought
** up to date by slm_graph_sync_state, and when the last graph using the copy
** is destroyed; to give the state new contents, write the memory and bind it
** again. Errors: SLM_ERR_INVALID_ARG when t is not a STATE leaf of g.
*/
SLM_API slm_status_t slm_graph_keep_state_on_device(slm_graph_builder_t *g,
                                                    slm_tensor_t *t);

/* Copy every device-resident state of g back into its host memory. Errors:
** a device's failure to read, with its message. */
SLM_API slm_status_t slm_graph_sync_state(slm_graph_builder_t *g);

/*
** Run the graph: on the first run (or after the graph changed) validate it,
** place each node, plan memory and upload weights; then write inputs, run
** every device's part in order with the copies between them, and wait.
** Errors: SLM_ERR_GRAPH (invalid graph), SLM_ERR_NO_DEVICE (a node no device
** supports), or a device's failure with its message; SLM_ERR_DEVICE_LOST
** when the device is gone for good: it is not used again by this runtime,
** and the next run places the graph on the other devices (STATE kept only on
** that device is lost with it).
**
** With fallback on (SLM_RUNTIME_FALLBACK or `fallback = on`), a run that a
** device fails is run again, from its first node, without that device: on
** the next device in rank order that supports each node, the reference CPU
** last. A device that failed to allocate the graph's memory stays left out
** of this graph; one that failed while running is tried again at the next
** run. STATE updates must then be repeatable (a KV cache written at given
** positions is; an accumulator is not).
*/
SLM_API slm_status_t slm_graph_run(slm_graph_builder_t *g);

/* Copy the value of `t` (an output, leaf or STATE tensor) after a run into
** `dst`: `size` must equal nelements * element size (blocks for quantised);
** the bytes come out contiguous in ne order. */
SLM_API slm_status_t slm_graph_read(slm_graph_builder_t *g, const slm_tensor_t *t,
                            void *dst, size_t size);

/* Id ("cpu:0") of the device that ran node `node_index` in the last run;
** NULL before the first run or when out of range. Borrowed. */
SLM_API const char *slm_graph_node_device(const slm_graph_builder_t *g,
                                  uint32_t node_index);

/* Number of nodes appended so far. */
SLM_API uint32_t slm_graph_node_count(const slm_graph_builder_t *g);

/* -------------------------------------------------------------- sampling */

/*
** How the next token is chosen from the logits. Applied in this order:
** repetition penalty over the last repeat_last_n tokens (a positive logit is
** divided by repeat_penalty, a negative one multiplied), then, unless
** temperature <= 0 (greedy: the highest logit, lowest id on ties), top_k,
** top_p and min_p filtering, temperature, and a draw from the seeded
** generator. The same seed and inputs give the same tokens.
*/
typedef struct slm_sampling {
    uint32_t struct_size;     /* sizeof(slm_sampling_t) */
    float temperature;        /* <= 0: greedy */
    int32_t top_k;            /* keep the k most likely; <= 0: all */
    float top_p;              /* keep the smallest set with mass >= p; >= 1: all */
    float min_p;              /* keep p >= min_p * p(best); <= 0: all */
    float repeat_penalty;     /* 1: none */
    int32_t repeat_last_n;    /* tokens the penalty looks back over */
    uint64_t seed;
} slm_sampling_t;

#define SLM_SAMPLING_INIT \
    { sizeof(slm_sampling_t), 0.8f, 40, 0.95f, 0.05f, 1.0f, 64, 0 }

/* ------------------------------------------------------------------ models */

typedef struct slm_model slm_model_t;

/* Called while a model loads with the fraction done, 0 to 1. Return false to
** cancel the load (slm_model_open then fails with SLM_ERR_CANCELLED). */
typedef bool (*slm_progress_fn)(void *user, float done);

typedef struct slm_model_opts {
    uint32_t struct_size;          /* sizeof(slm_model_opts_t) */
    slm_progress_fn progress;      /* may be NULL */
    void *progress_user;
} slm_model_opts_t;

#define SLM_MODEL_OPTS_INIT { sizeof(slm_model_opts_t), NULL, NULL }

/*
** Open a GGUF model: map the file, read its metadata and tokenizer, check
** every tensor the architecture needs (shape and type), and prepare the
** weights for the devices (used in place by CPU devices). `opts` may be NULL.
** Caller owns *out; release with slm_model_close, before the runtime.
** Errors: SLM_ERR_IO (cannot open), SLM_ERR_FORMAT (not GGUF, or a field is
** wrong: the message names file and field), SLM_ERR_UNSUPPORTED (unknown
** architecture, tokenizer or tensor type, named), SLM_ERR_CANCELLED.
*/
SLM_API slm_status_t slm_model_open(slm_runtime_t *rt, const char *path,
                                    const slm_model_opts_t *opts,
                                    slm_model_t **out);

/*
** Open a GGUF model held in memory: `size` bytes at `data`, read in place
** (the weights are used without a copy), so the memory is borrowed: it must
** stay valid and unchanged until slm_model_close. `name` stands for the file
** in messages; NULL gives "<memory>". Otherwise as slm_model_open (no
** SLM_ERR_IO).
*/
SLM_API slm_status_t slm_model_open_memory(slm_runtime_t *rt, const void *data,
                                           size_t size, const char *name,
                                           const slm_model_opts_t *opts,
                                           slm_model_t **out);

/* Unmap and free the model. Its sessions must be destroyed first. NULL is a
** no-op. */
SLM_API void slm_model_close(slm_model_t *m);

/* What a model is. Borrowed from the model. */
typedef struct slm_model_info {
    const char *path;
    const char *arch;              /* "llama" */
    const char *name;              /* general.name, "" if absent */
    uint32_t n_vocab;
    uint32_t n_ctx_train;          /* context length it was trained for */
    uint32_t n_embd, n_layer, n_head, n_head_kv, n_ff;
    uint32_t n_expert, n_expert_used;  /* 0 for dense models */
    uint64_t n_params;             /* weights in the file */
    uint64_t n_bytes;              /* bytes of tensor data */
    int32_t bos, eos;              /* special token ids, -1 if none */
    /* Fields below were appended in 0.1; the runtime owns the struct, so
    ** they are there whenever the header is. */
    uint32_t head_dim, head_dim_v; /* per attention head: keys and queries,
                                      values */
    uint64_t n_params_active;      /* weights one token uses: n_params with
                                      each expert tensor counted at
                                      n_expert_used / n_expert (= n_params for
                                      dense models) */
    uint64_t kv_bytes_per_token;   /* KV cache bytes per context position,
                                      all layers (an F32 cache) */
    uint32_t n_tensors_of[SLM_DTYPE_COUNT]; /* tensors of each element type,
                                      indexed by slm_dtype_t (GGUF type id) */
} slm_model_info_t;

SLM_API const slm_model_info_t *slm_model_info(const slm_model_t *m);

/*
** Text to token ids. `add_bos` puts the model's BOS first when the model
** wants one. At most `cap` ids are written; *n_out is the number the text
** needs, so a call with cap 0 measures. SLM_ERR_INVALID_ARG when cap is too
** small (nothing useful is in out then).
*/
SLM_API slm_status_t slm_tokenize(const slm_model_t *m, const char *text,
                                  size_t len, bool add_bos, int32_t *out,
                                  uint32_t cap, uint32_t *n_out);

/* The bytes token `id` stands for (special tokens give ""). They may be part
** of a UTF-8 character. Borrowed from the model. SLM_ERR_INVALID_ARG for an
** id out of range. */
SLM_API slm_status_t slm_token_text(const slm_model_t *m, int32_t id,
                                    const char **text, size_t *len);

/* --------------------------------------------------------------- sessions */

typedef struct slm_session slm_session_t;

typedef struct slm_session_opts {
    uint32_t struct_size;          /* sizeof(slm_session_opts_t) */
    uint32_t n_ctx;                /* context length; 0: the model's, at
                                      most 4096; capped at the model's */
    uint32_t n_batch;              /* most tokens per forward pass; 0: 64 */
} slm_session_opts_t;

#define SLM_SESSION_OPTS_INIT { sizeof(slm_session_opts_t), 0, 0 }

/* A conversation with its own KV cache. Caller owns *out; release with
** slm_session_destroy. */
SLM_API slm_status_t slm_session_create(slm_model_t *m,
                                        const slm_session_opts_t *opts,
                                        slm_session_t **out);

/* NULL is a no-op. */
SLM_API void slm_session_destroy(slm_session_t *s);

/* Context length of the session and tokens in it so far. */
SLM_API uint32_t slm_session_n_ctx(const slm_session_t *s);
SLM_API uint32_t slm_session_n_past(const slm_session_t *s);

/* Forget every token: the next eval starts at position 0. */
SLM_API void slm_session_reset(slm_session_t *s);

/*
** Append `n` tokens to the context and run the model over them (in batches
** of n_batch). Afterwards slm_session_logits gives the next-token logits.
** SLM_ERR_CONTEXT_FULL (nothing evaluated) when they do not fit; the message
** gives both numbers. SLM_ERR_INVALID_ARG for an id out of range.
*/
SLM_API slm_status_t slm_session_eval(slm_session_t *s, const int32_t *tokens,
                                      uint32_t n);

/* Logits (n_vocab floats) after the last token evaluated; NULL before any.
** Borrowed until the next eval. */
SLM_API const float *slm_session_logits(const slm_session_t *s);

/* Why generation stopped. */
typedef enum slm_stop_reason {
    SLM_STOP_EOS = 0,              /* the model produced end-of-sequence */
    SLM_STOP_MAX_TOKENS = 1,
    SLM_STOP_STRING = 2,           /* a stop string appeared */
    SLM_STOP_CALLBACK = 3,         /* on_token returned false */
    SLM_STOP_CONTEXT_FULL = 4
} slm_stop_reason_t;

/* Receives each piece of generated text as soon as it forms whole UTF-8
** characters (`len` may be 0 for a token that ends mid-character). `text`
** is borrowed for the call. `token` is the id that completed the text, or
** -1 for text held back until generation ended. Return false to stop. */
typedef bool (*slm_token_fn)(void *user, int32_t token, const char *text,
                             size_t len);

typedef struct slm_generate_opts {
    uint32_t struct_size;          /* sizeof(slm_generate_opts_t) */
    uint32_t max_tokens;           /* 0: until EOS or the context is full */
    slm_sampling_t sampling;
    const char *const *stop;       /* stop strings, not included in output */
    uint32_t n_stop;
    slm_token_fn on_token;         /* may be NULL */
    void *user;
} slm_generate_opts_t;

#define SLM_GENERATE_OPTS_INIT \
    { sizeof(slm_generate_opts_t), 0, SLM_SAMPLING_INIT, NULL, 0, NULL, NULL }

/* What a generation did and how fast. */
typedef struct slm_generate_result {
    slm_stop_reason_t stop;
    uint32_t n_prompt;             /* prompt tokens evaluated */
    uint32_t n_generated;          /* tokens sampled */
    double prompt_ms;              /* evaluating the prompt */
    double first_token_ms;         /* from the call to the first token out */
    double generate_ms;            /* from the first token to the last */
    double prompt_tps;             /* prompt tokens per second */
    double generate_tps;           /* generated tokens per second (after the
                                      first) */
} slm_generate_result_t;

/*
** Tokenize `prompt` (BOS added when the session is empty and the model
** wants it), evaluate it, then sample and evaluate tokens one at a time,
** streaming them to opts->on_token, until EOS, a stop string, max_tokens, the
** callback, or a full context. `result` may be NULL.
*/
SLM_API slm_status_t slm_generate(slm_session_t *s, const char *prompt,
                                  const slm_generate_opts_t *opts,
                                  slm_generate_result_t *result);

/* Milliseconds slm_model_open took for this model. */
SLM_API double slm_model_load_ms(const slm_model_t *m);

/* How many nodes of one op one device runs. Borrowed strings. */
typedef struct slm_placement {
    const char *device;            /* device id, "cpu:0"; valid until the
                                      runtime is destroyed */
    slm_op_t op;
    uint32_t n_nodes;
} slm_placement_t;

/*
** Where the runtime would run the model's forward pass for one token (a
** decoding step): the graph is built and each node placed exactly as
** slm_generate's graphs are placed, but nothing runs and no weight moves.
** One entry per (device, op) pair that has nodes, devices in rank order and
** ops in slm_op_t order. At most `cap` entries are written; *n_out is the
** number there are, so a call with cap 0 measures
** (slm_runtime_device_count(rt) * SLM_OP_COUNT entries always suffice).
** SLM_ERR_INVALID_ARG when cap is too small; SLM_ERR_NO_DEVICE when some
** node no device supports, as slm_graph_run. Opens a small session of its
** own for the duration of the call.
*/
SLM_API slm_status_t slm_model_placement(slm_model_t *m, slm_placement_t *out,
                                         uint32_t cap, uint32_t *n_out);

/*
** slm_model_placement for a forward pass of n_tokens tokens at once (a
** prompt batch, as slm_session_eval runs a prompt) over an empty cache:
** devices that claim a node only for larger batches (an NPU's matmuls) show
** here and not in the decoding step. slm_model_placement is this with
** n_tokens 1. SLM_ERR_INVALID_ARG when n_tokens is 0 or more than the
** model's training context (slm_model_info's n_ctx_train, when known).
*/
SLM_API slm_status_t slm_model_placement_batch(slm_model_t *m, uint32_t n_tokens,
                                               slm_placement_t *out, uint32_t cap,
                                               uint32_t *n_out);

#ifdef __cplusplus
}
#endif

#endif /* SLM_SLM_H */
