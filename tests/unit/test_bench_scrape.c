/* test_bench_scrape.c — wedpool-bench's reading of the pooler's /metrics: bucket deltas between two
 * scrapes and histogram_quantile's interpolation, per lane and in total, for one database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

#include <cmocka.h>

#include "metrics_scrape.h"

/* Before the run: 10 acquisitions of the default lane, all under 100 µs. */
static const char before[] =
    "# HELP db_pool_acquire_seconds Time from a client needing a server connection until one is assigned.\n"
    "# TYPE db_pool_acquire_seconds histogram\n"
    "db_pool_acquire_seconds_bucket{database=\"appdb\",user=\"app\",le=\"0.0001\"} 10\n"
    "db_pool_acquire_seconds_bucket{database=\"appdb\",user=\"app\",le=\"0.00025\"} 10\n"
    "db_pool_acquire_seconds_bucket{database=\"appdb\",user=\"app\",le=\"0.0005\"} 10\n"
    "db_pool_acquire_seconds_bucket{database=\"appdb\",user=\"app\",le=\"0.001\"} 10\n"
    "db_pool_acquire_seconds_bucket{database=\"appdb\",user=\"app\",le=\"60\"} 10\n"
    "db_pool_acquire_seconds_bucket{database=\"appdb\",user=\"app\",le=\"+Inf\"} 10\n"
    "db_pool_acquire_seconds_sum{database=\"appdb\",user=\"app\"} 0.000500\n"
    "db_pool_acquire_seconds_count{database=\"appdb\",user=\"app\"} 10\n"
    "wedpool_lane_acquire_seconds_bucket{database=\"appdb\",user=\"app\",lane=\"default\",le=\"0.0001\"} 10\n"
    "wedpool_lane_acquire_seconds_bucket{database=\"appdb\",user=\"app\",lane=\"default\",le=\"0.00025\"} 10\n"
    "wedpool_lane_acquire_seconds_bucket{database=\"appdb\",user=\"app\",lane=\"default\",le=\"0.0005\"} 10\n"
    "wedpool_lane_acquire_seconds_bucket{database=\"appdb\",user=\"app\",lane=\"default\",le=\"0.001\"} 10\n"
    "wedpool_lane_acquire_seconds_bucket{database=\"appdb\",user=\"app\",lane=\"default\",le=\"60\"} 10\n"
    "wedpool_lane_acquire_seconds_bucket{database=\"appdb\",user=\"app\",lane=\"default\",le=\"+Inf\"} 10\n";

/* After: default +90 (40 <= 100 µs, 40 in (100, 250] µs, 10 in (250, 500] µs), critical +5 (all
 * <= 100 µs), background +20 of which 2 waited longer than 60 s; otherdb must not count. */
static const char after[] =
    "# TYPE db_pool_active_connections gauge\n"
    "db_pool_active_connections{database=\"appdb\",user=\"app\"} 3\n"
    "# TYPE db_pool_acquire_seconds histogram\n"
    "db_pool_acquire_seconds_bucket{database=\"appdb\",user=\"app\",le=\"0.0001\"} 70\n"
    "db_pool_acquire_seconds_bucket{database=\"appdb\",user=\"app\",le=\"0.00025\"} 110\n"
    "db_pool_acquire_seconds_bucket{database=\"appdb\",user=\"app\",le=\"0.0005\"} 120\n"
    "db_pool_acquire_seconds_bucket{database=\"appdb\",user=\"app\",le=\"0.001\"} 120\n"
    "db_pool_acquire_seconds_bucket{database=\"appdb\",user=\"app\",le=\"60\"} 133\n"
    "db_pool_acquire_seconds_bucket{database=\"appdb\",user=\"app\",le=\"+Inf\"} 135\n"
    "db_pool_acquire_seconds_sum{database=\"appdb\",user=\"app\"} 150.5\n"
    "db_pool_acquire_seconds_count{database=\"appdb\",user=\"app\"} 135\n"
    "db_pool_acquire_seconds_bucket{database=\"otherdb\",user=\"app\",le=\"0.0001\"} 0\n"
    "db_pool_acquire_seconds_bucket{database=\"otherdb\",user=\"app\",le=\"0.00025\"} 0\n"
    "db_pool_acquire_seconds_bucket{database=\"otherdb\",user=\"app\",le=\"0.0005\"} 0\n"
    "db_pool_acquire_seconds_bucket{database=\"otherdb\",user=\"app\",le=\"0.001\"} 0\n"
    "db_pool_acquire_seconds_bucket{database=\"otherdb\",user=\"app\",le=\"60\"} 1000\n"
    "db_pool_acquire_seconds_bucket{database=\"otherdb\",user=\"app\",le=\"+Inf\"} 1000\n"
    "# TYPE wedpool_lane_acquire_seconds histogram\n"
    "wedpool_lane_acquire_seconds_bucket{database=\"appdb\",user=\"app\",lane=\"critical\",le=\"0.0001\"} 5\n"
    "wedpool_lane_acquire_seconds_bucket{database=\"appdb\",user=\"app\",lane=\"critical\",le=\"0.00025\"} 5\n"
    "wedpool_lane_acquire_seconds_bucket{database=\"appdb\",user=\"app\",lane=\"critical\",le=\"0.0005\"} 5\n"
    "wedpool_lane_acquire_seconds_bucket{database=\"appdb\",user=\"app\",lane=\"critical\",le=\"0.001\"} 5\n"
    "wedpool_lane_acquire_seconds_bucket{database=\"appdb\",user=\"app\",lane=\"critical\",le=\"60\"} 5\n"
    "wedpool_lane_acquire_seconds_bucket{database=\"appdb\",user=\"app\",lane=\"critical\",le=\"+Inf\"} 5\n"
    "wedpool_lane_acquire_seconds_sum{database=\"appdb\",user=\"app\",lane=\"critical\"} 0.000250\n"
    "wedpool_lane_acquire_seconds_count{database=\"appdb\",user=\"app\",lane=\"critical\"} 5\n"
    "wedpool_lane_acquire_seconds_bucket{database=\"appdb\",user=\"app\",lane=\"default\",le=\"0.0001\"} 50\n"
    "wedpool_lane_acquire_seconds_bucket{database=\"appdb\",user=\"app\",lane=\"default\",le=\"0.00025\"} 90\n"
    "wedpool_lane_acquire_seconds_bucket{database=\"appdb\",user=\"app\",lane=\"default\",le=\"0.0005\"} 100\n"
    "wedpool_lane_acquire_seconds_bucket{database=\"appdb\",user=\"app\",lane=\"default\",le=\"0.001\"} 100\n"
    "wedpool_lane_acquire_seconds_bucket{database=\"appdb\",user=\"app\",lane=\"default\",le=\"60\"} 100\n"
    "wedpool_lane_acquire_seconds_bucket{database=\"appdb\",user=\"app\",lane=\"default\",le=\"+Inf\"} 100\n"
    "wedpool_lane_acquire_seconds_bucket{database=\"appdb\",user=\"app\",lane=\"background\",le=\"0.0001\"} 5\n"
    "wedpool_lane_acquire_seconds_bucket{database=\"appdb\",user=\"app\",lane=\"background\",le=\"0.00025\"} 5\n"
    "wedpool_lane_acquire_seconds_bucket{database=\"appdb\",user=\"app\",lane=\"background\",le=\"0.0005\"} 5\n"
    "wedpool_lane_acquire_seconds_bucket{database=\"appdb\",user=\"app\",lane=\"background\",le=\"0.001\"} 5\n"
    "wedpool_lane_acquire_seconds_bucket{database=\"appdb\",user=\"app\",lane=\"background\",le=\"60\"} 18\n"
    "wedpool_lane_acquire_seconds_bucket{database=\"appdb\",user=\"app\",lane=\"background\",le=\"+Inf\"} 20\n"
    "wedpool_lane_acquire_seconds_bucket{database=\"otherdb\",user=\"app\",lane=\"default\",le=\"0.0001\"} 0\n"
    "wedpool_lane_acquire_seconds_bucket{database=\"otherdb\",user=\"app\",lane=\"default\",le=\"60\"} 1000\n"
    "wedpool_lane_acquire_seconds_bucket{database=\"otherdb\",user=\"app\",lane=\"default\",le=\"+Inf\"} 1000\n"
    "# TYPE wedpool_pg_up gauge\n"
    "wedpool_pg_up{database=\"appdb\"} 1\n";

static void assert_near(double got, double want)
{
    if (!(fabs(got - want) <= 1e-12 + 1e-9 * fabs(want)))
        fail_msg("got %.12g, want %.12g", got, want);
}

static const struct acq_quantiles *lane(const struct acq_result *r, const char *name)
{
    for (int i = 0; i < r->nlanes; i++)
        if (strcmp(r->lanes[i].lane, name) == 0)
            return &r->lanes[i];
    fail_msg("no lane %s", name);
    return NULL;
}

static void test_parse_and_delta(void **state)
{
    (void)state;
    static struct scrape_set a, b, d;
    assert_int_equal(scrape_parse(after, "wedpool_lane_acquire_seconds", "appdb", &a), 18);
    assert_int_equal(a.n, 3);
    assert_int_equal(scrape_parse(before, "wedpool_lane_acquire_seconds", "appdb", &b), 6);
    scrape_delta(&a, &b, &d);
    const struct scrape_hist *def = NULL;
    for (int i = 0; i < d.n; i++)
        if (strcmp(d.h[i].lane, "default") == 0)
            def = &d.h[i];
    assert_non_null(def);
    assert_int_equal(def->nbuckets, 6);
    assert_true(isinf(def->le[5]));
    assert_near(def->cum[0], 40);
    assert_near(def->cum[1], 80);
    assert_near(def->cum[2], 90);
    assert_near(scrape_count(def), 90);
    /* every database: otherdb's series are added to appdb's */
    assert_int_equal(scrape_parse(after, "wedpool_lane_acquire_seconds", NULL, &a), 21);
    assert_int_equal(scrape_parse(after, "no_such_family", NULL, &a), 0);
}

static void test_quantiles_per_lane(void **state)
{
    (void)state;
    struct acq_result r;
    assert_int_equal(scrape_acquisition(before, after, "appdb", &r), 1);
    assert_string_equal(r.lanes_family, "wedpool_lane_acquire_seconds");
    assert_string_equal(r.database, "appdb");
    assert_int_equal(r.nlanes, 3);
    /* default: 90 in the window; p50 = rank 45, 5 of 40 into (100 µs, 250 µs] */
    const struct acq_quantiles *q = lane(&r, "default");
    assert_near(q->count, 90);
    assert_near(q->p50_s, 0.0001 + 0.00015 * 5.0 / 40.0);
    assert_near(q->p95_s, 0.00025 + 0.00025 * 5.5 / 10.0);
    assert_near(q->p99_s, 0.00025 + 0.00025 * 9.1 / 10.0);
    /* critical: all 5 in the first bucket, interpolated from 0 */
    q = lane(&r, "critical");
    assert_near(q->count, 5);
    assert_near(q->p50_s, 0.00005);
    assert_near(q->p99_s, 0.000099);
    /* background: p99 falls in +Inf, which PromQL answers with the highest finite bound */
    q = lane(&r, "background");
    assert_near(q->count, 20);
    assert_near(q->p50_s, 0.001 + (60 - 0.001) * 5.0 / 13.0);
    assert_near(q->p99_s, 60);
    /* total from db_pool_acquire_seconds: 125 after the 10 before */
    assert_near(r.total.count, 125);
    assert_near(r.total.p50_s, 0.0001 + 0.00015 * (62.5 - 60) / 40.0);
}

static void test_lane_label_on_the_pool_histogram(void **state)
{
    (void)state;
    static const char text[] =
        "db_pool_acquire_seconds_bucket{database=\"appdb\",user=\"app\",lane=\"crit\\\"ical\",le=\"0.001\"} 4\n"
        "db_pool_acquire_seconds_bucket{database=\"appdb\",user=\"app\",lane=\"crit\\\"ical\",le=\"+Inf\"} 4\n"
        "db_pool_acquire_seconds_bucket{database=\"appdb\",user=\"other\",lane=\"crit\\\"ical\",le=\"0.001\"} 4\n"
        "db_pool_acquire_seconds_bucket{database=\"appdb\",user=\"other\",lane=\"crit\\\"ical\",le=\"+Inf\"} 4\n";
    struct acq_result r;
    assert_int_equal(scrape_acquisition(NULL, text, "nosuchdb", &r), 1);
    assert_string_equal(r.lanes_family, "db_pool_acquire_seconds");
    assert_string_equal(r.database, ""); /* the pooler does not report nosuchdb: every database */
    assert_int_equal(r.nlanes, 1);
    assert_string_equal(r.lanes[0].lane, "crit\"ical");
    assert_near(r.lanes[0].count, 8); /* the two users' series are summed */
    assert_near(r.lanes[0].p50_s, 0.0005);
    assert_near(r.total.count, 8);
}

static void test_not_measured(void **state)
{
    (void)state;
    struct acq_result r;
    assert_int_equal(scrape_acquisition(NULL, "# nothing here\nup 1\n", "appdb", &r), 0);
    assert_non_null(strstr(r.reason, "no db_pool_acquire_seconds"));
    /* an empty window: the quantiles are NaN, the count 0 */
    assert_int_equal(scrape_acquisition(after, after, "appdb", &r), 1);
    assert_near(r.total.count, 0);
    assert_true(isnan(r.total.p99_s));
    /* a pooler restarted between the scrapes: counts from zero */
    assert_int_equal(scrape_acquisition(after, before, "appdb", &r), 1);
    assert_near(r.total.count, 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_and_delta),
        cmocka_unit_test(test_quantiles_per_lane),
        cmocka_unit_test(test_lane_label_on_the_pool_histogram),
        cmocka_unit_test(test_not_measured),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
