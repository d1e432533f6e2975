/* test_route.c — host choice for target_session_attrs, the split-brain rule, breaker backoff. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config.h"
#include "route.h"

#define P(lag) {true, false, ROLE_PRIMARY, false, lag, false}
#define S(lag) {true, false, ROLE_STANDBY, false, lag, false}
#define DOWN {false, false, ROLE_UNKNOWN, false, -1, false}
#define UNK {true, false, ROLE_UNKNOWN, false, -1, false}

static void test_read_write_goes_to_primary(void **state)
{
    (void)state;
    struct route_host h[] = {S(0), P(0), S(0)};
    struct route_result r = route_pick(h, 3, TSA_READ_WRITE, -1, 0, false, 7);
    assert_int_equal(r.verdict, ROUTE_OK);
    assert_int_equal(r.host, 1);
    r = route_pick(h, 3, TSA_PRIMARY, -1, 0, true, 8);
    assert_int_equal(r.host, 1);
    /* the primary's circuit opens: wait for a promotion, do not write to a standby */
    h[1].circuit_open = true;
    h[1].up = false;
    r = route_pick(h, 3, TSA_READ_WRITE, -1, 0, false, 7);
    assert_int_equal(r.verdict, ROUTE_WAIT);
    assert_int_equal(r.reason, RR_NO_PRIMARY);
    /* a standby is promoted */
    h[2].role = ROLE_PRIMARY;
    r = route_pick(h, 3, TSA_READ_WRITE, -1, 0, false, 7);
    assert_int_equal(r.host, 2);
    /* read-write skips a read-only primary, primary does not */
    h[2].read_only = true;
    assert_int_equal(route_pick(h, 3, TSA_READ_WRITE, -1, 0, false, 7).verdict, ROUTE_WAIT);
    assert_int_equal(route_pick(h, 3, TSA_PRIMARY, -1, 0, false, 7).host, 2);
}

static void test_roles_unknown_wait(void **state)
{
    (void)state;
    struct route_host h[] = {UNK, UNK};
    struct route_result r = route_pick(h, 2, TSA_READ_WRITE, -1, 0, false, 0);
    assert_int_equal(r.verdict, ROUTE_WAIT);
    assert_int_equal(r.reason, RR_CHECKING);
    /* any: the first host that is not known to be down, as libpq tries them in order */
    h[0] = (struct route_host)DOWN;
    r = route_pick(h, 2, TSA_ANY, -1, 0, false, 0);
    assert_int_equal(r.host, 1);
    h[1] = (struct route_host)DOWN;
    r = route_pick(h, 2, TSA_ANY, -1, 0, false, 0);
    assert_int_equal(r.verdict, ROUTE_FAIL);
    assert_int_equal(r.reason, RR_ALL_DOWN);
}

static void test_restart_is_waited_for(void **state)
{
    (void)state;
    /* every host down, one of them logged in moments ago: a restart, waited for */
    struct route_host h[] = {DOWN, DOWN};
    h[1].restarting = true;
    struct route_result r = route_pick(h, 2, TSA_ANY, -1, 0, false, 0);
    assert_int_equal(r.verdict, ROUTE_WAIT);
    assert_int_equal(r.reason, RR_RESTARTING);
    assert_int_equal(route_pick(h, 2, TSA_READ_WRITE, -1, 0, false, 0).reason, RR_RESTARTING);
    /* a host that is up is used meanwhile */
    h[0] = (struct route_host)P(0);
    r = route_pick(h, 2, TSA_READ_WRITE, -1, 0, false, 0);
    assert_int_equal(r.verdict, ROUTE_OK);
    assert_int_equal(r.host, 0);
    /* past the window nothing is restarting: fail at once */
    h[0] = (struct route_host)DOWN;
    h[1].restarting = false;
    assert_int_equal(route_pick(h, 2, TSA_ANY, -1, 0, false, 0).verdict, ROUTE_FAIL);
}

static void test_split_brain(void **state)
{
    (void)state;
    struct route_host h[] = {P(0), P(0), S(0)};
    bool split;
    assert_int_equal(route_primary(h, 3, -1, &split), -1);
    assert_true(split);
    struct route_result r = route_pick(h, 3, TSA_READ_WRITE, -1, 0, false, 0);
    assert_int_equal(r.verdict, ROUTE_FAIL);
    assert_int_equal(r.reason, RR_SPLIT_BRAIN);
    assert_int_equal(route_pick(h, 3, TSA_ANY, -1, 0, false, 0).reason, RR_SPLIT_BRAIN);
    assert_false(route_acceptable(h, 3, 0, TSA_READ_WRITE, -1, 0));
    /* reads still go to the standby */
    assert_int_equal(route_pick(h, 3, TSA_STANDBY, -1, 0, false, 0).host, 2);
    /* primary_preference settles it */
    assert_int_equal(route_primary(h, 3, 1, &split), 1);
    assert_false(split);
    assert_int_equal(route_pick(h, 3, TSA_READ_WRITE, 1, 0, false, 0).host, 1);
    assert_true(route_acceptable(h, 3, 1, TSA_READ_WRITE, 1, 0));
    assert_false(route_acceptable(h, 3, 0, TSA_READ_WRITE, 1, 0));
    /* a preference for a host that does not claim primary does not */
    assert_int_equal(route_primary(h, 3, 2, &split), -1);
    assert_true(split);
    /* a primary that is down does not count */
    h[0].up = false;
    assert_int_equal(route_primary(h, 3, -1, &split), 1);
    assert_false(split);
}

static void test_standbys_spread_and_lag(void **state)
{
    (void)state;
    struct route_host h[] = {P(0), S(10), S(5000)};
    int seen[3] = {0};
    for (uint32_t rnd = 0; rnd < 20; rnd++) {
        struct route_result r = route_pick(h, 3, TSA_READ_ONLY, -1, 0, false, rnd);
        assert_int_equal(r.verdict, ROUTE_OK);
        seen[r.host]++;
    }
    assert_int_equal(seen[0], 0);
    assert_true(seen[1] > 0 && seen[2] > 0);
    /* the lagging standby is skipped */
    for (uint32_t rnd = 0; rnd < 20; rnd++)
        assert_int_equal(route_pick(h, 3, TSA_STANDBY, -1, 1000, false, rnd).host, 1);
    assert_false(route_acceptable(h, 3, 2, TSA_STANDBY, -1, 1000));
    h[1].lag_ms = 2000;
    struct route_result r = route_pick(h, 3, TSA_STANDBY, -1, 1000, false, 0);
    assert_int_equal(r.verdict, ROUTE_FAIL);
    assert_int_equal(r.reason, RR_ALL_LAGGING);
    /* prefer-standby falls back to the primary */
    r = route_pick(h, 3, TSA_PREFER_STANDBY, -1, 1000, false, 0);
    assert_int_equal(r.host, 0);
    assert_true(route_acceptable(h, 3, 0, TSA_PREFER_STANDBY, -1, 1000));
    h[1].lag_ms = 0;
    assert_int_equal(route_pick(h, 3, TSA_PREFER_STANDBY, -1, 1000, false, 0).host, 1);
    assert_false(route_acceptable(h, 3, 0, TSA_PREFER_STANDBY, -1, 1000));
    /* read-only accepts a read-only primary, standby does not */
    struct route_host g[] = {{true, false, ROLE_PRIMARY, true, 0, false}};
    assert_int_equal(route_pick(g, 1, TSA_READ_ONLY, -1, 0, false, 0).host, 0);
    assert_int_equal(route_pick(g, 1, TSA_STANDBY, -1, 0, false, 0).reason, RR_NO_STANDBY);
}

static void test_load_balance_any(void **state)
{
    (void)state;
    struct route_host h[] = {UNK, UNK, UNK};
    int seen[3] = {0};
    for (uint32_t rnd = 0; rnd < 30; rnd++)
        seen[route_pick(h, 3, TSA_ANY, -1, 0, true, rnd).host]++;
    assert_true(seen[0] > 0 && seen[1] > 0 && seen[2] > 0);
    for (uint32_t rnd = 0; rnd < 30; rnd++)
        assert_int_equal(route_pick(h, 3, TSA_ANY, -1, 0, false, rnd).host, 0);
}

static void test_backoff(void **state)
{
    (void)state;
    uint32_t prev_hi = 0;
    for (int a = 0; a < 6; a++) {
        uint32_t base = 250u << a;
        if (base > 8000)
            base = 8000;
        uint32_t lo = route_backoff_ms(a, 0), hi = route_backoff_ms(a, 499);
        assert_int_equal(lo, base * 3 / 4);
        assert_true(hi <= base * 5 / 4 && hi > lo);
        assert_true(hi >= prev_hi / 2);
        prev_hi = hi;
    }
    assert_true(route_backoff_ms(40, 250) <= 10000);
    assert_true(route_backoff_ms(40, 0) >= 6000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_write_goes_to_primary),
        cmocka_unit_test(test_roles_unknown_wait),
        cmocka_unit_test(test_restart_is_waited_for),
        cmocka_unit_test(test_split_brain),
        cmocka_unit_test(test_standbys_spread_and_lag),
        cmocka_unit_test(test_load_balance_any),
        cmocka_unit_test(test_backoff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
