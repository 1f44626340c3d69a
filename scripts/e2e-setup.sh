#!/usr/bin/env bash
# Installs what the end-to-end suite and `npm run demo` need, only what is missing (idempotent):
#   - Debian packages chromium, ripgrep, libkrb5-dev (apt-get, when running as root; else it says what to install);
#   - code-server 4.100.3 (a real VS Code 1.100.3 from npm) in its own folder, outside node_modules:
#     $TRAPO_E2E_DIR/code-server (default .e2e/code-server in the repository, gitignored).
# No network access other than npm and Debian is needed: @vscode/ripgrep's postinstall would download ripgrep from
# GitHub, so its cache is seeded with Debian's rg first (see docs/architecture.md §8.5).
# Progress goes to stderr; the last line on stdout is `CODE_SERVER=<path of code-server's entry script>`.
set -euo pipefail

CODE_SERVER_VERSION=4.100.3
RIPGREP_PKG_VERSION=1.15.11   # @vscode/ripgrep version code-server 4.100.3 depends on
RIPGREP_ASSET=ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
E2E_DIR="${TRAPO_E2E_DIR:-$REPO/.e2e}"
CS_DIR="$E2E_DIR/code-server"
CS_PKG="$CS_DIR/node_modules/code-server"
OK_MARK="$CS_DIR/.installed-$CODE_SERVER_VERSION"

log() { printf '[e2e-setup] %s\n' "$*" >&2; }
die() { printf '[e2e-setup] ERROR: %s\n' "$*" >&2; exit 1; }

mkdir -p "$E2E_DIR"
# One setup at a time (the suite and the demo may both call this).
exec 9>"$E2E_DIR/setup.lock"
flock 9

# ---------------------------------------------------------------- Debian packages
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v rg >/dev/null 2>&1 || missing+=(ripgrep)
if [ ! -f "$OK_MARK" ] && ! dpkg -s libkrb5-dev >/dev/null 2>&1; then
  missing+=(libkrb5-dev)   # only needed to build code-server's `kerberos` module
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    log "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    log "sudo apt-get install ${missing[*]}"
    sudo -n env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  else
    die "missing Debian packages: ${missing[*]}. Install them as root: apt-get install -y ${missing[*]}"
  fi
fi
[ -x /usr/bin/chromium ] || die "/usr/bin/chromium is still missing after apt-get"
RG="$(command -v rg)" || die "rg (ripgrep) is still missing after apt-get"

# ---------------------------------------------------------------- code-server
# Checks that code-server's native modules were really built (npm may skip or fail install scripts quietly).
verify_code_server() {
  local vs="$CS_PKG/lib/vscode"
  [ -f "$CS_PKG/package.json" ] || { log "no $CS_PKG/package.json"; return 1; }
  local v
  v="$(node -p "require('$CS_PKG/package.json').version")"
  [ "$v" = "$CODE_SERVER_VERSION" ] || { log "code-server version $v, want $CODE_SERVER_VERSION"; return 1; }
  [ -d "$vs/node_modules" ] || { log "code-server's postinstall did not install lib/vscode/node_modules"; return 1; }
  [ -x "$vs/node_modules/@vscode/ripgrep/bin/rg" ] || { log "@vscode/ripgrep has no bin/rg"; return 1; }
  # Each native module must load in this Node (the extension host and the server are plain Node processes).
  ( cd "$CS_DIR" && node -e 'require("argon2")' ) || { log "argon2 (code-server's password hashing) does not load"; return 1; }
  ( cd "$vs" && node -e '
    const mods = ["node-pty", "@vscode/spdlog", "@parcel/watcher", "native-watchdog", "kerberos"];
    let bad = 0;
    for (const m of mods) {
      try { require(m); } catch (e) { console.error(`[e2e-setup] native module ${m} does not load: ${e.message.split("\n")[0]}`); bad++; }
    }
    process.exit(bad ? 1 : 0);' ) || return 1
  return 0
}

seed_ripgrep_cache() {
  # @vscode/ripgrep's postinstall looks in $(os.tmpdir())/vscode-ripgrep-cache-<version> before downloading.
  local tmp cache t
  tmp="$(node -p 'require("os").tmpdir()')"
  cache="$tmp/vscode-ripgrep-cache-$RIPGREP_PKG_VERSION"
  if [ ! -f "$cache/$RIPGREP_ASSET" ]; then
    mkdir -p "$cache"
    t="$(mktemp -d)"
    cp "$RG" "$t/rg"
    tar czf "$cache/$RIPGREP_ASSET" -C "$t" rg
    rm -rf "$t"
  fi
}

if [ -f "$OK_MARK" ] && verify_code_server 2>/dev/null; then
  log "code-server $CODE_SERVER_VERSION already installed in $CS_DIR"
else
  start=$(date +%s)
  log "installing code-server@$CODE_SERVER_VERSION into $CS_DIR (takes about a minute)"
  rm -f "$OK_MARK"
  mkdir -p "$CS_DIR" "$E2E_DIR/tmp"
  # A package.json of its own, so that npm installs here and not into the repository's node_modules.
  # allowScripts: npm >= 11.16 lists unreviewed install scripts (npm 12 blocks them); these two must run.
  cat >"$CS_DIR/package.json" <<JSON
{"name": "trapo-e2e-code-server", "private": true,
 "allowScripts": {"code-server@$CODE_SERVER_VERSION": true, "argon2": true}}
JSON
  export TMPDIR="$E2E_DIR/tmp"
  seed_ripgrep_cache
  # node-pty's build runs `npx node-gyp` (hence yes=true); as root npm would drop privileges for scripts otherwise.
  # ignore-scripts=false and foreground-scripts make the native builds run and show their failures.
  ( cd "$CS_DIR" && npm_config_yes=true npm_config_ignore_scripts=false npm_config_audit=false npm_config_fund=false \
      nice npm install --no-save --unsafe-perm=true \
      "code-server@$CODE_SERVER_VERSION" >&2 ) || die "npm install code-server@$CODE_SERVER_VERSION failed"
  if ! verify_code_server; then
    # Install scripts were skipped or failed: run code-server's postinstall ourselves (it installs lib/vscode's
    # dependencies and builds their native modules), then check again.
    log "native modules missing: running code-server's postinstall explicitly"
    ( cd "$CS_PKG" && npm_config_yes=true npm_config_ignore_scripts=false npm_config_unsafe_perm=true \
        npm_config_user_agent="npm/$(npm -v) node/$(node -v) linux x64" nice sh ./postinstall.sh >&2 ) \
      || die "code-server's postinstall.sh failed"
    ( cd "$CS_DIR" && node -e 'require("argon2")' 2>/dev/null ) \
      || ( cd "$CS_DIR/node_modules/argon2" && npm_config_yes=true nice npx node-gyp rebuild >&2 ) \
      || die "building argon2 failed"
    verify_code_server || die "code-server's native modules still do not load; see the messages above"
  fi
  touch "$OK_MARK"
  log "code-server installed in $(( $(date +%s) - start )) s"
fi

echo "CODE_SERVER=$CS_PKG/out/node/entry.js"
