/* prepared.c — named prepared statements across server connections (see prepared.h).
 *
 * PostgreSQL's rules followed here (protocol.sgml "Extended Query", postgres.c):
 * - Parse of a name that exists fails with 42P05; Close of a name that does not exist succeeds.
 * - Bind/Describe of an unknown name fail with 26000.
 * - After an error the server skips every message up to Sync, so a request skipped there did
 *   nothing: its bookkeeping is undone (ps_entry_done with skipped).
 * - Statement names are per session: the server-side names are wedpool's, and a client name that
 *   looks like one ("wp_...") but is not in the client's own map never reaches the server as is. */
#include "prepared.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct ps_counters ps_stats;

/* ---------------------------------------------------------------- the statement registry */

struct ps_stmt {
    struct ps_stmt *next; /* registry chain */
    uint64_t hash;        /* the number in its name (the body's hash, moved on by collisions) */
    uint32_t refs;        /* client maps, server sets and records in flight */
    uint32_t rest_len;
    uint16_t pins, releases; /* struct ps_flags: what its text creates and releases, as classified */
    bool resets;             /* its text is DISCARD ALL or DEALLOCATE ALL */
    char name[PS_NAME_LEN];
    uint8_t rest[];       /* Parse body after the name: query, NUL, int16 count, int32 OIDs */
};

static bool text_resets(const uint8_t *p, uint32_t n);

static struct {
    struct ps_stmt **b;
    uint32_t nb, n;
} reg;

uint64_t ps_hash(const uint8_t *p, uint32_t len)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a, then a final mix */
    for (uint32_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static bool reg_grow(void)
{
    uint32_t nb = reg.nb == 0 ? 64 : reg.nb * 2;
    struct ps_stmt **b = calloc(nb, sizeof(*b));
    if (b == NULL)
        return false;
    for (uint32_t i = 0; i < reg.nb; i++)
        for (struct ps_stmt *s = reg.b[i], *nx; s != NULL; s = nx) {
            nx = s->next;
            s->next = b[s->hash & (nb - 1)];
            b[s->hash & (nb - 1)] = s;
        }
    free(reg.b);
    reg.b = b;
    reg.nb = nb;
    return true;
}

static struct ps_stmt *reg_find(uint64_t h)
{
    if (reg.nb == 0)
        return NULL;
    for (struct ps_stmt *s = reg.b[h & (reg.nb - 1)]; s != NULL; s = s->next)
        if (s->hash == h)
            return s;
    return NULL;
}

/* The statement with this body, a reference taken; NULL on allocation failure. */
static struct ps_stmt *reg_get(const uint8_t *rest, uint32_t len)
{
    uint64_t h = ps_hash(rest, len);
    struct ps_stmt *s;
    while ((s = reg_find(h)) != NULL) {
        if (s->rest_len == len && memcmp(s->rest, rest, len) == 0) {
            s->refs++;
            return s;
        }
        h++; /* a collision: the next free number (names stay unique among live statements) */
    }
    if ((reg.n >= reg.nb || reg.nb == 0) && !reg_grow())
        return NULL;
    s = malloc(sizeof(*s) + len);
    if (s == NULL)
        return NULL;
    static const char hex[] = "0123456789abcdef";
    memcpy(s->name, PS_PREFIX, PS_PREFIX_LEN);
    for (int i = 0; i < 16; i++)
        s->name[PS_PREFIX_LEN + i] = hex[(h >> (60 - 4 * i)) & 0xf];
    s->name[PS_PREFIX_LEN + 16] = '\0';
    s->hash = h;
    s->refs = 1;
    s->rest_len = len;
    s->pins = s->releases = 0;
    const uint8_t *z = memchr(rest, 0, len);
    s->resets = z != NULL && text_resets(rest, (uint32_t)(z - rest));
    memcpy(s->rest, rest, len);
    s->next = reg.b[h & (reg.nb - 1)];
    reg.b[h & (reg.nb - 1)] = s;
    reg.n++;
    return s;
}

static void stmt_ref(struct ps_stmt *s)
{
    s->refs++;
}

static void stmt_unref(struct ps_stmt *s)
{
    if (s == NULL || --s->refs > 0)
        return;
    struct ps_stmt **pp = &reg.b[s->hash & (reg.nb - 1)];
    while (*pp != s)
        pp = &(*pp)->next;
    *pp = s->next;
    reg.n--;
    free(s);
}

uint32_t ps_registry_count(void)
{
    return reg.n;
}

/* ---------------------------------------------------------------- a client's names */

struct cent {
    struct cent *next;
    struct ps_stmt *st;
    uint32_t pending;  /* its Parse is not answered yet */
    uint32_t batch;    /* ... and was sent in this batch (ps_client.syncs then) */
    uint32_t len;
    char name[]; /* NUL-terminated */
};

struct ps_client {
    struct cent **b;
    uint32_t nb, n;
    uint32_t syncs;         /* Syncs sent: numbers the batches */
    uint32_t closing;       /* Close requests not answered yet */
    uint32_t closing_batch; /* the batch of the last of them */
};

void ps_client_sync(struct ps_client *cl)
{
    if (cl != NULL)
        cl->syncs++;
}

static uint32_t name_hash(const char *s, size_t len)
{
    return (uint32_t)ps_hash((const uint8_t *)s, (uint32_t)len);
}

static struct cent **cmap_slot(const struct ps_client *cl, const char *name, size_t len)
{
    if (cl == NULL || cl->nb == 0)
        return NULL;
    struct cent **pp = &cl->b[name_hash(name, len) & (cl->nb - 1)];
    while (*pp != NULL && ((*pp)->len != len || memcmp((*pp)->name, name, len) != 0))
        pp = &(*pp)->next;
    return pp;
}

static struct ps_stmt *cmap_get(const struct ps_client *cl, const char *name, size_t len)
{
    struct cent **pp = cmap_slot(cl, name, len);
    return pp != NULL && *pp != NULL ? (*pp)->st : NULL;
}

const char *ps_client_lookup(const struct ps_client *cl, const char *name)
{
    struct ps_stmt *s = cmap_get(cl, name, strlen(name));
    return s != NULL ? s->name : NULL;
}

/* Removes the name; returns its statement (the caller owns the reference) or NULL. */
static struct ps_stmt *cmap_take(struct ps_client *cl, const char *name, size_t len)
{
    struct cent **pp = cmap_slot(cl, name, len);
    if (pp == NULL || *pp == NULL)
        return NULL;
    struct cent *e = *pp;
    struct ps_stmt *s = e->st;
    *pp = e->next;
    free(e);
    cl->n--;
    return s;
}

/* Adds name -> st (a new reference). The name must not be there. */
static bool cmap_put(struct ps_client **clp, const char *name, size_t len, struct ps_stmt *st)
{
    struct ps_client *cl = *clp;
    if (cl == NULL) {
        cl = calloc(1, sizeof(*cl));
        if (cl == NULL)
            return false;
        *clp = cl;
    }
    if (cl->n >= cl->nb) {
        uint32_t nb = cl->nb == 0 ? 16 : cl->nb * 2;
        struct cent **b = calloc(nb, sizeof(*b));
        if (b == NULL)
            return false;
        for (uint32_t i = 0; i < cl->nb; i++)
            for (struct cent *e = cl->b[i], *nx; e != NULL; e = nx) {
                nx = e->next;
                uint32_t k = name_hash(e->name, e->len) & (nb - 1);
                e->next = b[k];
                b[k] = e;
            }
        free(cl->b);
        cl->b = b;
        cl->nb = nb;
    }
    struct cent *e = malloc(sizeof(*e) + len + 1);
    if (e == NULL)
        return false;
    e->st = st;
    stmt_ref(st);
    e->pending = 0;
    e->batch = 0;
    e->len = (uint32_t)len;
    memcpy(e->name, name, len);
    e->name[len] = '\0';
    uint32_t k = name_hash(name, len) & (cl->nb - 1);
    e->next = cl->b[k];
    cl->b[k] = e;
    cl->n++;
    return true;
}

static void cmap_clear(struct ps_client *cl)
{
    if (cl == NULL)
        return;
    for (uint32_t i = 0; i < cl->nb; i++)
        for (struct cent *e = cl->b[i], *nx; e != NULL; e = nx) {
            nx = e->next;
            stmt_unref(e->st);
            free(e);
        }
    memset(cl->b, 0, sizeof(*cl->b) * cl->nb);
    cl->n = 0;
}

void ps_client_free(struct ps_client *cl)
{
    if (cl == NULL)
        return;
    cmap_clear(cl);
    free(cl->b);
    free(cl);
}

uint32_t ps_client_count(const struct ps_client *cl)
{
    return cl == NULL ? 0 : cl->n;
}

/* ---------------------------------------------------------------- a server's statements */

struct sent {
    struct sent *hnext;
    struct sent *prev, *next; /* LRU: head most recent */
    struct ps_stmt *st;
};

enum rec_kind {
    REC_PARSE,    /* a client's Parse sent to the server: server and client additions */
    REC_SYNTH,    /* a client's Parse answered by wedpool: the client's addition */
    REC_INJECT,   /* wedpool's own Parse of a statement the server lacked: the server's addition */
    REC_EVICT,    /* wedpool's own Close: the server's removal */
    REC_CLOSE,    /* a client's Close answered by wedpool: the client's removal */
    REC_RESET,    /* DISCARD ALL / DEALLOCATE ALL / DEALLOCATE name: the server's set changed */
};

struct rec {
    uint8_t kind;
    struct ps_stmt *st;
    char *name; /* the client's name (REC_PARSE, REC_SYNTH, REC_CLOSE) */
};

struct ps_server {
    struct sent **b;
    uint32_t nb, n;
    struct sent *lru_head, *lru_tail;
    struct rec *recs; /* FIFO, one per EXP_TAG_PREPARED entry in the queue */
    uint32_t rhead, rn, rcap;
    struct rec *undo; /* records of failed or skipped requests, undone in reverse by ps_settle */
    uint32_t un, ucap;
    bool untrusted;
};

static struct ps_server *srv(struct ps_server **svp)
{
    if (*svp == NULL)
        *svp = calloc(1, sizeof(**svp));
    return *svp;
}

static struct sent **sset_slot(const struct ps_server *sv, const struct ps_stmt *st)
{
    if (sv == NULL || sv->nb == 0)
        return NULL;
    struct sent **pp = &sv->b[st->hash & (sv->nb - 1)];
    while (*pp != NULL && (*pp)->st != st)
        pp = &(*pp)->hnext;
    return pp;
}

static void lru_unlink(struct ps_server *sv, struct sent *e)
{
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        sv->lru_head = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    else
        sv->lru_tail = e->prev;
}

static void lru_push_head(struct ps_server *sv, struct sent *e)
{
    e->prev = NULL;
    e->next = sv->lru_head;
    if (sv->lru_head != NULL)
        sv->lru_head->prev = e;
    sv->lru_head = e;
    if (sv->lru_tail == NULL)
        sv->lru_tail = e;
}

/* Whether the server has st; if so it becomes the most recently used. */
static bool sset_touch(struct ps_server *sv, const struct ps_stmt *st)
{
    struct sent **pp = sset_slot(sv, st);
    if (pp == NULL || *pp == NULL)
        return false;
    lru_unlink(sv, *pp);
    lru_push_head(sv, *pp);
    return true;
}

bool ps_server_has_name(const struct ps_server *sv, const char *name)
{
    if (sv == NULL)
        return false;
    for (const struct sent *e = sv->lru_head; e != NULL; e = e->next)
        if (strcmp(e->st->name, name) == 0)
            return true;
    return false;
}

static bool sset_add(struct ps_server *sv, struct ps_stmt *st)
{
    if (sv->n >= sv->nb) {
        uint32_t nb = sv->nb == 0 ? 16 : sv->nb * 2;
        struct sent **b = calloc(nb, sizeof(*b));
        if (b == NULL)
            return false;
        for (uint32_t i = 0; i < sv->nb; i++)
            for (struct sent *e = sv->b[i], *nx; e != NULL; e = nx) {
                nx = e->hnext;
                e->hnext = b[e->st->hash & (nb - 1)];
                b[e->st->hash & (nb - 1)] = e;
            }
        free(sv->b);
        sv->b = b;
        sv->nb = nb;
    }
    struct sent *e = malloc(sizeof(*e));
    if (e == NULL)
        return false;
    e->st = st;
    stmt_ref(st);
    uint32_t k = st->hash & (sv->nb - 1);
    e->hnext = sv->b[k];
    sv->b[k] = e;
    lru_push_head(sv, e);
    sv->n++;
    return true;
}

static void sset_remove(struct ps_server *sv, const struct ps_stmt *st)
{
    struct sent **pp = sset_slot(sv, st);
    if (pp == NULL || *pp == NULL)
        return;
    struct sent *e = *pp;
    *pp = e->hnext;
    lru_unlink(sv, e);
    stmt_unref(e->st);
    free(e);
    sv->n--;
}

static void sset_clear(struct ps_server *sv)
{
    while (sv != NULL && sv->lru_head != NULL)
        sset_remove(sv, sv->lru_head->st);
}

static void rec_release(struct rec *r)
{
    stmt_unref(r->st);
    free(r->name);
}

void ps_server_free(struct ps_server *sv)
{
    if (sv == NULL)
        return;
    sset_clear(sv);
    for (uint32_t i = 0; i < sv->rn; i++)
        rec_release(&sv->recs[(sv->rhead + i) % sv->rcap]);
    for (uint32_t i = 0; i < sv->un; i++)
        rec_release(&sv->undo[i]);
    free(sv->undo);
    free(sv->recs);
    free(sv->b);
    free(sv);
}

uint32_t ps_server_count(const struct ps_server *sv)
{
    return sv == NULL ? 0 : sv->n;
}

/* Queues a record (taking a reference to st and a copy of the name). */
static bool rec_push(struct ps_server *sv, enum rec_kind kind, struct ps_stmt *st, const char *name, size_t len)
{
    if (sv->rn == sv->rcap) {
        uint32_t cap = sv->rcap == 0 ? 8 : sv->rcap * 2;
        struct rec *r = malloc(sizeof(*r) * cap);
        if (r == NULL)
            return false;
        for (uint32_t i = 0; i < sv->rn; i++)
            r[i] = sv->recs[(sv->rhead + i) % sv->rcap];
        free(sv->recs);
        sv->recs = r;
        sv->rcap = cap;
        sv->rhead = 0;
    }
    struct rec *r = &sv->recs[(sv->rhead + sv->rn) % sv->rcap];
    r->kind = (uint8_t)kind;
    r->st = st;
    r->name = NULL;
    if (name != NULL) {
        r->name = malloc(len + 1);
        if (r->name == NULL)
            return false;
        memcpy(r->name, name, len);
        r->name[len] = '\0';
    }
    if (st != NULL)
        stmt_ref(st);
    sv->rn++;
    return true;
}

/* A request and its record go together: the entry only if the record is there. */
static bool push_tagged(struct ps_ctx *x, enum exp_kind kind, bool drop, bool synth, enum rec_kind rk,
                        struct ps_stmt *st, const char *name, size_t len)
{
    struct ps_server *sv = srv(x->server);
    if (sv == NULL || !rec_push(sv, rk, st, name, len))
        return false;
    bool ok = synth ? expq_push_synth(x->q, kind, EXP_TAG_PREPARED, 0)
                    : expq_push(x->q, kind, EXP_TAG_PREPARED, drop, 0);
    if (!ok) { /* take the record back */
        sv->rn--;
        rec_release(&sv->recs[(sv->rhead + sv->rn) % sv->rcap]);
    }
    return ok;
}

/* Applies the outcome of one request to the maps. Returns false when the server's set can no longer
 * be trusted. */
static bool rec_apply(struct ps_server *sv, struct ps_client *cl, const struct rec *r, bool ok)
{
    size_t len = r->name != NULL ? strlen(r->name) : 0;
    switch (r->kind) {
    case REC_PARSE:
    case REC_SYNTH:
        if (ok && cl != NULL) {
            struct cent **pp = cmap_slot(cl, r->name, len);
            if (pp != NULL && *pp != NULL && (*pp)->st == r->st && (*pp)->pending > 0)
                (*pp)->pending--;
        }
        if (!ok) {
            if (r->kind == REC_PARSE)
                sset_remove(sv, r->st);
            if (cl != NULL && cmap_get(cl, r->name, len) == r->st)
                stmt_unref(cmap_take(cl, r->name, len));
        }
        return true;
    case REC_INJECT:
        if (!ok)
            sset_remove(sv, r->st);
        return true;
    case REC_EVICT:
        return ok || sset_touch(sv, r->st) || sset_add(sv, r->st);
    case REC_CLOSE:
        if (cl != NULL && cl->closing > 0)
            cl->closing--;
        /* skipped: the statement lives on, as it would have in PostgreSQL */
        if (!ok && cl != NULL && cmap_get(cl, r->name, len) == NULL) {
            struct ps_client *c = cl;
            return cmap_put(&c, r->name, len, r->st);
        }
        return true;
    case REC_RESET:
        return ok;
    default:
        return false;
    }
}

bool ps_entry_done(struct ps_server *sv, struct ps_client *cl, const struct exp_entry *e, bool skipped)
{
    if (sv == NULL || sv->rn == 0)
        return false; /* an entry without its record: wedpool lost track */
    struct rec r = sv->recs[sv->rhead];
    sv->rhead = (sv->rhead + 1) % sv->rcap;
    sv->rn--;
    if (!e->failed && !skipped) {
        bool trusted = rec_apply(sv, cl, &r, true);
        rec_release(&r);
        return trusted;
    }
    /* Undone later, in reverse: a failure and the requests skipped after it were applied in order,
     * and only the reverse order restores what was there (a Parse after an eviction of the same
     * statement, ...). */
    if (sv->un == sv->ucap) {
        uint32_t cap = sv->ucap == 0 ? 8 : sv->ucap * 2;
        struct rec *u = realloc(sv->undo, sizeof(*u) * cap);
        if (u == NULL) {
            rec_release(&r);
            return false;
        }
        sv->undo = u;
        sv->ucap = cap;
    }
    sv->undo[sv->un++] = r;
    return true;
}

bool ps_settle(struct ps_server *sv, struct ps_client *cl)
{
    if (sv == NULL || sv->un == 0)
        return true;
    bool trusted = true;
    while (sv->un > 0) {
        struct rec *r = &sv->undo[--sv->un];
        if (!rec_apply(sv, cl, r, false))
            trusted = false;
        rec_release(r);
    }
    return trusted;
}

/* ---------------------------------------------------------------- the rewriting */

static bool has_prefix(const char *name, size_t len)
{
    return len >= PS_PREFIX_LEN && memcmp(name, PS_PREFIX, PS_PREFIX_LEN) == 0;
}

/* Length of the NUL-terminated string at p[0, avail), or -1 if no NUL. */
static long str_len(const uint8_t *p, uint32_t avail)
{
    const uint8_t *z = memchr(p, 0, avail);
    return z == NULL ? -1 : (long)(z - p);
}

/* Skips leading white space and "--" / C-style comments of a query. */
static uint32_t skip_space(const uint8_t *p, uint32_t n, uint32_t i)
{
    for (;;) {
        while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r' || p[i] == '\f'))
            i++;
        if (i + 1 < n && p[i] == '-' && p[i + 1] == '-') {
            while (i < n && p[i] != '\n')
                i++;
            continue;
        }
        if (i + 1 < n && p[i] == '/' && p[i + 1] == '*') {
            i += 2;
            while (i + 1 < n && !(p[i] == '*' && p[i + 1] == '/'))
                i++;
            i = i + 2 <= n ? i + 2 : n;
            continue;
        }
        return i;
    }
}

static bool keyword(const uint8_t *p, uint32_t n, uint32_t *i, const char *kw)
{
    size_t k = strlen(kw);
    if (*i + k > n || strncasecmp((const char *)p + *i, kw, k) != 0)
        return false;
    if (*i + k < n) {
        uint8_t c = p[*i + k];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c >= 0x80)
            return false;
    }
    *i += (uint32_t)k;
    return true;
}

/* DISCARD ALL or DEALLOCATE [PREPARE] ALL, alone (a ';' and blanks may follow). */
static bool text_resets(const uint8_t *p, uint32_t n)
{
    uint32_t i = skip_space(p, n, 0);
    if (i >= n || (p[i] | 0x20) != 'd')
        return false;
    if (keyword(p, n, &i, "discard")) {
        i = skip_space(p, n, i);
        if (!keyword(p, n, &i, "all"))
            return false;
    } else if (keyword(p, n, &i, "deallocate")) {
        i = skip_space(p, n, i);
        uint32_t j = i;
        if (keyword(p, n, &j, "prepare"))
            i = skip_space(p, n, j);
        if (!keyword(p, n, &i, "all"))
            return false;
    } else {
        return false;
    }
    i = skip_space(p, n, i);
    if (i < n && p[i] == ';')
        i = skip_space(p, n, i + 1);
    return i == n;
}

bool ps_parse_resets(const struct msg *m)
{
    if (m->type != 'P' || !m->whole)
        return false;
    uint32_t blen = msg_body_len(m);
    long nl = str_len(m->body, blen);
    if (nl < 0)
        return false;
    const uint8_t *q = m->body + nl + 1;
    uint32_t avail = blen - (uint32_t)nl - 1;
    uint32_t i = skip_space(q, avail, 0);
    if (i >= avail || (q[i] | 0x20) != 'd')
        return false; /* the common case: one look at the first keyword */
    long ql = str_len(q, avail);
    return ql > 0 && text_resets(q, (uint32_t)ql);
}

bool ps_bind_unnamed(const struct msg *m)
{
    long pl = str_len(m->body, m->have);
    return m->type == 'B' && pl >= 0 && (uint32_t)pl + 1 < m->have && m->body[pl + 1] == '\0';
}

bool ps_reset_execute(struct ps_ctx *x)
{
    struct ps_server *sv = srv(x->server);
    if (sv == NULL)
        return false;
    cmap_clear(*x->client);
    sset_clear(sv);
    return rec_push(sv, REC_RESET, NULL, NULL, 0);
}

enum ps_verdict ps_check(const struct msg *m, uint32_t buf_size)
{
    const uint8_t *b = m->body;
    bool fits = m->total <= buf_size;
    switch (m->type) {
    case 'P':
        if (m->have == 0)
            return m->whole ? PS_PASS : PS_NEED_MORE;
        if (b[0] == '\0')
            return PS_PASS; /* the unnamed statement stays the server's own business */
        return m->whole || !fits ? PS_REWRITE : PS_NEED_MORE;
    case 'B': {
        long pl = str_len(b, m->have);
        long sl = pl < 0 ? -1 : str_len(b + pl + 1, m->have - (uint32_t)pl - 1);
        if (sl < 0)
            return m->whole || MSG_HEADER + m->have >= buf_size ? PS_PASS : PS_NEED_MORE;
        return sl == 0 ? PS_PASS : PS_REWRITE;
    }
    case 'D':
    case 'C':
        if (m->have >= 2 && (b[0] != 'S' || b[1] == '\0'))
            return PS_PASS;
        if (!m->whole)
            return fits ? PS_NEED_MORE : PS_PASS;
        return m->have >= 2 ? PS_REWRITE : PS_PASS;
    case 'Q': {
        /* the first keyword: only DEALLOCATE and DISCARD are looked at further */
        uint32_t i = skip_space(b, m->have, 0);
        if (i < m->have && (b[i] | 0x20) != 'd')
            return PS_PASS;
        if (!m->whole)
            return fits ? PS_NEED_MORE : PS_PASS;
        if (keyword(b, m->have, &i, "deallocate") || keyword(b, m->have, &i, "discard"))
            return PS_REWRITE;
        return PS_PASS;
    }
    default:
        return PS_PASS;
    }
}

/* Writes a Parse of st under its server-side name. */
static void put_parse(struct pbuf *out, const struct ps_stmt *st)
{
    size_t mk = pbuf_begin_msg(out, 'P');
    pbuf_put_str(out, st->name);
    pbuf_put(out, st->rest, st->rest_len);
    pbuf_end_msg(out, mk);
}

/* Keeps the server under its bound: Close the least recently used statements. */
static bool make_room(struct ps_ctx *x)
{
    struct ps_server *sv = srv(x->server);
    if (sv == NULL)
        return false;
    while (sv->n > 0 && sv->n >= x->server_max) {
        struct ps_stmt *victim = sv->lru_tail->st;
        size_t mk = pbuf_begin_msg(x->out, 'C');
        pbuf_put_u8(x->out, 'S');
        pbuf_put_str(x->out, victim->name);
        pbuf_end_msg(x->out, mk);
        if (!push_tagged(x, EXP_CLOSE, true, false, REC_EVICT, victim, NULL, 0))
            return false;
        sset_remove(sv, victim);
        ps_stats.evictions++;
    }
    return true;
}

/* Makes sure the server has st before a message that uses it: a Parse of wedpool's own (its
 * ParseComplete dropped; an error it causes is the client's to see, see relay.c). */
static bool ensure_on_server(struct ps_ctx *x, struct ps_stmt *st, bool *injected)
{
    *injected = false;
    if (sset_touch(*x->server, st)) {
        ps_stats.hits++;
        return true;
    }
    if (!make_room(x))
        return false;
    put_parse(x->out, st);
    if (!push_tagged(x, EXP_PARSE, true, false, REC_INJECT, st, NULL, 0) || !sset_add(*x->server, st))
        return false;
    ps_stats.server_parses++;
    *injected = true;
    return true;
}

static enum ps_result rewrite_parse(struct ps_ctx *x, const struct msg *m, uint32_t *consumed)
{
    if (!m->whole)
        return PS_TOO_LARGE;
    uint32_t blen = msg_body_len(m);
    long nl = str_len(m->body, blen);
    if (nl <= 0)
        return PS_UNCHANGED; /* malformed: PostgreSQL says so */
    const char *name = (const char *)m->body;
    const uint8_t *rest = m->body + nl + 1;
    uint32_t rest_len = blen - (uint32_t)nl - 1;
    struct ps_stmt *old = cmap_get(*x->client, name, (size_t)nl);
    bool injected;
    struct ps_client *cl = *x->client;
    if (cl != NULL) {
        /* Within one batch the order decides (a Parse of a name in use fails, or is skipped after
         * an error). Across a Sync, whether the name exists depends on how the earlier batch went:
         * wait for its answers. */
        struct cent **pp = cmap_slot(cl, name, (size_t)nl);
        if (pp != NULL && *pp != NULL && (*pp)->pending > 0 && (*pp)->batch != cl->syncs)
            return PS_WAIT;
        if (old == NULL && cl->closing > 0 && cl->closing_batch != cl->syncs)
            return PS_WAIT;
    }
    ps_stats.client_parses++;
    if (old != NULL) {
        /* PostgreSQL refuses a name in use (42P05): let the server say so, on the statement that
         * holds the name. */
        if (!ensure_on_server(x, old, &injected))
            return PS_OOM;
        size_t mk = pbuf_begin_msg(x->out, 'P');
        pbuf_put_str(x->out, old->name);
        pbuf_put(x->out, rest, rest_len);
        pbuf_end_msg(x->out, mk);
        if (!expq_push(x->q, EXP_PARSE, EXP_TAG_CLIENT, false, 0))
            return PS_OOM;
        *consumed = m->total;
        return PS_OK;
    }
    if (ps_client_count(*x->client) >= x->client_max)
        return PS_TOO_MANY;
    struct ps_stmt *st = reg_get(rest, rest_len);
    if (st == NULL || srv(x->server) == NULL || !cmap_put(x->client, name, (size_t)nl, st)) {
        stmt_unref(st);
        return PS_OOM;
    }
    if (x->flags != NULL) { /* the same text always classifies the same: the union is the verdict */
        st->pins |= x->flags->parse_pins;
        st->releases |= x->flags->parse_releases;
    }
    bool ok;
    if (sset_touch(*x->server, st)) {
        ps_stats.hits++;
        ok = push_tagged(x, EXP_PARSE, false, true, REC_SYNTH, st, name, (size_t)nl);
    } else {
        ok = make_room(x);
        if (ok) {
            put_parse(x->out, st);
            ok = push_tagged(x, EXP_PARSE, false, false, REC_PARSE, st, name, (size_t)nl) && sset_add(*x->server, st);
            ps_stats.server_parses++;
        }
    }
    struct cent **pp = cmap_slot(*x->client, name, (size_t)nl);
    (*pp)->pending = 1;
    (*pp)->batch = (*x->client)->syncs;
    stmt_unref(st); /* the map, the set and the record hold theirs */
    *consumed = m->total;
    return ok ? PS_OK : PS_OOM;
}

/* The name to send for a client's name in Bind/Describe; NULL on allocation failure. *alt receives
 * a name wedpool never creates, for an unknown name that looks like one of wedpool's. */
static const char *server_name_for(struct ps_ctx *x, const char *name, size_t len, char *alt, size_t altsz,
                                   bool *oom)
{
    *oom = false;
    struct ps_stmt *st = cmap_get(*x->client, name, len);
    if (st != NULL) {
        bool injected;
        if (!ensure_on_server(x, st, &injected)) {
            *oom = true;
            return NULL;
        }
        if (x->flags != NULL) {
            x->flags->bound_pins = st->pins;
            x->flags->bound_releases = st->releases;
            x->flags->bound_resets = st->resets;
        }
        return st->name;
    }
    if (!has_prefix(name, len) || len + 2 > altsz)
        return NULL; /* unknown: PostgreSQL answers 26000 naming it */
    alt[0] = '!';
    memcpy(alt + 1, name, len);
    alt[len + 1] = '\0';
    return alt;
}

static enum ps_result rewrite_bind(struct ps_ctx *x, const struct msg *m, uint32_t *consumed)
{
    long pl = str_len(m->body, m->have);
    const char *name = (const char *)m->body + pl + 1;
    size_t len = strlen(name);
    char alt[80];
    bool oom;
    const char *sname = server_name_for(x, name, len, alt, sizeof(alt), &oom);
    if (oom)
        return PS_OOM;
    if (sname == NULL)
        return PS_UNCHANGED;
    if (x->flags != NULL)
        x->flags->bound = true;
    uint32_t old_prefix = MSG_HEADER + (uint32_t)pl + 1 + (uint32_t)len + 1;
    size_t slen = strlen(sname);
    /* header and names rewritten; parameters and result formats follow unchanged (they stream) */
    pbuf_put_u8(x->out, 'B');
    pbuf_put_u32(x->out, (uint32_t)(m->total - 1 - len + slen));
    pbuf_put(x->out, m->body, (size_t)pl + 1);
    pbuf_put(x->out, sname, slen + 1);
    if (!expq_push(x->q, EXP_BIND, EXP_TAG_CLIENT, false, 0))
        return PS_OOM;
    *consumed = old_prefix;
    return PS_OK;
}

static enum ps_result rewrite_describe_close(struct ps_ctx *x, const struct msg *m, uint32_t *consumed)
{
    uint32_t blen = msg_body_len(m);
    long nl = str_len(m->body + 1, blen - 1);
    if (nl <= 0 || (uint32_t)nl + 2 != blen)
        return PS_UNCHANGED;
    const char *name = (const char *)m->body + 1;
    if (m->type == 'C') {
        /* Close is answered by wedpool: the statement stays prepared on the server for others. */
        struct ps_stmt *st = cmap_take(*x->client, name, (size_t)nl);
        bool ok = st != NULL ? push_tagged(x, EXP_CLOSE, false, true, REC_CLOSE, st, name, (size_t)nl)
                             : expq_push_synth(x->q, EXP_CLOSE, EXP_TAG_CLIENT, 0);
        if (ok && st != NULL) {
            (*x->client)->closing++;
            (*x->client)->closing_batch = (*x->client)->syncs;
        }
        stmt_unref(st);
        *consumed = m->total;
        return ok ? PS_OK : PS_OOM;
    }
    char alt[80];
    bool oom;
    const char *sname = server_name_for(x, name, (size_t)nl, alt, sizeof(alt), &oom);
    if (oom)
        return PS_OOM;
    if (sname == NULL)
        return PS_UNCHANGED;
    size_t mk = pbuf_begin_msg(x->out, 'D');
    pbuf_put_u8(x->out, 'S');
    pbuf_put_str(x->out, sname);
    pbuf_end_msg(x->out, mk);
    if (!expq_push(x->q, EXP_DESCRIBE, EXP_TAG_CLIENT, false, 0))
        return PS_OOM;
    *consumed = m->total;
    return PS_OK;
}

/* An SQL identifier at p[*i]: unquoted (folded to lower case) or "quoted" ("" is a quote). */
static bool sql_ident(const uint8_t *p, uint32_t n, uint32_t *i, char *out, size_t outsz)
{
    size_t k = 0;
    if (*i < n && p[*i] == '"') {
        uint32_t j = *i + 1;
        for (;;) {
            if (j >= n)
                return false;
            if (p[j] == '"') {
                if (j + 1 < n && p[j + 1] == '"')
                    j++;
                else
                    break;
            }
            if (k + 1 >= outsz)
                return false;
            out[k++] = (char)p[j++];
        }
        *i = j + 1;
    } else {
        uint32_t j = *i;
        while (j < n && ((p[j] >= 'a' && p[j] <= 'z') || (p[j] >= 'A' && p[j] <= 'Z') || p[j] == '_' ||
                         (p[j] >= '0' && p[j] <= '9') || p[j] == '$' || p[j] >= 0x80)) {
            if (k + 1 >= outsz)
                return false;
            uint8_t c = p[j++];
            out[k++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        if (k == 0)
            return false;
        *i = j;
    }
    out[k] = '\0';
    return true;
}

/* DISCARD ALL, DEALLOCATE [PREPARE] ALL, DEALLOCATE [PREPARE] name (a single statement). */
static enum ps_result rewrite_query(struct ps_ctx *x, const struct msg *m, uint32_t *consumed)
{
    const uint8_t *p = m->body;
    uint32_t n = msg_body_len(m) - 1; /* the text, without its NUL */
    if (p[n] != '\0')
        return PS_UNCHANGED;
    uint32_t i = skip_space(p, n, 0);
    char name[128];
    bool all = text_resets(p, n);
    if (!all) {
        if (!keyword(p, n, &i, "deallocate"))
            return PS_UNCHANGED;
        i = skip_space(p, n, i);
        uint32_t j = i;
        if (keyword(p, n, &j, "prepare"))
            i = skip_space(p, n, j);
        if (!sql_ident(p, n, &i, name, sizeof(name)))
            return PS_UNCHANGED;
        i = skip_space(p, n, i);
        if (i < n && p[i] == ';')
            i = skip_space(p, n, i + 1);
        if (i != n)
            return PS_UNCHANGED; /* more statements follow: not judged here */
    }
    if (all) {
        /* The server loses every prepared statement, the client its names. */
        cmap_clear(*x->client);
        sset_clear(*x->server);
        if (!push_tagged(x, EXP_QUERY, false, false, REC_RESET, NULL, NULL, 0))
            return PS_OOM;
        *consumed = 0;
        return PS_OK;
    }
    size_t len = strlen(name);
    struct ps_stmt *st = cmap_get(*x->client, name, len);
    char alt[sizeof(name) + 1];
    const char *sname;
    if (st != NULL) {
        bool injected;
        if (!ensure_on_server(x, st, &injected))
            return PS_OOM;
        if (injected) { /* a Sync of wedpool's own ends the Parse's batch before the Query */
            size_t mk = pbuf_begin_msg(x->out, 'S');
            pbuf_end_msg(x->out, mk);
            if (!expq_push(x->q, EXP_SYNC, EXP_TAG_INTERNAL, true, 0))
                return PS_OOM;
        }
        sname = st->name;
    } else if (has_prefix(name, len)) {
        alt[0] = '!'; /* looks like one of wedpool's names: never reaches them */
        memcpy(alt + 1, name, len + 1);
        sname = alt;
    } else {
        return PS_UNCHANGED;
    }
    size_t mk = pbuf_begin_msg(x->out, 'Q');
    pbuf_put(x->out, "DEALLOCATE \"", 12);
    for (const char *q = sname; *q != '\0'; q++) {
        if (*q == '"')
            pbuf_put_u8(x->out, '"');
        pbuf_put_u8(x->out, (uint8_t)*q);
    }
    pbuf_put_str(x->out, "\"");
    pbuf_end_msg(x->out, mk);
    if (st != NULL) {
        struct ps_stmt *keep = cmap_take(*x->client, name, len);
        bool ok = push_tagged(x, EXP_QUERY, false, false, REC_RESET, NULL, NULL, 0);
        sset_remove(*x->server, keep);
        stmt_unref(keep);
        if (!ok)
            return PS_OOM;
    } else if (!expq_push(x->q, EXP_QUERY, EXP_TAG_CLIENT, false, 0)) {
        return PS_OOM;
    }
    *consumed = m->total;
    return PS_OK;
}

enum ps_result ps_rewrite(struct ps_ctx *x, const struct msg *m, uint32_t *consumed)
{
    *consumed = 0;
    if (srv(x->server) == NULL)
        return PS_OOM;
    enum ps_result r;
    switch (m->type) {
    case 'P':
        r = rewrite_parse(x, m, consumed);
        break;
    case 'B':
        r = rewrite_bind(x, m, consumed);
        break;
    case 'D':
    case 'C':
        r = rewrite_describe_close(x, m, consumed);
        break;
    case 'Q':
        r = rewrite_query(x, m, consumed);
        break;
    default:
        r = PS_UNCHANGED;
        break;
    }
    if (r == PS_OK && x->out->failed)
        return PS_OOM;
    return r;
}
