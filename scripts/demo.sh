#!/usr/bin/env bash
# `npm run demo`: sets everything up on a fresh machine and opens the extension with a demo workspace and a demo run
# started.
#   - node_modules (scripts/setup-node.sh, else npm ci), the trainer's environment (scripts/setup-python.sh),
#     build, package dist/trapo.vsix;
#   - a demo workspace (default .e2e/demo-workspace, or TRAPO_DEMO_WORKSPACE) holding demo.trapo.yaml, with the
#     trainer's Python set in .vscode/settings.json;
#   - desktop VS Code when `code` is on the PATH: installs the .vsix, opens the workspace;
#   - else code-server (scripts/e2e-setup.sh installs it) on 127.0.0.1, URL printed, stopped with
#     `npm run demo -- --stop`.
# The demo run is started the way a person starts it: `python -m trapo train --config demo.trapo.yaml --run-dir
# runs/<id>` from the workspace, in its own process group, so the extension finds it under runs/ (a run started
# outside VS Code shows up like any other) and the Runs tree, status bar and dashboard follow it live. It starts as
# soon as the trainer's environment is there, while the extension is built and VS Code starts; its output goes to
# runs/<id>/logs/trainer.log. The warmed-up tiny base ships with the trainer: its first step comes within seconds.
#
#   npm run demo                       # set up, open, start the demo run
#   npm run demo -- --no-run           # open without starting a run (start it from the palette: "Start TRAPO run")
#   npm run demo -- --code-server      # use code-server even when `code` is on the PATH
#   npm run demo -- --stop             # stop the code-server and the demo run this script started
#   TRAPO_DEMO_PORT=8080 npm run demo  # code-server's port (default 8123)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
E2E_DIR="${TRAPO_E2E_DIR:-$REPO/.e2e}"
DEMO_DIR="$E2E_DIR/demo"                       # code-server's user data, logs, pid files
WS="${TRAPO_DEMO_WORKSPACE:-$E2E_DIR/demo-workspace}"
PORT="${TRAPO_DEMO_PORT:-8123}"
PGID_FILE="$DEMO_DIR/code-server.pgid"
RUN_PGID_FILE="$DEMO_DIR/demo-run.pgid"
PY="$REPO/trainer/.venv/bin/python"

say() { printf '[demo] %s\n' "$*"; }
die() { printf '[demo] ERROR: %s\n' "$*" >&2; exit 1; }

stop_group() { # $1: pgid file, $2: what
  local f=$1 pgid
  [ -f "$f" ] || return 0
  pgid=$(cat "$f")
  if kill -0 -- "-$pgid" 2>/dev/null; then
    say "stopping $2 (process group $pgid)"
    kill -INT -- "-$pgid" 2>/dev/null || true     # the trainer saves a checkpoint on SIGINT
    for _ in $(seq 1 50); do kill -0 -- "-$pgid" 2>/dev/null || break; sleep 0.2; done
    kill -TERM -- "-$pgid" 2>/dev/null || true
    for _ in $(seq 1 25); do kill -0 -- "-$pgid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$pgid" 2>/dev/null || true
  fi
  rm -f "$f"
}

# The process group of a process just started with setsid (its own pid, unless setsid had to fork).
pgid_of() {
  local pid=$1 g=""
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    g=$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')
    [ -n "$g" ] && [ "$g" != "$(ps -o pgid= -p $$ | tr -d ' ')" ] && break
    sleep 0.1
  done
  echo "${g:-$pid}"
}

mode=auto run=1
for a in "$@"; do
  case "$a" in
    --stop) stop_group "$RUN_PGID_FILE" "the demo run"; stop_group "$PGID_FILE" "code-server"; say "stopped"; exit 0 ;;
    --no-run) run=0 ;;
    --code-server) mode=code-server ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) die "unknown option $a (see npm run demo -- --help)" ;;
  esac
done

# ------------------------------------------------------------------ set up
say "installing and building (idempotent)"
if [ -f scripts/setup-node.sh ]; then bash scripts/setup-node.sh; elif [ ! -d node_modules ]; then npm ci --no-audit --no-fund; fi
if [ -f scripts/setup-python.sh ]; then bash scripts/setup-python.sh; fi
[ -x "$PY" ] || die "no trainer environment at $PY (scripts/setup-python.sh makes it)"

# ------------------------------------------------------------------ the demo workspace
mkdir -p "$WS/.vscode" "$DEMO_DIR"
[ -f "$WS/demo.trapo.yaml" ] || cp trainer/trapo/configs/demo.trapo.yaml "$WS/demo.trapo.yaml"
if [ ! -f "$WS/.vscode/settings.json" ]; then
  cat >"$WS/.vscode/settings.json" <<JSON
{
  "trapo.pythonPath": "$PY"
}
JSON
fi
# The comparison experiment's runs (`npm run experiment`), when there are some, are shown in the demo too: a link
# runs/comparison -> the repository's runs/comparison (a runs root's subfolder of runs is read like the root).
if [ -d "$REPO/runs/comparison" ] && [ ! -e "$WS/runs/comparison" ] && [ ! -L "$WS/runs/comparison" ]; then
  mkdir -p "$WS/runs"
  ln -s "$REPO/runs/comparison" "$WS/runs/comparison"
  say "linked the comparison experiment's runs into the demo workspace (runs/comparison)"
fi

start_demo_run() {
  [ "$run" = 1 ] || return 0
  if [ -f "$RUN_PGID_FILE" ] && kill -0 -- "-$(cat "$RUN_PGID_FILE")" 2>/dev/null; then
    say "the demo run is already running (process group $(cat "$RUN_PGID_FILE"))"
    return 0
  fi
  local id; id="$(date -u +%Y%m%d-%H%M%S)-demo-trapo"
  # The trainer's output goes to the run's own logs/trainer.log (as when VS Code starts a run), so that the run's Log
  # node in the Runs view opens it, from its first line.
  local log="$WS/runs/$id/logs/trainer.log"
  mkdir -p "$(dirname "$log")"
  printf '[trapo] %s start: %s -m trapo train --config demo.trapo.yaml --run-dir runs/%s\n' \
    "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" "$PY" "$id" >"$log"
  say "starting the demo run: runs/$id (250 steps of about half a second; the warmed-up base model ships with the trainer)"
  ( cd "$WS" && PYTHONUNBUFFERED=1 exec setsid "$PY" -m trapo train --config demo.trapo.yaml --run-dir "runs/$id" \
      >>"$log" 2>&1 < /dev/null ) &
  pgid_of $! >"$RUN_PGID_FILE"
  echo "$log" >"$DEMO_DIR/demo-run.logpath"
}

# The demo run starts now, while the extension is built and packaged and VS Code starts (it needs none of them: the
# extension finds the run under runs/ when it opens). Should a later step fail, the run is stopped again.
start_demo_run
trap 'rc=$?; if [ "$rc" != 0 ]; then stop_group "$RUN_PGID_FILE" "the demo run"; fi' EXIT
# Building and packaging at a lower priority: the trainer's threads then keep the cores (PyTorch on a CPU slows down
# many times over when its threads have to wait for a core).
nice -n 10 node scripts/build.mjs >/dev/null
nice -n 10 npm run package --silent -- --no-rewrite-relative-links >"$E2E_DIR.package.log" 2>&1 \
  || { mkdir -p "$E2E_DIR"; cat "$E2E_DIR.package.log" >&2; die "packaging the extension failed"; }
rm -f "$E2E_DIR.package.log"
VSIX="$REPO/dist/trapo.vsix"

# ------------------------------------------------------------------ desktop VS Code
if [ "$mode" = auto ] && command -v code >/dev/null 2>&1; then
  say "installing the extension into VS Code: code --install-extension dist/trapo.vsix"
  code --install-extension "$VSIX" --force
  code "$WS"
  say "opened $WS in VS Code: the TRAPO icon in the activity bar shows the run; TRAPO: Open Dashboard charts it."
  [ "$run" = 1 ] && say "stop the demo run with: npm run demo -- --stop   (log: $(cat "$DEMO_DIR/demo-run.logpath" 2>/dev/null))"
  exit 0
fi

# ------------------------------------------------------------------ code-server on loopback
CS_ENTRY="$(bash scripts/e2e-setup.sh | sed -n 's/^CODE_SERVER=//p' | tail -1)"
[ -f "$CS_ENTRY" ] || die "code-server is not installed (scripts/e2e-setup.sh)"
if [ -f "$PGID_FILE" ] && kill -0 -- "-$(cat "$PGID_FILE")" 2>/dev/null; then
  say "code-server is already running (process group $(cat "$PGID_FILE")); restarting it with the new package"
  stop_group "$PGID_FILE" "code-server"
fi
EXT="$DEMO_DIR/extensions" DATA="$DEMO_DIR/user-data"
mkdir -p "$EXT" "$DATA/User"
[ -f "$DATA/User/settings.json" ] || cat >"$DATA/User/settings.json" <<'JSON'
{"workbench.startupEditor": "none", "telemetry.telemetryLevel": "off", "extensions.autoCheckUpdates": false,
 "update.mode": "none", "git.openRepositoryInParentFolders": "never"}
JSON
export XDG_CONFIG_HOME="$DEMO_DIR/xdg/config" XDG_DATA_HOME="$DEMO_DIR/xdg/data"
cs=(node "$CS_ENTRY" --disable-telemetry --disable-update-check --disable-workspace-trust
    --extensions-dir "$EXT" --user-data-dir "$DATA")
"${cs[@]}" --install-extension "$VSIX" --force >"$DEMO_DIR/install.log" 2>&1 \
  || { cat "$DEMO_DIR/install.log" >&2; die "installing the extension into code-server failed"; }
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  die "port $PORT is in use: choose another with TRAPO_DEMO_PORT=<port> npm run demo"
fi
setsid "${cs[@]}" --bind-addr "127.0.0.1:$PORT" --auth none "$WS" >"$DEMO_DIR/code-server.log" 2>&1 < /dev/null &
pgid_of $! >"$PGID_FILE"
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  kill -0 -- "-$(cat "$PGID_FILE")" 2>/dev/null || { cat "$DEMO_DIR/code-server.log" >&2; die "code-server exited"; }
  sleep 0.2
done
URL="http://127.0.0.1:$PORT/?folder=$WS"
say "VS Code (code-server) with the TRAPO extension is running:"
say "    $URL"
say "open it in a browser on this machine (from another machine: ssh -L $PORT:127.0.0.1:$PORT this-host)."
if [ "$run" = 1 ]; then
  say "the TRAPO icon in the activity bar shows the demo run; TRAPO: Open Dashboard charts it live."
else
  say "start a run from the command palette: \"Start TRAPO run\", then pick demo.trapo.yaml."
fi
say "stop everything with:  npm run demo -- --stop"
say "    (or: kill -- -$(cat "$PGID_FILE")$( [ -f "$RUN_PGID_FILE" ] && echo "; kill -INT -- -$(cat "$RUN_PGID_FILE")"))"
say "logs: $DEMO_DIR/code-server.log$( [ "$run" = 1 ] && echo ", $(cat "$DEMO_DIR/demo-run.logpath" 2>/dev/null)")"
