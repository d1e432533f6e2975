"""Host names in [databases] are resolved asynchronously (a slow DNS server never stalls other
clients) and again every dns_max_ttl_s, so a failover that moves the name is followed."""
import time
import urllib.error
import urllib.request

from helpers import wait_for


def test_host_name_is_resolved_and_used(wedpool, pg):
    wedpool.databases["appdb"] = f"host=localhost port={pg.port} dbname=appdb"
    wedpool.start()
    with wedpool.connect() as c:
        assert c.execute("select 1").fetchone()[0] == 1
    with wedpool.connect() as c:  # a pool that exists already: its address is known
        assert c.execute("select inet_server_addr()::text").fetchone()[0].startswith("127.0.0.1")
    assert "could not resolve" not in wedpool.log()


def test_host_name_is_looked_up_again(wedpool, pg):
    """With dns_max_ttl_s = 1 the name is resolved again while the pool is in use; an unchanged
    answer changes nothing: no server is replaced, nothing is logged as moved."""
    wedpool.databases["appdb"] = f"host=localhost port={pg.port} dbname=appdb"
    wedpool.settings["dns_max_ttl_s"] = 1
    wedpool.start()
    with wedpool.connect() as c:
        pid = c.execute("select pg_backend_pid()").fetchone()[0]
        time.sleep(2.5)
        assert c.execute("select pg_backend_pid()").fetchone()[0] == pid
    assert "now resolves to" not in wedpool.log()


def test_reload_from_address_to_host_name(wedpool, pg):
    wedpool.start()
    with wedpool.connect() as c:
        c.execute("select 1")
    wedpool.databases["appdb"] = f"host=localhost port={pg.port} dbname=appdb"
    wedpool.write_config()
    assert wedpool.admin("RELOAD") == "RELOAD"
    with wedpool.connect() as c:
        assert c.execute("select 2").fetchone()[0] == 2



def test_ready_with_a_host_name_backend(wedpool, pg):
    """The health probe and the PostgreSQL statistics collector use host names too, without a
    blocking lookup: /readyz, wedpool_backend_up, wedpool_pg_up."""
    wedpool.databases = {"appdb": f"host=localhost port={pg.port} dbname=appdb"}
    wedpool.settings["http_listen"] = f"127.0.0.1:{wedpool.http_port}"
    wedpool.settings["pg_stats_interval_s"] = 1
    wedpool.start()
    assert wait_for(lambda: http_get(wedpool.http_port, "/readyz")[0] == 200, timeout=10)
    assert 'wedpool_backend_up{database="appdb"} 1' in http_get(wedpool.http_port, "/metrics")[1]
    with wedpool.connect() as c:
        c.execute("select 1")
    assert wait_for(lambda: 'wedpool_pg_up{database="appdb"} 1' in http_get(wedpool.http_port, "/metrics")[1],
                    timeout=10)


def http_get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
