/* pool.h — pools per (database, server user), the state lists, and handing servers to clients. */
#ifndef WEDPOOL_POOL_H
#define WEDPOOL_POOL_H

#include "objects.h"

enum acquire_result {
    ACQ_LINKED,   /* c->server is set */
    ACQ_WAITING,  /* queued; client_server_assigned() is called when one frees up */
    ACQ_FAILED,   /* the client was sent an error and closed */
};

void objects_init(void);
void objects_shutdown(void);

struct dlist *pool_all(void);
struct dlist *clients_login(void);
struct dlist *clients_admin(void);
int clients_total(void);
int clients_login_count(void);
int clients_admin_count(void);

/* Finds or creates the pool for database db and the given client user. NULL + *err on failure. */
struct pool *pool_get(const struct wp_database *db, const char *client_user, const char **err);
/* Creates the pools whose server user is known without a client (databases with user=), so
 * min_pool_size is warm before the first client arrives. */
void pool_prewarm(void);
/* Applies a reloaded configuration (now in rt.cfg) to existing pools; old is the one it replaced. */
void pool_apply_config(const struct wp_config *old);

struct client *client_new(int fd);
void client_set_state(struct client *c, enum client_state st);
struct server *server_new(struct pool *p);
void server_set_state(struct server *s, enum server_state st);

/* The client needs a server (a query arrived, or it must wait for the login parameters). */
enum acquire_result pool_acquire(struct client *c);
enum unlink_how {
    UNLINK_RELEASE,  /* the server is at an idle boundary: back to the pool (or to its reset) */
    UNLINK_CLOSE,    /* the server owes something or is in a transaction: cancel and close it */
    UNLINK_LOST,     /* the server is being closed by the caller */
};
/* The one way a client and its server part (release, client close, server close, shutdown): every
 * counter the link raised (lane active, reserve, pool totals) comes back here. */
void pool_unlink(struct client *c, enum unlink_how how);
/* A server became usable (login done, reset done, or released clean): give it to a waiter or park it. */
void pool_server_ready(struct server *s);
/* A server login to host be failed with this error: a host-level failure goes to the backend
 * (circuit breaker, routing); any other is remembered for fast failure of the pool. */
void pool_server_failed(struct pool *p, struct backend *be, const char *sqlstate, const char *msg);
/* The health, role or address of bdb's hosts changed (moved: a host whose address changed, or
 * NULL): servers on hosts that no longer suit a pool leave (idle ones now, busy ones when
 * released), waiters are served by the new choice or told at once when there is none. */
void pool_backends_changed(struct backend_db *bdb, struct backend *moved);
/* Lane priorities changed (the wedding context): waiters already queued take their new places. */
void pool_rekey_waiters(void);
/* Serves waiters after RESUME. */
void pool_resume_all(void);
/* Periodic work: timeouts, idle servers, min_pool_size, shutdown progress. */
void pool_janitor(uint64_t now);

int pool_server_total(const struct pool *p);
/* "login", "admin", "idle", "waiting", "waiting_login", "active", "closed": SHOW CLIENTS and the API. */
const char *client_state_name(const struct client *c);
/* The waiting lists of a pool (login waiters, then each lane's), for iteration; returns the count. */
int pool_waiting_lists(struct pool *p, struct dlist **lists);
/* How long the longest-waiting client of the pool has waited. */
uint64_t pool_max_wait_us(struct pool *p, uint64_t now);

#endif
