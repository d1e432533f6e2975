/* test_forecast.c — the forecast formula at chosen instants in Europe/London: windows that need a
 * weekend with weddings, the wedding-day floor, peak season, each wedding's load, DST days, custom
 * windows and the warm target ahead of a spike. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "context.h"
#include "forecast.h"
#include "wedding_testutil.h"

struct fixture {
    struct forecast_conf fc;
    struct context_conf cc;
    struct wedding items[4];
    struct wedding_list l;
};

static struct fixture *fx_new(void)
{
    static struct fixture f;
    memset(&f, 0, sizeof(f));
    forecast_conf_defaults(&f.fc);
    context_conf_defaults(&f.cc);
    f.cc.zone = ZONE;
    f.l.items = f.items;
    return &f;
}

static void fx_add(struct fixture *f, struct wedding w)
{
    f->items[f->l.n++] = w;
    f->l.cap = f->l.n;
}

static struct forecast_step at(struct fixture *f, time_t t)
{
    struct forecast_step st;
    forecast_at(&f->fc, &f->cc, &f->l, t, &st);
    return st;
}

#define assert_why(st, text)                                                                                          \
    do {                                                                                                              \
        if (strstr((st).why, (text)) == NULL)                                                                         \
            fail_msg("why \"%s\" lacks \"%s\"", (st).why, (text));                                                   \
    } while (0)

static void test_defaults(void **state)
{
    (void)state;
    struct forecast_conf fc;
    forecast_conf_defaults(&fc);
    assert_int_equal(fc.nwindows, 4);
    assert_false(fc.custom);
    assert_string_equal(fc.windows[0].name, "friday_evening");
    assert_int_equal(fc.windows[0].days, 1u << 5);
    assert_int_equal(fc.windows[0].from_min, 17 * 60);
    assert_int_equal(fc.windows[0].to_min, 1440);
    assert_true(fc.windows[2].multiplier == 10);
    assert_string_equal(fc.windows[3].name, "sunday_recovery");
    assert_int_equal(fc.windows[3].days, 1u);
    assert_true(fc.wedding_day_multiplier == 3);
    assert_true(fc.peak_season_factor == 1.2);
    assert_int_equal(fc.guests_per_connection, 25);
    assert_int_equal(fc.wedding_lead_s, 1800);
}

/* Off-season (January), one wedding on Saturday 2026-01-17 14:00-23:00, 150 guests. */
static struct fixture *january(void)
{
    struct fixture *f = fx_new();
    fx_add(f, wedding("Smith & Jones", local(2026, 1, 17, 14, 0), local(2026, 1, 17, 23, 0), 150));
    return f;
}

static void test_weekend_with_a_wedding(void **state)
{
    (void)state;
    struct fixture *f = january();
    struct forecast_step st = at(f, local(2026, 1, 13, 12, 0)); /* ordinary Tuesday */
    assert_true(st.multiplier == 1);
    assert_int_equal(st.wedding_load, 0);
    assert_int_equal(forecast_connections(&st, 10), 10);
    assert_why(st, "no window or wedding day: x1");

    st = at(f, local(2026, 1, 16, 18, 0)); /* the Friday evening before */
    assert_true(st.multiplier == 2);
    assert_why(st, "friday_evening x2 (weekend with 1 wedding)");
    st = at(f, local(2026, 1, 16, 16, 59)); /* before the window opens */
    assert_true(st.multiplier == 1);

    st = at(f, local(2026, 1, 17, 10, 0)); /* Saturday morning: window x5 beats the wedding-day floor x3 */
    assert_true(st.multiplier == 5);
    assert_int_equal(st.wedding_load, 0);
    assert_why(st, "saturday_morning x5 (weekend with 1 wedding)");
    assert_why(st, "wedding day x3 lower");

    st = at(f, local(2026, 1, 17, 15, 0)); /* during the wedding */
    assert_true(st.multiplier == 5);
    assert_int_equal(st.weddings, 1);
    assert_int_equal(st.wedding_load, 6); /* ceil(150 / 25) */
    assert_int_equal(forecast_connections(&st, 10), 56);
    assert_why(st, "1 wedding (Smith & Jones) 150 guests: +6");

    st = at(f, local(2026, 1, 17, 20, 0));
    assert_true(st.multiplier == 10);
    assert_int_equal(forecast_connections(&st, 10), 106);
    assert_why(st, "saturday_evening x10 (weekend with 1 wedding)");

    /* the wedding's own load: from 30 min before its start to 30 min after its end */
    assert_int_equal(at(f, local(2026, 1, 17, 13, 29)).wedding_load, 0);
    assert_int_equal(at(f, local(2026, 1, 17, 13, 30)).wedding_load, 6);
    assert_int_equal(at(f, local(2026, 1, 17, 23, 29)).wedding_load, 6);
    assert_int_equal(at(f, local(2026, 1, 17, 23, 30)).wedding_load, 0);

    st = at(f, local(2026, 1, 18, 11, 0)); /* Sunday recovery, same weekend */
    assert_true(st.multiplier == 3);
    st = at(f, local(2026, 1, 19, 11, 0)); /* Monday */
    assert_true(st.multiplier == 1);
}

static void test_weekend_without_weddings(void **state)
{
    (void)state;
    struct fixture *f = january();
    struct forecast_step st = at(f, local(2026, 1, 24, 20, 0)); /* the next Saturday */
    assert_true(st.multiplier == 1);
    assert_why(st, "saturday_evening off (weekend without weddings)");
    char err[256];
    assert_true(forecast_parse_window(&f->fc, "saturday_always", "days=sat from=16:00 to=24:00 multiplier=4 always=yes",
                                      err, sizeof(err)));
    st = at(f, local(2026, 1, 24, 20, 0));
    assert_true(st.multiplier == 4);
    assert_why(st, "saturday_always x4 (always)");
}

static void test_wedding_day_floor(void **state)
{
    (void)state;
    struct fixture *f = fx_new(); /* a Wednesday wedding: no window, the floor applies all day */
    fx_add(f, wedding("Midweek", local(2026, 1, 14, 13, 0), local(2026, 1, 14, 18, 0), 60));
    struct forecast_step st = at(f, local(2026, 1, 14, 9, 0));
    assert_true(st.multiplier == 3);
    assert_why(st, "wedding day x3 (1 wedding today)");
    assert_int_equal(forecast_connections(&st, 4), 12);
    st = at(f, local(2026, 1, 14, 14, 0));
    assert_int_equal(st.wedding_load, 3); /* ceil(60 / 25) */
    assert_true(at(f, local(2026, 1, 13, 23, 59)).multiplier == 1);
}

static void test_peak_season(void **state)
{
    (void)state;
    struct fixture *f = fx_new();
    fx_add(f, wedding("Smith & Jones", local(2026, 6, 13, 14, 0), local(2026, 6, 13, 23, 0), 150));
    fx_add(f, wedding("Patel", local(2026, 6, 13, 15, 0), local(2026, 6, 13, 22, 0), 300));
    struct forecast_step st = at(f, local(2026, 6, 13, 20, 0));
    assert_true(st.multiplier > 11.999 && st.multiplier < 12.001);
    assert_int_equal(st.wedding_load, 18); /* 6 + 12 */
    assert_int_equal(forecast_connections(&st, 10), 138); /* 10 x 1.2 x 10 is 120, not 121 */
    assert_why(st, "saturday_evening x10 (weekend with 2 weddings); ");
    assert_why(st, "peak season x1.2; 2 weddings (Smith & Jones, Patel) 450 guests: +18");
    st = at(f, local(2026, 6, 9, 12, 0)); /* a June Tuesday: only the season */
    assert_true(st.multiplier > 1.199 && st.multiplier < 1.201);
    assert_int_equal(forecast_connections(&st, 10), 12);
}

/* Local days and weekends on the days the clocks change. */
static void test_dst_days(void **state)
{
    (void)state;
    struct fixture *f = fx_new();
    fx_add(f, wedding("Spring", local(2026, 3, 28, 14, 0), local(2026, 3, 28, 20, 0), 100));
    fx_add(f, wedding("Autumn", local(2026, 10, 24, 14, 0), local(2026, 10, 24, 20, 0), 100));
    time_t t;
    assert_true(clock_parse_iso("2026-03-29T22:30:00Z", &t)); /* Sunday 23:30 BST */
    assert_true(at(f, t).multiplier == 3);
    assert_true(clock_parse_iso("2026-03-29T23:30:00Z", &t)); /* Monday 00:30 BST */
    assert_true(at(f, t).multiplier == 1);
    assert_true(clock_parse_iso("2026-10-25T23:30:00Z", &t)); /* Sunday 23:30 GMT, a 25-hour day */
    struct forecast_step st = at(f, t);
    assert_true(st.multiplier > 3.599 && st.multiplier < 3.601);
    assert_why(st, "sunday_recovery x3 (weekend with 1 wedding)");
    assert_true(clock_parse_iso("2026-10-26T00:30:00Z", &t)); /* Monday 00:30 GMT */
    assert_true(at(f, t).multiplier > 1.199 && at(f, t).multiplier < 1.201);
}

static void test_parse_windows(void **state)
{
    (void)state;
    struct forecast_conf fc;
    forecast_conf_defaults(&fc);
    char err[256];
    static const struct {
        const char *spec, *needle1, *needle2;
    } bad[] = {
        {"days=funday from=17:00 to=24:00 multiplier=2", "'days'", "'funday'"},
        {"days=fri, from=17:00 to=24:00 multiplier=2", "'days'", "'fri,'"},
        {"days=fri from=25:00 to=24:00 multiplier=2", "'from'", "'25:00'"},
        {"days=fri from=17:00 to=24:30 multiplier=2", "'to'", "'24:30'"},
        {"days=fri from=17:60 to=24:00 multiplier=2", "'from'", "'17:60'"},
        {"days=fri from=17:00 to=24:00 multiplier=0", "'multiplier'", "'0'"},
        {"days=fri from=17:00 to=24:00 multiplier=1001", "'multiplier'", "'1001'"},
        {"days=fri from=17:00 to=24:00 multiplier=x2", "'multiplier'", "'x2'"},
        {"days=fri from=17:00 to=24:00 multiplier=nan", "'multiplier'", "'nan'"},
        {"days=fri from=17:00 to=24:00 multiplier=2 always=maybe", "'always'", "'maybe'"},
        {"days=fri from=17:00 multiplier=2", "'to'", "missing"},
        {"days=fri from=18:00 to=17:00 multiplier=2", "'to'", "17:00"},
        {"days=fri from=17:00 to=24:00 multiplier=2 colour=blue", "'colour'", "unknown"},
        {"days=fri from=17:00 to=24:00 multiplier", "'multiplier'", "key=value"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (forecast_parse_window(&fc, "w", bad[i].spec, err, sizeof(err)))
            fail_msg("accepted: %s", bad[i].spec);
        if (strstr(err, bad[i].needle1) == NULL || strstr(err, bad[i].needle2) == NULL)
            fail_msg("%s: error \"%s\" lacks %s / %s", bad[i].spec, err, bad[i].needle1, bad[i].needle2);
        assert_non_null(strstr(err, "forecast window 'w'"));
    }
    assert_int_equal(fc.nwindows, 4); /* a refused line leaves the built-in windows */
    assert_false(fc.custom);

    assert_true(forecast_parse_window(&fc, "weekend", "days=fri-sun from=00:00 to=24:00 multiplier=1.5", err,
                                      sizeof(err)));
    assert_true(fc.custom);
    assert_int_equal(fc.nwindows, 1); /* the first line replaced the four */
    assert_int_equal(fc.windows[0].days, (1u << 5) | (1u << 6) | 1u);
    assert_int_equal(fc.windows[0].from_min, 0);
    assert_int_equal(fc.windows[0].to_min, 1440);
    assert_false(fc.windows[0].always);
    assert_true(forecast_parse_window(&fc, "wrap", "days=sat-mon from=8:30 to=9:00 multiplier=1000 always=yes", err,
                                      sizeof(err)));
    assert_int_equal(fc.windows[1].days, (1u << 6) | 1u | (1u << 1));
    assert_int_equal(fc.windows[1].from_min, 510);
    assert_true(fc.windows[1].always);
    assert_true(forecast_parse_window(&fc, "every", "days=all from=12:00 to=13:00 multiplier=2", err, sizeof(err)));
    assert_int_equal(fc.windows[2].days, 0x7f);
    assert_true(forecast_parse_window(&fc, "some", "days=Mon,wed,fri from=12:00 to=13:00 multiplier=2", err,
                                      sizeof(err)));
    assert_int_equal(fc.windows[3].days, (1u << 1) | (1u << 3) | (1u << 5));
    assert_int_equal(fc.nwindows, 4);
    assert_false(forecast_parse_window(&fc, "every", "days=all from=12:00 to=13:00 multiplier=2", err, sizeof(err)));
    assert_non_null(strstr(err, "twice"));
}

/* What to have warm at t is the highest prediction in [t, t + lead]: 30 minutes before the
 * Saturday-evening window opens, the target is already the window's value. */
static void test_warm_target(void **state)
{
    (void)state;
    struct fixture *f = january();
    time_t at_peak;
    struct forecast_step peak;
    int n = forecast_warm_target(&f->fc, &f->cc, &f->l, local(2026, 1, 17, 15, 30), 1800, 10, &at_peak, &peak);
    assert_int_equal(n, 106);
    assert_int_equal(at_peak, local(2026, 1, 17, 16, 0));
    assert_true(peak.multiplier == 10);
    /* a lead that is not a multiple of the 60 s step still sees the window open between steps */
    n = forecast_warm_target(&f->fc, &f->cc, &f->l, local(2026, 1, 17, 15, 30) + 30, 1790, 10, &at_peak, NULL);
    assert_int_equal(n, 106);
    assert_int_equal(at_peak, local(2026, 1, 17, 16, 0));
    /* 30 min before the wedding: its load and the window are already in the target */
    struct forecast_step st = at(f, local(2026, 1, 17, 14, 0));
    n = forecast_warm_target(&f->fc, &f->cc, &f->l, local(2026, 1, 17, 13, 30), 1800, 10, NULL, NULL);
    assert_int_equal(n, forecast_connections(&st, 10));
    assert_int_equal(n, 56);
    /* an hour before, with a 30-minute lead, only the morning window */
    n = forecast_warm_target(&f->fc, &f->cc, &f->l, local(2026, 1, 17, 12, 59), 1800, 10, NULL, NULL);
    assert_int_equal(n, 50);
    /* the Friday before midnight: the target looks across the day boundary */
    n = forecast_warm_target(&f->fc, &f->cc, &f->l, local(2026, 1, 16, 23, 45), 1800, 10, &at_peak, NULL);
    assert_int_equal(n, 30); /* Saturday 00:00: wedding-day floor x3 */
    assert_int_equal(at_peak, local(2026, 1, 17, 0, 0));
    /* no lead: the prediction at t */
    assert_int_equal(forecast_warm_target(&f->fc, &f->cc, &f->l, local(2026, 1, 17, 20, 0), 0, 10, NULL, NULL), 106);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_weekend_with_a_wedding),
        cmocka_unit_test(test_weekend_without_weddings),
        cmocka_unit_test(test_wedding_day_floor),
        cmocka_unit_test(test_peak_season),
        cmocka_unit_test(test_dst_days),
        cmocka_unit_test(test_parse_windows),
        cmocka_unit_test(test_warm_target),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
