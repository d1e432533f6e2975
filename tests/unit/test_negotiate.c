/* test_negotiate.c — the decision on a client's first bytes: SSLRequest, GSSENCRequest, direct
 * TLS, buffer stuffing, TLS required, cancel and startup packets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "negotiate.h"
#include "proto.h"

static size_t pkt(uint8_t *b, uint32_t len, uint32_t code)
{
    uint8_t x[8] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len,
                    (uint8_t)(code >> 24), (uint8_t)(code >> 16), (uint8_t)(code >> 8), (uint8_t)code};
    memcpy(b, x, 8);
    return 8;
}

static enum neg_action decide(struct neg_state st, const uint8_t *p, size_t n)
{
    uint32_t len;
    return negotiate_next(&st, p, n, PROTO_MAX_STARTUP, &len);
}

static void ssl_request(void **state)
{
    uint8_t b[32];
    pkt(b, 8, PROTO_SSL_REQUEST);
    assert_int_equal(decide((struct neg_state){.tls_offered = true}, b, 8), NEG_SSL_ACCEPT);
    assert_int_equal(decide((struct neg_state){0}, b, 8), NEG_SSL_DECLINE);
    assert_int_equal(decide((struct neg_state){.tls_offered = true}, b, 7), NEG_NEED_MORE);
    /* stuffing: anything after the request, before our answer */
    assert_int_equal(decide((struct neg_state){.tls_offered = true}, b, 9), NEG_STUFFED);
    assert_int_equal(decide((struct neg_state){.ssl_asked = true}, b, 8), NEG_REPEATED);
    assert_int_equal(decide((struct neg_state){.in_tls = true}, b, 8), NEG_REPEATED);
    pkt(b, 9, PROTO_SSL_REQUEST);
    assert_int_equal(decide((struct neg_state){0}, b, 9), NEG_BAD_LENGTH);
    pkt(b, 8, PROTO_GSSENC_REQUEST);
    assert_int_equal(decide((struct neg_state){.tls_offered = true}, b, 8), NEG_GSS_DECLINE);
}

static void direct_tls(void **state)
{
    uint8_t b[8] = {0x16, 3, 1, 0, 0x80};
    assert_int_equal(decide((struct neg_state){.tls_offered = true}, b, 1), NEG_DIRECT_TLS);
    assert_int_equal(decide((struct neg_state){0}, b, 5), NEG_DIRECT_REFUSED);
    /* only as the connection's first bytes */
    assert_int_equal(decide((struct neg_state){.tls_offered = true, .gss_asked = true}, b, 8), NEG_BAD_LENGTH);
}

static void startup_and_policy(void **state)
{
    uint8_t b[32];
    pkt(b, 20, PROTO_V3);
    assert_int_equal(decide((struct neg_state){0}, b, 8), NEG_STARTUP);
    assert_int_equal(decide((struct neg_state){.tls_required = true}, b, 8), NEG_PLAIN_REFUSED);
    assert_int_equal(decide((struct neg_state){.tls_required = true, .in_tls = true}, b, 8), NEG_STARTUP);
    pkt(b, 16, PROTO_CANCEL_REQUEST);
    assert_int_equal(decide((struct neg_state){.tls_required = true}, b, 8), NEG_CANCEL);
    pkt(b, 4, PROTO_V3);
    assert_int_equal(decide((struct neg_state){0}, b, 4), NEG_BAD_LENGTH);
    pkt(b, PROTO_MAX_STARTUP + 1, PROTO_V3);
    assert_int_equal(decide((struct neg_state){0}, b, 8), NEG_BAD_LENGTH);
    assert_int_equal(decide((struct neg_state){0}, b, 0), NEG_NEED_MORE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ssl_request),
        cmocka_unit_test(direct_tls),
        cmocka_unit_test(startup_and_policy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
