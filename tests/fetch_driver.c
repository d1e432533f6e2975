/* fetch_driver.c — the calendar worker (fetch.c) alone on a libevent loop, for
 * tests/integration/test_calendar_fetch.py. Usage:
 *   fetch_driver [--zone ZONE] [--horizon-days N] NAME=SPEC...
 * where SPEC is a [calendars] value ("source=URL refresh_s=10"). Prints one JSON line on stdout per
 * update of the merged list ("event":"update") and per change of the sources' status
 * ("event":"status"), each with the weddings and the status. SIGHUP reloads (every source read
 * again), SIGINT/SIGTERM stop the worker and exit 0. WEDPOOL_FAKE_NOW/WEDPOOL_CLOCK_SPEED apply. */
#include <event2/event.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "fetch.h"
#include "log.h"
#include "loop.h"

static struct event_base *base;
static struct calendar_source sources[CALENDARS_MAX];
static int nsources;
static const char *zone = "";
static struct calendar_status last_status[CALENDARS_MAX];
static int last_nstatus = -1;

/* fetch.c's view of the loop: this program's base. */
struct event_base *loop_base(void)
{
    return base;
}

static void print_state(const char *event)
{
    char iso[32];
    json_t *doc = json_pack("{s:s}", "event", event);
    json_t *ws = json_array();
    const struct wedding_list *l = calendars_weddings();
    for (size_t i = 0; i < l->n; i++) {
        const struct wedding *w = &l->items[i];
        json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:i}", "name", w->name, "uid", w->uid, "calendar", w->calendar,
                              "guests", w->guests, "vendors", w->vendors);
        clock_format_iso(w->start, iso, sizeof(iso));
        json_object_set_new(o, "start", json_string(iso));
        clock_format_iso(w->end, iso, sizeof(iso));
        json_object_set_new(o, "end", json_string(iso));
        json_array_append_new(ws, o);
    }
    json_object_set_new(doc, "weddings", ws);
    json_t *ss = json_array();
    struct calendar_status st[CALENDARS_MAX];
    int n = calendars_status(st, CALENDARS_MAX);
    for (int i = 0; i < n; i++)
        json_array_append_new(ss, json_pack("{s:s, s:I, s:I, s:s, s:I, s:I}", "name", st[i].name, "last_success",
                                            (json_int_t)st[i].last_success, "last_attempt",
                                            (json_int_t)st[i].last_attempt, "last_error", st[i].last_error,
                                            "weddings", (json_int_t)st[i].weddings, "failures",
                                            (json_int_t)st[i].failures));
    json_object_set_new(doc, "status", ss);
    char *text = json_dumps(doc, JSON_COMPACT);
    if (text != NULL)
        printf("%s\n", text);
    fflush(stdout);
    free(text);
    json_decref(doc);
}

static void on_updated(void *arg)
{
    print_state("update");
}

/* Status changes without a new list (a 304, a failure) are printed from here. */
static void on_poll(evutil_socket_t fd, short what, void *arg)
{
    struct calendar_status st[CALENDARS_MAX];
    int n = calendars_status(st, CALENDARS_MAX);
    bool same = n == last_nstatus;
    for (int i = 0; same && i < n; i++)
        same = st[i].last_success == last_status[i].last_success && st[i].last_attempt == last_status[i].last_attempt &&
               st[i].failures == last_status[i].failures && st[i].weddings == last_status[i].weddings &&
               strcmp(st[i].last_error, last_status[i].last_error) == 0;
    if (same)
        return;
    memcpy(last_status, st, sizeof(st));
    last_nstatus = n;
    print_state("status");
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    if (sig == SIGHUP) {
        log_info("SIGHUP: reading every calendar again");
        calendars_reload(sources, nsources, zone);
    } else {
        event_base_loopbreak(base);
    }
}

int main(int argc, char **argv)
{
    char err[512];
    int horizon_days = 7;
    log_set_level(getenv("FETCH_DRIVER_DEBUG") ? LOG_DEBUG : LOG_INFO);
    if (!clock_init_from_env(err, sizeof(err))) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--zone") == 0 && i + 1 < argc) {
            zone = argv[++i];
        } else if (strcmp(argv[i], "--horizon-days") == 0 && i + 1 < argc) {
            horizon_days = atoi(argv[++i]);
        } else {
            char name[CALENDAR_NAME_MAX];
            const char *eq = strchr(argv[i], '=');
            if (eq == NULL || (size_t)(eq - argv[i]) >= sizeof(name) || nsources == CALENDARS_MAX) {
                fprintf(stderr, "usage: %s [--zone ZONE] [--horizon-days N] NAME=SPEC...\n", argv[0]);
                return 2;
            }
            snprintf(name, sizeof(name), "%.*s", (int)(eq - argv[i]), argv[i]);
            if (!calendar_source_parse(name, eq + 1, &sources[nsources], err, sizeof(err))) {
                fprintf(stderr, "%s\n", err);
                return 2;
            }
            nsources++;
        }
    }
    base = event_base_new();
    if (base == NULL)
        return 1;
    if (!calendars_start(sources, nsources, zone, horizon_days, on_updated, NULL, err, sizeof(err))) {
        fprintf(stderr, "%s\n", err);
        event_base_free(base);
        return 1;
    }
    struct event *sigs[3];
    const int signums[3] = {SIGHUP, SIGINT, SIGTERM};
    for (int i = 0; i < 3; i++) {
        sigs[i] = evsignal_new(base, signums[i], on_signal, NULL);
        event_add(sigs[i], NULL);
    }
    struct event *poll = event_new(base, -1, EV_PERSIST, on_poll, NULL);
    struct timeval tv = {0, 100000};
    event_add(poll, &tv);
    event_base_dispatch(base);
    calendars_stop();
    event_free(poll);
    for (int i = 0; i < 3; i++)
        event_free(sigs[i]);
    event_base_free(base);
    libevent_global_shutdown();
    return 0;
}
