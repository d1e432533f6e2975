"""The log: one event is one line. Values a peer chooses (user, database, startup options) can
never forge a line; they appear escaped (\\n, \\r, \\t, \\xNN)."""
import re

from helpers import WireError, wait_for

# Every line wedpool writes starts with its timestamp, "UTC", its pid and a level.
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC \[\d+\] (DEBUG|LOG|WARNING|ERROR|FATAL) ")


def refused(wedpool, user="app", database="appdb", options=None):
    """Logs in with a raw startup packet; returns the SQLSTATE wedpool refused it with (None when
    it let the client in)."""
    with wedpool.wire() as w:
        try:
            w.login(user, database, params={"options": options} if options else None)
        except WireError as e:
            return e.sqlstate
    return None


def test_peer_values_cannot_forge_log_lines(wedpool):
    wedpool.start()
    assert refused(wedpool, user="evil\nFAKE LOG LINE user") == "28P01"
    assert refused(wedpool, database="app\rFAKE LOG LINE db") == "3D000"
    assert refused(wedpool, options="-c application_name=x\nFAKE LOG LINE opt") == "08P01"
    assert refused(wedpool, options="--bogus\n2024-01-01 00:00:00.000 UTC [1] LOG forged\tx\x01") == "08P01"
    for forged in ("FAKE LOG LINE user", "app\\rFAKE LOG LINE db", "FAKE LOG LINE opt", "forged\\tx\\x01"):
        assert wait_for(lambda: forged in wedpool.log()), (forged, wedpool.log()[-3000:])
    log = wedpool.log()
    lines = log.splitlines()
    assert not [ln for ln in lines if ln.startswith(("FAKE", "2024-01-01"))]
    # every line is one of wedpool's own, and the values show in escaped form
    assert all(LINE.match(ln) for ln in lines), [ln for ln in lines if not LINE.match(ln)]
    assert "\r" not in log and "\x01" not in log
    assert "evil\\nFAKE LOG LINE user" in log
    assert "app\\rFAKE LOG LINE db" in log
    assert "application_name=x\\nFAKE LOG LINE opt" in log
    assert "--bogus\\n2024-01-01 00:00:00.000 UTC [1] LOG forged\\tx\\x01" in log
    # and the daemon still serves
    with wedpool.connect() as c:
        assert c.execute("select 1").fetchone()[0] == 1
