// Rollouts in the editor: Open Rollouts (run → step → filter), trapo.openRollout (for the trees), and navigation to
// the next/previous sample of a group and to the same prompt at the next/previous step.
import * as vscode from 'vscode';
import * as path from 'node:path';
import type { CommandHandlers } from '../commandIds';
import { filterRollouts, parseRolloutQuery, RolloutIndex } from '../core/rolloutIndex';
import { runPaths } from '../core/runFormat';
import { oneLineVisible, visibleControls } from '../core/visibleText';
import { getRunStore } from '../services';
import { RolloutDocuments, rolloutSteps } from './rolloutDocuments';
import { ROLLOUT_SCHEME, RolloutRef, parseRolloutUri, rolloutUri, toRolloutRef } from './rolloutUri';

/** The runs the extension knows (from the run store), for the run picker and tab titles. */
export type RunLister = () => readonly { dir: string; name: string }[];

const MAX_PICK_ITEMS = 2000;

/** The runs of the shared run store (none before it exists). */
export const storeRuns: RunLister = () => {
  try {
    return getRunStore()
      .runs()
      .map((r) => ({ dir: r.dir, name: r.info.name }));
  } catch {
    return [];
  }
};

export function registerRollouts(context: vscode.ExtensionContext, runs: RunLister): CommandHandlers {
  const runName = (dir: string) => runs().find((r) => r.dir === dir)?.name ?? path.basename(dir);
  const docs = new RolloutDocuments(runName);
  context.subscriptions.push(
    docs,
    vscode.workspace.registerTextDocumentContentProvider(ROLLOUT_SCHEME, docs),
    vscode.languages.registerHoverProvider({ scheme: ROLLOUT_SCHEME }, docs),
  );

  const open = async (ref: RolloutRef) => {
    const doc = await vscode.workspace.openTextDocument(rolloutUri(ref, runName(ref.runDir)));
    const editor = await vscode.window.showTextDocument(doc, { preview: true });
    docs.decorate(editor);
  };

  const current = (): RolloutRef | undefined => {
    const uri = vscode.window.activeTextEditor?.document.uri;
    if (uri?.scheme === ROLLOUT_SCHEME) return parseRolloutUri(uri);
    void vscode.window.showInformationMessage('TRAPO: open a rollout first (TRAPO: Open Rollouts).');
    return undefined;
  };

  const moveSample = async (delta: 1 | -1) => {
    const ref = current();
    if (!ref) return;
    const index = await docs.indexes.get(runPaths.rollouts(ref.runDir, ref.step));
    const group = index.group(ref.promptId).map((k) => index.summary(k).sample);
    const next = group[group.indexOf(ref.sample) + delta];
    if (next === undefined) {
      void vscode.window.showInformationMessage(`TRAPO: no ${delta > 0 ? 'later' : 'earlier'} sample in this group (${group.length} samples).`);
      return;
    }
    await open({ ...ref, sample: next });
  };

  const moveStep = async (delta: 1 | -1) => {
    const ref = current();
    if (!ref) return;
    const steps = await rolloutSteps(ref.runDir);
    const ordered = delta > 0 ? steps.filter((s) => s > ref.step) : steps.filter((s) => s < ref.step).reverse();
    // The same prompt is not drawn at every step: look on until a step has it.
    for (const step of ordered) {
      let index: RolloutIndex;
      try {
        index = await docs.indexes.get(runPaths.rollouts(ref.runDir, step));
      } catch {
        continue;
      }
      const group = index.group(ref.promptId);
      if (group.length === 0) continue;
      const sample = index.find(ref.promptId, ref.sample) !== -1 ? ref.sample : index.summary(group[0]).sample;
      await open({ ...ref, step, sample });
      return;
    }
    void vscode.window.showInformationMessage(`TRAPO: prompt ${ref.promptId} has no rollouts at an ${delta > 0 ? 'later' : 'earlier'} step.`);
  };

  const openRollouts = async (arg?: unknown) => {
    const runDir = await pickRun(runs, arg);
    if (!runDir) return;
    const steps = await rolloutSteps(runDir);
    // A rollouts node of the Runs tree (or {runDir, step}) names its step: go straight to the rollouts.
    const given = typeof arg === 'object' && arg !== null ? (arg as Record<string, unknown>).step : undefined;
    if (typeof given === 'number' && steps.includes(given)) {
      const index = await docs.indexes.get(runPaths.rollouts(runDir, given));
      const ref = await pickRollout(index, runName(runDir), given);
      if (ref) await open({ runDir, step: given, ...ref });
      return;
    }
    if (steps.length === 0) {
      void vscode.window.showInformationMessage(`TRAPO: ${runName(runDir)} has no rollouts yet (${path.join(runDir, 'rollouts')}).`);
      return;
    }
    const stepPick = await vscode.window.showQuickPick(
      steps
        .slice()
        .reverse()
        .map((s) => ({ label: `step ${s}`, step: s })),
      { title: `Rollouts of ${visibleControls(runName(runDir))}: pick a step`, placeHolder: 'Step (newest first)' },
    );
    if (!stepPick) return;
    const index = await docs.indexes.get(runPaths.rollouts(runDir, stepPick.step));
    const ref = await pickRollout(index, runName(runDir), stepPick.step);
    if (ref) await open({ runDir, step: stepPick.step, ...ref });
  };

  const openRollout = async (arg?: unknown) => {
    let ref: RolloutRef;
    try {
      ref = toRolloutRef(arg);
    } catch (e) {
      void vscode.window.showErrorMessage(`TRAPO: ${(e as Error).message}`);
      return;
    }
    await open(ref);
  };

  return {
    'trapo.openRollouts': openRollouts,
    'trapo.openRollout': openRollout,
    'trapo.nextSample': () => moveSample(1),
    'trapo.previousSample': () => moveSample(-1),
    'trapo.nextStep': () => moveStep(1),
    'trapo.previousStep': () => moveStep(-1),
  };
}

/** A run directory from the argument (a tree node or {runDir}) or a picker (skipped when there is one run). */
export async function pickRun(runs: RunLister, arg: unknown): Promise<string | undefined> {
  const a = (typeof arg === 'object' && arg !== null ? arg : {}) as Record<string, unknown>;
  const fromArg = [a.runDir, a.dir, (a.run as Record<string, unknown> | undefined)?.dir].find((x): x is string => typeof x === 'string');
  if (fromArg) return fromArg;
  const list = runs();
  if (list.length === 0) {
    void vscode.window.showInformationMessage('TRAPO: no runs found. Start one (TRAPO: Start TRAPO Run) or add a runs folder (setting trapo.runsRoots).');
    return undefined;
  }
  if (list.length === 1) return list[0].dir;
  const pick = await vscode.window.showQuickPick(
    list.map((r) => ({ label: visibleControls(r.name), description: r.dir, dir: r.dir })),
    { title: 'Open Rollouts: pick a run' },
  );
  return pick?.dir;
}

type RolloutItem = vscode.QuickPickItem & { promptId: string; sample: number };

/** Lists the rollouts of one step; the typed text filters (level:2, reward:1, reward:>0, words of the prompt). */
function pickRollout(index: RolloutIndex, name: string, step: number): Promise<{ promptId: string; sample: number } | undefined> {
  // Everything shown comes from the run: bidirectional controls are shown as markers (an override would reverse the
  // text), line breaks (U+2028 and U+2029 too) as spaces.
  const runName = visibleControls(name);
  const qp = vscode.window.createQuickPick<RolloutItem>();
  qp.title = `${runName} · step ${step}: ${index.count} rollouts`;
  qp.placeholder = 'Filter: level:1,2  reward:>0  advantage:<0  length:>=80  id:p0012  and words of the prompt';
  qp.matchOnDescription = false;
  const skipped = index.skipped + (index.tornTailBytes > 0 ? 1 : 0);
  const refresh = () => {
    const { matches, total } = filterRollouts(index, parseRolloutQuery(qp.value), MAX_PICK_ITEMS);
    qp.items = matches.map((k) => {
      const s = index.summary(k);
      return {
        label: `${oneLineVisible(s.promptId)} · sample ${s.sample}`,
        description: `level ${s.level} · stage ${s.stage} · reward ${s.reward}`,
        detail: oneLineVisible(index.promptText(k)),
        alwaysShow: true, // the filtering is ours, not the picker's fuzzy match
        promptId: s.promptId,
        sample: s.sample,
      };
    });
    const more = total > matches.length ? ` (showing ${matches.length}; narrow the filter)` : '';
    const bad = skipped ? ` · ${skipped} unreadable line${skipped > 1 ? 's' : ''} skipped` : '';
    qp.title = `${runName} · step ${step}: ${total} of ${index.count} rollouts${more}${bad}`;
  };
  refresh();
  return new Promise((resolve) => {
    qp.onDidChangeValue(refresh);
    qp.onDidAccept(() => {
      const item = qp.selectedItems[0];
      resolve(item && { promptId: item.promptId, sample: item.sample });
      qp.hide();
    });
    qp.onDidHide(() => {
      resolve(undefined);
      qp.dispose();
    });
    qp.show();
  });
}
