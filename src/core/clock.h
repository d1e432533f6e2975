/* clock.h — wall-clock time for decisions that follow the calendar (weddings, forecast windows,
 * protection, escalation). Timeouts keep using monotonic time (util.h now_us). Tests and the demo
 * start it at a chosen instant and run it faster: WEDPOOL_FAKE_NOW=2026-06-13T13:29:00Z and
 * WEDPOOL_CLOCK_SPEED=60 (never active unless set; logged loudly when it is). Local times (forecast
 * windows, ceremony hours) are computed in an IANA zone through the system's zoneinfo. */
#ifndef WEDPOOL_CLOCK_H
#define WEDPOOL_CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* Reads WEDPOOL_FAKE_NOW / WEDPOOL_CLOCK_SPEED. false + err on a malformed value. */
bool clock_init_from_env(char *err, size_t errlen);
/* Sets the fake clock explicitly (tests): starts at start (UTC), runs speed times real time;
 * speed <= 0 means 1. */
void clock_set_fake(time_t start, double speed);
bool clock_is_fake(void);
double clock_speed(void);
/* Now, in UTC seconds (the fake clock when active). */
time_t clock_now(void);
/* Parses "YYYY-MM-DDTHH:MM[:SS](Z|+HH:MM|-HH:MM)" into UTC seconds. */
bool clock_parse_iso(const char *s, time_t *out);
/* "YYYY-MM-DDTHH:MM:SSZ" */
void clock_format_iso(time_t t, char *buf, size_t n);

/* Local calendar time in an IANA zone ("" or NULL: the system's zone). */
struct local_time {
    int year, month, mday;   /* month 1-12 */
    int wday;                /* 0 = Sunday */
    int hour, min, sec;
    int yday;                /* 0-365 */
    long utc_offset_s;
};
/* false if the zone is unknown (zoneinfo has no such file). */
bool clock_local(time_t t, const char *zone, struct local_time *out);
/* The UTC instant of a local wall time in zone (for a gap or overlap at a DST change, the
 * earlier reading). false if the zone is unknown. */
bool clock_from_local(int year, int month, int mday, int hour, int min, const char *zone, time_t *out);
/* true if the zone names a zoneinfo file. */
bool clock_zone_valid(const char *zone);

#endif
