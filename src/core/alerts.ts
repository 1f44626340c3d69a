// Health alerts of runs (the trainer's `anomaly` events, trainer/trapo/anomalies.py), without vscode: their titles,
// a run's mark, and which alerts came while the window watched (notified) rather than with a run's history (only
// marked: opening a folder of old runs raises no notification).
import type { AnomalyEvent, AnomalyKind } from './runFormat';
import type { RunChange, RunState } from './runStore';

export const ANOMALY_TITLES: Record<AnomalyKind, string> = {
  non_finite_loss: 'non-finite loss',
  entropy_collapse: 'entropy collapse',
  length_limit: 'answers at the length limit',
  reward_up_benchmark_down: 'reward up, benchmarks down',
};

/** "⚠ entropy collapse" for one alert, "⚠ 3 alerts" for more; '' for none. */
export function alertMark(anomalies: readonly AnomalyEvent[]): string {
  if (anomalies.length === 0) return '';
  return anomalies.length === 1 ? `⚠ ${ANOMALY_TITLES[anomalies[0].kind]}` : `⚠ ${anomalies.length} alerts`;
}

/** One line per alert: "step 12: <the trainer's message>". */
export function alertLines(anomalies: readonly AnomalyEvent[]): string[] {
  return anomalies.map((a) => `${a.step !== null ? `step ${a.step}: ` : ''}${a.message}`);
}

/** Picks out the alerts that arrive live: a run's first complete read is its history. */
export class AlertWatch {
  private readonly loaded = new Set<string>();

  /** The anomaly events of this change to tell the user about now. */
  live(change: RunChange): { run: RunState; anomalies: AnomalyEvent[] } | undefined {
    if (change.kind === 'removed') {
      this.loaded.delete(change.id);
      return undefined;
    }
    const run = change.run;
    if (!this.loaded.has(run.id)) {
      // Until the first complete read, events are the run's past; the update that completes it carries the rest.
      if (!run.loading && change.kind === 'updated') this.loaded.add(run.id);
      return undefined;
    }
    if (change.kind !== 'updated') return undefined;
    const anomalies = change.events.filter((e): e is AnomalyEvent => e.type === 'anomaly');
    return anomalies.length ? { run, anomalies } : undefined;
  }
}
