/* test_stats.c — acquisition histograms, quantiles, the one-minute window and period averages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "stats.h"

static void test_buckets_and_quantiles(void **state)
{
    (void)state;
    struct histogram h;
    memset(&h, 0, sizeof(h));
    assert_true(histogram_quantile(&h, 0.99) == 0.0);
    for (int i = 0; i < 98; i++)
        histogram_observe(&h, 50);        /* 50 us: first bucket (<= 100 us) */
    histogram_observe(&h, 7000);          /* 7 ms: (5 ms, 10 ms] */
    histogram_observe(&h, 120000000);     /* 120 s: above every bound */
    assert_int_equal(h.count, 100);
    assert_int_equal(h.counts[0], 98);
    assert_int_equal(h.counts[6], 1);
    assert_int_equal(h.counts[HIST_BUCKETS], 1);
    assert_true(histogram_quantile(&h, 0.5) <= 0.0001);
    double p99 = histogram_quantile(&h, 0.99);
    assert_true(p99 > 0.005 && p99 <= 0.010);
    assert_true(histogram_quantile(&h, 1.0) == 60.0);
}

static void test_window_forgets_old_seconds(void **state)
{
    (void)state;
    static struct hist_window w;
    struct histogram sum;
    memset(&w, 0, sizeof(w));
    window_observe(&w, 1000, 2000);
    window_observe(&w, 1030, 3000);
    window_sum(&w, 1030, &sum);
    assert_int_equal(sum.count, 2);
    window_sum(&w, 1061, &sum); /* second 1000 is now more than a minute ago */
    assert_int_equal(sum.count, 1);
    window_observe(&w, 1060, 10); /* same slot as 1000: reused, not added */
    window_sum(&w, 1060, &sum);
    assert_int_equal(sum.count, 2);
}

static void test_period_average(void **state)
{
    (void)state;
    struct pool_stats a = {0}, b = {0};
    struct pool_stats_avg avg;
    b.xact_count = 300;
    b.query_count = 600;
    b.xact_us = 3000;
    b.wait_us = 500;
    b.wait_count = 100;
    stats_average(&a, &b, 15.0, &avg);
    assert_true(avg.xact_per_s == 20.0);
    assert_true(avg.query_per_s == 40.0);
    assert_true(avg.xact_us == 10.0);
    assert_true(avg.wait_us == 5.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buckets_and_quantiles),
        cmocka_unit_test(test_window_forgets_old_seconds),
        cmocka_unit_test(test_period_average),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
