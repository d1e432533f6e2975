"""Priority lanes, the emergency reserve and graceful degradation, deterministically: one server
connection held busy, clients queued in a known order, then released."""
import threading
import time

import psycopg
import pytest

from helpers import wait_for


def setup_lanes(wedpool, **settings):
    wedpool.settings.update({"max_pool_size": 1, "reserve_pool_size": 1, "lane_aging_per_s": 0})
    wedpool.settings.update(settings)
    wedpool.lanes = {
        "critical": "priority=1400 reserve=yes queue_timeout_ms=20000 users=app",
        "wedding": "priority=600",
        "default": "priority=100",
        "background": "priority=10 queue_timeout_ms=20000 max_waiting=3 users=*",
    }
    wedpool.lane_rules = [("critical", "application_name=ceremony*"), ("wedding", "application_name=planner*"),
                          ("background", "application_name=report*")]
    wedpool.start()


class Recorder:
    """Runs each client's query in a thread; the order in which the server ran them comes from a
    sequence, so thread scheduling in this process cannot blur it."""

    def __init__(self, wedpool):
        self.wedpool = wedpool
        self.ran = []
        self.errors = {}
        self.lock = threading.Lock()
        self.threads = []
        wedpool.pg.sql("create sequence if not exists lane_order", db="appdb")

    @property
    def order(self):
        return [name for _, name in sorted(self.ran)]

    def run(self, name, app, sql="select 1", **kw):
        conn = self.wedpool.connect(application_name=app, **kw)  # logged in before queueing

        def body():
            try:
                seq = conn.execute(f"select nextval('lane_order'), ({sql}) is not null").fetchone()[0]
                with self.lock:
                    self.ran.append((seq, name))
            except psycopg.Error as e:
                with self.lock:
                    self.errors[name] = e
            finally:
                conn.close()
        t = threading.Thread(target=body)
        t.start()
        self.threads.append(t)

    def join(self):
        for t in self.threads:
            t.join(30)


def hold_server(wedpool, seconds):
    holder = wedpool.connect(application_name="holder")
    t = threading.Thread(target=lambda: holder.execute(f"select pg_sleep({seconds})"))
    t.start()
    assert wait_for(lambda: wedpool.pg.running(f"select pg_sleep({seconds})"))
    return t, holder


def wait_waiting(wedpool, n):
    assert wait_for(lambda: wedpool.pool()["cl_waiting"] >= n), wedpool.pool()


def test_service_order_is_priority_then_fifo(wedpool):
    setup_lanes(wedpool, reserve_pool_size=0)
    t, holder = hold_server(wedpool, 1.0)
    rec = Recorder(wedpool)
    arrivals = [("bg1", "report-a"), ("def1", "web"), ("wed1", "planner-x"), ("bg2", "report-b"),
                ("def2", "web"), ("crit1", "ceremony-1"), ("wed2", "planner-y")]
    for i, (name, app) in enumerate(arrivals):
        rec.run(name, app)
        wait_waiting(wedpool, i + 1)
    t.join()
    holder.close()
    rec.join()
    assert rec.errors == {}
    assert rec.order == ["crit1", "wed1", "wed2", "def1", "def2", "bg1", "bg2"]


def test_critical_gets_reserve_at_once_default_waits(wedpool):
    setup_lanes(wedpool)
    t, holder = hold_server(wedpool, 2.0)
    rec = Recorder(wedpool)
    rec.run("def", "web")
    wait_waiting(wedpool, 1)
    t0 = time.time()
    with wedpool.connect(application_name="ceremony-vows") as crit:
        assert crit.execute("select 1").fetchone()[0] == 1
        elapsed = time.time() - t0
    assert elapsed < 0.5
    assert rec.order == []  # the default client is still waiting for the normal pool
    lanes = {r["lane"]: r for r in wedpool.admin("SHOW LANES")}
    assert int(lanes["critical"]["reserve_uses"]) == 1
    assert "reserve connection 1/1 given to client" in wedpool.log()
    t.join()
    holder.close()
    rec.join()
    assert rec.order == ["def"]


def test_reserve_stays_warm_while_the_pool_is_exhausted(wedpool):
    """Critical clients arrive in bursts: while the normal pool is exhausted every reserve
    connection not in use is kept open, so the next critical clients never wait for a connect."""
    setup_lanes(wedpool, reserve_pool_size=3)
    t, holder = hold_server(wedpool, 3.0)
    rec = Recorder(wedpool)
    rec.run("def", "web")
    wait_waiting(wedpool, 1)
    assert wait_for(lambda: wedpool.pool()["sv_idle"] == 3, timeout=5), wedpool.pool()
    crits = [wedpool.connect(application_name=f"ceremony-{i}") for i in range(3)]
    for c in crits:
        c.execute("begin")
        c.execute("select 1")  # all three on the reserve at once, none waits
    pool = wedpool.pool()
    assert pool["sv_active"] == 4 and pool["cl_waiting"] == 1, pool
    lanes = {r["lane"]: r for r in wedpool.admin("SHOW LANES")}
    assert int(lanes["critical"]["reserve_uses"]) == 3
    for c in crits:
        c.execute("commit")
        c.close()
    t.join()
    holder.close()
    rec.join()
    assert rec.order == ["def"]


def test_background_is_shed_first_while_critical_waits(wedpool):
    setup_lanes(wedpool, reserve_pool_size=0)
    t, holder = hold_server(wedpool, 1.5)
    rec = Recorder(wedpool)
    for i in range(3):
        rec.run(f"bg{i}", "report")
    wait_waiting(wedpool, 3)
    with wedpool.connect(application_name="report-late") as late:
        with pytest.raises(psycopg.OperationalError) as e:
            late.execute("select 1")
    assert 'lane "background"' in str(e.value) and "max_waiting=3" in str(e.value)
    rec.run("crit", "ceremony")
    wait_waiting(wedpool, 4)
    t.join()
    holder.close()
    rec.join()
    assert rec.errors == {}
    assert rec.order[0] == "crit"
    lanes = {r["lane"]: r for r in wedpool.admin("SHOW LANES")}
    assert int(lanes["background"]["shed"]) == 1


def test_lane_queue_timeout_names_the_lane(wedpool):
    setup_lanes(wedpool, reserve_pool_size=0)
    wedpool.lanes["background"] = "priority=10 queue_timeout_ms=300"
    wedpool.write_config()
    wedpool.admin("RELOAD")
    t, holder = hold_server(wedpool, 1.5)
    with wedpool.connect(application_name="report") as bg:
        t0 = time.time()
        with pytest.raises(psycopg.OperationalError) as e:
            bg.execute("select 1")
        assert time.time() - t0 < 1.2
    assert 'for lane "background" within 300 ms' in str(e.value)
    t.join()
    holder.close()


def test_max_active_caps_a_lane(wedpool):
    wedpool.settings.update({"max_pool_size": 4, "reserve_pool_size": 0})
    wedpool.lanes = {"background": "priority=10 max_active=1"}
    wedpool.lane_rules = [("background", "application_name=report*")]
    wedpool.start()
    rec = Recorder(wedpool)
    for i in range(3):
        rec.run(f"bg{i}", "report", sql="select pg_sleep(0.8)")

    def background_when_all_arrived():
        lane = {r["lane"]: r for r in wedpool.admin("SHOW LANES")}["background"]
        return lane if int(lane["active"]) + int(lane["waiting"]) == 3 else None
    lane = wait_for(background_when_all_arrived)
    assert lane is not None and lane["active"] == "1" and lane["waiting"] == "2", lane
    with wedpool.connect() as d:  # the default lane still gets one of the other servers at once
        t0 = time.time()
        d.execute("select 1")
        assert time.time() - t0 < 0.3
    rec.join()
    assert rec.errors == {} and len(rec.order) == 3


def test_aging_lets_background_through(wedpool):
    """With aging, a background client that waited long enough beats newer default clients."""
    setup_lanes(wedpool, reserve_pool_size=0, lane_aging_per_s=1000)
    t, holder = hold_server(wedpool, 1.0)
    rec = Recorder(wedpool)
    rec.run("bg", "report")
    wait_waiting(wedpool, 1)
    time.sleep(0.5)  # 500 points of aging: more than default's 90-point lead
    rec.run("def", "web")
    wait_waiting(wedpool, 2)
    t.join()
    holder.close()
    rec.join()
    assert rec.order == ["bg", "def"]


def test_lane_requested_in_options(wedpool):
    setup_lanes(wedpool)
    with wedpool.connect(options="-c wedpool.lane=critical") as c:
        c.execute("select 1")
        clients = [r for r in wedpool.admin("SHOW CLIENTS") if r["database"] == "appdb"]
        assert [r["lane"] for r in clients] == ["critical"]
        # the option never reached PostgreSQL
        with pytest.raises(psycopg.Error):
            c.execute("show wedpool.lane")
    with pytest.raises(psycopg.OperationalError) as e:
        wedpool.connect(user="md5user", options="-c wedpool.lane=critical")
    assert 'not allowed to use lane "critical"' in str(e.value)
    with pytest.raises(psycopg.OperationalError) as e:
        wedpool.connect(options="-c wedpool.lane=nosuch")
    assert 'unknown lane "nosuch"' in str(e.value)
