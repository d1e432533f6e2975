/* msg.h — the message iterator: finds the next PostgreSQL v3 message in a receive buffer.
 * Pure (no I/O, no allocation): every reader of the wire (login, relay both ways, admin console)
 * goes through it, so the header is parsed and checked in one place. */
#ifndef WEDPOOL_MSG_H
#define WEDPOOL_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MSG_HEADER 5u /* type byte + 4-byte length */

enum msg_status {
    MSG_NEED_MORE,      /* not even a whole header yet */
    MSG_OK,        /* *m describes the message; m->whole says whether all of it is in the buffer */
    MSG_BAD_LEN,   /* length word below 4: the stream cannot be followed */
    MSG_TOO_LONG,  /* length word above the caller's limit */
};

struct msg {
    uint8_t type;
    uint32_t total;        /* bytes on the wire, header included */
    const uint8_t *body;   /* the body (total - MSG_HEADER bytes when whole) */
    uint32_t have;         /* body bytes present in the buffer (== body length when whole) */
    bool whole;
};

static inline uint32_t msg_body_len(const struct msg *m)
{
    return m->total - MSG_HEADER;
}

/* The typed message at p[0, avail). max_len caps the length word (which counts itself). */
enum msg_status msg_next(const uint8_t *p, size_t avail, uint32_t max_len, struct msg *m)
    __attribute__((warn_unused_result));

/* An untyped startup-phase packet (StartupMessage, SSLRequest, CancelRequest, ...): its length word
 * counts itself and must lie in [8, max_len]. On MSG_OK, *total is its size; it is whole when
 * avail >= *total. */
enum msg_status msg_next_startup(const uint8_t *p, size_t avail, uint32_t max_len, uint32_t *total)
    __attribute__((warn_unused_result));

/* Frontend message types wedpool relays once a client is logged in (PostgreSQL's own list of what a
 * frontend may send in the normal phase: no 'p' (password) messages, no unknown letters). */
bool msg_frontend_type_ok(uint8_t type);

#endif
