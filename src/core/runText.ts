// Short texts about a run that several views show (the Runs tree, the Resume picker, notifications). No vscode.
import type { RunState } from './runStore';

/** Where a Resume of this run continues, for runs that can be resumed (stopped, crashed, failed); else undefined. */
export function resumeText(run: Pick<RunState, 'status' | 'resumeStep'>): string | undefined {
  if (run.status === 'running' || run.status === 'finished') return undefined;
  return run.resumeStep !== null ? `resumes from step ${run.resumeStep}` : 'resume starts over at step 0';
}

/** "Resume continues from step 10." / "Resume starts over at step 0 (no checkpoint with trainer state)." */
export function resumeSentence(run: Pick<RunState, 'status' | 'resumeStep'>): string {
  if (run.status === 'running' || run.status === 'finished') return '';
  return run.resumeStep !== null ? `Resume continues from step ${run.resumeStep}.` : 'Resume starts over at step 0 (no checkpoint with trainer state).';
}

/** "loss/total NaN at step 12": the run's first non-finite loss, an anomaly the views mark. */
export function anomalyText(run: Pick<RunState, 'nonFiniteLoss'>): string | undefined {
  const l = run.nonFiniteLoss;
  return l ? `${l.metric} ${l.value}${l.step !== null ? ` at step ${l.step}` : ''}` : undefined;
}
