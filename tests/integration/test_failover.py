"""Multi-host databases against a real primary and a streaming standby (ha.py): routing by
target_session_attrs, lag, failover by promotion (timed), split brain, a backend killed mid-
transaction and between transactions, a backend down (fast error, circuit breaker, refill). After
every scenario the lane and reserve counts are back to exactly zero."""
import http.server
import json
import os
import re
import statistics
import threading
import time

import psycopg
import pytest

from ha import HaPair, catch_up
from helpers import spawn, wait_for


@pytest.fixture(scope="module")
def ha():
    pair = HaPair()
    try:
        pair.start()
        yield pair
    finally:
        pair.stop()


@pytest.fixture
def cluster(ha, wedpool):
    """The pair, restored to one primary and one streaming standby, and a wedpool configured for it
    (not started): appdb writes to the primary, ro reads from standbys."""
    ha.restore()
    wedpool.databases = {
        "appdb": ha.hosts(target_session_attrs="read-write"),
        "ro": ha.hosts(target_session_attrs="read-only", max_replica_lag_ms=300),
        "prefer": ha.hosts(target_session_attrs="prefer-standby", max_replica_lag_ms=300),
    }
    wedpool.settings["health_check_user"] = "app"
    wedpool.settings["http_listen"] = f"127.0.0.1:{wedpool.http_port}"
    yield ha
    ha.restore()


def hosts(wedpool, db="appdb"):
    return {int(r["port"]): r for r in wedpool.admin("SHOW HOSTS") if r["database"] == db}


def role_of(wedpool, port, db="appdb"):
    return hosts(wedpool, db).get(port, {}).get("role")


def server_port(wedpool, db="appdb"):
    with wedpool.connect(dbname=db) as c:
        return c.execute("select inet_server_port(), pg_is_in_recovery()").fetchone()


def metrics(wedpool):
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{wedpool.http_port}/metrics", timeout=5) as r:
        return r.read().decode()


def assert_lanes_exact(wedpool):
    """No client holds or waits for a server, no reserve connection counted as in use."""
    def zero():
        lanes = wedpool.admin("SHOW LANES")
        pools = wedpool.admin("SHOW POOLS")
        return all(int(r["active"]) == 0 and int(r["waiting"]) == 0 and int(r["reserve_in_use"]) == 0
                   for r in lanes) and all(int(p["cl_waiting"]) == 0 and int(p["sv_active"]) == 0 for p in pools)
    assert wait_for(zero, timeout=10), (wedpool.admin("SHOW LANES"), wedpool.admin("SHOW POOLS"))


def write_once(wedpool, timeout=3):
    with wedpool.connect(connect_timeout=timeout) as c:
        c.execute("insert into t (v) values ('through wedpool')")
        return c.execute("select inet_server_port()").fetchone()[0]


def test_writes_go_to_the_primary_and_reads_to_the_standby(wedpool, cluster):
    wedpool.start()
    assert wait_for(lambda: role_of(wedpool, cluster.primary.port) == "primary" and
                    role_of(wedpool, cluster.standby.port) == "standby", timeout=5), hosts(wedpool)
    assert server_port(wedpool) == (cluster.primary.port, False)
    assert write_once(wedpool) == cluster.primary.port
    for _ in range(3):
        assert server_port(wedpool, "ro") == (cluster.standby.port, True)
        assert server_port(wedpool, "prefer") == (cluster.standby.port, True)
    row = hosts(wedpool)[cluster.standby.port]
    assert row["up"] == "yes" and row["circuit"] == "closed" and int(row["lag_ms"]) >= 0
    import json
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{wedpool.http_port}/api/v1/hosts", timeout=5) as r:
        doc = json.loads(r.read())
    appdb = [d for d in doc["databases"] if d["database"] == "appdb"][0]
    assert appdb["target_session_attrs"] == "read-write" and appdb["split_brain"] is False
    assert {h["port"]: h["role"] for h in appdb["hosts"]} == {cluster.primary.port: "primary",
                                                            cluster.standby.port: "standby"}
    text = metrics(wedpool)
    assert f'wedpool_backend_role{{database="appdb",host="127.0.0.1:{cluster.primary.port}"}} 1' in text
    assert f'wedpool_backend_role{{database="appdb",host="127.0.0.1:{cluster.standby.port}"}} 2' in text
    assert f'wedpool_backend_up{{database="appdb",host="127.0.0.1:{cluster.standby.port}"}} 1' in text
    assert 'wedpool_failovers_total{database="appdb"} 0' in text
    assert_lanes_exact(wedpool)


def test_a_lagging_standby_is_skipped(wedpool, cluster):
    wedpool.start()
    assert wait_for(lambda: role_of(wedpool, cluster.standby.port, "ro") == "standby", timeout=5)
    assert server_port(wedpool, "ro") == (cluster.standby.port, True)
    cluster.standby.sql("select pg_wal_replay_pause()")
    deadline = time.time() + 10
    while time.time() < deadline:  # writes keep arriving; replay does not follow
        cluster.primary.sql("insert into t (v) values ('lag')", db="appdb")
        row = hosts(wedpool, "ro")[cluster.standby.port]
        if row["lag_ms"] is not None and int(row["lag_ms"]) > 300:
            break
        time.sleep(0.1)
    assert int(hosts(wedpool, "ro")[cluster.standby.port]["lag_ms"]) > 300
    # read-only: no standby within max_replica_lag_ms, a clear error at once
    with pytest.raises(psycopg.OperationalError) as e:
        server_port(wedpool, "ro")
    assert "max_replica_lag_ms=300" in str(e.value) and "57P03" in wedpool.log()
    # prefer-standby (its own line, its own checks) falls back to the primary
    assert wait_for(lambda: int(hosts(wedpool, "prefer")[cluster.standby.port]["lag_ms"] or 0) > 300, timeout=5)
    assert server_port(wedpool, "prefer") == (cluster.primary.port, False)
    cluster.standby.sql("select pg_wal_replay_resume()")
    catch_up(cluster)
    assert wait_for(lambda: int(hosts(wedpool, "ro")[cluster.standby.port]["lag_ms"] or 1) == 0, timeout=5)
    assert server_port(wedpool, "ro") == (cluster.standby.port, True)
    assert wait_for(lambda: server_port(wedpool, "prefer") == (cluster.standby.port, True), timeout=5)
    assert_lanes_exact(wedpool)


def failover_once(wedpool, cluster):
    """Stops the primary under a client in a transaction, promotes the standby, and returns the
    seconds from the promotion (pg_ctl promote returning) to the first write through wedpool."""
    old, new = cluster.primary, cluster.standby
    assert wait_for(lambda: role_of(wedpool, old.port) == "primary" and role_of(wedpool, new.port) == "standby",
                    timeout=5), hosts(wedpool)
    assert write_once(wedpool) == old.port
    in_txn = wedpool.connect(autocommit=False)
    in_txn.execute("insert into t (v) values ('in flight')")
    stop_writes = threading.Event()
    successes = []

    def writer():
        while not stop_writes.is_set():
            try:
                port = write_once(wedpool, timeout=5)
                successes.append((time.monotonic(), port))
            except psycopg.Error:
                time.sleep(0.02)
    w = threading.Thread(target=writer, daemon=True)
    old.stop("fast")
    w.start()
    # the client in a transaction on the old primary gets the server's error (or 08006) ...
    with pytest.raises(psycopg.Error):
        in_txn.execute("insert into t (v) values ('after the stop')")
        in_txn.commit()
    in_txn.close()
    t_promote = time.monotonic()
    new.promote()
    t_promoted = time.monotonic()
    assert wait_for(lambda: any(p == new.port for _, p in successes), timeout=10), wedpool.log()[-3000:]
    stop_writes.set()
    w.join(10)
    first = min(t for t, p in successes if p == new.port and t >= t_promote)
    cluster.primary, cluster.standby = new, old
    # ... and its next transaction works, on the new primary
    assert write_once(wedpool) == new.port
    return first - t_promoted, first - t_promote


def test_failover_follows_the_promoted_standby(wedpool, cluster):
    wedpool.settings["min_pool_size"] = 2
    wedpool.databases["appdb"] += " user=app"  # a pool from the start: idle connections to move
    wedpool.start()
    runs = int(os.environ.get("WEDPOOL_FAILOVER_RUNS", "1"))
    after, since_cmd = [], []
    for i in range(runs):
        if i > 0:
            cluster.restore()
            assert wait_for(lambda: role_of(wedpool, cluster.standby.port) == "standby", timeout=10)
        a, b = failover_once(wedpool, cluster)
        after.append(a)
        since_cmd.append(b)
        print(f"failover run {i + 1}: first write {a * 1000:.0f} ms after promotion "
              f"({b * 1000:.0f} ms after pg_ctl promote was issued)")
    print(f"failover over {runs} run(s): median {statistics.median(after) * 1000:.0f} ms, "
          f"worst {max(after) * 1000:.0f} ms after promotion")
    assert max(after) < 3.0, after
    old = cluster.standby
    # idle server connections to the old primary are gone; the pool refilled on the new one
    servers = [s for s in wedpool.admin("SHOW SERVERS") if s["database"] == "appdb"]
    assert all(int(s["port"]) == cluster.primary.port for s in servers), servers
    assert wait_for(lambda: len([s for s in wedpool.admin("SHOW SERVERS") if s["database"] == "appdb"]) >= 2,
                    timeout=5)
    row = hosts(wedpool)[old.port]
    assert row["up"] == "no" and int(row["failovers"]) == runs
    text = metrics(wedpool)
    assert f'wedpool_failovers_total{{database="appdb"}} {runs}' in text
    log = wedpool.log()
    assert re.search(r"failover_started.*appdb", log) and re.search(
        rf"failover_finished.*127\.0\.0\.1:{old.port} -> 127\.0\.0\.1:{cluster.primary.port} in \d+ ms", log), log[-3000:]
    assert_lanes_exact(wedpool)


def test_primary_lost_and_nobody_promoted(wedpool, cluster):
    """Waiting writers are told after server_connect_timeout_ms that the database has no primary,
    naming the lost one, not after acquire_timeout_ms; reads still work; the primary's return is
    followed."""
    wedpool.settings.update(server_connect_timeout_ms=1000, acquire_timeout_ms=60000)
    wedpool.start()
    assert wait_for(lambda: role_of(wedpool, cluster.primary.port) == "primary", timeout=5)
    cluster.primary.stop("fast")
    assert wait_for(lambda: hosts(wedpool)[cluster.primary.port]["up"] == "no", timeout=5)
    t0 = time.monotonic()
    with pytest.raises(psycopg.OperationalError) as e:
        write_once(wedpool, timeout=10)
    took = time.monotonic() - t0
    assert 1.0 <= took < 1.0 + 1.0, took
    assert "has no primary" in str(e.value) and f"127.0.0.1:{cluster.primary.port}" in str(e.value), e.value
    assert server_port(wedpool, "ro") == (cluster.standby.port, True)
    assert re.search(r"failover_started.*appdb", wedpool.log())
    cluster.primary.start()
    assert wait_for(lambda: _writes_to(wedpool, cluster.primary.port), timeout=15)
    assert re.search(r"failover_finished.*\(the same host\)", wedpool.log())
    assert_lanes_exact(wedpool)


def test_split_brain_refuses_writes(wedpool, cluster):
    wedpool.start()
    assert wait_for(lambda: role_of(wedpool, cluster.standby.port) == "standby", timeout=5)
    assert write_once(wedpool) == cluster.primary.port
    cluster.standby.promote()  # the old primary still runs: two primaries
    assert wait_for(lambda: hosts(wedpool)[cluster.standby.port]["split_brain"] == "yes", timeout=5)
    with pytest.raises(psycopg.OperationalError) as e:
        write_once(wedpool)
    assert "split brain" in str(e.value)
    assert re.search(r"SPLIT BRAIN: database appdb", wedpool.log())
    assert 'wedpool_split_brain{database="appdb"} 1' in metrics(wedpool)
    # read-only finds no standby now, and says so
    with pytest.raises(psycopg.OperationalError) as e:
        server_port(wedpool, "ro")
    assert "no standby" in str(e.value)
    # primary_preference settles it without waiting for the operator to demote one
    wedpool.databases["appdb"] = cluster.hosts(target_session_attrs="read-write",
                                               primary_preference=f"127.0.0.1:{cluster.primary.port}")
    wedpool.write_config()
    wedpool.admin("RELOAD")
    assert wait_for(lambda: _writes_to(wedpool, cluster.primary.port), timeout=5)
    # the operator stops the wrong one: resolved
    wedpool.databases["appdb"] = cluster.hosts(target_session_attrs="read-write")
    wedpool.write_config()
    wedpool.admin("RELOAD")
    cluster.standby.stop("fast")
    assert wait_for(lambda: hosts(wedpool)[cluster.primary.port]["split_brain"] == "no", timeout=5)
    assert write_once(wedpool) == cluster.primary.port
    assert re.search(r"split_brain_resolved", wedpool.log())
    assert_lanes_exact(wedpool)


def _writes_to(wedpool, port):
    try:
        return write_once(wedpool) == port
    except psycopg.Error:
        return False


def test_backend_killed_mid_transaction_and_between(wedpool, cluster):
    wedpool.settings["max_pool_size"] = 1
    wedpool.start()
    assert wait_for(lambda: role_of(wedpool, cluster.primary.port) == "primary", timeout=5)
    with wedpool.connect(autocommit=False) as c:
        pid = c.execute("select pg_backend_pid()").fetchone()[0]
        cluster.primary.sql(f"select pg_terminate_backend({pid})")
        with pytest.raises(psycopg.Error):
            c.execute("select 1")
    assert write_once(wedpool) == cluster.primary.port  # the next transaction works
    # between transactions: the idle server connection is killed
    with wedpool.connect() as c:
        pid = c.execute("select pg_backend_pid()").fetchone()[0]
        cluster.primary.sql(f"select pg_terminate_backend({pid})")
        assert wait_for(lambda: not wedpool.admin("SHOW SERVERS") or
                        all(int(s["remote_pid"] or 0) != pid for s in wedpool.admin("SHOW SERVERS")), timeout=5)
        assert c.execute("select 1").fetchone() == (1,)
    assert_lanes_exact(wedpool)


def test_backend_down_fails_waiters_fast_then_circuit_recovers(wedpool, cluster):
    """A single-host database whose server stops: waiting clients get 08006 naming the host within
    server_connect_timeout_ms (+1 s), the circuit opens, and after the restart the pool refills."""
    node = cluster.standby  # stopping it leaves the primary alone
    wedpool.databases = {"single": f"host=127.0.0.1 port={node.port} dbname=appdb user=app"}
    wedpool.settings.update(max_pool_size=1, min_pool_size=1, server_connect_timeout_ms=2000,
                            acquire_timeout_ms=60000)
    wedpool.start()
    assert wait_for(lambda: int(wedpool.pool("single")["sv_idle"]) == 1, timeout=10)
    holder = wedpool.connect(dbname="single", autocommit=False)
    holder.execute("select 1")
    waiters = [spawn(lambda: wedpool.connect(dbname="single").execute("select 1").fetchone()) for _ in range(3)]
    assert wait_for(lambda: wedpool.pool("single")["cl_waiting"] == 3, timeout=5)
    t0 = time.monotonic()
    node.stop("immediate")
    for t in waiters:
        t.join(2 + 1 + 1)
    took = time.monotonic() - t0
    assert all(not t.is_alive() for t in waiters)
    errors = [str(t.error) for t in waiters]
    assert all(t.error is not None for t in waiters), errors
    assert all(f"127.0.0.1:{node.port}" in e for e in errors), errors
    assert took < 2.0 + 1.0, took
    print(f"waiting clients told within {took * 1000:.0f} ms of the backend stopping")
    holder.close()
    # new clients are refused at once while it is down, and the circuit opens
    t1 = time.monotonic()
    with pytest.raises(psycopg.OperationalError) as e:
        wedpool.connect(dbname="single").execute("select 1")
    assert time.monotonic() - t1 < 1.0 and "08006" in wedpool.log()
    assert f"127.0.0.1:{node.port}" in str(e.value)
    assert wait_for(lambda: hosts(wedpool, "single")[node.port]["circuit"] in ("open", "half-open"), timeout=10)
    assert f'wedpool_circuit_open{{database="single",host="127.0.0.1:{node.port}"}} 1' in metrics(wedpool)
    assert re.search(r"circuit_open", wedpool.log())
    node.start()
    # a probe closes the circuit and the pool refills to min_pool_size, without a restart
    assert wait_for(lambda: hosts(wedpool, "single")[node.port]["circuit"] == "closed", timeout=15)
    assert wait_for(lambda: int(wedpool.pool("single")["sv_idle"]) == 1, timeout=5)
    with wedpool.connect(dbname="single") as c:
        assert c.execute("select 1").fetchone() == (1,)
    assert re.search(r"circuit_closed", wedpool.log()) and re.search(r"backend_up", wedpool.log())
    assert_lanes_exact(wedpool)


class FakePatroni:
    """Patroni's REST API as far as wedpool asks it: GET /cluster names the leader."""

    def __init__(self):
        self.leader = None
        self.asked = 0
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                fake.asked += 1
                if self.path != "/cluster" or fake.leader is None:
                    self.send_error(404)
                    return
                host, port = fake.leader
                body = json.dumps({"scope": "wedding", "members": [
                    {"name": "pg-a", "role": "leader", "state": "running", "host": host, "port": port},
                    {"name": "pg-b", "role": "replica", "state": "streaming", "host": "10.9.9.9", "port": 1}]})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_patroni_leader_settles_a_split_brain(wedpool, cluster):
    patroni = FakePatroni()
    try:
        patroni.leader = ("127.0.0.1", cluster.primary.port)
        wedpool.databases["appdb"] = cluster.hosts(target_session_attrs="read-write",
                                                   patroni_url=f"http://127.0.0.1:{patroni.port}")
        wedpool.start()
        assert wait_for(lambda: role_of(wedpool, cluster.standby.port) == "standby", timeout=5)
        assert wait_for(lambda: _api_db(wedpool)["patroni_leader"] == f"127.0.0.1:{cluster.primary.port}",
                        timeout=5)
        cluster.standby.promote()  # two primaries; Patroni says which one leads
        assert wait_for(lambda: role_of(wedpool, cluster.standby.port) == "primary", timeout=5)
        for _ in range(3):
            assert write_once(wedpool) == cluster.primary.port
        # Patroni changes its mind: writes follow it
        patroni.leader = ("127.0.0.1", cluster.standby.port)
        assert wait_for(lambda: _writes_to(wedpool, cluster.standby.port), timeout=5)
        # Patroni stops answering: its last answer stands, and the error is shown
        patroni.leader = None
        assert wait_for(lambda: _api_db(wedpool)["patroni_error"] is not None, timeout=5)
        assert "HTTP 404" in _api_db(wedpool)["patroni_error"]
        assert_lanes_exact(wedpool)
    finally:
        patroni.close()


def _api_db(wedpool, name="appdb"):
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{wedpool.http_port}/api/v1/hosts", timeout=5) as r:
        return [d for d in json.loads(r.read())["databases"] if d["database"] == name][0]


def test_reload_changes_the_hosts(wedpool, cluster):
    """RELOAD turns a single-host line into a multi-host one and back: SHOW HOSTS follows, servers
    on hosts that left are replaced, writes keep working."""
    wedpool.databases["appdb"] = f"host=127.0.0.1 port={cluster.primary.port} dbname=appdb"
    del wedpool.settings["health_check_user"]  # checks log in with the pool's credentials
    wedpool.start()
    assert write_once(wedpool) == cluster.primary.port
    assert list(hosts(wedpool)) == [cluster.primary.port]
    assert wait_for(lambda: hosts(wedpool)[cluster.primary.port]["role"] == "unknown", timeout=5)  # TCP check only
    wedpool.databases["appdb"] = cluster.hosts(target_session_attrs="read-write")
    wedpool.write_config()
    wedpool.admin("RELOAD")
    assert sorted(hosts(wedpool)) == sorted([cluster.primary.port, cluster.standby.port])
    assert wait_for(lambda: role_of(wedpool, cluster.standby.port) == "standby" and
                    role_of(wedpool, cluster.primary.port) == "primary", timeout=5), hosts(wedpool)
    assert write_once(wedpool) == cluster.primary.port
    wedpool.databases["appdb"] = f"host=127.0.0.1 port={cluster.standby.port} dbname=appdb target_session_attrs=any"
    wedpool.write_config()
    wedpool.admin("RELOAD")
    assert list(hosts(wedpool)) == [cluster.standby.port]
    assert server_port(wedpool) == (cluster.standby.port, True)
    assert wait_for(lambda: all(int(s["port"]) == cluster.standby.port for s in wedpool.admin("SHOW SERVERS")
                                if s["database"] == "appdb"), timeout=5)
    assert_lanes_exact(wedpool)


def test_a_terminated_health_check_is_not_a_down_host(wedpool, cluster):
    """pg_terminate_backend() of wedpool's check connection (an operator cleaning up) is checked again
    at once on a new connection: no backend_down, no failover."""
    wedpool.start()
    assert wait_for(lambda: role_of(wedpool, cluster.primary.port) == "primary", timeout=5)
    assert wait_for(lambda: cluster.primary.sql("select count(*) from pg_stat_activity "
                                                "where application_name = 'wedpool-health'")[0][0] >= 1, timeout=5)
    cluster.primary.sql("select pg_terminate_backend(pid) from pg_stat_activity "
                        "where application_name = 'wedpool-health'")
    assert wait_for(lambda: cluster.primary.sql("select count(*) from pg_stat_activity "
                                                "where application_name = 'wedpool-health'")[0][0] >= 1, timeout=5)
    assert write_once(wedpool) == cluster.primary.port
    row = hosts(wedpool)[cluster.primary.port]
    assert row["up"] == "yes" and int(row["check_failures"]) == 0, row
    assert "backend_down" not in wedpool.log() and "failover_started" not in wedpool.log()
    assert_lanes_exact(wedpool)


def test_a_cancel_goes_to_the_host_the_query_runs_on(wedpool, cluster):
    """ro's query runs on the standby (the second host): its cancel request must go there, not to
    the first host of the line."""
    wedpool.start()
    assert wait_for(lambda: role_of(wedpool, cluster.standby.port, "ro") == "standby", timeout=5)
    with wedpool.connect(dbname="ro") as c:
        assert c.execute("select inet_server_port()").fetchone()[0] == cluster.standby.port
        t = threading.Timer(0.3, c.cancel)
        t.start()
        t0 = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled):
            c.execute("select pg_sleep(5)")
        assert time.monotonic() - t0 < 3
        t.join()
    assert_lanes_exact(wedpool)
