// Runs on Slurm (vscode adapter around src/core/slurm*.ts): the job settings quick pick, the sbatch script shown
// before it is submitted, sbatch, launch.json, the monitor that feeds job states to the run store, Stop by scancel
// and Resume as a new job on the same run directory.
import { existsSync, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { jobOptionsFrom, nextScriptPath, readLaunchInfo, recordJob } from '../core/launchFile';
import { runPaths } from '../core/runFormat';
import { resumeSentence } from '../core/runText';
import type { RunState, RunStore } from '../core/runStore';
import { SlurmClient, SlurmMonitor, describeJobStatus } from '../core/slurm';
import { SlurmJobOptions, activateScriptFor, buildSbatchScript } from '../core/slurmScript';
import { describeSlurmStop, stopSlurmJob, stoppedUnsaved } from '../core/slurmStop';
import { runProcess } from './python';
import { editJobOptions } from './slurmJobPick';
import { readSettings } from './settings';

/** The Slurm client and the job monitor of the window. */
export class SlurmRuns implements vscode.Disposable {
  readonly client = new SlurmClient((command, args) => runProcess(command, args, os.homedir(), 60_000));
  readonly monitor: SlurmMonitor;
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(store: RunStore, output: vscode.OutputChannel) {
    this.monitor = new SlurmMonitor(this.client, store, {
      intervalMs: () => readSettings().slurm.pollIntervalSeconds * 1000,
      onError: (error) => output.appendLine(`[slurm] ${new Date().toISOString()} job states unavailable: ${error}`),
    });
    this.monitor.start();
    // A run with a job whose state is not known yet (just submitted, or a terminal's job found): ask at once.
    let soon: NodeJS.Timeout | undefined;
    const sub = store.onDidChange((change) => {
      if (change.kind === 'removed' || !change.run.job || change.run.job.status !== null || soon) return;
      soon = setTimeout(() => {
        soon = undefined;
        void this.monitor.pollNow();
      }, 200);
    });
    this.subscriptions.push(sub, { dispose: () => soon && clearTimeout(soon) });
  }

  dispose(): void {
    this.monitor.dispose();
    for (const s of this.subscriptions) s.dispose();
  }
}

// ------------------------------------------------------------------------------------------------ submit

export interface SlurmSubmitRequest {
  reason: 'start' | 'resume';
  runId: string;
  runDir: string;
  cwd: string;
  name: string;
  algorithm?: string;
  totalSteps: number | null;
  python: string;
  /** The config of a new run; a resume trains on with the run's own config (run.json). */
  configFile: string | null;
  /** The settings the quick pick starts from. */
  initial: SlurmJobOptions;
}

/** Job settings from launch.json's newest job (Resume), else from the settings. */
export async function initialJobOptions(runDir: string | null): Promise<SlurmJobOptions> {
  const defaults = readSettings().slurm.job;
  if (!runDir) return defaults;
  const launch = await readLaunchInfo(runDir).catch(() => null);
  const last = launch?.jobs[launch.jobs.length - 1];
  return last?.options ? jobOptionsFrom(last.options, defaults) : defaults;
}

/**
 * The quick pick, the script (shown before it is submitted unless trapo.slurm.reviewScript is off), sbatch, launch.json.
 * Resolves when the job is submitted, or when the user cancelled (nothing is left behind then).
 */
export async function submitSlurmRun(slurm: SlurmRuns, store: RunStore, revealRun: (id: string) => Promise<void>, req: SlurmSubmitRequest): Promise<void> {
  const settings = readSettings();
  const verb = req.reason === 'start' ? 'Start' : 'Resume';
  const probe = await runProcess('sbatch', ['--version'], os.homedir(), 30_000);
  if (probe.spawnError) {
    void vscode.window.showErrorMessage(
      `TRAPO: sbatch is not on this machine (${probe.spawnError}). trapo.launcher "slurm" submits from a Slurm login node: open the folder there with Remote - SSH, or set trapo.launcher to python or torchrun.`,
    );
    return;
  }
  const options = await editJobOptions(req.initial, `${verb} ${req.name} on Slurm`, settings.slurm.reviewScript);
  if (!options) return;
  const newRun = req.reason === 'start';
  const launch = newRun ? null : await readLaunchInfo(req.runDir).catch(() => null);
  const rel = nextScriptPath(launch);
  const scriptPath = path.join(req.runDir, rel);
  const built = buildSbatchScript(
    {
      runId: req.runId,
      runName: req.name,
      runDir: req.runDir,
      cwd: req.cwd,
      python: req.python,
      torchrunPath: settings.torchrunPath,
      configFile: req.configFile ?? launch?.config_file ?? undefined,
      options,
      writtenAt: new Date(),
    },
    activateScriptFor(req.python, existsSync),
  );
  if (!built.ok) {
    void vscode.window.showErrorMessage(`TRAPO: ${built.error}`);
    return;
  }
  const cleanUp = async () => {
    await fs.rm(scriptPath, { force: true });
    // A new run's folder holds nothing but the script yet: leave no empty run behind.
    if (newRun && !existsSync(runPaths.runJson(req.runDir)) && !existsSync(runPaths.launch(req.runDir))) {
      await fs.rm(req.runDir, { recursive: true, force: true });
    }
  };
  // logs/ must exist before the job starts: Slurm opens logs/slurm-<job>.out before it runs the script.
  await fs.mkdir(path.join(req.runDir, 'logs'), { recursive: true });
  await fs.mkdir(path.dirname(scriptPath), { recursive: true });
  await fs.writeFile(scriptPath, built.script, { mode: 0o755 });
  if (settings.slurm.reviewScript) {
    const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(scriptPath));
    await vscode.window.showTextDocument(doc, { preview: false });
    const choice = await reviewScript(
      scriptPath,
      `TRAPO: this sbatch script ${newRun ? 'starts' : 'resumes'} ${req.name} (${rel} in the run directory). Edit it if you like, then submit it (also from the editor's title bar).`,
    );
    if (choice !== 'submit') {
      await closeEditorOf(scriptPath);
      await cleanUp();
      void vscode.window.showInformationMessage(`TRAPO: ${verb.toLowerCase()} of ${req.name} cancelled; nothing was submitted.`);
      return;
    }
    if (doc.isDirty) await doc.save();
  }
  const submitted = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `TRAPO: sbatch ${rel}` }, () =>
    slurm.client.submit(scriptPath),
  );
  if (!submitted.ok) {
    await cleanUp();
    void vscode.window
      .showErrorMessage(`TRAPO: sbatch refused the job of ${req.name}: ${submitted.error}`, 'Open Slurm Settings')
      .then((c) => c && vscode.commands.executeCommand('workbench.action.openSettings', 'trapo.slurm'));
    return;
  }
  await recordJob(
    req.runDir,
    { runId: req.runId, name: req.name, algorithm: req.algorithm, configFile: req.configFile, totalSteps: req.totalSteps, now: Date.now() / 1000 },
    { job_id: submitted.jobId, submitted_at: Date.now() / 1000, script: rel, reason: req.reason, options: { ...options } },
  );
  await store.refresh();
  await slurm.monitor.pollNow();
  await revealRun(req.runId);
  const run = store.get(req.runId);
  const state = run?.job?.status ? ` (${describeJobStatus(run.job.status)})` : '';
  void vscode.window.showInformationMessage(`TRAPO: ${req.name} submitted as Slurm job ${submitted.jobId}${state}.`, 'Show Script', 'Show Log').then((c) => {
    if (c === 'Show Script') void vscode.window.showTextDocument(vscode.Uri.file(scriptPath), { preview: true });
    if (c === 'Show Log') void vscode.commands.executeCommand('trapo.showRunLog', { runId: req.runId });
  });
}

// ------------------------------------------------------------------------------------------------ the review

/** Scripts shown for review, waiting for Submit or Cancel: their path -> how to answer. */
const pendingReviews = new Map<string, (choice: 'submit' | 'cancel') => void>();

function updatePendingContext(): void {
  void vscode.commands.executeCommand('setContext', 'trapo.pendingSlurmScripts', [...pendingReviews.keys()]);
}

/**
 * Waits for the user's word on a script open in an editor: Submit or Cancel in the notification, or the Submit to
 * Slurm button of the editor's title bar (the notification hides after a while; the button stays). Closing the
 * script's editor cancels.
 */
function reviewScript(file: string, message: string): Promise<'submit' | 'cancel'> {
  return new Promise((resolve) => {
    const tabs = vscode.window.tabGroups.onDidChangeTabs((e) => {
      const closedOurs = e.closed.some((t) => (t.input as { uri?: vscode.Uri } | undefined)?.uri?.fsPath === file);
      const stillOpen = vscode.window.tabGroups.all.some((g) => g.tabs.some((t) => (t.input as { uri?: vscode.Uri } | undefined)?.uri?.fsPath === file));
      if (closedOurs && !stillOpen) answer('cancel');
    });
    const answer = (choice: 'submit' | 'cancel') => {
      if (!pendingReviews.has(file)) return;
      pendingReviews.delete(file);
      tabs.dispose();
      updatePendingContext();
      resolve(choice);
    };
    pendingReviews.set(file, answer);
    updatePendingContext();
    void vscode.window.showInformationMessage(message, 'Submit to Slurm', 'Cancel').then((c) => {
      // A toast outlives its review when the editor's button or closing the editor answered it (VS Code cannot hide a
      // notification). Its buttons must not answer a later review of the same file (a Resume cancelled, then asked
      // again, writes the same job-N.sbatch), which the user has not seen in this toast.
      if (pendingReviews.get(file) !== answer) {
        if (c) void vscode.window.showInformationMessage(`TRAPO: that notification's review of ${path.basename(file)} was already answered; nothing was done.`);
        return;
      }
      if (c === 'Submit to Slurm') answer('submit');
      else if (c === 'Cancel') answer('cancel');
      // Dismissed: the editor's Submit button (and closing the editor) still answer.
    });
  });
}

/** TRAPO: Submit to Slurm (the editor title button of a script under review). */
export function submitReviewedScript(arg?: unknown): void {
  const uri = arg instanceof vscode.Uri ? arg : vscode.window.activeTextEditor?.document.uri;
  const answer = uri ? pendingReviews.get(uri.fsPath) : undefined;
  if (answer) answer('submit');
  else void vscode.window.showInformationMessage('TRAPO: this file is not an sbatch script waiting to be submitted (Start TRAPO Run writes one).');
}

async function closeEditorOf(file: string): Promise<void> {
  for (const group of vscode.window.tabGroups.all) {
    for (const tab of group.tabs) {
      const input = tab.input as { uri?: vscode.Uri } | undefined;
      if (input?.uri?.fsPath === file) await vscode.window.tabGroups.close(tab);
    }
  }
}

// ------------------------------------------------------------------------------------------------ stop

export async function stopSlurmRun(slurm: SlurmRuns, store: RunStore, run: RunState): Promise<void> {
  const job = run.job;
  if (!job) return;
  const grace = readSettings().stopGracePeriodSeconds;
  const result = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Stopping ${run.info.name} (Slurm job ${job.jobId})` },
    (progress) =>
      stopSlurmJob(slurm.client, {
        jobId: job.jobId,
        // Whether the job still waits is decided on Slurm's fresh answer (the store's may be a poll old).
        trainerStarted: job.trainerStarted,
        status: job.status,
        graceMs: grace * 1000,
        onProgress: (message) => progress.report({ message }),
        stillWorking: () => heartbeatFresh(store.get(run.id)),
      }),
  );
  if (result.final) store.setJobStatus(result.final);
  await store.pollRun(run.id);
  const after = store.get(run.id);
  const written = after?.writtenStatus;
  const resume = after && result.outcome !== 'cancelled-before-start' ? resumeSentence(after) : '';
  const text = `TRAPO: ${run.info.name}: ${describeSlurmStop(result, written)}.${resume ? ` ${resume}` : ''}`;
  if (result.outcome === 'not-delivered' || result.outcome === 'still-running' || stoppedUnsaved(result, written)) void vscode.window.showWarningMessage(text);
  else void vscode.window.showInformationMessage(text);
}

/** The trainer's heartbeat (or any event) is recent: three of its heartbeat periods, at least 30 s. */
function heartbeatFresh(run: RunState | undefined): boolean {
  if (!run) return false;
  const beat = run.lastHeartbeat?.time ?? run.lastEventTime;
  const logging = (run.info.config as { logging?: { heartbeat_s?: unknown } }).logging;
  const period = typeof logging?.heartbeat_s === 'number' ? logging.heartbeat_s : 10;
  return beat !== null && Date.now() / 1000 - beat < Math.max(30, 3 * period);
}

/** The log of a Slurm run whose trainer wrote none yet: the newest job's logs/slurm-<job>.out. */
export function slurmLogOf(run: RunState): string | undefined {
  if (!run.job) return undefined;
  const file = runPaths.slurmLog(run.dir, run.job.jobId);
  return existsSync(file) ? file : undefined;
}
