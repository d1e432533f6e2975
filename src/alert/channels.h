/* channels.h — delivery of alert notices to the [alert_channels] (issue #13, delivery half).
 *
 * The rules side (alert.c, rules.c) decides WHAT goes WHERE and WHEN; this module only delivers:
 * each channel has its own worker thread and bounded queue (outbox.h), so a hung endpoint delays
 * nothing but its own channel. Per channel: rate_limit_per_h (EMERGENCY bypasses it), retries with
 * exponential backoff and jitter on network errors, 429 (Retry-After honoured) and 5xx, no retry
 * on other 4xx, a circuit breaker, a per-request timeout. Every channels_send() produces exactly one
 * result, always through the channels_on_result() callback on the loop thread (never from inside
 * channels_send()). Alertmanager channels re-send their firing alerts by themselves every resend_s
 * (a re-send produces no result).
 *
 * Channel indexes are 0 .. channels_count()-1 in the file's order and change only on a reload
 * (channels_config_changed); after one, look channels up by name (channel_find). */
#ifndef WEDPOOL_CHANNELS_H
#define WEDPOOL_CHANNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "alert.h"

struct pbuf;
struct wp_config;

/* What came of one channels_send(). */
struct channel_result {
    int channel;                /* index now (after a reload: the same name's index, -1 if removed) */
    char channel_name[64];
    char key[128];              /* the notice's key, notify_seq, resolved, test, severity, copied */
    unsigned notify_seq;
    bool resolved;
    bool test;
    enum alert_severity severity;
    enum alert_result result;
    long http_status;           /* the last HTTP status (SMTP: the last reply code); 0 if none */
    int attempts;               /* requests made (Twilio: summed over the numbers); 0 if dropped */
    double latency_ms;          /* from channels_send() to this outcome */
    char detail[256];           /* "202", "HTTP 400: invalid_payload", "timeout after 5000 ms", ... */
};

typedef void (*channel_result_fn)(const struct channel_result *r, void *arg);

/* Lifecycle (main.c): after the configuration is loaded, with the loop running. false + err. */
bool channels_start(char *err, size_t errlen) __attribute__((warn_unused_result));
/* After a reload (rt.cfg replaced): unchanged channels keep their queue, breaker and rate window;
 * changed or removed ones finish their current request in the background and go. */
void channels_config_changed(void);
/* Shutdown: stops every worker (a request in flight is abandoned within about a second). */
void channels_stop(void);

/* The configured channels, in the file's order. */
int channels_count(void);
const char *channel_name(int ch);
const char *channel_type_name(int ch);                 /* "slack", "pagerduty", ... */
enum alert_severity channel_min_severity(int ch);
int channel_after_min(int ch);                         /* 0 = notified at once */
int channel_find(const char *name);                    /* -1 if no such channel */

/* Queues n for channel ch (copied; the caller keeps n). Never blocks. The outcome comes back
 * through the result callback; rate limit, circuit and full queue are results too. */
void channels_send(int ch, const struct alert_notice *n);
/* One callback (the rules side's); NULL to remove. Called on the loop thread. */
void channels_on_result(channel_result_fn fn, void *arg);

/* For the alert_delivery_failing rule: true while the channel's last delivery failed (or its
 * circuit is open), with *since = clock time of the first failure of this run of failures. */
bool channel_failing_since(int ch, time_t *since);
/* Circuit state for SHOW ALERTS / the API: "closed", "open", "half_open". */
const char *channel_circuit_state(int ch);

/* Counters and state of one channel, for SHOW ALERT_CHANNELS. false if no such channel. */
struct channel_stats {
    uint64_t results[ALERT_RESULT_COUNT];
    int queued;
    const char *circuit;         /* channel_circuit_state() */
    bool failing;
    time_t failing_since;
    double latency_avg_ms;       /* of the sent ones */
    int rate_limit_per_h;
    int firing;                  /* alertmanager: alerts re-sent while firing */
};
bool channel_stats(int ch, struct channel_stats *out);

/* A test notice (rule "test", test = true) for channel name: what --test-alert and the admin
 * console's ALERT TEST send. key "" = "test:<name>". */
void channels_test_notice(const char *name, enum alert_severity sev, const char *key, struct alert_notice *n);

/* wedpool --test-alert NAME -c FILE: sends a test notice through the channel named name of cfg on
 * the calling thread (no loop needed), with the channel's retries; fills *out. false if no such
 * channel (err says so) — otherwise true, and out->result says how it went. */
bool channels_test_alert(const struct wp_config *cfg, const char *name, struct channel_result *out, char *err,
                         size_t errlen);

/* wedpool_alert_notifications_total{channel,result}, wedpool_alert_delivery_seconds{channel},
 * wedpool_alert_channel_circuit_open{channel}, wedpool_alert_channel_queue{channel}. */
void channels_prometheus(struct pbuf *out);

#endif
