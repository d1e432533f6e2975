/* util.c — small string, time and randomness helpers. */
#include "util.h"

#include <arpa/inet.h>
#include <openssl/rand.h>
#include <string.h>

bool strlcpy_ok(char *dst, const char *src, size_t n)
{
    size_t len = strlen(src);
    if (n == 0)
        return false;
    if (len >= n) {
        memcpy(dst, src, n - 1);
        dst[n - 1] = '\0';
        return false;
    }
    memcpy(dst, src, len + 1);
    return true;
}

void format_time(time_t t, char *buf, size_t n)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

uint32_t random_u32(void)
{
    uint32_t v = 0;
    if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
        v = (uint32_t)now_us() * 2654435761u;
    return v;
}

/* Label values: escape backslash, double quote and newline. */
void prom_label_escape(const char *in, char *o, size_t cap)
{
    size_t n = 0;
    for (const char *p = in; *p && n + 3 < cap; p++) {
        if (*p == '\\' || *p == '"') {
            o[n++] = '\\';
            o[n++] = *p;
        } else if (*p == '\n') {
            o[n++] = '\\';
            o[n++] = 'n';
        } else {
            o[n++] = *p;
        }
    }
    o[n] = '\0';
}

bool sockaddr_ip_text(const struct sockaddr_storage *ss, char *out, size_t n)
{
    const void *in;
    if (ss->ss_family == AF_INET)
        in = &((const struct sockaddr_in *)ss)->sin_addr;
    else if (ss->ss_family == AF_INET6)
        in = &((const struct sockaddr_in6 *)ss)->sin6_addr;
    else
        return false;
    return inet_ntop(ss->ss_family, in, out, (socklen_t)n) != NULL;
}

void conninfo_add(char *buf, size_t cap, const char *key, const char *value)
{
    size_t n = strlen(buf);
    int w = snprintf(buf + n, cap - n, "%s='", key);
    if (w < 0 || (size_t)w >= cap - n)
        return;
    n += (size_t)w;
    for (const char *p = value; *p && n + 3 < cap; p++) {
        if (*p == '\'' || *p == '\\')
            buf[n++] = '\\';
        buf[n++] = *p;
    }
    if (n + 2 < cap) {
        buf[n++] = '\'';
        buf[n++] = ' ';
    }
    buf[n] = '\0';
}
