/* health.h — backend health checks: a TCP connect probe to every configured database every few
 * seconds, independent of client traffic, for /readyz and the backend_up metric. */
#ifndef WEDPOOL_HEALTH_H
#define WEDPOOL_HEALTH_H

#include <stdbool.h>

#include "proto.h"

void health_start(void);
void health_stop(void);
/* true if at least one configured backend answered the last probe; why gets the first failure. */
bool health_any_up(char *why, size_t n);
void health_prometheus(struct pbuf *out);

#endif
