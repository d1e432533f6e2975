"""Limits and hostile input: acquire timeout and max_client_conn (53300), malformed startup packets,
oversized and malformed messages (08P01), login timeout, many clients. Whatever one client does,
the daemon keeps serving the others."""
import resource
import socket
import struct
import time

import psycopg
import pytest

from helpers import PROTOCOL_3, WireError, message, parse_fields, startup_packet, wait_for


def raw_startup(body, proto=PROTOCOL_3):
    """A startup packet with a correct length around an arbitrary parameter list."""
    return struct.pack("!II", len(body) + 8, proto) + body


def assert_still_serving(wedpool, *conns):
    """Existing clients and new ones still get answers."""
    for c in conns:
        assert c.execute("select 1").fetchone()[0] == 1
    with wedpool.connect() as c:
        assert c.execute("select 2").fetchone()[0] == 2
    assert wedpool.proc.poll() is None


def error_or_close(port, payload, timeout=3):
    """Sends payload on a fresh connection; returns the ErrorResponse fields wedpool sent (None
    when it just closed the connection). Fails if the connection is left hanging."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(payload)
    except OSError:
        pass
    out = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except ConnectionResetError:
        pass
    except socket.timeout:
        pytest.fail(f"wedpool neither answered nor closed the connection; got {out!r}")
    finally:
        s.close()
    if not out:
        return None
    assert out[:1] == b"E", out[:200]
    n = struct.unpack("!I", out[1:5])[0]
    return parse_fields(out[5:1 + n])


def test_acquire_timeout_is_53300_naming_pool_and_wait(wedpool):
    wedpool.settings["max_pool_size"] = 1
    wedpool.settings["acquire_timeout_ms"] = 700
    wedpool.start()
    a = wedpool.connect()
    a.execute("begin")
    a.execute("select 1")
    with wedpool.wire() as b:
        b.login()
        t0 = time.time()
        err = b.query_error("select 1")
        waited = time.time() - t0
    assert err is not None and err.sqlstate == "53300", err
    assert 0.6 <= waited < 2.5
    assert "appdb/app" in err.message or ("appdb" in err.message and "app" in err.message)  # names the pool
    assert "700" in err.message  # and the wait
    # libpq clients see it too
    with wedpool.connect() as c, pytest.raises(psycopg.OperationalError) as e:
        c.execute("select 1")
    assert "appdb" in str(e.value)
    # the holder is unaffected and, once it commits, others are served again
    a.execute("commit")
    assert_still_serving(wedpool, a)


def test_max_client_conn_is_53300(wedpool):
    wedpool.settings["max_client_conn"] = 3
    wedpool.start()
    held = [wedpool.connect() for _ in range(3)]
    with wedpool.wire() as w, pytest.raises(WireError) as e:
        w.login()
    assert e.value.sqlstate == "53300"
    assert "max_client_conn" in e.value.message or "too many" in e.value.message
    with pytest.raises(psycopg.OperationalError) as e2:
        wedpool.connect()
    assert "too many" in str(e2.value) or "max_client_conn" in str(e2.value)
    for c in held:
        assert c.execute("select 1").fetchone()[0] == 1
    held[0].close()

    def one_more():
        try:
            with wedpool.connect() as c:
                return c.execute("select 3").fetchone()[0] == 3
        except psycopg.OperationalError:
            return False
    assert wait_for(one_more, timeout=3)
    for c in held[1:]:
        c.close()


# What each malformed opening gets: 08P01 for a protocol violation (the README's promise; a cancel
# request of the wrong length is one too), 28000 for a startup packet without a user, as PostgreSQL.
@pytest.mark.parametrize("name, payload, sqlstate", [
    ("http request", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "08P01"),
    ("protocol 2.0", struct.pack("!II", 8, 2 << 16) + b"app\0" * 4, "08P01"),
    ("protocol 3.9", startup_packet({"user": "app", "database": "appdb"}, proto=(3 << 16) | 9), "08P01"),
    ("protocol 4.0", startup_packet({"user": "app", "database": "appdb"}, proto=4 << 16), "08P01"),
    ("length too large", struct.pack("!II", 100000, PROTOCOL_3) + b"x" * 100, "08P01"),
    ("length 0xffffffff", struct.pack("!II", 0xFFFFFFFF, PROTOCOL_3), "08P01"),
    ("length too small", struct.pack("!II", 4, PROTOCOL_3), "08P01"),
    ("length zero", struct.pack("!I", 0) + b"\0" * 12, "08P01"),
    ("unterminated key", raw_startup(b"user"), "08P01"),
    ("unterminated list", raw_startup(b"user\0app\0database\0appdb"), "08P01"),
    ("key without value", raw_startup(b"user\0"), "08P01"),
    ("no parameters", raw_startup(b"\0"), "28000"),
    ("unknown request code", struct.pack("!III", 12, 1234 << 16 | 5678, 0), "08P01"),
    ("short cancel request", struct.pack("!II", 12, 80877102) + b"\0\0\0\0", "08P01"),
    ("binary garbage", bytes(range(256)) * 8, "08P01"),
])
def test_malformed_startup_costs_only_its_sender(wedpool, name, payload, sqlstate):
    wedpool.start()
    bystander = wedpool.connect()
    fields = error_or_close(wedpool.port, payload)
    assert fields is not None, f"closed without the {sqlstate} ErrorResponse"
    assert fields["C"] == sqlstate, fields
    assert_still_serving(wedpool, bystander)
    bystander.close()


def test_protocol_2_is_refused_with_08P01(wedpool):
    wedpool.start()
    fields = error_or_close(wedpool.port, struct.pack("!II", 8, 2 << 16))
    assert fields is not None and fields["C"] == "08P01", fields


def test_half_sent_startup_and_vanishing_clients(wedpool):
    """Clients that send part of a packet and disconnect, or connect and vanish."""
    wedpool.start()
    bystander = wedpool.connect()
    pkt = startup_packet({"user": "app", "database": "appdb"})
    for cut in (0, 2, 4, 7, len(pkt) - 1):
        s = socket.create_connection(("127.0.0.1", wedpool.port), timeout=3)
        s.sendall(pkt[:cut])
        s.close()
    # one that disconnects in the middle of SCRAM
    s = socket.create_connection(("127.0.0.1", wedpool.port), timeout=3)
    s.sendall(pkt)
    assert s.recv(1) == b"R"
    s.close()
    assert_still_serving(wedpool, bystander)
    bystander.close()


def test_oversized_message_is_08P01(wedpool):
    wedpool.settings["auth_type"] = "trust"
    wedpool.settings["max_packet_size"] = 4096
    wedpool.start()
    bystander = wedpool.connect()
    with wedpool.wire() as w:
        w.login()
        assert w.query("select 'x'").rows == [("x",)]  # small messages pass
        w.send(b"Q" + struct.pack("!I", 100000) + b"x" * 100)
        msgs = w.drain()
    errors = [parse_fields(b) for t, b in msgs if t == b"E"]
    assert w.eof, "the connection was not closed"
    assert [e["C"] for e in errors] == ["08P01"], errors
    assert "max_packet_size" in errors[0]["M"] or "too large" in errors[0]["M"].lower()
    assert_still_serving(wedpool, bystander)
    bystander.close()


@pytest.mark.parametrize("name, payload", [
    ("length below 4", b"Q" + struct.pack("!I", 2)),
    ("negative length", b"Q" + struct.pack("!I", 0x80000000)),
    ("unknown message type", message(b"\x01", b"junk")),
])
def test_malformed_message_after_login(wedpool, name, payload):
    wedpool.settings["max_pool_size"] = 1
    wedpool.start()
    bystander = wedpool.connect()
    with wedpool.wire() as w:
        w.login()
        w.query("select 1")
        w.send(payload)
        msgs = w.drain()
    errors = [parse_fields(b) for t, b in msgs if t == b"E"]
    assert w.eof, "the connection was not closed"
    assert [e["C"] for e in errors] == ["08P01"], errors
    assert_still_serving(wedpool, bystander)
    # the one server is not left half-way through a message
    with wedpool.connect() as c:
        assert c.execute("select 'clean'").fetchone()[0] == "clean"
    bystander.close()


def test_client_login_timeout(wedpool):
    wedpool.settings["client_login_timeout_ms"] = 300
    wedpool.start()
    s = socket.create_connection(("127.0.0.1", wedpool.port), timeout=5)
    s.sendall(struct.pack("!I", 40))  # promises a startup packet, never sends it
    t0 = time.time()
    out = b""
    while True:
        d = s.recv(4096)
        if not d:
            break
        out += d
    assert time.time() - t0 < 3
    assert out[:1] == b"E", out
    assert parse_fields(out[5:1 + struct.unpack("!I", out[1:5])[0]])["C"] == "08P01", out
    s.close()
    # one that stalls in the middle of authentication
    with wedpool.wire() as w:
        w.send(startup_packet({"user": "app", "database": "appdb"}))
        t0 = time.time()
        assert w.recv_msg()[0] == b"R"
        assert w.is_closed(timeout=3)
        assert time.time() - t0 < 3
    assert_still_serving(wedpool)


def test_a_thousand_clients_over_four_servers(wedpool):
    """Many idle clients cost no server connections; all of them are served."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096 and hard >= 4096:
        resource.setrlimit(resource.RLIMIT_NOFILE, (4096, hard))
    wedpool.settings["auth_type"] = "trust"
    wedpool.settings["max_pool_size"] = 4
    wedpool.start()
    wires = []
    try:
        for _ in range(1000):
            w = wedpool.wire(timeout=10)
            w.login()
            wires.append(w)
        assert wedpool.pool()["cl_active"] == 1000
        for i, w in enumerate(wires):
            w.send_msg(b"Q", f"select {i}\0".encode())
        for i, w in enumerate(wires):
            assert w.read_result().rows == [(str(i),)]
        assert len(wedpool.pg.backends()) <= 4
    finally:
        for w in wires:
            w.close()
