// Stopping a run's Slurm job (no vscode), as a local Stop does but through scancel:
//   1. `scancel --signal=INT JOB`: SIGINT to the job's steps (torchrun passes it on): the trainer finishes the step,
//      saves and ends "stopped"; the job's script then ends with it;
//   2. when the job has not ended after the grace period and the trainer's heartbeat has stopped (a long step or a
//      big checkpoint keeps beating: it is waited for): `scancel JOB` (SIGTERM to everything, then SIGKILL after the
//      cluster's KillWait), which the trainer takes as "stop now";
//   3. when even that has not ended it: `scancel --signal=KILL JOB`.
// A job whose trainer has not started (pending, or still starting) has nothing to save: it is cancelled at once.
import type { RunStatus } from './runFormat';
import { JobStatus, SlurmClient } from './slurm';

export type SlurmStopOutcome = 'already-ended' | 'cancelled-before-start' | 'stopped' | 'stopped-scancel' | 'stopped-kill' | 'not-delivered' | 'still-running';

export interface SlurmStopRequest {
  jobId: string;
  /** The trainer of this job has written run.json (it can save). */
  trainerStarted: boolean;
  status: JobStatus | null;
  graceMs: number;
  /** How long to wait after `scancel` (SIGTERM, then Slurm's SIGKILL after KillWait) before the explicit SIGKILL. */
  cancelWaitMs?: number;
  pollMs?: number;
  /** Progress for the notification. */
  onProgress?(message: string): void;
  /** Whether the trainer still shows signs of life (a fresh heartbeat): then the grace period is extended. */
  stillWorking?(): boolean;
}

export interface SlurmStopResult {
  outcome: SlurmStopOutcome;
  /** Slurm's last answer for the job. */
  final: JobStatus | null;
  error?: string;
}

export async function stopSlurmJob(client: SlurmClient, req: SlurmStopRequest): Promise<SlurmStopResult> {
  const pollMs = req.pollMs ?? 2000;
  let last: JobStatus | null = req.status;
  const ended = async (withinMs: number): Promise<boolean> => {
    const deadline = Date.now() + withinMs;
    for (;;) {
      const r = await client.query([req.jobId]);
      if (r.ok) last = r.statuses.get(req.jobId) ?? last;
      if (last?.final) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, Math.min(pollMs, Math.max(0, deadline - Date.now()))));
    }
  };
  if (last?.final || (await ended(0))) return { outcome: 'already-ended', final: last };
  // On Slurm's answer just given (`req.status` may be a poll old: a job seen pending may have started since).
  const waitingToStart = !req.trainerStarted || last?.phase === 'pending' || last?.phase === 'suspended';
  if (waitingToStart) {
    req.onProgress?.(`cancelling job ${req.jobId} (its trainer has not started: nothing to save)`);
    const c = await client.cancel(req.jobId);
    if (!c.ok) return { outcome: 'not-delivered', final: last, error: c.error };
    return { outcome: (await ended(req.cancelWaitMs ?? 60_000)) ? 'cancelled-before-start' : 'still-running', final: last };
  }
  req.onProgress?.(`scancel --signal=INT ${req.jobId}: the trainer finishes its step and saves`);
  const i = await client.cancel(req.jobId, 'INT');
  if (!i.ok) return { outcome: 'not-delivered', final: last, error: i.error };
  if (await ended(req.graceMs)) return { outcome: 'stopped', final: last };
  while (req.stillWorking?.()) {
    req.onProgress?.(`job ${req.jobId}: the trainer is still finishing its step and saving (its heartbeat goes on)`);
    if (await ended(pollMs * 5)) return { outcome: 'stopped', final: last };
  }
  req.onProgress?.(`job ${req.jobId} still runs after ${Math.round(req.graceMs / 1000)} s and its heartbeat stopped: scancel`);
  const t = await client.cancel(req.jobId);
  if (!t.ok) return { outcome: 'not-delivered', final: last, error: t.error };
  if (await ended(req.cancelWaitMs ?? 60_000)) return { outcome: 'stopped-scancel', final: last };
  req.onProgress?.(`job ${req.jobId} still runs: scancel --signal=KILL`);
  const k = await client.cancel(req.jobId, 'KILL');
  if (!k.ok) return { outcome: 'not-delivered', final: last, error: k.error };
  return { outcome: (await ended(req.cancelWaitMs ?? 60_000)) ? 'stopped-kill' : 'still-running', final: last };
}

/** The job ended within the grace period, but the run's own word after it (run.json, or its run_finished event), when
 * known, says the trainer did not save and stop (killed, or a rank failed). */
export function stoppedUnsaved(r: SlurmStopResult, written?: RunStatus): boolean {
  return r.outcome === 'stopped' && written !== undefined && written !== 'stopped' && written !== 'finished';
}

/** What the Stop did; `written` as for stoppedUnsaved. */
export function describeSlurmStop(r: SlurmStopResult, written?: RunStatus): string {
  switch (r.outcome) {
    case 'already-ended':
      return 'its job had already ended';
    case 'cancelled-before-start':
      return 'its job was cancelled before the trainer started';
    case 'stopped':
      if (!stoppedUnsaved(r, written)) return 'it saved and stopped';
      return written === 'failed'
        ? `its job ended, but the trainer failed while stopping instead of saving (see its log)`
        : `its job ended, but the trainer did not save and record its stop (see its log)`;
    case 'stopped-scancel':
      return 'it did not stop within the grace period and its job was cancelled (scancel)';
    case 'stopped-kill':
      return 'its job had to be killed (scancel --signal=KILL); resume from its last checkpoint';
    case 'not-delivered':
      return `scancel failed: ${r.error ?? 'no reason given'}`;
    case 'still-running':
      return 'its job is still running after scancel --signal=KILL: ask the cluster administrators';
    default: {
      const never: never = r.outcome;
      return String(never);
    }
  }
}
