/* pin_session.c — session-state pinning in transaction mode (see pin_session.h and pin.h). */
#include "pin_session.h"

#include <string.h>

#include "io.h"
#include "log.h"
#include "params.h"
#include "pin.h"
#include "prepared.h"
#include "proto.h"
#include "runtime.h"

bool pin_active(const struct client *c)
{
    return rt.cfg.pin_session_state != PIN_MODE_IGNORE && c->pool != NULL && c->pool->mode == POOL_MODE_TRANSACTION;
}

static void pin_add(struct client *c, uint16_t kinds, const char *what)
{
    struct pool *p = c->pool;
    if ((c->pin_mask | kinds) == c->pin_mask)
        return;
    if (c->pin_mask == 0)
        p->n_pinned++;
    c->pin_mask |= kinds;
    log_debug("client %u (%s/%s): pinned to its server by %s", c->id, c->database, c->user, what);
}

/* A carried SET (pin_verdict.carry_name): remembered on the server until ReadyForQuery says how it
 * went (pin_ready). Only a Query or an unnamed Parse, one at a time: a named statement can run
 * again later, and a second carried SET in flight is pinned instead. Returns PIN_CARRY or 0. */
static uint16_t carry_begin(struct client *c, const struct msg *m, const struct pin_verdict *v)
{
    struct server *s = c->server;
    if (s == NULL || s->carry_name != NULL || (m->type == 'P' && m->body[0] != '\0')) {
        pin_add(c, PIN_SET, "SET extra_float_digits (as a named statement, or twice in one batch)");
        return 0;
    }
    s->carry_name = v->carry_name;
    memcpy(s->carry_value, v->carry_value, sizeof(s->carry_value));
    return PIN_CARRY;
}

/* The carried SET succeeded: the client's parameters take the value, and the server holds it. */
static void carry_apply(struct client *c, struct server *s)
{
    if (!params_set(&c->params, s->carry_name, s->carry_value) ||
        !params_set(&s->params, s->carry_name, s->carry_value)) {
        pin_add(c, PIN_SET, "SET extra_float_digits (out of memory)");
        return;
    }
    c->params_sig = params_signature(&c->params);
    s->synced_sig = c->params_sig;
    log_debug("client %u (%s/%s): %s = %s follows the client", c->id, c->database, c->user, s->carry_name,
              s->carry_value);
}

void pin_entry_done(struct client *c, const struct exp_entry *e, bool skipped)
{
    if (c == NULL || c->server == NULL)
        return;
    struct server *s = c->server; /* the batch's bookkeeping lives with the server it runs on */
    bool ok = !e->failed && !skipped;
    if (e->tag == EXP_TAG_PIN_RELEASE && (e->kind == EXP_PARSE || e->kind == EXP_BIND)) {
        if (ok)
            s->pin_parsed |= e->arg; /* released when an Execute of it succeeds */
    } else if (e->tag == EXP_TAG_PIN_RELEASE) {
        if (ok)
            s->pin_release |= e->arg;
    } else if (e->kind == EXP_EXECUTE && ok) {
        s->pin_release |= s->pin_parsed;
        s->pin_parsed = 0;
    }
}

void pin_ready(struct client *c, char status)
{
    struct server *s = c->server;
    if (s == NULL)
        return;
    uint16_t rel = s->pin_release, parsed = s->pin_parsed;
    s->pin_release = 0;
    s->pin_parsed = 0;
    if (s->carry_name != NULL && (rel & PIN_CARRY) != 0) {
        if (status == 'I')
            carry_apply(c, s);
        else /* inside a transaction block it may still be rolled back */
            pin_add(c, PIN_SET, "SET extra_float_digits inside a transaction block");
    } else if (s->carry_name != NULL && (parsed & PIN_CARRY) != 0) {
        /* parsed (as the unnamed statement) but not executed in this batch: a later Bind may run it */
        pin_add(c, PIN_SET, "SET extra_float_digits parsed in one batch and executed in another");
    }
    s->carry_name = NULL;
    rel &= (uint16_t)~PIN_CARRY;
    if (rel == 0 || c->pin_mask == 0 || status != 'I')
        return; /* inside a transaction block the release may still be rolled back: stay pinned */
    c->pin_mask &= (uint16_t)~rel;
    if (c->pin_mask == 0) {
        c->pool->n_pinned--;
        log_debug("client %u (%s/%s): session state released; unpinned", c->id, c->database, c->user);
    }
}

void pin_client_gone(struct client *c)
{
    if (c->pin_mask != 0 && c->pool != NULL)
        c->pool->n_pinned--;
    c->pin_mask = 0;
    if (c->server != NULL) {
        c->server->pin_release = c->server->pin_rewritten_release = c->server->pin_parsed = 0;
        c->server->carry_name = NULL;
    }
}

void pin_refusal_error(struct pbuf *out, uint16_t kinds)
{
    if (kinds & PIN_REFUSE_RESERVED) {
        proto_error(out, "ERROR", "42501",
                    "wedpool: prepared statement names beginning with \"%s\" are reserved: in transaction pooling "
                    "they name the protocol-level prepared statements wedpool keeps on a server for all the "
                    "clients it serves, which no client may EXECUTE, PREPARE or DEALLOCATE through SQL",
                    PS_PREFIX);
        return;
    }
    proto_error(out, "ERROR", "0A000",
                "wedpool: %s is not supported in transaction pooling: the session state it creates would outlive "
                "the transaction on a server other clients share (pin_session_state=error; set "
                "pin_session_state=pin to keep such clients on their server)",
                pin_kind_name(kinds));
}

/* Replaces the statement text (text_off .. text_off+text_len in the buffer, NUL after it) by ")",
 * which the server refuses with a syntax error at once; the relay puts wedpool's 0A000 in its place. */
static void rewrite_refused(struct iobuf *b, struct msg *m, uint32_t text_off, uint32_t text_len)
{
    uint32_t cut = text_len - 1;
    b->data[text_off] = ')';
    iobuf_cut(b, text_off + 1, cut);
    m->total -= cut;
    m->have -= cut;
    uint32_t len = m->total - 1;
    uint8_t *lw = b->data + b->parsed + 1;
    lw[0] = (uint8_t)(len >> 24);
    lw[1] = (uint8_t)(len >> 16);
    lw[2] = (uint8_t)(len >> 8);
    lw[3] = (uint8_t)len;
}

/* Are wedpool's shared server-side statement names (prepared.h) in use for this client? */
static bool reserved_guard(const struct client *c)
{
    return c->pool != NULL && c->pool->mode == POOL_MODE_TRANSACTION && rt.cfg.max_prepared_statements > 0;
}

bool pin_wanted(const struct client *c)
{
    return pin_active(c) || reserved_guard(c);
}

enum pin_action pin_client_msg(struct client *c, struct msg *m, struct pin_msg *out)
{
    struct iobuf *b = c->conn.buf;
    memset(out, 0, sizeof(*out));
    out->tag = EXP_TAG_CLIENT;
    if (!m->whole && m->total <= IOBUF_SIZE) {
        if (b->parsed + m->total > IOBUF_SIZE && b->done == b->parsed)
            iobuf_compact(b);
        return PIN_WAIT;
    }
    const char *body = (const char *)m->body;
    uint32_t have = m->have, off = 0;
    if (m->type == 'P') {
        const char *nul = memchr(body, '\0', have);
        if (nul == NULL)
            return PIN_GO; /* malformed or huge name: the server judges it */
        off = (uint32_t)(nul - body) + 1;
    }
    const char *text = body + off;
    const char *end = memchr(text, '\0', have - off);
    size_t len = end != NULL ? (size_t)(end - text) : have - off;
    bool active = pin_active(c);
    if (active ? !pin_precheck(text, len) : !pin_reserved_precheck(text, len))
        return PIN_GO;
    struct pin_verdict v;
    if (!m->whole || end == NULL) {
        /* Too large to hold: streamed through unparsed. Its start looks like session state. */
        if (active) {
            memset(&v, 0, sizeof(v));
            v.pins = PIN_UNKNOWN;
            snprintf(v.what, sizeof(v.what), "a statement over %u bytes that may create session state", IOBUF_SIZE);
            pin_add(c, v.pins, v.what);
        }
        return PIN_GO;
    }
    pin_classify(text, &v);
    out->releases = v.releases; /* DEALLOCATE ALL matters to prepared.c in every mode */
    uint16_t refuse = 0;
    if (v.reserved) {
        log_info("client %u (%s/%s): refused SQL use of a reserved prepared-statement name (%s...)", c->id,
                 c->database, c->user, PS_PREFIX);
        refuse = PIN_REFUSE_RESERVED;
    } else if (!active) {
        return PIN_GO;
    } else if (v.pins != 0 && rt.cfg.pin_session_state == PIN_MODE_ERROR) {
        log_debug("client %u (%s/%s): %s refused (pin_session_state=error)", c->id, c->database, c->user, v.what);
        refuse = v.pins;
    }
    if (refuse != 0) {
        out->releases = 0;
        rewrite_refused(b, m, (uint32_t)(b->parsed + MSG_HEADER + off), (uint32_t)len);
        out->tag = EXP_TAG_PIN_REFUSED;
        out->arg = refuse;
        return PIN_GO;
    }
    out->pins = v.pins;
    uint16_t carry = v.carry_name != NULL ? carry_begin(c, m, &v) : 0;
    if (v.pins != 0) {
        pin_add(c, v.pins, v.what);
    } else if ((v.releases & c->pin_mask) != 0 || carry != 0) {
        /* takes effect once the query (or the Execute after the Parse) succeeded outside a
         * transaction block (pin_entry_done, pin_ready) */
        out->tag = EXP_TAG_PIN_RELEASE;
        out->arg = (uint16_t)(v.releases | carry);
    }
    return PIN_GO;
}

void pin_bound(struct client *c, uint16_t pins)
{
    pin_add(c, pins, "a prepared statement that creates session state");
}
