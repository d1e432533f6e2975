/* passthrough.c — server logins without a plain password.
 *
 * md5: the stored secret md5(password || user) is all the md5 exchange needs, so an md5 secret in
 * auth_file (or from auth_query) answers a server's md5 request as the password would.
 *
 * SCRAM: a client's proof is ClientKey XOR HMAC(StoredKey, AuthMessage); having checked it, wedpool
 * knows ClientKey. With ClientKey and the secret's ServerKey, wedpool can run the client side of
 * another SCRAM exchange for the same user, provided the server stores the same secret (same salt
 * and iteration count): true when the auth_file secret is copied from pg_authid. The key lives in
 * the pool (one per database and server user) and is wiped when the user's secret changes. */
#include "passthrough.h"

#include <openssl/crypto.h>
#include <string.h>

#include "log.h"
#include "md5.h"
#include "scram.h"

static void wipe_key(struct pool *p)
{
    OPENSSL_cleanse(p->pt_client_key, sizeof(p->pt_client_key));
    p->pt_has_key = false;
}

static bool same_secret(const struct scram_secret *a, const struct scram_secret *b)
{
    return a->iterations == b->iterations && a->salt_len == b->salt_len &&
           CRYPTO_memcmp(a->salt, b->salt, a->salt_len) == 0 &&
           CRYPTO_memcmp(a->stored_key, b->stored_key, SCRAM_KEY_LEN) == 0 &&
           CRYPTO_memcmp(a->server_key, b->server_key, SCRAM_KEY_LEN) == 0;
}

bool passthrough_refresh(struct pool *p, const struct wp_user *u)
{
    if (u == NULL)
        return false; /* not in auth_file: what a client's login brought (auth_query) stays */
    bool changed = strcmp(p->md5_secret, u->md5) != 0;
    strlcpy_ok(p->md5_secret, u->md5, sizeof(p->md5_secret));
    bool scram_only = u->has_scram && u->password[0] == '\0';
    if (!scram_only) {
        changed = changed || p->pt_has_secret;
        wipe_key(p);
        OPENSSL_cleanse(&p->pt_secret, sizeof(p->pt_secret));
        p->pt_has_secret = false;
        return changed;
    }
    if (p->pt_has_secret && !same_secret(&p->pt_secret, &u->scram)) {
        log_info("pool %s/%s: the user's SCRAM secret changed: server logins wait for a client to log in "
                 "with it (SCRAM pass-through)", p->name, p->user);
        wipe_key(p);
        changed = true;
    }
    p->pt_secret = u->scram;
    p->pt_has_secret = true;
    return changed;
}

void passthrough_capture(struct pool *p, const char *client_user, const struct scram_server *scram,
                         const char *md5)
{
    if (strcmp(client_user, p->user) != 0)
        return; /* a forced server user (user= on the database line) is not the client's to prove */
    if (md5 != NULL && md5[0] != '\0' && p->md5_secret[0] == '\0')
        strlcpy_ok(p->md5_secret, md5, sizeof(p->md5_secret));
    uint8_t key[SCRAM_KEY_LEN];
    if (scram == NULL || !scram_server_client_key(scram, key))
        return;
    const struct scram_secret *sec = scram_server_secret(scram);
    if (p->pt_has_secret && !same_secret(&p->pt_secret, sec))
        wipe_key(p);
    if (!p->pt_has_key) {
        log_info("pool %s/%s: a client proved the SCRAM key: server logins can use it (SCRAM pass-through)",
                 p->name, p->user);
        p->last_fail_us = 0; /* a failure for want of the key is not this login's to inherit */
    }
    p->pt_secret = *sec;
    p->pt_has_secret = true;
    memcpy(p->pt_client_key, key, SCRAM_KEY_LEN);
    p->pt_has_key = true;
    OPENSSL_cleanse(key, sizeof(key));
}

bool passthrough_ready(const struct pool *p)
{
    return p->password[0] != '\0' || !p->pt_has_secret || p->pt_has_key;
}

const char *passthrough_unavailable(const struct pool *p, uint32_t code)
{
    if (p->password[0] != '\0')
        return NULL;
    if (code == 5 && p->md5_secret[0] != '\0')
        return NULL;
    if (code == 10 && p->pt_has_key)
        return NULL;
    if (code == 10 && p->pt_has_secret)
        return "no plain password: server logins need a client to log in first (SCRAM pass-through)";
    if (code == 3)
        return "the server asks for a cleartext password and none is configured (set password= on the "
               "database line or give the user a plain password in auth_file)";
    return "the server asks for a password and none is configured (set password= on the database line, give "
           "the user a plain password in auth_file, or its SCRAM secret from pg_authid for pass-through)";
}

struct scram_client *passthrough_scram_client(const struct pool *p)
{
    if (p->password[0] != '\0')
        return scram_client_new(p->password);
    return p->pt_has_key ? scram_client_new_keys(p->pt_client_key, &p->pt_secret) : NULL;
}

void passthrough_md5_secret(const struct pool *p, char out[MD5_PASSWD_LEN + 1])
{
    if (p->password[0] != '\0')
        md5_password_hash(p->password, p->user, out);
    else
        strlcpy_ok(out, p->md5_secret, MD5_PASSWD_LEN + 1);
}
