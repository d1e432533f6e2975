"""Pools whose server user is fixed (user= on the database line) are opened at start and on
reload, so min_pool_size is warm before the first client of a wedding-day morning arrives."""
from helpers import wait_for


def test_forced_user_pool_is_warm_before_any_client(wedpool):
    wedpool.databases["warm"] = f"host=127.0.0.1 port={wedpool.pg.port} dbname=appdb user=app min_pool_size=3"
    wedpool.start()
    assert wait_for(lambda: (wedpool.pool("warm", "app") or {}).get("sv_idle") == 3, timeout=5)
    # a client of any user is served by the app pool at once
    with wedpool.connect(user="md5user", dbname="warm") as c:
        assert c.execute("select current_user").fetchone()[0] == "app"


def test_reload_opens_new_forced_user_pools(wedpool):
    wedpool.start()
    assert wedpool.pool("later", "app") is None
    wedpool.databases["later"] = f"host=127.0.0.1 port={wedpool.pg.port} dbname=appdb user=app min_pool_size=2"
    wedpool.write_config()
    assert wedpool.admin("RELOAD") == "RELOAD"
    assert wait_for(lambda: (wedpool.pool("later", "app") or {}).get("sv_idle") == 2, timeout=5)
