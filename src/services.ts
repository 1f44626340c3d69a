// Shared services created once in activate(): the run store and the selected run. Feature modules (dashboard,
// compare, rollouts) read them through these accessors instead of creating their own.
import type { RunStore } from './core/runStore';
import { Emitter } from './core/runStore';

let runStore: RunStore | undefined;

export function setRunStore(store: RunStore | undefined): void {
  runStore = store;
}

/** The one run store of the extension. Throws before activate() has created it. */
export function getRunStore(): RunStore {
  if (!runStore) throw new Error('TRAPO: the run store is not ready (the extension has not finished activating)');
  return runStore;
}

/** The run selected in the Runs view: it drives the Prefix Allocation and Benchmarks views and the status bar. */
export class RunSelection {
  private current: string | undefined;
  private readonly changed = new Emitter<string | undefined>();
  readonly onDidChange = this.changed.event;

  get runId(): string | undefined {
    return this.current;
  }

  set(runId: string | undefined): void {
    if (runId === this.current) return;
    this.current = runId;
    this.changed.fire(runId);
  }

  dispose(): void {
    this.changed.dispose();
  }
}

let selection: RunSelection | undefined;

export function setRunSelection(s: RunSelection | undefined): void {
  selection = s;
}

export function getRunSelection(): RunSelection {
  if (!selection) throw new Error('TRAPO: the run selection is not ready (the extension has not finished activating)');
  return selection;
}
