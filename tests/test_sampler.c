/*
** test_sampler.c -- greedy, filters, temperature, penalty, determinism.
*/
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sampler.h"

static slm__sampler_t *make(slm_sampling_t p, uint32_t n)
{
    slm__sampler_t *s = NULL;
    assert_int_equal(slm__sampler_create(&p, n, &s), SLM_OK);
    return s;
}

static slm_sampling_t greedy(void)
{
    slm_sampling_t p = SLM_SAMPLING_INIT;
    p.temperature = 0.0f;
    return p;
}

static void test_greedy_picks_max_and_lowest_id_on_ties(void **state)
{
    (void)state;
    const float logits[6] = { 0.5f, 3.0f, -1.0f, 3.0f, 2.9f, -7.0f };
    slm__sampler_t *s = make(greedy(), 6);
    assert_int_equal(slm__sampler_sample(s, logits), 1);
    slm__sampler_destroy(s);
}

static void test_top_k_one_is_greedy_at_any_temperature(void **state)
{
    (void)state;
    float logits[100];
    for (int i = 0; i < 100; i++)
        logits[i] = (float)sin(i * 0.7);
    slm_sampling_t p = SLM_SAMPLING_INIT;
    p.temperature = 5.0f;
    p.top_k = 1;
    slm__sampler_t *s = make(p, 100);
    slm__sampler_t *g = make(greedy(), 100);
    for (int i = 0; i < 50; i++)
        assert_int_equal(slm__sampler_sample(s, logits), slm__sampler_sample(g, logits));
    slm__sampler_destroy(s);
    slm__sampler_destroy(g);
}

static void draw(slm_sampling_t p, const float *logits, uint32_t n, int32_t *out, int count)
{
    slm__sampler_t *s = make(p, n);
    for (int i = 0; i < count; i++)
        out[i] = slm__sampler_sample(s, logits);
    slm__sampler_destroy(s);
}

static void test_same_seed_same_tokens(void **state)
{
    (void)state;
    float logits[50];
    for (int i = 0; i < 50; i++)
        logits[i] = (float)cos(i * 1.3);
    slm_sampling_t p = SLM_SAMPLING_INIT;
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = 42;
    int32_t a[200], b[200], c[200];
    draw(p, logits, 50, a, 200);
    draw(p, logits, 50, b, 200);
    p.seed = 43;
    draw(p, logits, 50, c, 200);
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c, sizeof a);
}

/* With no filter, draws follow softmax(logits / T): check each frequency
** within 5 standard deviations over 20000 draws. */
static void test_distribution_matches_softmax(void **state)
{
    (void)state;
    const float logits[4] = { 1.0f, 2.0f, 0.0f, 1.5f };
    const float temp = 0.7f;
    slm_sampling_t p = SLM_SAMPLING_INIT;
    p.temperature = temp;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = 7;
    enum { N = 20000 };
    static int32_t out[N];
    draw(p, logits, 4, out, N);
    double expect[4], sum = 0;
    for (int i = 0; i < 4; i++)
        sum += expect[i] = exp(logits[i] / temp);
    int count[4] = { 0 };
    for (int i = 0; i < N; i++)
        count[out[i]]++;
    for (int i = 0; i < 4; i++) {
        double pi = expect[i] / sum;
        double sd = sqrt(N * pi * (1 - pi));
        assert_true(fabs(count[i] - N * pi) < 5 * sd);
    }
}

static void test_top_p_and_min_p_cut_the_tail(void **state)
{
    (void)state;
    /* probabilities at T=1: about 0.64, 0.24, 0.09, 0.03 */
    const float logits[4] = { 3.0f, 2.0f, 1.0f, 0.0f };
    slm_sampling_t p = SLM_SAMPLING_INIT;
    p.temperature = 1.0f;
    p.top_k = 0;
    p.min_p = 0.0f;
    p.top_p = 0.8f; /* 0.64 < 0.8 <= 0.88: keeps ids 0 and 1 */
    int32_t out[2000];
    draw(p, logits, 4, out, 2000);
    int seen[4] = { 0 };
    for (int i = 0; i < 2000; i++)
        seen[out[i]]++;
    assert_true(seen[0] > 0 && seen[1] > 0);
    assert_int_equal(seen[2] + seen[3], 0);

    p.top_p = 1.0f;
    p.min_p = 0.2f; /* keeps p >= 0.128: ids 0 and 1 */
    draw(p, logits, 4, out, 2000);
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < 2000; i++)
        seen[out[i]]++;
    assert_true(seen[0] > 0 && seen[1] > 0);
    assert_int_equal(seen[2] + seen[3], 0);
}

static void test_repetition_penalty(void **state)
{
    (void)state;
    const float logits[3] = { 2.0f, 1.5f, -1.0f };
    slm_sampling_t p = greedy();
    p.repeat_penalty = 1.5f; /* 2.0 / 1.5 = 1.33 < 1.5 */
    p.repeat_last_n = 4;
    slm__sampler_t *s = make(p, 3);
    assert_int_equal(slm__sampler_sample(s, logits), 0);
    slm__sampler_accept(s, 0);
    assert_int_equal(slm__sampler_sample(s, logits), 1);
    /* out of the window after four other tokens */
    for (int i = 0; i < 4; i++)
        slm__sampler_accept(s, 2);
    assert_int_equal(slm__sampler_sample(s, logits), 0);
    slm__sampler_reset(s);
    assert_int_equal(slm__sampler_sample(s, logits), 0);
    slm__sampler_destroy(s);
}

static void test_bad_parameters(void **state)
{
    (void)state;
    slm__sampler_t *s = NULL;
    slm_sampling_t p = SLM_SAMPLING_INIT;
    p.repeat_penalty = 0.0f;
    assert_int_equal(slm__sampler_create(&p, 10, &s), SLM_ERR_INVALID_ARG);
    assert_non_null(strstr(slm_last_error(), "repeat_penalty"));
    assert_null(s);
    p = (slm_sampling_t)SLM_SAMPLING_INIT;
    p.temperature = NAN;
    assert_int_equal(slm__sampler_create(&p, 10, &s), SLM_ERR_INVALID_ARG);
    p = (slm_sampling_t)SLM_SAMPLING_INIT;
    assert_int_equal(slm__sampler_create(&p, 0, &s), SLM_ERR_INVALID_ARG);
    p.struct_size = 0;
    assert_int_equal(slm__sampler_create(&p, 10, &s), SLM_ERR_INVALID_ARG);
    assert_int_equal(slm__sampler_create(NULL, 10, &s), SLM_OK);
    slm__sampler_destroy(s);
    slm__sampler_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_picks_max_and_lowest_id_on_ties),
        cmocka_unit_test(test_top_k_one_is_greedy_at_any_temperature),
        cmocka_unit_test(test_same_seed_same_tokens),
        cmocka_unit_test(test_distribution_matches_softmax),
        cmocka_unit_test(test_top_p_and_min_p_cut_the_tail),
        cmocka_unit_test(test_repetition_penalty),
        cmocka_unit_test(test_bad_parameters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
