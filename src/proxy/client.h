/* client.h — client connections: startup, authentication, relaying queries to the server. */
#ifndef WEDPOOL_CLIENT_H
#define WEDPOOL_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "objects.h"

void client_accept(int fd, const struct sockaddr *sa, socklen_t salen);
/* Sends a FATAL error (sqlstate NULL = none) and closes the client at a safe point. */
void client_fail(struct client *c, const char *sqlstate, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Closes without a message (the peer left or sent Terminate). */
void client_close(struct client *c);
/* A waiting client got its server: resume relaying its buffered messages. */
void client_server_assigned(struct client *c);
/* The server judged the client's startup parameters (its SETs were answered): finish the login or
 * refuse the client with the server's error. */
void client_login_check_done(struct client *c);
/* Login completes: AuthenticationOk was sent; now the welcome parameters and ReadyForQuery. */
void client_finish_login(struct client *c);
/* Sends what is queued in c->conn.out; closes the client on a write error. */
void client_flush(struct client *c);
/* Finds a client by the key it was given, for CancelRequest. */
struct client *client_by_cancel_key(uint32_t pid, uint32_t key);
/* Is the client's connection TLS? Provided by the TLS work (placeholder: false). */
bool client_is_tls(const struct client *c);
/* The CN of the client's TLS certificate, if it sent one that verified against client_tls_ca_file:
 * true with the CN in cn (n bytes). Provided by the TLS work (placeholder: false). */
bool client_cert_cn(struct client *c, char *cn, size_t n);

#endif
