/* test_pqueue.c — the waiter priority queue: order, FIFO among equals, removal, scale. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "pqueue.h"

static void test_priority_then_fifo(void **state)
{
    (void)state;
    struct pqueue q;
    struct pq_node n[6];
    int64_t prio[6] = {100, 1400, 100, 10, 1400, 600};
    pq_init(&q);
    for (int i = 0; i < 6; i++) {
        pq_node_init(&n[i]);
        assert_true(pq_push(&q, &n[i], prio[i]));
    }
    int expect[6] = {1, 4, 5, 0, 2, 3};
    for (int i = 0; i < 6; i++)
        assert_ptr_equal(pq_pop(&q), &n[expect[i]]);
    assert_null(pq_pop(&q));
    pq_free(&q);
}

static void test_remove_middle_and_update(void **state)
{
    (void)state;
    struct pqueue q;
    struct pq_node n[5];
    pq_init(&q);
    for (int i = 0; i < 5; i++) {
        pq_node_init(&n[i]);
        assert_true(pq_push(&q, &n[i], 100));
    }
    pq_remove(&q, &n[2]);
    assert_false(pq_queued(&n[2]));
    pq_remove(&q, &n[2]); /* twice is harmless */
    pq_update(&q, &n[4], 500); /* aging lifts the last arrival to the front */
    assert_ptr_equal(pq_pop(&q), &n[4]);
    assert_ptr_equal(pq_pop(&q), &n[0]);
    assert_ptr_equal(pq_pop(&q), &n[1]);
    assert_ptr_equal(pq_pop(&q), &n[3]);
    assert_int_equal(pq_len(&q), 0);
    pq_free(&q);
}

static void test_ten_thousand(void **state)
{
    (void)state;
    enum { N = 10000 };
    struct pqueue q;
    struct pq_node *n = calloc(N, sizeof(*n));
    assert_non_null(n);
    pq_init(&q);
    srand(42);
    for (int i = 0; i < N; i++) {
        pq_node_init(&n[i]);
        assert_true(pq_push(&q, &n[i], rand() % 8));
    }
    /* time out every third waiter from wherever it sits */
    int removed = 0;
    for (int i = 0; i < N; i += 3) {
        pq_remove(&q, &n[i]);
        removed++;
    }
    assert_int_equal(pq_len(&q), N - removed);
    struct pq_node *prev = NULL;
    size_t popped = 0;
    struct pq_node *cur;
    while ((cur = pq_pop(&q)) != NULL) {
        assert_true((cur - n) % 3 != 0);
        if (prev != NULL) {
            assert_true(prev->priority > cur->priority ||
                        (prev->priority == cur->priority && prev->seq < cur->seq));
        }
        prev = cur;
        popped++;
    }
    assert_int_equal(popped, N - removed);
    pq_free(&q);
    free(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_priority_then_fifo),
        cmocka_unit_test(test_remove_middle_and_update),
        cmocka_unit_test(test_ten_thousand),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
