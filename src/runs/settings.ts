// One typed snapshot of the TRAPO settings. In an untrusted workspace the settings that name executables are
// ignored (trapo.pythonPath, trapo.torchrunPath), whatever the workspace says.
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Launcher } from '../core/launch';
import { DEFAULT_JOB_OPTIONS, SlurmJobOptions } from '../core/slurmScript';

export interface TrapoSettings {
  runsRoots: string[];
  pythonPath: string;
  launcher: Launcher | 'slurm';
  torchrunPath: string;
  processesPerNode: number;
  heartbeatTimeoutSeconds: number;
  stopGracePeriodSeconds: number;
  keepTrainersRunningOnExit: boolean;
  slurm: SlurmSettings;
}

export interface SlurmSettings {
  /** The job settings a new job starts from (the quick pick edits them per job). */
  job: SlurmJobOptions;
  reviewScript: boolean;
  pollIntervalSeconds: number;
}

export function readSettings(): TrapoSettings {
  const c = vscode.workspace.getConfiguration('trapo');
  const trusted = vscode.workspace.isTrusted;
  const launcher = c.get<string>('launcher', 'python');
  return {
    runsRoots: c.get<string[]>('runsRoots', ['runs']).filter((r) => typeof r === 'string' && r.trim() !== ''),
    pythonPath: trusted ? c.get<string>('pythonPath', '').trim() : '',
    launcher: launcher === 'torchrun' || launcher === 'slurm' ? launcher : 'python',
    torchrunPath: trusted ? c.get<string>('torchrunPath', '').trim() : '',
    processesPerNode: Math.max(1, Math.floor(c.get<number>('processesPerNode', 1))),
    heartbeatTimeoutSeconds: Math.max(10, c.get<number>('heartbeatTimeoutSeconds', 120)),
    stopGracePeriodSeconds: Math.max(1, c.get<number>('stopGracePeriodSeconds', 30)),
    keepTrainersRunningOnExit: c.get<boolean>('keepTrainersRunningOnExit', false),
    slurm: readSlurmSettings(c),
  };
}

function readSlurmSettings(c: vscode.WorkspaceConfiguration): SlurmSettings {
  const d = DEFAULT_JOB_OPTIONS;
  const count = (key: string, fallback: number, min: number) => {
    const v = c.get<number>(key, fallback);
    return Number.isFinite(v) ? Math.max(min, Math.floor(v)) : fallback;
  };
  const lines = (key: string) => (c.get<unknown[]>(key, []) ?? []).filter((x): x is string => typeof x === 'string' && x.trim() !== '');
  return {
    job: {
      partition: c.get<string>('slurm.partition', d.partition).trim(),
      account: c.get<string>('slurm.account', d.account).trim(),
      nodes: count('slurm.nodes', d.nodes, 1),
      gpusPerNode: count('slurm.gpusPerNode', d.gpusPerNode, 0),
      processesPerNode: count('processesPerNode', d.processesPerNode, 1),
      cpusPerTask: count('slurm.cpusPerTask', d.cpusPerTask, 0),
      time: c.get<string>('slurm.time', d.time).trim(),
      extraDirectives: lines('slurm.extraDirectives'),
      // Shell lines run on the cluster: not from an untrusted workspace's settings.
      setupCommands: vscode.workspace.isTrusted ? lines('slurm.setupCommands') : [],
      signal: c.get<string>('slurm.signal', d.signal).trim(),
      requeue: c.get<boolean>('slurm.requeue', d.requeue),
    },
    reviewScript: c.get<boolean>('slurm.reviewScript', true),
    pollIntervalSeconds: Math.max(2, c.get<number>('slurm.pollIntervalSeconds', 15)),
  };
}

/** Absolute runs roots: relative entries resolved against every workspace folder, in settings order. */
export function resolveRunsRoots(roots: readonly string[]): string[] {
  const folders = vscode.workspace.workspaceFolders ?? [];
  const out: string[] = [];
  for (const root of roots.length ? roots : ['runs']) {
    const expanded = root.startsWith('~/') ? path.join(process.env.HOME ?? '', root.slice(2)) : root;
    if (path.isAbsolute(expanded)) out.push(path.normalize(expanded));
    else for (const f of folders) if (f.uri.scheme === 'file') out.push(path.join(f.uri.fsPath, expanded));
  }
  return [...new Set(out)];
}

/** The runs root a new run goes under: the first root, resolved against the config's workspace folder. */
export function runsRootFor(folder: vscode.WorkspaceFolder | undefined, roots: readonly string[]): string | undefined {
  const first = roots[0] ?? 'runs';
  const expanded = first.startsWith('~/') ? path.join(process.env.HOME ?? '', first.slice(2)) : first;
  if (path.isAbsolute(expanded)) return expanded;
  const base = folder ?? vscode.workspace.workspaceFolders?.[0];
  return base ? path.join(base.uri.fsPath, expanded) : undefined;
}
