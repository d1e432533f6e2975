"""Authentication hardening (issue #10): wedpool refuses to send a password in cleartext to a server
without TLS (unless server_allow_cleartext = yes), refuses a server's SCRAM iteration count above
server_scram_max_iterations and derives large counts on a worker thread (the event loop keeps serving
meanwhile), and does not reveal which user names exist: an unknown user gets the same SCRAM exchange
as a known one (mock salt) and the admin console's membership is judged only after authentication.

The hostile servers are fake PostgreSQL servers in Python on 127.0.0.1, pointed at by a [databases]
line; each picks a fresh salt for every login, which defeats any cache of derived keys."""
import base64
import hashlib
import hmac
import os
import struct
import threading
import time

import pytest

from helpers import (FakeBackend, ScramClient, Wire, WireError, cstr, message, parse_fields, spawn,
                     startup_packet)


# ---------------------------------------------------------------------------------------------
# a fake PostgreSQL server

def auth(code, payload=b""):
    return message(b"R", struct.pack("!I", code) + payload)


def fatal(sqlstate, text):
    return message(b"E", b"SFATAL\0" + b"C" + sqlstate.encode() + b"\0M" + text.encode() + b"\0\0")


class FakePostgres(FakeBackend):
    """Answers wedpool's startup with the login it is told to play, and records what wedpool sent."""

    def __init__(self, mode, iterations=4096, close_after_first=False):
        self.mode = mode
        self.iterations = iterations
        self.close_after_first = close_after_first
        self.passwords = []        # cleartext passwords received
        self.first_sent = threading.Event()  # SCRAM server-first-message sent
        self.final_at = None       # when client-final-message arrived
        self.proofs = []           # True/False: was wedpool's proof right
        super().__init__()

    def serve(self, conn):
        if self.mode == "cleartext":
            conn.sendall(auth(3))
            t, body = self.recv_message(conn)
            assert t == b"p"
            self.passwords.append(body.rstrip(b"\0").decode())
            conn.sendall(fatal("28000", "fake server: got the password"))
        elif self.mode == "scram":
            self._scram(conn)

    def _scram(self, conn):
        conn.sendall(auth(10, b"SCRAM-SHA-256\0\0"))
        t, body = self.recv_message(conn)
        assert t == b"p"
        mech, rest = body.split(b"\0", 1)
        assert mech == b"SCRAM-SHA-256"
        n = struct.unpack("!I", rest[:4])[0]
        client_first = rest[4:4 + n].decode()
        bare = client_first[3:]
        cnonce = dict(a.split("=", 1) for a in bare.split(","))["r"]
        salt = os.urandom(16)  # fresh each login: no cache can help
        server_first = f"r={cnonce}SRV,s={base64.b64encode(salt).decode()},i={self.iterations}"
        conn.sendall(auth(11, server_first.encode()))
        self.first_sent.set()
        if self.close_after_first:
            return
        t, body = self.recv_message(conn)
        self.final_at = time.time()
        assert t == b"p"
        final = body.decode()
        without_proof, proof = final.rsplit(",p=", 1)
        salted = hashlib.pbkdf2_hmac("sha256", b"fakepass", salt, self.iterations)
        client_key = hmac.new(salted, b"Client Key", "sha256").digest()
        stored = hashlib.sha256(client_key).digest()
        sig = hmac.new(stored, f"{bare},{server_first},{without_proof}".encode(), "sha256").digest()
        ok = bytes(a ^ b for a, b in zip(client_key, sig)) == base64.b64decode(proof)
        self.proofs.append(ok)
        conn.sendall(fatal("28000", "fake server: proof ok" if ok else "fake server: proof wrong"))


@pytest.fixture
def fake_pg():
    servers = []

    def make(*args, **kw):
        f = FakePostgres(*args, **kw)
        servers.append(f)
        return f
    yield make
    for f in servers:
        f.close()


def point_at(wedpool, fake):
    wedpool.databases["fake"] = f"host=127.0.0.1 port={fake.port} dbname=fake password=fakepass"


def login_error(wedpool, database="fake", timeout=30):
    with Wire(wedpool.port, timeout=timeout) as w, pytest.raises(WireError) as e:
        w.login("app", database, "apppass")
    return e.value


def real_query_time(wedpool):
    """Seconds for a fresh client of the real appdb to log in and run a query."""
    t0 = time.time()
    with wedpool.wire() as w:
        w.login("app", "appdb", "apppass")
        assert w.query("select 1").rows == [("1",)]
    return time.time() - t0


# ---------------------------------------------------------------------------------------------
# cleartext

def test_cleartext_password_refused_without_tls(wedpool, fake_pg):
    fake = fake_pg("cleartext")
    point_at(wedpool, fake)
    wedpool.start()
    t0 = time.time()
    e = login_error(wedpool)
    assert time.time() - t0 < 2
    assert e.sqlstate == "28000", e
    assert "cleartext" in e.message and "server_allow_cleartext" in e.message, e.message
    assert fake.passwords == []  # the password never left wedpool
    log = wedpool.log()
    assert f"127.0.0.1:{fake.port}" in log and "asks for the password in cleartext" in log
    assert real_query_time(wedpool) < 2  # other pools are unaffected


def test_cleartext_password_sent_when_allowed(wedpool, fake_pg):
    fake = fake_pg("cleartext")
    point_at(wedpool, fake)
    wedpool.settings["server_allow_cleartext"] = "yes"
    wedpool.start()
    e = login_error(wedpool)
    assert "fake server: got the password" in e.message, e.message
    assert fake.passwords == ["fakepass"]


# ---------------------------------------------------------------------------------------------
# SCRAM iteration counts

def test_scram_iterations_above_the_limit_refused_at_once(wedpool, fake_pg):
    fake = fake_pg("scram", iterations=10_000_000)
    point_at(wedpool, fake)
    wedpool.start()
    t = spawn(login_error, wedpool)
    assert fake.first_sent.wait(5)
    assert real_query_time(wedpool) < 1  # the loop is not busy deriving
    t.join(5)
    assert t.error is None and t.result is not None
    e = t.result
    assert e.sqlstate == "28000", e
    assert "10000000 SCRAM iterations" in e.message and "server_scram_max_iterations=100000" in e.message, e.message
    assert fake.final_at is None  # nothing derived, nothing sent
    assert "10000000 SCRAM iterations, more than server_scram_max_iterations=100000: refused" in wedpool.log()
    assert f"127.0.0.1:{fake.port}" in wedpool.log()


@pytest.mark.time_limit(120)
def test_large_iteration_count_derived_on_a_worker(wedpool, fake_pg):
    """With the limit raised, 3,000,000 rounds (about 2 s) run on a worker: other clients are served
    meanwhile, and the key the worker derived is right (the fake server checks the proof)."""
    fake = fake_pg("scram", iterations=3_000_000)
    point_at(wedpool, fake)
    wedpool.settings["server_scram_max_iterations"] = 10_000_000
    wedpool.settings["server_connect_timeout_ms"] = 60000
    wedpool.start()
    t = spawn(login_error, wedpool, "fake", 60)
    assert fake.first_sent.wait(5)
    times = [real_query_time(wedpool) for _ in range(3)]
    served_at = time.time()
    assert max(times) < 1, times
    t.join(60)
    assert t.error is None, t.error
    assert "fake server: proof ok" in t.result.message, t.result.message
    assert fake.proofs and all(fake.proofs)  # (the pool may have opened a second login meanwhile)
    assert fake.final_at is not None and served_at < fake.final_at  # served while the worker derived


def test_server_closing_during_derivation(wedpool, fake_pg):
    """The server goes away while its key is being derived: the client hears at once, the
    abandoned job neither touches the closed server nor keeps wedpool from stopping."""
    fake = fake_pg("scram", iterations=8_000_000, close_after_first=True)
    point_at(wedpool, fake)
    wedpool.settings["server_scram_max_iterations"] = 10_000_000
    wedpool.start()
    t0 = time.time()
    e = login_error(wedpool)
    assert time.time() - t0 < 2, "the client waited for the derivation"
    assert e.sqlstate == "08006", e
    assert "closed the connection during login" in e.message
    assert real_query_time(wedpool) < 1
    # a second one, then a prompt stop with a derivation (possibly) still running
    login_error(wedpool)
    t0 = time.time()
    wedpool.stop()
    assert time.time() - t0 < 5
    assert wedpool.proc.returncode == 0


# ---------------------------------------------------------------------------------------------
# user enumeration

def scram_transcript(port, user, database="appdb", password="not-the-password"):
    """The shape of a SCRAM login up to its end, with a wrong password: each message wedpool sent,
    with what differs between any two logins (nonces, proofs) replaced by its length. Also the
    salt, so tests can compare salts."""
    shapes, salt = [], None
    with Wire(port) as w:
        w.send(startup_packet({"user": user, "database": database}))
        scram = ScramClient(password)
        while True:
            try:
                t, body = w.recv_msg()
            except EOFError:
                shapes.append("EOF")
                return shapes, salt
            if t == b"E":
                f = parse_fields(body)
                shapes.append(("E", f.get("S"), f.get("C"), f.get("M", "").replace(f'"{user}"', '"<user>"')))
                continue
            if t != b"R":
                shapes.append((t.decode(), len(body)))
                continue
            code = struct.unpack("!I", body[:4])[0]
            if code == 10:
                shapes.append(("SASL", body[4:]))
                first = scram.client_first().encode()
                w.send_msg(b"p", cstr("SCRAM-SHA-256") + struct.pack("!I", len(first)) + first)
            elif code == 11:
                attrs = [a.split("=", 1) for a in body[4:].decode().split(",")]
                d = dict(attrs)
                salt = d["s"]
                shapes.append(("SASLContinue", [k for k, _ in attrs], len(d["r"]),
                               len(base64.b64decode(d["s"])), d["i"]))
                w.send_msg(b"p", scram.client_final(body[4:].decode()).encode())
            else:
                shapes.append(("R", code, len(body)))


def test_unknown_user_gets_the_same_scram_exchange(wedpool):
    wedpool.start()
    known, _ = scram_transcript(wedpool.port, "app")
    ghost, ghost_salt = scram_transcript(wedpool.port, "ghost")
    assert ghost == known, (ghost, known)
    assert known[0] == ("SASL", b"SCRAM-SHA-256\0\0")
    assert known[1][0] == "SASLContinue" and known[1][3:] == (16, "4096")
    assert known[-2:] == [("E", "FATAL", "28P01", 'password authentication failed for user "<user>"'), "EOF"]
    # the mock salt is stable for a name (a retry does not tell it apart from a stored one) and
    # differs between names
    again, again_salt = scram_transcript(wedpool.port, "ghost")
    _, other_salt = scram_transcript(wedpool.port, "ghost2")
    assert again_salt == ghost_salt and other_salt != ghost_salt
    # a real user's salt does not change either
    assert scram_transcript(wedpool.port, "app")[0] == known


def test_admin_console_does_not_reveal_membership_before_authentication(wedpool):
    wedpool.start()
    non_admin, _ = scram_transcript(wedpool.port, "app", database="wedpool")
    unknown, _ = scram_transcript(wedpool.port, "ghost", database="wedpool")
    admin, _ = scram_transcript(wedpool.port, "postgres", database="wedpool")
    assert non_admin == unknown == admin, (non_admin, unknown, admin)
    assert non_admin[-2][2] == "28P01"
    # authenticated, not a member: told so, after AuthenticationOk
    with Wire(wedpool.port) as w, pytest.raises(WireError) as e:
        w.login("app", "wedpool", "apppass")
    assert e.value.sqlstate == "28000"
    assert 'user "app" is not allowed to use the wedpool admin console' in e.value.message
    # members still get in
    assert wedpool.admin("SHOW VERSION")[0]["version"].startswith("wedpool")
    assert isinstance(wedpool.admin("SHOW POOLS", user="stats"), list)
