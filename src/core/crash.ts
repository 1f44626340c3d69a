// Crash detection (pure; no vscode). A process killed hard (SIGKILL, OOM killer, node lost) cannot write its final
// status, so run.json keeps saying "running". A reader infers "crashed" (docs/architecture.md §7.4):
//   - the run was started on this host and its pid no longer exists, or
//   - the process cannot be seen (another host, or no pid) and the newest sign of life (heartbeat, any event, a
//     rewrite of run.json) is older than the threshold.
// A live pid on this host wins over a stale heartbeat: a long checkpoint save or a debugger pause is not a crash.
// For a run on Slurm the job's state decides first (src/core/jobStatus.ts): a job that ended while run.json says
// running is a crash ('job-ended', with the Slurm state), a pending job is not one.

/** Injected clock and process probe, so that tests run with a fake clock and fake pids. */
export interface CrashProbe {
  /** Unix seconds. */
  now(): number;
  /** Host name of this machine, compared with run.json `host`. */
  hostname: string;
  /** Whether a process with this pid exists on this machine. */
  isPidAlive(pid: number): boolean;
}

export interface CrashInputs {
  /** Status from run.json or, when newer, from a `run_finished` event. */
  status: 'running' | 'finished' | 'failed' | 'stopped';
  pid: number | null;
  host: string | null;
  /** Unix seconds of the newest sign of life: the newest heartbeat/event time, run.json updated_at or created_at. */
  lastSignOfLife: number | null;
}

export type CrashVerdict = { crashed: false } | { crashed: true; reason: 'pid-dead' | 'heartbeat-stale' | 'job-ended'; detail: string };

export function detectCrash(input: CrashInputs, probe: CrashProbe, heartbeatTimeoutSeconds: number): CrashVerdict {
  if (input.status !== 'running') return { crashed: false };
  const local = input.host !== null && input.host === probe.hostname;
  if (local && input.pid !== null && input.pid > 0) {
    if (probe.isPidAlive(input.pid)) return { crashed: false };
    return { crashed: true, reason: 'pid-dead', detail: `process ${input.pid} on ${input.host} is gone` };
  }
  if (input.lastSignOfLife === null) return { crashed: false };
  const age = probe.now() - input.lastSignOfLife;
  if (age > heartbeatTimeoutSeconds) {
    return {
      crashed: true,
      reason: 'heartbeat-stale',
      detail: `no heartbeat for ${Math.round(age)} s (threshold ${heartbeatTimeoutSeconds} s)`,
    };
  }
  return { crashed: false };
}

/** The real probe: signal 0 tests for existence without delivering anything. EPERM means it exists (other user). */
export function isPidAliveOnThisHost(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function systemCrashProbe(hostname: string): CrashProbe {
  return { now: () => Date.now() / 1000, hostname, isPidAlive: isPidAliveOnThisHost };
}
