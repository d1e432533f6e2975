/* negotiate.h — what a client's first bytes ask for, before any startup packet is parsed:
 * SSLRequest, GSSENCRequest, direct TLS (PostgreSQL 17's sslnegotiation=direct), a cancel, or a
 * startup packet, judged against the TLS policy. Pure: fuzzed (tests/fuzz/fuzz_negotiate.c). */
#ifndef WEDPOOL_NEGOTIATE_H
#define WEDPOOL_NEGOTIATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct neg_state {
    bool tls_offered;    /* TLS is enabled and a certificate is loaded */
    bool tls_required;   /* client_tls_sslmode require / verify-*, and the client is not on a unix socket */
    bool in_tls;         /* the connection already runs TLS */
    bool ssl_asked;      /* an SSLRequest was answered already */
    bool gss_asked;      /* a GSSENCRequest was answered already */
};

enum neg_action {
    NEG_NEED_MORE,       /* not enough bytes to decide */
    NEG_DIRECT_TLS,      /* a TLS handshake record as the very first byte: handshake now */
    NEG_DIRECT_REFUSED,  /* ... but TLS is not offered */
    NEG_SSL_ACCEPT,      /* SSLRequest: answer 'S', then the handshake */
    NEG_SSL_DECLINE,     /* SSLRequest: answer 'N', the client may go on in plain text */
    NEG_GSS_DECLINE,     /* GSSENCRequest: answer 'N' */
    NEG_STUFFED,         /* bytes after an SSLRequest/GSSENCRequest before its answer (CVE-2021-23214) */
    NEG_REPEATED,        /* SSLRequest/GSSENCRequest asked twice, or inside TLS */
    NEG_BAD_LENGTH,      /* the length word is out of range */
    NEG_CANCEL,          /* a CancelRequest (never refused for want of TLS, as PostgreSQL does) */
    NEG_STARTUP,         /* a startup packet that may be parsed */
    NEG_PLAIN_REFUSED,   /* a startup packet in plain text where TLS is required */
};

#define NEG_TLS_HANDSHAKE_RECORD 0x16

/* Decides on avail bytes at p (the start of the next packet). *len gets the packet's length when
 * the answer concerns a whole packet (SSL/GSS/cancel/startup). */
enum neg_action negotiate_next(const struct neg_state *st, const uint8_t *p, size_t avail, uint32_t max_len,
                               uint32_t *len);

#endif
