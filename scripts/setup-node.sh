#!/usr/bin/env bash
# Installs the npm packages exactly as locked (npm ci) when node_modules is missing or out of date.
set -euo pipefail
cd "$(dirname "$0")/.."
STAMP="node_modules/.trapo-lock-$(sha256sum package-lock.json | cut -c1-16)"
if [ -f "$STAMP" ]; then
  echo "[setup-node] node_modules up to date"
  exit 0
fi
echo "[setup-node] npm ci"
npm ci --no-audit --no-fund
touch "$STAMP"
