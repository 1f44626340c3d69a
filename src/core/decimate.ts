// Min/max-preserving decimation of a long series to about N points before it is drawn.
//
// Sampling every k-th point would drop spikes (a loss blow-up, a reward collapse): exactly what a training dashboard
// must show. Instead the points are split into buckets of consecutive indices and each bucket keeps its first, its
// minimum, its maximum and its last point, in index (x) order. Every extremum of every bucket survives, so the global
// minimum and maximum always do, and the drawn envelope is the true one. (The same idea as the "min-max" decimation
// of chart.js's decimation plugin and of M4 aggregation for line charts; written here from that description.)
//
// NaN points: min/max ignore them; the first non-finite point of a bucket is kept too, so a gap stays a gap.

export const POINTS_PER_BUCKET = 4;

/**
 * Indices (ascending) of the points to keep from `values` so that about `maxPoints` remain: all of them when the series
 * is short enough, else first/min/max/last of each of floor(maxPoints / 4) buckets (up to 5 per bucket when the bucket
 * holds a non-finite value).
 */
export function decimateIndices(values: ArrayLike<number>, maxPoints: number): Uint32Array {
  if (!Number.isInteger(maxPoints) || maxPoints < POINTS_PER_BUCKET) {
    throw new RangeError(`maxPoints must be an integer >= ${POINTS_PER_BUCKET}, got ${String(maxPoints)}`);
  }
  const n = values.length;
  if (n <= maxPoints) {
    const all = new Uint32Array(n);
    for (let i = 0; i < n; i++) all[i] = i;
    return all;
  }
  const buckets = Math.floor(maxPoints / POINTS_PER_BUCKET);
  const out = new Uint32Array(buckets * (POINTS_PER_BUCKET + 1));
  let k = 0;
  const keep = (i: number) => {
    if (k === 0 || out[k - 1] < i) out[k++] = i; // ascending, no duplicates
  };
  for (let b = 0; b < buckets; b++) {
    const start = Math.floor((b * n) / buckets);
    const end = Math.floor(((b + 1) * n) / buckets); // exclusive; buckets cover [0, n) without gaps
    let minI = -1;
    let maxI = -1;
    let nanI = -1;
    for (let i = start; i < end; i++) {
      const v = values[i];
      if (!Number.isFinite(v)) {
        if (nanI < 0) nanI = i;
        continue;
      }
      if (minI < 0 || v < values[minI]) minI = i;
      if (maxI < 0 || v > values[maxI]) maxI = i;
    }
    const picks = [start, minI, maxI, nanI, end - 1].filter((i) => i >= 0).sort((a, c) => a - c);
    for (const i of picks) keep(i);
  }
  return out.slice(0, k);
}

/** Gathers `source[indices[j]]` into a plain array (the form a webview message carries). */
export function gather(source: ArrayLike<number>, indices: ArrayLike<number>): number[] {
  const out = new Array<number>(indices.length);
  for (let j = 0; j < indices.length; j++) out[j] = source[indices[j]];
  return out;
}
