"""Wire protocol through the pooler: extended protocol, pipelining, COPY, notices, cancel, and
malformed input that must cost only the sender its connection."""
import socket
import struct
import threading
import time

import psycopg
import pytest


def test_extended_protocol_and_prepared_statements(wedpool):
    wedpool.start()
    with wedpool.connect() as c:
        for i in range(5):
            row = c.execute("select %s::int + %s::int, %s::text", (i, 1, "x" * i)).fetchone()
            assert row == (i + 1, "x" * i)
        cur = c.cursor(binary=True)
        assert cur.execute("select %s::bigint", (2 ** 40,)).fetchone()[0] == 2 ** 40


def test_pipelining(wedpool):
    wedpool.settings["max_pool_size"] = 1
    wedpool.start()
    with wedpool.connect() as c:
        with c.pipeline():
            curs = [c.execute("select %s::int", (i,)) for i in range(50)]
        assert [cur.fetchone()[0] for cur in curs] == list(range(50))
    with wedpool.connect() as d:  # the one server came back clean
        assert d.execute("select 1").fetchone()[0] == 1


def test_copy_in_and_out(wedpool):
    wedpool.start()
    with wedpool.connect() as c:
        c.execute("drop table if exists copytest")
        c.execute("create table copytest(a int, b text)")
        with c.cursor().copy("copy copytest from stdin") as cp:
            for i in range(20000):
                cp.write_row((i, f"row {i} " + "y" * 50))
        assert c.execute("select count(*), sum(a) from copytest").fetchone() == (20000, sum(range(20000)))
        out = []
        with c.cursor().copy("copy copytest to stdout") as cp:
            for row in cp.rows():
                out.append(row)
        assert len(out) == 20000
        c.execute("drop table copytest")


def test_errors_notices_and_parameter_status_pass_through(wedpool):
    wedpool.start()
    with wedpool.connect() as c:
        notices = []
        c.add_notice_handler(lambda d: notices.append(d.message_primary))
        c.execute("do $$ begin raise notice 'hello from the server'; end $$")
        assert notices == ["hello from the server"]
        with pytest.raises(psycopg.errors.DivisionByZero):
            c.execute("select 1/0")
        c.execute("set datestyle = 'SQL, DMY'")
        assert c.info.parameter_status("DateStyle") == "SQL, DMY"
        assert c.execute("select 1").fetchone()[0] == 1


def test_cancel(wedpool):
    wedpool.start()
    with wedpool.connect() as c:
        threading.Timer(0.5, c.cancel).start()
        t0 = time.time()
        with pytest.raises(psycopg.errors.QueryCanceled):
            c.execute("select pg_sleep(10)")
        assert time.time() - t0 < 3
        assert c.execute("select 1").fetchone()[0] == 1


def raw(port, data, read=True):
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    s.sendall(data)
    out = b""
    try:
        while read:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except socket.timeout:
        pass
    s.close()
    return out


def startup(user, db, proto=196608):
    body = struct.pack("!I", proto) + b"user\0" + user + b"\0database\0" + db + b"\0\0"
    return struct.pack("!I", len(body) + 4) + body


@pytest.mark.parametrize("payload, fragment", [
    (b"GET / HTTP/1.1\r\n\r\n", b"invalid length of startup packet"),
    (struct.pack("!II", 8, 2 << 16), b"protocol 3.0"),
    (struct.pack("!II", 8, (3 << 16) | 9), b"minor version"),
    (struct.pack("!II", 100000, 196608), b"invalid length of startup packet"),
    (struct.pack("!I", 12) + struct.pack("!I", 196608) + b"user", b"invalid startup packet layout"),
])
def test_malformed_startup_gets_08P01_and_others_are_unaffected(wedpool, payload, fragment):
    wedpool.start()
    with wedpool.connect() as bystander:
        out = raw(wedpool.port, payload)
        assert out[:1] == b"E" and b"C08P01\0" in out and fragment in out
        assert bystander.execute("select 1").fetchone()[0] == 1


def test_ssl_and_gss_requests_are_declined(wedpool):
    wedpool.start()
    s = socket.create_connection(("127.0.0.1", wedpool.port), timeout=3)
    s.sendall(struct.pack("!II", 8, 80877103))
    assert s.recv(1) == b"N"
    s.sendall(struct.pack("!II", 8, 80877104))
    assert s.recv(1) == b"N"
    s.sendall(startup(b"app", b"appdb"))
    assert s.recv(1) == b"R"
    s.close()


def test_oversized_message_is_refused(wedpool):
    wedpool.settings["auth_type"] = "trust"
    wedpool.settings["max_packet_size"] = 4096
    wedpool.start()
    s = socket.create_connection(("127.0.0.1", wedpool.port), timeout=3)
    s.sendall(startup(b"app", b"appdb"))
    buf = b""
    while b"Z\0\0\0\x05I" not in buf:
        buf += s.recv(4096)
    s.sendall(b"Q" + struct.pack("!I", 100000) + b"x" * 100)
    out = b""
    while True:
        d = s.recv(4096)
        if not d:
            break
        out += d
    assert b"C08P01\0" in out and b"over max_packet_size=4096" in out
    with wedpool.connect() as c:
        assert c.execute("select 1").fetchone()[0] == 1


def test_client_login_timeout(wedpool):
    wedpool.settings["client_login_timeout_ms"] = 300
    wedpool.start()
    s = socket.create_connection(("127.0.0.1", wedpool.port), timeout=5)
    s.sendall(struct.pack("!I", 40))  # promises a startup packet, never sends it
    t0 = time.time()
    out = s.recv(4096)
    assert time.time() - t0 < 3
    assert b"client_login_timeout_ms" in out
