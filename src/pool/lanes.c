/* lanes.c — priority lanes: parsing their definitions and rules, and classifying clients. */
#include "lanes.h"

#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lanes_init(struct lanes_conf *lc)
{
    memset(lc, 0, sizeof(*lc));
    struct lane_conf *d = &lc->lanes[0];
    snprintf(d->name, sizeof(d->name), "default");
    d->priority = 100;
    d->queue_timeout_ms = -1;
    d->max_waiting = -1;
    d->max_active = -1;
    lc->nlanes = 1;
    lc->default_lane = 0;
}

void lanes_free(struct lanes_conf *lc)
{
    free(lc->rules);
    lc->rules = NULL;
    lc->nrules = 0;
}

bool lanes_copy(struct lanes_conf *dst, const struct lanes_conf *src)
{
    *dst = *src;
    dst->rules = NULL;
    if (src->nrules > 0) {
        dst->rules = malloc(sizeof(*dst->rules) * (size_t)src->nrules);
        if (dst->rules == NULL) {
            dst->nrules = 0;
            return false;
        }
        memcpy(dst->rules, src->rules, sizeof(*dst->rules) * (size_t)src->nrules);
    }
    return true;
}

int lanes_find(const struct lanes_conf *lc, const char *name)
{
    for (int i = 0; i < lc->nlanes; i++)
        if (strcmp(lc->lanes[i].name, name) == 0)
            return i;
    return -1;
}

static bool parse_int(const char *s, long min, long max, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return false;
    *out = (int)v;
    return true;
}

static bool parse_bool(const char *s, bool *out)
{
    if (!strcmp(s, "yes") || !strcmp(s, "true") || !strcmp(s, "on") || !strcmp(s, "1"))
        *out = true;
    else if (!strcmp(s, "no") || !strcmp(s, "false") || !strcmp(s, "off") || !strcmp(s, "0"))
        *out = false;
    else
        return false;
    return true;
}

/* Splits "k=v k=v" in place; calls fn for each pair. */
typedef bool (*kv_fn)(void *arg, const char *key, const char *value, char *err, size_t errlen);

static bool each_pair(const char *spec, kv_fn fn, void *arg, char *err, size_t errlen)
{
    char buf[1024];
    if (strlen(spec) >= sizeof(buf)) {
        snprintf(err, errlen, "definition too long");
        return false;
    }
    strcpy(buf, spec);
    char *save = NULL;
    for (char *tok = strtok_r(buf, " \t", &save); tok != NULL; tok = strtok_r(NULL, " \t", &save)) {
        char *eq = strchr(tok, '=');
        if (eq == NULL || eq == tok) {
            snprintf(err, errlen, "expected key=value, got \"%s\"", tok);
            return false;
        }
        *eq = '\0';
        if (!fn(arg, tok, eq + 1, err, errlen))
            return false;
    }
    return true;
}

static bool lane_kv(void *arg, const char *k, const char *v, char *err, size_t errlen)
{
    struct lane_conf *l = arg;
    bool ok = true;
    if (!strcmp(k, "priority"))
        ok = parse_int(v, -1000000, 1000000, &l->priority);
    else if (!strcmp(k, "wedding_day_boost"))
        ok = parse_int(v, 0, 1000000, &l->wedding_day_boost);
    else if (!strcmp(k, "active_wedding_boost"))
        ok = parse_int(v, 0, 1000000, &l->active_wedding_boost);
    else if (!strcmp(k, "reserve"))
        ok = parse_bool(v, &l->reserve);
    else if (!strcmp(k, "queue_timeout_ms"))
        ok = parse_int(v, 0, 86400000, &l->queue_timeout_ms);
    else if (!strcmp(k, "max_waiting"))
        ok = parse_int(v, 0, 1000000, &l->max_waiting);
    else if (!strcmp(k, "max_active")) {
        size_t n = strlen(v);
        char num[32];
        l->max_active_pct = n > 0 && v[n - 1] == '%';
        if (n == 0 || n >= sizeof(num)) {
            ok = false;
        } else {
            memcpy(num, v, n + 1);
            if (l->max_active_pct)
                num[n - 1] = '\0';
            ok = parse_int(num, 0, l->max_active_pct ? 100 : 1000000, &l->max_active);
        }
    } else if (!strcmp(k, "users")) {
        if (strlen(v) >= sizeof(l->users)) {
            snprintf(err, errlen, "users list too long");
            return false;
        }
        strcpy(l->users, v);
    } else {
        snprintf(err, errlen, "unknown lane setting \"%s\" (priority, reserve, queue_timeout_ms, max_waiting, "
                              "max_active, wedding_day_boost, active_wedding_boost, users)", k);
        return false;
    }
    if (!ok)
        snprintf(err, errlen, "bad value \"%s\" for %s", v, k);
    return ok;
}

bool lanes_parse_lane(struct lanes_conf *lc, const char *name, const char *spec, char *err, size_t errlen)
{
    if (name[0] == '\0' || strlen(name) >= LANE_NAME_MAX) {
        snprintf(err, errlen, "lane name must be 1..%d characters", LANE_NAME_MAX - 1);
        return false;
    }
    int idx = lanes_find(lc, name);
    if (idx >= 0 && idx != lc->default_lane) {
        snprintf(err, errlen, "lane \"%s\" defined twice", name);
        return false;
    }
    if (idx < 0) {
        if (lc->nlanes == MAX_LANES) {
            snprintf(err, errlen, "at most %d lanes", MAX_LANES);
            return false;
        }
        idx = lc->nlanes++;
    }
    struct lane_conf l;
    memset(&l, 0, sizeof(l));
    snprintf(l.name, sizeof(l.name), "%s", name);
    l.priority = 100;
    l.queue_timeout_ms = -1;
    l.max_waiting = -1;
    l.max_active = -1;
    if (!each_pair(spec, lane_kv, &l, err, errlen)) {
        if (idx == lc->nlanes - 1 && lanes_find(lc, name) < 0)
            lc->nlanes--;
        return false;
    }
    lc->lanes[idx] = l;
    return true;
}

static bool rule_kv(void *arg, const char *k, const char *v, char *err, size_t errlen)
{
    struct lane_rule *r = arg;
    char *dst = NULL;
    size_t cap = 0;
    if (!strcmp(k, "user")) {
        dst = r->user;
        cap = sizeof(r->user);
    } else if (!strcmp(k, "database")) {
        dst = r->database;
        cap = sizeof(r->database);
    } else if (!strcmp(k, "application_name")) {
        dst = r->application_name;
        cap = sizeof(r->application_name);
    } else if (!strcmp(k, "addr")) {
        if (!cidr_parse(v, &r->addr)) {
            snprintf(err, errlen, "bad CIDR \"%s\"", v);
            return false;
        }
        r->has_cidr = true;
        return true;
    } else {
        snprintf(err, errlen, "unknown rule key \"%s\" (user, database, application_name, addr)", k);
        return false;
    }
    if (strlen(v) >= cap || v[0] == '\0') {
        snprintf(err, errlen, "bad value for %s", k);
        return false;
    }
    strcpy(dst, v);
    return true;
}

bool lanes_parse_rule(struct lanes_conf *lc, const char *lane, const char *spec, char *err, size_t errlen)
{
    int idx = lanes_find(lc, lane);
    if (idx < 0) {
        snprintf(err, errlen, "rule for undefined lane \"%s\" (define it in [lanes] first)", lane);
        return false;
    }
    struct lane_rule r;
    memset(&r, 0, sizeof(r));
    r.lane = idx;
    if (!each_pair(spec, rule_kv, &r, err, errlen))
        return false;
    if (!r.user[0] && !r.database[0] && !r.application_name[0] && !r.has_cidr) {
        snprintf(err, errlen, "empty rule: give user=, database=, application_name= or addr=");
        return false;
    }
    struct lane_rule *rules = realloc(lc->rules, sizeof(*rules) * (size_t)(lc->nrules + 1));
    if (rules == NULL) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    lc->rules = rules;
    lc->rules[lc->nrules++] = r;
    return true;
}

static bool glob_ok(const char *pattern, const char *value)
{
    return pattern[0] == '\0' || fnmatch(pattern, value ? value : "", 0) == 0;
}

int lanes_classify(const struct lanes_conf *lc, const char *user, const char *database, const char *appname,
                   const struct sockaddr *addr)
{
    for (int i = 0; i < lc->nrules; i++) {
        const struct lane_rule *r = &lc->rules[i];
        if (glob_ok(r->user, user) && glob_ok(r->database, database) && glob_ok(r->application_name, appname) &&
            (!r->has_cidr || cidr_contains(&r->addr, addr)))
            return r->lane;
    }
    return lc->default_lane;
}

bool lanes_user_may_request(const struct lane_conf *l, const char *user)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", l->users);
    char *save = NULL;
    for (char *t = strtok_r(buf, ", ", &save); t != NULL; t = strtok_r(NULL, ", ", &save))
        if (strcmp(t, "*") == 0 || strcmp(t, user) == 0)
            return true;
    return false;
}

int lanes_max_active(const struct lane_conf *l, int max_pool_size)
{
    if (l->max_active < 0)
        return -1;
    if (!l->max_active_pct)
        return l->max_active;
    int n = (int)(((long)max_pool_size * l->max_active + 99) / 100);
    return n < 1 && l->max_active > 0 ? 1 : n;
}

int64_t lanes_priority(const struct lane_conf *l, bool wedding_day, bool active_wedding)
{
    int64_t p = l->priority;
    if (wedding_day)
        p += l->wedding_day_boost;
    if (active_wedding)
        p += l->active_wedding_boost;
    return p;
}

bool lanes_may_take(const struct lane_conf *l, int lane_active, const struct lane_occupancy *o, bool *reserve)
{
    int cap = lanes_max_active(l, o->max_size);
    if (cap >= 0 && lane_active >= cap)
        return false;
    if (o->active - o->reserve_active < o->max_size) {
        *reserve = false;
        return true;
    }
    if (l->reserve && o->reserve_active < o->reserve_size) {
        *reserve = true;
        return true;
    }
    return false;
}

int lanes_launch_demand(const struct lane_occupancy *o, int waiting, int reserve_waiting, int login_waiting,
                        int idle, int *limit)
{
    *limit = o->max_size;
    if (o->active - o->reserve_active < o->max_size || o->reserve_size <= 0)
        return waiting;
    *limit = o->max_size + o->reserve_size;
    return reserve_waiting + login_waiting + (o->reserve_size - o->reserve_active) - idle;
}
