"""Client authentication (trust, md5, SCRAM-SHA-256 against plain, md5 and SCRAM secrets in
auth_file) and wedpool's own logins to PostgreSQL (SCRAM for app, md5 for md5user)."""
import time

import psycopg
import pytest

from helpers import WireError, md5_secret, parse_fields, scram_secret, startup_packet


def test_scram_client_and_scram_server_login(wedpool):
    wedpool.start()
    with wedpool.connect() as c:
        assert c.execute("select current_user, current_database()").fetchone() == ("app", "appdb")
        assert c.pgconn.used_password
    # the same through a client that checks every step, including wedpool's server signature
    with wedpool.wire() as w:
        w.login("app", "appdb", "apppass")
        assert w.query("select current_user").rows == [("app",)]


@pytest.mark.parametrize("auth_type", ["scram-sha-256", "md5"])
def test_wrong_password_is_28P01(wedpool, auth_type):
    wedpool.settings["auth_type"] = auth_type
    wedpool.start()
    with wedpool.wire() as w, pytest.raises(WireError) as e:
        w.login("app", "appdb", "nope")
    assert e.value.sqlstate == "28P01"
    assert 'password authentication failed for user "app"' in e.value.message
    with pytest.raises(psycopg.OperationalError) as e2:
        wedpool.connect(password="nope")
    assert "password authentication failed" in str(e2.value)
    # the daemon keeps serving the right password
    with wedpool.connect() as c:
        assert c.execute("select 1").fetchone()[0] == 1


def test_unknown_user_is_refused_like_a_wrong_password(wedpool):
    wedpool.start()
    with wedpool.wire() as w, pytest.raises(WireError) as e:
        w.login("ghost", "appdb", "x")
    assert e.value.sqlstate == "28P01"


def test_md5_client_auth_and_md5_server_login(wedpool):
    wedpool.settings["auth_type"] = "md5"
    wedpool.start()
    with wedpool.connect(user="md5user") as c:
        assert c.execute("select current_user").fetchone()[0] == "md5user"
    with wedpool.wire() as w:
        w.login("md5user", "appdb", "md5pass")
        assert w.query("select current_user").rows == [("md5user",)]
    with pytest.raises(psycopg.OperationalError) as e:
        wedpool.connect(user="md5user", password="bad")
    assert "password authentication failed" in str(e.value)


def test_md5_client_auth_with_scram_server_login(wedpool):
    """The client side and the server side of a login are independent: md5 to wedpool, SCRAM
    (PostgreSQL 15's default) from wedpool to the server."""
    wedpool.settings["auth_type"] = "md5"
    wedpool.start()
    with wedpool.connect() as c:
        assert c.execute("select current_user").fetchone()[0] == "app"


def test_scram_client_auth_with_md5_server_login(wedpool):
    wedpool.start()
    with wedpool.connect(user="md5user") as c:
        assert c.execute("select current_user").fetchone()[0] == "md5user"


def test_trust(wedpool):
    wedpool.settings["auth_type"] = "trust"
    wedpool.start()
    with wedpool.connect(password="anything") as c:
        assert c.execute("select current_user").fetchone()[0] == "app"
    with wedpool.wire() as w:  # no authentication request at all beyond AuthenticationOk
        w.login("app", "appdb", "")
        assert w.query("select 1").rows == [("1",)]


def test_scram_secret_in_auth_file(wedpool):
    """A pg_authid-style SCRAM secret authenticates clients; wedpool's server login then takes the
    password from the database line."""
    wedpool.users["app"] = scram_secret("clientsecret")
    wedpool.databases["appdb"] += " password=apppass"
    wedpool.start()
    with wedpool.connect(password="clientsecret") as c:
        assert c.execute("select current_user").fetchone()[0] == "app"
    with wedpool.wire() as w:
        w.login("app", "appdb", "clientsecret")
    with wedpool.wire() as w, pytest.raises(WireError) as e:
        w.login("app", "appdb", "apppass")
    assert e.value.sqlstate == "28P01"


def test_scram_only_user_logs_in_to_a_forced_server_user(wedpool):
    """A user that exists only in auth_file (SCRAM secret) reaches PostgreSQL through a database
    line with user= and password=."""
    wedpool.extra_users["scramonly"] = scram_secret("onlypass", salt=b"another-salt-123", iterations=4096)
    wedpool.databases["forced"] = f"host=127.0.0.1 port={wedpool.pg.port} dbname=appdb user=app password=apppass"
    wedpool.start()
    with wedpool.connect(user="scramonly", dbname="forced", password="onlypass") as c:
        assert c.execute("select current_user, current_database()").fetchone() == ("app", "appdb")
    with pytest.raises(psycopg.OperationalError):
        wedpool.connect(user="scramonly", dbname="forced", password="wrong")


def test_md5_secret_in_auth_file(wedpool):
    wedpool.settings["auth_type"] = "md5"
    wedpool.users["md5user"] = md5_secret("md5user", "md5pass")
    wedpool.databases["appdb"] += " password=md5pass"
    wedpool.start()
    with wedpool.connect(user="md5user") as c:
        assert c.execute("select current_user").fetchone()[0] == "md5user"
    with wedpool.wire() as w, pytest.raises(WireError) as e:
        w.login("md5user", "appdb", "wrong")
    assert e.value.sqlstate == "28P01"


def test_unknown_database_is_3D000(wedpool):
    wedpool.start()
    with wedpool.wire() as w, pytest.raises(WireError) as e:
        w.login("app", "nosuch")
    assert e.value.sqlstate == "3D000"
    assert 'database "nosuch" does not exist' in e.value.message
    with pytest.raises(psycopg.OperationalError) as e2:
        wedpool.connect(dbname="nosuch")
    assert 'database "nosuch" does not exist' in str(e2.value)


def test_server_side_database_missing_fails_fast(wedpool):
    """PostgreSQL refuses wedpool's login: the client gets an error (PostgreSQL's reason) at once,
    not after acquire_timeout_ms."""
    wedpool.settings["acquire_timeout_ms"] = 30000
    wedpool.start()
    t0 = time.time()
    with pytest.raises(psycopg.OperationalError) as e:
        c = wedpool.connect(dbname="nodb")
        c.execute("select 1")
    assert time.time() - t0 < 5
    assert "does_not_exist" in str(e.value)


def test_no_user_in_startup_packet_is_refused(wedpool):
    wedpool.start()
    with wedpool.wire() as w:
        w.send(startup_packet({"database": "appdb"}))
        msgs = w.drain()
    errors = [parse_fields(b) for t, b in msgs if t == b"E"]
    assert errors and errors[0]["C"] in ("28000", "08P01")
    with wedpool.connect() as c:
        assert c.execute("select 1").fetchone()[0] == 1
