/* server.h — server connections: connect, log in to PostgreSQL, relay results to the client. */
#ifndef WEDPOOL_SERVER_H
#define WEDPOOL_SERVER_H

#include "objects.h"

/* Whether the server connection runs over TLS (a cleartext password may then be sent to it). */
bool server_is_tls(const struct server *s);
/* Starts a new server connection for the pool to the host be (resolved; asynchronous). */
struct server *server_launch(struct pool *p, struct backend *be);
/* Closes the server, telling its client (if any) with 08006 when the loss hurts it. */
void server_close(struct server *s, const char *reason);
/* Sends the SETs that make the server's session match the client's (on link), one Query each, whose
 * answers wedpool drops; s->sync_left counts them, and the client's messages wait until they are
 * answered. false: out of memory, or more changes than a server can hold (the server must not
 * serve this client). */
bool server_sync_params(struct server *s, struct client *c) __attribute__((warn_unused_result));
/* One of those SETs was answered (ok) or refused; called from the expected-response queue. */
void server_param_set_done(struct server *s, uint16_t idx, bool ok);
/* The first refused SET's SQLSTATE (into state) and message. */
const char *server_sync_error(const struct server *s, char state[6]);
/* Forgets SETs in flight (the server is closing). */
void server_sync_clear(struct server *s);
/* The pool's cached verdict on a startup parameter value: NULL unknown, "" accepted, else
 * "SQLSTATE\tmessage" of the server's refusal. */
const char *server_param_verdict(struct pool *p, const char *name, const char *value);
/* Session mode release: runs the reset query, then the server goes idle. */
void server_reset(struct server *s);
/* An idle server unused for server_check_delay_s (now SV_RESET): sends server_check_query; its
 * answer brings it back through pool_server_ready, a failure or a dead connection closes it. */
void server_check(struct server *s);
/* Queues a simple query of wedpool's own, whose output is dropped; a failure retires the server. */
void server_send_internal_query(struct server *s, const char *sql);
/* The one test of "this server can serve another client as it is": nothing owed either way, no
 * transaction, batch or COPY open, no SET in flight, no partial message. */
bool server_idle_boundary(const struct server *s);

#endif
