/* cancel.c — CancelRequest: wedpool's own keys mapped to the server a client is using. */
#include "cancel.h"

#include "backend.h"
#include "client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "objects.h"
#include "proto.h"
#include "server.h"
#include "tls.h"

/* Open-addressing map from client id to client; ids are unique while the client lives. */
static struct client **slots;
static size_t nslots, nused, ndeleted;
static struct client tombstone;

static size_t slot_of(uint32_t id)
{
    return (size_t)(id * 2654435761u) & (nslots - 1);
}

static void map_insert_raw(struct client *c)
{
    size_t i = slot_of(c->id);
    while (slots[i] != NULL && slots[i] != &tombstone)
        i = (i + 1) & (nslots - 1);
    if (slots[i] == &tombstone)
        ndeleted--;
    slots[i] = c;
    nused++;
}

static bool map_grow(void)
{
    size_t old_n = nslots;
    struct client **old = slots;
    size_t n = nslots ? nslots : 1024;
    while ((nused + 1) * 2 > n)
        n *= 2;
    struct client **fresh = calloc(n, sizeof(*fresh));
    if (fresh == NULL)
        return false;
    slots = fresh;
    nslots = n;
    nused = ndeleted = 0;
    for (size_t i = 0; i < old_n; i++)
        if (old[i] != NULL && old[i] != &tombstone)
            map_insert_raw(old[i]);
    free(old);
    return true;
}

void cancel_register(struct client *c)
{
    if ((nused + ndeleted + 1) * 2 > nslots && !map_grow())
        return; /* cancel will not find it; the client still works */
    map_insert_raw(c);
}

static size_t map_find(uint32_t id)
{
    if (nslots == 0)
        return SIZE_MAX;
    size_t i = slot_of(id);
    while (slots[i] != NULL) {
        if (slots[i] != &tombstone && slots[i]->id == id)
            return i;
        i = (i + 1) & (nslots - 1);
    }
    return SIZE_MAX;
}

void cancel_unregister(struct client *c)
{
    size_t i = map_find(c->id);
    if (i == SIZE_MAX || slots[i] != c)
        return;
    slots[i] = &tombstone;
    nused--;
    ndeleted++;
}

struct client *client_by_cancel_key(uint32_t pid, uint32_t key)
{
    size_t i = map_find(pid);
    if (i == SIZE_MAX || slots[i]->cancel_key != key)
        return NULL;
    return slots[i];
}

/* One outgoing CancelRequest to a server. Over plain TCP: connect, send the 16 bytes, close. When
 * the server connection being cancelled uses TLS, the cancel connection is made the same way
 * (a server that accepts only TLS, such as a managed service or a TLS-terminating front, drops a
 * plain one): SSLRequest, the one-byte answer 'S', the handshake with the same sslmode, the
 * CancelRequest through TLS, then the server's close is awaited (as libpq's PQcancel does). All of
 * it on the loop, never blocking; CANCEL_TIMEOUT_S bounds the whole exchange. */
#define CANCEL_TIMEOUT_S 5

enum cancel_step {
    CR_CONNECT,     /* connect() in progress: wait for writability */
    CR_SSLREQUEST,  /* (TLS) SSLRequest being sent */
    CR_ANSWER,      /* (TLS) waiting for the one-byte answer */
    CR_HANDSHAKE,   /* (TLS) handshake running */
    CR_SEND,        /* (TLS) CancelRequest being sent through TLS */
    CR_WAIT_CLOSE,  /* (TLS) sent: waiting for the server to close */
};

struct cancel_req {
    struct dlist node;          /* pending_reqs */
    struct conn conn;           /* raw, then TLS */
    struct event timer;         /* the whole exchange's deadline */
    uint8_t pkt[16];
    uint8_t step;               /* enum cancel_step */
    bool tls;                   /* the cancelled server connection uses TLS */
    uint8_t tls_mode;           /* its sslmode (verification as for the server connection) */
    uint32_t be_pid;
    char host[256];             /* the [databases] line's host, for SNI and verify-full */
};

static const char *const cancel_step_names[] = {"connecting", "sending SSLRequest", "waiting for the SSLRequest answer",
                                                "in the TLS handshake", "sending", "waiting for the server to close"};

static struct dlist pending_reqs = {&pending_reqs, &pending_reqs};

static void cancel_req_done(struct cancel_req *r)
{
    dlist_remove(&r->node);
    event_del(&r->timer);
    conn_close(&r->conn);
    free(r);
}

static void cancel_req_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct cancel_req *r = arg;
    log_warn("cancel request for server pid %u%s: no answer in %d s (%s)", r->be_pid, r->tls ? " (TLS)" : "",
             CANCEL_TIMEOUT_S, cancel_step_names[r->step]);
    cancel_req_done(r);
}

/* Sends r->conn.out; true when all of it is gone (wev is armed otherwise), false + done on error. */
static bool cancel_req_flush(struct cancel_req *r, bool *failed)
{
    bool fatal;
    *failed = false;
    if (conn_flush_out(&r->conn, &fatal))
        return true;
    if (fatal) {
        log_warn("cancel request for server pid %u: send failed (%s): %s", r->be_pid, cancel_step_names[r->step],
                 io_last_error());
        *failed = true;
    }
    return false;
}

/* Runs the exchange as far as it can go now; false when r is gone. */
static bool cancel_req_run(struct cancel_req *r)
{
    bool failed;
    for (;;) {
        switch ((enum cancel_step)r->step) {
        case CR_CONNECT: {
            int err = 0;
            socklen_t len = sizeof(err);
            if (getsockopt(r->conn.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
                log_warn("cancel request: could not connect to server: %s", strerror(err ? err : errno));
                cancel_req_done(r);
                return false;
            }
            if (!r->tls) {
                if (send(r->conn.fd, r->pkt, sizeof(r->pkt), MSG_NOSIGNAL) != (ssize_t)sizeof(r->pkt))
                    log_warn("cancel request: send failed: %s", strerror(errno));
                cancel_req_done(r);
                return false;
            }
            pbuf_put_u32(&r->conn.out, 8);
            pbuf_put_u32(&r->conn.out, PROTO_SSL_REQUEST);
            r->step = CR_SSLREQUEST;
            continue;
        }
        case CR_SSLREQUEST:
            if (!cancel_req_flush(r, &failed))
                goto wait_or_fail;
            r->step = CR_ANSWER;
            conn_want_read(&r->conn, true);
            continue;
        case CR_ANSWER: {
            uint8_t answer[2];
            size_t got = 0;
            enum io_result io = r->conn.ops->recv(&r->conn, answer, sizeof(answer), &got);
            if (io == IO_WANT_READ || io == IO_WANT_WRITE)
                return true;
            if (io != IO_OK || got != 1 || answer[0] != 'S') {
                /* 'N', or more than the one byte (nothing may precede the handshake), or a close */
                if (io == IO_OK && got == 1 && answer[0] == 'N')
                    log_warn("cancel request for server pid %u: the server refused TLS (answered 'N')", r->be_pid);
                else
                    log_warn("cancel request for server pid %u: bad answer to SSLRequest (%s)", r->be_pid,
                             io == IO_EOF ? "connection closed" : io == IO_ERROR ? io_last_error() : "unexpected bytes");
                cancel_req_done(r);
                return false;
            }
            char err[256];
            if (!tls_connect(&r->conn, r->host, r->tls_mode, err, sizeof(err))) {
                log_warn("cancel request for server pid %u: %s", r->be_pid, err);
                cancel_req_done(r);
                return false;
            }
            r->step = CR_HANDSHAKE;
            continue;
        }
        case CR_HANDSHAKE: {
            enum io_result io = r->conn.ops->handshake(&r->conn);
            if (io == IO_WANT_READ || io == IO_WANT_WRITE) {
                conn_want_write(&r->conn, io == IO_WANT_WRITE);
                conn_want_read(&r->conn, true);
                return true;
            }
            if (io != IO_OK) {
                log_warn("cancel request for server pid %u: TLS handshake failed: %s", r->be_pid,
                         io == IO_EOF ? "the server closed the connection" : io_last_error());
                cancel_req_done(r);
                return false;
            }
            conn_want_write(&r->conn, false);
            pbuf_put(&r->conn.out, r->pkt, sizeof(r->pkt));
            r->step = CR_SEND;
            continue;
        }
        case CR_SEND:
            if (!cancel_req_flush(r, &failed))
                goto wait_or_fail;
            r->step = CR_WAIT_CLOSE;
            conn_want_read(&r->conn, true);
            continue;
        case CR_WAIT_CLOSE: {
            uint8_t junk[64];
            size_t got = 0;
            enum io_result io = r->conn.ops->recv(&r->conn, junk, sizeof(junk), &got);
            if (io == IO_WANT_READ || io == IO_WANT_WRITE)
                return true;
            if (io == IO_OK)
                continue; /* PostgreSQL sends nothing; whatever came is ignored */
            log_debug("cancel request for server pid %u delivered over %s", r->be_pid, tls_version(&r->conn));
            cancel_req_done(r);
            return false;
        }
        }
    }
wait_or_fail:
    if (failed || r->conn.out.failed) {
        cancel_req_done(r);
        return false;
    }
    return true; /* wev armed by the flush */
}

static void cancel_req_cb(evutil_socket_t fd, short what, void *arg)
{
    struct cancel_req *r = arg;
    if (what & EV_WRITE)
        r->conn.writing = false; /* wev is not persistent */
    cancel_req_run(r);
}

void cancel_handle(uint32_t pid, uint32_t key)
{
    struct client *c = client_by_cancel_key(pid, key);
    if (c == NULL) {
        log_info("cancel request for unknown client key %u ignored", pid);
        return;
    }
    struct server *s = c->server;
    if (s == NULL || s->pool == NULL) {
        log_info("cancel request for client %u ignored: no query running on a server", c->id);
        return;
    }
    cancel_server(s);
    log_info("client %u: cancel request forwarded to server pid %u", c->id, s->be_pid);
}

void cancel_server(const struct server *s)
{
    const struct backend *be = s->be; /* the host this connection is on, not the pool's current one */
    struct cancel_req *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return;
    int fd = socket(be->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        log_warn("cancel request: socket: %s", strerror(errno));
        free(r);
        return;
    }
    conn_setup(&r->conn, fd, cancel_req_cb, cancel_req_cb, r);
    r->tls = server_is_tls(s);
    r->tls_mode = s->tls_mode;
    r->be_pid = s->be_pid;
    snprintf(r->host, sizeof(r->host), "%s", be->host);
    struct pbuf b;
    pbuf_init(&b);
    pbuf_put_u32(&b, 16);
    pbuf_put_u32(&b, PROTO_CANCEL_REQUEST);
    pbuf_put_u32(&b, s->be_pid);
    pbuf_put_u32(&b, s->be_key);
    if (b.failed) {
        pbuf_free(&b);
        conn_close(&r->conn);
        free(r);
        return;
    }
    memcpy(r->pkt, b.data, 16);
    pbuf_free(&b);
    if (connect(fd, (struct sockaddr *)&be->addr, be->addrlen) != 0 && errno != EINPROGRESS) {
        log_warn("cancel request: connect: %s", strerror(errno));
        conn_close(&r->conn);
        free(r);
        return;
    }
    struct timeval tv = {CANCEL_TIMEOUT_S, 0};
    evtimer_assign(&r->timer, loop_base(), cancel_req_timeout, r);
    evtimer_add(&r->timer, &tv);
    r->step = CR_CONNECT;
    conn_want_write(&r->conn, true);
    dlist_push_back(&pending_reqs, &r->node);
}

void cancel_shutdown(void)
{
    /* Requests still under way when the loop stops: a plain one still connecting tries once more to
     * send; a TLS one cannot finish without the loop and is let go. */
    while (!dlist_empty(&pending_reqs)) {
        struct cancel_req *r = container_of(dlist_first(&pending_reqs), struct cancel_req, node);
        if (r->tls || r->step != CR_CONNECT ||
            send(r->conn.fd, r->pkt, sizeof(r->pkt), MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)sizeof(r->pkt))
            log_debug("cancel request not delivered at shutdown");
        cancel_req_done(r);
    }
    free(slots);
    slots = NULL;
    nslots = nused = ndeleted = 0;
}
