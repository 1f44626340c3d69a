// Reads a run's rollout files into rollout-table chunks (no vscode; the panel and the benchmark use it): every
// rollouts/<step>.jsonl indexed with RolloutIndex (summaries pulled by key, not parsed), newest step first, rows sent in
// chunks: the first as soon as one file is in, then about every `chunkMs`.
import { RolloutIndex, RolloutIndexError } from '../core/rolloutIndex';
import type { RowsMessage, RowsChunk } from '../shared/rolloutTable';

export interface StepFile {
  step: number;
  file: string;
}

export interface LoadOptions {
  /** Receives each chunk (a RowsMessage without `type`). */
  onChunk: (chunk: Omit<RowsMessage, 'type'>) => void;
  isCancelled?: () => boolean;
  chunkMs?: number;
  /** TrSFT alpha of the run (trapo-run/1 lines' share outside the trust region). */
  alpha?: number;
  /** Characters of each prompt kept for word filters. */
  promptChars?: number;
  now?: () => number;
}

const emptyChunk = (): RowsChunk => ({
  step: [],
  prompt: [],
  sample: [],
  stage: [],
  level: [],
  reward: [],
  advantage: [],
  length: [],
  entropy: [],
  outside: [],
});
const known = (x: number) => (Number.isNaN(x) ? null : x);
const MAX_ERRORS = 5;

/**
 * Loads rollout files into table chunks; prompt ids are numbered across files (`prompts` carries the numbering on
 * between calls: a live run's new files continue it). Resolves with the count of files read.
 */
export class RolloutTableLoader {
  private readonly promptNumber = new Map<string, number>();
  private filesDone = 0;
  private skipped = 0;
  private readonly errors: string[] = [];
  readonly loadedSteps = new Set<number>();

  constructor(private readonly opts: LoadOptions) {}

  async load(files: readonly StepFile[]): Promise<void> {
    const now = this.opts.now ?? (() => performance.now());
    const chunkMs = this.opts.chunkMs ?? 100;
    const todo = [...files].filter((f) => !this.loadedSteps.has(f.step)).sort((a, b) => b.step - a.step);
    let rows = emptyChunk();
    let newPrompts = { ids: [] as string[], texts: [] as string[] };
    let last = Number.NEGATIVE_INFINITY;
    const flush = (done: boolean) => {
      this.opts.onChunk({ newPrompts, rows, filesDone: this.filesDone, skipped: this.skipped, done, errors: [...this.errors] });
      rows = emptyChunk();
      newPrompts = { ids: [], texts: [] };
      last = now();
    };
    for (const f of todo) {
      if (this.opts.isCancelled?.()) return;
      this.loadedSteps.add(f.step);
      let index: RolloutIndex;
      try {
        index = await RolloutIndex.build(f.file, { summaries: true, alpha: this.opts.alpha, promptChars: this.opts.promptChars ?? 200 });
      } catch (e) {
        if (this.errors.length < MAX_ERRORS) this.errors.push(e instanceof RolloutIndexError ? e.message : String(e));
        this.filesDone++;
        continue;
      }
      this.filesDone++;
      this.skipped += index.skipped + (index.tornTailBytes > 0 ? 1 : 0);
      for (let k = 0; k < index.count; k++) {
        const s = index.summary(k);
        let p = this.promptNumber.get(s.promptId);
        if (p === undefined) {
          p = this.promptNumber.size;
          this.promptNumber.set(s.promptId, p);
          newPrompts.ids.push(s.promptId);
          newPrompts.texts.push(index.promptText(k));
        }
        rows.step.push(s.step);
        rows.prompt.push(p);
        rows.sample.push(s.sample);
        rows.stage.push(s.stage);
        rows.level.push(s.level);
        rows.reward.push(s.reward);
        rows.advantage.push(known(s.advantage));
        rows.length.push(s.length < 0 ? null : s.length);
        rows.entropy.push(known(s.meanEntropy));
        rows.outside.push(known(s.outside));
      }
      // The first file goes out at once (first rows on screen), then chunks about every chunkMs.
      if (last === Number.NEGATIVE_INFINITY || now() - last >= chunkMs) flush(false);
    }
    flush(true);
  }
}
