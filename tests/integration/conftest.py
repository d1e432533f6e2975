"""Fixtures for wedpool's integration tests: a real PostgreSQL 15 cluster for the session and a
fresh wedpool daemon (the real binary) per test."""
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import psycopg
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
WEDPOOL_BIN = os.environ.get("WEDPOOL_BIN", str(ROOT / "build" / "wedpool"))
SANITIZED = os.environ.get("WEDPOOL_SANITIZED") == "1"
PGBIN = pathlib.Path("/usr/lib/postgresql/15/bin")
TEST_TIMEOUT_S = int(os.environ.get("WEDPOOL_TEST_TIMEOUT", "120"))

PASSWORDS = {"app": "apppass", "md5user": "md5pass", "postgres": "adminpass", "stats": "statspass",
             "reporting": "reportpass"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_postgres(*args, **kw):
    return subprocess.run(["runuser", "-u", "postgres", "--", *map(str, args)], check=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def scram_secret(password, salt=b"0123456789abcdef", iterations=4096):
    """A pg_authid-style SCRAM secret, computed independently of wedpool's C code."""
    import base64
    import hashlib
    import hmac
    sp = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    ck = hmac.new(sp, b"Client Key", "sha256").digest()
    sk = hmac.new(sp, b"Server Key", "sha256").digest()
    b64 = lambda b: base64.b64encode(b).decode()
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(hashlib.sha256(ck).digest())}:{b64(sk)}"


class Postgres:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="wedpool-pg-")
        shutil.chown(self.dir, "postgres")
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
                        "-U", "app", "appdb"], check=True, env=env, capture_output=True)

    def sql(self, *stmts, db="postgres"):
        result = None
        with psycopg.connect(host=self.dir, port=self.port, user="postgres", dbname=db, autocommit=True) as c:
            for stmt in stmts:
                cur = c.execute(stmt)
                result = cur.fetchall() if cur.description else None
        return result

    def stop(self):
        subprocess.run(["runuser", "-u", "postgres", "--", PGBIN / "pg_ctl", "-D", self.data, "-m", "immediate",
                        "stop"], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def pg():
    p = Postgres()
    try:
        p.start()
        yield p
    finally:
        p.stop()


class Wedpool:
    """One wedpool daemon with its own config directory."""

    def __init__(self, pg, tmp_path):
        self.pg = pg
        self.dir = tmp_path
        self.port = free_port()
        self.http_port = free_port()
        self.proc = None
        self.log_path = tmp_path / "wedpool.log"
        self.settings = {
            "listen_addr": "127.0.0.1", "listen_port": self.port, "unix_socket_dir": "",
            "auth_type": "scram-sha-256", "auth_file": "users.txt", "pool_mode": "transaction",
            "min_pool_size": 0, "max_pool_size": 20, "reserve_pool_size": 0, "max_client_conn": 10000,
            "acquire_timeout_ms": 60000, "idle_timeout_ms": 30000, "server_connect_timeout_ms": 5000,
            "server_login_retry_ms": 1000, "client_login_timeout_ms": 15000, "shutdown_timeout_ms": 30000,
            "admin_users": "postgres", "stats_users": "stats", "log_level": "info",
        }
        self.databases = {
            "appdb": f"host=127.0.0.1 port={pg.port} dbname=appdb",
            "otherdb": f"host=127.0.0.1 port={pg.port} dbname=otherdb",
            "nodb": f"host=127.0.0.1 port={pg.port} dbname=does_not_exist",
        }
        self.lanes = {}
        self.lane_rules = []
        self.users = dict(PASSWORDS)
        self.extra_users = {}

    def write_config(self):
        lines = ["[databases]"] + [f"{k} = {v}" for k, v in self.databases.items()]
        if self.lanes:
            lines += ["[lanes]"] + [f"{k} = {v}" for k, v in self.lanes.items()]
        if self.lane_rules:
            lines += ["[lane_rules]"] + [f"{k} = {v}" for k, v in self.lane_rules]
        lines += ["[wedpool]"] + [f"{k} = {v}" for k, v in self.settings.items()]
        (self.dir / "wedpool.ini").write_text("\n".join(lines) + "\n")
        users = {**self.users, **self.extra_users}
        (self.dir / "users.txt").write_text("".join(f'"{u}" "{p}"\n' for u, p in users.items()))
        return self.dir / "wedpool.ini"

    def start(self, env=None, wait=True):
        ini = self.write_config()
        e = dict(os.environ)
        e.update(env or {})
        if SANITIZED:
            e["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:halt_on_error=1"
            e["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen([WEDPOOL_BIN, "-c", str(ini)], stdout=self.logf, stderr=subprocess.STDOUT,
                                     env=e)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"wedpool exited with {self.proc.returncode}:\n{self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("wedpool did not start listening:\n" + self.log())

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def dsn(self, user="app", dbname="appdb", **kw):
        parts = {"host": "127.0.0.1", "port": self.port, "user": user, "dbname": dbname,
                 "password": kw.pop("password", self.users.get(user, "")), "connect_timeout": 10}
        parts.update(kw)
        return " ".join(f"{k}='{v}'" for k, v in parts.items())

    def connect(self, user="app", dbname="appdb", autocommit=True, **kw):
        # Named server-side prepared statements do not survive transaction pooling (a later
        # statement may run on another server), so psycopg's auto-prepare is off, as PgBouncer's
        # docs advise for transaction mode.
        return psycopg.connect(self.dsn(user, dbname, **kw), autocommit=autocommit, prepare_threshold=None)

    def admin(self, sql, user="postgres"):
        """Runs an admin console command; returns a list of dicts (or the status for commands)."""
        # the console speaks the simple query protocol, which psycopg uses for client-side binding
        with psycopg.connect(self.dsn(user, "wedpool"), autocommit=True, cursor_factory=psycopg.ClientCursor) as c:
            cur = c.execute(sql)
            if cur.description is None:
                return cur.statusmessage
            cols = [d.name for d in cur.description]
            return [dict(zip(cols, row)) for row in cur.fetchall()]

    def pool(self, dbname="appdb", user="app"):
        for row in self.admin("SHOW POOLS"):
            if row["database"] == dbname and row["user"] == user:
                return {k: (int(v) if v is not None and str(v).lstrip("-").isdigit() else v) for k, v in row.items()}
        return None

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
                self.proc.kill()
                self.proc.wait()
        self.logf.close()


@pytest.fixture
def wedpool(pg, tmp_path):
    """A configured but not yet started wedpool; tests adjust settings, then call .start()."""
    w = Wedpool(pg, tmp_path)
    yield w
    w.stop()
    log = w.log()
    if SANITIZED:
        for marker in ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer"):
            assert marker not in log, f"sanitizer report in wedpool's log:\n{log[-6000:]}"
    if w.proc is not None and w.proc.returncode not in (0, None, -signal.SIGKILL):
        pytest.fail(f"wedpool exited with status {w.proc.returncode}:\n{log[-4000:]}")


@pytest.fixture(autouse=True)
def _time_limit():
    """Every test ends within TEST_TIMEOUT_S, whatever it waits on."""
    def on_alarm(signum, frame):
        raise TimeoutError(f"test exceeded {TEST_TIMEOUT_S}s")
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TEST_TIMEOUT_S)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def sqlstate_of(excinfo):
    e = excinfo.value
    return getattr(e, "sqlstate", None) or getattr(getattr(e, "diag", None), "sqlstate", None)
