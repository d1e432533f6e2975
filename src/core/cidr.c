/* cidr.c — IPv4/IPv6 networks: parsing and membership. */
#include "cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static int family_bits(int family)
{
    return family == AF_INET ? 32 : 128;
}

/* A numeric address of either family into net; its family, or 0. */
static int parse_addr(const char *text, uint8_t net[16])
{
    memset(net, 0, 16);
    if (inet_pton(AF_INET, text, net) == 1)
        return AF_INET;
    if (inet_pton(AF_INET6, text, net) == 1)
        return AF_INET6;
    return 0;
}

bool cidr_parse(const char *text, struct cidr *out)
{
    char addr[64];
    const char *slash = strchr(text, '/');
    size_t n = slash != NULL ? (size_t)(slash - text) : strlen(text);
    if (n == 0 || n >= sizeof(addr))
        return false;
    memcpy(addr, text, n);
    addr[n] = '\0';
    out->family = parse_addr(addr, out->net);
    if (out->family == 0)
        return false;
    int max = family_bits(out->family);
    out->prefix = max;
    if (slash == NULL)
        return true;
    const char *p = slash + 1;
    if (*p == '\0' || strlen(p) > 3)
        return false;
    int bits = 0;
    for (; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return false;
        bits = bits * 10 + (*p - '0');
    }
    if (bits > max)
        return false;
    out->prefix = bits;
    return true;
}

bool cidr_set_mask(struct cidr *c, const char *mask)
{
    uint8_t m[16];
    if (parse_addr(mask, m) != c->family)
        return false;
    int bits = 0, nbytes = family_bits(c->family) / 8;
    bool ended = false;
    for (int i = 0; i < nbytes; i++) {
        for (int b = 7; b >= 0; b--) {
            bool set = (m[i] >> b) & 1;
            if (set && ended)
                return false; /* 255.0.255.0 */
            if (set)
                bits++;
            else
                ended = true;
        }
    }
    c->prefix = bits;
    return true;
}

bool cidr_contains(const struct cidr *c, const struct sockaddr *sa)
{
    if (sa == NULL)
        return false;
    const uint8_t *a;
    if (sa->sa_family == AF_INET && c->family == AF_INET) {
        a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
    } else if (sa->sa_family == AF_INET6 && c->family == AF_INET6) {
        a = (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
    } else if (sa->sa_family == AF_INET6 && c->family == AF_INET &&
               IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)sa)->sin6_addr)) {
        a = (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr + 12;
    } else {
        return false;
    }
    int bits = c->prefix;
    for (int i = 0; bits > 0; i++, bits -= 8) {
        uint8_t mask = bits >= 8 ? 0xff : (uint8_t)(0xff << (8 - bits));
        if ((a[i] & mask) != (c->net[i] & mask))
            return false;
    }
    return true;
}

const struct sockaddr *cidr_sockaddr(const char *text, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, text, &in->sin_addr) == 1)
        in->sin_family = AF_INET;
    else if (inet_pton(AF_INET6, text, &in6->sin6_addr) == 1)
        in6->sin6_family = AF_INET6;
    else
        return NULL;
    return (const struct sockaddr *)ss;
}
