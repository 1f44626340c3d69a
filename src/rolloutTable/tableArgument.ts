// What Open Rollout Table was given (no vscode): a run (a Runs tree node, {runDir}, {runId} from the dashboard) and
// optionally a step (a rollouts node, a chart point) or a query for the table to start with.

/** {runDir | dir | run.dir | runId, step?, query?} from a command argument. */
export function tableArgument(arg: unknown, runDirOf: (runId: string) => string | undefined): { runDir?: string; query?: string } {
  const a = (typeof arg === 'object' && arg !== null ? arg : {}) as Record<string, unknown>;
  const run = a.run as Record<string, unknown> | undefined;
  let runDir = [a.runDir, a.dir, run?.dir].find((x): x is string => typeof x === 'string');
  if (!runDir && typeof a.runId === 'string') runDir = runDirOf(a.runId);
  const query = typeof a.query === 'string' ? a.query : Number.isInteger(a.step) ? `step:${a.step as number}` : undefined;
  return { runDir, query };
}
