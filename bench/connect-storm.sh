#!/usr/bin/env bash
# bench/connect-storm.sh WEDPOOL_BIN — 10,000 SCRAM-SHA-256 logins as fast as possible through
# wedpool and through PgBouncer (Debian's package, same auth file with plain secrets), one after
# the other against the same PostgreSQL: logins/s and the pooler's CPU per login. PgBouncer runs
# PBKDF2 on every login; wedpool derives a user's SCRAM keys once. Goal: >= 10x PgBouncer.
# wedpool-bench logs in with its own protocol code (--login raw), which computes SCRAM's salted
# password once per salt; libpq would spend ~3 ms of the bench's CPU on every login.
# Env: CLIENTS (10000), CONCURRENCY (256 logins in flight), LOGIN (raw; libpq for comparison).
# TLS=1: both poolers take clients over TLS (client_tls_sslmode = require, certificates made for the
# run; the poolers talk to PostgreSQL in plain text) and the bench logs in with sslmode=require, which
# needs LOGIN=libpq (the default then): every login pays a full TLS handshake in the pooler.
# Writes bench/results/connect-storm.json (connect-storm-tls.json with TLS=1).
source "$(dirname "$0")/lib.sh"
bench_init connect-storm "$@"
need_wpbench
CLIENTS=${CLIENTS:-10000}
CONCURRENCY=${CONCURRENCY:-256}
TLS=${TLS:-}
wp_tls=() pgb_tls=() SSLDSN=""
if [ -n "$TLS" ]; then
    LOGIN=${LOGIN:-libpq}
    [ "$LOGIN" = libpq ] || { echo "TLS=1 needs LOGIN=libpq (the raw login has no TLS)" >&2; exit 2; }
    RESULT="$HERE/results/connect-storm-tls.json"
fi
LOGIN=${LOGIN:-raw}

start_pg
if [ -n "$TLS" ]; then
    make_tls_certs
    SSLDSN=" sslmode=require"
    wp_tls=("client_tls_sslmode = require" "client_tls_cert_file = $TLS_DIR/server.crt"
            "client_tls_key_file = $TLS_DIR/server.key" "server_tls_sslmode = disable")
    pgb_tls=("client_tls_sslmode = require" "client_tls_cert_file = $TLS_DIR/server.crt"
             "client_tls_key_file = $TLS_DIR/server.key" "server_tls_sslmode = disable")
fi
start_wedpool "min_pool_size = 5" "max_pool_size = 20" ${wp_tls[@]+"${wp_tls[@]}"}
start_pgbouncer scram-sha-256 20 ${pgb_tls[@]+"${pgb_tls[@]}"}
echo "connect-storm: $CLIENTS SCRAM logins, $CONCURRENCY in flight, $LOGIN login${TLS:+, client TLS (sslmode=require)}; wedpool vs $PGB_VERSION"
storm() { # name port pid
    local c0 c1
    c0=$(cpu_ticks "$3")
    "$WPBENCH" --dsn "$(dsn "$2")$SSLDSN" -c "$CLIENTS" --connect-rate 0 --connect-concurrency "$CONCURRENCY" -T 0 -q \
        --login "$LOGIN" \
        --json "$WORK/$1.json" || { echo "wedpool-bench against $1 failed"; exit 1; }
    c1=$(cpu_ticks "$3")
    echo "$(( (c1 - c0) * 1000000 / TICK ))" >"$WORK/$1.cpu_us"
}
storm wedpool "$WP_PORT" "$WP_PID"
storm pgbouncer "$PGB_PORT" "$PGB_PID"
python3 "$HERE/summarize.py" connect-storm "$WORK/wedpool.json" "$RESULT" --other "$WORK/pgbouncer.json" \
    --meta "wedpool_cpu_us=$(cat "$WORK/wedpool.cpu_us")" "pgbouncer_cpu_us=$(cat "$WORK/pgbouncer.cpu_us")" \
    "pgbouncer=$PGB_VERSION"
