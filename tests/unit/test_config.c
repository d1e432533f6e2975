/* test_config.c — wedpool.ini parsing: defaults, every error class with file:line:key, databases,
 * lanes, environment overrides, auth_file formats, SCRAM reuse on reload, SHOW CONFIG. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

static char dir[256];

static const char *write_file(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/wedpool-config-test-XXXXXX");
    assert_non_null(mkdtemp(dir));
    write_file("users.txt", "; comment\n\"app\" \"apppass\"\n\"md5user\" \"md53858f62230ac3c915f300c664312c63f\"\n"
                            "\"scram\" \"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
                            "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=\"\n"
                            "\"quo\"\"te\" \"p\"\"w\"\n");
    unsetenv("DB_POOL_MAX_CONNECTIONS");
    unsetenv("DB_POOL_IDLE_TIMEOUT_MS");
    return 0;
}

static bool load(const char *text, struct wp_config *cfg, char *err)
{
    const char *path = write_file("wedpool.ini", text);
    return config_load(path, NULL, cfg, err, 1024);
}

static void expect_error(const char *text, const char *fragment)
{
    struct wp_config cfg;
    char err[1024] = "";
    assert_false(load(text, &cfg, err));
    if (strstr(err, fragment) == NULL)
        fail_msg("error \"%s\" does not contain \"%s\"", err, fragment);
}

/* host= and port= lists follow libpq: one port for all hosts, or one per host. */
static void test_multi_host(void **state)
{
    (void)state;
    struct wp_config cfg;
    char err[1024] = "";
    bool loaded = load("[databases]\n"
                     "rw = host=pg1,pg2,10.0.0.3 port=5432,5433,5434 dbname=app target_session_attrs=read-write "
                     "load_balance_hosts=random primary_preference=pg2:5433\n"
                     "ro = host=pg1,pg2 port=6000 target_session_attrs=prefer-standby max_replica_lag_ms=500 "
                     "patroni_url=http://127.0.0.1:8008\n"
                     "one = host=/tmp\n"
                     "[wedpool]\nauth_file = users.txt\nhealth_check_interval_ms = 250\nhealth_check_user = app\n",
                     &cfg, err);
    if (!loaded)
        fail_msg("%s", err);
    const struct wp_database *rw = config_find_db(&cfg, "rw");
    assert_int_equal(rw->nhosts, 3);
    assert_string_equal(rw->hosts[0].name, "pg1");
    assert_string_equal(rw->hosts[1].name, "pg2");
    assert_string_equal(rw->hosts[2].name, "10.0.0.3");
    assert_int_equal(rw->hosts[2].port, 5434);
    assert_int_equal(rw->port, 5432);
    assert_int_equal(rw->target_session_attrs, TSA_READ_WRITE);
    assert_true(rw->load_balance);
    assert_string_equal(rw->primary_preference, "pg2:5433");
    const struct wp_database *ro = config_find_db(&cfg, "ro");
    assert_int_equal(ro->nhosts, 2);
    assert_int_equal(ro->hosts[1].port, 6000);
    assert_int_equal(ro->target_session_attrs, TSA_PREFER_STANDBY);
    assert_int_equal(ro->max_replica_lag_ms, 500);
    assert_string_equal(ro->patroni_url, "http://127.0.0.1:8008");
    const struct wp_database *one = config_find_db(&cfg, "one");
    assert_int_equal(one->nhosts, 1);
    assert_int_equal(one->hosts[0].port, 5432);
    assert_int_equal(one->target_session_attrs, TSA_ANY);
    assert_int_equal(cfg.health_check_interval_ms, 250);
    assert_string_equal(cfg.health_check_user, "app");
    config_free(&cfg);

    expect_error("[databases]\na = host=pg1,pg2,pg3 port=1,2\n", "3 hosts");
    expect_error("[databases]\na = host=pg1,,pg2\n", "empty host name");
    expect_error("[databases]\na = host=pg1 port=5432,\n", "empty port");
    expect_error("[databases]\na = host=pg1 port=70000\n", "port=70000");
    expect_error("[databases]\na = host=pg1 target_session_attrs=writable\n", "target_session_attrs=writable");
    expect_error("[databases]\na = host=pg1 load_balance_hosts=yes\n", "load_balance_hosts=yes");
    expect_error("[databases]\na = host=pg1,pg2 primary_preference=pg3:5432\n", "names none of its hosts");
    expect_error("[databases]\na = host=a,b,c,d,e,f,g,h,i\n", "at most 8 hosts");
    expect_error("[databases]\na = host=pg1 patroni_url=pg1:8008\n", "patroni_url");
}

static void test_defaults(void **state)
{
    (void)state;
    struct wp_config cfg;
    char err[1024];
    assert_true(load("[wedpool]\nauth_type = trust\n", &cfg, err));
    assert_int_equal(cfg.listen_port, 6432);
    assert_int_equal(cfg.min_pool_size, 10);
    assert_int_equal(cfg.max_pool_size, 50);
    assert_int_equal(cfg.acquire_timeout_ms, 60000);
    assert_int_equal(cfg.idle_timeout_ms, 30000);
    assert_int_equal(cfg.reserve_pool_size, 5);
    assert_int_equal(cfg.pool_mode, POOL_MODE_TRANSACTION);
    assert_string_equal(cfg.server_reset_query, "DISCARD ALL");
    assert_string_equal(cfg.log_level, "info");
    assert_int_equal(cfg.lanes.nlanes, 1);
    config_free(&cfg);
}

static void test_full_file(void **state)
{
    (void)state;
    struct wp_config cfg;
    char err[1024];
    const char *ini = "[databases]\n"
                      "appdb = host=10.0.0.5 port=5433 dbname=real user=svc password='it\\'s x' pool_mode=session\n"
                      "plain = \n"
                      "[lanes]\n"
                      "critical = priority=1400 reserve=yes\n"
                      "[lane_rules]\n"
                      "critical = application_name=ceremony*\n"
                      "[wedpool]\n"
                      "listen_port = 7000   ; inline comment\n"
                      "unix_socket_dir =\n"
                      "auth_type = md5\n"
                      "auth_file = users.txt\n"
                      "max_pool_size = 20\n"
                      "min_pool_size = 2\n";
    if (!load(ini, &cfg, err))
        fail_msg("%s", err);
    assert_int_equal(cfg.listen_port, 7000);
    assert_string_equal(cfg.unix_socket_dir, "");
    assert_int_equal(cfg.ndbs, 2);
    const struct wp_database *db = config_find_db(&cfg, "appdb");
    assert_non_null(db);
    assert_string_equal(db->host, "10.0.0.5");
    assert_int_equal(db->port, 5433);
    assert_string_equal(db->dbname, "real");
    assert_string_equal(db->user, "svc");
    assert_string_equal(db->password, "it's x");
    assert_int_equal(config_db_pool_mode(&cfg, db), POOL_MODE_SESSION);
    assert_int_equal(config_db_max_pool(&cfg, db), 20);
    const struct wp_database *plain = config_find_db(&cfg, "plain");
    assert_string_equal(plain->dbname, "plain");
    assert_int_equal(plain->port, 5432);
    assert_int_equal(cfg.lanes.nlanes, 2);
    assert_int_equal(cfg.lanes.nrules, 1);
    /* auth_file: plain, md5, SCRAM, and "" escapes */
    assert_int_equal(cfg.nusers, 4);
    const struct wp_user *u = config_find_user(&cfg, "app");
    assert_string_equal(u->password, "apppass");
    assert_true(u->has_scram);
    assert_true(md5_is_secret(u->md5));
    u = config_find_user(&cfg, "md5user");
    assert_string_equal(u->password, "");
    assert_false(u->has_scram);
    u = config_find_user(&cfg, "scram");
    assert_true(u->has_scram);
    assert_int_equal(u->scram.iterations, 4096);
    assert_string_equal(u->md5, "");
    u = config_find_user(&cfg, "quo\"te");
    assert_non_null(u);
    assert_string_equal(u->password, "p\"w");
    assert_null(config_find_user(&cfg, "nobody"));
    config_free(&cfg);
}

static void test_errors_name_file_line_key(void **state)
{
    (void)state;
    expect_error("[wedpool]\nauth_type = trust\nmax_pool_size = abc\n", "wedpool.ini:3: key 'max_pool_size': value 'abc' is not an integer");
    expect_error("[wedpool]\nauth_type = trust\nmax_pool_size = 0\n", "wedpool.ini:3: key 'max_pool_size': value 0 is out of range 1..10000");
    expect_error("[wedpool]\nauth_type = trust\nmax_pool_size = 99999999999999999999\n", "key 'max_pool_size'");
    expect_error("[wedpool]\nauth_type = trust\nmax_pool_size = 5x\n", "is not an integer");
    expect_error("[wedpool]\nauth_type = trust\n\nfrobnicate = 1\n", "wedpool.ini:4: key 'frobnicate': unknown key");
    expect_error("[wedpool]\npool_mode = statement\n", "key 'pool_mode': value 'statement' is not one of session | transaction");
    expect_error("[wedpool]\nauth_type = trust\n[nosuch]\nx = 1\n", "wedpool.ini:4: unknown section [nosuch]");
    expect_error("[wedpool]\nauth_type = trust\n[databases]\na = port=1\na = port=2\n", "database 'a' is defined twice");
    expect_error("[wedpool]\nauth_type = trust\n[databases]\na = host=x color=red\n", "unknown connection setting 'color'");
    expect_error("[wedpool]\nauth_type = trust\n[databases]\na = port=99999\n", "port=99999");
    expect_error("[wedpool]\nauth_type = trust\n[databases]\na = password='open\n", "unterminated");
    expect_error("[wedpool]\nauth_type = trust\nmin_pool_size = 60\n", "min_pool_size (60) is larger than max_pool_size (50)");
    expect_error("[wedpool]\nauth_type = md5\n", "needs an auth_file");
    expect_error("[wedpool]\nauth_type = md5\nauth_file = missing.txt\n", "cannot open");
    expect_error("[wedpool]\nauth_type = trust\nthis line is junk\n", "wedpool.ini:3: syntax error");
    expect_error("[wedpool]\nauth_type = trust\n[lanes]\nx = priority=high\n", "lane 'x': bad value \"high\" for priority");
    expect_error("[wedpool]\nauth_type = trust\n[lane_rules]\nghost = user=a\n", "undefined lane");
    write_file("bad_users.txt", "\"a\" \"b\"\nnot quoted\n");
    expect_error("[wedpool]\nauth_type = md5\nauth_file = bad_users.txt\n", "bad_users.txt:2: expected \"user\" \"secret\"");
}

/* hba_file: relative to the ini, its rules held in the config, a bad line refuses the config. */
static void test_hba_file(void **state)
{
    (void)state;
    struct wp_config cfg;
    char err[1024] = "";
    write_file("hba.conf", "# rules\nhost all app 10.0.0.0/8 md5\nlocal wedpool postgres trust\n");
    assert_true(load("[wedpool]\nauth_file = users.txt\nhba_file = hba.conf\n", &cfg, err));
    assert_int_equal(cfg.hba.nrules, 2);
    assert_int_equal(cfg.hba.rules[0].line, 2);
    assert_int_equal(hba_match(&cfg.hba, HBA_CONN_LOCAL, false, NULL, "postgres", "wedpool", NULL), HBA_TRUST);
    config_free(&cfg);
    write_file("bad_hba.conf", "host all all 0.0.0.0/0 md5\nhost all +admins 10.0.0.0/8 trust\n");
    expect_error("[wedpool]\nauth_file = users.txt\nhba_file = bad_hba.conf\n",
                 "bad_hba.conf:2: \"+admins\": +group (role membership) is not supported");
    expect_error("[wedpool]\nauth_file = users.txt\nhba_file = nope.conf\n", "key 'hba_file': ");
    /* without an auth_file, only trust, cert and reject can be satisfied */
    expect_error("[wedpool]\nauth_type = trust\nhba_file = hba.conf\n", "line 2: md5 needs an auth_file");
    write_file("trust_hba.conf", "host all all 127.0.0.1/32 trust\n");
    assert_true(load("[wedpool]\nhba_file = trust_hba.conf\n", &cfg, err));
    config_free(&cfg);
}

static void test_env_overrides(void **state)
{
    (void)state;
    struct wp_config cfg;
    char err[1024];
    setenv("DB_POOL_MAX_CONNECTIONS", "20", 1);
    setenv("DB_POOL_IDLE_TIMEOUT_MS", "30000", 1);
    assert_true(load("[wedpool]\nauth_type = trust\nmin_pool_size = 1\nmax_pool_size = 5\nidle_timeout_ms = 1\n", &cfg, err));
    assert_int_equal(cfg.max_pool_size, 20);
    assert_int_equal(cfg.idle_timeout_ms, 30000);
    config_free(&cfg);
    setenv("DB_POOL_MAX_CONNECTIONS", "lots", 1);
    expect_error("[wedpool]\nauth_type = trust\nmin_pool_size = 1\n", "environment variable DB_POOL_MAX_CONNECTIONS (max_pool_size): value 'lots' is not an integer");
    unsetenv("DB_POOL_MAX_CONNECTIONS");
    unsetenv("DB_POOL_IDLE_TIMEOUT_MS");
}

static void test_reload_reuses_scram(void **state)
{
    (void)state;
    struct wp_config a, b, c;
    char err[1024];
    const char *path = write_file("wedpool.ini", "[wedpool]\nauth_type = scram-sha-256\nauth_file = users.txt\n");
    assert_true(config_load(path, NULL, &a, err, sizeof(err)));
    assert_true(config_load(path, &a, &b, err, sizeof(err)));
    assert_true(config_load(path, NULL, &c, err, sizeof(err)));
    const struct wp_user *ua = config_find_user(&a, "app"), *ub = config_find_user(&b, "app"), *uc = config_find_user(&c, "app");
    assert_memory_equal(ua->scram.salt, ub->scram.salt, ua->scram.salt_len);  /* reused, no PBKDF2 */
    assert_memory_not_equal(ua->scram.salt, uc->scram.salt, ua->scram.salt_len); /* fresh salt */
    config_free(&a);
    config_free(&b);
    config_free(&c);
}

/* The SHOW CONFIG row of key in cfg. */
static struct config_setting_view row(const struct wp_config *cfg, const char *key)
{
    struct config_setting_view v = {0};
    for (size_t i = 0; i < config_setting_count(); i++) {
        config_setting_get(cfg, i, &v);
        if (strcmp(v.name, key) == 0)
            return v;
    }
    fail_msg("no setting %s", key);
    return v;
}

/* Names of the settings with a pending value, comma-separated. */
static const char *pending_list(const struct wp_config *cfg)
{
    static char buf[512];
    buf[0] = '\0';
    for (size_t i = 0; i < config_setting_count(); i++) {
        struct config_setting_view v;
        config_setting_get(cfg, i, &v);
        if (v.pending != NULL)
            snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s", buf[0] ? "," : "", v.name);
    }
    return buf;
}

static void test_show_config(void **state)
{
    (void)state;
    struct wp_config b;
    char err[1024];
    assert_true(load("[wedpool]\nauth_type = trust\nmin_pool_size = 0\nmax_pool_size = 9\nhttp_auth_token = s3cret\n", &b, err));
    struct config_setting_view v = row(&b, "max_pool_size");
    assert_string_equal(v.value, "9");
    assert_string_equal(v.default_value, "50");
    assert_true(v.reloadable);
    assert_null(v.pending);
    assert_string_equal(row(&b, "http_auth_token").value, "********");
    assert_string_equal(row(&b, "otlp_headers").value, ""); /* empty is not masked */
    assert_false(row(&b, "listen_port").reloadable);
    assert_string_equal(pending_list(&b), ""); /* a freshly loaded file has nothing pending */
    assert_true(config_list_contains("postgres, admin ,ops", "admin"));
    assert_false(config_list_contains("postgres,admins", "admin"));
    assert_false(config_list_contains("", "admin"));
    config_free(&b);
}

/* Every row's reload flag decides: the file's value for reloadable settings, the running value
 * (and the file's as pending) for restart-only ones, whatever their type. */
static void test_reload_merge(void **state)
{
    (void)state;
    struct wp_config run, fresh, again;
    char err[1024];
    assert_true(load("[wedpool]\nauth_type = trust\nlisten_port = 7000\nhttp_listen = 127.0.0.1:9100\n"
                     "pg_stats_interval_s = 15\nmax_pool_size = 20\nlog_level = info\n", &run, err));
    assert_true(load("[wedpool]\nauth_type = trust\nlisten_port = 7001\nhttp_listen = 127.0.0.1:9101\n"
                     "pg_stats_interval_s = 30\ndns_nameserver = 127.0.0.1:53\notlp_headers = api-key=k\n"
                     "unix_socket_dir = /run/wp\nmax_pool_size = 30\nlog_level = debug\n"
                     "server_reset_query =\n", &fresh, err));
    assert_true(config_reload_merge(&run, &fresh));
    /* restart-only: the running value stays, the file's is pending */
    assert_int_equal(fresh.listen_port, 7000);
    assert_string_equal(fresh.http_listen, "127.0.0.1:9100");
    assert_int_equal(fresh.pg_stats_interval_s, 15);
    assert_string_equal(fresh.dns_nameserver, "");
    assert_string_equal(fresh.otlp_headers, "");
    assert_string_equal(fresh.unix_socket_dir, "/tmp");
    assert_string_equal(row(&fresh, "listen_port").value, "7000");
    assert_string_equal(row(&fresh, "listen_port").pending, "7001");
    assert_string_equal(row(&fresh, "http_listen").pending, "127.0.0.1:9101");
    assert_string_equal(row(&fresh, "pg_stats_interval_s").pending, "30");
    assert_string_equal(row(&fresh, "otlp_headers").pending, "********"); /* masked */
    /* reloadable: the file's value */
    assert_int_equal(fresh.max_pool_size, 30);
    assert_string_equal(fresh.log_level, "debug");
    assert_string_equal(fresh.server_reset_query, "");
    assert_null(row(&fresh, "max_pool_size").pending);
    assert_string_equal(pending_list(&fresh),
                        "listen_port,unix_socket_dir,dns_nameserver,http_listen,pg_stats_interval_s,otlp_headers");

    /* the file back as it runs: nothing pending; a second merge against the merged config keeps
     * comparing with what runs, not with the previous file */
    assert_true(load("[wedpool]\nauth_type = trust\nlisten_port = 7000\nhttp_listen = 127.0.0.1:9100\n"
                     "unix_socket_dir = /run/wp\n", &again, err));
    assert_true(config_reload_merge(&fresh, &again));
    assert_string_equal(pending_list(&again), "unix_socket_dir");
    assert_string_equal(again.unix_socket_dir, "/tmp");
    assert_int_equal(again.max_pool_size, 50);
    config_free(&again);
    assert_true(load("[wedpool]\nauth_type = trust\nlisten_port = 7000\nhttp_listen = 127.0.0.1:9100\n", &again, err));
    assert_true(config_reload_merge(&fresh, &again));
    assert_string_equal(pending_list(&again), "");
    config_free(&run);
    config_free(&fresh);
    config_free(&again);
}

/* [alert_rules] (issue #13): defaults, a rule line, and bad lines refused with file:line. */
static void test_alert_rules(void **state)
{
    (void)state;
    struct wp_config cfg;
    char err[1024] = "";
    assert_true(load("[wedpool]\nauth_type = trust\n", &cfg, err));
    assert_int_equal(cfg.alert_rules.rule[AR_POOL_UTILIZATION].threshold, 85);
    assert_int_equal(cfg.alert_rules.rule[AR_ALERT_DELIVERY_FAILING].for_s, 300);
    config_free(&cfg);
    assert_true(load("[wedpool]\nauth_type = trust\n[alert_rules]\npool_utilization = threshold=70 for_s=5 ; low\n"
                     "calendar_stale = off\nrenotify_min = 15\n", &cfg, err));
    assert_int_equal(cfg.alert_rules.rule[AR_POOL_UTILIZATION].threshold, 70);
    assert_int_equal(cfg.alert_rules.rule[AR_POOL_UTILIZATION].for_s, 5);
    assert_true(cfg.alert_rules.rule[AR_CALENDAR_STALE].off);
    assert_int_equal(cfg.alert_rules.renotify_min, 15);
    config_free(&cfg);
    expect_error("[wedpool]\nauth_type = trust\n[alert_rules]\n\npool_utilization = threshold=lots\n",
                 "wedpool.ini:5: alert rule 'pool_utilization': threshold 'lots' is not a number");
    expect_error("[alert_rules]\npool_usage = threshold=80\n", "wedpool.ini:2: alert rule 'pool_usage': unknown rule");
    expect_error("[alert_rules]\nbackend_down = for_s=0\nbackend_down = off\n",
                 "wedpool.ini:3: alert rule 'backend_down': given twice");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_multi_host),
        cmocka_unit_test(test_full_file),
        cmocka_unit_test(test_errors_name_file_line_key),
        cmocka_unit_test(test_env_overrides),
        cmocka_unit_test(test_hba_file),
        cmocka_unit_test(test_reload_reuses_scram),
        cmocka_unit_test(test_show_config),
        cmocka_unit_test(test_reload_merge),
        cmocka_unit_test(test_alert_rules),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
