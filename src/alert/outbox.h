/* outbox.h — a worker thread with a bounded job queue, for outbound I/O that must never run on the
 * event loop (alert channels, the DogStatsD/OTLP push). One outbox per destination, so a hung
 * endpoint delays only its own queue. Jobs run in order on the worker; the worker may sleep
 * between retries with outbox_wait(), which returns early when the outbox is stopping. A request
 * in flight is abandoned within about a second of outbox_signal_stop(). Results go back to the loop
 * however the job's owner likes (channels.c: a result queue and a waker). */
#ifndef WEDPOOL_OUTBOX_H
#define WEDPOOL_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>

#include "format.h"

struct outbox;

struct outbox_job {
    struct outbox_job *next;
    /* On the worker; owns the job from then on (frees it). ob is NULL when run inline. */
    void (*run)(struct outbox *ob, struct outbox_job *job);
    /* Never run (the outbox stopped first): on the thread calling outbox_free; frees the job. */
    void (*discard)(struct outbox_job *job);
};

/* Starts the worker. NULL + err if the thread cannot be created. */
struct outbox *outbox_start(const char *name, int capacity, char *err, size_t errlen);
/* Any thread. false when the queue is full or the outbox is stopping (the caller keeps job). */
bool outbox_post(struct outbox *ob, struct outbox_job *job) __attribute__((warn_unused_result));
int outbox_pending(struct outbox *ob);          /* queued, not counting the job running */
/* Worker: sleeps ms (or until stopped). false if the outbox is stopping. NULL ob: plain sleep. */
bool outbox_wait(struct outbox *ob, long ms);
bool outbox_stopping(struct outbox *ob);        /* NULL ob: false */
/* Asks the worker to finish; returns at once. */
void outbox_signal_stop(struct outbox *ob);
bool outbox_exited(struct outbox *ob);          /* the worker thread has returned */
/* Stops (if not yet), joins the worker and discards what is still queued. NULL: no-op. */
void outbox_free(struct outbox *ob);

/* One HTTP(S) POST or SMTP(S) submission of rq on the calling thread (a worker), bounded by
 * timeout_ms and abandoned when ob stops. A webhook request (rq->sign_key) gets its signature
 * header with the current time. */
struct outbox_http {
    int curl_code;               /* CURLcode; 0 = a response arrived */
    long status;                 /* HTTP status or the last SMTP reply code; 0 if none */
    long retry_after_s;          /* Retry-After, -1 if absent */
    double ms;                   /* how long it took */
    char error[256];             /* libcurl's message when curl_code != 0 */
    char body[256];              /* the start of the response body, control characters replaced */
};
void outbox_http(struct outbox *ob, const struct wire_request *rq, long timeout_ms, struct outbox_http *out);

#endif
