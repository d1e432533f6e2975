/* io.h — connection transport (raw now, TLS later behind the same vtable) and receive buffers. */
#ifndef WEDPOOL_IO_H
#define WEDPOOL_IO_H

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto.h"

#define IOBUF_SIZE 16384u

/* Received bytes: [0, done) forwarded or consumed, [done, parsed) checked and ready to forward,
 * [parsed, len) received but not yet looked at. Taken from a free list only while holding data,
 * so an idle connection holds no buffer. */
struct iobuf {
    struct iobuf *next_free;
    uint32_t done;
    uint32_t parsed;
    uint32_t len;
    uint8_t data[IOBUF_SIZE];
};

struct iobuf *iobuf_get(void);
void iobuf_put(struct iobuf *b);
/* Moves unconsumed bytes to the front so more can be received. */
void iobuf_compact(struct iobuf *b);
/* Drops len bytes at off (a message wedpool swallows), keeping the cursors consistent. */
void iobuf_cut(struct iobuf *b, uint32_t off, uint32_t len);
size_t iobuf_pool_count(void);

struct conn;
struct io_ops {
    ssize_t (*recv)(struct conn *c, void *buf, size_t len);
    ssize_t (*send)(struct conn *c, const void *buf, size_t len);
    void (*close)(struct conn *c);
};
extern const struct io_ops io_raw_ops;

/* One socket: its events, transport, receive buffer and self-built output. */
struct conn {
    int fd;
    const struct io_ops *ops;
    struct event rev;           /* EV_READ | EV_PERSIST, added while we want input */
    struct event wev;           /* EV_WRITE, added only while output is blocked */
    struct iobuf *buf;          /* input, NULL when empty */
    struct pbuf out;            /* messages wedpool built for this peer, sent before forwarded data */
    size_t out_sent;
    uint32_t pkt_left;          /* bytes of the current message still to pass through */
    bool pkt_drop;              /* ... and they are swallowed rather than forwarded */
    bool reading;               /* rev is added */
    bool writing;               /* wev is added */
    bool out_shrink;            /* free `out` once sent (clients: wedpool builds their output only
                                 * at login and on errors, so an idle client holds no buffer) */
};

void conn_setup(struct conn *c, int fd, event_callback_fn on_read, event_callback_fn on_write, void *arg);
void conn_close(struct conn *c);
void conn_want_read(struct conn *c, bool on);
void conn_want_write(struct conn *c, bool on);
/* Ensures c->buf exists with free space; false when it is full of unconsumed data. */
bool conn_buf_space(struct conn *c);
/* recv into c->buf; returns bytes, 0 on EOF, -1 on EAGAIN, -2 on error (errno set). */
ssize_t conn_fill(struct conn *c);
/* Gives the buffer back when everything in it has been consumed. */
void conn_buf_release_if_empty(struct conn *c);
/* Sends pending c->out; true when all of it is gone (arms wev otherwise). false + *fatal on error. */
bool conn_flush_out(struct conn *c, bool *fatal);
/* Sends [src->done, src->parsed) of src's buffer to dst; true if all sent. */
bool conn_forward(struct conn *src, struct conn *dst, bool *fatal);

/* Non-blocking; for TCP also TCP_NODELAY and keepalive probes after keepalive_s idle seconds
 * (every 10 s, 3 tries) with a matching TCP_USER_TIMEOUT, so a peer that vanished without a FIN
 * is noticed in about keepalive_s + 30 s. keepalive_s = 0 leaves the kernel defaults. */
void set_nonblocking_nodelay(int fd, bool tcp, int keepalive_s);

#endif
