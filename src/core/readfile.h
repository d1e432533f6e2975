/* readfile.h — a whole (small) file into memory. Pure: no event loop. */
#ifndef WEDPOOL_READFILE_H
#define WEDPOOL_READFILE_H

#include <stddef.h>

/* The file's bytes (malloc'd, not NUL-terminated; free them) and *len; NULL with
 * "PATH: cannot open: ...", "PATH: larger than MAX bytes", "PATH: out of memory" or
 * "PATH: read error" in err. */
char *read_whole_file(const char *path, size_t max, size_t *len, char *err, size_t errlen);

#endif
