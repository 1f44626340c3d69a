// A run's Slurm job and what its state means for the run (pure; no vscode). The run store calls these.
//
// A run's jobs: those launch.json lists (submitted by the extension) and the one its trainer records in run.json
// (`slurm.job_id`: also a job submitted with sbatch from a terminal). The current job is the one with the largest id.
// Its trainer has started when run.json names that job (and, once Slurm said how often the job was requeued, that
// run of it: a requeued job keeps its id). Then, while the job is not final:
//   - pending (or suspended): the run is active and waits ("queued"), whatever an older run.json says;
//   - running or completing, trainer not started yet: active ("starting");
//   - running with the trainer started: the usual crash detection (pid, heartbeat) applies.
// A final job whose trainer wrote its own end (finished, stopped, failed) shows that end. A final job whose trainer
// never started, or left run.json saying running (killed, out of memory, time limit without a save), is a crash with
// the Slurm state as its reason.
import * as path from 'node:path';
import type { LaunchInfo, RunInfo, RunStatus } from './runFormat';
import { JobStatus, compareJobIds, describeJobStatus } from './slurm';

export interface RunJob {
  launcher: 'slurm';
  jobId: string;
  /** Slurm's latest answer for the job; null until the first one. */
  status: JobStatus | null;
  /** run.json names this job: its trainer has started (and may have ended). */
  trainerStarted: boolean;
  /** Absolute path of the job's sbatch script when the extension submitted it; null for a job from a terminal. */
  script: string | null;
  submittedAt: number | null;
  origin: 'start' | 'resume' | 'terminal';
}

/** What the job state means for the run's displayed status. */
export type JobVerdict = { kind: 'active'; phase: 'queued' | 'starting' | 'suspended' } | { kind: 'ended'; detail: string } | { kind: 'none' };

export function currentJob(runDir: string, launch: LaunchInfo | null, info: RunInfo | null, statusOf: (jobId: string) => JobStatus | undefined): RunJob | null {
  const jobs: Omit<RunJob, 'status' | 'trainerStarted'>[] = (launch?.jobs ?? []).map((j) => ({
    launcher: 'slurm',
    jobId: j.job_id,
    script: path.resolve(runDir, j.script),
    submittedAt: j.submitted_at,
    origin: j.reason,
  }));
  const own = info?.slurm?.job_id;
  if (own && !jobs.some((j) => j.jobId === own)) {
    jobs.push({ launcher: 'slurm', jobId: own, script: null, submittedAt: null, origin: 'terminal' });
  }
  if (jobs.length === 0) return null;
  const job = jobs.reduce((a, b) => (compareJobIds(b.jobId, a.jobId) > 0 ? b : a));
  const status = statusOf(job.jobId) ?? null;
  const lastWrite = info ? (info.updated_at ?? info.created_at) : null;
  const thisRunOfJob = (restartCount: number) => status?.restarts === null || status?.restarts === undefined || status.restarts === restartCount;
  const trainerStarted =
    info !== null &&
    (info.slurm
      ? info.slurm.job_id === job.jobId && thisRunOfJob(info.slurm.restart_count)
      : job.submittedAt !== null && lastWrite !== null && lastWrite >= job.submittedAt);
  return { ...job, status, trainerStarted };
}

export function jobVerdict(written: RunStatus, job: RunJob): JobVerdict {
  const s = job.status;
  if (s === null) return job.trainerStarted ? { kind: 'none' } : { kind: 'active', phase: 'queued' };
  if (!s.final) {
    if (s.phase === 'pending') return { kind: 'active', phase: 'queued' };
    if (s.phase === 'suspended') return { kind: 'active', phase: 'suspended' };
    return job.trainerStarted ? { kind: 'none' } : { kind: 'active', phase: 'starting' };
  }
  if (job.trainerStarted && written !== 'running') return { kind: 'none' };
  const what = `Slurm job ${job.jobId} ${s.source === 'not-found' ? 'is not known to Slurm any more' : `ended ${s.state}`}`;
  if (!job.trainerStarted) return { kind: 'ended', detail: `${what} before the trainer started (see logs/slurm-${job.jobId}.out)` };
  return { kind: 'ended', detail: `${what} while the trainer was running` };
}

/** Whether the store still needs the job's state: not final yet, and it decides what the run shows. */
export function needsPolling(written: RunStatus, job: RunJob): boolean {
  if (job.status?.final) return false;
  if (job.status === null) return !job.trainerStarted || written === 'running';
  return true;
}

/** "job 123 pending (Resources)", "job 123 running", "job 123 timeout" ... */
export function describeRunJob(job: RunJob): string {
  if (job.status) return `job ${job.jobId} ${describeJobStatus(job.status)}`;
  return job.trainerStarted ? `job ${job.jobId}` : `job ${job.jobId} submitted`;
}

/** What an active job is doing while its trainer is not training yet: waiting, starting, suspended; else null. */
export function jobActivity(written: RunStatus, job: RunJob): 'queued' | 'starting' | 'suspended' | null {
  const v = jobVerdict(written, job);
  return v.kind === 'active' ? v.phase : null;
}
