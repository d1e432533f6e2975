/* format.c — one notice as each alert service's wire request (format.h). Pure. */
#include "format.h"

#include <ctype.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- small text helpers ---- */

struct sbuf {
    char *p;
    size_t len, cap;
    bool failed;
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (np == NULL) {
            b->failed = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_puts(struct sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    char tmp[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        b->failed = true;
    else
        sb_put(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Escapes &, < and > (Slack mrkdwn and HTML). */
static void sb_escaped(struct sbuf *b, const char *s, bool quotes)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': sb_puts(b, "&amp;"); break;
        case '<': sb_puts(b, "&lt;"); break;
        case '>': sb_puts(b, "&gt;"); break;
        case '"':
            if (quotes) {
                sb_puts(b, "&quot;");
                break;
            }
            /* fall through */
        default: sb_put(b, s, 1);
        }
    }
}

static void iso8601(time_t t, char *out, size_t cap)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *state_word(const struct alert_notice *n)
{
    return n->resolved ? "RESOLVED" : alert_severity_name(n->severity);
}

static const char *lower_severity(enum alert_severity s)
{
    static const char *const names[SEV_COUNT] = {"info", "warning", "high", "critical", "emergency"};
    return (unsigned)s < SEV_COUNT ? names[s] : "unknown";
}

const char *format_pagerduty_severity(enum alert_severity s)
{
    switch (s) {
    case SEV_EMERGENCY:
    case SEV_CRITICAL: return "critical";
    case SEV_HIGH: return "error";
    case SEV_WARNING: return "warning";
    default: return "info";
    }
}

/* The "name: value" lines of details as a JSON object (a line without ": " is kept under its index). */
static json_t *details_object(const char *details)
{
    json_t *o = json_object();
    const char *line = details;
    int idx = 0;
    while (o != NULL && *line) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char buf[1024];
        if (len >= sizeof(buf))
            len = sizeof(buf) - 1;
        memcpy(buf, line, len);
        buf[len] = '\0';
        char *sep = strstr(buf, ": ");
        if (len > 0) {
            if (sep != NULL) {
                *sep = '\0';
                json_object_set_new(o, buf, json_string(sep + 2));
            } else {
                char k[16];
                snprintf(k, sizeof(k), "line%d", ++idx);
                json_object_set_new(o, k, json_string(buf));
            }
        }
        line = end ? end + 1 : line + len;
    }
    return o;
}

/* Splits a "\n" (actions) or "," (weddings) list into a JSON array of trimmed items. */
static json_t *list_array(const char *text, char sep)
{
    json_t *a = json_array();
    const char *p = text;
    while (a != NULL && *p) {
        const char *end = strchr(p, sep);
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *s = p;
        while (len > 0 && (*s == ' ' || *s == '\t')) {
            s++;
            len--;
        }
        while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\r'))
            len--;
        if (len > 0)
            json_array_append_new(a, json_stringn(s, len));
        p = end ? end + 1 : p + strlen(p);
    }
    return a;
}

/* Hands b's text to r as its body (false, and b freed, if building it ran out of memory). */
static bool take_body(struct wire_request *r, struct sbuf *b)
{
    if (b->failed) {
        free(b->p);
        return false;
    }
    r->body = b->p;
    r->body_len = b->len;
    return true;
}

static bool set_json_body(struct wire_request *r, json_t *doc)
{
    if (doc == NULL)
        return false;
    r->body = json_dumps(doc, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (r->body == NULL)
        return false;
    r->body_len = strlen(r->body);
    return true;
}

static void add_header(struct wire_request *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_header(struct wire_request *r, const char *fmt, ...)
{
    if (r->nheaders >= WIRE_HEADERS_MAX)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->headers[r->nheaders++], sizeof(r->headers[0]), fmt, ap);
    va_end(ap);
}

static void json_headers(struct wire_request *r, const struct format_env *env)
{
    add_header(r, "Content-Type: application/json");
    add_header(r, "User-Agent: wedpool/%s", env->version);
}

/* ---- Slack incoming webhook ---- */

static json_t *mrkdwn_section(const char *text)
{
    return json_pack("{s:s, s:{s:s, s:s}}", "type", "section", "text", "type", "mrkdwn", "text", text);
}

static bool slack(const struct alert_notice *n, const struct format_env *env, struct wire_request *r)
{
    char text[300];
    snprintf(text, sizeof(text), "[%s] %s", state_word(n), n->summary);
    json_t *blocks = json_array();
    struct sbuf b = {0};
    sb_printf(&b, "*%s* ", state_word(n));
    sb_escaped(&b, n->summary, false);
    json_array_append_new(blocks, mrkdwn_section(b.p ? b.p : ""));
    if (!n->resolved && n->weddings[0] != '\0') {
        b.len = 0;
        sb_puts(&b, "*Weddings affected:* ");
        sb_escaped(&b, n->weddings, false);
        sb_printf(&b, "\n%d in progress, %ld guests affected", n->active_weddings, n->guests_affected);
        json_array_append_new(blocks, mrkdwn_section(b.p));
    }
    if (!n->resolved && n->details[0] != '\0') {
        b.len = 0;
        sb_puts(&b, "*Numbers*\n```");
        sb_escaped(&b, n->details, false);
        sb_puts(&b, "```");
        json_array_append_new(blocks, mrkdwn_section(b.p));
    }
    if (!n->resolved && n->actions[0] != '\0') {
        b.len = 0;
        sb_puts(&b, "*Recommended actions*");
        json_t *acts = list_array(n->actions, '\n');
        size_t i;
        json_t *v;
        json_array_foreach(acts, i, v)
        {
            sb_puts(&b, "\n\xe2\x80\xa2 "); /* bullet */
            sb_escaped(&b, json_string_value(v), false);
        }
        json_decref(acts);
        json_array_append_new(blocks, mrkdwn_section(b.p));
    }
    b.len = 0;
    sb_puts(&b, "`");
    sb_escaped(&b, n->key, false);
    sb_puts(&b, "`");
    if (n->runbook[0] != '\0') {
        if (strncmp(n->runbook, "http", 4) == 0) {
            sb_puts(&b, " \xc2\xb7 <");
            sb_escaped(&b, n->runbook, false);
            sb_puts(&b, "|Runbook>");
        } else {
            sb_puts(&b, " \xc2\xb7 runbook: ");
            sb_escaped(&b, n->runbook, false);
        }
    }
    sb_puts(&b, " \xc2\xb7 wedpool on ");
    sb_escaped(&b, env->hostname, false);
    json_array_append_new(blocks, json_pack("{s:s, s:[{s:s, s:s}]}", "type", "context", "elements", "type", "mrkdwn",
                                            "text", b.p ? b.p : ""));
    bool failed = b.failed;
    free(b.p);
    json_headers(r, env);
    return !failed && set_json_body(r, json_pack("{s:s, s:o}", "text", text, "blocks", blocks));
}

/* ---- PagerDuty Events API v2 ---- */

static bool pagerduty(const struct channel_conf *c, const struct alert_notice *n, const struct format_env *env,
                      struct wire_request *r)
{
    snprintf(r->url, sizeof(r->url), "%s/v2/enqueue", c->url);
    json_headers(r, env);
    if (n->resolved)
        return set_json_body(r, json_pack("{s:s, s:s, s:s}", "routing_key", c->routing_key, "event_action", "resolve",
                                          "dedup_key", n->key));
    char ts[32];
    iso8601(n->at, ts, sizeof(ts));
    json_t *custom = details_object(n->details);
    json_object_set_new(custom, "weddings", list_array(n->weddings, ','));
    json_object_set_new(custom, "active_weddings", json_integer(n->active_weddings));
    json_object_set_new(custom, "guests_affected", json_integer(n->guests_affected));
    json_object_set_new(custom, "recommended_actions", list_array(n->actions, '\n'));
    json_object_set_new(custom, "wedpool_severity", json_string(alert_severity_name(n->severity)));
    if (n->runbook[0] != '\0')
        json_object_set_new(custom, "runbook", json_string(n->runbook));
    json_t *payload = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "summary", n->summary, "source",
                                n->host[0] ? n->host : env->hostname, "severity", format_pagerduty_severity(n->severity),
                                "timestamp", ts, "component", "wedpool", "class", n->rule);
    if (payload == NULL) {
        json_decref(custom);
        return false;
    }
    if (n->database[0] != '\0')
        json_object_set_new(payload, "group", json_string(n->database));
    json_object_set_new(payload, "custom_details", custom);
    json_t *doc = json_pack("{s:s, s:s, s:s, s:o, s:s}", "routing_key", c->routing_key, "event_action", "trigger",
                            "dedup_key", n->key, "payload", payload, "client", "wedpool");
    if (doc != NULL && strncmp(n->runbook, "http", 4) == 0)
        json_object_set_new(doc, "links", json_pack("[{s:s, s:s}]", "href", n->runbook, "text", "Runbook"));
    return set_json_body(r, doc);
}

/* ---- Twilio ---- */

/* Copies at most max_chars UTF-8 characters of in (and what fits in cap). */
static void utf8_cut(const char *in, char *out, size_t cap, int max_chars)
{
    size_t o = 0;
    int chars = 0;
    const unsigned char *s = (const unsigned char *)in;
    while (*s && chars < max_chars) {
        size_t len = *s < 0x80 ? 1 : (*s & 0xe0) == 0xc0 ? 2 : (*s & 0xf0) == 0xe0 ? 3 : (*s & 0xf8) == 0xf0 ? 4 : 1;
        size_t have = 1;
        while (have < len && s[have] != '\0' && (s[have] & 0xc0) == 0x80)
            have++;
        if (have != len)
            len = have = 1; /* a broken sequence: taken byte by byte */
        if (o + len + 1 > cap)
            break;
        memcpy(out + o, s, len);
        o += len;
        s += len;
        chars++;
    }
    out[o] = '\0';
}

void format_sms_body(const struct alert_notice *n, char *out, size_t cap, int max_chars)
{
    char full[1024];
    if (!n->resolved && n->weddings[0] != '\0')
        snprintf(full, sizeof(full), "[%s] %s; weddings: %s", state_word(n), n->summary, n->weddings);
    else
        snprintf(full, sizeof(full), "[%s] %s", state_word(n), n->summary);
    for (char *p = full; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    utf8_cut(full, out, cap, max_chars);
}

static void sb_form_value(struct sbuf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            sb_put(b, (const char *)p, 1);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            sb_put(b, e, 3);
        }
    }
}

static bool twilio(const struct channel_conf *c, const struct alert_notice *n, const struct format_env *env, int i,
                   struct wire_request *r)
{
    struct sbuf sid = {0};
    sb_form_value(&sid, c->account_sid);
    snprintf(r->url, sizeof(r->url), "%s/2010-04-01/Accounts/%s/Messages.json", c->url, sid.p ? sid.p : "");
    free(sid.p);
    add_header(r, "Content-Type: application/x-www-form-urlencoded");
    add_header(r, "User-Agent: wedpool/%s", env->version);
    r->basic_auth = true;
    snprintf(r->username, sizeof(r->username), "%s", c->account_sid);
    snprintf(r->password, sizeof(r->password), "%s", c->auth_token);
    snprintf(r->label, sizeof(r->label), "%.63s", c->to[i]);
    char body[800];
    format_sms_body(n, body, sizeof(body), 160);
    struct sbuf b = {0};
    sb_puts(&b, "To=");
    sb_form_value(&b, c->to[i]);
    sb_puts(&b, "&From=");
    sb_form_value(&b, c->from);
    sb_puts(&b, "&Body=");
    sb_form_value(&b, body);
    return take_body(r, &b);
}

/* ---- email: the text and HTML bodies (SMTP and Resend) ---- */

/* A value that goes into a header line: control characters (a CR LF would start a header of its
 * own) become spaces. Keys name pools, and pool names come from clients' user names. */
static void header_safe(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = ' ';
}

static void subject_line(const struct alert_notice *n, char *out, size_t cap)
{
    snprintf(out, cap, "[%s] %s", state_word(n), n->summary);
    header_safe(out);
}

static void text_body(const struct alert_notice *n, const struct format_env *env, struct sbuf *b, const char *nl)
{
    char started[32];
    iso8601(n->started_at, started, sizeof(started));
    sb_printf(b, "%s: %s%s%s", state_word(n), n->summary, nl, nl);
    if (n->weddings[0] != '\0')
        sb_printf(b, "Weddings affected: %s%s", n->weddings, nl);
    if (n->active_weddings > 0 || n->guests_affected > 0)
        sb_printf(b, "Active weddings: %d, guests affected: %ld%s", n->active_weddings, n->guests_affected, nl);
    if (n->details[0] != '\0') {
        sb_printf(b, "%sDetails:%s", nl, nl);
        for (const char *p = n->details; *p;) {
            const char *end = strchr(p, '\n');
            size_t len = end ? (size_t)(end - p) : strlen(p);
            sb_put(b, p, len);
            sb_puts(b, nl);
            p += len + (end ? 1 : 0);
        }
    }
    if (n->actions[0] != '\0') {
        sb_printf(b, "%sRecommended actions:%s", nl, nl);
        json_t *acts = list_array(n->actions, '\n');
        size_t i;
        json_t *v;
        json_array_foreach(acts, i, v) sb_printf(b, "- %s%s", json_string_value(v), nl);
        json_decref(acts);
    }
    if (n->runbook[0] != '\0')
        sb_printf(b, "%sRunbook: %s%s", nl, n->runbook, nl);
    sb_printf(b, "%sAlert key: %s (started %s)%s-- %swedpool on %s%s", nl, n->key, started, nl, nl, env->hostname, nl);
}

static void html_body(const struct alert_notice *n, const struct format_env *env, struct sbuf *b, const char *nl)
{
    sb_printf(b, "<html><body>%s<h2>%s: ", nl, state_word(n));
    sb_escaped(b, n->summary, true);
    sb_printf(b, "</h2>%s", nl);
    if (n->weddings[0] != '\0') {
        sb_puts(b, "<p><b>Weddings affected:</b> ");
        sb_escaped(b, n->weddings, true);
        sb_printf(b, " (%d in progress, %ld guests)</p>%s", n->active_weddings, n->guests_affected, nl);
    }
    if (n->details[0] != '\0') {
        sb_printf(b, "<table>%s", nl);
        for (const char *p = n->details; *p;) {
            const char *end = strchr(p, '\n');
            size_t len = end ? (size_t)(end - p) : strlen(p);
            char line[1024];
            snprintf(line, sizeof(line), "%.*s", (int)len, p);
            char *sep = strstr(line, ": ");
            sb_puts(b, "<tr><td>");
            if (sep != NULL) {
                *sep = '\0';
                sb_escaped(b, line, true);
                sb_puts(b, "</td><td>");
                sb_escaped(b, sep + 2, true);
            } else {
                sb_escaped(b, line, true);
            }
            sb_printf(b, "</td></tr>%s", nl);
            p += len + (end ? 1 : 0);
        }
        sb_printf(b, "</table>%s", nl);
    }
    if (n->actions[0] != '\0') {
        sb_printf(b, "<p><b>Recommended actions</b></p><ul>%s", nl);
        json_t *acts = list_array(n->actions, '\n');
        size_t i;
        json_t *v;
        json_array_foreach(acts, i, v)
        {
            sb_puts(b, "<li>");
            sb_escaped(b, json_string_value(v), true);
            sb_printf(b, "</li>%s", nl);
        }
        json_decref(acts);
        sb_printf(b, "</ul>%s", nl);
    }
    if (n->runbook[0] != '\0') {
        sb_puts(b, "<p>Runbook: ");
        if (strncmp(n->runbook, "http", 4) == 0) {
            sb_puts(b, "<a href=\"");
            sb_escaped(b, n->runbook, true);
            sb_puts(b, "\">");
            sb_escaped(b, n->runbook, true);
            sb_puts(b, "</a>");
        } else {
            sb_escaped(b, n->runbook, true);
        }
        sb_printf(b, "</p>%s", nl);
    }
    sb_puts(b, "<p><small>Alert key <code>");
    sb_escaped(b, n->key, true);
    sb_puts(b, "</code> &middot; wedpool on ");
    sb_escaped(b, env->hostname, true);
    sb_printf(b, "</small></p>%s</body></html>%s", nl, nl);
}

/* The address inside "Name <a@b>", or the whole string. */
static void bare_address(const char *s, char *out, size_t cap)
{
    const char *lt = strchr(s, '<');
    const char *gt = lt != NULL ? strchr(lt, '>') : NULL;
    if (lt != NULL && gt != NULL)
        snprintf(out, cap, "%.*s", (int)(gt - lt - 1), lt + 1);
    else
        snprintf(out, cap, "%s", s);
}

static bool is_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return false;
    return true;
}

static void sb_base64(struct sbuf *b, const unsigned char *in, size_t len)
{
    char out[4 * ((64 + 2) / 3) + 1];
    while (len > 0) {
        size_t n = len > 48 ? 48 : len;
        int w = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
        sb_put(b, out, (size_t)w);
        in += n;
        len -= n;
    }
}

/* RFC 2047 encoded words for a non-ASCII subject, each at most 45 bytes of UTF-8, never splitting a
 * character, folded onto continuation lines. */
static void sb_subject(struct sbuf *b, const char *subject)
{
    if (is_ascii(subject)) {
        sb_puts(b, subject);
        return;
    }
    const unsigned char *s = (const unsigned char *)subject;
    size_t len = strlen(subject);
    bool first = true;
    while (len > 0) {
        size_t n = len > 45 ? 45 : len;
        while (n < len && n > 0 && (s[n] & 0xc0) == 0x80)
            n--; /* s[n] continues a character: end before it */
        if (n == 0)
            n = len > 45 ? 45 : len;
        if (!first)
            sb_puts(b, "\r\n ");
        sb_puts(b, "=?UTF-8?B?");
        sb_base64(b, s, n);
        sb_puts(b, "?=");
        s += n;
        len -= n;
        first = false;
    }
}

static void hex_digest(const char *text, char *out, size_t hexchars)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)text, strlen(text), md);
    for (size_t i = 0; i < hexchars / 2 && i < sizeof(md); i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static bool email(const struct channel_conf *c, const struct alert_notice *n, const struct format_env *env,
                  struct wire_request *r)
{
    snprintf(r->url, sizeof(r->url), "%s", c->url);
    r->smtp = true;
    if (c->username[0] != '\0') {
        r->basic_auth = true;
        snprintf(r->username, sizeof(r->username), "%s", c->username);
        snprintf(r->password, sizeof(r->password), "%s", c->password);
    }
    bare_address(c->from, r->mail_from, sizeof(r->mail_from));
    for (int i = 0; i < c->nto; i++)
        bare_address(c->to[i], r->rcpt[r->nrcpt++], sizeof(r->rcpt[0]));
    char seed[256], id[33] = "";
    snprintf(seed, sizeof(seed), "%s|%u|%d|%lld", n->key, n->notify_seq, n->resolved, (long long)env->now);
    hex_digest(seed, id, 32);
    char boundary[48];
    snprintf(boundary, sizeof(boundary), "=_wedpool_%.24s", id);
    char date[64], subject[300];
    struct tm tm;
    gmtime_r(&env->now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    subject_line(n, subject, sizeof(subject));
    struct sbuf b = {0};
    sb_printf(&b, "Date: %s\r\nFrom: %s\r\nTo: ", date, c->from);
    for (int i = 0; i < c->nto; i++)
        sb_printf(&b, "%s%s", i ? ", " : "", c->to[i]);
    sb_puts(&b, "\r\nSubject: ");
    sb_subject(&b, subject);
    sb_printf(&b, "\r\nMessage-ID: <%s@%s>\r\n", id, env->hostname);
    sb_printf(&b, "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"%s\"\r\n", boundary);
    char key[sizeof(n->key)];
    snprintf(key, sizeof(key), "%s", n->key);
    header_safe(key);
    sb_printf(&b, "X-Wedpool-Alert-Key: %s\r\nX-Wedpool-Severity: %s\r\nUser-Agent: wedpool/%s\r\n\r\n", key,
              state_word(n), env->version);
    sb_printf(&b, "This is a multipart message in MIME format.\r\n\r\n--%s\r\n", boundary);
    sb_puts(&b, "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n");
    text_body(n, env, &b, "\r\n");
    sb_printf(&b, "\r\n--%s\r\n", boundary);
    sb_puts(&b, "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n");
    html_body(n, env, &b, "\r\n");
    sb_printf(&b, "\r\n--%s--\r\n", boundary);
    return take_body(r, &b);
}

static bool resend(const struct channel_conf *c, const struct alert_notice *n, const struct format_env *env,
                   struct wire_request *r)
{
    snprintf(r->url, sizeof(r->url), "%s/emails", c->url);
    json_headers(r, env);
    add_header(r, "Authorization: Bearer %s", c->api_key);
    /* one email per alert state even if a timed-out request is retried */
    char key[sizeof(n->key)];
    snprintf(key, sizeof(key), "%s", n->key);
    header_safe(key);
    add_header(r, "Idempotency-Key: %s/%s/%u", key, n->resolved ? "resolved" : "firing", n->notify_seq);
    char subject[300];
    subject_line(n, subject, sizeof(subject));
    struct sbuf text = {0}, html = {0};
    text_body(n, env, &text, "\n");
    html_body(n, env, &html, "\n");
    json_t *to = json_array();
    for (int i = 0; i < c->nto; i++)
        json_array_append_new(to, json_string(c->to[i]));
    json_t *doc = NULL;
    if (!text.failed && !html.failed)
        doc = json_pack("{s:s, s:o, s:s, s:s, s:s}", "from", c->from, "to", to, "subject", subject, "html", html.p,
                        "text", text.p);
    else
        json_decref(to);
    free(text.p);
    free(html.p);
    return set_json_body(r, doc);
}

/* ---- signed webhook ---- */

void format_webhook_signature(const char *secret, time_t t, const char *body, size_t len, char *out, size_t cap)
{
    char ts[32];
    int tn = snprintf(ts, sizeof(ts), "%lld.", (long long)t);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    /* HMAC over "<t>.<body>", streamed so the body is not copied */
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0), OSSL_PARAM_construct_end()};
    size_t outl = 0;
    bool ok = ctx != NULL && EVP_MAC_init(ctx, (const unsigned char *)secret, strlen(secret), params) &&
              EVP_MAC_update(ctx, (const unsigned char *)ts, (size_t)tn) &&
              EVP_MAC_update(ctx, (const unsigned char *)body, len) && EVP_MAC_final(ctx, md, &outl, sizeof(md));
    mdlen = ok ? (unsigned)outl : 0;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    int n = snprintf(out, cap, "t=%lld,v1=", (long long)t);
    for (unsigned i = 0; i < mdlen && n > 0 && (size_t)n + 3 <= cap; i++)
        n += snprintf(out + n, cap - (size_t)n, "%02x", md[i]);
}

static json_t *notice_json(const struct alert_notice *n)
{
    char started[32], at[32];
    iso8601(n->started_at, started, sizeof(started));
    iso8601(n->at, at, sizeof(at));
    json_t *doc = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:i, s:I, s:o, s:s, s:s, s:s, s:i, s:b}",
                            "version", 1, "key", n->key, "rule", n->rule, "status",
                            n->resolved ? "resolved" : "firing", "severity", alert_severity_name(n->severity),
                            "summary", n->summary, "database", n->database, "host", n->host, "details",
                            details_object(n->details), "weddings", list_array(n->weddings, ','), "active_weddings",
                            n->active_weddings, "guests_affected", (json_int_t)n->guests_affected, "actions",
                            list_array(n->actions, '\n'), "runbook", n->runbook, "started_at", started, "at", at,
                            "notify_seq", (int)n->notify_seq, "test", n->test);
    return doc;
}

static bool webhook(const struct channel_conf *c, const struct alert_notice *n, const struct format_env *env,
                    struct wire_request *r)
{
    snprintf(r->url, sizeof(r->url), "%s", c->url);
    json_headers(r, env);
    r->sign_key = c->secret;
    return set_json_body(r, notice_json(n));
}

/* ---- Alertmanager API v2 ---- */

static bool alertmanager(const struct channel_conf *c, const struct alert_notice *n, const struct format_env *env,
                         struct wire_request *r)
{
    snprintf(r->url, sizeof(r->url), "%s/api/v2/alerts", c->url);
    json_headers(r, env);
    char starts[32], ends[32];
    iso8601(n->started_at, starts, sizeof(starts));
    /* labels identify the alert: the same set on every re-send and on the resolve */
    json_t *labels = json_pack("{s:s, s:s, s:s, s:s, s:s}", "alertname", n->rule, "severity",
                               lower_severity(n->severity), "alert_key", n->key, "service", "wedpool", "instance",
                               env->hostname);
    if (labels != NULL && n->database[0] != '\0')
        json_object_set_new(labels, "database", json_string(n->database));
    if (labels != NULL && n->host[0] != '\0')
        json_object_set_new(labels, "host", json_string(n->host));
    if (labels != NULL && n->test)
        json_object_set_new(labels, "test", json_string("true"));
    json_t *ann = json_pack("{s:s}", "summary", n->summary);
    if (ann != NULL && n->details[0] != '\0')
        json_object_set_new(ann, "description", json_string(n->details));
    if (ann != NULL && n->weddings[0] != '\0')
        json_object_set_new(ann, "weddings", json_string(n->weddings));
    if (ann != NULL) {
        char num[32];
        snprintf(num, sizeof(num), "%d", n->active_weddings);
        json_object_set_new(ann, "active_weddings", json_string(num));
        snprintf(num, sizeof(num), "%ld", n->guests_affected);
        json_object_set_new(ann, "guests_affected", json_string(num));
    }
    if (ann != NULL && n->actions[0] != '\0')
        json_object_set_new(ann, "recommended_actions", json_string(n->actions));
    if (ann != NULL && n->runbook[0] != '\0')
        json_object_set_new(ann, "runbook_url", json_string(n->runbook));
    json_t *alert = json_pack("{s:o, s:o, s:s}", "labels", labels, "annotations", ann, "startsAt", starts);
    if (alert != NULL && n->resolved) {
        iso8601(n->at > n->started_at ? n->at : n->started_at, ends, sizeof(ends));
        json_object_set_new(alert, "endsAt", json_string(ends));
    }
    return set_json_body(r, alert != NULL ? json_pack("[o]", alert) : NULL);
}

/* ---- dispatch ---- */

int format_request_count(const struct channel_conf *c)
{
    return c->type == CH_TWILIO ? c->nto : 1;
}

bool format_request(const struct channel_conf *c, const struct alert_notice *n, const struct format_env *env, int i,
                    struct wire_request *out)
{
    memset(out, 0, sizeof(*out));
    bool ok = false;
    switch (c->type) {
    case CH_SLACK:
        ok = slack(n, env, out);
        snprintf(out->url, sizeof(out->url), "%s", c->url);
        break;
    case CH_PAGERDUTY: ok = pagerduty(c, n, env, out); break;
    case CH_TWILIO: ok = i >= 0 && i < c->nto && twilio(c, n, env, i, out); break;
    case CH_EMAIL: ok = email(c, n, env, out); break;
    case CH_RESEND: ok = resend(c, n, env, out); break;
    case CH_WEBHOOK: ok = webhook(c, n, env, out); break;
    case CH_ALERTMANAGER: ok = alertmanager(c, n, env, out); break;
    case CH_TYPE_COUNT: break;
    }
    if (!ok)
        wire_request_free(out);
    return ok;
}

void wire_request_free(struct wire_request *r)
{
    free(r->body);
    r->body = NULL;
    r->body_len = 0;
}

long format_retry_after(const char *value, time_t now)
{
    while (*value == ' ' || *value == '\t')
        value++;
    if (isdigit((unsigned char)*value)) {
        char *end;
        long v = strtol(value, &end, 10);
        while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
            end++;
        return *end == '\0' && v >= 0 ? v : -1;
    }
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = strptime(value, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (end == NULL)
        return -1;
    time_t t = timegm(&tm);
    return t > now ? (long)(t - now) : 0;
}

enum format_verdict format_classify_http(long status)
{
    if (status >= 200 && status < 300)
        return VERDICT_OK;
    if (status == 429 || status == 408 || status >= 500)
        return VERDICT_RETRY;
    return VERDICT_FAIL;
}
