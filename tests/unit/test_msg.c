/* test_msg.c — the message iterator: whole, partial and malformed messages, startup packets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "msg.h"

static void test_whole_and_partial(void **state)
{
    (void)state;
    /* Query "select 1" (length 13) followed by the start of a Sync */
    const uint8_t buf[] = {'Q', 0, 0, 0, 13, 's', 'e', 'l', 'e', 'c', 't', ' ', '1', 0, 'S', 0, 0};
    struct msg m;
    assert_int_equal(msg_next(buf, sizeof(buf), 1 << 20, &m), MSG_OK);
    assert_int_equal(m.type, 'Q');
    assert_int_equal(m.total, 14);
    assert_true(m.whole);
    assert_int_equal(m.have, 9);
    assert_int_equal(msg_body_len(&m), 9);
    assert_memory_equal(m.body, "select 1", 9);
    /* the next one has only 3 header bytes */
    assert_int_equal(msg_next(buf + 14, sizeof(buf) - 14, 1 << 20, &m), MSG_NEED_MORE);
    /* a message cut in its body: the header is known, the body streams */
    assert_int_equal(msg_next(buf, 8, 1 << 20, &m), MSG_OK);
    assert_false(m.whole);
    assert_int_equal(m.have, 3);
    assert_int_equal(m.total, 14);
}

static void test_bad_lengths(void **state)
{
    (void)state;
    const uint8_t short_len[] = {'Z', 0, 0, 0, 3};
    const uint8_t huge[] = {'D', 0x7f, 0xff, 0xff, 0xff};
    const uint8_t empty[] = {'S', 0, 0, 0, 4};
    struct msg m;
    assert_int_equal(msg_next(short_len, sizeof(short_len), 1 << 20, &m), MSG_BAD_LEN);
    assert_int_equal(msg_next(huge, sizeof(huge), 1 << 20, &m), MSG_TOO_LONG);
    assert_int_equal(msg_next(empty, sizeof(empty), 1 << 20, &m), MSG_OK);
    assert_true(m.whole);
    assert_int_equal(msg_body_len(&m), 0);
    assert_int_equal(msg_next(empty, 0, 1 << 20, &m), MSG_NEED_MORE);
}

static void test_startup(void **state)
{
    (void)state;
    const uint8_t ssl[] = {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f};
    /* a startup packet and a Terminate in one write: the Terminate is not a second startup packet */
    const uint8_t term_as_startup[] = {'X', 0, 0, 0, 4};
    const uint8_t tiny[] = {0, 0, 0, 7};
    uint32_t total = 0;
    assert_int_equal(msg_next_startup(ssl, sizeof(ssl), 10000, &total), MSG_OK);
    assert_int_equal(total, 8);
    assert_int_equal(msg_next_startup(ssl, 3, 10000, &total), MSG_NEED_MORE);
    assert_int_equal(msg_next_startup(term_as_startup, sizeof(term_as_startup), 10000, &total), MSG_TOO_LONG);
    assert_int_equal(msg_next_startup(tiny, sizeof(tiny), 10000, &total), MSG_BAD_LEN);
}

static void test_frontend_types(void **state)
{
    (void)state;
    const char *ok = "QPBEDCSHFXdcf";
    for (int t = 0; t < 256; t++)
        assert_int_equal(msg_frontend_type_ok((uint8_t)t), t != 0 && strchr(ok, t) != NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_and_partial),
        cmocka_unit_test(test_bad_lengths),
        cmocka_unit_test(test_startup),
        cmocka_unit_test(test_frontend_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
