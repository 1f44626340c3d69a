// "Set Up Trainer Environment": a virtual environment in the extension's global storage with the trainer that ships
// inside the extension (its `trainer/` folder) installed by pip. Progress in a notification, pip's output in an
// output channel, and an error that says what failed and what to do.
import { spawn } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { venvPython } from '../core/launch';
import { probeTrapo, pythonExtensionInterpreter, runProcess, trapoVenvDir } from './python';
import { refuseUntrusted } from './startRun';
import { readSettings } from './settings';
import { walkthroughDone } from '../walkthrough';

const MIN_PYTHON: [number, number] = [3, 10];

class SetupError extends Error {}

export async function setUpTrainerEnvironment(context: vscode.ExtensionContext, output: vscode.OutputChannel): Promise<boolean> {
  if (refuseUntrusted()) return false;
  const trainerDir = path.join(context.extensionPath, 'trainer');
  if (!existsSync(path.join(trainerDir, 'pyproject.toml'))) {
    void vscode.window.showErrorMessage(`TRAPO: this copy of the extension has no trainer to install (${trainerDir}/pyproject.toml is missing).`);
    return false;
  }
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

async function checkBasePython(python: string): Promise<void> {
  const r = await runProcess(python, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], process.cwd(), 30_000);
  if (r.spawnError) {
    throw new SetupError(
      `Python was not found (${python}: ${r.spawnError}). Install Python ${MIN_PYTHON.join('.')} or newer, or set trapo.pythonPath.`,
    );
  }
  const [major, minor] = r.stdout.trim().split('.').map(Number);
  if (r.code !== 0 || !Number.isFinite(major)) throw new SetupError(`${python} did not run: ${r.stderr.trim().split('\n').pop()}`);
  if (major < MIN_PYTHON[0] || (major === MIN_PYTHON[0] && minor < MIN_PYTHON[1])) {
    throw new SetupError(`${python} is Python ${major}.${minor}; the trainer needs ${MIN_PYTHON.join('.')} or newer.`);
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
