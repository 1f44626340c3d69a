// The Get Started walkthrough (package.json contributes.walkthroughs, id trapo.gettingStarted): each step completes
// through a context key set here when the user has really done it: a Python that imports the trainer was found or
// made, a run started, the dashboard shown, a rollout opened, two checkpoints compared.
import * as vscode from 'vscode';
import type { RunStore } from './core/runStore';
import { isPanelViewType, isRolloutLocation, walkthroughStepId } from './core/walkthroughSteps';
import { readSettings } from './runs/settings';
import { findTrainerPython } from './runs/python';

/** The context keys of package.json's walkthrough steps (`completionEvents: onContext:<key>`). */
export const WALKTHROUGH_KEYS = {
  setUp: 'trapo.walkthrough.trainerReady',
  startRun: 'trapo.walkthrough.runStarted',
  dashboard: 'trapo.walkthrough.dashboardOpened',
  rollout: 'trapo.walkthrough.rolloutOpened',
  compare: 'trapo.walkthrough.checkpointsCompared',
} as const;
export type WalkthroughStep = keyof typeof WALKTHROUGH_KEYS;

const done = new Set<WalkthroughStep>();
/** `<publisher>.<name>` (package.json), replaced by the running extension's own id at registration. */
let extensionId = 'trapo-lab.trapo';

/** Marks a step done (once per window; VS Code keeps a completed step completed, in the profile). */
export function walkthroughDone(step: WalkthroughStep): void {
  if (done.has(step)) return;
  done.add(step);
  void vscode.commands.executeCommand('setContext', WALKTHROUGH_KEYS[step], true);
  void markStepComplete(step);
}

/**
 * The context key alone is not enough in VS Code 1.100: its walkthroughs service is made only when something first
 * asks for it (the Get Started page, Welcome: Open Walkthrough...), and a step whose `onContext` key is already true
 * when the service registers it is recorded as seen but never completed, nor completed by any later change of that
 * key. So the step is also completed directly, with the workbench's `welcome.markStepComplete` (which makes the
 * service if need be). Right after the service is made our walkthrough may not be registered yet (registration waits
 * up to 5 s on the experiment service) and the command fails: one more try once that wait is over. A VS Code without
 * the command leaves the context key to do it.
 */
async function markStepComplete(step: WalkthroughStep): Promise<void> {
  const id = walkthroughStepId(extensionId, step);
  for (const wait of [0, 6000]) {
    if (wait) await new Promise((resolve) => setTimeout(resolve, wait));
    try {
      await vscode.commands.executeCommand('welcome.markStepComplete', id);
      return;
    } catch {
      // Unknown step (not registered yet) or no such command: try again, then leave it to the context key.
    }
  }
}

/** A webview tab of one of our panels. */
function webviewTabOf(tab: vscode.Tab, viewType: string): boolean {
  return tab.input instanceof vscode.TabInputWebview && isPanelViewType(tab.input.viewType, viewType);
}

export function registerWalkthrough(context: vscode.ExtensionContext, store: RunStore): void {
  if (context.extension?.id) extensionId = context.extension.id;
  const checkTabs = () => {
    for (const group of vscode.window.tabGroups.all) {
      for (const tab of group.tabs) {
        if (webviewTabOf(tab, 'trapo.dashboard')) walkthroughDone('dashboard');
        if (webviewTabOf(tab, 'trapo.compare')) walkthroughDone('compare');
      }
    }
  };
  const checkRuns = () => {
    if (store.runs().some((r) => r.status === 'running')) walkthroughDone('startRun');
  };
  const checkDocument = (doc: vscode.TextDocument) => {
    if (isRolloutLocation(doc.uri)) walkthroughDone('rollout');
  };
  context.subscriptions.push(
    vscode.window.tabGroups.onDidChangeTabs(checkTabs),
    store.onDidChange(checkRuns),
    vscode.workspace.onDidOpenTextDocument(checkDocument),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('trapo.pythonPath')) void probeTrainer(context);
    }),
  );
  checkTabs();
  checkRuns();
  vscode.workspace.textDocuments.forEach(checkDocument);
  // Whether a Python can already import the trainer (a set-up done before, or trapo.pythonPath): a short probe,
  // off the activation path.
  const timer = setTimeout(() => void probeTrainer(context), 1500);
  context.subscriptions.push({ dispose: () => clearTimeout(timer) });
}

async function probeTrainer(context: vscode.ExtensionContext): Promise<void> {
  if (done.has('setUp') || !vscode.workspace.isTrusted) return;
  const cwd = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? context.extensionPath;
  try {
    const { choice } = await findTrainerPython(context, readSettings().pythonPath, vscode.workspace.workspaceFolders?.[0]?.uri, cwd);
    if (choice.ok) walkthroughDone('setUp');
  } catch {
    // No Python answered: the step stays open until the set-up succeeds.
  }
}
