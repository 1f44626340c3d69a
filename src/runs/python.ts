// Finding a Python that can import the trainer (vscode adapter around src/core/launch.ts).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { PythonCandidate, PythonChoice, choosePython, pythonCandidates, venvPython } from '../core/launch';
import type { ProcessResult } from '../core/configValidation';

/** The venv made by "Set Up Trainer Environment". */
export function trapoVenvDir(context: vscode.ExtensionContext): string {
  return path.join(context.globalStorageUri.fsPath, 'trainer-venv');
}

export function trapoVenvPython(context: vscode.ExtensionContext): string | undefined {
  const p = venvPython(trapoVenvDir(context));
  return existsSync(p) ? p : undefined;
}

/** The second venv, for `rollout.engine: vllm` ("Set Up Trainer Environment", with vLLM). */
export function trapoVllmVenvDir(context: vscode.ExtensionContext): string {
  return path.join(context.globalStorageUri.fsPath, 'trainer-venv-vllm');
}

function trapoVllmVenvPython(context: vscode.ExtensionContext): string | undefined {
  const p = venvPython(trapoVllmVenvDir(context));
  return existsSync(p) ? p : undefined;
}

interface PythonExtensionApi {
  environments?: {
    getActiveEnvironmentPath(resource?: vscode.Uri): { path: string } | undefined;
    resolveEnvironment(env: { path: string } | string): Promise<{ executable?: { uri?: vscode.Uri } } | undefined>;
  };
  settings?: { getExecutionDetails(resource?: vscode.Uri): { execCommand?: string[] } };
}

/** The Python extension's selected interpreter for the resource, when that extension is installed. */
export async function pythonExtensionInterpreter(resource: vscode.Uri | undefined): Promise<string | undefined> {
  const ext = vscode.extensions.getExtension<PythonExtensionApi>('ms-python.python');
  if (!ext) return undefined;
  try {
    const api = ext.isActive ? ext.exports : await ext.activate();
    const envs = api?.environments;
    if (envs) {
      const active = envs.getActiveEnvironmentPath(resource);
      if (active) {
        const resolved = await envs.resolveEnvironment(active);
        const exe = resolved?.executable?.uri?.fsPath;
        if (exe) return exe;
        if (active.path) return active.path;
      }
    }
    const cmd = api?.settings?.getExecutionDetails(resource)?.execCommand;
    if (cmd && cmd.length === 1) return cmd[0];
  } catch {
    // The Python extension failed to answer: fall through to the next candidate.
  }
  return undefined;
}

export function runProcess(command: string, args: string[], cwd: string, timeoutMs = 60_000): Promise<ProcessResult> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, timeout: timeoutMs, maxBuffer: 4 << 20, windowsHide: true }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: number | string }) | null;
      if (e && typeof e.code === 'string') {
        resolve({ code: null, stdout: String(stdout), stderr: String(stderr), spawnError: `${e.code}: ${e.message}` });
        return;
      }
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

const NO_VLLM_EXIT = 3;

/** null when `python` can import trapo (and has vLLM, when asked), else the reason (the last line of its error). */
export async function probeTrapo(python: string, cwd: string, needsVllm = false): Promise<string | null> {
  const code = needsVllm
    ? `import trapo, sys, importlib.util; sys.exit(0 if importlib.util.find_spec('vllm') else ${NO_VLLM_EXIT})`
    : 'import trapo, sys; print(trapo.__version__, sys.version_info[:2])';
  const r = await runProcess(python, ['-c', code], cwd, 30_000);
  if (r.spawnError) return r.spawnError;
  if (r.code === 0) return null;
  if (needsVllm && r.code === NO_VLLM_EXIT) return 'vLLM is not installed there (rollout.engine: vllm needs it)';
  const lines = r.stderr.trim().split('\n');
  return lines[lines.length - 1] || `exit ${r.code}`;
}

export async function findTrainerPython(
  context: vscode.ExtensionContext,
  pythonPathSetting: string,
  resource: vscode.Uri | undefined,
  cwd: string,
  engine: 'torch' | 'vllm' = 'torch',
): Promise<{ choice: PythonChoice; candidates: PythonCandidate[] }> {
  const wantsVllm = engine === 'vllm';
  const candidates = pythonCandidates({
    workspaceTrusted: vscode.workspace.isTrusted,
    setting: pythonPathSetting,
    pythonExtension: pythonPathSetting ? undefined : await pythonExtensionInterpreter(resource),
    trapoVenv: trapoVenvPython(context),
    trapoVllmVenv: trapoVllmVenvPython(context),
    wantsVllm,
  });
  return { choice: await choosePython(candidates, (p) => probeTrapo(p, cwd, wantsVllm)), candidates };
}

export function describeFailedChoice(choice: PythonChoice): string {
  if (choice.ok) return '';
  return choice.tried.map((t) => `${t.candidate.path} (${t.candidate.source}): ${t.problem}`).join('; ');
}
