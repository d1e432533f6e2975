#!/usr/bin/env bash
# bench/lanes.sh WEDPOOL_BIN — issue #3's benchmark: the pool saturated at ~150 % offered load by
# default- and background-lane traffic, plus a trickle of critical-lane transactions. Reports each
# lane's acquisition-wait distribution (from wedpool's per-lane histogram, before/after) and
# pgbench's end-to-end latency. Env: DURATION (default 20), POOL (default 10), SERVICE_MS (5).
source "$(dirname "$0")/lib.sh"
bench_init lanes "$@"
DURATION=${DURATION:-20}
POOL=${POOL:-10}
SERVICE_MS=${SERVICE_MS:-5}
start_pg
start_wedpool "min_pool_size = $POOL" "max_pool_size = $POOL" "reserve_pool_size = 2" "lane_aging_per_s = 0" \
    "[lanes]" \
    "critical   = priority=1400 reserve=yes" \
    "default    = priority=100" \
    "background = priority=10 max_active=30%" \
    "[lane_rules]" \
    "critical   = application_name=wedsync-ceremony*" \
    "background = application_name=report*"
port=$WP_PORT http=$WP_HTTP work=$WORK

echo "select pg_sleep($SERVICE_MS / 1000.0);" >"$work/tx.sql"
capacity=$((POOL * 1000 / SERVICE_MS))
def_rate=$((capacity * 120 / 100))
bg_rate=$((capacity * 30 / 100))
echo "lanes: pool $POOL x ${SERVICE_MS} ms transactions = capacity ~${capacity} tx/s; offered: default ${def_rate}/s + background ${bg_rate}/s (150 %), critical 20/s, ${DURATION}s"
curl -s "http://127.0.0.1:$http/metrics" >"$work/before.txt"
export PGPASSWORD=apppass
pb() { "$PGBIN/pgbench" -h 127.0.0.1 -p "$port" -U app -n -f "$work/tx.sql" -T "$DURATION" "$@" appdb; }
PGAPPNAME=web pb -c 60 -j 1 -R "$def_rate" >"$work/default.out" 2>&1 &
p1=$!
PGAPPNAME=report pb -c 20 -j 1 -R "$bg_rate" >"$work/background.out" 2>&1 &
p2=$!
sleep 1
PGAPPNAME=wedsync-ceremony-vows pb -c 2 -j 1 -R 20 -T $((DURATION - 2)) >"$work/critical.out" 2>&1 &
p3=$!
wait "$p1" "$p2" "$p3" || true
curl -s "http://127.0.0.1:$http/metrics" >"$work/after.txt"

python3 - "$work" "$RESULT" "$DURATION" "$POOL" "$SERVICE_MS" <<'PY'
import json, re, sys
work, out, duration, pool, service = sys.argv[1:6]
def hist(path):
    h = {}
    for line in open(path):
        m = re.match(r'db_pool_acquire_seconds_bucket\{.*lane="([^"]+)",le="([^"]+)"\} (\d+)', line)
        if m:
            h.setdefault(m.group(1), []).append((float("inf") if m.group(2) == "+Inf" else float(m.group(2)), int(m.group(3))))
    return h
b, a = hist(f"{work}/before.txt"), hist(f"{work}/after.txt")
def quantile(buckets, q):
    total = buckets[-1][1]
    if total == 0:
        return None
    rank, prev_le, prev_c = q * total, 0.0, 0
    for le, c in buckets:
        if c >= rank:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * (rank - prev_c) / max(c - prev_c, 1)
        prev_le, prev_c = le, c
    return prev_le
def pgbench(lane):
    text = open(f"{work}/{lane}.out").read()
    g = lambda pat: (re.search(pat, text) or [None, None])[1]
    return {"tps": float(g(r"tps = ([\d.]+)") or 0), "processed": int(g(r"actually processed: (\d+)") or 0),
            "failed": int(g(r"failed transactions: (\d+)") or 0), "latency_avg_ms": float(g(r"latency average = ([\d.]+)") or 0)}
rows = []
print(f"\n{'lane':<12}{'acquired':>10}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'max bucket':>12}{'tps':>9}{'failed':>8}")
for lane in ("critical", "default", "background"):
    before = dict(b.get(lane, []))
    buckets = [(le, c - before.get(le, 0)) for le, c in a.get(lane, [])]
    qs = {f"p{int(q*100)}_ms": (None if quantile(buckets, q) is None else round(quantile(buckets, q) * 1000, 3)) for q in (0.5, 0.95, 0.99)}
    top = max((le for le, c in buckets if c > 0 and (buckets.index((le, c)) == 0 or c > buckets[buckets.index((le, c)) - 1][1])), default=0)
    n = buckets[-1][1] if buckets else 0
    row = {"lane": lane, "acquired": n, **qs, "max_bucket_le_s": top, "pgbench": pgbench(lane)}
    rows.append(row)
    f = lambda v: "-" if v is None else f"{v:.3f}"
    print(f"{lane:<12}{n:>10}{f(qs['p50_ms']):>10}{f(qs['p95_ms']):>10}{f(qs['p99_ms']):>10}{top:>12g}{row['pgbench']['tps']:>9.0f}{row['pgbench']['failed']:>8}")
json.dump({"scenario": "lanes", "duration_s": int(duration), "pool": int(pool), "service_ms": int(service),
           "lanes": rows}, open(out, "w"), indent=2)
print(f"\nquantiles are interpolated inside histogram buckets (bounds 0.1, 0.25, 0.5, 1, 2.5, 5, 10 ms ...)")
print(f"written: {out}")
PY
