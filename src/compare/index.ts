// Compare Checkpoints: from the command palette (pick two), from the Runs tree (two selected checkpoint nodes), or
// "Compare with…" on one checkpoint node (pick the other). Evaluate Checkpoint: palette or a checkpoint node.
import * as vscode from 'vscode';
import * as path from 'node:path';
import type { CommandHandlers } from '../commandIds';
import type { RunLister } from '../rollouts';
import { BenchmarkMeta, CheckpointRef } from '../core/compare';
import { getRunStore } from '../services';
import { ComparePanel, MetaOf } from './comparePanel';
import { EVAL_SCHEME, EvalDocuments } from './evalDocuments';
import { checkpointOf, listCheckpoints, pick } from './checkpointPick';
import { evaluateCheckpoint } from './evaluateCheckpoint';

export { checkpointOf } from './checkpointPick';

/** Digests of a checkpoint's benchmarks as the run store read them (none for a run it does not know). */
const storeMeta: MetaOf = (ref: CheckpointRef) => {
  const out = { trainer: {} as Record<string, { digest?: string }>, checkpoint: {} as Record<string, { digest?: string }> };
  try {
    const run = getRunStore().getByDir(ref.runDir);
    for (const e of run?.evals ?? []) if (e.step === ref.step) for (const [k, b] of Object.entries(e.benchmarks)) out.trainer[k] = { digest: b.digest };
    for (const e of run?.checkpointEvals ?? [])
      if (e.step === ref.step) for (const [k, b] of Object.entries(e.benchmarks)) out.checkpoint[k] = { digest: b.digest };
  } catch {
    // no store yet: pairing falls back to names
  }
  return out as { trainer: BenchmarkMeta; checkpoint: BenchmarkMeta };
};

export function registerCompare(context: vscode.ExtensionContext, runs: RunLister): CommandHandlers {
  const output = vscode.window.createOutputChannel('TRAPO Compare');
  context.subscriptions.push(output, vscode.workspace.registerTextDocumentContentProvider(EVAL_SCHEME, new EvalDocuments()));
  const panels = new Set<ComparePanel>();
  context.subscriptions.push({ dispose: () => panels.forEach((p) => p.dispose()) });
  const runName = (dir: string) => runs().find((r) => r.dir === dir)?.name ?? path.basename(dir);

  const open = async (a: CheckpointRef, b: CheckpointRef) => {
    try {
      const panel = await ComparePanel.open(context, a, b, storeMeta, output);
      panels.add(panel);
      panel.onDidDispose(() => panels.delete(panel));
    } catch (e) {
      void vscode.window.showErrorMessage(`TRAPO: cannot compare ${a.label} and ${b.label}: ${(e as Error).message}`);
    }
  };

  const compareCheckpoints = async (clicked?: unknown, selected?: unknown): Promise<void> => {
    // A tree command gets (clicked node, all selected nodes) when the view allows several.
    const nodes = Array.isArray(selected) ? selected : clicked !== undefined ? [clicked] : [];
    const refs = nodes.map((n) => checkpointOf(n, runName)).filter((r): r is CheckpointRef => r !== undefined);
    if (refs.length >= 2) return open(refs[0], refs[1]);
    if (refs.length === 1) return compareWith(refs[0]);
    const all = await listCheckpoints(runs, runName);
    if (all.length < 2) {
      void vscode.window.showInformationMessage('TRAPO: comparing needs two checkpoints (or evaluated steps); fewer were found.');
      return;
    }
    const first = await pick(all, 'Compare checkpoints: pick checkpoint A');
    if (!first) return;
    const second = await pick(
      all.filter((c) => c !== first),
      `Compare ${first.label} with: pick checkpoint B`,
    );
    if (second) await open(first.ref, second.ref);
  };

  const compareWith = async (a?: unknown): Promise<void> => {
    const ref = a && typeof a === 'object' && 'runDir' in a && 'label' in a ? (a as CheckpointRef) : checkpointOf(a, runName);
    if (!ref) return compareCheckpoints();
    const others = (await listCheckpoints(runs, runName)).filter((c) => !(c.ref.runDir === ref.runDir && c.ref.step === ref.step));
    const other = await pick(others, `Compare ${ref.label} with…`);
    if (other) await open(ref, other.ref);
  };

  return {
    'trapo.compareCheckpoints': compareCheckpoints,
    'trapo.compareWith': compareWith,
    'trapo.evaluateCheckpoint': (node?: unknown) => evaluateCheckpoint(context, runs, runName, output, node),
  };
}
