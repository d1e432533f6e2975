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
/* Most parameters a list holds: a server flooding ParameterStatus messages is cut off there. */
#define PARAMS_MAX 256
void params_remove(struct param_list *l, const char *name);
bool params_copy(struct param_list *dst, const struct param_list *src);
/* Order-independent 64-bit signature of the (name, value) pairs; equal lists give equal
 * signatures, so a server already synced for an identical client needs no SETs. Never 0. */
uint64_t params_signature(const struct param_list *l);

/* Names whose values a client sets at startup and wedpool keeps in sync on the servers it gets.
 * Parameters a client passes via "options=-c name=value" are tracked too. */
bool params_is_tracked_startup(const char *name);

/* Reported parameters a session cannot set (is_superuser, server_version, ...): never synced. */
bool params_is_read_only(const char *name);

/* One SET that moves a server towards a client's values; value NULL = back to the default. */
struct param_change {
    const char *name;
    const char *value;
};

/* The changes that make a server whose current values are `server` (its login values being `base`)
 * hold the client's values: names the client set and the server lacks, and names another client left
 * on the server that this one never set (back to their defaults). Read-only names are skipped.
 * Pointers point into the lists. Returns the count, or -1 if more than max are needed. */
int params_sync_plan(const struct param_list *client, const struct param_list *server,
                     const struct param_list *base, struct param_change *out, int max);

/* "SET "name" = E'value'" (or "TO DEFAULT" for value NULL) into out; false if it does not fit. */
bool params_set_sql(const char *name, const char *value, char *out, size_t cap);

/* Parses a startup "options" value: "-c a=b --c=d -c e=f\ g". Each pair is handed to cb.
 * Returns false on anything else (wedpool cannot replay other command-line switches). */
bool params_parse_options(const char *options, bool (*cb)(void *arg, const char *name, const char *value),
                          void *arg);

#endif
