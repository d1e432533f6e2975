/* api.c — JSON views of lanes and clients (built with jansson: client-supplied strings such as
 * application_name are escaped properly), and the OpenMetrics rendering of /metrics. */
#include "api.h"

#include <jansson.h>
#include <string.h>

#include "backend.h"
#include "clock.h"
#include "fetch.h"
#include "forecast.h"
#include "pool.h"
#include "scaler.h"
#include "runtime.h"

static void emit(struct pbuf *out, json_t *doc)
{
    char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (text == NULL) {
        pbuf_put_str(out, "{\"error\":\"out of memory\"}");
        out->len--; /* no NUL on the wire */
    } else {
        pbuf_put(out, text, strlen(text));
        free(text);
    }
    pbuf_put(out, "\n", 1);
    json_decref(doc);
}

void api_lanes_json(struct pbuf *out)
{
    json_t *pools = json_array();
    uint64_t now = now_us();
    struct dlist *pos;
    for (pos = pool_all()->next; pos != pool_all(); pos = pos->next) {
        struct pool *p = container_of(pos, struct pool, node);
        json_t *lanes = json_array();
        for (int i = 0; i < rt.cfg.lanes.nlanes; i++) {
            const struct lane_conf *lc = &rt.cfg.lanes.lanes[i];
            const struct pool_lane *pl = &p->lanes[i];
            uint64_t maxwait = dlist_empty(&pl->waiting)
                                   ? 0
                                   : now - container_of(dlist_first(&pl->waiting), struct client, node)->wait_start_us;
            struct histogram h = pl->acquire_hist;
            json_array_append_new(
                lanes, json_pack("{s:s, s:I, s:b, s:i, s:i, s:f, s:I, s:I, s:I, s:i, s:I, s:{s:I, s:f, s:f, s:f}}",
                                 "lane", lc->name, "priority",
                                 (json_int_t)lanes_priority(lc, rt.wedding_day, rt.active_weddings > 0), "reserve",
                                 lc->reserve, "active", pl->n_active, "waiting", pl->n_waiting, "max_wait_s",
                                 (double)maxwait / 1e6, "served", (json_int_t)pl->served, "shed", (json_int_t)pl->shed,
                                 "timeouts", (json_int_t)pl->timeouts, "reserve_in_use", pl->n_reserve,
                                 "reserve_uses", (json_int_t)pl->reserve_uses, "acquire", "count",
                                 (json_int_t)h.count, "p50_ms", histogram_quantile(&h, 0.5) * 1000, "p95_ms",
                                 histogram_quantile(&h, 0.95) * 1000, "p99_ms", histogram_quantile(&h, 0.99) * 1000));
        }
        json_array_append_new(pools, json_pack("{s:s, s:s, s:o}", "database", p->name, "user", p->user, "lanes", lanes));
    }
    emit(out, json_pack("{s:o}", "pools", pools));
}

void api_hosts_json(struct pbuf *out)
{
    json_t *dbs = json_array();
    struct dlist *pos;
    for (pos = backend_db_all()->next; pos != backend_db_all(); pos = pos->next) {
        const struct backend_db *bdb = container_of(pos, struct backend_db, node);
        json_t *hosts = json_array();
        for (int i = 0; i < bdb->nhosts; i++) {
            const struct backend *be = bdb->hosts[i];
            json_array_append_new(
                hosts, json_pack("{s:s, s:i, s:s, s:b, s:s, s:o, s:o, s:s, s:I, s:I, s:I, s:b}", "host", be->host,
                                 "port", be->port, "role", route_role_name(be->role), "up", be->up, "circuit",
                                 backend_circuit_name(be->circuit), "lag_ms",
                                 be->lag_ms >= 0 ? json_integer(be->lag_ms) : json_null(), "last_check",
                                 be->last_check ? json_integer((json_int_t)be->last_check) : json_null(),
                                 "last_error", be->addr_error[0] ? be->addr_error : be->last_error, "checks",
                                 (json_int_t)be->checks, "check_failures", (json_int_t)be->check_failures,
                                 "connect_failures", (json_int_t)be->connect_failures, "primary",
                                 i == bdb->primary));
        }
        json_array_append_new(
            dbs, json_pack("{s:s, s:s, s:I, s:b, s:b, s:o, s:o, s:o}", "database", bdb->name, "target_session_attrs",
                           config_tsa_name(bdb->conf.target_session_attrs), "failovers", (json_int_t)bdb->failovers,
                           "split_brain", bdb->split_brain, "failing_over", bdb->failing_over, "patroni_leader",
                           bdb->patroni_leader[0] ? json_string(bdb->patroni_leader) : json_null(), "patroni_error",
                           bdb->patroni_error[0] ? json_string(bdb->patroni_error) : json_null(), "hosts", hosts));
    }
    emit(out, json_pack("{s:o}", "databases", dbs));
}

struct page {
    json_t *items;
    long skip;
    long room;
    long total;
    uint64_t now;
};

static void page_add(struct page *pg, const struct client *c)
{
    pg->total++;
    if (pg->skip > 0) {
        pg->skip--;
        return;
    }
    if (pg->room <= 0)
        return;
    pg->room--;
    const char *app = params_get(&c->params, "application_name");
    json_array_append_new(
        pg->items,
        json_pack("{s:I, s:s, s:s, s:s, s:s, s:i, s:s, s:b, s:f, s:I}", "id", (json_int_t)c->id, "user", c->user,
                  "database", c->database, "state", client_state_name(c), "addr", c->addr, "port", c->port,
                  "application_name", app ? app : "", "reserve", c->on_reserve, "wait_s",
                  c->state == CL_WAITING ? (double)(pg->now - c->wait_start_us) / 1e6 : 0.0, "server",
                  (json_int_t)(c->server ? c->server->id : 0)));
    if (c->pool != NULL && c->state != CL_LOGIN)
        json_object_set_new(json_array_get(pg->items, json_array_size(pg->items) - 1), "lane",
                            json_string(rt.cfg.lanes.lanes[c->lane].name));
}

static void page_list(struct page *pg, struct dlist *list)
{
    for (struct dlist *q = list->next; q != list; q = q->next)
        page_add(pg, container_of(q, struct client, node));
}

void api_clients_json(struct pbuf *out, long offset, long limit)
{
    if (offset < 0)
        offset = 0;
    if (limit <= 0 || limit > 1000)
        limit = 100;
    struct page pg = {json_array(), offset, limit, 0, now_us()};
    page_list(&pg, clients_login());
    page_list(&pg, clients_admin());
    struct dlist *pos;
    for (pos = pool_all()->next; pos != pool_all(); pos = pos->next) {
        struct pool *p = container_of(pos, struct pool, node);
        struct dlist *lists[MAX_LANES + 3];
        int n = 0;
        lists[n++] = &p->active_clients;
        n += pool_waiting_lists(p, lists + n);
        lists[n++] = &p->idle_clients;
        for (int i = 0; i < n; i++)
            page_list(&pg, lists[i]);
    }
    emit(out, json_pack("{s:I, s:I, s:I, s:o}", "total", (json_int_t)pg.total, "offset", (json_int_t)offset, "limit",
                        (json_int_t)limit, "clients", pg.items));
}

void api_openmetrics(const struct pbuf *in, struct pbuf *out)
{
    const char *p = (const char *)in->data;
    const char *end = p + in->len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
        /* "# TYPE x_total counter" / "# HELP x_total ..." name the family without _total */
        if ((len > 7 && (memcmp(p, "# TYPE ", 7) == 0 || memcmp(p, "# HELP ", 7) == 0))) {
            const char *name = p + 7;
            const char *sp = memchr(name, ' ', len - 7);
            bool counter = memmem(p, len, " counter\n", 9) != NULL || (p[2] == 'H');
            if (sp != NULL && sp - name > 6 && memcmp(sp - 6, "_total", 6) == 0 && counter) {
                pbuf_put(out, p, (size_t)(sp - 6 - p));
                pbuf_put(out, sp, len - (size_t)(sp - p));
                p += len;
                continue;
            }
        }
        pbuf_put(out, p, len);
        p += len;
    }
    pbuf_put(out, "# EOF\n", 6);
}

static json_t *iso(time_t t)
{
    char buf[32];
    clock_format_iso(t, buf, sizeof(buf));
    return json_string(buf);
}

static const struct wedding_list *api_weddings(void)
{
    static const struct wedding_list empty;
    const struct wedding_list *w = calendars_weddings();
    return w != NULL ? w : &empty;
}

void api_weddings_json(struct pbuf *out)
{
    const struct wedding_context *cx = scaler_context();
    time_t now = clock_now();
    const struct wedding_list *w = api_weddings();
    json_t *list = json_array();
    for (size_t i = 0; i < w->n; i++) {
        const struct wedding *x = &w->items[i];
        const char *status = wedding_status(x, now);
        json_array_append_new(list, json_pack("{s:s, s:o, s:o, s:i, s:i, s:i, s:s, s:s, s:s}", "name", x->name,
                                              "start", iso(x->start), "end", iso(x->end), "guests", x->guests,
                                              "vendors", x->vendors, "critical", x->critical, "venue", x->venue,
                                              "calendar", x->calendar, "status", status));
    }
    json_t *cals = json_array();
    struct calendar_status st[CALENDARS_MAX];
    int n = calendars_status(st, CALENDARS_MAX);
    for (int i = 0; i < n; i++)
        json_array_append_new(cals, json_pack("{s:s, s:o, s:s, s:I}", "name", st[i].name, "last_success",
                                              st[i].last_success ? iso(st[i].last_success) : json_null(),
                                              "last_error", st[i].last_error, "weddings", (json_int_t)st[i].weddings));
    char why[512];
    bool prot = scaler_protected(why, sizeof(why));
    emit(out, json_pack("{s:o, s:b, s:i, s:i, s:i, s:i, s:s, s:b, s:b, s:b, s:s, s:o, s:o}", "now", iso(now),
                        "wedding_day", cx->wedding_day, "active_weddings", cx->active_weddings, "weddings_next_24h",
                        cx->weddings_next_24h, "guests_affected", cx->guests_affected, "criticality",
                        cx->criticality, "criticality_name", criticality_name(cx->criticality), "peak_season",
                        cx->peak_season, "ceremony_hours", cx->ceremony_hours, "protected", prot, "protection",
                        why, "calendars", cals, "weddings", list));
}

void api_forecast_json(struct pbuf *out, long hours)
{
    if (hours < 1)
        hours = 1;
    if (hours > 168)
        hours = 168;
    const struct wedding_list *w = api_weddings();
    time_t start = clock_now();
    start -= start % 900;
    json_t *steps = json_array();
    for (long i = 0; i < hours * 4; i++) {
        time_t t = start + (time_t)i * 900;
        struct forecast_step st;
        int predicted, warm;
        scaler_forecast_total(w, t, &st, &predicted, &warm);
        json_array_append_new(steps, json_pack("{s:o, s:f, s:i, s:i, s:i, s:s}", "start", iso(t), "multiplier",
                                               st.multiplier, "predicted_connections", predicted, "warm_target", warm,
                                               "weddings", st.weddings, "why", st.why));
    }
    emit(out, json_pack("{s:o, s:s, s:o}", "now", iso(clock_now()), "timezone",
                        rt.cfg.timezone[0] ? rt.cfg.timezone : "system", "steps", steps));
}
