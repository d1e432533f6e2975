"""The admin console (virtual database "wedpool"): SHOW commands with their columns looked up by
name, control commands, and who may use which."""
import os
import socket
import subprocess
import time

import psycopg
import pytest

from helpers import PASSWORDS, PGBIN, WireError, spawn, wait_for

POOLS_COLUMNS = ("database", "user", "cl_active", "cl_waiting", "sv_active", "sv_idle", "sv_used", "sv_login",
                 "maxwait", "maxwait_us", "pool_mode", "min_pool_size", "max_pool_size")
CLIENTS_COLUMNS = ("type", "user", "database", "state", "addr", "port", "connect_time", "request_time", "wait",
                   "wait_us", "link", "application_name", "id")
SERVERS_COLUMNS = ("type", "user", "database", "state", "addr", "port", "connect_time", "request_time", "link",
                   "remote_pid", "id")
CONFIG_COLUMNS = ("key", "value", "default", "changeable")
STATS_COLUMNS = ("database", "total_xact_count", "total_query_count", "total_received", "total_sent",
                 "total_xact_time", "total_query_time", "total_wait_time", "avg_xact_count", "avg_query_count",
                 "avg_recv", "avg_sent", "avg_xact_time", "avg_query_time", "avg_wait_time")


def has_columns(rows, columns):
    assert rows, "no rows"
    missing = [c for c in columns if c not in rows[0]]
    assert not missing, f"missing columns {missing} in {list(rows[0])}"


def test_show_pools(wedpool):
    wedpool.settings["max_pool_size"] = 1
    wedpool.start()
    a, b = wedpool.connect(), wedpool.connect()
    a.execute("begin")
    a.execute("select 1")
    t = spawn(lambda: b.execute("select 1"))
    assert wait_for(lambda: wedpool.pool()["cl_waiting"] == 1)
    time.sleep(0.3)  # b keeps waiting for 0.3 s: maxwait must show it
    rows = wedpool.admin("SHOW POOLS")
    has_columns(rows, POOLS_COLUMNS)
    p = wedpool.pool()
    assert p["cl_active"] == 1 and p["cl_waiting"] == 1
    assert p["sv_active"] == 1 and p["sv_idle"] == 0
    assert p["pool_mode"] == "transaction" and p["max_pool_size"] == 1 and p["min_pool_size"] == 0
    assert p["maxwait"] * 1_000_000 + p["maxwait_us"] >= 200_000  # b has waited about 0.3 s
    a.execute("commit")
    t.join(5)
    p = wedpool.pool()
    assert p["cl_waiting"] == 0 and p["sv_active"] == 0 and p["sv_idle"] + p["sv_used"] == 1
    a.close()
    b.close()


def test_show_clients_and_servers(wedpool):
    wedpool.start()
    with wedpool.connect(application_name="showme", autocommit=False) as c:
        pid = c.execute("select pg_backend_pid()").fetchone()[0]  # in a transaction: linked
        clients = wedpool.admin("SHOW CLIENTS")
        has_columns(clients, CLIENTS_COLUMNS)
        mine = [r for r in clients if r["application_name"] == "showme"]
        assert len(mine) == 1
        me = mine[0]
        assert me["user"] == "app" and me["database"] == "appdb" and me["addr"] == "127.0.0.1"
        sock = socket.socket(fileno=os.dup(c.pgconn.socket))
        assert int(me["port"]) == sock.getsockname()[1]
        sock.close()
        servers = wedpool.admin("SHOW SERVERS")
        has_columns(servers, SERVERS_COLUMNS)
        linked = [s for s in servers if s["link"] == me["id"]]
        assert len(linked) == 1 and int(linked[0]["remote_pid"]) == pid
        assert me["link"] == linked[0]["id"]
        assert linked[0]["database"] == "appdb" and linked[0]["user"] == "app"
        c.rollback()


def test_show_config_version_stats(wedpool):
    wedpool.settings["max_pool_size"] = 12
    wedpool.start()
    with wedpool.connect() as c:
        for _ in range(10):
            c.execute("select 1")
    config = wedpool.admin("SHOW CONFIG")
    has_columns(config, CONFIG_COLUMNS)
    by_key = {r["key"]: r for r in config}
    assert by_key["max_pool_size"]["value"] == "12"
    assert by_key["pool_mode"]["value"] == "transaction"
    assert by_key["acquire_timeout_ms"]["value"] == "60000"
    assert by_key["listen_port"]["value"] == str(wedpool.port)
    assert by_key["max_pool_size"]["changeable"].lower() in ("yes", "true", "on", "t")
    assert by_key["listen_port"]["changeable"].lower() in ("no", "false", "off", "f")
    version = wedpool.admin("SHOW VERSION")
    cli = subprocess.run([wedpool.proc.args[0], "--version"], capture_output=True, text=True).stdout.strip()
    assert version[0]["version"] == cli == "wedpool 0.1.0"
    stats = wedpool.admin("SHOW STATS")
    has_columns(stats, STATS_COLUMNS)
    appdb = [r for r in stats if r["database"] == "appdb"][0]
    assert int(appdb["total_query_count"]) >= 10 and int(appdb["total_xact_count"]) >= 10
    assert int(appdb["total_received"]) > 0 and int(appdb["total_sent"]) > 0


def test_console_through_psql(wedpool):
    wedpool.start()
    env = dict(os.environ, PGPASSWORD=PASSWORDS["postgres"])
    out = subprocess.run([PGBIN / "psql", "-h", "127.0.0.1", "-p", str(wedpool.port), "-U", "postgres", "-d",
                          "wedpool", "-X", "-A", "-t", "-c", "SHOW VERSION"], capture_output=True, text=True,
                         env=env, timeout=15)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "wedpool 0.1.0"


def test_unknown_command_is_an_error_not_a_disconnect(wedpool):
    wedpool.start()
    with psycopg.connect(wedpool.dsn("postgres", "wedpool"), autocommit=True) as c:
        with pytest.raises(psycopg.Error) as e:
            c.execute("SHOW FROBS", prepare=False)
        assert e.value.sqlstate in ("42601", "42704", "0A000")
        assert c.execute("SHOW VERSION", prepare=False).fetchone()[0] == "wedpool 0.1.0"


def test_extended_protocol_on_the_console_is_refused_cleanly(wedpool):
    wedpool.start()
    with psycopg.connect(wedpool.dsn("postgres", "wedpool"), autocommit=True) as c:
        with pytest.raises(psycopg.Error):
            c.execute("SHOW VERSION", prepare=True)
    assert wedpool.admin("SHOW VERSION")[0]["version"] == "wedpool 0.1.0"


def test_non_admin_is_refused(wedpool):
    wedpool.start()
    with wedpool.wire() as w, pytest.raises(WireError) as e:
        w.login("app", "wedpool", "apppass")
    assert e.value.sqlstate in ("28000", "42501")
    with pytest.raises(psycopg.Error):
        wedpool.admin("SHOW POOLS", user="app")


def test_admin_with_wrong_password_is_28P01(wedpool):
    wedpool.start()
    with wedpool.wire() as w, pytest.raises(WireError) as e:
        w.login("postgres", "wedpool", "wrong")
    assert e.value.sqlstate == "28P01"


def test_stats_user_may_only_show(wedpool):
    wedpool.start()
    for cmd in ("SHOW POOLS", "SHOW CLIENTS", "SHOW SERVERS", "SHOW CONFIG", "SHOW STATS", "SHOW VERSION"):
        assert isinstance(wedpool.admin(cmd, user="stats"), list), cmd
    for cmd in ("RELOAD", "PAUSE", "RESUME", "SHUTDOWN"):
        with pytest.raises(psycopg.Error) as e:
            wedpool.admin(cmd, user="stats")
        assert e.value.sqlstate == "42501", cmd
    assert wedpool.proc.poll() is None
    with wedpool.connect() as c:
        assert c.execute("select 1").fetchone()[0] == 1


def test_pause_and_resume(wedpool):
    wedpool.start()
    with wedpool.connect() as c:
        c.execute("select 1")
    assert wedpool.admin("PAUSE") == "PAUSE"
    c = wedpool.connect()
    t = spawn(lambda: (c.execute("select 1").fetchone()[0], time.time()))
    assert wait_for(lambda: wedpool.pool()["cl_waiting"] == 1), wedpool.pool()  # queued while paused
    assert t.is_alive()
    resumed = time.time()
    assert wedpool.admin("RESUME") == "RESUME"
    t.join(5)
    assert t.error is None and t.result[0] == 1 and t.result[1] >= resumed
    c.close()


def test_pause_waits_for_running_transactions(wedpool):
    """PAUSE answers only once no server connection is in use: a transaction in progress when it
    arrives still commits, and then the backend can be restarted safely."""
    wedpool.start()
    a = wedpool.connect()
    a.execute("begin")
    a.execute("select 1")
    p = spawn(lambda: wedpool.admin("PAUSE"))
    assert wait_for(lambda: "waiting for 1 server connection" in wedpool.log()), wedpool.log()[-2000:]
    assert p.is_alive(), "PAUSE answered while a transaction still held its server"
    a.execute("insert into pgbench_history(tid, bid, aid, delta) values (0, 0, 0, 0)")
    a.execute("commit")
    p.join(10)
    assert p.error is None and p.result == "PAUSE"
    assert wedpool.admin("RESUME") == "RESUME"
    assert a.execute("select 2").fetchone()[0] == 2
    a.close()


def test_resume_cancels_a_waiting_pause(wedpool):
    wedpool.start()
    a = wedpool.connect()
    a.execute("begin")
    p = spawn(lambda: wedpool.admin("PAUSE"))
    assert wait_for(lambda: "waiting for 1 server connection" in wedpool.log()), wedpool.log()[-2000:]
    assert wedpool.admin("RESUME") == "RESUME"
    p.join(10)
    assert isinstance(p.error, psycopg.Error) and p.error.sqlstate == "57014"
    assert "RESUME" in str(p.error)
    a.execute("commit")
    assert a.execute("select 3").fetchone()[0] == 3
    a.close()


def test_reload_command(wedpool):
    wedpool.start()
    wedpool.settings["max_pool_size"] = 5
    wedpool.write_config()
    assert wedpool.admin("RELOAD") == "RELOAD"
    assert wedpool.config()["max_pool_size"] == "5"


def test_shutdown_command(wedpool):
    wedpool.start()
    with wedpool.connect() as c:
        c.execute("select 1")
    try:
        assert wedpool.admin("SHUTDOWN") == "SHUTDOWN"
    except psycopg.OperationalError:
        pass  # the console connection may be closed before the tag arrives
    assert wedpool.proc.wait(10) == 0
