/* pgstats.h — PostgreSQL's own view of each backend (pg_stat_activity, pg_stat_database, limits,
 * replication lag), collected off the data path with asynchronous libpq on the loop. */
#ifndef WEDPOOL_PGSTATS_H
#define WEDPOOL_PGSTATS_H

#include <stdbool.h>

#include "proto.h"

void pgstats_start(void);
void pgstats_stop(void);
struct backend_db;
/* The database goes: drop its statistics (and a collection in flight). */
void pgstats_forget(struct backend_db *bdb);
/* Appends the wedpool_pg_* families to a /metrics page. */
void pgstats_prometheus(struct pbuf *out);
/* Appends ,"pg":{...} for the database to a JSON object being written (nothing if never collected). */
void pgstats_json(struct pbuf *out, const char *database);

/* Connections PostgreSQL still has room for (max_connections - superuser_reserved_connections -
 * client backends), from the last collection for the [databases] entry; false if unknown. */
bool pgstats_room(const char *database, long *room);
/* Client backends and connection slots (max_connections - superuser_reserved_connections) from the
 * last collection for the [databases] entry, for the pg_connections_pct alert; false if unknown. */
bool pgstats_usage(const char *database, long *used, long *slots);

#endif
