// The Open Rollout Table command: a run from the argument (a Runs tree node, {runDir}, {runId} from the dashboard) or
// a picker, and optionally a step (a rollouts node, a chart point) whose rows the table starts filtered to.
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { CommandHandlers } from '../commandIds';
import { RunLister, pickRun } from '../rollouts';
import { getRunStore } from '../services';
import { RolloutTablePanel } from './panel';
import { tableArgument } from './tableArgument';

export function registerRolloutTable(context: vscode.ExtensionContext, runs: RunLister): CommandHandlers {
  context.subscriptions.push({ dispose: () => RolloutTablePanel.disposeAll() });
  const store = () => {
    try {
      return getRunStore();
    } catch {
      return undefined;
    }
  };
  return {
    'trapo.openRolloutTable': async (arg?: unknown) => {
      const given = tableArgument(arg, (id) => store()?.get(id)?.dir);
      const runDir = given.runDir ?? (await pickRun(runs, undefined));
      if (!runDir) return;
      const name = runs().find((r) => path.resolve(r.dir) === path.resolve(runDir))?.name ?? path.basename(runDir);
      RolloutTablePanel.show(context, store(), { runDir, name, query: given.query });
    },
  };
}
