"""Client authentication (trust, md5, SCRAM-SHA-256) and server logins (SCRAM and md5)."""
import psycopg
import pytest

from conftest import scram_secret, sqlstate_of


def test_scram_login_and_scram_server_login(wedpool):
    wedpool.start()
    with wedpool.connect() as c:
        assert c.execute("select current_user").fetchone()[0] == "app"
        # libpq negotiated SCRAM with wedpool
        assert c.pgconn.used_password


def test_wrong_password_is_28P01(wedpool):
    wedpool.start()
    with pytest.raises(psycopg.OperationalError) as e:
        wedpool.connect(password="nope")
    assert sqlstate_of(e) == "28P01" or "password authentication failed" in str(e.value)
    assert 'password authentication failed for user "app"' in str(e.value)


def test_unknown_user_is_refused(wedpool):
    wedpool.start()
    with pytest.raises(psycopg.OperationalError) as e:
        wedpool.connect(user="ghost", password="x")
    assert "password authentication failed" in str(e.value)


def test_md5_client_auth_and_md5_server_login(wedpool):
    wedpool.settings["auth_type"] = "md5"
    wedpool.start()
    with wedpool.connect(user="md5user") as c:
        assert c.execute("select current_user").fetchone()[0] == "md5user"
    with pytest.raises(psycopg.OperationalError) as e:
        wedpool.connect(user="md5user", password="bad")
    assert "password authentication failed" in str(e.value)


def test_trust(wedpool):
    wedpool.settings["auth_type"] = "trust"
    wedpool.start()
    with wedpool.connect(password="anything") as c:
        assert c.execute("select 1").fetchone()[0] == 1


def test_scram_secret_in_auth_file(wedpool):
    """A pg_authid-style SCRAM secret authenticates clients; the server password comes from the
    database line."""
    wedpool.users["app"] = scram_secret("clientsecret")
    wedpool.databases["appdb"] += " password=apppass"
    wedpool.start()
    with wedpool.connect(password="clientsecret") as c:
        assert c.execute("select current_user").fetchone()[0] == "app"
    with pytest.raises(psycopg.OperationalError):
        wedpool.connect(password="apppass")


def test_unknown_database_is_3D000(wedpool):
    wedpool.start()
    with pytest.raises(psycopg.OperationalError) as e:
        wedpool.connect(dbname="nosuch")
    assert 'database "nosuch" does not exist' in str(e.value)


def test_server_side_database_missing_fails_fast(wedpool):
    """The backend refuses wedpool's login: the client gets PostgreSQL's reason at once."""
    wedpool.start()
    with pytest.raises(psycopg.OperationalError) as e:
        wedpool.connect(dbname="nodb")
    assert "does_not_exist" in str(e.value)
