/* test_alert.c — alert.c on its own, with the pools, channels, calendars and wedding context
 * stubbed: backend events published on the event stream raise and resolve alerts at once and reach
 * the channels by severity; a wedding in progress makes them CRITICAL; ACK by key; a pool over the
 * threshold fires after for_s; and the cost of a tick over thousands of quiet pools. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "alert.h"
#include "channels.h"
#include "clock.h"
#include "events.h"
#include "fetch.h"
#include "pgstats.h"
#include "pool.h"
#include "rules.h"
#include "runtime.h"
#include "scaler.h"

struct runtime rt;

/* ---- stubs: the pools */
static struct dlist pools = {&pools, &pools};
struct dlist *pool_all(void)
{
    return &pools;
}
uint64_t pool_max_wait_us(struct pool *p, uint64_t now)
{
    (void)p;
    (void)now;
    return 0;
}

/* ---- stubs: the wedding context and calendars */
static struct wedding_context ctx = {.criticality = 1};
const struct wedding_context *scaler_context(void)
{
    return &ctx;
}
static struct wedding smith = {.name = "Smith & Jones", .guests = 200};
static struct wedding_list weddings = {&smith, 1, 1};
const struct wedding_list *calendars_weddings(void)
{
    return &weddings;
}
int calendars_status(struct calendar_status *out, int max)
{
    (void)out;
    (void)max;
    return 0;
}
bool pgstats_usage(const char *database, long *used, long *slots)
{
    (void)database;
    (void)used;
    (void)slots;
    return false;
}

/* ---- stubs: two channels, Slack (HIGH) and PagerDuty (CRITICAL); sends are recorded */
static const char *const names[] = {"oncall-slack", "oncall-pd"};
static struct {
    int ch;
    struct alert_notice n;
} sent[64];
static int nsent;
int channels_count(void)
{
    return 2;
}
const char *channel_name(int ch)
{
    return names[ch];
}
enum alert_severity channel_min_severity(int ch)
{
    return ch == 0 ? SEV_HIGH : SEV_CRITICAL;
}
int channel_after_min(int ch)
{
    (void)ch;
    return 0;
}
int channel_find(const char *name)
{
    for (int i = 0; i < 2; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}
void channels_send(int ch, const struct alert_notice *n)
{
    if (nsent < 64) {
        sent[nsent].ch = ch;
        sent[nsent].n = *n;
    }
    nsent++;
}
void channels_on_result(channel_result_fn fn, void *arg)
{
    (void)fn;
    (void)arg;
}
bool channel_failing_since(int ch, time_t *since)
{
    (void)ch;
    (void)since;
    return false;
}

#define T0 ((time_t)1781357400) /* 2026-06-13T13:30:00Z */
static uint64_t mono = 1000000000ull;

static int setup(void **state)
{
    (void)state;
    clock_set_fake(T0, 1);
    alert_rules_defaults(&rt.cfg.alert_rules);
    ctx = (struct wedding_context){.criticality = 1};
    smith.start = T0 - 1800;
    smith.end = T0 + 4 * 3600;
    nsent = 0;
    alert_start();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    alert_stop();
    return 0;
}

static void publish(enum wp_event_kind kind, const char *db, const char *host)
{
    struct wp_event ev = {.kind = kind, .at = T0};
    snprintf(ev.database, sizeof(ev.database), "%s", db);
    snprintf(ev.host, sizeof(ev.host), "%s", host);
    snprintf(ev.detail, sizeof(ev.detail), "connection refused");
    events_publish(&ev);
}

static void test_backend_down_event_alerts_at_once_and_up_resolves(void **state)
{
    (void)state;
    publish(EV_BACKEND_DOWN, "appdb", "pg1:5432");
    /* an ordinary day: HIGH, Slack only, at once (for_s=0) */
    assert_int_equal(nsent, 1);
    assert_int_equal(sent[0].ch, 0);
    assert_string_equal(sent[0].n.key, "backend_down:pg1:5432");
    assert_string_equal(sent[0].n.summary, "PostgreSQL pg1:5432 is down");
    assert_int_equal(sent[0].n.severity, SEV_HIGH);
    assert_non_null(strstr(sent[0].n.details, "detail: connection refused"));
    assert_string_equal(sent[0].n.runbook, "docs/runbook.md#wedpoolbackenddown");
    /* ticks while it stays down send nothing more */
    for (int i = 0; i < 5; i++)
        alert_tick(mono += 1000000);
    assert_int_equal(nsent, 1);
    publish(EV_BACKEND_UP, "appdb", "pg1:5432");
    assert_int_equal(nsent, 2);
    assert_true(sent[1].n.resolved);
    assert_int_equal(sent[1].ch, 0);
    /* up without a down: nothing */
    publish(EV_BACKEND_UP, "appdb", "pg2:5432");
    assert_int_equal(nsent, 2);
}

static void test_failover_during_a_wedding_is_critical_and_names_it(void **state)
{
    (void)state;
    ctx.active_weddings = 1;
    ctx.guests_affected = 200;
    ctx.criticality = 4;
    publish(EV_FAILOVER_STARTED, "appdb", "pg1:5432");
    assert_int_equal(nsent, 2); /* Slack and PagerDuty */
    assert_string_equal(sent[0].n.key, "failover:appdb");
    assert_string_equal(sent[0].n.summary, "Failover in progress for database appdb");
    assert_int_equal(sent[0].n.severity, SEV_CRITICAL);
    assert_string_equal(sent[0].n.weddings, "Smith & Jones");
    assert_int_equal(sent[0].n.guests_affected, 200);
    char msg[256];
    assert_true(alert_ack_key("failover:appdb", "alice", msg, sizeof(msg)));
    assert_false(alert_ack_key("failover:otherdb", "alice", msg, sizeof(msg)));
    assert_non_null(strstr(msg, "no firing alert"));
    publish(EV_SPLIT_BRAIN, "appdb", "");
    assert_int_equal(nsent, 4);
    assert_string_equal(sent[2].n.key, "split_brain:appdb");
    publish(EV_FAILOVER_FINISHED, "appdb", "pg2:5432");
    assert_int_equal(nsent, 6);
    assert_true(sent[4].n.resolved);
    assert_string_equal(sent[4].n.key, "failover:appdb");
    /* the wedding context reaches EMERGENCY: the split brain still firing re-notifies */
    ctx.criticality = 5;
    alert_tick(mono += 1000000);
    assert_int_equal(nsent, 8);
    assert_int_equal(sent[6].n.severity, SEV_EMERGENCY);
    assert_int_equal(sent[6].n.notify_seq, 2);
}

static void test_backend_down_off_is_silent(void **state)
{
    (void)state;
    rt.cfg.alert_rules.rule[AR_BACKEND_DOWN].off = true;
    publish(EV_CIRCUIT_OPEN, "appdb", "pg1:5432");
    assert_int_equal(nsent, 0);
    rt.cfg.alert_rules.rule[AR_BACKEND_DOWN].off = false;
}

/* A pool over the threshold fires after for_s; thousands of quiet pools cost little per tick. */
static void test_pools(void **state)
{
    (void)state;
    enum { NPOOLS = 2000 };
    struct pool *ps = calloc(NPOOLS, sizeof(*ps));
    assert_non_null(ps);
    for (int i = 0; i < NPOOLS; i++) {
        snprintf(ps[i].name, sizeof(ps[i].name), "db%d", i);
        snprintf(ps[i].user, sizeof(ps[i].user), "app");
        ps[i].max_size = 10;
        ps[i].n_active = 3;
        dlist_push_back(&pools, &ps[i].node);
    }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    enum { TICKS = 200 };
    for (int t = 0; t < TICKS; t++)
        alert_tick(mono += 1000000);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double us = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / 1e3 / TICKS;
    printf("alert_tick over %d quiet pools: %.1f us per evaluation (%.3f us per pool)\n", NPOOLS, us, us / NPOOLS);
    assert_int_equal(nsent, 0);

    rt.cfg.alert_rules.rule[AR_POOL_UTILIZATION].for_s = 30;
    ps[7].n_active = 9;
    clock_set_fake(T0, 1);
    alert_tick(mono += 1000000);
    assert_int_equal(nsent, 0); /* pending */
    assert_true(ps[7].alert_live != 0);
    clock_set_fake(T0 + 30, 1);
    alert_tick(mono += 1000000);
    assert_int_equal(nsent, 1);
    assert_string_equal(sent[0].n.summary, "Database pool db7 at 90% capacity");
    /* the pool goes away while firing: resolved */
    dlist_remove(&ps[7].node);
    alert_tick(mono += 1000000);
    assert_int_equal(nsent, 2);
    assert_true(sent[1].n.resolved);
    for (int i = 0; i < NPOOLS; i++)
        if (i != 7)
            dlist_remove(&ps[i].node);
    free(ps);
}

/* acquire_p99_ms: a handful of slow acquisitions (a cold pool's logins) say nothing; 100 do. */
static void test_acquire_p99_needs_samples(void **state)
{
    (void)state;
    struct pool *p = calloc(1, sizeof(*p));
    assert_non_null(p);
    snprintf(p->name, sizeof(p->name), "appdb");
    snprintf(p->user, sizeof(p->user), "app");
    p->max_size = 10;
    dlist_push_back(&pools, &p->node);
    rt.cfg.alert_rules.rule[AR_ACQUIRE_P99_MS].for_s = 0;
    for (int i = 0; i < 10; i++) {
        window_observe(&p->acquire_window, mono / 1000000u, 50000); /* 50 ms */
        p->stats.wait_count++;
    }
    alert_tick(mono += 1000000);
    assert_int_equal(nsent, 0);
    for (int i = 0; i < 100; i++) {
        window_observe(&p->acquire_window, mono / 1000000u, 50000);
        p->stats.wait_count++;
    }
    alert_tick(mono += 1000000);
    assert_int_equal(nsent, 1);
    assert_string_equal(sent[0].n.key, "acquire_p99_ms:appdb/app");
    assert_non_null(strstr(sent[0].n.summary, "p99 wait for a connection"));
    /* a minute without acquisitions: resolved */
    mono += 61000000ull;
    alert_tick(mono);
    assert_int_equal(nsent, 2);
    assert_true(sent[1].n.resolved);
    dlist_remove(&p->node);
    free(p);
}

/* reserve_in_use and lane_shedding: at once (for_s=0); shedding resolves a minute after the last refusal. */
static void test_reserve_and_shedding(void **state)
{
    (void)state;
    struct pool *p = calloc(1, sizeof(*p));
    assert_non_null(p);
    snprintf(p->name, sizeof(p->name), "appdb");
    snprintf(p->user, sizeof(p->user), "app");
    p->max_size = 10;
    dlist_push_back(&pools, &p->node);
    alert_tick(mono += 1000000);
    assert_int_equal(nsent, 0);
    p->n_reserve_active = 2;
    p->lanes[1].shed = 3;
    alert_tick(mono += 1000000);
    assert_int_equal(nsent, 2);
    assert_string_equal(sent[0].n.key, "reserve_in_use:appdb/app");
    assert_string_equal(sent[0].n.summary, "Database pool appdb runs on 2 emergency reserve connection(s)");
    assert_string_equal(sent[1].n.key, "lane_shedding:appdb/app");
    assert_string_equal(sent[1].n.summary, "Database pool appdb is shedding clients (3 refused in the last minute)");
    p->n_reserve_active = 0;
    alert_tick(mono += 1000000);
    assert_int_equal(nsent, 3);
    assert_true(sent[2].n.resolved);
    assert_string_equal(sent[2].n.key, "reserve_in_use:appdb/app");
    mono += 30000000ull; /* 30 s more without refusals: still shedding */
    alert_tick(mono);
    assert_int_equal(nsent, 3);
    mono += 31000000ull;
    alert_tick(mono);
    assert_int_equal(nsent, 4);
    assert_true(sent[3].n.resolved);
    assert_int_equal(p->alert_live, 0);
    /* a new run of refusals counts from its own start */
    p->lanes[1].shed = 4;
    alert_tick(mono += 1000000);
    assert_int_equal(nsent, 5);
    assert_string_equal(sent[4].n.summary, "Database pool appdb is shedding clients (1 refused in the last minute)");
    dlist_remove(&p->node);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_backend_down_event_alerts_at_once_and_up_resolves, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failover_during_a_wedding_is_critical_and_names_it, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backend_down_off_is_silent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pools, setup, teardown),
        cmocka_unit_test_setup_teardown(test_acquire_p99_needs_samples, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reserve_and_shedding, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
