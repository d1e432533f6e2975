#!/usr/bin/env bash
# Installs the npm packages of the driver tests (tests/drivers/node: node-postgres) from their
# lock file with `npm ci`, unless node_modules already matches it.
set -euo pipefail
dir="$(cd "$(dirname "$0")/.." && pwd)/tests/drivers/node"
if ! command -v npm >/dev/null 2>&1; then
    echo "deps: npm is missing (it comes with nodejs from NodeSource, or Debian's npm package)" >&2
    exit 1
fi
stamp="$dir/node_modules/.package-lock.json"
if [ -f "$stamp" ] && [ "$stamp" -nt "$dir/package-lock.json" ]; then
    exit 0
fi
echo "deps: npm ci in tests/drivers/node"
npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
