/* admin.c — the admin console: the virtual database "wedpool" speaking simple-query protocol. */
#include "admin.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alert.h"
#include "channels.h"
#include "backend.h"
#include "client.h"
#include "clock.h"
#include "fetch.h"
#include "forecast.h"
#include "log.h"
#include "msg.h"
#include "pin.h"
#include "pool.h"
#include "runtime.h"
#include "scaler.h"

#define MAX_COLS 24

/* A result set under construction: text columns only. */
struct result {
    struct client *c;
    int ncols;
    int nrows;
};

static void result_begin(struct result *r, struct client *c, const char *const *cols, int ncols)
{
    r->c = c;
    r->ncols = ncols;
    r->nrows = 0;
    proto_row_description(&c->conn.out, cols, ncols);
}

static void result_row(struct result *r, const char *const *vals)
{
    proto_data_row(&r->c->conn.out, vals, r->ncols);
    r->nrows++;
}

static void result_end(struct result *r, const char *tag)
{
    char t[64];
    snprintf(t, sizeof(t), "%s %d", tag, r->nrows);
    proto_command_complete(&r->c->conn.out, t);
}

static const char *u64s(char *buf, uint64_t v)
{
    snprintf(buf, 24, "%llu", (unsigned long long)v);
    return buf;
}

static const char *ints(char *buf, long long v)
{
    snprintf(buf, 24, "%lld", v);
    return buf;
}

static const char *dbls(char *buf, double v)
{
    snprintf(buf, 32, "%.0f", v);
    return buf;
}

static void show_pools(struct client *c)
{
    static const char *const cols[] = {"database", "user", "cl_active", "cl_waiting", "sv_active", "sv_idle",
                                       "sv_used", "sv_login", "maxwait", "maxwait_us", "pool_mode",
                                       "min_pool_size", "max_pool_size"};
    struct result r;
    result_begin(&r, c, cols, (int)ARRAY_SIZE(cols));
    uint64_t now = now_us();
    struct dlist *pos;
    for (pos = pool_all()->next; pos != pool_all(); pos = pos->next) {
        struct pool *p = container_of(pos, struct pool, node);
        char b[12][32];
        uint64_t maxwait = pool_max_wait_us(p, now);
        const char *vals[] = {p->name,
                              p->user,
                              ints(b[0], p->n_cl_active + p->n_cl_idle),
                              ints(b[1], p->n_waiting),
                              ints(b[2], p->n_active),
                              ints(b[3], p->n_idle),
                              ints(b[4], p->n_reset),
                              ints(b[5], p->n_login),
                              u64s(b[6], maxwait / 1000000u),
                              u64s(b[7], maxwait % 1000000u),
                              config_pool_mode_name(p->mode),
                              ints(b[8], p->min_size),
                              ints(b[9], p->max_size)};
        result_row(&r, vals);
    }
    result_end(&r, "SHOW");
}

static void show_client_row(struct result *r, const struct client *c, uint64_t now)
{
    char b[8][32], ct[40], rt_[40], pinned[128];
    pin_mask_text(c->pin_mask, pinned, sizeof(pinned));
    uint64_t wait = c->state == CL_WAITING ? now - c->wait_start_us : 0;
    /* wall times from the monotonic stamps: an idle client carries no time_t of its own */
    time_t wall_now = wall_time();
    uint64_t mono_now = now_us();
    time_t connected = wall_now - (time_t)(elapsed_us(mono_now, c->connect_us) / 1000000u);
    time_t requested = c->wait_start_us ? wall_now - (time_t)(elapsed_us(mono_now, c->wait_start_us) / 1000000u)
                                        : connected;
    format_time(connected, ct, sizeof(ct));
    format_time(requested, rt_, sizeof(rt_));
    const char *vals[] = {"C",
                          c->user,
                          c->database,
                          client_state_name(c),
                          c->addr,
                          ints(b[0], c->port),
                          ct,
                          rt_,
                          u64s(b[1], wait / 1000000u),
                          u64s(b[2], wait % 1000000u),
                          c->server != NULL ? ints(b[3], c->server->id) : NULL,
                          params_get(&c->params, "application_name") ? params_get(&c->params, "application_name") : "",
                          c->pool != NULL ? rt.cfg.lanes.lanes[c->lane].name : "",
                          c->on_reserve ? "yes" : "no",
                          ints(b[4], c->id),
                          pinned,
                          ints(b[5], (int)ps_client_count(c->ps))};
    result_row(r, vals);
}

static void show_clients(struct client *c)
{
    static const char *const cols[] = {"type", "user", "database", "state", "addr", "port", "connect_time",
                                       "request_time", "wait", "wait_us", "link", "application_name", "lane",
                                       "reserve", "id", "pinned", "prepared"};
    struct result r;
    result_begin(&r, c, cols, (int)ARRAY_SIZE(cols));
    uint64_t now = now_us();
    struct dlist *pos, *q;
    struct dlist *globals[] = {clients_login(), clients_admin()};
    for (size_t i = 0; i < ARRAY_SIZE(globals); i++)
        for (q = globals[i]->next; q != globals[i]; q = q->next)
            show_client_row(&r, container_of(q, struct client, node), now);
    for (pos = pool_all()->next; pos != pool_all(); pos = pos->next) {
        struct pool *p = container_of(pos, struct pool, node);
        struct dlist *lists[MAX_LANES + 3];
        int n = 0;
        lists[n++] = &p->active_clients;
        n += pool_waiting_lists(p, lists + n);
        lists[n++] = &p->idle_clients;
        for (int i = 0; i < n; i++)
            for (q = lists[i]->next; q != lists[i]; q = q->next)
                show_client_row(&r, container_of(q, struct client, node), now);
    }
    result_end(&r, "SHOW");
}

static const char *server_state_name(const struct server *s)
{
    switch (s->state) {
    case SV_LOGIN:
        return "login";
    case SV_IDLE:
        return "idle";
    case SV_ACTIVE:
        return "active";
    case SV_RESET:
        return "used";
    case SV_CLOSED:
        return "closed";
    }
    return "?";
}

static void show_servers(struct client *c)
{
    static const char *const cols[] = {"type", "user", "database", "state", "addr", "port", "connect_time",
                                       "request_time", "link", "remote_pid", "id", "prepared"};
    struct result r;
    result_begin(&r, c, cols, (int)ARRAY_SIZE(cols));
    struct dlist *pos, *q;
    for (pos = pool_all()->next; pos != pool_all(); pos = pos->next) {
        struct pool *p = container_of(pos, struct pool, node);
        struct dlist *lists[] = {&p->active_servers, &p->idle_servers, &p->reset_servers, &p->login_servers};
        for (size_t i = 0; i < ARRAY_SIZE(lists); i++) {
            for (q = lists[i]->next; q != lists[i]; q = q->next) {
                struct server *s = container_of(q, struct server, node);
                char b[5][32], ct[40], rq[40];
                format_time(s->connect_wall, ct, sizeof(ct));
                format_time(s->request_wall ? s->request_wall : s->connect_wall, rq, sizeof(rq));
                const char *vals[] = {"S",
                                      p->user,
                                      p->name,
                                      server_state_name(s),
                                      s->be->host,
                                      ints(b[0], s->be->port),
                                      ct,
                                      rq,
                                      s->client != NULL ? ints(b[1], s->client->id) : NULL,
                                      ints(b[2], s->be_pid),
                                      ints(b[3], s->id),
                                      ints(b[4], (int)ps_server_count(s->ps))};
                result_row(&r, vals);
            }
        }
    }
    result_end(&r, "SHOW");
}

static void show_prepared(struct client *c)
{
    static const char *const cols[] = {"name", "value"};
    struct result r;
    result_begin(&r, c, cols, 2);
    const struct {
        const char *name;
        uint64_t v;
    } rows[] = {
        {"client_parses", ps_stats.client_parses},
        {"server_parses", ps_stats.server_parses},
        {"evictions", ps_stats.evictions},
        {"hits", ps_stats.hits},
        {"statements", ps_registry_count()},
    };
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        char v[32];
        snprintf(v, sizeof(v), "%llu", (unsigned long long)rows[i].v);
        const char *vals[] = {rows[i].name, v};
        result_row(&r, vals);
    }
    result_end(&r, "SHOW");
}

static void show_stats(struct client *c)
{
    static const char *const cols[] = {"database", "user", "total_xact_count", "total_query_count",
                                       "total_received", "total_sent", "total_xact_time", "total_query_time",
                                       "total_wait_time", "avg_xact_count", "avg_query_count", "avg_recv",
                                       "avg_sent", "avg_xact_time", "avg_query_time", "avg_wait_time"};
    struct result r;
    result_begin(&r, c, cols, (int)ARRAY_SIZE(cols));
    struct dlist *pos;
    for (pos = pool_all()->next; pos != pool_all(); pos = pos->next) {
        struct pool *p = container_of(pos, struct pool, node);
        const struct pool_stats *s = &p->stats;
        const struct pool_stats_avg *a = &p->avg;
        char b[14][32];
        const char *vals[] = {p->name,
                              p->user,
                              u64s(b[0], s->xact_count),
                              u64s(b[1], s->query_count),
                              u64s(b[2], s->bytes_in),
                              u64s(b[3], s->bytes_out),
                              u64s(b[4], s->xact_us),
                              u64s(b[5], s->query_us),
                              u64s(b[6], s->wait_us),
                              dbls(b[7], a->xact_per_s),
                              dbls(b[8], a->query_per_s),
                              dbls(b[9], a->recv_per_s),
                              dbls(b[10], a->sent_per_s),
                              dbls(b[11], a->xact_us),
                              dbls(b[12], a->query_us),
                              dbls(b[13], a->wait_us)};
        result_row(&r, vals);
    }
    result_end(&r, "SHOW");
}

static void show_lanes(struct client *c)
{
    static const char *const cols[] = {"database", "user", "lane", "priority", "reserve", "active", "waiting",
                                       "maxwait", "maxwait_us", "max_active", "max_waiting", "served", "shed",
                                       "timeouts", "reserve_in_use", "reserve_uses"};
    struct result r;
    result_begin(&r, c, cols, (int)ARRAY_SIZE(cols));
    uint64_t now = now_us();
    struct dlist *pos;
    for (pos = pool_all()->next; pos != pool_all(); pos = pos->next) {
        struct pool *p = container_of(pos, struct pool, node);
        for (int i = 0; i < rt.cfg.lanes.nlanes; i++) {
            const struct lane_conf *lc = &rt.cfg.lanes.lanes[i];
            const struct pool_lane *pl = &p->lanes[i];
            uint64_t maxwait = 0;
            if (!dlist_empty(&pl->waiting))
                maxwait = now - container_of(dlist_first(&pl->waiting), struct client, node)->wait_start_us;
            int cap = lanes_max_active(lc, p->max_size);
            char b[14][32];
            const char *vals[] = {p->name,
                                  p->user,
                                  lc->name,
                                  ints(b[0], lanes_priority(lc, rt.wedding_day, rt.active_weddings > 0)),
                                  lc->reserve ? "yes" : "no",
                                  ints(b[1], pl->n_active),
                                  ints(b[2], pl->n_waiting),
                                  u64s(b[3], maxwait / 1000000u),
                                  u64s(b[4], maxwait % 1000000u),
                                  cap >= 0 ? ints(b[5], cap) : NULL,
                                  lc->max_waiting >= 0 ? ints(b[6], lc->max_waiting) : NULL,
                                  u64s(b[7], pl->served),
                                  u64s(b[8], pl->shed),
                                  u64s(b[9], pl->timeouts),
                                  ints(b[10], pl->n_reserve),
                                  u64s(b[11], pl->reserve_uses)};
            result_row(&r, vals);
        }
    }
    result_end(&r, "SHOW");
}

/* value is what runs; pending_restart is the file's value that only a restart applies (NULL if none). */
static void show_config(struct client *c)
{
    static const char *const cols[] = {"key", "value", "default", "changeable", "pending_restart"};
    struct result r;
    result_begin(&r, c, cols, (int)ARRAY_SIZE(cols));
    for (size_t i = 0; i < config_setting_count(); i++) {
        struct config_setting_view v;
        config_setting_get(&rt.cfg, i, &v);
        const char *vals[] = {v.name, v.value, v.default_value, v.reloadable ? "yes" : "no", v.pending};
        result_row(&r, vals);
    }
    /* [alert_channels]: one row per channel, secrets shown as ******** (or their env:NAME) */
    for (int i = 0; i < rt.cfg.alert_channels.n; i++) {
        char key[96];
        snprintf(key, sizeof(key), "alert_channels.%s", rt.cfg.alert_channels.ch[i].name);
        const char *vals[] = {key, rt.cfg.alert_channels.ch[i].shown, "", "yes", NULL};
        result_row(&r, vals);
    }
    result_end(&r, "SHOW");
}

static void show_databases(struct client *c)
{
    static const char *const cols[] = {"name", "host", "port", "database", "force_user", "pool_mode",
                                       "min_pool_size", "max_pool_size"};
    struct result r;
    result_begin(&r, c, cols, (int)ARRAY_SIZE(cols));
    for (size_t i = 0; i < rt.cfg.ndbs; i++) {
        const struct wp_database *db = &rt.cfg.dbs[i];
        char b[3][32];
        const char *vals[] = {db->name,
                              db->host,
                              ints(b[0], db->port),
                              db->dbname,
                              db->user[0] ? db->user : NULL,
                              config_pool_mode_name(config_db_pool_mode(&rt.cfg, db)),
                              ints(b[1], config_db_min_pool(&rt.cfg, db)),
                              ints(b[2], config_db_max_pool(&rt.cfg, db))};
        result_row(&r, vals);
    }
    result_end(&r, "SHOW");
}

/* One row per host of each database: what the health checker and the circuit breaker know. */
static void show_hosts(struct client *c)
{
    static const char *const cols[] = {"database", "host", "port", "role", "up", "circuit", "lag_ms", "last_check",
                                       "last_error", "checks", "check_failures", "connect_failures", "failovers",
                                       "target_session_attrs", "split_brain"};
    struct result r;
    result_begin(&r, c, cols, (int)ARRAY_SIZE(cols));
    struct dlist *pos;
    for (pos = backend_db_all()->next; pos != backend_db_all(); pos = pos->next) {
        const struct backend_db *bdb = container_of(pos, struct backend_db, node);
        for (int i = 0; i < bdb->nhosts; i++) {
            const struct backend *be = bdb->hosts[i];
            char b[7][32], lc[40];
            format_time(be->last_check, lc, sizeof(lc));
            const char *vals[] = {bdb->name,
                                  be->host,
                                  ints(b[0], be->port),
                                  route_role_name(be->role),
                                  be->up ? "yes" : "no",
                                  backend_circuit_name(be->circuit),
                                  be->lag_ms >= 0 ? ints(b[1], be->lag_ms) : NULL,
                                  be->last_check ? lc : NULL,
                                  be->addr_error[0] ? be->addr_error : be->last_error,
                                  u64s(b[2], be->checks),
                                  u64s(b[3], be->check_failures),
                                  u64s(b[4], be->connect_failures),
                                  u64s(b[5], bdb->failovers),
                                  config_tsa_name(bdb->conf.target_session_attrs),
                                  bdb->split_brain ? "yes" : "no"};
            result_row(&r, vals);
        }
    }
    result_end(&r, "SHOW");
}

static void show_version(struct client *c)
{
    static const char *const cols[] = {"version"};
    struct result r;
    result_begin(&r, c, cols, 1);
    const char *vals[] = {"wedpool " WEDPOOL_VERSION};
    result_row(&r, vals);
    result_end(&r, "SHOW");
}

static void show_help(struct client *c);

static void cmd_reload(struct client *c)
{
    char err[1024];
    if (!runtime_reload(err, sizeof(err))) {
        proto_error(&c->conn.out, "ERROR", "F0000", "reload failed, running configuration kept: %s", err);
        return;
    }
    proto_command_complete(&c->conn.out, "RELOAD");
}

/* Server connections linked to clients (in a transaction, or in a session in session mode). */
static int servers_in_use(void)
{
    int n = 0;
    for (struct dlist *pos = pool_all()->next; pos != pool_all(); pos = pos->next)
        n += container_of(pos, struct pool, node)->n_active;
    return n;
}

/* PAUSE answers once no server connection is in use, like PgBouncer's: after it, the backends can
 * be restarted or failed over without cutting a transaction. Until then the console waits (its
 * further messages stay buffered); RESUME or the console's disconnect ends the wait. */
static void cmd_pause(struct client *c)
{
    rt.paused = true;
    int busy = servers_in_use();
    if (busy == 0) {
        log_info("PAUSE from the admin console: no server connections are handed out until RESUME");
        proto_command_complete(&c->conn.out, "PAUSE");
        return;
    }
    log_info("PAUSE from the admin console: waiting for %d server connection%s in use to be released", busy,
             busy == 1 ? "" : "s");
    c->pause_wait = true;
}

void admin_tick(void)
{
    struct dlist *pos, *next;
    bool settled = rt.paused && servers_in_use() == 0;
    for (pos = clients_admin()->next; pos != clients_admin(); pos = next) {
        next = pos->next;
        struct client *c = container_of(pos, struct client, node);
        if (!c->pause_wait)
            continue;
        if (!rt.paused)
            proto_error(&c->conn.out, "ERROR", "57014", "PAUSE canceled: RESUME was issued while it waited");
        else if (settled) {
            log_info("PAUSE complete: no server connection in use; none are handed out until RESUME");
            proto_command_complete(&c->conn.out, "PAUSE");
        } else
            continue;
        c->pause_wait = false;
        proto_ready(&c->conn.out, 'I');
        admin_process(c);
    }
}

static void cmd_resume(struct client *c)
{
    rt.paused = false;
    log_info("RESUME from the admin console");
    pool_resume_all();
    proto_command_complete(&c->conn.out, "RESUME");
}

static void cmd_shutdown(struct client *c)
{
    proto_command_complete(&c->conn.out, "SHUTDOWN");
    runtime_begin_shutdown("SHUTDOWN from the admin console");
}

/* ---------------------------------------------------------------- the wedding calendar */

static void show_weddings(struct client *c)
{
    static const char *const cols[] = {"name", "calendar", "start", "end", "guests", "vendors", "critical", "venue",
                                       "status"};
    struct result r;
    result_begin(&r, c, cols, (int)ARRAY_SIZE(cols));
    const struct wedding_list *w = calendars_weddings();
    time_t now = clock_now();
    for (size_t i = 0; w != NULL && i < w->n; i++) {
        const struct wedding *x = &w->items[i];
        char st[32], en[32], b[3][24];
        clock_format_iso(x->start, st, sizeof(st));
        clock_format_iso(x->end, en, sizeof(en));
        const char *status = wedding_status(x, now);
        const char *vals[] = {x->name, x->calendar, st, en, ints(b[0], x->guests), ints(b[1], x->vendors),
                              ints(b[2], x->critical), x->venue, status};
        result_row(&r, vals);
    }
    result_end(&r, "SHOW");
}

/* The next 24 hours in 15-minute steps, and the wedding context now. */
static void show_forecast(struct client *c)
{
    static const char *const cols[] = {"start", "multiplier", "predicted_connections", "warm_target", "why"};
    struct result r;
    result_begin(&r, c, cols, (int)ARRAY_SIZE(cols));
    const struct wedding_list *w = calendars_weddings();
    static const struct wedding_list empty;
    if (w == NULL)
        w = &empty;
    time_t now = clock_now();
    now -= now % 900;
    for (int i = 0; i < 96; i++) {
        time_t t = now + (time_t)i * 900;
        struct forecast_step st;
        int predicted, warm;
        scaler_forecast_total(w, t, &st, &predicted, &warm);
        char at[32], b[3][32];
        clock_format_iso(t, at, sizeof(at));
        snprintf(b[0], sizeof(b[0]), "%.2f", st.multiplier);
        const char *vals[] = {at, b[0], ints(b[1], predicted), ints(b[2], warm), st.why};
        result_row(&r, vals);
    }
    result_end(&r, "SHOW");
}

static void show_scaling(struct client *c)
{
    static const char *const cols[] = {"at", "pool", "direction", "reason", "from", "to", "why"};
    struct result r;
    result_begin(&r, c, cols, (int)ARRAY_SIZE(cols));
    const struct scaling_event *ev[SCALING_EVENTS_KEPT];
    int n = scaler_events(ev, SCALING_EVENTS_KEPT);
    for (int i = 0; i < n; i++) {
        char at[32], b[2][24];
        clock_format_iso(ev[i]->at, at, sizeof(at));
        const char *vals[] = {at, ev[i]->pool, ev[i]->direction, ev[i]->reason, ints(b[0], ev[i]->from),
                              ints(b[1], ev[i]->to), ev[i]->why};
        result_row(&r, vals);
    }
    /* and where every pool stands now */
    struct dlist *pos;
    for (pos = pool_all()->next; pos != pool_all(); pos = pos->next) {
        struct pool *p = container_of(pos, struct pool, node);
        char at[32], label[140], b[2][24], why[512];
        clock_format_iso(clock_now(), at, sizeof(at));
        snprintf(label, sizeof(label), "%s/%s", p->name, p->user);
        bool prot = scaler_protected(why, sizeof(why));
        char now_why[700];
        snprintf(now_why, sizeof(now_why), "configured %d..%d, warm_target %d, effective %d..%d%s%s", p->conf_min_size,
                 p->conf_max_size, p->warm_target, p->min_size, p->max_size, prot ? "; protected: " : "",
                 prot ? why : "");
        const char *vals[] = {at, label, "now", "-", ints(b[0], p->conf_max_size), ints(b[1], p->max_size), now_why};
        result_row(&r, vals);
    }
    result_end(&r, "SHOW");
}

/* The argument text after a command word, from the original (not upper-cased) query. */
static const char *skip_words(const char *sql, int words)
{
    const char *p = sql;
    for (int i = 0; i < words; i++) {
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\n')
            p++;
    }
    while (*p == ' ' || *p == '\t' || *p == '\n')
        p++;
    return p;
}

/* PROTECTION OVERRIDE <minutes> '<reason>' */
static void cmd_override(struct client *c, const char *sql)
{
    const char *a = skip_words(sql, 2);
    char *end;
    long minutes = strtol(a, &end, 10);
    char reason[256] = "";
    const char *q = strchr(end, '\'');
    if (q != NULL) {
        const char *e = strrchr(q + 1, '\'');
        if (e != NULL && e > q + 1)
            snprintf(reason, sizeof(reason), "%.*s", (int)(e - q - 1), q + 1);
    }
    char msg[512];
    if (end == a || !scaler_override((int)minutes, reason, c->user, msg, sizeof(msg))) {
        proto_error(&c->conn.out, "ERROR", "22023", "%s", end == a ? "usage: PROTECTION OVERRIDE <minutes> '<reason>'"
                                                                   : msg);
        return;
    }
    proto_notice(&c->conn.out, "00000", "%s", msg);
    proto_command_complete(&c->conn.out, "PROTECTION OVERRIDE");
}

/* SCALE <database>[.<user>] <n> [FOR <minutes>] */
static void cmd_scale(struct client *c, const char *sql)
{
    const char *a = skip_words(sql, 1);
    char target[2 * WP_NAME_MAX + 2] = "", forw[8] = "";
    int size = 0, minutes = 0;
    int n = sscanf(a, "%129s %d %7s %d", target, &size, forw, &minutes);
    size_t tl = strlen(target);
    if (tl > 0 && target[tl - 1] == ';')
        target[tl - 1] = '\0';
    if (n < 2 || (n >= 3 && strcasecmp(forw, "FOR") != 0) || n == 3) {
        proto_error(&c->conn.out, "ERROR", "42601", "usage: SCALE <database>[.<user>] <n> [FOR <minutes>]");
        return;
    }
    char *dot = strchr(target, '.');
    const char *user = NULL;
    if (dot != NULL) {
        *dot = '\0';
        user = dot + 1;
    }
    char msg[512];
    if (!scaler_manual(target, user, size, minutes, c->user, msg, sizeof(msg))) {
        proto_error(&c->conn.out, "ERROR", strstr(msg, "no pool") ? "3D000" : "55000", "%s", msg);
        return;
    }
    proto_notice(&c->conn.out, "00000", "%s", msg);
    proto_command_complete(&c->conn.out, "SCALE");
}

/* SHOW ALERTS / SHOW ALERT_HISTORY: rows come from alert.c. */
static void alert_row(void *arg, const char *const *vals)
{
    result_row(arg, vals);
}

static void show_alerts(struct client *c)
{
    struct result r;
    result_begin(&r, c, alert_live_cols, alert_live_ncols);
    alert_live_rows(alert_row, &r);
    result_end(&r, "SHOW");
}

static void show_alert_rules(struct client *c)
{
    struct result r;
    result_begin(&r, c, alert_rule_cols, alert_rule_ncols);
    alert_rule_rows(alert_row, &r);
    result_end(&r, "SHOW");
}

static void show_alert_history(struct client *c)
{
    struct result r;
    result_begin(&r, c, alert_history_cols, alert_history_ncols);
    alert_history_rows(alert_row, &r);
    result_end(&r, "SHOW");
}

/* ACK <key>: the key as typed (keys are case-sensitive), optionally quoted. */
static void cmd_ack(struct client *c, const char *sql)
{
    char key[160];
    const char *a = skip_words(sql, 1);
    size_t n = strcspn(a, " \t\n;");
    if (*a == '\'') {
        a++;
        n = strcspn(a, "'");
    }
    if (n == 0 || n >= sizeof(key)) {
        proto_error(&c->conn.out, "ERROR", "42601", "usage: ACK <key> (SHOW ALERTS lists the keys)");
        return;
    }
    memcpy(key, a, n);
    key[n] = '\0';
    char msg[320];
    if (!alert_ack_key(key, c->user, msg, sizeof(msg))) {
        proto_error(&c->conn.out, "ERROR", "55000", "%s", msg);
        return;
    }
    proto_notice(&c->conn.out, "00000", "%s", msg);
    proto_command_complete(&c->conn.out, "ACK");
}

/* ---- alert channels (issue #13, delivery) ---- */

static void show_alert_channels(struct client *c)
{
    static const char *const cols[] = {"name", "type", "min_severity", "after_min", "rate_limit_per_h", "circuit",
                                       "failing_since", "queued", "sent", "failed", "rate_limited", "circuit_open",
                                       "queue_full", "avg_latency_ms", "firing"};
    struct result r;
    result_begin(&r, c, cols, (int)ARRAY_SIZE(cols));
    for (int i = 0; i < channels_count(); i++) {
        struct channel_stats st;
        if (!channel_stats(i, &st))
            continue;
        char b[12][32], since[32] = "";
        if (st.failing)
            clock_format_iso(st.failing_since, since, sizeof(since));
        snprintf(b[10], sizeof(b[10]), "%.1f", st.latency_avg_ms);
        const char *vals[] = {channel_name(i), channel_type_name(i), alert_severity_name(channel_min_severity(i)),
                              ints(b[0], channel_after_min(i)), ints(b[1], st.rate_limit_per_h), st.circuit,
                              st.failing ? since : NULL, ints(b[2], st.queued), u64s(b[3], st.results[ALERT_SENT]),
                              u64s(b[4], st.results[ALERT_FAILED]), u64s(b[5], st.results[ALERT_DROPPED_RATE]),
                              u64s(b[6], st.results[ALERT_DROPPED_CIRCUIT]), u64s(b[7], st.results[ALERT_DROPPED_QUEUE]),
                              b[10], ints(b[8], st.firing)};
        result_row(&r, vals);
    }
    result_end(&r, "SHOW");
}

/* ALERT TEST <channel> [<severity>] [<key>] [RESOLVED]: a test notice (or its resolve) through the
 * running daemon's channel. */
static void cmd_alert_test(struct client *c, const char *sql)
{
    char name[64] = "", sev[16] = "", key[100] = "", state[16] = "";
    int n = sscanf(skip_words(sql, 2), "%63s %15s %99s %15s", name, sev, key, state);
    for (char *s = n >= 4 ? state : n == 3 ? key : n == 2 ? sev : name; *s; s++)
        if (*s == ';' && s[1] == '\0')
            *s = '\0';
    bool resolved = n >= 4 && strcasecmp(state, "RESOLVED") == 0;
    int ch = n >= 1 ? channel_find(name) : -1;
    int severity = n >= 2 ? alert_severity_parse(sev) : (ch >= 0 ? (int)channel_min_severity(ch) : 0);
    if (n < 1 || ch < 0 || severity < 0 || (n >= 4 && !resolved)) {
        proto_error(&c->conn.out, "ERROR", "22023", "%s",
                    n < 1 || (n >= 4 && !resolved) ? "usage: ALERT TEST <channel> [<severity>] [<key>] [RESOLVED]"
                    : ch < 0 ? "no such alert channel (see SHOW ALERT_CHANNELS)"
                             : "severity must be INFO, WARNING, HIGH, CRITICAL or EMERGENCY");
        return;
    }
    struct alert_notice notice;
    channels_test_notice(name, (enum alert_severity)severity, key, &notice);
    notice.resolved = resolved;
    channels_send(ch, &notice);
    proto_notice(&c->conn.out, "00000", "test notice %s (%s%s) queued for alert channel %s", notice.key,
                 alert_severity_name(notice.severity), resolved ? ", resolved" : "", name);
    proto_command_complete(&c->conn.out, "ALERT TEST");
}

/* Commands with arguments: matched on their leading words. */
struct admin_arg_cmd {
    const char *text;   /* the leading words, normalised */
    int words;
    void (*fn)(struct client *c, const char *sql);
    bool control;
    const char *help;
};

static const struct admin_arg_cmd arg_commands[] = {
    {"PROTECTION OVERRIDE", 2, cmd_override, true,
     "PROTECTION OVERRIDE <minutes> '<reason>': allow capacity cuts while weddings are on (logged, expires)"},
    {"SCALE", 1, cmd_scale, true, "SCALE <database>[.<user>] <n> [FOR <minutes>]: an emergency pool size"},
    {"ACK", 1, cmd_ack, true, "ACK <key>: acknowledge a firing alert; stops its escalation and renotification"},
    {"ALERT TEST", 2, cmd_alert_test, true,
     "ALERT TEST <channel> [<severity>] [<key>] [RESOLVED]: send a test notice (or its resolve) through an alert channel"},
};

struct admin_cmd {
    const char *text;   /* normalised: upper case, single spaces, no trailing ';' */
    void (*fn)(struct client *c);
    bool control;       /* not allowed for stats_users */
    const char *help;
};

static const struct admin_cmd commands[] = {
    {"SHOW POOLS", show_pools, false, "clients and servers per pool"},
    {"SHOW CLIENTS", show_clients, false, "every client connection"},
    {"SHOW SERVERS", show_servers, false, "every server connection"},
    {"SHOW STATS", show_stats, false, "totals and per-second averages per pool"},
    {"SHOW LANES", show_lanes, false, "per pool and lane: active, waiting, served, shed, reserve in use"},
    {"SHOW CONFIG", show_config, false, "every setting, its value and default"},
    {"SHOW DATABASES", show_databases, false, "the [databases] section"},
    {"SHOW HOSTS", show_hosts, false, "every backend host: role, health, circuit breaker, lag, last check, failovers"},
    {"SHOW WEDDINGS", show_weddings, false, "weddings in the calendars, with their status"},
    {"SHOW FORECAST", show_forecast, false, "the next 24 hours in 15-minute steps: multiplier, connections, why"},
    {"SHOW SCALING", show_scaling, false, "scaling decisions (pre-warm, grow, shrink, refused, hook) and each pool's sizes"},
    {"SHOW PREPARED", show_prepared, false, "named prepared statements in transaction mode: counters"},
    {"SHOW ALERTS", show_alerts, false, "alerts pending and firing: state, severity, channels told, summary"},
    {"SHOW ALERT_HISTORY", show_alert_history, false, "the last 500 alert state changes and deliveries"},
    {"SHOW ALERT_RULES", show_alert_rules, false, "[alert_rules] as running: threshold, for_s, enabled, alerts pending and firing"},
    {"SHOW ALERT_CHANNELS", show_alert_channels, false, "alert channels: circuit, queue, deliveries by outcome"},
    {"SHOW VERSION", show_version, false, "wedpool's version"},
    {"SHOW HELP", show_help, false, "this list"},
    {"RELOAD", cmd_reload, true, "re-read the configuration file (same as SIGHUP)"},
    {"PAUSE", cmd_pause, true, "stop handing out server connections; answers once none is in use"},
    {"RESUME", cmd_resume, true, "undo PAUSE"},
    {"SHUTDOWN", cmd_shutdown, true, "finish running transactions, then exit (same as SIGTERM)"},
};

static void show_help(struct client *c)
{
    static const char *const cols[] = {"command", "description"};
    struct result r;
    result_begin(&r, c, cols, 2);
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
        const char *vals[] = {commands[i].text, commands[i].help};
        result_row(&r, vals);
    }
    for (size_t i = 0; i < ARRAY_SIZE(arg_commands); i++) {
        const char *vals[] = {arg_commands[i].text, arg_commands[i].help};
        result_row(&r, vals);
    }
    result_end(&r, "SHOW");
}

/* Upper-cases, collapses whitespace, strips a trailing ';'. */
static void normalise(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    bool space = false;
    for (const char *p = in; *p && n + 1 < cap; p++) {
        if (isspace((unsigned char)*p)) {
            space = n > 0;
            continue;
        }
        if (space && n + 2 < cap)
            out[n++] = ' ';
        space = false;
        out[n++] = (char)toupper((unsigned char)*p);
    }
    while (n > 0 && (out[n - 1] == ';' || out[n - 1] == ' '))
        n--;
    out[n] = '\0';
}

static void admin_query(struct client *c, const char *sql)
{
    char cmd[256];
    normalise(sql, cmd, sizeof(cmd));
    if (cmd[0] == '\0') {
        pbuf_put_u8(&c->conn.out, 'I');
        pbuf_put_u32(&c->conn.out, 4);
        return;
    }
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
        if (strcmp(cmd, commands[i].text) != 0)
            continue;
        if (commands[i].control && c->stats_only) {
            proto_error(&c->conn.out, "ERROR", "42501", "permission denied: %s needs an admin_users user",
                        commands[i].text);
            return;
        }
        log_info("admin console: %s by %s", commands[i].text, c->user);
        commands[i].fn(c);
        return;
    }
    for (size_t i = 0; i < ARRAY_SIZE(arg_commands); i++) {
        size_t n = strlen(arg_commands[i].text);
        if (strncmp(cmd, arg_commands[i].text, n) != 0 || (cmd[n] != ' ' && cmd[n] != '\0'))
            continue;
        if (arg_commands[i].control && c->stats_only) {
            proto_error(&c->conn.out, "ERROR", "42501", "permission denied: %s needs an admin_users user",
                        arg_commands[i].text);
            return;
        }
        log_info("admin console: %s by %s", sql, c->user); /* as typed: a reason keeps its case */
        arg_commands[i].fn(c, sql);
        return;
    }
    proto_error(&c->conn.out, "ERROR", "42601", "unknown wedpool admin command: %s (try SHOW HELP)", sql);
}

void admin_welcome(struct client *c)
{
    struct pbuf *o = &c->conn.out;
    const char *enc = params_get(&c->params, "client_encoding");
    proto_param_status(o, "server_version", "15.0 (wedpool " WEDPOOL_VERSION ")");
    proto_param_status(o, "server_encoding", "UTF8");
    proto_param_status(o, "client_encoding", enc != NULL ? enc : "UTF8");
    proto_param_status(o, "DateStyle", "ISO, MDY");
    proto_param_status(o, "integer_datetimes", "on");
    proto_param_status(o, "standard_conforming_strings", "on");
    proto_param_status(o, "TimeZone", "UTC");
    proto_param_status(o, "is_superuser", c->stats_only ? "off" : "on");
    proto_backend_key(o, c->id, c->cancel_key);
    proto_ready(o, 'I');
    client_flush(c);
}

/* The console's output is bounded: with this much unsent it parses no further command until the
 * output has drained (client_on_write calls admin_process again), so a peer that pipelines commands
 * without reading costs at most this plus one result plus its input buffer. */
#define ADMIN_OUT_MAX (128u * 1024u)

static bool admin_out_full(const struct client *c)
{
    return c->conn.out.len - c->conn.out_sent >= ADMIN_OUT_MAX;
}

/* Runs the buffered commands until the input runs out, PAUSE waits or the output is full; true in
 * the last case, with commands possibly left. */
static bool admin_run_commands(struct client *c)
{
    struct iobuf *b = c->conn.buf;
    bool in_error = false;
    while (c->state == CL_ADMIN && !c->pause_wait && !admin_out_full(c) && b != NULL && b->len > b->parsed) {
        struct msg m;
        enum msg_status st = msg_next(b->data + b->parsed, b->len - b->parsed, IOBUF_SIZE - 1, &m);
        if (st == MSG_NEED_MORE)
            break;
        if (st != MSG_OK) {
            client_fail(c, "08P01", "wedpool admin console: invalid message length %u",
                        proto_get_u32(b->data + b->parsed + 1));
            return false;
        }
        if (!m.whole)
            break;
        b->parsed += m.total;
        b->done = b->parsed;
        switch (m.type) {
        case 'Q': {
            const char *sql;
            struct preader r;
            preader_init(&r, m.body, msg_body_len(&m));
            if (!preader_str(&r, &sql)) {
                client_fail(c, "08P01", "wedpool admin console: malformed query message");
                return false;
            }
            admin_query(c, sql);
            if (c->state != CL_ADMIN)
                return false;
            if (c->pause_wait)
                break;
            proto_ready(&c->conn.out, 'I');
            break;
        }
        case 'X':
            client_close(c);
            return false;
        case 'S':
            proto_ready(&c->conn.out, 'I');
            in_error = false;
            break;
        default:
            if (!in_error)
                proto_error(&c->conn.out, "ERROR", "0A000",
                            "the wedpool admin console supports only the simple query protocol");
            in_error = true;
            break;
        }
    }
    if (b != NULL) {
        conn_buf_release_if_empty(&c->conn);
        if (c->conn.buf != NULL)
            iobuf_compact(c->conn.buf);
    }
    return admin_out_full(c);
}

void admin_process(struct client *c)
{
    bool held_by_output;
    do {
        held_by_output = admin_run_commands(c);
        if (c->state != CL_ADMIN)
            return;
        client_flush(c);
        if (c->state != CL_ADMIN)
            return;
        /* All sent at once: no write event will come to resume us, so go on now. */
    } while (held_by_output && c->conn.out.len == 0);
    /* Parsing is held (PAUSE waiting, output full): read on while the input buffer has room, so a
     * disconnect is still noticed, then stop watching the socket, which would otherwise stay
     * readable and spin the loop. Whatever ends the hold calls admin_process again. */
    if (c->state == CL_ADMIN)
        conn_want_read(&c->conn, c->conn.buf == NULL || c->conn.buf->len < IOBUF_SIZE);
}
