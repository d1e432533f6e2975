/* alert_names.c — names of severities and delivery results (alert.h). Pure. */
#include "alert.h"

#include <strings.h>

static const char *const sev_names[SEV_COUNT] = {"INFO", "WARNING", "HIGH", "CRITICAL", "EMERGENCY"};
static const char *const result_names[ALERT_RESULT_COUNT] = {
    "sent", "failed", "rate_limited", "circuit_open", "queue_full",
};

const char *alert_severity_name(enum alert_severity s)
{
    return (unsigned)s < SEV_COUNT ? sev_names[s] : "UNKNOWN";
}

int alert_severity_parse(const char *s)
{
    for (int i = 0; i < SEV_COUNT; i++)
        if (strcasecmp(s, sev_names[i]) == 0)
            return i;
    return -1;
}

const char *alert_result_name(enum alert_result r)
{
    return (unsigned)r < ALERT_RESULT_COUNT ? result_names[r] : "unknown";
}
