# bench/lib.sh — shared by the scenario scripts (sourced, not run). Each scenario:
#   source "$(dirname "$0")/lib.sh"; bench_init NAME "$@"
# then start_pg, start_wedpool, start_pgbouncer as it needs. Everything it starts is stopped and
# the work directory removed on exit or Ctrl-C.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
PGBIN=/usr/lib/postgresql/15/bin
TICK=$(getconf CLK_TCK)
BENCH_PIDS=()

bench_init() { # NAME WEDPOOL_BIN
    SCENARIO=$1
    WEDPOOL=$(realpath "${2:?usage: $SCENARIO.sh path/to/wedpool}")
    WPBENCH=${WPBENCH:-$(dirname "$WEDPOOL")/wedpool-bench}
    mkdir -p "$HERE/results"
    RESULT="$HERE/results/$SCENARIO.json"
    WORK=$(mktemp -d "/tmp/wedpool-$SCENARIO.XXXXXX")
    chmod 755 "$WORK"
    chown postgres "$WORK"
    # The hard limit is 20,000 open files here; 10,000 clients need the soft limit raised for
    # this shell and what it starts (wedpool raises its own, PgBouncer does not).
    ulimit -n "$(ulimit -Hn)"
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

bench_cleanup() {
    set +e
    for p in "${BENCH_PIDS[@]}"; do kill -INT "$p" 2>/dev/null; done
    [ -f "$WORK/pgbouncer.pid" ] && kill -INT "$(cat "$WORK/pgbouncer.pid")" 2>/dev/null
    wait 2>/dev/null
    "$ROOT/scripts/pgcluster.sh" stop "$WORK/pg"
    rm -rf "$WORK"
}

need_wpbench() { [ -x "$WPBENCH" ] || { echo "$SCENARIO: $WPBENCH not built (make build)" >&2; exit 1; }; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

start_pg() { # sets PGPORT
    eval "$("$ROOT/scripts/pgcluster.sh" start "$WORK/pg")"
    printf '"app" "apppass"\n' >"$WORK/users.txt"
    chown postgres "$WORK/users.txt"
}

# start_wedpool [ini lines...] — transaction mode, SCRAM, HTTP on; extra lines go into [wedpool]
# (a line starting with '[' opens its own section). Sets WP_PORT, WP_HTTP, WP_PID. WP_NAME (default
# wedpool) names its .ini and .log in $WORK, so that two daemons can run side by side.
start_wedpool() {
    local name=${WP_NAME:-wedpool}
    WP_PORT=$(free_port)
    WP_HTTP=$(free_port)
    {
        printf '[databases]\nappdb = host=127.0.0.1 port=%s dbname=appdb\n' "$PGPORT"
        printf '%s\n' "$@" | awk '/^\[/ {s=1} s'
        printf '[wedpool]\nlisten_addr = 127.0.0.1\nlisten_port = %s\nunix_socket_dir =\n' "$WP_PORT"
        printf 'auth_type = scram-sha-256\nauth_file = users.txt\npool_mode = transaction\n'
        printf 'max_client_conn = 10000\nlog_level = warning\nhttp_listen = 127.0.0.1:%s\n' "$WP_HTTP"
        printf '%s\n' "$@" | awk '/^\[/ {exit} {print}'
    } >"$WORK/$name.ini"
    # its own session, as PgBouncer -d and the backends have: the scheduler groups CPU by session
    setsid "$WEDPOOL" -c "$WORK/$name.ini" >"$WORK/$name.log" 2>&1 &
    WP_PID=$!
    BENCH_PIDS+=("$WP_PID")
    wait_port "$WP_PORT" || { echo "wedpool did not start:"; cat "$WORK/$name.log"; exit 1; }
}

# make_tls_certs — a CA and a server certificate for 127.0.0.1/localhost in $WORK/tls (readable by
# the postgres user, which runs PostgreSQL and PgBouncer). Sets TLS_DIR.
make_tls_certs() {
    TLS_DIR=$WORK/tls
    mkdir -p "$TLS_DIR"
    (
        cd "$TLS_DIR"
        openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=benchca
        openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >ext.cnf
        openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 \
            -extfile ext.cnf
    ) >/dev/null 2>&1
    chmod 600 "$TLS_DIR"/*.key
    chown -R postgres "$TLS_DIR"
}

# enable_pg_ssl — ssl = on for the cluster start_pg made (a reload suffices), with make_tls_certs'.
enable_pg_ssl() {
    cp "$TLS_DIR/server.crt" "$TLS_DIR/server.key" "$WORK/pg/data/"
    chown postgres "$WORK/pg/data/server.crt" "$WORK/pg/data/server.key"
    chmod 600 "$WORK/pg/data/server.key"
    runuser -u postgres -- "$PGBIN/psql" -q -h "$WORK/pg" -p "$PGPORT" -U postgres -d postgres \
        -c "ALTER SYSTEM SET ssl = on" -c "SELECT pg_reload_conf()" >/dev/null
    for _ in $(seq 100); do
        [ "$(runuser -u postgres -- "$PGBIN/psql" -Atq -h "$WORK/pg" -p "$PGPORT" -U postgres -d postgres \
            -c "SHOW ssl")" = on ] && return 0
        sleep 0.05
    done
    echo "PostgreSQL did not turn ssl on" >&2
    exit 1
}

# start_pgbouncer AUTH_TYPE POOL [ini lines...] — Debian's PgBouncer as the postgres user; the extra
# lines go into [pgbouncer]. Sets PGB_PORT, PGB_PID. MAX_CLIENT_CONN (default 10000) is its
# max_client_conn.
start_pgbouncer() {
    PGB_PORT=$(free_port)
    cat >"$WORK/pgbouncer.ini" <<INI
[databases]
appdb = host=127.0.0.1 port=$PGPORT dbname=appdb
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGB_PORT
unix_socket_dir =
auth_type = $1
auth_file = $WORK/users.txt
pool_mode = transaction
default_pool_size = $2
max_client_conn = ${MAX_CLIENT_CONN:-10000}
logfile = $WORK/pgbouncer.log
pidfile = $WORK/pgbouncer.pid
log_connections = 0
log_disconnections = 0
INI
    [ $# -gt 2 ] && printf '%s\n' "${@:3}" >>"$WORK/pgbouncer.ini"
    chown postgres "$WORK/pgbouncer.ini"
    # setpriv, not runuser: runuser's PAM session would cut the open-files limit to 1024.
    setpriv --reuid=postgres --regid=postgres --init-groups -- /usr/sbin/pgbouncer -d "$WORK/pgbouncer.ini" \
        >/dev/null 2>&1
    wait_port "$PGB_PORT" || { echo "pgbouncer did not start:"; cat "$WORK/pgbouncer.log"; exit 1; }
    PGB_PID=$(cat "$WORK/pgbouncer.pid")
    PGB_VERSION=$(/usr/sbin/pgbouncer --version | head -1)
}

stop_pgbouncer() {
    [ -f "$WORK/pgbouncer.pid" ] || return 0
    kill -INT "$(cat "$WORK/pgbouncer.pid")" 2>/dev/null || true
    for _ in $(seq 100); do [ -f "$WORK/pgbouncer.pid" ] || break; sleep 0.05; done
}

stop_wedpool() {
    kill -INT "$WP_PID" 2>/dev/null || true
    wait "$WP_PID" 2>/dev/null || true
}

dsn() { echo "host=127.0.0.1 port=$1 user=app dbname=appdb password=apppass"; }
