/* test_calendar.c — the calendar readers on fixtures written for them (tests/fixtures/calendars):
 * UTC, VTIMEZONE, Windows zone names, all-day, recurrences with EXDATE and overrides, folded lines,
 * cancelled and broken events, X-WEDPOOL-* values, not-iCalendar input, and the CSV export; every
 * wedding's UTC start and end asserted exactly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "calendar.h"
#include "clock.h"
#include "windows_zones.h"

#ifndef TEST_SOURCE_ROOT
#define TEST_SOURCE_ROOT "."
#endif

#define MAX_WARNS 32

struct warns {
    int n;
    char msg[MAX_WARNS][640];
};

static void collect(void *arg, const char *msg)
{
    struct warns *w = arg;
    if (w->n < MAX_WARNS)
        snprintf(w->msg[w->n], sizeof(w->msg[0]), "%s", msg);
    w->n++;
}

static bool warned(const struct warns *w, const char *a, const char *b)
{
    for (int i = 0; i < w->n && i < MAX_WARNS; i++)
        if (strstr(w->msg[i], a) != NULL && (b == NULL || strstr(w->msg[i], b) != NULL))
            return true;
    return false;
}

static char *slurp(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/tests/fixtures/calendars/%s", TEST_SOURCE_ROOT, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    /* Exactly n bytes, no NUL: the readers must not need one. */
    char *buf = malloc(n > 0 ? (size_t)n : 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static time_t at(const char *iso)
{
    time_t t;
    if (!clock_parse_iso(iso, &t))
        fail_msg("bad instant %s", iso);
    return t;
}

enum fmt { ICS, CSV };

/* Parses a fixture over [from, to) in default_zone; returns the sorted list (ICS) or file order (CSV). */
static void load(const char *name, enum fmt fmt, const char *zone, const char *from, const char *to,
                 struct wedding_list *l, struct warns *w)
{
    size_t len;
    char *text = slurp(name, &len);
    char err[256] = "";
    memset(w, 0, sizeof(*w));
    bool ok = fmt == ICS ? calendar_parse_ics(text, len, "test", zone, at(from), at(to), l, collect, w, err, sizeof(err))
                         : calendar_parse_csv(text, len, "test", zone, at(from), at(to), l, collect, w, err, sizeof(err));
    free(text);
    if (!ok)
        fail_msg("%s: %s", name, err);
    if (fmt == ICS)
        wedding_list_sort(l);
}

static bool parse_inline_ics(const char *text, const char *zone, struct wedding_list *l, struct warns *w)
{
    char err[256];
    memset(w, 0, sizeof(*w));
    return calendar_parse_ics(text, strlen(text), "test", zone, at("2026-01-01T00:00:00Z"),
                              at("2027-01-01T00:00:00Z"), l, collect, w, err, sizeof(err));
}

static void expect(const struct wedding_list *l, size_t i, const char *name, const char *start, const char *end)
{
    if (i >= l->n)
        fail_msg("wedding %zu missing (%zu loaded)", i, l->n);
    const struct wedding *w = &l->items[i];
    char s[32], e[32];
    clock_format_iso(w->start, s, sizeof(s));
    clock_format_iso(w->end, e, sizeof(e));
    if (strcmp(w->name, name) != 0 || strcmp(s, start) != 0 || strcmp(e, end) != 0)
        fail_msg("wedding %zu: got \"%s\" %s .. %s, want \"%s\" %s .. %s", i, w->name, s, e, name, start, end);
    assert_string_equal(w->calendar, "test");
}

static void expect_counts(const struct wedding_list *l, size_t i, int guests, int vendors, int critical)
{
    assert_true(i < l->n);
    assert_int_equal(l->items[i].guests, guests);
    assert_int_equal(l->items[i].vendors, vendors);
    assert_int_equal(l->items[i].critical, critical);
}

static void test_utc(void **state)
{
    (void)state;
    struct wedding_list l = {0};
    struct warns w;
    load("utc.ics", ICS, "Europe/London", "2026-06-01T00:00:00Z", "2026-07-01T00:00:00Z", &l, &w);
    assert_int_equal(l.n, 3);
    assert_int_equal(w.n, 0);
    expect(&l, 0, "Smith-Jones wedding", "2026-06-13T13:00:00Z", "2026-06-13T22:00:00Z");
    expect_counts(&l, 0, 150, 12, 5);
    assert_string_equal(l.items[0].venue, "Hartwell Barn");
    assert_string_equal(l.items[0].uid, "smith-jones@wedsync.test");
    assert_false(l.items[0].all_day);
    expect(&l, 1, "No DTEND", "2026-06-20T10:00:00Z", "2026-06-20T18:00:00Z"); /* + 8 h */
    expect_counts(&l, 1, WEDDING_DEFAULT_GUESTS, WEDDING_DEFAULT_VENDORS, WEDDING_DEFAULT_CRITICAL);
    expect(&l, 2, "With DURATION", "2026-06-27T12:00:00Z", "2026-06-27T18:30:00Z");
    wedding_list_free(&l);
}

static void test_vtimezone(void **state)
{
    (void)state;
    struct wedding_list l = {0};
    struct warns w;
    load("vtimezone.ics", ICS, "America/New_York", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", &l, &w);
    assert_int_equal(w.n, 0);
    assert_int_equal(l.n, 3);
    expect(&l, 0, "Summer wedding in London", "2026-06-13T13:00:00Z", "2026-06-13T22:00:00Z"); /* BST */
    expect(&l, 1, "Island wedding", "2026-08-01T09:00:00Z", "2026-08-01T15:00:00Z"); /* only the file knows it */
    expect(&l, 2, "Winter wedding in London", "2026-12-12T14:00:00Z", "2026-12-12T22:00:00Z"); /* GMT */
    wedding_list_free(&l);
}

static void test_outlook_windows_zones(void **state)
{
    (void)state;
    struct wedding_list l = {0};
    struct warns w;
    load("outlook.ics", ICS, "UTC", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", &l, &w);
    assert_int_equal(w.n, 0);
    assert_int_equal(l.n, 3);
    /* GMT Standard Time through Outlook's own VTIMEZONE (rules from 1601). */
    expect(&l, 0, "Patel wedding", "2026-06-13T13:00:00Z", "2026-06-13T22:00:00Z");
    assert_string_equal(l.items[0].venue, "St Mary's");
    assert_int_equal(strncmp(l.items[0].uid, "040000008200E00074C5B7101A82E008", 32), 0);
    /* "Pacific Standard Time" with no VTIMEZONE: the CLDR table (PDT, UTC-7). */
    expect(&l, 1, "Napa wedding", "2026-06-13T18:00:00Z", "2026-06-14T01:00:00Z");
    /* W. Europe Standard Time in November: CET, UTC+1. */
    expect(&l, 2, "Berlin wedding", "2026-11-07T14:00:00Z", "2026-11-07T22:00:00Z");
    wedding_list_free(&l);
}

static void test_all_day(void **state)
{
    (void)state;
    struct wedding_list l = {0};
    struct warns w;
    load("allday.ics", ICS, "Europe/London", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", &l, &w);
    assert_int_equal(w.n, 0);
    assert_int_equal(l.n, 3);
    /* Local midnights in the default zone, DTEND exclusive. */
    expect(&l, 0, "Wedding weekend", "2026-06-12T23:00:00Z", "2026-06-14T23:00:00Z");
    assert_true(l.items[0].all_day);
    expect(&l, 1, "One day, no DTEND", "2026-07-03T23:00:00Z", "2026-07-04T23:00:00Z");
    /* Two local days across the end of summer time: 49 hours. */
    expect(&l, 2, "Across the end of summer time", "2026-10-23T23:00:00Z", "2026-10-26T00:00:00Z");
    wedding_list_free(&l);

    load("allday.ics", ICS, "America/New_York", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", &l, &w);
    expect(&l, 0, "Wedding weekend", "2026-06-13T04:00:00Z", "2026-06-15T04:00:00Z");
    wedding_list_free(&l);
}

static void test_recurrence(void **state)
{
    (void)state;
    struct wedding_list l = {0};
    struct warns w;
    load("recur.ics", ICS, "UTC", "2026-06-01T00:00:00Z", "2026-07-10T00:00:00Z", &l, &w);
    assert_int_equal(w.n, 0);
    /* 6 June, 13 June; 20 June excluded; 27 June moved to Sunday 28; 4 July cancelled; 11 July after. */
    assert_int_equal(l.n, 3);
    expect(&l, 0, "Saturday weddings", "2026-06-06T13:00:00Z", "2026-06-06T17:00:00Z");
    assert_string_equal(l.items[0].uid, "saturdays@google.test/2026-06-06T13:00:00Z");
    assert_int_equal(l.items[0].guests, 80);
    expect(&l, 1, "Saturday weddings", "2026-06-13T13:00:00Z", "2026-06-13T17:00:00Z");
    expect(&l, 2, "Saturday weddings (moved to Sunday)", "2026-06-28T11:00:00Z", "2026-06-28T16:00:00Z");
    assert_string_equal(l.items[2].uid, "saturdays@google.test/2026-06-27T13:00:00Z");
    assert_int_equal(l.items[2].guests, 80); /* inherited from the series */
    wedding_list_free(&l);

    /* A later window: only what overlaps it. */
    load("recur.ics", ICS, "UTC", "2026-06-10T00:00:00Z", "2026-07-20T00:00:00Z", &l, &w);
    assert_int_equal(l.n, 3);
    expect(&l, 0, "Saturday weddings", "2026-06-13T13:00:00Z", "2026-06-13T17:00:00Z");
    expect(&l, 2, "Saturday weddings", "2026-07-11T13:00:00Z", "2026-07-11T17:00:00Z");
    wedding_list_free(&l);
}

static void test_folded(void **state)
{
    (void)state;
    struct wedding_list l = {0};
    struct warns w;
    load("folded.ics", ICS, "UTC", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", &l, &w);
    assert_int_equal(l.n, 1);
    const char *full = "The Featherstonehaugh-Cholmondeley wedding reception with a string quartet, fireworks over "
                       "the lake, and a late buffet for everyone";
    /* Unfolded, then cut to the 127 bytes a name holds. */
    assert_int_equal(strlen(l.items[0].name), WEDDING_NAME_MAX - 1);
    assert_int_equal(strncmp(l.items[0].name, full, WEDDING_NAME_MAX - 1), 0);
    /* Cut before a two-byte character that straddles byte 127, never inside it. */
    assert_string_equal(l.items[0].venue, "Marquee on the east lawn of Chateau de la Mothe-Chandeniers, 86330 Les "
                                          "Trois-Moutiers, by the drawbridge over the moat, xxxxxx");
    expect(&l, 0, l.items[0].name, "2026-06-13T13:00:00Z", "2026-06-13T22:00:00Z");
    wedding_list_free(&l);
}

static void test_cancelled(void **state)
{
    (void)state;
    struct wedding_list l = {0};
    struct warns w;
    load("cancelled.ics", ICS, "UTC", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", &l, &w);
    assert_int_equal(w.n, 0);
    assert_int_equal(l.n, 1);
    expect(&l, 0, "Going-ahead wedding", "2026-06-13T15:00:00Z", "2026-06-13T23:00:00Z");
    wedding_list_free(&l);
}

static void test_broken_events_skipped(void **state)
{
    (void)state;
    struct wedding_list l = {0};
    struct warns w;
    load("broken.ics", ICS, "UTC", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", &l, &w);
    assert_int_equal(l.n, 2);
    expect(&l, 0, "Good one", "2026-06-13T13:00:00Z", "2026-06-13T22:00:00Z");
    expect(&l, 1, "Good two", "2026-06-14T12:00:00Z", "2026-06-14T18:00:00Z");
    assert_int_equal(w.n, 3);
    assert_true(warned(&w, "calendar test: event no-start@wedsync.test (line 10): no DTSTART", NULL));
    assert_true(warned(&w, "mars@wedsync.test (line 15)", "unknown time zone \"Mars/Olympus_Mons\""));
    assert_true(warned(&w, "backwards@wedsync.test (line 21)", "DTEND is not after DTSTART"));
    wedding_list_free(&l);
}

static void test_xprops(void **state)
{
    (void)state;
    struct wedding_list l = {0};
    struct warns w;
    load("xprops.ics", ICS, "UTC", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", &l, &w);
    assert_int_equal(l.n, 4);
    expect(&l, 0, "All set", "2026-06-13T10:00:00Z", "2026-06-13T20:00:00Z");
    expect_counts(&l, 0, 250, 0, 1);
    expect(&l, 1, "Defaults", "2026-06-13T11:00:00Z", "2026-06-13T21:00:00Z");
    expect_counts(&l, 1, 100, 8, 3);
    expect(&l, 2, "Bad values", "2026-06-13T12:00:00Z", "2026-06-13T22:00:00Z");
    expect_counts(&l, 2, 100, 8, 3);
    expect(&l, 3, "Lower-case names", "2026-06-13T13:00:00Z", "2026-06-13T23:00:00Z");
    expect_counts(&l, 3, 42, 8, 3);
    assert_int_equal(w.n, 3);
    assert_true(warned(&w, "bad-values@wedsync.test", "X-WEDPOOL-GUESTS \"lots\""));
    assert_true(warned(&w, "bad-values@wedsync.test", "X-WEDPOOL-VENDORS \"-3\""));
    assert_true(warned(&w, "bad-values@wedsync.test", "X-WEDPOOL-CRITICAL \"9\" is not an integer in [1, 5]; using 3"));
    wedding_list_free(&l);
}

static void test_not_icalendar(void **state)
{
    (void)state;
    struct wedding_list l = {0};
    char err[256] = "";
    size_t len;
    char *text = slurp("not-ics.txt", &len);
    assert_false(calendar_parse_ics(text, len, "test", "UTC", 0, 4000000000, &l, NULL, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "not an iCalendar"));
    free(text);
    assert_false(calendar_parse_ics("", 0, "test", "UTC", 0, 4000000000, &l, NULL, NULL, err, sizeof(err)));
    const char *bare = "BEGIN:VEVENT\nUID:x\nDTSTART:20260613T130000Z\nEND:VEVENT\n";
    assert_false(calendar_parse_ics(bare, strlen(bare), "test", "UTC", 0, 4000000000, &l, NULL, NULL, err, sizeof(err)));
    assert_int_equal(l.n, 0);
    /* An empty calendar is a calendar. */
    struct warns w;
    assert_true(parse_inline_ics("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n", "UTC", &l, &w));
    assert_int_equal(l.n, 0);
    wedding_list_free(&l);
}

static void test_floating_and_zone_names(void **state)
{
    (void)state;
    struct wedding_list l = {0};
    struct warns w;
    const char *ics = "BEGIN:VCALENDAR\nVERSION:2.0\n"
                      "BEGIN:VEVENT\nUID:floating\nDTSTART:20260613T140000\nDTEND:20260613T200000\nSUMMARY:F\nEND:VEVENT\n"
                      "BEGIN:VEVENT\nUID:mozilla\nDTSTART;TZID=/mozilla.org/20050126_1/Europe/Paris:20260613T140000\n"
                      "DTEND;TZID=/mozilla.org/20050126_1/Europe/Paris:20260613T200000\nSUMMARY:M\nEND:VEVENT\n"
                      "BEGIN:VEVENT\nUID:iana\nDTSTART;TZID=Asia/Kolkata:20260613T140000\nDURATION:P1DT2H\n"
                      "SUMMARY:I\nEND:VEVENT\n"
                      "END:VCALENDAR\n";
    assert_true(parse_inline_ics(ics, "Europe/London", &l, &w));
    wedding_list_sort(&l);
    assert_int_equal(w.n, 0);
    assert_int_equal(l.n, 3);
    expect(&l, 0, "I", "2026-06-13T08:30:00Z", "2026-06-14T10:30:00Z");
    expect(&l, 1, "M", "2026-06-13T12:00:00Z", "2026-06-13T18:00:00Z");
    expect(&l, 2, "F", "2026-06-13T13:00:00Z", "2026-06-13T19:00:00Z");
    wedding_list_free(&l);

    /* Floating times need a default zone that exists. */
    assert_true(parse_inline_ics(ics, "Nowhere/Atlantis", &l, &w));
    assert_int_equal(l.n, 2);
    assert_true(warned(&w, "event floating", "default time zone is unknown"));
    wedding_list_free(&l);
}

static void test_rdate_and_caps(void **state)
{
    (void)state;
    struct wedding_list l = {0};
    struct warns w;
    const char *rdate = "BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\nUID:r\nSUMMARY:R\n"
                        "DTSTART:20260613T130000Z\nDTEND:20260613T150000Z\n"
                        "RDATE:20260620T130000Z,20260627T100000Z\nEXDATE:20260613T130000Z\nEND:VEVENT\nEND:VCALENDAR\n";
    assert_true(parse_inline_ics(rdate, "UTC", &l, &w));
    wedding_list_sort(&l);
    assert_int_equal(l.n, 2);
    expect(&l, 0, "R", "2026-06-20T13:00:00Z", "2026-06-20T15:00:00Z");
    expect(&l, 1, "R", "2026-06-27T10:00:00Z", "2026-06-27T12:00:00Z");
    wedding_list_free(&l);

    /* Daily for ever: 365 in 2026; no cap reached. */
    const char *daily = "BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\nUID:d\nSUMMARY:D\n"
                        "DTSTART:20200101T120000Z\nDTEND:20200101T130000Z\nRRULE:FREQ=DAILY\nEND:VEVENT\nEND:VCALENDAR\n";
    assert_true(parse_inline_ics(daily, "UTC", &l, &w));
    assert_int_equal(l.n, 365);
    assert_int_equal(w.n, 0);
    wedding_list_free(&l);

    /* Hourly: more instances than the cap; the first CALENDAR_MAX_INSTANCES are kept, with a warn. */
    const char *hourly = "BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\nUID:h\nSUMMARY:H\n"
                         "DTSTART:20260101T000000Z\nDURATION:PT30M\nRRULE:FREQ=HOURLY\nEND:VEVENT\nEND:VCALENDAR\n";
    assert_true(parse_inline_ics(hourly, "UTC", &l, &w));
    assert_int_equal(l.n, CALENDAR_MAX_INSTANCES);
    assert_true(warned(&w, "event h", "more than 1000 instances"));
    wedding_list_free(&l);

    /* Every second since 1970: gives up after a bounded number of steps. */
    const char *secondly = "BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\nUID:s\nSUMMARY:S\n"
                           "DTSTART:19700101T000000Z\nRRULE:FREQ=SECONDLY\nEND:VEVENT\nEND:VCALENDAR\n";
    assert_true(parse_inline_ics(secondly, "UTC", &l, &w));
    assert_int_equal(l.n, 0);
    assert_true(warned(&w, "event s", "recurrence expanded for too long"));
    wedding_list_free(&l);
}

static void test_csv(void **state)
{
    (void)state;
    struct wedding_list l = {0};
    struct warns w;
    load("weddings.csv", CSV, "Europe/London", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", &l, &w);
    assert_int_equal(l.n, 5);
    expect(&l, 0, "Smith, Jones & Co", "2026-06-13T13:00:00Z", "2026-06-13T22:00:00Z");
    expect_counts(&l, 0, 150, 12, WEDDING_DEFAULT_CRITICAL);
    assert_string_equal(l.items[0].venue, "The \"Old\" Barn");
    assert_string_equal(l.items[0].uid, "csv:2");
    expect(&l, 1, "Napa wedding", "2026-06-13T18:00:00Z", "2026-06-14T01:00:30Z");
    expect_counts(&l, 1, WEDDING_DEFAULT_GUESTS, WEDDING_DEFAULT_VENDORS, WEDDING_DEFAULT_CRITICAL);
    assert_string_equal(l.items[1].venue, "");
    expect(&l, 2, "Winter wedding", "2026-12-12T14:00:00Z", "2026-12-12T22:00:00Z"); /* default zone, + 8 h */
    expect_counts(&l, 2, 60, 4, WEDDING_DEFAULT_CRITICAL);
    expect(&l, 3, "Garden party", "2026-07-04T10:00:00Z", "2026-07-04T14:00:00Z");
    assert_string_equal(l.items[3].venue, "Rose garden,\r\nLyon");
    assert_string_equal(l.items[3].uid, "csv:6");
    expect(&l, 4, "Many guests", "2026-07-11T11:00:00Z", "2026-07-11T15:00:00Z");
    expect_counts(&l, 4, WEDDING_DEFAULT_GUESTS, 3, WEDDING_DEFAULT_CRITICAL);
    assert_int_equal(w.n, 4);
    assert_true(warned(&w, "calendar test: line 3: start \"not-a-time\"", "row skipped"));
    assert_true(warned(&w, "line 8: unknown time zone \"Moon/Tranquility\"", NULL));
    assert_true(warned(&w, "line 9: 3 fields where 7 are expected", NULL));
    assert_true(warned(&w, "line 10: guests \"many\"", "using 100"));
    wedding_list_free(&l);
}

static void test_csv_header_and_quotes(void **state)
{
    (void)state;
    struct wedding_list l = {0};
    struct warns w = {0};
    char err[256];
    const char *bad = "name,start,end,zone,guests,vendors,venue\nA,2026-06-13T14:00,,,,,\n";
    assert_false(calendar_parse_csv(bad, strlen(bad), "test", "UTC", 0, 4000000000, &l, collect, &w, err, sizeof(err)));
    assert_non_null(strstr(err, "name,start,end,timezone,guests,vendors,venue"));
    assert_false(calendar_parse_csv("", 0, "test", "UTC", 0, 4000000000, &l, collect, &w, err, sizeof(err)));
    const char *ok = "\xEF\xBB\xBFName,Start,End,TimeZone,Guests,Vendors,Venue\r\n"
                     "\"A \"\"B\"\" C\",2026-06-13T14:00:00Z,2026-06-13T18:00+02:00,,1,2,\"x\"\r\n"
                     "February,2026-02-30T14:00,,,,,\r\n"
                     "\"unclosed,2026-06-13T14:00,,,,,\r\n";
    assert_true(calendar_parse_csv(ok, strlen(ok), "test", "UTC", 0, 4000000000, &l, collect, &w, err, sizeof(err)));
    assert_int_equal(l.n, 1);
    expect(&l, 0, "A \"B\" C", "2026-06-13T14:00:00Z", "2026-06-13T16:00:00Z");
    expect_counts(&l, 0, 1, 2, WEDDING_DEFAULT_CRITICAL);
    assert_true(warned(&w, "line 3: start \"2026-02-30T14:00\"", NULL));
    assert_true(warned(&w, "line 4: a quoted field is not closed", NULL));
    wedding_list_free(&l);
}

static void test_windows_table(void **state)
{
    (void)state;
    size_t n = sizeof(windows_zones) / sizeof(windows_zones[0]);
    assert_true(n >= 130);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcasecmp(windows_zones[i - 1].windows, windows_zones[i].windows) >= 0)
            fail_msg("windows_zones not sorted at \"%s\"", windows_zones[i].windows);
        if (!clock_zone_valid(windows_zones[i].iana))
            fail_msg("\"%s\" -> \"%s\": no such zone", windows_zones[i].windows, windows_zones[i].iana);
        assert_string_equal(calendar_windows_zone(windows_zones[i].windows), windows_zones[i].iana);
    }
    assert_string_equal(calendar_windows_zone("GMT Standard Time"), "Europe/London");
    assert_string_equal(calendar_windows_zone("pacific standard time"), "America/Los_Angeles");
    assert_string_equal(calendar_windows_zone("Romance Standard Time"), "Europe/Paris");
    assert_string_equal(calendar_windows_zone("AUS Eastern Standard Time"), "Australia/Sydney");
    assert_string_equal(calendar_windows_zone("UTC"), "Etc/UTC");
    assert_null(calendar_windows_zone("Mars Standard Time"));
    assert_null(calendar_windows_zone(NULL));
}

static void test_list(void **state)
{
    (void)state;
    struct wedding_list a = {0}, b = {0};
    struct wedding w = {.start = 300, .end = 400};
    snprintf(w.name, sizeof(w.name), "c");
    assert_true(wedding_list_add(&a, &w));
    w.start = 100;
    snprintf(w.name, sizeof(w.name), "b");
    assert_true(wedding_list_add(&a, &w));
    snprintf(w.name, sizeof(w.name), "a");
    assert_true(wedding_list_add(&b, &w));
    for (int i = 0; i < 40; i++)
        assert_true(wedding_list_add(&b, &w));
    assert_true(wedding_list_append(&a, &b));
    assert_int_equal(a.n, 43);
    wedding_list_sort(&a);
    assert_string_equal(a.items[0].name, "a");
    assert_string_equal(a.items[41].name, "b");
    assert_string_equal(a.items[42].name, "c");
    wedding_list_free(&a);
    wedding_list_free(&b);
    assert_null(a.items);
    assert_int_equal(a.n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utc),
        cmocka_unit_test(test_vtimezone),
        cmocka_unit_test(test_outlook_windows_zones),
        cmocka_unit_test(test_all_day),
        cmocka_unit_test(test_recurrence),
        cmocka_unit_test(test_folded),
        cmocka_unit_test(test_cancelled),
        cmocka_unit_test(test_broken_events_skipped),
        cmocka_unit_test(test_xprops),
        cmocka_unit_test(test_not_icalendar),
        cmocka_unit_test(test_floating_and_zone_names),
        cmocka_unit_test(test_rdate_and_caps),
        cmocka_unit_test(test_csv),
        cmocka_unit_test(test_csv_header_and_quotes),
        cmocka_unit_test(test_windows_table),
        cmocka_unit_test(test_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
