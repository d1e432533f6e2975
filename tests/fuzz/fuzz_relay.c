/* fuzz_relay.c — the relay's policy fed arbitrary bytes: the input is split into a client stream and
 * a server stream, each cut into messages by the iterator, and the messages are matched against the
 * expected-response queue in an interleaving the input also chooses. Checks the iterator's
 * invariants and that the queue never overruns, loses count, or reports a boundary while owing. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "expect.h"
#include "msg.h"

static void on_done(void *arg, const struct exp_entry *e, bool skipped)
{
    (void)e;
    (void)skipped;
    (*(unsigned *)arg)++;
}

/* Next message of a stream; false at its end or on a framing error (the relay closes the peer). */
static bool next(const uint8_t *p, size_t len, size_t *pos, struct msg *m)
{
    if (*pos >= len)
        return false;
    enum msg_status st = msg_next(p + *pos, len - *pos, 1u << 20, m);
    if (st != MSG_OK)
        return false;
    assert(m->total >= MSG_HEADER);
    assert(m->have <= m->total - MSG_HEADER);
    assert(m->whole == (m->have == m->total - MSG_HEADER));
    *pos += MSG_HEADER + m->have;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t split = data[0] * size / 256;
    uint8_t order = data[1];
    const uint8_t *cl = data + 2, *sv = data + 2 + (split < size - 2 ? split : size - 2);
    size_t cl_len = (size_t)(sv - cl), sv_len = size - 2 - cl_len;
    size_t cpos = 0, spos = 0;
    struct expq q;
    unsigned done = 0;
    expq_init(&q);
    uint32_t startup_total;
    (void)msg_next_startup(cl, cl_len, 10000, &startup_total);
    for (int step = 0; step < 100000; step++) {
        struct msg m;
        bool from_client = ((order >> (step & 7)) & 1) != 0;
        if (from_client) {
            if (!next(cl, cl_len, &cpos, &m))
                break;
            bool oom = false;
            if (!msg_frontend_type_ok(m.type) || m.type == 'X')
                break;
            uint32_t before = q.n;
            if (!expq_client_msg(&q, m.type, &oom))
                break;
            assert(!oom);
            assert(q.n >= before);
        } else {
            if (!next(sv, sv_len, &spos, &m))
                break;
            bool ended = false;
            unsigned before = done;
            uint32_t n = q.n;
            char status = m.have > 0 ? (char)m.body[0] : 'I';
            enum exp_verdict v = expq_server_msg(&q, m.type, status, on_done, &done, &ended);
            if (v == EXP_VIOLATION)
                break;
            assert(done - before <= n); /* never more entries done than there were */
            if (ended)
                assert(done > before);
        }
        if (expq_idle_boundary(&q))
            assert(q.n == 0 && !q.copy_in && !q.in_batch);
    }
    expq_free(&q);
    return 0;
}
