// Joins two checkpoints' evaluations benchmark by benchmark. No `vscode` import.
// A benchmark evaluated on one side only is kept and marked as such; paired statistics use the problems (by
// problem_id) that both sides evaluated.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { EvalRecord, pad6, parseEvalLine, readJsonLines } from './runFormat';
import { PairedBootstrap, isFlip, pairedBootstrap } from './bootstrap';

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
}

export interface EvalSet {
  records: EvalRecord[];
  skipped: number;
}

export function summarize(set: EvalSet): SideSummary {
  const n = set.records.length;
  const sum = set.records.reduce((s, r) => s + r.accuracy, 0);
  return { accuracy: n ? sum / n : NaN, problems: n, skipped: set.skipped };
}

/** Compares per benchmark; benchmarks sorted by name. */
export function compareEvals(
  a: ReadonlyMap<string, EvalSet>,
  b: ReadonlyMap<string, EvalSet>,
  options: { resamples?: number; seed?: number } = {},
): BenchmarkComparison[] {
  const names = [...new Set([...a.keys(), ...b.keys()])].sort();
  return names.map((benchmark) => {
    const sa = a.get(benchmark);
    const sb = b.get(benchmark);
    if (!sa || !sb) {
      return {
        benchmark,
        presence: sa ? 'onlyA' : 'onlyB',
        a: sa && summarize(sa),
        b: sb && summarize(sb),
        unpairedA: sa?.records.length ?? 0,
        unpairedB: sb?.records.length ?? 0,
        flips: [],
      } satisfies BenchmarkComparison;
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
    return {
      benchmark,
      presence: 'both',
      a: summarize(sa),
      b: summarize(sb),
      paired: pairedBootstrap(accA, accB, options),
      unpairedA: sa.records.length - paired,
      unpairedB: sb.records.length - paired,
      flips,
    } satisfies BenchmarkComparison;
  });
}

/** Reads <run>/evals/<step:06d>/*.jsonl. A missing folder gives an empty map (the checkpoint was not evaluated). */
export async function loadCheckpointEvals(runDir: string, step: number): Promise<Map<string, EvalSet>> {
  const dir = path.join(runDir, 'evals', pad6(step));
  let names: string[];
  try {
    names = (await fs.readdir(dir)).filter((f) => f.endsWith('.jsonl')).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw new Error(`cannot list evaluations in ${dir}: ${(e as Error).message}`);
  }
  const out = new Map<string, EvalSet>();
  for (const f of names) out.set(f.slice(0, -'.jsonl'.length), await readJsonLines(path.join(dir, f), parseEvalLine));
  return out;
}

/** One problem of one checkpoint's benchmark, for the diff editor. */
export async function findEvalRecord(runDir: string, step: number, benchmark: string, problemId: string): Promise<EvalRecord | undefined> {
  const file = path.join(runDir, 'evals', pad6(step), `${benchmark}.jsonl`);
  const { records } = await readJsonLines(file, parseEvalLine);
  return records.find((r) => r.problem_id === problemId);
}

/** The text shown for one side of a flipped problem in the diff editor. */
export function evalRecordText(r: EvalRecord | undefined, label: string, benchmark: string, problemId: string): string {
  if (!r) return `${label}: problem ${problemId} of ${benchmark} was not evaluated.\n`;
  const parts = [
    `${label} · ${benchmark} · problem ${r.problem_id} · accuracy ${r.accuracy}`,
    `ground truth: ${r.answer}`,
    '',
    r.prompt,
  ];
  r.samples.forEach((s, i) => {
    parts.push('', `──────── sample ${i} · ${s.correct ? 'correct' : 'wrong'} · extracted: ${s.extracted ?? '(none)'} ────────`, s.completion);
  });
  return parts.join('\n') + '\n';
}
