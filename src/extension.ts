// activate() only wires things together: each feature module returns the command handlers it implements, and every
// command of package.json must have one (test/unit/commands.test.ts activates the extension against a stub).
import * as vscode from 'vscode';
import { COMMAND_IDS, CommandHandlers } from './commandIds';
import { registerRollouts, storeRuns } from './rollouts';
import { registerRolloutTable } from './rolloutTable';
import { registerCompare } from './compare';
import { registerDashboard } from './dashboard/panel';
import { registerRuns, shutdownRuns } from './runs';
import { createRunStore } from './runs/runStoreHost';
import { registerTrees } from './trees';
import { registerWalkthrough } from './walkthrough';

export function activate(context: vscode.ExtensionContext): void {
  // The run store is created once; other features reach it through services.ts (getRunStore, getRunSelection).
  const { store, selection } = createRunStore(context);
  const trees = registerTrees(context, store, selection);
  const handlers: CommandHandlers = {
    ...registerRuns(context, store, selection, trees.revealRun),
    ...trees.handlers,
    ...registerRollouts(context, storeRuns),
    ...registerRolloutTable(context, storeRuns),
    ...registerCompare(context, storeRuns),
    ...registerDashboard(context),
  };
  registerCommands(context, handlers);
  registerWalkthrough(context, store);
}

export function registerCommands(context: vscode.ExtensionContext, handlers: CommandHandlers): void {
  for (const id of COMMAND_IDS) {
    const handler = handlers[id];
    // A programming error, not a user's: activation fails loudly (and the commands test with it).
    if (handler === undefined) throw new Error(`TRAPO: no feature implements the command ${id}`);
    context.subscriptions.push(vscode.commands.registerCommand(id, handler));
  }
}

export function deactivate(): Promise<void> {
  // Features dispose through context.subscriptions; trainers started from this window are stopped here (unless
  // trapo.keepTrainersRunningOnExit), while the extension host still waits for us.
  return shutdownRuns();
}
