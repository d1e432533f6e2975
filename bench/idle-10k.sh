#!/usr/bin/env bash
# bench/idle-10k.sh WEDPOOL_BIN — memory per idle logged-in client: 10,000 clients log in and stay
# idle; the pooler's RSS growth divided by the clients, wedpool vs PgBouncer, with trust and with
# SCRAM logins (PgBouncer keeps SCRAM state per client). wedpool-bench logs in with its own
# protocol code (--login raw: SCRAM's salted password computed once per salt, no libpq buffers per
# idle connection). Env: CLIENTS (10000), HOLD_S (10), LOGIN (raw; libpq for comparison).
source "$(dirname "$0")/lib.sh"
bench_init idle-10k "$@"
need_wpbench
CLIENTS=${CLIENTS:-10000}
HOLD_S=${HOLD_S:-10}
LOGIN=${LOGIN:-raw}

start_pg
: >"$WORK/rows.txt"
measure() { # target auth
    local port pid before peak=0 bench r
    if [ "$1" = wedpool ]; then
        start_wedpool "auth_type = $2" "min_pool_size = 5" "max_pool_size = 20"
        port=$WP_PORT pid=$WP_PID
    else
        start_pgbouncer "$2" 20
        port=$PGB_PORT pid=$PGB_PID
    fi
    # A warm-up login opens the pool, so the baseline holds the server connections.
    PGPASSWORD=apppass "$PGBIN/psql" -h 127.0.0.1 -p "$port" -U app -d appdb -Atqc 'select 1' >/dev/null
    sleep 0.5
    before=$(rss_kib "$pid")
    "$WPBENCH" --dsn "$(dsn "$port")" -c "$CLIENTS" --connect-rate 0 --idle -T "$HOLD_S" -q --login "$LOGIN" \
        --json "$WORK/$1-$2.json" &
    bench=$!
    while kill -0 "$bench" 2>/dev/null; do
        r=$(rss_kib "$pid"); [ "$r" -gt "$peak" ] && peak=$r
        sleep 0.5
    done
    wait "$bench" || { echo "wedpool-bench against $1 ($2) failed"; exit 1; }
    echo "$1 $2 $before $peak $WORK/$1-$2.json" >>"$WORK/rows.txt"
    printf '  %-9s %-14s RSS %6d KiB idle -> %7d KiB with %d clients\n' "$1" "$2" "$before" "$peak" "$CLIENTS"
    if [ "$1" = wedpool ]; then stop_wedpool; else stop_pgbouncer; fi
}
echo "idle-10k: $CLIENTS idle logged-in clients, held ${HOLD_S}s, $LOGIN login"
for auth in trust scram-sha-256; do
    measure wedpool "$auth"
    measure pgbouncer "$auth"
done
python3 "$HERE/summarize.py" idle-10k "$WORK/rows.txt" "$RESULT" --meta "clients=$CLIENTS" \
    "pgbouncer=$(/usr/sbin/pgbouncer --version | head -1)"
