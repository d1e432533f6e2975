/* loop.h — the one libevent base, its signal and deferred-work hooks. */
#ifndef WEDPOOL_LOOP_H
#define WEDPOOL_LOOP_H

#include <event2/event.h>
#include <stdbool.h>

bool loop_init(void);
struct event_base *loop_base(void);
/* The asynchronous resolver (libevent's evdns: /etc/resolv.conf and /etc/hosts), created on first
 * use; NULL if it cannot be set up. */
struct evdns_base *loop_dns(void);
void loop_run(void);
void loop_stop(void);
void loop_free(void);

#endif
