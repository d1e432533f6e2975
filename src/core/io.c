/* io.c — sockets, the raw transport and the receive-buffer free list. */
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"

static struct iobuf *free_bufs;
static size_t free_count;
#define IOBUF_KEEP 1024 /* free buffers kept for reuse; more go back to malloc */

struct iobuf *iobuf_get(void)
{
    struct iobuf *b = free_bufs;
    if (b != NULL) {
        free_bufs = b->next_free;
        free_count--;
    } else {
        b = malloc(sizeof(*b));
        if (b == NULL)
            return NULL;
    }
    b->next_free = NULL;
    b->done = b->parsed = b->len = 0;
    return b;
}

void iobuf_put(struct iobuf *b)
{
    if (free_count >= IOBUF_KEEP) {
        free(b);
        return;
    }
    b->next_free = free_bufs;
    free_bufs = b;
    free_count++;
}

size_t iobuf_pool_count(void)
{
    return free_count;
}

void iobuf_compact(struct iobuf *b)
{
    if (b->done == 0)
        return;
    uint32_t keep = b->len - b->done;
    if (keep > 0)
        memmove(b->data, b->data + b->done, keep);
    b->parsed -= b->done;
    b->len -= b->done;
    b->done = 0;
}

void iobuf_cut(struct iobuf *b, uint32_t off, uint32_t len)
{
    memmove(b->data + off, b->data + off + len, b->len - off - len);
    b->len -= len;
}

static ssize_t raw_recv(struct conn *c, void *buf, size_t len)
{
    return recv(c->fd, buf, len, 0);
}

static ssize_t raw_send(struct conn *c, const void *buf, size_t len)
{
    return send(c->fd, buf, len, MSG_NOSIGNAL);
}

static void raw_close(struct conn *c)
{
    close(c->fd);
}

const struct io_ops io_raw_ops = {raw_recv, raw_send, raw_close};

void set_nonblocking_nodelay(int fd, bool tcp, int keepalive_s)
{
    int fl = fcntl(fd, F_GETFL, 0);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    if (tcp) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
        if (keepalive_s > 0) {
            int intvl = 10, cnt = 3;
            unsigned int user_timeout_ms = (unsigned int)(keepalive_s + intvl * cnt) * 1000u;
            setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &keepalive_s, sizeof(keepalive_s));
            setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
            setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
            setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof(user_timeout_ms));
        }
    }
}

void conn_setup(struct conn *c, int fd, event_callback_fn on_read, event_callback_fn on_write, void *arg)
{
    c->fd = fd;
    c->ops = &io_raw_ops;
    c->buf = NULL;
    pbuf_init(&c->out);
    c->out_sent = 0;
    c->pkt_left = 0;
    c->pkt_drop = false;
    c->reading = c->writing = false;
    c->out_shrink = false;
    event_assign(&c->rev, loop_base(), fd, EV_READ | EV_PERSIST, on_read, arg);
    event_assign(&c->wev, loop_base(), fd, EV_WRITE, on_write, arg);
}

void conn_want_read(struct conn *c, bool on)
{
    if (on == c->reading)
        return;
    if (on)
        event_add(&c->rev, NULL);
    else
        event_del(&c->rev);
    c->reading = on;
}

void conn_want_write(struct conn *c, bool on)
{
    if (on == c->writing)
        return;
    if (on)
        event_add(&c->wev, NULL);
    else
        event_del(&c->wev);
    c->writing = on;
}

void conn_close(struct conn *c)
{
    if (c->fd < 0)
        return;
    conn_want_read(c, false);
    conn_want_write(c, false);
    c->ops->close(c);
    c->fd = -1;
    if (c->buf != NULL) {
        iobuf_put(c->buf);
        c->buf = NULL;
    }
    pbuf_free(&c->out);
}

bool conn_buf_space(struct conn *c)
{
    if (c->buf == NULL) {
        c->buf = iobuf_get();
        if (c->buf == NULL)
            return false;
    }
    struct iobuf *b = c->buf;
    if (b->len < IOBUF_SIZE)
        return true;
    iobuf_compact(b);
    return b->len < IOBUF_SIZE;
}

ssize_t conn_fill(struct conn *c)
{
    if (!conn_buf_space(c))
        return -1;
    struct iobuf *b = c->buf;
    ssize_t n = c->ops->recv(c, b->data + b->len, IOBUF_SIZE - b->len);
    if (n > 0) {
        b->len += (uint32_t)n;
        return n;
    }
    if (n == 0)
        return 0;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return -1;
    return -2;
}

void conn_buf_release_if_empty(struct conn *c)
{
    struct iobuf *b = c->buf;
    if (b != NULL && b->done == b->len) {
        iobuf_put(b);
        c->buf = NULL;
    }
}

bool conn_flush_out(struct conn *c, bool *fatal)
{
    *fatal = false;
    while (c->out_sent < c->out.len) {
        ssize_t n = c->ops->send(c, c->out.data + c->out_sent, c->out.len - c->out_sent);
        if (n > 0) {
            c->out_sent += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            conn_want_write(c, true);
            return false;
        }
        *fatal = true;
        return false;
    }
    if (c->out.cap > 65536 || c->out_shrink) {
        pbuf_free(&c->out);
    } else {
        pbuf_reset(&c->out);
    }
    c->out_sent = 0;
    return true;
}

bool conn_forward(struct conn *src, struct conn *dst, bool *fatal)
{
    *fatal = false;
    struct iobuf *b = src->buf;
    if (dst->out.len > 0 && !conn_flush_out(dst, fatal))
        return false;
    while (b->done < b->parsed) {
        ssize_t n = dst->ops->send(dst, b->data + b->done, b->parsed - b->done);
        if (n > 0) {
            b->done += (uint32_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            conn_want_write(dst, true);
            return false;
        }
        *fatal = true;
        return false;
    }
    return true;
}
