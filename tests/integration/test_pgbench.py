"""pgbench through wedpool: 200 clients over max_pool_size=20 with zero errors, in transaction mode
(clients share servers per transaction) and session mode (clients reconnect per transaction, -C, so
that 200 of them can take turns on 20 servers)."""
import os
import re
import subprocess
import time

import pytest

from helpers import PGBIN, spawn

PGBENCH = str(PGBIN / "pgbench")


def pgbench(wedpool, *args):
    env = dict(os.environ, PGPASSWORD="apppass")
    out = subprocess.run([PGBENCH, "-h", "127.0.0.1", "-p", str(wedpool.port), "-U", "app", "-n", *args, "appdb"],
                         capture_output=True, text=True, env=env, timeout=90)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-4000:]
    processed = int(re.search(r"number of transactions actually processed: (\d+)", text).group(1))
    failed = re.search(r"number of failed transactions: (\d+)", text)
    assert failed is None or int(failed.group(1)) == 0, text[-4000:]
    assert "error" not in out.stderr.lower() and "aborted" not in text.lower(), text[-4000:]
    return processed


class BackendPeak:
    """Samples PostgreSQL's backends for appdb while pgbench runs: wedpool must never use more
    than max_pool_size server connections."""

    def __init__(self, pg):
        self.pg = pg
        self.peak = 0
        self.running = True
        self.thread = spawn(self.sample)

    def sample(self):
        while self.running:
            self.peak = max(self.peak, len(self.pg.backends()))
            time.sleep(0.1)

    def stop(self):
        self.running = False
        self.thread.join(5)
        return self.peak


def check_pool_after(wedpool, peak, limit=20):
    assert 0 < peak <= limit
    p = wedpool.pool()
    assert p["cl_waiting"] == 0
    assert p["sv_active"] + p["sv_idle"] + p["sv_login"] + p["sv_used"] <= limit


@pytest.mark.time_limit(60)
def test_select_only_200_clients_transaction_mode(wedpool):
    wedpool.start()
    peak = BackendPeak(wedpool.pg)
    n = pgbench(wedpool, "-S", "-c", "200", "-j", "2", "-T", "5")
    check_pool_after(wedpool, peak.stop())
    assert n > 2000


@pytest.mark.time_limit(60)
def test_tpcb_200_clients_transaction_mode(wedpool):
    wedpool.start()
    peak = BackendPeak(wedpool.pg)
    n = pgbench(wedpool, "-c", "200", "-j", "2", "-T", "5")
    check_pool_after(wedpool, peak.stop())
    assert n > 200


@pytest.mark.time_limit(60)
def test_extended_protocol_transaction_mode(wedpool):
    wedpool.start()
    peak = BackendPeak(wedpool.pg)
    n = pgbench(wedpool, "-S", "-M", "extended", "-c", "200", "-j", "2", "-T", "3")
    check_pool_after(wedpool, peak.stop())
    assert n > 1000


@pytest.mark.time_limit(60)
def test_select_only_200_reconnecting_clients_session_mode(wedpool):
    wedpool.settings["pool_mode"] = "session"
    wedpool.start()
    peak = BackendPeak(wedpool.pg)
    n = pgbench(wedpool, "-S", "-C", "-c", "200", "-j", "2", "-T", "5")
    check_pool_after(wedpool, peak.stop())
    assert n > 200


@pytest.mark.time_limit(60)
def test_tpcb_200_reconnecting_clients_session_mode(wedpool):
    wedpool.settings["pool_mode"] = "session"
    wedpool.start()
    peak = BackendPeak(wedpool.pg)
    n = pgbench(wedpool, "-C", "-c", "200", "-j", "2", "-T", "5")
    check_pool_after(wedpool, peak.stop())
    assert n > 100


@pytest.mark.time_limit(60)
def test_prepared_statements_session_mode(wedpool):
    """Named prepared statements (-M prepared) live as long as the session's server: fine in
    session mode."""
    wedpool.settings["pool_mode"] = "session"
    wedpool.start()
    peak = BackendPeak(wedpool.pg)
    n = pgbench(wedpool, "-S", "-M", "prepared", "-c", "20", "-j", "2", "-T", "3")
    check_pool_after(wedpool, peak.stop())
    assert n > 1000
