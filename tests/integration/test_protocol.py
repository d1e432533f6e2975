"""The wire protocol through the pooler: extended protocol, pipelining (libpq's and raw messages
sent back to back), COPY in both directions, large messages, NOTICE, ParameterStatus and errors
passed through, SSL/GSS requests declined."""
import socket
import struct
import time

import psycopg
import pytest

from helpers import GSSENC_REQUEST, SSL_REQUEST, cstr, message, startup_packet, wait_for


def test_extended_protocol_with_parameters(wedpool):
    wedpool.settings["max_pool_size"] = 2
    wedpool.start()
    conns = [wedpool.connect() for _ in range(4)]
    for i in range(10):
        for j, c in enumerate(conns):
            row = c.execute("select %s::int + %s::int, %s::text, %s::int[]", (i, j, "x" * i, [i, j])).fetchone()
            assert row == (i + j, "x" * i, [i, j])
    cur = conns[0].cursor(binary=True)
    assert cur.execute("select %s::bigint, %s::bytea", (2 ** 40, b"\0\1\2")).fetchone() == (2 ** 40, b"\0\1\2")
    for c in conns:
        c.close()


def test_named_prepared_statement_inside_a_transaction(wedpool):
    """A named statement prepared and executed within one transaction stays on its server."""
    wedpool.settings["max_pool_size"] = 2
    wedpool.start()
    with wedpool.connect() as other, wedpool.connect() as c:
        with c.transaction():
            for i in range(5):
                assert c.execute("select %s::int * 2", (i,), prepare=True).fetchone()[0] == i * 2
                other.execute("select 1")
        c.execute("deallocate all")


def test_describe_and_portal_fetch(wedpool):
    """Describe (the row description before any row) and a named cursor's portal fetched in
    batches inside a transaction."""
    wedpool.start()
    with wedpool.connect(autocommit=False) as c:
        cur = c.cursor(name="big")
        cur.itersize = 100
        cur.execute("select g, md5(g::text) from generate_series(1, 1000) g")
        rows = list(cur)
        assert len(rows) == 1000 and rows[-1][0] == 1000
        assert [d.name for d in cur.description] == ["g", "md5"]
        c.commit()


def test_pipelining(wedpool):
    wedpool.settings["max_pool_size"] = 1
    wedpool.start()
    with wedpool.connect() as c:
        with c.pipeline():
            curs = [c.execute("select %s::int", (i,)) for i in range(50)]
        assert [cur.fetchone()[0] for cur in curs] == list(range(50))
    with wedpool.connect() as d:  # the one server came back clean
        assert d.execute("select 1").fetchone()[0] == 1
        assert d.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_pipeline_with_an_error_in_the_middle(wedpool):
    wedpool.settings["max_pool_size"] = 1
    wedpool.start()
    with wedpool.connect() as c:
        with pytest.raises(psycopg.errors.DivisionByZero):
            with c.pipeline() as p:
                c.execute("select 1")
                c.execute("select 1/0")
                c.execute("select 2")
                p.sync()
        assert c.execute("select 3").fetchone()[0] == 3
    with wedpool.connect() as d:
        assert d.execute("select 4").fetchone()[0] == 4
        assert d.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_raw_messages_sent_back_to_back(wedpool):
    """Several complete transactions in one TCP segment: simple queries, then an extended-protocol
    batch with two Syncs. Each gets its own complete answer, in order."""
    wedpool.settings["max_pool_size"] = 1
    wedpool.start()
    with wedpool.wire() as w:
        w.login()
        w.send(b"".join(message(b"Q", cstr(f"select {i}")) for i in range(20)))
        for i in range(20):
            r = w.read_result()
            assert r.rows == [(str(i),)] and r.status == b"I"
        batch = b""
        for i in range(2):
            batch += message(b"P", cstr("") + cstr(f"select {i} + $1::int") + struct.pack("!H", 0))
            batch += message(b"B", cstr("") + cstr("") + struct.pack("!HH", 0, 1) + struct.pack("!i", 1) + b"5"
                             + struct.pack("!H", 0))
            batch += message(b"E", cstr("") + struct.pack("!I", 0))
            batch += message(b"S")
        w.send(batch)
        for i in range(2):
            r = w.read_result()
            assert r.error is None and r.rows == [(str(i + 5),)] and r.status == b"I"
        # a message split across many small writes
        q = message(b"Q", cstr("select 'split'"))
        for k in range(len(q)):
            w.send(q[k:k + 1])
        assert w.read_result().rows == [("split",)]


def test_copy_in_and_out(wedpool):
    wedpool.start()
    with wedpool.connect() as c:
        c.execute("drop table if exists copytest")
        c.execute("create table copytest(a int, b text)")
        with c.cursor().copy("copy copytest from stdin") as cp:
            for i in range(20000):
                cp.write_row((i, f"row {i} " + "y" * 50))
        assert c.execute("select count(*), sum(a) from copytest").fetchone() == (20000, sum(range(20000)))
        out = []
        with c.cursor().copy("copy copytest to stdout") as cp:
            for row in cp.rows():
                out.append(row)
        assert len(out) == 20000 and out[-1][0] == "19999"
        c.execute("drop table copytest")


def test_large_copy_out_and_large_messages(wedpool):
    """About 10 MB out in one COPY and a 1 MB query text in: far larger than any socket buffer, so
    both directions go through the pooler's backpressure."""
    wedpool.settings["max_pool_size"] = 1
    wedpool.start()
    with wedpool.connect() as c:
        total = 0
        with c.cursor().copy("copy (select repeat('x', 1000) from generate_series(1, 10000)) to stdout") as cp:
            for block in cp:
                total += len(block)
        assert total == 10000 * 1001
        big = "z" * (1 << 20)
        assert c.execute(f"select length('{big}')").fetchone()[0] == 1 << 20
        assert c.execute("select length(%s)", (big,)).fetchone()[0] == 1 << 20
        assert c.execute("select length(repeat('q', 5000000))").fetchone()[0] == 5000000
        row = c.execute("select repeat('r', 3000000)").fetchone()[0]
        assert len(row) == 3000000


def test_copy_in_failure_leaves_the_server_usable(wedpool):
    wedpool.settings["max_pool_size"] = 1
    wedpool.start()
    with wedpool.connect() as c:
        c.execute("drop table if exists copyfail")
        c.execute("create table copyfail(a int)")
        # the client aborts the COPY (CopyFail)
        with pytest.raises(psycopg.errors.QueryCanceled):
            with c.cursor().copy("copy copyfail from stdin") as cp:
                cp.write_row((1,))
                raise psycopg.errors.QueryCanceled("client gave up")
        # the server rejects the data
        with pytest.raises(psycopg.errors.InvalidTextRepresentation):
            with c.cursor().copy("copy copyfail from stdin") as cp:
                cp.write(b"1\nnot-a-number\n")
        assert c.execute("select count(*) from copyfail").fetchone()[0] == 0
    with wedpool.connect() as d:
        assert d.execute("select 1").fetchone()[0] == 1
        assert d.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        d.execute("drop table copyfail")


def test_errors_notices_and_parameter_status_pass_through(wedpool):
    wedpool.start()
    with wedpool.connect() as c:
        notices = []
        c.add_notice_handler(lambda d: notices.append((d.severity_nonlocalized, d.message_primary)))
        c.execute("do $$ begin raise notice 'hello from the server'; raise warning 'careful'; end $$")
        assert notices == [("NOTICE", "hello from the server"), ("WARNING", "careful")]
        with pytest.raises(psycopg.errors.DivisionByZero) as e:
            c.execute("select 1/0")
        assert e.value.diag.message_primary == "division by zero"
        with pytest.raises(psycopg.errors.UndefinedTable) as e:
            c.execute("select * from no_such_table")
        assert e.value.sqlstate == "42P01" and e.value.diag.severity == "ERROR"
        with pytest.raises(psycopg.errors.RaiseException) as e:
            c.execute("do $$ begin raise exception 'custom' using detail = 'the detail', hint = 'the hint'; end $$")
        assert e.value.diag.message_detail == "the detail" and e.value.diag.message_hint == "the hint"
        c.execute("set datestyle = 'SQL, DMY'")
        assert c.info.parameter_status("DateStyle") == "SQL, DMY"
        c.execute("set application_name = 'renamed'")
        assert c.info.parameter_status("application_name") == "renamed"
        assert c.execute("select 1").fetchone()[0] == 1


def test_login_reports_server_parameters(wedpool):
    wedpool.start()
    with wedpool.wire() as w:
        w.login(params={"application_name": "wiretest"})
        for name in ("server_version", "server_encoding", "client_encoding", "DateStyle", "TimeZone",
                     "integer_datetimes", "standard_conforming_strings"):
            assert name in w.params, name
        assert w.params["server_version"].startswith("15")
        assert w.params["application_name"] == "wiretest"
        assert w.key is not None


def test_ssl_and_gss_requests_are_declined(wedpool):
    wedpool.start()
    s = socket.create_connection(("127.0.0.1", wedpool.port), timeout=3)
    s.sendall(struct.pack("!II", 8, SSL_REQUEST))
    assert s.recv(1) == b"N"
    s.sendall(struct.pack("!II", 8, GSSENC_REQUEST))
    assert s.recv(1) == b"N"
    s.sendall(startup_packet({"user": "app", "database": "appdb"}))
    assert s.recv(1) == b"R"
    s.close()
    # libpq's sslmode=prefer (its default) falls back to plain; require fails cleanly
    with wedpool.connect(sslmode="prefer") as c:
        assert c.execute("select 1").fetchone()[0] == 1
    with pytest.raises(psycopg.OperationalError):
        wedpool.connect(sslmode="require")


def test_terminate_releases_the_client(wedpool):
    wedpool.start()
    with wedpool.wire() as w:
        w.login()
        w.query("select 1")
        w.send_msg(b"X")
        assert w.is_closed()
    assert wait_for(lambda: wedpool.pool()["cl_active"] == 0)


def test_large_messages_stream_both_ways(wedpool):
    """Messages far bigger than wedpool's 16 KiB buffers pass through intact, in both directions,
    while other clients keep being served."""
    wedpool.settings["max_pool_size"] = 2
    wedpool.start()
    with wedpool.connect() as c, wedpool.connect() as other:
        big = "w" * 3_000_000
        assert c.execute("select length(%s::text)", (big,)).fetchone()[0] == 3_000_000
        assert c.execute(f"select length('{big[:200000]}')").fetchone()[0] == 200000
        cur = c.execute("select i, repeat('x', 1000) from generate_series(1, 40000) i")
        n = 0
        for i, s in cur:
            n += 1
            assert len(s) == 1000
        assert n == 40000
        assert other.execute("select 1").fetchone()[0] == 1


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def test_slow_reader_pauses_its_server(wedpool):
    """Backpressure: a client that does not read its 40 MB result makes wedpool stop reading that
    server, so PostgreSQL waits to write (wait_event ClientWrite) and wedpool's memory stays
    bounded; other clients are served meanwhile, and the reader gets every row once it reads."""
    wedpool.settings["max_pool_size"] = 2
    wedpool.settings["auth_type"] = "trust"
    wedpool.start()
    sql = "select repeat('x', 1000) from generate_series(1, 40000) as slow_reader"
    with wedpool.wire(timeout=20) as w:
        # small, so the kernel's buffers hold far less than the result, but not below the loopback
        # MSS (64 KiB), where TCP itself crawls at a few KiB/s and reading the result back would not end
        w.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
        w.login()
        w.query("select 1")
        base = rss_kib(wedpool.proc.pid)
        w.send_msg(b"Q", cstr(sql))

        def backend_wait_event():
            rows = wedpool.pg.sql("select wait_event from pg_stat_activity where query like '%as slow_reader' "
                                  "and pid <> pg_backend_pid()")
            return rows[0][0] if rows else None
        assert wait_for(lambda: backend_wait_event() == "ClientWrite", timeout=10), backend_wait_event()
        peak = rss_kib(wedpool.proc.pid)
        with wedpool.connect() as c:
            for _ in range(20):
                assert c.execute("select 1").fetchone()[0] == 1
        deadline = time.time() + 1.0  # the client keeps not reading for a second
        while time.time() < deadline:
            peak = max(peak, rss_kib(wedpool.proc.pid))
            time.sleep(0.05)
        assert backend_wait_event() == "ClientWrite"
        # 40 MB is waiting to be read; wedpool may hold a few buffers of it, not the result
        assert peak - base < 8 * 1024, f"RSS grew from {base} KiB to {peak} KiB"
        r = w.read_result()
        assert len(r.rows) == 40000 and r.rows[-1] == ("x" * 1000,) and r.status == b"I"
