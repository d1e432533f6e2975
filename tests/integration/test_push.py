"""Push exporters against local receivers that check the wire formats: DogStatsD over UDP (the
seed's utilisation percent, wedding tags from the calendar) and OTLP/HTTP JSON (with New Relic's
api-key header, and the retry rules). Both are sent from the push outbox's worker thread."""
import http.server
import json
import re
import socket
import threading
import time
import urllib.request

from helpers import free_port, wait_for

DOGSTATSD_LINE = re.compile(r"^[A-Za-z0-9_.]+:-?[0-9.]+\|(g|c)\|#([^|#\s]+)$")


# A wedding in progress at the fake clock's 13:30Z: the tags come from the real wedding context.
WEDDING_ICS = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//wedpool tests//EN\r
BEGIN:VEVENT\r
UID:smith-jones@wedpool.test\r
DTSTAMP:20260601T000000Z\r
DTSTART:20260613T130000Z\r
DTEND:20260613T170000Z\r
SUMMARY:Smith & Jones\r
X-WEDPOOL-GUESTS:200\r
END:VEVENT\r
END:VCALENDAR\r
"""


def test_dogstatsd_datagrams(wedpool, tmp_path):
    port = free_port()
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", port))
    rx.settimeout(5)
    ics = tmp_path / "weddings.ics"
    ics.write_text(WEDDING_ICS)
    wedpool.calendars = {"weddings": f"source={ics}"}
    wedpool.settings.update({"dogstatsd_addr": f"127.0.0.1:{port}", "push_interval_s": 1, "environment": "staging",
                             "max_pool_size": 4, "timezone": "Europe/London"})
    wedpool.lanes = {"critical": "priority=1400 reserve=yes"}
    wedpool.start(env={"WEDPOOL_FAKE_NOW": "2026-06-13T13:30:00Z"})
    held = wedpool.connect(autocommit=False)
    held.execute("select 1")  # a transaction open: one of the pool's 4 servers in use = 25 %

    def util_lines():
        data = rx.recv(65536)
        assert len(data) <= 1432
        return data.decode().split("\n")
    lines, util = [], []
    deadline = time.time() + 8
    while time.time() < deadline:
        got = util_lines()
        lines += got
        util = [l for l in got if l.startswith("wedsync.database.pool.utilization:") and "active_weddings:1" in l]
        if util and float(util[0].split(":")[1].split("|")[0]) == 25.0:
            break
    rx.close()
    held.close()
    assert util, lines
    # PERCENT of the pool in use (seed 000's utilizationPercent): 25, not 0.25
    assert util[0].startswith("wedsync.database.pool.utilization:25.0|g|#"), util
    for line in lines:
        m = DOGSTATSD_LINE.match(line)
        assert m, f"not a DogStatsD metric line: {line!r}"
        tags = dict(t.split(":", 1) for t in m.group(2).split(","))
        assert tags["environment"] == "staging"
        assert tags["wedding_day"] in ("true", "false")
        assert tags["active_weddings"].isdigit()
    tags = dict(t.split(":", 1) for t in util[0].split("|#")[1].split(","))
    assert tags["pool_name"] == "appdb/app" and tags["database"] == "appdb"
    # the wedding context: Smith & Jones in progress
    assert tags["wedding_day"] == "true" and tags["active_weddings"] == "1"
    lane_lines = [l for l in lines if l.startswith("wedsync.database.pool.lane.active:")]
    assert {dict(t.split(":", 1) for t in l.split("|#")[1].split(","))["lane"] for l in lane_lines} >= {"default", "critical"}


class Receiver(http.server.BaseHTTPRequestHandler):
    requests = []
    statuses = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.requests.append((self.path, dict(self.headers), body))
        status = Receiver.statuses.pop(0) if Receiver.statuses else 200
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def start_receiver(statuses):
    Receiver.requests = []
    Receiver.statuses = list(statuses)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def push_counter(wedpool, name):
    text = urllib.request.urlopen(f"http://127.0.0.1:{wedpool.http_port}/metrics", timeout=5).read().decode()
    m = re.search(rf'^{name}{{exporter="otlp"}} (\d+)$', text, re.M)
    return int(m.group(1))


def test_otlp_json_with_api_key(wedpool):
    srv = start_receiver([])
    try:
        wedpool.settings.update({"otlp_endpoint": f"http://127.0.0.1:{srv.server_port}/v1/metrics",
                                 "otlp_headers": "api-key=NRAK-TEST123", "push_interval_s": 1,
                                 "http_listen": f"127.0.0.1:{wedpool.http_port}"})
        wedpool.start()
        with wedpool.connect() as c:
            c.execute("select 1")
        assert wait_for(lambda: [r for r in Receiver.requests if b"appdb" in r[2]], timeout=6), Receiver.requests
        path, headers, body = [r for r in Receiver.requests if b"appdb" in r[2]][0]
        assert path == "/v1/metrics"
        assert headers["Content-Type"] == "application/json"
        assert headers["api-key"] == "NRAK-TEST123"
        doc = json.loads(body)
        rm = doc["resourceMetrics"][0]
        attrs = {a["key"]: a["value"]["stringValue"] for a in rm["resource"]["attributes"]}
        assert attrs["service.name"] == "wedpool"
        metrics = {m["name"]: m for m in rm["scopeMetrics"][0]["metrics"]}
        util = metrics["wedsync.database.pool.utilization"]["gauge"]["dataPoints"][0]
        assert {a["key"] for a in util["attributes"]} >= {"pool_name", "database", "wedding_day", "active_weddings",
                                                          "environment"}
        assert metrics["wedsync.database.pool.utilization"]["unit"] == "%"
        assert 0 <= util["asDouble"] <= 100
        assert int(util["timeUnixNano"]) > 1_700_000_000 * 10**9
        tx = metrics["wedpool.transactions"]["sum"]
        assert tx["aggregationTemporality"] == 2 and tx["isMonotonic"] is True
        assert int(tx["dataPoints"][0]["asInt"]) >= 1 and "startTimeUnixNano" in tx["dataPoints"][0]
        assert isinstance(metrics["db_pool_max_connections"]["gauge"]["dataPoints"][0]["asInt"], str)
    finally:
        srv.shutdown()


def test_otlp_retries_only_retryable_statuses(wedpool):
    srv = start_receiver([503, 503, 200, 400] + [400] * 50)
    try:
        wedpool.settings.update({"otlp_endpoint": f"http://127.0.0.1:{srv.server_port}/v1/metrics",
                                 "push_interval_s": 2, "http_listen": f"127.0.0.1:{wedpool.http_port}"})
        wedpool.start()
        assert wait_for(lambda: len(Receiver.requests) >= 4, timeout=10), Receiver.requests
        # the fourth answer (400) has been handled once it is counted as failed
        assert wait_for(lambda: push_counter(wedpool, "wedpool_push_failed_total") >= 1)
        assert push_counter(wedpool, "wedpool_push_retries_total") == 2   # the two 503s
        assert push_counter(wedpool, "wedpool_push_sent_total") >= 1      # then 200
        assert push_counter(wedpool, "wedpool_push_failed_total") >= 1    # 400: given up at once
        assert wait_for(lambda: "OTLP export" in wedpool.log() and "HTTP 400" in wedpool.log()), wedpool.log()
    finally:
        srv.shutdown()
