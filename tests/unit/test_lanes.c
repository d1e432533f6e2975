/* test_lanes.c — lane definitions, rules, classification and permissions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "lanes.h"

static void setup_lanes(struct lanes_conf *lc)
{
    char err[256];
    lanes_init(lc);
    assert_true(lanes_parse_lane(lc, "critical", "priority=1400 reserve=yes queue_timeout_ms=60000 users=planner,ceremony", err, sizeof(err)));
    assert_true(lanes_parse_lane(lc, "wedding", "priority=600 wedding_day_boost=500", err, sizeof(err)));
    assert_true(lanes_parse_lane(lc, "background", "priority=10 max_active=20% queue_timeout_ms=5000 max_waiting=200 users=*", err, sizeof(err)));
    assert_true(lanes_parse_rule(lc, "critical", "application_name=wedsync-ceremony*", err, sizeof(err)));
    assert_true(lanes_parse_rule(lc, "background", "user=reporting", err, sizeof(err)));
    assert_true(lanes_parse_rule(lc, "wedding", "addr=10.1.0.0/16 database=appdb", err, sizeof(err)));
}

static void test_parse_and_classify(void **state)
{
    (void)state;
    struct lanes_conf lc;
    setup_lanes(&lc);
    assert_int_equal(lc.nlanes, 4);
    int crit = lanes_find(&lc, "critical"), bg = lanes_find(&lc, "background"), wed = lanes_find(&lc, "wedding");
    assert_int_equal(lanes_classify(&lc, "app", "appdb", "wedsync-ceremony-42", NULL), crit);
    assert_int_equal(lanes_classify(&lc, "reporting", "appdb", "psql", NULL), bg);
    assert_int_equal(lanes_classify(&lc, "app", "appdb", "psql", NULL), lc.default_lane);
    struct sockaddr_in in = {.sin_family = AF_INET};
    inet_pton(AF_INET, "10.1.7.9", &in.sin_addr);
    assert_int_equal(lanes_classify(&lc, "app", "appdb", "x", (struct sockaddr *)&in), wed);
    assert_int_equal(lanes_classify(&lc, "app", "otherdb", "x", (struct sockaddr *)&in), lc.default_lane);
    inet_pton(AF_INET, "10.2.0.1", &in.sin_addr);
    assert_int_equal(lanes_classify(&lc, "app", "appdb", "x", (struct sockaddr *)&in), lc.default_lane);
    /* first match wins: a ceremony app run by reporting is critical */
    assert_int_equal(lanes_classify(&lc, "reporting", "appdb", "wedsync-ceremony", NULL), crit);
    lanes_free(&lc);
}

static void test_limits_and_permissions(void **state)
{
    (void)state;
    struct lanes_conf lc;
    setup_lanes(&lc);
    const struct lane_conf *bg = &lc.lanes[lanes_find(&lc, "background")];
    const struct lane_conf *crit = &lc.lanes[lanes_find(&lc, "critical")];
    assert_int_equal(lanes_max_active(bg, 50), 10);
    assert_int_equal(lanes_max_active(bg, 1), 1);
    assert_int_equal(lanes_max_active(crit, 50), -1);
    assert_true(lanes_user_may_request(crit, "planner"));
    assert_false(lanes_user_may_request(crit, "reporting"));
    assert_true(lanes_user_may_request(bg, "anyone"));
    assert_false(lanes_user_may_request(&lc.lanes[lc.default_lane], "app"));
    const struct lane_conf *wed = &lc.lanes[lanes_find(&lc, "wedding")];
    assert_int_equal(lanes_priority(wed, false, false), 600);
    assert_int_equal(lanes_priority(wed, true, false), 1100);
    lanes_free(&lc);
}

static void test_waiter_policy(void **state)
{
    (void)state;
    struct lanes_conf lc;
    setup_lanes(&lc);
    const struct lane_conf *bg = &lc.lanes[lanes_find(&lc, "background")];
    const struct lane_conf *crit = &lc.lanes[lanes_find(&lc, "critical")];
    const struct lane_conf *def = &lc.lanes[lc.default_lane];
    bool reserve = true;
    /* pool of 10 + 2 reserve, 4 in use: anyone may take a normal connection */
    struct lane_occupancy o = {10, 2, 4, 0};
    assert_true(lanes_may_take(def, 4, &o, &reserve));
    assert_false(reserve);
    /* background is capped at 20 % of 10 = 2 whatever room is left */
    assert_true(lanes_may_take(bg, 1, &o, &reserve));
    assert_false(lanes_may_take(bg, 2, &o, &reserve));
    /* normal capacity exhausted: only a reserve lane, and only while reserve is left */
    o.active = 10;
    assert_false(lanes_may_take(def, 10, &o, &reserve));
    assert_true(lanes_may_take(crit, 0, &o, &reserve));
    assert_true(reserve);
    o.active = 12;
    o.reserve_active = 2;
    assert_false(lanes_may_take(crit, 2, &o, &reserve));
    /* a reserve connection given back frees exactly one slot */
    o.active = 11;
    o.reserve_active = 1;
    assert_true(lanes_may_take(crit, 1, &o, &reserve));
    assert_true(reserve);
    /* reserve connections do not count against the normal capacity */
    o.active = 9 + 1;
    o.reserve_active = 1;
    assert_true(lanes_may_take(def, 9, &o, &reserve));
    assert_false(reserve);
    lanes_free(&lc);
}

static void test_launch_demand(void **state)
{
    (void)state;
    int limit = 0;
    /* room left: one login per waiter, up to max_pool_size */
    struct lane_occupancy o = {10, 3, 4, 0};
    assert_int_equal(lanes_launch_demand(&o, 7, 0, 0, 0, &limit), 7);
    assert_int_equal(limit, 10);
    /* exhausted: default-lane waiters open nothing above max_pool_size; the reserve is kept warm */
    o.active = 10;
    assert_int_equal(lanes_launch_demand(&o, 50, 0, 0, 0, &limit), 3);
    assert_int_equal(limit, 13);
    /* ... less the idle servers already warm, plus reserve-lane waiters */
    assert_int_equal(lanes_launch_demand(&o, 50, 2, 0, 1, &limit), 4);
    /* no reserve configured: plain demand, plain limit */
    o.reserve_size = 0;
    assert_int_equal(lanes_launch_demand(&o, 50, 2, 0, 0, &limit), 50);
    assert_int_equal(limit, 10);
}

static void test_errors(void **state)
{
    (void)state;
    struct lanes_conf lc;
    char err[256];
    lanes_init(&lc);
    assert_false(lanes_parse_lane(&lc, "x", "priority=abc", err, sizeof(err)));
    assert_non_null(strstr(err, "priority"));
    assert_false(lanes_parse_lane(&lc, "x", "speed=9", err, sizeof(err)));
    assert_non_null(strstr(err, "unknown lane setting"));
    assert_false(lanes_parse_lane(&lc, "x", "max_active=150%", err, sizeof(err)));
    assert_int_equal(lc.nlanes, 1);
    assert_false(lanes_parse_rule(&lc, "nosuch", "user=a", err, sizeof(err)));
    assert_non_null(strstr(err, "undefined lane"));
    assert_false(lanes_parse_rule(&lc, "default", "addr=10.0.0.0/33", err, sizeof(err)));
    assert_false(lanes_parse_rule(&lc, "default", "", err, sizeof(err)));
    assert_true(lanes_parse_lane(&lc, "default", "priority=50", err, sizeof(err)));
    assert_int_equal(lc.lanes[lc.default_lane].priority, 50);
    assert_true(lanes_parse_lane(&lc, "a", "priority=1", err, sizeof(err)));
    assert_false(lanes_parse_lane(&lc, "a", "priority=2", err, sizeof(err)));
    lanes_free(&lc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_and_classify),
        cmocka_unit_test(test_limits_and_permissions),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_waiter_policy),
        cmocka_unit_test(test_launch_demand),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
