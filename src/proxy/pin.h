/* pin.h — which SQL creates session state that outlives a transaction (and which releases it).
 *
 * In transaction pooling a client's next transaction may run on another server, and its server
 * serves other clients in between: a SET search_path, a SET ROLE, a LISTEN, a temp table ... made by
 * one client would be seen by the next. wedpool detects such statements in every simple Query and
 * Parse text and pins the client to its server (pin_session.c), refuses them, or lets them pass
 * (pin_session_state = pin | error | ignore).
 *
 * Two stages. pin_precheck() is a single pass over the text with no allocation (tens of
 * nanoseconds on a pgbench query): the first keyword of every statement against a short list, and
 * the substrings "set_config" and "advisory" anywhere (plus "into" after a SELECT). Only when it
 * says maybe does pin_classify() run PostgreSQL's own parser (libpg_query, PostgreSQL 15's grammar)
 * and decide from the parse tree: SET LOCAL and set_config(..., true) are transaction-scoped,
 * CREATE TEMP ... ON COMMIT DROP is gone at commit, and so on. Pure: no libevent, no rt. */
#ifndef WEDPOOL_PIN_H
#define WEDPOOL_PIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Kinds of session state, as bits of a mask. */
enum pin_kind {
    PIN_SET = 1u << 0,          /* SET / set_config(..., false) of a setting PostgreSQL does not report */
    PIN_ROLE = 1u << 1,         /* SET ROLE */
    PIN_SESSION_AUTH = 1u << 2, /* SET SESSION AUTHORIZATION */
    PIN_PREPARE = 1u << 3,      /* SQL PREPARE */
    PIN_LISTEN = 1u << 4,       /* LISTEN */
    PIN_TEMP = 1u << 5,         /* CREATE TEMP table / view / sequence / pg_temp.function */
    PIN_HOLD = 1u << 6,         /* DECLARE ... WITH HOLD */
    PIN_ADVISORY = 1u << 7,     /* session-level advisory lock */
    PIN_LOAD = 1u << 8,         /* LOAD: cannot be undone, not even by DISCARD ALL */
    PIN_UNKNOWN = 1u << 9,      /* too large to analyse (streamed through): assume the worst */
    PIN_DO_BLOCK = 1u << 10,    /* a DO block whose body may create any of the above (its PL/pgSQL is
                                 * not parsed: see do_block() in pin.c); only DISCARD ALL releases it */
};
#define PIN_KINDS 11
/* What DISCARD ALL undoes (everything but LOAD and the unknown). */
#define PIN_DISCARD_ALL \
    (PIN_SET | PIN_ROLE | PIN_SESSION_AUTH | PIN_PREPARE | PIN_LISTEN | PIN_TEMP | PIN_HOLD | PIN_ADVISORY | PIN_DO_BLOCK)
/* Not a kind of state: the reason a refused statement carries (EXP_TAG_PIN_REFUSED's arg) when it
 * names one of wedpool's own server-side prepared statements (pin_verdict.reserved). */
#define PIN_REFUSE_RESERVED (1u << 15)
/* Not a kind of state either: in a release argument (EXP_TAG_PIN_RELEASE), the statement carries a
 * setting to the client's parameters once it succeeds outside a transaction block
 * (pin_verdict.carry). */
#define PIN_CARRY (1u << 14)

struct pin_verdict {
    uint16_t pins;      /* state the text creates */
    uint16_t releases;  /* state it releases (RESET ALL, UNLISTEN *, DEALLOCATE ALL, DISCARD ALL, CLOSE ALL,
                         * pg_advisory_unlock_all, RESET ROLE, ...) */
    bool parse_error;   /* PostgreSQL will refuse the text: it creates nothing */
    bool reserved;      /* EXECUTE, PREPARE or DEALLOCATE of a name in wedpool's prefix (PS_PREFIX, "wp_"):
                         * the server-side names of the protocol-level statements every client of a
                         * server shares (prepared.h); no client may reach them through SQL */
    char what[96];      /* the first statement that creates state, e.g. "SET search_path", "LISTEN" */
    /* A plain SET of a setting wedpool replays on every server the client gets (params.c) although
     * PostgreSQL does not report it - extra_float_digits, which pgjdbc sets after every login: it
     * creates no state to pin, the value follows the client once the statement succeeded. */
    const char *carry_name; /* NULL: none */
    char carry_value[32];
};

/* Cheap: could text (len bytes, need not be NUL-terminated) create or release session state, or
 * name a reserved statement? */
bool pin_precheck(const char *text, size_t len);
/* Cheaper still, for pin_session_state=ignore: could text name a reserved statement ("wp_" as the
 * start of a word, any case, or a U&"" identifier), or DEALLOCATE (ALL) after a ';'? */
bool pin_reserved_precheck(const char *text, size_t len);

/* Precise: parses text (NUL-terminated) and fills *v. False only when out of memory (then *v says
 * PIN_UNKNOWN). */
bool pin_classify(const char *text, struct pin_verdict *v);

/* "SET", "SET ROLE", ... for the lowest kind bit set in mask ("" for 0). */
const char *pin_kind_name(uint16_t mask);
/* Writes the names of every kind in mask, comma-separated ("set,listen"), for SHOW CLIENTS. */
void pin_mask_text(uint16_t mask, char *out, size_t cap);

#endif
