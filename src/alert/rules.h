/* rules.h — the alert rules (issue #13): [alert_rules] parsing, and the per-alert state machine
 * (pending -> firing after for_s -> resolved), the wedding-derived severity, the routing to channels
 * (min_severity, after_min escalation, renotify_min, ACK) and the notice text in the seeds' wording.
 * Pure: no I/O, no clock of its own (callers pass "now"), no allocation; unit-tested with a fake
 * clock in tests/unit/test_rules.c. alert.c feeds it from the pools and the event stream. */
#ifndef WEDPOOL_RULES_H
#define WEDPOOL_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "alert.h"

enum alert_rule_id {
    AR_POOL_UTILIZATION,      /* % of effective_max_pool_size in use, per pool */
    AR_CLIENTS_WAITING,       /* clients queued for a server, per pool */
    AR_ACQUIRE_P99_MS,        /* p99 of the acquisition wait over the last minute, per pool */
    AR_RESERVE_IN_USE,        /* emergency reserve connections held, per pool */
    AR_LANE_SHEDDING,         /* clients refused by a lane's max_waiting in the last minute, per pool */
    AR_BACKEND_DOWN,          /* backend events: down, circuit open, failover, split brain; per host/database */
    AR_PG_CONNECTIONS_PCT,    /* PostgreSQL's client backends, % of max_connections - reserved, per database */
    AR_CALENDAR_STALE,        /* seconds since a calendar's last good fetch, per calendar */
    AR_ALERT_DELIVERY_FAILING,/* a channel failing this long, per channel */
    AR_COUNT
};

struct alert_rule_conf {
    long threshold;           /* the condition is value > threshold (reserve, shedding: value > 0 by default) */
    int for_s;                /* the condition must hold this long before the alert fires */
    bool off;
};

#define ALERT_RUNBOOK_BASE_MAX 256

struct alert_rules_conf {
    struct alert_rule_conf rule[AR_COUNT];
    int renotify_min;         /* re-send a firing, unacknowledged alert this often; 0 = never */
    char runbook_base[ALERT_RUNBOOK_BASE_MAX]; /* prefix of runbook links ("docs/runbook.md") */
    uint32_t lines_seen;      /* keys given in the file (bit per rule, then renotify_min, runbook_base) */
};

void alert_rules_defaults(struct alert_rules_conf *rc);
/* One line of [alert_rules]: "<rule> = [threshold=N] [for_s=N] [off]", "renotify_min = N" or
 * "runbook_base = URL". Unset keys keep their defaults. false + err on bad input. */
bool alert_rules_parse(struct alert_rules_conf *rc, const char *key, const char *value, char *err, size_t errlen);
const char *alert_rule_name(enum alert_rule_id r);
/* "pool_utilization = threshold=85 for_s=30": the effective line of rule r, for SHOW CONFIG and docs. */
void alert_rule_format(const struct alert_rules_conf *rc, enum alert_rule_id r, char *buf, size_t n);

/* ---------------------------------------------------------------- the state machine */

#define ALERT_MAX_CHANNELS 32

/* What the routing needs of a channel ([alert_channels], channels.h). */
struct alert_route {
    enum alert_severity min_severity;
    int after_min;            /* 0: at once; N: only if still firing and unacknowledged N minutes later */
    bool skip;                /* never this channel (an alert about the channel itself) */
};

enum alert_phase { AP_IDLE, AP_PENDING, AP_FIRING };

struct alert {
    char key[128];            /* "<rule>:<subject>" */
    char rule[48];            /* the name shown: a rule name, or for backend events the event's */
    enum alert_rule_id conf_rule; /* whose threshold / for_s / off applies */
    char subject[192];        /* "appdb/app", "pg1:5432", "appdb", a calendar or channel name */
    char database[64];
    char host[256];
    enum alert_phase phase;
    bool condition;           /* event-driven alerts: the condition as the last event left it */
    time_t pending_since;     /* condition true since (clock) */
    time_t started_at;        /* firing since */
    time_t resolved_at;
    enum alert_severity severity;
    bool acked;
    time_t acked_at;
    char acked_by[64];
    unsigned notify_seq;      /* notifications sent for this incident (alert.h notify_seq) */
    uint32_t notified;        /* channels told of this incident (bit per channel): they get the resolve */
    time_t eligible_since[ALERT_MAX_CHANNELS]; /* severity >= the channel's min since (0: not) */
    time_t notified_at[ALERT_MAX_CHANNELS];
    enum alert_severity notified_sev[ALERT_MAX_CHANNELS];
    /* The numbers of the last observation (for the notice). */
    double value;
    double extra;             /* rule-dependent: in use, waiting, max ... */
    double extra2;
    char detail[256];         /* event-driven: the event's detail */
    uint64_t seen_tick;       /* alert.c: last evaluation that observed it */
    struct alert *hnext;      /* alert.c: hash chain */
};

/* What one step decided: the channels to notify now (firing, severity change, escalation,
 * renotify) or to send the resolve to. */
struct alert_step_out {
    int n;
    int ch[ALERT_MAX_CHANNELS];
    bool resolved;            /* the notifications are resolves */
    bool fired;               /* pending -> firing in this step */
    bool severity_changed;
    bool escalated;           /* a channel told for the first time after the alert fired (after_min) */
    bool renotified;          /* a channel told again of the same state (renotify_min) */
};

/* Initialises an idle alert. */
void alert_init(struct alert *a, const char *rule, enum alert_rule_id conf_rule, const char *subject);
/* One evaluation at now: condition true or false, the severity it would have now. */
void alert_step(struct alert *a, bool condition, enum alert_severity sev, time_t now, int for_s, int renotify_min,
                const struct alert_route *routes, int nroutes, struct alert_step_out *out);
/* ACK: stops escalation and renotification until the severity rises. false if it is not firing. */
bool alert_ack(struct alert *a, const char *who, time_t now);

/* ---------------------------------------------------------------- severity and wording */

/* What the wedding context says at the moment of a notification. */
struct alert_wedding {
    int active_weddings;
    long guests_affected;
    int criticality;          /* 1..5 (context.h) */
    char weddings[512];       /* names of the weddings in progress, comma-separated */
};

/* HIGH on an ordinary day, CRITICAL with weddings in progress, EMERGENCY at criticality 5; the
 * housekeeping rules (calendar_stale, alert_delivery_failing) are WARNING. */
enum alert_severity alert_severity_for(enum alert_rule_id r, const struct alert_wedding *w);
/* The notice of a, as of now: summary, details, actions, runbook, weddings. */
void alert_notice_fill(const struct alert *a, const struct alert_rules_conf *rc, const struct alert_wedding *w,
                       bool resolved, time_t now, struct alert_notice *n);

#endif
