/* client_hba.h — hba_file applied to a logging-in client: which authentication it gets, or its refusal. */
#ifndef WEDPOOL_CLIENT_HBA_H
#define WEDPOOL_CLIENT_HBA_H

#include "objects.h"

/* With hba_file configured: the first rule matching the client (unix socket → local lines, TCP →
 * host/hostnossl, and hostssl when TLS), its user and database. Returns the enum wp_auth_type the
 * client authenticates with (cert, once the certificate's CN is the user: AUTH_TRUST), or -1 after
 * refusing the client with 28000 in PostgreSQL's words (no matching rule, reject, failed cert).
 * Without hba_file: auth_type. */
int client_hba_auth_type(struct client *c);

#endif
