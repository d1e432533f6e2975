/* relay.c — the per-message path. A client's messages go to its server (client_pump); the server's
 * answers come back (server_pump). Each message is read with the iterator (msg.h), checked, matched
 * against the server's queue of expected responses (expect.h), then forwarded or dropped; the queue
 * alone says when a transaction ends and the server can serve another client. */
#include "relay.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "log.h"
#include "msg.h"
#include "pin.h"
#include "pin_session.h"
#include "pool.h"
#include "prepared.h"
#include "runtime.h"
#include "server.h"

static void on_entry_done(void *arg, const struct exp_entry *e, bool skipped);
static bool emit_synth(struct server *s);

static void client_protocol_error(struct client *c, const struct msg *m, const char *what)
{
    if (m->type >= 0x21 && m->type < 0x7f)
        client_fail(c, "08P01", "wedpool: protocol violation: %s (message type '%c')", what, m->type);
    else
        client_fail(c, "08P01", "wedpool: protocol violation: %s (message type 0x%02x)", what, m->type);
}

/* A framing error in the client's stream: reported with the exact reason, then the client goes. */
static void client_bad_frame(struct client *c, enum msg_status st, const struct msg *m)
{
    char what[128];
    if (st == MSG_TOO_LONG)
        snprintf(what, sizeof(what), "message of %u bytes is over max_packet_size=%d",
                 proto_get_u32(c->conn.buf->data + c->conn.buf->parsed + 1), rt.cfg.max_packet_size);
    else
        snprintf(what, sizeof(what), "invalid message length %u",
                 proto_get_u32(c->conn.buf->data + c->conn.buf->parsed + 1));
    client_protocol_error(c, m, what);
}

/* Checks the first message of an idle client before a server is taken for it: a client that opens
 * with garbage never touches a server. Returns false if the client was closed. */
static bool client_first_msg_ok(struct client *c)
{
    struct iobuf *b = c->conn.buf;
    struct msg m;
    enum msg_status st = msg_next(b->data + b->parsed, b->len - b->parsed, (uint32_t)rt.cfg.max_packet_size, &m);
    if (st == MSG_NEED_MORE)
        return true;
    if (st != MSG_OK) {
        client_bad_frame(c, st, &m);
        return false;
    }
    if (!msg_frontend_type_ok(m.type)) {
        client_protocol_error(c, &m, "unexpected message from client");
        return false;
    }
    if (m.type == 'X') {
        client_close(c); /* Terminate while idle: nothing to relay */
        return false;
    }
    return true;
}

/* Sends what is parsed to the server. Returns false if the client or server was closed or output is
 * blocked (then the client is not read until the server drains). */
static bool client_forward(struct client *c, struct server *s)
{
    struct iobuf *b = c->conn.buf;
    if (b->done == b->parsed && s->conn.out.len == 0)
        return true;
    uint32_t before = b->done;
    bool fatal;
    bool all = conn_forward(&c->conn, &s->conn, &fatal);
    c->pool->stats.bytes_in += b->done - before;
    if (all)
        return true;
    if (fatal)
        server_close(s, "write to server failed");
    else
        conn_want_read(&c->conn, false); /* backpressure: wait for the server to drain */
    return false;
}

/* A message naming a prepared statement (prepared.h): what came before it goes first, then the
 * rewritten message and whatever the server must prepare first. Returns false if the client was
 * closed or output is blocked (nothing was changed then: the message is looked at again). */
static bool client_prepared_msg(struct client *c, struct server *s, const struct msg *m, struct ps_flags *fl,
                                bool *unchanged)
{
    struct iobuf *b = c->conn.buf;
    *unchanged = false;
    if (!client_forward(c, s))
        return false;
    struct ps_ctx x = {
        .client = &c->ps,
        .server = &s->ps,
        .q = &s->exp,
        .out = &s->conn.out,
        .server_max = (uint32_t)rt.cfg.max_prepared_statements,
        .client_max = (uint32_t)rt.cfg.max_client_prepared_statements,
        .flags = fl,
    };
    uint32_t consumed;
    switch (ps_rewrite(&x, m, &consumed)) {
    case PS_OK:
        break;
    case PS_UNCHANGED:
        *unchanged = true;
        return true;
    case PS_WAIT:
        c->ps_wait = true; /* server_pump looks at it again */
        conn_want_read(&c->conn, false);
        return false;
    case PS_TOO_MANY:
        client_fail(c, "54000", "wedpool: too many prepared statements on this connection (max_client_prepared_statements=%d)",
                    rt.cfg.max_client_prepared_statements);
        return false;
    case PS_TOO_LARGE:
        client_fail(c, "54000", "wedpool: a named Parse of %u bytes is over the %u bytes wedpool can rewrite in transaction mode",
                    m->total, IOBUF_SIZE);
        return false;
    default:
        client_fail(c, "53200", "wedpool: out of memory");
        return false;
    }
    /* [parsed, parsed + consumed) was replaced by what went to the server's output; the rest of the
     * message follows it unchanged (for a large Bind, streaming). */
    b->done = b->parsed + consumed;
    b->parsed += MSG_HEADER + m->have;
    c->conn.pkt_left = m->total - MSG_HEADER - m->have;
    return true;
}

/* Statements that drop every prepared statement of the server's session when executed (DISCARD ALL,
 * DEALLOCATE ALL) may come as a Parse, named or not, then Bind and Execute: the Execute of a portal
 * bound to one arms the reset (ps_reset_execute). A named statement's Bind also pins or releases
 * what its text does (pin_session.h). */
static void relay_reset_track(struct client *c, struct server *s, const struct msg *m, const struct ps_flags *fl,
                              bool rewritten)
{
    if (m->type == 'P' && m->have > 0 && m->body[0] == '\0') {
        s->ps_unnamed_resets = ps_parse_resets(m);
    } else if (m->type == 'B') {
        s->ps_reset_armed = rewritten ? fl->bound_resets : s->ps_unnamed_resets && ps_bind_unnamed(m);
        if (rewritten && fl->bound && pin_active(c)) {
            if (fl->bound_pins != 0)
                pin_bound(c, fl->bound_pins);
            else if ((fl->bound_releases & c->pin_mask) != 0)
                (void)expq_tag_last(&s->exp, EXP_TAG_PIN_RELEASE, fl->bound_releases);
        }
    }
}

void client_pump(struct client *c)
{
    struct conn *cc = &c->conn;
    struct iobuf *b = cc->buf;

    if (c->login_check == LOGIN_CHECK_RUNNING) {
        /* linked only so the server judges its startup parameters; nothing is relayed yet */
        struct server *s = c->server;
        bool fatal;
        if (s == NULL)
            return;
        if (s->sync_left == 0)
            client_login_check_done(c);
        else if (!conn_flush_out(&s->conn, &fatal) && fatal)
            server_close(s, "write to server failed");
        return;
    }
    if (b == NULL || b->len == b->done) {
        conn_buf_release_if_empty(cc);
        conn_want_read(cc, true);
        return;
    }
    if (c->server == NULL) {
        if (c->state != CL_IDLE || !client_first_msg_ok(c))
            return;
        if (b->len - b->parsed < MSG_HEADER) {
            conn_want_read(cc, true);
            return;
        }
        if (pool_acquire(c) != ACQ_LINKED)
            return;
    }
    struct server *s = c->server;
    struct pool *p = c->pool;
    if (s->sync_left == 0 && s->sync_failed) {
        client_fail(c, "53200", "wedpool: out of memory setting the session's parameters on the server");
        return;
    }
    if (s->sync_left > 0) {
        /* The server is taking this client's settings: its messages wait for the verdict, so no
         * query ever runs with another client's settings. */
        conn_want_read(cc, false);
        client_forward(c, s);
        return;
    }
    bool terminate = false;
    bool tracked = p->mode == POOL_MODE_TRANSACTION && rt.cfg.max_prepared_statements > 0;
    while (b->parsed < b->len) {
        if (cc->pkt_left > 0) { /* the rest of a large message streams through */
            uint32_t n = b->len - b->parsed;
            if (n > cc->pkt_left)
                n = cc->pkt_left;
            b->parsed += n;
            cc->pkt_left -= n;
            continue;
        }
        struct msg m;
        enum msg_status st = msg_next(b->data + b->parsed, b->len - b->parsed, (uint32_t)rt.cfg.max_packet_size, &m);
        if (st == MSG_NEED_MORE)
            break;
        const char *bad = NULL;
        bool oom = false;
        /* session state (pin_session.h): may pin the client, or rewrite a refused statement */
        struct pin_msg pm = {.tag = EXP_TAG_CLIENT};
        if (st == MSG_OK && (m.type == 'Q' || m.type == 'P') && pin_wanted(c) && pin_client_msg(c, &m, &pm) == PIN_WAIT)
            break;
        /* prepared statements (prepared.h): named statements renamed, or answered by wedpool. A
         * refused statement goes to the server as is (with its text replaced: nothing is created). */
        bool rewritten = false;
        if (tracked && st == MSG_OK && !s->exp.copy_in && pm.tag != EXP_TAG_PIN_REFUSED) {
            enum ps_verdict pv = ps_check(&m, IOBUF_SIZE);
            if (pv == PS_NEED_MORE)
                break;
            struct ps_flags fl = {.parse_pins = pm.pins, .parse_releases = pm.releases};
            if (pv == PS_REWRITE) {
                bool was_empty = expq_empty(&s->exp), unchanged;
                if (!client_prepared_msg(c, s, &m, &fl, &unchanged))
                    return;
                rewritten = !unchanged;
                if (rewritten && was_empty && !expq_empty(&s->exp))
                    s->query_start_us = now_us();
            }
            relay_reset_track(c, s, &m, &fl, rewritten);
        }
        if (rewritten) {
            if (pm.tag == EXP_TAG_PIN_RELEASE && m.type == 'Q')
                s->pin_rewritten_release |= pm.arg;
            s->txn_idle_since_us = 0;
            if (m.type == 'Q')
                p->stats.query_count++;
            continue;
        }
        if (st == MSG_OK && !msg_frontend_type_ok(m.type))
            bad = "unexpected message from client";
        else if (st == MSG_OK && m.type != 'X') {
            bool was_empty = expq_empty(&s->exp);
            if (!expq_client_msg(&s->exp, m.type, &oom))
                bad = oom ? "" : "only CopyData, CopyDone, CopyFail, Sync and Flush may follow COPY FROM STDIN";
            else if (was_empty && !expq_empty(&s->exp))
                s->query_start_us = now_us(); /* also the client's last request, for idle_transaction_timeout */
            if (bad == NULL && pm.tag != EXP_TAG_CLIENT)
                (void)expq_tag_last(&s->exp, pm.tag, pm.arg);
            if (bad == NULL && tracked &&
                ((m.type == 'E' && s->ps_reset_armed) || (m.type == 'Q' && (pm.releases & PIN_PREPARE) != 0))) {
                /* DISCARD ALL / DEALLOCATE ALL through a prepared statement (relay_reset_track), or
                 * DEALLOCATE ALL inside a multi-statement query prepared.c did not take over: the
                 * server's prepared statements are gone (or, should the query fail, unknown: the
                 * server is then closed rather than reused) */
                s->ps_reset_armed = false;
                if (pm.tag == EXP_TAG_PIN_RELEASE && m.type == 'Q')
                    s->pin_rewritten_release |= pm.arg;
                struct ps_ctx x = {.client = &c->ps, .server = &s->ps, .q = &s->exp, .out = &s->conn.out};
                if (ps_reset_execute(&x)) {
                    (void)expq_tag_last(&s->exp, EXP_TAG_PREPARED, 0);
                } else { /* out of memory: the server's statements are unknown now, and the client goes */
                    s->close_needed = true;
                    bad = "";
                    oom = true;
                }
            }
        }
        if (st != MSG_OK || bad != NULL) {
            /* What came before is valid: it goes, so the server stays in step; then the client goes. */
            if (!client_forward(c, s))
                return;
            if (oom)
                client_fail(c, "53200", "wedpool: out of memory");
            else if (st != MSG_OK)
                client_bad_frame(c, st, &m);
            else
                client_protocol_error(c, &m, bad);
            return;
        }
        if (m.type == 'X') {
            terminate = true;
            break;
        }
        s->txn_idle_since_us = 0;
        if (m.type == 'Q' || m.type == 'E')
            p->stats.query_count++;
        else if (m.type == 'S' && c->ps != NULL)
            ps_client_sync(c->ps);
        if (m.type == 'S')
            s->ps_reset_armed = false; /* the transaction's portals end with it */
        b->parsed += MSG_HEADER + m.have;
        cc->pkt_left = m.total - MSG_HEADER - m.have;
    }
    if (!client_forward(c, s))
        return;
    if (terminate) {
        client_close(c);
        return;
    }
    if (tracked && !emit_synth(s))
        return;
    if (b->done == b->len)
        conn_buf_release_if_empty(cc);
    else
        iobuf_compact(b);
    conn_want_read(cc, true);
}

/* ---------------------------------------------------------------- server to client */

static void server_protocol_error(struct server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void server_protocol_error(struct server *s, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct pool *p = s->pool;
    log_error("pool %s/%s: server %u: protocol violation: %s; closing it", p->name, p->user, s->id, msg);
    server_close(s, "protocol violation from server");
}

/* An entry left the queue: wedpool's own requests act on their answers here. Nothing is closed or
 * unlinked from inside the queue; server_pump acts on the flags afterwards. */
static void on_entry_done(void *arg, const struct exp_entry *e, bool skipped)
{
    struct server *s = arg;
    switch (e->tag) {
    case EXP_TAG_PARAM:
        server_param_set_done(s, e->arg, !e->failed && !skipped);
        break;
    case EXP_TAG_RESET:
    case EXP_TAG_INTERNAL:
        if (e->failed || skipped)
            s->close_needed = true; /* its session is not what wedpool thinks */
        break;
    case EXP_TAG_PIN_RELEASE:
        pin_entry_done(s->client, e, skipped);
        break;
    case EXP_TAG_PREPARED:
        if (!ps_entry_done(s->ps, s->client != NULL ? s->client->ps : NULL, e, skipped))
            s->close_needed = true; /* its prepared statements are not what wedpool thinks */
        if (e->kind == EXP_QUERY && s->pin_rewritten_release != 0) {
            if (!e->failed && !skipped)
                s->pin_release |= s->pin_rewritten_release;
            s->pin_rewritten_release = 0;
        }
        if (e->kind == EXP_EXECUTE && s->client != NULL && s->pin_parsed != 0)
            pin_entry_done(s->client, e, skipped); /* an Execute of DISCARD ALL (ps_reset_execute) */
        break;
    default:
        if (e->kind == EXP_EXECUTE && s->client != NULL && s->pin_parsed != 0)
            pin_entry_done(s->client, e, skipped);
        break;
    }
}

/* Answers the synthetic requests at the head of the server's queue (a Parse or Close wedpool did not
 * need to send): their ParseComplete/CloseComplete go to the client in order, so only once every
 * server byte before them has gone. Returns false if the client was closed. */
static bool emit_synth(struct server *s)
{
    struct client *c = s->client;
    struct iobuf *sb = s->conn.buf;
    bool any = false;
    while (sb == NULL || sb->done == sb->parsed) {
        uint8_t t = expq_synth_head(&s->exp, on_entry_done, s);
        if (t == 0)
            break;
        if (c != NULL) {
            size_t mk = pbuf_begin_msg(&c->conn.out, (char)t);
            pbuf_end_msg(&c->conn.out, mk);
            any = true;
        }
    }
    if (!any)
        return true;
    if (c->conn.out.failed) {
        client_fail(c, NULL, "out of memory");
        return false;
    }
    bool fatal;
    if (!conn_flush_out(&c->conn, &fatal) && fatal) {
        client_close(c);
        return false;
    }
    return true;
}

static bool is_fatal(const char *severity)
{
    return strcmp(severity, "FATAL") == 0 || strcmp(severity, "PANIC") == 0;
}

/* Drops the message (or the part of it present) at b->parsed. */
static void drop_msg(struct conn *sc, const struct msg *m)
{
    struct iobuf *b = sc->buf;
    uint32_t n = MSG_HEADER + m->have;
    iobuf_cut(b, b->parsed, n);
    sc->pkt_left = m->total - n;
    sc->pkt_drop = sc->pkt_left > 0;
}

/* A ParameterStatus: the server's record follows; the client's follows when the client changed it. */
static bool server_param_status(struct server *s, const struct msg *m, bool forwarded)
{
    struct preader r;
    const char *name, *value;
    preader_init(&r, m->body, msg_body_len(m));
    if (!preader_str(&r, &name) || !preader_str(&r, &value)) {
        server_protocol_error(s, "malformed ParameterStatus");
        return false;
    }
    if (params_get(&s->params, name) == NULL && s->params.n >= PARAMS_MAX) {
        server_protocol_error(s, "more than %d distinct parameters reported", PARAMS_MAX);
        return false;
    }
    params_set(&s->params, name, value);
    struct client *c = s->client;
    if (forwarded && c != NULL && params_is_tracked_startup(name)) {
        /* the client changed it (SET): the server now holds the client's new values */
        params_set(&c->params, name, value);
        c->params_sig = params_signature(&c->params);
        s->synced_sig = c->params_sig;
    }
    return true;
}

/* Forwards what is parsed. Returns false if someone was closed or the client is not keeping up. */
static bool server_forward(struct server *s, struct client *c)
{
    struct iobuf *b = s->conn.buf;
    if (b->done == b->parsed)
        return true;
    if (c == NULL) {
        server_protocol_error(s, "%u bytes for no client", b->parsed - b->done);
        return false;
    }
    uint32_t before = b->done;
    bool fatal;
    bool all = conn_forward(&s->conn, &c->conn, &fatal);
    s->pool->stats.bytes_out += b->done - before;
    if (all)
        return true;
    if (fatal)
        client_close(c);
    else
        conn_want_read(&s->conn, false); /* the client is slow: stop reading the server (backpressure) */
    return false;
}

void server_pump(struct server *s)
{
    struct conn *sc = &s->conn;
    struct iobuf *b = sc->buf;
    struct client *c = s->client;
    struct pool *p = s->pool;
    bool release = false;

    if (b == NULL) {
        conn_want_read(sc, true);
        return;
    }
    while (b->parsed < b->len) {
        if (sc->pkt_left > 0) {
            uint32_t n = b->len - b->parsed;
            if (n > sc->pkt_left)
                n = sc->pkt_left;
            if (sc->pkt_drop)
                iobuf_cut(b, b->parsed, n);
            else
                b->parsed += n;
            sc->pkt_left -= n;
            continue;
        }
        struct msg m;
        enum msg_status st = msg_next(b->data + b->parsed, b->len - b->parsed, (uint32_t)rt.cfg.max_packet_size, &m);
        if (st == MSG_NEED_MORE)
            break;
        if (st != MSG_OK) {
            server_protocol_error(s, "invalid message length %u", proto_get_u32(b->data + b->parsed + 1));
            return;
        }
        /* ReadyForQuery, ParameterStatus and errors are read whole; the rest may stream. */
        if ((m.type == 'Z' || m.type == 'S' || m.type == 'E') && !m.whole) {
            if (m.total <= IOBUF_SIZE) {
                if (b->parsed + m.total > IOBUF_SIZE && b->done == b->parsed)
                    iobuf_compact(b);
                break;
            }
            if (m.type != 'E') {
                server_protocol_error(s, "oversized '%c' message (%u bytes)", m.type, m.total);
                return;
            }
            /* a huge error: its first fields are in the buffer, which is enough to judge it */
        }
        if (m.type == 'Z' && msg_body_len(&m) != 1) {
            server_protocol_error(s, "ReadyForQuery of length %u", m.total - 1);
            return;
        }
        const struct exp_entry *head = expq_head(&s->exp);
        uint16_t refused = 0;
        if (head != NULL && head->synth && !s->exp.batch_error) {
            /* wedpool's own answers come first: the bytes before them go, then they do */
            if (!server_forward(s, c) || !emit_synth(s))
                return;
            head = expq_head(&s->exp);
        }
        enum exp_verdict v;
        bool ended = false;
        if (m.type == 'E') {
            struct error_fields ef;
            proto_parse_error(m.body, m.have, &ef);
            if (is_fatal(ef.severity)) {
                /* The server is ending the session (57P01 terminate, 57P02/57P03 shutdown, ...): the
                 * client gets PostgreSQL's own words, then the close. */
                log_info("pool %s/%s: server %u ends its session: %s (SQLSTATE %s)", p->name, p->user, s->id,
                         ef.message, ef.sqlstate);
                if (c == NULL) {
                    server_close(s, "server sent FATAL");
                    return;
                }
                s->fatal_sent = true;
                b->parsed += MSG_HEADER + m.have;
                sc->pkt_left = m.total - MSG_HEADER - m.have;
                sc->pkt_drop = false;
                continue;
            }
            if (head != NULL && head->tag == EXP_TAG_PIN_REFUSED && c != NULL) {
                /* wedpool's 0A000 replaces the server's error: what came before goes first */
                if (!server_forward(s, c))
                    return;
                refused = head->arg;
            }
            if (head != NULL && head->tag == EXP_TAG_PARAM && s->sync_error[0] == '\0')
                snprintf(s->sync_error, sizeof(s->sync_error), "%.5s\t%s", ef.sqlstate, ef.message);
            if (head != NULL && head->drop && head->tag != EXP_TAG_PARAM)
                log_warn("pool %s/%s: server %u: wedpool's own query failed: %s (SQLSTATE %s)", p->name, p->user,
                         s->id, ef.message, ef.sqlstate);
        }
        /* A Parse wedpool injected failed: the client's request that needed it is skipped with the
         * rest of the batch, so the client must hear why. */
        bool own_parse_failed = m.type == 'E' && head != NULL && head->drop && head->tag == EXP_TAG_PREPARED;
        v = expq_server_msg(&s->exp, m.type, m.type == 'Z' ? (char)m.body[0] : 0, on_entry_done, s, &ended);
        if (own_parse_failed && v == EXP_DROP)
            v = EXP_FORWARD;
        if (s->ps != NULL && !ps_settle(s->ps, c != NULL ? c->ps : NULL))
            s->close_needed = true;
        if (v == EXP_VIOLATION) {
            server_protocol_error(s, "message '%c' answers no request (%u pending)", m.type, s->exp.n);
            return;
        }
        if (m.type == 'S' && !server_param_status(s, &m, v == EXP_FORWARD))
            return;
        if (refused != 0) {
            drop_msg(sc, &m);
            pin_refusal_error(&c->conn.out, refused);
            client_flush(c);
            if (c->state == CL_CLOSED)
                return;
            continue;
        }
        if (ended && c != NULL && ((s->pin_release | s->pin_parsed) != 0 || s->carry_name != NULL))
            pin_ready(c, (char)m.body[0]);
        if (c == NULL && v == EXP_FORWARD && (m.type == 'N' || m.type == 'A' || m.type == 'S'))
            v = EXP_DROP; /* asynchronous news for a server nobody holds */
        if (v == EXP_DROP) {
            drop_msg(sc, &m);
            continue;
        }
        sc->pkt_drop = false;
        b->parsed += MSG_HEADER + m.have;
        sc->pkt_left = m.total - MSG_HEADER - m.have;
        if (ended && expq_empty(&s->exp)) {
            uint64_t now = now_us();
            p->stats.query_us += now - s->query_start_us;
            if (c != NULL && expq_idle_boundary(&s->exp) &&
                ((p->mode == POOL_MODE_TRANSACTION && c->pin_mask == 0) || c->terminate_after_txn)) {
                release = true;
                break; /* the transaction is over: nothing after it belongs to this client */
            }
        }
    }
    if (c != NULL && expq_empty(&s->exp) && !expq_idle_boundary(&s->exp) && s->txn_idle_since_us == 0)
        s->txn_idle_since_us = now_us(); /* inside a transaction, waiting for the client */

    if (release)
        s->release_pending = true; /* done once the client has it all, maybe after a slow write */
    if (!server_forward(s, c))
        return;
    if (!release && c != NULL && !emit_synth(s))
        return;
    if (s->state == SV_RESET && expq_empty(&s->exp)) {
        conn_buf_release_if_empty(sc);
        pool_server_ready(s);
        return;
    }
    if (s->sync_finished && c != NULL) {
        s->sync_finished = false;
        /* the client's settings are in place (or were refused): its messages may go */
        if (c->login_check == LOGIN_CHECK_RUNNING) {
            client_login_check_done(c);
            return;
        }
        if (s->sync_failed) {
            char state[6];
            const char *msg = server_sync_error(s, state);
            client_fail(c, state, "%s", msg);
            return;
        }
        client_server_assigned(c);
    }
    if (s->release_pending) {
        s->release_pending = false;
        if (b->parsed < b->len) {
            /* Bytes after the end of the transaction answer nothing the client asked: the server's
             * FATAL as PostgreSQL shuts down, most likely. The client has its whole answer and keeps
             * its connection; the server, in a state wedpool cannot vouch for, is closed. */
            log_info("pool %s/%s: server %u: %u bytes after the end of a transaction (PostgreSQL ending the "
                     "session?); closing it, client %u unaffected", p->name, p->user, s->id, b->len - b->parsed,
                     c->id);
            pool_unlink(c, UNLINK_LOST);
            server_close(s, "bytes after the end of a transaction");
        } else {
            conn_buf_release_if_empty(sc);
            conn_want_read(sc, true);
            pool_unlink(c, UNLINK_RELEASE);
        }
        if (c->terminate_after_txn)
            client_fail(c, "57P01", "wedpool: terminating connection because the pooler is shutting down");
        else if (c->conn.buf != NULL && c->conn.buf->len > c->conn.buf->done)
            client_server_assigned(c); /* more requests already buffered */
        return;
    }
    if (b->done == b->len)
        conn_buf_release_if_empty(sc);
    else if (b->len == IOBUF_SIZE)
        iobuf_compact(b);
    conn_want_read(sc, true);
    if (c != NULL && c->ps_wait) {
        c->ps_wait = false; /* answers came: the Parse that waited for them goes on */
        client_pump(c);
    }
}
