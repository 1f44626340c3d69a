// The runs feature: run manager, start/stop/resume, environment set-up, status bar and crash notifications.
// Returns the command handlers it implements; activate() registers them.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { RunState, RunStore } from '../core/runStore';
import { runPaths } from '../core/runFormat';
import { describeStop } from '../core/stopProcess';
import { visibleControls } from '../core/visibleText';
import { resumeSentence, resumeText } from '../core/runText';
import type { CommandHandlers } from '../commandIds';
import { registerConfigLanguage } from '../config/configLanguage';
import type { RunSelection } from '../services';
import { registerRunNotifications } from './notifications';
import { RunManager } from './runManager';
import { readSettings } from './settings';
import { setUpTrainerEnvironment } from './setupEnvironment';
import { SlurmRuns, slurmLogOf, stopSlurmRun, submitReviewedScript } from './slurmLauncher';
import { StartDeps, resumeRun, startRun } from './startRun';
import { registerStatusBar } from './statusBar';

let manager: RunManager | undefined;

export function registerRuns(
  context: vscode.ExtensionContext,
  store: RunStore,
  selection: RunSelection,
  revealRun: (runId: string) => Promise<void>,
): CommandHandlers {
  manager = new RunManager(() => readSettings().stopGracePeriodSeconds);
  const diagnostics = vscode.languages.createDiagnosticCollection('trapo');
  const setupOutput = vscode.window.createOutputChannel('TRAPO Setup');
  const logOutput = vscode.window.createOutputChannel('TRAPO Run Log');
  const slurmOutput = vscode.window.createOutputChannel('TRAPO Slurm');
  const slurm = new SlurmRuns(store, slurmOutput);
  context.subscriptions.push(manager, diagnostics, setupOutput, logOutput, slurmOutput, slurm);
  registerStatusBar(context, store, selection);
  registerRunNotifications(context, store);
  // Completion, hover and live diagnostics in *.trapo.* files share the collection with a start's problems.
  const configProblems = registerConfigLanguage(context, diagnostics);
  const deps: StartDeps = { context, store, manager, configProblems, revealRun, slurm };
  const m = manager;

  /** The run an argument names (tree node, {runId}, id string), else the selected run if it fits, else a pick. */
  const resolveRun = async (arg: unknown, fits: (r: RunState) => boolean, what: string): Promise<RunState | undefined> => {
    const id = runIdOf(arg);
    if (id !== undefined) {
      const run = store.get(id);
      if (!run) void vscode.window.showWarningMessage(`TRAPO: run ${id} is not in the runs roots any more.`);
      return run;
    }
    const candidates = store.runs().filter(fits);
    const selected = selection.runId !== undefined ? store.get(selection.runId) : undefined;
    if (selected && fits(selected)) return selected;
    if (candidates.length === 0) {
      void vscode.window.showInformationMessage(`TRAPO: no run to ${what}.`);
      return undefined;
    }
    if (candidates.length === 1) return candidates[0];
    const picked = await vscode.window.showQuickPick(
      candidates.map((r) => ({
        label: visibleControls(r.info.name),
        description: [r.status, what === 'resume' ? resumeText(r) : undefined, r.id]
          .filter(Boolean)
          .map((x) => visibleControls(x!))
          .join(' · '),
        run: r,
      })),
      { title: `TRAPO: run to ${what}` },
    );
    return picked?.run;
  };

  return {
    'trapo.startRun': (arg?: unknown) => startRun(deps, arg),
    'trapo.stopRun': async (arg?: unknown) => {
      const run = await resolveRun(arg, (r) => r.status === 'running' || m.isManaged(r.id), 'stop');
      if (!run) return;
      // A run on Slurm: scancel (--signal=INT first), whichever host its trainer runs on.
      if (run.job && !m.isManaged(run.id)) return stopSlurmRun(slurm, store, run);
      const grace = readSettings().stopGracePeriodSeconds;
      const result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Stopping ${run.info.name}`, cancellable: true },
        (progress, token) => {
          progress.report({
            message: `the trainer drops the work in progress and saves its last finished step (SIGTERM only if its heartbeat stops; Cancel stops it at once, without saving)`,
          });
          const now = new Promise<void>((resolve) => token.onCancellationRequested(() => resolve()));
          // The trainer's sign of life: when the run store last read new events (heartbeats every few seconds).
          const signOfLife = () => {
            const seen = store.get(run.id)?.lastSeenAlive;
            return seen === null || seen === undefined ? null : seen * 1000;
          };
          // A trainer is quiet between heartbeats: never call it silent before three of them were missed.
          const beat = (run.info.config as { logging?: { heartbeat_s?: unknown } }).logging?.heartbeat_s;
          const quietMs = Math.max(grace, typeof beat === 'number' && beat > 0 ? 3 * beat : 0) * 1000;
          return m.stop(run, { signOfLife, now, quietMs });
        },
      );
      await store.pollRun(run.id);
      if (result.kind === 'refused') {
        void vscode.window.showWarningMessage(`TRAPO: cannot stop ${run.info.name}: ${result.reason}.`);
        return;
      }
      const after = store.get(run.id);
      const resume = after ? ` ${resumeSentence(after)}` : '';
      void vscode.window.showInformationMessage(`TRAPO: ${run.info.name}: ${describeStop(result.outcome)}.${resume}`);
    },
    'trapo.resumeRun': async (arg?: unknown) => {
      const run = await resolveRun(arg, (r) => r.status !== 'running' && r.status !== 'finished', 'resume');
      if (run) await resumeRun(deps, run);
    },
    'trapo.submitSlurmScript': (arg?: unknown) => submitReviewedScript(arg),
    'trapo.setUpTrainerEnvironment': (kind?: unknown) => setUpTrainerEnvironment(context, setupOutput, kind === 'torch' || kind === 'vllm' ? kind : undefined),
    'trapo.refreshRuns': () => store.refresh(),
    'trapo.openRunConfig': async (arg?: unknown) => {
      const run = await resolveRun(arg, () => true, 'show the config of');
      if (!run) return;
      const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(runPaths.runJson(run.dir)));
      const line = Math.max(
        0,
        doc
          .getText()
          .split('\n')
          .findIndex((l) => /^\s*"config"\s*:/.test(l)),
      );
      const pos = new vscode.Position(line, 0);
      await vscode.window.showTextDocument(doc, { preview: true, selection: new vscode.Range(pos, pos) });
    },
    'trapo.showRunLog': async (arg?: unknown) => {
      const run = await resolveRun(arg, () => true, 'show the log of');
      if (!run) return;
      const log = runPaths.log(run.dir);
      try {
        await fs.access(log);
        const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(log));
        const last = new vscode.Position(Math.max(0, doc.lineCount - 1), 0);
        await vscode.window.showTextDocument(doc, { preview: true, selection: new vscode.Range(last, last) });
        return;
      } catch {
        // No trainer.log: a run started outside VS Code logs where it was started. Show its log events instead.
      }
      // A Slurm job that has not started its trainer yet (or failed before it did) has only Slurm's own log.
      const slurmLog = slurmLogOf(run);
      if (slurmLog) {
        await vscode.window.showTextDocument(vscode.Uri.file(slurmLog), { preview: true });
        return;
      }
      logOutput.clear();
      logOutput.appendLine(`${log} does not exist (a run started outside VS Code logs where it was started).`);
      logOutput.appendLine(`Log events of ${run.id} from events.jsonl:`);
      for (const e of run.logs) logOutput.appendLine(`${new Date(e.time * 1000).toISOString()} ${e.level.padEnd(7)} ${e.message}`);
      if (run.finished?.error) logOutput.appendLine(run.finished.error.traceback);
      logOutput.show(true);
    },
    'trapo.revealRunFolder': async (arg?: unknown) => {
      const run = await resolveRun(arg, () => true, 'reveal');
      if (run) await vscode.commands.executeCommand('revealFileInOS', vscode.Uri.file(run.dir));
    },
    'trapo.deleteRun': async (arg?: unknown) => {
      const run = await resolveRun(arg, (r) => r.status !== 'running', 'delete');
      if (!run) return;
      if (run.status === 'running' || m.isManaged(run.id)) {
        void vscode.window.showWarningMessage(`TRAPO: ${run.info.name} is running: stop it before deleting it.`);
        return;
      }
      const choice = await vscode.window.showWarningMessage(
        `Delete the run ${run.info.name} (${run.id})?`,
        { modal: true, detail: `The folder ${run.dir} and everything in it (checkpoints, rollouts, evaluations, logs) is deleted. This cannot be undone.` },
        'Delete',
      );
      if (choice !== 'Delete') return;
      if (path.basename(run.dir) !== run.id && !(await isRunDir(run.dir))) return;
      await fs.rm(run.dir, { recursive: true, force: true });
      await store.refresh();
    },
  };
}

async function isRunDir(dir: string): Promise<boolean> {
  try {
    await fs.access(runPaths.runJson(dir));
    return true;
  } catch {
    return false;
  }
}

/** The run id in a command argument: an id string, a tree node with `runId`, or an object with `id`/`run.id`. */
export function runIdOf(arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg;
  if (typeof arg === 'object' && arg !== null) {
    const o = arg as { runId?: unknown; run?: { id?: unknown } };
    if (typeof o.runId === 'string') return o.runId;
    if (typeof o.run?.id === 'string') return o.run.id;
  }
  return undefined;
}

/** On deactivate: stop the trainers this window started, unless the user chose to let them run on. */
export async function shutdownRuns(): Promise<void> {
  if (!manager) return;
  await manager.shutdown(readSettings().keepTrainersRunningOnExit);
}
