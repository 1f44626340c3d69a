// Evaluations of a checkpoint asked for after training (Evaluate Checkpoint, `python -m trapo eval --run-dir`). No
// `vscode` import. Schema: trainer/trapo/schemas/checkpoint_eval.schema.json; writer: trainer/trapo/checkpoint_evals.py.
//
//   <run>/checkpoint_evals/<step:06d>.json               summary: one entry per benchmark evaluated
//   <run>/checkpoint_evals/<step:06d>/<benchmark>.jsonl  one evaluated problem a line, as the trainer's evals/
//
// The summaries sit directly in checkpoint_evals/, and the writer replaces them by rename: the folder's modification
// time alone says whether anything changed, so a poll costs one stat.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { BenchmarkResult, isBenchmarkResult, runPaths } from './runFormat';

export const CHECKPOINT_EVAL_FORMAT = 'trapo-checkpoint-eval/1';

export interface CheckpointBenchmarkResult extends BenchmarkResult {
  /** Unix seconds when this benchmark was written. */
  time?: number;
  temperature?: number;
  max_new_tokens?: number;
  model?: string;
  device?: string;
  engine?: string;
}

export interface CheckpointEvalEntry {
  step: number;
  /** The checkpoint evaluated, relative to the run directory. */
  checkpoint: string | null;
  /** Unix seconds of the last benchmark written. */
  time: number;
  benchmarks: Record<string, CheckpointBenchmarkResult>;
  average: number;
}

type Obj = Record<string, unknown>;
const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);

/** One summary file, or a reason it is not one. */
export function parseCheckpointEvalSummary(text: string, where: string): CheckpointEvalEntry | string {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch (e) {
    return `${where}: not valid JSON (${(e as Error).message})`;
  }
  if (!isObj(o)) return `${where}: not a JSON object`;
  if (o.format !== CHECKPOINT_EVAL_FORMAT) return `${where}: format ${JSON.stringify(o.format)}, expected "${CHECKPOINT_EVAL_FORMAT}"`;
  if (!Number.isInteger(o.step) || (o.step as number) < 0) return `${where}: bad "step"`;
  if (!isObj(o.benchmarks) || !Object.values(o.benchmarks).every(isBenchmarkResult)) return `${where}: bad "benchmarks"`;
  if (typeof o.average !== 'number' || !Number.isFinite(o.average)) return `${where}: bad "average"`;
  const benchmarks = o.benchmarks as Record<string, CheckpointBenchmarkResult>;
  const times = Object.values(benchmarks)
    .map((b) => b.time)
    .filter((t): t is number => typeof t === 'number');
  const time = typeof o.updated_at === 'number' ? o.updated_at : times.length ? Math.max(...times) : 0;
  return { step: o.step as number, checkpoint: typeof o.checkpoint === 'string' ? o.checkpoint : null, time, benchmarks, average: o.average };
}

export interface CheckpointEvalsRead {
  /** Oldest step first. */
  entries: CheckpointEvalEntry[];
  /** Summary files that could not be read, with the reason. */
  problems: string[];
}

/** Every summary of a run (none when it has no checkpoint_evals/ folder). */
export async function readCheckpointEvals(runDir: string): Promise<CheckpointEvalsRead> {
  const dir = runPaths.checkpointEvals(runDir);
  let names: string[];
  try {
    names = (await fs.readdir(dir)).filter((n) => /^\d{6,}\.json$/.test(n)).sort();
  } catch {
    return { entries: [], problems: [] };
  }
  const entries: CheckpointEvalEntry[] = [];
  const problems: string[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (e) {
      problems.push(`${file}: ${(e as Error).message}`);
      continue;
    }
    const parsed = parseCheckpointEvalSummary(text, file);
    if (typeof parsed === 'string') problems.push(parsed);
    else entries.push(parsed);
  }
  entries.sort((a, b) => a.step - b.step);
  return { entries, problems };
}

/** A stamp of checkpoint_evals/ that changes when a summary is added or replaced ('' when there is no folder). */
export async function checkpointEvalsStamp(runDir: string): Promise<string> {
  try {
    const st = await fs.stat(runPaths.checkpointEvals(runDir));
    return `${st.mtimeMs}:${st.ino}`;
  } catch {
    return '';
  }
}
