/* test_fetch.c — calendar_source_parse: keys, defaults, URL detection, ranges, and errors that
 * name the key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fetch.h"
#include "loop.h"

/* fetch.c registers its wake-up event on the loop; these tests never start the worker. */
struct event_base *loop_base(void)
{
    return NULL;
}

static void expect_error(const char *spec, const char *fragment)
{
    struct calendar_source s;
    char err[512] = "";
    assert_false(calendar_source_parse("google", spec, &s, err, sizeof(err)));
    if (strstr(err, fragment) == NULL)
        fail_msg("spec \"%s\": error \"%s\" does not mention \"%s\"", spec, err, fragment);
}

static void test_url_defaults(void **state)
{
    (void)state;
    struct calendar_source s;
    char err[256] = "";
    assert_true(calendar_source_parse("google", "source=https://calendar.google.com/calendar/ical/x/basic.ics", &s,
                                      err, sizeof(err)));
    assert_string_equal(s.name, "google");
    assert_string_equal(s.source, "https://calendar.google.com/calendar/ical/x/basic.ics");
    assert_true(s.is_url);
    assert_int_equal(s.format, CAL_FORMAT_ICS);
    assert_int_equal(s.refresh_s, 300);
    assert_string_equal(s.zone, "");
    assert_true(calendar_source_parse("o", "  source=HTTP://example.org/c  ", &s, err, sizeof(err)));
    assert_true(s.is_url);
}

static void test_file_and_format(void **state)
{
    (void)state;
    struct calendar_source s;
    char err[256] = "";
    assert_true(calendar_source_parse("internal", "source=/var/lib/wedsync/weddings.csv", &s, err, sizeof(err)));
    assert_false(s.is_url);
    assert_int_equal(s.format, CAL_FORMAT_CSV);
    assert_true(calendar_source_parse("internal", "source=/var/lib/wedsync/WEDDINGS.CSV", &s, err, sizeof(err)));
    assert_int_equal(s.format, CAL_FORMAT_CSV);
    /* an explicit format wins over the extension */
    assert_true(calendar_source_parse("internal", "format=ics source=/tmp/export.csv", &s, err, sizeof(err)));
    assert_int_equal(s.format, CAL_FORMAT_ICS);
    assert_true(calendar_source_parse("x", "source=/tmp/export.txt format=CSV", &s, err, sizeof(err)));
    assert_int_equal(s.format, CAL_FORMAT_CSV);
    /* the extension of a URL is its path's, not its query's */
    assert_true(calendar_source_parse("x", "source=https://h.example/export.csv?token=abc", &s, err, sizeof(err)));
    assert_int_equal(s.format, CAL_FORMAT_CSV);
    assert_true(calendar_source_parse("x", "source=https://h.example/cal.ics?name=a.csv", &s, err, sizeof(err)));
    assert_int_equal(s.format, CAL_FORMAT_ICS);
}

static void test_refresh_and_zone(void **state)
{
    (void)state;
    struct calendar_source s;
    char err[256] = "";
    assert_true(calendar_source_parse("x", "source=/a.ics\trefresh_s=10 timezone=Europe/London", &s, err,
                                      sizeof(err)));
    assert_int_equal(s.refresh_s, 10);
    assert_string_equal(s.zone, "Europe/London");
    assert_true(calendar_source_parse("x", "source=/a.ics refresh_s=86400", &s, err, sizeof(err)));
    assert_int_equal(s.refresh_s, 86400);
}

static void test_errors_name_the_key(void **state)
{
    (void)state;
    expect_error("", "source");
    expect_error("format=csv", "source");
    expect_error("source=/a.ics refresh_s=9", "refresh_s");
    expect_error("source=/a.ics refresh_s=86401", "refresh_s");
    expect_error("source=/a.ics refresh_s=99999999999999999999", "refresh_s");
    expect_error("source=/a.ics refresh_s=10s", "refresh_s");
    expect_error("source=/a.ics refresh_s=", "refresh_s");
    expect_error("source=/a.ics format=xml", "format");
    expect_error("source=/a.ics timezone=Mars/Olympus", "timezone");
    expect_error("source=/a.ics colour=blue", "colour");
    expect_error("source=/a.ics refresh", "refresh");
    expect_error("source=/a.ics source=/b.ics", "source given twice");
    expect_error("source=ftp://example.org/c.ics", "source");
    expect_error("source=file:///etc/passwd", "source");
    expect_error("source=https://", "source");
    expect_error("source=https:///path", "source");
    char longsrc[1100] = "source=/";
    memset(longsrc + 8, 'a', 1050);
    longsrc[1058] = '\0';
    expect_error(longsrc, "source");
    /* every error names the calendar too */
    expect_error("source=/a.ics format=xml", "google");
}

static void test_bad_name(void **state)
{
    (void)state;
    struct calendar_source s;
    char err[256] = "";
    assert_false(calendar_source_parse("", "source=/a.ics", &s, err, sizeof(err)));
    assert_non_null(strstr(err, "name"));
    char longname[64];
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_false(calendar_source_parse(longname, "source=/a.ics", &s, err, sizeof(err)));
    assert_non_null(strstr(err, "name"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_defaults),
        cmocka_unit_test(test_file_and_format),
        cmocka_unit_test(test_refresh_and_zone),
        cmocka_unit_test(test_errors_name_the_key),
        cmocka_unit_test(test_bad_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
