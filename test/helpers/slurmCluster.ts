// The one-node Slurm of the tests (scripts/slurm-local.sh): started when Slurm does not answer, stopped only when
// this process started it. TRAPO_SKIP_SLURM=1 skips the suites that need it.
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import type { ProcessResult } from '../../src/core/configValidation';

export const REPO = path.resolve(__dirname, '..', '..');
const SCRIPT = path.join(REPO, 'scripts', 'slurm-local.sh');
export const SLURM_DIR = process.env.TRAPO_SLURM_DIR ?? '/tmp/trapo-slurm';

export const SKIP_SLURM = process.env.TRAPO_SKIP_SLURM === '1' ? 'TRAPO_SKIP_SLURM=1' : false;

let startedHere = false;

/** Starts the one-node cluster unless Slurm answers; sets SLURM_CONF for this process's clients when it is ours. */
export function ensureSlurm(): { started: boolean; seconds: number } {
  const t0 = Date.now();
  const r = spawnSync('bash', [SCRIPT, 'start'], { encoding: 'utf8', env: { ...process.env, TRAPO_SLURM_DIR: SLURM_DIR }, timeout: 600_000 });
  process.stderr.write(r.stderr ?? '');
  if (r.status !== 0) throw new Error(`scripts/slurm-local.sh start failed (exit ${r.status}):\n${r.stderr}`);
  startedHere = /TRAPO_SLURM_STARTED=1/.test(r.stdout);
  if (startedHere || !process.env.SLURM_CONF) {
    // Ours (or a cluster whose clients need no SLURM_CONF): our file when it exists, else the system's.
    const conf = path.join(SLURM_DIR, 'etc', 'slurm.conf');
    if (existsSync(conf)) process.env.SLURM_CONF = conf;
  }
  return { started: startedHere, seconds: (Date.now() - t0) / 1000 };
}

export function stopSlurmIfOurs(): void {
  if (!startedHere) return;
  const r = spawnSync('bash', [SCRIPT, 'stop'], { encoding: 'utf8', env: { ...process.env, TRAPO_SLURM_DIR: SLURM_DIR }, timeout: 60_000 });
  process.stderr.write(r.stderr ?? '');
  startedHere = false;
}

/** A command runner for SlurmClient (as the extension's, without vscode). */
export function runCommand(command: string, args: string[]): Promise<ProcessResult> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: 60_000, maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: number | string }) | null;
      if (e && typeof e.code === 'string') resolve({ code: null, stdout: String(stdout), stderr: String(stderr), spawnError: `${e.code}: ${e.message}` });
      else resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}
