/* params.c — per-connection session parameters and the SET statements that sync them. */
#include "params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void params_free(struct param_list *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->items[i].name);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

static int params_find(const struct param_list *l, const char *name)
{
    for (int i = 0; i < l->n; i++)
        if (strcasecmp(l->items[i].name, name) == 0)
            return i;
    return -1;
}

const char *params_get(const struct param_list *l, const char *name)
{
    int i = params_find(l, name);
    return i < 0 ? NULL : l->items[i].value;
}

bool params_set(struct param_list *l, const char *name, const char *value)
{
    int i = params_find(l, name);
    if (i >= 0 && strcmp(l->items[i].value, value) == 0)
        return true;
    size_t nl = strlen(name), vl = strlen(value);
    char *mem = malloc(nl + vl + 2);
    if (mem == NULL)
        return false;
    memcpy(mem, name, nl + 1);
    memcpy(mem + nl + 1, value, vl + 1);
    if (i >= 0) {
        free(l->items[i].name);
    } else {
        struct param *items = realloc(l->items, sizeof(*items) * (size_t)(l->n + 1));
        if (items == NULL) {
            free(mem);
            return false;
        }
        l->items = items;
        i = l->n++;
    }
    l->items[i].name = mem;
    l->items[i].value = mem + nl + 1;
    return true;
}

void params_remove(struct param_list *l, const char *name)
{
    int i = params_find(l, name);
    if (i < 0)
        return;
    free(l->items[i].name);
    l->items[i] = l->items[l->n - 1];
    l->n--;
}

bool params_copy(struct param_list *dst, const struct param_list *src)
{
    for (int i = 0; i < src->n; i++)
        if (!params_set(dst, src->items[i].name, src->items[i].value))
            return false;
    return true;
}

/* FNV-1a; names are case-folded (GUC names are case-insensitive: "timezone" is "TimeZone"),
 * values are not. */
static uint64_t hash_bytes(uint64_t h, const char *s, bool fold)
{
    for (; *s; s++) {
        h ^= (uint8_t)(fold && *s >= 'A' && *s <= 'Z' ? *s + 32 : *s);
        h *= 0x100000001b3ull;
    }
    return h;
}

uint64_t params_signature(const struct param_list *l)
{
    uint64_t sig = 0x9e3779b97f4a7c15ull * (uint64_t)(l->n + 1);
    for (int i = 0; i < l->n; i++) {
        uint64_t h = hash_bytes(0xcbf29ce484222325ull, l->items[i].name, true);
        h = hash_bytes(h ^ 0xff, l->items[i].value, false);
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdull;
        h ^= h >> 33;
        sig += h;
    }
    return sig ? sig : 1;
}

static const char *const tracked[] = {
    "application_name", "client_encoding", "DateStyle", "TimeZone", "IntervalStyle",
    "search_path", "standard_conforming_strings", "extra_float_digits", "statement_timeout",
    "lock_timeout", "idle_in_transaction_session_timeout", "default_transaction_isolation",
    "default_transaction_read_only", "work_mem", "role",
};

bool params_is_tracked_startup(const char *name)
{
    for (size_t i = 0; i < sizeof(tracked) / sizeof(tracked[0]); i++)
        if (strcasecmp(tracked[i], name) == 0)
            return true;
    return false;
}

/* Appends s to out at *pos; false if it does not fit. */
static bool put(char *out, size_t cap, size_t *pos, const char *s, size_t n)
{
    if (*pos + n + 1 > cap)
        return false;
    memcpy(out + *pos, s, n);
    *pos += n;
    out[*pos] = '\0';
    return true;
}

static bool put_ident(char *out, size_t cap, size_t *pos, const char *name)
{
    if (!put(out, cap, pos, "\"", 1))
        return false;
    for (const char *p = name; *p; p++)
        if (!put(out, cap, pos, p, 1) || (*p == '"' && !put(out, cap, pos, "\"", 1)))
            return false;
    return put(out, cap, pos, "\"", 1);
}

static bool put_literal(char *out, size_t cap, size_t *pos, const char *value)
{
    /* E'' so that the quoting is right whatever standard_conforming_strings says. */
    if (!put(out, cap, pos, "E'", 2))
        return false;
    for (const char *p = value; *p; p++) {
        if ((*p == '\'' || *p == '\\') && !put(out, cap, pos, p, 1))
            return false;
        if (!put(out, cap, pos, p, 1))
            return false;
    }
    return put(out, cap, pos, "'", 1);
}

/* set_config() takes the value as text exactly as a startup option does: "search_path=a,b" is the
 * two schemas a and b, where SET search_path = 'a,b' would be one schema named "a,b". */
static bool put_set(char *out, size_t cap, size_t *pos, const char *name, const char *value)
{
    if (value == NULL)
        return put(out, cap, pos, "SET ", 4) && put_ident(out, cap, pos, name) && put(out, cap, pos, " TO DEFAULT", 11);
    return put(out, cap, pos, "SELECT pg_catalog.set_config(", 29) && put_literal(out, cap, pos, name) &&
           put(out, cap, pos, ", ", 2) && put_literal(out, cap, pos, value) && put(out, cap, pos, ", false)", 8);
}

/* Reported parameters the server owns (PGC_INTERNAL): a session cannot set them (is_superuser follows
 * SET ROLE), so wedpool never syncs them, and a client asking for one at login is refused as
 * PostgreSQL refuses it. */
static const char *const read_only[] = {
    "is_superuser", "server_version", "server_version_num", "server_encoding", "integer_datetimes",
    "in_hot_standby",
};

bool params_is_read_only(const char *name)
{
    for (size_t i = 0; i < sizeof(read_only) / sizeof(read_only[0]); i++)
        if (strcasecmp(read_only[i], name) == 0)
            return true;
    return false;
}

int params_sync_plan(const struct param_list *client, const struct param_list *server,
                     const struct param_list *base, struct param_change *out, int max)
{
    int count = 0;
    for (int i = 0; i < client->n; i++) {
        const char *name = client->items[i].name, *want = client->items[i].value;
        const char *have = params_get(server, name);
        if (params_is_read_only(name) || (have != NULL && strcmp(have, want) == 0))
            continue;
        if (count == max)
            return -1;
        out[count++] = (struct param_change){name, want};
    }
    /* Values another client left on this server that this client never asked for. */
    for (int i = 0; i < server->n; i++) {
        const char *name = server->items[i].name;
        if (params_get(client, name) != NULL || params_is_read_only(name))
            continue;
        const char *def = params_get(base, name);
        if (def != NULL && strcmp(def, server->items[i].value) == 0)
            continue;
        if (count == max)
            return -1;
        out[count++] = (struct param_change){name, def};
    }
    return count;
}

bool params_set_sql(const char *name, const char *value, char *out, size_t cap)
{
    size_t pos = 0;
    if (cap > 0)
        out[0] = '\0';
    return put_set(out, cap, &pos, name, value);
}

bool params_parse_options(const char *options, bool (*cb)(void *arg, const char *name, const char *value),
                          void *arg)
{
    char tok[1024];
    const char *p = options;
    bool want_pair = false;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            return !want_pair;
        size_t n = 0;
        while (*p != '\0' && *p != ' ' && *p != '\t') {
            if (*p == '\\' && p[1] != '\0')
                p++;
            if (n + 1 >= sizeof(tok))
                return false;
            tok[n++] = *p++;
        }
        tok[n] = '\0';
        const char *pair;
        if (want_pair) {
            pair = tok;
            want_pair = false;
        } else if (strcmp(tok, "-c") == 0) {
            want_pair = true;
            continue;
        } else if (strncmp(tok, "-c", 2) == 0) {
            pair = tok + 2;
        } else if (strncmp(tok, "--", 2) == 0) {
            pair = tok + 2;
        } else {
            return false;
        }
        char *eq = strchr(pair, '=');
        if (eq == NULL || eq == pair)
            return false;
        *eq = '\0';
        /* "--a-b=c" means a_b */
        for (char *q = (char *)pair; *q; q++)
            if (*q == '-')
                *q = '_';
        if (!cb(arg, pair, eq + 1))
            return false;
    }
}
