/* expect.c — the per-server queue of expected responses (see expect.h).
 *
 * The rules are PostgreSQL's (src/backend/tcop/postgres.c, protocol.sgml "Message Flow"):
 * - Query and FunctionCall end with ReadyForQuery, whatever came before it.
 * - Each extended-protocol message is answered on its own (Parse: ParseComplete, ...) unless an
 *   error came first: then the server ignores everything up to the next Sync, Query included.
 * - During COPY FROM STDIN the server ignores Sync and Flush; libpq therefore sends a second Sync
 *   after CopyDone in the extended protocol. The client may already have sent those messages before
 *   wedpool sees the CopyInResponse, so the queue corrects itself when the CopyInResponse arrives.
 * - CopyData/CopyDone/CopyFail outside COPY are ignored by the server. */
#include "expect.h"

#include <stdlib.h>
#include <string.h>

/* Internal: a CopyDone/CopyFail the client sent while a request that may start COPY was pending,
 * before wedpool knew whether it did. Never answered by the server. */
#define EXP_COPY_END 0xff
#define EXPQ_MAX 65535u

void expq_init(struct expq *q)
{
    memset(q, 0, sizeof(*q));
    q->txn = 'I';
}

void expq_free(struct expq *q)
{
    free(q->items);
    q->items = NULL;
    q->n = q->cap = q->head = 0;
}

static struct exp_entry *at(const struct expq *q, uint32_t i)
{
    return &q->items[(q->head + i) % q->cap];
}

const struct exp_entry *expq_head(const struct expq *q)
{
    return q->n == 0 ? NULL : at(q, 0);
}

static bool grow(struct expq *q)
{
    uint32_t cap = q->cap == 0 ? 8 : q->cap * 2;
    struct exp_entry *items = malloc(sizeof(*items) * cap);
    if (items == NULL)
        return false;
    for (uint32_t i = 0; i < q->n; i++)
        items[i] = *at(q, i);
    free(q->items);
    q->items = items;
    q->cap = cap;
    q->head = 0;
    return true;
}

static bool push_raw(struct expq *q, uint8_t kind, enum exp_tag tag, bool drop, uint16_t arg)
{
    if (q->n >= EXPQ_MAX)
        return false;
    if (q->n == q->cap && !grow(q))
        return false;
    struct exp_entry *e = &q->items[(q->head + q->n) % q->cap];
    e->kind = kind;
    e->tag = (uint8_t)tag;
    e->drop = drop;
    e->failed = false;
    e->synth = false;
    e->arg = arg;
    q->n++;
    return true;
}

bool expq_push(struct expq *q, enum exp_kind kind, enum exp_tag tag, bool drop, uint16_t arg)
{
    if (!push_raw(q, (uint8_t)kind, tag, drop, arg))
        return false;
    if (kind == EXP_SYNC)
        q->in_batch = false;
    else if (kind >= EXP_PARSE)
        q->in_batch = true;
    return true;
}

bool expq_tag_last(struct expq *q, enum exp_tag tag, uint16_t arg)
{
    if (q->n == 0)
        return false;
    struct exp_entry *e = at(q, q->n - 1);
    e->tag = (uint8_t)tag;
    e->arg = arg;
    return true;
}

bool expq_push_synth(struct expq *q, enum exp_kind kind, enum exp_tag tag, uint16_t arg)
{
    if (kind != EXP_PARSE && kind != EXP_CLOSE)
        return false;
    if (!expq_push(q, kind, tag, false, arg))
        return false;
    at(q, q->n - 1)->synth = true;
    return true;
}

static void pop(struct expq *q)
{
    q->head = (q->head + 1) % q->cap;
    q->n--;
}

/* Removes the entry at position i (0 = head), keeping the order of the rest. */
static void remove_at(struct expq *q, uint32_t i)
{
    for (; i + 1 < q->n; i++)
        *at(q, i) = *at(q, i + 1);
    q->n--;
}

static bool may_start_copy(const struct expq *q)
{
    for (uint32_t i = 0; i < q->n; i++) {
        uint8_t k = at(q, i)->kind;
        if (k == EXP_QUERY || k == EXP_EXECUTE)
            return true;
    }
    return false;
}

bool expq_client_msg(struct expq *q, uint8_t type, bool *oom)
{
    *oom = false;
    if (q->copy_in) {
        switch (type) {
        case 'd':
            return true;
        case 'c':
        case 'f':
            q->copy_in = false;
            return true;
        case 'S':
        case 'H':
            return true; /* ignored by the server during COPY FROM STDIN */
        default:
            return false;
        }
    }
    enum exp_kind kind;
    switch (type) {
    case 'Q': kind = EXP_QUERY; break;
    case 'F': kind = EXP_FUNCTION; break;
    case 'S': kind = EXP_SYNC; break;
    case 'P': kind = EXP_PARSE; break;
    case 'B': kind = EXP_BIND; break;
    case 'D': kind = EXP_DESCRIBE; break;
    case 'C': kind = EXP_CLOSE; break;
    case 'E': kind = EXP_EXECUTE; break;
    case 'c':
    case 'f':
        /* Maybe the end of a COPY whose CopyInResponse wedpool has not read yet. */
        if (may_start_copy(q) && !push_raw(q, EXP_COPY_END, EXP_TAG_CLIENT, false, 0)) {
            *oom = true;
            return false;
        }
        return true;
    default: /* 'H', 'd', 'X': nothing comes back */
        return true;
    }
    if (!expq_push(q, kind, EXP_TAG_CLIENT, false, 0)) {
        *oom = true;
        return false;
    }
    return true;
}

static void pop_markers(struct expq *q)
{
    while (q->n > 0 && at(q, 0)->kind == EXP_COPY_END)
        pop(q);
}

static void complete(struct expq *q, exp_done_fn done, void *arg, bool skipped)
{
    struct exp_entry e = *at(q, 0);
    pop(q);
    if (done != NULL)
        done(arg, &e, skipped);
}

/* CopyInResponse for the head request: what the client sent after it, up to its CopyDone/CopyFail,
 * went to a server in COPY mode. Syncs and Flushes there were ignored; anything else would have
 * aborted the COPY, and the client gets no such leeway. */
static bool copy_started(struct expq *q)
{
    uint32_t i = 1;
    while (i < q->n) {
        struct exp_entry *e = at(q, i);
        if (e->kind == EXP_COPY_END) {
            remove_at(q, i);
            return true; /* the COPY is over already, from the server's point of view */
        }
        if (e->kind != EXP_SYNC)
            return false;
        remove_at(q, i);
    }
    q->copy_in = true;
    return true;
}

uint8_t expq_synth_head(struct expq *q, exp_done_fn done, void *arg)
{
    pop_markers(q);
    if (q->n == 0 || q->batch_error || !at(q, 0)->synth)
        return 0;
    uint8_t type = at(q, 0)->kind == EXP_PARSE ? '1' : '3';
    complete(q, done, arg, false);
    return type;
}

static bool is_terminal(uint8_t kind)
{
    return kind == EXP_QUERY || kind == EXP_FUNCTION || kind == EXP_SYNC;
}

enum exp_verdict expq_server_msg(struct expq *q, uint8_t type, char status, exp_done_fn done, void *arg,
                                 bool *ended)
{
    *ended = false;
    pop_markers(q);
    struct exp_entry *h = q->n > 0 ? at(q, 0) : NULL;
    enum exp_verdict own = h != NULL && h->drop ? EXP_DROP : EXP_FORWARD;

    switch (type) {
    case 'N': /* NoticeResponse, ParameterStatus, NotificationResponse: any time */
    case 'S':
    case 'A':
        return own;
    case 'Z': {
        bool found = false;
        enum exp_verdict v = EXP_FORWARD;
        while (q->n > 0) {
            struct exp_entry *e = at(q, 0);
            if (e->kind == EXP_COPY_END) {
                pop(q);
                continue;
            }
            if (q->batch_error ? e->kind == EXP_SYNC : is_terminal(e->kind)) {
                v = e->drop ? EXP_DROP : EXP_FORWARD;
                complete(q, done, arg, false);
                found = true;
                break;
            }
            if (!q->batch_error)
                return EXP_VIOLATION; /* an extended request left unanswered */
            complete(q, done, arg, true);
        }
        if (!found)
            return EXP_VIOLATION;
        q->batch_error = false;
        q->copy_in = false;
        q->txn = status;
        *ended = true;
        pop_markers(q);
        return v;
    }
    case 'E':
        if (h == NULL || q->batch_error || h->synth)
            return EXP_VIOLATION;
        h->failed = true;
        q->copy_in = false;
        if (!is_terminal(h->kind)) {
            /* The server now skips everything up to the next Sync. */
            complete(q, done, arg, false);
            q->batch_error = true;
            while (q->n > 0 && at(q, 0)->kind != EXP_SYNC) {
                if (at(q, 0)->kind == EXP_COPY_END)
                    pop(q);
                else
                    complete(q, done, arg, true);
            }
        }
        return own;
    default:
        break;
    }

    if (h == NULL || q->batch_error || h->synth)
        return EXP_VIOLATION;
    switch (h->kind) {
    case EXP_QUERY:
        switch (type) {
        case 'G': /* CopyInResponse, CopyBothResponse */
        case 'W':
            return copy_started(q) ? own : EXP_VIOLATION;
        case 'C':
            q->copy_in = false;
            return own;
        case 'T': case 'D': case 'I': case 'H': case 'd': case 'c':
            return own;
        default:
            return EXP_VIOLATION;
        }
    case EXP_FUNCTION:
        return type == 'V' ? own : EXP_VIOLATION;
    case EXP_PARSE:
    case EXP_BIND:
    case EXP_CLOSE: {
        uint8_t want = h->kind == EXP_PARSE ? '1' : h->kind == EXP_BIND ? '2' : '3';
        if (type != want)
            return EXP_VIOLATION;
        complete(q, done, arg, false);
        return own;
    }
    case EXP_DESCRIBE:
        if (type == 't')
            return own;
        if (type != 'T' && type != 'n')
            return EXP_VIOLATION;
        complete(q, done, arg, false);
        return own;
    case EXP_EXECUTE:
        switch (type) {
        case 'G':
        case 'W':
            return copy_started(q) ? own : EXP_VIOLATION;
        case 'D': case 'H': case 'd': case 'c':
            return own;
        case 'C': case 'I': case 's':
            q->copy_in = false;
            complete(q, done, arg, false);
            return own;
        default:
            return EXP_VIOLATION;
        }
    default: /* EXP_SYNC: only errors, notices and ReadyForQuery answer it */
        return EXP_VIOLATION;
    }
}

bool expq_idle_boundary(const struct expq *q)
{
    return q->n == 0 && !q->in_batch && !q->batch_error && !q->copy_in && q->txn == 'I';
}
