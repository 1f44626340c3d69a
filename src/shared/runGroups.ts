// Runs in groups (the dashboard's seeds-into-bands view), the run picker's filter, run colours and names: pure
// functions shared by the dashboard webview and its tests. No node, no DOM, no vscode.
//
// - A group is the runs that share a value of one resolved-config key (algorithm by default; the seed is what varies
//   inside a group). Each group is drawn as its mean with a band: min-max, or a 95% interval of the mean (Student's t
//   over the runs at that x). Runs are put on one x grid first: the union of their x values (each run interpolated
//   linearly inside its own x range only), thinned to evenly spaced x when longer than the longest line (groupGridSize).
// - Colours: 20 distinct colours (VS Code's six chart colours first), so no two of the first 20 runs or groups
//   share one.
// - Names: a run whose name another run also has gets the config values that tell them apart ("trapo (seed 1)"), or
//   the end of its id when no config key does.

export type ConfigValue = string | number | boolean | null;

export interface PickerRun {
  id: string;
  name: string;
  algorithm: string;
  status: string;
  /** The run's values of the config keys that differ between the runs listed (dotted paths), with algorithm and seed. */
  config?: Record<string, ConfigValue>;
}

// ----------------------------------------------------------------------------------------------- groups

export type BandKind = 'minmax' | 'ci95';

/** The label of the group a run belongs to under `key` ("algorithm" reads the run's algorithm). */
export function groupValue(run: PickerRun, key: string): string {
  if (key === 'algorithm') return run.algorithm;
  const v = run.config?.[key];
  return v === undefined ? '(unset)' : v === null ? 'null' : String(v);
}

/** Runs grouped by a config key, groups in order of their first run. */
export function groupRuns<T extends PickerRun>(runs: readonly T[], key: string): { label: string; runs: T[] }[] {
  const groups = new Map<string, T[]>();
  for (const r of runs) {
    const label = groupValue(r, key);
    let g = groups.get(label);
    if (!g) groups.set(label, (g = []));
    g.push(r);
  }
  return [...groups].map(([label, rs]) => ({ label, runs: rs }));
}

/** The config keys worth grouping by: those whose values differ between the runs (algorithm first). */
export function groupKeys(runs: readonly PickerRun[]): string[] {
  const keys = new Set<string>();
  for (const r of runs) for (const k of Object.keys(r.config ?? {})) keys.add(k);
  keys.delete('algorithm');
  const varying = [...keys].filter((k) => new Set(runs.map((r) => JSON.stringify(r.config?.[k] ?? null))).size > 1).sort();
  return ['algorithm', ...varying];
}

/** Two-sided 95% quantiles of Student's t for 1..30 degrees of freedom (then the normal's 1.96). */
const T95 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069,
  2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];
export function t95(df: number): number {
  return df >= 1 && df <= 30 ? T95[df - 1] : 1.96;
}

export interface Line {
  x: ArrayLike<number>;
  y: ArrayLike<number>;
}

export interface Aggregate {
  x: number[];
  mean: number[];
  lo: number[];
  hi: number[];
  /** Runs that have a value at this x. */
  n: number[];
}

/** y of a line at x by linear interpolation, inside its x range (x ascending); NaN outside it or at a gap. */
function at(line: Line, x: number, hint: { i: number }): number {
  const xs = line.x;
  const n = xs.length;
  if (n === 0 || x < xs[0] || x > xs[n - 1]) return Number.NaN;
  let i = hint.i;
  while (i < n - 1 && xs[i + 1] <= x) i++;
  hint.i = i;
  if (xs[i] === x || i === n - 1) return line.y[i];
  const x0 = xs[i];
  const x1 = xs[i + 1];
  const y0 = line.y[i];
  const y1 = line.y[i + 1];
  return y0 + ((y1 - y0) * (x - x0)) / (x1 - x0);
}

/** The x grid of a group: the union of its lines' x, thinned to about maxPoints evenly spaced values. */
export function commonGrid(lines: readonly Line[], maxPoints = 1500): number[] {
  const all = new Set<number>();
  for (const l of lines) for (let i = 0; i < l.x.length; i++) if (Number.isFinite(l.x[i])) all.add(l.x[i]);
  const xs = [...all].sort((a, b) => a - b);
  if (xs.length <= maxPoints) return xs;
  const lo = xs[0];
  const hi = xs[xs.length - 1];
  return Array.from({ length: maxPoints }, (_, k) => lo + ((hi - lo) * k) / (maxPoints - 1));
}

/** Points of a group's grid below which the union of its lines' x is not thinned. */
const MIN_GROUP_POINTS = 400;

/**
 * The points a group's line gets: as many as its longest member line (at least 400, at most 1,500). Lines decimated
 * one by one keep different x (each its own extremes), so the union of three runs' 400 x is about 1,200: a mean and a
 * band three times as dense as any run's own line, drawn three times over (band edges and mean) on every chart of the
 * group, for no more detail than a chart a few hundred pixels wide shows.
 */
export function groupGridSize(lines: readonly Line[], cap = 1500): number {
  let longest = 0;
  for (const l of lines) longest = Math.max(longest, l.x.length);
  return Math.min(cap, Math.max(MIN_GROUP_POINTS, longest));
}

/**
 * Mean and band of several lines (x ascending each) on their common grid (groupGridSize points unless told). Where
 * only one line has a value the band is that value; a ci95 band needs two. Non-finite y (gaps) do not count.
 */
export function aggregateLines(lines: readonly Line[], band: BandKind, maxPoints = groupGridSize(lines)): Aggregate {
  const grid = commonGrid(lines, maxPoints);
  const out: Aggregate = { x: [], mean: [], lo: [], hi: [], n: [] };
  const hints = lines.map(() => ({ i: 0 }));
  for (const x of grid) {
    let n = 0;
    let sum = 0;
    let sq = 0;
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    lines.forEach((l, k) => {
      const y = at(l, x, hints[k]);
      if (!Number.isFinite(y)) return;
      n++;
      sum += y;
      sq += y * y;
      if (y < min) min = y;
      if (y > max) max = y;
    });
    if (n === 0) continue;
    const mean = sum / n;
    let lo = min;
    let hi = max;
    if (band === 'ci95') {
      if (n < 2) {
        lo = hi = mean;
      } else {
        const variance = Math.max(0, (sq - n * mean * mean) / (n - 1));
        const half = (t95(n - 1) * Math.sqrt(variance)) / Math.sqrt(n);
        lo = mean - half;
        hi = mean + half;
      }
    }
    out.x.push(x);
    out.mean.push(mean);
    out.lo.push(lo);
    out.hi.push(hi);
    out.n.push(n);
  }
  return out;
}

// ----------------------------------------------------------------------------------------------- picker filter

/**
 * Whether a run matches the picker's filter: words (all must occur in the name, id, algorithm or status), and
 * `key:value` terms on status, algorithm, name or any config key (`seed:1`, `optim.lr:3e-4`, `status:running`);
 * a value matches as text, case-insensitive, exactly for config keys (seed:1 is not seed:10) and as a substring of
 * the name.
 */
export function matchesRunFilter(run: PickerRun, filter: string): boolean {
  for (const term of filter.trim().toLowerCase().split(/\s+/).filter(Boolean)) {
    const colon = term.indexOf(':');
    if (colon > 0) {
      const key = term.slice(0, colon);
      const want = term.slice(colon + 1);
      if (key === 'status' || key === 'algorithm') {
        if ((key === 'status' ? run.status : run.algorithm).toLowerCase() !== want) return false;
        continue;
      }
      if (key === 'name') {
        if (!run.name.toLowerCase().includes(want)) return false;
        continue;
      }
      const entry = Object.entries(run.config ?? {}).find(([k]) => k.toLowerCase() === key);
      if (entry) {
        if (String(entry[1]).toLowerCase() !== want && !numbersEqual(entry[1], want)) return false;
        continue;
      }
    }
    const hay = `${run.name} ${run.id} ${run.algorithm} ${run.status}`.toLowerCase();
    if (!hay.includes(term)) return false;
  }
  return true;
}

function numbersEqual(v: ConfigValue, text: string): boolean {
  const n = Number(text);
  return typeof v === 'number' && text !== '' && Number.isFinite(n) && n === v;
}

// ----------------------------------------------------------------------------------------------- colours and names

/** VS Code's chart colour variables, then 14 more distinct colours (20 in all). */
export const PALETTE_VARS = [
  '--vscode-charts-blue',
  '--vscode-charts-orange',
  '--vscode-charts-green',
  '--vscode-charts-purple',
  '--vscode-charts-red',
  '--vscode-charts-yellow',
];
export const PALETTE = [
  '#3794ff',
  '#d18616',
  '#89d185',
  '#b180d7',
  '#f14c4c',
  '#cca700',
  '#17becf',
  '#e377c2',
  '#8c564b',
  '#bcbd22',
  '#7f7f7f',
  '#1f77b4',
  '#ff9896',
  '#98df8a',
  '#c5b0d5',
  '#9edae5',
  '#f7b6d2',
  '#c49c94',
  '#dbdb8d',
  '#aec7e8',
];
export const PALETTE_SIZE = PALETTE.length;

/** Assigns colour indices: a key keeps its index; a new key takes the lowest free one (repeating past 20). */
export class ColorAssigner {
  private readonly of = new Map<string, number>();
  index(key: string): number {
    let i = this.of.get(key);
    if (i === undefined) {
      const used = new Set(this.of.values());
      i = 0;
      while (used.has(i)) i++;
      this.of.set(key, i);
    }
    return i % PALETTE_SIZE;
  }
  release(key: string): void {
    this.of.delete(key);
  }
}

/**
 * Display names: a run whose name is unique keeps it; runs sharing a name get the config values that differ between
 * them ("trapo (seed 1)"), or the end of their id when none does.
 */
export function displayNames(runs: readonly PickerRun[]): Map<string, string> {
  const byName = new Map<string, PickerRun[]>();
  for (const r of runs) {
    let list = byName.get(r.name);
    if (!list) byName.set(r.name, (list = []));
    list.push(r);
  }
  const out = new Map<string, string>();
  for (const [name, list] of byName) {
    if (list.length === 1) {
      out.set(list[0].id, name);
      continue;
    }
    const keys = new Set<string>();
    for (const r of list) for (const k of Object.keys(r.config ?? {})) keys.add(k);
    if (new Set(list.map((r) => r.algorithm)).size > 1) keys.add('algorithm');
    const differing = [...keys]
      .filter((k) => new Set(list.map((r) => JSON.stringify(k === 'algorithm' ? r.algorithm : (r.config?.[k] ?? null)))).size > 1)
      .sort((a, b) => (a === 'seed' ? -1 : b === 'seed' ? 1 : a.localeCompare(b)));
    for (const r of list) {
      const parts = differing.slice(0, 3).map((k) => `${k} ${k === 'algorithm' ? r.algorithm : String(r.config?.[k] ?? 'unset')}`);
      const label = parts.length ? parts.join(', ') : r.id.split('-').slice(-1)[0];
      out.set(r.id, `${name} (${label})`);
    }
  }
  // Still equal (two runs with the same differing values): the id's end tells them apart.
  const seen = new Map<string, number>();
  for (const v of out.values()) seen.set(v, (seen.get(v) ?? 0) + 1);
  for (const r of runs) {
    const v = out.get(r.id)!;
    if (seen.get(v)! > 1) out.set(r.id, `${v} · ${r.id.split('-').slice(-1)[0]}`);
  }
  return out;
}
