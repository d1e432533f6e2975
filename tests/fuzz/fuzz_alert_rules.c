/* fuzz_alert_rules.c — libFuzzer target: [alert_rules] lines (rules.c) and the alert state machine.
 * First byte even: the rest is lines "key = value" parsed one by one; every accepted value must be
 * in its documented range. Odd: each further byte drives one step of an alert (condition, severity,
 * seconds passing, ACK) against three channels; the routing invariants of rules.h must hold. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void lines(const uint8_t *data, size_t size)
{
    struct alert_rules_conf rc;
    alert_rules_defaults(&rc);
    char *text = malloc(size + 1);
    if (text == NULL)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        char *eq = strchr(line, '=');
        if (eq == NULL)
            continue;
        *eq = '\0';
        char err[256];
        err[0] = '\0';
        if (!alert_rules_parse(&rc, line, eq + 1, err, sizeof(err)) && (err[0] == '\0' || !memchr(err, 0, sizeof(err))))
            abort();
    }
    for (int i = 0; i < AR_COUNT; i++) {
        if (rc.rule[i].for_s < 0 || rc.rule[i].for_s > 604800 || rc.rule[i].threshold < 0)
            abort();
        if ((i == AR_POOL_UTILIZATION || i == AR_PG_CONNECTIONS_PCT) && rc.rule[i].threshold > 100)
            abort();
        char buf[64];
        alert_rule_format(&rc, (enum alert_rule_id)i, buf, sizeof(buf));
    }
    if (rc.renotify_min < 0 || !memchr(rc.runbook_base, 0, sizeof(rc.runbook_base)))
        abort();
    free(text);
}

static void machine(const uint8_t *data, size_t size)
{
    const struct alert_route routes[3] = {{SEV_HIGH, 0, false}, {SEV_CRITICAL, 0, false}, {SEV_CRITICAL, 15, false}};
    struct alert a;
    alert_init(&a, "pool_utilization", AR_POOL_UTILIZATION, "appdb/app");
    time_t now = 1781357400;
    for (size_t i = 0; i < size; i++) {
        uint8_t b = data[i];
        now += (b >> 4) * 37;
        if ((b & 7) == 7) {
            bool firing = a.phase == AP_FIRING;
            if (alert_ack(&a, "fuzz", now) != firing)
                abort();
            continue;
        }
        bool cond = b & 1;
        enum alert_severity sev = (enum alert_severity)((b >> 1) % SEV_COUNT);
        enum alert_phase before = a.phase;
        struct alert_step_out o;
        alert_step(&a, cond, sev, now, 30, 60, routes, 3, &o);
        if (o.n < 0 || o.n > 3 || (a.notified & ~7u) != 0)
            abort();
        if (o.resolved && (before != AP_FIRING || cond || a.phase != AP_IDLE))
            abort();
        if (!cond && a.phase != AP_IDLE)
            abort();
        for (int k = 0; k < o.n; k++) {
            if (o.ch[k] < 0 || o.ch[k] > 2)
                abort();
            if (!o.resolved && sev < routes[o.ch[k]].min_severity)
                abort(); /* a channel only hears what reaches its min_severity */
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 1)
        machine(data + 1, size - 1);
    else
        lines(data + 1, size - 1);
    return 0;
}
