/* pgstats.c — PostgreSQL's own statistics per backend, every pg_stats_interval_s. Each collection
 * is one asynchronous libpq connection driven by the event loop (never a blocking call), using the
 * credentials of a pool for that backend; a backend that does not answer within the timeout is
 * reported as wedpool_pg_up 0 instead of stalling anything. */
#include "pgstats.h"

#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pqstep.h"
#include "backend.h"
#include "log.h"
#include "util.h"
#include "loop.h"
#include "pool.h"
#include "runtime.h"

#define MAX_ACTIVITY 32
#define COLLECT_TIMEOUT_S 5

struct activity_row {
    char state[32];
    char wait[32];
    long count;
};

/* One database (its primary, else the first host up) and what we last learned about it; hangs
 * on the backend database (backend_db.stats), so there is no limit on how many. */
struct target {
    char name[WP_NAME_MAX];       /* the [databases] entry */
    char label[WP_NAME_MAX * 2 + 1]; /* name escaped for Prometheus label values */
    bool up;
    bool ever;                    /* collected at least once */
    double duration_s;
    struct activity_row activity[MAX_ACTIVITY];
    int nactivity;
    long max_connections, reserved;
    double commits, rollbacks, blks_hit, blks_read, deadlocks, temp_bytes;
    double oldest_xact_s;
    bool in_recovery;
    double replication_lag_s;
    /* the collection in flight */
    PGconn *conn;
    bool querying;                /* connected, query sent */
    struct event ev;
    bool ev_added;
    uint64_t started_us;
};

static struct event tick;
static bool running;

static const char stats_sql[] =
    "SELECT coalesce(state, 'unknown'), coalesce(wait_event_type, 'none'), count(*) FROM pg_stat_activity "
    "WHERE backend_type = 'client backend' GROUP BY 1, 2;"
    "SELECT current_setting('max_connections')::bigint, current_setting('superuser_reserved_connections')::bigint, "
    "d.xact_commit, d.xact_rollback, d.blks_hit, d.blks_read, d.deadlocks, d.temp_bytes, "
    "coalesce((SELECT extract(epoch FROM max(now() - xact_start)) FROM pg_stat_activity "
    "WHERE xact_start IS NOT NULL AND backend_type = 'client backend'), 0), pg_is_in_recovery(), "
    "CASE WHEN pg_is_in_recovery() THEN coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) "
    "ELSE 0 END FROM pg_stat_database d WHERE d.datname = current_database()";

static void finish(struct target *t, bool ok, const char *why)
{
    if (t->ev_added) {
        event_del(&t->ev);
        t->ev_added = false;
    }
    if (t->conn != NULL) {
        PQfinish(t->conn);
        t->conn = NULL;
    }
    if (!ok && t->up)
        log_warn("pg stats for database %s: %s", t->name, why);
    t->up = ok;
    t->duration_s = (double)(now_us() - t->started_us) / 1e6;
}

static void wait_for(struct target *t, short what);

static void read_results(struct target *t)
{
    PGresult *r;
    int n = 0;
    bool ok = true;
    while ((r = PQgetResult(t->conn)) != NULL) {
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            ok = false;
            log_warn("pg stats for database %s: %s", t->name, PQresultErrorMessage(r));
        } else if (n == 0) {
            t->nactivity = 0;
            for (int i = 0; i < PQntuples(r) && t->nactivity < MAX_ACTIVITY; i++) {
                struct activity_row *a = &t->activity[t->nactivity++];
                snprintf(a->state, sizeof(a->state), "%s", PQgetvalue(r, i, 0));
                snprintf(a->wait, sizeof(a->wait), "%s", PQgetvalue(r, i, 1));
                a->count = atol(PQgetvalue(r, i, 2));
            }
        } else if (PQntuples(r) == 1 && PQnfields(r) >= 11) {
            t->max_connections = atol(PQgetvalue(r, 0, 0));
            t->reserved = atol(PQgetvalue(r, 0, 1));
            t->commits = atof(PQgetvalue(r, 0, 2));
            t->rollbacks = atof(PQgetvalue(r, 0, 3));
            t->blks_hit = atof(PQgetvalue(r, 0, 4));
            t->blks_read = atof(PQgetvalue(r, 0, 5));
            t->deadlocks = atof(PQgetvalue(r, 0, 6));
            t->temp_bytes = atof(PQgetvalue(r, 0, 7));
            t->oldest_xact_s = atof(PQgetvalue(r, 0, 8));
            t->in_recovery = PQgetvalue(r, 0, 9)[0] == 't';
            t->replication_lag_s = atof(PQgetvalue(r, 0, 10));
        }
        PQclear(r);
        n++;
    }
    t->ever = t->ever || ok;
    finish(t, ok && n == 2, "unexpected result");
}

static void on_io(evutil_socket_t fd, short what, void *arg)
{
    struct target *t = arg;
    t->ev_added = false;
    if (what & EV_TIMEOUT) {
        finish(t, false, "no answer within 5 s");
        return;
    }
    short wait;
    if (!t->querying) {
        enum pq_step st = pq_connect_step(t->conn, &wait);
        if (st != PQ_STEP_DONE) {
            if (st == PQ_STEP_WAIT)
                wait_for(t, wait);
            else
                finish(t, false, PQerrorMessage(t->conn));
            return;
        }
        if (!PQsendQuery(t->conn, stats_sql)) {
            finish(t, false, PQerrorMessage(t->conn));
            return;
        }
        t->querying = true;
    }
    enum pq_step st = pq_query_step(t->conn, &wait);
    if (st == PQ_STEP_WAIT)
        wait_for(t, wait);
    else if (st == PQ_STEP_FAILED)
        finish(t, false, PQerrorMessage(t->conn));
    else
        read_results(t);
}

static void wait_for(struct target *t, short what)
{
    uint64_t spent = now_us() - t->started_us;
    uint64_t left = (uint64_t)COLLECT_TIMEOUT_S * 1000000u > spent ? (uint64_t)COLLECT_TIMEOUT_S * 1000000u - spent : 1;
    struct timeval tv = {(time_t)(left / 1000000u), (suseconds_t)(left % 1000000u)};
    event_assign(&t->ev, loop_base(), PQsocket(t->conn), what, on_io, t);
    event_add(&t->ev, &tv);
    t->ev_added = true;
}

static struct target *target_of(struct backend_db *bdb)
{
    if (bdb->stats == NULL) {
        struct target *t = calloc(1, sizeof(*t));
        if (t == NULL)
            return NULL;
        snprintf(t->name, sizeof(t->name), "%s", bdb->name);
        prom_label_escape(t->name, t->label, sizeof(t->label));
        bdb->stats = t;
    }
    return bdb->stats;
}

/* The host to ask: the primary, else the first host up with an address, else the first with one
 * (to report it down). */
static const struct backend *stats_host(const struct backend_db *bdb)
{
    if (bdb->primary >= 0 && bdb->hosts[bdb->primary]->addrlen != 0)
        return bdb->hosts[bdb->primary];
    const struct backend *any = NULL;
    for (int i = 0; i < bdb->nhosts; i++) {
        if (bdb->hosts[i]->addrlen == 0)
            continue;
        if (bdb->hosts[i]->up)
            return bdb->hosts[i];
        if (any == NULL)
            any = bdb->hosts[i];
    }
    return any;
}

/* Starts one collection per database, with the credentials its health checks use. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct dlist *pos;
    for (pos = backend_db_all()->next; pos != backend_db_all(); pos = pos->next) {
        struct backend_db *bdb = container_of(pos, struct backend_db, node);
        const char *user, *password;
        const struct backend *be = stats_host(bdb);
        if (be == NULL || !backend_db_credentials(bdb, &user, &password))
            continue;
        struct target *t = target_of(bdb);
        if (t == NULL || t->conn != NULL)
            continue; /* one collection in flight per database */
        char ci[1024] = "";
        char port[16];
        snprintf(port, sizeof(port), "%d", be->port);
        conninfo_add(ci, sizeof(ci), "host", be->host);
        /* the backend's own (asynchronous) resolution: libpq would resolve a name with a blocking call */
        char text[INET6_ADDRSTRLEN];
        if (be->host[0] != '/' && sockaddr_ip_text(&be->addr, text, sizeof(text)))
            conninfo_add(ci, sizeof(ci), "hostaddr", text);
        conninfo_add(ci, sizeof(ci), "port", port);
        conninfo_add(ci, sizeof(ci), "dbname", bdb->conf.dbname);
        conninfo_add(ci, sizeof(ci), "user", user);
        if (password[0] != '\0')
            conninfo_add(ci, sizeof(ci), "password", password);
        conninfo_add(ci, sizeof(ci), "application_name", "wedpool-stats");
        conninfo_add(ci, sizeof(ci), "gssencmode", "disable"); /* no Kerberos credential lookups on the loop */
        conninfo_add(ci, sizeof(ci), "connect_timeout", "5");
        t->started_us = now_us();
        t->querying = false;
        t->conn = PQconnectStart(ci);
        if (t->conn == NULL || PQstatus(t->conn) == CONNECTION_BAD) {
            finish(t, false, t->conn ? PQerrorMessage(t->conn) : "out of memory");
            continue;
        }
        PQsetnonblocking(t->conn, 1);
        wait_for(t, EV_WRITE);
    }
}

void pgstats_start(void)
{
    if (rt.cfg.pg_stats_interval_s <= 0)
        return;
    struct timeval tv = {rt.cfg.pg_stats_interval_s, 0};
    event_assign(&tick, loop_base(), -1, EV_PERSIST, on_tick, NULL);
    event_add(&tick, &tv);
    running = true;
    /* a first collection soon after start, not a whole interval later */
    struct timeval soon = {1, 0};
    event_base_once(loop_base(), -1, EV_TIMEOUT, on_tick, NULL, &soon);
}

void pgstats_stop(void)
{
    if (running)
        event_del(&tick);
    running = false;
    struct dlist *pos;
    for (pos = backend_db_all()->next; pos != backend_db_all(); pos = pos->next)
        pgstats_forget(container_of(pos, struct backend_db, node));
}

void pgstats_forget(struct backend_db *bdb)
{
    struct target *t = bdb->stats;
    if (t == NULL)
        return;
    if (t->conn != NULL)
        finish(t, t->up, "shutting down");
    free(t);
    bdb->stats = NULL;
}

/* Every database that has statistics. */
#define FOR_TARGETS(t)                                                                                     \
    for (struct dlist *pos_ = backend_db_all()->next; pos_ != backend_db_all(); pos_ = pos_->next)          \
        for (struct target *t = container_of(pos_, struct backend_db, node)->stats; t != NULL; t = NULL)


#define FAMILY(b, name, type, help) pbuf_printf(b, "# HELP " name " " help "\n# TYPE " name " " type "\n")

void pgstats_prometheus(struct pbuf *b)
{
    FAMILY(b, "wedpool_pg_up", "gauge", "1 if the last statistics collection from the backend succeeded.");
    FOR_TARGETS(t)
        pbuf_printf(b, "wedpool_pg_up{database=\"%s\"} %d\n", t->label, t->up ? 1 : 0);
    FAMILY(b, "wedpool_pg_scrape_duration_seconds", "gauge", "How long the last collection took.");
    FOR_TARGETS(t)
        pbuf_printf(b, "wedpool_pg_scrape_duration_seconds{database=\"%s\"} %.6f\n", t->label, t->duration_s);
    FAMILY(b, "wedpool_pg_backends", "gauge", "Client backends in pg_stat_activity by state and wait event type.");
    FOR_TARGETS(t)
        for (int k = 0; t->ever && k < t->nactivity; k++)
            pbuf_printf(b, "wedpool_pg_backends{database=\"%s\",state=\"%s\",wait_event_type=\"%s\"} %ld\n", t->label,
                t->activity[k].state, t->activity[k].wait, t->activity[k].count);
    static const struct {
        const char *name, *type, *help;
        size_t off;
    } fields[] = {
        {"wedpool_pg_max_connections", "gauge", "The backend's max_connections.", offsetof(struct target, max_connections)},
        {"wedpool_pg_superuser_reserved_connections", "gauge", "The backend's superuser_reserved_connections.",
         offsetof(struct target, reserved)},
    };
    for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
        pbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", fields[f].name, fields[f].help, fields[f].name, fields[f].type);
        FOR_TARGETS(t)
            if (t->ever)
                pbuf_printf(b, "%s{database=\"%s\"} %ld\n", fields[f].name, t->label,
                    *(const long *)((const char *)t + fields[f].off));
    }
    static const struct {
        const char *name, *type, *help;
        size_t off;
    } dfields[] = {
        {"wedpool_pg_xact_commit_total", "counter", "pg_stat_database.xact_commit.", offsetof(struct target, commits)},
        {"wedpool_pg_xact_rollback_total", "counter", "pg_stat_database.xact_rollback.", offsetof(struct target, rollbacks)},
        {"wedpool_pg_blks_hit_total", "counter", "pg_stat_database.blks_hit.", offsetof(struct target, blks_hit)},
        {"wedpool_pg_blks_read_total", "counter", "pg_stat_database.blks_read.", offsetof(struct target, blks_read)},
        {"wedpool_pg_deadlocks_total", "counter", "pg_stat_database.deadlocks.", offsetof(struct target, deadlocks)},
        {"wedpool_pg_temp_bytes_total", "counter", "pg_stat_database.temp_bytes.", offsetof(struct target, temp_bytes)},
        {"wedpool_pg_oldest_transaction_age_seconds", "gauge", "Age of the oldest open transaction.",
         offsetof(struct target, oldest_xact_s)},
        {"wedpool_pg_replication_lag_seconds", "gauge", "Replay lag on a standby (0 on a primary).",
         offsetof(struct target, replication_lag_s)},
    };
    for (size_t f = 0; f < sizeof(dfields) / sizeof(dfields[0]); f++) {
        pbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", dfields[f].name, dfields[f].help, dfields[f].name, dfields[f].type);
        FOR_TARGETS(t)
            if (t->ever)
                pbuf_printf(b, "%s{database=\"%s\"} %.17g\n", dfields[f].name, t->label,
                    *(const double *)((const char *)t + dfields[f].off));
    }
    FAMILY(b, "wedpool_pg_in_recovery", "gauge", "1 if the backend is a standby.");
    FOR_TARGETS(t)
        if (t->ever)
            pbuf_printf(b, "wedpool_pg_in_recovery{database=\"%s\"} %d\n", t->label, t->in_recovery ? 1 : 0);
}

void pgstats_json(struct pbuf *b, const char *database)
{
    const struct backend_db *bdb = backend_db_find(database);
    const struct target *t = bdb != NULL ? bdb->stats : NULL;
    if (t != NULL) {
        long active = 0, idle = 0, idle_txn = 0, waiting = 0;
        for (int k = 0; k < t->nactivity; k++) {
            const struct activity_row *a = &t->activity[k];
            if (strcmp(a->state, "active") == 0)
                active += a->count;
            else if (strcmp(a->state, "idle") == 0)
                idle += a->count;
            else if (strncmp(a->state, "idle in transaction", 19) == 0)
                idle_txn += a->count;
            if (strcmp(a->wait, "Lock") == 0)
                waiting += a->count;
        }
        pbuf_printf(b,
            ",\"pg\":{\"up\":%s,\"backends_active\":%ld,\"backends_idle\":%ld,\"backends_idle_in_transaction\":%ld,"
            "\"backends_waiting_on_locks\":%ld,\"max_connections\":%ld,\"superuser_reserved_connections\":%ld,"
            "\"xact_commit\":%.0f,\"xact_rollback\":%.0f,\"deadlocks\":%.0f,\"oldest_transaction_age_s\":%.3f,"
            "\"in_recovery\":%s,\"replication_lag_s\":%.3f}",
            t->up ? "true" : "false", active, idle, idle_txn, waiting, t->max_connections, t->reserved, t->commits,
            t->rollbacks, t->deadlocks, t->oldest_xact_s, t->in_recovery ? "true" : "false", t->replication_lag_s);
        return;
    }
}

bool pgstats_usage(const char *database, long *used, long *slots)
{
    const struct backend_db *bdb = backend_db_find(database);
    const struct target *t = bdb != NULL ? bdb->stats : NULL;
    if (t != NULL && t->up && t->max_connections > 0) {
        long n = 0;
        for (int k = 0; k < t->nactivity; k++)
            n += t->activity[k].count;
        *used = n;
        *slots = t->max_connections - t->reserved;
        return true;
    }
    return false;
}

bool pgstats_room(const char *database, long *room)
{
    long used, slots;
    if (!pgstats_usage(database, &used, &slots))
        return false;
    *room = slots - used;
    return true;
}
