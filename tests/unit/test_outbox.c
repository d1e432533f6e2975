/* test_outbox.c — the outbox's queue: jobs run in order on the worker, a full queue refuses, a
 * sleeping worker wakes at once on stop, queued jobs are discarded (never lost silently), and a
 * request to a closed port fails with libcurl's reason instead of hanging. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <stdatomic.h>

#include "outbox.h"

struct job {
    struct outbox_job base;
    int id;
    atomic_int *ran, *discarded, *order;
    bool sleep_long;             /* waits in outbox_wait until the outbox stops */
    atomic_bool *woke_early;
};

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void run(struct outbox *ob, struct outbox_job *j)
{
    struct job *job = (struct job *)j;
    int pos = atomic_fetch_add(job->ran, 1);
    job->order[pos] = job->id;
    if (job->sleep_long) {
        double t0 = mono_s();
        bool ok = outbox_wait(ob, 30000);
        if (!ok && mono_s() - t0 < 5)
            atomic_store(job->woke_early, true);
    }
    free(job);
}

static void discard(struct outbox_job *j)
{
    struct job *job = (struct job *)j;
    atomic_fetch_add(job->discarded, 1);
    free(job);
}

static struct job *new_job(int id, atomic_int *ran, atomic_int *discarded, atomic_int *order, bool sleep_long,
                           atomic_bool *woke)
{
    struct job *j = calloc(1, sizeof(*j));
    j->base.run = run;
    j->base.discard = discard;
    j->id = id;
    j->ran = ran;
    j->discarded = discarded;
    j->order = order;
    j->sleep_long = sleep_long;
    j->woke_early = woke;
    return j;
}

static void test_order_capacity_stop_and_discard(void **state)
{
    (void)state;
    atomic_int ran = 0, discarded = 0, order[8] = {0};
    atomic_bool woke = false;
    char err[128];
    struct outbox *ob = outbox_start("test", 2, err, sizeof(err));
    assert_non_null(ob);
    for (int i = 1; i <= 3; i++) {
        struct job *j = new_job(i, &ran, &discarded, order, false, &woke);
        while (!outbox_post(ob, &j->base)) { /* full while the worker has not taken the first two */
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
    for (int i = 0; i < 200 && atomic_load(&ran) < 3; i++) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(atomic_load(&ran), 3);
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 2);
    assert_int_equal(order[2], 3);
    /* a job that sleeps holds the worker; two more fill the queue; the next is refused */
    struct job *sleeper = new_job(4, &ran, &discarded, order, true, &woke);
    assert_true(outbox_post(ob, &sleeper->base));
    for (int i = 0; i < 200 && atomic_load(&ran) < 4; i++) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    struct job *a = new_job(5, &ran, &discarded, order, false, &woke);
    struct job *b = new_job(6, &ran, &discarded, order, false, &woke);
    struct job *c = new_job(7, &ran, &discarded, order, false, &woke);
    assert_true(outbox_post(ob, &a->base));
    assert_true(outbox_post(ob, &b->base));
    assert_false(outbox_post(ob, &c->base));
    free(c);
    assert_int_equal(outbox_pending(ob), 2);
    double t0 = mono_s();
    outbox_free(ob); /* wakes the sleeper, joins, discards the two queued */
    assert_true(mono_s() - t0 < 5);
    assert_true(atomic_load(&woke));
    assert_int_equal(atomic_load(&discarded), 2);
    assert_int_equal(atomic_load(&ran), 4);
}

static void test_http_to_a_closed_port_fails_with_a_reason(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct wire_request *rq = calloc(1, sizeof(*rq));
    snprintf(rq->url, sizeof(rq->url), "http://127.0.0.1:1/hook"); /* nothing listens on port 1 */
    rq->body = strdup("{}");
    rq->body_len = 2;
    struct outbox_http h;
    outbox_http(NULL, rq, 2000, &h);
    assert_int_not_equal(h.curl_code, 0);
    assert_int_equal(h.status, 0);
    assert_true(h.error[0] != '\0');
    assert_true(h.ms < 2000);
    wire_request_free(rq);
    free(rq);
    curl_global_cleanup();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_capacity_stop_and_discard),
        cmocka_unit_test(test_http_to_a_closed_port_fails_with_a_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
