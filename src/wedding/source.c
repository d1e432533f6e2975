/* source.c — a [calendars] line: "source=PATH|URL [format=ics|csv] [refresh_s=N] [timezone=ZONE]".
 * Pure, so the config loader (and its tests) need no worker, libcurl or event loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "fetch.h"

#define REFRESH_MIN_S 10
#define REFRESH_MAX_S 86400
#define REFRESH_DEFAULT_S 300


static bool has_prefix_ci(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* The path part of a URL (before ? or #) or a file name ends in .csv. */
static bool looks_csv(const char *src, bool is_url)
{
    size_t n = is_url ? strcspn(src, "?#") : strlen(src);
    return n >= 4 && strncasecmp(src + n - 4, ".csv", 4) == 0;
}

/* Copies a value into a fixed field; false + err naming the key when it does not fit. */
static bool copy_value(const char *name, const char *key, const char *v, size_t vlen, char *dst, size_t cap,
                       char *err, size_t errlen)
{
    if (vlen >= cap) {
        snprintf(err, errlen, "calendar \"%s\": %s: longer than %zu characters", name, key, cap - 1);
        return false;
    }
    memcpy(dst, v, vlen);
    dst[vlen] = '\0';
    return true;
}

bool calendar_source_parse(const char *name, const char *spec, struct calendar_source *out, char *err,
                           size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (name == NULL || name[0] == '\0' || strlen(name) >= sizeof(out->name)) {
        snprintf(err, errlen, "calendar name \"%s\": expected 1 to %zu characters", name ? name : "",
                 sizeof(out->name) - 1);
        return false;
    }
    snprintf(out->name, sizeof(out->name), "%s", name);
    out->refresh_s = REFRESH_DEFAULT_S;
    out->format = -1;
    bool seen_refresh = false, seen_zone = false;
    const char *p = spec != NULL ? spec : "";
    for (;;) {
        p += strspn(p, " \t");
        if (*p == '\0')
            break;
        size_t toklen = strcspn(p, " \t");
        const char *eq = memchr(p, '=', toklen);
        if (eq == NULL || eq == p) {
            snprintf(err, errlen, "calendar \"%s\": \"%.*s\": expected key=value", name, (int)toklen, p);
            return false;
        }
        size_t klen = (size_t)(eq - p), vlen = toklen - klen - 1;
        const char *v = eq + 1;
        char key[16];
        snprintf(key, sizeof(key), "%.*s", (int)(klen < sizeof(key) ? klen : sizeof(key) - 1), p);
        if (klen >= sizeof(key) ||
            (strcmp(key, "source") != 0 && strcmp(key, "format") != 0 && strcmp(key, "refresh_s") != 0 &&
             strcmp(key, "timezone") != 0)) {
            snprintf(err, errlen, "calendar \"%s\": unknown key \"%.*s\" (expected source, format, refresh_s, timezone)",
                     name, (int)klen, p);
            return false;
        }
        if ((strcmp(key, "source") == 0 && out->source[0] != '\0') || (strcmp(key, "format") == 0 && out->format >= 0) ||
            (strcmp(key, "refresh_s") == 0 && seen_refresh) || (strcmp(key, "timezone") == 0 && seen_zone)) {
            snprintf(err, errlen, "calendar \"%s\": %s given twice", name, key);
            return false;
        }
        if (vlen == 0) {
            snprintf(err, errlen, "calendar \"%s\": %s: empty value", name, key);
            return false;
        }
        if (strcmp(key, "source") == 0) {
            if (!copy_value(name, key, v, vlen, out->source, sizeof(out->source), err, errlen))
                return false;
            out->is_url = has_prefix_ci(out->source, "http://") || has_prefix_ci(out->source, "https://");
            if (!out->is_url && strstr(out->source, "://") != NULL) {
                snprintf(err, errlen, "calendar \"%s\": source \"%s\": only http:// and https:// URLs, or a file path",
                         name, out->source);
                return false;
            }
            const char *host = strstr(out->source, "://");
            if (out->is_url && (host[3] == '\0' || strchr("/?#@", host[3]) != NULL)) {
                snprintf(err, errlen, "calendar \"%s\": source \"%s\": a URL without a host", name, out->source);
                return false;
            }
        } else if (strcmp(key, "format") == 0) {
            if (vlen == 3 && strncasecmp(v, "ics", 3) == 0) {
                out->format = CAL_FORMAT_ICS;
            } else if (vlen == 3 && strncasecmp(v, "csv", 3) == 0) {
                out->format = CAL_FORMAT_CSV;
            } else {
                snprintf(err, errlen, "calendar \"%s\": format \"%.*s\": expected ics or csv", name, (int)vlen, v);
                return false;
            }
        } else if (strcmp(key, "refresh_s") == 0) {
            long n = 0;
            size_t i = 0;
            for (; i < vlen && v[i] >= '0' && v[i] <= '9' && n <= REFRESH_MAX_S; i++)
                n = n * 10 + (v[i] - '0');
            if (i != vlen || n < REFRESH_MIN_S || n > REFRESH_MAX_S) {
                snprintf(err, errlen, "calendar \"%s\": refresh_s \"%.*s\": expected %d to %d seconds", name, (int)vlen,
                         v, REFRESH_MIN_S, REFRESH_MAX_S);
                return false;
            }
            out->refresh_s = (int)n;
            seen_refresh = true;
        } else {
            if (!copy_value(name, key, v, vlen, out->zone, sizeof(out->zone), err, errlen))
                return false;
            if (!clock_zone_valid(out->zone)) {
                snprintf(err, errlen, "calendar \"%s\": timezone \"%s\": unknown zone (expected an IANA name such as "
                         "Europe/London)", name, out->zone);
                return false;
            }
            seen_zone = true;
        }
        p += toklen;
    }
    if (out->source[0] == '\0') {
        snprintf(err, errlen, "calendar \"%s\": source: missing (source=PATH or source=URL)", name);
        return false;
    }
    if (out->format < 0)
        out->format = looks_csv(out->source, out->is_url) ? CAL_FORMAT_CSV : CAL_FORMAT_ICS;
    return true;
}

