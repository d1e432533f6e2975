/* fetch.c — calendar sources on a worker thread: URLs fetched with libcurl (conditional GET),
 * files re-read when they change, both parsed there; the merged wedding list reaches the loop
 * thread through a pipe. A failed fetch or parse keeps the source's last good calendar. */
#include "fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "loop.h"
#include "waker.h"

#define FETCH_MAX_BYTES (16L * 1024 * 1024) /* a calendar larger than this is refused */
#define FILE_CHECK_MAX_S 10                 /* files are stat()ed at least this often */
#define CONNECT_TIMEOUT_S 10L
#define TOTAL_TIMEOUT_S 30L
#define MAX_REDIRECTS 3L
#define REFRESH_MIN_S 10
#define REFRESH_MAX_S 86400
#define REFRESH_DEFAULT_S 300
#define ZONE_MAX 64

/* ---- the worker's own state (touched only by the worker while it runs) ---- */

enum read_result { READ_NEW, READ_SAME, READ_FAILED };

struct source {
    struct calendar_source cfg;
    char label[192];          /* for logs: the name and the path, or only scheme://host of a URL
                               * (private calendar URLs carry their secret in the path) */
    char etag[256];           /* validators of the last good response, sent back as */
    char last_modified[64];   /* If-None-Match / If-Modified-Since */
    bool have_stat;           /* identity of the file at its last good read */
    struct stat st;
    char *raw;                /* text of the last good fetch or read, NUL-terminated */
    size_t raw_len;
    struct wedding_list good; /* its weddings, expanded over the horizon at parsed_at */
    bool have_good;
    time_t parsed_at;         /* clock_now() of that expansion */
    double due;               /* monotonic seconds of the next fetch or file check */
    bool force;               /* read and parse again at the next pass (start, reload) */
    int streak;               /* failed attempts in a row: logged on the first and on recovery */
    struct calendar_status status;
};

static struct source *srcs;
static int nsrcs;
static char zone[ZONE_MAX];            /* the global timezone, for sources without their own */
static struct wedding_list published;  /* the merged list last handed over */
static bool published_once;

/* ---- shared between the worker and the loop thread (under fx.mu) ---- */

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* on CLOCK_MONOTONIC */
    pthread_t thread;
    bool started;
    bool stop;
    bool reload;                      /* next_src holds sources for the worker to take */
    struct calendar_source *next_src;
    int next_n;
    char next_zone[ZONE_MAX];
    struct wedding_list handoff;      /* a merged list the loop has not taken yet */
    bool handoff_ready;
    struct calendar_status status[CALENDARS_MAX];
    int nstatus;
    int horizon_days;
} fx = {.mu = PTHREAD_MUTEX_INITIALIZER};

static atomic_bool stopping; /* read by libcurl's progress callback, to abort a transfer at stop */

/* ---- loop-thread state ---- */

static struct waker waker = WAKER_INIT; /* the worker wakes the loop with the new list */
static void (*on_updated)(void *arg);
static void *on_updated_arg;
static struct wedding_list current; /* what calendars_weddings() returns */

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void make_label(struct source *s)
{
    if (!s->cfg.is_url) {
        snprintf(s->label, sizeof(s->label), "\"%s\" (%.150s)", s->cfg.name, s->cfg.source); /* a long path: its start names it */
        return;
    }
    const char *host = strstr(s->cfg.source, "://") + 3;
    size_t hostlen = strcspn(host, "/?#");
    const char *at = memchr(host, '@', hostlen); /* user:password@ never reaches a log */
    if (at != NULL) {
        hostlen -= (size_t)(at + 1 - host);
        host = at + 1;
    }
    int scheme = (int)(strstr(s->cfg.source, "://") - s->cfg.source);
    snprintf(s->label, sizeof(s->label), "\"%s\" (%.*s://%.*s/...)", s->cfg.name, scheme, s->cfg.source,
             (int)hostlen, host);
}

static void source_free(struct source *s)
{
    free(s->raw);
    wedding_list_free(&s->good);
    memset(s, 0, sizeof(*s));
}

static void source_failed(struct source *s, const char *why)
{
    s->streak++;
    s->status.failures++;
    snprintf(s->status.last_error, sizeof(s->status.last_error), "%s", why);
    if (s->streak == 1) {
        if (s->have_good)
            log_warn("calendar %s: %s; keeping the last good calendar (%zu weddings)", s->label, why, s->good.n);
        else
            log_warn("calendar %s: %s; no calendar from it yet", s->label, why);
    } else {
        log_debug("calendar %s: %s (failure %d in a row)", s->label, why, s->streak);
    }
}

static void source_succeeded(struct source *s)
{
    if (s->streak > 0)
        log_info("calendar %s: recovered after %d failed attempt%s", s->label, s->streak, s->streak == 1 ? "" : "s");
    s->streak = 0;
    s->status.last_error[0] = '\0';
    s->status.last_success = time(NULL);
}

/* ---- parsing ---- */

struct warn_ctx {
    const struct source *s;
    bool quiet; /* a re-expansion of text whose warnings were already logged */
};

static void on_parse_warning(void *arg, const char *msg)
{
    const struct warn_ctx *w = arg;
    if (w->quiet)
        log_debug("calendar %s: %s", w->s->label, msg);
    else
        log_warn("calendar %s: %s", w->s->label, msg);
}

/* Expands text over [now - 1 day, now + horizon_days] into out. */
static bool parse_text(const struct source *s, const char *text, size_t len, bool quiet, time_t now,
                       struct wedding_list *out, char *why, size_t whylen)
{
    time_t from = now - 86400, to = now + (time_t)fx.horizon_days * 86400;
    const char *z = s->cfg.zone[0] != '\0' ? s->cfg.zone : zone;
    struct warn_ctx w = {s, quiet};
    char err[200] = "";
    bool ok = s->cfg.format == CAL_FORMAT_CSV
                  ? calendar_parse_csv(text, len, s->cfg.name, z, from, to, out, on_parse_warning, &w, err, sizeof(err))
                  : calendar_parse_ics(text, len, s->cfg.name, z, from, to, out, on_parse_warning, &w, err, sizeof(err));
    if (!ok)
        snprintf(why, whylen, "not a %s calendar: %s", s->cfg.format == CAL_FORMAT_CSV ? "CSV" : "iCalendar", err);
    return ok;
}

/* Replaces the source's weddings with a new expansion of its raw text. */
static bool reexpand(struct source *s, bool quiet)
{
    time_t now = clock_now();
    struct wedding_list l = {0};
    char why[256];
    s->parsed_at = now; /* also on failure: no retry loop on the same text */
    if (!parse_text(s, s->raw, s->raw_len, quiet, now, &l, why, sizeof(why))) {
        wedding_list_free(&l);
        source_failed(s, why);
        return false;
    }
    wedding_list_free(&s->good);
    s->good = l;
    return true;
}

/* ---- fetching ---- */

struct body {
    char *buf;
    size_t len, cap;
    bool too_big;
};

struct validators {
    char etag[256];
    char last_modified[64];
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct body *b = userdata;
    size_t n = size * nmemb;
    if (b->len + n + 1 > (size_t)FETCH_MAX_BYTES) {
        b->too_big = true;
        return 0; /* aborts the transfer */
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->buf, cap);
        if (p == NULL)
            return 0;
        b->buf = p;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, ptr, n);
    b->len += n;
    b->buf[b->len] = '\0';
    return n;
}

/* Copies a header's value, trimmed, if it fits (a validator cut short would never match). */
static void header_value(const char *v, size_t n, char *out, size_t cap)
{
    while (n > 0 && (*v == ' ' || *v == '\t'))
        v++, n--;
    while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    if (n < cap) {
        memcpy(out, v, n);
        out[n] = '\0';
    }
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *userdata)
{
    struct validators *v = userdata;
    size_t n = size * nitems;
    if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0) /* each response of a redirect chain starts afresh */
        memset(v, 0, sizeof(*v));
    else if (n > 5 && strncasecmp(buf, "ETag:", 5) == 0)
        header_value(buf + 5, n - 5, v->etag, sizeof(v->etag));
    else if (n > 14 && strncasecmp(buf, "Last-Modified:", 14) == 0)
        header_value(buf + 14, n - 14, v->last_modified, sizeof(v->last_modified));
    return n;
}

static int on_progress(void *clientp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    return atomic_load(&stopping) ? 1 : 0;
}

/* A conditional GET. READ_NEW leaves the body in *text (caller frees) and the new validators in *v. */
static enum read_result fetch_url(const struct source *s, char **text, size_t *len, struct validators *v, char *why,
                                  size_t whylen)
{
    CURL *curl = curl_easy_init();
    if (curl == NULL) {
        snprintf(why, whylen, "cannot set up a transfer");
        return READ_FAILED;
    }
    struct body b = {0};
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = NULL;
    char line[320];
    if (s->have_good && s->etag[0] != '\0') {
        snprintf(line, sizeof(line), "If-None-Match: %s", s->etag);
        headers = curl_slist_append(headers, line);
    }
    if (s->have_good && s->last_modified[0] != '\0') {
        snprintf(line, sizeof(line), "If-Modified-Since: %s", s->last_modified);
        headers = curl_slist_append(headers, line);
    }
    memset(v, 0, sizeof(*v));
    curl_easy_setopt(curl, CURLOPT_URL, s->cfg.source);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "wedpool/" WEDPOOL_VERSION);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_MAXREDIRS, MAX_REDIRECTS);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, TOTAL_TIMEOUT_S);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, ""); /* whatever libcurl can decode */
    curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)FETCH_MAX_BYTES);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, v);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);

    enum read_result r = READ_FAILED;
    if (b.too_big || rc == CURLE_FILESIZE_EXCEEDED)
        snprintf(why, whylen, "fetch failed: larger than %ld MiB", FETCH_MAX_BYTES >> 20);
    else if (rc != CURLE_OK)
        snprintf(why, whylen, "fetch failed: %s", errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
    else if (status == 304 && s->raw != NULL)
        r = READ_SAME;
    else if (status < 200 || status > 299)
        snprintf(why, whylen, "fetch failed: HTTP %ld", status);
    else
        r = READ_NEW;
    if (r == READ_NEW) {
        if (b.buf == NULL)
            b.buf = calloc(1, 1);
        if (b.buf == NULL) {
            snprintf(why, whylen, "out of memory");
            r = READ_FAILED;
        }
        *text = b.buf;
        *len = b.len;
    } else {
        free(b.buf);
    }
    return r;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* READ_NEW leaves the file's text in *text (caller frees) and its identity in *st. */
static enum read_result read_file(const struct source *s, bool force, char **text, size_t *len, struct stat *st,
                                  char *why, size_t whylen)
{
    if (stat(s->cfg.source, st) != 0) {
        snprintf(why, whylen, "cannot read: %s", strerror(errno));
        return READ_FAILED;
    }
    if (!force && s->have_stat && same_file(st, &s->st))
        return READ_SAME;
    int fd = open(s->cfg.source, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, st) != 0) {
        snprintf(why, whylen, "cannot read: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return READ_FAILED;
    }
    if (!S_ISREG(st->st_mode) || st->st_size >= FETCH_MAX_BYTES) {
        if (S_ISREG(st->st_mode))
            snprintf(why, whylen, "larger than %ld MiB", FETCH_MAX_BYTES >> 20);
        else
            snprintf(why, whylen, "not a regular file");
        close(fd);
        return READ_FAILED;
    }
    size_t cap = (size_t)st->st_size + 1, n = 0;
    char *buf = malloc(cap + 1);
    ssize_t got = 0;
    while (buf != NULL && n < cap && ((got = read(fd, buf + n, cap - n)) > 0 || (got < 0 && errno == EINTR)))
        if (got > 0)
            n += (size_t)got;
    int read_errno = errno;
    struct stat after;
    bool stable = fstat(fd, &after) == 0 && same_file(st, &after) && n == (size_t)st->st_size;
    close(fd);
    if (buf == NULL || got < 0 || !stable) {
        if (buf == NULL)
            snprintf(why, whylen, "out of memory");
        else if (got < 0)
            snprintf(why, whylen, "cannot read: %s", strerror(read_errno));
        else
            snprintf(why, whylen, "changed while being read (a writer should replace the file with rename())");
        free(buf);
        return READ_FAILED;
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return READ_NEW;
}

/* Fetches or re-reads one source and parses what is new. true if its weddings changed. */
static bool refresh_source(struct source *s)
{
    char *text = NULL, why[512];
    size_t len = 0;
    struct validators v;
    struct stat st;
    bool force = s->force;
    s->force = false;
    s->status.last_attempt = time(NULL);
    enum read_result r = s->cfg.is_url ? fetch_url(s, &text, &len, &v, why, sizeof(why))
                                       : read_file(s, force, &text, &len, &st, why, sizeof(why));
    if (r == READ_NEW && s->raw != NULL && len == s->raw_len && memcmp(text, s->raw, len) == 0 && !force) {
        free(text); /* a server without validators sending the same calendar again */
        r = READ_SAME;
    }
    if (r == READ_FAILED) {
        source_failed(s, why);
        return false;
    }
    if (r == READ_SAME) {
        source_succeeded(s);
        /* after a reload (zone or format may have changed): expand again, warnings included */
        return force ? reexpand(s, false) : false;
    }
    time_t now = clock_now();
    struct wedding_list l = {0};
    if (!parse_text(s, text, len, false, now, &l, why, sizeof(why))) {
        wedding_list_free(&l);
        free(text);
        source_failed(s, why); /* validators and file identity stay those of the last good text */
        return false;
    }
    free(s->raw);
    s->raw = text;
    s->raw_len = len;
    wedding_list_free(&s->good);
    s->good = l;
    s->have_good = true;
    s->parsed_at = now;
    if (s->cfg.is_url) {
        memcpy(s->etag, v.etag, sizeof(s->etag));
        memcpy(s->last_modified, v.last_modified, sizeof(s->last_modified));
    } else {
        s->st = st;
        s->have_stat = true;
    }
    source_succeeded(s);
    log_info("calendar %s: %zu wedding%s in [now - 1 day, now + %d days] from %zu bytes", s->label, l.n,
             l.n == 1 ? "" : "s", fx.horizon_days, len);
    return true;
}

/* ---- the worker ---- */

static int check_interval_s(const struct source *s)
{
    return s->cfg.is_url || s->cfg.refresh_s < FILE_CHECK_MAX_S ? s->cfg.refresh_s : FILE_CHECK_MAX_S;
}

/* Real seconds until the fake (or real) clock has moved a quarter of the horizon since the last
 * expansion: recurring events must then be expanded again. */
static double reexpand_in_s(const struct source *s)
{
    if (!s->have_good)
        return 1e9;
    double quarter = (double)fx.horizon_days * 86400 / 4;
    double moved = (double)(clock_now() - s->parsed_at);
    if (moved < 0)
        moved = -moved; /* a clock set back */
    double left = (quarter - moved) / clock_speed();
    return left > 1 ? left : (moved >= quarter ? 0 : 1);
}

static bool lists_equal(const struct wedding_list *a, const struct wedding_list *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++) {
        const struct wedding *x = &a->items[i], *y = &b->items[i];
        if (x->start != y->start || x->end != y->end || x->all_day != y->all_day || x->guests != y->guests ||
            x->vendors != y->vendors || x->critical != y->critical || strcmp(x->name, y->name) != 0 ||
            strcmp(x->uid, y->uid) != 0 || strcmp(x->calendar, y->calendar) != 0 || strcmp(x->venue, y->venue) != 0)
            return false;
    }
    return true;
}

/* Merges every source's good list; hands it to the loop if it differs from the last one, and
 * copies the statuses out. */
static void publish(void)
{
    struct wedding_list merged = {0}, copy = {0};
    bool ok = true;
    for (int i = 0; i < nsrcs; i++) {
        srcs[i].status.weddings = srcs[i].have_good ? srcs[i].good.n : 0;
        if (srcs[i].have_good)
            ok = ok && wedding_list_append(&merged, &srcs[i].good);
    }
    wedding_list_sort(&merged);
    bool changed = ok && (!published_once || !lists_equal(&merged, &published));
    if (changed && !wedding_list_append(&copy, &merged))
        ok = changed = false;
    if (!ok)
        log_error("calendars: out of memory merging the wedding lists; the loop keeps the previous list");
    pthread_mutex_lock(&fx.mu);
    for (int i = 0; i < nsrcs; i++)
        fx.status[i] = srcs[i].status;
    fx.nstatus = nsrcs;
    if (changed) {
        wedding_list_free(&fx.handoff);
        fx.handoff = copy;
        fx.handoff_ready = true;
    }
    pthread_mutex_unlock(&fx.mu);
    if (changed) {
        wedding_list_free(&published);
        published = merged;
        published_once = true;
        if (!waker_wake(&waker))
            log_error("calendars: cannot wake the event loop: %s", strerror(errno));
    } else {
        wedding_list_free(&merged);
    }
}

/* Takes a new set of sources: a source with the same name and location keeps its last good
 * calendar, validators and counters; every source is read again now. */
static void apply_sources(struct calendar_source *cfg, int n, const char *new_zone)
{
    struct source *ns = calloc((size_t)(n > 0 ? n : 1), sizeof(*ns));
    if (ns == NULL) {
        log_error("calendars: out of memory applying the new sources; keeping the old ones");
        for (int i = 0; i < nsrcs; i++)
            srcs[i].force = true;
        return;
    }
    double now = mono_now();
    for (int i = 0; i < n; i++) {
        struct source *s = &ns[i];
        for (int j = 0; j < nsrcs; j++) {
            if (srcs[j].cfg.name[0] != '\0' && strcmp(srcs[j].cfg.name, cfg[i].name) == 0 &&
                strcmp(srcs[j].cfg.source, cfg[i].source) == 0) {
                *s = srcs[j];
                memset(&srcs[j], 0, sizeof(srcs[j]));
                break;
            }
        }
        s->cfg = cfg[i];
        make_label(s);
        snprintf(s->status.name, sizeof(s->status.name), "%s", cfg[i].name);
        s->force = true;
        s->due = now;
    }
    for (int j = 0; j < nsrcs; j++)
        source_free(&srcs[j]);
    free(srcs);
    srcs = ns;
    nsrcs = n;
    snprintf(zone, sizeof(zone), "%s", new_zone != NULL ? new_zone : "");
}

static void *worker_main(void *unused)
{
    pthread_mutex_lock(&fx.mu);
    while (!fx.stop) {
        if (fx.reload) {
            struct calendar_source *cfg = fx.next_src;
            int n = fx.next_n;
            char z[ZONE_MAX];
            memcpy(z, fx.next_zone, sizeof(z));
            fx.next_src = NULL;
            fx.reload = false;
            pthread_mutex_unlock(&fx.mu);
            apply_sources(cfg, n, z);
            free(cfg);
            pthread_mutex_lock(&fx.mu);
            continue;
        }
        double now = mono_now(), next = now + 3600;
        bool due = !published_once;
        for (int i = 0; i < nsrcs; i++) {
            double t = srcs[i].force ? now : srcs[i].due;
            double r = now + reexpand_in_s(&srcs[i]);
            next = t < next ? t : next;
            next = r < next ? r : next;
        }
        if (next > now && !due) {
            struct timespec ts = {(time_t)next, (long)((next - (double)(time_t)next) * 1e9)};
            pthread_cond_timedwait(&fx.cv, &fx.mu, &ts);
            continue;
        }
        pthread_mutex_unlock(&fx.mu);
        for (int i = 0; i < nsrcs && !atomic_load(&stopping); i++) {
            struct source *s = &srcs[i];
            if (s->force || mono_now() >= s->due) {
                refresh_source(s);
                s->due = mono_now() + check_interval_s(s);
            } else if (reexpand_in_s(s) <= 0) {
                reexpand(s, true);
            }
        }
        publish();
        pthread_mutex_lock(&fx.mu);
    }
    pthread_mutex_unlock(&fx.mu);
    return NULL;
}

/* ---- loop side ---- */

static void on_wake(void *arg)
{
    pthread_mutex_lock(&fx.mu);
    bool ready = fx.handoff_ready;
    if (ready) {
        wedding_list_free(&current);
        current = fx.handoff;
        memset(&fx.handoff, 0, sizeof(fx.handoff));
        fx.handoff_ready = false;
    }
    pthread_mutex_unlock(&fx.mu);
    if (ready && on_updated != NULL)
        on_updated(on_updated_arg);
}

/* Copies the sources for the worker to take at its next pass. */
static bool hand_sources(const struct calendar_source *src, int n, const char *default_zone)
{
    if (n < 0)
        n = 0;
    if (n > CALENDARS_MAX) {
        log_error("calendars: %d sources, only the first %d are read", n, CALENDARS_MAX);
        n = CALENDARS_MAX;
    }
    struct calendar_source *copy = calloc((size_t)(n > 0 ? n : 1), sizeof(*copy));
    if (copy == NULL)
        return false;
    if (n > 0)
        memcpy(copy, src, (size_t)n * sizeof(*copy));
    pthread_mutex_lock(&fx.mu);
    free(fx.next_src);
    fx.next_src = copy;
    fx.next_n = n;
    snprintf(fx.next_zone, sizeof(fx.next_zone), "%s", default_zone != NULL ? default_zone : "");
    fx.reload = true;
    pthread_cond_signal(&fx.cv);
    pthread_mutex_unlock(&fx.mu);
    return true;
}

bool calendars_start(const struct calendar_source *src, int n, const char *default_zone, int horizon_days,
                     void (*updated)(void *arg), void *arg, char *err, size_t errlen)
{
    if (fx.started) {
        snprintf(err, errlen, "the calendar worker is already running");
        return false;
    }
    if (!waker_open(&waker, loop_base(), on_wake, NULL, err, errlen))
        return false;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&fx.cv, &ca);
    pthread_condattr_destroy(&ca);
    fx.horizon_days = horizon_days > 0 ? horizon_days : 1;
    fx.stop = false;
    atomic_store(&stopping, false);
    on_updated = updated;
    on_updated_arg = arg;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    fx.started = true; /* calendars_stop can clean up from here on */
    if (!hand_sources(src, n, default_zone) || pthread_create(&fx.thread, NULL, worker_main, NULL) != 0) {
        snprintf(err, errlen, "cannot start the calendar worker thread");
        fx.started = false;
        free(fx.next_src);
        fx.next_src = NULL;
        fx.reload = false;
        waker_close(&waker);
        pthread_cond_destroy(&fx.cv);
        curl_global_cleanup();
        return false;
    }
    return true;
}

void calendars_reload(const struct calendar_source *src, int n, const char *default_zone)
{
    if (!fx.started)
        return;
    if (!hand_sources(src, n, default_zone))
        log_error("calendars: out of memory copying the new sources; the old ones stay");
}

void calendars_stop(void)
{
    if (!fx.started)
        return;
    atomic_store(&stopping, true);
    pthread_mutex_lock(&fx.mu);
    fx.stop = true;
    pthread_cond_signal(&fx.cv);
    pthread_mutex_unlock(&fx.mu);
    pthread_join(fx.thread, NULL);
    fx.started = false;
    for (int i = 0; i < nsrcs; i++)
        source_free(&srcs[i]);
    free(srcs);
    srcs = NULL;
    nsrcs = 0;
    wedding_list_free(&published);
    published_once = false;
    free(fx.next_src);
    fx.next_src = NULL;
    fx.reload = false;
    wedding_list_free(&fx.handoff);
    fx.handoff_ready = false;
    fx.nstatus = 0;
    wedding_list_free(&current);
    waker_close(&waker);
    pthread_cond_destroy(&fx.cv);
    curl_global_cleanup();
}

const struct wedding_list *calendars_weddings(void)
{
    return &current;
}

int calendars_status(struct calendar_status *out, int max)
{
    pthread_mutex_lock(&fx.mu);
    int n = fx.nstatus < max ? fx.nstatus : max;
    if (n > 0)
        memcpy(out, fx.status, (size_t)n * sizeof(*out));
    pthread_mutex_unlock(&fx.mu);
    return n;
}
