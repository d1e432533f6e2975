"""The wildcard database (issue #11): a "*" entry in [databases] serves any database name not
listed, with the same options (dbname = the client's database name unless dbname= is given); its
pools are created on first use and dropped after autodb_idle_timeout_s without a client, as are the
pools created per client user name on a line without user=."""
import psycopg
import pytest

from helpers import wait_for


@pytest.fixture
def wild(wedpool, pg):
    del wedpool.databases["otherdb"]
    wedpool.databases["*"] = f"host=127.0.0.1 port={pg.port}"
    wedpool.settings.update(autodb_idle_timeout_s=2, min_pool_size=1)
    return wedpool


def test_wildcard_serves_unlisted_database(wild):
    w = wild
    w.start()
    assert w.pool("otherdb") is None
    with w.connect(dbname="otherdb") as c:
        assert c.execute("select current_database()").fetchone()[0] == "otherdb"
        assert w.pool("otherdb") is not None
    # listed databases keep their own line
    with w.connect(dbname="appdb") as c:
        assert c.execute("select current_database()").fetchone()[0] == "appdb"
    # a name PostgreSQL does not know: PostgreSQL's own error
    with pytest.raises(psycopg.OperationalError) as ei:
        w.connect(dbname="no_such_database_here").close()
    assert "does not exist" in str(ei.value)
    # the admin console is not served by the wildcard
    assert w.admin("SHOW DATABASES")


def test_wildcard_pool_dropped_when_idle(wild):
    w = wild
    w.start()
    with w.connect(dbname="otherdb") as c:
        c.execute("select 1")
        assert w.pool("otherdb")["sv_idle"] + w.pool("otherdb")["sv_active"] >= 1
    # min_pool_size=1 keeps a server open, but with no client for 2 s the pool and its servers go
    assert wait_for(lambda: w.pool("otherdb") is None, timeout=8)
    assert wait_for(lambda: w.pg.sql("select count(*) from pg_stat_activity where datname = 'otherdb' "
                                     "and application_name is distinct from 'wedpool-stats'")[0][0] == 0, timeout=5)
    assert "unused for autodb_idle_timeout_s=2; dropped" in w.log()
    # and comes back on demand
    with w.connect(dbname="otherdb") as c:
        assert c.execute("select current_database()").fetchone()[0] == "otherdb"


def test_wildcard_fixed_dbname(wedpool, pg):
    w = wedpool
    w.databases["*"] = f"host=127.0.0.1 port={pg.port} dbname=appdb"
    w.start()
    with w.connect(dbname="anything") as c:
        assert c.execute("select current_database()").fetchone()[0] == "appdb"
    assert w.pool("anything") is not None


def test_pools_of_client_users_dropped_when_idle(wedpool):
    """A line without user= creates a pool per client user name: those go after
    autodb_idle_timeout_s without a client too (auth_type=trust would otherwise keep one per name
    ever seen); a pool with a fixed user= stays."""
    w = wedpool
    w.settings.update(autodb_idle_timeout_s=2, auth_type="trust")
    w.start()
    with w.connect(user="reporting") as c:
        c.execute("select 1")
    assert w.pool("appdb", "reporting") is not None
    assert wait_for(lambda: w.pool("appdb", "reporting") is None, timeout=8)
