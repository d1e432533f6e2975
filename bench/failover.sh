#!/usr/bin/env bash
# failover.sh — time from promotion to the first write through wedpool, RUNS times (default 5):
# a primary and a pg_basebackup standby, the primary stopped under a client in a transaction, the
# standby promoted with pg_ctl promote; prints each run, the median and the worst.
# Usage: bench/failover.sh build/wedpool
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-build/wedpool}")
runs=${RUNS:-5}
mkdir -p bench/results
WEDPOOL_BIN="$bin" WEDPOOL_FAILOVER_RUNS="$runs" WEDPOOL_TEST_TIMEOUT=$((60 + runs * 30)) \
    /usr/bin/python3 -m pytest -q -s tests/integration/test_failover.py -k failover_follows 2>&1 |
    tee bench/results/failover.txt | grep -E "^failover|passed|failed"
