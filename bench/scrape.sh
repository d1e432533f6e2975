#!/usr/bin/env bash
# bench/scrape.sh WEDPOOL_BIN — does scraping /metrics every 100 ms slow the data path? pgbench -S
# through wedpool with and without a scraper, alternating. Goal (issue #4): tps changes by < 2 %.
# Env: DURATION (default 15), ROUNDS (default 2), CLIENTS (default 8).
set -euo pipefail
WEDPOOL=$(realpath "${1:?usage: scrape.sh path/to/wedpool}")
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
PGBIN=/usr/lib/postgresql/15/bin
DURATION=${DURATION:-15}
ROUNDS=${ROUNDS:-2}
CLIENTS=${CLIENTS:-8}
mkdir -p "$HERE/results"
work=$(mktemp -d /tmp/wedpool-scrape.XXXXXX)
chmod 755 "$work"
wp_pid=""
cleanup() {
    set +e
    [ -n "$wp_pid" ] && kill -INT "$wp_pid" 2>/dev/null && wait "$wp_pid" 2>/dev/null
    "$ROOT/scripts/pgcluster.sh" stop "$work/pg"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
eval "$("$ROOT/scripts/pgcluster.sh" start "$work/pg")"
port=$(free_port)
http=$(free_port)
printf '"app" "apppass"\n' >"$work/users.txt"
cat >"$work/wedpool.ini" <<INI
[databases]
appdb = host=127.0.0.1 port=$PGPORT dbname=appdb
[wedpool]
listen_port = $port
unix_socket_dir =
auth_file = users.txt
min_pool_size = 0
max_pool_size = 20
log_level = warning
http_listen = 127.0.0.1:$http
INI
"$WEDPOOL" -c "$work/wedpool.ini" >"$work/wedpool.log" 2>&1 &
wp_pid=$!
for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.05; done

tps() { PGPASSWORD=apppass "$PGBIN/pgbench" -h 127.0.0.1 -p "$port" -U app -S -n -c "$CLIENTS" -j 2 -T "$DURATION" appdb 2>&1 |
        sed -n 's/^tps = \([0-9.]*\) .*/\1/p'; }
scraper() { # every 100 ms until killed; counts scrapes and their bytes
    local n=0
    while :; do curl -s -o /dev/null "http://127.0.0.1:$http/metrics" && n=$((n + 1)); echo "$n" >"$work/scrapes"; sleep 0.1; done
}
plain=() scraped=()
for r in $(seq "$ROUNDS"); do
    plain+=("$(tps)")
    scraper & sp=$!
    scraped+=("$(tps)")
    kill "$sp" 2>/dev/null; wait "$sp" 2>/dev/null || true
    echo "round $r: without scraping ${plain[-1]} tps, scraping every 100 ms ${scraped[-1]} tps ($(cat "$work/scrapes") scrapes)"
done
python3 - "$HERE/results/scrape.json" "${plain[*]}" "${scraped[*]}" <<'PY'
import json, sys
out, plain, scraped = sys.argv[1], list(map(float, sys.argv[2].split())), list(map(float, sys.argv[3].split()))
p, s = sum(plain) / len(plain), sum(scraped) / len(scraped)
print(f"mean: {p:.0f} tps without, {s:.0f} tps with scraping: change {100 * (s - p) / p:+.2f} % (goal: within 2 %)")
json.dump({"scenario": "scrape", "tps_without": plain, "tps_with": scraped, "change_pct": 100 * (s - p) / p}, open(out, "w"), indent=2)
PY
