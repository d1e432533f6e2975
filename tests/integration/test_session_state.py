"""Session state in transaction mode (issue #11): a client that creates state which outlives its
transaction (SET of a setting PostgreSQL does not report, SET ROLE, SQL PREPARE, LISTEN, temp
tables, WITH HOLD cursors, advisory locks, LOAD) is pinned to its server (pin_session_state=pin), or
refused with 0A000 (error), or - PgBouncer's behaviour - lets the state leak to the next client
(ignore). With max_pool_size=1 the next client necessarily gets the same server: while A is pinned
it waits (and gives up after acquire_timeout_ms, as documented), and once A is gone it gets A's
server - same backend pid - with nothing of A's session left."""
import time

import psycopg
import pytest

from helpers import wait_for

# (id, statement creating the state, query showing it, what that query says without the state)
STATES = [
    ("search_path", "set search_path = pinned_schema, public", "show search_path", '"$user", public'),
    ("statement_timeout", "set statement_timeout = 4321", "show statement_timeout", "0"),
    ("set_config", "select set_config('work_mem', '7MB', false)", "show work_mem", "4MB"),
    ("role", "set role reporting", "select current_user", "app"),
    ("session_authorization", "set session authorization reporting", "select session_user", "app"),
    ("prepare", "prepare pinned_stmt as select 42",
     "select count(*) from pg_prepared_statements where name = 'pinned_stmt'", "0"),
    ("listen", "listen pinned_channel", "select count(*) from pg_listening_channels()", "0"),
    ("temp_table", "create temp table pinned_tmp (a int)",
     "select count(*) from pg_class where relname = 'pinned_tmp' and relpersistence = 't'", "0"),
    ("temp_view", "create temporary view pinned_view as select 1 as a",
     "select count(*) from pg_class where relname = 'pinned_view' and relpersistence = 't'", "0"),
    ("temp_sequence", "create temp sequence pinned_seq",
     "select count(*) from pg_class where relname = 'pinned_seq' and relpersistence = 't'", "0"),
    ("hold_cursor", "declare pinned_cur cursor with hold for select 1",
     "select count(*) from pg_cursors where name = 'pinned_cur'", "0"),
    ("advisory_lock", "select pg_advisory_lock(424242)",
     "select count(*) from pg_locks where locktype = 'advisory' and objid = 424242 and pid = pg_backend_pid()", "0"),
    # PL/pgSQL is not parsed: a DO block whose body may create state pins conservatively (pin.c do_block)
    ("do_block_set_config", "do $$ begin perform set_config('work_mem', '7MB', false); end $$", "show work_mem", "4MB"),
    ("do_block_dynamic_set", "do $$ begin execute format('SET search_path = %I, public', 'pinned_schema'); end $$",
     "show search_path", '"$user", public'),
]


@pytest.fixture
def one_server(wedpool):
    wedpool.settings.update(max_pool_size=1, acquire_timeout_ms=1500, log_level="debug")
    return wedpool


def value(conn, sql):
    return str(conn.execute(sql).fetchone()[0])


def pid(conn):
    return conn.execute("select pg_backend_pid()").fetchone()[0]


def client_row(wedpool, app):
    """SHOW CLIENTS row of a client, by its application_name or (a connection) its id."""
    for r in wedpool.admin("SHOW CLIENTS"):
        if (r["application_name"] == app if isinstance(app, str) else r["id"] == str(app.info.backend_pid)):
            return r
    return None


@pytest.mark.parametrize("simple", [False, True], ids=["extended", "simple"])
@pytest.mark.parametrize("name,create,check,clean", STATES, ids=[s[0] for s in STATES])
def test_state_pins_and_never_leaks(one_server, name, create, check, clean, simple):
    w = one_server
    w.pg.sql("create schema if not exists pinned_schema", db="appdb")
    w.start()
    a = w.connect(application_name="client_a")
    a_pid = pid(a)
    if simple:
        res = a.pgconn.exec_(create.encode())  # PQexec: a simple Query message
        assert res.status in (psycopg.pq.ExecStatus.COMMAND_OK, psycopg.pq.ExecStatus.TUPLES_OK), \
            res.error_message
    else:
        a.execute(create)  # extended protocol: Parse/Bind/Execute
    # A keeps its state across transactions: the same server, pinned
    for _ in range(3):
        assert value(a, check) != clean
        assert pid(a) == a_pid
    a.execute("begin")
    assert value(a, check) != clean
    a.execute("commit")
    row = client_row(w, "client_a")
    assert row["pinned"] != "", row
    # B, same pool: the only server is A's; B waits and gives up after acquire_timeout_ms
    with w.connect(application_name="client_b") as b:
        with pytest.raises(psycopg.OperationalError) as ei:
            b.execute("select 1")
        assert "no server connection available" in str(ei.value)
    # A leaves: its server is reset before anyone else gets it
    a.close()
    with w.connect(application_name="client_c") as c:
        assert pid(c) == a_pid, "the next client did not get A's server"
        assert value(c, check) == clean, f"{name} leaked to the next client"
        assert value(c, "select current_user") == "app"
        assert c.execute("select count(*) from pg_locks where locktype = 'advisory'").fetchone()[0] == 0
    assert "pinned to its server by" in w.log()


def test_reported_settings_do_not_pin(one_server):
    """Settings PostgreSQL reports (application_name, TimeZone, DateStyle...) follow the client to
    any server already: no pin, and SET LOCAL never pins."""
    w = one_server
    w.start()
    with w.connect(application_name="nopin") as a:
        a.execute("set application_name = 'nopin2'")
        a.execute("set timezone = 'Asia/Tokyo'")
        a.execute("begin")
        a.execute("set local search_path = pg_catalog")
        a.execute("select set_config('work_mem', '9MB', true)")
        a.execute("commit")
        assert client_row(w, "nopin2")["pinned"] == ""
        # B gets the server between A's transactions and sees none of it
        with w.connect(application_name="other") as b:
            assert value(b, "show timezone") != "Asia/Tokyo"
            assert value(b, "show search_path") == '"$user", public'
            assert value(b, "show work_mem") == "4MB"
        assert value(a, "show timezone") == "Asia/Tokyo"


def test_release_unpins(one_server):
    """Releasing the state (RESET ALL, UNLISTEN *, DEALLOCATE ALL, DISCARD ALL, unlock) unpins."""
    w = one_server
    w.start()
    with w.connect(application_name="rel") as a:
        a.execute("set search_path = pg_catalog")
        a.execute("listen relchan")
        assert client_row(w, a)["pinned"] == "set,listen"
        a.execute("reset all")
        assert client_row(w, a)["pinned"] == "listen"
        a.execute("unlisten *")
        assert client_row(w, a)["pinned"] == ""
        a.execute("select pg_advisory_lock(77)")
        a.execute("prepare relp as select 1")
        a.execute("discard all")
        assert client_row(w, a)["pinned"] == ""
        # inside a transaction block a release may be rolled back: stay pinned
        a.execute("listen relchan")
        a.execute("begin")
        a.execute("unlisten *")
        a.execute("rollback")
        assert client_row(w, a)["pinned"] == "listen"
        assert value(a, "select count(*) from pg_listening_channels()") == "1"
        # unpinned, the server goes back to the pool between transactions: B gets it
        a.execute("unlisten *")
        with w.connect() as b:
            assert value(b, "select 1") == "1"


def test_pinned_gauge(one_server):
    w = one_server
    w.settings["http_listen"] = f"127.0.0.1:{w.http_port}"
    w.start()
    import urllib.request

    def gauge():
        text = urllib.request.urlopen(f"http://127.0.0.1:{w.http_port}/metrics", timeout=5).read().decode()
        for line in text.splitlines():
            if line.startswith('wedpool_pinned_clients{database="appdb",user="app"}'):
                return int(float(line.split()[-1]))
        return None
    with w.connect() as a:
        assert gauge() == 0
        a.execute("listen g")
        assert gauge() == 1
    assert wait_for(lambda: gauge() == 0)


def test_load_closes_server(one_server):
    """LOAD cannot be undone (not even by DISCARD ALL): the pinned server is closed, not reused."""
    w = one_server
    w.start()
    a = w.connect()
    a.execute("load 'auto_explain'")
    a_pid = pid(a)
    a.close()
    with w.connect() as b:
        assert pid(b) != a_pid


def test_large_suspicious_statement_pins(one_server):
    """A statement too large to hold (over 16 KB) whose start looks like session state is pinned
    without being parsed."""
    w = one_server
    w.start()
    with w.connect(application_name="big") as a:
        a.execute("set search_path = public, pg_catalog /*" + "x" * 20000 + "*/")
        assert client_row(w, "big")["pinned"] == "unknown"
        assert value(a, "show search_path") == "public, pg_catalog"


# ---------------------------------------------------------------- pin_session_state = error

def test_error_mode_refuses(one_server):
    w = one_server
    w.settings["pin_session_state"] = "error"
    w.start()
    with w.connect() as a:
        a_pid = pid(a)
        for sql in ("set search_path = pg_catalog", "listen x", "create temp table t (a int)",
                    "select pg_advisory_lock(1)", "prepare p as select 1", "set role reporting"):
            with pytest.raises(psycopg.errors.FeatureNotSupported) as ei:
                a.execute(sql)
            assert "pin_session_state" in str(ei.value)
            res = a.pgconn.exec_(sql.encode())  # simple Query
            assert res.error_field(psycopg.pq.DiagnosticField.SQLSTATE) == b"0A000"
            assert value(a, "select 1") == "1"
        # inside a transaction the refusal aborts it, as an error from PostgreSQL would
        a.execute("begin")
        with pytest.raises(psycopg.errors.FeatureNotSupported):
            a.execute("set search_path = pg_catalog")
        assert a.info.transaction_status == psycopg.pq.TransactionStatus.INERROR
        a.execute("rollback")
        # what is harmless still works
        a.execute("set application_name = 'fine'")
        assert value(a, "show search_path") == '"$user", public'
        assert pid(a) == a_pid
    with w.connect() as b:
        assert value(b, "show search_path") == '"$user", public'


def test_error_mode_pipeline(one_server):
    """Extended protocol: the refused Parse fails the batch up to Sync as PostgreSQL would; the
    statements before it in the pipeline answer normally."""
    w = one_server
    w.settings["pin_session_state"] = "error"
    w.start()
    from helpers import cstr, message
    import struct
    with w.wire() as c:
        c.login()

        def parse(sql):
            return message(b"P", cstr("") + cstr(sql) + struct.pack("!H", 0))
        bind = message(b"B", cstr("") + cstr("") + struct.pack("!HHH", 0, 0, 0))
        execute = message(b"E", cstr("") + struct.pack("!I", 0))
        c.send(parse("select 1") + bind + execute + parse("listen x") + bind + execute + message(b"S"))
        types, err = [], None
        while True:
            t, body = c.recv_msg()
            types.append(t)
            if t == b"E":
                from helpers import parse_fields
                err = parse_fields(body)
            if t == b"Z":
                assert body == b"I"
                break
        assert types == [b"1", b"2", b"D", b"C", b"E", b"Z"], types
        assert err["C"] == "0A000" and "LISTEN" in err["M"]
        r = c.query("select 2")
        assert r.rows == [("2",)] and r.error is None


# ---------------------------------------------------------------- pin_session_state = ignore

def test_ignore_mode_leaks(one_server):
    """ignore is PgBouncer's behaviour and unsafe: this test documents the leak."""
    w = one_server
    w.settings["pin_session_state"] = "ignore"
    w.start()
    with w.connect() as a:
        a.execute("set search_path = pg_catalog")
        with w.connect() as b:
            assert value(b, "show search_path") == "pg_catalog"  # A's setting, on B's session


# ---------------------------------------------------------------- LISTEN / NOTIFY

def test_listen_notify_transaction_mode(wedpool):
    w = wedpool
    w.settings.update(max_pool_size=2)
    w.start()
    got_a, got_c = [], []
    with w.connect() as a, w.connect() as b, w.connect() as c:
        a.add_notify_handler(lambda n: got_a.append((n.channel, n.payload)))
        c.add_notify_handler(lambda n: got_c.append((n.channel, n.payload)))
        a.execute("listen wedchan")
        c.execute("select 1")
        b.execute("notify wedchan, 'hello'")
        assert wait_for(lambda: a.execute("select 1") and got_a == [("wedchan", "hello")], timeout=5), got_a
        for _ in range(5):
            c.execute("select 1")
            b.execute("select 1")
        b.execute("select pg_notify('wedchan', 'again')")
        assert wait_for(lambda: a.execute("select 1") and len(got_a) == 2, timeout=5), got_a
        for _ in range(5):
            c.execute("select 1")
        assert got_c == []
        a.execute("unlisten *")
    # the listener is gone and its server reset: a notification now reaches nobody
    with w.connect() as d:
        got_d = []
        d.add_notify_handler(lambda n: got_d.append(n))
        d.execute("notify wedchan, 'nobody'")
        time.sleep(0.3)  # time for a stray delivery to show up (an absence to observe)
        for _ in range(3):
            d.execute("select 1")
        assert got_d == []
    assert "server sent" not in w.log() or "protocol violation" not in w.log()


# ---------------------------------------------------------------- through named prepared statements

def only_client_pinned(w):
    """SHOW CLIENTS `pinned` of the pool's only client (RESET ALL and DISCARD ALL reset
    application_name too, so it cannot be found by that)."""
    rows = [r for r in w.admin("SHOW CLIENTS") if r["user"] == "app"]
    assert len(rows) == 1, rows
    return rows[0]["pinned"]


def test_named_statements_pin_and_release(one_server):
    """State created by a named prepared statement pins at each Execute of it (not only at its
    Parse), and a releasing statement (UNLISTEN *, RESET ALL, DISCARD ALL) executed as a named
    prepared statement unpins as its simple-query form does."""
    from test_prepared import SYNC, bind, execute, parse, responses
    w = one_server
    w.start()
    a = w.wire()
    a.login()

    def pinned():
        return only_client_pinned(w)
    # LISTEN, released by a named UNLISTEN *
    assert a.query("LISTEN chan").error is None
    assert pinned() == "listen"
    a.send(parse("unl", "UNLISTEN *") + SYNC)
    assert responses(a, 1) == ["1", "ZI"]
    assert pinned() == "listen"  # prepared, not run yet
    a.send(bind("unl") + execute() + SYNC)
    assert responses(a, 1) == ["2", "C", "ZI"]
    assert pinned() == ""
    # a named SET pins; RESET ALL unpins; executing the SET again pins again
    a.send(parse("setp", "SET search_path = pinned_schema, public") + bind("setp") + execute() + SYNC)
    assert responses(a, 1) == ["1", "2", "C", "ZI"]
    assert pinned() == "set"
    a.send(parse("rst", "RESET ALL") + bind("rst") + execute() + SYNC)
    assert responses(a, 1) == ["1", "2", "C", "ZI"]
    assert pinned() == ""
    a.send(bind("setp") + execute() + SYNC)
    assert responses(a, 1) == ["2", "C", "ZI"]
    assert pinned() == "set"
    # inside a transaction block the release may be rolled back: still pinned
    assert a.query("BEGIN").error is None
    a.send(bind("rst") + execute() + SYNC)
    assert responses(a, 1) == ["2", "C", "ZT"]
    assert a.query("ROLLBACK").error is None
    assert pinned() == "set"
    assert a.query("SHOW search_path").rows == [("pinned_schema, public",)]
    # a named DISCARD ALL releases everything (and drops the client's statements, as on PostgreSQL)
    assert a.query("LISTEN chan").error is None
    a.send(parse("disc", "DISCARD ALL") + bind("disc") + execute() + SYNC)
    assert responses(a, 1) == ["1", "2", "C", "ZI"]
    assert pinned() == ""
    a.send(bind("setp") + execute() + SYNC)
    assert responses(a, 1) == ["E26000", "ZI"]
    # unpinned: B gets the (only) server between A's transactions, and it is clean
    with w.connect() as b:
        assert value(b, "show search_path") == '"$user", public'
        assert value(b, "select count(*) from pg_listening_channels()") == "0"
    a.close()


def test_do_block_without_session_state_does_not_pin(one_server):
    w = one_server
    w.pg.sql("create table if not exists do_t (a int primary key)", "grant all on do_t to app", db="appdb")
    w.start()
    with w.connect(application_name="do_plain") as a:
        a.execute("do $$ declare temp int := 1; begin insert into do_t values (temp) on conflict (a) "
                  "do update set a = excluded.a; update do_t set a = 1; "
                  "perform pg_advisory_xact_lock(5); end $$")
        assert client_row(w, "do_plain")["pinned"] == ""


def test_psycopg_prepare_threshold_0_releases_unpin(one_server):
    """psycopg 3 with prepare_threshold=0 sends every statement as a named prepared statement: its
    LISTEN pins, its UNLISTEN * and DISCARD ALL unpin, and statements prepared after the DISCARD ALL
    (which dropped wedpool's statements on the server too) work."""
    w = one_server
    w.start()
    with psycopg.connect(w.dsn(application_name="psy0"), autocommit=True, prepare_threshold=0) as a:
        a.execute("listen chan0")
        assert only_client_pinned(w) == "listen"
        a.execute("unlisten *")
        assert only_client_pinned(w) == ""
        a.execute("set search_path = pinned_schema, public")
        assert only_client_pinned(w) == "set"
        for _ in range(2):
            assert a.execute("select %s::int + 1", (1,)).fetchone() == (2,)
        a.execute("discard all")
        assert only_client_pinned(w) == ""
        # (psycopg itself does not forget its names on DISCARD ALL: new texts, new names)
        for i in range(3):
            assert a.execute("select %s::int + 2", (i,)).fetchone() == (i + 2,)
        # unpinned: another client gets the only server between a's transactions
        with w.connect() as b:
            assert value(b, "show search_path") == '"$user", public'
        assert a.execute("select %s::int + 2", (5,)).fetchone() == (7,)


def test_extra_float_digits_follows_the_client(one_server):
    """SET extra_float_digits (pgjdbc sends it after every login) is carried like a reported
    setting instead of pinning: the client keeps its value on any server, the next client on the
    server does not see it. Inside a transaction block, or RESET, it pins as before."""
    w = one_server
    w.start()
    with w.connect(application_name="efd") as a:
        a.execute("set extra_float_digits = 3")  # extended protocol: unnamed Parse, Bind, Execute
        assert client_row(w, "efd")["pinned"] == ""
        assert value(a, "show extra_float_digits") == "3"
        with w.connect() as b:  # the only server, between a's transactions
            assert value(b, "show extra_float_digits") == "1"
        assert value(a, "show extra_float_digits") == "3"
        assert a.pgconn.exec_(b"SET extra_float_digits TO '2'").status == psycopg.pq.ExecStatus.COMMAND_OK
        with w.connect() as b:
            assert value(b, "show extra_float_digits") == "1"
        assert value(a, "show extra_float_digits") == "2"
        assert client_row(w, "efd")["pinned"] == ""
        a.execute("begin")
        a.execute("set extra_float_digits = 3")
        a.execute("commit")
        assert client_row(w, "efd")["pinned"] == "set"
        assert value(a, "show extra_float_digits") == "3"
    for sql in ("reset extra_float_digits", "set extra_float_digits = -1"):  # (libpg_query hides negatives)
        with w.connect(application_name="efd2") as a:
            a.execute(sql)
            assert client_row(w, "efd2")["pinned"] == "set"
