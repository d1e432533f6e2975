/* channels.c — the [alert_channels]: rate limit on the loop, then each channel's outbox worker
 * formats, sends, retries and trips its circuit breaker; results come back through a waker. */
#include "channels.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "format.h"
#include "log.h"
#include "loop.h"
#include "outbox.h"
#include "proto.h"
#include "runtime.h"
#include "util.h"
#include "waker.h"

#define AM_FIRING_MAX 256       /* alerts an Alertmanager channel re-sends while firing */
#define RETRY_AFTER_MAX_S 600   /* a longer Retry-After is cut to this */

enum circuit { CIRCUIT_CLOSED, CIRCUIT_OPEN, CIRCUIT_HALF_OPEN };
static const char *const circuit_names[] = {"closed", "open", "half_open"};

struct channel {
    struct channel_conf conf;    /* immutable while the worker runs */
    struct outbox *ob;
    /* worker side */
    int consecutive_failures;
    uint64_t open_until_us;
    atomic_int circuit;          /* enum circuit; read by the loop */
    /* loop side */
    uint64_t *rate_ring;         /* monotonic µs of the last rate_limit_per_h accepted notices */
    int rate_head, rate_count;
    uint64_t results[ALERT_RESULT_COUNT];
    uint64_t latency_count;
    double latency_sum_s;
    bool failing;
    time_t failing_since;
    struct alert_notice *firing; /* alertmanager: re-sent every resend_s */
    int nfiring;
    struct event resend_ev;
    bool resend_armed;
    struct channel *next_retired;
};

struct delivery {
    struct outbox_job job;
    struct channel *ch;
    struct alert_notice n;
    uint64_t queued_us;
    bool resend;                 /* an Alertmanager re-send: no result */
};

struct result_node {
    struct result_node *next;
    struct channel *ch;
    struct channel_result r;
};

static struct {
    struct channel **ch;
    int n;
    struct channel *retired;
    struct waker waker;
    pthread_mutex_t mu;          /* results */
    struct result_node *head, *tail;
    channel_result_fn fn;
    void *fn_arg;
    char hostname[256];
    bool started;
} S = {.waker = WAKER_INIT, .mu = PTHREAD_MUTEX_INITIALIZER};

/* ---- results (any thread -> loop) ---- */

static void post_result(struct channel *ch, const struct channel_result *r)
{
    struct result_node *node = malloc(sizeof(*node));
    if (node == NULL)
        return; /* the rules side sees no answer; nothing better to do without memory */
    node->next = NULL;
    node->ch = ch;
    node->r = *r;
    pthread_mutex_lock(&S.mu);
    if (S.tail != NULL)
        S.tail->next = node;
    else
        S.head = node;
    S.tail = node;
    pthread_mutex_unlock(&S.mu);
    if (S.started)
        waker_wake(&S.waker);
}

static void result_init(struct channel_result *r, const struct channel *ch, const struct alert_notice *n,
                        enum alert_result res, uint64_t queued_us)
{
    memset(r, 0, sizeof(*r));
    r->channel = -1;
    snprintf(r->channel_name, sizeof(r->channel_name), "%s", ch->conf.name);
    snprintf(r->key, sizeof(r->key), "%s", n->key);
    r->notify_seq = n->notify_seq;
    r->resolved = n->resolved;
    r->test = n->test;
    r->severity = n->severity;
    r->result = res;
    r->latency_ms = queued_us ? (double)elapsed_us(now_us(), queued_us) / 1000.0 : 0;
}

/* ---- the worker: one notice, every request it needs, retries, circuit breaker ---- */

static long jittered(long ms)
{
    /* +-25 % so channels that failed together do not retry together */
    long span = ms / 2;
    return span > 0 ? ms - ms / 4 + (long)(random_u32() % (uint32_t)(span + 1)) : ms;
}

static void circuit_open(struct channel *ch)
{
    ch->open_until_us = now_us() + (uint64_t)ch->conf.circuit_open_s * 1000000u;
    if (atomic_exchange(&ch->circuit, CIRCUIT_OPEN) != CIRCUIT_OPEN)
        log_warn("alert channel %s: circuit breaker open after %d consecutive failed attempts; retrying in %d s",
                 ch->conf.name, ch->consecutive_failures, ch->conf.circuit_open_s);
}

/* Sends one request with retries; fills r (status, attempts, detail). Returns the verdict. */
static enum format_verdict send_one(struct outbox *ob, struct channel *ch, const struct wire_request *rq,
                                    bool trial, struct channel_result *r)
{
    long delay_ms = ch->conf.backoff_ms;
    for (int attempt = 0;; attempt++) {
        struct outbox_http h;
        outbox_http(ob, rq, ch->conf.timeout_ms, &h);
        r->attempts++;
        r->http_status = h.status;
        enum format_verdict v;
        if (h.curl_code == CURLE_OK)
            v = rq->smtp ? VERDICT_OK : format_classify_http(h.status);
        else if (h.curl_code == CURLE_LOGIN_DENIED || h.curl_code == CURLE_URL_MALFORMAT ||
                 h.curl_code == CURLE_UNSUPPORTED_PROTOCOL || h.curl_code == CURLE_USE_SSL_FAILED ||
                 (rq->smtp && h.status >= 500))
            v = VERDICT_FAIL; /* retrying would not change the answer */
        else
            v = VERDICT_RETRY;
        const char *who = rq->label[0] ? rq->label : "";
        if (h.curl_code != CURLE_OK)
            snprintf(r->detail, sizeof(r->detail), "%.40s%s%.180s (after %.0f ms)", who, who[0] ? ": " : "", h.error, h.ms);
        else
            snprintf(r->detail, sizeof(r->detail), "%.40s%s%s %ld%s%.120s", who, who[0] ? ": " : "",
                     rq->smtp ? "SMTP" : "HTTP", h.status, h.body[0] ? ": " : "", h.body);
        if (v == VERDICT_OK) {
            ch->consecutive_failures = 0;
            if (atomic_exchange(&ch->circuit, CIRCUIT_CLOSED) != CIRCUIT_CLOSED)
                log_info("alert channel %s: circuit breaker closed (delivery succeeded)", ch->conf.name);
            return v;
        }
        if (v == VERDICT_FAIL)
            return v; /* the endpoint answered: not a reason to open the circuit */
        ch->consecutive_failures++;
        if (trial || ch->consecutive_failures >= ch->conf.circuit_after) {
            circuit_open(ch);
            return VERDICT_FAIL;
        }
        if (attempt >= ch->conf.retries || outbox_stopping(ob))
            return VERDICT_FAIL;
        long wait_ms = jittered(delay_ms);
        if (h.retry_after_s >= 0) /* 429/503 with Retry-After: the service says when */
            wait_ms = (h.retry_after_s > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : h.retry_after_s) * 1000L;
        if (!outbox_wait(ob, wait_ms))
            return VERDICT_FAIL;
        if (delay_ms < 3600000L)
            delay_ms *= 2;
    }
}

static void deliver(struct outbox *ob, struct channel *ch, const struct alert_notice *n, uint64_t queued_us,
                    struct channel_result *r)
{
    result_init(r, ch, n, ALERT_SENT, queued_us);
    bool trial = false;
    if (atomic_load(&ch->circuit) != CIRCUIT_CLOSED) {
        if (now_us() < ch->open_until_us) {
            r->result = ALERT_DROPPED_CIRCUIT;
            snprintf(r->detail, sizeof(r->detail), "circuit breaker open for %.0f s more",
                     (double)(ch->open_until_us - now_us()) / 1e6);
            return;
        }
        atomic_store(&ch->circuit, CIRCUIT_HALF_OPEN); /* this notice is the trial */
        trial = true;
    }
    char host[256];
    snprintf(host, sizeof(host), "%s", S.hostname[0] ? S.hostname : "wedpool");
    struct format_env env = {.hostname = host, .now = time(NULL), .version = WEDPOOL_VERSION};
    int count = format_request_count(&ch->conf);
    int failed = 0;
    char first_failure[sizeof(r->detail)] = "";
    for (int i = 0; i < count; i++) {
        struct wire_request *rq = malloc(sizeof(*rq));
        if (rq == NULL || !format_request(&ch->conf, n, &env, i, rq)) {
            free(rq);
            failed++;
            snprintf(r->detail, sizeof(r->detail), "out of memory formatting the request");
            continue;
        }
        enum format_verdict v = send_one(ob, ch, rq, trial, r);
        wire_request_free(rq);
        memset(rq, 0, sizeof(*rq)); /* credentials */
        free(rq);
        if (v != VERDICT_OK) {
            failed++;
            if (first_failure[0] == '\0')
                snprintf(first_failure, sizeof(first_failure), "%s", r->detail);
            if (atomic_load(&ch->circuit) == CIRCUIT_OPEN || outbox_stopping(ob))
                break;
        }
    }
    if (failed > 0) {
        r->result = ALERT_FAILED;
        if (count > 1) {
            char d[sizeof(r->detail)];
            snprintf(d, sizeof(d), "%d of %d failed; %.200s", failed, count, first_failure);
            snprintf(r->detail, sizeof(r->detail), "%s", d);
        } else if (first_failure[0]) {
            snprintf(r->detail, sizeof(r->detail), "%s", first_failure);
        }
    }
    r->latency_ms = queued_us ? (double)elapsed_us(now_us(), queued_us) / 1000.0 : 0;
}

static void run_delivery(struct outbox *ob, struct outbox_job *job)
{
    struct delivery *d = (struct delivery *)job;
    struct channel_result r;
    deliver(ob, d->ch, &d->n, d->queued_us, &r);
    if (!d->resend)
        post_result(d->ch, &r);
    else if (r.result == ALERT_FAILED)
        log_debug("alert channel %s: re-send of %s failed: %s", d->ch->conf.name, d->n.key, r.detail);
    free(d);
}

static void discard_delivery(struct outbox_job *job)
{
    struct delivery *d = (struct delivery *)job;
    if (!d->resend) {
        struct channel_result r;
        result_init(&r, d->ch, &d->n, ALERT_FAILED, d->queued_us);
        snprintf(r.detail, sizeof(r.detail), "not sent: the channel was stopped (shutdown or reload)");
        post_result(d->ch, &r);
    }
    free(d);
}

/* ---- loop side ---- */

static int index_of(const struct channel *ch)
{
    for (int i = 0; i < S.n; i++)
        if (S.ch[i] == ch)
            return i;
    return -1;
}

static int index_by_name(const char *name)
{
    for (int i = 0; i < S.n; i++)
        if (strcmp(S.ch[i]->conf.name, name) == 0)
            return i;
    return -1;
}

static void reap_retired(bool wait)
{
    struct channel **pp = &S.retired;
    while (*pp != NULL) {
        struct channel *ch = *pp;
        if (wait || outbox_exited(ch->ob)) {
            *pp = ch->next_retired;
            outbox_free(ch->ob); /* joins; queued notices come back as failed results */
            ch->ob = NULL;
            free(ch->rate_ring);
            free(ch->firing);
            memset(&ch->conf, 0, sizeof(ch->conf));
            free(ch);
        } else {
            pp = &ch->next_retired;
        }
    }
}

static void on_results(void *arg)
{
    pthread_mutex_lock(&S.mu);
    struct result_node *list = S.head;
    S.head = S.tail = NULL;
    pthread_mutex_unlock(&S.mu);
    while (list != NULL) {
        struct result_node *node = list;
        list = node->next;
        struct channel_result *r = &node->r;
        int idx = index_of(node->ch);
        if (idx < 0)
            idx = index_by_name(r->channel_name);
        r->channel = idx;
        struct channel *ch = idx >= 0 ? S.ch[idx] : NULL;
        if (ch != NULL) {
            ch->results[r->result]++;
            if (r->result == ALERT_SENT) {
                ch->latency_count++;
                ch->latency_sum_s += r->latency_ms / 1000.0;
                ch->failing = false;
            } else if (r->result == ALERT_FAILED || r->result == ALERT_DROPPED_CIRCUIT) {
                if (!ch->failing)
                    ch->failing_since = clock_now();
                ch->failing = true;
            }
        }
        if (r->result == ALERT_SENT)
            log_info("alert %s (%s%s) sent to %s in %.0f ms: %s", r->key, r->resolved ? "resolved" : "",
                     r->resolved ? "" : alert_severity_name(r->severity), r->channel_name, r->latency_ms, r->detail);
        else if (S.fn == NULL) /* the rules side logs the failures it is told about (one line each) */
            log_warn("alert %s (%s%s) to %s: %s after %d attempt%s: %s", r->key, r->resolved ? "resolved" : "",
                     r->resolved ? "" : alert_severity_name(r->severity), r->channel_name, alert_result_name(r->result),
                     r->attempts, r->attempts == 1 ? "" : "s", r->detail);
        if (S.fn != NULL)
            S.fn(r, S.fn_arg);
        free(node);
    }
    reap_retired(false);
}

static void resend_firing(evutil_socket_t fd, short what, void *arg);

static void arm_resend(struct channel *ch)
{
    if (ch->conf.type != CH_ALERTMANAGER || ch->resend_armed)
        return;
    struct timeval tv = {ch->conf.resend_s, 0};
    event_assign(&ch->resend_ev, loop_base(), -1, EV_PERSIST, resend_firing, ch);
    event_add(&ch->resend_ev, &tv);
    ch->resend_armed = true;
}

static void disarm_resend(struct channel *ch)
{
    if (ch->resend_armed)
        event_del(&ch->resend_ev);
    ch->resend_armed = false;
}

static bool post_delivery(struct channel *ch, const struct alert_notice *n, bool resend)
{
    struct delivery *d = malloc(sizeof(*d));
    if (d == NULL)
        return false;
    d->job.run = run_delivery;
    d->job.discard = discard_delivery;
    d->ch = ch;
    d->n = *n;
    d->queued_us = now_us();
    d->resend = resend;
    if (!outbox_post(ch->ob, &d->job)) {
        free(d);
        return false;
    }
    return true;
}

static void resend_firing(evutil_socket_t fd, short what, void *arg)
{
    struct channel *ch = arg;
    for (int i = 0; i < ch->nfiring; i++)
        if (!post_delivery(ch, &ch->firing[i], true))
            break; /* queue full: the next round sends them */
}

/* Alertmanager: remembers what is firing (re-sent by the timer); a resolve reuses the labels of
 * the firing notice (its severity), so Alertmanager resolves that very alert. */
static void track_firing(struct channel *ch, struct alert_notice *n)
{
    int i;
    for (i = 0; i < ch->nfiring; i++)
        if (strcmp(ch->firing[i].key, n->key) == 0)
            break;
    if (n->resolved) {
        if (i < ch->nfiring) {
            n->severity = ch->firing[i].severity;
            if (n->started_at == 0)
                n->started_at = ch->firing[i].started_at;
            ch->firing[i] = ch->firing[--ch->nfiring];
        }
        return;
    }
    if (n->test && strncmp(n->key, "test:", 5) == 0)
        return; /* --test-alert's one-off notice; an ALERT TEST with its own key fires until resolved */
    if (i == ch->nfiring) {
        if (ch->nfiring == AM_FIRING_MAX)
            return;
        if (ch->firing == NULL && (ch->firing = calloc(AM_FIRING_MAX, sizeof(*ch->firing))) == NULL)
            return;
        ch->nfiring++;
    }
    ch->firing[i] = *n;
}

static void finish_now(struct channel *ch, const struct alert_notice *n, enum alert_result res, const char *detail)
{
    struct channel_result r;
    result_init(&r, ch, n, res, 0);
    snprintf(r.detail, sizeof(r.detail), "%s", detail);
    post_result(ch, &r);
}

/* The hour's window: true if one more notice may go (and records it). */
static bool rate_take(struct channel *ch)
{
    int cap = ch->conf.rate_limit_per_h;
    if (cap <= 0)
        return true;
    if (ch->rate_ring == NULL && (ch->rate_ring = calloc((size_t)cap, sizeof(uint64_t))) == NULL)
        return true;
    uint64_t now = now_us();
    while (ch->rate_count > 0 && now - ch->rate_ring[ch->rate_head] >= 3600ull * 1000000u) {
        ch->rate_head = (ch->rate_head + 1) % cap;
        ch->rate_count--;
    }
    if (ch->rate_count == cap)
        return false;
    ch->rate_ring[(ch->rate_head + ch->rate_count) % cap] = now;
    ch->rate_count++;
    return true;
}

void channels_send(int idx, const struct alert_notice *notice)
{
    if (idx < 0 || idx >= S.n)
        return;
    struct channel *ch = S.ch[idx];
    struct alert_notice n = *notice;
    if (ch->conf.type == CH_ALERTMANAGER)
        track_firing(ch, &n);
    /* EMERGENCY bypasses the limit (seed 001); so does a resolve, which closes what was sent */
    if (n.severity < SEV_EMERGENCY && !n.resolved && !rate_take(ch)) {
        char d[96];
        snprintf(d, sizeof(d), "rate limit of %d notifications an hour reached", ch->conf.rate_limit_per_h);
        finish_now(ch, &n, ALERT_DROPPED_RATE, d);
        return;
    }
    if (!post_delivery(ch, &n, false))
        finish_now(ch, &n, ALERT_DROPPED_QUEUE, "the channel's queue is full");
}

void channels_on_result(channel_result_fn fn, void *arg)
{
    S.fn = fn;
    S.fn_arg = arg;
}

static struct channel *channel_new(const struct channel_conf *conf, char *err, size_t errlen)
{
    struct channel *ch = calloc(1, sizeof(*ch));
    if (ch == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    memcpy(&ch->conf, conf, sizeof(ch->conf));
    char name[80];
    snprintf(name, sizeof(name), "alert channel %s", conf->name);
    ch->ob = outbox_start(name, conf->queue_len, err, errlen);
    if (ch->ob == NULL) {
        free(ch);
        return NULL;
    }
    return ch;
}

static void retire(struct channel *ch)
{
    disarm_resend(ch);
    outbox_signal_stop(ch->ob);
    ch->next_retired = S.retired;
    S.retired = ch;
}

/* Builds the channel set for list, keeping the channels of old whose line is unchanged. */
static bool build(const struct channel_conf_list *list, char *err, size_t errlen)
{
    struct channel **fresh = list->n > 0 ? calloc((size_t)list->n, sizeof(*fresh)) : NULL;
    if (list->n > 0 && fresh == NULL) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    int *kept_from = list->n > 0 ? calloc((size_t)list->n, sizeof(int)) : NULL; /* old index, or -1 */
    if (list->n > 0 && kept_from == NULL) {
        free(fresh);
        snprintf(err, errlen, "out of memory");
        return false;
    }
    for (int i = 0; i < list->n; i++) {
        kept_from[i] = -1;
        for (int j = 0; j < S.n; j++)
            if (S.ch[j] != NULL && memcmp(&S.ch[j]->conf, &list->ch[i], sizeof(list->ch[i])) == 0) {
                fresh[i] = S.ch[j];
                S.ch[j] = NULL;
                kept_from[i] = j;
                break;
            }
        if (fresh[i] == NULL && (fresh[i] = channel_new(&list->ch[i], err, errlen)) == NULL) {
            for (int k = 0; k < i; k++) { /* undo: the running set stays as it was */
                if (kept_from[k] >= 0)
                    S.ch[kept_from[k]] = fresh[k];
                else
                    retire(fresh[k]);
            }
            free(kept_from);
            free(fresh);
            return false;
        }
    }
    free(kept_from);
    for (int j = 0; j < S.n; j++)
        if (S.ch[j] != NULL) {
            /* a changed channel keeps its counters under the same name */
            for (int i = 0; i < list->n; i++)
                if (strcmp(fresh[i]->conf.name, S.ch[j]->conf.name) == 0 && fresh[i]->latency_count == 0) {
                    memcpy(fresh[i]->results, S.ch[j]->results, sizeof(fresh[i]->results));
                    fresh[i]->latency_count = S.ch[j]->latency_count;
                    fresh[i]->latency_sum_s = S.ch[j]->latency_sum_s;
                }
            retire(S.ch[j]);
        }
    free(S.ch);
    S.ch = fresh;
    S.n = list->n;
    for (int i = 0; i < S.n; i++)
        arm_resend(S.ch[i]);
    return true;
}

bool channels_start(char *err, size_t errlen)
{
    if (gethostname(S.hostname, sizeof(S.hostname) - 1) != 0)
        snprintf(S.hostname, sizeof(S.hostname), "wedpool");
    json_object_seed(0); /* before any worker builds JSON */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!waker_open(&S.waker, loop_base(), on_results, NULL, err, errlen))
        return false;
    S.started = true;
    if (!build(&rt.cfg.alert_channels, err, errlen))
        return false;
    if (S.n > 0)
        log_info("alert channels: %d configured", S.n);
    return true;
}

void channels_config_changed(void)
{
    char err[256];
    if (!S.started)
        return;
    if (!build(&rt.cfg.alert_channels, err, sizeof(err)))
        log_error("alert channels not reloaded: %s", err);
    reap_retired(false);
}

void channels_stop(void)
{
    if (!S.started)
        return;
    for (int i = 0; i < S.n; i++)
        retire(S.ch[i]);
    free(S.ch);
    S.ch = NULL;
    S.n = 0;
    reap_retired(true);
    S.started = false;
    pthread_mutex_lock(&S.mu);
    struct result_node *list = S.head;
    S.head = S.tail = NULL;
    pthread_mutex_unlock(&S.mu);
    while (list != NULL) {
        struct result_node *next = list->next;
        free(list);
        list = next;
    }
    waker_close(&S.waker);
    curl_global_cleanup();
}

int channels_count(void)
{
    return S.n;
}

const char *channel_name(int ch)
{
    return ch >= 0 && ch < S.n ? S.ch[ch]->conf.name : "";
}

const char *channel_type_name(int ch)
{
    return ch >= 0 && ch < S.n ? channel_type_str(S.ch[ch]->conf.type) : "";
}

enum alert_severity channel_min_severity(int ch)
{
    return ch >= 0 && ch < S.n ? S.ch[ch]->conf.min_severity : SEV_EMERGENCY;
}

int channel_after_min(int ch)
{
    return ch >= 0 && ch < S.n ? S.ch[ch]->conf.after_min : 0;
}

int channel_find(const char *name)
{
    return index_by_name(name);
}

bool channel_failing_since(int ch, time_t *since)
{
    if (ch < 0 || ch >= S.n || !S.ch[ch]->failing)
        return false;
    if (since != NULL)
        *since = S.ch[ch]->failing_since;
    return true;
}

const char *channel_circuit_state(int ch)
{
    return ch >= 0 && ch < S.n ? circuit_names[atomic_load(&S.ch[ch]->circuit)] : "closed";
}

/* ---- wedpool --test-alert, ALERT TEST ---- */

void channels_test_notice(const char *name, enum alert_severity sev, const char *key, struct alert_notice *n)
{
    static unsigned seq;
    memset(n, 0, sizeof(*n));
    time_t now = clock_now();
    if (key[0] != '\0')
        snprintf(n->key, sizeof(n->key), "%s", key);
    else
        snprintf(n->key, sizeof(n->key), "test:%.100s", name);
    snprintf(n->rule, sizeof(n->rule), "test");
    n->severity = sev;
    n->test = true;
    n->started_at = n->at = now;
    n->notify_seq = ++seq;
    snprintf(n->summary, sizeof(n->summary), "wedpool test notification for channel %.100s", name);
    snprintf(n->details, sizeof(n->details), "channel: %s\nhost: %s", name, S.hostname[0] ? S.hostname : "wedpool");
    snprintf(n->actions, sizeof(n->actions), "Nothing to do: this is a test (wedpool --test-alert or ALERT TEST)");
    snprintf(n->runbook, sizeof(n->runbook), "docs/runbook.md#alert-channels");
}

bool channel_stats(int idx, struct channel_stats *out)
{
    if (idx < 0 || idx >= S.n)
        return false;
    const struct channel *ch = S.ch[idx];
    memset(out, 0, sizeof(*out));
    memcpy(out->results, ch->results, sizeof(out->results));
    out->queued = outbox_pending(ch->ob);
    out->circuit = channel_circuit_state(idx);
    out->failing = ch->failing;
    out->failing_since = ch->failing_since;
    out->latency_avg_ms = ch->latency_count ? ch->latency_sum_s * 1000.0 / (double)ch->latency_count : 0;
    out->rate_limit_per_h = ch->conf.rate_limit_per_h;
    out->firing = ch->nfiring;
    return true;
}

bool channels_test_alert(const struct wp_config *cfg, const char *name, struct channel_result *out, char *err,
                         size_t errlen)
{
    const struct channel_conf *conf = NULL;
    for (int i = 0; i < cfg->alert_channels.n; i++)
        if (strcmp(cfg->alert_channels.ch[i].name, name) == 0)
            conf = &cfg->alert_channels.ch[i];
    if (conf == NULL) {
        snprintf(err, errlen, "no channel named '%s' in [alert_channels]", name);
        return false;
    }
    if (gethostname(S.hostname, sizeof(S.hostname) - 1) != 0)
        snprintf(S.hostname, sizeof(S.hostname), "wedpool");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct channel *ch = calloc(1, sizeof(*ch));
    if (ch == NULL) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    ch->conf = *conf;
    struct alert_notice n;
    channels_test_notice(conf->name, conf->min_severity, "", &n);
    deliver(NULL, ch, &n, now_us(), out);
    out->channel = 0;
    memset(ch, 0, sizeof(*ch));
    free(ch);
    curl_global_cleanup();
    return true;
}

/* ---- metrics ---- */

void channels_prometheus(struct pbuf *b)
{
    if (S.n == 0)
        return;
    pbuf_printf(b, "# HELP wedpool_alert_notifications_total Alert notifications by channel and outcome.\n"
                   "# TYPE wedpool_alert_notifications_total counter\n");
    for (int i = 0; i < S.n; i++)
        for (int r = 0; r < ALERT_RESULT_COUNT; r++)
            pbuf_printf(b, "wedpool_alert_notifications_total{channel=\"%s\",result=\"%s\"} %llu\n", S.ch[i]->conf.name,
                        alert_result_name((enum alert_result)r), (unsigned long long)S.ch[i]->results[r]);
    pbuf_printf(b, "# HELP wedpool_alert_delivery_seconds Time from an alert's hand-over to its accepted delivery.\n"
                   "# TYPE wedpool_alert_delivery_seconds summary\n");
    for (int i = 0; i < S.n; i++)
        pbuf_printf(b, "wedpool_alert_delivery_seconds_sum{channel=\"%s\"} %.6f\n"
                       "wedpool_alert_delivery_seconds_count{channel=\"%s\"} %llu\n",
                    S.ch[i]->conf.name, S.ch[i]->latency_sum_s, S.ch[i]->conf.name,
                    (unsigned long long)S.ch[i]->latency_count);
    pbuf_printf(b, "# HELP wedpool_alert_channel_circuit_open 1 while the channel's circuit breaker is open.\n"
                   "# TYPE wedpool_alert_channel_circuit_open gauge\n");
    for (int i = 0; i < S.n; i++)
        pbuf_printf(b, "wedpool_alert_channel_circuit_open{channel=\"%s\"} %d\n", S.ch[i]->conf.name,
                    atomic_load(&S.ch[i]->circuit) == CIRCUIT_OPEN ? 1 : 0);
    pbuf_printf(b, "# HELP wedpool_alert_channel_queue Notifications waiting in the channel's queue.\n"
                   "# TYPE wedpool_alert_channel_queue gauge\n");
    for (int i = 0; i < S.n; i++)
        pbuf_printf(b, "wedpool_alert_channel_queue{channel=\"%s\"} %d\n", S.ch[i]->conf.name,
                    outbox_pending(S.ch[i]->ob));
}
