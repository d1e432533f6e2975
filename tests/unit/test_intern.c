/* test_intern.c — shared strings: one copy per distinct string, freed with its last reference. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "intern.h"

static void test_shared_and_counted(void **state)
{
    (void)state;
    const char *a = intern_get("appdb");
    const char *b = intern_get("appdb");
    assert_ptr_equal(a, b);
    assert_string_equal(a, "appdb");
    assert_ptr_not_equal(intern_get("app"), a);
    assert_string_equal(intern_get(""), "");
    intern_put(a);
    assert_string_equal(b, "appdb"); /* still referenced */
    intern_put(b);
    intern_put("");
    intern_put(NULL);
}

static void test_many_with_removals(void **state)
{
    (void)state;
    const char *p[2000];
    char name[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(name, sizeof(name), "user%d", i);
        p[i] = intern_get(name);
        assert_non_null(p[i]);
    }
    for (int i = 0; i < 2000; i += 2)
        intern_put(p[i]); /* every other one goes: the probing clusters must stay findable */
    for (int i = 1; i < 2000; i += 2) {
        snprintf(name, sizeof(name), "user%d", i);
        const char *again = intern_get(name);
        assert_ptr_equal(again, p[i]);
        intern_put(again);
        intern_put(p[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_and_counted),
        cmocka_unit_test(test_many_with_removals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
