/* channel_conf.h — one line of [alert_channels]: "name = type=slack url=... min_severity=HIGH ...".
 * Pure: parsing, validation, env:NAME secrets resolved at load, the masked text for SHOW CONFIG. */
#ifndef WEDPOOL_CHANNEL_CONF_H
#define WEDPOOL_CHANNEL_CONF_H

#include <stdbool.h>
#include <stddef.h>

#include "alert.h"

#define CHANNELS_MAX 32
#define CHANNEL_TO_MAX 16        /* recipients of one twilio/email/resend channel */
#define CHANNEL_SECRET_MAX 512

enum channel_type { CH_SLACK, CH_PAGERDUTY, CH_TWILIO, CH_EMAIL, CH_RESEND, CH_WEBHOOK, CH_ALERTMANAGER, CH_TYPE_COUNT };

struct channel_conf {
    char name[64];
    enum channel_type type;
    /* slack, webhook: the full URL; email: smtp:// or smtps://; pagerduty, twilio, resend,
     * alertmanager: the service's base URL (the API path is appended), with the vendor's default */
    char url[CHANNEL_SECRET_MAX];
    enum alert_severity min_severity;
    int after_min;               /* escalation delay for the rules side; 0 = at once */
    int rate_limit_per_h;        /* notifications an hour; 0 = no limit; EMERGENCY bypasses it */
    char routing_key[CHANNEL_SECRET_MAX]; /* pagerduty */
    char account_sid[64];        /* twilio */
    char auth_token[CHANNEL_SECRET_MAX];  /* twilio */
    char from[256];              /* twilio: E.164 number; email, resend: an address ("Name <a@b>") */
    char to[CHANNEL_TO_MAX][256];/* twilio numbers or email addresses, from the comma list */
    int nto;
    char api_key[CHANNEL_SECRET_MAX];     /* resend */
    char secret[CHANNEL_SECRET_MAX];      /* webhook: the HMAC-SHA256 key */
    char username[256];          /* email: SMTP login */
    char password[CHANNEL_SECRET_MAX];    /* email */
    int timeout_ms;              /* per request, connect included */
    int retries;                 /* further attempts after a retryable failure */
    int backoff_ms;              /* first retry delay; doubled each time, +-25 % jitter */
    int circuit_after;           /* consecutive failed attempts that open the circuit */
    int circuit_open_s;          /* open this long, then one trial request (half-open) */
    int queue_len;               /* bounded queue */
    int resend_s;                /* alertmanager: firing alerts are re-posted this often */
    char shown[1536];            /* the line for SHOW CONFIG: secrets as ******** or env:NAME */
};

struct channel_conf_list {
    struct channel_conf *ch;     /* owned array */
    int n;
};

/* Parses one line into list (appended). false + err ("key 'x': ...", without file:line). getenv_fn
 * resolves env:NAME (NULL = getenv). */
bool channel_conf_parse(struct channel_conf_list *list, const char *name, const char *spec,
                        const char *(*getenv_fn)(const char *), char *err, size_t errlen)
    __attribute__((warn_unused_result));
void channel_conf_free(struct channel_conf_list *list);
/* Copies src into dst (dst freed first); false when out of memory. */
bool channel_conf_copy(struct channel_conf_list *dst, const struct channel_conf_list *src)
    __attribute__((warn_unused_result));
const char *channel_type_str(enum channel_type t);

#endif
