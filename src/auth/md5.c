/* md5.c — PostgreSQL's md5 password scheme. MD5 is broken as a hash; it is here only because
 * PostgreSQL servers and clients still speak it. */
#include "md5.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

static void to_hex(const unsigned char d[16], char out[33])
{
    static const char hexdig[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hexdig[d[i] >> 4];
        out[2 * i + 1] = hexdig[d[i] & 15];
    }
    out[32] = '\0';
}

/* out = hex(md5(a || b)). The functions in md5.h cannot report failure, and any fixed "error"
 * value is something a client could send back, so if MD5 is unavailable (a FIPS-only OpenSSL
 * configuration, say) the answer is random: nobody can match it and the login fails closed. */
static void md5_hex(const void *a, size_t alen, const void *b, size_t blen, char out[33])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1 && EVP_DigestUpdate(ctx, a, alen) == 1 &&
              EVP_DigestUpdate(ctx, b, blen) == 1 && EVP_DigestFinal_ex(ctx, d, &n) == 1 && n == 16;
    EVP_MD_CTX_free(ctx);
    if (!ok && RAND_bytes(d, 16) != 1)
        abort(); /* neither MD5 nor the CSPRNG works: nothing safe to return */
    to_hex(d, out);
}

void md5_password_hash(const char *password, const char *user, char out[MD5_PASSWD_LEN + 1])
{
    memcpy(out, "md5", 3);
    md5_hex(password, strlen(password), user, strlen(user), out + 3);
}

void md5_salted_response(const char *stored, const uint8_t salt[4], char out[MD5_PASSWD_LEN + 1])
{
    memcpy(out, "md5", 3);
    /* hash the 32 hex digits of the stored form, without its "md5" prefix; a malformed stored
     * value (never produced by md5_password_hash) must not be read past its end */
    if (!md5_is_secret(stored)) {
        unsigned char d[16];
        if (RAND_bytes(d, sizeof(d)) != 1)
            abort();
        to_hex(d, out + 3);
        return;
    }
    md5_hex(stored + 3, 32, salt, 4, out + 3);
}

bool md5_is_secret(const char *s)
{
    if (s == NULL || strncmp(s, "md5", 3) != 0 || strnlen(s, MD5_PASSWD_LEN + 1) != MD5_PASSWD_LEN)
        return false;
    for (int i = 3; i < MD5_PASSWD_LEN; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}
