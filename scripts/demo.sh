#!/usr/bin/env bash
# make demo: a wedding Saturday in about two minutes. A throwaway PostgreSQL, wedpool in front of it
# with a calendar of three weddings and the fake clock (07:00-23:10 Europe/London at 480x), load that
# follows the day across the lanes, pre-warming before the first ceremony, a capacity-cutting RELOAD
# refused during the weddings, and a summary (DEMO_SUMMARY=path also writes it as JSON). The day
# itself is scripts/demo_saturday.py. Everything is removed on exit or Ctrl-C.
set -euo pipefail
WEDPOOL=${1:?usage: demo.sh path/to/wedpool}
HERE=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-/usr/bin/python3}
work=$(mktemp -d /tmp/wedpool-demo.XXXXXX)
chmod 755 "$work"
py_pid=""

cleanup() {
    set +e
    [ -n "$py_pid" ] && kill -TERM "$py_pid" 2>/dev/null && wait "$py_pid" 2>/dev/null
    # wedpool is the Python script's child; should it outlive the script, its pidfile names it
    if [ -s "$work/wedpool.pid" ]; then
        pid=$(cat "$work/wedpool.pid")
        if kill -0 "$pid" 2>/dev/null; then
            kill -INT "$pid" 2>/dev/null
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        fi
    fi
    "$HERE/pgcluster.sh" stop "$work/pg"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted, cleaning up"; exit 130' INT TERM

echo "== starting a throwaway PostgreSQL 15 cluster"
eval "$("$HERE/pgcluster.sh" start "$work/pg")"
export PGPORT

"$PYTHON" -u "$HERE/demo_saturday.py" "$WEDPOOL" "$work" &
py_pid=$!
rc=0
wait "$py_pid" || rc=$?
py_pid=""
if [ "$rc" != 0 ]; then
    echo "demo: failed (status $rc); the last lines of wedpool's log:"
    tail -n 30 "$work/wedpool.log" 2>/dev/null || true
    exit "$rc"
fi
echo "demo: done, cleaning up"
