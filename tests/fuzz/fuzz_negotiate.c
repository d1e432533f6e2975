/* fuzz_negotiate.c — libFuzzer target: the decision on a client's first bytes (negotiate.c).
 * The first input byte picks the policy (TLS offered / required / already in TLS / asked before);
 * the rest is fed as the connection's bytes, packet after packet, as client.c consumes them. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "negotiate.h"
#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    struct neg_state st = {
        .tls_offered = data[0] & 1, .tls_required = data[0] & 2, .in_tls = data[0] & 4,
        .ssl_asked = data[0] & 8, .gss_asked = data[0] & 16,
    };
    const uint8_t *p = data + 1;
    size_t left = size - 1;
    for (int rounds = 0; rounds < 64; rounds++) {
        uint32_t len = 12345;
        enum neg_action a = negotiate_next(&st, p, left, PROTO_MAX_STARTUP, &len);
        switch (a) {
        case NEG_SSL_ACCEPT:
        case NEG_SSL_DECLINE:
        case NEG_GSS_DECLINE:
            /* answered only when the request is the last byte received (no stuffing) */
            if (len != 8 || left != 8)
                abort();
            if (a == NEG_SSL_ACCEPT && !st.tls_offered)
                abort();
            if (a == NEG_GSS_DECLINE)
                st.gss_asked = true;
            else
                st.ssl_asked = true;
            if (a == NEG_SSL_ACCEPT)
                st.in_tls = true;
            p += len;
            left -= len;
            break;
        case NEG_STARTUP:
            if (st.tls_required && !st.in_tls)
                abort(); /* plain text never passes where TLS is required */
            /* fallthrough */
        case NEG_CANCEL:
            if (len < 8 || len > PROTO_MAX_STARTUP)
                abort();
            if (left < len)
                return 0;
            p += len;
            left -= len;
            break;
        case NEG_DIRECT_TLS:
            if (!st.tls_offered || st.in_tls || st.ssl_asked || st.gss_asked || p[0] != NEG_TLS_HANDSHAKE_RECORD)
                abort();
            return 0;
        case NEG_STUFFED:
            if (left <= 8)
                abort();
            return 0;
        default:
            return 0;
        }
    }
    return 0;
}
