"""bench/alert_sinks.py — the alert side of bench/alert-hung-sink.sh.

drive MODE HUNG_PORT FAST_PORT ADMIN_DSN SECONDS OUT.json: listens on both ports (HUNG, in mode
"hang", accepts, reads the request and never answers; in mode "answer" it answers 200 at once; FAST
answers 200 and notes when each alert key arrived), then for SECONDS asks wedpool's admin console
for an ALERT TEST through the "hung" channel every 0.1 s and through the fast one every 0.5 s; writes
the fast channel's delivery latencies (admin command -> receiver) as JSON. Both phases of the bench
run it, so the only difference between them is whether the Slack endpoint hangs.

summary WORKDIR ROUNDS OUT.json: p50/p99 of pgbench's per-transaction logs and tps per phase, the
delivery latencies, the ratios hung/quiet. Reports; never fails on timing."""
import glob
import http.server
import json
import os
import statistics
import sys
import threading
import time


def drive(mode, hung_port, fast_port, dsn, seconds, out):
    import psycopg
    arrivals = {}
    release = threading.Event()

    def answer_ok(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", "2")
        handler.end_headers()
        handler.wfile.write(b"ok")

    class Hung(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if mode == "hang":
                release.wait(seconds + 30)
                return
            answer_ok(self)

        def log_message(self, *a):
            pass

    class Fast(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            arrivals[json.loads(body)["key"]] = time.monotonic()
            answer_ok(self)

        def log_message(self, *a):
            pass
    servers = []
    for port, handler in ((hung_port, Hung), (fast_port, Fast)):
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
    sent = {}
    with psycopg.connect(dsn, autocommit=True) as c:
        end = time.monotonic() + seconds
        i = 0
        while time.monotonic() < end:
            c.execute(f"ALERT TEST hung CRITICAL hung-{i}", prepare=False)
            if i % 5 == 2:
                key = f"fast-{i}"
                sent[key] = time.monotonic()
                c.execute(f"ALERT TEST fast CRITICAL {key}", prepare=False)
            i += 1
            time.sleep(0.1)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(arrivals) < len(sent):
            time.sleep(0.05)
    release.set()
    for srv in servers:
        srv.shutdown()
    lat = sorted((arrivals[k] - t) * 1000 for k, t in sent.items() if k in arrivals)
    json.dump({"sent": len(sent), "delivered": len(lat), "latency_ms": lat}, open(out, "w"))


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def summary(work, rounds, out):
    rows = {"quiet": [], "hung": []}
    for phase in rows:
        for r in range(1, int(rounds) + 1):
            lat = []
            for f in glob.glob(f"{work}/{phase}{r}.[0-9]*"):  # pgbench's logs: PREFIX.PID[.THREAD]
                with open(f) as fh:
                    lat += [int(line.split()[2]) / 1000 for line in fh if line.strip()]
            tps = float(open(f"{work}/{phase}{r}.tps").read())
            cpu_ms = float(open(f"{work}/{phase}{r}.cpu").read()) * 1000 / os.sysconf("SC_CLK_TCK")
            rows[phase].append({"tps": tps, "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99), "tx": len(lat),
                                "wedpool_cpu_us_per_tx": cpu_ms * 1000 / max(len(lat), 1)})
    deliveries = []
    for f in sorted(glob.glob(f"{work}/deliveries-hung*.json")):
        deliveries += json.load(open(f))["latency_ms"]
    med = {ph: {k: statistics.median(r[k] for r in rows[ph]) for k in ("tps", "p50_ms", "p99_ms", "wedpool_cpu_us_per_tx")}
           for ph in rows}
    p99_change = (med["hung"]["p99_ms"] / med["quiet"]["p99_ms"] - 1) * 100
    tps_change = (med["hung"]["tps"] / med["quiet"]["tps"] - 1) * 100
    print(f"{'phase':<7}{'run':>4}{'tps':>9}{'p50 ms':>9}{'p99 ms':>9}{'wedpool CPU µs/tx':>19}")
    for ph in rows:
        for i, r in enumerate(rows[ph], 1):
            print(f"{ph:<7}{i:>4}{r['tps']:>9.0f}{r['p50_ms']:>9.3f}{r['p99_ms']:>9.3f}{r['wedpool_cpu_us_per_tx']:>19.2f}")
    print(f"median: quiet p99 {med['quiet']['p99_ms']:.3f} ms, hung p99 {med['hung']['p99_ms']:.3f} ms "
          f"({p99_change:+.1f} %, goal < 5 %); tps {med['quiet']['tps']:.0f} -> {med['hung']['tps']:.0f} "
          f"({tps_change:+.1f} %, goal < 2 %); wedpool CPU/tx {med['quiet']['wedpool_cpu_us_per_tx']:.2f} -> "
          f"{med['hung']['wedpool_cpu_us_per_tx']:.2f} µs")
    if deliveries:
        print(f"critical alert delivery to a local receiver while the other channel hangs: n={len(deliveries)} "
              f"p50 {pct(deliveries, 50):.1f} ms, p99 {pct(deliveries, 99):.1f} ms, max {max(deliveries):.1f} ms "
              f"(goal < 1000 ms)")
    json.dump({"scenario": "alert-hung-sink", "rounds": rows, "median": med, "p99_change_pct": p99_change,
               "tps_change_pct": tps_change,
               "delivery_ms": {"n": len(deliveries), "p50": pct(deliveries, 50), "p99": pct(deliveries, 99),
                               "max": max(deliveries) if deliveries else None}}, open(out, "w"), indent=1)


if __name__ == "__main__":
    if sys.argv[1] == "drive":
        drive(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], float(sys.argv[6]), sys.argv[7])
    else:
        summary(sys.argv[2], sys.argv[3], sys.argv[4])
