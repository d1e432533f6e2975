"""Reload follows the settings table: restart-only keys keep their running value after SIGHUP or
RELOAD (the old HTTP port and client port keep answering, the new ones stay closed), SHOW CONFIG
shows the value a restart would apply in `pending_restart`, and the log names every such key."""
import signal
import socket
import urllib.error
import urllib.request

import pytest

from helpers import free_port, wait_for


def http_answers(port):
    """True if an HTTP endpoint answers /healthz on port (any status), False if nothing listens."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as r:
            return r.status > 0
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, ConnectionError, socket.timeout):
        return False


def tcp_answers(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def config_rows(wedpool):
    return {r["key"]: r for r in wedpool.admin("SHOW CONFIG")}


def reload(wedpool, how, applied):
    """Reloads by SIGHUP or the RELOAD command and waits until applied() holds."""
    before = len(wedpool.log())
    if how == "SIGHUP":
        wedpool.signal(signal.SIGHUP)
    else:
        assert wedpool.admin("RELOAD") == "RELOAD"
    assert wait_for(lambda: "configuration reloaded" in wedpool.log()[before:]), wedpool.log()[before:]
    assert wait_for(applied), wedpool.log()[before:]
    return before


@pytest.mark.parametrize("how", ["SIGHUP", "RELOAD"])
def test_restart_only_keys_keep_running_value(wedpool, how):
    wedpool.settings["http_listen"] = f"127.0.0.1:{wedpool.http_port}"
    wedpool.start()
    assert wait_for(lambda: http_answers(wedpool.http_port))
    new_http, new_port = free_port(), free_port()
    wedpool.settings["http_listen"] = f"127.0.0.1:{new_http}"
    wedpool.settings["listen_port"] = new_port
    wedpool.settings["max_pool_size"] = 7  # reloadable: applies at once
    wedpool.write_config()
    before = reload(wedpool, how, lambda: wedpool.config()["max_pool_size"] == "7")

    # the running endpoints are the old ones; nothing listens on the new ports
    assert http_answers(wedpool.http_port)
    assert not http_answers(new_http)
    assert tcp_answers(wedpool.port)
    assert not tcp_answers(new_port)

    rows = config_rows(wedpool)
    assert rows["http_listen"]["value"] == f"127.0.0.1:{wedpool.http_port}"
    assert "pending_restart" in rows["http_listen"]
    assert rows["http_listen"]["pending_restart"] == f"127.0.0.1:{new_http}"
    assert rows["listen_port"]["value"] == str(wedpool.port)
    assert rows["listen_port"]["pending_restart"] == str(new_port)
    assert rows["max_pool_size"]["value"] == "7"
    assert rows["max_pool_size"]["pending_restart"] is None
    assert all(r["pending_restart"] is None for k, r in rows.items() if k not in ("http_listen", "listen_port"))

    log = wedpool.log()[before:]
    for key in ("http_listen", "listen_port"):
        assert any(key in line and "changed in the config file; restart wedpool to apply" in line
                   for line in log.splitlines()), log
    assert "max_pool_size changed in the config file" not in log


def test_every_restart_only_key_is_kept_and_reported(wedpool, tmp_path):
    """Table-driven: every setting SHOW CONFIG marks changeable=no keeps its running value."""
    wedpool.start()
    new = {
        "listen_addr": "127.0.0.2", "listen_port": free_port(), "unix_socket_dir": str(tmp_path),
        "dns_nameserver": "127.0.0.1:5353", "http_listen": f"127.0.0.1:{free_port()}",
        "pg_stats_interval_s": 7, "dogstatsd_addr": "127.0.0.1:9", "otlp_endpoint": "http://127.0.0.1:9/v1/metrics",
        "otlp_headers": "api-key=s3cr3t-t0ken", "push_interval_s": 3, "logfile": str(tmp_path / "other.log"),
        "pidfile": str(tmp_path / "wedpool.pid"), "calendar_horizon_days": 30,
        "takeover_socket": str(tmp_path / "tk.sock"),
    }
    before_rows = config_rows(wedpool)
    restart_only = {k for k, r in before_rows.items() if r["changeable"] == "no"}
    assert restart_only == set(new), "a restart-only key this test does not change"
    wedpool.settings.update(new)
    wedpool.settings["acquire_timeout_ms"] = 1234
    wedpool.write_config()
    before = reload(wedpool, "RELOAD", lambda: wedpool.config()["acquire_timeout_ms"] == "1234")

    rows = config_rows(wedpool)
    log = wedpool.log()[before:]
    for key, value in new.items():
        assert rows[key]["value"] == before_rows[key]["value"], key
        want = "********" if key == "otlp_headers" else str(value)
        assert rows[key]["pending_restart"] == want, key
        assert f"{key} changed in the config file; restart wedpool to apply" in log, key
    assert "s3cr3t-t0ken" not in log  # otlp_headers' value is masked in the log too
    assert not (tmp_path / "wedpool.pid").exists()
    assert not (tmp_path / "other.log").exists()
    assert tcp_answers(wedpool.port)

    # the file back as it runs: nothing is pending any more
    for key in new:
        wedpool.settings[key] = before_rows[key]["value"]
    wedpool.write_config()
    reload(wedpool, "SIGHUP", lambda: all(r["pending_restart"] is None for r in config_rows(wedpool).values()))
