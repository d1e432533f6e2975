/* io.h — connection transports (raw TCP/unix, TLS in tls.c) behind one vtable, and receive buffers. */
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

/* What a transport operation did. Only the transport looks at errno (or OpenSSL's error queue);
 * everything above it sees these five answers. */
enum io_result {
    IO_OK,          /* some bytes moved (count in the out-parameter), or the step finished */
    IO_WANT_READ,   /* nothing now: call again when the socket is readable */
    IO_WANT_WRITE,  /* nothing now: call again when the socket is writable */
    IO_EOF,         /* the peer closed the stream (cleanly, for TLS: close_notify or plain FIN) */
    IO_ERROR,       /* broken: io_last_error() says why */
};

struct conn;
struct io_ops {
    enum io_result (*recv)(struct conn *c, void *buf, size_t len, size_t *got);
    /* A send that answers IO_WANT_WRITE must be retried with the same bytes (they may have moved in
     * memory, and more may follow them): TLS has already encrypted a record of them. */
    enum io_result (*send)(struct conn *c, const void *buf, size_t len, size_t *sent);
    enum io_result (*handshake)(struct conn *c);
    enum io_result (*shutdown)(struct conn *c);
    /* Bytes already received and decrypted inside the transport: the socket will not become
     * readable for them, so they must be read without waiting for an event. */
    size_t (*pending)(const struct conn *c);
    void (*close)(struct conn *c);
};
extern const struct io_ops io_raw_ops;

/* Why the last IO_ERROR happened (strerror or OpenSSL's reason); valid until the next I/O call. */
const char *io_last_error(void);
/* Records an error text for io_last_error (transports use it). */
void io_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

struct ssl_st;

/* One socket: its events, transport, receive buffer and self-built output. Laid out so that the
 * TLS pointer costs no size: a client stays in its malloc size class. */
struct conn {
    int fd;
    uint32_t pkt_left;          /* bytes of the current message still to pass through */
    const struct io_ops *ops;   /* io_raw_ops, or tls.c's once a TLS session is set up */
    struct ssl_st *ssl;         /* the TLS session (tls.c), NULL for raw */
    struct event rev;           /* EV_READ | EV_PERSIST, added while we want input */
    struct event wev;           /* EV_WRITE, added only while output is blocked */
    struct iobuf *buf;          /* input, NULL when empty */
    struct pbuf out;            /* messages wedpool built for this peer, sent before forwarded data;
                                 * on TLS, forwarded data goes through it too (see conn_forward) */
    uint32_t out_sent;
    bool pkt_drop : 1;          /* ... and they are swallowed rather than forwarded */
    bool reading : 1;           /* rev is added */
    bool writing : 1;           /* wev is added */
    bool out_shrink : 1;        /* free `out` once sent (clients: wedpool builds their output only
                                 * at login and on errors, so an idle client holds no buffer) */
    bool more_pending : 1;      /* the transport holds decrypted input that did not fit in buf:
                                 * conn_want_read re-fires the read event for it */
};

void conn_setup(struct conn *c, int fd, event_callback_fn on_read, event_callback_fn on_write, void *arg);
void conn_close(struct conn *c);
void conn_want_read(struct conn *c, bool on);
void conn_want_write(struct conn *c, bool on);
/* Ensures c->buf exists with free space; false when it is full of unconsumed data. */
bool conn_buf_space(struct conn *c);
/* Receives into c->buf, including what the transport holds already decrypted; *got = bytes added.
 * IO_OK when bytes came (or the buffer is full), IO_WANT_READ / IO_WANT_WRITE when nothing is there
 * yet, IO_EOF / IO_ERROR when the connection is over. */
enum io_result conn_fill(struct conn *c, size_t *got);
/* Gives the buffer back when everything in it has been consumed. */
void conn_buf_release_if_empty(struct conn *c);
/* Sends pending c->out; true when all of it is gone (arms wev otherwise). false + *fatal on error
 * (io_last_error says why). */
bool conn_flush_out(struct conn *c, bool *fatal);
/* Sends [src->done, src->parsed) of src's buffer to dst; true if all sent. For a TLS dst the bytes
 * are moved into dst->out first, so every TLS write is retried from the same buffer. */
bool conn_forward(struct conn *src, struct conn *dst, bool *fatal);

/* Non-blocking; for TCP also TCP_NODELAY and keepalive probes after keepalive_s idle seconds
 * (every 10 s, 3 tries) with a matching TCP_USER_TIMEOUT, so a peer that vanished without a FIN
 * is noticed in about keepalive_s + 30 s. keepalive_s = 0 leaves the kernel defaults. */
/* Switches c to another transport (TLS once negotiated). */
void conn_set_transport(struct conn *c, const struct io_ops *ops, struct ssl_st *ssl);

void set_nonblocking_nodelay(int fd, bool tcp, int keepalive_s);

#endif
