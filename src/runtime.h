/* runtime.h — process-wide state: the running configuration and the daemon's mode flags.
 * Written only by main.c (start, reload, signals) and admin.c (PAUSE/RESUME/SHUTDOWN). */
#ifndef WEDPOOL_RUNTIME_H
#define WEDPOOL_RUNTIME_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "config.h"

struct runtime {
    struct wp_config cfg;
    bool paused;               /* PAUSE: no server is handed out until RESUME */
    bool shutting_down;        /* SIGTERM / SHUTDOWN: finish transactions, then exit */
    uint64_t shutdown_deadline_us;
    bool handed_over;          /* takeover: a new process accepts on our sockets; we finish our clients'
                                * transactions (until shutdown_deadline_us) and exit, removing no file */
    uint64_t start_us;
    time_t start_wall;
    uint64_t reloads;
    uint64_t reload_failures;
    /* Filled by the wedding calendar (a later module); until then no boosts apply. */
    bool wedding_day;
    int active_weddings;
};

extern struct runtime rt;

/* Reloads the config file; on error keeps the running config and writes the reason into err. */
bool runtime_reload(char *err, size_t errlen);
/* Starts a graceful shutdown (idempotent). */
void runtime_begin_shutdown(const char *why);
/* Stops the loop now. */
void runtime_stop_now(void);

#endif
