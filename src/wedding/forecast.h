/* forecast.h — predicted load from the calendar: traffic windows (seed 004: Friday evening 2x,
 * Saturday morning 5x, Saturday evening 10x, Sunday recovery 3x), the wedding-day floor (seed 002:
 * 3x), the peak-season factor, and each wedding's own load by its guests. Pure; every number comes
 * with the reason for it (docs/forecast.md writes the formula down). */
#ifndef WEDPOOL_FORECAST_H
#define WEDPOOL_FORECAST_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "calendar.h"
#include "context.h"

#define FORECAST_MAX_WINDOWS 32
#define FORECAST_WHY_MAX 320

struct forecast_window {
    char name[32];
    unsigned days;            /* bit 0 = Sunday ... bit 6 = Saturday */
    int from_min, to_min;     /* local minutes of the day, [from, to); to may be 1440 ("24:00") */
    double multiplier;
    bool always;              /* applies even on weekends without weddings */
};

struct forecast_conf {
    struct forecast_window windows[FORECAST_MAX_WINDOWS];
    int nwindows;
    bool custom;                   /* a [forecast] section replaced the built-in windows */
    double wedding_day_multiplier; /* floor on a local day with a wedding (seed 002: 3) */
    double peak_season_factor;     /* applied May-October (context_conf's months): 1.2 */
    int guests_per_connection;     /* a wedding in progress adds guests / this connections: 25 */
    int wedding_lead_s;            /* its load starts this long before it and ends as long after: 1800 */
};

/* The four windows of seed 004, wedding_day_multiplier 3, peak 1.2, 25 guests, 1800 s. */
void forecast_conf_defaults(struct forecast_conf *fc);
/* "days=mon,...,sun from=HH:MM to=HH:MM multiplier=X [always=yes]". The first call on a conf with
 * the built-in windows replaces them all. false + err on bad input. */
bool forecast_parse_window(struct forecast_conf *fc, const char *name, const char *spec, char *err, size_t errlen);

struct forecast_step {
    time_t t;
    double multiplier;        /* windows / wedding-day floor, times the peak-season factor; >= 1 */
    int wedding_load;         /* connections for the weddings around t */
    int weddings;             /* weddings whose load counts at t */
    char why[FORECAST_WHY_MAX]; /* "saturday_evening x10 (weekend with 3 weddings); peak season x1.2; 2 weddings, 450 guests: +18" */
};

/* The forecast at instant t. */
void forecast_at(const struct forecast_conf *fc, const struct context_conf *cc, const struct wedding_list *w,
                 time_t t, struct forecast_step *out);
/* Predicted concurrent server connections of a pool whose ordinary load is base:
 * ceil(base * multiplier) + wedding_load. */
int forecast_connections(const struct forecast_step *st, int base);
/* The largest prediction over [t, t + lead_s] in 60 s steps (what to have warm at t), and when it
 * falls (*peak_at, may be NULL) and its step (may be NULL). */
int forecast_warm_target(const struct forecast_conf *fc, const struct context_conf *cc,
                         const struct wedding_list *w, time_t t, int lead_s, int base, time_t *peak_at,
                         struct forecast_step *peak);
/* The same for n bases at once (each instant evaluated once): out[i] is bases[i]'s target;
 * *peak_at and *peak (may be NULL) are those of bases[0]. */
void forecast_warm_targets(const struct forecast_conf *fc, const struct context_conf *cc,
                           const struct wedding_list *w, time_t t, int lead_s, const int *bases, int n, int *out,
                           time_t *peak_at, struct forecast_step *peak);

#endif
