/* listener.c — listening sockets (TCP and unix) and accepting clients. */
#include "listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"
#include "log.h"
#include "loop.h"
#include "pool.h"

#define MAX_LISTENERS 8
/* Out of descriptors, accepting again at once would spin: the listening socket stays readable while
 * accept fails. Stop watching the sockets for this long, as PgBouncer does. */
#define ACCEPT_PAUSE_US 1000000

struct listener {
    int fd;
    struct event ev;
    char unix_path[WP_PATH_MAX];
};

static struct listener listeners[MAX_LISTENERS];
static int nlisteners;
static struct event resume_ev;   /* timer ending an accept pause */
static bool accept_paused;
static uint64_t accept_pauses;   /* for wedpool_accept_pauses_total */

static void accept_resume(evutil_socket_t fd, short what, void *arg)
{
    accept_paused = false;
    for (int i = 0; i < nlisteners; i++)
        event_add(&listeners[i].ev, NULL);
}

/* accept failed for lack of a resource (descriptors, kernel memory): stop accepting for a while and
 * say so once for the pause. Waiting connections stay in the backlog. */
static void accept_pause(int err)
{
    if (accept_paused)
        return;
    accept_paused = true;
    accept_pauses++;
    for (int i = 0; i < nlisteners; i++)
        event_del(&listeners[i].ev);
    struct rlimit rl = {0};
    getrlimit(RLIMIT_NOFILE, &rl);
    log_error("accept: %s with %d clients connected (open-files limit %llu); not accepting new connections for "
              "%d ms (pause %llu; raise the open-files limit or lower max_client_conn)",
              strerror(err), clients_total(), (unsigned long long)rl.rlim_cur, ACCEPT_PAUSE_US / 1000,
              (unsigned long long)accept_pauses);
    struct timeval tv = {ACCEPT_PAUSE_US / 1000000, ACCEPT_PAUSE_US % 1000000};
    evtimer_assign(&resume_ev, loop_base(), accept_resume, NULL);
    evtimer_add(&resume_ev, &tv);
}

uint64_t listener_accept_pauses(void)
{
    return accept_pauses;
}

static void on_accept(evutil_socket_t fd, short what, void *arg)
{
    /* Drain a bounded batch so a connect storm cannot starve established clients. */
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int cfd = accept4(fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                accept_pause(errno);
            else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
                log_warn("accept: %s", strerror(errno));
            return;
        }
        client_accept(cfd, (struct sockaddr *)&ss, len);
    }
}

static bool add_listener(int fd, const char *unix_path)
{
    struct listener *l = &listeners[nlisteners++];
    l->fd = fd;
    strlcpy_ok(l->unix_path, unix_path ? unix_path : "", sizeof(l->unix_path));
    event_assign(&l->ev, loop_base(), fd, EV_READ | EV_PERSIST, on_accept, l);
    event_add(&l->ev, NULL);
    return true;
}

static bool listen_tcp(const char *addr, int port)
{
    struct addrinfo hints = {0}, *res = NULL, *ai;
    char portstr[16];
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    snprintf(portstr, sizeof(portstr), "%d", port);
    const char *host = (strcmp(addr, "*") == 0) ? NULL : addr;
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0) {
        log_error("listen_addr \"%s\": %s", addr, gai_strerror(rc));
        return false;
    }
    bool any = false;
    for (ai = res; ai != NULL && nlisteners < MAX_LISTENERS; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (ai->ai_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 4096) != 0) {
            log_error("cannot listen on %s:%d: %s", addr, port, strerror(errno));
            close(fd);
            freeaddrinfo(res);
            return false;
        }
        add_listener(fd, NULL);
        any = true;
    }
    freeaddrinfo(res);
    if (any)
        log_info("listening on %s:%d", addr, port);
    return any;
}

static bool listen_unix(const char *dir, int port)
{
    struct sockaddr_un un = {0};
    un.sun_family = AF_UNIX;
    int n = snprintf(un.sun_path, sizeof(un.sun_path), "%s/.s.PGSQL.%d", dir, port);
    if (n < 0 || (size_t)n >= sizeof(un.sun_path)) {
        log_error("unix_socket_dir \"%s\": path too long", dir);
        return false;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    /* A stale socket file from a crashed run: remove it only if nobody answers on it. */
    if (connect(fd, (struct sockaddr *)&un, sizeof(un)) == 0) {
        log_error("%s is in use by another process", un.sun_path);
        close(fd);
        return false;
    }
    close(fd);
    unlink(un.sun_path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&un, sizeof(un)) != 0 || listen(fd, 4096) != 0) {
        log_error("cannot listen on %s: %s", un.sun_path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return false;
    }
    chmod(un.sun_path, 0777);
    add_listener(fd, un.sun_path);
    log_info("listening on unix socket %s", un.sun_path);
    return true;
}

bool listener_start(const struct wp_config *cfg)
{
    if (cfg->listen_addr[0] != '\0' && !listen_tcp(cfg->listen_addr, cfg->listen_port))
        return false;
    if (cfg->unix_socket_dir[0] != '\0' && !listen_unix(cfg->unix_socket_dir, cfg->listen_port))
        return false;
    if (nlisteners == 0) {
        log_error("nothing to listen on: set listen_addr or unix_socket_dir");
        return false;
    }
    return true;
}

int listener_sockets(int *fds, const char **unix_paths, int max)
{
    int n = 0;
    for (int i = 0; i < nlisteners && n < max; i++, n++) {
        fds[n] = listeners[i].fd;
        unix_paths[n] = listeners[i].unix_path;
    }
    return n;
}

bool listener_adopt(int fd, const char *unix_path)
{
    if (nlisteners >= MAX_LISTENERS)
        return false;
    evutil_make_socket_nonblocking(fd);
    add_listener(fd, unix_path != NULL && unix_path[0] != '\0' ? unix_path : NULL);
    return true;
}

int listener_count(void)
{
    return nlisteners;
}

/* The sockets went to another process (takeover): stop accepting and close our descriptors only.
 * The sockets themselves live on in the new process, so no connection attempt is refused, and
 * the unix socket file is its now. */
void listener_handover(void)
{
    for (int i = 0; i < nlisteners; i++)
        listeners[i].unix_path[0] = '\0';
    listener_stop();
}

void listener_stop(void)
{
    if (accept_paused) {
        event_del(&resume_ev);
        accept_paused = false;
    }
    for (int i = 0; i < nlisteners; i++) {
        event_del(&listeners[i].ev);
        close(listeners[i].fd);
        if (listeners[i].unix_path[0] != '\0')
            unlink(listeners[i].unix_path);
    }
    nlisteners = 0;
}
