/* test_expect.c — the expected-response queue: what each request expects back, errors in batches,
 * COPY, wedpool's own dropped requests, and servers that answer out of turn. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "expect.h"

struct log {
    int done, skipped, failed;
    int last_tag;
};

static void on_done(void *arg, const struct exp_entry *e, bool skipped)
{
    struct log *l = arg;
    l->done++;
    l->skipped += skipped;
    l->failed += e->failed;
    l->last_tag = e->tag;
}

/* Feeds client message types, each must be accepted. */
static void client(struct expq *q, const char *types)
{
    bool oom;
    for (const char *t = types; *t; t++)
        assert_true(expq_client_msg(q, (uint8_t)*t, &oom));
}

/* Feeds server messages; 'Z' carries status 'I' unless followed by a status in the string as
 * "Z:T". Returns the verdict of the last one. */
static enum exp_verdict server(struct expq *q, const char *types, struct log *l, bool *ended)
{
    enum exp_verdict v = EXP_FORWARD;
    for (const char *t = types; *t; t++) {
        char status = 'I';
        if (*t == 'Z' && t[1] == ':') {
            status = t[2];
            v = expq_server_msg(q, 'Z', status, on_done, l, ended);
            t += 2;
        } else {
            v = expq_server_msg(q, (uint8_t)*t, status, on_done, l, ended);
        }
        if (v == EXP_VIOLATION)
            return v;
    }
    return v;
}

static void test_simple_query_and_transaction(void **state)
{
    (void)state;
    struct expq q;
    struct log l = {0};
    bool ended;
    expq_init(&q);
    assert_true(expq_idle_boundary(&q));
    client(&q, "Q");
    assert_false(expq_idle_boundary(&q));
    assert_int_equal(server(&q, "TDDC", &l, &ended), EXP_FORWARD);
    assert_false(ended);
    assert_int_equal(server(&q, "Z:T", &l, &ended), EXP_FORWARD);
    assert_true(ended);
    assert_true(expq_empty(&q));
    assert_false(expq_idle_boundary(&q)); /* BEGIN: inside a transaction */
    client(&q, "Q");
    assert_int_equal(server(&q, "CZ", &l, &ended), EXP_FORWARD);
    assert_true(expq_idle_boundary(&q));
    assert_int_equal(l.done, 2);
    expq_free(&q);
}

static void test_extended_batch(void **state)
{
    (void)state;
    struct expq q;
    struct log l = {0};
    bool ended;
    expq_init(&q);
    client(&q, "PBDE");
    assert_false(expq_idle_boundary(&q));
    assert_int_equal(server(&q, "12TDDC", &l, &ended), EXP_FORWARD);
    assert_true(expq_empty(&q));
    /* answered, but no Sync yet: an implicit transaction may be open */
    assert_false(expq_idle_boundary(&q));
    client(&q, "S");
    assert_int_equal(server(&q, "Z", &l, &ended), EXP_FORWARD);
    assert_true(ended);
    assert_true(expq_idle_boundary(&q));
    /* a statement Describe: ParameterDescription then NoData */
    client(&q, "PDS");
    assert_int_equal(server(&q, "1tnZ", &l, &ended), EXP_FORWARD);
    assert_true(expq_idle_boundary(&q));
    expq_free(&q);
}

static void test_error_skips_to_sync(void **state)
{
    (void)state;
    struct expq q;
    struct log l = {0};
    bool ended;
    expq_init(&q);
    /* Parse fails: Bind, Execute and even a Query before the Sync are ignored by the server */
    client(&q, "PBEQS");
    assert_int_equal(server(&q, "E", &l, &ended), EXP_FORWARD);
    assert_int_equal(l.done, 4);
    assert_int_equal(l.skipped, 3);
    /* nothing but ReadyForQuery may come now */
    struct expq q2;
    expq_init(&q2);
    client(&q2, "PBS");
    assert_int_equal(server(&q2, "E", &l, &ended), EXP_FORWARD);
    assert_int_equal(server(&q2, "2", &l, &ended), EXP_VIOLATION);
    expq_free(&q2);
    assert_int_equal(server(&q, "Z", &l, &ended), EXP_FORWARD);
    assert_true(expq_idle_boundary(&q));
    /* the client had not sent its Sync yet when the error came */
    client(&q, "PB");
    assert_int_equal(server(&q, "E", &l, &ended), EXP_FORWARD);
    client(&q, "ES");
    assert_int_equal(server(&q, "Z", &l, &ended), EXP_FORWARD);
    assert_true(expq_idle_boundary(&q));
    expq_free(&q);
}

static void test_copy_from_stdin_extended(void **state)
{
    (void)state;
    struct expq q;
    struct log l = {0};
    bool ended;
    expq_init(&q);
    /* libpq: Parse/Bind/Execute/Sync, then CopyData/CopyDone/Sync; the first Sync is ignored by
     * the server in COPY mode, and the client sent it before wedpool saw CopyInResponse */
    client(&q, "PBES");
    assert_int_equal(server(&q, "12G", &l, &ended), EXP_FORWARD);
    assert_true(q.copy_in);
    client(&q, "ddHS"); /* Flush and Sync during COPY: ignored */
    client(&q, "c");
    assert_false(q.copy_in);
    client(&q, "S");
    assert_int_equal(server(&q, "CZ", &l, &ended), EXP_FORWARD);
    assert_true(ended);
    assert_true(expq_idle_boundary(&q));
    /* the same with everything sent before CopyInResponse was read */
    client(&q, "PBESddcS");
    assert_int_equal(server(&q, "12GCZ", &l, &ended), EXP_FORWARD);
    assert_true(expq_idle_boundary(&q));
    /* a Query during COPY is refused */
    client(&q, "Q");
    assert_int_equal(server(&q, "G", &l, &ended), EXP_FORWARD);
    bool oom;
    assert_false(expq_client_msg(&q, 'Q', &oom));
    assert_false(oom);
    expq_free(&q);
}

static void test_copy_simple_and_stray_copy_messages(void **state)
{
    (void)state;
    struct expq q;
    struct log l = {0};
    bool ended;
    expq_init(&q);
    client(&q, "Q");
    assert_int_equal(server(&q, "G", &l, &ended), EXP_FORWARD);
    client(&q, "dSdf"); /* CopyFail: the server errors, then ReadyForQuery */
    assert_int_equal(server(&q, "EZ", &l, &ended), EXP_FORWARD);
    assert_true(expq_idle_boundary(&q));
    /* CopyDone outside COPY while idle: ignored, the server stays at a boundary */
    client(&q, "cdf");
    assert_true(expq_idle_boundary(&q));
    /* CopyDone after a Query that turned out not to COPY: the marker goes with the ReadyForQuery */
    client(&q, "Qc");
    assert_int_equal(server(&q, "CZ", &l, &ended), EXP_FORWARD);
    assert_true(expq_idle_boundary(&q));
    expq_free(&q);
}

static void test_injected_requests_are_dropped(void **state)
{
    (void)state;
    struct expq q;
    struct log l = {0};
    bool ended;
    expq_init(&q);
    assert_true(expq_push(&q, EXP_QUERY, EXP_TAG_PARAM, true, 0));
    assert_true(expq_push(&q, EXP_QUERY, EXP_TAG_PARAM, true, 1));
    client(&q, "Q");
    /* SET TimeZone: ParameterStatus, CommandComplete, ReadyForQuery, all wedpool's */
    assert_int_equal(server(&q, "S", &l, &ended), EXP_DROP);
    assert_int_equal(server(&q, "CZ", &l, &ended), EXP_DROP);
    assert_int_equal(l.last_tag, EXP_TAG_PARAM);
    /* the second SET fails: the error is wedpool's too, and the entry says so */
    assert_int_equal(server(&q, "EZ", &l, &ended), EXP_DROP);
    assert_int_equal(l.failed, 1);
    /* then the client's own query is forwarded */
    assert_int_equal(server(&q, "TDCZ", &l, &ended), EXP_FORWARD);
    assert_int_equal(l.last_tag, EXP_TAG_CLIENT);
    expq_free(&q);
}

static void test_unsolicited_server_messages(void **state)
{
    (void)state;
    struct expq q;
    struct log l = {0};
    bool ended;
    expq_init(&q);
    /* notices, parameter changes and notifications may come at any time */
    assert_int_equal(server(&q, "NSA", &l, &ended), EXP_FORWARD);
    /* anything else is an answer to nobody */
    const char *bad = "ZTDC12E";
    for (const char *t = bad; *t; t++) {
        expq_init(&q);
        assert_int_equal(expq_server_msg(&q, (uint8_t)*t, 'I', on_done, &l, &ended), EXP_VIOLATION);
    }
    /* a ParseComplete for a Bind */
    client(&q, "B");
    assert_int_equal(server(&q, "1", &l, &ended), EXP_VIOLATION);
    expq_free(&q);
    /* ReadyForQuery while an extended request is unanswered and no error came */
    expq_init(&q);
    client(&q, "PS");
    assert_int_equal(server(&q, "Z", &l, &ended), EXP_VIOLATION);
    expq_free(&q);
}

static void test_many_pending(void **state)
{
    (void)state;
    struct expq q;
    struct log l = {0};
    bool ended;
    expq_init(&q);
    for (int i = 0; i < 5000; i++)
        client(&q, "Q");
    for (int i = 0; i < 5000; i++)
        assert_int_equal(server(&q, "CZ", &l, &ended), EXP_FORWARD);
    assert_int_equal(l.done, 5000);
    assert_true(expq_idle_boundary(&q));
    expq_free(&q);
}

/* Synthetic entries: answered by wedpool in order, skipped after an error like real ones. */
static void test_synthetic_entries(void **state)
{
    (void)state;
    struct expq q;
    struct log l = {0};
    bool ended;
    expq_init(&q);
    /* Parse(synthetic) Bind Execute Sync: the synthetic answer comes first, at once */
    assert_true(expq_push_synth(&q, EXP_PARSE, EXP_TAG_CLIENT, 0));
    client(&q, "BES");
    assert_int_equal(expq_synth_head(&q, on_done, &l), '1');
    assert_int_equal(expq_synth_head(&q, on_done, &l), 0); /* the Bind heads now */
    assert_int_equal(server(&q, "2DCZ", &l, &ended), EXP_FORWARD);
    assert_true(ended);
    assert_true(expq_idle_boundary(&q));
    /* Bind(real) then Close(synthetic): only after BindComplete */
    client(&q, "B");
    assert_true(expq_push_synth(&q, EXP_CLOSE, EXP_TAG_CLIENT, 0));
    client(&q, "S");
    assert_int_equal(expq_synth_head(&q, on_done, &l), 0);
    assert_int_equal(server(&q, "2", &l, &ended), EXP_FORWARD);
    assert_int_equal(expq_synth_head(&q, on_done, &l), '3');
    assert_int_equal(server(&q, "Z", &l, &ended), EXP_FORWARD);
    /* an error before synthetic entries: they are skipped, never answered */
    l = (struct log){0};
    client(&q, "B");
    assert_true(expq_push_synth(&q, EXP_PARSE, EXP_TAG_CLIENT, 0));
    assert_true(expq_push_synth(&q, EXP_CLOSE, EXP_TAG_CLIENT, 0));
    client(&q, "S");
    assert_true(expq_push_synth(&q, EXP_PARSE, EXP_TAG_CLIENT, 0)); /* after the Sync: answered */
    client(&q, "S");
    assert_int_equal(server(&q, "E", &l, &ended), EXP_FORWARD);
    assert_int_equal(l.skipped, 2);
    assert_int_equal(expq_synth_head(&q, on_done, &l), 0); /* skipping to Sync */
    assert_int_equal(server(&q, "Z", &l, &ended), EXP_FORWARD);
    assert_int_equal(expq_synth_head(&q, on_done, &l), '1');
    assert_int_equal(server(&q, "Z", &l, &ended), EXP_FORWARD);
    assert_true(expq_empty(&q));
    /* a server message while a synthetic entry heads the queue is a relay bug: a violation */
    assert_true(expq_push_synth(&q, EXP_PARSE, EXP_TAG_CLIENT, 0));
    assert_int_equal(expq_server_msg(&q, '1', 0, on_done, &l, &ended), EXP_VIOLATION);
    assert_int_equal(expq_server_msg(&q, 'E', 0, on_done, &l, &ended), EXP_VIOLATION);
    /* only Parse and Close can be synthetic */
    assert_false(expq_push_synth(&q, EXP_BIND, EXP_TAG_CLIENT, 0));
    expq_free(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_query_and_transaction),
        cmocka_unit_test(test_extended_batch),
        cmocka_unit_test(test_error_skips_to_sync),
        cmocka_unit_test(test_copy_from_stdin_extended),
        cmocka_unit_test(test_copy_simple_and_stray_copy_messages),
        cmocka_unit_test(test_injected_requests_are_dropped),
        cmocka_unit_test(test_unsolicited_server_messages),
        cmocka_unit_test(test_many_pending),
        cmocka_unit_test(test_synthetic_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
