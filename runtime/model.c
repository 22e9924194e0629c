/*
** model.c -- opening a GGUF model: architecture, hyperparameters, tensors,
** tokenizer; and what architectures use to read them.
*/
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model_internal.h"

static const slm__arch_t *const architectures[] = {
    &slm__arch_llama,
    &slm__arch_phi3,
    &slm__arch_gemma,
    &slm__arch_gemma2,
};
#define N_ARCHITECTURES (sizeof architectures / sizeof architectures[0])

double slm__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ------------------------------------------------------ for architectures */

const slm__gguf_t *slm__model_gguf(const struct slm_model *m)
{
    return m->gguf;
}

const char *slm__model_arch_name(const struct slm_model *m)
{
    return m->arch_name;
}

const slm__hparams_t *slm__model_hparams(const struct slm_model *m)
{
    return &m->hp;
}

static slm_status_t hp_key(const struct slm_model *m, const char *suffix,
                           char *key, size_t n)
{
    int len = snprintf(key, n, "%s.%s", m->arch_name, suffix);
    if (len < 0 || (size_t)len >= n)
        return slm__error(SLM_ERR_INTERNAL, "hyperparameter key too long: %s", suffix);
    return SLM_OK;
}

slm_status_t slm__hp_u32(const struct slm_model *m, const char *suffix,
                         bool required, uint32_t *out)
{
    char key[128];
    slm_status_t st = hp_key(m, suffix, key, sizeof key);
    if (st == SLM_OK)
        st = slm__gguf_get_u32(m->gguf, key, out);
    if (st == SLM_ERR_NOT_FOUND)
        return required ? slm__error(SLM_ERR_FORMAT, "%s: key '%s' is missing (architecture %s)",
                                     m->info.path, key, m->arch_name)
                        : SLM_OK;
    return st;
}

slm_status_t slm__hp_f32(const struct slm_model *m, const char *suffix,
                         bool required, float *out)
{
    char key[128];
    slm_status_t st = hp_key(m, suffix, key, sizeof key);
    if (st == SLM_OK)
        st = slm__gguf_get_f32(m->gguf, key, out);
    if (st == SLM_ERR_NOT_FOUND)
        return required ? slm__error(SLM_ERR_FORMAT, "%s: key '%s' is missing (architecture %s)",
                                     m->info.path, key, m->arch_name)
                        : SLM_OK;
    if (st == SLM_OK && !(*out == *out))
        return slm__error(SLM_ERR_FORMAT, "%s: key '%s' is NaN", m->info.path, key);
    return st;
}

bool slm__has_tensor(const struct slm_model *m, const char *name)
{
    return slm__gguf_tensor(m->gguf, name) != NULL;
}

static bool computable(uint32_t type)
{
    switch (type) {
    case SLM_DTYPE_F32: case SLM_DTYPE_F16: case SLM_DTYPE_BF16:
    case SLM_DTYPE_Q4_0: case SLM_DTYPE_Q8_0: case SLM_DTYPE_Q4_K:
    case SLM_DTYPE_Q6_K:
        return true;
    default:
        return false;
    }
}

static void shape_str(char *buf, size_t n, int n_dims, const int64_t *ne)
{
    size_t used = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < n_dims && used < n; d++)
        used += (size_t)snprintf(buf + used, n - used, "%s%" PRId64, d ? ", " : "", ne[d]);
    if (used < n)
        snprintf(buf + used, n - used, "]");
}

slm_status_t slm__check_tensor(const struct slm_model *m, const char *name,
                               int n_dims, const int64_t *ne, bool required,
                               bool *present)
{
    const slm__gguf_tensor_t *t = slm__gguf_tensor(m->gguf, name);
    if (present)
        *present = t != NULL;
    if (!t)
        return required ? slm__error(SLM_ERR_FORMAT, "%s: tensor '%s' is missing (architecture %s)",
                                     m->info.path, name, m->arch_name)
                        : SLM_OK;
    bool same = true;
    for (int d = 0; d < SLM_MAX_DIMS; d++)
        same = same && t->ne[d] == (d < n_dims ? ne[d] : 1);
    if (!same) {
        char want[96], got[96];
        shape_str(want, sizeof want, n_dims, ne);
        shape_str(got, sizeof got, t->n_dims, t->ne);
        return slm__error(SLM_ERR_FORMAT, "%s: tensor '%s' has shape %s, expected %s from the hyperparameters",
                          m->info.path, name, got, want);
    }
    if (!computable(t->type)) {
        const char *tn = slm__gguf_type_name(t->type);
        return slm__error(SLM_ERR_UNSUPPORTED, "%s: tensor '%s' has type %s, which slm cannot compute yet "
                          "(supported: f32 f16 bf16 q8_0 q4_0 q4_K q6_K)",
                          m->info.path, name, tn ? tn : "?");
    }
    return SLM_OK;
}

slm_tensor_t *slm__weight(slm__build_t *b, const char *name)
{
    const slm__gguf_tensor_t *t = slm__gguf_tensor(b->model->gguf, name);
    if (!t) {
        slm__error(SLM_ERR_FORMAT, "%s: tensor '%s' is missing", b->model->info.path, name);
        return NULL;
    }
    slm_tensor_t *w = NULL;
    if (slm_graph_tensor(b->g, (slm_dtype_t)t->type, t->n_dims, t->ne, SLM_TENSOR_WEIGHT,
                         name, &w) != SLM_OK ||
        slm_graph_bind_host(b->g, w, t->data, (size_t)t->size) != SLM_OK)
        return NULL;
    return w;
}

/* ------------------------------------------------------------------ open */

static bool progress(const slm_model_opts_t *o, float done)
{
    return !o || !o->progress || o->progress(o->progress_user, done);
}

static slm_status_t find_arch(slm_model_t *m)
{
    slm__gguf_str_t arch;
    slm_status_t st = slm__gguf_get_str(m->gguf, "general.architecture", &arch);
    if (st == SLM_ERR_NOT_FOUND)
        return slm__error(SLM_ERR_FORMAT, "%s: key 'general.architecture' is missing", m->info.path);
    if (st != SLM_OK)
        return st;
    if (arch.len == 0 || arch.len >= sizeof m->arch_name || memchr(arch.ptr, '\0', arch.len))
        return slm__error(SLM_ERR_FORMAT, "%s: key 'general.architecture' is not a valid name",
                          m->info.path);
    memcpy(m->arch_name, arch.ptr, arch.len);
    m->arch_name[arch.len] = '\0';
    /* Architectures build key names from it while they load. */
    m->info.arch = m->arch_name;
    for (size_t i = 0; i < N_ARCHITECTURES; i++)
        if (!strcmp(architectures[i]->name, m->arch_name)) {
            m->arch = architectures[i];
            return SLM_OK;
        }
    char known[256] = "";
    for (size_t i = 0; i < N_ARCHITECTURES; i++)
        snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "",
                 architectures[i]->name);
    return slm__error(SLM_ERR_UNSUPPORTED, "%s: architecture '%s' is not supported (supported: %s)",
                      m->info.path, m->arch_name, known);
}

/* The stacked expert tensors: blk.N.ffn_{gate,up,down}_exps.weight. */
static bool is_expert_tensor(slm__gguf_str_t name)
{
    static const char tag[] = "_exps.";
    for (size_t i = 0; i + sizeof tag - 1 <= name.len; i++)
        if (!memcmp(name.ptr + i, tag, sizeof tag - 1))
            return true;
    return false;
}

static void fill_info(slm_model_t *m)
{
    slm_model_info_t *in = &m->info;
    slm__gguf_str_t name;
    if (slm__gguf_get_str(m->gguf, "general.name", &name) == SLM_OK) {
        size_t n = name.len < sizeof m->name - 1 ? name.len : sizeof m->name - 1;
        memcpy(m->name, name.ptr, n);
        m->name[n] = '\0';
    }
    in->arch = m->arch_name;
    in->name = m->name;
    in->n_vocab = m->hp.n_vocab;
    in->n_ctx_train = m->hp.n_ctx_train;
    in->n_embd = m->hp.n_embd;
    in->n_layer = m->hp.n_layer;
    in->n_head = m->hp.n_head;
    in->n_head_kv = m->hp.n_head_kv;
    in->n_ff = m->hp.n_ff;
    in->n_expert = m->hp.n_expert;
    in->n_expert_used = m->hp.n_expert_used;
    in->head_dim = m->hp.head_dim;
    in->head_dim_v = m->hp.head_dim_v;
    in->kv_bytes_per_token = (uint64_t)m->hp.n_layer * m->hp.n_head_kv *
                             (m->hp.head_dim + m->hp.head_dim_v) * sizeof(float);
    double active = 0.0;
    for (uint64_t i = 0; i < m->gguf->n_tensors; i++) {
        const slm__gguf_tensor_t *t = &m->gguf->tensors[i];
        uint64_t n = (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
        in->n_params += n;
        in->n_bytes += t->size;
        if (t->type < SLM_DTYPE_COUNT)
            in->n_tensors_of[t->type]++;
        /* A token runs n_expert_used of the experts stacked in *_exps. */
        if (m->hp.n_expert && is_expert_tensor(t->name))
            active += (double)n * m->hp.n_expert_used / m->hp.n_expert;
        else
            active += (double)n;
    }
    in->n_params_active = (uint64_t)(active + 0.5);
    in->bos = slm__tok_bos(m->tok);
    in->eos = slm__tok_eos(m->tok);
}

/* A "blk.N." tensor with N past the last layer: the file has more layers
** than block_count says, and they would be silently left out. */
static slm_status_t check_layer_count(const slm_model_t *m)
{
    for (uint64_t i = 0; i < m->gguf->n_tensors; i++) {
        slm__gguf_str_t name = m->gguf->tensors[i].name;
        if (name.len < 5 || memcmp(name.ptr, "blk.", 4))
            continue;
        uint64_t il = 0;
        size_t k = 4;
        for (; k < name.len && name.ptr[k] >= '0' && name.ptr[k] <= '9' && il <= UINT32_MAX; k++)
            il = il * 10 + (uint64_t)(name.ptr[k] - '0');
        if (k > 4 && k < name.len && name.ptr[k] == '.' && il >= m->hp.n_layer)
            return slm__error(SLM_ERR_FORMAT, "%s: tensor '%.*s' is in layer %" PRIu64
                              " but %s.block_count is %u", m->info.path, (int)name.len, name.ptr,
                              il, m->arch_name, m->hp.n_layer);
    }
    return SLM_OK;
}

/* Where the GGUF bytes come from: a file (path) or memory the caller lends
** (data, size, with path standing for it in messages). */
typedef struct model_source {
    const char *path;
    const void *data;
    size_t size;
    bool memory;
} model_source_t;

static slm_status_t open_model(slm_runtime_t *rt, const model_source_t *src,
                               const slm_model_opts_t *opts, slm_model_t **out)
{
    const char *fn = src->memory ? "slm_model_open_memory" : "slm_model_open";
    if (!out)
        return slm__error(SLM_ERR_INVALID_ARG, "%s: out is NULL", fn);
    *out = NULL;
    if (!rt || !src->path)
        return slm__error(SLM_ERR_INVALID_ARG, "%s: %s is NULL", fn, rt ? "path" : "runtime");
    if (src->memory && !src->data)
        return slm__error(SLM_ERR_INVALID_ARG, "%s: data is NULL", fn);
    if (opts && opts->struct_size < offsetof(slm_model_opts_t, progress_user) + sizeof(void *))
        return slm__error(SLM_ERR_INVALID_ARG, "%s: opts->struct_size %u too small",
                          fn, opts->struct_size);
    const char *path = src->path;
    double t0 = slm__now_ms();
    slm_model_t *m = calloc(1, sizeof *m);
    if (!m)
        return slm__error(SLM_ERR_NO_MEMORY, "%s: out of memory", path);
    m->rt = rt;
    slm_status_t st = src->memory ? slm__gguf_open_memory(src->data, src->size, path, &m->gguf)
                                  : slm__gguf_open(path, &m->gguf);
    if (st == SLM_OK) {
        m->info.path = m->gguf->name;
        st = find_arch(m);
    }
    if (st == SLM_OK && !progress(opts, 0.3f))
        st = slm__error(SLM_ERR_CANCELLED, "%s: loading cancelled", path);
    if (st == SLM_OK)
        st = slm__tokenizer_load(m->gguf, &m->tok);
    if (st == SLM_OK && !progress(opts, 0.5f))
        st = slm__error(SLM_ERR_CANCELLED, "%s: loading cancelled", path);
    if (st == SLM_OK)
        st = m->arch->load(m, &m->hp);
    if (st == SLM_OK)
        st = check_layer_count(m);
    if (st == SLM_OK && slm__tok_n_vocab(m->tok) != m->hp.n_vocab)
        st = slm__error(SLM_ERR_FORMAT, "%s: the tokenizer has %u tokens but token_embd.weight has %u rows",
                        path, slm__tok_n_vocab(m->tok), m->hp.n_vocab);
    if (st == SLM_OK && !progress(opts, 1.0f))
        st = slm__error(SLM_ERR_CANCELLED, "%s: loading cancelled", path);
    if (st != SLM_OK) {
        slm_model_close(m);
        return st;
    }
    fill_info(m);
    m->load_ms = slm__now_ms() - t0;
    *out = m;
    return SLM_OK;
}

slm_status_t slm_model_open(slm_runtime_t *rt, const char *path,
                            const slm_model_opts_t *opts, slm_model_t **out)
{
    model_source_t src = { path, NULL, 0, false };
    return open_model(rt, &src, opts, out);
}

slm_status_t slm_model_open_memory(slm_runtime_t *rt, const void *data, size_t size,
                                   const char *name, const slm_model_opts_t *opts,
                                   slm_model_t **out)
{
    model_source_t src = { name ? name : "<memory>", data, size, true };
    return open_model(rt, &src, opts, out);
}

void slm_model_close(slm_model_t *m)
{
    if (!m)
        return;
    if (m->n_sessions)
        slm__log(m->rt, SLM_LOG_ERROR, "%s: closed with %u sessions still open",
                 m->info.path, m->n_sessions);
    slm__tokenizer_free(m->tok);
    slm__gguf_close(m->gguf);
    free(m);
}

const slm_model_info_t *slm_model_info(const slm_model_t *m)
{
    return &m->info;
}

double slm_model_load_ms(const slm_model_t *m)
{
    return m->load_ms;
}

/* ----------------------------------------------------------------- tokens */

slm_status_t slm_tokenize(const slm_model_t *m, const char *text, size_t len,
                          bool add_bos, int32_t *out, uint32_t cap,
                          uint32_t *n_out)
{
    unsigned flags = slm__tok_default_flags(m->tok) & ~(unsigned)SLM__ENC_ADD_BOS;
    if (add_bos && slm__tok_add_bos(m->tok))
        flags |= SLM__ENC_ADD_BOS;
    size_t n = 0;
    slm_status_t st = slm__tok_encode(m->tok, text, len, flags, out, cap, &n);
    if (n > UINT32_MAX)
        return slm__error(SLM_ERR_INVALID_ARG, "slm_tokenize: text too long");
    if (n_out)
        *n_out = (uint32_t)n;
    return st;
}

slm_status_t slm_token_text(const slm_model_t *m, int32_t id, const char **text,
                            size_t *len)
{
    return slm__tok_piece(m->tok, id, 0, text, len);
}
