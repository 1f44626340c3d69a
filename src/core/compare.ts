// Joins two checkpoints' evaluations benchmark by benchmark. No `vscode` import.
// A benchmark evaluated on one side only is kept and marked as such; paired statistics use the problems (by
// problem_id) that both sides evaluated, and the average row averages the benchmarks both sides have.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { EvalRecord, pad6, parseEvalLine, readJsonLines } from './runFormat';
import { PairedBootstrap, StratifiedBootstrap, isFlip, pairedBootstrap, stratifiedPairedBootstrap } from './bootstrap';
import type { EvalSource } from './benchmarks';

export interface CheckpointRef {
  runDir: string;
  step: number;
  /** Shown in the UI, e.g. "demo @ 200". */
  label: string;
}

export interface SideSummary {
  /** Mean of the problems' accuracies on this side (all its problems). */
  accuracy: number;
  problems: number;
  /** Lines of the eval file that were not a valid eval record. */
  skipped: number;
  /** The run's own evaluation (trainer) or Evaluate Checkpoint's (checkpoint). */
  source: EvalSource;
  /** The benchmark's name on this side. */
  name: string;
}

export interface FlippedProblem {
  problemId: string;
  prompt: string;
  answer: string;
  accuracyA: number;
  accuracyB: number;
  /** toB: solved by B only; toA: solved by A only. */
  direction: 'toA' | 'toB';
}

export type Presence = 'both' | 'onlyA' | 'onlyB';

export interface BenchmarkComparison {
  /** The row's label: the benchmark's name, or "nameA = nameB" when the same problems go by two names. */
  benchmark: string;
  presence: Presence;
  a?: SideSummary;
  b?: SideSummary;
  /** Over the problems both sides evaluated; absent unless presence is 'both'. */
  paired?: PairedBootstrap;
  /** Problems evaluated only by A / only by B within a shared benchmark. */
  unpairedA: number;
  unpairedB: number;
  flips: FlippedProblem[];
  /** Set when the pairing needs a word: paired by digest under two names, or one name for different problems. */
  note?: string;
}

export interface EvalSet {
  records: EvalRecord[];
  skipped: number;
  /** Default 'trainer'. */
  source?: EvalSource;
  /** sha256 of the benchmark's problems, when the writer recorded it (trainer and Evaluate Checkpoint do). */
  digest?: string;
  /** The records' file, relative to the run directory. */
  file?: string;
}

export function summarize(set: EvalSet, name = ''): SideSummary {
  const n = set.records.length;
  const sum = set.records.reduce((s, r) => s + r.accuracy, 0);
  return { accuracy: n ? sum / n : NaN, problems: n, skipped: set.skipped, source: set.source ?? 'trainer', name };
}

/** Which benchmark of A goes with which of B: by name, unless digests say the problems differ; else by digest. */
function matchBenchmarks(a: ReadonlyMap<string, EvalSet>, b: ReadonlyMap<string, EvalSet>): { nameA?: string; nameB?: string; note?: string }[] {
  const out: { nameA?: string; nameB?: string; note?: string }[] = [];
  const freeB = new Set(b.keys());
  const differs = (x: EvalSet, y: EvalSet) => x.digest !== undefined && y.digest !== undefined && x.digest !== y.digest;
  const mismatched = new Set<string>();
  for (const name of [...a.keys()].sort()) {
    const sa = a.get(name)!;
    const sb = b.get(name);
    if (sb && freeB.has(name) && !differs(sa, sb)) {
      out.push({ nameA: name, nameB: name });
      freeB.delete(name);
      continue;
    }
    if (sb && differs(sa, sb)) mismatched.add(name);
    const other = sa.digest === undefined ? undefined : [...freeB].sort().find((n) => b.get(n)!.digest === sa.digest);
    if (other !== undefined) {
      out.push({ nameA: name, nameB: other, note: `the same problems (equal digests) under the names ${name} and ${other}` });
      freeB.delete(other);
    } else {
      out.push({
        nameA: name,
        note: mismatched.has(name) ? `${name} holds different problems on A and B (the benchmark files differ): not paired` : undefined,
      });
    }
  }
  for (const name of [...freeB].sort()) {
    out.push({ nameB: name, note: mismatched.has(name) ? `${name} holds different problems on A and B (the benchmark files differ): not paired` : undefined });
  }
  return out.sort((x, y) => (x.nameA ?? x.nameB!).localeCompare(y.nameA ?? y.nameB!) || (x.nameA ? -1 : 1));
}

/**
 * Compares per benchmark; rows sorted by name. Problems pair by problem_id within benchmarks that hold the same
 * problems: the same name (unless both sides recorded digests that differ), or equal digests under two names, so
 * checkpoints of different runs pair whenever they evaluated the same benchmark file.
 */
export function compareEvals(
  a: ReadonlyMap<string, EvalSet>,
  b: ReadonlyMap<string, EvalSet>,
  options: { resamples?: number; seed?: number } = {},
): BenchmarkComparison[] {
  return matchBenchmarks(a, b).map(({ nameA, nameB, note }) => {
    const sa = nameA !== undefined ? a.get(nameA) : undefined;
    const sb = nameB !== undefined ? b.get(nameB) : undefined;
    const label = nameA !== undefined && nameB !== undefined && nameA !== nameB ? `${nameA} = ${nameB}` : (nameA ?? nameB)!;
    if (!sa || !sb) {
      const row: BenchmarkComparison = {
        benchmark: label,
        presence: sa ? 'onlyA' : 'onlyB',
        a: sa && summarize(sa, nameA),
        b: sb && summarize(sb, nameB),
        unpairedA: sa?.records.length ?? 0,
        unpairedB: sb?.records.length ?? 0,
        flips: [],
      };
      if (note) row.note = note;
      return row;
    }
    const byId = new Map(sb.records.map((r) => [r.problem_id, r]));
    const accA: number[] = [];
    const accB: number[] = [];
    const flips: FlippedProblem[] = [];
    let paired = 0;
    for (const ra of sa.records) {
      const rb = byId.get(ra.problem_id);
      if (!rb) continue;
      paired++;
      accA.push(ra.accuracy);
      accB.push(rb.accuracy);
      const direction = isFlip(ra.accuracy, rb.accuracy);
      if (direction) {
        flips.push({ problemId: ra.problem_id, prompt: ra.prompt, answer: ra.answer, accuracyA: ra.accuracy, accuracyB: rb.accuracy, direction });
      }
    }
    const row: BenchmarkComparison = {
      benchmark: label,
      presence: 'both',
      a: summarize(sa, nameA),
      b: summarize(sb, nameB),
      paired: pairedBootstrap(accA, accB, options),
      unpairedA: sa.records.length - paired,
      unpairedB: sb.records.length - paired,
      flips,
    };
    if (note) row.note = note;
    return row;
  });
}

/** The average over the benchmarks both sides evaluated, with its paired (stratified) bootstrap interval. */
export function averageComparison(
  rows: readonly BenchmarkComparison[],
  a: ReadonlyMap<string, EvalSet>,
  b: ReadonlyMap<string, EvalSet>,
  options: { resamples?: number; seed?: number } = {},
): { benchmarks: string[]; stats: StratifiedBootstrap } | null {
  const groups: { a: number[]; b: number[] }[] = [];
  const names: string[] = [];
  for (const r of rows) {
    if (r.presence !== 'both' || !r.paired || r.paired.n === 0) continue;
    const sa = a.get(r.a!.name)!;
    const byId = new Map(b.get(r.b!.name)!.records.map((x) => [x.problem_id, x.accuracy]));
    const g = { a: [] as number[], b: [] as number[] };
    for (const x of sa.records) {
      const y = byId.get(x.problem_id);
      if (y === undefined) continue;
      g.a.push(x.accuracy);
      g.b.push(y);
    }
    groups.push(g);
    names.push(r.benchmark);
  }
  if (!groups.length) return null;
  return { benchmarks: names, stats: stratifiedPairedBootstrap(groups, options) };
}

/** Benchmark metadata a reader of the eval events knows (the run store): digest per benchmark name. */
export type BenchmarkMeta = Readonly<Record<string, { digest?: string }>>;

async function readSets(dir: string, runDir: string, source: EvalSource, meta: BenchmarkMeta, out: Map<string, EvalSet>): Promise<void> {
  let names: string[];
  try {
    names = (await fs.readdir(dir)).filter((f) => f.endsWith('.jsonl')).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new Error(`cannot list evaluations in ${dir}: ${(e as Error).message}`);
  }
  for (const f of names) {
    const name = f.slice(0, -'.jsonl'.length);
    const set: EvalSet = { ...(await readJsonLines(path.join(dir, f), parseEvalLine)), source, file: path.relative(runDir, path.join(dir, f)) };
    const digest = meta[name]?.digest;
    if (digest !== undefined) set.digest = digest;
    out.set(name, set);
  }
}

/**
 * Reads a checkpoint's evaluations: the trainer's <run>/evals/<step:06d>/*.jsonl and Evaluate Checkpoint's
 * <run>/checkpoint_evals/<step:06d>/*.jsonl; a benchmark evaluated by both is taken from Evaluate Checkpoint (the
 * later, explicit one). `trainerMeta` / `checkpointMeta`: digests from the eval event and the summary. A missing
 * folder gives no entries (the checkpoint was not evaluated).
 */
export async function loadCheckpointEvals(
  runDir: string,
  step: number,
  trainerMeta: BenchmarkMeta = {},
  checkpointMeta: BenchmarkMeta = {},
): Promise<Map<string, EvalSet>> {
  const out = new Map<string, EvalSet>();
  await readSets(path.join(runDir, 'evals', pad6(step)), runDir, 'trainer', trainerMeta, out);
  await readSets(path.join(runDir, 'checkpoint_evals', pad6(step)), runDir, 'checkpoint', checkpointMeta, out);
  return out;
}

/** One problem of one checkpoint's benchmark, for the diff editor (`file`: its records, relative to the run). */
export async function findEvalRecord(runDir: string, step: number, benchmark: string, problemId: string, file?: string): Promise<EvalRecord | undefined> {
  if (file !== undefined) {
    const resolved = path.resolve(runDir, file);
    const rel = path.relative(runDir, resolved);
    if (rel.startsWith('..') || path.isAbsolute(rel) || !resolved.endsWith('.jsonl')) throw new Error(`${file} is not an evaluation file of ${runDir}`);
    file = resolved;
  } else {
    file = path.join(runDir, 'evals', pad6(step), `${benchmark}.jsonl`);
  }
  const { records } = await readJsonLines(file, parseEvalLine);
  return records.find((r) => r.problem_id === problemId);
}

/** The text shown for one side of a flipped problem in the diff editor. */
export function evalRecordText(r: EvalRecord | undefined, label: string, benchmark: string, problemId: string): string {
  if (!r) return `${label}: problem ${problemId} of ${benchmark} was not evaluated.\n`;
  const parts = [`${label} · ${benchmark} · problem ${r.problem_id} · accuracy ${r.accuracy}`, `ground truth: ${r.answer}`, '', r.prompt];
  r.samples.forEach((s, i) => {
    parts.push('', `──────── sample ${i} · ${s.correct ? 'correct' : 'wrong'} · extracted: ${s.extracted ?? '(none)'} ────────`, s.completion);
  });
  return parts.join('\n') + '\n';
}
