/* fuzz_hosts.c — libFuzzer target: host= and port= values of a [databases] line ("hosts\nports").
 * Whatever is accepted has 1..WP_MAX_HOSTS non-empty host names and ports in 1..65535; whatever is
 * refused says why. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char text[1024];
    if (size >= sizeof(text))
        size = sizeof(text) - 1;
    memcpy(text, data, size);
    text[size] = '\0';
    char *ports = strchr(text, '\n');
    if (ports != NULL)
        *ports++ = '\0';
    else
        ports = text + size;
    struct wp_database db;
    memset(&db, 0, sizeof(db));
    char err[300] = "";
    if (!config_split_hosts(&db, text, ports, err, sizeof(err))) {
        if (err[0] == '\0')
            abort();
        return 0;
    }
    if (db.nhosts < 1 || db.nhosts > WP_MAX_HOSTS || db.port != db.hosts[0].port)
        abort();
    for (int i = 0; i < db.nhosts; i++) {
        size_t n = strnlen(db.hosts[i].name, WP_HOST_MAX);
        if (n == 0 || n >= WP_HOST_MAX || db.hosts[i].port < 1 || db.hosts[i].port > 65535)
            abort();
    }
    return 0;
}
