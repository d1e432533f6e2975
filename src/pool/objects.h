/* objects.h — the three core objects (client, server, pool) and their state enums.
 * A client's or server's state is the list it sits on; pool.c owns every transition. */
#ifndef WEDPOOL_OBJECTS_H
#define WEDPOOL_OBJECTS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "config.h"
#include "io.h"
#include "lanes.h"
#include "params.h"
#include "pqueue.h"
#include "expect.h"
#include "prepared.h"
#include "stats.h"
#include "util.h"

/* packed: one byte in struct client (an idle client is one malloc size class down for it) */
enum __attribute__((packed)) client_state {
    CL_LOGIN,    /* startup and authentication; on the global login list */
    CL_ADMIN,    /* logged in to the admin console; on the global admin list */
    CL_IDLE,     /* logged in, no server; pool->idle_clients */
    CL_WAITING,  /* needs a server, none free yet; its lane's waiting list (arrival order) and queue
                  * (service order), or pool->login_waiters when it only needs the welcome parameters */
    CL_ACTIVE,   /* linked to a server; pool->active_clients */
    CL_CLOSED,   /* socket closed, waiting to be freed at a safe point; the zombie list */
};

enum server_state {
    SV_LOGIN,    /* connecting and authenticating; pool->login_servers */
    SV_IDLE,     /* clean, ready for a client; pool->idle_servers (LIFO) */
    SV_ACTIVE,   /* linked to a client; pool->active_servers */
    SV_RESET,    /* running the reset query before going idle; pool->reset_servers */
    SV_CLOSED,   /* closed, waiting to be freed; the zombie list */
};

/* A SET in flight: the change it makes to the server's recorded values once it succeeds. */
struct param_change_owned {
    char *name;
    char *value;  /* NULL: back to the default */
};

enum login_check {
    LOGIN_CHECK_NONE,     /* not started */
    LOGIN_CHECK_RUNNING,  /* linked only so the server can judge its startup parameters */
    LOGIN_CHECK_DONE,
};

struct backend;
struct backend_db;
struct login;  /* client.c: startup and auth state, freed when the login ends */
struct scram_client;
struct derive_job;

struct client {
    struct dlist node;          /* the list of its state */
    struct conn conn;
    struct pool *pool;          /* NULL until the database is known (and for admin clients) */
    struct server *server;      /* linked server while CL_ACTIVE */
    struct login *login;        /* only during CL_LOGIN */
    struct param_list params;   /* what this client's session should look like on any server */
    uint64_t params_sig;        /* params_signature(&params), kept current */
    uint32_t id;                /* also the process ID in its BackendKeyData */
    uint32_t cancel_key;        /* the secret in its BackendKeyData */
    uint64_t connect_us;
    uint64_t wait_start_us;     /* when it started needing a server (CL_WAITING); once linked, when it
                                 * got one (its last request, for SHOW CLIENTS) */
    const char *user;           /* interned (intern.h): "" until the startup packet */
    const char *database;
    char addr[48];
    /* The small fields, ordered so they fill exactly 8 bytes: an idle client is one malloc size
     * class down for it (bench/idle-10k.sh; 0.8 KiB per idle SCRAM client). */
    enum client_state state;    /* one byte (packed enum) */
    uint8_t login_check;        /* enum login_check: startup parameters judged by a server */
    uint16_t port;
    uint16_t pin_mask;          /* session state it created in transaction mode (pin.h kinds): while
                                 * non-zero it keeps its server (pin_session.c) */
    bool stats_only : 1;        /* admin console user from stats_users: SHOW only */
    bool login_wait : 1;        /* waiting for a server only to learn the welcome parameters */
    bool terminate_after_txn : 1; /* graceful shutdown: disconnect when its transaction ends */
    bool reject_too_many : 1;   /* over max_client_conn: refuse after the startup packet unless an admin */
    bool on_reserve : 1;        /* its server is one of the emergency reserve connections */
    bool pause_wait : 1;        /* admin console: its PAUSE waits for servers in use to be released */
    bool ps_wait : 1;           /* a Parse waits for the answers to an earlier batch (prepared.h) */
    bool resume_buffered : 1;   /* woken by client_server_assigned: its request is already in conn.buf,
                                 * so the wake-up reads nothing (a recv there would only say EAGAIN) */
    uint8_t lane;               /* index into the configuration's lanes */
    struct ps_client *ps;       /* its named prepared statements (transaction mode; prepared.h) */
    struct pq_node pqn;         /* place in its lane's queue while CL_WAITING */
};

struct server {
    struct dlist node;
    enum server_state state;
    struct conn conn;
    struct pool *pool;
    struct backend *be;         /* the host it is connected to (a reference); cancels go there */
    struct client *client;      /* linked client while SV_ACTIVE */
    struct scram_client *scram; /* during SCRAM login only */
    struct derive_job *derive;  /* its SCRAM key is being derived on a worker (derive.h); cancelled
                                 * by server_close */
    uint32_t id;
    uint32_t be_pid;            /* the real BackendKeyData, for forwarding cancels */
    uint32_t be_key;
    struct expq exp;            /* what it still owes: each request forwarded or injected, in order */
    struct ps_server *ps;       /* the named statements it has prepared (prepared.h) */
    bool connecting;            /* TCP connect in progress */
    uint8_t tls_step;           /* enum server_tls_step (server.c): SSLRequest answer, handshake */
    uint8_t tls_mode;           /* enum tls_mode towards this server, fixed at connect */
    bool close_needed;          /* configuration changed: close instead of reusing */
    bool release_pending;       /* transaction ended: release once the output is flushed */
    bool fatal_sent;            /* it sent the client a FATAL error (57P01, ...): that is the client's
                                 * last word, not wedpool's own 08006 */
    uint16_t sync_left;         /* parameter SETs still unanswered: the client's messages wait */
    bool sync_failed;           /* one of them failed (sync_error says how) */
    bool sync_finished;         /* the last of them was answered: the relay lets the client go on */
    char sync_error[256];       /* "SQLSTATE\tmessage" of the first failed SET */
    struct param_change_owned *sync; /* the SETs in flight, by entry arg */
    /* Session-state releases of the linked client's current batch (pin_session.c), kept here
     * rather than in every idle client: */
    uint16_t pin_release;       /* kinds a query that just succeeded released (applied at ReadyForQuery) */
    uint16_t pin_rewritten_release; /* a releasing Query (DISCARD ALL, DEALLOCATE ALL) that prepared.c took
                                     * over: released like pin_release when its entry succeeds */
    uint16_t pin_parsed;        /* kinds a releasing statement Parsed in this batch would release once an
                                 * Execute succeeds */
    const char *carry_name;     /* a carried SET in flight (pin_session.c, PIN_CARRY): the setting, */
    char carry_value[32];       /* ... and its value, for the client's parameters once it succeeded */
    bool ps_unnamed_resets;     /* its unnamed statement is DISCARD ALL / DEALLOCATE ALL (relay.c) */
    bool ps_reset_armed;        /* ... and a portal bound to such a statement awaits its Execute */

    int nsync;
    struct param_list params;   /* current session values on this server */
    uint64_t synced_sig;        /* signature of the client params it was last synced to; 0 = unknown */
    struct param_list base;     /* values it reported at login: the defaults */
    uint64_t connect_us;
    uint64_t idle_since_us;
    uint64_t link_us;
    uint64_t query_start_us;
    uint64_t txn_idle_since_us; /* ReadyForQuery 'T'/'E' sent and the client silent since; 0 = not */
    time_t connect_wall;
    time_t request_wall;
};

/* One lane's share of a pool. */
struct pool_lane {
    struct dlist waiting;       /* waiting clients in arrival order (timeouts scan from the head) */
    struct pqueue queue;        /* the same clients in service order */
    int n_waiting;
    int n_active;               /* clients of this lane holding a server */
    int n_reserve;              /* ... of which on reserve connections */
    uint64_t served;            /* servers handed to this lane */
    uint64_t shed;              /* refused at once: max_waiting reached */
    uint64_t timeouts;          /* gave up after queue_timeout_ms */
    uint64_t reserve_uses;      /* reserve connections handed out */
    struct histogram acquire_hist;
};

struct pool {
    struct dlist node;          /* all pools */
    char name[WP_NAME_MAX];     /* database name clients use */
    char user[WP_NAME_MAX];     /* server login user */
    struct wp_database db;      /* copy of the [databases] line, refreshed on reload */
    char password[WP_SECRET_MAX]; /* server login password, "" = none known */
    /* Logging in without a plain password (passthrough.c): the server user's md5 secret (the
     * password equivalent for md5), and for SCRAM the secret that verified a client of this user
     * and the ClientKey that client proved against it. Wiped when the secret changes. */
    char md5_secret[MD5_PASSWD_LEN + 1];
    bool pt_has_secret, pt_has_key;
    struct scram_secret pt_secret;
    uint8_t pt_client_key[SCRAM_KEY_LEN];
    int mode;                   /* enum wp_pool_mode */
    int min_size;               /* effective: max(configured, warm_target), what the janitor keeps open */
    int max_size;               /* effective_max_pool_size: the on-demand ceiling every decision uses */
    int conf_min_size;          /* configured ([databases] line or [wedpool]); a reload sets only these */
    int conf_max_size;
    int warm_target;            /* forecast: server connections to have open ahead of demand */
    int scale_max;              /* reactive growth above conf_max_size; 0 = none */
    int manual_max;             /* SCALE: an operator's size while manual_until (clock) is ahead; 0 = none */
    time_t manual_until;
    uint64_t high_since_us;     /* utilisation above scale_up_utilization_pct since (0 = not) */
    uint64_t low_since_us;      /* ... below half of it since */
    double warm_tokens;         /* pre-warming token bucket (prewarm_rate_per_s) */
    uint64_t warm_tokens_us;
    /* Forecast accuracy: the current 15-minute step (clock time), what it predicted and the highest
     * concurrency seen in it; completed steps inside forecast windows are scored. */
    time_t step_start;
    int step_predicted;
    bool step_in_window;
    int window_peak;
    double accuracy_sum;
    int accuracy_steps;
    bool db_removed;            /* gone from the config: refuse new clients */
    struct backend_db *bdb;     /* its hosts (backend.h): where server connections go */
    int n_login_wait;           /* login_waiters: clients that only need the welcome parameters */

    struct dlist idle_servers, active_servers, login_servers, reset_servers;
    int n_idle, n_active, n_login, n_reset;
    struct dlist idle_clients, active_clients, login_waiters;
    int n_cl_idle, n_waiting, n_cl_active; /* n_waiting: all lanes plus login waiters */
    struct pool_lane lanes[MAX_LANES];
    int n_reserve_active;       /* clients holding a reserve connection */
    int n_pinned;               /* clients pinned to their server by session state (pin_session.c) */
    bool on_demand;             /* created for a client (wildcard database, or no user= on the line):
                                 * freed after autodb_idle_timeout_s unused */
    uint64_t unused_since_us;   /* on_demand: when it last had no client (0: it has clients) */

    struct param_list welcome;  /* parameters the first server reported, sent to each new client */
    struct param_list verdicts; /* "name=value" of startup parameters the server judged: "" accepted,
                                 * else "SQLSTATE\tmessage" of its refusal (bounded, PARAMS_MAX) */
    bool welcome_ready;

    uint64_t last_fail_us;      /* last failed server login, for fast failure */
    uint64_t last_up_us;        /* a server of the pool was last ready then: failures soon after are a
                                 * restart, which waiting clients sit out (pool_restarting) */
    char last_fail_state[6];
    char last_fail_msg[256];

    struct pool_stats stats;
    struct pool_stats stats_prev; /* snapshot at the start of the current stats period */
    uint64_t stats_prev_us;
    struct pool_stats_avg avg;    /* averages over the last complete period */
    struct hist_window acquire_window;/* acquisition waits over the last minute (all lanes) */

    /* alert.c's bookkeeping (issue #13), so that a quiet pool costs no lookup */
    uint16_t alert_live;          /* bit per per-pool rule with an alert pending or firing */
    uint64_t alert_waits_seen;    /* stats.wait_count at the last evaluation ... */
    uint64_t alert_waits_last_us; /* ... and when it last moved (acquire_p99_ms: only then a p99) */
    uint64_t alert_shed_seen;     /* lanes' shed total at the last evaluation */
    uint64_t alert_shed_base;     /* ... when the current run of refusals began */
    uint64_t alert_shed_last_us;  /* last time it grew */
};

#endif
