/* pin.c — detecting SQL that creates or releases session state (see pin.h). */
#include "pin.h"

#include <jansson.h>
#include <pg_query.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "params.h"
#include "prepared.h"

/* The pre-check looks for the reserved prefix as two letters before an underscore. */
_Static_assert(PS_PREFIX_LEN == 3 && sizeof(PS_PREFIX) == 4, "pin.c's pre-check assumes a prefix of two letters and '_'");

/* ------------------------------------------------------------------ the cheap pre-check */

static inline unsigned char lc(unsigned char c)
{
    return (unsigned char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
}

static inline bool is_word(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c >= 0x80;
}

/* Does text[i..] start with the lowercase word w (case-insensitive), not followed by a word byte? */
static bool word_at(const char *t, size_t len, size_t i, const char *w, size_t wn)
{
    if (len - i < wn)
        return false;
    for (size_t k = 0; k < wn; k++)
        if (lc((unsigned char)t[i + k]) != (unsigned char)w[k])
            return false;
    return i + wn == len || !is_word((unsigned char)t[i + wn]);
}

/* Case-insensitive compare of n bytes of t with the lowercase w (no locale: strncasecmp's is slow). */
static inline bool ci_eq(const char *t, const char *w, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (lc((unsigned char)t[k]) != (unsigned char)w[k])
            return false;
    return true;
}

/* Skips whitespace, parentheses and comments (-- to end of line, nested slash-star). */
static size_t skip_blank(const char *t, size_t len, size_t i)
{
    while (i < len) {
        unsigned char c = (unsigned char)t[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || c == '(') {
            i++;
        } else if (c == '-' && i + 1 < len && t[i + 1] == '-') {
            while (i < len && t[i] != '\n')
                i++;
        } else if (c == '/' && i + 1 < len && t[i + 1] == '*') {
            int depth = 1;
            i += 2;
            while (i < len && depth > 0) {
                if (t[i] == '*' && i + 1 < len && t[i + 1] == '/') {
                    depth--;
                    i += 2;
                } else if (t[i] == '/' && i + 1 < len && t[i + 1] == '*') {
                    depth++;
                    i += 2;
                } else {
                    i++;
                }
            }
        } else {
            break;
        }
    }
    return i;
}

/* The first keyword of a statement starting at i: one of those that may create or release state? */
static bool candidate_keyword(const char *t, size_t len, size_t i)
{
    i = skip_blank(t, len, i);
    if (i >= len)
        return false;
#define KW(w) word_at(t, len, i, w, sizeof(w) - 1)
    switch (lc((unsigned char)t[i])) {
    case 's':
        return KW("set");
    case 'r':
        return KW("reset");
    case 'p':
        return KW("prepare");
    case 'd':
        return KW("deallocate") || KW("declare") || KW("discard") || KW("do");
    case 'l':
        return KW("listen") || KW("load");
    case 'u':
        return KW("unlisten");
    case 'c':
        return KW("create") || KW("close");
    case 'e':
        return KW("explain"); /* EXPLAIN ANALYZE CREATE TEMP TABLE ... AS runs it */
    default:
        return false;
    }
#undef KW
}

/* "into" at i (a word of its own) followed by temp, temporary, local, global or pg_temp: SELECT INTO
 * a temporary table. */
static bool into_temp_at(const char *t, size_t len, size_t i)
{
    if ((i > 0 && is_word((unsigned char)t[i - 1])) || !word_at(t, len, i, "into", 4))
        return false;
    i = skip_blank(t, len, i + 4);
    if (i < len && t[i] == '"')
        i++;
    return word_at(t, len, i, "temp", 4) || word_at(t, len, i, "temporary", 9) || word_at(t, len, i, "local", 5) ||
           word_at(t, len, i, "global", 6) || (len - i >= 7 && ci_eq(t + i, "pg_temp", 7));
}

/* At an underscore: the reserved prefix ("wp_") starting a word (EXECUTE wp_..., "wp_..."). */
static bool reserved_hit(const char *t, size_t len, size_t i)
{
    (void)len;
    return i >= 2 && lc((unsigned char)t[i - 2]) == PS_PREFIX[0] && lc((unsigned char)t[i - 1]) == PS_PREFIX[1] &&
           (i == 2 || !is_word((unsigned char)t[i - 3]));
}

/* At an underscore: "set_config" around it, or "advisory" after it (every session advisory-lock
 * function is pg_[try_]advisory_...), or the reserved prefix. */
static bool underscore_hit(const char *t, size_t len, size_t i)
{
    if (i >= 3 && len - i >= 7 && lc((unsigned char)t[i - 3]) == 's' && lc((unsigned char)t[i - 2]) == 'e' &&
        lc((unsigned char)t[i - 1]) == 't' && ci_eq(t + i + 1, "config", 6))
        return true;
    return (len - i >= 9 && ci_eq(t + i + 1, "advisory", 8)) || reserved_hit(t, len, i);
}

/* Every position of byte c in text, tested with hit(); memchr keeps this a vector scan. */
static bool scan(const char *t, size_t len, int c, bool (*hit)(const char *, size_t, size_t))
{
    const char *p = t, *end = t + len;
    while (p < end && (p = memchr(p, c, (size_t)(end - p))) != NULL) {
        if (hit(t, len, (size_t)(p - t)))
            return true;
        p++;
    }
    return false;
}

/* At an ampersand: U&"..." (an identifier with Unicode escapes could spell the reserved prefix). */
static bool unicode_ident_hit(const char *t, size_t len, size_t i)
{
    return i >= 1 && lc((unsigned char)t[i - 1]) == 'u' && i + 1 < len && t[i + 1] == '"';
}

static bool semicolon_hit(const char *t, size_t len, size_t i)
{
    return candidate_keyword(t, len, i + 1);
}

bool pin_precheck(const char *text, size_t len)
{
    /* An ordinary query costs a few memchr passes: the first keyword, the statement after each ';',
     * each '_' (set_config, pg_advisory_lock...), each 'i' (SELECT ... INTO TEMP). */
    return candidate_keyword(text, len, 0) || scan(text, len, ';', semicolon_hit) ||
           scan(text, len, '_', underscore_hit) || scan(text, len, 'i', into_temp_at) ||
           scan(text, len, 'I', into_temp_at) || scan(text, len, '&', unicode_ident_hit);
}

/* After a ';': DEALLOCATE, which prepared.c does not follow inside a multi-statement query. */
static bool semicolon_deallocate_hit(const char *t, size_t len, size_t i)
{
    i = skip_blank(t, len, i + 1);
    return i < len && word_at(t, len, i, "deallocate", 10);
}

bool pin_reserved_precheck(const char *text, size_t len)
{
    return scan(text, len, '_', reserved_hit) || scan(text, len, '&', unicode_ident_hit) ||
           scan(text, len, ';', semicolon_deallocate_hit);
}

/* ------------------------------------------------------------------ the parse */

static const char *const kind_names[PIN_KINDS] = {
    "SET", "SET ROLE", "SET SESSION AUTHORIZATION", "PREPARE", "LISTEN", "CREATE TEMP",
    "DECLARE ... WITH HOLD", "pg_advisory_lock", "LOAD", "a statement too large to analyse",
    "a DO block that may create session state",
};
static const char *const kind_short[PIN_KINDS] = {
    "set", "role", "session_authorization", "prepare", "listen", "temp", "hold", "advisory", "load", "unknown", "do",
};

const char *pin_kind_name(uint16_t mask)
{
    for (int i = 0; i < PIN_KINDS; i++)
        if (mask & (1u << i))
            return kind_names[i];
    return "";
}

void pin_mask_text(uint16_t mask, char *out, size_t cap)
{
    size_t n = 0;
    if (cap == 0)
        return;
    out[0] = '\0';
    for (int i = 0; i < PIN_KINDS; i++) {
        if (!(mask & (1u << i)))
            continue;
        int w = snprintf(out + n, cap - n, "%s%s", n > 0 ? "," : "", kind_short[i]);
        if (w < 0 || (size_t)w >= cap - n)
            return;
        n += (size_t)w;
    }
}

static void pin(struct pin_verdict *v, uint16_t kind, const char *fmt, const char *arg)
{
    if (v->pins == 0) {
        if (arg != NULL)
            snprintf(v->what, sizeof(v->what), fmt, arg);
        else
            snprintf(v->what, sizeof(v->what), "%s", fmt);
    }
    v->pins |= kind;
}

/* Settings PostgreSQL 15 reports with ParameterStatus: wedpool sees their new values and carries
 * them to the client's next server (params.c), so changing them creates no state to pin. */
static bool follows_client(const char *name)
{
    static const char *const reported[] = {
        "application_name", "client_encoding", "DateStyle", "IntervalStyle", "TimeZone",
        "standard_conforming_strings", "default_transaction_read_only",
    };
    if (!params_is_tracked_startup(name))
        return false;
    for (size_t i = 0; i < sizeof(reported) / sizeof(reported[0]); i++)
        if (strcasecmp(reported[i], name) == 0)
            return true;
    return false;
}

static const char *str_of(json_t *o, const char *key)
{
    json_t *s = json_object_get(o, key);
    return json_is_string(s) ? json_string_value(s) : NULL;
}

/* The text of an A_Const string node ({"A_Const":{"sval":{"sval":"x"}}}), or NULL. */
static const char *const_str(json_t *node)
{
    json_t *ac = json_object_get(node, "A_Const");
    if (ac == NULL)
        return NULL;
    return str_of(json_object_get(ac, "sval"), "sval");
}

/* Settings whose plain SET the client's parameters carry (struct pin_verdict.carry_name): replayed on
 * each server like the reported ones. Only scalar settings, whose SET value and set_config() value
 * are the same text (not lists like search_path, whose identifiers SET quotes). */
static const char *carried(const char *name)
{
    static const char *const names[] = {"extra_float_digits"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(names[i], name) == 0 && params_is_tracked_startup(names[i]))
            return names[i];
    return NULL;
}

/* The text of a constant SET value: a string, an integer or a decimal number; NULL otherwise. */
static const char *const_value(json_t *node, char *buf, size_t cap)
{
    json_t *ac = json_object_get(node, "A_Const");
    if (ac == NULL)
        return NULL;
    const char *s = str_of(json_object_get(ac, "sval"), "sval");
    if (s == NULL)
        s = str_of(json_object_get(ac, "fval"), "fval");
    if (s != NULL)
        return strlen(s) < cap ? s : NULL;
    /* libpg_query's JSON leaves out an integer that is 0 - and a negative one: "ival":{} is
     * ambiguous, so it is not carried (the SET pins) */
    json_t *iv = json_object_get(json_object_get(ac, "ival"), "ival");
    if (!json_is_integer(iv))
        return NULL;
    snprintf(buf, cap, "%lld", (long long)json_integer_value(iv));
    return buf;
}

/* A setting changed for the session (SET, set_config(..., false)). */
static void session_setting(struct pin_verdict *v, const char *name, const char *value, bool via_func)
{
    if (name == NULL) {
        pin(v, PIN_SET, "set_config(...) of a setting named by an expression", NULL);
        return;
    }
    if (strcasecmp(name, "role") == 0) {
        if (value != NULL && strcasecmp(value, "none") == 0)
            v->releases |= PIN_ROLE;
        else
            pin(v, PIN_ROLE, via_func ? "set_config('role', ..., false)" : "SET ROLE", NULL);
    } else if (strcasecmp(name, "session_authorization") == 0) {
        pin(v, PIN_SESSION_AUTH, "SET SESSION AUTHORIZATION", NULL);
    } else if (strcasecmp(name, "TRANSACTION") == 0 || strcasecmp(name, "TRANSACTION SNAPSHOT") == 0) {
        /* this transaction only */
    } else if (!follows_client(name)) {
        pin(v, PIN_SET, via_func ? "set_config('%s', ..., false)" : "SET %s", name);
    }
}

static void variable_set(struct pin_verdict *v, json_t *st)
{
    if (json_is_true(json_object_get(st, "is_local")))
        return;
    const char *kind = str_of(st, "kind");
    const char *name = str_of(st, "name");
    if (kind == NULL)
        return;
    if (strcmp(kind, "VAR_RESET_ALL") == 0) {
        v->releases |= PIN_SET; /* role and session_authorization are not reset by RESET ALL */
        return;
    }
    if (name == NULL)
        return;
    if (strcmp(kind, "VAR_RESET") == 0 || strcmp(kind, "VAR_SET_DEFAULT") == 0) {
        /* back to the default: creates nothing; releases only what has one setting */
        if (carried(name) != NULL) /* the default is the server's, not what the client carries */
            pin(v, PIN_SET, "RESET %s", name);
        else if (strcasecmp(name, "role") == 0)
            v->releases |= PIN_ROLE;
        else if (strcasecmp(name, "session_authorization") == 0)
            v->releases |= PIN_SESSION_AUTH;
        return;
    }
    const char *value = NULL;
    json_t *args = json_object_get(st, "args");
    if (json_is_array(args) && json_array_size(args) == 1)
        value = const_str(json_array_get(args, 0));
    const char *carry = strcmp(kind, "VAR_SET_VALUE") == 0 ? carried(name) : NULL;
    char num[32];
    const char *cv = carry != NULL && json_array_size(args) == 1 ? const_value(json_array_get(args, 0), num, sizeof(num))
                                                                  : NULL;
    if (cv != NULL) {
        v->carry_name = carry;
        snprintf(v->carry_value, sizeof(v->carry_value), "%s", cv);
        return;
    }
    session_setting(v, name, value, false);
}

/* Is the set_config third argument (is_local) a constant true? Anything else counts as false. */
static bool const_true(json_t *node)
{
    json_t *tc = json_object_get(node, "TypeCast");
    if (tc != NULL)
        node = json_object_get(tc, "arg");
    json_t *ac = json_object_get(node, "A_Const");
    if (ac == NULL)
        return false;
    json_t *b = json_object_get(ac, "boolval");
    if (b != NULL)
        return json_is_true(json_object_get(b, "boolval"));
    json_t *iv = json_object_get(ac, "ival");
    if (iv != NULL)
        return json_integer_value(json_object_get(iv, "ival")) != 0;
    const char *s = str_of(json_object_get(ac, "sval"), "sval");
    return s != NULL && (strcasecmp(s, "t") == 0 || strcasecmp(s, "true") == 0 || strcasecmp(s, "on") == 0 ||
                         strcasecmp(s, "yes") == 0 || strcasecmp(s, "y") == 0 || strcmp(s, "1") == 0);
}

static void func_call(struct pin_verdict *v, json_t *fc)
{
    json_t *names = json_object_get(fc, "funcname");
    size_t n = json_array_size(names);
    if (n == 0)
        return;
    const char *fn = str_of(json_object_get(json_array_get(names, n - 1), "String"), "sval");
    if (fn == NULL)
        return;
    if (strcmp(fn, "set_config") == 0) {
        json_t *args = json_object_get(fc, "args");
        if (json_array_size(args) != 3 || !const_true(json_array_get(args, 2)))
            session_setting(v, const_str(json_array_get(args, 0)), NULL, true);
    } else if (strcmp(fn, "pg_advisory_lock") == 0 || strcmp(fn, "pg_advisory_lock_shared") == 0 ||
               strcmp(fn, "pg_try_advisory_lock") == 0 || strcmp(fn, "pg_try_advisory_lock_shared") == 0) {
        pin(v, PIN_ADVISORY, "%s", fn);
    } else if (strcmp(fn, "pg_advisory_unlock_all") == 0) {
        v->releases |= PIN_ADVISORY;
    }
}

/* A relation being created: temporary (TEMP, or in pg_temp)? */
static bool temp_rel(json_t *rel)
{
    const char *persistence = str_of(rel, "relpersistence");
    const char *schema = str_of(rel, "schemaname");
    return (persistence != NULL && strcmp(persistence, "t") == 0) ||
           (schema != NULL && strcmp(schema, "pg_temp") == 0);
}

static void create_into(struct pin_verdict *v, json_t *into)
{
    const char *on_commit = str_of(into, "onCommit");
    if (into != NULL && temp_rel(json_object_get(into, "rel")) &&
        (on_commit == NULL || strcmp(on_commit, "ONCOMMIT_DROP") != 0))
        pin(v, PIN_TEMP, "CREATE TEMP TABLE ... AS", NULL);
}

/* EXECUTE, PREPARE or DEALLOCATE naming a statement: one of wedpool's server-side names? (The
 * parser has folded an unquoted name to lower case, as the server will.) */
static void stmt_name(struct pin_verdict *v, json_t *st)
{
    const char *name = str_of(st, "name");
    if (name != NULL && strncmp(name, PS_PREFIX, PS_PREFIX_LEN) == 0)
        v->reserved = true;
}

/* A word of a DO block's body, lower-cased into w (cut at cap - 1 bytes). */
static size_t body_word(const char *b, size_t i, char *w, size_t cap)
{
    size_t n = 0;
    while (is_word((unsigned char)b[i + n])) {
        if (n + 1 < cap)
            w[n] = (char)lc((unsigned char)b[i + n]);
        n++;
    }
    w[n + 1 < cap ? n : cap - 1] = '\0';
    return n;
}

/* A DO block runs PL/pgSQL (or another procedural language) that PostgreSQL's SQL grammar does not
 * look into, and whatever it does to the session - set_config(..., false), SET, LISTEN, an advisory
 * lock, a temp table, a PREPARE through EXECUTE '...' - outlives the transaction like the plain
 * statement would. Its body is scanned word by word, conservatively: set_config and any session
 * advisory-lock function anywhere (the string of a dynamic EXECUTE included); SET (but not SET
 * LOCAL), LISTEN, PREPARE and LOAD where a statement starts (after BEGIN, THEN, ELSE, LOOP, ';' or a
 * quote, so UPDATE ... SET does not count); CREATE [LOCAL|GLOBAL] TEMP[ORARY], pg_temp and WITH
 * HOLD. A name assembled at run time ('SE' || 'T ...') is not seen, and functions are not looked
 * into at all: both are documented limits (docs/configuration.md, pin_session_state). */
static void do_block(struct pin_verdict *v, const char *body)
{
    char w[24], prev[24] = "", prev2[24] = "";
    bool start = true, pending_set = false;
    for (size_t i = 0; body[i] != '\0';) {
        unsigned char c = (unsigned char)body[i];
        if (!is_word(c)) {
            if (c == ';' || c == '\'')
                start = true;
            else if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '(')
                start = false;
            i++;
            continue;
        }
        size_t n = body_word(body, i, w, sizeof(w));
        i += n;
        if (pending_set && strcmp(w, "local") != 0)
            pin(v, PIN_DO_BLOCK, "a DO block running SET", NULL);
        pending_set = false;
        if (strcmp(w, "set_config") == 0 || (strstr(w, "advisory") != NULL && strstr(w, "xact") == NULL &&
                                               strstr(w, "unlock") == NULL && strstr(w, "lock") != NULL)) {
            pin(v, PIN_DO_BLOCK, "a DO block calling %s", w);
        } else if (start && strcmp(w, "set") == 0) {
            pending_set = true;
        } else if (start && (strcmp(w, "listen") == 0 || strcmp(w, "prepare") == 0)) {
            pin(v, PIN_DO_BLOCK, "a DO block running %s", w);
        } else if (start && strcmp(w, "load") == 0) {
            pin(v, PIN_DO_BLOCK | PIN_LOAD, "a DO block running LOAD", NULL);
        } else if (((strcmp(w, "temp") == 0 || strcmp(w, "temporary") == 0) &&
                    (strcmp(prev, "create") == 0 ||
                     (strcmp(prev2, "create") == 0 && (strcmp(prev, "local") == 0 || strcmp(prev, "global") == 0)))) ||
                   strcmp(w, "pg_temp") == 0 || (strcmp(w, "hold") == 0 && strcmp(prev, "with") == 0)) {
            pin(v, PIN_DO_BLOCK, "a DO block creating a temporary object or a WITH HOLD cursor", NULL);
        }
        start = strcmp(w, "begin") == 0 || strcmp(w, "then") == 0 || strcmp(w, "else") == 0 ||
                strcmp(w, "loop") == 0;
        memcpy(prev2, prev, sizeof(prev));
        memcpy(prev, w, sizeof(w));
    }
    if (pending_set)
        pin(v, PIN_DO_BLOCK, "a DO block running SET", NULL);
}

static void do_stmt(struct pin_verdict *v, json_t *st)
{
    size_t i;
    json_t *arg;
    json_array_foreach(json_object_get(st, "args"), i, arg)
    {
        json_t *de = json_object_get(arg, "DefElem");
        const char *name = str_of(de, "defname");
        const char *body = str_of(json_object_get(json_object_get(de, "arg"), "String"), "sval");
        if (name != NULL && strcmp(name, "as") == 0 && body != NULL)
            do_block(v, body);
    }
}

/* One node: a statement or expression that matters, by its node name. */
static void node(struct pin_verdict *v, const char *key, json_t *val)
{
    if (!json_is_object(val))
        return;
    switch (key[0]) {
    case 'V':
        if (strcmp(key, "VariableSetStmt") == 0)
            variable_set(v, val);
        else if (strcmp(key, "ViewStmt") == 0 && temp_rel(json_object_get(val, "view")))
            pin(v, PIN_TEMP, "CREATE TEMP VIEW", NULL);
        break;
    case 'F':
        if (strcmp(key, "FuncCall") == 0)
            func_call(v, val);
        break;
    case 'E':
        if (strcmp(key, "ExecuteStmt") == 0)
            stmt_name(v, val);
        break;
    case 'C':
        if (strcmp(key, "CreateStmt") == 0) {
            const char *on_commit = str_of(val, "oncommit");
            if (temp_rel(json_object_get(val, "relation")) &&
                (on_commit == NULL || strcmp(on_commit, "ONCOMMIT_DROP") != 0))
                pin(v, PIN_TEMP, "CREATE TEMP TABLE", NULL);
        } else if (strcmp(key, "CreateSeqStmt") == 0) {
            if (temp_rel(json_object_get(val, "sequence")))
                pin(v, PIN_TEMP, "CREATE TEMP SEQUENCE", NULL);
        } else if (strcmp(key, "CreateTableAsStmt") == 0) {
            create_into(v, json_object_get(val, "into"));
        } else if (strcmp(key, "CreateFunctionStmt") == 0) {
            json_t *names = json_object_get(val, "funcname");
            const char *schema = str_of(json_object_get(json_array_get(names, 0), "String"), "sval");
            if (json_array_size(names) >= 2 && schema != NULL && strcmp(schema, "pg_temp") == 0)
                pin(v, PIN_TEMP, "CREATE FUNCTION pg_temp...", NULL);
        } else if (strcmp(key, "ClosePortalStmt") == 0) {
            if (str_of(val, "portalname") == NULL)
                v->releases |= PIN_HOLD;
        }
        break;
    case 'S':
        if (strcmp(key, "SelectStmt") == 0)
            create_into(v, json_object_get(val, "intoClause"));
        break;
    case 'D':
        if (strcmp(key, "DeclareCursorStmt") == 0) {
            if (json_integer_value(json_object_get(val, "options")) & 0x0020) /* CURSOR_OPT_HOLD */
                pin(v, PIN_HOLD, "DECLARE ... WITH HOLD", NULL);
        } else if (strcmp(key, "DeallocateStmt") == 0) {
            if (str_of(val, "name") == NULL)
                v->releases |= PIN_PREPARE;
            stmt_name(v, val);
        } else if (strcmp(key, "DoStmt") == 0) {
            do_stmt(v, val);
        } else if (strcmp(key, "DiscardStmt") == 0) {
            const char *target = str_of(val, "target");
            if (target != NULL && strcmp(target, "DISCARD_ALL") == 0)
                v->releases |= PIN_DISCARD_ALL;
            else if (target != NULL && strcmp(target, "DISCARD_TEMP") == 0)
                v->releases |= PIN_TEMP;
        }
        break;
    case 'P':
        if (strcmp(key, "PrepareStmt") == 0) {
            pin(v, PIN_PREPARE, "PREPARE", NULL);
            stmt_name(v, val);
        }
        break;
    case 'L':
        if (strcmp(key, "ListenStmt") == 0)
            pin(v, PIN_LISTEN, "LISTEN", NULL);
        else if (strcmp(key, "LoadStmt") == 0)
            pin(v, PIN_LOAD, "LOAD", NULL);
        break;
    case 'U':
        if (strcmp(key, "UnlistenStmt") == 0 && str_of(val, "conditionname") == NULL)
            v->releases |= PIN_LISTEN;
        break;
    default:
        break;
    }
}

static void walk(struct pin_verdict *v, json_t *j, int depth)
{
    if (depth > 10000)
        return; /* jansson's own depth limit stops far earlier */
    if (json_is_object(j)) {
        const char *key;
        json_t *val;
        json_object_foreach(j, key, val)
        {
            node(v, key, val);
            walk(v, val, depth + 1);
        }
    } else if (json_is_array(j)) {
        size_t i;
        json_t *val;
        json_array_foreach(j, i, val) walk(v, val, depth + 1);
    }
}

bool pin_classify(const char *text, struct pin_verdict *v)
{
    memset(v, 0, sizeof(*v));
    PgQueryParseResult r = pg_query_parse(text);
    if (r.error != NULL) {
        /* A syntax error (PostgreSQL refuses the whole text) - or the parser ran out of memory,
         * which libpg_query reports the same way: only the former is plausible on a text the
         * server accepts, and the server answers it with the same error. */
        v->parse_error = true;
        pg_query_free_parse_result(r);
        return true;
    }
    json_error_t err;
    json_t *tree = r.parse_tree != NULL ? json_loads(r.parse_tree, 0, &err) : NULL;
    pg_query_free_parse_result(r);
    if (tree == NULL) {
        pin(v, PIN_UNKNOWN, "a statement wedpool could not analyse (out of memory)", NULL);
        return false;
    }
    walk(v, tree, 0);
    json_decref(tree);
    return true;
}
