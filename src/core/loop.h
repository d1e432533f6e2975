/* loop.h — the one libevent base, its signal and deferred-work hooks. */
#ifndef WEDPOOL_LOOP_H
#define WEDPOOL_LOOP_H

#include <event2/dns.h>
#include <event2/event.h>
#include <stdbool.h>

bool loop_init(void);
struct event_base *loop_base(void);
/* The asynchronous resolver (libevent's evdns: /etc/resolv.conf and /etc/hosts), created on first
 * use; NULL if it cannot be set up. */
struct evdns_base *loop_dns(void);
/* Looks host:port up without blocking. cb runs later, or at once (an /etc/hosts hit, no resolver);
 * *req holds the request while it is in flight, and cb must set *req to NULL when it runs (except
 * with EVUTIL_EAI_CANCEL, after evdns_getaddrinfo_cancel(*req)). */
void loop_resolve(const char *host, int port, evdns_getaddrinfo_cb cb, void *arg,
                  struct evdns_getaddrinfo_request **req);
/* The address to connect to: the first IPv4 one (the usual listen_addresses), else the first. */
const struct evutil_addrinfo *loop_pick_address(const struct evutil_addrinfo *res);
void loop_run(void);
void loop_stop(void);
void loop_free(void);

#endif
