/* metrics_scrape.c — Prometheus text parsing and histogram_quantile (see metrics_scrape.h). */
#include "metrics_scrape.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#define ACQ_FAMILY "db_pool_acquire_seconds"
#define ACQ_LANE_FAMILY "wedpool_lane_acquire_seconds"

/* Reads one label value (after the opening quote) into out, unescaping \\ \" \n; returns the
 * character after the closing quote, or NULL when the line ends first. */
static const char *label_value(const char *p, const char *end, char *out, size_t outlen)
{
    size_t n = 0;
    while (p < end && *p != '"') {
        char c = *p++;
        if (c == '\\' && p < end) {
            c = *p++;
            if (c == 'n')
                c = '\n';
        }
        if (n + 1 < outlen)
            out[n++] = c;
    }
    out[n] = '\0';
    return p < end ? p + 1 : NULL;
}

struct labels {
    char le[SCRAPE_NAME];
    char lane[SCRAPE_NAME];
    char database[SCRAPE_NAME];
    int has_le, has_lane, has_database;
};

/* Parses `{k="v",...}` from p; returns the character after '}' or NULL. */
static const char *parse_labels(const char *p, const char *end, struct labels *l)
{
    memset(l, 0, sizeof(*l));
    if (p >= end || *p != '{')
        return p;
    p++;
    while (p < end && *p != '}') {
        while (p < end && (*p == ',' || *p == ' '))
            p++;
        if (p < end && *p == '}')
            break;
        const char *k = p;
        while (p < end && *p != '=')
            p++;
        size_t klen = (size_t)(p - k);
        if (p + 1 >= end || p[1] != '"')
            return NULL;
        char value[SCRAPE_NAME];
        p = label_value(p + 2, end, value, sizeof(value));
        if (p == NULL)
            return NULL;
        char *dst = NULL;
        int *flag = NULL;
        if (klen == 2 && strncmp(k, "le", 2) == 0)
            dst = l->le, flag = &l->has_le;
        else if (klen == 4 && strncmp(k, "lane", 4) == 0)
            dst = l->lane, flag = &l->has_lane;
        else if (klen == 8 && strncmp(k, "database", 8) == 0)
            dst = l->database, flag = &l->has_database;
        if (dst != NULL) {
            strcpy(dst, value);
            *flag = 1;
        }
    }
    return p < end ? p + 1 : NULL;
}

static double parse_le(const char *s)
{
    if (strcmp(s, "+Inf") == 0 || strcmp(s, "Inf") == 0)
        return INFINITY;
    return strtod(s, NULL);
}

static struct scrape_hist *group(struct scrape_set *s, const char *lane)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->h[i].lane, lane) == 0)
            return &s->h[i];
    if (s->n == SCRAPE_MAX_GROUPS)
        return NULL;
    struct scrape_hist *h = &s->h[s->n++];
    memset(h, 0, sizeof(*h));
    snprintf(h->lane, sizeof(h->lane), "%s", lane);
    return h;
}

/* Adds count to the bucket with upper bound le, keeping the bounds sorted. */
static void add_bucket(struct scrape_hist *h, double le, double count)
{
    int i = 0;
    while (i < h->nbuckets && h->le[i] < le)
        i++;
    if (i < h->nbuckets && h->le[i] == le) {
        h->cum[i] += count;
        return;
    }
    if (h->nbuckets == SCRAPE_MAX_BUCKETS)
        return;
    memmove(&h->le[i + 1], &h->le[i], (size_t)(h->nbuckets - i) * sizeof(double));
    memmove(&h->cum[i + 1], &h->cum[i], (size_t)(h->nbuckets - i) * sizeof(double));
    h->le[i] = le;
    h->cum[i] = count;
    h->nbuckets++;
}

int scrape_parse(const char *text, const char *family, const char *database, struct scrape_set *out)
{
    char name[SCRAPE_NAME + 8];
    snprintf(name, sizeof(name), "%s_bucket", family);
    size_t nlen = strlen(name);
    int used = 0;
    out->n = 0;
    for (const char *line = text; line != NULL && *line != '\0';) {
        const char *end = strchr(line, '\n');
        const char *next = end ? end + 1 : NULL;
        if (end == NULL)
            end = line + strlen(line);
        if (end - line > (long)nlen && strncmp(line, name, nlen) == 0 && (line[nlen] == '{' || line[nlen] == ' ')) {
            struct labels l;
            const char *p = parse_labels(line + nlen, end, &l);
            if (p != NULL && l.has_le && (database == NULL || (l.has_database && strcmp(l.database, database) == 0))) {
                char *vend;
                double v = strtod(p, &vend);
                struct scrape_hist *h = vend != p ? group(out, l.has_lane ? l.lane : "") : NULL;
                if (h != NULL) {
                    add_bucket(h, parse_le(l.le), v);
                    used++;
                }
            }
        }
        line = next;
    }
    return used;
}

static const struct scrape_hist *find(const struct scrape_set *s, const char *lane)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->h[i].lane, lane) == 0)
            return &s->h[i];
    return NULL;
}

void scrape_delta(const struct scrape_set *after, const struct scrape_set *before, struct scrape_set *out)
{
    out->n = after->n;
    for (int i = 0; i < after->n; i++) {
        struct scrape_hist *d = &out->h[i];
        *d = after->h[i];
        const struct scrape_hist *b = before ? find(before, d->lane) : NULL;
        if (b == NULL || b->nbuckets == 0)
            continue;
        struct scrape_hist sub = *d;
        int reset = 0;
        for (int k = 0; k < sub.nbuckets; k++) {
            for (int j = 0; j < b->nbuckets; j++)
                if (b->le[j] == sub.le[k])
                    sub.cum[k] -= b->cum[j];
            if (sub.cum[k] < 0)
                reset = 1;
        }
        if (!reset)
            *d = sub;
    }
}

void scrape_sum(const struct scrape_set *s, struct scrape_hist *out)
{
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < s->n; i++)
        for (int k = 0; k < s->h[i].nbuckets; k++)
            add_bucket(out, s->h[i].le[k], s->h[i].cum[k]);
}

double scrape_count(const struct scrape_hist *h)
{
    if (h->nbuckets == 0 || !isinf(h->le[h->nbuckets - 1]))
        return 0;
    return h->cum[h->nbuckets - 1];
}

double scrape_quantile(const struct scrape_hist *h, double q)
{
    int n = h->nbuckets;
    if (n < 2 || !isinf(h->le[n - 1]))
        return NAN;
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    /* Cumulative counts must not decrease (as PromQL's ensureMonotonic). */
    double cum[SCRAPE_MAX_BUCKETS];
    for (int i = 0; i < n; i++)
        cum[i] = i > 0 && h->cum[i] < cum[i - 1] ? cum[i - 1] : h->cum[i];
    double observations = cum[n - 1];
    if (observations <= 0)
        return NAN;
    double rank = q * observations;
    int b = 0;
    while (b < n - 1 && cum[b] < rank)
        b++;
    if (b == n - 1)
        return h->le[n - 2];
    if (b == 0 && h->le[0] <= 0)
        return h->le[0];
    double start = 0, end = h->le[b], count = cum[b];
    if (b > 0) {
        start = h->le[b - 1];
        count -= cum[b - 1];
        rank -= cum[b - 1];
    }
    return start + (end - start) * (rank / count);
}

static void quantiles(const struct scrape_hist *h, const char *lane, struct acq_quantiles *q)
{
    snprintf(q->lane, sizeof(q->lane), "%s", lane);
    q->count = scrape_count(h);
    q->p50_s = scrape_quantile(h, 0.50);
    q->p95_s = scrape_quantile(h, 0.95);
    q->p99_s = scrape_quantile(h, 0.99);
}

/* The delta of one family between the scrapes; returns the bucket lines found after. */
static int family_delta(const char *before, const char *after, const char *family, const char *database,
                        struct scrape_set *delta)
{
    static struct scrape_set a, b;
    int n = scrape_parse(after, family, database, &a);
    if (n == 0)
        return 0;
    if (before != NULL)
        scrape_parse(before, family, database, &b);
    scrape_delta(&a, before ? &b : NULL, delta);
    return n;
}

int scrape_acquisition(const char *before, const char *after, const char *database, struct acq_result *r)
{
    static struct scrape_set pool, lanes;
    memset(r, 0, sizeof(*r));
    /* Restrict to the database when the pooler reports it; otherwise take every pool. */
    const char *db = database;
    if (db != NULL && db[0] != '\0' && scrape_parse(after, ACQ_FAMILY, db, &pool) == 0 &&
        scrape_parse(after, ACQ_LANE_FAMILY, db, &lanes) == 0)
        db = NULL;
    if (db != NULL && db[0] == '\0')
        db = NULL;
    snprintf(r->database, sizeof(r->database), "%s", db ? db : "");

    int have_pool = family_delta(before, after, ACQ_FAMILY, db, &pool);
    int pool_has_lanes = 0;
    for (int i = 0; i < pool.n && have_pool; i++)
        if (pool.h[i].lane[0] != '\0')
            pool_has_lanes = 1;
    int have_lanes = 0;
    if (pool_has_lanes) {
        lanes = pool;
        have_lanes = 1;
        snprintf(r->lanes_family, sizeof(r->lanes_family), "%s", ACQ_FAMILY);
    } else if (family_delta(before, after, ACQ_LANE_FAMILY, db, &lanes) > 0) {
        have_lanes = 1;
        snprintf(r->lanes_family, sizeof(r->lanes_family), "%s", ACQ_LANE_FAMILY);
    }
    if (!have_pool && !have_lanes) {
        snprintf(r->reason, sizeof(r->reason), "no %s or %s histogram in the scraped metrics", ACQ_FAMILY,
                 ACQ_LANE_FAMILY);
        return 0;
    }
    struct scrape_hist total;
    scrape_sum(have_pool ? &pool : &lanes, &total);
    quantiles(&total, "total", &r->total);
    if (have_lanes)
        for (int i = 0; i < lanes.n; i++)
            if (lanes.h[i].lane[0] != '\0')
                quantiles(&lanes.h[i], lanes.h[i].lane, &r->lanes[r->nlanes++]);
    r->measured = 1;
    return 1;
}

struct body {
    char *data;
    size_t len;
    int oom;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct body *b = userdata;
    size_t n = size * nmemb;
    char *grown = realloc(b->data, b->len + n + 1);
    if (grown == NULL) {
        b->oom = 1;
        return 0;
    }
    b->data = grown;
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

char *scrape_fetch(const char *url, const char *bearer_token, double timeout_s, char *err, size_t errlen)
{
    CURL *curl = curl_easy_init();
    if (curl == NULL) {
        snprintf(err, errlen, "cannot initialise libcurl");
        return NULL;
    }
    struct body b = {0};
    char auth[512];
    struct curl_slist *headers = curl_slist_append(NULL, "Accept: text/plain;version=0.0.4");
    if (bearer_token != NULL) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", bearer_token);
        headers = curl_slist_append(headers, auth);
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)(timeout_s * 1000));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    if (rc != CURLE_OK || status >= 400 || b.oom) {
        if (rc != CURLE_OK)
            snprintf(err, errlen, "%s", curl_easy_strerror(rc));
        else if (b.oom)
            snprintf(err, errlen, "out of memory");
        else
            snprintf(err, errlen, "HTTP status %ld", status);
        free(b.data);
        return NULL;
    }
    if (b.data == NULL)
        b.data = calloc(1, 1);
    return b.data;
}
