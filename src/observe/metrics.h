/* metrics.h — Prometheus text exposition (0.0.4) and JSON snapshots of the pools, built on demand
 * from counters bumped where things happen. */
#ifndef WEDPOOL_METRICS_H
#define WEDPOOL_METRICS_H

#include <stdint.h>

#include "proto.h"

/* Counts an error sent to a client, by SQLSTATE class (first two characters). */
void metrics_count_error(const char *sqlstate);
/* Appends the whole /metrics page to out. */
void metrics_prometheus(struct pbuf *out);
/* Appends the INT-002 JSON snapshot (GET /api/metrics/database/pool) to out. */
void metrics_pool_json(struct pbuf *out);

#endif
