/* config.c — wedpool.ini: one settings table drives parsing, validation, defaults, SHOW CONFIG and
 * what a reload may change. [databases], [lanes], [lane_rules] and the auth_file are parsed here too. */
#include "config.h"

#include "clock.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum setting_type { T_INT, T_STR, T_ENUM };

static const char *const pool_mode_names[] = {"session", "transaction", NULL};
static const char *const auth_type_names[] = {"trust", "md5", "scram-sha-256", NULL};
static const char *const log_level_names[] = {"debug", "info", "warning", "error", NULL};
static const char *const protection_names[] = {"in_progress", "wedding_day", NULL};
/* enum tls_mode's order */
static const char *const tls_mode_names[] = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full", NULL};
static const char *const no_yes_names[] = {"no", "yes", NULL};
static const char *const pin_mode_names[] = {"pin", "error", "ignore", NULL};
/* enum wp_tsa's order */
static const char *const tsa_names[] = {"any", "read-write", "read-only", "primary", "standby", "prefer-standby", NULL};

struct setting {
    const char *name;
    enum setting_type type;
    size_t offset;
    size_t size;                 /* T_STR: capacity of the char array */
    const char *def;
    long min, max;               /* T_INT */
    bool reload;                 /* RELOAD / SIGHUP applies it; otherwise the running value stays until a restart */
    const char *const *names;    /* T_ENUM; the value stored is the index (log_level: the text) */
    bool secret;                 /* masked wherever it is shown (SHOW CONFIG, the log) */
};

#define S_INT(n, d, lo, hi, r) {#n, T_INT, offsetof(struct wp_config, n), 0, d, lo, hi, r, NULL, false}
#define S_TEXT(n, d, r, secret) {#n, T_STR, offsetof(struct wp_config, n), sizeof(((struct wp_config *)0)->n), d, 0, 0, r, NULL, secret}
#define S_STR(n, d, r) S_TEXT(n, d, r, false)
#define S_SECRET(n, d, r) S_TEXT(n, d, r, true)
#define S_ENUM(n, d, names, r) {#n, T_ENUM, offsetof(struct wp_config, n), 0, d, 0, 0, r, names, false}

static const struct setting settings[] = {
    S_STR(listen_addr, "127.0.0.1", false),
    S_INT(listen_port, "6432", 1, 65535, false),
    S_STR(unix_socket_dir, "/tmp", false),
    S_ENUM(auth_type, "scram-sha-256", auth_type_names, true),
    S_STR(auth_file, "", true),
    S_STR(auth_user, "", true),
    S_STR(auth_query, "SELECT usename, passwd FROM pg_shadow WHERE usename=$1", true),
    S_INT(auth_query_cache_s, "60", 0, 86400, true),
    S_STR(hba_file, "", true),
    S_ENUM(server_allow_cleartext, "no", no_yes_names, true),
    S_INT(server_scram_max_iterations, "100000", 1, 10000000, true),
    S_ENUM(pool_mode, "transaction", pool_mode_names, true),
    S_INT(min_pool_size, "10", 0, 10000, true),
    S_INT(max_pool_size, "50", 1, 10000, true),
    S_INT(reserve_pool_size, "5", 0, 10000, true),
    S_INT(max_client_conn, "10000", 1, 1000000, true),
    S_INT(acquire_timeout_ms, "60000", 0, 86400000, true),
    S_INT(idle_timeout_ms, "30000", 0, 86400000, true),
    S_INT(server_lifetime_s, "3600", 0, 604800, true),
    S_INT(server_connect_timeout_ms, "5000", 100, 600000, true),
    S_INT(server_login_retry_ms, "1000", 0, 600000, true),
    S_INT(client_login_timeout_ms, "15000", 0, 600000, true),
    S_INT(shutdown_timeout_ms, "30000", 0, 3600000, true),
    S_INT(max_packet_size, "1073741823", 1024, 1073741823, true),
    S_INT(max_prepared_statements, "200", 0, 100000, true),
    S_INT(max_client_prepared_statements, "1000", 1, 1000000, true),
    S_INT(idle_transaction_timeout_ms, "0", 0, 86400000, true),
    S_INT(tcp_keepalive_s, "60", 0, 7200, true),
    S_INT(health_check_interval_ms, "1000", 100, 3600000, true),
    S_INT(health_check_timeout_ms, "2000", 100, 600000, true),
    S_STR(health_check_user, "", true),
    S_INT(circuit_breaker_failures, "3", 1, 1000, true),
    S_INT(dns_max_ttl_s, "15", 1, 86400, true),
    S_STR(dns_nameserver, "", false),
    S_INT(lane_aging_per_s, "10", 0, 1000000, true),
    S_STR(server_reset_query, "DISCARD ALL", true),
    S_INT(server_check_delay_s, "30", -1, 86400, true),
    S_STR(server_check_query, "", true),
    S_ENUM(pin_session_state, "pin", pin_mode_names, true),
    S_INT(autodb_idle_timeout_s, "3600", 1, 604800, true),
    S_STR(admin_users, "postgres", true),
    S_STR(stats_users, "", true),
    S_STR(http_listen, "", false),
    S_SECRET(http_auth_token, "", true),
    S_INT(pg_stats_interval_s, "15", 0, 86400, false),
    S_STR(dogstatsd_addr, "", false),
    S_STR(otlp_endpoint, "", false),
    S_SECRET(otlp_headers, "", false),
    S_STR(environment, "production", true),
    S_INT(push_interval_s, "10", 1, 3600, false),
    S_STR(timezone, "", true),
    S_INT(calendar_horizon_days, "14", 1, 366, false),
    S_STR(ceremony_hours, "08:00-22:00", true),
    S_ENUM(wedding_protection, "in_progress", protection_names, true),
    S_INT(prewarm_lead_s, "1800", 0, 86400, true),
    S_INT(prewarm_rate_per_s, "10", 1, 10000, true),
    S_INT(forecast_base_connections, "0", 0, 100000, true),
    S_INT(scale_up_utilization_pct, "70", 1, 100, true),
    S_INT(scale_target_utilization_pct, "80", 1, 100, true),
    S_INT(scale_max_pool_size, "0", 0, 100000, true),
    S_INT(scale_down_after_s, "600", 1, 86400, true),
    S_STR(scale_hook, "", true),
    S_STR(scale_webhook, "", true),
    S_INT(scale_hook_timeout_ms, "10000", 100, 600000, true),
    S_INT(infra_lead_s, "7200", 0, 604800, true),
    S_ENUM(client_tls_sslmode, "disable", tls_mode_names, true),
    S_STR(client_tls_cert_file, "", true),
    S_STR(client_tls_key_file, "", true),
    S_STR(client_tls_ca_file, "", true),
    S_STR(client_tls_protocols, "secure", true),
    S_STR(client_tls_ciphers, "default", true),
    S_ENUM(server_tls_sslmode, "prefer", tls_mode_names, true),
    S_STR(server_tls_cert_file, "", true),
    S_STR(server_tls_key_file, "", true),
    S_STR(server_tls_ca_file, "", true),
    S_STR(server_tls_protocols, "secure", true),
    S_STR(server_tls_ciphers, "default", true),
    S_STR(logfile, "", false),
    S_STR(pidfile, "", false),
    S_STR(takeover_socket, "", false),
    {"log_level", T_ENUM, offsetof(struct wp_config, log_level), sizeof(((struct wp_config *)0)->log_level), "info", 0, 0,
     true, log_level_names, false},
};

#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))
_Static_assert(NSETTINGS <= WP_MAX_SETTINGS, "raise WP_MAX_SETTINGS (struct wp_config's pending[])");

struct loader {
    struct wp_config *cfg;
    const char *path;
    int line;                    /* current line, counted by our reader */
    char err[6144];              /* first error */
    bool failed;
};

static void fail(struct loader *ld, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct loader *ld, const char *fmt, ...)
{
    if (ld->failed)
        return;
    ld->failed = true;
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(ld->err, sizeof(ld->err), "%s:%d: %s", ld->path, ld->line, msg);
}

static bool parse_long(const char *s, long *out)
{
    char *end;
    errno = 0;
    while (isspace((unsigned char)*s))
        s++;
    if (*s == '\0')
        return false;
    long v = strtol(s, &end, 10);
    while (isspace((unsigned char)*end))
        end++;
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

static int enum_index(const char *const *names, const char *v)
{
    for (int i = 0; names[i] != NULL; i++)
        if (strcmp(names[i], v) == 0)
            return i;
    return -1;
}

/* Sets one [wedpool] setting from text; what names the source in errors ("key 'x'" or an env var). */
static bool setting_apply(struct wp_config *cfg, const struct setting *s, const char *value, char *err, size_t errlen)
{
    char *base = (char *)cfg;
    switch (s->type) {
    case T_INT: {
        long v;
        if (!parse_long(value, &v)) {
            snprintf(err, errlen, "value '%s' is not an integer", value);
            return false;
        }
        if (v < s->min || v > s->max) {
            snprintf(err, errlen, "value %ld is out of range %ld..%ld", v, s->min, s->max);
            return false;
        }
        *(int *)(base + s->offset) = (int)v;
        return true;
    }
    case T_STR:
        if (strlen(value) >= s->size) {
            snprintf(err, errlen, "value is too long (at most %zu characters)", s->size - 1);
            return false;
        }
        memcpy(base + s->offset, value, strlen(value) + 1);
        return true;
    case T_ENUM: {
        int i = enum_index(s->names, value);
        if (i < 0) {
            char allowed[128] = "";
            for (int k = 0; s->names[k] != NULL; k++) {
                strncat(allowed, k ? " | " : "", sizeof(allowed) - strlen(allowed) - 1);
                strncat(allowed, s->names[k], sizeof(allowed) - strlen(allowed) - 1);
            }
            snprintf(err, errlen, "value '%s' is not one of %s", value, allowed);
            return false;
        }
        if (s->size > 0)
            snprintf(base + s->offset, s->size, "%s", value); /* stored as text (log_level) */
        else
            *(int *)(base + s->offset) = i;
        return true;
    }
    }
    return false;
}

static const struct setting *setting_find(const char *name)
{
    for (size_t i = 0; i < NSETTINGS; i++)
        if (strcmp(settings[i].name, name) == 0)
            return &settings[i];
    return NULL;
}

/* ---- [databases]: libpq-style "key=value key='quoted value'" ---- */

typedef bool (*kv_cb)(struct loader *ld, void *arg, const char *key, const char *value);

static bool parse_kv_list(struct loader *ld, const char *text, kv_cb cb, void *arg)
{
    const char *p = text;
    char key[64], val[WP_SECRET_MAX];
    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '\0')
            return true;
        size_t k = 0;
        while (*p && *p != '=' && !isspace((unsigned char)*p)) {
            if (k + 1 >= sizeof(key)) {
                fail(ld, "connection string key too long");
                return false;
            }
            key[k++] = *p++;
        }
        key[k] = '\0';
        while (isspace((unsigned char)*p))
            p++;
        if (*p != '=' || k == 0) {
            fail(ld, "expected key=value in \"%s\"", text);
            return false;
        }
        p++;
        while (isspace((unsigned char)*p))
            p++;
        size_t v = 0;
        if (*p == '\'') {
            p++;
            for (;;) {
                if (*p == '\0') {
                    fail(ld, "unterminated quoted value for %s", key);
                    return false;
                }
                if (*p == '\'')
                    break;
                if (*p == '\\' && p[1] != '\0')
                    p++;
                if (v + 1 >= sizeof(val)) {
                    fail(ld, "value for %s too long", key);
                    return false;
                }
                val[v++] = *p++;
            }
            p++;
        } else {
            while (*p && !isspace((unsigned char)*p)) {
                if (v + 1 >= sizeof(val)) {
                    fail(ld, "value for %s too long", key);
                    return false;
                }
                val[v++] = *p++;
            }
        }
        val[v] = '\0';
        if (!cb(ld, arg, key, val))
            return false;
    }
}

static bool copy_field(struct loader *ld, char *dst, size_t cap, const char *key, const char *val)
{
    if (strlen(val) >= cap) {
        fail(ld, "%s is too long (at most %zu characters)", key, cap - 1);
        return false;
    }
    strcpy(dst, val);
    return true;
}

static bool db_int(struct loader *ld, const char *key, const char *val, long lo, long hi, int *out)
{
    long v;
    if (!parse_long(val, &v) || v < lo || v > hi) {
        fail(ld, "%s=%s: expected an integer in %ld..%ld", key, val, lo, hi);
        return false;
    }
    *out = (int)v;
    return true;
}

/* A [databases] line being parsed: port= is split with host= once the whole line is read. */
struct db_line {
    struct wp_database *db;
    char ports[128];
};

static bool db_kv(struct loader *ld, void *arg, const char *key, const char *val)
{
    struct db_line *line = arg;
    struct wp_database *db = line->db;
    if (!strcmp(key, "host"))
        return copy_field(ld, db->host, sizeof(db->host), key, val);
    if (!strcmp(key, "port"))
        return copy_field(ld, line->ports, sizeof(line->ports), key, val);
    if (!strcmp(key, "target_session_attrs")) {
        int i = enum_index(tsa_names, val);
        if (i < 0) {
            fail(ld, "target_session_attrs=%s: expected any, read-write, read-only, primary, standby or prefer-standby",
                 val);
            return false;
        }
        db->target_session_attrs = i;
        return true;
    }
    if (!strcmp(key, "load_balance_hosts")) {
        if (strcmp(val, "disable") != 0 && strcmp(val, "random") != 0) {
            fail(ld, "load_balance_hosts=%s: expected disable or random", val);
            return false;
        }
        db->load_balance = strcmp(val, "random") == 0;
        return true;
    }
    if (!strcmp(key, "primary_preference"))
        return copy_field(ld, db->primary_preference, sizeof(db->primary_preference), key, val);
    if (!strcmp(key, "max_replica_lag_ms"))
        return db_int(ld, key, val, 0, 86400000, &db->max_replica_lag_ms);
    if (!strcmp(key, "patroni_url")) {
        if (strncmp(val, "http://", 7) != 0 && strncmp(val, "https://", 8) != 0) {
            fail(ld, "patroni_url=%s: expected an http:// or https:// URL", val);
            return false;
        }
        return copy_field(ld, db->patroni_url, sizeof(db->patroni_url), key, val);
    }
    if (!strcmp(key, "dbname")) {
        db->dbname_set = true;
        return copy_field(ld, db->dbname, sizeof(db->dbname), key, val);
    }
    if (!strcmp(key, "user"))
        return copy_field(ld, db->user, sizeof(db->user), key, val);
    if (!strcmp(key, "password"))
        return copy_field(ld, db->password, sizeof(db->password), key, val);
    if (!strcmp(key, "min_pool_size"))
        return db_int(ld, key, val, 0, 10000, &db->min_pool_size);
    if (!strcmp(key, "max_pool_size"))
        return db_int(ld, key, val, 1, 10000, &db->max_pool_size);
    if (!strcmp(key, "sslmode")) {
        int i = enum_index(tls_mode_names, val);
        if (i < 0) {
            fail(ld, "sslmode=%s: expected disable, allow, prefer, require, verify-ca or verify-full", val);
            return false;
        }
        db->sslmode = i;
        return true;
    }
    if (!strcmp(key, "pool_mode")) {
        int i = enum_index(pool_mode_names, val);
        if (i < 0) {
            fail(ld, "pool_mode=%s: expected session or transaction", val);
            return false;
        }
        db->pool_mode = i;
        return true;
    }
    fail(ld, "unknown connection setting '%s' (host, port, dbname, user, password, pool_mode, min_pool_size, "
             "max_pool_size, sslmode, target_session_attrs, load_balance_hosts, primary_preference, "
             "max_replica_lag_ms, patroni_url)", key);
    return false;
}

static bool add_database(struct loader *ld, const char *name, const char *spec)
{
    struct wp_config *cfg = ld->cfg;
    if (strlen(name) >= WP_NAME_MAX) {
        fail(ld, "database name '%s' is too long", name);
        return false;
    }
    if (strcmp(name, "wedpool") == 0) {
        fail(ld, "database name 'wedpool' is reserved for the admin console");
        return false;
    }
    if (config_find_db(cfg, name) != NULL) {
        fail(ld, "database '%s' is defined twice", name);
        return false;
    }
    struct wp_database db;
    memset(&db, 0, sizeof(db));
    strcpy(db.name, name);
    strcpy(db.host, "127.0.0.1");
    db.port = 5432;
    strcpy(db.dbname, name);
    db.pool_mode = db.min_pool_size = db.max_pool_size = db.sslmode = -1;
    struct db_line line = {&db, ""};
    if (!parse_kv_list(ld, spec, db_kv, &line))
        return false;
    char err[300];
    if (!config_split_hosts(&db, db.host, line.ports, err, sizeof(err))) {
        fail(ld, "database '%s': %s", name, err);
        return false;
    }
    if (db.primary_preference[0] != '\0') {
        bool found = false;
        for (int i = 0; i < db.nhosts && !found; i++) {
            char hp[WP_HOST_MAX + 8];
            snprintf(hp, sizeof(hp), "%s:%d", db.hosts[i].name, db.hosts[i].port);
            found = strcmp(hp, db.primary_preference) == 0;
        }
        if (!found) {
            fail(ld, "database '%s': primary_preference=%s names none of its hosts (host:port)", name,
                 db.primary_preference);
            return false;
        }
    }
    struct wp_database *dbs = realloc(cfg->dbs, sizeof(*dbs) * (cfg->ndbs + 1));
    if (dbs == NULL) {
        fail(ld, "out of memory");
        return false;
    }
    cfg->dbs = dbs;
    cfg->dbs[cfg->ndbs++] = db;
    return true;
}

static int on_entry(void *user, const char *section, const char *key, const char *value)
{
    struct loader *ld = user;
    char err[512];
    if (ld->failed)
        return 0;
    if (strcmp(section, "wedpool") == 0) {
        const struct setting *s = setting_find(key);
        if (s == NULL) {
            fail(ld, "key '%s': unknown key in [wedpool]", key);
            return 0;
        }
        if (!setting_apply(ld->cfg, s, value, err, sizeof(err))) {
            fail(ld, "key '%s': %s", key, err);
            return 0;
        }
        return 1;
    }
    if (strcmp(section, "databases") == 0)
        return add_database(ld, key, value) ? 1 : 0;
    if (strcmp(section, "lanes") == 0) {
        if (!lanes_parse_lane(&ld->cfg->lanes, key, value, err, sizeof(err))) {
            fail(ld, "lane '%s': %s", key, err);
            return 0;
        }
        return 1;
    }
    if (strcmp(section, "lane_rules") == 0) {
        if (!lanes_parse_rule(&ld->cfg->lanes, key, value, err, sizeof(err))) {
            fail(ld, "lane rule '%s': %s", key, err);
            return 0;
        }
        return 1;
    }
    if (strcmp(section, "calendars") == 0) {
        struct wp_config *cfg = ld->cfg;
        if (cfg->ncalendars >= CALENDARS_MAX) {
            fail(ld, "calendar '%s': at most %d calendars", key, CALENDARS_MAX);
            return 0;
        }
        for (int i = 0; i < cfg->ncalendars; i++)
            if (strcmp(cfg->calendars[i].name, key) == 0) {
                fail(ld, "calendar '%s': defined twice", key);
                return 0;
            }
        if (!calendar_source_parse(key, value, &cfg->calendars[cfg->ncalendars], err, sizeof(err))) {
            fail(ld, "calendar '%s': %s", key, err);
            return 0;
        }
        cfg->ncalendars++;
        return 1;
    }
    if (strcmp(section, "forecast") == 0) {
        if (!forecast_parse_window(&ld->cfg->forecast, key, value, err, sizeof(err))) {
            fail(ld, "forecast window '%s': %s", key, err);
            return 0;
        }
        return 1;
    }
    /* ---- [alert_rules] (issue #13, rules half): alert/rules.c parses each line ---- */
    if (strcmp(section, "alert_rules") == 0) {
        if (!alert_rules_parse(&ld->cfg->alert_rules, key, value, err, sizeof(err))) {
            fail(ld, "alert rule '%s': %s", key, err);
            return 0;
        }
        return 1;
    }
    /* ---- end of [alert_rules] ---- */
    /* ---- [alert_channels] (issue #13, delivery half) ---- */
    if (strcmp(section, "alert_channels") == 0) {
        if (!channel_conf_parse(&ld->cfg->alert_channels, key, value, NULL, err, sizeof(err))) {
            fail(ld, "alert channel '%s': %s", key, err);
            return 0;
        }
        return 1;
    }
    /* ---- end [alert_channels] ---- */
    fail(ld, "unknown section [%s] (expected [wedpool], [databases], [lanes], [lane_rules], [calendars], "
             "[forecast], [alert_channels] or [alert_rules])", section);
    return 0;
}

/* ini_parse_stream reader that counts lines, so errors can name them. */
static char *count_lines(char *str, int num, void *stream)
{
    struct {
        FILE *f;
        struct loader *ld;
    } *rs = stream;
    char *r = fgets(str, num, rs->f);
    if (r != NULL)
        rs->ld->line++;
    return r;
}

/* ---- auth_file ---- */

/* Reads one "quoted" token (""-escaped) from *p; false if malformed. */
static bool read_quoted(const char **p, char *out, size_t cap)
{
    const char *s = *p;
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s != '"')
        return false;
    s++;
    size_t n = 0;
    for (;;) {
        if (*s == '\0' || *s == '\n' || *s == '\r')
            return false;
        if (*s == '"') {
            if (s[1] == '"') {
                s++;
            } else {
                s++;
                break;
            }
        }
        if (n + 1 >= cap)
            return false;
        out[n++] = *s++;
    }
    out[n] = '\0';
    *p = s;
    return true;
}

static int user_cmp(const void *a, const void *b)
{
    return strcmp(((const struct wp_user *)a)->name, ((const struct wp_user *)b)->name);
}

/* A file named in the ini: relative to the ini file's directory unless absolute. */
static void ini_relative(const char *ini_path, const char *file, char *path, size_t cap)
{
    const char *slash = strrchr(ini_path, '/');
    if (file[0] == '/' || slash == NULL)
        snprintf(path, cap, "%s", file);
    else
        snprintf(path, cap, "%.*s/%s", (int)(slash - ini_path), ini_path, file);
}

static bool load_auth_file(struct loader *ld, const char *ini_path, const struct wp_config *prev)
{
    struct wp_config *cfg = ld->cfg;
    char path[WP_PATH_MAX * 2];
    ini_relative(ini_path, cfg->auth_file, path, sizeof(path));
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(ld->err, sizeof(ld->err), "%s: key 'auth_file': cannot open %s: %s", ini_path, path, strerror(errno));
        ld->failed = true;
        return false;
    }
    char line[2048];
    int lineno = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        const char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0' || *p == '\n' || *p == '\r' || *p == ';' || *p == '#')
            continue;
        struct wp_user u;
        char secret[WP_SECRET_MAX];
        memset(&u, 0, sizeof(u));
        if (!read_quoted(&p, u.name, sizeof(u.name)) || !read_quoted(&p, secret, sizeof(secret)) || u.name[0] == '\0') {
            snprintf(ld->err, sizeof(ld->err), "%s:%d: expected \"user\" \"secret\"", path, lineno);
            ld->failed = true;
            break;
        }
        if (strncmp(secret, "SCRAM-SHA-256$", 14) == 0) {
            if (!scram_parse_secret(secret, &u.scram)) {
                snprintf(ld->err, sizeof(ld->err), "%s:%d: malformed SCRAM secret for user \"%s\"", path, lineno,
                         u.name);
                ld->failed = true;
                break;
            }
            u.has_scram = true;
        } else if (md5_is_secret(secret)) {
            strcpy(u.md5, secret);
        } else {
            strcpy(u.password, secret);
            md5_password_hash(u.password, u.name, u.md5);
            const struct wp_user *old = prev != NULL ? config_find_user(prev, u.name) : NULL;
            if (old != NULL && old->has_scram && strcmp(old->password, u.password) == 0) {
                u.scram = old->scram; /* no PBKDF2 on reload for an unchanged password */
                u.has_scram = true;
            } else {
                u.has_scram = scram_build_secret(u.password, SCRAM_DEFAULT_ITERATIONS, &u.scram);
            }
        }
        OPENSSL_cleanse(secret, sizeof(secret));
        struct wp_user *users = realloc(cfg->users, sizeof(*users) * (cfg->nusers + 1));
        if (users == NULL) {
            snprintf(ld->err, sizeof(ld->err), "%s: out of memory", path);
            ld->failed = true;
            break;
        }
        cfg->users = users;
        cfg->users[cfg->nusers++] = u;
        OPENSSL_cleanse(&u, sizeof(u));
    }
    fclose(f);
    if (ld->failed)
        return false;
    qsort(cfg->users, cfg->nusers, sizeof(*cfg->users), user_cmp);
    for (size_t i = 1; i < cfg->nusers; i++) {
        if (strcmp(cfg->users[i - 1].name, cfg->users[i].name) == 0) {
            snprintf(ld->err, sizeof(ld->err), "%s: user \"%s\" appears twice", path, cfg->users[i].name);
            ld->failed = true;
            return false;
        }
    }
    return true;
}

/* hba_file: a rule it cannot parse refuses the whole config (or the reload), naming file:line. */
static void load_hba_file(struct loader *ld, const char *ini_path)
{
    char path[WP_PATH_MAX * 2], err[1024];
    ini_relative(ini_path, ld->cfg->hba_file, path, sizeof(path));
    if (!hba_load(path, &ld->cfg->hba, err, sizeof(err))) {
        snprintf(ld->err, sizeof(ld->err), "%s: key 'hba_file': %s", ini_path, err);
        ld->failed = true;
    }
}

static bool apply_env(struct loader *ld, const char *var, const char *key)
{
    const char *v = getenv(var);
    if (v == NULL)
        return true;
    char err[512];
    if (!setting_apply(ld->cfg, setting_find(key), v, err, sizeof(err))) {
        snprintf(ld->err, sizeof(ld->err), "environment variable %s (%s): %s", var, key, err);
        ld->failed = true;
        return false;
    }
    return true;
}

static bool parse_hhmm(const char *s, int *min)
{
    int h, m;
    char tail;
    if (sscanf(s, "%2d:%2d%c", &h, &m, &tail) != 2 || h < 0 || h > 24 || m < 0 || m > 59 || (h == 24 && m != 0))
        return false;
    *min = h * 60 + m;
    return true;
}

/* The calendar settings that need more than a range check. */
static void check_wedding_settings(struct loader *ld)
{
    struct wp_config *cfg = ld->cfg;
    if (!clock_zone_valid(cfg->timezone)) {
        snprintf(ld->err, sizeof(ld->err), "%s: key 'timezone': unknown time zone '%s' (an IANA name such as "
                 "Europe/London)", cfg->path, cfg->timezone);
        ld->failed = true;
        return;
    }
    char from[8] = "", to[8] = "";
    const char *dash = strchr(cfg->ceremony_hours, '-');
    if (dash != NULL && (size_t)(dash - cfg->ceremony_hours) < sizeof(from)) {
        memcpy(from, cfg->ceremony_hours, (size_t)(dash - cfg->ceremony_hours));
        snprintf(to, sizeof(to), "%s", dash + 1);
    }
    if (!parse_hhmm(from, &cfg->ceremony_from_min) || !parse_hhmm(to, &cfg->ceremony_to_min) ||
        cfg->ceremony_from_min >= cfg->ceremony_to_min) {
        snprintf(ld->err, sizeof(ld->err), "%s: key 'ceremony_hours': '%s' is not HH:MM-HH:MM with the start first",
                 cfg->path, cfg->ceremony_hours);
        ld->failed = true;
        return;
    }
    if (cfg->scale_target_utilization_pct < cfg->scale_up_utilization_pct) {
        snprintf(ld->err, sizeof(ld->err), "%s: key 'scale_target_utilization_pct': %d is below "
                 "scale_up_utilization_pct (%d)", cfg->path, cfg->scale_target_utilization_pct,
                 cfg->scale_up_utilization_pct);
        ld->failed = true;
    }
}

bool config_load(const char *path, const struct wp_config *prev, struct wp_config *out, char *err, size_t errlen)
{
    struct wp_config *cfg = out;
    struct loader ld = {.cfg = cfg, .path = path};
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->path, sizeof(cfg->path), "%s", path);
    lanes_init(&cfg->lanes);
    forecast_conf_defaults(&cfg->forecast);
    alert_rules_defaults(&cfg->alert_rules); /* [alert_rules] (issue #13) */
    for (size_t i = 0; i < NSETTINGS; i++) {
        char e[256];
        if (!setting_apply(cfg, &settings[i], settings[i].def, e, sizeof(e)))
            abort(); /* a default that does not pass its own table is a bug */
    }
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        config_free(cfg);
        return false;
    }
    struct {
        FILE *f;
        struct loader *ld;
    } rs = {f, &ld};
    int rc = ini_parse_stream(count_lines, &rs, on_entry, &ld);
    fclose(f);
    if (!ld.failed && rc > 0) {
        ld.line = rc;
        fail(&ld, "syntax error (expected [section], key = value, or a comment)");
    }
    if (!ld.failed && apply_env(&ld, "DB_POOL_MAX_CONNECTIONS", "max_pool_size"))
        apply_env(&ld, "DB_POOL_IDLE_TIMEOUT_MS", "idle_timeout_ms");
    if (!ld.failed && cfg->min_pool_size > cfg->max_pool_size) {
        snprintf(ld.err, sizeof(ld.err), "%s: min_pool_size (%d) is larger than max_pool_size (%d)", path,
                 cfg->min_pool_size, cfg->max_pool_size);
        ld.failed = true;
    }
    for (size_t i = 0; !ld.failed && i < cfg->ndbs; i++) {
        const struct wp_database *db = &cfg->dbs[i];
        if (config_db_min_pool(cfg, db) > config_db_max_pool(cfg, db)) {
            snprintf(ld.err, sizeof(ld.err), "%s: database '%s': min_pool_size (%d) is larger than max_pool_size (%d)",
                     path, db->name, config_db_min_pool(cfg, db), config_db_max_pool(cfg, db));
            ld.failed = true;
        }
    }
    if (!ld.failed)
        check_wedding_settings(&ld);
    if (!ld.failed && cfg->auth_file[0] != '\0')
        load_auth_file(&ld, path, prev);
    if (!ld.failed && cfg->hba_file[0] != '\0')
        load_hba_file(&ld, path);
    if (!ld.failed && cfg->auth_file[0] == '\0' && cfg->hba_file[0] == '\0' && cfg->auth_type != AUTH_TRUST) {
        snprintf(ld.err, sizeof(ld.err), "%s: key 'auth_type': %s needs an auth_file", path,
                 config_auth_type_name(cfg->auth_type));
        ld.failed = true;
    }
    for (size_t i = 0; !ld.failed && cfg->auth_file[0] == '\0' && i < cfg->hba.nrules; i++) {
        const struct hba_rule *r = &cfg->hba.rules[i];
        if (r->method == HBA_MD5 || r->method == HBA_SCRAM) {
            snprintf(ld.err, sizeof(ld.err), "%s: key 'hba_file': line %d: %s needs an auth_file", path, r->line,
                     hba_method_name(r->method));
            ld.failed = true;
        }
    }
    if (!ld.failed && cfg->listen_addr[0] == '\0' && cfg->unix_socket_dir[0] == '\0') {
        snprintf(ld.err, sizeof(ld.err), "%s: nothing to listen on: set listen_addr or unix_socket_dir", path);
        ld.failed = true;
    }
    if (ld.failed) {
        snprintf(err, errlen, "%s", ld.err);
        config_free(cfg);
        return false;
    }
    return true;
}

void config_free(struct wp_config *cfg)
{
    for (size_t i = 0; i < NSETTINGS; i++)
        free(cfg->pending[i]);
    free(cfg->dbs);
    if (cfg->users != NULL) {
        OPENSSL_cleanse(cfg->users, sizeof(*cfg->users) * cfg->nusers);
        free(cfg->users);
    }
    lanes_free(&cfg->lanes);
    hba_free(&cfg->hba);
    channel_conf_free(&cfg->alert_channels); /* [alert_channels] */
    OPENSSL_cleanse(cfg, sizeof(*cfg));
}

const struct wp_database *config_find_db(const struct wp_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->ndbs; i++)
        if (strcmp(cfg->dbs[i].name, name) == 0)
            return &cfg->dbs[i];
    return NULL;
}

bool config_resolve_db(const struct wp_config *cfg, const char *name, struct wp_database *out)
{
    const struct wp_database *db = config_find_db(cfg, name);
    if (db != NULL && strcmp(name, WP_WILDCARD_DB) != 0) {
        *out = *db;
        return true;
    }
    db = config_find_db(cfg, WP_WILDCARD_DB);
    if (db == NULL || strlen(name) >= sizeof(out->name) || strcmp(name, "wedpool") == 0)
        return false;
    *out = *db;
    strcpy(out->name, name);
    if (!db->dbname_set)
        strcpy(out->dbname, name);
    out->wildcard = true;
    return true;
}

const struct wp_user *config_find_user(const struct wp_config *cfg, const char *name)
{
    if (cfg->nusers == 0)
        return NULL;
    struct wp_user key;
    snprintf(key.name, sizeof(key.name), "%s", name);
    return bsearch(&key, cfg->users, cfg->nusers, sizeof(*cfg->users), user_cmp);
}

bool config_list_contains(const char *list, const char *name)
{
    size_t n = strlen(name);
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        const char *start = p;
        while (*p && *p != ',')
            p++;
        const char *end = p;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        if ((size_t)(end - start) == n && n > 0 && strncmp(start, name, n) == 0)
            return true;
    }
    return false;
}

int config_db_pool_mode(const struct wp_config *cfg, const struct wp_database *db)
{
    return db->pool_mode >= 0 ? db->pool_mode : cfg->pool_mode;
}

int config_db_min_pool(const struct wp_config *cfg, const struct wp_database *db)
{
    return db->min_pool_size >= 0 ? db->min_pool_size : cfg->min_pool_size;
}

int config_db_max_pool(const struct wp_config *cfg, const struct wp_database *db)
{
    return db->max_pool_size >= 0 ? db->max_pool_size : cfg->max_pool_size;
}

size_t config_setting_count(void)
{
    return NSETTINGS;
}

static void setting_text(const struct wp_config *cfg, const struct setting *s, char *value, size_t vlen)
{
    const char *base = (const char *)cfg;
    switch (s->type) {
    case T_INT:
        snprintf(value, vlen, "%d", *(const int *)(base + s->offset));
        break;
    case T_STR:
        snprintf(value, vlen, "%s", base + s->offset);
        break;
    case T_ENUM:
        if (s->size > 0)
            snprintf(value, vlen, "%s", base + s->offset);
        else
            snprintf(value, vlen, "%s", s->names[*(const int *)(base + s->offset)]);
        break;
    }
}

void config_setting_get(const struct wp_config *cfg, size_t i, struct config_setting_view *out)
{
    static const char mask[] = "********";
    const struct setting *s = &settings[i];
    out->name = s->name;
    out->default_value = s->def;
    out->reloadable = s->reload;
    setting_text(cfg, s, out->value, sizeof(out->value));
    out->pending = cfg->pending[i];
    if (s->secret) {
        if (out->value[0] != '\0')
            snprintf(out->value, sizeof(out->value), "%s", mask);
        if (out->pending != NULL && out->pending[0] != '\0')
            out->pending = mask;
    }
}

/* Bytes the setting occupies in struct wp_config. */
static size_t setting_size(const struct setting *s)
{
    return s->size > 0 ? s->size : sizeof(int);
}

bool config_reload_merge(const struct wp_config *running, struct wp_config *fresh)
{
    bool ok = true;
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting *s = &settings[i];
        free(fresh->pending[i]);
        fresh->pending[i] = NULL;
        if (s->reload)
            continue;
        char file[WP_VALUE_MAX], run[WP_VALUE_MAX];
        setting_text(fresh, s, file, sizeof(file));
        setting_text(running, s, run, sizeof(run));
        if (strcmp(file, run) != 0) {
            fresh->pending[i] = strdup(file);
            ok = ok && fresh->pending[i] != NULL;
        }
        memcpy((char *)fresh + s->offset, (const char *)running + s->offset, setting_size(s));
    }
    return ok;
}

const char *config_pool_mode_name(int mode)
{
    return mode >= 0 && mode <= 1 ? pool_mode_names[mode] : "?";
}

const char *config_tls_mode_name(int mode)
{
    return mode >= 0 && mode <= 5 ? tls_mode_names[mode] : "?";
}

const char *config_tsa_name(int tsa)
{
    return tsa >= 0 && tsa <= TSA_PREFER_STANDBY ? tsa_names[tsa] : "?";
}

const char *config_auth_type_name(int type)
{
    return type >= 0 && type <= 2 ? auth_type_names[type] : "?";
}
