/* loop.c — the one libevent base every module registers its events with. */
#include "loop.h"

#include <event2/dns.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "runtime.h"

static struct event_base *base;
static struct evdns_base *dns;

bool loop_init(void)
{
    struct event_config *cfg = event_config_new();
    if (cfg == NULL)
        return false;
    /* Monotonic timers; we never use libevent's locking. */
    event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
    base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    return base != NULL;
}

struct event_base *loop_base(void)
{
    return base;
}

struct evdns_base *loop_dns(void)
{
    if (dns != NULL || base == NULL)
        return dns;
    const char *ns = rt.cfg.dns_nameserver;
    if (ns[0] == '\0') {
        dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
        if (dns == NULL)
            log_error("could not set up the DNS resolver from /etc/resolv.conf");
        return dns;
    }
    /* One given server, and /etc/hosts first as the system resolver would. */
    dns = evdns_base_new(base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    if (dns != NULL && evdns_base_nameserver_ip_add(dns, ns) != 0) {
        log_error("dns_nameserver \"%s\": not an ip[:port]", ns);
        evdns_base_free(dns, 0);
        dns = NULL;
    }
    if (dns != NULL)
        evdns_base_load_hosts(dns, NULL);
    return dns;
}

void loop_resolve(const char *host, int port, evdns_getaddrinfo_cb cb, void *arg,
                  struct evdns_getaddrinfo_request **req)
{
    struct evdns_base *d = loop_dns();
    if (d == NULL) {
        *req = NULL;
        cb(EVUTIL_EAI_FAIL, NULL, arg);
        return;
    }
    struct evutil_addrinfo hints = {0};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = EVUTIL_AI_NUMERICSERV | EVUTIL_AI_ADDRCONFIG;
    char service[16];
    snprintf(service, sizeof(service), "%d", port);
    /* A stand-in until the call returns: if cb runs inside it, cb clears *req and it stays NULL. */
    static char in_call;
    *req = (struct evdns_getaddrinfo_request *)&in_call;
    struct evdns_getaddrinfo_request *r = evdns_getaddrinfo(d, host, service, &hints, cb, arg);
    if (*req != NULL)
        *req = r;
}

const struct evutil_addrinfo *loop_pick_address(const struct evutil_addrinfo *res)
{
    for (const struct evutil_addrinfo *a = res; a != NULL; a = a->ai_next)
        if (a->ai_family == AF_INET)
            return a;
    return res;
}

void loop_run(void)
{
    event_base_dispatch(base);
}

void loop_stop(void)
{
    event_base_loopbreak(base);
}

void loop_free(void)
{
    if (dns != NULL)
        evdns_base_free(dns, 0);
    dns = NULL;
    if (base != NULL)
        event_base_free(base);
    base = NULL;
}
