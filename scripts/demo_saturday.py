#!/usr/bin/python3
"""make demo, second half: a wedding Saturday played by wedpool's fake clock in about two minutes.

Called by scripts/demo.sh once a throwaway PostgreSQL runs (PGPORT in the environment):
    demo_saturday.py path/to/wedpool WORKDIR

Saturday 13 June 2026 in Europe/London (peak season), three weddings. The clock starts at 07:00
local and runs WEDPOOL_CLOCK_SPEED (default 480) times real time, so 07:00-23:10 takes about 2 min.
The script prints the day as it goes (pre-warming, the load, scaling decisions, a capacity-cutting
RELOAD refused during the weddings) and ends with a summary table; DEMO_SUMMARY=path also writes
the summary as JSON. Only the Python standard library and psycopg.

The load is synthetic but not the forecast's formula: smooth ramps of ordinary Saturday traffic
(no 16:00 step), guests' activity that peaks around each ceremony, random think times. Its
concurrency is what the forecast is measured against.
"""
import json
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import psycopg

ZONE = ZoneInfo("Europe/London")
DAY = "2026-06-13"
START_LOCAL = datetime(2026, 6, 13, 7, 0, tzinfo=ZONE)
END_LOCAL = datetime(2026, 6, 13, 23, 10, tzinfo=ZONE)
SPEED = float(os.environ.get("DEMO_CLOCK_SPEED", "480"))
RELOAD_AT_LOCAL = datetime(2026, 6, 13, 14, 30, tzinfo=ZONE)
PEAK_FROM = datetime(2026, 6, 13, 16, 0, tzinfo=ZONE)   # saturday_evening, x10
PEAK_TO = datetime(2026, 6, 13, 23, 0, tzinfo=ZONE)
BASE = 2            # forecast_base_connections: an ordinary day's concurrency
MAX_POOL = 10
SCALE_MAX = 60
APP_PASS, ADMIN_PASS = "apppass", "adminpass"

WEDDINGS = [  # name, start, end (local), guests, vendors, venue, criticality
    ("Hartley & Okafor", "11:00", "16:00", 120, 9, "St Mary's, Richmond", 3),
    ("Nguyen & Price", "14:00", "19:00", 200, 14, "Kew Gardens", 4),
    ("Ashworth & Bell", "17:30", "23:00", 150, 11, "Hartwell Barn", 5),
]


def local(hhmm):
    h, m = map(int, hhmm.split(":"))
    return datetime(2026, 6, 13, h, m, tzinfo=ZONE)


def hours(dt):
    """Local hours since midnight of the demo day (float)."""
    return (dt - datetime(2026, 6, 13, tzinfo=ZONE)).total_seconds() / 3600


def hm(dt):
    return dt.astimezone(ZONE).strftime("%H:%M") if dt else "-"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def say(msg=""):
    print(msg, flush=True)


# ---------------------------------------------------------------- the load model (the "truth")

def interp(points, h):
    if h <= points[0][0]:
        return points[0][1]
    for (h0, v0), (h1, v1) in zip(points, points[1:]):
        if h0 <= h <= h1:
            return v0 + (v1 - v0) * (h - h0) / (h1 - h0)
    return points[-1][1]


# Ordinary Saturday traffic as a multiple of an ordinary day's concurrency: smooth, unlike the
# forecast's step windows (suppliers and couples in the morning, guests' evening browsing).
SATURDAY_CURVE = [(7, 2.0), (8, 3.5), (10, 5.0), (13, 5.5), (16, 6.5), (18, 9.0), (20, 11.0), (21.5, 10.0),
                  (23, 6.0), (24, 4.0)]


def guest_concurrency(h):
    """Guests' connections: ceremony photo uploads and live galleries peak in the first hour and a
    half, the reception is quieter, a tail after the end."""
    total = 0.0
    for _, s, e, guests, *_ in WEDDINGS:
        hs, he = hours(local(s)), hours(local(e))
        k = guests / 25
        if hs - 0.5 <= h < hs:
            total += k * 0.6
        elif hs <= h < hs + 1.5:
            total += k * 1.3
        elif hs + 1.5 <= h < he:
            total += k * 0.8
        elif he <= h < he + 0.5:
            total += k * 0.4
    return total


DUTY = {"default": 0.7, "critical": 0.1, "background": 0.4}
TX = {"default": (0.035, 0.015), "critical": (0.005, 0.045), "background": (0.2, 0.3)}  # (tx s, think s)
APP = {"default": "wedsync-web", "critical": "wedsync-ceremony-live", "background": "reporting-nightly"}
POOL_THREADS = {"default": 48, "critical": 5, "background": 3}


def target_clients(lane, h):
    if lane == "default":
        conc = BASE * interp(SATURDAY_CURVE, h) + guest_concurrency(h)
        return min(POOL_THREADS["default"], round(conc / DUTY["default"]))
    if lane == "critical":  # ceremony apps: one per wedding in progress, plus the coordinators' console
        return 1 + sum(1 for _, s, e, *_ in WEDDINGS if hours(local(s)) <= h < hours(local(e)))
    return 2 if h < 9 or h >= 22 else 1  # reports: morning batch, end-of-day batch


# ---------------------------------------------------------------- the fake clock, seen from here

class FakeClock:
    """Wedpool's fake time, estimated from /api/v1/weddings 'now' (whole seconds) and SPEED."""

    def __init__(self):
        self.lock = threading.Lock()
        self.anchor = None  # (fake datetime, perf_counter)

    def observe(self, iso_now, t_real):
        fake = datetime.fromisoformat(iso_now.replace("Z", "+00:00")) + timedelta(seconds=0.5)
        with self.lock:
            if self.anchor is None:
                self.anchor = (fake, t_real)
            else:
                # keep the estimate continuous: nudge towards the observation
                est = self._at(t_real)
                err = (fake - est).total_seconds()
                if abs(err) > SPEED:  # more than a real second off: jump
                    self.anchor = (fake, t_real)
                else:
                    self.anchor = (est + timedelta(seconds=err * 0.2), t_real)

    def _at(self, t_real):
        fake, t0 = self.anchor
        return fake + timedelta(seconds=(t_real - t0) * SPEED)

    def now(self):
        with self.lock:
            if self.anchor is None:
                return START_LOCAL
            return self._at(time.perf_counter())


# ---------------------------------------------------------------- talking to wedpool

class Wedpool:
    def __init__(self, binary, work, pgport):
        self.binary, self.work, self.pgport = binary, work, pgport
        self.port, self.http = free_port(), free_port()
        self.ini = os.path.join(work, "wedpool.ini")
        self.log = os.path.join(work, "wedpool.log")
        self.proc = None

    def write_config(self, max_pool_size=MAX_POOL, reserve=5):
        cal = os.path.join(self.work, "weddings.ics")
        with open(os.path.join(self.work, "users.txt"), "w") as f:
            f.write(f'"app" "{APP_PASS}"\n"postgres" "{ADMIN_PASS}"\n')
        with open(self.ini, "w") as f:
            f.write(f"""[databases]
appdb = host=127.0.0.1 port={self.pgport} dbname=appdb user=app

[calendars]
wedsync = source={cal} format=ics

[lanes]
critical   = priority=1400 reserve=yes
default    = priority=100
background = priority=10 max_active=25% queue_timeout_ms=5000 max_waiting=100

[lane_rules]
critical   = application_name=wedsync-ceremony*
background = application_name=report*

[wedpool]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = users.txt
pool_mode = transaction
min_pool_size = 2
max_pool_size = {max_pool_size}
reserve_pool_size = {reserve}
admin_users = postgres
http_listen = 127.0.0.1:{self.http}
pidfile = {os.path.join(self.work, "wedpool.pid")}
timezone = Europe/London
wedding_protection = in_progress
prewarm_lead_s = 1800
prewarm_rate_per_s = 10
forecast_base_connections = {BASE}
scale_up_utilization_pct = 70
scale_target_utilization_pct = 80
scale_max_pool_size = {SCALE_MAX}
scale_down_after_s = 20
; idle connections above the warm target close after 5 s real (40 min of the fake day), so what is
; open before a ceremony is the pre-warming's doing, not the leftovers of earlier load
idle_timeout_ms = 5000
pg_stats_interval_s = 5
""")

    def write_calendar(self):
        lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//wedsync//wedpool demo//EN"]
        for i, (name, s, e, guests, vendors, venue, crit) in enumerate(WEDDINGS):
            lines += ["BEGIN:VEVENT", f"UID:demo-{i}@wedsync.example", "DTSTAMP:20260601T000000Z",
                      f"DTSTART;TZID=Europe/London:{DAY.replace('-', '')}T{s.replace(':', '')}00",
                      f"DTEND;TZID=Europe/London:{DAY.replace('-', '')}T{e.replace(':', '')}00",
                      f"SUMMARY:{name}", f"LOCATION:{venue.replace(',', chr(92) + ',')}",
                      f"X-WEDPOOL-GUESTS:{guests}", f"X-WEDPOOL-VENDORS:{vendors}", f"X-WEDPOOL-CRITICAL:{crit}",
                      "END:VEVENT"]
        lines.append("END:VCALENDAR")
        with open(os.path.join(self.work, "weddings.ics"), "w", newline="") as f:
            f.write("\r\n".join(lines) + "\r\n")

    def start(self):
        env = dict(os.environ)
        env["WEDPOOL_FAKE_NOW"] = START_LOCAL.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        env["WEDPOOL_CLOCK_SPEED"] = f"{SPEED:g}"
        self.logf = open(self.log, "w")
        self.proc = subprocess.Popen([self.binary, "-c", self.ini], stdout=self.logf, stderr=subprocess.STDOUT,
                                     env=env, cwd=self.work)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"demo: wedpool exited at start (status {self.proc.returncode}); log:\n"
                                 + open(self.log).read())
            try:
                self.get("/api/v1/weddings")
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("demo: wedpool's HTTP API did not come up in 10 s")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def get(self, path, raw=False):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http}{path}", timeout=5) as r:
            body = r.read().decode()
        return body if raw else json.loads(body)

    def admin(self, sql):
        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", password=ADMIN_PASS,
                             dbname="wedpool", autocommit=True, connect_timeout=5) as c:
            cur = c.execute(sql, prepare=False)
            if cur.description is None:
                return cur.statusmessage
            cols = [d.name for d in cur.description]
            return [dict(zip(cols, row)) for row in cur.fetchall()]

    def pool(self):
        for p in self.get("/api/v1/pools")["pools"]:
            if p["database"] == "appdb" and p["user"] == "app":
                return p
        return None


# ---------------------------------------------------------------- /metrics histograms

def parse_acquire(metrics_text):
    """{lane: [(le, cumulative count), ...]} of db_pool_acquire_seconds for appdb/app."""
    out = {}
    for line in metrics_text.splitlines():
        if not line.startswith("db_pool_acquire_seconds_bucket{"):
            continue
        labels, value = line[len("db_pool_acquire_seconds_bucket{"):].rsplit("} ", 1)
        kv = dict(part.split("=", 1) for part in labels.split('",') if "=" in part)
        kv = {k: v.strip('"') for k, v in kv.items()}
        if kv.get("database") != "appdb":
            continue
        le = math.inf if kv["le"] == "+Inf" else float(kv["le"])
        out.setdefault(kv["lane"], []).append((le, float(value)))
    return out


def quantile(q, buckets):
    """PromQL's histogram_quantile over cumulative (le, count) buckets; None when empty."""
    buckets = sorted(buckets)
    if not buckets or buckets[-1][1] <= 0:
        return None
    total = buckets[-1][1]
    rank = q * total
    prev_le, prev_c = 0.0, 0.0
    for le, c in buckets:
        if c >= rank:
            if le == math.inf:
                return prev_le
            if c == prev_c:
                return le
            return prev_le + (le - prev_le) * (rank - prev_c) / (c - prev_c)
        prev_le, prev_c = le, c
    return buckets[-1][0]


def acquire_delta(before, after):
    res = {}
    for lane, b_after in after.items():
        b_before = dict(before.get(lane, []))
        delta = [(le, c - b_before.get(le, 0.0)) for le, c in b_after]
        count = max((c for _, c in delta), default=0)
        p99 = quantile(0.99, delta)
        p50 = quantile(0.50, delta)
        res[lane] = {"count": int(count), "p50_ms": None if p50 is None else round(p50 * 1000, 4),
                     "p99_ms": None if p99 is None else round(p99 * 1000, 4),
                     "p99_bucket_le_ms": None if p99 is None else
                     next((le * 1000 for le, c in sorted(delta) if c >= 0.99 * count), None),
                     "over_1ms": int(count - max((c for le, c in delta if le <= 0.001), default=0))}
    return res


def scaling_counts(metrics_text):
    counts = {}
    for line in metrics_text.splitlines():
        if line.startswith("wedpool_scaling_events_total{"):
            labels, value = line[len("wedpool_scaling_events_total{"):].rsplit("} ", 1)
            kv = {k: v.strip('"') for k, v in (p.split("=", 1) for p in labels.split('",'))}
            counts[f'{kv["direction"]}/{kv["reason"]}'] = int(float(value))
    return counts


# ---------------------------------------------------------------- the clients

class Load:
    def __init__(self, wp, clock):
        self.wp, self.clock = wp, clock
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.samples = []  # (fake datetime, lane, latency s, ok)
        self.errors = {}
        self.threads = []

    def start(self):
        for lane, n in POOL_THREADS.items():
            for i in range(n):
                t = threading.Thread(target=self.client, args=(lane, i), daemon=True)
                t.start()
                self.threads.append(t)

    def client(self, lane, idx):
        rnd = random.Random(hash((lane, idx)) & 0xffffffff)
        tx, think = TX[lane]
        sql = f"select pg_sleep({tx})"
        conn = None
        while not self.stop.is_set():
            h = hours(self.clock.now())
            if idx >= target_clients(lane, h):
                time.sleep(0.05)
                continue
            try:
                if conn is None:
                    conn = psycopg.connect(host="127.0.0.1", port=self.wp.port, user="app", password=APP_PASS,
                                           dbname="appdb", application_name=APP[lane], autocommit=True,
                                           prepare_threshold=None, connect_timeout=10)
                at = self.clock.now()
                t0 = time.perf_counter()
                conn.execute(sql)
                lat = time.perf_counter() - t0
                with self.lock:
                    self.samples.append((at, lane, lat))
            except psycopg.Error as e:
                with self.lock:
                    key = f"{lane}: {getattr(e, 'sqlstate', None) or type(e).__name__}"
                    self.errors[key] = self.errors.get(key, 0) + 1
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.1)
                continue
            time.sleep(think * rnd.uniform(0.6, 1.4))
        if conn is not None:
            conn.close()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=10)


# ---------------------------------------------------------------- the day

def pg_server_conns(pgc):
    return pgc.execute("select count(*) from pg_stat_activity where datname = 'appdb' and usename = 'app' "
                       "and backend_type = 'client backend' and pid <> pg_backend_pid()").fetchone()[0]


def main():
    binary, work = sys.argv[1], sys.argv[2]
    pgport = int(os.environ["PGPORT"])
    wp = Wedpool(binary, work, pgport)
    wp.write_calendar()
    wp.write_config()
    say(f"== the calendar ({os.path.join(work, 'weddings.ics')}), Saturday {DAY}, Europe/London, peak season")
    for name, s, e, guests, vendors, venue, crit in WEDDINGS:
        say(f"   {s}-{e}  {name:<18} {guests:>4} guests  {vendors:>2} vendors  {venue}")
    say(f"== wedpool: max_pool_size {MAX_POOL} (scale_max_pool_size {SCALE_MAX}), forecast_base_connections "
        f"{BASE}, lanes critical (reserve) / default / background")
    say(f"== fake clock from {hm(START_LOCAL)} local, {SPEED:g}x: one real second is {SPEED / 60:g} minutes; "
        f"log: {wp.log}")
    wp.start()
    try:
        return play(wp, pgport)
    finally:
        wp.stop()
        if os.environ.get("DEMO_LOG"):
            shutil.copyfile(wp.log, os.environ["DEMO_LOG"])


def play(wp, pgport):
    clock = FakeClock()
    clock.observe(wp.get("/api/v1/weddings")["now"], time.perf_counter())
    forecast = wp.get("/api/v1/forecast?hours=18")["steps"]
    pgc = psycopg.connect(host="127.0.0.1", port=pgport, user="app", password=APP_PASS, dbname="postgres",
                          autocommit=True)

    say("\n== the forecast for the day (SHOW FORECAST, every hour shown)")
    for st in forecast:
        t = datetime.fromisoformat(st["start"].replace("Z", "+00:00")).astimezone(ZONE)
        if t.minute == 0 and t <= END_LOCAL:
            say(f"   {hm(t)}  x{st['multiplier']:<5.4g} predicted {st['predicted_connections']:>3}  "
                f"warm_target {st['warm_target']:>3}  {st['why'][:96]}")

    load = Load(wp, clock)
    load.start()
    say("\n== the day (local time; server = connections in pg_stat_activity; active = in use; clients = load)")
    say(f"   {'time':<5} {'crit':<9} {'weds':>4} {'warm':>4} {'max':>4} {'server':>6} {'active':>6} {'wait':>4}"
        f"  clients d/c/b")

    timeline = []           # dicts per sample
    seen_events = 0
    events = []
    next_line = START_LOCAL
    next_events_poll = 0.0
    metrics_at = {}         # "peak_from" / "peak_to" / "start" / "end" -> acquire buckets
    metrics_at["start"] = parse_acquire(wp.get("/metrics", raw=True))
    reload_result = None
    last = {}
    slow = []
    while True:
        t_real = time.perf_counter()
        lap = {}
        w = wp.get("/api/v1/weddings")
        lap["weddings"] = time.perf_counter() - t_real
        clock.observe(w["now"], t_real)
        now = clock.now().astimezone(ZONE)
        p = wp.pool() or {}
        lap["pools"] = time.perf_counter() - t_real
        server = pg_server_conns(pgc)
        lap["pg"] = time.perf_counter() - t_real
        sample = {"t": now, "warm_target": p.get("warm_target", 0), "effective_max": p.get("effective_max_pool_size", 0),
                  "active": p.get("active", 0), "idle": p.get("idle", 0), "waiting": p.get("waiting", 0),
                  "server": server, "criticality": w["criticality_name"], "active_weddings": w["active_weddings"],
                  "protected": w["protected"]}
        timeline.append(sample)
        if "peak_from" not in metrics_at and now >= PEAK_FROM:
            metrics_at["peak_from"] = parse_acquire(wp.get("/metrics", raw=True))
            say(f"   -- {hm(now)} saturday_evening (x10) begins: acquisition is measured from here to {hm(PEAK_TO)}")
        if "peak_to" not in metrics_at and now >= PEAK_TO:
            metrics_at["peak_to"] = parse_acquire(wp.get("/metrics", raw=True))
        if t_real >= next_events_poll:
            next_events_poll = t_real + 0.5
            rows = [r for r in wp.admin("SHOW SCALING") if r["direction"] != "now"]
            lap["show_scaling"] = time.perf_counter() - t_real
            for r in rows[seen_events:]:
                events.append(r)
                at = datetime.fromisoformat(r["at"].replace("Z", "+00:00")).astimezone(ZONE)
                if r["direction"] in ("prewarm", "grow", "shrink", "refused", "override", "manual", "hook"):
                    say(f"   -- {hm(at)} scaling: {r['direction']} ({r['reason']}) {r['from']} -> {r['to']}: "
                        f"{r['why'][:110]}")
            seen_events = len(rows)
        for k in ("criticality", "protected"):
            if last.get(k) is not None and last[k] != sample[k]:
                if k == "criticality":
                    say(f"   -- {hm(now)} criticality {last[k]} -> {sample[k]} ({w['active_weddings']} in progress)")
                else:
                    say(f"   -- {hm(now)} wedding protection {'ON' if sample[k] else 'off'}: "
                        f"{w['protection'] or 'no wedding in progress'}")
            last[k] = sample[k]
        if now >= next_line:
            h = hours(now)
            say(f"   {hm(now):<5} {w['criticality_name']:<9} {w['active_weddings']:>4} {sample['warm_target']:>4} "
                f"{sample['effective_max']:>4} {server:>6} {sample['active']:>6} {sample['waiting']:>4}  "
                f"{target_clients('default', h)}/{target_clients('critical', h)}/{target_clients('background', h)}")
            next_line = next_line + timedelta(minutes=30)
            while next_line <= now:
                next_line += timedelta(minutes=30)
        if reload_result is None and now >= RELOAD_AT_LOCAL:
            reload_result = protection_scene(wp, now)
        took = time.perf_counter() - t_real
        if took > 1.0:
            slow.append({"at": hm(now), "seconds": round(took, 2), "steps": {k: round(v, 2) for k, v in lap.items()}})
            say(f"   -- {hm(now)} (the demo's sampling took {took:.1f} s real: {slow[-1]['steps']})")
        if now >= END_LOCAL:
            break
        time.sleep(max(0.0, 0.1 - (time.perf_counter() - t_real)))

    load.finish()
    final_metrics = wp.get("/metrics", raw=True)
    lanes_api = next((p["lanes"] for p in wp.get("/api/v1/lanes")["pools"] if p["database"] == "appdb"), [])
    metrics_at["end"] = parse_acquire(final_metrics)
    metrics_at.setdefault("peak_from", metrics_at["start"])
    metrics_at.setdefault("peak_to", metrics_at["end"])
    show_scaling = wp.admin("SHOW SCALING")
    pgc.close()
    summary = summarize(wp, forecast, timeline, load, metrics_at, final_metrics, show_scaling, reload_result)
    summary["lanes_day"] = {l["lane"]: {k: l[k] for k in ("served", "shed", "timeouts", "reserve_uses")} |
                            {"acquire_p99_ms": round(l["acquire"]["p99_ms"], 4)} for l in lanes_api}
    say("   lanes over the day (/api/v1/lanes): " + "; ".join(
        f"{n} served {v['served']}, shed {v['shed']}, timeouts {v['timeouts']}, reserve uses {v['reserve_uses']}"
        for n, v in summary["lanes_day"].items()))
    summary["slow_samples"] = slow
    path = os.environ.get("DEMO_SUMMARY")
    if path:
        with open(path, "w") as f:
            json.dump(summary, f, indent=2, default=str)
        say(f"   summary written to {path}")
    return summary


def protection_scene(wp, now):
    """During the weddings: a RELOAD that lowers max_pool_size is refused, naming the weddings; SCALE
    down is refused too; PROTECTION OVERRIDE lets it through (then the configuration is restored)."""
    res = {"at": now.isoformat()}
    say(f"\n   == {hm(now)} an operator lowers max_pool_size {MAX_POOL} -> 4 and reserve_pool_size 5 -> 0, "
        f"then RELOAD")
    wp.write_config(max_pool_size=4, reserve=0)
    try:
        wp.admin("RELOAD")
        res["reload_refused"] = False
        res["reload_message"] = "RELOAD accepted"
        say("      RELOAD accepted (NOT expected while weddings are in progress)")
    except psycopg.Error as e:
        msg = str(e).strip()
        res["reload_refused"] = True
        res["reload_message"] = msg
        say(f"      refused: {msg}")
    res["names_weddings"] = all(n in res["reload_message"] for n, s, e, *_ in WEDDINGS
                                if local(s) <= now < local(e))
    res["mentions_override"] = "PROTECTION OVERRIDE" in res["reload_message"]
    cfg = {r["key"]: r["value"] for r in wp.admin("SHOW CONFIG")}
    res["max_pool_size_after_refusal"] = cfg.get("max_pool_size")
    say(f"      max_pool_size still {cfg.get('max_pool_size')} (SHOW CONFIG): nothing was applied")
    try:
        wp.admin("SCALE appdb 4")
        res["scale_refused"] = False
        say("      SCALE appdb 4 accepted (NOT expected)")
    except psycopg.Error as e:
        res["scale_refused"] = True
        say(f"      SCALE appdb 4 refused: {str(e).strip()[:160]}...")
    try:
        msg = wp.admin("PROTECTION OVERRIDE 15 'demo: planned cut, approved by the on-call lead'")
        say(f"      PROTECTION OVERRIDE 15 'demo: planned cut, approved by the on-call lead' -> {msg}")
        wp.admin("RELOAD")
        cfg = {r["key"]: r["value"] for r in wp.admin("SHOW CONFIG")}
        res["reload_after_override"] = cfg.get("max_pool_size") == "4"
        say(f"      RELOAD now applies: max_pool_size {cfg.get('max_pool_size')} (the effective size stays at the "
            f"forecast's warm target)")
    except psycopg.Error as e:
        res["reload_after_override"] = False
        say(f"      override/RELOAD failed: {str(e).strip()}")
    wp.write_config()
    wp.admin("RELOAD")  # back to max_pool_size 10: a raise is never refused
    say(f"      configuration restored (max_pool_size {MAX_POOL}, reserve_pool_size 5), RELOAD\n")
    return res


def summarize(wp, forecast, timeline, load, metrics_at, final_metrics, show_scaling, reload_result):
    first_name, first_s, *_ = WEDDINGS[0]
    ceremony = local(first_s)
    # the warm target in force when the first ceremony starts, and when the pool first had it open
    step = next(s for s in forecast
                if datetime.fromisoformat(s["start"].replace("Z", "+00:00")) == ceremony.astimezone(timezone.utc))
    target = step["warm_target"]
    set_at = next((s["t"] for s in timeline if s["warm_target"] >= target), None)
    reached_s = next((s for s in timeline if s["server"] >= target and s["warm_target"] >= target), None)
    reached = reached_s["t"] if reached_s else None
    at_ceremony = next((s for s in timeline if s["t"] >= ceremony), None)
    load_reached = next((s["t"] for s in timeline if s["active"] >= target), None)
    since = None  # start of the last unbroken stretch with >= target server connections before the ceremony
    for s in timeline:
        if s["t"] >= ceremony:
            break
        since = (since or s["t"]) if s["server"] >= target else None
    reached_any = next((s["t"] for s in timeline if s["server"] >= target), None)

    # forecast accuracy per 15-minute step: predicted vs the highest sampled active server connections
    steps = []
    for st in forecast:
        t0 = datetime.fromisoformat(st["start"].replace("Z", "+00:00")).astimezone(ZONE)
        t1 = t0 + timedelta(minutes=15)
        if t0 < START_LOCAL or t1 > PEAK_TO:
            continue
        obs = [s["active"] for s in timeline if t0 <= s["t"] < t1]
        if not obs:
            continue
        p, o = st["predicted_connections"], max(obs)
        acc = 1.0 if max(p, o) == 0 else 1 - abs(p - o) / max(p, o)
        steps.append({"start": hm(t0), "predicted": p, "observed_peak": o, "accuracy": round(acc, 3)})
    mean_acc = sum(s["accuracy"] for s in steps) / len(steps) if steps else None
    windows = []
    for name, a, b in (("early (wedding day x3)", "07:00", "08:00"), ("saturday_morning x5", "08:00", "16:00"),
                       ("saturday_evening x10", "16:00", "23:00")):
        sel = [s for s in steps if a <= s["start"] < b]
        if sel:
            p, o = max(s["predicted"] for s in sel), max(s["observed_peak"] for s in sel)
            windows.append({"window": name, "from": a, "to": b, "predicted_peak": p, "observed_peak": o,
                            "accuracy": round(1 - abs(p - o) / max(p, o), 3)})

    peak_acq = acquire_delta(metrics_at["peak_from"], metrics_at["peak_to"])
    day_acq = acquire_delta(metrics_at["start"], metrics_at["end"])
    e2e = {}
    for lane in POOL_THREADS:
        lats = sorted(l for at, ln, l in load.samples if ln == lane and PEAK_FROM <= at < PEAK_TO)
        e2e[lane] = {"count": len(lats),
                     "p99_ms": round(lats[min(len(lats) - 1, int(0.99 * len(lats)))] * 1000, 2) if lats else None}
    counts = scaling_counts(final_metrics)
    decisions = [r for r in show_scaling if r["direction"] != "now"]
    peak_active = max((s["active"] for s in timeline), default=0)
    peak_eff = max((s["effective_max"] for s in timeline), default=0)
    waits = max((s["waiting"] for s in timeline), default=0)

    summary = {
        "day": DAY, "timezone": "Europe/London", "clock_speed": SPEED,
        "weddings": [{"name": n, "start": s, "end": e, "guests": g} for n, s, e, g, *_ in WEDDINGS],
        "prewarm": {"first_ceremony": first_name, "first_ceremony_start": first_s, "warm_target_at_ceremony": target,
                    "warm_target_set_at": hm(set_at), "server_connections_reached_at": hm(reached),
                    "minutes_before_ceremony": None if reached is None else
                    round((ceremony - reached).total_seconds() / 60, 1),
                    "reached_before_ceremony": reached is not None and reached < ceremony,
                    "server_connections_first_at_target": hm(reached_any),
                    "in_use_when_reached": reached_s["active"] if reached_s else None,
                    "at_ceremony_start": None if at_ceremony is None else
                    {"time": hm(at_ceremony["t"]), "server": at_ceremony["server"],
                     "in_use": at_ceremony["active"]},
                    "load_first_needed_target_at": hm(load_reached),
                    "server_at_or_above_target_since": hm(since)},
        "acquire_p99_ms_peak": {lane: v["p99_ms"] for lane, v in peak_acq.items()},
        "acquire_peak": peak_acq, "acquire_day": day_acq,
        "peak_window": f"{hm(PEAK_FROM)}-{hm(PEAK_TO)}",
        "end_to_end_p99_ms_peak": e2e,
        "forecast_accuracy": {"source": "computed by the demo: /api/v1/forecast predicted_connections vs the "
                                        "highest active server connections sampled from /api/v1/pools every 0.1 s "
                                        "real (48 s fake) in each 15-minute step",
                              "mean_step_accuracy": None if mean_acc is None else round(mean_acc, 3),
                              "steps": steps, "windows": windows},
        "scaling": {"decisions": sum(counts.values()), "by_direction_reason": counts,
                    "show_scaling_rows": len(decisions)},
        "peak_active_server_connections": peak_active, "peak_effective_max_pool_size": peak_eff,
        "max_waiting_clients_sampled": waits,
        "client_errors": load.errors,
        "protection": reload_result,
    }

    say("== summary")
    rows = [
        ("first ceremony", f"{first_s} {first_name}"),
        ("warm target at the ceremony", f"{target} server connections (set at {hm(set_at)})"),
        ("pre-warm reached (pg_stat_activity)",
         f"{hm(reached)} ({summary['prewarm']['minutes_before_ceremony']} min before the ceremony; "
         f"{reached_s['active']} of them in use then)" if reached else "NOT reached"),
        ("  held without a break since", f"{hm(since)}"),
        ("  load first used that many at once", f"{hm(load_reached)}"),
    ]
    for lane in POOL_THREADS:
        a = peak_acq.get(lane, {})
        rows.append((f"acquire p99 {lane} {hm(PEAK_FROM)}-{hm(PEAK_TO)}",
                     f"{fmt_p99(a)} ({a.get('count', 0)} acquisitions; end-to-end p99 "
                     f"{fmt_ms(e2e[lane]['p99_ms'])})"))
    rows.append(("forecast accuracy, mean of 15-min steps",
                 f"{mean_acc * 100:.1f} % over {len(steps)} steps {hm(START_LOCAL)}-{hm(PEAK_TO)}"
                 if mean_acc is not None else "-"))
    for wdw in windows:
        rows.append((f"  {wdw['window']} {wdw['from']}-{wdw['to']}",
                     f"predicted peak {wdw['predicted_peak']}, observed {wdw['observed_peak']}: "
                     f"{wdw['accuracy'] * 100:.1f} %"))
    rows.append(("scaling decisions", f"{sum(counts.values())}: " +
                 ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))))
    rows.append(("peak active / effective max", f"{peak_active} / {peak_eff}"))
    if reload_result:
        rows.append(("capacity-cutting RELOAD at " + hm(datetime.fromisoformat(reload_result["at"])),
                     ("refused, names the weddings" if reload_result["reload_refused"] and
                      reload_result["names_weddings"] else "NOT refused as expected") +
                     ("; applied after PROTECTION OVERRIDE" if reload_result.get("reload_after_override") else "")))
    rows.append(("client errors", ", ".join(f"{k} {v}" for k, v in load.errors.items()) or "none"))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        say(f"   {k:<{width}}  {v}")
    say("   (forecast accuracy: " + summary["forecast_accuracy"]["source"] + ")")
    return summary


def fmt_p99(a):
    """The p99 of a lane's acquisition; within the histogram's first bucket (0.1 ms) it is only known
    to be under that bound."""
    if a.get("p99_ms") is None:
        return "-"
    if a["p99_ms"] <= 0.1:
        return "<= 0.1 ms (first bucket)"
    return f"{a['p99_ms']:.3f} ms"


def fmt_ms(v):
    return "-" if v is None else f"{v:.3f} ms"


if __name__ == "__main__":
    summary = main()
    failed = []
    if not summary["prewarm"]["reached_before_ceremony"]:
        failed.append("pre-warm target not reached before the first ceremony")
    pr = summary["protection"] or {}
    if not (pr.get("reload_refused") and pr.get("names_weddings") and pr.get("mentions_override")):
        failed.append("the capacity-cutting RELOAD was not refused with the weddings named")
    if failed:
        say("demo: FAILED: " + "; ".join(failed))
        sys.exit(1)
