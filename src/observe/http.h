/* http.h — the HTTP endpoint (/metrics, JSON API, health) on the loop, off the data path. */
#ifndef WEDPOOL_HTTP_H
#define WEDPOOL_HTTP_H

#include <stdbool.h>

/* listen is "host:port" ("" = disabled). false + logged reason if it cannot listen. */
bool http_start(const char *listen);
void http_stop(void);
/* Takeover: serves HTTP on a listening socket received from the previous process (listen: for the log). */
bool http_adopt(int fd, const char *listen);
/* The listening socket's descriptor, -1 when HTTP is off. */
int http_listen_fd(void);
/* The socket went to a new process: accept no more connections (those in progress finish). */
void http_stop_accepting(void);

#endif
