/*
** test_golden.c -- end to end against llama.cpp's outputs on real GGUF files.
**
** For each model in ../shared/models/gguf with a golden file in
** ../shared/golden: the prompt tokenises to the recorded ids; teacher forcing
** (the prompt as one batch, then each recorded greedy token one at a time)
** gives, at every step, every recorded top-10 logit within the tolerance of
** ../shared/golden/README.md, and the recorded argmax wherever its margin is
** clear. stories260K-f32 must also generate the recorded text greedily.
** Every case runs on every in-tree backend that has a device here.
**
** Environment (all optional):
**   SLM_GOLDEN_PLUGINS   ':'-separated plugin files to load besides the
**                        in-tree ones (an NPU shim, say)
**   SLM_GOLDEN_BACKENDS  a backend selection as the runtime takes it
**                        (opts.backends, as $SLM_BACKEND: "npu-rknn,cpu")
**     With both set, every case runs once, with exactly that selection,
**     instead of once per in-tree backend: the same tolerances, and besides
**     a device of the first backend listed must run at least one node of
**     each prompt's batch (slm_model_placement_batch with the prompt's token
**     count), so that a plugin that takes nothing cannot pass unnoticed.
**     $SLM_CONFIG, if set, is then read (e.g. [backend.npu-rknn]
**     min_batch = 1); the per-backend runs read no config. One of the two
**     set without the other is an error.
**   SLM_GOLDEN_ONLY      ','-separated model names (golden file names
**                        without .json: "stories260K-q4_0,synth-llama256-s1")
**                        to run; the others are skipped.
*/
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <slm/slm.h>

#include "json_min.h"

#define SHARED SLM_TEST_SOURCE_DIR "/../../shared"

typedef struct golden_case {
    const char *file;             /* base name in gguf/ and golden/ */
    float logit_tol, margin;      /* README.md: F32/F16 vs quantised */
} golden_case_t;

/* The in-tree backends of this architecture, best CPU first: each golden
** case runs once on every one with a device here, forced with
** opts.backends. Vulkan and OpenCL run on whatever driver their loader
** finds (the test command selects lavapipe and PoCL), and must then run
** every node themselves. */
static const char *const backends[] = {
#if defined(__aarch64__)
    "cpu-neon", "cpu",
#else
    "cpu-avx512", "cpu-avx2", "cpu",
#endif
#ifdef SLM_TEST_VULKAN
    "vulkan",
#endif
#ifdef SLM_TEST_OPENCL
    "opencl",
#endif
};
#define N_BACKENDS (sizeof backends / sizeof backends[0])

/* SLM_GOLDEN_PLUGINS and SLM_GOLDEN_BACKENDS, both set: "selection mode". */
#define MAX_EXTRA_PLUGINS 16
static struct {
    const char *backends;        /* NULL: the per-backend runs */
    char *plugin_list;           /* owned copy of SLM_GOLDEN_PLUGINS */
    const char *plugins[MAX_EXTRA_PLUGINS];
    uint32_t n_plugins;
} sel;

/* Parse the environment; 0, or -1 with a message on stderr. */
static int selection_from_env(void)
{
    const char *pl = getenv("SLM_GOLDEN_PLUGINS"), *be = getenv("SLM_GOLDEN_BACKENDS");
    bool has_pl = pl && pl[0], has_be = be && be[0];
    if (!has_pl && !has_be)
        return 0;
    if (has_pl != has_be) {
        fprintf(stderr, "test_golden: SLM_GOLDEN_PLUGINS and SLM_GOLDEN_BACKENDS go "
                "together; only %s is set\n", has_pl ? "SLM_GOLDEN_PLUGINS" : "SLM_GOLDEN_BACKENDS");
        return -1;
    }
    sel.plugin_list = strdup(pl);
    if (!sel.plugin_list)
        return -1;
    for (char *save = NULL, *t = strtok_r(sel.plugin_list, ":", &save); t;
         t = strtok_r(NULL, ":", &save)) {
        if (sel.n_plugins == MAX_EXTRA_PLUGINS) {
            fprintf(stderr, "test_golden: more than %d files in SLM_GOLDEN_PLUGINS\n",
                    MAX_EXTRA_PLUGINS);
            return -1;
        }
        sel.plugins[sel.n_plugins++] = t;
    }
    sel.backends = be;
    return 0;
}

/* Whether SLM_GOLDEN_ONLY (unset: every model) lets model `name` run. */
static bool wanted(const char *name)
{
    const char *only = getenv("SLM_GOLDEN_ONLY");
    if (!only || !only[0])
        return true;
    size_t n = strlen(name);
    for (const char *p = only; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0)
            return true;
        p = end ? end + 1 : p + len;
    }
    return false;
}

/* A runtime with every in-tree plugin; `backend` forces one (NULL: the
** runtime's own choice). In selection mode, the extra plugins too, the
** selection forced and $SLM_CONFIG read. */
static slm_runtime_t *runtime_for(const char *backend)
{
    static const char *const plugins[] = {
        SLM_BACKEND_BUILD_DIR "/libslm-backend-cpu.so",
#if defined(__aarch64__)
        SLM_BACKEND_BUILD_DIR "/libslm-backend-cpu-neon.so",
#else
        SLM_BACKEND_BUILD_DIR "/libslm-backend-cpu-avx2.so",
        SLM_BACKEND_BUILD_DIR "/libslm-backend-cpu-avx512.so",
#endif
#ifdef SLM_TEST_VULKAN
        SLM_BACKEND_BUILD_DIR "/libslm-backend-vulkan.so",
#endif
#ifdef SLM_TEST_OPENCL
        SLM_BACKEND_BUILD_DIR "/libslm-backend-opencl.so",
#endif
    };
    enum { N_IN_TREE = sizeof plugins / sizeof plugins[0] };
    const char *all[N_IN_TREE + MAX_EXTRA_PLUGINS];
    memcpy(all, plugins, sizeof plugins);
    uint32_t n = N_IN_TREE;
    slm_runtime_opts_t o = SLM_RUNTIME_OPTS_INIT;
    o.flags = SLM_RUNTIME_NO_DEFAULT_PLUGINS | SLM_RUNTIME_NO_DEFAULT_CONFIG;
    if (sel.backends && backend == sel.backends) {
        for (uint32_t i = 0; i < sel.n_plugins; i++)
            all[n++] = sel.plugins[i];
        const char *cfg = getenv("SLM_CONFIG");
        if (cfg && cfg[0])
            o.config_path = cfg;
    }
    o.plugin_paths = all;
    o.n_plugin_paths = n;
    o.backends = backend;
    slm_runtime_t *rt = NULL;
    if (slm_runtime_create(&o, &rt) != SLM_OK)
        fail_msg("runtime (%s): %s", backend ? backend : "default", slm_last_error());
    return rt;
}

/* Whether backend b has a device here (a SIMD plugin on a CPU without its
** instructions reports none, Vulkan without a driver none). */
static bool backend_present(size_t b)
{
    static int known[N_BACKENDS]; /* 0 unknown, 1 present, 2 absent */
    if (!known[b]) {
        slm_runtime_t *rt = runtime_for(NULL);
        known[b] = 2;
        for (uint32_t i = 0; i < slm_runtime_device_count(rt); i++)
            if (strcmp(slm_runtime_device(rt, i)->plugin, backends[b]) == 0)
                known[b] = 1;
        slm_runtime_destroy(rt);
        if (known[b] == 2)
            print_message("note: %s has no device here; skipped\n", backends[b]);
    }
    return known[b] == 1;
}

/* Whether device id `dev` ("npu-rknn:0") is one of the first entry of a
** backend selection ("npu-rknn,cpu": any npu-rknn device; "vulkan:1,cpu":
** that one). */
static bool of_first_backend(const char *dev, const char *selection)
{
    size_t len = strcspn(selection, ",");
    while (len > 0 && selection[len - 1] == ' ')
        len--;
    if (memchr(selection, ':', len))
        return strlen(dev) == len && strncmp(dev, selection, len) == 0;
    return strncmp(dev, selection, len) == 0 && dev[len] == ':';
}

/* Selection mode: whether a device of the first backend listed runs at
** least one node of a prompt batch of n_tokens; if not, why, in `why`
** (the caller frees what it holds before failing, so that the sanitizers'
** leak check does not turn this expected failure into a crash). */
static bool first_runs_some(slm_model_t *m, const char *file, uint32_t n_tokens, char *why,
                            size_t why_len)
{
    slm_placement_t p[8 * SLM_OP_COUNT];
    uint32_t n = 0, on_first = 0, total = 0;
    if (slm_model_placement_batch(m, n_tokens, p, sizeof p / sizeof p[0], &n) != SLM_OK) {
        snprintf(why, why_len, "%s: placement of a %u-token batch on %s: %s", file, n_tokens,
                 sel.backends, slm_last_error());
        return false;
    }
    char where[512] = "";
    size_t len = 0;
    for (uint32_t i = 0; i < n; i++) {
        total += p[i].n_nodes;
        if (of_first_backend(p[i].device, sel.backends))
            on_first += p[i].n_nodes;
        if (len < sizeof where - 1)
            len += (size_t)snprintf(where + len, sizeof where - len, "%s%s %s:%u",
                                    i ? "," : "", p[i].device, slm_op_name(p[i].op),
                                    p[i].n_nodes);
    }
    if (on_first == 0) {
        snprintf(why, why_len, "%s: SLM_GOLDEN_BACKENDS=%s, but no device of its first "
                 "backend runs any of the %u nodes of the %u-token prompt batch "
                 "(placement:%s); is the plugin loaded with a device, and does it take "
                 "these nodes (its config: SLM_CONFIG)?", file, sel.backends, total,
                 n_tokens, where);
        return false;
    }
    print_message("%s: %u of %u nodes of the %u-token prompt batch on %.*s\n", file, on_first,
                  total, n_tokens, (int)strcspn(sel.backends, ","), sel.backends);
    return true;
}

/* A forced backend that is not a CPU must run the whole forward pass: no
** node may fall back to the CPU. */
static void expect_all_on(slm_model_t *m, const char *backend)
{
    if (strncmp(backend, "cpu", 3) == 0 || backend == sel.backends)
        return;
    slm_placement_t p[4 * SLM_OP_COUNT];
    uint32_t n = 0;
    if (slm_model_placement(m, p, sizeof p / sizeof p[0], &n) != SLM_OK)
        fail_msg("placement on %s: %s", backend, slm_last_error());
    size_t len = strlen(backend);
    for (uint32_t i = 0; i < n; i++)
        if (strncmp(p[i].device, backend, len) != 0 || p[i].device[len] != ':')
            fail_msg("%s forced, but %u %s node(s) run on %s", backend, p[i].n_nodes,
                     slm_op_name(p[i].op), p[i].device);
}

static json_t *load_golden(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, SHARED "/golden/%s.json", name);
    const char *err = NULL;
    json_t *j = json_parse_file(path, &err);
    if (!j)
        fail_msg("%s: %s (is ../shared beside the repository?)", path, err);
    return j;
}

static slm_model_t *open_model(slm_runtime_t *rt, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, SHARED "/models/gguf/%s.gguf", name);
    slm_model_t *m = NULL;
    if (slm_model_open(rt, path, NULL, &m) != SLM_OK)
        fail_msg("%s: %s", path, slm_last_error());
    return m;
}

static int32_t *ids_of(const json_t *arr, uint32_t *n)
{
    assert_non_null(arr);
    assert_int_equal(arr->type, JSON_ARRAY);
    int32_t *ids = malloc((arr->len + 1) * sizeof *ids);
    assert_non_null(ids);
    for (size_t i = 0; i < arr->len; i++)
        ids[i] = (int32_t)arr->items[i].number;
    *n = (uint32_t)arr->len;
    return ids;
}

static int32_t argmax(const float *v, uint32_t n)
{
    uint32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return (int32_t)best;
}

/* The variant run_golden_on is running, for failure messages. */
static const char *golden_backend = "";

/* Compare slm's logits with one recorded step; returns the worst error. */
static double check_step(const golden_case_t *gc, int ci, size_t step, const json_t *top,
                         const float *logits, uint32_t n_vocab, int32_t expect_id)
{
    double worst = 0.0;
    for (size_t k = 0; k < top->len; k++) {
        const json_t *pair = &top->items[k];
        int32_t id = (int32_t)pair->items[0].number;
        double want = pair->items[1].number;
        assert_true(id >= 0 && (uint32_t)id < n_vocab);
        double err = fabs((double)logits[id] - want);
        if (err > worst)
            worst = err;
        if (err > gc->logit_tol)
            fail_msg("%s on %s case %d step %zu: logit of token %d is %.4f, llama.cpp %.4f "
                     "(tolerance %.2f)", gc->file, golden_backend, ci, step, id, logits[id],
                     want, gc->logit_tol);
    }
    double margin = top->items[0].items[1].number - top->items[1].items[1].number;
    if (margin > gc->margin && argmax(logits, n_vocab) != expect_id)
        fail_msg("%s on %s case %d step %zu: argmax %d, llama.cpp %d (margin %.3f)", gc->file,
                 golden_backend, ci, step, argmax(logits, n_vocab), expect_id, margin);
    return worst;
}

static void run_golden_on(const golden_case_t *gc, const char *backend)
{
    golden_backend = backend;
    json_t *g = load_golden(gc->file);
    slm_runtime_t *rt = runtime_for(backend);
    slm_model_t *m = open_model(rt, gc->file);
    expect_all_on(m, backend);
    const slm_model_info_t *mi = slm_model_info(m);
    assert_int_equal(mi->n_vocab, (uint32_t)json_get(g, "n_vocab")->number);
    slm_session_t *s = NULL;
    assert_int_equal(slm_session_create(m, NULL, &s), SLM_OK);

    const json_t *cases = json_get(g, "cases");
    double worst = 0.0;
    for (size_t ci = 0; ci < cases->len; ci++) {
        const json_t *c = &cases->items[ci];
        const char *prompt = json_get(c, "prompt")->string;
        uint32_t n_prompt, n_greedy, n_tok = 0;
        int32_t *prompt_ids = ids_of(json_get(c, "prompt_ids"), &n_prompt);
        int32_t *greedy = ids_of(json_get(c, "greedy_ids"), &n_greedy);
        const json_t *steps = json_get(c, "steps");

        int32_t tok[256];
        assert_int_equal(slm_tokenize(m, prompt, strlen(prompt), true, tok, 256, &n_tok), SLM_OK);
        assert_int_equal(n_tok, n_prompt);
        assert_memory_equal(tok, prompt_ids, n_prompt * sizeof *tok);

        char why[1024];
        if (backend == sel.backends && !first_runs_some(m, gc->file, n_prompt, why, sizeof why)) {
            free(prompt_ids);
            free(greedy);
            slm_session_destroy(s);
            slm_model_close(m);
            slm_runtime_destroy(rt);
            json_free(g);
            fail_msg("%s", why);
        }
        slm_session_reset(s);
        if (slm_session_eval(s, prompt_ids, n_prompt) != SLM_OK)
            fail_msg("%s on %s: eval: %s", gc->file, backend, slm_last_error());
        for (size_t i = 0; i < steps->len; i++) {
            const json_t *top = json_get(&steps->items[i], "top");
            double w = check_step(gc, (int)ci, i, top, slm_session_logits(s), mi->n_vocab,
                                  greedy[i]);
            worst = w > worst ? w : worst;
            if (i + 1 < steps->len && slm_session_eval(s, &greedy[i], 1) != SLM_OK)
                fail_msg("%s on %s: eval: %s", gc->file, backend, slm_last_error());
        }
        free(prompt_ids);
        free(greedy);
    }
    print_message("%s on %s: %zu cases, worst top-10 logit error %.4f\n", gc->file, backend,
                  cases->len, worst);
    slm_session_destroy(s);
    slm_model_close(m);
    slm_runtime_destroy(rt);
    json_free(g);
}

static void run_golden(const golden_case_t *gc)
{
    if (!wanted(gc->file))
        skip();
    if (sel.backends) {
        run_golden_on(gc, sel.backends);
        return;
    }
    for (size_t b = 0; b < N_BACKENDS; b++)
        if (backend_present(b))
            run_golden_on(gc, backends[b]);
}

#define FLOAT_TOL 0.02f, 0.05f
#define QUANT_TOL 0.35f, 0.7f

static void test_stories_f32(void **st) { (void)st; run_golden(&(golden_case_t){ "stories260K-f32", FLOAT_TOL }); }
static void test_stories_f16(void **st) { (void)st; run_golden(&(golden_case_t){ "stories260K-f16", FLOAT_TOL }); }
static void test_stories_q8_0(void **st) { (void)st; run_golden(&(golden_case_t){ "stories260K-q8_0", QUANT_TOL }); }
static void test_stories_q4_0(void **st) { (void)st; run_golden(&(golden_case_t){ "stories260K-q4_0", QUANT_TOL }); }
static void test_llama256_f32(void **st) { (void)st; run_golden(&(golden_case_t){ "synth-llama256-s1", FLOAT_TOL }); }
static void test_llama256_q8_0(void **st) { (void)st; run_golden(&(golden_case_t){ "synth-llama256-s1-q8_0", QUANT_TOL }); }
static void test_llama256_q4_0(void **st) { (void)st; run_golden(&(golden_case_t){ "synth-llama256-s1-q4_0", QUANT_TOL }); }
static void test_llama256_q4_k(void **st) { (void)st; run_golden(&(golden_case_t){ "synth-llama256-s1-q4_k_m", QUANT_TOL }); }
static void test_llama256_q6_k(void **st) { (void)st; run_golden(&(golden_case_t){ "synth-llama256-s1-q6_k", QUANT_TOL }); }
static void test_mixtral_f32(void **st) { (void)st; run_golden(&(golden_case_t){ "synth-mixtral-s1", FLOAT_TOL }); }
static void test_mixtral_q8_0(void **st) { (void)st; run_golden(&(golden_case_t){ "synth-mixtral-s1-q8_0", QUANT_TOL }); }
static void test_mixtral_q4_0(void **st) { (void)st; run_golden(&(golden_case_t){ "synth-mixtral-s1-q4_0", QUANT_TOL }); }
static void test_phi3_f32(void **st) { (void)st; run_golden(&(golden_case_t){ "synth-phi3-s1", FLOAT_TOL }); }
static void test_gemma_f32(void **st) { (void)st; run_golden(&(golden_case_t){ "synth-gemma-s1", FLOAT_TOL }); }
static void test_gemma2_f32(void **st) { (void)st; run_golden(&(golden_case_t){ "synth-gemma2-s1", FLOAT_TOL }); }

typedef struct collected {
    char text[4096];
    size_t len;
    uint32_t calls;
} collected_t;

static bool collect(void *user, int32_t token, const char *text, size_t len)
{
    collected_t *c = user;
    (void)token;
    assert_true(c->len + len < sizeof c->text);
    memcpy(c->text + c->len, text, len);
    c->len += len;
    c->text[c->len] = '\0';
    c->calls++;
    return true;
}

/* Plain greedy generation, no teacher forcing: the story llama.cpp tells. */
static void greedy_text_on(const char *backend)
{
    json_t *g = load_golden("stories260K-f32");
    const json_t *c = &json_get(g, "cases")->items[0];
    slm_runtime_t *rt = runtime_for(backend);
    slm_model_t *m = open_model(rt, "stories260K-f32");
    slm_session_t *s = NULL;
    assert_int_equal(slm_session_create(m, NULL, &s), SLM_OK);

    collected_t out = { .len = 0 };
    slm_generate_opts_t o = SLM_GENERATE_OPTS_INIT;
    o.sampling.temperature = 0.0f;
    o.max_tokens = (uint32_t)json_get(c, "greedy_ids")->len;
    o.on_token = collect;
    o.user = &out;
    slm_generate_result_t r;
    if (slm_generate(s, json_get(c, "prompt")->string, &o, &r) != SLM_OK)
        fail_msg("generate: %s", slm_last_error());
    assert_int_equal(r.n_generated, o.max_tokens);
    assert_string_equal(out.text, json_get(c, "greedy_text")->string);
    print_message("stories260K-f32 greedy on %s: %s\n", backend, out.text);

    /* A stop string ends generation and is not shown. */
    slm_session_reset(s);
    out.len = 0;
    out.text[0] = '\0';
    const char *stop[] = { "Lily" };
    o.stop = stop;
    o.n_stop = 1;
    assert_int_equal(slm_generate(s, json_get(c, "prompt")->string, &o, &r), SLM_OK);
    assert_int_equal(r.stop, SLM_STOP_STRING);
    assert_string_equal(out.text, ", there was a little girl named ");

    slm_session_destroy(s);
    slm_model_close(m);
    slm_runtime_destroy(rt);
    json_free(g);
}

static void test_stories_greedy_text(void **st)
{
    (void)st;
    if (!wanted("stories260K-f32"))
        skip();
    if (sel.backends) {
        greedy_text_on(sel.backends);
        return;
    }
    for (size_t b = 0; b < N_BACKENDS; b++)
        if (backend_present(b))
            greedy_text_on(backends[b]);
}

static void test_context_full(void **st)
{
    (void)st;
    if (!wanted("stories260K-f32"))
        skip();
    slm_runtime_t *rt = runtime_for(NULL);
    slm_model_t *m = open_model(rt, "stories260K-f32");
    slm_session_opts_t so = SLM_SESSION_OPTS_INIT;
    so.n_ctx = 8;
    slm_session_t *s = NULL;
    assert_int_equal(slm_session_create(m, &so, &s), SLM_OK);
    int32_t ids[9] = { 1, 403, 407, 261, 378, 400, 401, 402, 403 };
    assert_int_equal(slm_session_eval(s, ids, 9), SLM_ERR_CONTEXT_FULL);
    assert_non_null(strstr(slm_last_error(), "context"));
    assert_int_equal(slm_session_eval(s, ids, 8), SLM_OK);
    assert_int_equal(slm_session_eval(s, ids, 1), SLM_ERR_CONTEXT_FULL);
    int32_t bad = 512;
    slm_session_reset(s);
    assert_int_equal(slm_session_eval(s, &bad, 1), SLM_ERR_INVALID_ARG);

    /* A prompt batch's placement: the decoding step's nodes, more rows;
    ** no tokens, or more than the model's context, are refused. */
    slm_placement_t p1[4 * SLM_OP_COUNT], pb[4 * SLM_OP_COUNT];
    uint32_t n1 = 0, nb = 0, ctx = slm_model_info(m)->n_ctx_train;
    assert_int_equal(slm_model_placement(m, p1, 4 * SLM_OP_COUNT, &n1), SLM_OK);
    assert_int_equal(slm_model_placement_batch(m, 100, pb, 4 * SLM_OP_COUNT, &nb), SLM_OK);
    assert_int_equal(n1, nb);
    for (uint32_t i = 0; i < n1; i++) {
        assert_string_equal(p1[i].device, pb[i].device);
        assert_int_equal(p1[i].op, pb[i].op);
        assert_int_equal(p1[i].n_nodes, pb[i].n_nodes);
    }
    assert_int_equal(slm_model_placement_batch(m, 0, pb, 4 * SLM_OP_COUNT, &nb),
                     SLM_ERR_INVALID_ARG);
    assert_true(ctx > 0);
    assert_int_equal(slm_model_placement_batch(m, ctx, pb, 4 * SLM_OP_COUNT, &nb), SLM_OK);
    assert_int_equal(slm_model_placement_batch(m, ctx + 1, pb, 4 * SLM_OP_COUNT, &nb),
                     SLM_ERR_INVALID_ARG);
    assert_non_null(strstr(slm_last_error(), "context"));
    slm_session_destroy(s);
    slm_model_close(m);
    slm_runtime_destroy(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stories_f32),
        cmocka_unit_test(test_stories_f16),
        cmocka_unit_test(test_stories_q8_0),
        cmocka_unit_test(test_stories_q4_0),
        cmocka_unit_test(test_llama256_f32),
        cmocka_unit_test(test_llama256_q8_0),
        cmocka_unit_test(test_llama256_q4_0),
        cmocka_unit_test(test_llama256_q4_k),
        cmocka_unit_test(test_llama256_q6_k),
        cmocka_unit_test(test_mixtral_f32),
        cmocka_unit_test(test_mixtral_q8_0),
        cmocka_unit_test(test_mixtral_q4_0),
        cmocka_unit_test(test_phi3_f32),
        cmocka_unit_test(test_gemma_f32),
        cmocka_unit_test(test_gemma2_f32),
        cmocka_unit_test(test_stories_greedy_text),
        cmocka_unit_test(test_context_full),
    };
    if (selection_from_env() != 0)
        return 1;
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    free(sel.plugin_list);
    return failed;
}
