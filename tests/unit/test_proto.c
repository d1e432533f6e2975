/* test_proto.c — unit tests for wire framing (startup packets, builders, readers) and parameter sync. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "params.h"
#include "proto.h"

static size_t build_startup(uint8_t *out, uint32_t code, const char *const *kv, int n)
{
    struct pbuf b;
    pbuf_init(&b);
    size_t m = pbuf_begin_msg(&b, '\0');
    pbuf_put_u32(&b, code);
    for (int i = 0; i < n; i++)
        pbuf_put_str(&b, kv[i]);
    pbuf_put_u8(&b, 0);
    pbuf_end_msg(&b, m);
    memcpy(out, b.data, b.len);
    size_t len = b.len;
    pbuf_free(&b);
    return len;
}

static void test_startup_ok(void **state)
{
    (void)state;
    uint8_t pkt[256];
    const char *kv[] = {"user", "app", "database", "appdb", "application_name", "wedsync"};
    size_t len = build_startup(pkt, PROTO_V3, kv, 6);
    assert_int_equal(proto_get_u32(pkt), len);
    struct startup_packet sp;
    const char *err = NULL;
    assert_true(proto_parse_startup(pkt + 4, len - 4, &sp, &err));
    assert_int_equal(sp.code, PROTO_V3);
    assert_int_equal(sp.nparams, 3);
    assert_string_equal(startup_get(&sp, "user"), "app");
    assert_string_equal(startup_get(&sp, "application_name"), "wedsync");
    assert_null(startup_get(&sp, "options"));
}

static void test_startup_rejects(void **state)
{
    (void)state;
    struct startup_packet sp;
    const char *err = NULL;
    uint8_t pkt[256];
    const char *kv[] = {"user", "app"};
    /* protocol 2 */
    size_t len = build_startup(pkt, 2u << 16, kv, 2);
    assert_false(proto_parse_startup(pkt + 4, len - 4, &sp, &err));
    assert_non_null(strstr(err, "protocol 3.0"));
    /* missing terminator */
    len = build_startup(pkt, PROTO_V3, kv, 2);
    assert_false(proto_parse_startup(pkt + 4, len - 5, &sp, &err));
    /* name without a value */
    const char *odd[] = {"user"};
    len = build_startup(pkt, PROTO_V3, odd, 1);
    assert_false(proto_parse_startup(pkt + 4, len - 4, &sp, &err));
    /* too short */
    assert_false(proto_parse_startup(pkt + 4, 2, &sp, &err));
    /* SSLRequest with trailing junk */
    uint8_t ssl[8] = {0x04, 0xd2, 0x16, 0x2f, 1, 2, 3, 4};
    assert_false(proto_parse_startup(ssl, 8, &sp, &err));
    assert_true(proto_parse_startup(ssl, 4, &sp, &err));
    assert_int_equal(sp.code, PROTO_SSL_REQUEST);
    /* cancel request */
    uint8_t cancel[12] = {0x04, 0xd2, 0x16, 0x2e, 0, 0, 0, 7, 0, 0, 0, 9};
    assert_true(proto_parse_startup(cancel, 12, &sp, &err));
    assert_int_equal(sp.cancel_pid, 7);
    assert_int_equal(sp.cancel_key, 9);
    assert_false(proto_parse_startup(cancel, 11, &sp, &err));
}

static void test_error_roundtrip(void **state)
{
    (void)state;
    struct pbuf b;
    pbuf_init(&b);
    proto_error(&b, "FATAL", "53300", "pool %s is full", "appdb");
    assert_int_equal(b.data[0], 'E');
    uint32_t len = proto_get_u32(b.data + 1);
    assert_int_equal(len + 1, b.len);
    struct error_fields ef;
    assert_true(proto_parse_error(b.data + 5, len - 4, &ef));
    assert_string_equal(ef.severity, "FATAL");
    assert_string_equal(ef.sqlstate, "53300");
    assert_string_equal(ef.message, "pool appdb is full");
    /* truncated error body must not be read past its end */
    assert_false(proto_parse_error(b.data + 5, 6, &ef));
    pbuf_free(&b);
}

static void test_preader_bounds(void **state)
{
    (void)state;
    uint8_t data[] = {0, 0, 0, 5, 'a', 'b'};
    struct preader r;
    uint32_t v;
    const char *s;
    preader_init(&r, data, sizeof(data));
    assert_true(preader_u32(&r, &v));
    assert_int_equal(v, 5);
    assert_false(preader_str(&r, &s)); /* no NUL inside */
    assert_false(preader_u32(&r, &v));
}

static void test_params_sync(void **state)
{
    (void)state;
    struct param_list client = {0}, server = {0}, base = {0};
    struct param_change ch[8];
    char sql[256];
    params_set(&base, "TimeZone", "UTC");
    params_set(&base, "is_superuser", "off");
    params_set(&server, "TimeZone", "UTC");
    params_set(&server, "is_superuser", "on"); /* a previous client's SET ROLE */
    params_set(&client, "TimeZone", "Europe/London");
    params_set(&client, "application_name", "it's");
    assert_int_equal(params_sync_plan(&client, &server, &base, ch, 8), 2);
    assert_string_equal(ch[0].name, "TimeZone");
    assert_string_equal(ch[0].value, "Europe/London");
    assert_string_equal(ch[1].name, "application_name");
    assert_true(params_set_sql(ch[1].name, ch[1].value, sql, sizeof(sql)));
    assert_string_equal(sql, "SELECT pg_catalog.set_config(E'application_name', E'it''s', false)");
    /* equal values: nothing to do; read-only ones are never synced */
    params_set(&server, "TimeZone", "Europe/London");
    params_set(&server, "application_name", "it's");
    assert_int_equal(params_sync_plan(&client, &server, &base, ch, 8), 0);
    /* another client without those values: back to defaults */
    struct param_list other = {0};
    assert_int_equal(params_sync_plan(&other, &server, &base, ch, 8), 2);
    assert_string_equal(ch[0].value, "UTC");
    assert_null(ch[1].value);
    assert_true(params_set_sql(ch[1].name, ch[1].value, sql, sizeof(sql)));
    assert_string_equal(sql, "SET \"application_name\" TO DEFAULT");
    /* too many changes, or too small a buffer, are reported, not overflowed */
    assert_int_equal(params_sync_plan(&other, &server, &base, ch, 1), -1);
    assert_false(params_set_sql(ch[0].name, ch[0].value, sql, 10));
    assert_true(params_is_read_only("Is_Superuser"));
    assert_false(params_is_read_only("TimeZone"));
    params_free(&client);
    params_free(&server);
    params_free(&base);
}

static void test_params_signature(void **state)
{
    (void)state;
    struct param_list a = {0}, b = {0}, empty = {0};
    params_set(&a, "application_name", "web");
    params_set(&a, "TimeZone", "UTC");
    params_set(&b, "timezone", "UTC"); /* other order, other case of the name */
    params_set(&b, "application_name", "web");
    assert_true(params_signature(&a) == params_signature(&b));
    assert_true(params_signature(&a) != 0);
    assert_true(params_signature(&empty) != params_signature(&a));
    params_set(&b, "application_name", "weB");
    assert_true(params_signature(&a) != params_signature(&b));
    /* a value moved between names is a different session */
    struct param_list c = {0}, d = {0};
    params_set(&c, "a", "x");
    params_set(&c, "b", "y");
    params_set(&d, "a", "y");
    params_set(&d, "b", "x");
    assert_true(params_signature(&c) != params_signature(&d));
    params_free(&a);
    params_free(&b);
    params_free(&c);
    params_free(&d);
}

static bool collect(void *arg, const char *name, const char *value)
{
    struct param_list *l = arg;
    return params_set(l, name, value);
}

static void test_options_parse(void **state)
{
    (void)state;
    struct param_list l = {0};
    assert_true(params_parse_options("-c search_path=app -csearch_path=x --statement-timeout=5s -c a=b\\ c", collect, &l));
    assert_string_equal(params_get(&l, "search_path"), "x");
    assert_string_equal(params_get(&l, "statement_timeout"), "5s");
    assert_string_equal(params_get(&l, "a"), "b c");
    assert_false(params_parse_options("-x", collect, &l));
    assert_false(params_parse_options("-c", collect, &l));
    assert_false(params_parse_options("-c novalue", collect, &l));
    params_free(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_startup_ok),      cmocka_unit_test(test_startup_rejects),
        cmocka_unit_test(test_error_roundtrip), cmocka_unit_test(test_preader_bounds),
        cmocka_unit_test(test_params_sync),     cmocka_unit_test(test_options_parse),
        cmocka_unit_test(test_params_signature),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
