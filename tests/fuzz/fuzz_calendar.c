/* fuzz_calendar.c — libFuzzer target: the iCalendar and CSV calendar readers. The first byte picks
 * the reader (even: iCalendar, odd: CSV); the rest is the text, copied into a buffer of exactly its
 * length (the readers take a length, not a NUL). Every wedding added must keep the invariants of
 * calendar.h. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calendar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void quiet(void *arg, const char *msg)
{
    (void)msg;
    (*(int *)arg)++;
}

static void check(const struct wedding_list *l, time_t from, time_t to)
{
    for (size_t i = 0; i < l->n; i++) {
        const struct wedding *w = &l->items[i];
        if (w->end <= w->start || w->start >= to || w->end <= from || w->critical < 1 || w->critical > 5 ||
            w->guests < 0 || w->vendors < 0 || memchr(w->name, '\0', sizeof(w->name)) == NULL ||
            memchr(w->uid, '\0', sizeof(w->uid)) == NULL || memchr(w->venue, '\0', sizeof(w->venue)) == NULL ||
            memchr(w->calendar, '\0', sizeof(w->calendar)) == NULL)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool csv = data[0] & 1;
    size_t len = size - 1;
    char *text = malloc(len ? len : 1);
    if (text == NULL)
        abort();
    memcpy(text, data + 1, len);
    /* 2026 plus a margin, in the zone the fixtures use. */
    time_t from = 1767225600 - 86400, to = 1798761600;
    struct wedding_list l = {0};
    char err[256];
    int warns = 0;
    if (csv)
        calendar_parse_csv(text, len, "fuzz", "Europe/London", from, to, &l, quiet, &warns, err, sizeof(err));
    else
        calendar_parse_ics(text, len, "fuzz", "Europe/London", from, to, &l, quiet, &warns, err, sizeof(err));
    check(&l, from, to);
    wedding_list_sort(&l);
    wedding_list_free(&l);
    free(text);
    return 0;
}
