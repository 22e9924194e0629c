/*
** slm-bench -- how fast a GGUF model runs on each backend and thread count,
** set against what this machine's memory bandwidth allows; and a writer of
** synthetic GGUF files with the exact shape of a real model, for
** measurements that are bandwidth-bound rather than cache-resident.
**
** Built on the public API (slm/slm.h) only. Each (backend, threads) pair runs
** in a child process of its own, so that its peak RSS and load time are its
** own and not what an earlier pair left behind.
**
** What is measured, per backend and thread count:
**   load   wall time of slm_model_open (the file is mapped; pages come in
**          on first use, so this is the cost before any weight is read)
**   pp     p tokens in one slm_session_eval (one forward pass unless -b is
**          smaller) on a session that was reset, after one warm-up;
**          tokens/s, median of r repetitions
**   tg     n single-token evals after a one-token prompt, after one warm-up;
**          tokens/s, median of r repetitions
**   ttft   a new session, the p-token prompt evaluated and the greedy first
**          token picked, with the model loaded and warm; median of r
**   rss    peak resident set of the child (VmHWM), mapped weights included
**
** The roofline: decode must read every weight once per token, so it can go
** no faster than bandwidth / bytes read per token. The bytes come from the
** GGUF tensor table, read here by a small parser of its own (the public API
** gives only the total): every tensor except the token embedding table, of
** which one row is read; a model without output.weight reads the whole table
** again as its classifier. The KV cache is left out, as it is small at short
** contexts. The bandwidth is measured here: a sum over a buffer much larger
** than the caches (1 GiB by default), best of several passes, in each run's
** process right after it and with its thread count. Runs whose first device
** is a discrete GPU have no roofline ("-", null): its memory is not the
** host's.
*/
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define BENCH_X86 1
#endif

#include <slm/slm.h>

#define MAX_LIST 16          /* entries of -t and --backend */
#define MAX_REPS 100         /* -r */
#define GGUF_ALIGN 32u       /* alignment of the files written here */

static void usage(FILE *f)
{
    fputs(
        "usage: slm-bench -m MODEL.gguf [options]\n"
        "       slm-bench --write-synthetic PATH --type TYPE [--shape SHAPE] [--seed N]\n"
        "\n"
        "Measures load time, time to first token, prompt processing (pp) and\n"
        "generation (tg) tokens/s and peak RSS for each backend and thread count,\n"
        "and compares generation with this machine's memory bandwidth roofline.\n"
        "Prints a table (or JSON with --json) to stdout, progress to stderr.\n"
        "\n"
        "benchmark options:\n"
        "  -m, --model FILE       GGUF model file\n"
        "  -p, --n-prompt N       prompt tokens for pp and ttft, 0 = skip (default 128)\n"
        "  -n, --n-gen N          generated tokens for tg, 0 = skip (default 128)\n"
        "  -r, --repetitions N    repetitions after the warm-up, 1..100 (default 5)\n"
        "  -b, --batch N          most tokens per forward pass (default: the prompt)\n"
        "  -t, --threads LIST     thread counts, e.g. 1,2 (default: online CPUs)\n"
        "  --backend LIST         backends to compare, e.g. cpu-avx512,cpu-avx2,cpu\n"
        "                         (default: every backend that has a device)\n"
        "  --bw-size MIB          bandwidth buffer, MiB in all threads; 0 = do not\n"
        "                         measure (default 1024)\n"
        "  --json                 print JSON instead of the tables\n"
        "\n"
        "synthetic files (random weights, a working llama tokenizer):\n"
        "  --write-synthetic PATH write a GGUF v3 file to PATH and exit\n"
        "  --shape SHAPE          tinyllama-1.1b (22 layers, 2048 wide, FFN 5632,\n"
        "                         32 heads, 4 KV heads, vocab 32000; default) or\n"
        "                         tiny (2 layers, 256 wide, FFN 768, vocab 512)\n"
        "  --type TYPE            q4_0, q8_0, f16, f32, q4_k or q6_k for the matrices\n"
        "  --output-type TYPE     output.weight's type (default: q6_k for q4_0 and\n"
        "                         q4_k, as llama-quantize does; else TYPE)\n"
        "  --seed N               random seed (default 0)\n"
        "\n"
        "  -h, --help             show this help\n",
        f);
}

/* ------------------------------------------------------------ utilities */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* xoshiro256**: fast enough to fill a gigabyte in well under a second. */
typedef struct rng {
    uint64_t s[4];
} rng_t;

static void rng_seed(rng_t *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rng_next(rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t x = s[1] * 5;
    uint64_t out = ((x << 7) | (x >> 57)) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);
    return out;
}

/* Uniform in [0, 1). */
static float rng_unit(rng_t *r)
{
    return (float)(rng_next(r) >> 40) * (1.0f / 16777216.0f);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
    double s[MAX_REPS];
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

static double mean(const double *v, int n)
{
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += v[i];
    return n ? sum / n : 0;
}

/* Sample standard deviation, as llama-bench reports it; 0 for one sample. */
static double stddev(const double *v, int n)
{
    if (n < 2)
        return 0;
    double m = mean(v, n), ss = 0;
    for (int i = 0; i < n; i++)
        ss += (v[i] - m) * (v[i] - m);
    return sqrt(ss / (n - 1));
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* ----------------------------------------------------- synthetic models */

typedef struct shape {
    const char *name;
    uint32_t n_layer, n_embd, n_ff, n_head, n_head_kv, n_vocab, n_ctx;
    float norm_eps, rope_base;
} shape_t;

static const shape_t shapes[] = {
    /* TinyLlama 1.1B (TinyLlama/TinyLlama-1.1B-Chat-v1.0 config.json). */
    { "tinyllama-1.1b", 22, 2048, 5632, 32, 4, 32000, 2048, 1e-5f, 10000.0f },
    /* Small enough for a test to run in milliseconds, yet every row length
    ** is a multiple of 256 so that the K-quants fit, and it keeps GQA. */
    { "tiny", 2, 256, 768, 4, 2, 512, 256, 1e-5f, 10000.0f },
};

typedef struct wtype {
    const char *name;
    slm_dtype_t dtype;
    uint32_t file_type;       /* llama.cpp's general.file_type for the mix */
} wtype_t;

static const wtype_t wtypes[] = {
    { "f32", SLM_DTYPE_F32, 0 },   { "f16", SLM_DTYPE_F16, 1 },
    { "q4_0", SLM_DTYPE_Q4_0, 2 }, { "q8_0", SLM_DTYPE_Q8_0, 7 },
    { "q4_k", SLM_DTYPE_Q4_K, 14 }, { "q6_k", SLM_DTYPE_Q6_K, 18 },
};

static const wtype_t *find_wtype(const char *name)
{
    for (size_t i = 0; i < sizeof wtypes / sizeof wtypes[0]; i++)
        if (!strcmp(wtypes[i].name, name))
            return &wtypes[i];
    return NULL;
}

static const shape_t *find_shape(const char *name)
{
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        if (!strcmp(shapes[i].name, name))
            return &shapes[i];
    return NULL;
}

typedef struct syn_tensor {
    char name[64];
    uint32_t n_dims;
    uint64_t ne[2];
    slm_dtype_t dtype;
    float sigma;              /* standard deviation of the weights; 0: all 1
                                 (norms) */
    uint64_t offset, bytes;
} syn_tensor_t;

/* A file being written: stdio buffers the small writes of the header, and
** the first failure is kept for the message. */
typedef struct writer {
    FILE *f;
    int err;                  /* errno of the first failure, 0 if none */
    uint64_t n_kv;            /* metadata entries written so far */
} writer_t;

static void w_bytes(writer_t *w, const void *p, size_t n)
{
    if (!w->err && n && fwrite(p, 1, n, w->f) != n)
        w->err = errno ? errno : EIO;
}

/* GGUF is little-endian; so is every machine slm targets today, and the
** reader would refuse a big-endian file anyway. */
static void w_u32(writer_t *w, uint32_t v) { w_bytes(w, &v, 4); }
static void w_i32(writer_t *w, int32_t v) { w_bytes(w, &v, 4); }
static void w_u64(writer_t *w, uint64_t v) { w_bytes(w, &v, 8); }
static void w_f32(writer_t *w, float v) { w_bytes(w, &v, 4); }

static void w_str(writer_t *w, const char *s, size_t n)
{
    w_u64(w, n);
    w_bytes(w, s, n);
}

static void w_key(writer_t *w, const char *key, uint32_t type)
{
    w->n_kv++;
    w_str(w, key, strlen(key));
    w_u32(w, type);
}

enum { KV_U32 = 4, KV_I32 = 5, KV_F32 = 6, KV_BOOL = 7, KV_STRING = 8, KV_ARRAY = 9 };

static void kv_u32(writer_t *w, const char *key, uint32_t v) { w_key(w, key, KV_U32); w_u32(w, v); }
static void kv_f32(writer_t *w, const char *key, float v) { w_key(w, key, KV_F32); w_f32(w, v); }

static void kv_str(writer_t *w, const char *key, const char *v)
{
    w_key(w, key, KV_STRING);
    w_str(w, v, strlen(v));
}

static void kv_bool(writer_t *w, const char *key, bool v)
{
    uint8_t b = v;
    w_key(w, key, KV_BOOL);
    w_bytes(w, &b, 1);
}

static void w_pad(writer_t *w, uint64_t pos, uint32_t align)
{
    static const uint8_t zeros[64];
    uint64_t pad = (align - pos % align) % align;
    w_bytes(w, zeros, (size_t)pad);
}

/*
** Token i's text in the synthetic vocabulary: <unk> <s> </s>, the 256 byte
** tokens, then unique pieces that SentencePiece-style merging can build text
** from ("\u2581" is its word-start marker): "\u2581", every printable ASCII
** character alone and after "\u2581", then two lower-case letters, alone and
** after "\u2581", then three, and so on until the vocabulary is full.
*/
#define SPM_SPACE "\xE2\x96\x81"

static void vocab_text(uint32_t i, char *out, size_t n)
{
    static const char *const special[3] = { "<unk>", "<s>", "</s>" };
    if (i < 3) {
        snprintf(out, n, "%s", special[i]);
        return;
    }
    if (i < 3 + 256) {
        snprintf(out, n, "<0x%02X>", i - 3);
        return;
    }
    uint32_t k = i - 3 - 256;
    if (k == 0) {
        snprintf(out, n, SPM_SPACE);
        return;
    }
    k -= 1;
    if (k < 2 * 94) { /* printable ASCII 0x21..0x7E */
        snprintf(out, n, "%s%c", k < 94 ? "" : SPM_SPACE, (char)(0x21 + k % 94));
        return;
    }
    k -= 2 * 94;
    for (uint32_t len = 2, count = 26 * 26; ; len++, count *= 26) {
        if (k < 2 * count) {
            char letters[16];
            uint32_t v = k % count;
            for (uint32_t j = 0; j < len; j++, v /= 26)
                letters[len - 1 - j] = (char)('a' + v % 26);
            letters[len] = '\0';
            snprintf(out, n, "%s%s", k < count ? "" : SPM_SPACE, letters);
            return;
        }
        k -= 2 * count;
    }
}

/* SentencePiece token types as llama.cpp numbers them. */
enum { TOK_NORMAL = 1, TOK_UNKNOWN = 2, TOK_CONTROL = 3, TOK_BYTE = 6 };

static void write_tokenizer(writer_t *w, uint32_t n_vocab)
{
    char text[32];
    kv_str(w, "tokenizer.ggml.model", "llama");
    w_key(w, "tokenizer.ggml.tokens", KV_ARRAY);
    w_u32(w, KV_STRING);
    w_u64(w, n_vocab);
    for (uint32_t i = 0; i < n_vocab; i++) {
        vocab_text(i, text, sizeof text);
        w_str(w, text, strlen(text));
    }
    /* Pieces merge in score order: the shorter, earlier ones first. */
    w_key(w, "tokenizer.ggml.scores", KV_ARRAY);
    w_u32(w, KV_F32);
    w_u64(w, n_vocab);
    for (uint32_t i = 0; i < n_vocab; i++)
        w_f32(w, i < 3 + 256 ? 0.0f : -(float)(i - 3 - 256));
    w_key(w, "tokenizer.ggml.token_type", KV_ARRAY);
    w_u32(w, KV_I32);
    w_u64(w, n_vocab);
    for (uint32_t i = 0; i < n_vocab; i++)
        w_i32(w, i == 0 ? TOK_UNKNOWN : i < 3 ? TOK_CONTROL : i < 3 + 256 ? TOK_BYTE : TOK_NORMAL);
    kv_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    kv_u32(w, "tokenizer.ggml.bos_token_id", 1);
    kv_u32(w, "tokenizer.ggml.eos_token_id", 2);
    kv_bool(w, "tokenizer.ggml.add_bos_token", true);
    kv_bool(w, "tokenizer.ggml.add_eos_token", false);
}

/*
** n_blocks random blocks of `t` into `out`, whose dequantised values have
** mean about 0 and standard deviation about `sigma` (0: every value 1, for
** the norms). Each block's scale varies by +-25% so that kernels cannot get
** away with a per-tensor scale. Quants stay in the range real quantisers
** produce (Q8_0 never -128), which SIMD kernels may rely on.
*/
static void fill_blocks(slm_dtype_t t, rng_t *r, float sigma, void *out, size_t n_blocks)
{
    switch (t) {
    case SLM_DTYPE_F32: {
        float *x = out;
        float a = sigma * 1.7320508f; /* uniform(-a, a) has sd a/sqrt(3) */
        for (size_t i = 0; i < n_blocks; i++)
            x[i] = sigma == 0 ? 1.0f : a * (2.0f * rng_unit(r) - 1.0f);
        break;
    }
    case SLM_DTYPE_F16: {
        slm_f16_t *x = out;
        float a = sigma * 1.7320508f;
        for (size_t i = 0; i < n_blocks; i++)
            x[i] = slm_f32_to_f16(sigma == 0 ? 1.0f : a * (2.0f * rng_unit(r) - 1.0f));
        break;
    }
    case SLM_DTYPE_Q4_0: {
        /* (q - 8) for uniform q in 0..15 has sd 4.61, and mean -0.5: the
        ** slight bias Q4_0's lopsided range -8..7 gives real files too */
        slm_block_q4_0 *b = out;
        for (size_t i = 0; i < n_blocks; i++) {
            b[i].d = slm_f32_to_f16(sigma / 4.61f * (0.75f + 0.5f * rng_unit(r)));
            for (int j = 0; j < SLM_QK4_0 / 2; j += 8) {
                uint64_t v = rng_next(r);
                memcpy(b[i].qs + j, &v, 8);
            }
        }
        break;
    }
    case SLM_DTYPE_Q8_0: {
        /* uniform q in -127..127 has sd 73.6 */
        slm_block_q8_0 *b = out;
        for (size_t i = 0; i < n_blocks; i++) {
            b[i].d = slm_f32_to_f16(sigma / 73.6f * (0.75f + 0.5f * rng_unit(r)));
            for (int j = 0; j < SLM_QK8_0; j += 8) {
                uint64_t v = rng_next(r);
                memcpy(b[i].qs + j, &v, 8);
            }
            for (int j = 0; j < SLM_QK8_0; j++)
                if (b[i].qs[j] == -128)
                    b[i].qs[j] = -127;
        }
        break;
    }
    case SLM_DTYPE_Q4_K: {
        /* x = d*sc*q - dmin*m with q uniform in 0..15 (mean 7.5, sd 4.61):
        ** dmin = 8d and m = sc*7.5/8 centre each sub-block on 0; sc in
        ** 32..63 averages 47.5, so x has sd about d * 47.5 * 4.61. */
        slm_block_q4_K *b = out;
        for (size_t i = 0; i < n_blocks; i++) {
            float d = sigma / (47.5f * 4.61f) * (0.75f + 0.5f * rng_unit(r));
            b[i].d = slm_f32_to_f16(d);
            b[i].dmin = slm_f32_to_f16(8.0f * d);
            uint8_t sc[8], m[8];
            for (int s = 0; s < 8; s++) {
                sc[s] = (uint8_t)(32 + rng_next(r) % 32);
                m[s] = (uint8_t)lrintf(sc[s] * 7.5f / 8.0f);
            }
            /* the packing of slm/graph.h's slm_block_q4_K, inverted */
            for (int s = 0; s < 4; s++) {
                b[i].scales[s] = (uint8_t)((sc[s] & 63) | ((sc[s + 4] >> 4) << 6));
                b[i].scales[s + 4] = (uint8_t)((m[s] & 63) | ((m[s + 4] >> 4) << 6));
                b[i].scales[s + 8] = (uint8_t)((sc[s + 4] & 0xF) | ((m[s + 4] & 0xF) << 4));
            }
            for (int j = 0; j < SLM_QK_K / 2; j += 8) {
                uint64_t v = rng_next(r);
                memcpy(b[i].qs + j, &v, 8);
            }
        }
        break;
    }
    case SLM_DTYPE_Q6_K: {
        /* x = d*sc*(q - 32), q uniform in 0..63 (sd 18.5), sc uniform in
        ** -127..127 (rms 73.6) */
        slm_block_q6_K *b = out;
        for (size_t i = 0; i < n_blocks; i++) {
            uint8_t raw[SLM_QK_K / 2 + SLM_QK_K / 4];
            for (size_t j = 0; j < sizeof raw; j += 8) {
                uint64_t v = rng_next(r);
                memcpy(raw + j, &v, 8);
            }
            memcpy(b[i].ql, raw, sizeof b[i].ql);
            memcpy(b[i].qh, raw + sizeof b[i].ql, sizeof b[i].qh);
            for (int s = 0; s < SLM_QK_K / 16; s++)
                b[i].scales[s] = (int8_t)((int)(rng_next(r) % 255) - 127);
            b[i].d = slm_f32_to_f16(sigma / (73.6f * 18.5f) * (0.75f + 0.5f * rng_unit(r)));
        }
        break;
    }
    default:
        break;
    }
}

static slm_dtype_t parse_wtype(const char *opt, const char *name, bool *ok)
{
    const wtype_t *t = find_wtype(name);
    if (!t) {
        fprintf(stderr, "slm-bench: %s '%s': unknown type (q4_0, q8_0, f16, f32, q4_k, q6_k)\n",
                opt, name);
        *ok = false;
        return SLM_DTYPE_F32;
    }
    return t->dtype;
}

/*
** Write a llama-architecture GGUF v3 file of `shape` with random weights.
** The data is generated and written one chunk at a time: a 1.1B-parameter
** file never has to fit in memory. Returns 0 or 1 (the message printed).
*/
static int write_synthetic(const char *path, const char *shape_name, const char *type_name,
                           const char *output_type_name, uint64_t seed)
{
    const shape_t *sh = find_shape(shape_name);
    if (!sh) {
        fprintf(stderr, "slm-bench: --shape '%s': unknown shape (tinyllama-1.1b, tiny)\n", shape_name);
        return 1;
    }
    if (!type_name) {
        fprintf(stderr, "slm-bench: --write-synthetic needs --type (q4_0, q8_0, f16, f32, q4_k, q6_k)\n");
        return 1;
    }
    bool ok = true;
    const wtype_t *wt = find_wtype(type_name);
    slm_dtype_t type = parse_wtype("--type", type_name, &ok);
    /* llama-quantize gives output.weight Q6_K in every mix but Q8_0; the
    ** files llama.cpp is measured on are made that way, so these are too. */
    slm_dtype_t out_type = type == SLM_DTYPE_Q4_0 || type == SLM_DTYPE_Q4_K ? SLM_DTYPE_Q6_K : type;
    if (output_type_name)
        out_type = parse_wtype("--output-type", output_type_name, &ok);
    if (!ok)
        return 1;

    /* ---- the tensor table, in the order decoding reads it */
    const uint32_t e = sh->n_embd, ff = sh->n_ff, hd = sh->n_embd / sh->n_head;
    const uint32_t kv = hd * sh->n_head_kv;
    size_t n_tensors = 3 + 9 * (size_t)sh->n_layer;
    syn_tensor_t *ts = calloc(n_tensors, sizeof *ts);
    if (!ts) {
        fprintf(stderr, "slm-bench: out of memory\n");
        return 1;
    }
    size_t k = 0;
#define ADD(pfx, nm, nd, a, b, dt, sd)                                                \
    do {                                                                              \
        syn_tensor_t *t_ = &ts[k++];                                                  \
        snprintf(t_->name, sizeof t_->name, "%s%s", pfx, nm);                         \
        t_->n_dims = (nd), t_->ne[0] = (a), t_->ne[1] = (b), t_->dtype = (dt);        \
        t_->sigma = (sd);                                                             \
    } while (0)
    /* Weights have sd 1/sqrt(fan-in), so that each matmul keeps its input's
    ** scale and activations stay O(1) through all the layers. */
    const float se = 1.0f / sqrtf((float)e), sf = 1.0f / sqrtf((float)ff);
    ADD("", "token_embd.weight", 2, e, sh->n_vocab, type, se);
    for (uint32_t il = 0; il < sh->n_layer; il++) {
        char blk[32];
        snprintf(blk, sizeof blk, "blk.%u.", il);
        ADD(blk, "attn_norm.weight", 1, e, 1, SLM_DTYPE_F32, 0);
        ADD(blk, "attn_q.weight", 2, e, e, type, se);
        ADD(blk, "attn_k.weight", 2, e, kv, type, se);
        ADD(blk, "attn_v.weight", 2, e, kv, type, se);
        ADD(blk, "attn_output.weight", 2, e, e, type, se);
        ADD(blk, "ffn_norm.weight", 1, e, 1, SLM_DTYPE_F32, 0);
        ADD(blk, "ffn_gate.weight", 2, e, ff, type, se);
        ADD(blk, "ffn_up.weight", 2, e, ff, type, se);
        ADD(blk, "ffn_down.weight", 2, ff, e, type, sf);
    }
    ADD("", "output_norm.weight", 1, e, 1, SLM_DTYPE_F32, 0);
    ADD("", "output.weight", 2, e, sh->n_vocab, out_type, se);
#undef ADD
    uint64_t off = 0, total = 0;
    for (size_t i = 0; i < n_tensors; i++) {
        syn_tensor_t *t = &ts[i];
        int64_t be = slm_dtype_block_elems(t->dtype);
        if (t->ne[0] % (uint64_t)be) {
            fprintf(stderr, "slm-bench: shape %s cannot hold %s: %s has rows of %" PRIu64
                    " values, not a multiple of %" PRId64 "\n", sh->name, slm_dtype_name(t->dtype),
                    t->name, t->ne[0], be);
            free(ts);
            return 1;
        }
        t->bytes = t->ne[0] * t->ne[1] / (uint64_t)be * slm_dtype_block_bytes(t->dtype);
        t->offset = off;
        off += (t->bytes + GGUF_ALIGN - 1) / GGUF_ALIGN * GGUF_ALIGN;
        total += t->bytes;
    }

    writer_t w = { fopen(path, "wb"), 0, 0 };
    if (!w.f) {
        fprintf(stderr, "slm-bench: cannot create '%s': %s\n", path, strerror(errno));
        free(ts);
        return 1;
    }
    /* ---- header and metadata */
    w_bytes(&w, "GGUF", 4);
    w_u32(&w, 3);
    w_u64(&w, n_tensors);
    w_u64(&w, 0); /* the metadata count, patched once it is known */
    char name[96];
    snprintf(name, sizeof name, "synthetic %s %s seed %" PRIu64, sh->name, wt->name, seed);
    kv_str(&w, "general.architecture", "llama");
    kv_str(&w, "general.name", name);
    kv_u32(&w, "general.alignment", GGUF_ALIGN);
    /* llama.cpp prints this as the model's type ("Q4_0"); slm ignores it */
    kv_u32(&w, "general.file_type", wt->file_type);
    kv_u32(&w, "general.quantization_version", 2);
    kv_u32(&w, "llama.vocab_size", sh->n_vocab);
    kv_u32(&w, "llama.context_length", sh->n_ctx);
    kv_u32(&w, "llama.embedding_length", e);
    kv_u32(&w, "llama.block_count", sh->n_layer);
    kv_u32(&w, "llama.feed_forward_length", ff);
    kv_u32(&w, "llama.rope.dimension_count", hd);
    kv_u32(&w, "llama.attention.head_count", sh->n_head);
    kv_u32(&w, "llama.attention.head_count_kv", sh->n_head_kv);
    kv_f32(&w, "llama.attention.layer_norm_rms_epsilon", sh->norm_eps);
    kv_f32(&w, "llama.rope.freq_base", sh->rope_base);
    kv_u32(&w, "llama.attention.key_length", hd);
    kv_u32(&w, "llama.attention.value_length", hd);
    write_tokenizer(&w, sh->n_vocab);
    /* ---- tensor infos */
    for (size_t i = 0; i < n_tensors; i++) {
        const syn_tensor_t *t = &ts[i];
        w_str(&w, t->name, strlen(t->name));
        w_u32(&w, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++)
            w_u64(&w, t->ne[d]);
        w_u32(&w, (uint32_t)t->dtype);
        w_u64(&w, t->offset);
    }
    off_t header = ftello(w.f);
    if (!w.err && (header < 0 || fseeko(w.f, 16, SEEK_SET) != 0))
        w.err = errno;
    w_u64(&w, w.n_kv);
    if (!w.err && fseeko(w.f, header, SEEK_SET) != 0)
        w.err = errno;
    w_pad(&w, (uint64_t)(header < 0 ? 0 : header), GGUF_ALIGN);

    /* ---- data: each tensor from its own stream, so the bytes do not depend
    ** on the chunking */
    enum { CHUNK = 1 << 20 };
    uint8_t *buf = malloc(CHUNK);
    if (!buf && !w.err)
        w.err = ENOMEM;
    for (size_t i = 0; i < n_tensors && !w.err; i++) {
        const syn_tensor_t *t = &ts[i];
        rng_t r;
        rng_seed(&r, seed * UINT64_C(0x100000001B3) + i);
        size_t bb = slm_dtype_block_bytes(t->dtype);
        uint64_t left = t->bytes / bb; /* blocks */
        while (left && !w.err) {
            size_t n = left < CHUNK / bb ? (size_t)left : CHUNK / bb;
            fill_blocks(t->dtype, &r, t->sigma, buf, n);
            w_bytes(&w, buf, n * bb);
            left -= n;
        }
        w_pad(&w, t->bytes, GGUF_ALIGN);
    }
    free(buf);
    free(ts);
    if (fclose(w.f) != 0 && !w.err)
        w.err = errno ? errno : EIO;
    if (w.err) {
        fprintf(stderr, "slm-bench: writing '%s' failed: %s\n", path, strerror(w.err));
        remove(path);
        return 1;
    }
    fprintf(stderr, "slm-bench: wrote %s: %s, %s weights, %.1f MiB of tensors\n", path, sh->name,
            wt->name, (double)total / (1024.0 * 1024.0));
    return 0;
}

/* ------------------------------------------- GGUF tensor table (reading) */

/* What the roofline needs from a GGUF file, read from its tensor table. */
typedef struct gguf_facts {
    uint64_t n_tensors;
    uint64_t total_bytes;          /* all tensor data */
    uint64_t embd_bytes, embd_rows;
    bool has_embd, has_output;
    uint64_t type_bytes[SLM_DTYPE_COUNT]; /* bytes of 2-D tensors by type */
    uint64_t bytes_per_token;      /* weights read per generated token */
} gguf_facts_t;

typedef struct reader {
    FILE *f;
    const char *path;
    uint64_t size;                 /* of the file, to bound every length */
    char what[160];                /* the field that failed */
} reader_t;

static bool rd(reader_t *r, void *p, size_t n, const char *what)
{
    if (fread(p, 1, n, r->f) != n) {
        snprintf(r->what, sizeof r->what, "%s: file ends early", what);
        return false;
    }
    return true;
}

/* Skip n bytes, which must all be in the file (fseeko alone would go past
** the end without complaint). */
static bool rd_skip(reader_t *r, uint64_t n, const char *what)
{
    off_t pos = ftello(r->f);
    if (pos < 0 || n > r->size - (uint64_t)pos || fseeko(r->f, (off_t)n, SEEK_CUR) != 0) {
        snprintf(r->what, sizeof r->what, "%s: %" PRIu64 " bytes run past the end of the file",
                 what, n);
        return false;
    }
    return true;
}

static bool rd_u32(reader_t *r, uint32_t *v, const char *what) { return rd(r, v, 4, what); }
static bool rd_u64(reader_t *r, uint64_t *v, const char *what) { return rd(r, v, 8, what); }

/* Bytes of a fixed-size metadata value; 0 for string, array or unknown. */
static uint64_t kv_size(uint32_t type)
{
    static const uint8_t sz[13] = { 1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8 };
    return type < 13 ? sz[type] : 0;
}

static bool skip_value(reader_t *r, uint32_t type, int depth)
{
    if (type == KV_STRING) {
        uint64_t len;
        return rd_u64(r, &len, "string length") && rd_skip(r, len, "string");
    }
    if (type == KV_ARRAY && depth < 2) {
        uint32_t et;
        uint64_t count;
        if (!rd_u32(r, &et, "array type") || !rd_u64(r, &count, "array count"))
            return false;
        if (count > r->size) {
            snprintf(r->what, sizeof r->what, "array of %" PRIu64 " elements", count);
            return false;
        }
        if (kv_size(et))
            return rd_skip(r, count * kv_size(et), "array");
        for (uint64_t i = 0; i < count; i++)
            if (!skip_value(r, et, depth + 1))
                return false;
        return true;
    }
    if (!kv_size(type)) {
        snprintf(r->what, sizeof r->what, "metadata value type %u", type);
        return false;
    }
    return rd_skip(r, kv_size(type), "value");
}

/* Read `path`'s tensor table into *out. false: r->what says why. */
static bool read_gguf_facts(reader_t *r, gguf_facts_t *out)
{
    memset(out, 0, sizeof *out);
    char magic[4];
    uint32_t version;
    uint64_t n_kv;
    if (!rd(r, magic, 4, "magic"))
        return false;
    if (memcmp(magic, "GGUF", 4)) {
        snprintf(r->what, sizeof r->what, "not a GGUF file (magic)");
        return false;
    }
    if (!rd_u32(r, &version, "version") || !rd_u64(r, &out->n_tensors, "tensor count") ||
        !rd_u64(r, &n_kv, "metadata count"))
        return false;
    if (version < 2 || version > 3) {
        snprintf(r->what, sizeof r->what, "GGUF version %u (2 and 3 are read)", version);
        return false;
    }
    if (n_kv > r->size || out->n_tensors > r->size) {
        snprintf(r->what, sizeof r->what, "counts larger than the file");
        return false;
    }
    for (uint64_t i = 0; i < n_kv; i++) {
        uint32_t type;
        if (!skip_value(r, KV_STRING, 0) || !rd_u32(r, &type, "metadata type") ||
            !skip_value(r, type, 0))
            return false;
    }
    for (uint64_t i = 0; i < out->n_tensors; i++) {
        uint64_t len, ne[4] = { 1, 1, 1, 1 }, offset;
        uint32_t n_dims, type;
        char name[64] = "";
        if (!rd_u64(r, &len, "tensor name length"))
            return false;
        if (len < sizeof name) {
            if (!rd(r, name, (size_t)len, "tensor name"))
                return false;
            name[len] = '\0';
        } else if (!rd_skip(r, len, "tensor name")) {
            return false;
        }
        if (!rd_u32(r, &n_dims, "tensor dimensions"))
            return false;
        if (n_dims < 1 || n_dims > 4) {
            snprintf(r->what, sizeof r->what, "tensor '%s': %u dimensions", name, n_dims);
            return false;
        }
        for (uint32_t d = 0; d < n_dims; d++)
            if (!rd_u64(r, &ne[d], "tensor shape"))
                return false;
        if (!rd_u32(r, &type, "tensor type") || !rd_u64(r, &offset, "tensor offset"))
            return false;
        int64_t be = type < SLM_DTYPE_COUNT ? slm_dtype_block_elems((slm_dtype_t)type) : 0;
        if (be <= 0) {
            snprintf(r->what, sizeof r->what, "tensor '%s': type id %u unknown here", name, type);
            return false;
        }
        /* no tensor holds more than two values per byte of the file */
        uint64_t n = 1;
        for (int d = 0; d < 4; d++) {
            if (ne[d] == 0 || ne[d] > r->size * 2 || n > UINT64_MAX / ne[d]) {
                snprintf(r->what, sizeof r->what, "tensor '%s': shape does not fit the file", name);
                return false;
            }
            n *= ne[d];
        }
        uint64_t bytes = n / (uint64_t)be * slm_dtype_block_bytes((slm_dtype_t)type);
        out->total_bytes += bytes;
        if (n_dims == 2)
            out->type_bytes[type] += bytes;
        if (!strcmp(name, "token_embd.weight")) {
            out->has_embd = true;
            out->embd_bytes = bytes;
            out->embd_rows = ne[1] * ne[2] * ne[3];
        } else if (!strcmp(name, "output.weight")) {
            out->has_output = true;
        }
    }
    uint64_t b = out->total_bytes;
    if (out->has_embd) {
        /* the embedding table is read one row per token; without
        ** output.weight the same table is the classifier, read whole */
        if (out->has_output)
            b -= out->embd_bytes;
        b += out->embd_bytes / (out->embd_rows ? out->embd_rows : 1);
    }
    out->bytes_per_token = b;
    return true;
}

/* Read `path`'s tensor table; false (message printed) when it cannot be. */
static bool gguf_facts(const char *path, gguf_facts_t *out)
{
    reader_t r = { fopen(path, "rb"), path, 0, "" };
    struct stat st;
    if (!r.f) {
        fprintf(stderr, "slm-bench: cannot open '%s': %s\n", path, strerror(errno));
        return false;
    }
    if (fstat(fileno(r.f), &st) != 0) {
        fprintf(stderr, "slm-bench: cannot stat '%s': %s\n", path, strerror(errno));
        fclose(r.f);
        return false;
    }
    r.size = (uint64_t)st.st_size;
    bool ok = read_gguf_facts(&r, out);
    fclose(r.f);
    if (!ok)
        fprintf(stderr, "slm-bench: %s: %s\n", path, r.what);
    return ok;
}

/* -------------------------------------------------------------- bandwidth */

/* Sum of n bytes (a multiple of 256) at p (64-byte aligned), as 64-bit
** words: a pure read stream, like decoding's pass over the weights. */
typedef uint64_t (*sum_fn)(const uint8_t *p, size_t n);

static uint64_t sum_portable(const uint8_t *p, size_t n)
{
    const uint64_t *q = (const uint64_t *)(const void *)p;
    uint64_t a[8] = { 0 };
    for (size_t i = 0; i < n / 8; i += 8)
        for (int j = 0; j < 8; j++)
            a[j] += q[i + j];
    return a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
}

#ifdef BENCH_X86
/* Wide loads with several accumulators keep enough reads in flight that
** the memory system, not the loop, sets the rate. */
__attribute__((target("avx2"))) static uint64_t sum_avx2(const uint8_t *p, size_t n)
{
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < n; i += 128) {
        a0 = _mm256_add_epi64(a0, _mm256_load_si256((const __m256i *)(const void *)(p + i)));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256((const __m256i *)(const void *)(p + i + 32)));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256((const __m256i *)(const void *)(p + i + 64)));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256((const __m256i *)(const void *)(p + i + 96)));
    }
    a0 = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
    uint64_t v[4];
    _mm256_storeu_si256((__m256i *)(void *)v, a0);
    return v[0] + v[1] + v[2] + v[3];
}

__attribute__((target("avx512f"))) static uint64_t sum_avx512(const uint8_t *p, size_t n)
{
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < n; i += 256) {
        a0 = _mm512_add_epi64(a0, _mm512_load_si512((const void *)(p + i)));
        a1 = _mm512_add_epi64(a1, _mm512_load_si512((const void *)(p + i + 64)));
        a2 = _mm512_add_epi64(a2, _mm512_load_si512((const void *)(p + i + 128)));
        a3 = _mm512_add_epi64(a3, _mm512_load_si512((const void *)(p + i + 192)));
    }
    return (uint64_t)_mm512_reduce_add_epi64(
        _mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3)));
}
#endif

static sum_fn pick_sum(const char **name)
{
#ifdef BENCH_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        *name = "avx512";
        return sum_avx512;
    }
    if (__builtin_cpu_supports("avx2")) {
        *name = "avx2";
        return sum_avx2;
    }
#endif
    *name = "portable";
    return sum_portable;
}

#define BW_PASSES 10

/* Threads wait at the gate until all of them exist (or one could not be
** started, and all leave), then meet at the barrier before every pass. */
typedef struct bw_shared {
    pthread_mutex_t lock;
    pthread_cond_t open;
    int state;                /* 0: wait, 1: go, -1: leave */
    pthread_barrier_t barrier;
} bw_shared_t;

typedef struct bw_thread {
    pthread_t tid;
    uint8_t *p;               /* this thread's slice */
    size_t n;
    sum_fn sum;
    bw_shared_t *sh;
    double start[BW_PASSES], end[BW_PASSES];
    uint64_t sink;            /* keeps the sums from being optimised away */
} bw_thread_t;

static void *bw_worker(void *arg)
{
    bw_thread_t *t = arg;
    pthread_mutex_lock(&t->sh->lock);
    while (t->sh->state == 0)
        pthread_cond_wait(&t->sh->open, &t->sh->lock);
    int state = t->sh->state;
    pthread_mutex_unlock(&t->sh->lock);
    if (state < 0)
        return NULL;
    /* Written by the thread that reads it, so that pages are real (not the
    ** shared zero page) and, on NUMA machines, local. */
    memset(t->p, 1, t->n);
    for (int pass = 0; pass < BW_PASSES; pass++) {
        pthread_barrier_wait(&t->sh->barrier);
        t->start[pass] = now_ms();
        t->sink += t->sum(t->p, t->n);
        t->end[pass] = now_ms();
    }
    return NULL;
}

static void bw_open_gate(bw_shared_t *sh, int state)
{
    pthread_mutex_lock(&sh->lock);
    sh->state = state;
    pthread_cond_broadcast(&sh->open);
    pthread_mutex_unlock(&sh->lock);
}

/* Read bandwidth in GB/s (1e9 bytes/s) with `n_threads` threads over
** `bytes` in all: the best pass, each pass timed from the first thread's
** start to the last thread's end. 0 on failure (message printed). */
static double measure_bandwidth(size_t bytes, uint32_t n_threads, sum_fn sum)
{
    size_t slice = bytes / n_threads / 256 * 256;
    if (slice == 0)
        slice = 256;
    uint8_t *buf = aligned_alloc(64, slice * n_threads);
    bw_thread_t *ts = calloc(n_threads, sizeof *ts);
    bw_shared_t sh = { .state = 0 };
    if (!buf || !ts || pthread_barrier_init(&sh.barrier, NULL, n_threads) != 0) {
        fprintf(stderr, "slm-bench: bandwidth: cannot allocate %zu MiB\n", (slice * n_threads) >> 20);
        free(buf);
        free(ts);
        return 0;
    }
    pthread_mutex_init(&sh.lock, NULL);
    pthread_cond_init(&sh.open, NULL);
    uint32_t started = 0;
    for (; started < n_threads; started++) {
        ts[started] = (bw_thread_t){ .p = buf + slice * started, .n = slice, .sum = sum, .sh = &sh };
        if (pthread_create(&ts[started].tid, NULL, bw_worker, &ts[started]) != 0)
            break;
    }
    bw_open_gate(&sh, started == n_threads ? 1 : -1);
    uint64_t sink = 0;
    for (uint32_t i = 0; i < started; i++) {
        pthread_join(ts[i].tid, NULL);
        sink += ts[i].sink;
    }
    double best = 0;
    if (started < n_threads) {
        fprintf(stderr, "slm-bench: bandwidth: cannot start %u threads\n", n_threads);
    } else {
        for (int pass = 0; pass < BW_PASSES; pass++) {
            double t0 = ts[0].start[pass], t1 = ts[0].end[pass];
            for (uint32_t i = 1; i < n_threads; i++) {
                t0 = fmin(t0, ts[i].start[pass]);
                t1 = fmax(t1, ts[i].end[pass]);
            }
            if (t1 > t0)
                best = fmax(best, (double)(slice * n_threads) / ((t1 - t0) * 1e-3) / 1e9);
        }
        /* every byte is 1, so the sum is known: a check that all was read */
        if (sink != (uint64_t)BW_PASSES * (slice * n_threads / 8) * UINT64_C(0x0101010101010101))
            fprintf(stderr, "slm-bench: bandwidth: the read-back sum is wrong\n");
    }
    pthread_barrier_destroy(&sh.barrier);
    pthread_cond_destroy(&sh.open);
    pthread_mutex_destroy(&sh.lock);
    free(ts);
    free(buf);
    return best;
}

/* ----------------------------------------------------------- benchmarks */

typedef struct bench_args {
    const char *model;
    long n_prompt, n_gen, reps, batch, bw_mib;
    uint32_t threads[MAX_LIST];
    int n_threads;
    char *backend_list;       /* owned; backends[] point into it */
    char *backends[MAX_LIST];
    int n_backends;
    bool json;
    const char *write_path, *shape, *type, *output_type;
    uint64_t seed;
} bench_args_t;

enum { RUN_OK = 0, RUN_SKIPPED = 1, RUN_FAILED = 2 };

/* What one child measured, sent back whole through a pipe. */
typedef struct run_result {
    int state;                /* RUN_* */
    char backend[32];         /* as asked for */
    char device[64];          /* id of the device ranked first */
    char device_name[128];
    uint32_t threads;
    double load_ms, ttft_ms;
    int n_reps;
    double pp_ms[MAX_REPS], tg_ms[MAX_REPS];   /* per repetition */
    double pp_tps[MAX_REPS], tg_tps[MAX_REPS];
    uint64_t peak_rss;        /* bytes */
    double bw_gbps;           /* read bandwidth right after, same threads;
                                 0: not measured */
    /* the model, as slm sees it */
    char arch[32], name[96];
    uint64_t n_params, n_bytes;
    uint32_t n_vocab, n_embd, n_ctx_train;
    char error[512];
} run_result_t;

/* Peak resident set in bytes: VmHWM, else ru_maxrss (KiB on Linux). */
static uint64_t peak_rss(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long long kb = 0;
    if (f) {
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "VmHWM: %llu kB", &kb) == 1)
                break;
        fclose(f);
    }
    if (!kb) {
        struct rusage ru;
        if (getrusage(RUSAGE_SELF, &ru) == 0)
            kb = (unsigned long long)ru.ru_maxrss;
    }
    return (uint64_t)kb * 1024;
}

static int32_t argmax(const float *v, uint32_t n)
{
    uint32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return (int32_t)best;
}

static void run_fail(run_result_t *res, const char *what)
{
    res->state = RUN_FAILED;
    snprintf(res->error, sizeof res->error, "%s: %s", what, slm_last_error());
}

/* Evaluate tokens[0..n-1] one at a time; false on failure. */
static bool eval_singly(slm_session_t *s, const int32_t *tokens, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (slm_session_eval(s, tokens + i, 1) != SLM_OK)
            return false;
    return true;
}

/* One backend at one thread count, start to finish. Runs in the child. */
static void run_one(const bench_args_t *a, const char *backend, uint32_t threads, run_result_t *res)
{
    memset(res, 0, sizeof *res);
    snprintf(res->backend, sizeof res->backend, "%s", backend);
    res->threads = threads;
    res->n_reps = (int)a->reps;

    slm_runtime_opts_t ro = SLM_RUNTIME_OPTS_INIT;
    ro.backends = backend;
    ro.n_threads = threads;
    slm_runtime_t *rt = NULL;
    slm_model_t *m = NULL;
    slm_session_t *s = NULL;
    int32_t *tokens = NULL;
    slm_status_t st = slm_runtime_create(&ro, &rt);
    if (st != SLM_OK) {
        run_fail(res, "runtime");
        /* a backend absent from this machine or build is not an error */
        if (st == SLM_ERR_NO_DEVICE)
            res->state = RUN_SKIPPED;
        return;
    }
    const slm_device_desc_t *dev = slm_runtime_device(rt, 0);
    /* The roofline is the host's memory bandwidth: a discrete GPU reads
    ** its weights from memory of its own, where it says nothing. */
    bool host_roofline = true;
    if (dev) {
        snprintf(res->device, sizeof res->device, "%s", dev->id);
        snprintf(res->device_name, sizeof res->device_name, "%s", dev->info->name);
        host_roofline = dev->info->kind != SLM_DEVICE_GPU;
    }

    double t0 = now_ms();
    if (slm_model_open(rt, a->model, NULL, &m) != SLM_OK) {
        run_fail(res, "model");
        goto out;
    }
    res->load_ms = now_ms() - t0;
    const slm_model_info_t *mi = slm_model_info(m);
    snprintf(res->arch, sizeof res->arch, "%s", mi->arch);
    snprintf(res->name, sizeof res->name, "%s", mi->name);
    res->n_params = mi->n_params;
    res->n_bytes = mi->n_bytes;
    res->n_vocab = mi->n_vocab;
    res->n_embd = mi->n_embd;
    res->n_ctx_train = mi->n_ctx_train;

    const uint32_t p = (uint32_t)a->n_prompt, n = (uint32_t)a->n_gen;
    const uint32_t n_ctx = p > n + 1 ? p : n + 1;
    if (mi->n_ctx_train && n_ctx > mi->n_ctx_train) {
        res->state = RUN_FAILED;
        snprintf(res->error, sizeof res->error,
                 "-p %u / -n %u need a context of %u tokens; the model's is %u", p, n, n_ctx,
                 mi->n_ctx_train);
        goto out;
    }
    /* Any valid ids do: the cost of a forward pass does not depend on them.
    ** A fixed pseudo-random sequence after BOS, clear of the first ids
    ** (special tokens in most vocabularies). */
    tokens = malloc(n_ctx * sizeof *tokens);
    if (!tokens) {
        res->state = RUN_FAILED;
        snprintf(res->error, sizeof res->error, "out of memory");
        goto out;
    }
    uint64_t seq = 42;
    for (uint32_t i = 0; i < n_ctx; i++)
        tokens[i] = mi->n_vocab > 3 ? 3 + (int32_t)(splitmix64(&seq) % (mi->n_vocab - 3))
                                    : (int32_t)(i % mi->n_vocab);
    if (mi->bos >= 0)
        tokens[0] = mi->bos;

    slm_session_opts_t so = SLM_SESSION_OPTS_INIT;
    so.n_ctx = n_ctx;
    so.n_batch = a->batch ? (uint32_t)a->batch : (p ? p : 1);
    if (slm_session_create(m, &so, &s) != SLM_OK) {
        run_fail(res, "session");
        goto out;
    }

    /* pp: the warm-up also brings the mapped weights into memory and plans
    ** the graph, neither of which belongs in a throughput figure */
    if (p) {
        for (int rep = -1; rep < res->n_reps; rep++) {
            slm_session_reset(s);
            t0 = now_ms();
            if (slm_session_eval(s, tokens, p) != SLM_OK) {
                run_fail(res, "prompt");
                goto out;
            }
            double ms = now_ms() - t0;
            if (rep >= 0) {
                res->pp_ms[rep] = ms;
                res->pp_tps[rep] = p * 1e3 / ms;
            }
        }
    }
    /* tg: the warm-up decodes all n tokens too, so that every attention
    ** span the repetitions reach has its graph planned already */
    if (n) {
        for (int rep = -1; rep < res->n_reps; rep++) {
            slm_session_reset(s);
            if (slm_session_eval(s, tokens, 1) != SLM_OK) {
                run_fail(res, "generation prompt");
                goto out;
            }
            t0 = now_ms();
            if (!eval_singly(s, tokens + 1, n)) {
                run_fail(res, "generation");
                goto out;
            }
            double ms = now_ms() - t0;
            if (rep >= 0) {
                res->tg_ms[rep] = ms;
                res->tg_tps[rep] = n * 1e3 / ms;
            }
        }
    }
    /* ttft: what an application with the model loaded waits for when a new
    ** conversation starts: the session, its graph, the prompt, the pick */
    if (p) {
        double ttft[MAX_REPS] = { 0 };
        for (int rep = 0; rep < res->n_reps; rep++) {
            slm_session_t *fresh = NULL;
            slm_session_opts_t fo = SLM_SESSION_OPTS_INIT;
            fo.n_ctx = p;
            fo.n_batch = so.n_batch;
            t0 = now_ms();
            if (slm_session_create(m, &fo, &fresh) != SLM_OK ||
                slm_session_eval(fresh, tokens, p) != SLM_OK) {
                slm_session_destroy(fresh);
                run_fail(res, "first token");
                goto out;
            }
            volatile int32_t first = argmax(slm_session_logits(fresh), mi->n_vocab);
            (void)first;
            ttft[rep] = now_ms() - t0;
            slm_session_destroy(fresh);
        }
        res->ttft_ms = median(ttft, res->n_reps);
    }
    res->peak_rss = peak_rss();
    /* The bandwidth of a machine shared with others, or whose cores sit on
    ** different memory paths, changes from minute to minute: measured here,
    ** right after the run and with its thread count, the roofline describes
    ** the conditions the run had. After the RSS, which it would swell. */
    if (a->bw_mib && n && host_roofline) {
        const char *kernel;
        res->bw_gbps = measure_bandwidth((size_t)a->bw_mib << 20, threads, pick_sum(&kernel));
    }
out:
    free(tokens);
    slm_session_destroy(s);
    slm_model_close(m);
    slm_runtime_destroy(rt);
}

static bool write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t k = write(fd, b, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return false;
        b += k, n -= (size_t)k;
    }
    return true;
}

/*
** Run one (backend, threads) pair in a child process and collect its result.
** A fresh process gives each pair its own peak RSS and a cold start, and a
** crash in one backend cannot take the others with it.
*/
static void run_in_child(const bench_args_t *a, const char *backend, uint32_t threads,
                         run_result_t *res)
{
    int fds[2];
    memset(res, 0, sizeof *res);
    snprintf(res->backend, sizeof res->backend, "%s", backend);
    res->threads = threads;
    res->state = RUN_FAILED;
    fflush(NULL); /* or the child would print the parent's buffers again */
    if (pipe(fds) != 0) {
        snprintf(res->error, sizeof res->error, "pipe: %s", strerror(errno));
        return;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(res->error, sizeof res->error, "fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return;
    }
    if (pid == 0) {
        close(fds[0]);
        run_result_t *r = calloc(1, sizeof *r);
        int ok = r != NULL;
        if (ok) {
            run_one(a, backend, threads, r);
            ok = write_all(fds[1], r, sizeof *r);
        }
        free(r);
        close(fds[1]);
        free(a->backend_list);
        /* exit, not _exit: sanitizer builds check for leaks at exit */
        exit(ok ? 0 : 1);
    }
    close(fds[1]);
    size_t got = 0;
    uint8_t *dst = (uint8_t *)res;
    for (;;) {
        ssize_t k = read(fds[0], dst + got, sizeof *res - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += (size_t)k;
        if (got == sizeof *res)
            break;
    }
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (got != sizeof *res) {
        memset(res, 0, sizeof *res);
        snprintf(res->backend, sizeof res->backend, "%s", backend);
        res->threads = threads;
        res->state = RUN_FAILED;
        if (WIFSIGNALED(status))
            snprintf(res->error, sizeof res->error, "the benchmark process died of signal %d",
                     WTERMSIG(status));
        else
            snprintf(res->error, sizeof res->error,
                     "the benchmark process exited with status %d and no result",
                     WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
}

/* Every plugin with a usable device, in rank order: the default list. */
static int default_backends(bench_args_t *a)
{
    slm_runtime_t *rt = NULL;
    if (slm_runtime_create(NULL, &rt) != SLM_OK) {
        fprintf(stderr, "slm-bench: runtime: %s\n", slm_last_error());
        return 1;
    }
    size_t len = 0;
    for (uint32_t i = 0; slm_runtime_device(rt, i); i++)
        len += strlen(slm_runtime_device(rt, i)->plugin) + 1;
    a->backend_list = calloc(1, len + 1);
    if (!a->backend_list) {
        slm_runtime_destroy(rt);
        fprintf(stderr, "slm-bench: out of memory\n");
        return 1;
    }
    char *w = a->backend_list;
    for (uint32_t i = 0; a->n_backends < MAX_LIST; i++) {
        const slm_device_desc_t *d = slm_runtime_device(rt, i);
        if (!d)
            break;
        bool seen = false;
        for (int j = 0; j < a->n_backends; j++)
            seen = seen || !strcmp(a->backends[j], d->plugin);
        if (seen || !d->enabled)
            continue;
        strcpy(w, d->plugin);
        a->backends[a->n_backends++] = w;
        w += strlen(w) + 1;
    }
    slm_runtime_destroy(rt);
    if (!a->n_backends) {
        fprintf(stderr, "slm-bench: no backend has a usable device (see slm-probe)\n");
        return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------- output */

typedef struct report {
    const bench_args_t *a;
    gguf_facts_t facts;
    const char *bw_kernel;    /* the loads the bandwidth sum uses */
    run_result_t *runs;
    int n_runs;
    const run_result_t *model;     /* a run that opened the model, or NULL */
} report_t;

/* Roofline tokens/s of a run; 0 when unknown. */
static double roofline_tps(const report_t *rp, const run_result_t *r)
{
    return r->bw_gbps > 0 && rp->facts.bytes_per_token
               ? r->bw_gbps * 1e9 / (double)rp->facts.bytes_per_token : 0;
}

/* "q4_0": the type holding most of the matrices' bytes. */
static const char *main_type(const report_t *rp)
{
    int best = 0;
    for (int t = 1; t < SLM_DTYPE_COUNT; t++)
        if (rp->facts.type_bytes[t] > rp->facts.type_bytes[best])
            best = t;
    return slm_dtype_name((slm_dtype_t)best);
}

static void model_label(const report_t *rp, char *out, size_t n)
{
    const run_result_t *m = rp->model;
    char type[16];
    snprintf(type, sizeof type, "%s", main_type(rp));
    for (char *c = type; *c; c++)
        if (*c >= 'a' && *c <= 'z')
            *c = (char)(*c - 'a' + 'A');
    double b = (double)m->n_params / 1e9, mil = (double)m->n_params / 1e6;
    if (b >= 1)
        snprintf(out, n, "%s %.1fB %s", m->arch, b, type);
    else
        snprintf(out, n, mil >= 10 ? "%s %.0fM %s" : "%s %.1fM %s", m->arch, mil, type);
}

static void print_tables(const report_t *rp)
{
    const bench_args_t *a = rp->a;
    const run_result_t *m = rp->model;
    char label[96], pp[16], tg[16];
    model_label(rp, label, sizeof label);
    snprintf(pp, sizeof pp, "pp%ld", a->n_prompt);
    snprintf(tg, sizeof tg, "tg%ld", a->n_gen);
    double mib = (double)m->n_bytes / (1024.0 * 1024.0);
    char size[32], params[32];
    if (mib >= 1024)
        snprintf(size, sizeof size, "%.2f GiB", mib / 1024);
    else
        snprintf(size, sizeof size, "%.2f MiB", mib);
    snprintf(params, sizeof params, "%.2f %s", m->n_params >= 1000000000 ? m->n_params / 1e9
             : m->n_params / 1e6, m->n_params >= 1000000000 ? "B" : "M");

    printf("| model | size | params | backend | threads | test | t/s | roofline |\n"
           "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |\n");
    for (int i = 0; i < rp->n_runs; i++) {
        const run_result_t *r = &rp->runs[i];
        if (r->state != RUN_OK)
            continue;
        if (a->n_prompt)
            printf("| %s | %s | %s | %s | %u | %s | %.2f ± %.2f | |\n", label, size, params,
                   r->backend, r->threads, pp, median(r->pp_tps, r->n_reps),
                   stddev(r->pp_tps, r->n_reps));
        if (a->n_gen) {
            double roof = roofline_tps(rp, r), tps = median(r->tg_tps, r->n_reps);
            char frac[16] = "";
            if (roof > 0)
                snprintf(frac, sizeof frac, "%.0f%%", 100 * tps / roof);
            printf("| %s | %s | %s | %s | %u | %s | %.2f ± %.2f | %s |\n", label, size, params,
                   r->backend, r->threads, tg, tps, stddev(r->tg_tps, r->n_reps), frac);
        }
    }

    printf("\n| backend | device | threads | load ms | ttft %s ms | %s t/s | %s t/s | "
           "bandwidth GB/s | roofline t/s | %s / roofline | peak RSS MiB |\n"
           "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
           pp, pp, tg, tg);
    for (int i = 0; i < rp->n_runs; i++) {
        const run_result_t *r = &rp->runs[i];
        if (r->state != RUN_OK)
            continue;
        double roof = roofline_tps(rp, r), tps = median(r->tg_tps, r->n_reps);
        char c_pp[32] = "-", c_tg[32] = "-", c_roof[32] = "-", c_frac[32] = "-", c_ttft[32] = "-",
             c_bw[32] = "-";
        if (a->n_prompt) {
            snprintf(c_pp, sizeof c_pp, "%.2f", median(r->pp_tps, r->n_reps));
            snprintf(c_ttft, sizeof c_ttft, "%.2f", r->ttft_ms);
        }
        if (a->n_gen)
            snprintf(c_tg, sizeof c_tg, "%.2f", tps);
        if (roof > 0) {
            snprintf(c_bw, sizeof c_bw, "%.1f", r->bw_gbps);
            snprintf(c_roof, sizeof c_roof, "%.1f", roof);
            if (a->n_gen)
                snprintf(c_frac, sizeof c_frac, "%.0f%%", 100 * tps / roof);
        }
        printf("| %s | %s | %u | %.2f | %s | %s | %s | %s | %s | %s | %.1f |\n", r->backend,
               r->device, r->threads, r->load_ms, c_ttft, c_pp, c_tg, c_bw, c_roof, c_frac,
               (double)r->peak_rss / (1024.0 * 1024.0));
    }

    printf("\nmodel: %s (%s), %" PRIu64 " tensor bytes; weights read per generated token: "
           "%.1f MB (all tensors but the token embeddings, of which one row)\n", a->model,
           m->name[0] ? m->name : label, m->n_bytes, (double)rp->facts.bytes_per_token / 1e6);
    if (a->bw_mib && a->n_gen)
        printf("bandwidth: a sum over %ld MiB with %s loads, best of %d passes, measured right "
               "after each run with its thread count\n", a->bw_mib, rp->bw_kernel, BW_PASSES);
}

static void json_samples(const double *v, int n)
{
    putchar('[');
    for (int i = 0; i < n; i++)
        printf("%s%.4f", i ? ", " : "", v[i]);
    putchar(']');
}

static void json_test(const char *key, long n_tokens, const double *tps, const double *ms, int n)
{
    printf("      \"%s\": {\"n_tokens\": %ld, \"tps\": %.4f, \"tps_mean\": %.4f, "
           "\"tps_stddev\": %.4f, \"samples_tps\": ", key, n_tokens, median(tps, n), mean(tps, n),
           stddev(tps, n));
    json_samples(tps, n);
    printf(", \"samples_ms\": ");
    json_samples(ms, n);
    printf("},\n");
}

static void print_json(const report_t *rp)
{
    const bench_args_t *a = rp->a;
    const run_result_t *m = rp->model;
    printf("{\n  \"slm_version\": \"%s\",\n  \"model\": {\"path\": ", SLM_VERSION_STRING);
    json_str(stdout, a->model);
    if (m) {
        printf(", \"name\": ");
        json_str(stdout, m->name);
        printf(", \"arch\": ");
        json_str(stdout, m->arch);
        printf(", \"type\": \"%s\", \"n_params\": %" PRIu64 ", \"n_bytes\": %" PRIu64
               ", \"n_vocab\": %u, \"n_embd\": %u", main_type(rp), m->n_params, m->n_bytes,
               m->n_vocab, m->n_embd);
    }
    printf(", \"bytes_per_token\": %" PRIu64 "},\n", rp->facts.bytes_per_token);
    printf("  \"n_prompt\": %ld, \"n_gen\": %ld, \"repetitions\": %ld,\n", a->n_prompt, a->n_gen,
           a->reps);
    printf("  \"bandwidth\": {\"bytes\": %ld, \"kernel\": \"%s\", \"passes\": %d},\n",
           a->bw_mib * 1024 * 1024, rp->bw_kernel, BW_PASSES);
    printf("  \"results\": [");
    int k = 0;
    for (int i = 0; i < rp->n_runs; i++) {
        const run_result_t *r = &rp->runs[i];
        if (r->state != RUN_OK)
            continue;
        printf("%s\n    {\"backend\": ", k++ ? "," : "");
        json_str(stdout, r->backend);
        printf(", \"device\": ");
        json_str(stdout, r->device);
        printf(", \"device_name\": ");
        json_str(stdout, r->device_name);
        printf(", \"threads\": %u,\n      \"load_ms\": %.4f, ", r->threads, r->load_ms);
        if (a->n_prompt)
            printf("\"ttft_ms\": %.4f, ", r->ttft_ms);
        else
            printf("\"ttft_ms\": null, ");
        printf("\"peak_rss_bytes\": %" PRIu64 ",\n", r->peak_rss);
        if (a->n_prompt)
            json_test("pp", a->n_prompt, r->pp_tps, r->pp_ms, r->n_reps);
        if (a->n_gen)
            json_test("tg", a->n_gen, r->tg_tps, r->tg_ms, r->n_reps);
        double roof = roofline_tps(rp, r);
        if (roof > 0)
            printf("      \"bandwidth_gbps\": %.4f, \"roofline_tps\": %.4f, "
                   "\"tg_roofline_fraction\": %.4f}", r->bw_gbps, roof,
                   median(r->tg_tps, r->n_reps) / roof);
        else
            printf("      \"bandwidth_gbps\": null, \"roofline_tps\": null, "
                   "\"tg_roofline_fraction\": null}");
    }
    printf("\n  ],\n  \"skipped\": [");
    k = 0;
    for (int i = 0; i < rp->n_runs; i++) {
        const run_result_t *r = &rp->runs[i];
        if (r->state == RUN_OK)
            continue;
        printf("%s\n    {\"backend\": ", k++ ? "," : "");
        json_str(stdout, r->backend);
        printf(", \"threads\": %u, \"state\": \"%s\", \"reason\": ", r->threads,
               r->state == RUN_SKIPPED ? "skipped" : "failed");
        json_str(stdout, r->error);
        printf("}");
    }
    printf("%s]\n}\n", k ? "\n  " : "");
}

/* ------------------------------------------------------------- arguments */

static bool parse_long(const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi) {
        fprintf(stderr, "slm-bench: %s '%s': expected an integer in %ld..%ld\n", opt, s, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

/* Split a comma list in place into items (at most MAX_LIST, none empty). */
static bool split_list(const char *opt, char *s, char **items, int *n)
{
    *n = 0;
    for (char *tok = s;;) {
        char *comma = strchr(tok, ',');
        if (comma)
            *comma = '\0';
        if (!*tok || *n == MAX_LIST) {
            fprintf(stderr, "slm-bench: %s: %s\n", opt,
                    *tok ? "too many entries (at most 16)" : "empty entry in the list");
            return false;
        }
        items[(*n)++] = tok;
        if (!comma)
            return true;
        tok = comma + 1;
    }
}

/* 0: run, 1: error, 2: help shown. */
static int parse_args(int argc, char **argv, bench_args_t *a)
{
    char *thread_list = NULL;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        bool ok = true;
        int takes = 1;
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            usage(stdout);
            return 2;
        } else if (!strcmp(o, "--json")) {
            a->json = true, takes = 0;
        } else if (!v) {
            fprintf(stderr, "slm-bench: unknown option or missing value: '%s'\n\n", o);
            usage(stderr);
            return 1;
        } else if (!strcmp(o, "-m") || !strcmp(o, "--model")) {
            a->model = v;
        } else if (!strcmp(o, "-p") || !strcmp(o, "--n-prompt")) {
            ok = parse_long(o, v, 0, 1L << 20, &a->n_prompt);
        } else if (!strcmp(o, "-n") || !strcmp(o, "--n-gen")) {
            ok = parse_long(o, v, 0, 1L << 20, &a->n_gen);
        } else if (!strcmp(o, "-r") || !strcmp(o, "--repetitions")) {
            ok = parse_long(o, v, 1, MAX_REPS, &a->reps);
        } else if (!strcmp(o, "-b") || !strcmp(o, "--batch")) {
            ok = parse_long(o, v, 1, 1L << 20, &a->batch);
        } else if (!strcmp(o, "--bw-size")) {
            ok = parse_long(o, v, 0, 1L << 20, &a->bw_mib);
        } else if (!strcmp(o, "-t") || !strcmp(o, "--threads")) {
            thread_list = argv[i + 1];
        } else if (!strcmp(o, "--backend")) {
            free(a->backend_list);
            a->backend_list = strdup(v);
            ok = a->backend_list && split_list(o, a->backend_list, a->backends, &a->n_backends);
        } else if (!strcmp(o, "--write-synthetic")) {
            a->write_path = v;
        } else if (!strcmp(o, "--shape")) {
            a->shape = v;
        } else if (!strcmp(o, "--type")) {
            a->type = v;
        } else if (!strcmp(o, "--output-type")) {
            a->output_type = v;
        } else if (!strcmp(o, "--seed")) {
            ok = parse_long(o, v, 0, 0x7FFFFFFFL, &n);
            a->seed = (uint64_t)n;
        } else {
            fprintf(stderr, "slm-bench: unknown option '%s'\n\n", o);
            usage(stderr);
            return 1;
        }
        if (!ok)
            return 1;
        i += takes;
    }
    if (a->write_path) {
        if (a->model) {
            fprintf(stderr, "slm-bench: --write-synthetic and -m cannot be combined\n");
            return 1;
        }
        return 0;
    }
    if (!a->model) {
        fprintf(stderr, "slm-bench: no model: pass -m MODEL.gguf (or --write-synthetic PATH)\n\n");
        usage(stderr);
        return 1;
    }
    if (!a->n_prompt && !a->n_gen) {
        fprintf(stderr, "slm-bench: -p 0 and -n 0: nothing to measure\n");
        return 1;
    }
    if (thread_list) {
        char *copy = strdup(thread_list), *items[MAX_LIST];
        int n_items = 0;
        bool ok = copy && split_list("-t", copy, items, &n_items);
        for (int i = 0; ok && i < n_items; i++) {
            long t;
            ok = parse_long("-t", items[i], 1, 4096, &t);
            a->threads[i] = (uint32_t)t;
        }
        a->n_threads = n_items;
        free(copy);
        if (!ok)
            return 1;
    } else {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        a->threads[0] = cpus > 0 ? (uint32_t)cpus : 1;
        a->n_threads = 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv)
{
    bench_args_t a = { .n_prompt = 128, .n_gen = 128, .reps = 5, .bw_mib = 1024,
                       .shape = "tinyllama-1.1b" };
    int rc = parse_args(argc, argv, &a);
    if (rc) {
        free(a.backend_list);
        return rc == 2 ? 0 : 1;
    }
    if (a.write_path) {
        free(a.backend_list);
        return write_synthetic(a.write_path, a.shape, a.type, a.output_type, a.seed);
    }

    report_t rp = { .a = &a };
    if (!gguf_facts(a.model, &rp.facts)) {
        free(a.backend_list);
        return 1;
    }
    if (!a.n_backends && default_backends(&a)) {
        free(a.backend_list);
        return 1;
    }

    pick_sum(&rp.bw_kernel);

    rp.runs = calloc((size_t)a.n_backends * (size_t)a.n_threads, sizeof *rp.runs);
    if (!rp.runs) {
        fprintf(stderr, "slm-bench: out of memory\n");
        free(a.backend_list);
        return 1;
    }
    int n_ok = 0, n_failed = 0;
    for (int b = 0; b < a.n_backends; b++) {
        for (int t = 0; t < a.n_threads; t++) {
            run_result_t *r = &rp.runs[rp.n_runs++];
            fprintf(stderr, "slm-bench: %s, %u thread%s...\n", a.backends[b], a.threads[t],
                    a.threads[t] == 1 ? "" : "s");
            run_in_child(&a, a.backends[b], a.threads[t], r);
            if (r->state == RUN_OK) {
                n_ok++;
                if (!rp.model)
                    rp.model = r;
            } else if (r->state == RUN_SKIPPED) {
                fprintf(stderr, "slm-bench: %s: skipped: %s\n", a.backends[b], r->error);
                break; /* absent at one thread count is absent at all */
            } else {
                n_failed++;
                fprintf(stderr, "slm-bench: %s, %u thread%s: %s\n", a.backends[b], a.threads[t],
                        a.threads[t] == 1 ? "" : "s", r->error);
            }
        }
    }

    if (a.json)
        print_json(&rp);
    else if (rp.model)
        print_tables(&rp);
    if (!n_ok)
        fprintf(stderr, "slm-bench: no backend could run %s\n", a.model);
    free(rp.runs);
    free(a.backend_list);
    return n_ok && !n_failed ? 0 : 1;
}
