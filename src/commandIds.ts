// Every command id of package.json `contributes.commands`, in one place. No `vscode` import: unit tests read it.
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
