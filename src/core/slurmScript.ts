// The sbatch script of a TRAPO run on Slurm (pure; no vscode, no spawning).
//
// One Slurm task per node runs torchrun (`srun torchrun --nnodes $SLURM_NNODES`), which starts the trainer's
// processes on that node; the nodes meet through a c10d rendezvous on the first node of the allocation, on a port
// found free there when the job starts. The script:
//   - activates the trainer's environment (the venv of the chosen Python, then the user's setup lines),
//   - trains with --config the first time and --resume when the run directory already holds a run, so the same
//     script serves a requeued job, a Resume, and `sbatch <script>` typed in a terminal;
//   - writes the trainer's output to logs/trainer.log (as a local run does) and its own to logs/slurm-<job>.out;
//   - asks Slurm for a signal before the time limit to the batch shell (`--signal=B:USR1@120`), passes it on to the
//     job's steps once this job's trainer is up (`scancel --signal=USR1`: torchrun forwards it to the trainer, which
//     saves and stops; torchrun dies of a signal that comes before its workers start), and with `requeue` puts the
//     job back in the queue once the trainer has saved (`scontrol requeue`): it resumes there;
//   - exits 0 when the trainer ended finished or stopped (torchrun exits non-zero after forwarding a signal).
import * as path from 'node:path';

export interface SlurmJobOptions {
  /** Empty: the cluster's default partition. */
  partition: string;
  /** Empty: the user's default account. */
  account: string;
  nodes: number;
  /** 0: no --gpus-per-node (CPU jobs, or clusters that give GPUs by partition). */
  gpusPerNode: number;
  /** Trainer processes per node (torchrun --nproc-per-node); usually the GPUs per node. */
  processesPerNode: number;
  /** CPUs of the one task per node (--cpus-per-task); 0: the cluster's default. */
  cpusPerTask: number;
  /** Slurm time format (minutes, H:MM:SS, D-HH:MM, ...); empty: the partition's default. */
  time: string;
  /** More #SBATCH lines, e.g. "--qos=high" or "#SBATCH --mem=200G". */
  extraDirectives: string[];
  /** Shell lines run before the trainer, e.g. "module load cuda/12.4". */
  setupCommands: string[];
  /** The signal asked for before the time limit, "USR1@120" (signal@seconds); empty: none. */
  signal: string;
  /** Requeue the job when it stopped on that signal (or was preempted), so that it resumes by itself. */
  requeue: boolean;
}

export const DEFAULT_JOB_OPTIONS: SlurmJobOptions = {
  partition: '',
  account: '',
  nodes: 1,
  gpusPerNode: 0,
  processesPerNode: 1,
  cpusPerTask: 0,
  time: '',
  extraDirectives: [],
  setupCommands: [],
  signal: 'USR1@120',
  requeue: false,
};

export interface SbatchScriptRequest {
  runId: string;
  runName: string;
  runDir: string;
  /** Working directory of the job (the workspace folder). */
  cwd: string;
  python: string;
  /** `trapo.torchrunPath`; empty: `<python> -m torch.distributed.run`. */
  torchrunPath?: string;
  /** The config of a new run; a run that already holds run.json resumes with its own resolved config. */
  configFile?: string;
  options: SlurmJobOptions;
  /** For the comment at the top. */
  writtenAt: Date;
}

export type ScriptResult = { ok: true; script: string } | { ok: false; error: string };

const SIGNALS = ['USR1', 'USR2', 'INT', 'TERM', 'HUP', 'QUIT', 'URG'] as const;
export type JobSignal = (typeof SIGNALS)[number];

/** "USR1@120" -> {signal: 'USR1', seconds: 120}; a "SIG" prefix and a "B:" prefix are accepted and dropped. */
export function parseSignalSpec(spec: string): { signal: JobSignal; seconds: number } | { error: string } {
  const m = /^(?:B:)?(?:SIG)?([A-Z0-9]+)@(\d+)$/i.exec(spec.trim());
  if (!m) return { error: `"${spec}" is not SIGNAL@SECONDS (e.g. USR1@120)` };
  const signal = m[1].toUpperCase() as JobSignal;
  if (!SIGNALS.includes(signal)) return { error: `signal ${m[1]} is not one of ${SIGNALS.join(', ')}` };
  const seconds = Number(m[2]);
  if (seconds < 1 || seconds > 65535) return { error: `${seconds} s is out of Slurm's range 1-65535` };
  return { signal, seconds };
}

/**
 * Seconds of a Slurm time limit: "minutes", "minutes:seconds", "hours:minutes:seconds", "days-hours",
 * "days-hours:minutes", "days-hours:minutes:seconds"; null for UNLIMITED/INFINITE; undefined when malformed.
 */
export function parseTimeLimit(text: string): number | null | undefined {
  const t = text.trim();
  if (/^(unlimited|infinite)$/i.test(t)) return null;
  let m = /^(\d+)-(\d+)(?::(\d+)(?::(\d+))?)?$/.exec(t);
  if (m) return ((Number(m[1]) * 24 + Number(m[2])) * 60 + Number(m[3] ?? 0)) * 60 + Number(m[4] ?? 0);
  m = /^(\d+)(?::(\d+)(?::(\d+))?)?$/.exec(t);
  if (!m) return undefined;
  if (m[3] !== undefined) return (Number(m[1]) * 60 + Number(m[2])) * 60 + Number(m[3]);
  if (m[2] !== undefined) return Number(m[1]) * 60 + Number(m[2]);
  return Number(m[1]) * 60;
}

/** One #SBATCH line from a user's entry ("--qos=high", "-q high" or "#SBATCH --qos=high"); null when it is not one. */
export function directiveLine(entry: string): string | null {
  const t = entry.trim();
  if (!t || /[\r\n]/.test(entry)) return null;
  if (/^#SBATCH\s+-\S/.test(t)) return t;
  if (/^-\S/.test(t)) return `#SBATCH ${t}`;
  return null;
}

/** The first problem with the options, naming the field, or null. */
export function validateJobOptions(o: SlurmJobOptions): string | null {
  const positive = (n: number) => Number.isInteger(n) && n >= 1;
  const count = (n: number) => Number.isInteger(n) && n >= 0;
  if (!positive(o.nodes)) return `nodes must be a whole number of at least 1, got ${o.nodes}`;
  if (!positive(o.processesPerNode)) return `processes per node must be a whole number of at least 1, got ${o.processesPerNode}`;
  if (!count(o.gpusPerNode)) return `GPUs per node must be a whole number, got ${o.gpusPerNode}`;
  if (!count(o.cpusPerTask)) return `CPUs per task must be a whole number, got ${o.cpusPerTask}`;
  for (const [name, value] of [
    ['partition', o.partition],
    ['account', o.account],
  ] as const) {
    if (value && !/^[A-Za-z0-9_.,:+-]+$/.test(value)) return `${name} "${value}" has characters Slurm does not take in a name`;
  }
  let limit: number | null = null;
  if (o.time.trim()) {
    const t = parseTimeLimit(o.time);
    if (t === undefined) return `time "${o.time}" is not a Slurm time (minutes, HH:MM:SS, D-HH:MM:SS, ...)`;
    if (t === 0) return 'time must be more than 0';
    limit = t;
  }
  if (o.signal.trim()) {
    const s = parseSignalSpec(o.signal);
    if ('error' in s) return `signal: ${s.error}`;
    if (limit !== null && s.seconds >= limit) {
      return `signal: ${s.seconds} s before a time limit of ${limit} s would come at once; give a shorter lead or more time`;
    }
  } else if (o.requeue) {
    return 'requeue needs a signal before the time limit (e.g. USR1@120): without it the trainer cannot save first';
  }
  for (const d of o.extraDirectives) {
    if (directiveLine(d) === null) return `extra #SBATCH line "${d}" is not an option (write it as --name=value)`;
  }
  for (const c of o.setupCommands) if (/[\r\n]/.test(c)) return 'a setup command holds a line break: give one line per entry';
  return null;
}

/** A word for the shell: single-quoted unless it is plainly safe. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./=:@%+,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The venv's activate script beside a Python of a venv (…/bin/python -> …/bin/activate), else null. */
export function activateScriptFor(python: string, exists: (file: string) => boolean): string | null {
  if (!path.isAbsolute(python)) return null;
  const candidate = path.join(path.dirname(python), 'activate');
  return exists(candidate) ? candidate : null;
}

export function buildSbatchScript(req: SbatchScriptRequest, activateScript: string | null = null): ScriptResult {
  const o = req.options;
  const problem = validateJobOptions(o);
  if (problem) return { ok: false, error: problem };
  if (!path.isAbsolute(req.runDir)) return { ok: false, error: `the run directory must be an absolute path, got ${req.runDir}` };
  if (!req.python) return { ok: false, error: 'no Python interpreter was given' };
  const q = shellQuote;
  const logs = path.join(req.runDir, 'logs');
  const signal = o.signal.trim() ? parseSignalSpec(o.signal) : null;
  const sig = signal && !('error' in signal) ? signal : null;
  const lines: string[] = [
    '#!/bin/bash',
    `# TRAPO run ${req.runId}, written by the TRAPO extension on ${req.writtenAt.toISOString()}.`,
    '# Submit it again with `sbatch <this file>`: it resumes when the run directory already holds a run.',
    `#SBATCH --job-name=${q(`trapo-${req.runName}`.replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 60))}`,
    `#SBATCH --output=${q(path.join(logs, 'slurm-%j.out'))}`,
    '#SBATCH --open-mode=append',
    `#SBATCH --chdir=${q(req.cwd)}`,
    `#SBATCH --nodes=${o.nodes}`,
    '#SBATCH --ntasks-per-node=1',
  ];
  if (o.cpusPerTask > 0) lines.push(`#SBATCH --cpus-per-task=${o.cpusPerTask}`);
  if (o.gpusPerNode > 0) lines.push(`#SBATCH --gpus-per-node=${o.gpusPerNode}`);
  if (o.time.trim()) lines.push(`#SBATCH --time=${o.time.trim()}`);
  if (o.partition) lines.push(`#SBATCH --partition=${o.partition}`);
  if (o.account) lines.push(`#SBATCH --account=${o.account}`);
  if (sig) lines.push(`#SBATCH --signal=B:${sig.signal}@${sig.seconds}`);
  lines.push(o.requeue ? '#SBATCH --requeue' : '#SBATCH --no-requeue');
  for (const d of o.extraDirectives) lines.push(directiveLine(d)!);
  const torchrun = req.torchrunPath?.trim() ? [q(req.torchrunPath.trim())] : ['"$PYTHON"', '-m', 'torch.distributed.run'];
  lines.push(
    '',
    'set -uo pipefail',
    `RUN_DIR=${q(req.runDir)}`,
    `PYTHON=${q(req.python)}`,
    `CONFIG=${q(req.configFile ?? '')}`,
    `REQUEUE=${o.requeue ? 1 : 0}`,
    'mkdir -p "$RUN_DIR/logs"',
    'log() { echo "[trapo] $(date -Is) $*" | tee -a "$RUN_DIR/logs/trainer.log"; }',
    '# A field of run.json ("" when there is none yet).',
    'run_field() {',
    '  "$PYTHON" -c \'import json, sys; v = json.load(open(sys.argv[1])).get(sys.argv[2]); print("" if v is None else v)\' \\',
    '    "$RUN_DIR/run.json" "$1" 2>/dev/null',
    '}',
    '',
    "# The trainer's environment.",
  );
  if (activateScript) lines.push(`source ${q(activateScript)}`);
  for (const c of o.setupCommands) if (c.trim()) lines.push(c);
  lines.push(
    'export PYTHONUNBUFFERED=1',
    '# torchrun passes these signals on to the trainer (torchrun --signals-to-handle, PyTorch 2.9 and later) and gives',
    '# it this long to save before it kills it.',
    `export PET_SIGNALS_TO_HANDLE=SIGTERM,SIGINT,SIGHUP,SIGQUIT${sig && !['INT', 'TERM', 'HUP', 'QUIT'].includes(sig.signal) ? `,SIG${sig.signal}` : ''}`,
    `export TORCH_ELASTIC_SHUTDOWN_TIMEOUT=${sig ? Math.max(30, sig.seconds - 10) : 60}`,
    '',
    'if [ -e "$RUN_DIR/run.json" ]; then set -- --resume; else set -- --config "$CONFIG"; fi',
    'step_before=$(run_field step)',
    'head_node=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
    '# A port free on this node (the first of the allocation, where the batch script runs and the rendezvous lives).',
    'port=$("$PYTHON" -c \'import socket; s = socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])\')',
    'log "slurm job $SLURM_JOB_ID (restart ${SLURM_RESTART_COUNT:-0}) on $SLURM_JOB_NODELIST: rendezvous $head_node:$port, train $*"',
    '',
    'time_signal=0',
    'passed_on=0',
    "# This job's trainer has written run.json (its handlers, and torchrun's, are in place).",
    'trainer_up() {',
    '  "$PYTHON" -c \'import json, sys; s = json.load(open(sys.argv[1])).get("slurm") or {}; sys.exit(0 if [s.get("job_id"), str(s.get("restart_count"))] == sys.argv[2:] else 1)\' \\',
    '    "$RUN_DIR/run.json" "$SLURM_JOB_ID" "${SLURM_RESTART_COUNT:-0}" 2>/dev/null',
    '}',
  );
  if (sig) {
    lines.push(
      `on_time_signal() {`,
      `  time_signal=1`,
      `  log "SIG${sig.signal}: the time limit is near (or the job is preempted): the trainer saves and stops"`,
      `}`,
      `trap on_time_signal ${sig.signal}`,
    );
  }
  lines.push(
    `srun --ntasks-per-node=1 --kill-on-bad-exit=1 ${torchrun.join(' ')} \\`,
    '  --nnodes="$SLURM_NNODES" --nproc-per-node=' + o.processesPerNode + ' \\',
    '  --rdzv-backend=c10d --rdzv-endpoint="$head_node:$port" --rdzv-id="$SLURM_JOB_ID" \\',
    '  -m trapo train --run-dir "$RUN_DIR" "$@" >>"$RUN_DIR/logs/trainer.log" 2>&1 &',
    'step=$!',
    'while kill -0 "$step" 2>/dev/null; do',
    ...(sig ? [`  if [ "$time_signal" = 1 ] && [ "$passed_on" = 0 ] && trainer_up; then passed_on=1; scancel --signal=${sig.signal} "$SLURM_JOB_ID"; fi`] : []),
    '  sleep 2 & wait $!',
    'done',
    'wait "$step"; rc=$?',
    'status=$(run_field status)',
    'step_after=$(run_field step)',
    'log "srun exited with $rc; the run is ${status:-not started} at step ${step_after:-0}"',
    'if [ "$time_signal" = 1 ] && [ "$status" = stopped ] && [ "$REQUEUE" = 1 ]; then',
    '  # Requeue only after progress: a job whose time runs out before its first step would requeue for ever.',
    '  if [ "${step_after:-0}" -gt "${step_before:-0}" ]; then',
    '    log "requeueing job $SLURM_JOB_ID: it resumes from the checkpoint just saved"',
    '    scontrol requeue "$SLURM_JOB_ID" && exit 0',
    '  else',
    '    log "not requeueing: no step was completed in this job (too little time to start and train a step)"',
    '  fi',
    'fi',
    'case "$status" in finished|stopped) exit 0 ;; esac',
    'exit "$rc"',
    '',
  );
  return { ok: true, script: lines.join('\n') };
}
