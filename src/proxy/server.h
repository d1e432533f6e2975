/* server.h — server connections: connect, log in to PostgreSQL, relay results to the client. */
#ifndef WEDPOOL_SERVER_H
#define WEDPOOL_SERVER_H

#include "objects.h"

/* Sets p->addr from the database's host: at once for a unix socket or an address literal, else
 * asynchronously (pool_address_changed() is called when it is known; p->dns_req meanwhile). */
void server_resolve(struct pool *p);
/* "host:port", or "name (address):port" for a host name, for messages. */
const char *server_target_text(const struct pool *p, char *buf, size_t n);
/* Drops a resolution in flight (the pool is being freed). */
void server_resolve_cancel(struct pool *p);
/* Starts a new server connection for the pool (asynchronous). */
struct server *server_launch(struct pool *p);
/* Closes the server, telling its client (if any) with 08006 when the loss hurts it. */
void server_close(struct server *s, const char *reason);
/* Relays what the server sent to its client; releases the server at the end of a transaction. */
void server_pump(struct server *s);
/* Sends the SET statements that make the server's session match the client's (on link). */
void server_sync_params(struct server *s, struct client *c);
/* Session mode release: runs the reset query, then the server goes idle. */
void server_reset(struct server *s);
/* Queues a simple query whose output wedpool swallows. */
void server_send_internal_query(struct server *s, const char *sql);
/* True if the server can go back to the pool as it is. */
bool server_is_clean(const struct server *s);

#endif
