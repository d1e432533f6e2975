/* scaler.c — the calendar drives the pool (see scaler.h). Decisions run on the loop thread once a
 * second; only the infrastructure hook (a process and/or an HTTP POST) runs on a thread of its own,
 * and its outcome is picked up by the next tick. */
#include "scaler.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "fetch.h"
#include "forecast.h"
#include "log.h"
#include "pgstats.h"
#include "pool.h"
#include "runtime.h"

#define TICK_US 1000000u
#define GROW_AFTER_US 3000000u     /* "utilisation above 70 % for a few seconds" */
#define HOOK_KEYS 64

extern char **environ;

static struct wedding_context ctx;
static bool ctx_valid;
static uint64_t last_tick_us;
static struct scaling_event events[SCALING_EVENTS_KEPT];
static int ev_head, ev_n;
static struct {
    char direction[12];
    char reason[24];
    uint64_t n;
} counters[48];
static int ncounters;
static time_t override_until;
static char override_reason[256];
static bool protected_last;
static bool calendars_seen;       /* the calendars have been read once (or there are none) */
static uint64_t started_us;
#define CALENDAR_WAIT_US 10000000u /* decide without them after this long (a source may be down) */

/* The hook: which windows it ran for, and its last outcome (written by its thread). */
static char hook_keys[HOOK_KEYS][64];
static int nhook_keys;
static pthread_mutex_t hook_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    bool running;
    bool done;          /* an outcome the loop has not logged yet */
    char outcome[512];
    bool ok;
    uint64_t runs, failures;
} hook;

static const struct wedding_list *weddings(void)
{
    static const struct wedding_list empty;
    const struct wedding_list *w = calendars_weddings();
    return w != NULL ? w : &empty;
}

void scaler_context_conf(struct context_conf *cc)
{
    context_conf_defaults(cc);
    cc->zone = rt.cfg.timezone;
    cc->ceremony_from_min = rt.cfg.ceremony_from_min;
    cc->ceremony_to_min = rt.cfg.ceremony_to_min;
}

static void pool_label(const struct pool *p, char *buf, size_t n)
{
    if (p == NULL)
        snprintf(buf, n, "-");
    else
        snprintf(buf, n, "%s/%s", p->name, p->user);
}

static int counter_index(const char *direction, const char *reason)
{
    int i;
    for (i = 0; i < ncounters; i++)
        if (strcmp(counters[i].direction, direction) == 0 && strcmp(counters[i].reason, reason) == 0)
            return i;
    if (ncounters == (int)ARRAY_SIZE(counters))
        return -1;
    snprintf(counters[i].direction, sizeof(counters[i].direction), "%s", direction);
    snprintf(counters[i].reason, sizeof(counters[i].reason), "%s", reason);
    counters[i].n = 0;
    ncounters++;
    return i;
}

static void record(const struct pool *p, const char *direction, const char *reason, int from, int to,
                   const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void record(const struct pool *p, const char *direction, const char *reason, int from, int to,
                   const char *fmt, ...)
{
    struct scaling_event *e = &events[(ev_head + ev_n) % SCALING_EVENTS_KEPT];
    if (ev_n == SCALING_EVENTS_KEPT)
        ev_head = (ev_head + 1) % SCALING_EVENTS_KEPT;
    else
        ev_n++;
    memset(e, 0, sizeof(*e));
    e->at = clock_now();
    pool_label(p, e->pool, sizeof(e->pool));
    snprintf(e->direction, sizeof(e->direction), "%s", direction);
    snprintf(e->reason, sizeof(e->reason), "%s", reason);
    e->from = from;
    e->to = to;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->why, sizeof(e->why), fmt, ap);
    va_end(ap);
    int i = counter_index(direction, reason);
    if (i >= 0)
        counters[i].n++;
    log_info("scaling: %s %s (%s) %d -> %d: %s", e->pool, direction, reason, from, to, e->why);
}

int scaler_events(const struct scaling_event **out, int max)
{
    int n = 0;
    for (int i = 0; i < ev_n && n < max; i++)
        out[n++] = &events[(ev_head + i) % SCALING_EVENTS_KEPT];
    return n;
}

const struct wedding_context *scaler_context(void)
{
    return &ctx;
}

bool scaler_override_active(time_t *until, const char **reason)
{
    if (override_until == 0 || clock_now() >= override_until)
        return false;
    if (until != NULL)
        *until = override_until;
    if (reason != NULL)
        *reason = override_reason;
    return true;
}

/* The weddings in progress, by name, for messages. */
static void active_names(char *buf, size_t n)
{
    const struct wedding_list *w = weddings();
    time_t now = clock_now();
    size_t used = 0;
    int shown = 0, more = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < w->n; i++) {
        const struct wedding *x = &w->items[i];
        if (x->start > now || x->end <= now)
            continue;
        if (shown == 4) {
            more++;
            continue;
        }
        int k = snprintf(buf + used, n - used, "%s\"%s\" (%d guests)", shown > 0 ? ", " : "", x->name, x->guests);
        if (k < 0 || (size_t)k >= n - used)
            break;
        used += (size_t)k;
        shown++;
    }
    if (more > 0 && used < n)
        snprintf(buf + used, n - used, " and %d more", more);
}

bool scaler_protected(char *why, size_t n)
{
    if (why != NULL && n > 0)
        why[0] = '\0';
    const char *reason;
    time_t until;
    bool on = ctx.active_weddings > 0 ||
              (rt.cfg.wedding_protection == PROTECT_WEDDING_DAY && ctx.wedding_day && ctx.ceremony_hours);
    if (!on)
        return false;
    if (scaler_override_active(&until, &reason)) {
        if (why != NULL) {
            char at[32];
            clock_format_iso(until, at, sizeof(at));
            snprintf(why, n, "protection overridden until %s: %s", at, reason);
        }
        return false;
    }
    if (why != NULL) {
        char names[400];
        active_names(names, sizeof(names));
        if (ctx.active_weddings > 0)
            snprintf(why, n, "%d wedding(s) in progress: %s", ctx.active_weddings, names);
        else
            snprintf(why, n, "a wedding day, in ceremony hours (wedding_protection = wedding_day)");
    }
    return true;
}

int scaler_base(const struct pool *p)
{
    if (rt.cfg.forecast_base_connections > 0)
        return rt.cfg.forecast_base_connections;
    return p->conf_min_size > 0 ? p->conf_min_size : 1;
}

/* The most connections the pool may grow to: scale_max_pool_size (0: no growth above max_pool_size,
 * which stays a hard cap until an operator allows more; seed 002 suggests 3x for wedding days) and
 * what PostgreSQL has room for. Never below the configured size. */
static int pool_ceiling(const struct pool *p)
{
    int c = rt.cfg.scale_max_pool_size > 0 ? rt.cfg.scale_max_pool_size : p->conf_max_size;
    long room;
    if (pgstats_room(p->db.name, &room)) {
        long pg = pool_server_total(p) + (room > 0 ? room : 0);
        if (pg < c)
            c = (int)pg;
    }
    return c < p->conf_max_size ? p->conf_max_size : c;
}

static bool manual_active(const struct pool *p)
{
    return p->manual_max > 0 && clock_now() < p->manual_until;
}

void scaler_pool_sizes(struct pool *p)
{
    bool prot = scaler_protected(NULL, 0);
    int want = p->conf_max_size;
    if (p->scale_max > want)
        want = p->scale_max;
    if (p->warm_target > want)
        want = p->warm_target;
    int cap = pool_ceiling(p);
    if (want > cap)
        want = cap;
    if (manual_active(p))
        want = p->manual_max;
    if (prot && want < p->max_size)
        want = p->max_size; /* no capacity cut while a wedding is on */
    p->max_size = want;
    int mn = p->conf_min_size;
    if (p->warm_target > mn)
        mn = p->warm_target < p->max_size ? p->warm_target : p->max_size;
    if (prot && mn < p->min_size)
        mn = p->min_size;
    p->min_size = mn;
}

/* ---------------------------------------------------------------- the hook */

struct hook_job {
    char argv_text[1024];
    char url[512];
    int timeout_ms;
    char *json;
};

static void hook_set(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void hook_set(bool ok, const char *fmt, ...)
{
    pthread_mutex_lock(&hook_lock);
    va_list ap;
    va_start(ap, fmt);
    size_t used = strlen(hook.outcome);
    if (used > 0 && used + 2 < sizeof(hook.outcome)) {
        memcpy(hook.outcome + used, "; ", 3);
        used += 2;
    }
    vsnprintf(hook.outcome + used, sizeof(hook.outcome) - used, fmt, ap);
    va_end(ap);
    hook.ok = hook.ok && ok;
    pthread_mutex_unlock(&hook_lock);
}

static void run_command(struct hook_job *j)
{
    char *args[64];
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(j->argv_text, " \t", &save); t != NULL && n < 63; t = strtok_r(NULL, " \t", &save))
        args[n++] = t;
    args[n] = NULL;
    if (n == 0)
        return;
    int in[2];
    if (pipe2(in, O_CLOEXEC) != 0) {
        hook_set(false, "scale_hook: pipe: %s", strerror(errno));
        return;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    pid_t pid;
    int rc = posix_spawn(&pid, args[0], &fa, NULL, args, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    if (rc != 0) {
        close(in[1]);
        hook_set(false, "scale_hook %s: cannot run: %s", args[0], strerror(rc));
        return;
    }
    size_t len = strlen(j->json), off = 0;
    signal(SIGPIPE, SIG_IGN);
    while (off < len) {
        ssize_t k = write(in[1], j->json + off, len - off);
        if (k <= 0)
            break;
        off += (size_t)k;
    }
    close(in[1]);
    int status = 0, waited = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (waited >= j->timeout_ms) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            hook_set(false, "scale_hook %s: killed after scale_hook_timeout_ms=%d", args[0], j->timeout_ms);
            return;
        }
        poll(NULL, 0, 20);
        waited += 20;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        hook_set(true, "scale_hook %s: exit 0", args[0]);
    else if (WIFEXITED(status))
        hook_set(false, "scale_hook %s: exit %d", args[0], WEXITSTATUS(status));
    else
        hook_set(false, "scale_hook %s: killed by signal %d", args[0], WTERMSIG(status));
}

static void run_webhook(struct hook_job *j)
{
    CURL *h = curl_easy_init();
    if (h == NULL) {
        hook_set(false, "scale_webhook: curl init failed");
        return;
    }
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, j->url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, j->json);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)j->timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode rc = curl_easy_perform(h);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    if (rc != CURLE_OK)
        hook_set(false, "scale_webhook: %s", curl_easy_strerror(rc));
    else
        hook_set(code >= 200 && code < 300, "scale_webhook: HTTP %ld", code);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
}

static void *hook_thread(void *arg)
{
    struct hook_job *j = arg;
    if (j->argv_text[0] != '\0')
        run_command(j);
    if (j->url[0] != '\0')
        run_webhook(j);
    pthread_mutex_lock(&hook_lock);
    hook.running = false;
    hook.done = true;
    hook.runs++;
    if (!hook.ok)
        hook.failures++;
    pthread_mutex_unlock(&hook_lock);
    free(j->json);
    free(j);
    return NULL;
}

static bool hook_ran_for(const char *key)
{
    for (int i = 0; i < nhook_keys; i++)
        if (strcmp(hook_keys[i], key) == 0)
            return true;
    return false;
}

static void json_str(struct pbuf *b, const char *s)
{
    pbuf_put_u8(b, '"');
    for (; *s; s++) {
        char esc[8];
        if (*s == '"' || *s == '\\') {
            esc[0] = '\\';
            esc[1] = *s;
            pbuf_put(b, esc, 2);
        } else if ((unsigned char)*s < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", (unsigned char)*s);
            pbuf_put(b, esc, 6);
        } else {
            pbuf_put_u8(b, (uint8_t)*s);
        }
    }
    pbuf_put_u8(b, '"');
}


/* Looks ahead infra_lead_s: when the forecast needs more connections than the pools' ceilings, the
 * hook runs, once per window, so automation can add capacity before protection freezes changes. */
static void hook_check(time_t now)
{
    if ((rt.cfg.scale_hook[0] == '\0' && rt.cfg.scale_webhook[0] == '\0') || rt.cfg.infra_lead_s <= 0)
        return;
    pthread_mutex_lock(&hook_lock);
    bool busy = hook.running;
    pthread_mutex_unlock(&hook_lock);
    if (busy)
        return;
    struct context_conf cc;
    scaler_context_conf(&cc);
    const struct wedding_list *w = weddings();
    for (time_t t = now; t <= now + rt.cfg.infra_lead_s; t += 900) {
        struct forecast_step st;
        forecast_at(&rt.cfg.forecast, &cc, w, t, &st);
        if (st.multiplier <= 1.0 && st.wedding_load == 0)
            continue;
        int needed = 0, capacity = 0;
        struct dlist *pos;
        for (pos = pool_all()->next; pos != pool_all(); pos = pos->next) {
            struct pool *p = container_of(pos, struct pool, node);
            needed += forecast_connections(&st, scaler_base(p));
            capacity += pool_ceiling(p);
        }
        if (needed <= capacity)
            continue;
        struct local_time lt;
        char key[64];
        if (!clock_local(t, rt.cfg.timezone, &lt))
            memset(&lt, 0, sizeof(lt));
        snprintf(key, sizeof(key), "%04d-%02d-%02d:%.40s", lt.year, lt.month, lt.mday, st.why);
        char *colon_x = strchr(key + 11, ' ');
        if (colon_x != NULL)
            *colon_x = '\0'; /* the window's name: one run per window and day */
        if (hook_ran_for(key))
            return;
        if (nhook_keys == HOOK_KEYS) {
            memmove(hook_keys[0], hook_keys[1], sizeof(hook_keys[0]) * (HOOK_KEYS - 1));
            nhook_keys--;
        }
        snprintf(hook_keys[nhook_keys++], sizeof(hook_keys[0]), "%s", key);
        /* Will protection be on by then? A wedding in progress at t freezes capacity changes. */
        bool protect_then = false;
        for (size_t i = 0; i < w->n; i++)
            if (w->items[i].start <= t && t < w->items[i].end)
                protect_then = true;
        struct pbuf j;
        pbuf_init(&j);
        char at[32], nowtxt[32];
        clock_format_iso(t, at, sizeof(at));
        clock_format_iso(now, nowtxt, sizeof(nowtxt));
        pbuf_printf(&j, "{\"event\":\"capacity_needed\",\"now\":\"%s\",\"at\":\"%s\",\"needed_connections\":%d,"
                    "\"capacity_connections\":%d,\"pg_max_connections_needed\":%d,\"multiplier\":%.2f,"
                    "\"protection_expected\":%s,\"why\":",
                nowtxt, at, needed, capacity, needed + 3, st.multiplier, protect_then ? "true" : "false");
        json_str(&j, st.why);
        pbuf_printf(&j, ",\"pools\":[");
        bool first = true;
        for (pos = pool_all()->next; pos != pool_all(); pos = pos->next) {
            struct pool *p = container_of(pos, struct pool, node);
            char label[140];
            pool_label(p, label, sizeof(label));
            pbuf_printf(&j, "%s{\"pool\":", first ? "" : ",");
            json_str(&j, label);
            pbuf_printf(&j, ",\"predicted_connections\":%d,\"ceiling\":%d}", forecast_connections(&st, scaler_base(p)),
                    pool_ceiling(p));
            first = false;
        }
        pbuf_printf(&j, "]}\n");
        struct hook_job *job = calloc(1, sizeof(*job));
        char *json = j.failed ? NULL : strndup((const char *)j.data, j.len);
        pbuf_free(&j);
        if (job == NULL || json == NULL) {
            free(job);
            free(json);
            log_error("scaling: out of memory preparing the scale hook");
            return;
        }
        snprintf(job->argv_text, sizeof(job->argv_text), "%s", rt.cfg.scale_hook);
        snprintf(job->url, sizeof(job->url), "%s", rt.cfg.scale_webhook);
        job->timeout_ms = rt.cfg.scale_hook_timeout_ms;
        job->json = json;
        record(NULL, "hook", "window", capacity, needed, "forecast at %s needs %d connections, the ceilings allow %d "
               "(%s); protection then: %s", at, needed, capacity, st.why, protect_then ? "yes" : "no");
        pthread_mutex_lock(&hook_lock);
        hook.running = true;
        hook.ok = true;
        hook.outcome[0] = '\0';
        pthread_mutex_unlock(&hook_lock);
        pthread_t th;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&th, &attr, hook_thread, job) != 0) {
            pthread_mutex_lock(&hook_lock);
            hook.running = false;
            pthread_mutex_unlock(&hook_lock);
            free(job->json);
            free(job);
            log_error("scaling: cannot start the scale hook thread");
        }
        pthread_attr_destroy(&attr);
        return;
    }
}

static void hook_report(void)
{
    pthread_mutex_lock(&hook_lock);
    bool done = hook.done;
    bool ok = hook.ok;
    char outcome[512];
    snprintf(outcome, sizeof(outcome), "%s", hook.outcome);
    hook.done = false;
    pthread_mutex_unlock(&hook_lock);
    if (!done)
        return;
    if (ok)
        log_info("scaling: infrastructure hook done: %s", outcome);
    else
        log_error("scaling: infrastructure hook failed: %s", outcome);
}

/* ---------------------------------------------------------------- the tick */

static bool pool_incident(uint64_t now)
{
    struct dlist *pos;
    for (pos = pool_all()->next; pos != pool_all(); pos = pos->next) {
        struct pool *p = container_of(pos, struct pool, node);
        if (p->n_reserve_active > 0 || pool_max_wait_us(p, now) > 1000000u)
            return true;
    }
    return false;
}

static void update_context(time_t now, uint64_t mono)
{
    struct context_conf cc;
    scaler_context_conf(&cc);
    struct wedding_context c;
    wedding_context_compute(weddings(), now, &cc, pool_incident(mono), &c);
    if (!ctx_valid || c.criticality != ctx.criticality)
        log_info("wedding context: criticality %s (%d wedding(s) in progress, %d today, %d in the next 24 h, "
                 "%d guests affected)", criticality_name(c.criticality), c.active_weddings, c.weddings_today,
                 c.weddings_next_24h, c.guests_affected);
    bool boosts_changed = !ctx_valid || c.wedding_day != rt.wedding_day ||
                          (c.active_weddings > 0) != (rt.active_weddings > 0);
    ctx = c;
    ctx_valid = true;
    rt.wedding_day = c.wedding_day;
    rt.active_weddings = c.active_weddings;
    if (boosts_changed)
        pool_rekey_waiters(); /* lane boosts changed: waiters already queued move */
}

/* The warm target at t before the ceiling, with the step that sets it. */
static int warm_target_uncapped(const struct pool *p, const struct wedding_list *w, time_t t, time_t *peak_at,
                                struct forecast_step *peak)
{
    struct context_conf cc;
    scaler_context_conf(&cc);
    int wt = forecast_warm_target(&rt.cfg.forecast, &cc, w, t, rt.cfg.prewarm_lead_s, scaler_base(p), peak_at, peak);
    if (peak->multiplier <= 1.0 && peak->wedding_load == 0)
        wt = 0; /* an ordinary hour: min_pool_size alone says what stays open */
    return wt;
}

int scaler_warm_target_at(const struct pool *p, const struct wedding_list *w, time_t t)
{
    struct forecast_step peak;
    time_t at;
    int wt = warm_target_uncapped(p, w, t, &at, &peak);
    int cap = pool_ceiling(p);
    return wt > cap ? cap : wt;
}

void scaler_forecast_total(const struct wedding_list *w, time_t t, struct forecast_step *st, int *predicted,
                           int *warm)
{
    struct context_conf cc;
    scaler_context_conf(&cc);
    forecast_at(&rt.cfg.forecast, &cc, w, t, st);
    int pr = 0, wt = 0;
    struct dlist *pos;
    for (pos = pool_all()->next; pos != pool_all(); pos = pos->next) {
        struct pool *p = container_of(pos, struct pool, node);
        pr += forecast_connections(st, scaler_base(p));
        if (warm != NULL)
            wt += scaler_warm_target_at(p, w, t);
    }
    if (predicted != NULL)
        *predicted = pr;
    if (warm != NULL)
        *warm = wt;
}

static void forecast_pool(struct pool *p, time_t now, bool prot)
{
    struct forecast_step peak;
    time_t peak_at = now;
    int want = warm_target_uncapped(p, weddings(), now, &peak_at, &peak);
    int cap = pool_ceiling(p);
    int wt = want > cap ? cap : want;
    if (wt == p->warm_target)
        return;
    char at[32];
    clock_format_iso(peak_at, at, sizeof(at));
    if (wt > p->warm_target) {
        record(p, "prewarm", "forecast", p->warm_target, wt, "%d connections predicted at %s%s: %s", want, at,
               want > cap ? " (capped at the ceiling)" : "", peak.why);
    } else if (prot) {
        return; /* the warm target may not fall while a wedding is on */
    } else if (want > wt) {
        record(p, "shrink", "ceiling", p->warm_target, wt, "the ceiling is now %d (the forecast wants %d)", cap, want);
    } else {
        record(p, "shrink", "forecast", p->warm_target, wt, "the forecast falls to %d: %s", wt, peak.why);
    }
    p->warm_target = wt;
}

/* Predicted against observed, per 15-minute step: 1 - |predicted - observed| / max(both), averaged
 * over the steps where a window or a wedding raised the forecast (seed 001 claims > 85 %). */
static void score_forecast(struct pool *p, time_t now)
{
    time_t step = now - now % 900;
    if (p->n_active > p->window_peak)
        p->window_peak = p->n_active;
    if (p->step_start == step)
        return;
    if (p->step_start != 0 && p->step_in_window) {
        double pr = p->step_predicted, ob = p->window_peak;
        double top = pr > ob ? pr : ob;
        p->accuracy_sum += 1.0 - fabs(pr - ob) / (top > 1 ? top : 1);
        p->accuracy_steps++;
    }
    struct context_conf cc;
    scaler_context_conf(&cc);
    struct forecast_step st;
    forecast_at(&rt.cfg.forecast, &cc, weddings(), step, &st);
    p->step_start = step;
    p->step_predicted = forecast_connections(&st, scaler_base(p));
    p->step_in_window = st.multiplier > 1.0 || st.wedding_load > 0;
    p->window_peak = p->n_active;
}

static void react_pool(struct pool *p, uint64_t mono, bool prot)
{
    const struct wp_config *cfg = &rt.cfg;
    int active = p->n_active - p->n_reserve_active;
    int waiting = p->n_waiting - p->n_login_wait;
    int util = p->max_size > 0 ? active * 100 / p->max_size : 100;
    if (util >= cfg->scale_up_utilization_pct || (waiting > 0 && active >= p->max_size)) {
        p->low_since_us = 0;
        if (p->high_since_us == 0) {
            p->high_since_us = mono;
            return;
        }
        if (mono - p->high_since_us < GROW_AFTER_US)
            return;
        p->high_since_us = mono;
        int cap = pool_ceiling(p);
        int want = (int)ceil((double)(active + waiting) * 100.0 / cfg->scale_target_utilization_pct);
        if (want <= p->max_size)
            want = p->max_size + 1;
        if (want > cap)
            want = cap;
        if (want <= p->max_size || manual_active(p))
            return;
        record(p, "grow", "utilization", p->max_size, want, "%d%% of %d in use (%d waiting) for %.0f s, above "
               "scale_up_utilization_pct=%d; aiming under %d%%", util, p->max_size, waiting,
               GROW_AFTER_US / 1e6, cfg->scale_up_utilization_pct, cfg->scale_target_utilization_pct);
        p->scale_max = want;
        scaler_pool_sizes(p);
        pool_resume_all(); /* waiters may take the new room */
        return;
    }
    p->high_since_us = 0;
    if (util * 2 >= cfg->scale_up_utilization_pct || p->scale_max == 0) {
        p->low_since_us = 0;
        return;
    }
    if (p->low_since_us == 0) {
        p->low_since_us = mono;
        return;
    }
    if (mono - p->low_since_us < (uint64_t)cfg->scale_down_after_s * 1000000u)
        return;
    p->low_since_us = mono;
    if (prot) {
        record(p, "refused", "protection", p->max_size, p->max_size, "low use for %d s, but no shrinking while "
               "protected", cfg->scale_down_after_s);
        return;
    }
    int floor_ = (int)ceil((double)active * 100.0 / cfg->scale_target_utilization_pct);
    int to = p->scale_max - (p->scale_max - p->conf_max_size + 1) / 2; /* halfway back each step */
    if (to < floor_)
        to = floor_;
    if (to <= p->conf_max_size)
        to = 0;
    record(p, "shrink", "low_use", p->max_size, to > 0 ? to : p->conf_max_size, "under %d%% for %d s",
           cfg->scale_up_utilization_pct / 2, cfg->scale_down_after_s);
    p->scale_max = to;
}

void scaler_tick(uint64_t now_us_)
{
    if (last_tick_us != 0 && now_us_ - last_tick_us < TICK_US)
        return;
    if (!calendars_seen && now_us_ - started_us < CALENDAR_WAIT_US)
        return; /* no decision on an empty calendar that is still being read */
    calendars_seen = true;
    last_tick_us = now_us_;
    time_t now = clock_now();
    update_context(now, now_us_);
    char why[512];
    bool prot = scaler_protected(why, sizeof(why));
    if (prot != protected_last) {
        if (prot)
            log_warn("wedding protection ON: %s; no capacity is cut until it ends", why);
        else
            log_info("wedding protection off%s%s", why[0] ? ": " : "", why);
        protected_last = prot;
    }
    struct dlist *pos;
    for (pos = pool_all()->next; pos != pool_all(); pos = pos->next) {
        struct pool *p = container_of(pos, struct pool, node);
        if (p->manual_max > 0 && !manual_active(p)) {
            record(p, "manual", "expired", p->manual_max, p->conf_max_size, "SCALE period over");
            p->manual_max = 0;
        }
        forecast_pool(p, now, prot);
        react_pool(p, now_us_, prot);
        scaler_pool_sizes(p);
        score_forecast(p, now);
    }
    hook_check(now);
    hook_report();
}

/* ---------------------------------------------------------------- operators */

bool scaler_override(int minutes, const char *reason, const char *who, char *msg, size_t n)
{
    if (minutes <= 0 || minutes > 24 * 60) {
        snprintf(msg, n, "PROTECTION OVERRIDE needs a duration of 1 to 1440 minutes");
        return false;
    }
    if (reason == NULL || reason[0] == '\0') {
        snprintf(msg, n, "PROTECTION OVERRIDE needs a reason: PROTECTION OVERRIDE <minutes> '<reason>'");
        return false;
    }
    override_until = clock_now() + (time_t)minutes * 60;
    snprintf(override_reason, sizeof(override_reason), "%s (by %s)", reason, who);
    char at[32];
    clock_format_iso(override_until, at, sizeof(at));
    record(NULL, "override", "operator", 0, minutes, "protection overridden until %s: %s", at, override_reason);
    log_warn("wedding protection OVERRIDDEN by %s for %d minutes (until %s): %s", who, minutes, at, reason);
    snprintf(msg, n, "protection overridden until %s", at);
    return true;
}

bool scaler_manual(const char *database, const char *user, int size, int minutes, const char *who, char *msg,
                   size_t n)
{
    if (size < 1 || size > 100000) {
        snprintf(msg, n, "SCALE: size must be 1 to 100000");
        return false;
    }
    if (minutes <= 0)
        minutes = 60;
    int matched = 0;
    struct dlist *pos;
    char why[512];
    bool prot = scaler_protected(why, sizeof(why));
    for (pos = pool_all()->next; pos != pool_all(); pos = pos->next) {
        struct pool *p = container_of(pos, struct pool, node);
        if (strcmp(p->name, database) != 0 || (user != NULL && user[0] != '\0' && strcmp(p->user, user) != 0))
            continue;
        if (prot && size < p->max_size) {
            snprintf(msg, n, "SCALE would cut %s/%s from %d to %d while protected (%s); use PROTECTION OVERRIDE "
                     "<minutes> '<reason>' first", p->name, p->user, p->max_size, size, why);
            return false;
        }
        matched++;
    }
    if (matched == 0) {
        snprintf(msg, n, "SCALE: no pool of database \"%s\"%s%s", database, user != NULL && user[0] ? " user " : "",
                 user != NULL ? user : "");
        return false;
    }
    for (pos = pool_all()->next; pos != pool_all(); pos = pos->next) {
        struct pool *p = container_of(pos, struct pool, node);
        if (strcmp(p->name, database) != 0 || (user != NULL && user[0] != '\0' && strcmp(p->user, user) != 0))
            continue;
        int from = p->max_size;
        p->manual_max = size;
        p->manual_until = clock_now() + (time_t)minutes * 60;
        scaler_pool_sizes(p);
        record(p, "manual", "operator", from, p->max_size, "SCALE by %s for %d minutes", who, minutes);
    }
    pool_resume_all();
    snprintf(msg, n, "SCALE: %d pool(s) of \"%s\" set to %d for %d minutes", matched, database, size, minutes);
    return true;
}

/* Capacity a config gives a database (max + min sizes), for the reload check. */
bool scaler_reload_allowed(const struct wp_config *running, const struct wp_config *fresh, char *err, size_t errlen)
{
    char why[512];
    if (!scaler_protected(why, sizeof(why)))
        return true;
    char cut[512] = "";
    size_t used = 0;
#define CUT(...)                                                                                                     \
    do {                                                                                                             \
        if (used < sizeof(cut)) {                                                                                    \
            int k_ = snprintf(cut + used, sizeof(cut) - used, "%s", used ? "; " : "");                              \
            used += k_ > 0 ? (size_t)k_ : 0;                                                                         \
            k_ = used < sizeof(cut) ? snprintf(cut + used, sizeof(cut) - used, __VA_ARGS__) : 0;                     \
            used += k_ > 0 ? (size_t)k_ : 0;                                                                         \
        }                                                                                                            \
    } while (0)
    if (fresh->reserve_pool_size < running->reserve_pool_size)
        CUT("reserve_pool_size %d -> %d", running->reserve_pool_size, fresh->reserve_pool_size);
    if (fresh->max_client_conn < running->max_client_conn)
        CUT("max_client_conn %d -> %d", running->max_client_conn, fresh->max_client_conn);
    for (size_t i = 0; i < running->ndbs; i++) {
        const struct wp_database *old = &running->dbs[i];
        const struct wp_database *db = config_find_db(fresh, old->name);
        if (db == NULL) {
            CUT("database %s removed", old->name);
            continue;
        }
        int om = config_db_max_pool(running, old), nm = config_db_max_pool(fresh, db);
        int on = config_db_min_pool(running, old), nn = config_db_min_pool(fresh, db);
        if (nm < om)
            CUT("%s max_pool_size %d -> %d", old->name, om, nm);
        if (nn < on)
            CUT("%s min_pool_size %d -> %d", old->name, on, nn);
    }
    for (int i = 0; i < running->lanes.nlanes; i++)
        if (lanes_find(&fresh->lanes, running->lanes.lanes[i].name) < 0)
            CUT("lane %s removed", running->lanes.lanes[i].name);
#undef CUT
    if (used == 0)
        return true;
    snprintf(err, errlen, "reload refused: it would cut capacity (%s) while protected: %s. Nothing was applied. To "
             "cut capacity anyway: PROTECTION OVERRIDE <minutes> '<reason>' in the admin console, then RELOAD",
             cut, why);
    record(NULL, "refused", "protection", 0, 0, "reload would cut capacity: %s", cut);
    return false;
}

/* ---------------------------------------------------------------- lifecycle and metrics */

static void on_calendars(void *arg)
{
    (void)arg;
    calendars_seen = true;
    last_tick_us = 0; /* act on the new calendar at the next janitor tick */
}

bool scaler_start(char *err, size_t errlen)
{
    /* the usual decisions exist from the start, at 0, so rates and alerts have a series */
    static const char *const usual[][2] = {{"prewarm", "forecast"}, {"grow", "utilization"}, {"shrink", "forecast"},
                                          {"shrink", "low_use"}, {"refused", "protection"}, {"hook", "window"}};
    for (size_t i = 0; i < ARRAY_SIZE(usual); i++)
        counter_index(usual[i][0], usual[i][1]);
    started_us = now_us();
    calendars_seen = rt.cfg.ncalendars == 0;
    if (!calendars_start(rt.cfg.calendars, rt.cfg.ncalendars, rt.cfg.timezone, rt.cfg.calendar_horizon_days,
                         on_calendars, NULL, err, errlen))
        return false;
    if (calendars_seen)
        scaler_tick(now_us());
    return true;
}

void scaler_stop(void)
{
    calendars_stop();
}

void scaler_config_changed(void)
{
    calendars_reload(rt.cfg.calendars, rt.cfg.ncalendars, rt.cfg.timezone);
    last_tick_us = 0;
    scaler_tick(now_us());
}


void scaler_prometheus(struct pbuf *b)
{
    time_t until;
    const char *reason;
    struct {
        const char *name, *help;
        double v;
    } g[] = {
        {"wedpool_wedding_day", "1 on a local day with a wedding in the calendar.", ctx.wedding_day},
        {"wedpool_active_weddings", "Weddings in progress now.", ctx.active_weddings},
        {"wedpool_weddings_today", "Weddings on today's local date.", ctx.weddings_today},
        {"wedpool_weddings_next_24h", "Weddings starting in the next 24 hours.", ctx.weddings_next_24h},
        {"wedpool_guests_affected", "Guests of the weddings in progress.", ctx.guests_affected},
        {"wedpool_wedding_criticality", "1 ROUTINE, 2 ELEVATED, 3 HIGH, 4 CRITICAL, 5 EMERGENCY.", ctx.criticality},
        {"wedpool_peak_season", "1 in peak season (May-October).", ctx.peak_season},
        {"wedpool_ceremony_window_active", "1 in ceremony hours (local, ceremony_hours).", ctx.ceremony_hours},
        {"wedpool_protection_active", "1 while capacity is protected (no cuts).", scaler_protected(NULL, 0)},
        {"wedpool_protection_override_active", "1 while an operator's PROTECTION OVERRIDE is in force.",
         scaler_override_active(&until, &reason)},
        {"wedpool_clock_speed", "How fast the calendar clock runs (1 unless WEDPOOL_CLOCK_SPEED is set).",
         clock_speed()},
    };
    for (size_t i = 0; i < ARRAY_SIZE(g); i++)
        pbuf_printf(b, "# HELP %s %s\n# TYPE %s gauge\n%s %g\n", g[i].name, g[i].help, g[i].name, g[i].name, g[i].v);
    pbuf_printf(b, "# HELP wedpool_scaling_events_total Scaling decisions by direction and reason.\n"
            "# TYPE wedpool_scaling_events_total counter\n");
    for (int i = 0; i < ncounters; i++)
        pbuf_printf(b, "wedpool_scaling_events_total{direction=\"%s\",reason=\"%s\"} %llu\n", counters[i].direction,
             counters[i].reason, (unsigned long long)counters[i].n);
    static const struct {
        const char *name, *help;
    } fam[] = {
        {"wedpool_forecast_predicted_connections", "Connections the forecast predicts for the current 15-minute step."},
        {"wedpool_forecast_observed_peak_connections", "Highest server connections in use so far in that step."},
        {"wedpool_forecast_accuracy_ratio", "Mean of 1 - |predicted - observed| / max over completed steps in windows."},
        {"wedpool_forecast_scored_steps", "Completed 15-minute steps in windows that the accuracy averages."},
    };
    for (size_t f = 0; f < ARRAY_SIZE(fam); f++) {
        pbuf_printf(b, "# HELP %s %s\n# TYPE %s gauge\n", fam[f].name, fam[f].help, fam[f].name);
        struct dlist *pos;
        for (pos = pool_all()->next; pos != pool_all(); pos = pos->next) {
            struct pool *p = container_of(pos, struct pool, node);
            char db[WP_NAME_MAX * 2 + 1], user[WP_NAME_MAX * 2 + 1];
            prom_label_escape(p->name, db, sizeof(db));
            prom_label_escape(p->user, user, sizeof(user));
            double v = f == 0 ? p->step_predicted : f == 1 ? p->window_peak
                     : f == 2 ? (p->accuracy_steps > 0 ? p->accuracy_sum / p->accuracy_steps : 0) : p->accuracy_steps;
            if (f == 2 && p->accuracy_steps == 0)
                continue; /* nothing scored yet: no number rather than a false 0 */
            pbuf_printf(b, "%s{database=\"%s\",user=\"%s\"} %g\n", fam[f].name, db, user, v);
        }
    }
    pthread_mutex_lock(&hook_lock);
    uint64_t runs = hook.runs, failures = hook.failures;
    pthread_mutex_unlock(&hook_lock);
    pbuf_printf(b, "# HELP wedpool_scale_hook_runs_total Infrastructure hook runs, and those that failed.\n"
            "# TYPE wedpool_scale_hook_runs_total counter\nwedpool_scale_hook_runs_total{result=\"ok\"} %llu\n"
            "wedpool_scale_hook_runs_total{result=\"failed\"} %llu\n",
         (unsigned long long)(runs - failures), (unsigned long long)failures);
}
