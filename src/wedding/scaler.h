/* scaler.h — the calendar drives the pool. Once a second: the wedding context (which boosts lanes and
 * re-keys waiters when it changes), each pool's warm target from the forecast, reactive growth above
 * scale_up_utilization_pct and slow shrinking, wedding protection (no capacity cut while a wedding is
 * on, unless overridden), manual SCALE, and the infrastructure hook ahead of windows the ceiling
 * cannot carry. Every decision is logged with its reason, counted and kept for SHOW SCALING. */
#ifndef WEDPOOL_SCALER_H
#define WEDPOOL_SCALER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "context.h"

struct pool;

#define SCALING_EVENTS_KEPT 200

struct scaling_event {
    time_t at;                 /* clock time */
    char pool[130];            /* "database/user", or "-" */
    char direction[12];        /* prewarm | grow | shrink | refused | hook | override | manual */
    char reason[24];           /* forecast | utilization | low_use | protection | window | operator ... */
    int from, to;
    char why[320];
};

/* Starts the calendars (rt.cfg). false + err if the worker cannot start. */
bool scaler_start(char *err, size_t errlen);
void scaler_stop(void);
/* After a reload: calendars and sizes follow rt.cfg. */
void scaler_config_changed(void);
/* Recomputes a pool's effective sizes from its configured ones, its warm target, growth and SCALE. */
void scaler_pool_sizes(struct pool *p);
/* The janitor's tick (10 a second; the scaler works once a second of real time). */
void scaler_tick(uint64_t now_us);

const struct wedding_context *scaler_context(void);
/* Is capacity protected now? why: the weddings in progress, or the override. */
bool scaler_protected(char *why, size_t n);
/* An override of protection in force: until when (clock) and why. */
bool scaler_override_active(time_t *until, const char **reason);

/* RELOAD/SIGHUP: would fresh cut capacity (lower sizes or reserve, remove a database or lane) while
 * protected? Then false with the refusal in err (naming the weddings and the override). */
bool scaler_reload_allowed(const struct wp_config *running, const struct wp_config *fresh, char *err, size_t errlen);
/* PROTECTION OVERRIDE <minutes> '<reason>' */
bool scaler_override(int minutes, const char *reason, const char *who, char *msg, size_t n);
/* SCALE <database>[.<user>] <n> [FOR <minutes>]: sets the pool(s)' size until then (0 minutes: 60). */
bool scaler_manual(const char *database, const char *user, int size, int minutes, const char *who, char *msg,
                   size_t n);

/* Decisions, oldest first; returns the count. */
int scaler_events(const struct scaling_event **out, int max);
/* Prometheus text of the scaler's families (context, pools' effective sizes, events, hook). */
struct pbuf;
void scaler_prometheus(struct pbuf *out);
/* The warm target the scaler would set for the pool at t (0 in an ordinary hour; capped at the
 * pool's ceiling), for SHOW FORECAST and /api/v1/forecast. */
int scaler_warm_target_at(const struct pool *p, const struct wedding_list *w, time_t t);
/* The context settings from the running config (zone, ceremony hours). */
void scaler_context_conf(struct context_conf *cc);
/* The forecast at t summed over the pools: *predicted connections and *warm targets (either may
 * be NULL); st gets the step. For SHOW FORECAST and /api/v1/forecast. */
struct forecast_step;
void scaler_forecast_total(const struct wedding_list *w, time_t t, struct forecast_step *st, int *predicted,
                           int *warm);
/* The base load of a pool for the forecast. */
int scaler_base(const struct pool *p);

#endif
