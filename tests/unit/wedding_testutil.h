/* wedding_testutil.h — helpers of the context and forecast tests: local instants in
 * Europe/London and weddings built in code. Include after <cmocka.h>. */
#ifndef WEDPOOL_WEDDING_TESTUTIL_H
#define WEDPOOL_WEDDING_TESTUTIL_H

#include <stdio.h>

#include "calendar.h"
#include "clock.h"

#define ZONE "Europe/London"

static inline time_t local(int y, int mo, int d, int h, int mi)
{
    time_t t;
    assert_true(clock_from_local(y, mo, d, h, mi, ZONE, &t));
    return t;
}

static inline struct wedding wedding(const char *name, time_t start, time_t end, int guests)
{
    struct wedding w = {0};
    snprintf(w.name, sizeof(w.name), "%s", name);
    w.start = start;
    w.end = end;
    w.guests = guests;
    w.vendors = 8;
    return w;
}

#endif
