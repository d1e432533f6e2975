/* scram.h — SCRAM-SHA-256 (RFC 5802 / RFC 7677) for both sides of a PostgreSQL login. */
#ifndef WEDPOOL_SCRAM_H
#define WEDPOOL_SCRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCRAM_KEY_LEN 32
#define SCRAM_MAX_SALT 64
#define SCRAM_DEFAULT_ITERATIONS 4096
#define SCRAM_MOCK_SALT_LEN 16 /* as the salts wedpool and PostgreSQL make */

/* What a server must know to verify a client: derived once per user, never per login. */
struct scram_secret {
    int iterations;
    uint8_t salt[SCRAM_MAX_SALT];
    size_t salt_len;
    uint8_t stored_key[SCRAM_KEY_LEN];
    uint8_t server_key[SCRAM_KEY_LEN];
};

/* Parses PostgreSQL's "SCRAM-SHA-256$<iter>:<salt b64>$<StoredKey b64>:<ServerKey b64>". */
bool scram_parse_secret(const char *text, struct scram_secret *out) __attribute__((warn_unused_result));
/* Derives a secret from a plain password with a fresh random 16-byte salt (PBKDF2, costly: call once). */
bool scram_build_secret(const char *password, int iterations, struct scram_secret *out) __attribute__((warn_unused_result));
/* Same, with a given salt (deterministic; for tests and for known salts). */
bool scram_secret_from_salt(const char *password, const uint8_t *salt, size_t salt_len, int iterations,
                            struct scram_secret *out) __attribute__((warn_unused_result));

/* ---- Server side: wedpool verifying a client. One object per login, freed after it. ---- */
struct scram_server;
struct scram_server *scram_server_new(const struct scram_secret *secret); /* copies secret */
/* A doomed exchange for a user with no usable secret (unknown, say): the salt is scram_mock_salt(user)
 * and the iteration count SCRAM_DEFAULT_ITERATIONS, so it looks like a real user's, and
 * scram_server_final fails at the end with the same error as a wrong password (PostgreSQL's
 * scram_mock_salt). NULL: out of memory or no randomness. */
struct scram_server *scram_server_new_mock(const char *user);
/* HMAC-SHA-256 of the user name under a random key made once per process, truncated: the same
 * salt for the same name for the life of the process, unrelated salts for different names. */
bool scram_mock_salt(const char *user, uint8_t salt[SCRAM_MOCK_SALT_LEN]) __attribute__((warn_unused_result));
void scram_server_free(struct scram_server *s);
/* Takes the SASLInitialResponse payload (client-first-message, not NUL-terminated), writes
 * server-first-message into out (not NUL-terminated). false + *err (static text) on bad input. */
bool scram_server_first(struct scram_server *s, const char *msg, size_t len, char *out, size_t cap,
                        size_t *out_len, const char **err) __attribute__((warn_unused_result));
/* Takes the SASLResponse payload (client-final-message), checks the nonce and the proof, and writes
 * server-final-message ("v=...") into out. false + *err when the proof is wrong or input is bad. */
bool scram_server_final(struct scram_server *s, const char *msg, size_t len, char *out, size_t cap,
                        size_t *out_len, const char **err) __attribute__((warn_unused_result));
/* After a successful scram_server_final: the ClientKey the client proved (ClientProof XOR
 * HMAC(StoredKey, AuthMessage), checked against StoredKey). With the secret's ServerKey it lets
 * wedpool log in as that user to a server holding the same secret (SCRAM pass-through). false
 * before success. */
bool scram_server_client_key(const struct scram_server *s, uint8_t out[SCRAM_KEY_LEN]) __attribute__((warn_unused_result));
/* The secret the exchange verifies against (its copy). */
const struct scram_secret *scram_server_secret(const struct scram_server *s);

/* ---- Client side: wedpool logging in to PostgreSQL with a plain password. ---- */
struct scram_client;
struct scram_client *scram_client_new(const char *password);
/* The same without a password (SCRAM pass-through): a ClientKey proven by a client and the secret
 * it was proven against (its ServerKey checks the server; its salt and iteration count must be the
 * server's, else scram_client_final fails naming that). No PBKDF2. Copies both. */
struct scram_client *scram_client_new_keys(const uint8_t client_key[SCRAM_KEY_LEN], const struct scram_secret *secret);
void scram_client_free(struct scram_client *c);
/* Writes client-first-message ("n,,n=,r=<nonce>"). */
bool scram_client_first(struct scram_client *c, char *out, size_t cap, size_t *out_len) __attribute__((warn_unused_result));
/* Takes server-first-message (AuthenticationSASLContinue payload), writes client-final-message.
 * Derives the key on the spot (up to 10,000,000 iterations): tests and tools; the proxy uses the
 * steps below so the costly part can run off the event loop. */
bool scram_client_final(struct scram_client *c, const char *msg, size_t len, char *out, size_t cap,
                        size_t *out_len, const char **err) __attribute__((warn_unused_result));
/* The same in steps. read_first checks server-first-message and refuses an iteration count above
 * max_iterations ("above the configured limit"; scram_client_iterations tells the count). Then the
 * key: scram_client_key_cached (a hit in the per-process cache: only HMACs left), or
 * scram_client_derive (PBKDF2 here), or a worker runs scram_salted_password on
 * scram_client_derive_input (copy it) and scram_client_set_key hands the result back. Then
 * write_final writes client-final-message. Only the loop thread calls these. */
bool scram_client_read_first(struct scram_client *c, const char *msg, size_t len, int max_iterations,
                             const char **err) __attribute__((warn_unused_result));
int scram_client_iterations(const struct scram_client *c);
bool scram_client_key_cached(struct scram_client *c);
bool scram_client_derive(struct scram_client *c) __attribute__((warn_unused_result));
void scram_client_derive_input(const struct scram_client *c, const char **password, const uint8_t **salt,
                               size_t *salt_len, int *iterations);
void scram_client_set_key(struct scram_client *c, const uint8_t sp[SCRAM_KEY_LEN]);
bool scram_client_write_final(struct scram_client *c, char *out, size_t cap, size_t *out_len,
                              const char **err) __attribute__((warn_unused_result));
/* SaltedPassword = PBKDF2-HMAC-SHA-256 (password as raw bytes). Pure and thread-safe: what a worker
 * thread runs. keep_going (may be NULL) is asked every few thousand rounds; false abandons the
 * derivation (returns false). */
bool scram_salted_password(const char *password, const uint8_t *salt, size_t salt_len, int iterations,
                           bool (*keep_going)(void *arg), void *arg, uint8_t out[SCRAM_KEY_LEN])
    __attribute__((warn_unused_result));
/* Checks server-final-message (AuthenticationSASLFinal payload): the server proves it knew the key. */
bool scram_client_verify(struct scram_client *c, const char *msg, size_t len, const char **err) __attribute__((warn_unused_result));

/* Constant-time comparison. */
bool scram_ct_equal(const void *a, const void *b, size_t len);

#endif
