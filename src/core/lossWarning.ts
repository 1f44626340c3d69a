// When the extension warns that a run's loss went NaN or infinite, without vscode (src/runs/notifications.ts shows
// the warning): only for a run seen live, while it is running, after its first complete read (a run that diverged
// before the window opened is marked in the Runs tree, not announced), and once per run.
import type { RunChange, RunState } from './runStore';

export class NonFiniteLossWatch {
  /** Runs whose first read (all they had on disk) has not completed yet. */
  private readonly firstRead = new Set<string>();
  /** Runs whose non-finite loss was seen (warned about, or found in their history): never warned again. */
  private readonly seen = new Set<string>();

  /** The run to warn about now, or undefined. Call it with every change of the store, in order. */
  warn(change: RunChange): RunState | undefined {
    if (change.kind === 'removed') {
      this.firstRead.delete(change.id);
      this.seen.delete(change.id);
      return undefined;
    }
    const run = change.run;
    if (change.kind === 'added') this.firstRead.add(run.id);
    if (run.loading) return undefined;
    const initial = this.firstRead.delete(run.id) || change.kind !== 'updated';
    if (!run.nonFiniteLoss || this.seen.has(run.id)) return undefined;
    this.seen.add(run.id);
    return !initial && run.status === 'running' ? run : undefined;
  }
}
