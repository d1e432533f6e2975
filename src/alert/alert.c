/* alert.c — the alert rules on the loop (issue #13, rules half): once a second the janitor's tick
 * observes every pool, PostgreSQL's connection slots, the calendars and the channels; backend
 * events (events.h) are observed the moment they are published. rules.c decides; this file keeps
 * the live alerts (a hash by key; memory only for conditions that are true), hands notices to the
 * channels (channels.h), and keeps the history of the last ALERT_HISTORY_KEPT changes and deliveries.
 *
 * Cost when nothing is wrong: per pool a handful of integer comparisons (and the acquire p99 only
 * for pools that served a client in the last minute); no allocation, no formatting, no lookup. */
#include "alert.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channels.h"
#include "clock.h"
#include "events.h"
#include "fetch.h"
#include "log.h"
#include "pgstats.h"
#include "pool.h"
#include "proto.h"
#include "rules.h"
#include "runtime.h"
#include "scaler.h"
#include "util.h"

#define EVAL_INTERVAL_US 1000000u
#define SHED_WINDOW_US 60000000u    /* lane_shedding: refusals in the last minute */
#define P99_MIN_SAMPLES 100         /* acquire_p99_ms: fewer acquisitions in the minute say nothing
                                     * (a p99 of a handful is their slowest: a cold pool's logins) */
#define HASH_BUCKETS 1024u

/* The per-pool rules, in the order of their bit in pool->alert_live. */
static const enum alert_rule_id pool_rules[] = {AR_POOL_UTILIZATION, AR_CLIENTS_WAITING, AR_ACQUIRE_P99_MS,
                                                AR_RESERVE_IN_USE, AR_LANE_SHEDDING};
#define NPOOL_RULES (sizeof(pool_rules) / sizeof(pool_rules[0]))

static struct alert *buckets[HASH_BUCKETS];
static struct alert **live;         /* every alert pending or firing, unordered */
static size_t nlive, live_cap;
static int live_per_rule[AR_COUNT];
static uint64_t tick_no, last_eval_us;
static bool started;

/* The channels as last seen: routes by index, names to follow a reload's renumbering. */
static struct alert_route routes[ALERT_MAX_CHANNELS];
static char route_names[ALERT_MAX_CHANNELS][64];
static int nroutes;

/* The wedding context of this evaluation; names of the weddings filled only when a notice needs them. */
static struct alert_wedding wctx;
static bool wctx_names;

struct history_entry {
    time_t at;
    char key[128];
    char event[12];                 /* firing | severity | escalated | renotify | resolved | ack | delivery */
    enum alert_severity severity;
    char channel[64];               /* delivery: the channel; state changes: the channels told */
    char result[16];                /* delivery: sent | failed | rate_limited | circuit_open | queue_full */
    long http_status;
    double latency_ms;
    char detail[256];               /* the summary, or the delivery's detail */
};
static struct history_entry history[ALERT_HISTORY_KEPT];
static int hist_head, hist_n;
static uint64_t results_by_kind[ALERT_RESULT_COUNT];

static struct history_entry *history_add(time_t at, const char *key, const char *event, enum alert_severity sev)
{
    struct history_entry *h = &history[(hist_head + hist_n) % ALERT_HISTORY_KEPT];
    if (hist_n < ALERT_HISTORY_KEPT)
        hist_n++;
    else
        hist_head = (hist_head + 1) % ALERT_HISTORY_KEPT;
    memset(h, 0, sizeof(*h));
    h->at = at;
    snprintf(h->key, sizeof(h->key), "%s", key);
    snprintf(h->event, sizeof(h->event), "%s", event);
    h->severity = sev;
    return h;
}

/* ---------------------------------------------------------------- the live alerts */

static unsigned hash_key(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % HASH_BUCKETS;
}

static struct alert *find(const char *key)
{
    for (struct alert *a = buckets[hash_key(key)]; a != NULL; a = a->hnext)
        if (strcmp(a->key, key) == 0)
            return a;
    return NULL;
}

static struct alert *create(const char *rule, enum alert_rule_id conf_rule, const char *subject)
{
    if (nlive == live_cap) {
        size_t cap = live_cap ? live_cap * 2 : 64;
        struct alert **l = realloc(live, cap * sizeof(*l));
        if (l == NULL)
            return NULL;
        live = l;
        live_cap = cap;
    }
    struct alert *a = malloc(sizeof(*a));
    if (a == NULL)
        return NULL;
    alert_init(a, rule, conf_rule, subject);
    unsigned b = hash_key(a->key);
    a->hnext = buckets[b];
    buckets[b] = a;
    live[nlive++] = a;
    live_per_rule[conf_rule]++;
    return a;
}

static void destroy(struct alert *a)
{
    for (struct alert **pp = &buckets[hash_key(a->key)]; *pp != NULL; pp = &(*pp)->hnext)
        if (*pp == a) {
            *pp = a->hnext;
            break;
        }
    for (size_t i = 0; i < nlive; i++)
        if (live[i] == a) {
            live[i] = live[--nlive];
            break;
        }
    live_per_rule[a->conf_rule]--;
    free(a);
}

/* ---------------------------------------------------------------- channels and the wedding context */

/* Follows the channels: a reload may add, remove or renumber them; per-alert routing state moves
 * with the channel's name. */
static void routes_refresh(void)
{
    int n = channels_count();
    if (n > ALERT_MAX_CHANNELS)
        n = ALERT_MAX_CHANNELS;
    bool renumbered = n != nroutes;
    for (int i = 0; i < n && !renumbered; i++)
        renumbered = strcmp(route_names[i], channel_name(i)) != 0;
    if (renumbered && nroutes > 0) {
        int map[ALERT_MAX_CHANNELS];
        for (int i = 0; i < nroutes; i++) {
            int j = channel_find(route_names[i]);
            map[i] = j < ALERT_MAX_CHANNELS ? j : -1;
        }
        for (size_t k = 0; k < nlive; k++) {
            struct alert *a = live[k];
            struct alert old = *a;
            a->notified = 0;
            memset(a->eligible_since, 0, sizeof(a->eligible_since));
            memset(a->notified_at, 0, sizeof(a->notified_at));
            for (int i = 0; i < nroutes; i++) {
                if (map[i] < 0)
                    continue;
                if (old.notified & (1u << i))
                    a->notified |= 1u << map[i];
                a->eligible_since[map[i]] = old.eligible_since[i];
                a->notified_at[map[i]] = old.notified_at[i];
                a->notified_sev[map[i]] = old.notified_sev[i];
            }
        }
    }
    for (int i = 0; i < n; i++) {
        routes[i].min_severity = channel_min_severity(i);
        routes[i].after_min = channel_after_min(i);
        routes[i].skip = false;
        if (renumbered)
            snprintf(route_names[i], sizeof(route_names[i]), "%s", channel_name(i));
    }
    nroutes = n;
}

static void wedding_refresh(void)
{
    const struct wedding_context *cx = scaler_context();
    wctx.active_weddings = cx->active_weddings;
    wctx.guests_affected = cx->guests_affected;
    wctx.criticality = cx->criticality;
    wctx.weddings[0] = '\0';
    wctx_names = false;
}

/* The names of the weddings in progress, for a notice. */
static void wedding_names(time_t now)
{
    if (wctx_names)
        return;
    wctx_names = true;
    if (wctx.active_weddings == 0)
        return; /* the context (scaler.c, once a second) decides; names only fill it in */
    const struct wedding_list *w = calendars_weddings();
    size_t len = 0;
    for (size_t i = 0; w != NULL && i < w->n; i++) {
        const struct wedding *x = &w->items[i];
        if (!(x->start <= now && now < x->end))
            continue;
        int k = snprintf(wctx.weddings + len, sizeof(wctx.weddings) - len, "%s%s", len ? ", " : "", x->name);
        if (k < 0 || (size_t)k >= sizeof(wctx.weddings) - len) {
            wctx.weddings[len] = '\0';
            break;
        }
        len += (size_t)k;
    }
}

/* ---------------------------------------------------------------- stepping an alert */

static void channel_list(const struct alert_step_out *o, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < o->n && len + 1 < n; i++) {
        int k = snprintf(buf + len, n - len, "%s%s", i ? ", " : "", channel_name(o->ch[i]));
        if (k < 0)
            break;
        len += (size_t)k < n - len ? (size_t)k : n - len - 1;
    }
}

/* Tells the channels of o and records it; frees the alert once it is idle. Returns whether a lives on. */
static bool apply(struct alert *a, const struct alert_step_out *o, time_t now)
{
    if (o->fired || o->resolved || o->severity_changed || o->n > 0) {
        struct alert_notice nt;
        wedding_names(now);
        alert_notice_fill(a, &rt.cfg.alert_rules, &wctx, o->resolved, now, &nt);
        const char *event = o->resolved ? "resolved" : o->fired ? "firing" : o->severity_changed ? "severity"
                          : o->escalated ? "escalated" : "renotify";
        struct history_entry *h = history_add(now, a->key, event, a->severity);
        channel_list(o, h->channel, sizeof(h->channel));
        snprintf(h->detail, sizeof(h->detail), "%s", nt.summary);
        if (o->resolved)
            log_info("alert %s resolved: %s (told: %s)", a->key, nt.summary, o->n ? h->channel : "nobody");
        else
            log_warn("alert %s %s, %s: %s (%d wedding(s) in progress%s%s; told: %s)", a->key, event,
                     alert_severity_name(a->severity), nt.summary, wctx.active_weddings,
                     wctx.weddings[0] ? ": " : "", wctx.weddings, o->n ? h->channel : "nobody");
        for (int i = 0; i < o->n; i++)
            channels_send(o->ch[i], &nt);
    }
    if (a->phase != AP_IDLE)
        return true;
    destroy(a);
    return false;
}

/* One evaluation of a; false if it went idle and was freed. */
static bool step(struct alert *a, bool cond, time_t now)
{
    const struct alert_rule_conf *rc = &rt.cfg.alert_rules.rule[a->conf_rule];
    if (rc->off)
        cond = false;
    enum alert_severity sev = alert_severity_for(a->conf_rule, &wctx);
    struct alert_step_out o;
    /* an alert about a channel is not sent to that channel */
    int self = a->conf_rule == AR_ALERT_DELIVERY_FAILING ? channel_find(a->subject) : -1;
    if (self >= 0 && self < nroutes)
        routes[self].skip = true;
    alert_step(a, cond, sev, now, rc->for_s, rt.cfg.alert_rules.renotify_min, routes, nroutes, &o);
    if (self >= 0 && self < nroutes)
        routes[self].skip = false;
    a->seen_tick = tick_no;
    return apply(a, &o, now);
}

/* An observation of a rule on a subject: looks up (or, if the condition holds, creates) its alert. */
static struct alert *observe(const char *rule, enum alert_rule_id r, const char *subject, bool cond)
{
    if (!cond && live_per_rule[r] == 0)
        return NULL;
    char key[sizeof(((struct alert *)0)->key)];
    snprintf(key, sizeof(key), "%s:%s", rule, subject);
    struct alert *a = find(key);
    if (a == NULL && cond) {
        a = create(rule, r, subject);
        if (a == NULL)
            log_error("alert %s: out of memory", key);
    }
    return a;
}

/* ---------------------------------------------------------------- the rules' conditions */

static double acquire_p99_ms(struct pool *p, uint64_t now_us)
{
    if (p->stats.wait_count != p->alert_waits_seen) {
        p->alert_waits_seen = p->stats.wait_count;
        p->alert_waits_last_us = now_us;
    }
    if (p->alert_waits_last_us == 0 || now_us - p->alert_waits_last_us > WINDOW_SECONDS * 1000000ull)
        return 0; /* nobody acquired a connection in the last minute */
    struct histogram h;
    window_sum(&p->acquire_window, now_us / 1000000u, &h);
    return h.count >= P99_MIN_SAMPLES ? histogram_quantile(&h, 0.99) * 1000.0 : 0;
}

static double shed_last_minute(struct pool *p, uint64_t now_us)
{
    uint64_t total = 0;
    for (int i = 0; i < MAX_LANES; i++)
        total += p->lanes[i].shed;
    if (total != p->alert_shed_seen) {
        if (p->alert_shed_last_us == 0 || now_us - p->alert_shed_last_us > SHED_WINDOW_US)
            p->alert_shed_base = p->alert_shed_seen; /* a new episode */
        p->alert_shed_seen = total;
        p->alert_shed_last_us = now_us;
    }
    if (p->alert_shed_last_us == 0 || now_us - p->alert_shed_last_us > SHED_WINDOW_US)
        return 0;
    return (double)(total - p->alert_shed_base);
}

static void eval_pool(struct pool *p, uint64_t now_us, time_t now)
{
    const struct alert_rules_conf *rc = &rt.cfg.alert_rules;
    for (size_t i = 0; i < NPOOL_RULES; i++) {
        enum alert_rule_id r = pool_rules[i];
        double v = 0, x1 = 0, x2 = 0;
        switch (r) {
        case AR_POOL_UTILIZATION:
            v = p->max_size > 0 ? 100.0 * p->n_active / p->max_size : 0;
            x1 = p->n_active;
            x2 = p->max_size;
            break;
        case AR_CLIENTS_WAITING:
            v = p->n_waiting;
            x1 = p->n_waiting > 0 ? (double)pool_max_wait_us(p, now_us) / 1000.0 : 0;
            break;
        case AR_ACQUIRE_P99_MS:
            v = rc->rule[r].off ? 0 : acquire_p99_ms(p, now_us);
            break;
        case AR_RESERVE_IN_USE:
            v = p->n_reserve_active;
            break;
        case AR_LANE_SHEDDING:
            v = shed_last_minute(p, now_us);
            break;
        default:
            break;
        }
        bool cond = !rc->rule[r].off && v > (double)rc->rule[r].threshold;
        uint16_t bit = (uint16_t)(1u << i);
        if (!cond && !(p->alert_live & bit))
            continue;
        char subject[2 * WP_NAME_MAX + 2];
        snprintf(subject, sizeof(subject), "%s/%s", p->name, p->user);
        struct alert *a = observe(alert_rule_name(r), r, subject, cond);
        if (a == NULL) {
            p->alert_live &= (uint16_t)~bit;
            continue;
        }
        snprintf(a->database, sizeof(a->database), "%s", p->name);
        if (cond) { /* a resolve reports the numbers it fired with */
            a->value = v;
            a->extra = x1;
            a->extra2 = x2;
        }
        if (step(a, cond, now))
            p->alert_live |= bit;
        else
            p->alert_live &= (uint16_t)~bit;
    }
}

/* pg_connections_pct: per [databases] entry, from the statistics collection. */
static void eval_databases(time_t now)
{
    const struct alert_rule_conf *rc = &rt.cfg.alert_rules.rule[AR_PG_CONNECTIONS_PCT];
    for (size_t i = 0; i < rt.cfg.ndbs; i++) {
        const char *name = rt.cfg.dbs[i].name;
        long used, slots;
        double pct = 0;
        if (!rc->off && pgstats_usage(name, &used, &slots) && slots > 0)
            pct = 100.0 * (double)used / (double)slots;
        else
            used = slots = 0;
        bool cond = !rc->off && pct > (double)rc->threshold;
        struct alert *a = observe("pg_connections_pct", AR_PG_CONNECTIONS_PCT, name, cond);
        if (a == NULL)
            continue;
        snprintf(a->database, sizeof(a->database), "%s", name);
        if (cond) {
            a->value = pct;
            a->extra = (double)used;
            a->extra2 = (double)slots;
        }
        step(a, cond, now);
    }
}

/* calendar_stale: real time since each calendar's last good fetch (or since start, if never). */
static void eval_calendars(time_t now)
{
    const struct alert_rule_conf *rc = &rt.cfg.alert_rules.rule[AR_CALENDAR_STALE];
    struct calendar_status st[CALENDARS_MAX];
    int n = calendars_status(st, CALENDARS_MAX);
    time_t real = time(NULL);
    for (int i = 0; i < n; i++) {
        time_t since = st[i].last_success ? st[i].last_success : rt.start_wall;
        double age = (double)(real - since);
        bool cond = !rc->off && age > (double)rc->threshold;
        struct alert *a = observe("calendar_stale", AR_CALENDAR_STALE, st[i].name, cond);
        if (a == NULL)
            continue;
        if (cond) {
            a->value = age;
            snprintf(a->detail, sizeof(a->detail), "%s", st[i].last_error);
        }
        step(a, cond, now);
    }
}

/* alert_delivery_failing: per channel, for as long as its deliveries fail. */
static void eval_channels(time_t now)
{
    for (int ch = 0; ch < nroutes; ch++) {
        time_t since = 0;
        bool cond = channel_failing_since(ch, &since);
        struct alert *a = observe("alert_delivery_failing", AR_ALERT_DELIVERY_FAILING, channel_name(ch), cond);
        if (a == NULL)
            continue;
        if (cond)
            a->value = (double)(now - since);
        step(a, cond, now);
    }
}

/* Everything not observed in this pass: event-driven alerts (their condition is what the last event
 * said), and pool or database alerts whose subject went away (resolved). Escalation and renotify
 * timing runs for all of them here. */
static void sweep(time_t now)
{
    for (size_t i = 0; i < nlive;) {
        struct alert *a = live[i];
        if (a->seen_tick == tick_no) {
            i++;
            continue;
        }
        bool cond = a->conf_rule == AR_BACKEND_DOWN ? a->condition : false;
        if (step(a, cond, now))
            i++; /* else live[i] now holds another alert: look at it */
    }
}

void alert_tick(uint64_t now_us)
{
    if (!started || now_us - last_eval_us < EVAL_INTERVAL_US)
        return;
    last_eval_us = now_us;
    tick_no++;
    time_t now = clock_now();
    routes_refresh();
    wedding_refresh();
    struct dlist *pos;
    for (pos = pool_all()->next; pos != pool_all(); pos = pos->next)
        eval_pool(container_of(pos, struct pool, node), now_us, now);
    eval_databases(now);
    eval_calendars(now);
    eval_channels(now);
    sweep(now);
}

/* ---------------------------------------------------------------- backend events */

static void on_event(const struct wp_event *ev, void *arg)
{
    (void)arg;
    const char *rule;
    switch (ev->kind) {
    case EV_BACKEND_DOWN:
    case EV_BACKEND_UP:
        rule = "backend_down";
        break;
    case EV_CIRCUIT_OPEN:
    case EV_CIRCUIT_CLOSED:
        rule = "circuit_open";
        break;
    case EV_FAILOVER_STARTED:
    case EV_FAILOVER_FINISHED:
        rule = "failover";
        break;
    case EV_SPLIT_BRAIN:
    case EV_SPLIT_BRAIN_RESOLVED:
        rule = "split_brain";
        break;
    default:
        return;
    }
    bool by_database = ev->kind == EV_FAILOVER_STARTED || ev->kind == EV_FAILOVER_FINISHED ||
                       ev->kind == EV_SPLIT_BRAIN || ev->kind == EV_SPLIT_BRAIN_RESOLVED || ev->host[0] == '\0';
    const char *subject = by_database ? ev->database : ev->host;
    bool cond = event_mood(ev->kind) == EV_MOOD_BAD;
    struct alert *a = observe(rule, AR_BACKEND_DOWN, subject[0] ? subject : "-", cond);
    if (a == NULL)
        return;
    a->condition = cond;
    snprintf(a->database, sizeof(a->database), "%s", ev->database);
    snprintf(a->host, sizeof(a->host), "%s", ev->host);
    if (ev->detail[0] != '\0' || cond)
        snprintf(a->detail, sizeof(a->detail), "%s", ev->detail);
    routes_refresh();
    wedding_refresh();
    step(a, cond, ev->at ? ev->at : clock_now());
}

/* ---------------------------------------------------------------- deliveries */

static void on_result(const struct channel_result *r, void *arg)
{
    (void)arg;
    if ((unsigned)r->result < ALERT_RESULT_COUNT)
        results_by_kind[r->result]++;
    struct history_entry *h = history_add(clock_now(), r->key, "delivery", r->severity);
    snprintf(h->channel, sizeof(h->channel), "%s", r->channel_name);
    snprintf(h->result, sizeof(h->result), "%s", alert_result_name(r->result));
    h->http_status = r->http_status;
    h->latency_ms = r->latency_ms;
    snprintf(h->detail, sizeof(h->detail), "%s%.240s", r->resolved ? "resolve: " : "", r->detail);
    if (r->result != ALERT_SENT)
        log_warn("alert %s: delivery to %s %s (%s) after %.0f ms", r->key, r->channel_name,
                 alert_result_name(r->result), r->detail, r->latency_ms);
}

/* ---------------------------------------------------------------- ACK, views */

bool alert_ack_key(const char *key, const char *who, char *msg, size_t n)
{
    struct alert *a = find(key);
    time_t now = clock_now();
    if (a == NULL || !alert_ack(a, who, now)) {
        snprintf(msg, n, "no firing alert with key \"%s\" (SHOW ALERTS lists them)", key);
        return false;
    }
    struct history_entry *h = history_add(now, a->key, "ack", a->severity);
    snprintf(h->channel, sizeof(h->channel), "%s", who);
    snprintf(h->detail, sizeof(h->detail), "acknowledged by %s: escalation and renotification stop", who);
    log_info("alert %s acknowledged by %s", a->key, who);
    snprintf(msg, n, "alert %s acknowledged: no further escalation", a->key);
    return true;
}

static const char *phase_name(const struct alert *a)
{
    return a->phase == AP_FIRING ? (a->acked ? "acknowledged" : "firing") : "pending";
}

static void notified_names(const struct alert *a, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int ch = 0; ch < nroutes; ch++) {
        if (!(a->notified & (1u << ch)))
            continue;
        int k = snprintf(buf + len, n - len, "%s%s", len ? ", " : "", channel_name(ch));
        if (k < 0 || (size_t)k >= n - len)
            break;
        len += (size_t)k;
    }
}

const char *const alert_live_cols[] = {"key", "state", "severity", "since", "acked_by", "notified", "summary"};
const int alert_live_ncols = 7;
const char *const alert_history_cols[] = {"at", "key", "event", "severity", "channel", "result", "http_status",
                                          "latency_ms", "detail"};
const int alert_history_ncols = 9;

void alert_live_rows(alert_row_fn fn, void *arg)
{
    time_t now = clock_now();
    wedding_refresh();
    for (size_t i = 0; i < nlive; i++) {
        const struct alert *a = live[i];
        struct alert_notice nt;
        wedding_names(now);
        alert_notice_fill(a, &rt.cfg.alert_rules, &wctx, false, now, &nt);
        char since[32], told[512];
        clock_format_iso(a->phase == AP_FIRING ? a->started_at : a->pending_since, since, sizeof(since));
        notified_names(a, told, sizeof(told));
        const char *vals[] = {a->key, phase_name(a), a->phase == AP_FIRING ? alert_severity_name(a->severity) : "",
                              since, a->acked ? a->acked_by : "", told, nt.summary};
        fn(arg, vals);
    }
}

const char *const alert_rule_cols[] = {"rule", "threshold", "for_s", "enabled", "pending", "firing"};
const int alert_rule_ncols = 6;

void alert_rule_rows(alert_row_fn fn, void *arg)
{
    const struct alert_rules_conf *rc = &rt.cfg.alert_rules;
    for (int r = 0; r < AR_COUNT; r++) {
        int pending = 0, firing = 0;
        for (size_t i = 0; i < nlive; i++)
            if (live[i]->conf_rule == (enum alert_rule_id)r)
                *(live[i]->phase == AP_FIRING ? &firing : &pending) += 1;
        char b[4][24];
        snprintf(b[0], sizeof(b[0]), "%ld", rc->rule[r].threshold);
        snprintf(b[1], sizeof(b[1]), "%d", rc->rule[r].for_s);
        snprintf(b[2], sizeof(b[2]), "%d", pending);
        snprintf(b[3], sizeof(b[3]), "%d", firing);
        const char *vals[] = {alert_rule_name((enum alert_rule_id)r), b[0], b[1], rc->rule[r].off ? "no" : "yes",
                              b[2], b[3]};
        fn(arg, vals);
    }
    char m[24];
    snprintf(m, sizeof(m), "%d", rc->renotify_min);
    const char *vals[] = {"renotify_min", m, "", "", "", ""};
    fn(arg, vals);
}

void alert_history_rows(alert_row_fn fn, void *arg)
{
    for (int i = 0; i < hist_n; i++) {
        const struct history_entry *h = &history[(hist_head + i) % ALERT_HISTORY_KEPT];
        char at[32], st[24], lat[32];
        clock_format_iso(h->at, at, sizeof(at));
        snprintf(st, sizeof(st), "%ld", h->http_status);
        snprintf(lat, sizeof(lat), "%.1f", h->latency_ms);
        bool d = strcmp(h->event, "delivery") == 0;
        const char *vals[] = {at, h->key, h->event, alert_severity_name(h->severity), h->channel, h->result,
                              d ? st : "", d ? lat : "", h->detail};
        fn(arg, vals);
    }
}

static json_t *iso_json(time_t t)
{
    char buf[32];
    clock_format_iso(t, buf, sizeof(buf));
    return json_string(buf);
}

void alert_api_json(struct pbuf *out)
{
    time_t now = clock_now();
    wedding_refresh();
    json_t *alerts = json_array();
    for (size_t i = 0; i < nlive; i++) {
        const struct alert *a = live[i];
        struct alert_notice nt;
        wedding_names(now);
        alert_notice_fill(a, &rt.cfg.alert_rules, &wctx, false, now, &nt);
        json_t *told = json_array();
        for (int ch = 0; ch < nroutes; ch++)
            if (a->notified & (1u << ch))
                json_array_append_new(told, json_string(channel_name(ch)));
        json_t *o = json_pack(
            "{s:s, s:s, s:s, s:s, s:o, s:o, s:b, s:s, s:s, s:s, s:s, s:i, s:I, s:s, s:s, s:i, s:o}", "key", a->key,
            "rule", a->rule, "state", phase_name(a), "severity",
            a->phase == AP_FIRING ? alert_severity_name(a->severity) : "", "pending_since", iso_json(a->pending_since),
            "started_at", a->phase == AP_FIRING ? iso_json(a->started_at) : json_null(), "acknowledged", a->acked,
            "acked_by", a->acked_by, "summary", nt.summary, "details", nt.details, "weddings", nt.weddings,
            "active_weddings", nt.active_weddings, "guests_affected", (json_int_t)nt.guests_affected, "actions",
            nt.actions, "runbook", nt.runbook, "notify_seq", (int)a->notify_seq, "notified", told);
        if (o == NULL)
            continue;
        json_object_set_new(o, "database", json_string(a->database));
        json_object_set_new(o, "host", json_string(a->host));
        json_array_append_new(alerts, o);
    }
    json_t *hist = json_array();
    for (int i = 0; i < hist_n; i++) {
        const struct history_entry *h = &history[(hist_head + i) % ALERT_HISTORY_KEPT];
        json_t *e = json_pack("{s:o, s:s, s:s, s:s, s:s, s:s}", "at", iso_json(h->at), "key", h->key, "event",
                              h->event, "severity", alert_severity_name(h->severity), "channel", h->channel, "detail",
                              h->detail);
        if (strcmp(h->event, "delivery") == 0) {
            json_object_set_new(e, "result", json_string(h->result));
            json_object_set_new(e, "http_status", json_integer(h->http_status));
            json_object_set_new(e, "latency_ms", json_real(h->latency_ms));
        }
        json_array_append_new(hist, e);
    }
    json_t *doc = json_pack("{s:o, s:o, s:o}", "now", iso_json(now), "alerts", alerts, "history", hist);
    char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (text != NULL) {
        pbuf_put(out, text, strlen(text));
        pbuf_put(out, "\n", 1);
    }
    free(text);
    json_decref(doc);
}

void alert_prometheus(struct pbuf *out)
{
    int firing[SEV_COUNT] = {0}, pending = 0;
    for (size_t i = 0; i < nlive; i++) {
        if (live[i]->phase == AP_FIRING)
            firing[live[i]->severity]++;
        else
            pending++;
    }
    /* label values in lower case, as the severity labels of deploy/prometheus/rules.yml */
    static const char *const sev_labels[SEV_COUNT] = {"info", "warning", "high", "critical", "emergency"};
    pbuf_printf(out, "# HELP wedpool_alerts_firing Alerts firing now, by severity.\n"
                     "# TYPE wedpool_alerts_firing gauge\n");
    for (int s = 0; s < SEV_COUNT; s++)
        pbuf_printf(out, "wedpool_alerts_firing{severity=\"%s\"} %d\n", sev_labels[s], firing[s]);
    pbuf_printf(out, "# HELP wedpool_alerts_pending Alert conditions true but not yet for their for_s.\n"
                     "# TYPE wedpool_alerts_pending gauge\nwedpool_alerts_pending %d\n", pending);
}

/* ---------------------------------------------------------------- lifecycle */

void alert_start(void)
{
    if (started)
        return;
    started = true;
    events_subscribe(on_event, NULL);
    channels_on_result(on_result, NULL);
}

void alert_stop(void)
{
    if (!started)
        return;
    started = false;
    events_unsubscribe(on_event, NULL);
    channels_on_result(NULL, NULL);
    while (nlive > 0)
        destroy(live[nlive - 1]);
    free(live);
    live = NULL;
    live_cap = 0;
}
