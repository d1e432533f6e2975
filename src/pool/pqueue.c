/* pqueue.c — indexed binary max-heap with FIFO tie-breaking. */
#include "pqueue.h"

#include <stdlib.h>

void pq_init(struct pqueue *q)
{
    q->heap = NULL;
    q->len = q->cap = 0;
    q->next_seq = 0;
}

void pq_free(struct pqueue *q)
{
    for (size_t i = 0; i < q->len; i++)
        q->heap[i]->index = SIZE_MAX;
    free(q->heap);
    pq_init(q);
}

/* a goes before b */
static bool before(const struct pq_node *a, const struct pq_node *b)
{
    if (a->priority != b->priority)
        return a->priority > b->priority;
    return a->seq < b->seq;
}

static void place(struct pqueue *q, size_t i, struct pq_node *n)
{
    q->heap[i] = n;
    n->index = i;
}

static void sift_up(struct pqueue *q, size_t i)
{
    struct pq_node *n = q->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(n, q->heap[parent]))
            break;
        place(q, i, q->heap[parent]);
        i = parent;
    }
    place(q, i, n);
}

static void sift_down(struct pqueue *q, size_t i)
{
    struct pq_node *n = q->heap[i];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, best = i;
        const struct pq_node *bn = n;
        if (l < q->len && before(q->heap[l], bn)) {
            best = l;
            bn = q->heap[l];
        }
        if (r < q->len && before(q->heap[r], bn))
            best = r;
        if (best == i)
            break;
        place(q, i, q->heap[best]);
        i = best;
    }
    place(q, i, n);
}

bool pq_push(struct pqueue *q, struct pq_node *n, int64_t priority)
{
    if (q->len == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        struct pq_node **h = realloc(q->heap, cap * sizeof(*h));
        if (h == NULL)
            return false;
        q->heap = h;
        q->cap = cap;
    }
    n->priority = priority;
    n->seq = q->next_seq++;
    place(q, q->len, n);
    q->len++;
    sift_up(q, q->len - 1);
    return true;
}

struct pq_node *pq_peek(const struct pqueue *q)
{
    return q->len ? q->heap[0] : NULL;
}

void pq_remove(struct pqueue *q, struct pq_node *n)
{
    size_t i = n->index;
    if (i == SIZE_MAX || i >= q->len || q->heap[i] != n)
        return;
    n->index = SIZE_MAX;
    q->len--;
    if (i == q->len)
        return;
    place(q, i, q->heap[q->len]);
    if (i > 0 && before(q->heap[i], q->heap[(i - 1) / 2]))
        sift_up(q, i);
    else
        sift_down(q, i);
}

struct pq_node *pq_pop(struct pqueue *q)
{
    struct pq_node *n = pq_peek(q);
    if (n != NULL)
        pq_remove(q, n);
    return n;
}

void pq_update(struct pqueue *q, struct pq_node *n, int64_t priority)
{
    if (n->index == SIZE_MAX)
        return;
    int64_t old = n->priority;
    n->priority = priority;
    if (priority > old)
        sift_up(q, n->index);
    else
        sift_down(q, n->index);
}
