/* pqueue.h — an indexed binary max-heap: highest priority first, FIFO among equals, O(log n)
 * insert, pop and removal from the middle (a waiter that timed out or left). */
#ifndef WEDPOOL_PQUEUE_H
#define WEDPOOL_PQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Embedded in each queued object. */
struct pq_node {
    int64_t priority;   /* higher is served first */
    uint64_t seq;       /* arrival order, for FIFO among equal priorities */
    size_t index;       /* position in the heap; SIZE_MAX when not queued */
};

struct pqueue {
    struct pq_node **heap;
    size_t len;
    size_t cap;
    uint64_t next_seq;
};

void pq_init(struct pqueue *q);
void pq_free(struct pqueue *q);
static inline size_t pq_len(const struct pqueue *q)
{
    return q->len;
}
static inline bool pq_queued(const struct pq_node *n)
{
    return n->index != SIZE_MAX;
}
static inline void pq_node_init(struct pq_node *n)
{
    n->index = SIZE_MAX;
}
/* Queues n with the given priority; false on allocation failure. */
bool pq_push(struct pqueue *q, struct pq_node *n, int64_t priority) __attribute__((warn_unused_result));
struct pq_node *pq_peek(const struct pqueue *q);
struct pq_node *pq_pop(struct pqueue *q);
/* Removes n from wherever it is in the queue (no-op if not queued). */
void pq_remove(struct pqueue *q, struct pq_node *n);
/* Changes n's priority in place (aging), keeping its arrival order. */
void pq_update(struct pqueue *q, struct pq_node *n, int64_t priority);

#endif
