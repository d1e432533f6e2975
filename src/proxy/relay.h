/* relay.h — the per-message path between a client and its server, both directions. */
#ifndef WEDPOOL_RELAY_H
#define WEDPOOL_RELAY_H

#include "objects.h"

/* Relays the client's messages to its server, acquiring one when a request starts. */
void client_pump(struct client *c);
/* Relays what the server sent to its client; releases the server at the end of a transaction. */
void server_pump(struct server *s);

#endif
