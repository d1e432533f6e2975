#!/usr/bin/env bash
# bench/int002.sh WEDPOOL_BIN — the INT-002 evidence (seed 003): 100 transactions/s for 180 s
# through wedpool configured the INT-002 way (pool max 20 and idle 30 s from the environment
# variables DB_POOL_MAX_CONNECTIONS / DB_POOL_IDLE_TIMEOUT_MS), error rate < 1 %, and the JSON pool
# snapshot (/api/metrics/database/pool) scraped every 5 s into the result.
# Env: DURATION (default 180), RATE (default 100), CLIENTS (default 50).
source "$(dirname "$0")/lib.sh"
bench_init int002 "$@"
need_wpbench
DURATION=${DURATION:-180}
RATE=${RATE:-100}
CLIENTS=${CLIENTS:-50}

start_pg
DB_POOL_MAX_CONNECTIONS=20 DB_POOL_IDLE_TIMEOUT_MS=30000 start_wedpool "min_pool_size = 2"
echo "int002: $RATE tx/s (Poisson) from $CLIENTS clients for ${DURATION}s through wedpool, pool max 20 (DB_POOL_MAX_CONNECTIONS)"

scrape_snapshots() { # one JSON document per line, every 5 s, until killed
    while :; do
        curl -sf "http://127.0.0.1:$WP_HTTP/api/metrics/database/pool" | tr -d '\n' >>"$WORK/snapshots.jsonl" &&
            echo >>"$WORK/snapshots.jsonl"
        sleep 5
    done
}
scrape_snapshots &
scraper=$!
BENCH_PIDS+=("$scraper")
"$WPBENCH" --dsn "$(dsn "$WP_PORT")" --init --rows 100000 -c "$CLIENTS" --rate "$RATE" -T "$DURATION" \
    --metrics-url "http://127.0.0.1:$WP_HTTP/metrics" --json "$WORK/bench.json" \
    --plot "$HERE/results/int002.svg" || { echo "wedpool-bench failed"; exit 1; }
kill "$scraper" 2>/dev/null; wait "$scraper" 2>/dev/null || true

python3 "$HERE/summarize.py" int002 "$WORK/bench.json" "$RESULT" --snapshots "$WORK/snapshots.jsonl"
