/* test_hba.c — access rules: every column form, first match wins, IPv4/IPv6 networks, hostssl and
 * hostnossl with TLS on and off, local lines, reject, and lines that are refused with file:line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <unistd.h>

#include "hba.h"

static struct sockaddr_storage addr_ss;

/* A client address (numeric v4 or v6). */
static const struct sockaddr *ip(const char *text)
{
    const struct sockaddr *sa = cidr_sockaddr(text, &addr_ss);
    assert_non_null(sa);
    return sa;
}

static void parse_ok(const char *text, struct hba_rules *r)
{
    char err[512] = "";
    if (!hba_parse(text, strlen(text), "hba.conf", r, err, sizeof(err)))
        fail_msg("unexpected error: %s", err);
}

static void expect_error(const char *text, const char *fragment)
{
    struct hba_rules r;
    char err[512] = "";
    assert_false(hba_parse(text, strlen(text), "hba.conf", &r, err, sizeof(err)));
    assert_int_equal(r.nrules, 0);
    assert_null(r.rules);
    if (strstr(err, fragment) == NULL)
        fail_msg("error \"%s\" does not contain \"%s\"", err, fragment);
}

/* A TCP client without TLS. */
static int host(const struct hba_rules *r, const char *addr, const char *user, const char *db)
{
    return hba_match(r, HBA_CONN_HOST, false, ip(addr), user, db, NULL);
}

static void test_columns(void **state)
{
    (void)state;
    struct hba_rules r;
    parse_ok("# TYPE  DATABASE        USER            ADDRESS                 METHOD\n"
             "\n"
             "   \t\n"
             "host    appdb,otherdb   app,\"Mixed Case\"  10.0.0.0/8          md5   # trailing comment\n"
             "host    \"all\"           all             192.168.1.0  255.255.255.0  scram-sha-256\n"
             "host    sameuser        all             all                     trust\n"
             "host    all             \"with \"\"quote\"\"\", app2   172.16.0.0/12   reject\n"
             "local   wedpool         postgres                                trust\n",
             &r);
    assert_int_equal(r.nrules, 5);
    assert_int_equal(r.rules[0].line, 4);
    assert_int_equal(r.rules[4].line, 8);
    /* comma lists in both name columns */
    assert_int_equal(host(&r, "10.1.2.3", "app", "appdb"), HBA_MD5);
    assert_int_equal(host(&r, "10.1.2.3", "app", "otherdb"), HBA_MD5);
    assert_int_equal(host(&r, "10.1.2.3", "Mixed Case", "appdb"), HBA_MD5);
    assert_int_equal(host(&r, "10.1.2.3", "mixed case", "appdb"), HBA_NO_MATCH); /* names are case-sensitive */
    /* quoted "all" is a database called all, not the keyword */
    assert_int_equal(host(&r, "192.168.1.77", "x", "all"), HBA_SCRAM);
    assert_int_equal(host(&r, "192.168.1.77", "x", "appdb"), HBA_NO_MATCH);
    /* address + mask column */
    assert_int_equal(host(&r, "192.168.2.1", "x", "all"), HBA_NO_MATCH);
    /* sameuser: the database named like the user, from any address */
    assert_int_equal(host(&r, "8.8.8.8", "bob", "bob"), HBA_TRUST);
    assert_int_equal(host(&r, "::1", "bob", "bob"), HBA_TRUST);
    /* "" inside quotes is a literal quote */
    assert_int_equal(host(&r, "172.20.0.1", "with \"quote\"", "x"), HBA_REJECT);
    assert_int_equal(host(&r, "172.20.0.1", "app2", "x"), HBA_REJECT);
    /* local lines match only unix-socket clients; the console database is a name like any other */
    assert_int_equal(hba_match(&r, HBA_CONN_LOCAL, false, NULL, "postgres", "wedpool", NULL), HBA_TRUST);
    assert_int_equal(host(&r, "10.0.0.1", "postgres", "wedpool"), HBA_NO_MATCH);
    assert_int_equal(hba_match(&r, HBA_CONN_LOCAL, false, NULL, "app", "appdb", NULL), HBA_NO_MATCH);
    hba_free(&r);
}

static void test_first_match_wins(void **state)
{
    (void)state;
    struct hba_rules r;
    parse_ok("host all app 10.1.0.0/16 reject\n"
             "host all all 10.0.0.0/8 md5\n"
             "host appdb all 0.0.0.0/0 trust\n",
             &r);
    int line = -1;
    assert_int_equal(hba_match(&r, HBA_CONN_HOST, false, ip("10.1.0.5"), "app", "appdb", &line), HBA_REJECT);
    assert_int_equal(line, 1);
    assert_int_equal(hba_match(&r, HBA_CONN_HOST, false, ip("10.1.0.5"), "bob", "appdb", &line), HBA_MD5);
    assert_int_equal(line, 2);
    assert_int_equal(hba_match(&r, HBA_CONN_HOST, false, ip("11.0.0.1"), "app", "appdb", &line), HBA_TRUST);
    assert_int_equal(line, 3);
    assert_int_equal(hba_match(&r, HBA_CONN_HOST, false, ip("11.0.0.1"), "app", "otherdb", &line), HBA_NO_MATCH);
    assert_int_equal(line, 0);
    hba_free(&r);
}

static void test_networks(void **state)
{
    (void)state;
    struct hba_rules r;
    parse_ok("host all v4 127.0.0.1/32 trust\n"
             "host all v6 ::1/128 trust\n"
             "host all net6 2001:db8::/32 md5\n"
             "host all mask6 fe80:: ffff:ffff:ffff:ffff:: md5\n"
             "host all odd 10.0.0.0/13 md5\n"
             "host all any 0.0.0.0/0 md5\n"
             "host all any ::/0 scram-sha-256\n",
             &r);
    assert_int_equal(host(&r, "127.0.0.1", "v4", "d"), HBA_TRUST);
    assert_int_equal(host(&r, "127.0.0.2", "v4", "d"), HBA_NO_MATCH);
    /* an IPv4 network also holds IPv4-mapped IPv6 clients (a dual-stack listener) */
    assert_int_equal(host(&r, "::ffff:127.0.0.1", "v4", "d"), HBA_TRUST);
    assert_int_equal(host(&r, "::1", "v4", "d"), HBA_NO_MATCH);
    assert_int_equal(host(&r, "::1", "v6", "d"), HBA_TRUST);
    assert_int_equal(host(&r, "127.0.0.1", "v6", "d"), HBA_NO_MATCH);
    assert_int_equal(host(&r, "2001:db8:ffff::1", "net6", "d"), HBA_MD5);
    assert_int_equal(host(&r, "2001:db9::1", "net6", "d"), HBA_NO_MATCH);
    assert_int_equal(host(&r, "fe80::1234", "mask6", "d"), HBA_MD5);
    assert_int_equal(host(&r, "fe81::1234", "mask6", "d"), HBA_NO_MATCH);
    /* a prefix that does not end on a byte */
    assert_int_equal(host(&r, "10.7.255.255", "odd", "d"), HBA_MD5);
    assert_int_equal(host(&r, "10.8.0.0", "odd", "d"), HBA_NO_MATCH);
    assert_int_equal(host(&r, "203.0.113.9", "any", "d"), HBA_MD5);
    assert_int_equal(host(&r, "2001:db8::9", "any", "d"), HBA_SCRAM);
    hba_free(&r);
}

static void test_ssl_types(void **state)
{
    (void)state;
    struct hba_rules r;
    parse_ok("hostssl all certuser 0.0.0.0/0 cert\n"
             "hostssl all all 0.0.0.0/0 scram-sha-256\n"
             "hostnossl all app 0.0.0.0/0 md5\n"
             "host all all 0.0.0.0/0 reject\n",
             &r);
    const struct sockaddr *a = ip("192.0.2.1");
    assert_int_equal(hba_match(&r, HBA_CONN_HOST, true, a, "certuser", "d", NULL), HBA_CERT);
    assert_int_equal(hba_match(&r, HBA_CONN_HOST, true, a, "app", "d", NULL), HBA_SCRAM);
    assert_int_equal(hba_match(&r, HBA_CONN_HOST, false, a, "app", "d", NULL), HBA_MD5);
    assert_int_equal(hba_match(&r, HBA_CONN_HOST, false, a, "certuser", "d", NULL), HBA_REJECT);
    /* host lines never match unix-socket clients, whatever the address */
    assert_int_equal(hba_match(&r, HBA_CONN_LOCAL, false, NULL, "app", "d", NULL), HBA_NO_MATCH);
    hba_free(&r);
}

static void test_replication_keyword_never_matches(void **state)
{
    (void)state;
    struct hba_rules r;
    parse_ok("host replication all 0.0.0.0/0 trust\nhost \"replication\" all 0.0.0.0/0 md5\n", &r);
    /* wedpool refuses replication connections, so the keyword matches no login; quoted it is a name */
    assert_int_equal(host(&r, "10.0.0.1", "app", "replication"), HBA_MD5);
    hba_free(&r);
}

static void test_bad_lines(void **state)
{
    (void)state;
    expect_error("host all all 0.0.0.0/0 trust\nhost all +admins 0.0.0.0/0 trust\n",
                 "hba.conf:2: \"+admins\": +group (role membership) is not supported");
    expect_error("host @dbs.txt all 0.0.0.0/0 trust\n", "hba.conf:1: \"@dbs.txt\": @file inclusion is not supported");
    expect_error("host all @users.txt 0.0.0.0/0 trust\n", "hba.conf:1: \"@users.txt\": @file inclusion");
    expect_error("host samerole all 0.0.0.0/0 trust\n", "role membership");
    expect_error("host all all samenet trust\n", "hba.conf:1: address \"samenet\" is not supported");
    expect_error("host all all samehost trust\n", "address \"samehost\" is not supported");
    expect_error("\n\nhost all all db.example.com trust\n", "hba.conf:3: invalid IP address \"db.example.com\"");
    expect_error("host all all 10.0.0.0/33 trust\n", "invalid CIDR address \"10.0.0.0/33\"");
    expect_error("host all all 10.0.0.0/ trust\n", "invalid CIDR address");
    expect_error("host all all 10.0.0.0 trust\n", "invalid IP mask \"trust\"");
    expect_error("host all all 10.0.0.0 255.0.255.0 trust\n", "invalid IP mask \"255.0.255.0\"");
    expect_error("host all all 10.0.0.0 ffff:: trust\n", "invalid IP mask \"ffff::\"");
    expect_error("host all all 10.0.0.0 255.0.0.0\n", "end-of-line before authentication method specification");
    expect_error("host all all\n", "end-of-line before IP address specification");
    expect_error("local all\n", "end-of-line before role specification");
    expect_error("local\n", "end-of-line before database specification");
    expect_error("hostx all all 0.0.0.0/0 trust\n", "invalid connection type \"hostx\"");
    expect_error("hostgssenc all all 0.0.0.0/0 trust\n", "\"hostgssenc\" is not supported");
    expect_error("local all all peer\n", "authentication method \"peer\" is not supported by wedpool");
    expect_error("local all all password\n", "\"password\" is not supported");
    expect_error("local all all md6\n", "invalid authentication method \"md6\"");
    expect_error("local all all md5 map=x\n", "authentication option \"map=x\" is not supported");
    expect_error("local all all md5 extra\n", "unexpected \"extra\" after the authentication method");
    expect_error("host all all 0.0.0.0/0 cert\n", "hba.conf:1: cert authentication is only supported on hostssl");
    expect_error("local all all cert\n", "cert authentication is only supported on hostssl");
    expect_error("local \"all all md5\n", "unterminated quoted string");
    expect_error("local a,,b all md5\n", "empty item in a comma-separated list");
    expect_error("local a, b all\n", "end-of-line before authentication method"); /* a list may span blanks */
    expect_error("local a,\n", "list ends with a comma");
    expect_error("local \"\" all md5\n", "empty quoted name");
    expect_error("local,host all all md5\n", "multiple values specified for connection type");
    expect_error("host all all 0.0.0.0/0,::/0 md5\n", "multiple values specified for IP address");
    expect_error("local all all trust,md5\n", "multiple values specified for authentication method");
    expect_error("local all aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa md5\n",
                 "is longer than 63 bytes");
    expect_error("# nothing but comments\n\n", "hba.conf: no rules");
    expect_error("", "no rules");
    static const char nul[] = "local all all trust\nlocal\0 all all trust\n";
    struct hba_rules r;
    char err[256];
    assert_false(hba_parse(nul, sizeof(nul) - 1, "hba.conf", &r, err, sizeof(err)));
    assert_non_null(strstr(err, "hba.conf:2: contains a NUL byte"));
}

static void test_load_file(void **state)
{
    (void)state;
    char path[] = "/tmp/wedpool-hba-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    static const char text[] = "local all all trust"; /* no final newline */
    assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
    close(fd);
    struct hba_rules r;
    char err[512];
    assert_true(hba_load(path, &r, err, sizeof(err)));
    assert_int_equal(r.nrules, 1);
    assert_int_equal(hba_match(&r, HBA_CONN_LOCAL, false, NULL, "u", "d", NULL), HBA_TRUST);
    hba_free(&r);
    unlink(path);
    assert_false(hba_load(path, &r, err, sizeof(err)));
    assert_non_null(strstr(err, "cannot open"));
    assert_string_equal(hba_method_name(HBA_SCRAM), "scram-sha-256");
    assert_string_equal(hba_method_name(HBA_NO_MATCH), "no match");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_columns),
        cmocka_unit_test(test_first_match_wins),
        cmocka_unit_test(test_networks),
        cmocka_unit_test(test_ssl_types),
        cmocka_unit_test(test_replication_keyword_never_matches),
        cmocka_unit_test(test_bad_lines),
        cmocka_unit_test(test_load_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
