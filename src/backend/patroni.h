/* patroni.h — a second opinion on who the primary is: for databases with patroni_url, Patroni's
 * REST API (GET /cluster) is asked for the leader every health_check_interval_ms, on a worker
 * thread (libcurl; a hung Patroni never delays the loop). The leader settles a split brain the way
 * primary_preference does. patroni_leader() parses the /cluster answer: pure, unit-tested. */
#ifndef WEDPOOL_PATRONI_H
#define WEDPOOL_PATRONI_H

#include <stdbool.h>
#include <stddef.h>

struct backend_db;

/* Asks for bdb's leader if no question is queued for it (loop thread); the worker starts with the
 * first question. The answer goes to backend_db_patroni(). */
void patroni_ask(struct backend_db *bdb);
void patroni_stop(void);
/* "host:port" of the member whose role is "leader" in a /cluster JSON document; false + err. */
bool patroni_leader(const char *json, size_t len, char *out, size_t n, char *err, size_t errlen);

#endif
