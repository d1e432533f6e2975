/* derive.h — SCRAM key derivation (PBKDF2) on worker threads, so a server login never holds the
 * event loop for longer than a few milliseconds, whatever iteration count the server asks for. */
#ifndef WEDPOOL_DERIVE_H
#define WEDPOOL_DERIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scram.h"

/* Iteration counts up to this are derived on the loop (about 4 ms here: 0.45 us a round, see
 * docs/configuration.md); above it, on a worker. PostgreSQL's default, 4096, stays inline. */
#define DERIVE_INLINE_MAX_ITERATIONS 10000

struct derive_job;
/* Runs on the loop thread when the derivation ends (ok false: it failed). sp is only valid during
 * the call. */
typedef void (*derive_done_fn)(void *arg, bool ok, const uint8_t sp[SCRAM_KEY_LEN]);

/* Queues PBKDF2(password, salt, iterations) for a worker (started on first use); copies the inputs.
 * done(arg, ...) runs later on the loop thread, never from inside this call, unless the job is
 * cancelled first. NULL: the worker could not be started or out of memory. */
struct derive_job *derive_start(const char *password, const uint8_t *salt, size_t salt_len, int iterations,
                                derive_done_fn done, void *arg);
/* The caller is going away (its server closed): done will not run, the worker abandons the
 * derivation at its next check, and the job frees itself. Loop thread only. */
void derive_cancel(struct derive_job *j);
/* Shutdown, before the loop is freed: stops the workers (a derivation in progress is abandoned at
 * its next check, within milliseconds) and frees every job. */
void derive_stop(void);

#endif
