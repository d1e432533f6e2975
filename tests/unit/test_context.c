/* test_context.c — the wedding context and criticality at chosen instants in Europe/London. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "context.h"
#include "wedding_testutil.h"

static struct context_conf london(void)
{
    struct context_conf cc;
    context_conf_defaults(&cc);
    cc.zone = ZONE;
    return cc;
}

static void test_defaults(void **state)
{
    (void)state;
    struct context_conf cc;
    context_conf_defaults(&cc);
    assert_string_equal(cc.zone, "");
    assert_int_equal(cc.ceremony_from_min, 480);
    assert_int_equal(cc.ceremony_to_min, 1320);
    assert_int_equal(cc.peak_from_month, 5);
    assert_int_equal(cc.peak_to_month, 10);
    assert_string_equal(criticality_name(CRIT_ROUTINE), "ROUTINE");
    assert_string_equal(criticality_name(CRIT_ELEVATED), "ELEVATED");
    assert_string_equal(criticality_name(CRIT_HIGH), "HIGH");
    assert_string_equal(criticality_name(CRIT_CRITICAL), "CRITICAL");
    assert_string_equal(criticality_name(CRIT_EMERGENCY), "EMERGENCY");
    assert_string_equal(criticality_name(0), "UNKNOWN");
}

/* Saturday 2026-01-17, 14:00-23:00 local, off-season. */
static void test_saturday_in_january(void **state)
{
    (void)state;
    struct wedding items[] = {wedding("Smith & Jones", local(2026, 1, 17, 14, 0), local(2026, 1, 17, 23, 0), 150)};
    struct wedding_list l = {items, 1, 1};
    struct context_conf cc = london();
    struct wedding_context c;

    wedding_context_compute(&l, local(2026, 1, 13, 12, 0), &cc, false, &c); /* ordinary Tuesday */
    assert_int_equal(c.criticality, CRIT_ROUTINE);
    assert_false(c.wedding_day);
    assert_false(c.wedding_tomorrow);
    assert_int_equal(c.weddings_next_24h, 0);
    assert_false(c.peak_season);
    assert_true(c.ceremony_hours);

    wedding_context_compute(&l, local(2026, 1, 16, 18, 0), &cc, true, &c); /* Friday evening */
    assert_int_equal(c.criticality, CRIT_ELEVATED);
    assert_true(c.wedding_tomorrow);
    assert_false(c.wedding_day);
    assert_int_equal(c.weddings_next_24h, 1);
    assert_int_equal(c.active_weddings, 0);

    wedding_context_compute(&l, local(2026, 1, 17, 10, 0), &cc, true, &c); /* its morning */
    assert_int_equal(c.criticality, CRIT_HIGH); /* an incident without a wedding on is not EMERGENCY */
    assert_true(c.wedding_day);
    assert_int_equal(c.weddings_today, 1);
    assert_int_equal(c.weddings_next_24h, 1);

    wedding_context_compute(&l, local(2026, 1, 17, 15, 0), &cc, false, &c); /* during it */
    assert_int_equal(c.criticality, CRIT_CRITICAL);
    assert_int_equal(c.active_weddings, 1);
    assert_int_equal(c.guests_affected, 150);
    assert_int_equal(c.vendors_affected, 8);
    assert_int_equal(c.weddings_next_24h, 0);
    wedding_context_compute(&l, local(2026, 1, 17, 15, 0), &cc, true, &c);
    assert_int_equal(c.criticality, CRIT_EMERGENCY);

    wedding_context_compute(&l, local(2026, 1, 17, 22, 30), &cc, false, &c); /* ceremony hours end at 22:00 */
    assert_false(c.ceremony_hours);
    assert_int_equal(c.criticality, CRIT_CRITICAL);
    wedding_context_compute(&l, local(2026, 1, 17, 23, 0), &cc, false, &c); /* end is exclusive */
    assert_int_equal(c.active_weddings, 0);
    assert_int_equal(c.criticality, CRIT_HIGH);
    wedding_context_compute(&l, local(2026, 1, 18, 10, 0), &cc, false, &c); /* the Sunday after */
    assert_int_equal(c.criticality, CRIT_ROUTINE);
    wedding_context_compute(NULL, local(2026, 1, 17, 15, 0), &cc, true, &c); /* no calendar at all */
    assert_int_equal(c.criticality, CRIT_ROUTINE);
}

static void test_peak_season(void **state)
{
    (void)state;
    struct context_conf cc = london();
    struct wedding_context c;
    wedding_context_compute(NULL, local(2026, 4, 30, 23, 59), &cc, false, &c);
    assert_false(c.peak_season);
    wedding_context_compute(NULL, local(2026, 5, 1, 0, 0), &cc, false, &c);
    assert_true(c.peak_season);
    wedding_context_compute(NULL, local(2026, 10, 31, 23, 59), &cc, false, &c);
    assert_true(c.peak_season);
    wedding_context_compute(NULL, local(2026, 11, 1, 0, 0), &cc, false, &c);
    assert_false(c.peak_season);
    cc.peak_from_month = 11; /* a southern season across New Year */
    cc.peak_to_month = 2;
    wedding_context_compute(NULL, local(2026, 1, 10, 12, 0), &cc, false, &c);
    assert_true(c.peak_season);
    wedding_context_compute(NULL, local(2026, 6, 10, 12, 0), &cc, false, &c);
    assert_false(c.peak_season);
}

/* 2026-03-29: London's clocks go forward, the day has 23 hours. A wedding at 00:30 on Monday is
 * tomorrow's, though it starts less than 24 hours after Sunday's midnight. */
static void test_dst_day(void **state)
{
    (void)state;
    struct wedding items[] = {wedding("Early", local(2026, 3, 30, 0, 30), local(2026, 3, 30, 1, 30), 50)};
    struct wedding_list l = {items, 1, 1};
    struct context_conf cc = london();
    struct wedding_context c;
    wedding_context_compute(&l, local(2026, 3, 29, 12, 0), &cc, false, &c);
    assert_false(c.wedding_day);
    assert_true(c.wedding_tomorrow);
    assert_int_equal(c.criticality, CRIT_ELEVATED);
    /* 2026-10-25: clocks go back, the day has 25 hours; at 23:30 GMT it is still Sunday */
    struct wedding late[] = {wedding("Late", local(2026, 10, 25, 23, 0), local(2026, 10, 25, 23, 50), 50)};
    struct wedding_list l2 = {late, 1, 1};
    wedding_context_compute(&l2, local(2026, 10, 25, 0, 30), &cc, false, &c);
    assert_true(c.wedding_day);
    assert_int_equal(c.criticality, CRIT_HIGH);
    assert_int_equal(c.weddings_next_24h, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_saturday_in_january),
        cmocka_unit_test(test_peak_season),
        cmocka_unit_test(test_dst_day),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
