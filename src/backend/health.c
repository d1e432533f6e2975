/* health.c — backend health checks: every 2 s a non-blocking TCP connect to each configured
 * database's address (no login, so no credentials and no server process are spent on it). */
#include "health.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/dns.h>
#include <event2/util.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "log.h"
#include "loop.h"
#include "runtime.h"
#include "util.h"

#define MAX_PROBES 64
#define PROBE_INTERVAL_S 2
#define PROBE_TIMEOUT_MS 1500

struct probe {
    char name[WP_NAME_MAX];
    char label[WP_NAME_MAX * 2 + 1]; /* name escaped for Prometheus label values */
    bool known;                 /* probed at least once */
    bool up;
    char why[160];
    uint64_t last_ok_unix;
    int fd;
    struct event ev;
    bool pending;
    struct evdns_getaddrinfo_request *dns; /* host name lookup in flight */
};

static struct probe probes[MAX_PROBES];
static int nprobes;
static struct event tick;
static bool running;

static void probe_done(struct probe *pr, bool up, const char *why)
{
    if (pr->pending) {
        event_del(&pr->ev);
        close(pr->fd);
        pr->pending = false;
    }
    if (pr->known && pr->up && !up)
        log_warn("health: database %s is unreachable: %s", pr->name, why);
    else if (pr->known && !pr->up && up)
        log_info("health: database %s is reachable again", pr->name);
    pr->known = true;
    pr->up = up;
    snprintf(pr->why, sizeof(pr->why), "%s", up ? "" : why);
    if (up)
        pr->last_ok_unix = (uint64_t)wall_time();
}

static void on_probe(evutil_socket_t fd, short what, void *arg)
{
    struct probe *pr = arg;
    pr->pending = false; /* the event fired; probe_done must not delete it again */
    int err = 0;
    socklen_t len = sizeof(err);
    if (what & EV_TIMEOUT) {
        close(pr->fd);
        probe_done(pr, false, "connect timed out");
        return;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    close(pr->fd);
    probe_done(pr, err == 0, strerror(err));
}

/* An address literal or a unix socket; false for a host name (or a unix path too long). */
static bool resolve(const struct wp_database *db, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    if (db->host[0] == '/') {
        struct sockaddr_un *un = (struct sockaddr_un *)ss;
        un->sun_family = AF_UNIX;
        int w = snprintf(un->sun_path, sizeof(un->sun_path), "%.90s/.s.PGSQL.%d", db->host, db->port);
        *len = sizeof(*un);
        return w > 0 && (size_t)w < sizeof(un->sun_path);
    }
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, db->host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)db->port);
        *len = sizeof(*in);
        return true;
    }
    if (inet_pton(AF_INET6, db->host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)db->port);
        *len = sizeof(*in6);
        return true;
    }
    return false;
}

static struct probe *probe_for(const char *name)
{
    for (int i = 0; i < nprobes; i++)
        if (strcmp(probes[i].name, name) == 0)
            return &probes[i];
    if (nprobes == MAX_PROBES)
        return NULL;
    struct probe *pr = &probes[nprobes++];
    memset(pr, 0, sizeof(*pr));
    pr->fd = -1;
    snprintf(pr->name, sizeof(pr->name), "%s", name);
    prom_label_escape(pr->name, pr->label, sizeof(pr->label));
    return pr;
}

static void probe_connect(struct probe *pr, const struct sockaddr *sa, socklen_t len)
{
    pr->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (pr->fd < 0) {
        probe_done(pr, false, strerror(errno));
        return;
    }
    if (connect(pr->fd, sa, len) != 0 && errno != EINPROGRESS) {
        int e = errno;
        close(pr->fd);
        probe_done(pr, false, strerror(e));
        return;
    }
    struct timeval tv = {0, PROBE_TIMEOUT_MS * 1000};
    event_assign(&pr->ev, loop_base(), pr->fd, EV_WRITE, on_probe, pr);
    event_add(&pr->ev, &tv);
    pr->pending = true;
}

/* A host name is looked up asynchronously on every probe (the lookup is what a failover moves). */
static void probe_resolved(int err, struct evutil_addrinfo *res, void *arg)
{
    if (err == EVUTIL_EAI_CANCEL)
        return;
    struct probe *pr = arg;
    pr->dns = NULL;
    if (err != 0 || res == NULL) {
        char why[160];
        snprintf(why, sizeof(why), "could not resolve the host name: %s", evutil_gai_strerror(err));
        probe_done(pr, false, why);
    } else {
        const struct evutil_addrinfo *a = loop_pick_address(res);
        probe_connect(pr, a->ai_addr, (socklen_t)a->ai_addrlen);
    }
    if (res != NULL)
        evutil_freeaddrinfo(res);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    for (size_t i = 0; i < rt.cfg.ndbs; i++) {
        const struct wp_database *db = &rt.cfg.dbs[i];
        struct probe *pr = probe_for(db->name);
        if (pr == NULL || pr->pending || pr->dns != NULL)
            continue;
        struct sockaddr_storage ss;
        socklen_t len;
        if (resolve(db, &ss, &len))
            probe_connect(pr, (struct sockaddr *)&ss, len);
        else if (db->host[0] == '/')
            probe_done(pr, false, "unix socket path too long");
        else
            loop_resolve(db->host, db->port, probe_resolved, pr, &pr->dns);
    }
}

void health_start(void)
{
    struct timeval tv = {PROBE_INTERVAL_S, 0};
    event_assign(&tick, loop_base(), -1, EV_PERSIST, on_tick, NULL);
    event_add(&tick, &tv);
    running = true;
    on_tick(-1, 0, NULL); /* know at once, not 2 s after start */
}

void health_stop(void)
{
    if (running)
        event_del(&tick);
    running = false;
    for (int i = 0; i < nprobes; i++) {
        if (probes[i].pending) {
            event_del(&probes[i].ev);
            close(probes[i].fd);
            probes[i].pending = false;
        }
        if (probes[i].dns != NULL)
            evdns_getaddrinfo_cancel(probes[i].dns);
        probes[i].dns = NULL;
    }
    nprobes = 0;
}

bool health_any_up(char *why, size_t n)
{
    bool any_known = false;
    for (int i = 0; i < nprobes; i++) {
        if (!probes[i].known || config_find_db(&rt.cfg, probes[i].name) == NULL)
            continue;
        any_known = true;
        if (probes[i].up)
            return true;
        snprintf(why, n, "database %s: %s", probes[i].name, probes[i].why);
    }
    if (!any_known)
        snprintf(why, n, "no backend probed yet");
    return false;
}

void health_prometheus(struct pbuf *b)
{
    char line[256];
    int n = snprintf(line, sizeof(line), "# HELP wedpool_backend_up 1 if the backend accepted a TCP connection at the "
                                         "last health check (every %d s).\n# TYPE wedpool_backend_up gauge\n",
                     PROBE_INTERVAL_S);
    pbuf_put(b, line, (size_t)n);
    for (int i = 0; i < nprobes; i++) {
        if (!probes[i].known)
            continue;
        n = snprintf(line, sizeof(line), "wedpool_backend_up{database=\"%s\"} %d\n", probes[i].label, probes[i].up);
        pbuf_put(b, line, (size_t)n);
    }
}
