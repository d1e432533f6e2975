"""Timeouts that protect the pool from clients that hold a server and go quiet."""
import time

import psycopg
import pytest

from helpers import wait_for


def test_idle_in_transaction_timeout_frees_the_server(wedpool):
    wedpool.settings.update({"max_pool_size": 1, "idle_transaction_timeout_ms": 400})
    wedpool.start()
    idle = wedpool.connect(autocommit=False)
    idle.execute("lock table pgbench_branches in access exclusive mode")  # opens a transaction, holds a lock
    other = wedpool.connect()
    t0 = time.time()
    # the only server is freed when the idle transaction is cut off, and its lock goes with it
    assert other.execute("select count(*) from pgbench_branches").fetchone()[0] == 1
    assert 0.3 < time.time() - t0 < 3
    with pytest.raises(psycopg.OperationalError) as e:
        idle.execute("select 1")
    assert "idle-in-transaction timeout" in str(e.value) or "closed" in str(e.value)
    assert "idle in transaction for 400 ms" in wedpool.log()


def test_active_queries_are_not_idle(wedpool):
    wedpool.settings.update({"idle_transaction_timeout_ms": 300})
    wedpool.start()
    with wedpool.connect(autocommit=False) as c:
        c.execute("select 1")
        c.execute("select pg_sleep(0.8)")  # running, not idle
        for _ in range(5):
            time.sleep(0.1)
            c.execute("select 1")  # each within the timeout
        c.commit()
    with wedpool.connect() as c:  # outside a transaction, idleness is fine
        c.execute("select 1")
        time.sleep(0.8)
        assert c.execute("select 2").fetchone()[0] == 2
