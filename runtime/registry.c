/*
** registry.c -- the runtime object: creation from options and config, the
** plugin and device listings, and the ranking of devices.
**
** Ranking, in order of precedence:
**   1. devices denied by the config's `deny` are disabled and listed last;
**   2. forced devices come first, in the order given by opts.backends, else
**      $SLM_BACKEND, else the config's `backends`;
**   3. the rest by score: kind first (a native GPU over a CPU), with software
**      emulations below every native CPU and reference implementations last,
**      then a small bonus from the device's memory bandwidth hint;
**   4. equal scores keep discovery order (plugin order, then device index).
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime_internal.h"

/* ------------------------------------------------------------- listings */

const char *slm_runtime_config_path(const slm_runtime_t *rt)
{
    return rt ? rt->config_path : NULL;
}

uint32_t slm_runtime_plugin_count(const slm_runtime_t *rt)
{
    return rt ? rt->n_plugins : 0;
}

const slm_plugin_desc_t *slm_runtime_plugin(const slm_runtime_t *rt,
                                            uint32_t index)
{
    if (!rt || index >= rt->n_plugins)
        return NULL;
    return &rt->plugins[index]->desc;
}

uint32_t slm_runtime_device_count(const slm_runtime_t *rt)
{
    return rt ? rt->n_devices : 0;
}

const slm_device_desc_t *slm_runtime_device(const slm_runtime_t *rt,
                                            uint32_t rank)
{
    if (!rt || rank >= rt->n_devices)
        return NULL;
    return &rt->devices[rank]->desc;
}

const char *slm_device_kind_name(slm_device_kind_t kind)
{
    switch (kind) {
    case SLM_DEVICE_CPU: return "cpu";
    case SLM_DEVICE_GPU: return "gpu";
    case SLM_DEVICE_IGPU: return "igpu";
    case SLM_DEVICE_NPU: return "npu";
    default: return "other"; /* ranked as OTHER too */
    }
}

slm__device_t *slm__reference_device(const slm_runtime_t *rt)
{
    for (uint32_t i = 0; i < rt->n_enabled; i++) {
        slm__device_t *d = rt->devices[i];
        if ((d->desc.info->flags & SLM_DEVICE_FLAG_REFERENCE) &&
            d->desc.info->kind == SLM_DEVICE_CPU && !slm__device_lost(d))
            return d;
    }
    return NULL;
}

/* -------------------------------------------------------------- ranking */

typedef struct rank_entry {
    slm__device_t *d;
    uint32_t pos;                 /* discovery order */
    uint32_t forced;              /* 1 + position in the forced order; 0 */
} rank_entry_t;

static double score_device(const slm_device_info_t *info, char *why, size_t n)
{
    const char *kind = slm_device_kind_name(info->kind);
    double base;
    char what[96];
    if (info->flags & SLM_DEVICE_FLAG_REFERENCE) {
        base = 10.0;
        snprintf(what, sizeof what, "reference implementation, last fallback");
    } else if (info->flags & SLM_DEVICE_FLAG_EMULATED) {
        base = 60.0;
        snprintf(what, sizeof what, "emulated %s, ranked below native CPUs", kind);
    } else {
        switch (info->kind) {
        case SLM_DEVICE_GPU: base = 400.0; break;
        case SLM_DEVICE_IGPU: base = 300.0; break;
        case SLM_DEVICE_NPU: base = 200.0; break;
        case SLM_DEVICE_CPU: base = 100.0; break;
        default: base = 50.0; break;
        }
        snprintf(what, sizeof what, "native %s", kind);
    }
    /* The bonus stays below the 10 points between classes, so a hint can
    ** order devices of one class (AVX-512 over AVX2 on one CPU) but never
    ** lift one above another. */
    double bonus = 0.0;
    if (isfinite(info->memory_gbps) && info->memory_gbps > 0.0)
        bonus += fmin(info->memory_gbps / 100.0, 4.5);
    if (isfinite(info->peak_gflops) && info->peak_gflops > 0.0)
        bonus += fmin(info->peak_gflops / 1000.0, 4.5);
    if (bonus > 0.0)
        snprintf(why, n, "score %.2f: %s, +%.2f from its performance hints", base + bonus,
                 what, bonus);
    else
        snprintf(why, n, "score %.1f: %s", base, what);
    return base + bonus;
}

static bool selector_matches(const char *name, int index, const slm__device_t *d)
{
    return strcmp(name, d->plugin->desc.name) == 0 &&
           (index < 0 || (uint32_t)index == d->index);
}

/* "cpu (1 device), vulkan (2 devices)" for messages about a forced entry. */
static void describe_loaded(const slm_runtime_t *rt, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (uint32_t i = 0; i < rt->n_plugins && used < n; i++) {
        const slm_plugin_desc_t *p = &rt->plugins[i]->desc;
        if (p->state != SLM_PLUGIN_LOADED)
            continue;
        int w = snprintf(buf + used, n - used, "%s%s (%u device%s)",
                         used ? ", " : "", p->name, p->n_devices,
                         p->n_devices == 1 ? "" : "s");
        if (w < 0)
            break;
        used += (size_t)w;
    }
    if (!buf[0])
        snprintf(buf, n, "none");
}

/* The config file's name for `why`, which has room for a name, not a path. */
static const char *config_name(const slm__config_t *c)
{
    if (!c->path)
        return "config";
    const char *slash = strrchr(c->path, '/');
    return slash ? slash + 1 : c->path;
}

static void apply_deny(slm_runtime_t *rt, rank_entry_t *e, uint32_t n)
{
    const slm__config_t *c = &rt->config;
    for (uint32_t k = 0; k < c->n_deny; k++) {
        char name[32];
        int index;
        if (!slm__config_parse_selector(c->deny[k], name, &index))
            continue; /* config.c rejected it already */
        uint32_t hits = 0;
        for (uint32_t i = 0; i < n; i++) {
            slm__device_t *d = e[i].d;
            if (!selector_matches(name, index, d))
                continue;
            hits++;
            if (d->desc.enabled) {
                d->desc.enabled = false;
                snprintf(d->why, sizeof d->why, "denied by %s deny (entry %u)",
                         config_name(c), k + 1);
            }
        }
        if (!hits)
            slm__log(rt, SLM_LOG_INFO, "%s: deny entry '%s' matches no device",
                     c->path ? c->path : "config", c->deny[k]);
    }
}

/*
** Mark forced devices. `strict`: the entries come from the caller or the
** environment, where a name that matches nothing is a mistake to report;
** the config's list is a preference that may name absent hardware.
*/
static slm_status_t apply_forced(slm_runtime_t *rt, rank_entry_t *e, uint32_t n,
                                 char **items, uint32_t n_items,
                                 const char *source, bool strict)
{
    uint32_t next = 1;
    for (uint32_t k = 0; k < n_items; k++) {
        char name[32];
        int index;
        if (!slm__config_parse_selector(items[k], name, &index)) {
            if (!strict)
                continue;
            return slm__error(strcmp(source, "opts.backends") == 0
                                  ? SLM_ERR_INVALID_ARG : SLM_ERR_CONFIG,
                              "%s entry %u '%s' is not a backend name or "
                              "name:index (a name is 1 to 31 of a-z 0-9 _ -)",
                              source, k + 1, items[k]);
        }
        uint32_t hits = 0, usable = 0;
        for (uint32_t i = 0; i < n; i++) {
            if (!selector_matches(name, index, e[i].d))
                continue;
            hits++;
            if (!e[i].d->desc.enabled)
                continue;
            usable++;
            if (!e[i].forced) {
                e[i].forced = next++;
                snprintf(e[i].d->why, sizeof e[i].d->why,
                         "forced by %.120s (entry %u)", source, k + 1);
            }
        }
        if (usable)
            continue;
        char loaded[512];
        describe_loaded(rt, loaded, sizeof loaded);
        const char *problem = hits ? "matches only devices denied by the config"
                                   : "matches no device";
        if (strict)
            return slm__error(SLM_ERR_NO_DEVICE,
                              "%s entry '%s' %s; loaded plugins: %s",
                              source, items[k], problem, loaded);
        slm__log(rt, SLM_LOG_INFO, "%s entry '%s' %s; loaded plugins: %s",
                 source, items[k], problem, loaded);
    }
    return SLM_OK;
}

static int cmp_rank(const void *a, const void *b)
{
    const rank_entry_t *x = a, *y = b;
    if (x->d->desc.enabled != y->d->desc.enabled)
        return x->d->desc.enabled ? -1 : 1;
    if ((x->forced != 0) != (y->forced != 0))
        return x->forced ? -1 : 1;
    if (x->forced && x->forced != y->forced)
        return x->forced < y->forced ? -1 : 1;
    if (x->d->desc.score != y->d->desc.score)
        return x->d->desc.score > y->d->desc.score ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Which forced list applies: the first of opts.backends, $SLM_BACKEND and
** the config's `backends` that names anything. */
static slm_status_t forced_list(const slm_runtime_t *rt,
                                const slm_runtime_opts_t *opts, char ***items,
                                uint32_t *n_items, const char **source,
                                bool *strict, char *label, size_t label_size)
{
    *items = NULL;
    *n_items = 0;
    const char *strings[2] = { opts->backends, getenv("SLM_BACKEND") };
    const char *sources[2] = { "opts.backends", "SLM_BACKEND" };
    for (int s = 0; s < 2; s++) {
        if (!strings[s])
            continue;
        slm_status_t st = slm__config_split(strings[s], ',', items, n_items);
        if (st == SLM_ERR_CONFIG)
            return slm__error(s == 0 ? SLM_ERR_INVALID_ARG : SLM_ERR_CONFIG,
                              "%s '%s': empty entry in the list", sources[s],
                              strings[s]);
        if (st != SLM_OK)
            return st;
        if (*n_items) {
            *source = sources[s];
            *strict = true;
            return SLM_OK;
        }
        slm__config_list_free(*items, *n_items);
        *items = NULL;
    }
    snprintf(label, label_size, "%s backends", config_name(&rt->config));
    *source = label;
    *strict = false;
    if (rt->config.n_backends == 0)
        return SLM_OK;
    /* Copy so that every source is freed the same way. */
    char **v = calloc(rt->config.n_backends, sizeof *v);
    if (!v)
        return slm__error(SLM_ERR_NO_MEMORY, "out of memory while ranking devices");
    for (uint32_t i = 0; i < rt->config.n_backends; i++) {
        v[i] = strdup(rt->config.backends[i]);
        if (!v[i]) {
            slm__config_list_free(v, i);
            return slm__error(SLM_ERR_NO_MEMORY, "out of memory while ranking devices");
        }
    }
    *items = v;
    *n_items = rt->config.n_backends;
    return SLM_OK;
}

slm_status_t slm__devices_rank(slm_runtime_t *rt, const slm_runtime_opts_t *opts)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < rt->n_plugins; i++)
        if (rt->plugins[i]->desc.state == SLM_PLUGIN_LOADED)
            n += rt->plugins[i]->n_devices;
    if (n == 0)
        slm__log(rt, SLM_LOG_INFO, "no device found by any plugin");

    /* Even with no device the forced list is checked: SLM_BACKEND=vulkan on
    ** a machine without Vulkan must say so. */
    slm_status_t st = SLM_OK;
    rank_entry_t *e = calloc(n ? n : 1, sizeof *e);
    slm__device_t **devices = calloc(n ? n : 1, sizeof *devices);
    char **items = NULL;
    uint32_t n_items = 0, made = 0;
    if (!e || !devices) {
        st = slm__error(SLM_ERR_NO_MEMORY, "out of memory while ranking devices");
        goto done;
    }

    for (uint32_t pi = 0; pi < rt->n_plugins; pi++) {
        slm__plugin_t *p = rt->plugins[pi];
        if (p->desc.state != SLM_PLUGIN_LOADED)
            continue;
        for (uint32_t di = 0; di < p->n_devices; di++) {
            slm__device_t *d = calloc(1, sizeof *d);
            if (d && pthread_mutex_init(&d->lock, NULL) != 0) {
                free(d);
                d = NULL;
            }
            if (!d) {
                st = slm__error(SLM_ERR_NO_MEMORY,
                                "out of memory while ranking devices");
                goto done;
            }
            snprintf(d->id, sizeof d->id, "%s:%u", p->desc.name, di);
            d->plugin = p;
            d->index = di;
            d->desc.id = d->id;
            d->desc.plugin = p->desc.name;
            d->desc.plugin_index = pi;
            d->desc.index = di;
            d->desc.info = &p->infos[di];
            d->desc.enabled = true;
            d->desc.why = d->why;
            d->desc.score = score_device(&p->infos[di], d->why, sizeof d->why);
            e[made].d = d;
            e[made].pos = made;
            made++;
        }
    }

    apply_deny(rt, e, n);

    const char *source = NULL;
    bool strict = false;
    char label[256];
    st = forced_list(rt, opts, &items, &n_items, &source, &strict, label,
                     sizeof label);
    if (st == SLM_OK)
        st = apply_forced(rt, e, n, items, n_items, source, strict);
    if (st != SLM_OK)
        goto done;

    if (n == 0)
        goto done;
    qsort(e, n, sizeof *e, cmp_rank);
    rt->n_enabled = 0;
    for (uint32_t i = 0; i < n; i++) {
        devices[i] = e[i].d;
        devices[i]->desc.rank = i;
        if (devices[i]->desc.enabled)
            rt->n_enabled++;
        slm__log(rt, SLM_LOG_DEBUG, "device %u: %s (%s)%s: %s", i,
                 devices[i]->id, devices[i]->desc.info->name,
                 devices[i]->desc.enabled ? "" : " disabled", devices[i]->why);
    }
    rt->devices = devices;
    rt->n_devices = n;
    devices = NULL;
    made = 0;

done:
    for (uint32_t i = 0; i < made; i++) {
        pthread_mutex_destroy(&e[i].d->lock);
        free(e[i].d);
    }
    free(devices);
    free(e);
    slm__config_list_free(items, n_items);
    return st;
}

/* -------------------------------------------------------------- runtime */

void slm_runtime_destroy(slm_runtime_t *rt)
{
    if (!rt)
        return;
    slm__bound_copy_clear(rt);
    for (uint32_t i = 0; i < rt->n_devices; i++) {
        slm__device_close(rt->devices[i]);
        pthread_mutex_destroy(&rt->devices[i]->lock);
        free(rt->devices[i]);
    }
    free(rt->devices);
    slm__plugins_unload(rt);
    slm__config_free(&rt->config);
    free(rt->config_path);
    pthread_mutex_destroy(&rt->lock);
    free(rt);
}

#define OPTS_COVERS(size, field)                                             \
    ((size) >= offsetof(slm_runtime_opts_t, field) +                         \
                   sizeof(((slm_runtime_opts_t *)0)->field))

/* Copy the caller's options over the defaults, reading only what its
** struct_size covers: an application built against an older header passes
** a shorter struct. A longer one comes from a newer header; its extra fields
** must be unset, or the caller asks for something this libslm cannot do. */
static slm_status_t read_opts(const slm_runtime_opts_t *in,
                              slm_runtime_opts_t *opts, bool *has_log_level)
{
    const slm_runtime_opts_t defaults = SLM_RUNTIME_OPTS_INIT;
    *opts = defaults;
    *has_log_level = false;
    if (!in)
        return SLM_OK;
    size_t size = in->struct_size;
    if (!OPTS_COVERS(size, flags))
        return slm__error(SLM_ERR_INVALID_ARG,
                          "slm_runtime_create: opts.struct_size is %zu; "
                          "initialise opts with SLM_RUNTIME_OPTS_INIT", size);
    if (size > sizeof *opts) {
        const unsigned char *extra = (const unsigned char *)in + sizeof *opts;
        for (size_t i = 0; i < size - sizeof *opts; i++)
            if (extra[i])
                return slm__error(SLM_ERR_INVALID_ARG,
                                  "slm_runtime_create: opts.struct_size is %zu, "
                                  "larger than this libslm's %zu, and fields "
                                  "it does not know are set: the application "
                                  "needs a newer libslm", size, sizeof *opts);
        size = sizeof *opts;
    }
    memcpy(opts, in, size);
    opts->struct_size = sizeof *opts;
    *has_log_level = OPTS_COVERS(size, log_level);
    return SLM_OK;
}

slm_status_t slm_runtime_create(const slm_runtime_opts_t *opts_in,
                                slm_runtime_t **out)
{
    if (!out)
        return slm__error(SLM_ERR_INVALID_ARG, "slm_runtime_create: out is NULL");
    *out = NULL;

    slm_runtime_opts_t opts;
    bool has_log_level;
    slm_status_t st = read_opts(opts_in, &opts, &has_log_level);
    if (st != SLM_OK)
        return st;

    slm_runtime_t *rt = calloc(1, sizeof *rt);
    if (!rt)
        return slm__error(SLM_ERR_NO_MEMORY, "out of memory creating a runtime");
    if (pthread_mutex_init(&rt->lock, NULL) != 0) {
        free(rt);
        return slm__error(SLM_ERR_NO_MEMORY, "creating a runtime: no lock");
    }
    rt->log = opts.log;
    rt->log_user = opts.log_user;
    rt->log_level = opts.log_level;

    st = slm__config_find(opts.config_path,
                          !(opts.flags & SLM_RUNTIME_NO_DEFAULT_CONFIG),
                          &rt->config_path);
    if (st == SLM_OK && rt->config_path)
        st = slm__config_load(rt->config_path, &rt->config);
    if (st != SLM_OK)
        goto fail;
    if (!has_log_level && rt->config.has_log_level)
        rt->log_level = rt->config.log_level;
    rt->n_threads = opts.n_threads ? opts.n_threads
                  : rt->config.has_threads ? rt->config.threads : 0;
    rt->fallback = (opts.flags & SLM_RUNTIME_FALLBACK) || rt->config.fallback;
    slm__log(rt, SLM_LOG_INFO, "config: %s",
             rt->config_path ? rt->config_path : "none");

    st = slm__plugins_load(rt, &opts);
    if (st == SLM_OK)
        st = slm__devices_rank(rt, &opts);
    if (st != SLM_OK)
        goto fail;
    *out = rt;
    return SLM_OK;

fail:
    slm_runtime_destroy(rt);
    return st;
}
