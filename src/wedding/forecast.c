/* forecast.c — predicted load from the wedding calendar: traffic windows, the wedding-day floor,
 * the peak-season factor and each wedding's own load, every number with its reason in words.
 * docs/forecast.md writes the formula down with a worked example. Pure: no clock, no I/O. */
#include "forecast.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"

#define DAY_BIT(wday) (1u << (wday))
#define WEEKEND_DAYS (DAY_BIT(5) | DAY_BIT(6) | DAY_BIT(0))
#define MULTIPLIER_MAX 1000.0
/* base * multiplier is rounded up, but 10 * 1.2 must stay 12, not 12.000000000000002 -> 13 */
#define CEIL_SLACK 1e-9

static const char *const day_names[7] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

static void add_window(struct forecast_conf *fc, const char *name, unsigned days, int from, int to, double mult)
{
    struct forecast_window *w = &fc->windows[fc->nwindows++];
    memset(w, 0, sizeof(*w));
    snprintf(w->name, sizeof(w->name), "%s", name);
    w->days = days;
    w->from_min = from;
    w->to_min = to;
    w->multiplier = mult;
}

void forecast_conf_defaults(struct forecast_conf *fc)
{
    memset(fc, 0, sizeof(*fc));
    add_window(fc, "friday_evening", DAY_BIT(5), 17 * 60, 24 * 60, 2);
    add_window(fc, "saturday_morning", DAY_BIT(6), 8 * 60, 16 * 60, 5);
    add_window(fc, "saturday_evening", DAY_BIT(6), 16 * 60, 24 * 60, 10);
    add_window(fc, "sunday_recovery", DAY_BIT(0), 0, 24 * 60, 3);
    fc->custom = false;
    fc->wedding_day_multiplier = 3;
    fc->peak_season_factor = 1.2;
    fc->guests_per_connection = 25;
    fc->wedding_lead_s = 1800;
}

/* ---- [forecast] window lines ---- */

static int day_index(const char *s, size_t n)
{
    for (int i = 0; i < 7; i++)
        if (n == 3 && strncasecmp(s, day_names[i], 3) == 0)
            return i;
    return -1;
}

/* "mon,tue", "fri-sun" (a range may wrap: "sat-mon"), "all". */
static bool parse_days(const char *v, unsigned *out)
{
    unsigned days = 0;
    const char *p = v;
    if (strcasecmp(v, "all") == 0) {
        *out = 0x7f;
        return true;
    }
    while (*p) {
        const char *item = p;
        while (*p && *p != ',')
            p++;
        size_t n = (size_t)(p - item);
        const char *dash = memchr(item, '-', n);
        if (dash == NULL) {
            int d = day_index(item, n);
            if (d < 0)
                return false;
            days |= DAY_BIT(d);
        } else {
            int a = day_index(item, (size_t)(dash - item)), b = day_index(dash + 1, (size_t)(p - dash - 1));
            if (a < 0 || b < 0)
                return false;
            for (int d = a;; d = (d + 1) % 7) {
                days |= DAY_BIT(d);
                if (d == b)
                    break;
            }
        }
        if (*p == ',') {
            p++;
            if (*p == '\0')
                return false;
        }
    }
    if (days == 0)
        return false;
    *out = days;
    return true;
}

/* "HH:MM" or "H:MM", 00:00 to 24:00. */
static bool parse_hhmm(const char *v, int *out)
{
    int h = 0, m = 0, i = 0;
    if (!isdigit((unsigned char)v[0]))
        return false;
    while (isdigit((unsigned char)v[i]) && i < 2)
        h = h * 10 + (v[i++] - '0');
    if (v[i] != ':' || !isdigit((unsigned char)v[i + 1]) || !isdigit((unsigned char)v[i + 2]) || v[i + 3] != '\0')
        return false;
    m = (v[i + 1] - '0') * 10 + (v[i + 2] - '0');
    if (m > 59 || h > 24 || (h == 24 && m != 0))
        return false;
    *out = h * 60 + m;
    return true;
}

bool forecast_parse_window(struct forecast_conf *fc, const char *name, const char *spec, char *err, size_t errlen)
{
    struct forecast_window w = {0};
    bool have_days = false, have_from = false, have_to = false, have_mult = false;
    if (name[0] == '\0' || strlen(name) >= sizeof(w.name)) {
        snprintf(err, errlen, "forecast window '%s': the name must be 1 to %zu characters", name, sizeof(w.name) - 1);
        return false;
    }
    snprintf(w.name, sizeof(w.name), "%s", name);
    char buf[512];
    if (strlen(spec) >= sizeof(buf)) {
        snprintf(err, errlen, "forecast window '%s': the line is too long", name);
        return false;
    }
    snprintf(buf, sizeof(buf), "%s", spec);
    char *save = NULL;
    for (char *tok = strtok_r(buf, " \t", &save); tok != NULL; tok = strtok_r(NULL, " \t", &save)) {
        char *eq = strchr(tok, '=');
        if (eq == NULL) {
            snprintf(err, errlen, "forecast window '%s': '%s' is not key=value", name, tok);
            return false;
        }
        *eq = '\0';
        const char *key = tok, *v = eq + 1;
        if (strcmp(key, "days") == 0) {
            if (!parse_days(v, &w.days)) {
                snprintf(err, errlen,
                         "forecast window '%s': key 'days': '%s' is not a list of days (mon,...,sun, ranges such as "
                         "fri-sun, or all)",
                         name, v);
                return false;
            }
            have_days = true;
        } else if (strcmp(key, "from") == 0 || strcmp(key, "to") == 0) {
            int *dst = key[0] == 'f' ? &w.from_min : &w.to_min;
            if (!parse_hhmm(v, dst)) {
                snprintf(err, errlen, "forecast window '%s': key '%s': '%s' is not a time HH:MM (00:00 to 24:00)",
                         name, key, v);
                return false;
            }
            *(key[0] == 'f' ? &have_from : &have_to) = true;
        } else if (strcmp(key, "multiplier") == 0) {
            char *end;
            w.multiplier = strtod(v, &end);
            if (end == v || *end != '\0' || !isfinite(w.multiplier) || !(w.multiplier > 0) ||
                w.multiplier > MULTIPLIER_MAX) {
                snprintf(err, errlen, "forecast window '%s': key 'multiplier': '%s' is not a number in (0, %g]", name,
                         v, MULTIPLIER_MAX);
                return false;
            }
            have_mult = true;
        } else if (strcmp(key, "always") == 0) {
            if (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0) {
                snprintf(err, errlen, "forecast window '%s': key 'always': '%s' is not yes or no", name, v);
                return false;
            }
            w.always = v[0] == 'y';
        } else {
            snprintf(err, errlen,
                     "forecast window '%s': unknown key '%s' (expected days, from, to, multiplier, always)", name, key);
            return false;
        }
    }
    const char *missing = !have_days ? "days" : !have_from ? "from" : !have_to ? "to" : !have_mult ? "multiplier" : NULL;
    if (missing != NULL) {
        snprintf(err, errlen, "forecast window '%s': key '%s' is missing", name, missing);
        return false;
    }
    if (w.from_min >= w.to_min) {
        snprintf(err, errlen,
                 "forecast window '%s': key 'to': %02d:%02d is not after from=%02d:%02d (split a window across "
                 "midnight in two)",
                 name, w.to_min / 60, w.to_min % 60, w.from_min / 60, w.from_min % 60);
        return false;
    }
    if (!fc->custom) {
        fc->nwindows = 0; /* the first [forecast] line replaces the built-in windows */
        fc->custom = true;
    }
    for (int i = 0; i < fc->nwindows; i++) {
        if (strcmp(fc->windows[i].name, name) == 0) {
            snprintf(err, errlen, "forecast window '%s': defined twice", name);
            return false;
        }
    }
    if (fc->nwindows >= FORECAST_MAX_WINDOWS) {
        snprintf(err, errlen, "forecast window '%s': more than %d windows", name, FORECAST_MAX_WINDOWS);
        return false;
    }
    fc->windows[fc->nwindows++] = w;
    return true;
}

/* ---- the forecast at an instant ---- */

/* Appends to a why text; a text that no longer fits ends with "...". */
struct why {
    char *buf;
    size_t len, cap;
};

__attribute__((format(printf, 2, 3))) static void why_add(struct why *y, const char *fmt, ...)
{
    if (y->len + 1 >= y->cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(y->buf + y->len, y->cap - y->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= y->cap - y->len) {
        y->len = y->cap - 1;
        if (y->cap >= 4)
            memcpy(y->buf + y->cap - 4, "...", 4);
        return;
    }
    y->len += (size_t)n;
}

static const char *plural(int n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

static int wedding_connections(const struct forecast_conf *fc, int guests)
{
    int per = fc->guests_per_connection > 0 ? fc->guests_per_connection : 1;
    return guests > 0 ? (guests + per - 1) / per : 0;
}

void forecast_at(const struct forecast_conf *fc, const struct context_conf *cc, const struct wedding_list *w,
                 time_t t, struct forecast_step *out)
{
    memset(out, 0, sizeof(*out));
    out->t = t;
    struct local_time lt;
    context_local(t, cc->zone, &lt);
    int minute = lt.hour * 60 + lt.min;
    int today = context_weddings_between(w, context_day_start(&lt, 0, cc->zone), context_day_start(&lt, 1, cc->zone));
    /* The span whose weddings switch a window on: Friday 00:00 to Monday 00:00 around a weekend
     * day, the local day itself otherwise. */
    bool weekend = (DAY_BIT(lt.wday) & WEEKEND_DAYS) != 0;
    int span = today;
    if (weekend) {
        int back = lt.wday == 5 ? 0 : lt.wday == 6 ? 1 : 2;
        span = context_weddings_between(w, context_day_start(&lt, -back, cc->zone),
                                        context_day_start(&lt, 3 - back, cc->zone));
    }
    const char *span_word = weekend ? "weekend" : "day";

    /* Candidates for the multiplier: windows that apply, and the wedding-day floor. */
    const struct forecast_window *best = NULL;
    double m = 1.0;
    for (int i = 0; i < fc->nwindows; i++) {
        const struct forecast_window *fw = &fc->windows[i];
        if (!(fw->days & DAY_BIT(lt.wday)) || minute < fw->from_min || minute >= fw->to_min)
            continue;
        if (!fw->always && span == 0)
            continue;
        if (fw->multiplier > m) {
            m = fw->multiplier;
            best = fw;
        }
    }
    bool floor_wins = today > 0 && fc->wedding_day_multiplier > m;
    if (floor_wins)
        m = fc->wedding_day_multiplier;

    struct why y = {out->why, 0, sizeof(out->why)};
    const char *sep = "";
    if (floor_wins) {
        why_add(&y, "wedding day x%g (%d %s today)", m, today, plural(today, "wedding", "weddings"));
        sep = "; ";
    } else if (best != NULL) {
        if (best->always)
            why_add(&y, "%s x%g (always)", best->name, best->multiplier);
        else
            why_add(&y, "%s x%g (%s with %d %s)", best->name, best->multiplier, span_word, span,
                    plural(span, "wedding", "weddings"));
        sep = "; ";
    }
    /* The losers and the windows switched off, so the reader sees what was considered. */
    for (int i = 0; i < fc->nwindows; i++) {
        const struct forecast_window *fw = &fc->windows[i];
        if (fw == best || !(fw->days & DAY_BIT(lt.wday)) || minute < fw->from_min || minute >= fw->to_min)
            continue;
        if (!fw->always && span == 0)
            why_add(&y, "%s%s off (%s without weddings)", sep, fw->name, span_word);
        else
            why_add(&y, "%s%s x%g lower", sep, fw->name, fw->multiplier);
        sep = "; ";
    }
    if (today > 0 && !floor_wins) {
        why_add(&y, "%swedding day x%g lower", sep, fc->wedding_day_multiplier);
        sep = "; ";
    }
    if (best == NULL && !floor_wins) {
        why_add(&y, "%sno window or wedding day: x1", sep);
        sep = "; ";
    }
    if (context_month_in_season(cc, lt.month) && fc->peak_season_factor > 0) {
        m *= fc->peak_season_factor;
        why_add(&y, "%speak season x%g", sep, fc->peak_season_factor);
    }
    if (m < 1.0)
        m = 1.0; /* a peak factor below 1 never predicts less than the ordinary load */
    out->multiplier = m;

    /* Each wedding's own load, from wedding_lead_s before it starts to as long after it ends. */
    int guests = 0;
    for (size_t i = 0; w != NULL && i < w->n; i++) {
        const struct wedding *e = &w->items[i];
        if (e->start - fc->wedding_lead_s <= t && t < e->end + fc->wedding_lead_s) {
            out->weddings++;
            guests += e->guests > 0 ? e->guests : 0;
            out->wedding_load += wedding_connections(fc, e->guests);
        }
    }
    if (out->weddings > 0) {
        why_add(&y, "; %d %s (", out->weddings, plural(out->weddings, "wedding", "weddings"));
        const char *comma = "";
        for (size_t i = 0; w != NULL && i < w->n; i++) {
            const struct wedding *e = &w->items[i];
            if (e->start - fc->wedding_lead_s <= t && t < e->end + fc->wedding_lead_s) {
                why_add(&y, "%s%s", comma, e->name);
                comma = ", ";
            }
        }
        why_add(&y, ") %d guests: +%d", guests, out->wedding_load);
    }
}

int forecast_connections(const struct forecast_step *st, int base)
{
    if (base < 0)
        base = 0;
    return (int)ceil((double)base * st->multiplier - CEIL_SLACK) + st->wedding_load;
}

/* Keeps the highest prediction of each base, the earliest instant on a tie. */
struct peak_search {
    const struct forecast_conf *fc;
    const struct context_conf *cc;
    const struct wedding_list *w;
    time_t from, to;
    const int *bases;
    int n;
    int *best;                    /* per base */
    time_t best_at;               /* of bases[0] */
    struct forecast_step best_step;
};

static void consider(struct peak_search *ps, time_t t)
{
    if (t < ps->from || t > ps->to)
        return;
    struct forecast_step st;
    forecast_at(ps->fc, ps->cc, ps->w, t, &st);
    for (int i = 0; i < ps->n; i++) {
        int v = forecast_connections(&st, ps->bases[i]);
        bool first_better = i == 0 && (v > ps->best[0] || (v == ps->best[0] && t < ps->best_at));
        if (v > ps->best[i])
            ps->best[i] = v;
        if (first_better) {
            ps->best_at = t;
            ps->best_step = st;
        }
    }
}

void forecast_warm_targets(const struct forecast_conf *fc, const struct context_conf *cc,
                           const struct wedding_list *w, time_t t, int lead_s, const int *bases, int n, int *out,
                           time_t *peak_at, struct forecast_step *peak)
{
    if (lead_s < 0)
        lead_s = 0;
    for (int i = 0; i < n; i++)
        out[i] = -1;
    struct peak_search ps = {.fc = fc, .cc = cc, .w = w, .from = t, .to = t + lead_s, .bases = bases, .n = n,
                             .best = out};
    for (time_t s = t; s <= t + lead_s; s += 60)
        consider(&ps, s);
    /* The prediction is a step function that rises only where a window opens, a local day begins
     * (wedding-day floor, weekend, season) or a wedding's load begins: look at each exactly. */
    struct local_time lt;
    context_local(t, cc->zone, &lt);
    for (int d = 0;; d++) {
        time_t day = context_day_start(&lt, d, cc->zone);
        if (day > t + lead_s)
            break;
        consider(&ps, day);
        for (int i = 0; i < fc->nwindows; i++) {
            time_t open;
            const struct forecast_window *fw = &fc->windows[i];
            if (clock_from_local(lt.year, lt.month, lt.mday + d, fw->from_min / 60, fw->from_min % 60, cc->zone,
                                 &open))
                consider(&ps, open);
        }
    }
    for (size_t i = 0; w != NULL && i < w->n; i++)
        consider(&ps, w->items[i].start - fc->wedding_lead_s);
    if (peak_at != NULL)
        *peak_at = ps.best_at;
    if (peak != NULL)
        *peak = ps.best_step;
}

int forecast_warm_target(const struct forecast_conf *fc, const struct context_conf *cc,
                         const struct wedding_list *w, time_t t, int lead_s, int base, time_t *peak_at,
                         struct forecast_step *peak)
{
    int best;
    forecast_warm_targets(fc, cc, w, t, lead_s, &base, 1, &best, peak_at, peak);
    return best;
}
