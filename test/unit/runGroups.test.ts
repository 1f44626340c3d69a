// Run groups by hand: grouping by a config key, the mean and its min-max and 95% bands on a common x grid, the run
// picker's filter, 20 colours before one repeats, and names that tell runs of one config apart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ColorAssigner,
  PALETTE,
  PickerRun,
  aggregateLines,
  commonGrid,
  groupGridSize,
  displayNames,
  groupKeys,
  groupRuns,
  matchesRunFilter,
  t95,
} from '../../src/shared/runGroups';

const run = (id: string, algorithm: string, seed: number, extra: Record<string, string | number> = {}, name = `${algorithm}-seed${seed}`): PickerRun => ({
  id,
  name,
  algorithm,
  status: seed === 2 ? 'running' : 'finished',
  config: { algorithm, seed, ...extra },
});

test('groups by any config key, in order of first appearance; the keys offered are those that vary', () => {
  const runs = [run('a', 'trapo', 0), run('b', 'grpo', 0), run('c', 'trapo', 1), run('d', 'grpo', 1, { 'optim.lr': 0.001 })];
  assert.deepEqual(
    groupRuns(runs, 'algorithm').map((g) => [g.label, g.runs.map((r) => r.id)]),
    [
      ['trapo', ['a', 'c']],
      ['grpo', ['b', 'd']],
    ],
  );
  assert.deepEqual(
    groupRuns(runs, 'seed').map((g) => [g.label, g.runs.map((r) => r.id)]),
    [
      ['0', ['a', 'b']],
      ['1', ['c', 'd']],
    ],
  );
  assert.deepEqual(
    groupRuns(runs, 'optim.lr').map((g) => g.label),
    ['(unset)', '0.001'],
  );
  assert.deepEqual(groupKeys(runs), ['algorithm', 'optim.lr', 'seed']);
});

test('mean and min-max band by hand, on the union of the x values, each run inside its own range', () => {
  const lines = [
    { x: [0, 10, 20], y: [0, 1, 2] },
    { x: [0, 20], y: [2, 4] }, // at x=10 interpolated: 3
    { x: [10, 20], y: [5, 6] }, // starts at 10: no value at 0
  ];
  assert.deepEqual(commonGrid(lines), [0, 10, 20]);
  const a = aggregateLines(lines, 'minmax');
  assert.deepEqual(a.x, [0, 10, 20]);
  assert.deepEqual(a.n, [2, 3, 3]);
  assert.deepEqual(a.mean, [1, 3, 4]); // (0+2)/2, (1+3+5)/3, (2+4+6)/3
  assert.deepEqual(a.lo, [0, 1, 2]);
  assert.deepEqual(a.hi, [2, 5, 6]);
});

test('95% interval of the mean: mean ± t(n-1) · sd / sqrt(n); one run alone has no width', () => {
  const lines = [
    { x: [0, 1], y: [1, 10] },
    { x: [0, 1], y: [2, 10] },
    { x: [0, 1], y: [6, 10] },
    { x: [5], y: [7] },
  ];
  const a = aggregateLines(lines, 'ci95');
  // x=0: values 1, 2, 6: mean 3, sd = sqrt(((1-3)^2 + (2-3)^2 + (6-3)^2) / 2) = sqrt(7); half = 4.303 * sqrt(7) / sqrt(3)
  const half = (4.303 * Math.sqrt(7)) / Math.sqrt(3);
  assert.equal(a.mean[0], 3);
  assert.ok(Math.abs(a.lo[0] - (3 - half)) < 1e-12 && Math.abs(a.hi[0] - (3 + half)) < 1e-12);
  assert.deepEqual([a.lo[1], a.hi[1]], [10, 10]); // no spread
  assert.deepEqual([a.x[2], a.mean[2], a.lo[2], a.hi[2], a.n[2]], [5, 7, 7, 7, 1]);
  assert.equal(t95(1), 12.706);
  assert.equal(t95(100), 1.96);
});

test('NaN gaps do not count; a long union is thinned to an even grid', () => {
  const a = aggregateLines(
    [
      { x: [0, 1, 2], y: [1, Number.NaN, 3] },
      { x: [0, 1, 2], y: [3, 3, 3] },
    ],
    'minmax',
  );
  assert.deepEqual(a.n, [2, 1, 2]);
  assert.deepEqual(a.mean, [2, 3, 3]);
  const long = { x: Array.from({ length: 5000 }, (_, i) => i), y: Array.from({ length: 5000 }, (_, i) => i) };
  const grid = commonGrid([long], 100);
  assert.equal(grid.length, 100);
  assert.deepEqual([grid[0], grid[99]], [0, 4999]);
});

test("a group's line has as many points as its longest run's line, not the union of their x", () => {
  // three runs of 500 points each at different x (decimated one by one): the union has 1,500 x
  const runs = [0, 1, 2].map((k) => ({ x: Array.from({ length: 500 }, (_, i) => 3 * i + k), y: Array.from({ length: 500 }, () => k) }));
  assert.equal(commonGrid(runs, 5000).length, 1500);
  assert.equal(groupGridSize(runs), 500);
  const a = aggregateLines(runs, 'minmax');
  assert.equal(a.x.length, 500);
  assert.deepEqual([a.x[0], a.x[499]], [0, 1499]);
  assert.deepEqual([a.lo[250], a.mean[250], a.hi[250]], [0, 1, 2]);
  // short lines keep the exact union (at least 400 points before any thinning)
  assert.equal(groupGridSize([{ x: [0, 1], y: [0, 0] }]), 400);
  assert.equal(groupGridSize([{ x: Array.from({ length: 3000 }, (_, i) => i), y: [] }]), 1500);
});

test('the picker filter: words, status, algorithm, name and any config key', () => {
  const r = run('20261201-100000-grpo-seed1-ab12', 'grpo', 1, { 'optim.lr': 0.0003 });
  assert.ok(matchesRunFilter(r, ''));
  assert.ok(matchesRunFilter(r, 'grpo seed1'));
  assert.ok(matchesRunFilter(r, 'status:finished algorithm:grpo'));
  assert.ok(!matchesRunFilter(r, 'status:running'));
  assert.ok(matchesRunFilter(r, 'seed:1') && !matchesRunFilter(r, 'seed:10'));
  assert.ok(matchesRunFilter(r, 'optim.lr:3e-4') && matchesRunFilter(r, 'OPTIM.LR:0.0003'));
  assert.ok(matchesRunFilter(r, 'name:seed'));
  assert.ok(!matchesRunFilter(r, 'trapo'));
});

test('20 colours before one repeats; a key keeps its colour; a freed colour is reused', () => {
  assert.equal(new Set(PALETTE.map((c) => c.toLowerCase())).size, 20);
  const c = new ColorAssigner();
  const first = Array.from({ length: 20 }, (_, i) => c.index(`run${i}`));
  assert.equal(new Set(first).size, 20);
  assert.equal(c.index('run3'), first[3]);
  c.release('run5');
  assert.equal(c.index('new'), first[5]);
  assert.equal(c.index('21st'), 0); // past 20 colours they repeat
});

test('names tell runs of one config apart by what differs, else by the end of their id', () => {
  const runs = [
    run('20261201-100000-demo-aaaa', 'trapo', 0, {}, 'demo'),
    run('20261201-110000-demo-bbbb', 'trapo', 1, {}, 'demo'),
    run('20261201-120000-demo-cccc', 'trapo', 1, {}, 'demo'),
    run('20261201-130000-solo-dddd', 'grpo', 0, {}, 'solo'),
  ];
  const names = displayNames(runs);
  assert.equal(names.get(runs[0].id), 'demo (seed 0)');
  assert.equal(names.get(runs[1].id), 'demo (seed 1) · bbbb');
  assert.equal(names.get(runs[2].id), 'demo (seed 1) · cccc');
  assert.equal(names.get(runs[3].id), 'solo');
  assert.equal(new Set(names.values()).size, 4);
});
