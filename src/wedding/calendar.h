/* calendar.h — wedding calendars: iCalendar (libical 3) and the internal CSV export read into one
 * list of weddings. Pure parsing over a buffer: fetching and files are fetch.c's. */
#ifndef WEDPOOL_CALENDAR_H
#define WEDPOOL_CALENDAR_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define WEDDING_NAME_MAX 128
#define CALENDAR_NAME_MAX 32

/* Defaults when an event does not say (documented in docs/calendar.md). */
#define WEDDING_DEFAULT_GUESTS 100
#define WEDDING_DEFAULT_VENDORS 8
#define WEDDING_DEFAULT_CRITICAL 3

/* Caps against hostile or runaway input (docs/calendar.md). */
#define CALENDAR_TEXT_MAX (32u << 20)   /* bytes of one calendar text; a longer one is refused */
#define CALENDAR_MAX_WEDDINGS 50000     /* weddings one text may add; the rest are dropped with a warn */
#define CALENDAR_MAX_INSTANCES 1000     /* instances of one recurring event within [from, to) */

struct wedding {
    char name[WEDDING_NAME_MAX];      /* SUMMARY, or the CSV name */
    char uid[WEDDING_NAME_MAX];       /* UID (with RECURRENCE-ID date for an instance), or "csv:LINE" */
    char calendar[CALENDAR_NAME_MAX]; /* the [calendars] entry it came from */
    char venue[WEDDING_NAME_MAX];     /* LOCATION, or the CSV venue */
    time_t start, end;                /* UTC; end > start (a missing DTEND: start + 1 day for an
                                       * all-day event, else start + 8 hours) */
    bool all_day;
    int guests;                       /* X-WEDPOOL-GUESTS */
    int vendors;                      /* X-WEDPOOL-VENDORS */
    int critical;                     /* X-WEDPOOL-CRITICAL, 1-5 */
};

struct wedding_list {
    struct wedding *items;
    size_t n, cap;
};

/* "upcoming", "in_progress" or "done" at now. */
const char *wedding_status(const struct wedding *w, time_t now);
void wedding_list_free(struct wedding_list *l);
bool wedding_list_add(struct wedding_list *l, const struct wedding *w);
/* Sorts by start time (then name), for display and for binary searches. */
void wedding_list_sort(struct wedding_list *l);
/* Appends a copy of every wedding of src. */
bool wedding_list_append(struct wedding_list *dst, const struct wedding_list *src);

/* Called once for each event or row skipped (malformed, unknown zone, ...), and for each value
 * replaced by its default (X-WEDPOOL-GUESTS:lots), with a message naming the source and the line or
 * UID. Control characters in it are the logger's to escape. */
typedef void (*calendar_warn_fn)(void *arg, const char *msg);

/* Reads an iCalendar text (len bytes, not necessarily NUL-terminated): VEVENTs with UTC, TZID
 * (IANA, or a Windows zone name as Outlook writes it) or floating times (in default_zone), all-day
 * dates; RRULE/RDATE/EXDATE/RECURRENCE-ID expanded for instances that overlap [from, to); folded
 * lines; STATUS:CANCELLED skipped. Adds the weddings to out (calendar = source). Returns false only
 * if the text is not an iCalendar at all (err says why); bad events are skipped with warn. */
bool calendar_parse_ics(const char *text, size_t len, const char *source, const char *default_zone, time_t from,
                        time_t to, struct wedding_list *out, calendar_warn_fn warn, void *arg, char *err,
                        size_t errlen);

/* Reads the internal CSV export: a header line "name,start,end,timezone,guests,vendors,venue"
 * (columns in that order; RFC 4180 quoting), ISO 8601 local times ("2026-06-13T14:00" or
 * "2026-06-13 14:00") in the row's timezone (or default_zone if empty). Weddings overlapping
 * [from, to) are added. Returns false only when the header is wrong; bad rows are skipped with warn
 * naming the line number. */
bool calendar_parse_csv(const char *text, size_t len, const char *source, const char *default_zone, time_t from,
                        time_t to, struct wedding_list *out, calendar_warn_fn warn, void *arg, char *err,
                        size_t errlen);

/* The IANA zone for a Windows zone name ("GMT Standard Time" -> "Europe/London"), from the CLDR
 * windowsZones table (territory 001); NULL if unknown. */
const char *calendar_windows_zone(const char *windows_name);

#endif
