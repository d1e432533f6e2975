"""TLS on both sides (issue #10): clients with every libpq sslmode against wedpool's
client_tls_sslmode, client certificates, direct TLS (PostgreSQL 17's sslnegotiation=direct, ALPN
"postgresql"), buffer stuffing after SSLRequest, certificate reload on SIGHUP, and wedpool to a
PostgreSQL with ssl=on and a hostssl-only pg_hba. Certificates are made here with the openssl CLI."""
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
import select

import psycopg
import pytest

from helpers import (CANCEL_REQUEST, PASSWORDS, PGBIN, SSL_REQUEST, Postgres, Wedpool, Wire, WireError, as_postgres, startup_packet,
                     wait_for)


# ---------------------------------------------------------------------------------------------
# certificates

def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _ca(d, name):
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.crt",
             "-days", "2", "-subj", f"/CN={name}", cwd=d)


def _leaf(d, ca, name, cn, san=None):
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
             "-subj", f"/CN={cn}", cwd=d)
    ext = os.path.join(d, f"{name}.ext")
    with open(ext, "w") as f:
        f.write(f"subjectAltName={san}\n" if san else "basicConstraints=CA:FALSE\n")
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key", "-CAcreateserial",
             "-out", f"{name}.crt", "-days", "2", "-extfile", ext, cwd=d)
    os.chmod(os.path.join(d, f"{name}.key"), 0o600)


@pytest.fixture(scope="module")
def certs():
    """ca: the CA of everything below; otherca: an unrelated CA. server: localhost + 127.0.0.1;
    server2: the same names, another key (the reload test); wrongname: only other.example;
    client_app / client_reporting: client certificates with CN = the user."""
    d = tempfile.mkdtemp(prefix="wedpool-certs-")
    _ca(d, "ca")
    _ca(d, "otherca")
    _leaf(d, "ca", "server", "localhost", "DNS:localhost,IP:127.0.0.1")
    _leaf(d, "ca", "server2", "localhost", "DNS:localhost,IP:127.0.0.1")
    _leaf(d, "ca", "wrongname", "other.example", "DNS:other.example")
    _leaf(d, "ca", "client_app", "app")
    _leaf(d, "ca", "client_reporting", "reporting")
    os.chmod(d, 0o755)
    for f in os.listdir(d):
        os.chmod(os.path.join(d, f), 0o600 if f.endswith(".key") else 0o644)  # PostgreSQL gets its own copy
    yield d
    shutil.rmtree(d, ignore_errors=True)


def tls_wedpool(w, certs, mode="require", cert="server", **extra):
    w.settings.update({"client_tls_sslmode": mode, "client_tls_cert_file": os.path.join(certs, f"{cert}.crt"),
                       "client_tls_key_file": os.path.join(certs, f"{cert}.key")})
    w.settings.update(extra)
    return w


def ssl_dsn(certs, sslmode, **kw):
    d = {"sslmode": sslmode}
    if sslmode.startswith("verify"):
        d["sslrootcert"] = os.path.join(certs, "ca.crt")
    d.update(kw)
    return d


def raw_tls(port, certs=None, alpn=None, direct=False, timeout=5):
    """A TLS socket to wedpool: SSLRequest then the handshake, or the handshake at once (direct)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    if not direct:
        s.sendall(struct.pack("!II", 8, SSL_REQUEST))
        assert s.recv(1) == b"S"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx.wrap_socket(s, server_hostname="localhost")


def tls_wire(port, **kw):
    w = Wire.__new__(Wire)
    w.sock, w.buf, w.params, w.key, w.eof = raw_tls(port, **kw), b"", {}, None, False
    return w


# ---------------------------------------------------------------------------------------------
# clients towards wedpool

@pytest.mark.parametrize("server_mode", ["disable", "prefer", "require"])
def test_libpq_sslmodes_against_client_tls_sslmode(wedpool, certs, server_mode):
    tls_wedpool(wedpool, certs, server_mode).start()
    for mode in ("disable", "prefer", "require", "verify-ca", "verify-full"):
        refused = (server_mode == "disable" and mode not in ("disable", "prefer")) or \
                  (server_mode == "require" and mode == "disable")
        if refused:
            with pytest.raises(psycopg.OperationalError) as e:
                wedpool.connect(**ssl_dsn(certs, mode))
            if server_mode == "require":
                assert "client_tls_sslmode=require" in str(e.value)
            continue
        with wedpool.connect(**ssl_dsn(certs, mode)) as c:
            assert c.execute("select 1").fetchone()[0] == 1
            want_tls = server_mode != "disable" and mode != "disable"
            assert c.pgconn.ssl_in_use == want_tls, (server_mode, mode)


def test_require_refuses_plaintext_with_28000(wedpool, certs):
    tls_wedpool(wedpool, certs, "require").start()
    with wedpool.wire() as w:
        with pytest.raises(WireError) as e:
            w.login()
    assert e.value.sqlstate == "28000"
    assert "client_tls_sslmode=require" in e.value.message
    # over TLS the same login works, with a large result through the TLS relay
    with wedpool.connect(sslmode="require") as c:
        cur = c.execute("select i, repeat('x', 1000) from generate_series(1, 20000) i")
        assert sum(1 for _ in cur) == 20000
        big = "w" * 1_000_000
        assert c.execute("select length(%s::text)", (big,)).fetchone()[0] == 1_000_000


def test_verify_full_checks_the_host_name(wedpool, certs):
    tls_wedpool(wedpool, certs, "require", cert="wrongname").start()
    with pytest.raises(psycopg.OperationalError) as e:
        wedpool.connect(**ssl_dsn(certs, "verify-full", host="localhost"))
    assert "does not match host name" in str(e.value) or "other.example" in str(e.value)
    with wedpool.connect(**ssl_dsn(certs, "verify-ca", host="localhost")) as c:
        assert c.execute("select 1").fetchone()[0] == 1


def test_verify_full_right_host_name(wedpool, certs):
    tls_wedpool(wedpool, certs, "require").start()
    with wedpool.connect(**ssl_dsn(certs, "verify-full", host="localhost")) as c:
        assert c.execute("select 1").fetchone()[0] == 1


def test_client_certificates_verify_full(wedpool, certs):
    tls_wedpool(wedpool, certs, "verify-full", client_tls_ca_file=os.path.join(certs, "ca.crt")).start()
    app_cert = {"sslcert": os.path.join(certs, "client_app.crt"), "sslkey": os.path.join(certs, "client_app.key")}
    with wedpool.connect(**ssl_dsn(certs, "require", **app_cert)) as c:
        assert c.execute("select current_user").fetchone()[0] == "app"
    # the right CA but another user's name: refused after the startup packet
    with pytest.raises(psycopg.OperationalError) as e:
        wedpool.connect(user="reporting", **ssl_dsn(certs, "require", **app_cert))
    assert "CN mismatch" in str(e.value)
    # no certificate: the handshake fails
    with pytest.raises(psycopg.OperationalError):
        wedpool.connect(**ssl_dsn(certs, "require"))
    assert wait_for(lambda: "TLS handshake failed" in wedpool.log())


def test_client_certificates_verify_ca(wedpool, certs):
    tls_wedpool(wedpool, certs, "verify-ca", client_tls_ca_file=os.path.join(certs, "ca.crt")).start()
    app_cert = {"sslcert": os.path.join(certs, "client_app.crt"), "sslkey": os.path.join(certs, "client_app.key")}
    with wedpool.connect(user="reporting", **ssl_dsn(certs, "require", **app_cert)) as c:
        assert c.execute("select current_user").fetchone()[0] == "reporting"
    with pytest.raises(psycopg.OperationalError):
        wedpool.connect(**ssl_dsn(certs, "require"))


def test_tls_settings_are_checked_at_start(wedpool, certs):
    tls_wedpool(wedpool, certs, "require", client_tls_protocols="tlsv1.2,tlsv9")
    wedpool.start(wait=False)
    assert wedpool.proc.wait(10) != 0
    assert "client_tls_protocols" in wedpool.log()
    wedpool.proc = None


def test_protocols_setting_limits_versions(wedpool, certs):
    tls_wedpool(wedpool, certs, "require", client_tls_protocols="tlsv1.2").start()
    with raw_tls(wedpool.port) as s:
        assert s.version() == "TLSv1.2"
    wedpool.stop()
    tls_wedpool(wedpool, certs, "require", client_tls_protocols="secure").start()
    with raw_tls(wedpool.port) as s:
        assert s.version() == "TLSv1.3"


# ---------------------------------------------------------------------------------------------
# direct TLS and negotiation

def test_direct_tls_with_alpn(wedpool, certs):
    tls_wedpool(wedpool, certs, "require").start()
    with tls_wire(wedpool.port, alpn=["postgresql"], direct=True) as w:
        assert w.sock.selected_alpn_protocol() == "postgresql"
        w.login()
        assert w.query("select 41 + 1").rows == [("42",)]


def test_direct_tls_without_alpn_is_refused(wedpool, certs):
    tls_wedpool(wedpool, certs, "require").start()
    with tls_wire(wedpool.port, direct=True) as w:
        w.send(startup_packet({"user": "app", "database": "appdb"}))
        t, body = w.recv_msg()
        assert t == b"E" and b"ALPN" in body
    # ALPN that does not include postgresql fails the handshake itself
    with pytest.raises(ssl.SSLError):
        raw_tls(wedpool.port, alpn=["http/1.1"], direct=True)


def test_direct_tls_refused_when_tls_is_off(wedpool):
    wedpool.start()
    s = socket.create_connection(("127.0.0.1", wedpool.port), timeout=5)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        ctx.wrap_socket(s, server_hostname="localhost")
    assert wait_for(lambda: "direct TLS connection, but TLS is not enabled" in wedpool.log())


def test_sslrequest_with_alpn_or_without(wedpool, certs):
    tls_wedpool(wedpool, certs, "prefer").start()
    for alpn in (None, ["postgresql"]):
        with tls_wire(wedpool.port, alpn=alpn) as w:
            w.login()
            assert w.query("select 1").rows == [("1",)]


def test_buffer_stuffing_after_sslrequest_is_refused(wedpool, certs):
    tls_wedpool(wedpool, certs, "prefer").start()
    with wedpool.wire() as w:
        w.send(struct.pack("!II", 8, SSL_REQUEST) + startup_packet({"user": "app", "database": "appdb"}))
        t, body = w.recv_msg()
        assert t == b"E" and b"08P01" in body and b"data after SSLRequest" in body
        assert w.is_closed()


# ---------------------------------------------------------------------------------------------
# certificate reload

def _presented(port):
    with raw_tls(port) as s:
        return s.getpeercert(binary_form=True)


def _der(path):
    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def test_certificates_reload_on_sighup(wedpool, certs, tmp_path):
    crt, key = tmp_path / "live.crt", tmp_path / "live.key"
    shutil.copy(os.path.join(certs, "server.crt"), crt)
    shutil.copy(os.path.join(certs, "server.key"), key)
    wedpool.settings.update({"client_tls_sslmode": "prefer", "client_tls_cert_file": str(crt),
                             "client_tls_key_file": str(key)})
    wedpool.start()
    assert _presented(wedpool.port) == _der(os.path.join(certs, "server.crt"))
    old = wedpool.connect(sslmode="require")
    assert old.execute("select 1").fetchone()[0] == 1
    shutil.copy(os.path.join(certs, "server2.crt"), crt)
    shutil.copy(os.path.join(certs, "server2.key"), key)
    wedpool.signal(signal.SIGHUP)
    new = _der(os.path.join(certs, "server2.crt"))
    assert wait_for(lambda: _presented(wedpool.port) == new)
    assert old.execute("select 2").fetchone()[0] == 2  # an existing TLS connection keeps working
    # a broken file: refused and logged, the last good certificate stays
    crt.write_text("not a certificate\n")
    wedpool.signal(signal.SIGHUP)
    assert wait_for(lambda: "reload refused, the previous certificates stay in use" in wedpool.log())
    assert _presented(wedpool.port) == new
    assert old.execute("select 3").fetchone()[0] == 3
    old.close()


# ---------------------------------------------------------------------------------------------
# wedpool towards a PostgreSQL with ssl=on and a hostssl-only pg_hba

class TlsPostgres(Postgres):
    def __init__(self, certs):
        super().__init__()
        self.certs = certs

    def start(self):
        as_postgres(PGBIN / "initdb", "-D", self.data, "-U", "postgres", "-A", "trust", "--no-sync")
        for name in ("server.crt", "server.key"):
            dst = os.path.join(self.data, name)
            shutil.copy(os.path.join(self.certs, name), dst)
            shutil.chown(dst, "postgres")
            os.chmod(dst, 0o600)
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                    f"unix_socket_directories = '{self.dir}'\nfsync = off\n"
                    "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n")
        with open(os.path.join(self.data, "pg_hba.conf"), "w") as f:
            f.write("local all postgres trust\n"
                    "hostssl all all 127.0.0.1/32 scram-sha-256\n")
        as_postgres(PGBIN / "pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "log"), "-w", "start")
        self.sql("CREATE ROLE app LOGIN SUPERUSER PASSWORD 'apppass'", "CREATE DATABASE appdb OWNER app")


@pytest.fixture(scope="module")
def tls_pg(certs):
    p = TlsPostgres(certs)
    try:
        p.start()
        yield p
    finally:
        p.stop()


def _to_tls_pg(w, tls_pg, extra=""):
    w.databases = {"appdb": f"host=127.0.0.1 port={tls_pg.port} dbname=appdb {extra}".strip()}


def _backend_ssl(tls_pg):
    return tls_pg.sql("select ssl, version from pg_stat_ssl s join pg_stat_activity a using (pid) "
                      "where a.datname = 'appdb' and a.usename = 'app'")


def test_server_tls_verify_full(wedpool, tls_pg, certs):
    _to_tls_pg(wedpool, tls_pg)
    wedpool.settings.update({"server_tls_sslmode": "verify-full",
                             "server_tls_ca_file": os.path.join(certs, "ca.crt")})
    wedpool.start()
    with wedpool.connect() as c:
        assert c.execute("select ssl from pg_stat_ssl where pid = pg_backend_pid()").fetchone()[0] is True
    assert all(row[0] for row in _backend_ssl(tls_pg))


def test_server_tls_wrong_ca_is_refused_with_a_clear_error(wedpool, tls_pg, certs):
    _to_tls_pg(wedpool, tls_pg)
    wedpool.settings.update({"server_tls_sslmode": "verify-ca",
                             "server_tls_ca_file": os.path.join(certs, "otherca.crt")})
    wedpool.start()
    with pytest.raises(psycopg.OperationalError) as e:
        wedpool.connect()
    assert "certificate verify failed" in str(e.value)
    assert "TLS handshake with server" in wedpool.log()


def test_server_tls_verify_full_wrong_name(wedpool, tls_pg, certs):
    # the server's certificate names localhost and 127.0.0.1: an address it does not name fails
    _to_tls_pg(wedpool, tls_pg, "sslmode=verify-full")
    wedpool.databases["appdb"] = wedpool.databases["appdb"].replace("host=127.0.0.1", "host=127.0.0.2")
    wedpool.settings.update({"server_tls_ca_file": os.path.join(certs, "ca.crt")})
    wedpool.start()
    with pytest.raises(psycopg.OperationalError):
        wedpool.connect()


def test_server_tls_per_database_sslmode_and_plain_refused(wedpool, tls_pg, certs):
    """server_tls_sslmode=disable meets hostssl-only pg_hba: refused; a database line's
    sslmode=require overrides it."""
    wedpool.databases = {"plain": f"host=127.0.0.1 port={tls_pg.port} dbname=appdb",
                         "appdb": f"host=127.0.0.1 port={tls_pg.port} dbname=appdb sslmode=require"}
    wedpool.settings["server_tls_sslmode"] = "disable"
    wedpool.start()
    with pytest.raises(psycopg.OperationalError) as e:
        wedpool.connect(dbname="plain")
    assert "no encryption" in str(e.value) or "pg_hba.conf" in str(e.value)
    with wedpool.connect() as c:
        assert c.execute("select ssl from pg_stat_ssl where pid = pg_backend_pid()").fetchone()[0] is True


def test_server_prefer_falls_back_to_plain(wedpool):
    """The default server_tls_sslmode=prefer against the suite's PostgreSQL without ssl: 'N', plain."""
    wedpool.start()
    assert wedpool.config()["server_tls_sslmode"] == "prefer"
    with wedpool.connect() as c:
        assert c.execute("select ssl from pg_stat_ssl where pid = pg_backend_pid()").fetchone()[0] is False


def test_tls_both_sides_with_cancel(wedpool, tls_pg, certs):
    """TLS from the client and to the server; a cancel reaches the server (over TLS, as the server
    connection was made; PostgreSQL itself would also take a plain one whatever pg_hba says, since
    it reads a CancelRequest before consulting pg_hba: see the TLS-only front below)."""
    _to_tls_pg(wedpool, tls_pg)
    tls_wedpool(wedpool, certs, "require", server_tls_sslmode="require")
    wedpool.start()
    with wedpool.connect(sslmode="require") as c:
        import threading
        t = threading.Timer(0.5, c.cancel)
        t.start()
        with pytest.raises(psycopg.errors.QueryCanceled):
            c.execute("select pg_sleep(30)")
        t.join()
        assert c.execute("select 1").fetchone()[0] == 1


class TlsOnlyFront:
    """A TLS-only endpoint in front of PostgreSQL, as a managed service or a TLS-terminating proxy
    is: a connection must start with SSLRequest and a handshake, anything else (a plain
    CancelRequest included) is dropped unanswered. Behind it the bytes go to PostgreSQL as they
    are. Records the first message of every connection: "plain:<code>" or "tls:<code>"."""

    def __init__(self, certs, target_port, stall_from=None):
        self.target_port = target_port
        self.stall_from = stall_from  # from this SSLRequest on (0-based): 'S', then nothing
        self.lock = threading.Lock()
        self.accepted = 0
        self.stalled = 0
        self.held = []
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(os.path.join(certs, "server.crt"), os.path.join(certs, "server.key"))
        self.lsock = socket.create_server(("127.0.0.1", 0))
        self.port = self.lsock.getsockname()[1]
        self.seen = []
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self):
        self.stopped = True
        self.lsock.close()
        for s in self.held:
            s.close()

    def _accept(self):
        while not self.stopped:
            try:
                s, _ = self.lsock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(s,), daemon=True).start()

    @staticmethod
    def _read(s, n):
        data = b""
        while len(data) < n:
            chunk = s.recv(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def _serve(self, s):
        try:
            s.settimeout(30)
            first = self._read(s, 8)
            code = struct.unpack("!II", first)[1]
            if code != SSL_REQUEST:
                self.seen.append(f"plain:{code}")
                s.close()
                return
            s.sendall(b"S")
            with self.lock:
                n, self.accepted = self.accepted, self.accepted + 1
                if self.stall_from is not None and n >= self.stall_from:
                    self.held.append(s)
                    self.stalled += 1
                    s = None
                    return
            t = self.ctx.wrap_socket(s, server_side=True)
            head = self._read(t, 8)
            self.seen.append(f"tls:{struct.unpack('!II', head)[1]}")
            pg = socket.create_connection(("127.0.0.1", self.target_port))
            pg.sendall(head)
            self._pump(t, pg)
        except (OSError, EOFError, ssl.SSLError):
            pass
        finally:
            if s is not None:
                s.close()

    @staticmethod
    def _pump(t, pg):
        try:
            while True:
                if not t.pending():
                    select.select([t, pg], [], [], 30)
                for src, dst in ((t, pg), (pg, t)):
                    src.setblocking(False)
                    try:
                        data = src.recv(65536)
                    except (BlockingIOError, ssl.SSLWantReadError):
                        continue
                    finally:
                        src.setblocking(True)
                    if not data:
                        return
                    dst.sendall(data)
        finally:
            pg.close()
            t.close()


@pytest.fixture
def tls_front(pg, certs):
    f = TlsOnlyFront(certs, pg.port)
    yield f
    f.stop()


def test_cancel_over_tls_when_the_server_accepts_only_tls(wedpool, tls_front, certs):
    """The server connection uses TLS (verify-full) to an endpoint that drops anything but TLS: the
    cancel connection is made the same way (SSLRequest, 'S', handshake, CancelRequest through TLS),
    and the query is cancelled (57014) within a few seconds. A plain CancelRequest would be dropped
    and the sleep would run to its end."""
    wedpool.databases = {"appdb": f"host=127.0.0.1 port={tls_front.port} dbname=appdb"}
    tls_wedpool(wedpool, certs, "require", server_tls_sslmode="verify-full",
                server_tls_ca_file=os.path.join(certs, "ca.crt"))
    wedpool.start()
    with wedpool.connect(sslmode="require") as c:
        assert c.execute("select 1").fetchone()[0] == 1
        t = threading.Timer(0.5, c.cancel)
        t.start()
        t0 = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled) as e:
            c.execute("select pg_sleep(20)")
        elapsed = time.monotonic() - t0
        t.join()
        assert e.value.sqlstate == "57014"
        assert elapsed < 5, f"cancelled only after {elapsed:.1f} s"
        assert c.execute("select 1").fetchone()[0] == 1
    assert f"tls:{CANCEL_REQUEST}" in tls_front.seen
    assert not [x for x in tls_front.seen if x.startswith("plain:")], tls_front.seen


@pytest.mark.time_limit(60)
def test_cancel_over_tls_gives_up_after_its_timeout(wedpool, pg, certs):
    """An endpoint that answers 'S' to the cancel connection's SSLRequest and then stalls the
    handshake: the cancel request is abandoned after its timeout (logged), the loop keeps serving
    meanwhile, and the query simply runs to its end."""
    front = TlsOnlyFront(certs, pg.port, stall_from=1)  # SSLRequest 0: the server connection
    try:
        wedpool.databases = {"appdb": f"host=127.0.0.1 port={front.port} dbname=appdb"}
        tls_wedpool(wedpool, certs, "require", server_tls_sslmode="require", min_pool_size=0)
        wedpool.start()
        with wedpool.connect(sslmode="require") as c:
            t = threading.Timer(0.3, c.cancel)
            t.start()
            t0 = time.monotonic()
            c.execute("select pg_sleep(2)")  # not cancelled: the cancel never got through
            assert time.monotonic() - t0 >= 1.9
            t.join()
            # the loop is not blocked by the stalled handshake: other clients log in and run
            with wedpool.connect(sslmode="require") as other:
                assert other.execute("select 1").fetchone()[0] == 1
            assert wait_for(lambda: "cancel request for server pid" in wedpool.log(), timeout=10)
        assert "no answer in 5 s (in the TLS handshake)" in wedpool.log()
        assert front.stalled >= 1, wedpool.log()[-3000:]
    finally:
        front.stop()


def test_hba_hostssl_and_cert_auth(wedpool, certs, tmp_path):
    """hba rules see the TLS session: hostssl lines match only TLS clients, the cert method logs a
    client in by its certificate's CN (no password asked), a certificate for another name is
    refused with PostgreSQL's wording, and a plaintext client that only a hostssl line would admit
    is refused with "no encryption"."""
    hba = tmp_path / "hba.conf"
    hba.write_text("hostssl appdb app 127.0.0.1/32 cert\n"
                   "hostssl appdb reporting 127.0.0.1/32 cert\n"
                   "host wedpool postgres 127.0.0.1/32 scram-sha-256\n")
    tls_wedpool(wedpool, certs, "verify-ca", client_tls_ca_file=os.path.join(certs, "ca.crt"),
                hba_file=str(hba)).start()
    app_cert = {"sslcert": os.path.join(certs, "client_app.crt"), "sslkey": os.path.join(certs, "client_app.key")}
    # cert: the certificate is the authentication, even with a wrong password
    with wedpool.connect(password="not-the-password", **ssl_dsn(certs, "require", **app_cert)) as c:
        assert c.execute("select current_user").fetchone()[0] == "app"
    # app's certificate for user reporting: refused with PostgreSQL's cert failure
    with pytest.raises(psycopg.OperationalError) as e:
        wedpool.connect(user="reporting", **ssl_dsn(certs, "require", **app_cert))
    assert 'certificate authentication failed for user "reporting"' in str(e.value)
    # plaintext: no line matches (hostssl only), PostgreSQL's wording
    wedpool.settings["client_tls_sslmode"] = "prefer"
    wedpool.write_config()
    wedpool.signal(signal.SIGHUP)  # the console itself would need a client certificate under verify-ca
    assert wait_for(lambda: "configuration reloaded" in wedpool.log())
    with pytest.raises(psycopg.OperationalError) as e:
        wedpool.connect(sslmode="disable")
    assert 'no pg_hba.conf entry for host "127.0.0.1", user "app", database "appdb", no encryption' in str(e.value)
