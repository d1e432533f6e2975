/* plan_tool.c — the stand-alone `wedpool-plan` driver of plan.c, until `wedpool plan` is wired
 * into main.c. */
#include "plan.h"

int main(int argc, char **argv)
{
    return plan_main(argc, argv);
}
