import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decimateIndices, gather } from '../../src/core/decimate';

describe('decimateIndices', () => {
  it('keeps every point of a series no longer than maxPoints', () => {
    assert.deepEqual([...decimateIndices([5, 4, 3], 8)], [0, 1, 2]);
  });

  it('keeps first, min, max, last of each bucket in index order', () => {
    // 16 points, maxPoints 8 -> 2 buckets: [0, 8) and [8, 16).
    // bucket 0 values 0..7: 1 9 2 -3 4 5 6 7 -> first 0, min at 3 (-3), max at 1 (9), last 7
    // bucket 1 values 8..15: 0 0 0 0 100 0 -50 0 -> first 8, min at 14 (-50), max at 12 (100), last 15
    const v = [1, 9, 2, -3, 4, 5, 6, 7, 0, 0, 0, 0, 100, 0, -50, 0];
    assert.deepEqual([...decimateIndices(v, 8)], [0, 1, 3, 7, 8, 12, 14, 15]);
  });

  it('never drops an extremum: a single spike in 100,000 points survives a reduction to 1,200', () => {
    const n = 100000;
    const v = new Float64Array(n);
    for (let i = 0; i < n; i++) v[i] = Math.sin(i / 50);
    v[54321] = 1000;
    v[777] = -1000;
    const idx = decimateIndices(v, 1200);
    assert.ok(idx.length <= 1200, `${idx.length} points`);
    assert.ok(idx.includes(54321));
    assert.ok(idx.includes(777));
    assert.equal(idx[0], 0);
    assert.equal(idx[idx.length - 1], n - 1);
    for (let j = 1; j < idx.length; j++) assert.ok(idx[j] > idx[j - 1], 'ascending, no duplicates');
    // every bucket's min and max survive: the decimated envelope equals the true one per bucket
    const kept = gather(v, idx);
    assert.equal(Math.max(...kept), 1000);
    assert.equal(Math.min(...kept), -1000);
  });

  it('keeps a NaN of a bucket so that a gap stays visible, and ignores it for min/max', () => {
    // 8 points, maxPoints 4 -> 1 bucket [0, 8): first 0, min at 5 (-1), max at 2 (9), NaN at 3, last 7
    const v = [0, 1, 9, Number.NaN, 2, -1, 3, 4];
    assert.deepEqual([...decimateIndices(v, 4)], [0, 2, 3, 5, 7]);
  });

  it('rejects a maxPoints below 4', () => {
    assert.throws(() => decimateIndices([1, 2, 3], 3), /maxPoints must be an integer >= 4, got 3/);
  });
});
