/* hba.h — access rules: the pg_hba.conf subset operators know (local, host, hostssl, hostnossl;
 * database; user; address; methods trust, md5, scram-sha-256, cert, reject), first match wins.
 * Pure: no event loop, no runtime; unit-tested and fuzzed. */
#ifndef WEDPOOL_HBA_H
#define WEDPOOL_HBA_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "cidr.h"

/* How a client reached us. */
enum hba_conn { HBA_CONN_LOCAL, HBA_CONN_HOST }; /* unix socket | TCP */

/* The first column of a rule. */
enum hba_type { HBA_LOCAL, HBA_HOST, HBA_HOSTSSL, HBA_HOSTNOSSL };

/* What a rule asks of a matching client. */
enum hba_method { HBA_NO_MATCH = -1, HBA_TRUST, HBA_MD5, HBA_SCRAM, HBA_CERT, HBA_REJECT };

#define HBA_NAME_MAX 64          /* PostgreSQL's NAMEDATALEN: longer names cannot match anything */

/* One item of a database or user column. */
struct hba_name {
    enum { HBA_NAME, HBA_ALL, HBA_SAMEUSER, HBA_REPLICATION } kind; /* keywords only when unquoted */
    char name[HBA_NAME_MAX];     /* HBA_NAME */
};

struct hba_rule {
    int line;                    /* in the file, for messages */
    enum hba_type type;
    size_t db_first, db_n;       /* the database column: names[db_first .. +db_n) */
    size_t user_first, user_n;   /* the user column */
    bool any_addr;               /* address "all" (host lines) */
    struct cidr addr;            /* host lines without any_addr */
    enum hba_method method;
};

struct hba_rules {
    struct hba_rule *rules;
    size_t nrules;
    struct hba_name *names;
    size_t nnames;
};

/* Parses the text of a file (len bytes, need not be NUL-terminated) into *out, which the caller
 * frees with hba_free. path names the file in errors. On failure returns false, leaves *out
 * empty and writes "PATH:LINE: PROBLEM" into err. */
bool hba_parse(const char *text, size_t len, const char *path, struct hba_rules *out, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Reads and parses the file at path (same contract; "PATH: cannot open: ..." if unreadable). */
bool hba_load(const char *path, struct hba_rules *out, char *err, size_t errlen) __attribute__((warn_unused_result));
void hba_free(struct hba_rules *r);

/* The method of the first rule that matches the connection (conn, tls; addr for HBA_CONN_HOST,
 * may be NULL for HBA_CONN_LOCAL), user and database; HBA_NO_MATCH if none does. *line (may be
 * NULL) is set to the matching rule's line, 0 when none matched. */
int hba_match(const struct hba_rules *r, enum hba_conn conn, bool tls, const struct sockaddr *addr, const char *user,
              const char *database, int *line);

/* "trust", "md5", "scram-sha-256", "cert", "reject"; "no match" for HBA_NO_MATCH. */
const char *hba_method_name(int method);

#endif
