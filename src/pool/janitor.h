/* janitor.h — periodic maintenance: timeouts, pool sizing, stats periods, shutdown progress. */
#ifndef WEDPOOL_JANITOR_H
#define WEDPOOL_JANITOR_H

void janitor_start(void);
void janitor_stop(void);

#endif
