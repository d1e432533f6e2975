/* bench.c — wedpool-bench: a PostgreSQL load generator on one libevent loop with libpq in
 * non-blocking mode. Phases: setup (blocking: one connection checks the target and runs --init),
 * connect (every client logs in, paced by --connect-rate and --connect-concurrency, capped in
 * time), workload (closed loop, open loop with Poisson arrivals, or idle) for --duration, drain
 * (in-flight transactions finish, up to DRAIN_CAP_S), then the report. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <libpq-fe.h>

#include "args.h"
#include "hist.h"
#include "metrics_scrape.h"
#include "rawlogin.h"
#include "report.h"
#include "sched.h"

#ifndef WEDPOOL_VERSION
#define WEDPOOL_VERSION "dev"
#endif

#define DRAIN_CAP_S 5.0
#define FD_RESERVE 64                  /* files besides the clients' sockets */
#define BACKLOG_MAX (4u * 1024 * 1024) /* open-loop arrivals waiting for an idle client */
#define SETUP_CONNECT_TIMEOUT "10"
#define SCRAPE_TIMEOUT_S 5.0
#define RECONNECT_BACKOFF_MIN_MS 100
#define RECONNECT_BACKOFF_MAX_MS 2000

enum phase { PH_SETUP, PH_CONNECT, PH_RUN, PH_DRAIN, PH_DONE };

enum cstate { CS_PENDING, CS_CONNECTING, CS_IDLE, CS_BUSY, CS_THINK, CS_BACKOFF, CS_DEAD };

struct client;

/* An intrusive FIFO of clients (a client is in at most one). */
struct queue {
    struct client *head, *tail;
    unsigned n;
};

/* A lane's idle clients and its backlog: the scheduled start times of arrivals that found no idle
 * client, oldest first (a ring). */
struct lane_queue {
    struct queue idle;
    uint64_t *backlog;
    size_t head, len, cap;
};

struct client {
    unsigned id;
    int lane;
    enum cstate state;
    PGconn *conn;
    struct raw_conn *raw; /* --login raw: the bench's own connection instead of conn */
    struct event *ev;    /* connecting: one-shot on the current socket; logged in: persistent read */
    struct event *wev;   /* logged in: write readiness while output is pending */
    struct event *timer; /* think time, reconnect backoff */
    int ev_fd;
    short ev_what;
    unsigned gen;        /* counts closed connections: tells a callback its connection is gone */
    bool initial_done;   /* the first login attempt has ended (either way) */
    unsigned backoff_ms;
    uint64_t login_start;
    /* the transaction in flight */
    uint64_t tx_start;   /* scheduled start (open loop) or actual start (closed loop), µs */
    unsigned step, nsteps;
    bool wrap, failed, rolling_back;
    char sqlstate[6];
    char errmsg[ERR_MSG_LEN];
    struct queue *inq;
    struct client *prev, *next;
};

/* A statement template: `:aid` stands for a random integer in [1, rows]. */
struct stmt {
    const char *text;     /* as given */
    char *numbered;       /* :aid as $1, for the extended protocol */
    bool has_aid;
};

static struct {
    struct bench_args args;
    struct run_result res;
    struct event_base *base;
    enum phase phase;
    struct client *clients;
    /* connection parameters: shared keywords, values per lane (application_name differs) */
    const char **keywords;
    const char ***values;
    char *setup_appname;
    PQconninfoOption *conninfo;
    struct raw_target raw_target; /* --login raw: where and as whom */
    char (*appnames)[ARGS_LANE_NAME + 16];
    /* the workload */
    struct stmt *body;
    size_t nbody;
    bool script_has_begin;
    char *render;
    size_t render_cap;
    struct rng rng;
    struct arrivals arrivals;
    /* queues and counts */
    struct queue pending;
    unsigned connecting, busy, initial_resolved, logged_in;
    double tokens;
    uint64_t tokens_at;
    /* per lane: idle clients, and the open loop's arrivals waiting for one of them */
    struct lane_queue *lq;
    size_t queued; /* arrivals waiting, all lanes */
    struct rng lane_rng;
    /* times (µs, monotonic) */
    uint64_t t_connect, t_run, t_deadline, t_drain;
    double cpu_connect; /* the bench's CPU seconds when the connect phase began */
    /* timers */
    struct event *tick_ev, *pace_ev, *phase_ev, *arrival_ev, *sigint_ev, *sigterm_ev;
    bool progress, tty;
    int progress_len;
    char metrics_err[256];
    char *scrape_before;
    char first_login_error[ERR_MSG_LEN + 32];
    int setup_failed;
} g;

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static struct timeval tv_us(uint64_t us)
{
    struct timeval tv = {.tv_sec = (time_t)(us / 1000000u), .tv_usec = (suseconds_t)(us % 1000000u)};
    return tv;
}

static void timer_in(struct event *ev, uint64_t us)
{
    struct timeval tv = tv_us(us);
    evtimer_add(ev, &tv);
}

static void die_oom(void)
{
    fprintf(stderr, "wedpool-bench: out of memory\n");
    exit(1);
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (p == NULL)
        die_oom();
    return p;
}

/* ------------------------------------------------------------------------------------------ */
/* queues */

static void q_push(struct queue *q, struct client *c)
{
    c->inq = q;
    c->next = NULL;
    c->prev = q->tail;
    if (q->tail)
        q->tail->next = c;
    else
        q->head = c;
    q->tail = c;
    q->n++;
}

static void q_remove(struct client *c)
{
    struct queue *q = c->inq;
    if (q == NULL)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        q->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        q->tail = c->prev;
    q->n--;
    c->inq = NULL;
    c->prev = c->next = NULL;
}

static struct client *q_pop(struct queue *q)
{
    struct client *c = q->head;
    if (c)
        q_remove(c);
    return c;
}

static bool backlog_push(struct lane_queue *q, uint64_t t)
{
    if (q->len == q->cap) {
        if (q->cap >= BACKLOG_MAX)
            return false;
        size_t cap = q->cap ? q->cap * 2 : 1024;
        uint64_t *b = xcalloc(cap, sizeof(*b));
        for (size_t i = 0; i < q->len; i++)
            b[i] = q->backlog[(q->head + i) % q->cap];
        free(q->backlog);
        q->backlog = b;
        q->cap = cap;
        q->head = 0;
    }
    q->backlog[(q->head + q->len) % q->cap] = t;
    q->len++;
    if (++g.queued > g.res.max_queued)
        g.res.max_queued = g.queued;
    return true;
}

static uint64_t backlog_pop(struct lane_queue *q)
{
    uint64_t t = q->backlog[q->head];
    q->head = (q->head + 1) % q->cap;
    q->len--;
    g.queued--;
    return t;
}

/* ------------------------------------------------------------------------------------------ */
/* statements */

static bool is_ident(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_';
}

/* Whether text[i] starts a `:aid` placeholder. */
static bool aid_at(const char *text, size_t i)
{
    return strncmp(text + i, ":aid", 4) == 0 && !is_ident(text[i + 4]) && (i == 0 || text[i - 1] != ':');
}

/* Writes text with every :aid replaced by `with` into a buffer of the right size. */
static char *substitute(const char *text, const char *with)
{
    size_t n = 0, wl = strlen(with);
    for (size_t i = 0; text[i]; i++)
        n += aid_at(text, i) ? wl : 1;
    char *out = xcalloc(n + 1, 1), *o = out;
    for (size_t i = 0; text[i];) {
        if (aid_at(text, i)) {
            memcpy(o, with, wl);
            o += wl;
            i += 4;
        } else {
            *o++ = text[i++];
        }
    }
    return out;
}

static void stmt_init(struct stmt *s, const char *text)
{
    s->text = text;
    s->has_aid = false;
    for (size_t i = 0; text[i]; i++)
        if (aid_at(text, i))
            s->has_aid = true;
    s->numbered = substitute(text, "$1");
    size_t need = strlen(text) * 6 + 32; /* :aid (4) -> up to 10 digits */
    if (need > g.render_cap) {
        free(g.render);
        g.render = xcalloc(need, 1);
        g.render_cap = need;
    }
}

static bool starts_with_word(const char *s, const char *word)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(word);
    return strncasecmp(s, word, n) == 0 && !is_ident(s[n]);
}

static void workload_init(void)
{
    struct bench_args *a = &g.args;
    if (a->nscript > 0) {
        g.nbody = a->nscript;
        g.body = xcalloc(g.nbody, sizeof(*g.body));
        for (size_t i = 0; i < a->nscript; i++)
            stmt_init(&g.body[i], a->script[i]);
        g.script_has_begin = starts_with_word(a->script[0], "BEGIN") || starts_with_word(a->script[0], "START");
    } else {
        g.nbody = 1;
        g.body = xcalloc(1, sizeof(*g.body));
        stmt_init(&g.body[0], a->sql);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* results */

static struct lane_result *lane_of(const struct client *c)
{
    return &g.res.lanes[c->lane];
}

/* The SQLSTATE in a verbose libpq message ("...FATAL:  53300: sorry..."), or NULL. */
static const char *sqlstate_in(const char *msg, char code[6])
{
    for (const char *p = strstr(msg, ":  "); p != NULL; p = strstr(p + 1, ":  ")) {
        const char *s = p + 3;
        bool ok = true;
        for (int i = 0; i < 5; i++)
            if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z')))
                ok = false;
        if (ok && s[5] == ':') {
            memcpy(code, s, 5);
            code[5] = '\0';
            return code;
        }
    }
    return NULL;
}

/* One line of a libpq message: its last non-empty line (libpq prefixes the server address). */
static void message_line(const char *msg, char *out, size_t outlen)
{
    const char *fatal = strstr(msg, "FATAL:");
    const char *s = fatal ? fatal : msg;
    size_t n = 0;
    while (s[n] && s[n] != '\n')
        n++;
    if (n == 0 && !fatal) {
        snprintf(out, outlen, "%s", msg);
        return;
    }
    snprintf(out, outlen, "%.*s", (int)n, s);
}

static void count_login_error(struct client *c, const char *code, const char *line)
{
    errtab_add(&lane_of(c)->login_errors, code, line);
    errtab_add(&g.res.total.login_errors, code, line);
    if (g.first_login_error[0] == '\0')
        snprintf(g.first_login_error, sizeof(g.first_login_error), "%s (SQLSTATE %s)", line, code);
}

/* A libpq message: its SQLSTATE (08001 when it has none) and its line. */
static void count_login_failure(struct client *c, const char *msg)
{
    char code[6], line[ERR_MSG_LEN];
    const char *state = sqlstate_in(msg, code);
    message_line(msg, line, sizeof(line));
    count_login_error(c, state ? state : "08001", line);
}

static void count_tx(struct client *c, uint64_t now)
{
    struct lane_result *ls[2] = {lane_of(c), &g.res.total};
    bool in_window = now <= g.t_deadline;
    for (int i = 0; i < 2; i++) {
        struct lane_result *l = ls[i];
        if (in_window)
            l->tx_in_window++;
        if (c->failed) {
            errtab_add(&l->tx_errors, c->sqlstate, c->errmsg);
            l->interval_errors++;
        } else {
            uint64_t lat = now > c->tx_start ? now - c->tx_start : 0;
            hist_record(&l->latency, lat);
            hist_record(&l->interval, lat);
            l->tx_ok++;
        }
    }
}

static void note_error(struct client *c, const char *code, const char *msg)
{
    if (c->failed)
        return;
    c->failed = true;
    snprintf(c->sqlstate, sizeof(c->sqlstate), "%s", code && strlen(code) == 5 ? code : "08006");
    snprintf(c->errmsg, sizeof(c->errmsg), "%s", msg ? msg : "");
    char *nl = strchr(c->errmsg, '\n');
    if (nl)
        *nl = '\0';
}

/* ------------------------------------------------------------------------------------------ */
/* connections */

static void on_connect_io(evutil_socket_t fd, short what, void *arg);
static void on_raw_login_io(evutil_socket_t fd, short what, void *arg);
static void on_raw_read(evutil_socket_t fd, short what, void *arg);
static void login_failed(struct client *c);
static void on_read(evutil_socket_t fd, short what, void *arg);
static void on_write(evutil_socket_t fd, short what, void *arg);
static void pump_connects(void);
static void client_ready(struct client *c);
static void begin_workload(void);
static void finish_run(void);
static void end_connect_phase(void);

static void quiet_notices(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static void free_events(struct client *c)
{
    if (c->ev) {
        event_free(c->ev);
        c->ev = NULL;
    }
    if (c->wev) {
        event_free(c->wev);
        c->wev = NULL;
    }
    c->ev_fd = -1;
}

static void close_conn(struct client *c)
{
    free_events(c);
    if (c->timer)
        evtimer_del(c->timer);
    c->gen++;
    if (c->conn) {
        PQfinish(c->conn);
        c->conn = NULL;
    }
    raw_conn_close(c->raw); /* Terminate first when logged in */
    c->raw = NULL;
}

/* Waits (once) for a socket to be ready as asked; the event is made again only when the socket or
 * the readiness changes. */
static void wait_fd(struct client *c, int fd, short what, event_callback_fn cb)
{
    if (c->ev && (fd != c->ev_fd || what != c->ev_what)) {
        event_free(c->ev);
        c->ev = NULL;
    }
    if (c->ev == NULL) {
        c->ev = event_new(g.base, fd, what, cb, c);
        if (c->ev == NULL)
            die_oom();
        c->ev_fd = fd;
        c->ev_what = what;
    }
    event_add(c->ev, NULL);
}

/* Waits for the current socket to be ready as libpq asked (the socket may change while connecting:
 * another address, or a retry without SSL). */
static void connect_wait(struct client *c, short what)
{
    wait_fd(c, PQsocket(c->conn), what, on_connect_io);
}

static void raw_login_failed(struct client *c);

/* --login raw: the bench's own connection (rawlogin.h); no libpq. */
static void start_raw_login(struct client *c)
{
    c->raw = raw_conn_start(&g.raw_target, g.res.lanes[c->lane].application_name);
    if (c->raw == NULL)
        die_oom();
    if (c->raw->login.state == RL_FAILED)
        raw_login_failed(c);
    else
        wait_fd(c, c->raw->fd, EV_WRITE, on_raw_login_io);
}

static void start_login(struct client *c)
{
    c->state = CS_CONNECTING;
    c->login_start = now_us();
    lane_of(c)->login_attempts++;
    g.res.total.login_attempts++;
    g.connecting++;
    if (g.args.login == LOGIN_RAW) {
        start_raw_login(c);
        return;
    }
    c->conn = PQconnectStartParams(g.keywords, g.values[c->lane], 0);
    if (c->conn == NULL)
        die_oom();
    PQsetErrorVerbosity(c->conn, PQERRORS_VERBOSE); /* puts the SQLSTATE of a login error in the message */
    PQsetNoticeProcessor(c->conn, quiet_notices, NULL);
    if (PQstatus(c->conn) == CONNECTION_BAD) {
        login_failed(c);
        return;
    }
    connect_wait(c, EV_WRITE);
}

static void reconnect_later(struct client *c);

static void login_ended_failed(struct client *c);

static void login_failed(struct client *c)
{
    count_login_failure(c, PQerrorMessage(c->conn));
    login_ended_failed(c);
}

static void raw_login_failed(struct client *c)
{
    count_login_error(c, c->raw->login.code, c->raw->login.message);
    login_ended_failed(c);
}

/* A failed login's client: it is out of the run if that was its first login, else it tries again. */
static void login_ended_failed(struct client *c)
{
    close_conn(c);
    g.connecting--;
    if (!c->initial_done) {
        c->initial_done = true;
        c->state = CS_DEAD;
        g.initial_resolved++;
        if (g.phase == PH_CONNECT && g.initial_resolved == g.args.clients)
            end_connect_phase();
    } else {
        reconnect_later(c);
    }
}

static void login_succeeded(struct client *c, uint64_t now);

static void login_ok(struct client *c)
{
    if (PQsetnonblocking(c->conn, 1) != 0) {
        login_failed(c);
        return;
    }
    uint64_t now = now_us();
    free_events(c);
    int fd = PQsocket(c->conn);
    c->ev = event_new(g.base, fd, EV_READ | EV_PERSIST, on_read, c);
    c->wev = event_new(g.base, fd, EV_WRITE, on_write, c);
    if (c->ev == NULL || c->wev == NULL)
        die_oom();
    c->ev_fd = fd;
    event_add(c->ev, NULL);
    login_succeeded(c, now);
}

/* --login raw: logged in. The socket is watched for the server closing it or sending an error. */
static void raw_login_ok(struct client *c)
{
    uint64_t now = now_us();
    if (g.res.server_version[0] == '\0')
        snprintf(g.res.server_version, sizeof(g.res.server_version), "%s", c->raw->login.server_version);
    free_events(c);
    c->ev = event_new(g.base, c->raw->fd, EV_READ | EV_PERSIST, on_raw_read, c);
    if (c->ev == NULL)
        die_oom();
    c->ev_fd = c->raw->fd;
    event_add(c->ev, NULL);
    login_succeeded(c, now);
}

/* Counts a login that succeeded at `now` and gives the client its work. */
static void login_succeeded(struct client *c, uint64_t now)
{
    g.connecting--;
    struct lane_result *ls[2] = {lane_of(c), &g.res.total};
    for (int i = 0; i < 2; i++) {
        ls[i]->logins_ok++;
        hist_record(&ls[i]->login_latency, now - c->login_start);
    }
    c->backoff_ms = 0;
    c->state = CS_IDLE;
    g.logged_in++;
    if (!c->initial_done) {
        c->initial_done = true;
        g.initial_resolved++;
        lane_of(c)->logins_initial++;
        g.res.total.logins_initial++;
    }
    client_ready(c);
    if (g.phase == PH_CONNECT && g.initial_resolved == g.args.clients)
        end_connect_phase();
}

static void on_connect_io(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct client *c = arg;
    PostgresPollingStatusType st = PQstatus(c->conn) == CONNECTION_BAD ? PGRES_POLLING_FAILED : PQconnectPoll(c->conn);
    switch (st) {
    case PGRES_POLLING_READING:
        connect_wait(c, EV_READ);
        return;
    case PGRES_POLLING_WRITING:
        connect_wait(c, EV_WRITE);
        return;
    case PGRES_POLLING_OK:
        login_ok(c);
        break;
    default:
        login_failed(c);
        break;
    }
    pump_connects();
}

static void on_raw_login_io(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    struct client *c = arg;
    int ready = (what & EV_READ ? RAW_WANT_READ : 0) | (what & EV_WRITE ? RAW_WANT_WRITE : 0);
    int st = raw_conn_login_io(c->raw, ready);
    if (st == RAW_READY)
        raw_login_ok(c);
    else if (st == RAW_FAILED)
        raw_login_failed(c);
    else
        wait_fd(c, c->raw->fd, (short)((st & RAW_WANT_READ ? EV_READ : 0) | (st & RAW_WANT_WRITE ? EV_WRITE : 0)),
                on_raw_login_io);
    pump_connects();
}

static void on_client_timer(evutil_socket_t fd, short what, void *arg);

static void client_timer(struct client *c, uint64_t us)
{
    if (c->timer == NULL && (c->timer = evtimer_new(g.base, on_client_timer, c)) == NULL)
        die_oom();
    timer_in(c->timer, us);
}

/* A client whose connection was lost logs in again (after a back-off when that fails too), while
 * the workload runs. */
static void reconnect_later(struct client *c)
{
    if (g.phase != PH_CONNECT && g.phase != PH_RUN) {
        c->state = CS_DEAD;
        return;
    }
    if (c->backoff_ms == 0) {
        c->backoff_ms = RECONNECT_BACKOFF_MIN_MS;
        c->state = CS_PENDING;
        q_push(&g.pending, c);
        pump_connects();
        return;
    }
    c->state = CS_BACKOFF;
    client_timer(c, (uint64_t)c->backoff_ms * 1000);
    c->backoff_ms = c->backoff_ms * 2 > RECONNECT_BACKOFF_MAX_MS ? RECONNECT_BACKOFF_MAX_MS : c->backoff_ms * 2;
}

static void conn_lost(struct client *c)
{
    const char *msg = c->conn ? PQerrorMessage(c->conn) : "connection lost";
    if (c->state == CS_BUSY) {
        note_error(c, "08006", msg);
        g.busy--;
        count_tx(c, now_us());
    } else {
        lane_of(c)->disconnects++;
        g.res.total.disconnects++;
    }
    q_remove(c);
    close_conn(c);
    g.logged_in--;
    lane_of(c)->reconnects++;
    g.res.total.reconnects++;
    c->backoff_ms = 0;
    reconnect_later(c);
    if (g.phase == PH_DRAIN && g.busy == 0)
        finish_run();
}

/* Starts logins while the rate and the concurrency allow. */
static void pump_connects(void)
{
    static bool pumping; /* a login that fails at once may come back here: the outer loop goes on */
    if (pumping || g.pending.n == 0 || g.phase == PH_DRAIN || g.phase == PH_DONE)
        return;
    pumping = true;
    double rate = g.args.connect_rate;
    uint64_t now = now_us();
    if (rate > 0) {
        g.tokens += (double)(now - g.tokens_at) * rate / 1e6;
        double burst = rate * 0.01 > 1 ? rate * 0.01 : 1;
        if (g.tokens > burst)
            g.tokens = burst;
    }
    g.tokens_at = now;
    while (g.pending.n > 0 && g.connecting < g.args.connect_concurrency && (rate <= 0 || g.tokens >= 1) &&
           (g.phase == PH_CONNECT || g.phase == PH_RUN)) {
        struct client *c = q_pop(&g.pending);
        if (rate > 0)
            g.tokens -= 1;
        start_login(c);
    }
    pumping = false;
    if (g.pending.n > 0 && rate > 0 && g.tokens < 1 && !evtimer_pending(g.pace_ev, NULL))
        timer_in(g.pace_ev, (uint64_t)((1 - g.tokens) * 1e6 / rate) + 1);
}

static void on_pace(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    pump_connects();
}

/* ------------------------------------------------------------------------------------------ */
/* transactions */

static void flush_out(struct client *c)
{
    int r = PQflush(c->conn);
    if (r == 1)
        event_add(c->wev, NULL);
    else if (r < 0)
        conn_lost(c);
}

static const char *step_sql(const struct client *c, const struct stmt **st)
{
    *st = NULL;
    if (c->rolling_back)
        return "ROLLBACK";
    if (c->wrap && c->step == 0)
        return "BEGIN";
    if (c->wrap && c->step == c->nsteps - 1)
        return "COMMIT";
    size_t i = c->wrap ? c->step - 1 : c->step;
    *st = &g.body[g.nbody > 1 ? i : 0];
    return (*st)->text;
}

static void send_step(struct client *c)
{
    const struct stmt *st;
    const char *sql = step_sql(c, &st);
    int ok;
    if (st != NULL && st->has_aid) {
        char aid[24];
        snprintf(aid, sizeof(aid), "%llu", (unsigned long long)rng_between(&g.rng, 1, g.res.rows));
        if (g.args.extended) {
            const char *vals[1] = {aid};
            ok = PQsendQueryParams(c->conn, st->numbered, 1, NULL, vals, NULL, NULL, 0);
        } else {
            char *s = g.render;
            for (size_t i = 0; sql[i];) {
                if (aid_at(sql, i)) {
                    s = stpcpy(s, aid);
                    i += 4;
                } else {
                    *s++ = sql[i++];
                }
            }
            *s = '\0';
            ok = PQsendQuery(c->conn, g.render);
        }
    } else if (g.args.extended && st != NULL) {
        ok = PQsendQueryParams(c->conn, sql, 0, NULL, NULL, NULL, NULL, 0);
    } else {
        ok = PQsendQuery(c->conn, sql);
    }
    if (!ok) {
        conn_lost(c);
        return;
    }
    flush_out(c);
}

static void start_tx(struct client *c, uint64_t scheduled)
{
    c->tx_start = scheduled;
    c->failed = c->rolling_back = false;
    c->step = 0;
    if (g.args.nscript > 0) {
        c->wrap = g.nbody > 1 && !g.script_has_begin;
        c->nsteps = (unsigned)g.nbody;
    } else {
        unsigned k = g.args.tx_statements > 1 ? (unsigned)rng_between(&g.rng, 1, g.args.tx_statements) : 1;
        c->wrap = g.args.tx_statements > 1;
        c->nsteps = k;
    }
    if (c->wrap)
        c->nsteps += 2;
    c->state = CS_BUSY;
    g.busy++;
    send_step(c);
}

static void finish_tx(struct client *c)
{
    g.busy--;
    count_tx(c, now_us());
    c->state = CS_IDLE;
    if (PQstatus(c->conn) == CONNECTION_BAD) { /* the server sent its error, then closed */
        conn_lost(c);
        return;
    }
    if (g.phase == PH_RUN && g.args.rate <= 0 && g.args.think_ms > 0) {
        c->state = CS_THINK;
        client_timer(c, (uint64_t)(g.args.think_ms * 1000));
        return;
    }
    client_ready(c);
}

/* A statement's results are all in. */
static void step_done(struct client *c)
{
    if (c->rolling_back) {
        finish_tx(c);
        return;
    }
    if (c->failed) {
        PGTransactionStatusType ts = PQtransactionStatus(c->conn);
        if (ts == PQTRANS_INERROR || ts == PQTRANS_INTRANS) {
            c->rolling_back = true;
            send_step(c);
            return;
        }
        finish_tx(c);
        return;
    }
    if (++c->step < c->nsteps) {
        send_step(c);
        return;
    }
    finish_tx(c);
}

static void take_results(struct client *c)
{
    unsigned gen = c->gen;
    while (c->gen == gen && c->state == CS_BUSY && !PQisBusy(c->conn)) {
        PGresult *r = PQgetResult(c->conn);
        if (r == NULL) {
            step_done(c);
            continue;
        }
        ExecStatusType st = PQresultStatus(r);
        const char *primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
        if (st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE)
            note_error(c, PQresultErrorField(r, PG_DIAG_SQLSTATE), primary ? primary : PQresultErrorMessage(r));
        else if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH)
            note_error(c, "0A000", "COPY is not supported by wedpool-bench");
        PQclear(r);
        if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
            conn_lost(c);
            return;
        }
    }
    if (c->gen == gen && c->state != CS_BUSY) {
        PGnotify *n;
        while ((n = PQnotifies(c->conn)) != NULL)
            PQfreemem(n);
        if (PQstatus(c->conn) == CONNECTION_BAD)
            conn_lost(c);
    }
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct client *c = arg;
    unsigned gen = c->gen;
    if (!PQconsumeInput(c->conn)) {
        if (c->state == CS_BUSY)
            take_results(c); /* an error the server sent before closing (53300, 57P01) comes first */
        if (c->gen == gen)
            conn_lost(c);
        return;
    }
    take_results(c);
}

/* --login raw, logged in: the server closed the connection or sent an error (it is lost). */
static void on_raw_read(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct client *c = arg;
    if (!raw_conn_idle_read(c->raw))
        conn_lost(c);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct client *c = arg;
    flush_out(c);
}

/* A logged-in client with nothing to do: give it work, or park it. */
static void client_ready(struct client *c)
{
    if (g.phase == PH_RUN && !g.args.idle) {
        if (g.args.rate > 0) {
            if (g.lq[c->lane].len > 0) {
                start_tx(c, backlog_pop(&g.lq[c->lane]));
                return;
            }
        } else {
            start_tx(c, now_us());
            return;
        }
    }
    q_push(&g.lq[c->lane].idle, c);
    if (g.phase == PH_DRAIN && g.busy == 0)
        finish_run();
}

static void on_client_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct client *c = arg;
    if (c->state == CS_THINK) {
        c->state = CS_IDLE;
        if (g.phase == PH_RUN)
            start_tx(c, now_us());
        else
            q_push(&g.lq[c->lane].idle, c);
    } else if (c->state == CS_BACKOFF) {
        if (g.phase == PH_CONNECT || g.phase == PH_RUN) {
            c->state = CS_PENDING;
            q_push(&g.pending, c);
            pump_connects();
        } else {
            c->state = CS_DEAD;
        }
    }
}

/* The lane of an arrival: lanes receive arrivals in proportion to their clients, whatever their
 * latency (a fast lane does not take a slow lane's share). */
static int arrival_lane(void)
{
    uint64_t r = rng_between(&g.lane_rng, 0, g.args.clients - 1);
    for (int i = 0; i < g.res.nlanes; i++) {
        if (r < g.res.lanes[i].clients)
            return i;
        r -= g.res.lanes[i].clients;
    }
    return g.res.nlanes - 1;
}

/* Open loop: every arrival that is due goes to an idle client of its lane, or waits in the lane's
 * backlog with its scheduled time (so that its latency includes the wait: no coordinated
 * omission). */
static void on_arrival(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    uint64_t now = now_us();
    while (g.phase == PH_RUN && g.t_run + arrivals_peek(&g.arrivals) <= now) {
        uint64_t t = g.t_run + arrivals_next(&g.arrivals);
        if (t >= g.t_deadline)
            return;
        struct lane_queue *q = &g.lq[arrival_lane()];
        struct client *c = q_pop(&q->idle);
        if (c)
            start_tx(c, t);
        else if (!backlog_push(q, t))
            g.res.dropped++;
    }
    if (g.phase == PH_RUN) {
        uint64_t next = g.t_run + arrivals_peek(&g.arrivals);
        timer_in(g.arrival_ev, next > now ? next - now : 0);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* progress, phases */

static void progress_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void progress_line(const char *fmt, ...)
{
    if (!g.progress)
        return;
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (g.tty) {
        fprintf(stderr, "\r%s\033[K", line);
        g.progress_len = n;
    } else {
        fprintf(stderr, "%s\n", line);
    }
    fflush(stderr);
}

static void progress_end(void)
{
    if (g.progress && g.tty && g.progress_len > 0) {
        fputc('\n', stderr);
        g.progress_len = 0;
    }
}

static double since_s(uint64_t t0)
{
    return (double)(now_us() - t0) / 1e6;
}

static void fold_second(double t)
{
    for (int i = 0; i < g.res.nlanes; i++)
        lane_tick(&g.res.lanes[i], t);
    lane_tick(&g.res.total, t);
}

static void fold_into_last(void)
{
    for (int i = 0; i <= g.res.nlanes; i++) {
        struct lane_result *l = i < g.res.nlanes ? &g.res.lanes[i] : &g.res.total;
        if (l->series.n == 0)
            continue;
        l->series.p[l->series.n - 1].tx += l->interval.total;
        l->series.p[l->series.n - 1].errors += l->interval_errors;
    }
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    if (g.phase == PH_CONNECT) {
        double t = since_s(g.t_connect);
        progress_line("[%6.1fs] connecting: %u/%u logged in, %llu failed, %u in flight, %.0f logins/s", t,
                      g.logged_in, g.args.clients, (unsigned long long)errtab_total(&g.res.total.login_errors),
                      g.connecting, t > 0 ? (double)g.res.total.logins_initial / t : 0.0);
        return;
    }
    if (g.phase != PH_RUN && g.phase != PH_DRAIN)
        return;
    double t = since_s(g.t_run);
    fold_second(t);
    if (g.args.idle) {
        progress_line("[%6.1fs] idle: %u/%u clients logged in, %llu reconnects", t, g.logged_in, g.args.clients,
                      (unsigned long long)g.res.total.reconnects);
        return;
    }
    const struct series *s = &g.res.total.series;
    const struct point *p = &s->p[s->n - 1];
    progress_line("[%6.1fs] %s: %llu tx/s, p50 %.2f ms, p99 %.2f ms, %llu errors, %u/%u logged in, %zu queued",
                  t, t <= g.args.duration_s + 0.1 ? "run" : "drain", (unsigned long long)p->tx, p->p50_ms, p->p99_ms,
                  (unsigned long long)errtab_total(&g.res.total.tx_errors), g.logged_in, g.args.clients, g.queued);
}

static void stop_loop(void)
{
    g.phase = PH_DONE;
    event_base_loopbreak(g.base);
}

static void on_phase_timer(evutil_socket_t fd, short what, void *arg);

/* The connect phase's cap: whoever has not logged in by then has failed. */
static void cap_connect_phase(void)
{
    char msg[ERR_MSG_LEN];
    snprintf(msg, sizeof(msg), "login not completed within the connect phase's cap of %.0f s", g.res.connect_cap_s);
    g.res.connect_capped = 1;
    for (unsigned i = 0; i < g.args.clients; i++) {
        struct client *c = &g.clients[i];
        if (c->initial_done)
            continue;
        if (c->state == CS_CONNECTING)
            g.connecting--;
        q_remove(c);
        close_conn(c);
        count_login_failure(c, msg);
        c->initial_done = true;
        c->state = CS_DEAD;
        g.initial_resolved++;
    }
    end_connect_phase();
}

/* The bench's own CPU time (user + system), seconds. */
static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* The connect phase's figures, when it ends (or is interrupted). */
static void connect_phase_figures(void)
{
    g.res.connect_elapsed_s = since_s(g.t_connect);
    g.res.connected = g.logged_in;
    g.res.connect_cpu_s = cpu_s() - g.cpu_connect;
}

static void end_connect_phase(void)
{
    if (g.phase != PH_CONNECT)
        return;
    connect_phase_figures();
    evtimer_del(g.phase_ev);
    on_tick(-1, 0, NULL); /* the last connect progress line */
    progress_end();
    if (g.logged_in == 0) {
        fprintf(stderr, "wedpool-bench: no client could log in: %s\n", g.first_login_error);
        g.setup_failed = 1;
        stop_loop();
        return;
    }
    if (g.args.duration_s <= 0) {
        stop_loop();
        return;
    }
    begin_workload();
}

static void begin_workload(void)
{
    if (g.args.metrics_url && !g.args.idle) {
        /* The baseline right before the workload: what the logins did is not counted. */
        char err[256];
        char *text = scrape_fetch(g.args.metrics_url, getenv("WPBENCH_METRICS_TOKEN"), SCRAPE_TIMEOUT_S, err,
                                  sizeof(err));
        if (text != NULL) {
            free(g.scrape_before);
            g.scrape_before = text;
        }
    }
    g.phase = PH_RUN;
    g.t_run = now_us();
    g.t_deadline = g.t_run + (uint64_t)(g.args.duration_s * 1e6);
    evtimer_del(g.tick_ev);
    struct timeval sec = {1, 0};
    event_add(g.tick_ev, &sec);
    timer_in(g.phase_ev, g.t_deadline - g.t_run);
    if (g.args.idle)
        return;
    if (g.args.rate > 0) {
        arrivals_init(&g.arrivals, g.args.rate, g.res.seed);
        timer_in(g.arrival_ev, arrivals_peek(&g.arrivals));
        return;
    }
    for (int i = 0; i < g.res.nlanes; i++) {
        struct client *c;
        while ((c = q_pop(&g.lq[i].idle)) != NULL)
            start_tx(c, now_us());
    }
}

/* The deadline: no new transactions; those in flight may finish (up to DRAIN_CAP_S). */
static void begin_drain(void)
{
    g.phase = PH_DRAIN;
    g.t_drain = now_us();
    evtimer_del(g.arrival_ev);
    if (g.busy == 0) {
        finish_run();
        return;
    }
    timer_in(g.phase_ev, (uint64_t)(DRAIN_CAP_S * 1e6));
}

static void finish_run(void)
{
    if (g.phase == PH_DONE)
        return;
    uint64_t now = now_us();
    if (g.t_run != 0) {
        uint64_t end = now < g.t_deadline ? now : g.t_deadline;
        g.res.workload_s = (double)(end - g.t_run) / 1e6;
        g.res.drain_s = g.t_drain ? (double)(now - g.t_drain) / 1e6 : 0;
        /* the last, partial second: a point of its own when long enough to give a rate, else its
         * counts go to the previous point */
        double t = since_s(g.t_run);
        const struct series *s = &g.res.total.series;
        if (s->n > 0 && t - s->p[s->n - 1].t_s < 0.25)
            fold_into_last();
        else if (g.res.total.interval.total > 0 || g.res.total.interval_errors > 0)
            fold_second(t);
    }
    for (unsigned i = 0; i < g.args.clients; i++)
        if (g.clients[i].state == CS_BUSY) {
            lane_of(&g.clients[i])->unfinished++;
            g.res.total.unfinished++;
        }
    g.res.queued_at_end = g.queued;
    stop_loop();
}

static void on_phase_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    switch (g.phase) {
    case PH_CONNECT:
        cap_connect_phase();
        break;
    case PH_RUN:
        begin_drain();
        break;
    case PH_DRAIN:
        finish_run();
        break;
    default:
        break;
    }
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    (void)arg;
    g.res.interrupted = (int)sig;
    progress_end();
    fprintf(stderr, "wedpool-bench: %s: stopping, partial results follow\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    if (g.phase == PH_CONNECT)
        connect_phase_figures();
    finish_run();
}

/* ------------------------------------------------------------------------------------------ */
/* setup */

static bool dsn_sets(const char *keyword)
{
    for (PQconninfoOption *o = g.conninfo; o->keyword; o++)
        if (strcmp(o->keyword, keyword) == 0)
            return o->val != NULL;
    return false;
}

/* Keywords and values for PQconnectStartParams: the DSN's, then application_name per lane.
 * SSL and GSS encryption are off unless the DSN or the environment asks for them (each would cost
 * every login a round trip, GSS a credential-cache lookup). */
static void build_conn_params(void)
{
    char *err = NULL;
    g.conninfo = PQconninfoParse(g.args.dsn, &err);
    if (g.conninfo == NULL) {
        fprintf(stderr, "wedpool-bench: --dsn: %s", err ? err : "out of memory\n");
        PQfreemem(err);
        exit(2);
    }
    size_t n = 0;
    for (PQconninfoOption *o = g.conninfo; o->keyword; o++)
        n++;
    g.keywords = xcalloc(n + 4, sizeof(*g.keywords));
    g.values = xcalloc((size_t)g.res.nlanes + 1, sizeof(*g.values));
    for (int l = 0; l <= g.res.nlanes; l++)
        g.values[l] = xcalloc(n + 4, sizeof(**g.values));
    size_t k = 0;
    for (PQconninfoOption *o = g.conninfo; o->keyword; o++) {
        if (o->val == NULL || strcmp(o->keyword, "application_name") == 0)
            continue;
        g.keywords[k] = o->keyword;
        for (int l = 0; l <= g.res.nlanes; l++)
            g.values[l][k] = o->val;
        k++;
    }
    const char *extra[][3] = {{"sslmode", "PGSSLMODE", "disable"}, {"gssencmode", "PGGSSENCMODE", "disable"}};
    for (size_t e = 0; e < sizeof(extra) / sizeof(extra[0]); e++) {
        if (dsn_sets(extra[e][0]) || getenv(extra[e][1]) != NULL)
            continue;
        g.keywords[k] = extra[e][0];
        for (int l = 0; l <= g.res.nlanes; l++)
            g.values[l][k] = extra[e][2];
        k++;
    }
    g.keywords[k] = "application_name";
    for (int l = 0; l < g.res.nlanes; l++)
        g.values[l][k] = g.res.lanes[l].application_name;
    g.values[g.res.nlanes][k] = "wpbench-setup";
    k++;
    g.keywords[k] = NULL;
    /* the redacted target for the report */
    size_t len = 0;
    for (PQconninfoOption *o = g.conninfo; o->keyword; o++)
        if (o->val != NULL && strcmp(o->keyword, "password") != 0 && len < sizeof(g.res.target) - 1)
            len += (size_t)snprintf(g.res.target + len, sizeof(g.res.target) - len, "%s%s=%s", len ? " " : "",
                                    o->keyword, o->val);
    if (len == 0)
        snprintf(g.res.target, sizeof(g.res.target), "(libpq defaults)");
}

static PGresult *setup_exec(PGconn *conn, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return r;
    const char *code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    snprintf(err, errlen, "%s: %s%s%s%s", sql, PQresultErrorMessage(r), code ? "(SQLSTATE " : "", code ? code : "",
             code ? ")" : "");
    PQclear(r);
    return NULL;
}

static int setup_init(PGconn *conn, char *err, size_t errlen)
{
    char insert[256];
    snprintf(insert, sizeof(insert),
             "INSERT INTO wpbench_accounts (aid, abalance, filler) SELECT g, 0, '' FROM generate_series(1, %llu) g",
             (unsigned long long)g.args.rows);
    const char *steps[] = {
        "DROP TABLE IF EXISTS wpbench_accounts",
        "CREATE TABLE wpbench_accounts (aid int PRIMARY KEY, abalance int NOT NULL DEFAULT 0, filler char(84))",
        insert,
        "ANALYZE wpbench_accounts",
    };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        PGresult *r = setup_exec(conn, steps[i], err, errlen);
        if (r == NULL)
            return -1;
        PQclear(r);
    }
    return 0;
}

/* The default workload reads wpbench_accounts: it must exist; without --rows its size sets the
 * :aid range. */
static int setup_check_table(PGconn *conn, char *err, size_t errlen)
{
    PGresult *r = setup_exec(conn, "SELECT max(aid) FROM wpbench_accounts", err, errlen);
    if (r == NULL) {
        size_t n = strlen(err);
        snprintf(err + n, errlen - n, " -- run once with --init (and --rows N) to create it");
        return -1;
    }
    if (!g.args.rows_given) {
        if (PQgetisnull(r, 0, 0)) {
            PQclear(r);
            snprintf(err, errlen, "wpbench_accounts is empty: run with --init");
            return -1;
        }
        g.res.rows = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
    }
    PQclear(r);
    return 0;
}

/* --login raw: the target, resolved once. A DSN that requires SSL, GSS encryption or channel
 * binding goes to libpq instead, unless --login raw was given (then it is an argument error).
 * Returns the exit status, 0 to go on. */
static int raw_setup(void)
{
    if (g.args.login != LOGIN_RAW)
        return 0;
    char err[512];
    int rc = raw_target_resolve(g.args.dsn, &g.raw_target, err, sizeof(err));
    if (rc == -2 && !g.args.login_given) {
        g.args.login = LOGIN_LIBPQ;
        return 0;
    }
    if (rc == -2) {
        fprintf(stderr, "wedpool-bench: --login raw: %s (use --login libpq)\n", err);
        return 2;
    }
    if (rc != 0) {
        fprintf(stderr, "wedpool-bench: cannot connect to %s: %s\n", g.res.target, err);
        return 1;
    }
    return 0;
}

/* One blocking connection before the loop: the target answers, --init, the table check. Not with
 * --login raw (unless --init): the clients' own logins check the target, and their failures are
 * counted with the server's SQLSTATE (not one logging in is a setup failure). */
static int setup(char *database, size_t dblen)
{
    if (g.args.login == LOGIN_RAW && !g.args.init) {
        snprintf(database, dblen, "%s", g.raw_target.dbname);
        return 0;
    }
    char err[1024];
    size_t k = 0;
    while (g.keywords[k])
        k++;
    /* a connect timeout for this blocking connection, unless the DSN has one */
    const char **kw = xcalloc(k + 2, sizeof(*kw)), **vals = xcalloc(k + 2, sizeof(*vals));
    memcpy(kw, g.keywords, k * sizeof(*kw));
    memcpy(vals, g.values[g.res.nlanes], k * sizeof(*vals));
    if (!dsn_sets("connect_timeout") && getenv("PGCONNECT_TIMEOUT") == NULL) {
        kw[k] = "connect_timeout";
        vals[k] = SETUP_CONNECT_TIMEOUT;
    }
    PGconn *conn = PQconnectdbParams(kw, vals, 0);
    free(kw);
    free(vals);
    if (conn == NULL)
        die_oom();
    PQsetNoticeProcessor(conn, quiet_notices, NULL);
    int rc = 0;
    if (PQstatus(conn) != CONNECTION_OK) {
        char *m = PQerrorMessage(conn);
        size_t n = strlen(m);
        while (n > 0 && m[n - 1] == '\n')
            m[--n] = '\0';
        fprintf(stderr, "wedpool-bench: cannot connect to %s: %s\n", g.res.target, m);
        rc = -1;
    } else {
        snprintf(database, dblen, "%s", PQdb(conn));
        const char *v = PQparameterStatus(conn, "server_version");
        snprintf(g.res.server_version, sizeof(g.res.server_version), "%s", v ? v : "");
        bool default_sql = !g.args.sql_given && g.args.nscript == 0;
        if (g.args.init) {
            if (!g.args.quiet)
                fprintf(stderr, "wedpool-bench: --init: creating wpbench_accounts with %llu rows\n",
                        (unsigned long long)g.args.rows);
            if (setup_init(conn, err, sizeof(err)) != 0) {
                fprintf(stderr, "wedpool-bench: --init failed: %s\n", err);
                rc = -1;
            }
        } else if (default_sql && !g.args.idle && g.args.duration_s > 0 &&
                   setup_check_table(conn, err, sizeof(err)) != 0) {
            fprintf(stderr, "wedpool-bench: %s\n", err);
            rc = -1;
        }
    }
    PQfinish(conn);
    return rc;
}

static int raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < (rlim_t)g.args.clients + FD_RESERVE) {
        fprintf(stderr, "wedpool-bench: %u clients need %u open files, but the limit is %llu (ulimit -Hn)\n",
                g.args.clients, g.args.clients + FD_RESERVE, (unsigned long long)rl.rlim_cur);
        return -1;
    }
    return 0;
}

static void init_lanes(void)
{
    struct bench_args *a = &g.args;
    g.res.nlanes = a->nlanes;
    g.res.lanes = xcalloc((size_t)a->nlanes, sizeof(*g.res.lanes));
    unsigned pct[ARGS_MAX_LANES], counts[ARGS_MAX_LANES];
    for (int i = 0; i < a->nlanes; i++)
        pct[i] = a->lanes[i].pct;
    lanes_split(pct, a->nlanes, a->clients, counts);
    int *lane = xcalloc(a->clients, sizeof(*lane));
    lanes_assign(counts, a->nlanes, a->clients, lane);
    for (int i = 0; i < a->nlanes; i++) {
        struct lane_result *l = &g.res.lanes[i];
        snprintf(l->name, sizeof(l->name), "%s", a->lanes[i].name);
        snprintf(l->application_name, sizeof(l->application_name), "wpbench-%s", a->lanes[i].name);
        l->pct = a->lanes[i].pct;
        l->clients = counts[i];
    }
    snprintf(g.res.total.name, sizeof(g.res.total.name), "total");
    g.res.total.pct = 100;
    g.res.total.clients = a->clients;
    g.lq = xcalloc((size_t)a->nlanes, sizeof(*g.lq));
    g.clients = xcalloc(a->clients, sizeof(*g.clients));
    for (unsigned i = 0; i < a->clients; i++) {
        g.clients[i].id = i;
        g.clients[i].lane = lane[i];
        g.clients[i].ev_fd = -1;
    }
    free(lane);
}

static void utc_now(char *out, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static struct event *must(struct event *ev)
{
    if (ev == NULL)
        die_oom();
    return ev;
}

static void run_loop(void)
{
    /* Precise timers (timerfd with epoll): the arrival schedule must not lag by epoll's
     * millisecond rounding. */
    struct event_config *cfg = event_config_new();
    if (cfg == NULL)
        die_oom();
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    g.base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (g.base == NULL)
        die_oom();
    g.tick_ev = must(event_new(g.base, -1, EV_PERSIST, on_tick, NULL));
    g.pace_ev = must(evtimer_new(g.base, on_pace, NULL));
    g.phase_ev = must(evtimer_new(g.base, on_phase_timer, NULL));
    g.arrival_ev = must(evtimer_new(g.base, on_arrival, NULL));
    g.sigint_ev = must(evsignal_new(g.base, SIGINT, on_signal, NULL));
    g.sigterm_ev = must(evsignal_new(g.base, SIGTERM, on_signal, NULL));
    evsignal_add(g.sigint_ev, NULL);
    evsignal_add(g.sigterm_ev, NULL);

    g.phase = PH_CONNECT;
    g.t_connect = g.tokens_at = now_us();
    g.cpu_connect = cpu_s();
    g.tokens = 1;
    double cap = g.args.connect_timeout_s;
    if (cap <= 0)
        cap = 60.0 + g.args.clients / (g.args.connect_rate > 0 ? g.args.connect_rate : 100.0);
    g.res.connect_cap_s = cap;
    timer_in(g.phase_ev, (uint64_t)(cap * 1e6));
    struct timeval sec = {1, 0};
    event_add(g.tick_ev, &sec);
    for (unsigned i = 0; i < g.args.clients; i++) {
        g.clients[i].state = CS_PENDING;
        q_push(&g.pending, &g.clients[i]);
    }
    pump_connects();
    if (g.phase != PH_DONE)
        event_base_dispatch(g.base);
    progress_end();
}

static void cleanup(void)
{
    for (unsigned i = 0; g.clients && i < g.args.clients; i++) {
        close_conn(&g.clients[i]);
        if (g.clients[i].timer)
            event_free(g.clients[i].timer);
    }
    struct event *evs[] = {g.tick_ev, g.pace_ev, g.phase_ev, g.arrival_ev, g.sigint_ev, g.sigterm_ev};
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
        if (evs[i])
            event_free(evs[i]);
    if (g.base)
        event_base_free(g.base);
    for (size_t i = 0; i < g.nbody; i++)
        free(g.body[i].numbered);
    free(g.body);
    free(g.render);
    free(g.clients);
    for (int i = 0; g.lq && i < g.res.nlanes; i++)
        free(g.lq[i].backlog);
    free(g.lq);
    free(g.scrape_before);
    if (g.values)
        for (int l = 0; l <= g.res.nlanes; l++)
            free(g.values[l]);
    free(g.values);
    free(g.keywords);
    if (g.conninfo)
        PQconninfoFree(g.conninfo);
    raw_target_free(&g.raw_target);
    for (int i = 0; i < g.res.nlanes; i++)
        lane_free(&g.res.lanes[i]);
    lane_free(&g.res.total);
    free(g.res.lanes);
    args_free(&g.args);
}

static const char *mode_name(void)
{
    if (g.args.idle)
        return "idle";
    if (g.args.duration_s <= 0)
        return "connect";
    return g.args.rate > 0 ? "open" : "closed";
}

/* The pooler's acquisition percentiles between the scrapes. */
static void measure_acquisition(const char *database)
{
    struct acq_result *acq = &g.res.acq;
    if (!g.args.metrics_url) {
        snprintf(acq->reason, sizeof(acq->reason), "no --metrics-url");
        return;
    }
    g.res.acq_requested = 1;
    char err[256];
    char *after = scrape_fetch(g.args.metrics_url, getenv("WPBENCH_METRICS_TOKEN"), SCRAPE_TIMEOUT_S, err,
                               sizeof(err));
    if (after == NULL) {
        snprintf(acq->reason, sizeof(acq->reason), "cannot fetch %.100s after the run: %.120s", g.args.metrics_url,
                 err);
        return;
    }
    scrape_acquisition(g.scrape_before, after, database, acq);
    free(after);
}

int main(int argc, char **argv)
{
    char err[512];
    if (args_parse(argc, argv, &g.args, err, sizeof(err)) != 0) {
        fprintf(stderr, "wedpool-bench: %s\n", err);
        args_free(&g.args);
        return 2;
    }
    if (g.args.action == ARGS_HELP) {
        fputs(args_usage(), stdout);
        return 0;
    }
    if (g.args.action == ARGS_VERSION) {
        printf("wedpool-bench %s\n", WEDPOOL_VERSION);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    g.tty = isatty(STDERR_FILENO);
    g.progress = !g.args.quiet && (g.args.progress == 1 || (g.args.progress == -1 && g.tty));
    g.res.args = &g.args;
    g.res.seed = g.args.seed_given ? g.args.seed : ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid();
    g.res.rows = g.args.rows;
    g.res.mode = mode_name();
    utc_now(g.res.started_at, sizeof(g.res.started_at));
    rng_seed(&g.rng, g.res.seed + 1);
    rng_seed(&g.lane_rng, g.res.seed + 2);
    init_lanes();
    build_conn_params();
    workload_init();
    curl_global_init(CURL_GLOBAL_DEFAULT);

    char database[SCRAPE_NAME] = "";
    int status = raw_setup();
    if (status != 0)
        goto out;
    if (raise_fd_limit() != 0 || setup(database, sizeof(database)) != 0) {
        status = 1;
        goto out;
    }
    if (g.args.metrics_url) {
        g.scrape_before = scrape_fetch(g.args.metrics_url, getenv("WPBENCH_METRICS_TOKEN"), SCRAPE_TIMEOUT_S, err,
                                       sizeof(err));
        if (g.scrape_before == NULL) {
            fprintf(stderr, "wedpool-bench: --metrics-url %s: %s\n", g.args.metrics_url, err);
            status = 1;
            goto out;
        }
    }
    if (!g.args.quiet)
        fprintf(stderr, "wedpool-bench: %u clients (%s, %s login) against %s, seed %llu\n", g.args.clients,
                g.res.mode, args_login_name(g.args.login), g.res.target, (unsigned long long)g.res.seed);
    run_loop();
    if (g.setup_failed)
        status = 1;
    measure_acquisition(database);
    report_text(stdout, &g.res);
    fflush(stdout);
    if (g.args.json_path && report_json(g.args.json_path, &g.res, err, sizeof(err)) != 0) {
        fprintf(stderr, "wedpool-bench: --json: %s\n", err);
        status = status ? status : 1;
    }
    if (g.args.plot_path && report_svg(g.args.plot_path, &g.res, err, sizeof(err)) != 0) {
        fprintf(stderr, "wedpool-bench: --plot: %s\n", err);
        status = status ? status : 1;
    }
    if (g.res.interrupted && status == 0)
        status = 128 + g.res.interrupted;
out:
    cleanup();
    curl_global_cleanup();
    return status;
}
