/* http.h — the HTTP endpoint (/metrics, JSON API, health) on the loop, off the data path. */
#ifndef WEDPOOL_HTTP_H
#define WEDPOOL_HTTP_H

#include <stdbool.h>

/* listen is "host:port" ("" = disabled). false + logged reason if it cannot listen. */
bool http_start(const char *listen);
void http_stop(void);

#endif
