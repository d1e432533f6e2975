/* args.h — wedpool-bench's command line, parsed into a struct. Nothing here prints or exits: an
 * error comes back as a message naming the option, for main() to print (exit status 2). */
#ifndef WPB_ARGS_H
#define WPB_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARGS_MAX_LANES 16
#define ARGS_LANE_NAME 32
#define ARGS_MAX_CLIENTS 10000u
#define ARGS_DEFAULT_SQL "SELECT abalance FROM wpbench_accounts WHERE aid = :aid"

enum args_action { ARGS_RUN, ARGS_HELP, ARGS_VERSION };

/* How the clients log in: libpq, or the bench's own protocol code (rawlogin.h), which only logs in. */
enum login_mode { LOGIN_LIBPQ, LOGIN_RAW };

struct lane_spec {
    char name[ARGS_LANE_NAME];
    unsigned pct;
};

struct bench_args {
    enum args_action action;
    const char *dsn;             /* libpq conninfo ("" = libpq's defaults and PG* variables) */
    unsigned clients;
    double connect_rate;         /* logins started per second; 0 = unlimited */
    unsigned connect_concurrency;
    double connect_timeout_s;    /* the connect phase's cap; 0 = 60 s + clients / connect rate */
    double duration_s;
    double rate;                 /* open loop tx/s; 0 = closed loop */
    double think_ms;
    const char *sql;             /* the statement of a transaction (--sql or the default) */
    bool sql_given;
    const char *script_path;
    char **script;               /* --script statements, owned */
    size_t nscript;
    unsigned tx_statements;      /* K: 1..K statements per transaction */
    bool extended;               /* extended query protocol (PQsendQueryParams) instead of simple */
    bool init;
    uint64_t rows;
    bool rows_given;
    struct lane_spec lanes[ARGS_MAX_LANES];
    int nlanes;
    bool idle;
    enum login_mode login;       /* --login, else raw for --idle and -T 0, libpq otherwise */
    bool login_given;
    const char *metrics_url;
    const char *json_path;
    const char *plot_path;
    int progress;                /* -1 = on if stderr is a tty, 0 off, 1 on */
    bool quiet;
    uint64_t seed;
    bool seed_given;
};

/* Defaults, then argv. Returns 0 on success, -1 with err filled in (one line, no newline). */
int args_parse(int argc, char **argv, struct bench_args *a, char *err, size_t errlen);
void args_free(struct bench_args *a);
const char *args_usage(void);
const char *args_login_name(enum login_mode m); /* "raw" or "libpq" */

#endif
