/* listener.h — listening sockets (TCP and unix) and accepting clients. */
#ifndef WEDPOOL_LISTENER_H
#define WEDPOOL_LISTENER_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

/* Opens the TCP and unix sockets the config asks for; false + a logged reason on failure. */
bool listener_start(const struct wp_config *cfg);
/* Stops accepting and closes the sockets (the unix socket file is removed). */
void listener_stop(void);
/* The listening sockets, for a takeover: up to max descriptors and their unix socket paths ("" for
 * TCP); returns the count. */
int listener_sockets(int *fds, const char **unix_paths, int max);
/* Accepts on a listening socket received from the process this one takes over. */
bool listener_adopt(int fd, const char *unix_path);
int listener_count(void);
/* Another process took the sockets over: stop accepting, close our descriptors, remove nothing. */
void listener_handover(void);
/* Times accepting was paused because accept() ran out of descriptors or kernel memory. */
uint64_t listener_accept_pauses(void);

#endif
