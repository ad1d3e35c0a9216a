#!/usr/bin/env bash
# Idempotent install of everything the tests need. Only the npm registry is used.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
