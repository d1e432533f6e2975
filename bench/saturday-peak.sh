#!/usr/bin/env bash
# bench/saturday-peak.sh WEDPOOL_BIN — 10,000 concurrent clients in lanes critical/default/
# background = 5/80/15 %, offered load at 80 % of the pool's capacity, then a 10x spike.
# Capacity is made explicit: every transaction holds its server connection SERVICE_MS (pg_sleep),
# so POOL connections serve POOL*1000/SERVICE_MS tx/s. Goals: default-lane acquisition p99 < 10 ms
# at 80 %, critical-lane p99 < 1 ms during the spike (wedpool's histograms, per lane).
# Env: CLIENTS (10000), POOL (20), SERVICE_MS (10), STEADY_S (30), SPIKE_S (15).
source "$(dirname "$0")/lib.sh"
bench_init saturday-peak "$@"
need_wpbench
CLIENTS=${CLIENTS:-10000}
POOL=${POOL:-20}
SERVICE_MS=${SERVICE_MS:-10}
STEADY_S=${STEADY_S:-30}
SPIKE_S=${SPIKE_S:-15}
capacity=$((POOL * 1000 / SERVICE_MS))
steady=$((capacity * 80 / 100))
spike=$((steady * 10))

start_pg
start_wedpool "min_pool_size = $POOL" "max_pool_size = $POOL" "reserve_pool_size = 5" \
    "acquire_timeout_ms = 30000" \
    "[lanes]" \
    "critical   = priority=1400 reserve=yes queue_timeout_ms=60000" \
    "default    = priority=100 queue_timeout_ms=10000" \
    "background = priority=10 max_active=20% queue_timeout_ms=2000 max_waiting=200" \
    "[lane_rules]" \
    "critical   = application_name=wpbench-critical" \
    "background = application_name=wpbench-background"
echo "saturday-peak: $CLIENTS clients (lanes 5/80/15), pool $POOL x ${SERVICE_MS} ms = capacity $capacity tx/s"
echo "               phase steady: $steady tx/s for ${STEADY_S}s; phase spike: $spike tx/s for ${SPIKE_S}s"
phase() { # name rate seconds
    "$WPBENCH" --dsn "$(dsn "$WP_PORT")" -c "$CLIENTS" --connect-rate 0 --lanes critical=5,default=80,background=15 \
        --sql "SELECT pg_sleep($SERVICE_MS / 1000.0)" --rate "$2" -T "$3" \
        --metrics-url "http://127.0.0.1:$WP_HTTP/metrics" --json "$WORK/$1.json" \
        --plot "$HERE/results/saturday-peak-$1.svg" || { echo "wedpool-bench ($1) failed"; exit 1; }
}
phase steady "$steady" "$STEADY_S"
phase spike "$spike" "$SPIKE_S"
python3 "$HERE/summarize.py" saturday-peak "$WORK/steady.json" "$RESULT" --spike "$WORK/spike.json" \
    --meta "capacity_tx_s=$capacity" "pool=$POOL" "service_ms=$SERVICE_MS"
