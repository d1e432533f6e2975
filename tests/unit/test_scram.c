/* test_scram.c — SCRAM-SHA-256 both sides (RFC 7677 vector, round trips, bad input) and md5.
 * Expected values not taken from the RFC were computed independently with python3 hashlib/hmac. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "md5.h"
#include "scram.h"

/* test-only hooks defined in scram.c, deliberately absent from scram.h */
void scram_test_set_nonce(const char *nonce);
void scram_test_set_user(const char *user);

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* RFC 7677 section 3 */
static const uint8_t rfc_salt[16] = {0x5b, 0x6d, 0x99, 0x68, 0x9d, 0x12, 0x35, 0x8e,
                                     0xec, 0xa0, 0x4b, 0x14, 0x12, 0x36, 0xfa, 0x81};
static const char rfc_cnonce[] = "rOprNGfwEbeRWgbNEkqO";
static const char rfc_snonce[] = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
static const char rfc_client_first[] = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
static const char rfc_server_first[] =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
static const char rfc_client_final[] =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
static const char rfc_server_final[] = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
/* python3: pbkdf2_hmac('sha256', b'pencil', salt, 4096) -> StoredKey, ServerKey, in PostgreSQL's format */
static const char rfc_secret_text[] = "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
                                      "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
                                      "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";

static int reset_hooks(void **state)
{
    (void)state;
    scram_test_set_nonce(NULL);
    scram_test_set_user(NULL);
    return 0;
}

/* A heap copy of exactly len bytes with no terminator, so ASan catches any read past the end. */
static char *exact(const char *s, size_t len)
{
    char *p = malloc(len ? len : 1);
    assert_non_null(p);
    memcpy(p, s, len);
    return p;
}

static struct scram_secret rfc_secret(void)
{
    struct scram_secret sec;
    assert_true(scram_secret_from_salt("pencil", rfc_salt, sizeof(rfc_salt), 4096, &sec));
    return sec;
}

/* Our server, fed the RFC's client messages, must produce the RFC's server messages. */
static void test_rfc7677_server(void **state)
{
    (void)state;
    struct scram_secret sec = rfc_secret();
    struct scram_server *s = scram_server_new(&sec);
    char out[512];
    size_t n = 0;
    const char *err = NULL;
    scram_test_set_nonce(rfc_snonce);
    char *m = exact(rfc_client_first, strlen(rfc_client_first));
    assert_true(scram_server_first(s, m, strlen(rfc_client_first), out, sizeof(out), &n, &err));
    free(m);
    assert_int_equal(n, strlen(rfc_server_first));
    assert_memory_equal(out, rfc_server_first, n);
    m = exact(rfc_client_final, strlen(rfc_client_final));
    assert_true(scram_server_final(s, m, strlen(rfc_client_final), out, sizeof(out), &n, &err));
    free(m);
    assert_int_equal(n, strlen(rfc_server_final));
    assert_memory_equal(out, rfc_server_final, n);
    scram_server_free(s);
}

/* Our client, with the RFC's username and nonce, must produce the RFC's proof and accept its verifier. */
static void test_rfc7677_client(void **state)
{
    (void)state;
    struct scram_client *c = scram_client_new("pencil");
    char out[512];
    size_t n = 0;
    const char *err = NULL;
    scram_test_set_nonce(rfc_cnonce);
    scram_test_set_user("user");
    assert_true(scram_client_first(c, out, sizeof(out), &n));
    assert_int_equal(n, strlen(rfc_client_first));
    assert_memory_equal(out, rfc_client_first, n);
    char *m = exact(rfc_server_first, strlen(rfc_server_first));
    assert_true(scram_client_final(c, m, strlen(rfc_server_first), out, sizeof(out), &n, &err));
    free(m);
    assert_int_equal(n, strlen(rfc_client_final));
    assert_memory_equal(out, rfc_client_final, n);
    m = exact(rfc_server_final, strlen(rfc_server_final));
    assert_true(scram_client_verify(c, m, strlen(rfc_server_final), &err));
    free(m);
    scram_client_free(c);
}

/* Without hooks the client sends an empty username and a fresh 32-character nonce, as libpq does. */
static void test_client_first_format(void **state)
{
    (void)state;
    struct scram_client *c = scram_client_new("pw");
    char out[128];
    size_t n = 0;
    assert_true(scram_client_first(c, out, sizeof(out), &n));
    assert_int_equal(n, 8 + 32);
    assert_memory_equal(out, "n,,n=,r=", 8);
    for (size_t i = 8; i < n; i++)
        assert_true(out[i] > 0x20 && out[i] < 0x7f && out[i] != ',');
    assert_false(scram_client_first(c, out, sizeof(out), &n)); /* only once */
    scram_client_free(c);
    c = scram_client_new("pw");
    assert_false(scram_client_first(c, out, 10, &n)); /* output too small */
    scram_client_free(c);
}

/* Drives a whole exchange between our client and our server. */
static bool exchange_err(const char *client_pw, const struct scram_secret *sec, const char **err)
{
    struct scram_client *c = scram_client_new(client_pw);
    struct scram_server *s = scram_server_new(sec);
    assert_non_null(c);
    assert_non_null(s);
    char a[512], b[512];
    size_t an = 0, bn = 0;
    *err = NULL;
    bool ok = scram_client_first(c, a, sizeof(a), &an) && scram_server_first(s, a, an, b, sizeof(b), &bn, err) &&
              scram_client_final(c, b, bn, a, sizeof(a), &an, err) &&
              scram_server_final(s, a, an, b, sizeof(b), &bn, err) && scram_client_verify(c, b, bn, err);
    scram_client_free(c);
    scram_server_free(s);
    return ok;
}

static bool exchange(const char *client_pw, const struct scram_secret *sec)
{
    const char *err;
    return exchange_err(client_pw, sec, &err);
}

static void test_round_trip(void **state)
{
    (void)state;
    struct scram_secret sec;
    const char *err = NULL;
    assert_true(scram_build_secret("s3cret!", 4096, &sec));
    assert_int_equal(sec.salt_len, 16);
    assert_int_equal(sec.iterations, 4096);
    assert_true(exchange_err("s3cret!", &sec, &err));
    assert_null(err);
    assert_true(exchange("s3cret!", &sec)); /* second time through the PBKDF2 cache */
    assert_false(exchange_err("wrong", &sec, &err));
    assert_non_null(err);
    assert_false(exchange("s3cret", &sec));
    assert_false(exchange("", &sec));
    /* empty password */
    assert_true(scram_build_secret("", 4096, &sec));
    assert_true(exchange("", &sec));
    assert_false(exchange("s3cret!", &sec));
    /* non-ASCII passwords are raw bytes on both sides */
    assert_true(scram_build_secret("p\xc3\xa4ss\xe2\x82\xac", 10, &sec));
    assert_true(exchange("p\xc3\xa4ss\xe2\x82\xac", &sec));
    /* two secrets for one password differ by salt */
    struct scram_secret s2;
    assert_true(scram_build_secret("p\xc3\xa4ss\xe2\x82\xac", 10, &s2));
    assert_memory_not_equal(sec.salt, s2.salt, 16);
    assert_memory_not_equal(sec.stored_key, s2.stored_key, SCRAM_KEY_LEN);
}

/* A 'y' GS2 flag is accepted, and the channel-binding attribute must then be base64("y,,"). */
static void test_gs2_flag_y(void **state)
{
    (void)state;
    struct scram_secret sec = rfc_secret();
    const char *err = NULL;
    struct scram_server *s = scram_server_new(&sec);
    char out[512], fin[512];
    size_t n = 0;

    /* "c=eSws" is base64 of "y,,": the binding check passes and the (RFC, "c=biws") proof then fails */
    scram_test_set_nonce("SNONCE");
    assert_true(scram_server_first(s, "y,,n=,r=abc", 11, out, sizeof(out), &n, &err));
    snprintf(fin, sizeof(fin), "c=eSws,r=abcSNONCE,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
    assert_false(scram_server_final(s, fin, strlen(fin), out, sizeof(out), &n, &err));
    assert_non_null(strstr(err, "proof"));
    scram_server_free(s);

    /* a 'y' client sending "c=biws" (base64 of "n,,") does not match its own GS2 header */
    s = scram_server_new(&sec);
    assert_true(scram_server_first(s, "y,,n=,r=abc", 11, out, sizeof(out), &n, &err));
    snprintf(fin, sizeof(fin), "c=biws,r=abcSNONCE,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
    assert_false(scram_server_final(s, fin, strlen(fin), out, sizeof(out), &n, &err));
    assert_non_null(strstr(err, "channel binding"));
    scram_server_free(s);
}

/* Server side of transcripts computed with python3 hashlib/hmac (password "pencil", RFC salt):
 * a 'y' GS2 flag, and extensions in both client messages, which are ignored but signed. */
static void test_python_transcripts(void **state)
{
    (void)state;
    struct scram_secret sec = rfc_secret();
    struct {
        const char *first, *final, *server_final;
    } t[] = {
        {"y,,n=,r=abc", "c=eSws,r=abcSNONCE,p=SsotlRL0iN2iUTbRTqwzCsRMOH81VGVFfZZHmPqjuxg=",
         "v=+IZoXWHBcwkvwM+L1CO+a1r1ioJefRdGFFoPO0iYa/U="},
        {"n,,n=,r=abc,x=cext", "c=biws,r=abcSNONCE,x=ext,p=fj3mOkUoN0aqnJVtY8brS0WkEw67Cf9tXmJxeOwFlmo=",
         "v=jbT9R3hh0hPG0yl1LbRBjApYUOtr3MXPbRqqNiH4lA0="},
    };
    for (size_t i = 0; i < N_ELEMS(t); i++) {
        struct scram_server *s = scram_server_new(&sec);
        char out[512];
        size_t n = 0;
        const char *err = NULL;
        scram_test_set_nonce("SNONCE");
        assert_true(scram_server_first(s, t[i].first, strlen(t[i].first), out, sizeof(out), &n, &err));
        assert_memory_equal(out, "r=abcSNONCE,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", n);
        if (!scram_server_final(s, t[i].final, strlen(t[i].final), out, sizeof(out), &n, &err))
            fail_msg("transcript %zu rejected: %s", i, err);
        assert_int_equal(n, strlen(t[i].server_final));
        assert_memory_equal(out, t[i].server_final, n);
        scram_server_free(s);
    }
}

static void test_parse_secret(void **state)
{
    (void)state;
    struct scram_secret a, b = rfc_secret();
    assert_true(scram_parse_secret(rfc_secret_text, &a));
    assert_int_equal(a.iterations, 4096);
    assert_int_equal(a.salt_len, 16);
    assert_memory_equal(a.salt, rfc_salt, 16);
    assert_memory_equal(a.stored_key, b.stored_key, SCRAM_KEY_LEN);
    assert_memory_equal(a.server_key, b.server_key, SCRAM_KEY_LEN);
    assert_true(exchange("pencil", &a));
    assert_false(exchange("pencil2", &a));

    /* the largest salt the struct holds: 64 bytes, 88 base64 characters (python3-computed keys) */
    const char big[] = "SCRAM-SHA-256$1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4"
                       "OTo7PD0+Pw==$f+W9Jnh+oD9DcAyAie6jnJHkyjdwIpBidU5/LX+wCw0=:"
                       "nuHszxOTq8H0/SGAfYsh1ZdmLJgLP2X+C7oksZl85s4=";
    assert_true(scram_parse_secret(big, &a));
    assert_int_equal(a.salt_len, 64);
    assert_int_equal(a.iterations, 1);
    for (int i = 0; i < 64; i++)
        assert_int_equal(a.salt[i], i);
    uint8_t salt64[64];
    for (int i = 0; i < 64; i++)
        salt64[i] = (uint8_t)i;
    assert_true(scram_secret_from_salt("pw", salt64, 64, 1, &b));
    assert_memory_equal(a.stored_key, b.stored_key, SCRAM_KEY_LEN);
    assert_memory_equal(a.server_key, b.server_key, SCRAM_KEY_LEN);
    assert_true(exchange("pw", &a));

    const char *bad[] = {
        "",
        "md596948aad3fcae80c08a35c9b5958cd89",
        "SCRAM-SHA-256$",
        "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==",
        "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=",
        "SCRAM-SHA-256$x:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
        "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        "SCRAM-SHA-256$0:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
        "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        "SCRAM-SHA-256$+4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
        "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        "SCRAM-SHA-256$ 4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
        "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        "SCRAM-SHA-256$99999999999:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
        "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        "SCRAM-SHA-256$4096:$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        "SCRAM-SHA-256$4096:!!!!$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
        "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        /* StoredKey one byte short, ServerKey with trailing garbage, whitespace inside base64 */
        "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4g==:"
        "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
        "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=x",
        "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
        "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU= ",
        "SCRAM-SHA-256$4096:W22Z aJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
        "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        "SCRAM-SHA-1$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
        "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
    };
    for (size_t i = 0; i < N_ELEMS(bad); i++) {
        memset(&a, 0x55, sizeof(a));
        if (scram_parse_secret(bad[i], &a))
            fail_msg("accepted bad secret #%zu: %s", i, bad[i]);
        assert_int_equal(a.iterations, 0); /* cleared on failure */
    }
    assert_false(scram_secret_from_salt("pw", rfc_salt, 0, 4096, &a));
    assert_false(scram_secret_from_salt("pw", rfc_salt, 16, 0, &a));
    assert_false(scram_secret_from_salt("pw", salt64, SCRAM_MAX_SALT + 1, 1, &a));
}

/* Expects scram_server_first to reject msg; returns the error text. */
static const char *reject_first(const struct scram_secret *sec, const char *msg, size_t len)
{
    struct scram_server *s = scram_server_new(sec);
    char out[512];
    size_t n = 0;
    const char *err = NULL;
    char *m = exact(msg, len);
    if (scram_server_first(s, m, len, out, sizeof(out), &n, &err))
        fail_msg("server accepted client-first \"%.*s\"", (int)len, msg);
    free(m);
    assert_non_null(err);
    scram_server_free(s);
    return err;
}

static void test_bad_client_first(void **state)
{
    (void)state;
    struct scram_secret sec = rfc_secret();
    const char *bad[] = {"", "n", "n,", "n,,", "x,,n=,r=abc", "n,,n=,r=", "n,,n=,r=a\001b", "n,,n=,r=a b",
                         "n,,r=abc", "n,,n=", "n,,n=,", "n,,n=,x=abc", "n,n=,r=abc", "nn,,n=,r=abc",
                         "n,,n=,r=abc,", "n,,n=,r=abc,junk", "n,,n=,r=abc,=x", "n,,n=user,s=abc,r=def"};
    for (size_t i = 0; i < N_ELEMS(bad); i++)
        reject_first(&sec, bad[i], strlen(bad[i]));
    const char *err = reject_first(&sec, "p=tls-server-end-point,,n=,r=abc", 32);
    assert_non_null(strstr(err, "channel binding"));
    err = reject_first(&sec, "p", 1);
    assert_non_null(strstr(err, "channel binding"));
    err = reject_first(&sec, "n,,m=ext,n=,r=abc", 17);
    assert_non_null(strstr(err, "extension"));
    err = reject_first(&sec, "n,a=admin,n=,r=abc", 18);
    assert_non_null(strstr(err, "authorization"));
    /* an embedded NUL is not a printable nonce character */
    reject_first(&sec, "n,,n=,r=ab\0cd", 13);
    /* over-long messages and nonces */
    char big[2048];
    memcpy(big, "n,,n=,r=", 8);
    memset(big + 8, 'a', sizeof(big) - 8);
    reject_first(&sec, big, sizeof(big));
    reject_first(&sec, big, 8 + 257);

    /* accepted: username ignored, extensions after the nonce ignored (but kept for AuthMessage) */
    const char *good[] = {"n,,n=,r=abc", "y,,n=,r=abc", "n,,n=someone,r=abc", "n,,n=,r=abc,x=ext",
                          "n,,n=*,r=abc"};
    for (size_t i = 0; i < N_ELEMS(good); i++) {
        struct scram_server *s = scram_server_new(&sec);
        char out[512];
        size_t n = 0;
        const char *e = NULL;
        if (!scram_server_first(s, good[i], strlen(good[i]), out, sizeof(out), &n, &e))
            fail_msg("server rejected \"%s\": %s", good[i], e);
        assert_memory_equal(out, "r=abc", 5);
        assert_int_equal(n, strlen("r=abc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096") + 24);
        /* a second client-first is a protocol error */
        assert_false(scram_server_first(s, good[i], strlen(good[i]), out, sizeof(out), &n, &e));
        scram_server_free(s);
    }
    /* output buffer too small */
    struct scram_server *s = scram_server_new(&sec);
    char out[16];
    size_t n = 0;
    assert_false(scram_server_first(s, "n,,n=,r=abc", 11, out, sizeof(out), &n, &err));
    assert_non_null(err);
    scram_server_free(s);
}

/* Runs a good client-first (nonce "abc" + "SNONCE"), then feeds final; returns the error or NULL. */
static const char *try_final(const struct scram_secret *sec, const char *first, const char *final, size_t len)
{
    struct scram_server *s = scram_server_new(sec);
    char out[512];
    size_t n = 0;
    const char *err = NULL;
    scram_test_set_nonce("SNONCE");
    assert_true(scram_server_first(s, first, strlen(first), out, sizeof(out), &n, &err));
    scram_test_set_nonce(NULL);
    char *m = exact(final, len);
    bool ok = scram_server_final(s, m, len, out, sizeof(out), &n, &err);
    free(m);
    /* whatever happened, the exchange is over */
    const char *err2 = NULL;
    assert_false(scram_server_final(s, final, len, out, sizeof(out), &n, &err2));
    assert_non_null(err2);
    scram_server_free(s);
    return ok ? NULL : err;
}

static void test_bad_client_final(void **state)
{
    (void)state;
    struct scram_secret sec = rfc_secret();
    /* the RFC exchange, replayed with our fixed nonce, gives a valid final to mutate */
    const char first[] = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
    char good[512];
    {
        struct scram_client *c = scram_client_new("pencil");
        char out[512];
        size_t n = 0;
        const char *err = NULL;
        scram_test_set_nonce(rfc_cnonce);
        scram_test_set_user("user");
        assert_true(scram_client_first(c, out, sizeof(out), &n));
        const char sf[] = "r=rOprNGfwEbeRWgbNEkqOSNONCE,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        assert_true(scram_client_final(c, sf, strlen(sf), out, sizeof(out), &n, &err));
        out[n] = '\0';
        snprintf(good, sizeof(good), "%s", out);
        scram_client_free(c);
        reset_hooks(NULL);
    }
    assert_null(try_final(&sec, first, good, strlen(good)));
    const char *proof = strstr(good, ",p=") + 3;

    /* every truncation is rejected, and never read past */
    for (size_t len = 0; len < strlen(good); len++)
        if (try_final(&sec, first, good, len) == NULL)
            fail_msg("accepted truncated client-final (%zu bytes)", len);

    char buf[512];
    struct {
        const char *fmt; /* %s = the proof */
        const char *want; /* substring of err */
    } cases[] = {
        {"c=biws,r=rOprNGfwEbeRWgbNEkqOSNONCE", "proof"},
        {"c=biws,r=rOprNGfwEbeRWgbNEkqOSNONCE,p=", "proof"},
        {"r=rOprNGfwEbeRWgbNEkqOSNONCE,p=%s", "channel binding"},
        {"c=biws,p=%s", "nonce"},
        {"c=biws,r=rOprNGfwEbeRWgbNEkqOSNONCX,p=%s", "nonce"},
        {"c=biws,r=rOprNGfwEbeRWgbNEkqOSNONC,p=%s", "nonce"},
        {"c=biws,r=rOprNGfwEbeRWgbNEkqOSNONCEE,p=%s", "nonce"},
        {"c=eSws,r=rOprNGfwEbeRWgbNEkqOSNONCE,p=%s", "channel binding"},
        {"c=cD10bHMtdW5pcXVlLCw=,r=rOprNGfwEbeRWgbNEkqOSNONCE,p=%s", "channel binding"},
        {"c=bi?s,r=rOprNGfwEbeRWgbNEkqOSNONCE,p=%s", "channel binding"},
        {"c=biws,r=rOprNGfwEbeRWgbNEkqOSNONCE,p=not-base64!", "proof"},
        {"c=biws,r=rOprNGfwEbeRWgbNEkqOSNONCE,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ", "proof"},
        {"c=biws,r=rOprNGfwEbeRWgbNEkqOSNONCE,p=AAAA", "proof"},
        {"c=biws,r=rOprNGfwEbeRWgbNEkqOSNONCE,p=%s,x=1", "last"},
        {"c=biws,r=rOprNGfwEbeRWgbNEkqOSNONCE,p=%s,", "last"},
        {"c=biws,r=rOprNGfwEbeRWgbNEkqOSNONCE,x=ext,p=%s", "proof"}, /* extension changes AuthMessage */
        {"c=biws,r=rOprNGfwEbeRWgbNEkqOSNONCE,,p=%s", "proof"},
        {"c=biws,,r=rOprNGfwEbeRWgbNEkqOSNONCE,p=%s", "nonce"},
        {" c=biws,r=rOprNGfwEbeRWgbNEkqOSNONCE,p=%s", "channel binding"},
    };
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        snprintf(buf, sizeof(buf), cases[i].fmt, proof);
        const char *err = try_final(&sec, first, buf, strlen(buf));
        if (err == NULL)
            fail_msg("accepted bad client-final #%zu: %s", i, buf);
        if (strstr(err, cases[i].want) == NULL)
            fail_msg("client-final #%zu: error \"%s\" does not mention \"%s\"", i, err, cases[i].want);
    }

    /* any change to a significant character of the proof is caught (character 43 of 44 carries
     * two padding bits, so it is left alone) */
    for (size_t at = 0; at < 42; at++) {
        char gb[512];
        snprintf(gb, sizeof(gb), "%s", good);
        char *p = strstr(gb, ",p=") + 3;
        p[at] = p[at] == 'A' ? 'B' : 'A';
        const char *err = try_final(&sec, first, gb, strlen(gb));
        assert_non_null(err);
        assert_non_null(strstr(err, "wrong password"));
    }

    /* final before first */
    struct scram_server *s = scram_server_new(&sec);
    char out[512];
    size_t n = 0;
    const char *err = NULL;
    assert_false(scram_server_final(s, good, strlen(good), out, sizeof(out), &n, &err));
    assert_non_null(err);
    scram_server_free(s);
    /* output buffer too small for "v=..." */
    s = scram_server_new(&sec);
    scram_test_set_nonce("SNONCE");
    assert_true(scram_server_first(s, first, strlen(first), out, sizeof(out), &n, &err));
    scram_test_set_nonce(NULL);
    err = NULL;
    assert_false(scram_server_final(s, good, strlen(good), out, 46, &n, &err));
    assert_non_null(err);
    scram_server_free(s);
}

/* Runs our client's first step (nonce "CN"), then feeds server-first; returns the error or NULL. */
static const char *try_server_first(const char *msg, size_t len)
{
    struct scram_client *c = scram_client_new("pw");
    char out[512];
    size_t n = 0;
    const char *err = NULL;
    scram_test_set_nonce("CN");
    assert_true(scram_client_first(c, out, sizeof(out), &n));
    scram_test_set_nonce(NULL);
    char *m = exact(msg, len);
    bool ok = scram_client_final(c, m, len, out, sizeof(out), &n, &err);
    free(m);
    const char *err2 = NULL;
    assert_false(scram_client_final(c, msg, len, out, sizeof(out), &n, &err2)); /* once only */
    assert_non_null(err2);
    scram_client_free(c);
    return ok ? NULL : err;
}

static void test_bad_server_first(void **state)
{
    (void)state;
    const char good[] = "r=CNsrv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=16";
    assert_null(try_server_first(good, strlen(good)));
    assert_null(try_server_first("r=CNsrv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=16,x=ext", 45));
    for (size_t len = 0; len < strlen(good); len++) {
        const char *err = try_server_first(good, len);
        /* "...,i=1" is a valid message; everything shorter is not */
        if (len < strlen(good) - 1 && err == NULL)
            fail_msg("accepted truncated server-first (%zu bytes)", len);
    }
    struct {
        const char *msg;
        const char *want;
    } cases[] = {
        {"", "nonce"},
        {"r=other,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "nonce"},
        {"r=CN,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "nonce"},  /* server added nothing */
        {"r=C,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "nonce"},
        {"r=CNa b,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "nonce"},
        {"s=W22ZaJ0SNY7soEsUEjb6gQ==,r=CNsrv,i=4096", "nonce"},
        {"r=CNsrv,i=4096", "salt"},
        {"r=CNsrv,s=@@@@,i=4096", "salt"},
        {"r=CNsrv,s=W22ZaJ0SNY7soEsUEjb6gQ=,i=4096", "salt"},
        {"r=CNsrv,s=,i=4096", "salt"},
        {"r=CNsrv,s=W22ZaJ0SNY7soEsUEjb6gQ==", "iteration"},
        {"r=CNsrv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0", "iteration"},
        {"r=CNsrv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-1", "iteration"},
        {"r=CNsrv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=+5", "iteration"},
        {"r=CNsrv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096x", "iteration"},
        {"r=CNsrv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=", "iteration"},
        {"r=CNsrv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=10000001", "iteration"},
        {"r=CNsrv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999999", "iteration"},
        {"r=CNsrv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,", "garbage"},
        {"m=ext,r=CNsrv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "extension"},
        {"e=other-error", "error"},
    };
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        const char *err = try_server_first(cases[i].msg, strlen(cases[i].msg));
        if (err == NULL)
            fail_msg("accepted bad server-first #%zu: %s", i, cases[i].msg);
        if (strstr(err, cases[i].want) == NULL)
            fail_msg("server-first #%zu: error \"%s\" does not mention \"%s\"", i, err, cases[i].want);
    }
    /* verify before final, verify after a failed final: both refused (no all-zero signature accepted) */
    struct scram_client *c = scram_client_new("pw");
    const char *err = NULL;
    const char zero_v[] = "v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    assert_false(scram_client_verify(c, zero_v, strlen(zero_v), &err));
    scram_client_free(c);
    c = scram_client_new("pw");
    char out[512];
    size_t n = 0;
    assert_true(scram_client_first(c, out, sizeof(out), &n));
    assert_false(scram_client_final(c, "r=x", 3, out, sizeof(out), &n, &err));
    err = NULL;
    assert_false(scram_client_verify(c, zero_v, strlen(zero_v), &err));
    assert_non_null(err);
    scram_client_free(c);
}

/* Runs the RFC exchange up to the client's final, then feeds msg as server-final. */
static const char *try_server_final(const char *msg, size_t len)
{
    struct scram_client *c = scram_client_new("pencil");
    char out[512];
    size_t n = 0;
    const char *err = NULL;
    scram_test_set_nonce(rfc_cnonce);
    scram_test_set_user("user");
    assert_true(scram_client_first(c, out, sizeof(out), &n));
    assert_true(scram_client_final(c, rfc_server_first, strlen(rfc_server_first), out, sizeof(out), &n, &err));
    reset_hooks(NULL);
    char *m = exact(msg, len);
    bool ok = scram_client_verify(c, m, len, &err);
    free(m);
    const char *err2 = NULL;
    assert_false(scram_client_verify(c, rfc_server_final, strlen(rfc_server_final), &err2)); /* once only */
    assert_non_null(err2);
    scram_client_free(c);
    return ok ? NULL : err;
}

static void test_bad_server_final(void **state)
{
    (void)state;
    assert_null(try_server_final(rfc_server_final, strlen(rfc_server_final)));
    assert_null(try_server_final("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=,x=ext", 52));
    for (size_t len = 0; len < strlen(rfc_server_final); len++)
        if (try_server_final(rfc_server_final, len) == NULL)
            fail_msg("accepted truncated server-final (%zu bytes)", len);
    struct {
        const char *msg;
        const char *want;
    } cases[] = {
        {"e=invalid-proof", "invalid-proof"},
        {"e=unknown-user", "unknown-user"},
        {"e=something-new", "SCRAM error"},
        {"e=", "SCRAM error"},
        {"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G8=", "does not match"},
        {"v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "does not match"},
        {"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=,", "malformed"},
        {"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=junk", "malformed"},
        {"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4", "malformed"},
        {"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl9", "malformed"},
        {"x=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", "malformed"},
        {"V=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", "malformed"},
    };
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        const char *err = try_server_final(cases[i].msg, strlen(cases[i].msg));
        if (err == NULL)
            fail_msg("accepted bad server-final #%zu: %s", i, cases[i].msg);
        if (strstr(err, cases[i].want) == NULL)
            fail_msg("server-final #%zu: error \"%s\" does not mention \"%s\"", i, err, cases[i].want);
    }
}

static void test_ct_equal(void **state)
{
    (void)state;
    assert_true(scram_ct_equal("abcd", "abcd", 4));
    assert_false(scram_ct_equal("abcd", "abce", 4));
    assert_true(scram_ct_equal("abcd", "abce", 3));
    assert_true(scram_ct_equal("", "x", 0));
}

static void test_md5(void **state)
{
    (void)state;
    char out[MD5_PASSWD_LEN + 1];
    /* md5.h: md5_password_hash(password, user) = "md5" + hex(md5(password || user)) */
    md5_password_hash("foo", "bar", out); /* python3: hashlib.md5(b'foobar') */
    assert_string_equal(out, "md53858f62230ac3c915f300c664312c63f");
    md5_password_hash("bar", "foo", out); /* user "foo" with password "bar": hashlib.md5(b'barfoo') */
    assert_string_equal(out, "md596948aad3fcae80c08a35c9b5958cd89");
    assert_true(md5_is_secret(out));

    char resp[MD5_PASSWD_LEN + 1];
    const uint8_t salt1[4] = {0xde, 0xad, 0xbe, 0xef};
    md5_salted_response(out, salt1, resp);
    /* python3: 'md5' + hashlib.md5(b'96948aad3fcae80c08a35c9b5958cd89' + bytes([0xde,0xad,0xbe,0xef])).hexdigest() */
    assert_string_equal(resp, "md575be443149c3bb3876e0b1e509b047cd");
    md5_password_hash("foo", "bar", out);
    const uint8_t salt2[4] = {0x01, 0x02, 0x03, 0x04};
    md5_salted_response(out, salt2, resp);
    /* python3: 'md5' + hashlib.md5(b'3858f62230ac3c915f300c664312c63f' + bytes([1,2,3,4])).hexdigest() */
    assert_string_equal(resp, "md56e4f0b50f7277feb74acbf2a7734c9cb");

    /* a malformed stored value never yields a predictable answer */
    char r2[MD5_PASSWD_LEN + 1];
    md5_salted_response("md5short", salt2, resp);
    md5_salted_response("md5short", salt2, r2);
    assert_int_equal(strlen(resp), MD5_PASSWD_LEN);
    assert_string_not_equal(resp, r2);

    assert_true(md5_is_secret("md53858f62230ac3c915f300c664312c63f"));
    assert_false(md5_is_secret(""));
    assert_false(md5_is_secret("md5"));
    assert_false(md5_is_secret("md5xyz"));
    assert_false(md5_is_secret("md53858F62230ac3c915f300c664312c63f")); /* uppercase */
    assert_false(md5_is_secret("md53858f62230ac3c915f300c664312c63"));  /* short */
    assert_false(md5_is_secret("md53858f62230ac3c915f300c664312c63f0")); /* long */
    assert_false(md5_is_secret("MD53858f62230ac3c915f300c664312c63f"));
    assert_false(md5_is_secret("md53858f62230ac3c915f300c664312c63g"));
    assert_false(md5_is_secret("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ=="));
}

/* ---- SCRAM pass-through ---- */

/* python3: hmac(pbkdf2_hmac('sha256', b'pencil', salt, 4096), b'Client Key', 'sha256') */
static const uint8_t rfc_client_key[SCRAM_KEY_LEN] = {
    0xa6, 0x0f, 0xc9, 0x23, 0xd6, 0x7e, 0x86, 0x44, 0xa9, 0x2d, 0x16, 0xb9, 0x6e, 0xda, 0x5e, 0xf4,
    0x65, 0x6b, 0x0c, 0x72, 0x5c, 0x48, 0x43, 0x74, 0xbe, 0x25, 0x53, 0x55, 0x76, 0x99, 0x6e, 0x8b};

/* The server recovers ClientKey = ClientProof XOR ClientSignature from the RFC's exchange, and only
 * once the proof has been checked. */
static void test_passthrough_client_key_recovery(void **state)
{
    (void)state;
    struct scram_secret sec;
    assert_true(scram_parse_secret(rfc_secret_text, &sec));
    struct scram_server *s = scram_server_new(&sec);
    char out[512];
    size_t n = 0;
    const char *err = NULL;
    uint8_t key[SCRAM_KEY_LEN];
    assert_false(scram_server_client_key(s, key));
    scram_test_set_nonce(rfc_snonce);
    assert_true(scram_server_first(s, rfc_client_first, strlen(rfc_client_first), out, sizeof(out), &n, &err));
    assert_false(scram_server_client_key(s, key));
    assert_true(scram_server_final(s, rfc_client_final, strlen(rfc_client_final), out, sizeof(out), &n, &err));
    assert_true(scram_server_client_key(s, key));
    assert_memory_equal(key, rfc_client_key, SCRAM_KEY_LEN);
    scram_server_free(s);

    /* a wrong proof yields no key */
    s = scram_server_new(&sec);
    assert_true(scram_server_first(s, rfc_client_first, strlen(rfc_client_first), out, sizeof(out), &n, &err));
    char bad[sizeof(rfc_client_final)];
    memcpy(bad, rfc_client_final, sizeof(bad));
    bad[strlen(bad) - 3] = bad[strlen(bad) - 3] == 'A' ? 'B' : 'A';
    assert_false(scram_server_final(s, bad, strlen(bad), out, sizeof(out), &n, &err));
    assert_false(scram_server_client_key(s, key));
    scram_server_free(s);
}

/* A client holding only ClientKey and the secret (no password) produces the RFC's proof and
 * checks the RFC's server signature. */
static void test_passthrough_proof_rfc7677(void **state)
{
    (void)state;
    struct scram_secret sec;
    assert_true(scram_parse_secret(rfc_secret_text, &sec));
    struct scram_client *c = scram_client_new_keys(rfc_client_key, &sec);
    assert_non_null(c);
    char out[512];
    size_t n = 0;
    const char *err = NULL;
    scram_test_set_nonce(rfc_cnonce);
    scram_test_set_user("user");
    assert_true(scram_client_first(c, out, sizeof(out), &n));
    char *m = exact(rfc_server_first, strlen(rfc_server_first));
    assert_true(scram_client_final(c, m, strlen(rfc_server_first), out, sizeof(out), &n, &err));
    free(m);
    assert_int_equal(n, strlen(rfc_client_final));
    assert_memory_equal(out, rfc_client_final, n);
    m = exact(rfc_server_final, strlen(rfc_server_final));
    assert_true(scram_client_verify(c, m, strlen(rfc_server_final), &err));
    free(m);
    scram_client_free(c);

    /* a forged server signature is still refused */
    c = scram_client_new_keys(rfc_client_key, &sec);
    assert_true(scram_client_first(c, out, sizeof(out), &n));
    assert_true(scram_client_final(c, rfc_server_first, strlen(rfc_server_first), out, sizeof(out), &n, &err));
    static const char forged[] = "v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
    assert_false(scram_client_verify(c, forged, strlen(forged), &err));
    scram_client_free(c);
}

/* The server's salt or iteration count differing from the secret's is named, not a wrong proof. */
static void test_passthrough_salt_mismatch(void **state)
{
    (void)state;
    struct scram_secret sec;
    assert_true(scram_parse_secret(rfc_secret_text, &sec));
    static const char *const servers[] = {
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4097",
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=X22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ8=,i=4096",
    };
    scram_test_set_nonce(rfc_cnonce);
    for (size_t i = 0; i < N_ELEMS(servers); i++) {
        struct scram_client *c = scram_client_new_keys(rfc_client_key, &sec);
        char out[512];
        size_t n = 0;
        const char *err = NULL;
        assert_true(scram_client_first(c, out, sizeof(out), &n));
        assert_false(scram_client_final(c, servers[i], strlen(servers[i]), out, sizeof(out), &n, &err));
        assert_non_null(strstr(err, "salt or iteration count"));
        scram_client_free(c);
    }
    assert_null(scram_client_new_keys(rfc_client_key, NULL));
}

/* End to end, random nonces: a password client proves itself to wedpool's server side; the key it
 * proved logs in to a second server holding the same secret (what PostgreSQL does). */
static void test_passthrough_round_trip(void **state)
{
    (void)state;
    static const uint8_t salt[] = "pass-through-salt";
    struct scram_secret sec;
    assert_true(scram_secret_from_salt("s3cret", salt, sizeof(salt) - 1, 4096, &sec));
    uint8_t key[SCRAM_KEY_LEN];
    char a[512], b[512];
    size_t an = 0, bn = 0;
    const char *err = NULL;
    /* client -> wedpool */
    struct scram_client *pc = scram_client_new("s3cret");
    struct scram_server *ws = scram_server_new(&sec);
    assert_true(scram_client_first(pc, a, sizeof(a), &an));
    assert_true(scram_server_first(ws, a, an, b, sizeof(b), &bn, &err));
    assert_true(scram_client_final(pc, b, bn, a, sizeof(a), &an, &err));
    assert_true(scram_server_final(ws, a, an, b, sizeof(b), &bn, &err));
    assert_true(scram_client_verify(pc, b, bn, &err));
    assert_true(scram_server_client_key(ws, key));
    scram_client_free(pc);
    scram_server_free(ws);
    /* wedpool -> server, twice (each server login reuses the key) */
    for (int round = 0; round < 2; round++) {
        struct scram_client *kc = scram_client_new_keys(key, &sec);
        struct scram_server *ps = scram_server_new(&sec);
        assert_true(scram_client_first(kc, a, sizeof(a), &an));
        assert_true(scram_server_first(ps, a, an, b, sizeof(b), &bn, &err));
        assert_true(scram_client_final(kc, b, bn, a, sizeof(a), &an, &err));
        assert_true(scram_server_final(ps, a, an, b, sizeof(b), &bn, &err));
        assert_true(scram_client_verify(kc, b, bn, &err));
        scram_client_free(kc);
        scram_server_free(ps);
    }
}

/* The mock salt (user enumeration): a function of the name within a process, different for
 * different names, and what a mock exchange shows, with the default iteration count. */
static void test_mock_salt(void **state)
{
    (void)state;
    uint8_t a[SCRAM_MOCK_SALT_LEN], a2[SCRAM_MOCK_SALT_LEN], b[SCRAM_MOCK_SALT_LEN], e[SCRAM_MOCK_SALT_LEN];
    assert_true(scram_mock_salt("ghost", a));
    assert_true(scram_mock_salt("ghost", a2));
    assert_true(scram_mock_salt("ghosts", b));
    assert_true(scram_mock_salt("", e));
    assert_memory_equal(a, a2, sizeof(a));
    assert_memory_not_equal(a, b, sizeof(a));
    assert_memory_not_equal(a, e, sizeof(a));
    static const uint8_t zero[SCRAM_MOCK_SALT_LEN];
    assert_memory_not_equal(a, zero, sizeof(a));

    /* two mock exchanges for the same name show the same salt and i=4096, like a real user's */
    char first[2][512];
    for (int k = 0; k < 2; k++) {
        struct scram_server *s = scram_server_new_mock("ghost");
        assert_non_null(s);
        size_t n = 0;
        const char *err = NULL;
        scram_test_set_nonce("SRV");
        assert_true(scram_server_first(s, "n,,n=,r=CLI", 11, first[k], sizeof(first[k]) - 1, &n, &err));
        first[k][n] = '\0';
        scram_server_free(s);
    }
    assert_string_equal(first[0], first[1]);
    assert_non_null(strstr(first[0], ",i=4096"));
    assert_int_equal(strlen(first[0]), strlen("r=CLISRV,s=") + 24 + strlen(",i=4096")); /* 16 bytes: 24 base64 */
    struct scram_server *other = scram_server_new_mock("ghosts");
    char o[512];
    size_t on = 0;
    const char *oerr = NULL;
    assert_true(scram_server_first(other, "n,,n=,r=CLI", 11, o, sizeof(o) - 1, &on, &oerr));
    o[on] = '\0';
    assert_string_not_equal(o, first[0]);
    scram_server_free(other);
}

/* A mock exchange runs to the end and fails there with the wrong-password error of a real user. */
static void test_mock_exchange_fails_like_a_wrong_password(void **state)
{
    (void)state;
    const char *errs[2] = {NULL, NULL};
    for (int k = 0; k < 2; k++) {
        struct scram_secret sec = rfc_secret();
        struct scram_server *s = k == 0 ? scram_server_new(&sec) : scram_server_new_mock("user");
        struct scram_client *c = scram_client_new("wrong");
        char a[512], b[512];
        size_t an = 0, bn = 0;
        const char *err = NULL;
        assert_true(scram_client_first(c, a, sizeof(a), &an));
        assert_true(scram_server_first(s, a, an, b, sizeof(b), &bn, &err));
        assert_true(scram_client_final(c, b, bn, a, sizeof(a), &an, &err));
        assert_false(scram_server_final(s, a, an, b, sizeof(b), &bn, &errs[k]));
        scram_client_free(c);
        scram_server_free(s);
    }
    assert_non_null(errs[0]);
    assert_string_equal(errs[0], errs[1]);
}

static int rounds_allowed;
static bool keep_going_for(void *arg)
{
    (void)arg;
    return rounds_allowed-- > 0;
}

/* The worker's PBKDF2 (checks between rounds) equals OpenSSL's, and stops when told to. */
static void test_salted_password_cancellable(void **state)
{
    (void)state;
    uint8_t want[SCRAM_KEY_LEN], got[SCRAM_KEY_LEN];
    static const int counts[] = {1, 2, 4095, 4096, 4097, 10000};
    for (size_t i = 0; i < N_ELEMS(counts); i++) {
        rounds_allowed = 1000;
        assert_true(scram_salted_password("pencil", rfc_salt, sizeof(rfc_salt), counts[i], NULL, NULL, want));
        assert_true(scram_salted_password("pencil", rfc_salt, sizeof(rfc_salt), counts[i], keep_going_for, NULL, got));
        assert_memory_equal(want, got, sizeof(want));
    }
    rounds_allowed = 1; /* the first check passes, the second stops it */
    assert_false(scram_salted_password("pencil", rfc_salt, sizeof(rfc_salt), 100000, keep_going_for, NULL, got));
}

/* The client in steps: the iteration cap, and a key derived elsewhere gives the RFC's proof. */
static void test_client_steps_and_cap(void **state)
{
    (void)state;
    char out[512];
    size_t n = 0;
    const char *err = NULL;
    scram_test_set_nonce(rfc_cnonce);
    scram_test_set_user("user");

    struct scram_client *c = scram_client_new("pencil");
    assert_true(scram_client_first(c, out, sizeof(out), &n));
    assert_false(scram_client_read_first(c, rfc_server_first, strlen(rfc_server_first), 4095, &err));
    assert_non_null(strstr(err, "limit"));
    assert_int_equal(scram_client_iterations(c), 4096);
    scram_client_free(c);

    c = scram_client_new("pencil");
    assert_true(scram_client_first(c, out, sizeof(out), &n));
    assert_true(scram_client_read_first(c, rfc_server_first, strlen(rfc_server_first), 4096, &err));
    assert_false(scram_client_write_final(c, out, sizeof(out), &n, &err)); /* no key yet */
    scram_client_free(c);

    c = scram_client_new("pencil");
    assert_true(scram_client_first(c, out, sizeof(out), &n));
    assert_true(scram_client_read_first(c, rfc_server_first, strlen(rfc_server_first), 4096, &err));
    const char *pw;
    const uint8_t *salt;
    size_t salt_len;
    int it;
    scram_client_derive_input(c, &pw, &salt, &salt_len, &it);
    assert_string_equal(pw, "pencil");
    assert_int_equal(salt_len, sizeof(rfc_salt));
    assert_memory_equal(salt, rfc_salt, salt_len);
    assert_int_equal(it, 4096);
    uint8_t sp[SCRAM_KEY_LEN];
    assert_true(scram_salted_password(pw, salt, salt_len, it, NULL, NULL, sp));
    scram_client_set_key(c, sp);
    assert_true(scram_client_write_final(c, out, sizeof(out), &n, &err));
    assert_int_equal(n, strlen(rfc_client_final));
    assert_memory_equal(out, rfc_client_final, n);
    assert_true(scram_client_verify(c, rfc_server_final, strlen(rfc_server_final), &err));
    scram_client_free(c);

    /* the key was cached: the next login with the same salt needs no derivation */
    c = scram_client_new("pencil");
    assert_true(scram_client_first(c, out, sizeof(out), &n));
    assert_true(scram_client_read_first(c, rfc_server_first, strlen(rfc_server_first), 4096, &err));
    assert_true(scram_client_key_cached(c));
    scram_client_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_rfc7677_server, reset_hooks),
        cmocka_unit_test_teardown(test_rfc7677_client, reset_hooks),
        cmocka_unit_test_teardown(test_client_first_format, reset_hooks),
        cmocka_unit_test_teardown(test_round_trip, reset_hooks),
        cmocka_unit_test_teardown(test_gs2_flag_y, reset_hooks),
        cmocka_unit_test_teardown(test_python_transcripts, reset_hooks),
        cmocka_unit_test_teardown(test_parse_secret, reset_hooks),
        cmocka_unit_test_teardown(test_bad_client_first, reset_hooks),
        cmocka_unit_test_teardown(test_bad_client_final, reset_hooks),
        cmocka_unit_test_teardown(test_bad_server_first, reset_hooks),
        cmocka_unit_test_teardown(test_bad_server_final, reset_hooks),
        cmocka_unit_test_teardown(test_passthrough_client_key_recovery, reset_hooks),
        cmocka_unit_test_teardown(test_passthrough_proof_rfc7677, reset_hooks),
        cmocka_unit_test_teardown(test_passthrough_salt_mismatch, reset_hooks),
        cmocka_unit_test_teardown(test_passthrough_round_trip, reset_hooks),
        cmocka_unit_test(test_ct_equal),
        cmocka_unit_test(test_md5),
        cmocka_unit_test_teardown(test_mock_salt, reset_hooks),
        cmocka_unit_test_teardown(test_mock_exchange_fails_like_a_wrong_password, reset_hooks),
        cmocka_unit_test(test_salted_password_cancellable),
        cmocka_unit_test_teardown(test_client_steps_and_cap, reset_hooks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
