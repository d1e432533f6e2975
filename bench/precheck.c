/* bench/precheck.c — the cost of the session-state pre-check (pin.c) on the statements pgbench
 * sends, per statement, in a tight loop. Build and run (from the repository root):
 *   cc -O2 -Isrc/proxy -Isrc/core -o /tmp/precheck bench/precheck.c src/proxy/pin.c src/proxy/params.c \
 *      -ljansson -lpg_query && /tmp/precheck
 * Prints ns per call for each statement, and for the reserved-name check alone (ignore mode). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "pin.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(void)
{
    static const char *const stmts[] = {
        "SELECT abalance FROM pgbench_accounts WHERE aid = 48213;",
        "BEGIN;",
        "UPDATE pgbench_accounts SET abalance = abalance + -3412 WHERE aid = 48213;",
        "UPDATE pgbench_tellers SET tbalance = tbalance + -3412 WHERE tid = 7;",
        "UPDATE pgbench_branches SET bbalance = bbalance + -3412 WHERE bid = 1;",
        "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (7, 1, 48213, -3412, CURRENT_TIMESTAMP);",
        "END;",
    };
    const long n = 5000000;
    volatile bool sink = false;
    for (size_t k = 0; k < sizeof(stmts) / sizeof(stmts[0]); k++) {
        size_t len = strlen(stmts[k]);
        double t0 = now_ns();
        for (long i = 0; i < n; i++)
            sink ^= pin_precheck(stmts[k], len);
        double t1 = now_ns();
        for (long i = 0; i < n; i++)
            sink ^= pin_reserved_precheck(stmts[k], len);
        double t2 = now_ns();
        printf("%6.1f ns  %6.1f ns (reserved only)  %s\n", (t1 - t0) / n, (t2 - t1) / n, stmts[k]);
    }
    /* what a match costs: the parse */
    const char *set = "SET search_path = app, public";
    struct pin_verdict v;
    double t0 = now_ns();
    for (long i = 0; i < 20000; i++)
        pin_classify(set, &v);
    printf("%6.0f ns  pin_classify (libpg_query) of: %s\n", (now_ns() - t0) / 20000, set);
    return sink ? 0 : 0;
}
