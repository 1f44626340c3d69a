// TensorBoard's debiased exponential moving average (the "Smoothing" slider of its scalars dashboard).
// Source of the formula: TensorBoard, tensorboard/webapp/widgets/line_chart_v2/lib/... and earlier
// tensorboard/components/vz_line_chart2/line-chart.ts `resmoothDataset`:
//   last = last * w + (1 - w) * v;  smoothed = last / (1 - w^k)
// where k counts the finite points seen so far (the "debias" term removes the pull towards the initial 0).
// Non-finite points (NaN, +-Infinity) are passed through unchanged and do not advance the average.
// A constant series stays exactly flat: TensorBoard skips smoothing when every value equals the first (its issue
// #786), because the debiased EMA of a constant is that constant only up to rounding, and an autoscaled axis blows
// the rounding (1e-19 on a learning rate of 3e-4) up into a square wave. Here the same holds point by point: while
// every finite value so far equals the first, the value itself is the output. Past a constant prefix the result is
// the debiased EMA, which on that prefix is the constant mathematically, so nothing else changes.
//
// DOM-free and vscode-free (src/shared): bundled into the dashboard webview, and unit-tested in Node.

/** Checks a smoothing weight; TensorBoard's slider allows [0, 1), 0 meaning no smoothing. */
export function checkSmoothingWeight(weight: number): void {
  if (typeof weight !== 'number' || !(weight >= 0 && weight < 1)) {
    throw new RangeError(`smoothing weight must be a number in [0, 1), got ${String(weight)}`);
  }
}

/**
 * Debiased EMA of `values` with weight `weight` in [0, 1). Writes into `out` when given (it must be at least as
 * long as `values`) and returns it, so a caller can reuse one buffer while the slider moves.
 */
export function debiasedEma(values: ArrayLike<number>, weight: number, out?: Float64Array): Float64Array {
  checkSmoothingWeight(weight);
  const n = values.length;
  const result = out ?? new Float64Array(n);
  if (result.length < n) throw new RangeError(`output buffer holds ${result.length} values, need ${n}`);
  const state = new EmaState(weight);
  for (let i = 0; i < n; i++) result[i] = state.next(values[i]);
  return result;
}

/**
 * Incremental form for live updates: feed points one at a time and get the same numbers `debiasedEma` gives for the
 * whole prefix. Lets the webview extend a smoothed curve without recomputing it from the start.
 */
export class EmaState {
  private last = 0;
  private debias = 1; // w^k, updated multiplicatively: avoids Math.pow per point
  /** The first finite value, while every finite value so far equals it (undefined before the first one). */
  private constant: number | undefined = undefined;
  private varied = false;
  constructor(readonly weight: number) {
    checkSmoothingWeight(weight);
  }
  next(v: number): number {
    if (!Number.isFinite(v)) return v;
    this.last = this.last * this.weight + (1 - this.weight) * v;
    this.debias *= this.weight;
    if (!this.varied) {
      if (this.constant === undefined) this.constant = v;
      else if (v !== this.constant) this.varied = true;
      if (!this.varied) return v;
    }
    return this.weight === 0 ? v : this.last / (1 - this.debias);
  }
}
