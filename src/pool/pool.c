/* pool.c — herding clients and servers between state lists, and handing servers to clients. */
#include "pool.h"

#include <stdarg.h>

#include "backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cancel.h"
#include "intern.h"
#include "client.h"
#include "log.h"
#include "loop.h"
#include "passthrough.h"
#include "pin.h"
#include "runtime.h"
#include "scaler.h"
#include "server.h"

static struct dlist all_pools;
static struct dlist login_clients, admin_clients, zombie_clients, zombie_servers;
static int n_login_clients, n_admin_clients, n_clients_total;
static uint32_t next_client_id = 1, next_server_id = 1;
static struct event reaper_ev;
static bool reaper_armed;

static void reaper_cb(evutil_socket_t fd, short what, void *arg);

void objects_init(void)
{
    dlist_init(&all_pools);
    dlist_init(&login_clients);
    dlist_init(&admin_clients);
    dlist_init(&zombie_clients);
    dlist_init(&zombie_servers);
    event_assign(&reaper_ev, loop_base(), -1, 0, reaper_cb, NULL);
}

struct dlist *pool_all(void)
{
    return &all_pools;
}
struct dlist *clients_login(void)
{
    return &login_clients;
}
struct dlist *clients_admin(void)
{
    return &admin_clients;
}
int clients_total(void)
{
    return n_clients_total;
}
int clients_login_count(void)
{
    return n_login_clients;
}
int clients_admin_count(void)
{
    return n_admin_clients;
}

const char *client_state_name(const struct client *c)
{
    switch (c->state) {
    case CL_LOGIN:
        return "login";
    case CL_ADMIN:
        return "admin";
    case CL_IDLE:
        return "idle";
    case CL_WAITING:
        return c->login_wait ? "waiting_login" : "waiting";
    case CL_ACTIVE:
        return "active";
    case CL_CLOSED:
        return "closed";
    }
    return "?";
}

int pool_server_total(const struct pool *p)
{
    return p->n_idle + p->n_active + p->n_login + p->n_reset;
}

static void arm_reaper(void)
{
    if (!reaper_armed) {
        reaper_armed = true;
        event_active(&reaper_ev, 0, 0);
    }
}

/* Frees closed objects once no callback up the stack can still hold them. */
static void reaper_cb(evutil_socket_t fd, short what, void *arg)
{
    struct dlist *pos, *tmp;
    reaper_armed = false;
    dlist_for_each_safe(pos, tmp, &zombie_clients)
    {
        struct client *c = container_of(pos, struct client, node);
        dlist_remove(pos);
        params_free(&c->params);
        ps_client_free(c->ps);
        intern_put(c->user);
        intern_put(c->database);
        free(c);
    }
    dlist_for_each_safe(pos, tmp, &zombie_servers)
    {
        struct server *s = container_of(pos, struct server, node);
        dlist_remove(pos);
        params_free(&s->params);
        params_free(&s->base);
        expq_free(&s->exp);
        ps_server_free(s->ps);
        server_sync_clear(s);
        if (s->be != NULL)
            backend_unref(s->be);
        free(s);
    }
}

struct client *client_new(int fd)
{
    struct client *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->id = next_client_id++;
    if (c->id == 0)
        c->id = next_client_id++;
    c->cancel_key = random_u32();
    c->connect_us = now_us();
    c->user = c->database = "";
    c->state = CL_LOGIN;
    dlist_push_back(&login_clients, &c->node);
    n_login_clients++;
    n_clients_total++;
    cancel_register(c);
    return c;
}

static void client_list_leave(struct client *c)
{
    struct pool *p = c->pool;
    switch (c->state) {
    case CL_LOGIN:
        n_login_clients--;
        break;
    case CL_ADMIN:
        n_admin_clients--;
        break;
    case CL_IDLE:
        p->n_cl_idle--;
        break;
    case CL_WAITING:
        p->n_waiting--;
        if (c->login_wait) {
            p->n_login_wait--;
        } else {
            struct pool_lane *pl = &p->lanes[c->lane];
            pl->n_waiting--;
            pq_remove(&pl->queue, &c->pqn);
        }
        break;
    case CL_ACTIVE:
        p->n_cl_active--;
        break;
    case CL_CLOSED:
        log_fatal("client %u: transition out of CL_CLOSED", c->id);
    }
    dlist_remove(&c->node);
}

/* Service order key: effective priority with aging folded in. A waiter's effective priority is
 * prio + rate * waited; comparing two waiters, "now" cancels out, so the key prio - rate * t_enqueue
 * is fixed at enqueue time and a plain heap keeps serving the right client. */
static int64_t pool_wait_key(const struct client *c)
{
    const struct lane_conf *lc = &rt.cfg.lanes.lanes[c->lane];
    int64_t prio = lanes_priority(lc, rt.wedding_day, rt.active_weddings > 0);
    int64_t since_start_us = (int64_t)(c->wait_start_us - rt.start_us);
    return prio * 1000000 - (int64_t)rt.cfg.lane_aging_per_s * since_start_us;
}

int pool_waiting_lists(struct pool *p, struct dlist **lists)
{
    int n = 0;
    lists[n++] = &p->login_waiters;
    for (int i = 0; i < rt.cfg.lanes.nlanes && i < MAX_LANES; i++)
        lists[n++] = &p->lanes[i].waiting;
    return n;
}

uint64_t pool_max_wait_us(struct pool *p, uint64_t now)
{
    struct dlist *lists[MAX_LANES + 1];
    int n = pool_waiting_lists(p, lists);
    uint64_t oldest = 0;
    for (int i = 0; i < n; i++) {
        if (dlist_empty(lists[i]))
            continue;
        struct client *c = container_of(dlist_first(lists[i]), struct client, node);
        if (elapsed_us(now, c->wait_start_us) > oldest)
            oldest = elapsed_us(now, c->wait_start_us);
    }
    return oldest;
}

void client_set_state(struct client *c, enum client_state st)
{
    struct pool *p = c->pool;
    client_list_leave(c);
    c->state = st;
    switch (st) {
    case CL_LOGIN:
        log_fatal("client %u: transition into CL_LOGIN", c->id);
    case CL_ADMIN:
        dlist_push_back(&admin_clients, &c->node);
        n_admin_clients++;
        break;
    case CL_IDLE:
        dlist_push_back(&p->idle_clients, &c->node);
        p->n_cl_idle++;
        break;
    case CL_WAITING:
        p->n_waiting++;
        if (c->login_wait) {
            dlist_push_back(&p->login_waiters, &c->node);
            p->n_login_wait++;
        } else {
            struct pool_lane *pl = &p->lanes[c->lane];
            dlist_push_back(&pl->waiting, &c->node);
            pl->n_waiting++;
            if (!pq_push(&pl->queue, &c->pqn, pool_wait_key(c)))
                log_fatal("out of memory queueing client %u", c->id);
        }
        break;
    case CL_ACTIVE:
        dlist_push_back(&p->active_clients, &c->node);
        p->n_cl_active++;
        break;
    case CL_CLOSED:
        cancel_unregister(c);
        n_clients_total--;
        dlist_push_back(&zombie_clients, &c->node);
        arm_reaper();
        break;
    }
}

struct server *server_new(struct pool *p)
{
    struct server *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->id = next_server_id++;
    s->pool = p;
    expq_init(&s->exp);
    s->connect_us = now_us();
    s->connect_wall = wall_time();
    s->conn.fd = -1;
    s->state = SV_LOGIN;
    dlist_push_back(&p->login_servers, &s->node);
    p->n_login++;
    return s;
}

void server_set_state(struct server *s, enum server_state st)
{
    struct pool *p = s->pool;
    switch (s->state) {
    case SV_LOGIN:
        p->n_login--;
        break;
    case SV_IDLE:
        p->n_idle--;
        break;
    case SV_ACTIVE:
        p->n_active--;
        break;
    case SV_RESET:
        p->n_reset--;
        break;
    case SV_CLOSED:
        log_fatal("server %u: transition out of SV_CLOSED", s->id);
    }
    dlist_remove(&s->node);
    s->state = st;
    switch (st) {
    case SV_LOGIN:
        log_fatal("server %u: transition into SV_LOGIN", s->id);
    case SV_IDLE:
        /* LIFO: the most recently used server is the warmest; the tail is the oldest idle. */
        dlist_push_front(&p->idle_servers, &s->node);
        p->n_idle++;
        s->idle_since_us = now_us();
        break;
    case SV_ACTIVE:
        dlist_push_back(&p->active_servers, &s->node);
        p->n_active++;
        break;
    case SV_RESET:
        dlist_push_back(&p->reset_servers, &s->node);
        p->n_reset++;
        break;
    case SV_CLOSED:
        dlist_push_back(&zombie_servers, &s->node);
        arm_reaper();
        break;
    }
}

/* Every server of the pool is replaced: idle ones now (no client may get one after the reload),
 * busy ones when released. */
static void retire_servers(struct pool *p)
{
    struct dlist *pos, *tmp;
    dlist_for_each_safe(pos, tmp, &p->idle_servers) server_close(container_of(pos, struct server, node),
                                                                 "configuration changed");
    struct dlist *lists[] = {&p->active_servers, &p->login_servers, &p->reset_servers};
    for (size_t i = 0; i < ARRAY_SIZE(lists); i++)
        dlist_for_each_safe(pos, tmp, lists[i]) container_of(pos, struct server, node)->close_needed = true;
}

static void pool_refresh(struct pool *p, const struct wp_database *db)
{
    const struct wp_config *cfg = &rt.cfg;
    bool target_changed = strcmp(p->db.host, db->host) != 0 || p->db.port != db->port ||
                          strcmp(p->db.dbname, db->dbname) != 0 || p->db.sslmode != db->sslmode ||
                          p->db.target_session_attrs != db->target_session_attrs;
    p->db = *db;
    struct backend_db *bdb = backend_db_get(db);
    if (bdb == NULL)
        log_fatal("pool %s/%s: out of memory", p->name, p->user);
    if (p->bdb != NULL)
        backend_db_put(p->bdb);
    p->bdb = bdb;
    p->mode = config_db_pool_mode(cfg, db);
    p->conf_min_size = config_db_min_pool(cfg, db);
    p->conf_max_size = config_db_max_pool(cfg, db);
    scaler_pool_sizes(p);
    p->db_removed = false;
    const char *pw = db->password;
    if (pw[0] == '\0') {
        const struct wp_user *u = config_find_user(cfg, p->user);
        pw = u != NULL ? u->password : "";
    }
    char old_pw[WP_SECRET_MAX];
    memcpy(old_pw, p->password, sizeof(old_pw));
    strlcpy_ok(p->password, pw, sizeof(p->password));
    bool pt_changed = passthrough_refresh(p, config_find_user(cfg, p->user));
    if (target_changed || strcmp(old_pw, p->password) != 0 || pt_changed)
        retire_servers(p);
}

struct pool *pool_get(const struct wp_database *db, const char *client_user, const char **err)
{
    const char *user = db->user[0] != '\0' ? db->user : client_user;
    struct dlist *pos;
    for (pos = all_pools.next; pos != &all_pools; pos = pos->next) {
        struct pool *p = container_of(pos, struct pool, node);
        if (strcmp(p->name, db->name) == 0 && strcmp(p->user, user) == 0)
            return p;
    }
    struct pool *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        *err = "out of memory";
        return NULL;
    }
    strlcpy_ok(p->name, db->name, sizeof(p->name));
    strlcpy_ok(p->user, user, sizeof(p->user));
    dlist_init(&p->idle_servers);
    dlist_init(&p->active_servers);
    dlist_init(&p->login_servers);
    dlist_init(&p->reset_servers);
    dlist_init(&p->idle_clients);
    dlist_init(&p->login_waiters);
    dlist_init(&p->active_clients);
    for (int i = 0; i < MAX_LANES; i++) {
        dlist_init(&p->lanes[i].waiting);
        pq_init(&p->lanes[i].queue);
    }
    p->on_demand = db->wildcard || db->user[0] == '\0';
    pool_refresh(p, db);
    dlist_push_back(&all_pools, &p->node);
    log_info("pool %s/%s created%s: server %s port %d dbname=%s mode=%s min=%d max=%d", p->name, p->user,
             db->wildcard ? " from the wildcard database" : "", db->host, db->port, db->dbname,
             config_pool_mode_name(p->mode), p->min_size, p->max_size);
    return p;
}

/* Lanes may have been added, removed or reordered: move every client to the lane of the same name
 * (or the default lane) and rebuild the per-lane counts and queues. */
static void pool_remap_lanes(struct pool *p, const struct lanes_conf *old)
{
    const struct lanes_conf *cur = &rt.cfg.lanes;
    int map[MAX_LANES];
    bool identity = old->nlanes == cur->nlanes;
    for (int i = 0; i < old->nlanes; i++) {
        int j = lanes_find(cur, old->lanes[i].name);
        map[i] = j >= 0 ? j : cur->default_lane;
        identity = identity && map[i] == i;
    }
    if (identity)
        return;
    struct pool_lane saved[MAX_LANES];
    memcpy(saved, p->lanes, sizeof(saved));
    /* Take every waiter out, in arrival order per lane. */
    struct dlist parked;
    dlist_init(&parked);
    for (int i = 0; i < old->nlanes; i++) {
        while (!dlist_empty(&p->lanes[i].waiting)) {
            struct client *c = container_of(dlist_first(&p->lanes[i].waiting), struct client, node);
            client_set_state(c, CL_IDLE);
            dlist_remove(&c->node);
            dlist_push_back(&parked, &c->node);
            p->n_cl_idle--;
            c->lane = (uint8_t)map[i];
            c->state = CL_WAITING; /* re-entered below */
        }
    }
    for (int i = 0; i < MAX_LANES; i++) {
        struct pool_lane *pl = &p->lanes[i];
        pl->n_active = pl->n_reserve = 0;
        pl->served = pl->shed = pl->timeouts = pl->reserve_uses = 0;
        memset(&pl->acquire_hist, 0, sizeof(pl->acquire_hist));
    }
    for (int i = 0; i < old->nlanes; i++) {
        struct pool_lane *dst = &p->lanes[map[i]];
        dst->served += saved[i].served;
        dst->shed += saved[i].shed;
        dst->timeouts += saved[i].timeouts;
        dst->reserve_uses += saved[i].reserve_uses;
        histogram_add(&dst->acquire_hist, &saved[i].acquire_hist);
    }
    struct dlist *lists[] = {&p->active_clients, &p->idle_clients};
    for (size_t k = 0; k < ARRAY_SIZE(lists); k++) {
        for (struct dlist *q = lists[k]->next; q != lists[k]; q = q->next) {
            struct client *c = container_of(q, struct client, node);
            c->lane = (uint8_t)(c->lane < old->nlanes ? map[c->lane] : cur->default_lane);
            if (c->state == CL_ACTIVE) {
                p->lanes[c->lane].n_active++;
                if (c->on_reserve)
                    p->lanes[c->lane].n_reserve++;
            }
        }
    }
    while (!dlist_empty(&parked)) {
        struct client *c = container_of(dlist_first(&parked), struct client, node);
        dlist_remove(&c->node);
        c->state = CL_IDLE;
        dlist_push_back(&p->idle_clients, &c->node);
        p->n_cl_idle++;
        client_set_state(c, CL_WAITING);
    }
    log_info("pool %s/%s: lanes changed by reload; clients moved to the lanes of the same name", p->name, p->user);
}

void pool_prewarm(void)
{
    for (size_t i = 0; i < rt.cfg.ndbs; i++) {
        const struct wp_database *db = &rt.cfg.dbs[i];
        const char *err = NULL;
        if (db->user[0] != '\0' && strcmp(db->name, WP_WILDCARD_DB) != 0 && pool_get(db, db->user, &err) == NULL)
            log_warn("pool %s/%s: cannot create: %s", db->name, db->user, err);
    }
}

void pool_apply_config(const struct wp_config *old)
{
    struct dlist *pos;
    for (pos = all_pools.next; pos != &all_pools; pos = pos->next) {
        struct pool *p = container_of(pos, struct pool, node);
        pool_remap_lanes(p, &old->lanes);
        struct wp_database resolved;
        const struct wp_database *db = config_resolve_db(&rt.cfg, p->name, &resolved) ? &resolved : NULL;
        if (db == NULL) {
            if (!p->db_removed)
                log_warn("pool %s/%s: database removed from the config; new clients are refused", p->name,
                         p->user);
            p->db_removed = true;
            continue;
        }
        pool_refresh(p, db);
    }
    pool_resume_all();
}

static void link_pair(struct client *c, struct server *s, bool reserve)
{
    uint64_t now = now_us();
    struct pool *p = c->pool;
    struct pool_lane *pl = &p->lanes[c->lane];
    uint64_t waited = c->state == CL_WAITING ? now - c->wait_start_us : 0;
    c->server = s;
    s->client = c;
    s->link_us = now;
    c->wait_start_us = now;
    s->request_wall = wall_time();
    p->stats.wait_us += waited;
    p->stats.wait_count++;
    histogram_observe(&pl->acquire_hist, waited);
    window_observe(&p->acquire_window, now / 1000000u, waited);
    client_set_state(c, CL_ACTIVE);
    if (s->state != SV_ACTIVE)
        server_set_state(s, SV_ACTIVE);
    pl->n_active++;
    pl->served++;
    if (reserve) {
        c->on_reserve = true;
        pl->n_reserve++;
        pl->reserve_uses++;
        p->n_reserve_active++;
        /* Logged when the reserve starts being used and when it runs out, not per transaction:
         * on a busy day the counters and SHOW LANES carry the rest. */
        if (p->n_reserve_active == 1 || p->n_reserve_active == rt.cfg.reserve_pool_size)
            log_warn("pool %s/%s: reserve connection %d/%d given to client %u (lane %s): the pool is exhausted",
                     p->name, p->user, p->n_reserve_active, rt.cfg.reserve_pool_size, c->id,
                     rt.cfg.lanes.lanes[c->lane].name);
    }
    if (!server_sync_params(s, c))
        s->sync_failed = true; /* out of memory: server_pump refuses the client once the rest is in */
}

/* The backend served a moment ago (within server_connect_timeout_ms) and now fails in a way a
 * restart does (class 08 connection failures, class 57 shutting down / starting up, 53300): clients
 * keep waiting for it to come back rather than fail, so only the transactions in flight during a
 * PostgreSQL restart get an error. A backend that stays down fails them once that time is over;
 * one that was never up (or refuses the login) fails them at once. */
static bool pool_restarting(const struct pool *p, uint64_t now)
{
    const char *st = p->last_fail_state;
    bool transient = strncmp(st, "08", 2) == 0 || strncmp(st, "57", 2) == 0 || strcmp(st, "53300") == 0;
    return transient && p->last_up_us != 0 &&
           elapsed_us(now, p->last_up_us) < (uint64_t)rt.cfg.server_connect_timeout_ms * 1000u;
}

static bool pool_fast_failing(const struct pool *p, uint64_t now)
{
    if (p->last_fail_us == 0 || p->n_idle + p->n_active + p->n_reset > 0 || pool_restarting(p, now))
        return false;
    return elapsed_us(now, p->last_fail_us) < (uint64_t)rt.cfg.server_login_retry_ms * 1000u;
}

static struct lane_occupancy pool_occupancy(const struct pool *p)
{
    return (struct lane_occupancy){p->max_size, rt.cfg.reserve_pool_size, p->n_active, p->n_reserve_active};
}

/* Can a client of this lane take a server now? *reserve says whether it would be a reserve one. */
static bool lane_may_take(const struct pool *p, int lane, bool *reserve)
{
    struct lane_occupancy o = pool_occupancy(p);
    return lanes_may_take(&rt.cfg.lanes.lanes[lane], p->lanes[lane].n_active, &o, reserve);
}

/* The waiter to serve next: the best head over the lanes that may take a server. */
static struct client *pool_pick_waiter(struct pool *p, bool *reserve)
{
    struct client *best = NULL;
    bool best_reserve = false;
    for (int i = 0; i < rt.cfg.lanes.nlanes; i++) {
        struct pool_lane *pl = &p->lanes[i];
        bool r;
        if (pl->n_waiting == 0 || !lane_may_take(p, i, &r))
            continue;
        struct pq_node *n = pq_peek(&pl->queue);
        struct client *c = container_of(n, struct client, pqn);
        if (best == NULL || n->priority > best->pqn.priority ||
            (n->priority == best->pqn.priority && c->wait_start_us < best->wait_start_us)) {
            best = c;
            best_reserve = r;
        }
    }
    *reserve = best_reserve;
    return best;
}

/* Opens server connections while there are waiters with nothing on the way for them. Reserve
 * connections (above max_pool_size) are opened only for reserve lanes, and kept warm while the
 * normal pool is exhausted so a critical client never waits for a connect. */
static void pool_launch_for_demand(struct pool *p, uint64_t now)
{
    if (p->db_removed || rt.shutting_down)
        return;
    if (p->last_fail_us != 0 && elapsed_us(now, p->last_fail_us) < (uint64_t)rt.cfg.server_login_retry_ms * 1000u)
        return;
    int reserve_waiting = 0;
    for (int i = 0; i < rt.cfg.lanes.nlanes; i++)
        if (rt.cfg.lanes.lanes[i].reserve)
            reserve_waiting += p->lanes[i].n_waiting;
    struct lane_occupancy o = pool_occupancy(p);
    int limit;
    int demand = lanes_launch_demand(&o, p->n_waiting, reserve_waiting, p->n_login_wait, p->n_idle, &limit);
    /* servers being reset or checked come back through pool_server_ready: they are on the way too */
    while (pool_server_total(p) < limit && p->n_login + p->n_reset < demand) {
        struct route_result rr;
        struct backend *be = backend_db_route(p->bdb, &rr);
        if (be == NULL || server_launch(p, be) == NULL)
            return;
    }
}

/* The idle server to hand out, or NULL. One unused for server_check_delay_s may have died with
 * PostgreSQL (a restart, a dropped connection) without wedpool seeing it yet: it is checked first
 * (SV_RESET) and comes back through pool_server_ready, or is closed. Idle servers are LIFO, so once
 * the head is stale all are: they are checked together. */
static struct server *pool_take_idle(struct pool *p, uint64_t now)
{
    while (!dlist_empty(&p->idle_servers)) {
        struct server *s = container_of(dlist_first(&p->idle_servers), struct server, node);
        int delay = rt.cfg.server_check_delay_s;
        if (delay < 0 || elapsed_us(now, s->idle_since_us) < (uint64_t)delay * 1000000u)
            return s;
        server_set_state(s, SV_RESET);
        server_check(s);
    }
    return NULL;
}

/* No host suits the pool now (all down, split brain, no standby): the client is told which and why. */
static bool pool_route_fails(struct pool *p, struct client *c)
{
    struct route_result rr;
    backend_db_route(p->bdb, &rr);
    if (rr.verdict != ROUTE_FAIL)
        return false;
    char state[6], msg[900];
    backend_db_route_error(p->bdb, &rr, state, msg, sizeof(msg));
    client_fail(c, state, "%s", msg);
    return true;
}

enum acquire_result pool_acquire(struct client *c)
{
    struct pool *p = c->pool;
    uint64_t now = now_us();
    bool reserve = false;
    struct server *s;
    if (!rt.paused && !c->login_wait && !dlist_empty(&p->idle_servers) && lane_may_take(p, c->lane, &reserve) &&
        (s = pool_take_idle(p, now)) != NULL) {
        link_pair(c, s, reserve);
        return ACQ_LINKED;
    }
    if (pool_route_fails(p, c))
        return ACQ_FAILED;
    if (pool_fast_failing(p, now)) {
        client_fail(c, p->last_fail_state, "wedpool: server login for pool \"%s/%s\" failed: %s", p->name, p->user,
                    p->last_fail_msg);
        return ACQ_FAILED;
    }
    if (!c->login_wait) {
        const struct lane_conf *lc = &rt.cfg.lanes.lanes[c->lane];
        struct pool_lane *pl = &p->lanes[c->lane];
        if (lc->max_waiting >= 0 && pl->n_waiting >= lc->max_waiting) {
            pl->shed++;
            client_fail(c, "53300",
                        "wedpool: lane \"%s\" of pool \"%s/%s\" is full (max_waiting=%d clients already waiting); "
                        "request shed, retry later",
                        lc->name, p->name, p->user, lc->max_waiting);
            return ACQ_FAILED;
        }
    }
    c->wait_start_us = now;
    client_set_state(c, CL_WAITING);
    pool_launch_for_demand(p, now);
    return ACQ_WAITING;
}

/* Clients that waited only for the welcome parameters can finish logging in. */
static void pool_finish_login_waiters(struct pool *p)
{
    struct dlist *pos, *tmp;
    dlist_for_each_safe(pos, tmp, &p->login_waiters)
    {
        struct client *c = container_of(pos, struct client, node);
        client_set_state(c, CL_IDLE);
        c->login_wait = false;
        client_finish_login(c);
    }
}

void pool_server_ready(struct server *s)
{
    struct pool *p = s->pool;
    s->release_pending = false;
    if (s->close_needed || rt.shutting_down) {
        server_close(s, s->close_needed ? "configuration changed" : "shutting down");
        if (s->close_needed && p->n_waiting > 0)
            pool_launch_for_demand(p, now_us());
        return;
    }
    p->last_up_us = now_us();
    if (p->n_login_wait > 0 && p->welcome_ready)
        pool_finish_login_waiters(p);
    bool reserve = false;
    struct client *c = rt.paused ? NULL : pool_pick_waiter(p, &reserve);
    if (c != NULL) {
        link_pair(c, s, reserve);
        client_server_assigned(c);
        return;
    }
    if (s->state != SV_IDLE)
        server_set_state(s, SV_IDLE);
}

void pool_unlink(struct client *c, enum unlink_how how)
{
    struct server *s = c->server;
    struct pool *p = c->pool;
    struct pool_lane *pl = &p->lanes[c->lane];
    uint64_t now = now_us();
    /* Every counter link_pair raised comes back here, whatever ends the pairing. */
    c->server = NULL;
    s->client = NULL;
    s->pin_release = s->pin_rewritten_release = s->pin_parsed = 0;
    pl->n_active--;
    if (c->on_reserve) {
        c->on_reserve = false;
        pl->n_reserve--;
        p->n_reserve_active--;
    }
    p->stats.xact_count++;
    p->stats.xact_us += now - s->link_us;
    s->txn_idle_since_us = 0;
    if (c->state == CL_ACTIVE)
        client_set_state(c, CL_IDLE);
    switch (how) {
    case UNLINK_LOST:
        break; /* the caller is closing the server */
    case UNLINK_CLOSE:
        /* Closing alone would let a running query go on (holding its locks) until it next writes. */
        if (!expq_empty(&s->exp) && s->be_pid != 0)
            cancel_server(s);
        server_close(s, "client left while the server was busy or in a transaction");
        break;
    case UNLINK_RELEASE:
        if (rt.cfg.server_lifetime_s > 0 && now - s->connect_us > (uint64_t)rt.cfg.server_lifetime_s * 1000000u)
            s->close_needed = true;
        /* A client pinned by session state (pin_session.c) leaves it behind: reset as in session
         * mode, or close when the reset cannot undo it (LOAD, unknown) or there is no reset query. */
        if (c->state == CL_CLOSED && c->pin_mask != 0 &&
            (rt.cfg.server_reset_query[0] == '\0' || (c->pin_mask & (PIN_LOAD | PIN_UNKNOWN)) != 0))
            s->close_needed = true;
        if (c->state == CL_CLOSED && (p->mode == POOL_MODE_SESSION || c->pin_mask != 0) &&
            rt.cfg.server_reset_query[0] != '\0' && !s->close_needed) {
            server_set_state(s, SV_RESET);
            server_reset(s);
            return;
        }
        server_set_state(s, SV_IDLE);
        pool_server_ready(s);
        return;
    }
    if (p->n_waiting > 0)
        pool_launch_for_demand(p, now);
}

static void pool_fail_waiters(struct pool *p, const char *sqlstate, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void pool_fail_waiters(struct pool *p, const char *sqlstate, const char *fmt, ...)
{
    char msg[1000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct dlist *lists[MAX_LANES + 1], *pos, *tmp;
    int n = pool_waiting_lists(p, lists);
    for (int i = 0; i < n; i++)
        dlist_for_each_safe(pos, tmp, lists[i]) client_fail(container_of(pos, struct client, node), sqlstate, "%s", msg);
}

void pool_server_failed(struct pool *p, struct backend *be, const char *sqlstate, const char *msg)
{
    p->stats.server_connect_failures++;
    /* The host's fault (cannot connect, shutting down): the backend marks it down and tells every
     * pool on it (pool_backends_changed), which fails the waiters when no host is left. */
    if (be != NULL && backend_failed(be, sqlstate, msg))
        return;
    p->last_fail_us = now_us();
    strlcpy_ok(p->last_fail_state, sqlstate, sizeof(p->last_fail_state));
    strlcpy_ok(p->last_fail_msg, msg, sizeof(p->last_fail_msg));
    if (p->n_idle + p->n_active + p->n_reset + p->n_login > 0 || pool_restarting(p, p->last_fail_us))
        return;
    /* Nothing alive and nothing on the way: fail fast, do not let waiters sit until
     * acquire_timeout_ms. */
    pool_fail_waiters(p, sqlstate, "wedpool: server login for pool \"%s/%s\" failed: %s", p->name, p->user, msg);
}

static void pool_serve_idle(struct pool *p);

static bool server_on_host(const struct server *s, const struct backend *be)
{
    return s->be == be;
}

void pool_backends_changed(struct backend_db *bdb, struct backend *moved)
{
    uint64_t now = now_us();
    struct dlist *pos, *ps, *tmp;
    for (pos = all_pools.next; pos != &all_pools; pos = pos->next) {
        struct pool *p = container_of(pos, struct pool, node);
        if (p->bdb != bdb)
            continue;
        struct dlist *lists[] = {&p->idle_servers, &p->active_servers, &p->login_servers, &p->reset_servers};
        for (size_t i = 0; i < ARRAY_SIZE(lists); i++) {
            dlist_for_each_safe(ps, tmp, lists[i])
            {
                struct server *s = container_of(ps, struct server, node);
                if (!server_on_host(s, moved) && backend_db_acceptable(bdb, s->be))
                    continue;
                if (s->state == SV_IDLE)
                    server_close(s, "its host no longer suits the pool (role, health or address changed)");
                else
                    s->close_needed = true;
            }
        }
        struct route_result rr;
        backend_db_route(bdb, &rr);
        if (rr.verdict == ROUTE_FAIL) {
            char state[6], msg[900];
            backend_db_route_error(bdb, &rr, state, msg, sizeof(msg));
            pool_fail_waiters(p, state, "%s", msg);
            continue;
        }
        pool_serve_idle(p);
        pool_launch_for_demand(p, now);
    }
}

/* Serves waiters from idle servers (after RESUME, a reload, or a lane limit that eased). */
static void pool_serve_idle(struct pool *p)
{
    while (!rt.paused && p->n_waiting > p->n_login_wait && !dlist_empty(&p->idle_servers)) {
        bool reserve;
        struct client *c = pool_pick_waiter(p, &reserve);
        struct server *s = c != NULL ? pool_take_idle(p, now_us()) : NULL;
        if (s == NULL)
            break;
        link_pair(c, s, reserve);
        client_server_assigned(c);
    }
}

void pool_rekey_waiters(void)
{
    struct dlist *pos, *q;
    for (pos = all_pools.next; pos != &all_pools; pos = pos->next) {
        struct pool *p = container_of(pos, struct pool, node);
        for (int i = 0; i < rt.cfg.lanes.nlanes && i < MAX_LANES; i++) {
            struct pool_lane *pl = &p->lanes[i];
            for (q = pl->waiting.next; q != &pl->waiting; q = q->next) {
                struct client *c = container_of(q, struct client, node);
                pq_update(&pl->queue, &c->pqn, pool_wait_key(c));
            }
        }
    }
}

void pool_resume_all(void)
{
    struct dlist *pos;
    if (rt.paused)
        return;
    for (pos = all_pools.next; pos != &all_pools; pos = pos->next) {
        struct pool *p = container_of(pos, struct pool, node);
        pool_serve_idle(p);
        pool_launch_for_demand(p, now_us());
    }
}

/* Waiters past their lane's queue_timeout_ms (or acquire_timeout_ms); each list is in arrival order. */
static void pool_expire_waiters(struct pool *p, uint64_t now)
{
    const struct wp_config *cfg = &rt.cfg;
    for (int i = -1; i < cfg->lanes.nlanes; i++) {
        struct dlist *list = i < 0 ? &p->login_waiters : &p->lanes[i].waiting;
        int timeout_ms = cfg->acquire_timeout_ms;
        const char *lane = i < 0 ? "login" : cfg->lanes.lanes[i].name;
        if (i >= 0 && cfg->lanes.lanes[i].queue_timeout_ms >= 0)
            timeout_ms = cfg->lanes.lanes[i].queue_timeout_ms;
        if (timeout_ms <= 0)
            continue;
        uint64_t limit = (uint64_t)timeout_ms * 1000u;
        while (!dlist_empty(list)) {
            struct client *c = container_of(dlist_first(list), struct client, node);
            uint64_t waited = elapsed_us(now, c->wait_start_us);
            if (waited < limit)
                break;
            p->stats.acquire_timeouts++;
            if (i >= 0)
                p->lanes[i].timeouts++;
            log_warn("pool %s/%s: client %u (lane %s) waited %llu ms for a server connection (active %d, idle %d, "
                     "max %d, waiting %d)",
                     p->name, p->user, c->id, lane, (unsigned long long)(waited / 1000), p->n_active, p->n_idle,
                     p->max_size, p->n_waiting);
            client_fail(c, "53300",
                        "wedpool: no server connection available in pool \"%s/%s\" for lane \"%s\" within %d ms "
                        "(waited %llu ms; %d active, %d max, %d waiting)",
                        p->name, p->user, lane, timeout_ms, (unsigned long long)(waited / 1000), p->n_active,
                        p->max_size, p->n_waiting - 1);
        }
    }
}

/* Frees a pool with no client and no server left. */
static void pool_free(struct pool *p)
{
    dlist_remove(&p->node);
    if (p->bdb != NULL)
        backend_db_put(p->bdb);
    params_free(&p->welcome);
    params_free(&p->verdicts);
    for (int i = 0; i < MAX_LANES; i++)
        pq_free(&p->lanes[i].queue);
    explicit_bzero(p, sizeof(*p)); /* passwords and pass-through keys */
    free(p);
}

/* Logging-in clients already bound to p (between authentication and their first idle state). */
static int pool_client_refs(const struct pool *p)
{
    int n = 0;
    for (struct dlist *q = login_clients.next; q != &login_clients; q = q->next)
        n += container_of(q, struct client, node)->pool == p;
    return n;
}

/* A pool created on demand (wildcard database, or a line without user=: one pool per client user
 * name) that has had no client for autodb_idle_timeout_s goes, servers and all, so that unknown
 * names do not pile up pools forever. Returns true if p was freed. */
static bool pool_drop_if_unused(struct pool *p, uint64_t now)
{
    if (!p->on_demand)
        return false;
    if (p->n_cl_idle + p->n_cl_active + p->n_waiting > 0) {
        p->unused_since_us = 0;
        return false;
    }
    if (p->unused_since_us == 0) {
        p->unused_since_us = now;
        return false;
    }
    if (elapsed_us(now, p->unused_since_us) < (uint64_t)rt.cfg.autodb_idle_timeout_s * 1000000u ||
        p->n_active + p->n_login + p->n_reset > 0 || pool_client_refs(p) > 0)
        return false;
    struct dlist *pos, *tmp;
    dlist_for_each_safe(pos, tmp, &p->idle_servers) server_close(container_of(pos, struct server, node),
                                                                 "pool unused for autodb_idle_timeout_s");
    if (pool_server_total(p) > 0)
        return false;
    log_info("pool %s/%s: unused for autodb_idle_timeout_s=%d; dropped", p->name, p->user,
             rt.cfg.autodb_idle_timeout_s);
    pool_free(p);
    return true;
}

/* No host suits the pool yet (its primary is lost and none promoted, roles not known): waiters
 * get the reason after server_connect_timeout_ms, as they would for a server that does not answer,
 * rather than after acquire_timeout_ms. */
static void pool_expire_unroutable(struct pool *p, uint64_t now)
{
    if (p->n_waiting == 0 || p->n_idle > 0 || p->n_login > 0)
        return;
    struct route_result rr;
    backend_db_route(p->bdb, &rr);
    if (rr.verdict != ROUTE_WAIT)
        return;
    uint64_t limit = (uint64_t)rt.cfg.server_connect_timeout_ms * 1000u;
    char state[6], msg[900];
    backend_db_route_error(p->bdb, &rr, state, msg, sizeof(msg));
    struct dlist *lists[MAX_LANES + 1];
    int n = pool_waiting_lists(p, lists);
    for (int i = 0; i < n; i++) {
        while (!dlist_empty(lists[i])) {
            struct client *c = container_of(dlist_first(lists[i]), struct client, node);
            uint64_t waited = elapsed_us(now, c->wait_start_us);
            if (waited < limit)
                break;
            client_fail(c, state, "%s (waited %llu ms, server_connect_timeout_ms=%d)", msg,
                        (unsigned long long)(waited / 1000u), rt.cfg.server_connect_timeout_ms);
        }
    }
}

static void pool_janitor_one(struct pool *p, uint64_t now)
{
    const struct wp_config *cfg = &rt.cfg;
    struct dlist *pos, *tmp;

    pool_expire_waiters(p, now);
    pool_expire_unroutable(p, now);

    /* Clients that sit idle inside a transaction hold a server others need. */
    if (cfg->idle_transaction_timeout_ms > 0) {
        uint64_t limit = (uint64_t)cfg->idle_transaction_timeout_ms * 1000u;
        dlist_for_each_safe(pos, tmp, &p->active_servers)
        {
            struct server *s = container_of(pos, struct server, node);
            if (s->txn_idle_since_us != 0 && s->client != NULL && elapsed_us(now, s->txn_idle_since_us) > limit) {
                struct client *c = s->client;
                log_warn("pool %s/%s: client %u idle in transaction for %d ms; disconnecting it", p->name, p->user,
                         c->id, cfg->idle_transaction_timeout_ms);
                client_fail(c, "25P03", "wedpool: terminating connection due to idle-in-transaction timeout (%d ms)",
                            cfg->idle_transaction_timeout_ms);
            }
        }
    }

    /* Server logins that take too long. */
    uint64_t connect_limit = (uint64_t)cfg->server_connect_timeout_ms * 1000u;
    dlist_for_each_safe(pos, tmp, &p->login_servers)
    {
        struct server *s = container_of(pos, struct server, node);
        if (elapsed_us(now, s->connect_us) > connect_limit) {
            char msg[600], target[400];
            struct backend *be = s->be;
            snprintf(msg, sizeof(msg), "could not connect to server %s within server_connect_timeout_ms=%d",
                     backend_target_text(be, target, sizeof(target)), cfg->server_connect_timeout_ms);
            log_warn("pool %s/%s: %s", p->name, p->user, msg);
            backend_ref(be);
            server_close(s, "connect timeout");
            pool_server_failed(p, be, "08006", msg);
            backend_unref(be);
        }
    }

    /* A reset or check (server_check_delay_s) unanswered that long: the connection died in a way TCP
     * has not noticed yet (a host gone, a frozen backend). */
    dlist_for_each_safe(pos, tmp, &p->reset_servers)
    {
        struct server *s = container_of(pos, struct server, node);
        if (elapsed_us(now, s->query_start_us) > connect_limit) {
            log_warn("pool %s/%s: server %u did not answer its reset or check within server_connect_timeout_ms=%d; "
                     "closing it", p->name, p->user, s->id, cfg->server_connect_timeout_ms);
            server_close(s, "no answer to its reset or check");
        }
    }

    /* Idle servers: lifetime, and idle_timeout above min_pool_size (oldest idle first = tail). */
    uint64_t idle_limit = (uint64_t)cfg->idle_timeout_ms * 1000u;
    uint64_t life_limit = (uint64_t)cfg->server_lifetime_s * 1000000u;
    for (pos = p->idle_servers.prev; pos != &p->idle_servers; pos = tmp) {
        tmp = pos->prev;
        struct server *s = container_of(pos, struct server, node);
        if (s->close_needed) {
            server_close(s, "configuration changed");
        } else if (cfg->server_lifetime_s > 0 && elapsed_us(now, s->connect_us) > life_limit) {
            server_close(s, "server_lifetime_s reached");
        } else if (cfg->idle_timeout_ms > 0 && pool_server_total(p) > p->min_size &&
                   elapsed_us(now, s->idle_since_us) > idle_limit) {
            server_close(s, "idle_timeout_ms reached");
        }
    }

    if (rt.shutting_down || p->db_removed)
        return;
    /* Keep min_pool_size (and the forecast's warm target) open, at most prewarm_rate_per_s new
     * connections a second: pre-warming must never be a login storm on PostgreSQL. */
    if (p->last_fail_us == 0 || elapsed_us(now, p->last_fail_us) >= (uint64_t)cfg->server_login_retry_ms * 1000u) {
        double rate = cfg->prewarm_rate_per_s;
        p->warm_tokens += (double)elapsed_us(now, p->warm_tokens_us) / 1e6 * rate;
        if (p->warm_tokens > rate)
            p->warm_tokens = rate;
        p->warm_tokens_us = now;
        while (pool_server_total(p) < p->min_size && p->warm_tokens >= 1.0 && passthrough_ready(p)) {
            struct route_result rr;
            struct backend *be = backend_db_route(p->bdb, &rr);
            if (be == NULL)
                break;
            p->warm_tokens -= 1.0;
            if (server_launch(p, be) == NULL)
                break;
        }
    }
    pool_launch_for_demand(p, now);
}

void pool_janitor(uint64_t now)
{
    struct dlist *pos, *tmp;
    if (rt.cfg.client_login_timeout_ms > 0) {
        uint64_t limit = (uint64_t)rt.cfg.client_login_timeout_ms * 1000u;
        dlist_for_each_safe(pos, tmp, &login_clients)
        {
            struct client *c = container_of(pos, struct client, node);
            if (elapsed_us(now, c->connect_us) < limit)
                break;
            log_warn("client %u (%s): login not completed within client_login_timeout_ms=%d", c->id, c->addr,
                     rt.cfg.client_login_timeout_ms);
            client_fail(c, "08P01", "wedpool: client_login_timeout_ms=%d reached before login completed",
                        rt.cfg.client_login_timeout_ms);
        }
    }
    backend_janitor(now);
    struct dlist *tmp2;
    dlist_for_each_safe(pos, tmp2, &all_pools)
    {
        struct pool *p = container_of(pos, struct pool, node);
        if (!pool_drop_if_unused(p, now))
            pool_janitor_one(p, now);
    }
}

void objects_shutdown(void)
{
    struct dlist *pos, *tmp, *p2, *t2;
    dlist_for_each_safe(pos, tmp, &login_clients) client_close(container_of(pos, struct client, node));
    dlist_for_each_safe(pos, tmp, &admin_clients) client_close(container_of(pos, struct client, node));
    dlist_for_each_safe(pos, tmp, &all_pools)
    {
        struct pool *p = container_of(pos, struct pool, node);
        struct dlist *cl[MAX_LANES + 3];
        int n = pool_waiting_lists(p, cl);
        cl[n++] = &p->idle_clients;
        cl[n++] = &p->active_clients;
        for (int i = 0; i < n; i++)
            dlist_for_each_safe(p2, t2, cl[i]) client_close(container_of(p2, struct client, node));
        struct dlist *sl[] = {&p->idle_servers, &p->active_servers, &p->login_servers, &p->reset_servers};
        for (size_t i = 0; i < ARRAY_SIZE(sl); i++)
            dlist_for_each_safe(p2, t2, sl[i]) server_close(container_of(p2, struct server, node), "shutdown");
    }
    reaper_cb(-1, 0, NULL);
    dlist_for_each_safe(pos, tmp, &all_pools) pool_free(container_of(pos, struct pool, node));
}
