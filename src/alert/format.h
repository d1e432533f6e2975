/* format.h — the exact wire request each alert service expects for one notice (issue #13):
 * Slack incoming webhook, PagerDuty Events API v2, Twilio Messages, SMTP (MIME), Resend,
 * a signed webhook and Alertmanager API v2 (see docs/runbook.md and the reference protocols.md).
 * Pure: no I/O, no clock (the caller passes the time), so every byte is unit-tested. */
#ifndef WEDPOOL_FORMAT_H
#define WEDPOOL_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "alert.h"
#include "channel_conf.h"

#define WIRE_HEADERS_MAX 8
#define WEBHOOK_SIGNATURE_HEADER "X-Wedpool-Signature"

/* One request. HTTP: POST url with body and headers. SMTP (smtp = true): the message in body,
 * sent from mail_from to rcpt[] (libcurl adds the dot-stuffing). */
struct wire_request {
    char url[1100];
    char *body;                  /* malloc'd, owned: wire_request_free */
    size_t body_len;
    char headers[WIRE_HEADERS_MAX][600];
    int nheaders;
    bool basic_auth;             /* HTTP Basic (Twilio) / SMTP login with username:password */
    char username[CHANNEL_SECRET_MAX];
    char password[CHANNEL_SECRET_MAX];
    bool smtp;
    char mail_from[256];
    char rcpt[CHANNEL_TO_MAX][256];
    int nrcpt;
    const char *sign_key;        /* webhook: the worker adds the signature header per attempt */
    char label[64];              /* which request of several (Twilio: the number) for the detail */
};

struct format_env {
    const char *hostname;        /* the PagerDuty source, the Alertmanager instance, the Message-ID domain */
    time_t now;                  /* real time: the email's Date, the webhook's signature */
    const char *version;         /* User-Agent: wedpool/<version> */
};

/* How many requests one notice makes on this channel (Twilio: one per number, else 1). */
int format_request_count(const struct channel_conf *c);
/* Builds request i (0 .. count-1) for notice n. false only when out of memory. */
bool format_request(const struct channel_conf *c, const struct alert_notice *n, const struct format_env *env, int i,
                    struct wire_request *out) __attribute__((warn_unused_result));
void wire_request_free(struct wire_request *r);

/* "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed with secret>" into out (>= 80 bytes). */
void format_webhook_signature(const char *secret, time_t t, const char *body, size_t len, char *out, size_t cap);

/* PagerDuty's four levels: critical (CRITICAL, EMERGENCY), error (HIGH), warning, info. */
const char *format_pagerduty_severity(enum alert_severity s);

/* The SMS text: "[CRITICAL] summary; weddings: ..." cut to at most max characters (UTF-8 aware). */
void format_sms_body(const struct alert_notice *n, char *out, size_t cap, int max_chars);

/* A Retry-After value (seconds, or an HTTP-date) as seconds from now; -1 if unparsable. */
long format_retry_after(const char *value, time_t now);

enum format_verdict { VERDICT_OK, VERDICT_RETRY, VERDICT_FAIL };
/* An HTTP answer: 2xx OK; 429, 5xx (and 408) retried; any other status fails at once. */
enum format_verdict format_classify_http(long status);

#endif
