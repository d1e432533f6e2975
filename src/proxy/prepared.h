/* prepared.h — protocol-level named prepared statements across server connections (transaction mode).
 *
 * A client's named statements live in its own map (client name -> statement). Each distinct
 * statement (the bytes of its Parse after the name: query text, parameter count, type OIDs) has one
 * server-side name, "wp_" + 16 hex digits of a 64-bit hash, shared by every client (a collision moves
 * to the next number, so two texts never share a name). Each server connection keeps the set it has
 * prepared, an LRU bounded by max_prepared_statements; eviction sends Close.
 *
 * The relay asks ps_check() about each client message (cheap: the first bytes only); for a message
 * that names a statement it calls ps_rewrite(), which writes the replacement to the server's output,
 * injects a Parse the server lacks, and pushes every expected-response entry the message causes,
 * in order. A Parse the server already has is not sent: a synthetic entry makes the relay answer
 * ParseComplete itself at the right point of the response stream (expq_synth_head).
 *
 * Changes are applied when the message passes (so a pipeline sees its own earlier messages) and
 * undone, entry by entry, when the server fails or skips the request (ps_entry_done); every entry
 * tagged EXP_TAG_PREPARED has exactly one pending record, consumed in queue order.
 *
 * Pure: no I/O, no libevent, no runtime globals (the fuzz target drives it against a model). */
#ifndef WEDPOOL_PREPARED_H
#define WEDPOOL_PREPARED_H

#include <stdbool.h>
#include <stdint.h>

#include "expect.h"
#include "msg.h"
#include "proto.h"

#define PS_PREFIX "wp_"
#define PS_PREFIX_LEN 3
#define PS_NAME_LEN 20 /* "wp_" + 16 hex + NUL */

struct ps_client; /* one client's map: its statement names -> statements */
struct ps_server; /* one server connection: the statements it has, and the records of requests in flight */

/* Process-wide counters (metrics). */
struct ps_counters {
    uint64_t client_parses; /* named Parse messages from clients */
    uint64_t server_parses; /* Parse messages sent to servers (first use on a server and re-prepares) */
    uint64_t evictions;     /* Close sent to keep a server under max_prepared_statements */
    uint64_t hits;          /* a client's Parse/Bind/Describe found the statement already on its server */
};
extern struct ps_counters ps_stats;

/* What the relay's session-state classifier (pin.h) says about statement texts, carried with
 * each named statement so that every Bind of it, not only its Parse, pins or releases. Opaque
 * here: kind bits in, the same bits out. */
struct ps_flags {
    uint16_t parse_pins, parse_releases; /* in: of a Parse's text (0 when not analysed) */
    bool bound;                          /* out: a Bind of a named statement was rewritten, and */
    bool bound_resets;                   /* its text is DISCARD ALL or DEALLOCATE ALL (ps_reset_execute) */
    uint16_t bound_pins, bound_releases; /* what its text creates and releases */
};

/* One client message's surroundings. The maps are allocated on first use. */
struct ps_ctx {
    struct ps_client **client;
    struct ps_server **server;
    struct expq *q;       /* the server's expected responses */
    struct pbuf *out;     /* wedpool's output to the server, sent before the forwarded bytes */
    uint32_t server_max;  /* max_prepared_statements */
    uint32_t client_max;  /* max_client_prepared_statements */
    struct ps_flags *flags; /* NULL: none */
};

enum ps_verdict {
    PS_PASS,      /* nothing to do: forward as is */
    PS_REWRITE,   /* names a statement: forward what came before, then call ps_rewrite */
    PS_NEED_MORE, /* the part that decides is not all in the buffer yet (it fits: wait) */
};

/* Looks at the first bytes of one client message ('P', 'B', 'D', 'C' and 'Q'; any other type
 * passes). buf_size is the receive buffer's size: what does not fit is never waited for. */
enum ps_verdict ps_check(const struct msg *m, uint32_t buf_size);

enum ps_result {
    PS_OK,        /* *consumed bytes (from the header on) are replaced by what went to out; the
                   * rest of the message is forwarded unchanged; the queue entries are pushed */
    PS_UNCHANGED, /* forward the message as is and push its entry as usual (malformed, or not ours) */
    PS_OOM,
    PS_TOO_MANY,  /* the client holds max_client_prepared_statements already (54000) */
    PS_TOO_LARGE, /* a named Parse larger than the receive buffer (54000) */
    PS_WAIT,      /* a Parse whose name's existence depends on an earlier batch not answered yet:
                   * nothing changed; look at it again once the server has answered */
};

/* Is the text of this whole Parse message DISCARD ALL or DEALLOCATE [PREPARE] ALL (cheap: the first
 * keywords)? Executed, such a statement drops every prepared statement of the server's session,
 * wedpool's included. */
bool ps_parse_resets(const struct msg *m);

/* Does this Bind use the unnamed statement? */
bool ps_bind_unnamed(const struct msg *m);

/* The Execute about to be pushed on x->q runs DISCARD ALL or DEALLOCATE ALL (a statement for which
 * ps_parse_resets or ps_flags.bound_resets said so): the server's set and the client's names are
 * cleared now, as for the simple-query form, and a record is pushed; the caller tags the Execute's
 * entry EXP_TAG_PREPARED. If the Execute fails or is skipped, the server is no longer trusted. */
bool ps_reset_execute(struct ps_ctx *x) __attribute__((warn_unused_result));

/* The client sent a Sync (numbers its batches; NULL is fine). */
void ps_client_sync(struct ps_client *cl);

enum ps_result ps_rewrite(struct ps_ctx *x, const struct msg *m, uint32_t *consumed)
    __attribute__((warn_unused_result));

/* An entry tagged EXP_TAG_PREPARED left the server's queue (answered, failed or skipped). cl is the
 * client linked to the server, NULL if it left. Returns false when the server's prepared set can
 * no longer be trusted (a DISCARD ALL or DEALLOCATE that failed): close it rather than reuse it. */
bool ps_entry_done(struct ps_server *sv, struct ps_client *cl, const struct exp_entry *e, bool skipped);

/* Undoes, in reverse order, what the requests that failed or were skipped since the last call did;
 * call it after each server message (the failure and the skipped requests after it come together).
 * Returns false when the server's prepared set can no longer be trusted. */
bool ps_settle(struct ps_server *sv, struct ps_client *cl);

void ps_client_free(struct ps_client *cl);
void ps_server_free(struct ps_server *sv);
uint32_t ps_client_count(const struct ps_client *cl);
uint32_t ps_server_count(const struct ps_server *sv);
/* Distinct statements alive (referenced by a client, a server or a request in flight). */
uint32_t ps_registry_count(void);

/* Exposed for tests: the 64-bit hash of a statement body, and whether the server holds st's name. */
uint64_t ps_hash(const uint8_t *p, uint32_t len);
bool ps_server_has_name(const struct ps_server *sv, const char *name);
/* The server-side name a client's statement maps to, or NULL. */
const char *ps_client_lookup(const struct ps_client *cl, const char *name);

#endif
