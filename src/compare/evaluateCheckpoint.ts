// Evaluate Checkpoint: `python -m trapo eval <checkpoint> --run-dir <run> --progress` on chosen benchmarks, with a
// cancellable progress notification. The trainer writes the trainer's per-problem files into the run's
// checkpoint_evals/ (trainer/trapo/checkpoint_evals.py); the run store reads them into the Benchmarks view, and
// Compare Checkpoints reads them too. Runs where the extension host runs (the remote machine under Remote-SSH).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { RunLister } from '../rollouts';
import type { CheckpointRef } from '../core/compare';
import { EvalProgress, EvalRequest, evalArgs, parseEvalProgressLine } from '../core/evalProgress';
import { runPaths } from '../core/runFormat';
import { escalateStop } from '../core/stopProcess';
import { getRunSelection, getRunStore } from '../services';
import { describeFailedChoice, findTrainerPython } from '../runs/python';
import { readSettings } from '../runs/settings';
import { offerSetUp, refuseUntrusted } from '../runs/startRun';
import { checkpointOf, listCheckpoints, pick } from './checkpointPick';
import { runConfigOf, runEngineOf } from './runConfigOf';

const running = new Set<string>();
const OTHER_FILES = 'Other benchmark files…';

type BenchItem = vscode.QuickPickItem & { spec?: string };

export async function evaluateCheckpoint(
  context: vscode.ExtensionContext,
  runs: RunLister,
  runName: (dir: string) => string,
  output: vscode.OutputChannel,
  node?: unknown,
): Promise<void> {
  if (refuseUntrusted()) return;
  let ref = checkpointOf(node, runName);
  if (!ref) {
    const items = (await listCheckpoints(runs, runName)).filter((c) => c.hasCheckpoint);
    if (!items.length) {
      void vscode.window.showInformationMessage('TRAPO: no checkpoint found to evaluate (runs save them under checkpoints/<step>/).');
      return;
    }
    ref = (await pick(items, 'Evaluate checkpoint: pick a checkpoint'))?.ref;
    if (!ref) return;
  }
  const ckpt = runPaths.checkpoint(ref.runDir, ref.step);
  if (!existsSync(path.join(ckpt, 'config.json'))) {
    void vscode.window.showErrorMessage(`TRAPO: ${ref.label} has no checkpoint on disk (${ckpt}): it was never saved or was deleted by checkpoint.keep_last.`);
    return;
  }
  const key = `${ref.runDir}\0${ref.step}`;
  if (running.has(key)) {
    void vscode.window.showInformationMessage(`TRAPO: ${ref.label} is being evaluated already.`);
    return;
  }
  const config = runConfigOf(ref.runDir) as { data?: { benchmarks?: unknown }; eval?: { samples_per_problem?: unknown; temperature?: unknown } };
  const benchmarks = await chooseBenchmarks(ref, config.data?.benchmarks);
  if (!benchmarks) return;
  const runSamples = typeof config.eval?.samples_per_problem === 'number' ? config.eval.samples_per_problem : undefined;
  const samplesText = await vscode.window.showInputBox({
    title: `Evaluate ${ref.label}: samples per problem`,
    prompt: `Accuracy is the mean over the samples of each problem (sampled at the run's eval.temperature${typeof config.eval?.temperature === 'number' ? ` ${config.eval.temperature}` : ''}).`,
    value: String(runSamples ?? 4),
    validateInput: (v) => (/^\s*[1-9]\d*\s*$/.test(v) ? undefined : 'a positive whole number'),
  });
  if (samplesText === undefined) return;
  const samples = Number(samplesText.trim());

  const folder = vscode.workspace.getWorkspaceFolder(vscode.Uri.file(ref.runDir));
  const cwd = folder?.uri.fsPath ?? ref.runDir;
  const { choice, engine } = await evaluationPython(context, ref.runDir, cwd);
  if (!choice.ok) {
    offerSetUp(describeFailedChoice(choice), engine);
    return;
  }
  const req: EvalRequest = {
    checkpointDir: ckpt,
    runDir: ref.runDir,
    step: ref.step,
    benchmarks,
    samplesPerProblem: samples === runSamples ? undefined : samples,
  };
  running.add(key);
  try {
    await runEvaluation(choice.python.path, cwd, req, ref, output);
  } finally {
    running.delete(key);
  }
}

/**
 * The trainer's Python for evaluating a checkpoint of the run: `trapo eval` generates with the run's own
 * rollout.engine (and refuses a vllm run in a Python without vLLM), so a vllm run gets the vLLM environment, as
 * Start and Resume do.
 */
export async function evaluationPython(context: vscode.ExtensionContext, runDir: string, cwd: string) {
  const engine = runEngineOf(runDir);
  const { choice } = await findTrainerPython(context, readSettings().pythonPath, vscode.Uri.file(runDir), cwd, engine);
  return { choice, engine };
}

function safeStore() {
  try {
    return getRunStore();
  } catch {
    return undefined;
  }
}

async function chooseBenchmarks(ref: CheckpointRef, configured: unknown): Promise<string[] | undefined> {
  const specs = Array.isArray(configured) ? configured.filter((x): x is string => typeof x === 'string') : [];
  const items: BenchItem[] = (specs.length ? specs : ['builtin']).map((spec) => ({
    label: spec === 'builtin' ? 'builtin' : path.basename(spec),
    description: spec === 'builtin' ? "the embedded held-out sets (the run's data.benchmark_size)" : spec,
    detail: specs.includes(spec) ? "in the run's config" : undefined,
    picked: true,
    spec,
  }));
  items.push({ label: OTHER_FILES, description: 'parquet or JSONL with a problem and an answer column', alwaysShow: true });
  const chosen = await vscode.window.showQuickPick(items, { title: `Evaluate ${ref.label}: benchmarks`, canPickMany: true, ignoreFocusOut: true });
  if (!chosen) return undefined;
  const out = chosen.filter((c) => c.spec).map((c) => c.spec!);
  if (chosen.some((c) => c.label === OTHER_FILES)) {
    const files = await vscode.window.showOpenDialog({
      title: `Benchmark files for ${ref.label}`,
      canSelectMany: true,
      filters: { Benchmarks: ['parquet', 'jsonl'] },
      defaultUri: vscode.workspace.getWorkspaceFolder(vscode.Uri.file(ref.runDir))?.uri,
    });
    for (const f of files ?? []) out.push(f.fsPath);
  }
  if (!out.length) {
    void vscode.window.showInformationMessage('TRAPO: no benchmark chosen; nothing evaluated.');
    return undefined;
  }
  return out;
}

async function runEvaluation(python: string, cwd: string, req: EvalRequest, ref: CheckpointRef, output: vscode.OutputChannel): Promise<void> {
  const args = evalArgs(req);
  output.appendLine(`[evaluate] ${python} ${args.join(' ')}   (in ${cwd})`);
  const progress = new EvalProgress();
  const stderr: string[] = [];
  const outcome = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `TRAPO: evaluating ${ref.label}`, cancellable: true },
    (report, token) =>
      new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: string; cancelled: boolean }>((resolve) => {
        const child = spawn(python, args, { cwd, env: { ...process.env, PYTHONUNBUFFERED: '1' }, stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
        let cancelled = false;
        let out = '';
        child.stdout.setEncoding('utf8');
        child.stdout.on('data', (chunk: string) => {
          out += chunk;
          const lines = out.split('\n');
          out = lines.pop() ?? '';
          for (const line of lines) {
            const parsed = parseEvalProgressLine(line);
            const r = parsed && progress.update(parsed);
            if (r) report.report(r);
            else if (line.trim()) output.appendLine(line);
          }
        });
        child.stderr.setEncoding('utf8');
        child.stderr.on('data', (chunk: string) => {
          for (const line of chunk.split(/\r?\n|\r/)) {
            if (!line.trim()) continue;
            output.appendLine(line);
            stderr.push(line);
            if (stderr.length > 50) stderr.shift();
          }
        });
        const exited = new Promise<void>((r) => child.once('exit', () => r()));
        token.onCancellationRequested(() => {
          cancelled = true;
          report.report({ message: 'cancelling…' });
          // SIGINT: the trainer drops the benchmark in progress and keeps the finished ones
          void escalateStop((sig) => child.kill(sig), exited, 10_000);
        });
        child.once('error', (e) => resolve({ code: null, signal: null, error: e.message, cancelled }));
        child.once('exit', (code, signal) => resolve({ code, signal, cancelled }));
      }),
  );
  // the Benchmarks view and the tree follow at once (the store would see it at its next poll anyway)
  const store = safeStore();
  const run = store?.getByDir(req.runDir);
  if (store && run) await store.pollRun(run.id);
  const last = stderr.filter((l) => !/^\s*(Loading|Writing)\b/.test(l)).slice(-1)[0] ?? '';
  if (outcome.error) {
    void vscode.window.showErrorMessage(`TRAPO: cannot run ${python}: ${outcome.error}`);
  } else if (outcome.code === 0 && progress.result) {
    const n = Object.keys(progress.result.benchmarks).length;
    const text = `TRAPO: ${ref.label} evaluated: average ${(100 * progress.result.average).toFixed(1)}% over ${n} benchmark${n === 1 ? '' : 's'} (written to checkpoint_evals/).`;
    void vscode.window.showInformationMessage(text, 'Show in Benchmarks', 'Compare with…').then((c) => {
      if (c === 'Show in Benchmarks') void showInBenchmarks(req.runDir);
      if (c === 'Compare with…') void vscode.commands.executeCommand('trapo.compareWith', ref);
    });
  } else if (outcome.cancelled || outcome.code === 130) {
    const kept = progress.accuracies.size;
    void vscode.window.showInformationMessage(`TRAPO: evaluation of ${ref.label} cancelled; ${kept} finished benchmark${kept === 1 ? ' was' : 's were'} kept.`);
  } else {
    const how = outcome.signal ? `was killed (${outcome.signal})` : `exited with code ${outcome.code}`;
    void vscode.window.showErrorMessage(`TRAPO: evaluation of ${ref.label} failed: ${last || `the trainer ${how}`}`, 'Show Output').then((c) => {
      if (c) output.show();
    });
  }
}

async function showInBenchmarks(runDir: string): Promise<void> {
  const run = safeStore()?.getByDir(runDir);
  if (run) getRunSelection().set(run.id);
  await vscode.commands.executeCommand('trapo.benchmarks.focus');
}
