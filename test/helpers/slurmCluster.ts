// The one-node Slurm of the tests (scripts/slurm-local.sh): started when Slurm does not answer, stopped only when
// this process started it. Every session on the machine shares its folder ($TRAPO_SLURM_DIR, /tmp/trapo-slurm) and
// its ports (6817/6818), so ensureSlurm first takes the machine-wide lock $TRAPO_SLURM_LOCK (/tmp/trapo-slurm.lock),
// waiting while another session's Slurm suite or end-to-end Slurm test holds it, and stopSlurmIfOurs gives it back
// (as does the end of the process, however it ends).
// SKIP_SLURM: the reason the suites that need Slurm are skipped, or false: TRAPO_SKIP_SLURM=1, or a machine where no
// one-node Slurm can run (not root, no apt-get: `slurm-local.sh can-start`), unless TRAPO_REQUIRE_SLURM=1 asks for
// them (then they fail there with the reason).
import { execFile, spawnSync } from 'node:child_process';
import { closeSync, constants, existsSync, openSync } from 'node:fs';
import * as path from 'node:path';
import type { ProcessResult } from '../../src/core/configValidation';

export const REPO = path.resolve(__dirname, '..', '..');
const SCRIPT = path.join(REPO, 'scripts', 'slurm-local.sh');
export const SLURM_DIR = process.env.TRAPO_SLURM_DIR ?? '/tmp/trapo-slurm';
const CANNOT_START = 3; // slurm-local.sh can-start: no one-node Slurm possible here

/** Why the Slurm suites are skipped in this environment, or false when they run. */
export function slurmSkipReason(env: NodeJS.ProcessEnv = process.env): string | false {
  if (env.TRAPO_SKIP_SLURM === '1') return 'TRAPO_SKIP_SLURM=1';
  if (env.TRAPO_REQUIRE_SLURM === '1') return false;
  const r = spawnSync('bash', [SCRIPT, 'can-start'], { encoding: 'utf8', env: { ...env, TRAPO_SLURM_DIR: env.TRAPO_SLURM_DIR ?? SLURM_DIR }, timeout: 60_000 });
  // only the script's own "cannot" skips: a failing check fails the suite where it can say why
  if (r.status !== CANNOT_START) return false;
  const why = (r.stdout ?? '').trim().split('\n').pop() || 'scripts/slurm-local.sh can-start said no';
  return `no one-node Slurm on this machine: ${why} (TRAPO_REQUIRE_SLURM=1 makes the Slurm tests mandatory)`;
}

export const SKIP_SLURM = slurmSkipReason();

let startedHere = false;
let lockFd: number | undefined;

/**
 * Takes the machine-wide Slurm lock for this process (waiting at most `waitSeconds` for another session to give it
 * back). flock(1) locks the open file it is handed as fd 3, which this process keeps open: the lock outlives the
 * flock command and ends with releaseSlurmLock() or this process.
 */
export function takeSlurmLock(
  file = process.env.TRAPO_SLURM_LOCK ?? '/tmp/trapo-slurm.lock',
  waitSeconds = Number(process.env.TRAPO_SLURM_LOCK_WAIT_S ?? 3600),
): void {
  if (lockFd !== undefined) return;
  const fd = openSync(file, constants.O_RDONLY | constants.O_CREAT, 0o666);
  const flock = (args: string[]) =>
    spawnSync('flock', [...args, '3'], { stdio: ['ignore', 'ignore', 'pipe', fd], encoding: 'utf8', timeout: (waitSeconds + 60) * 1000 });
  let r = flock(['--exclusive', '--nonblock']);
  if (r.status === 1) {
    process.stderr.write(`[slurm] waiting for ${file}: another session on this machine uses the one-node Slurm (${SLURM_DIR}, ports 6817/6818)
`);
    r = flock(['--exclusive', '--wait', String(waitSeconds)]);
  }
  if (r.status !== 0) {
    closeSync(fd);
    if (r.error) throw new Error(`flock(1) (util-linux) is needed to share the one-node Slurm between sessions: ${r.error.message}`);
    throw new Error(`the Slurm lock ${file} was not free within ${waitSeconds} s (TRAPO_SLURM_LOCK_WAIT_S)${r.stderr ? `: ${r.stderr.trim()}` : ''}`);
  }
  lockFd = fd;
}

export function releaseSlurmLock(): void {
  if (lockFd === undefined) return;
  closeSync(lockFd);
  lockFd = undefined;
}

/** Takes the Slurm lock, then starts the one-node cluster unless Slurm answers; sets SLURM_CONF when it is ours. */
export function ensureSlurm(): { started: boolean; seconds: number } {
  const t0 = Date.now();
  takeSlurmLock();
  const r = spawnSync('bash', [SCRIPT, 'start'], { encoding: 'utf8', env: { ...process.env, TRAPO_SLURM_DIR: SLURM_DIR }, timeout: 600_000 });
  process.stderr.write(r.stderr ?? '');
  if (r.status !== 0) {
    releaseSlurmLock();
    throw new Error(`scripts/slurm-local.sh start failed (exit ${r.status}):\n${r.stderr}`);
  }
  startedHere = /TRAPO_SLURM_STARTED=1/.test(r.stdout);
  if (startedHere || !process.env.SLURM_CONF) {
    // Ours (or a cluster whose clients need no SLURM_CONF): our file when it exists, else the system's.
    const conf = path.join(SLURM_DIR, 'etc', 'slurm.conf');
    if (existsSync(conf)) process.env.SLURM_CONF = conf;
  }
  return { started: startedHere, seconds: (Date.now() - t0) / 1000 };
}

/** Stops the cluster when this process started it, and gives the Slurm lock back in any case. */
export function stopSlurmIfOurs(): void {
  try {
    if (!startedHere) return;
    const r = spawnSync('bash', [SCRIPT, 'stop'], { encoding: 'utf8', env: { ...process.env, TRAPO_SLURM_DIR: SLURM_DIR }, timeout: 60_000 });
    process.stderr.write(r.stderr ?? '');
    startedHere = false;
  } finally {
    releaseSlurmLock();
  }
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
