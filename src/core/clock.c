/* clock.c — the wall clock for calendar decisions, with the fake clock for tests and the demo, and
 * local time in IANA zones (see clock.h). */
#include "clock.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static bool fake;
static time_t fake_start;
static double fake_speed = 1.0;
static struct timespec fake_real_start;

/* Local-time conversions switch TZ; one at a time, from any thread. */
static pthread_mutex_t tz_lock = PTHREAD_MUTEX_INITIALIZER;

void clock_set_fake(time_t start, double speed)
{
    fake = true;
    fake_start = start;
    fake_speed = speed > 0 ? speed : 1.0;
    clock_gettime(CLOCK_MONOTONIC, &fake_real_start);
}

bool clock_is_fake(void)
{
    return fake;
}

double clock_speed(void)
{
    return fake ? fake_speed : 1.0;
}

time_t clock_now(void)
{
    if (!fake)
        return time(NULL);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double real = (double)(ts.tv_sec - fake_real_start.tv_sec) + (double)(ts.tv_nsec - fake_real_start.tv_nsec) / 1e9;
    return fake_start + (time_t)floor(real * fake_speed);
}

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static long days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

bool clock_parse_iso(const char *s, time_t *out)
{
    int y, mo, d, h, mi, sec = 0;
    size_t len = strlen(s);
    if (len < 16 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
        !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != ' ') || !digits(s + 11, 2, &h) || s[13] != ':' ||
        !digits(s + 14, 2, &mi))
        return false;
    const char *p = s + 16;
    if (*p == ':') {
        if (!digits(p + 1, 2, &sec))
            return false;
        p += 3;
    }
    long offset = 0;
    if (*p == 'Z' && p[1] == '\0') {
        offset = 0;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        int oh, om;
        if (!digits(p + 1, 2, &oh) || !digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return false;
        offset = (oh * 3600L + om * 60L) * (*p == '-' ? -1 : 1);
    } else {
        return false;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return false;
    *out = (time_t)(days_from_civil(y, mo, d) * 86400L + h * 3600L + mi * 60L + sec - offset);
    return true;
}

void clock_format_iso(time_t t, char *buf, size_t n)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

bool clock_init_from_env(char *err, size_t errlen)
{
    const char *now = getenv("WEDPOOL_FAKE_NOW");
    const char *speed = getenv("WEDPOOL_CLOCK_SPEED");
    if ((now == NULL || now[0] == '\0') && (speed == NULL || speed[0] == '\0'))
        return true;
    time_t start = time(NULL);
    if (now != NULL && now[0] != '\0' && !clock_parse_iso(now, &start)) {
        snprintf(err, errlen, "WEDPOOL_FAKE_NOW=\"%s\": expected an ISO 8601 instant such as 2026-06-13T13:29:00Z",
                 now);
        return false;
    }
    double sp = 1.0;
    if (speed != NULL && speed[0] != '\0') {
        char *end;
        sp = strtod(speed, &end);
        if (*end != '\0' || !(sp > 0) || sp > 100000) {
            snprintf(err, errlen, "WEDPOOL_CLOCK_SPEED=\"%s\": expected a number in (0, 100000]", speed);
            return false;
        }
    }
    clock_set_fake(start, sp);
    return true;
}

bool clock_zone_valid(const char *zone)
{
    if (zone == NULL || zone[0] == '\0')
        return true;
    if (zone[0] == '/' || strstr(zone, "..") != NULL || strlen(zone) > 200)
        return false;
    const char *dir = getenv("TZDIR");
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir != NULL && dir[0] != '\0' ? dir : "/usr/share/zoneinfo", zone);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return false;
    /* a zone file, not zone.tab or another file that happens to live there */
    FILE *f = fopen(path, "rb");
    char magic[4] = {0};
    bool ok = f != NULL && fread(magic, 1, 4, f) == 4 && memcmp(magic, "TZif", 4) == 0;
    if (f != NULL)
        fclose(f);
    return ok;
}

/* Runs fn with TZ set to zone, under the lock. TZ is left set: nothing else in wedpool reads local
 * time (logs are UTC), and switching it back and forth would make glibc reload the zone file on every
 * call; with one configured zone it is set once and every later call is a plain localtime_r. */
static char current_zone[256];
static bool zone_set;

static bool with_zone(const char *zone, void (*fn)(void *), void *arg)
{
    if (zone == NULL)
        zone = "";
    pthread_mutex_lock(&tz_lock);
    if (!zone_set || strcmp(current_zone, zone) != 0) {
        if (!clock_zone_valid(zone)) {
            pthread_mutex_unlock(&tz_lock);
            return false;
        }
        if (zone[0] != '\0') {
            char spec[260];
            snprintf(spec, sizeof(spec), ":%s", zone);
            setenv("TZ", spec, 1);
        } else {
            /* the system's zone, named explicitly: with TZ unset glibc stats /etc/localtime on
             * every conversion (70 a second from the scaler) */
            setenv("TZ", ":/etc/localtime", 1);
        }
        tzset();
        snprintf(current_zone, sizeof(current_zone), "%s", zone);
        zone_set = true;
    }
    fn(arg);
    pthread_mutex_unlock(&tz_lock);
    return true;
}

struct local_job {
    time_t t;
    struct local_time *out;
    int y, mo, d, h, mi;
};

static void local_job(void *arg)
{
    struct local_job *j = arg;
    struct tm tm;
    localtime_r(&j->t, &tm);
    j->out->year = tm.tm_year + 1900;
    j->out->month = tm.tm_mon + 1;
    j->out->mday = tm.tm_mday;
    j->out->wday = tm.tm_wday;
    j->out->hour = tm.tm_hour;
    j->out->min = tm.tm_min;
    j->out->sec = tm.tm_sec;
    j->out->yday = tm.tm_yday;
    j->out->utc_offset_s = tm.tm_gmtoff;
}

bool clock_local(time_t t, const char *zone, struct local_time *out)
{
    struct local_job j = {.t = t, .out = out};
    return with_zone(zone, local_job, &j);
}

static void from_local_job(void *arg)
{
    struct local_job *j = arg;
    struct tm tm = {0};
    tm.tm_year = j->y - 1900;
    tm.tm_mon = j->mo - 1;
    tm.tm_mday = j->d;
    tm.tm_hour = j->h;
    tm.tm_min = j->mi;
    tm.tm_isdst = -1;
    j->t = mktime(&tm);
}

bool clock_from_local(int year, int month, int mday, int hour, int min, const char *zone, time_t *out)
{
    struct local_job j = {.y = year, .mo = month, .d = mday, .h = hour, .mi = min};
    if (!with_zone(zone, from_local_job, &j))
        return false;
    *out = j.t;
    return true;
}
