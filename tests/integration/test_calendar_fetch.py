"""Calendar sources (src/wedding/fetch.c) through build/fetch_driver, the worker alone on a libevent
loop: an iCalendar served over HTTP on 127.0.0.1 (ETag honoured, 304 on If-None-Match), a failing URL
that keeps the last good calendar, files re-read when they change, and a CSV export. No PostgreSQL
and no wedpool daemon: the driver prints one JSON line per update of the merged list and per
change of the sources' status."""
import http.server
import json
import os
import signal
import subprocess
import threading

import pytest

from helpers import ROOT, sanitizer_env, sanitizer_reports, wait_for

DRIVER = os.environ.get("WEDPOOL_FETCH_DRIVER", str(ROOT / "build" / "fetch_driver"))
FAKE_NOW = "2026-06-13T10:00:00Z"  # the Saturday of the fixtures below; the clock runs at real speed

pytestmark = pytest.mark.skipif(not os.access(DRIVER, os.X_OK), reason=f"fetch_driver not built: {DRIVER}")


def ics(*events):
    """A minimal valid iCalendar: events are (uid, summary, start, end) in UTC basic format."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//wedpool tests//fetch//EN"]
    for uid, summary, start, end in events:
        lines += ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20260601T000000Z", f"DTSTART:{start}", f"DTEND:{end}",
                  f"SUMMARY:{summary}", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()


SMITH = ("smith@test", "Smith-Jones", "20260613T140000Z", "20260613T230000Z")
PATEL = ("patel@test", "Patel-Okafor", "20260614T120000Z", "20260614T220000Z")


class CalendarServer:
    """Serves one calendar body with an ETag; answers 304 to a matching If-None-Match, or `fail`
    (an HTTP status) when set. Every request is recorded as (If-None-Match, status sent)."""

    def __init__(self, body, etag='"v1"'):
        self.body, self.etag, self.fail = body, etag, None
        self.requests = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                inm = self.headers.get("If-None-Match")
                with outer.lock:
                    body, etag, fail = outer.body, outer.etag, outer.fail
                    status = fail or (304 if inm is not None and inm == etag else 200)
                    outer.requests.append((inm, status))
                self.send_response(status)
                if status == 200:
                    self.send_header("Content-Type", "text/calendar")
                    self.send_header("ETag", etag)
                    self.send_header("Last-Modified", "Mon, 01 Jun 2026 00:00:00 GMT")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                else:
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/calendar.ics"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def set(self, **kw):
        with self.lock:
            for k, v in kw.items():
                setattr(self, k, v)

    def seen(self):
        with self.lock:
            return list(self.requests)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Driver:
    """build/fetch_driver with the given NAME=SPEC sources; its JSON lines and log collected."""

    def __init__(self, *sources):
        env = sanitizer_env()
        env["WEDPOOL_FAKE_NOW"] = FAKE_NOW
        self.proc = subprocess.Popen([DRIVER, "--zone", "Europe/London", *sources], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env)
        self.lines, self.log_lines = [], []
        self.lock = threading.Lock()
        self.readers = [threading.Thread(target=self._read, args=(self.proc.stdout, True), daemon=True),
                        threading.Thread(target=self._read, args=(self.proc.stderr, False), daemon=True)]
        for t in self.readers:
            t.start()

    def _read(self, stream, is_json):
        for line in stream:
            with self.lock:
                (self.lines if is_json else self.log_lines).append(json.loads(line) if is_json else line)

    def events(self, kind=None):
        with self.lock:
            return [e for e in self.lines if kind is None or e["event"] == kind]

    def latest(self):
        ev = self.events()
        return ev[-1] if ev else None

    def log(self):
        with self.lock:
            return "".join(self.log_lines)

    def status(self, name):
        ev = self.latest()
        return next((s for s in ev["status"] if s["name"] == name), None) if ev else None

    def names(self):
        ev = self.latest()
        return [w["name"] for w in ev["weddings"]] if ev else None

    def wait(self, pred, timeout=10.0, what="condition"):
        ok = wait_for(pred, timeout=timeout)
        assert ok, f"timed out waiting for {what}; last line {self.latest()}\nlog:\n{self.log()[-3000:]}"
        return ok

    def hup(self):
        self.proc.send_signal(signal.SIGHUP)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                pytest.fail(f"fetch_driver did not stop within 10 s of SIGINT:\n{self.log()[-3000:]}")
        for t in self.readers:
            t.join(timeout=5)
        assert self.proc.returncode == 0, f"fetch_driver exited {self.proc.returncode}:\n{self.log()[-3000:]}"
        reports = sanitizer_reports(self.log())
        assert not reports, f"sanitizer report from fetch_driver:\n{self.log()[-6000:]}"


@pytest.fixture
def server():
    s = CalendarServer(ics(SMITH))
    yield s
    s.close()


@pytest.fixture
def driver():
    started = []

    def start(*sources):
        d = Driver(*sources)
        started.append(d)
        return d
    yield start
    for d in started:
        d.stop()


@pytest.mark.time_limit(60)
def test_url_loaded_then_refreshed_with_if_none_match(server, driver):
    d = driver(f"google=source={server.url} refresh_s=10")
    d.wait(lambda: d.names() == ["Smith-Jones"], what="the served calendar")
    first = d.latest()
    assert first["weddings"][0]["calendar"] == "google"
    assert first["weddings"][0]["start"] == "2026-06-13T14:00:00Z"
    assert server.seen() == [(None, 200)], "the first fetch is unconditional"
    success = d.status("google")["last_success"]
    assert success > 0 and d.status("google")["last_error"] == ""

    # refresh_s later: a conditional GET with the ETag, answered 304, and nothing reloaded
    d.wait(lambda: len(server.seen()) >= 2, timeout=20, what="the refresh after refresh_s=10")
    assert server.seen()[1] == ('"v1"', 304)
    d.wait(lambda: d.status("google")["last_success"] > success, what="the 304 counted as a success")
    assert len(d.events("update")) == 1, "a 304 does not hand a new list to the loop"
    assert d.log().count("1 wedding in") == 1, "a 304 does not parse the calendar again"

    # a changed calendar (new ETag) is loaded at the next fetch (SIGHUP reads every source now)
    server.set(body=ics(SMITH, PATEL), etag='"v2"')
    d.hup()
    d.wait(lambda: d.names() == ["Smith-Jones", "Patel-Okafor"], what="the changed calendar")
    assert server.seen()[-1] == ('"v1"', 200)
    assert d.status("google")["weddings"] == 2


@pytest.mark.time_limit(60)
def test_failing_url_keeps_last_calendar(server, driver):
    d = driver(f"google=source={server.url} refresh_s=10")
    d.wait(lambda: d.names() == ["Smith-Jones"], what="the served calendar")
    success = d.status("google")["last_success"]

    server.set(fail=500)
    d.hup()
    d.wait(lambda: d.status("google")["failures"] == 1, what="the failed fetch")
    st = d.status("google")
    assert "HTTP 500" in st["last_error"]
    assert st["last_success"] == success and st["weddings"] == 1
    assert d.names() == ["Smith-Jones"], "the last good calendar is kept"
    d.hup()
    d.wait(lambda: d.status("google")["failures"] == 2, what="the second failed fetch")
    assert d.log().count("keeping the last good calendar") == 1, "one log line per failure streak"
    assert d.names() == ["Smith-Jones"]

    # the server recovers: the ETag of the last good calendar still matches, 304, error cleared
    server.set(fail=None)
    d.hup()
    d.wait(lambda: d.status("google")["last_error"] == "", what="the recovery")
    assert server.seen()[-1] == ('"v1"', 304)
    assert "recovered after 2 failed attempts" in d.log()
    assert d.names() == ["Smith-Jones"]
    assert d.status("google")["failures"] == 2


@pytest.mark.time_limit(60)
def test_file_reread_when_it_changes(tmp_path, driver):
    path = tmp_path / "weddings.ics"
    path.write_bytes(ics(SMITH))
    d = driver(f"internal=source={path} refresh_s=10")
    d.wait(lambda: d.names() == ["Smith-Jones"], what="the file's calendar")

    # replaced as a writer should (rename), and picked up within the 10 s file check
    tmp = tmp_path / "weddings.ics.new"
    tmp.write_bytes(ics(SMITH, PATEL))
    tmp.rename(path)
    d.wait(lambda: d.names() == ["Smith-Jones", "Patel-Okafor"], timeout=20, what="the changed file")

    # a file that no longer parses keeps the last good calendar, with the reason in the status
    tmp.write_bytes(b"this is not a calendar\n")
    tmp.rename(path)
    d.hup()
    d.wait(lambda: d.status("internal")["failures"] >= 1, what="the parse failure")
    assert "iCalendar" in d.status("internal")["last_error"]
    assert d.names() == ["Smith-Jones", "Patel-Okafor"]
    assert d.log().count("keeping the last good calendar (2 weddings)") == 1


@pytest.mark.time_limit(30)
def test_csv_file_source(tmp_path, driver):
    path = tmp_path / "weddings.csv"
    path.write_text("name,start,end,timezone,guests,vendors,venue\n"
                    "Smith-Jones,2026-06-13T15:00,2026-06-13T23:00,Europe/London,120,9,Old Barn\n"
                    "Broken,not-a-time,2026-06-13T23:00,Europe/London,10,1,Nowhere\n"
                    "Patel-Okafor,2026-06-14T12:00,2026-06-14T22:00,UTC,250,14,Hall\n")
    d = driver(f"internal=source={path}")  # format=csv from the extension
    d.wait(lambda: d.names() == ["Smith-Jones", "Patel-Okafor"], what="the CSV calendar")
    smith, patel = d.latest()["weddings"]
    assert smith["start"] == "2026-06-13T14:00:00Z"  # 15:00 in London (BST)
    assert (smith["guests"], smith["vendors"], smith["calendar"]) == (120, 9, "internal")
    assert patel["start"] == "2026-06-14T12:00:00Z"
    # the bad row is skipped with a warning naming the source; the rest still load
    assert any("WARNING" in line and 'calendar "internal"' in line for line in d.log().splitlines())
    assert d.status("internal")["last_error"] == ""
