/* sched.h — the seeded random source, the Poisson arrival schedule of the open loop and the lane
 * mix: how many clients each lane gets (largest remainder, so 5/80/15 % of 100 is exactly 5/80/15)
 * and which client is in which lane (interleaved, so every lane logs in throughout the connect
 * phase). Pure functions: no I/O, no clock. */
#ifndef WPB_SCHED_H
#define WPB_SCHED_H

#include <stdint.h>

struct rng {
    uint64_t s;
};

void rng_seed(struct rng *r, uint64_t seed);
uint64_t rng_next(struct rng *r);          /* xorshift64* */
double rng_uniform(struct rng *r);         /* in (0, 1] */
uint64_t rng_between(struct rng *r, uint64_t lo, uint64_t hi); /* uniform in [lo, hi] */
double rng_exponential(struct rng *r, double rate);           /* mean 1 / rate */

/* Open-loop arrivals at `rate` per second: times in µs from the schedule's start. */
struct arrivals {
    struct rng rng;
    double rate;      /* per second */
    double next_us;   /* the next arrival, µs since start */
};

void arrivals_init(struct arrivals *a, double rate, uint64_t seed);
/* The time of the next arrival (µs since start), advancing the schedule. */
uint64_t arrivals_next(struct arrivals *a);
/* The next arrival's time without taking it. */
uint64_t arrivals_peek(const struct arrivals *a);

/* Splits n clients over nlanes lanes by percentage (pct must add up to 100) with the largest
 * remainder method: every lane gets floor(n * pct / 100), the rest go one each to the lanes with
 * the largest remainders (the earlier lane on a tie). */
void lanes_split(const unsigned *pct, int nlanes, unsigned n, unsigned *counts);
/* Fills lane_of[0..n-1] with each client's lane so lane j has exactly counts[j] clients, spread
 * evenly over the sequence (client i goes to the lane furthest behind its share so far). */
void lanes_assign(const unsigned *counts, int nlanes, unsigned n, int *lane_of);

#endif
