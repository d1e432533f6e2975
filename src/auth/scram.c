/* scram.c — SCRAM-SHA-256 (RFC 5802 / RFC 7677) for both sides of a PostgreSQL login.
 *
 * Passwords are used as raw bytes: no SASLprep normalisation. PostgreSQL falls back to the raw bytes
 * itself when SASLprep fails, and for ASCII passwords SASLprep is the identity, so both sides agree
 * for every password a PostgreSQL server could have stored from ASCII input.
 *
 * Every parser takes (pointer, length), never reads past it and never relies on a NUL. */
#include "scram.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/core_names.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SERVER_NONCE_RAW 18         /* random bytes the server appends: 24 base64 chars, as PostgreSQL */
#define CLIENT_NONCE_RAW 24         /* random bytes in our client nonce: 32 base64 chars */
#define MSG_MAX 1024                /* longest SCRAM message accepted or built */
#define NONCE_MAX 256               /* longest nonce accepted from a peer */
#define B64_IN_MAX 128              /* longest base64 value we decode (a 64-byte salt is 88) */
#define CLIENT_MAX_ITERATIONS 10000000 /* a server asking for more is hostile: PBKDF2 runs on our loop */

enum scram_step { STEP_FIRST, STEP_FINAL, STEP_DERIVE, STEP_VERIFY, STEP_DONE, STEP_FAILED };

/* ---- test hooks: fixed nonce and username make the RFC 7677 vector reproducible. Deliberately
 * not in scram.h; tests declare them themselves. Empty string (or NULL) means "off". */
void scram_test_set_nonce(const char *nonce);
void scram_test_set_user(const char *user);
static char test_nonce[64];
static char test_user[64];

void scram_test_set_nonce(const char *nonce)
{
    snprintf(test_nonce, sizeof(test_nonce), "%s", nonce ? nonce : "");
}

void scram_test_set_user(const char *user)
{
    snprintf(test_user, sizeof(test_user), "%s", user ? user : "");
}

bool scram_ct_equal(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}

/* ------------------------------------------------------------------ primitives */

/* Writes NUL-terminated base64 of in; returns its length, or 0 if cap is too small. */
static size_t b64_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
    if (len == 0 || len > INT_MAX / 2 || 4 * ((len + 2) / 3) + 1 > cap)
        return 0;
    return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

static bool b64_char(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '+' || ch == '/';
}

/* Decodes strict padded base64 of exactly len characters into out (at most cap bytes).
 * Returns the decoded length, or -1 on bad input or if it does not fit. */
static long b64_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
    if (len == 0 || len % 4 != 0 || len > B64_IN_MAX)
        return -1;
    /* '=' only as one or two trailing pad characters; EVP_DecodeBlock would skip whitespace and
     * accept other oddities, so validate first */
    size_t pad = in[len - 1] == '=' ? (in[len - 2] == '=' ? 2 : 1) : 0;
    for (size_t i = 0; i < len - pad; i++)
        if (!b64_char(in[i]))
            return -1;
    /* EVP_DecodeBlock always writes whole 3-byte groups, pad bytes included */
    uint8_t tmp[B64_IN_MAX / 4 * 3];
    int n = EVP_DecodeBlock(tmp, (const unsigned char *)in, (int)len);
    if (n < 0 || (size_t)n != len / 4 * 3) {
        OPENSSL_cleanse(tmp, sizeof(tmp));
        return -1;
    }
    size_t real = (size_t)n - pad;
    bool fits = real <= cap;
    if (fits)
        memcpy(out, tmp, real);
    OPENSSL_cleanse(tmp, sizeof(tmp));
    return fits ? (long)real : -1;
}

static bool hmac256(const uint8_t *key, size_t klen, const void *msg, size_t mlen, uint8_t out[SCRAM_KEY_LEN])
{
    unsigned int n = 0;
    return HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &n) != NULL && n == SCRAM_KEY_LEN;
}

static bool sha256(const void *msg, size_t len, uint8_t out[SCRAM_KEY_LEN])
{
    unsigned int n = 0;
    return EVP_Digest(msg, len, out, &n, EVP_sha256(), NULL) == 1 && n == SCRAM_KEY_LEN;
}

/* SaltedPassword = PBKDF2-HMAC-SHA-256(password, salt, iterations), the password as raw bytes. */
static bool salted_password(const char *password, const uint8_t *salt, size_t salt_len, int iterations,
                            uint8_t out[SCRAM_KEY_LEN])
{
    size_t plen = strlen(password);
    if (plen > INT_MAX || salt_len > INT_MAX || iterations < 1)
        return false;
    return PKCS5_PBKDF2_HMAC(password, (int)plen, salt, (int)salt_len, iterations, EVP_sha256(), SCRAM_KEY_LEN,
                             out) == 1;
}

/* The same PBKDF2 written out (one block: the key is as long as the hash), asking keep_going every
 * CHECK_EVERY rounds, so a worker can drop a derivation nobody waits for any more (its server
 * closed) instead of burning seconds of CPU on a hostile iteration count. EVP_MAC_init with no key
 * restarts from the keyed state, as OpenSSL's own PBKDF2 does with HMAC_CTX_copy. */
#define CHECK_EVERY 4096
bool scram_salted_password(const char *password, const uint8_t *salt, size_t salt_len, int iterations,
                           bool (*keep_going)(void *arg), void *arg, uint8_t out[SCRAM_KEY_LEN])
{
    if (keep_going == NULL)
        return salted_password(password, salt, salt_len, iterations, out);
    if (iterations < 1 || salt_len > SCRAM_MAX_SALT)
        return false;
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_END};
    uint8_t u[SCRAM_KEY_LEN], t[SCRAM_KEY_LEN];
    uint8_t block[SCRAM_MAX_SALT + 4];
    size_t n = 0;
    memcpy(block, salt, salt_len);
    memcpy(block + salt_len, "\0\0\0\1", 4); /* INT(1): the first (and only) block */
    bool ok = ctx != NULL &&
              EVP_MAC_init(ctx, (const unsigned char *)password, strlen(password), params) == 1 &&
              EVP_MAC_update(ctx, block, salt_len + 4) == 1 && EVP_MAC_final(ctx, u, &n, sizeof(u)) == 1 &&
              n == SCRAM_KEY_LEN;
    if (ok)
        memcpy(t, u, sizeof(t));
    for (int i = 1; ok && i < iterations; i++) {
        if (i % CHECK_EVERY == 0 && !keep_going(arg)) {
            ok = false;
            break;
        }
        ok = EVP_MAC_init(ctx, NULL, 0, NULL) == 1 && EVP_MAC_update(ctx, u, sizeof(u)) == 1 &&
             EVP_MAC_final(ctx, u, &n, sizeof(u)) == 1 && n == SCRAM_KEY_LEN;
        for (int k = 0; ok && k < SCRAM_KEY_LEN; k++)
            t[k] ^= u[k];
    }
    if (ok)
        memcpy(out, t, SCRAM_KEY_LEN);
    OPENSSL_cleanse(u, sizeof(u));
    OPENSSL_cleanse(t, sizeof(t));
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return ok;
}

/* Each new server connection logs in with the same password, salt and iteration count, so the last
 * few SaltedPasswords are remembered (keyed by SHA-256 of the three) and a pool refill costs a few
 * HMACs instead of a PBKDF2 run each. Only the event-loop thread reads and fills it (a worker thread
 * that derives a key hands it back to the loop, which stores it), so no lock. A hostile server
 * choosing a fresh salt each login defeats any cache: large counts go to a worker (derive.c). */
#define SP_CACHE 8
static struct {
    bool used;
    uint8_t key[SCRAM_KEY_LEN];
    uint8_t sp[SCRAM_KEY_LEN];
} sp_cache[SP_CACHE];
static unsigned sp_next;

/* The cache key: SHA-256 over length-prefixed fields, so no two (password, salt, iterations)
 * triples hash the same input. */
static bool sp_cache_key(const char *password, const uint8_t *salt, size_t salt_len, int iterations,
                         uint8_t key[SCRAM_KEY_LEN])
{
    unsigned int n = 0;
    uint32_t it = (uint32_t)iterations;
    uint64_t slen = salt_len;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool keyed = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
                 EVP_DigestUpdate(ctx, &it, sizeof(it)) == 1 && EVP_DigestUpdate(ctx, &slen, sizeof(slen)) == 1 &&
                 EVP_DigestUpdate(ctx, salt, salt_len) == 1 && EVP_DigestUpdate(ctx, password, strlen(password)) == 1 &&
                 EVP_DigestFinal_ex(ctx, key, &n) == 1 && n == SCRAM_KEY_LEN;
    EVP_MD_CTX_free(ctx);
    return keyed;
}

static bool sp_cache_get(const char *password, const uint8_t *salt, size_t salt_len, int iterations,
                         uint8_t out[SCRAM_KEY_LEN])
{
    uint8_t key[SCRAM_KEY_LEN];
    bool hit = false;
    if (sp_cache_key(password, salt, salt_len, iterations, key)) {
        for (int i = 0; i < SP_CACHE && !hit; i++) {
            if (sp_cache[i].used && CRYPTO_memcmp(sp_cache[i].key, key, sizeof(key)) == 0) {
                memcpy(out, sp_cache[i].sp, SCRAM_KEY_LEN);
                hit = true;
            }
        }
    }
    OPENSSL_cleanse(key, sizeof(key));
    return hit;
}

static void sp_cache_put(const char *password, const uint8_t *salt, size_t salt_len, int iterations,
                         const uint8_t sp[SCRAM_KEY_LEN])
{
    uint8_t key[SCRAM_KEY_LEN];
    if (sp_cache_key(password, salt, salt_len, iterations, key)) {
        unsigned i = sp_next++ % SP_CACHE;
        sp_cache[i].used = true;
        memcpy(sp_cache[i].key, key, sizeof(key));
        memcpy(sp_cache[i].sp, sp, SCRAM_KEY_LEN);
    }
    OPENSSL_cleanse(key, sizeof(key));
}

/* ClientKey = HMAC(SP, "Client Key"), StoredKey = H(ClientKey), ServerKey = HMAC(SP, "Server Key"). */
static bool keys_from_salted(const uint8_t sp[SCRAM_KEY_LEN], uint8_t client_key[SCRAM_KEY_LEN],
                             uint8_t stored_key[SCRAM_KEY_LEN], uint8_t server_key[SCRAM_KEY_LEN])
{
    return hmac256(sp, SCRAM_KEY_LEN, "Client Key", 10, client_key) && sha256(client_key, SCRAM_KEY_LEN, stored_key) &&
           hmac256(sp, SCRAM_KEY_LEN, "Server Key", 10, server_key);
}

/* Parses a decimal integer of exactly len digits (no sign, no spaces) in [1, max]. */
static bool parse_count(const char *s, size_t len, long long max, int *out)
{
    if (len == 0 || len > 10)
        return false;
    long long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v < 1 || v > max)
        return false;
    *out = (int)v;
    return true;
}

/* A nonce is printable ASCII other than ',' (RFC 5802 "printable"). */
static bool nonce_ok(const char *s, size_t len)
{
    if (len == 0 || len > NONCE_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x21 || s[i] > 0x7e || s[i] == ',')
            return false;
    return true;
}

/* A fresh nonce of raw random bytes in base64 (or the test nonce). */
static bool make_nonce(size_t raw_len, char *out, size_t cap)
{
    if (test_nonce[0] != '\0')
        return (size_t)snprintf(out, cap, "%s", test_nonce) < cap;
    uint8_t raw[CLIENT_NONCE_RAW > SERVER_NONCE_RAW ? CLIENT_NONCE_RAW : SERVER_NONCE_RAW];
    if (raw_len > sizeof(raw) || RAND_bytes(raw, (int)raw_len) != 1)
        return false;
    return b64_encode(raw, raw_len, out, cap) > 0;
}

/* ------------------------------------------------------------------ attribute reader */

/* A cursor over "a=v,b=w,...": attributes are read in order, the way the RFC's grammar is written. */
struct attrs {
    const char *p;
    const char *end;
};

static bool attrs_at_end(const struct attrs *a)
{
    return a->p == a->end;
}

/* Consumes the ',' between two attributes. */
static bool attrs_comma(struct attrs *a)
{
    if (a->p == a->end || *a->p != ',')
        return false;
    a->p++;
    return true;
}

/* Reads "<letter>=<value>" up to the next ',' or the end; *name receives the letter. */
static bool attrs_any(struct attrs *a, char *name, const char **val, size_t *vlen)
{
    if (a->end - a->p < 2 || a->p[1] != '=')
        return false;
    if (!((a->p[0] >= 'a' && a->p[0] <= 'z') || (a->p[0] >= 'A' && a->p[0] <= 'Z')))
        return false;
    const char *v = a->p + 2;
    const char *comma = memchr(v, ',', (size_t)(a->end - v));
    const char *e = comma != NULL ? comma : a->end;
    *name = a->p[0];
    *val = v;
    *vlen = (size_t)(e - v);
    a->p = e;
    return true;
}

/* Reads attribute `want`; false if the next attribute is something else. */
static bool attrs_get(struct attrs *a, char want, const char **val, size_t *vlen)
{
    struct attrs save = *a;
    char name;
    if (!attrs_any(a, &name, val, vlen) || name != want) {
        *a = save;
        return false;
    }
    return true;
}

/* Skips optional trailing extensions ("," attr)* up to the end of the message. */
static bool attrs_skip_extensions(struct attrs *a)
{
    while (!attrs_at_end(a)) {
        char name;
        const char *v;
        size_t vl;
        if (!attrs_comma(a) || !attrs_any(a, &name, &v, &vl))
            return false;
    }
    return true;
}

/* ------------------------------------------------------------------ secrets */

bool scram_secret_from_salt(const char *password, const uint8_t *salt, size_t salt_len, int iterations,
                            struct scram_secret *out)
{
    uint8_t sp[SCRAM_KEY_LEN], ck[SCRAM_KEY_LEN];
    memset(out, 0, sizeof(*out));
    if (password == NULL || salt == NULL || salt_len == 0 || salt_len > SCRAM_MAX_SALT || iterations < 1)
        return false;
    bool ok = salted_password(password, salt, salt_len, iterations, sp) &&
              keys_from_salted(sp, ck, out->stored_key, out->server_key);
    OPENSSL_cleanse(sp, sizeof(sp));
    OPENSSL_cleanse(ck, sizeof(ck));
    if (!ok) {
        OPENSSL_cleanse(out, sizeof(*out));
        return false;
    }
    memcpy(out->salt, salt, salt_len);
    out->salt_len = salt_len;
    out->iterations = iterations;
    return true;
}

bool scram_build_secret(const char *password, int iterations, struct scram_secret *out)
{
    uint8_t salt[16]; /* PostgreSQL's SCRAM_DEFAULT_SALT_LEN */
    if (RAND_bytes(salt, sizeof(salt)) != 1) {
        memset(out, 0, sizeof(*out));
        return false;
    }
    return scram_secret_from_salt(password, salt, sizeof(salt), iterations, out);
}

bool scram_parse_secret(const char *text, struct scram_secret *out)
{
    /* SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>, all base64 padded */
    static const char prefix[] = "SCRAM-SHA-256$";
    memset(out, 0, sizeof(*out));
    if (text == NULL)
        return false;
    size_t len = strnlen(text, 4 * B64_IN_MAX);
    if (len >= 4 * B64_IN_MAX || len < sizeof(prefix) - 1 || memcmp(text, prefix, sizeof(prefix) - 1) != 0)
        return false;
    const char *p = text + sizeof(prefix) - 1, *end = text + len;
    const char *colon1 = memchr(p, ':', (size_t)(end - p));
    if (colon1 == NULL || !parse_count(p, (size_t)(colon1 - p), INT_MAX, &out->iterations))
        goto bad;
    const char *salt = colon1 + 1;
    const char *dollar = memchr(salt, '$', (size_t)(end - salt));
    if (dollar == NULL)
        goto bad;
    const char *stored = dollar + 1;
    const char *colon2 = memchr(stored, ':', (size_t)(end - stored));
    if (colon2 == NULL)
        goto bad;
    const char *server = colon2 + 1;
    long n = b64_decode(salt, (size_t)(dollar - salt), out->salt, sizeof(out->salt));
    if (n <= 0)
        goto bad;
    out->salt_len = (size_t)n;
    if (b64_decode(stored, (size_t)(colon2 - stored), out->stored_key, SCRAM_KEY_LEN) != SCRAM_KEY_LEN ||
        b64_decode(server, (size_t)(end - server), out->server_key, SCRAM_KEY_LEN) != SCRAM_KEY_LEN)
        goto bad;
    return true;
bad:
    OPENSSL_cleanse(out, sizeof(*out));
    return false;
}

/* ------------------------------------------------------------------ server side */

struct scram_server {
    struct scram_secret secret;
    enum scram_step step;
    char gs2[4];                   /* GS2 header as the client sent it: "n,," or "y,," */
    size_t gs2_len;
    char client_first_bare[MSG_MAX]; /* client-first-message minus the GS2 header, for AuthMessage */
    size_t cfb_len;
    char server_first[MSG_MAX];
    size_t sf_len;
    char nonce[NONCE_MAX + 64];    /* client nonce + our nonce: what client-final must echo */
    size_t nonce_len;
    uint8_t client_key[SCRAM_KEY_LEN]; /* the ClientKey the client proved, once STEP_DONE (pass-through) */
    bool doomed;                   /* a mock exchange (unknown user): fails at the end whatever the proof */
};

struct scram_server *scram_server_new(const struct scram_secret *secret)
{
    struct scram_server *s = calloc(1, sizeof(*s));
    if (s != NULL)
        s->secret = *secret;
    return s;
}

/* The per-process key of the mock salts: random, made once, never shown. */
static uint8_t mock_key[SCRAM_KEY_LEN];
static bool mock_key_ok;
static pthread_once_t mock_once = PTHREAD_ONCE_INIT;

static void mock_key_init(void)
{
    mock_key_ok = RAND_bytes(mock_key, sizeof(mock_key)) == 1;
}

bool scram_mock_salt(const char *user, uint8_t salt[SCRAM_MOCK_SALT_LEN])
{
    uint8_t full[SCRAM_KEY_LEN];
    pthread_once(&mock_once, mock_key_init);
    if (!mock_key_ok || user == NULL || !hmac256(mock_key, sizeof(mock_key), user, strlen(user), full))
        return false;
    memcpy(salt, full, SCRAM_MOCK_SALT_LEN);
    OPENSSL_cleanse(full, sizeof(full));
    return true;
}

struct scram_server *scram_server_new_mock(const char *user)
{
    struct scram_secret fake = {.iterations = SCRAM_DEFAULT_ITERATIONS, .salt_len = SCRAM_MOCK_SALT_LEN};
    /* random keys: no proof can match them, and doomed makes sure of it */
    if (!scram_mock_salt(user, fake.salt) || RAND_bytes(fake.stored_key, SCRAM_KEY_LEN) != 1 ||
        RAND_bytes(fake.server_key, SCRAM_KEY_LEN) != 1)
        return NULL;
    struct scram_server *s = scram_server_new(&fake);
    if (s != NULL)
        s->doomed = true;
    OPENSSL_cleanse(&fake, sizeof(fake));
    return s;
}

void scram_server_free(struct scram_server *s)
{
    if (s == NULL)
        return;
    OPENSSL_cleanse(s, sizeof(*s));
    free(s);
}

static bool server_fail(struct scram_server *s, const char **err, const char *why)
{
    s->step = STEP_FAILED;
    *err = why;
    return false;
}

bool scram_server_first(struct scram_server *s, const char *msg, size_t len, char *out, size_t cap,
                        size_t *out_len, const char **err)
{
    if (s->step != STEP_FIRST)
        return server_fail(s, err, "unexpected SCRAM client-first-message");
    if (len > MSG_MAX)
        return server_fail(s, err, "SCRAM client-first-message is too long");
    /* gs2-header = gs2-cbind-flag "," [authzid] "," */
    if (len >= 1 && msg[0] == 'p')
        return server_fail(s, err, "client requires SCRAM channel binding, which wedpool does not offer "
                                   "(SCRAM-SHA-256-PLUS is not advertised)");
    /* 'y' means "I could bind but you did not offer it": fine, since we indeed do not offer -PLUS */
    if (len < 3 || (msg[0] != 'n' && msg[0] != 'y') || msg[1] != ',')
        return server_fail(s, err, "malformed SCRAM client-first-message: bad GS2 header");
    if (msg[2] == 'a')
        return server_fail(s, err, "SCRAM authorization identity (a=) is not supported");
    if (msg[2] != ',')
        return server_fail(s, err, "malformed SCRAM client-first-message: bad GS2 header");
    s->gs2_len = 3;
    memcpy(s->gs2, msg, 3);

    /* client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions] */
    struct attrs a = {msg + 3, msg + len};
    const char *bare = a.p;
    const char *v, *cnonce;
    size_t vl, cnonce_len;
    if (a.end - a.p >= 2 && a.p[0] == 'm' && a.p[1] == '=')
        return server_fail(s, err, "SCRAM mandatory extensions (m=) are not supported");
    /* the username is ignored: PostgreSQL clients send it empty and the user comes from the startup packet */
    if (!attrs_get(&a, 'n', &v, &vl))
        return server_fail(s, err, "malformed SCRAM client-first-message: missing username");
    if (!attrs_comma(&a) || !attrs_get(&a, 'r', &cnonce, &cnonce_len))
        return server_fail(s, err, "malformed SCRAM client-first-message: missing nonce");
    if (!nonce_ok(cnonce, cnonce_len))
        return server_fail(s, err, "malformed SCRAM client-first-message: bad nonce");
    if (!attrs_skip_extensions(&a))
        return server_fail(s, err, "malformed SCRAM client-first-message: garbage after nonce");
    s->cfb_len = (size_t)(msg + len - bare);
    memcpy(s->client_first_bare, bare, s->cfb_len);

    char snonce[64], salt_b64[4 * ((SCRAM_MAX_SALT + 2) / 3) + 1];
    if (!make_nonce(SERVER_NONCE_RAW, snonce, sizeof(snonce)))
        return server_fail(s, err, "could not generate a SCRAM nonce");
    if (b64_encode(s->secret.salt, s->secret.salt_len, salt_b64, sizeof(salt_b64)) == 0)
        return server_fail(s, err, "SCRAM secret has no usable salt");
    int n = snprintf(s->nonce, sizeof(s->nonce), "%.*s%s", (int)cnonce_len, cnonce, snonce);
    if (n < 0 || (size_t)n >= sizeof(s->nonce))
        return server_fail(s, err, "SCRAM nonce too long");
    s->nonce_len = (size_t)n;
    n = snprintf(s->server_first, sizeof(s->server_first), "r=%s,s=%s,i=%d", s->nonce, salt_b64,
                 s->secret.iterations);
    if (n < 0 || (size_t)n >= sizeof(s->server_first))
        return server_fail(s, err, "SCRAM server-first-message too long");
    if ((size_t)n > cap)
        return server_fail(s, err, "output buffer too small for SCRAM server-first-message");
    s->sf_len = (size_t)n;
    memcpy(out, s->server_first, s->sf_len);
    *out_len = s->sf_len;
    s->step = STEP_FINAL;
    return true;
}

bool scram_server_final(struct scram_server *s, const char *msg, size_t len, char *out, size_t cap,
                        size_t *out_len, const char **err)
{
    if (s->step != STEP_FINAL)
        return server_fail(s, err, "unexpected SCRAM client-final-message");
    s->step = STEP_FAILED; /* one attempt only; success sets DONE below */
    if (len > MSG_MAX)
        return server_fail(s, err, "SCRAM client-final-message is too long");

    /* client-final-message = "c=" b64(gs2-header [cbind-data]) ",r=" nonce ["," extensions] ",p=" proof */
    struct attrs a = {msg, msg + len};
    const char *cb, *nonce, *proof = NULL;
    size_t cb_len, nonce_len, proof_len = 0;
    if (!attrs_get(&a, 'c', &cb, &cb_len))
        return server_fail(s, err, "malformed SCRAM client-final-message: missing channel binding");
    if (!attrs_comma(&a) || !attrs_get(&a, 'r', &nonce, &nonce_len))
        return server_fail(s, err, "malformed SCRAM client-final-message: missing nonce");
    /* extensions before the proof are ignored, but they are part of AuthMessage */
    size_t without_proof = 0;
    for (;;) {
        const char *here = a.p;
        char name;
        const char *v;
        size_t vl;
        if (!attrs_comma(&a) || !attrs_any(&a, &name, &v, &vl))
            break;
        if (name == 'p') {
            proof = v;
            proof_len = vl;
            without_proof = (size_t)(here - msg);
            break;
        }
    }
    if (proof == NULL)
        return server_fail(s, err, "malformed SCRAM client-final-message: missing proof");
    if (!attrs_at_end(&a))
        return server_fail(s, err, "malformed SCRAM client-final-message: proof is not the last attribute");

    uint8_t cbind[8];
    long n = b64_decode(cb, cb_len, cbind, sizeof(cbind));
    if (n < 0 || (size_t)n != s->gs2_len || memcmp(cbind, s->gs2, s->gs2_len) != 0)
        return server_fail(s, err, "SCRAM channel binding does not match the GS2 header");
    if (nonce_len != s->nonce_len || memcmp(nonce, s->nonce, nonce_len) != 0)
        return server_fail(s, err, "SCRAM nonce does not match");
    uint8_t client_proof[SCRAM_KEY_LEN];
    if (b64_decode(proof, proof_len, client_proof, sizeof(client_proof)) != SCRAM_KEY_LEN)
        return server_fail(s, err, "malformed SCRAM client proof");

    /* AuthMessage = client-first-message-bare "," server-first-message "," client-final-without-proof */
    char auth[3 * MSG_MAX + 2];
    size_t am = 0;
    memcpy(auth + am, s->client_first_bare, s->cfb_len);
    am += s->cfb_len;
    auth[am++] = ',';
    memcpy(auth + am, s->server_first, s->sf_len);
    am += s->sf_len;
    auth[am++] = ',';
    memcpy(auth + am, msg, without_proof);
    am += without_proof;

    /* ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); the client knew the password iff
     * H(ClientKey) == StoredKey */
    uint8_t sig[SCRAM_KEY_LEN], client_key[SCRAM_KEY_LEN], stored[SCRAM_KEY_LEN];
    bool ok = hmac256(s->secret.stored_key, SCRAM_KEY_LEN, auth, am, sig);
    for (int i = 0; i < SCRAM_KEY_LEN; i++)
        client_key[i] = client_proof[i] ^ sig[i];
    ok = ok && sha256(client_key, SCRAM_KEY_LEN, stored) && scram_ct_equal(stored, s->secret.stored_key, SCRAM_KEY_LEN);
    ok = ok && !s->doomed; /* the same work as a real check, then the same failure */
    if (ok)
        memcpy(s->client_key, client_key, SCRAM_KEY_LEN);
    OPENSSL_cleanse(client_key, sizeof(client_key));
    OPENSSL_cleanse(sig, sizeof(sig));
    OPENSSL_cleanse(stored, sizeof(stored));
    if (!ok)
        return server_fail(s, err, "SCRAM proof is wrong (wrong password)");

    /* server-final-message = "v=" b64(HMAC(ServerKey, AuthMessage)) */
    uint8_t server_sig[SCRAM_KEY_LEN];
    char sig_b64[48];
    if (!hmac256(s->secret.server_key, SCRAM_KEY_LEN, auth, am, server_sig) ||
        b64_encode(server_sig, SCRAM_KEY_LEN, sig_b64, sizeof(sig_b64)) == 0)
        return server_fail(s, err, "SCRAM server signature computation failed");
    int w = snprintf(out, cap, "v=%s", sig_b64);
    if (w < 0 || (size_t)w >= cap)
        return server_fail(s, err, "output buffer too small for SCRAM server-final-message");
    *out_len = (size_t)w;
    s->step = STEP_DONE;
    return true;
}

const struct scram_secret *scram_server_secret(const struct scram_server *s)
{
    return &s->secret;
}

bool scram_server_client_key(const struct scram_server *s, uint8_t out[SCRAM_KEY_LEN])
{
    if (s == NULL || s->step != STEP_DONE)
        return false;
    memcpy(out, s->client_key, SCRAM_KEY_LEN);
    return true;
}

/* ------------------------------------------------------------------ client side */

struct scram_client {
    char *password;                /* NULL when logging in with proven keys (pass-through) */
    bool by_keys;
    uint8_t client_key[SCRAM_KEY_LEN];
    struct scram_secret secret;    /* by_keys: the salt, iterations and ServerKey the server must share */
    enum scram_step step;
    char nonce[64];
    size_t nonce_len;
    char client_first_bare[128];  /* "n=,r=<nonce>", for AuthMessage */
    size_t cfb_len;
    /* from server-first-message, between scram_client_read_first and scram_client_write_final */
    uint8_t salt[SCRAM_MAX_SALT];
    size_t salt_len;
    int iterations;
    char without_proof[NONCE_MAX + 16]; /* client-final-message-without-proof */
    char auth[3 * MSG_MAX];       /* AuthMessage */
    size_t auth_len;
    uint8_t sp[SCRAM_KEY_LEN];    /* SaltedPassword, once known */
    bool have_sp;
    uint8_t server_signature[SCRAM_KEY_LEN]; /* what server-final must carry, known after client-final */
};

struct scram_client *scram_client_new(const char *password)
{
    if (password == NULL)
        return NULL;
    struct scram_client *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->password = strdup(password);
    if (c->password == NULL) {
        free(c);
        return NULL;
    }
    return c;
}

struct scram_client *scram_client_new_keys(const uint8_t client_key[SCRAM_KEY_LEN], const struct scram_secret *secret)
{
    if (client_key == NULL || secret == NULL || secret->salt_len == 0)
        return NULL;
    struct scram_client *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->by_keys = true;
    memcpy(c->client_key, client_key, SCRAM_KEY_LEN);
    c->secret = *secret;
    return c;
}

void scram_client_free(struct scram_client *c)
{
    if (c == NULL)
        return;
    if (c->password != NULL)
        OPENSSL_cleanse(c->password, strlen(c->password));
    free(c->password);
    OPENSSL_cleanse(c, sizeof(*c));
    free(c);
}

static bool client_fail(struct scram_client *c, const char **err, const char *why)
{
    c->step = STEP_FAILED;
    *err = why;
    return false;
}

bool scram_client_first(struct scram_client *c, char *out, size_t cap, size_t *out_len)
{
    if (c->step != STEP_FIRST || !make_nonce(CLIENT_NONCE_RAW, c->nonce, sizeof(c->nonce))) {
        c->step = STEP_FAILED;
        return false;
    }
    c->nonce_len = strlen(c->nonce);
    /* empty username, as libpq: PostgreSQL takes the user from the startup packet */
    int n = snprintf(c->client_first_bare, sizeof(c->client_first_bare), "n=%s,r=%s", test_user, c->nonce);
    int w = snprintf(out, cap, "n,,%s", c->client_first_bare);
    if (n < 0 || (size_t)n >= sizeof(c->client_first_bare) || w < 0 || (size_t)w >= cap) {
        c->step = STEP_FAILED;
        return false;
    }
    c->cfb_len = (size_t)n;
    *out_len = (size_t)w;
    c->step = STEP_FINAL;
    return true;
}

bool scram_client_read_first(struct scram_client *c, const char *msg, size_t len, int max_iterations,
                             const char **err)
{
    if (c->step != STEP_FINAL)
        return client_fail(c, err, "unexpected SCRAM server-first-message");
    c->step = STEP_FAILED;
    if (len > MSG_MAX)
        return client_fail(c, err, "SCRAM server-first-message is too long");

    /* server-first-message = [reserved-mext ","] "r=" nonce ",s=" salt ",i=" iterations ["," extensions] */
    struct attrs a = {msg, msg + len};
    const char *nonce, *salt, *iter;
    size_t nonce_len, salt_len, iter_len;
    if (len >= 2 && msg[0] == 'm' && msg[1] == '=')
        return client_fail(c, err, "server requires a SCRAM extension (m=) that wedpool does not support");
    if (len >= 2 && msg[0] == 'e' && msg[1] == '=')
        return client_fail(c, err, "server reported a SCRAM error");
    if (!attrs_get(&a, 'r', &nonce, &nonce_len))
        return client_fail(c, err, "malformed SCRAM server-first-message: missing nonce");
    if (!attrs_comma(&a) || !attrs_get(&a, 's', &salt, &salt_len))
        return client_fail(c, err, "malformed SCRAM server-first-message: missing salt");
    if (!attrs_comma(&a) || !attrs_get(&a, 'i', &iter, &iter_len))
        return client_fail(c, err, "malformed SCRAM server-first-message: missing iteration count");
    if (!attrs_skip_extensions(&a))
        return client_fail(c, err, "malformed SCRAM server-first-message: garbage at end");
    /* the server's nonce must be ours plus something of its own */
    if (nonce_len <= c->nonce_len || memcmp(nonce, c->nonce, c->nonce_len) != 0 || !nonce_ok(nonce, nonce_len))
        return client_fail(c, err, "SCRAM server nonce does not extend ours");
    int iterations;
    if (!parse_count(iter, iter_len, CLIENT_MAX_ITERATIONS, &iterations))
        return client_fail(c, err, "SCRAM iteration count is not a number between 1 and 10000000");
    c->iterations = iterations; /* kept even when refused below, for the caller's message */
    if (iterations > max_iterations)
        return client_fail(c, err, "SCRAM iteration count is above the configured limit");
    long sl = b64_decode(salt, salt_len, c->salt, sizeof(c->salt));
    if (sl <= 0)
        return client_fail(c, err, "malformed SCRAM salt");
    c->salt_len = (size_t)sl;
    /* Pass-through: the keys are only valid for the salt and iteration count they came from. */
    if (c->by_keys && (iterations != c->secret.iterations || c->salt_len != c->secret.salt_len ||
                       memcmp(c->salt, c->secret.salt, c->salt_len) != 0))
        return client_fail(c, err, "SCRAM pass-through impossible: the server's salt or iteration count for this "
                                   "user differs from the auth_file secret's (copy the secret from pg_authid)");

    /* client-final-message-without-proof; the GS2 header "n,," in base64 is "biws" */
    int wp = snprintf(c->without_proof, sizeof(c->without_proof), "c=biws,r=%.*s", (int)nonce_len, nonce);
    if (wp < 0 || (size_t)wp >= sizeof(c->without_proof))
        return client_fail(c, err, "SCRAM nonce too long");
    int am = snprintf(c->auth, sizeof(c->auth), "%.*s,%.*s,%s", (int)c->cfb_len, c->client_first_bare, (int)len, msg,
                      c->without_proof);
    if (am < 0 || (size_t)am >= sizeof(c->auth))
        return client_fail(c, err, "SCRAM message too long");
    c->auth_len = (size_t)am;
    c->have_sp = false;
    c->step = STEP_DERIVE;
    return true;
}

int scram_client_iterations(const struct scram_client *c)
{
    return c->iterations;
}

bool scram_client_key_cached(struct scram_client *c)
{
    if (c->step != STEP_DERIVE)
        return false;
    if (c->by_keys)
        c->have_sp = true; /* pass-through: nothing to derive */
    if (!c->have_sp)
        c->have_sp = sp_cache_get(c->password, c->salt, c->salt_len, c->iterations, c->sp);
    return c->have_sp;
}

void scram_client_derive_input(const struct scram_client *c, const char **password, const uint8_t **salt,
                               size_t *salt_len, int *iterations)
{
    *password = c->password;
    *salt = c->salt;
    *salt_len = c->salt_len;
    *iterations = c->iterations;
}

void scram_client_set_key(struct scram_client *c, const uint8_t sp[SCRAM_KEY_LEN])
{
    if (c->step != STEP_DERIVE)
        return;
    memcpy(c->sp, sp, SCRAM_KEY_LEN);
    c->have_sp = true;
    sp_cache_put(c->password, c->salt, c->salt_len, c->iterations, sp);
}

bool scram_client_derive(struct scram_client *c)
{
    if (c->step != STEP_DERIVE)
        return false;
    if (scram_client_key_cached(c))
        return true;
    uint8_t sp[SCRAM_KEY_LEN];
    bool ok = salted_password(c->password, c->salt, c->salt_len, c->iterations, sp);
    if (ok)
        scram_client_set_key(c, sp);
    OPENSSL_cleanse(sp, sizeof(sp));
    return ok;
}

bool scram_client_write_final(struct scram_client *c, char *out, size_t cap, size_t *out_len, const char **err)
{
    if (c->step != STEP_DERIVE || !c->have_sp)
        return client_fail(c, err, "SCRAM client-final-message before the key is known");
    c->step = STEP_FAILED;
    uint8_t ck[SCRAM_KEY_LEN], stored[SCRAM_KEY_LEN], sk[SCRAM_KEY_LEN];
    uint8_t sig[SCRAM_KEY_LEN], proof[SCRAM_KEY_LEN];
    bool ok;
    if (c->by_keys) {
        /* pass-through: the ClientKey the client proved and the secret's ServerKey */
        memcpy(ck, c->client_key, SCRAM_KEY_LEN);
        memcpy(sk, c->secret.server_key, SCRAM_KEY_LEN);
        ok = sha256(ck, SCRAM_KEY_LEN, stored);
    } else {
        ok = keys_from_salted(c->sp, ck, stored, sk);
    }
    ok = ok && hmac256(stored, SCRAM_KEY_LEN, c->auth, c->auth_len, sig) &&
         hmac256(sk, SCRAM_KEY_LEN, c->auth, c->auth_len, c->server_signature);
    /* ClientProof = ClientKey XOR HMAC(StoredKey, AuthMessage) */
    for (int i = 0; i < SCRAM_KEY_LEN; i++)
        proof[i] = ck[i] ^ sig[i];
    char proof_b64[48];
    ok = ok && b64_encode(proof, SCRAM_KEY_LEN, proof_b64, sizeof(proof_b64)) > 0;
    OPENSSL_cleanse(c->sp, sizeof(c->sp));
    c->have_sp = false;
    OPENSSL_cleanse(ck, sizeof(ck));
    OPENSSL_cleanse(sk, sizeof(sk));
    OPENSSL_cleanse(stored, sizeof(stored));
    OPENSSL_cleanse(sig, sizeof(sig));
    if (!ok)
        return client_fail(c, err, "SCRAM key derivation failed");
    int w = snprintf(out, cap, "%s,p=%s", c->without_proof, proof_b64);
    if (w < 0 || (size_t)w >= cap)
        return client_fail(c, err, "output buffer too small for SCRAM client-final-message");
    *out_len = (size_t)w;
    c->step = STEP_VERIFY;
    return true;
}

bool scram_client_final(struct scram_client *c, const char *msg, size_t len, char *out, size_t cap,
                        size_t *out_len, const char **err)
{
    if (!scram_client_read_first(c, msg, len, CLIENT_MAX_ITERATIONS, err))
        return false;
    if (!scram_client_derive(c))
        return client_fail(c, err, "SCRAM key derivation failed");
    return scram_client_write_final(c, out, cap, out_len, err);
}

/* RFC 5802 server-error-value strings, for a readable reason when the server sends "e=". */
static const struct {
    const char *value;
    const char *text;
} server_errors[] = {
    {"invalid-encoding", "server reported a SCRAM error: invalid-encoding"},
    {"extensions-not-supported", "server reported a SCRAM error: extensions-not-supported"},
    {"invalid-proof", "server reported a SCRAM error: invalid-proof (wrong password)"},
    {"channel-bindings-dont-match", "server reported a SCRAM error: channel-bindings-dont-match"},
    {"server-does-support-channel-binding", "server reported a SCRAM error: server-does-support-channel-binding"},
    {"channel-binding-not-supported", "server reported a SCRAM error: channel-binding-not-supported"},
    {"unsupported-channel-binding-type", "server reported a SCRAM error: unsupported-channel-binding-type"},
    {"unknown-user", "server reported a SCRAM error: unknown-user"},
    {"invalid-username-encoding", "server reported a SCRAM error: invalid-username-encoding"},
    {"no-resources", "server reported a SCRAM error: no-resources"},
    {"other-error", "server reported a SCRAM error: other-error"},
};

bool scram_client_verify(struct scram_client *c, const char *msg, size_t len, const char **err)
{
    if (c->step != STEP_VERIFY)
        return client_fail(c, err, "unexpected SCRAM server-final-message");
    c->step = STEP_FAILED;
    if (len > MSG_MAX)
        return client_fail(c, err, "SCRAM server-final-message is too long");
    /* server-final-message = (server-error / verifier) ["," extensions] */
    struct attrs a = {msg, msg + len};
    const char *v;
    size_t vl;
    if (attrs_get(&a, 'e', &v, &vl)) {
        for (size_t i = 0; i < sizeof(server_errors) / sizeof(server_errors[0]); i++)
            if (strlen(server_errors[i].value) == vl && memcmp(server_errors[i].value, v, vl) == 0)
                return client_fail(c, err, server_errors[i].text);
        return client_fail(c, err, "server reported a SCRAM error");
    }
    uint8_t sig[SCRAM_KEY_LEN];
    if (!attrs_get(&a, 'v', &v, &vl) || !attrs_skip_extensions(&a) ||
        b64_decode(v, vl, sig, sizeof(sig)) != SCRAM_KEY_LEN)
        return client_fail(c, err, "malformed SCRAM server-final-message");
    if (!scram_ct_equal(sig, c->server_signature, SCRAM_KEY_LEN))
        return client_fail(c, err, "SCRAM server signature does not match: the server does not know the password");
    c->step = STEP_DONE;
    return true;
}
