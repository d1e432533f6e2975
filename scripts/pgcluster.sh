#!/usr/bin/env bash
# Throwaway PostgreSQL 15 cluster for the demo and benchmarks.
#   pgcluster.sh start DIR   initdb + start as the postgres user on a free port; prints PGPORT=N
#   pgcluster.sh stop DIR    stop it (the directory stays; remove it yourself)
# It has role app (password apppass, superuser) owning database appdb with pgbench tables (scale 1).
set -euo pipefail
PGBIN=/usr/lib/postgresql/15/bin
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }

as_pg() { runuser -u postgres -- "$@"; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

case "$cmd" in
start)
    mkdir -p "$dir"
    chown postgres "$dir"
    port=$(free_port)
    as_pg "$PGBIN/initdb" -D "$dir/data" -U postgres -A trust --no-sync >"$dir/initdb.log" 2>&1
    cat >>"$dir/data/postgresql.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 256MB
CONF
    cat >"$dir/data/pg_hba.conf" <<HBA
local all postgres trust
host all all 127.0.0.1/32 scram-sha-256
HBA
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w start >/dev/null
    as_pg "$PGBIN/psql" -q -h "$dir" -p "$port" -U postgres -d postgres \
        -c "CREATE ROLE app LOGIN SUPERUSER PASSWORD 'apppass'" -c "CREATE DATABASE appdb OWNER app" >/dev/null
    PGPASSWORD=apppass "$PGBIN/pgbench" -i -q -s 1 -h 127.0.0.1 -p "$port" -U app appdb >/dev/null 2>&1
    echo "PGPORT=$port"
    ;;
stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    ;;
*)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
