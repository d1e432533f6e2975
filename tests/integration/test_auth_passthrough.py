"""Server logins without a plain password anywhere (issue #10, authentication hardening): SCRAM
pass-through (the auth_file holds the pg_authid secret; wedpool logs in to PostgreSQL with the
ClientKey a client proved) and md5 pass-through (the md5 secret answers the server's md5 request)."""
import time

import psycopg
import pytest

from helpers import PASSWORDS, WireError, md5_secret, scram_secret, spawn, wait_for

USER, PASSWORD = "ptuser", "pt-pass-1"


def ensure_role(pg, name, password, encryption="scram-sha-256"):
    """A login role with this password (stored as PostgreSQL stores it); its secret from pg_authid."""
    exists = pg.sql(f"select count(*) from pg_roles where rolname = '{name}'")[0][0]
    verb = "ALTER" if exists else "CREATE"
    pg.sql(f"SET password_encryption = '{encryption}'", f"{verb} ROLE {name} LOGIN PASSWORD '{password}'")
    pg.sql(f"GRANT ALL ON DATABASE appdb TO {name}")
    return pg.sql(f"select rolpassword from pg_authid where rolname = '{name}'")[0][0]


def only_secrets(wedpool, **secrets):
    """auth_file = these secrets plus the console's admin (the console is not a pool); no database
    line carries a password."""
    wedpool.users = {"postgres": PASSWORDS["postgres"], **secrets}
    for line in wedpool.databases.values():
        assert "password=" not in line


def server_conns(pg, user):
    return [b for b in pg.backends() if b["user"] == user]


def test_scram_passthrough_login_queries_and_pool_growth(wedpool, pg):
    secret = ensure_role(pg, USER, PASSWORD)
    assert secret.startswith("SCRAM-SHA-256$")
    only_secrets(wedpool, **{USER: secret})
    wedpool.settings["max_pool_size"] = 5
    wedpool.start()
    assert PASSWORD not in (wedpool.dir / "users.txt").read_text()
    with wedpool.connect(user=USER, password=PASSWORD) as c:
        assert c.execute("select current_user, current_database()").fetchone() == (USER, "appdb")
    # a client that checks every step, wedpool's server signature included
    with wedpool.wire() as w:
        w.login(USER, "appdb", PASSWORD)
        assert w.query("select current_user").rows == [(USER,)]
    # the pool grows later: every new server connection logs in with the proven key
    conns = [wedpool.connect(user=USER, password=PASSWORD, autocommit=False) for _ in range(4)]
    try:
        for c in conns:
            c.execute("select txid_current()")  # holds a server for the transaction
        assert len(server_conns(pg, USER)) >= 4
    finally:
        for c in conns:
            c.rollback()
            c.close()
    assert "SCRAM pass-through" in wedpool.log()
    assert "login failed" not in wedpool.log() and "failed:" not in wedpool.log()


def test_scram_passthrough_wrong_password_is_28P01(wedpool, pg):
    only_secrets(wedpool, **{USER: ensure_role(pg, USER, PASSWORD)})
    wedpool.start()
    with wedpool.wire() as w, pytest.raises(WireError) as e:
        w.login(USER, "appdb", "not-it")
    assert e.value.sqlstate == "28P01"
    # a failed client proves nothing: no server login was attempted with it
    assert server_conns(pg, USER) == []
    with wedpool.connect(user=USER, password=PASSWORD) as c:
        assert c.execute("select 1").fetchone() == (1,)


def test_prewarm_waits_for_the_first_client(wedpool, pg):
    """min_pool_size cannot be filled before a client has proven the key: no failed logins (they
    would make the first client fail fast); once one logs in, the pool is warmed."""
    only_secrets(wedpool, **{USER: ensure_role(pg, USER, PASSWORD)})
    wedpool.databases["ptdb"] = f"host=127.0.0.1 port={pg.port} dbname=appdb user={USER} min_pool_size=2"
    wedpool.start()
    time.sleep(1.5)  # several janitor passes that would pre-warm: none may try (an absence to observe)
    assert server_conns(pg, USER) == []
    assert "login failed" not in wedpool.log()
    with wedpool.connect(user=USER, dbname="ptdb", password=PASSWORD) as c:
        assert c.execute("select current_user").fetchone() == (USER,)
    assert wait_for(lambda: len(server_conns(pg, USER)) >= 2, 5)


def test_server_login_without_a_proven_key_fails_clearly(wedpool, pg):
    """A forced server user (user= on the database line) with only a SCRAM secret, reached by a
    client of another user: nobody has proven its key, and the error says so."""
    only_secrets(wedpool, **{USER: ensure_role(pg, USER, PASSWORD),
                             "app": pg.sql("select rolpassword from pg_authid where rolname = 'app'")[0][0]})
    wedpool.databases["ptdb"] = f"host=127.0.0.1 port={pg.port} dbname=appdb user={USER}"
    wedpool.start()
    t0 = time.time()
    with pytest.raises(psycopg.OperationalError) as e:
        with wedpool.connect(user="app", dbname="ptdb", password="apppass") as c:
            c.execute("select 1")
    assert time.time() - t0 < 5
    assert "server logins need a client to log in first (SCRAM pass-through)" in str(e.value)
    # once the user itself has logged in (the remembered failure is forgotten: it was for want of
    # the key), the same pool serves the other client too
    with wedpool.connect(user=USER, dbname="ptdb", password=PASSWORD) as c:
        c.execute("select 1")
    with wedpool.connect(user="app", dbname="ptdb", password="apppass") as c:
        assert c.execute("select current_user").fetchone() == (USER,)


def test_salt_mismatch_is_named(wedpool, pg):
    """A secret made from the right password with another salt verifies the client but cannot log
    in to the server: the error says why."""
    ensure_role(pg, USER, PASSWORD)
    only_secrets(wedpool, **{USER: scram_secret(PASSWORD, salt=b"not-pg-authid-salt")})
    wedpool.start()
    with pytest.raises(psycopg.OperationalError) as e:
        with wedpool.connect(user=USER, password=PASSWORD) as c:
            c.execute("select 1")
    assert "salt or iteration count" in str(e.value)
    assert "salt or iteration count" in wedpool.log()


def test_concurrent_first_logins(wedpool, pg):
    only_secrets(wedpool, **{USER: ensure_role(pg, USER, PASSWORD)})
    wedpool.start()

    def one():
        with wedpool.connect(user=USER, password=PASSWORD) as c:
            return c.execute("select current_user").fetchone()[0]
    threads = [spawn(one) for _ in range(8)]
    for t in threads:
        t.join(20)
        assert t.error is None and t.result == USER


def test_reload_with_a_new_secret_needs_a_new_client(wedpool, pg):
    """The password changes in PostgreSQL and the auth_file gets the new secret: the old key is
    wiped; the new password logs in (and its key logs wedpool in), the old one no longer does."""
    only_secrets(wedpool, **{USER: ensure_role(pg, USER, PASSWORD)})
    wedpool.start()
    with wedpool.connect(user=USER, password=PASSWORD) as c:
        c.execute("select 1")
    new_secret = ensure_role(pg, USER, "pt-pass-2")
    wedpool.users[USER] = new_secret
    wedpool.write_config()
    wedpool.admin("RELOAD")
    with pytest.raises(psycopg.OperationalError):
        wedpool.connect(user=USER, password=PASSWORD)
    with wedpool.connect(user=USER, password="pt-pass-2") as c:
        assert c.execute("select current_user").fetchone() == (USER,)


@pytest.mark.parametrize("auth_type", ["md5", "scram-sha-256"])
def test_md5_passthrough(wedpool, pg, auth_type):
    """An md5 secret in auth_file (no password= anywhere) answers the server's md5 request
    (pg_hba asks md5user for md5)."""
    wedpool.settings["auth_type"] = auth_type
    only_secrets(wedpool, md5user=md5_secret("md5user", "md5pass"))
    wedpool.start()
    with wedpool.connect(user="md5user", password="md5pass") as c:
        assert c.execute("select current_user").fetchone() == ("md5user",)
    with wedpool.wire() as w, pytest.raises(WireError) as e:
        w.login("md5user", "appdb", "wrong")
    assert e.value.sqlstate == "28P01"
