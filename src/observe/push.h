/* push.h — push exporters (DogStatsD over UDP, OTLP/HTTP JSON): payloads are built on the loop from
 * counters and handed to the "push" outbox (alert/outbox.h: one worker thread, a bounded queue);
 * when the queue is full the payload is dropped and counted, so a slow collector can never delay a
 * query. wedsync.database.pool.utilization is a percent (seed 000's utilizationPercent). */
#ifndef WEDPOOL_PUSH_H
#define WEDPOOL_PUSH_H

#include <stdbool.h>

#include "proto.h"

bool push_start(void);
void push_stop(void);
/* Appends wedpool_push_* counters to a /metrics page. */
void push_prometheus(struct pbuf *out);

#endif
