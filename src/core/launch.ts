// Building the trainer's command line (pure; no vscode, no spawning).
//
// Python resolution order (issue 5, item 1 and 2):
//   1. the setting `trapo.pythonPath` (ignored in an untrusted workspace: it names an executable),
//   2. the Python extension's selected interpreter,
//   3. the virtual environment made by "Set Up Trainer Environment" in the extension's global storage,
//   4. `python3` on PATH.
// A config with `rollout.engine: vllm` needs vLLM too: the vLLM environment of "Set Up Trainer Environment" (its
// "with vLLM" choice) is then tried first after the setting, and a candidate without vLLM does not qualify.
// An explicit setting is used as is (the user asked for it); otherwise the first candidate that can import `trapo`
// wins, and when none can, the caller offers to set up the trainer environment.
import * as path from 'node:path';

export type PythonSource = 'setting' | 'python-extension' | 'trapo-venv' | 'trapo-vllm-venv' | 'path';

export interface PythonCandidate {
  path: string;
  source: PythonSource;
}

export interface PythonLookup {
  workspaceTrusted: boolean;
  /** `trapo.pythonPath`, possibly empty. */
  setting: string | undefined;
  /** The Python extension's interpreter for the workspace, when that extension is installed and has one. */
  pythonExtension: string | undefined;
  /** The interpreter of the trapo venv in global storage, when it exists. */
  trapoVenv: string | undefined;
  /** The interpreter of the vLLM venv in global storage ("Set Up Trainer Environment", with vLLM), when it exists. */
  trapoVllmVenv?: string;
  /** The config asks for `rollout.engine: vllm`. */
  wantsVllm?: boolean;
}

/** The rollout engine a parsed config asks for (`rollout.engine`; torch when absent). */
export function configEngine(config: unknown): 'torch' | 'vllm' {
  const rollout = (config as { rollout?: { engine?: unknown } } | null)?.rollout;
  return rollout?.engine === 'vllm' ? 'vllm' : 'torch';
}

export function pythonCandidates(lookup: PythonLookup): PythonCandidate[] {
  const out: PythonCandidate[] = [];
  const setting = lookup.setting?.trim();
  if (lookup.workspaceTrusted && setting) return [{ path: setting, source: 'setting' }];
  const vllm = lookup.trapoVllmVenv ? { path: lookup.trapoVllmVenv, source: 'trapo-vllm-venv' as const } : undefined;
  if (vllm && lookup.wantsVllm) out.push(vllm);
  if (lookup.pythonExtension) out.push({ path: lookup.pythonExtension, source: 'python-extension' });
  if (lookup.trapoVenv) out.push({ path: lookup.trapoVenv, source: 'trapo-venv' });
  if (vllm && !lookup.wantsVllm) out.push(vllm);
  out.push({ path: process.platform === 'win32' ? 'python' : 'python3', source: 'path' });
  // The same interpreter can be found twice (the extension may select the trapo venv); keep the first.
  return out.filter((c, i) => out.findIndex((d) => d.path === c.path) === i);
}

export type PythonChoice = { ok: true; python: PythonCandidate } | { ok: false; tried: { candidate: PythonCandidate; problem: string }[] };

/**
 * The first candidate whose `canImportTrapo` resolves to null (no problem). A wrong explicit setting is reported like
 * any other failure (with the reason), so that the user sees why and can fix the setting or set up the environment.
 */
export async function choosePython(candidates: readonly PythonCandidate[], canImportTrapo: (python: string) => Promise<string | null>): Promise<PythonChoice> {
  const tried: { candidate: PythonCandidate; problem: string }[] = [];
  for (const candidate of candidates) {
    const problem = await canImportTrapo(candidate.path);
    if (problem === null) return { ok: true, python: candidate };
    tried.push({ candidate, problem });
  }
  return { ok: false, tried };
}

/** Interpreter inside a venv folder. */
export function venvPython(venvDir: string, platform: NodeJS.Platform = process.platform): string {
  return platform === 'win32' ? path.join(venvDir, 'Scripts', 'python.exe') : path.join(venvDir, 'bin', 'python');
}

export type Launcher = 'python' | 'torchrun';

export interface LaunchRequest {
  workspaceTrusted: boolean;
  python: string;
  launcher: Launcher;
  /** `trapo.torchrunPath`; empty: `<python> -m torch.distributed.run` (the torchrun of that interpreter). */
  torchrunPath?: string;
  processesPerNode?: number;
  /** The config file; may be omitted with `resume` (the trainer then reuses the run's own resolved config). */
  configFile?: string;
  runDir: string;
  resume?: boolean;
  maxSteps?: number;
  /** `--set key=value` overrides. */
  overrides?: Record<string, string>;
}

export interface LaunchCommand {
  command: string;
  args: string[];
  /** Extra environment for the child. */
  env: Record<string, string>;
}

export type LaunchResult = { ok: true; launch: LaunchCommand } | { ok: false; error: string };

export function buildLaunch(req: LaunchRequest): LaunchResult {
  if (!req.workspaceTrusted) {
    return { ok: false, error: 'This workspace is not trusted: TRAPO does not start trainers in untrusted workspaces.' };
  }
  if (!req.python) return { ok: false, error: 'No Python interpreter was given.' };
  if (!req.configFile && !req.resume) return { ok: false, error: 'No config file was given.' };
  if (!req.runDir) return { ok: false, error: 'No run directory was given.' };
  const trainArgs = ['train', ...(req.configFile ? ['--config', req.configFile] : []), '--run-dir', req.runDir];
  if (req.resume) trainArgs.push('--resume');
  if (req.maxSteps !== undefined) {
    if (!Number.isInteger(req.maxSteps) || req.maxSteps < 1) {
      return { ok: false, error: `maxSteps must be a positive integer, got ${req.maxSteps}` };
    }
    trainArgs.push('--max-steps', String(req.maxSteps));
  }
  for (const [key, value] of Object.entries(req.overrides ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(key)) return { ok: false, error: `override key "${key}" is not a config key` };
    trainArgs.push('--set', `${key}=${value}`);
  }
  // Unbuffered, so that the output channel and logs/trainer.log follow the trainer line by line.
  const env = { PYTHONUNBUFFERED: '1' };
  if (req.launcher === 'python') {
    return { ok: true, launch: { command: req.python, args: ['-m', 'trapo', ...trainArgs], env } };
  }
  const nproc = req.processesPerNode ?? 1;
  if (!Number.isInteger(nproc) || nproc < 1) {
    return { ok: false, error: `trapo.processesPerNode must be a positive integer, got ${nproc}` };
  }
  // --standalone: a single node with a local rendezvous; -m: run the trainer as a module in each process.
  const torchrunArgs = ['--standalone', `--nproc-per-node=${nproc}`, '-m', 'trapo', ...trainArgs];
  const torchrun = req.torchrunPath?.trim();
  if (torchrun) return { ok: true, launch: { command: torchrun, args: torchrunArgs, env } };
  return { ok: true, launch: { command: req.python, args: ['-m', 'torch.distributed.run', ...torchrunArgs], env } };
}

/** Sortable, unique run id like the trainer's `make_run_id`: 20261125-142501-<name>-3f9a (local time). */
export function makeRunId(name: string, when: Date, hex4: string): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const stamp =
    `${p(when.getFullYear(), 4)}${p(when.getMonth() + 1)}${p(when.getDate())}-` + `${p(when.getHours())}${p(when.getMinutes())}${p(when.getSeconds())}`;
  const safe =
    name
      .replace(/[^A-Za-z0-9_.-]/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 40) || 'run';
  if (!/^[0-9a-f]{4}$/.test(hex4)) throw new Error(`run id suffix must be 4 hex digits, got "${hex4}"`);
  return `${stamp}-${safe}-${hex4}`;
}

/** Run name from a config file name: demo.trapo.yaml -> demo. */
export function runNameFromConfigFile(file: string): string {
  return (
    path
      .basename(file)
      .replace(/\.(ya?ml|json)$/i, '')
      .replace(/\.trapo$/i, '') || 'run'
  );
}
