/* test_prepared.c — the prepared-statement rewriting alone: names mapped per client, shared
 * server-side names, the per-server LRU with eviction, synthetic answers, undo after errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "prepared.h"

struct side {
    struct ps_client *cl;
    struct ps_server *sv;
    struct expq q;
    struct pbuf out;
};

static uint8_t wire[1024];

static struct msg make(char type, const void *body, uint32_t len)
{
    wire[0] = (uint8_t)type;
    uint32_t n = len + 4;
    wire[1] = (uint8_t)(n >> 24);
    wire[2] = (uint8_t)(n >> 16);
    wire[3] = (uint8_t)(n >> 8);
    wire[4] = (uint8_t)n;
    memcpy(wire + 5, body, len);
    struct msg m;
    assert_int_equal(msg_next(wire, len + 5, 1u << 30, &m), MSG_OK);
    return m;
}

static struct msg parse_msg(const char *name, const char *sql)
{
    uint8_t b[512];
    size_t n = 0;
    memcpy(b, name, strlen(name) + 1);
    n += strlen(name) + 1;
    memcpy(b + n, sql, strlen(sql) + 1);
    n += strlen(sql) + 1;
    b[n++] = 0;
    b[n++] = 0;
    return make('P', b, (uint32_t)n);
}

static struct msg bind_msg(const char *stmt)
{
    uint8_t b[256];
    size_t n = 0;
    b[n++] = 0; /* unnamed portal */
    memcpy(b + n, stmt, strlen(stmt) + 1);
    n += strlen(stmt) + 1;
    memset(b + n, 0, 6);
    n += 6;
    return make('B', b, (uint32_t)n);
}

static struct msg dc_msg(char type, const char *stmt)
{
    uint8_t b[256];
    b[0] = 'S';
    memcpy(b + 1, stmt, strlen(stmt) + 1);
    return make(type, b, (uint32_t)strlen(stmt) + 2);
}

static enum ps_result run(struct side *s, const struct msg *m, uint32_t max)
{
    struct ps_ctx x = {&s->cl, &s->sv, &s->q, &s->out, max, 100, NULL};
    uint32_t consumed;
    if (ps_check(m, 16384) != PS_REWRITE)
        return PS_UNCHANGED;
    return ps_rewrite(&x, m, &consumed);
}

/* Answers the head entries as the server would (everything succeeds), n of them. */
static void answer(struct side *s, int n)
{
    for (int i = 0; i < n; i++) {
        const struct exp_entry *h = expq_head(&s->q);
        assert_non_null(h);
        struct exp_entry e = *h;
        bool ended;
        if (h->synth) {
            assert_true(expq_synth_head(&s->q, NULL, NULL) != 0);
        } else {
            uint8_t t = h->kind == EXP_PARSE ? '1' : h->kind == EXP_BIND ? '2' : h->kind == EXP_CLOSE ? '3' : 'Z';
            assert_int_not_equal(expq_server_msg(&s->q, t, 'I', NULL, NULL, &ended), EXP_VIOLATION);
        }
        if (e.tag == EXP_TAG_PREPARED)
            assert_true(ps_entry_done(s->sv, s->cl, &e, false));
    }
}

static void init(struct side *s)
{
    memset(s, 0, sizeof(*s));
    expq_init(&s->q);
    pbuf_init(&s->out);
}

static void fini(struct side *s)
{
    ps_client_free(s->cl);
    ps_server_free(s->sv);
    expq_free(&s->q);
    pbuf_free(&s->out);
}

static void test_parse_bind_share_names(void **state)
{
    (void)state;
    struct side a, b;
    init(&a);
    init(&b);
    struct msg m = parse_msg("s1", "SELECT 1");
    assert_int_equal(run(&a, &m, 200), PS_OK);
    /* forwarded as wp_<hash> */
    assert_int_equal(a.out.data[0], 'P');
    assert_memory_equal(a.out.data + 5, "wp_", 3);
    const char *sname = ps_client_lookup(a.cl, "s1");
    assert_non_null(sname);
    assert_true(ps_server_has_name(a.sv, sname));
    assert_false(expq_head(&a.q)->synth);
    answer(&a, 1);
    /* client b on the same server (shares a's server state): the Parse is answered by wedpool */
    b.sv = a.sv;
    m = parse_msg("other", "SELECT 1");
    pbuf_reset(&b.out);
    assert_int_equal(run(&b, &m, 200), PS_OK);
    assert_int_equal(b.out.len, 0);
    assert_true(expq_head(&b.q)->synth);
    assert_string_equal(ps_client_lookup(b.cl, "other"), sname);
    answer(&b, 1);
    /* b cannot reach a's name, nor the server-side name */
    assert_null(ps_client_lookup(b.cl, "s1"));
    m = bind_msg("s1");
    assert_int_equal(run(&b, &m, 200), PS_UNCHANGED);
    m = bind_msg(sname);
    assert_int_equal(run(&b, &m, 200), PS_OK);
    assert_int_equal(b.out.data[0], 'B');
    assert_int_equal(b.out.data[6], '!'); /* "!wp_...": never a statement of wedpool's */
    b.sv = NULL;
    fini(&b);
    fini(&a);
}

static void test_bind_on_a_server_without_it_injects_parse(void **state)
{
    (void)state;
    struct side a;
    init(&a);
    struct msg m = parse_msg("s1", "SELECT $1");
    assert_int_equal(run(&a, &m, 200), PS_OK);
    answer(&a, 1);
    /* a new server for the next transaction */
    ps_server_free(a.sv);
    a.sv = NULL;
    pbuf_reset(&a.out);
    m = bind_msg("s1");
    assert_int_equal(run(&a, &m, 200), PS_OK);
    assert_int_equal(a.out.data[0], 'P');          /* wedpool's own Parse */
    const struct exp_entry *h = expq_head(&a.q);
    assert_true(h->drop);                          /* its ParseComplete is dropped */
    assert_int_equal(h->kind, EXP_PARSE);
    assert_int_equal(a.q.n, 2);                    /* then the client's Bind */
    answer(&a, 2);
    fini(&a);
}

static void test_eviction_and_undo(void **state)
{
    (void)state;
    struct side a;
    init(&a);
    char name[8], sql[32];
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof(name), "s%d", i);
        snprintf(sql, sizeof(sql), "SELECT %d", i);
        struct msg m = parse_msg(name, sql);
        assert_int_equal(run(&a, &m, 2), PS_OK);
    }
    assert_int_equal(ps_server_count(a.sv), 2);    /* s0 was closed */
    assert_int_equal(ps_client_count(a.cl), 3);
    answer(&a, 4);                                 /* P P C(evict) P */
    assert_true(expq_empty(&a.q));
    /* a failed Parse leaves neither the name nor the server-side statement */
    struct msg m = parse_msg("bad", "SELEC");
    assert_int_equal(run(&a, &m, 200), PS_OK);
    struct exp_entry e = *expq_head(&a.q);
    bool ended;
    assert_int_equal(expq_server_msg(&a.q, 'E', 0, NULL, NULL, &ended), EXP_FORWARD);
    e.failed = true;
    assert_true(ps_entry_done(a.sv, a.cl, &e, false));
    assert_true(ps_settle(a.sv, a.cl));
    assert_null(ps_client_lookup(a.cl, "bad"));
    assert_int_equal(ps_server_count(a.sv), 2);
    fini(&a);
}

static void test_close_is_synthetic_and_discard_resets(void **state)
{
    (void)state;
    struct side a;
    init(&a);
    struct msg m = parse_msg("s1", "SELECT 1");
    assert_int_equal(run(&a, &m, 200), PS_OK);
    answer(&a, 1);
    m = dc_msg('C', "s1");
    pbuf_reset(&a.out);
    assert_int_equal(run(&a, &m, 200), PS_OK);
    assert_int_equal(a.out.len, 0);                /* nothing to the server */
    assert_true(expq_head(&a.q)->synth);
    assert_null(ps_client_lookup(a.cl, "s1"));
    assert_int_equal(ps_server_count(a.sv), 1);    /* stays prepared for others */
    answer(&a, 1);
    m = parse_msg("s2", "SELECT 2");
    assert_int_equal(run(&a, &m, 200), PS_OK);
    answer(&a, 1);
    const char *q = "  discard ALL ;";
    m = make('Q', q, (uint32_t)strlen(q) + 1);
    assert_int_equal(run(&a, &m, 200), PS_OK);
    assert_int_equal(ps_client_count(a.cl), 0);
    assert_int_equal(ps_server_count(a.sv), 0);
    /* ordinary queries are not looked at beyond their first letter */
    q = "SELECT 1";
    m = make('Q', q, (uint32_t)strlen(q) + 1);
    assert_int_equal(ps_check(&m, 16384), PS_PASS);
    q = "delete from t";
    m = make('Q', q, (uint32_t)strlen(q) + 1);
    assert_int_equal(ps_check(&m, 16384), PS_PASS);
    fini(&a);
}

static void test_unnamed_and_check(void **state)
{
    (void)state;
    struct msg m = parse_msg("", "SELECT 1");
    assert_int_equal(ps_check(&m, 16384), PS_PASS);
    m = bind_msg("");
    assert_int_equal(ps_check(&m, 16384), PS_PASS);
    m = dc_msg('D', "");
    assert_int_equal(ps_check(&m, 16384), PS_PASS);
    uint8_t portal[] = {'P', 'x', 0};
    m = make('D', portal, sizeof(portal));
    assert_int_equal(ps_check(&m, 16384), PS_PASS);
    m = parse_msg("n", "SELECT 1");
    assert_int_equal(ps_check(&m, 16384), PS_REWRITE);
    /* a named Parse not all in the buffer yet: wait when it fits, refuse when it cannot */
    m.whole = false;
    m.total = 20000;
    assert_int_equal(ps_check(&m, 16384), PS_REWRITE);
    m.total = 1000;
    assert_int_equal(ps_check(&m, 16384), PS_NEED_MORE);
    /* the hash is stable and names differ for different parameter types */
    assert_int_equal(ps_hash((const uint8_t *)"abc", 3), ps_hash((const uint8_t *)"abc", 3));
    assert_int_not_equal(ps_hash((const uint8_t *)"abc", 3), ps_hash((const uint8_t *)"abd", 3));
}

/* A named statement keeps what the classifier said of its text; each Bind reports it. DISCARD ALL /
 * DEALLOCATE ALL texts are recognised, and ps_reset_execute forgets every statement. */
static void test_flags_and_reset_at_execute(void **state)
{
    (void)state;
    struct side a;
    init(&a);
    struct ps_flags fl = {.parse_pins = 0x1};
    struct ps_ctx x = {&a.cl, &a.sv, &a.q, &a.out, 200, 100, &fl};
    uint32_t consumed;
    struct msg m = parse_msg("setp", "SET search_path = x");
    assert_false(ps_parse_resets(&m));
    assert_int_equal(ps_rewrite(&x, &m, &consumed), PS_OK);
    struct ps_flags fl2 = {.parse_releases = 0x7ff};
    x.flags = &fl2;
    m = parse_msg("d", "  discard ALL ;");
    assert_true(ps_parse_resets(&m));
    assert_int_equal(ps_rewrite(&x, &m, &consumed), PS_OK);
    answer(&a, 2);
    struct ps_flags out = {0};
    x.flags = &out;
    m = bind_msg("setp");
    assert_int_equal(ps_rewrite(&x, &m, &consumed), PS_OK);
    assert_true(out.bound);
    assert_int_equal(out.bound_pins, 0x1);
    assert_false(out.bound_resets);
    memset(&out, 0, sizeof(out));
    m = bind_msg("d");
    assert_int_equal(ps_rewrite(&x, &m, &consumed), PS_OK);
    assert_true(out.bound_resets);
    assert_int_equal(out.bound_releases, 0x7ff);
    answer(&a, 2); /* the two BindCompletes */
    /* the Execute of "d": every name and every server statement forgotten */
    assert_true(ps_reset_execute(&x));
    assert_true(expq_push(&a.q, EXP_EXECUTE, EXP_TAG_PREPARED, false, 0));
    assert_int_equal(ps_client_count(a.cl), 0);
    assert_int_equal(ps_server_count(a.sv), 0);
    struct exp_entry e = *expq_head(&a.q);
    bool ended;
    assert_int_equal(expq_server_msg(&a.q, 'C', 0, NULL, NULL, &ended), EXP_FORWARD);
    assert_true(ps_entry_done(a.sv, a.cl, &e, false));
    /* failed, it leaves the server untrusted */
    assert_true(ps_reset_execute(&x));
    e.failed = true;
    assert_true(ps_entry_done(a.sv, a.cl, &e, false));
    assert_false(ps_settle(a.sv, a.cl));
    /* other texts and forms */
    const char *yes[] = {"DEALLOCATE ALL", "deallocate prepare all", "/* x */ DISCARD ALL"};
    const char *no[] = {"DISCARD PLANS", "DEALLOCATE x", "DISCARD ALL; SELECT 1", "SELECT 1", ""};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        m = parse_msg("", yes[i]);
        assert_true(ps_parse_resets(&m));
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        m = parse_msg("", no[i]);
        assert_false(ps_parse_resets(&m));
    }
    m = bind_msg("");
    assert_true(ps_bind_unnamed(&m));
    m = bind_msg("d");
    assert_false(ps_bind_unnamed(&m));
    fini(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_bind_share_names),
        cmocka_unit_test(test_bind_on_a_server_without_it_injects_parse),
        cmocka_unit_test(test_eviction_and_undo),
        cmocka_unit_test(test_close_is_synthetic_and_discard_resets),
        cmocka_unit_test(test_unnamed_and_check),
        cmocka_unit_test(test_flags_and_reset_at_execute),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
