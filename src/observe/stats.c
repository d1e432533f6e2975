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

#include <string.h>

const double hist_bounds_s[HIST_BUCKETS] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                            0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30,    60};

void histogram_observe(struct histogram *h, uint64_t us)
{
    double s = (double)us / 1e6;
    int i = 0;
    while (i < HIST_BUCKETS && s > hist_bounds_s[i])
        i++;
    h->counts[i]++;
    h->count++;
    h->sum_us += us;
}

void histogram_add(struct histogram *dst, const struct histogram *src)
{
    for (int i = 0; i <= HIST_BUCKETS; i++)
        dst->counts[i] += src->counts[i];
    dst->count += src->count;
    dst->sum_us += src->sum_us;
}

double histogram_quantile(const struct histogram *h, double q)
{
    if (h->count == 0)
        return 0.0;
    double rank = q * (double)h->count;
    uint64_t seen = 0;
    for (int i = 0; i <= HIST_BUCKETS; i++) {
        if (h->counts[i] == 0)
            continue;
        if ((double)(seen + h->counts[i]) >= rank) {
            double lo = i == 0 ? 0.0 : hist_bounds_s[i - 1];
            if (i == HIST_BUCKETS)
                return lo; /* above the last bound: report the bound, as Prometheus does */
            double hi = hist_bounds_s[i];
            double frac = ((rank - (double)seen) / (double)h->counts[i]);
            if (frac < 0)
                frac = 0;
            return lo + (hi - lo) * frac;
        }
        seen += h->counts[i];
    }
    return hist_bounds_s[HIST_BUCKETS - 1];
}

void window_observe(struct hist_window *w, uint64_t now_sec, uint64_t us)
{
    size_t i = now_sec % WINDOW_SECONDS;
    if (w->slot_sec[i] != now_sec) {
        memset(&w->slot[i], 0, sizeof(w->slot[i]));
        w->slot_sec[i] = now_sec;
    }
    histogram_observe(&w->slot[i], us);
}

void window_sum(const struct hist_window *w, uint64_t now_sec, struct histogram *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < WINDOW_SECONDS; i++)
        if (w->slot_sec[i] + WINDOW_SECONDS > now_sec && w->slot_sec[i] <= now_sec && w->slot[i].count > 0)
            histogram_add(out, &w->slot[i]);
}
