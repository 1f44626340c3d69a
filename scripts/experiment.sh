#!/usr/bin/env bash
# `npm run experiment`: the paper's comparison at toy scale (issue #8). Sets up the trainer's environment on a fresh
# machine, then runs sft, grpo, sft_then_rl, luffy, prefix_context, prefix_sft and trapo x seeds 0, 1, 2 on the
# shared config trainer/trapo/configs/comparison.trapo.yaml (two trainers at a time, one thread each), and writes
# runs/comparison/report/ (report.md: Table 1 and Table 2 shaped like the paper's; results.json; curves as PNG).
# About 80 minutes on 2 CPU cores. Interrupt with Ctrl-C and run it again: finished runs are kept, the others resume.
#
#   npm run experiment                                  # everything
#   npm run experiment -- --seeds 0 --algorithms grpo,trapo   # a subset
#   npm run experiment -- --set train.steps=200         # any config key, for every run alike
#   trainer/.venv/bin/python -m trapo report runs/comparison  # the report again from the run directories
#
# The runs are ordinary run directories under runs/comparison: open this folder in VS Code (or `npm run demo`, which
# links them into its workspace) and they are in the Runs, Benchmarks and Prefix Allocation views and in Compare
# Checkpoints.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
bash scripts/setup-python.sh
exec trainer/.venv/bin/python -m trapo experiment --out runs/comparison "$@"
