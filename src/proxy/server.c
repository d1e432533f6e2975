/* server.c — server connections: connect, log in to PostgreSQL, relay results to the client. */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/dns.h>
#include <event2/util.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "backend.h"
#include "client.h"
#include "derive.h"
#include "msg.h"
#include "relay.h"
#include "log.h"
#include "loop.h"
#include "md5.h"
#include "passthrough.h"
#include "pool.h"
#include "runtime.h"
#include "scram.h"
#include "tls.h"

static void server_on_read(evutil_socket_t fd, short what, void *arg);
static void server_on_write(evutil_socket_t fd, short what, void *arg);
static void server_login_process(struct server *s);

bool server_is_tls(const struct server *s)
{
    return s->conn.ssl != NULL; /* a TLS session is set up once the server answered 'S' */
}

static bool server_flush(struct server *s);

/* Where a server connection is in negotiating TLS (before the startup packet). */
enum server_tls_step {
    SV_TLS_NONE,        /* plain, or TLS established */
    SV_TLS_ANSWER,      /* SSLRequest sent: exactly one byte, 'S' or 'N', may come */
    SV_TLS_HANDSHAKE,   /* 'S' received: the handshake runs */
};

static void server_login_failed(struct server *s, const char *sqlstate, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void server_login_failed(struct server *s, const char *sqlstate, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct pool *p = s->pool;
    struct backend *be = s->be;
    log_error("pool %s/%s: server login to %s failed: %s (SQLSTATE %s)", p->name, p->user, be->label, msg, sqlstate);
    backend_ref(be); /* s may be freed from server_close on */
    server_close(s, "login failed");
    pool_server_failed(p, be, sqlstate, msg);
    backend_unref(be);
}

struct server *server_launch(struct pool *p, struct backend *be)
{
    struct server *s = server_new(p);
    if (s == NULL)
        return NULL;
    s->be = be;
    backend_ref(be);
    p->stats.server_connects++;
    int fd = socket(be->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        server_login_failed(s, "08006", "socket: %s", strerror(errno));
        return NULL;
    }
    set_nonblocking_nodelay(fd, be->addr.ss_family != AF_UNIX, rt.cfg.tcp_keepalive_s);
    conn_setup(&s->conn, fd, server_on_read, server_on_write, s);
    s->connecting = true;
    if (connect(fd, (struct sockaddr *)&be->addr, be->addrlen) != 0 && errno != EINPROGRESS) {
        char target[400];
        server_login_failed(s, "08006", "could not connect to server %s: %s",
                            backend_target_text(be, target, sizeof(target)), strerror(errno));
        return NULL;
    }
    conn_want_write(&s->conn, true);
    log_debug("pool %s/%s: server %u connecting", p->name, p->user, s->id);
    return s;
}

bool server_idle_boundary(const struct server *s)
{
    return expq_idle_boundary(&s->exp) && s->sync_left == 0 && s->conn.pkt_left == 0 &&
           (s->conn.buf == NULL || s->conn.buf->len == s->conn.buf->done);
}

void server_close(struct server *s, const char *reason)
{
    if (s->state == SV_CLOSED)
        return;
    struct pool *p = s->pool;
    struct client *c = s->client;
    log_debug("pool %s/%s: closing server %u: %s", p->name, p->user, s->id, reason);
    if (c != NULL && s->conn.buf != NULL && s->conn.buf->done < s->conn.buf->parsed) {
        bool fatal; /* what the server said last (its FATAL error, say) still goes to the client */
        conn_forward(&s->conn, &c->conn, &fatal);
    }
    if (c != NULL)
        pool_unlink(c, UNLINK_LOST);
    conn_close(&s->conn);
    if (s->derive != NULL) {
        derive_cancel(s->derive); /* its callback will not run: s may be freed from here on */
        s->derive = NULL;
    }
    if (s->scram != NULL) {
        scram_client_free(s->scram);
        s->scram = NULL;
    }
    server_sync_clear(s);
    server_set_state(s, SV_CLOSED);
    if (c == NULL)
        return;
    if (s->fatal_sent)
        client_close(c); /* it has PostgreSQL's own error already */
    else
        client_fail(c, "08006", "wedpool: server connection lost (%s)", reason);
}

static void server_send_startup(struct server *s)
{
    struct pool *p = s->pool;
    struct pbuf *b = &s->conn.out;
    size_t m = pbuf_begin_msg(b, '\0');
    pbuf_put_u32(b, PROTO_V3);
    pbuf_put_str(b, "user");
    pbuf_put_str(b, p->user);
    pbuf_put_str(b, "database");
    pbuf_put_str(b, p->db.dbname);
    pbuf_put_u8(b, 0);
    pbuf_end_msg(b, m);
}

/* The effective sslmode towards this pool's server: the database line's, else server_tls_sslmode.
 * Unix sockets never use TLS (nor does libpq on them). */
static int server_tls_mode(const struct server *s)
{
    const struct pool *p = s->pool;
    if (s->be->host[0] == '/')
        return TLS_DISABLE;
    return p->db.sslmode >= 0 ? p->db.sslmode : rt.cfg.server_tls_sslmode;
}

/* Connected: SSLRequest first when TLS may be used, else the startup packet. allow is plain text
 * (wedpool does not retry with TLS when a server refuses plain text). */
static void server_begin(struct server *s)
{
    s->tls_mode = (uint8_t)server_tls_mode(s);
    if (s->tls_mode >= TLS_PREFER) {
        pbuf_put_u32(&s->conn.out, 8);
        pbuf_put_u32(&s->conn.out, PROTO_SSL_REQUEST);
        s->tls_step = SV_TLS_ANSWER;
        return;
    }
    server_send_startup(s);
}

/* Drives the TLS handshake with the server; once done, the startup packet goes through TLS. */
static void server_tls_handshake(struct server *s)
{
    enum io_result r = s->conn.ops->handshake(&s->conn);
    if (r == IO_WANT_READ || r == IO_WANT_WRITE) {
        conn_want_write(&s->conn, r == IO_WANT_WRITE);
        return;
    }
    if (r != IO_OK) {
        char target[400];
        server_login_failed(s, "08006", "TLS handshake with server %s failed (sslmode=%s): %s",
                            backend_target_text(s->be, target, sizeof(target)), config_tls_mode_name(s->tls_mode),
                            r == IO_EOF ? "the server closed the connection" : io_last_error());
        return;
    }
    s->tls_step = SV_TLS_NONE;
    log_debug("pool %s/%s: server %u: %s established", s->pool->name, s->pool->user, s->id, tls_version(&s->conn));
    server_send_startup(s);
    server_flush(s);
}

static void server_send_password_msg(struct server *s, const void *data, size_t len)
{
    size_t m = pbuf_begin_msg(&s->conn.out, 'p');
    pbuf_put(&s->conn.out, data, len);
    pbuf_end_msg(&s->conn.out, m);
}

static bool server_flush(struct server *s)
{
    bool fatal;
    if (conn_flush_out(&s->conn, &fatal))
        return true;
    if (fatal) {
        if (s->state == SV_LOGIN)
            server_login_failed(s, "08006", "write to server failed: %s", io_last_error());
        else
            server_close(s, "write to server failed");
    }
    return false;
}

/* Derives the SCRAM key here (a cache hit, or a count small enough for the loop) and sends
 * client-final-message. Returns false if the server was closed. */
static bool server_scram_send_final(struct server *s)
{
    char out[512];
    size_t out_len;
    const char *err = "SCRAM key derivation failed";
    if (!scram_client_derive(s->scram) || !scram_client_write_final(s->scram, out, sizeof(out), &out_len, &err)) {
        server_login_failed(s, "28000", "SCRAM exchange with server failed: %s", err);
        return false;
    }
    server_send_password_msg(s, out, out_len);
    return true;
}

/* A worker finished the key of a login in progress (derive.c; never called once server_close
 * cancelled the job): send client-final-message and go on with the login. */
static void server_key_derived(void *arg, bool ok, const uint8_t sp[SCRAM_KEY_LEN])
{
    struct server *s = arg;
    s->derive = NULL;
    if (!ok) {
        server_login_failed(s, "XX000", "SCRAM key derivation failed");
        return;
    }
    scram_client_set_key(s->scram, sp);
    if (!server_scram_send_final(s))
        return;
    server_login_process(s); /* flushes, and reads whatever came meanwhile */
}

/* Authentication request from the server during login. Returns false if the server was closed. */
static bool server_handle_auth(struct server *s, const uint8_t *body, size_t len)
{
    struct pool *p = s->pool;
    struct preader r;
    uint32_t code;
    preader_init(&r, body, len);
    if (!preader_u32(&r, &code)) {
        server_login_failed(s, "08P01", "malformed authentication request from server");
        return false;
    }
    if (code == 0)
        return true;
    if (code == 3 && !server_is_tls(s) && !rt.cfg.server_allow_cleartext) {
        /* A spoofed backend (or DNS entry) asks for the password in the clear to learn it. */
        char target[400];
        server_login_failed(s, "28000",
                            "server %s asks for the password in cleartext over a connection without TLS: refused "
                            "(set server_allow_cleartext = yes to allow it)",
                            backend_target_text(s->be, target, sizeof(target)));
        return false;
    }
    /* No plain password: md5 and SCRAM may still pass through (passthrough.c). */
    const char *missing = code == 3 || code == 5 || code == 10 ? passthrough_unavailable(p, code) : NULL;
    if (missing != NULL) {
        server_login_failed(s, "28P01", "user \"%s\": %s", p->user, missing);
        return false;
    }
    switch (code) {
    case 3: /* cleartext */
        server_send_password_msg(s, p->password, strlen(p->password) + 1);
        return true;
    case 5: { /* md5 */
        const uint8_t *salt;
        if (!preader_bytes(&r, 4, &salt)) {
            server_login_failed(s, "08P01", "malformed md5 request from server");
            return false;
        }
        char stored[MD5_PASSWD_LEN + 1], resp[MD5_PASSWD_LEN + 1];
        passthrough_md5_secret(p, stored);
        md5_salted_response(stored, salt, resp);
        server_send_password_msg(s, resp, sizeof(resp));
        return true;
    }
    case 10: { /* SASL: list of mechanisms */
        bool found = false;
        const char *mech;
        while (preader_str(&r, &mech) && mech[0] != '\0')
            if (strcmp(mech, "SCRAM-SHA-256") == 0)
                found = true;
        if (!found) {
            server_login_failed(s, "28000", "server offers no SASL mechanism wedpool supports (SCRAM-SHA-256)");
            return false;
        }
        s->scram = passthrough_scram_client(p);
        char out[256];
        size_t out_len;
        if (s->scram == NULL || !scram_client_first(s->scram, out, sizeof(out), &out_len)) {
            server_login_failed(s, "XX000", "SCRAM initialisation failed");
            return false;
        }
        size_t m = pbuf_begin_msg(&s->conn.out, 'p');
        pbuf_put_str(&s->conn.out, "SCRAM-SHA-256");
        pbuf_put_u32(&s->conn.out, (uint32_t)out_len);
        pbuf_put(&s->conn.out, out, out_len);
        pbuf_end_msg(&s->conn.out, m);
        return true;
    }
    case 11: { /* SASL continue: server-first-message, with the salt and the iteration count */
        const char *err = "unexpected SASL continue";
        int max = rt.cfg.server_scram_max_iterations;
        bool read = s->scram != NULL && scram_client_read_first(s->scram, (const char *)body + 4, len - 4, max, &err);
        if (s->scram != NULL && scram_client_iterations(s->scram) > 0)
            s->be->scram_iterations = scram_client_iterations(s->scram); /* for its health checks */
        if (!read) {
            char target[400];
            if (s->scram != NULL && scram_client_iterations(s->scram) > max)
                server_login_failed(s, "28000",
                                    "server %s asks for %d SCRAM iterations, more than server_scram_max_iterations=%d: "
                                    "refused",
                                    backend_target_text(s->be, target, sizeof(target)), scram_client_iterations(s->scram),
                                    max);
            else
                server_login_failed(s, "28000", "SCRAM exchange with server failed: %s", err);
            return false;
        }
        /* A few milliseconds at most on the loop: a cached key, or a small count. Anything
         * costlier goes to a worker; the server stays in login meanwhile. */
        if (scram_client_key_cached(s->scram) || scram_client_iterations(s->scram) <= DERIVE_INLINE_MAX_ITERATIONS)
            return server_scram_send_final(s);
        const char *password;
        const uint8_t *salt;
        size_t salt_len;
        int iterations;
        scram_client_derive_input(s->scram, &password, &salt, &salt_len, &iterations);
        s->derive = derive_start(password, salt, salt_len, iterations, server_key_derived, s);
        if (s->derive == NULL) {
            server_login_failed(s, "53200", "could not start the SCRAM key derivation worker");
            return false;
        }
        log_debug("pool %s/%s: server %u: %d SCRAM iterations, deriving the key on a worker", p->name, p->user, s->id,
                  iterations);
        return true;
    }
    case 12: { /* SASL final */
        const char *err = "unexpected SASL final";
        if (s->scram == NULL || !scram_client_verify(s->scram, (const char *)body + 4, len - 4, &err)) {
            server_login_failed(s, "28000", "server's SCRAM signature is wrong: %s", err);
            return false;
        }
        scram_client_free(s->scram);
        s->scram = NULL;
        return true;
    }
    default:
        server_login_failed(s, "28000", "server asks for authentication method %u, which wedpool does not support",
                            code);
        return false;
    }
}

/* Login phase: every message is read whole. */
static void server_login_process(struct server *s)
{
    struct pool *p = s->pool;
    struct iobuf *b = s->conn.buf;
    if (s->derive != NULL && b != NULL && b->parsed < b->len) {
        /* PostgreSQL says nothing until it has our client-final-message */
        server_login_failed(s, "08P01", "server sent data before wedpool's SCRAM response");
        return;
    }
    while (b != NULL && b->parsed < b->len) {
        struct msg m;
        enum msg_status st = msg_next(b->data + b->parsed, b->len - b->parsed, IOBUF_SIZE - 1, &m);
        if (st == MSG_NEED_MORE)
            break;
        if (st != MSG_OK) {
            server_login_failed(s, "08P01", "invalid message length %u from server during login",
                                proto_get_u32(b->data + b->parsed + 1));
            return;
        }
        if (!m.whole) {
            iobuf_compact(b);
            break;
        }
        const uint8_t *body = m.body;
        size_t blen = msg_body_len(&m);
        b->parsed += m.total;
        b->done = b->parsed;
        switch (m.type) {
        case 'R':
            if (!server_handle_auth(s, body, blen))
                return;
            if (s->derive != NULL && b->parsed < b->len) {
                server_login_failed(s, "08P01", "server sent data before wedpool's SCRAM response");
                return;
            }
            break;
        case 'S': {
            struct preader r;
            const char *name, *value;
            preader_init(&r, body, blen);
            if (s->base.n >= PARAMS_MAX) {
                server_login_failed(s, "08P01", "server reports more than %d parameters", PARAMS_MAX);
                return;
            }
            if (preader_str(&r, &name) && preader_str(&r, &value)) {
                params_set(&s->base, name, value);
                params_set(&s->params, name, value);
                if (!p->welcome_ready)
                    params_set(&p->welcome, name, value);
            }
            break;
        }
        case 'K': {
            struct preader r;
            preader_init(&r, body, blen);
            if (!preader_u32(&r, &s->be_pid) || !preader_u32(&r, &s->be_key)) {
                server_login_failed(s, "08P01", "malformed BackendKeyData from server");
                return;
            }
            break;
        }
        case 'E': {
            struct error_fields ef;
            proto_parse_error(body, blen, &ef);
            char state[6];
            strlcpy_ok(state, ef.sqlstate, sizeof(state));
            server_login_failed(s, state, "%s", ef.message);
            return;
        }
        case 'N':
            break;
        case 'Z':
            if (blen != 1) {
                server_login_failed(s, "08P01", "ReadyForQuery of length %u from server", m.total - 1);
                return;
            }
            s->exp.txn = (char)body[0];
            p->welcome_ready = true;
            p->last_fail_us = 0;
            backend_succeeded(s->be);
            log_debug("pool %s/%s: server %u logged in (pid %u)", p->name, p->user, s->id, s->be_pid);
            conn_buf_release_if_empty(&s->conn);
            pool_server_ready(s);
            return;
        default:
            server_login_failed(s, "08P01", "unexpected message 0x%02x from server during login", m.type);
            return;
        }
    }
    if (!server_flush(s))
        return;
    conn_buf_release_if_empty(&s->conn);
}

/* The server's answer to SSLRequest: one byte, and nothing after it (bytes before the handshake
 * would be read as if they came through TLS: the mirror of client buffer stuffing). */
static void server_tls_answer(struct server *s)
{
    struct iobuf *b = s->conn.buf;
    uint32_t n = b->len - b->parsed;
    uint8_t answer = b->data[b->parsed];
    if (n != 1) {
        server_login_failed(s, "08P01", "server sent %u bytes in answer to SSLRequest (expected one)", n);
        return;
    }
    b->parsed = b->done = b->len;
    conn_buf_release_if_empty(&s->conn);
    if (answer == 'S') {
        char err[256];
        if (!tls_connect(&s->conn, s->be->host, s->tls_mode, err, sizeof(err))) {
            server_login_failed(s, "08006", "%s", err);
            return;
        }
        s->tls_step = SV_TLS_HANDSHAKE;
        server_tls_handshake(s);
        return;
    }
    if (answer == 'N' && s->tls_mode < TLS_REQUIRE) {
        s->tls_step = SV_TLS_NONE; /* prefer: go on in plain text, as libpq does */
        server_send_startup(s);
        server_flush(s);
        return;
    }
    if (answer == 'N')
        server_login_failed(s, "08006", "server does not support TLS, and sslmode=%s requires it",
                            config_tls_mode_name(s->tls_mode));
    else
        server_login_failed(s, "08P01", "unexpected answer 0x%02x to SSLRequest from server", answer);
}

static void server_on_read(evutil_socket_t fd, short what, void *arg)
{
    struct server *s = arg;
    if (s->tls_step == SV_TLS_HANDSHAKE) {
        server_tls_handshake(s);
        return;
    }
    size_t n;
    enum io_result r = conn_fill(&s->conn, &n);
    if (r == IO_EOF || r == IO_ERROR) {
        if (s->state == SV_LOGIN) {
            if (r == IO_EOF)
                server_login_failed(s, "08006", "server closed the connection during login");
            else
                server_login_failed(s, "08006", "server closed the connection during login (read error: %s)",
                                    io_last_error());
            return;
        }
        server_close(s, r == IO_EOF ? "server closed the connection" : "read error from server");
        return;
    }
    if (n == 0 && (s->conn.buf == NULL || s->conn.buf->len == s->conn.buf->parsed))
        return;
    if (s->tls_step == SV_TLS_ANSWER)
        server_tls_answer(s);
    else if (s->state == SV_LOGIN)
        server_login_process(s);
    else
        server_pump(s);
}

static void server_on_write(evutil_socket_t fd, short what, void *arg)
{
    struct server *s = arg;
    s->conn.writing = false;
    if (s->connecting) {
        int err = 0;
        socklen_t len = sizeof(err);
        s->connecting = false;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            char target[400];
            server_login_failed(s, "08006", "could not connect to server %s: %s",
                                backend_target_text(s->be, target, sizeof(target)), strerror(err ? err : errno));
            return;
        }
        server_begin(s);
        conn_want_read(&s->conn, true);
    }
    if (s->tls_step == SV_TLS_HANDSHAKE) {
        server_tls_handshake(s);
        return;
    }
    if (!server_flush(s))
        return;
    /* Output drained: resume relaying the client's messages to us. */
    if (s->client != NULL)
        client_pump(s->client);
}

/* Queues a simple query of wedpool's own; its answers are dropped. */
static bool server_send_own_query(struct server *s, const char *sql, enum exp_tag tag, uint16_t arg)
{
    size_t m = pbuf_begin_msg(&s->conn.out, 'Q');
    pbuf_put_str(&s->conn.out, sql);
    pbuf_end_msg(&s->conn.out, m);
    return !s->conn.out.failed && expq_push(&s->exp, EXP_QUERY, tag, true, arg);
}

void server_send_internal_query(struct server *s, const char *sql)
{
    if (!server_send_own_query(s, sql, EXP_TAG_INTERNAL, 0))
        s->close_needed = true;
}

void server_sync_clear(struct server *s)
{
    for (int i = 0; i < s->nsync; i++) {
        free(s->sync[i].name);
        free(s->sync[i].value);
    }
    free(s->sync);
    s->sync = NULL;
    s->nsync = 0;
    s->sync_left = 0;
}

/* Records a startup parameter's verdict for the pool: clients asking for the same value later are
 * admitted or refused without a round trip. */
static void pool_record_verdict(struct pool *p, const char *name, const char *value, const char *verdict)
{
    char key[WP_NAME_MAX * 2 + 2];
    snprintf(key, sizeof(key), "%s=%s", name, value);
    if (p->verdicts.n >= PARAMS_MAX)
        params_free(&p->verdicts); /* bounded: start over rather than grow */
    params_set(&p->verdicts, key, verdict);
}

const char *server_param_verdict(struct pool *p, const char *name, const char *value)
{
    char key[WP_NAME_MAX * 2 + 2];
    if (snprintf(key, sizeof(key), "%s=%s", name, value) >= (int)sizeof(key))
        return NULL;
    return params_get(&p->verdicts, key);
}

void server_param_set_done(struct server *s, uint16_t idx, bool ok)
{
    if (idx >= s->nsync || s->sync_left == 0)
        return;
    struct param_change_owned *ch = &s->sync[idx];
    if (ok) {
        const char *v = ch->value != NULL ? ch->value : params_get(&s->base, ch->name);
        if (v != NULL)
            params_set(&s->params, ch->name, v);
        else
            params_remove(&s->params, ch->name);
        if (ch->value != NULL)
            pool_record_verdict(s->pool, ch->name, ch->value, "");
    } else {
        /* PostgreSQL rolled the failed SET back: the server keeps its recorded value. */
        s->sync_failed = true;
        if (ch->value != NULL && s->sync_error[0] != '\0')
            pool_record_verdict(s->pool, ch->name, ch->value, s->sync_error);
    }
    if (--s->sync_left > 0)
        return;
    if (!s->sync_failed && s->client != NULL)
        s->synced_sig = s->client->params_sig;
    for (int i = 0; i < s->nsync; i++) {
        free(s->sync[i].name);
        free(s->sync[i].value);
    }
    s->nsync = 0;
    s->sync_finished = true;
}

const char *server_sync_error(const struct server *s, char state[6])
{
    const char *tab = strchr(s->sync_error, '\t');
    if (tab == NULL) {
        strlcpy_ok(state, "08P01", 6);
        return "wedpool: a session parameter could not be set on the server";
    }
    snprintf(state, 6, "%.*s", (int)(tab - s->sync_error), s->sync_error);
    return tab + 1;
}

bool server_sync_params(struct server *s, struct client *c)
{
    s->sync_failed = false;
    /* Fast path: the server already holds exactly this client's kind of session. */
    if (s->synced_sig != 0 && s->synced_sig == c->params_sig)
        return true;
    struct param_change ch[PARAMS_MAX * 2];
    int n = params_sync_plan(&c->params, &s->params, &s->base, ch, (int)ARRAY_SIZE(ch));
    s->synced_sig = 0;
    s->sync_error[0] = '\0';
    if (n <= 0) {
        if (n == 0)
            s->synced_sig = c->params_sig;
        return n == 0;
    }
    server_sync_clear(s);
    s->sync = calloc((size_t)n, sizeof(*s->sync));
    if (s->sync == NULL)
        return false;
    log_debug("server %u: syncing %d parameter(s) for client %u", s->id, n, c->id);
    /* One Query per SET: each is its own implicit transaction, so one refused value neither undoes
     * the others nor leaves wedpool's record of the server wrong. */
    for (int i = 0; i < n; i++) {
        char sql[WP_NAME_MAX * 4 + 64];
        struct param_change_owned *o = &s->sync[i];
        o->name = strdup(ch[i].name);
        o->value = ch[i].value != NULL ? strdup(ch[i].value) : NULL;
        s->nsync = i + 1;
        if (o->name == NULL || (ch[i].value != NULL && o->value == NULL) ||
            !params_set_sql(ch[i].name, ch[i].value, sql, sizeof(sql)) ||
            !server_send_own_query(s, sql, EXP_TAG_PARAM, (uint16_t)i))
            return false;
        s->sync_left++;
    }
    return true;
}

void server_reset(struct server *s)
{
    s->query_start_us = now_us(); /* the janitor closes a reset that never answers */
    if (!server_send_own_query(s, rt.cfg.server_reset_query, EXP_TAG_RESET, 0)) {
        server_close(s, "out of memory");
        return;
    }
    /* DISCARD ALL resets every session parameter to its default, and drops prepared statements. */
    ps_server_free(s->ps);
    s->ps = NULL;
    params_free(&s->params);
    params_copy(&s->params, &s->base);
    s->synced_sig = 0;
    server_flush(s);
}

void server_check(struct server *s)
{
    log_debug("pool %s/%s: checking server %u, idle for %llu ms", s->pool->name, s->pool->user, s->id,
              (unsigned long long)(elapsed_us(now_us(), s->idle_since_us) / 1000u));
    s->query_start_us = now_us(); /* the janitor closes a check that never answers */
    /* EXP_TAG_RESET: an error, or no answer before the connection ends, closes it instead of handing it out */
    if (!server_send_own_query(s, rt.cfg.server_check_query, EXP_TAG_RESET, 0)) {
        server_close(s, "out of memory");
        return;
    }
    server_flush(s);
}
