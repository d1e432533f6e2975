/* scram.c — SCRAM-SHA-256 (RFC 5802 / RFC 7677) for both sides of a PostgreSQL login.
 * Passwords are used as raw bytes (no SASLprep); PostgreSQL does the same when SASLprep fails,
 * and ASCII passwords are unaffected. Every parser takes (pointer, length) and never reads past it. */
#include "scram.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONCE_RAW 18          /* random bytes in a nonce: 24 base64 characters */
#define MSG_MAX 512

/* Test hook: a fixed nonce makes the RFC 7677 vector reproducible. Not in scram.h on purpose. */
void scram_test_set_nonce(const char *nonce);
static char test_nonce[64];

void scram_test_set_nonce(const char *nonce)
{
    snprintf(test_nonce, sizeof(test_nonce), "%s", nonce ? nonce : "");
}

bool scram_ct_equal(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}

static size_t b64_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
    size_t need = 4 * ((len + 2) / 3) + 1;
    if (need > cap)
        return 0;
    return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

/* Decodes strict, padded base64 of exactly len characters. Returns -1 on bad input. */
static long b64_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
    if (len == 0 || len % 4 != 0 || (len / 4) * 3 > cap)
        return -1;
    for (size_t i = 0; i < len; i++) {
        char ch = in[i];
        bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '+' ||
                  ch == '/' || (ch == '=' && i >= len - 2);
        if (!ok)
            return -1;
    }
    if (in[len - 2] == '=' && in[len - 1] != '=')
        return -1;
    int n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
    if (n < 0)
        return -1;
    if (in[len - 1] == '=')
        n--;
    if (in[len - 2] == '=')
        n--;
    return n;
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

static bool salted_password(const char *password, const uint8_t *salt, size_t salt_len, int iterations,
                            uint8_t out[SCRAM_KEY_LEN])
{
    return PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)salt_len, iterations, EVP_sha256(),
                             SCRAM_KEY_LEN, out) == 1;
}

/* Server logins reuse one password with the server's fixed salt: remember the last few PBKDF2
 * results (keyed by a hash of password, salt and iterations) so a pool refill costs HMACs, not PBKDF2. */
#define SP_CACHE 8
static struct {
    bool used;
    uint8_t key[SCRAM_KEY_LEN];
    uint8_t sp[SCRAM_KEY_LEN];
} sp_cache[SP_CACHE];
static unsigned sp_next;

static bool salted_password_cached(const char *password, const uint8_t *salt, size_t salt_len, int iterations,
                                   uint8_t out[SCRAM_KEY_LEN])
{
    uint8_t key[SCRAM_KEY_LEN];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int n = 0;
    bool ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
              EVP_DigestUpdate(ctx, password, strlen(password) + 1) == 1 &&
              EVP_DigestUpdate(ctx, salt, salt_len) == 1 &&
              EVP_DigestUpdate(ctx, &iterations, sizeof(iterations)) == 1 && EVP_DigestFinal_ex(ctx, key, &n) == 1;
    EVP_MD_CTX_free(ctx);
    if (ok) {
        for (int i = 0; i < SP_CACHE; i++) {
            if (sp_cache[i].used && CRYPTO_memcmp(sp_cache[i].key, key, sizeof(key)) == 0) {
                memcpy(out, sp_cache[i].sp, SCRAM_KEY_LEN);
                return true;
            }
        }
    }
    if (!salted_password(password, salt, salt_len, iterations, out))
        return false;
    if (ok) {
        unsigned i = sp_next++ % SP_CACHE;
        sp_cache[i].used = true;
        memcpy(sp_cache[i].key, key, sizeof(key));
        memcpy(sp_cache[i].sp, out, SCRAM_KEY_LEN);
    }
    return true;
}

static bool keys_from_salted(const uint8_t sp[SCRAM_KEY_LEN], uint8_t client_key[SCRAM_KEY_LEN],
                             uint8_t stored_key[SCRAM_KEY_LEN], uint8_t server_key[SCRAM_KEY_LEN])
{
    return hmac256(sp, SCRAM_KEY_LEN, "Client Key", 10, client_key) && sha256(client_key, SCRAM_KEY_LEN, stored_key) &&
           hmac256(sp, SCRAM_KEY_LEN, "Server Key", 10, server_key);
}

bool scram_secret_from_salt(const char *password, const uint8_t *salt, size_t salt_len, int iterations,
                            struct scram_secret *out)
{
    uint8_t sp[SCRAM_KEY_LEN], ck[SCRAM_KEY_LEN];
    if (salt_len == 0 || salt_len > SCRAM_MAX_SALT || iterations < 1)
        return false;
    memset(out, 0, sizeof(*out));
    bool ok = salted_password(password, salt, salt_len, iterations, sp) &&
              keys_from_salted(sp, ck, out->stored_key, out->server_key);
    OPENSSL_cleanse(sp, sizeof(sp));
    OPENSSL_cleanse(ck, sizeof(ck));
    if (!ok)
        return false;
    memcpy(out->salt, salt, salt_len);
    out->salt_len = salt_len;
    out->iterations = iterations;
    return true;
}

bool scram_build_secret(const char *password, int iterations, struct scram_secret *out)
{
    uint8_t salt[16];
    if (RAND_bytes(salt, sizeof(salt)) != 1)
        return false;
    return scram_secret_from_salt(password, salt, sizeof(salt), iterations, out);
}

bool scram_parse_secret(const char *text, struct scram_secret *out)
{
    /* SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey> */
    static const char prefix[] = "SCRAM-SHA-256$";
    memset(out, 0, sizeof(*out));
    if (strncmp(text, prefix, sizeof(prefix) - 1) != 0)
        return false;
    const char *p = text + sizeof(prefix) - 1;
    char *end;
    long iter = strtol(p, &end, 10);
    if (end == p || *end != ':' || iter < 1 || iter > 100000000)
        return false;
    const char *salt = end + 1;
    const char *dollar = strchr(salt, '$');
    if (dollar == NULL)
        return false;
    const char *stored = dollar + 1;
    const char *colon = strchr(stored, ':');
    if (colon == NULL)
        return false;
    const char *server = colon + 1;
    uint8_t tmp[64];
    long n = b64_decode(salt, (size_t)(dollar - salt), out->salt, sizeof(out->salt));
    if (n <= 0)
        return false;
    out->salt_len = (size_t)n;
    if (b64_decode(stored, (size_t)(colon - stored), tmp, sizeof(tmp)) != SCRAM_KEY_LEN)
        return false;
    memcpy(out->stored_key, tmp, SCRAM_KEY_LEN);
    if (b64_decode(server, strlen(server), tmp, sizeof(tmp)) != SCRAM_KEY_LEN)
        return false;
    memcpy(out->server_key, tmp, SCRAM_KEY_LEN);
    out->iterations = (int)iter;
    return true;
}

/* A fresh nonce: 18 random bytes in base64 (or the test nonce). */
static bool make_nonce(char *out, size_t cap)
{
    if (test_nonce[0] != '\0') {
        snprintf(out, cap, "%s", test_nonce);
        return true;
    }
    uint8_t raw[NONCE_RAW];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return false;
    return b64_encode(raw, sizeof(raw), out, cap) > 0;
}

/* Finds attribute "<name>=" at the start of msg or right after a ','. Returns its value span. */
static bool find_attr(const char *msg, size_t len, char name, const char **val, size_t *vlen)
{
    size_t i = 0;
    while (i + 1 < len) {
        if ((i == 0 || msg[i - 1] == ',') && msg[i] == name && msg[i + 1] == '=') {
            size_t start = i + 2, end = start;
            while (end < len && msg[end] != ',')
                end++;
            *val = msg + start;
            *vlen = end - start;
            return true;
        }
        i++;
    }
    return false;
}

static bool printable_nonce(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x21 || s[i] > 0x7e || s[i] == ',')
            return false;
    return true;
}

/* ------------------------------------------------------------------ server side */

struct scram_server {
    struct scram_secret secret;
    char gs2[64];               /* gs2 header as the client sent it, e.g. "n,," */
    size_t gs2_len;
    char client_first_bare[MSG_MAX];
    size_t cfb_len;
    char server_first[MSG_MAX];
    size_t sf_len;
    char nonce[MSG_MAX];        /* client nonce + server nonce */
    size_t nonce_len;
    int step;
};

struct scram_server *scram_server_new(const struct scram_secret *secret)
{
    struct scram_server *s = calloc(1, sizeof(*s));
    if (s != NULL)
        s->secret = *secret;
    return s;
}

void scram_server_free(struct scram_server *s)
{
    if (s == NULL)
        return;
    OPENSSL_cleanse(s, sizeof(*s));
    free(s);
}

bool scram_server_first(struct scram_server *s, const char *msg, size_t len, char *out, size_t cap,
                        size_t *out_len, const char **err)
{
    if (s->step != 0) {
        *err = "unexpected SCRAM message";
        return false;
    }
    if (len < 3 || len >= MSG_MAX) {
        *err = "malformed SCRAM client-first-message";
        return false;
    }
    if (msg[0] == 'p') {
        *err = "channel binding is not supported (wedpool does not offer SCRAM-SHA-256-PLUS)";
        return false;
    }
    if ((msg[0] != 'n' && msg[0] != 'y') || msg[1] != ',') {
        *err = "malformed SCRAM GS2 header";
        return false;
    }
    /* optional authzid, then the second comma ends the gs2 header */
    const char *second = memchr(msg + 2, ',', len - 2);
    if (second == NULL || (size_t)(second - msg) + 1 > sizeof(s->gs2)) {
        *err = "malformed SCRAM GS2 header";
        return false;
    }
    if (second != msg + 2 && !(msg[2] == 'a' && msg[3] == '=')) {
        *err = "malformed SCRAM GS2 header";
        return false;
    }
    s->gs2_len = (size_t)(second - msg) + 1;
    memcpy(s->gs2, msg, s->gs2_len);
    const char *bare = second + 1;
    size_t bare_len = len - s->gs2_len;
    if (bare_len < 2 || bare[0] == 'm') {
        *err = "SCRAM extensions are not supported";
        return false;
    }
    if (bare[0] != 'n' || bare[1] != '=') {
        *err = "malformed SCRAM client-first-message: missing username";
        return false;
    }
    const char *cnonce;
    size_t cnonce_len;
    if (!find_attr(bare, bare_len, 'r', &cnonce, &cnonce_len) || !printable_nonce(cnonce, cnonce_len)) {
        *err = "malformed SCRAM client-first-message: missing or bad nonce";
        return false;
    }
    memcpy(s->client_first_bare, bare, bare_len);
    s->cfb_len = bare_len;

    char snonce[64];
    if (!make_nonce(snonce, sizeof(snonce))) {
        *err = "could not generate a nonce";
        return false;
    }
    char salt_b64[2 * SCRAM_MAX_SALT];
    if (b64_encode(s->secret.salt, s->secret.salt_len, salt_b64, sizeof(salt_b64)) == 0) {
        *err = "salt too long";
        return false;
    }
    int n = snprintf(s->nonce, sizeof(s->nonce), "%.*s%s", (int)cnonce_len, cnonce, snonce);
    if (n < 0 || (size_t)n >= sizeof(s->nonce)) {
        *err = "nonce too long";
        return false;
    }
    s->nonce_len = (size_t)n;
    n = snprintf(s->server_first, sizeof(s->server_first), "r=%s,s=%s,i=%d", s->nonce, salt_b64,
                 s->secret.iterations);
    if (n < 0 || (size_t)n >= sizeof(s->server_first) || (size_t)n > cap) {
        *err = "SCRAM message too long";
        return false;
    }
    s->sf_len = (size_t)n;
    memcpy(out, s->server_first, s->sf_len);
    *out_len = s->sf_len;
    s->step = 1;
    return true;
}

bool scram_server_final(struct scram_server *s, const char *msg, size_t len, char *out, size_t cap,
                        size_t *out_len, const char **err)
{
    if (s->step != 1) {
        *err = "unexpected SCRAM message";
        return false;
    }
    s->step = 2;
    if (len < 4 || len >= MSG_MAX || msg[0] != 'c' || msg[1] != '=') {
        *err = "malformed SCRAM client-final-message";
        return false;
    }
    const char *cb, *nonce, *proof;
    size_t cb_len, nonce_len, proof_len;
    if (!find_attr(msg, len, 'c', &cb, &cb_len) || !find_attr(msg, len, 'r', &nonce, &nonce_len) ||
        !find_attr(msg, len, 'p', &proof, &proof_len)) {
        *err = "malformed SCRAM client-final-message";
        return false;
    }
    /* the proof must be the last attribute */
    if (proof + proof_len != msg + len || proof < msg + 3 || proof[-3] != ',') {
        *err = "malformed SCRAM client-final-message: proof is not last";
        return false;
    }
    uint8_t cbind[64];
    long n = b64_decode(cb, cb_len, cbind, sizeof(cbind));
    if (n < 0 || (size_t)n != s->gs2_len || memcmp(cbind, s->gs2, s->gs2_len) != 0) {
        *err = "SCRAM channel binding does not match";
        return false;
    }
    if (nonce_len != s->nonce_len || memcmp(nonce, s->nonce, nonce_len) != 0) {
        *err = "SCRAM nonce does not match";
        return false;
    }
    uint8_t client_proof[64];
    if (b64_decode(proof, proof_len, client_proof, sizeof(client_proof)) != SCRAM_KEY_LEN) {
        *err = "malformed SCRAM proof";
        return false;
    }
    size_t without_proof = (size_t)(proof - 3 - msg);
    char auth[3 * MSG_MAX];
    int am = snprintf(auth, sizeof(auth), "%.*s,%.*s,%.*s", (int)s->cfb_len, s->client_first_bare, (int)s->sf_len,
                      s->server_first, (int)without_proof, msg);
    if (am < 0 || (size_t)am >= sizeof(auth)) {
        *err = "SCRAM message too long";
        return false;
    }
    uint8_t sig[SCRAM_KEY_LEN], client_key[SCRAM_KEY_LEN], stored[SCRAM_KEY_LEN];
    if (!hmac256(s->secret.stored_key, SCRAM_KEY_LEN, auth, (size_t)am, sig)) {
        *err = "HMAC failed";
        return false;
    }
    for (int i = 0; i < SCRAM_KEY_LEN; i++)
        client_key[i] = client_proof[i] ^ sig[i];
    bool ok = sha256(client_key, SCRAM_KEY_LEN, stored) && scram_ct_equal(stored, s->secret.stored_key, SCRAM_KEY_LEN);
    OPENSSL_cleanse(client_key, sizeof(client_key));
    if (!ok) {
        *err = "wrong password";
        return false;
    }
    uint8_t server_sig[SCRAM_KEY_LEN];
    char sig_b64[64];
    if (!hmac256(s->secret.server_key, SCRAM_KEY_LEN, auth, (size_t)am, server_sig) ||
        b64_encode(server_sig, SCRAM_KEY_LEN, sig_b64, sizeof(sig_b64)) == 0) {
        *err = "HMAC failed";
        return false;
    }
    int w = snprintf(out, cap, "v=%s", sig_b64);
    if (w < 0 || (size_t)w >= cap) {
        *err = "output buffer too small";
        return false;
    }
    *out_len = (size_t)w;
    return true;
}

/* ------------------------------------------------------------------ client side */

struct scram_client {
    char *password;
    char nonce[64];
    char client_first_bare[128];
    size_t cfb_len;
    uint8_t server_signature[SCRAM_KEY_LEN];
    int step;
};

struct scram_client *scram_client_new(const char *password)
{
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

void scram_client_free(struct scram_client *c)
{
    if (c == NULL)
        return;
    OPENSSL_cleanse(c->password, strlen(c->password));
    free(c->password);
    OPENSSL_cleanse(c, sizeof(*c));
    free(c);
}

bool scram_client_first(struct scram_client *c, char *out, size_t cap, size_t *out_len)
{
    if (c->step != 0 || !make_nonce(c->nonce, sizeof(c->nonce)))
        return false;
    int n = snprintf(c->client_first_bare, sizeof(c->client_first_bare), "n=,r=%s", c->nonce);
    if (n < 0 || (size_t)n >= sizeof(c->client_first_bare))
        return false;
    c->cfb_len = (size_t)n;
    int w = snprintf(out, cap, "n,,%s", c->client_first_bare);
    if (w < 0 || (size_t)w >= cap)
        return false;
    *out_len = (size_t)w;
    c->step = 1;
    return true;
}

bool scram_client_final(struct scram_client *c, const char *msg, size_t len, char *out, size_t cap,
                        size_t *out_len, const char **err)
{
    if (c->step != 1) {
        *err = "unexpected SCRAM message";
        return false;
    }
    c->step = 2;
    if (len < 2 || len >= MSG_MAX || msg[0] != 'r' || msg[1] != '=') {
        *err = "malformed SCRAM server-first-message";
        return false;
    }
    const char *nonce, *salt, *iter;
    size_t nonce_len, salt_len, iter_len;
    if (!find_attr(msg, len, 'r', &nonce, &nonce_len) || !find_attr(msg, len, 's', &salt, &salt_len) ||
        !find_attr(msg, len, 'i', &iter, &iter_len)) {
        *err = "malformed SCRAM server-first-message";
        return false;
    }
    size_t my_len = strlen(c->nonce);
    if (nonce_len <= my_len || memcmp(nonce, c->nonce, my_len) != 0 || !printable_nonce(nonce, nonce_len)) {
        *err = "server nonce does not extend ours";
        return false;
    }
    char ibuf[16];
    if (iter_len == 0 || iter_len >= sizeof(ibuf)) {
        *err = "bad iteration count";
        return false;
    }
    memcpy(ibuf, iter, iter_len);
    ibuf[iter_len] = '\0';
    char *end;
    long iterations = strtol(ibuf, &end, 10);
    if (*end != '\0' || iterations < 1 || iterations > 10000000) {
        *err = "bad iteration count";
        return false;
    }
    uint8_t salt_raw[SCRAM_MAX_SALT];
    long sl = b64_decode(salt, salt_len, salt_raw, sizeof(salt_raw));
    if (sl <= 0) {
        *err = "bad salt";
        return false;
    }
    uint8_t sp[SCRAM_KEY_LEN], ck[SCRAM_KEY_LEN], stored[SCRAM_KEY_LEN], sk[SCRAM_KEY_LEN];
    if (!salted_password_cached(c->password, salt_raw, (size_t)sl, (int)iterations, sp) ||
        !keys_from_salted(sp, ck, stored, sk)) {
        *err = "key derivation failed";
        return false;
    }
    char without_proof[MSG_MAX];
    int wp = snprintf(without_proof, sizeof(without_proof), "c=biws,r=%.*s", (int)nonce_len, nonce);
    char auth[3 * MSG_MAX];
    int am = snprintf(auth, sizeof(auth), "%.*s,%.*s,%s", (int)c->cfb_len, c->client_first_bare, (int)len, msg,
                      without_proof);
    uint8_t sig[SCRAM_KEY_LEN], proof[SCRAM_KEY_LEN];
    bool ok = wp > 0 && (size_t)wp < sizeof(without_proof) && am > 0 && (size_t)am < sizeof(auth) &&
              hmac256(stored, SCRAM_KEY_LEN, auth, (size_t)am, sig) &&
              hmac256(sk, SCRAM_KEY_LEN, auth, (size_t)am, c->server_signature);
    for (int i = 0; ok && i < SCRAM_KEY_LEN; i++)
        proof[i] = ck[i] ^ sig[i];
    OPENSSL_cleanse(sp, sizeof(sp));
    OPENSSL_cleanse(ck, sizeof(ck));
    OPENSSL_cleanse(sk, sizeof(sk));
    char proof_b64[64];
    if (!ok || b64_encode(proof, SCRAM_KEY_LEN, proof_b64, sizeof(proof_b64)) == 0) {
        *err = "SCRAM computation failed";
        return false;
    }
    int w = snprintf(out, cap, "%s,p=%s", without_proof, proof_b64);
    if (w < 0 || (size_t)w >= cap) {
        *err = "output buffer too small";
        return false;
    }
    *out_len = (size_t)w;
    return true;
}

bool scram_client_verify(struct scram_client *c, const char *msg, size_t len, const char **err)
{
    if (c->step != 2) {
        *err = "unexpected SCRAM message";
        return false;
    }
    c->step = 3;
    if (len >= 2 && msg[0] == 'e' && msg[1] == '=') {
        *err = "server reported a SCRAM error";
        return false;
    }
    const char *v;
    size_t vlen;
    uint8_t sig[64];
    if (len < 2 || msg[0] != 'v' || !find_attr(msg, len, 'v', &v, &vlen) ||
        b64_decode(v, vlen, sig, sizeof(sig)) != SCRAM_KEY_LEN) {
        *err = "malformed SCRAM server-final-message";
        return false;
    }
    if (!scram_ct_equal(sig, c->server_signature, SCRAM_KEY_LEN)) {
        *err = "server signature does not match";
        return false;
    }
    return true;
}
