/*
** test_moe.c -- the mixture-of-experts block (slm__ffn_moe) against a direct
** computation in double: router softmax, the top-k experts, their
** probabilities renormalised to sum to 1, SwiGLU experts, weighted sum.
**
** The weights are layer 0 of ../shared/models/gguf/synth-mixtral-s1.gguf
** (F32, 4 experts), read straight from the file. The number of experts used
** per token is varied (1, 2, 3, 4) so the single-expert path and the
** all-experts case are covered, and each case also checks that leaving the
** weights unnormalised would have been caught.
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

#include "blocks.h"
#include "gguf_reader.h"
#include "model_internal.h"

#define MODEL SLM_TEST_SOURCE_DIR "/../../shared/models/gguf/synth-mixtral-s1.gguf"
#define N_TOKENS 5

typedef struct fixture {
    slm_runtime_t *rt;
    slm_model_t *m;
} fixture_t;

static int setup(void **state)
{
    static const char *const plugins[] = { SLM_BACKEND_BUILD_DIR "/libslm-backend-cpu.so" };
    fixture_t *f = calloc(1, sizeof *f);
    slm_runtime_opts_t o = SLM_RUNTIME_OPTS_INIT;
    o.flags = SLM_RUNTIME_NO_DEFAULT_PLUGINS | SLM_RUNTIME_NO_DEFAULT_CONFIG;
    o.plugin_paths = plugins;
    o.n_plugin_paths = 1;
    if (!f || slm_runtime_create(&o, &f->rt) != SLM_OK ||
        slm_model_open(f->rt, MODEL, NULL, &f->m) != SLM_OK) {
        fprintf(stderr, "setup: %s\n", slm_last_error());
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    slm_model_close(f->m);
    slm_runtime_destroy(f->rt);
    free(f);
    return 0;
}

/* F32 data of a tensor of the model. */
static const float *tensor_f32(const slm_model_t *m, const char *name)
{
    const slm__gguf_tensor_t *t = slm__gguf_tensor(m->gguf, name);
    assert_non_null(t);
    assert_int_equal(t->type, SLM_DTYPE_F32);
    return t->data;
}

/* Deterministic inputs of order 1. */
static float next_input(uint32_t *seed)
{
    *seed = *seed * 1664525u + 1013904223u;
    return (float)((*seed >> 8) & 0xFFFF) / 32768.0f - 1.0f;
}

/*
** Layer 0's MoE output for one token x (D) in double: out_norm with the
** renormalised weights, out_raw with the raw top-k probabilities. Returns
** the sum of the chosen probabilities.
*/
static double reference(const slm_model_t *m, const float *x, double *out_norm,
                        double *out_raw)
{
    const slm__hparams_t *hp = &m->hp;
    const int D = (int)hp->n_embd, F = (int)hp->n_ff, E = (int)hp->n_expert;
    const int K = (int)hp->n_expert_used;
    const float *router = tensor_f32(m, "blk.0.ffn_gate_inp.weight");  /* [D, E] */
    const float *gate = tensor_f32(m, "blk.0.ffn_gate_exps.weight");   /* [D, F, E] */
    const float *up = tensor_f32(m, "blk.0.ffn_up_exps.weight");       /* [D, F, E] */
    const float *down = tensor_f32(m, "blk.0.ffn_down_exps.weight");   /* [F, D, E] */

    double p[16], zmax = -INFINITY, z = 0.0;
    assert_true(E <= 16);
    for (int e = 0; e < E; e++) {
        p[e] = 0.0;
        for (int d = 0; d < D; d++)
            p[e] += (double)router[e * D + d] * x[d];
        zmax = p[e] > zmax ? p[e] : zmax;
    }
    for (int e = 0; e < E; e++)
        z += p[e] = exp(p[e] - zmax);
    for (int e = 0; e < E; e++)
        p[e] /= z;

    int chosen[16];
    bool taken[16] = { false };
    double chosen_sum = 0.0;
    for (int k = 0; k < K; k++) {
        int best = -1;
        for (int e = 0; e < E; e++)
            if (!taken[e] && (best < 0 || p[e] > p[best]))
                best = e;
        taken[best] = true;
        chosen[k] = best;
        chosen_sum += p[best];
    }

    double *act = malloc((size_t)F * sizeof *act);
    assert_non_null(act);
    for (int d = 0; d < D; d++)
        out_norm[d] = out_raw[d] = 0.0;
    for (int k = 0; k < K; k++) {
        const int e = chosen[k];
        for (int n = 0; n < F; n++) {
            double g = 0.0, u = 0.0;
            for (int d = 0; d < D; d++) {
                g += (double)gate[((size_t)e * F + n) * D + d] * x[d];
                u += (double)up[((size_t)e * F + n) * D + d] * x[d];
            }
            act[n] = g / (1.0 + exp(-g)) * u;
        }
        for (int d = 0; d < D; d++) {
            double y = 0.0;
            for (int n = 0; n < F; n++)
                y += (double)down[((size_t)e * D + d) * F + n] * act[n];
            out_norm[d] += p[e] / chosen_sum * y;
            out_raw[d] += p[e] * y;
        }
    }
    free(act);
    return chosen_sum;
}

/* slm__ffn_moe on N_TOKENS tokens with `used` experts per token. */
static void check_moe(fixture_t *f, uint32_t used)
{
    slm_model_t *m = f->m;
    const uint32_t saved = m->hp.n_expert_used;
    m->hp.n_expert_used = used;
    const int64_t D = m->hp.n_embd, T = N_TOKENS;

    slm_graph_builder_t *g = NULL;
    assert_int_equal(slm_graph_create(f->rt, &g), SLM_OK);
    slm__build_t b = { .g = g, .model = m, .n_tokens = (uint32_t)T };
    int64_t ne[2] = { D, T };
    slm_tensor_t *x = NULL;
    assert_int_equal(slm_graph_tensor(g, SLM_DTYPE_F32, 2, ne, SLM_TENSOR_INPUT, "x", &x), SLM_OK);
    float *in = malloc((size_t)(D * T) * sizeof *in), *out = malloc((size_t)(D * T) * sizeof *out);
    assert_non_null(in);
    assert_non_null(out);
    uint32_t seed = 12345u + used;
    for (int64_t i = 0; i < D * T; i++)
        in[i] = next_input(&seed);
    assert_int_equal(slm_graph_set_data(g, x, in, (size_t)(D * T) * sizeof *in), SLM_OK);

    slm_tensor_t *y = slm__ffn_moe(&b, 0, x);
    if (!y)
        fail_msg("slm__ffn_moe: %s", slm_last_error());
    assert_int_equal(y->ne[0], D);
    assert_int_equal(y->ne[1], T);
    assert_int_equal(slm_graph_set_output(g, y), SLM_OK);
    if (slm_graph_run(g) != SLM_OK)
        fail_msg("run: %s", slm_last_error());
    assert_int_equal(slm_graph_read(g, y, out, (size_t)(D * T) * sizeof *out), SLM_OK);

    double *want = malloc((size_t)D * sizeof *want), *raw = malloc((size_t)D * sizeof *raw);
    assert_non_null(want);
    assert_non_null(raw);
    double worst = 0.0, worst_raw = 0.0;
    for (int64_t t = 0; t < T; t++) {
        double chosen_sum = reference(m, in + t * D, want, raw);
        if (used < m->hp.n_expert)
            assert_true(chosen_sum < 0.999);   /* renormalising changes something */
        for (int64_t d = 0; d < D; d++) {
            double err = fabs(out[t * D + d] - want[d]) / (1.0 + fabs(want[d]));
            double err_raw = fabs(out[t * D + d] - raw[d]) / (1.0 + fabs(raw[d]));
            worst = err > worst ? err : worst;
            worst_raw = err_raw > worst_raw ? err_raw : worst_raw;
        }
    }
    print_message("%u of %u experts: worst relative error %.2e (unnormalised weights would be %.2e off)\n",
                  used, m->hp.n_expert, worst, worst_raw);
    if (worst > 1e-5)
        fail_msg("%u experts per token: slm differs from the reference by %.3g", used, worst);
    /* The check has teeth: unnormalised weights are far outside it. */
    if (used < m->hp.n_expert)
        assert_true(worst_raw > 100 * 1e-5);

    free(want);
    free(raw);
    free(in);
    free(out);
    slm_graph_destroy(g);
    m->hp.n_expert_used = saved;
}

static void test_one_expert(void **state) { check_moe(*state, 1); }
static void test_two_experts(void **state) { check_moe(*state, 2); }
static void test_three_experts(void **state) { check_moe(*state, 3); }
static void test_all_experts(void **state) { check_moe(*state, 4); }

/* The file's own setting is Mixtral's: 2 of 4, and the probe's count of
** active parameters follows it. */
static void test_model_info(void **state)
{
    fixture_t *f = *state;
    const slm_model_info_t *in = slm_model_info(f->m);
    assert_int_equal(in->n_expert, 4);
    assert_int_equal(in->n_expert_used, 2);
    const uint64_t expert_params = 2 * 3 * (uint64_t)64 * 128 * 4;
    assert_int_equal(in->n_params_active, in->n_params - expert_params / 2);
    assert_int_equal(in->n_tensors_of[SLM_DTYPE_F32], 23);
    assert_int_equal(in->kv_bytes_per_token, 2 * 2 * (16 + 16) * sizeof(float));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_expert),
        cmocka_unit_test(test_two_experts),
        cmocka_unit_test(test_three_experts),
        cmocka_unit_test(test_all_experts),
        cmocka_unit_test(test_model_info),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
