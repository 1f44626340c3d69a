#!/usr/bin/env bash
# Time from `npm run demo` to the demo run's first step (its first metrics event), and where the time goes: the URL
# printed, run.json written, each `phase` event, run_started, step 1. Then stops what it started (`--stop`).
#
#   bash bench/demo-first-step.sh           # this checkout, set-up done (node_modules, trainer/.venv)
#   bash bench/demo-first-step.sh --fresh   # a fresh clone of HEAD in a scratch folder: npm ci, a new venv with
#                                           # PyTorch from PyPI, code-server installed anew, then the demo
#
# Everything goes to a scratch folder (BENCH_DIR, default /tmp/trapo-bench-first-step): the demo's workspace, and
# TRAPO_E2E_DIR (code-server's user data). Without --fresh, code-server is not installed again: BENCH_CODE_SERVER
# (default: this checkout's .e2e/code-server, or TRAPO_E2E_DIR's) is linked in. A free port is used.
# The figures depend on the machine's load: say what else ran when quoting them.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fresh=0
[ "${1:-}" = --fresh ] && fresh=1
BENCH="${BENCH_DIR:-/tmp/trapo-bench-first-step}"
rm -rf "$BENCH/workspace" "$BENCH/e2e/demo"
mkdir -p "$BENCH/e2e"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

if [ "$fresh" = 1 ]; then
  SRC="$BENCH/repo"
  rm -rf "$SRC" "$BENCH/e2e/code-server"
  git clone -q --no-hardlinks "$REPO" "$SRC"
  git -C "$SRC" checkout -q "$(git -C "$REPO" rev-parse HEAD)"
  echo "[bench] fresh clone of $(git -C "$REPO" rev-parse --short HEAD) in $SRC (no node_modules, no venv, no code-server)"
else
  SRC="$REPO"
  CS="${BENCH_CODE_SERVER:-${TRAPO_E2E_DIR:-$REPO/.e2e}/code-server}"
  [ -d "$CS" ] || { echo "[bench] no code-server at $CS: run scripts/e2e-setup.sh, or set BENCH_CODE_SERVER" >&2; exit 1; }
  ln -sfn "$CS" "$BENCH/e2e/code-server"
fi
WS="$BENCH/workspace"
export TRAPO_E2E_DIR="$BENCH/e2e" TRAPO_DEMO_WORKSPACE="$WS" TRAPO_DEMO_PORT="$PORT"

t0=$(date +%s.%N)
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[1]) - float(sys.argv[2]):.1f}')" "$1" "$t0"; }
stop() { (cd "$SRC" && bash scripts/demo.sh --stop >/dev/null 2>&1) || true; }
trap stop EXIT
(cd "$SRC" && bash scripts/demo.sh --code-server) >"$BENCH/demo.out" 2>&1 &
demo_pid=$!
url_at="" first_at=""
while :; do
  now=$(date +%s.%N)
  [ -z "$url_at" ] && grep -q 'is running:' "$BENCH/demo.out" 2>/dev/null && url_at=$(elapsed "$now")
  ev=$(ls "$WS"/runs/*/events.jsonl 2>/dev/null | head -1 || true)
  if [ -n "$ev" ] && grep -q '"type":"metrics"' "$ev"; then first_at=$(elapsed "$now"); break; fi
  if ! kill -0 "$demo_pid" 2>/dev/null && [ -z "$url_at" ] && ! grep -q 'is running:' "$BENCH/demo.out"; then
    cat "$BENCH/demo.out" >&2; echo "[bench] npm run demo failed" >&2; exit 1
  fi
  if python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) > 1800 else 1)" "$(elapsed "$now")"; then
    echo "[bench] no first step within 30 minutes" >&2; exit 1
  fi
  sleep 0.2
done
# The URL may come after the first step (code-server still installing): wait for npm run demo to finish.
while [ -z "$url_at" ]; do
  alive=0; kill -0 "$demo_pid" 2>/dev/null && alive=1
  grep -q 'is running:' "$BENCH/demo.out" 2>/dev/null && url_at=$(elapsed "$(date +%s.%N)")
  [ "$alive" = 1 ] || break
  sleep 0.2
done
wait "$demo_pid" || true
run_dir=$(dirname "$ev")
# The trainer's own clock for what happened inside the run (event times are unix seconds).
python3 - "$run_dir" "$t0" "$url_at" "$first_at" "$fresh" <<'PY'
import json, sys
from pathlib import Path
run, t0, url, first, fresh = Path(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5] == "1"
info = json.loads((run / "run.json").read_text())
events = [json.loads(l) for l in (run / "events.jsonl").read_text().splitlines() if l.strip()]
print(f"[bench] {'fresh clone: set-up + ' if fresh else ''}npm run demo -> first step: {first} s")
print(f"[bench]   URL printed at {url or '?'} s; run.json written at {info['created_at'] - t0:.1f} s")
for e in events:
    if e["type"] in ("phase", "run_started") or (e["type"] == "metrics" and e["step"] == 1) or e["type"] == "eval":
        what = e["type"] if e["type"] != "phase" else f"phase {e['phase']} {e['fraction']}"
        print(f"[bench]   {e['time'] - t0:7.1f} s  {what}")
    if e["type"] == "metrics":
        break
PY
uptime | sed 's/^/[bench] load: /'
