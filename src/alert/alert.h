/* alert.h — what the alerting rules (alert.c, rules.c) hand to the delivery side (channels.c,
 * outbox.c) and what comes back (issue #13). Shared by both halves; keep it small.
 *
 * Rules side: evaluates [alert_rules] on the janitor tick and the backend events (events.h),
 * derives the severity from the wedding context, decides which channel hears what and when
 * (min_severity, after_min escalation, renotify_min, ACK), keeps the history.
 * Delivery side: parses [alert_channels], formats each service's exact wire payload, applies the
 * per-channel rate limit (EMERGENCY bypasses it), circuit breaker and retries, and delivers on
 * worker threads through a bounded queue per channel; results come back on the loop. */
#ifndef WEDPOOL_ALERT_H
#define WEDPOOL_ALERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum alert_severity { SEV_INFO, SEV_WARNING, SEV_HIGH, SEV_CRITICAL, SEV_EMERGENCY, SEV_COUNT };

/* A snapshot of one alert at one state change: copied into the outbox, so the rules side may change
 * or free its alert afterwards. All strings NUL-terminated, UTF-8, possibly cut to fit. */
struct alert_notice {
    char key[128];              /* stable identity: "<rule>:<pool or host>", e.g. "pool_utilization:appdb/app" */
    char rule[48];              /* "pool_utilization", "backend_down", ... ("test" for --test-alert) */
    char database[64];          /* "" when not about a database */
    char host[256];             /* "" when not about a host */
    enum alert_severity severity;
    bool resolved;              /* false: firing (or re-notified); true: the condition cleared */
    bool test;                  /* wedpool --test-alert */
    time_t started_at;          /* clock time the alert started firing */
    time_t at;                  /* clock time of this state change */
    char summary[200];          /* "Database pool appdb at 91% capacity" (seeds' wording) */
    char details[1024];         /* the numbers, one "name: value" per line */
    char weddings[512];         /* weddings affected by name, comma-separated; "" if none */
    int active_weddings;
    long guests_affected;
    char actions[512];          /* recommended actions, one per line ("Scale pool size") */
    char runbook[256];          /* URL or docs/runbook.md#anchor */
    unsigned notify_seq;        /* 1 for the first notification of this alert, +1 per re-notify */
};

enum alert_result {
    ALERT_SENT,                 /* the service accepted it (2xx, SMTP 250) */
    ALERT_FAILED,               /* gave up: 4xx other than 429, or retries exhausted */
    ALERT_DROPPED_RATE,         /* the channel's rate_limit_per_h was reached (never for EMERGENCY) */
    ALERT_DROPPED_CIRCUIT,      /* the channel's circuit breaker is open */
    ALERT_DROPPED_QUEUE,        /* the channel's bounded queue is full */
    ALERT_RESULT_COUNT
};

const char *alert_severity_name(enum alert_severity s);       /* "INFO" .. "EMERGENCY" */
int alert_severity_parse(const char *s);                      /* case-insensitive; -1 if unknown */
const char *alert_result_name(enum alert_result r);           /* "sent", "failed", "rate_limited", "circuit_open", "queue_full" */

/* ---- The rules side on the loop (alert.c): rules.h's state machine fed from the pools, PostgreSQL's
 * numbers, the calendars, the channels and the event stream (events.h). */
struct pbuf;
/* Subscribes to the event stream and the channels' results (main.c, after channels_start). */
void alert_start(void);
void alert_stop(void);
/* The janitor's tick (10 a second): evaluates the rules once a second of real time. */
void alert_tick(uint64_t now_us);
/* ACK <key>: stops escalation and renotification. false + msg when there is no such firing alert. */
bool alert_ack_key(const char *key, const char *who, char *msg, size_t n);
/* For SHOW ALERTS / SHOW ALERT_HISTORY: live alerts (pending, firing) and the last
 * ALERT_HISTORY_KEPT state changes and deliveries, oldest first. Rows are written through fn. */
#define ALERT_HISTORY_KEPT 500
typedef void (*alert_row_fn)(void *arg, const char *const *vals);
extern const char *const alert_live_cols[];
extern const int alert_live_ncols;
extern const char *const alert_history_cols[];
extern const int alert_history_ncols;
extern const char *const alert_rule_cols[];
extern const int alert_rule_ncols;
void alert_live_rows(alert_row_fn fn, void *arg);
/* SHOW ALERT_RULES: each rule's running threshold, for_s, off, and its alerts pending and firing. */
void alert_rule_rows(alert_row_fn fn, void *arg);
void alert_history_rows(alert_row_fn fn, void *arg);
/* GET /api/v1/alerts: {"alerts": [...live...], "history": [...]} */
void alert_api_json(struct pbuf *out);
/* wedpool_alerts_firing{severity}, wedpool_alerts_pending */
void alert_prometheus(struct pbuf *out);

#endif
