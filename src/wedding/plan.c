/* plan.c — `wedpool plan`: the capacity plan hour by hour from the configuration, the calendars and
 * the forecast, without starting the proxy (see plan.h). Input, computation and the three writers
 * (text, JSON, SVG) are kept apart so the inputs can later come from [calendars] and [forecast]. */
#include "plan.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calendar.h"
#include "clock.h"
#include "config.h"
#include "context.h"
#include "fetch.h"
#include "forecast.h"
#include "readfile.h"

#define PLAN_DAYS_DEFAULT 3
#define PLAN_DAYS_MAX 62
#define PLAN_PREWARM_LEAD_S 1800        /* prewarm_lead_s of issue #9, until the config has it */
#define PLAN_SUPERUSER_RESERVED 3       /* PostgreSQL's superuser_reserved_connections default */
#define PLAN_CALENDAR_MAX_BYTES (64 << 20)

/* The command line. */
struct plan_options {
    const char *config;
    const char *from;             /* YYYY-MM-DD, NULL = today (local) */
    int days;
    const char *json, *svg;       /* output files, NULL = none */
    const char *zone;             /* NULL = the system's */
    int max_connections;          /* PostgreSQL's; 0 = not given */
    int superuser_reserved;
    struct calendar_source cals[CALENDARS_MAX];
    int ncals;
};

struct plan_pool {
    char name[WP_NAME_MAX];
    int base;                     /* ordinary load: max(min_pool_size, 1) */
    int ceiling;                  /* what the pool may open: max_pool_size */
};

/* Everything the computation reads; filled from the options and the configuration. */
struct plan_input {
    char zone[64];
    struct context_conf cc;       /* cc.zone points into zone */
    struct forecast_conf fc;
    struct calendar_source cals[CALENDARS_MAX];
    int ncals;
    struct plan_pool *pools;
    int npools;
    int max_connections;          /* 0 = unknown: only the pools' ceilings are checked */
    int superuser_reserved;
    int prewarm_lead_s;
    int from_y, from_m, from_d;   /* the first local date */
    int days;
    time_t from, to;              /* its local midnight, and the one days later */
};

struct plan_cell {
    int predicted;                /* the highest prediction within the hour */
    int warm;                     /* warm target at the hour's start */
    int cut;                      /* what the pool's ceiling cuts */
};

struct plan_hour {
    time_t t;
    struct local_time lt;
    int in_progress;              /* weddings overlapping [t, t + 1 h) */
    struct forecast_step step;    /* at the hour's peak of the whole demand */
    struct plan_cell *cells;      /* one per pool */
    int needed;                   /* max_connections needed: the pools' predictions + reserved */
    int pg_cut;                   /* what PostgreSQL's max_connections cuts after the pools' ceilings */
    int cut;
};

struct plan {
    struct plan_input in;
    struct wedding_list weddings;
    struct plan_hour *hours;
    int nhours;
    struct plan_cell *cells;
    int *bases, *peaks, *warm;    /* scratch, npools + 1: [0] is the whole demand */
    int capacity;                 /* what can be served at most: min(ceilings + reserved, max_connections) */
    int peak_needed;
    time_t peak_at;
    bool over;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: wedpool plan -c FILE [--from YYYY-MM-DD] [--days N] [--json FILE] [--svg FILE]\n"
               "                    [--calendar NAME=PATH]... [--timezone ZONE] [--max-connections N]\n"
               "                    [--superuser-reserved N]\n"
               "Prints, hour by hour, the weddings, the forecast multiplier, each pool's predicted connections\n"
               "and warm target, the PostgreSQL max_connections needed and what the ceilings cut.\n"
               "Exit status: 0 the plan fits, 3 it exceeds capacity, 2 usage error, 1 bad configuration.\n");
}

static bool parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || errno != 0 || v < lo || v > hi)
        return false;
    *out = (int)v;
    return true;
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* "NAME=PATH": a calendar file, its format from the extension (.csv, else iCalendar). */
static bool parse_calendar_opt(struct plan_options *o, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (eq == NULL || eq == arg || eq[1] == '\0' || (size_t)(eq - arg) >= CALENDAR_NAME_MAX ||
        strlen(eq + 1) >= sizeof(o->cals[0].source)) {
        fprintf(stderr, "wedpool plan: --calendar '%s': expected NAME=PATH\n", arg);
        return false;
    }
    if (o->ncals >= CALENDARS_MAX) {
        fprintf(stderr, "wedpool plan: more than %d calendars\n", CALENDARS_MAX);
        return false;
    }
    struct calendar_source *c = &o->cals[o->ncals++];
    memset(c, 0, sizeof(*c));
    snprintf(c->name, sizeof(c->name), "%.*s", (int)(eq - arg), arg);
    snprintf(c->source, sizeof(c->source), "%s", eq + 1);
    c->is_url = strncmp(c->source, "http://", 7) == 0 || strncmp(c->source, "https://", 8) == 0;
    c->format = has_suffix(c->source, ".csv") ? CAL_FORMAT_CSV : CAL_FORMAT_ICS;
    return true;
}

static bool parse_options(int argc, char **argv, struct plan_options *o)
{
    enum { OPT_FROM = 256, OPT_DAYS, OPT_JSON, OPT_SVG, OPT_CAL, OPT_TZ, OPT_MAXCONN, OPT_RESERVED };
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"from", required_argument, NULL, OPT_FROM},
        {"days", required_argument, NULL, OPT_DAYS},
        {"json", required_argument, NULL, OPT_JSON},
        {"svg", required_argument, NULL, OPT_SVG},
        {"calendar", required_argument, NULL, OPT_CAL},
        {"timezone", required_argument, NULL, OPT_TZ},
        {"max-connections", required_argument, NULL, OPT_MAXCONN},
        {"superuser-reserved", required_argument, NULL, OPT_RESERVED},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof(*o));
    o->days = PLAN_DAYS_DEFAULT;
    o->superuser_reserved = PLAN_SUPERUSER_RESERVED;
    optind = 0; /* glibc: start afresh, plan_main may run more than once in a process */
    opterr = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            o->config = optarg;
            break;
        case OPT_FROM: {
            int y, m, d;
            char tail;
            if (sscanf(optarg, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || m < 1 || m > 12 || d < 1 || d > 31) {
                fprintf(stderr, "wedpool plan: --from '%s': expected a date YYYY-MM-DD\n", optarg);
                return false;
            }
            o->from = optarg;
            break;
        }
        case OPT_DAYS:
            if (!parse_int(optarg, 1, PLAN_DAYS_MAX, &o->days)) {
                fprintf(stderr, "wedpool plan: --days '%s': expected 1 to %d\n", optarg, PLAN_DAYS_MAX);
                return false;
            }
            break;
        case OPT_JSON:
            o->json = optarg;
            break;
        case OPT_SVG:
            o->svg = optarg;
            break;
        case OPT_CAL:
            if (!parse_calendar_opt(o, optarg))
                return false;
            break;
        case OPT_TZ:
            if (!clock_zone_valid(optarg) || strlen(optarg) >= 64) {
                fprintf(stderr, "wedpool plan: --timezone '%s': not a zone of the system's zoneinfo\n", optarg);
                return false;
            }
            o->zone = optarg;
            break;
        case OPT_MAXCONN:
            if (!parse_int(optarg, 1, 262143, &o->max_connections)) {
                fprintf(stderr, "wedpool plan: --max-connections '%s': expected 1 to 262143\n", optarg);
                return false;
            }
            break;
        case OPT_RESERVED:
            if (!parse_int(optarg, 0, 262143, &o->superuser_reserved)) {
                fprintf(stderr, "wedpool plan: --superuser-reserved '%s': expected 0 or more\n", optarg);
                return false;
            }
            break;
        case 'h':
            usage(stdout);
            exit(PLAN_EXIT_OK);
        default:
            return false;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "wedpool plan: unexpected argument '%s'\n", argv[optind]);
        return false;
    }
    if (o->config == NULL) {
        fprintf(stderr, "wedpool plan: -c FILE is required\n");
        return false;
    }
    return true;
}

/* ---- the input ---- */

/* The pools, calendars and forecast from the configuration and the command line. When
 * struct wp_config gains its [calendars] sources, [forecast] windows and timezone, they are copied
 * here and the command-line calendars are added to them. */
static bool plan_input_init(struct plan_input *in, const struct plan_options *o, const struct wp_config *cfg)
{
    memset(in, 0, sizeof(*in));
    /* The config's timezone, ceremony hours, [forecast] and [calendars] (files only: the plan reads
     * no URLs); --timezone and --calendar on the command line take precedence. */
    snprintf(in->zone, sizeof(in->zone), "%s", o->zone != NULL ? o->zone : cfg->timezone);
    context_conf_defaults(&in->cc);
    in->cc.zone = in->zone;
    in->cc.ceremony_from_min = cfg->ceremony_from_min;
    in->cc.ceremony_to_min = cfg->ceremony_to_min;
    in->fc = cfg->forecast;
    if (o->ncals > 0) {
        memcpy(in->cals, o->cals, sizeof(o->cals[0]) * (size_t)o->ncals);
        in->ncals = o->ncals;
    } else {
        for (int i = 0; i < cfg->ncalendars; i++) {
            if (cfg->calendars[i].is_url) {
                fprintf(stderr, "wedpool plan: calendar %s is a URL; the plan reads files only (give a copy with "
                        "--calendar %s=PATH)\n", cfg->calendars[i].name, cfg->calendars[i].name);
                continue;
            }
            in->cals[in->ncals++] = cfg->calendars[i];
        }
    }
    in->max_connections = o->max_connections;
    in->superuser_reserved = o->superuser_reserved;
    in->prewarm_lead_s = cfg->prewarm_lead_s;
    in->days = o->days;

    in->npools = (int)cfg->ndbs;
    in->pools = calloc(cfg->ndbs > 0 ? cfg->ndbs : 1, sizeof(*in->pools));
    if (in->pools == NULL)
        return false;
    for (size_t i = 0; i < cfg->ndbs; i++) {
        struct plan_pool *p = &in->pools[i];
        snprintf(p->name, sizeof(p->name), "%s", cfg->dbs[i].name);
        int min = config_db_min_pool(cfg, &cfg->dbs[i]);
        p->base = cfg->forecast_base_connections > 0 ? cfg->forecast_base_connections : min > 1 ? min : 1;
        int max = config_db_max_pool(cfg, &cfg->dbs[i]);
        p->ceiling = cfg->scale_max_pool_size > 0 ? cfg->scale_max_pool_size : max; /* as far as the scaler grows */
        if (p->ceiling < max)
            p->ceiling = max;
    }

    struct local_time lt;
    if (o->from != NULL) {
        sscanf(o->from, "%d-%d-%d", &in->from_y, &in->from_m, &in->from_d);
        lt = (struct local_time){.year = in->from_y, .month = in->from_m, .mday = in->from_d};
    } else {
        context_local(clock_now(), in->zone, &lt);
    }
    in->from = context_day_start(&lt, 0, in->zone);
    in->to = context_day_start(&lt, in->days, in->zone);
    context_local(in->from, in->zone, &lt); /* normalised: --from 2026-02-31 is 2026-03-03 */
    in->from_y = lt.year;
    in->from_m = lt.month;
    in->from_d = lt.mday;
    return true;
}

static void warn_event(void *arg, const char *msg)
{
    (void)arg;
    fprintf(stderr, "wedpool plan: %s\n", msg);
}

/* Reads every calendar for the plan's days, with a day on either side for weddings that overlap. */
static bool load_calendars(const struct plan_input *in, struct wedding_list *out)
{
    for (int i = 0; i < in->ncals; i++) {
        const struct calendar_source *c = &in->cals[i];
        char err[512];
        if (c->is_url) {
            fprintf(stderr,
                    "wedpool plan: calendar '%s': %s is a URL; the plan reads files (save a copy and give its path)\n",
                    c->name, c->source);
            return false;
        }
        size_t len;
        char *text = read_whole_file(c->source, PLAN_CALENDAR_MAX_BYTES, &len, err, sizeof(err));
        if (text == NULL) {
            fprintf(stderr, "wedpool plan: calendar '%s': %s\n", c->name, err);
            return false;
        }
        const char *zone = c->zone[0] != '\0' ? c->zone : in->zone;
        time_t from = in->from - 86400, to = in->to + 86400;
        bool ok = c->format == CAL_FORMAT_CSV
                      ? calendar_parse_csv(text, len, c->name, zone, from, to, out, warn_event, NULL, err, sizeof(err))
                      : calendar_parse_ics(text, len, c->name, zone, from, to, out, warn_event, NULL, err, sizeof(err));
        free(text);
        if (!ok) {
            fprintf(stderr, "wedpool plan: calendar '%s' (%s): %s\n", c->name, c->source, err);
            return false;
        }
    }
    wedding_list_sort(out);
    return true;
}

/* ---- the computation ---- */

static bool plan_compute(struct plan *p)
{
    const struct plan_input *in = &p->in;
    p->nhours = (int)((in->to - in->from) / 3600);
    p->hours = calloc((size_t)p->nhours, sizeof(*p->hours));
    p->cells = calloc((size_t)p->nhours * (size_t)(in->npools > 0 ? in->npools : 1), sizeof(*p->cells));
    p->bases = calloc((size_t)in->npools + 1, sizeof(int));
    p->peaks = calloc((size_t)in->npools + 1, sizeof(int));
    p->warm = calloc((size_t)in->npools + 1, sizeof(int));
    if (p->hours == NULL || p->cells == NULL || p->bases == NULL || p->peaks == NULL || p->warm == NULL)
        return false;
    /* bases[0] is the whole demand (its peak gives the hour's multiplier and why), then each pool */
    int ceilings = in->superuser_reserved;
    for (int i = 0; i < in->npools; i++) {
        ceilings += in->pools[i].ceiling;
        p->bases[0] += in->pools[i].base;
        p->bases[i + 1] = in->pools[i].base;
    }
    p->capacity = in->max_connections > 0 && in->max_connections < ceilings ? in->max_connections : ceilings;
    for (int h = 0; h < p->nhours; h++) {
        struct plan_hour *hr = &p->hours[h];
        hr->t = in->from + (time_t)h * 3600;
        hr->cells = &p->cells[(size_t)h * (size_t)in->npools];
        context_local(hr->t, in->zone, &hr->lt);
        hr->in_progress = context_weddings_between(&p->weddings, hr->t, hr->t + 3600);
        forecast_warm_targets(&in->fc, &in->cc, &p->weddings, hr->t, 3599, p->bases, in->npools + 1, p->peaks, NULL,
                              &hr->step);
        forecast_warm_targets(&in->fc, &in->cc, &p->weddings, hr->t, in->prewarm_lead_s, p->bases + 1, in->npools,
                              p->warm, NULL, NULL);
        int served = 0;
        hr->needed = in->superuser_reserved;
        for (int i = 0; i < in->npools; i++) {
            struct plan_cell *c = &hr->cells[i];
            const struct plan_pool *pool = &in->pools[i];
            c->predicted = p->peaks[i + 1];
            c->warm = p->warm[i];
            c->cut = c->predicted > pool->ceiling ? c->predicted - pool->ceiling : 0;
            hr->needed += c->predicted;
            served += c->predicted - c->cut;
            hr->cut += c->cut;
        }
        if (in->max_connections > 0 && served + in->superuser_reserved > in->max_connections)
            hr->pg_cut = served + in->superuser_reserved - in->max_connections;
        hr->cut += hr->pg_cut;
        if (hr->cut > 0)
            p->over = true;
        if (hr->needed > p->peak_needed) {
            p->peak_needed = hr->needed;
            p->peak_at = hr->t;
        }
    }
    return true;
}

static void plan_free(struct plan *p)
{
    free(p->in.pools);
    free(p->hours);
    free(p->cells);
    free(p->bases);
    free(p->peaks);
    free(p->warm);
    wedding_list_free(&p->weddings);
}

/* ---- text ---- */

static const char *const wday_names[7] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};

/* "2026-06-13T14:00+01:00" */
static void format_local(const struct local_time *lt, char *buf, size_t n)
{
    long off = lt->utc_offset_s;
    char sign = off < 0 ? '-' : '+';
    off = off < 0 ? -off : off;
    snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d%c%02ld:%02ld", lt->year, lt->month, lt->mday, lt->hour, lt->min, sign,
             off / 3600, off / 60 % 60);
}

static void print_text(const struct plan *p, FILE *f)
{
    const struct plan_input *in = &p->in;
    fprintf(f, "wedpool capacity plan: %d day%s from %04d-%02d-%02d, time zone %s\n", in->days, in->days == 1 ? "" : "s",
            in->from_y, in->from_m, in->from_d, in->zone[0] != '\0' ? in->zone : "(system)");
    for (int i = 0; i < in->npools; i++)
        fprintf(f, "pool %s: ordinary load %d (forecast_base_connections, or max(min_pool_size, 1)), ceiling %d (scale_max_pool_size, or max_pool_size)\n",
                in->pools[i].name, in->pools[i].base, in->pools[i].ceiling);
    if (in->max_connections > 0)
        fprintf(f, "PostgreSQL: max_connections %d, superuser_reserved_connections %d\n", in->max_connections,
                in->superuser_reserved);
    else
        fprintf(f, "PostgreSQL: max_connections not given (--max-connections N), superuser_reserved_connections %d\n",
                in->superuser_reserved);
    fprintf(f, "%zu wedding%s:\n", p->weddings.n, p->weddings.n == 1 ? "" : "s");
    for (size_t i = 0; i < p->weddings.n; i++) {
        const struct wedding *w = &p->weddings.items[i];
        struct local_time a, b;
        context_local(w->start, in->zone, &a);
        context_local(w->end, in->zone, &b);
        fprintf(f, "  %s %04d-%02d-%02d %02d:%02d to %04d-%02d-%02d %02d:%02d, %d guests (%s)\n", w->name, a.year,
                a.month, a.mday, a.hour, a.min, b.year, b.month, b.mday, b.hour, b.min, w->guests, w->calendar);
    }
    fprintf(f, "\nper pool: peak predicted in the hour / warm target at its start (%d s ahead)\n", in->prewarm_lead_s);
    fprintf(f, "%-27s %4s %6s", "local time", "wed", "mult");
    for (int i = 0; i < in->npools; i++)
        fprintf(f, " %14.14s", in->pools[i].name);
    fprintf(f, " %7s %5s  %s\n", "pg need", "cut", "why");
    for (int h = 0; h < p->nhours; h++) {
        const struct plan_hour *hr = &p->hours[h];
        char when[40], cell[32];
        format_local(&hr->lt, when, sizeof(when));
        fprintf(f, "%s %-23s %4d %6.2f", wday_names[hr->lt.wday], when, hr->in_progress, hr->step.multiplier);
        for (int i = 0; i < in->npools; i++) {
            snprintf(cell, sizeof(cell), "%d/%d%s", hr->cells[i].predicted, hr->cells[i].warm,
                     hr->cells[i].cut > 0 ? "!" : "");
            fprintf(f, " %14s", cell);
        }
        fprintf(f, " %7d %5d  %s\n", hr->needed, hr->cut, hr->step.why);
    }
    char when[40];
    struct local_time lt;
    context_local(p->peak_at, in->zone, &lt);
    format_local(&lt, when, sizeof(when));
    fprintf(f, "\npeak: %s needs max_connections %d; capacity %d (%s)\n", when, p->peak_needed, p->capacity,
            in->max_connections > 0 ? "pool ceilings and max_connections" : "pool ceilings");
    if (!p->over) {
        fprintf(f, "the plan fits\n");
        return;
    }
    fprintf(f, "OVER CAPACITY ('!' marks a pool above its ceiling):\n");
    for (int h = 0; h < p->nhours; h++) {
        const struct plan_hour *hr = &p->hours[h];
        if (hr->cut == 0)
            continue;
        format_local(&hr->lt, when, sizeof(when));
        fprintf(f, "  %s: ", when);
        const char *sep = "";
        for (int i = 0; i < in->npools; i++) {
            if (hr->cells[i].cut > 0) {
                fprintf(f, "%s%s ceiling %d cuts %d", sep, in->pools[i].name, in->pools[i].ceiling, hr->cells[i].cut);
                sep = ", ";
            }
        }
        if (hr->pg_cut > 0)
            fprintf(f, "%smax_connections %d cuts %d", sep, in->max_connections, hr->pg_cut);
        fprintf(f, "\n");
    }
}

/* ---- JSON ---- */

static json_t *iso_json(time_t t)
{
    char buf[32];
    clock_format_iso(t, buf, sizeof(buf));
    return json_string(buf);
}

static json_t *plan_json(const struct plan *p)
{
    const struct plan_input *in = &p->in;
    char buf[64];
    json_t *root = json_object();
    snprintf(buf, sizeof(buf), "%04d-%02d-%02d", in->from_y, in->from_m, in->from_d);
    json_object_set_new(root, "from", json_string(buf));
    json_object_set_new(root, "days", json_integer(in->days));
    json_object_set_new(root, "timezone", json_string(in->zone));
    json_object_set_new(root, "max_connections", in->max_connections > 0 ? json_integer(in->max_connections) : json_null());
    json_object_set_new(root, "superuser_reserved_connections", json_integer(in->superuser_reserved));
    json_object_set_new(root, "prewarm_lead_s", json_integer(in->prewarm_lead_s));
    json_object_set_new(root, "capacity", json_integer(p->capacity));
    json_object_set_new(root, "peak_max_connections_needed", json_integer(p->peak_needed));
    json_object_set_new(root, "peak_at", iso_json(p->peak_at));
    json_object_set_new(root, "exceeds_capacity", json_boolean(p->over));

    json_t *pools = json_array();
    for (int i = 0; i < in->npools; i++)
        json_array_append_new(pools, json_pack("{s:s, s:i, s:i}", "name", in->pools[i].name, "base",
                                               in->pools[i].base, "ceiling", in->pools[i].ceiling));
    json_object_set_new(root, "pools", pools);

    json_t *weddings = json_array();
    for (size_t i = 0; i < p->weddings.n; i++) {
        const struct wedding *w = &p->weddings.items[i];
        json_t *o = json_pack("{s:s, s:i, s:i, s:s, s:s}", "name", w->name, "guests", w->guests, "vendors",
                              w->vendors, "calendar", w->calendar, "venue", w->venue);
        json_object_set_new(o, "start", iso_json(w->start));
        json_object_set_new(o, "end", iso_json(w->end));
        json_array_append_new(weddings, o);
    }
    json_object_set_new(root, "weddings", weddings);

    json_t *hours = json_array();
    for (int h = 0; h < p->nhours; h++) {
        const struct plan_hour *hr = &p->hours[h];
        json_t *o = json_object();
        json_object_set_new(o, "start", iso_json(hr->t));
        format_local(&hr->lt, buf, sizeof(buf));
        json_object_set_new(o, "local", json_string(buf));
        json_t *names = json_array();
        for (size_t i = 0; i < p->weddings.n; i++) {
            const struct wedding *w = &p->weddings.items[i];
            if (w->start < hr->t + 3600 && w->end > hr->t)
                json_array_append_new(names, json_string(w->name));
        }
        json_object_set_new(o, "weddings_in_progress", json_integer(hr->in_progress));
        json_object_set_new(o, "weddings", names);
        json_object_set_new(o, "multiplier", json_real(round(hr->step.multiplier * 1000) / 1000));
        json_object_set_new(o, "wedding_load", json_integer(hr->step.wedding_load));
        json_object_set_new(o, "why", json_string(hr->step.why));
        json_t *cells = json_array();
        for (int i = 0; i < in->npools; i++)
            json_array_append_new(cells, json_pack("{s:s, s:i, s:i, s:i, s:i}", "name", in->pools[i].name,
                                                   "predicted", hr->cells[i].predicted, "warm_target",
                                                   hr->cells[i].warm, "ceiling", in->pools[i].ceiling, "cut",
                                                   hr->cells[i].cut));
        json_object_set_new(o, "pools", cells);
        json_object_set_new(o, "max_connections_needed", json_integer(hr->needed));
        json_object_set_new(o, "postgres_cut", json_integer(hr->pg_cut));
        json_object_set_new(o, "cut", json_integer(hr->cut));
        json_array_append_new(hours, o);
    }
    json_object_set_new(root, "hours", hours);
    return root;
}

static bool write_json(const struct plan *p, const char *path)
{
    json_t *root = plan_json(p);
    int rc = root != NULL ? json_dump_file(root, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : -1;
    json_decref(root);
    if (rc != 0)
        fprintf(stderr, "wedpool plan: --json %s: cannot write\n", path);
    return rc == 0;
}

/* ---- SVG ---- */

static void xml_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default:
            if ((unsigned char)*s >= 0x20 || *s == '\t')
                fputc(*s, f); /* control characters are not allowed in XML 1.0 */
        }
    }
}

#define SVG_LEFT 60
#define SVG_RIGHT 150
#define SVG_TOP 40
#define SVG_PLOT_H 300
#define SVG_BOTTOM 50

struct svg_frame {
    time_t from;
    double px_per_s;
    double ymax;
};

static double svg_x(const struct svg_frame *fr, time_t t)
{
    return SVG_LEFT + (double)(t - fr->from) * fr->px_per_s;
}

static double svg_y(const struct svg_frame *fr, double v)
{
    return SVG_TOP + SVG_PLOT_H - v / fr->ymax * SVG_PLOT_H;
}

static void svg_weddings(const struct plan *p, FILE *f, const struct svg_frame *fr)
{
    for (size_t i = 0; i < p->weddings.n; i++) {
        const struct wedding *w = &p->weddings.items[i];
        time_t a = w->start > p->in.from ? w->start : p->in.from, b = w->end < p->in.to ? w->end : p->in.to;
        if (a >= b)
            continue;
        fprintf(f, "<g class=\"wedding\"><title>");
        xml_text(f, w->name);
        fprintf(f, ", %d guests</title>\n", w->guests);
        fprintf(f, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"#e8a0b4\" fill-opacity=\"0.3\"/>\n",
                svg_x(fr, a), SVG_TOP, svg_x(fr, b) - svg_x(fr, a), SVG_PLOT_H);
        fprintf(f, "<text x=\"%.1f\" y=\"%zu\" font-size=\"10\" fill=\"#803050\">", svg_x(fr, a) + 2,
                (size_t)SVG_TOP + 12 + (i % 4) * 12);
        xml_text(f, w->name);
        fprintf(f, "</text></g>\n");
    }
}

static void svg_axes(const struct plan *p, FILE *f, const struct svg_frame *fr, int width)
{
    for (int d = 0; d <= p->in.days; d++) {
        struct local_time lt = {.year = p->in.from_y, .month = p->in.from_m, .mday = p->in.from_d};
        time_t t = context_day_start(&lt, d, p->in.zone);
        context_local(t, p->in.zone, &lt);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#bbb\"/>\n", svg_x(fr, t), SVG_TOP,
                svg_x(fr, t), SVG_TOP + SVG_PLOT_H);
        if (d < p->in.days)
            fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"11\">%s %04d-%02d-%02d</text>\n", svg_x(fr, t) + 3,
                    SVG_TOP + SVG_PLOT_H + 16, wday_names[lt.wday], lt.year, lt.month, lt.mday);
    }
    for (int i = 0; i <= 4; i++) {
        double v = fr->ymax * i / 4;
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#eee\"/>\n", SVG_LEFT, svg_y(fr, v),
                width - SVG_RIGHT, svg_y(fr, v));
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%.0f</text>\n", SVG_LEFT - 4,
                svg_y(fr, v) + 4, v);
    }
}

static bool write_svg(const struct plan *p, const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "wedpool plan: --svg %s: cannot open: %s\n", path, strerror(errno));
        return false;
    }
    int plot_w = p->nhours * (p->nhours <= 96 ? 12 : 4);
    int width = SVG_LEFT + plot_w + SVG_RIGHT, height = SVG_TOP + SVG_PLOT_H + SVG_BOTTOM;
    double top = p->peak_needed > p->capacity ? p->peak_needed : p->capacity;
    struct svg_frame fr = {p->in.from, (double)plot_w / (double)(p->in.to - p->in.from), top > 8 ? top * 1.1 : 10};

    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"sans-serif\">\n", width, height, width, height);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%d\" y=\"20\" font-size=\"14\">wedpool capacity plan from %04d-%02d-%02d (%s): "
               "PostgreSQL connections needed vs capacity%s</text>\n", SVG_LEFT, p->in.from_y, p->in.from_m,
            p->in.from_d, p->in.zone[0] != '\0' ? p->in.zone : "system time", p->over ? " (OVER CAPACITY)" : "");
    svg_weddings(p, f, &fr);
    svg_axes(p, f, &fr, width);
    /* the demand as steps, one per hour; hours over capacity marked below the axis */
    fprintf(f, "<polyline class=\"demand\" fill=\"none\" stroke=\"#1f5fbf\" stroke-width=\"2\" points=\"");
    for (int h = 0; h < p->nhours; h++) {
        const struct plan_hour *hr = &p->hours[h];
        fprintf(f, "%.1f,%.1f %.1f,%.1f ", svg_x(&fr, hr->t), svg_y(&fr, hr->needed), svg_x(&fr, hr->t + 3600),
                svg_y(&fr, hr->needed));
    }
    fprintf(f, "\"/>\n");
    fprintf(f, "<line class=\"capacity\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#c0392b\" "
               "stroke-width=\"2\" stroke-dasharray=\"6 4\"/>\n", SVG_LEFT, svg_y(&fr, p->capacity), SVG_LEFT + plot_w,
            svg_y(&fr, p->capacity));
    for (int h = 0; h < p->nhours; h++) {
        const struct plan_hour *hr = &p->hours[h];
        if (hr->cut > 0)
            fprintf(f, "<rect class=\"over\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"4\" fill=\"#c0392b\"/>\n",
                    svg_x(&fr, hr->t), SVG_TOP + SVG_PLOT_H + 1, svg_x(&fr, hr->t + 3600) - svg_x(&fr, hr->t));
    }
    int lx = SVG_LEFT + plot_w + 10;
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" fill=\"#1f5fbf\">max_connections needed</text>\n", lx,
            SVG_TOP + 10);
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" fill=\"#c0392b\">capacity %d</text>\n", lx, SVG_TOP + 26,
            p->capacity);
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" fill=\"#803050\">weddings (shaded)</text>\n", lx,
            SVG_TOP + 42);
    fprintf(f, "</svg>\n");
    bool ok = !ferror(f);
    if (fclose(f) != 0)
        ok = false;
    if (!ok)
        fprintf(stderr, "wedpool plan: --svg %s: write error\n", path);
    return ok;
}

/* ---- the command ---- */

int plan_main(int argc, char **argv)
{
    struct plan_options o;
    if (!parse_options(argc, argv, &o)) {
        usage(stderr);
        return PLAN_EXIT_USAGE;
    }
    char err[1024];
    if (!clock_init_from_env(err, sizeof(err))) {
        fprintf(stderr, "wedpool plan: %s\n", err);
        return PLAN_EXIT_USAGE;
    }
    struct wp_config cfg;
    if (!config_load(o.config, NULL, &cfg, err, sizeof(err))) {
        fprintf(stderr, "wedpool plan: %s\n", err);
        return PLAN_EXIT_CONFIG;
    }
    struct plan p;
    memset(&p, 0, sizeof(p));
    bool ok = plan_input_init(&p.in, &o, &cfg);
    config_free(&cfg);
    if (!ok) {
        fprintf(stderr, "wedpool plan: out of memory\n");
        plan_free(&p);
        return PLAN_EXIT_CONFIG;
    }
    if (p.in.npools == 0) {
        fprintf(stderr, "wedpool plan: %s has no [databases]: nothing to plan\n", o.config);
        plan_free(&p);
        return PLAN_EXIT_CONFIG;
    }
    if (!load_calendars(&p.in, &p.weddings) || !plan_compute(&p)) {
        plan_free(&p);
        return PLAN_EXIT_CONFIG;
    }
    print_text(&p, stdout);
    fflush(stdout);
    ok = (o.json == NULL || write_json(&p, o.json)) && (o.svg == NULL || write_svg(&p, o.svg));
    bool over = p.over;
    plan_free(&p);
    if (!ok)
        return PLAN_EXIT_CONFIG;
    return over ? PLAN_EXIT_OVER : PLAN_EXIT_OK;
}
