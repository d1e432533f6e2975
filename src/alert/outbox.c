/* outbox.c — one worker thread, one bounded queue, libcurl requests that can be abandoned (outbox.h). */
#include "outbox.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct outbox {
    char name[64];
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;          /* a job arrived, or stop */
    struct outbox_job *head, *tail;
    int count, capacity;
    atomic_bool stop;
    atomic_bool exited;
};

static void *worker_main(void *arg)
{
    struct outbox *ob = arg;
    for (;;) {
        pthread_mutex_lock(&ob->mu);
        while (ob->head == NULL && !atomic_load(&ob->stop))
            pthread_cond_wait(&ob->cv, &ob->mu);
        if (atomic_load(&ob->stop)) {
            pthread_mutex_unlock(&ob->mu);
            break;
        }
        struct outbox_job *job = ob->head;
        ob->head = job->next;
        if (ob->head == NULL)
            ob->tail = NULL;
        ob->count--;
        pthread_mutex_unlock(&ob->mu);
        job->next = NULL;
        job->run(ob, job);
    }
    atomic_store(&ob->exited, true);
    return NULL;
}

struct outbox *outbox_start(const char *name, int capacity, char *err, size_t errlen)
{
    struct outbox *ob = calloc(1, sizeof(*ob));
    if (ob == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(ob->name, sizeof(ob->name), "%s", name);
    ob->capacity = capacity > 0 ? capacity : 1;
    pthread_mutex_init(&ob->mu, NULL);
    /* waits are measured on the monotonic clock: a wall-clock step never stretches a backoff */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ob->cv, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&ob->thread, NULL, worker_main, ob);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the %s worker thread: %s", name, strerror(rc));
        pthread_cond_destroy(&ob->cv);
        pthread_mutex_destroy(&ob->mu);
        free(ob);
        return NULL;
    }
    return ob;
}

bool outbox_post(struct outbox *ob, struct outbox_job *job)
{
    pthread_mutex_lock(&ob->mu);
    if (ob->count >= ob->capacity || atomic_load(&ob->stop)) {
        pthread_mutex_unlock(&ob->mu);
        return false;
    }
    job->next = NULL;
    if (ob->tail != NULL)
        ob->tail->next = job;
    else
        ob->head = job;
    ob->tail = job;
    ob->count++;
    pthread_cond_signal(&ob->cv);
    pthread_mutex_unlock(&ob->mu);
    return true;
}

int outbox_pending(struct outbox *ob)
{
    pthread_mutex_lock(&ob->mu);
    int n = ob->count;
    pthread_mutex_unlock(&ob->mu);
    return n;
}

bool outbox_wait(struct outbox *ob, long ms)
{
    if (ms < 0)
        ms = 0;
    if (ob == NULL) {
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
        return true;
    }
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&ob->mu);
    while (!atomic_load(&ob->stop) && pthread_cond_timedwait(&ob->cv, &ob->mu, &until) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&ob->mu);
    return !atomic_load(&ob->stop);
}

bool outbox_stopping(struct outbox *ob)
{
    return ob != NULL && atomic_load(&ob->stop);
}

void outbox_signal_stop(struct outbox *ob)
{
    pthread_mutex_lock(&ob->mu);
    atomic_store(&ob->stop, true);
    pthread_cond_broadcast(&ob->cv);
    pthread_mutex_unlock(&ob->mu);
}

bool outbox_exited(struct outbox *ob)
{
    return atomic_load(&ob->exited);
}

void outbox_free(struct outbox *ob)
{
    if (ob == NULL)
        return;
    outbox_signal_stop(ob);
    pthread_join(ob->thread, NULL);
    while (ob->head != NULL) {
        struct outbox_job *job = ob->head;
        ob->head = job->next;
        job->discard(job);
    }
    pthread_cond_destroy(&ob->cv);
    pthread_mutex_destroy(&ob->mu);
    free(ob);
}

/* ---- HTTP / SMTP ---- */

struct transfer {
    struct outbox *ob;
    struct outbox_http *out;
    size_t body_len;             /* bytes kept in out->body */
    const char *upload;          /* SMTP: the message */
    size_t upload_len, upload_off;
    time_t now;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct transfer *t = arg;
    size_t n = size * nmemb;
    size_t room = sizeof(t->out->body) - 1 - t->body_len;
    size_t take = n < room ? n : room;
    for (size_t i = 0; i < take; i++) {
        char c = ptr[i];
        t->out->body[t->body_len++] = (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
    }
    t->out->body[t->body_len] = '\0';
    return n;
}

static size_t on_header(char *buf, size_t size, size_t n, void *arg)
{
    struct transfer *t = arg;
    size_t len = size * n;
    if (len > 12 && strncasecmp(buf, "Retry-After:", 12) == 0) {
        char v[128];
        size_t vl = len - 12 < sizeof(v) - 1 ? len - 12 : sizeof(v) - 1;
        memcpy(v, buf + 12, vl);
        v[vl] = '\0';
        t->out->retry_after_s = format_retry_after(v, t->now);
    }
    return len;
}

static size_t on_read(char *buf, size_t size, size_t n, void *arg)
{
    struct transfer *t = arg;
    size_t room = size * n;
    size_t left = t->upload_len - t->upload_off;
    size_t take = left < room ? left : room;
    memcpy(buf, t->upload + t->upload_off, take);
    t->upload_off += take;
    return take;
}

/* Called by libcurl about once a second at least, also while waiting for an answer. */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    struct transfer *t = arg;
    return outbox_stopping(t->ob) ? 1 : 0;
}

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

void outbox_http(struct outbox *ob, const struct wire_request *rq, long timeout_ms, struct outbox_http *out)
{
    memset(out, 0, sizeof(*out));
    out->retry_after_s = -1;
    double t0 = mono_ms();
    struct transfer t = {.ob = ob, .out = out, .now = time(NULL)};
    CURL *curl = curl_easy_init();
    if (curl == NULL) {
        out->curl_code = CURLE_OUT_OF_MEMORY;
        snprintf(out->error, sizeof(out->error), "cannot create a libcurl handle");
        return;
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = NULL, *rcpt = NULL;
    for (int i = 0; i < rq->nheaders; i++)
        headers = curl_slist_append(headers, rq->headers[i]);
    char sig[160];
    if (rq->sign_key != NULL) {
        char line[200];
        format_webhook_signature(rq->sign_key, t.now, rq->body, rq->body_len, sig, sizeof(sig));
        snprintf(line, sizeof(line), "%s: %s", WEBHOOK_SIGNATURE_HEADER, sig);
        headers = curl_slist_append(headers, line);
    }
    curl_easy_setopt(curl, CURLOPT_URL, rq->url);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &t);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
    if (rq->basic_auth) {
        curl_easy_setopt(curl, CURLOPT_USERNAME, rq->username);
        curl_easy_setopt(curl, CURLOPT_PASSWORD, rq->password);
    }
    if (rq->smtp) {
        curl_easy_setopt(curl, CURLOPT_MAIL_FROM, rq->mail_from);
        for (int i = 0; i < rq->nrcpt; i++)
            rcpt = curl_slist_append(rcpt, rq->rcpt[i]);
        curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt);
        /* smtps:// is TLS from the start; smtp:// upgrades with STARTTLS when offered, and insists
         * on it when a password would otherwise cross in clear text */
        curl_easy_setopt(curl, CURLOPT_USE_SSL, rq->basic_auth ? (long)CURLUSESSL_ALL : (long)CURLUSESSL_TRY);
        curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
        t.upload = rq->body;
        t.upload_len = rq->body_len;
        curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(curl, CURLOPT_READDATA, &t);
        curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)rq->body_len);
    } else {
        if (rq->basic_auth)
            curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, rq->body != NULL ? rq->body : "");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)rq->body_len);
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    }
    CURLcode rc = curl_easy_perform(curl);
    out->curl_code = (int)rc;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->status);
    if (rc != CURLE_OK)
        snprintf(out->error, sizeof(out->error), "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
    out->ms = mono_ms() - t0;
    curl_slist_free_all(headers);
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(curl);
}
