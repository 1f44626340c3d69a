// TensorBoard's debiased exponential moving average (the "Smoothing" slider of its scalars dashboard).
// Source of the formula: TensorBoard, tensorboard/webapp/widgets/line_chart_v2/lib/... and earlier
// tensorboard/components/vz_line_chart2/line-chart.ts `resmoothDataset`:
//   last = last * w + (1 - w) * v;  smoothed = last / (1 - w^k)
// where k counts the finite points seen so far (the "debias" term removes the pull towards the initial 0).
// Non-finite points (NaN, +-Infinity) are passed through unchanged and do not advance the average.
//
// DOM-free and vscode-free: imported by the extension host and bundled into the dashboard webview.

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
  let last = 0;
  let finiteSeen = 0;
  let debias = 1; // w^k, updated multiplicatively: avoids Math.pow per point
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) {
      result[i] = v;
      continue;
    }
    last = last * weight + (1 - weight) * v;
    finiteSeen++;
    debias *= weight;
    result[i] = weight === 0 ? v : last / (1 - debias);
  }
  return result;
}

/**
 * Incremental form for live updates: feed points one at a time and get the same numbers `debiasedEma` gives for the
 * whole prefix. Lets the webview extend a smoothed curve without recomputing it from the start.
 */
export class EmaState {
  private last = 0;
  private debias = 1;
  constructor(readonly weight: number) {
    checkSmoothingWeight(weight);
  }
  next(v: number): number {
    if (!Number.isFinite(v)) return v;
    this.last = this.last * this.weight + (1 - this.weight) * v;
    this.debias *= this.weight;
    return this.weight === 0 ? v : this.last / (1 - this.debias);
  }
}
