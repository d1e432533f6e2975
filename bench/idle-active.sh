#!/usr/bin/env bash
# bench/idle-active.sh WEDPOOL_BIN — the data path under many idle clients: IDLE idle SCRAM-logged-in
# clients held on wedpool and on PgBouncer (both at once, for the whole session, by wedpool-bench
# --idle --login raw), plus ACTIVE pgbench clients offered RATE tx/s open loop (pgbench -S -M simple
# -R) through one pooler at a time, alternating, RUNS rounds of DURATION seconds. Per run and median:
# tps, end-to-end latency p50/p99/p99.9 from pgbench's per-transaction log, and the pooler's CPU
# (user + sys from /proc/PID/stat) per transaction; the ratio wedpool p99 / PgBouncer p99.
# Env: IDLE (10000), ACTIVE (100), RATE (4000), DURATION (8), RUNS (3), POOL (20).
# Writes bench/results/idle-active.json. Timing never fails the script; broken runs do.
source "$(dirname "$0")/lib.sh"
bench_init idle-active "$@"
need_wpbench
IDLE=${IDLE:-10000}
ACTIVE=${ACTIVE:-100}
RATE=${RATE:-4000}
DURATION=${DURATION:-8}
RUNS=${RUNS:-3}
POOL=${POOL:-20}

# Each pooler holds IDLE + ACTIVE clients (+ the warm-up's); each wedpool-bench holds IDLE sockets.
export MAX_CLIENT_CONN=$((IDLE + ACTIVE + 100))
need_fds=$((IDLE + ACTIVE + POOL + 100))
if [ "$(ulimit -n)" -lt "$need_fds" ]; then
    echo "idle-active: open-files limit $(ulimit -n) < $need_fds (raise the hard limit, ulimit -Hn)" >&2
    exit 1
fi

start_pg
start_wedpool "min_pool_size = 0" "max_pool_size = $POOL" "reserve_pool_size = 0" "max_client_conn = $MAX_CLIENT_CONN"
start_pgbouncer scram-sha-256 "$POOL"
for pid in "$WP_PID" "$PGB_PID"; do   # wedpool raises its own soft limit; PgBouncer inherits ours
    lim=$(awk '/^Max open files/ {print $4}' "/proc/$pid/limits")
    [ "$lim" -ge "$need_fds" ] || { echo "idle-active: pooler $pid may open only $lim files (< $need_fds)" >&2; exit 1; }
done

echo "idle-active: $IDLE idle SCRAM clients held on each pooler; $ACTIVE pgbench clients at $RATE tx/s,"
echo "             ${DURATION}s x $RUNS alternating runs, pool $POOL; wedpool $("$WEDPOOL" --version | cut -d' ' -f2) vs $PGB_VERSION"

# The idle clients: held until the end (stopped by the cleanup); -T covers every run with margin.
HOLD_S=$((RUNS * 2 * (DURATION + 30) + 120))
declare -A HOLDER
hold() { # target port
    "$WPBENCH" --dsn "$(dsn "$2")" -c "$IDLE" --connect-rate 0 --connect-timeout 600 --idle -T "$HOLD_S" \
        --login raw --progress --json "$WORK/idle.$1.json" 2>"$WORK/idle.$1.log" >"$WORK/idle.$1.out" &
    HOLDER[$1]=$!
    BENCH_PIDS+=("$!")
}
# The last "idle: N/M clients logged in" progress line of a holder, as "N reconnects"; empty while
# it is still connecting.
idle_state() { sed -n 's/.* idle: \([0-9]*\)\/[0-9]* clients logged in, \([0-9]*\) reconnects.*/\1 \2/p' \
    "$WORK/idle.$1.log" | tail -1; }
check_idle() { # target when — prints the holder's reconnects so far
    local n r
    kill -0 "${HOLDER[$1]}" 2>/dev/null || { echo "idle clients on $1 gone ($2):"; cat "$WORK/idle.$1.log" "$WORK/idle.$1.out"; exit 1; } >&2
    read -r n r <<<"$(idle_state "$1")"
    [ "${n:-0}" = "$IDLE" ] || { echo "$1: ${n:-0}/$IDLE idle clients logged in ($2)"; tail -5 "$WORK/idle.$1.log"; exit 1; } >&2
    echo "${r:-0}"
}
t0=$(date +%s)
hold wedpool "$WP_PORT"
hold pgbouncer "$PGB_PORT"
for target in wedpool pgbouncer; do
    touch "$WORK/idle.$target.log"
    while [ -z "$(idle_state "$target")" ]; do
        kill -0 "${HOLDER[$target]}" 2>/dev/null || { echo "idle clients on $target failed:"; cat "$WORK/idle.$target.log"; exit 1; }
        sleep 0.5
    done
    r=$(check_idle "$target" "after login")
done
echo "  $IDLE idle clients logged in on both poolers after $(( $(date +%s) - t0 )) s"

# pgbench: per-transaction log lines "client tx latency_us script epoch_s epoch_us lag_us"; with -R
# the latency is counted from the scheduled start, so it includes the schedule lag.
pgb() { # port seconds log-prefix
    PGPASSWORD=apppass "$PGBIN/pgbench" -h 127.0.0.1 -p "$1" -U app -S -M simple -R "$RATE" -c "$ACTIVE" -j 2 \
        -T "$2" -n ${3:+-l --log-prefix="$3"} appdb 2>&1
}
# The pooler's CPU ticks, sampled every 50 ms with the wall clock, so the CPU per transaction covers
# only the window in which transactions completed (not pgbench's SCRAM logins, which PgBouncer pays
# with PBKDF2 each); with the machine's busy share (/proc/stat): on a shared 2-core machine the tail
# latency follows whatever else runs, so a run at 100 % busy is noise, not the pooler.
sampler() { # pid out
    exec python3 -c '
import sys, time
pid, out = sys.argv[1], open(sys.argv[2], "w")
while True:
    with open(f"/proc/{pid}/stat") as f:
        st = f.read().rsplit(")", 1)[1].split()
    with open("/proc/stat") as f:
        m = [int(x) for x in f.readline().split()[1:]]
    out.write(f"{time.time():.6f} {st[11]} {st[12]} {sum(m)} {m[3] + m[4]}\n"); out.flush()
    time.sleep(0.05)
' "$1" "$2"
}

# Warm-up: each pooler opens its servers before the first measured run.
for t in "wedpool $WP_PORT" "pgbouncer $PGB_PORT"; do
    set -- $t
    pgb "$2" 2 "" >"$WORK/warmup.$1.txt" || { echo "warm-up pgbench against $1 failed:"; cat "$WORK/warmup.$1.txt"; exit 1; }
done

: >"$WORK/runs.txt"
run() { # target port pid round
    local target=$1 port=$2 pid=$3 round=$4 out tps failed sp rw rp
    sampler "$pid" "$WORK/cpu.$target.$round" &
    sp=$!
    out=$(pgb "$port" "$DURATION" "$WORK/log.$target.$round") || { kill "$sp"; echo "pgbench against $target failed:"; echo "$out"; exit 1; }
    kill "$sp"; wait "$sp" 2>/dev/null || true
    tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out")
    failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' <<<"$out")
    if [ "${failed:-0}" != 0 ] || [ -z "$tps" ]; then echo "$target run $round: ${failed:-?} failed transactions"; echo "$out"; exit 1; fi
    rw=$(check_idle wedpool "after $target run $round")
    rp=$(check_idle pgbouncer "after $target run $round")
    echo "$target $round $tps $WORK/log.$target.$round $WORK/cpu.$target.$round $rw,$rp" >>"$WORK/runs.txt"
    printf '  %-9s run %d: tps %7.0f\n' "$target" "$round" "$tps"
}
targets=("wedpool $WP_PORT $WP_PID" "pgbouncer $PGB_PORT $PGB_PID")
for round in $(seq "$RUNS"); do
    for i in 0 1; do
        # shellcheck disable=SC2086
        run ${targets[$(( (i + round - 1) % 2 ))]} "$round"
        sleep 1
    done
done

python3 - "$WORK/runs.txt" "$RESULT" "$TICK" "$IDLE" "$ACTIVE" "$RATE" "$DURATION" "$RUNS" "$POOL" "$PGB_VERSION" <<'PY'
import glob, json, os, platform, statistics, sys
runs_txt, out, tick, idle, active, rate, duration, nruns, pool, pgb = sys.argv[1:11]
tick = int(tick)

def pct(sorted_v, q):  # nearest rank
    if not sorted_v:
        return None
    k = max(0, min(len(sorted_v) - 1, int(round(q / 100 * len(sorted_v) + 0.5)) - 1))
    return sorted_v[k]

rows = []
for line in open(runs_txt):
    target, rnd, tps, logp, cpup, reconn = line.split()
    lat, svc, lag, ends = [], [], [], []
    for f in glob.glob(logp + ".*"):
        for l in open(f):
            v = l.split()
            if len(v) < 7 or v[2] == "skipped":
                raise SystemExit(f"{f}: unexpected log line {l!r}")
            us, lg = int(v[2]), int(v[6])
            lat.append(us); lag.append(lg); svc.append(us - lg)
            ends.append(int(v[4]) + int(v[5]) / 1e6)
    if not lat:
        raise SystemExit(f"{target} run {rnd}: no transactions logged")
    lat.sort(); svc.sort(); ends.sort()
    samples = [tuple(map(float, l.split())) for l in open(cpup)]
    inside = [s for s in samples if ends[0] <= s[0] <= ends[-1]]
    if len(inside) < 2:
        raise SystemExit(f"{target} run {rnd}: CPU samples do not cover the run")
    a, b = inside[0], inside[-1]
    ntx = sum(1 for e in ends if a[0] < e <= b[0])
    us = lambda ticks: ticks * 1e6 / tick / ntx
    ms = lambda v: round(v / 1000, 3)
    rows.append({"target": target, "run": int(rnd), "tps": round(float(tps), 1), "transactions": len(lat),
                 "p50_ms": ms(pct(lat, 50)), "p99_ms": ms(pct(lat, 99)), "p999_ms": ms(pct(lat, 99.9)),
                 "max_ms": ms(lat[-1]),
                 "service_p99_ms": ms(pct(svc, 99)), "lag_mean_ms": ms(statistics.mean(lag)),
                 "lag_p99_ms": ms(pct(sorted(lag), 99)),
                 "cpu_window_s": round(b[0] - a[0], 2), "cpu_window_tx": ntx,
                 "user_us_per_tx": round(us(b[1] - a[1]), 2), "sys_us_per_tx": round(us(b[2] - a[2]), 2),
                 "cpu_us_per_tx": round(us(b[1] + b[2] - a[1] - a[2]), 2),
                 "machine_busy_pct": round(100 * (1 - (b[4] - a[4]) / (b[3] - a[3])), 1) if b[3] > a[3] else None,
                 "idle_reconnects_wedpool_pgbouncer": reconn})

cols = ["tps", "p50_ms", "p99_ms", "p999_ms", "service_p99_ms", "lag_mean_ms", "user_us_per_tx", "sys_us_per_tx",
        "cpu_us_per_tx", "machine_busy_pct"]
median = {}
for t in ("wedpool", "pgbouncer"):
    rs = [r for r in rows if r["target"] == t]
    median[t] = {c: round(statistics.median(r[c] or 0 for r in rs), 3) for c in cols}

hdr = f"{'target':<10}{'run':>4}{'tps':>8}{'p50 ms':>8}{'p99 ms':>8}{'p99.9 ms':>9}{'p99-lag':>9}{'lag ms':>8}{'user µs/tx':>11}{'sys µs/tx':>10}{'CPU µs/tx':>10}{'busy %':>8}"
print(); print(hdr)
def line(t, run, r):
    print(f"{t:<10}{run:>4}{r['tps']:>8.0f}{r['p50_ms']:>8.2f}{r['p99_ms']:>8.2f}{r['p999_ms']:>9.2f}{r['service_p99_ms']:>9.2f}"
          f"{r['lag_mean_ms']:>8.3f}{r['user_us_per_tx']:>11.2f}{r['sys_us_per_tx']:>10.2f}{r['cpu_us_per_tx']:>10.2f}"
          f"{r['machine_busy_pct'] if r['machine_busy_pct'] is not None else '-':>8}")
for r in sorted(rows, key=lambda r: (r["target"] != "wedpool", r["run"])):
    line(r["target"], str(r["run"]), r)
for t in ("wedpool", "pgbouncer"):
    line(t, "med", median[t])
ratio = median["wedpool"]["p99_ms"] / median["pgbouncer"]["p99_ms"]
cpu_ratio = median["wedpool"]["cpu_us_per_tx"] / median["pgbouncer"]["cpu_us_per_tx"]
print(f"\np99 / p99.9 / p50 are pgbench's logged latency, counted from the scheduled start (-R): it includes")
print(f"the schedule lag (mean in 'lag ms'); 'p99-lag' is the p99 of latency minus lag (from the actual start).")
print(f"wedpool p99 / PgBouncer p99 (medians): {ratio:.2f}  (goal <= 1.00: {'met' if ratio <= 1 else 'missed'});"
      f" CPU/tx {cpu_ratio:.2f}x")
json.dump({"scenario": "idle-active", "idle_clients": int(idle), "active_clients": int(active), "rate": int(rate),
           "duration_s": int(duration), "runs": int(nruns), "pool_size": int(pool), "pgbouncer": pgb,
           "latency_note": "pgbench -R latency counts from the scheduled start (includes schedule lag); "
                           "service_p99_ms excludes it",
           "machine": {"cpus": os.cpu_count(), "kernel": platform.release()},
           "results": rows, "median": median, "p99_ratio_wedpool_vs_pgbouncer": round(ratio, 3),
           "cpu_ratio_wedpool_vs_pgbouncer": round(cpu_ratio, 3)}, open(out, "w"), indent=2)
print(f"\nwritten: {out}")
PY
