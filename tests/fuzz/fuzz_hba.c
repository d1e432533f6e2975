/* fuzz_hba.c — libFuzzer target: hba_file text. Whatever parses must match any client without
 * crashing, and a refused file must leave nothing allocated and say file:line. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hba.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hba_rules r;
    char err[512];
    if (!hba_parse((const char *)data, size, "hba.conf", &r, err, sizeof(err))) {
        if (r.rules != NULL || r.names != NULL || strncmp(err, "hba.conf:", 9) != 0)
            abort();
        return 0;
    }
    static const char *const addrs[] = {"127.0.0.1", "10.1.2.3", "::1", "::ffff:10.0.0.1", "2001:db8::1"};
    for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
        struct sockaddr_storage ss;
        const struct sockaddr *sa = cidr_sockaddr(addrs[i], &ss);
        for (int tls = 0; tls <= 1; tls++) {
            int line;
            int m = hba_match(&r, HBA_CONN_HOST, tls, sa, "app", "appdb", &line);
            if (m < HBA_NO_MATCH || m > HBA_REJECT || (m == HBA_NO_MATCH) != (line == 0))
                abort();
        }
    }
    int m = hba_match(&r, HBA_CONN_LOCAL, false, NULL, "all", "all", NULL);
    if (m == HBA_CERT) /* cert rules are hostssl-only */
        abort();
    (void)hba_method_name(m);
    hba_free(&r);
    return 0;
}
