/* main.c — command line, startup, signals, reload and shutdown of the wedpool daemon. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "alert.h"
#include "auth_query.h"
#include "backend.h"
#include "cancel.h"
#include "channels.h"
#include "client.h"
#include "clock.h"
#include "config.h"
#include "derive.h"
#include "health.h"
#include "http.h"
#include "janitor.h"
#include "listener.h"
#include "log.h"
#include "loop.h"
#include "pgstats.h"
#include "pool.h"
#include "push.h"
#include "runtime.h"
#include "plan.h"
#include "scaler.h"
#include "server.h"
#include "takeover.h"
#include "tls.h"

struct runtime rt;

static char config_path[WP_PATH_MAX];
static struct event sig_hup, sig_term, sig_int;

static void apply_log_level(const struct wp_config *cfg)
{
    if (strcmp(cfg->log_level, "debug") == 0)
        log_set_level(LOG_DEBUG);
    else if (strcmp(cfg->log_level, "warning") == 0)
        log_set_level(LOG_WARNING);
    else if (strcmp(cfg->log_level, "error") == 0)
        log_set_level(LOG_ERROR);
    else
        log_set_level(LOG_INFO);
}

/* Names every restart-only setting whose value in the file is not the running one. */
static void log_pending_restart(const struct wp_config *cfg)
{
    struct config_setting_view v;
    for (size_t i = 0; i < config_setting_count(); i++) {
        config_setting_get(cfg, i, &v);
        if (v.pending != NULL)
            log_warn("reload: %s changed in the config file; restart wedpool to apply (running \"%s\", file \"%s\")",
                     v.name, v.value, v.pending);
    }
}

bool runtime_reload(char *err, size_t errlen)
{
    struct wp_config fresh;
    bool ok = config_load(config_path, &rt.cfg, &fresh, err, errlen);
    if (ok && !config_reload_merge(&rt.cfg, &fresh)) {
        config_free(&fresh);
        snprintf(err, errlen, "out of memory");
        ok = false;
    }
    if (ok && !scaler_reload_allowed(&rt.cfg, &fresh, err, errlen)) {
        config_free(&fresh); /* all or nothing: no part of a refused reload is applied */
        ok = false;
    }
    if (!ok) {
        rt.reload_failures++;
        log_error("reload of %s refused, running configuration kept: %s", config_path, err);
        return false;
    }
    log_pending_restart(&fresh);
    struct wp_config old = rt.cfg;
    rt.cfg = fresh;
    apply_log_level(&rt.cfg);
    rt.reloads++;
    backend_sync_config();
    pool_apply_config(&old);
    config_free(&old);
    tls_reload(&rt.cfg);
    pool_prewarm();
    scaler_config_changed();
    channels_config_changed();
    log_info("configuration reloaded from %s (%zu databases, %zu users)", config_path, rt.cfg.ndbs, rt.cfg.nusers);
    return true;
}

void runtime_stop_now(void)
{
    loop_stop();
}

void runtime_begin_shutdown(const char *why)
{
    if (rt.shutting_down)
        return;
    rt.shutting_down = true;
    rt.shutdown_deadline_us = now_us() + (uint64_t)rt.cfg.shutdown_timeout_ms * 1000u;
    log_info("%s: graceful shutdown, no new connections; running transactions may finish within %d ms", why,
             rt.cfg.shutdown_timeout_ms);
    listener_stop();
    rt.paused = false;
    struct dlist *pos, *tmp, *q, *qt;
    dlist_for_each_safe(q, qt, clients_login())
        client_fail(container_of(q, struct client, node), "57P01", "wedpool is shutting down");
    for (pos = pool_all()->next; pos != pool_all(); pos = pos->next) {
        struct pool *p = container_of(pos, struct pool, node);
        dlist_for_each_safe(q, qt, &p->idle_clients)
            client_fail(container_of(q, struct client, node), "57P01",
                        "wedpool: terminating connection because the pooler is shutting down");
        struct dlist *waiting[MAX_LANES + 1];
        int nw = pool_waiting_lists(p, waiting);
        for (int i = 0; i < nw; i++)
            dlist_for_each_safe(q, qt, waiting[i])
                client_fail(container_of(q, struct client, node), "57P01",
                            "wedpool: terminating connection because the pooler is shutting down");
        dlist_for_each_safe(q, qt, &p->active_clients)
        {
            struct client *c = container_of(q, struct client, node);
            c->terminate_after_txn = true;
            if (c->server != NULL && server_idle_boundary(c->server) && c->conn.pkt_left == 0 &&
                (c->conn.buf == NULL || c->conn.buf->len == c->conn.buf->done))
                client_fail(c, "57P01", "wedpool: terminating connection because the pooler is shutting down");
        }
        dlist_for_each_safe(q, tmp, &p->idle_servers)
            server_close(container_of(q, struct server, node), "shutting down");
    }
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    char err[1024];
    switch (sig) {
    case SIGHUP:
        log_info("SIGHUP: reloading %s", config_path);
        runtime_reload(err, sizeof(err));
        break;
    case SIGTERM:
        runtime_begin_shutdown("SIGTERM");
        break;
    case SIGINT:
        log_info("SIGINT: immediate shutdown");
        runtime_stop_now();
        break;
    }
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            log_warn("could not raise the open-files limit: %s", strerror(errno));
    }
}

static bool write_pidfile(const char *path)
{
    if (path[0] == '\0')
        return true;
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        log_error("cannot write pidfile %s: %s", path, strerror(errno));
        return false;
    }
    fprintf(f, "%d\n", (int)getpid());
    fclose(f);
    return true;
}

/* wedpool --test-alert CHANNEL: one test notice through the channel, on this thread; the outcome on
 * stdout (0) or stderr (1: not delivered, 2: no such channel). */
static int test_alert(const char *channel)
{
    struct channel_result r;
    char err[256];
    if (!channels_test_alert(&rt.cfg, channel, &r, err, sizeof(err))) {
        fprintf(stderr, "wedpool: %s\n", err);
        return 2;
    }
    FILE *out = r.result == ALERT_SENT ? stdout : stderr;
    fprintf(out, "wedpool: test alert via %s: %s after %d attempt%s in %.0f ms: %s\n", channel,
            alert_result_name(r.result), r.attempts, r.attempts == 1 ? "" : "s", r.latency_ms, r.detail);
    return r.result == ALERT_SENT ? 0 : 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "wedpool %s: a PostgreSQL connection pooler for wedding-day traffic\n"
            "usage: wedpool -c FILE              run in the foreground\n"
            "       wedpool --takeover -c FILE   replace the running wedpool (same takeover_socket) without\n"
            "                                    refusing a connection: it hands over its listening sockets\n"
            "       wedpool --check-config -c FILE   validate FILE and exit\n"
            "       wedpool plan -c FILE [--from YYYY-MM-DD] [--days N] [--json FILE] [--svg FILE]\n"
            "                                    the capacity plan from the calendars (exit 3: over capacity)\n"
            "       wedpool --test-alert CHANNEL -c FILE   send a test notification through one alert channel\n"
            "       wedpool --version\n",
            WEDPOOL_VERSION);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"check-config", no_argument, NULL, 'C'},
                                         {"takeover", no_argument, NULL, 'K'},
                                         {"test-alert", required_argument, NULL, 'T'},
                                         {"version", no_argument, NULL, 'V'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    if (argc >= 2 && strcmp(argv[1], "plan") == 0)
        return plan_main(argc - 1, argv + 1); /* the capacity plan: no proxy, no loop */
    bool check_only = false, takeover = false;
    const char *test_channel = NULL;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            strlcpy_ok(config_path, optarg, sizeof(config_path));
            break;
        case 'C':
            check_only = true;
            break;
        case 'T':
            test_channel = optarg;
            break;
        case 'K':
            takeover = true;
            break;
        case 'V':
            printf("wedpool %s\n", WEDPOOL_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (config_path[0] == '\0') {
        if (optind < argc) {
            strlcpy_ok(config_path, argv[optind], sizeof(config_path));
        } else {
            usage(stderr);
            return 2;
        }
    }

    char err[1024];
    if (!clock_init_from_env(err, sizeof(err))) {
        fprintf(stderr, "wedpool: %s\n", err);
        return 1;
    }
    if (!config_load(config_path, NULL, &rt.cfg, err, sizeof(err))) {
        fprintf(stderr, "wedpool: invalid configuration: %s\n", err);
        return 1;
    }
    if (test_channel != NULL) {
        int rc = test_alert(test_channel);
        config_free(&rt.cfg);
        return rc;
    }
    if (check_only) {
        printf("wedpool: %s is valid (%zu databases, %zu users)\n", config_path, rt.cfg.ndbs, rt.cfg.nusers);
        config_free(&rt.cfg);
        return 0;
    }
    if (!log_open(rt.cfg.logfile)) {
        fprintf(stderr, "wedpool: cannot open logfile %s: %s\n", rt.cfg.logfile, strerror(errno));
        return 1;
    }
    apply_log_level(&rt.cfg);
    if (clock_is_fake()) {
        char at[32];
        clock_format_iso(clock_now(), at, sizeof(at));
        log_warn("FAKE CLOCK: WEDPOOL_FAKE_NOW/WEDPOOL_CLOCK_SPEED are set: calendar time starts at %s and runs "
                 "%gx real time; never set these in production", at, clock_speed());
    }
    raise_fd_limit();
    signal(SIGPIPE, SIG_IGN);
    rt.start_us = now_us();
    rt.start_wall = wall_time();

    if (!loop_init()) {
        log_error("cannot create the event loop");
        return 1;
    }
    objects_init();
    backend_init();
    if (!tls_init(&rt.cfg, err, sizeof(err))) {
        log_error("invalid configuration: %s", err);
        return 1;
    }
    if (takeover) {
        if (!takeover_receive(&rt.cfg, err, sizeof(err))) {
            log_error("--takeover: %s", err);
            if (rt.cfg.logfile[0] != '\0')
                fprintf(stderr, "wedpool: --takeover: %s\n", err);
            return 1;
        }
    } else if (!listener_start(&rt.cfg)) {
        return 1;
    }
    if (http_listen_fd() < 0 && !http_start(rt.cfg.http_listen))
        return 1;
    if (!takeover_listen(&rt.cfg, err, sizeof(err))) {
        log_error("%s", err);
        return 1;
    }
    if (rt.cfg.dns_nameserver[0] != '\0' && loop_dns() == NULL)
        return 1; /* the reason is logged */
    if (!takeover && !write_pidfile(rt.cfg.pidfile))
        return 1; /* after a takeover: once serving, so a new process that fails to start leaves the old one's */
    evsignal_assign(&sig_hup, loop_base(), SIGHUP, on_signal, NULL);
    evsignal_assign(&sig_term, loop_base(), SIGTERM, on_signal, NULL);
    evsignal_assign(&sig_int, loop_base(), SIGINT, on_signal, NULL);
    evsignal_add(&sig_hup, NULL);
    evsignal_add(&sig_term, NULL);
    evsignal_add(&sig_int, NULL);
    janitor_start();
    backend_sync_config();
    health_start();
    pool_prewarm();
    pgstats_start();
    if (!push_start())
        return 1;
    if (!channels_start(err, sizeof(err))) {
        log_error("cannot start the alert channels: %s", err);
        return 1;
    }
    if (!scaler_start(err, sizeof(err))) {
        log_error("cannot start the wedding calendars: %s", err);
        return 1;
    }
    alert_start();
    log_info("wedpool %s started (pid %d): %zu databases, pool_mode=%s, auth_type=%s", WEDPOOL_VERSION, (int)getpid(),
             rt.cfg.ndbs, config_pool_mode_name(rt.cfg.pool_mode), config_auth_type_name(rt.cfg.auth_type));
    if (takeover) {
        takeover_commit(); /* the process we replace stops accepting: we are ready */
        write_pidfile(rt.cfg.pidfile);
    }

    loop_run();

    log_info("wedpool stopping");
    alert_stop();
    listener_stop();
    takeover_stop();
    http_stop();
    push_stop();
    channels_stop();
    scaler_stop();
    pgstats_stop();
    auth_query_shutdown();
    health_stop();
    janitor_stop();
    objects_shutdown();
    backend_shutdown();
    derive_stop(); /* after the servers closed (their jobs are cancelled), before the loop is freed */
    cancel_shutdown();
    evsignal_del(&sig_hup);
    evsignal_del(&sig_term);
    evsignal_del(&sig_int);
    if (rt.cfg.pidfile[0] != '\0' && !rt.handed_over)
        unlink(rt.cfg.pidfile); /* after a takeover it is the new process's */
    config_free(&rt.cfg);
    tls_shutdown();
    loop_free();
    log_info("wedpool stopped");
    return 0;
}
