/* waker.h — how a worker thread wakes the event loop: a byte down a non-blocking pipe whose read
 * end is a libevent event (the loop is built without libevent's thread support). The callback runs
 * on the loop thread; wake-ups that arrive together are coalesced into one call. */
#ifndef WEDPOOL_WAKER_H
#define WEDPOOL_WAKER_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

struct waker {
    int rd, wr;
    struct event *ev;
    void (*fn)(void *arg);
    void *arg;
};

#define WAKER_INIT {-1, -1, NULL, NULL, NULL}

/* Creates the pipe and the event on base; false + err (naming what failed) otherwise. */
bool waker_open(struct waker *w, struct event_base *base, void (*fn)(void *arg), void *arg, char *err,
                size_t errlen) __attribute__((warn_unused_result));
/* From any thread: fn runs on the loop soon. false only if the pipe is broken (errno set). */
bool waker_wake(struct waker *w);
/* Loop thread; safe on a waker never opened or already closed. */
void waker_close(struct waker *w);

#endif
