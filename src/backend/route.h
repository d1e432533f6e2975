/* route.h — which host of a multi-host database a pool's next server connection goes to: the
 * target_session_attrs choice, the split-brain decision and the circuit breaker's backoff. Pure
 * (no I/O, no globals): unit-tested in tests/unit/test_route.c. */
#ifndef WEDPOOL_ROUTE_H
#define WEDPOOL_ROUTE_H

#include <stdbool.h>
#include <stdint.h>

enum backend_role { ROLE_UNKNOWN, ROLE_PRIMARY, ROLE_STANDBY };

/* What routing needs to know about one host. */
struct route_host {
    bool up;            /* answering (or not yet checked and not known to be down) */
    bool circuit_open;  /* its circuit breaker refuses new connections */
    enum backend_role role;
    bool read_only;     /* a primary with default_transaction_read_only = on */
    int64_t lag_ms;     /* standby replay lag; -1 unknown */
    bool restarting;    /* down, but it logged in less than server_connect_timeout_ms ago: a restart
                         * (pg_ctl restart, crash recovery) that is waited for, not failed */
};

enum route_verdict {
    ROUTE_OK,    /* host is the index to connect to */
    ROUTE_WAIT,  /* nothing suitable yet, but there may be soon (roles being checked, failover) */
    ROUTE_FAIL,  /* nothing suitable: tell the client now */
};

enum route_reason {
    RR_NONE,
    RR_ALL_DOWN,      /* every host down or its circuit open */
    RR_SPLIT_BRAIN,   /* several hosts claim primary and primary_preference names none of them */
    RR_CHECKING,      /* roles not known yet */
    RR_NO_PRIMARY,    /* hosts up, none primary: a failover in progress */
    RR_NO_STANDBY,    /* no standby up */
    RR_ALL_LAGGING,   /* standbys up, all behind max_replica_lag_ms */
    RR_RESTARTING,    /* every host down, but one of them is restarting: waited for */
};

struct route_result {
    enum route_verdict verdict;
    enum route_reason reason;
    int host;           /* ROUTE_OK: index into the hosts */
};

/* The primary of n hosts: the only up host claiming primary, or preferred (an index, -1 = none)
 * when several claim it and it is one of them. -1 if none; *split says several claim it and the
 * preference does not settle it. */
int route_primary(const struct route_host *h, int n, int preferred, bool *split);

/* The host for a new connection under target_session_attrs tsa (enum wp_tsa). max_lag_ms 0 = no
 * limit. Standbys are spread at random (rnd); so are all hosts for TSA_ANY with load_balance. */
struct route_result route_pick(const struct route_host *h, int n, int tsa, int preferred, int max_lag_ms,
                               bool load_balance, uint32_t rnd);

/* Whether host i may keep serving the pool (its existing connections), under the same rules. */
bool route_acceptable(const struct route_host *h, int n, int i, int tsa, int preferred, int max_lag_ms);

/* The circuit breaker's wait before probe number attempt (0, 1, ...) of an open circuit: 250 ms
 * doubling up to 8 s, times a jitter factor in [0.75, 1.25) from rnd. */
uint32_t route_backoff_ms(int attempt, uint32_t rnd);

const char *route_role_name(enum backend_role role);

#endif
