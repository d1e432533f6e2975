/* metrics.c — Prometheus text exposition and JSON pool snapshots, built only when asked for. */
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alert.h"
#include "auth_query.h"
#include "channels.h"
#include "pgstats.h"
#include "fetch.h"
#include "backend.h"
#include "listener.h"
#include "pool.h"
#include "push.h"
#include "runtime.h"
#include "scaler.h"

#define MAX_ERROR_CLASSES 64

static struct {
    char cls[3];
    uint64_t count;
} error_classes[MAX_ERROR_CLASSES];
static int n_error_classes;

void metrics_count_error(const char *sqlstate)
{
    if (sqlstate == NULL || strlen(sqlstate) < 2)
        return;
    for (int i = 0; i < n_error_classes; i++) {
        if (error_classes[i].cls[0] == sqlstate[0] && error_classes[i].cls[1] == sqlstate[1]) {
            error_classes[i].count++;
            return;
        }
    }
    if (n_error_classes == MAX_ERROR_CLASSES)
        return;
    error_classes[n_error_classes].cls[0] = sqlstate[0];
    error_classes[n_error_classes].cls[1] = sqlstate[1];
    error_classes[n_error_classes].cls[2] = '\0';
    error_classes[n_error_classes].count = 1;
    n_error_classes++;
}


static void head(struct pbuf *b, const char *name, const char *type, const char *help)
{
    pbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One gauge or counter per pool: value(p) picked by the accessor. */
typedef double (*pool_value_fn)(const struct pool *p);

struct pool_metric {
    const char *name;
    const char *type;
    const char *help;
    pool_value_fn value;
};

static double v_active(const struct pool *p) { return p->n_active; }
static double v_idle(const struct pool *p) { return p->n_idle; }
static double v_max(const struct pool *p) { return p->max_size; }
static double v_min(const struct pool *p) { return p->min_size; }
static double v_conf_max(const struct pool *p) { return p->conf_max_size; }
static double v_warm(const struct pool *p) { return p->warm_target; }
static double v_waiting(const struct pool *p) { return p->n_waiting; }
static double v_pinned(const struct pool *p) { return p->n_pinned; }
static double v_util(const struct pool *p) { return p->max_size ? (double)p->n_active / p->max_size : 0; }
static double v_xacts(const struct pool *p) { return (double)p->stats.xact_count; }
static double v_queries(const struct pool *p) { return (double)p->stats.query_count; }
static double v_recv(const struct pool *p) { return (double)p->stats.bytes_in; }
static double v_sent(const struct pool *p) { return (double)p->stats.bytes_out; }
static double v_wait(const struct pool *p) { return (double)p->stats.wait_us / 1e6; }
static double v_xact_time(const struct pool *p) { return (double)p->stats.xact_us / 1e6; }
static double v_connects(const struct pool *p) { return (double)p->stats.server_connects; }
static double v_failures(const struct pool *p) { return (double)p->stats.server_connect_failures; }
static double v_timeouts(const struct pool *p) { return (double)p->stats.acquire_timeouts; }

static const struct pool_metric pool_metrics[] = {
    {"db_pool_active_connections", "gauge", "Server connections in use by a client.", v_active},
    {"db_pool_idle_connections", "gauge", "Server connections open and free.", v_idle},
    {"db_pool_max_connections", "gauge", "Maximum server connections of the pool (effective_max_pool_size).", v_max},
    {"db_pool_waiting_connections", "gauge", "Clients waiting for a server connection.", v_waiting},
    {"wedpool_pinned_clients", "gauge",
     "Transaction-mode clients keeping their server because they created session state (pin_session_state=pin).",
     v_pinned},
    {"wedpool_pool_utilization_ratio", "gauge", "Server connections in use divided by max_pool_size.", v_util},
    {"wedpool_pool_min_size", "gauge", "Server connections kept open: max(min_pool_size, warm_target).", v_min},
    {"wedpool_pool_max_size", "gauge", "effective_max_pool_size: the on-demand ceiling now.", v_max},
    {"wedpool_pool_configured_max_size", "gauge", "max_pool_size as configured.", v_conf_max},
    {"wedpool_pool_warm_target", "gauge", "Server connections the forecast wants open ahead of demand.", v_warm},
    {"wedpool_transactions_total", "counter", "Transactions completed through the pool.", v_xacts},
    {"wedpool_queries_total", "counter", "Queries (simple Query and Execute messages) relayed.", v_queries},
    {"wedpool_received_bytes_total", "counter", "Bytes relayed from clients to servers.", v_recv},
    {"wedpool_sent_bytes_total", "counter", "Bytes relayed from servers to clients.", v_sent},
    {"wedpool_wait_seconds_total", "counter", "Time clients spent waiting for a server connection.", v_wait},
    {"wedpool_transaction_seconds_total", "counter", "Time servers spent linked to clients.", v_xact_time},
    {"wedpool_server_connect_attempts_total", "counter", "Server connections opened.", v_connects},
    {"wedpool_server_connect_failures_total", "counter", "Server connections that failed to log in.", v_failures},
    {"wedpool_acquire_timeouts_total", "counter", "Clients that gave up after acquire_timeout_ms.", v_timeouts},
};

/* Per pool and lane: one family at a time, as the exposition format wants. */
typedef double (*lane_value_fn)(const struct pool_lane *pl);
static double l_active(const struct pool_lane *pl) { return pl->n_active; }
static double l_waiting(const struct pool_lane *pl) { return pl->n_waiting; }
static double l_reserve(const struct pool_lane *pl) { return pl->n_reserve; }
static double l_served(const struct pool_lane *pl) { return (double)pl->served; }
static double l_shed(const struct pool_lane *pl) { return (double)pl->shed; }
static double l_timeouts(const struct pool_lane *pl) { return (double)pl->timeouts; }
static double l_reserve_uses(const struct pool_lane *pl) { return (double)pl->reserve_uses; }

static const struct {
    const char *name, *type, *help;
    lane_value_fn value;
} lane_metrics[] = {
    {"wedpool_lane_active_connections", "gauge", "Server connections held by clients of the lane.", l_active},
    {"wedpool_lane_waiting_clients", "gauge", "Clients of the lane waiting for a server connection.", l_waiting},
    {"wedpool_reserve_in_use", "gauge", "Emergency reserve connections held by clients of the lane.", l_reserve},
    {"wedpool_lane_served_total", "counter", "Server connections handed to clients of the lane.", l_served},
    {"wedpool_lane_shed_total", "counter", "Clients refused at once because the lane's max_waiting was reached.", l_shed},
    {"wedpool_lane_timeouts_total", "counter", "Clients of the lane that gave up after its queue timeout.", l_timeouts},
    {"wedpool_reserve_uses_total", "counter", "Emergency reserve connections handed to clients of the lane.",
     l_reserve_uses},
};

static void metrics_lanes(struct pbuf *b)
{
    struct dlist *pos;
    struct dlist *pools = pool_all();
    const struct lanes_conf *lc = &rt.cfg.lanes;
    char db[WP_NAME_MAX * 2 + 1], user[WP_NAME_MAX * 2 + 1];
    char lanes[MAX_LANES][LANE_NAME_MAX * 2 + 1]; /* lane names are free text in the config file */
    for (int i = 0; i < lc->nlanes; i++)
        prom_label_escape(lc->lanes[i].name, lanes[i], sizeof(lanes[i]));
    for (size_t m = 0; m < sizeof(lane_metrics) / sizeof(lane_metrics[0]); m++) {
        head(b, lane_metrics[m].name, lane_metrics[m].type, lane_metrics[m].help);
        for (pos = pools->next; pos != pools; pos = pos->next) {
            const struct pool *p = container_of(pos, struct pool, node);
            prom_label_escape(p->name, db, sizeof(db));
            prom_label_escape(p->user, user, sizeof(user));
            for (int i = 0; i < lc->nlanes; i++)
                pbuf_printf(b, "%s{database=\"%s\",user=\"%s\",lane=\"%s\"} %.17g\n", lane_metrics[m].name, db, user,
                    lanes[i], lane_metrics[m].value(&p->lanes[i]));
        }
    }
    /* INT-002's histogram, one series per lane (sum by (le) for a pool's; the lane histograms
     * together are exactly the pool's: every acquisition is counted in its client's lane) */
    head(b, "db_pool_acquire_seconds", "histogram",
         "Time from a client needing a server connection (first message of its transaction or session) "
         "until one is assigned, per lane.");
    for (pos = pools->next; pos != pools; pos = pos->next) {
        const struct pool *p = container_of(pos, struct pool, node);
        prom_label_escape(p->name, db, sizeof(db));
        prom_label_escape(p->user, user, sizeof(user));
        for (int i = 0; i < lc->nlanes; i++) {
            const struct histogram *h = &p->lanes[i].acquire_hist;
            const char *lane = lanes[i];
            uint64_t cum = 0;
            for (int k = 0; k < HIST_BUCKETS; k++) {
                cum += h->counts[k];
                pbuf_printf(b, "db_pool_acquire_seconds_bucket{database=\"%s\",user=\"%s\",lane=\"%s\",le=\"%g\"} %llu\n", db,
                    user, lane, hist_bounds_s[k], (unsigned long long)cum);
            }
            pbuf_printf(b, "db_pool_acquire_seconds_bucket{database=\"%s\",user=\"%s\",lane=\"%s\",le=\"+Inf\"} %llu\n", db,
                user, lane, (unsigned long long)h->count);
            pbuf_printf(b, "db_pool_acquire_seconds_sum{database=\"%s\",user=\"%s\",lane=\"%s\"} %.6f\n", db, user, lane,
                (double)h->sum_us / 1e6);
            pbuf_printf(b, "db_pool_acquire_seconds_count{database=\"%s\",user=\"%s\",lane=\"%s\"} %llu\n", db, user, lane,
                (unsigned long long)h->count);
        }
    }
}

/* Calendar sources (fetch.c): freshness, size and failures of each. */
static void metrics_calendars(struct pbuf *b)
{
    struct calendar_status st[CALENDARS_MAX];
    int n = calendars_status(st, CALENDARS_MAX);
    char name[CALENDAR_NAME_MAX * 2 + 1];
    head(b, "wedpool_calendar_last_success_timestamp_seconds", "gauge",
         "Last successful fetch or read of the calendar (a 304 counts), Unix time; 0 if never.");
    for (int i = 0; i < n; i++) {
        prom_label_escape(st[i].name, name, sizeof(name));
        pbuf_printf(b, "wedpool_calendar_last_success_timestamp_seconds{calendar=\"%s\"} %lld\n", name,
            (long long)st[i].last_success);
    }
    head(b, "wedpool_calendar_weddings", "gauge", "Weddings within the horizon in the calendar's last good version.");
    for (int i = 0; i < n; i++) {
        prom_label_escape(st[i].name, name, sizeof(name));
        pbuf_printf(b, "wedpool_calendar_weddings{calendar=\"%s\"} %zu\n", name, st[i].weddings);
    }
    head(b, "wedpool_calendar_fetch_failures_total", "counter", "Failed fetches, reads or parses of the calendar.");
    for (int i = 0; i < n; i++) {
        prom_label_escape(st[i].name, name, sizeof(name));
        pbuf_printf(b, "wedpool_calendar_fetch_failures_total{calendar=\"%s\"} %llu\n", name, st[i].failures);
    }
}

void metrics_prometheus(struct pbuf *b)
{
    struct dlist *pos;
    struct dlist *pools = pool_all();
    char db[WP_NAME_MAX * 2 + 1], user[WP_NAME_MAX * 2 + 1];

    for (size_t m = 0; m < sizeof(pool_metrics) / sizeof(pool_metrics[0]); m++) {
        const struct pool_metric *pm = &pool_metrics[m];
        head(b, pm->name, pm->type, pm->help);
        for (pos = pools->next; pos != pools; pos = pos->next) {
            const struct pool *p = container_of(pos, struct pool, node);
            prom_label_escape(p->name, db, sizeof(db));
            prom_label_escape(p->user, user, sizeof(user));
            pbuf_printf(b, "%s{database=\"%s\",user=\"%s\"} %.17g\n", pm->name, db, user, pm->value(p));
        }
    }

    head(b, "wedpool_clients", "gauge", "Client connections by state.");
    pbuf_printf(b, "wedpool_clients{database=\"\",user=\"\",state=\"login\"} %d\n", clients_login_count());
    pbuf_printf(b, "wedpool_clients{database=\"wedpool\",user=\"\",state=\"admin\"} %d\n", clients_admin_count());
    for (pos = pools->next; pos != pools; pos = pos->next) {
        const struct pool *p = container_of(pos, struct pool, node);
        prom_label_escape(p->name, db, sizeof(db));
        prom_label_escape(p->user, user, sizeof(user));
        pbuf_printf(b, "wedpool_clients{database=\"%s\",user=\"%s\",state=\"active\"} %d\n", db, user, p->n_cl_active);
        pbuf_printf(b, "wedpool_clients{database=\"%s\",user=\"%s\",state=\"idle\"} %d\n", db, user, p->n_cl_idle);
        pbuf_printf(b, "wedpool_clients{database=\"%s\",user=\"%s\",state=\"waiting\"} %d\n", db, user, p->n_waiting);
    }
    head(b, "wedpool_servers", "gauge", "Server connections by state.");
    for (pos = pools->next; pos != pools; pos = pos->next) {
        const struct pool *p = container_of(pos, struct pool, node);
        prom_label_escape(p->name, db, sizeof(db));
        prom_label_escape(p->user, user, sizeof(user));
        pbuf_printf(b, "wedpool_servers{database=\"%s\",user=\"%s\",state=\"active\"} %d\n", db, user, p->n_active);
        pbuf_printf(b, "wedpool_servers{database=\"%s\",user=\"%s\",state=\"idle\"} %d\n", db, user, p->n_idle);
        pbuf_printf(b, "wedpool_servers{database=\"%s\",user=\"%s\",state=\"login\"} %d\n", db, user, p->n_login);
        pbuf_printf(b, "wedpool_servers{database=\"%s\",user=\"%s\",state=\"reset\"} %d\n", db, user, p->n_reset);
    }

    metrics_lanes(b);
    pgstats_prometheus(b);
    auth_query_prometheus(b);
    scaler_prometheus(b);
    alert_prometheus(b);
    backend_prometheus(b);
    push_prometheus(b);
    channels_prometheus(b);
    metrics_calendars(b);

    head(b, "wedpool_prepared_statements_client_parses_total", "counter",
         "Named Parse messages from clients in transaction mode.");
    pbuf_printf(b, "wedpool_prepared_statements_client_parses_total %llu\n", (unsigned long long)ps_stats.client_parses);
    head(b, "wedpool_prepared_statements_server_parses_total", "counter",
         "Parse messages sent to servers for named statements (first use on a server, re-prepares).");
    pbuf_printf(b, "wedpool_prepared_statements_server_parses_total %llu\n", (unsigned long long)ps_stats.server_parses);
    head(b, "wedpool_prepared_statements_evictions_total", "counter",
         "Statements closed on a server to stay under max_prepared_statements.");
    pbuf_printf(b, "wedpool_prepared_statements_evictions_total %llu\n", (unsigned long long)ps_stats.evictions);
    head(b, "wedpool_prepared_statements_hits_total", "counter",
         "Parse, Bind or Describe of a named statement its server already had.");
    pbuf_printf(b, "wedpool_prepared_statements_hits_total %llu\n", (unsigned long long)ps_stats.hits);
    head(b, "wedpool_prepared_statements", "gauge", "Distinct named statements known (clients, servers, in flight).");
    pbuf_printf(b, "wedpool_prepared_statements %u\n", ps_registry_count());

    head(b, "wedpool_errors_total", "counter", "Errors sent to clients by wedpool, by SQLSTATE class.");
    for (int i = 0; i < n_error_classes; i++)
        pbuf_printf(b, "wedpool_errors_total{class=\"%s\"} %llu\n", error_classes[i].cls,
            (unsigned long long)error_classes[i].count);
    head(b, "wedpool_config_reloads_total", "counter", "Successful configuration reloads.");
    pbuf_printf(b, "wedpool_config_reloads_total %llu\n", (unsigned long long)rt.reloads);
    head(b, "wedpool_config_reload_failures_total", "counter", "Reloads refused because of errors.");
    pbuf_printf(b, "wedpool_config_reload_failures_total %llu\n", (unsigned long long)rt.reload_failures);
    head(b, "wedpool_accept_pauses_total", "counter",
         "Times accepting new connections was paused for a second because accept() ran out of file descriptors.");
    pbuf_printf(b, "wedpool_accept_pauses_total %llu\n", (unsigned long long)listener_accept_pauses());
    head(b, "wedpool_paused", "gauge", "1 while PAUSE is in effect.");
    pbuf_printf(b, "wedpool_paused %d\n", rt.paused ? 1 : 0);
    head(b, "wedpool_start_time_seconds", "gauge", "Start time of the process since the Unix epoch.");
    pbuf_printf(b, "wedpool_start_time_seconds %lld\n", (long long)rt.start_wall);
    head(b, "wedpool_build_info", "gauge", "Version of wedpool.");
    pbuf_printf(b, "wedpool_build_info{version=\"%s\"} 1\n", WEDPOOL_VERSION);
}

void metrics_pool_json(struct pbuf *b)
{
    struct dlist *pos;
    struct dlist *pools = pool_all();
    uint64_t now_sec = now_us() / 1000000u;
    char db[WP_NAME_MAX * 2 + 1], user[WP_NAME_MAX * 2 + 1];
    bool first = true;
    const struct wedding_context *wx = scaler_context();
    pbuf_printf(b, "{\"timestamp\":%lld,\"wedding\":{\"wedding_day\":%s,\"active_weddings\":%d,\"weddings_next_24h\":%d,"
           "\"guests_affected\":%d,\"criticality\":%d,\"peak_season\":%s,\"protected\":%s},\"pools\":[",
        (long long)wall_time(), wx->wedding_day ? "true" : "false", wx->active_weddings, wx->weddings_next_24h,
        wx->guests_affected, wx->criticality, wx->peak_season ? "true" : "false",
        scaler_protected(NULL, 0) ? "true" : "false");
    for (pos = pools->next; pos != pools; pos = pos->next) {
        const struct pool *p = container_of(pos, struct pool, node);
        struct histogram h;
        window_sum(&p->acquire_window, now_sec, &h);
        prom_label_escape(p->name, db, sizeof(db));
        prom_label_escape(p->user, user, sizeof(user));
        pbuf_printf(b,
            "%s{\"database\":\"%s\",\"user\":\"%s\",\"pool_mode\":\"%s\",\"active\":%d,\"idle\":%d,\"waiting\":%d,"
            "\"login\":%d,\"max\":%d,\"min\":%d,\"reserve_size\":%d,\"reserve_in_use\":%d,\"utilization\":%.4f,\"clients_active\":%d,\"clients_idle\":%d,"
            "\"acquire_last_minute\":{\"count\":%llu,\"p50_ms\":%.3f,\"p95_ms\":%.3f,\"p99_ms\":%.3f},"
            "\"transactions_total\":%llu,\"acquire_timeouts_total\":%llu,\"configured_max_pool_size\":%d,"
            "\"warm_target\":%d,\"effective_max_pool_size\":%d,\"protected\":%s",
            first ? "" : ",", db, user, config_pool_mode_name(p->mode), p->n_active, p->n_idle, p->n_waiting,
            p->n_login, p->max_size, p->min_size, rt.cfg.reserve_pool_size, p->n_reserve_active, p->max_size ? (double)p->n_active / p->max_size : 0.0,
            p->n_cl_active, p->n_cl_idle, (unsigned long long)h.count, histogram_quantile(&h, 0.50) * 1000,
            histogram_quantile(&h, 0.95) * 1000, histogram_quantile(&h, 0.99) * 1000,
            (unsigned long long)p->stats.xact_count, (unsigned long long)p->stats.acquire_timeouts, p->conf_max_size,
            p->warm_target, p->max_size, scaler_protected(NULL, 0) ? "true" : "false");
        pgstats_json(b, p->name);
        pbuf_printf(b, "}");
        first = false;
    }
    pbuf_printf(b, "]}\n");
}
