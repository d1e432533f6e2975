/* cancel.h — CancelRequest: wedpool's own keys mapped to the server a client is using. */
#ifndef WEDPOOL_CANCEL_H
#define WEDPOOL_CANCEL_H

#include <stdint.h>

struct client;
struct server;

void cancel_register(struct client *c);
void cancel_unregister(struct client *c);
/* Handles a CancelRequest with wedpool's key; forwards it to the right server if any. */
void cancel_handle(uint32_t pid, uint32_t key);
/* Sends a CancelRequest for whatever the server is running (asynchronous, fire and forget). */
void cancel_server(const struct server *s);
void cancel_shutdown(void);

#endif
