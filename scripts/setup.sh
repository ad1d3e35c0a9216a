#!/usr/bin/env bash
# Idempotent install of everything the tests need: the project's npm packages, and for the tests in
# a real VS Code: Chromium (Debian), Node 24 and code-server (npm registry) under .e2e/ (or $E2E_PREFIX).
# Only the npm registry and Debian's packages are used.
set -euo pipefail
cd "$(dirname "$0")/.."
# The project needs Node 20 or newer (package.json engines); packaging uses the Node 24 installed below.
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "setup: Node 20 or newer is needed (found $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
bash test/e2e/harness/setup.sh "${E2E_PREFIX:-.e2e}"
