/* tls.c — the TLS transport: OpenSSL contexts for both sides, a socket BIO that can replay bytes
 * already read (direct TLS), and the io_ops that map OpenSSL's answers to io_result. */
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

static SSL_CTX *accept_ctx;   /* TLS from clients (client_tls_*) */
static SSL_CTX *connect_ctx;  /* TLS to PostgreSQL (server_tls_*) */

static const unsigned char alpn_pg[] = {10, 'p', 'o', 's', 't', 'g', 'r', 'e', 's', 'q', 'l'};

/* ------------------------------------------------------------------ the socket BIO */

/* The fd, and bytes read before TLS started that the handshake must see first. */
struct sock_bio {
    int fd;
    int last_errno;
    uint8_t *prefix;
    size_t prefix_len, prefix_off;
};

static BIO_METHOD *sock_method;

static int sb_read(BIO *b, char *out, size_t len, size_t *got)
{
    struct sock_bio *sb = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    *got = 0;
    if (sb->prefix != NULL) {
        size_t n = sb->prefix_len - sb->prefix_off;
        if (n > len)
            n = len;
        memcpy(out, sb->prefix + sb->prefix_off, n);
        sb->prefix_off += n;
        if (sb->prefix_off == sb->prefix_len) {
            free(sb->prefix);
            sb->prefix = NULL;
        }
        *got = n;
        return 1;
    }
    ssize_t n = recv(sb->fd, out, len, 0);
    if (n > 0) {
        *got = (size_t)n;
        return 1;
    }
    if (n < 0) {
        sb->last_errno = errno;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            BIO_set_retry_read(b);
    }
    return 0;
}

static int sb_write(BIO *b, const char *in, size_t len, size_t *put)
{
    struct sock_bio *sb = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    *put = 0;
    ssize_t n = send(sb->fd, in, len, MSG_NOSIGNAL);
    if (n >= 0) {
        *put = (size_t)n;
        return 1;
    }
    sb->last_errno = errno;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        BIO_set_retry_write(b);
    return 0;
}

static long sb_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int sb_destroy(BIO *b)
{
    struct sock_bio *sb = BIO_get_data(b);
    if (sb != NULL) {
        free(sb->prefix);
        free(sb);
    }
    BIO_set_data(b, NULL);
    return 1;
}

static BIO *sock_bio_new(int fd, const uint8_t *prefix, size_t n)
{
    if (sock_method == NULL) {
        sock_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "wedpool socket");
        if (sock_method == NULL)
            return NULL;
        BIO_meth_set_read_ex(sock_method, sb_read);
        BIO_meth_set_write_ex(sock_method, sb_write);
        BIO_meth_set_ctrl(sock_method, sb_ctrl);
        BIO_meth_set_destroy(sock_method, sb_destroy);
    }
    struct sock_bio *sb = calloc(1, sizeof(*sb));
    if (sb == NULL)
        return NULL;
    sb->fd = fd;
    if (n > 0) {
        sb->prefix = malloc(n);
        if (sb->prefix == NULL) {
            free(sb);
            return NULL;
        }
        memcpy(sb->prefix, prefix, n);
        sb->prefix_len = n;
    }
    BIO *b = BIO_new(sock_method);
    if (b == NULL) {
        free(sb->prefix);
        free(sb);
        return NULL;
    }
    BIO_set_data(b, sb);
    BIO_set_init(b, 1);
    return b;
}

/* ------------------------------------------------------------------ the transport */

/* Maps the answer of an SSL_* call; for errors, io_last_error gets OpenSSL's reason (or the
 * certificate verification result, or the socket's errno). */
static enum io_result tls_result(struct conn *c, int ret)
{
    int e = SSL_get_error(c->ssl, ret);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        return IO_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return IO_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        return IO_EOF;
    case SSL_ERROR_SYSCALL: {
        struct sock_bio *sb = BIO_get_data(SSL_get_rbio(c->ssl));
        if (ERR_peek_error() == 0 && (sb == NULL || sb->last_errno == 0))
            return IO_EOF; /* the peer closed without close_notify */
        io_set_error("%s", sb != NULL && sb->last_errno != 0 ? strerror(sb->last_errno) : "TLS I/O error");
        return IO_ERROR;
    }
    default: {
        long vr = SSL_get_verify_result(c->ssl);
        unsigned long ec = ERR_get_error();
        if (vr != X509_V_OK && ec != 0 && ERR_GET_REASON(ec) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
            io_set_error("certificate verify failed: %s", X509_verify_cert_error_string(vr));
        } else if (ec != 0) {
            char buf[200];
            ERR_error_string_n(ec, buf, sizeof(buf));
            io_set_error("%s", buf);
        } else {
            io_set_error("TLS error %d", e);
        }
        return IO_ERROR;
    }
    }
}

static enum io_result tls_recv(struct conn *c, void *buf, size_t len, size_t *got)
{
    ERR_clear_error();
    int r = SSL_read_ex(c->ssl, buf, len, got);
    if (r == 1)
        return IO_OK;
    *got = 0;
    return tls_result(c, r);
}

static enum io_result tls_send(struct conn *c, const void *buf, size_t len, size_t *sent)
{
    ERR_clear_error();
    int r = SSL_write_ex(c->ssl, buf, len, sent);
    if (r == 1)
        return IO_OK;
    *sent = 0;
    return tls_result(c, r);
}

static enum io_result tls_handshake(struct conn *c)
{
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    return r == 1 ? IO_OK : tls_result(c, r);
}

static enum io_result tls_shutdown_step(struct conn *c)
{
    ERR_clear_error();
    int r = SSL_shutdown(c->ssl);
    return r >= 0 ? IO_OK : tls_result(c, r);
}

static size_t tls_pending(const struct conn *c)
{
    return (size_t)SSL_pending(c->ssl);
}

static void tls_close(struct conn *c)
{
    if (SSL_is_init_finished(c->ssl)) {
        ERR_clear_error();
        SSL_shutdown(c->ssl); /* close_notify, best effort: the socket closes now */
    }
    ERR_clear_error();
    SSL_free(c->ssl);
    close(c->fd);
}

static const struct io_ops tls_ops = {tls_recv, tls_send, tls_handshake, tls_shutdown_step, tls_pending, tls_close};

static SSL *tls_new_session(SSL_CTX *ctx, int fd, const uint8_t *prefix, size_t n)
{
    SSL *ssl = SSL_new(ctx);
    if (ssl == NULL)
        return NULL;
    BIO *b = sock_bio_new(fd, prefix, n);
    if (b == NULL) {
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_bio(ssl, b, b);
    return ssl;
}

bool tls_accept_ready(void)
{
    return accept_ctx != NULL;
}

bool tls_accept(struct conn *c, const uint8_t *prefix, size_t n)
{
    if (accept_ctx == NULL)
        return false;
    SSL *ssl = tls_new_session(accept_ctx, c->fd, prefix, n);
    if (ssl == NULL)
        return false;
    SSL_set_accept_state(ssl);
    conn_set_transport(c, &tls_ops, ssl);
    return true;
}

bool tls_connect(struct conn *c, const char *host, int mode, char *err, size_t errlen)
{
    if (connect_ctx == NULL) {
        snprintf(err, errlen, "TLS towards servers is not set up (server_tls_* could not be loaded)");
        return false;
    }
    SSL *ssl = tls_new_session(connect_ctx, c->fd, NULL, 0);
    if (ssl == NULL) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    SSL_set_connect_state(ssl);
    unsigned char ip[16];
    bool is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
    bool ok = true;
    if (!is_ip)
        ok = SSL_set_tlsext_host_name(ssl, host) == 1; /* SNI: names only (RFC 6066) */
    if (mode >= TLS_VERIFY_CA)
        SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
    if (ok && mode == TLS_VERIFY_FULL) {
        if (is_ip)
            ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1;
        else
            ok = SSL_set1_host(ssl, host) == 1;
    }
    if (!ok) {
        snprintf(err, errlen, "cannot set the expected host name \"%s\"", host);
        SSL_free(ssl);
        return false;
    }
    conn_set_transport(c, &tls_ops, ssl);
    return true;
}

bool tls_alpn_postgresql(const struct conn *c)
{
    const unsigned char *p = NULL;
    unsigned int n = 0;
    if (c->ssl == NULL)
        return false;
    SSL_get0_alpn_selected(c->ssl, &p, &n);
    return n == alpn_pg[0] && memcmp(p, alpn_pg + 1, n) == 0;
}

bool tls_peer_cn(const struct conn *c, char *buf, size_t n)
{
    if (c->ssl == NULL || SSL_get_verify_result(c->ssl) != X509_V_OK)
        return false;
    X509 *cert = SSL_get0_peer_certificate(c->ssl);
    if (cert == NULL)
        return false;
    X509_NAME *name = X509_get_subject_name(cert);
    int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    if (i < 0)
        return false;
    const ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    unsigned char *utf8 = NULL;
    int len = ASN1_STRING_to_UTF8(&utf8, s);
    if (len < 0)
        return false;
    bool ok = (size_t)len < n && strlen((const char *)utf8) == (size_t)len; /* no embedded NUL */
    if (ok)
        memcpy(buf, utf8, (size_t)len + 1);
    OPENSSL_free(utf8);
    return ok;
}

const char *tls_version(const struct conn *c)
{
    return c->ssl != NULL ? SSL_get_version(c->ssl) : NULL;
}

/* ------------------------------------------------------------------ contexts */

bool tls_parse_protocols(const char *s, int *min_version, int *max_version, char *err, size_t errlen)
{
    static const struct {
        const char *name;
        int version;
    } known[] = {{"tlsv1.0", TLS1_VERSION}, {"tlsv1", TLS1_VERSION}, {"tlsv1.1", TLS1_1_VERSION},
                 {"tlsv1.2", TLS1_2_VERSION}, {"tlsv1.3", TLS1_3_VERSION}};
    if (strcasecmp(s, "secure") == 0 || strcasecmp(s, "normal") == 0 || s[0] == '\0') {
        *min_version = TLS1_2_VERSION;
        *max_version = TLS1_3_VERSION;
        return true;
    }
    if (strcasecmp(s, "all") == 0 || strcasecmp(s, "legacy") == 0) {
        *min_version = TLS1_VERSION;
        *max_version = TLS1_3_VERSION;
        return true;
    }
    int lo = 0, hi = 0;
    const char *p = s;
    while (*p != '\0') {
        size_t len = strcspn(p, ", :");
        if (len > 0) {
            int v = 0;
            for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
                if (strlen(known[k].name) == len && strncasecmp(p, known[k].name, len) == 0)
                    v = known[k].version;
            if (v == 0) {
                snprintf(err, errlen, "unknown protocol \"%.*s\" (secure, all, or a list of tlsv1.0, tlsv1.1, "
                         "tlsv1.2, tlsv1.3)", (int)len, p);
                return false;
            }
            lo = lo == 0 || v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        p += len;
        p += strspn(p, ", :");
    }
    if (lo == 0) {
        snprintf(err, errlen, "no protocol listed");
        return false;
    }
    *min_version = lo;
    *max_version = hi;
    return true;
}

/* A path as written in the ini file: relative ones are relative to the file's directory. */
static void tls_path(const struct wp_config *cfg, const char *p, char *out, size_t n)
{
    const char *slash = strrchr(cfg->path, '/');
    if (p[0] == '/' || slash == NULL)
        snprintf(out, n, "%s", p);
    else
        snprintf(out, n, "%.*s/%s", (int)(slash - cfg->path), cfg->path, p);
}

static void openssl_reason(char *buf, size_t n)
{
    unsigned long e = ERR_get_error();
    if (e == 0)
        snprintf(buf, n, "unknown OpenSSL error");
    else
        ERR_error_string_n(e, buf, n);
    ERR_clear_error();
}

/* ALPN on the accepting side: "postgresql" or nothing, as PostgreSQL 17 does (a client that offers
 * ALPN without it is refused in the handshake). */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg)
{
    unsigned char *sel = NULL;
    if (SSL_select_next_proto(&sel, outlen, alpn_pg, sizeof(alpn_pg), in, inlen) == OPENSSL_NPN_NEGOTIATED) {
        *out = sel;
        return SSL_TLSEXT_ERR_OK;
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

struct side {
    const char *prefix;   /* "client" or "server": the settings' names */
    int mode;
    const char *protocols, *ciphers, *cert, *key, *ca;
};

static SSL_CTX *ctx_build(const struct wp_config *cfg, const struct side *sd, bool accepting, char *err, size_t errlen)
{
    char path[WP_PATH_MAX + 2], why[256];
    int lo, hi;
    if (!tls_parse_protocols(sd->protocols, &lo, &hi, why, sizeof(why))) {
        snprintf(err, errlen, "%s_tls_protocols: %s", sd->prefix, why);
        return NULL;
    }
    SSL_CTX *ctx = SSL_CTX_new(accepting ? TLS_server_method() : TLS_client_method());
    if (ctx == NULL) {
        openssl_reason(why, sizeof(why));
        snprintf(err, errlen, "cannot create a TLS context: %s", why);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, lo);
    SSL_CTX_set_max_proto_version(ctx, hi);
    /* Writes are retried from the connection's output buffer, which may move as it grows
     * (io.c: conn_forward); partial writes let a big buffer go out record by record. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    const char *what = NULL;
    if (strcmp(sd->ciphers, "default") != 0 && sd->ciphers[0] != '\0' &&
        SSL_CTX_set_cipher_list(ctx, sd->ciphers) != 1)
        what = "ciphers";
    if (what == NULL && sd->cert[0] != '\0') {
        tls_path(cfg, sd->cert, path, sizeof(path));
        if (SSL_CTX_use_certificate_chain_file(ctx, path) != 1)
            what = "cert_file";
    }
    if (what == NULL && sd->key[0] != '\0') {
        tls_path(cfg, sd->key, path, sizeof(path));
        if (SSL_CTX_use_PrivateKey_file(ctx, path, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1)
            what = "key_file";
    }
    if (what == NULL && sd->ca[0] != '\0') {
        tls_path(cfg, sd->ca, path, sizeof(path));
        if (SSL_CTX_load_verify_locations(ctx, path, NULL) != 1) {
            what = "ca_file";
        } else if (accepting) {
            STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(path);
            if (names != NULL)
                SSL_CTX_set_client_CA_list(ctx, names);
        }
    }
    if (what != NULL) {
        openssl_reason(why, sizeof(why));
        snprintf(err, errlen, "%s_tls_%s: %s", sd->prefix, what, why);
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (accepting) {
        if (sd->mode >= TLS_VERIFY_CA) {
            if (sd->ca[0] == '\0') {
                snprintf(err, errlen, "client_tls_sslmode=%s needs client_tls_ca_file",
                         sd->mode == TLS_VERIFY_CA ? "verify-ca" : "verify-full");
                SSL_CTX_free(ctx);
                return NULL;
            }
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        }
        SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
        static const unsigned char sid[] = "wedpool";
        SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
    } else {
        SSL_CTX_set_alpn_protos(ctx, alpn_pg, sizeof(alpn_pg));
    }
    return ctx;
}

static void sides(const struct wp_config *cfg, struct side *cl, struct side *sv)
{
    *cl = (struct side){"client", cfg->client_tls_sslmode, cfg->client_tls_protocols, cfg->client_tls_ciphers,
                        cfg->client_tls_cert_file, cfg->client_tls_key_file, cfg->client_tls_ca_file};
    *sv = (struct side){"server", cfg->server_tls_sslmode, cfg->server_tls_protocols, cfg->server_tls_ciphers,
                        cfg->server_tls_cert_file, cfg->server_tls_key_file, cfg->server_tls_ca_file};
}

/* Builds the accepting context; *out = NULL when client TLS is off. */
static bool build_accept(const struct wp_config *cfg, const struct side *cl, SSL_CTX **out, char *err, size_t n)
{
    *out = NULL;
    if (cl->mode == TLS_DISABLE)
        return true;
    if (cl->cert[0] == '\0' || cl->key[0] == '\0') {
        snprintf(err, n, "client_tls_sslmode is not disable: client_tls_cert_file and client_tls_key_file are needed");
        return false;
    }
    *out = ctx_build(cfg, cl, true, err, n);
    return *out != NULL;
}

/* The connecting context exists whenever a database might use TLS (a per-database sslmode= can
 * turn it on where the global setting is disable). */
static bool build_connect(const struct wp_config *cfg, const struct side *sv, SSL_CTX **out, char *err, size_t n)
{
    *out = ctx_build(cfg, sv, false, err, n);
    return *out != NULL;
}

bool tls_init(const struct wp_config *cfg, char *err, size_t errlen)
{
    struct side cl, sv;
    sides(cfg, &cl, &sv);
    if (!build_accept(cfg, &cl, &accept_ctx, err, errlen))
        return false;
    if (!build_connect(cfg, &sv, &connect_ctx, err, errlen)) {
        SSL_CTX_free(accept_ctx);
        accept_ctx = NULL;
        return false;
    }
    if (accept_ctx != NULL)
        log_info("TLS for clients: client_tls_sslmode=%s", config_tls_mode_name(cfg->client_tls_sslmode));
    return true;
}

void tls_reload(const struct wp_config *cfg)
{
    struct side cl, sv;
    char err[512];
    SSL_CTX *fresh;
    sides(cfg, &cl, &sv);
    if (build_accept(cfg, &cl, &fresh, err, sizeof(err))) {
        SSL_CTX_free(accept_ctx); /* sessions in use hold their own reference */
        accept_ctx = fresh;
        if (fresh != NULL)
            log_info("TLS for clients: certificates reloaded");
    } else {
        log_error("TLS for clients: reload refused, the previous certificates stay in use: %s", err);
    }
    if (build_connect(cfg, &sv, &fresh, err, sizeof(err))) {
        SSL_CTX_free(connect_ctx);
        connect_ctx = fresh;
    } else {
        log_error("TLS towards servers: reload refused, the previous settings stay in use: %s", err);
    }
}

void tls_shutdown(void)
{
    SSL_CTX_free(accept_ctx);
    SSL_CTX_free(connect_ctx);
    accept_ctx = connect_ctx = NULL;
    BIO_meth_free(sock_method);
    sock_method = NULL;
}
