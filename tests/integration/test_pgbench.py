"""pgbench through wedpool: many clients over few server connections, zero errors."""
import os
import re
import subprocess

import pytest

PGBENCH = "/usr/lib/postgresql/15/bin/pgbench"


def pgbench(wedpool, *args):
    env = dict(os.environ, PGPASSWORD="apppass")
    out = subprocess.run([PGBENCH, "-h", "127.0.0.1", "-p", str(wedpool.port), "-U", "app", *args, "appdb"],
                         capture_output=True, text=True, env=env, timeout=120)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    processed = int(re.search(r"number of transactions actually processed: (\d+)", text).group(1))
    failed = re.search(r"number of failed transactions: (\d+)", text)
    assert failed is None or int(failed.group(1)) == 0, text
    assert "error" not in out.stderr.lower(), text
    return processed


@pytest.mark.parametrize("mode", ["transaction", "session"])
def test_select_only_50_clients(wedpool, mode):
    wedpool.settings["pool_mode"] = mode
    wedpool.settings["max_pool_size"] = 50 if mode == "session" else 20
    wedpool.start()
    assert pgbench(wedpool, "-S", "-c", "50", "-j", "2", "-T", "3") > 1000


def test_200_clients_over_20_servers_tpcb(wedpool):
    wedpool.settings["max_pool_size"] = 20
    wedpool.start()
    assert pgbench(wedpool, "-c", "200", "-j", "2", "-T", "5") > 200
    p = wedpool.pool()
    assert p["sv_active"] + p["sv_idle"] + p["sv_login"] + p["sv_used"] <= 20


def test_extended_and_prepared_protocols(wedpool):
    wedpool.start()
    assert pgbench(wedpool, "-S", "-M", "extended", "-c", "20", "-j", "2", "-T", "2") > 500
