"""Protocol-level named prepared statements in transaction mode (issue #11): real drivers (pgbench
-M prepared/extended, psycopg 3 with prepare_threshold=0, asyncpg's statement cache) from many
clients over few servers, eviction under max_prepared_statements=2, errors in the middle of a
pipeline answered exactly as PostgreSQL answers them, and one client's statement names out of
another's reach."""
import asyncio
import re
import struct
import threading

import psycopg
import pytest

from helpers import PASSWORDS, Wire, cstr, wait_for

from test_pgbench import BackendPeak, check_pool_after, pgbench  # noqa: E402  (shared pgbench runner)


def metrics(w):
    """wedpool_prepared_statements_* counters from SHOW STATS-free source: the admin console."""
    rows = w.admin("SHOW PREPARED")
    return {r["name"]: int(r["value"]) for r in rows}


def pconnect(w, **kw):
    return psycopg.connect(w.dsn(**kw), autocommit=True, prepare_threshold=0)


# ---------------------------------------------------------------------------------------------- pgbench


@pytest.mark.time_limit(90)
@pytest.mark.parametrize("mode", ["prepared", "extended"])
def test_pgbench_50_clients_over_20_servers(wedpool, mode):
    # One pgbench thread per client: PostgreSQL 15's pgbench prepares each command with a blocking
    # PQprepare the first time it runs it, inside the transaction, which stalls every other client of
    # that thread; with more clients per thread than servers, clients holding a server in BEGIN wait
    # for a thread stuck on a client waiting for a server (any transaction pooler deadlocks there).
    wedpool.start()
    peak = BackendPeak(wedpool.pg)
    n = pgbench(wedpool, "-M", mode, "-c", "50", "-j", "50", "-T", "5")
    check_pool_after(wedpool, peak.stop())
    assert n > 200
    if mode == "prepared":
        m = metrics(wedpool)
        assert m["client_parses"] >= 50
        assert 0 < m["server_parses"] <= m["client_parses"] + 20 * 7


@pytest.mark.time_limit(90)
def test_pgbench_prepared_select_only(wedpool):
    wedpool.start()
    n = pgbench(wedpool, "-S", "-M", "prepared", "-c", "50", "-j", "50", "-T", "3")
    assert n > 1000


# ---------------------------------------------------------------------------------------------- drivers


@pytest.mark.time_limit(60)
def test_psycopg_prepare_threshold_0_many_clients_few_servers(wedpool):
    wedpool.settings["max_pool_size"] = 3
    wedpool.start()
    errors = []

    def worker(k):
        try:
            with pconnect(wedpool) as c:
                for i in range(40):
                    r = c.execute("SELECT %s::int + %s::int, 'w'", (k, i)).fetchone()
                    assert r == (k + i, "w"), r
                    r = c.execute("SELECT count(*) FROM pgbench_branches WHERE bid > %s", (i % 2,)).fetchone()
                    assert r[0] >= 0
                    with c.transaction():
                        c.execute("SELECT abalance FROM pgbench_accounts WHERE aid = %s", (k + 1,)).fetchone()
                        c.execute("SELECT %s::text", (str(i),)).fetchone()
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(12)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(50)
    assert errors == []
    m = metrics(wedpool)
    assert m["hits"] > 0
    rows = wedpool.admin("SHOW SERVERS")
    assert all("prepared" in r for r in rows)


@pytest.mark.time_limit(60)
def test_asyncpg_statement_cache(wedpool):
    asyncpg = pytest.importorskip("asyncpg")
    wedpool.settings["max_pool_size"] = 2
    wedpool.start()

    async def client(k):
        conn = await asyncpg.connect(host="127.0.0.1", port=wedpool.port, user="app", password=PASSWORDS["app"],
                                     database="appdb", statement_cache_size=100)
        try:
            for i in range(30):
                assert await conn.fetchval("SELECT $1::int * 2", i) == i * 2
                row = await conn.fetchrow("SELECT bid, $1::text AS t FROM pgbench_branches WHERE bid = $2", "x", 1)
                assert row["t"] == "x"
                async with conn.transaction():
                    assert await conn.fetchval("SELECT $1::int + $2::int", k, i) == k + i
        finally:
            await conn.close()

    async def main():
        await asyncio.gather(*(client(k) for k in range(8)))

    asyncio.run(main())


@pytest.mark.time_limit(60)
def test_eviction_under_max_prepared_statements_2(wedpool):
    wedpool.settings["max_pool_size"] = 1
    wedpool.settings["max_prepared_statements"] = 2
    wedpool.start()
    with pconnect(wedpool) as a, pconnect(wedpool) as b:
        for i in range(5):
            for c in (a, b):
                for k in range(5):
                    sql = f"SELECT %s::int + {k}"
                    assert c.execute(sql, (i,)).fetchone()[0] == i + k
    m = metrics(wedpool)
    assert m["evictions"] > 0
    assert all(int(r["prepared"]) <= 2 for r in wedpool.admin("SHOW SERVERS"))
    names = wedpool.pg.sql("SELECT 1")  # the cluster is alive
    assert names == [(1,)]


# ---------------------------------------------------------------------------------------------- the wire


def parse(name, sql, types=()):
    return b"P" + struct.pack("!I", 4 + len(cstr(name)) + len(cstr(sql)) + 2 + 4 * len(types)) + cstr(name) + \
        cstr(sql) + struct.pack("!H", len(types)) + b"".join(struct.pack("!I", t) for t in types)


def msg(t, body=b""):
    return t + struct.pack("!I", 4 + len(body)) + body


def bind(stmt, *params, portal=""):
    body = cstr(portal) + cstr(stmt) + struct.pack("!H", 0) + struct.pack("!H", len(params))
    for p in params:
        if p is None:
            body += struct.pack("!i", -1)
        else:
            body += struct.pack("!I", len(p)) + p.encode()
    body += struct.pack("!H", 0)
    return msg(b"B", body)


def execute(portal=""):
    return msg(b"E", cstr(portal) + struct.pack("!I", 0))


def describe(kind, name):
    return msg(b"D", kind + cstr(name))


def close(kind, name):
    return msg(b"C", kind + cstr(name))


SYNC = msg(b"S")


def responses(w, n_sync):
    """Message types (and SQLSTATEs of errors, data of rows) up to the n-th ReadyForQuery."""
    out = []
    while n_sync:
        t, body = w.recv_msg()
        if t == b"E":
            state = re.search(rb"C([0-9A-Z]{5})\0", body).group(1).decode()
            out.append("E" + state)
        elif t == b"D":
            out.append("D" + repr(body[6:]))
        elif t == b"Z":
            out.append("Z" + body.decode())
            n_sync -= 1
        elif t in (b"N", b"S"):
            continue
        else:
            out.append(t.decode())
    return out


def direct_wire(pg):
    w = Wire(pg.port)
    return w.login()


PIPELINE = [
    # batch 1: an error in the middle; everything after it up to Sync is skipped
    parse("s1", "SELECT 10 / $1::int") + bind("s1", "2") + execute() +
    parse("s2", "SELECT 'two'") + bind("s1", "0") + execute() +
    parse("s3", "SELECT 'three'") + bind("s2") + execute() + SYNC,
    # batch 2: s3 was skipped (does not exist), s1 and s2 exist
    bind("s1", "5") + execute() + bind("s2") + execute() + bind("s3") + execute() + SYNC,
    # batch 3: Parse s3 for real, Parse of a name in use (42P05), Describe, Close, re-Parse
    parse("s3", "SELECT 'two'") + describe(b"S", "s2") + bind("s2") + execute() + SYNC +
    parse("s1", "SELECT 1") + SYNC +
    close(b"S", "s1") + close(b"S", "nope") + parse("s1", "SELECT 'one again'") + bind("s1") + execute() + SYNC +
    describe(b"S", "s3") + SYNC,
    # batch 4: an error before a Parse of a statement the server already has: its ParseComplete
    # must not appear; then the same after Sync
    bind("s1") + execute() + parse("bad", "SELEC 1") + parse("s4", "SELECT 'two'") + bind("s4") + execute() +
    SYNC + parse("s4", "SELECT 'two'") + bind("s4") + execute() + SYNC,
]
PIPELINE_SYNCS = [1, 1, 4, 2]


def run_pipeline(w):
    out = []
    for data, n in zip(PIPELINE, PIPELINE_SYNCS):
        w.send(data)
        out.append(responses(w, n))
    return out


@pytest.mark.time_limit(60)
def test_pipeline_errors_give_postgresql_s_response_stream(wedpool):
    wedpool.settings["max_pool_size"] = 1
    wedpool.start()
    with direct_wire(wedpool.pg) as d:
        expected = run_pipeline(d)
    assert "E22012" in expected[0] and "E26000" in expected[1] and "E42P05" in expected[2]
    # twice through wedpool: the second client finds every statement already on the server
    for _ in range(2):
        w = wedpool.wire()
        w.login()
        got = run_pipeline(w)
        w.close()
        assert got == expected


@pytest.mark.time_limit(60)
def test_statement_of_client_a_is_not_usable_by_client_b(wedpool):
    wedpool.settings["max_pool_size"] = 1
    wedpool.start()
    a = wedpool.wire()
    a.login()
    a.send(parse("secret", "SELECT 'a''s secret'") + SYNC)
    assert responses(a, 1) == ["1", "ZI"]
    # the server-side name A's statement got
    srv = wedpool.pg.sql("SELECT name FROM pg_prepared_statements", db="postgres")
    assert srv is not None
    b = wedpool.wire()
    b.login()
    b.send(bind("secret") + execute() + SYNC)
    assert responses(b, 1) == ["E26000", "ZI"]
    names = [r[0] for r in b.query("SELECT name FROM pg_prepared_statements").rows]
    assert names and all(n.startswith("wp_") for n in names)
    for n in names:
        b.send(bind(n) + execute() + SYNC)
        assert responses(b, 1) == ["E26000", "ZI"]
        b.send(describe(b"S", n) + SYNC)
        assert responses(b, 1) == ["E26000", "ZI"]
        assert_reserved_refused(b, n)
    # A still has it, and the server still has it
    a.send(bind("secret") + execute() + SYNC)
    assert responses(a, 1) == ["2", "D" + repr(b"a's secret"), "C", "ZI"]
    a.close()
    b.close()


def assert_reserved_refused(w, n):
    """Every SQL way of reaching the server-side statement n is refused with 42501, naming why."""
    for sql in (f"EXECUTE {n}", f"execute {n.upper()}", f'EXPLAIN EXECUTE "{n}"', f"DEALLOCATE {n}",
                f'deallocate prepare "{n}"', f"PREPARE {n} AS SELECT 'b''s own'", f"CREATE TEMP TABLE t AS EXECUTE {n}",
                f"SELECT 1; EXECUTE {n}"):
        r = w.query(sql)
        assert r.error is not None and r.error.sqlstate == "42501", (sql, r.error and r.error.message)
        assert "reserved" in r.error.message
        assert r.rows == [] and r.status == b"I"
    # through the extended protocol too, as the text of a Parse (named or not)
    for name in ("", "mine"):
        w.send(parse(name, f"EXECUTE {n}") + bind(name) + execute() + SYNC)
        assert responses(w, 1) == ["E42501", "ZI"]


@pytest.mark.time_limit(60)
@pytest.mark.parametrize("pin_mode", ["pin", "ignore"])
def test_sql_cannot_reach_another_client_s_statement(wedpool, pin_mode):
    """B cannot EXECUTE (or DEALLOCATE, or replace) through SQL the statement wedpool prepared on
    the shared server for A's protocol-level Parse, whatever pin_session_state says."""
    wedpool.settings.update(max_pool_size=1, pin_session_state=pin_mode)
    wedpool.start()
    a = wedpool.wire()
    a.login()
    a.send(parse("secret", "SELECT 'a''s secret'") + SYNC)
    assert responses(a, 1) == ["1", "ZI"]
    b = wedpool.wire()
    b.login()
    names = [r[0] for r in b.query("SELECT name FROM pg_prepared_statements").rows]
    assert len(names) == 1 and names[0].startswith("wp_")
    assert_reserved_refused(b, names[0])
    # nothing of it ran, nothing was deallocated: A's statement is intact on the server
    assert [r[0] for r in b.query("SELECT name FROM pg_prepared_statements").rows] == names
    a.send(bind("secret") + execute() + SYNC)
    assert responses(a, 1) == ["2", "D" + repr(b"a's secret"), "C", "ZI"]
    # an ordinary SQL PREPARE/EXECUTE of the client's own names is untouched (and pins it)
    if pin_mode == "ignore":
        r = b.query("PREPARE mine AS SELECT 5; EXECUTE mine; DEALLOCATE mine")
        assert r.error is None and r.rows == [("5",)]
    a.close()
    b.close()
    assert "refused SQL use of a reserved prepared-statement name" in wedpool.log()


@pytest.mark.time_limit(60)
def test_discard_and_deallocate_all_as_prepared_statements(wedpool):
    """DISCARD ALL or DEALLOCATE ALL sent as a prepared statement (named, or unnamed as psycopg and
    JDBC send any query) drops every prepared statement of the server's session, wedpool's
    included: wedpool forgets them too, so the next use of any of them prepares it again."""
    wedpool.settings["max_pool_size"] = 1
    wedpool.start()
    w = wedpool.wire()
    w.login()
    other = wedpool.wire()
    other.login()
    for name, text in (("d", "DISCARD ALL"), ("", "DISCARD ALL"), ("dd", "DEALLOCATE ALL"), ("", "deallocate prepare all")):
        w.send(parse("x", "SELECT 7") + SYNC)
        assert responses(w, 1) == ["1", "ZI"]
        w.send(parse(name, text) + bind(name) + execute() + SYNC)
        assert responses(w, 1) == ["1", "2", "C", "ZI"], (name, text)
        # gone on the server, for this client as on PostgreSQL
        w.send(bind("x") + execute() + SYNC)
        assert responses(w, 1) == ["E26000", "ZI"]
        assert w.query("SELECT count(*) FROM pg_prepared_statements").rows == [("0",)]
        # the same text prepared again, by this client or another, is prepared on the server again
        other.send(parse("y", "SELECT 7") + bind("y") + execute() + SYNC)
        assert responses(other, 1) == ["1", "2", "D" + repr(b"7"), "C", "ZI"]
        other.send(close(b"S", "y") + SYNC)
        assert responses(other, 1) == ["3", "ZI"]
    w.close()
    other.close()


@pytest.mark.time_limit(60)
@pytest.mark.parametrize("pin_mode", ["pin", "ignore"])
def test_deallocate_all_inside_a_multi_statement_query(wedpool, pin_mode):
    """DEALLOCATE ALL after other statements in one simple query drops wedpool's statements on the
    server too: wedpool forgets them, and another client's statement is prepared there again."""
    wedpool.settings.update(max_pool_size=1, pin_session_state=pin_mode)
    wedpool.start()
    a, b = wedpool.wire(), wedpool.wire()
    a.login()
    b.login()
    b.send(parse("bs", "SELECT 'b'") + SYNC)
    assert responses(b, 1) == ["1", "ZI"]
    r = a.query("SELECT 1; DEALLOCATE ALL")
    assert r.error is None and r.tags == ["SELECT 1", "DEALLOCATE ALL"]
    assert a.query("SELECT count(*) FROM pg_prepared_statements").rows == [("0",)]
    b.send(bind("bs") + execute() + SYNC)
    assert responses(b, 1) == ["2", "D" + repr(b"b"), "C", "ZI"]
    a.close()
    b.close()


@pytest.mark.time_limit(60)
def test_deallocate_and_discard_all_reset_the_client_s_names(wedpool):
    wedpool.settings["max_pool_size"] = 1
    wedpool.start()
    w = wedpool.wire()
    w.login()
    w.send(parse("x", "SELECT 1") + parse("y", "SELECT 2") + SYNC)
    assert responses(w, 1) == ["1", "1", "ZI"]
    r = w.query("DEALLOCATE x")
    assert r.error is None and r.tags == ["DEALLOCATE"]
    w.send(bind("x") + execute() + SYNC)
    assert responses(w, 1) == ["E26000", "ZI"]
    w.send(bind("y") + execute() + SYNC)
    assert responses(w, 1)[:2] == ["2", "D" + repr(b"2")]
    r = w.query("DEALLOCATE ALL")
    assert r.error is None and r.tags == ["DEALLOCATE ALL"]
    w.send(bind("y") + execute() + SYNC)
    assert responses(w, 1) == ["E26000", "ZI"]
    w.send(parse("x", "SELECT 1") + SYNC)
    assert responses(w, 1) == ["1", "ZI"]
    r = w.query("DISCARD ALL")
    assert r.error is None
    w.send(parse("x", "SELECT 3") + bind("x") + execute() + SYNC)
    assert responses(w, 1) == ["1", "2", "D" + repr(b"3"), "C", "ZI"]
    w.close()


@pytest.mark.time_limit(60)
def test_large_bind_streams_through_with_its_name_rewritten(wedpool):
    wedpool.settings["max_pool_size"] = 1
    wedpool.start()
    w = wedpool.wire(timeout=10)
    w.login()
    big = "x" * 300000
    w.send(parse("len", "SELECT length($1::text)") + bind("len", big) + execute() + SYNC)
    assert responses(w, 1) == ["1", "2", "D" + repr(b"300000"), "C", "ZI"]
    w.close()


@pytest.mark.time_limit(60)
def test_session_mode_passes_names_through(wedpool):
    wedpool.settings["pool_mode"] = "session"
    wedpool.start()
    w = wedpool.wire()
    w.login()
    w.send(parse("plain", "SELECT 1") + SYNC)
    assert responses(w, 1) == ["1", "ZI"]
    names = [r[0] for r in w.query("SELECT name FROM pg_prepared_statements").rows]
    assert names == ["plain"]
    w.close()
