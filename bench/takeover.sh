#!/usr/bin/env bash
# bench/takeover.sh WEDPOOL_BIN — restarting wedpool under a connect-and-query loop: ROUNDS (5) runs
# of tests/integration/test_takeover.py's loop test (4 threads, connect -> select 1 -> disconnect
# paced to 200/s, two takeovers per run, each with its own throwaway PostgreSQL 15 cluster), then
# the sums: attempts, refused connections, failed queries, the switch time (start of `wedpool
# --takeover` until the old process stops accepting) and the old process's exit time.
# Writes bench/results/takeover.json.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=$(realpath "${1:?usage: bench/takeover.sh WEDPOOL_BIN}")
ROUNDS=${ROUNDS:-5}
mkdir -p "$HERE/results"
for i in $(seq 1 "$ROUNDS"); do
    WEDPOOL_BIN=$BIN WEDPOOL_TAKEOVER_RESULTS="$HERE/results/takeover-$i.json" \
        /usr/bin/python3 -m pytest -q -p no:cacheprovider "$HERE/../tests/integration/test_takeover.py" \
        -k connect_loop >/dev/null
done
/usr/bin/python3 - "$HERE/results" "$ROUNDS" <<'PY'
import json, statistics, sys
d, n = sys.argv[1], int(sys.argv[2])
runs = [json.load(open(f"{d}/takeover-{i}.json")) for i in range(1, n + 1)]
sw = [s for r in runs for s in r["switch_s"]]
ex = [s for r in runs for s in r["old_exit_s"]]
out = {"runs": n, "takeovers": len(sw), "rate_per_s": 200,
       "attempts": sum(r["attempts"] for r in runs), "refused": sum(r["refused"] for r in runs),
       "failed": sum(r["failed"] for r in runs),
       "switch_ms_median": round(statistics.median(sw) * 1000), "switch_ms_worst": round(max(sw) * 1000),
       "old_exit_ms_median": round(statistics.median(ex) * 1000), "old_exit_ms_worst": round(max(ex) * 1000),
       "worst_connect_query_ms": max(r["worst_connect_query_ms"] for r in runs)}
json.dump(out, open(f"{d}/takeover.json", "w"), indent=1)
print("| runs | takeovers | attempts | refused | failed | switch ms median / worst | old exit ms median / worst | worst connect+query ms |")
print("|---|---|---|---|---|---|---|---|")
print(f"| {n} | {len(sw)} | {out['attempts']} | {out['refused']} | {out['failed']} | {out['switch_ms_median']} / "
      f"{out['switch_ms_worst']} | {out['old_exit_ms_median']} / {out['old_exit_ms_worst']} | {out['worst_connect_query_ms']} |")
PY
