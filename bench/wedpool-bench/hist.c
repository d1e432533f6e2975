/* hist.c — log-linear histogram (see hist.h). The layout is HdrHistogram's: bucket 0 holds 0..255
 * at unit resolution; bucket b >= 1 holds [128 << b, 256 << b) in 128 steps of 1 << b. */
#include "hist.h"

#include <math.h>
#include <string.h>

void hist_init(struct hist *h)
{
    memset(h, 0, sizeof(*h));
}

unsigned hist_index(uint64_t us)
{
    if (us > HIST_MAX_US)
        us = HIST_MAX_US;
    unsigned magnitude = 64u - (unsigned)__builtin_clzll(us | (2 * HIST_SUB_HALF - 1)); /* >= 8 */
    unsigned bucket = magnitude - HIST_SUB_BITS;
    unsigned sub = (unsigned)(us >> bucket);
    return ((bucket + 1) << (HIST_SUB_BITS - 1)) + sub - HIST_SUB_HALF;
}

uint64_t hist_lowest(unsigned index)
{
    int bucket = (int)(index >> (HIST_SUB_BITS - 1)) - 1;
    unsigned sub = (index & (HIST_SUB_HALF - 1)) + HIST_SUB_HALF;
    if (bucket < 0) {
        sub -= HIST_SUB_HALF;
        bucket = 0;
    }
    return (uint64_t)sub << bucket;
}

uint64_t hist_highest(unsigned index)
{
    int bucket = (int)(index >> (HIST_SUB_BITS - 1)) - 1;
    if (bucket < 0)
        bucket = 0;
    return hist_lowest(index) + (1ull << bucket) - 1;
}

void hist_record(struct hist *h, uint64_t us)
{
    if (h->total == 0 || us < h->min_us)
        h->min_us = us;
    if (us > h->max_us)
        h->max_us = us;
    if (us > HIST_MAX_US)
        h->clamped++;
    h->counts[hist_index(us)]++;
    h->total++;
    h->sum_us += (double)us;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
    if (src->total == 0)
        return;
    if (dst->total == 0 || src->min_us < dst->min_us)
        dst->min_us = src->min_us;
    if (src->max_us > dst->max_us)
        dst->max_us = src->max_us;
    for (unsigned i = 0; i < HIST_LEN; i++)
        dst->counts[i] += src->counts[i];
    dst->total += src->total;
    dst->clamped += src->clamped;
    dst->sum_us += src->sum_us;
}

uint64_t hist_percentile(const struct hist *h, double pct)
{
    if (h->total == 0)
        return 0;
    if (pct < 0)
        pct = 0;
    if (pct > 100)
        pct = 100;
    /* The rank of the percentile (at least 1): the smallest value with pct % of values at or below.
     * The factor absorbs floating-point error such as 99.9 / 100 * 1000 = 999.0000000001. */
    double r = pct / 100.0 * (double)h->total;
    uint64_t rank = (uint64_t)ceil(r * (1.0 - 1e-12));
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_LEN; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t v = hist_highest(i);
            if (v > h->max_us)
                v = h->max_us;
            if (v < h->min_us)
                v = h->min_us;
            return v;
        }
    }
    return h->max_us;
}

double hist_mean(const struct hist *h)
{
    return h->total ? h->sum_us / (double)h->total : 0.0;
}
