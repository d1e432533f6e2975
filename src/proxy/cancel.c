/* cancel.c — CancelRequest: wedpool's own keys mapped to the server a client is using. */
#include "cancel.h"
#include "client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "objects.h"
#include "proto.h"

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

/* One outgoing CancelRequest to a server: connect, send 16 bytes, close. */
struct cancel_req {
    struct dlist node;          /* pending_reqs */
    int fd;
    struct event ev;
    uint8_t pkt[16];
    uint64_t start_us;
};

static struct dlist pending_reqs = {&pending_reqs, &pending_reqs};

static void cancel_req_done(struct cancel_req *r)
{
    dlist_remove(&r->node);
    event_del(&r->ev);
    close(r->fd);
    free(r);
}

static void cancel_req_cb(evutil_socket_t fd, short what, void *arg)
{
    struct cancel_req *r = arg;
    int err = 0;
    socklen_t len = sizeof(err);
    if (what & EV_TIMEOUT) {
        log_warn("cancel request: server did not accept the connection in time");
        cancel_req_done(r);
        return;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
        log_warn("cancel request: could not connect to server: %s", strerror(err ? err : errno));
        cancel_req_done(r);
        return;
    }
    if (send(fd, r->pkt, sizeof(r->pkt), MSG_NOSIGNAL) != (ssize_t)sizeof(r->pkt))
        log_warn("cancel request: send failed: %s", strerror(errno));
    cancel_req_done(r);
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
    const struct pool *p = s->pool;
    struct cancel_req *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return;
    r->fd = socket(p->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (r->fd < 0) {
        log_warn("cancel request: socket: %s", strerror(errno));
        free(r);
        return;
    }
    struct pbuf b;
    pbuf_init(&b);
    pbuf_put_u32(&b, 16);
    pbuf_put_u32(&b, PROTO_CANCEL_REQUEST);
    pbuf_put_u32(&b, s->be_pid);
    pbuf_put_u32(&b, s->be_key);
    if (b.failed) {
        pbuf_free(&b);
        close(r->fd);
        free(r);
        return;
    }
    memcpy(r->pkt, b.data, 16);
    pbuf_free(&b);
    if (connect(r->fd, (struct sockaddr *)&p->addr, p->addrlen) != 0 && errno != EINPROGRESS) {
        log_warn("cancel request: connect: %s", strerror(errno));
        close(r->fd);
        free(r);
        return;
    }
    struct timeval tv = {5, 0};
    event_assign(&r->ev, loop_base(), r->fd, EV_WRITE, cancel_req_cb, r);
    event_add(&r->ev, &tv);
    dlist_push_back(&pending_reqs, &r->node);
}

void cancel_shutdown(void)
{
    /* Requests still connecting when the loop stops: try once more to send, then let go. */
    while (!dlist_empty(&pending_reqs)) {
        struct cancel_req *r = container_of(dlist_first(&pending_reqs), struct cancel_req, node);
        if (send(r->fd, r->pkt, sizeof(r->pkt), MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)sizeof(r->pkt))
            log_debug("cancel request not delivered at shutdown");
        cancel_req_done(r);
    }
    free(slots);
    slots = NULL;
    nslots = nused = ndeleted = 0;
}
