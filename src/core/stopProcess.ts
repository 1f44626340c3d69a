// Stopping a process politely, then less so (no vscode): SIGINT, then SIGTERM, then SIGKILL. The TRAPO trainer treats
// the first SIGINT as "drop the work in progress that can be dropped, save the last finished step, end stopped" and a
// second signal (SIGINT or SIGTERM) as "stop now, without saving" (trainer/trapo/stopping.py).
//
// When SIGTERM comes: a trainer saving its last step keeps its heartbeat (and may take minutes for a large model),
// so with a sign-of-life source SIGTERM waits until the trainer has shown no sign of life (heartbeat or any event) for
// the grace period, not a fixed time after SIGINT. Without one (a process that writes no events), the grace period
// after SIGINT. The user can always ask for "now" (SIGTERM at once). SIGKILL follows SIGTERM after the grace period.

export type StopOutcome = 'already-stopped' | 'stopped' | 'stopped-sigterm' | 'stopped-now' | 'stopped-sigkill' | 'not-delivered' | 'survived-sigkill';

export interface StopOptions {
  /** Milliseconds to wait for the exit to be reported after SIGKILL. */
  killWaitMs?: number;
  /**
   * Unix milliseconds of the process's newest sign of life, or null when unknown. With it, SIGTERM waits for
   * `graceMs` without a sign of life (counted from SIGINT at the earliest) instead of `graceMs` after SIGINT.
   */
  signOfLife?: () => number | null;
  /** Milliseconds without a sign of life before SIGTERM (default `graceMs`). */
  quietMs?: number;
  /** Resolves when the user asks to stop now: SIGTERM at once (the trainer then ends without saving). */
  now?: Promise<unknown>;
  /** How often the sign of life is looked at. */
  pollMs?: number;
  /** Unix milliseconds (a fake clock in tests). */
  clock?: () => number;
}

/**
 * `send` delivers a signal (false when the process is gone); `exited` resolves when it has exited. The fourth
 * argument is the wait after SIGKILL (a number, as before) or the options.
 */
export async function escalateStop(
  send: (sig: NodeJS.Signals) => boolean,
  exited: Promise<unknown>,
  graceMs: number,
  options: number | StopOptions = {},
): Promise<StopOutcome> {
  const o: StopOptions = typeof options === 'number' ? { killWaitMs: options } : options;
  const killWaitMs = o.killWaitMs ?? 5000;
  if (await settlesWithin(exited, 0)) return 'already-stopped';
  if (!send('SIGINT')) return 'not-delivered';
  const after = await untilQuiet(exited, o.signOfLife ? (o.quietMs ?? graceMs) : graceMs, o);
  if (after === 'exited') return 'stopped';
  if (!send('SIGTERM')) return after === 'now' ? 'stopped-now' : 'stopped-sigterm';
  if (await settlesWithin(exited, graceMs)) return after === 'now' ? 'stopped-now' : 'stopped-sigterm';
  if (!send('SIGKILL')) return 'stopped-sigkill';
  if (await settlesWithin(exited, killWaitMs)) return 'stopped-sigkill';
  return 'survived-sigkill';
}

/** Waits after SIGINT: until the process exits, goes quiet for `graceMs` (or `graceMs` passes, with no sign-of-life
 * source), or the user asks for now. */
function untilQuiet(exited: Promise<unknown>, graceMs: number, o: StopOptions): Promise<'exited' | 'quiet' | 'now'> {
  const clock = o.clock ?? Date.now;
  const sentAt = clock();
  return new Promise((resolve) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let done = false;
    const finish = (why: 'exited' | 'quiet' | 'now') => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(why);
    };
    exited.then(
      () => finish('exited'),
      () => finish('exited'),
    );
    o.now?.then(
      () => finish('now'),
      () => undefined,
    );
    const check = () => {
      if (done) return;
      const life = o.signOfLife?.() ?? null;
      const quietSince = Math.max(sentAt, life ?? sentAt);
      const left = quietSince + graceMs - clock();
      if (left <= 0) return finish('quiet');
      // Without a source the deadline is fixed; with one, look again a little later (the trainer may beat again).
      timer = setTimeout(check, o.signOfLife ? Math.min(left, o.pollMs ?? 250) : left);
    };
    check();
  });
}

export function describeStop(outcome: StopOutcome): string {
  switch (outcome) {
    case 'already-stopped':
      return 'it had already stopped';
    case 'stopped':
      return 'it saved its last finished step and stopped';
    case 'stopped-sigterm':
      return 'it showed no sign of life for the grace period and was stopped with SIGTERM; resume from its last checkpoint';
    case 'stopped-now':
      return 'it was stopped at once (SIGTERM), without saving; resume from its last checkpoint';
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
