/* args.c — command-line parsing for wedpool-bench (see args.h). */
#include "args.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

enum opt_id {
    OPT_DSN, OPT_CLIENTS, OPT_CONNECT_RATE, OPT_CONNECT_CONC, OPT_CONNECT_TIMEOUT, OPT_DURATION, OPT_RATE,
    OPT_THINK, OPT_SQL, OPT_SCRIPT, OPT_TX_STATEMENTS, OPT_EXTENDED, OPT_INIT, OPT_ROWS, OPT_LANES, OPT_IDLE,
    OPT_LOGIN, OPT_METRICS_URL, OPT_JSON, OPT_PLOT, OPT_PROGRESS, OPT_NO_PROGRESS, OPT_QUIET, OPT_SEED, OPT_HELP,
    OPT_VERSION,
};

/* How an option's value is read: numbers straight into a field of struct bench_args, the others
 * by apply(). */
enum num_kind { NUM_NONE, NUM_UINT, NUM_U64, NUM_REAL };

struct opt {
    const char *name;  /* long name without "--" */
    char short_name;   /* 0 = none */
    bool takes_value;
    enum opt_id id;
    enum num_kind num;
    double lo, hi;     /* hi < 0: no upper bound */
    size_t field;      /* offsetof(struct bench_args, ...) */
    const char *expect;
};

#define NUM(kind, lo, hi, field, expect) kind, lo, hi, offsetof(struct bench_args, field), expect

static const struct opt opts[] = {
    {"dsn", 0, true, OPT_DSN, NUM_NONE, 0, 0, 0, NULL},
    {"clients", 'c', true, OPT_CLIENTS,
     NUM(NUM_UINT, 1, ARGS_MAX_CLIENTS, clients, "a number of clients from 1 to 10000")},
    {"connect-rate", 0, true, OPT_CONNECT_RATE,
     NUM(NUM_REAL, 0, 1e7, connect_rate, "logins per second (0 = unlimited)")},
    {"connect-concurrency", 0, true, OPT_CONNECT_CONC,
     NUM(NUM_UINT, 1, ARGS_MAX_CLIENTS, connect_concurrency, "a number from 1 to 10000")},
    {"connect-timeout", 0, true, OPT_CONNECT_TIMEOUT,
     NUM(NUM_REAL, 0.001, 86400, connect_timeout_s, "seconds (more than 0)")},
    {"duration", 'T', true, OPT_DURATION, NUM(NUM_REAL, 0, 86400, duration_s, "seconds from 0 to 86400")},
    {"rate", 0, true, OPT_RATE, NUM(NUM_REAL, 0, 1e7, rate, "transactions per second (0 = closed loop)")},
    {"think-ms", 0, true, OPT_THINK, NUM(NUM_REAL, 0, 3600000, think_ms, "milliseconds")},
    {"sql", 0, true, OPT_SQL, NUM_NONE, 0, 0, 0, NULL},
    {"script", 0, true, OPT_SCRIPT, NUM_NONE, 0, 0, 0, NULL},
    {"tx-statements", 0, true, OPT_TX_STATEMENTS,
     NUM(NUM_UINT, 1, 1000, tx_statements, "a number of statements from 1 to 1000")},
    {"extended", 0, false, OPT_EXTENDED, NUM_NONE, 0, 0, 0, NULL},
    {"init", 0, false, OPT_INIT, NUM_NONE, 0, 0, 0, NULL},
    {"rows", 0, true, OPT_ROWS, NUM(NUM_U64, 1, 2000000000, rows, "a number of rows from 1 to 2000000000")},
    {"lanes", 0, true, OPT_LANES, NUM_NONE, 0, 0, 0, NULL},
    {"idle", 0, false, OPT_IDLE, NUM_NONE, 0, 0, 0, NULL},
    {"login", 0, true, OPT_LOGIN, NUM_NONE, 0, 0, 0, NULL},
    {"metrics-url", 0, true, OPT_METRICS_URL, NUM_NONE, 0, 0, 0, NULL},
    {"json", 0, true, OPT_JSON, NUM_NONE, 0, 0, 0, NULL},
    {"plot", 0, true, OPT_PLOT, NUM_NONE, 0, 0, 0, NULL},
    {"progress", 0, false, OPT_PROGRESS, NUM_NONE, 0, 0, 0, NULL},
    {"no-progress", 0, false, OPT_NO_PROGRESS, NUM_NONE, 0, 0, 0, NULL},
    {"quiet", 'q', false, OPT_QUIET, NUM_NONE, 0, 0, 0, NULL},
    {"seed", 0, true, OPT_SEED, NUM(NUM_U64, 0, -1, seed, "a non-negative integer")},
    {"help", 'h', false, OPT_HELP, NUM_NONE, 0, 0, 0, NULL},
    {"version", 'V', false, OPT_VERSION, NUM_NONE, 0, 0, 0, NULL},
};

const char *args_usage(void)
{
    return "usage: wedpool-bench [options]\n"
           "  --dsn CONNINFO            libpq conninfo of the target, e.g.\n"
           "                            \"host=127.0.0.1 port=6432 user=app dbname=appdb password=apppass\"\n"
           "  -c, --clients N           client connections (default 10, at most 10000)\n"
           "  --connect-rate N          logins started per second (default 1000; 0 = as fast as possible)\n"
           "  --connect-concurrency N   logins in flight at once (default 256)\n"
           "  --connect-timeout S       cap of the connect phase (default 60 + clients / connect rate)\n"
           "  -T, --duration S          workload seconds once every client is connected (default 10;\n"
           "                            0 = connect, then stop)\n"
           "  --rate R                  open loop: R transactions/s in total, Poisson arrivals over idle\n"
           "                            clients, latency counted from the scheduled start (default: closed\n"
           "                            loop, each client runs transactions back to back)\n"
           "  --think-ms MS             closed loop: pause between a client's transactions (default 0)\n"
           "  --sql SQL                 the statement of a transaction; :aid becomes a random integer in\n"
           "                            [1, rows] (default: " ARGS_DEFAULT_SQL ")\n"
           "  --script FILE             statements, one per line (-- comments), run as one transaction\n"
           "  --tx-statements K         1..K statements per transaction (uniform), in BEGIN/COMMIT when K > 1\n"
           "  --extended                extended query protocol (unnamed statements, :aid as $1) instead\n"
           "                            of the simple protocol\n"
           "  --init                    create and fill wpbench_accounts before the run\n"
           "  --rows N                  rows for --init (default 100000); the :aid range\n"
           "  --lanes NAME=PCT,...      lane mix of the clients, e.g. critical=5,default=80,background=15;\n"
           "                            each client logs in with application_name=wpbench-<lane>\n"
           "  --idle                    log every client in, hold them idle for --duration, report logins\n"
           "  --login raw|libpq         how clients log in: raw = the bench's own protocol code, SCRAM's\n"
           "                            salted password computed once (--idle and -T 0 only; their\n"
           "                            default), libpq = libpq (the default with a workload)\n"
           "  --metrics-url URL         wedpool /metrics: report the pooler's acquisition-wait percentiles\n"
           "  --json FILE               write every result as JSON\n"
           "  --plot FILE.svg           write latency p50/p99 and throughput per second as SVG\n"
           "  --progress, --no-progress one line of progress each second (default: on a terminal)\n"
           "  -q, --quiet               only the final report\n"
           "  --seed N                  random seed (default: from the clock; reported)\n"
           "  -h, --help                this text\n"
           "  -V, --version             the version\n"
           "Exit status: 0 the run completed (errors are reported), 1 setup failed, 2 bad arguments.\n";
}

const char *args_login_name(enum login_mode m)
{
    return m == LOGIN_RAW ? "raw" : "libpq";
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* An unsigned integer in [lo, hi], digits only. */
static int parse_uint(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    if (!isdigit((unsigned char)s[0]))
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* A finite non-negative number in [lo, hi]. */
static int parse_number(const char *s, double lo, double hi, double *out)
{
    if (!isdigit((unsigned char)s[0]) && s[0] != '.')
        return -1;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v) || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_lanes(const char *spec, struct bench_args *a, char *err, size_t errlen)
{
    a->nlanes = 0;
    unsigned sum = 0;
    const char *p = spec;
    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (eq == NULL || eq == p)
            return fail(err, errlen, "--lanes: expected NAME=PERCENT items separated by commas, got \"%.*s\"",
                        (int)len, p);
        size_t nlen = (size_t)(eq - p);
        if (nlen >= ARGS_LANE_NAME)
            return fail(err, errlen, "--lanes: lane name \"%.*s\" is longer than %d characters", (int)nlen, p,
                        ARGS_LANE_NAME - 1);
        for (size_t i = 0; i < nlen; i++)
            if (!isalnum((unsigned char)p[i]) && p[i] != '_' && p[i] != '-' && p[i] != '.')
                return fail(err, errlen, "--lanes: lane name \"%.*s\" may only hold letters, digits, _ - .",
                            (int)nlen, p);
        if (a->nlanes == ARGS_MAX_LANES)
            return fail(err, errlen, "--lanes: at most %d lanes", ARGS_MAX_LANES);
        char num[32];
        size_t vlen = len - nlen - 1;
        uint64_t pct;
        if (vlen == 0 || vlen >= sizeof(num))
            return fail(err, errlen, "--lanes: lane \"%.*s\" needs a percentage from 0 to 100", (int)nlen, p);
        memcpy(num, eq + 1, vlen);
        num[vlen] = '\0';
        if (parse_uint(num, 0, 100, &pct) != 0)
            return fail(err, errlen, "--lanes: lane \"%.*s\": expected a percentage from 0 to 100, got \"%s\"",
                        (int)nlen, p, num);
        struct lane_spec *l = &a->lanes[a->nlanes];
        memcpy(l->name, p, nlen);
        l->name[nlen] = '\0';
        for (int j = 0; j < a->nlanes; j++)
            if (strcmp(a->lanes[j].name, l->name) == 0)
                return fail(err, errlen, "--lanes: lane \"%s\" is named twice", l->name);
        l->pct = (unsigned)pct;
        sum += l->pct;
        a->nlanes++;
        if (comma == NULL)
            break;
        p = comma + 1;
        if (*p == '\0')
            return fail(err, errlen, "--lanes: trailing comma in \"%s\"", spec);
    }
    if (a->nlanes == 0)
        return fail(err, errlen, "--lanes: no lanes given");
    if (sum != 100)
        return fail(err, errlen, "--lanes: the percentages must add up to 100, they add up to %u", sum);
    return 0;
}

static void strip_line(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
}

static int load_script(const char *path, struct bench_args *a, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return fail(err, errlen, "--script: cannot read %s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) >= 0) {
        strip_line(line);
        const char *s = line;
        while (isspace((unsigned char)*s))
            s++;
        if (*s == '\0' || strncmp(s, "--", 2) == 0)
            continue;
        char **grown = realloc(a->script, (a->nscript + 1) * sizeof(*a->script));
        char *copy = strdup(s);
        if (grown == NULL || copy == NULL) {
            free(copy);
            if (grown != NULL)
                a->script = grown;
            free(line);
            fclose(f);
            return fail(err, errlen, "--script: out of memory");
        }
        a->script = grown;
        a->script[a->nscript++] = copy;
    }
    free(line);
    fclose(f);
    if (a->nscript == 0)
        return fail(err, errlen, "--script: %s holds no statements", path);
    return 0;
}

static int check_dsn(const char *dsn, char *err, size_t errlen)
{
    char *msg = NULL;
    PQconninfoOption *o = PQconninfoParse(dsn, &msg);
    if (o == NULL) {
        if (msg != NULL)
            strip_line(msg);
        fail(err, errlen, "--dsn: %s", msg ? msg : "out of memory");
        PQfreemem(msg);
        return -1;
    }
    PQconninfoFree(o);
    return 0;
}

static const struct opt *find_long(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
            return &opts[i];
    return NULL;
}

static const struct opt *find_short(char c)
{
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
        if (opts[i].short_name == c)
            return &opts[i];
    return NULL;
}

/* Reads a numeric option into its field. */
static int apply_number(const struct opt *o, const char *shown, const char *v, struct bench_args *a, char *err,
                        size_t errlen)
{
    void *field = (char *)a + o->field;
    uint64_t u;
    int bad;
    if (o->num == NUM_REAL)
        bad = parse_number(v, o->lo, o->hi, (double *)field);
    else
        bad = parse_uint(v, (uint64_t)o->lo, o->hi < 0 ? UINT64_MAX : (uint64_t)o->hi, &u);
    if (bad)
        return fail(err, errlen, "%s: expected %s, got \"%s\"", shown, o->expect, v);
    if (o->num == NUM_UINT)
        *(unsigned *)field = (unsigned)u;
    else if (o->num == NUM_U64)
        *(uint64_t *)field = u;
    a->rows_given |= o->id == OPT_ROWS;
    a->seed_given |= o->id == OPT_SEED;
    return 0;
}

/* Applies one option. `shown` is how the option was written, for messages. */
static int apply(const struct opt *o, const char *shown, const char *v, struct bench_args *a, char *err,
                 size_t errlen)
{
    if (o->num != NUM_NONE)
        return apply_number(o, shown, v, a, err, errlen);
    switch (o->id) {
    case OPT_DSN:
        a->dsn = v;
        return check_dsn(v, err, errlen);
    case OPT_SQL:
        if (v[0] == '\0')
            return fail(err, errlen, "%s: the statement is empty", shown);
        a->sql = v;
        a->sql_given = true;
        return 0;
    case OPT_SCRIPT:
        for (size_t i = 0; i < a->nscript; i++) /* the last --script counts */
            free(a->script[i]);
        a->nscript = 0;
        a->script_path = v;
        return load_script(v, a, err, errlen);
    case OPT_LANES:
        return parse_lanes(v, a, err, errlen);
    case OPT_METRICS_URL:
        if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0)
            return fail(err, errlen, "%s: expected an http:// or https:// URL, got \"%s\"", shown, v);
        a->metrics_url = v;
        return 0;
    case OPT_JSON:
        a->json_path = v;
        return 0;
    case OPT_PLOT:
        a->plot_path = v;
        return 0;
    case OPT_LOGIN:
        if (strcmp(v, "raw") != 0 && strcmp(v, "libpq") != 0)
            return fail(err, errlen, "%s: expected raw or libpq, got \"%s\"", shown, v);
        a->login = v[0] == 'r' ? LOGIN_RAW : LOGIN_LIBPQ;
        a->login_given = true;
        return 0;
    case OPT_EXTENDED: a->extended = true; return 0;
    case OPT_INIT: a->init = true; return 0;
    case OPT_IDLE: a->idle = true; return 0;
    case OPT_PROGRESS: a->progress = 1; return 0;
    case OPT_NO_PROGRESS: a->progress = 0; return 0;
    case OPT_QUIET: a->quiet = true; return 0;
    case OPT_HELP: a->action = ARGS_HELP; return 0;
    case OPT_VERSION: a->action = ARGS_VERSION; return 0;
    default: break;
    }
    return fail(err, errlen, "%s: not handled", shown);
}

/* Options that cannot go together, and what the combination needs. */
static int check_combinations(struct bench_args *a, char *err, size_t errlen)
{
    if (a->sql_given && a->script_path)
        return fail(err, errlen, "--sql and --script cannot be combined: give the statement one way");
    if (a->script_path && a->tx_statements > 1)
        return fail(err, errlen, "--tx-statements cannot be combined with --script (the script is the transaction)");
    if (a->rate > 0 && a->think_ms > 0)
        return fail(err, errlen, "--think-ms applies to the closed loop only; it cannot be combined with --rate");
    if (a->idle && (a->rate > 0 || a->think_ms > 0 || a->sql_given || a->script_path || a->tx_statements > 1))
        return fail(err, errlen, "--idle runs no transactions: it cannot be combined with --rate, --think-ms, "
                                 "--sql, --script or --tx-statements");
    bool logins_only = a->idle || a->duration_s <= 0;
    if (a->login_given && a->login == LOGIN_RAW && !logins_only)
        return fail(err, errlen, "--login raw only logs in: it needs --idle or -T 0 (a workload runs on libpq "
                                 "connections)");
    if (!a->login_given)
        a->login = logins_only ? LOGIN_RAW : LOGIN_LIBPQ;
    if (a->connect_concurrency > a->clients)
        a->connect_concurrency = a->clients;
    return 0;
}

static void defaults(struct bench_args *a)
{
    memset(a, 0, sizeof(*a));
    a->action = ARGS_RUN;
    a->dsn = "";
    a->clients = 10;
    a->connect_rate = 1000;
    a->connect_concurrency = 256;
    a->duration_s = 10;
    a->sql = ARGS_DEFAULT_SQL;
    a->tx_statements = 1;
    a->rows = 100000;
    a->progress = -1;
    a->nlanes = 1;
    strcpy(a->lanes[0].name, "default");
    a->lanes[0].pct = 100;
}

int args_parse(int argc, char **argv, struct bench_args *a, char *err, size_t errlen)
{
    defaults(a);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const struct opt *o = NULL;
        const char *value = NULL;
        char shown[64];
        if (strncmp(arg, "--", 2) == 0 && arg[2] != '\0') {
            const char *name = arg + 2;
            const char *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            o = find_long(name, len);
            snprintf(shown, sizeof(shown), "--%.*s", (int)len, name);
            if (o == NULL)
                return fail(err, errlen, "unknown option %s (see --help)", shown);
            if (eq != NULL) {
                if (!o->takes_value)
                    return fail(err, errlen, "%s takes no value", shown);
                value = eq + 1;
            }
        } else if (arg[0] == '-' && arg[1] != '\0' && arg[1] != '-') {
            o = find_short(arg[1]);
            snprintf(shown, sizeof(shown), "-%c", arg[1]);
            if (o == NULL)
                return fail(err, errlen, "unknown option %s (see --help)", shown);
            if (arg[2] != '\0') {
                if (!o->takes_value)
                    return fail(err, errlen, "%s takes no value (options are given one by one)", shown);
                value = arg + 2;
            }
        } else {
            return fail(err, errlen, "unexpected argument \"%s\" (options start with --; see --help)", arg);
        }
        if (o->takes_value && value == NULL) {
            if (i + 1 >= argc)
                return fail(err, errlen, "%s needs a value", shown);
            value = argv[++i];
        }
        if (apply(o, shown, value, a, err, errlen) != 0)
            return -1;
    }
    if (a->action != ARGS_RUN)
        return 0;
    return check_combinations(a, err, errlen);
}

void args_free(struct bench_args *a)
{
    for (size_t i = 0; i < a->nscript; i++)
        free(a->script[i]);
    free(a->script);
    a->script = NULL;
    a->nscript = 0;
}
