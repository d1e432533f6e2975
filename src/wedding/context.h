/* context.h — the wedding context at an instant: what is on now, today and tomorrow, and the
 * criticality the seeds define (1 ROUTINE no weddings, 2 ELEVATED wedding tomorrow, 3 HIGH wedding
 * today, 4 CRITICAL wedding in progress, 5 EMERGENCY wedding in progress and a pool incident). Pure. */
#ifndef WEDPOOL_CONTEXT_H
#define WEDPOOL_CONTEXT_H

#include <stdbool.h>
#include <time.h>

#include "calendar.h"

enum criticality {
    CRIT_ROUTINE = 1,
    CRIT_ELEVATED = 2,
    CRIT_HIGH = 3,
    CRIT_CRITICAL = 4,
    CRIT_EMERGENCY = 5,
};

struct context_conf {
    const char *zone;         /* IANA zone of local dates and ceremony hours ("" = system) */
    int ceremony_from_min;    /* 08:00 = 480 */
    int ceremony_to_min;      /* 22:00 = 1320 */
    int peak_from_month;      /* May = 5 */
    int peak_to_month;        /* October = 10 */
};

struct wedding_context {
    time_t now;
    bool wedding_day;         /* a wedding overlaps today's local date */
    bool wedding_tomorrow;    /* ... tomorrow's */
    int active_weddings;      /* in progress now: start <= now < end */
    int weddings_today;
    int weddings_next_24h;    /* starting within the next 24 hours */
    int guests_affected;      /* guests of the weddings in progress */
    int vendors_affected;
    bool peak_season;
    bool ceremony_hours;
    int criticality;          /* enum criticality */
};

void context_conf_defaults(struct context_conf *cc);
/* pool_incident: a pool is in trouble (exhausted, shedding, backend down): raises an active
 * wedding's CRITICAL to EMERGENCY. */
void wedding_context_compute(const struct wedding_list *w, time_t now, const struct context_conf *cc,
                             bool pool_incident, struct wedding_context *out);
const char *criticality_name(int criticality); /* "ROUTINE" ... "EMERGENCY" */

/* Helpers shared with the forecast and the plan (local dates in cc->zone). */
struct local_time;
/* Local time of t in zone; UTC if the zone is unknown (the configuration refuses unknown zones). */
void context_local(time_t t, const char *zone, struct local_time *out);
/* The instant local midnight begins days_after days after lt's date (0 = lt's own date). */
time_t context_day_start(const struct local_time *lt, int days_after, const char *zone);
/* true if month (1-12) is in [peak_from_month, peak_to_month], inclusive; wraps past December. */
bool context_month_in_season(const struct context_conf *cc, int month);
/* How many weddings overlap [from, to). */
int context_weddings_between(const struct wedding_list *w, time_t from, time_t to);

#endif
