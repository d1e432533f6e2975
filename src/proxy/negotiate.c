/* negotiate.c — the decision on a client's first bytes (negotiate.h). */
#include "negotiate.h"

#include "proto.h"

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

enum neg_action negotiate_next(const struct neg_state *st, const uint8_t *p, size_t avail, uint32_t max_len,
                               uint32_t *len)
{
    *len = 0;
    if (avail == 0)
        return NEG_NEED_MORE;
    /* Direct TLS: only as the first thing on the connection. A startup packet cannot start with
     * 0x16: its length would be over 369 MB. */
    if (p[0] == NEG_TLS_HANDSHAKE_RECORD && !st->in_tls && !st->ssl_asked && !st->gss_asked)
        return st->tls_offered ? NEG_DIRECT_TLS : NEG_DIRECT_REFUSED;
    if (avail < 8)
        return avail >= 4 && (be32(p) < 8 || be32(p) > max_len) ? NEG_BAD_LENGTH : NEG_NEED_MORE;
    uint32_t n = be32(p), code = be32(p + 4);
    if (n < 8 || n > max_len)
        return NEG_BAD_LENGTH;
    *len = n;
    if (code == PROTO_SSL_REQUEST || code == PROTO_GSSENC_REQUEST) {
        if (n != 8)
            return NEG_BAD_LENGTH;
        bool ssl = code == PROTO_SSL_REQUEST;
        if (st->in_tls || (ssl ? st->ssl_asked : st->gss_asked))
            return NEG_REPEATED;
        if (avail > 8)
            return NEG_STUFFED;
        if (!ssl)
            return NEG_GSS_DECLINE;
        return st->tls_offered ? NEG_SSL_ACCEPT : NEG_SSL_DECLINE;
    }
    if (code == PROTO_CANCEL_REQUEST)
        return NEG_CANCEL;
    if (st->tls_required && !st->in_tls)
        return NEG_PLAIN_REFUSED;
    return NEG_STARTUP;
}
