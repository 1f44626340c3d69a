// Evaluate Checkpoint without `vscode`: the command line of `python -m trapo eval ... --run-dir ... --progress`
// (trainer/trapo/eval_command.py) and its progress lines turned into what a progress notification shows.

export interface EvalRequest {
  checkpointDir: string;
  runDir: string;
  step: number;
  /** Benchmark specs ('builtin' or files); empty: the run's own data.benchmarks. */
  benchmarks: string[];
  /** eval.samples_per_problem, when it differs from the run's. */
  samplesPerProblem?: number;
  /** Problems per generation call (progress granularity). */
  chunk?: number;
}

export const DEFAULT_EVAL_CHUNK = 16;

export function evalArgs(req: EvalRequest): string[] {
  const args = ['-m', 'trapo', 'eval', req.checkpointDir, '--run-dir', req.runDir, '--step', String(req.step), '--progress'];
  args.push('--chunk', String(req.chunk ?? DEFAULT_EVAL_CHUNK));
  for (const b of req.benchmarks) args.push('--benchmark', b);
  if (req.samplesPerProblem !== undefined) {
    if (!Number.isInteger(req.samplesPerProblem) || req.samplesPerProblem < 1)
      throw new Error(`samples per problem must be a positive integer, got ${req.samplesPerProblem}`);
    args.push('--set', `eval.samples_per_problem=${req.samplesPerProblem}`);
  }
  return args;
}

export type EvalLine =
  | {
      type: 'start';
      benchmarks: string[];
      problems: number;
      samples_per_problem: number;
      device: string;
      model: string;
      temperature: number;
      max_new_tokens: number;
    }
  | { type: 'progress'; benchmark: string; done: number; total: number; problems_done: number; problems: number }
  | { type: 'benchmark'; benchmark: string; accuracy: number; n: number; file: string }
  | { type: 'result'; step: number; average: number; benchmarks: Record<string, { accuracy: number; n: number }> }
  | { type: 'cancelled'; step: number; finished: string[] };

const TYPES = new Set(['start', 'progress', 'benchmark', 'result', 'cancelled']);

/** One line of the command's stdout, or undefined when it is not a progress line. */
export function parseEvalProgressLine(line: string): EvalLine | undefined {
  try {
    const o: unknown = JSON.parse(line);
    if (typeof o === 'object' && o !== null && TYPES.has((o as { type?: string }).type ?? '')) return o as EvalLine;
  } catch {
    // not ours (a library printing to stdout): ignored
  }
  return undefined;
}

/** Folds progress lines into the notification's text and percentage. */
export class EvalProgress {
  private problems = 0;
  private done = 0;
  private reported = 0;
  readonly accuracies = new Map<string, number>();
  result: Extract<EvalLine, { type: 'result' }> | undefined;
  started: Extract<EvalLine, { type: 'start' }> | undefined;

  /** The message and the increment (percentage points since the last report) for a line. */
  update(line: EvalLine): { message: string; increment: number } | undefined {
    switch (line.type) {
      case 'start':
        this.started = line;
        this.problems = line.problems;
        return {
          message: `${line.benchmarks.length} benchmark${line.benchmarks.length === 1 ? '' : 's'}, ${line.problems} problems × ${line.samples_per_problem} samples on ${line.device}`,
          increment: 0,
        };
      case 'progress': {
        this.done = line.problems_done;
        return { message: `${line.benchmark}: ${line.done}/${line.total} problems`, increment: this.advance() };
      }
      case 'benchmark':
        this.accuracies.set(line.benchmark, line.accuracy);
        return { message: `${line.benchmark}: ${(100 * line.accuracy).toFixed(1)}% over ${line.n} problems`, increment: this.advance() };
      case 'result':
        this.result = line;
        return { message: `average ${(100 * line.average).toFixed(1)}%`, increment: 100 - this.reported };
      case 'cancelled':
        return { message: `cancelled; kept ${line.finished.length} finished benchmark${line.finished.length === 1 ? '' : 's'}`, increment: 0 };
      default: {
        const never: never = line;
        return never;
      }
    }
  }

  private advance(): number {
    const pct = this.problems ? Math.min(100, (100 * this.done) / this.problems) : 0;
    const inc = Math.max(0, pct - this.reported);
    this.reported += inc;
    return inc;
  }
}
