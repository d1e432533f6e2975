/* rules.c — [alert_rules], the per-alert state machine, routing to channels and the notice text.
 * Pure (see rules.h). */
#include "rules.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Per rule: name, defaults, whether a threshold means anything, runbook anchor, actions. */
static const struct {
    const char *name;
    long threshold;
    int for_s;
    bool has_threshold;
    const char *anchor;       /* docs/runbook.md, the Prometheus alert's section */
    const char *actions;
} rule_def[AR_COUNT] = {
    [AR_POOL_UTILIZATION] = {"pool_utilization", 85, 30, true, "wedpoolpoolutilizationhigh",
                             "Scale pool size\nCheck for connection leaks"},
    [AR_CLIENTS_WAITING] = {"clients_waiting", 50, 15, true, "wedpoolclientswaiting",
                            "Scale pool size\nCheck for connection leaks\nLook for long transactions (SHOW CLIENTS)"},
    [AR_ACQUIRE_P99_MS] = {"acquire_p99_ms", 10, 60, true, "wedpoolacquirelatencyhigh",
                           "Scale pool size\nCheck for slow queries holding connections"},
    [AR_RESERVE_IN_USE] = {"reserve_in_use", 0, 0, true, "wedpoolreserveinuse",
                           "Scale pool size\nCheck for connection leaks"},
    [AR_LANE_SHEDDING] = {"lane_shedding", 0, 0, true, "wedpoollaneshedding",
                          "Scale pool size\nRaise the lane's max_waiting if the load is expected"},
    [AR_BACKEND_DOWN] = {"backend_down", 0, 0, false, "wedpoolbackenddown",
                         "Check PostgreSQL on the host (is it running, reachable, accepting logins?)\n"
                         "Check failover status (SHOW SERVERS, the log)"},
    [AR_PG_CONNECTIONS_PCT] = {"pg_connections_pct", 90, 60, true, "wedpoolpostgresconnectionsnearlimit",
                               "Check for connection leaks\n"
                               "Raise max_connections or lower other applications' pools"},
    [AR_CALENDAR_STALE] = {"calendar_stale", 3600, 0, true, "wedpoolcalendarstale",
                           "Check the calendar source, its URL and credentials (SHOW WEDDINGS, the log)"},
    [AR_ALERT_DELIVERY_FAILING] = {"alert_delivery_failing", 0, 300, false, "wedpoolalertdeliveryfailing",
                                   "Check the channel's URL and credentials (SHOW ALERT_HISTORY)"},
};

const char *alert_rule_name(enum alert_rule_id r)
{
    return (unsigned)r < AR_COUNT ? rule_def[r].name : "unknown";
}

void alert_rules_defaults(struct alert_rules_conf *rc)
{
    memset(rc, 0, sizeof(*rc));
    for (int i = 0; i < AR_COUNT; i++) {
        rc->rule[i].threshold = rule_def[i].threshold;
        rc->rule[i].for_s = rule_def[i].for_s;
    }
    rc->renotify_min = 60;
    snprintf(rc->runbook_base, sizeof(rc->runbook_base), "docs/runbook.md");
}

static bool parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

bool alert_rules_parse(struct alert_rules_conf *rc, const char *key, const char *value, char *err, size_t errlen)
{
    long v;
    int bit = -1;
    for (int i = 0; i < AR_COUNT; i++)
        if (strcmp(key, rule_def[i].name) == 0)
            bit = i;
    if (strcmp(key, "renotify_min") == 0)
        bit = AR_COUNT;
    else if (strcmp(key, "runbook_base") == 0)
        bit = AR_COUNT + 1;
    if (bit >= 0 && (rc->lines_seen & (1u << bit))) {
        snprintf(err, errlen, "given twice");
        return false;
    }
    if (bit >= 0)
        rc->lines_seen |= 1u << bit;
    if (strcmp(key, "renotify_min") == 0) {
        if (!parse_long(value, 0, 10080, &v)) {
            snprintf(err, errlen, "'%s' is not a number of minutes in 0..10080 (0 = never)", value);
            return false;
        }
        rc->renotify_min = (int)v;
        return true;
    }
    if (strcmp(key, "runbook_base") == 0) {
        if (strlen(value) >= sizeof(rc->runbook_base)) {
            snprintf(err, errlen, "longer than %zu characters", sizeof(rc->runbook_base) - 1);
            return false;
        }
        snprintf(rc->runbook_base, sizeof(rc->runbook_base), "%s", value);
        return true;
    }
    int r = -1;
    for (int i = 0; i < AR_COUNT; i++)
        if (strcmp(key, rule_def[i].name) == 0)
            r = i;
    if (r < 0) {
        snprintf(err, errlen, "unknown rule (expected pool_utilization, clients_waiting, acquire_p99_ms, "
                              "reserve_in_use, lane_shedding, backend_down, pg_connections_pct, calendar_stale, "
                              "alert_delivery_failing, renotify_min or runbook_base)");
        return false;
    }
    struct alert_rule_conf c = {rule_def[r].threshold, rule_def[r].for_s, false};
    const char *p = value;
    while (*p != '\0') {
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '\0')
            break;
        char word[64];
        size_t n = 0;
        while (p[n] != '\0' && !isspace((unsigned char)p[n]))
            n++;
        if (n >= sizeof(word)) {
            snprintf(err, errlen, "'%.40s...' is too long", p);
            return false;
        }
        memcpy(word, p, n);
        word[n] = '\0';
        p += n;
        if (strcmp(word, "off") == 0) {
            c.off = true;
        } else if (strncmp(word, "threshold=", 10) == 0) {
            if (!rule_def[r].has_threshold) {
                snprintf(err, errlen, "takes no threshold (only for_s=N and off)");
                return false;
            }
            if (!parse_long(word + 10, 0, 1000000000L, &v)) {
                snprintf(err, errlen, "threshold '%s' is not a number in 0..1000000000", word + 10);
                return false;
            }
            c.threshold = v;
        } else if (strncmp(word, "for_s=", 6) == 0) {
            if (!parse_long(word + 6, 0, 604800, &v)) {
                snprintf(err, errlen, "for_s '%s' is not a number of seconds in 0..604800", word + 6);
                return false;
            }
            c.for_s = (int)v;
        } else {
            snprintf(err, errlen, "'%s' is not threshold=N, for_s=N or off", word);
            return false;
        }
    }
    if ((r == AR_POOL_UTILIZATION || r == AR_PG_CONNECTIONS_PCT) && c.threshold > 100) {
        snprintf(err, errlen, "threshold %ld is a percentage: 0..100", c.threshold);
        return false;
    }
    rc->rule[r] = c;
    return true;
}

void alert_rule_format(const struct alert_rules_conf *rc, enum alert_rule_id r, char *buf, size_t n)
{
    const struct alert_rule_conf *c = &rc->rule[r];
    if (rule_def[r].has_threshold)
        snprintf(buf, n, "threshold=%ld for_s=%d%s", c->threshold, c->for_s, c->off ? " off" : "");
    else
        snprintf(buf, n, "for_s=%d%s", c->for_s, c->off ? " off" : "");
}

/* ---------------------------------------------------------------- the state machine */

void alert_init(struct alert *a, const char *rule, enum alert_rule_id conf_rule, const char *subject)
{
    memset(a, 0, sizeof(*a));
    snprintf(a->rule, sizeof(a->rule), "%s", rule);
    snprintf(a->subject, sizeof(a->subject), "%s", subject);
    snprintf(a->key, sizeof(a->key), "%s:%s", rule, subject);
    a->conf_rule = conf_rule;
}

static void out_add(struct alert_step_out *out, int ch)
{
    if (out->n < ALERT_MAX_CHANNELS)
        out->ch[out->n++] = ch;
}

/* A new incident: forget the last one's routing. */
static void incident_reset(struct alert *a)
{
    a->acked = false;
    a->acked_at = 0;
    a->acked_by[0] = '\0';
    a->notify_seq = 0;
    a->notified = 0;
    memset(a->eligible_since, 0, sizeof(a->eligible_since));
    memset(a->notified_at, 0, sizeof(a->notified_at));
}

static void resolve(struct alert *a, time_t now, const struct alert_route *routes, int nroutes,
                    struct alert_step_out *out)
{
    a->phase = AP_IDLE;
    a->resolved_at = now;
    out->resolved = true;
    for (int ch = 0; ch < nroutes && ch < ALERT_MAX_CHANNELS; ch++)
        if (a->notified & (1u << ch))
            out_add(out, ch);
    if (out->n > 0)
        a->notify_seq++;
}

void alert_step(struct alert *a, bool condition, enum alert_severity sev, time_t now, int for_s, int renotify_min,
                const struct alert_route *routes, int nroutes, struct alert_step_out *out)
{
    memset(out, 0, sizeof(*out));
    if (!condition) {
        if (a->phase == AP_FIRING)
            resolve(a, now, routes, nroutes, out);
        a->phase = AP_IDLE;
        return;
    }
    if (a->phase == AP_IDLE) {
        a->phase = AP_PENDING;
        a->pending_since = now;
    }
    if (a->phase == AP_PENDING) {
        if (now < a->pending_since)
            a->pending_since = now; /* the clock went back: count from now */
        if (now - a->pending_since < for_s)
            return;
        incident_reset(a);
        a->phase = AP_FIRING;
        a->started_at = now;
        a->severity = sev;
        out->fired = true;
    } else if (sev != a->severity) {
        if (sev > a->severity)
            a->acked = false; /* worse news than what was acknowledged */
        a->severity = sev;
        out->severity_changed = true;
    }
    for (int ch = 0; ch < nroutes && ch < ALERT_MAX_CHANNELS; ch++) {
        const struct alert_route *rt = &routes[ch];
        if (rt->skip || sev < rt->min_severity) {
            a->eligible_since[ch] = 0;
            continue;
        }
        if (a->eligible_since[ch] == 0 || a->eligible_since[ch] > now)
            a->eligible_since[ch] = now;
        bool told = (a->notified & (1u << ch)) != 0;
        bool send;
        if (!told)
            send = rt->after_min == 0 || (!a->acked && now - a->eligible_since[ch] >= (time_t)rt->after_min * 60);
        else if (a->notified_sev[ch] != sev)
            send = true;
        else
            send = renotify_min > 0 && !a->acked && now - a->notified_at[ch] >= (time_t)renotify_min * 60;
        if (!send)
            continue;
        if (!told && !out->fired && !out->severity_changed)
            out->escalated = true;
        else if (told && a->notified_sev[ch] == sev)
            out->renotified = true;
        a->notified |= 1u << ch;
        a->notified_at[ch] = now;
        a->notified_sev[ch] = sev;
        out_add(out, ch);
    }
    if (out->n > 0)
        a->notify_seq++;
}

bool alert_ack(struct alert *a, const char *who, time_t now)
{
    if (a->phase != AP_FIRING)
        return false;
    a->acked = true;
    a->acked_at = now;
    snprintf(a->acked_by, sizeof(a->acked_by), "%s", who);
    return true;
}

/* ---------------------------------------------------------------- severity and wording */

enum alert_severity alert_severity_for(enum alert_rule_id r, const struct alert_wedding *w)
{
    if (r == AR_CALENDAR_STALE || r == AR_ALERT_DELIVERY_FAILING)
        return SEV_WARNING;
    if (w->criticality >= 5)
        return SEV_EMERGENCY;
    if (w->active_weddings > 0)
        return SEV_CRITICAL;
    return SEV_HIGH;
}

/* Appends to a bounded buffer; a full buffer keeps what fit. */
static void cat(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void cat(char *buf, size_t cap, const char *fmt, ...)
{
    size_t len = strnlen(buf, cap);
    if (len + 1 >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + len, cap - len, fmt, ap);
    va_end(ap);
}

/* snprintf that may cut (the notice's fields are bounded on purpose). */
static void put(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void put(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
}

static long lround_pos(double v)
{
    return v < 0 ? 0 : (long)(v + 0.5);
}

/* The summary and the rule's numbers. */
static void describe(const struct alert *a, const struct alert_rules_conf *rc, struct alert_notice *n)
{
    const struct alert_rule_conf *c = &rc->rule[a->conf_rule];
    const char *db = a->database[0] ? a->database : a->subject;
    char *s = n->summary, *d = n->details;
    size_t ss = sizeof(n->summary), ds = sizeof(n->details);
    switch (a->conf_rule) {
    case AR_POOL_UTILIZATION:
        put(s, ss, "Database pool %s at %ld%% capacity", db, lround_pos(a->value));
        cat(d, ds, "pool: %s\nutilization: %ld%%\nin use: %ld\neffective_max_pool_size: %ld\n", a->subject,
            lround_pos(a->value), lround_pos(a->extra), lround_pos(a->extra2));
        break;
    case AR_CLIENTS_WAITING:
        put(s, ss, "Database pool %s has %ld clients waiting for a connection", db, lround_pos(a->value));
        cat(d, ds, "pool: %s\nclients waiting: %ld\nlongest wait: %ld ms\n", a->subject, lround_pos(a->value),
            lround_pos(a->extra));
        break;
    case AR_ACQUIRE_P99_MS:
        put(s, ss, "Database pool %s: p99 wait for a connection %ld ms", db, lround_pos(a->value));
        cat(d, ds, "pool: %s\nacquire p99 (last minute): %ld ms\n", a->subject, lround_pos(a->value));
        break;
    case AR_RESERVE_IN_USE:
        put(s, ss, "Database pool %s runs on %ld emergency reserve connection(s)", db, lround_pos(a->value));
        cat(d, ds, "pool: %s\nreserve connections in use: %ld\n", a->subject, lround_pos(a->value));
        break;
    case AR_LANE_SHEDDING:
        put(s, ss, "Database pool %s is shedding clients (%ld refused in the last minute)", db,
                 lround_pos(a->value));
        cat(d, ds, "pool: %s\nclients refused by a lane's max_waiting (last minute): %ld\n", a->subject,
            lround_pos(a->value));
        break;
    case AR_BACKEND_DOWN:
        if (strcmp(a->rule, "circuit_open") == 0)
            put(s, ss, "Circuit breaker open for PostgreSQL %s", a->subject);
        else if (strcmp(a->rule, "failover") == 0)
            put(s, ss, "Failover in progress for database %s", a->subject);
        else if (strcmp(a->rule, "split_brain") == 0)
            put(s, ss, "Split brain: several primaries for database %s", a->subject);
        else
            put(s, ss, "PostgreSQL %s is down", a->subject);
        if (a->database[0])
            cat(d, ds, "database: %s\n", a->database);
        if (a->host[0])
            cat(d, ds, "host: %s\n", a->host);
        if (a->detail[0])
            cat(d, ds, "detail: %s\n", a->detail);
        break;
    case AR_PG_CONNECTIONS_PCT:
        put(s, ss, "PostgreSQL behind %s at %ld%% of its connection slots", db, lround_pos(a->value));
        cat(d, ds, "database: %s\nconnection slots used: %ld%%\nclient backends: %ld\nslots: %ld\n", db,
            lround_pos(a->value), lround_pos(a->extra), lround_pos(a->extra2));
        break;
    case AR_CALENDAR_STALE:
        put(s, ss, "Wedding calendar %s not read for %ld minutes", a->subject, lround_pos(a->value / 60));
        cat(d, ds, "calendar: %s\nseconds since the last good fetch: %ld\n", a->subject, lround_pos(a->value));
        if (a->detail[0])
            cat(d, ds, "last error: %s\n", a->detail);
        break;
    case AR_ALERT_DELIVERY_FAILING:
        put(s, ss, "Alert channel %s failing for %ld minutes", a->subject, lround_pos(a->value / 60));
        cat(d, ds, "channel: %s\nfailing for: %ld s\n", a->subject, lround_pos(a->value));
        break;
    case AR_COUNT:
        break;
    }
    if (rule_def[a->conf_rule].has_threshold)
        cat(d, ds, "threshold: %ld\n", c->threshold);
    cat(d, ds, "for: %d s\n", c->for_s);
}

void alert_notice_fill(const struct alert *a, const struct alert_rules_conf *rc, const struct alert_wedding *w,
                       bool resolved, time_t now, struct alert_notice *n)
{
    memset(n, 0, sizeof(*n));
    put(n->key, sizeof(n->key), "%s", a->key);
    put(n->rule, sizeof(n->rule), "%s", a->rule);
    put(n->database, sizeof(n->database), "%s", a->database);
    put(n->host, sizeof(n->host), "%s", a->host);
    n->severity = a->severity;
    n->resolved = resolved;
    n->started_at = a->started_at;
    n->at = now;
    describe(a, rc, n);
    if (resolved) { /* the summary stays as it fired; the channels say RESOLVED (n->resolved) */
        cat(n->details, sizeof(n->details), "firing for: %ld s\n", (long)(now - a->started_at));
    }
    cat(n->details, sizeof(n->details), "severity: %s\n", alert_severity_name(a->severity));
    if (w->active_weddings > 0)
        cat(n->details, sizeof(n->details), "weddings in progress: %d (%s)\nguests affected: %ld\n",
            w->active_weddings, w->weddings, w->guests_affected);
    put(n->weddings, sizeof(n->weddings), "%s", w->weddings);
    n->active_weddings = w->active_weddings;
    n->guests_affected = w->guests_affected;
    put(n->actions, sizeof(n->actions), "%s", rule_def[a->conf_rule].actions);
    put(n->runbook, sizeof(n->runbook), "%s#%s", rc->runbook_base, rule_def[a->conf_rule].anchor);
    n->notify_seq = a->notify_seq;
}
