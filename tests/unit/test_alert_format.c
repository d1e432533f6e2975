/* test_alert_format.c — [alert_channels] lines (accepted, refused with a reason, env: secrets,
 * masking) and every service's wire request byte for byte where it matters: Slack blocks,
 * PagerDuty trigger/resolve with one dedup_key, Twilio form and 160-character body, SMTP MIME,
 * Resend headers, the webhook signature, Alertmanager labels and endsAt; Retry-After. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "channel_conf.h"
#include "format.h"

static const char *fake_env(const char *name)
{
    if (strcmp(name, "PD_KEY") == 0)
        return "R0UTINGKEY0123456789abcdefABCDEF";
    if (strcmp(name, "SLACK_URL") == 0)
        return "https://hooks.slack.com/services/T0/B0/SECRET";
    if (strcmp(name, "EMPTY") == 0)
        return "";
    return NULL;
}

static bool parse(struct channel_conf_list *l, const char *name, const char *spec, char *err, size_t n)
{
    return channel_conf_parse(l, name, spec, fake_env, err, n);
}

static void refused(const char *spec, const char *expect)
{
    struct channel_conf_list l = {0};
    char err[512] = "";
    assert_false(parse(&l, "c", spec, err, sizeof(err)));
    if (strstr(err, expect) == NULL)
        fail_msg("spec '%s': error '%s' does not contain '%s'", spec, err, expect);
    assert_int_equal(l.n, 0);
    channel_conf_free(&l);
}

static void test_conf_accepts_each_type(void **state)
{
    (void)state;
    struct channel_conf_list l = {0};
    char err[512];
    assert_true(parse(&l, "oncall-slack", "type=slack url=env:SLACK_URL min_severity=HIGH", err, sizeof(err)));
    assert_true(parse(&l, "oncall-pd", "type=pagerduty routing_key=env:PD_KEY min_severity=critical", err, sizeof(err)));
    assert_true(parse(&l, "sms", "type=twilio account_sid=AC123 auth_token=tOkEn123 from=+15550100 "
                                 "to='+15550101, +15550102' min_severity=CRITICAL rate_limit_per_h=10 after_min=15",
                      err, sizeof(err)));
    assert_true(parse(&l, "mail", "type=email url=smtps://smtp.example.com:465 from='Wedpool <alerts@example.com>' "
                                  "to=a@example.com,b@example.com username=u password=p min_severity=HIGH",
                      err, sizeof(err)));
    assert_true(parse(&l, "resend", "type=resend api_key=re_123 from=alerts@example.com to=x@example.com "
                                    "min_severity=HIGH", err, sizeof(err)));
    assert_true(parse(&l, "audit", "type=webhook url=https://audit.example.com/h secret=s3 min_severity=INFO",
                      err, sizeof(err)));
    assert_true(parse(&l, "am", "type=alertmanager url=http://127.0.0.1:9093/ min_severity=WARNING resend_s=30",
                      err, sizeof(err)));
    assert_int_equal(l.n, 7);
    assert_string_equal(l.ch[0].url, "https://hooks.slack.com/services/T0/B0/SECRET");
    assert_int_equal(l.ch[0].min_severity, SEV_HIGH);
    assert_string_equal(l.ch[1].url, "https://events.pagerduty.com"); /* the vendor's default */
    assert_string_equal(l.ch[1].routing_key, "R0UTINGKEY0123456789abcdefABCDEF");
    assert_int_equal(l.ch[1].min_severity, SEV_CRITICAL);
    assert_int_equal(l.ch[2].nto, 2);
    assert_string_equal(l.ch[2].to[1], "+15550102");
    assert_int_equal(l.ch[2].rate_limit_per_h, 10);
    assert_int_equal(l.ch[2].after_min, 15);
    assert_string_equal(l.ch[4].url, "https://api.resend.com");
    assert_string_equal(l.ch[6].url, "http://127.0.0.1:9093"); /* base URL without the trailing slash */
    assert_int_equal(l.ch[6].resend_s, 30);
    assert_int_equal(l.ch[6].timeout_ms, 5000);
    /* SHOW CONFIG: env: references stay, literal secrets are masked, nothing else is */
    assert_string_equal(l.ch[0].shown, "type=slack url=env:SLACK_URL min_severity=HIGH");
    assert_string_equal(l.ch[1].shown, "type=pagerduty routing_key=env:PD_KEY min_severity=CRITICAL");
    assert_non_null(strstr(l.ch[2].shown, "auth_token=******** "));
    assert_null(strstr(l.ch[2].shown, "tOkEn123"));
    assert_non_null(strstr(l.ch[3].shown, "password=********"));
    assert_non_null(strstr(l.ch[4].shown, "api_key=********"));
    assert_null(strstr(l.ch[4].shown, "re_123"));
    assert_non_null(strstr(l.ch[5].shown, "secret=********"));
    struct channel_conf_list copy = {0};
    assert_true(channel_conf_copy(&copy, &l));
    assert_int_equal(copy.n, 7);
    channel_conf_free(&copy);
    channel_conf_free(&l);
}

static void test_conf_masks_literal_slack_url(void **state)
{
    (void)state;
    struct channel_conf_list l = {0};
    char err[512];
    assert_true(parse(&l, "s", "type=slack url=https://hooks.slack.com/services/T/B/XYZ min_severity=HIGH after_min=5",
                      err, sizeof(err)));
    assert_string_equal(l.ch[0].shown, "type=slack url=******** min_severity=HIGH after_min=5");
    channel_conf_free(&l);
}

static void test_conf_refuses_with_reason(void **state)
{
    (void)state;
    refused("url=http://x min_severity=HIGH", "key 'type' is missing");
    refused("type=slack url=http://x", "key 'min_severity' is missing");
    refused("type=sms url=http://x min_severity=HIGH", "'sms' is not one of");
    refused("type=slack url=http://x min_severity=LOUD", "'LOUD' is not one of INFO");
    refused("type=slack min_severity=HIGH", "type=slack needs key 'url'");
    refused("type=slack url=ftp://x min_severity=HIGH", "must start with http:// or https://");
    refused("type=email url=http://x from=a@b.c to=d@e.f min_severity=HIGH", "smtp:// or smtps://");
    refused("type=slack url=http://x min_severity=HIGH routing_key=k", "key 'routing_key' does not apply to type=slack");
    refused("type=pagerduty routing_key=env:NOPE min_severity=HIGH", "environment variable NOPE is not set");
    refused("type=pagerduty routing_key=env:EMPTY min_severity=HIGH", "environment variable EMPTY is not set");
    refused("type=pagerduty min_severity=HIGH", "needs key 'routing_key'");
    refused("type=twilio account_sid=A auth_token=t from=+15550100 to=5550101 min_severity=HIGH", "not an E.164");
    refused("type=resend api_key=k from=nobody to=a@b.c min_severity=HIGH", "key 'from': 'nobody'");
    refused("type=slack url=http://x min_severity=HIGH after_min=-1", "out of range");
    refused("type=slack url=http://x min_severity=HIGH rate_limit_per_h=ten", "not an integer");
    refused("type=slack url=http://x min_severity=HIGH min_severity=LOW", "given twice");
    refused("type=slack url=http://x min_severity=HIGH colour=red", "key 'colour': unknown key");
    refused("type=slack url='http://x min_severity=HIGH", "unterminated");
    refused("type=slack url http://x", "expected key=value");
    refused("type=webhook url=http://x min_severity=HIGH", "needs key 'secret'");
    struct channel_conf_list l = {0};
    char err[256];
    assert_true(parse(&l, "a", "type=slack url=http://x min_severity=HIGH", err, sizeof(err)));
    assert_false(parse(&l, "a", "type=slack url=http://y min_severity=HIGH", err, sizeof(err)));
    assert_string_equal(err, "defined twice");
    assert_false(parse(&l, "b c", "type=slack url=http://y min_severity=HIGH", err, sizeof(err)));
    assert_non_null(strstr(err, "channel name"));
    channel_conf_free(&l);
}

static void notice(struct alert_notice *n, bool resolved)
{
    memset(n, 0, sizeof(*n));
    snprintf(n->key, sizeof(n->key), "pool_utilization:appdb/app");
    snprintf(n->rule, sizeof(n->rule), "pool_utilization");
    snprintf(n->database, sizeof(n->database), "appdb");
    n->severity = SEV_CRITICAL;
    n->resolved = resolved;
    n->started_at = 1786000000; /* 2026-08-06T07:06:40Z */
    n->at = resolved ? 1786000600 : 1786000000;
    snprintf(n->summary, sizeof(n->summary), "Database pool appdb at 91%% capacity");
    snprintf(n->details, sizeof(n->details), "utilization: 91%%\nactive: 91\nmax: 100");
    snprintf(n->weddings, sizeof(n->weddings), "Smith & Jones, Lee <3 Park");
    n->active_weddings = 2;
    n->guests_affected = 300;
    snprintf(n->actions, sizeof(n->actions), "Scale pool size\nCheck for connection leaks");
    snprintf(n->runbook, sizeof(n->runbook), "https://wiki.example.com/runbook#pool");
    n->notify_seq = 1;
}

static const struct format_env ENV = {.hostname = "pooler-01", .now = 1786000005, .version = "9.9"};

static struct channel_conf one(const char *spec)
{
    struct channel_conf_list l = {0};
    char err[512];
    if (!parse(&l, "c", spec, err, sizeof(err)))
        fail_msg("%s", err);
    struct channel_conf c = l.ch[0];
    channel_conf_free(&l);
    return c;
}

static json_t *body_json(const struct wire_request *r)
{
    json_error_t e;
    json_t *j = json_loadb(r->body, r->body_len, 0, &e);
    if (j == NULL)
        fail_msg("not JSON: %s (%s)", r->body, e.text);
    return j;
}

static bool has_header(const struct wire_request *r, const char *h)
{
    for (int i = 0; i < r->nheaders; i++)
        if (strcmp(r->headers[i], h) == 0)
            return true;
    return false;
}

static void test_slack(void **state)
{
    (void)state;
    struct channel_conf c = one("type=slack url=http://127.0.0.1:1/hook min_severity=HIGH");
    struct alert_notice n;
    notice(&n, false);
    struct wire_request r;
    assert_true(format_request(&c, &n, &ENV, 0, &r));
    assert_string_equal(r.url, "http://127.0.0.1:1/hook");
    assert_true(has_header(&r, "Content-Type: application/json"));
    json_t *j = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "text")), "[CRITICAL] Database pool appdb at 91% capacity");
    json_t *blocks = json_object_get(j, "blocks");
    assert_int_equal(json_array_size(blocks), 5);
    assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(blocks, 0), "text"), "text")),
                        "*CRITICAL* Database pool appdb at 91% capacity");
    /* mrkdwn escapes &, < and > */
    assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(blocks, 1), "text"), "text")),
                        "*Weddings affected:* Smith &amp; Jones, Lee &lt;3 Park\n2 in progress, 300 guests affected");
    assert_non_null(strstr(json_string_value(json_object_get(json_object_get(json_array_get(blocks, 2), "text"), "text")),
                           "utilization: 91%"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(blocks, 3), "text"), "text")),
                        "*Recommended actions*\n\xe2\x80\xa2 Scale pool size\n\xe2\x80\xa2 Check for connection leaks");
    assert_string_equal(json_string_value(json_object_get(json_array_get(blocks, 4), "type")), "context");
    json_decref(j);
    wire_request_free(&r);
    notice(&n, true);
    assert_true(format_request(&c, &n, &ENV, 0, &r));
    j = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "text")), "[RESOLVED] Database pool appdb at 91% capacity");
    assert_int_equal(json_array_size(json_object_get(j, "blocks")), 2);
    json_decref(j);
    wire_request_free(&r);
}

static void test_pagerduty_trigger_and_resolve_share_dedup_key(void **state)
{
    (void)state;
    struct channel_conf c = one("type=pagerduty url=http://127.0.0.1:1 routing_key=env:PD_KEY min_severity=HIGH");
    struct alert_notice n;
    notice(&n, false);
    struct wire_request r;
    assert_true(format_request(&c, &n, &ENV, 0, &r));
    assert_string_equal(r.url, "http://127.0.0.1:1/v2/enqueue");
    for (int i = 0; i < r.nheaders; i++)
        assert_null(strstr(r.headers[i], "Authorization")); /* the key travels in the body only */
    json_t *j = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "routing_key")), "R0UTINGKEY0123456789abcdefABCDEF");
    assert_string_equal(json_string_value(json_object_get(j, "event_action")), "trigger");
    assert_string_equal(json_string_value(json_object_get(j, "dedup_key")), "pool_utilization:appdb/app");
    json_t *p = json_object_get(j, "payload");
    assert_string_equal(json_string_value(json_object_get(p, "summary")), "Database pool appdb at 91% capacity");
    assert_string_equal(json_string_value(json_object_get(p, "source")), "pooler-01");
    assert_string_equal(json_string_value(json_object_get(p, "severity")), "critical");
    assert_string_equal(json_string_value(json_object_get(p, "timestamp")), "2026-08-06T07:06:40Z");
    assert_string_equal(json_string_value(json_object_get(p, "group")), "appdb");
    assert_string_equal(json_string_value(json_object_get(p, "class")), "pool_utilization");
    json_t *cd = json_object_get(p, "custom_details");
    assert_string_equal(json_string_value(json_object_get(cd, "utilization")), "91%");
    assert_int_equal(json_integer_value(json_object_get(cd, "guests_affected")), 300);
    assert_string_equal(json_string_value(json_array_get(json_object_get(cd, "weddings"), 1)), "Lee <3 Park");
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "links"), 0), "href")),
                        "https://wiki.example.com/runbook#pool");
    json_decref(j);
    wire_request_free(&r);
    notice(&n, true);
    assert_true(format_request(&c, &n, &ENV, 0, &r));
    assert_string_equal(r.body, "{\"routing_key\":\"R0UTINGKEY0123456789abcdefABCDEF\",\"event_action\":\"resolve\","
                                "\"dedup_key\":\"pool_utilization:appdb/app\"}");
    wire_request_free(&r);
    assert_string_equal(format_pagerduty_severity(SEV_EMERGENCY), "critical");
    assert_string_equal(format_pagerduty_severity(SEV_HIGH), "error");
    assert_string_equal(format_pagerduty_severity(SEV_WARNING), "warning");
    assert_string_equal(format_pagerduty_severity(SEV_INFO), "info");
}

static void test_twilio_one_request_per_number(void **state)
{
    (void)state;
    struct channel_conf c = one("type=twilio url=http://127.0.0.1:1 account_sid=AC123 auth_token=tok "
                                "from=+15550100 to=+15550101,+15550102 min_severity=CRITICAL");
    struct alert_notice n;
    notice(&n, false);
    assert_int_equal(format_request_count(&c), 2);
    struct wire_request r;
    assert_true(format_request(&c, &n, &ENV, 1, &r));
    assert_string_equal(r.url, "http://127.0.0.1:1/2010-04-01/Accounts/AC123/Messages.json");
    assert_true(r.basic_auth);
    assert_string_equal(r.username, "AC123");
    assert_string_equal(r.password, "tok");
    assert_true(has_header(&r, "Content-Type: application/x-www-form-urlencoded"));
    assert_string_equal(r.body, "To=%2B15550102&From=%2B15550100&Body=%5BCRITICAL%5D%20Database%20pool%20appdb%20at%"
                                "2091%25%20capacity%3B%20weddings%3A%20Smith%20%26%20Jones%2C%20Lee%20%3C3%20Park");
    wire_request_free(&r);
}

static void test_sms_body_is_cut_to_160_characters(void **state)
{
    (void)state;
    struct alert_notice n;
    notice(&n, false);
    memset(n.weddings, 0, sizeof(n.weddings));
    /* 150 two-byte characters after the prefix: cut on a character, not a byte */
    char *p = n.weddings;
    for (int i = 0; i < 150; i++, p += 2)
        memcpy(p, "\xc3\xa9", 2);
    char out[800];
    format_sms_body(&n, out, sizeof(out), 160);
    int chars = 0;
    for (const unsigned char *s = (const unsigned char *)out; *s; s++)
        chars += (*s & 0xc0) != 0x80;
    assert_int_equal(chars, 160);
    static const char prefix[] = "[CRITICAL] Database pool appdb at 91% capacity; weddings: \xc3\xa9";
    assert_int_equal(strncmp(out, prefix, sizeof(prefix) - 1), 0);
    assert_int_equal((unsigned char)out[strlen(out) - 1], 0xa9); /* the last character is whole */
    notice(&n, true);
    format_sms_body(&n, out, sizeof(out), 160);
    assert_string_equal(out, "[RESOLVED] Database pool appdb at 91% capacity");
}

static void test_email_mime(void **state)
{
    (void)state;
    struct channel_conf c = one("type=email url=smtp://127.0.0.1:2525 from='Wedpool <alerts@example.com>' "
                                "to='a@example.com, Bob <b@example.com>' min_severity=HIGH");
    struct alert_notice n;
    notice(&n, false);
    snprintf(n.summary, sizeof(n.summary), "Pool caf\xc3\xa9 at 91%% capacity");
    struct wire_request r;
    assert_true(format_request(&c, &n, &ENV, 0, &r));
    assert_true(r.smtp);
    assert_false(r.basic_auth);
    assert_string_equal(r.mail_from, "alerts@example.com");
    assert_int_equal(r.nrcpt, 2);
    assert_string_equal(r.rcpt[1], "b@example.com");
    assert_non_null(strstr(r.body, "Date: Thu, 06 Aug 2026 07:06:45 +0000\r\nFrom: Wedpool <alerts@example.com>\r\n"
                                   "To: a@example.com, Bob <b@example.com>\r\nSubject: =?UTF-8?B?"));
    assert_non_null(strstr(r.body, "\r\nMessage-ID: <"));
    assert_non_null(strstr(r.body, "@pooler-01>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\""));
    const char *plain = strstr(r.body, "Content-Type: text/plain; charset=utf-8\r\n");
    const char *html = strstr(r.body, "Content-Type: text/html; charset=utf-8\r\n");
    assert_non_null(plain);
    assert_non_null(html);
    assert_true(plain < html);
    assert_non_null(strstr(plain, "Weddings affected: Smith & Jones, Lee <3 Park\r\n"));
    assert_non_null(strstr(html, "<b>Weddings affected:</b> Smith &amp; Jones, Lee &lt;3 Park"));
    assert_non_null(strstr(html, "<li>Check for connection leaks</li>"));
    assert_null(strstr(r.body, "\n\n")); /* CRLF only */
    wire_request_free(&r);
}

static void test_resend_headers(void **state)
{
    (void)state;
    struct channel_conf c = one("type=resend url=http://127.0.0.1:1 api_key=re_abc from=alerts@example.com "
                                "to=a@example.com,b@example.com min_severity=HIGH");
    struct alert_notice n;
    notice(&n, false);
    struct wire_request r;
    assert_true(format_request(&c, &n, &ENV, 0, &r));
    assert_string_equal(r.url, "http://127.0.0.1:1/emails");
    assert_true(has_header(&r, "Authorization: Bearer re_abc"));
    assert_true(has_header(&r, "User-Agent: wedpool/9.9"));
    assert_true(has_header(&r, "Idempotency-Key: pool_utilization:appdb/app/firing/1"));
    json_t *j = body_json(&r);
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "to"), 1)), "b@example.com");
    assert_string_equal(json_string_value(json_object_get(j, "subject")), "[CRITICAL] Database pool appdb at 91% capacity");
    assert_non_null(strstr(json_string_value(json_object_get(j, "html")), "<h2>CRITICAL: "));
    assert_non_null(strstr(json_string_value(json_object_get(j, "text")), "Recommended actions:\n- Scale pool size\n"));
    json_decref(j);
    wire_request_free(&r);
}

/* A pool key comes from a client's user name: no CR LF of it may start a header of its own. */
static void test_keys_cannot_inject_headers(void **state)
{
    (void)state;
    struct alert_notice n;
    notice(&n, false);
    snprintf(n.key, sizeof(n.key), "pool_utilization:appdb/evil\r\nBcc: x@evil.example");
    snprintf(n.summary, sizeof(n.summary), "bad\r\nBcc: y@evil.example");
    struct channel_conf c = one("type=email url=smtp://127.0.0.1:2525 from=a@example.com to=b@example.com min_severity=HIGH");
    struct wire_request r;
    assert_true(format_request(&c, &n, &ENV, 0, &r));
    char *end = strstr(r.body, "\r\n\r\n"); /* the headers end here */
    assert_non_null(end);
    *end = '\0';
    assert_null(strstr(r.body, "\r\nBcc:"));
    assert_non_null(strstr(r.body, "Subject: [CRITICAL] bad  Bcc: y@evil.example\r\n"));
    assert_non_null(strstr(r.body, "X-Wedpool-Alert-Key: pool_utilization:appdb/evil  Bcc: x@evil.example\r\nX-Wedpool-Severity"));
    wire_request_free(&r);
    c = one("type=resend api_key=k from=a@example.com to=b@example.com min_severity=HIGH");
    assert_true(format_request(&c, &n, &ENV, 0, &r));
    for (int i = 0; i < r.nheaders; i++)
        assert_null(strpbrk(r.headers[i], "\r\n"));
    wire_request_free(&r);
}

static void test_webhook_signature(void **state)
{
    (void)state;
    char sig[128];
    /* python3 -c "import hmac,hashlib;print(hmac.new(b'sek',b'1700000000.{\"a\":1}',hashlib.sha256).hexdigest())" */
    format_webhook_signature("sek", 1700000000, "{\"a\":1}", 7, sig, sizeof(sig));
    assert_string_equal(sig, "t=1700000000,v1=7964e7087d8fc7ecb275c6c6b00b51cfd6ebc9cb1fdf8e96f4dbd1c48e7fbe7e");
    struct channel_conf c = one("type=webhook url=http://127.0.0.1:1/h secret=sek min_severity=INFO");
    struct alert_notice n;
    notice(&n, true);
    struct wire_request r;
    assert_true(format_request(&c, &n, &ENV, 0, &r));
    assert_string_equal(r.sign_key, "sek");
    json_t *j = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "resolved");
    assert_string_equal(json_string_value(json_object_get(j, "key")), "pool_utilization:appdb/app");
    assert_string_equal(json_string_value(json_object_get(j, "at")), "2026-08-06T07:16:40Z");
    json_decref(j);
    wire_request_free(&r);
}

static void test_alertmanager(void **state)
{
    (void)state;
    struct channel_conf c = one("type=alertmanager url=http://127.0.0.1:9093 min_severity=WARNING");
    struct alert_notice n;
    notice(&n, false);
    struct wire_request r;
    assert_true(format_request(&c, &n, &ENV, 0, &r));
    assert_string_equal(r.url, "http://127.0.0.1:9093/api/v2/alerts");
    json_t *j = body_json(&r);
    assert_true(json_is_array(j));
    json_t *a = json_array_get(j, 0);
    json_t *labels = json_object_get(a, "labels");
    assert_string_equal(json_string_value(json_object_get(labels, "alertname")), "pool_utilization");
    assert_string_equal(json_string_value(json_object_get(labels, "severity")), "critical");
    assert_string_equal(json_string_value(json_object_get(labels, "database")), "appdb");
    assert_string_equal(json_string_value(json_object_get(json_object_get(a, "annotations"), "summary")),
                        "Database pool appdb at 91% capacity");
    assert_string_equal(json_string_value(json_object_get(a, "startsAt")), "2026-08-06T07:06:40Z");
    assert_null(json_object_get(a, "endsAt"));
    json_decref(j);
    wire_request_free(&r);
    notice(&n, true);
    assert_true(format_request(&c, &n, &ENV, 0, &r));
    j = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "endsAt")), "2026-08-06T07:16:40Z");
    json_decref(j);
    wire_request_free(&r);
}

static void test_retry_after_and_verdicts(void **state)
{
    (void)state;
    assert_int_equal(format_retry_after(" 3", 0), 3);
    assert_int_equal(format_retry_after("120\r\n", 0), 120);
    assert_int_equal(format_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", 1445412480), 10);
    assert_int_equal(format_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412490), 0);
    assert_int_equal(format_retry_after("soon", 0), -1);
    assert_int_equal(format_retry_after("-5", 0), -1);
    assert_int_equal(format_classify_http(200), VERDICT_OK);
    assert_int_equal(format_classify_http(202), VERDICT_OK);
    assert_int_equal(format_classify_http(429), VERDICT_RETRY);
    assert_int_equal(format_classify_http(503), VERDICT_RETRY);
    assert_int_equal(format_classify_http(400), VERDICT_FAIL);
    assert_int_equal(format_classify_http(404), VERDICT_FAIL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conf_accepts_each_type),
        cmocka_unit_test(test_conf_masks_literal_slack_url),
        cmocka_unit_test(test_conf_refuses_with_reason),
        cmocka_unit_test(test_slack),
        cmocka_unit_test(test_pagerduty_trigger_and_resolve_share_dedup_key),
        cmocka_unit_test(test_twilio_one_request_per_number),
        cmocka_unit_test(test_sms_body_is_cut_to_160_characters),
        cmocka_unit_test(test_email_mime),
        cmocka_unit_test(test_resend_headers),
        cmocka_unit_test(test_keys_cannot_inject_headers),
        cmocka_unit_test(test_webhook_signature),
        cmocka_unit_test(test_alertmanager),
        cmocka_unit_test(test_retry_after_and_verdicts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
