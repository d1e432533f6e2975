"""Access rules (hba_file, the pg_hba.conf subset): the first matching rule decides, per rule the
method a client is asked for (trust, SCRAM, md5), reject and no-match refusals in PostgreSQL's own
words, unix-socket clients on `local` lines, the admin console matched like any database, and
SIGHUP reloading the rules (a broken file refused, the old rules kept)."""
import signal
import struct

import psycopg
import pytest

from helpers import Wire, WireError, run_cli, scram_secret, wait_for

HOST = "127.0.0.1"


class RecordingWire(Wire):
    """A Wire that remembers the authentication requests (the codes of 'R' messages) it was sent."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.auth_codes = []

    def recv_msg(self):
        t, body = super().recv_msg()
        if t == b"R":
            self.auth_codes.append(struct.unpack("!I", body[:4])[0])
        return t, body


def login(wedpool, user, database="appdb", password=None):
    """Logs in over TCP; the authentication request codes seen (0 = Ok, 5 = MD5, 10 = SASL)."""
    with RecordingWire(wedpool.port) as w:
        w.login(user, database, password)
        if database != "wedpool":
            assert w.query("select current_user").rows[0][0] is not None
        return [c for c in w.auth_codes if c in (0, 5, 10)]


def refused(wedpool, user, database="appdb", password=None):
    """Logs in over TCP and expects a refusal: the ErrorResponse's (SQLSTATE, message)."""
    with Wire(wedpool.port) as w, pytest.raises(WireError) as e:
        w.login(user, database, password)
    return e.value.sqlstate, e.value.message


def use_hba(wedpool, text):
    (wedpool.dir / "hba.conf").write_text(text)
    wedpool.settings["hba_file"] = "hba.conf"


def reload_hba(wedpool, text):
    """Rewrites the rules, sends SIGHUP and returns the log written since (once reloaded or refused)."""
    before = len(wedpool.log())
    (wedpool.dir / "hba.conf").write_text(text)
    wedpool.signal(signal.SIGHUP)
    assert wait_for(lambda: "configuration reloaded" in wedpool.log()[before:]
                    or "reload of" in wedpool.log()[before:]), wedpool.log()[before:]
    return wedpool.log()[before:]


def test_each_rule_sets_the_method(wedpool):
    """trust for one user, SCRAM for another, md5 for a third, whatever auth_type says; md5 for a
    user whose only secret is SCRAM asks for SCRAM, as PostgreSQL does."""
    wedpool.settings["auth_type"] = "md5"
    wedpool.extra_users["scramonly"] = scram_secret("onlypass", salt=b"another-salt-123")
    wedpool.databases["forced"] = f"host={HOST} port={wedpool.pg.port} dbname=appdb user=app password=apppass"
    use_hba(wedpool, "# who may connect, and how\n"
                     "host all reporting 127.0.0.1/32 trust\n"
                     "host all app       127.0.0.1/32 scram-sha-256\n"
                     "host all md5user,scramonly 127.0.0.1 255.255.255.255 md5\n")
    wedpool.start()
    assert login(wedpool, "reporting", password="not checked") == [0]
    assert login(wedpool, "app") == [10, 0]
    assert login(wedpool, "md5user") == [5, 0]
    assert login(wedpool, "scramonly", "forced", "onlypass") == [10, 0]
    # the methods still check the password
    assert refused(wedpool, "app", password="wrong") == ("28P01", 'password authentication failed for user "app"')
    assert refused(wedpool, "md5user", password="wrong")[0] == "28P01"
    # and libpq sees the same: trust without a password, SCRAM with one
    with wedpool.connect(user="reporting", password="") as c:
        assert c.execute("select current_user").fetchone()[0] == "reporting"
    with wedpool.connect(user="app") as c:
        assert c.pgconn.used_password


def test_first_match_wins(wedpool):
    use_hba(wedpool, "host appdb app 127.0.0.1/32 trust\n"
                     "host all   app 127.0.0.1/32 reject\n"
                     "host all   all 0.0.0.0/0    trust\n"
                     "host all   md5user 0.0.0.0/0 reject\n")
    wedpool.start()
    assert login(wedpool, "app", "appdb", password="") == [0]
    assert refused(wedpool, "app", "otherdb") == (
        "28000", 'pg_hba.conf rejects connection for host "127.0.0.1", user "app", database "otherdb", no encryption')
    # the later, narrower reject never applies: the broad trust line came first
    assert login(wedpool, "md5user", "otherdb", password="") == [0]


def test_reject_and_no_match_in_postgresql_words(wedpool):
    use_hba(wedpool, "host all reporting 127.0.0.1/32 reject\n"
                     "host appdb all 127.0.0.1/32 scram-sha-256\n")
    wedpool.start()
    assert refused(wedpool, "reporting") == (
        "28000", 'pg_hba.conf rejects connection for host "127.0.0.1", user "reporting", database "appdb", '
                 "no encryption")
    assert refused(wedpool, "app", "otherdb") == (
        "28000", 'no pg_hba.conf entry for host "127.0.0.1", user "app", database "otherdb", no encryption')
    # psql/libpq users see the same text
    with pytest.raises(psycopg.OperationalError) as e:
        wedpool.connect(user="md5user", dbname="otherdb")
    assert 'no pg_hba.conf entry for host "127.0.0.1", user "md5user", database "otherdb", no encryption' in str(e.value)
    # a matching client is unaffected
    assert login(wedpool, "app") == [10, 0]


def test_admin_console_is_matched_like_any_database(wedpool):
    use_hba(wedpool, "host wedpool postgres 127.0.0.1/32 trust\n"
                     "host wedpool all      127.0.0.1/32 reject\n"
                     "host all     all      127.0.0.1/32 scram-sha-256\n")
    wedpool.start()
    assert login(wedpool, "postgres", "wedpool", password="") == [0]
    with wedpool.connect(user="postgres", dbname="wedpool", password="") as c:
        assert c.execute("SHOW VERSION", prepare=False).fetchone()[0]
    assert refused(wedpool, "stats", "wedpool") == (
        "28000", 'pg_hba.conf rejects connection for host "127.0.0.1", user "stats", database "wedpool", no encryption')
    assert login(wedpool, "app") == [10, 0]


def test_unix_socket_clients_match_local_lines(wedpool, tmp_path):
    sock_dir = tmp_path / "sock"
    sock_dir.mkdir()
    wedpool.settings["unix_socket_dir"] = str(sock_dir)
    use_hba(wedpool, "local all app trust\n"
                     "host  all all 0.0.0.0/0 scram-sha-256\n")
    wedpool.start()
    with wedpool.connect(host=str(sock_dir), password="") as c:  # trust: no password asked
        assert c.execute("select current_user").fetchone()[0] == "app"
        assert not c.pgconn.used_password
    # over TCP the same user gets the host line: SCRAM
    assert login(wedpool, "app") == [10, 0]
    # a unix-socket client no local line covers is refused naming [local], as PostgreSQL does
    with pytest.raises(psycopg.OperationalError) as e:
        wedpool.connect(user="md5user", host=str(sock_dir))
    assert 'no pg_hba.conf entry for host "[local]", user "md5user", database "appdb", no encryption' in str(e.value)


def test_sighup_reloads_the_rules(wedpool):
    use_hba(wedpool, "host all all 127.0.0.1/32 trust\n")
    wedpool.start()
    assert login(wedpool, "app", password="") == [0]
    session = psycopg.connect(wedpool.dsn(), autocommit=True)
    try:
        log = reload_hba(wedpool, "host all app 127.0.0.1/32 reject\nhost all all 127.0.0.1/32 scram-sha-256\n")
        assert "configuration reloaded" in log, log
        assert refused(wedpool, "app")[1].startswith("pg_hba.conf rejects connection for host")
        assert login(wedpool, "md5user") == [10, 0]
        # rules decide logins: a session that was already in keeps working, as in PostgreSQL
        assert session.execute("select 1").fetchone()[0] == 1
    finally:
        session.close()


def test_broken_file_on_reload_keeps_the_old_rules(wedpool):
    use_hba(wedpool, "host all app 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 reject\n")
    wedpool.start()
    log = reload_hba(wedpool, "host all all 127.0.0.1/32 trust\nhost all +admins 127.0.0.1/32 trust\n")
    assert "reload of" in log and "refused" in log, log
    assert "hba.conf:2:" in log and "+group" in log, log
    # the old rules still apply: app in without a password, everyone else rejected
    assert login(wedpool, "app", password="") == [0]
    assert refused(wedpool, "md5user")[0] == "28000"
    # and a fixed file is taken on the next SIGHUP
    log = reload_hba(wedpool, "host all all 127.0.0.1/32 trust\n")
    assert "configuration reloaded" in log, log
    assert login(wedpool, "md5user", password="") == [0]


@pytest.mark.parametrize("text, lineno, what", [
    ("host all all 10.0.0.0/8 md5\nhost all all samenet trust\n", 2, "samenet"),
    ("local all all peer\n", 1, '"peer" is not supported'),
    ("\n# comment\nhost all all 0.0.0.0/0 cert\n", 3, "cert authentication is only supported on hostssl"),
    ("host @dbs all 0.0.0.0/0 md5\n", 1, "@file inclusion is not supported"),
])
def test_a_bad_file_refuses_to_start(wedpool, text, lineno, what):
    use_hba(wedpool, text)
    ini = wedpool.write_config()
    out = run_cli("--check-config", "-c", ini)
    assert out.returncode != 0
    assert f"hba.conf:{lineno}:" in out.stderr and what in out.stderr, out.stderr
    run = run_cli("-c", ini, timeout=10)
    assert run.returncode != 0 and f"hba.conf:{lineno}:" in run.stderr, run.stderr
