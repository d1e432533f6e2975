/* http.c — the HTTP endpoint (/metrics, JSON API, health). Responses are built from counters in
 * one pass; a scrape costs microseconds per pool and never waits on a server. */
#include "http.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alert.h"
#include "api.h"
#include "backend.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "pool.h"
#include "runtime.h"

static struct evhttp *http;
static struct evhttp_bound_socket *bound; /* the listening socket (a takeover hands it over) */

static void reply(struct evhttp_request *req, int code, const char *reason, const char *ctype, const void *body,
                  size_t len)
{
    struct evbuffer *buf = evbuffer_new();
    if (buf == NULL) {
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    evbuffer_add(buf, body, len);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
    evhttp_send_reply(req, code, reason, buf);
    evbuffer_free(buf);
}

static void reply_text(struct evhttp_request *req, int code, const char *reason, const char *text)
{
    reply(req, code, reason, "text/plain; charset=utf-8", text, strlen(text));
}

/* Constant-time token check; every endpoint but /healthz when http_auth_token is set. */
static bool authorized(struct evhttp_request *req)
{
    const char *token = rt.cfg.http_auth_token;
    if (token[0] == '\0')
        return true;
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
        return false;
    const char *given = h + 7;
    size_t a = strlen(given), b = strlen(token);
    unsigned char diff = (unsigned char)(a != b);
    for (size_t i = 0; i < b; i++)
        diff |= (unsigned char)(token[i] ^ (i < a ? given[i] : 0));
    return diff == 0;
}

#define ACK_PREFIX "/api/v1/alerts/"
#define ACK_SUFFIX "/ack"

/* POST /api/v1/alerts/<key>/ack (the key URL-encoded or not: it may hold '/' and ':'). */
static bool is_ack_path(const char *path)
{
    size_t n = strlen(path), p = strlen(ACK_PREFIX), s = strlen(ACK_SUFFIX);
    return n > p + s && strncmp(path, ACK_PREFIX, p) == 0 && strcmp(path + n - s, ACK_SUFFIX) == 0;
}

static void handle_ack(struct evhttp_request *req, const char *path, const char *query)
{
    char who[64] = "http";
    struct evkeyvalq q;
    if (query != NULL && evhttp_parse_query_str(query, &q) == 0) {
        const char *by = evhttp_find_header(&q, "by");
        if (by != NULL && by[0] != '\0')
            snprintf(who, sizeof(who), "http:%.58s", by);
        evhttp_clear_headers(&q);
    }
    size_t p = strlen(ACK_PREFIX), len = strlen(path) - p - strlen(ACK_SUFFIX);
    char raw[512], msg[320];
    if (len >= sizeof(raw)) {
        reply_text(req, 404, "Not Found", "no such alert\n");
        return;
    }
    memcpy(raw, path + p, len);
    raw[len] = '\0';
    char *key = evhttp_uridecode(raw, 0, NULL);
    if (key == NULL) {
        reply_text(req, 500, "Internal Server Error", "out of memory\n");
        return;
    }
    bool ok = alert_ack_key(key, who, msg, sizeof(msg));
    free(key);
    strncat(msg, "\n", sizeof(msg) - strlen(msg) - 1);
    if (ok)
        reply_text(req, 200, "OK", msg);
    else
        reply_text(req, 404, "Not Found", msg);
}

static void handle(struct evhttp_request *req, void *arg)
{
    const char *uri = evhttp_request_get_uri(req);
    struct evhttp_uri *parsed = evhttp_uri_parse(uri);
    const char *path = parsed != NULL ? evhttp_uri_get_path(parsed) : NULL;
    if (path == NULL || path[0] == '\0')
        path = "/";
    bool ack = evhttp_request_get_command(req) == EVHTTP_REQ_POST && is_ack_path(path);
    if (evhttp_request_get_command(req) != EVHTTP_REQ_GET && evhttp_request_get_command(req) != EVHTTP_REQ_HEAD &&
        !ack) {
        reply_text(req, 405, "Method Not Allowed", "only GET is supported (and POST /api/v1/alerts/<key>/ack)\n");
        goto done;
    }
    if (strcmp(path, "/healthz") == 0) {
        reply_text(req, 200, "OK", "ok\n");
        goto done;
    }
    if (!authorized(req)) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate", "Bearer");
        reply_text(req, 401, "Unauthorized", "unauthorized\n");
        goto done;
    }
    if (ack) {
        handle_ack(req, path, parsed != NULL ? evhttp_uri_get_query(parsed) : NULL);
        goto done;
    }
    struct pbuf body;
    pbuf_init(&body);
    if (strcmp(path, "/metrics") == 0) {
        metrics_prometheus(&body);
        const char *accept = evhttp_find_header(evhttp_request_get_input_headers(req), "Accept");
        if (accept != NULL && strstr(accept, "application/openmetrics-text") != NULL) {
            struct pbuf om;
            pbuf_init(&om);
            api_openmetrics(&body, &om);
            reply(req, 200, "OK", "application/openmetrics-text; version=1.0.0; charset=utf-8", om.data, om.len);
            pbuf_free(&om);
        } else {
            reply(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", body.data, body.len);
        }
    } else if (strcmp(path, "/api/v1/weddings") == 0) {
        api_weddings_json(&body);
        reply(req, 200, "OK", "application/json", body.data, body.len);
    } else if (strcmp(path, "/api/v1/forecast") == 0) {
        struct evkeyvalq q;
        long hours = 24;
        const char *query = parsed != NULL ? evhttp_uri_get_query(parsed) : NULL;
        if (query != NULL && evhttp_parse_query_str(query, &q) == 0) {
            const char *h = evhttp_find_header(&q, "hours");
            if (h != NULL)
                hours = strtol(h, NULL, 10);
            evhttp_clear_headers(&q);
        }
        api_forecast_json(&body, hours);
        reply(req, 200, "OK", "application/json", body.data, body.len);
    } else if (strcmp(path, "/api/v1/alerts") == 0) {
        alert_api_json(&body);
        reply(req, 200, "OK", "application/json", body.data, body.len);
    } else if (strcmp(path, "/api/v1/hosts") == 0) {
        api_hosts_json(&body);
        reply(req, 200, "OK", "application/json", body.data, body.len);
    } else if (strcmp(path, "/api/v1/lanes") == 0) {
        api_lanes_json(&body);
        reply(req, 200, "OK", "application/json", body.data, body.len);
    } else if (strcmp(path, "/api/v1/clients") == 0) {
        struct evkeyvalq q;
        long offset = 0, limit = 100;
        const char *query = parsed != NULL ? evhttp_uri_get_query(parsed) : NULL;
        if (query != NULL && evhttp_parse_query_str(query, &q) == 0) {
            const char *o = evhttp_find_header(&q, "offset"), *l = evhttp_find_header(&q, "limit");
            if (o != NULL)
                offset = strtol(o, NULL, 10);
            if (l != NULL)
                limit = strtol(l, NULL, 10);
            evhttp_clear_headers(&q);
        }
        api_clients_json(&body, offset, limit);
        reply(req, 200, "OK", "application/json", body.data, body.len);
    } else if (strcmp(path, "/api/metrics/database/pool") == 0 || strcmp(path, "/api/v1/pools") == 0) {
        metrics_pool_json(&body);
        reply(req, 200, "OK", "application/json", body.data, body.len);
    } else if (strcmp(path, "/readyz") == 0) {
        char why[1024] = "";
        if (rt.shutting_down)
            reply_text(req, 503, "Service Unavailable", "shutting down\n");
        else if (!backend_any_up(why, sizeof(why))) {
            strncat(why, "\n", sizeof(why) - strlen(why) - 1);
            reply_text(req, 503, "Service Unavailable", why);
        } else
            reply_text(req, 200, "OK", "ready\n");
    } else {
        reply_text(req, 404, "Not Found", "not found\n");
    }
    pbuf_free(&body);
done:
    if (parsed != NULL)
        evhttp_uri_free(parsed);
}

static bool http_new(void)
{
    http = evhttp_new(loop_base());
    if (http == NULL)
        return false;
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
    evhttp_set_max_headers_size(http, 16384);
    evhttp_set_max_body_size(http, 65536);
    evhttp_set_timeout(http, 10);
    evhttp_set_gencb(http, handle, NULL);
    return true;
}

/* After binding (or adopting) the listening socket: logs the outcome, cleans up on failure. */
static bool http_bound(const char *listen, const char *how)
{
    if (bound == NULL) {
        log_error("cannot listen for HTTP on %s%s", listen, how);
        evhttp_free(http);
        http = NULL;
        return false;
    }
    log_info("HTTP endpoint on %s%s (/metrics, /api/metrics/database/pool, /healthz, /readyz)", listen, how);
    return true;
}

bool http_start(const char *listen)
{
    if (listen == NULL || listen[0] == '\0')
        return true;
    char host[256];
    const char *colon = strrchr(listen, ':');
    if (colon == NULL || (size_t)(colon - listen) >= sizeof(host)) {
        log_error("http_listen \"%s\": expected host:port", listen);
        return false;
    }
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    int port = atoi(colon + 1);
    if (!http_new())
        return false;
    bound = evhttp_bind_socket_with_handle(http, host, (ev_uint16_t)port);
    return http_bound(listen, "");
}

bool http_adopt(int fd, const char *listen)
{
    evutil_make_socket_nonblocking(fd);
    if (!http_new())
        return false;
    bound = evhttp_accept_socket_with_handle(http, fd);
    return http_bound(listen, " taken over");
}

int http_listen_fd(void)
{
    return bound != NULL ? (int)evhttp_bound_socket_get_fd(bound) : -1;
}

void http_stop_accepting(void)
{
    if (http != NULL && bound != NULL)
        evhttp_del_accept_socket(http, bound); /* closes our descriptor; requests in progress finish */
    bound = NULL;
}

void http_stop(void)
{
    if (http != NULL)
        evhttp_free(http);
    http = NULL;
    bound = NULL;
}
