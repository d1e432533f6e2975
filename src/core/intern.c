/* intern.c — reference-counted shared strings (see intern.h). An open-addressing table keyed by
 * the string; entries are one allocation each (count, then the text). Loop thread only. */
#include "intern.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct entry {
    uint32_t refs;
    uint32_t hash;
    char text[];
};

static struct entry **table;
static size_t cap, used;

static uint32_t hash_of(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static struct entry *entry_of(const char *s)
{
    return (struct entry *)(void *)(s - offsetof(struct entry, text));
}

static bool grow(void)
{
    size_t ncap = cap == 0 ? 64 : cap * 2;
    struct entry **n = calloc(ncap, sizeof(*n));
    if (n == NULL)
        return false;
    for (size_t i = 0; i < cap; i++) {
        if (table[i] == NULL)
            continue;
        size_t j = table[i]->hash & (ncap - 1);
        while (n[j] != NULL)
            j = (j + 1) & (ncap - 1);
        n[j] = table[i];
    }
    free(table);
    table = n;
    cap = ncap;
    return true;
}

const char *intern_get(const char *s)
{
    if (s == NULL || s[0] == '\0')
        return "";
    if ((used + 1) * 2 > cap && !grow())
        return NULL;
    uint32_t h = hash_of(s);
    size_t i = h & (cap - 1);
    for (; table[i] != NULL; i = (i + 1) & (cap - 1)) {
        if (table[i]->hash == h && strcmp(table[i]->text, s) == 0) {
            table[i]->refs++;
            return table[i]->text;
        }
    }
    size_t len = strlen(s);
    struct entry *e = malloc(sizeof(*e) + len + 1);
    if (e == NULL)
        return NULL;
    e->refs = 1;
    e->hash = h;
    memcpy(e->text, s, len + 1);
    table[i] = e;
    used++;
    return e->text;
}

void intern_put(const char *s)
{
    if (s == NULL || s[0] == '\0')
        return;
    struct entry *e = entry_of(s);
    if (--e->refs > 0)
        return;
    /* remove, then re-place the rest of its cluster (linear probing) */
    size_t i = e->hash & (cap - 1);
    while (table[i] != e)
        i = (i + 1) & (cap - 1);
    table[i] = NULL;
    used--;
    for (size_t j = (i + 1) & (cap - 1); table[j] != NULL; j = (j + 1) & (cap - 1)) {
        struct entry *m = table[j];
        table[j] = NULL;
        size_t k = m->hash & (cap - 1);
        while (table[k] != NULL)
            k = (k + 1) & (cap - 1);
        table[k] = m;
    }
    free(e);
}
