/* calendar.c — wedding calendars read into one list of weddings: iCalendar through libical 3 (zones,
 * all-day dates, recurrences and their exceptions) and the internal CSV export (calendar.h,
 * docs/calendar.md). Pure parsing over a buffer; nothing here touches files or the network. */
#include "calendar.h"

#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libical/ical.h>

#include "clock.h"
#include "windows_zones.h"

/* Recurrence iterations for one event and for one whole text: a daily rule begun decades before
 * the horizon still reaches it, while FREQ=SECONDLY from 1970 gives up instead of spinning. */
#define ITER_MAX_EVENT 100000
#define ITER_MAX_TEXT 2000000
#define ZONE_NAME_MAX 128
#define MSG_MAX 640
/* No zone is more than 26 hours from UTC (a VTIMEZONE that says otherwise is refused), so a wall
 * time read as if it were UTC is within this of the real instant: cheap pre-filtering. */
#define SLACK_S (3 * 86400L)
/* An event longer than this is a typo (DTEND a year late) or hostile; it is skipped. */
#define SPAN_MAX_DAYS 3660
#define MISSING_END_S (8 * 3600L)

/* ---- the list ---- */

const char *wedding_status(const struct wedding *w, time_t now)
{
    return now < w->start ? "upcoming" : now < w->end ? "in_progress" : "done";
}

void wedding_list_free(struct wedding_list *l)
{
    free(l->items);
    l->items = NULL;
    l->n = l->cap = 0;
}

static bool list_reserve(struct wedding_list *l, size_t extra)
{
    if (extra <= l->cap - l->n)
        return true;
    if (extra > SIZE_MAX / sizeof(struct wedding) - l->n)
        return false;
    size_t need = l->n + extra;
    size_t cap = l->cap ? l->cap : 16;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 / sizeof(struct wedding) ? need : cap * 2;
    struct wedding *p = realloc(l->items, cap * sizeof(*p));
    if (p == NULL)
        return false;
    l->items = p;
    l->cap = cap;
    return true;
}

bool wedding_list_add(struct wedding_list *l, const struct wedding *w)
{
    if (!list_reserve(l, 1))
        return false;
    l->items[l->n++] = *w;
    return true;
}

static int wedding_cmp(const void *a, const void *b)
{
    const struct wedding *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    int c = strcmp(x->name, y->name);
    if (c != 0)
        return c;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return strcmp(x->uid, y->uid);
}

void wedding_list_sort(struct wedding_list *l)
{
    if (l->n > 1)
        qsort(l->items, l->n, sizeof(l->items[0]), wedding_cmp);
}

bool wedding_list_append(struct wedding_list *dst, const struct wedding_list *src)
{
    if (src->n == 0)
        return true;
    if (!list_reserve(dst, src->n))
        return false;
    memcpy(dst->items + dst->n, src->items, src->n * sizeof(src->items[0]));
    dst->n += src->n;
    return true;
}

/* ---- small helpers shared by both readers ---- */

/* Copies at most cap-1 bytes of src[0..len) and a NUL, never cutting a UTF-8 character in two. */
static void copy_text(char *dst, size_t cap, const char *src, size_t len)
{
    if (cap == 0)
        return;
    if (len > cap - 1) {
        len = cap - 1;
        while (len > 0 && ((unsigned char)src[len] & 0xC0) == 0x80)
            len--;
    }
    memcpy(dst, src, len);
    dst[len] = '\0';
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    if (src == NULL)
        src = "";
    copy_text(dst, cap, src, strlen(src));
}

static void say(calendar_warn_fn warn, void *arg, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(calendar_warn_fn warn, void *arg, const char *fmt, ...)
{
    if (warn == NULL)
        return;
    char msg[MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    warn(arg, msg);
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dm[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static long long days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static time_t civil_seconds(int y, int mo, int d, int h, int mi, int s)
{
    return (time_t)(days_from_civil(y, mo, d) * 86400LL + h * 3600LL + mi * 60LL + s);
}

/* Strict decimal in [min, max], surrounding blanks allowed. */
static bool parse_int(const char *s, int min, int max, int *out)
{
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '+')
        s++;
    long v = 0;
    int nd = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (++nd > 9)
            return false;
        v = v * 10 + (*s - '0');
    }
    while (*s == ' ' || *s == '\t')
        s++;
    if (nd == 0 || *s != '\0' || v < min || v > max)
        return false;
    *out = (int)v;
    return true;
}

static int wz_cmp(const void *key, const void *elem)
{
    return strcasecmp(key, ((const struct windows_zone *)elem)->windows);
}

const char *calendar_windows_zone(const char *windows_name)
{
    if (windows_name == NULL)
        return NULL;
    const struct windows_zone *z = bsearch(windows_name, windows_zones, sizeof(windows_zones) / sizeof(windows_zones[0]),
                                           sizeof(windows_zones[0]), wz_cmp);
    return z != NULL ? z->iana : NULL;
}

/* The IANA zone a zone name stands for: the name itself if zoneinfo has it, a Windows name through
 * the CLDR table, or the tail of a "/vendor/version/Area/City" TZID as Mozilla and Citadel write
 * them. false if none. */
static bool named_zone(const char *name, char *out, size_t cap)
{
    if (name == NULL || name[0] == '\0' || strlen(name) >= cap)
        return false;
    if (name[0] != '/' && clock_zone_valid(name)) {
        copy_str(out, cap, name);
        return true;
    }
    const char *w = calendar_windows_zone(name);
    if (w != NULL) {
        copy_str(out, cap, w);
        return true;
    }
    if (name[0] == '/') {
        for (const char *p = name; (p = strchr(p, '/')) != NULL;) {
            p++;
            if (*p != '\0' && *p != '/' && clock_zone_valid(p)) {
                copy_str(out, cap, p);
                return true;
            }
        }
    }
    return false;
}

/* The default zone of a source: "" (or NULL) is the system's zone, else a name as named_zone(). */
static bool default_zone_resolve(const char *default_zone, char *out, size_t cap)
{
    if (default_zone == NULL || default_zone[0] == '\0') {
        out[0] = '\0';
        return true;
    }
    return named_zone(default_zone, out, cap);
}

/* Where one text's weddings go, with the CALENDAR_MAX_WEDDINGS cap (warned once). */
struct sink {
    struct wedding_list *out;
    size_t base;              /* out->n when this text started */
    const char *source;
    calendar_warn_fn warn;
    void *arg;
    bool full, oom;
};

static void sink_add(struct sink *k, const struct wedding *w)
{
    if (k->full || k->oom)
        return;
    if (k->out->n - k->base >= CALENDAR_MAX_WEDDINGS) {
        k->full = true;
        say(k->warn, k->arg, "calendar %s: more than %d weddings; the rest are ignored", k->source,
            CALENDAR_MAX_WEDDINGS);
        return;
    }
    if (!wedding_list_add(k->out, w))
        k->oom = true;
}

/* ---- iCalendar ---- */

enum zone_kind { ZONE_UTC, ZONE_ICAL, ZONE_NAMED };

struct zone {
    enum zone_kind kind;
    icaltimezone *ical;       /* ZONE_ICAL: a VTIMEZONE of the text (owned by the parsed tree) */
    char name[ZONE_NAME_MAX]; /* ZONE_NAMED: an IANA name; "" = the system's zone */
};

/* An instant identifying one instance: a recurrence's original start (RECURRENCE-ID) or an EXDATE.
 * A DATE value matches by the instance's local date, a DATE-TIME by its UTC start. */
struct when {
    const char *uid;          /* overrides only: the UID (owned by the parsed tree) */
    time_t utc;
    bool is_date;
    int y, m, d;
};

struct instance {
    time_t start, end;
    struct icaltimetype wall; /* local start, for DATE matches and the end of day-long spans */
};

/* Length of an event: end = (local start + days) converted to UTC, + secs. A DTEND gives exact
 * seconds (RFC 5545: every instance lasts as long as the first); DATE ends and DURATION days
 * count local days, so an all-day wedding spans a DST change correctly. */
struct span {
    int days;
    long long secs;
};

/* A recurring event's master (the VEVENT without RECURRENCE-ID), found by UID. */
struct master {
    const char *uid;
    icalcomponent *comp;
};

struct vevent {
    icalcomponent *comp;
    icalcomponent *vcal;      /* its VCALENDAR, where its TZIDs are looked up */
    int line;                 /* of its BEGIN:VEVENT, 0 if unknown */
};

struct ics {
    const char *source;
    char dflt[ZONE_NAME_MAX];
    bool dflt_ok;
    time_t from, to;
    struct sink sink;
    calendar_warn_fn warn;
    void *arg;
    long iter_left;           /* recurrence iterations left for the whole text */
    struct when *overrides;   /* every RECURRENCE-ID of the text, sorted by UID */
    size_t n_overrides;
    struct master *masters;   /* every VEVENT with a UID and no RECURRENCE-ID, sorted by UID */
    size_t n_masters;
    struct instance *inst;    /* CALENDAR_MAX_INSTANCES, reused event after event */
};

/* One event being read: what the messages name, and what every instance shares. */
struct event {
    const struct vevent *ev;
    const char *uid;          /* NULL if the event has none */
    struct zone zone;         /* of DTSTART */
    struct icaltimetype dtstart;
    struct span span;
    struct wedding proto;     /* name, venue, counts; start/end/uid per instance */
    struct when *exdates;
    size_t n_exdates;
    size_t n_inst;
    bool inst_capped;
};

static void ev_warn(struct ics *p, const struct vevent *ev, const char *uid, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void ev_warn(struct ics *p, const struct vevent *ev, const char *uid, const char *fmt, ...)
{
    if (p->warn == NULL)
        return;
    char reason[MSG_MAX / 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    char where[48] = "";
    if (ev->line > 0)
        snprintf(where, sizeof(where), " (line %d)", ev->line);
    if (uid != NULL)
        say(p->warn, p->arg, "calendar %s: event %.160s%s: %s", p->source, uid, where, reason);
    else
        say(p->warn, p->arg, "calendar %s: event without UID%s: %s", p->source, where, reason);
}

static bool time_valid(struct icaltimetype t)
{
    if (t.year < 1 || t.year > 9999 || t.month < 1 || t.month > 12 || t.day < 1 ||
        t.day > days_in_month(t.year, t.month))
        return false;
    if (t.is_date)
        return true;
    return t.hour >= 0 && t.hour <= 23 && t.minute >= 0 && t.minute <= 59 && t.second >= 0 && t.second <= 60;
}

/* A wall time read as if it were UTC (for pre-filtering within SLACK_S). */
static time_t wall_seconds(struct icaltimetype t)
{
    return t.is_date ? civil_seconds(t.year, t.month, t.day, 0, 0, 0)
                     : civil_seconds(t.year, t.month, t.day, t.hour, t.minute, t.second);
}

/* The DATE or DATE-TIME of a property (the start of a PERIOD, for RDATE). */
static bool prop_time(icalproperty *prop, struct icaltimetype *out)
{
    icalvalue *v = icalproperty_get_value(prop);
    if (v == NULL)
        return false;
    switch (icalvalue_isa(v)) {
    case ICAL_DATE_VALUE:
        *out = icalvalue_get_date(v);
        break;
    case ICAL_DATETIME_VALUE:
        *out = icalvalue_get_datetime(v);
        break;
    case ICAL_DATETIMEPERIOD_VALUE: {
        struct icaldatetimeperiodtype dp = icalvalue_get_datetimeperiod(v);
        *out = icaltime_is_null_time(dp.time) ? dp.period.start : dp.time;
        break;
    }
    case ICAL_PERIOD_VALUE:
        *out = icalvalue_get_period(v).start;
        break;
    default:
        return false;
    }
    return !icaltime_is_null_time(*out) && time_valid(*out);
}

/* A VTIMEZONE fit to convert with: STANDARD/DAYLIGHT parts with a DTSTART and a sane offset, and
 * yearly rules only (libical expands a zone's rules from their DTSTART on every conversion, so a
 * hostile FREQ=SECONDLY would spin). */
static bool vtimezone_sane(icaltimezone *tz)
{
    icalcomponent *c = icaltimezone_get_component(tz);
    if (c == NULL)
        return false;
    int parts = 0;
    for (icalcomponent *s = icalcomponent_get_first_component(c, ICAL_ANY_COMPONENT); s != NULL;
         s = icalcomponent_get_next_component(c, ICAL_ANY_COMPONENT)) {
        icalcomponent_kind k = icalcomponent_isa(s);
        if (k != ICAL_XSTANDARD_COMPONENT && k != ICAL_XDAYLIGHT_COMPONENT)
            continue;
        if (++parts > 64)
            return false;
        icalproperty *ds = icalcomponent_get_first_property(s, ICAL_DTSTART_PROPERTY);
        struct icaltimetype t;
        if (ds == NULL || !prop_time(ds, &t) || t.year < 1600)
            return false;
        icalproperty *off = icalcomponent_get_first_property(s, ICAL_TZOFFSETTO_PROPERTY);
        if (off == NULL)
            return false;
        int o = icalproperty_get_tzoffsetto(off);
        if (o < -26 * 3600 || o > 26 * 3600)
            return false;
        int rdates = 0;
        for (icalproperty *r = icalcomponent_get_first_property(s, ICAL_ANY_PROPERTY); r != NULL;
             r = icalcomponent_get_next_property(s, ICAL_ANY_PROPERTY)) {
            icalproperty_kind pk = icalproperty_isa(r);
            if (pk == ICAL_RRULE_PROPERTY && icalproperty_get_rrule(r).freq != ICAL_YEARLY_RECURRENCE)
                return false;
            if (pk == ICAL_RDATE_PROPERTY && ++rdates > 1000)
                return false;
        }
    }
    return parts > 0;
}

/* The zone of a time value: UTC ("Z"), its TZID (the text's VTIMEZONE, else an IANA or Windows
 * name), the default zone for all-day dates, else floating (fallback: the default zone for DTSTART,
 * DTSTART's zone for the other properties of the event). false + why if unknown. */
static bool resolve_zone(struct ics *p, icalcomponent *vcal, icalproperty *prop, struct icaltimetype t,
                         const struct zone *fallback, struct zone *z, char *why, size_t whylen)
{
    memset(z, 0, sizeof(*z));
    if (icaltime_is_utc(t) && !t.is_date) {
        z->kind = ZONE_UTC;
        return true;
    }
    const char *tzid = NULL;
    icalparameter *tp = icalproperty_get_first_parameter(prop, ICAL_TZID_PARAMETER);
    if (tp != NULL && !t.is_date) {
        tzid = icalparameter_get_tzid(tp);
        if (tzid == NULL || tzid[0] == '\0') {
            snprintf(why, whylen, "empty TZID");
            return false;
        }
    }
    if (tzid == NULL) {
        if (fallback != NULL && !t.is_date) {
            *z = *fallback;
            return true;
        }
        if (!p->dflt_ok) {
            snprintf(why, whylen, "%s time but the calendar's default time zone is unknown",
                     t.is_date ? "an all-day" : "a floating");
            return false;
        }
        z->kind = ZONE_NAMED;
        copy_str(z->name, sizeof(z->name), p->dflt);
        return true;
    }
    icaltimezone *tz = vcal != NULL ? icalcomponent_get_timezone(vcal, tzid) : NULL;
    if (tz != NULL && vtimezone_sane(tz)) {
        z->kind = ZONE_ICAL;
        z->ical = tz;
        return true;
    }
    if (named_zone(tzid, z->name, sizeof(z->name))) {
        z->kind = ZONE_NAMED;
        return true;
    }
    snprintf(why, whylen, "unknown time zone \"%.64s\"%s", tzid, tz != NULL ? " (its VTIMEZONE is unusable)" : "");
    return false;
}

static bool to_utc(const struct zone *z, struct icaltimetype t, time_t *out)
{
    switch (z->kind) {
    case ZONE_UTC:
        *out = wall_seconds(t);
        return true;
    case ZONE_ICAL:
        t.zone = NULL;
        t.is_date = 0;
        *out = icaltime_as_timet_with_zone(t, z->ical);
        return true;
    case ZONE_NAMED: {
        time_t base;
        if (!clock_from_local(t.year, t.month, t.day, t.is_date ? 0 : t.hour, t.is_date ? 0 : t.minute, z->name,
                              &base))
            return false;
        *out = base + (t.is_date ? 0 : t.second);
        return true;
    }
    }
    return false;
}

static bool instance_end(const struct zone *z, struct icaltimetype wall, time_t start, const struct span *s,
                         time_t *end)
{
    if (s->days == 0) {
        *end = start + (time_t)s->secs;
        return true;
    }
    struct icaltimetype e = wall;
    icaltime_adjust(&e, s->days, 0, 0, 0);
    if (!time_valid(e) || !to_utc(z, e, end))
        return false;
    *end += (time_t)s->secs;
    return true;
}

/* Reads a when (EXDATE, RECURRENCE-ID) from a property. */
static bool prop_when(struct ics *p, const struct vevent *ev, icalproperty *prop, const struct zone *fallback,
                      struct when *w, char *why, size_t whylen)
{
    struct icaltimetype t;
    if (!prop_time(prop, &t)) {
        snprintf(why, whylen, "%s is not a valid date or date-time", icalproperty_kind_to_string(icalproperty_isa(prop)));
        return false;
    }
    memset(w, 0, sizeof(*w));
    w->is_date = t.is_date;
    w->y = t.year;
    w->m = t.month;
    w->d = t.day;
    struct zone z;
    if (!resolve_zone(p, ev->vcal, prop, t, fallback, &z, why, whylen))
        return false;
    if (!to_utc(&z, t, &w->utc)) {
        snprintf(why, whylen, "time zone conversion failed");
        return false;
    }
    return true;
}

static bool when_matches(const struct when *w, const struct instance *in)
{
    if (w->is_date)
        return in->wall.year == w->y && in->wall.month == w->m && in->wall.day == w->d;
    return w->utc == in->start;
}

/* Where an instance goes: a start ahead of the horizon ends the expansion. */
enum add_result { ADD_OK, ADD_PAST, ADD_FULL };

static enum add_result add_instance(struct ics *p, struct event *e, const struct zone *z, struct icaltimetype wall)
{
    time_t approx = wall_seconds(wall);
    if (approx - SLACK_S >= p->to)
        return ADD_PAST;
    long long reach = (long long)e->span.days * 86400 + e->span.secs + SLACK_S;
    if ((long long)approx + reach < (long long)p->from)
        return ADD_OK;
    struct instance in = {.wall = wall};
    if (!to_utc(z, wall, &in.start) || !instance_end(z, wall, in.start, &e->span, &in.end) || in.end <= in.start)
        return ADD_OK;
    if (in.start >= p->to || in.end <= p->from)
        return ADD_OK;
    /* DTSTART is usually the rule's first occurrence too (other duplicates go after sorting). */
    if (e->n_inst > 0 && (p->inst[0].start == in.start || p->inst[e->n_inst - 1].start == in.start))
        return ADD_OK;
    if (e->n_inst >= CALENDAR_MAX_INSTANCES) {
        e->inst_capped = true;
        return ADD_FULL;
    }
    p->inst[e->n_inst++] = in;
    return ADD_OK;
}

/* "UID/suffix", the UID shortened (never the suffix) to fit. */
static void instance_uid(char *dst, size_t cap, const char *uid, const char *suffix)
{
    size_t sl = strlen(suffix);
    if (sl + 1 >= cap) {
        copy_str(dst, cap, suffix);
        return;
    }
    copy_text(dst, cap - sl, uid, strlen(uid));
    memcpy(dst + strlen(dst), suffix, sl + 1);
}

static void emit(struct ics *p, struct event *e, const struct instance *in, const struct when *rid)
{
    if (p->sink.full || p->sink.oom)
        return;
    struct wedding w = e->proto;
    w.start = in->start;
    w.end = in->end;
    char base[WEDDING_NAME_MAX];
    if (e->uid != NULL)
        copy_str(base, sizeof(base), e->uid);
    else
        snprintf(base, sizeof(base), "ics:%d", e->ev->line);
    if (rid != NULL) {
        char suffix[40];
        if (rid->is_date) {
            snprintf(suffix, sizeof(suffix), "/%04d-%02d-%02d", rid->y, rid->m, rid->d);
        } else {
            char iso[32];
            clock_format_iso(rid->utc, iso, sizeof(iso));
            snprintf(suffix, sizeof(suffix), "/%s", iso);
        }
        instance_uid(w.uid, sizeof(w.uid), base, suffix);
    } else {
        copy_str(w.uid, sizeof(w.uid), base);
    }
    sink_add(&p->sink, &w);
}

struct xprop {
    const char *name;
    size_t offset;            /* of the int in struct wedding */
    int min, max, dflt;
};

/* The wedpool properties of an event (docs/calendar.md). */
static const struct xprop xprops[] = {
    {"X-WEDPOOL-GUESTS", offsetof(struct wedding, guests), 0, 100000, WEDDING_DEFAULT_GUESTS},
    {"X-WEDPOOL-VENDORS", offsetof(struct wedding, vendors), 0, 10000, WEDDING_DEFAULT_VENDORS},
    {"X-WEDPOOL-CRITICAL", offsetof(struct wedding, critical), 1, 5, WEDDING_DEFAULT_CRITICAL},
};

#define N_XPROPS (sizeof(xprops) / sizeof(xprops[0]))

/* SUMMARY, LOCATION and the X-WEDPOOL-* values present in comp, over what w holds already. */
static void read_text_props_from(struct ics *p, struct event *e, icalcomponent *comp, bool complain)
{
    struct wedding *w = &e->proto;
    bool seen[N_XPROPS] = {false}, name = false, venue = false;
    for (icalproperty *prop = icalcomponent_get_first_property(comp, ICAL_ANY_PROPERTY); prop != NULL;
         prop = icalcomponent_get_next_property(comp, ICAL_ANY_PROPERTY)) {
        icalproperty_kind k = icalproperty_isa(prop);
        if (k == ICAL_SUMMARY_PROPERTY && !name) {
            name = true;
            copy_str(w->name, sizeof(w->name), icalproperty_get_summary(prop));
        } else if (k == ICAL_LOCATION_PROPERTY && !venue) {
            venue = true;
            copy_str(w->venue, sizeof(w->venue), icalproperty_get_location(prop));
        } else if (k == ICAL_X_PROPERTY) {
            const char *xn = icalproperty_get_x_name(prop);
            for (size_t i = 0; xn != NULL && i < N_XPROPS; i++) {
                if (strcasecmp(xn, xprops[i].name) != 0 || seen[i])
                    continue;
                seen[i] = true;
                char *val = icalproperty_get_value_as_string_r(prop);
                int v;
                if (val != NULL && parse_int(val, xprops[i].min, xprops[i].max, &v))
                    *(int *)((char *)w + xprops[i].offset) = v;
                else if (complain)
                    ev_warn(p, e->ev, e->uid, "%s \"%.32s\" is not an integer in [%d, %d]; using %d", xprops[i].name,
                            val != NULL ? val : "", xprops[i].min, xprops[i].max,
                            *(int *)((char *)w + xprops[i].offset));
                free(val);
            }
        }
    }
}

static int master_cmp(const void *a, const void *b)
{
    return strcmp(((const struct master *)a)->uid, ((const struct master *)b)->uid);
}

/* The defaults, then (for an override) what its master says, then what the event itself says: a
 * moved instance keeps its guests unless the override restates them. */
static void read_text_props(struct ics *p, struct event *e, bool is_override)
{
    struct wedding *w = &e->proto;
    copy_str(w->calendar, sizeof(w->calendar), p->source);
    for (size_t i = 0; i < N_XPROPS; i++)
        *(int *)((char *)w + xprops[i].offset) = xprops[i].dflt;
    if (is_override && e->uid != NULL && p->n_masters > 0) {
        struct master key = {.uid = e->uid};
        const struct master *m = bsearch(&key, p->masters, p->n_masters, sizeof(*p->masters), master_cmp);
        if (m != NULL)
            read_text_props_from(p, e, m->comp, false);
    }
    read_text_props_from(p, e, e->ev->comp, true);
    if (w->name[0] == '\0')
        copy_str(w->name, sizeof(w->name), "(no title)");
}

/* DTEND, else DURATION, else the defaults of calendar.h. false + why for an event that ends before
 * it starts or lasts longer than SPAN_MAX_DAYS. */
static bool read_span(struct ics *p, struct event *e, time_t start, char *why, size_t whylen)
{
    icalcomponent *c = e->ev->comp;
    struct span *s = &e->span;
    icalproperty *dtend = icalcomponent_get_first_property(c, ICAL_DTEND_PROPERTY);
    icalproperty *dur = icalcomponent_get_first_property(c, ICAL_DURATION_PROPERTY);
    if (dtend != NULL) {
        struct icaltimetype t;
        if (!prop_time(dtend, &t)) {
            snprintf(why, whylen, "DTEND is not a valid date or date-time");
            return false;
        }
        if (t.is_date && e->dtstart.is_date) {
            long long d = days_from_civil(t.year, t.month, t.day) -
                          days_from_civil(e->dtstart.year, e->dtstart.month, e->dtstart.day);
            if (d <= 0 || d > SPAN_MAX_DAYS) {
                snprintf(why, whylen, d <= 0 ? "DTEND is not after DTSTART" : "it lasts more than %d days",
                         SPAN_MAX_DAYS);
                return false;
            }
            s->days = (int)d;
            return true;
        }
        struct zone z;
        time_t end;
        if (!resolve_zone(p, e->ev->vcal, dtend, t, &e->zone, &z, why, whylen))
            return false;
        if (!to_utc(&z, t, &end)) {
            snprintf(why, whylen, "time zone conversion failed");
            return false;
        }
        s->secs = (long long)end - (long long)start;
    } else if (dur != NULL) {
        struct icaldurationtype d = icalproperty_get_duration(dur);
        if (d.is_neg || icaldurationtype_is_bad_duration(d)) {
            snprintf(why, whylen, "DURATION is negative or malformed");
            return false;
        }
        long long days = (long long)d.weeks * 7 + d.days;
        long long secs = (long long)d.hours * 3600 + (long long)d.minutes * 60 + d.seconds;
        if (days > SPAN_MAX_DAYS || secs > SPAN_MAX_DAYS * 86400LL) {
            snprintf(why, whylen, "it lasts more than %d days", SPAN_MAX_DAYS);
            return false;
        }
        s->days = (int)days;
        s->secs = secs;
        if (days == 0 && secs == 0) {
            snprintf(why, whylen, "DURATION is zero");
            return false;
        }
        return true;
    } else if (e->dtstart.is_date) {
        s->days = 1;
        return true;
    } else {
        s->secs = MISSING_END_S;
        return true;
    }
    if (s->secs <= 0) {
        snprintf(why, whylen, "DTEND is not after DTSTART");
        return false;
    }
    if (s->secs > SPAN_MAX_DAYS * 86400LL) {
        snprintf(why, whylen, "it lasts more than %d days", SPAN_MAX_DAYS);
        return false;
    }
    return true;
}

static int override_cmp(const void *a, const void *b)
{
    return strcmp(((const struct when *)a)->uid, ((const struct when *)b)->uid);
}

static int instance_cmp(const void *a, const void *b)
{
    const struct instance *x = a, *y = b;
    return x->start != y->start ? (x->start < y->start ? -1 : 1) : 0;
}

static bool is_cancelled(const struct vevent *ev)
{
    return icalcomponent_get_status(ev->comp) == ICAL_STATUS_CANCELLED ||
           (ev->vcal != NULL && icalcomponent_get_method(ev->vcal) == ICAL_METHOD_CANCEL);
}

/* Every instance of a recurring master within [from, to): DTSTART, RRULEs and RDATEs, less the
 * EXDATEs and the instances an override (RECURRENCE-ID) replaces. */
static void expand(struct ics *p, struct event *e)
{
    icalcomponent *c = e->ev->comp;
    char why[256];
    /* EXDATEs first: the loops below must not share the component's property iterator. */
    size_t n_ex = 0;
    for (icalproperty *x = icalcomponent_get_first_property(c, ICAL_EXDATE_PROPERTY); x != NULL;
         x = icalcomponent_get_next_property(c, ICAL_EXDATE_PROPERTY))
        n_ex++;
    if (n_ex > 0) {
        e->exdates = calloc(n_ex, sizeof(*e->exdates));
        if (e->exdates == NULL) {
            p->sink.oom = true;
            return;
        }
        for (icalproperty *x = icalcomponent_get_first_property(c, ICAL_EXDATE_PROPERTY); x != NULL;
             x = icalcomponent_get_next_property(c, ICAL_EXDATE_PROPERTY)) {
            if (prop_when(p, e->ev, x, &e->zone, &e->exdates[e->n_exdates], why, sizeof(why)))
                e->n_exdates++;
            else
                ev_warn(p, e->ev, e->uid, "EXDATE ignored: %s", why);
        }
    }

    add_instance(p, e, &e->zone, e->dtstart);
    bool capped = false;
    for (icalproperty *r = icalcomponent_get_first_property(c, ICAL_RRULE_PROPERTY); r != NULL && !e->inst_capped;
         r = icalcomponent_get_next_property(c, ICAL_RRULE_PROPERTY)) {
        struct icalrecurrencetype rule = icalproperty_get_rrule(r);
        icalrecur_iterator *it = rule.freq != ICAL_NO_RECURRENCE ? icalrecur_iterator_new(rule, e->dtstart) : NULL;
        if (it == NULL) {
            ev_warn(p, e->ev, e->uid, "RRULE not understood; only its first instance is loaded");
            continue;
        }
        for (long n = 0;; n++) {
            if (n >= ITER_MAX_EVENT || p->iter_left <= 0) {
                capped = true;
                break;
            }
            p->iter_left--;
            struct icaltimetype o = icalrecur_iterator_next(it);
            if (icaltime_is_null_time(o) || !time_valid(o))
                break;
            if (add_instance(p, e, &e->zone, o) != ADD_OK)
                break;
        }
        icalrecur_iterator_free(it);
    }
    if (capped)
        ev_warn(p, e->ev, e->uid, "recurrence expanded for too long (%d steps); later instances are dropped",
                ITER_MAX_EVENT);
    for (icalproperty *r = icalcomponent_get_first_property(c, ICAL_RDATE_PROPERTY); r != NULL && !e->inst_capped;
         r = icalcomponent_get_next_property(c, ICAL_RDATE_PROPERTY)) {
        struct icaltimetype t;
        struct zone z;
        if (!prop_time(r, &t) || !resolve_zone(p, e->ev->vcal, r, t, &e->zone, &z, why, sizeof(why))) {
            ev_warn(p, e->ev, e->uid, "RDATE ignored: not a valid date or date-time in a known zone");
            continue;
        }
        add_instance(p, e, &z, t);
    }
    if (e->inst_capped)
        ev_warn(p, e->ev, e->uid, "more than %d instances in the horizon; the rest are dropped",
                CALENDAR_MAX_INSTANCES);

    qsort(p->inst, e->n_inst, sizeof(p->inst[0]), instance_cmp);
    struct when key = {.uid = e->uid};
    struct when *ov = e->uid != NULL && p->n_overrides > 0
                          ? bsearch(&key, p->overrides, p->n_overrides, sizeof(*p->overrides), override_cmp)
                          : NULL;
    size_t ov_lo = 0, ov_hi = 0;
    if (ov != NULL) {
        ov_lo = ov_hi = (size_t)(ov - p->overrides);
        while (ov_lo > 0 && strcmp(p->overrides[ov_lo - 1].uid, e->uid) == 0)
            ov_lo--;
        while (ov_hi < p->n_overrides && strcmp(p->overrides[ov_hi].uid, e->uid) == 0)
            ov_hi++;
    }
    for (size_t i = 0; i < e->n_inst; i++) {
        const struct instance *in = &p->inst[i];
        if (i > 0 && in->start == p->inst[i - 1].start)
            continue;
        bool skip = false;
        for (size_t k = 0; k < e->n_exdates && !skip; k++)
            skip = when_matches(&e->exdates[k], in);
        for (size_t k = ov_lo; k < ov_hi && !skip; k++)
            skip = when_matches(&p->overrides[k], in);
        if (skip)
            continue;
        struct when rid = {.utc = in->start, .is_date = e->dtstart.is_date, .y = in->wall.year, .m = in->wall.month,
                           .d = in->wall.day};
        emit(p, e, in, &rid);
    }
}

static void ics_event(struct ics *p, const struct vevent *ev)
{
    icalcomponent *c = ev->comp;
    struct event e = {.ev = ev};
    char why[256];
    icalproperty *up = icalcomponent_get_first_property(c, ICAL_UID_PROPERTY);
    e.uid = up != NULL ? icalproperty_get_uid(up) : NULL;
    if (e.uid != NULL && e.uid[0] == '\0')
        e.uid = NULL;
    icalproperty *ridp = icalcomponent_get_first_property(c, ICAL_RECURRENCEID_PROPERTY);
    if (is_cancelled(ev))
        return; /* a cancelled override has already removed its instance (see the override table) */
    icalproperty *ds = icalcomponent_get_first_property(c, ICAL_DTSTART_PROPERTY);
    if (ds == NULL) {
        ev_warn(p, ev, e.uid, "no DTSTART; skipped");
        return;
    }
    if (!prop_time(ds, &e.dtstart)) {
        ev_warn(p, ev, e.uid, "DTSTART is not a valid date or date-time; skipped");
        return;
    }
    if (!resolve_zone(p, ev->vcal, ds, e.dtstart, NULL, &e.zone, why, sizeof(why))) {
        ev_warn(p, ev, e.uid, "DTSTART: %s; skipped", why);
        return;
    }
    time_t start;
    if (!to_utc(&e.zone, e.dtstart, &start)) {
        ev_warn(p, ev, e.uid, "DTSTART: time zone conversion failed; skipped");
        return;
    }
    if (!read_span(p, &e, start, why, sizeof(why))) {
        ev_warn(p, ev, e.uid, "%s; skipped", why);
        return;
    }
    e.proto.all_day = e.dtstart.is_date;
    read_text_props(p, &e, ridp != NULL);

    if (ridp != NULL) {
        /* An override stands for one instance: its own times, named after the instance it replaces. */
        struct when rid;
        if (!prop_when(p, ev, ridp, &e.zone, &rid, why, sizeof(why))) {
            ev_warn(p, ev, e.uid, "RECURRENCE-ID: %s; skipped", why);
            return;
        }
        struct instance in = {.wall = e.dtstart, .start = start};
        if (!instance_end(&e.zone, e.dtstart, start, &e.span, &in.end) || in.end <= in.start) {
            ev_warn(p, ev, e.uid, "DTEND is not after DTSTART; skipped");
            return;
        }
        if (in.start < p->to && in.end > p->from)
            emit(p, &e, &in, &rid);
        return;
    }
    bool recurs = icalcomponent_get_first_property(c, ICAL_RRULE_PROPERTY) != NULL ||
                  icalcomponent_get_first_property(c, ICAL_RDATE_PROPERTY) != NULL;
    if (!recurs) {
        struct instance in = {.wall = e.dtstart, .start = start};
        if (!instance_end(&e.zone, e.dtstart, start, &e.span, &in.end) || in.end <= in.start) {
            ev_warn(p, ev, e.uid, "DTEND is not after DTSTART; skipped");
            return;
        }
        if (in.start < p->to && in.end > p->from)
            emit(p, &e, &in, NULL);
        return;
    }
    expand(p, &e);
    free(e.exdates);
}

/* Line numbers of the BEGIN:VEVENT lines, in order (for messages). */
static int *vevent_lines(const char *text, size_t *count)
{
    int *v = NULL;
    size_t n = 0, cap = 0;
    int line = 1;
    for (const char *s = text; *s != '\0';) {
        if (strncasecmp(s, "BEGIN:VEVENT", 12) == 0 && (s[12] == '\r' || s[12] == '\n' || s[12] == '\0')) {
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                int *nv = realloc(v, cap * sizeof(*v));
                if (nv == NULL) {
                    free(v);
                    *count = 0;
                    return NULL;
                }
                v = nv;
            }
            v[n++] = line;
        }
        const char *nl = strchr(s, '\n');
        if (nl == NULL)
            break;
        s = nl + 1;
        line++;
    }
    *count = n;
    return v;
}

static bool push_vevents(icalcomponent *vcal, struct vevent **v, size_t *n, size_t *cap)
{
    for (icalcomponent *c = icalcomponent_get_first_component(vcal, ICAL_VEVENT_COMPONENT); c != NULL;
         c = icalcomponent_get_next_component(vcal, ICAL_VEVENT_COMPONENT)) {
        if (*n == *cap) {
            size_t nc = *cap ? *cap * 2 : 64;
            struct vevent *nv = realloc(*v, nc * sizeof(**v));
            if (nv == NULL)
                return false;
            *v = nv;
            *cap = nc;
        }
        (*v)[(*n)++] = (struct vevent){.comp = c, .vcal = vcal};
    }
    return true;
}

/* "BEGIN:VCALENDAR" on the first line that is not blank (after a UTF-8 BOM): anything else is not
 * handed to libical at all. */
static bool looks_like_ics(const char *s, size_t len)
{
    size_t i = 0;
    if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    while (i < len && (s[i] == '\r' || s[i] == '\n' || s[i] == ' ' || s[i] == '\t'))
        i++;
    return len - i >= 15 && strncasecmp(s + i, "BEGIN:VCALENDAR", 15) == 0;
}

/* libical 3.0 refuses an x-name written in lower case ("x-wedpool-guests:42" becomes an
 * X-LIC-ERROR) although RFC 5545 names are case-insensitive: upper-case the names of such lines. */
static void upcase_x_names(char *s)
{
    for (char *line = s; *line != '\0';) {
        if (line[0] == 'x' && line[1] == '-') {
            for (char *c = line; *c != '\0' && *c != ':' && *c != ';' && *c != '\n'; c++)
                if (*c >= 'a' && *c <= 'z')
                    *c = (char)(*c - 'a' + 'A');
        }
        char *nl = strchr(line, '\n');
        if (nl == NULL)
            break;
        line = nl + 1;
    }
}

static bool too_large(size_t len, char *err, size_t errlen)
{
    if (len <= CALENDAR_TEXT_MAX)
        return false;
    snprintf(err, errlen, "calendar text of %zu bytes is larger than the %u-byte limit", len, CALENDAR_TEXT_MAX);
    return true;
}

static pthread_once_t ical_once = PTHREAD_ONCE_INIT;

static void ical_init(void)
{
    /* A malformed calendar must never abort the daemon. */
    icalerror_set_errors_are_fatal(0);
}

bool calendar_parse_ics(const char *text, size_t len, const char *source, const char *default_zone, time_t from,
                        time_t to, struct wedding_list *out, calendar_warn_fn warn, void *arg, char *err,
                        size_t errlen)
{
    if (too_large(len, err, errlen))
        return false;
    if (!looks_like_ics(text, len)) {
        snprintf(err, errlen, "not an iCalendar text (no BEGIN:VCALENDAR)");
        return false;
    }
    pthread_once(&ical_once, ical_init);
    char *copy = malloc(len + 1);
    if (copy == NULL) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    upcase_x_names(copy);
    icalcomponent *root = icalparser_parse_string(copy);
    size_t n_lines = 0;
    int *lines = root != NULL ? vevent_lines(copy, &n_lines) : NULL;
    free(copy);
    if (root == NULL ||
        (icalcomponent_isa(root) != ICAL_VCALENDAR_COMPONENT && icalcomponent_isa(root) != ICAL_XROOT_COMPONENT)) {
        snprintf(err, errlen, "not an iCalendar text (libical found no VCALENDAR)");
        if (root != NULL)
            icalcomponent_free(root);
        free(lines);
        return false;
    }

    struct ics p = {.source = source != NULL ? source : "", .from = from, .to = to, .warn = warn, .arg = arg,
                    .iter_left = ITER_MAX_TEXT};
    p.sink = (struct sink){.out = out, .base = out->n, .source = p.source, .warn = warn, .arg = arg};
    p.dflt_ok = default_zone_resolve(default_zone, p.dflt, sizeof(p.dflt));
    struct vevent *ev = NULL;
    size_t n_ev = 0, cap_ev = 0;
    bool ok = true;
    if (icalcomponent_isa(root) == ICAL_VCALENDAR_COMPONENT) {
        ok = push_vevents(root, &ev, &n_ev, &cap_ev);
    } else {
        for (icalcomponent *c = icalcomponent_get_first_component(root, ICAL_VCALENDAR_COMPONENT); c != NULL && ok;
             c = icalcomponent_get_next_component(root, ICAL_VCALENDAR_COMPONENT))
            ok = push_vevents(c, &ev, &n_ev, &cap_ev);
    }
    if (ok && lines != NULL && n_lines == n_ev) {
        for (size_t i = 0; i < n_ev; i++)
            ev[i].line = lines[i];
    }
    free(lines);
    p.inst = ok ? malloc(CALENDAR_MAX_INSTANCES * sizeof(*p.inst)) : NULL;
    p.overrides = ok && n_ev > 0 ? calloc(n_ev, sizeof(*p.overrides)) : NULL;
    p.masters = ok && n_ev > 0 ? calloc(n_ev, sizeof(*p.masters)) : NULL;
    if (p.inst == NULL || (n_ev > 0 && (p.overrides == NULL || p.masters == NULL)))
        ok = false;

    /* The override table first: a master's expansion drops every instance an override (cancelled
     * or not) stands for, whatever the order of the components. */
    for (size_t i = 0; ok && i < n_ev; i++) {
        icalcomponent *c = ev[i].comp;
        icalproperty *ridp = icalcomponent_get_first_property(c, ICAL_RECURRENCEID_PROPERTY);
        icalproperty *up = icalcomponent_get_first_property(c, ICAL_UID_PROPERTY);
        const char *uid = up != NULL ? icalproperty_get_uid(up) : NULL;
        if (uid == NULL || uid[0] == '\0')
            continue;
        if (ridp == NULL) {
            p.masters[p.n_masters++] = (struct master){.uid = uid, .comp = c};
            continue;
        }
        /* A floating RECURRENCE-ID is read in the zone of the override's DTSTART. */
        struct zone dz, *fallback = NULL;
        icalproperty *ds = icalcomponent_get_first_property(c, ICAL_DTSTART_PROPERTY);
        struct icaltimetype t;
        char why[256];
        if (ds != NULL && prop_time(ds, &t) && resolve_zone(&p, ev[i].vcal, ds, t, NULL, &dz, why, sizeof(why)))
            fallback = &dz;
        struct when *w = &p.overrides[p.n_overrides];
        if (prop_when(&p, &ev[i], ridp, fallback, w, why, sizeof(why))) {
            w->uid = uid;
            p.n_overrides++;
        }
    }
    if (p.n_overrides > 1)
        qsort(p.overrides, p.n_overrides, sizeof(*p.overrides), override_cmp);
    if (p.n_masters > 1)
        qsort(p.masters, p.n_masters, sizeof(*p.masters), master_cmp);

    for (size_t i = 0; ok && i < n_ev && !p.sink.full && !p.sink.oom; i++)
        ics_event(&p, &ev[i]);

    free(p.inst);
    free(p.overrides);
    free(p.masters);
    free(ev);
    icalcomponent_free(root);
    if (!ok || p.sink.oom) {
        out->n = p.sink.base;
        snprintf(err, errlen, "out of memory");
        return false;
    }
    return true;
}

/* ---- CSV ---- */

#define CSV_COLUMNS 7
#define CSV_FIELD_MAX 256
static const char csv_header[] = "name,start,end,timezone,guests,vendors,venue";

struct csv_record {
    int line;                                 /* where it starts */
    size_t nfields;                           /* may exceed CSV_COLUMNS (the rest are not kept) */
    char f[CSV_COLUMNS][CSV_FIELD_MAX];
    bool truncated[CSV_COLUMNS];
    const char *bad;                          /* why the record cannot be read, or NULL */
};

/* Reads the RFC 4180 record at *pos (quoted fields may hold commas, doubled quotes and line breaks;
 * a quote inside an unquoted field is kept as text); advances *pos and *line past it. */
static void csv_read_record(const char *t, size_t len, size_t *pos, int *line, struct csv_record *r)
{
    r->line = *line;
    r->nfields = 0;
    r->bad = NULL;
    size_t i = *pos;
    for (;;) {
        size_t k = r->nfields;
        char *buf = k < CSV_COLUMNS ? r->f[k] : NULL;
        size_t fl = 0;
        bool trunc = false;
#define PUT(ch)                                                                                                        \
    do {                                                                                                               \
        if (buf != NULL && fl < CSV_FIELD_MAX - 1)                                                                     \
            buf[fl++] = (ch);                                                                                          \
        else                                                                                                           \
            trunc = true;                                                                                              \
    } while (0)
        if (i < len && t[i] == '"') {
            i++;
            for (;;) {
                if (i >= len) {
                    r->bad = "a quoted field is not closed before the end of the file";
                    *pos = len;
                    return;
                }
                char ch = t[i];
                if (ch == '"') {
                    if (i + 1 < len && t[i + 1] == '"') {
                        PUT('"');
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                if (ch == '\n')
                    (*line)++;
                if (ch == '\0' && r->bad == NULL)
                    r->bad = "a NUL byte in a field";
                PUT(ch);
                i++;
            }
            if (i + 1 < len && t[i] == '\r' && t[i + 1] == '\n')
                i++;
            else if (i + 1 == len && t[i] == '\r')
                i++;
            if (i < len && t[i] != ',' && t[i] != '\n') {
                if (r->bad == NULL)
                    r->bad = "text after the closing quote of a field";
                while (i < len && t[i] != '\n')
                    i++;
            }
        } else {
            size_t start = i;
            while (i < len && t[i] != ',' && t[i] != '\n') {
                if (t[i] == '\0' && r->bad == NULL)
                    r->bad = "a NUL byte in a field";
                PUT(t[i]);
                i++;
            }
            /* A CRLF line end leaves its CR on the last field. */
            if ((i >= len || t[i] == '\n') && i > start && t[i - 1] == '\r' && !trunc && fl > 0)
                fl--;
        }
#undef PUT
        if (buf != NULL) {
            buf[fl] = '\0';
            r->truncated[k] = trunc;
        }
        r->nfields++;
        if (i >= len) {
            *pos = len;
            return;
        }
        if (t[i] == ',') {
            i++;
            continue;
        }
        i++; /* '\n' */
        (*line)++;
        *pos = i;
        return;
    }
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

/* "2026-06-13T14:00[:SS]" or with a space, local in zone; or an instant with Z or an offset. The
 * local form is checked by clock_parse_iso() as if it were UTC, then placed in the zone. */
static bool csv_time(const char *s, const char *zone, time_t *out)
{
    if (clock_parse_iso(s, out))
        return true;
    size_t n = strlen(s);
    if (n != 16 && n != 19)
        return false;
    char utc[24];
    memcpy(utc, s, n);
    memcpy(utc + n, "Z", 2);
    time_t as_utc;
    if (!clock_parse_iso(utc, &as_utc))
        return false;
    struct tm tm;
    gmtime_r(&as_utc, &tm);
    /* clock_parse_iso() takes any day up to 31: 2026-02-30 must not become 2 March. */
    if (tm.tm_mday != (s[8] - '0') * 10 + (s[9] - '0'))
        return false;
    time_t base;
    if (!clock_from_local(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, zone, &base))
        return false;
    *out = base + tm.tm_sec;
    return true;
}

struct csv {
    const char *source;
    char dflt[ZONE_NAME_MAX];
    bool dflt_ok;
    const char *dflt_name;
    time_t from, to;
    struct sink sink;
    calendar_warn_fn warn;
    void *arg;
};

static void csv_row(struct csv *p, struct csv_record *r)
{
    if (r->bad != NULL) {
        say(p->warn, p->arg, "calendar %s: line %d: %s; row skipped", p->source, r->line, r->bad);
        return;
    }
    if (r->nfields == 1 && r->f[0][0] == '\0')
        return; /* a blank line */
    if (r->nfields != CSV_COLUMNS) {
        say(p->warn, p->arg, "calendar %s: line %d: %zu fields where %d are expected (%s); row skipped", p->source,
            r->line, r->nfields, CSV_COLUMNS, csv_header);
        return;
    }
    struct wedding w = {0};
    copy_str(w.calendar, sizeof(w.calendar), p->source);
    const char *name = trim(r->f[0]);
    copy_str(w.name, sizeof(w.name), name[0] != '\0' ? name : "(no title)");
    copy_str(w.venue, sizeof(w.venue), trim(r->f[6]));
    snprintf(w.uid, sizeof(w.uid), "csv:%d", r->line);
    w.critical = WEDDING_DEFAULT_CRITICAL;

    const char *zname = trim(r->f[3]);
    char zone[ZONE_NAME_MAX];
    if (zname[0] == '\0') {
        if (!p->dflt_ok) {
            say(p->warn, p->arg, "calendar %s: line %d: no timezone and the default zone \"%.64s\" is unknown; row skipped",
                p->source, r->line, p->dflt_name);
            return;
        }
        copy_str(zone, sizeof(zone), p->dflt);
    } else if (r->truncated[3] || !named_zone(zname, zone, sizeof(zone))) {
        say(p->warn, p->arg, "calendar %s: line %d: unknown time zone \"%.64s\"; row skipped", p->source, r->line,
            zname);
        return;
    }
    const char *st = trim(r->f[1]), *en = trim(r->f[2]);
    if (r->truncated[1] || !csv_time(st, zone, &w.start)) {
        say(p->warn, p->arg, "calendar %s: line %d: start \"%.40s\" is not a time like 2026-06-13T14:00; row skipped",
            p->source, r->line, st);
        return;
    }
    if (en[0] == '\0') {
        w.end = w.start + MISSING_END_S;
    } else if (r->truncated[2] || !csv_time(en, zone, &w.end)) {
        say(p->warn, p->arg, "calendar %s: line %d: end \"%.40s\" is not a time like 2026-06-13T22:00; row skipped",
            p->source, r->line, en);
        return;
    }
    if (w.end <= w.start) {
        say(p->warn, p->arg, "calendar %s: line %d: the end is not after the start; row skipped", p->source, r->line);
        return;
    }
    if ((long long)w.end - (long long)w.start > SPAN_MAX_DAYS * 86400LL) {
        say(p->warn, p->arg, "calendar %s: line %d: it lasts more than %d days; row skipped", p->source, r->line,
            SPAN_MAX_DAYS);
        return;
    }
    for (size_t i = 0; i < 2; i++) {
        const struct xprop *x = &xprops[i]; /* the guests and vendors ranges */
        int *dst = (int *)((char *)&w + x->offset);
        const char *v = trim(r->f[4 + i]);
        *dst = x->dflt;
        if (v[0] != '\0' && !parse_int(v, x->min, x->max, dst)) {
            *dst = x->dflt;
            say(p->warn, p->arg, "calendar %s: line %d: %s \"%.32s\" is not an integer in [%d, %d]; using %d", p->source,
                r->line, i == 0 ? "guests" : "vendors", v, x->min, x->max, x->dflt);
        }
    }
    if (w.start < p->to && w.end > p->from)
        sink_add(&p->sink, &w);
}

bool calendar_parse_csv(const char *text, size_t len, const char *source, const char *default_zone, time_t from,
                        time_t to, struct wedding_list *out, calendar_warn_fn warn, void *arg, char *err,
                        size_t errlen)
{
    if (too_large(len, err, errlen))
        return false;
    size_t pos = 0;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        pos = 3;
    const char *nl = memchr(text + pos, '\n', len - pos);
    size_t hl = nl != NULL ? (size_t)(nl - (text + pos)) : len - pos;
    size_t hlen = hl;
    if (hlen > 0 && text[pos + hlen - 1] == '\r')
        hlen--;
    if (hlen != sizeof(csv_header) - 1 || strncasecmp(text + pos, csv_header, hlen) != 0) {
        snprintf(err, errlen, "not a wedding CSV: the first line must be \"%s\"", csv_header);
        return false;
    }
    pos += hl + (nl != NULL);
    struct csv p = {.source = source != NULL ? source : "", .from = from, .to = to, .warn = warn, .arg = arg,
                    .dflt_name = default_zone != NULL ? default_zone : ""};
    p.sink = (struct sink){.out = out, .base = out->n, .source = p.source, .warn = warn, .arg = arg};
    p.dflt_ok = default_zone_resolve(default_zone, p.dflt, sizeof(p.dflt));
    struct csv_record *r = malloc(sizeof(*r));
    if (r == NULL) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    int line = 2;
    while (pos < len && !p.sink.full && !p.sink.oom) {
        csv_read_record(text, len, &pos, &line, r);
        csv_row(&p, r);
    }
    free(r);
    if (p.sink.oom) {
        out->n = p.sink.base;
        snprintf(err, errlen, "out of memory");
        return false;
    }
    return true;
}
