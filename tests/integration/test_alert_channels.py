"""Alert delivery (issue #13, the channels): local receivers check each service's exact request
(payload, headers, auth) through `wedpool --test-alert` and through the running daemon's
`ALERT TEST`; Slack's 429 with Retry-After, a 400 not retried, 500s retried until the circuit
opens, EMERGENCY through a rate limit, a hung receiver that delays no other channel and no query,
SMTP into aiosmtpd, and the real Alertmanager listing (and resolving) what it was sent."""
import base64
import email
import email.policy
import hashlib
import hmac
import http.server
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request

import pytest

from helpers import free_port, run_cli, wait_for


class Receiver:
    """An HTTP receiver in a thread. script: a list of responses used in order (the last repeats):
    (status, headers dict, body) or "hang" (accept, read, never answer)."""

    def __init__(self, script=((200, {}, b"ok"),)):
        self.script = list(script)
        self.requests = []          # (monotonic time, path, headers, body)
        self.release = threading.Event()
        rx = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                rx.requests.append((time.monotonic(), self.path, dict(self.headers), body))
                step = rx.script[min(len(rx.requests) - 1, len(rx.script) - 1)]
                if step == "hang":
                    rx.release.wait(30)
                    return
                status, headers, out = step
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.srv.daemon_threads = True
        self.port = self.srv.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.release.set()
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(*script):
        r = Receiver(script or ((200, {}, b"ok"),))
        made.append(r)
        return r
    yield make
    for r in made:
        r.close()


def config_file(wedpool, channels):
    wedpool.alert_channels = channels
    return wedpool.write_config()


def run_test_alert(wedpool, channel, env=None):
    return run_cli("--test-alert", channel, "-c", wedpool.ini, env={**os.environ, **(env or {})}, timeout=30)


def test_http_channels_send_each_service_s_exact_request(wedpool, receiver):
    rx = receiver((200, {}, b"ok"))
    config_file(wedpool, {
        "oncall-slack": f"type=slack url=env:T_SLACK_URL min_severity=HIGH",
        "oncall-pd": f"type=pagerduty url={rx.url} routing_key=env:T_PD_KEY min_severity=CRITICAL",
        "oncall-sms": f"type=twilio url={rx.url} account_sid=AC0123 auth_token=env:T_TWILIO from=+15550100 "
                      f"to=+15550101,+15550102 min_severity=CRITICAL",
        "mail": f"type=resend url={rx.url} api_key=env:T_RESEND from='Wedpool <alerts@example.com>' "
                f"to=oncall@example.com min_severity=HIGH",
        "audit": f"type=webhook url={rx.url}/audit secret=env:T_HOOK min_severity=INFO",
        "am": f"type=alertmanager url={rx.url} min_severity=WARNING",
    })
    env = {"T_SLACK_URL": f"{rx.url}/services/T0/B0/xyz", "T_PD_KEY": "pdkey0123456789abcdef0123456789ab",
           "T_TWILIO": "twilio-token", "T_RESEND": "re_secret", "T_HOOK": "hook-secret"}
    for ch in ("oncall-slack", "oncall-pd", "oncall-sms", "mail", "audit", "am"):
        out = run_test_alert(wedpool, ch, env)
        assert out.returncode == 0, out.stderr
        assert f"test alert via {ch}: sent" in out.stdout
    by_path = {}
    for _, path, headers, body in rx.requests:
        by_path.setdefault(path, []).append((headers, body))
    # Slack: the URL is the secret; text fallback plus blocks
    (h, b), = by_path["/services/T0/B0/xyz"]
    assert h["Content-Type"] == "application/json" and "Authorization" not in h
    doc = json.loads(b)
    assert doc["text"] == "[HIGH] wedpool test notification for channel oncall-slack"
    assert doc["blocks"][0] == {"type": "section", "text": {"type": "mrkdwn",
                                "text": "*HIGH* wedpool test notification for channel oncall-slack"}}
    # PagerDuty Events API v2: the key in the body, dedup_key = the alert key
    (h, b), = by_path["/v2/enqueue"]
    doc = json.loads(b)
    assert doc["routing_key"] == env["T_PD_KEY"] and doc["event_action"] == "trigger"
    assert doc["dedup_key"] == "test:oncall-pd"
    assert doc["payload"]["severity"] == "critical" and doc["payload"]["source"]
    # Twilio: one form POST per number, HTTP Basic with the account SID and token
    sms = by_path["/2010-04-01/Accounts/AC0123/Messages.json"]
    assert len(sms) == 2
    for (h, b), to in zip(sms, ("+15550101", "+15550102")):
        assert h["Authorization"] == "Basic " + base64.b64encode(b"AC0123:twilio-token").decode()
        assert h["Content-Type"] == "application/x-www-form-urlencoded"
        form = urllib.parse.parse_qs(b.decode())
        assert form["To"] == [to] and form["From"] == ["+15550100"]
        assert form["Body"] == ["[CRITICAL] wedpool test notification for channel oncall-sms"]
    # Resend: Bearer key, User-Agent, an Idempotency-Key per alert state
    (h, b), = by_path["/emails"]
    assert h["Authorization"] == "Bearer re_secret"
    assert h["User-Agent"].startswith("wedpool/")
    assert h["Idempotency-Key"].startswith("test:mail/firing/")
    doc = json.loads(b)
    assert doc["to"] == ["oncall@example.com"] and doc["from"] == "Wedpool <alerts@example.com>"
    assert doc["subject"] == "[HIGH] wedpool test notification for channel mail"
    assert "<h2>HIGH: " in doc["html"] and doc["text"].startswith("HIGH: ")
    # webhook: X-Wedpool-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">
    (h, b), = by_path["/audit"]
    sig = dict(kv.split("=", 1) for kv in h["X-Wedpool-Signature"].split(","))
    assert abs(int(sig["t"]) - time.time()) < 60
    expect = hmac.new(b"hook-secret", sig["t"].encode() + b"." + b, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(sig["v1"], expect)
    assert json.loads(b)["status"] == "firing" and json.loads(b)["test"] is True
    # Alertmanager API v2: an array of alerts with labels
    (h, b), = by_path["/api/v2/alerts"]
    alerts = json.loads(b)
    assert alerts[0]["labels"]["alertname"] == "test" and alerts[0]["labels"]["severity"] == "warning"
    assert "endsAt" not in alerts[0]


def test_a_refused_notification_is_not_retried_and_the_exit_status_says_so(wedpool, receiver):
    rx = receiver((400, {"Content-Type": "text/plain"}, b"invalid_payload"))
    config_file(wedpool, {"s": f"type=slack url={rx.url}/hook min_severity=HIGH backoff_ms=50"})
    out = run_test_alert(wedpool, "s")
    assert out.returncode == 1
    assert "test alert via s: failed after 1 attempt" in out.stderr and "HTTP 400: invalid_payload" in out.stderr
    assert len(rx.requests) == 1
    out = run_test_alert(wedpool, "nope")
    assert out.returncode == 2 and "no channel named 'nope'" in out.stderr


def test_slack_429_retry_after_is_honoured(wedpool, receiver):
    # backoff_ms=10000: a retry after ~1 s can only come from Retry-After
    rx = receiver((429, {"Retry-After": "1"}, b"rate_limited"), (200, {}, b"ok"))
    config_file(wedpool, {"s": f"type=slack url={rx.url}/hook min_severity=HIGH backoff_ms=10000"})
    out = run_test_alert(wedpool, "s")
    assert out.returncode == 0, out.stderr
    assert "sent after 2 attempts" in out.stdout
    gap = rx.requests[1][0] - rx.requests[0][0]
    assert 0.95 <= gap < 3.0, gap


def test_email_over_smtp(wedpool, tmp_path):
    from aiosmtpd.controller import Controller

    got = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's naming
            got.append(envelope)
            return "250 OK"
    port = free_port()
    ctl = Controller(Handler(), hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        config_file(wedpool, {"mail": f"type=email url=smtp://127.0.0.1:{port} from='Wedpool <alerts@example.com>' "
                                      f"to='oncall@example.com, Lead <lead@example.com>' min_severity=HIGH"})
        out = run_test_alert(wedpool, "mail")
        assert out.returncode == 0, out.stderr
        assert wait_for(lambda: got, timeout=5)
    finally:
        ctl.stop()
    env = got[0]
    assert env.mail_from == "alerts@example.com"
    assert env.rcpt_tos == ["oncall@example.com", "lead@example.com"]
    msg = email.message_from_bytes(env.original_content, policy=email.policy.default)
    assert msg["Subject"] == "[HIGH] wedpool test notification for channel mail"
    assert msg["From"] == "Wedpool <alerts@example.com>"
    assert msg["Message-ID"] and msg["Date"]
    assert msg.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in msg.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert "HIGH: wedpool test notification" in msg.get_body(("plain",)).get_content()
    assert "<h2>HIGH: wedpool test notification" in msg.get_body(("html",)).get_content()


def channels_row(wedpool, name):
    return next(r for r in wedpool.admin("SHOW ALERT_CHANNELS") if r["name"] == name)


def test_500s_are_retried_then_the_circuit_opens_and_a_trial_closes_it(wedpool, receiver):
    rx = receiver(*[(500, {}, b"rollup_error")] * 3, (200, {}, b"ok"))
    wedpool.alert_channels = {"s": f"type=slack url={rx.url}/hook min_severity=HIGH retries=2 backoff_ms=50 "
                                   f"circuit_after=3 circuit_open_s=2"}
    wedpool.start()
    wedpool.admin("ALERT TEST s HIGH k1")
    assert wait_for(lambda: channels_row(wedpool, "s")["failed"] == "1", timeout=10)
    assert len(rx.requests) == 3  # the first try and two retries
    row = channels_row(wedpool, "s")
    assert row["circuit"] == "open" and row["failing_since"]
    wedpool.admin("ALERT TEST s HIGH k2")
    assert wait_for(lambda: channels_row(wedpool, "s")["circuit_open"] == "1", timeout=5)
    assert len(rx.requests) == 3  # the open circuit sent nothing
    assert "circuit breaker open after 3 consecutive failed attempts" in wedpool.log()
    # circuit_open_s later one notice is tried (half-open); it succeeds and the circuit closes
    time.sleep(2.1)  # the breaker's own period: nothing to poll before it ends
    wedpool.admin("ALERT TEST s HIGH k3")
    assert wait_for(lambda: channels_row(wedpool, "s")["sent"] == "1", timeout=5)
    assert channels_row(wedpool, "s")["circuit"] == "closed" and channels_row(wedpool, "s")["failing_since"] is None
    assert len(rx.requests) == 4


def test_emergency_bypasses_the_rate_limit(wedpool, receiver):
    rx = receiver((200, {}, b"ok"))
    wedpool.settings["http_listen"] = f"127.0.0.1:{wedpool.http_port}"
    wedpool.alert_channels = {"sms": f"type=slack url={rx.url}/hook min_severity=HIGH rate_limit_per_h=1"}
    wedpool.start()
    wedpool.admin("ALERT TEST sms CRITICAL a")
    assert wait_for(lambda: channels_row(wedpool, "sms")["sent"] == "1", timeout=5)
    wedpool.admin("ALERT TEST sms CRITICAL b")
    assert wait_for(lambda: channels_row(wedpool, "sms")["rate_limited"] == "1", timeout=5)
    wedpool.admin("ALERT TEST sms EMERGENCY c")
    assert wait_for(lambda: channels_row(wedpool, "sms")["sent"] == "2", timeout=5)
    keys = [json.loads(b)["blocks"][-1]["elements"][0]["text"].split("`")[1] for _, _, _, b in rx.requests]
    assert keys == ["a", "c"]
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{wedpool.http_port}/metrics", timeout=5).read().decode()
    assert 'wedpool_alert_notifications_total{channel="sms",result="sent"} 2' in metrics
    assert 'wedpool_alert_notifications_total{channel="sms",result="rate_limited"} 1' in metrics


def test_a_hung_receiver_delays_no_other_channel_and_no_query(wedpool, receiver):
    hung = receiver("hang")
    fast = receiver((200, {}, b"ok"))
    wedpool.alert_channels = {
        "hung": f"type=slack url={hung.url}/hook min_severity=HIGH timeout_ms=20000 retries=0",
        "fast": f"type=webhook url={fast.url}/hook secret=s min_severity=HIGH",
    }
    wedpool.start()
    for i in range(5):
        wedpool.admin(f"ALERT TEST hung CRITICAL h{i}")
    assert wait_for(lambda: len(hung.requests) == 1, timeout=5)  # it accepted and holds the request
    t0 = time.monotonic()
    wedpool.admin("ALERT TEST fast CRITICAL f")
    assert wait_for(lambda: fast.requests, timeout=5)
    assert fast.requests[0][0] - t0 < 1.0
    with wedpool.connect() as c:
        worst = 0.0
        for _ in range(50):
            s = time.monotonic()
            c.execute("select 1")
            worst = max(worst, time.monotonic() - s)
    assert worst < 0.5, worst
    row = channels_row(wedpool, "hung")
    assert row["queued"] == "4" and row["sent"] == "0"
    assert channels_row(wedpool, "fast")["sent"] == "1"
    # shutdown abandons the hung request (the fixture fails the test if wedpool needs over 10 s)


def test_channel_config_secrets_errors_and_reload(wedpool, receiver, tmp_path):
    rx = receiver((200, {}, b"ok"))
    wedpool.alert_channels = {
        "pd": "type=pagerduty routing_key=env:T_PD min_severity=CRITICAL",
        "sms": "type=twilio account_sid=AC1 auth_token=literal-token from=+15550100 to=+15550101 "
               "min_severity=CRITICAL after_min=15",
    }
    # a missing environment variable and a wrong line are refused with file:line and the reason
    ini = wedpool.write_config()
    out = run_cli("--check-config", "-c", ini, env={k: v for k, v in os.environ.items() if k != "T_PD"})
    assert out.returncode == 1
    lines = ini.read_text().splitlines()
    lineno = lines.index(next(l for l in lines if l.startswith("pd ="))) + 1
    assert f"{ini}:{lineno}: alert channel 'pd': key 'routing_key': environment variable T_PD is not set" in out.stderr
    wedpool.alert_channels["bad"] = "type=slack url=http://x min_severity=LOUD"
    ini = wedpool.write_config()
    out = run_cli("--check-config", "-c", ini, env={**os.environ, "T_PD": "k"})
    assert out.returncode == 1 and "alert channel 'bad': key 'min_severity': 'LOUD' is not one of" in out.stderr
    del wedpool.alert_channels["bad"]
    wedpool.start(env={"T_PD": "pd-secret-key"})
    shown = {r["key"]: r["value"] for r in wedpool.admin("SHOW CONFIG") if r["key"].startswith("alert_channels.")}
    assert shown["alert_channels.pd"] == "type=pagerduty routing_key=env:T_PD min_severity=CRITICAL"
    assert "auth_token=********" in shown["alert_channels.sms"]
    assert "literal-token" not in json.dumps(shown) and "pd-secret-key" not in wedpool.log()
    rows = wedpool.admin("SHOW ALERT_CHANNELS")
    assert [(r["name"], r["type"], r["min_severity"], r["after_min"]) for r in rows] == [
        ("pd", "pagerduty", "CRITICAL", "0"), ("sms", "twilio", "CRITICAL", "15")]
    # reload: a new channel appears, a changed one takes its new settings
    wedpool.alert_channels["hook"] = f"type=webhook url={rx.url}/h secret=s min_severity=INFO"
    wedpool.alert_channels["sms"] = wedpool.alert_channels["sms"].replace("after_min=15", "after_min=30")
    wedpool.write_config()
    assert wedpool.admin("RELOAD") == "RELOAD"
    rows = {r["name"]: r for r in wedpool.admin("SHOW ALERT_CHANNELS")}
    assert set(rows) == {"pd", "sms", "hook"} and rows["sms"]["after_min"] == "30"
    wedpool.admin("ALERT TEST hook INFO")
    assert wait_for(lambda: rx.requests, timeout=5)
    # a broken reload is refused and the running channels stay
    wedpool.alert_channels["hook"] = "type=webhook url=http://x min_severity=INFO"
    wedpool.write_config()
    with pytest.raises(Exception, match="needs key 'secret'"):
        wedpool.admin("RELOAD")
    assert {r["name"] for r in wedpool.admin("SHOW ALERT_CHANNELS")} == {"pd", "sms", "hook"}


def test_alertmanager_channel_re_sends_while_firing_and_resolves_with_the_same_labels(wedpool, receiver):
    rx = receiver((200, {}, b""))
    wedpool.alert_channels = {"am": f"type=alertmanager url={rx.url} min_severity=WARNING resend_s=1"}
    wedpool.start()
    wedpool.admin("ALERT TEST am CRITICAL backend_down:pg1")
    assert wait_for(lambda: len(rx.requests) >= 3, timeout=5)  # the first post and re-posts every second
    assert channels_row(wedpool, "am")["firing"] == "1"
    firing = [json.loads(b)[0] for _, _, _, b in rx.requests]
    assert all(a["labels"] == firing[0]["labels"] and "endsAt" not in a for a in firing)
    # the resolve names another severity: the labels of the firing alert are kept (its identity)
    wedpool.admin("ALERT TEST am WARNING backend_down:pg1 RESOLVED")
    assert wait_for(lambda: "endsAt" in json.loads(rx.requests[-1][3])[0], timeout=5)
    resolved = json.loads(rx.requests[-1][3])[0]
    assert resolved["labels"] == firing[0]["labels"] and resolved["labels"]["severity"] == "critical"
    n = len(rx.requests)
    time.sleep(1.5)  # a re-send period: nothing more may come
    assert len(rx.requests) == n and channels_row(wedpool, "am")["firing"] == "0"


@pytest.fixture
def alertmanager(tmp_path):
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        pytest.skip("prometheus-alertmanager is not installed (make deps)")
    d = tmp_path / "am"
    d.mkdir()
    (d / "am.yml").write_text("route:\n  receiver: 'null'\n  group_wait: 1s\nreceivers:\n  - name: 'null'\n")
    port, cport = free_port(), free_port()
    proc = subprocess.Popen([binary, f"--config.file={d / 'am.yml'}", f"--storage.path={d}",
                             f"--web.listen-address=127.0.0.1:{port}", f"--cluster.listen-address=",
                             "--log.level=warn"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"

    def ready():
        try:
            return urllib.request.urlopen(f"{url}/-/ready", timeout=1).status == 200
        except OSError:
            return False
    try:
        assert wait_for(ready, timeout=15), "alertmanager did not start"
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def am_alerts(url, **filters):
    q = urllib.parse.urlencode([("filter", f'{k}="{v}"') for k, v in filters.items()]
                               + [("active", "true"), ("silenced", "true"), ("inhibited", "true")])
    return json.loads(urllib.request.urlopen(f"{url}/api/v2/alerts?{q}", timeout=5).read())


@pytest.mark.time_limit(60)
def test_the_real_alertmanager_lists_and_resolves_an_alert(wedpool, alertmanager):
    config_file(wedpool, {"am": f"type=alertmanager url={alertmanager} min_severity=WARNING"})
    out = run_test_alert(wedpool, "am")
    assert out.returncode == 0, out.stderr
    assert wait_for(lambda: am_alerts(alertmanager, alertname="test"), timeout=10)
    alert = am_alerts(alertmanager, alertname="test")[0]
    assert alert["labels"]["alert_key"] == "test:am" and alert["status"]["state"] == "active"
    assert alert["annotations"]["summary"] == "wedpool test notification for channel am"
    # through the daemon: a firing alert, then its resolve with the same labels (endsAt)
    wedpool.start()
    wedpool.admin("ALERT TEST am CRITICAL pool_utilization:appdb")
    assert wait_for(lambda: am_alerts(alertmanager, alert_key="pool_utilization:appdb"), timeout=10)
    wedpool.admin("ALERT TEST am CRITICAL pool_utilization:appdb RESOLVED")
    assert wait_for(lambda: not am_alerts(alertmanager, alert_key="pool_utilization:appdb"), timeout=10)
    everything = json.loads(urllib.request.urlopen(f"{alertmanager}/api/v2/alerts?active=false", timeout=5).read())
    assert not [a for a in everything if a["labels"].get("alert_key") == "pool_utilization:appdb"
                and a["status"]["state"] == "active"]
