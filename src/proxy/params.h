/* params.h — per-connection session parameters (application_name, TimeZone, ...) and the SET
 * statements that make a server's values match a client's. */
#ifndef WEDPOOL_PARAMS_H
#define WEDPOOL_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct param {
    char *name;   /* name and value share one allocation */
    char *value;
};

struct param_list {
    struct param *items;
    int n;
};

void params_free(struct param_list *l);
const char *params_get(const struct param_list *l, const char *name);
/* Sets or replaces; returns false on allocation failure. */
bool params_set(struct param_list *l, const char *name, const char *value);
void params_remove(struct param_list *l, const char *name);
bool params_copy(struct param_list *dst, const struct param_list *src);
/* Order-independent 64-bit signature of the (name, value) pairs; equal lists give equal
 * signatures, so a server already synced for an identical client needs no SETs. Never 0. */
uint64_t params_signature(const struct param_list *l);

/* Names whose values a client sets at startup and wedpool keeps in sync on the servers it gets.
 * Parameters a client passes via "options=-c name=value" are tracked too. */
bool params_is_tracked_startup(const char *name);

/* Builds "SET name = 'value'; ..." so that a server whose current values are `server` (its login
 * values being `base`) ends up with the client's values; names the client never set are returned
 * to their defaults. Returns the number of SETs written (0 = nothing to do); -1 if it would not fit. */
int params_sync_sql(const struct param_list *client, const struct param_list *server,
                    const struct param_list *base, char *out, size_t cap);

/* Parses a startup "options" value: "-c a=b --c=d -c e=f\ g". Each pair is handed to cb.
 * Returns false on anything else (wedpool cannot replay other command-line switches). */
bool params_parse_options(const char *options, bool (*cb)(void *arg, const char *name, const char *value),
                          void *arg);

#endif
