/*
** test_sim_rknn.c -- the simulated librknnrt.so against its own contract
** (sim_rknnrt.c): the chip tables refuse what they should, memory needs
** its syncs, F16 inputs are taken as halves, int weights are summed per
** group and scaled, faults come when asked. Linked to the simulation
** directly; the shim is not involved.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <slm/graph.h>

#include "rknn_abi.h"
#include "sim_rknn.h"

int rknn_matmul_create(rknn_abi_ctx *, rknn_abi_matmul_info *, rknn_abi_io_attr *);
int rknn_matmul_set_io_mem(rknn_abi_ctx, rknn_abi_mem *, rknn_abi_tensor_attr *);
int rknn_matmul_set_quant_params(rknn_abi_ctx, rknn_abi_quant_params *);
int rknn_matmul_run(rknn_abi_ctx);
int rknn_matmul_destroy(rknn_abi_ctx);
rknn_abi_mem *rknn_create_mem(rknn_abi_ctx, uint32_t);
int rknn_destroy_mem(rknn_abi_ctx, rknn_abi_mem *);
int rknn_mem_sync(rknn_abi_ctx, rknn_abi_mem *, int);
int rknn_query(rknn_abi_ctx, int, void *, uint32_t);
void sim_rknn_stats(sim_rknn_stats_t *);

static int failures;

#define CHECK(cond, ...)                                                     \
    do {                                                                     \
        if (!(cond)) {                                                       \
            failures++;                                                      \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);  \
            fprintf(stderr, __VA_ARGS__);                                    \
            fputc('\n', stderr);                                             \
        }                                                                    \
    } while (0)

static rknn_abi_matmul_info info_of(int type, int M, int K, int N, int quant, int group)
{
    rknn_abi_matmul_info in;
    memset(&in, 0, sizeof in);
    in.M = M, in.K = K, in.N = N, in.type = type;
    in.B_layout = RKNN_ABI_LAYOUT_TP_NORM;
    in.B_quant_type = (int16_t)quant;
    in.group_size = (int16_t)group;
    return in;
}

/* rknn_matmul_create's status for a shape (the context destroyed again). */
static int create_status(int type, int M, int K, int N, int quant, int group)
{
    rknn_abi_matmul_info in = info_of(type, M, K, N, quant, group);
    rknn_abi_io_attr io;
    rknn_abi_ctx ctx = 0;
    int st = rknn_matmul_create(&ctx, &in, &io);
    if (st == RKNN_SUCC)
        rknn_matmul_destroy(ctx);
    return st;
}

static void test_tables(void)
{
    enum { F16 = RKNN_ABI_F16_MM_F16_TO_F32, I8 = RKNN_ABI_F16_MM_I8_TO_F32,
           I4 = RKNN_ABI_F16_MM_I4_TO_F32, II = RKNN_ABI_I8_MM_I8_TO_I32,
           G = RKNN_ABI_QUANT_PER_GROUP_SYM, CH = RKNN_ABI_QUANT_PER_CHANNEL_SYM };
    setenv("SIM_RKNN_CHIP", "RK3588", 1);
    CHECK(create_status(F16, 1, 32, 16, 0, 0) == RKNN_SUCC, "f16 32x16");
    CHECK(create_status(F16, 1, 48, 16, 0, 0) == RKNN_ERR_PARAM_INVALID, "K=48 unaligned");
    CHECK(create_status(F16, 1, 32, 24, 0, 0) == RKNN_ERR_PARAM_INVALID, "N=24 unaligned");
    CHECK(create_status(F16, 1, 10240, 16, 0, 0) == RKNN_SUCC, "K=10240 is the limit");
    CHECK(create_status(F16, 1, 10272, 16, 0, 0) == RKNN_ERR_PARAM_INVALID, "K past 10240");
    CHECK(create_status(F16, 4097, 32, 16, 0, 0) == RKNN_ERR_PARAM_INVALID, "M past 4096");
    CHECK(create_status(I4, 1, 64, 32, G, 32) == RKNN_ERR_PARAM_INVALID, "int4 N=32");
    CHECK(create_status(I4, 1, 64, 64, G, 32) == RKNN_SUCC, "int4 N=64 group 32");
    CHECK(create_status(I4, 1, 64, 64, G, 16) == RKNN_ERR_PARAM_INVALID, "group 16");
    CHECK(create_status(I4, 1, 96, 64, G, 64) == RKNN_ERR_PARAM_INVALID, "group 64 of K=96");
    CHECK(create_status(I8, 1, 64, 32, CH, 0) == RKNN_SUCC, "int8 per channel");
    CHECK(create_status(F16, 1, 32, 16, G, 32) == RKNN_ERR_PARAM_INVALID, "f16 quantised");
    CHECK(create_status(II, 1, 32, 32, 0, 0) == RKNN_SUCC, "int8 x int8");
    setenv("SIM_RKNN_CHIP", "RK3566", 1);
    CHECK(create_status(F16, 1, 32, 16, 0, 0) == RKNN_ERR_PARAM_INVALID, "RK3566 N=16");
    CHECK(create_status(F16, 1, 32, 32, 0, 0) == RKNN_SUCC, "RK3566 N=32");
    CHECK(create_status(I8, 1, 32, 32, G, 32) == RKNN_ERR_PARAM_INVALID, "RK3566 no f16xi8");
    setenv("SIM_RKNN_CHIP", "RK3562", 1);
    CHECK(create_status(I8, 1, 32, 32, G, 32) == RKNN_ERR_PARAM_INVALID, "RK3562 no groups");
    CHECK(create_status(I8, 1, 32, 32, CH, 0) == RKNN_SUCC, "RK3562 per channel");
    CHECK(create_status(I4, 1, 32, 64, CH, 0) == RKNN_ERR_PARAM_INVALID, "RK3562 no int4");
    unsetenv("SIM_RKNN_CHIP");
    sim_rknn_stats_t s;
    sim_rknn_stats(&s);
    CHECK(s.live_ctx == 0, "%llu contexts left", (unsigned long long)s.live_ctx);
    CHECK(strstr(s.last_reject, "int4") || strstr(s.last_reject, "INT4"), "last reject: %s",
          s.last_reject);
}

/* One context with its three memories bound. */
typedef struct Mm {
    rknn_abi_ctx ctx;
    rknn_abi_io_attr io;
    rknn_abi_mem *a, *b, *c;
} Mm;

static void mm_open(Mm *m, rknn_abi_matmul_info in)
{
    memset(m, 0, sizeof *m);
    CHECK(rknn_matmul_create(&m->ctx, &in, &m->io) == RKNN_SUCC, "create");
    m->a = rknn_create_mem(m->ctx, m->io.A.size);
    m->b = rknn_create_mem(m->ctx, m->io.B.size);
    m->c = rknn_create_mem(m->ctx, m->io.C.size);
    CHECK(m->a && m->b && m->c, "memories");
    CHECK(rknn_matmul_set_io_mem(m->ctx, m->a, &m->io.A) == RKNN_SUCC, "bind A");
    CHECK(rknn_matmul_set_io_mem(m->ctx, m->b, &m->io.B) == RKNN_SUCC, "bind B");
    CHECK(rknn_matmul_set_io_mem(m->ctx, m->c, &m->io.C) == RKNN_SUCC, "bind C");
}

static void mm_close(Mm *m)
{
    CHECK(rknn_destroy_mem(m->ctx, m->a) == RKNN_SUCC, "free A");
    CHECK(rknn_destroy_mem(m->ctx, m->b) == RKNN_SUCC, "free B");
    CHECK(rknn_destroy_mem(m->ctx, m->c) == RKNN_SUCC, "free C");
    CHECK(rknn_matmul_destroy(m->ctx) == RKNN_SUCC, "destroy");
}

static void put_f16(rknn_abi_mem *m, int i, float v)
{
    uint16_t h = slm_f32_to_f16(v);
    memcpy((char *)m->virt_addr + 2 * i, &h, 2);
}

static float get_f32(rknn_abi_mem *m, int i)
{
    float v;
    memcpy(&v, (char *)m->virt_addr + 4 * i, 4);
    return v;
}

/* F16 x F16: C = A B^T with A [2][32], B [16][32]; syncs matter; inputs
** are halves and their products exact. */
static void test_f16_sync(void)
{
    Mm m;
    mm_open(&m, info_of(RKNN_ABI_F16_MM_F16_TO_F32, 2, 32, 16, 0, 0));
    /* 1 + 2^-11 is no half: it rounds to 1 (ties to even) where the caller
    ** converts; the runtime sees the half it was given */
    for (int k = 0; k < 32; k++) {
        put_f16(m.a, k, 1.0f + 0x1p-11f);
        put_f16(m.a, 32 + k, (float)(k % 5) - 2.0f);
    }
    for (int n = 0; n < 16; n++)
        for (int k = 0; k < 32; k++)
            put_f16(m.b, n * 32 + k, (float)(n - 8) * 0.25f + (float)k * 0x1p-10f);
    /* B synced, A not: the run sees the NPU copy's garbage */
    CHECK(rknn_mem_sync(m.ctx, m.b, RKNN_ABI_SYNC_TO_DEVICE) == RKNN_SUCC, "sync B");
    CHECK(rknn_matmul_run(m.ctx) == RKNN_SUCC, "run");
    CHECK(get_f32(m.c, 0) == 0.0f, "C visible before FROM_DEVICE: %g", get_f32(m.c, 0));
    CHECK(rknn_mem_sync(m.ctx, m.c, RKNN_ABI_SYNC_FROM_DEVICE) == RKNN_SUCC, "sync C");
    float unsynced = get_f32(m.c, 0);
    CHECK(rknn_mem_sync(m.ctx, m.a, RKNN_ABI_SYNC_TO_DEVICE) == RKNN_SUCC, "sync A");
    CHECK(rknn_matmul_run(m.ctx) == RKNN_SUCC, "run");
    CHECK(rknn_mem_sync(m.ctx, m.c, RKNN_ABI_SYNC_FROM_DEVICE) == RKNN_SUCC, "sync C");
    for (int i = 0; i < 2; i++)
        for (int n = 0; n < 16; n++) {
            double want = 0;
            for (int k = 0; k < 32; k++) {
                float a = i == 0 ? 1.0f : (float)(k % 5) - 2.0f;
                float b = slm_f16_to_f32(slm_f32_to_f16((float)(n - 8) * 0.25f +
                                                        (float)k * 0x1p-10f));
                want += (double)a * (double)b;
            }
            float got = get_f32(m.c, i * 16 + n);
            CHECK(fabs(got - want) <= 1e-5 * (1 + fabs(want)), "C[%d][%d] = %.9g, want %.9g",
                  i, n, got, want);
        }
    CHECK(unsynced != get_f32(m.c, 0), "a run saw A before it was synced: %g", unsynced);
    mm_close(&m);
}

/* F16 x I8 per group and F16 x I4 per group: sums of exact products in
** each group of 32, times the group's scale; int4 nibbles signed. */
static void test_int_weights(int type)
{
    const int M = 1, K = 64, N = 64, G = 32;
    Mm m;
    mm_open(&m, info_of(type, M, K, N, RKNN_ABI_QUANT_PER_GROUP_SYM, G));
    float scales[64 * 2];
    int q[64][64];
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++)
            q[n][k] = type == RKNN_ABI_F16_MM_I4_TO_F32 ? ((n + 3 * k) % 16) - 8
                                                       : ((n * 7 + k * 13) % 255) - 127;
    for (int i = 0; i < N * 2; i++)
        scales[i] = 0.01f * (float)(i % 7 + 1);
    unsigned char *b = m.b->virt_addr;
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++) {
            int e = n * K + k;
            if (type == RKNN_ABI_F16_MM_I8_TO_F32)
                b[e] = (unsigned char)(int8_t)q[n][k];
            else if (e % 2 == 0)
                b[e / 2] = (unsigned char)(q[n][k] & 0xF);
            else
                b[e / 2] |= (unsigned char)((q[n][k] & 0xF) << 4);
        }
    for (int k = 0; k < K; k++)
        put_f16(m.a, k, (float)k / 16.0f - 1.5f);
    /* no scales yet: the run is refused */
    rknn_mem_sync(m.ctx, m.a, RKNN_ABI_SYNC_TO_DEVICE);
    rknn_mem_sync(m.ctx, m.b, RKNN_ABI_SYNC_TO_DEVICE);
    CHECK(rknn_matmul_run(m.ctx) == RKNN_ERR_PARAM_INVALID, "run without scales");
    rknn_abi_quant_params qp;
    memset(&qp, 0, sizeof qp);
    snprintf(qp.name, sizeof qp.name, "%s", m.io.B.name);
    qp.scale = scales;
    qp.scale_len = N; /* per group wants N * K / G */
    CHECK(rknn_matmul_set_quant_params(m.ctx, &qp) == RKNN_ERR_PARAM_INVALID, "64 scales");
    qp.scale_len = N * K / G;
    CHECK(rknn_matmul_set_quant_params(m.ctx, &qp) == RKNN_SUCC, "128 scales");
    CHECK(rknn_matmul_run(m.ctx) == RKNN_SUCC, "run");
    rknn_mem_sync(m.ctx, m.c, RKNN_ABI_SYNC_FROM_DEVICE);
    for (int n = 0; n < N; n++) {
        double want = 0;
        for (int g = 0; g < K / G; g++) {
            double part = 0;
            for (int k = g * G; k < (g + 1) * G; k++)
                part += ((double)k / 16.0 - 1.5) * q[n][k];
            want += part * scales[n * (K / G) + g];
        }
        float got = get_f32(m.c, n);
        CHECK(fabs(got - want) <= 1e-5 * (1 + fabs(want)), "type %d: C[%d] = %.9g, want %.9g",
              type, n, got, want);
    }
    mm_close(&m);
}

/* I8 x I8 -> I32: exact integer sums, no overflow at 127 * 127 * K. */
static void test_int8_int8(void)
{
    const int K = 64, N = 32;
    Mm m;
    mm_open(&m, info_of(RKNN_ABI_I8_MM_I8_TO_I32, 1, K, N, RKNN_ABI_QUANT_PER_LAYER_SYM, 0));
    int8_t *a = m.a->virt_addr, *b = m.b->virt_addr;
    for (int k = 0; k < K; k++)
        a[k] = k % 2 ? 127 : -128;
    for (int e = 0; e < N * K; e++)
        b[e] = (int8_t)(e % 3 == 0 ? -128 : 127);
    rknn_mem_sync(m.ctx, m.a, RKNN_ABI_SYNC_TO_DEVICE);
    rknn_mem_sync(m.ctx, m.b, RKNN_ABI_SYNC_TO_DEVICE);
    float one = 1.0f;
    rknn_abi_quant_params qp;
    memset(&qp, 0, sizeof qp);
    snprintf(qp.name, sizeof qp.name, "B");
    qp.scale = &one;
    qp.scale_len = 1;
    CHECK(rknn_matmul_set_quant_params(m.ctx, &qp) == RKNN_SUCC, "per-layer scale");
    CHECK(rknn_matmul_run(m.ctx) == RKNN_SUCC, "run");
    rknn_mem_sync(m.ctx, m.c, RKNN_ABI_SYNC_FROM_DEVICE);
    for (int n = 0; n < N; n++) {
        int32_t want = 0, got;
        for (int k = 0; k < K; k++)
            want += (int32_t)a[k] * (int32_t)b[n * K + k];
        memcpy(&got, (char *)m.c->virt_addr + 4 * n, 4);
        CHECK(got == want, "C[%d] = %d, want %d", n, got, want);
    }
    mm_close(&m);
}

/* Versions and injected faults. */
static void test_query_faults(void)
{
    rknn_abi_matmul_info in = info_of(RKNN_ABI_F16_MM_F16_TO_F32, 1, 32, 16, 0, 0);
    rknn_abi_io_attr io;
    rknn_abi_ctx ctx;
    CHECK(rknn_matmul_create(&ctx, &in, &io) == RKNN_SUCC, "create");
    rknn_abi_sdk_version v;
    CHECK(rknn_query(ctx, RKNN_ABI_QUERY_SDK_VERSION, &v, sizeof v) == RKNN_SUCC, "query");
    CHECK(strncmp(v.api_version, "2.3.0", 5) == 0, "default version %s", v.api_version);
    setenv("SIM_RKNN_VERSION", "1.6.0", 1);
    CHECK(rknn_query(ctx, RKNN_ABI_QUERY_SDK_VERSION, &v, sizeof v) == RKNN_SUCC, "query");
    CHECK(strncmp(v.api_version, "1.6.0", 5) == 0, "version %s", v.api_version);
    unsetenv("SIM_RKNN_VERSION");
    CHECK(rknn_query(ctx, 999, &v, sizeof v) == RKNN_ERR_PARAM_INVALID, "unknown query");
    CHECK(rknn_query(0x1234, RKNN_ABI_QUERY_SDK_VERSION, &v, sizeof v) == RKNN_ERR_CTX_INVALID,
          "query on no context");
    setenv("SIM_RKNN_FAIL", "sync,run=-3", 1);
    CHECK(rknn_matmul_run(ctx) == RKNN_ERR_DEVICE_UNAVAILABLE, "injected run");
    CHECK(rknn_mem_sync(ctx, NULL, 1) == RKNN_ERR_FAIL, "injected sync");
    setenv("SIM_RKNN_FAIL", "create_mem", 1);
    CHECK(rknn_create_mem(ctx, 64) == NULL, "injected create_mem");
    unsetenv("SIM_RKNN_FAIL");
    CHECK(rknn_matmul_run(ctx) == RKNN_ERR_PARAM_INVALID, "run with nothing bound");
    CHECK(rknn_matmul_destroy(ctx) == RKNN_SUCC, "destroy");
    CHECK(rknn_matmul_destroy(ctx) == RKNN_ERR_CTX_INVALID, "destroy twice");
}

int main(void)
{
    test_tables();
    test_f16_sync();
    test_int_weights(RKNN_ABI_F16_MM_I8_TO_F32);
    test_int_weights(RKNN_ABI_F16_MM_I4_TO_F32);
    test_int8_int8();
    test_query_faults();
    sim_rknn_stats_t s;
    sim_rknn_stats(&s);
    CHECK(s.live_ctx == 0 && s.live_mem == 0, "%llu contexts, %llu memories left",
          (unsigned long long)s.live_ctx, (unsigned long long)s.live_mem);
    if (failures) {
        fprintf(stderr, "test_sim_rknn: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_sim_rknn: ok (%llu contexts compiled, %llu refused, %llu runs)\n",
           (unsigned long long)s.creates, (unsigned long long)s.rejects,
           (unsigned long long)s.runs);
    return 0;
}
