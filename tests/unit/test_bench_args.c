/* test_bench_args.c — wedpool-bench's command line: defaults, good arguments, and errors that name
 * the option at fault. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "args.h"

static struct bench_args a;
static char err[512];

/* Parses a NULL-terminated list of arguments (argv[0] is added). */
static int parse(const char *first, ...)
{
    char *argv[64];
    int argc = 0;
    argv[argc++] = "wedpool-bench";
    va_list ap;
    va_start(ap, first);
    for (const char *s = first; s != NULL && argc < 63; s = va_arg(ap, const char *))
        argv[argc++] = (char *)s;
    va_end(ap);
    argv[argc] = NULL;
    err[0] = '\0';
    args_free(&a);
    return args_parse(argc, argv, &a, err, sizeof(err));
}

static void expect_error(const char *needle)
{
    if (strstr(err, needle) == NULL)
        fail_msg("error \"%s\" does not contain \"%s\"", err, needle);
}

static void test_defaults(void **state)
{
    (void)state;
    assert_int_equal(parse(NULL), 0);
    assert_int_equal(a.action, ARGS_RUN);
    assert_string_equal(a.dsn, "");
    assert_int_equal(a.clients, 10);
    assert_true(a.connect_rate == 1000);
    assert_int_equal(a.connect_concurrency, 10); /* capped at the client count */
    assert_true(a.duration_s == 10);
    assert_true(a.rate == 0);
    assert_string_equal(a.sql, ARGS_DEFAULT_SQL);
    assert_int_equal(a.tx_statements, 1);
    assert_int_equal(a.rows, 100000);
    assert_int_equal(a.nlanes, 1);
    assert_string_equal(a.lanes[0].name, "default");
    assert_int_equal(a.lanes[0].pct, 100);
    assert_int_equal(a.progress, -1);
    assert_false(a.quiet || a.idle || a.init || a.seed_given);
}

static void test_good_arguments(void **state)
{
    (void)state;
    assert_int_equal(parse("--dsn", "host=127.0.0.1 port=6432 user=app dbname=appdb password=apppass", "-c", "2000",
                           "--connect-rate=0", "--connect-concurrency", "512", "-T", "2.5", "--rate", "2000",
                           "--sql", "SELECT :aid", "--tx-statements", "3", "--init", "--rows", "1000", "--lanes",
                           "critical=5,default=80,background=15", "--metrics-url", "http://127.0.0.1:9632/metrics",
                           "--json", "out.json", "--plot", "out.svg", "--no-progress", "-q", "--seed", "12",
                           "--extended", NULL),
                     0);
    assert_int_equal(a.clients, 2000);
    assert_true(a.connect_rate == 0);
    assert_int_equal(a.connect_concurrency, 512);
    assert_true(a.duration_s == 2.5);
    assert_true(a.rate == 2000);
    assert_string_equal(a.sql, "SELECT :aid");
    assert_true(a.sql_given);
    assert_int_equal(a.tx_statements, 3);
    assert_true(a.init && a.rows_given && a.quiet && a.extended && a.seed_given);
    assert_int_equal(a.rows, 1000);
    assert_int_equal(a.seed, 12);
    assert_int_equal(a.nlanes, 3);
    assert_string_equal(a.lanes[0].name, "critical");
    assert_int_equal(a.lanes[0].pct, 5);
    assert_string_equal(a.lanes[2].name, "background");
    assert_int_equal(a.lanes[2].pct, 15);
    assert_string_equal(a.metrics_url, "http://127.0.0.1:9632/metrics");
    assert_string_equal(a.json_path, "out.json");
    assert_string_equal(a.plot_path, "out.svg");
    assert_int_equal(a.progress, 0);

    assert_int_equal(parse("-c10000", "--idle", "-T", "5", "--progress", NULL), 0);
    assert_int_equal(a.clients, 10000);
    assert_true(a.idle);
    assert_int_equal(a.progress, 1);
    assert_int_equal(parse("--clients=1", "--think-ms", "10", "-T", "0", NULL), 0);
    assert_true(a.think_ms == 10 && a.duration_s == 0);
    assert_int_equal(parse("--help", NULL), 0);
    assert_int_equal(a.action, ARGS_HELP);
    assert_int_equal(parse("--version", NULL), 0);
    assert_int_equal(a.action, ARGS_VERSION);
}

static void test_script(void **state)
{
    (void)state;
    char path[] = "/tmp/wpbench-script-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("-- a comment\nBEGIN\n  UPDATE t SET v = v + 1 WHERE id = :aid;  \n\nCOMMIT\r\n", f);
    fclose(f);
    assert_int_equal(parse("--script", path, NULL), 0);
    assert_int_equal(a.nscript, 3);
    assert_string_equal(a.script[0], "BEGIN");
    assert_string_equal(a.script[1], "UPDATE t SET v = v + 1 WHERE id = :aid;");
    assert_string_equal(a.script[2], "COMMIT");
    assert_int_equal(parse("--script", path, "--sql", "SELECT 1", NULL), -1);
    expect_error("--sql and --script cannot be combined");
    assert_int_equal(parse("--script", path, "--tx-statements", "2", NULL), -1);
    expect_error("--tx-statements cannot be combined with --script");
    f = fopen(path, "w");
    fputs("-- nothing\n\n", f);
    fclose(f);
    assert_int_equal(parse("--script", path, NULL), -1);
    expect_error("holds no statements");
    unlink(path);
    assert_int_equal(parse("--script", path, NULL), -1);
    expect_error("--script: cannot read");
    expect_error("No such file");
}

static void test_errors_name_the_option(void **state)
{
    (void)state;
    static const struct {
        const char *args[4];
        const char *message;
    } cases[] = {
        {{"--clients", "0"}, "--clients: expected a number of clients from 1 to 10000, got \"0\""},
        {{"-c", "10001"}, "-c: expected a number of clients from 1 to 10000, got \"10001\""},
        {{"-c", "ten"}, "got \"ten\""},
        {{"--clients", "-5"}, "--clients: expected"},
        {{"--clients"}, "--clients needs a value"},
        {{"--duration", "-1"}, "--duration: expected seconds"},
        {{"-T", "5s"}, "-T: expected seconds"},
        {{"--rate", "fast"}, "--rate: expected transactions per second"},
        {{"--connect-rate", "nan"}, "--connect-rate: expected"},
        {{"--connect-concurrency", "0"}, "--connect-concurrency: expected a number from 1"},
        {{"--think-ms", "x"}, "--think-ms: expected milliseconds"},
        {{"--tx-statements", "0"}, "--tx-statements: expected a number of statements"},
        {{"--rows", "0"}, "--rows: expected a number of rows"},
        {{"--seed", "-1"}, "--seed: expected a non-negative integer"},
        {{"--sql", ""}, "--sql: the statement is empty"},
        {{"--lanes", "critical=5,default=80"}, "--lanes: the percentages must add up to 100, they add up to 85"},
        {{"--lanes", "critical"}, "--lanes: expected NAME=PERCENT"},
        {{"--lanes", "a=50,a=50"}, "--lanes: lane \"a\" is named twice"},
        {{"--lanes", "a=150"}, "--lanes: lane \"a\": expected a percentage from 0 to 100, got \"150\""},
        {{"--lanes", "a b=100"}, "--lanes: lane name \"a b\" may only hold"},
        {{"--lanes", "a=100,"}, "--lanes: trailing comma"},
        {{"--lanes", "a="}, "--lanes: lane \"a\" needs a percentage"},
        {{"--metrics-url", "localhost:9632"}, "--metrics-url: expected an http:// or https:// URL"},
        {{"--dsn", "host"}, "--dsn: missing \"=\" after \"host\""},
        {{"--frobnicate"}, "unknown option --frobnicate (see --help)"},
        {{"-x"}, "unknown option -x"},
        {{"stray"}, "unexpected argument \"stray\""},
        {{"--idle=yes"}, "--idle takes no value"},
        {{"-qv"}, "-q takes no value"},
        {{"--rate", "100", "--think-ms", "5"}, "--think-ms applies to the closed loop only"},
        {{"--idle", "--rate", "100"}, "--idle runs no transactions"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *const *v = cases[i].args;
        int rc = parse(v[0], v[1], v[2], v[3], NULL);
        if (rc != -1)
            fail_msg("case %zu (%s %s) was accepted", i, v[0], v[1] ? v[1] : "");
        expect_error(cases[i].message);
        assert_null(strchr(err, '\n'));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_good_arguments),
        cmocka_unit_test(test_script),
        cmocka_unit_test(test_errors_name_the_option),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    args_free(&a);
    return rc;
}
