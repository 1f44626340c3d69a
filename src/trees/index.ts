// Creates the three tree views, keeps them in step with the run store (throttled refreshes), and lets the run
// selected in the Runs view drive the Prefix Allocation and Benchmarks views.
import * as vscode from 'vscode';
import type { RunStore } from '../core/runStore';
import type { RunSelection } from '../services';
import type { CommandHandlers } from '../commandIds';
import { BenchmarksTreeProvider } from './benchmarksTree';
import { PrefixTreeProvider } from './prefixTree';
import { RunNode, RunsTreeNode, RunsTreeProvider } from './runsTree';

const REFRESH_MS = 250;

export interface Trees {
  runsView: vscode.TreeView<RunsTreeNode>;
  handlers: Pick<CommandHandlers, 'trapo.openPromptRollouts'>;
  /** Reveals and selects a run in the Runs view (e.g. right after starting it). */
  revealRun(runId: string): Promise<void>;
}

export function registerTrees(context: vscode.ExtensionContext, store: RunStore, selection: RunSelection): Trees {
  const runs = new RunsTreeProvider(store);
  const prefix = new PrefixTreeProvider(store, selection);
  const benchmarks = new BenchmarksTreeProvider(store, selection);
  const runsView = vscode.window.createTreeView('trapo.runs', { treeDataProvider: runs, showCollapseAll: true, canSelectMany: true }); // two checkpoints: Compare
  const prefixView = vscode.window.createTreeView('trapo.prefixAllocation', { treeDataProvider: prefix });
  const benchmarksView = vscode.window.createTreeView('trapo.benchmarks', { treeDataProvider: benchmarks });
  context.subscriptions.push(runs, prefix, benchmarks, runsView, prefixView, benchmarksView);

  const updateMessages = () => {
    prefixView.message = prefix.message();
    benchmarksView.message = benchmarks.message();
  };

  // Throttle: a live run changes every few hundred ms; a large file being read changes per slice.
  let pending: NodeJS.Timeout | undefined;
  let selectedDirty = false;
  const schedule = (selectedChanged: boolean) => {
    selectedDirty ||= selectedChanged;
    if (pending) return;
    pending = setTimeout(() => {
      pending = undefined;
      runs.refresh();
      if (selectedDirty) {
        prefix.refresh();
        benchmarks.refresh();
        updateMessages();
        selectedDirty = false;
      }
    }, REFRESH_MS);
  };
  context.subscriptions.push({ dispose: () => pending && clearTimeout(pending) });

  /**
   * Until the user picks a run, the newest running run (else the newest run) drives the other views, re-chosen as
   * runs appear, start and end. A run the user picked stays selected while it exists.
   */
  let userChose = false;
  const ensureSelection = () => {
    const current = selection.runId;
    if (userChose && current !== undefined && store.get(current)) return;
    userChose = false;
    const all = store.runs();
    selection.set((all.find((r) => r.status === 'running') ?? all[0])?.id);
  };

  context.subscriptions.push(
    store.onDidChange((change) => {
      if (change.kind !== 'updated' || change.statusChange) ensureSelection();
      const id = change.kind === 'removed' ? change.id : change.run.id;
      schedule(id === selection.runId);
    }),
    store.onDidChangeInvalidRuns(() => schedule(false)),
    selection.onDidChange(() => {
      prefix.refresh();
      benchmarks.refresh();
      updateMessages();
    }),
    runsView.onDidChangeSelection((e) => {
      const node = e.selection[0] as { runId?: string } | undefined;
      if (node?.runId) {
        userChose = true;
        selection.set(node.runId);
      }
    }),
  );
  ensureSelection();
  updateMessages();

  return {
    runsView,
    handlers: {
      // The command of a prompt node (arguments: run id, step, prompt id).
      'trapo.openPromptRollouts': async (runId: unknown, step: unknown, promptId: unknown) => {
        const run = typeof runId === 'string' ? store.get(runId) : undefined;
        if (!run || typeof step !== 'number' || typeof promptId !== 'string') {
          void vscode.window.showWarningMessage('TRAPO: Open Prompt Rollouts needs a prompt of the Prefix Allocation view.');
          return;
        }
        // The rollouts feature opens the prompt's first sample as a rollout document.
        await vscode.commands.executeCommand('trapo.openRollout', { runDir: run.dir, step, promptId, sample: 0 });
      },
    },
    async revealRun(runId: string) {
      const run = store.get(runId);
      if (!run) return;
      userChose = true;
      selection.set(runId);
      try {
        await runsView.reveal(new RunNode(run), { select: true, focus: false });
      } catch {
        // The view is hidden: the selection still drives the other views.
      }
    },
  };
}
