#!/usr/bin/env bash
# The end-to-end suite: build → package the .vsix → install what is missing (scripts/e2e-setup.sh) → run
# test/e2e/*.test.ts with node's test runner against a real VS Code (code-server) in headless chromium.
# Exits non-zero when a step or a test fails; node's test runner prints the summary (# tests / # pass / # fail ...).
#
#   bash scripts/e2e.sh                          # everything
#   bash scripts/e2e.sh test/e2e/views.test.ts   # some test files only
#   TRAPO_E2E_SKIP_BUILD=1 bash scripts/e2e.sh   # reuse dist/trapo.vsix as it is
#   TRAPO_E2E_KEEP=1 ...                         # keep each session's scratch folder (.e2e/sessions/*)
#   TRAPO_E2E_WARMUP=0 ...                       # no tiny-model warm-up (busy machine): untrained model in the live runs
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

# The demo config's warmed-up tiny base ships with the trainer (trapo/bases/, trainer/scripts/make_tiny_base.py):
# this step then only finds it. Were it stale (the tiny model or the task changed), the base is warmed up here once
# and cached, so that the live tests time the extension, not the warm-up. Same call as the trainer
# (trapo/train.py: seed 0, the config's model.warmup). A failure here only means the first live run warms up itself.
# One cache for the suite, `npm run demo` and the extension: the trainer's default (~/.cache/trapo), named here because
# the sessions run with a scratch HOME.
export TRAPO_CACHE="${TRAPO_CACHE:-$HOME/.cache/trapo}"
if [ "${TRAPO_E2E_WARMUP:-1}" != 0 ] && [ -x trainer/.venv/bin/python ] && [ -f trainer/trapo/configs/demo.trapo.yaml ]; then
  step "warm up the tiny model (cached in $TRAPO_CACHE)"
  nice -n "${TRAPO_E2E_NICE:-0}" trainer/.venv/bin/python - trainer/trapo/configs/demo.trapo.yaml <<'PY' >&2 || echo "[e2e] warm-up skipped (see above)" >&2
import sys
from trapo import models
from trapo.config import load_config
cfg = load_config(sys.argv[1])
print("[e2e] tiny model:", models.build_warm_tiny(dict(vars(cfg.model.warmup)), seed=0, log=print))
PY
fi

rm -rf test-results/e2e
mkdir -p test-results/e2e
if [ $# -gt 0 ]; then files=("$@"); else files=(test/e2e/*.test.ts); fi
step "tests: ${files[*]}"
# One VS Code at a time (each takes ~1.7 GiB with chromium; 2 cores here). TRAPO_E2E_NICE=10 runs the suite (and the
# warm-up) at a lower priority; the default 0 keeps its timeouts meaningful on a busy machine.
rc=0
nice -n "${TRAPO_E2E_NICE:-0}" node --import tsx --test --test-concurrency=1 "${files[@]}" 2>&1 | tee test-results/e2e/report.tap || rc=$?
step "done, exit $rc; screenshots in test-results/e2e/"
exit $rc
