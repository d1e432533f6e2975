"""Wedding-aware alert rules (issue #13, rules half), on a real PostgreSQL with the fake clock:
a pool driven over 85 % during a wedding fires one CRITICAL alert in the seeds' wording naming the
wedding, delivered once to Slack and PagerDuty (local receivers), escalated by SMS to the second
tier after its after_min if still firing, resolved (PagerDuty resolve with the same dedup_key) when
the load drops; ACK stops the escalation; an ordinary alert becoming CRITICAL when a wedding starts
re-notifies; [alert_rules] errors name the file and line; a reload changes the thresholds."""
import base64
import http.server
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import psycopg
import pytest

from helpers import wait_for

# Saturday 13 June 2026: the wedding runs 13:00-17:00Z.
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
END:VEVENT
END:VCALENDAR
"""

# 1 real second = 1 clock minute: for_s=30 takes half a second, after_min=2 two seconds.
DURING_WEDDING = {"WEDPOOL_FAKE_NOW": "2026-06-13T13:30:00Z", "WEDPOOL_CLOCK_SPEED": "60"}
ORDINARY_DAY = {"WEDPOOL_FAKE_NOW": "2026-06-10T10:00:00Z", "WEDPOOL_CLOCK_SPEED": "60"}


def add_sections(wedpool, sections):
    """Appends extra INI sections ({"alert_rules": {...}}) every time the helper writes the file."""
    if not hasattr(wedpool, "extra_sections"):
        write = wedpool.write_config

        def write_with_sections():
            ini = write()
            with open(ini, "a") as f:
                for name, keys in wedpool.extra_sections.items():
                    f.write(f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items()))
            return ini
        wedpool.write_config = write_with_sections
    wedpool.extra_sections = sections


def configure(wedpool, tmp_path, rules=None):
    cal = tmp_path / "weddings.ics"
    cal.write_text(WEDDING_ICS.replace("\n", "\r\n"))
    wedpool.databases = {"appdb": f"host=127.0.0.1 port={wedpool.pg.port} dbname=appdb user=app"}
    wedpool.calendars = {"weddings": f"source={cal}"}
    wedpool.settings.update({"timezone": "Europe/London", "http_listen": f"127.0.0.1:{wedpool.http_port}",
                             "min_pool_size": 0, "max_pool_size": 10, "reserve_pool_size": 0,
                             "pg_stats_interval_s": 0, "idle_timeout_ms": 600000})
    add_sections(wedpool, {"alert_rules": rules if rules is not None else {}})


def api(wedpool, path, method="GET"):
    req = urllib.request.Request(f"http://127.0.0.1:{wedpool.http_port}{path}", method=method)
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.read().decode()


def alerts(wedpool):
    return json.loads(api(wedpool, "/api/v1/alerts"))


def live(wedpool, key):
    for a in alerts(wedpool)["alerts"]:
        if a["key"] == key:
            return a
    return None


def hold(wedpool, n):
    """n clients each in an open transaction: n server connections in use."""
    conns = []
    for _ in range(n):
        c = wedpool.connect(autocommit=False)
        c.execute("select 1")
        conns.append(c)
    return conns


def release(conns):
    for c in conns:
        c.rollback()
        c.close()


KEY = "pool_utilization:appdb/app"


def test_pool_over_85_percent_during_a_wedding_fires_critical_once_then_resolves(wedpool, tmp_path):
    configure(wedpool, tmp_path)
    wedpool.start(env=DURING_WEDDING)
    assert wait_for(lambda: json.loads(api(wedpool, "/api/v1/weddings"))["active_weddings"] == 1, timeout=10)
    conns = hold(wedpool, 9)  # 9 of 10: 90 %
    try:
        a = wait_for(lambda: (live(wedpool, KEY) or {}).get("state") == "firing" and live(wedpool, KEY), timeout=10)
        assert a, alerts(wedpool)
        assert a["severity"] == "CRITICAL"
        assert a["summary"] == "Database pool appdb at 90% capacity"
        assert a["weddings"] == "Smith & Jones" and a["guests_affected"] == 200 and a["active_weddings"] == 1
        assert a["actions"].split("\n")[:2] == ["Scale pool size", "Check for connection leaks"]
        assert a["runbook"].endswith("docs/runbook.md#wedpoolpoolutilizationhigh")
        assert "in use: 9" in a["details"] and "effective_max_pool_size: 10" in a["details"]
        rows = wedpool.admin("SHOW ALERTS")
        assert [(r["key"], r["state"], r["severity"]) for r in rows] == [(KEY, "firing", "CRITICAL")]
        metrics = api(wedpool, "/metrics")
        assert 'wedpool_alerts_firing{severity="critical"} 1' in metrics
        assert "alert pool_utilization:appdb/app firing, CRITICAL: Database pool appdb at 90% capacity" in wedpool.log()
        assert "Smith & Jones" in wedpool.log()
    finally:
        release(conns)
    assert wait_for(lambda: live(wedpool, KEY) is None, timeout=10), alerts(wedpool)
    events = [(h["key"], h["event"]) for h in alerts(wedpool)["history"] if h["key"] == KEY]
    assert events == [(KEY, "firing"), (KEY, "resolved")], events  # exactly one firing, no re-sends
    hist = wedpool.admin("SHOW ALERT_HISTORY")
    assert [r["event"] for r in hist if r["key"] == KEY] == ["firing", "resolved"]
    assert [r["detail"] for r in hist][-1] == "Database pool appdb at 90% capacity"
    assert 'wedpool_alerts_firing{severity="critical"} 0' in api(wedpool, "/metrics")


def test_ordinary_day_is_high_and_a_blip_shorter_than_for_s_never_fires(wedpool, tmp_path):
    configure(wedpool, tmp_path, rules={"pool_utilization": "threshold=85 for_s=300"})
    wedpool.start(env=ORDINARY_DAY)
    conns = hold(wedpool, 9)
    try:
        a = wait_for(lambda: live(wedpool, KEY), timeout=5)
        assert a and a["state"] == "pending", a
    finally:
        release(conns)  # after ~1-2 clock minutes: well under 5
    assert wait_for(lambda: live(wedpool, KEY) is None, timeout=5)
    assert not [h for h in alerts(wedpool)["history"] if h["key"] == KEY]
    # held for longer than for_s: HIGH on an ordinary day
    wedpool.admin("SHOW ALERTS")
    conns = hold(wedpool, 9)
    try:
        a = wait_for(lambda: (live(wedpool, KEY) or {}).get("state") == "firing" and live(wedpool, KEY), timeout=20)
        assert a and a["severity"] == "HIGH" and a["weddings"] == "" and a["active_weddings"] == 0, a
    finally:
        release(conns)


def test_ack_by_admin_and_http(wedpool, tmp_path):
    configure(wedpool, tmp_path, rules={"clients_waiting": "off"})
    wedpool.start(env=DURING_WEDDING)
    with pytest.raises(psycopg.Error) as e:
        wedpool.admin(f"ACK {KEY}")
    assert "no firing alert" in str(e.value)
    with pytest.raises(urllib.error.HTTPError) as he:
        api(wedpool, f"/api/v1/alerts/{KEY}/ack", method="POST")
    assert he.value.code == 404
    conns = hold(wedpool, 10)
    try:
        assert wait_for(lambda: (live(wedpool, KEY) or {}).get("state") == "firing", timeout=10)
        # stats users may look but not acknowledge
        with pytest.raises(psycopg.Error) as e:
            wedpool.admin(f"ACK {KEY}", user="stats")
        assert "permission denied" in str(e.value)
        assert wedpool.admin(f"ACK {KEY}") == "ACK"
        a = live(wedpool, KEY)
        assert a["state"] == "acknowledged" and a["acknowledged"] and a["acked_by"] == "postgres"
        assert "acknowledged by postgres" in wedpool.log()
        # the HTTP form, URL-encoded key
        body = api(wedpool, "/api/v1/alerts/pool_utilization%3Aappdb%2Fapp/ack?by=alice", method="POST")
        assert "acknowledged" in body
        assert live(wedpool, KEY)["acked_by"] == "http:alice"
        rules = {r["rule"]: r for r in wedpool.admin("SHOW ALERT_RULES")}
        assert rules["pool_utilization"]["threshold"] == "85" and rules["pool_utilization"]["firing"] == "1"
        assert rules["clients_waiting"]["enabled"] == "no"
        hist = [h["event"] for h in alerts(wedpool)["history"] if h["key"] == KEY]
        assert hist == ["firing", "ack", "ack"], hist
    finally:
        release(conns)
    # GET only elsewhere
    with pytest.raises(urllib.error.HTTPError) as he:
        api(wedpool, "/api/v1/alerts", method="POST")
    assert he.value.code == 405


def test_bad_alert_rules_refused_with_file_and_line_and_reload_applies(wedpool, tmp_path):
    configure(wedpool, tmp_path, rules={"pool_utilization": "threshold=85 for_s=30", "clients_waiting": "lots"})
    wedpool.start(wait=False)
    wedpool.proc.wait(10)
    assert wedpool.proc.returncode != 0
    assert "wedpool.ini:" in wedpool.log() and "alert rule 'clients_waiting': 'lots' is not threshold=N" in wedpool.log()
    # a good file; then a reload lowers the threshold below the load and the alert fires
    configure(wedpool, tmp_path, rules={"pool_utilization": "threshold=95 for_s=0"})
    wedpool.start(env=DURING_WEDDING)
    conns = hold(wedpool, 9)
    try:
        assert wait_for(lambda: live(wedpool, KEY) is None, timeout=2.5) is True  # 90 % < 95 %
        configure(wedpool, tmp_path, rules={"pool_utilization": "threshold=80 for_s=0"})
        wedpool.write_config()
        assert wedpool.admin("RELOAD") == "RELOAD"
        assert wait_for(lambda: (live(wedpool, KEY) or {}).get("state") == "firing", timeout=10)
        # a bad reload is refused and changes nothing
        configure(wedpool, tmp_path, rules={"pool_utilization": "threshold=200"})
        wedpool.write_config()
        with pytest.raises(psycopg.Error) as e:
            wedpool.admin("RELOAD")
        assert "threshold 200 is a percentage" in str(e.value)
        assert live(wedpool, KEY)["state"] == "firing"
        # switched off: resolved
        configure(wedpool, tmp_path, rules={"pool_utilization": "off"})
        wedpool.write_config()
        wedpool.admin("RELOAD")
        assert wait_for(lambda: live(wedpool, KEY) is None, timeout=10)
    finally:
        release(conns)


# ---------------------------------------------------------------------------------------------
# delivery through the channels, to local receivers

class Receiver:
    """An HTTP server in a thread that records every request (path, headers, body, time) and
    answers 202 with a small JSON body."""

    def __init__(self):
        self.requests = []
        lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with lock:
                    outer.requests.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                           "at": time.monotonic()})
                reply = b'{"status":"success","message":"Event processed","dedup_key":"x","sid":"SM1"}'
                self.send_response(500 if self.path.startswith("/broken") else 202)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def on(self, prefix):
        return [r for r in list(self.requests) if r["path"].startswith(prefix)]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def channels(receiver, exec_after_min=2):
    return {
        "oncall-slack": f"type=slack url={receiver.url}/slack min_severity=HIGH",
        "oncall-pd": f"type=pagerduty url={receiver.url}/pd routing_key=R0UTINGKEY min_severity=CRITICAL",
        "exec-sms": f"type=twilio url={receiver.url}/tw account_sid=AC123 auth_token=tok from=+15550100 "
                    f"to=+15550199 min_severity=CRITICAL after_min={exec_after_min}",
    }


def configure_channels(wedpool, tmp_path, receiver, rules=None, exec_after_min=2):
    configure(wedpool, tmp_path, rules)
    wedpool.alert_channels = channels(receiver, exec_after_min)


def slack_texts(receiver):
    return [json.loads(r["body"])["text"] for r in receiver.on("/slack")]


def pd_events(receiver):
    return [json.loads(r["body"]) for r in receiver.on("/pd")]


def sms_bodies(receiver):
    return [urllib.parse.parse_qs(r["body"].decode())["Body"][0] for r in receiver.on("/tw")]


def test_wedding_day_scenario_slack_pagerduty_then_sms_escalation_then_resolve(wedpool, tmp_path, receiver):
    """The seeds' scenario end to end: during a wedding, 90 % of the pool in use produces exactly one
    CRITICAL Slack message and one PagerDuty trigger naming the wedding, an SMS to the second tier
    two (clock) minutes later because nobody acknowledged, and resolves everywhere when the load drops."""
    configure_channels(wedpool, tmp_path, receiver)
    wedpool.start(env=DURING_WEDDING)
    assert wait_for(lambda: json.loads(api(wedpool, "/api/v1/weddings"))["active_weddings"] == 1, timeout=10)
    conns = hold(wedpool, 9)
    try:
        assert wait_for(lambda: receiver.on("/slack") and receiver.on("/pd"), timeout=10), receiver.requests
        slack = receiver.on("/slack")[0]
        assert json.loads(slack["body"])["text"] == "[CRITICAL] Database pool appdb at 90% capacity"
        blocks = json.dumps(json.loads(slack["body"])["blocks"])
        assert "Smith &amp; Jones" in blocks and "Scale pool size" in blocks and "Check for connection leaks" in blocks
        pd = pd_events(receiver)[0]
        assert receiver.on("/pd")[0]["path"] == "/pd/v2/enqueue"
        assert pd["event_action"] == "trigger" and pd["dedup_key"] == KEY and pd["routing_key"] == "R0UTINGKEY"
        assert pd["payload"]["severity"] == "critical"
        assert pd["payload"]["summary"] == "Database pool appdb at 90% capacity"
        assert pd["payload"]["custom_details"]["weddings"] == ["Smith & Jones"]
        assert pd["payload"]["custom_details"]["guests_affected"] == 200
        assert not receiver.on("/tw")  # the second tier waits for its after_min
        # 2 clock minutes later (2 real seconds at speed 60), still firing and unacknowledged: SMS
        assert wait_for(lambda: receiver.on("/tw"), timeout=10), receiver.requests
        sms = receiver.on("/tw")[0]
        waited = sms["at"] - receiver.on("/slack")[0]["at"]
        assert waited >= 1.5, f"SMS {waited:.2f} s (real) after Slack: before after_min=2 clock minutes"
        assert sms["path"] == "/tw/2010-04-01/Accounts/AC123/Messages.json"
        assert sms["headers"]["Authorization"] == "Basic " + base64.b64encode(b"AC123:tok").decode()
        body = sms_bodies(receiver)[0]
        assert body.startswith("[CRITICAL] Database pool appdb at 90% capacity") and "Smith & Jones" in body
        assert len(body) <= 160
        # exactly one of each while it keeps firing: 1.5 clock minutes of nothing more (an absence)
        time.sleep(1.5)
        assert slack_texts(receiver) == ["[CRITICAL] Database pool appdb at 90% capacity"]
        assert [e["event_action"] for e in pd_events(receiver)] == ["trigger"]
        assert len(receiver.on("/tw")) == 1
        hist = alerts(wedpool)["history"]
        assert [h["event"] for h in hist if h["key"] == KEY and h["event"] != "delivery"] == ["firing", "escalated"]
        sent = {h["channel"] for h in hist if h["event"] == "delivery" and h["result"] == "sent"}
        assert sent == {"oncall-slack", "oncall-pd", "exec-sms"}, hist
    finally:
        release(conns)
    # the load drops: every channel that was told hears the resolve; PagerDuty with the same key
    assert wait_for(lambda: len(pd_events(receiver)) == 2 and len(receiver.on("/slack")) == 2
                    and len(receiver.on("/tw")) == 2, timeout=10), receiver.requests
    assert pd_events(receiver)[1] == {"routing_key": "R0UTINGKEY", "event_action": "resolve", "dedup_key": KEY}
    assert slack_texts(receiver)[1] == "[RESOLVED] Database pool appdb at 90% capacity"
    assert live(wedpool, KEY) is None


def test_ack_stops_escalation(wedpool, tmp_path, receiver):
    configure_channels(wedpool, tmp_path, receiver)
    wedpool.start(env=DURING_WEDDING)
    assert wait_for(lambda: json.loads(api(wedpool, "/api/v1/weddings"))["active_weddings"] == 1, timeout=10)
    conns = hold(wedpool, 9)
    try:
        assert wait_for(lambda: receiver.on("/pd"), timeout=10)
        assert wedpool.admin(f"ACK {KEY}") == "ACK"
        time.sleep(4)  # 4 clock minutes: twice exec-sms's after_min
        assert not receiver.on("/tw"), "the second tier was paged after the ACK"
        assert len(receiver.on("/slack")) == 1 and len(receiver.on("/pd")) == 1
    finally:
        release(conns)
    assert wait_for(lambda: len(receiver.on("/pd")) == 2, timeout=10)
    assert pd_events(receiver)[1]["event_action"] == "resolve"
    assert not receiver.on("/tw")  # never told, so no resolve either


def test_ordinary_alert_becomes_critical_when_a_wedding_starts(wedpool, tmp_path, receiver):
    """HIGH before the ceremony goes to Slack only; at 13:00 the wedding starts, the alert becomes
    CRITICAL and re-notifies: Slack again and PagerDuty for the first time."""
    configure_channels(wedpool, tmp_path, receiver, rules={"pool_utilization": "threshold=85 for_s=0"},
                       exec_after_min=600)
    wedpool.start(env={"WEDPOOL_FAKE_NOW": "2026-06-13T12:56:00Z", "WEDPOOL_CLOCK_SPEED": "60"})
    conns = hold(wedpool, 9)
    try:
        assert wait_for(lambda: receiver.on("/slack"), timeout=10)
        assert slack_texts(receiver)[0] == "[HIGH] Database pool appdb at 90% capacity"
        assert not receiver.on("/pd")
        assert wait_for(lambda: receiver.on("/pd"), timeout=10), receiver.requests
        assert wait_for(lambda: len(receiver.on("/slack")) == 2, timeout=5)
        assert slack_texts(receiver)[1] == "[CRITICAL] Database pool appdb at 90% capacity"
        assert pd_events(receiver)[0]["payload"]["custom_details"]["weddings"] == ["Smith & Jones"]
        events = [h["event"] for h in alerts(wedpool)["history"] if h["key"] == KEY and h["event"] != "delivery"]
        assert events == ["firing", "severity"], events
    finally:
        release(conns)


def test_a_failing_channel_is_reported_through_the_others(wedpool, tmp_path, receiver):
    """alert_delivery_failing: a webhook answering 500 makes its own alert, which goes to Slack and
    never to the failing webhook itself."""
    configure(wedpool, tmp_path, rules={"pool_utilization": "threshold=85 for_s=0",
                                        "alert_delivery_failing": "for_s=0"})
    wedpool.alert_channels = {
        "audit": f"type=webhook url={receiver.url}/broken secret=s3cret min_severity=INFO retries=0",
        "oncall-slack": f"type=slack url={receiver.url}/slack min_severity=WARNING",
    }
    wedpool.start(env=ORDINARY_DAY)
    conns = hold(wedpool, 9)
    try:
        key = "alert_delivery_failing:audit"
        assert wait_for(lambda: any("Alert channel audit failing" in t for t in slack_texts(receiver)), timeout=15), \
            (slack_texts(receiver), alerts(wedpool))
        texts = slack_texts(receiver)
        assert texts[0] == "[HIGH] Database pool appdb at 90% capacity"
        assert texts[1].startswith("[WARNING] Alert channel audit failing"), texts
        assert len(receiver.on("/broken")) == 1  # the pool alert only: not told of its own failure
        a = live(wedpool, key)
        assert a["severity"] == "WARNING" and a["notified"] == ["oncall-slack"], a
        failed = [h for h in alerts(wedpool)["history"] if h["event"] == "delivery" and h["channel"] == "audit"]
        assert failed and failed[0]["result"] == "failed" and failed[0]["http_status"] == 500, failed
    finally:
        release(conns)


def test_waiting_clients_postgres_slots_and_a_stale_calendar(wedpool, tmp_path):
    """The other rules end to end: clients queueing, PostgreSQL's connection slots (from the
    statistics collection) and a calendar that cannot be fetched."""
    configure(wedpool, tmp_path, rules={"clients_waiting": "threshold=0 for_s=0",
                                        "pg_connections_pct": "threshold=0 for_s=0",
                                        "calendar_stale": "threshold=1"})
    wedpool.calendars["remote"] = "source=http://127.0.0.1:9/weddings.ics refresh_s=10"
    wedpool.settings.update({"pg_stats_interval_s": 1, "max_pool_size": 2})
    wedpool.start(env=ORDINARY_DAY)
    stale = wait_for(lambda: live(wedpool, "calendar_stale:remote"), timeout=10)
    assert stale and stale["severity"] == "WARNING", alerts(wedpool)
    assert stale["summary"].startswith("Wedding calendar remote not read for")
    pg = wait_for(lambda: live(wedpool, "pg_connections_pct:appdb"), timeout=10)
    assert pg and pg["summary"].startswith("PostgreSQL behind appdb at ") and "of its connection slots" in pg["summary"]
    assert "client backends: " in pg["details"]
    conns = hold(wedpool, 2)
    waiter = None
    try:
        waiter = threading.Thread(target=lambda: wedpool.connect().execute("select 1"), daemon=True)
        waiter.start()
        key = "clients_waiting:appdb/app"
        a = wait_for(lambda: (live(wedpool, key) or {}).get("state") == "firing" and live(wedpool, key), timeout=10)
        assert a and a["summary"] == "Database pool appdb has 1 clients waiting for a connection", a
    finally:
        release(conns)
    waiter.join(10)
    assert wait_for(lambda: live(wedpool, "clients_waiting:appdb/app") is None, timeout=10)


def test_backend_down_pages_and_resolves_when_postgres_is_back(wedpool, tmp_path, receiver):
    """The failover work's events reach the alerting: PostgreSQL stopped under wedpool raises
    backend_down for its host (HIGH on an ordinary day) on Slack, and starting it again resolves it
    there, without any client traffic."""
    from helpers import PGBIN, as_postgres
    configure_channels(wedpool, tmp_path, receiver)
    wedpool.settings.update(health_check_interval_ms=200)
    wedpool.start(env=ORDINARY_DAY)
    pg = wedpool.pg
    key = f"backend_down:127.0.0.1:{pg.port}"
    with wedpool.connect() as c:
        c.execute("select 1")
    as_postgres(PGBIN / "pg_ctl", "-D", pg.data, "-m", "fast", "-w", "stop")
    try:
        a = wait_for(lambda: (live(wedpool, key) or {}).get("state") == "firing" and live(wedpool, key), timeout=10)
        assert a, alerts(wedpool)
        assert a["severity"] == "HIGH" and a["host"] == f"127.0.0.1:{pg.port}", a
        assert wait_for(lambda: any(key in t or f"127.0.0.1:{pg.port}" in t for t in slack_texts(receiver)),
                        timeout=10), slack_texts(receiver)
        assert not pd_events(receiver)  # HIGH does not reach the CRITICAL-only PagerDuty channel
    finally:
        as_postgres(PGBIN / "pg_ctl", "-D", pg.data, "-l", f"{pg.dir}/log", "-w", "start")
    assert wait_for(lambda: live(wedpool, key) is None, timeout=15), alerts(wedpool)
    assert wait_for(lambda: len(slack_texts(receiver)) >= 2, timeout=10), slack_texts(receiver)
    assert "RESOLVED" in slack_texts(receiver)[-1].upper(), slack_texts(receiver)
    with wedpool.connect() as c:
        assert c.execute("select 1").fetchone()[0] == 1
