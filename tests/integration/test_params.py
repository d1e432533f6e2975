"""Startup parameters (application_name, client_encoding, DateStyle, TimeZone, search_path, options)
belong to the client: whenever a server connection is handed to a client whose values differ, wedpool
applies the client's values first. max_pool_size=1 forces every client onto the same server."""
import random

from helpers import spawn

DEFAULT_SEARCH_PATH = '"$user", public'


def show(c, name):
    return c.execute(f"show {name}").fetchone()[0]


def test_startup_parameters_follow_the_client(wedpool):
    wedpool.settings["max_pool_size"] = 1
    wedpool.start()
    a = wedpool.connect(application_name="alpha", options="-c TimeZone=Asia/Tokyo -c search_path=pg_catalog")
    b = wedpool.connect(application_name="beta")
    server_tz = wedpool.pg.sql("show timezone")[0][0]
    for _ in range(3):
        assert a.execute("select pg_backend_pid()").fetchone()[0] == b.execute("select pg_backend_pid()").fetchone()[0]
        assert show(a, "application_name") == "alpha"
        assert show(a, "timezone") == "Asia/Tokyo"
        assert show(a, "search_path") == "pg_catalog"
        assert show(b, "application_name") == "beta"
        assert show(b, "timezone") == server_tz
        assert show(b, "search_path") == DEFAULT_SEARCH_PATH
    a.close()
    b.close()


def test_client_encoding_and_datestyle(wedpool):
    wedpool.settings["max_pool_size"] = 1
    wedpool.start()
    latin = wedpool.connect(client_encoding="LATIN1", options="-c DateStyle=SQL,DMY")
    utf = wedpool.connect(client_encoding="UTF8")
    for _ in range(3):
        assert show(latin, "client_encoding") == "LATIN1"
        assert show(latin, "datestyle") == "SQL, DMY"
        assert latin.execute("select date '2026-03-04'::text").fetchone()[0] == "04/03/2026"
        assert latin.execute("select 'caf\u00e9'").fetchone()[0] == "caf\u00e9"  # converted both ways
        assert show(utf, "client_encoding") == "UTF8"
        assert show(utf, "datestyle") == "ISO, MDY"
        assert utf.execute("select date '2026-03-04'::text").fetchone()[0] == "2026-03-04"
    latin.close()
    utf.close()


def test_parameters_reported_at_login_are_the_clients(wedpool):
    wedpool.settings["max_pool_size"] = 1
    wedpool.start()
    with wedpool.connect(application_name="first", options="-c TimeZone=Europe/Paris") as a:
        a.execute("select 1")
        with wedpool.connect(application_name="second") as b:
            assert b.info.parameter_status("application_name") == "second"
            assert b.info.parameter_status("TimeZone") != "Europe/Paris"
        assert a.info.parameter_status("application_name") == "first"
        assert a.info.parameter_status("TimeZone") == "Europe/Paris"


def test_a_set_of_a_reported_parameter_sticks_to_the_client(wedpool):
    wedpool.settings["max_pool_size"] = 1
    wedpool.start()
    a = wedpool.connect(application_name="alpha")
    b = wedpool.connect(application_name="beta")
    b.execute("set application_name = 'beta2'")
    b.execute("set timezone = 'America/Lima'")
    a.execute("select 1")
    assert show(a, "application_name") == "alpha" and show(a, "timezone") != "America/Lima"
    assert show(b, "application_name") == "beta2"
    assert show(b, "timezone") == "America/Lima"
    a.close()
    b.close()


def test_interleaved_clients_always_see_their_own_values(wedpool):
    """Eight clients with different values hammer two servers in random order."""
    wedpool.settings["max_pool_size"] = 2
    wedpool.start()
    zones = ["UTC", "Asia/Tokyo", "Europe/Paris", "America/New_York", "Australia/Sydney", "Africa/Cairo",
             "Asia/Kolkata", "America/Sao_Paulo"]
    conns = [wedpool.connect(application_name=f"client{i}", options=f"-c TimeZone={z}")
             for i, z in enumerate(zones)]

    def worker(i, c):
        rnd = random.Random(i)
        for _ in range(40):
            got = c.execute("select current_setting('application_name'), current_setting('TimeZone')").fetchone()
            assert got == (f"client{i}", zones[i]), got
            if rnd.random() < 0.2:
                c.execute("select pg_sleep(0.002)")

    threads = [spawn(worker, i, c) for i, c in enumerate(conns)]
    for t in threads:
        t.join(60)
    assert [t.error for t in threads if t.error] == []
    for c in conns:
        c.close()


def test_session_mode_applies_parameters_after_the_reset(wedpool):
    """In session mode the reset query (DISCARD ALL) runs between clients; the next client's
    startup parameters are then applied."""
    wedpool.settings["pool_mode"] = "session"
    wedpool.settings["max_pool_size"] = 1
    wedpool.start()
    server_tz = wedpool.pg.sql("show timezone")[0][0]
    with wedpool.connect(application_name="one", options="-c TimeZone=Asia/Tokyo -c search_path=pg_catalog") as a:
        pid = a.execute("select pg_backend_pid()").fetchone()[0]
        assert show(a, "timezone") == "Asia/Tokyo"
    with wedpool.connect(application_name="two") as b:
        assert b.execute("select pg_backend_pid()").fetchone()[0] == pid
        assert show(b, "application_name") == "two"
        assert show(b, "timezone") == server_tz
        assert show(b, "search_path") == DEFAULT_SEARCH_PATH
    with wedpool.connect(application_name="three", options="-c TimeZone=Europe/Paris") as c:
        assert show(c, "timezone") == "Europe/Paris" and show(c, "application_name") == "three"


def test_any_setting_in_options_follows_the_client(wedpool):
    wedpool.settings["max_pool_size"] = 1
    wedpool.start()
    a = wedpool.connect(options="-c work_mem=5MB -c statement_timeout=1234")
    b = wedpool.connect()
    for _ in range(3):
        assert show(a, "work_mem") == "5MB" and show(a, "statement_timeout") == "1234ms"
        assert show(b, "work_mem") == "4MB" and show(b, "statement_timeout") == "0"
    a.close()
    b.close()
