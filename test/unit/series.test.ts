import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MetricSeries, SeriesStore } from '../../src/core/series';

describe('MetricSeries', () => {
  it('keeps step, time and value in order and exposes subarray views of the filled part', () => {
    const s = new MetricSeries('loss/total', 2);
    s.push(1, 100.5, 0.9);
    s.push(2, 101.5, 0.7);
    s.push(3, 102.5, 0.4); // third push grows capacity 2 -> 4
    assert.equal(s.length, 3);
    assert.deepEqual([...s.steps()], [1, 2, 3]);
    assert.deepEqual([...s.times()], [100.5, 101.5, 102.5]);
    assert.deepEqual([...s.values()], [0.9, 0.7, 0.4]);
    assert.ok(s.values() instanceof Float64Array);
    assert.deepEqual(s.last(), { step: 3, time: 102.5, value: 0.4 });
  });

  it('grows by doubling: 1,000 pushes from capacity 1 end at capacity 1,024 (1->2->4->...->1024)', () => {
    const s = new MetricSeries('x', 1);
    for (let i = 0; i < 1000; i++) s.push(i, i, i * 2);
    assert.equal(s.length, 1000);
    assert.equal(s.capacity, 1024);
    // 3 arrays x 1,024 slots x 8 bytes = 24,576 bytes
    assert.equal(s.byteLength, 24576);
    assert.equal(s.values()[999], 1998);
  });

  it('returns views that share memory with the store (no copy)', () => {
    const s = new MetricSeries('x', 8);
    s.push(0, 0, 1);
    const v = s.values();
    s.push(1, 1, 2); // no growth: the old view still aliases the buffer
    assert.equal(v.length, 1);
    assert.equal(s.values().buffer, v.buffer);
  });

  it('is empty at first', () => {
    const s = new MetricSeries('x');
    assert.equal(s.length, 0);
    assert.equal(s.last(), undefined);
    assert.equal(s.values().length, 0);
  });
});

describe('SeriesStore', () => {
  it('creates one series per metric name in first-seen order and appends later events', () => {
    const st = new SeriesStore();
    st.push(1, 10, { 'loss/total': 1.5, 'reward/mean': 0.25 });
    st.push(2, 11, { 'reward/mean': 0.5, 'prefix/level_0': 0.75 });
    assert.deepEqual(st.names(), ['loss/total', 'reward/mean', 'prefix/level_0']);
    assert.deepEqual([...st.get('reward/mean')!.steps()], [1, 2]);
    assert.deepEqual([...st.get('reward/mean')!.values()], [0.25, 0.5]);
    assert.deepEqual([...st.get('loss/total')!.values()], [1.5]);
    assert.equal(st.get('nope'), undefined);
    assert.equal(st.size, 3);
  });

  it('records NaN values (a gap on the chart) but skips values that are not numbers', () => {
    const st = new SeriesStore();
    st.push(1, 0, { a: Number.NaN, b: 'x' as unknown as number, c: null as unknown as number });
    assert.deepEqual(st.names(), ['a']);
    assert.ok(Number.isNaN(st.get('a')!.values()[0]));
  });

  it('holds 40 metrics x 10,000 steps in about 40 x 3 x 16,384 x 8 bytes = 15.7 MB', () => {
    const st = new SeriesStore();
    const values: Record<string, number> = {};
    for (let step = 0; step < 10000; step++) {
      for (let m = 0; m < 40; m++) values[`ns${m % 5}/m${m}`] = Math.sin(step + m);
      st.push(step, 1e9 + step, values);
    }
    assert.equal(st.get('ns0/m0')!.length, 10000);
    // capacity 64 doubles to 16,384 (>= 10,000): 40 series x 3 arrays x 16,384 x 8 B = 15,728,640 B
    assert.equal(st.byteLength, 15728640);
  });
});
