/* cidr.h — IPv4/IPv6 networks: parsing "10.0.0.0/8", "::1/128" or a netmask, and membership. Pure. */
#ifndef WEDPOOL_CIDR_H
#define WEDPOOL_CIDR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct cidr {
    int family;                 /* AF_INET or AF_INET6 */
    uint8_t net[16];            /* network bytes (AF_INET: the first 4) */
    int prefix;                 /* 0..32 or 0..128 */
};

/* "ADDR/BITS", or a bare "ADDR" (a single host: /32 or /128). False if malformed. */
bool cidr_parse(const char *text, struct cidr *out);
/* Sets the prefix from a netmask of the same family ("255.255.0.0", "ffff:ffff::"); false if the
 * mask does not parse, is of the other family, or is not contiguous. */
bool cidr_set_mask(struct cidr *c, const char *mask);
/* Is the address in the network? An AF_INET network also contains IPv4-mapped IPv6 addresses
 * (::ffff:a.b.c.d, what a dual-stack listener sees). sa may be NULL (a unix socket): false. */
bool cidr_contains(const struct cidr *c, const struct sockaddr *sa);
/* Parses a numeric IPv4 or IPv6 address into *ss (port 0); NULL if text is neither (for example
 * "unix"), else (struct sockaddr *)ss. */
const struct sockaddr *cidr_sockaddr(const char *text, struct sockaddr_storage *ss);

#endif
