"""The wedding calendar drives the pool (issue #9), on a real PostgreSQL with the fake clock:
pre-warming before a Saturday wedding at a bounded rate, reactive growth under load, protection that
refuses a capacity-cutting reload (and the override that allows it), the infrastructure hook once per
window, and waiters re-keyed when a wedding starts."""
import json
import os
import signal
import stat
import threading
import time
import urllib.request

import psycopg
import pytest

from helpers import wait_for

# Saturday 13 June 2026, Europe/London (BST, UTC+1). The wedding: 14:00-18:00 local = 13:00-17:00Z.
WEDDING_ICS = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//wedpool tests//EN
BEGIN:VEVENT
UID:smith-jones@wedpool.test
DTSTAMP:20260601T000000Z
DTSTART:20260613T130000Z
DTEND:20260613T170000Z
SUMMARY:Smith & Jones
LOCATION:Kew Gardens
X-WEDPOOL-GUESTS:200
X-WEDPOOL-VENDORS:12
END:VEVENT
END:VCALENDAR
"""


def calendar(tmp_path, text=WEDDING_ICS):
    path = tmp_path / "weddings.ics"
    path.write_text(text.replace("\n", "\r\n"))
    return path


def api(wedpool, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{wedpool.http_port}{path}", timeout=5) as r:
        return json.loads(r.read())


def pool_json(wedpool, db="appdb"):
    for p in api(wedpool, "/api/v1/pools")["pools"]:
        if p["database"] == db:
            return p
    return None


def configure(wedpool, tmp_path, **settings):
    wedpool.databases = {"appdb": f"host=127.0.0.1 port={wedpool.pg.port} dbname=appdb user=app"}
    wedpool.calendars = {"weddings": f"source={calendar(tmp_path)}"}
    wedpool.settings.update({"timezone": "Europe/London", "http_listen": f"127.0.0.1:{wedpool.http_port}",
                             "min_pool_size": 0, "max_pool_size": 10, "scale_max_pool_size": 40,
                             "forecast_base_connections": 2, "prewarm_rate_per_s": 5, "idle_timeout_ms": 600000,
                             "pg_stats_interval_s": 0})
    wedpool.settings.update(settings)


def server_backends(wedpool):
    return wedpool.pg.sql("select backend_start from pg_stat_activity where datname = 'appdb' "
                          "and usename = 'app' and backend_type = 'client backend' and pid <> pg_backend_pid() "
                          "order by backend_start")


def test_prewarm_reaches_warm_target_before_the_ceremony_at_a_bounded_rate(wedpool, tmp_path):
    """29 minutes before a 200-guest Saturday wedding, the pool opens its warm target (saturday_morning
    x5, peak season x1.2, base 2 -> 12, plus 200 guests / 25 = 8 -> 20) ahead of any client, no faster
    than prewarm_rate_per_s."""
    configure(wedpool, tmp_path)
    wedpool.start(env={"WEDPOOL_FAKE_NOW": "2026-06-13T12:31:00Z"})
    p = wait_for(lambda: (pool_json(wedpool) or {}).get("warm_target", 0) >= 20, timeout=10)
    assert p, pool_json(wedpool)
    p = pool_json(wedpool)
    assert p["warm_target"] == 20, p
    assert p["effective_max_pool_size"] >= 20 and p["configured_max_pool_size"] == 10
    assert wait_for(lambda: len(server_backends(wedpool)) >= 20, timeout=15), len(server_backends(wedpool))
    starts = [r[0] for r in server_backends(wedpool)]
    spread = (starts[19] - starts[0]).total_seconds()
    assert spread >= 2.5, f"20 connections opened within {spread:.2f} s: faster than prewarm_rate_per_s=5"
    rows = wedpool.admin("SHOW SCALING")
    assert any(r["direction"] == "prewarm" and r["reason"] == "forecast" for r in rows), rows
    assert "prewarm" in wedpool.log() and "saturday_morning" in wedpool.log()
    # the wedding context is visible
    w = api(wedpool, "/api/v1/weddings")
    assert w["wedding_day"] is True and w["active_weddings"] == 0 and w["criticality"] == 3
    assert w["weddings"][0]["name"] == "Smith & Jones" and w["weddings"][0]["start"] == "2026-06-13T13:00:00Z"
    f = api(wedpool, "/api/v1/forecast?hours=2")
    assert len(f["steps"]) == 8 and all("why" in s for s in f["steps"])


def test_protection_refuses_a_capacity_cut_until_overridden(wedpool, tmp_path):
    configure(wedpool, tmp_path)
    wedpool.start(env={"WEDPOOL_FAKE_NOW": "2026-06-13T13:30:00Z"})
    assert wait_for(lambda: api(wedpool, "/api/v1/weddings")["active_weddings"] == 1, timeout=10)
    assert api(wedpool, "/api/v1/weddings")["criticality"] == 4
    snapshot = api(wedpool, "/api/v1/pools")["wedding"]
    assert snapshot["active_weddings"] == 1 and snapshot["criticality"] == 4 and snapshot["guests_affected"] == 200
    assert wait_for(lambda: "wedding protection ON" in wedpool.log(), timeout=5)
    before = pool_json(wedpool)["effective_max_pool_size"]
    wedpool.settings["max_pool_size"] = 5
    wedpool.settings["reserve_pool_size"] = 0
    wedpool.write_config()
    with pytest.raises(psycopg.Error) as e:
        wedpool.admin("RELOAD")
    assert "would cut capacity" in str(e.value) and "Smith & Jones" in str(e.value)
    assert "PROTECTION OVERRIDE" in str(e.value)
    assert wedpool.config()["max_pool_size"] == "10"
    assert pool_json(wedpool)["effective_max_pool_size"] == before
    # SIGHUP is refused the same way, with a log line naming the weddings
    wedpool.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: wedpool.log().count("would cut capacity") >= 2, timeout=5)
    # the override allows it, and is logged and exported
    wedpool.admin("PROTECTION OVERRIDE 30 'planned maintenance'")
    assert "OVERRIDDEN" in wedpool.log() and "planned maintenance" in wedpool.log()
    wedpool.admin("RELOAD")
    assert wedpool.config()["max_pool_size"] == "5"
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{wedpool.http_port}/metrics", timeout=5).read().decode()
    assert "wedpool_protection_override_active 1" in metrics
    assert 'wedpool_scaling_events_total{direction="refused",reason="protection"}' in metrics


def test_infrastructure_hook_runs_once_per_window_with_the_json(wedpool, tmp_path):
    out = tmp_path / "hook-calls"
    script = tmp_path / "hook.sh"
    script.write_text(f"#!/bin/sh\ncat >> {out}\necho >> {out}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    # ceiling 6 connections, the forecast needs 20: the hook must run, once
    configure(wedpool, tmp_path, scale_max_pool_size=6, scale_hook=str(script), infra_lead_s=7200)
    wedpool.start(env={"WEDPOOL_FAKE_NOW": "2026-06-13T11:30:00Z"})
    assert wait_for(lambda: out.exists() and out.read_text().strip(), timeout=10)
    assert wait_for(lambda: "infrastructure hook done" in wedpool.log(), timeout=10)
    time.sleep(3)  # three more scaler ticks: no second run for the same window
    calls = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    assert len(calls) == 1, calls
    c = calls[0]
    assert c["event"] == "capacity_needed" and c["needed_connections"] > c["capacity_connections"]
    assert c["pools"][0]["pool"] == "appdb/app" and "why" in c and "protection_expected" in c


def test_reactive_growth_under_load(wedpool, tmp_path):
    configure(wedpool, tmp_path, max_pool_size=2, scale_max_pool_size=6, acquire_timeout_ms=30000)
    wedpool.calendars = {}
    wedpool.start()
    done = []

    def hold():
        with wedpool.connect() as c:
            c.execute("select pg_sleep(6)")
            done.append(time.time())
    threads = [threading.Thread(target=hold, daemon=True) for _ in range(5)]
    t0 = time.time()
    for t in threads:
        t.start()
    assert wait_for(lambda: pool_json(wedpool)["effective_max_pool_size"] > 2, timeout=10), pool_json(wedpool)
    for t in threads:
        t.join(30)
    assert len(done) == 5
    # with growth, all five ran concurrently-ish: well under the 3 x 6 s a pool of 2 would take
    assert max(done) - t0 < 15, max(done) - t0
    rows = wedpool.admin("SHOW SCALING")
    assert any(r["direction"] == "grow" and r["reason"] == "utilization" for r in rows), rows


def test_waiters_are_rekeyed_when_a_wedding_starts(wedpool, tmp_path):
    """Two waiters: an ordinary one (priority 100) queued first, and a vendor-lane one (priority 50,
    active_wedding_boost=100) queued second. When the wedding starts, the vendor client outranks the
    ordinary one although it was queued with the lower key."""
    configure(wedpool, tmp_path, max_pool_size=1, scale_max_pool_size=1, lane_aging_per_s=0,
          forecast_base_connections=1)
    wedpool.lanes = {"vendor": "priority=50 active_wedding_boost=100 users=*"}
    wedpool.start(env={"WEDPOOL_FAKE_NOW": "2026-06-13T12:59:52Z"})
    assert api(wedpool, "/api/v1/weddings")["active_weddings"] == 0
    holder = wedpool.connect(autocommit=False)
    holder.execute("select 1")
    served = {}

    def run(name, **kw):
        with wedpool.connect(**kw) as c:
            # PostgreSQL's clock says who ran first (the threads may report back in either order)
            served[name] = c.execute("select clock_timestamp()").fetchone()[0]
    a = threading.Thread(target=run, args=("ordinary",), daemon=True)
    a.start()
    assert wait_for(lambda: wedpool.pool()["cl_waiting"] == 1, timeout=5)
    b = threading.Thread(target=run, args=("vendor",), kwargs={"options": "-c wedpool.lane=vendor"}, daemon=True)
    b.start()
    assert wait_for(lambda: wedpool.pool()["cl_waiting"] == 2, timeout=5)
    assert wait_for(lambda: api(wedpool, "/api/v1/weddings")["active_weddings"] == 1, timeout=20)
    holder.rollback()
    holder.close()
    a.join(10)
    b.join(10)
    assert set(served) == {"vendor", "ordinary"}, served
    assert served["vendor"] < served["ordinary"], served
