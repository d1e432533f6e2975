/* lanes.h — priority lanes: named classes of traffic, the rules that put clients in them, and the
 * effective priority a waiting client is served by. Pure: no I/O, unit-tested. */
#ifndef WEDPOOL_LANES_H
#define WEDPOOL_LANES_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "cidr.h"

#define MAX_LANES 16
#define LANE_NAME_MAX 32

struct lane_conf {
    char name[LANE_NAME_MAX];
    int priority;               /* base priority; higher is served first */
    int wedding_day_boost;      /* added on a wedding day (calendar) */
    int active_wedding_boost;   /* added while a wedding is in progress (calendar) */
    bool reserve;               /* may use the emergency reserve connections */
    int queue_timeout_ms;       /* -1 = acquire_timeout_ms */
    int max_waiting;            /* -1 = unlimited; more are shed at once with 53300 */
    int max_active;             /* -1 = unlimited; count, or percent of max_pool_size if max_active_pct */
    bool max_active_pct;
    char users[256];            /* who may ask for this lane in options (comma list, "*" = anyone) */
};

struct lane_rule {
    int lane;
    char user[64];              /* "" = any; glob */
    char database[64];          /* "" = any; glob */
    char application_name[128]; /* "" = any; glob */
    bool has_cidr;
    struct cidr addr;
};

struct lanes_conf {
    struct lane_conf lanes[MAX_LANES];
    int nlanes;
    int default_lane;           /* index of "default" */
    struct lane_rule *rules;
    int nrules;
};

/* Starts with the implicit lane "default" (priority 100). */
void lanes_init(struct lanes_conf *lc);
void lanes_free(struct lanes_conf *lc);
bool lanes_copy(struct lanes_conf *dst, const struct lanes_conf *src);
/* "name = priority=N reserve=yes queue_timeout_ms=N max_waiting=N max_active=N|N% wedding_day_boost=N
 *  active_wedding_boost=N users=a,b"; redefining "default" is allowed. false + err on bad input. */
bool lanes_parse_lane(struct lanes_conf *lc, const char *name, const char *spec, char *err, size_t errlen);
/* "lane = user=GLOB database=GLOB application_name=GLOB addr=CIDR" (all given must match). The
 * lane must already be defined. */
bool lanes_parse_rule(struct lanes_conf *lc, const char *lane, const char *spec, char *err, size_t errlen);
int lanes_find(const struct lanes_conf *lc, const char *name);
/* First matching rule's lane, else the default lane. addr may be NULL (unix socket). */
int lanes_classify(const struct lanes_conf *lc, const char *user, const char *database, const char *appname,
                   const struct sockaddr *addr);
/* May this user ask for this lane explicitly? */
bool lanes_user_may_request(const struct lane_conf *l, const char *user);
/* Effective max_active for a pool of max_pool_size (-1 = unlimited). */
int lanes_max_active(const struct lane_conf *l, int max_pool_size);
/* A pool's occupancy as the waiter-selection policy sees it. */
struct lane_occupancy {
    int max_size;        /* max_pool_size: normal capacity */
    int reserve_size;    /* reserve_pool_size: emergency connections above it, for reserve lanes */
    int active;          /* server connections held by clients, reserve ones included */
    int reserve_active;  /* ... of which reserve ones */
};
/* May a client of lane l, whose lane already holds lane_active servers, take one now? *reserve says
 * whether it would be a reserve connection (only when the normal capacity is all in use). */
bool lanes_may_take(const struct lane_conf *l, int lane_active, const struct lane_occupancy *o, bool *reserve);
/* Server logins to have in flight, and (*limit) the most server connections the pool may have:
 * one login per waiter while normal capacity is left; once it is exhausted, only reserve-lane and
 * login waiters count, plus every unused reserve connection kept warm (critical clients arrive in
 * bursts), less the idle servers that can already serve them. */
int lanes_launch_demand(const struct lane_occupancy *o, int waiting, int reserve_waiting, int login_waiting,
                        int idle, int *limit);
/* Lane priority plus the calendar's boosts. */
int64_t lanes_priority(const struct lane_conf *l, bool wedding_day, bool active_wedding);

#endif
