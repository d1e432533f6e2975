"""The admin console: SHOW commands, control commands and who may use them."""
import psycopg
import pytest


def test_show_commands(wedpool):
    wedpool.start()
    with wedpool.connect() as c:
        c.execute("select 1")
        pools = wedpool.admin("SHOW POOLS")
        row = [r for r in pools if r["database"] == "appdb"][0]
        for col in ("cl_active", "cl_waiting", "sv_active", "sv_idle", "sv_used", "sv_login", "maxwait",
                    "maxwait_us", "pool_mode", "min_pool_size", "max_pool_size"):
            assert col in row
        assert row["pool_mode"] == "transaction" and row["max_pool_size"] == "20"
        clients = wedpool.admin("SHOW CLIENTS")
        assert any(r["database"] == "appdb" and r["user"] == "app" for r in clients)
        servers = wedpool.admin("SHOW SERVERS")
        assert any(r["database"] == "appdb" and int(r["remote_pid"]) > 0 for r in servers)
        config = {r["key"]: r for r in wedpool.admin("SHOW CONFIG")}
        assert config["max_pool_size"]["value"] == "20" and config["max_pool_size"]["default"] == "50"
        assert config["listen_port"]["changeable"] == "no"
        assert wedpool.admin("SHOW VERSION")[0]["version"].startswith("wedpool ")
        stats = wedpool.admin("SHOW STATS")
        assert int([r for r in stats if r["database"] == "appdb"][0]["total_query_count"]) >= 1
        dbs = {r["name"] for r in wedpool.admin("SHOW DATABASES")}
        assert {"appdb", "otherdb"} <= dbs
        assert any(r["command"] == "SHOW POOLS" for r in wedpool.admin("show help;"))


def test_unknown_command(wedpool):
    wedpool.start()
    with pytest.raises(psycopg.errors.SyntaxError) as e:
        wedpool.admin("SHOW FROBS")
    assert "unknown wedpool admin command" in str(e.value)


def test_non_admin_is_refused(wedpool):
    wedpool.start()
    with pytest.raises(psycopg.OperationalError) as e:
        wedpool.admin("SHOW POOLS", user="app")
    assert "not allowed to use the wedpool admin console" in str(e.value)


def test_stats_user_may_only_show(wedpool):
    wedpool.start()
    assert isinstance(wedpool.admin("SHOW POOLS", user="stats"), list)
    for cmd in ("RELOAD", "PAUSE", "SHUTDOWN"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            wedpool.admin(cmd, user="stats")
    assert wedpool.proc.poll() is None


def test_pause_and_resume(wedpool):
    import threading
    import time
    wedpool.start()
    with wedpool.connect() as c:
        c.execute("select 1")
    assert wedpool.admin("PAUSE") == "PAUSE"
    done = []
    def query():
        with wedpool.connect() as c:
            c.execute("select 1")
            done.append(time.time())
    t = threading.Thread(target=query)
    t.start()
    time.sleep(0.5)
    assert done == []  # waits while paused
    assert wedpool.pool()["cl_waiting"] == 1
    assert wedpool.admin("RESUME") == "RESUME"
    t.join(5)
    assert len(done) == 1
