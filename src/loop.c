/* loop.c — the one libevent base every module registers its events with. */
#include "loop.h"

#include <stdlib.h>

#include "log.h"

static struct event_base *base;

bool loop_init(void)
{
    struct event_config *cfg = event_config_new();
    if (cfg == NULL)
        return false;
    /* Monotonic timers; we never use libevent's locking. */
    event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
    base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    return base != NULL;
}

struct event_base *loop_base(void)
{
    return base;
}

void loop_run(void)
{
    event_base_dispatch(base);
}

void loop_stop(void)
{
    event_base_loopbreak(base);
}

void loop_free(void)
{
    if (base != NULL)
        event_base_free(base);
    base = NULL;
}
