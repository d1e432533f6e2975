/* md5.c — PostgreSQL's md5 password scheme. MD5 is broken as a hash; it is here only because
 * PostgreSQL servers and clients still speak it. */
#include "md5.h"

#include <openssl/evp.h>
#include <string.h>

static void md5_hex(const void *a, size_t alen, const void *b, size_t blen, char out[33])
{
    static const char hexdig[] = "0123456789abcdef";
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_md5(), NULL) != 1 || EVP_DigestUpdate(ctx, a, alen) != 1 ||
        EVP_DigestUpdate(ctx, b, blen) != 1 || EVP_DigestFinal_ex(ctx, d, &n) != 1 || n != 16) {
        /* Never a valid answer: authentication with it fails. */
        memset(out, 'x', 32);
        out[32] = '\0';
        EVP_MD_CTX_free(ctx);
        return;
    }
    EVP_MD_CTX_free(ctx);
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hexdig[d[i] >> 4];
        out[2 * i + 1] = hexdig[d[i] & 15];
    }
    out[32] = '\0';
}

void md5_password_hash(const char *password, const char *user, char out[MD5_PASSWD_LEN + 1])
{
    memcpy(out, "md5", 3);
    md5_hex(password, strlen(password), user, strlen(user), out + 3);
}

void md5_salted_response(const char *stored, const uint8_t salt[4], char out[MD5_PASSWD_LEN + 1])
{
    memcpy(out, "md5", 3);
    md5_hex(stored + 3, 32, salt, 4, out + 3);
}

bool md5_is_secret(const char *s)
{
    if (strncmp(s, "md5", 3) != 0 || strlen(s) != MD5_PASSWD_LEN)
        return false;
    for (int i = 3; i < MD5_PASSWD_LEN; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}
