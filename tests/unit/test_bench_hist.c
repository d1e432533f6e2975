/* test_bench_hist.c — wedpool-bench's log-linear histogram: bucket layout, percentiles of known
 * distributions within the promised 1 % precision, merge, clamping at 60 s. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "hist.h"

static struct hist h, h2;

/* |got - want| <= 1 % of want (+1 µs for tiny values). */
static void assert_close(uint64_t got, uint64_t want)
{
    uint64_t tol = want / 100 + 1;
    if (got + tol < want || got > want + tol)
        fail_msg("got %llu, want %llu (+-%llu)", (unsigned long long)got, (unsigned long long)want,
                 (unsigned long long)tol);
}

static void test_layout(void **state)
{
    (void)state;
    /* unit resolution below 256 µs */
    for (uint64_t v = 0; v < 256; v++) {
        assert_int_equal(hist_lowest(hist_index(v)), v);
        assert_int_equal(hist_highest(hist_index(v)), v);
    }
    /* every value lies inside its bucket, which is never wider than 1/128 of its values */
    for (uint64_t v = 256; v < HIST_MAX_US; v = v * 1.01 + 1) {
        unsigned i = hist_index(v);
        assert_true(i < HIST_LEN);
        assert_true(hist_lowest(i) <= v && v <= hist_highest(i));
        assert_true(hist_highest(i) - hist_lowest(i) + 1 <= hist_lowest(i) / 128 + 1);
    }
    /* consecutive buckets tile the range */
    for (unsigned i = 1; i < hist_index(HIST_MAX_US); i++)
        assert_int_equal(hist_lowest(i), hist_highest(i - 1) + 1);
}

static void test_uniform(void **state)
{
    (void)state;
    hist_init(&h);
    assert_int_equal(hist_percentile(&h, 50), 0);
    for (uint64_t v = 1; v <= 100000; v++)
        hist_record(&h, v);
    assert_int_equal(h.total, 100000);
    assert_close(hist_percentile(&h, 50), 50000);
    assert_close(hist_percentile(&h, 95), 95000);
    assert_close(hist_percentile(&h, 99), 99000);
    assert_close(hist_percentile(&h, 99.9), 99900);
    assert_int_equal(hist_percentile(&h, 100), 100000);
    assert_int_equal(hist_percentile(&h, 0), 1);
    assert_true(hist_mean(&h) > 50000.0 && hist_mean(&h) < 50001.0);
}

static void test_exact_small_values(void **state)
{
    (void)state;
    hist_init(&h);
    for (int i = 0; i < 990; i++)
        hist_record(&h, 100);
    for (int i = 0; i < 10; i++)
        hist_record(&h, 200);
    assert_int_equal(hist_percentile(&h, 50), 100);
    assert_int_equal(hist_percentile(&h, 99), 100);   /* rank 990 is the last 100 */
    assert_int_equal(hist_percentile(&h, 99.9), 200); /* rank 999 */
    assert_int_equal(h.min_us, 100);
    assert_int_equal(h.max_us, 200);
}

static void test_bimodal_tail(void **state)
{
    (void)state;
    hist_init(&h);
    for (int i = 0; i < 9900; i++)
        hist_record(&h, 1000);      /* 1 ms */
    for (int i = 0; i < 100; i++)
        hist_record(&h, 250000);    /* 250 ms */
    assert_close(hist_percentile(&h, 50), 1000);
    assert_close(hist_percentile(&h, 99), 1000);
    assert_close(hist_percentile(&h, 99.5), 250000);
    assert_int_equal(hist_percentile(&h, 100), 250000); /* never above the exact maximum */
}

static void test_merge(void **state)
{
    (void)state;
    hist_init(&h);
    hist_init(&h2);
    for (uint64_t v = 1; v <= 500; v++)
        hist_record(&h, v * 10);
    for (uint64_t v = 501; v <= 1000; v++)
        hist_record(&h2, v * 10);
    hist_merge(&h, &h2);
    assert_int_equal(h.total, 1000);
    assert_int_equal(h.min_us, 10);
    assert_int_equal(h.max_us, 10000);
    assert_close(hist_percentile(&h, 50), 5000);
    assert_close(hist_percentile(&h, 90), 9000);
    hist_init(&h2);
    hist_merge(&h, &h2); /* an empty one changes nothing */
    assert_int_equal(h.total, 1000);
    assert_int_equal(h.min_us, 10);
    hist_merge(&h2, &h);
    assert_int_equal(h2.min_us, 10);
    assert_int_equal(h2.total, 1000);
}

static void test_bounds(void **state)
{
    (void)state;
    hist_init(&h);
    hist_record(&h, 0);
    hist_record(&h, 120000000); /* 2 minutes: above the range */
    assert_int_equal(h.clamped, 1);
    assert_int_equal(h.max_us, 120000000);
    assert_int_equal(hist_index(120000000), hist_index(HIST_MAX_US));
    assert_int_equal(hist_percentile(&h, 50), 0);
    assert_close(hist_percentile(&h, 100), HIST_MAX_US);
    assert_true(sizeof(h) < 24 * 1024);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),  cmocka_unit_test(test_uniform), cmocka_unit_test(test_exact_small_values),
        cmocka_unit_test(test_bimodal_tail), cmocka_unit_test(test_merge), cmocka_unit_test(test_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
