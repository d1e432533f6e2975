/* scram.h — SCRAM-SHA-256 (RFC 5802 / RFC 7677) for both sides of a PostgreSQL login. */
#ifndef WEDPOOL_SCRAM_H
#define WEDPOOL_SCRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCRAM_KEY_LEN 32
#define SCRAM_MAX_SALT 64
#define SCRAM_DEFAULT_ITERATIONS 4096

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
/* Takes server-first-message (AuthenticationSASLContinue payload), writes client-final-message. */
bool scram_client_final(struct scram_client *c, const char *msg, size_t len, char *out, size_t cap,
                        size_t *out_len, const char **err) __attribute__((warn_unused_result));
/* Checks server-final-message (AuthenticationSASLFinal payload): the server proves it knew the key. */
bool scram_client_verify(struct scram_client *c, const char *msg, size_t len, const char **err) __attribute__((warn_unused_result));

/* Constant-time comparison. */
bool scram_ct_equal(const void *a, const void *b, size_t len);

#endif
