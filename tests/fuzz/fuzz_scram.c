/* fuzz_scram.c — libFuzzer target: every SCRAM message parser on both sides, plus secret parsing.
 * The first byte picks the mode; the rest is split at the first NUL into two messages. Each message
 * is copied into a buffer of exactly its length so ASan catches any read past it. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "md5.h"
#include "scram.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
void scram_test_set_nonce(const char *nonce); /* test hook in scram.c */

static char *exact(const uint8_t *p, size_t len)
{
    char *m = malloc(len ? len : 1);
    if (m == NULL)
        abort();
    memcpy(m, p, len);
    return m;
}

/* PBKDF2 with a fuzzer-chosen count would make slow inputs, not bugs: skip counts above 64. */
static bool cheap_iterations(const char *m, size_t len)
{
    for (size_t i = 0; i + 2 < len; i++) {
        if (m[i] == 'i' && m[i + 1] == '=' && (i == 0 || m[i - 1] == ',')) {
            size_t j = i + 2, digits = 0;
            unsigned long v = 0;
            while (j < len && m[j] >= '0' && m[j] <= '9' && digits < 12) {
                v = v * 10 + (unsigned long)(m[j] - '0');
                j++;
                digits++;
            }
            if (v > 64)
                return false;
        }
    }
    return true;
}

static void server_side(const struct scram_secret *sec, const char *a, size_t alen, const char *b, size_t blen,
                        bool templated)
{
    struct scram_server *s = scram_server_new(sec);
    char out[2048];
    size_t n = 0;
    const char *err = NULL;
    if (scram_server_first(s, a, alen, out, sizeof(out), &n, &err)) {
        if (n > sizeof(out))
            abort();
        char *fin;
        size_t flen;
        if (templated) {
            /* reach the proof check: a correct binding and nonce, then fuzzer bytes */
            const char *comma = memchr(out, ',', n);
            size_t nlen = (size_t)(comma - out) - 2;
            flen = 7 + 2 + nlen + blen;
            fin = malloc(flen);
            if (fin == NULL)
                abort();
            memcpy(fin, a[0] == 'y' ? "c=eSws," : "c=biws,", 7);
            memcpy(fin + 7, out, 2 + nlen);
            memcpy(fin + 9 + nlen, b, blen);
        } else {
            fin = exact((const uint8_t *)b, blen);
            flen = blen;
        }
        err = NULL;
        if (scram_server_final(s, fin, flen, out, sizeof(out), &n, &err)) {
            if (n > sizeof(out) || n < 2 || memcmp(out, "v=", 2) != 0)
                abort();
        } else if (err == NULL) {
            abort();
        }
        free(fin);
    } else if (err == NULL) {
        abort();
    }
    scram_server_free(s);
}

static void client_side(const char *a, size_t alen, const char *b, size_t blen)
{
    if (!cheap_iterations(a, alen))
        return;
    struct scram_client *c = scram_client_new("fuzz");
    char out[2048];
    size_t n = 0;
    const char *err = NULL;
    /* a fixed client nonce ("fz") lets the fuzzer get past the nonce check to salt and count */
    scram_test_set_nonce("fz");
    bool first = scram_client_first(c, out, sizeof(out), &n);
    scram_test_set_nonce(NULL);
    if (!first)
        abort();
    if (scram_client_final(c, a, alen, out, sizeof(out), &n, &err)) {
        if (n > sizeof(out))
            abort();
        err = NULL;
        if (!scram_client_verify(c, b, blen, &err) && err == NULL)
            abort();
    } else if (err == NULL) {
        abort();
    }
    scram_client_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct scram_secret sec;
    static bool have_secret;
    if (!have_secret) {
        have_secret = scram_secret_from_salt("pencil", (const uint8_t *)"0123456789abcdef", 16, 16, &sec);
        if (!have_secret)
            abort();
    }
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    data++;
    size--;
    const uint8_t *nul = memchr(data, 0, size);
    size_t alen = nul ? (size_t)(nul - data) : size;
    size_t blen = nul ? size - alen - 1 : 0;
    char *a = exact(data, alen);
    char *b = exact(nul ? nul + 1 : data + size, blen);

    switch (mode % 4) {
    case 0:
        server_side(&sec, a, alen, b, blen, false);
        break;
    case 1:
        server_side(&sec, a, alen, b, blen, true);
        break;
    case 2:
        client_side(a, alen, b, blen);
        break;
    default: {
        char *text = malloc(alen + 1);
        if (text == NULL)
            abort();
        memcpy(text, a, alen);
        text[alen] = '\0';
        struct scram_secret parsed;
        if (scram_parse_secret(text, &parsed) &&
            (parsed.salt_len == 0 || parsed.salt_len > SCRAM_MAX_SALT || parsed.iterations < 1))
            abort();
        if (md5_is_secret(text)) {
            char resp[MD5_PASSWD_LEN + 1];
            static const uint8_t salt[4] = {1, 2, 3, 4};
            md5_salted_response(text, salt, resp);
        }
        free(text);
        break;
    }
    }
    free(a);
    free(b);
    return 0;
}
