/* readfile.c — a whole (small) file into memory. */
#include "readfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *read_whole_file(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    if (buf == NULL)
        snprintf(err, errlen, "%s: out of memory", path);
    while (buf != NULL) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap || ferror(f))
            break;
        if (cap >= max) {
            snprintf(err, errlen, "%s: larger than %zu bytes", path, max);
            free(buf);
            buf = NULL;
            break;
        }
        char *more = realloc(buf, cap * 2);
        if (more == NULL) {
            free(buf);
            buf = NULL;
            snprintf(err, errlen, "%s: out of memory", path);
            break;
        }
        buf = more;
        cap *= 2;
    }
    if (buf != NULL && ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = n;
    return buf;
}
