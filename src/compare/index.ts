// Compare Checkpoints: from the command palette (pick two), from the Runs tree (two selected checkpoint nodes), or
// "Compare with…" on one checkpoint node (pick the other).
import * as vscode from 'vscode';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { CommandHandlers } from '../extension';
import type { RunLister } from '../rollouts';
import { CheckpointRef } from '../core/compare';
import { visibleControls } from '../core/visibleText';
import { ComparePanel } from './comparePanel';
import { EVAL_SCHEME, EvalDocuments } from './evalDocuments';

export function registerCompare(context: vscode.ExtensionContext, runs: RunLister): CommandHandlers {
  context.subscriptions.push(vscode.workspace.registerTextDocumentContentProvider(EVAL_SCHEME, new EvalDocuments()));
  const panels: ComparePanel[] = [];
  context.subscriptions.push({ dispose: () => panels.forEach((p) => p.dispose()) });
  const runName = (dir: string) => runs().find((r) => r.dir === dir)?.name ?? path.basename(dir);

  const open = async (a: CheckpointRef, b: CheckpointRef) => {
    try {
      panels.push(await ComparePanel.open(context.extensionUri, a, b));
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
    const second = await pick(all.filter((c) => c !== first), `Compare ${first.label} with: pick checkpoint B`);
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
  };
}

type CheckpointItem = vscode.QuickPickItem & { ref: CheckpointRef };

function pick(items: CheckpointItem[], title: string): Thenable<CheckpointItem | undefined> {
  return vscode.window.showQuickPick(items, { title, matchOnDescription: true });
}

/** Checkpoints (checkpoints/<step>/) and evaluated steps (evals/<step>/) of every known run, newest step first. */
async function listCheckpoints(runs: RunLister, runName: (dir: string) => string): Promise<CheckpointItem[]> {
  const items: CheckpointItem[] = [];
  for (const run of runs()) {
    const steps = async (sub: string) => {
      try {
        return (await fs.readdir(path.join(run.dir, sub))).filter((n) => /^\d+$/.test(n)).map(Number);
      } catch {
        return [];
      }
    };
    const ckpts = new Set(await steps('checkpoints'));
    const evals = new Set(await steps('evals'));
    for (const step of [...new Set([...ckpts, ...evals])].sort((x, y) => y - x)) {
      const label = `${visibleControls(runName(run.dir))} @ ${step}`; // bidi controls of a run name shown, not obeyed
      const notes = [ckpts.has(step) ? 'checkpoint' : 'no checkpoint', evals.has(step) ? 'evaluated' : 'not evaluated'];
      items.push({ label, description: notes.join(' · '), detail: run.dir, ref: { runDir: run.dir, step, label } });
    }
  }
  return items;
}

/**
 * The checkpoint a tree node stands for. Accepts {runDir, step}, {run: {dir}, checkpoint: {step}}, or anything with a
 * `dir`/`path` (or `checkpoint.dir`) of the form <run>/checkpoints/<step>.
 */
export function checkpointOf(node: unknown, runName: (dir: string) => string): CheckpointRef | undefined {
  if (typeof node !== 'object' || node === null) return undefined;
  const o = node as Record<string, unknown>;
  const sub = (k: string) => (typeof o[k] === 'object' && o[k] !== null ? (o[k] as Record<string, unknown>) : undefined);
  const str = (...xs: unknown[]) => xs.find((x): x is string => typeof x === 'string');
  const int = (...xs: unknown[]) => xs.find((x): x is number => Number.isInteger(x));
  let runDir = str(o.runDir, sub('run')?.dir);
  let step = int(o.step, sub('checkpoint')?.step, sub('entry')?.step);
  const dir = str(sub('checkpoint')?.dir, sub('entry')?.dir, o.dir, o.path, (o.resourceUri as vscode.Uri | undefined)?.fsPath);
  if (dir) {
    const m = /^(.*)[\\/]checkpoints[\\/](\d+)[\\/]?$/.exec(dir);
    if (m) {
      runDir ??= m[1];
      step ??= Number(m[2]);
    }
  }
  if (runDir === undefined || step === undefined) return undefined;
  return { runDir, step, label: `${runName(runDir)} @ ${step}` };
}
