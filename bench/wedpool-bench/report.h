/* report.h — the results of a run (filled in by bench.c as it goes) and their three renderings:
 * the text table on stdout, the JSON document (--json) and the SVG plot (--plot). */
#ifndef WPB_REPORT_H
#define WPB_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "args.h"
#include "hist.h"
#include "metrics_scrape.h"

#define ERR_MAX_CODES 32
#define ERR_MSG_LEN 200

/* Counts by SQLSTATE, with the first message seen for each. */
struct errtab {
    int n;
    struct {
        char code[6];
        uint64_t count;
        char msg[ERR_MSG_LEN];
    } e[ERR_MAX_CODES];
};

void errtab_add(struct errtab *t, const char *code, const char *msg);
uint64_t errtab_total(const struct errtab *t);

/* One second of a lane's workload. */
struct point {
    double t_s;      /* end of the second, from the workload's start */
    uint64_t tx;     /* transactions completed in it */
    uint64_t errors; /* transactions failed in it */
    double p50_ms, p99_ms;
};

struct series {
    size_t n, cap;
    struct point *p;
};

struct lane_result {
    char name[ARGS_LANE_NAME];
    char application_name[ARGS_LANE_NAME + 16];
    unsigned pct;
    unsigned clients;
    /* logins: the first of every client, and the reconnections after a lost connection */
    uint64_t login_attempts, logins_ok, reconnects, disconnects;
    uint64_t logins_initial;  /* clients logged in by the connect phase (logins/s) */
    struct errtab login_errors;
    struct hist login_latency;
    /* transactions */
    uint64_t tx_ok;          /* completed without error (the latency histogram's count) */
    uint64_t tx_in_window;   /* completed (with or without error) before the deadline */
    struct errtab tx_errors;
    uint64_t unfinished;     /* in flight when the run ended */
    struct hist latency;
    /* the current second, folded into `series` each second */
    struct hist interval;
    uint64_t interval_errors;
    struct series series;
};

/* Appends the current second to the series and starts the next one. */
void lane_tick(struct lane_result *l, double t_s);
void lane_free(struct lane_result *l);

struct run_result {
    const struct bench_args *args;
    char target[512];       /* the conninfo without the password */
    char server_version[32];
    char started_at[32];    /* UTC, ISO 8601 */
    uint64_t seed;
    const char *mode;       /* closed | open | idle | connect */
    uint64_t rows;          /* :aid range */
    int nlanes;
    struct lane_result *lanes;
    struct lane_result total;
    /* the connect phase */
    double connect_elapsed_s;
    unsigned connected;     /* clients logged in when it ended */
    int connect_capped;     /* the cap ended it */
    double connect_cap_s;
    double connect_cpu_s;   /* the bench's own CPU time (user + system) in it */
    /* the workload */
    double workload_s;      /* the measured window: start to deadline (or interruption) */
    double drain_s;         /* after the deadline, until in-flight transactions ended */
    uint64_t queued_at_end; /* open loop: scheduled transactions no client had started */
    uint64_t max_queued;
    uint64_t dropped;       /* open loop: arrivals beyond the bench's queue capacity */
    int interrupted;        /* the signal that stopped the run, 0 = none */
    struct acq_result acq;
    int acq_requested;
};

void report_text(FILE *out, const struct run_result *r);
/* Return 0, or -1 with err filled in. */
int report_json(const char *path, const struct run_result *r, char *err, size_t errlen);
int report_svg(const char *path, const struct run_result *r, char *err, size_t errlen);

#endif
