// Where a prompt's rollouts start in a rollouts/<step>.jsonl file (no vscode): the 0-based line of the first record
// with that prompt_id (and sample, when given), or -1. Lines that are not rollouts are skipped.
import { parseRolloutLine } from './runFormat';

export function findRolloutLine(text: string, promptId: string, sample?: number): number {
  const lines = text.split('\n');
  // A cheap substring test first: most lines belong to other prompts.
  const needle = JSON.stringify(promptId);
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].includes(needle)) continue;
    const rec = parseRolloutLine(lines[i]);
    if (rec && rec.prompt_id === promptId && (sample === undefined || rec.sample === sample)) return i;
  }
  return -1;
}
