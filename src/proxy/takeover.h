/* takeover.h — restarting wedpool without refusing a connection: a new process (`wedpool
 * --takeover`) receives the running one's listening sockets over a unix socket (SCM_RIGHTS); the
 * old one stops accepting, lets its clients' transactions finish and exits. docs/runbook.md. */
#ifndef WEDPOOL_TAKEOVER_H
#define WEDPOOL_TAKEOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* The takeover socket's path for cfg into out (sun_path sized): 1, or 0 when takeover is off
 * (takeover_socket = off, or neither pidfile nor unix_socket_dir to put it next to); -1 + err when
 * the path is too long. */
int takeover_path(const struct wp_config *cfg, char *out, size_t n, char *err, size_t errlen);

/* New process: asks the running one (on cfg's takeover socket) for its listening sockets and
 * accepts on them (listener_adopt, http_adopt). false + err: nothing to take over, or it refused. */
bool takeover_receive(const struct wp_config *cfg, char *err, size_t errlen);
/* New process, fully started: tells the old one to stop accepting. */
void takeover_commit(void);

/* Listens on the takeover socket (the one received, or a fresh one, mode 0600) for the next
 * takeover. false + err if another process answers on it or it cannot be created. */
bool takeover_listen(const struct wp_config *cfg, char *err, size_t errlen);
/* Closes the takeover socket; removes its file unless it was handed over. */
void takeover_stop(void);

/* Old process after the handover, from the janitor: closes clients between transactions and stops
 * the loop once none is left or shutdown_timeout_ms has passed. */
void takeover_drain_tick(uint64_t now);

#endif
