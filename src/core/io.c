/* io.c — sockets, the raw transport, the transport-independent send/receive paths and the
 * receive-buffer free list. */
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
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

static char last_error[256];

const char *io_last_error(void)
{
    return last_error[0] != '\0' ? last_error : "unknown error";
}

void io_set_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof(last_error), fmt, ap);
    va_end(ap);
}

/* The raw transport is one syscall per operation, as before the vtable judged results. */
static enum io_result raw_errno(int e, enum io_result again)
{
    if (e == EAGAIN || e == EWOULDBLOCK || e == EINTR)
        return again;
    io_set_error("%s", strerror(e));
    return IO_ERROR;
}

static enum io_result raw_recv(struct conn *c, void *buf, size_t len, size_t *got)
{
    ssize_t n = recv(c->fd, buf, len, 0);
    if (n > 0) {
        *got = (size_t)n;
        return IO_OK;
    }
    *got = 0;
    return n == 0 ? IO_EOF : raw_errno(errno, IO_WANT_READ);
}

static enum io_result raw_send(struct conn *c, const void *buf, size_t len, size_t *sent)
{
    ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
    if (n >= 0) {
        *sent = (size_t)n;
        return IO_OK;
    }
    *sent = 0;
    return raw_errno(errno, IO_WANT_WRITE);
}

static enum io_result raw_step(struct conn *c)
{
    return IO_OK; /* nothing to negotiate or to close politely */
}

static size_t raw_pending(const struct conn *c)
{
    return 0;
}

static void raw_close(struct conn *c)
{
    close(c->fd);
}

const struct io_ops io_raw_ops = {raw_recv, raw_send, raw_step, raw_step, raw_pending, raw_close};

void conn_set_transport(struct conn *c, const struct io_ops *ops, struct ssl_st *ssl)
{
    c->ops = ops;
    c->ssl = ssl;
}

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
    c->ssl = NULL;
    c->buf = NULL;
    pbuf_init(&c->out);
    c->out_sent = 0;
    c->pkt_left = 0;
    c->pkt_drop = false;
    c->reading = c->writing = false;
    c->out_shrink = false;
    c->more_pending = false;
    event_assign(&c->rev, loop_base(), fd, EV_READ | EV_PERSIST, on_read, arg);
    event_assign(&c->wev, loop_base(), fd, EV_WRITE, on_write, arg);
}

void conn_want_read(struct conn *c, bool on)
{
    if (on && c->more_pending) {
        /* decrypted input waits inside the transport: the socket will not say so */
        c->more_pending = false;
        if (!c->reading) {
            event_add(&c->rev, NULL);
            c->reading = true;
        }
        event_active(&c->rev, EV_READ, 0);
        return;
    }
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
    c->ssl = NULL;
    c->ops = &io_raw_ops;
    c->more_pending = false;
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

enum io_result conn_fill(struct conn *c, size_t *got)
{
    *got = 0;
    if (!conn_buf_space(c))
        return IO_OK; /* full: the caller consumes first (or it is out of memory, and stays full) */
    struct iobuf *b = c->buf;
    size_t n;
    enum io_result r = c->ops->recv(c, b->data + b->len, IOBUF_SIZE - b->len, &n);
    if (r != IO_OK)
        return r;
    b->len += (uint32_t)n;
    *got = n;
    /* TLS: a record may hold more than fit; take what fits now, and remember the rest. */
    while (c->ssl != NULL && c->ops->pending(c) > 0) {
        if (b->len == IOBUF_SIZE) {
            c->more_pending = true;
            break;
        }
        if (c->ops->recv(c, b->data + b->len, IOBUF_SIZE - b->len, &n) != IO_OK)
            break; /* an error shows again at the next read */
        b->len += (uint32_t)n;
        *got += n;
    }
    return IO_OK;
}

void conn_buf_release_if_empty(struct conn *c)
{
    struct iobuf *b = c->buf;
    if (b != NULL && b->done == b->len) {
        iobuf_put(b);
        c->buf = NULL;
    }
}

/* Sends until done or blocked: true when all len bytes went; false + *fatal on error. */
static bool conn_send_all(struct conn *c, const uint8_t *data, size_t len, size_t *sent, bool *fatal)
{
    while (*sent < len) {
        size_t n;
        enum io_result r = c->ops->send(c, data + *sent, len - *sent, &n);
        if (r == IO_OK) {
            *sent += n;
            continue;
        }
        if (r == IO_WANT_WRITE || r == IO_WANT_READ) {
            /* (TLS asking to read before it can write only happens on renegotiation, which
             * wedpool does not allow: waiting for writability is right in practice.) */
            conn_want_write(c, true);
            return false;
        }
        *fatal = true;
        return false;
    }
    return true;
}

bool conn_flush_out(struct conn *c, bool *fatal)
{
    *fatal = false;
    size_t sent = c->out_sent;
    bool all = conn_send_all(c, c->out.data, c->out.len, &sent, fatal);
    c->out_sent = (uint32_t)sent;
    if (!all)
        return false;
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
    if (b->done == b->parsed)
        return true;
    if (dst->ssl != NULL) {
        /* A TLS write that blocks must be retried with the same bytes; src's buffer moves on
         * (compaction, the next message), so the bytes become dst's own output first. */
        pbuf_put(&dst->out, b->data + b->done, b->parsed - b->done);
        if (dst->out.failed) {
            io_set_error("out of memory");
            *fatal = true;
            return false;
        }
        b->done = b->parsed;
        return conn_flush_out(dst, fatal);
    }
    size_t done = b->done;
    bool all = conn_send_all(dst, b->data, b->parsed, &done, fatal);
    b->done = (uint32_t)done;
    return all;
}
