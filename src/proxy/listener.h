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
/* Times accepting was paused because accept() ran out of descriptors or kernel memory. */
uint64_t listener_accept_pauses(void);

#endif
