/* report.c — the text table, the JSON document and the SVG plot of a run (see report.h). */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#ifndef WEDPOOL_VERSION
#define WEDPOOL_VERSION "dev"
#endif

void errtab_add(struct errtab *t, const char *code, const char *msg)
{
    int i = 0;
    while (i < t->n && strcmp(t->e[i].code, code) != 0)
        i++;
    if (i == t->n) {
        if (t->n == ERR_MAX_CODES) {
            i = ERR_MAX_CODES - 1; /* the table is full: the last row takes the rest */
        } else {
            t->n++;
            snprintf(t->e[i].code, sizeof(t->e[i].code), "%s", code);
            snprintf(t->e[i].msg, sizeof(t->e[i].msg), "%s", msg ? msg : "");
        }
    }
    t->e[i].count++;
}

uint64_t errtab_total(const struct errtab *t)
{
    uint64_t n = 0;
    for (int i = 0; i < t->n; i++)
        n += t->e[i].count;
    return n;
}

void lane_tick(struct lane_result *l, double t_s)
{
    struct series *s = &l->series;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        struct point *p = realloc(s->p, cap * sizeof(*p));
        if (p == NULL)
            return; /* the plot loses a second; the totals do not */
        s->p = p;
        s->cap = cap;
    }
    struct point *p = &s->p[s->n++];
    p->t_s = t_s;
    p->tx = l->interval.total;
    p->errors = l->interval_errors;
    p->p50_ms = (double)hist_percentile(&l->interval, 50) / 1000.0;
    p->p99_ms = (double)hist_percentile(&l->interval, 99) / 1000.0;
    hist_init(&l->interval);
    l->interval_errors = 0;
}

void lane_free(struct lane_result *l)
{
    free(l->series.p);
    l->series.p = NULL;
    l->series.n = l->series.cap = 0;
}

static const char *mode_text(const char *mode)
{
    if (strcmp(mode, "closed") == 0)
        return "closed loop";
    if (strcmp(mode, "open") == 0)
        return "open loop";
    if (strcmp(mode, "idle") == 0)
        return "idle clients";
    return "logins only";
}

static double ms(uint64_t us)
{
    return (double)us / 1000.0;
}

static double per_s(uint64_t n, double s)
{
    return s > 0 ? (double)n / s : 0.0;
}

static uint64_t tx_errors(const struct lane_result *l)
{
    return errtab_total(&l->tx_errors);
}

static const struct acq_quantiles *acq_lane(const struct acq_result *a, const char *name)
{
    for (int i = 0; i < a->nlanes; i++)
        if (strcmp(a->lanes[i].lane, name) == 0)
            return &a->lanes[i];
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* text */

static void text_logins(FILE *out, const struct run_result *r)
{
    const struct lane_result *t = &r->total;
    fprintf(out, "\nlogins: %u of %u clients logged in within %.2f s (%.0f logins/s; bench CPU %.2f s)%s\n",
            r->connected, t->clients, r->connect_elapsed_s, per_s(r->connected, r->connect_elapsed_s),
            r->connect_cpu_s, r->connect_capped ? "; the connect phase's cap ended it" : "");
    fprintf(out, "%-14s %8s %9s %8s %8s %10s %9s %9s\n", "lane", "clients", "logins", "failed", "reconn",
            "logins/s", "p50 ms", "p99 ms");
    for (int i = 0; i <= r->nlanes; i++) {
        const struct lane_result *l = i < r->nlanes ? &r->lanes[i] : t;
        fprintf(out, "%-14s %8u %9llu %8llu %8llu %10.1f %9.3f %9.3f\n", l->name, l->clients,
                (unsigned long long)l->logins_ok, (unsigned long long)errtab_total(&l->login_errors),
                (unsigned long long)l->reconnects, per_s(l->logins_initial, r->connect_elapsed_s),
                ms(hist_percentile(&l->login_latency, 50)), ms(hist_percentile(&l->login_latency, 99)));
    }
}

static void text_transactions(FILE *out, const struct run_result *r)
{
    const struct bench_args *a = r->args;
    if (a->rate > 0)
        fprintf(out, "\ntransactions: open loop, %.1f tx/s offered (Poisson), %.2f s", a->rate, r->workload_s);
    else
        fprintf(out, "\ntransactions: closed loop%s, %.2f s", a->think_ms > 0 ? " with think time" : "",
                r->workload_s);
    fprintf(out, " (+%.2f s drain)\n", r->drain_s);
    fprintf(out, "%-14s %8s %10s %8s %7s %10s %9s %9s %9s %9s %9s\n", "lane", "clients", "completed", "errors",
            "err %", "tx/s", "p50 ms", "p95 ms", "p99 ms", "p99.9 ms", "max ms");
    for (int i = 0; i <= r->nlanes; i++) {
        const struct lane_result *l = i < r->nlanes ? &r->lanes[i] : &r->total;
        uint64_t errs = tx_errors(l), done = l->tx_ok + errs;
        const struct hist *h = &l->latency;
        fprintf(out, "%-14s %8u %10llu %8llu %7.2f %10.1f %9.3f %9.3f %9.3f %9.3f %9.3f\n", l->name, l->clients,
                (unsigned long long)l->tx_ok, (unsigned long long)errs,
                done ? 100.0 * (double)errs / (double)done : 0.0,
                per_s(l->tx_in_window, r->workload_s), ms(hist_percentile(h, 50)), ms(hist_percentile(h, 95)),
                ms(hist_percentile(h, 99)), ms(hist_percentile(h, 99.9)), ms(h->max_us));
    }
    if (r->total.unfinished || r->queued_at_end || r->max_queued || r->dropped)
        fprintf(out,
                "in flight at the end: %llu; open loop: %llu queued at the end, at most %llu queued, %llu dropped\n",
                (unsigned long long)r->total.unfinished, (unsigned long long)r->queued_at_end,
                (unsigned long long)r->max_queued, (unsigned long long)r->dropped);
}

static void text_errors(FILE *out, const struct run_result *r)
{
    int shown = 0;
    for (int kind = 0; kind < 2; kind++)
        for (int i = 0; i < r->nlanes; i++) {
            const struct errtab *t = kind == 0 ? &r->lanes[i].login_errors : &r->lanes[i].tx_errors;
            for (int k = 0; k < t->n; k++) {
                if (!shown++)
                    fprintf(out, "\nerrors by SQLSTATE:\n");
                fprintf(out, "  %-6s %-14s %s %8llu  %s\n", kind == 0 ? "login" : "tx", r->lanes[i].name, t->e[k].code,
                        (unsigned long long)t->e[k].count, t->e[k].msg);
            }
        }
    if (!shown)
        fprintf(out, "\nerrors: none\n");
}

static void text_acquisition(FILE *out, const struct run_result *r)
{
    const struct acq_result *a = &r->acq;
    if (!a->measured) {
        fprintf(out, "\npooler acquisition: not measured (%s)\n", a->reason[0] ? a->reason : "no --metrics-url");
        return;
    }
    fprintf(out, "\npooler acquisition wait (%s, %s%s%s, between the scrapes):\n",
            a->lanes_family[0] ? a->lanes_family : "db_pool_acquire_seconds", a->database[0] ? "database " : "",
            a->database[0] ? a->database : "every database", "");
    fprintf(out, "%-14s %10s %9s %9s %9s\n", "lane", "count", "p50 ms", "p95 ms", "p99 ms");
    /* the bench's lanes first, in their order, then the pooler's other lanes, then the total */
    const struct acq_quantiles *rows[SCRAPE_MAX_GROUPS + 1];
    int n = 0;
    for (int i = 0; i < r->nlanes; i++)
        if ((rows[n] = acq_lane(a, r->lanes[i].name)) != NULL)
            n++;
    for (int i = 0; i < a->nlanes; i++) {
        int seen = 0;
        for (int k = 0; k < n; k++)
            seen |= rows[k] == &a->lanes[i];
        if (!seen)
            rows[n++] = &a->lanes[i];
    }
    rows[n++] = &a->total;
    for (int i = 0; i < n; i++)
        fprintf(out, "%-14s %10.0f %9.3f %9.3f %9.3f\n", rows[i]->lane, rows[i]->count, rows[i]->p50_s * 1e3,
                rows[i]->p95_s * 1e3, rows[i]->p99_s * 1e3);
}

void report_text(FILE *out, const struct run_result *r)
{
    const struct bench_args *a = r->args;
    fprintf(out, "wedpool-bench %s: %s, %u clients (%s login), target %s%s%s%s\n", WEDPOOL_VERSION,
            mode_text(r->mode), a->clients, args_login_name(a->login), r->target,
            r->server_version[0] ? " (server " : "", r->server_version, r->server_version[0] ? ")" : "");
    fprintf(out, "lanes:");
    for (int i = 0; i < r->nlanes; i++)
        fprintf(out, "%s %s %u %% (%u clients, application_name=%s)", i ? "," : "", r->lanes[i].name,
                r->lanes[i].pct, r->lanes[i].clients, r->lanes[i].application_name);
    fprintf(out, "; seed %llu\n", (unsigned long long)r->seed);
    if (r->interrupted)
        fprintf(out, "INTERRUPTED (signal %d): partial results\n", r->interrupted);
    text_logins(out, r);
    if (strcmp(r->mode, "idle") == 0)
        fprintf(out, "\nidle: held %.2f s; %llu connections lost, %llu logged in again\n", r->workload_s,
                (unsigned long long)r->total.disconnects, (unsigned long long)r->total.logins_ok - r->connected);
    else if (strcmp(r->mode, "connect") != 0)
        text_transactions(out, r);
    text_errors(out, r);
    text_acquisition(out, r);
}

/* ------------------------------------------------------------------------------------------ */
/* JSON */

static json_t *num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *errtab_json(const struct errtab *t)
{
    json_t *o = json_object();
    for (int i = 0; i < t->n; i++)
        json_object_set_new(o, t->e[i].code, json_integer((json_int_t)t->e[i].count));
    return o;
}

static json_t *messages_json(const struct errtab *t)
{
    json_t *o = json_object();
    for (int i = 0; i < t->n; i++)
        json_object_set_new(o, t->e[i].code, json_string(t->e[i].msg));
    return o;
}

static json_t *hist_json(const struct hist *h, int full)
{
    json_t *o = json_pack("{s:I, s:o, s:o, s:o}", "count", (json_int_t)h->total, "p50", num(ms(hist_percentile(h, 50))),
                          "p99", num(ms(hist_percentile(h, 99))), "max", num(ms(h->max_us)));
    if (full) {
        json_object_set_new(o, "p95", num(ms(hist_percentile(h, 95))));
        json_object_set_new(o, "p99_9", num(ms(hist_percentile(h, 99.9))));
        json_object_set_new(o, "min", num(ms(h->min_us)));
        json_object_set_new(o, "mean", num(hist_mean(h) / 1000.0));
    }
    return o;
}

static json_t *acq_json(const struct acq_quantiles *q)
{
    return json_pack("{s:o, s:o, s:o, s:o}", "count", num(q->count), "p50", num(q->p50_s * 1e3), "p95",
                     num(q->p95_s * 1e3), "p99", num(q->p99_s * 1e3));
}

static json_t *lane_json(const struct lane_result *l, const struct run_result *r)
{
    uint64_t errs = tx_errors(l), done = l->tx_ok + errs;
    json_t *logins = json_pack("{s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o}", "attempts", (json_int_t)l->login_attempts,
                               "ok", (json_int_t)l->logins_ok, "failed", (json_int_t)errtab_total(&l->login_errors),
                               "reconnects", (json_int_t)l->reconnects, "per_s",
                               num(per_s(l->logins_initial, r->connect_elapsed_s)), "latency_ms",
                               hist_json(&l->login_latency, 0), "failures_by_sqlstate", errtab_json(&l->login_errors),
                               "failure_messages", messages_json(&l->login_errors));
    json_t *tx = json_pack("{s:I, s:I, s:I, s:o, s:o, s:I, s:o, s:o, s:o}", "completed", (json_int_t)l->tx_ok,
                           "errors", (json_int_t)errs, "in_window", (json_int_t)l->tx_in_window, "per_s",
                           num(per_s(l->tx_in_window, r->workload_s)), "error_rate",
                           num(done ? (double)errs / (double)done : 0.0), "unfinished", (json_int_t)l->unfinished,
                           "latency_ms", hist_json(&l->latency, 1), "errors_by_sqlstate", errtab_json(&l->tx_errors),
                           "error_messages", messages_json(&l->tx_errors));
    json_t *o = json_pack("{s:s, s:s, s:i, s:i, s:o, s:o, s:I}", "name", l->name, "application_name",
                          l->application_name, "percent", (int)l->pct, "clients", (int)l->clients, "logins", logins,
                          "transactions", tx, "disconnects", (json_int_t)l->disconnects);
    const struct acq_quantiles *q = r->acq.measured ? (strcmp(l->name, "total") == 0 ? &r->acq.total
                                                                                      : acq_lane(&r->acq, l->name))
                                                    : NULL;
    json_object_set_new(o, "pooler_acquire_ms", q ? acq_json(q) : json_null());
    return o;
}

static json_t *series_json(const struct series *s)
{
    json_t *t = json_array(), *tx = json_array(), *er = json_array(), *p50 = json_array(), *p99 = json_array();
    for (size_t i = 0; i < s->n; i++) {
        const struct point *p = &s->p[i];
        json_array_append_new(t, json_real(round(p->t_s * 1000) / 1000));
        json_array_append_new(tx, json_integer((json_int_t)p->tx));
        json_array_append_new(er, json_integer((json_int_t)p->errors));
        json_array_append_new(p50, p->tx ? json_real(p->p50_ms) : json_null());
        json_array_append_new(p99, p->tx ? json_real(p->p99_ms) : json_null());
    }
    return json_pack("{s:o, s:o, s:o, s:o, s:o}", "t_s", t, "tx", tx, "errors", er, "p50_ms", p50, "p99_ms", p99);
}

static json_t *config_json(const struct run_result *r)
{
    const struct bench_args *a = r->args;
    json_t *lanes = json_array();
    for (int i = 0; i < r->nlanes; i++)
        json_array_append_new(lanes, json_pack("{s:s, s:i, s:i}", "name", r->lanes[i].name, "percent",
                                               (int)r->lanes[i].pct, "clients", (int)r->lanes[i].clients));
    json_t *stmts = json_array();
    if (a->nscript > 0)
        for (size_t i = 0; i < a->nscript; i++)
            json_array_append_new(stmts, json_string(a->script[i]));
    else if (!a->idle)
        json_array_append_new(stmts, json_string(a->sql));
    return json_pack("{s:s, s:s, s:s, s:i, s:o, s:i, s:o, s:o, s:o, s:o, s:o, s:i, s:s, s:I, s:b, s:o, s:I, s:o}",
                     "target", r->target, "mode", r->mode, "login", args_login_name(a->login), "clients",
                     (int)a->clients, "connect_rate", num(a->connect_rate),
                     "connect_concurrency", (int)a->connect_concurrency, "connect_cap_s", num(r->connect_cap_s),
                     "duration_s", num(a->duration_s), "rate", num(a->rate), "think_ms", num(a->think_ms),
                     "statements", stmts, "tx_statements", (int)a->tx_statements, "protocol",
                     a->extended ? "extended" : "simple", "rows", (json_int_t)r->rows, "init", a->init, "lanes", lanes,
                     "seed", (json_int_t)r->seed, "metrics_url",
                     a->metrics_url ? json_string(a->metrics_url) : json_null());
}

static json_t *acquisition_json(const struct run_result *r)
{
    const struct acq_result *a = &r->acq;
    json_t *o = json_pack("{s:b}", "measured", a->measured);
    if (!a->measured) {
        json_object_set_new(o, "reason", json_string(a->reason[0] ? a->reason : "no --metrics-url"));
        return o;
    }
    json_t *lanes = json_object();
    for (int i = 0; i < a->nlanes; i++)
        json_object_set_new(lanes, a->lanes[i].lane, acq_json(&a->lanes[i]));
    json_object_set_new(o, "source", json_string(a->lanes_family));
    json_object_set_new(o, "database", a->database[0] ? json_string(a->database) : json_null());
    json_object_set_new(o, "unit", json_string("ms"));
    json_object_set_new(o, "lanes", lanes);
    json_object_set_new(o, "total", acq_json(&a->total));
    return o;
}

int report_json(const char *path, const struct run_result *r, char *err, size_t errlen)
{
    json_t *lanes = json_object(), *series = json_object();
    for (int i = 0; i < r->nlanes; i++) {
        json_object_set_new(lanes, r->lanes[i].name, lane_json(&r->lanes[i], r));
        json_object_set_new(series, r->lanes[i].name, series_json(&r->lanes[i].series));
    }
    json_object_set_new(series, "total", series_json(&r->total.series));
    json_t *connect = json_pack("{s:o, s:i, s:b, s:o, s:o}", "elapsed_s", num(r->connect_elapsed_s), "connected",
                                (int)r->connected, "capped", r->connect_capped, "logins_per_s",
                                num(per_s(r->connected, r->connect_elapsed_s)), "bench_cpu_s", num(r->connect_cpu_s));
    json_t *workload = json_pack("{s:o, s:o, s:I, s:I, s:I}", "elapsed_s", num(r->workload_s), "drain_s",
                                 num(r->drain_s), "queued_at_end", (json_int_t)r->queued_at_end, "max_queued",
                                 (json_int_t)r->max_queued, "dropped", (json_int_t)r->dropped);
    json_t *doc = json_pack("{s:s, s:s, s:s, s:s, s:b, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "tool", "wedpool-bench",
                            "version", WEDPOOL_VERSION, "started_at", r->started_at, "server_version",
                            r->server_version, "interrupted", r->interrupted != 0, "config", config_json(r), "connect",
                            connect, "workload", workload, "lanes", lanes, "total", lane_json(&r->total, r),
                            "pooler_acquisition", acquisition_json(r), "timeseries", series);
    if (doc == NULL) {
        snprintf(err, errlen, "cannot build the JSON document");
        return -1;
    }
    int rc = json_dump_file(doc, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (rc != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* SVG */

#define SVG_W 1060
#define SVG_H 680
#define PLOT_X0 80
#define PLOT_X1 780
#define LAT_Y0 70
#define LAT_Y1 330
#define TPS_Y0 390
#define TPS_Y1 620

static const char *const palette[] = {"#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd",
                                      "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"};

static void xml_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* A round step for about `want` ticks up to max: 1, 2 or 5 times a power of ten. */
static double nice_step(double max, int want)
{
    double raw = max / want, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return mag * (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10);
}

struct axes {
    double tmax;
    double lmin, lmax; /* log10 of the latency range, ms */
    double tps_max;
};

static double sx(const struct axes *ax, double t)
{
    return PLOT_X0 + (PLOT_X1 - PLOT_X0) * t / ax->tmax;
}

static double sy_lat(const struct axes *ax, double v)
{
    double l = log10(v);
    if (l < ax->lmin)
        l = ax->lmin;
    return LAT_Y1 - (LAT_Y1 - LAT_Y0) * (l - ax->lmin) / (ax->lmax - ax->lmin);
}

static double sy_tps(const struct axes *ax, double v)
{
    return TPS_Y1 - (TPS_Y1 - TPS_Y0) * v / ax->tps_max;
}

static void axes_fit(const struct run_result *r, struct axes *ax)
{
    double lo = INFINITY, hi = 0, tps = 0, tmax = 1;
    for (int i = 0; i <= r->nlanes; i++) {
        const struct series *s = i < r->nlanes ? &r->lanes[i].series : &r->total.series;
        for (size_t k = 0; k < s->n; k++) {
            const struct point *p = &s->p[k];
            double width = k ? p->t_s - s->p[k - 1].t_s : p->t_s;
            double rate = width > 0.05 ? (double)p->tx / width : (double)p->tx;
            tps = fmax(tps, rate);
            tmax = fmax(tmax, p->t_s);
            if (p->tx > 0) {
                lo = fmin(lo, fmax(p->p50_ms, 0.001));
                hi = fmax(hi, p->p99_ms);
            }
        }
    }
    double tstep = nice_step(tmax, 10);
    ax->tmax = ceil(tmax / tstep - 1e-9) * tstep;
    ax->lmin = isfinite(lo) ? floor(log10(lo * 0.8)) : -1;
    ax->lmax = hi > 0 ? ceil(log10(hi)) : 1;
    if (ax->lmax <= ax->lmin)
        ax->lmax = ax->lmin + 1;
    double step = nice_step(tps > 0 ? tps : 1, 5);
    ax->tps_max = ceil((tps > 0 ? tps : 1) / step) * step;
}

static void svg_grid(FILE *f, const struct axes *ax)
{
    fprintf(f, "<g stroke=\"#ddd\" stroke-width=\"1\" font-size=\"11\" fill=\"#444\">\n");
    double tstep = nice_step(ax->tmax, 10);
    for (double t = 0; t <= ax->tmax + 1e-9; t += tstep) {
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>", sx(ax, t), LAT_Y0, sx(ax, t), LAT_Y1);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>", sx(ax, t), TPS_Y0, sx(ax, t), TPS_Y1);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" stroke=\"none\">%g</text>\n", sx(ax, t),
                TPS_Y1 + 16, t);
    }
    for (double l = ax->lmin; l <= ax->lmax + 1e-9; l += 1) {
        double y = sy_lat(ax, pow(10, l));
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>", PLOT_X0, y, PLOT_X1, y);
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" stroke=\"none\">%g</text>\n", PLOT_X0 - 6, y + 4,
                pow(10, l));
    }
    double vstep = nice_step(ax->tps_max, 5);
    for (double v = 0; v <= ax->tps_max + 1e-9; v += vstep) {
        double y = sy_tps(ax, v);
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>", PLOT_X0, y, PLOT_X1, y);
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" stroke=\"none\">%g</text>\n", PLOT_X0 - 6, y + 4, v);
    }
    fprintf(f, "</g>\n<g font-size=\"12\" fill=\"#222\">\n");
    fprintf(f, "<text x=\"%d\" y=\"%d\">latency per second, ms (log scale): p50 solid, p99 dashed</text>\n", PLOT_X0,
            LAT_Y0 - 8);
    fprintf(f, "<text x=\"%d\" y=\"%d\">throughput, transactions per second</text>\n", PLOT_X0, TPS_Y0 - 8);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">seconds since the workload started</text>\n",
            (PLOT_X0 + PLOT_X1) / 2, TPS_Y1 + 36);
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#888\"/>\n", PLOT_X0, LAT_Y0,
            PLOT_X1 - PLOT_X0, LAT_Y1 - LAT_Y0);
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#888\"/>\n</g>\n", PLOT_X0,
            TPS_Y0, PLOT_X1 - PLOT_X0, TPS_Y1 - TPS_Y0);
}

enum curve { CURVE_P50, CURVE_P99, CURVE_TPS };

/* One polyline; seconds without transactions break the latency curves. */
static void svg_curve(FILE *f, const struct axes *ax, const struct series *s, enum curve which, const char *color,
                      double width, const char *dash)
{
    fprintf(f, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\"%s%s%s d=\"", color, width,
            dash ? " stroke-dasharray=\"" : "", dash ? dash : "", dash ? "\"" : "");
    int pen = 0;
    for (size_t k = 0; k < s->n; k++) {
        const struct point *p = &s->p[k];
        double x = sx(ax, k ? (p->t_s + s->p[k - 1].t_s) / 2 : p->t_s / 2), y; /* the middle of its second */
        if (which == CURVE_TPS) {
            double w = k ? p->t_s - s->p[k - 1].t_s : p->t_s;
            y = sy_tps(ax, w > 0.05 ? (double)p->tx / w : (double)p->tx);
        } else if (p->tx == 0) {
            pen = 0;
            continue;
        } else {
            y = sy_lat(ax, which == CURVE_P50 ? p->p50_ms : p->p99_ms);
        }
        fprintf(f, "%c%.1f %.1f ", pen ? 'L' : 'M', x, y);
        pen = 1;
    }
    fprintf(f, "\"/>\n");
}

int report_svg(const char *path, const struct run_result *r, char *err, size_t errlen)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    struct axes ax;
    axes_fit(r, &ax);
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            SVG_W, SVG_H, SVG_W, SVG_H);
    fprintf(f, "<text x=\"%d\" y=\"24\" font-size=\"15\" font-weight=\"bold\">wedpool-bench: ", PLOT_X0);
    fprintf(f, "%s, %u clients", mode_text(r->mode), r->args->clients);
    if (r->args->rate > 0)
        fprintf(f, ", %.0f tx/s offered", r->args->rate);
    fprintf(f, ", %.0f s</text>\n<text x=\"%d\" y=\"42\" font-size=\"11\" fill=\"#444\">", r->workload_s, PLOT_X0);
    xml_text(f, r->target);
    fprintf(f, " — %s, seed %llu</text>\n", r->started_at, (unsigned long long)r->seed);
    svg_grid(f, &ax);
    if (r->workload_s > 0 && r->workload_s < ax.tmax) { /* where the drain begins */
        double x = sx(&ax, r->workload_s);
        fprintf(f, "<g stroke=\"#999\" stroke-dasharray=\"2,4\"><line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>"
                   "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/></g>\n",
                x, LAT_Y0, x, LAT_Y1, x, TPS_Y0, x, TPS_Y1);
    }
    int legend_y = LAT_Y0 + 10;
    if (r->workload_s > 0 && r->workload_s < ax.tmax)
        fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" fill=\"#666\">dotted: end of the workload, then "
                   "the drain</text>\n", PLOT_X1 + 20, LAT_Y0 + 20 * (r->nlanes + 1) + 14);
    for (int i = 0; i <= r->nlanes; i++) {
        const struct lane_result *l = i < r->nlanes ? &r->lanes[i] : &r->total;
        const char *color = i < r->nlanes ? palette[i % (int)(sizeof(palette) / sizeof(palette[0]))] : "#000";
        double w = i < r->nlanes ? 1.5 : 2.0;
        if (i < r->nlanes || r->nlanes > 1) {
            svg_curve(f, &ax, &l->series, CURVE_P50, color, w, NULL);
            svg_curve(f, &ax, &l->series, CURVE_P99, color, w, "5,3");
        }
        svg_curve(f, &ax, &l->series, CURVE_TPS, color, w, NULL);
        fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"3\"/>", PLOT_X1 + 20,
                legend_y, PLOT_X1 + 44, legend_y, color);
        fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"12\">", PLOT_X1 + 50, legend_y + 4);
        xml_text(f, l->name);
        fprintf(f, " (%u clients)</text>\n", l->clients);
        legend_y += 20;
    }
    if (r->total.series.n == 0)
        fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"14\">no transactions were run</text>\n", PLOT_X0 + 20,
                LAT_Y0 + 40);
    fprintf(f, "</svg>\n");
    if (fclose(f) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}
