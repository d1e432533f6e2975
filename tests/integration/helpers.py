"""Shared machinery of the integration suite: a throwaway PostgreSQL 15 cluster, one wedpool daemon
(the real binary) per test, a minimal raw protocol-3.0 client for what libpq hides (exact SQLSTATEs
at login, malformed packets, cancel keys), and small waiting helpers. conftest.py turns these into
fixtures; test files import the helpers from here, never from each other."""
import base64
import hashlib
import hmac
import os
import pathlib
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

import psycopg

ROOT = pathlib.Path(__file__).resolve().parents[2]
WEDPOOL_BIN = os.environ.get("WEDPOOL_BIN", str(ROOT / "build" / "wedpool"))
SANITIZED = os.environ.get("WEDPOOL_SANITIZED") == "1"
PGBIN = pathlib.Path("/usr/lib/postgresql/15/bin")
TEST_TIMEOUT_S = int(os.environ.get("WEDPOOL_TEST_TIMEOUT", "90"))
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer")

# Plain passwords: wedpool checks clients against them and logs in to PostgreSQL with them.
PASSWORDS = {"app": "apppass", "md5user": "md5pass", "postgres": "adminpass", "stats": "statspass",
             "reporting": "reportpass"}

PROTOCOL_3 = 196608
SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102


# ---------------------------------------------------------------------------------------------
# small utilities

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout=5.0, interval=0.05):
    """Polls pred() until it is truthy (returns its value) or timeout passes (returns the last)."""
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v or time.time() >= deadline:
            return v
        time.sleep(interval)


def spawn(fn, *args):
    """Runs fn in a daemon thread (a hung helper thread must never keep pytest from exiting) and
    records its result or exception on the thread object."""
    def body():
        try:
            t.result = fn(*args)
        except BaseException as e:  # noqa: BLE001 - handed to the test through t.error
            t.error = e
    t = threading.Thread(target=body, daemon=True)
    t.result = t.error = None
    t.start()
    return t


def sanitizer_env(env=None):
    e = dict(os.environ if env is None else env)
    if SANITIZED:
        e["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0"
        e["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    return e


def sanitizer_reports(text):
    return [m for m in SANITIZER_MARKERS if m in text]


def run_cli(*args, env=None, timeout=15):
    """Runs the wedpool binary to completion (--version, --check-config, a refused start). Under the
    sanitizer build, any ASan/UBSan/LSan report in its output is a failure."""
    out = subprocess.run([WEDPOOL_BIN, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                         env=sanitizer_env(env))
    reports = sanitizer_reports(out.stdout + out.stderr)
    assert not reports, f"sanitizer report from wedpool {args}:\n{out.stderr[-6000:]}"
    return out


def as_postgres(*args, **kw):
    kw.setdefault("timeout", 120)
    return subprocess.run(["runuser", "-u", "postgres", "--", *map(str, args)], check=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


# ---------------------------------------------------------------------------------------------
# secrets, computed independently of wedpool's C code

def scram_secret(password, salt=b"0123456789abcdef", iterations=4096):
    """A pg_authid-style secret: SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey> (RFC 5802)."""
    sp = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    ck = hmac.new(sp, b"Client Key", "sha256").digest()
    sk = hmac.new(sp, b"Server Key", "sha256").digest()
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(hashlib.sha256(ck).digest())}:{b64(sk)}"


def md5_secret(user, password):
    return "md5" + hashlib.md5((password + user).encode()).hexdigest()


# ---------------------------------------------------------------------------------------------
# PostgreSQL

class Postgres:
    """A PostgreSQL 15 cluster in a temp dir, run as the postgres user on a free port."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="wedpool-pg-")
        shutil.chown(self.dir, "postgres")
        os.chmod(self.dir, 0o755)
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()

    def start(self):
        as_postgres(PGBIN / "initdb", "-D", self.data, "-U", "postgres", "-A", "trust", "--no-sync")
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                    f"unix_socket_directories = '{self.dir}'\nfsync = off\nmax_connections = 300\n"
                    "synchronous_commit = off\nfull_page_writes = off\n")
        with open(os.path.join(self.data, "pg_hba.conf"), "w") as f:
            f.write("local all postgres trust\n"
                    "host all md5user 127.0.0.1/32 md5\n"
                    "host all all 127.0.0.1/32 scram-sha-256\n")
        as_postgres(PGBIN / "pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "log"), "-w", "start")
        self.sql("CREATE ROLE app LOGIN SUPERUSER PASSWORD 'apppass'",
                 "CREATE ROLE reporting LOGIN SUPERUSER PASSWORD 'reportpass'",
                 "SET password_encryption = 'md5'",
                 "CREATE ROLE md5user LOGIN SUPERUSER PASSWORD 'md5pass'",
                 "CREATE DATABASE appdb OWNER app",
                 "CREATE DATABASE otherdb OWNER app")
        env = dict(os.environ, PGPASSWORD="apppass")
        subprocess.run([PGBIN / "pgbench", "-i", "-s", "1", "-q", "-h", "127.0.0.1", "-p", str(self.port),
                        "-U", "app", "appdb"], check=True, env=env, capture_output=True, timeout=120)

    def sql(self, *stmts, db="postgres"):
        """Runs statements directly on PostgreSQL (not through wedpool) as the superuser."""
        result = None
        with psycopg.connect(host=self.dir, port=self.port, user="postgres", dbname=db, autocommit=True) as c:
            for stmt in stmts:
                cur = c.execute(stmt)
                result = cur.fetchall() if cur.description else None
        return result

    def backends(self, db="appdb"):
        """Client backends connected to db (wedpool's server connections), as dicts. wedpool's own
        statistics connection (application_name wedpool-stats) is not a pool connection."""
        rows = self.sql("select pid, usename, state, backend_xid is not null or backend_xmin is not null, "
                        f"xact_start is not null from pg_stat_activity where datname = '{db}' "
                        "and backend_type = 'client backend' and pid <> pg_backend_pid() "
                        "and coalesce(application_name, '') not in ('wedpool-stats', 'wedpool-health')")
        return [dict(pid=r[0], user=r[1], state=r[2], snapshot=r[3], in_xact=r[4]) for r in rows]

    def running(self, like):
        """Whether a backend is executing a statement matching like (an SQL LIKE pattern) right
        now: what a test waits for before cancelling it or asserting that others wait behind it."""
        like = like.replace("'", "''")
        return self.sql("select count(*) from pg_stat_activity where state = 'active' "
                        f"and query like '{like}' and pid <> pg_backend_pid()")[0][0] > 0

    def terminate_clients(self, timeout=5):
        """Ends every client backend of the test databases (a server connection a test left
        running, e.g. a pg_sleep whose pooler is gone), so the next test starts from zero."""
        q = ("from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid() "
             "and datname in ('appdb', 'otherdb')")
        self.sql(f"select pg_terminate_backend(pid) {q}")
        return wait_for(lambda: self.sql(f"select count(*) {q}")[0][0] == 0, timeout)

    def stop(self):
        subprocess.run(["runuser", "-u", "postgres", "--", PGBIN / "pg_ctl", "-D", self.data, "-m", "immediate",
                        "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# wedpool

class Wedpool:
    """One wedpool daemon with its own config directory. Tests adjust .settings, .databases and
    .users, then call .start()."""

    def __init__(self, pg, tmp_path):
        self.pg = pg
        self.dir = tmp_path
        self.port = free_port()
        self.http_port = free_port()
        self.proc = None
        self.logf = None
        self.killed = False
        self.log_path = tmp_path / "wedpool.log"
        self.settings = {
            "listen_addr": "127.0.0.1", "listen_port": self.port, "unix_socket_dir": "",
            "auth_type": "scram-sha-256", "auth_file": "users.txt", "pool_mode": "transaction",
            "min_pool_size": 0, "max_pool_size": 20, "reserve_pool_size": 0, "max_client_conn": 10000,
            "acquire_timeout_ms": 60000, "idle_timeout_ms": 30000, "server_lifetime_s": 3600,
            "server_connect_timeout_ms": 5000, "server_login_retry_ms": 1000,
            "client_login_timeout_ms": 15000, "shutdown_timeout_ms": 30000, "max_packet_size": 1073741823,
            "server_reset_query": "DISCARD ALL", "admin_users": "postgres", "stats_users": "stats",
            "logfile": "", "pidfile": "", "log_level": "info",
        }
        self.databases = {
            "appdb": f"host=127.0.0.1 port={pg.port} dbname=appdb",
            "otherdb": f"host=127.0.0.1 port={pg.port} dbname=otherdb",
            "nodb": f"host=127.0.0.1 port={pg.port} dbname=does_not_exist",
        }
        self.lanes = {}
        self.lane_rules = []
        self.calendars = {}
        self.forecast = {}
        self.alert_channels = {}
        self.users = dict(PASSWORDS)
        self.extra_users = {}

    @property
    def ini(self):
        return self.dir / "wedpool.ini"

    def write_config(self):
        lines = ["[databases]"] + [f"{k} = {v}" for k, v in self.databases.items()]
        if self.lanes:
            lines += ["[lanes]"] + [f"{k} = {v}" for k, v in self.lanes.items()]
        if self.lane_rules:
            lines += ["[lane_rules]"] + [f"{k} = {v}" for k, v in self.lane_rules]
        if self.calendars:
            lines += ["[calendars]"] + [f"{k} = {v}" for k, v in self.calendars.items()]
        if self.forecast:
            lines += ["[forecast]"] + [f"{k} = {v}" for k, v in self.forecast.items()]
        if self.alert_channels:
            lines += ["[alert_channels]"] + [f"{k} = {v}" for k, v in self.alert_channels.items()]
        lines += ["[wedpool]"] + [f"{k} = {v}" for k, v in self.settings.items()]
        self.ini.write_text("\n".join(lines) + "\n")
        users = {**self.users, **self.extra_users}
        (self.dir / "users.txt").write_text("".join(f'"{u}" "{p}"\n' for u, p in users.items()))
        return self.ini

    def start(self, env=None, wait=True):
        # free_port() only finds a port that was free a moment ago: another process on the machine
        # may bind it first. That is the test machine's race, not wedpool's failure: new ports, again.
        for attempt in range(3):
            ini = self.write_config()
            e = dict(os.environ)
            e.update(env or {})
            self.logf = open(self.log_path, "ab")
            self.proc = subprocess.Popen([WEDPOOL_BIN, "-c", str(ini)], stdout=self.logf,
                                         stderr=subprocess.STDOUT, env=sanitizer_env(e))
            if not wait:
                return self
            try:
                self.wait_ready()
                return self
            except RuntimeError:
                if attempt == 2 or self.proc.poll() is None or "cannot listen" not in self.log():
                    raise
            self._new_ports()
        return self

    def _new_ports(self):
        old = {str(self.port): str(free_port()), str(self.http_port): str(free_port())}
        self.port, self.http_port = int(old[str(self.port)]), int(old[str(self.http_port)])
        for k, v in list(self.settings.items()):
            text = str(v)
            for before, after in old.items():
                if text == before or text.endswith(":" + before):
                    text = text[: len(text) - len(before)] + after
            self.settings[k] = type(v)(text) if isinstance(v, int) else text

    def wait_ready(self, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"wedpool exited with {self.proc.returncode}:\n{self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            except OSError:
                time.sleep(0.05)
                continue
            # Listening comes before the workers (calendars, alert channels, ...) have started;
            # tests that count descriptors or threads need all of them, so wait for the line
            # main() logs once everything is up.
            if (self.settings.get("logfile") or self.settings.get("log_level") in ("warning", "error")
                    or f"started (pid {self.proc.pid})" in self.log()):
                return
            time.sleep(0.02)
        raise RuntimeError("wedpool did not start listening:\n" + self.log())

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def dsn(self, user="app", dbname="appdb", **kw):
        parts = {"host": "127.0.0.1", "port": self.port, "user": user, "dbname": dbname,
                 "password": kw.pop("password", PASSWORDS.get(user, "")), "connect_timeout": 10}
        parts.update(kw)
        return " ".join(f"{k}='{v}'" for k, v in parts.items())

    def connect(self, user="app", dbname="appdb", autocommit=True, **kw):
        # Named server-side prepared statements do not survive transaction pooling (a later
        # statement may run on another server), so psycopg's auto-prepare is off, as PgBouncer's
        # docs advise for transaction mode.
        return psycopg.connect(self.dsn(user, dbname, **kw), autocommit=autocommit, prepare_threshold=None)

    def wire(self, timeout=5):
        return Wire(self.port, timeout=timeout)

    def admin(self, sql, user="postgres"):
        """Runs an admin console command over the simple query protocol; returns a list of dicts
        for SHOW commands, the command tag for the others."""
        with psycopg.connect(self.dsn(user, "wedpool", password=PASSWORDS.get(user, "")), autocommit=True) as c:
            cur = c.execute(sql, prepare=False)
            if cur.description is None:
                return cur.statusmessage
            cols = [d.name for d in cur.description]
            return [dict(zip(cols, row)) for row in cur.fetchall()]

    def pool(self, dbname="appdb", user="app"):
        """The SHOW POOLS row of one pool, numbers as ints; None when the pool does not exist."""
        for row in self.admin("SHOW POOLS"):
            if row["database"] == dbname and row["user"] == user:
                return {k: (int(v) if v is not None and str(v).lstrip("-").isdigit() else v) for k, v in row.items()}
        return None

    def config(self):
        return {r["key"]: r["value"] for r in self.admin("SHOW CONFIG")}

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.killed = True
                self.proc.kill()
                self.proc.wait()
        if self.logf:
            self.logf.close()
            self.logf = None


# ---------------------------------------------------------------------------------------------
# a raw protocol-3.0 frontend

class WireError(Exception):
    """An ErrorResponse, with its fields by code letter (C = SQLSTATE, M = message, S = severity)."""

    def __init__(self, fields):
        self.fields = fields
        super().__init__(f"{fields.get('S')} {fields.get('C')}: {fields.get('M')}")

    @property
    def sqlstate(self):
        return self.fields.get("C")

    @property
    def message(self):
        return self.fields.get("M", "")


def parse_fields(body):
    fields = {}
    for part in body.split(b"\0"):
        if part:
            fields[chr(part[0])] = part[1:].decode(errors="replace")
    return fields


def startup_packet(params, proto=PROTOCOL_3):
    body = struct.pack("!I", proto)
    for k, v in params.items():
        body += k.encode() + b"\0" + v.encode() + b"\0"
    body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


def message(type_, body=b""):
    return type_ + struct.pack("!I", len(body) + 4) + body


def cstr(s):
    return (s if isinstance(s, bytes) else s.encode()) + b"\0"


def cancel_request(port, pid, key, host="127.0.0.1"):
    with socket.create_connection((host, port), timeout=3) as s:
        s.sendall(struct.pack("!IIII", 16, CANCEL_REQUEST, pid, key))
        try:
            s.recv(1)  # the pooler closes the socket once it has forwarded (or dropped) the request
        except OSError:
            pass


class Result:
    def __init__(self):
        self.rows = []
        self.tags = []
        self.notices = []
        self.status = None  # the ReadyForQuery transaction status: b"I", b"T" or b"E"
        self.error = None


class Wire:
    """Speaks protocol 3.0 directly over a socket; used where libpq would hide what the pooler
    sent (SQLSTATEs of login failures, BackendKeyData) or refuse to send what we want to test."""

    def __init__(self, port, host="127.0.0.1", timeout=5):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.params = {}
        self.key = None  # (pid, secret) from BackendKeyData
        self.eof = False  # the peer closed the connection

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def send_msg(self, type_, body=b""):
        self.sock.sendall(message(type_, body))

    def _fill(self):
        d = self.sock.recv(65536)
        if not d:
            self.eof = True
            raise EOFError("connection closed by wedpool")
        self.buf += d

    def recv_msg(self):
        """One (type, body) message; EOFError when the peer closed the connection."""
        while len(self.buf) < 5:
            self._fill()
        t, n = self.buf[:1], struct.unpack("!I", self.buf[1:5])[0]
        while len(self.buf) < 1 + n:
            self._fill()
        body, self.buf = self.buf[5:1 + n], self.buf[1 + n:]
        return t, body

    def drain(self):
        """Every message until the peer closes the connection (.eof) or the socket times out."""
        msgs = []
        try:
            while True:
                msgs.append(self.recv_msg())
        except ConnectionResetError:
            self.eof = True
        except (EOFError, socket.timeout):
            pass
        return msgs

    def is_closed(self, timeout=3):
        """True when the peer closes the connection within timeout (any pending messages are
        discarded)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                d = self.sock.recv(65536)
                if not d:
                    return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def login(self, user="app", database="appdb", password=None, params=None, proto=PROTOCOL_3):
        """Startup + authentication (trust, cleartext, md5, SCRAM-SHA-256) up to ReadyForQuery.
        Raises WireError on an ErrorResponse."""
        if password is None:
            password = PASSWORDS.get(user, "")
        p = {"user": user, "database": database}
        p.update(params or {})
        self.send(startup_packet(p, proto))
        scram = None
        while True:
            t, body = self.recv_msg()
            if t == b"E":
                raise WireError(parse_fields(body))
            if t == b"R":
                code = struct.unpack("!I", body[:4])[0]
                if code == 3:
                    self.send_msg(b"p", cstr(password))
                elif code == 5:
                    inner = hashlib.md5((password + user).encode()).hexdigest().encode()
                    self.send_msg(b"p", cstr(b"md5" + hashlib.md5(inner + body[4:8]).hexdigest().encode()))
                elif code == 10:
                    mechs = [m for m in body[4:].split(b"\0") if m]
                    assert b"SCRAM-SHA-256" in mechs, mechs
                    scram = ScramClient(password)
                    first = scram.client_first().encode()
                    self.send_msg(b"p", cstr("SCRAM-SHA-256") + struct.pack("!I", len(first)) + first)
                elif code == 11:
                    self.send_msg(b"p", scram.client_final(body[4:].decode()).encode())
                elif code == 12:
                    scram.verify_server_final(body[4:].decode())
                elif code != 0:
                    raise AssertionError(f"unexpected authentication request {code}")
            elif t == b"S":
                k, v = body.split(b"\0")[:2]
                self.params[k.decode()] = v.decode()
            elif t == b"K":
                self.key = struct.unpack("!II", body[:8])
            elif t == b"Z":
                return self
            elif t == b"N":
                continue
            else:
                raise AssertionError(f"unexpected message {t!r} during login")

    def read_result(self):
        """Messages up to ReadyForQuery, gathered into a Result (an ErrorResponse is kept in
        .error; a FATAL one is raised, since the connection ends with it)."""
        r = Result()
        while True:
            t, body = self.recv_msg()
            if t == b"D":
                n = struct.unpack("!H", body[:2])[0]
                pos, row = 2, []
                for _ in range(n):
                    ln = struct.unpack("!i", body[pos:pos + 4])[0]
                    pos += 4
                    if ln < 0:
                        row.append(None)
                    else:
                        row.append(body[pos:pos + ln].decode())
                        pos += ln
                r.rows.append(tuple(row))
            elif t == b"C":
                r.tags.append(body.rstrip(b"\0").decode())
            elif t == b"N":
                r.notices.append(parse_fields(body))
            elif t == b"E":
                fields = parse_fields(body)
                if fields.get("S") in ("FATAL", "PANIC") or fields.get("V") in ("FATAL", "PANIC"):
                    raise WireError(fields)
                r.error = WireError(fields)
            elif t == b"S":
                k, v = body.split(b"\0")[:2]
                self.params[k.decode()] = v.decode()
            elif t == b"Z":
                r.status = body[:1]
                return r

    def query(self, sql):
        self.send_msg(b"Q", cstr(sql))
        return self.read_result()

    def query_error(self, sql):
        """The error (FATAL or not) that sql ends with, or None."""
        try:
            return self.query(sql).error
        except WireError as e:
            return e


class FakeBackend:
    """A PostgreSQL impostor on a local port, for servers PostgreSQL will not imitate: each of
    wedpool's server connections runs serve(conn) on its own thread, after read_startup (which
    refuses SSLRequest/GSSENCRequest with 'N'). Subclasses write serve; close() at teardown."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.closing = False
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def close(self):
        self.closing = True
        self.sock.close()

    def _accept_loop(self):
        while not self.closing:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve_one, args=(conn,), daemon=True).start()

    def _serve_one(self, conn):
        try:
            with conn:
                self.read_startup(conn)
                self.serve(conn)
        except (EOFError, OSError, AssertionError):
            pass

    def serve(self, conn):
        raise NotImplementedError

    @staticmethod
    def recv_exact(conn, n):
        data = b""
        while len(data) < n:
            d = conn.recv(n - len(data))
            if not d:
                raise EOFError("wedpool closed the connection")
            data += d
        return data

    @classmethod
    def recv_message(cls, conn):
        head = cls.recv_exact(conn, 5)
        return head[:1], cls.recv_exact(conn, struct.unpack("!I", head[1:5])[0] - 4)

    @classmethod
    def read_startup(cls, conn):
        """The startup packet's body, after answering any SSLRequest/GSSENCRequest with 'N'."""
        while True:
            n = struct.unpack("!I", cls.recv_exact(conn, 4))[0]
            body = cls.recv_exact(conn, n - 4)
            if struct.unpack("!I", body[:4])[0] in (SSL_REQUEST, GSSENC_REQUEST):
                conn.sendall(b"N")
                continue
            return body


class ScramClient:
    """The client side of SCRAM-SHA-256 (RFC 5802/7677) without channel binding."""

    def __init__(self, password):
        self.password = password.encode()
        self.nonce = base64.b64encode(os.urandom(18)).decode()

    def client_first(self):
        self.first_bare = f"n=,r={self.nonce}"
        return "n,," + self.first_bare

    def client_final(self, server_first):
        attrs = dict(a.split("=", 1) for a in server_first.split(","))
        assert attrs["r"].startswith(self.nonce), "server nonce does not extend ours"
        salted = hashlib.pbkdf2_hmac("sha256", self.password, base64.b64decode(attrs["s"]), int(attrs["i"]))
        client_key = hmac.new(salted, b"Client Key", "sha256").digest()
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = f"c=biws,r={attrs['r']}"
        self.auth_message = f"{self.first_bare},{server_first},{without_proof}".encode()
        signature = hmac.new(stored_key, self.auth_message, "sha256").digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        self.server_key = hmac.new(salted, b"Server Key", "sha256").digest()
        return f"{without_proof},p={base64.b64encode(proof).decode()}"

    def verify_server_final(self, server_final):
        attrs = dict(a.split("=", 1) for a in server_final.split(","))
        expected = hmac.new(self.server_key, self.auth_message, "sha256").digest()
        assert base64.b64decode(attrs["v"]) == expected, "wedpool's SCRAM server signature is wrong"
