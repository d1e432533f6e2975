/* fuzz_prepared.c — random Parse/Bind/Describe/Close/Sync sequences from one client, through the
 * prepared-statement rewriting (prepared.c) and the expected-response queue (expect.c), onto three
 * simulated servers it switches between at idle boundaries (transaction mode). The oracle is a
 * model of a PostgreSQL session (named statements, 42P05/26000, errors skip to Sync): the response
 * types the client sees through wedpool must equal what the model answers the original messages. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expect.h"
#include "msg.h"
#include "prepared.h"

#define NAMES 8

/* A modelled PostgreSQL session: statement names (up to 40 bytes) -> text. */
struct pg {
    char name[64][48];
    char text[64][16];
    int n;
    bool skip;
};

static int pg_find(const struct pg *p, const char *name)
{
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->name[i], name) == 0)
            return i;
    return -1;
}

/* Processes one frontend message; appends the response types to out. */
static void pg_msg(struct pg *p, const struct msg *m, char *out, size_t *on)
{
    const char *b = (const char *)m->body;
    if (m->type == 'S') {
        p->skip = false;
        out[(*on)++] = 'Z';
        return;
    }
    if (p->skip)
        return;
    switch (m->type) {
    case 'P': {
        const char *text = b + strlen(b) + 1;
        if (strcmp(text, "bad") == 0 || (b[0] != '\0' && pg_find(p, b) >= 0) || p->n >= 64) {
            out[(*on)++] = 'E';
            p->skip = true;
            return;
        }
        if (b[0] != '\0') {
            strcpy(p->name[p->n], b);
            strcpy(p->text[p->n], text);
            p->n++;
        }
        out[(*on)++] = '1';
        return;
    }
    case 'B':
    case 'D': {
        const char *name = m->type == 'B' ? b + strlen(b) + 1 : b + 1;
        int i = pg_find(p, name);
        if (i < 0 || (m->type == 'B' && strcmp(p->text[i], "fail") == 0)) {
            out[(*on)++] = 'E';
            p->skip = true;
            return;
        }
        out[(*on)++] = m->type == 'B' ? '2' : 'n';
        return;
    }
    case 'C': {
        int i = pg_find(p, b + 1);
        if (i >= 0) {
            p->n--;
            memmove(p->name[i], p->name[i + 1], sizeof(p->name[0]) * (size_t)(p->n - i));
            memmove(p->text[i], p->text[i + 1], sizeof(p->text[0]) * (size_t)(p->n - i));
        }
        out[(*on)++] = '3';
        return;
    }
    default:
        __builtin_trap();
    }
}

struct srv {
    struct pg pg;
    struct ps_server *ps;
    struct expq q;
};

static struct ps_client *client_ps;
static char seen[4096];
static size_t nseen;
static struct srv *cur;

static void on_done(void *arg, const struct exp_entry *e, bool skipped)
{
    (void)arg;
    if (e->tag == EXP_TAG_PREPARED)
        ps_entry_done(cur->ps, client_ps, e, skipped);
}

static void drain_synth(void)
{
    uint8_t t;
    while ((t = expq_synth_head(&cur->q, on_done, NULL)) != 0)
        seen[nseen++] = (char)t;
}

/* The server answers a stream of messages; the answers go through the queue to the client. */
static void server_run(const uint8_t *p, size_t len)
{
    while (len > 0) {
        struct msg m;
        if (msg_next(p, len, 1u << 20, &m) != MSG_OK || !m.whole)
            __builtin_trap();
        char out[8];
        size_t on = 0;
        pg_msg(&cur->pg, &m, out, &on);
        for (size_t i = 0; i < on; i++) {
            drain_synth();
            const struct exp_entry *h = expq_head(&cur->q);
            bool own_parse_failed = out[i] == 'E' && h != NULL && h->drop && h->tag == EXP_TAG_PREPARED;
            bool ended;
            enum exp_verdict v = expq_server_msg(&cur->q, (uint8_t)out[i], 'I', on_done, NULL, &ended);
            ps_settle(cur->ps, client_ps);
            if (v == EXP_VIOLATION)
                __builtin_trap();
            if (v == EXP_FORWARD || own_parse_failed)
                seen[nseen++] = out[i];
        }
        drain_synth();
        p += m.total;
        len -= m.total;
    }
}

static size_t put_msg(uint8_t *w, char type, const uint8_t *body, size_t len)
{
    w[0] = (uint8_t)type;
    uint32_t n = (uint32_t)len + 4;
    w[1] = (uint8_t)(n >> 24);
    w[2] = (uint8_t)(n >> 16);
    w[3] = (uint8_t)(n >> 8);
    w[4] = (uint8_t)n;
    memcpy(w + 5, body, len);
    return len + 5;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[NAMES] = {"a", "b", "c", "wp_0000000000000000", "d", "e", "f", "g"};
    static const char *const texts[4] = {"SELECT 1", "SELECT 2", "bad", "fail"};
    struct srv servers[3];
    memset(servers, 0, sizeof(servers));
    for (int i = 0; i < 3; i++)
        expq_init(&servers[i].q);
    struct pg direct;
    memset(&direct, 0, sizeof(direct));
    char want[4096];
    size_t nwant = 0;
    nseen = 0;
    client_ps = NULL;
    cur = &servers[0];
    uint32_t max = size > 0 ? 1 + data[0] % 4 : 2;
    for (size_t i = 1; i < size && i < 400; i++) {
        uint8_t op = data[i] & 7, arg = data[i] >> 3;
        const char *name = names[arg % NAMES];
        uint8_t body[128], w[160];
        size_t n = 0;
        char type;
        switch (op) {
        case 0:
        case 1:
            type = 'P';
            strcpy((char *)body, name);
            n = strlen(name) + 1;
            strcpy((char *)body + n, texts[(arg / NAMES) % 4]);
            n += strlen(texts[(arg / NAMES) % 4]) + 1;
            body[n++] = 0;
            body[n++] = 0;
            break;
        case 2:
        case 3:
            type = 'B';
            body[n++] = 0;
            strcpy((char *)body + n, name);
            n += strlen(name) + 1;
            memset(body + n, 0, 6);
            n += 6;
            break;
        case 4:
        case 5:
            type = op == 4 ? 'D' : 'C';
            body[n++] = 'S';
            strcpy((char *)body + n, name);
            n += strlen(name) + 1;
            break;
        default:
            type = 'S';
            break;
        }
        size_t wl = put_msg(w, type, body, n);
        struct msg m;
        if (msg_next(w, wl, 1u << 20, &m) != MSG_OK)
            __builtin_trap();
        char out[8];
        size_t on = 0;
        pg_msg(&direct, &m, out, &on);
        memcpy(want + nwant, out, on);
        nwant += on;

        /* through wedpool */
        struct pbuf pb;
        pbuf_init(&pb);
        struct ps_ctx x = {&client_ps, &cur->ps, &cur->q, &pb, max, 1000, NULL};
        uint32_t consumed = 0;
        enum ps_result r = PS_UNCHANGED;
        if (ps_check(&m, 16384) == PS_REWRITE)
            r = ps_rewrite(&x, &m, &consumed);
        if (r == PS_WAIT || r == PS_OOM || r == PS_TOO_LARGE)
            __builtin_trap(); /* answers are processed eagerly here: nothing is ever pending */
        if (r == PS_TOO_MANY)
            break;
        if (r == PS_UNCHANGED) {
            bool oom;
            if (!expq_client_msg(&cur->q, (uint8_t)type, &oom))
                __builtin_trap();
        }
        if (type == 'S')
            ps_client_sync(client_ps);
        pbuf_put(&pb, w + consumed, wl - consumed);
        drain_synth();
        server_run(pb.data, pb.len);
        pbuf_free(&pb);
        /* transaction mode: at an idle boundary the next transaction may get another server */
        if (expq_idle_boundary(&cur->q) && (arg & 1))
            cur = &servers[(cur - servers + 1 + (arg >> 1) % 2) % 3];
    }
    if (nwant != nseen || memcmp(want, seen, nwant) != 0) {
#ifdef FUZZ_DEBUG
        fprintf(stderr, "want %.*s\nseen %.*s\n", (int)nwant, want, (int)nseen, seen);
#endif
        __builtin_trap();
    }
    for (int i = 0; i < 3; i++) {
        ps_server_free(servers[i].ps);
        expq_free(&servers[i].q);
    }
    ps_client_free(client_ps);
    if (ps_registry_count() != 0)
        __builtin_trap(); /* every reference given back */
    return 0;
}
