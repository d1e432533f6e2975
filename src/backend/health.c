/* health.c — the health checker: each backend host gets one asynchronous libpq connection driven
 * by the event loop (never a blocking call), kept open between checks. Every
 * health_check_interval_ms it runs one query: pg_is_in_recovery(), default_transaction_read_only
 * and, on a standby, the replay lag. An idle check connection the server closes (a shutdown's
 * FATAL) is noticed at once. While a database has lost its primary, its hosts are checked four
 * times as often, so a promotion is seen within a quarter interval; a host whose circuit is open
 * is probed under the breaker's backoff (backend.c). */
#include "health.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "pqstep.h"
#include "backend.h"
#include "derive.h"
#include "log.h"
#include "patroni.h"
#include "loop.h"
#include "runtime.h"
#include "util.h"

#define TICK_MS 50

/* Replay lag in ms: 0 on a primary and on a standby that has replayed everything it received
 * (an idle, caught-up standby is not lagging however old its last transaction); otherwise the age
 * of the last replayed transaction (an upper bound of the lag), or the time since the standby
 * started when it has replayed none yet. */
static const char check_sql[] =
    "SELECT pg_is_in_recovery(), current_setting('default_transaction_read_only') = 'on', "
    "CASE WHEN NOT pg_is_in_recovery() THEN 0 "
    "WHEN pg_last_wal_receive_lsn() IS NOT NULL AND pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0 "
    "ELSE (extract(epoch FROM now() - coalesce(pg_last_xact_replay_timestamp(), pg_postmaster_start_time())) * 1000)"
    "::bigint END";

enum hc_step { HC_IDLE, HC_CONNECTING, HC_QUERY, HC_PROBE };

struct health_check {
    struct backend *be;
    PGconn *conn;
    int fd;                     /* HC_PROBE: the TCP connect probe's socket */
    enum hc_step step;
    struct event ev;
    bool ev_added;
    uint64_t started_us;
};

static struct event tick;
static bool running;

static void hc_unwatch(struct health_check *hc)
{
    if (hc->ev_added)
        event_del(&hc->ev);
    hc->ev_added = false;
}

static void hc_close(struct health_check *hc)
{
    hc_unwatch(hc);
    if (hc->conn != NULL)
        PQfinish(hc->conn);
    hc->conn = NULL;
    if (hc->fd >= 0)
        close(hc->fd);
    hc->fd = -1;
    hc->step = HC_IDLE;
}

static uint64_t check_every_us(const struct backend *be)
{
    uint64_t every = (uint64_t)rt.cfg.health_check_interval_ms * 1000u;
    const struct backend_db *bdb = be->db;
    if (bdb != NULL && bdb->nhosts > 1 && (bdb->failing_over || bdb->split_brain || !be->up))
        every /= 4;
    return every;
}

static void schedule_next(struct backend *be)
{
    if (be->circuit == CIRCUIT_CLOSED)
        be->next_check_us = now_us() + check_every_us(be);
    /* open: backend.c set the probe time */
}

/* libpq's words for a host that cannot be talked to or says it is unavailable (shutting down,
 * starting up). Any other failure (a refused login, an odd answer) means the host is reachable. */
static bool unavailable(const char *msg)
{
    static const char *const words[] = {"refused", "could not connect", "timeout expired", "No such file",
                                        "closed the connection", "starting up", "shutting down", "recovery mode",
                                        "not yet accepting", "terminating connection", "reset by peer",
                                        "could not translate", "unreachable", "No route", "could not send",
                                        "could not receive", "not answered within", "Broken pipe", "EOF", NULL};
    for (int i = 0; words[i] != NULL; i++)
        if (strstr(msg, words[i]) != NULL)
            return true;
    return false;
}

static void hc_fail(struct health_check *hc, const char *why)
{
    char msg[256];
    snprintf(msg, sizeof(msg), "%s", why);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
    struct backend *be = hc->be;
    hc_close(hc);
    if (!unavailable(msg)) {
        backend_reachable(be, msg);
        schedule_next(be);
        return;
    }
    backend_check_failed(be, msg);
    schedule_next(be);
}

static void hc_wait(struct health_check *hc, short what);
static void hc_start(struct backend *be);

static void hc_result(struct health_check *hc)
{
    PGresult *r;
    bool ok = false, in_recovery = false, read_only = false;
    int64_t lag = -1;
    char err[256] = "unexpected answer to the health check";
    while ((r = PQgetResult(hc->conn)) != NULL) {
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && PQnfields(r) == 3) {
            ok = true;
            in_recovery = PQgetvalue(r, 0, 0)[0] == 't';
            read_only = PQgetvalue(r, 0, 1)[0] == 't';
            lag = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
        } else if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            snprintf(err, sizeof(err), "%s", PQresultErrorMessage(r));
        }
        PQclear(r);
    }
    if (!ok) {
        hc_fail(hc, err);
        return;
    }
    hc->step = HC_IDLE;
    struct backend *be = hc->be;
    backend_checked(be, in_recovery ? ROLE_STANDBY : ROLE_PRIMARY, read_only, lag);
    schedule_next(be);
    if (hc->conn != NULL && be->hc == hc)
        hc_wait(hc, EV_READ); /* idle: a server closing it (shutdown) is noticed at once */
}

static void hc_on_io(evutil_socket_t fd, short what, void *arg)
{
    struct health_check *hc = arg;
    hc->ev_added = false;
    if (what & EV_TIMEOUT) {
        char why[128];
        snprintf(why, sizeof(why), "health check not answered within health_check_timeout_ms=%d",
                 rt.cfg.health_check_timeout_ms);
        hc_fail(hc, why);
        return;
    }
    if (hc->step == HC_IDLE) {
        /* the server spoke while we had asked nothing: a FATAL before it closes, or EOF. Check
         * again at once on a new connection: a shutdown refuses it, a pg_terminate_backend() of
         * this connection alone does not make the host down. */
        if (!PQconsumeInput(hc->conn) || PQstatus(hc->conn) == CONNECTION_BAD) {
            struct backend *be = hc->be;
            hc_close(hc);
            hc_start(be);
            return;
        }
        PGnotify *nf;
        while ((nf = PQnotifies(hc->conn)) != NULL)
            PQfreemem(nf);
        hc_wait(hc, EV_READ);
        return;
    }
    short wait;
    if (hc->step == HC_CONNECTING) {
        enum pq_step st = pq_connect_step(hc->conn, &wait);
        if (st != PQ_STEP_DONE) {
            if (st == PQ_STEP_WAIT)
                hc_wait(hc, wait);
            else
                hc_fail(hc, PQerrorMessage(hc->conn));
            return;
        }
        hc->step = HC_QUERY;
        if (!PQsendQuery(hc->conn, check_sql)) {
            hc_fail(hc, PQerrorMessage(hc->conn));
            return;
        }
    }
    enum pq_step st = pq_query_step(hc->conn, &wait);
    if (st == PQ_STEP_WAIT)
        hc_wait(hc, wait);
    else if (st == PQ_STEP_FAILED)
        hc_fail(hc, PQerrorMessage(hc->conn));
    else
        hc_result(hc);
}

static void hc_wait(struct health_check *hc, short what)
{
    hc_unwatch(hc);
    event_assign(&hc->ev, loop_base(), PQsocket(hc->conn), what, hc_on_io, hc);
    if (hc->step == HC_IDLE) {
        event_add(&hc->ev, NULL);
    } else {
        uint64_t limit = (uint64_t)rt.cfg.health_check_timeout_ms * 1000u;
        uint64_t spent = elapsed_us(now_us(), hc->started_us);
        uint64_t left = limit > spent ? limit - spent : 1;
        struct timeval tv = {(time_t)(left / 1000000u), (suseconds_t)(left % 1000000u)};
        event_add(&hc->ev, &tv);
    }
    hc->ev_added = true;
}

static bool hc_connect(struct health_check *hc)
{
    struct backend *be = hc->be;
    const struct backend_db *bdb = be->db;
    const char *user, *password;
    if (!backend_db_credentials(bdb, &user, &password))
        user = password = "";
    char ci[2048] = "", port[16], timeout[16];
    snprintf(port, sizeof(port), "%d", be->port);
    snprintf(timeout, sizeof(timeout), "%d", (rt.cfg.health_check_timeout_ms + 999) / 1000);
    conninfo_add(ci, sizeof(ci), "host", be->host);
    /* the backend's own (asynchronous) resolution: libpq would resolve a name with a blocking call */
    char text[INET6_ADDRSTRLEN];
    if (be->host[0] != '/' && sockaddr_ip_text(&be->addr, text, sizeof(text)))
        conninfo_add(ci, sizeof(ci), "hostaddr", text);
    conninfo_add(ci, sizeof(ci), "port", port);
    conninfo_add(ci, sizeof(ci), "dbname", bdb->conf.dbname);
    if (user[0] != '\0')
        conninfo_add(ci, sizeof(ci), "user", user);
    /* libpq derives a SCRAM key inline, on this thread: not for a server known to ask for many rounds */
    if (password[0] != '\0' && be->scram_iterations <= DERIVE_INLINE_MAX_ITERATIONS)
        conninfo_add(ci, sizeof(ci), "password", password);
    int sslmode = bdb->conf.sslmode >= 0 ? bdb->conf.sslmode : rt.cfg.server_tls_sslmode;
    conninfo_add(ci, sizeof(ci), "sslmode", config_tls_mode_name(sslmode));
    if (rt.cfg.server_tls_ca_file[0] != '\0')
        conninfo_add(ci, sizeof(ci), "sslrootcert", rt.cfg.server_tls_ca_file);
    conninfo_add(ci, sizeof(ci), "application_name", "wedpool-health");
    conninfo_add(ci, sizeof(ci), "gssencmode", "disable"); /* no Kerberos credential lookups on the loop */
    conninfo_add(ci, sizeof(ci), "connect_timeout", timeout);
    hc->conn = PQconnectStart(ci);
    hc->step = HC_CONNECTING;
    if (hc->conn == NULL || PQstatus(hc->conn) == CONNECTION_BAD) {
        hc_fail(hc, hc->conn != NULL ? PQerrorMessage(hc->conn) : "out of memory");
        return false;
    }
    PQsetnonblocking(hc->conn, 1);
    hc_wait(hc, EV_WRITE);
    return true;
}

static void hc_probe_done(evutil_socket_t fd, short what, void *arg)
{
    struct health_check *hc = arg;
    hc->ev_added = false;
    struct backend *be = hc->be;
    int err = 0;
    socklen_t len = sizeof(err);
    if (what & EV_TIMEOUT)
        err = ETIMEDOUT;
    else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    hc_close(hc);
    if (err == 0) {
        backend_probed(be);
    } else {
        char why[200];
        snprintf(why, sizeof(why), "could not connect: %s", err == ETIMEDOUT ? "connect timed out" : strerror(err));
        backend_check_failed(be, why);
    }
    schedule_next(be);
}

/* A host whose role does not matter: a TCP connect, no login (no server process spent on it). */
static void hc_probe(struct health_check *hc)
{
    struct backend *be = hc->be;
    hc_close(hc);
    hc->step = HC_PROBE;
    hc->fd = socket(be->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (hc->fd < 0 || (connect(hc->fd, (struct sockaddr *)&be->addr, be->addrlen) != 0 && errno != EINPROGRESS)) {
        char why[200];
        snprintf(why, sizeof(why), "could not connect: %s", strerror(errno));
        hc_close(hc);
        backend_check_failed(be, why);
        schedule_next(be);
        return;
    }
    uint64_t limit = (uint64_t)rt.cfg.health_check_timeout_ms * 1000u;
    struct timeval tv = {(time_t)(limit / 1000000u), (suseconds_t)(limit % 1000000u)};
    event_assign(&hc->ev, loop_base(), hc->fd, EV_WRITE, hc_probe_done, hc);
    event_add(&hc->ev, &tv);
    hc->ev_added = true;
}

static void hc_start(struct backend *be)
{
    struct health_check *hc = be->hc;
    if (hc == NULL) {
        hc = calloc(1, sizeof(*hc));
        if (hc == NULL)
            return;
        hc->be = be;
        hc->fd = -1;
        be->hc = hc;
    }
    if (be->circuit == CIRCUIT_OPEN)
        be->circuit = CIRCUIT_HALF_OPEN;
    hc->started_us = now_us();
    be->next_check_us = UINT64_MAX; /* set again when it ends */
    if (be->db == NULL || !backend_db_login_checks(be->db)) {
        hc_probe(hc);
        return;
    }
    if (hc->conn == NULL || PQstatus(hc->conn) != CONNECTION_OK) {
        hc_close(hc);
        hc_connect(hc);
        return;
    }
    hc_unwatch(hc);
    hc->step = HC_QUERY;
    if (!PQsendQuery(hc->conn, check_sql)) {
        hc_fail(hc, PQerrorMessage(hc->conn));
        return;
    }
    hc_wait(hc, EV_READ | EV_WRITE);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    uint64_t now = now_us();
    struct dlist *pos;
    for (pos = backend_db_all()->next; pos != backend_db_all(); pos = pos->next) {
        struct backend_db *bdb = container_of(pos, struct backend_db, node);
        if (bdb->conf.patroni_url[0] != '\0' && now >= bdb->patroni_next_us) {
            bdb->patroni_next_us = now + (uint64_t)rt.cfg.health_check_interval_ms * 1000u;
            patroni_ask(bdb);
        }
        for (int i = 0; i < bdb->nhosts; i++) {
            struct backend *be = bdb->hosts[i];
            if (be->hc != NULL && be->hc->step != HC_IDLE)
                continue; /* one check in flight per host */
            if (be->addrlen == 0 || now < be->next_check_us)
                continue;
            hc_start(be);
        }
    }
}

void health_kick(struct backend_db *bdb)
{
    if (bdb == NULL)
        return;
    for (int i = 0; i < bdb->nhosts; i++)
        if (bdb->hosts[i]->circuit == CIRCUIT_CLOSED && bdb->hosts[i]->next_check_us != UINT64_MAX)
            bdb->hosts[i]->next_check_us = 0;
}

void health_reset(struct backend *be)
{
    if (be->hc != NULL && be->hc->step == HC_IDLE)
        hc_close(be->hc);
}

void health_forget(struct backend *be)
{
    if (be->hc == NULL)
        return;
    hc_close(be->hc);
    free(be->hc);
    be->hc = NULL;
}

void health_start(void)
{
    struct timeval tv = {0, TICK_MS * 1000};
    event_assign(&tick, loop_base(), -1, EV_PERSIST, on_tick, NULL);
    event_add(&tick, &tv);
    running = true;
    on_tick(-1, 0, NULL); /* know at once, not an interval after start */
}

void health_stop(void)
{
    if (running)
        event_del(&tick);
    running = false;
    patroni_stop();
    struct dlist *pos;
    for (pos = backend_db_all()->next; pos != backend_db_all(); pos = pos->next) {
        struct backend_db *bdb = container_of(pos, struct backend_db, node);
        for (int i = 0; i < bdb->nhosts; i++)
            health_forget(bdb->hosts[i]);
    }
}
