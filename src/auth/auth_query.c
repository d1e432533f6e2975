/* auth_query.c — users not in auth_file looked up in PostgreSQL.
 *
 * A login for a user auth_file does not know asks for (database entry, user). The answer is cached
 * (found and not found alike) for auth_query_cache_s; while a lookup is in flight, further logins of
 * the same user wait on it. A lookup is one asynchronous libpq connection as auth_user to the
 * database the client asked for, driven by the event loop (PQconnectStart/PQconnectPoll, then
 * PQsendQueryParams), like pgstats.c: never a blocking call, and a 5 s limit on the whole of it.
 * Host names are resolved with the loop's resolver first (libpq would block in getaddrinfo).
 * Failures are not cached: the next login tries again. */
#include "auth_query.h"

#include "backend.h"

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/util.h>
#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pqstep.h"
#include "log.h"
#include "loop.h"
#include "md5.h"
#include "runtime.h"
#include "scram.h"

#define LOOKUP_TIMEOUT_S 5
#define CACHE_MAX 4096

struct aq_entry {
    struct dlist node;               /* cache, most recently added first */
    char db[WP_NAME_MAX];            /* the [databases] entry */
    char user[WP_NAME_MAX];
    enum aq_status status;           /* AQ_PENDING while the lookup runs */
    struct wp_user found;
    uint64_t expires_us;
    struct dlist waiters;
    /* the lookup in flight */
    struct wp_database target;       /* copy of the entry as it was when the lookup started */
    PGconn *conn;
    bool querying;
    struct event ev;
    bool ev_added;
    struct event timer;              /* the 5 s limit, also while resolving */
    struct evdns_getaddrinfo_request *dns_req;
    char hostaddr[64];
    uint64_t started_us;
};

static struct dlist cache = {&cache, &cache};
static int ncache;
static char cache_sig[WP_NAME_MAX + 1100]; /* auth_user and auth_query the cache was filled with */
static unsigned long long n_found, n_not_found, n_failed;

bool auth_query_enabled(void)
{
    return rt.cfg.auth_user[0] != '\0';
}

void auth_query_waiter_init(struct aq_waiter *w, void (*done)(struct aq_waiter *w), void *arg)
{
    memset(w, 0, sizeof(*w));
    dlist_init(&w->node);
    w->done = done;
    w->arg = arg;
}

void auth_query_cancel(struct aq_waiter *w)
{
    if (w->node.next != NULL)
        dlist_remove(&w->node);
}

static void entry_free(struct aq_entry *e)
{
    dlist_remove(&e->node);
    ncache--;
    OPENSSL_cleanse(e, sizeof(*e));
    free(e);
}

/* Ends the lookup: caches the answer (unless it failed) and tells every waiter. */
static void entry_answer(struct aq_entry *e, enum aq_status st, const char *error)
{
    if (e->ev_added)
        event_del(&e->ev);
    e->ev_added = false;
    event_del(&e->timer);
    if (e->dns_req != NULL) {
        struct evdns_getaddrinfo_request *r = e->dns_req;
        e->dns_req = NULL;
        evdns_getaddrinfo_cancel(r);
    }
    if (e->conn != NULL)
        PQfinish(e->conn);
    e->conn = NULL;
    e->status = st;
    uint64_t ms = (now_us() - e->started_us) / 1000u;
    switch (st) {
    case AQ_FOUND:
        n_found++;
        log_info("auth_query: user \"%s\" found in database %s (%llu ms)", e->user, e->db, (unsigned long long)ms);
        break;
    case AQ_NOT_FOUND:
        n_not_found++;
        log_info("auth_query: user \"%s\" not found in database %s (%llu ms)", e->user, e->db,
                 (unsigned long long)ms);
        break;
    default:
        n_failed++;
        log_warn("auth_query: looking up user \"%s\" in database %s failed: %s", e->user, e->db, error);
        break;
    }
    e->expires_us = now_us() + (uint64_t)rt.cfg.auth_query_cache_s * 1000000u;
    /* waiters may end their logins (and cancel) from done(): take each off first */
    while (!dlist_empty(&e->waiters)) {
        struct aq_waiter *w = container_of(dlist_first(&e->waiters), struct aq_waiter, node);
        dlist_remove(&w->node);
        w->status = st;
        if (st == AQ_FOUND)
            w->user = e->found;
        else if (st == AQ_FAILED)
            snprintf(w->error, sizeof(w->error), "%s", error);
        w->done(w);
    }
    if (st == AQ_FAILED || rt.cfg.auth_query_cache_s == 0)
        entry_free(e);
}

static void fail_pq(struct aq_entry *e, const char *what)
{
    char msg[300];
    const char *pqerr = e->conn != NULL ? PQerrorMessage(e->conn) : "out of memory";
    snprintf(msg, sizeof(msg), "%s%s", what, pqerr);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    entry_answer(e, AQ_FAILED, msg);
}

/* The secret column: PostgreSQL's SCRAM or md5 format; anything else cannot verify a login. */
static enum aq_status take_secret(struct aq_entry *e, const char *secret)
{
    memset(&e->found, 0, sizeof(e->found));
    strlcpy_ok(e->found.name, e->user, sizeof(e->found.name));
    if (strncmp(secret, "SCRAM-SHA-256$", 14) == 0 && scram_parse_secret(secret, &e->found.scram)) {
        e->found.has_scram = true;
        return AQ_FOUND;
    }
    if (md5_is_secret(secret)) {
        strlcpy_ok(e->found.md5, secret, sizeof(e->found.md5));
        return AQ_FOUND;
    }
    if (secret[0] != '\0')
        log_warn("auth_query: the secret returned for user \"%s\" is neither SCRAM-SHA-256 nor md5: the user "
                 "cannot log in", e->user);
    return AQ_NOT_FOUND;
}

static void read_result(struct aq_entry *e)
{
    PGresult *r;
    enum aq_status st = AQ_NOT_FOUND;
    char error[300] = "";
    bool seen = false;
    while ((r = PQgetResult(e->conn)) != NULL) {
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            if (error[0] == '\0')
                snprintf(error, sizeof(error), "auth_query failed: %s", PQresultErrorMessage(r));
        } else if (!seen) {
            seen = true;
            if (PQnfields(r) < 2) {
                snprintf(error, sizeof(error), "auth_query must return two columns (name, secret), not %d",
                         PQnfields(r));
            } else if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 1)) {
                st = take_secret(e, PQgetvalue(r, 0, 1));
            }
        }
        PQclear(r);
    }
    if (error[0] != '\0') {
        size_t n = strlen(error);
        while (n > 0 && (error[n - 1] == '\n' || error[n - 1] == ' '))
            error[--n] = '\0';
        entry_answer(e, AQ_FAILED, error);
        return;
    }
    entry_answer(e, st, NULL);
}

static void wait_io(struct aq_entry *e, short what);

static void on_io(evutil_socket_t fd, short what, void *arg)
{
    struct aq_entry *e = arg;
    e->ev_added = false;
    short wait;
    if (!e->querying) {
        enum pq_step st = pq_connect_step(e->conn, &wait);
        if (st != PQ_STEP_DONE) {
            if (st == PQ_STEP_WAIT)
                wait_io(e, wait);
            else
                fail_pq(e, "cannot connect as auth_user: ");
            return;
        }
        const char *params[1] = {e->user};
        if (!PQsendQueryParams(e->conn, rt.cfg.auth_query, 1, NULL, params, NULL, NULL, 0)) {
            fail_pq(e, "cannot send auth_query: ");
            return;
        }
        e->querying = true;
    }
    enum pq_step st = pq_query_step(e->conn, &wait);
    if (st == PQ_STEP_WAIT)
        wait_io(e, wait);
    else if (st == PQ_STEP_FAILED)
        fail_pq(e, "auth_query: ");
    else
        read_result(e);
}

static void wait_io(struct aq_entry *e, short what)
{
    event_assign(&e->ev, loop_base(), PQsocket(e->conn), what, on_io, e);
    event_add(&e->ev, NULL);
    e->ev_added = true;
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct aq_entry *e = arg;
    entry_answer(e, AQ_FAILED, "no answer within 5 s");
}

/* auth_user's password: its plain one in auth_file, else the database line's when user= names it. */
static const char *auth_user_password(const struct wp_database *db)
{
    const struct wp_user *u = config_find_user(&rt.cfg, rt.cfg.auth_user);
    if (u != NULL && u->password[0] != '\0')
        return u->password;
    if (strcmp(db->user, rt.cfg.auth_user) == 0 && db->password[0] != '\0')
        return db->password;
    return NULL;
}

static void start_connect(struct aq_entry *e)
{
    const struct wp_database *db = &e->target;
    char ci[2048] = "";
    char port[16];
    snprintf(port, sizeof(port), "%d", db->port);
    conninfo_add(ci, sizeof(ci), "host", db->host);
    if (e->hostaddr[0] != '\0')
        conninfo_add(ci, sizeof(ci), "hostaddr", e->hostaddr);
    conninfo_add(ci, sizeof(ci), "port", port);
    conninfo_add(ci, sizeof(ci), "dbname", db->dbname);
    conninfo_add(ci, sizeof(ci), "user", rt.cfg.auth_user);
    const char *pw = auth_user_password(db);
    if (pw != NULL)
        conninfo_add(ci, sizeof(ci), "password", pw);
    conninfo_add(ci, sizeof(ci), "application_name", "wedpool-auth-query");
    conninfo_add(ci, sizeof(ci), "connect_timeout", "5");
    conninfo_add(ci, sizeof(ci), "gssencmode", "disable"); /* no Kerberos credential lookups on the loop */
    e->conn = PQconnectStart(ci);
    OPENSSL_cleanse(ci, sizeof(ci));
    if (e->conn == NULL || PQstatus(e->conn) == CONNECTION_BAD) {
        fail_pq(e, "cannot connect as auth_user: ");
        return;
    }
    PQsetnonblocking(e->conn, 1);
    wait_io(e, EV_WRITE);
}

static void resolved(int err, struct evutil_addrinfo *res, void *arg)
{
    if (err == EVUTIL_EAI_CANCEL)
        return;
    struct aq_entry *e = arg;
    e->dns_req = NULL;
    if (err != 0 || res == NULL) {
        char msg[300];
        snprintf(msg, sizeof(msg), "could not resolve host \"%s\": %s", e->target.host, evutil_gai_strerror(err));
        if (res != NULL)
            evutil_freeaddrinfo(res);
        entry_answer(e, AQ_FAILED, msg);
        return;
    }
    const struct evutil_addrinfo *a = loop_pick_address(res);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    memcpy(&ss, a->ai_addr, a->ai_addrlen);
    evutil_freeaddrinfo(res);
    if (!sockaddr_ip_text(&ss, e->hostaddr, sizeof(e->hostaddr))) {
        entry_answer(e, AQ_FAILED, "resolved to an unusable address");
        return;
    }
    start_connect(e);
}

/* Runs from the loop, never inside auth_query_lookup: a waiter is only ever answered later. */
static void on_start(evutil_socket_t fd, short what, void *arg)
{
    struct aq_entry *e = arg;
    e->ev_added = false;
    const struct wp_database *db = &e->target;
    if (db->host[0] == '/') {
        start_connect(e);
        return;
    }
    struct evutil_addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = EVUTIL_AI_NUMERICHOST | EVUTIL_AI_NUMERICSERV;
    char port[16];
    snprintf(port, sizeof(port), "%d", db->port);
    if (evutil_getaddrinfo(db->host, port, &hints, &res) == 0 && res != NULL) {
        evutil_freeaddrinfo(res);
        start_connect(e); /* an address literal: libpq will not resolve anything */
        return;
    }
    loop_resolve(db->host, db->port, resolved, e, &e->dns_req);
}

static void start_lookup(struct aq_entry *e, const struct wp_database *db)
{
    e->target = *db;
    /* host= may list several: ask the current primary, else the first host */
    if (db->nhosts > 0) {
        const struct backend_db *bdb = backend_db_find(db->name);
        const struct backend *be = bdb != NULL && bdb->primary >= 0 ? bdb->hosts[bdb->primary] : NULL;
        strlcpy_ok(e->target.host, be != NULL ? be->host : db->hosts[0].name, sizeof(e->target.host));
        e->target.port = be != NULL ? be->port : db->hosts[0].port;
    }
    e->started_us = now_us();
    evtimer_assign(&e->timer, loop_base(), on_timeout, e);
    struct timeval tv = {LOOKUP_TIMEOUT_S, 0};
    evtimer_add(&e->timer, &tv);
    evtimer_assign(&e->ev, loop_base(), on_start, e);
    struct timeval zero = {0, 0};
    evtimer_add(&e->ev, &zero);
    e->ev_added = true;
}

/* Answers cached under another auth_user or auth_query are forgotten (a reload changed them). */
static void check_config(void)
{
    char sig[sizeof(cache_sig)];
    snprintf(sig, sizeof(sig), "%s\n%s", rt.cfg.auth_user, rt.cfg.auth_query);
    if (strcmp(sig, cache_sig) == 0)
        return;
    strlcpy_ok(cache_sig, sig, sizeof(cache_sig));
    struct dlist *pos, *tmp;
    dlist_for_each_safe(pos, tmp, &cache)
    {
        struct aq_entry *e = container_of(pos, struct aq_entry, node);
        if (e->status != AQ_PENDING)
            entry_free(e);
    }
}

/* Drops expired answers; past CACHE_MAX, the oldest answers too. */
static void evict(uint64_t now)
{
    struct dlist *pos, *tmp;
    dlist_for_each_safe(pos, tmp, &cache)
    {
        struct aq_entry *e = container_of(pos, struct aq_entry, node);
        if (e->status != AQ_PENDING && now >= e->expires_us)
            entry_free(e);
    }
    for (pos = cache.prev; ncache >= CACHE_MAX && pos != &cache; pos = tmp) {
        tmp = pos->prev;
        struct aq_entry *e = container_of(pos, struct aq_entry, node);
        if (e->status != AQ_PENDING)
            entry_free(e);
    }
}

enum aq_status auth_query_lookup(const struct wp_database *db, const char *user, struct aq_waiter *w)
{
    check_config();
    uint64_t now = now_us();
    struct aq_entry *e = NULL;
    for (struct dlist *pos = cache.next; pos != &cache; pos = pos->next) {
        struct aq_entry *x = container_of(pos, struct aq_entry, node);
        if (strcmp(x->db, db->name) == 0 && strcmp(x->user, user) == 0) {
            e = x;
            break;
        }
    }
    if (e != NULL && e->status != AQ_PENDING && now >= e->expires_us) {
        entry_free(e);
        e = NULL;
    }
    if (e != NULL && e->status != AQ_PENDING) {
        w->status = e->status;
        if (e->status == AQ_FOUND)
            w->user = e->found;
        return e->status;
    }
    if (e == NULL) {
        evict(now);
        e = calloc(1, sizeof(*e));
        if (e == NULL) {
            snprintf(w->error, sizeof(w->error), "out of memory");
            return w->status = AQ_FAILED;
        }
        strlcpy_ok(e->db, db->name, sizeof(e->db));
        strlcpy_ok(e->user, user, sizeof(e->user));
        e->status = AQ_PENDING;
        dlist_init(&e->waiters);
        dlist_push_front(&cache, &e->node);
        ncache++;
        dlist_push_back(&e->waiters, &w->node);
        start_lookup(e, db);
        return w->status = AQ_PENDING;
    }
    dlist_push_back(&e->waiters, &w->node);
    return w->status = AQ_PENDING;
}

void auth_query_shutdown(void)
{
    struct dlist *pos, *tmp;
    dlist_for_each_safe(pos, tmp, &cache)
    {
        struct aq_entry *e = container_of(pos, struct aq_entry, node);
        if (e->status == AQ_PENDING)
            entry_answer(e, AQ_FAILED, "wedpool is shutting down");
    }
    dlist_for_each_safe(pos, tmp, &cache) entry_free(container_of(pos, struct aq_entry, node));
    cache_sig[0] = '\0';
}

void auth_query_prometheus(struct pbuf *b)
{
    pbuf_printf(b, "# HELP wedpool_auth_query_lookups_total auth_query lookups sent to PostgreSQL, by result.\n"
                   "# TYPE wedpool_auth_query_lookups_total counter\n");
    pbuf_printf(b, "wedpool_auth_query_lookups_total{result=\"found\"} %llu\n", n_found);
    pbuf_printf(b, "wedpool_auth_query_lookups_total{result=\"not_found\"} %llu\n", n_not_found);
    pbuf_printf(b, "wedpool_auth_query_lookups_total{result=\"error\"} %llu\n", n_failed);
    pbuf_printf(b, "# HELP wedpool_auth_query_cached_users Answers (found or not) auth_query has cached.\n"
                   "# TYPE wedpool_auth_query_cached_users gauge\nwedpool_auth_query_cached_users %d\n", ncache);
}
