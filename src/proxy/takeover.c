/* takeover.c — restarting wedpool without refusing a connection. The running process listens on a
 * unix socket (mode 0600, peers checked with SO_PEERCRED); `wedpool --takeover` connects, receives
 * every listening socket (clients, HTTP, this one) with SCM_RIGHTS, starts, and says GO. Until GO
 * both processes hold the sockets, so the kernel's backlog never closes: a connection attempt is
 * accepted by one or the other, never refused. After GO the old process accepts nothing, lets
 * transactions finish, closes clients between transactions (apps reconnect, to the new process)
 * and exits within shutdown_timeout_ms, removing no file the new process now owns. */
#include "takeover.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"
#include "http.h"
#include "listener.h"
#include "log.h"
#include "loop.h"
#include "pool.h"
#include "runtime.h"
#include "server.h"

#define TK_MAGIC_ASK 0x57505431u   /* "WPT1": the new process asks for the sockets */
#define TK_MAGIC_OFFER 0x57505432u /* the running one sends them */
#define TK_MAGIC_GO 0x57505433u    /* the new process accepts on them: the old one stops */
#define TK_VERSION 1u
#define TK_MAX_SOCKETS 10          /* 8 client listeners, HTTP, the takeover socket */
#define TK_IO_TIMEOUT_S 5          /* the new process waits this long for each answer */
#define TK_START_TIMEOUT_S 60      /* the new process has this long between asking and GO */
/* Draining: an idle client (no request for this long) is closed; a client that just logged in or
 * just got its answer is given this long to send its next request, which then completes. */
#define TK_IDLE_CLOSE_US 1000000u

#define SUN_PATH_MAX sizeof(((struct sockaddr_un *)0)->sun_path)

enum tk_kind { TK_CLIENT = 1, TK_HTTP = 2, TK_SOCKET = 3 };

/* Both ends are the same program on the same machine: host byte order, fixed sizes. */
struct tk_ask {
    uint32_t magic, version;
};
struct tk_item {
    uint32_t kind;              /* enum tk_kind */
    char path[SUN_PATH_MAX];    /* unix socket path, "" for TCP */
};
struct tk_offer {
    uint32_t magic, version, pid, n;
    struct tk_item items[TK_MAX_SOCKETS];
};

static int tk_fd = -1;            /* our takeover socket */
static char tk_path[SUN_PATH_MAX];
static struct event tk_ev;
/* The old side of a takeover in progress. */
static int peer_fd = -1;
static struct event peer_ev;
static pid_t peer_pid;
static uint8_t peer_buf[sizeof(struct tk_ask)];
static size_t peer_have;
static bool offered;
/* The new side: the connection to the old process until takeover_commit. */
static int go_fd = -1;
static pid_t old_pid;

int takeover_path(const struct wp_config *cfg, char *out, size_t n, char *err, size_t errlen)
{
    int len;
    if (strcmp(cfg->takeover_socket, "off") == 0)
        return 0;
    if (cfg->takeover_socket[0] != '\0')
        len = snprintf(out, n, "%s", cfg->takeover_socket);
    else if (cfg->pidfile[0] != '\0')
        len = snprintf(out, n, "%s.takeover", cfg->pidfile);
    else if (cfg->unix_socket_dir[0] != '\0')
        len = snprintf(out, n, "%s/.s.WEDPOOL.%d", cfg->unix_socket_dir, cfg->listen_port);
    else
        return 0;
    if (len < 0 || (size_t)len >= n || (size_t)len >= SUN_PATH_MAX) {
        snprintf(err, errlen, "takeover_socket \"%.200s...\": path too long for a unix socket (%zu bytes at most)", out,
                 SUN_PATH_MAX - 1);
        return -1;
    }
    return 1;
}

static bool sun_for(const char *path, struct sockaddr_un *un)
{
    memset(un, 0, sizeof(*un));
    un->sun_family = AF_UNIX;
    return strlcpy_ok(un->sun_path, path, sizeof(un->sun_path));
}

/* Only our own user (or root) may take over, or be taken over from. */
static bool peer_trusted(int fd, pid_t *pid, char *why, size_t n)
{
    struct ucred cr;
    socklen_t len = sizeof(cr);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0) {
        snprintf(why, n, "SO_PEERCRED: %s", strerror(errno));
        return false;
    }
    *pid = cr.pid;
    if (cr.uid != geteuid() && cr.uid != 0) {
        snprintf(why, n, "pid %d runs as uid %u, neither wedpool's uid %u nor root", (int)cr.pid, (unsigned)cr.uid,
                 (unsigned)geteuid());
        return false;
    }
    return true;
}

/* ---- the running (old) process ---------------------------------------------------------------- */

static void peer_end(const char *why)
{
    log_warn("takeover by pid %d abandoned: %s; pid %d goes on serving", (int)peer_pid, why, (int)getpid());
    event_del(&peer_ev);
    close(peer_fd);
    peer_fd = -1;
}

static bool send_offer(int fd)
{
    struct tk_offer o;
    int fds[TK_MAX_SOCKETS];
    memset(&o, 0, sizeof(o));
    o.magic = TK_MAGIC_OFFER;
    o.version = TK_VERSION;
    o.pid = (uint32_t)getpid();
    const char *paths[TK_MAX_SOCKETS - 2];
    int lfds[TK_MAX_SOCKETS - 2];
    int nl = listener_sockets(lfds, paths, TK_MAX_SOCKETS - 2);
    for (int i = 0; i < nl; i++) {
        o.items[o.n].kind = TK_CLIENT;
        strlcpy_ok(o.items[o.n].path, paths[i], SUN_PATH_MAX);
        fds[o.n++] = lfds[i];
    }
    if (http_listen_fd() >= 0) {
        o.items[o.n].kind = TK_HTTP;
        fds[o.n++] = http_listen_fd();
    }
    o.items[o.n].kind = TK_SOCKET;
    strlcpy_ok(o.items[o.n].path, tk_path, SUN_PATH_MAX);
    fds[o.n++] = tk_fd;

    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int) * TK_MAX_SOCKETS)];
    } ctl;
    memset(&ctl, 0, sizeof(ctl));
    struct iovec iov = {&o, sizeof(o)};
    struct msghdr mh = {0};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctl.buf;
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * o.n);
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * o.n);
    memcpy(CMSG_DATA(cm), fds, sizeof(int) * o.n);
    /* Into an empty socket buffer: all of it or an error. */
    if (sendmsg(fd, &mh, MSG_NOSIGNAL) != (ssize_t)sizeof(o))
        return false;
    log_info("takeover: sent pid %d our %u listening socket(s); accepting until it has started", (int)peer_pid,
             (unsigned)o.n);
    return true;
}

/* GO: the new process accepts. Ours stop here; the sockets live on in it. */
static void hand_over(void)
{
    event_del(&peer_ev);
    close(peer_fd);
    peer_fd = -1;
    listener_handover();
    http_stop_accepting();
    event_del(&tk_ev);
    close(tk_fd);
    tk_fd = -1;
    rt.handed_over = true;
    rt.paused = false;
    rt.shutdown_deadline_us = now_us() + (uint64_t)rt.cfg.shutdown_timeout_ms * 1000u;
    log_info("takeover: pid %d accepts on the listening sockets now; pid %d accepts no more, lets running "
             "transactions finish (shutdown_timeout_ms=%d), closes clients between transactions and exits",
             (int)peer_pid, (int)getpid(), rt.cfg.shutdown_timeout_ms);
    takeover_drain_tick(now_us());
}

static void on_peer(evutil_socket_t fd, short what, void *arg)
{
    if (what & EV_TIMEOUT) {
        peer_end("it did not finish starting in time (its log says why)");
        return;
    }
    size_t want = offered ? sizeof(uint32_t) : sizeof(struct tk_ask);
    ssize_t r = recv(fd, peer_buf + peer_have, want - peer_have, 0);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (r <= 0) {
        peer_end(r == 0 ? (offered ? "it exited before accepting on the sockets (its log says why)"
                                   : "it closed the connection")
                        : strerror(errno));
        return;
    }
    peer_have += (size_t)r;
    if (peer_have < want)
        return;
    peer_have = 0;
    if (!offered) {
        struct tk_ask ask;
        memcpy(&ask, peer_buf, sizeof(ask));
        if (ask.magic != TK_MAGIC_ASK || ask.version != TK_VERSION) {
            peer_end("it speaks another takeover protocol (a different wedpool version?)");
            return;
        }
        if (!send_offer(fd)) {
            peer_end(errno != 0 ? strerror(errno) : "could not send the sockets");
            return;
        }
        offered = true;
        return;
    }
    uint32_t go;
    memcpy(&go, peer_buf, sizeof(go));
    if (go != TK_MAGIC_GO) {
        peer_end("unexpected message instead of GO");
        return;
    }
    hand_over();
}

static void on_takeover_accept(evutil_socket_t lfd, short what, void *arg)
{
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    pid_t pid = 0;
    char why[160];
    if (!peer_trusted(fd, &pid, why, sizeof(why))) {
        log_warn("takeover: refused a connection on %s: %s", tk_path, why);
        close(fd);
        return;
    }
    if (peer_fd >= 0 || rt.shutting_down) {
        log_warn("takeover: refused pid %d: %s", (int)pid,
                 peer_fd >= 0 ? "another takeover is in progress" : "wedpool is shutting down");
        close(fd);
        return;
    }
    peer_fd = fd;
    peer_pid = pid;
    peer_have = 0;
    offered = false;
    log_info("takeover: pid %d asks for the listening sockets", (int)pid);
    struct timeval tv = {TK_START_TIMEOUT_S, 0};
    event_assign(&peer_ev, loop_base(), fd, EV_READ | EV_PERSIST, on_peer, NULL);
    event_add(&peer_ev, &tv);
}

bool takeover_listen(const struct wp_config *cfg, char *err, size_t errlen)
{
    if (tk_fd < 0) {
        int r = takeover_path(cfg, tk_path, sizeof(tk_path), err, errlen);
        if (r <= 0) {
            if (r == 0)
                log_info("takeover: off (set takeover_socket, pidfile or unix_socket_dir to allow one)");
            return r == 0;
        }
        struct sockaddr_un un;
        sun_for(tk_path, &un);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            snprintf(err, errlen, "takeover socket: %s", strerror(errno));
            return false;
        }
        /* A socket file left by a crashed run is removed; a live one means another wedpool. */
        if (connect(fd, (struct sockaddr *)&un, sizeof(un)) == 0) {
            close(fd);
            snprintf(err, errlen,
                     "takeover_socket %s is in use by a running wedpool; to replace it, start this one with "
                     "--takeover", tk_path);
            return false;
        }
        close(fd);
        unlink(tk_path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        mode_t old_mask = umask(0177); /* created 0600: nobody else may even connect */
        bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&un, sizeof(un)) == 0 && listen(fd, 4) == 0;
        umask(old_mask);
        if (!ok) {
            snprintf(err, errlen, "cannot listen on takeover_socket %s: %s", tk_path, strerror(errno));
            if (fd >= 0)
                close(fd);
            return false;
        }
        tk_fd = fd;
        log_info("takeover socket %s (`wedpool --takeover -c %s` replaces this process without refusing a "
                 "connection)", tk_path, cfg->path);
    }
    event_assign(&tk_ev, loop_base(), tk_fd, EV_READ | EV_PERSIST, on_takeover_accept, NULL);
    event_add(&tk_ev, NULL);
    return true;
}

void takeover_stop(void)
{
    if (peer_fd >= 0) {
        event_del(&peer_ev);
        close(peer_fd);
        peer_fd = -1;
    }
    if (go_fd >= 0) {
        close(go_fd);
        go_fd = -1;
    }
    if (tk_fd >= 0) {
        event_del(&tk_ev);
        close(tk_fd);
        tk_fd = -1;
        if (!rt.handed_over)
            unlink(tk_path);
    }
}

/* A client between transactions with nothing buffered, quiet for TK_IDLE_CLOSE_US (since its last
 * request, or its login). One holding its server between transactions (session mode, or pinned by
 * session state) counts when that server is at an idle boundary. */
static bool idle_long_enough(const struct client *c, uint64_t now)
{
    if (c->conn.buf != NULL && c->conn.buf->len > c->conn.buf->done)
        return false;
    uint64_t last = c->wait_start_us > c->connect_us ? c->wait_start_us : c->connect_us;
    if (c->server != NULL) {
        if (!server_idle_boundary(c->server) || c->conn.pkt_left != 0)
            return false;
        if (c->server->query_start_us > last)
            last = c->server->query_start_us;
    }
    return elapsed_us(now, last) >= TK_IDLE_CLOSE_US;
}

static void drain_close(struct client *c)
{
    client_fail(c, "57P01", "wedpool: terminating connection because this wedpool process was replaced (takeover); "
                "reconnect");
}

void takeover_drain_tick(uint64_t now)
{
    bool late = now >= rt.shutdown_deadline_us;
    int left = clients_login_count();
    struct dlist *pos, *q, *qt;
    for (pos = pool_all()->next; pos != pool_all(); pos = pos->next) {
        struct pool *p = container_of(pos, struct pool, node);
        dlist_for_each_safe(q, qt, &p->idle_clients)
        {
            struct client *c = container_of(q, struct client, node);
            c->terminate_after_txn = true;
            if (late || idle_long_enough(c, now))
                drain_close(c);
            else
                left++;
        }
        struct dlist *waiting[MAX_LANES + 1];
        int nw = pool_waiting_lists(p, waiting);
        for (int i = 0; i < nw; i++)
            dlist_for_each_safe(q, qt, waiting[i]) container_of(q, struct client, node)->terminate_after_txn = true;
        dlist_for_each_safe(q, qt, &p->active_clients)
        {
            struct client *c = container_of(q, struct client, node);
            c->terminate_after_txn = true;
            if (idle_long_enough(c, now))
                drain_close(c);
        }
        left += p->n_waiting + p->n_cl_active;
    }
    if (left == 0) {
        log_info("takeover: every client of pid %d is gone; exiting", (int)getpid());
        runtime_stop_now();
    } else if (late) {
        log_warn("takeover: shutdown_timeout_ms=%d reached with %d client(s) still in a transaction or logging in; "
                 "closing them", rt.cfg.shutdown_timeout_ms, left);
        runtime_stop_now();
    }
}

/* ---- the new process ------------------------------------------------------------------------ */

static void close_all(const int *fds, int n)
{
    for (int i = 0; i < n; i++)
        close(fds[i]);
}

/* Receives the offer and its descriptors; *nfds of them. */
static bool recv_offer(int fd, struct tk_offer *o, int *fds, int *nfds, char *err, size_t errlen)
{
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int) * TK_MAX_SOCKETS)];
    } ctl;
    memset(&ctl, 0, sizeof(ctl));
    struct iovec iov = {o, sizeof(*o)};
    struct msghdr mh = {0};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctl.buf;
    mh.msg_controllen = sizeof(ctl.buf);
    ssize_t r = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
    *nfds = 0;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); r > 0 && cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        int n = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int i = 0; i < n && *nfds < TK_MAX_SOCKETS; i++)
            memcpy(&fds[(*nfds)++], CMSG_DATA(cm) + sizeof(int) * (size_t)i, sizeof(int));
    }
    if (r <= 0) {
        snprintf(err, errlen, "no answer from the running wedpool: %s", r == 0 ? "it closed the connection" : strerror(errno));
        return false;
    }
    size_t have = (size_t)r;
    while (have < sizeof(*o)) {
        r = recv(fd, (char *)o + have, sizeof(*o) - have, 0);
        if (r <= 0) {
            snprintf(err, errlen, "short answer from the running wedpool: %s", r == 0 ? "connection closed" : strerror(errno));
            return false;
        }
        have += (size_t)r;
    }
    if (o->magic != TK_MAGIC_OFFER || o->version != TK_VERSION) {
        snprintf(err, errlen, "the running wedpool speaks another takeover protocol (a different version?)");
        return false;
    }
    if ((mh.msg_flags & MSG_CTRUNC) != 0 || o->n == 0 || o->n > TK_MAX_SOCKETS || (uint32_t)*nfds != o->n) {
        snprintf(err, errlen, "the running wedpool sent %d descriptor(s) for %u socket(s)", *nfds, (unsigned)o->n);
        return false;
    }
    return true;
}

/* Accepts on what was received; the config decides what is served (a TCP port that changed is
 * kept: a listening socket cannot move without a full restart). */
static bool adopt(const struct wp_config *cfg, struct tk_offer *o, const int *fds, char *err, size_t errlen)
{
    char mine[SUN_PATH_MAX] = "";
    char ignored[64];
    takeover_path(cfg, mine, sizeof(mine), ignored, sizeof(ignored));
    int clients = 0;
    for (uint32_t i = 0; i < o->n; i++) {
        struct tk_item *it = &o->items[i];
        it->path[SUN_PATH_MAX - 1] = '\0';
        int fd = fds[i];
        switch (it->kind) {
        case TK_CLIENT: {
            struct sockaddr_storage ss;
            socklen_t len = sizeof(ss);
            if (it->path[0] == '\0' && getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
                (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)) {
                int port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                                         : ((struct sockaddr_in6 *)&ss)->sin6_port);
                if (port != cfg->listen_port)
                    log_warn("takeover: listen_port is %d in the config but the running sockets listen on %d: kept "
                             "them (a full restart moves the port)", cfg->listen_port, port);
            }
            if (!listener_adopt(fd, it->path)) {
                snprintf(err, errlen, "too many listening sockets received");
                return false;
            }
            clients++;
            log_info("takeover: accepting on %s%s", it->path[0] != '\0' ? "unix socket " : "the TCP socket of ",
                     it->path[0] != '\0' ? it->path : cfg->listen_addr);
            break;
        }
        case TK_HTTP:
            if (cfg->http_listen[0] == '\0') {
                log_warn("takeover: http_listen is off in the config: the HTTP socket taken over is closed");
                close(fd);
            } else if (!http_adopt(fd, cfg->http_listen)) {
                snprintf(err, errlen, "cannot serve HTTP on the socket taken over");
                return false;
            }
            break;
        case TK_SOCKET:
            if (strcmp(it->path, mine) == 0) {
                tk_fd = fd;
                strlcpy_ok(tk_path, mine, sizeof(tk_path));
            } else {
                close(fd); /* takeover_socket moved: takeover_listen makes ours */
            }
            break;
        default:
            close(fd);
            break;
        }
    }
    if (clients == 0) {
        snprintf(err, errlen, "the running wedpool sent no client listening socket");
        return false;
    }
    return true;
}

bool takeover_receive(const struct wp_config *cfg, char *err, size_t errlen)
{
    char path[SUN_PATH_MAX];
    int r = takeover_path(cfg, path, sizeof(path), err, errlen);
    if (r <= 0) {
        if (r == 0)
            snprintf(err, errlen, "takeover is off in %s (takeover_socket = off, or no pidfile / unix_socket_dir to "
                     "find the running wedpool by)", cfg->path);
        return false;
    }
    struct sockaddr_un un;
    sun_for(path, &un);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&un, sizeof(un)) != 0) {
        snprintf(err, errlen, "no running wedpool answers on takeover socket %s (%s): nothing to take over; start "
                 "wedpool without --takeover", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return false;
    }
    char why[160];
    if (!peer_trusted(fd, &old_pid, why, sizeof(why))) {
        snprintf(err, errlen, "takeover socket %s: %s", path, why);
        close(fd);
        return false;
    }
    struct timeval tv = {TK_IO_TIMEOUT_S, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct tk_ask ask = {TK_MAGIC_ASK, TK_VERSION};
    if (send(fd, &ask, sizeof(ask), MSG_NOSIGNAL) != (ssize_t)sizeof(ask)) {
        snprintf(err, errlen, "takeover socket %s: %s", path, strerror(errno));
        close(fd);
        return false;
    }
    struct tk_offer o;
    int fds[TK_MAX_SOCKETS];
    int nfds = 0;
    if (!recv_offer(fd, &o, fds, &nfds, err, errlen)) {
        close_all(fds, nfds);
        close(fd);
        return false;
    }
    if (!adopt(cfg, &o, fds, err, errlen)) {
        close(fd);
        return false; /* the process exits; the old one sees the connection close and goes on */
    }
    log_info("takeover: received %u listening socket(s) from pid %d", (unsigned)o.n, (int)o.pid);
    go_fd = fd;
    return true;
}

void takeover_commit(void)
{
    if (go_fd < 0)
        return;
    uint32_t go = TK_MAGIC_GO;
    if (send(go_fd, &go, sizeof(go), MSG_NOSIGNAL) != (ssize_t)sizeof(go))
        log_warn("takeover: could not tell pid %d to stop accepting (%s); both processes accept until it is stopped",
                 (int)old_pid, strerror(errno));
    else
        log_info("takeover: pid %d serves now; pid %d stops accepting and exits once its clients are done",
                 (int)getpid(), (int)old_pid);
    close(go_fd);
    go_fd = -1;
}
