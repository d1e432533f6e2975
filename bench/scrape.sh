#!/usr/bin/env bash
# bench/scrape.sh WEDPOOL_BIN — does scraping /metrics every 100 ms slow the data path? pgbench -S
# through wedpool with and without a scraper, alternating. Goal (issue #4): tps changes by < 2 %.
# Env: DURATION (default 15), ROUNDS (default 2), CLIENTS (default 8).
source "$(dirname "$0")/lib.sh"
bench_init scrape "$@"
DURATION=${DURATION:-15}
ROUNDS=${ROUNDS:-2}
CLIENTS=${CLIENTS:-8}
start_pg
start_wedpool "min_pool_size = 0" "max_pool_size = 20"
port=$WP_PORT http=$WP_HTTP work=$WORK

tps() { PGPASSWORD=apppass "$PGBIN/pgbench" -h 127.0.0.1 -p "$port" -U app -S -n -c "$CLIENTS" -j 2 -T "$DURATION" appdb 2>&1 |
        sed -n 's/^tps = \([0-9.]*\) .*/\1/p'; }
scraper() { # GET /metrics every 100 ms over one keep-alive connection until killed (one process,
    # so the scraper's own CPU stays small next to pgbench's); writes the count of scrapes
    exec python3 - "$http" "$work/scrapes" <<'PY'
import http.client, sys, time
conn, n = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=5), 0
while True:
    conn.request("GET", "/metrics")
    r = conn.getresponse()
    r.read()
    n += 1
    open(sys.argv[2], "w").write(str(n))
    time.sleep(0.1)
PY
}
plain=() scraped=()
for r in $(seq "$ROUNDS"); do
    plain+=("$(tps)")
    scraper & sp=$!
    scraped+=("$(tps)")
    kill "$sp" 2>/dev/null; wait "$sp" 2>/dev/null || true
    echo "round $r: without scraping ${plain[-1]} tps, scraping every 100 ms ${scraped[-1]} tps ($(cat "$work/scrapes") scrapes)"
done
python3 - "$RESULT" "${plain[*]}" "${scraped[*]}" <<'PY'
import json, sys
out, plain, scraped = sys.argv[1], list(map(float, sys.argv[2].split())), list(map(float, sys.argv[3].split()))
p, s = sum(plain) / len(plain), sum(scraped) / len(scraped)
print(f"mean: {p:.0f} tps without, {s:.0f} tps with scraping: change {100 * (s - p) / p:+.2f} % (goal: within 2 %)")
json.dump({"scenario": "scrape", "tps_without": plain, "tps_with": scraped, "change_pct": 100 * (s - p) / p}, open(out, "w"), indent=2)
PY
