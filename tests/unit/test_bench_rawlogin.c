/* test_bench_rawlogin.c — wedpool-bench's own login (--login raw): the startup packet and the
 * other frontend messages, backend message framing (malformed and oversized lengths), the
 * authentication requests, the md5 answer against a known vector, the login's state machine
 * through a whole SCRAM exchange with wedpool's SCRAM server (server messages built by the
 * daemon's src/proto.c), the conninfo defaults, and which runs log in raw (--login). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "args.h"
#include "rawlogin.h"
#include "scram.h"

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void set_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* An Authentication body: the code, then data. */
static size_t auth_body(uint8_t *out, int32_t code, const void *data, size_t len)
{
    set_be32(out, (uint32_t)code);
    if (len > 0)
        memcpy(out + 4, data, len);
    return 4 + len;
}

static enum raw_login_state feed(struct raw_login *l, char type, const void *body, size_t len, struct pbuf *out)
{
    struct raw_msg m = {.type = type, .body = body, .len = len};
    return raw_login_feed(l, &m, out);
}

/* Frames and feeds every message in `in` (built with the daemon's proto_* builders). */
static enum raw_login_state feed_built(struct raw_login *l, struct pbuf *in, struct pbuf *out)
{
    enum raw_login_state st = l->state;
    size_t off = 0, used;
    struct raw_msg m;
    while (off < in->len) {
        assert_int_equal(raw_frame(in->data + off, in->len - off, RAW_MAX_MESSAGE, &m, &used), RAW_FRAME_OK);
        st = raw_login_feed(l, &m, out);
        off += used;
    }
    pbuf_free(in);
    return st;
}

static enum raw_login_state feed_auth(struct raw_login *l, int32_t code, const void *data, size_t len,
                                      struct pbuf *out)
{
    uint8_t body[512];
    return feed(l, 'R', body, auth_body(body, code, data, len), out);
}

/* ---- building ---- */

static void test_startup_packet(void **state)
{
    (void)state;
    struct pbuf b = {0};
    assert_true(raw_build_startup(&b, "app", "appdb", "wpbench-critical", NULL));
    static const char kv[] = "user\0app\0database\0appdb\0application_name\0wpbench-critical\0";
    size_t want = 8 + sizeof(kv); /* sizeof counts the final terminator */
    assert_int_equal(b.len, want);
    assert_int_equal(be32(b.data), want);
    assert_int_equal(be32(b.data + 4), 196608); /* 3.0 */
    assert_memory_equal(b.data + 8, kv, sizeof(kv));
    /* options go in too; a second message is appended after the first */
    size_t first = b.len;
    assert_true(raw_build_startup(&b, "u", "d", NULL, "-c work_mem=64kB"));
    static const char kv2[] = "user\0u\0database\0d\0options\0-c work_mem=64kB\0";
    assert_int_equal(be32(b.data + first), 8 + sizeof(kv2));
    assert_memory_equal(b.data + first + 8, kv2, sizeof(kv2));
    /* longer than PostgreSQL takes (10000 bytes): refused, nothing of it left in the buffer */
    char *big = malloc(12000);
    assert_non_null(big);
    memset(big, 'x', 11999);
    big[11999] = '\0';
    size_t before = b.len;
    assert_false(raw_build_startup(&b, big, "d", NULL, NULL));
    assert_int_equal(b.len, before);
    free(big);
    pbuf_free(&b);
}

static void test_frontend_messages(void **state)
{
    (void)state;
    struct pbuf b = {0};
    assert_true(raw_build_password(&b, "secret"));
    assert_int_equal(b.len, 1 + 4 + 7);
    assert_int_equal(b.data[0], 'p');
    assert_int_equal(be32(b.data + 1), 4 + 7);
    assert_memory_equal(b.data + 5, "secret", 7);
    raw_consume(&b, b.len);
    assert_true(raw_build_sasl_initial(&b, "SCRAM-SHA-256", "n,,n=,r=abc", 11));
    assert_int_equal(b.data[0], 'p');
    assert_int_equal(be32(b.data + 1), 4 + 14 + 4 + 11);
    assert_memory_equal(b.data + 5, "SCRAM-SHA-256", 14);
    assert_int_equal(be32(b.data + 19), 11);
    assert_memory_equal(b.data + 23, "n,,n=,r=abc", 11);
    raw_consume(&b, b.len);
    assert_true(raw_build_sasl_response(&b, "c=biws", 6));
    assert_int_equal(be32(b.data + 1), 10);
    raw_consume(&b, b.len);
    assert_true(raw_build_terminate(&b));
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, "X\0\0\0\4", 5);
    pbuf_free(&b);
}

static void test_md5_known_vector(void **state)
{
    (void)state;
    /* md5(hex(md5("apppass" "app")) || 01 02 03 04), computed independently */
    static const uint8_t salt[4] = {1, 2, 3, 4};
    char out[36];
    raw_md5_answer("apppass", "app", salt, out);
    assert_string_equal(out, "md57c4ce2f1a9027aaf50bdd78df96acb9c");
}

/* ---- parsing ---- */

static void test_frame(void **state)
{
    (void)state;
    struct raw_msg m;
    size_t used = 0;
    uint8_t buf[16] = {'Z', 0, 0, 0, 5, 'I', 'S'};
    assert_int_equal(raw_frame(buf, 6, RAW_MAX_MESSAGE, &m, &used), RAW_FRAME_OK);
    assert_int_equal(m.type, 'Z');
    assert_int_equal(m.len, 1);
    assert_int_equal(m.body[0], 'I');
    assert_int_equal(used, 6);
    /* incomplete header or body */
    for (size_t n = 0; n < 6; n++)
        assert_int_equal(raw_frame(buf, n, RAW_MAX_MESSAGE, &m, &used), RAW_FRAME_PARTIAL);
    /* lengths below 4 (the length counts itself), over the cap up to 2^32 - 1 (found before the body
     * has arrived), and an authentication request's tighter cap */
    static const struct {
        char type;
        uint32_t len;
        enum raw_frame_result want;
    } lengths[] = {
        {'E', 3, RAW_FRAME_BAD},
        {'E', 0, RAW_FRAME_BAD},
        {'E', RAW_MAX_MESSAGE + 1, RAW_FRAME_BAD},
        {'E', UINT32_MAX, RAW_FRAME_BAD},
        {'E', RAW_MAX_MESSAGE, RAW_FRAME_PARTIAL},
        {'R', RAW_MAX_AUTH + 1, RAW_FRAME_BAD},
        {'R', RAW_MAX_AUTH, RAW_FRAME_PARTIAL},
        {'K', 4, RAW_FRAME_OK},
    };
    for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
        uint8_t head[5] = {(uint8_t)lengths[i].type};
        set_be32(head + 1, lengths[i].len);
        assert_int_equal(raw_frame(head, sizeof(head), RAW_MAX_MESSAGE, &m, &used), lengths[i].want);
    }
}

static void test_parse_auth(void **state)
{
    (void)state;
    struct raw_auth a;
    uint8_t body[128];
    assert_true(raw_parse_auth(body, auth_body(body, 0, NULL, 0), &a));
    assert_int_equal(a.code, RAW_AUTH_OK);
    assert_true(raw_parse_auth(body, auth_body(body, 3, NULL, 0), &a));
    assert_int_equal(a.code, RAW_AUTH_CLEARTEXT);
    assert_true(raw_parse_auth(body, auth_body(body, 5, "\x9\x8\x7\x6", 4), &a));
    assert_int_equal(a.code, RAW_AUTH_MD5);
    assert_memory_equal(a.salt, "\x9\x8\x7\x6", 4);
    static const char mechs[] = "SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0"; /* + the final empty name */
    assert_true(raw_parse_auth(body, auth_body(body, 10, mechs, sizeof(mechs)), &a));
    assert_int_equal(a.code, RAW_AUTH_SASL);
    assert_true(a.scram);
    assert_true(raw_parse_auth(body, auth_body(body, 10, "SCRAM-SHA-256-PLUS\0", 20), &a));
    assert_false(a.scram);
    assert_true(raw_parse_auth(body, auth_body(body, 11, "r=abc", 5), &a));
    assert_int_equal(a.code, RAW_AUTH_SASL_CONTINUE);
    assert_int_equal(a.len, 5);
    assert_memory_equal(a.data, "r=abc", 5);
    assert_true(raw_parse_auth(body, auth_body(body, 7, NULL, 0), &a)); /* GSS: parses, unsupported later */
    assert_int_equal(a.code, 7);

    /* malformed */
    assert_false(raw_parse_auth(body, 3, &a));                                   /* no code */
    assert_false(raw_parse_auth(body, auth_body(body, 0, "x", 1), &a));          /* ok with data */
    assert_false(raw_parse_auth(body, auth_body(body, 3, "x", 1), &a));          /* cleartext with data */
    assert_false(raw_parse_auth(body, auth_body(body, 5, "\1\2\3", 3), &a));     /* short salt */
    assert_false(raw_parse_auth(body, auth_body(body, 5, "\1\2\3\4\5", 5), &a)); /* long salt */
    assert_false(raw_parse_auth(body, auth_body(body, 10, NULL, 0), &a));        /* no list */
    assert_false(raw_parse_auth(body, auth_body(body, 10, "SCRAM-SHA-256", 13), &a));   /* unterminated */
    assert_false(raw_parse_auth(body, auth_body(body, 10, "SCRAM-SHA-256\0", 14), &a)); /* no final empty name */
    assert_false(raw_parse_auth(body, auth_body(body, 10, "SCRAM-SHA-256\0\0x", 16), &a)); /* bytes after it */
}

/* ---- the login ---- */

/* The server side of a SCRAM exchange: wedpool's own SCRAM server with a fixed salt. */
struct fake_server {
    struct scram_secret secret;
    struct scram_server *s;
};

static void server_init(struct fake_server *f, const char *password)
{
    static const uint8_t salt[16] = "0123456789abcdef";
    assert_true(scram_secret_from_salt(password, salt, sizeof(salt), 4096, &f->secret));
    f->s = scram_server_new(&f->secret);
    assert_non_null(f->s);
}

/* The bench answers the server; returns the state after SASLFinal, AuthenticationOk and the
 * parameters (or where it failed). */
static enum raw_login_state scram_exchange(struct raw_login *l, const char *server_password, struct pbuf *out)
{
    struct fake_server f;
    server_init(&f, server_password);
    static const char mechs[] = "SCRAM-SHA-256\0";
    assert_int_equal(feed_auth(l, 10, mechs, sizeof(mechs), out), RL_SASL_CONTINUE);
    /* SASLInitialResponse: 'p', length, mechanism, data length, client-first-message */
    assert_int_equal(out->data[0], 'p');
    assert_int_equal(be32(out->data + 1), out->len - 1);
    assert_string_equal((const char *)out->data + 5, "SCRAM-SHA-256");
    uint32_t n = be32(out->data + 19);
    assert_int_equal(23 + n, out->len);
    char reply[1024];
    size_t rlen;
    const char *err = NULL;
    assert_true(scram_server_first(f.s, (const char *)out->data + 23, n, reply, sizeof(reply), &rlen, &err));
    raw_consume(out, out->len);
    assert_int_equal(feed_auth(l, 11, reply, rlen, out), RL_SASL_FINAL);
    /* SASLResponse: client-final-message */
    assert_int_equal(out->data[0], 'p');
    bool proof_ok = scram_server_final(f.s, (const char *)out->data + 5, out->len - 5, reply, sizeof(reply), &rlen,
                                       &err);
    raw_consume(out, out->len);
    scram_server_free(f.s);
    struct pbuf in = {0};
    if (!proof_ok) {
        proto_error(&in, "FATAL", "28P01", "password authentication failed for user \"%s\"", "app");
        return feed_built(l, &in, out);
    }
    assert_int_equal(feed_auth(l, 12, reply, rlen, out), RL_SASL_DONE);
    proto_auth(&in, 0, NULL, 0);
    proto_param_status(&in, "client_encoding", "UTF8");
    proto_param_status(&in, "server_version", "15.18");
    proto_backend_key(&in, 1, 2);
    proto_notice(&in, "00000", "hello");
    assert_int_equal(feed_built(l, &in, out), RL_PARAMS);
    proto_ready(&in, 'I');
    return feed_built(l, &in, out);
}

static void test_login_scram(void **state)
{
    (void)state;
    struct raw_login l;
    struct pbuf out = {0};
    for (int i = 0; i < 2; i++) { /* the second login takes the salted password from the cache */
        raw_login_init(&l, "app", "apppass");
        assert_int_equal(scram_exchange(&l, "apppass", &out), RL_READY);
        assert_string_equal(l.server_version, "15.18");
        assert_int_equal(out.len, 0);
        raw_login_clear(&l);
    }
    /* the wrong password: the server's 28P01, as libpq's verbose message reads */
    raw_login_init(&l, "app", "wrong");
    assert_int_equal(scram_exchange(&l, "apppass", &out), RL_FAILED);
    assert_string_equal(l.code, "28P01");
    assert_string_equal(l.message, "FATAL:  28P01: password authentication failed for user \"app\"");
    /* nothing moves a failed login */
    assert_int_equal(feed(&l, 'Z', "I", 1, &out), RL_FAILED);
    raw_login_clear(&l);
    pbuf_free(&out);
}

static void test_login_cleartext_md5_trust(void **state)
{
    (void)state;
    struct raw_login l;
    struct pbuf out = {0};
    raw_login_init(&l, "app", "apppass");
    assert_int_equal(feed_auth(&l, 3, NULL, 0, &out), RL_AUTH);
    assert_int_equal(out.len, 1 + 4 + 8);
    assert_memory_equal(out.data + 5, "apppass", 8);
    raw_consume(&out, out.len);
    assert_int_equal(feed_auth(&l, 0, NULL, 0, &out), RL_PARAMS);
    assert_int_equal(feed(&l, 'Z', "I", 1, &out), RL_READY);
    raw_login_clear(&l);

    raw_login_init(&l, "app", "apppass");
    assert_int_equal(feed_auth(&l, 5, "\1\2\3\4", 4, &out), RL_AUTH);
    assert_int_equal(out.data[0], 'p');
    assert_memory_equal(out.data + 5, "md57c4ce2f1a9027aaf50bdd78df96acb9c", 36);
    raw_consume(&out, out.len);
    raw_login_clear(&l);

    /* trust: AuthenticationOk at once, no password needed */
    raw_login_init(&l, "app", NULL);
    assert_int_equal(feed_auth(&l, 0, NULL, 0, &out), RL_PARAMS);
    assert_int_equal(feed(&l, 'Z', "I", 1, &out), RL_READY);
    raw_login_clear(&l);
    pbuf_free(&out);
}

/* Logins that must fail: the messages fed, the SQLSTATE and a part of the message expected. */
static const struct {
    const char *password;
    struct {
        char type; /* 0 = no more */
        const char *body;
        size_t len;
    } msgs[3];
    const char *code, *message;
} failing[] = {
    /* protocol violations */
    {"pw", {{'T', "\0\0", 2}}, "08P01", "unexpected message type \"T\""}, /* a result before authentication */
    {"pw", {{'Z', "I", 1}}, "08P01", "unexpected message type \"Z\""},   /* ready before AuthenticationOk */
    {"pw", {{'R', "\0\0\0\5" "\1\2", 6}}, "08P01", "invalid authentication request"}, /* short md5 salt */
    {"pw", {{'R', "\0\0\0\13" "r=x", 7}}, "08P01", "unexpected authentication request 11"}, /* no SASL yet */
    {NULL, {{'R', "\0\0\0\0", 4}, {'R', "\0\0\0\0", 4}}, "08P01", "unexpected message type \"R\""},
    {NULL, {{'R', "\0\0\0\0", 4}, {'S', "server_version\0" "15", 17}}, "08P01", "malformed ParameterStatus"},
    {NULL, {{'E', "C53300", 6}}, "08P01", "malformed ErrorResponse"},
    /* an ErrorResponse with no usable SQLSTATE */
    {NULL, {{'E', "SFATAL\0Cbad\0Mno\0", 17}}, "XX000", "FATAL:  XX000: no"},
    /* unsupported: GSS; SCRAM with channel binding only */
    {"pw", {{'R', "\0\0\0\7", 4}}, "08001", "(use --login libpq)"},
    {"pw", {{'R', "\0\0\0\12" "SCRAM-SHA-256-PLUS\0", 24}}, "08001", "SASL authentication mechanisms"},
    /* a password asked for and none given */
    {NULL, {{'R', "\0\0\0\5" "\1\2\3\4", 8}}, "08001", "fe_sendauth: no password supplied"},
    /* AuthenticationOk before the server proved that it knows the password */
    {"pw", {{'R', "\0\0\0\12" "SCRAM-SHA-256\0", 19}, {'R', "\0\0\0\0", 4}}, "08001", "before completing SCRAM"},
    /* a server-first-message that does not extend our nonce */
    {"pw", {{'R', "\0\0\0\12" "SCRAM-SHA-256\0", 19}, {'R', "\0\0\0\13" "r=x,s=MDEy,i=4096", 21}}, "08001",
     "SCRAM: SCRAM server nonce does not extend ours"},
};

static void test_login_failures(void **state)
{
    (void)state;
    struct pbuf out = {0};
    for (size_t i = 0; i < sizeof(failing) / sizeof(failing[0]); i++) {
        struct raw_login l;
        raw_login_init(&l, "app", failing[i].password);
        enum raw_login_state st = RL_AUTH;
        for (int j = 0; j < 3 && failing[i].msgs[j].type != 0; j++)
            st = feed(&l, failing[i].msgs[j].type, failing[i].msgs[j].body, failing[i].msgs[j].len, &out);
        if (st != RL_FAILED || strcmp(l.code, failing[i].code) != 0 || strstr(l.message, failing[i].message) == NULL)
            fail_msg("case %zu: state %d, code %s, message \"%s\"", i, (int)st, l.code, l.message);
        raw_login_clear(&l);
        pbuf_reset(&out);
    }
    pbuf_free(&out);
}

/* ---- the conninfo ---- */

static void test_target_defaults(void **state)
{
    (void)state;
    struct raw_target t;
    char err[256];
    setenv("PGHOST", "127.0.0.1", 1);
    setenv("PGPORT", "6543", 1);
    setenv("PGUSER", "envuser", 1);
    setenv("PGPASSWORD", "envpass", 1);
    unsetenv("PGDATABASE");
    unsetenv("PGSSLMODE");
    assert_int_equal(raw_target_resolve("", &t, err, sizeof(err)), 0);
    assert_string_equal(t.user, "envuser");
    assert_string_equal(t.dbname, "envuser"); /* dbname defaults to the user */
    assert_string_equal(t.password, "envpass");
    assert_null(t.options);
    assert_string_equal(t.where, "connection to server at \"127.0.0.1\", port 6543");
    raw_target_free(&t);
    /* the DSN wins; the first of several hosts; hostaddr over host */
    assert_int_equal(raw_target_resolve("host=a.example,b.example hostaddr=127.0.0.2 port=7000,7001 user=u "
                                        "dbname=d password=p options='-c x=1'",
                                        &t, err, sizeof(err)),
                     0);
    assert_string_equal(t.user, "u");
    assert_string_equal(t.dbname, "d");
    assert_string_equal(t.password, "p");
    assert_string_equal(t.options, "-c x=1");
    assert_string_equal(t.where, "connection to server at \"a.example\" (127.0.0.2), port 7000");
    raw_target_free(&t);
    /* a unix socket directory */
    assert_int_equal(raw_target_resolve("host=/tmp/sock port=5433", &t, err, sizeof(err)), 0);
    assert_int_equal(t.addr.ss_family, AF_UNIX);
    assert_string_equal(t.where, "connection to server on socket \"/tmp/sock/.s.PGSQL.5433\"");
    raw_target_free(&t);
    /* what only libpq does */
    assert_int_equal(raw_target_resolve("sslmode=require", &t, err, sizeof(err)), -2);
    assert_non_null(strstr(err, "sslmode=require"));
    setenv("PGSSLMODE", "verify-full", 1);
    assert_int_equal(raw_target_resolve("", &t, err, sizeof(err)), -2);
    assert_int_equal(raw_target_resolve("sslmode=disable", &t, err, sizeof(err)), 0);
    raw_target_free(&t);
    unsetenv("PGSSLMODE");
    /* errors */
    assert_int_equal(raw_target_resolve("port=99999", &t, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "invalid port"));
    assert_int_equal(raw_target_resolve("hostaddr=not-an-address", &t, err, sizeof(err)), -1);
    assert_int_equal(raw_target_resolve("nosuchkeyword=1", &t, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "nosuchkeyword"));
}

/* ---- --login ---- */

static int parse_login(struct bench_args *a, char *err, size_t errlen, const char *const *args)
{
    char *argv[16] = {"wedpool-bench"};
    int argc = 1;
    while (args[argc - 1] != NULL && argc < 15) {
        argv[argc] = (char *)args[argc - 1];
        argc++;
    }
    int rc = args_parse(argc, argv, a, err, errlen);
    args_free(a);
    return rc;
}

static void test_login_option(void **state)
{
    (void)state;
    struct bench_args a;
    char err[256];
    static const struct {
        const char *args[6];
        int rc;
        enum login_mode login;
    } cases[] = {
        {{"--idle", NULL}, 0, LOGIN_RAW},                          /* logins only: raw by default */
        {{"-T", "0", NULL}, 0, LOGIN_RAW},
        {{"-T", "5", NULL}, 0, LOGIN_LIBPQ},                       /* a workload: libpq */
        {{"--idle", "--login", "libpq", NULL}, 0, LOGIN_LIBPQ},
        {{"-T", "0", "--login=raw", NULL}, 0, LOGIN_RAW},
        {{"--login", "raw", NULL}, -1, LOGIN_RAW},                 /* the default 10 s workload */
        {{"--login", "raw", "--rate", "10", NULL}, -1, LOGIN_RAW},
        {{"--login", "tcp", "--idle", NULL}, -1, LOGIN_RAW},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(parse_login(&a, err, sizeof(err), cases[i].args), cases[i].rc);
        if (cases[i].rc == 0)
            assert_int_equal(a.login, cases[i].login);
    }
    assert_int_equal(parse_login(&a, err, sizeof(err), (const char *const[]){"--login", "raw", NULL}), -1);
    assert_non_null(strstr(err, "--login raw only logs in"));
    assert_string_equal(args_login_name(LOGIN_RAW), "raw");
    assert_string_equal(args_login_name(LOGIN_LIBPQ), "libpq");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_startup_packet),
        cmocka_unit_test(test_frontend_messages),
        cmocka_unit_test(test_md5_known_vector),
        cmocka_unit_test(test_frame),
        cmocka_unit_test(test_parse_auth),
        cmocka_unit_test(test_login_scram),
        cmocka_unit_test(test_login_cleartext_md5_trust),
        cmocka_unit_test(test_login_failures),
        cmocka_unit_test(test_target_defaults),
        cmocka_unit_test(test_login_option),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
