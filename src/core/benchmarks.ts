// Per-benchmark summaries for the Benchmarks view (no vscode): the latest accuracy, the best with its step, and the
// change since the previous evaluation of that benchmark.
import type { EvalEntry } from './runStore';
import type { CheckpointEvalEntry } from './checkpointEvals';
import { AVERAGE_BENCHMARK } from '../shared/dashboardProtocol';

/** The average over the benchmarks of each Evaluate Checkpoint summary (kept apart: other benchmarks, settings). */
export const CHECKPOINT_AVERAGE = 'average · Evaluate Checkpoint';

/** trainer: the run's own evaluations (eval events); checkpoint: Evaluate Checkpoint (checkpoint_evals/). */
export type EvalSource = 'trainer' | 'checkpoint';

export interface BenchmarkPoint {
  step: number;
  accuracy: number;
  n: number | null;
  samplesPerProblem: number | null;
  /** Per-problem results file, relative to the run directory (null for the average). */
  file: string | null;
  source: EvalSource;
  /** Sampling temperature, when the evaluation recorded it (Evaluate Checkpoint does). */
  temperature?: number;
}

export interface BenchmarkSummary {
  name: string;
  latest: BenchmarkPoint;
  best: BenchmarkPoint;
  /** latest - previous, or null after a single evaluation. */
  change: number | null;
  /** Oldest first. */
  points: BenchmarkPoint[];
}

/**
 * One summary per benchmark in first-seen order, then the average over benchmarks (the trainer's `average`), then
 * the average of the Evaluate Checkpoint summaries. A benchmark's points are in step order, the trainer's first at a
 * step that has both.
 */
export function benchmarkSummaries(evals: readonly EvalEntry[], checkpointEvals: readonly CheckpointEvalEntry[] = []): BenchmarkSummary[] {
  const byName = new Map<string, BenchmarkPoint[]>();
  const add = (name: string, p: BenchmarkPoint) => {
    let list = byName.get(name);
    if (!list) byName.set(name, (list = []));
    list.push(p);
  };
  for (const e of evals) {
    for (const [name, b] of Object.entries(e.benchmarks)) {
      add(name, { step: e.step, accuracy: b.accuracy, n: b.n, samplesPerProblem: b.samples_per_problem, file: b.file, source: 'trainer' });
    }
  }
  for (const e of checkpointEvals) {
    for (const [name, b] of Object.entries(e.benchmarks)) {
      const p: BenchmarkPoint = { step: e.step, accuracy: b.accuracy, n: b.n, samplesPerProblem: b.samples_per_problem, file: b.file, source: 'checkpoint' };
      if (typeof b.temperature === 'number') p.temperature = b.temperature;
      add(name, p);
    }
  }
  const names = [...byName.keys()];
  if (evals.length > 0 && !byName.has(AVERAGE_BENCHMARK)) {
    for (const e of evals) add(AVERAGE_BENCHMARK, { step: e.step, accuracy: e.average, n: null, samplesPerProblem: null, file: null, source: 'trainer' });
    names.push(AVERAGE_BENCHMARK);
  }
  if (checkpointEvals.length > 0 && !byName.has(CHECKPOINT_AVERAGE)) {
    for (const e of checkpointEvals) {
      add(CHECKPOINT_AVERAGE, { step: e.step, accuracy: e.average, n: null, samplesPerProblem: null, file: null, source: 'checkpoint' });
    }
    names.push(CHECKPOINT_AVERAGE);
  }
  const order = (p: BenchmarkPoint) => (p.source === 'trainer' ? 0 : 1);
  return names.map((name) => {
    // stable sort: events keep their file order within a step and source
    const points = [...byName.get(name)!].sort((x, y) => x.step - y.step || order(x) - order(y));
    const latest = points[points.length - 1];
    let best = points[0];
    for (const p of points) if (p.accuracy > best.accuracy) best = p; // ties keep the earliest step
    const change = points.length > 1 ? latest.accuracy - points[points.length - 2].accuracy : null;
    return { name, latest, best, change, points };
  });
}

export function formatPercent(x: number, digits = 1): string {
  return `${(x * 100).toFixed(digits)}%`;
}

/** "+12.5 pt" / "−3.0 pt" / "±0.0 pt" (percentage points). */
export function formatChange(delta: number): string {
  const pt = delta * 100;
  if (Math.abs(pt) < 0.05) return '±0.0 pt';
  return `${pt > 0 ? '+' : '\u2212'}${Math.abs(pt).toFixed(1)} pt`;
}

/** "L0 50% · L1 25% · L2 0% · L3 25%". */
export function formatLevelShares(shares: readonly number[]): string {
  return shares.map((s, k) => `L${k} ${Math.round(s * 100)}%`).join(' · ');
}
