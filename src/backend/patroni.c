/* patroni.c — Patroni's /cluster as a second opinion on the primary: a worker thread fetches it
 * with libcurl (bounded queue, bounded answer), the loop thread applies the answers. */
#include "patroni.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "log.h"
#include "loop.h"
#include "runtime.h"
#include "waker.h"

#define QUEUE_MAX 16
#define ANSWER_MAX (256 * 1024)

struct question {
    char db[WP_NAME_MAX];
    char url[300];
    long timeout_ms;
};

struct answer {
    char db[WP_NAME_MAX];
    char leader[WP_HOST_MAX + 8];
    char error[200];
};

static struct {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool started, stop;
    struct question q[QUEUE_MAX];
    int nq;
    struct answer a[QUEUE_MAX];
    int na;
    struct waker waker;
} w = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .waker = WAKER_INIT};

struct body {
    char *data;
    size_t len;
    bool too_big;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct body *b = arg;
    size_t n = size * nmemb;
    if (b->len + n > ANSWER_MAX) {
        b->too_big = true;
        return 0;
    }
    char *grown = realloc(b->data, b->len + n + 1);
    if (grown == NULL)
        return 0;
    b->data = grown;
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    return n;
}

static void ask_patroni(const struct question *q, struct answer *a)
{
    char url[320];
    size_t ul = strlen(q->url);
    snprintf(url, sizeof(url), "%s%s", q->url, ul > 0 && q->url[ul - 1] == '/' ? "cluster" : "/cluster");
    CURL *h = curl_easy_init();
    if (h == NULL) {
        snprintf(a->error, sizeof(a->error), "out of memory");
        return;
    }
    struct body b = {0};
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, q->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, q->timeout_ms);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK)
        snprintf(a->error, sizeof(a->error), "GET %.150s: %s", url,
                 b.too_big ? "answer larger than 256 KiB" : curl_easy_strerror(rc));
    else if (status != 200)
        snprintf(a->error, sizeof(a->error), "GET %.150s: HTTP %ld", url, status);
    else if (!patroni_leader(b.data != NULL ? b.data : "", b.len, a->leader, sizeof(a->leader), a->error,
                             sizeof(a->error)))
        a->leader[0] = '\0';
    else
        a->error[0] = '\0';
    free(b.data);
    curl_easy_cleanup(h);
}

static void *worker_main(void *arg)
{
    pthread_mutex_lock(&w.mu);
    for (;;) {
        while (!w.stop && w.nq == 0)
            pthread_cond_wait(&w.cv, &w.mu);
        if (w.stop)
            break;
        struct question q = w.q[0];
        memmove(&w.q[0], &w.q[1], sizeof(w.q[0]) * (size_t)(w.nq - 1));
        w.nq--;
        pthread_mutex_unlock(&w.mu);
        struct answer a;
        memset(&a, 0, sizeof(a));
        strlcpy_ok(a.db, q.db, sizeof(a.db));
        ask_patroni(&q, &a);
        pthread_mutex_lock(&w.mu);
        if (w.na < QUEUE_MAX)
            w.a[w.na++] = a;
        waker_wake(&w.waker);
    }
    pthread_mutex_unlock(&w.mu);
    return NULL;
}

/* Loop thread: the worker's answers. */
static void on_answers(void *arg)
{
    struct answer got[QUEUE_MAX];
    pthread_mutex_lock(&w.mu);
    int n = w.na;
    memcpy(got, w.a, sizeof(got[0]) * (size_t)n);
    w.na = 0;
    pthread_mutex_unlock(&w.mu);
    for (int i = 0; i < n; i++) {
        struct backend_db *bdb = backend_db_find(got[i].db);
        if (bdb != NULL)
            backend_db_patroni(bdb, got[i].leader, got[i].error);
    }
}

static bool start(void)
{
    char err[200];
    if (!waker_open(&w.waker, loop_base(), on_answers, NULL, err, sizeof(err))) {
        log_error("patroni: %s", err);
        return false;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    w.stop = false;
    if (pthread_create(&w.thread, NULL, worker_main, NULL) != 0) {
        log_error("patroni: cannot start the worker thread");
        waker_close(&w.waker);
        curl_global_cleanup();
        return false;
    }
    w.started = true;
    return true;
}

void patroni_ask(struct backend_db *bdb)
{
    if (!w.started && !start())
        return;
    pthread_mutex_lock(&w.mu);
    bool queued = false;
    for (int i = 0; i < w.nq && !queued; i++)
        queued = strcmp(w.q[i].db, bdb->name) == 0;
    if (!queued && w.nq < QUEUE_MAX) {
        struct question *q = &w.q[w.nq++];
        strlcpy_ok(q->db, bdb->name, sizeof(q->db));
        strlcpy_ok(q->url, bdb->conf.patroni_url, sizeof(q->url));
        q->timeout_ms = rt.cfg.health_check_timeout_ms;
        pthread_cond_signal(&w.cv);
    }
    pthread_mutex_unlock(&w.mu);
}

void patroni_stop(void)
{
    if (!w.started)
        return;
    pthread_mutex_lock(&w.mu);
    w.stop = true;
    pthread_cond_signal(&w.cv);
    pthread_mutex_unlock(&w.mu);
    pthread_join(w.thread, NULL);
    w.started = false;
    w.nq = w.na = 0;
    waker_close(&w.waker);
    curl_global_cleanup();
}
