/* channel_conf.c — [alert_channels] lines: "key=value key='quoted value'" pairs, checked per type. */
#include "channel_conf.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_names[CH_TYPE_COUNT] = {
    "slack", "pagerduty", "twilio", "email", "resend", "webhook", "alertmanager",
};

/* The vendor's base URL when url= is not given; NULL: url= is required. */
static const char *const default_urls[CH_TYPE_COUNT] = {
    NULL, "https://events.pagerduty.com", "https://api.twilio.com", NULL, "https://api.resend.com", NULL, NULL,
};

const char *channel_type_str(enum channel_type t)
{
    return (unsigned)t < CH_TYPE_COUNT ? type_names[t] : "?";
}

#define TBIT(t) (1u << (t))
#define ALL_TYPES ((1u << CH_TYPE_COUNT) - 1)

enum key_kind { K_STR, K_INT, K_SEV, K_TYPE, K_TO };

struct key_def {
    const char *name;
    enum key_kind kind;
    size_t offset, size;         /* K_STR: the char array */
    unsigned types;              /* the types it applies to */
    bool secret;                 /* masked in SHOW CONFIG unless given as env:NAME */
    long min, max;               /* K_INT */
};

#define KS(n, types, secret) {#n, K_STR, offsetof(struct channel_conf, n), sizeof(((struct channel_conf *)0)->n), types, secret, 0, 0}
#define KI(n, types, lo, hi) {#n, K_INT, offsetof(struct channel_conf, n), 0, types, false, lo, hi}

static const struct key_def keys[] = {
    {"type", K_TYPE, 0, 0, ALL_TYPES, false, 0, 0},
    KS(url, ALL_TYPES, false), /* slack's URL is its secret: masked below */
    {"min_severity", K_SEV, 0, 0, ALL_TYPES, false, 0, 0},
    KI(after_min, ALL_TYPES, 0, 10080),
    KI(rate_limit_per_h, ALL_TYPES, 0, 100000),
    KS(routing_key, TBIT(CH_PAGERDUTY), true),
    KS(account_sid, TBIT(CH_TWILIO), false),
    KS(auth_token, TBIT(CH_TWILIO), true),
    KS(from, TBIT(CH_TWILIO) | TBIT(CH_EMAIL) | TBIT(CH_RESEND), false),
    {"to", K_TO, 0, 0, TBIT(CH_TWILIO) | TBIT(CH_EMAIL) | TBIT(CH_RESEND), false, 0, 0},
    KS(api_key, TBIT(CH_RESEND), true),
    KS(secret, TBIT(CH_WEBHOOK), true),
    KS(username, TBIT(CH_EMAIL), false),
    KS(password, TBIT(CH_EMAIL), true),
    KI(timeout_ms, ALL_TYPES, 100, 600000),
    KI(retries, ALL_TYPES, 0, 20),
    KI(backoff_ms, ALL_TYPES, 1, 600000),
    KI(circuit_after, ALL_TYPES, 1, 1000),
    KI(circuit_open_s, ALL_TYPES, 1, 86400),
    KI(queue_len, ALL_TYPES, 1, 10000),
    KI(resend_s, TBIT(CH_ALERTMANAGER), 1, 86400),
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static bool failf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool failf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return false;
}

static const struct key_def *key_find(const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

static bool has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

static bool parse_int(const char *s, long *out)
{
    char *end;
    errno = 0;
    if (*s == '\0')
        return false;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

static bool valid_phone(const char *s)
{
    if (*s != '+' || s[1] == '\0')
        return false;
    size_t n = 0;
    for (s++; *s; s++, n++)
        if (!isdigit((unsigned char)*s))
            return false;
    return n >= 4 && n <= 15;
}

/* "a@b.c" or "Name <a@b.c>": one '@' inside the address part, no spaces in it. */
static bool valid_address(const char *s)
{
    const char *lt = strchr(s, '<');
    const char *a = lt != NULL ? lt + 1 : s;
    size_t len = lt != NULL ? (size_t)(strchr(a, '>') != NULL ? strchr(a, '>') - a : 0) : strlen(a);
    if (len == 0 || (lt != NULL && strchr(a, '>')[1] != '\0'))
        return false;
    const char *at = memchr(a, '@', len);
    if (at == NULL || at == a || at == a + len - 1)
        return false;
    for (size_t i = 0; i < len; i++)
        if (a[i] == ' ' || a[i] == '<' || a[i] == '>' || a[i] == ',' || a[i] == '"')
            return false;
    return true;
}

struct parse_state {
    struct channel_conf *c;
    unsigned seen;               /* bit per keys[] index */
    size_t shown_len;
    const char *(*getenv_fn)(const char *);
};

static void shown_append(struct parse_state *st, const char *key, const char *val)
{
    bool quote = strchr(val, ' ') != NULL || val[0] == '\0';
    int n = snprintf(st->c->shown + st->shown_len, sizeof(st->c->shown) - st->shown_len, "%s%s=%s%s%s",
                     st->shown_len ? " " : "", key, quote ? "'" : "", val, quote ? "'" : "");
    if (n > 0 && st->shown_len + (size_t)n < sizeof(st->c->shown))
        st->shown_len += (size_t)n;
}

static bool set_to(struct channel_conf *c, const char *val, char *err, size_t errlen)
{
    char copy[2048];
    if (strlen(val) >= sizeof(copy))
        return failf(err, errlen, "key 'to': the list is too long");
    snprintf(copy, sizeof(copy), "%s", val);
    c->nto = 0;
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
        while (*item == ' ')
            item++;
        size_t len = strlen(item);
        while (len > 0 && item[len - 1] == ' ')
            item[--len] = '\0';
        if (len == 0)
            continue;
        if (c->nto == CHANNEL_TO_MAX)
            return failf(err, errlen, "key 'to': at most %d recipients", CHANNEL_TO_MAX);
        if (len >= sizeof(c->to[0]))
            return failf(err, errlen, "key 'to': recipient '%.40s...' is too long", item);
        memcpy(c->to[c->nto++], item, len + 1);
    }
    if (c->nto == 0)
        return failf(err, errlen, "key 'to': no recipient");
    return true;
}

static bool apply_key(struct parse_state *st, const char *key, const char *raw, char *err, size_t errlen)
{
    struct channel_conf *c = st->c;
    const struct key_def *k = key_find(key);
    if (k == NULL)
        return failf(err, errlen, "key '%s': unknown key (expected type, url, min_severity, after_min, "
                                  "rate_limit_per_h, or the type's own keys)", key);
    size_t idx = (size_t)(k - keys);
    if (st->seen & (1u << idx))
        return failf(err, errlen, "key '%s': given twice", key);
    st->seen |= 1u << idx;
    const char *val = raw;
    bool from_env = strncmp(raw, "env:", 4) == 0;
    if (from_env) {
        if (raw[4] == '\0')
            return failf(err, errlen, "key '%s': env: needs a variable name", key);
        val = st->getenv_fn(raw + 4);
        if (val == NULL || val[0] == '\0')
            return failf(err, errlen, "key '%s': environment variable %s is not set", key, raw + 4);
    }
    if (has_control(val))
        return failf(err, errlen, "key '%s': control characters are not allowed", key);
    switch (k->kind) {
    case K_TYPE:
        for (int t = 0; t < CH_TYPE_COUNT; t++)
            if (strcmp(val, type_names[t]) == 0) {
                c->type = (enum channel_type)t;
                shown_append(st, key, val);
                return true;
            }
        return failf(err, errlen, "key 'type': '%s' is not one of slack, pagerduty, twilio, email, resend, "
                                  "webhook, alertmanager", val);
    case K_SEV: {
        int s = alert_severity_parse(val);
        if (s < 0)
            return failf(err, errlen, "key 'min_severity': '%s' is not one of INFO, WARNING, HIGH, CRITICAL, "
                                      "EMERGENCY", val);
        c->min_severity = (enum alert_severity)s;
        shown_append(st, key, alert_severity_name(c->min_severity));
        return true;
    }
    case K_INT: {
        long v;
        if (!parse_int(val, &v))
            return failf(err, errlen, "key '%s': '%s' is not an integer", key, val);
        if (v < k->min || v > k->max)
            return failf(err, errlen, "key '%s': %ld is out of range %ld..%ld", key, v, k->min, k->max);
        *(int *)((char *)c + k->offset) = (int)v;
        shown_append(st, key, val);
        return true;
    }
    case K_TO:
        if (!set_to(c, val, err, errlen))
            return false;
        shown_append(st, key, from_env ? raw : val);
        return true;
    case K_STR:
        if (strlen(val) >= k->size)
            return failf(err, errlen, "key '%s': too long (at most %zu characters)", key, k->size - 1);
        memcpy((char *)c + k->offset, val, strlen(val) + 1);
        /* the URL of a Slack webhook is its secret; it is masked once the type is known (check) */
        shown_append(st, key, from_env ? raw : k->secret ? "********" : val);
        return true;
    }
    return false;
}

/* Splits "k=v k='v w'" and applies each pair. */
static bool parse_pairs(struct parse_state *st, const char *spec, char *err, size_t errlen)
{
    const char *p = spec;
    char key[32], val[2048];
    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '\0')
            return true;
        size_t k = 0;
        while (*p && *p != '=' && !isspace((unsigned char)*p)) {
            if (k + 1 >= sizeof(key))
                return failf(err, errlen, "key '%.31s...': unknown key", p - k);
            key[k++] = *p++;
        }
        key[k] = '\0';
        if (*p != '=' || k == 0)
            return failf(err, errlen, "expected key=value, found '%.40s'", key[0] ? key : p);
        p++;
        size_t v = 0;
        if (*p == '\'') {
            for (p++;; p++) {
                if (*p == '\0')
                    return failf(err, errlen, "key '%s': unterminated quoted value", key);
                if (*p == '\'')
                    break;
                if (*p == '\\' && p[1] != '\0')
                    p++;
                if (v + 1 >= sizeof(val))
                    return failf(err, errlen, "key '%s': value too long", key);
                val[v++] = *p;
            }
            p++;
        } else {
            while (*p && !isspace((unsigned char)*p)) {
                if (v + 1 >= sizeof(val))
                    return failf(err, errlen, "key '%s': value too long", key);
                val[v++] = *p++;
            }
        }
        val[v] = '\0';
        if (!apply_key(st, key, val, err, errlen))
            return false;
    }
}

static bool seen(const struct parse_state *st, const char *key)
{
    return (st->seen & (1u << (size_t)(key_find(key) - keys))) != 0;
}

static bool url_scheme_ok(const char *url, enum channel_type t)
{
    if (t == CH_EMAIL)
        return strncmp(url, "smtp://", 7) == 0 || strncmp(url, "smtps://", 8) == 0;
    return strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0;
}

/* The keys each type needs, beyond type and min_severity. */
static const char *const required[CH_TYPE_COUNT][5] = {
    [CH_SLACK] = {"url"},
    [CH_PAGERDUTY] = {"routing_key"},
    [CH_TWILIO] = {"account_sid", "auth_token", "from", "to"},
    [CH_EMAIL] = {"url", "from", "to"},
    [CH_RESEND] = {"api_key", "from", "to"},
    [CH_WEBHOOK] = {"url", "secret"},
    [CH_ALERTMANAGER] = {"url"},
};

static bool check(struct parse_state *st, char *err, size_t errlen)
{
    struct channel_conf *c = st->c;
    if (!seen(st, "type"))
        return failf(err, errlen, "key 'type' is missing (slack, pagerduty, twilio, email, resend, webhook or "
                                  "alertmanager)");
    if (!seen(st, "min_severity"))
        return failf(err, errlen, "key 'min_severity' is missing (INFO, WARNING, HIGH, CRITICAL or EMERGENCY)");
    for (size_t i = 0; i < NKEYS; i++)
        if ((st->seen & (1u << i)) && !(keys[i].types & TBIT(c->type)))
            return failf(err, errlen, "key '%s' does not apply to type=%s", keys[i].name, type_names[c->type]);
    for (int i = 0; i < 5 && required[c->type][i] != NULL; i++)
        if (!seen(st, required[c->type][i]))
            return failf(err, errlen, "type=%s needs key '%s'", type_names[c->type], required[c->type][i]);
    if (c->url[0] == '\0' && default_urls[c->type] != NULL)
        snprintf(c->url, sizeof(c->url), "%s", default_urls[c->type]);
    if (!url_scheme_ok(c->url, c->type))
        return failf(err, errlen, "key 'url': '%s' must start with %s", c->type == CH_SLACK ? "********" : c->url,
                     c->type == CH_EMAIL ? "smtp:// or smtps://" : "http:// or https://");
    size_t ulen = strlen(c->url);
    while (ulen > 0 && c->url[ulen - 1] == '/' && c->type != CH_SLACK && c->type != CH_WEBHOOK &&
           c->type != CH_EMAIL)
        c->url[--ulen] = '\0'; /* a base URL: the API path is appended */
    for (int i = 0; i < c->nto; i++) {
        if (c->type == CH_TWILIO && !valid_phone(c->to[i]))
            return failf(err, errlen, "key 'to': '%s' is not an E.164 number (+15550101)", c->to[i]);
        if (c->type != CH_TWILIO && !valid_address(c->to[i]))
            return failf(err, errlen, "key 'to': '%s' is not an email address", c->to[i]);
    }
    if (c->type == CH_TWILIO && !valid_phone(c->from) && strncmp(c->from, "MG", 2) != 0)
        return failf(err, errlen, "key 'from': '%s' is not an E.164 number or a messaging service SID (MG...)",
                     c->from);
    if ((c->type == CH_EMAIL || c->type == CH_RESEND) && !valid_address(c->from))
        return failf(err, errlen, "key 'from': '%s' is not an email address", c->from);
    if (c->type == CH_SLACK && seen(st, "url")) {
        /* re-render the shown line with the URL masked (unless it came from env:) */
        char *u = strstr(c->shown, "url=");
        if (u != NULL && strncmp(u + 4, "env:", 4) != 0) {
            char *end = strchr(u, ' ');
            char tail[sizeof(c->shown)];
            snprintf(tail, sizeof(tail), "%s", end != NULL ? end : "");
            snprintf(u, sizeof(c->shown) - (size_t)(u - c->shown), "url=********%s", tail);
        }
    }
    return true;
}

static const char *env_lookup(const char *name)
{
    return getenv(name);
}

bool channel_conf_parse(struct channel_conf_list *list, const char *name, const char *spec,
                        const char *(*getenv_fn)(const char *), char *err, size_t errlen)
{
    if (list->n >= CHANNELS_MAX)
        return failf(err, errlen, "at most %d channels", CHANNELS_MAX);
    if (name[0] == '\0' || strlen(name) >= sizeof(list->ch[0].name))
        return failf(err, errlen, "the channel name must have 1 to %zu characters", sizeof(list->ch[0].name) - 1);
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
            return failf(err, errlen, "the channel name may only contain letters, digits, '-', '_' and '.'");
    for (int i = 0; i < list->n; i++)
        if (strcmp(list->ch[i].name, name) == 0)
            return failf(err, errlen, "defined twice");
    struct channel_conf *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return failf(err, errlen, "out of memory");
    snprintf(c->name, sizeof(c->name), "%s", name);
    c->timeout_ms = 5000;
    c->retries = 3;
    c->backoff_ms = 1000;
    c->circuit_after = 5;
    c->circuit_open_s = 60;
    c->queue_len = 64;
    c->resend_s = 60;
    struct parse_state st = {.c = c, .getenv_fn = getenv_fn != NULL ? getenv_fn : env_lookup};
    bool ok = parse_pairs(&st, spec, err, errlen) && check(&st, err, errlen);
    if (ok) {
        struct channel_conf *grown = realloc(list->ch, sizeof(*grown) * (size_t)(list->n + 1));
        if (grown == NULL)
            ok = failf(err, errlen, "out of memory");
        else {
            list->ch = grown;
            memcpy(&list->ch[list->n++], c, sizeof(*c)); /* padding too: reload compares lines with memcmp */
        }
    }
    memset(c, 0, sizeof(*c)); /* secrets */
    free(c);
    return ok;
}

void channel_conf_free(struct channel_conf_list *list)
{
    if (list->ch != NULL) {
        volatile char *p = (volatile char *)list->ch;
        for (size_t i = 0; i < sizeof(*list->ch) * (size_t)list->n; i++)
            p[i] = 0;
    }
    free(list->ch);
    list->ch = NULL;
    list->n = 0;
}

bool channel_conf_copy(struct channel_conf_list *dst, const struct channel_conf_list *src)
{
    channel_conf_free(dst);
    if (src->n == 0)
        return true;
    dst->ch = malloc(sizeof(*dst->ch) * (size_t)src->n);
    if (dst->ch == NULL)
        return false;
    memcpy(dst->ch, src->ch, sizeof(*dst->ch) * (size_t)src->n);
    dst->n = src->n;
    return true;
}
