#!/usr/bin/env bash
# A one-node Slurm on this machine for the tests (and for trying the cluster launcher without a cluster).
#
#   bash scripts/slurm-local.sh start    # install (Debian's slurm-wlm 22.05) and start it unless Slurm answers already
#   bash scripts/slurm-local.sh stop     # stop exactly the daemons this script started (by its pid files)
#   bash scripts/slurm-local.sh status   # says whether Slurm answers, and which daemons are ours
#   bash scripts/slurm-local.sh can-start  # exit 0 when `start` can work here; else one line saying why, exit 3
#
# `start` and `stop` take no lock: the tests hold the machine-wide lock $TRAPO_SLURM_LOCK (default
# /tmp/trapo-slurm.lock) from before `start` to after `stop` (test/helpers/slurmCluster.ts), since this directory and
# the ports are the same for every session on the machine.
# Everything lives under $TRAPO_SLURM_DIR (default /tmp/trapo-slurm): slurm.conf, munge socket and logs, slurmctld
# state, slurmd spool, the jobcomp file, pid files. Settings that worked on a 2-core machine without systemd
# (docs/scale.md §4): SlurmUser=root, the short host name on 127.0.0.1, task/none, select/cons_tres with
# CR_Core, no accounting database (sacct -c reads jobcomp/filetxt), MinJobAge=600 so that squeue still shows finished
# jobs. proctrack/linuxproc, not pgid: torchrun starts its workers in sessions of their own, which pgid loses (they
# survived their job); linuxproc follows the process tree, so scancel signals and kills the trainer processes too
# (as proctrack/cgroup does on real clusters).
#
# `start` prints `TRAPO_SLURM_STARTED=1` on its last line when it started daemons (call `stop` when done), `=0` when
# Slurm was running already (leave it alone). Clients find the configuration through /etc/slurm/slurm.conf, which
# `start` links to ours only when that file does not exist (and `stop` removes the link only when it is still ours);
# `SLURM_CONF=$TRAPO_SLURM_DIR/etc/slurm.conf` works in any case.
set -euo pipefail

DIR="${TRAPO_SLURM_DIR:-/tmp/trapo-slurm}"
CONF="$DIR/etc/slurm.conf"
SYS_CONF=/etc/slurm/slurm.conf
PIDS="$DIR/pids"
CPUS="${TRAPO_SLURM_CPUS:-2}"
MEMORY_MB="${TRAPO_SLURM_MEMORY_MB:-2048}"
CTLD_PORT="${TRAPO_SLURM_CTLD_PORT:-6817}"
SLURMD_PORT="${TRAPO_SLURM_SLURMD_PORT:-6818}"

log() { printf '[slurm-local] %s\n' "$*" >&2; }
die() { printf '[slurm-local] ERROR: %s\n' "$*" >&2; exit 1; }

answers() { timeout 10 sinfo -h -o %T >/dev/null 2>&1; }

alive_pid() {   # alive_pid FILE NAME: the pid in FILE when that process lives and is NAME
  local f=$1 name=$2 pid
  [ -f "$f" ] || return 1
  pid=$(cat "$f" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "$name" && echo "$pid"
}

missing_packages() {   # the Debian packages whose commands are not on the PATH
  local missing=()
  command -v munged >/dev/null 2>&1 || missing+=(munge)
  command -v slurmctld >/dev/null 2>&1 || missing+=(slurmctld)
  command -v slurmd >/dev/null 2>&1 || missing+=(slurmd)
  command -v sbatch >/dev/null 2>&1 || missing+=(slurm-client)
  echo "${missing[*]}"
}

install_packages() {
  local missing
  read -ra missing <<<"$(missing_packages)"
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "missing Debian packages: ${missing[*]}; install them as root: apt-get install --no-install-recommends ${missing[*]}"
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >&2
  [ -f /etc/munge/munge.key ] || die "the munge package made no /etc/munge/munge.key"
}

write_conf() {
  local host
  host=$(hostname -s)
  mkdir -p "$DIR/etc" "$DIR/state" "$DIR/spool" "$DIR/log" "$PIDS"
  cat >"$CONF" <<CONF
# Written by scripts/slurm-local.sh: a one-node cluster for the TRAPO tests.
ClusterName=trapo-local
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# cred_expire is also how long a requeued job waits before it may start again (default 120 s).
AuthInfo=socket=$DIR/munge/munge.socket,cred_expire=10
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$PIDS/slurmctld.pid
SlurmdPidFile=$PIDS/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/jobcomp.txt
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
# The node as configured here (2 CPUs) even where the machine has fewer or more.
SlurmdParameters=config_overrides
MinJobAge=600
KillWait=10
SlurmdTimeout=60
InactiveLimit=0
NodeName=$host NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEMORY_MB State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
}

start() {
  # Ours, started earlier (its controller lives), or another Slurm (the system's configuration): leave it be.
  # (sinfo waits out MessageTimeout when no controller answers: ask only where one may.)
  if alive_pid "$PIDS/slurmctld.pid" slurmctld >/dev/null && SLURM_CONF="$CONF" answers; then
    log "Slurm answers already (ours, from an earlier start): nothing started"
    echo "TRAPO_SLURM_STARTED=0"
    return 0
  fi
  if [ -n "${SLURM_CONF:-}" ] && [ "$SLURM_CONF" != "$CONF" ] && answers; then
    log "Slurm answers already (sinfo with SLURM_CONF=$SLURM_CONF): nothing started"
    echo "TRAPO_SLURM_STARTED=0"
    return 0
  fi
  if [ -e "$SYS_CONF" ] && [ "$(readlink "$SYS_CONF" 2>/dev/null)" != "$CONF" ] && (unset SLURM_CONF; answers); then
    log "Slurm answers already (sinfo with the system's configuration): nothing started"
    echo "TRAPO_SLURM_STARTED=0"
    return 0
  fi
  export SLURM_CONF="$CONF"
  install_packages
  local t0=$SECONDS
  write_conf
  # munge: its own socket, key copy, log and seed under $DIR/munge (owned by the munge user, as munged insists).
  mkdir -p "$DIR/munge"
  chown munge:munge "$DIR/munge"
  chmod 0755 "$DIR/munge"
  if ! alive_pid "$PIDS/munged.pid" munged >/dev/null; then
    runuser -u munge -- munged --socket="$DIR/munge/munge.socket" --pid-file="$DIR/munge/munged.pid" \
      --log-file="$DIR/munge/munged.log" --seed-file="$DIR/munge/munged.seed" || die "munged did not start (see $DIR/munge/munged.log)"
    cp "$DIR/munge/munged.pid" "$PIDS/munged.pid"
  fi
  if [ ! -e "$SYS_CONF" ]; then
    mkdir -p "$(dirname "$SYS_CONF")"
    ln -s "$CONF" "$SYS_CONF"
    echo "$SYS_CONF" >"$PIDS/linked-conf"
  fi
  # -c: start from a clean state (no jobs of an earlier session).
  alive_pid "$PIDS/slurmctld.pid" slurmctld >/dev/null || slurmctld -c -f "$CONF" || die "slurmctld did not start (see $DIR/log/slurmctld.log)"
  alive_pid "$PIDS/slurmd.pid" slurmd >/dev/null || slurmd -f "$CONF" || die "slurmd did not start (see $DIR/log/slurmd.log)"
  local deadline=$((SECONDS + 60))
  until [ "$(sinfo -h -o %T 2>/dev/null | head -n1)" = idle ]; do
    if [ $SECONDS -ge $deadline ]; then
      tail -n 20 "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" >&2 || true
      die "the node did not become idle within 60 s (sinfo: $(sinfo -h 2>&1 | head -n1))"
    fi
    sleep 0.5
  done
  log "one-node Slurm up in $((SECONDS - t0)) s: $(sinfo -h -o '%P %D %T %c CPUs' | head -n1) (config $CONF)"
  echo "TRAPO_SLURM_STARTED=1"
}

can_start() {
  # A Slurm that answers already (ours, or one whose configuration the clients find) needs neither root nor packages.
  if command -v sinfo >/dev/null 2>&1; then
    if alive_pid "$PIDS/slurmctld.pid" slurmctld >/dev/null && SLURM_CONF="$CONF" answers; then return 0; fi
    if { [ -n "${SLURM_CONF:-}" ] && [ -e "$SLURM_CONF" ]; } || [ -e "$SYS_CONF" ]; then answers && return 0; fi
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "not root (the one-node Slurm runs munged, slurmctld and slurmd as root) and no Slurm answers here"
    exit 3
  fi
  local missing
  missing=$(missing_packages)
  if [ -n "$missing" ] && ! command -v apt-get >/dev/null 2>&1; then
    echo "Debian's Slurm packages are missing ($missing) and there is no apt-get to install them"
    exit 3
  fi
  return 0
}

stop() {
  local name pid
  for name in slurmd slurmctld munged; do
    if pid=$(alive_pid "$PIDS/$name.pid" "$name"); then
      log "stopping $name (pid $pid)"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
      if [ -d "/proc/$pid" ]; then kill -9 "$pid" 2>/dev/null || true; fi
    fi
    rm -f "$PIDS/$name.pid"
  done
  if [ -f "$PIDS/linked-conf" ]; then
    if [ "$(readlink "$SYS_CONF" 2>/dev/null)" = "$CONF" ]; then rm -f "$SYS_CONF"; fi
    rm -f "$PIDS/linked-conf"
  fi
}

status() {
  export SLURM_CONF="$CONF"
  if answers; then echo "Slurm answers: $(sinfo -h -o '%P %D %T' | head -n1)"; else echo "Slurm does not answer"; fi
  local name pid
  for name in munged slurmctld slurmd; do
    if pid=$(alive_pid "$PIDS/$name.pid" "$name"); then echo "$name: ours, pid $pid"; else echo "$name: not ours or not running"; fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  can-start) can_start ;;
  *) echo "usage: $0 start|stop|status|can-start" >&2; exit 2 ;;
esac
