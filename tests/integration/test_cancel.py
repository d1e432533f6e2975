"""CancelRequest: wedpool hands out its own BackendKeyData and forwards a cancel to the server
connection its client is using at that moment, and to no other."""
import time

import psycopg
import pytest

from helpers import cancel_request, spawn, wait_for


@pytest.mark.parametrize("mode", ["transaction", "session"])
def test_cancel_running_query(wedpool, mode):
    wedpool.settings["pool_mode"] = mode
    wedpool.start()
    with wedpool.connect() as c:
        t = spawn(lambda: c.execute("select pg_sleep(10)"))
        assert wait_for(lambda: wedpool.pg.running("select pg_sleep(10)"))
        t0 = time.time()
        c.cancel()
        t.join(5)
        assert isinstance(t.error, psycopg.errors.QueryCanceled), t.error
        assert t.error.sqlstate == "57014"
        assert time.time() - t0 < 2
        assert c.execute("select 1").fetchone()[0] == 1


def test_cancel_inside_a_transaction(wedpool):
    wedpool.start()
    with wedpool.connect(autocommit=False) as c:
        c.execute("select 1")
        t = spawn(lambda: c.execute("select pg_sleep(10)"))
        assert wait_for(lambda: wedpool.pg.running("select pg_sleep(10)"))
        t0 = time.time()
        c.cancel()
        t.join(5)
        assert isinstance(t.error, psycopg.errors.QueryCanceled), t.error
        assert time.time() - t0 < 2
        c.rollback()
        assert c.execute("select 2").fetchone()[0] == 2


def test_cancel_reaches_only_its_own_client(wedpool):
    """Two clients sleep on two servers; cancelling one leaves the other running to completion."""
    wedpool.settings["max_pool_size"] = 2
    wedpool.start()
    victim, bystander = wedpool.connect(), wedpool.connect()
    other = spawn(lambda: bystander.execute("select pg_sleep(1.5), 'done'").fetchone()[1])
    hit = spawn(lambda: victim.execute("select pg_sleep(10)"))
    assert wait_for(lambda: wedpool.pg.running("select pg_sleep(1.5)%") and wedpool.pg.running("select pg_sleep(10)"))
    t0 = time.time()
    victim.cancel()
    hit.join(5)
    assert isinstance(hit.error, psycopg.errors.QueryCanceled), hit.error
    assert time.time() - t0 < 2
    other.join(5)
    assert other.error is None and other.result == "done"
    victim.close()
    bystander.close()


def test_client_keys_are_wedpools_own_and_unique(wedpool):
    """Many clients share few servers, yet each gets a distinct cancel key."""
    wedpool.settings["max_pool_size"] = 2
    wedpool.start()
    wires = [wedpool.wire() for _ in range(20)]
    for w in wires:
        w.login()
    keys = [w.key for w in wires]
    assert None not in keys and len(set(keys)) == 20
    for w in wires:
        w.close()


def test_bogus_or_stale_cancel_keys_cancel_nothing(wedpool):
    wedpool.start()
    with wedpool.wire() as gone:
        gone.login()
        stale_pid, stale_key = gone.key
    with wedpool.wire() as w:
        w.login()
        pid, key = w.key
        w.send_msg(b"Q", b"select pg_sleep(1), 'finished'\0")
        assert wait_for(lambda: wedpool.pg.running("select pg_sleep(1), 'finished'"))
        cancel_request(wedpool.port, pid, key ^ 0x5A5A5A5A)  # right pid, wrong secret
        cancel_request(wedpool.port, pid + 1, key)
        cancel_request(wedpool.port, stale_pid, stale_key)   # a client that has left
        r = w.read_result()
        assert r.error is None and r.rows == [("", "finished")]
        # and the right key does cancel
        w.send_msg(b"Q", b"select pg_sleep(10)\0")
        assert wait_for(lambda: wedpool.pg.running("select pg_sleep(10)"))
        cancel_request(wedpool.port, pid, key)
        r = w.read_result()
        assert r.error is not None and r.error.sqlstate == "57014"


def test_cancel_of_an_idle_client_is_harmless(wedpool):
    wedpool.settings["max_pool_size"] = 1
    wedpool.start()
    with wedpool.connect() as idle, wedpool.connect() as busy:
        idle.execute("select 1")
        t = spawn(lambda: busy.execute("select pg_sleep(1), 'ok'").fetchone()[1])
        assert wait_for(lambda: wedpool.pg.running("select pg_sleep(1), 'ok'"))
        idle.cancel()  # idle has no server: busy, which holds the only one, must not be hit
        t.join(5)
        assert t.error is None and t.result == "ok"
        assert idle.execute("select 2").fetchone()[0] == 2
