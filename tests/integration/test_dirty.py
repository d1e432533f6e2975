"""A client that goes away in the middle of a transaction (killed, reset, or polite with a
Terminate) must never leave its server connection dirty for the next client: no open transaction,
no SET LOCAL, no temp table, no lock, no half-done COPY or extended-protocol batch. With
max_pool_size=1 the next client necessarily gets the same server slot."""
import signal
import socket
import struct
import subprocess
import sys

import psycopg
import pytest

from helpers import cstr, message, wait_for

# A real client process that opens a dirty transaction, says "ready", then runs its last statement
# (or sleeps) until it is killed.
KILLABLE = r"""
import sys, time, psycopg
conn = psycopg.connect(sys.argv[1], prepare_threshold=None)  # not autocommit: the first statement BEGINs
conn.execute("set local statement_timeout = 1234")
conn.execute("create temp table dirty_tmp(x int)")
conn.execute("insert into dirty_marker values (%s)", (sys.argv[2],))
conn.execute("lock table pgbench_accounts in access exclusive mode")
print("ready", flush=True)
if sys.argv[3] == "query":
    conn.execute("select pg_sleep(30)")
else:
    time.sleep(30)
"""


@pytest.fixture
def dirty_pool(wedpool):
    wedpool.settings["max_pool_size"] = 1
    wedpool.pg.sql("create table if not exists dirty_marker(tag text)", db="appdb")
    wedpool.start()
    return wedpool


def exclusive_locks(pg):
    return pg.sql("select count(*) from pg_locks where relation = 'pgbench_accounts'::regclass "
                  "and mode = 'AccessExclusiveLock'", db="appdb")[0][0]


def assert_clean(wedpool, tag):
    """The next client gets a clean server, and the gone client's transaction was rolled back."""
    pg = wedpool.pg
    # whatever wedpool did (rollback, reset, close), the lock goes away quickly
    assert wait_for(lambda: exclusive_locks(pg) == 0, timeout=5), "the killed client's lock is still held"
    with wedpool.connect() as b:
        b.execute("set lock_timeout = '3s'")
        assert b.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert b.execute("select count(*) from pg_class where relname = 'dirty_tmp'").fetchone()[0] == 0
        assert b.execute("show statement_timeout").fetchone()[0] == "0"
        assert b.execute("select count(*) from pgbench_accounts where aid = 1").fetchone()[0] == 1  # no lock
        assert b.execute("select count(*) from dirty_marker where tag = %s", (tag,)).fetchone()[0] == 0
        assert b.execute("select txid_current_if_assigned()").fetchone()[0] is None
        b.execute("begin")
        assert b.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        b.execute("commit")
    # no server is left idle in a transaction
    assert wait_for(lambda: not [x for x in pg.backends() if x["in_xact"] and x["state"] != "active"], timeout=3)


def run_killable(wedpool, tag, last):
    p = subprocess.Popen([sys.executable, "-c", KILLABLE, wedpool.dsn(), tag, last], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    assert line.strip() == "ready", p.stderr.read() if p.poll() is not None else line
    return p


def test_client_killed_while_idle_in_transaction(dirty_pool):
    p = run_killable(dirty_pool, "idle-kill", "sleep")
    assert exclusive_locks(dirty_pool.pg) == 1
    p.kill()
    p.wait()
    assert_clean(dirty_pool, "idle-kill")


def test_client_killed_while_its_query_runs(dirty_pool):
    p = run_killable(dirty_pool, "busy-kill", "query")
    assert wait_for(lambda: any(b["state"] == "active" for b in dirty_pool.pg.backends()))
    p.kill()
    p.wait()
    assert_clean(dirty_pool, "busy-kill")


def test_client_connection_reset_mid_transaction(dirty_pool):
    """An abortive close (RST) rather than a FIN."""
    w = dirty_pool.wire()
    w.login()
    for sql in ("begin", "set local statement_timeout = 1234", "create temp table dirty_tmp(x int)",
                "insert into dirty_marker values ('reset')", "lock table pgbench_accounts in access exclusive mode"):
        assert w.query(sql).error is None
    w.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    w.close()
    assert_clean(dirty_pool, "reset")


def test_terminate_mid_transaction_rolls_back(dirty_pool):
    c = dirty_pool.connect(autocommit=False)
    c.execute("create temp table dirty_tmp(x int)")
    c.execute("insert into dirty_marker values ('terminate')")
    c.execute("lock table pgbench_accounts in access exclusive mode")
    c.close()  # sends Terminate with the transaction still open
    assert_clean(dirty_pool, "terminate")


def test_client_gone_in_the_middle_of_copy_in(dirty_pool):
    w = dirty_pool.wire()
    w.login()
    assert w.query("begin").error is None
    assert w.query("insert into dirty_marker values ('copy')").error is None
    w.send_msg(b"Q", cstr("copy dirty_marker from stdin"))
    t, _ = w.recv_msg()
    assert t == b"G"  # CopyInResponse
    w.send(message(b"d", b"half-way\n") + message(b"d", b"more"))
    w.close()
    assert_clean(dirty_pool, "copy")
    assert_clean(dirty_pool, "half-way")


def test_client_gone_in_the_middle_of_copy_out(dirty_pool):
    w = dirty_pool.wire()
    w.login()
    w.send_msg(b"Q", cstr("copy (select repeat('x', 1000) from generate_series(1, 200000)) to stdout"))
    t, _ = w.recv_msg()
    assert t == b"H"  # CopyOutResponse; then leave with 200 MB still to come
    w.recv_msg()
    w.close()
    assert_clean(dirty_pool, "none")


def test_client_gone_with_an_unsynced_extended_batch(dirty_pool):
    """Parse/Bind/Execute without Sync: the server sits in an implicit transaction, which must be
    rolled back (a Sync sent on the gone client's behalf would commit it)."""
    w = dirty_pool.wire()
    w.login()
    w.send(message(b"P", cstr("") + cstr("insert into dirty_marker values ('unsynced')") + struct.pack("!H", 0))
           + message(b"B", cstr("") + cstr("") + struct.pack("!HHH", 0, 0, 0))
           + message(b"E", cstr("") + struct.pack("!I", 0))
           + message(b"H"))  # Flush, so the server runs it now
    for expected in (b"1", b"2", b"C"):
        assert w.recv_msg()[0] == expected
    w.close()
    assert_clean(dirty_pool, "unsynced")


def test_session_mode_client_killed_mid_transaction(wedpool):
    wedpool.settings["pool_mode"] = "session"
    wedpool.settings["max_pool_size"] = 1
    wedpool.pg.sql("create table if not exists dirty_marker(tag text)", db="appdb")
    wedpool.start()
    p = run_killable(wedpool, "session-kill", "sleep")
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert_clean(wedpool, "session-kill")


def test_many_dirty_exits_in_a_row(dirty_pool):
    """Repeated abandoned transactions never poison the one server for a well-behaved client."""
    for i in range(10):
        if i % 2:
            w = dirty_pool.wire()
            w.login()
            for sql in ("begin", "set local search_path = pg_catalog",
                        f"insert into public.dirty_marker values ('loop{i}')"):
                assert w.query(sql).error is None
            w.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            w.close()
        else:
            c = dirty_pool.connect(autocommit=False)
            c.execute("set local search_path = pg_catalog")
            c.execute(f"insert into public.dirty_marker values ('loop{i}')")
            c.close()
        with dirty_pool.connect() as b:
            assert b.execute("show search_path").fetchone()[0] == '"$user", public'
            assert b.execute("select count(*) from dirty_marker where tag like 'loop%'").fetchone()[0] == 0
            assert b.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
