/* config.h — wedpool.ini: one settings table drives parsing, validation, reload and SHOW CONFIG. */
#ifndef WEDPOOL_CONFIG_H
#define WEDPOOL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "channel_conf.h"
#include "fetch.h"
#include "forecast.h"
#include "hba.h"
#include "lanes.h"
#include "md5.h"
#include "rules.h"
#include "scram.h"

#define WP_NAME_MAX 64     /* database and user names (PostgreSQL's NAMEDATALEN) */
#define WP_SECRET_MAX 256  /* passwords and secrets */
#define WP_PATH_MAX 1024
#define WP_MAX_SETTINGS 96   /* rows of the [wedpool] settings table (checked at compile time) */
#define WP_VALUE_MAX 1100    /* any setting's value as text, with room to spare */

enum wp_pool_mode { POOL_MODE_SESSION = 0, POOL_MODE_TRANSACTION = 1 };
enum wp_auth_type { AUTH_TRUST = 0, AUTH_MD5 = 1, AUTH_SCRAM = 2 };
/* Transaction mode, a statement creating session state (pin.h): keep the client on its server, refuse
 * the statement, or let it leak (PgBouncer's behaviour). */
enum wp_pin_mode { PIN_MODE_PIN = 0, PIN_MODE_ERROR = 1, PIN_MODE_IGNORE = 2 };

/* The [databases] entry that serves any database name not listed. */
#define WP_WILDCARD_DB "*"


#define WP_MAX_HOSTS 8       /* hosts of one [databases] line (host=pg1,pg2,...) */
#define WP_HOST_MAX 128      /* one host name, address or unix socket directory */

/* target_session_attrs (libpq, PostgreSQL 14+ semantics) */
enum wp_tsa { TSA_ANY, TSA_READ_WRITE, TSA_READ_ONLY, TSA_PRIMARY, TSA_STANDBY, TSA_PREFER_STANDBY };

struct wp_host {
    char name[WP_HOST_MAX];      /* IP, hostname, or a unix socket directory (leading '/') */
    int port;
};

/* One line of [databases]: "name = host=... port=... dbname=... user=... password=..." */
struct wp_database {
    char name[WP_NAME_MAX];      /* what clients ask for */
    char host[256];              /* the host= value as written (a comma-separated list for several) */
    int port;                    /* the first host's port; default 5432 */
    struct wp_host hosts[WP_MAX_HOSTS]; /* host= and port= split (libpq: one port for all, or one each) */
    int nhosts;
    int target_session_attrs;    /* enum wp_tsa */
    bool load_balance;           /* load_balance_hosts=random */
    char primary_preference[WP_HOST_MAX + 8]; /* "host:port" that wins a split brain; "" = none */
    int max_replica_lag_ms;      /* standbys lagging more are skipped; 0 = no limit */
    char patroni_url[256];       /* Patroni REST API base URL, "" = none */
    char dbname[WP_NAME_MAX];    /* name on the server; defaults to name */
    char user[WP_NAME_MAX];      /* forced server login user; "" = the client's user */
    char password[WP_SECRET_MAX];/* server login password; "" = the user's auth_file password */
    int pool_mode;               /* enum wp_pool_mode, or -1 = the global setting */
    int min_pool_size;           /* -1 = the global setting */
    int max_pool_size;           /* -1 = the global setting */
    int sslmode;                 /* enum tls_mode (tls.h) towards this server; -1 = server_tls_sslmode */
    bool dbname_set;             /* dbname= given (the wildcard entry: else the client's database name) */
    bool wildcard;               /* resolved from the "*" entry for a name not listed */
};

/* One line of auth_file: "user" "secret"; secret = plain, md5<hex>, or SCRAM-SHA-256$... */
struct wp_user {
    char name[WP_NAME_MAX];
    char password[WP_SECRET_MAX]; /* plain text password, "" if the file holds only a hash */
    char md5[MD5_PASSWD_LEN + 1]; /* stored md5 secret ("md5..."), "" if unknown (SCRAM-only) */
    bool has_scram;               /* scram holds a usable secret (parsed, or derived once from plain) */
    struct scram_secret scram;
};

enum wp_protection {
    PROTECT_IN_PROGRESS, /* while a wedding is in progress */
    PROTECT_WEDDING_DAY, /* ... and all day (in ceremony hours) on a day with a wedding */
};

struct wp_config {
    char path[WP_PATH_MAX];       /* file it was loaded from */

    /* [wedpool] settings; see the table in config.c for defaults, ranges and reloadability */
    char listen_addr[256];
    int listen_port;
    char unix_socket_dir[WP_PATH_MAX];
    int auth_type;                /* enum wp_auth_type */
    char auth_file[WP_PATH_MAX];
    char auth_user[WP_NAME_MAX];  /* auth_query runs as this user; "" = auth_query off */
    char auth_query[1024];        /* $1 = the user name; returns (name, secret) */
    int auth_query_cache_s;       /* answers (found and not found) are reused this long */
    char hba_file[WP_PATH_MAX];   /* access rules (pg_hba.conf format); "" = auth_type for everyone */
    int server_allow_cleartext;   /* 1: send a cleartext password to a server without TLS that asks for it */
    int server_scram_max_iterations; /* a server asking for more SCRAM iterations is refused */
    int pool_mode;                /* enum wp_pool_mode */
    int min_pool_size;
    int max_pool_size;
    int max_client_conn;
    int acquire_timeout_ms;       /* 0 = wait forever */
    int idle_timeout_ms;
    int server_lifetime_s;
    int server_connect_timeout_ms;
    int server_login_retry_ms;    /* after a failed server login, fail fast for this long */
    int client_login_timeout_ms;
    int shutdown_timeout_ms;      /* SIGTERM: how long transactions may finish */
    int max_packet_size;          /* largest protocol message accepted from a peer */
    int max_prepared_statements;  /* transaction mode: named statements prepared per server connection (LRU); 0 = no tracking */
    int max_client_prepared_statements; /* ... names one client may hold at once */
    int idle_transaction_timeout_ms; /* a client idle inside a transaction this long is disconnected; 0 = never */
    int tcp_keepalive_s;          /* TCP keepalive idle time for clients and servers; 0 = kernel default */
    int health_check_interval_ms; /* every backend host is checked this often */
    int health_check_timeout_ms;  /* a check not answered within this is a failure */
    char health_check_user[WP_NAME_MAX]; /* checks log in as this user; "" = the pool's user */
    int circuit_breaker_failures; /* consecutive connect/login failures that open a host's circuit */
    int dns_max_ttl_s;            /* host names in [databases] are resolved again this often */
    char dns_nameserver[64];      /* "ip[:port]" to ask instead of /etc/resolv.conf's; "" = those */
    char server_reset_query[1024];/* session mode, on release; "" = none */
    int server_check_delay_s;     /* an idle server unused this long is checked before a client gets it;
                                   * 0 = always, -1 = never */
    char server_check_query[1024];/* the check; "" = an empty query (EmptyQueryResponse, ReadyForQuery) */
    int pin_session_state;        /* enum wp_pin_mode */
    int autodb_idle_timeout_s;    /* pools of the wildcard database (and of unknown users) unused this long go */
    char admin_users[1024];       /* comma-separated */
    char stats_users[1024];       /* comma-separated; may only SHOW */
    char logfile[WP_PATH_MAX];
    char pidfile[WP_PATH_MAX];
    char takeover_socket[WP_PATH_MAX]; /* unix socket a `wedpool --takeover` asks for our listening sockets;
                                        * "" = <unix_socket_dir>/.s.WEDPOOL.<port>, else <pidfile>.takeover;
                                        * "off" = no takeover */
    char log_level[16];           /* debug | info | warning | error */

    int reserve_pool_size;        /* emergency connections above max_pool_size, only for reserve=yes lanes */
    int lane_aging_per_s;         /* priority points a waiting client gains per second (starvation bound) */
    char http_listen[256];        /* "host:port" of the HTTP endpoint, "" = off */
    char http_auth_token[256];    /* Bearer token for every endpoint but /healthz, "" = none */
    int pg_stats_interval_s;      /* PostgreSQL statistics collection period, 0 = off */
    char dogstatsd_addr[256];     /* "host:port" for DogStatsD over UDP, "" = off */
    char otlp_endpoint[512];      /* OTLP/HTTP JSON metrics URL (…/v1/metrics), "" = off */
    char otlp_headers[1024];      /* extra headers, "key=value, key=value" (New Relic: api-key=…) */
    char environment[64];         /* the environment tag on pushed metrics */
    int push_interval_s;          /* how often the push exporters send */

    /* TLS (tls.h), PgBouncer's names; sslmodes are enum tls_mode */
    int client_tls_sslmode;
    char client_tls_cert_file[WP_PATH_MAX];
    char client_tls_key_file[WP_PATH_MAX];
    char client_tls_ca_file[WP_PATH_MAX]; /* client certificates are checked against it (verify-*) */
    char client_tls_protocols[64];
    char client_tls_ciphers[512];
    int server_tls_sslmode;
    char server_tls_cert_file[WP_PATH_MAX]; /* wedpool's client certificate towards servers, optional */
    char server_tls_key_file[WP_PATH_MAX];
    char server_tls_ca_file[WP_PATH_MAX]; /* servers' certificates are checked against it (verify-*) */
    char server_tls_protocols[64];
    char server_tls_ciphers[512];

    struct lanes_conf lanes;      /* [lanes] and [lane_rules]; always has "default" */

    /* The wedding calendar (docs/forecast.md, docs/calendar.md) */
    char timezone[64];            /* IANA zone of forecast windows and ceremony hours; "" = the system's */
    int calendar_horizon_days;    /* weddings are read this far ahead */
    int ceremony_from_min, ceremony_to_min; /* "08:00-22:00" as local minutes (ceremony_hours) */
    char ceremony_hours[16];
    int wedding_protection;       /* enum wp_protection */
    int prewarm_lead_s;           /* open warm_target connections this long before a predicted spike */
    int prewarm_rate_per_s;       /* at most this many new server connections a second per pool for it */
    int forecast_base_connections;/* a pool's ordinary concurrency; 0 = max(min_pool_size, 1) */
    int scale_up_utilization_pct; /* grow effective_max_pool_size above this utilisation... */
    int scale_target_utilization_pct; /* ... aiming under this */
    int scale_max_pool_size;      /* the ceiling of growth; 0 = max_pool_size (no growth) */
    int scale_down_after_s;       /* shrink only after this long under half the scale-up threshold */
    char scale_hook[1024];        /* argv (space-separated, no shell) run with the JSON on stdin */
    char scale_webhook[512];      /* URL the JSON is POSTed to */
    int scale_hook_timeout_ms;
    int infra_lead_s;             /* how long before a window the hook runs */
    struct calendar_source calendars[CALENDARS_MAX]; /* [calendars] */
    int ncalendars;
    struct forecast_conf forecast;/* [forecast], or the built-in windows */

    /* [alert_rules] (issue #13, rules half; alert/rules.h): thresholds, for_s, renotify_min. All reloadable. */
    struct alert_rules_conf alert_rules;

    /* [alert_channels] (issue #13, delivery): parsed by alert/channel_conf.c; reloadable */
    struct channel_conf_list alert_channels;

    struct wp_database *dbs;
    size_t ndbs;
    struct wp_user *users;        /* sorted by name */
    size_t nusers;
    struct hba_rules hba;         /* hba_file's rules; none when hba_file is "" */

    /* Per settings-table row, for restart-only settings: the value the file sets, as text, when it
     * differs from the running one above (the file is the configured value, the field the
     * effective one); a restart applies it. NULL if nothing is pending. Owned; set by
     * config_reload_merge. */
    char *pending[WP_MAX_SETTINGS];
};

/* Loads path, applies the environment overrides DB_POOL_MAX_CONNECTIONS (max_pool_size) and
 * DB_POOL_IDLE_TIMEOUT_MS (idle_timeout_ms), loads auth_file and hba_file (relative paths are
 * relative to the ini file's directory) and derives per-user secrets. prev (may be NULL) is a running config whose
 * derived SCRAM secrets are reused for unchanged passwords, so a reload does not redo PBKDF2.
 * On failure returns false, leaves *out zeroed, and writes "FILE:LINE: key 'KEY': PROBLEM" (or
 * the nearest equivalent) into err. */
bool config_load(const char *path, const struct wp_config *prev, struct wp_config *out, char *err,
                 size_t errlen) __attribute__((warn_unused_result));
void config_free(struct wp_config *cfg);

/* The [databases] entry named name exactly ("*" included), or NULL. */
const struct wp_database *config_find_db(const struct wp_config *cfg, const char *name);
/* The entry serving database name: its own, else the wildcard's with name (and dbname, unless the
 * wildcard sets dbname=) set to name and wildcard = true. Copied into *out; false if neither. */
bool config_resolve_db(const struct wp_config *cfg, const char *name, struct wp_database *out);
const struct wp_user *config_find_user(const struct wp_config *cfg, const char *name);
/* True if name is an item of the comma-separated list (spaces around items ignored). */
bool config_list_contains(const char *list, const char *name);

/* Effective per-database values (database override, else global). */
int config_db_pool_mode(const struct wp_config *cfg, const struct wp_database *db);
int config_db_min_pool(const struct wp_config *cfg, const struct wp_database *db);
int config_db_max_pool(const struct wp_config *cfg, const struct wp_database *db);

/* Reload, driven by the settings table: fresh (just loaded from the file) keeps the file's value of
 * every reloadable setting and takes running's value of every restart-only one; where the file's
 * value of a restart-only setting differs from the running one, it is recorded in fresh->pending.
 * False only when out of memory (fresh must then be freed and the reload refused). */
bool config_reload_merge(const struct wp_config *running, struct wp_config *fresh)
    __attribute__((warn_unused_result));

/* One row of SHOW CONFIG; secrets (http_auth_token, otlp_headers) are masked in value and pending. */
struct config_setting_view {
    const char *name;
    const char *default_value;
    bool reloadable;              /* RELOAD / SIGHUP applies it; otherwise only a restart does */
    char value[WP_VALUE_MAX];     /* the running value */
    const char *pending;          /* the file's value that a restart would apply; NULL if none */
};

/* SHOW CONFIG: iterate i = 0 .. config_setting_count()-1. */
size_t config_setting_count(void);
void config_setting_get(const struct wp_config *cfg, size_t i, struct config_setting_view *out);

const char *config_pool_mode_name(int mode);
const char *config_auth_type_name(int type);
const char *config_tls_mode_name(int mode);
const char *config_tsa_name(int tsa);
/* Splits host= and port= values (libpq rules: as many ports as hosts, or one for all) into db->hosts.
 * False with err set when they do not match or a host is empty or too long. Pure: unit-tested. */
bool config_split_hosts(struct wp_database *db, const char *hosts, const char *ports, char *err, size_t errlen);

#endif
