#!/usr/bin/env bash
# Idempotent install of everything the tests need: the project's npm packages, and for the tests in
# a real VS Code: Chromium (Debian), Node 24 and code-server (npm registry) under .e2e/ (or $E2E_PREFIX).
# Only the npm registry and Debian's packages are used.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
bash test/e2e/harness/setup.sh "${E2E_PREFIX:-.e2e}"
