"""Running the daemon: command line, config validation, environment overrides, reload (SIGHUP and
RELOAD, good and bad), graceful SIGTERM, SIGINT, pidfile, logfile, unix socket."""
import signal
import time

import psycopg
import pytest

from helpers import ROOT, WireError, run_cli, spawn, wait_for


def test_version():
    out = run_cli("--version")
    assert out.returncode == 0
    assert out.stdout.strip() == "wedpool 0.1.0"


def test_check_config_accepts_a_valid_file(wedpool):
    out = run_cli("--check-config", "-c", wedpool.write_config())
    assert out.returncode == 0, out.stderr


def test_check_config_accepts_the_shipped_example(tmp_path):
    ini = (ROOT / "wedpool.ini").read_text().replace("auth_file = users.txt", f"auth_file = {tmp_path}/u.txt")
    (tmp_path / "u.txt").write_text('"app" "x"\n')
    (tmp_path / "w.ini").write_text(ini)
    out = run_cli("--check-config", "-c", tmp_path / "w.ini")
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("line, key", [
    ("max_pool_size = lots", "max_pool_size"),
    ("max_pool_size = 0", "max_pool_size"),
    ("acquire_timeout_ms = -1", "acquire_timeout_ms"),
    ("idle_timeout_ms = 99999999999999999999", "idle_timeout_ms"),
    ("pool_size = 5", "pool_size"),
    ("pool_mode = statement", "pool_mode"),
    ("auth_type = kerberos", "auth_type"),
])
def test_check_config_rejects_with_file_line_key(wedpool, line, key):
    ini = wedpool.write_config()
    text = ini.read_text() + line + "\n"
    ini.write_text(text)
    lineno = text.count("\n")
    out = run_cli("--check-config", "-c", ini)
    assert out.returncode != 0
    assert f"wedpool.ini:{lineno}" in out.stderr and key in out.stderr, out.stderr
    # and the daemon refuses to start on it, saying the same
    run = run_cli("-c", ini, timeout=10)
    assert run.returncode != 0 and f"wedpool.ini:{lineno}" in run.stderr and key in run.stderr


def test_bad_database_line_is_rejected(wedpool):
    wedpool.databases["broken"] = "host=127.0.0.1 prot=5432"
    ini = wedpool.write_config()
    lineno = ini.read_text().splitlines().index("broken = host=127.0.0.1 prot=5432") + 1
    out = run_cli("--check-config", "-c", ini)
    assert out.returncode != 0 and f"wedpool.ini:{lineno}" in out.stderr and "prot" in out.stderr, out.stderr


def test_check_config_missing_file(tmp_path):
    out = run_cli("--check-config", "-c", tmp_path / "nope.ini")
    assert out.returncode != 0 and "nope.ini" in out.stderr


def test_environment_overrides(wedpool):
    wedpool.settings["max_pool_size"] = 20
    wedpool.start(env={"DB_POOL_MAX_CONNECTIONS": "2", "DB_POOL_IDLE_TIMEOUT_MS": "400"})
    config = wedpool.config()
    assert config["max_pool_size"] == "2" and config["idle_timeout_ms"] == "400"
    conns = [wedpool.connect() for _ in range(5)]
    threads = [spawn(lambda c=c: c.execute("select pg_sleep(0.5)")) for c in conns]
    # all five have arrived: two run, three wait for a server (one snapshot)

    def pool_when_all_arrived():
        p = wedpool.pool()
        return p if p["cl_waiting"] == 3 and p["sv_active"] == 2 else None
    p = wait_for(pool_when_all_arrived)
    assert p is not None and p["sv_active"] == 2 and p["max_pool_size"] == 2, wedpool.pool()
    assert len(wedpool.pg.backends()) == 2
    for t in threads:
        t.join(10)
    assert all(t.error is None for t in threads)
    # the idle timeout from the environment closes them soon after
    assert wait_for(lambda: len(wedpool.pg.backends()) == 0, timeout=4)
    for c in conns:
        c.close()


def test_bad_environment_override_refuses_to_start(wedpool):
    ini = wedpool.write_config()
    run = run_cli("-c", ini, env={"DB_POOL_MAX_CONNECTIONS": "many"}, timeout=10)
    assert run.returncode != 0 and "DB_POOL_MAX_CONNECTIONS" in run.stderr
    run = run_cli("--check-config", "-c", ini, env={"DB_POOL_IDLE_TIMEOUT_MS": "-5"}, timeout=10)
    assert run.returncode != 0 and "DB_POOL_IDLE_TIMEOUT_MS" in run.stderr


def test_sighup_reload_keeps_clients(wedpool):
    wedpool.settings["max_pool_size"] = 2
    wedpool.start()
    c = wedpool.connect()
    c.execute("select 1")
    t = wedpool.connect(autocommit=False)
    t.execute("select 1")  # in a transaction across the reload
    wedpool.settings["max_pool_size"] = 3
    wedpool.write_config()
    wedpool.signal(signal.SIGHUP)
    assert wait_for(lambda: wedpool.pool()["max_pool_size"] == 3)
    assert wedpool.config()["max_pool_size"] == "3"
    assert c.execute("select 2").fetchone()[0] == 2  # still connected
    t.execute("select 3")
    t.commit()
    # the new size is in force: three transactions at once get three servers
    conns = [wedpool.connect(autocommit=False) for _ in range(3)]
    pids = {x.execute("select pg_backend_pid()").fetchone()[0] for x in conns}
    assert len(pids) == 3
    for x in conns + [c, t]:
        x.close()


def test_bad_reload_is_refused_and_config_kept(wedpool):
    wedpool.start()
    c = wedpool.connect()
    ini = wedpool.write_config()
    ini.write_text(ini.read_text() + "max_pool_size = -5\n")
    before = len(wedpool.log())
    wedpool.signal(signal.SIGHUP)
    # the log names the problem
    assert wait_for(lambda: "max_pool_size" in wedpool.log()[before:], timeout=5), wedpool.log()[before:]
    assert wedpool.pool()["max_pool_size"] == 20  # still running and answering, with the old value
    assert wedpool.proc.poll() is None
    assert wedpool.config()["max_pool_size"] == "20"
    assert c.execute("select 1").fetchone()[0] == 1
    # RELOAD on the console reports the failure as an error and also keeps the old config
    with pytest.raises(psycopg.Error):
        wedpool.admin("RELOAD")
    assert wedpool.proc.poll() is None
    assert wedpool.config()["max_pool_size"] == "20"
    # once fixed, a reload works again
    wedpool.settings["max_pool_size"] = 4
    wedpool.write_config()
    assert wedpool.admin("RELOAD") == "RELOAD"
    assert wedpool.config()["max_pool_size"] == "4"
    c.close()


def test_reload_adds_and_removes_databases(wedpool):
    wedpool.start()
    with wedpool.connect(dbname="otherdb") as c:
        c.execute("select 1")
    del wedpool.databases["otherdb"]
    wedpool.databases["newdb"] = f"host=127.0.0.1 port={wedpool.pg.port} dbname=otherdb"
    wedpool.write_config()
    assert wedpool.admin("RELOAD") == "RELOAD"
    with wedpool.connect(dbname="newdb") as c:
        assert c.execute("select current_database()").fetchone()[0] == "otherdb"
    with wedpool.wire() as w, pytest.raises(WireError) as e:
        w.login("app", "otherdb")
    assert e.value.sqlstate == "3D000"


def test_reload_picks_up_users_and_timeouts(wedpool):
    wedpool.start()
    with pytest.raises(psycopg.OperationalError):
        wedpool.connect(user="reporting", password="reportpass2")
    wedpool.users["reporting"] = "reportpass2"
    wedpool.databases["appdb"] = f"host=127.0.0.1 port={wedpool.pg.port} dbname=appdb"
    wedpool.databases["rep"] = (f"host=127.0.0.1 port={wedpool.pg.port} dbname=appdb user=reporting "
                                "password=reportpass")
    wedpool.settings["acquire_timeout_ms"] = 400
    wedpool.settings["max_pool_size"] = 1
    wedpool.write_config()
    wedpool.signal(signal.SIGHUP)
    assert wait_for(lambda: wedpool.config()["acquire_timeout_ms"] == "400")
    with wedpool.connect(user="reporting", dbname="rep", password="reportpass2") as c:
        assert c.execute("select current_user").fetchone()[0] == "reporting"
    a = wedpool.connect()
    a.execute("begin")
    a.execute("select 1")
    with wedpool.wire() as w:
        w.login()
        t0 = time.time()
        err = w.query_error("select 1")
        assert err is not None and err.sqlstate == "53300" and time.time() - t0 < 2
    a.execute("commit")
    a.close()


def test_sigterm_is_graceful(wedpool):
    wedpool.start()
    with wedpool.wire() as idle:
        idle.login()
        idle.query("select 1")
        busy = wedpool.connect(autocommit=False)
        busy.execute("create temp table if not exists t(x int)")  # opens a transaction
        wedpool.signal(signal.SIGTERM)
        # the idle client is told why it is being disconnected
        msgs = idle.drain()
        errors = [m for t, m in msgs if t == b"E"]
        assert errors and b"C57P01\0" in errors[0], msgs
        assert idle.eof
    # new connections are refused (or not accepted at all)
    with pytest.raises(psycopg.OperationalError):
        wedpool.connect()
    # the transaction may finish ...
    busy.execute("insert into t values (1)")
    busy.commit()
    # ... and then its client is disconnected and the process exits 0
    assert wedpool.proc.wait(10) == 0
    with pytest.raises(psycopg.OperationalError):
        busy.execute("select 1")
    busy.close()


def test_sigterm_gives_up_on_transactions_after_shutdown_timeout(wedpool):
    wedpool.settings["shutdown_timeout_ms"] = 1000
    wedpool.start()
    stuck = wedpool.connect(autocommit=False)
    stuck.execute("select 1")
    t0 = time.time()
    wedpool.signal(signal.SIGTERM)
    assert wedpool.proc.wait(10) == 0
    assert 0.8 <= time.time() - t0 < 4
    stuck.close()


def test_sigterm_without_clients_exits_at_once(wedpool):
    wedpool.start()
    t0 = time.time()
    wedpool.signal(signal.SIGTERM)
    assert wedpool.proc.wait(5) == 0
    assert time.time() - t0 < 2


def test_sigint_stops_at_once(wedpool):
    wedpool.start()
    c = wedpool.connect(autocommit=False)
    c.execute("select 1")
    d = wedpool.connect()
    t = spawn(lambda: d.execute("select pg_sleep(20)"))
    assert wait_for(lambda: len([b for b in wedpool.pg.backends() if b["state"] == "active"]) >= 1)
    t0 = time.time()
    wedpool.signal(signal.SIGINT)
    assert wedpool.proc.wait(5) == 0
    assert time.time() - t0 < 2
    t.join(5)
    assert isinstance(t.error, psycopg.OperationalError)
    c.close()
    d.close()


def test_pidfile_and_logfile(wedpool):
    wedpool.settings["pidfile"] = str(wedpool.dir / "wedpool.pid")
    wedpool.settings["logfile"] = str(wedpool.dir / "file.log")
    wedpool.start()
    assert int((wedpool.dir / "wedpool.pid").read_text().strip()) == wedpool.proc.pid
    with wedpool.connect() as c:
        c.execute("select 1")
    wedpool.signal(signal.SIGTERM)
    assert wedpool.proc.wait(10) == 0
    assert not (wedpool.dir / "wedpool.pid").exists()
    assert (wedpool.dir / "file.log").read_text().strip() != ""


def test_unix_socket(wedpool):
    sockdir = wedpool.dir / "sock"
    sockdir.mkdir()
    wedpool.settings["unix_socket_dir"] = str(sockdir)
    wedpool.start()
    assert (sockdir / f".s.PGSQL.{wedpool.port}").exists()
    with psycopg.connect(wedpool.dsn(host=str(sockdir)), autocommit=True) as c:
        assert c.execute("select current_user").fetchone()[0] == "app"
    wedpool.signal(signal.SIGTERM)
    assert wedpool.proc.wait(10) == 0
    assert not (sockdir / f".s.PGSQL.{wedpool.port}").exists()


def test_second_instance_on_the_same_port_fails(wedpool):
    wedpool.start()
    run = run_cli("-c", wedpool.ini, timeout=10)
    assert run.returncode != 0 and str(wedpool.port) in run.stderr
    with wedpool.connect() as c:
        assert c.execute("select 1").fetchone()[0] == 1
