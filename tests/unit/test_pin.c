/* test_pin.c — the session-state classifier: the cheap pre-check (what must reach the parser, what
 * must not) and the parser's verdicts for each kind of state and each release. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pin.h"

static bool pre(const char *s)
{
    return pin_precheck(s, strlen(s));
}

static void test_precheck_ordinary(void **state)
{
    (void)state;
    const char *no[] = {
        "SELECT abalance FROM pgbench_accounts WHERE aid = 42;",
        "select 1",
        "BEGIN",
        "COMMIT",
        "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = 3", /* SET not first */
        "INSERT INTO t VALUES (1)",
        "INSERT INTO temperature VALUES (1)",
        "select * from settings",
        "  /* set */ select 1 -- set\n",
        "WITH x AS (SELECT 1) SELECT * FROM x",
        "SHOW search_path",
        "",
        "   ",
        "/* unterminated",
        "select 'a;b'",
        "EXECUTE p(1)",
        "select swp_x from t", /* wp_ not at the start of a word */
        "DO_SOMETHING", /* not the DO keyword */
    };
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        if (pre(no[i]))
            fail_msg("pre-check matched: %s", no[i]);
    }
}

static void test_precheck_candidates(void **state)
{
    (void)state;
    const char *yes[] = {
        "SET search_path = x",
        "  set local x = 1",
        "-- comment\nSET x = 1",
        "/* a /* nested */ comment */ RESET ALL",
        "(SET x=1)",
        "Prepare p AS select 1",
        "deallocate all",
        "LISTEN x",
        "unlisten *",
        "CREATE TEMP TABLE t (a int)",
        "declare c cursor with hold for select 1",
        "LOAD 'auto_explain'",
        "DISCARD ALL",
        "close all",
        "select set_config('search_path', 'x', false)",
        "SELECT PG_ADVISORY_LOCK(1)",
        "select 1; set search_path = x",
        "select 1;set x=1",
        "select * into temp t from x",
        "SELECT * INTO TEMPORARY TABLE t FROM x",
        "select * into pg_temp.t from x",
        "EXECUTE wp_0123456789abcdef(1)",
        "explain execute WP_1",
        "deallocate \"wp_x\"",
        "select 1; execute U&\"\\0077p_x\"",
        "DO $$ BEGIN PERFORM 1; END $$",
    };
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (!pre(yes[i]))
            fail_msg("pre-check missed: %s", yes[i]);
    }
    /* not NUL-terminated: the length is honoured */
    assert_false(pin_precheck("select 1set", 8));
    assert_true(pin_precheck("SET x", 3));
}

static struct pin_verdict classify(const char *s)
{
    struct pin_verdict v;
    assert_true(pin_classify(s, &v));
    return v;
}

static void expect_pins(const char *sql, uint16_t pins, const char *what)
{
    struct pin_verdict v = classify(sql);
    if (v.pins != pins)
        fail_msg("%s: pins 0x%x, expected 0x%x", sql, v.pins, pins);
    if (what != NULL && strcmp(v.what, what) != 0)
        fail_msg("%s: what '%s', expected '%s'", sql, v.what, what);
}

static void expect_releases(const char *sql, uint16_t rel)
{
    struct pin_verdict v = classify(sql);
    if (v.pins != 0 || v.releases != rel)
        fail_msg("%s: pins 0x%x releases 0x%x, expected releases 0x%x", sql, v.pins, v.releases, rel);
}

static void test_classify_state(void **state)
{
    (void)state;
    expect_pins("SET search_path = myschema", PIN_SET, "SET search_path");
    expect_pins("set statement_timeout to 5000", PIN_SET, "SET statement_timeout");
    expect_pins("SET SCHEMA 'x'", PIN_SET, "SET search_path");
    expect_pins("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE", PIN_SET, NULL);
    expect_pins("SET ROLE other", PIN_ROLE, "SET ROLE");
    expect_pins("SET SESSION AUTHORIZATION other", PIN_SESSION_AUTH, "SET SESSION AUTHORIZATION");
    expect_pins("PREPARE p(int) AS SELECT $1", PIN_PREPARE, "PREPARE");
    expect_pins("LISTEN chan", PIN_LISTEN, "LISTEN");
    expect_pins("CREATE TEMP TABLE t (a int)", PIN_TEMP, "CREATE TEMP TABLE");
    expect_pins("create temporary view v as select 1", PIN_TEMP, "CREATE TEMP VIEW");
    expect_pins("CREATE TEMP SEQUENCE s", PIN_TEMP, "CREATE TEMP SEQUENCE");
    expect_pins("create table pg_temp.t (a int)", PIN_TEMP, NULL);
    expect_pins("CREATE TEMP TABLE t AS SELECT 1", PIN_TEMP, NULL);
    expect_pins("select 1 as a into temp t", PIN_TEMP, NULL);
    expect_pins("create function pg_temp.f() returns int as 'select 1' language sql", PIN_TEMP, NULL);
    expect_pins("DECLARE c CURSOR WITH HOLD FOR SELECT 1", PIN_HOLD, "DECLARE ... WITH HOLD");
    expect_pins("SELECT pg_advisory_lock(42)", PIN_ADVISORY, "pg_advisory_lock");
    expect_pins("select pg_try_advisory_lock_shared(1, 2)", PIN_ADVISORY, NULL);
    expect_pins("LOAD 'auto_explain'", PIN_LOAD, "LOAD");
    expect_pins("SELECT set_config('search_path', 'x', false)", PIN_SET, "set_config('search_path', ..., false)");
    expect_pins("SELECT pg_catalog.set_config('work_mem', '1MB', 'off')", PIN_SET, NULL);
    expect_pins("SELECT set_config('work_mem', '1MB', $1)", PIN_SET, NULL);
    expect_pins("SELECT set_config($1, $2, false)", PIN_SET, NULL);
    expect_pins("select 1; set search_path = x; listen c", PIN_SET | PIN_LISTEN, "SET search_path");
    expect_pins("BEGIN; SET LOCAL search_path = x; COMMIT", 0, NULL);
}

static void test_classify_no_state(void **state)
{
    (void)state;
    expect_pins("SET LOCAL search_path = x", 0, NULL);
    expect_pins("SET LOCAL ROLE r", 0, NULL);
    expect_pins("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", 0, NULL);
    expect_pins("SET application_name = 'x'", 0, NULL); /* reported: follows the client */
    expect_pins("SET TIME ZONE 'UTC'", 0, NULL);
    expect_pins("SET DateStyle = ISO", 0, NULL);
    expect_pins("SET NAMES 'UTF8'", 0, NULL);
    expect_pins("SET search_path TO DEFAULT", 0, NULL);
    expect_pins("RESET search_path", 0, NULL);
    expect_pins("SELECT set_config('search_path', 'x', true)", 0, NULL);
    expect_pins("SELECT set_config('application_name', 'x', false)", 0, NULL);
    expect_pins("SELECT pg_advisory_xact_lock(1)", 0, NULL);
    expect_pins("CREATE TEMP TABLE t (a int) ON COMMIT DROP", 0, NULL);
    expect_pins("CREATE TABLE t (a int)", 0, NULL);
    expect_pins("DECLARE c CURSOR FOR SELECT 1", 0, NULL);
    expect_pins("select * from pg_temp.t", 0, NULL);
    expect_pins("CLOSE c", 0, NULL);
    expect_pins("UNLISTEN chan", 0, NULL);
    expect_pins("DEALLOCATE p", 0, NULL);
    expect_pins("DISCARD PLANS", 0, NULL);
    struct pin_verdict v = classify("SET search_path = ");
    assert_true(v.parse_error);
    assert_int_equal(v.pins, 0);
}

static void test_classify_releases(void **state)
{
    (void)state;
    expect_releases("RESET ALL", PIN_SET);
    expect_releases("RESET ROLE", PIN_ROLE);
    expect_releases("SET ROLE NONE", PIN_ROLE);
    expect_releases("RESET SESSION AUTHORIZATION", PIN_SESSION_AUTH);
    expect_releases("SET SESSION AUTHORIZATION DEFAULT", PIN_SESSION_AUTH);
    expect_releases("DEALLOCATE ALL", PIN_PREPARE);
    expect_releases("UNLISTEN *", PIN_LISTEN);
    expect_releases("DISCARD TEMP", PIN_TEMP);
    expect_releases("CLOSE ALL", PIN_HOLD);
    expect_releases("SELECT pg_advisory_unlock_all()", PIN_ADVISORY);
    expect_releases("DISCARD ALL", PIN_DISCARD_ALL);
    assert_int_equal(PIN_DISCARD_ALL & PIN_LOAD, 0);
}

static void expect_reserved(const char *sql, bool reserved)
{
    struct pin_verdict v = classify(sql);
    if (v.reserved != reserved)
        fail_msg("%s: reserved %d", sql, v.reserved);
    if (reserved && !pin_reserved_precheck(sql, strlen(sql)))
        fail_msg("%s: reserved pre-check missed", sql);
}

static void test_reserved_names(void **state)
{
    (void)state;
    expect_reserved("EXECUTE wp_0123456789abcdef(1, 2)", true);
    expect_reserved("execute WP_0123456789ABCDEF", true); /* folded to lower case, as the server does */
    expect_reserved("EXPLAIN ANALYZE EXECUTE wp_1", true);
    expect_reserved("CREATE TABLE t AS EXECUTE wp_1", true);
    expect_reserved("DEALLOCATE \"wp_1\"", true);
    expect_reserved("DEALLOCATE PREPARE wp_1", true);
    expect_reserved("PREPARE wp_1 AS SELECT 1", true);
    expect_reserved("select 1; execute U&\"\\0077p_1\"", true);
    expect_reserved("EXECUTE \"WP_1\"", false); /* quoted: another name */
    expect_reserved("EXECUTE mywp_1", false);
    expect_reserved("SELECT wp_1 FROM t", false); /* a column, not a statement */
    expect_reserved("DEALLOCATE ALL", false);
    assert_false(pin_reserved_precheck("SELECT * FROM swp_t", 19));
}

static void test_do_blocks(void **state)
{
    (void)state;
    expect_pins("DO $$ BEGIN PERFORM set_config('search_path', 'x', false); END $$", PIN_DO_BLOCK,
                "a DO block calling set_config");
    expect_pins("DO $$BEGIN SET search_path = x; END$$", PIN_DO_BLOCK, "a DO block running SET");
    expect_pins("do 'begin perform pg_advisory_lock(1); end'", PIN_DO_BLOCK, NULL);
    expect_pins("DO $$ BEGIN EXECUTE 'LISTEN c'; END $$", PIN_DO_BLOCK, "a DO block running listen");
    expect_pins("DO $$ BEGIN EXECUTE format('SET %I = 1', 'work_mem'); END $$", PIN_DO_BLOCK, NULL);
    expect_pins("DO $$ BEGIN CREATE TEMP TABLE t (a int); END $$", PIN_DO_BLOCK, NULL);
    expect_pins("DO $$ BEGIN CREATE LOCAL TEMPORARY TABLE t (a int); END $$", PIN_DO_BLOCK, NULL);
    expect_pins("DO $$ BEGIN IF true THEN set role r; END IF; END $$", PIN_DO_BLOCK, NULL);
    expect_pins("DO $$ BEGIN LOAD 'auto_explain'; END $$", PIN_DO_BLOCK | PIN_LOAD, NULL);
    expect_pins("select 1; do $$ begin execute 'prepare p as select 1'; end $$", PIN_DO_BLOCK, NULL);
    /* nothing that outlives the transaction */
    expect_pins("DO $$ BEGIN UPDATE t SET a = 1; END $$", 0, NULL);
    expect_pins("DO $$ DECLARE temp int := 1; BEGIN INSERT INTO t VALUES (temp); END $$", 0, NULL);
    expect_pins("DO $$ BEGIN SET LOCAL search_path = x; PERFORM pg_advisory_xact_lock(1); END $$", 0, NULL);
    expect_pins("DO $$ BEGIN INSERT INTO t VALUES (1) ON CONFLICT (a) DO UPDATE SET a = 2; END $$", 0, NULL);
    expect_releases("DISCARD ALL", PIN_DISCARD_ALL);
    assert_int_not_equal(PIN_DISCARD_ALL & PIN_DO_BLOCK, 0);
}

static void expect_carry(const char *sql, const char *value)
{
    struct pin_verdict v = classify(sql);
    if (v.pins != 0 || v.carry_name == NULL || strcmp(v.carry_name, "extra_float_digits") != 0 ||
        strcmp(v.carry_value, value) != 0)
        fail_msg("%s: pins 0x%x carry %s = '%s', expected '%s'", sql, v.pins, v.carry_name ? v.carry_name : "-",
                 v.carry_value, value);
}

static void test_carried_settings(void **state)
{
    (void)state;
    expect_carry("SET extra_float_digits = 3", "3");
    expect_carry("set session extra_float_digits to '2'", "2");
    expect_carry("SET extra_float_digits = 1.0", "1.0");
    /* not carried: pinned */
    expect_pins("SET extra_float_digits = -1", PIN_SET, NULL); /* libpg_query's JSON hides the sign */
    expect_pins("RESET extra_float_digits", PIN_SET, NULL);
    expect_pins("SET extra_float_digits TO DEFAULT", PIN_SET, NULL);
    expect_pins("SELECT set_config('extra_float_digits', '3', false)", PIN_SET, NULL);
    expect_pins("SET statement_timeout = 5", PIN_SET, NULL); /* only extra_float_digits is carried */
    struct pin_verdict v = classify("SET LOCAL extra_float_digits = 3");
    assert_int_equal(v.pins, 0);
    assert_null(v.carry_name);
}

static void test_names(void **state)
{
    (void)state;
    char buf[128];
    pin_mask_text(PIN_SET | PIN_LISTEN, buf, sizeof(buf));
    assert_string_equal(buf, "set,listen");
    pin_mask_text(0, buf, sizeof(buf));
    assert_string_equal(buf, "");
    pin_mask_text(0xffff, buf, 8);
    assert_true(strlen(buf) < 8);
    assert_string_equal(pin_kind_name(PIN_LISTEN | PIN_TEMP), "LISTEN");
    assert_string_equal(pin_kind_name(0), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_precheck_ordinary),
        cmocka_unit_test(test_precheck_candidates),
        cmocka_unit_test(test_classify_state),
        cmocka_unit_test(test_classify_no_state),
        cmocka_unit_test(test_classify_releases),
        cmocka_unit_test(test_reserved_names),
        cmocka_unit_test(test_do_blocks),
        cmocka_unit_test(test_carried_settings),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
