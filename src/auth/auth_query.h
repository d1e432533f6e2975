/* auth_query.h — users not in auth_file looked up in PostgreSQL (auth_user, auth_query), without
 * blocking the loop, cached for auth_query_cache_s; concurrent logins of one user share a lookup. */
#ifndef WEDPOOL_AUTH_QUERY_H
#define WEDPOOL_AUTH_QUERY_H

#include <stdbool.h>

#include "config.h"
#include "proto.h"
#include "util.h"

enum aq_status {
    AQ_FOUND,      /* the user and a usable secret (SCRAM or md5) */
    AQ_NOT_FOUND,  /* no such user, or no password usable for a login */
    AQ_FAILED,     /* the lookup itself failed (server unreachable, query error, timeout): error says why */
    AQ_PENDING,    /* the waiter's done() runs when the answer is in */
};

/* A login waiting for a lookup. The answer is written here before done(w) runs. */
struct aq_waiter {
    struct dlist node;           /* self-linked when not waiting */
    void (*done)(struct aq_waiter *w);
    void *arg;
    enum aq_status status;
    struct wp_user user;         /* AQ_FOUND: name, md5 and/or scram (no plain password) */
    char error[320];             /* AQ_FAILED */
};

/* auth_user is set. */
bool auth_query_enabled(void);
/* Looks user up on the server of [databases] entry db. A cached answer is written into w and
 * returned at once; otherwise AQ_PENDING with w queued (call auth_query_cancel if the login ends
 * first). w must have been initialised with auth_query_waiter_init. */
enum aq_status auth_query_lookup(const struct wp_database *db, const char *user, struct aq_waiter *w);
void auth_query_waiter_init(struct aq_waiter *w, void (*done)(struct aq_waiter *w), void *arg);
void auth_query_cancel(struct aq_waiter *w);
/* Ends lookups in flight (their waiters get AQ_FAILED) and forgets the cache. */
void auth_query_shutdown(void);
/* wedpool_auth_query_lookups_total and the cache size, for /metrics. */
void auth_query_prometheus(struct pbuf *out);

#endif
