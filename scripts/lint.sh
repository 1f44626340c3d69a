#!/usr/bin/env bash
# `npm run lint`: the house rules, checked. Every check runs (at the same time: they take one core each) and each
# says ok or FAILED with what it found; the exit code is non-zero if any failed. `npm test` runs it as its "lint" suite.
#
#   eslint        typescript-eslint + the layering as import rules, exhaustive switches, no unused code (eslint.config.mjs)
#   prettier      the TypeScript, JavaScript and JSON are formatted as .prettierrc.json says (`npm run format` fixes)
#   typecheck     tsc over the extension and the webviews (npm run typecheck)
#   dead-exports  exports that nothing uses (scripts/dead-exports.mjs)
#   ruff          the trainer's Python (trainer/pyproject.toml [tool.ruff])
#   pyright       the trainer's types, basic mode, against trainer/.venv (trainer/pyproject.toml [tool.pyright])
#
# Needs `npm ci` (scripts/setup-node.sh) and the trainer's environment with its test extra (scripts/setup-python.sh),
# which `npm test` installs before any suite. LINT_ONLY="eslint ruff" runs only the named checks.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=node_modules/.bin
VENV=trainer/.venv
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

checks=(eslint prettier typecheck dead-exports ruff pyright)
[ -n "${LINT_ONLY:-}" ] && read -r -a checks <<<"$LINT_ONLY"

run_check() {
  case "$1" in
    eslint) "$BIN/eslint" --max-warnings 0 . ;;
    prettier) "$BIN/prettier" --check --cache --log-level warn . ;;
    typecheck) npm run --silent typecheck ;;
    dead-exports) node scripts/dead-exports.mjs ;;
    ruff)
      [ -x "$VENV/bin/ruff" ] || { echo "no $VENV/bin/ruff: run bash scripts/setup-python.sh (it installs trainer[test])"; return 1; }
      (cd trainer && .venv/bin/ruff check --quiet .) ;;
    pyright)
      [ -x "$VENV/bin/python" ] || { echo "no $VENV: run bash scripts/setup-python.sh"; return 1; }
      "$BIN/pyright" -p trainer/pyproject.toml ;;
    *) echo "unknown check $1 (one of eslint prettier typecheck dead-exports ruff pyright)"; return 1 ;;
  esac
}

start=$(date +%s)
declare -A pids
for c in "${checks[@]}"; do
  (
    s=$(date +%s)
    run_check "$c" >"$out/$c.log" 2>&1
    echo "$? $(($(date +%s) - s))" >"$out/$c.rc"
  ) &
  pids[$c]=$!
done

failed=()
for c in "${checks[@]}"; do
  wait "${pids[$c]}"
  read -r rc secs <"$out/$c.rc"
  if [ "$rc" = 0 ]; then
    echo "lint: $c ok (${secs} s)"
  else
    echo "lint: $c FAILED (${secs} s)"
    sed 's/^/  /' "$out/$c.log"
    failed+=("$c")
  fi
done
echo "lint: $((${#checks[@]} - ${#failed[@]})) of ${#checks[@]} checks passed in $(($(date +%s) - start)) s"
[ ${#failed[@]} -eq 0 ] || { echo "lint: failed: ${failed[*]}"; exit 1; }
