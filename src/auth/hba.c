/* hba.c — access rules in the pg_hba.conf format (the subset in hba.h): parsing and matching. The
 * lexical rules are PostgreSQL's: whitespace separates columns, commas separate the items of a
 * list, "double quotes" keep blanks, commas and '#' and make keywords plain names ("" is a literal
 * quote), '#' starts a comment. Messages use PostgreSQL's wording where it has one. */
#include "hba.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "readfile.h"

#define HBA_FILE_MAX (16 << 20) /* a larger file is a mistake, not a rule set */

/* One token of a line, de-quoted, and the column it belongs to. */
struct tok {
    const char *s;
    bool quoted;
    int col;
};

struct line {
    char *text;              /* the de-quoted tokens, each NUL-terminated */
    struct tok *toks;
    size_t ntoks, cap;
    int ncols;
};

struct parser {
    const char *path;
    int lineno;
    struct hba_rules *out;
    char *err;
    size_t errlen;
};

static bool fail(struct parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail(struct parser *ps, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(ps->err, ps->errlen, "%s:%d: %s", ps->path, ps->lineno, msg);
    return false;
}

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r';
}

/* Splits src[0..len) (no NUL, no newline) into tokens by column. */
static bool lex_line(struct parser *ps, const char *src, size_t len, struct line *ln)
{
    const char *p = src, *end = src + len;
    char *o = ln->text;
    for (;;) {
        while (p < end && is_blank(*p))
            p++;
        if (p == end || *p == '#')
            return true;
        bool comma;
        do { /* one column: a token, or a comma-separated list of them */
            if (ln->ntoks == ln->cap) {
                size_t cap = ln->cap != 0 ? ln->cap * 2 : 16;
                struct tok *t = realloc(ln->toks, cap * sizeof(*t));
                if (t == NULL)
                    return fail(ps, "out of memory");
                ln->toks = t;
                ln->cap = cap;
            }
            struct tok *t = &ln->toks[ln->ntoks];
            t->s = o;
            t->quoted = false;
            t->col = ln->ncols;
            comma = false;
            bool in_quote = false, was_quote = false;
            for (; p < end && (in_quote || !is_blank(*p)); p++) {
                char ch = *p;
                if (!in_quote && ch == '#')
                    break;
                if (!in_quote && ch == ',') {
                    comma = true;
                    p++;
                    break;
                }
                if (ch != '"' || was_quote)
                    *o++ = ch;
                was_quote = in_quote && ch == '"' ? !was_quote : false;
                if (ch == '"') {
                    in_quote = !in_quote;
                    t->quoted = true;
                }
            }
            *o++ = '\0';
            if (in_quote)
                return fail(ps, "unterminated quoted string");
            if (t->s[0] == '\0')
                return fail(ps, t->quoted ? "empty quoted name" : "empty item in a comma-separated list");
            ln->ntoks++;
            if (comma) {
                while (p < end && is_blank(*p))
                    p++;
                if (p == end || *p == '#')
                    return fail(ps, "list ends with a comma");
            }
        } while (comma);
        ln->ncols++;
    }
}

/* The tokens of column col: *first and the count. */
static size_t column(const struct line *ln, int col, size_t *first)
{
    size_t i = 0;
    while (i < ln->ntoks && ln->toks[i].col < col)
        i++;
    *first = i;
    size_t n = 0;
    while (i + n < ln->ntoks && ln->toks[i + n].col == col)
        n++;
    return n;
}

/* The single token of column col, NULL (after an error) if absent or a list. */
static const struct tok *single(struct parser *ps, const struct line *ln, int col, const char *what)
{
    size_t first, n = column(ln, col, &first);
    if (n == 0) {
        fail(ps, "end-of-line before %s specification", what);
        return NULL;
    }
    if (n > 1) {
        fail(ps, "multiple values specified for %s", what);
        return NULL;
    }
    return &ln->toks[first];
}

static bool is_kw(const struct tok *t, const char *kw)
{
    return !t->quoted && strcmp(t->s, kw) == 0;
}

/* The database (users=false) or user column into out->names. */
static bool parse_names(struct parser *ps, const struct line *ln, int col, bool users, size_t *first, size_t *n)
{
    const char *what = users ? "role" : "database";
    size_t t0, nt = column(ln, col, &t0);
    if (nt == 0)
        return fail(ps, "end-of-line before %s specification", what);
    struct hba_rules *r = ps->out;
    struct hba_name *names = realloc(r->names, (r->nnames + nt) * sizeof(*names));
    if (names == NULL)
        return fail(ps, "out of memory");
    r->names = names;
    *first = r->nnames;
    *n = nt;
    for (size_t i = 0; i < nt; i++) {
        const struct tok *t = &ln->toks[t0 + i];
        struct hba_name *nm = &r->names[r->nnames];
        memset(nm, 0, sizeof(*nm));
        nm->kind = HBA_NAME;
        if (is_kw(t, "all")) {
            nm->kind = HBA_ALL;
        } else if (!users && is_kw(t, "sameuser")) {
            nm->kind = HBA_SAMEUSER;
        } else if (!users && is_kw(t, "replication")) {
            nm->kind = HBA_REPLICATION; /* wedpool refuses replication connections: never matches */
        } else if (!users && (is_kw(t, "samerole") || is_kw(t, "samegroup"))) {
            return fail(ps, "\"%s\" (role membership) is not supported by wedpool", t->s);
        } else if (!t->quoted && t->s[0] == '@') {
            return fail(ps, "\"%s\": @file inclusion is not supported by wedpool", t->s);
        } else if (users && !t->quoted && t->s[0] == '+') {
            return fail(ps, "\"%s\": +group (role membership) is not supported by wedpool", t->s);
        } else if (strlen(t->s) >= HBA_NAME_MAX) {
            return fail(ps, "%s name \"%.40s...\" is longer than %d bytes", what, t->s, HBA_NAME_MAX - 1);
        } else {
            strcpy(nm->name, t->s);
        }
        r->nnames++;
    }
    return true;
}

static const char *const method_names[] = {"trust", "md5", "scram-sha-256", "cert", "reject"};

static bool parse_method(struct parser *ps, const struct tok *t, struct hba_rule *rule)
{
    for (size_t i = 0; i < sizeof(method_names) / sizeof(method_names[0]); i++) {
        if (strcmp(t->s, method_names[i]) == 0) {
            rule->method = (enum hba_method)i;
            return true;
        }
    }
    static const char *const pg_only[] = {"password", "peer", "ident", "gss", "sspi", "pam", "ldap", "radius", "bsd"};
    for (size_t i = 0; i < sizeof(pg_only) / sizeof(pg_only[0]); i++) {
        if (strcmp(t->s, pg_only[i]) == 0)
            return fail(ps, "authentication method \"%s\" is not supported by wedpool (trust, md5, scram-sha-256, "
                        "cert or reject)", t->s);
    }
    return fail(ps, "invalid authentication method \"%s\"", t->s);
}

/* Address columns of a host line, from column 3; *next is the column after them. */
static bool parse_address(struct parser *ps, const struct line *ln, struct hba_rule *rule, int *next)
{
    const struct tok *a = single(ps, ln, 3, "IP address");
    if (a == NULL)
        return false;
    *next = 4;
    if (is_kw(a, "all")) {
        rule->any_addr = true;
        return true;
    }
    if (is_kw(a, "samehost") || is_kw(a, "samenet"))
        return fail(ps, "address \"%s\" is not supported by wedpool: give a CIDR such as 10.0.0.0/8", a->s);
    if (strchr(a->s, '/') != NULL) {
        if (!cidr_parse(a->s, &rule->addr))
            return fail(ps, "invalid CIDR address \"%s\"", a->s);
        return true;
    }
    if (!cidr_parse(a->s, &rule->addr))
        return fail(ps, "invalid IP address \"%s\" (host names are not supported by wedpool: give a CIDR such as "
                    "10.0.0.0/8)", a->s);
    const struct tok *m = single(ps, ln, 4, "netmask");
    if (m == NULL)
        return false;
    if (!cidr_set_mask(&rule->addr, m->s))
        return fail(ps, "invalid IP mask \"%s\" for address \"%s\" (a contiguous mask of the same family, such as "
                    "255.255.255.0)", m->s, a->s);
    *next = 5;
    return true;
}

static bool parse_rule(struct parser *ps, const struct line *ln)
{
    struct hba_rule rule;
    memset(&rule, 0, sizeof(rule));
    rule.line = ps->lineno;
    const struct tok *t = single(ps, ln, 0, "connection type");
    if (t == NULL)
        return false;
    if (strcmp(t->s, "local") == 0)
        rule.type = HBA_LOCAL;
    else if (strcmp(t->s, "host") == 0)
        rule.type = HBA_HOST;
    else if (strcmp(t->s, "hostssl") == 0)
        rule.type = HBA_HOSTSSL;
    else if (strcmp(t->s, "hostnossl") == 0)
        rule.type = HBA_HOSTNOSSL;
    else if (strcmp(t->s, "hostgssenc") == 0 || strcmp(t->s, "hostnogssenc") == 0)
        return fail(ps, "connection type \"%s\" is not supported by wedpool (GSSAPI)", t->s);
    else
        return fail(ps, "invalid connection type \"%s\"", t->s);
    if (!parse_names(ps, ln, 1, false, &rule.db_first, &rule.db_n) ||
        !parse_names(ps, ln, 2, true, &rule.user_first, &rule.user_n))
        return false;
    int col = 3;
    if (rule.type != HBA_LOCAL && !parse_address(ps, ln, &rule, &col))
        return false;
    const struct tok *m = single(ps, ln, col, "authentication method");
    if (m == NULL || !parse_method(ps, m, &rule))
        return false;
    size_t first;
    if (column(ln, col + 1, &first) > 0) {
        const struct tok *o = &ln->toks[first];
        if (strchr(o->s, '=') != NULL)
            return fail(ps, "authentication option \"%s\" is not supported by wedpool", o->s);
        return fail(ps, "unexpected \"%s\" after the authentication method", o->s);
    }
    if (rule.method == HBA_CERT && rule.type != HBA_HOSTSSL)
        return fail(ps, "cert authentication is only supported on hostssl connections");
    struct hba_rules *r = ps->out;
    struct hba_rule *rules = realloc(r->rules, (r->nrules + 1) * sizeof(*rules));
    if (rules == NULL)
        return fail(ps, "out of memory");
    r->rules = rules;
    r->rules[r->nrules++] = rule;
    return true;
}

bool hba_parse(const char *text, size_t len, const char *path, struct hba_rules *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    struct parser ps = {.path = path, .out = out, .err = err, .errlen = errlen};
    /* every token is at most its source and a NUL; a line has fewer tokens than bytes */
    struct line ln = {.text = malloc(2 * len + 1)};
    bool ok = ln.text != NULL || fail(&ps, "out of memory");
    for (size_t pos = 0; ok && pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl != NULL ? (size_t)(nl - (text + pos)) : len - pos;
        ps.lineno++;
        ln.ntoks = 0;
        ln.ncols = 0;
        if (memchr(text + pos, '\0', n) != NULL)
            ok = fail(&ps, "contains a NUL byte");
        else
            ok = lex_line(&ps, text + pos, n, &ln) && (ln.ntoks == 0 || parse_rule(&ps, &ln));
        pos += n + 1;
    }
    if (ok && out->nrules == 0) {
        snprintf(err, errlen, "%s: no rules: every client would be refused", path);
        ok = false;
    }
    free(ln.text);
    free(ln.toks);
    if (!ok)
        hba_free(out);
    return ok;
}

bool hba_load(const char *path, struct hba_rules *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    size_t len;
    char *text = read_whole_file(path, HBA_FILE_MAX, &len, err, errlen);
    if (text == NULL)
        return false;
    bool ok = hba_parse(text, len, path, out, err, errlen);
    free(text);
    return ok;
}

void hba_free(struct hba_rules *r)
{
    free(r->rules);
    free(r->names);
    memset(r, 0, sizeof(*r));
}

static bool names_match(const struct hba_rules *r, size_t first, size_t n, const char *value, const char *user)
{
    for (size_t i = first; i < first + n; i++) {
        const struct hba_name *nm = &r->names[i];
        switch (nm->kind) {
        case HBA_ALL:
            return true;
        case HBA_SAMEUSER:
            if (strcmp(value, user) == 0)
                return true;
            break;
        case HBA_REPLICATION:
            break;
        case HBA_NAME:
            if (strcmp(nm->name, value) == 0)
                return true;
            break;
        }
    }
    return false;
}

static bool conn_matches(const struct hba_rule *rule, enum hba_conn conn, bool tls, const struct sockaddr *addr)
{
    switch (rule->type) {
    case HBA_LOCAL:
        return conn == HBA_CONN_LOCAL;
    case HBA_HOSTSSL:
        if (!tls)
            return false;
        break;
    case HBA_HOSTNOSSL:
        if (tls)
            return false;
        break;
    case HBA_HOST:
        break;
    }
    return conn == HBA_CONN_HOST && (rule->any_addr || cidr_contains(&rule->addr, addr));
}

int hba_match(const struct hba_rules *r, enum hba_conn conn, bool tls, const struct sockaddr *addr, const char *user,
              const char *database, int *line)
{
    for (size_t i = 0; i < r->nrules; i++) {
        const struct hba_rule *rule = &r->rules[i];
        if (conn_matches(rule, conn, tls, addr) &&
            names_match(r, rule->db_first, rule->db_n, database, user) &&
            names_match(r, rule->user_first, rule->user_n, user, user)) {
            if (line != NULL)
                *line = rule->line;
            return rule->method;
        }
    }
    if (line != NULL)
        *line = 0;
    return HBA_NO_MATCH;
}

const char *hba_method_name(int method)
{
    if (method >= 0 && (size_t)method < sizeof(method_names) / sizeof(method_names[0]))
        return method_names[method];
    return "no match";
}
