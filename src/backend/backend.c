/* backend.c — the backend object: one per host of a [databases] entry (address, resolution, role,
 * health, lag, circuit breaker) and one per database grouping its hosts (primary, split brain,
 * failovers). Publishes backend, failover, split-brain and circuit events (core/events.h). */
#include "backend.h"

#include <arpa/inet.h>
#include <event2/dns.h>
#include <event2/util.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "events.h"
#include "health.h"
#include "log.h"
#include "loop.h"
#include "pgstats.h"
#include "pool.h"
#include "runtime.h"

static struct dlist all_dbs = {&all_dbs, &all_dbs};
static uint32_t seed;

void backend_init(void)
{
    dlist_init(&all_dbs);
    seed = (uint32_t)now_us() ^ ((uint32_t)getpid() << 16);
    if (seed == 0)
        seed = 1;
}

struct dlist *backend_db_all(void)
{
    return &all_dbs;
}

static uint32_t next_rnd(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *s = x;
    return x;
}

const char *backend_circuit_name(enum circuit_state c)
{
    switch (c) {
    case CIRCUIT_OPEN:
        return "open";
    case CIRCUIT_HALF_OPEN:
        return "half-open";
    default:
        return "closed";
    }
}

/* ---- resolution (what pool.c did with pool->addr) ---- */

static void backend_resolve(struct backend *be);

static void resolved(int err, struct evutil_addrinfo *res, void *arg)
{
    if (err == EVUTIL_EAI_CANCEL)
        return; /* the backend is going away; do not touch it */
    struct backend *be = arg;
    be->dns_req = NULL;
    if (err != 0 || res == NULL) {
        if (be->addrlen != 0) {
            log_warn("backend %s: could not resolve host \"%s\" again (%s); keeping its last address", be->label,
                     be->host, evutil_gai_strerror(err));
        } else {
            snprintf(be->addr_error, sizeof(be->addr_error), "could not resolve host \"%s\": %s", be->host,
                     evutil_gai_strerror(err));
            log_error("backend %s: %s", be->label, be->addr_error);
        }
        if (res != NULL)
            evutil_freeaddrinfo(res);
        if (be->db != NULL)
            pool_backends_changed(be->db, NULL);
        return;
    }
    const struct evutil_addrinfo *a = loop_pick_address(res);
    bool changed = be->addrlen != 0 && (be->addrlen != a->ai_addrlen || memcmp(&be->addr, a->ai_addr, a->ai_addrlen) != 0);
    memset(&be->addr, 0, sizeof(be->addr));
    memcpy(&be->addr, a->ai_addr, a->ai_addrlen);
    be->addrlen = (socklen_t)a->ai_addrlen;
    be->addr_error[0] = '\0';
    evutil_freeaddrinfo(res);
    if (changed) {
        char text[INET6_ADDRSTRLEN] = "?";
        sockaddr_ip_text(&be->addr, text, sizeof(text));
        log_info("backend %s: host \"%s\" now resolves to %s: new server connections go there, existing ones "
                 "are replaced as they are released", be->label, be->host, text);
        health_reset(be); /* its check connection is to the old address */
    }
    if (be->db != NULL)
        pool_backends_changed(be->db, changed ? be : NULL);
}

static void backend_resolve(struct backend *be)
{
    if (be->host[0] == '/') {
        be->addr_error[0] = '\0';
        memset(&be->addr, 0, sizeof(be->addr));
        struct sockaddr_un *un = (struct sockaddr_un *)&be->addr;
        un->sun_family = AF_UNIX;
        int n = snprintf(un->sun_path, sizeof(un->sun_path), "%s/.s.PGSQL.%d", be->host, be->port);
        if (n < 0 || (size_t)n >= sizeof(un->sun_path))
            snprintf(be->addr_error, sizeof(be->addr_error), "unix socket path too long");
        be->addrlen = sizeof(*un);
        return;
    }
    if (be->dns_req != NULL)
        return; /* already on its way */
    struct evutil_addrinfo hints = {0};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = EVUTIL_AI_NUMERICHOST | EVUTIL_AI_NUMERICSERV;
    char port[16];
    snprintf(port, sizeof(port), "%d", be->port);
    /* An address literal needs no resolver. */
    struct evutil_addrinfo *res = NULL;
    if (evutil_getaddrinfo(be->host, port, &hints, &res) == 0 && res != NULL) {
        const struct evutil_addrinfo *a = res;
        memset(&be->addr, 0, sizeof(be->addr));
        memcpy(&be->addr, a->ai_addr, a->ai_addrlen);
        be->addrlen = (socklen_t)a->ai_addrlen;
        be->addr_error[0] = '\0';
        evutil_freeaddrinfo(res);
        return;
    }
    /* A host name: asynchronously (a slow DNS server must never stall the loop), again every
     * dns_max_ttl_s so a failover that moves the name is followed. Waiters wait meanwhile. */
    be->resolved_us = now_us();
    loop_resolve(be->host, be->port, resolved, be, &be->dns_req);
}

void backend_janitor(uint64_t now)
{
    if (rt.shutting_down)
        return;
    struct dlist *pos;
    for (pos = all_dbs.next; pos != &all_dbs; pos = pos->next) {
        struct backend_db *bdb = container_of(pos, struct backend_db, node);
        for (int i = 0; i < bdb->nhosts; i++) {
            struct backend *be = bdb->hosts[i];
            if (be->resolved_us == 0 || be->dns_req != NULL)
                continue;
            uint64_t every = be->addr_error[0] != '\0' ? (uint64_t)rt.cfg.server_login_retry_ms * 1000u
                                                       : (uint64_t)rt.cfg.dns_max_ttl_s * 1000000u;
            if (elapsed_us(now, be->resolved_us) >= every)
                backend_resolve(be);
        }
    }
}

const char *backend_target_text(const struct backend *be, char *buf, size_t n)
{
    char ip[INET6_ADDRSTRLEN];
    if (be->host[0] != '/' && sockaddr_ip_text(&be->addr, ip, sizeof(ip)) && strcmp(ip, be->host) != 0)
        snprintf(buf, n, "%s (%s):%d", be->host, ip, be->port);
    else
        snprintf(buf, n, "%s:%d", be->host, be->port);
    return buf;
}

/* ---- lifetime ---- */

static struct backend *backend_new(struct backend_db *bdb, const struct wp_host *h)
{
    struct backend *be = calloc(1, sizeof(*be));
    if (be == NULL)
        return NULL;
    be->db = bdb;
    be->refs = 1;
    strlcpy_ok(be->host, h->name, sizeof(be->host));
    be->port = h->port;
    snprintf(be->label, sizeof(be->label), "%s:%d", h->name, h->port);
    prom_label_escape(be->label, be->label_esc, sizeof(be->label_esc));
    be->up = true;
    be->lag_ms = -1;
    be->role = ROLE_UNKNOWN;
    backend_resolve(be);
    return be;
}

void backend_ref(struct backend *be)
{
    be->refs++;
}

void backend_unref(struct backend *be)
{
    if (--be->refs > 0)
        return;
    health_forget(be);
    if (be->dns_req != NULL)
        evdns_getaddrinfo_cancel(be->dns_req);
    free(be);
}

/* The host leaves its database (reload removed it, or the database goes). */
static void backend_detach(struct backend *be)
{
    health_forget(be);
    be->db = NULL;
    backend_unref(be);
}

/* The host named "host:port" by its configured name or its resolved address; -1 if none. */
static int bdb_host_index(const struct backend_db *bdb, const char *hostport)
{
    for (int i = 0; i < bdb->nhosts; i++) {
        const struct backend *be = bdb->hosts[i];
        char ip[INET6_ADDRSTRLEN], text[INET6_ADDRSTRLEN + 8];
        if (strcmp(be->label, hostport) == 0)
            return i;
        if (be->host[0] != '/' && sockaddr_ip_text(&be->addr, ip, sizeof(ip))) {
            snprintf(text, sizeof(text), "%s:%d", ip, be->port);
            if (strcmp(text, hostport) == 0)
                return i;
        }
    }
    return -1;
}

/* primary_preference, else Patroni's leader. */
static void bdb_set_preferred(struct backend_db *bdb)
{
    bdb->preferred = -1;
    if (bdb->conf.primary_preference[0] != '\0')
        bdb->preferred = bdb_host_index(bdb, bdb->conf.primary_preference);
    else if (bdb->patroni_leader[0] != '\0')
        bdb->preferred = bdb_host_index(bdb, bdb->patroni_leader);
}

/* Takes db's hosts: those already known keep their state, new ones start unchecked. */
static void bdb_update(struct backend_db *bdb, const struct wp_database *db)
{
    struct backend *old[WP_MAX_HOSTS];
    int nold = bdb->nhosts;
    memcpy(old, bdb->hosts, sizeof(old));
    bdb->conf = *db;
    int n = 0;
    for (int i = 0; i < db->nhosts; i++) {
        struct backend *keep = NULL;
        for (int k = 0; k < nold; k++) {
            if (old[k] != NULL && strcmp(old[k]->host, db->hosts[i].name) == 0 && old[k]->port == db->hosts[i].port) {
                keep = old[k];
                old[k] = NULL;
                break;
            }
        }
        if (keep == NULL)
            keep = backend_new(bdb, &db->hosts[i]);
        if (keep != NULL)
            bdb->hosts[n++] = keep;
    }
    bdb->nhosts = n;
    for (int k = 0; k < nold; k++)
        if (old[k] != NULL)
            backend_detach(old[k]);
    bdb_set_preferred(bdb);
    if (bdb->primary >= bdb->nhosts)
        bdb->primary = -1;
}

static bool same_hosts(const struct wp_database *a, const struct wp_database *b)
{
    if (a->nhosts != b->nhosts)
        return false;
    for (int i = 0; i < a->nhosts; i++)
        if (strcmp(a->hosts[i].name, b->hosts[i].name) != 0 || a->hosts[i].port != b->hosts[i].port)
            return false;
    return true;
}

struct backend_db *backend_db_find(const char *name)
{
    struct dlist *pos;
    for (pos = all_dbs.next; pos != &all_dbs; pos = pos->next) {
        struct backend_db *bdb = container_of(pos, struct backend_db, node);
        if (strcmp(bdb->name, name) == 0)
            return bdb;
    }
    return NULL;
}

static struct backend_db *bdb_obtain(const struct wp_database *db)
{
    struct backend_db *bdb = backend_db_find(db->name);
    if (bdb != NULL) {
        if (!same_hosts(&bdb->conf, db)) {
            bdb_update(bdb, db);
            health_kick(bdb);
        } else {
            bdb->conf = *db;
            bdb_set_preferred(bdb);
        }
        return bdb;
    }
    bdb = calloc(1, sizeof(*bdb));
    if (bdb == NULL)
        return NULL;
    strlcpy_ok(bdb->name, db->name, sizeof(bdb->name));
    bdb->primary = -1;
    bdb->rnd = next_rnd(&seed) | 1u;
    dlist_push_back(&all_dbs, &bdb->node);
    bdb_update(bdb, db);
    return bdb;
}

struct backend_db *backend_db_get(const struct wp_database *db)
{
    struct backend_db *bdb = bdb_obtain(db);
    if (bdb == NULL)
        return NULL;
    bdb->refs++;
    /* a check that could not log in before this pool brought credentials: again now */
    for (int i = 0; i < bdb->nhosts && backend_db_login_checks(bdb); i++)
        if (bdb->hosts[i]->role == ROLE_UNKNOWN) {
            health_kick(bdb);
            break;
        }
    return bdb;
}

void backend_db_put(struct backend_db *bdb)
{
    if (--bdb->refs > 0)
        return;
    dlist_remove(&bdb->node);
    pgstats_forget(bdb);
    for (int i = 0; i < bdb->nhosts; i++)
        backend_detach(bdb->hosts[i]);
    free(bdb);
}

void backend_sync_config(void)
{
    for (size_t i = 0; i < rt.cfg.ndbs; i++) {
        const struct wp_database *db = &rt.cfg.dbs[i];
        if (strcmp(db->name, WP_WILDCARD_DB) == 0)
            continue;
        struct backend_db *bdb = bdb_obtain(db);
        if (bdb != NULL && !bdb->configured) {
            bdb->configured = true;
            bdb->refs++;
        }
    }
    struct dlist *pos, *tmp;
    dlist_for_each_safe(pos, tmp, &all_dbs)
    {
        struct backend_db *bdb = container_of(pos, struct backend_db, node);
        if (bdb->configured && config_find_db(&rt.cfg, bdb->name) == NULL) {
            bdb->configured = false;
            backend_db_put(bdb);
        }
    }
}

void backend_shutdown(void)
{
    struct dlist *pos, *tmp;
    dlist_for_each_safe(pos, tmp, &all_dbs)
    {
        struct backend_db *bdb = container_of(pos, struct backend_db, node);
        if (bdb->configured) {
            bdb->configured = false;
            backend_db_put(bdb);
        }
    }
}

/* ---- routing ---- */

static int snapshot(const struct backend_db *bdb, struct route_host *h)
{
    uint64_t now = now_us(), window = (uint64_t)rt.cfg.server_connect_timeout_ms * 1000u;
    for (int i = 0; i < bdb->nhosts; i++) {
        const struct backend *be = bdb->hosts[i];
        bool resolved = be->addr_error[0] == '\0';
        h[i] = (struct route_host){be->up && resolved, be->circuit != CIRCUIT_CLOSED, be->role, be->read_only,
                                   be->lag_ms,
                                   resolved && be->last_up_us != 0 && elapsed_us(now, be->last_up_us) < window};
    }
    return bdb->nhosts;
}

struct backend *backend_db_route(struct backend_db *bdb, struct route_result *rr)
{
    struct route_host h[WP_MAX_HOSTS];
    int n = snapshot(bdb, h);
    *rr = route_pick(h, n, bdb->conf.target_session_attrs, bdb->preferred, bdb->conf.max_replica_lag_ms,
                     bdb->conf.load_balance, next_rnd(&bdb->rnd));
    if (rr->verdict != ROUTE_OK)
        return NULL;
    struct backend *be = bdb->hosts[rr->host];
    return be->addrlen != 0 ? be : NULL;
}

bool backend_db_acceptable(const struct backend_db *bdb, const struct backend *be)
{
    if (be->db != bdb)
        return false;
    struct route_host h[WP_MAX_HOSTS];
    int n = snapshot(bdb, h);
    for (int i = 0; i < n; i++)
        if (bdb->hosts[i] == be)
            return route_acceptable(h, n, i, bdb->conf.target_session_attrs, bdb->preferred,
                                    bdb->conf.max_replica_lag_ms);
    return false;
}

/* "pg1:5432 (circuit open: ...), pg2:5432 (...)" */
static void hosts_state_text(const struct backend_db *bdb, char *out, size_t n)
{
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < bdb->nhosts && len < n; i++) {
        const struct backend *be = bdb->hosts[i];
        const char *why = be->addr_error[0] ? be->addr_error : be->last_error[0] ? be->last_error : "no error";
        char lag[48] = "";
        if (be->up && be->role == ROLE_STANDBY && be->lag_ms > 0)
            snprintf(lag, sizeof(lag), ", lag %lld ms", (long long)be->lag_ms);
        int w = snprintf(out + len, n - len, "%s%s (%s%s%s)", i ? ", " : "", be->label,
                         be->circuit != CIRCUIT_CLOSED ? "circuit open: " : be->up ? route_role_name(be->role) : "down: ",
                         be->circuit != CIRCUIT_CLOSED || !be->up ? why : "", lag);
        if (w < 0)
            break;
        len += (size_t)w;
    }
}

void backend_db_route_error(const struct backend_db *bdb, const struct route_result *rr, char sqlstate[6], char *msg,
                            size_t n)
{
    char hosts[600];
    hosts_state_text(bdb, hosts, sizeof(hosts));
    const char *tsa = config_tsa_name(bdb->conf.target_session_attrs);
    strcpy(sqlstate, "57P03");
    switch (rr->reason) {
    case RR_ALL_DOWN:
    case RR_RESTARTING:
        strcpy(sqlstate, "08006");
        if (bdb->nhosts == 1) {
            const struct backend *be = bdb->hosts[0];
            const char *why = be->addr_error[0] ? be->addr_error : be->last_error[0] ? be->last_error : "down";
            char target[300];
            backend_target_text(be, target, sizeof(target));
            if (strncmp(why, "could not connect to server ", 28) == 0)
                snprintf(msg, n, "wedpool: cannot reach the server of database \"%s\": %s%s", bdb->name, why,
                         be->circuit != CIRCUIT_CLOSED ? " (circuit breaker open)" : "");
            else
                snprintf(msg, n, "wedpool: cannot reach the server of database \"%s\": could not connect to server %s: %s%s",
                         bdb->name, target, why, be->circuit != CIRCUIT_CLOSED ? " (circuit breaker open)" : "");
        } else
            snprintf(msg, n, "wedpool: no host of database \"%s\" is reachable: %s", bdb->name, hosts);
        break;
    case RR_SPLIT_BRAIN:
        strcpy(sqlstate, "08006");
        snprintf(msg, n,
                 "wedpool: split brain in database \"%s\": several hosts claim to be primary (%s); writes are refused "
                 "until one is demoted or primary_preference names one",
                 bdb->name, hosts);
        break;
    case RR_CHECKING:
        snprintf(msg, n, "wedpool: the roles of database \"%s\"'s hosts are not known yet (%s)", bdb->name, hosts);
        break;
    case RR_NO_PRIMARY:
        snprintf(msg, n, "wedpool: database \"%s\" has no primary (target_session_attrs=%s): %s", bdb->name, tsa, hosts);
        break;
    case RR_ALL_LAGGING:
        snprintf(msg, n, "wedpool: every standby of database \"%s\" lags more than max_replica_lag_ms=%d: %s",
                 bdb->name, bdb->conf.max_replica_lag_ms, hosts);
        break;
    default:
        snprintf(msg, n, "wedpool: database \"%s\" has no standby for target_session_attrs=%s: %s", bdb->name, tsa,
                 hosts);
        break;
    }
}

/* ---- health, circuit, events ---- */

void backend_db_pools_text(const struct backend_db *bdb, char *out, size_t n)
{
    size_t len = 0;
    out[0] = '\0';
    struct dlist *pos;
    for (pos = pool_all()->next; pos != pool_all(); pos = pos->next) {
        const struct pool *p = container_of(pos, struct pool, node);
        if (p->bdb != bdb)
            continue;
        int w = snprintf(out + len, n - len, "%s%s/%s", len ? "," : "", p->name, p->user);
        if (w < 0 || (size_t)w >= n - len) {
            if (n > 4)
                strcpy(out + n - 4, "...");
            return;
        }
        len += (size_t)w;
    }
}

static void publish(enum wp_event_kind kind, const struct backend_db *bdb, const char *host, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void publish(enum wp_event_kind kind, const struct backend_db *bdb, const char *host, const char *fmt, ...)
{
    struct wp_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = kind;
    if (bdb != NULL) {
        strlcpy_ok(ev.database, bdb->name, sizeof(ev.database));
        backend_db_pools_text(bdb, ev.pools, sizeof(ev.pools));
    }
    strlcpy_ok(ev.host, host != NULL ? host : "", sizeof(ev.host));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ev.detail, sizeof(ev.detail), fmt, ap);
    va_end(ap);
    events_publish(&ev);
}

/* Roles changed: follow the primary (failover started / finished) and watch for split brain. */
static void bdb_evaluate(struct backend_db *bdb)
{
    struct route_host h[WP_MAX_HOSTS];
    int n = snapshot(bdb, h);
    for (int i = 0; i < n; i++)
        h[i].circuit_open = false; /* a primary is a primary even while our connections to it fail */
    bool split;
    int primary = route_primary(h, n, bdb->preferred, &split);
    uint64_t now = now_us();
    if (split && !bdb->split_brain) {
        char hosts[600];
        hosts_state_text(bdb, hosts, sizeof(hosts));
        bdb->split_brain = true;
        bdb->split_brains++;
        log_error("SPLIT BRAIN: database %s has several hosts claiming to be primary: %s; writes are refused until "
                  "it is resolved (or primary_preference names one)", bdb->name, hosts);
        publish(EV_SPLIT_BRAIN, bdb, "", "%s", hosts);
    } else if (!split && bdb->split_brain) {
        bdb->split_brain = false;
        publish(EV_SPLIT_BRAIN_RESOLVED, bdb, primary >= 0 ? bdb->hosts[primary]->label : "",
                "one primary again: %s", primary >= 0 ? bdb->hosts[primary]->label : "none");
    }
    if (split) {
        bdb->primary = -1;
        return;
    }
    if (bdb->nhosts > 1 && primary < 0 && bdb->primary >= 0 && !bdb->failing_over) {
        bdb->failing_over = true;
        bdb->failover_start_us = now;
        strlcpy_ok(bdb->failover_from, bdb->hosts[bdb->primary]->label, sizeof(bdb->failover_from));
        publish(EV_FAILOVER_STARTED, bdb, bdb->failover_from, "primary %s lost: %s", bdb->failover_from,
                bdb->hosts[bdb->primary]->last_error[0] ? bdb->hosts[bdb->primary]->last_error : "no longer primary");
        health_kick(bdb); /* from now on every quarter interval: see the promotion soon */
    }
    if (primary >= 0 && bdb->failing_over) {
        bool same = strcmp(bdb->hosts[primary]->label, bdb->failover_from) == 0;
        if (!same)
            bdb->failovers++;
        publish(EV_FAILOVER_FINISHED, bdb, bdb->hosts[primary]->label, "%s -> %s in %llu ms%s", bdb->failover_from,
                bdb->hosts[primary]->label, (unsigned long long)(elapsed_us(now, bdb->failover_start_us) / 1000u),
                same ? " (the same host)" : "");
        bdb->failing_over = false;
    } else if (primary >= 0 && bdb->primary >= 0 && primary != bdb->primary) {
        /* a switchover seen in one step: the old primary is a standby already */
        const char *from = bdb->hosts[bdb->primary]->label;
        publish(EV_FAILOVER_STARTED, bdb, from, "primary moves from %s", from);
        bdb->failovers++;
        publish(EV_FAILOVER_FINISHED, bdb, bdb->hosts[primary]->label, "%s -> %s in 0 ms", from,
                bdb->hosts[primary]->label);
    }
    bdb->primary = primary;
}

void backend_db_patroni(struct backend_db *bdb, const char *leader, const char *error)
{
    if (strcmp(bdb->patroni_error, error) != 0 && error[0] != '\0')
        log_warn("patroni: database %s: %s", bdb->name, error);
    strlcpy_ok(bdb->patroni_error, error, sizeof(bdb->patroni_error));
    if (error[0] != '\0' || strcmp(bdb->patroni_leader, leader) == 0)
        return; /* an unanswered question keeps the last leader */
    strlcpy_ok(bdb->patroni_leader, leader, sizeof(bdb->patroni_leader));
    int before = bdb->preferred;
    bdb_set_preferred(bdb);
    int idx = bdb_host_index(bdb, leader);
    log_info("patroni: database %s: the leader is %s%s", bdb->name, leader,
             idx < 0 ? " (none of the configured hosts)" : "");
    if (idx >= 0 && bdb->primary >= 0 && idx != bdb->primary)
        log_warn("patroni: database %s: Patroni's leader %s is not the host PostgreSQL says is primary (%s)",
                 bdb->name, leader, bdb->hosts[bdb->primary]->label);
    if (bdb->preferred != before) {
        bdb_evaluate(bdb);
        pool_backends_changed(bdb, NULL);
    }
}

static void changed(struct backend *be)
{
    if (be->db == NULL)
        return;
    bdb_evaluate(be->db);
    pool_backends_changed(be->db, NULL);
}

static void set_down(struct backend *be, const char *why)
{
    strlcpy_ok(be->last_error, why, sizeof(be->last_error));
    if (be->up) {
        be->up = false;
        publish(EV_BACKEND_DOWN, be->db, be->label, "%s", why);
    }
}

static void open_circuit(struct backend *be)
{
    be->circuit = CIRCUIT_OPEN;
    be->probe_attempt = 0;
    uint32_t wait = route_backoff_ms(0, next_rnd(&seed));
    be->next_check_us = now_us() + (uint64_t)wait * 1000u;
    publish(EV_CIRCUIT_OPEN, be->db, be->label, "%d consecutive failures, last: %s; next probe in %u ms",
            be->consec_failures, be->last_error, wait);
}

bool backend_failed(struct backend *be, const char *sqlstate, const char *msg)
{
    /* cannot connect, connection lost, or the server is shutting down / starting up; a protocol
     * violation (08P01) is that connection's fault, not the host's */
    bool host_level = (strncmp(sqlstate, "08", 2) == 0 && strcmp(sqlstate, "08P01") != 0) ||
                      strncmp(sqlstate, "57P", 3) == 0;
    if (!host_level)
        return false;
    be->connect_failures++;
    be->consec_failures++;
    set_down(be, msg);
    if (be->circuit == CIRCUIT_CLOSED && be->consec_failures >= rt.cfg.circuit_breaker_failures)
        open_circuit(be);
    health_kick(be->db); /* look at the other hosts now: a failover may be under way */
    changed(be);
    return true;
}

/* A probe of an open circuit failed: the next one after a longer wait. */
static void probe_failed(struct backend *be)
{
    be->probe_attempt++;
    be->circuit = CIRCUIT_OPEN;
    be->next_check_us = now_us() + (uint64_t)route_backoff_ms(be->probe_attempt, next_rnd(&seed)) * 1000u;
}

static void mark_up(struct backend *be)
{
    be->consec_failures = 0;
    if (be->circuit != CIRCUIT_CLOSED) {
        be->circuit = CIRCUIT_CLOSED;
        be->probe_attempt = 0;
        publish(EV_CIRCUIT_CLOSED, be->db, be->label, "a probe succeeded");
    }
    if (!be->up) {
        be->up = true;
        publish(EV_BACKEND_UP, be->db, be->label, "answering again");
    }
}

void backend_succeeded(struct backend *be)
{
    bool was = be->up && be->circuit == CIRCUIT_CLOSED;
    be->last_up_us = now_us(); /* a login, not just a TCP answer: failures soon after look like a restart */
    mark_up(be);
    if (!was)
        changed(be);
}

void backend_checked(struct backend *be, enum backend_role role, bool read_only, int64_t lag_ms)
{
    bool was_up = be->up && be->circuit == CIRCUIT_CLOSED;
    bool moved = role != be->role || read_only != be->read_only || !be->checked;
    int max_lag = be->db != NULL ? be->db->conf.max_replica_lag_ms : 0;
    bool lag_crossed = max_lag > 0 && ((be->lag_ms > max_lag) != (lag_ms > max_lag) || (be->lag_ms < 0) != (lag_ms < 0));
    if (role != be->role && be->checked)
        log_warn("backend %s of database %s: role %s -> %s", be->label, be->db ? be->db->name : "?",
                 route_role_name(be->role), route_role_name(role));
    be->checks++;
    be->checked = true;
    be->role = role;
    be->read_only = read_only;
    be->lag_ms = lag_ms;
    be->last_error[0] = '\0';
    be->last_up_us = now_us();
    mark_up(be);
    be->last_check = wall_time();
    be->last_check_us = now_us();
    if (!was_up || moved || lag_crossed)
        changed(be);
}

bool backend_db_login_checks(const struct backend_db *bdb)
{
    return bdb->nhosts > 1 || bdb->conf.target_session_attrs != TSA_ANY || rt.cfg.health_check_user[0] != '\0';
}

void backend_probed(struct backend *be)
{
    bool was_up = be->up && be->circuit == CIRCUIT_CLOSED;
    be->checks++;
    be->last_error[0] = '\0';
    mark_up(be);
    be->last_check = wall_time();
    be->last_check_us = now_us();
    if (!was_up)
        changed(be);
}

void backend_reachable(struct backend *be, const char *why)
{
    if (!be->auth_warned)
        log_warn("backend %s of database %s: the health check failed (%s); the host answers, so it counts as up "
                 "with an unknown role (for logins, set health_check_user)", be->label, be->db ? be->db->name : "?", why);
    be->auth_warned = true;
    bool was_up = be->up && be->circuit == CIRCUIT_CLOSED;
    be->checks++;
    strlcpy_ok(be->last_error, why, sizeof(be->last_error));
    mark_up(be);
    be->last_check = wall_time();
    be->last_check_us = now_us();
    if (!was_up)
        changed(be);
}

void backend_check_failed(struct backend *be, const char *why)
{
    be->checks++;
    be->check_failures++;
    be->last_check = wall_time();
    be->last_check_us = now_us();
    be->consec_failures++;
    set_down(be, why);
    if (be->circuit != CIRCUIT_CLOSED)
        probe_failed(be);
    else if (be->consec_failures >= rt.cfg.circuit_breaker_failures)
        open_circuit(be);
    changed(be);
}

bool backend_db_credentials(const struct backend_db *bdb, const char **user, const char **password)
{
    if (rt.cfg.health_check_user[0] != '\0') {
        const struct wp_user *u = config_find_user(&rt.cfg, rt.cfg.health_check_user);
        *user = rt.cfg.health_check_user;
        *password = u != NULL ? u->password : "";
        return true;
    }
    const struct pool *first = NULL;
    struct dlist *pos;
    for (pos = pool_all()->next; pos != pool_all(); pos = pos->next) {
        const struct pool *p = container_of(pos, struct pool, node);
        if (p->bdb != bdb)
            continue;
        if (p->password[0] != '\0') {
            *user = p->user;
            *password = p->password;
            return true;
        }
        if (first == NULL)
            first = p;
    }
    if (bdb->conf.user[0] != '\0') {
        const struct wp_user *u = config_find_user(&rt.cfg, bdb->conf.user);
        *user = bdb->conf.user;
        *password = bdb->conf.password[0] ? bdb->conf.password : u != NULL ? u->password : "";
        return true;
    }
    if (first != NULL) {
        *user = first->user;
        *password = "";
        return true;
    }
    return false;
}

/* ---- views ---- */

bool backend_any_up(char *why, size_t n)
{
    bool any_known = false;
    struct dlist *pos;
    for (pos = all_dbs.next; pos != &all_dbs; pos = pos->next) {
        const struct backend_db *bdb = container_of(pos, struct backend_db, node);
        if (!bdb->configured)
            continue;
        for (int i = 0; i < bdb->nhosts; i++) {
            const struct backend *be = bdb->hosts[i];
            if (be->last_check == 0 && be->up)
                continue; /* not checked yet */
            any_known = true;
            if (be->up)
                return true;
            snprintf(why, n, "database %s host %s: %s", bdb->name, be->label, be->last_error);
        }
    }
    if (!any_known)
        snprintf(why, n, "no backend checked yet");
    return false;
}

/* The metric families, one table: per host (a value, or false to leave the series out) or per database. */
static bool m_up(const struct backend *be, double *v)
{
    *v = be->up && be->circuit == CIRCUIT_CLOSED;
    return true;
}

static bool m_role(const struct backend *be, double *v)
{
    *v = (double)be->role;
    return true;
}

static bool m_lag(const struct backend *be, double *v)
{
    *v = (double)be->lag_ms / 1000.0;
    return be->role == ROLE_STANDBY && be->lag_ms >= 0;
}

static bool m_circuit(const struct backend *be, double *v)
{
    *v = be->circuit != CIRCUIT_CLOSED;
    return true;
}

static double m_failovers(const struct backend_db *bdb)
{
    return (double)bdb->failovers;
}

static double m_split(const struct backend_db *bdb)
{
    return bdb->split_brain;
}

static const struct {
    const char *name, *type, *help;
    bool (*host)(const struct backend *be, double *v);
    double (*db)(const struct backend_db *bdb);
} families[] = {
    {"wedpool_backend_up", "gauge",
     "1 if the host answered its last health check (every health_check_interval_ms) and its circuit is closed.", m_up,
     NULL},
    {"wedpool_backend_role", "gauge", "The host's role at the last check: 0 unknown, 1 primary, 2 standby.", m_role, NULL},
    {"wedpool_backend_replay_lag_seconds", "gauge",
     "A standby's replay lag (0 when it has replayed all it received); absent when unknown.", m_lag, NULL},
    {"wedpool_circuit_open", "gauge", "1 while the host's circuit breaker refuses new connections.", m_circuit, NULL},
    {"wedpool_failovers_total", "counter", "Times the database's primary moved to another host.", NULL, m_failovers},
    {"wedpool_split_brain", "gauge", "1 while several hosts of the database claim to be primary.", NULL, m_split},
};

void backend_prometheus(struct pbuf *b)
{
    for (size_t f = 0; f < sizeof(families) / sizeof(families[0]); f++) {
        pbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", families[f].name, families[f].help, families[f].name,
                    families[f].type);
        for (struct dlist *pos = all_dbs.next; pos != &all_dbs; pos = pos->next) {
            const struct backend_db *bdb = container_of(pos, struct backend_db, node);
            char db[WP_NAME_MAX * 2 + 1];
            prom_label_escape(bdb->name, db, sizeof(db));
            if (families[f].db != NULL) {
                pbuf_printf(b, "%s{database=\"%s\"} %.15g\n", families[f].name, db, families[f].db(bdb));
                continue;
            }
            for (int i = 0; i < bdb->nhosts; i++) {
                double v;
                if (families[f].host(bdb->hosts[i], &v))
                    pbuf_printf(b, "%s{database=\"%s\",host=\"%s\"} %.15g\n", families[f].name, db,
                                bdb->hosts[i]->label_esc, v);
            }
        }
    }
}
