/* test_log.c — log_escape: a log line stays one line whatever a peer puts in a value. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"

/* Escapes the whole of src (length given, so NULs and invalid bytes can be tested) into a large
 * buffer and compares with want. */
static void check(const char *src, size_t len, const char *want)
{
    char out[256];
    size_t n = log_escape(out, sizeof(out), src, len);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
}

#define CHECK(lit, want) check(lit, sizeof(lit) - 1, want)

static void test_plain_text_unchanged(void **state)
{
    (void)state;
    CHECK("", "");
    CHECK("client app@appdb: login failed (28P01)", "client app@appdb: login failed (28P01)");
}

static void test_line_breaks_and_tabs(void **state)
{
    (void)state;
    CHECK("evil\nFAKE LOG LINE", "evil\\nFAKE LOG LINE");
    CHECK("db\r\nx", "db\\r\\nx");
    CHECK("a\tb", "a\\tb");
    /* a literal backslash is doubled, so "a\\n" (backslash, n) and "a<LF>" stay distinguishable */
    CHECK("a\\nb", "a\\\\nb");
}

static void test_other_controls_as_hex(void **state)
{
    (void)state;
    CHECK("\x01\x1b[31mred\x7f", "\\x01\\x1b[31mred\\x7f");
    CHECK("nul\0after", "nul\\x00after");
    CHECK("\x0b\x0c\x1f", "\\x0b\\x0c\\x1f");
}

static void test_valid_utf8_kept(void **state)
{
    (void)state;
    CHECK("Zoë 婚礼 🎉", "Zoë 婚礼 🎉");
    /* U+00A0 (first non-control after C1) and U+10FFFF (the last code point) are kept */
    CHECK("\xc2\xa0|\xf4\x8f\xbf\xbf", "\xc2\xa0|\xf4\x8f\xbf\xbf");
}

static void test_c1_controls_escaped(void **state)
{
    (void)state;
    /* U+0085 NEL is a line break for some viewers */
    CHECK("a\xc2\x85" "b\xc2\x9f", "a\\u0085b\\u009f");
}

static void test_invalid_utf8_as_hex(void **state)
{
    (void)state;
    CHECK("\x80", "\\x80");                           /* stray continuation byte */
    CHECK("\xc0\xaf", "\\xc0\\xaf");                  /* overlong '/' */
    CHECK("\xe0\x80\xaf", "\\xe0\\x80\\xaf");         /* overlong, three bytes */
    CHECK("\xed\xa0\x80", "\\xed\\xa0\\x80");         /* a UTF-16 surrogate */
    CHECK("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"); /* above U+10FFFF */
    CHECK("\xff", "\\xff");
    CHECK("ok\xe5\xa9", "ok\\xe5\\xa9");              /* cut short at the end */
    CHECK("\xe5\n\xa9", "\\xe5\\n\\xa9");             /* a newline inside a sequence is still escaped */
}

static void test_truncation_never_splits(void **state)
{
    (void)state;
    char out[8];
    /* cap 7 = 6 characters and the NUL: "ab", two 2-character escapes, then no room for 'c' */
    assert_int_equal(log_escape(out, 7, "ab\n\ncd", 6), 6);
    assert_string_equal(out, "ab\\n\\n");
    /* a \xNN escape that does not fit whole is left out */
    assert_int_equal(log_escape(out, 6, "abc\x01", 4), 3);
    assert_string_equal(out, "abc");
    /* neither is a UTF-8 character cut in two */
    assert_int_equal(log_escape(out, 5, "ab\xe5\xa9\x9a", 5), 2);
    assert_string_equal(out, "ab");
    /* cap 1 leaves room for the NUL only; cap 0 writes nothing */
    assert_int_equal(log_escape(out, 1, "x", 1), 0);
    assert_string_equal(out, "");
    out[0] = 'z';
    assert_int_equal(log_escape(out, 0, "x", 1), 0);
    assert_int_equal(out[0], 'z');
}

static void test_no_control_byte_survives(void **state)
{
    (void)state;
    /* every byte value, alone and after a lead byte: the output never has a byte < 0x20 or 0x7f */
    char src[2], out[32];
    for (int a = 0; a < 256; a++) {
        for (int b = 0; b < 256; b++) {
            src[0] = (char)a;
            src[1] = (char)b;
            size_t n = log_escape(out, sizeof(out), src, 2);
            for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)out[i];
                assert_true(c >= 0x20 && c != 0x7f);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_text_unchanged),    cmocka_unit_test(test_line_breaks_and_tabs),
        cmocka_unit_test(test_other_controls_as_hex),   cmocka_unit_test(test_valid_utf8_kept),
        cmocka_unit_test(test_c1_controls_escaped),     cmocka_unit_test(test_invalid_utf8_as_hex),
        cmocka_unit_test(test_truncation_never_splits), cmocka_unit_test(test_no_control_byte_survives),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
