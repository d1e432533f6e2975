/* pqstep.h — one step of an asynchronous libpq exchange driven by the event loop, shared by the
 * health checker, the statistics collector and auth_query: connect with PQconnectPoll, then send a
 * query and flush and read until a result can be taken without blocking. */
#ifndef WEDPOOL_PQSTEP_H
#define WEDPOOL_PQSTEP_H

#include <event2/event.h>
#include <libpq-fe.h>

enum pq_step {
    PQ_STEP_DONE,   /* connected (pq_connect_step) / a result is ready (pq_query_step) */
    PQ_STEP_WAIT,   /* wait for *what (EV_READ and/or EV_WRITE) on PQsocket, then step again */
    PQ_STEP_FAILED, /* PQerrorMessage says why */
};

static inline enum pq_step pq_connect_step(PGconn *conn, short *what)
{
    switch (PQconnectPoll(conn)) {
    case PGRES_POLLING_READING:
        *what = EV_READ;
        return PQ_STEP_WAIT;
    case PGRES_POLLING_WRITING:
        *what = EV_WRITE;
        return PQ_STEP_WAIT;
    case PGRES_POLLING_OK:
        return PQ_STEP_DONE;
    default:
        return PQ_STEP_FAILED;
    }
}

static inline enum pq_step pq_query_step(PGconn *conn, short *what)
{
    int flush = PQflush(conn);
    if (flush < 0 || !PQconsumeInput(conn))
        return PQ_STEP_FAILED;
    if (flush == 1) {
        *what = EV_READ | EV_WRITE;
        return PQ_STEP_WAIT;
    }
    if (PQisBusy(conn)) {
        *what = EV_READ;
        return PQ_STEP_WAIT;
    }
    return PQ_STEP_DONE;
}

#endif
