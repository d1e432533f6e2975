/* health.h — the health checker: off the data path, one asynchronous libpq connection per backend
 * host (backend.h), logged in with the pool's credentials (or health_check_user), asking
 * pg_is_in_recovery() and the replay lag every health_check_interval_ms, with a timeout. */
#ifndef WEDPOOL_HEALTH_H
#define WEDPOOL_HEALTH_H

struct backend;
struct backend_db;

void health_start(void);
void health_stop(void);
/* Check every host of bdb at once (a connection failed: a failover may be under way). */
void health_kick(struct backend_db *bdb);
/* Close be's check connection (its address changed); the next check reconnects. */
void health_reset(struct backend *be);
/* be goes away: drop its check. */
void health_forget(struct backend *be);

#endif
