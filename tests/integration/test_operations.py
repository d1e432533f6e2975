"""Running the daemon: command line, config validation, reload, signals, environment overrides."""
import signal
import subprocess
import threading
import time

import psycopg
import pytest

from conftest import WEDPOOL_BIN


def test_version():
    out = subprocess.run([WEDPOOL_BIN, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("wedpool ")


def test_check_config_accepts_the_shipped_example(tmp_path):
    import pathlib
    root = pathlib.Path(__file__).resolve().parents[2]
    ini = (root / "wedpool.ini").read_text().replace("auth_file = users.txt", f"auth_file = {tmp_path}/u.txt")
    (tmp_path / "u.txt").write_text('"app" "x"\n')
    (tmp_path / "w.ini").write_text(ini)
    out = subprocess.run([WEDPOOL_BIN, "--check-config", "-c", str(tmp_path / "w.ini")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("line, fragment", [
    ("max_pool_size = lots", "key 'max_pool_size': value 'lots' is not an integer"),
    ("max_pool_size = 0", "key 'max_pool_size': value 0 is out of range 1..10000"),
    ("pool_size = 5", "key 'pool_size': unknown key"),
    ("pool_mode = statement", "key 'pool_mode'"),
])
def test_check_config_rejects_with_file_line_key(wedpool, line, fragment):
    ini = wedpool.write_config()
    text = ini.read_text() + line + "\n"
    ini.write_text(text)
    lineno = text.count("\n")
    out = subprocess.run([WEDPOOL_BIN, "--check-config", "-c", str(ini)], capture_output=True, text=True)
    assert out.returncode != 0
    assert f"wedpool.ini:{lineno}: {fragment}" in out.stderr
    # and the daemon refuses to start on it
    run = subprocess.run([WEDPOOL_BIN, "-c", str(ini)], capture_output=True, text=True, timeout=10)
    assert run.returncode != 0 and fragment in run.stderr


def test_environment_overrides(wedpool):
    wedpool.start(env={"DB_POOL_MAX_CONNECTIONS": "7", "DB_POOL_IDLE_TIMEOUT_MS": "1234"})
    config = {r["key"]: r["value"] for r in wedpool.admin("SHOW CONFIG")}
    assert config["max_pool_size"] == "7" and config["idle_timeout_ms"] == "1234"


def test_bad_environment_override_refuses_to_start(wedpool):
    ini = wedpool.write_config()
    run = subprocess.run([WEDPOOL_BIN, "-c", str(ini)], capture_output=True, text=True, timeout=10,
                         env={"DB_POOL_MAX_CONNECTIONS": "many"})
    assert run.returncode != 0 and "DB_POOL_MAX_CONNECTIONS" in run.stderr


def wait_for(pred, timeout=5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_sighup_reload_keeps_clients(wedpool):
    wedpool.start()
    c = wedpool.connect()
    c.execute("select 1")
    wedpool.settings["max_pool_size"] = 3
    wedpool.write_config()
    wedpool.signal(signal.SIGHUP)
    assert wait_for(lambda: wedpool.pool()["max_pool_size"] == 3)
    assert c.execute("select 2").fetchone()[0] == 2  # still connected
    assert "configuration reloaded" in wedpool.log()


def test_bad_reload_is_refused_and_config_kept(wedpool):
    wedpool.start()
    c = wedpool.connect()
    ini = wedpool.write_config()
    ini.write_text(ini.read_text() + "max_pool_size = -5\n")
    wedpool.signal(signal.SIGHUP)
    assert wait_for(lambda: "reload of" in wedpool.log() and "refused" in wedpool.log())
    assert "key 'max_pool_size': value -5 is out of range" in wedpool.log()
    assert wedpool.pool()["max_pool_size"] == 20
    assert c.execute("select 1").fetchone()[0] == 1
    with pytest.raises(psycopg.Error) as e:
        wedpool.admin("RELOAD")
    assert "reload failed" in str(e.value)


def test_reload_adds_a_database_and_removes_one(wedpool):
    wedpool.start()
    with wedpool.connect(dbname="otherdb") as c:
        c.execute("select 1")
    del wedpool.databases["otherdb"]
    wedpool.databases["newdb"] = f"host=127.0.0.1 port={wedpool.pg.port} dbname=otherdb"
    wedpool.write_config()
    assert wedpool.admin("RELOAD") == "RELOAD"
    with wedpool.connect(dbname="newdb") as c:
        assert c.execute("select current_database()").fetchone()[0] == "otherdb"
    with pytest.raises(psycopg.OperationalError) as e:
        wedpool.connect(dbname="otherdb")
    assert 'database "otherdb" does not exist' in str(e.value)


def test_sigterm_lets_transactions_finish(wedpool):
    wedpool.start()
    idle = wedpool.connect()
    idle.execute("select 1")
    busy = wedpool.connect(autocommit=False)
    busy.execute("create temp table if not exists t(x int)")  # opens a transaction
    wedpool.signal(signal.SIGTERM)
    time.sleep(0.3)
    # the idle client was told why it is being disconnected
    with pytest.raises(psycopg.OperationalError) as e:
        idle.execute("select 1")
    assert "shutting down" in str(e.value) or "terminating" in str(e.value) or "closed" in str(e.value)
    # new connections are refused
    with pytest.raises(psycopg.OperationalError):
        wedpool.connect()
    # the transaction may finish
    busy.execute("insert into t values (1)")
    busy.commit()
    assert wedpool.proc.wait(10) == 0


def test_sigint_stops_at_once(wedpool):
    wedpool.start()
    c = wedpool.connect(autocommit=False)
    c.execute("select 1")
    t0 = time.time()
    wedpool.signal(signal.SIGINT)
    assert wedpool.proc.wait(5) == 0
    assert time.time() - t0 < 2


def test_admin_shutdown(wedpool):
    wedpool.start()
    assert wedpool.admin("SHUTDOWN") == "SHUTDOWN"
    assert wedpool.proc.wait(10) == 0
