"""PostgreSQL restarts and dies under wedpool, which is never restarted: an idle server connection
unused for server_check_delay_s is checked (server_check_query) before a client gets it, so the
first query after a PostgreSQL restart works; under load only the transactions in flight get an
error (57P01 / 08006), the pools refill, and every count (SHOW POOLS, SHOW LANES, metrics) comes
back to exact; a backend killed between transactions costs the next transaction nothing."""
import re
import signal
import threading
import time
import urllib.request

import psycopg
import pytest

from helpers import PGBIN, as_postgres, spawn, wait_for


def restart_postgres(pg):
    """pg_ctl restart in fast mode: every backend is terminated (57P01), PostgreSQL comes back on the same port."""
    as_postgres(PGBIN / "pg_ctl", "-D", pg.data, "-l", f"{pg.dir}/log", "-m", "fast", "-w", "restart")


def frozen_restart(wedpool, conn):
    """The race a check exists for, made certain: wedpool is stopped (SIGSTOP) while the client's
    query arrives and PostgreSQL restarts, so when it resumes the query is read before the dead idle
    server's end (readiness comes in order). Returns the thread running the query."""
    wedpool.signal(signal.SIGSTOP)
    try:
        t = spawn(lambda: conn.execute("select 41 + 1").fetchone()[0])
        time.sleep(0.3)  # the query reaches the stopped wedpool's socket (nothing to poll: it is frozen)
        restart_postgres(wedpool.pg)
    finally:
        wedpool.signal(signal.SIGCONT)
    t.join(15)
    return t


def test_first_query_after_a_postgres_restart_succeeds(wedpool):
    wedpool.settings.update(server_check_delay_s=0, max_pool_size=2)
    wedpool.start()
    with wedpool.connect() as a:
        before = a.execute("select pg_backend_pid()").fetchone()[0]  # its server goes back idle
        t = frozen_restart(wedpool, a)
        assert t.error is None and t.result == 42, t.error
        assert a.execute("select pg_backend_pid()").fetchone()[0] != before
    assert wedpool.proc.poll() is None
    p = wedpool.pool()
    assert p["cl_active"] == 0 and p["cl_waiting"] == 0


def test_without_the_check_the_first_query_after_a_restart_fails(wedpool):
    """What server_check_delay_s prevents: the idle server PostgreSQL's restart killed is handed out."""
    wedpool.settings.update(server_check_delay_s=-1, max_pool_size=2)
    wedpool.start()
    with wedpool.connect() as a:
        a.execute("select 1")
        t = frozen_restart(wedpool, a)
        assert isinstance(t.error, psycopg.OperationalError), (t.result, t.error)
    with wedpool.connect() as b:  # the next connection is fine either way
        assert b.execute("select 1").fetchone()[0] == 1


def test_a_failing_check_closes_the_server_and_another_serves(wedpool):
    """A server whose check fails is never handed out: the client gets a fresh one."""
    wedpool.settings.update(server_check_delay_s=0, server_check_query="select 1/0", max_pool_size=2)
    wedpool.start()
    with wedpool.connect() as a:
        pids = [a.execute("select pg_backend_pid()").fetchone()[0] for _ in range(3)]
    assert len(set(pids)) == 3, pids  # each idle server failed its check and was replaced
    p = wedpool.pool()
    assert p["cl_active"] == 0 and p["sv_active"] == 0


def test_idle_servers_within_the_delay_are_not_checked(wedpool):
    wedpool.settings.update(server_check_delay_s=3600, server_check_query="select 1/0", max_pool_size=2)
    wedpool.start()
    with wedpool.connect() as a:
        pids = {a.execute("select pg_backend_pid()").fetchone()[0] for _ in range(3)}
    assert len(pids) == 1, pids


def test_backend_killed_between_transactions_next_transaction_works(wedpool):
    wedpool.settings.update(server_check_delay_s=0, max_pool_size=1)
    wedpool.start()
    with wedpool.connect() as a:
        for _ in range(3):
            pid = a.execute("select pg_backend_pid()").fetchone()[0]
            wedpool.pg.sql(f"select pg_terminate_backend({pid})")
            # no waiting for wedpool to notice: the check (or the server's end) keeps it from the client
            a.execute("begin")
            assert a.execute("select pg_backend_pid()").fetchone()[0] != pid
            a.execute("commit")
    p = wedpool.pool()
    assert p["cl_active"] == 0 and p["sv_active"] == 0


# ---------------------------------------------------------------------------------------------
# PostgreSQL restarted under load

BROKEN = ("57P01", "08006", "57P03", None)  # shut down / connection lost / starting up
# a transaction in flight when PostgreSQL shut down: its backend's 57P01 (wedpool forwards it, then
# closes), or wedpool's 08006; a client that was between two statements of its transaction may
# write its next one into the closed socket, and libpq then reports the close without the message
# (as it does connected to PostgreSQL directly)
IN_FLIGHT = ("terminating connection due to administrator command", "server connection lost",
             "server closed the connection unexpectedly")
# one that started while PostgreSQL was down: wedpool's fast failure naming the pool and the reason
WHILE_DOWN = ('server login for pool "appdb/app" failed', "could not connect to server")


class Workers:
    """Clients running short write transactions through wedpool in a loop; on a lost connection they
    reconnect and go on. Every error is recorded with its SQLSTATE and when it happened."""

    def __init__(self, w, n=24):
        self.w = w
        self.running = True
        self.errors = []
        self.ok = [0] * n
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True) for i in range(n)]
        for t in self.threads:
            t.start()

    def run(self, i):
        conn = None
        while self.running:
            try:
                if conn is None or conn.closed:
                    conn = self.w.connect(autocommit=False)
                with conn.transaction():
                    conn.execute("update pgbench_accounts set abalance = abalance + 1 where aid = %s", (i + 1,))
                    conn.execute("select pg_sleep(0.005)")
                with self.lock:
                    self.ok[i] += 1
            except psycopg.Error as e:
                with self.lock:
                    self.errors.append((time.time(), i, e.sqlstate, str(e).strip().splitlines()[0] if str(e) else ""))
                if conn is not None and not conn.closed and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    conn.close()
                time.sleep(0.05)

    def stop(self):
        self.running = False
        for t in self.threads:
            t.join(15)


def http_text(w, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{w.http_port}{path}", timeout=5) as r:
        return r.read().decode()


def metric(text, name, **labels):
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {name}{{{want}}} in metrics")


@pytest.mark.time_limit(90)
def test_postgres_restart_under_load(wedpool):
    wedpool.settings.update(max_pool_size=10, min_pool_size=4, server_check_delay_s=0,
                            http_listen=f"127.0.0.1:{wedpool.http_port}", server_login_retry_ms=200)
    wedpool.start()
    work = Workers(wedpool)
    try:
        assert wait_for(lambda: sum(1 for n in work.ok if n > 0) == len(work.ok), timeout=10), work.ok
        t0 = time.time()
        restart_postgres(wedpool.pg)
        t1 = time.time()
        ok_after = list(work.ok)
        # every client commits again, without wedpool being restarted
        assert wait_for(lambda: all(n > b for n, b in zip(work.ok, ok_after)), timeout=20), (work.ok, work.errors[-5:])
        settle = time.time()
    finally:
        work.stop()
    assert wedpool.proc.poll() is None
    late = [e for e in work.errors if e[0] > settle]
    assert not late, late
    # psycopg reports a FATAL that ends the connection without its SQLSTATE: the message says which
    in_flight = [e for e in work.errors if any(m in e[3] for m in IN_FLIGHT)]
    while_down = [e for e in work.errors if any(m in e[3] for m in WHILE_DOWN)]
    assert len(in_flight) + len(while_down) == len(work.errors), work.errors
    assert not while_down, while_down  # new transactions sit out the restart
    per_client = {}
    for e in work.errors:
        per_client[e[1]] = per_client.get(e[1], 0) + 1
    assert all(n == 1 for n in per_client.values()), per_client  # at most the one transaction in flight
    assert {e[2] for e in work.errors} <= set(BROKEN), work.errors
    print(f"restart under load: pg_ctl restart -m fast took {t1 - t0:.2f} s; {len(work.ok)} clients, "
          f"{sum(work.ok)} transactions committed; {len(in_flight)} in-flight transactions ended with 57P01, "
          f"{len(while_down)} new transactions while PostgreSQL was down failed fast; last error "
          f"{max((e[0] for e in work.errors), default=t0) - t1:+.2f} s after PostgreSQL was back")
    # counts come back exact: nothing active, nothing on the reserve, the pool refilled
    assert wait_for(lambda: wedpool.pool()["cl_active"] == 0 and wedpool.pool()["sv_active"] == 0), wedpool.pool()
    lanes = wedpool.admin("SHOW LANES")
    assert all(int(r["active"]) == 0 and int(r["reserve_in_use"]) == 0 for r in lanes), lanes
    text = http_text(wedpool, "/metrics")
    assert metric(text, "wedpool_lane_active_connections", database="appdb", user="app", lane="default") == 0
    assert metric(text, "wedpool_reserve_in_use", database="appdb", user="app", lane="default") == 0
    assert wait_for(lambda: wedpool.pool()["sv_idle"] >= 4, timeout=10), wedpool.pool()
    with wedpool.connect() as c:
        assert c.execute("select 1").fetchone()[0] == 1


def test_a_backend_that_stays_down_fails_waiters_after_server_connect_timeout(wedpool):
    """Sitting out a restart is bounded: when PostgreSQL does not come back, a client waiting for it
    gets a clear error within server_connect_timeout_ms (+ one login retry), not acquire_timeout_ms."""
    wedpool.settings.update(server_connect_timeout_ms=1500, server_login_retry_ms=200, acquire_timeout_ms=60000)
    wedpool.start()
    pg = wedpool.pg
    with wedpool.connect() as a:
        a.execute("select 1")
        as_postgres(PGBIN / "pg_ctl", "-D", pg.data, "-m", "fast", "-w", "stop")
        try:
            t0 = time.time()
            with pytest.raises(psycopg.OperationalError) as e:
                a.execute("select 1")
            waited = time.time() - t0
        finally:
            as_postgres(PGBIN / "pg_ctl", "-D", pg.data, "-l", f"{pg.dir}/log", "-w", "start")
    assert 0.5 < waited < 1.5 + 1.0, waited
    assert "cannot reach the server of database \"appdb\"" in str(e.value), e.value

    def serves():
        try:
            with wedpool.connect() as b:
                return b.execute("select 1").fetchone()[0] == 1
        except psycopg.OperationalError:  # within server_login_retry_ms of the last failure
            return False
    assert wait_for(serves, timeout=5)  # once it is back, the pool serves again


def test_a_check_that_never_answers_closes_the_server_and_another_serves(wedpool):
    """A server connection that is dead without TCP knowing (here: its backend frozen with SIGSTOP)
    fails its check by not answering within server_connect_timeout_ms: a fresh one serves."""
    import os
    wedpool.settings.update(server_check_delay_s=0, server_connect_timeout_ms=1000, max_pool_size=2)
    wedpool.start()
    with wedpool.connect() as a:
        frozen = a.execute("select pg_backend_pid()").fetchone()[0]
        os.kill(frozen, signal.SIGSTOP)
        try:
            t0 = time.time()
            assert a.execute("select pg_backend_pid()").fetchone()[0] != frozen
            took = time.time() - t0
        finally:
            os.kill(frozen, signal.SIGCONT)
    assert 0.9 < took < 3, took
    assert "did not answer its reset or check within server_connect_timeout_ms=1000" in wedpool.log()
    p = wedpool.pool()
    assert p["cl_active"] == 0 and p["sv_used"] == 0
