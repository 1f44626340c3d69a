#!/usr/bin/env bash
# The end-to-end suite: build → package the .vsix → install what is missing (scripts/e2e-setup.sh) → run
# test/e2e/*.test.ts with node's test runner against a real VS Code (code-server) in headless chromium.
# Exits non-zero when a step or a test fails; node's test runner prints the summary (# tests / # pass / # fail ...).
#
#   bash scripts/e2e.sh                          # everything
#   bash scripts/e2e.sh test/e2e/views.test.ts   # some test files only
#   TRAPO_E2E_SKIP_BUILD=1 bash scripts/e2e.sh   # reuse dist/trapo.vsix as it is
#   TRAPO_E2E_KEEP=1 ...                         # keep each session's scratch folder (.e2e/sessions/*)
# Screenshots land in test-results/e2e/ (kept as artifacts).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
t0=$(date +%s)
step() { printf '[e2e] %s (%d s)\n' "$*" $(( $(date +%s) - t0 )) >&2; }

# npm packages and the trainer's environment (the live tests run the real trainer): the lead's idempotent scripts.
if [ -f scripts/setup-node.sh ]; then bash scripts/setup-node.sh >&2
elif [ ! -d node_modules ]; then step "npm ci"; npm ci --no-audit --no-fund >&2; fi
if [ -f scripts/setup-python.sh ]; then bash scripts/setup-python.sh >&2; fi
if [ "${TRAPO_E2E_SKIP_BUILD:-}" != 1 ] || [ ! -f dist/trapo.vsix ]; then
  step "build"
  node scripts/build.mjs >&2
  step "package dist/trapo.vsix"
  # --no-rewrite-relative-links: the README's relative links need no repository URL in a local package.
  npm run package --silent -- --no-rewrite-relative-links >"${TMPDIR:-/tmp}/trapo-e2e-package.log" 2>&1 \
    || { cat "${TMPDIR:-/tmp}/trapo-e2e-package.log" >&2; echo "[e2e] packaging failed" >&2; exit 1; }
fi
step "setup"
bash scripts/e2e-setup.sh >/dev/null

rm -rf test-results/e2e
mkdir -p test-results/e2e
if [ $# -gt 0 ]; then files=("$@"); else files=(test/e2e/*.test.ts); fi
step "tests: ${files[*]}"
# One VS Code at a time (each takes ~1.7 GiB with chromium; 2 cores here).
rc=0
nice node --import tsx --test --test-concurrency=1 "${files[@]}" 2>&1 | tee test-results/e2e/report.tap || rc=$?
step "done, exit $rc; screenshots in test-results/e2e/"
exit $rc
