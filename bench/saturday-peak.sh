#!/usr/bin/env bash
# bench/saturday-peak.sh WEDPOOL_BIN — 10,000 concurrent clients in lanes critical/default/
# background = 5/80/15 %, offered load at 80 % of the pool's capacity, then a 10x spike.
# Capacity is made explicit: every transaction holds its server connection for a random time
# averaging SERVICE_MS (pg_sleep, uniform 0..2*SERVICE_MS), so POOL connections serve about
# POOL*1000/SERVICE_MS tx/s. Goals: default-lane acquisition p99 < 10 ms at 80 %, critical-lane
# p99 < 1 ms during the spike (wedpool's histograms, per lane).
# Clients log in with md5: a client shed with 53300 is closed and the load generator logs in again,
# and libpq's SCRAM (PBKDF2 on every login) would stall its loop and make arrivals bursty.
# Env: CLIENTS (10000), POOL (20), RESERVE (15), SERVICE_MS (10), STEADY_S (30), SPIKE_S (15).
source "$(dirname "$0")/lib.sh"
bench_init saturday-peak "$@"
need_wpbench
CLIENTS=${CLIENTS:-10000}
POOL=${POOL:-20}
# In the spike the critical lane alone offers 5 % x 10 x 80 % = 40 % of capacity, about 8
# transactions in flight on average: the reserve is sized to cover its bursts (the seed's 5 leaves
# critical clients waiting for releases; see docs/benchmarks.md for both).
RESERVE=${RESERVE:-15}
SERVICE_MS=${SERVICE_MS:-10}
STEADY_S=${STEADY_S:-30}
SPIKE_S=${SPIKE_S:-15}
capacity=$((POOL * 1000 / SERVICE_MS))
steady=$((capacity * 80 / 100))
spike=$((steady * 10))

start_pg
start_wedpool "min_pool_size = $POOL" "max_pool_size = $POOL" "reserve_pool_size = $RESERVE" "auth_type = md5" \
    "acquire_timeout_ms = 30000" \
    "[lanes]" \
    "critical   = priority=1400 reserve=yes queue_timeout_ms=60000" \
    "default    = priority=100 queue_timeout_ms=10000" \
    "background = priority=10 max_active=20% queue_timeout_ms=2000 max_waiting=200" \
    "[lane_rules]" \
    "critical   = application_name=wpbench-critical" \
    "background = application_name=wpbench-background"
echo "saturday-peak: $CLIENTS clients (lanes 5/80/15), pool $POOL (+$RESERVE reserve) x ${SERVICE_MS} ms = capacity $capacity tx/s"
echo "               phase steady: $steady tx/s for ${STEADY_S}s; phase spike: $spike tx/s for ${SPIKE_S}s"
phase() { # name rate seconds
    "$WPBENCH" --dsn "$(dsn "$WP_PORT")" -c "$CLIENTS" --connect-rate 0 --lanes critical=5,default=80,background=15 \
        --sql "SELECT pg_sleep(random() * $SERVICE_MS / 500.0)" --rate "$2" -T "$3" \
        --metrics-url "http://127.0.0.1:$WP_HTTP/metrics" --json "$WORK/$1.json" \
        --plot "$HERE/results/saturday-peak-$1.svg" || { echo "wedpool-bench ($1) failed"; exit 1; }
}
phase steady "$steady" "$STEADY_S"
phase spike "$spike" "$SPIKE_S"
python3 "$HERE/summarize.py" saturday-peak "$WORK/steady.json" "$RESULT" --spike "$WORK/spike.json" \
    --meta "capacity_tx_s=$capacity" "pool=$POOL" "service_ms=$SERVICE_MS"
