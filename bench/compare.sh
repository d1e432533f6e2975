#!/usr/bin/env bash
# bench/compare.sh WEDPOOL_BIN — pgbench -S -M simple through wedpool vs PgBouncer vs direct
# PostgreSQL, same machine, same cluster, alternating runs. Reports tps, ratios and pooler CPU per
# transaction (user and system, from /proc/PID/stat). Env: DURATION (s, default 15), ROUNDS
# (default 2; the order of the targets rotates per round), CLIENTS (default "8 50"), POOL
# (default 20), STRACE=1 adds syscalls per transaction. TLS=client|server|both: pgbench connects with
# sslmode=require (client: to the poolers and to PostgreSQL directly), and/or the poolers connect to
# PostgreSQL (ssl = on) with sslmode require; certificates are made for the run.
# MODE=prepared runs wedpool and direct PostgreSQL with -M prepared (named statements, carried across
# servers in transaction mode) and PgBouncer with -M simple, the comparison issue #11 asks for.
# SCRIPTS="select tpcb" (default "select"): pgbench -S and/or its default TPC-B-like script.
# PIN=1 compares wedpool with itself instead: pin_session_state = pin (the session-state detection
# on every Query and Parse) against pin_session_state = ignore, two daemons, same run, alternating.
# Writes bench/results/compare.json (compare-tls-$TLS.json with TLS, compare-pin.json with PIN=1).
# Timing never fails the script; broken runs do.
source "$(dirname "$0")/lib.sh"
bench_init compare "$@"
DURATION=${DURATION:-15}
ROUNDS=${ROUNDS:-2}
CLIENTS=${CLIENTS:-"8 50"}
POOL=${POOL:-20}
TLS=${TLS:-}
[ -n "$TLS" ] && RESULT="$HERE/results/compare-tls-$TLS.json"
MODE=${MODE:-simple}
case "$MODE" in simple|prepared) ;; *) echo "MODE must be simple or prepared"; exit 2 ;; esac
SCRIPTS=${SCRIPTS:-select}
for sc in $SCRIPTS; do case "$sc" in select|tpcb) ;; *) echo "SCRIPTS: select and/or tpcb"; exit 2 ;; esac; done
PIN=${PIN:-0}
[ "$PIN" = 1 ] && RESULT="$HERE/results/compare-pin.json"
start_pg
wp_tls=() pgb_tls=() PGSSL=disable
case "$TLS" in
"") ;;
client | server | both)
    make_tls_certs
    enable_pg_ssl
    if [ "$TLS" != server ]; then
        PGSSL=require
        wp_tls+=("client_tls_sslmode = require" "client_tls_cert_file = $TLS_DIR/server.crt"
                 "client_tls_key_file = $TLS_DIR/server.key")
        pgb_tls+=("client_tls_sslmode = require" "client_tls_cert_file = $TLS_DIR/server.crt"
                  "client_tls_key_file = $TLS_DIR/server.key")
    fi
    if [ "$TLS" != client ]; then
        wp_tls+=("server_tls_sslmode = require")
        pgb_tls+=("server_tls_sslmode = require")
    else
        wp_tls+=("server_tls_sslmode = disable")
        pgb_tls+=("server_tls_sslmode = disable")
    fi
    ;;
*) echo "TLS must be client, server or both" >&2; exit 2 ;;
esac
if [ "$PIN" = 1 ]; then
    WP_NAME=wedpool-ignore start_wedpool "min_pool_size = 0" "max_pool_size = $POOL" "reserve_pool_size = 0" \
        "pin_session_state = ignore" ${wp_tls[@]+"${wp_tls[@]}"}
    IGN_PORT=$WP_PORT IGN_PID=$WP_PID
    start_wedpool "min_pool_size = 0" "max_pool_size = $POOL" "reserve_pool_size = 0" "pin_session_state = pin" \
        ${wp_tls[@]+"${wp_tls[@]}"}
    targets=("wedpool $WP_PORT $WP_PID" "ignore $IGN_PORT $IGN_PID")
    PGB_VERSION="(not run)"
else
    start_wedpool "min_pool_size = 0" "max_pool_size = $POOL" "reserve_pool_size = 0" ${wp_tls[@]+"${wp_tls[@]}"}
    start_pgbouncer scram-sha-256 "$POOL" ${pgb_tls[@]+"${pgb_tls[@]}"}
    targets=("wedpool $WP_PORT $WP_PID" "pgbouncer $PGB_PORT $PGB_PID" "direct $PGPORT 0")
fi
work=$WORK

cpu_split() { awk '{print $14, $15}' "/proc/$1/stat"; }

results="$work/results.txt"
: >"$results"
run() { # target port pid clients script
    local target=$1 port=$2 pid=$3 c=$4 script=$5 u0 s0 u1 s1 out tps tx failed sys_calls="null" mode=simple sel=-S
    [ "$script" = tpcb ] && sel=
    [ "$MODE" = prepared ] && [ "$target" != pgbouncer ] && mode=prepared
    [ "$pid" != 0 ] && read -r u0 s0 < <(cpu_split "$pid")
    local strace_pid=""
    if [ "${STRACE:-0}" = 1 ] && [ "$pid" != 0 ] && command -v strace >/dev/null; then
        strace -c -f -p "$pid" -o "$work/strace.$target.$c" & strace_pid=$!
        sleep 0.3
    fi
    # shellcheck disable=SC2086
    out=$(PGSSLMODE=$PGSSL PGPASSWORD=apppass "$PGBIN/pgbench" -h 127.0.0.1 -p "$port" -U app $sel -M "$mode" -n -c "$c" -j 2 \
          -T "$DURATION" appdb 2>&1) || { echo "pgbench against $target failed:"; echo "$out"; exit 1; }
    [ -n "$strace_pid" ] && { kill -INT "$strace_pid"; wait "$strace_pid" 2>/dev/null || true; }
    [ "$pid" != 0 ] && read -r u1 s1 < <(cpu_split "$pid")
    tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out")
    tx=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
    failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' <<<"$out")
    if [ "${failed:-0}" != 0 ]; then echo "$target $script c=$c: $failed failed transactions"; echo "$out"; exit 1; fi
    if [ -n "$strace_pid" ] && [ -f "$work/strace.$target.$c" ]; then
        sys_calls=$(awk '/total$/ {print $4}' "$work/strace.$target.$c")  # column 4: calls (3 is usec/call)
    fi
    if [ "$pid" != 0 ]; then
        echo "$target $c $tps $tx $((u1 - u0)) $((s1 - s0)) $sys_calls $script" >>"$results"
    else
        echo "$target $c $tps $tx 0 0 null $script" >>"$results"
    fi
    printf '  %-9s %-6s c=%-3s -M %-8s tps=%9.0f\n' "$target" "$script" "$c" "$mode" "$tps"
}

echo "compare: pgbench ($SCRIPTS) -M $MODE (PgBouncer: simple), ${DURATION}s per run, $ROUNDS rounds, pool $POOL, clients: $CLIENTS${TLS:+, TLS=$TLS}"
if [ "$PIN" = 1 ]; then
    echo "         wedpool $("$WEDPOOL" --version | cut -d' ' -f2): pin_session_state = pin ('wedpool') vs ignore ('ignore')"
else
    echo "         wedpool $("$WEDPOOL" --version | cut -d' ' -f2) vs $PGB_VERSION vs direct PostgreSQL 15"
fi
# The order of the targets rotates from round to round, so none always runs first (right after
# the previous client count's runs) or last.
n=${#targets[@]}
for round in $(seq "$ROUNDS"); do
    echo "round $round"
    for script in $SCRIPTS; do
        for c in $CLIENTS; do
            for i in $(seq 0 $((n - 1))); do
                # shellcheck disable=SC2086
                run ${targets[$(( (i + round - 1) % n ))]} "$c" "$script"
            done
        done
    done
done

python3 - "$results" "$RESULT" "$TICK" "$DURATION" "$ROUNDS" "$POOL" "$PGB_VERSION" <<'PY'
import json, sys, platform, os, collections
path, out, tick, duration, rounds, pool, pgb = sys.argv[1:8]
tick = int(tick)
agg = collections.defaultdict(lambda: {"tps": [], "tx": 0, "user": 0, "sys": 0, "syscalls": 0})
for line in open(path):
    t, c, tps, tx, u, s, sc, script = line.split()
    a = agg[(t, script, int(c))]
    a["tps"].append(float(tps)); a["tx"] += int(tx); a["user"] += int(u); a["sys"] += int(s)
    a["syscalls"] = None if sc == "null" else (a["syscalls"] or 0) + int(sc)
rows = []
for (t, script, c), a in sorted(agg.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0])):
    tps = sum(a["tps"]) / len(a["tps"])
    us = lambda ticks: ticks * 1e6 / tick / a["tx"] if a["tx"] else 0
    rows.append({"target": t, "script": script, "clients": c, "tps": round(tps, 1), "tps_runs": a["tps"],
                 "transactions": a["tx"],
                 "user_us_per_tx": round(us(a["user"]), 2) if t != "direct" else None,
                 "sys_us_per_tx": round(us(a["sys"]), 2) if t != "direct" else None,
                 "syscalls_per_tx": round(a["syscalls"] / a["tx"] * len(a["tps"]) / len(a["tps"]), 2) if a["syscalls"] else None})
by = {(r["target"], r["script"], r["clients"]): r for r in rows}
ref = "ignore" if any(r["target"] == "ignore" for r in rows) else "pgbouncer"
print()
print(f"{'target':<10}{'script':<8}{'clients':>8}{'tps':>11}{'vs ' + ref:>14}{'vs direct':>11}{'user µs/tx':>12}{'sys µs/tx':>11}")
for r in rows:
    pb = by.get((ref, r["script"], r["clients"])); d = by.get(("direct", r["script"], r["clients"]))
    r["ratio_vs_" + ref] = round(r["tps"] / pb["tps"], 3) if pb else None
    r["ratio_vs_direct"] = round(r["tps"] / d["tps"], 3) if d else None
    f = lambda v: "-" if v is None else f"{v:.2f}"
    print(f"{r['target']:<10}{r['script']:<8}{r['clients']:>8}{r['tps']:>11.0f}{f(r['ratio_vs_' + ref]):>14}{f(r['ratio_vs_direct']):>11}"
          f"{f(r['user_us_per_tx']):>12}{f(r['sys_us_per_tx']):>11}")
for script in sorted({r["script"] for r in rows}):
    for c in sorted({r["clients"] for r in rows}):
        w, p = by.get(("wedpool", script, c)), by.get((ref, script, c))
        if w and p and p["user_us_per_tx"]:
            tw = w["user_us_per_tx"] + w["sys_us_per_tx"]; tp = p["user_us_per_tx"] + p["sys_us_per_tx"]
            print(f"{script} c={c}: wedpool/{ref} tps {w['tps']/p['tps']:.3f}x, total CPU/tx {tw/tp:.3f}x, user CPU/tx {w['user_us_per_tx']/p['user_us_per_tx']:.3f}x")
json.dump({"scenario": "compare", "duration_s": int(duration), "rounds": int(rounds), "pool_size": int(pool),
           "pgbouncer": pgb, "tls": os.environ.get("TLS") or None,
           "mode": os.environ.get("MODE", "simple"), "pin_compare": os.environ.get("PIN") == "1", "machine": {"cpus": os.cpu_count(), "kernel": platform.release()},
           "results": rows}, open(out, "w"), indent=2)
print(f"\nwritten: {out}")
PY
