// Axis ranges (src/shared/chartRange.ts) and the non-finite number encoding (src/shared/nonFinite.ts) the dashboard
// and the run format share.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MIN_RELATIVE_SPAN, minimumYRange, singleXRange } from '../../src/shared/chartRange';
import { decodeNumber, decodeNumbers, encodeNumbers } from '../../src/shared/nonFinite';
import { MetricSeries } from '../../src/core/series';
import { benchmarkPayloads, decimatedSeries, seriesTail } from '../../src/dashboard/dashboardData';

describe('minimumYRange', () => {
  it('widens a range narrower than 0.01% of the values, centred on them', () => {
    const r = minimumYRange(1, 1 + 2.2e-16)!;
    assert.ok(Math.abs(r.max - r.min - MIN_RELATIVE_SPAN) < 1e-12);
    assert.ok(r.min < 1 && r.max > 1);
    const lr = minimumYRange(3e-4 - 1e-19, 3e-4)!;
    assert.ok(Math.abs((lr.max - lr.min) / 3e-4 - MIN_RELATIVE_SPAN) < 1e-9);
  });

  it('leaves ranges that are wide enough, exact constants (chart.js pads them) and no data to chart.js', () => {
    assert.equal(minimumYRange(0.5, 1), undefined);
    assert.equal(minimumYRange(1, 1.001), undefined);
    assert.equal(minimumYRange(2, 2), undefined);
    assert.equal(minimumYRange(Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY), undefined);
  });
});

describe('singleXRange', () => {
  it('puts one x on an axis from 0 to the run length (by step), or to the point (by time)', () => {
    assert.deepEqual(singleXRange(0, 0, true, 250), { min: 0, max: 250 });
    assert.deepEqual(singleXRange(250, 250, true, 250), { min: 0, max: 250 });
    assert.deepEqual(singleXRange(0, 0, true, null), { min: 0, max: 1 });
    assert.deepEqual(singleXRange(42.5, 42.5, false, 250), { min: 0, max: 42.5 });
    assert.equal(singleXRange(0, 10, true, 250), undefined);
    assert.equal(singleXRange(Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, true, 250), undefined);
  });
});

describe('non-finite numbers over JSON', () => {
  it('encodes NaN and +-Infinity as tokens and decodes them back; other values are not numbers', () => {
    const values = [1, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0.5];
    const wire = JSON.parse(JSON.stringify(encodeNumbers(values)));
    assert.deepEqual(wire, [1, 'NaN', 'Infinity', '-Infinity', -0.5]);
    assert.deepEqual(decodeNumbers(wire), values);
    assert.equal(decodeNumber(null), undefined);
    assert.equal(decodeNumber('1.5'), undefined);
    const finite = [1, 2];
    assert.equal(encodeNumbers(finite), finite, 'no copy when every value is finite');
  });

  it('the dashboard payloads carry non-finite values as tokens (decimated, appended, benchmarks)', () => {
    const s = new MetricSeries('loss/total');
    s.push(1, 10, 1);
    s.push(2, 11, Number.NaN);
    s.push(3, 12, Number.NEGATIVE_INFINITY);
    assert.deepEqual(decimatedSeries(s, 1200, 10).values, [1, 'NaN', '-Infinity']);
    assert.deepEqual(seriesTail(s, 1, 10).values, ['NaN', '-Infinity']);
    const b = benchmarkPayloads([{ step: 5, time: 20, benchmarks: { x: { accuracy: Number.NaN } }, average: 0.5 }], 0, 10);
    assert.deepEqual(
      b.map((p) => [p.name, p.accuracy]),
      [
        ['x', ['NaN']],
        ['average', [0.5]],
      ],
    );
  });
});
