/* sched.c — random source, Poisson arrivals and the lane mix (see sched.h). */
#include "sched.h"

#include <math.h>

void rng_seed(struct rng *r, uint64_t seed)
{
    /* splitmix64 of the seed, so that nearby seeds (1, 2, ...) give unrelated streams; never 0. */
    uint64_t z = seed + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    r->s = z ? z : 0x2545f4914f6cdd1dull;
}

uint64_t rng_next(struct rng *r)
{
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545f4914f6cdd1dull;
}

double rng_uniform(struct rng *r)
{
    /* 53 random bits; +1 keeps 0 out so that log() is finite. */
    return ((double)(rng_next(r) >> 11) + 1.0) / 9007199254740992.0;
}

uint64_t rng_between(struct rng *r, uint64_t lo, uint64_t hi)
{
    if (hi <= lo)
        return lo;
    uint64_t span = hi - lo + 1;
    return span == 0 ? rng_next(r) : lo + rng_next(r) % span;
}

double rng_exponential(struct rng *r, double rate)
{
    return -log(rng_uniform(r)) / rate;
}

void arrivals_init(struct arrivals *a, double rate, uint64_t seed)
{
    rng_seed(&a->rng, seed);
    a->rate = rate;
    a->next_us = rng_exponential(&a->rng, rate) * 1e6;
}

uint64_t arrivals_peek(const struct arrivals *a)
{
    return (uint64_t)a->next_us;
}

uint64_t arrivals_next(struct arrivals *a)
{
    uint64_t t = (uint64_t)a->next_us;
    a->next_us += rng_exponential(&a->rng, a->rate) * 1e6;
    return t;
}

void lanes_split(const unsigned *pct, int nlanes, unsigned n, unsigned *counts)
{
    unsigned given = 0;
    for (int j = 0; j < nlanes; j++) {
        counts[j] = (unsigned)((uint64_t)n * pct[j] / 100);
        given += counts[j];
    }
    while (given < n) {
        int best = -1;
        uint64_t best_rem = 0;
        for (int j = 0; j < nlanes; j++) {
            /* remainder of n * pct / 100, less what this lane got beyond its floor already */
            uint64_t exact = (uint64_t)n * pct[j];
            uint64_t have = (uint64_t)counts[j] * 100;
            if (exact <= have)
                continue;
            uint64_t rem = exact - have;
            if (best < 0 || rem > best_rem) {
                best = j;
                best_rem = rem;
            }
        }
        if (best < 0)
            best = 0; /* percentages under 100: the first lane takes the rest */
        counts[best]++;
        given++;
    }
}

void lanes_assign(const unsigned *counts, int nlanes, unsigned n, int *lane_of)
{
    unsigned assigned[64] = {0};
    if (nlanes > 64)
        nlanes = 64;
    for (unsigned i = 0; i < n; i++) {
        int best = -1;
        double best_deficit = 0;
        for (int j = 0; j < nlanes; j++) {
            if (assigned[j] >= counts[j])
                continue;
            double deficit = (double)counts[j] * (i + 1) / n - assigned[j];
            if (best < 0 || deficit > best_deficit) {
                best = j;
                best_deficit = deficit;
            }
        }
        if (best < 0)
            best = 0;
        lane_of[i] = best;
        assigned[best]++;
    }
}
