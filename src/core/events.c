/* events.c — the in-process event stream; see events.h. */
#include "events.h"

#include <stdbool.h>
#include <stddef.h>

#include "clock.h"
#include "log.h"
#include "util.h"

static struct {
    wp_event_fn fn;
    void *arg;
} subs[EVENTS_MAX_SUBSCRIBERS];
static int n_subs;
static uint64_t counts[EV_KIND_COUNT];
static bool publishing;

static const char *const kind_names[EV_KIND_COUNT] = {
    [EV_BACKEND_DOWN] = "backend_down",
    [EV_BACKEND_UP] = "backend_up",
    [EV_FAILOVER_STARTED] = "failover_started",
    [EV_FAILOVER_FINISHED] = "failover_finished",
    [EV_SPLIT_BRAIN] = "split_brain",
    [EV_SPLIT_BRAIN_RESOLVED] = "split_brain_resolved",
    [EV_CIRCUIT_OPEN] = "circuit_open",
    [EV_CIRCUIT_CLOSED] = "circuit_closed",
};

const char *event_kind_name(enum wp_event_kind kind)
{
    return (unsigned)kind < EV_KIND_COUNT ? kind_names[kind] : "unknown";
}

enum wp_event_mood event_mood(enum wp_event_kind kind)
{
    switch (kind) {
    case EV_BACKEND_UP:
    case EV_FAILOVER_FINISHED:
    case EV_SPLIT_BRAIN_RESOLVED:
    case EV_CIRCUIT_CLOSED:
        return EV_MOOD_GOOD;
    default:
        return EV_MOOD_BAD;
    }
}

int events_subscribe(wp_event_fn fn, void *arg)
{
    if (n_subs == EVENTS_MAX_SUBSCRIBERS)
        return -1;
    subs[n_subs].fn = fn;
    subs[n_subs].arg = arg;
    n_subs++;
    return 0;
}

void events_unsubscribe(wp_event_fn fn, void *arg)
{
    for (int i = 0; i < n_subs; i++) {
        if (subs[i].fn == fn && subs[i].arg == arg) {
            for (int j = i + 1; j < n_subs; j++)
                subs[j - 1] = subs[j];
            n_subs--;
            return;
        }
    }
}

uint64_t events_count(enum wp_event_kind kind)
{
    return (unsigned)kind < EV_KIND_COUNT ? counts[kind] : 0;
}

void events_publish(struct wp_event *ev)
{
    if ((unsigned)ev->kind >= EV_KIND_COUNT)
        log_fatal("events_publish: unknown kind %d", (int)ev->kind);
    if (publishing)
        log_fatal("events_publish: %s published from inside a subscriber", event_kind_name(ev->kind));
    if (ev->at == 0)
        ev->at = clock_now();
    if (ev->mono_us == 0)
        ev->mono_us = now_us();
    counts[ev->kind]++;
    log_msg(event_mood(ev->kind) == EV_MOOD_BAD ? LOG_WARNING : LOG_INFO,
            "event %s: database=%s host=%s pools=%s%s%s", event_kind_name(ev->kind),
            ev->database[0] ? ev->database : "-", ev->host[0] ? ev->host : "-",
            ev->pools[0] ? ev->pools : "-", ev->detail[0] ? ": " : "", ev->detail);
    publishing = true;
    for (int i = 0; i < n_subs; i++)
        subs[i].fn(ev, subs[i].arg);
    publishing = false;
}
