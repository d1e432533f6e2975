#!/usr/bin/env bash
# make demo: a throwaway PostgreSQL, wedpool in front of it, a short mixed workload, and what a
# user should look at. Everything is removed on exit or Ctrl-C. DEMO_KEEP=1 keeps it running.
set -euo pipefail
WEDPOOL=${1:?usage: demo.sh path/to/wedpool}
HERE=$(cd "$(dirname "$0")" && pwd)
PGBIN=/usr/lib/postgresql/15/bin
work=$(mktemp -d /tmp/wedpool-demo.XXXXXX)
chmod 755 "$work"
wp_pid=""

cleanup() {
    set +e
    [ -n "$wp_pid" ] && kill -INT "$wp_pid" 2>/dev/null && wait "$wp_pid" 2>/dev/null
    "$HERE/pgcluster.sh" stop "$work/pg"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted, cleaning up"; exit 130' INT TERM

echo "== starting a throwaway PostgreSQL 15 cluster"
eval "$("$HERE/pgcluster.sh" start "$work/pg")"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
http=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

cat >"$work/users.txt" <<USERS
"app" "apppass"
"postgres" "adminpass"
USERS
cat >"$work/wedpool.ini" <<INI
[databases]
appdb = host=127.0.0.1 port=$PGPORT dbname=appdb

[lanes]
critical   = priority=1400 reserve=yes
default    = priority=100
background = priority=10 max_active=25% queue_timeout_ms=5000 max_waiting=100

[lane_rules]
critical   = application_name=wedsync-ceremony*
background = application_name=report*

[wedpool]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = scram-sha-256
auth_file = users.txt
pool_mode = transaction
min_pool_size = 5
max_pool_size = 20
reserve_pool_size = 5
admin_users = postgres
http_listen = 127.0.0.1:$http
INI

echo "== starting wedpool on 127.0.0.1:$port (log: $work/wedpool.log)"
"$WEDPOOL" -c "$work/wedpool.ini" >"$work/wedpool.log" 2>&1 &
wp_pid=$!
for _ in $(seq 100); do
    (echo >/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break
    sleep 0.05
done

cat <<TXT

  Connect through wedpool:   PGPASSWORD=apppass psql -h 127.0.0.1 -p $port -U app appdb
  Admin console:             PGPASSWORD=adminpass psql -h 127.0.0.1 -p $port -U postgres wedpool -c 'SHOW POOLS'
  Prometheus metrics:        curl -s http://127.0.0.1:$http/metrics
  Pool snapshot (JSON):      curl -s http://127.0.0.1:$http/api/metrics/database/pool

TXT

export PGPASSWORD=apppass
bench() { "$PGBIN/pgbench" -h 127.0.0.1 -p "$port" -U app "$@" appdb 2>&1 | grep -E '^(tps|number of (transactions actually|failed)|latency average)' | sed 's/^/    /'; }

echo "== 1. 50 clients, read-only point queries, 10 s (pgbench -S), over a pool of 20 server connections"
bench -S -c 50 -j 2 -T 10
echo "== 2. 20 clients, TPC-B-like read/write transactions, 5 s"
bench -c 20 -j 2 -T 5
echo "== 3. wedding-day mix for 5 s: 40 web clients, 10 reporting clients (background lane), 2 ceremony clients (critical lane)"
PGAPPNAME=web bench -S -c 40 -j 1 -T 5 >"$work/web.out" &
p1=$!
PGAPPNAME=reporting bench -c 10 -j 1 -T 5 >"$work/report.out" &
p2=$!
PGAPPNAME=wedsync-ceremony-vows bench -S -c 2 -j 1 -T 5 -R 50 >"$work/ceremony.out" &
p3=$!
wait "$p1" "$p2" "$p3"
echo "  web (default lane):";           cat "$work/web.out"
echo "  reporting (background lane):";  cat "$work/report.out"
echo "  ceremony (critical lane, 50 tx/s):"; cat "$work/ceremony.out"

echo
echo "== pools (SHOW POOLS)"
PGPASSWORD=adminpass "$PGBIN/psql" -h 127.0.0.1 -p "$port" -U postgres wedpool -c 'SHOW POOLS'
echo "== lanes (SHOW LANES)"
PGPASSWORD=adminpass "$PGBIN/psql" -h 127.0.0.1 -p "$port" -U postgres wedpool -c 'SHOW LANES'
echo "== stats (SHOW STATS)"
PGPASSWORD=adminpass "$PGBIN/psql" -h 127.0.0.1 -p "$port" -U postgres wedpool -x -c 'SHOW STATS'
echo "== acquisition wait, last minute (GET /api/metrics/database/pool)"
curl -s "http://127.0.0.1:$http/api/metrics/database/pool" | python3 -m json.tool

if [ "${DEMO_KEEP:-0}" = 1 ]; then
    echo
    echo "DEMO_KEEP=1: wedpool and PostgreSQL keep running; press Ctrl-C to stop and clean up."
    wait "$wp_pid"
fi
echo "demo: done, cleaning up"
