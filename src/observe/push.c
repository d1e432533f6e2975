/* push.c — DogStatsD and OTLP/HTTP JSON exporters: build on the loop, send on the "push" outbox
 * (alert/outbox.h: one worker thread, a bounded queue, requests abandoned on shutdown). */
#include "push.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "outbox.h"
#include "pool.h"
#include "runtime.h"
#include "scaler.h"

#define QUEUE_LEN 32
#define DATAGRAM_MAX 1432 /* datadog-go's OptimalUDPPayloadSize: no fragmentation at MTU 1500 */
#define OTLP_ATTEMPTS 4

enum exporter { EXP_DOGSTATSD = 0, EXP_OTLP = 1, EXP_COUNT };
static const char *const exporter_names[EXP_COUNT] = {"dogstatsd", "otlp"};

struct payload {
    struct outbox_job job;
    enum exporter kind;
    char *data;
    size_t len;
};

static struct outbox *ob;

static _Atomic uint64_t sent[EXP_COUNT], failed[EXP_COUNT], dropped[EXP_COUNT], retried[EXP_COUNT];
static struct event tick;
static bool ticking;
static uint64_t start_unix_ns;
/* previous transaction totals per pool, for DogStatsD counts (deltas) */
static uint64_t prev_xacts_sum;

/* ---- worker side (no loop state touched here: only the payload and the config strings copied) ---- */

static char dd_addr[256];
static char otlp_url[512];
static char otlp_hdrs[1024];
static int dd_fd = -1;
static struct sockaddr_storage dd_sa;
static socklen_t dd_salen;

static void send_dogstatsd(const struct payload *p)
{
    /* one payload = lines already packed into datagrams separated by '\0' */
    const char *d = p->data;
    const char *end = p->data + p->len;
    while (d < end) {
        size_t n = strlen(d);
        if (n > 0 && sendto(dd_fd, d, n, MSG_DONTWAIT, (struct sockaddr *)&dd_sa, dd_salen) < 0)
            atomic_fetch_add(&failed[EXP_DOGSTATSD], 1);
        else
            atomic_fetch_add(&sent[EXP_DOGSTATSD], 1);
        d += n + 1;
    }
}

static void send_otlp(struct outbox *box, const struct payload *p)
{
    struct wire_request *rq = calloc(1, sizeof(*rq));
    if (rq == NULL) {
        atomic_fetch_add(&failed[EXP_OTLP], 1);
        return;
    }
    snprintf(rq->url, sizeof(rq->url), "%s", otlp_url);
    snprintf(rq->headers[rq->nheaders++], sizeof(rq->headers[0]), "Content-Type: application/json");
    /* otlp_headers = "api-key=KEY, other=value" */
    char copy[sizeof(otlp_hdrs)];
    snprintf(copy, sizeof(copy), "%s", otlp_hdrs);
    char *save = NULL;
    for (char *kv = strtok_r(copy, ",", &save); kv != NULL && rq->nheaders < WIRE_HEADERS_MAX;
         kv = strtok_r(NULL, ",", &save)) {
        while (*kv == ' ')
            kv++;
        char *eq = strchr(kv, '=');
        if (eq == NULL)
            continue;
        *eq = '\0';
        snprintf(rq->headers[rq->nheaders++], sizeof(rq->headers[0]), "%.200s: %.390s", kv, eq + 1);
    }
    rq->body = p->data; /* borrowed: the job frees it */
    rq->body_len = p->len;
    long delay_ms = 500;
    bool ok = false;
    for (int attempt = 1; attempt <= OTLP_ATTEMPTS; attempt++) {
        struct outbox_http h;
        outbox_http(box, rq, 5000, &h);
        if (h.curl_code == 0 && h.status >= 200 && h.status < 300) {
            ok = true;
            break;
        }
        /* Only 429, 502, 503, 504 (and no answer at all) are worth another try. */
        bool retryable = h.curl_code != 0 || h.status == 429 || h.status == 502 || h.status == 503 || h.status == 504;
        if (!retryable || attempt == OTLP_ATTEMPTS || outbox_stopping(box)) {
            log_warn("OTLP export to %s failed: %s (HTTP %ld)%s", otlp_url, h.curl_code != 0 ? h.error : "rejected",
                     h.status, retryable ? ", giving up" : "");
            break;
        }
        atomic_fetch_add(&retried[EXP_OTLP], 1);
        long wait_ms = h.retry_after_s >= 0 && h.retry_after_s <= 30 ? h.retry_after_s * 1000 : delay_ms;
        wait_ms += (long)(random_u32() % 100); /* jitter */
        if (!outbox_wait(box, wait_ms))
            break;
        delay_ms *= 2;
    }
    atomic_fetch_add(ok ? &sent[EXP_OTLP] : &failed[EXP_OTLP], 1);
    free(rq);
}

static void run_payload(struct outbox *box, struct outbox_job *job)
{
    struct payload *p = (struct payload *)job;
    if (p->kind == EXP_DOGSTATSD)
        send_dogstatsd(p);
    else
        send_otlp(box, p);
    free(p->data);
    free(p);
}

static void discard_payload(struct outbox_job *job)
{
    struct payload *p = (struct payload *)job;
    free(p->data);
    free(p);
}

/* ---- loop side ---- */

static void enqueue(enum exporter kind, char *data, size_t len)
{
    struct payload *p = malloc(sizeof(*p));
    if (p != NULL) {
        *p = (struct payload){.job = {.run = run_payload, .discard = discard_payload}, .kind = kind, .data = data,
                              .len = len};
        if (outbox_post(ob, &p->job))
            return;
    }
    atomic_fetch_add(&dropped[kind], 1);
    free(data);
    free(p);
}

/* Packs DogStatsD lines into datagrams of at most DATAGRAM_MAX bytes, separated by '\0'. */
struct packer {
    struct pbuf buf;
    size_t dgram_len;
};

static void pack_line(struct packer *pk, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void pack_line(struct packer *pk, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n <= 0 || (size_t)n >= sizeof(line))
        return;
    if (pk->dgram_len > 0 && pk->dgram_len + 1 + (size_t)n > DATAGRAM_MAX) {
        pbuf_put_u8(&pk->buf, 0);
        pk->dgram_len = 0;
    }
    if (pk->dgram_len > 0) {
        pbuf_put_u8(&pk->buf, '\n');
        pk->dgram_len++;
    }
    pbuf_put(&pk->buf, line, (size_t)n);
    pk->dgram_len += (size_t)n;
}

/* DogStatsD tag values: no ',', '|', '#' or spaces. */
static void tagsafe(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    for (; *in && n + 1 < cap; in++)
        out[n++] = (*in == ',' || *in == '|' || *in == '#' || *in == ' ' || *in == '\n') ? '_' : *in;
    out[n] = '\0';
}

static double utilization_pct(const struct pool *p)
{
    return p->max_size ? 100.0 * p->n_active / p->max_size : 0;
}

static void build_dogstatsd(void)
{
    struct packer pk;
    memset(&pk, 0, sizeof(pk));
    char env[128], db[WP_NAME_MAX], user[WP_NAME_MAX], lane[LANE_NAME_MAX];
    tagsafe(rt.cfg.environment, env, sizeof(env));
    /* the wedding tags come from the calendar's current context (scaler.c) */
    const struct wedding_context *wx = scaler_context();
    const char *wd = wx->wedding_day ? "true" : "false";
    uint64_t xsum = 0;
    struct dlist *pos;
    for (pos = pool_all()->next; pos != pool_all(); pos = pos->next) {
        const struct pool *p = container_of(pos, struct pool, node);
        tagsafe(p->name, db, sizeof(db));
        tagsafe(p->user, user, sizeof(user));
        char tags[512];
        snprintf(tags, sizeof(tags), "pool_name:%s/%s,database:%s,wedding_day:%s,active_weddings:%d,environment:%s", db,
                 user, db, wd, wx->active_weddings, env);
        /* PERCENT of effective_max_pool_size, as seed 000's utilizationPercent (85, not 0.85), so a
         * DataDog monitor written for the seed's metric ("above 85") fires */
        pack_line(&pk, "wedsync.database.pool.utilization:%.1f|g|#%s", utilization_pct(p), tags);
        pack_line(&pk, "wedsync.database.pool.active:%d|g|#%s", p->n_active, tags);
        pack_line(&pk, "wedsync.database.pool.idle:%d|g|#%s", p->n_idle, tags);
        pack_line(&pk, "wedsync.database.pool.waiting:%d|g|#%s", p->n_waiting, tags);
        pack_line(&pk, "wedsync.database.pool.max:%d|g|#%s", p->max_size, tags);
        pack_line(&pk, "wedsync.database.pool.reserve_in_use:%d|g|#%s", p->n_reserve_active, tags);
        xsum += p->stats.xact_count;
        for (int i = 0; i < rt.cfg.lanes.nlanes; i++) {
            tagsafe(rt.cfg.lanes.lanes[i].name, lane, sizeof(lane));
            pack_line(&pk, "wedsync.database.pool.lane.active:%d|g|#%s,lane:%s", p->lanes[i].n_active, tags, lane);
            pack_line(&pk, "wedsync.database.pool.lane.waiting:%d|g|#%s,lane:%s", p->lanes[i].n_waiting, tags, lane);
        }
    }
    char tags[256];
    snprintf(tags, sizeof(tags), "wedding_day:%s,active_weddings:%d,environment:%s", wd, wx->active_weddings, env);
    pack_line(&pk, "wedsync.database.pool.transactions:%llu|c|#%s",
              (unsigned long long)(xsum >= prev_xacts_sum ? xsum - prev_xacts_sum : xsum), tags);
    prev_xacts_sum = xsum;
    pbuf_put_u8(&pk.buf, 0);
    if (pk.buf.failed) {
        pbuf_free(&pk.buf);
        return;
    }
    enqueue(EXP_DOGSTATSD, (char *)pk.buf.data, pk.buf.len); /* the worker frees it */
}

static json_t *attr(const char *key, const char *value)
{
    return json_pack("{s:s, s:{s:s}}", "key", key, "value", "stringValue", value);
}

static json_t *point(double value, bool is_int, uint64_t now_ns, bool sum, json_t *attrs)
{
    char ts[32], st[32], iv[32];
    snprintf(ts, sizeof(ts), "%llu", (unsigned long long)now_ns);
    json_t *pt = json_pack("{s:s, s:o}", "timeUnixNano", ts, "attributes", attrs);
    if (sum) {
        snprintf(st, sizeof(st), "%llu", (unsigned long long)start_unix_ns);
        json_object_set_new(pt, "startTimeUnixNano", json_string(st));
    }
    if (is_int) {
        snprintf(iv, sizeof(iv), "%lld", (long long)value);
        json_object_set_new(pt, "asInt", json_string(iv));
    } else {
        json_object_set_new(pt, "asDouble", json_real(value));
    }
    return pt;
}

static void add_metric(json_t *metrics, const char *name, const char *unit, bool sum, json_t *points)
{
    json_t *m = json_pack("{s:s, s:s}", "name", name, "unit", unit);
    if (sum)
        json_object_set_new(m, "sum", json_pack("{s:i, s:b, s:o}", "aggregationTemporality", 2, "isMonotonic", 1,
                                                "dataPoints", points));
    else
        json_object_set_new(m, "gauge", json_pack("{s:o}", "dataPoints", points));
    json_array_append_new(metrics, m);
}

static void build_otlp(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t now_ns = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
    static const struct {
        const char *name, *unit;
        bool sum, is_int;
        int field;
    } defs[] = {
        {"wedsync.database.pool.utilization", "%", false, false, 0},
        {"db_pool_active_connections", "{connection}", false, true, 1},
        {"db_pool_idle_connections", "{connection}", false, true, 2},
        {"db_pool_waiting_connections", "{connection}", false, true, 3},
        {"db_pool_max_connections", "{connection}", false, true, 4},
        {"wedpool.reserve_in_use", "{connection}", false, true, 5},
        {"wedpool.transactions", "{transaction}", true, true, 6},
        {"wedpool.queries", "{query}", true, true, 7},
        {"wedpool.acquire_timeouts", "{client}", true, true, 8},
    };
    json_t *metrics = json_array();
    for (size_t d = 0; d < sizeof(defs) / sizeof(defs[0]); d++) {
        json_t *points = json_array();
        struct dlist *pos;
        for (pos = pool_all()->next; pos != pool_all(); pos = pos->next) {
            const struct pool *p = container_of(pos, struct pool, node);
            double v = 0;
            switch (defs[d].field) {
            case 0: v = utilization_pct(p); break;
            case 1: v = p->n_active; break;
            case 2: v = p->n_idle; break;
            case 3: v = p->n_waiting; break;
            case 4: v = p->max_size; break;
            case 5: v = p->n_reserve_active; break;
            case 6: v = (double)p->stats.xact_count; break;
            case 7: v = (double)p->stats.query_count; break;
            default: v = (double)p->stats.acquire_timeouts; break;
            }
            char pool_name[WP_NAME_MAX * 2 + 2];
            snprintf(pool_name, sizeof(pool_name), "%s/%s", p->name, p->user);
            json_t *attrs = json_array();
            json_array_append_new(attrs, attr("pool_name", pool_name));
            json_array_append_new(attrs, attr("database", p->name));
            json_array_append_new(attrs, attr("user", p->user));
            json_array_append_new(attrs, attr("wedding_day", scaler_context()->wedding_day ? "true" : "false"));
            char aw[16];
            snprintf(aw, sizeof(aw), "%d", scaler_context()->active_weddings);
            json_array_append_new(attrs, attr("active_weddings", aw));
            json_array_append_new(attrs, attr("environment", rt.cfg.environment));
            json_array_append_new(points, point(v, defs[d].is_int, now_ns, defs[d].sum, attrs));
        }
        add_metric(metrics, defs[d].name, defs[d].unit, defs[d].sum, points);
    }
    json_t *doc = json_pack(
        "{s:[{s:{s:[o,o]}, s:[{s:{s:s, s:s}, s:o}]}]}", "resourceMetrics", "resource", "attributes",
        attr("service.name", "wedpool"), attr("deployment.environment", rt.cfg.environment), "scopeMetrics", "scope",
        "name", "wedpool", "version", WEDPOOL_VERSION, "metrics", metrics);
    char *body = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (body == NULL) {
        atomic_fetch_add(&failed[EXP_OTLP], 1);
        return;
    }
    enqueue(EXP_OTLP, body, strlen(body));
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    if (dd_fd >= 0)
        build_dogstatsd();
    if (otlp_url[0] != '\0')
        build_otlp();
}

static bool resolve_dogstatsd(const char *addr)
{
    char host[256];
    const char *colon = strrchr(addr, ':');
    if (colon == NULL || (size_t)(colon - addr) >= sizeof(host)) {
        log_error("dogstatsd_addr \"%s\": expected host:port", addr);
        return false;
    }
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_DGRAM;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || res == NULL) {
        log_error("dogstatsd_addr \"%s\": cannot resolve", addr);
        return false;
    }
    memcpy(&dd_sa, res->ai_addr, res->ai_addrlen);
    dd_salen = res->ai_addrlen;
    dd_fd = socket(res->ai_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    freeaddrinfo(res);
    return dd_fd >= 0;
}

bool push_start(void)
{
    snprintf(dd_addr, sizeof(dd_addr), "%s", rt.cfg.dogstatsd_addr);
    snprintf(otlp_url, sizeof(otlp_url), "%s", rt.cfg.otlp_endpoint);
    snprintf(otlp_hdrs, sizeof(otlp_hdrs), "%s", rt.cfg.otlp_headers);
    if (dd_addr[0] == '\0' && otlp_url[0] == '\0')
        return true;
    if (dd_addr[0] != '\0' && !resolve_dogstatsd(dd_addr))
        return false;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    start_unix_ns = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
    if (otlp_url[0] != '\0')
        curl_global_init(CURL_GLOBAL_DEFAULT);
    char err[256];
    ob = outbox_start("push", QUEUE_LEN, err, sizeof(err));
    if (ob == NULL) {
        log_error("cannot start the push exporters: %s", err);
        return false;
    }
    struct timeval tv = {rt.cfg.push_interval_s, 0};
    event_assign(&tick, loop_base(), -1, EV_PERSIST, on_tick, NULL);
    event_add(&tick, &tv);
    ticking = true;
    log_info("push exporters: %s%s%s every %d s", dd_addr[0] ? "DogStatsD to " : "", dd_addr,
             otlp_url[0] ? (dd_addr[0] ? ", OTLP" : "OTLP") : "", rt.cfg.push_interval_s);
    return true;
}

void push_stop(void)
{
    if (ticking)
        event_del(&tick);
    ticking = false;
    if (ob != NULL) {
        outbox_free(ob); /* a request in flight is abandoned; queued payloads are dropped */
        ob = NULL;
        if (otlp_url[0] != '\0')
            curl_global_cleanup();
    }
    if (dd_fd >= 0)
        close(dd_fd);
    dd_fd = -1;
}

void push_prometheus(struct pbuf *b)
{
    static const char *const fams[][3] = {
        {"wedpool_push_sent_total", "counter", "Payloads (DogStatsD datagrams, OTLP requests) delivered."},
        {"wedpool_push_failed_total", "counter", "Payloads that could not be delivered."},
        {"wedpool_push_dropped_total", "counter", "Payloads dropped because the exporter queue was full."},
        {"wedpool_push_retries_total", "counter", "OTLP requests retried after 429/502/503/504."},
    };
    _Atomic uint64_t *arrays[] = {sent, failed, dropped, retried};
    for (size_t f = 0; f < 4; f++) {
        char line[256];
        int n = snprintf(line, sizeof(line), "# HELP %s %s\n# TYPE %s %s\n", fams[f][0], fams[f][2], fams[f][0],
                         fams[f][1]);
        pbuf_put(b, line, (size_t)n);
        for (int e = 0; e < EXP_COUNT; e++) {
            n = snprintf(line, sizeof(line), "%s{exporter=\"%s\"} %llu\n", fams[f][0], exporter_names[e],
                         (unsigned long long)atomic_load(&arrays[f][e]));
            pbuf_put(b, line, (size_t)n);
        }
    }
}
