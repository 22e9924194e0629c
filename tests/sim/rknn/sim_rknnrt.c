/*
** sim_rknnrt.c -- a simulated librknnrt.so: Rockchip's RKNN runtime as its
** matmul API is documented, computed on the CPU, for testing the npu-rknn
** shim on machines without an RK35xx NPU.
**
** Built as librknnrt.so with the vendor's symbol names; a test selects it
** with LD_LIBRARY_PATH. What it does as the real runtime does:
**   - a type and alignment table per chip (SIM_RKNN_CHIP): K and N
**     multiples, K at most 10240, which matmul types and quantisations
**     each chip has; rknn_matmul_create refuses anything else with
**     RKNN_ERR_PARAM_INVALID and a line on stderr, as the runtime does;
**   - memory with a hidden NPU copy: rknn_mem_sync(TO_DEVICE) is what
**     makes CPU writes visible to a run, and FROM_DEVICE what makes results
**     visible to the CPU; the NPU copy starts as garbage, so a missing sync
**     shows;
**   - F16 inputs taken as the half values they are (products exact, sums in
**     float), int8/int4 weights times F16 activations summed per group in
**     float and scaled per group or channel, int8 x int8 summed in int32;
**   - versions through rknn_query(RKNN_QUERY_SDK_VERSION) on a matmul
**     context, and faults on demand (sim_rknn.h lists the variables).
** What it does not: the native and perf layouts, dynamic shapes, core
** masks, the NPU's own rounding and timing.
*/
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <slm/graph.h> /* slm_f16_to_f32, slm_f32_to_f16: IEEE half */

#include "rknn_abi.h"
#include "sim_rknn.h"

#define SIM_EXPORT __attribute__((visibility("default")))
#define K_MAX 10240
#define M_MAX 4096

/* ------------------------------------------------------------- tables */

/* What one chip accepts for one matmul type. */
typedef struct Rule {
    int type;
    int k_align, n_align;
    unsigned quant;            /* bit per RKNN_ABI_QUANT_* allowed for B */
} Rule;

#define Q(x) (1u << RKNN_ABI_QUANT_##x)
#define FLOAT_ONLY Q(PER_LAYER_SYM) /* the field's zero: no quantisation */

static const Rule rules_rk3588[] = {
    {RKNN_ABI_F16_MM_F16_TO_F32, 32, 16, FLOAT_ONLY},
    {RKNN_ABI_F16_MM_F16_TO_F16, 32, 16, FLOAT_ONLY},
    {RKNN_ABI_I8_MM_I8_TO_I32, 32, 32, Q(PER_LAYER_SYM) | Q(PER_CHANNEL_SYM)},
    {RKNN_ABI_F16_MM_I8_TO_F32, 32, 32, Q(PER_CHANNEL_SYM) | Q(PER_GROUP_SYM)},
    {RKNN_ABI_F16_MM_I4_TO_F32, 32, 64, Q(PER_CHANNEL_SYM) | Q(PER_GROUP_SYM)},
    {0, 0, 0, 0},
};
static const Rule rules_rk3562[] = {
    {RKNN_ABI_F16_MM_F16_TO_F32, 32, 16, FLOAT_ONLY},
    {RKNN_ABI_F16_MM_F16_TO_F16, 32, 16, FLOAT_ONLY},
    {RKNN_ABI_I8_MM_I8_TO_I32, 32, 32, Q(PER_LAYER_SYM) | Q(PER_CHANNEL_SYM)},
    {RKNN_ABI_F16_MM_I8_TO_F32, 32, 32, Q(PER_CHANNEL_SYM)},
    {0, 0, 0, 0},
};
static const Rule rules_rk3566[] = {
    {RKNN_ABI_F16_MM_F16_TO_F32, 32, 32, FLOAT_ONLY},
    {RKNN_ABI_F16_MM_F16_TO_F16, 32, 32, FLOAT_ONLY},
    {RKNN_ABI_I8_MM_I8_TO_I32, 32, 32, Q(PER_LAYER_SYM) | Q(PER_CHANNEL_SYM)},
    {0, 0, 0, 0},
};

static const struct {
    const char *name;
    const Rule *rules;
} chips[] = {
    {"RK3588", rules_rk3588}, {"RK3576", rules_rk3588}, {"RK3562", rules_rk3562},
    {"RK3566", rules_rk3566}, {"RK3568", rules_rk3566},
};

static const char *chip_name(const Rule **rules)
{
    const char *want = getenv("SIM_RKNN_CHIP");
    for (size_t i = 0; want && i < sizeof chips / sizeof chips[0]; i++)
        if (strcmp(chips[i].name, want) == 0) {
            *rules = chips[i].rules;
            return chips[i].name;
        }
    *rules = rules_rk3588;
    return "RK3588";
}

static const char *type_name(int t)
{
    switch (t) {
    case RKNN_ABI_F16_MM_F16_TO_F32: return "FLOAT16_MM_FLOAT16_TO_FLOAT32";
    case RKNN_ABI_F16_MM_F16_TO_F16: return "FLOAT16_MM_FLOAT16_TO_FLOAT16";
    case RKNN_ABI_I8_MM_I8_TO_I32: return "INT8_MM_INT8_TO_INT32";
    case RKNN_ABI_F16_MM_I8_TO_F32: return "FLOAT16_MM_INT8_TO_FLOAT32";
    case RKNN_ABI_F16_MM_I4_TO_F32: return "FLOAT16_MM_INT4_TO_FLOAT32";
    default: return "?";
    }
}

/* Element types of A, B and C for a type; 0 when the sim has no such type. */
static int io_types(int t, int *a, int *b, int *c)
{
    switch (t) {
    case RKNN_ABI_F16_MM_F16_TO_F32:
        *a = *b = RKNN_ABI_TENSOR_FLOAT16, *c = RKNN_ABI_TENSOR_FLOAT32; return 1;
    case RKNN_ABI_F16_MM_F16_TO_F16:
        *a = *b = *c = RKNN_ABI_TENSOR_FLOAT16; return 1;
    case RKNN_ABI_I8_MM_I8_TO_I32:
        *a = *b = RKNN_ABI_TENSOR_INT8, *c = RKNN_ABI_TENSOR_INT32; return 1;
    case RKNN_ABI_F16_MM_I8_TO_F32:
        *a = RKNN_ABI_TENSOR_FLOAT16, *b = RKNN_ABI_TENSOR_INT8, *c = RKNN_ABI_TENSOR_FLOAT32;
        return 1;
    case RKNN_ABI_F16_MM_I4_TO_F32:
        *a = RKNN_ABI_TENSOR_FLOAT16, *b = RKNN_ABI_TENSOR_INT4, *c = RKNN_ABI_TENSOR_FLOAT32;
        return 1;
    default:
        return 0;
    }
}

/* Bytes of n elements of a tensor type (int4: two per byte, rounded up). */
static uint64_t bytes_of(int tensor_type, uint64_t n)
{
    switch (tensor_type) {
    case RKNN_ABI_TENSOR_INT4: return (n + 1) / 2;
    case RKNN_ABI_TENSOR_INT8: return n;
    case RKNN_ABI_TENSOR_FLOAT16: return 2 * n;
    default: return 4 * n;
    }
}

/* ------------------------------------------------------------- objects */

typedef struct SimMem {
    rknn_abi_mem pub;          /* first: the caller's pointer is ours */
    unsigned char *dev;        /* the NPU's copy, made current by syncs */
    struct SimMem *next;
} SimMem;

typedef struct SimCtx {
    rknn_abi_ctx id;
    rknn_abi_matmul_info info;
    rknn_abi_io_attr io;
    SimMem *bound[3];          /* A, B, C */
    float *b_scale;            /* as set, scale_len of them */
    int32_t b_scale_len;
    float a_scale;             /* int8 A: per-layer scale (informational) */
    struct SimCtx *next;
} SimCtx;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static SimCtx *ctxs;
static SimMem *mems;
static rknn_abi_ctx next_id = 0x5100;
static int next_fd = 100;
static sim_rknn_stats_t stats;

static SimCtx *find_ctx(rknn_abi_ctx id)
{
    for (SimCtx *c = ctxs; c; c = c->next)
        if (c->id == id)
            return c;
    return NULL;
}

static SimMem *find_mem(const rknn_abi_mem *m)
{
    for (SimMem *s = mems; s; s = s->next)
        if (&s->pub == m)
            return s;
    return NULL;
}

/* The runtime writes its complaints to stderr, "E RKNN: ..." */
static void complain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void complain(const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "E RKNN: [sim] %s\n", msg);
}

/* The code SIM_RKNN_FAIL asks `call` to fail with, or 0. */
static int injected(const char *call, int code)
{
    const char *s = getenv("SIM_RKNN_FAIL");
    size_t n = strlen(call);
    while (s && *s) {
        if (strncmp(s, call, n) == 0 && (s[n] == '\0' || s[n] == ',' || s[n] == '=')) {
            if (s[n] == '=')
                code = atoi(s + n + 1);
            complain("%s: injected failure %d (SIM_RKNN_FAIL)", call, code);
            return code;
        }
        s = strchr(s, ',');
        s = s ? s + 1 : NULL;
    }
    return 0;
}

/* ------------------------------------------------------------- create */

static void set_attr(rknn_abi_tensor_attr *a, const char *name, int type, uint32_t d0,
                     uint32_t d1)
{
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", name);
    a->n_dims = 2;
    a->dims[0] = d0;
    a->dims[1] = d1;
    a->type = type;
    a->size = (uint32_t)bytes_of(type, (uint64_t)d0 * d1);
}

/* Why `info` is refused on this chip, or NULL. */
static const char *check_info(const rknn_abi_matmul_info *info, char *why, size_t n)
{
    const Rule *rules;
    const char *chip = chip_name(&rules);
    const Rule *r = rules;
    while (r->type && r->type != info->type)
        r++;
    for (size_t i = 0; i < sizeof info->reserved; i++)
        if (info->reserved[i]) {
            snprintf(why, n, "reserved bytes of rknn_matmul_info are not zero");
            return why;
        }
    if (!r->type) {
        snprintf(why, n, "matmul type %d (%s) is not supported on %s", info->type,
                 type_name(info->type), chip);
        return why;
    }
    if (info->M < 1 || info->M > M_MAX || info->K < 1 || info->N < 1) {
        snprintf(why, n, "invalid shape M=%d K=%d N=%d (M at most %d)", info->M, info->K,
                 info->N, M_MAX);
        return why;
    }
    if (info->K > K_MAX) {
        snprintf(why, n, "K=%d exceeds the limit %d", info->K, K_MAX);
        return why;
    }
    if (info->K % r->k_align || info->N % r->n_align) {
        snprintf(why, n, "%s on %s needs K aligned to %d and N to %d, got K=%d N=%d",
                 type_name(info->type), chip, r->k_align, r->n_align, info->K, info->N);
        return why;
    }
    if (info->B_layout != RKNN_ABI_LAYOUT_NORM && info->B_layout != RKNN_ABI_LAYOUT_TP_NORM) {
        snprintf(why, n, "B_layout %d is not simulated (normal and transposed only)",
                 info->B_layout);
        return why;
    }
    if (info->AC_layout != RKNN_ABI_LAYOUT_NORM) {
        snprintf(why, n, "AC_layout %d is not simulated (normal only)", info->AC_layout);
        return why;
    }
    if (info->B_quant_type < 0 || info->B_quant_type > 5 ||
        !(r->quant & (1u << info->B_quant_type))) {
        snprintf(why, n, "B_quant_type %d is not supported for %s on %s", info->B_quant_type,
                 type_name(info->type), chip);
        return why;
    }
    if (info->B_quant_type == RKNN_ABI_QUANT_PER_GROUP_SYM &&
        (info->group_size < 32 || info->group_size % 32 || info->K % info->group_size)) {
        snprintf(why, n, "group_size %d must be a multiple of 32 that divides K=%d",
                 info->group_size, info->K);
        return why;
    }
    return NULL;
}

SIM_EXPORT int rknn_matmul_create(rknn_abi_ctx *ctx, rknn_abi_matmul_info *info,
                                  rknn_abi_io_attr *io_attr)
{
    if (!ctx || !info || !io_attr)
        return RKNN_ERR_PARAM_INVALID;
    int code = injected("create", RKNN_ERR_FAIL);
    if (code)
        return code;
    char why[224];
    pthread_mutex_lock(&lock);
    if (check_info(info, why, sizeof why)) {
        complain("rknn_matmul_create: %s", why);
        stats.rejects++;
        snprintf(stats.last_reject, sizeof stats.last_reject, "%s", why);
        pthread_mutex_unlock(&lock);
        return RKNN_ERR_PARAM_INVALID;
    }
    SimCtx *c = calloc(1, sizeof *c);
    if (!c) {
        pthread_mutex_unlock(&lock);
        return RKNN_ERR_MALLOC_FAIL;
    }
    int ta = 0, tb = 0, tc = 0;
    io_types(info->type, &ta, &tb, &tc);
    c->id = next_id++;
    c->info = *info;
    uint32_t M = (uint32_t)info->M, K = (uint32_t)info->K, N = (uint32_t)info->N;
    set_attr(&c->io.A, "A", ta, M, K);
    if (info->B_layout == RKNN_ABI_LAYOUT_TP_NORM)
        set_attr(&c->io.B, "B", tb, N, K);
    else
        set_attr(&c->io.B, "B", tb, K, N);
    set_attr(&c->io.C, "C", tc, M, N);
    c->a_scale = 1.0f;
    c->next = ctxs;
    ctxs = c;
    stats.creates++;
    stats.live_ctx++;
    if (info->K > stats.max_k)
        stats.max_k = info->K;
    stats.last_type = info->type;
    *io_attr = c->io;
    *ctx = c->id;
    pthread_mutex_unlock(&lock);
    return RKNN_SUCC;
}

SIM_EXPORT int rknn_matmul_destroy(rknn_abi_ctx ctx)
{
    pthread_mutex_lock(&lock);
    for (SimCtx **p = &ctxs; *p; p = &(*p)->next)
        if ((*p)->id == ctx) {
            SimCtx *c = *p;
            *p = c->next;
            free(c->b_scale);
            free(c);
            stats.destroys++;
            stats.live_ctx--;
            pthread_mutex_unlock(&lock);
            return RKNN_SUCC;
        }
    pthread_mutex_unlock(&lock);
    return RKNN_ERR_CTX_INVALID;
}

/* ------------------------------------------------------------- memory */

SIM_EXPORT rknn_abi_mem *rknn_create_mem(rknn_abi_ctx ctx, uint32_t size)
{
    if (injected("create_mem", 1))
        return NULL;
    pthread_mutex_lock(&lock);
    SimMem *m = NULL;
    if (!find_ctx(ctx) || size == 0) {
        complain("rknn_create_mem: invalid context 0x%llx or size %u", (unsigned long long)ctx,
                 size);
        goto out;
    }
    m = calloc(1, sizeof *m);
    void *host = calloc(1, size);
    unsigned char *dev = malloc(size);
    if (!m || !host || !dev) {
        free(m);
        free(host);
        free(dev);
        m = NULL;
        goto out;
    }
    memset(dev, 0xA5, size); /* what the NPU sees before the first sync */
    m->pub.virt_addr = host;
    m->pub.phys_addr = 0x40000000ull + (uint64_t)next_fd * 0x100000ull;
    m->pub.fd = next_fd++;
    m->pub.size = size;
    m->pub.flags = 1; /* allocated inside */
    m->pub.priv_data = m;
    m->dev = dev;
    m->next = mems;
    mems = m;
    stats.live_mem++;
out:
    pthread_mutex_unlock(&lock);
    return m ? &m->pub : NULL;
}

SIM_EXPORT int rknn_destroy_mem(rknn_abi_ctx ctx, rknn_abi_mem *mem)
{
    pthread_mutex_lock(&lock);
    int st = RKNN_SUCC;
    if (!find_ctx(ctx)) {
        st = RKNN_ERR_CTX_INVALID;
        goto out;
    }
    for (SimMem **p = &mems; *p; p = &(*p)->next)
        if (&(*p)->pub == mem) {
            SimMem *m = *p;
            *p = m->next;
            for (SimCtx *c = ctxs; c; c = c->next)
                for (int i = 0; i < 3; i++)
                    if (c->bound[i] == m)
                        c->bound[i] = NULL;
            free(m->pub.virt_addr);
            free(m->dev);
            free(m);
            stats.live_mem--;
            goto out;
        }
    st = RKNN_ERR_PARAM_INVALID;
out:
    pthread_mutex_unlock(&lock);
    return st;
}

SIM_EXPORT int rknn_mem_sync(rknn_abi_ctx ctx, rknn_abi_mem *mem, int mode)
{
    int code = injected("sync", RKNN_ERR_FAIL);
    if (code)
        return code;
    pthread_mutex_lock(&lock);
    int st = RKNN_SUCC;
    SimMem *m = find_mem(mem);
    if (!find_ctx(ctx))
        st = RKNN_ERR_CTX_INVALID;
    else if (!m || mode < RKNN_ABI_SYNC_TO_DEVICE || mode > RKNN_ABI_SYNC_BIDIRECTIONAL)
        st = RKNN_ERR_PARAM_INVALID;
    if (st == RKNN_SUCC && (mode & RKNN_ABI_SYNC_TO_DEVICE)) {
        memcpy(m->dev, m->pub.virt_addr, m->pub.size);
        stats.syncs_to++;
    }
    if (st == RKNN_SUCC && (mode & RKNN_ABI_SYNC_FROM_DEVICE)) {
        memcpy(m->pub.virt_addr, m->dev, m->pub.size);
        stats.syncs_from++;
    }
    pthread_mutex_unlock(&lock);
    return st;
}

SIM_EXPORT int rknn_matmul_set_io_mem(rknn_abi_ctx ctx, rknn_abi_mem *mem,
                                      rknn_abi_tensor_attr *attr)
{
    int code = injected("set_io_mem", RKNN_ERR_FAIL);
    if (code)
        return code;
    pthread_mutex_lock(&lock);
    int st = RKNN_SUCC;
    SimCtx *c = find_ctx(ctx);
    SimMem *m = find_mem(mem);
    if (!c) {
        st = RKNN_ERR_CTX_INVALID;
        goto out;
    }
    int which = !attr ? -1 : strcmp(attr->name, "A") == 0 ? 0
                           : strcmp(attr->name, "B") == 0 ? 1
                           : strcmp(attr->name, "C") == 0 ? 2 : -1;
    const rknn_abi_tensor_attr *want = which == 0 ? &c->io.A : which == 1 ? &c->io.B : &c->io.C;
    if (which < 0 || !m || attr->type != want->type || attr->size != want->size ||
        m->pub.offset < 0 || (uint64_t)m->pub.offset + want->size > m->pub.size) {
        complain("rknn_matmul_set_io_mem: tensor %s: memory of %u bytes at offset %d does not "
                 "hold %u bytes of type %d", attr ? attr->name : "(null)",
                 m ? m->pub.size : 0u, m ? m->pub.offset : 0, want->size, want->type);
        st = RKNN_ERR_PARAM_INVALID;
        goto out;
    }
    c->bound[which] = m;
out:
    pthread_mutex_unlock(&lock);
    return st;
}

SIM_EXPORT int rknn_matmul_set_quant_params(rknn_abi_ctx ctx, rknn_abi_quant_params *qp)
{
    int code = injected("set_quant_params", RKNN_ERR_FAIL);
    if (code)
        return code;
    pthread_mutex_lock(&lock);
    int st = RKNN_SUCC;
    SimCtx *c = find_ctx(ctx);
    if (!c) {
        st = RKNN_ERR_CTX_INVALID;
        goto out;
    }
    const rknn_abi_matmul_info *in = &c->info;
    bool int_b = c->io.B.type == RKNN_ABI_TENSOR_INT8 || c->io.B.type == RKNN_ABI_TENSOR_INT4;
    if (!qp || !qp->scale || qp->scale_len < 1) {
        st = RKNN_ERR_PARAM_INVALID;
    } else if (strcmp(qp->name, "A") == 0 && c->io.A.type == RKNN_ABI_TENSOR_INT8) {
        if (qp->scale_len != 1)
            st = RKNN_ERR_PARAM_INVALID;
        else
            c->a_scale = qp->scale[0];
    } else if (strcmp(qp->name, "B") == 0 && int_b) {
        int32_t want = in->N;
        if (in->B_quant_type == RKNN_ABI_QUANT_PER_LAYER_SYM)
            want = 1;
        else if (in->B_quant_type == RKNN_ABI_QUANT_PER_GROUP_SYM)
            want = in->N * (in->K / in->group_size);
        float *s = qp->scale_len == want ? malloc(sizeof *s * (size_t)want) : NULL;
        if (!s) {
            complain("rknn_matmul_set_quant_params: B: %d scales given, %d expected",
                     qp->scale_len, want);
            st = RKNN_ERR_PARAM_INVALID;
        } else {
            memcpy(s, qp->scale, sizeof *s * (size_t)want);
            free(c->b_scale);
            c->b_scale = s;
            c->b_scale_len = want;
            stats.quant_sets++;
        }
    } else {
        complain("rknn_matmul_set_quant_params: no quantised tensor named \"%s\"", qp->name);
        st = RKNN_ERR_PARAM_INVALID;
    }
out:
    pthread_mutex_unlock(&lock);
    return st;
}

/* ---------------------------------------------------------------- run */

/* Element (n, k) of B from the NPU's copy: a float for F16, else the
** integer. */
static float b_elem(const SimCtx *c, const unsigned char *b, int64_t n, int64_t k)
{
    int64_t K = c->info.K, N = c->info.N;
    int64_t e = c->info.B_layout == RKNN_ABI_LAYOUT_TP_NORM ? n * K + k : k * N + n;
    switch (c->io.B.type) {
    case RKNN_ABI_TENSOR_FLOAT16: {
        uint16_t h;
        memcpy(&h, b + 2 * e, 2);
        return slm_f16_to_f32(h);
    }
    case RKNN_ABI_TENSOR_INT8:
        return (float)(int8_t)b[e];
    default: { /* int4: element 2j in the low nibble of byte j */
        int v = (b[e / 2] >> (4 * (e & 1))) & 0xF;
        return (float)(v >= 8 ? v - 16 : v);
    }
    }
}

static float a_f16(const unsigned char *a, int64_t i)
{
    uint16_t h;
    memcpy(&h, a + 2 * i, 2);
    return slm_f16_to_f32(h);
}

/* The scale of B at row n and column k. */
static float b_scale(const SimCtx *c, int64_t n, int64_t k)
{
    switch (c->info.B_quant_type) {
    case RKNN_ABI_QUANT_PER_LAYER_SYM: return c->b_scale[0];
    case RKNN_ABI_QUANT_PER_CHANNEL_SYM: return c->b_scale[n];
    default: return c->b_scale[n * (c->info.K / c->info.group_size) + k / c->info.group_size];
    }
}

static void compute(const SimCtx *c)
{
    const rknn_abi_matmul_info *in = &c->info;
    const unsigned char *a = c->bound[0]->dev + c->bound[0]->pub.offset;
    const unsigned char *b = c->bound[1]->dev + c->bound[1]->pub.offset;
    unsigned char *out = c->bound[2]->dev + c->bound[2]->pub.offset;
    int64_t M = in->M, K = in->K, N = in->N;
    int64_t group = in->B_quant_type == RKNN_ABI_QUANT_PER_GROUP_SYM ? in->group_size : K;
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            if (in->type == RKNN_ABI_I8_MM_I8_TO_I32) {
                int32_t acc = 0;
                for (int64_t k = 0; k < K; k++)
                    acc += (int32_t)(int8_t)a[m * K + k] * (int32_t)b_elem(c, b, n, k);
                memcpy(out + 4 * (m * N + n), &acc, 4);
                continue;
            }
            float sum = 0.0f;
            bool quant = c->io.B.type != RKNN_ABI_TENSOR_FLOAT16;
            for (int64_t k0 = 0; k0 < K; k0 += group) {
                float part = 0.0f; /* half x half and half x int: exact products */
                for (int64_t k = k0; k < k0 + group; k++)
                    part += a_f16(a, m * K + k) * b_elem(c, b, n, k);
                sum += quant ? part * b_scale(c, n, k0) : part;
            }
            if (c->io.C.type == RKNN_ABI_TENSOR_FLOAT16) {
                uint16_t h = slm_f32_to_f16(sum);
                memcpy(out + 2 * (m * N + n), &h, 2);
            } else {
                memcpy(out + 4 * (m * N + n), &sum, 4);
            }
        }
}

SIM_EXPORT int rknn_matmul_run(rknn_abi_ctx ctx)
{
    int code = injected("run", RKNN_ERR_TIMEOUT);
    if (code)
        return code;
    pthread_mutex_lock(&lock);
    int st = RKNN_SUCC;
    SimCtx *c = find_ctx(ctx);
    if (!c) {
        st = RKNN_ERR_CTX_INVALID;
    } else if (!c->bound[0] || !c->bound[1] || !c->bound[2]) {
        complain("rknn_matmul_run: A, B and C must all be set (rknn_matmul_set_io_mem)");
        st = RKNN_ERR_PARAM_INVALID;
    } else if (c->io.B.type != RKNN_ABI_TENSOR_FLOAT16 && !c->b_scale) {
        complain("rknn_matmul_run: quantised B has no scales (rknn_matmul_set_quant_params)");
        st = RKNN_ERR_PARAM_INVALID;
    } else {
        compute(c);
        stats.runs++;
    }
    pthread_mutex_unlock(&lock);
    return st;
}

/* -------------------------------------------------------------- query */

SIM_EXPORT int rknn_query(rknn_abi_ctx ctx, int cmd, void *info, uint32_t size)
{
    int code = injected("query", RKNN_ERR_FAIL);
    if (code)
        return code;
    pthread_mutex_lock(&lock);
    int st = find_ctx(ctx) ? RKNN_SUCC : RKNN_ERR_CTX_INVALID;
    pthread_mutex_unlock(&lock);
    if (st != RKNN_SUCC)
        return st;
    if (cmd != RKNN_ABI_QUERY_SDK_VERSION || !info || size < sizeof(rknn_abi_sdk_version))
        return RKNN_ERR_PARAM_INVALID;
    rknn_abi_sdk_version *v = info;
    const char *api = getenv("SIM_RKNN_VERSION"), *drv = getenv("SIM_RKNN_DRIVER");
    const Rule *rules;
    snprintf(v->api_version, sizeof v->api_version, "%s (simulated %s)",
             api && *api ? api : "2.3.0", chip_name(&rules));
    snprintf(v->drv_version, sizeof v->drv_version, "%s", drv && *drv ? drv : "0.9.8");
    return RKNN_SUCC;
}

/* ---------------------------------------------------- test-only extras */

SIM_EXPORT void sim_rknn_stats(sim_rknn_stats_t *out)
{
    pthread_mutex_lock(&lock);
    *out = stats;
    pthread_mutex_unlock(&lock);
}

SIM_EXPORT void sim_rknn_reset(void)
{
    pthread_mutex_lock(&lock);
    sim_rknn_stats_t keep = stats;
    memset(&stats, 0, sizeof stats);
    stats.live_ctx = keep.live_ctx;
    stats.live_mem = keep.live_mem;
    pthread_mutex_unlock(&lock);
}
