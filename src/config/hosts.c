/* hosts.c — host= and port= of a [databases] line split into hosts, with libpq's rules (one port
 * for all hosts, or one per host). Pure: unit-tested (test_config.c) and fuzzed (fuzz_hosts.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

bool config_split_hosts(struct wp_database *db, const char *hosts, const char *ports, char *err, size_t errlen)
{
    int nports = 0, portv[WP_MAX_HOSTS];
    const char *p = ports;
    while (*p != '\0') {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > 65535 || (*end != ',' && *end != '\0')) {
            snprintf(err, errlen, "port=%s: expected a port in 1..65535, or a comma-separated list of them", ports);
            return false;
        }
        if (nports == WP_MAX_HOSTS) {
            snprintf(err, errlen, "port=%s: at most %d ports", ports, WP_MAX_HOSTS);
            return false;
        }
        portv[nports++] = (int)v;
        p = *end == ',' ? end + 1 : end;
        if (*end == ',' && *p == '\0') {
            snprintf(err, errlen, "port=%s: empty port after ','", ports);
            return false;
        }
    }
    db->nhosts = 0;
    p = hosts;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        while (len > 0 && *p == ' ') {
            p++;
            len--;
        }
        while (len > 0 && p[len - 1] == ' ')
            len--;
        if (len == 0) {
            snprintf(err, errlen, "host=%s: empty host name", hosts);
            return false;
        }
        if (len >= WP_HOST_MAX) {
            snprintf(err, errlen, "host=%s: a host name is longer than %d characters", hosts, WP_HOST_MAX - 1);
            return false;
        }
        if (db->nhosts == WP_MAX_HOSTS) {
            snprintf(err, errlen, "host=%s: at most %d hosts", hosts, WP_MAX_HOSTS);
            return false;
        }
        struct wp_host *h = &db->hosts[db->nhosts++];
        memcpy(h->name, p, len);
        h->name[len] = '\0';
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    if (nports > 1 && nports != db->nhosts) {
        snprintf(err, errlen, "port=%s: %d ports for %d hosts (give one port for all, or one per host)", ports, nports,
                 db->nhosts);
        return false;
    }
    for (int i = 0; i < db->nhosts; i++)
        db->hosts[i].port = nports == 0 ? 5432 : portv[nports == 1 ? 0 : i];
    db->port = db->hosts[0].port;
    return true;
}
