/* patroni_json.c — the leader in Patroni's GET /cluster answer. Pure: unit-tested (test_patroni.c). */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "patroni.h"

bool patroni_leader(const char *text, size_t len, char *out, size_t n, char *err, size_t errlen)
{
    json_error_t je;
    json_t *doc = json_loadb(text, len, 0, &je);
    if (doc == NULL) {
        snprintf(err, errlen, "not JSON: %s", je.text);
        return false;
    }
    json_t *members = json_object_get(doc, "members");
    bool found = false;
    snprintf(err, errlen, "no member with role leader");
    if (!json_is_array(members)) {
        snprintf(err, errlen, "no members array");
    } else {
        size_t i;
        json_t *m;
        json_array_foreach(members, i, m) {
            const char *role = json_string_value(json_object_get(m, "role"));
            const char *host = json_string_value(json_object_get(m, "host"));
            json_t *port = json_object_get(m, "port");
            if (role == NULL || strcmp(role, "leader") != 0)
                continue;
            if (host == NULL || host[0] == '\0' || strlen(host) >= WP_HOST_MAX) {
                snprintf(err, errlen, "the leader has no usable host");
                break;
            }
            long p = json_is_integer(port) ? (long)json_integer_value(port) : 5432;
            if (p < 1 || p > 65535) {
                snprintf(err, errlen, "the leader's port %ld is out of range", p);
                break;
            }
            snprintf(out, n, "%s:%ld", host, p);
            found = true;
            break;
        }
    }
    json_decref(doc);
    return found;
}
