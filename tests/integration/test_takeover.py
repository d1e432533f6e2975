"""Restarting wedpool without dropping anyone: `wedpool --takeover -c FILE` receives the running
process's listening sockets (clients and HTTP) over the takeover socket; the old process stops
accepting, lets transactions finish, closes clients between transactions and exits. A
connect-and-query loop at ~200/s through two takeovers sees no refused connection and no failed
query; a transaction open in the old process commits; a takeover with nothing to take over fails
with a clear message."""
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request

import psycopg
import pytest

from helpers import WEDPOOL_BIN, run_cli, sanitizer_env, wait_for

RESULTS = os.environ.get("WEDPOOL_TAKEOVER_RESULTS")  # bench/takeover.sh: where to write the figures


@pytest.fixture
def tk(wedpool):
    """A wedpool with a pidfile, an HTTP endpoint and a short takeover socket path (a unix socket
    path must fit in 108 bytes; pytest's tmp_path may not)."""
    d = tempfile.mkdtemp(prefix="wp-tk-")
    wedpool.settings.update(pidfile=str(wedpool.dir / "wedpool.pid"), takeover_socket=f"{d}/takeover.sock",
                            unix_socket_dir=d,
                            http_listen=f"127.0.0.1:{wedpool.http_port}", shutdown_timeout_ms=10000)
    yield wedpool
    shutil.rmtree(d, ignore_errors=True)


def take_over(w):
    """Starts `wedpool --takeover` on w's config, logging into w's log. Returns (old process, new process,
    seconds from the start of the new process until the old one stopped accepting)."""
    old = w.proc
    before = w.log().count("accepts no more")
    t0 = time.time()
    new = subprocess.Popen([WEDPOOL_BIN, "--takeover", "-c", str(w.ini)], stdout=w.logf, stderr=subprocess.STDOUT,
                           env=sanitizer_env())
    assert wait_for(lambda: w.log().count("accepts no more") > before or new.poll() is not None, timeout=15), w.log()
    switch = time.time() - t0
    assert new.poll() is None, f"the new process exited with {new.returncode}:\n{w.log()[-4000:]}"
    w.proc = new  # the fixture stops (and checks) the newest process
    return old, new, switch


def pid_in(w):
    return int((w.dir / "wedpool.pid").read_text())


def http_status(w, path="/healthz"):
    with urllib.request.urlopen(f"http://127.0.0.1:{w.http_port}{path}", timeout=5) as r:
        return r.status


class ConnectLoop:
    """connect -> query -> disconnect, paced to `rate` attempts a second over `threads` threads; every
    failure is kept with its message (a refused connection says "Connection refused")."""

    def __init__(self, w, rate=200, threads=4):
        self.w, self.interval, self.threads = w, threads / rate, threads
        self.running = True
        self.attempts = 0
        self.errors = []
        self.worst_s = 0.0
        self.lock = threading.Lock()
        self.workers = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]
        for t in self.workers:
            t.start()

    def run(self):
        dsn = self.w.dsn()
        nxt = time.time()
        while self.running:
            t0 = time.time()
            try:
                with psycopg.connect(dsn, autocommit=True, prepare_threshold=None) as c:
                    assert c.execute("select 1").fetchone()[0] == 1
                err = None
            except Exception as e:  # noqa: BLE001 - counted and reported
                err = repr(e)
            took = time.time() - t0
            with self.lock:
                self.attempts += 1
                self.worst_s = max(self.worst_s, took)
                if err:
                    self.errors.append(err)
            nxt += self.interval
            time.sleep(max(0.0, nxt - time.time()))

    def stop(self):
        self.running = False
        for t in self.workers:
            t.join(15)

    def figures(self):
        refused = sum("refused" in e.lower() for e in self.errors)
        return {"attempts": self.attempts, "refused": refused, "failed": len(self.errors) - refused,
                "worst_connect_query_ms": round(self.worst_s * 1000, 1)}


@pytest.mark.time_limit(90)
def test_takeover_under_a_connect_loop_refuses_nobody(tk):
    tk.start()
    first = tk.proc
    assert pid_in(tk) == first.pid
    assert os.stat(tk.settings["takeover_socket"]).st_mode & 0o777 == 0o600
    loop = ConnectLoop(tk)
    try:
        time.sleep(1.0)  # load before the switch (a measurement window)
        switches, exits = [], []
        for _ in range(2):  # a second takeover, from the process that took over
            old, new, switch = take_over(tk)
            t0 = time.time()
            old.wait(15)
            exits.append(time.time() - t0 + switch)
            switches.append(switch)
            assert old.returncode == 0, tk.log()[-4000:]
            assert pid_in(tk) == new.pid  # the old process left the new one's pidfile alone
            time.sleep(1.0)  # load after the switch, served by the new process alone
    finally:
        loop.stop()
    figures = loop.figures()
    figures.update(switch_s=[round(s, 3) for s in switches], old_exit_s=[round(s, 3) for s in exits],
                   rate_per_s=200)
    print("takeover figures:", json.dumps(figures))
    if RESULTS:
        with open(RESULTS, "w") as f:
            json.dump(figures, f)
    assert figures["refused"] == 0 and figures["failed"] == 0, (figures, loop.errors[:5])
    assert figures["attempts"] >= 200, figures  # ~600 on an idle machine; fewer when the cores are busy
    # the last process serves clients (TCP and unix socket), HTTP and the admin console, on the
    # sockets it received; no old process removed a socket file
    assert os.path.exists(tk.settings["takeover_socket"])
    with tk.connect() as c:
        assert c.execute("select 2").fetchone()[0] == 2
    with tk.connect(host=tk.settings["unix_socket_dir"]) as c:
        assert c.execute("select 3").fetchone()[0] == 3
    assert http_status(tk) == 200
    assert tk.pool()["cl_active"] == 0
    log = tk.log()
    assert log.count("takeover: received") == 2 and log.count("exiting") == 2, log[-4000:]


@pytest.mark.time_limit(60)
def test_transaction_open_in_the_old_process_completes(tk):
    tk.pg.sql("create table if not exists takeover_t(x int)", db="appdb")
    tk.start()
    a = tk.connect(autocommit=False)
    a.execute("insert into takeover_t values (42)")  # a transaction open in the old process
    old, new, _ = take_over(tk)
    assert old.poll() is None, "the old process left with a transaction open"
    with tk.connect() as b:  # new connections go to the new process meanwhile
        assert b.execute("select 1").fetchone()[0] == 1
    a.commit()
    old.wait(10)  # ... and once its last transaction is over, the old process exits
    assert old.returncode == 0
    a.close()
    with tk.connect() as b:
        assert b.execute("select count(*) from takeover_t where x = 42").fetchone()[0] >= 1
        b.execute("delete from takeover_t")


@pytest.mark.parametrize("dbname", ["appdb", "sess"])
def test_idle_client_of_the_old_process_is_closed_between_transactions(tk, dbname):
    """Transaction mode, and session mode where the idle client holds its server."""
    tk.databases["sess"] = f"host=127.0.0.1 port={tk.pg.port} dbname=appdb pool_mode=session"
    tk.start()
    a = tk.connect(dbname=dbname)
    a.execute("select 1")
    old, new, _ = take_over(tk)
    old.wait(5)  # an idle client does not hold the old process up (shutdown_timeout_ms is 10 s)
    with pytest.raises(psycopg.OperationalError):
        a.execute("select 1")
    a.close()
    with tk.connect(dbname=dbname) as b:  # it reconnects, to the new process
        assert b.execute("select 1").fetchone()[0] == 1


def test_takeover_with_no_running_process_fails_clearly(tk):
    tk.write_config()
    out = run_cli("--takeover", "-c", tk.ini)
    assert out.returncode == 1
    text = out.stdout + out.stderr
    assert "no running wedpool answers on takeover socket" in text and tk.settings["takeover_socket"] in text, text


def test_a_second_wedpool_without_takeover_is_refused(tk):
    tk.start()
    out = run_cli("-c", tk.ini)
    assert out.returncode == 1
    with tk.connect() as c:  # the running one is untouched
        assert c.execute("select 1").fetchone()[0] == 1


def test_a_takeover_that_never_says_go_leaves_the_old_process_serving(tk):
    """A new process that receives the sockets and dies before it serves (here: a fake one that
    hangs up) changes nothing: the running process keeps accepting."""
    import socket
    import struct
    tk.start()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(tk.settings["takeover_socket"])
        s.sendall(struct.pack("=II", 0x57505431, 1))
        data, fds, _, _ = socket.recv_fds(s, 4096, 16)
        for fd in fds:
            os.close(fd)
        assert len(fds) == 4  # TCP, unix socket, HTTP, the takeover socket
    assert wait_for(lambda: "abandoned" in tk.log()), tk.log()[-2000:]
    for _ in range(3):
        with tk.connect() as c:
            assert c.execute("select 1").fetchone()[0] == 1
    assert http_status(tk) == 200
    assert tk.proc.poll() is None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:  # a peer speaking something else
        s.settimeout(5)
        s.connect(tk.settings["takeover_socket"])
        s.sendall(b"GET / HTTP/1.0\r\n")
        try:
            assert s.recv(100) == b""  # hung up on
        except ConnectionResetError:
            pass  # ... with some of its bytes unread
    assert "another takeover protocol" in tk.log()
    _, new, _ = take_over(tk)  # and a real takeover still works afterwards
    with tk.connect() as c:
        assert c.execute("select 1").fetchone()[0] == 1
