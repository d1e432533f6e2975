/* test_bench_sched.c — wedpool-bench's random source, Poisson arrival schedule and lane mix. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>

#include <cmocka.h>

#include "sched.h"

static void test_rng_is_seeded_and_uniform(void **state)
{
    (void)state;
    struct rng a, b, c;
    rng_seed(&a, 42);
    rng_seed(&b, 42);
    rng_seed(&c, 43);
    int same = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t x = rng_next(&a);
        assert_true(x == rng_next(&b));
        same += x == rng_next(&c);
    }
    assert_int_equal(same, 0);
    /* rng_between stays in range and hits both ends; rng_uniform is in (0, 1] with mean 1/2 */
    int seen_lo = 0, seen_hi = 0;
    double sum = 0;
    for (int i = 0; i < 100000; i++) {
        uint64_t v = rng_between(&a, 1, 10);
        assert_true(v >= 1 && v <= 10);
        seen_lo |= v == 1;
        seen_hi |= v == 10;
        double u = rng_uniform(&a);
        assert_true(u > 0 && u <= 1);
        sum += u;
    }
    assert_true(seen_lo && seen_hi);
    assert_true(fabs(sum / 100000 - 0.5) < 0.01);
    assert_int_equal(rng_between(&a, 7, 7), 7);
}

static void test_poisson_rate(void **state)
{
    (void)state;
    /* 200,000 arrivals at 1000/s: the mean gap is 1 ms within 1 %, the gaps' standard deviation
     * equals their mean (exponential), and about 1/e of the gaps are longer than the mean. */
    struct arrivals a;
    arrivals_init(&a, 1000.0, 7);
    const int n = 200000;
    uint64_t prev = 0, longer = 0;
    double sum = 0, sumsq = 0;
    for (int i = 0; i < n; i++) {
        assert_true(arrivals_peek(&a) == arrivals_peek(&a));
        uint64_t t = arrivals_next(&a);
        assert_true(t >= prev);
        double gap = (double)(t - prev);
        sum += gap;
        sumsq += gap * gap;
        longer += gap > 1000.0;
        prev = t;
    }
    double mean = sum / n, sd = sqrt(sumsq / n - mean * mean);
    double rate = n / (prev / 1e6);
    assert_true(fabs(rate - 1000.0) < 10.0);
    assert_true(fabs(mean - 1000.0) < 10.0);
    assert_true(fabs(sd - mean) / mean < 0.02);
    assert_true(fabs((double)longer / n - exp(-1.0)) < 0.01);

    /* the same seed gives the same schedule */
    struct arrivals b, c;
    arrivals_init(&b, 50.0, 99);
    arrivals_init(&c, 50.0, 99);
    for (int i = 0; i < 1000; i++)
        assert_true(arrivals_next(&b) == arrivals_next(&c));
}

static void test_lane_split_exact(void **state)
{
    (void)state;
    unsigned pct[3] = {5, 80, 15}, counts[3];
    lanes_split(pct, 3, 100, counts);
    assert_int_equal(counts[0], 5);
    assert_int_equal(counts[1], 80);
    assert_int_equal(counts[2], 15);
    lanes_split(pct, 3, 10000, counts);
    assert_int_equal(counts[0], 500);
    assert_int_equal(counts[1], 8000);
    assert_int_equal(counts[2], 1500);
    /* 7 clients: floors 0/5/1 = 6, remainders .35/.6/.05: the 7th goes to default */
    lanes_split(pct, 3, 7, counts);
    assert_int_equal(counts[0], 0);
    assert_int_equal(counts[1], 6);
    assert_int_equal(counts[2], 1);
    /* equal remainders: the earlier lane wins */
    unsigned thirds[3] = {33, 33, 34};
    lanes_split(thirds, 3, 2, counts);
    assert_int_equal(counts[0] + counts[1] + counts[2], 2);
    assert_int_equal(counts[2], 1);
    assert_int_equal(counts[0], 1);
    /* every n adds up */
    for (unsigned n = 1; n <= 1000; n++) {
        lanes_split(pct, 3, n, counts);
        assert_int_equal(counts[0] + counts[1] + counts[2], n);
        for (int j = 0; j < 3; j++)
            assert_true(fabs((double)counts[j] - n * pct[j] / 100.0) < 1.0);
    }
}

static void test_lane_assign_interleaves(void **state)
{
    (void)state;
    unsigned counts[3] = {5, 80, 15};
    int lane[100];
    lanes_assign(counts, 3, 100, lane);
    unsigned got[3] = {0, 0, 0}, first_half[3] = {0, 0, 0};
    for (int i = 0; i < 100; i++) {
        assert_true(lane[i] >= 0 && lane[i] < 3);
        got[lane[i]]++;
        if (i < 50)
            first_half[lane[i]]++;
    }
    for (int j = 0; j < 3; j++)
        assert_int_equal(got[j], counts[j]);
    /* spread over the sequence, not in blocks */
    assert_true(first_half[0] >= 2 && first_half[0] <= 3);
    assert_true(first_half[2] >= 7 && first_half[2] <= 8);
    unsigned none[2] = {0, 4};
    int l2[4];
    lanes_assign(none, 2, 4, l2);
    for (int i = 0; i < 4; i++)
        assert_int_equal(l2[i], 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng_is_seeded_and_uniform), cmocka_unit_test(test_poisson_rate),
        cmocka_unit_test(test_lane_split_exact), cmocka_unit_test(test_lane_assign_interleaves),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
