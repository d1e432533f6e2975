/* test_rules.c — the alert rules with a fake clock: [alert_rules] parsing, pending -> firing after
 * for_s, resolve to the channels told, severity changes re-notify, escalation after after_min,
 * ACK stops escalation and renotification, renotify_min, the notice in the seeds' wording. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "rules.h"

/* Channels as in the issue: on-call Slack (HIGH), PagerDuty (CRITICAL), exec SMS (CRITICAL after 15). */
enum { SLACK, PD, EXEC, NCH };
static const struct alert_route routes[NCH] = {
    [SLACK] = {SEV_HIGH, 0, false},
    [PD] = {SEV_CRITICAL, 0, false},
    [EXEC] = {SEV_CRITICAL, 15, false},
};

static bool has(const struct alert_step_out *o, int ch)
{
    for (int i = 0; i < o->n; i++)
        if (o->ch[i] == ch)
            return true;
    return false;
}

#define T0 ((time_t)1781357400) /* 2026-06-13T13:30:00Z */

static void step(struct alert *a, bool cond, enum alert_severity sev, time_t now, struct alert_step_out *o)
{
    alert_step(a, cond, sev, now, 30, 60, routes, NCH, o);
}

static void test_parse_defaults_and_lines(void **state)
{
    (void)state;
    struct alert_rules_conf rc;
    char err[256];
    alert_rules_defaults(&rc);
    assert_int_equal(rc.rule[AR_POOL_UTILIZATION].threshold, 85);
    assert_int_equal(rc.rule[AR_POOL_UTILIZATION].for_s, 30);
    assert_int_equal(rc.rule[AR_CLIENTS_WAITING].threshold, 50);
    assert_int_equal(rc.rule[AR_CLIENTS_WAITING].for_s, 15);
    assert_int_equal(rc.rule[AR_ACQUIRE_P99_MS].threshold, 10);
    assert_int_equal(rc.rule[AR_ACQUIRE_P99_MS].for_s, 60);
    assert_int_equal(rc.rule[AR_RESERVE_IN_USE].for_s, 0);
    assert_int_equal(rc.rule[AR_LANE_SHEDDING].for_s, 0);
    assert_int_equal(rc.rule[AR_BACKEND_DOWN].for_s, 0);
    assert_int_equal(rc.rule[AR_PG_CONNECTIONS_PCT].threshold, 90);
    assert_int_equal(rc.rule[AR_PG_CONNECTIONS_PCT].for_s, 60);
    assert_int_equal(rc.rule[AR_CALENDAR_STALE].threshold, 3600);
    assert_int_equal(rc.rule[AR_ALERT_DELIVERY_FAILING].for_s, 300);
    assert_int_equal(rc.renotify_min, 60);

    assert_true(alert_rules_parse(&rc, "pool_utilization", "threshold=90 for_s=5", err, sizeof(err)));
    assert_int_equal(rc.rule[AR_POOL_UTILIZATION].threshold, 90);
    assert_int_equal(rc.rule[AR_POOL_UTILIZATION].for_s, 5);
    /* a line with only for_s keeps the default threshold */
    assert_true(alert_rules_parse(&rc, "clients_waiting", "  for_s=1 ", err, sizeof(err)));
    assert_int_equal(rc.rule[AR_CLIENTS_WAITING].threshold, 50);
    assert_true(alert_rules_parse(&rc, "calendar_stale", "off", err, sizeof(err)));
    assert_true(rc.rule[AR_CALENDAR_STALE].off);
    assert_true(alert_rules_parse(&rc, "renotify_min", "0", err, sizeof(err)));
    assert_int_equal(rc.renotify_min, 0);
    char line[64];
    alert_rule_format(&rc, AR_POOL_UTILIZATION, line, sizeof(line));
    assert_string_equal(line, "threshold=90 for_s=5");

    static const char *const bad[][2] = {
        {"pool_utilisation", "threshold=85"},     /* unknown rule */
        {"pool_utilization", "threshold=abc"},
        {"pool_utilization", "threshold=101"},    /* a percentage */
        {"pool_utilization", "for_s=-1"},
        {"pool_utilization", "threshold=85 sometimes"},
        {"backend_down", "threshold=1"},          /* takes no threshold */
        {"renotify_min", "soon"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_false(alert_rules_parse(&rc, bad[i][0], bad[i][1], err, sizeof(err)));
        assert_true(err[0] != '\0');
    }
    assert_int_equal(rc.rule[AR_POOL_UTILIZATION].threshold, 90); /* a refused line changes nothing */
}

static void test_pending_then_firing_after_for_s_then_resolved(void **state)
{
    (void)state;
    struct alert a;
    struct alert_step_out o;
    alert_init(&a, "pool_utilization", AR_POOL_UTILIZATION, "appdb/app");
    assert_string_equal(a.key, "pool_utilization:appdb/app");
    step(&a, true, SEV_HIGH, T0, &o);
    assert_int_equal(a.phase, AP_PENDING);
    assert_int_equal(o.n, 0);
    step(&a, true, SEV_HIGH, T0 + 29, &o);
    assert_int_equal(o.n, 0);
    step(&a, true, SEV_HIGH, T0 + 30, &o);
    assert_int_equal(a.phase, AP_FIRING);
    assert_true(o.fired);
    assert_int_equal(o.n, 1); /* HIGH: Slack only */
    assert_true(has(&o, SLACK));
    assert_int_equal(a.notify_seq, 1);
    /* nothing new: nothing sent */
    step(&a, true, SEV_HIGH, T0 + 31, &o);
    assert_int_equal(o.n, 0);
    step(&a, false, SEV_HIGH, T0 + 40, &o);
    assert_int_equal(a.phase, AP_IDLE);
    assert_true(o.resolved);
    assert_int_equal(o.n, 1);
    assert_true(has(&o, SLACK));
    /* a blip shorter than for_s never fires */
    step(&a, true, SEV_HIGH, T0 + 100, &o);
    step(&a, false, SEV_HIGH, T0 + 110, &o);
    assert_int_equal(o.n, 0);
    assert_false(o.resolved);
    step(&a, true, SEV_HIGH, T0 + 120, &o);
    step(&a, true, SEV_HIGH, T0 + 140, &o);
    assert_int_equal(o.n, 0); /* the pending clock restarted at +120 */
    /* the clock steps back an hour: the pending time counts from then, it does not wait an hour */
    step(&a, true, SEV_HIGH, T0 - 3600, &o);
    step(&a, true, SEV_HIGH, T0 - 3600 + 30, &o);
    assert_true(o.fired);
}

static void test_severity_change_renotifies(void **state)
{
    (void)state;
    struct alert a;
    struct alert_step_out o;
    alert_init(&a, "pool_utilization", AR_POOL_UTILIZATION, "appdb/app");
    step(&a, true, SEV_HIGH, T0, &o);
    step(&a, true, SEV_HIGH, T0 + 30, &o);
    assert_int_equal(o.n, 1);
    /* a wedding starts: CRITICAL reaches Slack again and PagerDuty for the first time, not yet exec */
    step(&a, true, SEV_CRITICAL, T0 + 60, &o);
    assert_true(o.severity_changed);
    assert_int_equal(o.n, 2);
    assert_true(has(&o, SLACK) && has(&o, PD));
    assert_int_equal(a.notify_seq, 2);
    step(&a, true, SEV_CRITICAL, T0 + 61, &o);
    assert_int_equal(o.n, 0);
    /* exec: 15 minutes after the alert became CRITICAL, not after it started */
    step(&a, true, SEV_CRITICAL, T0 + 60 + 15 * 60 - 1, &o);
    assert_int_equal(o.n, 0);
    step(&a, true, SEV_CRITICAL, T0 + 60 + 15 * 60, &o);
    assert_int_equal(o.n, 1);
    assert_true(has(&o, EXEC));
    /* resolve reaches the three that were told */
    step(&a, false, SEV_CRITICAL, T0 + 2000, &o);
    assert_true(o.resolved);
    assert_int_equal(o.n, 3);
}

static void test_escalation_and_ack(void **state)
{
    (void)state;
    struct alert a;
    struct alert_step_out o;
    alert_init(&a, "pool_utilization", AR_POOL_UTILIZATION, "appdb/app");
    step(&a, true, SEV_CRITICAL, T0, &o);
    step(&a, true, SEV_CRITICAL, T0 + 30, &o);
    assert_int_equal(o.n, 2);
    assert_true(has(&o, SLACK) && has(&o, PD));
    assert_false(has(&o, EXEC));
    /* acknowledged at 10 minutes: the exec tier is never paged */
    assert_true(alert_ack(&a, "alice", T0 + 30 + 600));
    for (time_t t = T0 + 31; t < T0 + 30 + 3 * 3600; t += 60) {
        step(&a, true, SEV_CRITICAL, t, &o);
        assert_int_equal(o.n, 0); /* no escalation, no renotify while acknowledged */
    }
    /* the resolve still reaches the two that were paged */
    step(&a, false, SEV_CRITICAL, T0 + 4 * 3600, &o);
    assert_int_equal(o.n, 2);
    assert_false(has(&o, EXEC));
    /* nothing firing: nothing to acknowledge */
    assert_false(alert_ack(&a, "alice", T0 + 4 * 3600));

    /* unacknowledged: exec after exactly 15 minutes of firing */
    alert_init(&a, "pool_utilization", AR_POOL_UTILIZATION, "appdb/app");
    step(&a, true, SEV_CRITICAL, T0, &o);
    step(&a, true, SEV_CRITICAL, T0 + 30, &o);
    step(&a, true, SEV_CRITICAL, T0 + 30 + 899, &o);
    assert_int_equal(o.n, 0);
    step(&a, true, SEV_CRITICAL, T0 + 30 + 900, &o);
    assert_int_equal(o.n, 1);
    assert_true(has(&o, EXEC));
    /* a new incident after a resolve starts the chain again and forgets the ACK */
    assert_true(alert_ack(&a, "bob", T0 + 1000));
    step(&a, false, SEV_CRITICAL, T0 + 1100, &o);
    step(&a, true, SEV_CRITICAL, T0 + 1200, &o);
    step(&a, true, SEV_CRITICAL, T0 + 1230, &o);
    assert_int_equal(o.n, 2);
    assert_false(a.acked);
    assert_int_equal(a.notify_seq, 1);
}

static void test_ack_cleared_by_worse_severity(void **state)
{
    (void)state;
    struct alert a;
    struct alert_step_out o;
    alert_init(&a, "pool_utilization", AR_POOL_UTILIZATION, "appdb/app");
    step(&a, true, SEV_CRITICAL, T0, &o);
    step(&a, true, SEV_CRITICAL, T0 + 30, &o);
    assert_true(alert_ack(&a, "alice", T0 + 40));
    step(&a, true, SEV_EMERGENCY, T0 + 50, &o);
    assert_false(a.acked);
    assert_int_equal(o.n, 2); /* Slack and PagerDuty hear of the EMERGENCY */
    step(&a, true, SEV_EMERGENCY, T0 + 50 + 900, &o);
    assert_int_equal(o.n, 1);
    assert_true(has(&o, EXEC));
}

static void test_renotify_min(void **state)
{
    (void)state;
    struct alert a;
    struct alert_step_out o;
    alert_init(&a, "clients_waiting", AR_CLIENTS_WAITING, "appdb/app");
    step(&a, true, SEV_HIGH, T0, &o);
    step(&a, true, SEV_HIGH, T0 + 30, &o);
    assert_int_equal(o.n, 1);
    step(&a, true, SEV_HIGH, T0 + 30 + 3599, &o);
    assert_int_equal(o.n, 0);
    step(&a, true, SEV_HIGH, T0 + 30 + 3600, &o);
    assert_int_equal(o.n, 1);
    assert_true(has(&o, SLACK));
    assert_int_equal(a.notify_seq, 2);
    /* renotify_min = 0: never */
    alert_init(&a, "clients_waiting", AR_CLIENTS_WAITING, "appdb/app");
    alert_step(&a, true, SEV_HIGH, T0, 0, 0, routes, NCH, &o);
    assert_int_equal(o.n, 1);
    alert_step(&a, true, SEV_HIGH, T0 + 86400, 0, 0, routes, NCH, &o);
    assert_int_equal(o.n, 0);
}

static void test_skip_channel(void **state)
{
    (void)state;
    struct alert_route r[2] = {{SEV_INFO, 0, true}, {SEV_INFO, 0, false}};
    struct alert a;
    struct alert_step_out o;
    alert_init(&a, "alert_delivery_failing", AR_ALERT_DELIVERY_FAILING, "oncall-slack");
    alert_step(&a, true, SEV_WARNING, T0, 0, 60, r, 2, &o);
    assert_int_equal(o.n, 1);
    assert_int_equal(o.ch[0], 1);
}

static void test_severity_from_wedding_context(void **state)
{
    (void)state;
    struct alert_wedding w = {0};
    w.criticality = 1;
    assert_int_equal(alert_severity_for(AR_POOL_UTILIZATION, &w), SEV_HIGH);
    w.criticality = 3; /* a wedding today, none in progress */
    assert_int_equal(alert_severity_for(AR_POOL_UTILIZATION, &w), SEV_HIGH);
    w.active_weddings = 1;
    w.criticality = 4;
    assert_int_equal(alert_severity_for(AR_POOL_UTILIZATION, &w), SEV_CRITICAL);
    assert_int_equal(alert_severity_for(AR_BACKEND_DOWN, &w), SEV_CRITICAL);
    w.criticality = 5;
    assert_int_equal(alert_severity_for(AR_POOL_UTILIZATION, &w), SEV_EMERGENCY);
    assert_int_equal(alert_severity_for(AR_CALENDAR_STALE, &w), SEV_WARNING);
}

static void test_notice_in_the_seeds_wording(void **state)
{
    (void)state;
    struct alert_rules_conf rc;
    alert_rules_defaults(&rc);
    struct alert a;
    struct alert_step_out o;
    alert_init(&a, "pool_utilization", AR_POOL_UTILIZATION, "appdb/app");
    snprintf(a.database, sizeof(a.database), "appdb");
    a.value = 90.4;
    a.extra = 9;
    a.extra2 = 10;
    step(&a, true, SEV_CRITICAL, T0, &o);
    step(&a, true, SEV_CRITICAL, T0 + 30, &o);
    struct alert_wedding w = {.active_weddings = 1, .guests_affected = 200, .criticality = 4};
    snprintf(w.weddings, sizeof(w.weddings), "Smith & Jones");
    struct alert_notice n;
    alert_notice_fill(&a, &rc, &w, false, T0 + 30, &n);
    assert_string_equal(n.summary, "Database pool appdb at 90% capacity");
    assert_string_equal(n.key, "pool_utilization:appdb/app");
    assert_string_equal(n.rule, "pool_utilization");
    assert_string_equal(n.weddings, "Smith & Jones");
    assert_int_equal(n.guests_affected, 200);
    assert_int_equal(n.severity, SEV_CRITICAL);
    assert_false(n.resolved);
    assert_int_equal(n.started_at, T0 + 30);
    assert_string_equal(n.actions, "Scale pool size\nCheck for connection leaks");
    assert_string_equal(n.runbook, "docs/runbook.md#wedpoolpoolutilizationhigh");
    assert_non_null(strstr(n.details, "in use: 9\n"));
    assert_non_null(strstr(n.details, "effective_max_pool_size: 10\n"));
    assert_non_null(strstr(n.details, "guests affected: 200"));
    assert_int_equal(n.notify_seq, 1);
    alert_notice_fill(&a, &rc, &w, true, T0 + 90, &n);
    assert_string_equal(n.summary, "Database pool appdb at 90% capacity");
    assert_true(n.resolved);
    assert_non_null(strstr(n.details, "firing for: 60 s"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_defaults_and_lines),
        cmocka_unit_test(test_pending_then_firing_after_for_s_then_resolved),
        cmocka_unit_test(test_severity_change_renotifies),
        cmocka_unit_test(test_escalation_and_ack),
        cmocka_unit_test(test_ack_cleared_by_worse_severity),
        cmocka_unit_test(test_renotify_min),
        cmocka_unit_test(test_skip_channel),
        cmocka_unit_test(test_severity_from_wedding_context),
        cmocka_unit_test(test_notice_in_the_seeds_wording),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
