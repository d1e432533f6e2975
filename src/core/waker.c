/* waker.c — a worker thread's wake-up of the event loop (see waker.h). */
#include "waker.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    struct waker *w = arg;
    char buf[64];
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
    w->fn(w->arg);
}

bool waker_open(struct waker *w, struct event_base *base, void (*fn)(void *arg), void *arg, char *err,
                size_t errlen)
{
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
        snprintf(err, errlen, "cannot create a wake-up pipe: %s", strerror(errno));
        return false;
    }
    w->fn = fn;
    w->arg = arg;
    w->ev = event_new(base, fds[0], EV_READ | EV_PERSIST, on_readable, w);
    if (w->ev == NULL || event_add(w->ev, NULL) != 0) {
        snprintf(err, errlen, "cannot watch a wake-up pipe");
        if (w->ev != NULL)
            event_free(w->ev);
        w->ev = NULL;
        close(fds[0]);
        close(fds[1]);
        return false;
    }
    w->rd = fds[0];
    w->wr = fds[1];
    return true;
}

bool waker_wake(struct waker *w)
{
    char byte = 1;
    /* a full pipe already holds a wake-up the loop has not read */
    return write(w->wr, &byte, 1) == 1 || errno == EAGAIN;
}

void waker_close(struct waker *w)
{
    if (w->ev != NULL)
        event_free(w->ev);
    w->ev = NULL;
    if (w->rd >= 0)
        close(w->rd);
    if (w->wr >= 0)
        close(w->wr);
    w->rd = w->wr = -1;
}
