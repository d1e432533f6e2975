"""Pooling: transaction and session mode, server reuse, waiting, pool sizing (min, idle timeout,
lifetime), pools per (database, user), per-database overrides, and servers that fail."""
import time

import psycopg
import pytest

from helpers import WireError, spawn, wait_for


def test_transaction_mode_shares_servers(wedpool):
    wedpool.settings["max_pool_size"] = 2
    wedpool.start()
    conns = [wedpool.connect() for _ in range(10)]
    pids = {c.execute("select pg_backend_pid()").fetchone()[0] for c in conns for _ in range(3)}
    assert 1 <= len(pids) <= 2
    p = wedpool.pool()
    assert p["cl_active"] == 10 and p["cl_waiting"] == 0
    assert p["sv_active"] + p["sv_idle"] + p["sv_used"] <= 2
    assert len(wedpool.pg.backends()) <= 2
    for c in conns:
        c.close()


def test_sequential_clients_reuse_one_server(wedpool):
    wedpool.start()
    pids = set()
    for _ in range(15):
        with wedpool.connect() as c:
            pids.add(c.execute("select pg_backend_pid()").fetchone()[0])
    assert len(pids) == 1


def test_a_transaction_stays_on_one_server(wedpool):
    wedpool.settings["max_pool_size"] = 3
    wedpool.start()
    conns = [wedpool.connect() for _ in range(3)]
    for c in conns:
        c.execute("begin")
    seen = {id(c): set() for c in conns}
    for _ in range(5):
        for c in conns:
            seen[id(c)].add(c.execute("select pg_backend_pid(), txid_current()").fetchone())
    assert all(len(s) == 1 for s in seen.values())  # one server, one transaction id each
    assert len({next(iter(s))[0] for s in seen.values()}) == 3
    for c in conns:
        c.execute("commit")
        c.close()


def test_transaction_holds_the_server_until_commit(wedpool):
    wedpool.settings["max_pool_size"] = 1
    wedpool.start()
    a, b = wedpool.connect(), wedpool.connect()
    a.execute("begin")
    a.execute("select 1")
    t = spawn(lambda: (b.execute("select 2").fetchone()[0], time.time()))
    assert wait_for(lambda: wedpool.pool()["cl_waiting"] == 1)
    time.sleep(0.3)  # a stays in its transaction a while: b keeps waiting
    assert t.is_alive() and wedpool.pool()["cl_waiting"] == 1
    committed = time.time()
    a.execute("commit")
    t.join(5)
    assert t.error is None and t.result[0] == 2 and t.result[1] >= committed
    a.close()
    b.close()


def test_failed_transaction_holds_the_server_until_rollback(wedpool):
    wedpool.settings["max_pool_size"] = 1
    wedpool.start()
    a, b = wedpool.connect(), wedpool.connect()
    a.execute("begin")
    with pytest.raises(psycopg.errors.DivisionByZero):
        a.execute("select 1/0")
    assert a.info.transaction_status == psycopg.pq.TransactionStatus.INERROR
    t = spawn(lambda: b.execute("select 2").fetchone()[0])
    assert wait_for(lambda: wedpool.pool()["cl_waiting"] == 1)
    time.sleep(0.2)  # a stays in its failed transaction a while: b keeps waiting
    assert t.is_alive() and wedpool.pool()["cl_waiting"] == 1
    a.execute("rollback")
    t.join(5)
    assert t.error is None and t.result == 2
    a.close()
    b.close()


def test_waiters_are_served_without_errors(wedpool):
    wedpool.settings["max_pool_size"] = 2
    wedpool.start()

    def worker():
        with wedpool.connect() as c:
            for _ in range(20):
                c.execute("select pg_sleep(0.005)")

    threads = [spawn(worker) for _ in range(30)]
    for t in threads:
        t.join(60)
    assert [t.error for t in threads if t.error] == []
    assert not any(t.is_alive() for t in threads)
    stats = {r["database"]: r for r in wedpool.admin("SHOW STATS")}
    assert int(stats["appdb"]["total_xact_count"]) >= 600
    assert len(wedpool.pg.backends()) <= 2


def test_waiters_are_served_first_come_first_served(wedpool):
    wedpool.settings["max_pool_size"] = 1
    wedpool.start()
    wedpool.pg.sql("create sequence if not exists fifo_order", db="appdb")
    holder = wedpool.connect()
    holder.execute("begin")
    holder.execute("select 1")
    waiters = [wedpool.connect() for _ in range(5)]
    threads = []
    for i, c in enumerate(waiters):
        threads.append(spawn(lambda c=c: c.execute("select nextval('fifo_order')").fetchone()[0]))
        assert wait_for(lambda: wedpool.pool()["cl_waiting"] == i + 1)
    holder.execute("commit")
    for t in threads:
        t.join(10)
    order = [t.result for t in threads]
    assert order == sorted(order) and None not in order
    for c in waiters + [holder]:
        c.close()


def test_session_mode_gives_each_client_its_own_server(wedpool):
    wedpool.settings["pool_mode"] = "session"
    wedpool.settings["max_pool_size"] = 2
    wedpool.start()
    a, b = wedpool.connect(), wedpool.connect()
    pa = {a.execute("select pg_backend_pid()").fetchone()[0] for _ in range(5)}
    pb = {b.execute("select pg_backend_pid()").fetchone()[0] for _ in range(5)}
    assert len(pa) == 1 and len(pb) == 1 and pa != pb
    # session state survives between transactions, unlike in transaction mode
    a.execute("set work_mem = '7MB'")
    b.execute("select 1")
    assert a.execute("show work_mem").fetchone()[0] == "7MB"
    # both servers are taken while a and b stay connected, even idle: c waits ...
    c = wedpool.connect()
    t = spawn(lambda: c.execute("select pg_backend_pid()").fetchone()[0])
    assert wait_for(lambda: wedpool.pool()["cl_waiting"] == 1)
    time.sleep(0.2)  # a and b stay connected a while: c keeps waiting
    assert t.is_alive() and wedpool.pool()["cl_waiting"] == 1
    # ... until one of them leaves, and then gets its server
    a.close()
    t.join(5)
    assert t.error is None and t.result in pa
    b.close()
    c.close()


def test_session_mode_resets_the_server_between_clients(wedpool):
    wedpool.settings["pool_mode"] = "session"
    wedpool.settings["max_pool_size"] = 1
    wedpool.start()
    with wedpool.connect() as a:
        pid = a.execute("select pg_backend_pid()").fetchone()[0]
        a.execute("set search_path = nowhere")
        a.execute("prepare p as select 1")
        a.execute("create temp table t(x int)")
        a.execute("select pg_advisory_lock(4242)")
    with wedpool.connect() as b:
        assert b.execute("select pg_backend_pid()").fetchone()[0] == pid  # same server, reused
        assert b.execute("show search_path").fetchone()[0] == '"$user", public'
        assert b.execute("select count(*) from pg_class where relname = 't' and relpersistence = 't'"
                         ).fetchone()[0] == 0
        assert b.execute("select count(*) from pg_locks where locktype = 'advisory'").fetchone()[0] == 0
        with pytest.raises(psycopg.errors.InvalidSqlStatementName):
            b.execute("execute p")


def test_idle_servers_above_min_pool_size_close_after_idle_timeout(wedpool):
    wedpool.settings.update(min_pool_size=2, max_pool_size=6, idle_timeout_ms=500)
    wedpool.start()
    conns = [wedpool.connect() for _ in range(5)]
    for c in conns:  # five transactions open at once need five servers
        c.execute("begin")
        c.execute("select 1")
    assert len(wedpool.pg.backends()) == 5
    for c in conns:
        c.execute("commit")
    # the surplus goes away after idle_timeout_ms, min_pool_size stays
    assert wait_for(lambda: len(wedpool.pg.backends()) == 2, timeout=6)
    time.sleep(0.7)  # idle for longer than idle_timeout_ms again: min_pool_size still stays
    assert len(wedpool.pg.backends()) == 2
    p = wedpool.pool()
    assert p["sv_idle"] + p["sv_used"] == 2 and p["sv_active"] == 0
    for c in conns:
        c.close()


def test_min_pool_size_is_kept_open(wedpool):
    wedpool.settings.update(min_pool_size=3, max_pool_size=10)
    wedpool.start()
    with wedpool.connect() as c:
        c.execute("select 1")
    assert wait_for(lambda: len(wedpool.pg.backends()) == 3, timeout=6)
    # a server that dies is replaced
    victim = wedpool.pg.backends()[0]["pid"]
    wedpool.pg.sql(f"select pg_terminate_backend({victim})")
    assert wait_for(lambda: len(wedpool.pg.backends()) == 3 and victim not in
                    [b["pid"] for b in wedpool.pg.backends()], timeout=6)


def test_server_lifetime_replaces_old_servers(wedpool):
    wedpool.settings["server_lifetime_s"] = 1
    wedpool.start()
    with wedpool.connect() as c:
        first = c.execute("select pg_backend_pid()").fetchone()[0]
        time.sleep(1.2)  # the server outlives server_lifetime_s

        def changed():
            return c.execute("select pg_backend_pid()").fetchone()[0] != first
        assert wait_for(changed, timeout=4, interval=0.2)


def test_pools_are_per_database_and_user(wedpool):
    wedpool.settings["max_pool_size"] = 1
    wedpool.start()
    a = wedpool.connect()
    a.execute("begin")
    a.execute("select 1")  # holds the only server of appdb/app
    with wedpool.connect(dbname="otherdb") as o, wedpool.connect(user="md5user") as m:
        assert o.execute("select current_database()").fetchone()[0] == "otherdb"
        assert m.execute("select current_user").fetchone()[0] == "md5user"
    pools = {(r["database"], r["user"]) for r in wedpool.admin("SHOW POOLS")}
    assert {("appdb", "app"), ("otherdb", "app"), ("appdb", "md5user")} <= pools
    a.execute("commit")
    a.close()


def test_database_line_overrides_pool_settings(wedpool):
    wedpool.databases["sess"] = (f"host=127.0.0.1 port={wedpool.pg.port} dbname=appdb pool_mode=session "
                                 "max_pool_size=2 min_pool_size=1")
    wedpool.start()
    with wedpool.connect(dbname="sess") as c:
        c.execute("set work_mem = '3MB'")
        assert c.execute("show work_mem").fetchone()[0] == "3MB"
        p = wedpool.pool("sess")
        assert p["pool_mode"] == "session" and p["max_pool_size"] == 2 and p["min_pool_size"] == 1


def test_backend_down_fails_fast_with_08006(wedpool):
    wedpool.databases["appdb"] = "host=127.0.0.1 port=1 dbname=appdb"
    wedpool.settings["acquire_timeout_ms"] = 30000
    wedpool.start()
    t0 = time.time()
    with wedpool.wire() as w, pytest.raises(WireError) as e:
        w.login()
        w.query("select 1")
    assert time.time() - t0 < 5
    assert e.value.sqlstate == "08006"
    with pytest.raises(psycopg.OperationalError):
        wedpool.connect().execute("select 1")
    assert time.time() - t0 < 10
    assert wedpool.proc.poll() is None


def test_server_lost_mid_transaction_and_pool_recovers(wedpool):
    wedpool.settings["max_pool_size"] = 2
    wedpool.start()
    a = wedpool.connect()
    a.execute("begin")
    pid = a.execute("select pg_backend_pid()").fetchone()[0]
    wedpool.pg.sql(f"select pg_terminate_backend({pid})")
    with pytest.raises(psycopg.OperationalError) as e:
        a.execute("select 1")
    assert e.value.sqlstate in (None, "08006", "57P01")
    with wedpool.connect() as b:
        assert b.execute("select 1").fetchone()[0] == 1
        assert b.execute("select pg_backend_pid()").fetchone()[0] != pid


def test_idle_server_that_died_is_not_handed_out(wedpool):
    wedpool.settings.update(max_pool_size=1, server_check_delay_s=0)
    wedpool.start()
    with wedpool.connect() as a:
        pid = a.execute("select pg_backend_pid()").fetchone()[0]
        wedpool.pg.sql(f"select pg_terminate_backend({pid})")
        assert wait_for(lambda: pid not in [b["pid"] for b in wedpool.pg.backends()])
        # no waiting for wedpool to see its idle server close: server_check_delay_s=0 checks it first
        # a is idle (no server); its next transaction gets a fresh server, with no error
        assert a.execute("select pg_backend_pid()").fetchone()[0] != pid
