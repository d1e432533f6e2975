/* expect.h — the per-server queue of expected responses. Every request wedpool sends a server (the
 * client's, forwarded, or its own, injected) pushes what comes back for it and whether that goes to
 * the client or is dropped; each server message is matched against the head. It replaces counting
 * ReadyForQuery messages: the queue knows when a transaction ends, which bytes are wedpool's own,
 * and when a server answers out of turn. Pure: no I/O, no libevent. */
#ifndef WEDPOOL_EXPECT_H
#define WEDPOOL_EXPECT_H

#include <stdbool.h>
#include <stdint.h>

enum exp_kind {
    EXP_QUERY,     /* Query: any results, then ReadyForQuery */
    EXP_FUNCTION,  /* FunctionCall: FunctionCallResponse or error, then ReadyForQuery */
    EXP_SYNC,      /* Sync: ReadyForQuery (an error at the implicit commit may come first) */
    EXP_PARSE,     /* ParseComplete */
    EXP_BIND,      /* BindComplete */
    EXP_DESCRIBE,  /* [ParameterDescription] RowDescription | NoData */
    EXP_CLOSE,     /* CloseComplete */
    EXP_EXECUTE,   /* rows/copy, then CommandComplete | EmptyQueryResponse | PortalSuspended */
};

/* What wedpool does when an injected request completes. */
enum exp_tag {
    EXP_TAG_CLIENT,  /* the client's own request */
    EXP_TAG_PARAM,   /* a SET that syncs one session parameter (arg: its index in the sync) */
    EXP_TAG_RESET,   /* the reset query of a session-mode release */
    EXP_TAG_INTERNAL,/* any other query of wedpool's own */
    EXP_TAG_PIN_REFUSED, /* a client statement refused by pin_session_state=error (pin_session.c): the
                          * server's error for it is replaced by wedpool's (arg: the pin kind bits) */
    EXP_TAG_PIN_RELEASE, /* a client query releasing pinned session state (arg: the kinds released) */
    EXP_TAG_PREPARED,/* prepared-statement bookkeeping (prepared.h): one pending record per entry */
};

struct exp_entry {
    uint8_t kind;    /* enum exp_kind */
    uint8_t tag;     /* enum exp_tag */
    bool drop;       /* its responses are wedpool's, not forwarded to the client */
    bool failed;     /* an ErrorResponse answered it */
    bool synth;      /* wedpool answers it itself (expq_synth_head) when it reaches the head, in
                      * order with the server's answers; the server never sees the request */
    uint16_t arg;
};

struct expq {
    struct exp_entry *items;
    uint32_t head, n, cap;
    bool in_batch;   /* extended-protocol messages sent since the last Sync: the server may be inside
                      * an implicit transaction even when its last ReadyForQuery said idle */
    bool batch_error;/* an error in the current extended batch: the server skips to Sync */
    bool copy_in;    /* the server is in COPY FROM STDIN: it ignores Sync and Flush until CopyDone/Fail */
    char txn;        /* status of the last ReadyForQuery: 'I', 'T' or 'E' */
};

/* The outcome of one server message. */
enum exp_verdict {
    EXP_FORWARD,     /* to the client */
    EXP_DROP,        /* wedpool's own: swallow */
    EXP_VIOLATION,   /* the server answered something nobody asked for: close it */
};

/* Called for every entry leaving the queue: answered (failed or not) or skipped after an error. */
typedef void (*exp_done_fn)(void *arg, const struct exp_entry *e, bool skipped);

void expq_init(struct expq *q);
void expq_free(struct expq *q);
static inline bool expq_empty(const struct expq *q)
{
    return q->n == 0;
}
/* The oldest unanswered request, or NULL. */
const struct exp_entry *expq_head(const struct expq *q);
/* Appends a request; false on allocation failure (or over 65535 pending: a client pipelining
 * without reading is stopped long before by backpressure). */
bool expq_push(struct expq *q, enum exp_kind kind, enum exp_tag tag, bool drop, uint16_t arg)
    __attribute__((warn_unused_result));

/* Retags the newest entry (the request just pushed for a client message); false if the queue is empty. */
bool expq_tag_last(struct expq *q, enum exp_tag tag, uint16_t arg);
/* Appends a request wedpool answers itself, in order: EXP_PARSE (ParseComplete) or EXP_CLOSE
 * (CloseComplete) for a client's Parse or Close the server does not need to see. */
bool expq_push_synth(struct expq *q, enum exp_kind kind, enum exp_tag tag, uint16_t arg)
    __attribute__((warn_unused_result));
/* The head is a synthetic request and the server is not skipping to Sync: completes it (done() is
 * called, not skipped) and returns the message type to write to the client ('1' or '3'); else 0.
 * The caller writes it once every server byte before it has gone to the client. An error ahead of
 * a synthetic request makes the server skip, and expq_server_msg skips the synthetic request too,
 * exactly as PostgreSQL would have skipped the real one. */
uint8_t expq_synth_head(struct expq *q, exp_done_fn done, void *arg);

/* A frontend message the client sends: pushes what it expects back. Returns false if the message
 * may not be sent now (a non-copy message during COPY FROM STDIN) or on allocation failure (*oom). */
bool expq_client_msg(struct expq *q, uint8_t type, bool *oom) __attribute__((warn_unused_result));

/* Matches one server message (type; for ReadyForQuery, status is its status byte) against the queue.
 * done() is called for each entry it completes or makes the server skip. *ended is set when the
 * message is a ReadyForQuery. */
enum exp_verdict expq_server_msg(struct expq *q, uint8_t type, char status, exp_done_fn done, void *arg,
                                 bool *ended);

/* No request outstanding, no open batch, no transaction, no COPY: the server may serve another. */
bool expq_idle_boundary(const struct expq *q);

#endif
