// "Start TRAPO Run" and "Resume Run": pick a config (or create one from a template), validate it with the trainer's
// schema and the trainer itself, find Python, spawn under the first runs root, and follow the start with progress.
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { ValidateFunction } from 'ajv';
import { ConfigProblem, formatProblems, loadConfigSchema, validateConfigFile, validateWithTrainer } from '../core/configValidation';
import type { ConfigProblemReporter } from '../config/configLanguage';
import { trainerExitMessage } from '../core/exitMessage';
import { buildLaunch, configEngine, makeRunId, runNameFromConfigFile } from '../core/launch';
import type { RunState, RunStore } from '../core/runStore';
import { ConfigTemplate, DEMO_FALLBACK, REAL_MODEL_TEMPLATE, TEMPLATES, freeFileName } from '../core/templates';
import { describeFailedChoice, findTrainerPython, runProcess } from './python';
import { RunManager, SpawnRequest } from './runManager';
import { readSettings, runsRootFor } from './settings';
import { walkthroughDone } from '../walkthrough';
import { SlurmRuns, initialJobOptions, submitSlurmRun } from './slurmLauncher';

export interface StartDeps {
  context: vscode.ExtensionContext;
  store: RunStore;
  manager: RunManager;
  /** Puts a config's problems on their keys in the Problems view (src/config/configLanguage.ts). */
  configProblems: ConfigProblemReporter;
  revealRun(runId: string): Promise<void>;
  /** Runs on Slurm (trapo.launcher: slurm). */
  slurm?: SlurmRuns;
}

/** The one naming rule of config files (src/config/configLanguage.ts, package.json's activation use it too). */
export const CONFIG_GLOB = '**/*.trapo.{yaml,yml,json}';
const CONFIG_EXCLUDE = '**/{node_modules,.venv,.git,runs}/**';

let schemaPromise: Promise<ValidateFunction> | undefined;

/** The trainer's config schema, shipped inside the extension (trainer/trapo/schemas/config.schema.json). */
export function configSchema(context: vscode.ExtensionContext): Promise<ValidateFunction> {
  schemaPromise ??= loadConfigSchema(path.join(context.extensionPath, 'trainer', 'trapo', 'schemas', 'config.schema.json'));
  schemaPromise.catch(() => (schemaPromise = undefined));
  return schemaPromise;
}

export function refuseUntrusted(): boolean {
  if (vscode.workspace.isTrusted) return false;
  void vscode.window
    .showWarningMessage('TRAPO: this workspace is not trusted, so no trainer is started. Runs can still be viewed.', 'Manage Workspace Trust')
    .then((c) => c && vscode.commands.executeCommand('workbench.trust.manage'));
  return true;
}

// ------------------------------------------------------------------------------------------------ start

export async function startRun(deps: StartDeps, arg?: unknown): Promise<void> {
  if (refuseUntrusted()) return;
  const configUri = arg instanceof vscode.Uri ? arg : isDemoRequest(arg) ? await demoConfig(deps.context) : await pickConfig(deps.context);
  if (!configUri) return;
  const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === configUri.toString());
  if (doc?.isDirty) await doc.save();
  const file = configUri.fsPath;
  const folder = vscode.workspace.getWorkspaceFolder(configUri);
  const cwd = folder?.uri.fsPath ?? path.dirname(file);

  // 1. The schema, in process: fast, names the key.
  let validate: ValidateFunction;
  try {
    validate = await configSchema(deps.context);
  } catch (err) {
    void vscode.window.showErrorMessage(`TRAPO: ${(err as Error).message}`);
    return;
  }
  const check = await validateConfigFile(file, validate);
  if (!check.ok) {
    await reportConfigProblems(deps.configProblems, configUri, check.problems);
    return;
  }
  deps.configProblems.report(configUri, '', []);

  // 2. Python that can import the trainer, and the trainer's own check of the config.
  const settings = readSettings();
  const found = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Window, title: 'TRAPO: checking the config with the trainer' },
    async () => {
      const engine = configEngine(check.config);
      const { choice } = await findTrainerPython(deps.context, settings.pythonPath, configUri, cwd, engine);
      if (!choice.ok) return { choice, problems: [] as ConfigProblem[] };
      return { choice, problems: await validateWithTrainer(choice.python.path, file, cwd, runProcess) };
    },
  );
  if (!found.choice.ok) {
    offerSetUp(describeFailedChoice(found.choice), configEngine(check.config));
    return;
  }
  walkthroughDone('setUp');
  if (found.problems.length) {
    await reportConfigProblems(deps.configProblems, configUri, found.problems);
    return;
  }

  // 3. A fresh run directory under the first runs root.
  const root = runsRootFor(folder, settings.runsRoots);
  if (!root) {
    void vscode.window.showErrorMessage('TRAPO: open a folder first: runs are written under a runs root of the workspace.');
    return;
  }
  const configName = check.config.name;
  const name = typeof configName === 'string' && configName.trim() ? configName.trim() : runNameFromConfigFile(file);
  const runId = makeRunId(name, new Date(), randomBytes(2).toString('hex'));
  const runDir = path.join(root, runId);
  if (settings.launcher === 'slurm') {
    if (!deps.slurm) return;
    const steps = (check.config.train as { steps?: unknown } | undefined)?.steps;
    await submitSlurmRun(deps.slurm, deps.store, deps.revealRun, {
      reason: 'start',
      runId,
      runDir,
      cwd,
      name,
      algorithm: typeof check.config.algorithm === 'string' ? check.config.algorithm : 'trapo',
      totalSteps: Number.isInteger(steps) ? (steps as number) : null,
      python: found.choice.python.path,
      configFile: file,
      initial: await initialJobOptions(null),
    });
    return;
  }
  const launch = buildLaunch({
    workspaceTrusted: vscode.workspace.isTrusted,
    python: found.choice.python.path,
    launcher: settings.launcher,
    torchrunPath: settings.torchrunPath,
    processesPerNode: settings.processesPerNode,
    configFile: file,
    runDir,
  });
  if (!launch.ok) {
    void vscode.window.showErrorMessage(`TRAPO: ${launch.error}`);
    return;
  }
  await spawnAndFollow(deps, { runId, runDir, cwd, launch: launch.launch, reason: 'start' });
}

// ------------------------------------------------------------------------------------------------ resume

export async function resumeRun(deps: StartDeps, run: RunState): Promise<void> {
  if (refuseUntrusted()) return;
  if (run.status === 'running') {
    void vscode.window.showInformationMessage(`TRAPO: ${run.info.name} is still running.`);
    return;
  }
  if (deps.manager.isManaged(run.id)) {
    // run.json already says it ended (stopped, finished, failed): the trainer's process is on its way out (saving,
    // leaving torch). Wait for it rather than refusing a Resume clicked in that moment.
    const gone = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `TRAPO: waiting for ${run.info.name}'s trainer to exit` },
      () => deps.manager.waitForExit(run.id, 60_000),
    );
    if (!gone) {
      void vscode.window.showWarningMessage(
        `TRAPO: ${run.info.name}'s trainer process has not exited 60 s after its run ended; stop it (TRAPO: Stop Run), then resume.`,
      );
      return;
    }
  }
  await deps.store.pollRun(run.id); // the checkpoints on disk now: the trainer picks the newest with trainer state
  if ((deps.store.get(run.id) ?? run).resumeStep === null) {
    const go = await vscode.window.showWarningMessage(
      `TRAPO: ${run.info.name} has no checkpoint with trainer state yet: resuming starts it again from step 0 in the same folder.`,
      'Resume Anyway',
    );
    if (go !== 'Resume Anyway') return;
  }
  const folder = vscode.workspace.getWorkspaceFolder(vscode.Uri.file(run.dir));
  const cwd = folder?.uri.fsPath ?? vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? path.dirname(run.dir);
  const settings = readSettings();
  const engine = configEngine(run.info.config);
  const { choice } = await findTrainerPython(deps.context, settings.pythonPath, vscode.Uri.file(run.dir), cwd, engine);
  if (!choice.ok) {
    offerSetUp(describeFailedChoice(choice), engine);
    return;
  }
  // A run started on Slurm resumes on Slurm (a new job on the same run directory), as does any run when the
  // launcher setting says slurm.
  if (run.job || settings.launcher === 'slurm') {
    if (!deps.slurm) return;
    await submitSlurmRun(deps.slurm, deps.store, deps.revealRun, {
      reason: 'resume',
      runId: run.id,
      runDir: run.dir,
      cwd,
      name: run.info.name,
      algorithm: run.info.algorithm,
      totalSteps: run.totalSteps,
      python: choice.python.path,
      configFile: null,
      initial: await initialJobOptions(run.dir),
    });
    return;
  }
  const launch = buildLaunch({
    workspaceTrusted: vscode.workspace.isTrusted,
    python: choice.python.path,
    launcher: settings.launcher,
    torchrunPath: settings.torchrunPath,
    processesPerNode: settings.processesPerNode,
    // No --config: the trainer resumes with the run's own resolved config (run.json).
    runDir: run.dir,
    resume: true,
  });
  if (!launch.ok) {
    void vscode.window.showErrorMessage(`TRAPO: ${launch.error}`);
    return;
  }
  await spawnAndFollow(deps, { runId: run.id, runDir: run.dir, cwd, launch: launch.launch, reason: 'resume' });
}

// ------------------------------------------------------------------------------------------------ spawning

/** Spawns and shows progress until the trainer has (re)written run.json with its pid, or exits, or is cancelled. */
async function spawnAndFollow(deps: StartDeps, req: SpawnRequest): Promise<void> {
  let child;
  try {
    child = deps.manager.spawn(req);
  } catch (err) {
    void vscode.window.showErrorMessage(`TRAPO: ${(err as Error).message}`);
    return;
  }
  let exit: { code: number | null; lastLines: string[] } | undefined;
  const exitSub = deps.manager.onDidExit((e) => {
    if (e.runId === req.runId) exit = e;
  });
  const title = req.reason === 'start' ? `Starting TRAPO run ${req.runId}` : `Resuming TRAPO run ${req.runId}`;
  const outcome = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, async (progress, token) => {
    for (;;) {
      if (token.isCancellationRequested) {
        const run = deps.store.get(req.runId);
        await deps.manager.stop(run ?? { id: req.runId, info: { pid: child.pid ?? null, host: '' } as RunState['info'] });
        return 'cancelled' as const;
      }
      if (exit) return 'exited' as const;
      await deps.store.refresh();
      const run = deps.store.get(req.runId);
      if (run && run.info.pid === child.pid && run.status === 'running') return 'running' as const;
      const last = deps.manager.lastLine(req.runId);
      if (last) progress.report({ message: last.slice(0, 120) });
      await new Promise((r) => setTimeout(r, 500));
    }
  });
  exitSub.dispose();
  const show = (choice: string | undefined) => {
    if (choice === 'Show Output') deps.manager.channelFor(req.runId)?.show(true);
    if (choice === 'Open Dashboard') void vscode.commands.executeCommand('trapo.openDashboard', { runId: req.runId });
  };
  switch (outcome) {
    case 'running':
      await deps.revealRun(req.runId);
      void vscode.window
        .showInformationMessage(`TRAPO run ${req.runId} ${req.reason === 'start' ? 'started' : 'resumed'}.`, 'Open Dashboard', 'Show Output')
        .then(show);
      break;
    case 'exited': {
      await deps.store.refresh();
      if (deps.store.get(req.runId)?.writtenStatus === 'finished' && exit?.code === 0) {
        await deps.revealRun(req.runId);
        break; // it finished before the progress saw it running (a very short run)
      }
      void vscode.window.showErrorMessage(`TRAPO: ${trainerExitMessage(exit?.lastLines ?? [], exit?.code ?? null)}`, 'Show Output').then(show);
      break;
    }
    case 'cancelled':
      void vscode.window.showInformationMessage(`TRAPO: ${req.reason} of ${req.runId} cancelled.`);
      break;
    default: {
      const never: never = outcome;
      void never;
    }
  }
}

export function offerSetUp(detail: string, engine: 'torch' | 'vllm' = 'torch'): void {
  const what =
    engine === 'vllm' ? 'no Python interpreter has the trainer with vLLM, which rollout.engine: vllm needs' : 'no Python interpreter can import the trainer';
  void vscode.window
    .showErrorMessage(
      `TRAPO: ${what} (tried ${detail}). Set up the trainer environment${engine === 'vllm' ? ' with vLLM' : ''}, or point trapo.pythonPath at a Python with trapo installed.`,
      'Set Up Trainer Environment',
      'Open Settings',
    )
    .then((c) => {
      if (c === 'Set Up Trainer Environment') void vscode.commands.executeCommand('trapo.setUpTrainerEnvironment', engine);
      if (c === 'Open Settings') void vscode.commands.executeCommand('workbench.action.openSettings', 'trapo.pythonPath');
    });
}

// ------------------------------------------------------------------------------------------------ config pick

/** `trapo.startRun` with `{template: "demo"}` (the walkthrough's link): the demo config, no pick. */
function isDemoRequest(arg: unknown): boolean {
  return typeof arg === 'object' && arg !== null && (arg as { template?: unknown }).template === 'demo';
}

/** The workspace's demo.trapo.yaml, else one created from the demo template. */
async function demoConfig(context: vscode.ExtensionContext): Promise<vscode.Uri | undefined> {
  const existing = await vscode.workspace.findFiles('**/demo.trapo.yaml', CONFIG_EXCLUDE, 10);
  if (existing.length) return existing.sort((a, b) => a.fsPath.length - b.fsPath.length)[0];
  const demo = TEMPLATES.find((t) => t.id === 'demo');
  return demo ? createFromTemplate(context, demo) : undefined;
}

interface ConfigPick extends vscode.QuickPickItem {
  uri?: vscode.Uri;
  template?: ConfigTemplate;
}

async function pickConfig(context: vscode.ExtensionContext): Promise<vscode.Uri | undefined> {
  const files = await vscode.workspace.findFiles(CONFIG_GLOB, CONFIG_EXCLUDE, 500);
  files.sort((a, b) => a.fsPath.localeCompare(b.fsPath));
  const items: ConfigPick[] = [];
  if (files.length) items.push({ label: 'Configs in this workspace', kind: vscode.QuickPickItemKind.Separator });
  for (const uri of files) {
    items.push({ label: `$(file) ${path.basename(uri.fsPath)}`, description: vscode.workspace.asRelativePath(uri, true), uri });
  }
  items.push({ label: 'Create from a template', kind: vscode.QuickPickItemKind.Separator });
  for (const t of TEMPLATES) items.push({ label: `$(new-file) ${t.label}`, detail: t.detail, template: t });
  const picked = await vscode.window.showQuickPick(items, {
    title: 'Start TRAPO Run',
    placeHolder: files.length ? 'Pick a config file, or create one from a template' : 'No *.trapo.yaml in this workspace: create one from a template',
    matchOnDescription: true,
  });
  if (!picked) return undefined;
  if (picked.uri) return picked.uri;
  if (!picked.template) return undefined;
  const created = await createFromTemplate(context, picked.template);
  if (!created || !picked.template.startImmediately) return undefined;
  return created;
}

async function createFromTemplate(context: vscode.ExtensionContext, template: ConfigTemplate): Promise<vscode.Uri | undefined> {
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (!folder) {
    void vscode.window.showErrorMessage('TRAPO: open a folder first: the config is created in the workspace.');
    return undefined;
  }
  let text: string;
  // The trainer that ships inside the extension has both templates; the built-in texts are the fallback.
  const shipped = path.join(context.extensionPath, 'trainer', 'trapo', 'configs', template.shippedFile);
  if (existsSync(shipped)) text = await fs.readFile(shipped, 'utf8');
  else text = template.id === 'demo' ? DEMO_FALLBACK : REAL_MODEL_TEMPLATE;
  const name = freeFileName(template.fileName, (n) => existsSync(path.join(folder.uri.fsPath, n)));
  const uri = vscode.Uri.joinPath(folder.uri, name);
  await vscode.workspace.fs.writeFile(uri, Buffer.from(text, 'utf8'));
  await vscode.window.showTextDocument(uri, { preview: false });
  if (!template.startImmediately) {
    void vscode.window.showInformationMessage(
      `TRAPO: created ${name}. Fill in the paths marked TODO (model, data, benchmarks), then run "TRAPO: Start TRAPO Run".`,
    );
  }
  return uri;
}

// ------------------------------------------------------------------------------------------------ problems

async function reportConfigProblems(reporter: ConfigProblemReporter, uri: vscode.Uri, problems: ConfigProblem[]): Promise<void> {
  let text = '';
  try {
    text = (await vscode.workspace.openTextDocument(uri)).getText();
  } catch {
    // Not readable as text: diagnostics go on the first line.
  }
  // Each problem on its key, found in the yaml document model (micro_group.stages[1].ratio: the second stage's line).
  reporter.report(uri, text, problems);
  const first = formatProblems(problems.slice(0, 1));
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more in the Problems view)` : '';
  const choice = await vscode.window.showErrorMessage(`TRAPO: ${path.basename(uri.fsPath)}: ${first}${more}`, 'Open Config');
  if (choice === 'Open Config') await vscode.window.showTextDocument(uri);
}
