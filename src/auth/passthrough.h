/* passthrough.h — server logins without a plain password: md5 with the stored md5 secret, and SCRAM
 * with the ClientKey a client proved (PgBouncer's SCRAM pass-through). */
#ifndef WEDPOOL_PASSTHROUGH_H
#define WEDPOOL_PASSTHROUGH_H

#include <stdbool.h>
#include <stdint.h>

#include "objects.h"

/* The pool's server user is (now) user u of auth_file (NULL: not there, e.g. found by auth_query).
 * Takes its md5 secret and SCRAM secret; a ClientKey proven against a different secret is wiped.
 * Returns true when the credentials changed (servers logged in with the old ones are replaced). */
bool passthrough_refresh(struct pool *p, const struct wp_user *u);
/* A client logged in as client_user with secrets scram (SCRAM exchange, may be NULL) and md5 (may
 * be NULL or ""): if it is the pool's server user, remember what lets wedpool log in as it. */
void passthrough_capture(struct pool *p, const char *client_user, const struct scram_server *scram,
                         const char *md5);
/* False while the pool can only log in with a ClientKey no client has proven yet: pre-warming
 * waits for the first client instead of failing. */
bool passthrough_ready(const struct pool *p);
/* Why a server asking for authentication method code cannot be answered (NULL: it can). */
const char *passthrough_unavailable(const struct pool *p, uint32_t code);
/* A SCRAM client for the pool's server login: the plain password, else the proven ClientKey. */
struct scram_client *passthrough_scram_client(const struct pool *p);
/* The md5 secret ("md5" + hex) to answer an md5 request with: from the plain password, else stored. */
void passthrough_md5_secret(const struct pool *p, char out[MD5_PASSWD_LEN + 1]);

#endif
