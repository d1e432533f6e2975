/* fuzz_startup.c — libFuzzer target: startup packets, error bodies and startup options. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "params.h"
#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool sink(void *arg, const char *name, const char *value)
{
    struct param_list *l = arg;
    return params_set(l, name, value);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct startup_packet sp;
    const char *err = NULL;
    if (proto_parse_startup(data, size, &sp, &err)) {
        for (int i = 0; i < sp.nparams; i++) {
            /* every pointer must lie inside the input */
            if ((const uint8_t *)sp.params[i].name < data || (const uint8_t *)sp.params[i].value >= data + size)
                abort();
        }
        const char *opt = startup_get(&sp, "options");
        if (opt != NULL) {
            struct param_list l = {0};
            params_parse_options(opt, sink, &l);
            params_free(&l);
        }
    }
    struct error_fields ef;
    proto_parse_error(data, size, &ef);
    return 0;
}
