"""Regression tests of the data-path rework (issue #8, defects 1, 2, 3, 4, 7, 8 and 10), each
asserting what a user or an operator sees: a lane and the emergency reserve serve again after
servers are lost while linked; one client's settings never reach another and bad startup options
are refused at login as PostgreSQL refuses them; a message type the protocol does not allow gets
08P01 naming it and leaves the server clean; COPY sequences cannot keep a server linked; the client
receives PostgreSQL's own 57P01; startup + Terminate in one write is not a protocol error; a hostile
server is closed without hurting wedpool."""
import json
import os
import re
import struct
import threading
import urllib.request

import psycopg
import pytest

from helpers import (PASSWORDS, FakeBackend, Wire, WireError, cstr, message, parse_fields, spawn, startup_packet,
                     wait_for)


# ---------------------------------------------------------------------------------------------
# small helpers of this file

def lane(wedpool, name, dbname="appdb", user="app"):
    for r in wedpool.admin("SHOW LANES"):
        if r["lane"] == name and r["database"] == dbname and r["user"] == user:
            return {k: (int(v) if v is not None and str(v).isdigit() else v) for k, v in r.items()}
    return None


def http_get(wedpool, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{wedpool.http_port}{path}", timeout=5) as r:
        return r.read().decode()


def metric(text, name, **labels):
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            got = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
            if all(got.get(k) == v for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return None


def json_pool(wedpool, dbname="appdb", user="app"):
    doc = json.loads(http_get(wedpool, "/api/metrics/database/pool"))
    return [p for p in doc["pools"] if p["database"] == dbname and p["user"] == user][0]


def errors_of(msgs):
    return [parse_fields(body) for t, body in msgs if t == b"E"]


def served(wedpool, timeout_s=5, **kw):
    """Runs select 1 as a new client; returns None when served, else the error."""
    try:
        with wedpool.connect(connect_timeout=timeout_s, **kw) as c:
            assert c.execute("select 1").fetchone()[0] == 1
        return None
    except psycopg.Error as e:
        return e


def backend_pid_of(wire):
    r = wire.query("select pg_backend_pid()")
    assert r.error is None, r.error
    return int(r.rows[0][0])


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def server_state(wedpool, pid):
    for r in wedpool.admin("SHOW SERVERS"):
        if r["remote_pid"] is not None and int(r["remote_pid"]) == pid:
            return r["state"]
    return None


# ---------------------------------------------------------------------------------------------
# 1. lanes and the emergency reserve never leak a slot

def test_lane_serves_again_after_two_clients_send_an_invalid_message_type(wedpool):
    """Two clients of a max_active=2 lane each send message type 'z': afterwards the lane still
    serves (before the rework: 53300 "0 active, 2 max" for every client until restart)."""
    wedpool.settings.update({"max_pool_size": 4, "reserve_pool_size": 0})
    wedpool.lanes = {"background": "priority=10 max_active=2 queue_timeout_ms=2000"}
    wedpool.lane_rules = [("background", "application_name=report*")]
    wedpool.start()
    for i in range(2):
        with Wire(wedpool.port) as w:
            w.login(params={"application_name": f"report-{i}"})
            w.send_msg(b"z")
            msgs = w.drain()
            assert errors_of(msgs), msgs
    err = served(wedpool, application_name="report-late")
    assert err is None, f"lane no longer serves: {err!r}"
    assert wait_for(lambda: lane(wedpool, "background")["active"] == 0), lane(wedpool, "background")


def test_lane_active_count_returns_to_zero_after_server_terminated_in_transaction(wedpool):
    """A lane client's server is terminated while the client is in a transaction: the lane's
    active count returns to 0 and the lane (max_active=1) serves the next client."""
    wedpool.settings.update({"max_pool_size": 4, "reserve_pool_size": 0,
                             "http_listen": f"127.0.0.1:{wedpool.http_port}"})
    wedpool.lanes = {"background": "priority=10 max_active=1 queue_timeout_ms=2000"}
    wedpool.lane_rules = [("background", "application_name=report*")]
    wedpool.start()
    with wedpool.connect(application_name="report-1") as c:
        c.execute("begin")
        pid = c.execute("select pg_backend_pid()").fetchone()[0]
        assert lane(wedpool, "background")["active"] == 1
        wedpool.pg.sql(f"select pg_terminate_backend({pid})")
        with pytest.raises(psycopg.Error):
            c.execute("select 1")
    assert wait_for(lambda: lane(wedpool, "background")["active"] == 0), lane(wedpool, "background")
    text = http_get(wedpool, "/metrics")
    assert metric(text, "wedpool_lane_active_connections", database="appdb", user="app", lane="background") == 0
    err = served(wedpool, application_name="report-2")
    assert err is None, f"lane no longer serves: {err!r}"


def test_reserve_in_use_returns_to_zero_after_reserve_connection_dies(wedpool):
    """A critical client on the emergency reserve loses its server: reserve_in_use returns to 0
    (SHOW LANES, JSON, metrics) and the next critical client gets the reserve at once."""
    wedpool.settings.update({"max_pool_size": 1, "reserve_pool_size": 1, "lane_aging_per_s": 0,
                             "http_listen": f"127.0.0.1:{wedpool.http_port}"})
    wedpool.lanes = {"critical": "priority=1400 reserve=yes queue_timeout_ms=2000 users=app",
                     "default": "priority=100"}
    wedpool.lane_rules = [("critical", "application_name=ceremony*")]
    wedpool.start()
    with wedpool.connect(application_name="holder") as holder:
        holder.execute("begin")
        holder.execute("select 1")  # the one normal server is held
        with wedpool.connect(application_name="ceremony-1") as crit:
            crit.execute("begin")
            pid = crit.execute("select pg_backend_pid()").fetchone()[0]
            assert lane(wedpool, "critical")["reserve_in_use"] == 1
            wedpool.pg.sql(f"select pg_terminate_backend({pid})")
            with pytest.raises(psycopg.Error):
                crit.execute("select 1")
        assert wait_for(lambda: lane(wedpool, "critical")["reserve_in_use"] == 0), lane(wedpool, "critical")
        assert json_pool(wedpool)["reserve_in_use"] == 0
        assert metric(http_get(wedpool, "/metrics"), "wedpool_reserve_in_use", database="appdb", user="app",
                      lane="critical") == 0
        err = served(wedpool, application_name="ceremony-2")
        assert err is None, f"the reserve no longer serves critical clients: {err!r}"
        holder.execute("commit")


# ---------------------------------------------------------------------------------------------
# 2. parameter sync: each client runs with its own settings; bad options refused at login

@pytest.mark.parametrize("option,sqlstate", [("-c no_such_guc=1", "42704"),
                                             ("-c statement_timeout=abc", "22023")])
def test_bad_startup_option_is_refused_at_login_like_postgres(wedpool, option, sqlstate):
    wedpool.start()
    with Wire(wedpool.pg.port) as w, pytest.raises(WireError) as direct:
        w.login(params={"options": option})
    assert direct.value.sqlstate == sqlstate, direct.value
    for attempt in range(2):  # the server's verdict, then the cached one
        with Wire(wedpool.port) as w, pytest.raises(WireError) as pooled:
            w.login(params={"options": option})
        assert pooled.value.sqlstate == direct.value.sqlstate, (attempt, pooled.value)
        assert pooled.value.message == direct.value.message, (attempt, pooled.value)


@pytest.mark.parametrize("option", ["-c search_path=a,b", "-c session_authorization=reporting",
                                    "-c session_authorization=no_such_role"])
def test_startup_option_means_what_it_means_on_postgres(wedpool, option):
    """The same startup option gives the same session (or the same refusal) through wedpool as
    directly on PostgreSQL."""
    wedpool.start()

    def attempt(port):
        try:
            with Wire(port) as w:
                w.login(params={"options": option})
                return w.query("select current_setting('search_path'), session_user, current_user").rows
        except WireError as e:
            return (e.sqlstate, e.message)
    direct = attempt(wedpool.pg.port)
    assert attempt(wedpool.port) == direct


def settings_of(conn):
    return conn.execute("select current_setting('TimeZone'), current_setting('application_name'), "
                        "current_setting('statement_timeout')").fetchone()


def test_each_client_keeps_its_own_settings_after_a_refused_option(wedpool):
    """One pool server (max_pool_size=1) shared by clients with different settings; a client
    whose options include a bogus one came first. Each client sees its own TimeZone,
    application_name and statement_timeout on every query."""
    wedpool.settings["max_pool_size"] = 1
    wedpool.start()
    default_tz = wedpool.pg.sql("show timezone")[0][0]
    try:
        with wedpool.connect(application_name="alpha",
                             options="-c no_such_guc=1 -c TimeZone=Asia/Tokyo -c statement_timeout=12345") as bad:
            bad.execute("select 1")
    except psycopg.Error:
        pass
    want = {"alpha": ("Asia/Tokyo", "alpha", "12345ms"),
            "beta": ("America/New_York", "beta", "5s"),
            "gamma": (default_tz, "gamma", "0")}
    conns = {"alpha": wedpool.connect(application_name="alpha",
                                      options="-c TimeZone=Asia/Tokyo -c statement_timeout=12345"),
             "beta": wedpool.connect(application_name="beta",
                                     options="-c TimeZone=America/New_York -c statement_timeout=5000"),
             "gamma": wedpool.connect(application_name="gamma")}
    try:
        for _ in range(3):
            for name, c in conns.items():
                assert settings_of(c) == want[name], name
    finally:
        for c in conns.values():
            c.close()


def test_read_only_client_cannot_write_and_the_next_client_can(wedpool):
    wedpool.settings["max_pool_size"] = 1
    wedpool.start()
    wedpool.pg.sql("drop table if exists dp_ro_a, dp_ro_b, dp_ro_c", db="appdb")
    try:
        with wedpool.connect(options="-c no_such_guc=1 -c default_transaction_read_only=on") as bad:
            bad.execute("select 1")
    except psycopg.Error:
        pass
    with wedpool.connect(options="-c default_transaction_read_only=on") as ro, wedpool.connect() as rw:
        with pytest.raises(psycopg.Error) as e:
            ro.execute("create table dp_ro_a(a int)")
        assert e.value.sqlstate == "25006", e.value
        rw.execute("create table dp_ro_b(a int)")
        with pytest.raises(psycopg.Error) as e:
            ro.execute("create table dp_ro_c(a int)")
        assert e.value.sqlstate == "25006", e.value
    wedpool.pg.sql("drop table if exists dp_ro_a, dp_ro_b, dp_ro_c", db="appdb")


def test_set_role_in_a_transaction_does_not_break_the_next_client(wedpool):
    """A client switches to a non-superuser role inside a transaction (is_superuser becomes off on
    that server); the next clients on the same server still run their queries. With the default
    pin_session_state=pin the SET ROLE would pin A to the only server (test_session_state.py):
    ignore lets the role reach B's server, which is what this test is about."""
    wedpool.settings["max_pool_size"] = 1
    wedpool.settings["pin_session_state"] = "ignore"
    wedpool.start()
    wedpool.pg.sql("do $$ begin create role dp_plain nologin; exception when duplicate_object then null; end $$")
    with wedpool.connect() as a:
        a.execute("begin")
        a.execute("set role dp_plain")
        a.execute("commit")
        with wedpool.connect(options="-c TimeZone=Asia/Tokyo") as b:
            for _ in range(3):
                assert b.execute("select current_setting('TimeZone')").fetchone()[0] == "Asia/Tokyo"
                assert a.execute("select 1").fetchone()[0] == 1
    assert served(wedpool) is None


# ---------------------------------------------------------------------------------------------
# 3. frontend message types the protocol does not allow

@pytest.mark.parametrize("mode,type_", [("transaction", b"z"), ("transaction", b"p"), ("session", b"z")])
def test_disallowed_message_type_gets_08P01_naming_it_and_the_server_stays(wedpool, mode, type_):
    wedpool.settings.update({"max_pool_size": 1, "pool_mode": mode})
    wedpool.start()
    with Wire(wedpool.port) as w:
        w.login()
        pid = backend_pid_of(w)
        w.send_msg(type_, b"xyz\0" if type_ == b"p" else b"")
        msgs = w.drain()
        errs = errors_of(msgs)
        assert len(errs) == 1 and errs[0]["C"] == "08P01", msgs
        assert f"'{type_.decode()}'" in errs[0]["M"], errs[0]
        assert w.eof, "the client was not closed"
    assert wait_for(lambda: server_state(wedpool, pid) == "idle"), wedpool.admin("SHOW SERVERS")
    with Wire(wedpool.port) as w:
        w.login()
        assert backend_pid_of(w) == pid  # the same server, released clean, serves the next client


def test_disallowed_message_type_inside_a_transaction_leaves_nothing_behind(wedpool):
    """'z' from a client inside a transaction: 08P01, the client is closed, its transaction is not
    committed and the next client on the one server starts outside any transaction."""
    wedpool.settings.update({"max_pool_size": 1, "acquire_timeout_ms": 3000})
    wedpool.start()
    wedpool.pg.sql("create table if not exists dp_txn(a int)", "truncate dp_txn", db="appdb")
    with Wire(wedpool.port) as w:
        w.login()
        assert w.query("begin").status == b"T"
        assert w.query("insert into dp_txn values (1)").status == b"T"
        w.send_msg(b"z")
        errs = errors_of(w.drain())
        assert [e["C"] for e in errs] == ["08P01"] and "'z'" in errs[0]["M"], errs
        assert w.eof
    with Wire(wedpool.port) as w:
        w.login()
        r = w.query("select count(*) from dp_txn")
        assert r.error is None and r.rows == [("0",)] and r.status == b"I", (r.error, r.rows, r.status)


# ---------------------------------------------------------------------------------------------
# 4. no sequence keeps a server linked outside a transaction

def copy_extended(w, pipelined):
    """COPY FROM STDIN as libpq runs it in the extended protocol: Parse/Bind/Describe/Execute/Sync,
    then CopyData/CopyDone/Sync (the server ignores the first Sync during COPY)."""
    head = (message(b"P", cstr("") + cstr("COPY dp_copy FROM STDIN") + struct.pack("!H", 0)) +
            message(b"B", cstr("") + cstr("") + struct.pack("!HHH", 0, 0, 0)) +
            message(b"D", b"P" + cstr("")) +
            message(b"E", cstr("") + struct.pack("!I", 0)) +
            message(b"S"))
    tail = message(b"d", b"1\n2\n") + message(b"c") + message(b"S")
    if pipelined:
        w.send(head + tail)
    else:
        w.send(head)
        seen = []
        while not seen or seen[-1] != b"G":
            t, body = w.recv_msg()
            assert t != b"E", parse_fields(body)
            seen.append(t)
        w.send(tail)


def copy_simple_with_sync(w, pipelined):
    """A simple-protocol COPY FROM STDIN with a Sync sent during the COPY (ignored by the server)."""
    head = message(b"Q", cstr("COPY dp_copy FROM STDIN"))
    tail = message(b"S") + message(b"d", b"3\n") + message(b"H") + message(b"S") + message(b"c")
    if pipelined:
        w.send(head + tail)
    else:
        w.send(head)
        t, body = w.recv_msg()
        assert t == b"G", (t, body)
        w.send(tail)


@pytest.mark.parametrize("pipelined", [False, True], ids=["waits", "pipelined"])
@pytest.mark.parametrize("sequence", [copy_extended, copy_simple_with_sync], ids=["extended_copy", "sync_in_copy"])
def test_copy_sequences_do_not_keep_the_server_from_other_clients(wedpool, sequence, pipelined):
    wedpool.settings.update({"max_pool_size": 1, "acquire_timeout_ms": 2000})
    wedpool.start()
    wedpool.pg.sql("create table if not exists dp_copy(a int)", db="appdb")
    with Wire(wedpool.port) as w:
        w.login()
        sequence(w, pipelined)
        r = w.read_result()
        assert r.error is None and r.status == b"I", (r.error, r.status, r.tags)
        assert any(t.startswith("COPY") for t in r.tags), r.tags
        # the client idles outside any transaction: the one server serves someone else
        err = served(wedpool)
        assert err is None, f"the server stayed with an idle client: {err!r}"
        assert wait_for(lambda: wedpool.pool()["sv_active"] == 0), wedpool.pool()
        r = w.query("select 1")
        assert r.error is None and r.rows == [("1",)], r.error
        w.send_msg(b"X")


# ---------------------------------------------------------------------------------------------
# 7. PostgreSQL's own error reaches the client

def test_terminated_session_server_reaches_idle_client_as_57P01(wedpool):
    wedpool.settings.update({"pool_mode": "session"})
    wedpool.start()
    with Wire(wedpool.port) as w:
        w.login()
        pid = backend_pid_of(w)
        wedpool.pg.sql(f"select pg_terminate_backend({pid})")
        errs = errors_of(w.drain())
        assert [e["C"] for e in errs] == ["57P01"], errs
        assert w.eof


@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_terminated_server_mid_query_reaches_client_as_57P01(wedpool, mode):
    """The server of a client running a query is terminated: the raw client reads PostgreSQL's
    ErrorResponse 57P01; a psycopg client's error carries PostgreSQL's words, exactly as when
    connected directly (libpq reports this error without a SQLSTATE, directly too)."""
    wedpool.settings.update({"pool_mode": mode})
    wedpool.start()
    q = ("select pid from pg_stat_activity where application_name = '{}' and "
         "query like 'select pg_sleep%' and state = 'active'")
    with Wire(wedpool.port) as w:
        w.login(params={"application_name": "victim-raw"})
        w.send_msg(b"Q", cstr("select pg_sleep(20)"))
        found = wait_for(lambda: wedpool.pg.sql(q.format("victim-raw")))
        assert found, "the query never started"
        wedpool.pg.sql(f"select pg_terminate_backend({found[0][0]})")
        w.sock.settimeout(10)
        errs = errors_of(w.drain())
        assert [(e["C"], e["S"]) for e in errs] == [("57P01", "FATAL")], errs
        assert w.eof
    with wedpool.connect(application_name="victim") as c:
        t = spawn(c.execute, "select pg_sleep(20)")
        found = wait_for(lambda: wedpool.pg.sql(q.format("victim")))
        assert found, "the query never started"
        wedpool.pg.sql(f"select pg_terminate_backend({found[0][0]})")
        t.join(10)
        assert isinstance(t.error, psycopg.OperationalError), t.error
        assert "terminating connection due to administrator command" in str(t.error), str(t.error)


# ---------------------------------------------------------------------------------------------
# 8. the startup packet and Terminate in one write

@pytest.mark.parametrize("auth", ["scram-sha-256", "md5", "trust"])
def test_startup_and_terminate_in_one_write_is_a_quiet_close(wedpool, auth):
    wedpool.settings["auth_type"] = auth
    wedpool.start()
    with Wire(wedpool.port) as w:
        w.send(startup_packet({"user": "app", "database": "appdb"}) + message(b"X"))
        msgs = w.drain()
        assert errors_of(msgs) == [], msgs
        assert w.eof, "wedpool kept the connection of a client that sent Terminate"
    assert served(wedpool) is None
    assert "invalid length of startup packet" not in wedpool.log()


# ---------------------------------------------------------------------------------------------
# 10. a hostile server

class FakeServer(FakeBackend):
    """A PostgreSQL impostor on a local port: trust login (AuthenticationOk, ParameterStatus,
    BackendKeyData, ReadyForQuery), every query answered "SET", except a query containing the word
    hostile, answered as `mode` says: "short_z" = a ReadyForQuery of length 4; "flood" = `count`
    distinct ParameterStatus messages, then CommandComplete and ReadyForQuery."""

    def __init__(self, mode, count=20000):
        self.mode = mode
        self.count = count
        self.hostile_sent = threading.Event()
        super().__init__()

    def serve(self, conn):
        out = message(b"R", struct.pack("!I", 0))
        for k, v in (("server_version", "15.99"), ("server_encoding", "UTF8"),
                     ("client_encoding", "UTF8"), ("DateStyle", "ISO, MDY"),
                     ("integer_datetimes", "on"), ("standard_conforming_strings", "on"),
                     ("TimeZone", "UTC"), ("IntervalStyle", "postgres"), ("application_name", ""),
                     ("is_superuser", "on"), ("session_authorization", "app")):
            out += message(b"S", cstr(k) + cstr(v))
        out += message(b"K", struct.pack("!II", 4242, 99)) + message(b"Z", b"I")
        conn.sendall(out)
        while True:
            t, body = self.recv_message(conn)
            if t == b"X":
                return
            if t != b"Q":
                continue
            if b"hostile" not in body:
                conn.sendall(message(b"C", cstr("SET")) + message(b"Z", b"I"))
                continue
            self.hostile_sent.set()
            if self.mode == "short_z":
                conn.sendall(message(b"C", cstr("SELECT 0")) + b"Z" + struct.pack("!I", 4))
            else:
                batch = b""
                for i in range(self.count):
                    batch += message(b"S", cstr(f"flood_{i:06d}") + cstr("v" * 1000))
                    if len(batch) > 1 << 20:
                        conn.sendall(batch)
                        batch = b""
                conn.sendall(batch + message(b"C", cstr("SELECT 0")) + message(b"Z", b"I"))


@pytest.fixture
def fake_server():
    servers = []

    def make(mode, **kw):
        s = FakeServer(mode, **kw)
        servers.append(s)
        return s
    yield make
    for s in servers:
        s.close()


def hostile_query(wedpool):
    """Runs the hostile query on fakedb as a raw client; returns (messages, closed)."""
    with Wire(wedpool.port, timeout=10) as w:
        w.login(database="fakedb")
        w.send_msg(b"Q", cstr("select 'hostile'"))
        msgs = w.drain()
        return msgs, w.eof


def assert_still_serving(wedpool):
    assert wedpool.proc.poll() is None, "wedpool exited"
    assert served(wedpool) is None
    with Wire(wedpool.port) as w:  # a new server connection to the (same) fake server
        w.login(database="fakedb")
        assert w.query("select 1").status == b"I"


def start_with_fake(wedpool, fake):
    wedpool.settings.update({"pg_stats_interval_s": 0, "max_pool_size": 2})
    wedpool.databases["fakedb"] = f"host=127.0.0.1 port={fake.port} dbname=fakedb"
    wedpool.start()


def test_hostile_server_short_ready_for_query_is_closed_and_client_told(wedpool, fake_server):
    fake = fake_server("short_z")
    start_with_fake(wedpool, fake)
    msgs, closed = hostile_query(wedpool)
    assert fake.hostile_sent.is_set()
    errs = errors_of(msgs)
    assert errs and errs[-1]["C"].startswith("08"), msgs
    assert b"Z" not in [t for t, _ in msgs], "a malformed ReadyForQuery reached the client"
    assert wait_for(lambda: re.search(r"protocol violation: ReadyForQuery of length 4", wedpool.log())), \
        wedpool.log()[-3000:]
    assert_still_serving(wedpool)


def test_hostile_server_parameter_flood_is_cut_off_with_bounded_memory(wedpool, fake_server):
    fake = fake_server("flood", count=20000)
    start_with_fake(wedpool, fake)
    with Wire(wedpool.port) as w:  # the pool and its first server exist before the baseline
        w.login(database="fakedb")
        w.query("select 1")
    before = rss_kb(wedpool.proc.pid)
    msgs, closed = hostile_query(wedpool)
    after = rss_kb(wedpool.proc.pid)
    assert fake.hostile_sent.is_set()
    growth_mb = (after - before) / 1024
    assert growth_mb < 8, f"wedpool's RSS grew by {growth_mb:.1f} MB"
    params = [t for t, _ in msgs if t == b"S"]
    assert len(params) < 1000, f"{len(params)} ParameterStatus messages reached the client"
    errs = errors_of(msgs)
    assert errs and errs[-1]["C"].startswith("08"), [t for t, _ in msgs][-5:]
    assert wait_for(lambda: re.search(r"protocol violation: .*parameters", wedpool.log())), wedpool.log()[-3000:]
    assert_still_serving(wedpool)
