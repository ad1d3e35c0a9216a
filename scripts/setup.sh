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
# npm ci only when the lockfile changed since the last install (by content: a fresh checkout's
# lockfile is newer than any node_modules). Never through a symlinked node_modules: npm ci would
# empty the folder it points to, which other checkouts share.
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -L node_modules ]; then
  if [ "$(cat node_modules/.setup-lock-sha256 2>/dev/null)" != "$lock_sum" ]; then
    echo "setup: node_modules is a link to $(readlink -f node_modules), shared with other checkouts; not reinstalling it here (run npm ci there if it is out of date)" >&2
  fi
elif [ ! -d node_modules ] || [ "$(cat node_modules/.setup-lock-sha256 2>/dev/null)" != "$lock_sum" ]; then
  npm ci --no-audit --no-fund
  echo "$lock_sum" > node_modules/.setup-lock-sha256
fi
bash test/e2e/harness/setup.sh "${E2E_PREFIX:-.e2e}"
