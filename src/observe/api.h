/* api.h — the JSON API beyond the pool snapshot: lanes and clients (paginated). */
#ifndef WEDPOOL_API_H
#define WEDPOOL_API_H

#include "proto.h"

/* GET /api/v1/lanes: per pool and lane, the SHOW LANES numbers. */
void api_lanes_json(struct pbuf *out);
/* GET /api/v1/hosts: every backend host with its role, health, circuit state, last check, lag. */
void api_hosts_json(struct pbuf *out);
/* GET /api/v1/clients?offset=N&limit=M: one page of clients (limit at most 1000). */
void api_clients_json(struct pbuf *out, long offset, long limit);
/* GET /api/v1/weddings: the wedding context now and each wedding in the calendars. */
void api_weddings_json(struct pbuf *out);
/* GET /api/v1/forecast?hours=N (1-168): 15-minute steps of multiplier, predicted connections, warm
 * target and why. */
void api_forecast_json(struct pbuf *out, long hours);
/* Rewrites Prometheus text 0.0.4 as OpenMetrics 1.0 (counter family names without _total, # EOF). */
void api_openmetrics(const struct pbuf *in, struct pbuf *out);

#endif
