// Adapts the run store (src/core/runStore.ts) to what the dashboard reads. No `vscode` import.
import { RunState, RunStore, skippedTotal } from '../core/runStore';
import type { RunSummary } from '../shared/dashboardProtocol';
import type { DashboardSource, EvalEntry } from './dashboardData';

export function runSummary(run: RunState): RunSummary {
  const summary: RunSummary = {
    id: run.id,
    name: run.info.name || run.id,
    algorithm: run.info.algorithm,
    status: run.status,
    createdAt: run.info.created_at,
    step: run.step,
    totalSteps: run.totalSteps,
  };
  if (skippedTotal(run.skipped) > 0) summary.skipped = { ...run.skipped };
  const loss = run.nonFiniteLoss;
  if (loss) summary.anomaly = `${loss.metric} ${loss.value}${loss.step !== null ? ` at step ${loss.step}` : ''}`;
  return summary;
}

/** What the dashboard's run list shows of a run: when it changes, the list is sent again. */
function summaryKey(run: RunState): string {
  return JSON.stringify(runSummary(run));
}

export function runStoreSource(store: RunStore): DashboardSource {
  const shown = new Map<string, string>();
  return {
    listRuns: () => store.runs().map(runSummary),
    getSeries: (id) => store.get(id)?.metrics,
    getEvals: (id) => store.get(id)?.evals as readonly EvalEntry[] | undefined,
    // The wall-time axis counts from the run's creation (run.json created_at), the same origin for every resume.
    getStartTime: (id) => store.get(id)?.info.created_at ?? null,
    getHistoryVersion: (id) => store.get(id)?.historyVersion ?? 0,
    onDidChange: (listener) =>
      store.onDidChange((change) => {
        switch (change.kind) {
          case 'added':
            shown.set(change.run.id, summaryKey(change.run));
            listener({});
            break;
          case 'removed':
            shown.delete(change.id);
            listener({});
            break;
          case 'updated': {
            if (change.events.length) listener({ runId: change.run.id });
            // The run list shows each run's status and step: it follows every step, not only status changes.
            const key = summaryKey(change.run);
            if (change.statusChange || change.events.length === 0 || shown.get(change.run.id) !== key) listener({});
            shown.set(change.run.id, key);
            break;
          }
          default: {
            const never: never = change;
            throw new Error(`unhandled run change ${String(never)}`);
          }
        }
      }),
  };
}
