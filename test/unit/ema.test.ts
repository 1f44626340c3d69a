import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { debiasedEma, EmaState } from '../../src/shared/ema';

const close = (a: number, b: number, eps = 1e-12) => assert.ok(Math.abs(a - b) <= eps, `${a} != ${b}`);

describe('debiasedEma (TensorBoard smoothing)', () => {
  it('matches hand-computed values for w = 0.5 on [1, 2, 3]', () => {
    // i=0: last = 0*0.5 + 0.5*1 = 0.5;    debias 1 - 0.5^1 = 0.5   -> 0.5/0.5     = 1
    // i=1: last = 0.5*0.5 + 0.5*2 = 1.25; debias 1 - 0.5^2 = 0.75  -> 1.25/0.75   = 5/3
    // i=2: last = 1.25*0.5 + 0.5*3 = 2.125; debias 1 - 0.5^3 = 0.875 -> 2.125/0.875 = 17/7
    const s = debiasedEma([1, 2, 3], 0.5);
    close(s[0], 1);
    close(s[1], 5 / 3);
    close(s[2], 17 / 7);
  });

  it('matches hand-computed values for w = 0.9 on [10, 0]', () => {
    // i=0: last = 0.1*10 = 1;           debias 1 - 0.9 = 0.1   -> 10
    // i=1: last = 0.9*1 + 0.1*0 = 0.9;   debias 1 - 0.81 = 0.19 -> 0.9/0.19 = 90/19 = 4.7368...
    const s = debiasedEma([10, 0], 0.9);
    close(s[0], 10);
    close(s[1], 90 / 19);
  });

  it('passes NaN and Infinity through without advancing the average', () => {
    // [1, NaN, 3], w = 0.5: i=0 -> 1 (as above); i=1 -> NaN;
    // i=2: last = 0.5*0.5 + 0.5*3 = 1.75, 2 finite points: debias 1 - 0.25 = 0.75 -> 1.75/0.75 = 7/3
    const s = debiasedEma([1, Number.NaN, 3, Number.POSITIVE_INFINITY], 0.5);
    close(s[0], 1);
    assert.ok(Number.isNaN(s[1]));
    close(s[2], 7 / 3);
    assert.equal(s[3], Number.POSITIVE_INFINITY);
  });

  it('is the identity for w = 0 and keeps a constant series constant for any w', () => {
    assert.deepEqual([...debiasedEma([3, -1, 7], 0)], [3, -1, 7]);
    for (const v of debiasedEma([4, 4, 4, 4, 4], 0.99)) close(v, 4, 1e-12);
  });

  it('leaves a constant series exactly flat (TensorBoard skips smoothing on constant series)', () => {
    // Without the rule the debiased EMA of 50 x 3e-4 at w = 0.6 takes 3 distinct values (3e-4 - 1.1e-19, ...), and
    // of 50 x 1.0 two (1 and 1 + 2.2e-16): an autoscaled y axis draws that as a square wave.
    for (const v of [3e-4, 1, 0.1, 1e-5, -2.5]) {
      for (const w of [0.6, 0.9, 0.99]) {
        const s = debiasedEma(Array(50).fill(v), w);
        assert.deepEqual(new Set(s), new Set([v]), `constant ${v} at w ${w}`);
      }
    }
    // NaN gaps do not break the rule; the first different value ends it and smoothing starts from the EMA so far.
    const s = debiasedEma([1, Number.NaN, 1, 1, 3], 0.5);
    assert.deepEqual(
      [...s.subarray(0, 4)].map((x) => (Number.isNaN(x) ? 'NaN' : x)),
      [1, 'NaN', 1, 1],
    );
    // last after 3 finite 1s: 0.875; then 0.875 * 0.5 + 0.5 * 3 = 1.9375 over 1 - 0.5^4 = 0.9375 -> 2.0666...
    close(s[4], 1.9375 / 0.9375);
  });

  it('writes into a given buffer and rejects a short one', () => {
    const out = new Float64Array(4);
    assert.equal(debiasedEma([1, 2], 0.5, out), out);
    close(out[1], 5 / 3);
    assert.throws(() => debiasedEma([1, 2, 3], 0.5, new Float64Array(2)), /need 3/);
  });

  it('rejects weights outside [0, 1) with a message naming the value', () => {
    assert.throws(() => debiasedEma([1], 1), /\[0, 1\), got 1/);
    assert.throws(() => debiasedEma([1], -0.1), /got -0.1/);
    assert.throws(() => debiasedEma([1], Number.NaN), /got NaN/);
  });

  it('EmaState gives the same numbers point by point', () => {
    const values = [0.3, 0.9, Number.NaN, -2, 5, 5.5, 1e-3];
    const whole = debiasedEma(values, 0.6);
    const st = new EmaState(0.6);
    values.forEach((v, i) => {
      const got = st.next(v);
      if (Number.isNaN(whole[i])) assert.ok(Number.isNaN(got));
      else close(got, whole[i]);
    });
  });
});
