/* rawlogin.c — wedpool-bench's own login for the runs that only log in (see rawlogin.h). */
#include "rawlogin.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "md5.h"
#include "scram.h"

#define SCRAM_MECHANISM "SCRAM-SHA-256"
#define SCRAM_MSG_MAX 1024         /* scram.c's longest message */
#define READ_CHUNK 4096

/* ------------------------------------------------------------------------------------------ */
/* the target */

/* A value of the DSN, else of libpq's defaults (PG* variables, the OS user); "" counts as unset. */
static const char *pick(const PQconninfoOption *given, const PQconninfoOption *defs, const char *keyword)
{
    const PQconninfoOption *lists[2] = {given, defs};
    for (int i = 0; i < 2; i++)
        for (const PQconninfoOption *o = lists[i]; o->keyword; o++)
            if (strcmp(o->keyword, keyword) == 0 && o->val != NULL && o->val[0] != '\0')
                return o->val;
    return NULL;
}

/* The first of a comma-separated list (libpq tries several hosts; the raw login takes the first). */
static char *first_of(const char *list)
{
    return list ? strndup(list, strcspn(list, ",")) : NULL;
}

/* libpq's default socket directory: Debian's /var/run/postgresql, else upstream's /tmp. */
static const char *default_socket_dir(void)
{
    struct stat st;
    return stat("/var/run/postgresql", &st) == 0 && S_ISDIR(st.st_mode) ? "/var/run/postgresql" : "/tmp";
}

/* What the raw login cannot do: SSL, GSS encryption or channel binding, required. */
static const char *needs_libpq(const PQconninfoOption *given, const PQconninfoOption *defs, char *why, size_t len)
{
    static const char *const rules[][3] = {
        {"sslmode", "require", "SSL"}, {"sslmode", "verify-ca", "SSL"}, {"sslmode", "verify-full", "SSL"},
        {"gssencmode", "require", "GSS encryption"}, {"channel_binding", "require", "channel binding (SSL)"},
    };
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        const char *v = pick(given, defs, rules[i][0]);
        if (v != NULL && strcmp(v, rules[i][1]) == 0) {
            snprintf(why, len, "%s=%s: the raw login does not do %s", rules[i][0], v, rules[i][2]);
            return why;
        }
    }
    return NULL;
}

static int resolve_address(struct raw_target *t, const char *host, const char *hostaddr, const char *port, char *err,
                           size_t errlen)
{
    char *end;
    long p = strtol(port, &end, 10);
    if (*end != '\0' || p < 1 || p > 65535) {
        snprintf(err, errlen, "invalid port \"%s\"", port);
        return -1;
    }
    if (hostaddr == NULL && host[0] == '/') {
        struct sockaddr_un *un = (struct sockaddr_un *)&t->addr;
        un->sun_family = AF_UNIX;
        int n = snprintf(un->sun_path, sizeof(un->sun_path), "%s/.s.PGSQL.%ld", host, p);
        if (n < 0 || (size_t)n >= sizeof(un->sun_path)) {
            snprintf(err, errlen, "unix socket path \"%s/.s.PGSQL.%ld\" is too long", host, p);
            return -1;
        }
        t->addrlen = (socklen_t)sizeof(*un);
        snprintf(t->where, sizeof(t->where), "connection to server on socket \"%s\"", un->sun_path);
        return 0;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *ai = NULL;
    if (hostaddr != NULL)
        hints.ai_flags |= AI_NUMERICHOST;
    int rc = getaddrinfo(hostaddr ? hostaddr : host, port, &hints, &ai);
    if (rc != 0 || ai == NULL || ai->ai_addrlen > sizeof(t->addr)) {
        snprintf(err, errlen, "could not translate host name \"%s\" to address: %s", hostaddr ? hostaddr : host,
                 rc != 0 ? gai_strerror(rc) : "no address");
        if (ai)
            freeaddrinfo(ai);
        return -1;
    }
    memcpy(&t->addr, ai->ai_addr, ai->ai_addrlen);
    t->addrlen = ai->ai_addrlen;
    freeaddrinfo(ai);
    if (hostaddr != NULL && strcmp(host, hostaddr) != 0)
        snprintf(t->where, sizeof(t->where), "connection to server at \"%s\" (%s), port %s", host, hostaddr, port);
    else
        snprintf(t->where, sizeof(t->where), "connection to server at \"%s\", port %s", host, port);
    return 0;
}

static char *dup_or_null(const char *s, bool *oom)
{
    if (s == NULL)
        return NULL;
    char *d = strdup(s);
    *oom |= d == NULL;
    return d;
}

int raw_target_resolve(const char *dsn, struct raw_target *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof(*t));
    char *msg = NULL, *host = NULL, *port = NULL, *hostaddr = NULL;
    PQconninfoOption *given = PQconninfoParse(dsn, &msg), *defs = PQconndefaults();
    int rc = -1;
    if (given == NULL || defs == NULL) {
        snprintf(err, errlen, "%.*s", msg ? (int)strcspn(msg, "\n") : 13, msg ? msg : "out of memory");
        goto out;
    }
    if (needs_libpq(given, defs, err, errlen) != NULL) {
        rc = -2;
        goto out;
    }
    const char *user = pick(given, defs, "user");
    if (user == NULL) {
        snprintf(err, errlen, "no user name: give user= in the DSN or set PGUSER");
        goto out;
    }
    const char *dbname = pick(given, defs, "dbname");
    bool oom = false;
    t->user = dup_or_null(user, &oom);
    t->dbname = dup_or_null(dbname ? dbname : user, &oom);
    t->password = dup_or_null(pick(given, defs, "password"), &oom);
    t->options = dup_or_null(pick(given, defs, "options"), &oom);
    const char *h = pick(given, defs, "host");
    host = first_of(h ? h : default_socket_dir());
    const char *p = pick(given, defs, "port"), *ha = pick(given, defs, "hostaddr");
    port = first_of(p ? p : "5432");
    hostaddr = first_of(ha);
    if (oom || host == NULL || port == NULL || (ha != NULL && hostaddr == NULL)) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    rc = resolve_address(t, host, hostaddr, port, err, errlen);
out:
    free(host);
    free(port);
    free(hostaddr);
    PQconninfoFree(given);
    PQconninfoFree(defs);
    PQfreemem(msg);
    if (rc != 0)
        raw_target_free(t);
    return rc;
}

void raw_target_free(struct raw_target *t)
{
    if (t->password)
        memset(t->password, 0, strlen(t->password));
    free(t->user);
    free(t->dbname);
    free(t->password);
    free(t->options);
    t->user = t->dbname = t->password = t->options = NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* building messages */

void raw_consume(struct pbuf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

bool raw_build_startup(struct pbuf *b, const char *user, const char *dbname, const char *appname,
                       const char *options)
{
    size_t start = b->len, mark = pbuf_begin_msg(b, '\0');
    pbuf_put_u32(b, PROTO_V3);
    pbuf_put_str(b, "user");
    pbuf_put_str(b, user);
    pbuf_put_str(b, "database");
    pbuf_put_str(b, dbname);
    if (appname != NULL) {
        pbuf_put_str(b, "application_name");
        pbuf_put_str(b, appname);
    }
    if (options != NULL) {
        pbuf_put_str(b, "options");
        pbuf_put_str(b, options);
    }
    pbuf_put_u8(b, 0);
    pbuf_end_msg(b, mark);
    if (!b->failed && b->len - start > PROTO_MAX_STARTUP) {
        b->len = start;
        return false;
    }
    return !b->failed;
}

bool raw_build_password(struct pbuf *b, const char *password)
{
    size_t mark = pbuf_begin_msg(b, 'p');
    pbuf_put_str(b, password);
    pbuf_end_msg(b, mark);
    return !b->failed;
}

bool raw_build_sasl_initial(struct pbuf *b, const char *mechanism, const char *data, size_t len)
{
    size_t mark = pbuf_begin_msg(b, 'p');
    pbuf_put_str(b, mechanism);
    pbuf_put_u32(b, (uint32_t)len);
    pbuf_put(b, data, len);
    pbuf_end_msg(b, mark);
    return !b->failed;
}

bool raw_build_sasl_response(struct pbuf *b, const char *data, size_t len)
{
    size_t mark = pbuf_begin_msg(b, 'p');
    pbuf_put(b, data, len);
    pbuf_end_msg(b, mark);
    return !b->failed;
}

bool raw_build_terminate(struct pbuf *b)
{
    pbuf_end_msg(b, pbuf_begin_msg(b, 'X'));
    return !b->failed;
}

void raw_md5_answer(const char *password, const char *user, const uint8_t salt[4], char out[36])
{
    char stored[MD5_PASSWD_LEN + 1];
    md5_password_hash(password, user, stored);
    md5_salted_response(stored, salt, out);
}

/* ------------------------------------------------------------------------------------------ */
/* parsing messages */

enum raw_frame_result raw_frame(const uint8_t *buf, size_t len, size_t max, struct raw_msg *m, size_t *used)
{
    if (len < 5)
        return RAW_FRAME_PARTIAL;
    uint32_t n = proto_get_u32(buf + 1);
    if (buf[0] == 'R' && max > RAW_MAX_AUTH)
        max = RAW_MAX_AUTH;
    if (n < 4 || n > max)
        return RAW_FRAME_BAD;
    if (len - 1 < n)
        return RAW_FRAME_PARTIAL;
    m->type = (char)buf[0];
    m->body = buf + 5;
    m->len = n - 4;
    *used = (size_t)n + 1;
    return RAW_FRAME_OK;
}

bool raw_parse_auth(const uint8_t *body, size_t len, struct raw_auth *out)
{
    memset(out, 0, sizeof(*out));
    struct preader r;
    preader_init(&r, body, len);
    uint32_t code;
    if (!preader_u32(&r, &code))
        return false;
    out->code = (int32_t)code;
    out->data = body + 4;
    out->len = len - 4;
    switch (out->code) {
    case RAW_AUTH_OK:
    case RAW_AUTH_CLEARTEXT:
        return out->len == 0;
    case RAW_AUTH_MD5:
        if (out->len != 4)
            return false;
        memcpy(out->salt, out->data, 4);
        return true;
    case RAW_AUTH_SASL:
        /* mechanism names, each NUL-terminated, then an empty one, which ends the message */
        for (;;) {
            const char *name;
            if (!preader_str(&r, &name))
                return false;
            if (name[0] == '\0')
                return r.pos == len;
            out->scram |= strcmp(name, SCRAM_MECHANISM) == 0;
        }
    default:
        return true;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* the login */

void raw_login_init(struct raw_login *l, const char *user, const char *password)
{
    memset(l, 0, sizeof(*l));
    l->state = RL_AUTH;
    l->user = user;
    l->password = password;
}

void raw_login_clear(struct raw_login *l)
{
    scram_client_free(l->scram);
    l->scram = NULL;
}

enum raw_login_state raw_login_fail(struct raw_login *l, const char *code, const char *fmt, ...)
{
    if (l->state == RL_FAILED)
        return RL_FAILED;
    l->state = RL_FAILED;
    snprintf(l->code, sizeof(l->code), "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->message, sizeof(l->message), fmt, ap);
    va_end(ap);
    raw_login_clear(l);
    return RL_FAILED;
}

static enum raw_login_state fail_oom(struct raw_login *l)
{
    return raw_login_fail(l, "08001", "out of memory");
}

static enum raw_login_state need_password(struct raw_login *l)
{
    return raw_login_fail(l, "08001", "fe_sendauth: no password supplied");
}

static enum raw_login_state sasl_start(struct raw_login *l, const struct raw_auth *a, struct pbuf *out)
{
    if (!a->scram)
        return raw_login_fail(l, "08001", "none of the server's SASL authentication mechanisms are supported");
    char msg[SCRAM_MSG_MAX];
    size_t n;
    if ((l->scram = scram_client_new(l->password)) == NULL || !scram_client_first(l->scram, msg, sizeof(msg), &n) ||
        !raw_build_sasl_initial(out, SCRAM_MECHANISM, msg, n))
        return fail_oom(l);
    return l->state = RL_SASL_CONTINUE;
}

static enum raw_login_state auth_step(struct raw_login *l, const struct raw_msg *m, struct pbuf *out)
{
    struct raw_auth a;
    if (!raw_parse_auth(m->body, m->len, &a))
        return raw_login_fail(l, "08P01", "invalid authentication request from server (%zu bytes)", m->len);
    bool first = l->state == RL_AUTH;
    bool password_needed = a.code == RAW_AUTH_CLEARTEXT || a.code == RAW_AUTH_MD5 || a.code == RAW_AUTH_SASL;
    if (password_needed && !first)
        return raw_login_fail(l, "08P01", "unexpected authentication request %d during SCRAM", (int)a.code);
    if (password_needed && (l->password == NULL || l->password[0] == '\0'))
        return need_password(l);
    const char *err = NULL;
    char msg[SCRAM_MSG_MAX];
    size_t n;
    switch (a.code) {
    case RAW_AUTH_OK:
        if (!first && l->state != RL_SASL_DONE)
            return raw_login_fail(l, "08001", "server sent AuthenticationOk before completing SCRAM "
                                              "(it did not prove that it knows the password)");
        raw_login_clear(l);
        return l->state = RL_PARAMS;
    case RAW_AUTH_CLEARTEXT:
        return raw_build_password(out, l->password) ? l->state : fail_oom(l);
    case RAW_AUTH_MD5: {
        char answer[MD5_PASSWD_LEN + 1];
        raw_md5_answer(l->password, l->user, a.salt, answer);
        return raw_build_password(out, answer) ? l->state : fail_oom(l);
    }
    case RAW_AUTH_SASL:
        return sasl_start(l, &a, out);
    case RAW_AUTH_SASL_CONTINUE:
        if (l->state != RL_SASL_CONTINUE)
            break;
        if (!scram_client_final(l->scram, (const char *)a.data, a.len, msg, sizeof(msg), &n, &err))
            return raw_login_fail(l, "08001", "SCRAM: %s", err ? err : "failed");
        if (!raw_build_sasl_response(out, msg, n))
            return fail_oom(l);
        return l->state = RL_SASL_FINAL;
    case RAW_AUTH_SASL_FINAL:
        if (l->state != RL_SASL_FINAL)
            break;
        if (!scram_client_verify(l->scram, (const char *)a.data, a.len, &err))
            return raw_login_fail(l, "08001", "SCRAM: %s", err ? err : "failed");
        return l->state = RL_SASL_DONE;
    default:
        return raw_login_fail(l, "08001", "authentication method %d is not supported by the raw login "
                                          "(use --login libpq)", (int)a.code);
    }
    return raw_login_fail(l, "08P01", "unexpected authentication request %d", (int)a.code);
}

static bool is_sqlstate(const char *s)
{
    for (int i = 0; i < 5; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z')))
            return false;
    return s[5] == '\0';
}

static enum raw_login_state server_error(struct raw_login *l, const struct raw_msg *m)
{
    struct error_fields e;
    if (!proto_parse_error(m->body, m->len, &e))
        return raw_login_fail(l, "08P01", "malformed ErrorResponse from server");
    /* as libpq's verbose message: "FATAL:  28P01: password authentication failed for user ..." */
    const char *code = is_sqlstate(e.sqlstate) ? e.sqlstate : "XX000";
    return raw_login_fail(l, code, "%s:  %s: %s", e.severity, code, e.message);
}

static enum raw_login_state parameter(struct raw_login *l, const struct raw_msg *m)
{
    struct preader r;
    const char *name, *value;
    preader_init(&r, m->body, m->len);
    if (!preader_str(&r, &name) || !preader_str(&r, &value))
        return raw_login_fail(l, "08P01", "malformed ParameterStatus from server");
    if (strcmp(name, "server_version") == 0)
        snprintf(l->server_version, sizeof(l->server_version), "%s", value);
    return l->state;
}

enum raw_login_state raw_login_feed(struct raw_login *l, const struct raw_msg *m, struct pbuf *out)
{
    if (l->state == RL_READY || l->state == RL_FAILED)
        return l->state;
    bool authenticated = l->state == RL_PARAMS;
    switch (m->type) {
    case 'E':
        return server_error(l, m);
    case 'N': /* a notice */
    case 'v': /* NegotiateProtocolVersion: 3.0 with no options is never negotiated down */
        return l->state;
    case 'R':
        if (!authenticated)
            return auth_step(l, m, out);
        break;
    case 'S':
        if (authenticated)
            return parameter(l, m);
        break;
    case 'K':
        if (authenticated)
            return l->state;
        break;
    case 'Z':
        if (authenticated)
            return l->state = RL_READY;
        break;
    default:
        break;
    }
    return raw_login_fail(l, "08P01", "unexpected message type \"%c\" from server during login", m->type);
}

/* ------------------------------------------------------------------------------------------ */
/* the connection */

static void conn_fail(struct raw_conn *rc, const char *what, int err)
{
    raw_login_fail(&rc->login, "08001", "%s failed: %s%s", rc->target->where, what, strerror(err));
}

struct raw_conn *raw_conn_start(const struct raw_target *t, const char *appname)
{
    struct raw_conn *rc = calloc(1, sizeof(*rc));
    if (rc == NULL)
        return NULL;
    rc->fd = -1;
    rc->target = t;
    raw_login_init(&rc->login, t->user, t->password);
    if (!raw_build_startup(&rc->out, t->user, t->dbname, appname, t->options)) {
        raw_login_fail(&rc->login, "08001", "cannot build the startup packet (out of memory or too long)");
        return rc;
    }
    rc->fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (rc->fd < 0) {
        conn_fail(rc, "could not create socket: ", errno);
        return rc;
    }
    if (t->addr.ss_family != AF_UNIX) {
        int one = 1;
        (void)setsockopt(rc->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    if (connect(rc->fd, (const struct sockaddr *)&t->addr, t->addrlen) == 0)
        rc->connected = true;
    else if (errno != EINPROGRESS)
        conn_fail(rc, "", errno);
    return rc;
}

/* Sends what is queued; false (and the login failed) on an error. */
static bool flush_out(struct raw_conn *rc)
{
    while (rc->out.len > 0) {
        ssize_t n = send(rc->fd, rc->out.data, rc->out.len, MSG_NOSIGNAL);
        if (n > 0) {
            raw_consume(&rc->out, (size_t)n);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        } else {
            conn_fail(rc, "could not send data to server: ", n < 0 ? errno : EPIPE);
            return false;
        }
    }
    if (rc->out.len == 0)
        pbuf_free(&rc->out);
    return true;
}

/* Reads what is there: > 0 bytes, 0 = the server closed the connection, -1 = nothing yet, -2 =
 * an error (errno). */
static ssize_t recv_some(struct raw_conn *rc)
{
    uint8_t chunk[READ_CHUNK];
    ssize_t n;
    do
        n = recv(rc->fd, chunk, sizeof(chunk), 0);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? -1 : -2;
    pbuf_put(&rc->in, chunk, (size_t)n);
    if (rc->in.failed)
        return errno = ENOMEM, -2;
    return n;
}

/* Login: reads and feeds the messages that are complete; false when the login failed. */
static bool read_login(struct raw_conn *rc)
{
    ssize_t got = recv_some(rc);
    size_t off = 0;
    while (off < rc->in.len && rc->login.state != RL_READY && rc->login.state != RL_FAILED) {
        struct raw_msg m;
        size_t used;
        enum raw_frame_result fr = raw_frame(rc->in.data + off, rc->in.len - off, RAW_MAX_MESSAGE, &m, &used);
        if (fr == RAW_FRAME_PARTIAL)
            break;
        if (fr == RAW_FRAME_BAD) {
            raw_login_fail(&rc->login, "08P01", "invalid message length from server (message type \"%c\")",
                           rc->in.data[off]);
            break;
        }
        raw_login_feed(&rc->login, &m, &rc->out);
        off += used;
    }
    raw_consume(&rc->in, off);
    if (rc->login.state == RL_FAILED)
        return false;
    if (rc->login.state == RL_READY)
        return true;
    if (got == 0)
        raw_login_fail(&rc->login, "08001", "%s failed: server closed the connection unexpectedly",
                       rc->target->where);
    else if (got == -2)
        conn_fail(rc, "could not receive data from server: ", errno);
    return got != 0 && got != -2;
}

int raw_conn_login_io(struct raw_conn *rc, int ready)
{
    if (rc->login.state == RL_FAILED)
        return RAW_FAILED;
    if (!rc->connected) {
        if (!(ready & RAW_WANT_WRITE))
            return RAW_WANT_WRITE;
        int e = 0;
        socklen_t el = sizeof(e);
        if (getsockopt(rc->fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0)
            e = errno;
        if (e != 0) {
            conn_fail(rc, "", e);
            return RAW_FAILED;
        }
        rc->connected = true;
    }
    if ((ready & RAW_WANT_READ) && !read_login(rc))
        return RAW_FAILED;
    if (rc->login.state == RL_READY) {
        rc->logged_in = true;
        raw_login_clear(&rc->login);
        if (rc->in.len == 0)
            pbuf_free(&rc->in);
        return RAW_READY;
    }
    if (!flush_out(rc))
        return RAW_FAILED;
    return rc->out.len > 0 ? RAW_WANT_READ | RAW_WANT_WRITE : RAW_WANT_READ;
}

bool raw_conn_idle_read(struct raw_conn *rc)
{
    ssize_t got = recv_some(rc);
    if (got == 0 || got == -2)
        return false;
    size_t off = 0;
    while (off < rc->in.len) {
        struct raw_msg m;
        size_t used;
        enum raw_frame_result fr = raw_frame(rc->in.data + off, rc->in.len - off, RAW_MAX_MESSAGE, &m, &used);
        if (fr == RAW_FRAME_BAD || (fr == RAW_FRAME_OK && m.type == 'E'))
            return false; /* an error is FATAL here: the server closes the connection after it */
        if (fr == RAW_FRAME_PARTIAL)
            break;
        off += used; /* notices, parameter changes, notifications */
    }
    raw_consume(&rc->in, off);
    if (rc->in.len == 0)
        pbuf_free(&rc->in);
    return true;
}

void raw_conn_close(struct raw_conn *rc)
{
    if (rc == NULL)
        return;
    if (rc->fd >= 0) {
        pbuf_reset(&rc->out);
        if (rc->logged_in && raw_build_terminate(&rc->out))
            (void)send(rc->fd, rc->out.data, rc->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
        close(rc->fd);
    }
    raw_login_clear(&rc->login);
    pbuf_free(&rc->in);
    pbuf_free(&rc->out);
    free(rc);
}
