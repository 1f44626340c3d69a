#!/usr/bin/env bash
# Wheels the GPU machine lacks (it reaches no registry), unpacked for its Python 3.12 into one folder to carry there:
#   bash trainer/bench/gpu/prepare_carry.sh            # -> trainer/bench/gpu/carry/ (git-ignored, a few MB)
# then on the GPU machine (the run tool: carry ["trainer/bench/gpu/carry"]):
#   cd trainer && PYTHONPATH=.:bench/gpu/carry python bench/gpu_check.py --out "$OUT"
# gpu_check.py itself needs neither package (the embedded task's answers are integers; without jsonschema the run
# directory gets structural checks): math-verify is for real-data rewards, jsonschema for the full schema check.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dest="${1:-$here/carry}"
py="${PYTHON:-$here/../../.venv/bin/python}"
rm -rf "$dest" && mkdir -p "$dest"
# sympy comes with torch there; rpds-py is the one compiled wheel (manylinux, cp312)
"$py" -m pip install --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp --abi cp312 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --target "$dest" \
  'math-verify==0.9.0' 'latex2sympy2_extended==1.11.0' 'antlr4-python3-runtime==4.13.2' \
  'jsonschema==4.26.0' 'jsonschema-specifications==2025.9.1' 'referencing==0.37.0' 'rpds-py==2026.9.1' 'attrs==26.1.0'
du -sh "$dest"
