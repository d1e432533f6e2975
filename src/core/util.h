/* util.h — intrusive lists, monotonic time, small string helpers. */
#ifndef WEDPOOL_UTIL_H
#define WEDPOOL_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Doubly linked circular list; a head is a node pointing to itself. */
struct dlist {
    struct dlist *prev;
    struct dlist *next;
};

static inline void dlist_init(struct dlist *h)
{
    h->prev = h->next = h;
}
static inline bool dlist_empty(const struct dlist *h)
{
    return h->next == h;
}
static inline void dlist_insert_after(struct dlist *pos, struct dlist *n)
{
    n->prev = pos;
    n->next = pos->next;
    pos->next->prev = n;
    pos->next = n;
}
static inline void dlist_push_front(struct dlist *h, struct dlist *n)
{
    dlist_insert_after(h, n);
}
static inline void dlist_push_back(struct dlist *h, struct dlist *n)
{
    dlist_insert_after(h->prev, n);
}
static inline void dlist_remove(struct dlist *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = n;
}
static inline struct dlist *dlist_first(const struct dlist *h)
{
    return dlist_empty(h) ? NULL : h->next;
}
#define dlist_for_each_safe(pos, tmp, head) \
    for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head); (pos) = (tmp), (tmp) = (pos)->next)

/* Monotonic microseconds (vDSO, no syscall). */
static inline uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
/* now - then, or 0 if then is later (a timestamp taken after a cached "now"). */
static inline uint64_t elapsed_us(uint64_t now, uint64_t then)
{
    return now > then ? now - then : 0;
}

/* Wall-clock seconds, for display. */
static inline time_t wall_time(void)
{
    return time(NULL);
}

/* Copies src into dst of size n, always NUL-terminating. Returns false if truncated. */
bool strlcpy_ok(char *dst, const char *src, size_t n);
/* Formats a wall-clock time as "YYYY-MM-DD HH:MM:SS UTC". */
void format_time(time_t t, char *buf, size_t n);
/* Random 32-bit value from OpenSSL's CSPRNG. */
uint32_t random_u32(void);
/* A Prometheus label value: backslash, double quote and newline escaped; cap >= 2*len+1 holds any. */
void prom_label_escape(const char *in, char *out, size_t cap);
/* The IPv4/IPv6 address of ss as text; false for other families. */
bool sockaddr_ip_text(const struct sockaddr_storage *ss, char *out, size_t n);
/* Appends key='value' (quotes and backslashes escaped) to a libpq conninfo string in buf. */
void conninfo_add(char *buf, size_t cap, const char *key, const char *value);

#endif
