// Stopping a process politely, then less so (no vscode): SIGINT, SIGTERM after the grace period, SIGKILL after as
// long again. The TRAPO trainer treats the first SIGINT as "finish this step, save, end stopped" and a second
// signal (SIGINT or SIGTERM) as "stop now" (trainer/trapo/train.py install_sigint).

export type StopOutcome = 'already-stopped' | 'stopped' | 'stopped-sigterm' | 'stopped-sigkill' | 'not-delivered' | 'survived-sigkill';

export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGKILL'] as const;

/**
 * `send` delivers a signal (false when the process is gone); `exited` resolves when it has exited.
 * SIGKILL is followed by a short wait (`killWaitMs`) for the exit to be reported.
 */
export async function escalateStop(
  send: (sig: NodeJS.Signals) => boolean,
  exited: Promise<unknown>,
  graceMs: number,
  killWaitMs = 5000,
): Promise<StopOutcome> {
  if (await settlesWithin(exited, 0)) return 'already-stopped';
  for (const sig of STOP_SIGNALS) {
    if (!send(sig)) return sig === 'SIGINT' ? 'not-delivered' : outcomeAfter(sig);
    if (await settlesWithin(exited, sig === 'SIGKILL' ? killWaitMs : graceMs)) return outcomeAfter(sig);
  }
  return 'survived-sigkill';
}

function outcomeAfter(sig: NodeJS.Signals): StopOutcome {
  return sig === 'SIGINT' ? 'stopped' : sig === 'SIGTERM' ? 'stopped-sigterm' : 'stopped-sigkill';
}

export function describeStop(outcome: StopOutcome): string {
  switch (outcome) {
    case 'already-stopped':
      return 'it had already stopped';
    case 'stopped':
      return 'it saved and stopped';
    case 'stopped-sigterm':
      return 'it did not stop within the grace period and was stopped with SIGTERM';
    case 'stopped-sigkill':
      return 'it had to be killed (SIGKILL); resume from its last checkpoint';
    case 'not-delivered':
      return 'the process could not be signalled (gone, or not ours)';
    case 'survived-sigkill':
      return 'the process did not exit even after SIGKILL';
    default: {
      const never: never = outcome;
      return String(never);
    }
  }
}

/** True when `p` settles within `ms` (0: only if it already has). */
export function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    const done = () => {
      clearTimeout(t);
      resolve(true);
    };
    p.then(done, done);
  });
}
