/* admin.h — the admin console: the virtual database "wedpool" speaking simple-query protocol. */
#ifndef WEDPOOL_ADMIN_H
#define WEDPOOL_ADMIN_H

#include "objects.h"

/* Sends the welcome of the console (parameters, key, ReadyForQuery) to a freshly authenticated client. */
void admin_welcome(struct client *c);
/* Handles the complete messages in the client's buffer. */
void admin_process(struct client *c);
/* Janitor tick: answers a waiting PAUSE once no server connection is in use (or RESUME came). */
void admin_tick(void);

#endif
