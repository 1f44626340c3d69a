#!/usr/bin/env bash
# `npm run demo` (foundation stage): installs and builds everything, packages the extension, and says what is
# still missing before it can open VS Code with the demo run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-node.sh
bash scripts/setup-python.sh
node scripts/build.mjs
npx vsce package --target linux-x64 --out dist/trapo.vsix
trainer/.venv/bin/python -m trapo --help >/dev/null 2>&1 || echo "note: the trainer CLI is not in place yet"
echo
echo "Built dist/trapo.vsix. Not there yet: opening VS Code (code-server) with a demo workspace and a demo run."
echo "Install it into your own VS Code with: code --install-extension dist/trapo.vsix"
