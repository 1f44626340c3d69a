// Axis ranges that do not lie (pure; the dashboard webview calls these from chart.js's afterDataLimits hook).
//
// - A series that varies by less than its rounding noise must not fill the chart: an autoscaled axis turns a
//   learning rate of 3e-4 +- 1e-19 into a square wave. The y range is at least MIN_RELATIVE_SPAN of the values'
//   magnitude, centred on them: float32 noise (about 1e-7 relative) stays a flat line, a change of 0.01% shows.
// - One x value (a single evaluation, the first step of a live run) gets a non-negative axis from 0 to the run's
//   length, not chart.js's -1..1 around it.

export const MIN_RELATIVE_SPAN = 1e-4;

export interface Range {
  min: number;
  max: number;
}

/**
 * The y range for finite data between `min` and `max`, or undefined when chart.js's own range is right (no data,
 * one exact value, which chart.js pads by 5% itself, or a span already wide enough).
 */
export function minimumYRange(min: number, max: number): Range | undefined {
  if (!Number.isFinite(min) || !Number.isFinite(max) || min > max) return undefined;
  const span = max - min;
  if (span === 0) return undefined;
  const magnitude = Math.max(Math.abs(min), Math.abs(max));
  const least = magnitude * MIN_RELATIVE_SPAN;
  if (span >= least) return undefined;
  const mid = (min + max) / 2;
  return { min: mid - least / 2, max: mid + least / 2 };
}

/**
 * The x range when every point has the same x: from 0 to the longest selected run's total steps (by step), or to
 * the point (by time), at least 1 wide; undefined when the points span a range (chart.js's range is right then).
 */
export function singleXRange(min: number, max: number, byStep: boolean, totalSteps: number | null): Range | undefined {
  if (!Number.isFinite(min) || min !== max) return undefined;
  const lo = Math.min(0, min);
  const hi = Math.max(min, byStep && totalSteps !== null && totalSteps > 0 ? totalSteps : 0, lo + 1);
  return { min: lo, max: hi };
}
