// Paired bootstrap over problems for the accuracy difference of two checkpoints. Pure: no `vscode`, no I/O.
//
// Each problem has an accuracy on side A and on side B (the share of its samples judged correct). The statistic is
// mean(B) - mean(A) over the problems both sides evaluated; problems are resampled with replacement, keeping each
// problem's pair together (Efron & Tibshirani, "An Introduction to the Bootstrap", 1993, ch. 13, percentile interval).
// Quantiles interpolate linearly between order statistics (Hyndman & Fan 1996, type 7, numpy's default).

/** mulberry32: a small seeded 32-bit PRNG (Tommy Ettinger, public domain), uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Quantile q in [0, 1] of an ascending array, type 7. */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const h = (n - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

export interface PairedBootstrap {
  /** Problems paired. */
  n: number;
  accuracyA: number;
  accuracyB: number;
  /** accuracyB - accuracyA */
  difference: number;
  /** 95% percentile interval of the difference. */
  low: number;
  high: number;
  resamples: number;
  /** Problems solved by B and not by A (A < 0.5 <= B). */
  flipsToB: number;
  /** Problems solved by A and not by B. */
  flipsToA: number;
}

export interface BootstrapOptions {
  resamples?: number;
  seed?: number;
  /** Interval level (default 0.95). */
  level?: number;
}

/** A problem counts as solved when at least half its samples are correct (accuracy >= 0.5). */
export const SOLVED_THRESHOLD = 0.5;

export function isFlip(a: number, b: number): 'toB' | 'toA' | undefined {
  const sa = a >= SOLVED_THRESHOLD;
  const sb = b >= SOLVED_THRESHOLD;
  return sa === sb ? undefined : sb ? 'toB' : 'toA';
}

/** Paired bootstrap of mean(b) - mean(a); a[i] and b[i] are one problem's accuracies on either side. */
export function pairedBootstrap(a: readonly number[], b: readonly number[], options: BootstrapOptions = {}): PairedBootstrap {
  if (a.length !== b.length) throw new Error(`paired bootstrap: ${a.length} problems on side A but ${b.length} on side B`);
  const n = a.length;
  const resamples = options.resamples ?? 2000;
  const level = options.level ?? 0.95;
  let flipsToB = 0;
  let flipsToA = 0;
  const d = new Float64Array(n);
  let sumA = 0;
  let sumB = 0;
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(a[i]) || !Number.isFinite(b[i])) throw new Error(`paired bootstrap: problem ${i} has a non-finite accuracy`);
    d[i] = b[i] - a[i];
    sumA += a[i];
    sumB += b[i];
    const f = isFlip(a[i], b[i]);
    if (f === 'toB') flipsToB++;
    else if (f === 'toA') flipsToA++;
  }
  if (n === 0) {
    return { n, accuracyA: NaN, accuracyB: NaN, difference: NaN, low: NaN, high: NaN, resamples: 0, flipsToB, flipsToA };
  }
  const rand = mulberry32(options.seed ?? 20260125);
  const stats = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += d[Math.floor(rand() * n)];
    stats[r] = s / n;
  }
  stats.sort();
  const tail = (1 - level) / 2;
  return {
    n,
    accuracyA: sumA / n,
    accuracyB: sumB / n,
    difference: (sumB - sumA) / n,
    low: quantileSorted(stats, tail),
    high: quantileSorted(stats, 1 - tail),
    resamples,
    flipsToB,
    flipsToA,
  };
}

export interface StratifiedBootstrap {
  /** Groups (benchmarks) averaged. */
  groups: number;
  /** Problems paired, over all groups. */
  n: number;
  /** Mean over groups of each group's mean accuracy on side A / B (a macro average, as the trainer's `average`). */
  accuracyA: number;
  accuracyB: number;
  difference: number;
  low: number;
  high: number;
  resamples: number;
  flipsToB: number;
  flipsToA: number;
}

/**
 * Paired bootstrap of the macro average difference over several groups (benchmarks): in each resample every group's
 * problems are resampled within the group (stratified, so each benchmark keeps its weight 1/groups), and the
 * statistic is the mean over groups of mean(b) - mean(a). Groups without problems are left out.
 */
export function stratifiedPairedBootstrap(
  groups: readonly { a: readonly number[]; b: readonly number[] }[],
  options: BootstrapOptions = {},
): StratifiedBootstrap {
  const used = groups.filter((g) => {
    if (g.a.length !== g.b.length) throw new Error(`paired bootstrap: ${g.a.length} problems on side A but ${g.b.length} on side B`);
    return g.a.length > 0;
  });
  const k = used.length;
  const resamples = options.resamples ?? 2000;
  const level = options.level ?? 0.95;
  let flipsToB = 0;
  let flipsToA = 0;
  let n = 0;
  let sumA = 0;
  let sumB = 0;
  const diffs = used.map((g) => {
    const d = new Float64Array(g.a.length);
    let sa = 0;
    let sb = 0;
    for (let i = 0; i < g.a.length; i++) {
      if (!Number.isFinite(g.a[i]) || !Number.isFinite(g.b[i])) throw new Error(`paired bootstrap: problem ${i} has a non-finite accuracy`);
      d[i] = g.b[i] - g.a[i];
      sa += g.a[i];
      sb += g.b[i];
      const f = isFlip(g.a[i], g.b[i]);
      if (f === 'toB') flipsToB++;
      else if (f === 'toA') flipsToA++;
    }
    n += g.a.length;
    sumA += sa / g.a.length;
    sumB += sb / g.a.length;
    return d;
  });
  if (k === 0) {
    return { groups: 0, n: 0, accuracyA: NaN, accuracyB: NaN, difference: NaN, low: NaN, high: NaN, resamples: 0, flipsToB, flipsToA };
  }
  const rand = mulberry32(options.seed ?? 20260125);
  const stats = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let total = 0;
    for (const d of diffs) {
      let s = 0;
      for (let i = 0; i < d.length; i++) s += d[Math.floor(rand() * d.length)];
      total += s / d.length;
    }
    stats[r] = total / k;
  }
  stats.sort();
  const tail = (1 - level) / 2;
  return {
    groups: k,
    n,
    accuracyA: sumA / k,
    accuracyB: sumB / k,
    difference: (sumB - sumA) / k,
    low: quantileSorted(stats, tail),
    high: quantileSorted(stats, 1 - tail),
    resamples,
    flipsToB,
    flipsToA,
  };
}
