import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AVERAGE_BENCHMARK } from '../../src/shared/dashboardProtocol';
import { benchmarkSummaries, formatChange, formatLevelShares, formatPercent } from '../../src/core/benchmarks';

const bench = (accuracy: number, step: number, name: string) => ({
  accuracy,
  n: 12,
  samples_per_problem: 4,
  file: `evals/${String(step).padStart(6, '0')}/${name}.jsonl`,
});

test('latest, best with its step and change since the previous evaluation, per benchmark and the average', () => {
  const evals = [
    { step: 5, time: 1, benchmarks: { easy: bench(0.25, 5, 'easy'), hard: bench(0, 5, 'hard') }, average: 0.125 },
    { step: 10, time: 2, benchmarks: { easy: bench(0.5, 10, 'easy'), hard: bench(0.25, 10, 'hard') }, average: 0.375 },
    { step: 15, time: 3, benchmarks: { easy: bench(0.4, 15, 'easy'), hard: bench(0.25, 15, 'hard') }, average: 0.325 },
  ];
  const s = benchmarkSummaries(evals);
  assert.deepEqual(
    s.map((b) => b.name),
    ['easy', 'hard', AVERAGE_BENCHMARK],
  );
  const [easy, hard, avg] = s;
  assert.equal(easy.latest.accuracy, 0.4);
  assert.deepEqual([easy.best.step, easy.best.accuracy], [10, 0.5]);
  assert.ok(Math.abs(easy.change! - -0.1) < 1e-12); // 0.4 - 0.5
  assert.equal(easy.latest.file, 'evals/000015/easy.jsonl');
  assert.equal(hard.best.step, 10); // 0.25 at 10 and 15: the earliest is kept
  assert.equal(hard.change, 0); // 0.25 - 0.25
  assert.deepEqual([avg.best.step, avg.best.accuracy, avg.latest.file], [10, 0.375, null]);
  assert.ok(Math.abs(avg.change! - -0.05) < 1e-12); // 0.325 - 0.375
});

test('a single evaluation has no change; no evaluations give no summaries', () => {
  const s = benchmarkSummaries([{ step: 1, time: 0, benchmarks: { a: bench(1, 1, 'a') }, average: 1 }]);
  assert.equal(s[0].change, null);
  assert.deepEqual(benchmarkSummaries([]), []);
});

test('formatting', () => {
  assert.equal(formatPercent(0.75), '75.0%');
  assert.equal(formatChange(0.125), '+12.5 pt');
  assert.equal(formatChange(-0.03), '\u22123.0 pt');
  assert.equal(formatChange(0.0001), '±0.0 pt');
  assert.equal(formatLevelShares([0.5, 0.25, 0, 0.25]), 'L0 50% · L1 25% · L2 0% · L3 25%');
});
