/* route.c — choosing a host for target_session_attrs, the split-brain rule, breaker backoff. */
#include "route.h"

#include "config.h"

#define BACKOFF_BASE_MS 250u
#define BACKOFF_MAX_MS 8000u

static bool usable(const struct route_host *h)
{
    return h->up && !h->circuit_open;
}

static bool lag_ok(const struct route_host *h, int max_lag_ms)
{
    return max_lag_ms <= 0 || (h->lag_ms >= 0 && h->lag_ms <= max_lag_ms);
}

int route_primary(const struct route_host *h, int n, int preferred, bool *split)
{
    int found = -1, count = 0;
    bool pref_claims = false;
    for (int i = 0; i < n; i++) {
        if (!h[i].up || h[i].role != ROLE_PRIMARY)
            continue;
        count++;
        if (found < 0)
            found = i;
        if (i == preferred)
            pref_claims = true;
    }
    *split = false;
    if (count <= 1)
        return found;
    if (pref_claims)
        return preferred;
    *split = true;
    return -1;
}

/* Standbys fit for reading: usable, within the lag limit (read-only also takes a read-only primary). */
static int standbys(const struct route_host *h, int n, int max_lag_ms, bool read_only_primary, int *idx,
                    bool *lagging)
{
    int k = 0;
    *lagging = false;
    for (int i = 0; i < n; i++) {
        if (!usable(&h[i]))
            continue;
        if (h[i].role == ROLE_STANDBY) {
            if (lag_ok(&h[i], max_lag_ms))
                idx[k++] = i;
            else
                *lagging = true;
        } else if (read_only_primary && h[i].role == ROLE_PRIMARY && h[i].read_only) {
            idx[k++] = i;
        }
    }
    return k;
}

static struct route_result ok(int i)
{
    return (struct route_result){ROUTE_OK, RR_NONE, i};
}

static struct route_result no(enum route_verdict v, enum route_reason r)
{
    return (struct route_result){v, r, -1};
}

struct route_result route_pick(const struct route_host *h, int n, int tsa, int preferred, int max_lag_ms,
                               bool load_balance, uint32_t rnd)
{
    int cand[WP_MAX_HOSTS], ncand = 0;
    bool unknown = false, restarting = false;
    for (int i = 0; i < n && i < WP_MAX_HOSTS; i++) {
        if (usable(&h[i])) {
            cand[ncand++] = i;
            unknown = unknown || h[i].role == ROLE_UNKNOWN;
        }
        restarting = restarting || h[i].restarting;
    }
    if (ncand == 0)
        return restarting ? no(ROUTE_WAIT, RR_RESTARTING) : no(ROUTE_FAIL, RR_ALL_DOWN);
    bool split;
    int primary = route_primary(h, n, preferred, &split);
    bool primary_ok = primary >= 0 && usable(&h[primary]);
    int sb[WP_MAX_HOSTS];
    bool lagging;
    switch (tsa) {
    case TSA_ANY:
        if (split)
            return no(ROUTE_FAIL, RR_SPLIT_BRAIN);
        return ok(cand[load_balance ? rnd % (uint32_t)ncand : 0]);
    case TSA_READ_WRITE:
    case TSA_PRIMARY:
        if (split)
            return no(ROUTE_FAIL, RR_SPLIT_BRAIN);
        if (primary_ok && (tsa == TSA_PRIMARY || !h[primary].read_only))
            return ok(primary);
        return no(ROUTE_WAIT, unknown ? RR_CHECKING : RR_NO_PRIMARY);
    case TSA_READ_ONLY:
    case TSA_STANDBY: {
        int k = standbys(h, n, max_lag_ms, tsa == TSA_READ_ONLY, sb, &lagging);
        if (k > 0)
            return ok(sb[rnd % (uint32_t)k]);
        if (unknown)
            return no(ROUTE_WAIT, RR_CHECKING);
        return no(ROUTE_FAIL, lagging ? RR_ALL_LAGGING : RR_NO_STANDBY);
    }
    default: { /* TSA_PREFER_STANDBY */
        int k = standbys(h, n, max_lag_ms, false, sb, &lagging);
        if (k > 0)
            return ok(sb[rnd % (uint32_t)k]);
        if (split)
            return no(ROUTE_FAIL, RR_SPLIT_BRAIN);
        if (primary_ok)
            return ok(primary);
        if (unknown)
            return no(ROUTE_WAIT, RR_CHECKING);
        return no(ROUTE_FAIL, lagging ? RR_ALL_LAGGING : RR_NO_STANDBY);
    }
    }
}

bool route_acceptable(const struct route_host *h, int n, int i, int tsa, int preferred, int max_lag_ms)
{
    if (i < 0 || i >= n || !usable(&h[i]))
        return false;
    bool split;
    int primary = route_primary(h, n, preferred, &split);
    int sb[WP_MAX_HOSTS];
    bool lagging;
    switch (tsa) {
    case TSA_ANY:
        return !split;
    case TSA_READ_WRITE:
        return !split && i == primary && !h[i].read_only;
    case TSA_PRIMARY:
        return !split && i == primary;
    case TSA_READ_ONLY:
    case TSA_STANDBY:
        return (h[i].role == ROLE_STANDBY && lag_ok(&h[i], max_lag_ms)) ||
               (tsa == TSA_READ_ONLY && h[i].role == ROLE_PRIMARY && h[i].read_only);
    default:
        if (h[i].role == ROLE_STANDBY && lag_ok(&h[i], max_lag_ms))
            return true;
        return standbys(h, n, max_lag_ms, false, sb, &lagging) == 0 && !split && i == primary;
    }
}

uint32_t route_backoff_ms(int attempt, uint32_t rnd)
{
    uint32_t ms = BACKOFF_MAX_MS;
    if (attempt >= 0 && attempt < 6)
        ms = BACKOFF_BASE_MS << attempt;
    if (ms > BACKOFF_MAX_MS)
        ms = BACKOFF_MAX_MS;
    /* jitter: [0.75, 1.25) so hosts (and several wedpools) do not probe in lock step */
    uint64_t j = 750u + (uint64_t)(rnd % 500u);
    return (uint32_t)((uint64_t)ms * j / 1000u);
}

const char *route_role_name(enum backend_role role)
{
    switch (role) {
    case ROLE_PRIMARY:
        return "primary";
    case ROLE_STANDBY:
        return "standby";
    default:
        return "unknown";
    }
}
