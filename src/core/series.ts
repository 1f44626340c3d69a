// Metric series in compact typed arrays (no vscode import: shared by the run store, the dashboard host code and tests).
//
// A run with 40 metrics x 10,000 steps holds 400,000 points; as Float64Arrays that is 3 x 8 bytes a point = 9.6 MB,
// where arrays of `{step, time, value}` objects would take several times as much. Arrays grow by doubling, so a push
// is amortized O(1).

const INITIAL_CAPACITY = 64;

/** One metric's points in arrival order: step, wall time (unix seconds) and value, in parallel Float64Arrays. */
export class MetricSeries {
  private stepBuf: Float64Array;
  private timeBuf: Float64Array;
  private valueBuf: Float64Array;
  private count = 0;

  constructor(
    readonly name: string,
    initialCapacity = INITIAL_CAPACITY,
  ) {
    const cap = Math.max(1, Math.floor(initialCapacity));
    this.stepBuf = new Float64Array(cap);
    this.timeBuf = new Float64Array(cap);
    this.valueBuf = new Float64Array(cap);
  }

  get length(): number {
    return this.count;
  }

  /** Allocated slots (for memory accounting and tests of the growth policy). */
  get capacity(): number {
    return this.stepBuf.length;
  }

  push(step: number, time: number, value: number): void {
    if (this.count === this.stepBuf.length) this.grow(this.count * 2);
    this.stepBuf[this.count] = step;
    this.timeBuf[this.count] = time;
    this.valueBuf[this.count] = value;
    this.count++;
  }

  /**
   * Drops the points at steps >= `step` (the newest points: steps only grow, see SeriesStore.push). Returns how many
   * were dropped.
   */
  dropFrom(step: number): number {
    let n = this.count;
    while (n > 0 && this.stepBuf[n - 1] >= step) n--;
    const dropped = this.count - n;
    this.count = n;
    return dropped;
  }

  /** Views (no copy) of the filled part; they go stale after the next push that grows the buffers. */
  steps(): Float64Array {
    return this.stepBuf.subarray(0, this.count);
  }
  times(): Float64Array {
    return this.timeBuf.subarray(0, this.count);
  }
  values(): Float64Array {
    return this.valueBuf.subarray(0, this.count);
  }

  /** The last point, or undefined when empty. */
  last(): { step: number; time: number; value: number } | undefined {
    if (this.count === 0) return undefined;
    const i = this.count - 1;
    return { step: this.stepBuf[i], time: this.timeBuf[i], value: this.valueBuf[i] };
  }

  /** Bytes held by the three buffers. */
  get byteLength(): number {
    return this.stepBuf.byteLength + this.timeBuf.byteLength + this.valueBuf.byteLength;
  }

  private grow(capacity: number): void {
    const step = new Float64Array(capacity);
    const time = new Float64Array(capacity);
    const value = new Float64Array(capacity);
    step.set(this.stepBuf.subarray(0, this.count));
    time.set(this.timeBuf.subarray(0, this.count));
    value.set(this.valueBuf.subarray(0, this.count));
    this.stepBuf = step;
    this.timeBuf = time;
    this.valueBuf = value;
  }
}

/** All metric series of one run, keyed by metric name ("namespace/name"). */
export class SeriesStore {
  private readonly series = new Map<string, MetricSeries>();

  /**
   * Appends one `metrics` event; returns true when it replaced points already held (a step seen again). Values that
   * are not finite (NaN, +-Infinity) are recorded as they are: a NaN loss is information (the chart marks it);
   * values that are not numbers at all are skipped.
   */
  push(step: number, time: number, values: Record<string, number>): boolean {
    let rewrote = false;
    for (const name of Object.keys(values)) {
      const v = values[name];
      if (typeof v !== 'number') continue;
      let s = this.series.get(name);
      if (!s) {
        s = new MetricSeries(name);
        this.series.set(name, s);
      }
      // A step that comes again (re-run after a resume, a writer that logs a step twice) replaces what the series
      // had from that step on: a series' steps only grow, so a chart never loops back over the same steps.
      const last = s.last();
      if (last !== undefined && last.step >= step) rewrote = s.dropFrom(step) > 0 || rewrote;
      s.push(step, time, v);
    }
    return rewrote;
  }

  /** Drops the points after `step` in every series (a resume from `step` re-runs them). Returns whether any was. */
  truncateAfter(step: number): boolean {
    let dropped = 0;
    for (const s of this.series.values()) dropped += s.dropFrom(step + 1);
    return dropped > 0;
  }

  /** Metric names in first-seen order. */
  names(): string[] {
    return [...this.series.keys()];
  }

  get(name: string): MetricSeries | undefined {
    return this.series.get(name);
  }

  has(name: string): boolean {
    return this.series.has(name);
  }

  get size(): number {
    return this.series.size;
  }

  /** Bytes held by all series buffers. */
  get byteLength(): number {
    let n = 0;
    for (const s of this.series.values()) n += s.byteLength;
    return n;
  }
}
