/* test_patroni.c — the leader in Patroni's GET /cluster answer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "patroni.h"

static void expect_leader(const char *json, const char *want)
{
    char out[200] = "", err[200] = "";
    if (!patroni_leader(json, strlen(json), out, sizeof(out), err, sizeof(err)))
        fail_msg("no leader in %s: %s", json, err);
    assert_string_equal(out, want);
}

static void expect_none(const char *json, const char *why)
{
    char out[200] = "", err[200] = "";
    assert_false(patroni_leader(json, strlen(json), out, sizeof(out), err, sizeof(err)));
    if (strstr(err, why) == NULL)
        fail_msg("error \"%s\" does not contain \"%s\"", err, why);
}

static void test_leader(void **state)
{
    (void)state;
    expect_leader("{\"members\": [{\"name\": \"pg1\", \"role\": \"replica\", \"state\": \"streaming\", \"host\": "
                  "\"10.0.0.1\", \"port\": 5432}, {\"name\": \"pg2\", \"role\": \"leader\", \"state\": \"running\", "
                  "\"host\": \"10.0.0.2\", \"port\": 5433, \"timeline\": 4}], \"scope\": \"wedding\"}",
                  "10.0.0.2:5433");
    expect_leader("{\"members\": [{\"role\": \"leader\", \"host\": \"pg1.internal\"}]}", "pg1.internal:5432");
}

static void test_no_leader(void **state)
{
    (void)state;
    expect_none("{\"members\": [{\"role\": \"replica\", \"host\": \"a\", \"port\": 1}]}", "no member with role leader");
    expect_none("{\"members\": [{\"role\": \"standby_leader\", \"host\": \"a\"}]}", "no member with role leader");
    expect_none("{\"scope\": \"x\"}", "no members");
    expect_none("<html>", "not JSON");
    expect_none("{\"members\": [{\"role\": \"leader\", \"host\": \"a\", \"port\": 99999}]}", "out of range");
    expect_none("{\"members\": [{\"role\": \"leader\", \"port\": 5432}]}", "no usable host");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leader),
        cmocka_unit_test(test_no_leader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
