/* stats.h — counters bumped where things happen, turned into text only when asked for. */
#ifndef WEDPOOL_STATS_H
#define WEDPOOL_STATS_H

#include <stdint.h>

struct pool_stats {
    uint64_t xact_count;
    uint64_t query_count;
    uint64_t bytes_in;      /* client to server */
    uint64_t bytes_out;     /* server to client */
    uint64_t xact_us;
    uint64_t query_us;
    uint64_t wait_us;
    uint64_t wait_count;
    uint64_t server_connects;
    uint64_t server_connect_failures;
    uint64_t acquire_timeouts;
};

/* Per-second averages over the last stats period. */
struct pool_stats_avg {
    double xact_per_s, query_per_s, recv_per_s, sent_per_s;
    double xact_us, query_us, wait_us;  /* mean per transaction / query / assignment */
};

void stats_average(const struct pool_stats *prev, const struct pool_stats *cur, double seconds,
                   struct pool_stats_avg *out);

#endif
