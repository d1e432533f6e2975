/* test_events.c — the in-process event stream: subscribers see every event in order, with the
 * clock time filled in; unsubscribing stops delivery; counts per kind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "events.h"

struct seen {
    int n;
    enum wp_event_kind kinds[8];
    char hosts[8][32];
    time_t at[8];
};

static void record(const struct wp_event *ev, void *arg)
{
    struct seen *s = arg;
    if (s->n < 8) {
        s->kinds[s->n] = ev->kind;
        snprintf(s->hosts[s->n], sizeof s->hosts[0], "%.31s", ev->host);
        s->at[s->n] = ev->at;
    }
    s->n++;
}

static void test_publish_reaches_subscribers(void **state)
{
    (void)state;
    struct seen a = {0}, b = {0};
    assert_int_equal(events_subscribe(record, &a), 0);
    assert_int_equal(events_subscribe(record, &b), 0);
    struct wp_event ev = {.kind = EV_BACKEND_DOWN};
    strcpy(ev.host, "pg1:5432");
    strcpy(ev.database, "appdb");
    events_publish(&ev);
    assert_int_equal(a.n, 1);
    assert_int_equal(b.n, 1);
    assert_int_equal(a.kinds[0], EV_BACKEND_DOWN);
    assert_string_equal(a.hosts[0], "pg1:5432");
    assert_true(a.at[0] > 0);
    assert_true(ev.mono_us > 0);

    events_unsubscribe(record, &a);
    struct wp_event up = {.kind = EV_BACKEND_UP};
    events_publish(&up);
    assert_int_equal(a.n, 1);
    assert_int_equal(b.n, 2);
    assert_int_equal(b.kinds[1], EV_BACKEND_UP);
    events_unsubscribe(record, &b);
    assert_int_equal(events_count(EV_BACKEND_DOWN), 1);
    assert_int_equal(events_count(EV_BACKEND_UP), 1);
}

static void test_names_and_moods(void **state)
{
    (void)state;
    assert_string_equal(event_kind_name(EV_SPLIT_BRAIN), "split_brain");
    assert_string_equal(event_kind_name(EV_CIRCUIT_CLOSED), "circuit_closed");
    assert_string_equal(event_kind_name(EV_KIND_COUNT), "unknown");
    assert_int_equal(event_mood(EV_FAILOVER_STARTED), EV_MOOD_BAD);
    assert_int_equal(event_mood(EV_FAILOVER_FINISHED), EV_MOOD_GOOD);
    for (int k = 0; k < EV_KIND_COUNT; k++)
        assert_string_not_equal(event_kind_name((enum wp_event_kind)k), "unknown");
}

static void test_subscriber_limit(void **state)
{
    (void)state;
    struct seen s[EVENTS_MAX_SUBSCRIBERS + 1];
    memset(s, 0, sizeof s);
    for (int i = 0; i < EVENTS_MAX_SUBSCRIBERS; i++)
        assert_int_equal(events_subscribe(record, &s[i]), 0);
    assert_int_equal(events_subscribe(record, &s[EVENTS_MAX_SUBSCRIBERS]), -1);
    for (int i = 0; i < EVENTS_MAX_SUBSCRIBERS; i++)
        events_unsubscribe(record, &s[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publish_reaches_subscribers),
        cmocka_unit_test(test_names_and_moods),
        cmocka_unit_test(test_subscriber_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
