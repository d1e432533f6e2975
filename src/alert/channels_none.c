/* channels_none.c — TEMPORARY stand-in for the delivery half (channels.c, branch h3) so that the
 * rules half builds and runs alone: no channels are configured, so alerts fire, resolve and are
 * recorded in the history, but nothing is sent. Delete this file (and its meson.build entry) when
 * h3's channels.c is merged. */
#include "channels.h"

#include <stddef.h>

int channels_count(void)
{
    return 0;
}

const char *channel_name(int ch)
{
    (void)ch;
    return "";
}

enum alert_severity channel_min_severity(int ch)
{
    (void)ch;
    return SEV_EMERGENCY;
}

int channel_after_min(int ch)
{
    (void)ch;
    return 0;
}

int channel_find(const char *name)
{
    (void)name;
    return -1;
}

void channels_send(int ch, const struct alert_notice *n)
{
    (void)ch;
    (void)n;
}

void channels_on_result(channel_result_fn fn, void *arg)
{
    (void)fn;
    (void)arg;
}

bool channel_failing_since(int ch, time_t *since)
{
    (void)ch;
    (void)since;
    return false;
}
