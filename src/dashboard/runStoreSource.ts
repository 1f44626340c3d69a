// Adapts the run store (src/core/runStore.ts) to what the dashboard reads. No `vscode` import.
import type { RunState, RunStore } from '../core/runStore';
import type { RunSummary } from '../shared/dashboardProtocol';
import type { DashboardSource, EvalEntry } from './dashboardData';

export function runSummary(run: RunState): RunSummary {
  return {
    id: run.id,
    name: run.info.name || run.id,
    algorithm: run.info.algorithm,
    status: run.status,
    createdAt: run.info.created_at,
    step: run.step,
    totalSteps: run.totalSteps,
  };
}

export function runStoreSource(store: RunStore): DashboardSource {
  return {
    listRuns: () => store.runs().map(runSummary),
    getSeries: (id) => store.get(id)?.metrics,
    getEvals: (id) => store.get(id)?.evals as readonly EvalEntry[] | undefined,
    // The wall-time axis counts from the run's creation (run.json created_at), the same origin for every resume.
    getStartTime: (id) => store.get(id)?.info.created_at ?? null,
    onDidChange: (listener) =>
      store.onDidChange((change) => {
        switch (change.kind) {
          case 'added':
          case 'removed':
            listener({});
            break;
          case 'updated':
            if (change.events.length) listener({ runId: change.run.id });
            if (change.statusChange || change.events.length === 0) listener({});
            break;
          default: {
            const never: never = change;
            throw new Error(`unhandled run change ${String(never)}`);
          }
        }
      }),
  };
}
