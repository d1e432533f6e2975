/* plan.h — `wedpool plan`: the capacity plan for the days ahead (the Thursday before a big
 * Saturday), read from the configuration, the calendars and the forecast without starting the
 * proxy: hour by hour, the weddings, the multiplier, each pool's predicted connections and warm
 * target, the PostgreSQL max_connections needed and what the ceilings cut. Text on stdout, and
 * optionally JSON and an SVG chart. */
#ifndef WEDPOOL_PLAN_H
#define WEDPOOL_PLAN_H

/* Exit statuses. */
#define PLAN_EXIT_OK 0        /* the plan fits */
#define PLAN_EXIT_CONFIG 1    /* bad configuration, unreadable calendar, output not written */
#define PLAN_EXIT_USAGE 2     /* bad command line */
#define PLAN_EXIT_OVER 3      /* some hour needs more than the capacity: gate a deployment on it */

/* argv[0] is the command's name ("plan"); the options follow:
 *   -c FILE [--from YYYY-MM-DD] [--days N] [--json FILE] [--svg FILE] [--calendar NAME=PATH]...
 *   [--timezone ZONE] [--max-connections N] [--superuser-reserved N]
 * main.c calls plan_main(argc - 1, argv + 1) when argv[1] is "plan". */
int plan_main(int argc, char **argv);

#endif
