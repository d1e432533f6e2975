/* stats.c — per-period averages from monotonically growing counters. */
#include "stats.h"

static double per(uint64_t delta, uint64_t count)
{
    return count ? (double)delta / (double)count : 0.0;
}

void stats_average(const struct pool_stats *prev, const struct pool_stats *cur, double seconds,
                   struct pool_stats_avg *out)
{
    if (seconds <= 0)
        seconds = 1;
    uint64_t xacts = cur->xact_count - prev->xact_count;
    uint64_t queries = cur->query_count - prev->query_count;
    out->xact_per_s = (double)xacts / seconds;
    out->query_per_s = (double)queries / seconds;
    out->recv_per_s = (double)(cur->bytes_in - prev->bytes_in) / seconds;
    out->sent_per_s = (double)(cur->bytes_out - prev->bytes_out) / seconds;
    out->xact_us = per(cur->xact_us - prev->xact_us, xacts);
    out->query_us = per(cur->query_us - prev->query_us, queries);
    out->wait_us = per(cur->wait_us - prev->wait_us, cur->wait_count - prev->wait_count);
}
