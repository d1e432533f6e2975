/* test_clock.c — ISO instants, the fake clock, and local time in IANA zones across DST. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"

static void test_iso(void **state)
{
    (void)state;
    time_t t;
    assert_true(clock_parse_iso("2026-06-13T13:29:00Z", &t));
    assert_int_equal(t, 1781357340);
    assert_true(clock_parse_iso("2026-06-13T14:29:00+01:00", &t));
    assert_int_equal(t, 1781357340);
    assert_true(clock_parse_iso("2026-06-13 13:29Z", &t));
    assert_int_equal(t, 1781357340);
    char buf[32];
    clock_format_iso(t, buf, sizeof(buf));
    assert_string_equal(buf, "2026-06-13T13:29:00Z");
    assert_false(clock_parse_iso("2026-06-13T13:29:00", &t)); /* no zone: ambiguous */
    assert_false(clock_parse_iso("2026-13-13T13:29:00Z", &t));
    assert_false(clock_parse_iso("yesterday", &t));
}

static void test_fake_clock(void **state)
{
    (void)state;
    char err[256];
    setenv("WEDPOOL_FAKE_NOW", "not a time", 1);
    assert_false(clock_init_from_env(err, sizeof(err)));
    assert_non_null(strstr(err, "WEDPOOL_FAKE_NOW"));
    setenv("WEDPOOL_FAKE_NOW", "2026-06-13T13:29:00Z", 1);
    setenv("WEDPOOL_CLOCK_SPEED", "3600", 1);
    assert_true(clock_init_from_env(err, sizeof(err)));
    assert_true(clock_is_fake());
    time_t a = clock_now();
    assert_true(a >= 1781357340 && a < 1781357340 + 3600);
    unsetenv("WEDPOOL_FAKE_NOW");
    unsetenv("WEDPOOL_CLOCK_SPEED");
}

static void test_local_time(void **state)
{
    (void)state;
    struct local_time lt;
    /* 2026-06-13 is a Saturday; London is on BST (UTC+1) */
    assert_true(clock_local(1781357340, "Europe/London", &lt));
    assert_int_equal(lt.wday, 6);
    assert_int_equal(lt.hour, 14);
    assert_int_equal(lt.min, 29);
    assert_int_equal(lt.utc_offset_s, 3600);
    /* January: GMT */
    assert_true(clock_local(1768478400, "Europe/London", &lt)); /* 2026-01-15T12:00Z */
    assert_int_equal(lt.hour, 12);
    time_t t;
    assert_true(clock_from_local(2026, 6, 13, 14, 29, "Europe/London", &t));
    assert_int_equal(t, 1781357340);
    assert_true(clock_from_local(2026, 6, 13, 9, 29, "America/New_York", &t));
    assert_int_equal(t, 1781357340);
    assert_false(clock_local(0, "Mars/Olympus_Mons", &lt));
    assert_false(clock_zone_valid("../etc/passwd"));
    assert_true(clock_zone_valid("Europe/London"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iso),
        cmocka_unit_test(test_fake_clock),
        cmocka_unit_test(test_local_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
