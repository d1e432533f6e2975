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

/* Acquisition-wait histogram: Prometheus-style cumulative buckets (upper bounds in seconds). */
#define HIST_BUCKETS 18   /* finite bounds; one more slot counts +Inf */
extern const double hist_bounds_s[HIST_BUCKETS];

struct histogram {
    uint64_t counts[HIST_BUCKETS + 1];  /* per bucket, not cumulative; last = above every bound */
    uint64_t count;
    uint64_t sum_us;
};

void histogram_observe(struct histogram *h, uint64_t us);
void histogram_add(struct histogram *dst, const struct histogram *src);
/* Quantile q in [0,1], in seconds, interpolated inside the bucket; 0 when empty. */
double histogram_quantile(const struct histogram *h, double q);

/* The last minute, one histogram per second, for p50/p95/p99 "over the last minute". */
#define WINDOW_SECONDS 60
struct hist_window {
    struct histogram slot[WINDOW_SECONDS];
    uint64_t slot_sec[WINDOW_SECONDS];
};

void window_observe(struct hist_window *w, uint64_t now_sec, uint64_t us);
/* Sums the slots of the last WINDOW_SECONDS seconds into out. */
void window_sum(const struct hist_window *w, uint64_t now_sec, struct histogram *out);
