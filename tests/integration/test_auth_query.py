"""auth_query (issue #10): users not in auth_file are looked up in PostgreSQL as auth_user, without
blocking the loop, cached for auth_query_cache_s (found and not found), one lookup shared by
concurrent logins; the secret found verifies the client and, through SCRAM pass-through, logs
wedpool in to the server. A failed lookup is 08006, an unknown user 28P01, never a hang."""
import socket
import threading
import time
import urllib.request

import pytest

from helpers import wait_for, WireError, free_port, spawn, startup_packet

USER, PASSWORD = "aquser", "aq-pass-1"


def ensure_role(pg, name, password):
    exists = pg.sql(f"select count(*) from pg_roles where rolname = '{name}'")[0][0]
    verb = "ALTER" if exists else "CREATE"
    pg.sql("SET password_encryption = 'scram-sha-256'", f"{verb} ROLE {name} LOGIN PASSWORD '{password}'")


@pytest.fixture
def aq(wedpool, pg):
    """auth_query as app (plain password in auth_file); aquser exists only in PostgreSQL."""
    ensure_role(pg, USER, PASSWORD)
    assert USER not in wedpool.users
    wedpool.settings["auth_user"] = "app"
    wedpool.settings["http_listen"] = f"127.0.0.1:{wedpool.http_port}"
    return wedpool


def lookups(wedpool):
    """wedpool_auth_query_lookups_total, summed over results."""
    with urllib.request.urlopen(f"http://127.0.0.1:{wedpool.http_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith("wedpool_auth_query_lookups_total{"))


def test_user_only_in_postgres_logs_in(aq, pg):
    aq.start()
    with aq.connect(user=USER, password=PASSWORD) as c:
        assert c.execute("select current_user, current_database()").fetchone() == (USER, "appdb")
    with aq.wire() as w:  # checks wedpool's server signature too: it knows the real secret
        w.login(USER, "appdb", PASSWORD)
        assert w.query("select current_user").rows == [(USER,)]
    assert f'auth_query: user "{USER}" found' in aq.log()


def test_wrong_password_is_28P01(aq):
    aq.start()
    with aq.wire() as w, pytest.raises(WireError) as e:
        w.login(USER, "appdb", "wrong")
    assert e.value.sqlstate == "28P01"


def test_unknown_user_is_28P01(aq):
    aq.start()
    with aq.wire() as w, pytest.raises(WireError) as e:
        w.login("nobody_here", "appdb", "x")
    assert e.value.sqlstate == "28P01"
    assert 'auth_query: user "nobody_here" not found' in aq.log()


def test_answers_are_cached(aq):
    aq.start()
    for _ in range(3):
        with aq.connect(user=USER, password=PASSWORD) as c:
            c.execute("select 1")
    for _ in range(2):
        with aq.wire() as w, pytest.raises(WireError):
            w.login("nobody_here", "appdb", "x")
    assert lookups(aq) == 2  # one found, one not found
    assert aq.log().count(f'auth_query: user "{USER}" found') == 1


def test_cache_expires(aq):
    aq.settings["auth_query_cache_s"] = 1
    aq.start()
    with aq.connect(user=USER, password=PASSWORD) as c:
        c.execute("select 1")
    time.sleep(1.3)  # past auth_query_cache_s: the cached answer expires
    with aq.connect(user=USER, password=PASSWORD) as c:
        c.execute("select 1")
    assert lookups(aq) == 2


def test_concurrent_logins_share_one_lookup(aq):
    aq.settings["auth_query"] = "SELECT usename, passwd FROM pg_shadow, pg_sleep(0.5) WHERE usename=$1"
    aq.settings["auth_query_cache_s"] = 0  # nothing cached: only the sharing saves lookups
    aq.start()

    def one():
        with aq.connect(user=USER, password=PASSWORD) as c:
            return c.execute("select current_user").fetchone()[0]
    threads = [spawn(one) for _ in range(5)]
    for t in threads:
        t.join(20)
        assert t.error is None and t.result == USER
    assert lookups(aq) < 5


def test_security_definer_function(aq, pg):
    pg.sql("CREATE OR REPLACE FUNCTION public.wp_lookup(u text, OUT usename name, OUT passwd text) "
           "RETURNS record LANGUAGE sql SECURITY DEFINER AS "
           "$$ SELECT usename, passwd FROM pg_catalog.pg_shadow WHERE usename = u $$", db="appdb")
    aq.settings["auth_query"] = "SELECT usename, passwd FROM public.wp_lookup($1)"
    aq.start()
    with aq.connect(user=USER, password=PASSWORD) as c:
        assert c.execute("select current_user").fetchone() == (USER,)


def test_server_down_is_08006_at_once(aq, pg):
    aq.databases["downdb"] = f"host=127.0.0.1 port={free_port()} dbname=appdb"
    aq.start()
    t0 = time.time()
    with aq.wire() as w, pytest.raises(WireError) as e:
        w.login(USER, "downdb", PASSWORD)
    assert e.value.sqlstate == "08006"
    assert "auth_query" in e.value.message
    assert time.time() - t0 < 5


@pytest.mark.time_limit(40)
def test_silent_server_times_out_in_5s(aq):
    """A server that accepts and never answers: the login fails after the 5 s limit, not later."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    held = []
    stop = threading.Event()

    def accept():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                pass
    t = threading.Thread(target=accept, daemon=True)
    t.start()
    aq.databases["silentdb"] = f"host=127.0.0.1 port={srv.getsockname()[1]} dbname=appdb"
    aq.start()
    try:
        t0 = time.time()
        with aq.wire(timeout=15) as w, pytest.raises(WireError) as e:
            w.login(USER, "silentdb", PASSWORD)
        took = time.time() - t0
        assert e.value.sqlstate == "08006"
        assert "5 s" in e.value.message
        assert 4.5 < took < 7
        # the daemon kept serving meanwhile
        with aq.connect() as c:
            c.execute("select 1")
    finally:
        stop.set()
        t.join(2)
        for s in held:
            s.close()
        srv.close()


def test_query_error_is_08006(aq):
    aq.settings["auth_query"] = "SELECT usename, passwd FROM no_such_table WHERE usename=$1"
    aq.start()
    with aq.wire() as w, pytest.raises(WireError) as e:
        w.login(USER, "appdb", PASSWORD)
    assert e.value.sqlstate == "08006"
    assert "no_such_table" in e.value.message
    # auth_file users are not affected
    with aq.connect() as c:
        c.execute("select 1")


def test_client_leaving_during_a_lookup(aq):
    """A client that disconnects while its lookup runs is forgotten; the lookup's answer serves
    the next one."""
    aq.settings["auth_query"] = "SELECT usename, passwd FROM pg_shadow, pg_sleep(0.5) WHERE usename=$1"
    aq.start()
    with aq.wire() as w:
        w.send(startup_packet({"user": USER, "database": "appdb"}))
    assert wait_for(lambda: f'auth_query: user "{USER}" found' in aq.log(), 5)
    with aq.connect(user=USER, password=PASSWORD) as c:
        assert c.execute("select 1").fetchone() == (1,)
    assert lookups(aq) == 1

