/* hist.h — HDR-style log-linear latency histogram: microsecond values from 0 to HIST_MAX_US (60 s)
 * with at least two significant digits (relative error under 1 %), in fixed memory (20 KiB). */
#ifndef WPB_HIST_H
#define WPB_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 8                          /* 256 sub-buckets: 1/128 resolution per power of 2 */
#define HIST_SUB_HALF (1u << (HIST_SUB_BITS - 1)) /* 128 */
#define HIST_MAX_US 60000000ull                  /* larger values are recorded as 60 s (and counted) */
#define HIST_BUCKETS 19                          /* 256 << 18 > 60e6 */
#define HIST_LEN ((HIST_BUCKETS + 1) * HIST_SUB_HALF)

struct hist {
    uint64_t counts[HIST_LEN];
    uint64_t total;
    uint64_t min_us, max_us;  /* exact, unclamped */
    uint64_t clamped;         /* values above HIST_MAX_US */
    double sum_us;
};

void hist_init(struct hist *h);
void hist_record(struct hist *h, uint64_t us);
void hist_merge(struct hist *dst, const struct hist *src);
/* The value at percentile pct (0..100) in µs: the highest value equivalent to the bucket that holds
 * that rank, never above the largest value recorded; 0 when empty. */
uint64_t hist_percentile(const struct hist *h, double pct);
double hist_mean(const struct hist *h);

/* Bucket index of a value and the range of values it stands for (exposed for the tests). */
unsigned hist_index(uint64_t us);
uint64_t hist_lowest(unsigned index);
uint64_t hist_highest(unsigned index);

#endif
