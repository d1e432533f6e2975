#!/usr/bin/env bash
# bench/alert-hung-sink.sh WEDPOOL_BIN — does a hung alert endpoint touch query latency? pgbench -S
# -c 8 through wedpool in alternating phases with the same alert traffic (a Slack channel gets an
# ALERT TEST every 0.1 s, a webhook channel a CRITICAL one every 0.5 s): "quiet", the Slack
# endpoint answers at once; "hung", it accepts and never answers (its request hangs, its queue
# fills). Reports tps, p50/p99 (pgbench's per-transaction logs) and wedpool's CPU per transaction
# per phase, their change (goals: p99 < 5 %, tps < 2 %), and the webhook's delivery latency from
# the admin command to the receiver while Slack hangs (goal < 1 s; seed 001 says < 5 s).
# Reports only: never fails on timing. Env: DURATION (15 s per phase), ROUNDS (2).
# Writes bench/results/alert-hung-sink.json.
source "$(dirname "$0")/lib.sh"
bench_init alert-hung-sink "$@"
DURATION=${DURATION:-15}
ROUNDS=${ROUNDS:-2}
PY=/usr/bin/python3   # has psycopg
start_pg
HUNG=$(free_port)
FAST=$(free_port)
start_wedpool "min_pool_size = 8" "max_pool_size = 8" "reserve_pool_size = 0" "admin_users = app" \
    "[alert_channels]" \
    "hung = type=slack url=http://127.0.0.1:$HUNG/services/T/B/X min_severity=HIGH timeout_ms=600000 retries=0 circuit_after=1000 queue_len=16" \
    "fast = type=webhook url=http://127.0.0.1:$FAST/hook secret=bench min_severity=HIGH"
ADMIN="host=127.0.0.1 port=$WP_PORT user=app dbname=wedpool password=apppass"
echo "alert-hung-sink: pgbench -S -c 8 -j 2, ${DURATION}s per phase, $ROUNDS rounds of quiet/hung"
PGPASSWORD=apppass "$PGBIN/pgbench" -h 127.0.0.1 -p "$WP_PORT" -U app -S -n -c 8 -j 2 -T 3 appdb >/dev/null 2>&1  # warm-up
phase() { # name round
    local c0
    c0=$(cpu_ticks "$WP_PID")
    (cd "$WORK" && PGPASSWORD=apppass "$PGBIN/pgbench" -h 127.0.0.1 -p "$WP_PORT" -U app -S -M simple -n -c 8 -j 2 \
        -T "$DURATION" -l --log-prefix="$1$2" appdb >"$WORK/$1$2.out" 2>&1) || { cat "$WORK/$1$2.out"; exit 1; }
    echo $(( $(cpu_ticks "$WP_PID") - c0 )) >"$WORK/$1$2.cpu"
    sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$WORK/$1$2.out" >"$WORK/$1$2.tps"
    printf '  %-5s round %s: tps %s\n' "$1" "$2" "$(cat "$WORK/$1$2.tps")"
}
for r in $(seq "$ROUNDS"); do
    for mode in quiet hung; do
        $PY "$HERE/alert_sinks.py" drive "$([ $mode = hung ] && echo hang || echo answer)" "$HUNG" "$FAST" "$ADMIN" \
            "$DURATION" "$WORK/deliveries-$mode$r.json" &
        drv=$!
        sleep 0.5
        phase $mode "$r"
        wait "$drv"
    done
done
$PY "$HERE/alert_sinks.py" summary "$WORK" "$ROUNDS" "$RESULT"
