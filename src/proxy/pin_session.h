/* pin_session.h — session-state pinning in transaction mode (pin_session_state, pin.h): the relay
 * shows each client Query and Parse here once; a client that creates session state keeps its server
 * until it releases that state or disconnects (then the server is reset before anyone else gets
 * it), or the statement is refused with 0A000, or it passes (ignore). */
#ifndef WEDPOOL_PIN_SESSION_H
#define WEDPOOL_PIN_SESSION_H

#include <stdbool.h>

#include "expect.h"
#include "msg.h"
#include "objects.h"

enum pin_action {
    PIN_GO,    /* forward the message (maybe rewritten: *m updated) */
    PIN_WAIT,  /* the message is not all in the buffer yet: stop parsing until more arrives */
};

/* Is the check on for this client's messages? Transaction mode and pin_session_state != ignore. */
bool pin_active(const struct client *c);

/* Should the relay show this client's Query and Parse messages to pin_client_msg? pin_active(), or
 * transaction mode with prepared statements on: SQL that names one of wedpool's own server-side
 * statements (prepared.h) is refused even under pin_session_state=ignore. */
bool pin_wanted(const struct client *c);

/* What pin_client_msg found. */
struct pin_msg {
    enum exp_tag tag;   /* what the relay tags the message's expected-response entry with
                         * (EXP_TAG_CLIENT: nothing) */
    uint16_t arg;
    uint16_t pins;      /* the state the text creates and releases (pin.h kinds; 0 when not
                         * analysed): prepared.c keeps them with a named statement, so each Bind of it */
    uint16_t releases;  /* pins or releases again (pin_bound, EXP_TAG_PIN_RELEASE on the Bind) */
};

/* Before the message at conn.buf->parsed ('Q' or 'P') is accounted: classifies it and pins, or (error
 * mode, or a reserved statement name in any mode) rewrites it into a statement the server refuses at
 * once, tagged EXP_TAG_PIN_REFUSED. */
enum pin_action pin_client_msg(struct client *c, struct msg *m, struct pin_msg *out);

/* A Bind of a named statement whose text creates session state (struct pin_msg.pins, kept by
 * prepared.c): pins again, as a Parse of it did (after a release, the state is back). */
void pin_bound(struct client *c, uint16_t pins);

/* A ReadyForQuery reached the client (status 'I', 'T' or 'E'): releases recorded by queries that
 * succeeded take effect if the session is outside a transaction block. */
void pin_ready(struct client *c, char status);

/* A request tagged EXP_TAG_PIN_RELEASE was answered (or skipped), or an Execute while a releasing
 * Parse or Bind is pending: records what the release will undo once ReadyForQuery says where the session is. */
void pin_entry_done(struct client *c, const struct exp_entry *e, bool skipped);

/* The server error answering a refused statement: the client gets this 0A000 instead. */
void pin_refusal_error(struct pbuf *out, uint16_t kinds);

/* The client is closing (after pool_unlink judged its server): the gauge forgets it. */
void pin_client_gone(struct client *c);

#endif
