/* pool.c — herding clients and servers between state lists, and handing servers to clients. */
#include "pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cancel.h"
#include "client.h"
#include "log.h"
#include "loop.h"
#include "runtime.h"
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
        free(c);
    }
    dlist_for_each_safe(pos, tmp, &zombie_servers)
    {
        struct server *s = container_of(pos, struct server, node);
        dlist_remove(pos);
        params_free(&s->params);
        params_free(&s->base);
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
    c->connect_wall = wall_time();
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
        if (c->login_wait)
            p->n_login_wait--;
        break;
    case CL_ACTIVE:
        p->n_cl_active--;
        break;
    case CL_CLOSED:
        log_fatal("client %u: transition out of CL_CLOSED", c->id);
    }
    dlist_remove(&c->node);
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
        dlist_push_back(&p->waiting_clients, &c->node);
        p->n_waiting++;
        if (c->login_wait)
            p->n_login_wait++;
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
    s->txn = 'I';
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

static void pool_refresh(struct pool *p, const struct wp_database *db)
{
    const struct wp_config *cfg = &rt.cfg;
    bool target_changed = strcmp(p->db.host, db->host) != 0 || p->db.port != db->port ||
                          strcmp(p->db.dbname, db->dbname) != 0;
    p->db = *db;
    p->mode = config_db_pool_mode(cfg, db);
    p->min_size = config_db_min_pool(cfg, db);
    p->max_size = config_db_max_pool(cfg, db);
    p->db_removed = false;
    const char *pw = db->password;
    if (pw[0] == '\0') {
        const struct wp_user *u = config_find_user(cfg, p->user);
        pw = u != NULL ? u->password : "";
    }
    char old_pw[WP_SECRET_MAX];
    memcpy(old_pw, p->password, sizeof(old_pw));
    strlcpy_ok(p->password, pw, sizeof(p->password));
    if (target_changed || strcmp(old_pw, p->password) != 0) {
        struct dlist *pos, *tmp;
        struct dlist *lists[] = {&p->idle_servers, &p->active_servers, &p->login_servers, &p->reset_servers};
        for (size_t i = 0; i < ARRAY_SIZE(lists); i++)
            dlist_for_each_safe(pos, tmp, lists[i]) container_of(pos, struct server, node)->close_needed = true;
    }
    if (target_changed)
        server_resolve(p);
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
    dlist_init(&p->waiting_clients);
    dlist_init(&p->active_clients);
    p->db.port = -1; /* forces resolution in pool_refresh */
    pool_refresh(p, db);
    dlist_push_back(&all_pools, &p->node);
    log_info("pool %s/%s created: server %s:%d dbname=%s mode=%s min=%d max=%d", p->name, p->user, db->host,
             db->port, db->dbname, config_pool_mode_name(p->mode), p->min_size, p->max_size);
    return p;
}

void pool_apply_config(void)
{
    struct dlist *pos;
    for (pos = all_pools.next; pos != &all_pools; pos = pos->next) {
        struct pool *p = container_of(pos, struct pool, node);
        const struct wp_database *db = config_find_db(&rt.cfg, p->name);
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

static void link_pair(struct client *c, struct server *s)
{
    uint64_t now = now_us();
    struct pool *p = c->pool;
    c->server = s;
    s->client = c;
    s->link_us = now;
    c->link_us = now;
    c->request_wall = s->request_wall = wall_time();
    uint64_t waited = c->state == CL_WAITING ? now - c->wait_start_us : 0;
    p->stats.wait_us += waited;
    p->stats.wait_count++;
    histogram_observe(&p->acquire_hist, waited);
    window_observe(&p->acquire_window, now / 1000000u, waited);
    client_set_state(c, CL_ACTIVE);
    server_set_state(s, SV_ACTIVE);
    server_sync_params(s, c);
}

static bool pool_fast_failing(const struct pool *p, uint64_t now)
{
    if (p->last_fail_us == 0 || p->n_idle + p->n_active + p->n_reset > 0)
        return false;
    return now - p->last_fail_us < (uint64_t)rt.cfg.server_login_retry_ms * 1000u;
}

/* Opens server connections while there are waiters with nothing on the way for them. */
static void pool_launch_for_demand(struct pool *p, uint64_t now)
{
    if (p->addr_error[0] != '\0' || p->db_removed)
        return;
    if (p->last_fail_us != 0 && now - p->last_fail_us < (uint64_t)rt.cfg.server_login_retry_ms * 1000u)
        return;
    while (pool_server_total(p) < p->max_size && p->n_login < p->n_waiting) {
        if (server_launch(p) == NULL)
            return;
    }
}

enum acquire_result pool_acquire(struct client *c)
{
    struct pool *p = c->pool;
    uint64_t now = now_us();
    if (!rt.paused && !c->login_wait && !dlist_empty(&p->idle_servers)) {
        struct server *s = container_of(dlist_first(&p->idle_servers), struct server, node);
        link_pair(c, s);
        return ACQ_LINKED;
    }
    if (p->addr_error[0] != '\0') {
        client_fail(c, "08006", "wedpool: cannot reach the server of database \"%s\": %s", p->name, p->addr_error);
        return ACQ_FAILED;
    }
    if (pool_fast_failing(p, now)) {
        client_fail(c, p->last_fail_state, "wedpool: server login for pool \"%s/%s\" failed: %s", p->name, p->user,
                    p->last_fail_msg);
        return ACQ_FAILED;
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
    dlist_for_each_safe(pos, tmp, &p->waiting_clients)
    {
        if (p->n_login_wait == 0)
            break;
        struct client *c = container_of(pos, struct client, node);
        if (!c->login_wait)
            continue;
        client_set_state(c, CL_IDLE); /* leaves the waiting list, counted out of n_login_wait */
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
    if (p->n_login_wait > 0 && p->welcome_ready)
        pool_finish_login_waiters(p);
    if (!rt.paused && !dlist_empty(&p->waiting_clients)) {
        struct client *c = container_of(dlist_first(&p->waiting_clients), struct client, node);
        if (s->state == SV_LOGIN || s->state == SV_RESET)
            server_set_state(s, SV_IDLE);
        link_pair(c, s);
        client_server_assigned(c);
        return;
    }
    if (s->state != SV_IDLE)
        server_set_state(s, SV_IDLE);
}

void pool_unlink(struct client *c, bool clean)
{
    struct server *s = c->server;
    struct pool *p = c->pool;
    uint64_t now = now_us();
    c->server = NULL;
    s->client = NULL;
    p->stats.xact_count++;
    p->stats.xact_us += now - s->link_us;
    if (c->state == CL_ACTIVE)
        client_set_state(c, CL_IDLE);
    if (!clean) {
        server_close(s, "client left while the server was busy or in a transaction");
        if (p->n_waiting > 0)
            pool_launch_for_demand(p, now);
        return;
    }
    if (rt.cfg.server_lifetime_s > 0 && now - s->connect_us > (uint64_t)rt.cfg.server_lifetime_s * 1000000u)
        s->close_needed = true;
    if (c->state == CL_CLOSED && p->mode == POOL_MODE_SESSION && rt.cfg.server_reset_query[0] != '\0' &&
        !s->close_needed) {
        server_set_state(s, SV_RESET);
        server_reset(s);
        return;
    }
    server_set_state(s, SV_IDLE);
    pool_server_ready(s);
}

void pool_server_failed(struct pool *p, const char *sqlstate, const char *msg)
{
    p->last_fail_us = now_us();
    strlcpy_ok(p->last_fail_state, sqlstate, sizeof(p->last_fail_state));
    strlcpy_ok(p->last_fail_msg, msg, sizeof(p->last_fail_msg));
    p->stats.server_connect_failures++;
    if (p->n_idle + p->n_active + p->n_reset + p->n_login > 0)
        return;
    /* Nothing alive and nothing on the way: the backend is down. Fail fast, do not let waiters
     * sit until acquire_timeout_ms. */
    struct dlist *pos, *tmp;
    dlist_for_each_safe(pos, tmp, &p->waiting_clients)
    {
        struct client *c = container_of(pos, struct client, node);
        client_fail(c, sqlstate, "wedpool: server login for pool \"%s/%s\" failed: %s", p->name, p->user, msg);
    }
}

void pool_resume_all(void)
{
    struct dlist *pos;
    if (rt.paused)
        return;
    for (pos = all_pools.next; pos != &all_pools; pos = pos->next) {
        struct pool *p = container_of(pos, struct pool, node);
        while (p->n_waiting > 0 && !dlist_empty(&p->idle_servers)) {
            struct server *s = container_of(dlist_first(&p->idle_servers), struct server, node);
            int before = p->n_waiting;
            pool_server_ready(s);
            if (p->n_waiting == before)
                break;
        }
        pool_launch_for_demand(p, now_us());
    }
}

static void pool_janitor_one(struct pool *p, uint64_t now)
{
    const struct wp_config *cfg = &rt.cfg;
    struct dlist *pos, *tmp;

    /* Waiters are FIFO, so the head has waited longest. */
    if (cfg->acquire_timeout_ms > 0) {
        uint64_t limit = (uint64_t)cfg->acquire_timeout_ms * 1000u;
        while (!dlist_empty(&p->waiting_clients)) {
            struct client *c = container_of(dlist_first(&p->waiting_clients), struct client, node);
            if (now - c->wait_start_us < limit)
                break;
            p->stats.acquire_timeouts++;
            log_warn("pool %s/%s: client %u waited %d ms for a server connection (active %d, idle %d, max %d, "
                     "waiting %d)",
                     p->name, p->user, c->id, cfg->acquire_timeout_ms, p->n_active, p->n_idle, p->max_size,
                     p->n_waiting);
            client_fail(c, "53300",
                        "wedpool: no server connection available in pool \"%s/%s\" within acquire_timeout_ms=%d "
                        "(waited %llu ms; %d active, %d max, %d waiting)",
                        p->name, p->user, cfg->acquire_timeout_ms, (unsigned long long)((now - c->wait_start_us) / 1000),
                        p->n_active, p->max_size, p->n_waiting - 1);
        }
    }

    /* Server logins that take too long. */
    uint64_t connect_limit = (uint64_t)cfg->server_connect_timeout_ms * 1000u;
    dlist_for_each_safe(pos, tmp, &p->login_servers)
    {
        struct server *s = container_of(pos, struct server, node);
        if (now - s->connect_us > connect_limit) {
            char msg[400];
            snprintf(msg, sizeof(msg), "could not connect to server %s:%d within server_connect_timeout_ms=%d",
                     p->db.host, p->db.port, cfg->server_connect_timeout_ms);
            log_warn("pool %s/%s: %s", p->name, p->user, msg);
            server_close(s, "connect timeout");
            pool_server_failed(p, "08006", msg);
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
        } else if (cfg->server_lifetime_s > 0 && now - s->connect_us > life_limit) {
            server_close(s, "server_lifetime_s reached");
        } else if (cfg->idle_timeout_ms > 0 && pool_server_total(p) > p->min_size &&
                   now - s->idle_since_us > idle_limit) {
            server_close(s, "idle_timeout_ms reached");
        }
    }

    if (rt.shutting_down || p->db_removed)
        return;
    /* Keep min_pool_size warm, and make sure waiters have logins on the way. */
    if (p->last_fail_us == 0 || now - p->last_fail_us >= (uint64_t)cfg->server_login_retry_ms * 1000u) {
        while (pool_server_total(p) < p->min_size && p->addr_error[0] == '\0')
            if (server_launch(p) == NULL)
                break;
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
            if (now - c->connect_us < limit)
                break;
            log_warn("client %u (%s): login not completed within client_login_timeout_ms=%d", c->id, c->addr,
                     rt.cfg.client_login_timeout_ms);
            client_fail(c, "08P01", "wedpool: client_login_timeout_ms=%d reached before login completed",
                        rt.cfg.client_login_timeout_ms);
        }
    }
    for (pos = all_pools.next; pos != &all_pools; pos = pos->next)
        pool_janitor_one(container_of(pos, struct pool, node), now);
}

void objects_shutdown(void)
{
    struct dlist *pos, *tmp, *p2, *t2;
    dlist_for_each_safe(pos, tmp, &login_clients) client_close(container_of(pos, struct client, node));
    dlist_for_each_safe(pos, tmp, &admin_clients) client_close(container_of(pos, struct client, node));
    dlist_for_each_safe(pos, tmp, &all_pools)
    {
        struct pool *p = container_of(pos, struct pool, node);
        struct dlist *cl[] = {&p->idle_clients, &p->waiting_clients, &p->active_clients};
        for (size_t i = 0; i < ARRAY_SIZE(cl); i++)
            dlist_for_each_safe(p2, t2, cl[i]) client_close(container_of(p2, struct client, node));
        struct dlist *sl[] = {&p->idle_servers, &p->active_servers, &p->login_servers, &p->reset_servers};
        for (size_t i = 0; i < ARRAY_SIZE(sl); i++)
            dlist_for_each_safe(p2, t2, sl[i]) server_close(container_of(p2, struct server, node), "shutdown");
    }
    reaper_cb(-1, 0, NULL);
    dlist_for_each_safe(pos, tmp, &all_pools)
    {
        struct pool *p = container_of(pos, struct pool, node);
        dlist_remove(pos);
        params_free(&p->welcome);
        free(p);
    }
}
