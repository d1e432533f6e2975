/* fuzz_pin.c — libFuzzer target: the session-state classifier (pin.c). The pre-check must never
 * read outside its (not NUL-terminated) input, the parser's verdict must be well-formed, and above
 * all the pre-check must never miss a statement the parser says creates state: that would be a
 * leak between clients in transaction mode. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* exactly size bytes, no terminator: the pre-check honours the length */
    char *raw = malloc(size > 0 ? size : 1);
    if (raw == NULL)
        return 0;
    memcpy(raw, data, size);
    (void)pin_precheck(raw, size);
    free(raw);

    /* the text up to the first NUL, as a Query or Parse carries it */
    size_t len = strnlen((const char *)data, size);
    char *text = malloc(len + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, len);
    text[len] = '\0';
    bool maybe = pin_precheck(text, len);
    struct pin_verdict v;
    if (pin_classify(text, &v)) {
        if (v.parse_error && (v.pins != 0 || v.releases != 0))
            abort();
        if ((v.pins & ~((1u << PIN_KINDS) - 1)) != 0 || (v.pins != 0) != (v.what[0] != '\0'))
            abort();
        if (memchr(v.what, '\0', sizeof(v.what)) == NULL)
            abort();
        if (v.reserved && !pin_reserved_precheck(text, len)) {
            fprintf(stderr, "reserved pre-check missed: %s\n", text);
            abort();
        }
        if (((v.pins | v.releases) != 0 || v.reserved || v.carry_name != NULL) && !maybe) {
            fprintf(stderr, "pre-check missed state: %s (%s)\n", text, v.what);
            abort();
        }
    }
    char names[128];
    pin_mask_text(v.pins, names, sizeof(names));
    free(text);
    return 0;
}
