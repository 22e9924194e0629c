/*
** make_seeds.c -- the seed corpus of every fuzz target, written from
** scratch: tiny valid inputs of each kind, so that the fuzzers start past
** the first checks instead of rediscovering the formats.
**
** Usage: make_seeds OUTDIR   writes OUTDIR/{gguf,model,tokenizer,config,
**                            graph}/NAME. Deterministic: the same files on
**                            every run and host.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "slm/graph.h"

#include "fuzz_graph.h"
#include "fuzz_vocab.h"
#include "gguf_writer.h"

static const char *outdir;
static int failures;

static void save(const char *target, const char *name, const void *data, size_t size)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", outdir, target);
    if (mkdir(path, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "make_seeds: %s: %s\n", path, strerror(errno));
        failures++;
        return;
    }
    snprintf(path, sizeof path, "%s/%s/%s", outdir, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
        fprintf(stderr, "make_seeds: %s: %s\n", path, strerror(errno));
        failures++;
    }
}

/* Build w into target/name and destroy it. */
static void save_gguf(gguf_writer_t *w, const char *target, const char *name)
{
    size_t size;
    uint8_t *bytes = gw_build(w, &size);
    save(target, name, bytes, size);
    free(bytes);
    gw_destroy(w);
}

/* ------------------------------------------------------------- weights */

static uint32_t rng = 0x5EED5EEDu;

static uint32_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static float small(void)
{
    return (float)((int32_t)(next() % 2001u) - 1000) / 4000.0f;
}

/* A tensor of random contents (norms: ones) of one of the weight types. */
static void weight(gguf_writer_t *w, const char *name, uint32_t type, uint32_t n_dims,
                   int64_t ne0, int64_t ne1, int64_t ne2)
{
    int64_t ne[3] = { ne0, ne1, ne2 };
    size_t bytes = gw_tensor_bytes(type, n_dims, ne);
    uint8_t *data = malloc(bytes ? bytes : 1);
    if (!data)
        abort();
    bool norm = n_dims == 1;
    if (type == GW_F32) {
        for (size_t i = 0; i < bytes / 4; i++) {
            float f = norm ? 1.0f : small();
            memcpy(data + 4 * i, &f, 4);
        }
    } else if (type == GW_F16) {
        for (size_t i = 0; i < bytes / 2; i++) {
            slm_f16_t h = slm_f32_to_f16(norm ? 1.0f : small());
            memcpy(data + 2 * i, &h, 2);
        }
    } else { /* Q8_0 and Q4_0: a small f16 scale, random quants */
        size_t block = type == GW_Q8_0 ? 34 : 18;
        for (size_t b = 0; b < bytes / block; b++) {
            slm_f16_t d = slm_f32_to_f16(0.004f);
            memcpy(data + b * block, &d, 2);
            for (size_t j = 2; j < block; j++)
                data[b * block + j] = (uint8_t)next();
        }
    }
    gw_tensor(w, name, type, n_dims, ne, data, bytes);
    free(data);
}

/* ----------------------------------------------------------------- gguf */

static void gguf_seeds(void)
{
    save_gguf(gw_create(), "gguf", "empty.gguf");

    gguf_writer_t *w = gw_create();
    gw_kv_u8(w, "t.u8", 200);
    gw_kv_i8(w, "t.i8", -100);
    gw_kv_u16(w, "t.u16", 60000);
    gw_kv_i16(w, "t.i16", -30000);
    gw_kv_u32(w, "t.u32", 4000000000u);
    gw_kv_i32(w, "t.i32", -2000000000);
    gw_kv_f32(w, "t.f32", 0.5f);
    gw_kv_bool(w, "t.bool", true);
    gw_kv_str(w, "t.str", "hello");
    gw_kv_u64(w, "t.u64", UINT64_MAX);
    gw_kv_i64(w, "t.i64", INT64_MIN);
    gw_kv_f64(w, "t.f64", 1e300);
    const int16_t i16[3] = { -1, 0, 1 };
    gw_kv_array(w, "t.array.i16", GW_INT16, i16, 3);
    const double f64[2] = { 0.25, -8 };
    gw_kv_array(w, "t.array.f64", GW_FLOAT64, f64, 2);
    const bool b[2] = { true, false };
    gw_kv_array(w, "t.array.bool", GW_BOOL, b, 2);
    const char *const s[3] = { "a", "", "ccc" };
    gw_kv_array_str(w, "t.array.str", s, 3);
    gw_kv_array(w, "t.array.empty", GW_UINT8, NULL, 0);
    gw_kv_u32(w, "general.alignment", 64);
    w->alignment = 64;
    weight(w, "a.f32", GW_F32, 2, 4, 3, 1);
    weight(w, "b.f16", GW_F16, 3, 2, 2, 2);
    weight(w, "c.q8_0", GW_Q8_0, 1, 64, 1, 1);
    weight(w, "d.q4_0", GW_Q4_0, 2, 32, 2, 1);
    int64_t ne[4] = { 256, 1, 1, 2 };
    gw_tensor(w, "e.q4_K", GW_Q4_K, 4, ne, NULL, gw_tensor_bytes(GW_Q4_K, 4, ne));
    gw_tensor(w, "f.q6_K", GW_Q6_K, 1, ne, NULL, gw_tensor_bytes(GW_Q6_K, 1, ne));
    gw_tensor(w, "g.bf16", GW_BF16, 1, ne, NULL, gw_tensor_bytes(GW_BF16, 1, ne));
    gw_tensor(w, "h.i32", GW_I32, 1, ne, NULL, gw_tensor_bytes(GW_I32, 1, ne));
    gw_tensor(w, "i.q5_K", GW_Q5_K, 1, ne, NULL, gw_tensor_bytes(GW_Q5_K, 1, ne));
    save_gguf(w, "gguf", "types.gguf");

    w = gw_create();
    w->version = 2;
    gw_kv_str(w, "general.architecture", "llama");
    weight(w, "x", GW_F32, 1, 8, 1, 1);
    save_gguf(w, "gguf", "v2.gguf");

    for (int v = 0; v < 2; v++) {
        w = gw_create();
        fz_add_vocab(w, v);
        save_gguf(w, "gguf", v ? "vocab-hostile.gguf" : "vocab-clean.gguf");
    }
}

/* ---------------------------------------------------------------- model */

#define N_VOCAB 8

typedef struct spec {
    const char *arch;
    uint32_t type;                /* weight type of the matrices */
    int64_t n_embd, n_layer, n_head, n_head_kv, n_ff, n_expert;
    bool fused;                   /* phi3: attn_qkv and a 2*ff ffn_up */
    bool post_norms;              /* gemma2 */
} spec_t;

static void tiny_vocab(gguf_writer_t *w)
{
    static const char *const tokens[N_VOCAB] = {
        "<unk>", "<s>", "</s>", "\xe2\x96\x81", "a", "b", ("\xe2\x96\x81" "a"), "<0x0A>",
    };
    static const float scores[N_VOCAB] = { 0, 0, 0, -1, -2, -3, -0.5f, 0 };
    static const int32_t types[N_VOCAB] = { 2, 3, 3, 1, 1, 1, 1, 6 };
    gw_kv_str(w, "tokenizer.ggml.model", "llama");
    gw_kv_array_str(w, "tokenizer.ggml.tokens", tokens, N_VOCAB);
    gw_kv_array(w, "tokenizer.ggml.scores", GW_FLOAT32, scores, N_VOCAB);
    gw_kv_array(w, "tokenizer.ggml.token_type", GW_INT32, types, N_VOCAB);
    gw_kv_u32(w, "tokenizer.ggml.bos_token_id", 1);
    gw_kv_u32(w, "tokenizer.ggml.eos_token_id", 2);
}

static gguf_writer_t *tiny_model(const spec_t *s)
{
    gguf_writer_t *w = gw_create();
    char key[96];
#define KEY(suffix) (snprintf(key, sizeof key, "%s." suffix, s->arch), key)
    gw_kv_str(w, "general.architecture", s->arch);
    gw_kv_str(w, "general.name", "seed");
    gw_kv_u32(w, KEY("context_length"), 32);
    gw_kv_u32(w, KEY("embedding_length"), (uint32_t)s->n_embd);
    gw_kv_u32(w, KEY("block_count"), (uint32_t)s->n_layer);
    gw_kv_u32(w, KEY("feed_forward_length"), (uint32_t)s->n_ff);
    gw_kv_u32(w, KEY("attention.head_count"), (uint32_t)s->n_head);
    gw_kv_u32(w, KEY("attention.head_count_kv"), (uint32_t)s->n_head_kv);
    gw_kv_f32(w, KEY("attention.layer_norm_rms_epsilon"), 1e-5f);
    gw_kv_f32(w, KEY("rope.freq_base"), 10000.0f);
    if (s->n_expert) {
        gw_kv_u32(w, KEY("expert_count"), (uint32_t)s->n_expert);
        gw_kv_u32(w, KEY("expert_used_count"), 1);
    }
    if (s->post_norms) {
        gw_kv_u32(w, KEY("attention.sliding_window"), 4);
        gw_kv_f32(w, KEY("attn_logit_softcapping"), 50.0f);
        gw_kv_f32(w, KEY("final_logit_softcapping"), 30.0f);
    }
#undef KEY
    tiny_vocab(w);

    const int64_t e = s->n_embd, hd = s->n_embd / s->n_head, ff = s->n_ff;
    const int64_t q = s->n_head * hd, kv = s->n_head_kv * hd;
    const uint32_t t = s->type;
    weight(w, "token_embd.weight", t, 2, e, N_VOCAB, 1);
    weight(w, "output_norm.weight", GW_F32, 1, e, 1, 1);
    if (strcmp(s->arch, "gemma") && strcmp(s->arch, "gemma2"))
        weight(w, "output.weight", t, 2, e, N_VOCAB, 1);
    if (s->fused)
        weight(w, "rope_factors_short.weight", GW_F32, 1, hd / 2, 1, 1);
    for (int64_t il = 0; il < s->n_layer; il++) {
        char name[64];
#define NAME(suffix) (snprintf(name, sizeof name, "blk.%d." suffix, (int)il), name)
        weight(w, NAME("attn_norm.weight"), GW_F32, 1, e, 1, 1);
        if (s->fused) {
            weight(w, NAME("attn_qkv.weight"), t, 2, e, q + 2 * kv, 1);
        } else {
            weight(w, NAME("attn_q.weight"), t, 2, e, q, 1);
            weight(w, NAME("attn_k.weight"), t, 2, e, kv, 1);
            weight(w, NAME("attn_v.weight"), t, 2, e, kv, 1);
        }
        weight(w, NAME("attn_output.weight"), t, 2, q, e, 1);
        weight(w, NAME("ffn_norm.weight"), GW_F32, 1, e, 1, 1);
        if (s->n_expert) {
            weight(w, NAME("ffn_gate_inp.weight"), GW_F32, 2, e, s->n_expert, 1);
            weight(w, NAME("ffn_gate_exps.weight"), t, 3, e, ff, s->n_expert);
            weight(w, NAME("ffn_up_exps.weight"), t, 3, e, ff, s->n_expert);
            weight(w, NAME("ffn_down_exps.weight"), t, 3, ff, e, s->n_expert);
        } else if (s->fused) {
            weight(w, NAME("ffn_up.weight"), t, 2, e, 2 * ff, 1);
            weight(w, NAME("ffn_down.weight"), t, 2, ff, e, 1);
        } else {
            weight(w, NAME("ffn_gate.weight"), t, 2, e, ff, 1);
            weight(w, NAME("ffn_up.weight"), t, 2, e, ff, 1);
            weight(w, NAME("ffn_down.weight"), t, 2, ff, e, 1);
        }
        if (s->post_norms) {
            weight(w, NAME("post_attention_norm.weight"), GW_F32, 1, e, 1, 1);
            weight(w, NAME("post_ffw_norm.weight"), GW_F32, 1, e, 1, 1);
        }
#undef NAME
    }
    return w;
}

static void model_seeds(void)
{
    static const struct { const char *file; spec_t s; } models[] = {
        { "llama.gguf", { "llama", GW_F32, 8, 1, 2, 1, 16, 0, false, false } },
        { "llama-2layers-f16.gguf", { "llama", GW_F16, 8, 2, 2, 2, 8, 0, false, false } },
        { "llama-q8_0.gguf", { "llama", GW_Q8_0, 32, 1, 2, 1, 32, 0, false, false } },
        { "llama-q4_0.gguf", { "llama", GW_Q4_0, 32, 1, 4, 2, 32, 0, false, false } },
        { "llama-moe.gguf", { "llama", GW_F32, 8, 1, 2, 1, 8, 2, false, false } },
        { "phi3.gguf", { "phi3", GW_F32, 8, 1, 2, 2, 8, 0, true, false } },
        { "gemma.gguf", { "gemma", GW_F32, 8, 1, 2, 1, 8, 0, false, false } },
        { "gemma2.gguf", { "gemma2", GW_F32, 8, 1, 2, 1, 8, 0, false, true } },
    };
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        gguf_writer_t *w = tiny_model(&models[i].s);
        /* The model is the most realistic GGUF file there is: the reader
        ** starts from it too. */
        if (i == 0) {
            size_t size;
            uint8_t *bytes = gw_build(w, &size);
            save("gguf", "llama.gguf", bytes, size);
            free(bytes);
        }
        save_gguf(w, "model", models[i].file);
    }
}

/* ------------------------------------------------------------ tokenizer */

static void tokenizer_seed(const char *name, uint8_t mode, const char *text,
                           const int16_t *ids, size_t n_ids)
{
    uint8_t buf[512];
    size_t len = strlen(text), n = 0;
    buf[n++] = mode;
    buf[n++] = (uint8_t)len;
    buf[n++] = (uint8_t)(len >> 8);
    memcpy(buf + n, text, len);
    n += len;
    for (size_t i = 0; i < n_ids; i++) {
        buf[n++] = (uint8_t)ids[i];
        buf[n++] = (uint8_t)((uint16_t)ids[i] >> 8);
    }
    save("tokenizer", name, buf, n);
}

static void tokenizer_seeds(void)
{
    const int16_t story[] = { 1, 262, 259, 270, 272, 274, 2 };
    const int16_t bytes[] = { 0x3 + 0xE4, 0x3 + 0xB8, 0x3 + 0x96, 0x3 + 0xFF, 277, -1, 9999 };
    tokenizer_seed("story", 0x02, "Once upon a time, the end.", story, 7);
    tokenizer_seed("utf8", 0x00, "caf\xc3\xa9 \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x98\x80", bytes, 7);
    tokenizer_seed("invalid-utf8", 0x20, "\xff\xfe\xc0\x80\xe2\x96 ok\xed\xa0\x80", bytes, 4);
    tokenizer_seed("special", 0x1A, "<s>hello<|end|> <|user|>the</s>", story, 3);
    tokenizer_seed("hostile", 0x0F, "<0x41> a\0b <|us<|user|> <|eot_id|>", story, 7);
    tokenizer_seed("hostile-spaces", 0x31, "   ab bc cd  \n\t", bytes, 7);
    tokenizer_seed("empty", 0x06, "", NULL, 0);
}

/* --------------------------------------------------------------- config */

static void config_seeds(void)
{
    static const struct { const char *name, *text; } files[] = {
        { "full.ini",
          "; slm.ini\n[runtime]\nplugin_path = /opt/vendor/slm:plugins\n"
          "backends = vulkan:1, cpu\ndeny = opencl\nthreads = 4\nlog_level = debug\n\n"
          "[backend.vulkan]\ndevice_index = 1\n" },
        { "bom-indent.ini", "\xEF\xBB\xBF  [runtime]\n\tthreads=0 ; default\n  log_level = warn\n" },
        { "empty.ini", "" },
        { "backend-only.ini", "[backend.cpu-avx2]\nthreads = 2\n[backend.x_1]\ndevice_index=0\n" },
        { "errors.ini", "[runtime]\nthreds = 4\n[gpu]\nkey\n" },
        { "lists.ini", "[runtime]\nbackends = ,cpu,,\ndeny = cpu:99, a:b:c\nplugin_path = ::\n" },
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        save("config", files[i].name, files[i].text, strlen(files[i].text));
}

/* ---------------------------------------------------------------- graph */

/* Programs in the format of fuzz_graph.h. Dim bytes index fzg_dims: 0 is
** 1, 4 is 4, 7 is 8, 8 is 16, 10 is 32. */
static void graph_seeds(void)
{
    /* x [8, 4] F32 input, w [8, 16] F32 weight; y = MUL_MAT(w, x) ->
    ** [16, 4]; softmax; RMS norm; output; run. */
    static const uint8_t matmul[] = {
        FZG_TENSOR, FZG_F32, 2, 7, 4, 0, 0, 1,          /* t0 x: INPUT */
        FZG_TENSOR, FZG_F32, 2, 7, 8, 0, 0, 4,          /* t1 w: WEIGHT */
        FZG_DATA, 0, 1, FZG_BIND, 1, 2,
        FZG_OP, SLM_OP_MUL_MAT, 2, 1, 0, FZG_NULL, 0, 0, 0,   /* t2 */
        FZG_OP, SLM_OP_SOFTMAX, 1, 2, FZG_NULL, 0, 0, 1, 1,    /* t3, scale 1 */
        FZG_OP, SLM_OP_RMS_NORM, 1, 3, FZG_NULL, 0, 0, 1, 4,   /* t4, eps */
        FZG_OUTPUT, 4, FZG_RUN,
    };
    save("graph", "matmul", matmul, sizeof matmul);

    /* ROPE over [8, 2, 3] with positions I32 [3]; a transposed view copied
    ** dense; SET_ROWS into a STATE cache. */
    static const uint8_t rope[] = {
        FZG_TENSOR, FZG_F32, 3, 7, 2, 3, 0, 1,          /* t0 q */
        FZG_TENSOR, FZG_I32, 1, 3, 0, 0, 0, 1,          /* t1 pos */
        FZG_DATA, 0, 3, FZG_DATA, 1, 4,
        FZG_OP, SLM_OP_ROPE, 2, 0, 1, FZG_NULL, 0, 3, 5, 0, 0, 1, 5,  /* t2 */
        FZG_VIEW, 2, 2, 3, 7, 0, 0,                     /* t3: [3, 8] of t2, */
        FZG_RAW, 64, 0, 0, 0, 0, 0, 0, 0,               /* transposed */
        FZG_RAW, 4, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0,
        FZG_OP, SLM_OP_COPY, 1, 3, FZG_NULL, 0, 0, 0, /* t4 dense */
        FZG_TENSOR, FZG_F32, 2, 7, 8, 0, 0, 8,          /* t5 cache: STATE */
        FZG_TENSOR, FZG_I32, 1, 3, 0, 0, 0, 1,          /* t6 ids */
        FZG_DATA, 6, 5,
        FZG_VIEW, 2, 2, 7, 3, 0, 0, 0, 0, 0, 0, 0,     /* t7 [8, 3] */
        FZG_OP, SLM_OP_SET_ROWS, 2, 7, 6, 5, 0, 0,
        FZG_OUTPUT, 5, FZG_RUN,
        FZG_TAMPER, 3, FZG_T_NB, 1, 0, 0xFF, 0xFF, FZG_RUN,
    };
    save("graph", "rope-copy-setrows", rope, sizeof rope);

    /* GET_ROWS from a Q4_0 table, ARGSORT, TOP_K, SUM_ROWS, MUL_MAT_ID. */
    static const uint8_t rows[] = {
        FZG_TENSOR, FZG_Q4_0, 2, 10, 4, 0, 0, 4,        /* t0 table [32, 4] */
        FZG_TENSOR, FZG_I32, 1, 2, 0, 0, 0, 1,          /* t1 ids [2] */
        FZG_BIND, 0, 6, FZG_DATA, 1, 7,
        FZG_OP, SLM_OP_GET_ROWS, 2, 0, 1, FZG_NULL, 0, 0, 0,  /* t2 [32, 2] */
        FZG_OP, SLM_OP_ARGSORT, 1, 2, FZG_NULL, 0, 1, 1, 0,   /* t3 */
        FZG_OP, SLM_OP_TOP_K, 1, 2, FZG_NULL, 0, 1, 4, 0,     /* t4 */
        FZG_OP, SLM_OP_SUM_ROWS, 1, 2, FZG_NULL, 0, 0, 0,     /* t5 */
        FZG_TENSOR, FZG_F32, 3, 10, 4, 2, 0, 4,         /* t6 experts [32, 4, 2] */
        FZG_TENSOR, FZG_I32, 2, 0, 2, 0, 0, 1,          /* t7 ids [1, 2] */
        FZG_DATA, 6, 8, FZG_DATA, 7, 9,
        FZG_VIEW, 2, 3, 10, 0, 2, 0, 0, 0, 0, 0, 0,    /* t8 [32, 1, 2] of t2 */
        FZG_OP, SLM_OP_MUL_MAT_ID, 3, 6, 8, 7, FZG_NULL, 0, 0, 0,
        FZG_RUN,
    };
    save("graph", "rows-sort-moe", rows, sizeof rows);

    /* Element-wise ops with broadcasting, and a bad view. */
    static const uint8_t eltwise[] = {
        FZG_TENSOR, FZG_F32, 2, 8, 4, 0, 0, 1,          /* t0 [16, 4] */
        FZG_TENSOR, FZG_F32, 1, 8, 0, 0, 0, 1,          /* t1 [16] */
        FZG_DATA, 0, 10, FZG_DATA, 1, 0x8B,
        FZG_OP, SLM_OP_ADD, 2, 0, 1, FZG_NULL, 0, 0, 0,
        FZG_OP, SLM_OP_MUL, 2, 2, 1, FZG_NULL, 0, 0, 0,
        FZG_OP, SLM_OP_DIV, 2, 3, 1, FZG_NULL, 0, 0, 0,
        FZG_OP, SLM_OP_SCALE, 1, 4, FZG_NULL, 0, 0, 2, 3, 1,
        FZG_OP, SLM_OP_SILU, 1, 5, FZG_NULL, 0, 0, 0,
        FZG_OP, SLM_OP_GELU, 1, 6, FZG_NULL, 0, 0, 0,
        FZG_OP, SLM_OP_TANH, 1, 7, FZG_NULL, 0, 0, 0,
        FZG_OP, SLM_OP_SWIGLU, 2, 8, 0, FZG_NULL, 0, 0, 0,
        FZG_OP, SLM_OP_GEGLU, 2, 9, 0, FZG_NULL, 0, 0, 0,
        FZG_VIEW, 0, 2, 8, 0xF0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0,
        FZG_RUN,
    };
    save("graph", "eltwise", eltwise, sizeof eltwise);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
        return 2;
    }
    outdir = argv[1];
    if (mkdir(outdir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "make_seeds: %s: %s\n", outdir, strerror(errno));
        return 1;
    }
    gguf_seeds();
    model_seeds();
    tokenizer_seeds();
    config_seeds();
    graph_seeds();
    return failures ? 1 : 0;
}
