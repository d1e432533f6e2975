/* fetch.h — calendar sources: files re-read when they change, URLs fetched with libcurl (ETag,
 * If-Modified-Since) every refresh_s, all on a worker thread; the merged wedding list is handed to
 * the loop thread. A failed fetch or parse keeps the source's last good calendar. */
#ifndef WEDPOOL_FETCH_H
#define WEDPOOL_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "calendar.h"

#define CALENDARS_MAX 16

enum calendar_format { CAL_FORMAT_ICS, CAL_FORMAT_CSV };

struct calendar_source {
    char name[CALENDAR_NAME_MAX];
    char source[1024];        /* a path, or an http(s):// URL */
    bool is_url;
    int format;               /* enum calendar_format; default from the extension (.csv), else ics */
    int refresh_s;            /* 300 */
    char zone[64];            /* floating times and CSV rows without a zone; "" = the global timezone */
};

/* "source=PATH|URL [format=ics|csv] [refresh_s=N] [timezone=ZONE]". false + err on bad input. */
bool calendar_source_parse(const char *name, const char *spec, struct calendar_source *out, char *err,
                           size_t errlen);

/* last_success and last_attempt are real Unix time, not the fake clock: they are what an alert
 * compares with the scraper's time(). */
struct calendar_status {
    char name[CALENDAR_NAME_MAX];
    time_t last_success;      /* 0 = never; a 304 Not Modified or an unchanged file counts */
    time_t last_attempt;
    char last_error[256];     /* "" after a success */
    size_t weddings;          /* in its last good calendar */
    unsigned long long failures; /* failed fetches or parses since start (kept across reloads) */
};

/* Starts the worker for these sources (copied). Weddings are kept for [now - 1 day,
 * now + horizon_days] of the clock (clock.h). updated(arg) runs on the loop thread whenever the
 * merged list changes. false + err if the worker cannot start. */
bool calendars_start(const struct calendar_source *src, int n, const char *default_zone, int horizon_days,
                     void (*updated)(void *arg), void *arg, char *err, size_t errlen);
/* A reload: the new set of sources (copied); every source is read again now. */
void calendars_reload(const struct calendar_source *src, int n, const char *default_zone);
void calendars_stop(void);
/* The merged list (loop thread; valid until the next updated() call). */
const struct wedding_list *calendars_weddings(void);
/* Status of each source, in configuration order; returns the count. */
int calendars_status(struct calendar_status *out, int max);

#endif
