// Talking to Slurm (no vscode): job states from squeue and sacct, submitting with sbatch, signalling with scancel,
// and a monitor that polls the jobs the run store still needs to know about. Commands run through an injected
// runner, so that tests feed it fake squeue/sacct outputs.
//
// Reading a job's state (docs/scale.md §4):
//   - `squeue -h -t all -j IDS -O JobID:|,State:|,Reason:|,RestartCnt:` knows pending, running and, for MinJobAge
//     seconds (300 by default), finished jobs, and how often each was requeued; it answers "Invalid job id
//     specified" (exit 1) when it knows none of IDS. A squeue without that field gets `-o %i|%T|%r`.
//   - older jobs: `sacct -j IDS -n -P -X -o JobID,State,ExitCode` from the accounting database, or, on clusters without
//     one ("Slurm accounting storage is disabled"), `sacct -c` from the job completion file.
import type { ProcessResult } from './configValidation';

export type JobPhase =
  | 'pending'
  | 'running'
  | 'completing'
  | 'suspended'
  | 'completed'
  | 'failed'
  | 'cancelled'
  | 'timeout'
  | 'preempted'
  | 'out-of-memory'
  | 'node-fail'
  | 'unknown';

const FINAL_PHASES: ReadonlySet<JobPhase> = new Set(['completed', 'failed', 'cancelled', 'timeout', 'preempted', 'out-of-memory', 'node-fail']);

export interface JobStatus {
  jobId: string;
  /** Slurm's state word as printed (CANCELLED for "CANCELLED by 1000"). */
  state: string;
  phase: JobPhase;
  /** Slurm's reason for a pending job (Resources, Priority, BeginTime, ...), else null. */
  reason: string | null;
  /** sacct's exit code "code:signal", when known. */
  exitCode: string | null;
  /** True when the job will not change any more (an end state, or a job Slurm does not know). */
  final: boolean;
  /** How often the job was requeued (squeue's RestartCnt), when known. */
  restarts: number | null;
  source: 'squeue' | 'sacct' | 'not-found';
}

/** The phase of one of Slurm's state words (squeue's %T, sacct's State). */
export function phaseOf(state: string): JobPhase {
  switch (state) {
    case 'PENDING':
    case 'CONFIGURING':
    case 'REQUEUED':
    case 'REQUEUE_HOLD':
    case 'REQUEUE_FED':
    case 'RESV_DEL_HOLD':
      return 'pending';
    case 'RUNNING':
    case 'SIGNALING':
    case 'STAGE_OUT':
    case 'RESIZING':
      return 'running';
    case 'COMPLETING':
      return 'completing';
    case 'SUSPENDED':
    case 'STOPPED':
      return 'suspended';
    case 'COMPLETED':
      return 'completed';
    case 'FAILED':
    case 'BOOT_FAIL':
    case 'DEADLINE':
    case 'SPECIAL_EXIT':
      return 'failed';
    case 'CANCELLED':
    case 'REVOKED':
      return 'cancelled';
    case 'TIMEOUT':
      return 'timeout';
    case 'PREEMPTED':
      return 'preempted';
    case 'OUT_OF_MEMORY':
      return 'out-of-memory';
    case 'NODE_FAIL':
      return 'node-fail';
    default:
      return 'unknown';
  }
}

function status(
  jobId: string,
  rawState: string,
  reason: string | null,
  exitCode: string | null,
  source: JobStatus['source'],
  restarts: number | null = null,
): JobStatus {
  const state = (rawState.trim().split(/\s+/)[0] ?? '').replace(/\+$/, '').toUpperCase();
  const phase = phaseOf(state);
  const why = reason && reason !== 'None' && reason !== '(null)' ? reason : null;
  return { jobId, state, phase, reason: phase === 'pending' ? why : null, exitCode, final: FINAL_PHASES.has(phase), source, restarts };
}

/** squeue lines "id|state|reason" (-o %i|%T|%r) or "id|state|reason|restarts" (-O ...,RestartCnt); others skipped. */
export function parseSqueue(stdout: string): Map<string, JobStatus> {
  const out = new Map<string, JobStatus>();
  for (const line of stdout.split('\n')) {
    const f = line
      .trim()
      .split('|')
      .map((x) => x.trim());
    if ((f.length !== 3 && f.length !== 4) || !/^\d/.test(f[0]) || !f[1]) continue;
    const restarts = f.length === 4 && /^\d+$/.test(f[3]) ? Number(f[3]) : null;
    out.set(f[0], status(f[0], f[1], f[2], null, 'squeue', restarts));
  }
  return out;
}

/**
 * sacct -n -P -X -o JobID,State,ExitCode lines. A requeued job can appear more than once (the job completion file
 * keeps a line per run of it): the last line wins. Step lines (123.batch) are skipped.
 */
export function parseSacct(stdout: string): Map<string, JobStatus> {
  const out = new Map<string, JobStatus>();
  for (const line of stdout.split('\n')) {
    const f = line.trim().split('|');
    if (f.length < 2 || !/^\d+(_\d+)?$/.test(f[0]) || !f[1]) continue;
    out.set(f[0], status(f[0], f[1], null, f[2] ?? null, 'sacct'));
  }
  return out;
}

/** "pending (Resources)", "running", "completing", "timeout", "out of memory", ... */
export function describeJobStatus(s: JobStatus): string {
  if (s.source === 'not-found') return 'not known to Slurm';
  const word = s.phase === 'unknown' ? s.state.toLowerCase() : s.phase.replace(/-/g, ' ');
  if (s.phase === 'pending' && s.reason) return `${word} (${s.reason})`;
  if (s.phase === 'failed' && s.state !== 'FAILED') return `${word} (${s.state.toLowerCase().replace(/_/g, ' ')})`;
  if (s.phase === 'failed' && s.exitCode && s.exitCode !== '0:0') return `${word} (exit ${s.exitCode})`;
  return word;
}

/** Numeric order of job ids ("123", "123_4"); newer jobs have larger ids on one cluster. */
export function compareJobIds(a: string, b: string): number {
  const [a1, a2] = a.split('_').map((x) => Number.parseInt(x, 10) || 0);
  const [b1, b2] = b.split('_').map((x) => Number.parseInt(x, 10) || 0);
  return a1 - b1 || (a2 ?? 0) - (b2 ?? 0);
}

// ------------------------------------------------------------------------------------------------ the client

export type CommandRunner = (command: string, args: string[]) => Promise<ProcessResult>;

export interface SlurmCommands {
  sbatch: string;
  squeue: string;
  sacct: string;
  scancel: string;
}

export const DEFAULT_SLURM_COMMANDS: SlurmCommands = { sbatch: 'sbatch', squeue: 'squeue', sacct: 'sacct', scancel: 'scancel' };

export type QueryResult = { ok: true; statuses: Map<string, JobStatus> } | { ok: false; error: string };

export class SlurmClient {
  /** How sacct answers here: from the accounting database, from the job completion file (-c), or not at all. */
  private sacctMode: 'db' | 'jobcomp' | 'none' | undefined;
  /** Whether this squeue knows the RestartCnt field (Slurm 17.02+); found on the first query. */
  private squeueRestarts = true;

  constructor(
    private readonly run: CommandRunner,
    private readonly commands: SlurmCommands = DEFAULT_SLURM_COMMANDS,
  ) {}

  /** sbatch --parsable SCRIPT: the job id ("123", or "123;cluster" of which the id is kept). */
  async submit(script: string, extraArgs: string[] = []): Promise<{ ok: true; jobId: string } | { ok: false; error: string }> {
    const r = await this.run(this.commands.sbatch, ['--parsable', ...extraArgs, script]);
    if (r.spawnError) return { ok: false, error: `${this.commands.sbatch} could not be run (${r.spawnError}): is this a Slurm login node?` };
    const id = r.stdout.trim().split('\n').pop()?.split(';')[0]?.trim() ?? '';
    if (r.code !== 0 || !/^\d+(_\d+)?$/.test(id)) return { ok: false, error: lastLine(r) || `sbatch exited with ${r.code}` };
    return { ok: true, jobId: id };
  }

  /**
   * scancel: without a signal the job ends (SIGTERM to everything, SIGKILL after KillWait); with one, the signal goes
   * to the job's steps (srun's tasks: torchrun and the trainer), not to the batch shell.
   */
  async cancel(jobId: string, signal?: 'INT' | 'TERM' | 'KILL' | 'USR1'): Promise<{ ok: true } | { ok: false; error: string }> {
    const r = await this.run(this.commands.scancel, [...(signal ? [`--signal=${signal}`] : []), jobId]);
    if (r.spawnError) return { ok: false, error: `${this.commands.scancel} could not be run (${r.spawnError})` };
    if (r.code !== 0) return { ok: false, error: lastLine(r) || `scancel exited with ${r.code}` };
    return { ok: true };
  }

  /** The state of each job; a job neither squeue nor sacct knows is `not-found` (final). */
  async query(jobIds: readonly string[]): Promise<QueryResult> {
    const ids = [...new Set(jobIds)];
    const statuses = new Map<string, JobStatus>();
    if (ids.length === 0) return { ok: true, statuses };
    const format = this.squeueRestarts ? ['-O', 'JobID:|,State:|,Reason:|,RestartCnt:'] : ['-o', '%i|%T|%r'];
    let q = await this.run(this.commands.squeue, ['-h', '-t', 'all', '-j', ids.join(','), ...format]);
    if (this.squeueRestarts && q.code !== 0 && /invalid.*(format|field)/i.test(q.stderr)) {
      this.squeueRestarts = false;
      q = await this.run(this.commands.squeue, ['-h', '-t', 'all', '-j', ids.join(','), '-o', '%i|%T|%r']);
    }
    if (q.spawnError) return { ok: false, error: `${this.commands.squeue} could not be run (${q.spawnError})` };
    if (q.code !== 0 && !/invalid job id/i.test(q.stderr)) return { ok: false, error: lastLine(q) || `squeue exited with ${q.code}` };
    for (const [id, s] of parseSqueue(q.stdout)) if (ids.includes(id)) statuses.set(id, s);
    const missing = ids.filter((id) => !statuses.has(id));
    if (missing.length) {
      const fromSacct = await this.sacct(missing);
      if (!fromSacct.ok) return fromSacct;
      for (const id of missing) statuses.set(id, fromSacct.statuses.get(id) ?? notFound(id));
    }
    return { ok: true, statuses };
  }

  private async sacct(ids: string[]): Promise<QueryResult> {
    const args = ['-j', ids.join(','), '-n', '-P', '-X', '-o', 'JobID,State,ExitCode'];
    if (this.sacctMode === undefined || this.sacctMode === 'db') {
      const r = await this.run(this.commands.sacct, args);
      if (r.spawnError) return { ok: false, error: `${this.commands.sacct} could not be run (${r.spawnError})` };
      if (r.code === 0) {
        this.sacctMode = 'db';
        return { ok: true, statuses: parseSacct(r.stdout) };
      }
      if (!/accounting storage is disabled|slurmdbd|accounting_storage\/none/i.test(r.stderr)) {
        return { ok: false, error: lastLine(r) || `sacct exited with ${r.code}` };
      }
      this.sacctMode = 'jobcomp';
    }
    if (this.sacctMode === 'jobcomp') {
      const r = await this.run(this.commands.sacct, ['-c', ...args]);
      if (r.code === 0) return { ok: true, statuses: parseSacct(r.stdout) };
      this.sacctMode = 'none';
    }
    return { ok: true, statuses: new Map() };
  }
}

function notFound(jobId: string): JobStatus {
  return { jobId, state: 'UNKNOWN', phase: 'unknown', reason: null, exitCode: null, final: true, source: 'not-found', restarts: null };
}

function lastLine(r: ProcessResult): string {
  const lines = `${r.stderr}\n${r.stdout}`
    .trim()
    .split('\n')
    .filter((l) => l.trim());
  return lines[lines.length - 1]?.trim() ?? '';
}

// ------------------------------------------------------------------------------------------------ the monitor

/** What the monitor polls and whom it tells: the run store. */
export interface JobStatusSink {
  /** Job ids whose state the runs still need (not final yet). */
  jobsToPoll(): string[];
  setJobStatus(status: JobStatus): void;
}

export interface MonitorOptions {
  /** Between polls (a function: the setting may change). */
  intervalMs: number | (() => number);
  /** After a failed query (squeue missing, controller down), wait this long before the next. */
  errorBackoffMs?: number;
  onError?(error: string): void;
}

/**
 * Polls the sink's jobs with one squeue call (plus sacct for jobs squeue no longer shows) every `intervalMs`, and only
 * while there is a job to poll: with no job pending or running nothing is run at all.
 */
export class SlurmMonitor {
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | null = null;
  private disposed = false;
  private lastError: string | null = null;

  constructor(
    private readonly client: SlurmClient,
    private readonly sink: JobStatusSink,
    private readonly options: MonitorOptions,
  ) {}

  /** The last query error, or null after a successful one. */
  get error(): string | null {
    return this.lastError;
  }

  start(): void {
    this.schedule(0);
  }

  /** Polls now (after a submit or a stop); resolves when that poll is done. */
  pollNow(): Promise<void> {
    if (this.disposed) return Promise.resolve();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    return this.tick();
  }

  dispose(): void {
    this.disposed = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private schedule(ms: number): void {
    if (this.disposed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.tick();
    }, ms);
    this.timer.unref?.();
  }

  private tick(): Promise<void> {
    if (this.polling) return this.polling;
    let next = 0;
    // `.finally` runs after this assignment even when pollOnce has nothing to await (no jobs), so polling is cleared.
    const polling = this.pollOnce()
      .then((ms) => {
        next = ms;
      })
      .finally(() => {
        this.polling = null;
        this.schedule(next);
      });
    this.polling = polling;
    return polling;
  }

  /** One query of the jobs to poll; resolves to the wait before the next. */
  private async pollOnce(): Promise<number> {
    const every = this.options.intervalMs;
    const interval = typeof every === 'function' ? every() : every;
    const ids = this.sink.jobsToPoll();
    if (!ids.length) return interval;
    const r = await this.client.query(ids);
    if (r.ok) {
      this.lastError = null;
      for (const s of r.statuses.values()) this.sink.setJobStatus(s);
      return interval;
    }
    if (r.error !== this.lastError) this.options.onError?.(r.error);
    this.lastError = r.error;
    return Math.max(interval, this.options.errorBackoffMs ?? 60_000);
  }
}
