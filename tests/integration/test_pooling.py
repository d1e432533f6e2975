"""Transaction and session pooling, parameters, dirty servers, waiting and limits."""
import signal
import subprocess
import threading
import time

import psycopg
import pytest

from conftest import sqlstate_of


def test_transaction_mode_shares_servers(wedpool):
    wedpool.settings["max_pool_size"] = 2
    wedpool.start()
    conns = [wedpool.connect() for _ in range(10)]
    pids = set()
    for c in conns:
        pids.add(c.execute("select pg_backend_pid()").fetchone()[0])
    assert 1 <= len(pids) <= 2
    p = wedpool.pool()
    assert p["cl_active"] == 10 and p["sv_active"] + p["sv_idle"] <= 2
    for c in conns:
        c.close()


def test_transaction_keeps_server_until_commit(wedpool):
    wedpool.settings["max_pool_size"] = 1
    wedpool.settings["acquire_timeout_ms"] = 500
    wedpool.start()
    a = wedpool.connect()
    b = wedpool.connect()
    a.execute("begin")
    a.execute("select 1")
    with pytest.raises(psycopg.OperationalError) as e:
        b.execute("select 1")
    assert "53300" in str(e.value) or sqlstate_of(e) == "53300" or "no server connection available" in str(e.value)
    assert 'pool "appdb/app"' in str(e.value)
    a.execute("commit")
    c = wedpool.connect()
    assert c.execute("select 2").fetchone()[0] == 2


def test_session_mode_resets_server(wedpool):
    wedpool.settings["pool_mode"] = "session"
    wedpool.settings["max_pool_size"] = 1
    wedpool.start()
    with wedpool.connect() as a:
        pid = a.execute("select pg_backend_pid()").fetchone()[0]
        a.execute("set search_path = nowhere")
        a.execute("prepare p as select 1")
        a.execute("create temp table t(x int)")
    with wedpool.connect() as b:
        assert b.execute("select pg_backend_pid()").fetchone()[0] == pid  # same server, reused
        assert b.execute("show search_path").fetchone()[0] == '"$user", public'
        with pytest.raises(psycopg.errors.InvalidSqlStatementName):
            b.execute("execute p")


def test_startup_parameters_follow_the_client(wedpool):
    wedpool.settings["max_pool_size"] = 1
    wedpool.start()
    a = wedpool.connect(application_name="alpha", options="-c TimeZone=Asia/Tokyo -c search_path=pg_catalog")
    b = wedpool.connect(application_name="beta")
    for _ in range(3):
        assert a.execute("show application_name").fetchone()[0] == "alpha"
        assert a.execute("show timezone").fetchone()[0] == "Asia/Tokyo"
        assert a.execute("show search_path").fetchone()[0] == "pg_catalog"
        assert b.execute("show application_name").fetchone()[0] == "beta"
        assert b.execute("show timezone").fetchone()[0] != "Asia/Tokyo"
        assert b.execute("show search_path").fetchone()[0] == '"$user", public'
    # a SET of a reported parameter sticks to the client across transactions
    b.execute("set application_name = 'beta2'")
    a.execute("select 1")
    assert b.execute("show application_name").fetchone()[0] == "beta2"


def test_client_killed_mid_transaction_leaves_no_dirty_server(wedpool, tmp_path):
    wedpool.settings["max_pool_size"] = 1
    wedpool.start()
    script = tmp_path / "dirty.sql"
    script.write_text("begin;\nset local statement_timeout = 1234;\ncreate temp table dirty(x int);\n"
                      "lock table pgbench_accounts in access exclusive mode;\nselect pg_sleep(30);\n")
    env = {"PGPASSWORD": "apppass", "PATH": "/usr/bin:/bin"}
    psql = subprocess.Popen(["psql", "-h", "127.0.0.1", "-p", str(wedpool.port), "-U", "app", "appdb", "-f",
                             str(script)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline and (wedpool.pool() or {}).get("sv_active", 0) < 1:
        time.sleep(0.05)
    time.sleep(0.3)
    psql.send_signal(signal.SIGKILL)
    psql.wait()
    # the query it left running is cancelled, so its lock goes away quickly
    deadline = time.time() + 5
    locked = True
    while time.time() < deadline and locked:
        locked = wedpool.pg.sql("select count(*) from pg_locks l join pg_class c on c.oid = l.relation "
                                "where c.relname = 'pgbench_accounts' and l.mode = 'AccessExclusiveLock'",
                                db="appdb")[0][0] > 0
        time.sleep(0.1)
    assert not locked
    with wedpool.connect() as b:
        # a clean server: not in a transaction, no temp table, no lock, default settings
        assert b.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert b.execute("select count(*) from pg_class where relname = 'dirty'").fetchone()[0] == 0
        assert b.execute("show statement_timeout").fetchone()[0] == "0"
        b.execute("set lock_timeout = '2s'")
        assert b.execute("select count(*) from pgbench_branches").fetchone()[0] == 1


def test_waiters_are_served_in_order_without_errors(wedpool):
    wedpool.settings["max_pool_size"] = 2
    wedpool.start()
    errors = []

    def worker():
        try:
            with wedpool.connect() as c:
                for _ in range(20):
                    c.execute("select pg_sleep(0.005)")
        except Exception as e:  # noqa: BLE001 - collect for the assertion
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    stats = {r["database"]: r for r in wedpool.admin("SHOW STATS")}
    assert int(stats["appdb"]["total_xact_count"]) >= 600


def test_max_client_conn(wedpool):
    wedpool.settings["max_client_conn"] = 3
    wedpool.start()
    held = [wedpool.connect() for _ in range(3)]
    with pytest.raises(psycopg.OperationalError) as e:
        wedpool.connect()
    assert "too many clients" in str(e.value) and "max_client_conn=3" in str(e.value)
    held[0].close()
    time.sleep(0.1)
    with wedpool.connect() as c:
        assert c.execute("select 1").fetchone()[0] == 1


def test_backend_down_fails_fast_with_08006(wedpool, pg):
    wedpool.databases["appdb"] = "host=127.0.0.1 port=1 dbname=appdb"
    wedpool.settings["acquire_timeout_ms"] = 30000
    wedpool.start()
    t0 = time.time()
    with pytest.raises(psycopg.OperationalError) as e:
        wedpool.connect()
    assert time.time() - t0 < 5
    assert "could not connect to server" in str(e.value)
    assert "SQLSTATE 08006" in wedpool.log()


def test_server_lost_mid_query_is_08006_and_pool_recovers(wedpool, pg):
    wedpool.settings["max_pool_size"] = 2
    wedpool.start()
    a = wedpool.connect()
    pid = a.execute("select pg_backend_pid()").fetchone()[0]
    a.execute("begin")
    pg.sql(f"select pg_terminate_backend({pid})")
    with pytest.raises(psycopg.OperationalError):
        a.execute("select 1")
    with wedpool.connect() as b:
        assert b.execute("select 1").fetchone()[0] == 1
