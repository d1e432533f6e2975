/* client.c — client connections: startup, authentication, relaying queries to the server. */
#include "client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <unistd.h>

#include "admin.h"
#include "auth_query.h"
#include "cancel.h"
#include "cidr.h"
#include "client_hba.h"
#include "intern.h"
#include "log.h"
#include "md5.h"
#include "metrics.h"
#include "msg.h"
#include "negotiate.h"
#include "passthrough.h"
#include "pin_session.h"
#include "pool.h"
#include "relay.h"
#include "runtime.h"
#include "scram.h"
#include "server.h"
#include "tls.h"

enum login_step { LS_STARTUP, LS_AUTH_QUERY, LS_MD5, LS_SASL_INIT, LS_SASL_FINAL };

/* Everything only a logging-in client needs; freed when the login ends. */
struct login {
    enum login_step step;
    bool is_admin;
    int auth_type;              /* enum wp_auth_type for this client: hba_file's rule, else auth_type */
    bool bad_user;              /* unknown user or no usable secret: fail after the exchange */
    uint8_t salt[4];
    char md5[MD5_PASSWD_LEN + 1];
    bool ssl_asked, gss_asked;  /* each may be asked once, as PostgreSQL allows */
    bool tls_handshaking;       /* the TLS handshake runs on the loop; nothing is parsed meanwhile */
    bool tls_direct;            /* TLS began without SSLRequest (sslnegotiation=direct): ALPN required */
    char requested_lane[64];    /* options=-c wedpool.lane=NAME, stripped before any server sees it */
    struct scram_server *scram;
    /* auth_query (auth_query.c): the lookup of a user auth_file does not know; LS_AUTH_QUERY while
     * it runs (nothing the client sends is read), aq_done once answered */
    bool aq_done;
    struct aq_waiter aq;
};

static void client_on_read(evutil_socket_t fd, short what, void *arg);
static void client_on_write(evutil_socket_t fd, short what, void *arg);

static void login_free(struct client *c)
{
    if (c->login == NULL)
        return;
    if (c->login->scram != NULL)
        scram_server_free(c->login->scram);
    auth_query_cancel(&c->login->aq);
    explicit_bzero(c->login, sizeof(*c->login));
    free(c->login);
    c->login = NULL;
}

/* Connections are counted against max_client_conn from accept. Past it, a connection may still log
 * in to the console as an admin_users member (others are refused after their startup packet); past
 * max_client_conn + ADMIN_RESERVE_CONN, connections are refused at accept. */
#define ADMIN_RESERVE_CONN 3
#define TOO_MANY_FMT "sorry, too many clients already (wedpool max_client_conn=%d)"

/* Refuses a connection before spending anything on it: one ErrorResponse, best effort, and close.
 * A connection flood is what brings us here, so at most one log line a second. */
static void client_refuse_at_accept(int fd)
{
    static uint64_t last_log_us, refused;
    refused++;
    uint64_t now = now_us();
    if (last_log_us == 0 || elapsed_us(now, last_log_us) >= 1000000) {
        log_warn("refused %llu connection%s at accept: max_client_conn=%d plus %d admin slots in use",
                 (unsigned long long)refused, refused == 1 ? "" : "s", rt.cfg.max_client_conn, ADMIN_RESERVE_CONN);
        last_log_us = now;
        refused = 0;
    }
    metrics_count_error("53300");
    struct pbuf b;
    pbuf_init(&b);
    proto_error(&b, "FATAL", "53300", TOO_MANY_FMT, rt.cfg.max_client_conn);
    if (send(fd, b.data, b.len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
        log_debug("refusing a connection: %s", strerror(errno));
    pbuf_free(&b);
    close(fd);
}

void client_accept(int fd, const struct sockaddr *sa, socklen_t salen)
{
    if (clients_total() >= rt.cfg.max_client_conn + ADMIN_RESERVE_CONN) {
        client_refuse_at_accept(fd);
        return;
    }
    struct client *c = client_new(fd);
    if (c == NULL) {
        log_error("out of memory accepting a client");
        close(fd);
        return;
    }
    c->login = calloc(1, sizeof(*c->login));
    if (c->login == NULL) {
        log_error("out of memory accepting a client");
        close(fd);
        c->conn.fd = -1;
        client_set_state(c, CL_CLOSED);
        return;
    }
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, c->addr, sizeof(c->addr));
        c->port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, c->addr, sizeof(c->addr));
        c->port = ntohs(in6->sin6_port);
    } else {
        strlcpy_ok(c->addr, "unix", sizeof(c->addr));
    }
    set_nonblocking_nodelay(fd, sa->sa_family != AF_UNIX, rt.cfg.tcp_keepalive_s);
    conn_setup(&c->conn, fd, client_on_read, client_on_write, c);
    c->conn.out_shrink = true;
    if (clients_total() > rt.cfg.max_client_conn)
        c->reject_too_many = true;
    conn_want_read(&c->conn, true);
}

void client_close(struct client *c)
{
    if (c->state == CL_CLOSED)
        return;
    struct server *s = c->server;
    /* a message half-forwarded, or anything still owed: the server cannot serve anyone else */
    bool clean = s != NULL && server_idle_boundary(s) && c->conn.pkt_left == 0;
    conn_close(&c->conn);
    login_free(c);
    client_set_state(c, CL_CLOSED);
    if (s != NULL)
        pool_unlink(c, clean ? UNLINK_RELEASE : UNLINK_CLOSE);
    pin_client_gone(c);
}

void client_fail(struct client *c, const char *sqlstate, const char *fmt, ...)
{
    if (c->state == CL_CLOSED)
        return;
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (sqlstate != NULL) {
        metrics_count_error(sqlstate);
        log_info("client %u (%s:%u %s/%s): %s (SQLSTATE %s)", c->id, c->addr, c->port, c->database, c->user, msg,
                 sqlstate);
        /* Whatever is half-sent must not be followed by a message of ours. */
        if (c->conn.out_sent == 0 || c->conn.out_sent == c->conn.out.len) {
            proto_error(&c->conn.out, "FATAL", sqlstate, "%s", msg);
            bool fatal;
            conn_flush_out(&c->conn, &fatal); /* best effort: the connection closes now */
        }
    }
    client_close(c);
}

void client_flush(struct client *c)
{
    bool fatal;
    if (!conn_flush_out(&c->conn, &fatal) && fatal)
        client_close(c);
}

static void client_protocol_error(struct client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void client_protocol_error(struct client *c, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    client_fail(c, "08P01", "wedpool: protocol violation: %s", msg);
}

/* ---------------------------------------------------------------- login */

static bool keep_option(void *arg, const char *name, const char *value)
{
    struct client *c = arg;
    if (strcmp(name, "wedpool.lane") == 0)
        return strlcpy_ok(c->login->requested_lane, value, sizeof(c->login->requested_lane));
    if (c->params.n >= PARAMS_MAX || strlen(name) >= WP_NAME_MAX || strlen(value) >= WP_NAME_MAX)
        return false;
    return params_set(&c->params, name, value);
}

/* Puts the client in its lane: by rules, or by its own request if the config allows it. */
static bool client_choose_lane(struct client *c)
{
    const struct lanes_conf *lc = &rt.cfg.lanes;
    struct sockaddr_storage ss;
    const struct sockaddr *sa = cidr_sockaddr(c->addr, &ss);
    c->lane = (uint8_t)lanes_classify(lc, c->user, c->database, params_get(&c->params, "application_name"), sa);
    const char *want = c->login->requested_lane;
    if (want[0] == '\0')
        return true;
    int idx = lanes_find(lc, want);
    if (idx < 0) {
        client_fail(c, "22023", "wedpool: unknown lane \"%s\" requested in options", want);
        return false;
    }
    if (!lanes_user_may_request(&lc->lanes[idx], c->user)) {
        client_fail(c, "42501", "wedpool: user \"%s\" is not allowed to use lane \"%s\"", c->user, want);
        return false;
    }
    c->lane = (uint8_t)idx;
    return true;
}

static void send_auth_ok(struct client *c)
{
    proto_auth(&c->conn.out, 0, NULL, 0);
}

/* Startup parameters are judged as PostgreSQL judges them at login: a value the server refuses
 * (unknown name 42704, bad value 22023, read-only 55P02) refuses the client with the server's own
 * error. Each distinct value is tried on a server once; the pool remembers the verdict. Returns
 * false when the client was refused or must wait for a server's verdict. */
static bool client_params_judged(struct client *c)
{
    if (c->login_check != LOGIN_CHECK_NONE)
        return true;
    bool unknown = false;
    for (int i = 0; i < c->params.n; i++) {
        const char *name = c->params.items[i].name, *value = c->params.items[i].value;
        if (strcasecmp(name, "application_name") == 0)
            continue; /* any string is accepted */
        if (params_is_read_only(name)) {
            client_fail(c, "55P02", "parameter \"%s\" cannot be changed", name);
            return false;
        }
        const char *v = server_param_verdict(c->pool, name, value);
        if (v == NULL) {
            unknown = true;
        } else if (v[0] != '\0') {
            const char *tab = strchr(v, '\t');
            char state[6];
            snprintf(state, sizeof(state), "%.*s", tab != NULL ? (int)(tab - v) : 5, v);
            client_fail(c, state, "%s", tab != NULL ? tab + 1 : v);
            return false;
        }
    }
    if (!unknown) {
        c->login_check = LOGIN_CHECK_DONE;
        return true;
    }
    c->login_check = LOGIN_CHECK_RUNNING;
    if (c->state == CL_LOGIN)
        client_set_state(c, CL_IDLE);
    if (pool_acquire(c) == ACQ_LINKED)
        client_server_assigned(c); /* the relay sees the SETs through, then client_login_check_done */
    return false;
}

void client_login_check_done(struct client *c)
{
    struct server *s = c->server;
    bool ok = s != NULL && !s->sync_failed;
    char state[6] = "08006";
    char msg[256] = "wedpool: server connection lost while checking startup parameters";
    if (s != NULL && !ok)
        snprintf(msg, sizeof(msg), "%s", server_sync_error(s, state));
    c->login_check = LOGIN_CHECK_DONE;
    if (s != NULL)
        pool_unlink(c, server_idle_boundary(s) ? UNLINK_RELEASE : UNLINK_CLOSE);
    if (!ok) {
        client_fail(c, state, "%s", msg);
        return;
    }
    client_finish_login(c);
}

void client_finish_login(struct client *c)
{
    struct pool *p = c->pool;
    c->params_sig = params_signature(&c->params);
    if (!client_params_judged(c))
        return;
    if (params_get(&c->params, "session_authorization") != NULL) {
        /* PostgreSQL checks a startup session_authorization (an unknown role is refused) but the
         * session stays the login user's: so here, once the server has judged it. */
        params_remove(&c->params, "session_authorization");
        c->params_sig = params_signature(&c->params);
    }
    struct pbuf *o = &c->conn.out;
    for (int i = 0; i < p->welcome.n; i++) {
        const char *name = p->welcome.items[i].name;
        const char *mine = params_get(&c->params, name);
        proto_param_status(o, name, mine != NULL ? mine : p->welcome.items[i].value);
    }
    proto_backend_key(o, c->id, c->cancel_key);
    proto_ready(o, 'I');
    if (c->state == CL_LOGIN)
        client_set_state(c, CL_IDLE);
    login_free(c);
    log_debug("client %u (%s:%u) logged in to %s as %s", c->id, c->addr, c->port, c->database, c->user);
    client_flush(c);
    if (c->state == CL_IDLE && c->conn.buf != NULL && c->conn.buf->len > c->conn.buf->done)
        client_pump(c);
}

/* Authentication succeeded: the console, or a pool. */
static void client_auth_ok(struct client *c)
{
    send_auth_ok(c);
    if (c->login->is_admin) {
        /* Membership is judged only now, after authentication: before it, a refusal would tell
         * anyone which names are admin or stats users (an unauthenticated client cannot tell an
         * unknown user from a non-member: both fail with 28P01 at the end of the exchange). */
        if (config_list_contains(rt.cfg.admin_users, c->user)) {
            c->stats_only = false;
        } else if (config_list_contains(rt.cfg.stats_users, c->user)) {
            c->stats_only = true;
        } else {
            client_fail(c, "28000", "user \"%s\" is not allowed to use the wedpool admin console", c->user);
            return;
        }
        login_free(c);
        client_set_state(c, CL_ADMIN);
        admin_welcome(c);
        return;
    }
    struct wp_database db;
    if (!config_resolve_db(&rt.cfg, c->database, &db)) {
        client_fail(c, "3D000", "database \"%s\" does not exist", c->database);
        return;
    }
    const char *err = NULL;
    struct pool *p = pool_get(&db, c->user, &err);
    if (p == NULL) {
        client_fail(c, "53200", "wedpool: cannot create pool: %s", err);
        return;
    }
    c->pool = p;
    passthrough_capture(p, c->user, c->login->scram, c->login->md5); /* server logins without a password */
    if (p->welcome_ready) {
        client_finish_login(c);
        return;
    }
    /* No server has logged in yet: wait for one to learn what to tell the client. */
    client_set_state(c, CL_IDLE);
    c->login_wait = true;
    if (pool_acquire(c) == ACQ_LINKED)
        log_fatal("client %u: linked while waiting for login parameters", c->id);
}

static void auth_failed(struct client *c)
{
    client_fail(c, "28P01", "password authentication failed for user \"%s\"", c->user);
}

/* ---- auth_query: a user auth_file does not know is looked up in PostgreSQL ---- */
static void client_login_process(struct client *c);
static void client_start_auth(struct client *c);

static void client_auth_query_done(struct aq_waiter *w)
{
    struct client *c = w->arg;
    if (c->state != CL_LOGIN || c->login == NULL || c->login->step != LS_AUTH_QUERY)
        return;
    c->login->aq_done = true;
    c->login->step = LS_STARTUP;
    client_start_auth(c);
    if (c->state == CL_LOGIN)
        client_login_process(c); /* anything the client sent meanwhile */
}

/* Fills *u from auth_query for a user auth_file does not know. Returns false when the login is
 * suspended until the answer (LS_AUTH_QUERY) or was refused; *found tells whether u is usable. */
static bool client_auth_query(struct client *c, struct wp_user **found)
{
    struct login *l = c->login;
    *found = NULL;
    if (!l->aq_done) {
        struct wp_database db;
        if (!config_resolve_db(&rt.cfg, c->database, &db)) {
            client_fail(c, "3D000", "database \"%s\" does not exist", c->database);
            return false;
        }
        auth_query_waiter_init(&l->aq, client_auth_query_done, c);
        if (auth_query_lookup(&db, c->user, &l->aq) == AQ_PENDING) {
            l->step = LS_AUTH_QUERY;
            return false;
        }
        l->aq_done = true;
    }
    if (l->aq.status == AQ_FAILED) {
        client_fail(c, "08006", "wedpool: cannot look up user \"%s\" with auth_query: %s", c->user, l->aq.error);
        return false;
    }
    if (l->aq.status == AQ_FOUND)
        *found = &l->aq.user;
    return true;
}
/* ---- end auth_query ---- */

static void client_start_auth(struct client *c)
{
    struct login *l = c->login;
    const struct wp_config *cfg = &rt.cfg;
    if (l->auth_type == AUTH_TRUST) {
        client_auth_ok(c);
        return;
    }
    const struct wp_user *u = config_find_user(cfg, c->user);
    if (u == NULL && !l->is_admin && auth_query_enabled()) {
        struct wp_user *found;
        if (!client_auth_query(c, &found))
            return;
        u = found;
    }
    /* The method must not depend on whether the user exists (user enumeration): with
     * scram-sha-256 an unknown user, or one with no usable secret, gets SCRAM like a real user (a
     * mock salt from the name under a per-process key, the default iteration count, the same
     * 28P01 at the end: PostgreSQL's scram_mock_salt). A known user whose only secret is md5 keeps
     * md5 (SCRAM cannot be checked against it): that says "this name has an md5 secret", never
     * "this name does not exist". With md5 (from auth_type or an hba rule), a user with only a
     * SCRAM secret gets SCRAM, as in PostgreSQL. */
    bool md5_only = u != NULL && !u->has_scram && u->md5[0] != '\0';
    bool use_scram = l->auth_type == AUTH_SCRAM ? !md5_only : u != NULL && u->md5[0] == '\0' && u->has_scram;
    if (use_scram) {
        l->scram = u != NULL && u->has_scram ? scram_server_new(&u->scram) : scram_server_new_mock(c->user);
        if (l->scram == NULL) {
            client_fail(c, "53200", "out of memory");
            return;
        }
        static const char mech[] = "SCRAM-SHA-256\0";
        proto_auth(&c->conn.out, 10, mech, sizeof(mech));
        l->step = LS_SASL_INIT;
    } else {
        /* md5 (configured, or the only secret a SCRAM-configured user has). */
        if (u == NULL || u->md5[0] == '\0')
            l->bad_user = true;
        else
            memcpy(l->md5, u->md5, sizeof(l->md5));
        uint32_t r = random_u32();
        memcpy(l->salt, &r, 4);
        proto_auth(&c->conn.out, 5, l->salt, 4);
        l->step = LS_MD5;
    }
    client_flush(c);
}

/* The startup packet of a new session. */
static void client_startup(struct client *c, const struct startup_packet *sp)
{
    struct login *l = c->login;
    const char *user = startup_get(sp, "user");
    const char *database = startup_get(sp, "database");
    if (user == NULL || user[0] == '\0') {
        client_fail(c, "28000", "no PostgreSQL user name specified in startup packet");
        return;
    }
    if (database == NULL || database[0] == '\0')
        database = user;
    if (strlen(user) >= WP_NAME_MAX || strlen(database) >= WP_NAME_MAX) {
        client_fail(c, "08P01", "user or database name too long");
        return;
    }
    const char *u = intern_get(user), *d = intern_get(database);
    if (u == NULL || d == NULL) {
        intern_put(u);
        intern_put(d);
        client_fail(c, "53200", "out of memory");
        return;
    }
    c->user = u;
    c->database = d;
    if (c->reject_too_many &&
        !(strcmp(c->database, "wedpool") == 0 && config_list_contains(rt.cfg.admin_users, c->user))) {
        log_warn("client %u (%s:%u): refused, max_client_conn=%d reached", c->id, c->addr, c->port,
                 rt.cfg.max_client_conn);
        client_fail(c, "53300", TOO_MANY_FMT, rt.cfg.max_client_conn);
        return;
    }
    if (rt.shutting_down) {
        client_fail(c, "57P01", "wedpool is shutting down");
        return;
    }
    for (int i = 0; i < sp->nparams; i++) {
        const char *name = sp->params[i].name, *value = sp->params[i].value;
        if (strcmp(name, "replication") == 0 && strcmp(value, "false") != 0 && strcmp(value, "0") != 0) {
            client_fail(c, "08P01", "wedpool does not pool replication connections");
            return;
        }
        if (strcmp(name, "options") == 0) {
            if (!params_parse_options(value, keep_option, c)) {
                client_fail(c, "08P01", "unsupported startup options \"%s\": only -c name=value is supported", value);
                return;
            }
        } else if (params_is_tracked_startup(name)) {
            params_set(&c->params, name, value);
        }
    }
    int auth_type = client_hba_auth_type(c);
    if (auth_type < 0)
        return; /* refused: c->login is gone */
    l->auth_type = auth_type;
    if (strcmp(c->database, "wedpool") == 0) {
        l->is_admin = true; /* admin_users / stats_users membership: after authentication (client_auth_ok) */
    } else {
        struct wp_database db;
        if (!config_resolve_db(&rt.cfg, c->database, &db)) {
            client_fail(c, "3D000", "database \"%s\" does not exist", c->database);
            return;
        }
        if (!client_choose_lane(c))
            return;
    }
    client_start_auth(c);
}

static void client_password_msg(struct client *c, const uint8_t *body, size_t len)
{
    struct login *l = c->login;
    char out[512];
    size_t out_len = 0;
    const char *err = NULL;
    switch (l->step) {
    case LS_MD5: {
        char want[MD5_PASSWD_LEN + 1];
        if (l->bad_user || len != MD5_PASSWD_LEN + 1 || body[MD5_PASSWD_LEN] != 0) {
            auth_failed(c);
            return;
        }
        md5_salted_response(l->md5, l->salt, want);
        if (!scram_ct_equal(want, body, MD5_PASSWD_LEN)) {
            auth_failed(c);
            return;
        }
        client_auth_ok(c);
        return;
    }
    case LS_SASL_INIT: {
        struct preader r;
        const char *mech;
        uint32_t dlen;
        const uint8_t *data;
        preader_init(&r, body, len);
        if (!preader_str(&r, &mech) || !preader_u32(&r, &dlen) || dlen == 0xffffffffu ||
            !preader_bytes(&r, dlen, &data)) {
            client_protocol_error(c, "malformed SASLInitialResponse");
            return;
        }
        if (strcmp(mech, "SCRAM-SHA-256") != 0) {
            client_fail(c, "28000", "client selected an invalid SASL authentication mechanism");
            return;
        }
        if (!scram_server_first(l->scram, (const char *)data, dlen, out, sizeof(out), &out_len, &err)) {
            client_fail(c, "08P01", "malformed SCRAM message: %s", err);
            return;
        }
        proto_auth(&c->conn.out, 11, out, out_len);
        l->step = LS_SASL_FINAL;
        client_flush(c);
        return;
    }
    case LS_SASL_FINAL:
        if (!scram_server_final(l->scram, (const char *)body, len, out, sizeof(out), &out_len, &err)) {
            auth_failed(c);
            return;
        }
        proto_auth(&c->conn.out, 12, out, out_len);
        client_auth_ok(c);
        return;
    case LS_STARTUP:
    case LS_AUTH_QUERY:
        break;
    }
    client_protocol_error(c, "unexpected password message");
}

/* Drives the TLS handshake with the client; true once it is done and the login may go on. */
static bool client_tls_handshake(struct client *c)
{
    enum io_result r = c->conn.ops->handshake(&c->conn);
    if (r == IO_WANT_READ || r == IO_WANT_WRITE) {
        conn_want_write(&c->conn, r == IO_WANT_WRITE);
        return false;
    }
    if (r != IO_OK) {
        /* nothing can be said to a peer that does not speak TLS with us */
        log_info("client %u (%s:%u): TLS handshake failed: %s", c->id, c->addr, c->port,
                 r == IO_EOF ? "the client closed the connection" : io_last_error());
        client_close(c);
        return false;
    }
    c->login->tls_handshaking = false;
    if (c->login->tls_direct && !tls_alpn_postgresql(&c->conn)) {
        client_protocol_error(c, "direct TLS connection without ALPN protocol \"postgresql\"");
        return false;
    }
    log_debug("client %u (%s:%u): %s established%s", c->id, c->addr, c->port, tls_version(&c->conn),
              c->login->tls_direct ? " (direct)" : "");
    return true;
}

/* Starts TLS on the client connection: prefix holds handshake bytes already read (direct TLS). */
static void client_start_tls(struct client *c, const uint8_t *prefix, size_t n, bool direct)
{
    if (!tls_accept(&c->conn, prefix, n)) {
        client_fail(c, "53200", "out of memory");
        return;
    }
    c->login->tls_handshaking = true;
    c->login->tls_direct = direct;
    if (client_tls_handshake(c))
        event_active(&c->conn.rev, EV_READ, 0); /* the startup packet may be there already */
}

/* client_tls_sslmode=verify-full: the certificate's CN must be the user name, as PostgreSQL's
 * clientcert=verify-full. False if the client was refused. */
static bool client_cert_matches(struct client *c, const struct startup_packet *sp)
{
    if (c->conn.ssl == NULL || rt.cfg.client_tls_sslmode != TLS_VERIFY_FULL)
        return true;
    const char *user = startup_get(sp, "user");
    char cn[256];
    if (user != NULL && tls_peer_cn(&c->conn, cn, sizeof(cn)) && strcmp(cn, user) == 0)
        return true;
    client_fail(c, "28000", "certificate validation (client_tls_sslmode=verify-full) failed for user \"%s\": CN "
                "mismatch", user != NULL ? user : "");
    return false;
}

static void client_login_process(struct client *c)
{
    struct iobuf *b = c->conn.buf;
    while (c->state == CL_LOGIN && !c->login->tls_handshaking && b != NULL && b->len > b->parsed) {
        uint32_t avail = b->len - b->parsed;
        const uint8_t *p = b->data + b->parsed;
        if (c->login->step == LS_AUTH_QUERY)
            break; /* nothing is read until auth_query answers */
        if (c->login->step == LS_STARTUP) {
            bool tcp = strcmp(c->addr, "unix") != 0;
            struct neg_state ns = {
                .tls_offered = tcp && rt.cfg.client_tls_sslmode != TLS_DISABLE && tls_accept_ready(),
                .tls_required = tcp && rt.cfg.client_tls_sslmode >= TLS_REQUIRE,
                .in_tls = c->conn.ssl != NULL,
                .ssl_asked = c->login->ssl_asked,
                .gss_asked = c->login->gss_asked,
            };
            uint32_t len;
            enum neg_action act = negotiate_next(&ns, p, avail, PROTO_MAX_STARTUP, &len);
            const char *what = len >= 8 && proto_get_u32(p + 4) == PROTO_SSL_REQUEST ? "SSLRequest" : "GSSENCRequest";
            switch (act) {
            case NEG_NEED_MORE:
                goto out;
            case NEG_DIRECT_TLS:
                b->parsed = b->done = b->len; /* the ClientHello's start goes to OpenSSL */
                client_start_tls(c, p, avail, true);
                goto out;
            case NEG_DIRECT_REFUSED:
                client_protocol_error(c, "direct TLS connection, but TLS is not enabled (client_tls_sslmode=%s)",
                                      config_tls_mode_name(rt.cfg.client_tls_sslmode));
                return;
            case NEG_STUFFED:
                /* bytes sent before our answer would be read as if they came after the
                 * negotiation (CVE-2021-23214, buffer stuffing) */
                client_protocol_error(c, "data after %s and before its answer", what);
                return;
            case NEG_REPEATED:
                client_protocol_error(c, "%s sent twice", what);
                return;
            case NEG_BAD_LENGTH:
                client_protocol_error(c, "invalid length of startup packet (%u bytes)", proto_get_u32(p));
                return;
            case NEG_PLAIN_REFUSED:
                client_fail(c, "28000", "wedpool: TLS is required (client_tls_sslmode=%s): connect with sslmode=require",
                            config_tls_mode_name(rt.cfg.client_tls_sslmode));
                return;
            case NEG_SSL_ACCEPT:
            case NEG_SSL_DECLINE:
            case NEG_GSS_DECLINE:
                b->parsed += len;
                b->done = b->parsed;
                *(act == NEG_GSS_DECLINE ? &c->login->gss_asked : &c->login->ssl_asked) = true;
                pbuf_put_u8(&c->conn.out, act == NEG_SSL_ACCEPT ? 'S' : 'N');
                client_flush(c);
                if (act != NEG_SSL_ACCEPT || c->state == CL_CLOSED)
                    continue;
                if (c->conn.out.len > 0) { /* one byte that did not go: nothing sane can follow */
                    client_close(c);
                    return;
                }
                client_start_tls(c, NULL, 0, false);
                goto out;
            case NEG_CANCEL:
            case NEG_STARTUP:
                break;
            }
            if (avail < len)
                break;
            struct startup_packet sp;
            const char *err = NULL;
            b->parsed += len;
            b->done = b->parsed;
            if (!proto_parse_startup(p + 4, len - 4, &sp, &err)) {
                client_protocol_error(c, "%s", err);
                return;
            }
            if (sp.code == PROTO_CANCEL_REQUEST) {
                cancel_handle(sp.cancel_pid, sp.cancel_key);
                client_close(c);
                return;
            }
            if (!client_cert_matches(c, &sp))
                return;
            client_startup(c, &sp);
            continue;
        }
        struct msg m;
        enum msg_status st = msg_next(p, avail, PROTO_MAX_PASSWORD, &m);
        if (st == MSG_NEED_MORE)
            break;
        if (st == MSG_OK && m.type == 'X') {
            client_close(c); /* the client gave up during authentication */
            return;
        }
        if (st == MSG_OK && m.type != 'p') {
            client_protocol_error(c, "expected a password message, got message type 0x%02x", m.type);
            return;
        }
        if (st != MSG_OK) {
            client_protocol_error(c, "invalid password message length %u", proto_get_u32(p + 1));
            return;
        }
        if (!m.whole)
            break;
        b->parsed += m.total;
        b->done = b->parsed;
        client_password_msg(c, m.body, msg_body_len(&m));
    }
out:
    if (c->state != CL_CLOSED && c->conn.buf != NULL) {
        conn_buf_release_if_empty(&c->conn);
        if (c->conn.buf != NULL)
            iobuf_compact(c->conn.buf);
    }
}

void client_server_assigned(struct client *c)
{
    /* Resume from the loop, not from inside the server's callback. */
    c->resume_buffered = true;
    event_active(&c->conn.rev, EV_READ, 0);
}

static void client_on_read(evutil_socket_t fd, short what, void *arg)
{
    struct client *c = arg;
    if (c->state == CL_CLOSED)
        return;
    if (c->state == CL_LOGIN && c->login->tls_handshaking && !client_tls_handshake(c))
        return;
    bool blocked = c->state == CL_WAITING || (c->server != NULL && c->server->conn.writing);
    bool resumed = c->resume_buffered && c->conn.buf != NULL && c->conn.buf->len > c->conn.buf->done;
    c->resume_buffered = false;
    if (!resumed && (!blocked || (c->conn.buf == NULL || c->conn.buf->len < IOBUF_SIZE))) {
        size_t n;
        enum io_result r = conn_fill(&c->conn, &n);
        if (r == IO_EOF || r == IO_ERROR) {
            client_close(c);
            return;
        }
    }
    switch (c->state) {
    case CL_LOGIN:
        client_login_process(c);
        break;
    case CL_ADMIN:
        admin_process(c);
        break;
    case CL_IDLE:
    case CL_ACTIVE:
        if (c->server != NULL && c->server->conn.writing) {
            conn_want_read(&c->conn, false); /* backpressure: wait for the server to drain */
            break;
        }
        client_pump(c);
        break;
    case CL_WAITING:
        if (c->conn.buf != NULL && c->conn.buf->len == IOBUF_SIZE && c->conn.buf->done == 0)
            conn_want_read(&c->conn, false);
        break;
    case CL_CLOSED:
        break;
    }
}

static void client_on_write(evutil_socket_t fd, short what, void *arg)
{
    struct client *c = arg;
    c->conn.writing = false;
    if (c->state == CL_CLOSED)
        return;
    if (c->state == CL_LOGIN && c->login->tls_handshaking) {
        if (client_tls_handshake(c))
            event_active(&c->conn.rev, EV_READ, 0);
        return;
    }
    bool fatal;
    if (!conn_flush_out(&c->conn, &fatal)) {
        if (fatal)
            client_close(c);
        return;
    }
    /* Output drained: resume relaying the server's results to us. */
    if (c->server != NULL && c->server->conn.buf != NULL)
        server_pump(c->server);
    else if (c->state == CL_ADMIN)
        admin_process(c);
}
