"""Extended-protocol batches: a server is released only when no batch is half-sent, so its pending
responses can never reach another client."""
import socket
import struct
import time


def msg(t, body=b""):
    return t + struct.pack("!I", len(body) + 4) + body


def startup(user, db):
    body = struct.pack("!I", 196608) + b"user\0" + user + b"\0database\0" + db + b"\0\0"
    return struct.pack("!I", len(body) + 4) + body


def read_until_ready(sock, count=1):
    buf, seen = b"", 0
    while seen < count:
        d = sock.recv(65536)
        assert d, "connection closed"
        buf += d
        seen = buf.count(b"Z\0\0\0\x05")
    return buf


def batch(sql, sync):
    out = msg(b"P", b"\0" + sql + b"\0" + struct.pack("!H", 0))
    out += msg(b"B", b"\0\0" + struct.pack("!HHH", 0, 0, 0))
    out += msg(b"E", b"\0" + struct.pack("!I", 0))
    if sync:
        out += msg(b"S")
    return out


def test_unsynced_batch_keeps_its_server(wedpool):
    wedpool.settings.update({"auth_type": "trust", "max_pool_size": 1, "acquire_timeout_ms": 5000})
    wedpool.start()
    s = socket.create_connection(("127.0.0.1", wedpool.port), timeout=5)
    s.sendall(startup(b"app", b"appdb"))
    read_until_ready(s)
    # batch 1 is synced, batch 2 is not: after batch 1's ReadyForQuery the server is mid-batch
    s.sendall(batch(b"select 1", True) + batch(b"select pg_sleep(0.5)", False) + msg(b"H"))
    read_until_ready(s)
    time.sleep(0.1)
    assert wedpool.pool()["sv_active"] == 1, "server released in the middle of a batch"
    # another client must wait for it, and must not see batch 2's responses
    other = wedpool.connect()
    t0 = time.time()
    s.sendall(msg(b"S"))
    out = read_until_ready(s)
    assert b"C\0\0\0\x0dSELECT 1\0" in out  # batch 2's CommandComplete came to its own client
    assert other.execute("select 42").fetchone()[0] == 42
    assert time.time() - t0 < 3
    s.sendall(msg(b"X"))
    s.close()
