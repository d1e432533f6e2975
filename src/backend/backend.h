/* backend.h — one object per PostgreSQL host of a [databases] entry: its address and resolution,
 * role (primary / standby / unknown), health, replay lag, last error, counters and circuit
 * breaker. Pools route their server connections through it (route.h), the health checker
 * (health.c) and the statistics collector (pgstats.c) hang their state on it, and a cancel goes
 * to the host its server connection is on. */
#ifndef WEDPOOL_BACKEND_H
#define WEDPOOL_BACKEND_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "config.h"
#include "proto.h"
#include "route.h"
#include "util.h"

enum circuit_state {
    CIRCUIT_CLOSED,     /* connections allowed */
    CIRCUIT_OPEN,       /* circuit_breaker_failures consecutive failures: refused until a probe succeeds */
    CIRCUIT_HALF_OPEN,  /* open, and a probe (health check) is under way */
};

struct backend_db;
struct health_check;  /* health.c's connection to the host */

struct backend {
    struct backend_db *db;      /* NULL once a reload removed the host (servers may still be on it) */
    int refs;                   /* server connections on it, plus one while db holds it */
    char host[WP_HOST_MAX];     /* as configured: address, name or unix socket directory */
    int port;
    char label[WP_HOST_MAX + 8]; /* "host:port", the host label in metrics and events */
    char label_esc[2 * (WP_HOST_MAX + 8) + 1]; /* ... escaped for Prometheus */
    struct sockaddr_storage addr; /* resolved address (TCP or unix socket) */
    socklen_t addrlen;          /* 0 until resolved */
    char addr_error[300];       /* why it could not be resolved, "" if it could */
    struct evdns_getaddrinfo_request *dns_req; /* host name resolution in flight */
    uint64_t resolved_us;       /* last resolution attempt of a host name (0: none) */

    bool up;                    /* answering: true until a check or a connection fails */
    uint64_t last_up_us;        /* last login (a server's or a login check) that worked: a host that fails soon after is
                                 * taken to be restarting and waited for (backend_db_route) */
    bool checked;               /* a health check has answered (role known) */
    enum backend_role role;
    bool read_only;             /* default_transaction_read_only = on */
    int64_t lag_ms;             /* standby replay lag (0 when caught up); -1 unknown */
    char last_error[256];
    time_t last_check;          /* wall time of the last finished check, 0 = none */
    uint64_t last_check_us;
    uint64_t checks, check_failures, connect_failures;
    bool auth_warned;           /* the check could not log in (reported once) */
    int scram_iterations;       /* SCRAM iterations a server login here was asked for (0 = not seen):
                                 * libpq derives inline, so checks withhold the password above
                                 * DERIVE_INLINE_MAX_ITERATIONS */

    enum circuit_state circuit;
    int consec_failures;        /* connect/login/check failures in a row */
    int probe_attempt;          /* probes since the circuit opened (backoff exponent) */
    uint64_t next_check_us;     /* when the health checker looks next (backoff while open) */
    struct health_check *hc;    /* health.c's state, NULL when none */
};

struct backend_db {
    struct dlist node;          /* backend_db_all() */
    char name[WP_NAME_MAX];     /* the database name pools use */
    struct wp_database conf;    /* the [databases] line (hosts, target_session_attrs, ...) */
    struct backend *hosts[WP_MAX_HOSTS];
    int nhosts;
    int preferred;              /* index named by primary_preference, -1 = none */
    int refs;                   /* pools using it, plus one while rt.cfg lists it */
    bool configured;            /* that configuration reference is held */
    int primary;                /* current primary (route_primary), -1 = none */
    bool split_brain;
    bool failing_over;          /* had a primary, has none now */
    uint64_t failover_start_us;
    char failover_from[WP_HOST_MAX + 8];
    uint64_t failovers, split_brains;
    uint32_t rnd;               /* xorshift state for spreading connections */
    char patroni_leader[WP_HOST_MAX + 8]; /* Patroni's leader at its last answer, "" = none known */
    char patroni_error[200];    /* why the last question failed, "" if it did not */
    uint64_t patroni_next_us;   /* when to ask Patroni again */
    void *stats;                /* pgstats.c's data for this database, owned by it */
};

struct route_result;

void backend_init(void);
void backend_shutdown(void);
/* Creates or updates the backend databases of rt.cfg's [databases] (not the wildcard) so every
 * configured host is checked from the start; drops those a reload removed (once unused). */
void backend_sync_config(void);
struct dlist *backend_db_all(void);
struct backend_db *backend_db_find(const char *name);

/* The backend database for a pool of db (created if needed, updated to db's hosts); a reference
 * for the pool, given back with backend_db_put. NULL when out of memory. */
struct backend_db *backend_db_get(const struct wp_database *db);
void backend_db_put(struct backend_db *bdb);

/* Where a new server connection of the database goes now (route_pick on the current health). For
 * ROUTE_OK returns the host (resolved: addrlen != 0, or NULL while it resolves); otherwise NULL. */
struct backend *backend_db_route(struct backend_db *bdb, struct route_result *rr);
/* The SQLSTATE and message a client gets when rr is ROUTE_FAIL (or the wait ends). */
void backend_db_route_error(const struct backend_db *bdb, const struct route_result *rr, char sqlstate[6],
                            char *msg, size_t n);
/* Whether connections already open on be may go on serving the database's pools. */
bool backend_db_acceptable(const struct backend_db *bdb, const struct backend *be);

void backend_ref(struct backend *be);
void backend_unref(struct backend *be);
/* "host:port" or "host (ip):port" for messages. */
const char *backend_target_text(const struct backend *be, char *buf, size_t n);

/* A server connection (or a health check) to be failed with this error: connection-level errors
 * (SQLSTATE class 08, 57P) count towards the circuit breaker and mark the host down; returns true
 * if it was one (the pool should not treat it as its own login failure). */
bool backend_failed(struct backend *be, const char *sqlstate, const char *msg);
/* A server login or health check to be succeeded: the host is up, its circuit closes. */
void backend_succeeded(struct backend *be);
/* The health checker's verdict on a host. */
void backend_checked(struct backend *be, enum backend_role role, bool read_only, int64_t lag_ms);
/* The health check failed (connect, login refused by a host-level error, query, timeout). */
void backend_check_failed(struct backend *be, const char *why);
/* Whether health checks log in (and learn the role) or only open a TCP connection: they log in
 * where the role decides routing (several hosts, or target_session_attrs other than any) or when
 * health_check_user is set. */
bool backend_db_login_checks(const struct backend_db *bdb);
/* The checker's TCP probe connected (a host whose checks do not log in). */
void backend_probed(struct backend *be);
/* The checker logged in with no role answer (credentials refused): reachable, role unknown. */
void backend_reachable(struct backend *be, const char *why);
/* Patroni's answer (patroni.c): its leader settles a split brain as primary_preference does. */
void backend_db_patroni(struct backend_db *bdb, const char *leader, const char *error);
/* Resolves host names again every dns_max_ttl_s (after a failure, every server_login_retry_ms). */
void backend_janitor(uint64_t now);

/* The user and password health checks and statistics log in with: health_check_user, else the
 * database's user=, else the first pool's. False if no user is known yet. */
bool backend_db_credentials(const struct backend_db *bdb, const char **user, const char **password);
/* "db/user,db/user" of the pools on bdb, cut with "..." to fit. */
void backend_db_pools_text(const struct backend_db *bdb, char *out, size_t n);
/* For /readyz: true if some configured host is up; why gets the first failure. */
bool backend_any_up(char *why, size_t n);
void backend_prometheus(struct pbuf *out);
const char *backend_circuit_name(enum circuit_state c);

#endif
