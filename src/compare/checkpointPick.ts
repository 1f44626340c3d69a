// Checkpoints of the known runs: the quick pick of Compare Checkpoints and Evaluate Checkpoint, and the checkpoint a
// tree node stands for.
import * as vscode from 'vscode';
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { RunLister } from '../rollouts';
import { CheckpointRef } from '../core/compare';
import { runPaths } from '../core/runFormat';
import { visibleControls } from '../core/visibleText';

export type CheckpointItem = vscode.QuickPickItem & { ref: CheckpointRef; hasCheckpoint: boolean };

export function pick(items: CheckpointItem[], title: string): Thenable<CheckpointItem | undefined> {
  return vscode.window.showQuickPick(items, { title, matchOnDescription: true });
}

/**
 * Checkpoints (checkpoints/<step>/ with a config.json) and evaluated steps (evals/<step>/, checkpoint_evals/<step>/)
 * of every known run, newest step first.
 */
export async function listCheckpoints(runs: RunLister, runName: (dir: string) => string): Promise<CheckpointItem[]> {
  const items: CheckpointItem[] = [];
  for (const run of runs()) {
    const steps = async (sub: string, re = /^\d+$/) => {
      try {
        return (await fs.readdir(path.join(run.dir, sub))).filter((n) => re.test(n)).map((n) => parseInt(n, 10));
      } catch {
        return [];
      }
    };
    // a checkpoint folder without config.json is not a model (deleted, or being written)
    const ckpts = new Set((await steps('checkpoints')).filter((s) => existsSync(path.join(runPaths.checkpoint(run.dir, s), 'config.json'))));
    const evals = new Set([...(await steps('evals')), ...(await steps('checkpoint_evals', /^\d+\.json$/))]);
    for (const step of [...new Set([...ckpts, ...evals])].sort((x, y) => y - x)) {
      const label = `${visibleControls(runName(run.dir))} @ ${step}`; // bidi controls of a run name shown, not obeyed
      const notes = [ckpts.has(step) ? 'checkpoint' : 'no checkpoint', evals.has(step) ? 'evaluated' : 'not evaluated'];
      items.push({ label, description: notes.join(' · '), detail: run.dir, ref: { runDir: run.dir, step, label }, hasCheckpoint: ckpts.has(step) });
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
