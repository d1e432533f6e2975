/* fuzz_alert_channel.c — libFuzzer target: an [alert_channels] line (name, NUL, spec) and a
 * Retry-After value. A refused line leaves the list unchanged and says why; an accepted one must
 * format a valid request for a notice made of the same bytes (JSON bodies parse back). */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "channel_conf.h"
#include "format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *fake_env(const char *name)
{
    return strcmp(name, "SET") == 0 ? "https://example.com/x" : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char buf[4096];
    if (size >= sizeof(buf))
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    const char *name = buf;
    const char *spec = memchr(buf, '\0', size) != buf + size ? buf + strlen(buf) + 1 : "";
    (void)format_retry_after(spec, 1700000000);
    struct channel_conf_list l = {0};
    char err[512] = "";
    if (!channel_conf_parse(&l, name, spec, fake_env, err, sizeof(err))) {
        if (l.n != 0 || l.ch != NULL || err[0] == '\0')
            abort();
        return 0;
    }
    if (l.n != 1 || strchr(l.ch[0].shown, '\n') != NULL)
        abort();
    struct alert_notice n;
    memset(&n, 0, sizeof(n));
    snprintf(n.key, sizeof(n.key), "%s", name);
    snprintf(n.summary, sizeof(n.summary), "%s", spec);
    snprintf(n.details, sizeof(n.details), "%s", spec);
    snprintf(n.weddings, sizeof(n.weddings), "%s", spec);
    snprintf(n.actions, sizeof(n.actions), "%s", spec);
    n.severity = (enum alert_severity)(size % SEV_COUNT);
    n.resolved = size & 1;
    struct format_env env = {.hostname = "fuzz", .now = 1700000000, .version = "fuzz"};
    for (int i = 0; i < format_request_count(&l.ch[0]); i++) {
        struct wire_request *r = malloc(sizeof(*r));
        if (r != NULL && format_request(&l.ch[0], &n, &env, i, r)) {
            if (r->body == NULL || r->body_len != strlen(r->body))
                abort();
            if (!r->smtp && l.ch[0].type != CH_TWILIO) {
                json_t *j = json_loads(r->body, 0, NULL);
                if (j == NULL)
                    abort(); /* the JSON built must parse */
                json_decref(j);
            }
            wire_request_free(r);
        }
        free(r);
    }
    channel_conf_free(&l);
    return 0;
}
