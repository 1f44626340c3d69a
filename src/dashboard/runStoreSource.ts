// Adapts the run store (src/core/runStore.ts) to what the dashboard reads. No `vscode` import.
import { RunState, RunStore, skippedTotal } from '../core/runStore';
import { alertLines } from '../core/alerts';
import type { RunSummary } from '../shared/dashboardProtocol';
import type { ConfigValue } from '../shared/runGroups';
import type { DashboardSource, DashboardEvalEntry } from './dashboardData';
import { flattenConfig, varyingConfig } from './runConfig';

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
  if (run.anomalies.length) summary.alerts = alertLines(run.anomalies);
  return summary;
}

/** Each run's flattened config (run.json's, every default filled), kept while run.json is unchanged. */
const flatCache = new WeakMap<object, Record<string, ConfigValue>>();
function flatConfig(run: RunState): Record<string, ConfigValue> {
  let flat = flatCache.get(run.info);
  if (!flat) {
    flat = flattenConfig(run.info.config ?? {});
    flat.algorithm = run.info.algorithm;
    flatCache.set(run.info, flat);
  }
  return flat;
}

/** The run list as the dashboard shows it: summaries with the config values that tell the runs apart. */
export function listRuns(store: RunStore): RunSummary[] {
  const runs = store.runs();
  const varying = varyingConfig(new Map(runs.map((r) => [r.id, flatConfig(r)])));
  return runs.map((r) => ({ ...runSummary(r), config: varying.get(r.id) }));
}

/** What the dashboard's run list shows of a run: when it changes, the list is sent again. */
function summaryKey(run: RunState): string {
  return JSON.stringify(runSummary(run));
}

export function runStoreSource(store: RunStore): DashboardSource {
  const shown = new Map<string, string>();
  return {
    listRuns: () => listRuns(store),
    getSeries: (id) => store.get(id)?.metrics,
    getEvals: (id) => store.get(id)?.evals as readonly DashboardEvalEntry[] | undefined,
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
