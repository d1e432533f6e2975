/* metrics_scrape.h — the pooler's acquisition-wait percentiles from its Prometheus /metrics text:
 * the histogram's cumulative buckets are read before and after the run, subtracted, and turned into
 * quantiles by linear interpolation inside the bucket, exactly as PromQL's histogram_quantile does.
 * per lane from db_pool_acquire_seconds{lane=...} (wedpool before 0.1.0 exported the lanes as
 * wedpool_lane_acquire_seconds, still read when there is no lane label); the total is the sum. */
#ifndef WPB_METRICS_SCRAPE_H
#define WPB_METRICS_SCRAPE_H

#include <stddef.h>

#define SCRAPE_MAX_BUCKETS 64
#define SCRAPE_MAX_GROUPS 32
#define SCRAPE_NAME 64

/* One histogram: cumulative counts by upper bound, ascending; the last bound is +Inf. */
struct scrape_hist {
    char lane[SCRAPE_NAME]; /* "" = the series has no lane label */
    int nbuckets;
    double le[SCRAPE_MAX_BUCKETS];
    double cum[SCRAPE_MAX_BUCKETS];
};

struct scrape_set {
    int n;
    struct scrape_hist h[SCRAPE_MAX_GROUPS];
};

/* Reads every `<family>_bucket` series (of `database` when not NULL) into one histogram per lane
 * label value, summing series that differ in other labels (user, ...). Returns the number of
 * bucket lines used. */
int scrape_parse(const char *text, const char *family, const char *database, struct scrape_set *out);
/* after - before, bucket by bucket (a histogram that went backwards, i.e. a restarted pooler, counts
 * from zero). */
void scrape_delta(const struct scrape_set *after, const struct scrape_set *before, struct scrape_set *out);
/* Sum of all histograms of a set. */
void scrape_sum(const struct scrape_set *s, struct scrape_hist *out);
double scrape_count(const struct scrape_hist *h);
/* PromQL histogram_quantile(q, h) in the histogram's unit (seconds); NaN when empty. */
double scrape_quantile(const struct scrape_hist *h, double q);

struct acq_quantiles {
    char lane[SCRAPE_NAME];
    double count;
    double p50_s, p95_s, p99_s; /* NaN when count is 0 */
};

struct acq_result {
    int measured;                 /* 0: see reason */
    char reason[256];
    char lanes_family[SCRAPE_NAME];
    char database[SCRAPE_NAME];   /* "" = every database */
    int nlanes;
    struct acq_quantiles lanes[SCRAPE_MAX_GROUPS];
    struct acq_quantiles total;
};

/* The acquisition-wait quantiles between two scrapes (before may be NULL: counted from zero),
 * restricted to `database` when the pooler reports that database. Returns r->measured. */
int scrape_acquisition(const char *before, const char *after, const char *database, struct acq_result *r);

/* GET url (libcurl); returns the body (free() it) or NULL with err filled in. */
char *scrape_fetch(const char *url, const char *bearer_token, double timeout_s, char *err, size_t errlen);

#endif
