/*
** slm-probe -- what slm finds on this machine: plugins (loaded or refused,
** and why), devices with their capabilities, and the order selection uses;
** with --model, what a model is, what it needs and where it would run.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <slm/slm.h>

#define MAX_PLUGIN_ARGS 64

static void usage(FILE *f)
{
    fputs(
        "usage: slm-probe [options]\n"
        "\n"
        "Lists every backend plugin slm finds, where it was found (path rule,\n"
        "environment or manifest) and whether it was loaded, refused or skipped, why,\n"
        "every device with its kind, memory, features, element types and op\n"
        "coverage, and the order in which devices are selected.\n"
        "\n"
        "options:\n"
        "  --model FILE       also describe this GGUF model: architecture, parameters\n"
        "                     (total, and active per token for mixtures of experts),\n"
        "                     tensor types, memory needed at the default context, and\n"
        "                     which device would run which ops of a decoding step and\n"
        "                     of a prompt batch\n"
        "  --batch N          tokens of that prompt batch (default 128, at most the\n"
        "                     context)\n"
        "  --json             print the same as JSON\n"
        "  --plugin PATH      load this plugin file or folder first (repeatable)\n"
        "  --only             load only --plugin paths (no SLM_PLUGIN_PATH, no\n"
        "                     manifests, no folder next to libslm, no install folder)\n"
        "  --config FILE      read this slm.ini instead of searching for one\n"
        "  --no-config        read no slm.ini\n"
        "  --backend LIST     force the device order, e.g. \"vulkan,cpu\" (as SLM_BACKEND)\n"
        "  -v, --verbose      log what the loader does to stderr\n"
        "  -h, --help         show this help\n"
        "\n"
        "environment:\n"
        "  SLM_PLUGIN_PATH    ':'-separated plugin files or folders, searched after --plugin\n"
        "  SLM_BACKEND_MANIFESTS      ':'-separated manifest folders replacing the\n"
        "                     search of backends.d folders\n"
        "  SLM_BACKEND_MANIFESTS_ADD  manifest folders searched before those\n"
        "  SLM_PLUGIN_SELECT  plugins to use or skip by name glob, e.g. \"cpu*,!vulkan\"\n"
        "  SLM_BACKEND        forced device order, e.g. \"cpu\" or \"vulkan:1,cpu\"\n"
        "  SLM_CONFIG         slm.ini to read (else ./slm.ini, $XDG_CONFIG_HOME/slm/slm.ini,\n"
        "                     /etc/slm/slm.ini)\n"
        "\n"
        "exit status: 0 when at least one device is usable (and can run the whole\n"
        "--model), 1 on error, 2 when no device is usable.\n",
        f);
}

/* ------------------------------------------------------------ formatting */

static void human_bytes(char *out, size_t n, uint64_t bytes)
{
    static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        u++;
    }
    snprintf(out, n, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

static const slm_dtype_t all_dtypes[] = {
    SLM_DTYPE_F32, SLM_DTYPE_F16, SLM_DTYPE_BF16, SLM_DTYPE_I32,
    SLM_DTYPE_Q4_0, SLM_DTYPE_Q8_0, SLM_DTYPE_Q4_K, SLM_DTYPE_Q6_K,
};
#define N_DTYPES (sizeof all_dtypes / sizeof all_dtypes[0])

static int count_ops(uint64_t ops)
{
    int n = 0;
    for (int op = 1; op < SLM_OP_COUNT; op++)
        n += (ops & SLM_OP_BIT(op)) != 0;
    return n;
}

/* Print `label` then the words, wrapped at 78 columns under the first one. */
static void wrapped(const char *label, const char *const *words, int n)
{
    int col = printf("      %-10s ", label);
    int start = col;
    for (int i = 0; i < n; i++) {
        int len = (int)strlen(words[i]);
        if (col > start && col + 1 + len > 78) {
            printf("\n%*s", start, "");
            col = start;
        }
        col += printf("%s%s", col > start ? " " : "", words[i]);
    }
    printf("\n");
}

/* What each origin means, in the words of README "How plugins are found". */
static const char *found_by(const char *origin)
{
    static const struct { const char *origin, *text; } RULES[] = {
        { "explicit", "explicit path (--plugin)" },
        { "config", "plugin_path in the config" },
        { "SLM_PLUGIN_PATH", "SLM_PLUGIN_PATH" },
        { "libslm folder", "folder next to libslm" },
        { "install folder", "install folder" },
    };
    for (size_t i = 0; i < sizeof RULES / sizeof *RULES; i++)
        if (strcmp(origin, RULES[i].origin) == 0)
            return RULES[i].text;
    return origin;
}

static const char *state_name(slm_plugin_state_t state)
{
    switch (state) {
    case SLM_PLUGIN_LOADED:
        return "loaded";
    case SLM_PLUGIN_SKIPPED:
        return "skipped";
    default:
        return "refused";
    }
}

static void print_text(const slm_runtime_t *rt)
{
    const char *cfg = slm_runtime_config_path(rt);
    printf("slm %s, plugin ABI %d.%d\n", SLM_VERSION_STRING,
           SLM_BACKEND_ABI_MAJOR, SLM_BACKEND_ABI_MINOR);
    printf("config: %s\n\n", cfg ? cfg : "none");

    uint32_t np = slm_runtime_plugin_count(rt);
    printf("Plugins: %u found\n", np);
    if (np == 0)
        printf("  none: set SLM_PLUGIN_PATH or pass --plugin PATH\n");
    for (uint32_t i = 0; i < np; i++) {
        const slm_plugin_desc_t *p = slm_runtime_plugin(rt, i);
        if (p->state == SLM_PLUGIN_LOADED) {
            printf("  loaded   %-10s %-8s ABI %u.%u  %u device%s\n", p->name,
                   p->version, p->abi_major, p->abi_minor, p->n_devices,
                   p->n_devices == 1 ? "" : "s");
            if (p->description[0])
                printf("           %s\n", p->description);
            /* What the plugin said while finding nothing (slm/backend.h) */
            if (p->n_devices == 0 && p->reason[0])
                printf("           0 devices: %s\n", p->reason);
        } else if (p->state == SLM_PLUGIN_SKIPPED) {
            printf("  skipped  %s\n", p->name[0] ? p->name : "-");
            printf("           why: %s\n", p->reason);
        } else {
            printf("  refused  %s\n", p->name[0] ? p->name : "-");
            printf("           why: %s (%s)\n", p->reason, slm_status_name(p->status));
        }
        printf("           %s\n", p->path);
        if (p->manifest[0])
            printf("           found by manifest %s\n", p->manifest);
        else
            printf("           found by %s\n", found_by(p->origin));
    }

    uint32_t nd = slm_runtime_device_count(rt);
    printf("\nDevices: %u, in selection order\n", nd);
    for (uint32_t r = 0; r < nd; r++) {
        const slm_device_desc_t *d = slm_runtime_device(rt, r);
        const slm_device_info_t *in = d->info;
        char total[32], avail[32];
        human_bytes(total, sizeof total, in->memory_total);
        human_bytes(avail, sizeof avail, in->memory_free);
        printf("  #%u %-10s %-5s %s%s\n", d->rank, d->id,
               slm_device_kind_name(in->kind), in->name,
               d->enabled ? "" : "  (disabled)");
        printf("      %-10s %s\n", "vendor", in->vendor[0] ? in->vendor : "-");
        if (in->driver[0])
            printf("      %-10s %s\n", "driver", in->driver);
        printf("      %-10s %s total, %s free%s\n", "memory", total,
               in->memory_free ? avail : "?",
               (in->flags & SLM_DEVICE_FLAG_HOST_MEMORY) ? ", host-addressable" : "");
        const char *flags[4];
        int nf = 0;
        if (in->flags & SLM_DEVICE_FLAG_EMULATED) flags[nf++] = "emulated";
        if (in->flags & SLM_DEVICE_FLAG_REFERENCE) flags[nf++] = "reference";
        if (nf)
            wrapped("flags", flags, nf);
        if (in->features[0])
            printf("      %-10s %s\n", "features", in->features);
        const char *names[SLM_OP_COUNT];
        int n = 0;
        for (size_t i = 0; i < N_DTYPES; i++)
            if (in->dtypes & SLM_DTYPE_BIT(all_dtypes[i]))
                names[n++] = slm_dtype_name(all_dtypes[i]);
        wrapped("dtypes", names, n);
        n = 0;
        for (int op = 1; op < SLM_OP_COUNT; op++)
            if (in->ops & SLM_OP_BIT(op))
                names[n++] = slm_op_name((slm_op_t)op);
        char label[32];
        snprintf(label, sizeof label, "ops %d/%d", count_ops(in->ops), SLM_OP_COUNT - 1);
        wrapped(label, names, n);
        if (in->peak_gflops > 0 || in->memory_gbps > 0) {
            char gf[32] = "", bw[32] = "";
            if (in->peak_gflops > 0)
                snprintf(gf, sizeof gf, "%.0f GFLOP/s", in->peak_gflops);
            if (in->memory_gbps > 0)
                snprintf(bw, sizeof bw, "%.1f GB/s", in->memory_gbps);
            printf("      %-10s %s%s%s (%s)\n", "hints", gf, gf[0] && bw[0] ? ", " : "", bw,
                   (in->flags & SLM_DEVICE_FLAG_HINTS_MEASURED) ? "measured" : "declared");
        }
        if (in->kind == SLM_DEVICE_CPU && in->max_threads)
            printf("      %-10s %u\n", "threads", in->max_threads);
        printf("      %-10s %.1f  %s\n", "rank", d->score, d->why);
    }

    printf("\nSelection: ");
    const slm_device_desc_t *first = nd ? slm_runtime_device(rt, 0) : NULL;
    if (!first || !first->enabled) {
        printf("no usable device.\n");
        return;
    }
    printf("each node runs on the first device above that supports it");
    const slm_device_desc_t *ref = NULL;
    for (uint32_t r = 0; r < nd; r++) {
        const slm_device_desc_t *d = slm_runtime_device(rt, r);
        if (d->enabled && (d->info->flags & SLM_DEVICE_FLAG_REFERENCE) &&
            d->info->kind == SLM_DEVICE_CPU)
            ref = d;
    }
    if (ref)
        printf(";\n           %s (reference) is the last fallback.\n", ref->id);
    else
        printf(";\n           no reference CPU device: a node no device supports fails.\n");
}

/* ------------------------------------------------------------------ json */

static void json_str(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", stdout); break;
        case '\\': fputs("\\\\", stdout); break;
        case '\n': fputs("\\n", stdout); break;
        case '\t': fputs("\\t", stdout); break;
        case '\r': fputs("\\r", stdout); break;
        default:
            if (*p < 0x20)
                printf("\\u%04x", *p);
            else
                putchar(*p);
        }
    }
    putchar('"');
}

static void json_kv_str(const char *key, const char *value, int comma)
{
    printf("\"%s\": ", key);
    json_str(value);
    if (comma)
        fputs(", ", stdout);
}

static void print_json(const slm_runtime_t *rt)
{
    printf("{\n  ");
    json_kv_str("slm_version", SLM_VERSION_STRING, 1);
    printf("\n  \"plugin_abi\": \"%d.%d\",\n  \"config\": ", SLM_BACKEND_ABI_MAJOR,
           SLM_BACKEND_ABI_MINOR);
    const char *cfg = slm_runtime_config_path(rt);
    if (cfg)
        json_str(cfg);
    else
        fputs("null", stdout);
    printf(",\n  \"plugins\": [");
    uint32_t np = slm_runtime_plugin_count(rt);
    for (uint32_t i = 0; i < np; i++) {
        const slm_plugin_desc_t *p = slm_runtime_plugin(rt, i);
        printf("%s\n    {", i ? "," : "");
        json_kv_str("path", p->path, 1);
        json_kv_str("origin", p->origin, 1);
        json_kv_str("manifest", p->manifest, 1);
        json_kv_str("state", state_name(p->state), 1);
        json_kv_str("status", slm_status_name(p->status), 1);
        json_kv_str("reason", p->reason, 1);
        json_kv_str("name", p->name, 1);
        json_kv_str("version", p->version, 1);
        json_kv_str("description", p->description, 1);
        printf("\"abi\": \"%u.%u\", \"devices\": %u}", p->abi_major, p->abi_minor,
               p->n_devices);
    }
    printf("\n  ],\n  \"devices\": [");
    uint32_t nd = slm_runtime_device_count(rt);
    for (uint32_t r = 0; r < nd; r++) {
        const slm_device_desc_t *d = slm_runtime_device(rt, r);
        const slm_device_info_t *in = d->info;
        printf("%s\n    {", r ? "," : "");
        json_kv_str("id", d->id, 1);
        printf("\"rank\": %u, \"enabled\": %s, \"score\": %.2f, ", d->rank,
               d->enabled ? "true" : "false", d->score);
        json_kv_str("why", d->why, 1);
        printf("\n     ");
        json_kv_str("kind", slm_device_kind_name(in->kind), 1);
        json_kv_str("name", in->name, 1);
        json_kv_str("vendor", in->vendor, 1);
        json_kv_str("driver", in->driver, 1);
        printf("\n     \"memory_total\": %llu, \"memory_free\": %llu, ",
               (unsigned long long)in->memory_total, (unsigned long long)in->memory_free);
        printf("\"emulated\": %s, \"reference\": %s, \"host_memory\": %s,",
               (in->flags & SLM_DEVICE_FLAG_EMULATED) ? "true" : "false",
               (in->flags & SLM_DEVICE_FLAG_REFERENCE) ? "true" : "false",
               (in->flags & SLM_DEVICE_FLAG_HOST_MEMORY) ? "true" : "false");
        printf("\n     ");
        json_kv_str("features", in->features, 1);
        printf("\"peak_gflops\": %.2f, \"memory_gbps\": %.2f, \"max_threads\": %u,",
               in->peak_gflops, in->memory_gbps, in->max_threads);
        printf("\n     \"dtypes\": [");
        int n = 0;
        for (size_t i = 0; i < N_DTYPES; i++)
            if (in->dtypes & SLM_DTYPE_BIT(all_dtypes[i])) {
                printf("%s", n++ ? ", " : "");
                json_str(slm_dtype_name(all_dtypes[i]));
            }
        printf("],\n     \"ops\": [");
        n = 0;
        for (int op = 1; op < SLM_OP_COUNT; op++)
            if (in->ops & SLM_OP_BIT(op)) {
                printf("%s", n++ ? ", " : "");
                json_str(slm_op_name((slm_op_t)op));
            }
        printf("]}");
    }
    printf("\n  ]");
}

/* ----------------------------------------------------------------- model */

/* slm_session_opts_t.n_ctx 0 means the model's context, at most this. */
#define DEFAULT_CTX 4096u

#define DEFAULT_BATCH 128u

/* Nodes per (device, op) of one forward pass of n_tokens tokens. */
typedef struct placement {
    uint32_t n_tokens;
    slm_placement_t *v;
    uint32_t n;
    char error[512];               /* "" when placed */
} placement_t;

/* What --model reports, gathered once for either format. */
typedef struct model_report {
    const slm_model_info_t *info;
    uint32_t n_ctx;                /* context a default session gets */
    uint64_t kv_bytes;             /* its KV cache */
    placement_t step;              /* a one-token decoding step */
    placement_t batch;             /* a prompt batch of --batch tokens */
} model_report_t;

static void place(const slm_runtime_t *rt, slm_model_t *m, uint32_t n_tokens,
                  placement_t *p)
{
    uint32_t cap = slm_runtime_device_count(rt) * SLM_OP_COUNT;
    p->n_tokens = n_tokens;
    p->v = calloc(cap ? cap : 1, sizeof *p->v);
    if (!p->v) {
        snprintf(p->error, sizeof p->error, "out of memory");
        return;
    }
    if (slm_model_placement_batch(m, n_tokens, p->v, cap, &p->n) != SLM_OK) {
        snprintf(p->error, sizeof p->error, "%s", slm_last_error());
        p->n = 0;
    }
}

static void gather_model(const slm_runtime_t *rt, slm_model_t *m, uint32_t batch,
                         model_report_t *r)
{
    memset(r, 0, sizeof *r);
    r->info = slm_model_info(m);
    r->n_ctx = r->info->n_ctx_train && r->info->n_ctx_train < DEFAULT_CTX
                   ? r->info->n_ctx_train : DEFAULT_CTX;
    r->kv_bytes = r->info->kv_bytes_per_token * r->n_ctx;
    place(rt, m, 1, &r->step);
    place(rt, m, batch < r->n_ctx ? batch : r->n_ctx, &r->batch);
}

/* 1234567 -> "1.2 M". */
static void human_count(char *out, size_t n, uint64_t count)
{
    static const char *const units[] = { "", " K", " M", " B", " T" };
    double v = (double)count;
    int u = 0;
    while (v >= 1000.0 && u < 4) {
        v /= 1000.0;
        u++;
    }
    snprintf(out, n, u ? "%.1f%s" : "%.0f%s", v, units[u]);
}

static uint32_t placed_nodes(const placement_t *p, const char *device)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < p->n; i++)
        if (!device || !strcmp(p->v[i].device, device))
            n += p->v[i].n_nodes;
    return n;
}

/* "placement  a one-token decoding step, N nodes:" then a line per device. */
static void print_placement_text(const placement_t *p)
{
    char what[64];
    if (p->n_tokens == 1)
        snprintf(what, sizeof what, "a one-token decoding step");
    else
        snprintf(what, sizeof what, "a %u-token prompt batch", p->n_tokens);
    if (p->error[0]) {
        printf("  %-12s %s cannot be placed: %s\n", "placement", what, p->error);
        return;
    }
    printf("  %-12s %s, %u nodes:\n", "placement", what, placed_nodes(p, NULL));
    for (uint32_t i = 0; i < p->n; i++) {
        const char *dev = p->v[i].device;
        if (i && !strcmp(p->v[i - 1].device, dev))
            continue;
        char names[SLM_OP_COUNT + 1][40];
        const char *words[SLM_OP_COUNT + 1];
        snprintf(names[0], sizeof names[0], "%u nodes:", placed_nodes(p, dev));
        words[0] = names[0];
        int n = 1;
        for (uint32_t j = i; j < p->n && !strcmp(p->v[j].device, dev); j++) {
            snprintf(names[n], sizeof names[n], "%s:%u", slm_op_name(p->v[j].op),
                     p->v[j].n_nodes);
            words[n] = names[n];
            n++;
        }
        wrapped(dev, words, n);
    }
}

static void print_model_text(const model_report_t *r)
{
    const slm_model_info_t *in = r->info;
    char a[32], b[32], c[32];
    printf("\nModel: %s\n", in->path);
    printf("  %-12s %s", "architecture", in->arch);
    if (in->n_expert)
        printf(", mixture of experts: %u of %u experts per token", in->n_expert_used, in->n_expert);
    printf("\n");
    if (in->name[0])
        printf("  %-12s %s\n", "name", in->name);
    printf("  %-12s %u layers, %u wide, %u heads of %u (%u KV head%s), FFN %u,\n", "shape",
           in->n_layer, in->n_embd, in->n_head, in->head_dim, in->n_head_kv,
           in->n_head_kv == 1 ? "" : "s", in->n_ff);
    printf("  %-12s vocabulary %u, trained context %u\n", "", in->n_vocab, in->n_ctx_train);
    human_count(a, sizeof a, in->n_params);
    printf("  %-12s %llu (%s) in all", "parameters", (unsigned long long)in->n_params, a);
    if (in->n_expert) {
        human_count(b, sizeof b, in->n_params_active);
        printf(", %llu (%s) active per token", (unsigned long long)in->n_params_active, b);
    }
    printf("\n  %-12s", "tensors");
    for (int t = 0; t < SLM_DTYPE_COUNT; t++)
        if (in->n_tensors_of[t])
            printf(" %s %u", slm_dtype_name((slm_dtype_t)t), in->n_tensors_of[t]);
    human_bytes(a, sizeof a, in->n_bytes);
    human_bytes(b, sizeof b, r->kv_bytes);
    human_bytes(c, sizeof c, in->n_bytes + r->kv_bytes);
    printf("\n  %-12s %s weights + %s KV cache (%u-token context) = %s\n", "memory", a, b,
           r->n_ctx, c);
    print_placement_text(&r->step);
    print_placement_text(&r->batch);
}

static void print_placement_json(const placement_t *p)
{
    printf("[");
    for (uint32_t i = 0; i < p->n; i++) {
        printf("%s\n      {", i ? "," : "");
        json_kv_str("device", p->v[i].device, 1);
        json_kv_str("op", slm_op_name(p->v[i].op), 1);
        printf("\"nodes\": %u}", p->v[i].n_nodes);
    }
    printf("\n    ]");
}

static void print_model_json(const model_report_t *r)
{
    const slm_model_info_t *in = r->info;
    printf(",\n  \"model\": {\n    ");
    json_kv_str("path", in->path, 1);
    json_kv_str("architecture", in->arch, 1);
    json_kv_str("name", in->name, 1);
    printf("\n    \"n_layer\": %u, \"n_embd\": %u, \"n_head\": %u, \"n_head_kv\": %u, "
           "\"head_dim\": %u, \"n_ff\": %u, \"n_vocab\": %u, \"n_ctx_train\": %u,",
           in->n_layer, in->n_embd, in->n_head, in->n_head_kv, in->head_dim, in->n_ff,
           in->n_vocab, in->n_ctx_train);
    printf("\n    \"n_expert\": %u, \"n_expert_used\": %u, \"n_params\": %llu, "
           "\"n_params_active\": %llu,", in->n_expert, in->n_expert_used,
           (unsigned long long)in->n_params, (unsigned long long)in->n_params_active);
    printf("\n    \"tensor_types\": {");
    int n = 0;
    for (int t = 0; t < SLM_DTYPE_COUNT; t++)
        if (in->n_tensors_of[t])
            printf("%s\"%s\": %u", n++ ? ", " : "", slm_dtype_name((slm_dtype_t)t),
                   in->n_tensors_of[t]);
    printf("},\n    \"weight_bytes\": %llu, \"context\": %u, \"kv_cache_bytes\": %llu, "
           "\"memory_bytes\": %llu,", (unsigned long long)in->n_bytes, r->n_ctx,
           (unsigned long long)r->kv_bytes, (unsigned long long)(in->n_bytes + r->kv_bytes));
    printf("\n    \"placement_error\": ");
    if (r->step.error[0])
        json_str(r->step.error);
    else
        fputs("null", stdout);
    printf(",\n    \"placement\": ");
    print_placement_json(&r->step);
    /* The same for a prompt batch; "error" as placement_error. */
    printf(",\n    \"placement_batch\": {\"n_tokens\": %u, \"error\": ", r->batch.n_tokens);
    if (r->batch.error[0])
        json_str(r->batch.error);
    else
        fputs("null", stdout);
    printf(", \"entries\": ");
    print_placement_json(&r->batch);
    printf("}\n  }");
}

/* ------------------------------------------------------------------ main */

static void log_to_stderr(void *user, int level, const char *msg)
{
    static const char *const names[] = { "error", "warning", "info", "debug" };
    (void)user;
    fprintf(stderr, "slm-probe: %s: %s\n", names[level < 0 ? 0 : level > 3 ? 3 : level], msg);
}

int main(int argc, char **argv)
{
    slm_runtime_opts_t opts = SLM_RUNTIME_OPTS_INIT;
    const char *plugins[MAX_PLUGIN_ARGS];
    uint32_t n_plugins = 0;
    int json = 0;
    const char *model_path = NULL;
    uint32_t batch = DEFAULT_BATCH;

    opts.log = log_to_stderr;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_value = i + 1 < argc;
        if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--model") && has_value) {
            model_path = argv[++i];
        } else if (!strcmp(a, "--batch") && has_value) {
            char *end;
            unsigned long v = strtoul(argv[++i], &end, 10);
            if (*end || end == argv[i] || v == 0 || v > UINT32_MAX || argv[i][0] == '-') {
                fprintf(stderr, "slm-probe: --batch '%s': expected a number of tokens >= 1\n",
                        argv[i]);
                return 1;
            }
            batch = (uint32_t)v;
        } else if (!strcmp(a, "--plugin") && has_value) {
            if (n_plugins == MAX_PLUGIN_ARGS) {
                fprintf(stderr, "slm-probe: at most %d --plugin options\n", MAX_PLUGIN_ARGS);
                return 1;
            }
            plugins[n_plugins++] = argv[++i];
        } else if (!strcmp(a, "--only")) {
            opts.flags |= SLM_RUNTIME_NO_DEFAULT_PLUGINS;
        } else if (!strcmp(a, "--config") && has_value) {
            opts.config_path = argv[++i];
        } else if (!strcmp(a, "--no-config")) {
            opts.flags |= SLM_RUNTIME_NO_DEFAULT_CONFIG;
        } else if (!strcmp(a, "--backend") && has_value) {
            opts.backends = argv[++i];
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            opts.log_level = SLM_LOG_DEBUG;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "slm-probe: unknown or incomplete option '%s'\n\n", a);
            usage(stderr);
            return 1;
        }
    }
    opts.plugin_paths = plugins;
    opts.n_plugin_paths = n_plugins;

    slm_runtime_t *rt = NULL;
    slm_status_t st = slm_runtime_create(&opts, &rt);
    if (st != SLM_OK) {
        fprintf(stderr, "slm-probe: %s\n", slm_last_error());
        return 1;
    }
    slm_model_t *model = NULL;
    model_report_t report = { 0 };
    if (model_path) {
        if (slm_model_open(rt, model_path, NULL, &model) != SLM_OK) {
            fprintf(stderr, "slm-probe: %s\n", slm_last_error());
            slm_runtime_destroy(rt);
            return 1;
        }
        gather_model(rt, model, batch, &report);
    }
    if (json) {
        print_json(rt);
        if (model)
            print_model_json(&report);
        printf("\n}\n");
    } else {
        print_text(rt);
        if (model)
            print_model_text(&report);
    }

    const slm_device_desc_t *first = slm_runtime_device(rt, 0);
    int usable = first && first->enabled &&
                 (!model || (!report.step.error[0] && !report.batch.error[0]));
    free(report.step.v);
    free(report.batch.v);
    slm_model_close(model);
    slm_runtime_destroy(rt);
    return usable ? 0 : 2;
}
