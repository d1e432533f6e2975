/* janitor.c — periodic maintenance: timeouts, pool sizing, stats periods, shutdown progress. */
#include "janitor.h"

#include "admin.h"
#include "alert.h"
#include "log.h"
#include "loop.h"
#include "pool.h"
#include "runtime.h"
#include "scaler.h"
#include "takeover.h"

#define JANITOR_INTERVAL_US 100000u    /* 10 times a second */
#define STATS_PERIOD_US 15000000u      /* SHOW STATS averages */

static struct event tick;

static void stats_period(uint64_t now)
{
    struct dlist *pos;
    for (pos = pool_all()->next; pos != pool_all(); pos = pos->next) {
        struct pool *p = container_of(pos, struct pool, node);
        if (p->stats_prev_us == 0) {
            p->stats_prev = p->stats;
            p->stats_prev_us = now;
            continue;
        }
        if (now - p->stats_prev_us < STATS_PERIOD_US)
            continue;
        stats_average(&p->stats_prev, &p->stats, (double)(now - p->stats_prev_us) / 1e6, &p->avg);
        p->stats_prev = p->stats;
        p->stats_prev_us = now;
    }
}

static bool shutdown_done(void)
{
    struct dlist *pos;
    for (pos = pool_all()->next; pos != pool_all(); pos = pos->next) {
        struct pool *p = container_of(pos, struct pool, node);
        if (p->n_cl_active + p->n_cl_idle + p->n_waiting > 0)
            return false;
    }
    return true;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    uint64_t now = now_us();
    scaler_tick(now);
    pool_janitor(now);
    stats_period(now);
    alert_tick(now);
    admin_tick();
    if (rt.handed_over && !rt.shutting_down)
        takeover_drain_tick(now);
    if (rt.shutting_down) {
        if (shutdown_done()) {
            log_info("shutdown: all transactions finished");
            runtime_stop_now();
        } else if (now >= rt.shutdown_deadline_us) {
            log_warn("shutdown: shutdown_timeout_ms=%d reached with transactions still running; closing them",
                     rt.cfg.shutdown_timeout_ms);
            runtime_stop_now();
        }
    }
}

void janitor_start(void)
{
    struct timeval tv = {0, JANITOR_INTERVAL_US};
    event_assign(&tick, loop_base(), -1, EV_PERSIST, on_tick, NULL);
    event_add(&tick, &tv);
}

void janitor_stop(void)
{
    event_del(&tick);
}
