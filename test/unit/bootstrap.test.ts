import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pairedBootstrap, quantileSorted, mulberry32 } from '../../src/core/bootstrap';

describe('pairedBootstrap', () => {
  it('gives a zero-width interval when every problem moves by the same amount', () => {
    // d = b - a = 0.25 for every problem, so every resample's mean is 0.25.
    const r = pairedBootstrap([0, 0.25, 0.5, 0.5], [0.25, 0.5, 0.75, 0.75]);
    assert.equal(r.difference, 0.25);
    assert.equal(r.low, 0.25);
    assert.equal(r.high, 0.25);
  });

  it('matches the interval worked out by hand for two problems', () => {
    // Problem 1 flips from wrong to right (d = 1), problem 2 stays (d = 0). Resampling 2 problems gives a mean of
    // 0 (both picks problem 2, prob 1/4), 0.5 (one of each, 1/2) or 1 (both problem 1, 1/4). The 2.5% and 97.5%
    // quantiles of that distribution are 0 and 1: the interval is [0, 1], the difference 0.5.
    const r = pairedBootstrap([0, 1], [1, 1], { resamples: 4000, seed: 7 });
    assert.equal(r.difference, 0.5);
    assert.equal(r.low, 0);
    assert.equal(r.high, 1);
    assert.equal(r.flipsToB, 1);
    assert.equal(r.flipsToA, 0);
    assert.equal(r.accuracyA, 0.5);
    assert.equal(r.accuracyB, 1);
  });

  it('has about the normal-theory width on a larger case', () => {
    // 100 problems: 30 flip to B (d=1), 10 flip to A (d=-1), 60 unchanged. mean d = 0.2, var d = 0.4 - 0.04 = 0.36,
    // standard error = sqrt(0.36/100) = 0.06, so the 95% interval is about 0.2 ± 1.96 * 0.06 = [0.082, 0.318].
    const a = [...Array(30).fill(0), ...Array(10).fill(1), ...Array(60).fill(1)];
    const b = [...Array(30).fill(1), ...Array(10).fill(0), ...Array(60).fill(1)];
    const r = pairedBootstrap(a, b, { resamples: 5000, seed: 1 });
    assert.ok(Math.abs(r.difference - 0.2) < 1e-12);
    assert.equal(r.flipsToB, 30);
    assert.equal(r.flipsToA, 10);
    assert.ok(Math.abs(r.low - 0.082) < 0.02, `low ${r.low}`);
    assert.ok(Math.abs(r.high - 0.318) < 0.02, `high ${r.high}`);
  });

  it('is reproducible for a seed', () => {
    const a = [0, 1, 0, 1, 0.5];
    const b = [1, 1, 0, 0, 1];
    assert.deepEqual(pairedBootstrap(a, b, { seed: 3 }), pairedBootstrap(a, b, { seed: 3 }));
  });

  it('refuses unpaired input', () => {
    assert.throws(() => pairedBootstrap([1], [1, 0]), /1 problems on side A but 2 on side B/);
  });

  it('quantile type 7 interpolates between order statistics', () => {
    // [0, 10, 20, 30]: h = 3 * 0.5 = 1.5, halfway between 10 and 20.
    assert.equal(quantileSorted([0, 10, 20, 30], 0.5), 15);
    assert.equal(quantileSorted([0, 10, 20, 30], 1), 30);
  });

  it('mulberry32 stays in [0, 1)', () => {
    const r = mulberry32(42);
    for (let i = 0; i < 1000; i++) {
      const x = r();
      assert.ok(x >= 0 && x < 1);
    }
  });
});
