/* client_hba.c — hba_file applied to a logging-in client. The refusals are PostgreSQL 15's
 * (src/backend/libpq/auth.c), word for word, so tools and people that know them recognise them. */
#include "client_hba.h"

#include "tls.h"

#include <string.h>

#include "cidr.h"
#include "client.h"
#include "hba.h"
#include "log.h"
#include "runtime.h"

int client_hba_auth_type(struct client *c)
{
    const struct wp_config *cfg = &rt.cfg;
    if (cfg->hba_file[0] == '\0')
        return cfg->auth_type;
    struct sockaddr_storage ss;
    const struct sockaddr *sa = cidr_sockaddr(c->addr, &ss); /* NULL: a unix-socket client */
    bool tls = client_is_tls(c);
    int line;
    int method = hba_match(&cfg->hba, sa != NULL ? HBA_CONN_HOST : HBA_CONN_LOCAL, tls, sa, c->user, c->database,
                           &line);
    const char *host = sa != NULL ? c->addr : "[local]";
    const char *encryption = tls ? "SSL encryption" : "no encryption";
    if (method != HBA_NO_MATCH)
        log_debug("client %u (%s:%u %s/%s): %s line %d: %s", c->id, c->addr, c->port, c->database, c->user,
                  cfg->hba_file, line, hba_method_name(method));
    switch (method) {
    case HBA_TRUST:
        return AUTH_TRUST;
    case HBA_MD5:
        return AUTH_MD5;
    case HBA_SCRAM:
        return AUTH_SCRAM;
    case HBA_CERT: {
        char cn[WP_NAME_MAX];
        if (client_cert_cn(c, cn, sizeof(cn))) {
            if (strcmp(cn, c->user) == 0)
                return AUTH_TRUST; /* the certificate was the authentication */
            log_info("client %u (%s:%u): certificate CN \"%s\" is not the user name \"%s\"", c->id, c->addr, c->port,
                     cn, c->user);
        }
        client_fail(c, "28000", "certificate authentication failed for user \"%s\"", c->user);
        return -1;
    }
    case HBA_REJECT:
        client_fail(c, "28000", "pg_hba.conf rejects connection for host \"%s\", user \"%s\", database \"%s\", %s", host,
                    c->user, c->database, encryption);
        return -1;
    default:
        client_fail(c, "28000", "no pg_hba.conf entry for host \"%s\", user \"%s\", database \"%s\", %s", host,
                    c->user, c->database, encryption);
        return -1;
    }
}

/* The client's TLS state, as hba rules see it: hostssl lines and the cert method. */
bool client_is_tls(const struct client *c)
{
    return c->conn.ssl != NULL;
}

bool client_cert_cn(struct client *c, char *cn, size_t n)
{
    return tls_peer_cn(&c->conn, cn, n);
}
