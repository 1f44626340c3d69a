// Read-only documents of one checkpoint's evaluation of one problem (trapo-eval:), the two sides of a diff.
import * as vscode from 'vscode';
import { CheckpointRef, evalRecordText, findEvalRecord } from '../core/compare';

export const EVAL_SCHEME = 'trapo-eval';

/** `file`: the records' file relative to the run (Evaluate Checkpoint's live in checkpoint_evals/). */
export function evalUri(ref: CheckpointRef, benchmark: string, problemId: string, file?: string): vscode.Uri {
  const query = new URLSearchParams({ run: ref.runDir, step: String(ref.step), label: ref.label, benchmark, problem: problemId });
  if (file) query.set('file', file);
  const safe = (s: string) => s.replace(/[/\\?#]/g, '_');
  return vscode.Uri.from({ scheme: EVAL_SCHEME, path: `/${safe(ref.label)}/${safe(benchmark)}/${safe(problemId)}`, query: query.toString() });
}

export class EvalDocuments implements vscode.TextDocumentContentProvider {
  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const q = new URLSearchParams(uri.query);
    const runDir = q.get('run');
    const step = Number(q.get('step'));
    const benchmark = q.get('benchmark');
    const problem = q.get('problem');
    const label = q.get('label') ?? '';
    if (!runDir || !benchmark || problem === null || !Number.isInteger(step)) return `Not an evaluation URI: ${uri.toString()}\n`;
    try {
      return evalRecordText(await findEvalRecord(runDir, step, benchmark, problem, q.get('file') ?? undefined), label, benchmark, problem);
    } catch (e) {
      return `Cannot read the evaluation of ${benchmark} at step ${step}: ${(e as Error).message}\n`;
    }
  }
}
