// Every command id of package.json `contributes.commands`, in one place, and the type of their handlers (the feature
// modules import it from here, not from extension.ts, which imports them). No `vscode` import: unit tests read it.
export const COMMAND_IDS = [
  'trapo.startRun',
  'trapo.stopRun',
  'trapo.resumeRun',
  'trapo.submitSlurmScript',
  'trapo.openDashboard',
  'trapo.openRollouts',
  'trapo.openRolloutTable',
  'trapo.compareCheckpoints',
  'trapo.setUpTrainerEnvironment',
  'trapo.openRunConfig',
  'trapo.refreshRuns',
  'trapo.revealRunFolder',
  'trapo.deleteRun',
  'trapo.showRunLog',
  'trapo.openPromptRollouts',
  'trapo.openRollout',
  'trapo.nextSample',
  'trapo.previousSample',
  'trapo.nextStep',
  'trapo.previousStep',
  'trapo.compareWith',
  'trapo.evaluateCheckpoint',
] as const;

export type CommandId = (typeof COMMAND_IDS)[number];

/** What a feature module returns to activate(): the handlers of the commands it implements. */
export type CommandHandler = (...args: unknown[]) => unknown;
export type CommandHandlers = Partial<Record<CommandId, CommandHandler>>;
