/* md5.h — PostgreSQL's md5 password scheme: "md5" + hex(md5(password || user)), salted per login. */
#ifndef WEDPOOL_MD5_H
#define WEDPOOL_MD5_H

#include <stdbool.h>
#include <stdint.h>

#define MD5_PASSWD_LEN 35 /* "md5" + 32 hex digits, without the NUL */

/* Stored form of a password: out = "md5" + hex(md5(password || user)), NUL-terminated. */
void md5_password_hash(const char *password, const char *user, char out[MD5_PASSWD_LEN + 1]);
/* What goes on the wire for AuthenticationMD5Password: "md5" + hex(md5(stored_hex || salt)),
 * where stored is the 35-character stored form above. */
void md5_salted_response(const char *stored, const uint8_t salt[4], char out[MD5_PASSWD_LEN + 1]);
/* True if s looks like a stored md5 secret ("md5" + 32 lowercase hex). */
bool md5_is_secret(const char *s);

#endif
