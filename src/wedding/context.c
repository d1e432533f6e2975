/* context.c — the wedding context at an instant: weddings today, tomorrow and in progress, peak
 * season, ceremony hours and the seeds' criticality 1-5 (see context.h). Pure: reads the list. */
#include "context.h"

#include <string.h>

#include "clock.h"

void context_conf_defaults(struct context_conf *cc)
{
    cc->zone = "";
    cc->ceremony_from_min = 8 * 60;
    cc->ceremony_to_min = 22 * 60;
    cc->peak_from_month = 5;
    cc->peak_to_month = 10;
}

void context_local(time_t t, const char *zone, struct local_time *out)
{
    if (clock_local(t, zone, out))
        return;
    /* An unknown zone is refused when the configuration is read; here UTC keeps the answer defined. */
    clock_local(t, "UTC", out);
}

time_t context_day_start(const struct local_time *lt, int days_after, const char *zone)
{
    time_t t;
    /* mktime normalises mday past the month's end; the day starts at the earlier midnight reading */
    if (!clock_from_local(lt->year, lt->month, lt->mday + days_after, 0, 0, zone, &t))
        clock_from_local(lt->year, lt->month, lt->mday + days_after, 0, 0, "UTC", &t);
    return t;
}

bool context_month_in_season(const struct context_conf *cc, int month)
{
    if (cc->peak_from_month <= cc->peak_to_month)
        return month >= cc->peak_from_month && month <= cc->peak_to_month;
    return month >= cc->peak_from_month || month <= cc->peak_to_month; /* a season across New Year */
}

int context_weddings_between(const struct wedding_list *w, time_t from, time_t to)
{
    int n = 0;
    for (size_t i = 0; w != NULL && i < w->n; i++)
        if (w->items[i].start < to && w->items[i].end > from)
            n++;
    return n;
}

void wedding_context_compute(const struct wedding_list *w, time_t now, const struct context_conf *cc,
                             bool pool_incident, struct wedding_context *out)
{
    memset(out, 0, sizeof(*out));
    out->now = now;
    struct local_time lt;
    context_local(now, cc->zone, &lt);
    time_t today = context_day_start(&lt, 0, cc->zone);
    time_t tomorrow = context_day_start(&lt, 1, cc->zone);
    time_t after = context_day_start(&lt, 2, cc->zone);

    out->weddings_today = context_weddings_between(w, today, tomorrow);
    out->wedding_day = out->weddings_today > 0;
    out->wedding_tomorrow = context_weddings_between(w, tomorrow, after) > 0;
    for (size_t i = 0; w != NULL && i < w->n; i++) {
        const struct wedding *e = &w->items[i];
        if (e->start <= now && now < e->end) {
            out->active_weddings++;
            out->guests_affected += e->guests;
            out->vendors_affected += e->vendors;
        }
        if (e->start > now && e->start <= now + 24 * 3600)
            out->weddings_next_24h++;
    }
    out->peak_season = context_month_in_season(cc, lt.month);
    int minute = lt.hour * 60 + lt.min;
    out->ceremony_hours = minute >= cc->ceremony_from_min && minute < cc->ceremony_to_min;

    if (out->active_weddings > 0)
        out->criticality = pool_incident ? CRIT_EMERGENCY : CRIT_CRITICAL;
    else if (out->wedding_day)
        out->criticality = CRIT_HIGH;
    else if (out->wedding_tomorrow)
        out->criticality = CRIT_ELEVATED;
    else
        out->criticality = CRIT_ROUTINE;
}

const char *criticality_name(int criticality)
{
    static const char *const names[] = {"ROUTINE", "ELEVATED", "HIGH", "CRITICAL", "EMERGENCY"};
    if (criticality < CRIT_ROUTINE || criticality > CRIT_EMERGENCY)
        return "UNKNOWN";
    return names[criticality - 1];
}
