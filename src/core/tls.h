/* tls.h — TLS with OpenSSL 3 behind the io vtable: the contexts for both sides (accepting TLS from
 * clients, connecting with TLS to PostgreSQL), rebuilt on SIGHUP, and per-connection sessions. */
#ifndef WEDPOOL_TLS_H
#define WEDPOOL_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io.h"

struct wp_config;

/* client_tls_sslmode / server_tls_sslmode / a [databases] line's sslmode=, as libpq names them. */
enum tls_mode { TLS_DISABLE, TLS_ALLOW, TLS_PREFER, TLS_REQUIRE, TLS_VERIFY_CA, TLS_VERIFY_FULL };

/* "secure" (TLS 1.2 and 1.3), "all"/"legacy" (1.0 to 1.3), or a list such as "tlsv1.2,tlsv1.3":
 * the span from the lowest to the highest listed. False with a reason in err. Pure. */
bool tls_parse_protocols(const char *s, int *min_version, int *max_version, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Builds both contexts from cfg (certificate paths relative to the ini file's directory). False
 * with "KEY: PROBLEM" in err: the daemon does not start. */
bool tls_init(const struct wp_config *cfg, char *err, size_t errlen) __attribute__((warn_unused_result));
/* SIGHUP: builds new contexts from cfg's files; one that fails is logged and the old one kept.
 * Connections already in TLS keep the context they were made with. */
void tls_reload(const struct wp_config *cfg);
void tls_shutdown(void);

/* Whether clients can be offered TLS (client_tls_sslmode != disable and a certificate loaded). */
bool tls_accept_ready(void);
/* Starts the server end of a TLS session on c. prefix (may be NULL) holds bytes already read from
 * the socket that belong to the handshake (direct TLS: the ClientHello's start). */
bool tls_accept(struct conn *c, const uint8_t *prefix, size_t n) __attribute__((warn_unused_result));
/* Starts the client end of a TLS session to a server at host (a name or an address literal), with
 * mode's verification (verify-ca: the chain; verify-full: also the name). False with err. */
bool tls_connect(struct conn *c, const char *host, int mode, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Whether the peer agreed on ALPN "postgresql" (required for direct TLS, as PostgreSQL does). */
bool tls_alpn_postgresql(const struct conn *c);
/* The common name of the peer's verified certificate into buf; false if there is none (no TLS, no
 * certificate, not verified, or a CN with an embedded NUL). For the `cert` auth method. */
bool tls_peer_cn(const struct conn *c, char *buf, size_t n);
/* "TLSv1.3" etc., or NULL for a raw connection. */
const char *tls_version(const struct conn *c);

#endif
