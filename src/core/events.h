/* events.h — the in-process event stream (issue #12 publishes, issue #13 subscribes).
 *
 * Backend down/up, failover started/finished, split brain and circuit open/close are events, each
 * with the clock time, the database, the host and the pools it affects. events_publish() logs one
 * line per event (control characters escaped by log.c) and then calls every subscriber
 * synchronously, on the event loop thread, in subscription order. Subscribers must not block and
 * must not publish from inside their callback. Pure apart from logging: unit-tested. */
#ifndef WEDPOOL_EVENTS_H
#define WEDPOOL_EVENTS_H

#include <stdint.h>
#include <time.h>

enum wp_event_kind {
    EV_BACKEND_DOWN,        /* a host stopped answering health checks (or logins) */
    EV_BACKEND_UP,          /* it answers again */
    EV_FAILOVER_STARTED,    /* a read-write database lost its primary */
    EV_FAILOVER_FINISHED,   /* ... and now points at a new one (detail: old -> new, elapsed ms) */
    EV_SPLIT_BRAIN,         /* two or more hosts of one database claim to be primary */
    EV_SPLIT_BRAIN_RESOLVED,
    EV_CIRCUIT_OPEN,        /* a host's circuit breaker opened: new logins to it fail fast */
    EV_CIRCUIT_CLOSED,
    EV_KIND_COUNT
};

/* Warning level the event is logged at and, for alerting, whether it is bad news. */
enum wp_event_mood { EV_MOOD_BAD, EV_MOOD_GOOD };

struct wp_event {
    enum wp_event_kind kind;
    time_t at;              /* clock_now() (the fake clock in tests) */
    uint64_t mono_us;       /* monotonic time, for measuring durations */
    char database[64];      /* [databases] entry, "" if none */
    char host[256];         /* "host:port" or the unix socket path, "" if none */
    char pools[256];        /* affected pools, "db/user" comma-separated, may be cut with "..." */
    char detail[256];       /* free text: the error, "pg1:5432 -> pg2:5432 in 812 ms", ... */
};

typedef void (*wp_event_fn)(const struct wp_event *ev, void *arg);

/* At most EVENTS_MAX_SUBSCRIBERS; returns 0, or -1 when full. */
#define EVENTS_MAX_SUBSCRIBERS 8
int events_subscribe(wp_event_fn fn, void *arg);
void events_unsubscribe(wp_event_fn fn, void *arg);
/* Fills at and mono_us when they are 0, logs the event, calls the subscribers. */
void events_publish(struct wp_event *ev);
const char *event_kind_name(enum wp_event_kind kind);   /* "backend_down", ... */
enum wp_event_mood event_mood(enum wp_event_kind kind);
/* Events published since start, by kind (for metrics). */
uint64_t events_count(enum wp_event_kind kind);

#endif
