/*
** slm-run -- generate text from a GGUF model, streamed to stdout, with the
** timings on stderr.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <slm/slm.h>

static void usage(FILE *f)
{
    fputs(
        "usage: slm-run -m MODEL.gguf [-p PROMPT] [options]\n"
        "\n"
        "Generates text from a GGUF model and streams it to stdout; the timing\n"
        "summary goes to stderr.\n"
        "\n"
        "options:\n"
        "  -m, --model FILE       GGUF model file (required)\n"
        "  -p, --prompt TEXT      prompt (default: empty, the model starts from BOS)\n"
        "  -n, --n-predict N      tokens to generate, 0 = until end of text (default 128)\n"
        "  -c, --ctx N            context length (default: the model's, at most 4096)\n"
        "  --temp T               temperature, 0 = greedy (default 0.8)\n"
        "  --top-k N              keep the N most likely tokens, 0 = all (default 40)\n"
        "  --top-p P              nucleus sampling mass (default 0.95)\n"
        "  --min-p P              drop tokens below P x the best (default 0.05)\n"
        "  --repeat-penalty X     penalise recent tokens, 1 = off (default 1.0)\n"
        "  --repeat-last-n N      tokens the penalty looks back over (default 64)\n"
        "  -s, --seed N           random seed (default 0)\n"
        "  --stop TEXT            stop when TEXT appears (repeatable)\n"
        "  -t, --threads N        CPU threads (default: the device's)\n"
        "  --backend LIST         force the device order, e.g. \"cpu\" (as SLM_BACKEND)\n"
        "  --no-prompt            do not echo the prompt\n"
        "  -v, --verbose          log what the runtime does to stderr\n"
        "  -h, --help             show this help\n",
        f);
}

typedef struct args {
    const char *model, *prompt, *backend;
    const char *stop[16];
    uint32_t n_stop;
    long n_predict, ctx, threads;
    int echo, verbose;
    slm_sampling_t sampling;
} args_t;

static int parse_long(const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi) {
        fprintf(stderr, "slm-run: %s '%s': expected an integer in %ld..%ld\n", opt, s, lo, hi);
        return 0;
    }
    *out = v;
    return 1;
}

static int parse_float(const char *opt, const char *s, float *out)
{
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || *end || end == s || v != v) {
        fprintf(stderr, "slm-run: %s '%s': expected a number\n", opt, s);
        return 0;
    }
    *out = v;
    return 1;
}

/* 0: run, 1: error, 2: help shown. */
static int parse_args(int argc, char **argv, args_t *a)
{
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        int ok = 1, takes = 1;
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            usage(stdout);
            return 2;
        } else if (!strcmp(o, "--no-prompt")) {
            a->echo = 0, takes = 0;
        } else if (!strcmp(o, "-v") || !strcmp(o, "--verbose")) {
            a->verbose = 1, takes = 0;
        } else if (!v) {
            fprintf(stderr, "slm-run: unknown option or missing value: '%s'\n\n", o);
            usage(stderr);
            return 1;
        } else if (!strcmp(o, "-m") || !strcmp(o, "--model")) {
            a->model = v;
        } else if (!strcmp(o, "-p") || !strcmp(o, "--prompt")) {
            a->prompt = v;
        } else if (!strcmp(o, "--backend")) {
            a->backend = v;
        } else if (!strcmp(o, "--stop")) {
            if (a->n_stop == 16) {
                fprintf(stderr, "slm-run: at most 16 --stop strings\n");
                return 1;
            }
            a->stop[a->n_stop++] = v;
        } else if (!strcmp(o, "-n") || !strcmp(o, "--n-predict")) {
            ok = parse_long(o, v, 0, 1L << 30, &a->n_predict);
        } else if (!strcmp(o, "-c") || !strcmp(o, "--ctx")) {
            ok = parse_long(o, v, 0, 1L << 24, &a->ctx);
        } else if (!strcmp(o, "-t") || !strcmp(o, "--threads")) {
            ok = parse_long(o, v, 0, 4096, &a->threads);
        } else if (!strcmp(o, "-s") || !strcmp(o, "--seed")) {
            ok = parse_long(o, v, 0, 0x7FFFFFFFL, &n);
            a->sampling.seed = (uint64_t)n;
        } else if (!strcmp(o, "--top-k")) {
            ok = parse_long(o, v, 0, 1L << 30, &n);
            a->sampling.top_k = (int32_t)n;
        } else if (!strcmp(o, "--repeat-last-n")) {
            ok = parse_long(o, v, 0, 1L << 20, &n);
            a->sampling.repeat_last_n = (int32_t)n;
        } else if (!strcmp(o, "--temp")) {
            ok = parse_float(o, v, &a->sampling.temperature);
        } else if (!strcmp(o, "--top-p")) {
            ok = parse_float(o, v, &a->sampling.top_p);
        } else if (!strcmp(o, "--min-p")) {
            ok = parse_float(o, v, &a->sampling.min_p);
        } else if (!strcmp(o, "--repeat-penalty")) {
            ok = parse_float(o, v, &a->sampling.repeat_penalty);
        } else {
            fprintf(stderr, "slm-run: unknown option '%s'\n\n", o);
            usage(stderr);
            return 1;
        }
        if (!ok)
            return 1;
        i += takes;
    }
    if (!a->model) {
        fprintf(stderr, "slm-run: no model: pass -m MODEL.gguf\n\n");
        usage(stderr);
        return 1;
    }
    return 0;
}

static bool print_piece(void *user, int32_t token, const char *text, size_t len)
{
    (void)user;
    (void)token;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return true;
}

static const char *stop_name(slm_stop_reason_t r)
{
    switch (r) {
    case SLM_STOP_EOS: return "end of text";
    case SLM_STOP_MAX_TOKENS: return "token limit";
    case SLM_STOP_STRING: return "stop string";
    case SLM_STOP_CALLBACK: return "stopped by caller";
    case SLM_STOP_CONTEXT_FULL: return "context full";
    }
    return "?";
}

/* The devices that run a forward pass of n_tokens, in rank order:
** "cpu-avx512:0" or "npu-rknn:0, cpu-avx512:0"; "" when it cannot be
** placed. (A device that failed to open is not among them.) */
static void devices_of(slm_model_t *m, uint32_t n_tokens, char *buf, size_t len)
{
    slm_placement_t p[16 * SLM_OP_COUNT];
    uint32_t n = 0;
    size_t used = 0;
    buf[0] = '\0';
    if (slm_model_placement_batch(m, n_tokens, p, sizeof p / sizeof p[0], &n) != SLM_OK)
        return;
    for (uint32_t i = 0; i < n && used < len; i++) {
        if (i > 0 && strcmp(p[i].device, p[i - 1].device) == 0)
            continue;
        used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "",
                                 p[i].device);
    }
}

static int fail(const char *what)
{
    fprintf(stderr, "slm-run: %s: %s\n", what, slm_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    args_t a = { .prompt = "", .n_predict = 128, .echo = 1,
                 .sampling = SLM_SAMPLING_INIT };
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc == 2 ? 0 : 1;

    slm_runtime_opts_t ro = SLM_RUNTIME_OPTS_INIT;
    ro.backends = a.backend;
    ro.n_threads = (uint32_t)a.threads;
    if (a.verbose)
        ro.log_level = SLM_LOG_DEBUG;
    slm_runtime_t *rt = NULL;
    slm_model_t *model = NULL;
    slm_session_t *session = NULL;
    if (slm_runtime_create(&ro, &rt) != SLM_OK)
        return fail("runtime");
    if (slm_model_open(rt, a.model, NULL, &model) != SLM_OK) {
        rc = fail("model");
        goto out;
    }
    slm_session_opts_t so = SLM_SESSION_OPTS_INIT;
    so.n_ctx = (uint32_t)a.ctx;
    if (slm_session_create(model, &so, &session) != SLM_OK) {
        rc = fail("session");
        goto out;
    }
    if (a.echo) {
        fputs(a.prompt, stdout);
        fflush(stdout);
    }
    slm_generate_opts_t go = SLM_GENERATE_OPTS_INIT;
    go.max_tokens = (uint32_t)a.n_predict;
    go.sampling = a.sampling;
    go.stop = a.stop;
    go.n_stop = a.n_stop;
    go.on_token = print_piece;
    slm_generate_result_t res;
    if (slm_generate(session, a.prompt, &go, &res) != SLM_OK) {
        fputc('\n', stdout);
        rc = fail("generate");
        goto out;
    }
    fputc('\n', stdout);
    const slm_model_info_t *mi = slm_model_info(model);
    /* Where the steps ran, and where the prompt did when that differs (an
    ** NPU that takes prompt batches only). */
    char decode[256], prompt[256], where[600];
    devices_of(model, 1, decode, sizeof decode);
    devices_of(model, res.n_prompt > 1 ? res.n_prompt : 1, prompt, sizeof prompt);
    if (!decode[0])
        snprintf(decode, sizeof decode, "?");
    if (prompt[0] && strcmp(prompt, decode) != 0)
        snprintf(where, sizeof where, "%s (prompt: %s)", decode, prompt);
    else
        snprintf(where, sizeof where, "%s", decode);
    fprintf(stderr,
            "\nslm-run: %s (%s, %.2fM params) on %s\n"
            "  load            %8.1f ms\n"
            "  prompt          %8.1f ms  %5u tokens  %8.1f tokens/s\n"
            "  first token     %8.1f ms\n"
            "  generation      %8.1f ms  %5u tokens  %8.1f tokens/s\n"
            "  stopped by      %s\n",
            mi->name[0] ? mi->name : mi->path, mi->arch, mi->n_params / 1e6,
            where, slm_model_load_ms(model), res.prompt_ms, res.n_prompt,
            res.prompt_tps, res.first_token_ms, res.generate_ms, res.n_generated,
            res.generate_tps, stop_name(res.stop));
out:
    slm_session_destroy(session);
    slm_model_close(model);
    slm_runtime_destroy(rt);
    return rc;
}
